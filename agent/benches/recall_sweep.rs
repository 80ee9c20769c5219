//! Bench: detection recall by face size in a 1920×1080 frame. ORL photos (from `../shared/faces/orl`, or
//! the folder given; never copied into the repository) are shrunk or enlarged with a triangle filter and
//! composited, up to 24 to a frame at jittered grid positions, onto a textured grey background; the known
//! rectangles are the ground truth. A detection matches a pasted photo when its centre lies inside the
//! photo and its width is between 0.3 and 1.2 of the photo's; each photo is matched at most once.
//!
//! Prints, per detector and size (the pasted photo's width; ORL photos are head crops, the face box a
//! detector draws is about 0.7 of it, given as the median matched box width): recall, false detections
//! per frame, and ms per frame.
//!
//! `cargo bench -p wardwatch-agent --bench recall_sweep [-- ORL_DIR] [--faces N]` (default 200 photos per
//! size: persons 1–40 × photos 1–5).

mod common;

use common::{BenchArgs, Rng};
use std::time::Instant;
use wardwatch_agent::vision::align::RgbView;
use wardwatch_agent::vision::engine::{DetectorKind, FaceEngine};

const WIDTH: usize = 1920;
const HEIGHT: usize = 1080;
/// Pasted photo widths in pixels.
const SIZES: [u32; 8] = [30, 40, 50, 60, 80, 120, 180, 260];

fn background(rng: &mut Rng) -> Vec<u8> {
    let mut frame = vec![0u8; WIDTH * HEIGHT * 3];
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            // A soft gradient plus sensor-like noise.
            let base = 90 + (x * 50 / WIDTH) as u32 + (y * 30 / HEIGHT) as u32;
            let v = (base + rng.below(12)) as u8;
            let i = (y * WIDTH + x) * 3;
            frame[i..i + 3].copy_from_slice(&[v, v.saturating_add(4), v.saturating_sub(6)]);
        }
    }
    frame
}

/// Composites `photos` of width `size` into one frame; returns the frame and the pasted rectangles.
fn compose(photos: &[image::GrayImage], size: u32, rng: &mut Rng) -> (Vec<u8>, Vec<[f32; 4]>) {
    let mut frame = background(rng);
    let mut truth = Vec::new();
    let (columns, _) = grid(size);
    let (cell_w, cell_h) = (WIDTH / columns, HEIGHT / grid(size).1);
    for (k, photo) in photos.iter().enumerate() {
        let height = (size as f32 * photo.height() as f32 / photo.width() as f32).round() as u32;
        let scaled =
            image::imageops::resize(photo, size, height, image::imageops::FilterType::Triangle);
        let (cx, cy) = (k % columns, k / columns);
        let slack_x = (cell_w as u32).saturating_sub(size);
        let slack_y = (cell_h as u32).saturating_sub(height);
        let x = (cx * cell_w) as u32 + rng.below(slack_x + 1);
        let y = (cy * cell_h) as u32 + rng.below(slack_y + 1);
        if x + size > WIDTH as u32 || y + height > HEIGHT as u32 {
            continue;
        }
        for (u, v, p) in scaled.enumerate_pixels() {
            let i = (((y + v) as usize) * WIDTH + (x + u) as usize) * 3;
            frame[i..i + 3].copy_from_slice(&[p[0]; 3]);
        }
        truth.push([x as f32, y as f32, (x + size) as f32, (y + height) as f32]);
    }
    (frame, truth)
}

/// Columns and rows of photos `size` wide (ORL's 92×112 aspect) with room between them: at most 6×4.
fn grid(size: u32) -> (usize, usize) {
    let height = size as usize * 112 / 92;
    (
        (WIDTH / (size as usize + 24)).clamp(1, 6),
        (HEIGHT / (height + 24)).clamp(1, 4),
    )
}

fn main() -> anyhow::Result<()> {
    let args = BenchArgs::from_env(&["--faces"]);
    let faces: usize = args.value("--faces")?.unwrap_or(200);
    let orl = args.orl_dir()?;
    let mut photos = Vec::new();
    for shot in 1..=10 {
        for person in 1..=40 {
            photos.push(image::open(orl.join(format!("s{person}/{shot}.pgm")))?.to_luma8());
        }
    }
    photos.truncate(faces.clamp(1, 400));
    let manifest = common::manifest()?;
    println!(
        "{} ORL photos per size, up to 24 per {WIDTH}×{HEIGHT} frame",
        photos.len()
    );
    println!(
        "{:<22} {:>6} {:>9} {:>9} {:>12} {:>10}",
        "detector", "photo", "recall", "box w", "false/frame", "ms/frame"
    );
    let detectors: [(&str, DetectorKind, Option<f32>); 3] = [
        ("mtcnn min_face 20", DetectorKind::Mtcnn, Some(20.0)),
        ("mtcnn min_face 40", DetectorKind::Mtcnn, Some(40.0)),
        ("single-pass", DetectorKind::SinglePass, None),
    ];
    for (name, kind, min_face) in detectors {
        let mut engine = FaceEngine::load(&manifest, kind)?;
        if let Some(px) = min_face {
            engine.set_min_face_size(px);
        }
        for size in SIZES {
            let mut rng = Rng(0x2545_f491 ^ size);
            let (mut found, mut pasted, mut false_hits, mut frames) = (0usize, 0usize, 0usize, 0);
            let mut widths = Vec::new();
            let mut ms = 0.0;
            let (columns, rows) = grid(size);
            for chunk in photos.chunks(columns * rows) {
                let (frame, truth) = compose(chunk, size, &mut rng);
                let view = RgbView {
                    width: WIDTH,
                    height: HEIGHT,
                    data: &frame,
                };
                let started = Instant::now();
                let located = engine.locate(view)?;
                ms += started.elapsed().as_secs_f64() * 1e3;
                frames += 1;
                pasted += truth.len();
                let mut matched = vec![false; truth.len()];
                for (b, _) in &located {
                    let (cx, cy, w) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0, b.x2 - b.x1);
                    let hit = truth.iter().enumerate().position(|(i, t)| {
                        !matched[i]
                            && cx > t[0]
                            && cx < t[2]
                            && cy > t[1]
                            && cy < t[3]
                            && w > 0.3 * (t[2] - t[0])
                            && w < 1.2 * (t[2] - t[0])
                    });
                    match hit {
                        Some(i) => {
                            matched[i] = true;
                            found += 1;
                            widths.push(w);
                        }
                        None => false_hits += 1,
                    }
                }
            }
            widths.sort_by(f32::total_cmp);
            let median_w = widths.get(widths.len() / 2).copied().unwrap_or(f32::NAN);
            println!(
                "{name:<22} {size:>4}px {:>8.1}% {:>7.0}px {:>12.2} {:>10.0}",
                100.0 * found as f64 / pasted.max(1) as f64,
                median_w,
                false_hits as f64 / frames.max(1) as f64,
                ms / frames.max(1) as f64
            );
        }
    }
    Ok(())
}
