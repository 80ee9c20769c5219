//! Covered lens, frozen stream and unplugged camera through a real camera worker (its models loaded,
//! its tamper checks, its back-off on a failing source): each becomes the matching camera-state
//! observation, dated from when its condition began.

mod common;

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use wardwatch_agent::cameras::worker::CameraWorker;
use wardwatch_agent::cameras::{Observation, SharedGallery};
use wardwatch_agent::config::{CameraConfig, CameraSource, RecognitionConfig};
use wardwatch_agent::sources::{Frame, FrameSource, SourceError};
use wardwatch_agent::vision::matcher::Gallery;
use wardwatch_protocol::{CameraId, CameraState, Timestamp};

/// What the scripted camera does next.
enum Step {
    Frame(Frame),
    Unplugged,
}

/// A camera that plays a script, then ends.
struct ScriptedCamera {
    camera: CameraId,
    steps: VecDeque<Step>,
}

impl FrameSource for ScriptedCamera {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        match self.steps.pop_front() {
            Some(Step::Frame(frame)) => Ok(Some(frame)),
            Some(Step::Unplugged) => Err(SourceError::Unavailable {
                camera: self.camera.clone(),
                why: "/dev/video0: No such device".into(),
            }),
            None => Ok(None),
        }
    }

    fn is_recording(&self) -> bool {
        false
    }

    fn reopen(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}

const WIDTH: usize = 640;
const HEIGHT: usize = 360;

/// A ward-like scene with fresh sensor noise from `seed`, dimmed by `light`.
fn scene(seed: u32, light: f32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    let mut data = Vec::with_capacity(WIDTH * HEIGHT * 3);
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let bed = if y > 220 && (80..280).contains(&x) {
                80.0
            } else {
                0.0
            };
            let v = 90.0 + x as f32 * 0.1 + y as f32 * 0.05 + bed + (state % 5) as f32 - 2.0;
            let v = (v * light).clamp(0.0, 255.0) as u8;
            data.extend([v, v, v]);
        }
    }
    data
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_millis(1_795_000_000_000 + secs * 1000).expect("time")
}

#[test]
fn covered_frozen_and_unplugged_are_reported_with_their_times() {
    let camera: CameraId = "cam-door".parse().expect("id");
    let frame = |secs: i64, pixels: Vec<u8>| {
        Step::Frame(Frame {
            camera_id: camera.clone(),
            captured_at: t(secs),
            position: 0,
            width: WIDTH,
            height: HEIGHT,
            pixels,
        })
    };
    let mut steps = VecDeque::new();
    for s in 0..20 {
        steps.push_back(frame(s, scene(s as u32 + 1, 1.0)));
    }
    // A hand over the lens from 20 s to 30 s.
    for s in 20..30 {
        steps.push_back(frame(s, scene(s as u32 + 1, 0.04)));
    }
    for s in 30..40 {
        steps.push_back(frame(s, scene(s as u32 + 1, 1.0)));
    }
    // The stream sticks on one picture from 40 s to 80 s.
    let stuck = scene(7777, 1.0);
    for s in 40..80 {
        steps.push_back(frame(s, stuck.clone()));
    }
    for s in 80..85 {
        steps.push_back(frame(s, scene(s as u32 + 1, 1.0)));
    }
    // Unplugged after the frame of 84 s; back with frames from 200 s.
    steps.push_back(Step::Unplugged);
    steps.push_back(Step::Unplugged);
    for s in 200..203 {
        steps.push_back(frame(s, scene(s as u32 + 1, 1.0)));
    }
    let source = ScriptedCamera {
        camera: camera.clone(),
        steps,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = common::manifest();
    let worker = CameraWorker::new(
        CameraConfig {
            id: camera.clone(),
            source: CameraSource::Folder {
                path: dir.path().to_owned(),
                start: t(0),
                fps: 1.0,
            },
            max_fps: None,
            roi: None,
            seats: Vec::new(),
        },
        Box::new(source),
        &manifest,
        &RecognitionConfig::default(),
        SharedGallery::new(Gallery::new(512)),
        dir.path().join("cam-door.reference"),
    )
    .expect("worker");
    let (tx, rx) = std::sync::mpsc::sync_channel(10_000);
    let mut worker = worker;
    worker.run(&tx, &AtomicBool::new(false));
    drop(tx);
    let observations: Vec<Observation> = rx.iter().collect();
    let states: Vec<(CameraState, Timestamp)> = observations
        .iter()
        .filter_map(|o| match o {
            Observation::Camera(c) => Some((c.state, c.since)),
            _ => None,
        })
        .collect();
    println!("{states:?}");
    assert_eq!(
        states,
        [
            (CameraState::Ok, t(0)),
            (CameraState::Obstructed, t(20)),
            (CameraState::Ok, t(30)),
            (CameraState::Frozen, t(40)),
            (CameraState::Ok, t(80)),
            (CameraState::Offline, t(84)),
            (CameraState::Ok, t(200)),
        ]
    );
    assert!(matches!(
        observations.last(),
        Some(Observation::Ended { .. })
    ));
    assert!(
        dir.path().join("cam-door.reference").exists(),
        "the reference view was stored"
    );
}
