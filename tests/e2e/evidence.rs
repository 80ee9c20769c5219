//! Evidence crops, from the camera to the auditor: with `[evidence]` on (and only over TLS), a rendered
//! ward recording through the real camera pipeline gives one bounded JPEG crop for the visitor nobody
//! enrolled and one for the patient whose face is a photo pasted into the frame (low liveness), none for
//! the live patient; the crops are sealed events that the collector stores and counts; bureau users
//! list and fetch them over the API (each fetch in the access log), institutions are refused.
//! With `mqtt://` the configuration refuses evidence.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wardwatch_agent::config::AgentConfig;
use wardwatch_agent::pipeline::run_producer;
use wardwatch_agent::seal::Sealer;
use wardwatch_agent::spool::Spool;
use wardwatch_agent::vision::align::RgbView;
use wardwatch_agent::vision::engine::{DetectorKind, FaceEngine};
use wardwatch_agent::vision::manifest::Manifest;
use wardwatch_collector::api::{ApiState, serve};
use wardwatch_collector::store::devices::{Device, DevicePurpose};
use wardwatch_collector::store::ingest::{ChainCache, Incoming};
use wardwatch_collector::users::UserRole;
use wardwatch_protocol::{Event, EvidenceReason, Payload, Person, PublicKey, Timestamp};
use wardwatch_testkit::clip::{ClipPlan, Visit, render};
use wardwatch_testkit::e2e::*;

const INSTITUTION: &str = "H43060200175";

fn photo(name: &str) -> image::RgbImage {
    image::open(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("demo/faces")
            .join(name),
    )
    .expect("bundled photo")
    .to_rgb8()
}

fn config_text(broker: &str, models: &Path) -> String {
    format!(
        r#"device_id = "evidence-box"
institution_code = "{INSTITUTION}"
ward_kind = "haemodialysis"
test_mode = true
[broker]
url = "{broker}"
ack_public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
{ca}
[presence]
close_after_secs = 300
min_samples = 2
checkpoint_secs = 600
[recognition]
models = "{models}"
gallery = "gallery.jsonl"
[evidence]
enabled = true
max_bytes = 12000
[[camera]]
id = "cam-1"
source = {{ kind = "folder", path = "cam-1", start = "2026-11-23T00:00:00.000Z", fps = 0.0166666666666666666 }}
"#,
        ca = if broker.starts_with("mqtts") {
            "ca_file = \"ca.pem\""
        } else {
            ""
        },
        models = models.display()
    )
}

/// One HTTP/1.1 GET; returns (status, content type, body).
pub(crate) async fn get(
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    let mut body = answer[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, content_type, body)
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&bytes[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&bytes[end + 2..end + 2 + size]);
        bytes = &bytes[end + 2 + size + 2..];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crops_of_unknown_and_photo_faces_reach_bureau_users_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/manifest.toml");

    // Plain MQTT: evidence refused by the configuration.
    let config_path = dir.path().join("agent.toml");
    std::fs::write(&config_path, config_text("mqtt://127.0.0.1:1", &models)).expect("config");
    let refused = AgentConfig::load(&config_path).expect_err("evidence over plain MQTT");
    assert!(
        refused.to_string().contains("evidence.enabled"),
        "{refused}"
    );

    // The recording: seat 0 the live patient (Biden, mirrored), seat 1 a patient who is a photo of
    // a photo (Obama's 2009 portrait pasted in; enrolled from 2012), seat 2 a visitor (Hopper).
    let start: Timestamp = "2026-11-23T00:00:00.000Z".parse().expect("time");
    let plan = ClipPlan {
        width: 1280,
        height: 720,
        start,
        frame_secs: 60.0,
        frames: 8,
        seats: vec![(150, 200), (550, 220), (950, 200)],
        photo_width: 120,
        visits: (0..3)
            .map(|i| Visit {
                photo: i,
                seat: i,
                from_secs: 0.0,
                to_secs: 600.0,
            })
            .collect(),
    };
    render(
        &plan,
        &[
            image::imageops::flip_horizontal(&photo("biden-2010.jpg")),
            photo("obama-2009.jpg"),
            photo("hopper.jpg"),
        ],
        &dir.path().join("cam-1"),
    )
    .expect("render");
    let manifest = Manifest::load(&models).expect("manifest");
    let mut engine = FaceEngine::load(&manifest, DetectorKind::Mtcnn).expect("engine");
    let mut gallery = String::new();
    for (psn, name) in [
        ("43060000000000000002", "biden-2010.jpg"),
        ("43060000000000000001", "obama-2012.jpg"),
    ] {
        let image = photo(name);
        let face = engine
            .largest_face(RgbView {
                width: image.width() as usize,
                height: image.height() as usize,
                data: image.as_raw(),
            })
            .expect("pipeline")
            .expect("a face");
        gallery.push_str(
            &serde_json::json!({"fixmedins_code": INSTITUTION, "psn_no": psn, "embedding": face.embedding})
                .to_string(),
        );
        gallery.push('\n');
    }
    std::fs::write(dir.path().join("gallery.jsonl"), gallery).expect("gallery");
    std::fs::write(dir.path().join("ca.pem"), "not used: nothing connects here").expect("ca");
    std::fs::write(&config_path, config_text("mqtts://127.0.0.1:1", &models)).expect("config");
    let config = AgentConfig::load(&config_path).expect("config with TLS");

    let spool = Spool::open(&config.spool_dir).expect("spool");
    let (key, _) =
        wardwatch_agent::device_key::load_or_create(&config.key_file).expect("device key");
    let public = PublicKey::of(&key);
    let sealer = Sealer::new(
        key,
        config.device_id.clone(),
        config.institution_code.clone(),
    )
    .in_test_mode(config.test_mode);
    let (tip, _) = tokio::sync::watch::channel(0);
    let shared = wardwatch_agent::gallery::SharedGallery::default();
    let stop = Arc::new(AtomicBool::new(false));
    run_producer(&config, &spool, &sealer, &tip, &shared, &stop).expect("producer");
    let spooled = spool.read_from(1, 10_000).expect("spool");
    let events: Vec<Event> = spooled
        .iter()
        .map(|e| serde_json::from_slice(&e.wire).expect("event"))
        .collect();
    let crops: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Evidence(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let people: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Presence(p) if !p.open => Some(match &p.person {
                Person::PsnNo(psn) => format!("{psn} live {:.2}", p.liveness.get()),
                Person::UnknownTrack(t) => format!("{t} live {:.2}", p.liveness.get()),
            }),
            _ => None,
        })
        .collect();
    let mut reasons: Vec<EvidenceReason> = crops.iter().map(|c| c.reason).collect();
    reasons.sort_by_key(|r| r.as_str());
    assert_eq!(
        reasons,
        [EvidenceReason::LowLiveness, EvidenceReason::Unknown],
        "presence: {people:?}"
    );
    for crop in &crops {
        assert!(crop.jpeg.bytes().len() <= 12_000);
        let image = image::load_from_memory(crop.jpeg.bytes()).expect("a JPEG");
        assert!(image.width().max(image.height()) <= 112);
    }

    // The collector stores and counts them.
    let store = Database::sqlite(dir.path()).open().await;
    store
        .add_device(&Device {
            device_id: config.device_id.clone(),
            institution_code: config.institution_code.clone(),
            public_key: public,
            purpose: DevicePurpose::Tests,
        })
        .await
        .expect("register");
    let incoming: Vec<Incoming> = spooled
        .iter()
        .zip(&events)
        .map(|(s, e)| Incoming::Event {
            event: Box::new(e.clone()),
            raw: s.wire.clone(),
        })
        .collect();
    store
        .ingest_batch(&incoming, &ChainCache::new())
        .await
        .expect("ingest");
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.events.get("evidence"), Some(&2), "{stats:?}");

    // Bureau users see them; institutions do not; every look is logged.
    let auditor = store
        .add_user("auditor-evidence", &UserRole::Auditor)
        .await
        .expect("auditor");
    let institution = store
        .add_user(
            "h-evidence",
            &UserRole::from_parts("institution", Some(INSTITUTION)).expect("role"),
        )
        .await
        .expect("institution user");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_api, stop_rx) = tokio::sync::watch::channel(false);
    let api = tokio::spawn(serve(ApiState::new(store.clone()), listener, stop_rx));

    let (status, _, body) = get(addr, "/api/v1/evidence", &auditor).await;
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let listed = listed.as_array().expect("a list").clone();
    assert_eq!(listed.len(), 2, "{listed:?}");
    for item in &listed {
        let id = item["event_id"].as_str().expect("event_id");
        let (status, content_type, jpeg) =
            get(addr, &format!("/api/v1/evidence/{id}"), &auditor).await;
        assert_eq!(status, 200);
        assert_eq!(content_type, "image/jpeg");
        assert!(
            crops.iter().any(|c| c.jpeg.bytes() == jpeg.as_slice()),
            "the crop as the box sealed it"
        );
    }
    let (status, _, _) = get(addr, "/api/v1/evidence", &institution).await;
    assert_eq!(status, 403);
    let first = listed[0]["event_id"].as_str().expect("event_id");
    let (status, _, _) = get(addr, &format!("/api/v1/evidence/{first}"), &institution).await;
    assert_eq!(status, 403);
    let (status, _, _) = get(addr, "/api/v1/evidence/no-such-event", &auditor).await;
    assert_eq!(status, 404);

    stop_api.send_replace(true);
    api.await.expect("api task").expect("api");
    let log = store.access_log().await.expect("access log");
    let viewed = log
        .iter()
        .filter(|e| {
            e.detail.starts_with("viewed evidence crop") && e.user_name == "auditor-evidence"
        })
        .count();
    assert_eq!(viewed, 2, "each fetch is in the access log");
    assert!(
        log.iter()
            .any(|e| e.user_name == "h-evidence" && e.status == 403),
        "refusals are logged too"
    );
    store.close().await;
}
