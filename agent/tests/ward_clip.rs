//! A synthetic ward clip through the agent's camera pipeline (folder source → tamper checks → MTCNN →
//! tracking → recognition → presence → sealed events in the real spool): the presence intervals match
//! the clip's ground truth within two frame periods (120 s: a track is confirmed on its second frame,
//! and the last frame before a departure is up to one period early), a patient who leaves for 20
//! minutes gives two intervals, an enrolled no-show gives none, and a visitor nobody enrolled is an
//! unknown track, never a patient.
//!
//! Two casts: the public-domain photos the repository ships (`demo/faces/`, see FACES.md) — Obama
//! enrolled from his 2012 portrait and seen as in 2009, Biden and Collins enrolled from their photos and
//! seen mirrored, Hopper the visitor, and an enrolled no-show whose embedding nobody in the clip
//! resembles — and ORL photos (../shared/faces/orl, used in place, never copied in), where photo 1 of
//! each person enrols them and photo 2 is what the camera sees.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use wardwatch_agent::config::AgentConfig;
use wardwatch_agent::pipeline::run_producer;
use wardwatch_agent::seal::Sealer;
use wardwatch_agent::spool::Spool;
use wardwatch_agent::vision::engine::{DetectorKind, FaceEngine};
use wardwatch_protocol::{Event, Payload, Person, Presence, Timestamp};
use wardwatch_testkit::clip::{ClipPlan, Visit, render};

/// The patients' insured-person numbers: seats 0, 1 and 2 are taken by patients 0, 1 and 2; patient 3
/// never comes.
const PATIENTS: [&str; 4] = [
    "43060000000000000011",
    "43060000000000000012",
    "43060000000000000013",
    "43060000000000000014",
];
const TOLERANCE_SECS: f64 = 120.0;

fn orl(subject: u32, shot: u32) -> image::RgbImage {
    image::open(common::orl_dir().join(format!("s{subject}/{shot}.pgm")))
        .expect("ORL photo")
        .to_rgb8()
}

fn shipped(name: &str) -> image::RgbImage {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../demo/faces")
        .join(name);
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

/// How a patient is enrolled.
enum Enrolment {
    /// From a photo.
    Photo(image::RgbImage),
    /// With an embedding nobody in the clip resembles (a patient who never comes).
    Nobody,
}

fn plan(start: Timestamp) -> ClipPlan {
    let visit = |photo, seat, from_secs, to_secs| Visit {
        photo,
        seat,
        from_secs,
        to_secs,
    };
    ClipPlan {
        width: 1920,
        height: 1080,
        start,
        frame_secs: 60.0,
        frames: 60,
        seats: vec![(250, 300), (700, 320), (1150, 300), (1600, 330)],
        photo_width: 120,
        visits: vec![
            // Patient 0 stays the whole hour.
            visit(0, 0, 0.0, 3600.0),
            // Patient 1 leaves for 20 minutes.
            visit(1, 1, 0.0, 1200.0),
            visit(1, 1, 2400.0, 3600.0),
            // Patient 2 arrives at 10 min and leaves at 50 min.
            visit(2, 2, 600.0, 3000.0),
            // Patient 3 never comes; a visitor sits in seat 3 from 30 to 45 min.
            visit(3, 3, 1800.0, 2700.0),
        ],
    }
}

/// Renders the clip with `seen` (patients 0–2, then the visitor), enrols `enrolled` (patients 0–3),
/// runs the camera pipeline on it and checks the intervals against the plan.
fn run_and_check(seen: Vec<image::RgbImage>, enrolled: Vec<Enrolment>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let start: Timestamp = "2026-11-23T00:00:00.000Z".parse().expect("time");
    let plan = plan(start);
    let clip = dir.path().join("cam-1");
    render(&plan, &seen, &clip).expect("render the clip");

    let manifest = common::manifest();
    let mut engine = FaceEngine::load(&manifest, DetectorKind::Mtcnn).expect("engine");
    let mut gallery = String::new();
    for (psn, enrolment) in PATIENTS.iter().zip(enrolled) {
        let embedding = match enrolment {
            Enrolment::Photo(photo) => {
                let view = wardwatch_agent::vision::align::RgbView {
                    width: photo.width() as usize,
                    height: photo.height() as usize,
                    data: photo.as_raw(),
                };
                engine
                    .largest_face(view)
                    .expect("pipeline")
                    .expect("a face to enrol")
                    .embedding
            }
            Enrolment::Nobody => {
                let mut v: Vec<f32> = (0..512).map(|i| ((i * 7919) % 101) as f32 - 50.0).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                v
            }
        };
        gallery.push_str(
            &serde_json::json!({"fixmedins_code": "H43060200175", "psn_no": psn, "embedding": embedding})
                .to_string(),
        );
        gallery.push('\n');
    }
    std::fs::write(dir.path().join("gallery.jsonl"), gallery).expect("write gallery");
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/manifest.toml");
    let config_path = dir.path().join("agent.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"
device_id = "hd-clip-box"
institution_code = "H43060200175"
ward_kind = "haemodialysis"
test_mode = true
[broker]
url = "mqtt://127.0.0.1:1"
ack_public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
[presence]
close_after_secs = 180
min_samples = 3
checkpoint_secs = 600
[recognition]
models = "{}"
gallery = "gallery.jsonl"
[[camera]]
id = "cam-1"
source = {{ kind = "folder", path = "cam-1", start = "2026-11-23T00:00:00.000Z", fps = {} }}
"#,
            models.display(),
            plan.fps()
        ),
    )
    .expect("write config");
    let config = AgentConfig::load(&config_path).expect("config");

    let spool = Spool::open(&config.spool_dir).expect("spool");
    let (key, _) =
        wardwatch_agent::device_key::load_or_create(&config.key_file).expect("device key");
    let sealer = Sealer::new(
        key,
        config.device_id.clone(),
        config.institution_code.clone(),
    );
    let (tip, _) = tokio::sync::watch::channel(0);
    let stop = Arc::new(AtomicBool::new(false));
    let started = std::time::Instant::now();
    let gallery = wardwatch_agent::gallery::SharedGallery::default();
    let summary = run_producer(&config, &spool, &sealer, &tip, &gallery, &stop).expect("producer");
    println!(
        "{} frames in {:.1} s: {} sightings, {} events, {} camera states",
        plan.frames,
        started.elapsed().as_secs_f64(),
        summary.sightings,
        summary.events,
        summary.camera_states
    );
    assert!(summary.finished, "the recording ran to its end");

    let events: Vec<Event> = spool
        .read_from(1, 100_000)
        .expect("read spool")
        .iter()
        .map(|e| serde_json::from_slice(&e.wire).expect("an event"))
        .collect();
    let finals: Vec<Presence> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Presence(p) if !p.open => Some(p.clone()),
            _ => None,
        })
        .collect();
    let mut by_person: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for p in &finals {
        let key = match &p.person {
            Person::PsnNo(psn) => psn.to_string(),
            Person::UnknownTrack(_) => "unknown".to_owned(),
        };
        let secs = |t: Timestamp| (t.millis() - start.millis()) as f64 / 1000.0;
        by_person
            .entry(key)
            .or_default()
            .push((secs(p.start), secs(p.end)));
    }
    for intervals in by_person.values_mut() {
        intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    println!("intervals (seconds from the start): {by_person:?}");
    let close = |got: (f64, f64), want: (f64, f64)| {
        got.0 >= want.0 - 1.0
            && got.0 <= want.0 + TOLERANCE_SECS
            && got.1 <= want.1
            && got.1 >= want.1 - TOLERANCE_SECS
    };
    let of = |i: usize| by_person.get(PATIENTS[i]).cloned().unwrap_or_default();
    let last_frame = plan.frame_time(plan.frames - 1);
    assert_eq!(of(0).len(), 1, "patient 0: {:?}", of(0));
    assert!(close(of(0)[0], (0.0, last_frame)), "{:?}", of(0));
    assert_eq!(of(1).len(), 2, "patient 1 left for 20 minutes: {:?}", of(1));
    assert!(close(of(1)[0], (0.0, 1140.0)), "{:?}", of(1));
    assert!(close(of(1)[1], (2400.0, last_frame)), "{:?}", of(1));
    assert_eq!(of(2).len(), 1, "patient 2: {:?}", of(2));
    assert!(close(of(2)[0], (600.0, 2940.0)), "{:?}", of(2));
    assert!(of(3).is_empty(), "patient 3 never came: {:?}", of(3));
    let unknown = by_person.get("unknown").cloned().unwrap_or_default();
    assert!(
        unknown.iter().any(|u| close(*u, (1800.0, 2640.0))),
        "the visitor is an unknown track: {unknown:?}"
    );
    // The visitor's final report carries the average of the track's embeddings; patients' do not.
    for p in &finals {
        match &p.person {
            Person::UnknownTrack(_) => assert_eq!(
                p.embedding.as_ref().map(|e| e.dims()),
                Some(512),
                "unknown face without its embedding"
            ),
            Person::PsnNo(_) => assert!(p.embedding.is_none()),
        }
    }
    // A heartbeat at start names the camera.
    let heartbeat = events
        .iter()
        .find_map(|e| match &e.payload {
            Payload::Health(h) => Some(h.clone()),
            _ => None,
        })
        .expect("a heartbeat");
    assert_eq!(heartbeat.gallery_version, None, "no bureau gallery");
    assert!(heartbeat.cameras.len() <= 1, "{:?}", heartbeat.cameras);
    // The camera was healthy throughout.
    let states: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Camera(c) => Some(c.state),
            _ => None,
        })
        .collect();
    assert_eq!(states, [wardwatch_protocol::CameraState::Ok], "{states:?}");
}

#[test]
fn presence_intervals_match_a_clip_of_the_shipped_faces() {
    let mirrored = |name: &str| image::imageops::flip_horizontal(&shipped(name));
    run_and_check(
        vec![
            shipped("obama-2009.jpg"),
            mirrored("biden-2010.jpg"),
            mirrored("collins.jpg"),
            shipped("hopper.jpg"),
        ],
        vec![
            Enrolment::Photo(shipped("obama-2012.jpg")),
            Enrolment::Photo(shipped("biden-2010.jpg")),
            Enrolment::Photo(shipped("collins.jpg")),
            Enrolment::Nobody,
        ],
    );
}

#[test]
fn presence_intervals_match_a_clip_of_orl_faces() {
    run_and_check(
        vec![orl(11, 2), orl(12, 2), orl(13, 2), orl(15, 2)],
        vec![
            Enrolment::Photo(orl(11, 1)),
            Enrolment::Photo(orl(12, 1)),
            Enrolment::Photo(orl(13, 1)),
            Enrolment::Photo(orl(14, 1)),
        ],
    );
}
