//! Liveness over a track on a few real ORL people (../shared/faces/orl, used in place, never copied in):
//! MTCNN on each frame, the 68-point landmark model on its box, the agent's landmark trail, tally and
//! default verdict. A person's ten photos in turn (expressions, eyes, head turns) must be scored live; one
//! photo moved and scaled rigidly must be scored not live. The full 40-person figures are the
//! `track_liveness_eval` bench's.

mod common;

use wardwatch_agent::presence::liveness::{LivenessConfig, LivenessTally};
use wardwatch_agent::tracking::liveness::LandmarkTrail;
use wardwatch_agent::vision::align::RgbView;
use wardwatch_agent::vision::engine::{DetectorKind, FaceEngine};
use wardwatch_agent::vision::landmarks::LandmarkModel;
use wardwatch_protocol::{Liveness, LivenessVerdict};

const SIDE: usize = 240;
const SAMPLES: usize = 24;

/// The verdict on a sequence whose frame `k` shows `photo_of(k)` at `place_of(k)` (top-left, scale).
fn verdict(
    engine: &mut FaceEngine,
    landmarks: &mut LandmarkModel,
    photo_of: impl Fn(usize) -> image::GrayImage,
    place_of: impl Fn(usize) -> ((usize, usize), f32),
) -> LivenessVerdict {
    let mut trail = LandmarkTrail::default();
    for k in 0..SAMPLES {
        let mut frame = vec![120u8; SIDE * SIDE * 3];
        let (at, scale) = place_of(k);
        common::paste(&mut frame, SIDE, &photo_of(k), at, scale);
        let view = RgbView {
            width: SIDE,
            height: SIDE,
            data: &frame,
        };
        let Some((face, _)) = engine
            .locate(view)
            .expect("detector")
            .into_iter()
            .max_by(|a, b| a.0.area().total_cmp(&b.0.area()))
        else {
            continue;
        };
        let points = landmarks.points68(view, &face).expect("landmarks");
        trail.add(k as i64 * 333, &points);
    }
    let mut tally = LivenessTally::default();
    tally.add(&trail.take().expect("samples"));
    tally
        .summary(
            &LivenessConfig::default(),
            Liveness::try_from(0.5).expect("score"),
        )
        .expect("summary")
        .verdict
}

#[test]
fn a_persons_ten_photos_are_live_and_one_photo_moved_rigidly_is_not() {
    let orl = common::orl_dir();
    let manifest = common::manifest();
    let mut engine = FaceEngine::load(&manifest, DetectorKind::Mtcnn).expect("detector");
    let mut landmarks = LandmarkModel::load(&manifest).expect("landmark model");
    for person in [1, 2, 3] {
        let photos: Vec<image::GrayImage> = (1..=10)
            .map(|shot| {
                image::open(orl.join(format!("s{person}/{shot}.pgm")))
                    .expect("ORL image")
                    .to_luma8()
            })
            .collect();
        // Live: each photo for a tenth of the sequence, the head shifting a pixel or two.
        let live = verdict(
            &mut engine,
            &mut landmarks,
            |k| photos[(k * 10 / SAMPLES).min(9)].clone(),
            |k| ((70 + k % 3, 60 + (k * 7) % 3), 1.0),
        );
        assert_eq!(live, LivenessVerdict::Live, "s{person}: ten photos");
        // Attack: photo 1 carried across the frame and towards the camera.
        let photo = verdict(
            &mut engine,
            &mut landmarks,
            |_| photos[0].clone(),
            |k| ((20 + 3 * k, 20 + k), 1.0 + 0.015 * k as f32),
        );
        assert_eq!(
            photo,
            LivenessVerdict::NotLive,
            "s{person}: one photo moved"
        );
    }
}
