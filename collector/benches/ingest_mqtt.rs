//! Bench: ingest at province scale through a real Mosquitto, on SQLite and PostgreSQL.
//!
//! A fleet of ward boxes (default 2,000 device identities in 20 institutions), each registered with its
//! own Ed25519 key, seals a chain of presence events (real hashes, signatures and `prev_hash` links).
//! One MQTT connection per box publishes them at QoS 1 to a Mosquitto 2 started by the bench on a free
//! loopback port, persistence on, with the queue, in-flight and size lines read from the shipped
//! `deploy/mosquitto/wardwatch.conf` (printed at the start). `WARDWATCH_BENCH_BROKER_LOG=FILE` keeps
//! Mosquitto's log (drops, keep-alive timeouts, connections) in FILE.
//!
//! 1. **Raw** (the peer): a subscriber that discards what it gets; the same payloads, the same
//!    publishers, the same broker. Rate = messages / (first publish → last delivery).
//! 2. **Collector** on SQLite, then on PostgreSQL: the collector's real ingest loop
//!    ([`wardwatch_collector::ingest::run_ingest`]: verification, signature, chain, idempotence, one
//!    transaction per batch, acks) on a fresh database. Rate = events / (first publish → the last event
//!    committed, read from the database). Printed: events/s and the ratio to the raw rate measured
//!    just before it in the same run; then the database is checked: every event once, no gap, nothing
//!    quarantined.
//! 3. **Scale-out** (PostgreSQL): 1, 2 and 3 collectors (each its own ingest loop, connection pool and
//!    MQTT session, in this process) in one secret `$share` group.
//! 4. **Backlog burst** (both databases): 500 boxes reconnect at once, each with a day's spool (health
//!    every 5 min and a presence interval every 15 min from 07:00 to 19:00: 336 events), and send it
//!    as the agent does: at most `window` (100) events beyond the collector's signed ack, everything
//!    unacknowledged again after `resend_after` (30 s) without progress, then after ever longer waits
//!    (the agent's [`ResendClock`]). Time until every box holds an ack for its last event; then the
//!    database is counted: nothing lost, nothing twice.
//!
//! `cargo bench --workspace --profile dev --bench ingest_mqtt [-- DEVICES EVENTS_PER_DEVICE]`
//! (default 2000 25). PostgreSQL: `WARDWATCH_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`),
//! whose user may create databases; set `WARDWATCH_BENCH_SKIP_PG=1` to run SQLite only, and
//! `WARDWATCH_BENCH_PHASES` to a comma-separated subset of `steady,scale,burst` to run only those.
//! Needs the `mosquitto` binary (Debian's `mosquitto`).

mod support;

use rumqttc::{AsyncClient, Event as MqttEvent, MqttOptions, Packet, QoS};
use sha2::Digest as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wardwatch_collector::ingest::share_group::ShareGroup;
use wardwatch_collector::ingest::{IngestSettings, run_ingest};
use wardwatch_collector::store::devices::{Device, DevicePurpose};
use wardwatch_collector::store::{Store, StoreLocation};
use wardwatch_link::BrokerUrl;
use wardwatch_link::resend::ResendClock;
use wardwatch_protocol::{
    Ack, CameraHealth, CameraState, DeviceId, Digest, EventDraft, Health, InstitutionCode,
    Liveness, Payload, Person, PinnedKeys, Presence, PublicKey, SigningKey, Similarity, SourceKind,
    Timestamp, WardKind,
};

/// Boxes per institution.
const BOXES_PER_INSTITUTION: usize = 100;
/// Boxes in the backlog burst.
const BURST_BOXES: usize = 500;
/// The agent's defaults (agent/src/publish/config.rs) and its longest wait between re-sends
/// (`RESEND_MAX_FACTOR` × `resend_after`, agent/src/publish/mod.rs).
const AGENT_WINDOW: u64 = 100;
const AGENT_RESEND_AFTER: Duration = Duration::from_secs(30);
const AGENT_RESEND_MAX: Duration = Duration::from_secs(300);
/// The longest any phase may take.
const PHASE_TIMEOUT: Duration = Duration::from_secs(900);

/// One ward box: identity, institution, key.
struct WardBox {
    device: DeviceId,
    institution: InstitutionCode,
    key: SigningKey,
}

/// One sealed event as it goes on the wire.
#[derive(Clone)]
struct Message {
    topic: String,
    payload: Vec<u8>,
}

fn fleet(boxes: usize, tag: &str) -> anyhow::Result<Vec<WardBox>> {
    let salt = std::process::id() as u64 % 1_000;
    (0..boxes)
        .map(|i| {
            let seed = sha2::Sha256::digest(format!("{tag}-{i}").as_bytes());
            let inst = format!("H{:03}{:08}", salt, i / BOXES_PER_INSTITUTION);
            Ok(WardBox {
                device: format!("{tag}-box-{i:05}").parse()?,
                institution: inst.parse()?,
                key: SigningKey::from_bytes(&seed.into()),
            })
        })
        .collect()
}

fn presence(at_ms: i64, n: u64) -> anyhow::Result<Payload> {
    let ts = |ms| Timestamp::from_millis(ms).ok_or_else(|| anyhow::anyhow!("time {ms}"));
    Ok(Payload::Presence(Presence {
        interval_id: uuid::Uuid::now_v7(),
        camera_id: format!("cam-{}", n % 4).parse()?,
        ward_kind: WardKind::Haemodialysis,
        person: Person::PsnNo(format!("4306{:014}", n % 400).parse()?),
        start: ts(at_ms - 4 * 3_600_000)?,
        end: ts(at_ms - 1_000)?,
        open: false,
        samples: 1_440,
        best_similarity: Similarity::try_from(0.81)?,
        median_similarity: Similarity::try_from(0.72)?,
        liveness: Liveness::try_from(0.97)?,
        embedding: None,
        track_liveness: None,
        seat: None,
    }))
}

fn heartbeat(uptime_secs: u64) -> anyhow::Result<Payload> {
    Ok(Payload::Health(Health {
        agent_version: "wardwatch-agent (bench)".into(),
        spool_depth: 0,
        uptime_secs,
        gallery_version: Some(1),
        cameras: vec![CameraHealth {
            camera_id: "cam-0".parse()?,
            state: Some(CameraState::Ok),
            fps: 5.0,
            inference_ms: 110.0,
            tracks: 0,
            source: Some(SourceKind::Rtsp),
        }],
    }))
}

/// What a box seals: `Steady` presence events a second apart ending now; `Day` a day's spool (a
/// heartbeat every 5 min, a presence interval every 15 min in ward hours).
#[derive(Clone, Copy)]
enum Stream {
    Steady(usize),
    Day,
}

fn seal_stream(b: &WardBox, stream: Stream) -> anyhow::Result<Vec<Message>> {
    let now = Timestamp::now().millis() - 5_000;
    let payloads: Vec<(i64, Payload)> = match stream {
        Stream::Steady(n) => (0..n)
            .map(|i| {
                let at = now - (n - i) as i64 * 1_000;
                Ok((at, presence(at, i as u64)?))
            })
            .collect::<anyhow::Result<_>>()?,
        Stream::Day => {
            let start = now - 86_400_000;
            let mut out = Vec::new();
            for minute in (0..1440).step_by(5) {
                let at = start + minute as i64 * 60_000;
                out.push((at, heartbeat(minute as u64 * 60)?));
                if (7 * 60..19 * 60).contains(&minute) && minute % 15 == 0 {
                    out.push((at + 1_000, presence(at + 1_000, minute as u64)?));
                }
            }
            out
        }
    };
    let mut prev = Digest::GENESIS;
    let mut messages = Vec::with_capacity(payloads.len());
    for (i, (at, payload)) in payloads.into_iter().enumerate() {
        let mut draft = EventDraft::new(
            b.device.clone(),
            b.institution.clone(),
            i as u64 + 1,
            prev,
            payload,
        );
        draft.sent_at = Timestamp::from_millis(at).ok_or_else(|| anyhow::anyhow!("time {at}"))?;
        let event = draft.seal(&b.key);
        prev = event.hash;
        messages.push(Message {
            topic: event.topic().to_string(),
            payload: event.to_wire(),
        });
    }
    Ok(messages)
}

/// The queue, in-flight, size and autosave lines of the shipped `deploy/mosquitto/wardwatch.conf`, so
/// that the bench measures the broker settings a deployment gets.
fn shipped_queue_settings() -> String {
    const SHIPPED: &str = include_str!("../../deploy/mosquitto/wardwatch.conf");
    const KEYS: [&str; 6] = [
        "max_queued_messages",
        "max_queued_bytes",
        "max_inflight_messages",
        "max_inflight_bytes",
        "message_size_limit",
        "autosave_interval",
    ];
    SHIPPED
        .lines()
        .filter(|l| KEYS.contains(&l.split_whitespace().next().unwrap_or("")))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A Mosquitto of the bench's own, with the shipped queue settings; killed when dropped.
struct Mosquitto {
    child: Child,
    addr: SocketAddr,
}

impl Mosquitto {
    fn start(dir: &Path) -> anyhow::Result<Mosquitto> {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let data = dir.join("mosquitto-data");
        std::fs::create_dir_all(&data)?;
        let conf = dir.join("mosquitto.conf");
        let mut text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n\
             persistence true\npersistence_location {data}/\n{shipped}",
            port = addr.port(),
            data = data.display(),
            shipped = shipped_queue_settings(),
        );
        if let Some(log) = std::env::var_os("WARDWATCH_BENCH_BROKER_LOG") {
            text.push_str(&format!(
                "log_dest file {}\nlog_type error\nlog_type warning\nlog_type notice\n\
                 log_type information\nlog_timestamp_format %H:%M:%S\n",
                Path::new(&log).display()
            ));
        }
        std::fs::write(&conf, text)?;
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("RUST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("cannot start mosquitto (apt-get install mosquitto): {e}")
            })?;
        let started = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(10),
                "mosquitto did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Mosquitto { child, addr })
    }

    fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connected MQTT client whose event loop runs in a task; PUBACKs and publishes are counted.
struct Conn {
    client: AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

async fn connect(
    addr: SocketAddr,
    id: &str,
    on_publish: Option<tokio::sync::mpsc::UnboundedSender<rumqttc::Publish>>,
    received: Arc<AtomicU64>,
    connected: Arc<AtomicUsize>,
) -> Conn {
    let mut options = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    options.set_clean_session(true);
    options.set_keep_alive(Duration::from_secs(60));
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    let task = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                    connected.fetch_add(1, Ordering::Relaxed);
                }
                Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                    received.fetch_add(1, Ordering::Relaxed);
                    if let Some(tx) = &on_publish {
                        let _ = tx.send(p);
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    Conn { client, task }
}

async fn wait_for(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while !done() {
        anyhow::ensure!(
            started.elapsed() < timeout,
            "{what}: timed out after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// One connection per box, connected before the clock starts.
async fn connect_boxes(
    addr: SocketAddr,
    boxes: &[WardBox],
    tag: &str,
) -> anyhow::Result<Vec<Conn>> {
    let connected = Arc::new(AtomicUsize::new(0));
    let mut conns = Vec::with_capacity(boxes.len());
    for i in 0..boxes.len() {
        conns.push(
            connect(
                addr,
                &format!("bench-pub-{tag}-{i}"),
                None,
                Arc::new(AtomicU64::new(0)),
                connected.clone(),
            )
            .await,
        );
    }
    wait_for("publishers connect", Duration::from_secs(60), || {
        connected.load(Ordering::Relaxed) == boxes.len()
    })
    .await?;
    Ok(conns)
}

/// Every box publishes its whole stream at once (QoS 1); returns when all are queued.
async fn publish_all(conns: &[Conn], streams: &Arc<Vec<Vec<Message>>>) {
    let mut tasks = Vec::new();
    for (i, conn) in conns.iter().enumerate() {
        let client = conn.client.clone();
        let streams = streams.clone();
        tasks.push(tokio::spawn(async move {
            for m in &streams[i] {
                let _ = client
                    .publish(m.topic.as_str(), QoS::AtLeastOnce, false, m.payload.clone())
                    .await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

fn close(conns: Vec<Conn>) {
    for c in conns {
        let _ = c.client.try_disconnect();
        c.task.abort();
    }
}

/// The raw rate: a discarding subscriber, the same publishers and payloads.
async fn raw_rate(
    broker: &Mosquitto,
    boxes: &[WardBox],
    streams: &Arc<Vec<Vec<Message>>>,
    tag: &str,
) -> anyhow::Result<f64> {
    let total: usize = streams.iter().map(Vec::len).sum();
    let received = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicUsize::new(0));
    let sub = connect(
        broker.addr,
        &format!("bench-raw-{tag}"),
        None,
        received.clone(),
        connected.clone(),
    )
    .await;
    sub.client
        .subscribe("wardwatch/v1/+/+/presence", QoS::AtLeastOnce)
        .await?;
    sub.client
        .subscribe("wardwatch/v1/+/+/health", QoS::AtLeastOnce)
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let conns = connect_boxes(broker.addr, boxes, &format!("raw-{tag}")).await?;
    let started = Instant::now();
    publish_all(&conns, streams).await;
    wait_for("raw delivery", PHASE_TIMEOUT, || {
        received.load(Ordering::Relaxed) >= total as u64
    })
    .await?;
    let secs = started.elapsed().as_secs_f64();
    close(conns);
    close(vec![sub]);
    Ok(total as f64 / secs)
}

/// A fresh store: SQLite in `dir`, or a new PostgreSQL database (dropped by [`drop_pg`]).
/// A fresh store and where it is (the PostgreSQL database's name, for [`drop_pg`]).
struct Fresh {
    store: Store,
    location: StoreLocation,
    pg_name: Option<String>,
}

async fn fresh_store(backend: &str, dir: &Path, tag: &str) -> anyhow::Result<Fresh> {
    if backend == "sqlite" {
        let location = StoreLocation::DataDir(dir.join(format!("sqlite-{tag}")));
        return Ok(Fresh {
            store: Store::open(&location).await?,
            location,
            pg_name: None,
        });
    }
    use sqlx::Connection;
    let base = pg_base();
    let mut admin = sqlx::PgConnection::connect(&base).await?;
    let name = format!("wardwatch_bench_ingest_{}_{tag}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let (prefix, _) = base
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("WARDWATCH_TEST_PG needs a database name"))?;
    let location = StoreLocation::Url(format!("{prefix}/{name}"));
    Ok(Fresh {
        store: Store::open(&location).await?,
        location,
        pg_name: Some(name),
    })
}

fn pg_base() -> String {
    std::env::var("WARDWATCH_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn drop_pg(name: Option<String>) {
    if let Some(name) = name {
        use sqlx::Connection;
        if let Ok(mut admin) = sqlx::PgConnection::connect(&pg_base()).await {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await;
        }
    }
}

async fn register(store: &Store, boxes: &[WardBox]) -> anyhow::Result<()> {
    for b in boxes {
        store
            .add_device(&Device {
                device_id: b.device.clone(),
                institution_code: b.institution.clone(),
                public_key: PublicKey::of(&b.key),
                purpose: DevicePurpose::Production,
            })
            .await?;
    }
    Ok(())
}

async fn stored_events(store: &Store) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(store.pool())
        .await?)
}

/// Checks the database holds every event exactly once: `expected` rows, as many distinct
/// `(device, seq)`, each device's seqs 1..=n with no open gap, nothing quarantined.
async fn check_exactly_once(store: &Store, expected: usize) -> anyhow::Result<String> {
    let rows: i64 = stored_events(store).await?;
    let distinct: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT DISTINCT device_id, seq FROM events) AS d",
    )
    .fetch_one(store.pool())
    .await?;
    let holes: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT device_id FROM events GROUP BY device_id \
         HAVING MAX(seq) <> COUNT(*) OR MIN(seq) <> 1) AS h",
    )
    .fetch_one(store.pool())
    .await?;
    let stats = store.stats().await?;
    let quarantined: i64 = stats.quarantined.values().sum();
    anyhow::ensure!(
        rows == expected as i64
            && distinct == rows
            && holes == 0
            && quarantined == 0
            && stats.gaps.open == 0,
        "NOT exactly once: {rows} rows, {distinct} distinct (device, seq), expected {expected}; \
         {holes} devices with holes; quarantined {:?}; gaps {:?}",
        stats.quarantined,
        stats.gaps
    );
    Ok(format!(
        "exactly once: {rows} events, {distinct} distinct (device, seq), 0 lost, 0 twice, 0 quarantined, \
         {} exact resends dropped",
        stats.duplicates
    ))
}

/// Running collectors (ingest loops) and how to stop them.
struct Collectors {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    addr: SocketAddr,
    client_ids: Vec<String>,
}

/// Ends a persistent session on the broker (a clean-session connection under its client id), so
/// that a stopped collector's session does not queue the later phases' messages.
async fn forget_session(addr: SocketAddr, id: &str) {
    let connected = Arc::new(AtomicUsize::new(0));
    let conn = connect(
        addr,
        id,
        None,
        Arc::new(AtomicU64::new(0)),
        connected.clone(),
    )
    .await;
    let _ = wait_for("forget session", Duration::from_secs(10), || {
        connected.load(Ordering::Relaxed) > 0
    })
    .await;
    close(vec![conn]);
}

async fn start_collectors(
    broker: &Mosquitto,
    stores: &[Store],
    ack_key: &SigningKey,
    tag: &str,
) -> anyhow::Result<Collectors> {
    let (stop, rx) = watch::channel(false);
    let group: Option<ShareGroup> = if stores.len() > 1 {
        let secret =
            Digest::of(format!("bench-{tag}-{}", std::process::id()).as_bytes()).to_string();
        Some(secret[..32].parse()?)
    } else {
        None
    };
    let url: BrokerUrl = broker.url().parse()?;
    let mut tasks = Vec::new();
    let mut client_ids = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        let mut settings = IngestSettings::new(url.clone(), ack_key.clone());
        settings.client_id = format!("bench-collector-{tag}-{i}");
        client_ids.push(settings.client_id.clone());
        settings.share_group = group.clone();
        let store = store.clone();
        let rx = rx.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = run_ingest(settings, store, rx).await {
                eprintln!("ingest failed: {e}");
            }
        }));
    }
    // Let every loop connect and subscribe.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Ok(Collectors {
        stop,
        tasks,
        addr: broker.addr,
        client_ids,
    })
}

impl Collectors {
    async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        for id in &self.client_ids {
            forget_session(self.addr, id).await;
        }
    }
}

/// Publishes every stream to `collectors` and waits until all events are committed.
async fn collector_rate(
    broker: &Mosquitto,
    store: &Store,
    boxes: &[WardBox],
    streams: &Arc<Vec<Vec<Message>>>,
    tag: &str,
) -> anyhow::Result<f64> {
    let total: usize = streams.iter().map(Vec::len).sum();
    let conns = connect_boxes(broker.addr, boxes, tag).await?;
    let started = Instant::now();
    publish_all(&conns, streams).await;
    let mut last_progress = (0, Instant::now());
    loop {
        let n = stored_events(store).await?;
        if n >= total as i64 {
            break;
        }
        if n > last_progress.0 {
            last_progress = (n, Instant::now());
        }
        anyhow::ensure!(
            last_progress.1.elapsed() < Duration::from_secs(60),
            "{tag}: stuck at {n} of {total} events"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    close(conns);
    Ok(total as f64 / secs)
}

/// The backlog burst: `boxes` reconnect at once, each sending its day's spool as the agent does.
async fn burst(
    broker: &Mosquitto,
    store: &Store,
    boxes: &[WardBox],
    streams: &Arc<Vec<Vec<Message>>>,
    ack_key: &SigningKey,
    tag: &str,
) -> anyhow::Result<(f64, u64)> {
    let pinned = PinnedKeys::one(PublicKey::of(ack_key));
    let connected = Arc::new(AtomicUsize::new(0));
    let resends = Arc::new(AtomicU64::new(0));
    let drained = Arc::new(AtomicUsize::new(0));
    let mut conns = Vec::new();
    let mut inboxes = Vec::new();
    for (i, b) in boxes.iter().enumerate() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let conn = connect(
            broker.addr,
            &format!("bench-burst-{tag}-{i}"),
            Some(tx),
            Arc::new(AtomicU64::new(0)),
            connected.clone(),
        )
        .await;
        conn.client
            .subscribe(
                format!("wardwatch/v1/{}/{}/ack", b.institution, b.device),
                QoS::AtLeastOnce,
            )
            .await?;
        conns.push(conn);
        inboxes.push(rx);
    }
    wait_for("burst boxes connect", Duration::from_secs(60), || {
        connected.load(Ordering::Relaxed) == boxes.len()
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, mut inbox) in inboxes.into_iter().enumerate() {
        let client = conns[i].client.clone();
        let streams = streams.clone();
        let pinned = pinned.clone();
        let resends = resends.clone();
        let drained = drained.clone();
        let client_id = format!("bench-burst-{tag}-{i}");
        tasks.push(tokio::spawn(async move {
            let stream = &streams[i];
            let last = stream.len() as u64;
            let (mut acked, mut cursor) = (0u64, 0u64);
            let mut clock = ResendClock::new(
                AGENT_RESEND_AFTER,
                AGENT_RESEND_MAX,
                &client_id,
                Instant::now(),
            );
            while acked < last {
                while cursor < last && cursor < acked + AGENT_WINDOW {
                    let m = &stream[cursor as usize];
                    let _ = client
                        .publish(m.topic.as_str(), QoS::AtLeastOnce, false, m.payload.clone())
                        .await;
                    cursor += 1;
                }
                match tokio::time::timeout(Duration::from_millis(250), inbox.recv()).await {
                    Ok(Some(p)) => {
                        if let Ok(ack) = Ack::from_signed_wire(&p.payload, &pinned)
                            && ack.acked_seq > acked
                        {
                            acked = ack.acked_seq.min(last);
                            clock.progress(Instant::now());
                        }
                    }
                    Ok(None) => return,
                    Err(_) => {}
                }
                if acked < cursor && clock.due(Instant::now()) {
                    resends.fetch_add(cursor - acked, Ordering::Relaxed);
                    cursor = acked;
                }
            }
            drained.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let progress = tokio::spawn(report_progress(
        tag.to_owned(),
        store.clone(),
        streams.iter().map(Vec::len).sum(),
        boxes.len(),
        drained.clone(),
        resends.clone(),
    ));
    for t in tasks {
        let _ = tokio::time::timeout(PHASE_TIMEOUT, t).await;
    }
    progress.abort();
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        drained.load(Ordering::Relaxed) == boxes.len(),
        "{tag}: only {} of {} boxes drained",
        drained.load(Ordering::Relaxed),
        boxes.len()
    );
    close(conns);
    Ok((secs, resends.load(Ordering::Relaxed)))
}

/// Prints every 10 s how far the burst got: events stored, boxes drained, events re-sent so far.
async fn report_progress(
    tag: String,
    store: Store,
    total: usize,
    boxes: usize,
    drained: Arc<AtomicUsize>,
    resends: Arc<AtomicU64>,
) {
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let stored = stored_events(&store).await.unwrap_or(-1);
        println!(
            "  [{tag} +{:.0}s] stored {stored} of {total} events, {} of {boxes} boxes drained, {} events re-sent",
            started.elapsed().as_secs_f64(),
            drained.load(Ordering::Relaxed),
            resends.load(Ordering::Relaxed)
        );
    }
}

fn seal_all(boxes: &[WardBox], stream: Stream) -> anyhow::Result<Arc<Vec<Vec<Message>>>> {
    Ok(Arc::new(
        boxes
            .iter()
            .map(|b| seal_stream(b, stream))
            .collect::<anyhow::Result<Vec<_>>>()?,
    ))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        wardwatch_link::process::init_tracing();
    }
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let devices = numbers.first().copied().unwrap_or(2_000);
    let per_device = numbers.get(1).copied().unwrap_or(25);
    let skip_pg = std::env::var_os("WARDWATCH_BENCH_SKIP_PG").is_some();
    let phases =
        std::env::var("WARDWATCH_BENCH_PHASES").unwrap_or_else(|_| "steady,scale,burst".into());
    let phase = |name: &str| phases.split(',').any(|p| p == name);
    let backends: Vec<&str> = if skip_pg {
        vec!["sqlite"]
    } else {
        vec!["sqlite", "postgres"]
    };
    let dir = tempfile::tempdir()?;
    let broker = Mosquitto::start(dir.path())?;
    let ack_key = SigningKey::from_bytes(&[42; 32]);

    let started = Instant::now();
    let boxes = fleet(devices, "steady")?;
    let streams = seal_all(&boxes, Stream::Steady(per_device))?;
    let total: usize = streams.iter().map(Vec::len).sum();
    let bytes: usize = streams.iter().flatten().map(|m| m.payload.len()).sum();
    println!(
        "ingest_mqtt: {devices} boxes in {} institutions, {per_device} presence events each: {total} signed \
         events ({:.0} bytes average), sealed in {:.1} s; mosquitto {} with the shipped {}",
        devices.div_ceil(BOXES_PER_INSTITUTION),
        bytes as f64 / total as f64,
        started.elapsed().as_secs_f64(),
        broker.addr,
        shipped_queue_settings().trim_end().replace('\n', ", ")
    );

    let mut summary = Vec::new();
    for backend in backends.iter().filter(|_| phase("steady")) {
        let raw = raw_rate(&broker, &boxes, &streams, backend).await?;
        let Fresh {
            store, pg_name: pg, ..
        } = fresh_store(backend, dir.path(), "steady").await?;
        register(&store, &boxes).await?;
        let collectors = start_collectors(
            &broker,
            std::slice::from_ref(&store),
            &ack_key,
            &format!("steady-{backend}"),
        )
        .await?;
        let rate = collector_rate(
            &broker,
            &store,
            &boxes,
            &streams,
            &format!("steady-{backend}"),
        )
        .await?;
        collectors.stop().await;
        let check = check_exactly_once(&store, total).await?;
        let line = format!(
            "{backend}: collector {rate:.0} events/s stored, raw broker delivery {raw:.0} msg/s, ratio {:.0}% \
             (goal >= 80% and >= 5000/s); {check}",
            100.0 * rate / raw
        );
        println!("{line}");
        summary.push(line);
        store.close().await;
        drop_pg(pg).await;
    }

    if !skip_pg && phase("scale") {
        for n in 1..=3usize {
            let raw = raw_rate(&broker, &boxes, &streams, &format!("scale{n}")).await?;
            let Fresh {
                store,
                location,
                pg_name: pg,
            } = fresh_store("postgres", dir.path(), &format!("scale{n}")).await?;
            register(&store, &boxes).await?;
            let mut stores = vec![store.clone()];
            for _ in 1..n {
                stores.push(Store::open(&location).await?);
            }
            let tag = format!("scale{n}");
            let collectors = start_collectors(&broker, &stores, &ack_key, &tag).await?;
            let rate = collector_rate(&broker, &store, &boxes, &streams, &tag).await?;
            collectors.stop().await;
            let check = check_exactly_once(&store, total).await?;
            let line = format!(
                "scale-out postgres, {n} collector(s) in one $share group: {rate:.0} events/s, raw {raw:.0} msg/s, \
                 ratio {:.0}%; {check}",
                100.0 * rate / raw
            );
            println!("{line}");
            summary.push(line);
            for s in stores {
                s.close().await;
            }
            drop_pg(pg).await;
        }
    }

    for backend in backends.iter().filter(|_| phase("burst")) {
        // Boxes of their own per backend: the acks retained for the last run's boxes would say
        // "drained" at once.
        let burst_boxes = fleet(BURST_BOXES, &format!("burst{backend}"))?;
        let day = seal_all(&burst_boxes, Stream::Day)?;
        let burst_total: usize = day.iter().map(Vec::len).sum();
        let Fresh {
            store, pg_name: pg, ..
        } = fresh_store(backend, dir.path(), "burst").await?;
        register(&store, &burst_boxes).await?;
        let tag = format!("burst-{backend}");
        let collectors =
            start_collectors(&broker, std::slice::from_ref(&store), &ack_key, &tag).await?;
        let (secs, resent) = burst(&broker, &store, &burst_boxes, &day, &ack_key, &tag).await?;
        collectors.stop().await;
        let check = check_exactly_once(&store, burst_total).await?;
        let line = format!(
            "burst {backend}: {BURST_BOXES} boxes x a day's spool ({burst_total} events) drained in {secs:.1} s \
             ({:.0} events/s), {resent} events re-sent (first after {}s without ack progress, then backing off); {check}",
            burst_total as f64 / secs,
            AGENT_RESEND_AFTER.as_secs()
        );
        println!("{line}");
        summary.push(line);
        store.close().await;
        drop_pg(pg).await;
    }
    println!(
        "--- summary (peak RSS {:.0} MiB; Mosquitto's {:.0} MiB)",
        support::peak_rss_mib(),
        support::peak_rss_mib_of(broker.child.id())
    );
    for line in summary {
        println!("{line}");
    }
    Ok(())
}
