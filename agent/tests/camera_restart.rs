//! An agent restart in the middle of a camera recording does not split a stay: the first run is
//! stopped after a few commits (open intervals and the camera's position are in the spool's
//! checkpoint), the second run resumes the recording where the checkpoint says and continues the same
//! interval, so the patient who sat through the whole clip has one interval from start to end.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use wardwatch_agent::config::AgentConfig;
use wardwatch_agent::pipeline::run_producer;
use wardwatch_agent::seal::Sealer;
use wardwatch_agent::spool::Spool;
use wardwatch_agent::vision::align::RgbView;
use wardwatch_agent::vision::engine::{DetectorKind, FaceEngine};
use wardwatch_protocol::{Event, Payload, Person, Timestamp};
use wardwatch_testkit::clip::{ClipPlan, Visit, render};

const PATIENT: &str = "43060000000000000011";
const FRAMES: usize = 30;
const FRAME_SECS: f64 = 60.0;

fn shipped(name: &str) -> image::RgbImage {
    image::open(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../demo/faces")
            .join(name),
    )
    .expect("bundled photo")
    .to_rgb8()
}

#[test]
fn a_restart_mid_recording_continues_the_open_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start: Timestamp = "2026-11-23T00:00:00.000Z".parse().expect("time");
    let plan = ClipPlan {
        width: 1280,
        height: 720,
        start,
        frame_secs: FRAME_SECS,
        frames: FRAMES,
        seats: vec![(500, 250)],
        photo_width: 120,
        visits: vec![Visit {
            photo: 0,
            seat: 0,
            from_secs: 0.0,
            to_secs: FRAMES as f64 * FRAME_SECS,
        }],
    };
    render(
        &plan,
        &[shipped("obama-2009.jpg")],
        &dir.path().join("cam-1"),
    )
    .expect("render");

    let manifest = common::manifest();
    let mut engine = FaceEngine::load(&manifest, DetectorKind::Mtcnn).expect("engine");
    let enrol = shipped("obama-2012.jpg");
    let face = engine
        .largest_face(RgbView {
            width: enrol.width() as usize,
            height: enrol.height() as usize,
            data: enrol.as_raw(),
        })
        .expect("pipeline")
        .expect("a face");
    std::fs::write(
        dir.path().join("gallery.jsonl"),
        serde_json::json!({"fixmedins_code": "H43060200175", "psn_no": PATIENT, "embedding": face.embedding})
            .to_string(),
    )
    .expect("gallery");
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/manifest.toml");
    let config_path = dir.path().join("agent.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"device_id = "restart-box"
institution_code = "H43060200175"
ward_kind = "haemodialysis"
test_mode = true
[broker]
url = "mqtt://127.0.0.1:1"
ack_public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
[presence]
close_after_secs = 180
min_samples = 2
checkpoint_secs = 120
[recognition]
models = "{}"
gallery = "gallery.jsonl"
[[camera]]
id = "cam-1"
source = {{ kind = "folder", path = "cam-1", start = "{start}", fps = {} }}
"#,
            models.display(),
            1.0 / FRAME_SECS
        ),
    )
    .expect("config");
    let config = AgentConfig::load(&config_path).expect("config");
    let (key, _) =
        wardwatch_agent::device_key::load_or_create(&config.key_file).expect("device key");
    let sealer = Sealer::new(
        key,
        config.device_id.clone(),
        config.institution_code.clone(),
    );
    let gallery = wardwatch_agent::gallery::SharedGallery::default();

    // First run: stopped once a handful of events are committed (a few frames in).
    let first = {
        let spool = Spool::open(&config.spool_dir).expect("spool");
        let (tip, mut tips) = tokio::sync::watch::channel(0u64);
        let stop = Arc::new(AtomicBool::new(false));
        let stopper = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while tips.has_changed().is_ok() {
                    if *tips.borrow_and_update() >= 5 {
                        stop.store(true, Ordering::Relaxed);
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            })
        };
        let summary =
            run_producer(&config, &spool, &sealer, &tip, &gallery, &stop).expect("first run");
        drop(tip);
        stopper.join().expect("stopper");
        summary
    };
    assert!(
        !first.finished,
        "the first run was stopped before the recording ended"
    );

    // Second run: a new process would open the same spool and resume from its checkpoint.
    let spool = Spool::open(&config.spool_dir).expect("spool again");
    let (tip, _) = tokio::sync::watch::channel(0u64);
    let stop = Arc::new(AtomicBool::new(false));
    let second = run_producer(&config, &spool, &sealer, &tip, &gallery, &stop).expect("second run");
    assert!(
        second.finished,
        "the second run reached the recording's end"
    );

    let events: Vec<Event> = spool
        .read_from(1, 100_000)
        .expect("read spool")
        .iter()
        .map(|e| serde_json::from_slice(&e.wire).expect("an event"))
        .collect();
    let reports: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Presence(p) if p.person == Person::PsnNo(PATIENT.parse().expect("psn")) => {
                Some(p.clone())
            }
            _ => None,
        })
        .collect();
    let finals: Vec<_> = reports.iter().filter(|p| !p.open).collect();
    let secs = |t: Timestamp| (t.millis() - start.millis()) as f64 / 1000.0;
    let spans: Vec<(f64, f64)> = finals
        .iter()
        .map(|p| (secs(p.start), secs(p.end)))
        .collect();
    assert_eq!(finals.len(), 1, "one stay, one interval: {spans:?}");
    let last_frame = (FRAMES - 1) as f64 * FRAME_SECS;
    assert!(spans[0].0 <= 2.0 * FRAME_SECS, "{spans:?}");
    assert!(spans[0].1 >= last_frame - 2.0 * FRAME_SECS, "{spans:?}");
    assert!(
        reports
            .iter()
            .all(|p| p.interval_id == finals[0].interval_id),
        "every checkpoint before and after the restart reports the same interval"
    );
    println!(
        "first run: {} events before the stop; intervals: {spans:?}; {} reports",
        first.events,
        reports.len()
    );
}
