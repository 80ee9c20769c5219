//! The command lines as an operator uses them: `agent check` and `agent key`, `collector devices`,
//! `collector stats --json`, and the README's demo.

use std::path::Path;
use std::process::{Command, Output};
use wardwatch_testkit::e2e::bin;

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run wardwatch")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn write_agent_config(dir: &Path, body: &str) -> String {
    std::fs::write(dir.join("sightings.jsonl"), "").expect("write");
    let path = dir.join("agent.toml");
    std::fs::write(&path, body).expect("write");
    path.display().to_string()
}

const GOOD_CONFIG: &str = r#"
device_id = "hd-ward3-box1"
institution_code = "H43060200175"
ward_kind = "rehabilitation"
test_mode = true
[broker]
url = "mqtt://127.0.0.1:1883"
ack_public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
[source]
kind = "replay"
path = "sightings.jsonl"
"#;

#[test]
fn agent_check_accepts_a_good_config_and_names_what_is_wrong_in_a_bad_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_agent_config(dir.path(), GOOD_CONFIG);
    let ok = run(&["agent", "check", "--config", &config]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("OK"), "{}", text(&ok));

    let bad = write_agent_config(
        dir.path(),
        &GOOD_CONFIG
            .replace("H43060200175", "X123")
            .replace("rehabilitation", "spa"),
    );
    let out = run(&["agent", "check", "--config", &bad]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(message.contains("agent.toml"), "{message}");
    assert!(message.contains("institution_code"), "{message}");
    assert!(
        message.contains("line"),
        "the TOML position is given: {message}"
    );

    let missing = run(&["agent", "check", "--config", "/nonexistent/agent.toml"]);
    assert!(!missing.status.success());
    assert!(text(&missing).contains("/nonexistent/agent.toml"));
}

#[test]
fn device_registration_round_trip_and_key_conflicts_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_agent_config(dir.path(), GOOD_CONFIG);
    let key = run(&["agent", "key", "--config", &config]);
    assert!(key.status.success(), "{}", text(&key));
    let public = String::from_utf8_lossy(&key.stdout).trim().to_owned();
    assert_eq!(public.len(), 64);
    let again = run(&["agent", "key", "--config", &config]);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        public,
        "the key is kept"
    );

    let data = dir.path().join("data").display().to_string();
    let add = |pubkey: &str| {
        run(&[
            "collector",
            "devices",
            "add",
            "--data-dir",
            &data,
            "--id",
            "hd-ward3-box1",
            "--institution",
            "H43060200175",
            "--pubkey",
            pubkey,
            "--for-tests",
        ])
    };
    let bad = add("1234");
    assert!(!bad.status.success());
    assert!(text(&bad).contains("--pubkey"), "{}", text(&bad));
    let first = add(&public);
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("registered"));
    let second = add(&public);
    assert!(
        text(&second).contains("already registered"),
        "{}",
        text(&second)
    );
    let other = "11".repeat(32);
    let conflict = add(&other);
    if conflict.status.success() {
        panic!(
            "a different key replaced the registration: {}",
            text(&conflict)
        );
    }
    assert!(
        text(&conflict).contains("different key"),
        "{}",
        text(&conflict)
    );

    let stats = run(&["collector", "stats", "--json", "--data-dir", &data]);
    assert!(stats.status.success(), "{}", text(&stats));
    let json: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("stats JSON");
    assert_eq!(json["devices"], 1);
    assert_eq!(json["events"]["presence"], 0);
    assert!(json["quarantined"].is_object(), "{json}");
    assert_eq!(json["gaps"]["open"], 0);
}

/// Files holding keys and patients' data are owner-only (issue 13): the agent refuses a device key that
/// others may read, naming the file and the fix; the collector refuses such a bureau key; the
/// collector's SQLite database is created 0600.
#[test]
fn key_files_others_may_read_are_refused_and_the_database_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_agent_config(dir.path(), GOOD_CONFIG);
    let key = run(&["agent", "key", "--config", &config]);
    assert!(key.status.success(), "{}", text(&key));
    let device_key = dir.path().join("device.key");
    assert_eq!(mode(&device_key), 0o600);
    std::fs::set_permissions(&device_key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let refused = run(&["agent", "key", "--config", &config]);
    assert!(!refused.status.success(), "{}", text(&refused));
    let fix = format!("chmod 600 {}", device_key.display());
    assert!(text(&refused).contains(&fix), "{}", text(&refused));
    assert!(
        refused.stdout.is_empty(),
        "no key printed from a refused file"
    );
    assert_eq!(mode(&device_key), 0o644, "left for the operator to fix");

    let bureau_key = dir.path().join("bureau.key");
    let bureau = bureau_key.display().to_string();
    let made = run(&["collector", "bureau-key", "init", "--key", &bureau]);
    assert!(made.status.success(), "{}", text(&made));
    std::fs::set_permissions(&bureau_key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let refused = run(&["collector", "bureau-key", "show", "--key", &bureau]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains(&format!("chmod 600 {bureau}")),
        "{}",
        text(&refused)
    );

    let data = dir.path().join("data");
    let stats = run(&[
        "collector",
        "stats",
        "--data-dir",
        &data.display().to_string(),
    ]);
    assert!(stats.status.success(), "{}", text(&stats));
    assert_eq!(mode(&data.join("wardwatch.db")), 0o600);
    assert_eq!(mode(&data), 0o700);
}

#[test]
fn the_readme_demo_runs_the_spine_and_prints_what_arrived() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().display().to_string();
    let out = run(&["demo", "--data-dir", &data]);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", text(&out));
    // The real agent saw the rendered recordings: 126 frames a camera, faces found in them.
    assert!(
        printed.contains("agent demo-hd-box1: 252 frames → "),
        "{printed}"
    );
    // Patient …0002 left for 20 minutes: two intervals. The visitor is one unknown face's interval.
    let lines_with = |needle: &str| printed.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(lines_with("43060000000000000002  "), 2, "{printed}");
    assert_eq!(lines_with("43060000000000000001  "), 1, "{printed}");
    assert_eq!(
        printed
            .lines()
            .filter(|l| l.starts_with("43060000000000000003") && l.contains(" cam-2 "))
            .count(),
        1,
        "{printed}"
    );
    assert_eq!(
        printed
            .lines()
            .filter(|l| l.starts_with("unknown:") && l.contains(" cam-2 "))
            .count(),
        1,
        "{printed}"
    );
    assert!(printed.contains("presence intervals   5"), "{printed}");
    // The bureau's side: the month imported (the fee lines are GB18030), the rules run.
    assert!(
        printed.contains("fee_lines.csv (CSV (gb18030)): 6 rows, 6 new, 0 refused"),
        "{printed}"
    );
    assert!(
        printed.contains("no_presence      1 flag(s), 410.00 yuan"),
        "{printed}"
    );
    assert!(
        printed.contains("short_presence   1 flag(s), 410.00 yuan"),
        "{printed}"
    );
    // …0004 was billed and absent while an unknown face sat through the session: 冒名.
    assert!(
        printed.contains("impersonation    1 flag(s), 410.00 yuan"),
        "{printed}"
    );
    assert!(printed.contains("1 without evidence"), "{printed}");
    // How to open the web app on the demo data, with the demo users' one-time passwords.
    assert!(
        printed.contains("collector api --data-dir") && printed.contains("http://127.0.0.1:8080/"),
        "{printed}"
    );
    for login in ["demo-auditor", "H43060200175"] {
        let found = printed.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.len() == 2 && words[0] == login && words[1].len() == 16
        });
        assert!(
            found,
            "no demo user {login} with a one-time password: {printed}"
        );
    }

    // Running it again starts from a clean demo directory.
    let again = run(&["demo", "--data-dir", &data]);
    assert!(again.status.success(), "{}", text(&again));
    let stats = run(&[
        "collector",
        "stats",
        "--json",
        "--data-dir",
        &dir.path().join("demo/collector").display().to_string(),
    ]);
    let json: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("stats JSON");
    assert_eq!(json["presence_intervals"], 5, "{json}");
    assert!(
        json["quarantined"]
            .as_object()
            .is_some_and(|q| q.is_empty()),
        "{json}"
    );
}
