//! The web app in a real headless Chromium (Debian's `chromium` and `chromium-driver`, driven over
//! WebDriver by [`driver`]) against the `wardwatch collector api` process on a small dialysis morning:
//! a patient seen all session, one seen for half an hour (`short_presence`), one billed and never seen
//! while an unknown face sat through the slot (`impersonation`, 冒名), heartbeats with a 40-minute
//! silence of the box, and another institution's issued flag.
//!
//! Covered: the auditor's one-time password must be changed first; the queue filtered to 冒名 by the
//! URL; the flag page's timeline with the unknown face's bar over the billed slot; 初审 and 下发 with
//! reasons, a form posted without its CSRF token refused 403 and nothing done; bulk 初审 from the queue;
//! a logged-out session's cookie no longer opens a page; the institution signs in with its code and sees
//! only its own issued flag, is refused (403) an evidence crop, the access log, the rules and the
//! quarterly analysis, gets the 404 page for another institution's flag and for its own not-yet-issued
//! one, has a file that is not a PDF by content refused (nothing done), and appeals with text and a PDF
//! whose SHA-256 the page shows and whose bytes come back; a second auditor (the first may not) refers
//! the appeal to 合议, upholds it and refuses payment (拒付) with an amount, and the refused fee line is in
//! this month's 扣费明细 on the Reports page and in its CSV download; the dashboards show the 50% line;
//! an admin edits a threshold (out of range refused, naming it; in range a new rules version), creates a
//! user with a one-time password and filters the access log to the flag the institution was refused;
//! five wrong passwords throttle the login (the right one is then refused too). Screenshots at 1366×768
//! are kept under `target/web-screenshots/` for people to look at.
//! Without `chromium` and `chromedriver` on PATH it prints a SKIPPED line.

mod driver;

use crate::rules::{P, camera, import_month, ingest, presence, run_november, ts};
use driver::{Browser, Chromedriver};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use wardwatch_collector::flags::store::NewFlag;
use wardwatch_collector::flags::workflow::{Action, Actor, Request, Role};
use wardwatch_collector::store::Store;
use wardwatch_protocol::*;
use wardwatch_testkit::e2e::*;

const OWN: &str = "H43060200175";
const OTHER: &str = "H43060200999";

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Where the screenshots go: `target/web-screenshots/` of this workspace.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

fn heartbeat(uptime_secs: u64) -> Payload {
    Payload::Health(Health {
        agent_version: "test".into(),
        spool_depth: 0,
        uptime_secs,
        gallery_version: None,
        cameras: vec![],
    })
}

fn unknown_face(track: &str, start: &str, end: &str) -> Payload {
    let Payload::Presence(mut p) = presence(&format!("{P}99"), start, end) else {
        unreachable!("presence() builds a presence")
    };
    p.person = Person::UnknownTrack(track.parse().expect("track id"));
    p.median_similarity = Similarity::try_from(0.21).expect("score");
    p.liveness = Liveness::try_from(0.88).expect("score");
    Payload::Presence(p)
}

/// The morning of 2026-11-02 (Beijing 08:00–12:00 = 00:00–04:00 UTC) at OWN, the rules run, and an
/// issued flag of OTHER. Returns (impersonation, short_presence, other's) flag ids.
async fn seed(store: &Store, dir: &Path) -> (i64, i64, i64) {
    let mut events: Vec<(String, Payload)> = vec![
        (
            "2026-11-01T23:00:00.000Z".into(),
            camera(CameraState::Ok, "2026-11-01T23:00:00.000Z"),
        ),
        (
            "2026-11-02T04:00:01.000Z".into(),
            presence(
                &format!("{P}01"),
                "2026-11-02T00:00:00.000Z",
                "2026-11-02T04:00:00.000Z",
            ),
        ),
        (
            "2026-11-02T00:30:01.000Z".into(),
            presence(
                &format!("{P}02"),
                "2026-11-02T00:00:00.000Z",
                "2026-11-02T00:30:00.000Z",
            ),
        ),
        (
            "2026-11-02T03:55:01.000Z".into(),
            unknown_face(
                "track-7",
                "2026-11-02T00:05:00.000Z",
                "2026-11-02T03:55:00.000Z",
            ),
        ),
        (
            "2026-11-02T02:00:00.000Z".into(),
            camera(CameraState::Obstructed, "2026-11-02T02:00:00.000Z"),
        ),
        (
            "2026-11-02T02:06:00.000Z".into(),
            camera(CameraState::Ok, "2026-11-02T02:06:00.000Z"),
        ),
    ];
    // Heartbeats every 10 minutes from 06:00 to 14:00 Beijing, but none 12:30–13:10 (the box silent).
    for minute in (0..=480).step_by(10) {
        if (390..430).contains(&minute) {
            continue;
        }
        let at = ts("2026-11-01T22:00:00.000Z").millis() + minute * 60_000 + 500;
        let at = chrono::DateTime::from_timestamp_millis(at)
            .expect("time")
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        events.push((at, heartbeat(minute as u64 * 60)));
    }
    events.sort_by(|a, b| a.0.cmp(&b.0));
    ingest(
        store,
        events
            .iter()
            .map(|(at, p)| (at.as_str(), p.clone()))
            .collect(),
    )
    .await;
    let mut settlements = String::from(
        "setl_id,mdtrt_id,psn_no,psn_name,fixmedins_code,fixmedins_name,setl_time,medfee_sumamt,fund_pay_sumamt\n",
    );
    let mut fees = String::from(
        "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,cnt,pric,det_item_fee_sumamt\n",
    );
    for (who, name) in [("01", "张一"), ("02", "李二"), ("03", "王三")] {
        settlements.push_str(&format!(
            "S{who},M{who},{P}{who},{name},{OWN},湘潭市示范血透中心,2026-11-02 12:30:00,410,328\n"
        ));
        fees.push_str(&format!(
            "FD{who},M{who},{P}{who},2026-11-02 08:00:00,EXAMPLE-311000006,1,410,410\n"
        ));
    }
    import_month(store, dir, settlements, fees).await;
    let report = run_november(store).await;
    assert_eq!(report.raised.get("impersonation"), Some(&1), "{report:?}");
    assert_eq!(report.raised.get("short_presence"), Some(&1), "{report:?}");
    let id_of = async |rule: &str| -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM flags WHERE rule_id = '{rule}'"
        )))
        .fetch_one(store.pool())
        .await
        .expect("flag id")
    };
    let (impersonation, short) = (id_of("impersonation").await, id_of("short_presence").await);
    let other = store
        .raise_flag(&NewFlag {
            dedup_key: "web-test/other".into(),
            rule_id: wardwatch_collector::rules::RuleId::NoPresence,
            rule_version: 1,
            fixmedins_code: OTHER.parse().expect("code"),
            psn_no: Some(format!("{P}77").parse().expect("psn")),
            amount_fen: 41_000,
            evidence: json!({"date": "2026-11-02"}),
            lines: vec![],
        })
        .await
        .expect("raise")
        .expect("new flag");
    let bureau = Actor {
        user: "seed".into(),
        role: Role::Auditor,
        institution: None,
    };
    for action in [Action::Confirm, Action::Issue] {
        let request = Request {
            action,
            reason: "seeded".into(),
            amount_fen: None,
            now_ms: wardwatch_collector::store::now_ms(),
        };
        store
            .transition_flag(other, &bureau, &request, 15)
            .await
            .expect("seed transition");
    }
    (impersonation, short, other)
}

/// `wardwatch collector users add … --initial-password`: the one-time password (stdout's second line).
fn add_user(db: &Database, name: &str, role: &str, institution: Option<&str>) -> String {
    let mut command = Command::new(bin());
    command.args(["collector", "users"]).args(db.args()).args([
        "add",
        "--name",
        name,
        "--role",
        role,
        "--initial-password",
    ]);
    if let Some(code) = institution {
        command.args(["--institution", code]);
    }
    let out = command.output().expect("run users add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "token and one-time password: {stdout:?}");
    assert_eq!(lines[0].len(), 64, "the API token stays");
    assert_eq!(lines[1].len(), 16, "a 16-character one-time password");
    lines[1].to_owned()
}

/// Signs in; a one-time password is then changed to `new_password`.
async fn sign_in(b: &Browser, base: &str, login: &str, password: &str, new_password: &str) {
    b.goto(&format!("{base}/login")).await;
    b.fill("#login", login).await;
    b.fill("#password", password).await;
    b.submit("#login-submit").await;
    if b.url().await.ends_with("/password") {
        assert!(b.text("#must-change").await.contains("首次登录"));
        b.fill("#current", password).await;
        b.fill("#new", new_password).await;
        b.fill("#repeat", new_password).await;
        b.submit("#password-submit").await;
    }
    assert!(
        b.text("#current-user").await.contains(login) || login == OWN,
        "signed in as {login}"
    );
}

/// The status of the error page shown.
async fn error_status(b: &Browser) -> Option<String> {
    b.attribute(&b.find("#error-page").await, "data-status")
        .await
}

/// The state of the flag page shown.
async fn flag_state(b: &Browser) -> Option<String> {
    b.attribute(&b.find("#flag-state").await, "data-state")
        .await
}

/// (x, width) of the first bar of `class` in the timeline.
async fn bar(b: &Browser, class: &str) -> (f64, f64) {
    let rect = b.find(&format!("svg#timeline rect.bar.{class}")).await;
    let num = |v: Option<String>| v.and_then(|v| v.parse::<f64>().ok()).expect("number");
    (
        num(b.attribute(&rect, "x").await),
        num(b.attribute(&rect, "width").await),
    )
}

async fn scenario(db: &Database, dir: &Path, shots: &Path) {
    let store = db.open().await;
    let (impersonation, short, other) = seed(&store, dir).await;
    store.close().await;
    let auditor_pw = add_user(db, "auditor-li", "auditor", None);
    let own_pw = add_user(db, "h0175", "institution", Some(OWN));
    let second_pw = add_user(db, "auditor-zhao", "auditor", None);
    let admin_pw = add_user(db, "admin-wu", "admin", None);
    let addr = free_addr();
    let log = dir.join("collector-api.log");
    let mut server = Proc::spawn(
        "collector api",
        Command::new(bin())
            .args(["collector", "api"])
            .args(db.args())
            .args(["--listen", &addr.to_string()]),
        &log,
    );
    wait_listening(addr, &log);
    let base = format!("http://{addr}");
    let chromedriver = Chromedriver::start(&dir.join("chromedriver.log"));
    let profile = tempfile::tempdir().expect("profile dir");
    let b = Browser::open(&chromedriver, profile.path()).await;
    let shot = async |name: &str, full: bool| {
        let path = shots.join(format!("{}-{name}.png", db.name));
        let bytes = b.screenshot(&path, full).await;
        assert!(bytes > 10_000, "{name}: a real picture ({bytes} bytes)");
    };

    // Not signed in: every page sends to the login page.
    b.goto(&format!("{base}/queue")).await;
    assert!(b.url().await.ends_with("/login"), "{}", b.url().await);
    shot("login", false).await;

    // The auditor: one-time password changed, then the queue filtered to 冒名 through the form.
    sign_in(&b, &base, "auditor-li", &auditor_pw, "auditor-new-pass-1").await;
    assert!(b.url().await.ends_with("/queue"), "{}", b.url().await);
    b.select("#filter-rule", "impersonation").await;
    b.submit("#filter-apply").await;
    assert!(
        b.url().await.contains("rule=impersonation"),
        "filter in the URL"
    );
    let rows = b.find_all("#queue-table tbody tr[data-flag]").await;
    assert_eq!(rows.len(), 1, "one 冒名 flag");
    assert_eq!(
        b.attribute(&rows[0], "data-rule").await.as_deref(),
        Some("impersonation")
    );
    assert!(b.text("#queue-table").await.contains("冒名"));
    shot("queue-impersonation", false).await;
    // The other filters and an order, from the URL: ward kind, amount range in yuan, by amount.
    b.goto(&format!(
        "{base}/queue?ward=haemodialysis&min=400&max=420.5&sort=amount"
    ))
    .await;
    let listed = b.find_all("#queue-table tbody tr[data-flag]").await;
    assert_eq!(
        listed.len(),
        2,
        "the two ¥410 dialysis flags (冒名, 在场时间不足)"
    );
    assert_eq!(
        b.attribute(&b.find("#filter-max").await, "value")
            .await
            .as_deref(),
        Some("420.50"),
        "the filter shown as it applies"
    );
    b.goto(&format!("{base}/queue?min=411")).await;
    b.find("#queue-empty").await;
    b.goto(&format!("{base}/queue?rule=impersonation")).await;

    // The flag page: the unknown face's bar overlaps the billed slot.
    b.submit(&format!("a.flag-link[href=\"/flags/{impersonation}\"]"))
        .await;
    assert!(b.url().await.ends_with(&format!("/flags/{impersonation}")));
    assert!(b.text("#flag-title").await.contains("冒名"));
    let (bx, bw) = bar(&b, "billed").await;
    let (ux, uw) = bar(&b, "unknown").await;
    assert!(
        ux < bx + bw && ux + uw > bx,
        "unknown face {ux}+{uw} over the billed slot {bx}+{bw}"
    );
    assert!(
        uw > bw * 0.9,
        "the stranger sat through most of the slot: {uw} of {bw}"
    );
    assert!(
        !b.find_all("svg#timeline rect.bar.cam-bad").await.is_empty(),
        "the 6-minute obstruction"
    );
    assert!(
        !b.find_all("svg#timeline rect.bar.silence").await.is_empty(),
        "the box's silence"
    );
    assert!(
        b.source().await.contains("王三"),
        "the patient's name from the settlements"
    );
    shot("flag-impersonation", true).await;

    // A form posted without its CSRF token: 403, and nothing happened.
    b.script("document.querySelector('#action-confirm input[name=csrf]').remove(); return 1;")
        .await;
    b.fill("#reason-confirm", "no token").await;
    b.submit("#action-confirm button").await;
    assert_eq!(
        b.text("#error-page h1").await.split(' ').next(),
        Some("403")
    );
    shot("csrf-403", false).await;
    b.goto(&format!("{base}/flags/{impersonation}")).await;
    assert_eq!(flag_state(&b).await.as_deref(), Some("pending"));

    // 初审 and 下发, each with a reason.
    b.fill("#reason-confirm", "录像显示陌生人坐在该患者床位")
        .await;
    b.submit("#action-confirm button").await;
    assert_eq!(flag_state(&b).await.as_deref(), Some("confirmed"));
    b.fill("#reason-issue", "下发机构说明").await;
    b.submit("#action-issue button").await;
    assert_eq!(flag_state(&b).await.as_deref(), Some("issued"));
    let history = b.text("#history").await;
    assert!(history.contains("录像显示陌生人坐在该患者床位") && history.contains("下发机构说明"));

    // Bulk 初审 from the queue: the pending short_presence flag.
    b.goto(&format!("{base}/queue?state=pending")).await;
    b.click(&format!("input[name=ids][value=\"{short}\"]"))
        .await;
    b.fill("#bulk-reason", "批量初审：在场时间明显不足").await;
    b.submit("#bulk-submit").await;
    assert!(b.text("#bulk-result").await.contains("1"), "one confirmed");
    shot("queue-after-bulk", false).await;

    // Logout ends the session: its cookie no longer opens a page.
    let cookie = b.cookie("ww_session").await.expect("session cookie");
    b.submit("#logout").await;
    assert!(b.url().await.ends_with("/login"));
    b.set_cookie("ww_session", &cookie).await;
    b.goto(&format!("{base}/queue")).await;
    assert!(
        b.url().await.ends_with("/login"),
        "old cookie refused: {}",
        b.url().await
    );

    // The institution signs in with its code and sees only its own issued flag.
    sign_in(&b, &base, OWN, &own_pw, "hospital-new-pass-1").await;
    assert!(b.url().await.ends_with("/portal"), "{}", b.url().await);
    let listed: Vec<Option<String>> = {
        let mut ids = Vec::new();
        for row in b.find_all("#portal-table tbody tr[data-flag]").await {
            ids.push(b.attribute(&row, "data-flag").await);
        }
        ids
    };
    assert_eq!(
        listed,
        vec![Some(impersonation.to_string())],
        "only its own issued flag"
    );
    shot("portal", false).await;
    b.goto(&format!("{base}/queue")).await;
    assert_eq!(
        b.text("#error-page h1").await.split(' ').next(),
        Some("403")
    );
    for hidden in [other, short] {
        b.goto(&format!("{base}/flags/{hidden}")).await;
        assert_eq!(
            error_status(&b).await.as_deref(),
            Some("404"),
            "flag {hidden} is not the institution's to see"
        );
    }
    shot("other-institution-404", false).await;
    // What only the bureau may reach: an evidence crop, the access log, the rules (and their editor),
    // the quarterly analysis.
    for path in [
        "/evidence/any-event",
        "/admin/access-log",
        "/rules",
        "/reports/quarterly?quarter=2026-Q4",
    ] {
        b.goto(&format!("{base}{path}")).await;
        assert_eq!(
            error_status(&b).await.as_deref(),
            Some("403"),
            "{path} is not for an institution"
        );
    }
    // The appeal, with a PDF: a file that is not one by content (whatever its name) is refused first.
    let pdf = dir.join("申诉材料.pdf");
    let pdf_bytes =
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    std::fs::write(&pdf, pdf_bytes).expect("write pdf");
    let fake = dir.join("invoice.pdf");
    std::fs::write(&fake, b"MZ\x90\x00 not a pdf at all").expect("write fake");
    let reason = "该患者当日因发热在家，未做透析，计费系录入错误，已申请退费。";
    b.goto(&format!("{base}/flags/{impersonation}")).await;
    b.fill("#reason-appeal", reason).await;
    b.choose_file("#file-appeal", &fake).await;
    b.submit("#action-appeal button").await;
    assert_eq!(error_status(&b).await.as_deref(), Some("400"));
    assert!(
        b.text("#error-page")
            .await
            .contains("not a PDF, JPEG or PNG"),
        "{}",
        b.text("#error-page").await
    );
    b.goto(&format!("{base}/flags/{impersonation}")).await;
    assert_eq!(
        flag_state(&b).await.as_deref(),
        Some("issued"),
        "nothing done by the refused form"
    );
    b.fill("#reason-appeal", reason).await;
    b.choose_file("#file-appeal", &pdf).await;
    b.submit("#action-appeal button").await;
    assert_eq!(flag_state(&b).await.as_deref(), Some("appealed"));
    assert!(b.text("#appeal-text").await.contains("录入错误"));
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(pdf_bytes))
    };
    let attachments = b.text("#attachments").await;
    assert!(
        attachments.contains("申诉材料.pdf") && attachments.contains(&sha),
        "the file and its SHA-256 shown: {attachments}"
    );
    let fetched = b
        .fetch_text(&format!(
            "/flags/{impersonation}/attachments/{}",
            b.attribute(
                &b.find("#attachments tr[data-attachment]").await,
                "data-attachment"
            )
            .await
            .expect("attachment id")
        ))
        .await;
    assert!(fetched.starts_with("200\n%PDF-1.4"), "{fetched:?}");
    shot("flag-appealed-institution", true).await;
    b.submit("#logout").await;

    // Another auditor (not the first reviewer): 复审 offered; 合议, then 维持 and 拒付 with an amount.
    sign_in(&b, &base, "auditor-zhao", &second_pw, "auditor-zhao-pass-1").await;
    b.goto(&format!("{base}/flags/{impersonation}")).await;
    for offered in ["uphold", "reverse", "refer_panel"] {
        b.find(&format!("#action-{offered}")).await;
    }
    b.fill("#reason-refer_panel", "申诉称录入错误，提交合议")
        .await;
    b.submit("#action-refer_panel button").await;
    assert_eq!(flag_state(&b).await.as_deref(), Some("panel"));
    b.fill("#reason-uphold", "合议维持：退费申请在下发之后，录像无本人")
        .await;
    b.submit("#action-uphold button").await;
    assert_eq!(flag_state(&b).await.as_deref(), Some("upheld"));
    b.fill("#reason-refuse_payment", "拒付该次血液透析").await;
    b.fill("#amount-refuse_payment", "410").await;
    b.submit("#action-refuse_payment button").await;
    assert_eq!(flag_state(&b).await.as_deref(), Some("handled"));
    let history = b.text("#history").await;
    assert!(
        history.contains("拒付") && history.contains("410.00"),
        "{history}"
    );
    shot("flag-handled", true).await;

    // The refused line in this month's 扣费明细: on the Reports page and in its CSV download.
    b.goto(&format!("{base}/reports")).await;
    let row = b
        .text(&format!("#deductions-table tr[data-institution=\"{OWN}\"]"))
        .await;
    assert!(row.contains("410.00"), "{row}");
    let csv_link = b
        .attribute(
            &b.find(&format!(
                "#deductions-table tr[data-institution=\"{OWN}\"] a[data-format=csv]"
            ))
            .await,
            "href",
        )
        .await
        .expect("csv link");
    let csv = b.fetch_text(&csv_link).await;
    assert!(csv.starts_with("200\n"), "{csv:?}");
    let line = csv
        .lines()
        .find(|l| l.contains("FD03"))
        .unwrap_or_else(|| panic!("the refused fee line FD03 in {csv}"));
    assert!(line.contains("拒付") && line.contains("410.00"), "{line}");
    for link in ["#quarterly-download", "a[data-format=xlsx]"] {
        let href = b
            .attribute(&b.find(link).await, "href")
            .await
            .expect("download link");
        let file = b.fetch_text(&href).await;
        assert!(file.starts_with("200\nPK"), "{link}: a workbook (zip)");
    }
    shot("reports", true).await;
    b.goto(&format!("{base}/dashboard")).await;
    let rates = b.text("#rates-table").await;
    assert!(rates.contains("冒名"), "{rates}");
    assert!(
        !b.find_all("svg#rate-chart line.reference").await.is_empty(),
        "the 50% line"
    );
    shot("dashboard", true).await;
    b.goto(&format!("{base}/live")).await;
    b.find("#live[data-poll]").await;
    assert!(
        !b.find_all("#live tr[data-device]").await.is_empty(),
        "the ward box with its last heartbeat"
    );
    shot("live", false).await;
    b.goto(&format!("{base}/admin/users")).await;
    assert_eq!(
        error_status(&b).await.as_deref(),
        Some("403"),
        "users are the admin's"
    );
    b.submit("#logout").await;

    // The admin: a threshold edited into a new rules version (a value out of range refused, naming
    // it), a user created with a one-time password, the access log filtered to one flag.
    sign_in(&b, &base, "admin-wu", &admin_pw, "admin-wu-pass-12").await;
    b.goto(&format!("{base}/rules")).await;
    let before = b.text("h1").await;
    b.fill("#edit-short_presence-min_share input[name=value]", "7")
        .await;
    b.fill("#edit-short_presence-min_share input[name=note]", "试算")
        .await;
    b.submit("#edit-short_presence-min_share button").await;
    assert_eq!(error_status(&b).await.as_deref(), Some("400"));
    assert!(
        b.text("#error-page").await.contains("min_share"),
        "the threshold named"
    );
    b.goto(&format!("{base}/rules")).await;
    b.fill("#edit-short_presence-min_share input[name=value]", "0.6")
        .await;
    b.fill(
        "#edit-short_presence-min_share input[name=note]",
        "阳性率复核后提高",
    )
    .await;
    b.submit("#edit-short_presence-min_share button").await;
    assert!(b.text("#rules-saved").await.contains('v'));
    assert_ne!(b.text("h1").await, before, "a new rules version");
    assert_eq!(
        b.text("[data-param=\"short_presence.min_share\"]").await,
        "0.6"
    );
    shot("rules", true).await;
    b.goto(&format!("{base}/admin/users")).await;
    b.fill("#user-create input[name=name]", "auditor-sun").await;
    b.submit("#user-create button").await;
    assert_eq!(b.text("#one-time-password").await.len(), 16);
    b.goto(&format!("{base}/admin/access-log?flag={other}"))
        .await;
    let log = b.text("#log-table").await;
    assert!(log.contains("h0175") && log.contains("404"), "{log}");
    shot("access-log", true).await;
    b.submit("#logout").await;

    // Five wrong passwords: throttled, and then even the right password is refused.
    for _ in 0..5 {
        b.goto(&format!("{base}/login")).await;
        b.fill("#login", "auditor-li").await;
        b.fill("#password", "wrong-password-x").await;
        b.submit("#login-submit").await;
        assert!(b.text("#login-message").await.contains("不正确"));
    }
    b.fill("#login", "auditor-li").await;
    b.fill("#password", "auditor-new-pass-1").await;
    b.submit("#login-submit").await;
    assert!(
        b.text("#login-message").await.contains("15 分钟"),
        "throttled"
    );
    assert!(
        b.cookie("ww_session").await.is_none(),
        "no session while throttled"
    );
    shot("login-throttled", false).await;

    b.quit().await;
    drop(chromedriver);
    server.terminate();
    let store = db.open().await;
    let logged: Vec<(String, i64)> = sqlx::query_as(
        "SELECT user_name, status FROM access_log WHERE flag_id = $1 AND method = 'GET' ORDER BY id",
    )
    .bind(other)
    .fetch_all(store.pool())
    .await
    .expect("access log");
    assert_eq!(
        logged,
        vec![("h0175".to_owned(), 404)],
        "the refused look is logged"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditor_and_institution_in_a_real_browser() {
    if !on_path("chromium") || !on_path("chromedriver") {
        skip(
            "web::auditor_and_institution_in_a_real_browser",
            "chromium and chromedriver are not on PATH (apt-get install chromium chromium-driver)",
        );
        return;
    }
    let shots = screenshot_dir();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dbs = vec![Database::sqlite(dir.path())];
    match Database::postgres().await {
        Some(pg) => dbs.push(pg),
        None => skip("web on postgres", "WARDWATCH_TEST_PG is not set"),
    }
    for db in dbs {
        let sub = dir.path().join(&db.name);
        std::fs::create_dir_all(&sub).expect("dir");
        scenario(&db, &sub, &shots).await;
        db.cleanup().await;
    }
}
