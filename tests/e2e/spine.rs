//! The spine end to end, as separate processes: 10,000 events from one agent arrive exactly once, in
//! `seq` order, through the embedded broker and Mosquitto, on SQLite and PostgreSQL — and still do when
//! the broker stops, restarts without persistence, or the agent or collector is killed with SIGKILL, and
//! when the broker is unreachable from the agent's start until after its source has finished; and with
//! three collectors in one `$share` group through Mosquitto on PostgreSQL, one of them SIGKILLed.

use std::time::Duration;
use wardwatch_testkit::e2e::*;

const EVENTS: usize = 10_000;
/// Sightings per second: the stream lasts ~4 s, long enough to be interrupted midway.
const RATE: f64 = 2500.0;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(180);

async fn clean_run(test: &str, broker: BrokerKind, db: Option<Database>) {
    let mut spine = Spine::new(broker, db, EVENTS, 1.0e6).await;
    println!(
        "{test}: {} database, {:?}",
        spine.db.name, spine.broker.kind
    );
    spine.start_collector();
    spine.start_agent();
    spine.wait_agent_drained(DRAIN_TIMEOUT);
    let stats = spine.assert_exactly_once().await;
    println!("{test}: {stats:?}");
    spine.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_exactly_once_sqlite_embedded_broker() {
    clean_run("sqlite+embedded", BrokerKind::Embedded, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_exactly_once_postgres_embedded_broker() {
    let Some(db) = Database::postgres().await else {
        return skip("postgres+embedded", "WARDWATCH_TEST_PG is not set");
    };
    clean_run("postgres+embedded", BrokerKind::Embedded, Some(db)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_exactly_once_sqlite_mosquitto() {
    let Some(addr) = shared_mosquitto() else {
        return skip("sqlite+mosquitto", "WARDWATCH_TEST_MQTT is not set");
    };
    clean_run("sqlite+mosquitto", BrokerKind::Shared(addr), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_exactly_once_postgres_mosquitto() {
    let Some(addr) = shared_mosquitto() else {
        return skip("postgres+mosquitto", "WARDWATCH_TEST_MQTT is not set");
    };
    let Some(db) = Database::postgres().await else {
        return skip("postgres+mosquitto", "WARDWATCH_TEST_PG is not set");
    };
    clean_run("postgres+mosquitto", BrokerKind::Shared(addr), Some(db)).await;
}

/// The database for the fault tests: PostgreSQL when configured, else SQLite.
async fn fault_db() -> Option<Database> {
    Database::postgres().await
}

/// Starts a paced stream, waits until `at` events are stored, applies `fault`, then checks that all
/// 10,000 still arrive exactly once.
async fn interrupted_run(test: &str, broker: BrokerKind, fault: impl FnOnce(&mut Spine)) {
    let mut spine = Spine::new(broker, fault_db().await, EVENTS, RATE).await;
    println!(
        "{test}: {} database, {:?}",
        spine.db.name, spine.broker.kind
    );
    spine.start_collector();
    spine.start_agent();
    spine.wait_stored(2_000, Duration::from_secs(60)).await;
    fault(&mut spine);
    spine.wait_agent_drained(DRAIN_TIMEOUT);
    let stats = spine.assert_exactly_once().await;
    println!("{test}: {stats:?}");
    spine.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_unreachable_from_the_start_then_back_every_event_arrives_in_order() {
    const SPOOLED: usize = 2_000;
    let mut spine = Spine::new(BrokerKind::Embedded, None, SPOOLED, 1.0e6).await;
    spine.broker.stop();
    spine.start_agent();
    // The box works with no broker at all: everything goes to its spool.
    let log = spine.log("agent");
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("source finished")
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the agent did not finish its source without a broker:\n{}",
            tail(&log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    spine.broker.restart();
    spine.start_collector();
    spine.wait_agent_drained(DRAIN_TIMEOUT);
    let stats = spine.assert_exactly_once().await;
    assert_eq!(
        stats.gaps.closed, 0,
        "events arrived out of seq order (a gap opened and later closed): {stats:?}"
    );
    println!("broker unreachable, then back: {stats:?}");
    spine.finish().await;
}

fn stop_broker_for_a_while(spine: &mut Spine) {
    spine.broker.stop();
    std::thread::sleep(Duration::from_secs(3));
    spine.broker.restart();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_stopped_mid_stream_loses_nothing() {
    // rumqttd keeps sessions in memory: stopping it is also a restart without persistence.
    interrupted_run(
        "embedded broker stop",
        BrokerKind::Embedded,
        stop_broker_for_a_while,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_stopped_mid_stream_loses_nothing() {
    if shared_mosquitto().is_none() {
        return skip(
            "mosquitto stop",
            "WARDWATCH_TEST_MQTT is not set (mosquitto tests off)",
        );
    }
    interrupted_run(
        "mosquitto stop (persistent)",
        BrokerKind::Mosquitto { persistence: true },
        stop_broker_for_a_while,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_restarted_without_persistence_loses_nothing() {
    if shared_mosquitto().is_none() {
        return skip(
            "mosquitto restart",
            "WARDWATCH_TEST_MQTT is not set (mosquitto tests off)",
        );
    }
    interrupted_run(
        "mosquitto restart without persistence",
        BrokerKind::Mosquitto { persistence: false },
        |spine| {
            spine.broker.stop();
            spine.broker.restart();
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_killed_with_sigkill_resumes_from_its_spool() {
    interrupted_run("agent SIGKILL", BrokerKind::Embedded, |spine| {
        spine.agent.as_mut().expect("agent").kill9();
        std::thread::sleep(Duration::from_millis(500));
        spine.start_agent();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_killed_with_sigkill_and_restarted_loses_nothing() {
    interrupted_run("collector SIGKILL", BrokerKind::Embedded, |spine| {
        spine.collector.as_mut().expect("collector").kill9();
        std::thread::sleep(Duration::from_secs(1));
        spine.start_collector();
    })
    .await;
}

/// The `stored=N` a collector logged when it stopped.
fn stored_by(log: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("ingest stopped"))
        .filter_map(|l| l.split("stored=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter_map(|n| {
            n.trim_matches(|c: char| !c.is_ascii_digit())
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_in_a_share_group_split_the_stream_and_store_it_once() {
    let mut spine = Spine::new(BrokerKind::Embedded, fault_db().await, EVENTS, RATE).await;
    println!("shared subscription: {} database", spine.db.name);
    let group = secret_share_group();
    let mut first = spine.spawn_collector(
        &format!("wardwatch-test-a-{group}"),
        Some(&group),
        "collector-a",
    );
    let mut second = spine.spawn_collector(
        &format!("wardwatch-test-b-{group}"),
        Some(&group),
        "collector-b",
    );
    spine.start_agent();
    spine.wait_agent_drained(DRAIN_TIMEOUT);
    spine.assert_exactly_once().await;
    first.terminate();
    second.terminate();
    let (a, b) = (
        stored_by(&spine.log("collector-a")),
        stored_by(&spine.log("collector-b")),
    );
    println!("shared subscription: collector a stored {a}, collector b stored {b}");
    assert_eq!(
        a + b,
        EVENTS as u64,
        "each event stored by exactly one collector"
    );
    assert!(a > 0 && b > 0, "both collectors took part: {a} + {b}");
    spine.finish().await;
}

/// Ends a persistent session on a shared broker (a clean-session connection under its client id), so
/// that a killed collector's session does not linger there.
async fn forget_session(addr: std::net::SocketAddr, client_id: &str) {
    let mut options = rumqttc::MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
    options.set_clean_session(true);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) | Err(_) => break,
                _ => {}
            }
        }
    })
    .await;
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
}

/// Scale-out through Mosquitto on one PostgreSQL: three collectors in one secret `$share` group, one of
/// them SIGKILLed mid-stream. What the broker had handed the killed one (in flight, or queued in its
/// persistent session) is never acknowledged to the box, which sends it again after `resend_after`;
/// the survivors store it. Every event exactly once: none lost, none stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_three_share_group_collectors_killed_mid_stream_loses_nothing_and_stores_nothing_twice()
 {
    const TEST: &str = "share group, one collector SIGKILLed";
    let Some(addr) = shared_mosquitto() else {
        return skip(TEST, "WARDWATCH_TEST_MQTT is not set");
    };
    let Some(db) = Database::postgres().await else {
        return skip(TEST, "WARDWATCH_TEST_PG is not set");
    };
    const SMALL: usize = 3_000;
    let mut spine = Spine::new(BrokerKind::Shared(addr), Some(db), SMALL, 1_000.0).await;
    let group = secret_share_group();
    let ids: Vec<String> = (0..3)
        .map(|i| format!("wardwatch-test-{i}-{group}"))
        .collect();
    let mut collectors: Vec<Proc> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| spine.spawn_collector(id, Some(&group), &format!("collector-{i}")))
        .collect();
    spine.start_agent();
    spine.wait_stored(800, Duration::from_secs(60)).await;
    collectors[0].kill9();
    let killed_at = {
        let store = spine.db.open().await;
        let n = store.stats().await.expect("stats").total_events();
        store.close().await;
        n
    };
    spine.wait_agent_drained(DRAIN_TIMEOUT);
    let stats = spine.assert_exactly_once().await;
    for c in &mut collectors[1..] {
        c.terminate();
    }
    let survivors = stored_by(&spine.log("collector-1")) + stored_by(&spine.log("collector-2"));
    println!(
        "{TEST}: killed with {killed_at} of {SMALL} stored; the survivors stored {survivors}; {stats:?}"
    );
    assert!(
        killed_at < SMALL as i64,
        "the collector was killed mid-stream"
    );
    forget_session(addr, &ids[0]).await;
    spine.finish().await;
}
