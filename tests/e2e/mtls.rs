//! Mutual TLS end to end. The bureau CA and every certificate come from the real
//! `wardwatch collector ca …` commands; Mosquitto runs with `deploy/mosquitto/wardwatch-tls.conf` and
//! `wardwatch.acl` as shipped (only paths and the port are templated). Proven against that broker:
//! a device publishes under its own topic and a collector identity receives it; a client without a
//! certificate, with one from another CA, or with the broker's own server certificate is refused at
//! connect; a device's publish under another device's topic (or onto its own ack) is dropped while its
//! control message arrives; a device reads its own ack and nothing else, and so does a collector
//! certificate the ACL does not name; a device's subscriptions to `$share/…` groups, `wardwatch/v1/#`
//! and another box's ack are refused by the guard plugin (`mosquitto-guard/`), so the collectors keep
//! every event (without the plugin, the device took its share of them);
//! a device certificate revoked with `ca revoke` and listed in the CRL (`ca crl`, the shipped
//! `crlfile`) is refused at connect while the other device still connects; and the real agent and
//! collector binaries carry a replayed stream exactly once over mutual TLS.
//!
//! Needs `WARDWATCH_TEST_MQTT` set (the switch for tests that start their own `mosquitto`) and a
//! `mosquitto` binary; otherwise each broker test prints `SKIPPED …` and passes.

use rumqttc::{AsyncClient, Event, Packet, QoS, SubscribeReasonCode};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use wardwatch_link::{BrokerUrl, TlsFiles};
use wardwatch_protocol::{InstitutionCode, Topic};
use wardwatch_testkit::e2e::*;

/// The collector name `deploy/mosquitto/wardwatch.acl` grants.
const COLLECTOR: &str = "wardwatch-collector-1";
/// A collector certificate the shipped ACL does not name.
const UNLISTED_COLLECTOR: &str = "wardwatch-collector-2";
const WAIT: Duration = Duration::from_secs(10);
/// How long a message that should not arrive is given to arrive anyway.
const QUIET: Duration = Duration::from_secs(2);

fn mosquitto_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("mosquitto"))
        .find(|p| p.is_file())
}

/// The mosquitto binary when the broker tests are on; else prints why the test is skipped.
fn prerequisites(test: &str) -> Option<PathBuf> {
    if shared_mosquitto().is_none() {
        skip(test, "WARDWATCH_TEST_MQTT is not set (mosquitto tests off)");
        return None;
    }
    let found = mosquitto_binary();
    if found.is_none() {
        skip(test, "no mosquitto binary on PATH or in /usr/sbin");
    }
    found
}

/// Runs `wardwatch collector ca ARGS`; returns (success, stdout + stderr).
fn ca_command(args: &[&str]) -> (bool, String) {
    let out = Command::new(bin())
        .args(["collector", "ca"])
        .args(args)
        .output()
        .expect("run wardwatch collector ca");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn ca(args: &[&str]) -> String {
    let (ok, text) = ca_command(args);
    assert!(ok, "wardwatch collector ca {args:?} failed:\n{text}");
    text
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// Everything the bureau CA issued for one test, plus a rogue CA's certificate for `box-a`.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn make(dir: &Path, institution: &InstitutionCode) -> Pki {
        let at = |name: &str| dir.join(name);
        let ca_dir = at("ca");
        ca(&[
            "init",
            "--dir",
            path(&ca_dir),
            "--name",
            "WardWatch test CA",
        ]);
        // The broker's files go where the templated wardwatch-tls.conf looks for them.
        ca(&[
            "issue-server",
            "--dir",
            path(&ca_dir),
            "--ip",
            "127.0.0.1",
            "--dns",
            "localhost",
            "--out",
            path(&at("etc")),
        ]);
        for name in [COLLECTOR, UNLISTED_COLLECTOR] {
            ca(&[
                "issue-client",
                "--dir",
                path(&ca_dir),
                "--name",
                name,
                "--out",
                path(&at("collector")),
            ]);
        }
        for device in ["box-a", "box-b"] {
            ca(&[
                "issue-device",
                "--dir",
                path(&ca_dir),
                "--device-id",
                device,
                "--institution",
                institution.as_str(),
                "--out",
                path(&at(device)),
            ]);
        }
        // The broker's CRL, empty at first, where the templated config looks for it.
        ca(&[
            "crl",
            "--dir",
            path(&ca_dir),
            "--out",
            path(&at("etc/crl.pem")),
        ]);
        let rogue = at("rogue-ca");
        ca(&["init", "--dir", path(&rogue), "--name", "Not the bureau"]);
        ca(&[
            "issue-device",
            "--dir",
            path(&rogue),
            "--device-id",
            "box-a",
            "--institution",
            institution.as_str(),
            "--out",
            path(&at("rogue")),
        ]);
        Pki {
            dir: dir.to_owned(),
        }
    }

    /// `{holder}/ca.pem`, `{holder}/{cn}.pem`, `{holder}/{cn}.key`.
    fn files(&self, holder: &str, cn: &str) -> TlsFiles {
        let d = self.dir.join(holder);
        TlsFiles {
            ca_file: Some(d.join("ca.pem")),
            cert_file: Some(d.join(format!("{cn}.pem"))),
            key_file: Some(d.join(format!("{cn}.key"))),
        }
    }

    /// The bureau CA only: a client that presents no certificate.
    fn no_certificate(&self) -> TlsFiles {
        TlsFiles {
            ca_file: Some(self.dir.join("ca/ca.pem")),
            ..TlsFiles::default()
        }
    }
}

/// Replaces `from` in `text`, which must occur exactly `count` times (so a changed deploy file breaks
/// the test rather than silently testing something else).
fn replace_exactly(text: &str, from: &str, to: &str, count: usize) -> String {
    assert_eq!(
        text.matches(from).count(),
        count,
        "deploy/mosquitto/wardwatch-tls.conf should contain {from:?} {count} time(s)"
    );
    text.replace(from, to)
}

/// Where the shipped configuration loads the guard plugin from.
const SHIPPED_GUARD: &str = "/usr/local/lib/wardwatch/libwardwatch_mosquitto_guard.so";

/// The guard plugin this build made (`mosquitto-guard/`, a dev-dependency so that it is built before
/// these tests run).
fn guard_plugin() -> PathBuf {
    let debug = Path::new(bin()).parent().expect("target/debug");
    let name = "libwardwatch_mosquitto_guard.so";
    [debug.join("deps").join(name), debug.join(name)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not built in {}", debug.display()))
}

/// Which configuration a [`TlsBroker`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Config {
    /// The shipped files.
    Shipped,
    /// The shipped files without the guard plugin (as before it existed): the control.
    WithoutGuard,
}

/// A `mosquitto` process running the shipped mutual-TLS configuration.
struct TlsBroker {
    addr: SocketAddr,
    log: PathBuf,
    _proc: Proc,
}

impl TlsBroker {
    fn start(mosquitto: &Path, dir: &Path) -> TlsBroker {
        TlsBroker::start_with(mosquitto, dir, Config::Shipped)
    }

    fn start_with(mosquitto: &Path, dir: &Path, config: Config) -> TlsBroker {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/mosquitto");
        let name = match config {
            Config::Shipped => "shipped",
            Config::WithoutGuard => "without-guard",
        };
        let etc = dir.join("etc");
        std::fs::copy(deploy.join("wardwatch.acl"), etc.join("wardwatch.acl"))
            .expect("copy the ACL");
        let data = dir.join(format!("mosquitto-data-{name}"));
        std::fs::create_dir_all(&data).expect("mosquitto data dir");
        let addr = free_addr();
        let shipped =
            std::fs::read_to_string(deploy.join("wardwatch-tls.conf")).expect("read the config");
        let conf = replace_exactly(
            &shipped,
            "\nlistener 8883\n",
            &format!("\nlistener {} 127.0.0.1\n", addr.port()),
            1,
        );
        let conf = replace_exactly(
            &conf,
            "/etc/mosquitto/wardwatch/",
            &format!("{}/", etc.display()),
            5,
        );
        let conf = replace_exactly(
            &conf,
            "persistence_location /var/lib/mosquitto/",
            &format!("persistence_location {}/", data.display()),
            1,
        );
        let guard = format!("plugin {SHIPPED_GUARD}\n");
        let conf = match config {
            Config::Shipped => replace_exactly(
                &conf,
                &guard,
                &format!("plugin {}\n", guard_plugin().display()),
                1,
            ),
            Config::WithoutGuard => {
                let conf = replace_exactly(&conf, &guard, "", 1);
                replace_exactly(&conf, "\nplugin_opt_collectors ", "\n# ", 1)
            }
        };
        // Started as root, Mosquitto would switch to its own user, which cannot enter the test's
        // private temporary directory (see deploy/README.md for the installed layout).
        let conf = format!("{conf}\nuser root\nlog_dest stderr\nlog_type all\n");
        let conf_file = dir.join(format!("wardwatch-tls-{name}.conf"));
        std::fs::write(&conf_file, conf).expect("write the config");
        let log = dir.join(format!("mosquitto-{name}.log"));
        let proc = Proc::spawn(
            "mosquitto",
            Command::new(mosquitto).arg("-c").arg(&conf_file),
            &log,
        );
        wait_listening(addr, &log);
        TlsBroker {
            addr,
            log,
            _proc: proc,
        }
    }

    fn url(&self) -> String {
        format!("mqtts://{}", self.addr)
    }
}

/// A connected test client; every packet the broker sends arrives on `rx`.
struct Client {
    name: String,
    client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Packet>,
    /// Every message received so far: (topic, payload).
    received: Vec<(String, String)>,
}

/// Connects with `tls` (rustls on ring, through the link crate's options); `Err` with the reason when
/// the broker refuses (no answer within 10 s counts as a refusal too).
async fn connect(name: &str, broker: &TlsBroker, tls: &TlsFiles) -> Result<Client, String> {
    let url: BrokerUrl = broker.url().parse().expect("broker URL");
    let mut options = wardwatch_link::client_options(
        &format!("mtls-test-{name}-{}", unique()),
        &url,
        tls,
        Duration::from_secs(5),
    )
    .expect("client options");
    options.set_clean_session(true);
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let connected = tokio::time::timeout(WAIT, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await;
    match connected {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(format!("no CONNACK within {WAIT:?}")),
    }
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(packet)) => {
                    if tx.send(packet).is_err() {
                        return;
                    }
                }
                Ok(Event::Outgoing(_)) => {}
                Err(_) => return,
            }
        }
    });
    Ok(Client {
        name: name.to_owned(),
        client,
        rx,
        received: Vec::new(),
    })
}

impl Client {
    /// Waits for a packet `want` accepts, remembering every message received meanwhile.
    async fn wait_for<T>(&mut self, what: &str, mut want: impl FnMut(&Packet) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let packet = match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(packet)) => packet,
                Ok(None) => panic!("{}: connection closed waiting for {what}", self.name),
                Err(_) => panic!(
                    "{}: no {what} within {WAIT:?}; received {:?}",
                    self.name, self.received
                ),
            };
            if let Packet::Publish(p) = &packet {
                self.received.push((
                    p.topic.clone(),
                    String::from_utf8_lossy(&p.payload).into_owned(),
                ));
            }
            if let Some(found) = want(&packet) {
                return found;
            }
        }
    }

    /// Keeps receiving for `quiet`.
    async fn listen(&mut self, quiet: Duration) {
        let until = Instant::now() + quiet;
        while let Ok(Some(packet)) = tokio::time::timeout(
            until.saturating_duration_since(Instant::now()),
            self.rx.recv(),
        )
        .await
        {
            if let Packet::Publish(p) = &packet {
                self.received.push((
                    p.topic.clone(),
                    String::from_utf8_lossy(&p.payload).into_owned(),
                ));
            }
        }
    }

    async fn subscribe(&mut self, filter: &str) -> Vec<SubscribeReasonCode> {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("queue SUBSCRIBE");
        self.wait_for("SUBACK", |p| match p {
            Packet::SubAck(ack) => Some(ack.return_codes.clone()),
            _ => None,
        })
        .await
    }

    /// Publishes at QoS 1 and waits for the broker's PUBACK (Mosquitto acknowledges a publish its ACL
    /// refuses too, and drops it).
    async fn publish(&mut self, topic: &str, payload: &str, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .await
            .expect("queue PUBLISH");
        self.wait_for("PUBACK", |p| matches!(p, Packet::PubAck(_)).then_some(()))
            .await;
    }

    async fn wait_message(&mut self, topic: &str, payload: &str) {
        if self.got(topic, payload) {
            return;
        }
        let what = format!("message {payload:?} on {topic}");
        self.wait_for(&what, |p| match p {
            Packet::Publish(m) if m.topic == topic && m.payload.as_ref() == payload.as_bytes() => {
                Some(())
            }
            _ => None,
        })
        .await;
    }

    fn got(&self, topic: &str, payload: &str) -> bool {
        self.received
            .iter()
            .any(|(t, p)| t == topic && p == payload)
    }
}

fn all_granted(codes: &[SubscribeReasonCode]) -> bool {
    codes
        .iter()
        .all(|c| matches!(c, SubscribeReasonCode::Success(_)))
}

/// The `ca` commands alone (no broker): files and modes, and every refusal an operator can meet.
#[test]
fn ca_commands_issue_certificates_and_refuse_what_they_must() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_dir = dir.path().join("ca");
    let made = ca(&["init", "--dir", path(&ca_dir)]);
    println!("{made}");
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .expect("file exists")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&ca_dir.join("ca.key")), 0o600, "CA key mode");
    let (ok, text) = ca_command(&["init", "--dir", path(&ca_dir), "--name", "Second"]);
    assert!(
        !ok && text.contains("already exists"),
        "a second init must refuse: {text}"
    );

    let out = dir.path().join("box");
    let issued = ca(&[
        "issue-device",
        "--dir",
        path(&ca_dir),
        "--device-id",
        "hd-ward3-box1",
        "--institution",
        "H43060200175",
        "--out",
        path(&out),
        "--days",
        "90",
    ]);
    println!("{issued}");
    assert_eq!(
        mode(&out.join("hd-ward3-box1.key")),
        0o600,
        "device key mode"
    );
    assert!(out.join("hd-ward3-box1.pem").is_file() && out.join("ca.pem").is_file());
    let base = ["--dir", path(&ca_dir), "--out", path(&out)];
    let refusals: [(&[&str], &str); 6] = [
        (
            &[
                "issue-device",
                "--device-id",
                "hd-ward3-box1",
                "--institution",
                "H43060200175",
            ],
            "already exists",
        ),
        (
            &[
                "issue-device",
                "--device-id",
                "wardwatch-collector-9",
                "--institution",
                "H43060200175",
            ],
            "reserved for collectors",
        ),
        (
            &[
                "issue-device",
                "--device-id",
                "box/1",
                "--institution",
                "H43060200175",
            ],
            "device id",
        ),
        (
            &[
                "issue-device",
                "--device-id",
                "box-1",
                "--institution",
                "X1",
            ],
            "institution",
        ),
        (
            &["issue-client", "--name", "collector-1"],
            "must start with",
        ),
        (&["issue-server", "--name", "broker"], "at least one --dns"),
    ];
    for (args, why) in refusals {
        let all: Vec<&str> = args.iter().chain(base.iter()).copied().collect();
        let (ok, text) = ca_command(&all);
        assert!(!ok, "{all:?} must be refused");
        assert!(text.contains(why), "{all:?}: expected {why:?} in:\n{text}");
    }
    let (ok, text) = ca_command(&[
        "issue-device",
        "--dir",
        path(&dir.path().join("nothing-here")),
        "--device-id",
        "box-1",
        "--institution",
        "H43060200175",
        "--out",
        path(&out),
    ]);
    assert!(
        !ok && text.contains("ca.pem"),
        "issuing without a CA: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_with_the_shipped_mtls_config_enforces_identities_and_the_acl() {
    let Some(mosquitto) = prerequisites("mtls acl") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let inst = unique_institution();
    let pki = Pki::make(dir.path(), &inst);
    let broker = TlsBroker::start(&mosquitto, dir.path());
    let topic = |device: &str, kind: &str| format!("wardwatch/v1/{inst}/{device}/{kind}");
    let broker_log = || tail(&broker.log);

    // (a) A device with its certificate publishes under its own topic; the collector identity,
    // subscribed with the collector's real filter, receives it.
    let mut collector = connect("collector", &broker, &pki.files("collector", COLLECTOR))
        .await
        .unwrap_or_else(|e| panic!("collector refused: {e}\n{}", broker_log()));
    let codes = collector.subscribe(&Topic::all_devices_filter()).await;
    assert!(all_granted(&codes), "collector subscription: {codes:?}");
    let mut box_a = connect("box-a", &broker, &pki.files("box-a", "box-a"))
        .await
        .unwrap_or_else(|e| panic!("box-a refused: {e}\n{}", broker_log()));
    box_a
        .publish(&topic("box-a", "presence"), "a-1", false)
        .await;
    collector
        .wait_message(&topic("box-a", "presence"), "a-1")
        .await;
    println!("(a) box-a published on its own topic; {COLLECTOR} received it");

    // (c) Publishes under another device's topic, or onto its own ack, are dropped; the control
    // message published after them on the device's own topic arrives.
    box_a
        .publish(&topic("box-b", "presence"), "forged-by-a", false)
        .await;
    box_a
        .publish(&topic("box-a", "ack"), "self-ack", false)
        .await;
    box_a
        .publish(&topic("box-a", "presence"), "control", false)
        .await;
    collector
        .wait_message(&topic("box-a", "presence"), "control")
        .await;
    collector.listen(QUIET).await;
    assert!(
        !collector.got(&topic("box-b", "presence"), "forged-by-a"),
        "a device published under another device's topic: {:?}",
        collector.received
    );
    assert!(
        !collector.got(&topic("box-a", "ack"), "self-ack"),
        "a device published onto its own ack: {:?}",
        collector.received
    );
    println!(
        "(c) box-a's publishes on box-b's topic and on its own ack were dropped; its control \
         message arrived ({} messages at the collector)",
        collector.received.len()
    );

    // A device reads its own ack and nothing else, even when it asks for everything.
    let mut box_b = connect("box-b", &broker, &pki.files("box-b", "box-b"))
        .await
        .unwrap_or_else(|e| panic!("box-b refused: {e}\n{}", broker_log()));
    let own = box_b.subscribe(&topic("box-b", "ack")).await;
    assert!(all_granted(&own), "box-b's own ack: {own:?}");
    let wide = box_b.subscribe("wardwatch/v1/#").await;
    // A collector certificate whose name the ACL does not list gets nothing either.
    let mut unlisted = connect(
        "unlisted-collector",
        &broker,
        &pki.files("collector", UNLISTED_COLLECTOR),
    )
    .await
    .unwrap_or_else(|e| panic!("{UNLISTED_COLLECTOR} refused: {e}\n{}", broker_log()));
    let unlisted_codes = unlisted.subscribe(&Topic::all_devices_filter()).await;
    collector
        .publish(&topic("box-a", "ack"), "ack-a", true)
        .await;
    collector
        .publish(&topic("box-b", "ack"), "ack-b", true)
        .await;
    box_a
        .publish(&topic("box-a", "presence"), "a-2", false)
        .await;
    box_b.wait_message(&topic("box-b", "ack"), "ack-b").await;
    collector
        .wait_message(&topic("box-a", "presence"), "a-2")
        .await;
    // Subscribing after the fact would deliver box-a's retained ack, were reading it allowed.
    let other = box_b.subscribe(&topic("box-a", "ack")).await;
    box_b.listen(QUIET).await;
    unlisted.listen(Duration::ZERO).await;
    assert!(
        box_b
            .received
            .iter()
            .all(|(t, _)| *t == topic("box-b", "ack")),
        "box-b read another device's topics: {:?}",
        box_b.received
    );
    assert!(
        unlisted.received.is_empty(),
        "a collector missing from the ACL read: {:?}",
        unlisted.received
    );
    println!(
        "box-b read only its own ack ({} message(s)); its SUBSCRIBEs to wardwatch/v1/# ({wide:?}) \
         and to box-a's retained ack ({other:?}) were answered as shown and delivered nothing; \
         {UNLISTED_COLLECTOR} (not in the ACL) subscribed ({unlisted_codes:?}) and received nothing",
        box_b.received.len()
    );

    // (b) No client certificate: refused at connect.
    let refused = connect("no-certificate", &broker, &pki.no_certificate()).await;
    let why = refused
        .err()
        .expect("a client without a certificate must be refused");
    println!("(b) no certificate: refused: {why}");

    // (d) A certificate from another CA (same CN as a real device): refused.
    let rogue = TlsFiles {
        ca_file: pki.no_certificate().ca_file,
        ..pki.files("rogue", "box-a")
    };
    let why = connect("rogue", &broker, &rogue)
        .await
        .err()
        .expect("a certificate from another CA must be refused");
    println!("(d) certificate from another CA: refused: {why}");

    // The broker's own certificate (server authentication only) is no client certificate.
    let why = connect(
        "server-certificate",
        &broker,
        &pki.files("etc", "wardwatch-broker"),
    )
    .await
    .err()
    .expect("a server certificate must not authenticate a client");
    println!("server certificate as a client certificate: refused: {why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_and_collector_binaries_carry_events_over_mutual_tls() {
    let Some(mosquitto) = prerequisites("mtls agent+collector") else {
        return;
    };
    const EVENTS: usize = 500;
    let dir = tempfile::tempdir().expect("tempdir");
    let inst = unique_institution();
    let pki = Pki::make(dir.path(), &inst);
    let broker = TlsBroker::start(&mosquitto, dir.path());
    let device: wardwatch_protocol::DeviceId = "box-a".parse().expect("device id");

    // The ward box: the configuration an installer writes, with the files `ca issue-device` made.
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir_all(&agent_dir).expect("agent dir");
    write_sightings(&agent_dir.join("sightings.jsonl"), EVENTS);
    let tls = pki.files("box-a", "box-a");
    let file = |p: Option<PathBuf>| p.expect("TLS file").display().to_string();
    // The collector's ack key, made as an operator makes it; the box pins the printed public key.
    let ack_key = dir.path().join("ack.key");
    let made = Command::new(bin())
        .args(["collector", "ack-key", "init", "--key"])
        .arg(&ack_key)
        .output()
        .expect("wardwatch collector ack-key init");
    assert!(made.status.success(), "ack-key init: {made:?}");
    let ack_public = String::from_utf8_lossy(&made.stdout)
        .lines()
        .last()
        .expect("the public key, last")
        .trim()
        .to_owned();
    std::fs::write(
        agent_dir.join("agent.toml"),
        format!(
            r#"device_id = "{device}"
institution_code = "{inst}"
ward_kind = "haemodialysis"
test_mode = true

[broker]
url = "{url}"
ca_file = "{ca}"
cert_file = "{cert}"
key_file = "{key}"
resend_after_secs = 2
ack_public_key = "{ack_public}"

[presence]
close_after_secs = 1
min_samples = 1
checkpoint_secs = 86400

[source]
kind = "replay"
path = "sightings.jsonl"
max_rate_per_sec = 1000000.0
"#,
            url = broker.url(),
            ca = file(tls.ca_file),
            cert = file(tls.cert_file),
            key = file(tls.key_file),
        ),
    )
    .expect("agent config");
    let config = agent_dir.join("agent.toml");
    let check = Command::new(bin())
        .args(["agent", "check", "--config"])
        .arg(&config)
        .output()
        .expect("wardwatch agent check");
    assert!(check.status.success(), "agent check: {check:?}");
    let key = Command::new(bin())
        .args(["agent", "key", "--config"])
        .arg(&config)
        .output()
        .expect("wardwatch agent key");
    assert!(key.status.success(), "agent key: {key:?}");
    let public = String::from_utf8_lossy(&key.stdout).trim().to_owned();

    // The bureau: register the box, then serve against the broker with the collector's certificate.
    let db = Database::sqlite(dir.path());
    let add = Command::new(bin())
        .args(["collector", "devices", "add", "--id", device.as_str()])
        .args([
            "--institution",
            inst.as_str(),
            "--pubkey",
            &public,
            "--for-tests",
        ])
        .args(db.args())
        .output()
        .expect("wardwatch collector devices add");
    assert!(add.status.success(), "devices add: {add:?}");
    let collector_tls = pki.files("collector", COLLECTOR);
    let collector_log = dir.path().join("collector.log");
    let mut collector = Proc::spawn(
        "collector",
        Command::new(bin())
            .args(["collector", "serve", "--broker-url", &broker.url()])
            .args(["--client-id", COLLECTOR])
            .env("WARDWATCH_SHARE_GROUP", secret_share_group())
            .arg("--ack-key")
            .arg(&ack_key)
            .arg("--ca-file")
            .arg(collector_tls.ca_file.expect("CA"))
            .arg("--cert-file")
            .arg(collector_tls.cert_file.expect("certificate"))
            .arg("--key-file")
            .arg(collector_tls.key_file.expect("key"))
            .args(db.args()),
        &collector_log,
    );

    let agent_log = dir.path().join("agent.log");
    let started = Instant::now();
    let mut agent = Proc::spawn(
        "agent",
        Command::new(bin())
            .args(["agent", "run", "--exit-when-drained", "--config"])
            .arg(&config),
        &agent_log,
    );
    let drained = tokio::task::spawn_blocking({
        let log = agent_log.clone();
        move || {
            let status = agent.wait_exit(Duration::from_secs(120), &log);
            (agent, status)
        }
    })
    .await
    .expect("agent wait");
    let elapsed = started.elapsed();
    assert!(
        drained.1.success(),
        "agent failed: {}\nagent log:\n{}\ncollector log:\n{}\nbroker log:\n{}",
        drained.1,
        tail(&agent_log),
        tail(&collector_log),
        tail(&broker.log)
    );
    collector.terminate();
    let stats = assert_exactly_once(&db, &device, EVENTS).await;
    println!(
        "agent → mosquitto (mutual TLS, shipped ACL) → collector: {EVENTS} events stored exactly once, \
         agent drained in {:.1} s; {stats:?}",
        elapsed.as_secs_f64()
    );
    // Mosquitto logs each connection's username: the CNs of the certificates the binaries presented.
    let broker_log = std::fs::read_to_string(&broker.log).unwrap_or_default();
    for username in [device.as_str(), COLLECTOR] {
        assert!(
            broker_log.contains(&format!("u'{username}'")),
            "the broker log names no client {username:?}:\n{}",
            tail(&broker.log)
        );
    }
}

/// Messages `client` received on `topic` whose payload starts with `prefix`.
fn count_received(client: &Client, topic: &str, prefix: &str) -> usize {
    client
        .received
        .iter()
        .filter(|(t, p)| t == topic && p.starts_with(prefix))
        .count()
}

fn all_refused(codes: &[SubscribeReasonCode]) -> bool {
    !codes.is_empty()
        && codes
            .iter()
            .all(|c| matches!(c, SubscribeReasonCode::Failure))
}

/// What one round of the share-group attack gave: (SUBACK codes of the device's subscriptions,
/// events the collector received of `ROUND`, messages the device received).
async fn share_group_round(
    broker: &TlsBroker,
    pki: &Pki,
    inst: &InstitutionCode,
    round: usize,
) -> (Vec<(String, Vec<SubscribeReasonCode>)>, usize, usize) {
    let connect_as = |name: &'static str, holder: &'static str, cn: &'static str| {
        let files = pki.files(holder, cn);
        async move {
            connect(name, broker, &files)
                .await
                .unwrap_or_else(|e| panic!("{name} refused: {e}\n{}", tail(&broker.log)))
        }
    };
    let presence = format!("wardwatch/v1/{inst}/box-a/presence");
    // The collectors' group, as if its name had leaked to the box.
    let shared = "$share/ingest/wardwatch/v1/+/+/presence";
    let mut collector = connect_as("collector", "collector", COLLECTOR).await;
    let codes = collector.subscribe(shared).await;
    assert!(
        all_granted(&codes),
        "the collector's subscription: {codes:?}"
    );
    // The attacker: box-b's own certificate.
    let mut attacker = connect_as("box-b", "box-b", "box-b").await;
    let mut box_a = connect_as("box-a", "box-a", "box-a").await;
    let mut answers = Vec::new();
    for filter in [
        "$share/g/wardwatch/v1/#".to_owned(),
        shared.to_owned(),
        "wardwatch/v1/#".to_owned(),
        format!("wardwatch/v1/{inst}/box-a/ack"),
    ] {
        let codes = attacker.subscribe(&filter).await;
        answers.push((filter, codes));
    }
    // Its own ack stays readable.
    let own = attacker
        .subscribe(&format!("wardwatch/v1/{inst}/box-b/ack"))
        .await;
    assert!(all_granted(&own), "box-b's own ack: {own:?}");
    for i in 0..round {
        box_a.publish(&presence, &format!("event-{i}"), false).await;
    }
    collector
        .publish(&format!("wardwatch/v1/{inst}/box-a/ack"), "ack-a", false)
        .await;
    collector.listen(QUIET).await;
    attacker.listen(Duration::ZERO).await;
    let got = count_received(&collector, &presence, "event-");
    (answers, got, attacker.received.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_is_refused_share_groups_and_other_boxes_topics_at_subscribe_time() {
    let Some(mosquitto) = prerequisites("mtls share groups") else {
        return;
    };
    const ROUND: usize = 40;
    let dir = tempfile::tempdir().expect("tempdir");
    let inst = unique_institution();
    let pki = Pki::make(dir.path(), &inst);

    // Control: the shipped files without the guard plugin. Mosquitto grants the box every
    // subscription, and its place in the collectors' group costs them events.
    let control = TlsBroker::start_with(&mosquitto, dir.path(), Config::WithoutGuard);
    let (answers, kept, read) = share_group_round(&control, &pki, &inst, ROUND).await;
    println!(
        "without the guard: the device's SUBSCRIBEs were answered {answers:?}; the collector \
         received {kept} of {ROUND}; the device {read} message(s)"
    );
    assert!(
        answers.iter().all(|(_, codes)| all_granted(codes)) && kept < ROUND,
        "without the guard the attack should work (the control exercises it): {answers:?}, \
         {kept} of {ROUND}\n{}",
        tail(&control.log)
    );
    drop(control);

    // As shipped: every one of those subscriptions is refused, the collector gets every event.
    let broker = TlsBroker::start(&mosquitto, dir.path());
    let (answers, got, read) = share_group_round(&broker, &pki, &inst, ROUND).await;
    for (filter, codes) in &answers {
        assert!(
            all_refused(codes),
            "the device's subscription to {filter} was granted: {codes:?}\n{}",
            tail(&broker.log)
        );
    }
    assert_eq!(got, ROUND, "the collector lost events");
    assert_eq!(read, 0, "the device read messages");
    let log = std::fs::read_to_string(&broker.log).unwrap_or_default();
    assert!(
        log.contains("wardwatch guard: refused \"box-b\""),
        "Mosquitto's log names no refusal:\n{}",
        tail(&broker.log)
    );
    println!(
        "as shipped: the device's SUBSCRIBEs to {:?} were all refused; the collector received {got} \
         of {ROUND}; the device {read} message(s)",
        answers.iter().map(|(f, _)| f).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_certificate_is_refused_by_mosquitto_through_the_crl() {
    let Some(mosquitto) = prerequisites("mtls crl") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let inst = unique_institution();
    let pki = Pki::make(dir.path(), &inst);
    let ca_dir = dir.path().join("ca");
    // box-b was stolen: the bureau revokes its certificate and writes the CRL the broker reads.
    let revoked = ca(&[
        "revoke",
        "--dir",
        path(&ca_dir),
        "--cert",
        path(&dir.path().join("box-b/box-b.pem")),
        "--reason",
        "key-compromise",
    ]);
    println!("{revoked}");
    let crl = ca(&[
        "crl",
        "--dir",
        path(&ca_dir),
        "--out",
        path(&dir.path().join("etc/crl.pem")),
    ]);
    println!("{crl}");
    let broker = TlsBroker::start(&mosquitto, dir.path());
    let why = connect("box-b", &broker, &pki.files("box-b", "box-b"))
        .await
        .err()
        .unwrap_or_else(|| panic!("a revoked certificate connected\n{}", tail(&broker.log)));
    assert!(
        why.contains("CertificateRevoked"),
        "refused, but not as revoked: {why}"
    );
    println!("revoked box-b: refused: {why}");
    let mut box_a = connect("box-a", &broker, &pki.files("box-a", "box-a"))
        .await
        .unwrap_or_else(|e| panic!("box-a refused: {e}\n{}", tail(&broker.log)));
    box_a
        .publish(
            &format!("wardwatch/v1/{inst}/box-a/presence"),
            "still-here",
            false,
        )
        .await;
    let log = std::fs::read_to_string(&broker.log).unwrap_or_default();
    assert!(
        log.contains("certificate verify failed"),
        "the broker log says nothing of the revoked certificate:\n{}",
        tail(&broker.log)
    );
    println!("box-a (not revoked) connected and published");
}
