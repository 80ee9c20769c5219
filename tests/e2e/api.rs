//! The JSON API over a real socket (SQLite, and PostgreSQL when `WARDWATCH_TEST_PG` is set): the
//! server runs in-process on 127.0.0.1:0 and is spoken to over HTTP/1.1 by hyper's client (already in
//! the tree under axum, so the test adds no crate). Users are created with the real binary
//! (`wardwatch collector users add`), whose printed token is then used.
//!
//! Covered: 401 for no token, and one identical 401 body for an unknown, a revoked and an expired
//! token (`users list` shows which is which); an institution sees only its own flags once issued (404,
//! like a missing flag, on its own pending flag and on another's, whatever filter it sends); pending →
//! confirmed → issued by an auditor; the appeal with text and an attachment; the auditor's download;
//! 403 for a wrong role and for the first reviewer's second review (separation of duties), 409 for a
//! wrong state, 413 for an oversize upload, 400 naming a bad parameter; a formula in an item name
//! exported as text; one access-log row per request, refused ones included, and the log refuses
//! UPDATE/DELETE. The abuse cases (slow clients, connection floods, log floods, caps, redaction) are in
//! `api_abuse`.

use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::process::Command;
use wardwatch_collector::api::{ApiState, serve};
use wardwatch_collector::flags::store::NewFlag;
use wardwatch_collector::settlement::import::ImportOptions;
use wardwatch_collector::store::Store;
use wardwatch_testkit::e2e::*;

const OWN: &str = "H43060200175";
const OTHER: &str = "H43060200999";

/// One answer.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(500)])
            )
        })
    }

    pub(crate) fn error_message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .expect("an error message")
            .to_owned()
    }
}

/// A tiny HTTP client that remembers every request it made (method, path, status) so the access
/// log can be compared with it.
pub(crate) struct Client {
    pub(crate) addr: SocketAddr,
    pub(crate) sent: Vec<(String, String, u16)>,
}

impl Client {
    pub(crate) async fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect to the API");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("HTTP handshake");
        tokio::spawn(conn);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("response body")
            .to_bytes()
            .to_vec();
        self.sent.push((method.to_owned(), path.to_owned(), status));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&mut self, path: &str, token: Option<&str>) -> Reply {
        self.send("GET", path, token, Vec::new()).await
    }

    pub(crate) async fn act(&mut self, flag: i64, token: &str, body: Value) -> Reply {
        self.send(
            "POST",
            &format!("/api/v1/flags/{flag}/transitions"),
            Some(token),
            body.to_string().into_bytes(),
        )
        .await
    }
}

async fn seed(store: &Store, dir: &std::path::Path) -> (i64, i64, i64) {
    // FA1's item name is a formula, as an attacker who controls an export would write it.
    let csv = "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,hilist_name,cnt,pric,det_item_fee_sumamt\n\
               FA1,M1,4306001,2026-11-02 08:00:00,C1,=cmd|' /C calc'!A0,1,410,410\n\
               FB1,M2,4306002,2026-11-04 08:00:00,C1,血液透析,1,410,410\n\
               FC1,M3,4306003,2026-11-04 08:00:00,C1,血液透析,1,410,410\n";
    let path = dir.join("fees.csv");
    std::fs::write(&path, csv).expect("write");
    store
        .import_file(&path, &ImportOptions::default(), &mut |_| {})
        .await
        .expect("import");
    let mut ids = Vec::new();
    for (key, institution, psn, line) in [
        ("a", OWN, "4306001", "FA1"),
        ("b", OWN, "4306002", "FB1"),
        ("c", OTHER, "4306003", "FC1"),
    ] {
        let id = store
            .raise_flag(&NewFlag {
                dedup_key: format!("no_presence/{key}"),
                rule_id: wardwatch_collector::rules::RuleId::NoPresence,
                rule_version: 1,
                fixmedins_code: institution.parse().expect("institution code"),
                psn_no: Some(psn.parse().expect("psn_no")),
                amount_fen: 41_000,
                evidence: json!({"presence_minutes": 0, "patient": psn}),
                lines: vec![line.into()],
            })
            .await
            .expect("raise")
            .expect("new flag");
        ids.push(id);
    }
    (ids[0], ids[1], ids[2])
}

/// `wardwatch collector users …` on this database; returns stdout.
pub(crate) fn users_cli(db: &Database, args: &[&str]) -> String {
    let out = Command::new(bin())
        .args(["collector", "users"])
        .args(db.args())
        .args(args)
        .output()
        .expect("run wardwatch collector users");
    assert!(
        out.status.success(),
        "users {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub(crate) fn add_user(db: &Database, name: &str, role: &str, institution: Option<&str>) -> String {
    let mut args = vec!["add", "--name", name, "--role", role];
    if let Some(code) = institution {
        args.extend(["--institution", code]);
    }
    let token = users_cli(db, &args);
    assert_eq!(token.len(), 64, "a 256-bit hex token: {token:?}");
    token
}

fn total(reply: &Reply) -> i64 {
    reply.json()["total"].as_i64().expect("total")
}

fn institutions(reply: &Reply) -> Vec<String> {
    reply.json()["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .map(|f| f["fixmedins_code"].as_str().expect("code").to_owned())
        .collect()
}

async fn scenario(db: &Database, dir: &std::path::Path) {
    let store = db.open().await;
    let (a, b, c) = seed(&store, dir).await;

    // Users through the real CLI; a bad combination is refused.
    let auditor = add_user(db, "auditor-li", "auditor", None);
    let own = add_user(db, "h-own", "institution", Some(OWN));
    let other = add_user(db, "h-other", "institution", Some(OTHER));
    let gone = add_user(db, "h-gone", "institution", Some(OWN));
    users_cli(db, &["disable", "h-gone"]);
    // A second auditor for the second review (separation of duties), and a token past its lifetime.
    let second = add_user(db, "auditor-wang", "auditor", None);
    let late = add_user(db, "h-late", "institution", Some(OWN));
    sqlx::query("UPDATE users SET expires_at_ms = 1 WHERE name = 'h-late'")
        .execute(store.pool())
        .await
        .expect("expire h-late's token");
    let (auditor, own, other, gone, second, late) = (
        auditor.as_str(),
        own.as_str(),
        other.as_str(),
        gone.as_str(),
        second.as_str(),
        late.as_str(),
    );
    let refused = Command::new(bin())
        .args(["collector", "users"])
        .args(db.args())
        .args([
            "add",
            "--name",
            "x",
            "--role",
            "auditor",
            "--institution",
            OWN,
        ])
        .output()
        .expect("run");
    assert!(
        !refused.status.success(),
        "an auditor bound to an institution"
    );
    let listing = users_cli(db, &["list"]);
    let line_of = |name: &str| -> String {
        listing
            .lines()
            .find(|l| l.starts_with(&format!("{name}\t")))
            .unwrap_or_else(|| panic!("{name} not listed: {listing}"))
            .to_owned()
    };
    // Revocation and expiry are listed.
    let gone_line = line_of("h-gone");
    assert!(
        gone_line.starts_with("h-gone\tinstitution\tH43060200175\tdisabled\trevoked\texpires 20"),
        "{gone_line}"
    );
    assert!(
        !gone_line.ends_with("revoked -"),
        "revocation time: {gone_line}"
    );
    assert!(
        line_of("h-late").contains("\tenabled\texpired\texpires 1970-01-01T00:00Z\trevoked -"),
        "{listing}"
    );
    assert!(line_of("h-own").contains("\tenabled\tvalid\texpires 20"));
    assert!(!listing.contains(auditor), "tokens are never listed");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve(ApiState::new(store.clone()), listener, stopped));
    let mut http = Client {
        addr,
        sent: Vec::new(),
    };

    // Authentication.
    assert_eq!(http.get("/api/v1/me", None).await.status, 401);
    let unknown = http.get("/api/v1/flags", Some("0badc0de")).await;
    assert_eq!(unknown.status, 401);
    let disabled = http.get("/api/v1/flags", Some(gone)).await;
    assert_eq!(disabled.status, 401);
    assert_eq!(disabled.json()["error"]["code"], "unauthorized");
    let expired = http.get("/api/v1/flags", Some(late)).await;
    assert_eq!(expired.status, 401);
    // One answer for an unknown, a revoked and an expired token: no oracle.
    assert_eq!(disabled.body, unknown.body);
    assert_eq!(expired.body, unknown.body);
    let me = http.get("/api/v1/me", Some(own)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["name"], "h-own");
    assert_eq!(me.json()["fixmedins_code"], OWN);

    // Flags pending review are the bureau's: the institution sees none of them, not even its own.
    let none_yet = http.get("/api/v1/flags", Some(own)).await;
    assert_eq!(none_yet.status, 200);
    assert_eq!(total(&none_yet), 0, "{:?}", none_yet.json());
    let pending = http.get(&format!("/api/v1/flags/{a}"), Some(own)).await;
    let missing = http.get("/api/v1/flags/999999", Some(own)).await;
    assert_eq!(pending.status, 404);
    assert_eq!(
        pending.error_message().replace(&a.to_string(), "N"),
        missing.error_message().replace("999999", "N"),
        "a flag pending review looks exactly like a missing one"
    );
    assert_eq!(http.get("/api/v1/rules/stats", Some(own)).await.status, 403);

    // The auditor sees all, filters and pages.
    let all = http.get("/api/v1/flags", Some(auditor)).await;
    assert_eq!(total(&all), 3);
    let page = http
        .get(
            "/api/v1/flags?rule=no_presence&state=pending&limit=1&offset=1",
            Some(auditor),
        )
        .await;
    assert_eq!(total(&page), 3);
    assert_eq!(page.json()["flags"].as_array().expect("flags").len(), 1);
    assert_eq!(page.json()["flags"][0]["id"], b, "newest first, second one");
    let by_patient = http
        .get("/api/v1/flags?psn_no=4306003", Some(auditor))
        .await;
    assert_eq!(institutions(&by_patient), vec![OTHER]);
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let tomorrow = today.succ_opt().expect("tomorrow");
    let dated = http
        .get(
            &format!("/api/v1/flags?from={today}&to={tomorrow}"),
            Some(auditor),
        )
        .await;
    assert_eq!(total(&dated), 3);
    let before = http
        .get(&format!("/api/v1/flags?to={today}"), Some(auditor))
        .await;
    assert_eq!(total(&before), 0);

    // pending → confirmed → issued by the auditor.
    let confirmed = http
        .act(
            a,
            auditor,
            json!({"action": "confirm", "reason": "无在场记录"}),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.json());
    assert_eq!(confirmed.json()["state"], "confirmed");
    let issued = http
        .act(a, auditor, json!({"action": "issue", "reason": "下发"}))
        .await;
    assert_eq!(issued.json()["state"], "issued");
    for step in ["confirm", "issue"] {
        let done = http
            .act(c, auditor, json!({"action": step, "reason": "下发"}))
            .await;
        assert_eq!(done.status, 200, "{step} c: {}", done.error_message());
    }

    // Once issued, the institution sees its own flag, and only its own, whatever it asks for.
    let mine = http.get("/api/v1/flags", Some(own)).await;
    assert_eq!(mine.status, 200);
    assert_eq!(total(&mine), 1);
    assert_eq!(institutions(&mine), vec![OWN]);
    assert_eq!(mine.json()["flags"][0]["id"], a);
    let pending_b = http.get("/api/v1/flags?state=pending", Some(own)).await;
    assert_eq!(total(&pending_b), 0, "asking for pending flags shows none");
    let sneaky = http
        .get(&format!("/api/v1/flags?institution={OTHER}"), Some(own))
        .await;
    assert_eq!(total(&sneaky), 0, "{:?}", sneaky.json());
    let foreign = http.get(&format!("/api/v1/flags/{c}"), Some(own)).await;
    assert_eq!(foreign.status, 404);
    assert_eq!(
        foreign.error_message().replace(&c.to_string(), "N"),
        missing.error_message().replace("999999", "N"),
        "another institution's flag looks exactly like a missing one"
    );
    assert_eq!(total(&http.get("/api/v1/flags", Some(other)).await), 1);

    // Wrong role (403) and wrong state (409), with the workflow's reason.
    let wrong_role = http
        .act(
            a,
            own,
            json!({"action": "recover", "reason": "self-review", "amount_fen": 1}),
        )
        .await;
    assert_eq!(wrong_role.status, 403);
    assert!(
        wrong_role.error_message().contains("may not `recover`"),
        "{}",
        wrong_role.error_message()
    );
    let wrong_state = http
        .act(
            b,
            auditor,
            json!({"action": "issue", "reason": "too early"}),
        )
        .await;
    assert_eq!(wrong_state.status, 409);
    assert!(
        wrong_state
            .error_message()
            .contains("allowed here: confirm, exclude"),
        "{}",
        wrong_state.error_message()
    );
    let foreign_appeal = http
        .act(c, own, json!({"action": "appeal", "reason": "x"}))
        .await;
    assert_eq!(foreign_appeal.status, 404);
    let bad_action = http
        .act(b, auditor, json!({"action": "approve", "reason": "x"}))
        .await;
    assert_eq!(bad_action.status, 400);
    assert!(bad_action.error_message().contains("`action`"));
    let bad_field = http
        .act(
            b,
            auditor,
            json!({"action": "confirm", "amount_fen": "many"}),
        )
        .await;
    assert_eq!(bad_field.status, 400);
    assert!(bad_field.error_message().contains("amount_fen"));

    // The institution appeals with text and uploads an attachment.
    let appeal_text = "患者当日在透析室，摄像头故障 the camera was down";
    let appealed = http
        .act(a, own, json!({"action": "appeal", "reason": appeal_text}))
        .await;
    assert_eq!(appealed.status, 200, "{:?}", appealed.json());
    assert_eq!(appealed.json()["state"], "appealed");
    let file: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let name = "透析记录 2026-11-02.pdf";
    let query_name = "%E9%80%8F%E6%9E%90%E8%AE%B0%E5%BD%95%202026-11-02.pdf";
    let uploaded = http
        .send(
            "POST",
            &format!("/api/v1/flags/{a}/attachments?file_name={query_name}"),
            Some(own),
            file.clone(),
        )
        .await;
    assert_eq!(uploaded.status, 201, "{:?}", uploaded.json());
    let meta = uploaded.json();
    assert_eq!(meta["file_name"], name);
    assert_eq!(meta["size"], file.len());
    assert_eq!(meta["sha256"], hex::encode(Sha256::digest(&file)));
    let aid = meta["id"].as_i64().expect("attachment id");
    let too_early = http
        .send(
            "POST",
            &format!("/api/v1/flags/{b}/attachments?file_name=x.pdf"),
            Some(own),
            b"x".to_vec(),
        )
        .await;
    assert_eq!(
        too_early.status, 404,
        "flag b is still pending: not the institution's to see"
    );
    let intruder = http
        .send(
            "POST",
            &format!("/api/v1/flags/{a}/attachments?file_name=x.pdf"),
            Some(other),
            b"x".to_vec(),
        )
        .await;
    assert_eq!(intruder.status, 404);
    let oversize = http
        .send(
            "POST",
            &format!("/api/v1/flags/{a}/attachments?file_name=big.bin"),
            Some(auditor),
            vec![7u8; 10 * 1024 * 1024 + 1],
        )
        .await;
    assert_eq!(oversize.status, 413);
    assert_eq!(oversize.json()["error"]["code"], "payload_too_large");

    // The auditor reviews: detail with evidence, lines, history, attachments; then downloads.
    let detail = http.get(&format!("/api/v1/flags/{a}"), Some(auditor)).await;
    assert_eq!(detail.status, 200);
    let detail = detail.json();
    assert_eq!(detail["state"], "appealed");
    assert_eq!(detail["state_zh"], "已申诉");
    assert_eq!(detail["appeal_text"], appeal_text);
    assert_eq!(detail["evidence"]["patient"], "4306001");
    assert_eq!(detail["lines"][0]["feedetl_sn"], "FA1");
    assert_eq!(detail["lines"][0]["det_item_fee_sumamt_fen"], 41_000);
    let actions: Vec<&str> = detail["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["raise", "confirm", "issue", "appeal"]);
    assert_eq!(
        detail["attachments"].as_array().expect("attachments").len(),
        1
    );
    assert!(detail["attachments"][0].get("content").is_none());
    assert_eq!(
        detail["allowed_actions"],
        json!([]),
        "the first reviewer is offered no second review"
    );
    let second_view = http.get(&format!("/api/v1/flags/{a}"), Some(second)).await;
    assert_eq!(
        second_view.json()["allowed_actions"],
        json!(["uphold", "reverse", "refer_panel"])
    );
    let own_view = http.get(&format!("/api/v1/flags/{a}"), Some(own)).await;
    assert_eq!(own_view.json()["allowed_actions"], json!([]));
    let download = http
        .get(
            &format!("/api/v1/flags/{a}/attachments/{aid}"),
            Some(auditor),
        )
        .await;
    assert_eq!(download.status, 200);
    assert_eq!(download.body, file);
    let disposition = download.headers["content-disposition"]
        .to_str()
        .expect("ascii header");
    assert!(disposition.contains(query_name), "{disposition}");
    let peek = http
        .get(&format!("/api/v1/flags/{a}/attachments/{aid}"), Some(other))
        .await;
    assert_eq!(peek.status, 404);

    // Bad input names the field; unknown routes are JSON 404s.
    for (query, field) in [
        ("limit=5000", "limit"),
        ("bogus=1", "bogus"),
        ("from=2026-13-01", "from"),
        ("state=lost", "state"),
        ("institution=X1", "institution"),
    ] {
        let reply = http
            .get(&format!("/api/v1/flags?{query}"), Some(auditor))
            .await;
        assert_eq!(reply.status, 400, "{query}");
        assert!(
            reply.error_message().contains(&format!("`{field}`")),
            "{query}: {}",
            reply.error_message()
        );
    }
    let wrong_method = http
        .send(
            "DELETE",
            &format!("/api/v1/flags/{a}"),
            Some(auditor),
            Vec::new(),
        )
        .await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.json()["error"]["code"], "method_not_allowed");
    let huge_json = http
        .send(
            "POST",
            &format!("/api/v1/flags/{b}/transitions"),
            Some(auditor),
            vec![b' '; 3 * 1024 * 1024],
        )
        .await;
    assert_eq!(huge_json.status, 413);
    let nowhere = http.get("/api/v1/nowhere", Some(auditor)).await;
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.json()["error"]["code"], "not_found");
    let stats = http.get("/api/v1/rules/stats", Some(auditor)).await;
    assert_eq!(stats.status, 200);
    assert_eq!(stats.json()[0]["rule_id"], "no_presence");
    assert_eq!(stats.json()[0]["raised"], 3);

    // Handled flags become the 扣费明细: the institution downloads its own, the bureau names one.
    // Separation of duties: the first reviewer may not take the second review.
    let own_review = http
        .act(
            a,
            auditor,
            json!({"action": "uphold", "reason": "申诉理由不成立 appeal rejected"}),
        )
        .await;
    assert_eq!(own_review.status, 403);
    assert!(
        own_review.error_message().contains("separation of duties"),
        "{}",
        own_review.error_message()
    );
    let upheld = http
        .act(
            a,
            second,
            json!({"action": "uphold", "reason": "申诉理由不成立 appeal rejected"}),
        )
        .await;
    assert_eq!(upheld.status, 200, "{}", upheld.error_message());
    let recovered = http
        .act(
            a,
            auditor,
            json!({"action": "recover", "reason": "追回 recovered", "amount_fen": 20_000}),
        )
        .await;
    assert_eq!(recovered.status, 200, "{}", recovered.error_message());
    let month = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m")
        .to_string();
    let csv = http
        .get(
            &format!("/api/v1/exports/deductions?month={month}&format=csv"),
            Some(own),
        )
        .await;
    assert_eq!(csv.status, 200, "{}", csv.error_message());
    let text = String::from_utf8_lossy(&csv.body).to_string();
    assert!(
        text.starts_with('\u{feff}') && text.contains("FA1") && text.contains("200.00"),
        "{text}"
    );
    // The item name that was a formula is text in the file.
    assert!(text.contains(",'=cmd|' /C calc'!A0,"), "{text}");
    assert!(!text.contains(",=cmd"), "{text}");
    let nosy = http
        .get(
            &format!("/api/v1/exports/deductions?month={month}&institution={OTHER}"),
            Some(own),
        )
        .await;
    assert_eq!(nosy.status, 403);
    let unnamed = http
        .get(
            &format!("/api/v1/exports/deductions?month={month}"),
            Some(auditor),
        )
        .await;
    assert_eq!(unnamed.status, 400);
    assert!(
        unnamed.error_message().contains("`institution`"),
        "{}",
        unnamed.error_message()
    );
    let rows = http
        .get(
            &format!("/api/v1/exports/deductions?month={month}&institution={OWN}&format=json"),
            Some(auditor),
        )
        .await;
    assert_eq!(rows.status, 200);
    assert_eq!(rows.json()[0]["deducted_fen"], 20_000);
    assert_eq!(rows.json().as_array().map(Vec::len), Some(1));
    let none = http
        .get(
            &format!("/api/v1/exports/deductions?month={month}&institution={OTHER}"),
            Some(auditor),
        )
        .await;
    assert_eq!(none.status, 404, "no deductions for the other institution");
    let quarter_of = |m: &str| -> String {
        let (year, month) = m.split_once('-').expect("yyyy-mm");
        let month: u32 = month.parse().expect("month");
        format!("{year}-Q{}", (month - 1) / 3 + 1)
    };
    let quarterly = http
        .get(
            &format!("/api/v1/exports/quarterly?quarter={}", quarter_of(&month)),
            Some(auditor),
        )
        .await;
    assert_eq!(quarterly.status, 200, "{}", quarterly.error_message());
    assert!(quarterly.body.starts_with(b"PK"), "an XLSX (zip) workbook");
    let refused = http
        .get(
            &format!("/api/v1/exports/quarterly?quarter={}", quarter_of(&month)),
            Some(own),
        )
        .await;
    assert_eq!(refused.status, 403);

    stop.send_replace(true);
    server
        .await
        .expect("server task")
        .expect("server stops cleanly");

    // One access-log row per request, in order, refused ones included; no token anywhere.
    println!(
        "{} requests, {} access-log rows",
        http.sent.len(),
        store.access_log().await.expect("log").len()
    );
    let log = store.access_log().await.expect("access log");
    let logged: Vec<(String, String, u16)> = log
        .iter()
        .map(|e| (e.method.clone(), e.path.clone(), e.status as u16))
        .collect();
    assert_eq!(logged, http.sent);
    assert_eq!(log[0].user_name, "-", "unauthenticated requests log `-`");
    assert_eq!(log[1].user_name, "-");
    assert_eq!(log[2].user_name, "h-gone");
    assert!(log[2].detail.contains("revoked token"), "{}", log[2].detail);
    assert_eq!(log[3].user_name, "h-late");
    assert!(log[3].detail.contains("expired token"), "{}", log[3].detail);
    assert!(log[1].detail.contains("unknown token"), "{}", log[1].detail);
    let foreign_row = log
        .iter()
        .find(|e| e.path == format!("/api/v1/flags/{c}") && e.user_name == "h-own")
        .expect("the refused look at another institution's flag is logged");
    assert_eq!(foreign_row.status, 404);
    assert_eq!(foreign_row.flag_id, Some(c));
    assert!(log.iter().any(|e| e.status == 413 && e.flag_id == Some(a)));
    for token in [auditor, own, other, gone, second, late] {
        assert!(
            log.iter()
                .all(|e| !e.path.contains(token) && !e.detail.contains(token)),
            "a token leaked into the access log"
        );
    }
    for statement in [
        "UPDATE access_log SET status = 200",
        "DELETE FROM access_log",
    ] {
        let result = sqlx::query(statement).execute(store.pool()).await;
        assert!(result.is_err(), "{statement} must be refused");
    }
    assert_eq!(store.access_log().await.expect("log").len(), log.len());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_each_role_its_own_and_logs_every_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dbs = vec![Database::sqlite(dir.path())];
    match Database::postgres().await {
        Some(pg) => dbs.push(pg),
        None => skip("api on postgres", "WARDWATCH_TEST_PG is not set"),
    }
    for db in dbs {
        println!("api on {}", db.name);
        scenario(&db, dir.path()).await;
        db.cleanup().await;
    }
}
