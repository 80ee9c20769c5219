//! Bench: the liveness model on real faces and on a synthetic presentation-attack set.
//!
//! Real faces (controls): the ORL photos (from `../shared/faces/orl` or the folder given; never copied
//! into the repository) as they are; enlarged to fill a 480×480 frame; blended into a textured
//! background through a feathered oval (no photo edge visible); and pasted as a rectangle (its edges
//! visible, like a held photo). Attacks: the same photos re-rendered as a print (binary halftone dot
//! screen, ink spread, paper tint) or a phone/monitor screen (pixel-grid moiré, RGB sub-pixel stripes,
//! gamma and blue cast), once filling the frame (texture only, no edge in view) and once held in view
//! with a paper margin or a black bezel — flat, tilted (keystone perspective) or under a glare spot.
//! Faces are found with MTCNN (the largest face); the liveness model scores the face's box ×2.7 crop.
//!
//! Prints, at the live threshold (default 0.5): per rendering, the faces found and the share of frames
//! and of tracks (a person's ten frames, median score) scored below the threshold — the false-reject rate
//! for real faces, the attack-detection rate for attacks. Compare renderings in pairs (fills frame: real
//! against print and screen). This synthetic set is a weak proxy for real attacks: real prints and
//! screens carry paper texture, reflections, hands and depth cues this rendering lacks, and ORL's real
//! faces are themselves grey scans.
//!
//! `cargo bench -p wardwatch-agent --bench liveness_eval [-- ORL_DIR] [--threshold T]`

mod common;

use common::{BenchArgs, Rng};
use image::{Rgb, RgbImage};
use wardwatch_agent::vision::align::RgbView;
use wardwatch_agent::vision::engine::{DetectorKind, FaceEngine};
use wardwatch_agent::vision::liveness::LivenessModel;

const SIDE: u32 = 480;
/// Photos enlarged to this width before rendering (ORL is 92×112).
const PHOTO_W: u32 = 184;
const PHOTO_H: u32 = 224;

/// How a photo is shown to the camera.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Render {
    AsIs,
    FullFrame,
    Blended,
    Composited,
    PrintFull,
    ScreenFull,
    Print,
    PrintTilted,
    PrintGlare,
    Screen,
    ScreenGlare,
}

impl Render {
    const ALL: [Render; 11] = [
        Render::AsIs,
        Render::FullFrame,
        Render::Blended,
        Render::Composited,
        Render::PrintFull,
        Render::ScreenFull,
        Render::Print,
        Render::PrintTilted,
        Render::PrintGlare,
        Render::Screen,
        Render::ScreenGlare,
    ];

    fn is_attack(self) -> bool {
        !matches!(
            self,
            Render::AsIs | Render::FullFrame | Render::Blended | Render::Composited
        )
    }

    fn name(self) -> &'static str {
        match self {
            Render::AsIs => "real, photo as is",
            Render::FullFrame => "real, fills frame",
            Render::Blended => "real, blended in",
            Render::Composited => "real, pasted (edges)",
            Render::PrintFull => "print, fills frame",
            Render::ScreenFull => "screen, fills frame",
            Render::Print => "print (halftone)",
            Render::PrintTilted => "print, tilted",
            Render::PrintGlare => "print, glare",
            Render::Screen => "screen (moire)",
            Render::ScreenGlare => "screen, glare",
        }
    }
}

fn background(rng: &mut Rng) -> RgbImage {
    RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let v = 100 + (x * 40 / SIDE) as u8 + (y * 20 / SIDE) as u8 + (rng.next() % 10) as u8;
        Rgb([v, v.saturating_add(5), v.saturating_sub(8)])
    })
}

/// Binary halftone with a 45° dot screen (period 5 px), ink spread by a slight blur, on tinted paper.
fn halftone(photo: &image::GrayImage) -> RgbImage {
    let period = 5.0f32;
    let dots = image::GrayImage::from_fn(photo.width(), photo.height(), |x, y| {
        let (u, v) = (
            (x as f32 + y as f32) * std::f32::consts::FRAC_1_SQRT_2,
            (x as f32 - y as f32) * std::f32::consts::FRAC_1_SQRT_2,
        );
        let tau = std::f32::consts::TAU;
        let screen = ((tau * u / period).cos() + (tau * v / period).cos()) / 4.0 + 0.5;
        let value = photo.get_pixel(x, y)[0] as f32 / 255.0;
        image::Luma([if value > screen { 235 } else { 35 }])
    });
    let spread = image::imageops::blur(&dots, 0.6);
    RgbImage::from_fn(photo.width(), photo.height(), |x, y| {
        let v = spread.get_pixel(x, y)[0] as f32;
        Rgb([v * 0.99, v * 0.96, v * 0.88].map(|c| c as u8))
    })
}

/// Screen rendering: brighter gamma, blue cast, RGB sub-pixel stripes and a pixel-grid moiré.
fn screen(photo: &image::GrayImage) -> RgbImage {
    let angle: f32 = 0.26;
    RgbImage::from_fn(photo.width(), photo.height(), |x, y| {
        let v = (photo.get_pixel(x, y)[0] as f32 / 255.0).powf(0.8) * 255.0;
        let phase = (x as f32 * angle.cos() + y as f32 * angle.sin()) / 3.3;
        let moire = 0.85 + 0.15 * (std::f32::consts::TAU * phase).cos();
        let stripe = |c: u32| if x % 3 == c { 1.0 } else { 0.82 };
        Rgb([
            (v * 0.92 * moire * stripe(0)).min(255.0) as u8,
            (v * 0.98 * moire * stripe(1)).min(255.0) as u8,
            (v * 1.08 * moire * stripe(2)).min(255.0) as u8,
        ])
    })
}

/// Adds a glare spot (a bright elliptical Gaussian) somewhere on the image.
fn glare(image: &mut RgbImage, rng: &mut Rng) {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let (cx, cy) = (w * (0.2 + 0.6 * rng.unit()), h * (0.2 + 0.6 * rng.unit()));
    let (sx, sy) = (w * 0.18, h * 0.12);
    for (x, y, p) in image.enumerate_pixels_mut() {
        let d = ((x as f32 - cx) / sx).powi(2) + ((y as f32 - cy) / sy).powi(2);
        let add = 150.0 * (-d).exp();
        for c in &mut p.0 {
            *c = (*c as f32 + add).min(255.0) as u8;
        }
    }
}

/// A frame of `border` px (paper margin or bezel) around the image.
fn framed(image: &RgbImage, border: u32, colour: [u8; 3]) -> RgbImage {
    let mut out = RgbImage::from_pixel(
        image.width() + 2 * border,
        image.height() + 2 * border,
        Rgb(colour),
    );
    image::imageops::replace(&mut out, image, border as i64, border as i64);
    out
}

/// Pastes `item` onto `frame` at (x, y), keystone-warped when `tilt` (top edge 75% of the bottom's
/// width, as a print leaning back), bilinear.
fn paste(frame: &mut RgbImage, item: &RgbImage, (x0, y0): (u32, u32), tilt: bool) {
    let (w, h) = (item.width() as f32, item.height() as f32);
    for v in 0..item.height() {
        let t = v as f32 / h;
        let row_scale = if tilt { 0.75 + 0.25 * t } else { 1.0 };
        let row_w = w * row_scale;
        let offset = (w - row_w) / 2.0;
        for u in 0..item.width() {
            let uf = u as f32;
            if uf < offset || uf >= offset + row_w {
                continue;
            }
            let su = ((uf - offset) / row_scale).clamp(0.0, w - 1.0);
            let sample = item.get_pixel(su as u32, v);
            let (fx, fy) = (x0 + u, y0 + v);
            if fx < frame.width() && fy < frame.height() {
                frame.put_pixel(fx, fy, *sample);
            }
        }
    }
}

/// `photo` pasted onto `frame` at (x0, y0) through a feathered elliptical mask, so no edge of the
/// photo shows: the head blends into the background as a person in the scene would.
fn blend(frame: &mut RgbImage, photo: &RgbImage, (x0, y0): (u32, u32)) {
    let (w, h) = (photo.width() as f32, photo.height() as f32);
    for (u, v, p) in photo.enumerate_pixels() {
        let (dx, dy) = ((u as f32 + 0.5) / w - 0.5, (v as f32 + 0.5) / h - 0.5);
        let r = ((dx / 0.46).powi(2) + (dy / 0.48).powi(2)).sqrt();
        let alpha = ((1.0 - r) / 0.15).clamp(0.0, 1.0);
        let (fx, fy) = (x0 + u, y0 + v);
        if alpha <= 0.0 || fx >= frame.width() || fy >= frame.height() {
            continue;
        }
        let q = frame.get_pixel_mut(fx, fy);
        for c in 0..3 {
            q.0[c] = (alpha * p.0[c] as f32 + (1.0 - alpha) * q.0[c] as f32) as u8;
        }
    }
}

fn render(photo: &image::GrayImage, how: Render, rng: &mut Rng) -> RgbImage {
    let full = |grey: &image::GrayImage| {
        image::imageops::resize(
            grey,
            SIDE * PHOTO_W / PHOTO_H,
            SIDE,
            image::imageops::FilterType::Triangle,
        )
    };
    match how {
        Render::AsIs => return image::DynamicImage::ImageLuma8(photo.clone()).to_rgb8(),
        Render::FullFrame => {
            return image::DynamicImage::ImageLuma8(full(photo)).to_rgb8();
        }
        Render::PrintFull => return halftone(&full(photo)),
        Render::ScreenFull => return screen(&full(photo)),
        _ => {}
    }
    let big = image::imageops::resize(
        photo,
        PHOTO_W,
        PHOTO_H,
        image::imageops::FilterType::Triangle,
    );
    let item = match how {
        Render::AsIs
        | Render::FullFrame
        | Render::PrintFull
        | Render::ScreenFull
        | Render::Blended
        | Render::Composited => image::DynamicImage::ImageLuma8(big).to_rgb8(),
        Render::Print | Render::PrintTilted | Render::PrintGlare => {
            let mut print = framed(&halftone(&big), 18, [238, 234, 222]);
            if how == Render::PrintGlare {
                glare(&mut print, rng);
            }
            print
        }
        Render::Screen | Render::ScreenGlare => {
            let mut shown = framed(&screen(&big), 22, [12, 12, 14]);
            if how == Render::ScreenGlare {
                glare(&mut shown, rng);
            }
            shown
        }
    };
    let mut frame = background(rng);
    let slack = |a: u32, b: u32| a.saturating_sub(b).max(1);
    let x = rng.next() % slack(SIDE, item.width());
    let y = rng.next() % slack(SIDE, item.height());
    if how == Render::Blended {
        blend(&mut frame, &item, (x, y));
    } else {
        paste(&mut frame, &item, (x, y), how == Render::PrintTilted);
    }
    frame
}

fn main() -> anyhow::Result<()> {
    let args = BenchArgs::from_env(&["--threshold"]);
    let threshold: f32 = args.value("--threshold")?.unwrap_or(0.5);
    let orl = args.orl_dir()?;
    let manifest = common::manifest()?;
    let mut engine = FaceEngine::load(&manifest, DetectorKind::Mtcnn)?;
    let mut liveness = LivenessModel::load(&manifest)?;
    println!(
        "live threshold {threshold}; 40 people × 10 photos per rendering; track = a person's 10 frames (median)"
    );
    println!(
        "{:<20} {:>9} {:>14} {:>14}",
        "rendering", "faces", "per frame", "per track"
    );
    let mut rng = Rng(0x1234_5678);
    for how in Render::ALL {
        let (mut frames, mut found) = (0usize, 0usize);
        let (mut below, mut tracks_below) = (0usize, 0usize);
        for person in 1..=40 {
            let mut scores = Vec::new();
            for shot in 1..=10 {
                let photo = image::open(orl.join(format!("s{person}/{shot}.pgm")))?.to_luma8();
                let frame = render(&photo, how, &mut rng);
                let view = RgbView {
                    width: frame.width() as usize,
                    height: frame.height() as usize,
                    data: frame.as_raw(),
                };
                frames += 1;
                let located = engine.locate(view)?;
                let Some((face, _)) = located
                    .into_iter()
                    .max_by(|a, b| a.0.area().total_cmp(&b.0.area()))
                else {
                    continue;
                };
                found += 1;
                let live = liveness.live_probability(view, &face)?;
                if live < threshold {
                    below += 1;
                }
                scores.push(live);
            }
            scores.sort_by(f32::total_cmp);
            if scores.get(scores.len() / 2).is_some_and(|m| *m < threshold) {
                tracks_below += 1;
            }
        }
        let label = if how.is_attack() {
            "detected"
        } else {
            "rejected"
        };
        println!(
            "{:<20} {:>4}/{frames} {label} {:>5.1}% {label} {:>5.1}% ({tracks_below}/40)",
            how.name(),
            found,
            100.0 * below as f64 / found.max(1) as f64,
            100.0 * tracks_below as f64 / 40.0
        );
    }
    Ok(())
}
