//! The document against the router: the routes `router()` registers are exactly the documented
//! operations, and each operation's documented statuses are exactly those that requests to it were
//! seen to get, on a real (SQLite) store.

use super::document;
use crate::api::{ApiLimits, ApiState, router};
use crate::flags::attachments::AttachmentLimits;
use crate::flags::store::NewFlag;
use crate::store::{Store, StoreLocation};
use crate::users::UserRole;
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tower::ServiceExt;

const OWN: &str = "H43060200175";
const OTHER: &str = "H43060200999";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// An operation: `GET /api/v1/flags/{id}`.
type Operation = (String, String);

fn operation(method: &str, template: &str) -> Operation {
    (method.to_uppercase(), template.to_owned())
}

/// Every operation of the document with its documented statuses.
fn documented() -> BTreeMap<Operation, BTreeSet<u16>> {
    let doc = serde_json::to_value(document()).expect("the document serialises");
    let mut operations = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let statuses = op["responses"]
                    .as_object()
                    .expect("responses")
                    .keys()
                    .map(|s| s.parse::<u16>().expect("numeric status"))
                    .collect();
                operations.insert(operation(method, path), statuses);
            }
        }
    }
    operations
}

/// The text inside the parentheses that open just before `text`.
fn inside_parens(text: &str) -> &str {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        depth += match c {
            '(' => 1,
            ')' => -1,
            _ => 0,
        };
        if depth == 0 {
            return &text[..i];
        }
    }
    text
}

/// `(METHOD, /api/v1/PATH)` of every `.route(…)` in `routes()`' source (where every route of
/// api/mod.rs must be): whatever is added there, however it is written, is found here.
fn routes_in_source() -> BTreeSet<Operation> {
    let source = include_str!("../mod.rs");
    let start = source.find("fn routes(").expect("routes() in api/mod.rs");
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").expect("the end of routes()")];
    assert_eq!(
        body.matches(".route(").count(),
        source.matches(".route(").count(),
        "a route added outside routes() in api/mod.rs"
    );
    let mut routes = BTreeSet::new();
    for chunk in body.split(".route(").skip(1) {
        let call = inside_parens(chunk);
        let path = call.split('"').nth(1).expect("a literal path");
        let handlers = &call[call.find(',').expect("a method router")..];
        for method in METHODS {
            let called = handlers.match_indices(&format!("{method}(")).any(|(i, _)| {
                i == 0
                    || !handlers[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if called {
                routes.insert(operation(method, &format!("/api/v1{path}")));
            }
        }
    }
    routes
}

#[test]
fn every_route_the_router_serves_is_documented_and_nothing_else() {
    let in_router = routes_in_source();
    let in_document: BTreeSet<Operation> = documented().into_keys().collect();
    assert!(in_router.len() >= 12, "routes found: {in_router:?}");
    let undocumented: Vec<_> = in_router.difference(&in_document).collect();
    let unserved: Vec<_> = in_document.difference(&in_router).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "routes without a #[utoipa::path] listed in ApiDoc: {undocumented:?}; documented but not \
         routed: {unserved:?}"
    );
}

/// One request and the status it must get.
struct Case {
    op: Operation,
    uri: String,
    token: Option<String>,
    body: Vec<u8>,
    expect: u16,
}

async fn send(app: &Router, method: &str, uri: &str, token: Option<&str>, body: Vec<u8>) -> u16 {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Body::from(body)).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    response.status().as_u16()
}

/// The status line of the answer to `POST {path}` whose body stops after a few of its 100 bytes,
/// through the real server with `state`.
async fn stalled_body_answer(state: ApiState, path: &str, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(crate::api::serve(state, listener, stopped));
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"action\""
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = vec![0; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    String::from_utf8_lossy(&answer[..read])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn flag(store: &Store, key: &str, institution: &str, psn: &str) -> i64 {
    store
        .raise_flag(&NewFlag {
            dedup_key: format!("openapi/{key}"),
            rule_id: crate::rules::RuleId::NoPresence,
            rule_version: 1,
            fixmedins_code: institution.parse().expect("code"),
            psn_no: Some(psn.parse().expect("psn_no")),
            amount_fen: 41_000,
            evidence: json!({"presence_minutes": 0}),
            lines: Vec::new(),
        })
        .await
        .expect("raise")
        .expect("a new flag")
}

fn action(name: &str) -> Vec<u8> {
    json!({"action": name, "reason": "openapi test"})
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn every_documented_status_is_one_a_request_gets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&StoreLocation::DataDir(dir.path().to_owned()))
        .await
        .expect("open");
    let auditor = store
        .add_user("auditor", &UserRole::Auditor)
        .await
        .expect("auditor");
    let own = store
        .add_user(
            "own",
            &UserRole::from_parts("institution", Some(OWN)).expect("role"),
        )
        .await
        .expect("institution");
    let admin = store
        .add_user("admin", &UserRole::Admin)
        .await
        .expect("admin");
    let enrolment = format!(
        "{{\"fixmedins_code\":\"{OWN}\",\"psn_no\":\"4306009\",\"model\":\"fr_feature\",\"embedding\":{}}}\n",
        serde_json::to_string(&vec![0.125_f32; 128]).expect("json")
    );
    store
        .import_gallery(enrolment.as_bytes())
        .await
        .expect("enrol");
    let pending = flag(&store, "pending", OWN, "4306001").await;
    let issued = flag(&store, "issued", OWN, "4306002").await;
    flag(&store, "other", OTHER, "4306003").await;
    // One attachment a flag, so that the second is refused with 409 `limit_reached`.
    let limits = ApiLimits {
        attachments: AttachmentLimits {
            per_flag: 1,
            ..AttachmentLimits::default()
        },
        ..ApiLimits::default()
    };
    let app = router(ApiState::with(store.clone(), limits));
    for step in ["confirm", "issue"] {
        let uri = format!("/api/v1/flags/{issued}/transitions");
        let status = send(&app, "POST", &uri, Some(&auditor), action(step)).await;
        assert_eq!(status, 200, "{step} the flag the institution sees");
    }

    let flags = "/api/v1/flags";
    let (a, i) = (Some(auditor.as_str()), Some(own.as_str()));
    let mut cases = Vec::new();
    let mut case =
        |method: &str, template: &str, uri: String, token: Option<&str>, body, expect| {
            cases.push(Case {
                op: operation(method, template),
                uri,
                token: token.map(str::to_owned),
                body,
                expect,
            });
        };
    let list = "/api/v1/flags";
    case("GET", list, list.into(), a, vec![], 200);
    case("GET", list, format!("{list}?limit=0"), a, vec![], 400);
    let show = "/api/v1/flags/{id}";
    case("GET", show, format!("{flags}/{pending}"), a, vec![], 200);
    case("GET", show, format!("{flags}/x"), a, vec![], 400);
    // Pending review: the institution does not see it.
    case("GET", show, format!("{flags}/{pending}"), i, vec![], 404);
    let transitions = "/api/v1/flags/{id}/transitions";
    let act = |id: i64| format!("{flags}/{id}/transitions");
    case("POST", transitions, act(issued), i, action("appeal"), 200);
    case("POST", transitions, act(pending), a, action("nope"), 400);
    // The auditor who confirmed it may not take the second review.
    case("POST", transitions, act(issued), a, action("uphold"), 403);
    case("POST", transitions, act(999_999), a, action("confirm"), 404);
    case("POST", transitions, act(pending), a, action("close"), 409);
    case(
        "POST",
        transitions,
        act(pending),
        a,
        vec![b' '; 300 * 1024],
        413,
    );
    let upload = "/api/v1/flags/{id}/attachments";
    let attach = |id: i64, name: &str| format!("{flags}/{id}/attachments?file_name={name}");
    case(
        "POST",
        upload,
        attach(pending, "a.pdf"),
        a,
        b"%PDF".to_vec(),
        201,
    );
    case(
        "POST",
        upload,
        format!("{flags}/{pending}/attachments"),
        a,
        vec![],
        400,
    );
    case(
        "POST",
        upload,
        attach(999_999, "a.pdf"),
        a,
        b"x".to_vec(),
        404,
    );
    case(
        "POST",
        upload,
        attach(pending, "b.pdf"),
        a,
        b"x".to_vec(),
        409,
    );
    let too_big = vec![0; super::super::attachments::MAX_ATTACHMENT_BYTES + 1];
    case("POST", upload, attach(issued, "c.pdf"), i, too_big, 413);
    let download = "/api/v1/flags/{id}/attachments/{aid}";
    // The first attachment stored has id 1.
    case(
        "GET",
        download,
        format!("{flags}/{pending}/attachments/1"),
        a,
        vec![],
        200,
    );
    case(
        "GET",
        download,
        format!("{flags}/{pending}/attachments/x"),
        a,
        vec![],
        400,
    );
    case(
        "GET",
        download,
        format!("{flags}/{pending}/attachments/9999"),
        a,
        vec![],
        404,
    );
    let evidence = "/api/v1/evidence";
    case("GET", evidence, evidence.into(), a, vec![], 200);
    case("GET", evidence, evidence.into(), i, vec![], 403);
    let crop = "/api/v1/evidence/{event_id}";
    case("GET", crop, format!("{evidence}/%FF"), a, vec![], 400);
    case(
        "GET",
        crop,
        format!("{evidence}/some-event"),
        i,
        vec![],
        403,
    );
    case(
        "GET",
        crop,
        format!("{evidence}/no-such-event"),
        a,
        vec![],
        404,
    );
    let stats = "/api/v1/rules/stats";
    case("GET", stats, stats.into(), a, vec![], 200);
    case("GET", stats, stats.into(), i, vec![], 403);
    let me = "/api/v1/me";
    case("GET", me, me.into(), a, vec![], 200);
    let deductions = "/api/v1/exports/deductions";
    let month = format!("{deductions}?month=2026-11&institution={OWN}");
    case(
        "GET",
        deductions,
        format!("{month}&format=json"),
        a,
        vec![],
        200,
    );
    case("GET", deductions, deductions.into(), a, vec![], 400);
    let others = format!("{deductions}?month=2026-11&institution={OTHER}");
    case("GET", deductions, others, i, vec![], 403);
    // Nothing handled in the month: no file to send.
    case(
        "GET",
        deductions,
        format!("{month}&format=csv"),
        a,
        vec![],
        404,
    );
    let quarterly = "/api/v1/exports/quarterly";
    case(
        "GET",
        quarterly,
        format!("{quarterly}?quarter=2026-Q4"),
        a,
        vec![],
        200,
    );
    case("GET", quarterly, quarterly.into(), a, vec![], 400);
    case(
        "GET",
        quarterly,
        format!("{quarterly}?quarter=2026-Q4"),
        i,
        vec![],
        403,
    );
    let removals = "/api/v1/gallery/removals";
    let removal = |psn: &str, reason: &str| {
        json!({"fixmedins_code": OWN, "psn_no": psn, "reason": reason})
            .to_string()
            .into_bytes()
    };
    let ad = Some(admin.as_str());
    case(
        "POST",
        removals,
        removals.into(),
        ad,
        removal("4306009", "PIPL request 1"),
        200,
    );
    case(
        "POST",
        removals,
        removals.into(),
        ad,
        removal("4306009", " "),
        400,
    );
    case(
        "POST",
        removals,
        removals.into(),
        a,
        removal("4306009", "PIPL request 1"),
        403,
    );
    // Removed above: nothing left to remove.
    case(
        "POST",
        removals,
        removals.into(),
        ad,
        removal("4306009", "again"),
        404,
    );
    case(
        "POST",
        removals,
        removals.into(),
        ad,
        vec![b' '; 300 * 1024],
        413,
    );
    let doc = "/api/v1/openapi.json";
    case("GET", doc, doc.into(), a, vec![], 200);

    let mut seen: BTreeMap<Operation, BTreeSet<u16>> = BTreeMap::new();
    for c in &cases {
        let status = send(&app, &c.op.0, &c.uri, c.token.as_deref(), c.body.clone()).await;
        assert_eq!(status, c.expect, "{} {}", c.op.0, c.uri);
        seen.entry(c.op.clone()).or_default().insert(status);
    }
    // What the middleware answers for any route: no token (401), the database gone (500), each
    // operation's first case sent again so.
    // What the middleware answers for any route: no token (401), the database gone (500, below),
    // each operation's first case sent again so.
    let first: BTreeMap<&Operation, &Case> = cases.iter().rev().map(|c| (&c.op, c)).collect();
    for (op, c) in &first {
        let status = send(&app, &op.0, &c.uri, None, c.body.clone()).await;
        assert_eq!(status, 401, "{} {} without a token", op.0, c.uri);
        seen.entry((*op).clone()).or_default().insert(status);
    }
    // The request deadline (408): the middleware answers it when the handler is still waiting as
    // the deadline passes. Proven here end to end with a body that never finishes; below, per
    // operation, whether its handler waits on anything at all (`/me` and the document never do).
    let expired = ApiState::with(
        store.clone(),
        ApiLimits {
            request_timeout: Duration::from_millis(300),
            ..limits
        },
    );
    let status_line = stalled_body_answer(expired, &act(pending), &auditor).await;
    assert!(status_line.starts_with("HTTP/1.1 408"), "{status_line}");
    let user = store
        .user_by_token(&auditor)
        .await
        .expect("lookup")
        .expect("the auditor");
    let bare = super::super::routes()
        .layer(axum::Extension(user))
        .with_state(ApiState::with(store.clone(), limits));
    // Removals are for admins only: their handler reaches the database only for one.
    let admin_user = store
        .user_by_token(&admin)
        .await
        .expect("lookup")
        .expect("the admin");
    let bare_admin = super::super::routes()
        .layer(axum::Extension(admin_user))
        .with_state(ApiState::with(store.clone(), limits));
    store.pool().close().await;
    for (op, c) in &first {
        let status = send(&app, &op.0, &c.uri, Some(&auditor), c.body.clone()).await;
        assert_eq!(status, 500, "{} {} with the database closed", op.0, c.uri);
        seen.entry((*op).clone()).or_default().insert(status);
    }
    // With the database closed, a handler (past the middleware) that answers 500 waits on the
    // database: it can outlast the deadline, so 408 is among its answers.
    for c in &cases {
        let bare = if c.op.1 == removals {
            &bare_admin
        } else {
            &bare
        };
        if send(bare, &c.op.0, &c.uri, None, c.body.clone()).await == 500 {
            seen.entry(c.op.clone()).or_default().insert(408);
        }
    }

    // A crop's 200 needs a signed evidence event from a box: tests/e2e/evidence.rs fetches real ones.
    seen.entry(operation("GET", crop)).or_default().insert(200);
    let documented = documented();
    for (op, statuses) in &documented {
        let got = seen.get(op).cloned().unwrap_or_default();
        assert_eq!(
            statuses, &got,
            "{} {}: documented statuses (left) differ from those requests got (right)",
            op.0, op.1
        );
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        documented.keys().collect::<Vec<_>>()
    );
}
