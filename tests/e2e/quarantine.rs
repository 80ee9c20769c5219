//! Hostile and broken messages are quarantined with a specific reason while the collector keeps
//! ingesting: a forged event (wrong key), a replayed seq, an event on another device's topic, an
//! oversized payload, invalid JSON and an unknown schema version — sent by a crafted MQTT client
//! through the embedded broker, and a hand-written malformed payload sent with the real
//! `mosquitto_pub` through Mosquitto. Signed events with impossible times (from the future, an interval
//! ending before it starts or lasting 24 days, sealed before their chain predecessor) are quarantined
//! too, while a genuine month delivered weeks late is stored.

use std::time::Duration;
use tokio::sync::watch;
use wardwatch_collector::ingest::{IngestCounts, IngestError, IngestSettings, run_ingest};
use wardwatch_collector::store::devices::{Device, DevicePurpose};
use wardwatch_collector::store::stats::Stats;
use wardwatch_collector::store::{Store, StoreLocation};
use wardwatch_protocol::{
    DeviceId, Digest, Event, EventDraft, Health, InstitutionCode, Liveness, Payload, Person,
    Presence, PublicKey, SigningKey, Similarity, Timestamp, WardKind,
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

/// The collector's ingest on its own task, subscribed to one institution's topics.
struct Ingest {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<IngestCounts, IngestError>>,
}

impl Ingest {
    fn start(url: &str, inst: &InstitutionCode, store: &Store) -> Ingest {
        let (stop, stop_rx) = watch::channel(false);
        let mut settings = IngestSettings::new(
            url.parse().expect("url"),
            SigningKey::from_bytes(&[0xac; 32]),
        );
        settings.client_id = format!("wardwatch-test-collector-{inst}");
        settings.topic_filter = format!("wardwatch/v1/{inst}/+/#");
        let task = tokio::spawn(run_ingest(settings, store.clone(), stop_rx));
        Ingest { stop, task }
    }

    async fn stop(self) {
        self.stop.send_replace(true);
        self.task.await.expect("join").expect("ingest");
    }
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
    let broker = wardwatch_collector::broker::start_embedded(free_addr(), None).expect("broker");
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
                purpose: DevicePurpose::Production,
            })
            .await
            .expect("register");
    }

    let ingest = Ingest::start(&url, &inst, &store);
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

    ingest.stop().await;
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
            purpose: DevicePurpose::Production,
        })
        .await
        .expect("register");
    let url = format!("mqtt://{addr}");
    let ingest = Ingest::start(&url, &inst, &store);
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

    ingest.stop().await;
    clear_retained(&url, &format!("wardwatch/v1/{inst}/box-m/ack")).await;
    store.close().await;
}

/// A ward box in the time scenarios: seals the next event of its chain at the time it is told.
struct TimedBox {
    key: SigningKey,
    tag: u8,
    device: DeviceId,
    inst: InstitutionCode,
    chain: Vec<Event>,
}

impl TimedBox {
    fn new(name: &str, tag: u8, inst: &InstitutionCode) -> TimedBox {
        TimedBox {
            key: SigningKey::from_bytes(&[tag; 32]),
            tag,
            device: name.parse().expect("device id"),
            inst: inst.clone(),
            chain: Vec::new(),
        }
    }

    fn seal(&mut self, sent_at: Timestamp, payload: Payload) -> Event {
        let prev = self.chain.last().map(|e| e.hash).unwrap_or(Digest::GENESIS);
        let seq = self.chain.len() as u64 + 1;
        let mut draft = EventDraft::new(self.device.clone(), self.inst.clone(), seq, prev, payload);
        draft.sent_at = sent_at;
        let event = draft.seal(&self.key);
        self.chain.push(event.clone());
        event
    }

    fn health(&mut self, sent_at: Timestamp) -> Event {
        let n = self.chain.len() as u64;
        self.seal(sent_at, health(n))
    }

    fn presence(&mut self, sent_at: Timestamp, start: Timestamp, end: Timestamp) -> Event {
        let n = self.chain.len() as u128 + 1;
        self.seal(
            sent_at,
            Payload::Presence(Presence {
                interval_id: uuid::Uuid::from_u128((u128::from(self.tag) << 64) | n),
                camera_id: "cam-1".parse().expect("camera"),
                ward_kind: WardKind::Haemodialysis,
                person: Person::PsnNo("43060000000000000001".parse().expect("psn")),
                start,
                end,
                open: false,
                samples: 100,
                best_similarity: Similarity::try_from(0.8).expect("score"),
                median_similarity: Similarity::try_from(0.7).expect("score"),
                liveness: Liveness::try_from(0.9).expect("score"),
                embedding: None,
                track_liveness: None,
                seat: None,
            }),
        )
    }

    fn topic(event: &Event) -> String {
        event.topic().to_string()
    }

    async fn register(&self, store: &Store) {
        store
            .add_device(&Device {
                device_id: self.device.clone(),
                institution_code: self.inst.clone(),
                public_key: PublicKey::of(&self.key),
                purpose: DevicePurpose::Production,
            })
            .await
            .expect("register");
    }
}

/// The box's word is not taken for what it cannot know: a report from the future, an interval that ends
/// before it starts, an interval of 24 days, and an event sealed earlier than its stored predecessor are
/// quarantined with their reasons (not stored as presence; the ack stops below the first of them) while
/// the box's later genuine events are stored — and a genuine month delivered weeks late is stored whole.
/// Through the embedded broker and the real ingest loop, on SQLite and (when set) PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impossible_times_are_quarantined_but_a_month_delivered_weeks_late_is_stored() {
    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dbs = vec![Database::sqlite(dir.path())];
    match Database::postgres().await {
        Some(pg) => dbs.push(pg),
        None => skip(
            "impossible times on postgres",
            "WARDWATCH_TEST_PG is not set",
        ),
    }
    let broker = wardwatch_collector::broker::start_embedded(free_addr(), None).expect("broker");
    let url = format!("mqtt://{}", broker.addr);
    for db in dbs {
        let store = db.open().await;
        let inst = unique_institution();
        let now = Timestamp::now();

        // A box cut off for five weeks: a month of sessions sealed 51 to 21 days ago, sent today.
        let mut late = TimedBox::new("box-late", 0x1a, &inst);
        for day in (21..=51).rev() {
            let end = now.plus_millis(-day * DAY);
            late.presence(end.plus_millis(MIN), end.plus_millis(-4 * HOUR), end);
            late.health(end.plus_millis(2 * MIN));
        }
        // A box whose holder signs what it likes.
        let mut forger = TimedBox::new("box-forger", 0x2b, &inst);
        let genuine = forger.presence(
            now.plus_millis(-HOUR),
            now.plus_millis(-3 * HOUR),
            now.plus_millis(-2 * HOUR),
        );
        let future = forger.health(now.plus_millis(3 * HOUR));
        let reversed = forger.presence(now, now.plus_millis(-HOUR), now.plus_millis(-2 * HOUR));
        let days24 = forger.presence(now, now.plus_millis(-24 * DAY - MIN), now.plus_millis(-MIN));
        let beat = forger.health(now);
        let backdated = forger.presence(
            now.plus_millis(-2 * DAY),
            now.plus_millis(-2 * DAY - 4 * HOUR),
            now.plus_millis(-2 * DAY - MIN),
        );
        let after = forger.health(now.plus_millis(MIN));
        late.register(&store).await;
        forger.register(&store).await;

        let ingest = Ingest::start(&url, &inst, &store);
        let sender = Sender::connect(&url);
        tokio::time::sleep(Duration::from_millis(300)).await;
        for event in late.chain.iter().chain(&forger.chain) {
            sender.send(&TimedBox::topic(event), event.to_wire()).await;
        }
        let stats = wait_for(&store, "the month stored and four refused", |s| {
            s.total_events() == late.chain.len() as i64 + 3
                && s.quarantined.values().sum::<i64>() == 4
        })
        .await;
        let reasons: Vec<(&str, i64)> = stats
            .quarantined
            .iter()
            .map(|(r, n)| (r.as_str(), *n))
            .collect();
        assert_eq!(
            reasons,
            [
                ("interval_reversed", 1),
                ("interval_too_long", 1),
                ("sealed_in_future", 1),
                ("sealed_out_of_order", 1)
            ],
            "{}: {stats:?}",
            db.name
        );

        // The late month is stored whole and acknowledged; the forger's refused events are not
        // presence, and its ack stops below the first of them.
        let per_device = |sql: &'static str| {
            let pool = store.pool().clone();
            async move {
                sqlx::query_as::<_, (String, i64)>(sql)
                    .fetch_all(&pool)
                    .await
                    .expect(sql)
            }
        };
        let presence = per_device(
            "SELECT device_id, COUNT(*) FROM presence_intervals GROUP BY device_id ORDER BY device_id",
        )
        .await;
        assert_eq!(
            presence,
            [("box-forger".to_owned(), 1), ("box-late".to_owned(), 31)],
            "{}",
            db.name
        );
        let acked =
            per_device("SELECT device_id, contiguous_seq FROM device_state ORDER BY device_id")
                .await;
        assert_eq!(
            acked,
            [
                ("box-forger".to_owned(), genuine.seq as i64),
                ("box-late".to_owned(), late.chain.len() as i64)
            ],
            "{}",
            db.name
        );
        let stored: Vec<i64> = sqlx::query_scalar(
            "SELECT seq FROM events WHERE device_id = 'box-forger' ORDER BY seq",
        )
        .fetch_all(store.pool())
        .await
        .expect("seqs");
        assert_eq!(
            stored,
            [genuine.seq, beat.seq, after.seq].map(|s| s as i64),
            "{}",
            db.name
        );

        // Each quarantine row names the field and the times.
        let detail = |reason: &'static str| {
            let pool = store.pool().clone();
            async move {
                sqlx::query_scalar::<_, String>("SELECT detail FROM quarantine WHERE reason = $1")
                    .bind(reason)
                    .fetch_one(&pool)
                    .await
                    .expect("detail")
            }
        };
        let text = detail("sealed_in_future").await;
        assert!(
            text.contains(&format!("`sent_at` {}", future.sent_at)),
            "{text}"
        );
        let text = detail("interval_reversed").await;
        assert!(
            text.contains("`payload.end`") && text.contains("before `payload.start`"),
            "{text}"
        );
        let text = detail("interval_too_long").await;
        assert!(text.contains("lasts 24 d 0 h"), "{text}");
        let text = detail("sealed_out_of_order").await;
        assert!(
            text.contains(&format!(
                "of seq {} is 2 d 0 h earlier than the `sent_at` {} of the stored seq {}",
                backdated.seq, beat.sent_at, beat.seq
            )),
            "{text}"
        );
        assert_eq!(
            [future.seq, reversed.seq, days24.seq],
            [2, 3, 4],
            "the refused events sit between stored ones"
        );

        ingest.stop().await;
        store.close().await;
        db.cleanup().await;
    }
}

/// Runs `wardwatch collector ARGS` against `db` and returns its stdout; panics on failure.
fn collector_cli(db: &Database, args: &[&str]) -> String {
    let out = std::process::Command::new(bin())
        .arg("collector")
        .args(args)
        .args(db.args())
        .output()
        .expect("run wardwatch collector");
    assert!(
        out.status.success(),
        "collector {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A box's key replaced from a time and the box later revoked from a time (`devices rotate-key`,
/// `devices revoke`): its events sealed before the replacement are taken with the old key and after it
/// with the new one (the old key is refused then), and events it seals from the revocation on are
/// quarantined as `device_revoked`, whichever key signed them; its history stays verifiable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_key_and_a_revoked_box_are_judged_by_seal_time() {
    const MIN: i64 = 60_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::sqlite(dir.path());
    let broker = wardwatch_collector::broker::start_embedded(free_addr(), None).expect("broker");
    let url = format!("mqtt://{}", broker.addr);
    let inst = unique_institution();
    let now = Timestamp::now();
    let at = |minutes_ago: i64| now.plus_millis(-minutes_ago * MIN);

    let mut the_box = TimedBox::new("box-life", 0x31, &inst);
    let store = db.open().await;
    the_box.register(&store).await;
    let old_key = the_box.key.clone();
    let new_key = SigningKey::from_bytes(&[0x32; 32]);
    let rotated = collector_cli(
        &db,
        &[
            "devices",
            "rotate-key",
            "--id",
            "box-life",
            "--pubkey",
            &PublicKey::of(&new_key).to_string(),
            "--from",
            &at(90).to_string(),
        ],
    );
    println!("{rotated}");
    let revoked = collector_cli(
        &db,
        &[
            "devices",
            "revoke",
            "--id",
            "box-life",
            "--from",
            &at(30).to_string(),
            "--reason",
            "stolen from ward 3",
        ],
    );
    println!("{revoked}");

    let mut sent = vec![the_box.health(at(180)), the_box.health(at(120))];
    the_box.key = new_key.clone();
    sent.push(the_box.health(at(80)));
    // An event sealed beside the chain (not kept in it), with the given key.
    let beside = |the_box: &TimedBox, seq: u64, sealed: Timestamp, key: &SigningKey| {
        let prev = the_box.chain[seq as usize - 2].hash;
        let mut draft =
            EventDraft::new(the_box.device.clone(), inst.clone(), seq, prev, health(99));
        draft.sent_at = sealed;
        draft.seal(key)
    };
    // The old key after the replacement: refused (the genuine seq 4 follows).
    sent.push(beside(&the_box, 4, at(70), &old_key));
    sent.push(the_box.health(at(70)));
    sent.push(the_box.health(at(40)));
    // After the revocation: refused whichever key signs.
    sent.push(beside(&the_box, 6, at(10), &old_key));
    sent.push(the_box.health(at(10)));

    let ingest = Ingest::start(&url, &inst, &store);
    let sender = Sender::connect(&url);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for event in &sent {
        sender.send(&TimedBox::topic(event), event.to_wire()).await;
    }
    let stats = wait_for(&store, "5 stored, 3 quarantined", |s| {
        s.total_events() == 5 && s.quarantined.values().sum::<i64>() == 3
    })
    .await;
    assert_eq!(
        stats.quarantined.get("bad_signature"),
        Some(&1),
        "{stats:?}"
    );
    assert_eq!(
        stats.quarantined.get("device_revoked"),
        Some(&2),
        "{stats:?}"
    );
    let (detail,): (String,) = sqlx::query_as(
        "SELECT detail FROM quarantine WHERE reason = 'device_revoked' ORDER BY detail LIMIT 1",
    )
    .fetch_one(store.pool())
    .await
    .expect("revoked row");
    assert!(detail.contains("stolen from ward 3"), "{detail}");
    // The history stays verifiable: each stored event against the key in force at its seal time.
    let trust = store.device_trust().await.expect("trust");
    let trust = &trust[&the_box.device];
    let current = PublicKey::of(&new_key);
    for event in &the_box.chain[..5] {
        let key = trust
            .key_for(&current, event.sent_at.millis())
            .expect("a key for a stored event");
        assert!(event.signed_by(key), "seq {} does not verify", event.seq);
    }
    println!("rotation and revocation: {stats:?}; refused: {detail}");
    ingest.stop().await;
    store.close().await;
}

/// Recordings are for tests: the real agent replaying recorded sightings (test mode, which marks every
/// event) on a box registered for production has every event refused as `test_source`, nothing stored
/// as presence and nothing acknowledged; once the bureau registers the box for tests
/// (`devices set-purpose`), the agent's resends of the very same events are stored, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_on_a_box_registered_for_production_is_refused_with_its_reason() {
    const EVENTS: usize = 12;
    let mut spine = Spine::new(BrokerKind::Embedded, None, EVENTS, 1.0e6).await;
    let store = spine.db.open().await;
    assert!(
        store
            .set_device_purpose(&spine.device, DevicePurpose::Production)
            .await
            .expect("purpose")
    );
    spine.start_collector();
    spine.start_agent();
    let stats = wait_for(&store, "every replayed event refused", |s| {
        s.quarantined.get("test_source").copied().unwrap_or(0) >= EVENTS as i64
    })
    .await;
    assert_eq!(stats.total_events(), 0, "{stats:?}");
    assert_eq!(stats.presence_intervals, 0, "{stats:?}");
    assert_eq!(stats.quarantined.len(), 1, "only test_source: {stats:?}");

    let out = std::process::Command::new(bin())
        .args(["collector", "devices", "set-purpose", "--id"])
        .arg(spine.device.as_str())
        .args(["--purpose", "tests"])
        .args(spine.db.args())
        .output()
        .expect("devices set-purpose");
    assert!(out.status.success(), "set-purpose: {out:?}");
    spine
        .wait_stored(EVENTS as i64, Duration::from_secs(40))
        .await;
    spine.wait_agent_drained(Duration::from_secs(30));
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.total_events(), EVENTS as i64, "{stats:?}");
    assert_eq!(stats.presence_intervals, EVENTS as i64, "{stats:?}");
    let chain = store
        .device_chain(spine.device.as_str())
        .await
        .expect("chain");
    assert_eq!(chain.len(), EVENTS, "every seq once");
    store.close().await;
    spine.finish().await;
}
