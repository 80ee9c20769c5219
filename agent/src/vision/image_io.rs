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
