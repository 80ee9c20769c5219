//! Shared harness for the end-to-end tests: real processes (the `wardwatch` binary as agent, collector
//! and embedded broker; `mosquitto` when available), real databases (SQLite always, PostgreSQL when
//! `WARDWATCH_TEST_PG` is set), and checks made by reading the collector's database.
//!
//! Environment:
//! - `WARDWATCH_TEST_PG`: a PostgreSQL URL whose user may `CREATE DATABASE` (each test gets its own
//!   database), e.g. `postgres://postgres@127.0.0.1:5432/test`.
//! - `WARDWATCH_TEST_MQTT`: `host:port` of a running Mosquitto (the shared one); its presence also
//!   enables tests that start their own `mosquitto` processes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wardwatch_collector::store::devices::{Device, DevicePurpose};
use wardwatch_collector::store::stats::Stats;
use wardwatch_collector::store::{Store, StoreLocation};
use wardwatch_protocol::{DeviceId, InstitutionCode, PublicKey, key_file};

/// The all-in-one binary under test. Its path comes from the root package's integration tests: Cargo
/// (1.94 and later, the workspace's minimum) and cargo-nextest set `CARGO_BIN_EXE_wardwatch` when they
/// run them, so this kit, a library, need not be built as part of the test.
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("CARGO_BIN_EXE_wardwatch").expect(
            "CARGO_BIN_EXE_wardwatch is unset: run the end-to-end tests through `cargo test -p wardwatch` \
             (or cargo nextest), not the test executable directly",
        )
    })
}

/// Prints why a test does nothing, in a form that is easy to grep in CI logs. Writes to the stderr
/// handle directly: libtest captures `println!`/`eprintln!` of passing tests, and a skip must be seen.
pub fn skip(test: &str, reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// A number unique within this test process run.
pub fn unique() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// An institution code no other test (or earlier run) uses, so that topic filters keep tests apart on
/// a shared broker.
pub fn unique_institution() -> InstitutionCode {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = (u128::from(std::process::id()) * 1_000_003 + nanos / 1000 + u128::from(unique()))
        % 100_000_000_000;
    format!("H{n:011}").parse().expect("H + 11 digits")
}

/// A `$share` group name for collectors: 32 hex digits nobody else can guess (the collector refuses
/// guessable ones).
pub fn secret_share_group() -> String {
    let seed = format!(
        "{}-{}-{:?}",
        std::process::id(),
        unique(),
        std::time::SystemTime::now()
    );
    wardwatch_protocol::Digest::of(seed.as_bytes()).to_string()[..32].to_owned()
}

/// A child process killed (SIGKILL) when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, command: &mut Command, log: &Path) -> Proc {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            child,
            name: name.to_owned(),
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait up to 10 s (then SIGKILL).
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
    }

    /// Waits for the process to exit; panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration, log: &Path) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if started.elapsed() > timeout {
                self.kill9();
                panic!(
                    "{} did not exit within {timeout:?}; log:\n{}",
                    self.name,
                    tail(log)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The last 60 lines of a log file.
pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// A free loopback address.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

/// Waits until something accepts TCP connections on `addr` (10 s), else panics with the log's tail.
pub fn wait_listening(addr: SocketAddr, log: &Path) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("broker did not listen on {addr}; log:\n{}", tail(log));
}

/// Which broker a scenario runs through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// `wardwatch collector broker` (rumqttd) in its own process: memory-only sessions.
    Embedded,
    /// A `mosquitto` process of the test's own, with or without on-disk persistence.
    Mosquitto { persistence: bool },
    /// The machine's running Mosquitto (`WARDWATCH_TEST_MQTT`); never stopped by tests.
    Shared(SocketAddr),
}

/// A broker the test controls (except `Shared`).
pub struct Broker {
    pub kind: BrokerKind,
    pub addr: SocketAddr,
    dir: PathBuf,
    proc: Option<Proc>,
}

impl Broker {
    pub fn start(kind: BrokerKind, dir: &Path) -> Broker {
        let addr = match kind {
            BrokerKind::Shared(addr) => addr,
            _ => free_addr(),
        };
        let mut broker = Broker {
            kind,
            addr,
            dir: dir.to_owned(),
            proc: None,
        };
        broker.restart();
        broker
    }

    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }

    fn log(&self) -> PathBuf {
        self.dir.join("broker.log")
    }

    /// (Re)starts the broker process on the same address.
    pub fn restart(&mut self) {
        let log = self.log();
        match self.kind {
            BrokerKind::Shared(_) => return,
            BrokerKind::Embedded => {
                self.proc = Some(Proc::spawn(
                    "embedded broker",
                    Command::new(bin())
                        .args(["collector", "broker", "--listen"])
                        .arg(self.addr.to_string()),
                    &log,
                ));
            }
            BrokerKind::Mosquitto { persistence } => {
                let data = self.dir.join("mosquitto-data");
                std::fs::create_dir_all(&data).expect("mosquitto dir");
                let conf = self.dir.join("mosquitto.conf");
                std::fs::write(
                    &conf,
                    format!(
                        "listener {port} 127.0.0.1\nallow_anonymous true\npersistence {persistence}\n\
                         persistence_location {data}/\nuser root\n",
                        port = self.addr.port(),
                        data = data.display(),
                    ),
                )
                .expect("mosquitto conf");
                self.proc = Some(Proc::spawn(
                    "mosquitto",
                    Command::new("mosquitto").arg("-c").arg(&conf),
                    &log,
                ));
            }
        }
        wait_listening(self.addr, &log);
    }

    /// Stops the broker: SIGTERM for Mosquitto (so a persistent one saves its state), SIGKILL for the
    /// memory-only embedded broker.
    pub fn stop(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            match self.kind {
                BrokerKind::Mosquitto { .. } => proc.terminate(),
                _ => proc.kill9(),
            }
        }
    }
}

/// Where a scenario's collector keeps its data.
pub struct Database {
    pub location: StoreLocation,
    pub name: String,
    drop_url: Option<(String, String)>,
}

impl Database {
    pub fn sqlite(dir: &Path) -> Database {
        Database {
            location: StoreLocation::DataDir(dir.join("collector")),
            name: "sqlite".into(),
            drop_url: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` when `WARDWATCH_TEST_PG` is unset.
    pub async fn postgres() -> Option<Database> {
        let base = std::env::var("WARDWATCH_TEST_PG").ok()?;
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("WARDWATCH_TEST_PG={base} is set but unusable: {e}"));
        let name = format!("wardwatch_test_{}_{}", std::process::id(), unique());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let (prefix, _) = base.rsplit_once('/').expect("URL with a database name");
        let url = format!("{prefix}/{name}");
        Some(Database {
            location: StoreLocation::Url(url),
            name: "postgres".into(),
            drop_url: Some((base, name)),
        })
    }

    /// Command-line arguments naming this location.
    pub fn args(&self) -> Vec<String> {
        match &self.location {
            StoreLocation::DataDir(dir) => vec!["--data-dir".into(), dir.display().to_string()],
            StoreLocation::Url(url) => vec!["--database-url".into(), url.clone()],
        }
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.location).await.expect("open store")
    }

    /// Drops a PostgreSQL test database.
    pub async fn cleanup(self) {
        if let Some((base, name)) = self.drop_url {
            use sqlx::Connection;
            if let Ok(mut admin) = sqlx::PgConnection::connect(&base).await {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await;
            }
        }
    }
}

/// Writes `n` sightings that the agent config of [`Spine`] turns into exactly `n` presence events:
/// every sighting is 10 s after the previous one and intervals close after 1 s of absence.
pub fn write_sightings(path: &Path, n: usize) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("sightings file"));
    for i in 0..n {
        let at = wardwatch_protocol::Timestamp::from_millis(1_793_000_000_000 + i as i64 * 10_000)
            .expect("in range");
        writeln!(
            out,
            r#"{{"at":"{at}","camera_id":"cam-{}","person":{{"psn_no":"4306{:016}"}},"similarity":0.{:02},"liveness":0.97}}"#,
            i % 3,
            i % 40,
            50 + i % 40
        )
        .expect("write sighting");
    }
    out.flush().expect("flush sightings");
}

/// One agent, one collector, one broker, one database: the spine under test, as processes.
pub struct Spine {
    pub dir: tempfile::TempDir,
    pub institution: InstitutionCode,
    pub device: DeviceId,
    pub broker: Broker,
    pub db: Database,
    pub events: usize,
    pub collector: Option<Proc>,
    pub agent: Option<Proc>,
    /// The collector's ack key file (`serve --ack-key`); the agent pins its public half.
    pub ack_key: PathBuf,
    client_id: String,
}

impl Spine {
    /// Prepares the agent (config, key, `events` sightings at `rate`/s), registers it, starts the broker.
    pub async fn new(
        broker: BrokerKind,
        database: Option<Database>,
        events: usize,
        rate: f64,
    ) -> Spine {
        let dir = tempfile::tempdir().expect("tempdir");
        let institution = unique_institution();
        let device: DeviceId = format!("box-{}", unique()).parse().expect("device id");
        let broker = Broker::start(broker, dir.path());
        let db = database.unwrap_or_else(|| Database::sqlite(dir.path()));
        let agent_dir = dir.path().join("agent");
        std::fs::create_dir_all(&agent_dir).expect("agent dir");
        write_sightings(&agent_dir.join("sightings.jsonl"), events);
        let ack_key = dir.path().join("ack.key");
        let ack_public = PublicKey::of(&key_file::create(&ack_key).expect("ack key"));
        std::fs::write(
            agent_dir.join("agent.toml"),
            format!(
                r#"device_id = "{device}"
institution_code = "{institution}"
ward_kind = "haemodialysis"
test_mode = true

[broker]
url = "{url}"
resend_after_secs = 2
ack_public_key = "{ack_public}"

[presence]
close_after_secs = 1
min_samples = 1
checkpoint_secs = 86400

[source]
kind = "replay"
path = "sightings.jsonl"
max_rate_per_sec = {rate}
"#,
                url = broker.url()
            ),
        )
        .expect("agent config");
        let key_out = Command::new(bin())
            .args(["agent", "key", "--config"])
            .arg(agent_dir.join("agent.toml"))
            .output()
            .expect("wardwatch agent key");
        assert!(key_out.status.success(), "agent key: {key_out:?}");
        let public: PublicKey = String::from_utf8_lossy(&key_out.stdout)
            .trim()
            .parse()
            .expect("agent key prints a public key");
        let store = db.open().await;
        store
            .add_device(&Device {
                device_id: device.clone(),
                institution_code: institution.clone(),
                public_key: public,
                purpose: DevicePurpose::Tests,
            })
            .await
            .expect("register device");
        store.close().await;
        Spine {
            client_id: format!("wardwatch-test-collector-{institution}"),
            dir,
            institution,
            device,
            broker,
            db,
            events,
            collector: None,
            agent: None,
            ack_key,
        }
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    pub fn start_collector(&mut self) {
        let client_id = self.client_id.clone();
        self.collector = Some(self.spawn_collector(&client_id, None, "collector"));
    }

    /// A collector process with its own client id, optionally in a `$share` group; logs to `{log}.log`.
    pub fn spawn_collector(&self, client_id: &str, share_group: Option<&str>, log: &str) -> Proc {
        let mut command = Command::new(bin());
        command
            .args(["collector", "serve", "--broker-url", &self.broker.url()])
            .args(["--client-id", client_id])
            .arg("--ack-key")
            .arg(&self.ack_key)
            .args([
                "--topic-filter",
                &format!("wardwatch/v1/{}/+/#", self.institution),
            ])
            .args(self.db.args());
        if let Some(group) = share_group {
            command.args(["--share-group", group]);
        }
        Proc::spawn("collector", &mut command, &self.log(log))
    }

    pub fn start_agent(&mut self) {
        let mut command = Command::new(bin());
        command
            .args(["agent", "run", "--exit-when-drained", "--config"])
            .arg(self.dir.path().join("agent/agent.toml"));
        self.agent = Some(Proc::spawn("agent", &mut command, &self.log("agent")));
    }

    /// Waits until the collector holds at least `count` events.
    pub async fn wait_stored(&self, count: i64, timeout: Duration) {
        let store = self.db.open().await;
        let started = Instant::now();
        loop {
            let stored = store.stats().await.expect("stats").total_events();
            if stored >= count {
                break;
            }
            assert!(
                started.elapsed() < timeout,
                "only {stored} of {count} events stored after {timeout:?}; agent log:\n{}\ncollector log:\n{}",
                tail(&self.log("agent")),
                tail(&self.log("collector"))
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        store.close().await;
    }

    /// Waits for the agent to exit on its own (it does once everything is acknowledged).
    pub fn wait_agent_drained(&mut self, timeout: Duration) {
        let log = self.log("agent");
        let collector_log = self.log("collector");
        let agent = self.agent.as_mut().expect("agent running");
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = agent.child.try_wait() {
                assert!(
                    status.success(),
                    "agent failed: {status}; log:\n{}",
                    tail(&log)
                );
                return;
            }
            if started.elapsed() > timeout {
                agent.kill9();
                panic!(
                    "agent did not drain within {timeout:?}; agent log:\n{}\ncollector log:\n{}",
                    tail(&log),
                    tail(&collector_log)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asserts the collector holds exactly events 1..=n of the device, each once, chained in seq
    /// order, with no gap left open and nothing quarantined. Returns the stats.
    pub async fn assert_exactly_once(&self) -> Stats {
        assert_exactly_once(&self.db, &self.device, self.events).await
    }

    /// Stops the processes, clears the retained ack on a shared broker, drops a PG database.
    pub async fn finish(mut self) {
        if let Some(mut c) = self.collector.take() {
            c.terminate();
        }
        if let BrokerKind::Shared(_) = self.broker.kind {
            clear_retained(
                &self.broker.url(),
                &format!("wardwatch/v1/{}/{}/ack", self.institution, self.device),
            )
            .await;
        }
        self.broker.stop();
        let db = std::mem::replace(&mut self.db, Database::sqlite(self.dir.path()));
        db.cleanup().await;
    }
}

/// Asserts the collector in `db` holds exactly events 1..=`events` of `device`, each once, chained in
/// seq order, with no gap left open and nothing quarantined. Returns the stats.
pub async fn assert_exactly_once(db: &Database, device: &DeviceId, events: usize) -> Stats {
    let store = db.open().await;
    let stats = store.stats().await.expect("stats");
    let chain = store.device_chain(device.as_str()).await.expect("chain");
    store.close().await;
    let n = events as i64;
    assert_eq!(stats.total_events(), n, "stored events: {stats:?}");
    assert_eq!(stats.presence_intervals, n, "{stats:?}");
    let seqs: Vec<i64> = chain.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(
        seqs,
        (1..=n).collect::<Vec<_>>(),
        "seqs must be exactly 1..={n}"
    );
    assert_eq!(
        chain[0].2,
        "0".repeat(64),
        "the first event links to the genesis hash"
    );
    for pair in chain.windows(2) {
        assert_eq!(
            pair[1].2, pair[0].1,
            "seq {} does not link to {}",
            pair[1].0, pair[0].0
        );
    }
    assert_eq!(stats.gaps.open, 0, "gaps left open: {stats:?}");
    assert!(stats.quarantined.is_empty(), "quarantined: {stats:?}");
    stats
}

/// Publishes an empty retained message, which deletes the retained one (keeps a shared broker clean).
pub async fn clear_retained(url: &str, topic: &str) {
    publish_retained(url, topic, Vec::new()).await;
}

/// Publishes `payload` retained at QoS 1 on a plain `mqtt://` broker and waits (3 s at most) for the
/// broker's PUBACK.
pub async fn publish_retained(url: &str, topic: &str, payload: Vec<u8>) {
    let url: wardwatch_link::BrokerUrl = url.parse().expect("url");
    let mut options = rumqttc::MqttOptions::new(
        format!("wardwatch-test-publisher-{}", unique()),
        url.host,
        url.port,
    );
    options.set_clean_session(true);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    let _ = client
        .publish(topic, rumqttc::QoS::AtLeastOnce, true, payload)
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) | Err(_) => break,
                _ => {}
            }
        }
    })
    .await;
}

/// `WARDWATCH_TEST_MQTT` as an address, when set.
pub fn shared_mosquitto() -> Option<SocketAddr> {
    let value = std::env::var("WARDWATCH_TEST_MQTT").ok()?;
    Some(
        value
            .trim_start_matches("mqtt://")
            .parse()
            .unwrap_or_else(|e| panic!("WARDWATCH_TEST_MQTT={value} is not host:port: {e}")),
    )
}
