//! Shared by the agent's vision tests: the ORL photos beside the repository (../shared/faces/orl, used in
//! place, never copied in) and the committed model manifest.

#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use wardwatch_agent::vision::manifest::Manifest;

/// The ORL folder; fails the test, saying why, when it is missing.
pub fn orl_dir() -> PathBuf {
    let orl = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/faces/orl");
    assert!(
        orl.join("s1/1.pgm").exists(),
        "../shared/faces/orl is missing: the accuracy data sits beside the repository"
    );
    orl
}

/// The committed model manifest.
pub fn manifest() -> Manifest {
    Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/manifest.toml"))
        .expect("manifest")
}

/// Whether a point lies inside the rectangle (x1, y1, x2, y2).
pub fn inside((x, y): (f32, f32), (x1, y1, x2, y2): (f32, f32, f32, f32)) -> bool {
    x > x1 && x < x2 && y > y1 && y < y2
}

/// Pastes the grey `face` into the RGB `frame` (`width` pixels a row) at (x, y), scaled by `scale`
/// (nearest pixel); returns the pasted rectangle (x1, y1, x2, y2).
pub fn paste(
    frame: &mut [u8],
    width: usize,
    face: &image::GrayImage,
    (x, y): (usize, usize),
    scale: f32,
) -> (f32, f32, f32, f32) {
    let height = frame.len() / 3 / width.max(1);
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
    (x as f32, y as f32, (x + fw) as f32, (y + fh) as f32)
}
