//! The single-pass detector on real faces: the ORL database's images (../shared/faces/orl, 40 people ×
//! 10 grey 92×112 photos; used from ../shared, never copied into the repository), each pasted at a known
//! place and scale into a larger grey frame, must be found at that place.

use std::path::{Path, PathBuf};
use wardwatch_agent::vision::align::RgbView;
use wardwatch_agent::vision::manifest::Manifest;
use wardwatch_agent::vision::single_pass::SinglePassDetector;

fn orl() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/faces/orl");
    dir.join("s1/1.pgm").exists().then_some(dir)
}

/// A `width × height` mid-grey RGB frame with the grey `face` pasted at (x, y), scaled by `scale`.
fn composite(
    face: &image::GrayImage,
    width: usize,
    height: usize,
    x: usize,
    y: usize,
    scale: f32,
) -> Vec<u8> {
    let mut frame = vec![118u8; width * height * 3];
    let (fw, fh) = (
        (face.width() as f32 * scale) as usize,
        (face.height() as f32 * scale) as usize,
    );
    for v in 0..fh {
        for u in 0..fw {
            let (sx, sy) = ((u as f32 / scale) as u32, (v as f32 / scale) as u32);
            let value = face.get_pixel(sx.min(face.width() - 1), sy.min(face.height() - 1))[0];
            let (px, py) = (x + u, y + v);
            if px < width && py < height {
                let i = (py * width + px) * 3;
                frame[i..i + 3].copy_from_slice(&[value, value, value]);
            }
        }
    }
    frame
}

#[test]
fn orl_faces_pasted_into_a_frame_are_found_where_they_are() {
    let Some(orl) = orl() else {
        panic!("../shared/faces/orl is missing: the accuracy data sits beside the repository");
    };
    let manifest =
        Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/manifest.toml"))
            .expect("manifest");
    let mut detector = SinglePassDetector::load(&manifest).expect("detector");
    let (width, height) = (640usize, 480usize);
    let (mut found, mut total) = (0, 0);
    let mut misses = Vec::new();
    for person in 1..=40 {
        for shot in [1, 5] {
            let path = orl.join(format!("s{person}/{shot}.pgm"));
            let face = image::open(&path).expect("ORL image").to_luma8();
            let (x, y, scale) = (100 + person * 7, 60 + shot * 9, 1.6);
            let frame = composite(&face, width, height, x, y, scale);
            let boxes = detector
                .detect(RgbView {
                    width,
                    height,
                    data: &frame,
                })
                .expect("detect");
            total += 1;
            let (fx1, fy1) = (x as f32, y as f32);
            let (fx2, fy2) = (fx1 + 92.0 * scale, fy1 + 112.0 * scale);
            // Found: a box whose centre lies inside the pasted photo.
            let hit = boxes.iter().any(|b| {
                let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
                cx > fx1 && cx < fx2 && cy > fy1 && cy < fy2
            });
            if hit {
                found += 1;
            } else {
                misses.push(format!("s{person}/{shot}"));
            }
        }
    }
    println!("single-pass detector: {found}/{total} ORL faces found; missed {misses:?}");
    assert!(
        found * 100 >= total * 90,
        "{found}/{total}; missed {misses:?}"
    );
}
