//! What one frame says about its camera: a small grey thumbnail for brightness, contrast and the
//! comparison with the camera's reference view, and a sparse grid of raw pixels to tell a stuck stream
//! (bit-identical frames) from a quiet ward (sensor noise changes pixels every frame).

use crate::vision::align::RgbView;
use crate::vision::preprocess::Region;
use crate::vision::resample::{Resampler, grey_levels};

/// Thumbnail width and height (16:9).
pub const THUMB_W: usize = 64;
/// Thumbnail height.
pub const THUMB_H: usize = 36;
/// Raw pixels sampled across the frame for the frozen test (a grid of about this many).
const GRID_SAMPLES: usize = 4096;

/// Measures of one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameMeasure {
    /// Grey thumbnail, `THUMB_W × THUMB_H`, row by row.
    pub thumbnail: Vec<u8>,
    /// Mean grey level of the thumbnail (0..255).
    pub mean: f32,
    /// Standard deviation of the thumbnail's grey levels.
    pub spread: f32,
    /// Raw RGB bytes on a sparse grid.
    pub grid: Vec<u8>,
}

/// Makes [`FrameMeasure`]s, reusing its buffers.
#[derive(Default)]
pub struct Measurer {
    resampler: Resampler,
}

impl Measurer {
    /// Measures `frame`; `None` when it has no pixels.
    pub fn measure(&mut self, frame: RgbView<'_>) -> Option<FrameMeasure> {
        let small = self
            .resampler
            .resample(frame, Region::whole(frame), THUMB_W, THUMB_H)?;
        let thumbnail: Vec<u8> = grey_levels(small.data).collect();
        let n = thumbnail.len() as f32;
        let mean = thumbnail.iter().map(|&v| v as f32).sum::<f32>() / n;
        let spread = (thumbnail
            .iter()
            .map(|&v| (v as f32 - mean).powi(2))
            .sum::<f32>()
            / n)
            .sqrt();
        let step = ((frame.width * frame.height / GRID_SAMPLES) as f64)
            .sqrt()
            .max(1.0) as usize;
        let mut grid = Vec::with_capacity(GRID_SAMPLES * 3 + 64);
        for y in (step / 2..frame.height).step_by(step) {
            for x in (step / 2..frame.width).step_by(step) {
                let i = (y * frame.width + x) * 3;
                grid.extend_from_slice(frame.data.get(i..i + 3)?);
            }
        }
        Some(FrameMeasure {
            thumbnail,
            mean,
            spread,
            grid,
        })
    }
}

/// Zero-mean normalised cross-correlation of two thumbnails, in [-1, 1]; 0 when either is flat.
pub fn correlation(a: &[u8], b: &[u8]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let n = a.len() as f32;
    let ma = a.iter().map(|&v| v as f32).sum::<f32>() / n;
    let mb = b.iter().map(|&v| v as f32).sum::<f32>() / n;
    let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f32 - ma, y as f32 - mb);
        ab += dx * dy;
        aa += dx * dx;
        bb += dy * dy;
    }
    if aa <= f32::EPSILON || bb <= f32::EPSILON {
        0.0
    } else {
        ab / (aa * bb).sqrt()
    }
}
