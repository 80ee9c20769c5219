//! The JSON API under abuse, over real sockets (the store-level cases on SQLite, and PostgreSQL when
//! `WARDWATCH_TEST_PG` is set): 50 slowloris connections trickling their headers are cut off by the
//! header-read deadline and an idle one too; a connection over the cap gets 503 at once; a stalled
//! request body gets 408; a flood of bad tokens leaves a bounded number of access-log rows plus one
//! row counting the rest; attachments are capped per flag and per institution, and file names with
//! control or bidirectional-override characters are refused naming the character; an institution
//! never sees a flag pending review (nor its attachments), and in a flag that involves another
//! institution it sees neither that institution's code, its patient, nor its fee lines — in the flag
//! or in its 扣费明细.

use super::api::Client;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wardwatch_collector::api::{ApiLimits, ApiState, serve};
use wardwatch_collector::flags::attachments::AttachmentLimits;
use wardwatch_collector::flags::store::NewFlag;
use wardwatch_collector::flags::visibility::WITHHELD;
use wardwatch_collector::flags::workflow::{Action, Actor, Request, Role};
use wardwatch_collector::rules::RuleId;
use wardwatch_collector::settlement::import::ImportOptions;
use wardwatch_collector::store::{Store, now_ms};
use wardwatch_collector::users::UserRole;
use wardwatch_testkit::e2e::*;

const OWN: &str = "H43060200175";
const OTHER: &str = "H43060200999";

/// A running API server and how to stop it.
struct Server {
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(store: &Store, limits: ApiLimits) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(serve(
            ApiState::with(store.clone(), limits),
            listener,
            stopped,
        ));
        Server { addr, stop, task }
    }

    fn client(&self) -> Client {
        Client {
            addr: self.addr,
            sent: Vec::new(),
        }
    }

    async fn stop(self) {
        self.stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the server stops within the request deadline")
            .expect("server task")
            .expect("server stops cleanly");
    }
}

/// Sends `request` on a fresh connection and reads until the peer closes, `until` appears, or
/// `wait` passes; returns what was read.
async fn raw_exchange(addr: SocketAddr, request: &[u8], until: &str, wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut got = Vec::new();
    let _ = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if String::from_utf8_lossy(&got).contains(until) {
                break;
            }
        }
    })
    .await;
    String::from_utf8_lossy(&got).into_owned()
}

/// Opens a connection and trickles a request's headers one byte every 250 ms, for at most `give_up`;
/// returns how long the server kept it open (`None`: still open when we gave up).
async fn slowloris(addr: SocketAddr, give_up: Duration) -> Option<Duration> {
    let start = Instant::now();
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let header = b"GET /api/v1/me HTTP/1.1\r\nHost: ward\r\nX-Slow: ".to_vec();
    let trickle = async move {
        for byte in header.iter().chain(std::iter::repeat(&b'a')) {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let closed = async {
        let mut buf = [0u8; 1024];
        // Whatever comes back (an error page, EOF, a reset) means the server is done with us.
        let _ = reader.read(&mut buf).await;
    };
    let outcome = tokio::time::timeout(give_up, async {
        tokio::select! {
            () = trickle => {},
            () = closed => {},
        }
    })
    .await;
    outcome.ok().map(|()| start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_connections_over_the_cap_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::sqlite(dir.path());
    let store = db.open().await;

    // 50 slowloris connections and one idle one against a 2 s header deadline.
    let server = Server::start(
        &store,
        ApiLimits {
            header_read_timeout: Duration::from_secs(2),
            ..ApiLimits::default()
        },
    )
    .await;
    let give_up = Duration::from_secs(15);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        tasks.spawn(slowloris(server.addr, give_up));
    }
    let idle_start = Instant::now();
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    let mut byte = [0u8; 1];
    let idle_closed = tokio::time::timeout(give_up, idle.read(&mut byte)).await;
    assert!(idle_closed.is_ok(), "an idle connection was kept open");
    let idle_open = idle_start.elapsed();
    let mut open_for = Vec::new();
    while let Some(result) = tasks.join_next().await {
        open_for.push(result.expect("slowloris task"));
    }
    let still_open = open_for.iter().filter(|d| d.is_none()).count();
    assert_eq!(
        still_open, 0,
        "{still_open} of 50 slowloris connections still open after {give_up:?}"
    );
    let longest = open_for.iter().flatten().max().copied().unwrap_or_default();
    println!(
        "slowloris: 50 connections closed, the longest after {longest:?}; idle closed after {idle_open:?}"
    );
    assert!(
        longest < Duration::from_secs(6),
        "2 s header deadline, closed after {longest:?}"
    );
    assert!(idle_open < Duration::from_secs(6), "{idle_open:?}");
    // The server still answers.
    let mut http = server.client();
    assert_eq!(http.get("/api/v1/me", None).await.status, 401);
    server.stop().await;

    // A cap of 3 connections: the 4th is answered 503 at once; once one closes, requests are served.
    let server = Server::start(
        &store,
        ApiLimits {
            max_connections: 3,
            ..ApiLimits::default()
        },
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let request = b"GET /api/v1/me HTTP/1.1\r\nHost: ward\r\nConnection: close\r\n\r\n";
    let started = Instant::now();
    let refused = raw_exchange(server.addr, request, "\"}}", Duration::from_secs(5)).await;
    assert!(
        refused.starts_with("HTTP/1.1 503") && refused.contains("over_capacity"),
        "over the cap: {refused:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(held);
    let mut served = String::new();
    for _ in 0..20 {
        served = raw_exchange(server.addr, request, "\"}}", Duration::from_secs(2)).await;
        if served.starts_with("HTTP/1.1 401") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        served.starts_with("HTTP/1.1 401"),
        "served again: {served:?}"
    );
    server.stop().await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_gets_408_and_a_flood_of_bad_tokens_is_logged_at_a_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::sqlite(dir.path());
    let store = db.open().await;
    let auditor = store
        .add_user("auditor-li", &UserRole::Auditor)
        .await
        .expect("user");
    let server = Server::start(
        &store,
        ApiLimits {
            request_timeout: Duration::from_secs(1),
            refusals_logged_per_minute: 10,
            ..ApiLimits::default()
        },
    )
    .await;

    // 10 of 1000 promised bytes, then nothing.
    let stalled = format!(
        "POST /api/v1/flags/1/attachments?file_name=x.pdf HTTP/1.1\r\nHost: ward\r\n\
         Authorization: Bearer {auditor}\r\nContent-Length: 1000\r\n\r\n0123456789"
    );
    let started = Instant::now();
    let answer = raw_exchange(
        server.addr,
        stalled.as_bytes(),
        "request_timeout",
        Duration::from_secs(10),
    )
    .await;
    let took = started.elapsed();
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("request_timeout"),
        "after {took:?}: {answer:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");

    // 100 requests with made-up tokens, then one authenticated request.
    let mut http = server.client();
    for i in 0..100 {
        let reply = http
            .get("/api/v1/flags", Some(&format!("guess{i:04}")))
            .await;
        assert_eq!(reply.status, 401);
    }
    assert_eq!(http.get("/api/v1/me", Some(&auditor)).await.status, 200);
    server.stop().await;

    let log = store.access_log().await.expect("access log");
    let one_by_one = log
        .iter()
        .filter(|e| e.status == 401 && e.path == "/api/v1/flags")
        .count();
    let counted: Vec<&str> = log
        .iter()
        .filter(|e| e.path == "-")
        .map(|e| e.detail.as_str())
        .collect();
    println!(
        "{} access-log rows for 102 requests; counted: {counted:?}",
        log.len()
    );
    assert_eq!(
        one_by_one, 10,
        "at most 10 refused requests a minute, one by one"
    );
    assert_eq!(counted.len(), 1, "{counted:?}");
    assert!(
        counted[0].starts_with("90 more refused unauthenticated requests"),
        "{}",
        counted[0]
    );
    assert!(
        log.iter()
            .any(|e| e.path == "/api/v1/me" && e.user_name == "auditor-li" && e.status == 200),
        "authenticated requests are always logged"
    );
    assert!(
        log.iter()
            .any(|e| e.status == 408 && e.user_name == "auditor-li"),
        "the timed-out request is logged"
    );
    store.close().await;
}

async fn raise(store: &Store, key: &str, rule: RuleId, evidence: Value, lines: &[&str]) -> i64 {
    store
        .raise_flag(&NewFlag {
            dedup_key: key.into(),
            rule_id: rule,
            rule_version: 1,
            fixmedins_code: OWN.parse().expect("code"),
            psn_no: Some("4306001".parse().expect("psn_no")),
            amount_fen: 41_000,
            evidence,
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
        })
        .await
        .expect("raise")
        .expect("new flag")
}

fn actor(user: &str, role: Role) -> Actor {
    Actor {
        user: user.into(),
        role,
        institution: (role == Role::Institution).then(|| OWN.parse().expect("code")),
    }
}

async fn act(store: &Store, id: i64, user: &str, role: Role, action: Action) {
    let request = Request {
        action,
        reason: format!("{} after review", action.as_str()),
        amount_fen: action.needs_amount().then_some(41_000),
        now_ms: now_ms(),
    };
    store
        .transition_flag(id, &actor(user, role), &request, 15)
        .await
        .unwrap_or_else(|e| panic!("{action:?} on {id}: {e}"));
}

async fn attach(
    http: &mut Client,
    flag: i64,
    name: &str,
    token: &str,
    size: usize,
) -> (u16, String) {
    let reply = http
        .send(
            "POST",
            &format!("/api/v1/flags/{flag}/attachments?file_name={name}"),
            Some(token),
            vec![b'x'; size],
        )
        .await;
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    (reply.status, text)
}

async fn store_level(db: &Database, dir: &std::path::Path) {
    let store = db.open().await;
    let csv = format!(
        "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,cnt,pric,det_item_fee_sumamt,fixmedins_code\n\
         L1,M1,4306001,2026-11-03 08:00:00,C1,1,410,410,{OWN}\n\
         L9,M9,4306001,2026-11-03 08:30:00,C1,1,410,410,{OTHER}\n"
    );
    let path = dir.join(format!("cross-{}.csv", db.name));
    std::fs::write(&path, csv).expect("write");
    store
        .import_file(&path, &ImportOptions::default(), &mut |_| {})
        .await
        .expect("import");
    let auditor = store
        .add_user("auditor-li", &UserRole::Auditor)
        .await
        .expect("user");
    let own = store
        .add_user("h-own", &UserRole::Institution(OWN.parse().expect("code")))
        .await
        .expect("user");

    // A cross-institution flag, as the rule writes it, and (defence in depth) with the other
    // institution's line among its lines; and a flag left pending.
    let cross_evidence = json!({
        "date": "2026-11-03",
        "min_overlap_minutes": 60,
        "conflicts": [{
            "own": {"institution": OWN, "kind": "billed", "feedetl_sn": "L1",
                    "start_ms": 1, "end_ms": 2, "corroborated": false},
            "other": {"institution": OTHER, "kind": "billed", "feedetl_sn": "L9",
                      "start_ms": 1, "end_ms": 2, "corroborated": true},
            "overlap_minutes": 240.0,
        }],
        "enrolled_first": {"psn_no": "4306099", "fixmedins_code": OTHER},
    });
    let cross = raise(
        &store,
        "cross",
        RuleId::CrossInstitution,
        cross_evidence,
        &["L1", "L9"],
    )
    .await;
    let pending = raise(&store, "pending", RuleId::NoPresence, json!({}), &[]).await;
    let spare = raise(&store, "spare", RuleId::NoPresence, json!({}), &[]).await;
    act(&store, cross, "auditor-li", Role::Auditor, Action::Confirm).await;
    act(&store, cross, "auditor-li", Role::Auditor, Action::Issue).await;

    let server = Server::start(
        &store,
        ApiLimits {
            attachments: AttachmentLimits {
                per_flag: 2,
                bytes_per_institution: 1_000,
            },
            ..ApiLimits::default()
        },
    )
    .await;
    let mut http = server.client();

    // Nothing of the pending flag, not even its attachment.
    let (status, _) = attach(&mut http, pending, "note.pdf", &auditor, 100).await;
    assert_eq!(status, 201);
    let listed = http.get("/api/v1/flags", Some(&own)).await.json();
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["flags"][0]["id"], cross);
    assert_eq!(
        http.get(&format!("/api/v1/flags/{pending}"), Some(&own))
            .await
            .status,
        404
    );
    assert_eq!(
        http.get(
            &format!("/api/v1/flags/{pending}/attachments/1"),
            Some(&own)
        )
        .await
        .status,
        404
    );

    // The cross-institution flag: the bureau sees it whole, the institution its own side only.
    let whole = http
        .get(&format!("/api/v1/flags/{cross}"), Some(&auditor))
        .await;
    let whole_text = String::from_utf8_lossy(&whole.body).into_owned();
    for secret in [OTHER, "L9", "4306099"] {
        assert!(whole_text.contains(secret), "the bureau sees {secret}");
    }
    let seen = http
        .get(&format!("/api/v1/flags/{cross}"), Some(&own))
        .await;
    assert_eq!(seen.status, 200);
    let seen_text = String::from_utf8_lossy(&seen.body).into_owned();
    for secret in [OTHER, "L9", "4306099"] {
        assert!(!seen_text.contains(secret), "{secret} leaked: {seen_text}");
    }
    let seen = seen.json();
    assert_eq!(seen["lines"].as_array().map(Vec::len), Some(1));
    assert_eq!(seen["lines"][0]["feedetl_sn"], "L1");
    assert_eq!(seen["evidence"]["conflicts"][0]["own"]["feedetl_sn"], "L1");
    assert_eq!(
        seen["evidence"]["conflicts"][0]["other"]["withheld"],
        WITHHELD
    );
    assert_eq!(seen["evidence"]["conflicts"][0]["other"]["kind"], "billed");

    // Its 扣费明细 has its own line only.
    act(&store, cross, "h-own", Role::Institution, Action::Appeal).await;
    act(&store, cross, "auditor-wang", Role::Auditor, Action::Uphold).await;
    act(&store, cross, "auditor-li", Role::Auditor, Action::Recover).await;
    let month = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m")
        .to_string();
    let rows = http
        .get(
            &format!("/api/v1/exports/deductions?month={month}&format=json"),
            Some(&own),
        )
        .await;
    assert_eq!(rows.status, 200, "{}", rows.error_message());
    let lines: Vec<String> = rows
        .json()
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["feedetl_sn"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(lines, ["L1"]);
    assert!(!String::from_utf8_lossy(&rows.body).contains(OTHER));

    // Names: control and bidirectional-override characters are refused, naming the character.
    for (name, char_code) in [
        ("invoice%E2%80%AEfdp.exe", "U+202E"),
        ("a%E2%81%A6b.pdf", "U+2066"),
        ("a%0Db.pdf", "U+000D"),
        ("a%1Bb.pdf", "U+001B"),
    ] {
        let (status, text) = attach(&mut http, spare, name, &auditor, 10).await;
        assert_eq!(status, 400, "{name}: {text}");
        assert!(
            text.contains(char_code) && text.contains("`file_name`"),
            "{name}: {text}"
        );
    }

    // Caps: 2 files a flag, 1,000 bytes for all of the institution's flags (100 already on
    // `pending`).
    assert_eq!(
        attach(&mut http, spare, "a.pdf", &auditor, 100).await.0,
        201
    );
    assert_eq!(
        attach(&mut http, spare, "b.pdf", &auditor, 100).await.0,
        201
    );
    let (status, text) = attach(&mut http, spare, "c.pdf", &auditor, 100).await;
    assert_eq!(status, 409, "{text}");
    assert!(
        text.contains("limit_reached") && text.contains("at most 2 per flag"),
        "{text}"
    );
    let (status, text) = attach(&mut http, cross, "big.pdf", &auditor, 701).await;
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("at most 1000 per institution"), "{text}");
    assert_eq!(
        attach(&mut http, cross, "fits.pdf", &auditor, 700).await.0,
        201
    );
    let (status, text) = attach(&mut http, cross, "more.pdf", &own, 1).await;
    assert_eq!(status, 409, "the flag is handled: {text}");

    server.stop().await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn institutions_see_only_issued_flags_redacted_and_attachments_are_capped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dbs = vec![Database::sqlite(dir.path())];
    match Database::postgres().await {
        Some(pg) => dbs.push(pg),
        None => skip("api abuse on postgres", "WARDWATCH_TEST_PG is not set"),
    }
    for db in dbs {
        println!("api abuse on {}", db.name);
        store_level(&db, dir.path()).await;
        db.cleanup().await;
    }
}
