//! Operating it (issue 15): the collector's `/metrics` on its HTTP listener, readable only with the
//! scrape token, moves with what the collector does — events stored, a message quarantined by its
//! reason, requests by status — and `--log-format json` writes one JSON object per log line.

use crate::evidence::get;
use std::process::Command;
use std::time::Duration;
use wardwatch_testkit::e2e::*;

const EVENTS: usize = 25;

/// The value of the sample line that starts with `name` (labels included), if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_ingest_and_need_the_scrape_token() {
    let mut spine = Spine::new(BrokerKind::Embedded, None, EVENTS, 1.0e6).await;
    let token = "5f0c6d1e8a9b4c3d2e1f00112233445566778899aabbccddeeff001122334455";
    let token_file = spine.dir.path().join("metrics.token");
    std::fs::write(&token_file, format!("{token}\n")).expect("token file");
    let http = free_addr();
    let mut command = Command::new(bin());
    command
        .args(["collector", "serve", "--log-format", "json"])
        .args(["--broker-url", &spine.broker.url()])
        .args(["--client-id", "wardwatch-metrics-test"])
        .arg("--ack-key")
        .arg(&spine.ack_key)
        .args(["--listen-http", &http.to_string()])
        .arg("--metrics-token-file")
        .arg(&token_file)
        .args(spine.db.args());
    spine.collector = Some(Proc::spawn(
        "collector",
        &mut command,
        &spine.log("collector"),
    ));
    wait_listening(http, &spine.log("collector"));

    // Who may read it: the token's holder only.
    assert_eq!(get(http, "/metrics", "wrong-token").await.0, 401);
    let (status, content_type, body) = get(http, "/metrics", token).await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let before = String::from_utf8(body).expect("utf-8");
    assert_eq!(
        sample(&before, "wardwatch_events_stored_total"),
        Some(0.0),
        "{before}"
    );
    assert_eq!(
        sample(&before, "wardwatch_gaps_open"),
        Some(0.0),
        "{before}"
    );
    // The registered box has sent nothing yet: silent.
    assert_eq!(
        sample(&before, "wardwatch_devices{state=\"silent\"}"),
        Some(1.0),
        "{before}"
    );

    spine.start_agent();
    spine.wait_agent_drained(Duration::from_secs(60));
    // A message that is no event, on the box's topic: quarantined.
    publish_retained(
        &spine.broker.url(),
        &format!(
            "wardwatch/v1/{}/{}/presence",
            spine.institution, spine.device
        ),
        b"not an event".to_vec(),
    )
    .await;
    // A request the API refuses (no token), counted by its status.
    assert_eq!(get(http, "/api/v1/me", "").await.0, 401);

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let after = loop {
        let text = String::from_utf8(get(http, "/metrics", token).await.2).expect("utf-8");
        let quarantined = text
            .lines()
            .any(|l| l.starts_with("wardwatch_events_quarantined_total{reason="));
        if quarantined || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        sample(&after, "wardwatch_events_stored_total"),
        Some(EVENTS as f64),
        "{after}"
    );
    let quarantined: Vec<&str> = after
        .lines()
        .filter(|l| l.starts_with("wardwatch_events_quarantined_total{reason="))
        .collect();
    assert_eq!(quarantined.len(), 1, "{after}");
    assert!(quarantined[0].ends_with(" 1"), "{quarantined:?}");
    assert_eq!(
        sample(&after, "wardwatch_devices{state=\"silent\"}"),
        Some(0.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "wardwatch_http_requests_total{status=\"401\"}"),
        Some(1.0),
        "the scrapes themselves are not counted: {after}"
    );
    assert!(
        sample(&after, "wardwatch_ingest_lag_seconds_count").is_some_and(|n| n >= 1.0),
        "{after}"
    );

    clear_retained(
        &spine.broker.url(),
        &format!(
            "wardwatch/v1/{}/{}/presence",
            spine.institution, spine.device
        ),
    )
    .await;
    if let Some(mut collector) = spine.collector.take() {
        collector.terminate();
    }
    let text = std::fs::read_to_string(spine.log("collector")).expect("log");
    spine.finish().await;
    // Every log line the collector wrote is one JSON object with a level and fields.
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            value.get("level").is_some() && value.get("fields").is_some(),
            "{line}"
        );
        lines += 1;
    }
    assert!(lines >= 2, "{text}");
}
