//! Hostile and broken messages are quarantined with a specific reason while the collector keeps
//! ingesting: a forged event (wrong key), a replayed seq, an event on another device's topic, an
//! oversized payload, invalid JSON and an unknown schema version — sent by a crafted MQTT client
//! through the embedded broker, and a hand-written malformed payload sent with the real
//! `mosquitto_pub` through Mosquitto.

use std::time::Duration;
use tokio::sync::watch;
use wardwatch_collector::ingest::{IngestSettings, run_ingest};
use wardwatch_collector::store::devices::Device;
use wardwatch_collector::store::stats::Stats;
use wardwatch_collector::store::{Store, StoreLocation};
use wardwatch_protocol::{
    DeviceId, Digest, Event, EventDraft, Health, InstitutionCode, Payload, PublicKey, SigningKey,
};
use wardwatch_testkit::e2e::*;

fn health(n: u64) -> Payload {
    Payload::Health(Health {
        agent_version: "test".into(),
        spool_depth: n,
        uptime_secs: n,
        gallery_version: None,
        cameras: Vec::new(),
    })
}

fn seal(
    key: &SigningKey,
    device: &DeviceId,
    inst: &InstitutionCode,
    seq: u64,
    prev: Digest,
    n: u64,
) -> Event {
    EventDraft::new(device.clone(), inst.clone(), seq, prev, health(n)).seal(key)
}

/// A plain MQTT client for crafted messages.
struct Sender {
    client: rumqttc::AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

impl Sender {
    fn connect(url: &str) -> Sender {
        let url: wardwatch_link::BrokerUrl = url.parse().expect("url");
        let mut options = rumqttc::MqttOptions::new(
            format!("wardwatch-test-sender-{}", unique()),
            url.host,
            url.port,
        );
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 100);
        let task = tokio::spawn(async move {
            loop {
                if eventloop.poll().await.is_err() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        Sender { client, task }
    }

    async fn send(&self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
            .await
            .expect("queue publish");
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn wait_for(store: &Store, what: &str, done: impl Fn(&Stats) -> bool) -> Stats {
    let started = std::time::Instant::now();
    loop {
        let stats = store.stats().await.expect("stats");
        if done(&stats) {
            return stats;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_message_is_quarantined_with_its_reason_and_ingest_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = wardwatch_collector::broker::start_embedded(free_addr()).expect("broker");
    let url = format!("mqtt://{}", broker.addr);
    let store = Store::open(&StoreLocation::DataDir(dir.path().to_owned()))
        .await
        .expect("store");
    let inst = unique_institution();
    let device_a: DeviceId = "box-a".parse().expect("id");
    let device_b: DeviceId = "box-b".parse().expect("id");
    let key_a = SigningKey::from_bytes(&[0xa1; 32]);
    let key_b = SigningKey::from_bytes(&[0xb2; 32]);
    for (device, key) in [(&device_a, &key_a), (&device_b, &key_b)] {
        store
            .add_device(&Device {
                device_id: device.clone(),
                institution_code: inst.clone(),
                public_key: PublicKey::of(key),
            })
            .await
            .expect("register");
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut settings = IngestSettings::new(url.parse().expect("url"));
    settings.client_id = format!("wardwatch-test-collector-{inst}");
    settings.topic_filter = format!("wardwatch/v1/{inst}/+/#");
    let ingest = tokio::spawn(run_ingest(settings, store.clone(), stop_rx));
    let sender = Sender::connect(&url);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let topic_a = format!("wardwatch/v1/{inst}/box-a/health");
    let topic_b = format!("wardwatch/v1/{inst}/box-b/health");
    let first = seal(&key_a, &device_a, &inst, 1, Digest::GENESIS, 1);
    sender.send(&topic_a, first.to_wire()).await;
    wait_for(&store, "the first good event", |s| s.total_events() == 1).await;

    // 1. Forged: device A's event signed with device B's key.
    let forged = seal(&key_b, &device_a, &inst, 2, first.hash, 2);
    sender.send(&topic_a, forged.to_wire()).await;
    // 2. Replayed seq: a different, properly signed event claiming seq 1 again.
    let replayed = seal(&key_a, &device_a, &inst, 1, Digest::GENESIS, 99);
    sender.send(&topic_a, replayed.to_wire()).await;
    // 3. Device A's event published on device B's topic.
    let second = seal(&key_a, &device_a, &inst, 2, first.hash, 2);
    sender.send(&topic_b, second.to_wire()).await;
    // 4. Oversized.
    let mut big = br#"{"schema":2,"padding":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', 70_000));
    big.extend_from_slice(br#""}"#);
    sender.send(&topic_a, big).await;
    // 5. Invalid JSON.
    sender
        .send(&topic_a, b"{\"schema\":2,\"seq\":".to_vec())
        .await;
    // 6. Unknown schema version.
    let mut future: serde_json::Value = serde_json::from_slice(&second.to_wire()).expect("json");
    future["schema"] = 7.into();
    sender
        .send(&topic_a, serde_json::to_vec(&future).expect("json"))
        .await;
    // The collector is still ingesting: the genuine second event is stored.
    sender.send(&topic_a, second.to_wire()).await;

    let stats = wait_for(&store, "six quarantined and two stored", |s| {
        s.quarantined.values().sum::<i64>() == 6 && s.total_events() == 2
    })
    .await;
    let reasons: Vec<&str> = stats.quarantined.keys().map(String::as_str).collect();
    assert_eq!(
        reasons,
        [
            "bad_signature",
            "device_mismatch",
            "invalid_json",
            "oversized",
            "replayed_seq",
            "unknown_schema"
        ],
        "{stats:?}"
    );
    assert!(stats.quarantined.values().all(|&c| c == 1), "{stats:?}");
    assert_eq!(stats.events["health"], 2);

    // The quarantine keeps the bytes (bounded) and says what was wrong.
    let row: (String, i64, i64) = sqlx::query_as(
        "SELECT detail, raw_size, LENGTH(raw) FROM quarantine WHERE reason = 'oversized'",
    )
    .fetch_one(store.pool())
    .await
    .expect("oversized row");
    assert!(row.0.contains("exceeds"), "{row:?}");
    assert!(row.1 > 70_000 && row.2 == 4096, "{row:?}");

    stop_tx.send_replace(true);
    ingest.await.expect("join").expect("ingest");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_pub_with_a_malformed_payload_is_quarantined_not_a_crash() {
    let Some(addr) = shared_mosquitto() else {
        return skip("mosquitto_pub malformed", "WARDWATCH_TEST_MQTT is not set");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&StoreLocation::DataDir(dir.path().to_owned()))
        .await
        .expect("store");
    let inst = unique_institution();
    let device: DeviceId = "box-m".parse().expect("id");
    let key = SigningKey::from_bytes(&[0x5e; 32]);
    store
        .add_device(&Device {
            device_id: device.clone(),
            institution_code: inst.clone(),
            public_key: PublicKey::of(&key),
        })
        .await
        .expect("register");
    let url = format!("mqtt://{addr}");
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut settings = IngestSettings::new(url.parse().expect("url"));
    settings.client_id = format!("wardwatch-test-collector-{inst}");
    settings.topic_filter = format!("wardwatch/v1/{inst}/+/#");
    let ingest = tokio::spawn(run_ingest(settings, store.clone(), stop_rx));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let topic = format!("wardwatch/v1/{inst}/box-m/presence");
    let status = std::process::Command::new("mosquitto_pub")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(["-q", "1", "-t", &topic])
        .args(["-m", r#"{"schema": 2, "event_id": "not-a-uuid", "seq": -3"#])
        .status()
        .expect("run mosquitto_pub");
    assert!(status.success());
    let stats = wait_for(&store, "the malformed payload in quarantine", |s| {
        s.quarantined.get("invalid_json") == Some(&1)
    })
    .await;
    assert_eq!(stats.total_events(), 0);

    // Still ingesting afterwards.
    let good = seal(&key, &device, &inst, 1, Digest::GENESIS, 1);
    let sender = Sender::connect(&url);
    sender
        .send(&format!("wardwatch/v1/{inst}/box-m/health"), good.to_wire())
        .await;
    wait_for(&store, "a good event after the bad one", |s| {
        s.total_events() == 1
    })
    .await;

    stop_tx.send_replace(true);
    ingest.await.expect("join").expect("ingest");
    clear_retained(&url, &format!("wardwatch/v1/{inst}/box-m/ack")).await;
    store.close().await;
}
