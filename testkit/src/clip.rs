//! A synthetic ward recording, for tests and the demo: face photos composited onto a ward-like
//! background (soft gradient, beds, per-frame sensor noise so a still scene is not a frozen stream) at
//! seats, each person present during the visits the plan gives. The plan is the ground truth of who was
//! in which seat when. Frames are written as JPEG files named in order, ready for a `folder` source.

use image::{Rgb, RgbImage};
use std::path::Path;
use wardwatch_protocol::Timestamp;

/// Someone in a seat from one time to another (seconds from the clip's start).
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    /// Index into the photos given to [`render`].
    pub photo: usize,
    /// Index into [`ClipPlan::seats`].
    pub seat: usize,
    /// Arrival, seconds from the start.
    pub from_secs: f64,
    /// Departure, seconds from the start.
    pub to_secs: f64,
}

/// Someone walking across the view in a straight line at a steady pace, from `from` (their photo's
/// top-left corner, pixels) at `from_secs` to `to` at `to_secs` (seconds from the clip's start), in
/// view in between and not before or after (walking in, through, or out of the picture).
#[derive(Debug, Clone, PartialEq)]
pub struct Walk {
    /// Index into the photos given to [`render_with_walks`].
    pub photo: usize,
    /// Where they are at `from_secs`.
    pub from: (u32, u32),
    /// Where they are at `to_secs`.
    pub to: (u32, u32),
    /// When they come into view.
    pub from_secs: f64,
    /// When they leave it.
    pub to_secs: f64,
}

impl Walk {
    /// Where the photo's top-left corner is at `t` seconds, `None` when out of view.
    pub fn at(&self, t: f64) -> Option<(u32, u32)> {
        if !(self.from_secs..self.to_secs).contains(&t) {
            return None;
        }
        let f = ((t - self.from_secs) / (self.to_secs - self.from_secs).max(1e-9)).clamp(0.0, 1.0);
        let lerp = |a: u32, b: u32| (a as f64 + (b as f64 - a as f64) * f).round().max(0.0) as u32;
        Some((lerp(self.from.0, self.to.0), lerp(self.from.1, self.to.1)))
    }
}

/// What the clip shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipPlan {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Capture time of the first frame.
    pub start: Timestamp,
    /// Seconds between frames.
    pub frame_secs: f64,
    /// How many frames.
    pub frames: usize,
    /// Where each seat's face goes (its photo's top-left corner), in pixels.
    pub seats: Vec<(u32, u32)>,
    /// The width photos are scaled to, in pixels.
    pub photo_width: u32,
    /// Who sits where when.
    pub visits: Vec<Visit>,
}

impl ClipPlan {
    /// Frames per second, as the folder source wants it.
    pub fn fps(&self) -> f64 {
        1.0 / self.frame_secs
    }

    /// Seconds from the start of frame `n`.
    pub fn frame_time(&self, n: usize) -> f64 {
        n as f64 * self.frame_secs
    }
}

/// A deterministic xorshift.
struct Noise(u32);

impl Noise {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

/// The empty ward: a soft gradient with two beds.
fn ward(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let v = 120.0 + 40.0 * x as f32 / width as f32 - 30.0 * y as f32 / height as f32;
        let bed = (y > height * 3 / 5)
            && ((width / 10..width * 4 / 10).contains(&x)
                || (width * 6 / 10..width * 9 / 10).contains(&x));
        if bed {
            Rgb([205, 208, 214])
        } else {
            Rgb([(v * 0.9) as u8, v as u8, (v * 1.05).min(255.0) as u8])
        }
    })
}

/// Pastes `photo` at (x0, y0) through a feathered oval so no photo edge shows.
fn blend(frame: &mut RgbImage, photo: &RgbImage, (x0, y0): (u32, u32)) {
    let (w, h) = (photo.width() as f32, photo.height() as f32);
    for (u, v, p) in photo.enumerate_pixels() {
        let (dx, dy) = ((u as f32 + 0.5) / w - 0.5, (v as f32 + 0.5) / h - 0.5);
        let r = ((dx / 0.46).powi(2) + (dy / 0.49).powi(2)).sqrt();
        let alpha = ((1.0 - r) / 0.12).clamp(0.0, 1.0);
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

/// Writes the clip's frames into `dir` (`frame-00000.jpg`, …). `photos` are the people's pictures the
/// visits refer to.
pub fn render(plan: &ClipPlan, photos: &[RgbImage], dir: &Path) -> Result<(), image::ImageError> {
    render_with_walks(plan, &[], photos, dir)
}

/// [`render`], with people walking through the view as well (`walks` refer to `photos` too).
pub fn render_with_walks(
    plan: &ClipPlan,
    walks: &[Walk],
    photos: &[RgbImage],
    dir: &Path,
) -> Result<(), image::ImageError> {
    std::fs::create_dir_all(dir).map_err(image::ImageError::IoError)?;
    let background = ward(plan.width, plan.height);
    let scaled: Vec<RgbImage> = photos
        .iter()
        .map(|p| {
            let height = (plan.photo_width as f32 * p.height() as f32 / p.width().max(1) as f32)
                .round() as u32;
            image::imageops::resize(
                p,
                plan.photo_width,
                height.max(1),
                image::imageops::FilterType::Triangle,
            )
        })
        .collect();
    let mut noise = Noise(0x9e37_79b9);
    for n in 0..plan.frames {
        let t = plan.frame_time(n);
        let mut frame = background.clone();
        for visit in &plan.visits {
            let (Some(photo), Some(&(x, y))) =
                (scaled.get(visit.photo), plan.seats.get(visit.seat))
            else {
                continue;
            };
            if (visit.from_secs..visit.to_secs).contains(&t) {
                // A person is never perfectly still.
                let jitter = |r: u32| (r % 5) as i64 - 2;
                let (jx, jy) = (jitter(noise.next()), jitter(noise.next()));
                let at = ((x as i64 + jx).max(0) as u32, (y as i64 + jy).max(0) as u32);
                blend(&mut frame, photo, at);
            }
        }
        for walk in walks {
            if let (Some(photo), Some(at)) = (scaled.get(walk.photo), walk.at(t)) {
                blend(&mut frame, photo, at);
            }
        }
        for p in frame.pixels_mut() {
            let n = (noise.next() % 7) as i16 - 3;
            for c in &mut p.0 {
                *c = (*c as i16 + n).clamp(0, 255) as u8;
            }
        }
        frame.save(dir.join(format!("frame-{n:05}.jpg")))?;
    }
    Ok(())
}
