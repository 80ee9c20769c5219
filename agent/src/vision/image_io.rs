//! Reading still images (JPEG, PNG, PGM/PPM) into RGB frames with bounded memory: the decoder refuses
//! images larger than [`MAX_SIDE`] pixels a side or [`MAX_DECODE_BYTES`] decoded, grey and RGBA are
//! converted to RGB, and every failure names the file and what was wrong.

use super::align::RgbView;
use std::path::{Path, PathBuf};

/// Longest side accepted, in pixels.
pub const MAX_SIDE: u32 = 12_000;
/// Most memory the decoder may allocate.
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// An owned RGB frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width × height × 3` bytes.
    pub data: Vec<u8>,
}

impl Frame {
    /// A borrowed view.
    pub fn view(&self) -> RgbView<'_> {
        RgbView {
            width: self.width,
            height: self.height,
            data: &self.data,
        }
    }

    /// This frame inside a margin of `share` of its width (left and right) and of its height (top and
    /// bottom), filled by repeating the nearest edge pixel: the context a tightly cropped portrait
    /// lacks around the face. A share that is not a positive number adds nothing.
    pub fn with_margin(&self, share: f32) -> Frame {
        let share = if share.is_finite() {
            share.max(0.0)
        } else {
            0.0
        };
        let (mx, my) = (
            (self.width as f32 * share).round() as usize,
            (self.height as f32 * share).round() as usize,
        );
        let (width, height) = (self.width + 2 * mx, self.height + 2 * my);
        let mut data = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            let sy = y.saturating_sub(my).min(self.height.saturating_sub(1));
            let row = &self.data[sy * self.width * 3..(sy + 1) * self.width * 3];
            for x in 0..width {
                let sx = x.saturating_sub(mx).min(self.width.saturating_sub(1));
                data.extend_from_slice(&row[sx * 3..sx * 3 + 3]);
            }
        }
        Frame {
            width,
            height,
            data,
        }
    }
}

/// An image could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a decodable image (truncated, corrupt, unknown format) or over the limits.
    #[error("{path}: not a usable image: {message}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's reason.
        message: String,
    },
    /// No pixels.
    #[error("{path}: the image has no pixels ({width}×{height})")]
    Empty {
        /// The file.
        path: PathBuf,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
}

/// Reads an image file into an RGB frame.
pub fn load_rgb(path: &Path) -> Result<Frame, ImageError> {
    let decode = |message: String| ImageError::Decode {
        path: path.to_owned(),
        message,
    };
    let mut reader = image::ImageReader::open(path)
        .map_err(|source| ImageError::Read {
            path: path.to_owned(),
            source,
        })?
        .with_guessed_format()
        .map_err(|source| ImageError::Read {
            path: path.to_owned(),
            source,
        })?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| decode(e.to_string()))?;
    let rgb = image.to_rgb8();
    let (width, height) = rgb.dimensions();
    if width == 0 || height == 0 {
        return Err(ImageError::Empty {
            path: path.to_owned(),
            width,
            height,
        });
    }
    Ok(Frame {
        width: width as usize,
        height: height as usize,
        data: rgb.into_raw(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_by_one() -> Frame {
        Frame {
            width: 2,
            height: 1,
            data: vec![1, 2, 3, 4, 5, 6],
        }
    }

    #[test]
    fn a_margin_repeats_the_nearest_edge_pixel_all_round() {
        let framed = two_by_one().with_margin(0.5);
        assert_eq!((framed.width, framed.height), (4, 3));
        let pixel = |x: usize, y: usize| &framed.data[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3];
        for y in 0..3 {
            assert_eq!(pixel(0, y), [1, 2, 3], "left margin, row {y}");
            assert_eq!(pixel(1, y), [1, 2, 3], "the photo's left pixel, row {y}");
            assert_eq!(pixel(2, y), [4, 5, 6], "the photo's right pixel, row {y}");
            assert_eq!(pixel(3, y), [4, 5, 6], "right margin, row {y}");
        }
    }

    #[test]
    fn no_margin_or_a_nonsense_one_leaves_the_frame_as_it_is() {
        for share in [0.0, -0.3, f32::NAN, f32::INFINITY] {
            assert_eq!(
                two_by_one().with_margin(share),
                two_by_one(),
                "share {share}"
            );
        }
    }
}
