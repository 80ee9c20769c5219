//! Bench: liveness over a whole track, on synthetic sequences built from ORL.
//!
//! For each of the 40 ORL people (`../shared/faces/orl` or the folder given; never copied in), one
//! "live" sequence and six attacks, each `--samples` landmark samples long (default 24: eight seconds at
//! the agent's default three a second):
//!
//! - **live**: the person's ten photos in order, each held for a tenth of the sequence, with the small
//!   rigid jitter of a seated person (±3 px, ±2°, ±2% a sample): expressions, eyes, glasses and turns
//!   of the head change between photos — a proxy for a live face, which changes all the time;
//! - **attacks**: photo 1 alone, moved rigidly as a held photo or screen would be — `translation`
//!   (±60/±30 px), `rotation` (±20°), `scale` (0.7–1.3), `perspective` (the plane turned ±35° about its
//!   vertical axis and ±20° about its horizontal one, seen by a 600 px pinhole), `glare` (a bright
//!   spot sweeping across it, small drift) and `handheld` (all of these at once, smaller).
//!
//! Each frame (320×320, the 92×112 photo at its own size) goes through the agent's own steps after
//! detection: the face's box is MTCNN's box on the photo alone carried through the frame's pose (the
//! bounding box of its warped corners, each edge jittered by up to 3% as a detector's boxes jitter) —
//! MTCNN on every synthetic frame was too slow for the shared machine — then the 68-point landmark
//! model on that box, [`LandmarkTrail`] (homography residual between consecutive
//! samples, blinks), [`LivenessTally`] and the verdict with the default `[presence.liveness]`; the
//! liveness model scores every fifth sample for the summary's model median (the agent scores a face
//! a few times a track). A sequence counts as scored live /
//! not live by that verdict. Printed per kind: verdicts, the median share of non-rigid pairs, the
//! median 90th-percentile residual, blinks, the model median, and the same share with a similarity fit instead of a
//! homography (what perspective does to a fit that cannot take it out). Last, the landmark model's
//! mean time a call.
//!
//! This is a proxy: ORL's ten photos are not a video of a patient, and a pasted photo moved by a
//! homography is not a print or a screen held in a hand (no paper bending, no depth of a hand, no
//! video replay on the screen).
//!
//! One line per sequence (`seq person kind verdict share p90 blinks model`), then the summary of the
//! people run. `--people A-B` runs people A to B only (two halves can run side by side; sum their
//! `seq` lines).
//!
//! `cargo bench -p wardwatch-agent --bench track_liveness_eval [-- ORL_DIR] [--samples N] [--people A-B]`

mod common;

use common::{BenchArgs, Rng};
use image::{GrayImage, Rgb, RgbImage};
use wardwatch_agent::presence::liveness::{LivenessConfig, LivenessTally};
use wardwatch_agent::tracking::liveness::LandmarkTrail;
use wardwatch_agent::tracking::shape::{apply, fit_homography, similarity_residual};
use wardwatch_agent::vision::align::RgbView;
use wardwatch_agent::vision::boxes::FaceBox;
use wardwatch_agent::vision::engine::{DetectorKind, FaceEngine};
use wardwatch_agent::vision::landmarks::LandmarkModel;
use wardwatch_agent::vision::liveness::LivenessModel;
use wardwatch_protocol::{Liveness, LivenessVerdict};

const SIDE: u32 = 320;
const ENLARGE: f64 = 1.0;
/// Milliseconds between samples (the agent's default three a second).
const STEP_MS: i64 = 333;

/// A kind of sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Live,
    Translation,
    Rotation,
    Scale,
    Perspective,
    Glare,
    Handheld,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Live,
        Kind::Translation,
        Kind::Rotation,
        Kind::Scale,
        Kind::Perspective,
        Kind::Glare,
        Kind::Handheld,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Live => "live (10 photos)",
            Kind::Translation => "photo, translation",
            Kind::Rotation => "photo, rotation",
            Kind::Scale => "photo, scale",
            Kind::Perspective => "photo, perspective",
            Kind::Glare => "photo, glare",
            Kind::Handheld => "photo, handheld",
        }
    }
}

/// Where one sample's photo goes: a homography from photo pixels to frame pixels, and a glare spot
/// (centre as fractions of the photo) or none.
struct Pose {
    h: [f64; 9],
    glare: Option<(f64, f64)>,
}

/// The homography that turns the photo (w × h) about its centre by `yaw` and `pitch` (radians), in
/// plane by `roll`, scales it by `scale` and puts its centre at the frame's centre + (dx, dy), seen by
/// a pinhole of focal length `focal` px.
fn placement(
    (w, h): (f64, f64),
    (yaw, pitch, roll): (f64, f64, f64),
    scale: f64,
    (dx, dy): (f64, f64),
    focal: f64,
) -> [f64; 9] {
    let (cx, cy) = (f64::from(SIDE) / 2.0 + dx, f64::from(SIDE) / 2.0 + dy);
    let corners = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]];
    let project = |[x, y]: [f64; 2]| -> [f32; 2] {
        // Centred, scaled, rolled in plane, then turned in depth, at distance `focal`.
        let (px, py) = ((x - w / 2.0) * scale, (y - h / 2.0) * scale);
        let (px, py) = (
            px * roll.cos() - py * roll.sin(),
            px * roll.sin() + py * roll.cos(),
        );
        let (x1, z1) = (px * yaw.cos(), px * yaw.sin());
        let (y2, z2) = (py * pitch.cos(), z1 + py * pitch.sin());
        let depth = focal + z2;
        [
            (cx + focal * x1 / depth) as f32,
            (cy + focal * y2 / depth) as f32,
        ]
    };
    let from: Vec<[f32; 2]> = corners.iter().map(|c| [c[0] as f32, c[1] as f32]).collect();
    let to: Vec<[f32; 2]> = corners.iter().map(|c| project(*c)).collect();
    fit_homography(&from, &to).unwrap_or([1.0, 0.0, cx, 0.0, 1.0, cy, 0.0, 0.0, 1.0])
}

/// The 3×3 inverse (adjugate over determinant).
fn invert(m: &[f64; 9]) -> Option<[f64; 9]> {
    let [a, b, c, d, e, f, g, h, i] = *m;
    let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    (det.abs() > 1e-12).then(|| {
        [
            e * i - f * h,
            c * h - b * i,
            b * f - c * e,
            f * g - d * i,
            a * i - c * g,
            c * d - a * f,
            d * h - e * g,
            b * g - a * h,
            a * e - b * d,
        ]
        .map(|v| v / det)
    })
}

/// The sample `k` of `n` of a sequence of `kind`: which photo (0–9) and its pose.
fn pose(kind: Kind, k: usize, n: usize, size: (f64, f64), rng: &mut Rng) -> (usize, Pose) {
    let t = k as f64 / (n.max(2) - 1) as f64;
    let tau = std::f64::consts::TAU;
    let deg = std::f64::consts::PI / 180.0;
    let wave = |periods: f64, phase: f64| (tau * periods * t + phase).sin();
    let jitter = |rng: &mut Rng, amount: f64| amount * (2.0 * f64::from(rng.unit()) - 1.0);
    let focal = 600.0;
    let still = (0.0, 0.0, 0.0);
    let (photo, h, glare) = match kind {
        Kind::Live => {
            let roll = jitter(rng, 2.0 * deg);
            let scale = ENLARGE * (1.0 + jitter(rng, 0.02));
            let shift = (jitter(rng, 3.0), jitter(rng, 3.0));
            let h = placement(size, (0.0, 0.0, roll), scale, shift, focal);
            ((k * 10 / n.max(1)).min(9), h, None)
        }
        Kind::Translation => {
            let shift = (60.0 * wave(1.0, 0.0), 30.0 * wave(2.0, 1.0));
            (0, placement(size, still, ENLARGE, shift, focal), None)
        }
        Kind::Rotation => {
            let h = placement(
                size,
                (0.0, 0.0, 20.0 * deg * wave(1.0, 0.0)),
                ENLARGE,
                (0.0, 0.0),
                focal,
            );
            (0, h, None)
        }
        Kind::Scale => {
            let scale = ENLARGE * (1.0 + 0.3 * wave(1.0, 0.0));
            (0, placement(size, still, scale, (0.0, 0.0), focal), None)
        }
        Kind::Perspective => {
            let turn = (
                35.0 * deg * wave(1.0, 0.0),
                20.0 * deg * wave(1.0, 1.6),
                0.0,
            );
            (0, placement(size, turn, ENLARGE, (0.0, 0.0), focal), None)
        }
        Kind::Glare => {
            let shift = (10.0 * wave(1.0, 0.0), 5.0 * wave(1.0, 2.0));
            let h = placement(size, still, ENLARGE, shift, focal);
            (0, h, Some((0.1 + 0.8 * t, 0.3 + 0.4 * t)))
        }
        Kind::Handheld => {
            let turn = (
                15.0 * deg * wave(1.5, 0.3),
                10.0 * deg * wave(1.0, 1.1),
                8.0 * deg * wave(2.0, 0.7),
            );
            let scale = ENLARGE * (1.0 + 0.15 * wave(1.0, 2.2));
            let shift = (
                25.0 * wave(1.0, 0.5) + jitter(rng, 2.0),
                15.0 * wave(2.0, 0.0),
            );
            let h = placement(size, turn, scale, shift, focal);
            (0, h, Some((0.2 + 0.6 * t, 0.5)))
        }
    };
    (photo, Pose { h, glare })
}

/// The frame: a plain background with `photo` warped onto it by `pose` (bilinear), glare added on
/// the photo.
fn render(photo: &GrayImage, pose: &Pose) -> RgbImage {
    let (pw, ph) = (f64::from(photo.width()), f64::from(photo.height()));
    let inverse = invert(&pose.h);
    RgbImage::from_fn(SIDE, SIDE, |x, y| {
        // A smooth gradient: per-pixel noise here makes MTCNN's first stage propose hundreds of
        // boxes a frame, each refined one by one, for nothing this bench measures.
        let back = 100.0 + f64::from(x * 40 / SIDE) + f64::from(y * 20 / SIDE);
        let Some(inverse) = inverse else {
            return Rgb([back as u8; 3]);
        };
        let [u, v] = apply(&inverse, f64::from(x) + 0.5, f64::from(y) + 0.5);
        let (u, v) = (u - 0.5, v - 0.5);
        if u < 0.0 || v < 0.0 || u > pw - 1.0 || v > ph - 1.0 {
            return Rgb([back as u8, (back + 5.0) as u8, (back - 8.0) as u8]);
        }
        let (u0, v0) = (u.floor() as u32, v.floor() as u32);
        let (u1, v1) = (
            (u0 + 1).min(photo.width() - 1),
            (v0 + 1).min(photo.height() - 1),
        );
        let (fu, fv) = (u - f64::from(u0), v - f64::from(v0));
        let at = |a: u32, b: u32| f64::from(photo.get_pixel(a, b)[0]);
        let mut value = (at(u0, v0) * (1.0 - fu) + at(u1, v0) * fu) * (1.0 - fv)
            + (at(u0, v1) * (1.0 - fu) + at(u1, v1) * fu) * fv;
        if let Some((gx, gy)) = pose.glare {
            let d = ((u / pw - gx) / 0.18).powi(2) + ((v / ph - gy) / 0.12).powi(2);
            value += 150.0 * (-d).exp();
        }
        Rgb([value.min(255.0) as u8; 3])
    })
}

/// What one sequence showed.
struct Outcome {
    verdict: LivenessVerdict,
    share: f64,
    p90: f64,
    blinks: u32,
    model: f64,
    similarity_share: f64,
    samples: u32,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

struct Models {
    engine: FaceEngine,
    landmarks: LandmarkModel,
    liveness: LivenessModel,
    landmark_time: std::time::Duration,
    landmark_calls: u32,
}

fn sequence(
    photos: &[GrayImage],
    boxes: &[Option<FaceBox>],
    kind: Kind,
    samples: usize,
    config: &LivenessConfig,
    models: &mut Models,
    rng: &mut Rng,
) -> anyhow::Result<Outcome> {
    let mut trail = LandmarkTrail::default();
    let mut tally = LivenessTally::default();
    let mut scores = Vec::new();
    let mut previous: Option<[[f32; 2]; 68]> = None;
    let (mut moved_similarity, mut pairs) = (0u32, 0u32);
    for k in 0..samples {
        let size = (f64::from(photos[0].width()), f64::from(photos[0].height()));
        let (which, pose) = pose(kind, k, samples, size, rng);
        let frame = render(&photos[which], &pose);
        let view = RgbView {
            width: frame.width() as usize,
            height: frame.height() as usize,
            data: frame.as_raw(),
        };
        // The face's box: MTCNN's box on the photo itself, carried through the pose (the bounding
        // box of its warped corners), each edge jittered by up to 3% of the box as a detector's
        // boxes jitter from frame to frame.
        let Some(face) = boxes[which].map(|b| {
            let corners = [(b.x1, b.y1), (b.x2, b.y1), (b.x2, b.y2), (b.x1, b.y2)]
                .map(|(x, y)| apply(&pose.h, f64::from(x), f64::from(y)));
            let xs = corners.map(|c| c[0] as f32);
            let ys = corners.map(|c| c[1] as f32);
            let (x1, x2) = (
                xs.iter().copied().fold(f32::MAX, f32::min),
                xs.iter().copied().fold(f32::MIN, f32::max),
            );
            let (y1, y2) = (
                ys.iter().copied().fold(f32::MAX, f32::min),
                ys.iter().copied().fold(f32::MIN, f32::max),
            );
            let (w, h) = (x2 - x1, y2 - y1);
            let mut edge = |v: f32, size: f32| v + size * 0.03 * (2.0 * rng.unit() - 1.0);
            FaceBox {
                x1: edge(x1, w).max(0.0),
                y1: edge(y1, h).max(0.0),
                x2: edge(x2, w).min(SIDE as f32 - 1.0),
                y2: edge(y2, h).min(SIDE as f32 - 1.0),
                score: 1.0,
            }
        }) else {
            previous = None;
            continue;
        };
        let started = std::time::Instant::now();
        let points = models.landmarks.points68(view, &face)?;
        models.landmark_time += started.elapsed();
        models.landmark_calls += 1;
        trail.add(k as i64 * STEP_MS, &points);
        if let Some(before) = &previous
            && let Some(r) = similarity_residual(before, &points)
        {
            pairs += 1;
            moved_similarity += u32::from(f64::from(r) >= config.nonrigid_threshold);
        }
        previous = Some(points);
        // The agent scores a face a few times a track, not every frame: here every fifth sample.
        if k % 5 == 0 {
            scores.push(f64::from(models.liveness.live_probability(view, &face)?));
        }
    }
    if let Some(evidence) = trail.take() {
        tally.add(&evidence);
    }
    let model = median(scores);
    let summary = tally.summary(
        config,
        Liveness::try_from(if model.is_finite() { model } else { 0.0 })?,
    );
    Ok(match summary {
        Some(s) => Outcome {
            verdict: s.verdict,
            share: s.nonrigid_motion.get(),
            p90: s.residual_p90.get(),
            blinks: s.blinks,
            model,
            similarity_share: f64::from(moved_similarity) / f64::from(pairs.max(1)),
            samples: s.samples,
        },
        None => Outcome {
            verdict: LivenessVerdict::Undetermined,
            share: 0.0,
            p90: 0.0,
            blinks: 0,
            model,
            similarity_share: 0.0,
            samples: 0,
        },
    })
}

fn report(kind: Kind, who: &str, outcomes: &[Outcome]) {
    let count = |v: LivenessVerdict| outcomes.iter().filter(|o| o.verdict == v).count();
    let (live, not_live, undetermined) = (
        count(LivenessVerdict::Live),
        count(LivenessVerdict::NotLive),
        count(LivenessVerdict::Undetermined),
    );
    let n = outcomes.len().max(1);
    let (right, word) = if kind == Kind::Live {
        (live, "live")
    } else {
        (not_live, "not live")
    };
    println!(
        "{:<20} {who:<6} {:>5.1}% scored {word:<8} ({live}/{not_live}/{undetermined} live/not/undet.)  share {:.3}  p90 {:.4}  blinks {}  model {:.2}  samples {:.0}  similarity-fit share {:.3}",
        kind.name(),
        100.0 * right as f64 / n as f64,
        median(outcomes.iter().map(|o| o.share).collect()),
        median(outcomes.iter().map(|o| o.p90).collect()),
        outcomes.iter().map(|o| o.blinks).sum::<u32>(),
        median(outcomes.iter().map(|o| o.model).collect()),
        median(outcomes.iter().map(|o| f64::from(o.samples)).collect()),
        median(outcomes.iter().map(|o| o.similarity_share).collect()),
    );
}

fn main() -> anyhow::Result<()> {
    let args = BenchArgs::from_env(&["--samples", "--people"]);
    let samples: usize = args.value("--samples")?.unwrap_or(24);
    let people: String = args.value("--people")?.unwrap_or_else(|| "1-40".into());
    let (first, last) = people
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
        .filter(|(a, b)| (1..=*b).contains(a) && *b <= 40)
        .ok_or_else(|| anyhow::anyhow!("--people {people}: expected A-B within 1-40"))?;
    let orl = args.orl_dir()?;
    let manifest = common::manifest()?;
    let mut models = Models {
        engine: FaceEngine::load(&manifest, DetectorKind::Mtcnn)?,
        landmarks: LandmarkModel::load(&manifest)?,
        liveness: LivenessModel::load(&manifest)?,
        landmark_time: std::time::Duration::ZERO,
        landmark_calls: 0,
    };
    let config = LivenessConfig::default();
    println!(
        "{samples} landmark samples a sequence, {STEP_MS} ms apart; verdict: ≥ {} pairs, live on ≥ {} blinks or ≥ {:.0}% of pairs with a homography residual ≥ {} of the face's size",
        config.min_pairs,
        config.min_blinks,
        100.0 * config.min_nonrigid_share,
        config.nonrigid_threshold
    );
    let mut rng = Rng(0x5eed_1234);
    let mut results: Vec<Vec<Outcome>> = Kind::ALL.iter().map(|_| Vec::new()).collect();
    for person in first..=last {
        let photos = (1..=10)
            .map(|shot| Ok(image::open(orl.join(format!("s{person}/{shot}.pgm")))?.to_luma8()))
            .collect::<anyhow::Result<Vec<GrayImage>>>()?;
        // Each photo's face as MTCNN finds it on the photo alone (largest face).
        let mut boxes = Vec::new();
        for photo in &photos {
            let rgb = image::DynamicImage::ImageLuma8(photo.clone()).to_rgb8();
            let view = RgbView {
                width: rgb.width() as usize,
                height: rgb.height() as usize,
                data: rgb.as_raw(),
            };
            boxes.push(
                models
                    .engine
                    .locate(view)?
                    .into_iter()
                    .map(|(b, _)| b)
                    .max_by(|a, b| a.area().total_cmp(&b.area())),
            );
        }
        for (i, kind) in Kind::ALL.iter().enumerate() {
            let o = sequence(
                &photos,
                &boxes,
                *kind,
                samples,
                &config,
                &mut models,
                &mut rng,
            )?;
            println!(
                "seq {person} {:?} {} {:.4} {:.4} {} {:.3}",
                kind,
                o.verdict.as_str(),
                o.share,
                o.p90,
                o.blinks,
                o.model
            );
            results[i].push(o);
        }
    }
    for (i, kind) in Kind::ALL.iter().enumerate() {
        report(*kind, &people, &results[i]);
    }
    let attacks: Vec<&Outcome> = results[1..].iter().flatten().collect();
    let detected = attacks
        .iter()
        .filter(|o| o.verdict == LivenessVerdict::NotLive)
        .count();
    let live = results[0]
        .iter()
        .filter(|o| o.verdict == LivenessVerdict::Live)
        .count();
    let n = results[0].len();
    println!(
        "people {people}: live sequences scored live {live}/{n} ({:.1}%); rigid attacks scored not live {detected}/{} ({:.1}%)",
        100.0 * live as f64 / n.max(1) as f64,
        attacks.len(),
        100.0 * detected as f64 / attacks.len().max(1) as f64
    );
    println!(
        "landmark model: {:.2} ms a call (mean of {})",
        models.landmark_time.as_secs_f64() * 1000.0 / f64::from(models.landmark_calls.max(1)),
        models.landmark_calls
    );
    Ok(())
}
