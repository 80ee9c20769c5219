//! The bureau's gallery end to end, as processes: the collector signs each institution's gallery with
//! the bureau key and publishes it retained through the broker; the agent verifies it against the
//! pinned public key, stores it and swaps it in. A forged gallery (another key) and a replayed one
//! (not newer) sent straight to the box's topic are refused and the one in force stays; a new
//! enrolment becomes the next version, which the box takes; a patient removed on request (PIPL,
//! `gallery remove`) is gone from the version after, and the removal is in the access log.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use wardwatch_protocol::{
    FaceEmbedding, GalleryDraft, GalleryEntry, PublicKey, SignedGallery, SigningKey, Timestamp,
    key_file,
};
use wardwatch_testkit::e2e::*;

const DIMS: usize = 512;

/// A unit-length embedding, different per seed.
fn embedding(seed: u32) -> Vec<f32> {
    let raw: Vec<f32> = (0..DIMS)
        .map(|i| ((i as f32 + 1.0) * (seed as f32 + 0.5) * 0.37).sin())
        .collect();
    let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt();
    raw.into_iter().map(|v| v / norm).collect()
}

fn enrol(path: &Path, institution: &str, people: std::ops::Range<u32>) {
    let lines: String = people
        .map(|p| {
            format!(
                "{{\"fixmedins_code\":\"{institution}\",\"psn_no\":\"4306{p:016}\",\"model\":\"fr_feature\",\"embedding\":{}}}\n",
                serde_json::to_string(&embedding(p)).expect("json")
            )
        })
        .collect();
    std::fs::write(path, lines).expect("write enrolments");
}

fn run(args: &[&str], db: &Database) -> String {
    let out = Command::new(bin())
        .args(args)
        .args(db.args())
        .output()
        .expect("run wardwatch");
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The version of the gallery the agent stored (its last good one), if any.
fn stored_version(spool_dir: &Path) -> Option<u64> {
    let bytes = std::fs::read(spool_dir.join("gallery.json")).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("version")?.as_u64()
}

fn wait_until(what: &str, timeout: Duration, logs: &[&Path], mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > timeout {
            let logs: Vec<String> = logs
                .iter()
                .map(|l| format!("{}:\n{}", l.display(), tail(l)))
                .collect();
            panic!("{what}: not within {timeout:?}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn count_in(log: &Path, needle: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches(needle)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_galleries_reach_the_box_and_forged_or_replayed_ones_are_refused() {
    let spine = Spine::new(BrokerKind::Embedded, None, 0, 1.0).await;
    let dir = spine.dir.path();
    let institution = spine.institution.to_string();

    // The bureau key, and enrolments for the box's institution.
    let bureau_key = dir.join("bureau.key");
    let out = Command::new(bin())
        .args(["collector", "bureau-key", "init", "--key"])
        .arg(&bureau_key)
        .output()
        .expect("bureau-key init");
    assert!(out.status.success(), "{out:?}");
    let bureau = key_file::load(&bureau_key).expect("bureau key");
    let shown = Command::new(bin())
        .args(["collector", "bureau-key", "show", "--key"])
        .arg(&bureau_key)
        .output()
        .expect("bureau-key show");
    let public: PublicKey = String::from_utf8_lossy(&shown.stdout)
        .trim()
        .parse()
        .expect("a public key");
    assert_eq!(public, PublicKey::of(&bureau));
    enrol(&dir.join("first.jsonl"), &institution, 0..3);
    let first = dir.join("first.jsonl");
    run(
        &[
            "collector",
            "gallery",
            "import",
            first.to_str().expect("utf-8"),
        ],
        &spine.db,
    );

    // The box: one camera on a short recorded clip, the bureau key pinned, heartbeats every second.
    let agent_dir = dir.join("agent");
    let clip = agent_dir.join("cam-1");
    std::fs::create_dir_all(&clip).expect("clip dir");
    let face = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/faces/obama-2012.jpg");
    for i in 0..3 {
        std::fs::copy(&face, clip.join(format!("{i:04}.jpg"))).expect("copy frame");
    }
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/manifest.toml");
    let config = std::fs::read_to_string(agent_dir.join("agent.toml")).expect("config");
    let config = config[..config.find("[source]").expect("replay source")].to_owned();
    std::fs::write(
        agent_dir.join("agent.toml"),
        format!(
            r#"{config}
[health]
interval_secs = 1

[gallery]
bureau_public_key = "{public}"

[recognition]
models = "{models}"

[[camera]]
id = "cam-1"
source = {{ kind = "folder", path = "cam-1", start = "2026-11-23T00:00:00.000Z", fps = 1.0 }}
"#,
            models = models.display()
        ),
    )
    .expect("agent config");
    let spool_dir = agent_dir.join("spool");
    let agent_log = spine.log("agent");
    let collector_log = spine.log("collector");
    let logs = [agent_log.as_path(), collector_log.as_path()];

    let mut collector = Proc::spawn(
        "collector",
        Command::new(bin())
            .args(["collector", "serve", "--broker-url", &spine.broker.url()])
            .args([
                "--client-id",
                &format!("wardwatch-test-gallery-{}", unique()),
            ])
            .args(["--topic-filter", &format!("wardwatch/v1/{institution}/+/#")])
            .arg("--ack-key")
            .arg(&spine.ack_key)
            .arg("--bureau-key")
            .arg(&bureau_key)
            .args(["--gallery-every-secs", "1"])
            .args(spine.db.args()),
        &collector_log,
    );
    let mut agent = Proc::spawn(
        "agent",
        Command::new(bin())
            .args(["agent", "run", "--config"])
            .arg(agent_dir.join("agent.toml")),
        &agent_log,
    );

    wait_until(
        "the box stores gallery version 1",
        Duration::from_secs(120),
        &logs,
        || stored_version(&spool_dir) == Some(1),
    );
    let in_force = std::fs::read(spool_dir.join("gallery.json")).expect("stored gallery");
    let v1 = SignedGallery::from_wire(&in_force, &public.into())
        .expect("the box stored what it verified");
    assert_eq!(v1.entries.len(), 3);

    // Whoever holds the broker (the audited party owns the ward network) sends the box galleries.
    let topic = format!("wardwatch/v1/{institution}/{}/gallery", spine.device);
    let entries = |people: std::ops::Range<u32>| -> Vec<GalleryEntry> {
        people
            .map(|p| GalleryEntry {
                psn_no: format!("4306{p:016}").parse().expect("psn_no"),
                valid_from: Timestamp::from_millis(0).expect("time"),
                valid_until: Timestamp::now().plus_millis(86_400_000),
                embeddings: vec![FaceEmbedding::try_from(embedding(p)).expect("embedding")],
            })
            .collect()
    };
    let forged = GalleryDraft::new(
        spine.institution.clone(),
        9,
        Timestamp::now(),
        "fr_feature".into(),
        entries(100..103),
    )
    .sign(&SigningKey::from_bytes(&[42; 32]));
    let replayed = GalleryDraft::new(
        spine.institution.clone(),
        1,
        Timestamp::now(),
        "fr_feature".into(),
        entries(200..201),
    )
    .sign(&bureau);
    let refused_before = count_in(&agent_log, "gallery refused");
    publish_retained(&spine.broker.url(), &topic, forged.to_wire()).await;
    wait_until(
        "the forged gallery is refused",
        Duration::from_secs(30),
        &logs,
        || count_in(&agent_log, "gallery refused") > refused_before,
    );
    publish_retained(&spine.broker.url(), &topic, replayed.to_wire()).await;
    wait_until(
        "the replayed version is refused",
        Duration::from_secs(30),
        &logs,
        || count_in(&agent_log, "gallery refused") > refused_before + 1,
    );
    assert_eq!(
        std::fs::read(spool_dir.join("gallery.json")).expect("stored gallery"),
        in_force,
        "the gallery in force is unchanged on disk"
    );

    // A new enrolment: the collector signs version 2, which the box takes.
    let second = dir.join("second.jsonl");
    enrol(&second, &institution, 3..4);
    run(
        &[
            "collector",
            "gallery",
            "import",
            second.to_str().expect("utf-8"),
        ],
        &spine.db,
    );
    wait_until(
        "the box stores gallery version 2",
        Duration::from_secs(60),
        &logs,
        || stored_version(&spool_dir) == Some(2),
    );

    // The file is stored before the swap is logged: wait for the log line too.
    wait_until(
        "the box puts version 2 in force",
        Duration::from_secs(30),
        &logs,
        || count_in(&agent_log, "new bureau gallery in force") >= 2,
    );

    // A patient asks to be taken out (PIPL): the removal is recorded, the collector signs version 3
    // without the person, and the box puts it in force.
    let gone = "43060000000000000001";
    let said = run(
        &[
            "collector",
            "gallery",
            "remove",
            "--institution",
            &institution,
            "--psn-no",
            gone,
            "--by",
            "bureau data officer 李四",
            "--reason",
            "PIPL withdrawal request 2026-117",
        ],
        &spine.db,
    );
    assert!(said.contains("1 enrolment embedding(s) removed"), "{said}");
    wait_until(
        "the box stores gallery version 3",
        Duration::from_secs(60),
        &logs,
        || stored_version(&spool_dir) == Some(3),
    );
    let stored = std::fs::read(spool_dir.join("gallery.json")).expect("stored gallery");
    let v3 = SignedGallery::from_wire(&stored, &public.into()).expect("verified");
    let people: Vec<String> = v3.entries.iter().map(|e| e.psn_no.to_string()).collect();
    assert_eq!(people.len(), 3, "{people:?}");
    assert!(!people.iter().any(|p| p == gone), "{people:?}");
    wait_until(
        "the box puts version 3 in force",
        Duration::from_secs(30),
        &logs,
        || count_in(&agent_log, "new bureau gallery in force") >= 3,
    );
    let store = spine.db.open().await;
    let log = store.access_log().await.expect("access log");
    store.close().await;
    let record = log
        .iter()
        .find(|e| e.path == "gallery remove")
        .expect("the removal is in the access log");
    assert_eq!(record.user_name, "bureau data officer 李四");
    assert!(
        record.detail.contains(gone) && record.detail.contains("PIPL withdrawal request 2026-117"),
        "{record:?}"
    );
    agent.terminate();
    collector.terminate();
    spine.finish().await;
}

/// Publishes one retained message with a throwaway client and waits for the broker's PUBACK.
async fn publish_retained(url: &str, topic: &str, payload: Vec<u8>) {
    let url: wardwatch_link::BrokerUrl = url.parse().expect("url");
    let mut options = rumqttc::MqttOptions::new(
        format!("wardwatch-test-intruder-{}", unique()),
        url.host,
        url.port,
    );
    options.set_max_packet_size(1 << 22, 1 << 22);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    client
        .publish(topic, rumqttc::QoS::AtLeastOnce, true, payload)
        .await
        .expect("queue publish");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)))) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("publish to {topic}: {e}"),
            Err(_) => panic!("no PUBACK for {topic}"),
        }
    }
    let _ = client.disconnect().await;
}
