//! The single-pass detector on real faces: the ORL database's images (../shared/faces/orl, 40 people ×
//! 10 grey 92×112 photos; used from ../shared, never copied into the repository), each pasted at a known
//! place and scale into a larger grey frame, must be found at that place.

use std::path::{Path, PathBuf};
use wardwatch_agent::vision::align::RgbView;
use wardwatch_agent::vision::manifest::Manifest;
use wardwatch_agent::vision::single_pass::SinglePassDetector;

/// The ORL folder and a loaded detector.
fn setup() -> (PathBuf, SinglePassDetector) {
    let orl = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/faces/orl");
    assert!(
        orl.join("s1/1.pgm").exists(),
        "../shared/faces/orl is missing: the accuracy data sits beside the repository"
    );
    let manifest =
        Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/manifest.toml"))
            .expect("manifest");
    (orl, SinglePassDetector::load(&manifest).expect("detector"))
}

/// Whether a box's centre lies inside the rectangle (x1, y1, x2, y2).
fn centre_inside(
    boxes: &[wardwatch_agent::vision::boxes::FaceBox],
    (x1, y1, x2, y2): (f32, f32, f32, f32),
) -> bool {
    boxes.iter().any(|b| {
        let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
        cx > x1 && cx < x2 && cy > y1 && cy < y2
    })
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
    let (orl, mut detector) = setup();
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
            let hit = centre_inside(&boxes, (fx1, fy1, fx2, fy2));
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

#[test]
fn fifty_faces_in_one_frame() {
    let (orl, mut detector) = setup();
    // A 1600×900 frame holding 50 photos (10 × 5) at 1.3×: faces about 120 px tall.
    let (width, height, scale) = (1600usize, 900usize, 1.3f32);
    let mut frame = vec![118u8; width * height * 3];
    let mut places = Vec::new();
    for k in 0..50 {
        let face = image::open(orl.join(format!("s{}/{}.pgm", k % 40 + 1, k % 10 + 1)))
            .expect("ORL image")
            .to_luma8();
        let (x, y) = (10 + (k % 10) * 158, 20 + (k / 10) * 175);
        let pasted = composite(&face, width, height, x, y, scale);
        let (fw, fh) = ((92.0 * scale) as usize, (112.0 * scale) as usize);
        for v in y..(y + fh).min(height) {
            let row = (v * width + x) * 3;
            let end = (v * width + (x + fw).min(width)) * 3;
            frame[row..end].copy_from_slice(&pasted[row..end]);
        }
        places.push((
            x as f32,
            y as f32,
            x as f32 + fw as f32,
            y as f32 + fh as f32,
        ));
    }
    let boxes = detector
        .detect(RgbView {
            width,
            height,
            data: &frame,
        })
        .expect("detect");
    let found = places
        .iter()
        .filter(|place| centre_inside(&boxes, **place))
        .count();
    println!(
        "50 faces in one frame: {found} found, {} boxes",
        boxes.len()
    );
    assert!(found >= 45, "{found}/50 found");
    assert!(boxes.len() <= 55, "{} boxes for 50 faces", boxes.len());
}
