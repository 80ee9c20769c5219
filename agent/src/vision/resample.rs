//! Resampling a region of a frame to a model's input size: area averaging (a box filter over each
//! output pixel's footprint, like OpenCV's `INTER_AREA` that the MTCNN reference uses) when shrinking,
//! bilinear when enlarging, done with SIMD by `fast_image_resize` into buffers reused from call to call.
//! Parts of the region outside the frame read as black, as in the reference's zero padding.

use super::align::RgbView;
use super::preprocess::Region;
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

/// The grey level (ITU-R BT.601 luma) of each RGB pixel of `rgb`, e.g. of a resampled thumbnail.
pub fn grey_levels(rgb: &[u8]) -> impl Iterator<Item = u8> + '_ {
    rgb.chunks_exact(3)
        .map(|p| (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) as u8)
}

/// A region larger than this many frames' worth of pixels is refused (a corrupt box, not a face).
const MAX_PADDED_FRAMES: usize = 4;

/// Resamples frame regions into one reusable output buffer.
#[derive(Default)]
pub struct Resampler {
    resizer: Resizer,
    /// The region copied out with black around it, when it reaches past the frame's edges.
    padded: Vec<u8>,
    /// The last result.
    out: Vec<u8>,
}

impl Resampler {
    /// `region` of `frame` resampled to `width × height` RGB bytes. `None` when a size is zero, the
    /// region is not finite or absurdly large, or the frame's bytes are short.
    pub fn resample(
        &mut self,
        frame: RgbView<'_>,
        region: Region,
        width: usize,
        height: usize,
    ) -> Option<RgbView<'_>> {
        let finite = [region.x, region.y, region.width, region.height]
            .iter()
            .all(|v| v.is_finite());
        if width == 0
            || height == 0
            || frame.width == 0
            || frame.height == 0
            || !finite
            || region.width <= 0.0
            || region.height <= 0.0
        {
            return None;
        }
        let frame_bytes = frame.width.checked_mul(frame.height)?.checked_mul(3)?;
        let data = frame.data.get(..frame_bytes)?;
        let (fw, fh) = (frame.width as f32, frame.height as f32);
        let inside = region.x >= 0.0
            && region.y >= 0.0
            && region.x + region.width <= fw
            && region.y + region.height <= fh;
        let alg = if region.width >= width as f32 && region.height >= height as f32 {
            ResizeAlg::Convolution(FilterType::Box)
        } else {
            ResizeAlg::Convolution(FilterType::Bilinear)
        };
        let mut target = Image::from_vec_u8(
            u32::try_from(width).ok()?,
            u32::try_from(height).ok()?,
            Self::sized(std::mem::take(&mut self.out), width * height * 3),
            PixelType::U8x3,
        )
        .ok()?;
        let resized = if inside {
            let source = ImageRef::new(
                u32::try_from(frame.width).ok()?,
                u32::try_from(frame.height).ok()?,
                data,
                PixelType::U8x3,
            )
            .ok()?;
            let options = ResizeOptions::new().resize_alg(alg).crop(
                f64::from(region.x),
                f64::from(region.y),
                f64::from(region.width),
                f64::from(region.height),
            );
            self.resizer.resize(&source, &mut target, &options)
        } else {
            let (x0, y0) = (region.x.floor(), region.y.floor());
            let (pw, ph) = (
                ((region.x + region.width).ceil() - x0) as usize,
                ((region.y + region.height).ceil() - y0) as usize,
            );
            if pw.checked_mul(ph)? > MAX_PADDED_FRAMES * frame.width * frame.height + 4096 {
                return None;
            }
            self.padded.clear();
            self.padded.resize(pw * ph * 3, 0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            // The columns of the frame that fall inside the padded region.
            let first_x = x0.max(0);
            let last_x = (x0 + pw as isize).min(frame.width as isize);
            if first_x < last_x {
                for row in 0..ph {
                    let y = y0 + row as isize;
                    if y < 0 || y >= frame.height as isize {
                        continue;
                    }
                    let from = (y as usize * frame.width + first_x as usize) * 3;
                    let to = (row * pw + (first_x - x0) as usize) * 3;
                    let len = (last_x - first_x) as usize * 3;
                    self.padded[to..to + len].copy_from_slice(&data[from..from + len]);
                }
            }
            let source = ImageRef::new(
                u32::try_from(pw).ok()?,
                u32::try_from(ph).ok()?,
                &self.padded,
                PixelType::U8x3,
            )
            .ok()?;
            let options = ResizeOptions::new().resize_alg(alg).crop(
                f64::from(region.x) - x0 as f64,
                f64::from(region.y) - y0 as f64,
                f64::from(region.width),
                f64::from(region.height),
            );
            self.resizer.resize(&source, &mut target, &options)
        };
        self.out = target.into_vec();
        resized.ok()?;
        Some(RgbView {
            width,
            height,
            data: &self.out,
        })
    }

    /// `buffer` with exactly `len` bytes, keeping its allocation.
    fn sized(mut buffer: Vec<u8>, len: usize) -> Vec<u8> {
        buffer.resize(len, 0);
        buffer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(width: usize, height: usize, data: &[u8]) -> RgbView<'_> {
        RgbView {
            width,
            height,
            data,
        }
    }

    #[test]
    fn halving_averages_each_two_by_two_block() {
        // 4×2 frame: left block all 10/20/30, right block alternating 0 and 200 in red.
        let mut data = Vec::new();
        for _row in 0..2 {
            for x in 0..4 {
                if x < 2 {
                    data.extend([10, 20, 30]);
                } else {
                    data.extend([if x == 2 { 0 } else { 200 }, 0, 0]);
                }
            }
        }
        let frame = frame_of(4, 2, &data);
        let mut resampler = Resampler::default();
        let level = resampler
            .resample(frame, Region::whole(frame), 2, 1)
            .expect("valid sizes");
        assert_eq!((level.width, level.height), (2, 1));
        assert_eq!(&level.data[..3], &[10, 20, 30]);
        assert_eq!(level.data[3], 100);
    }

    #[test]
    fn a_region_inside_the_frame_is_cropped() {
        // 4×4 frame whose pixel (x, y) has red 10·x + 40·y; the 2×2 block at (2, 2) (100, 110, 140, 150) averages to 125.
        let data: Vec<u8> = (0..16)
            .flat_map(|i| [(10 * (i % 4) + 40 * (i / 4)) as u8, 0, 0])
            .collect();
        let frame = frame_of(4, 4, &data);
        let mut resampler = Resampler::default();
        let region = Region {
            x: 2.0,
            y: 2.0,
            width: 2.0,
            height: 2.0,
        };
        let out = resampler.resample(frame, region, 1, 1).expect("inside");
        assert_eq!(out.data, &[125, 0, 0]);
    }

    #[test]
    fn outside_the_frame_reads_as_black() {
        let data = vec![200u8; 4 * 4 * 3];
        let frame = frame_of(4, 4, &data);
        let mut resampler = Resampler::default();
        // The left half of the region is left of the frame.
        let region = Region {
            x: -4.0,
            y: 0.0,
            width: 8.0,
            height: 4.0,
        };
        let out = resampler.resample(frame, region, 2, 1).expect("padded");
        assert_eq!(out.data, &[0, 0, 0, 200, 200, 200]);
    }

    #[test]
    fn zero_sizes_short_frames_and_absurd_regions_are_refused() {
        let data = vec![0u8; 4 * 4 * 3];
        let frame = frame_of(4, 4, &data);
        let mut resampler = Resampler::default();
        assert!(
            resampler
                .resample(frame, Region::whole(frame), 0, 2)
                .is_none()
        );
        let short = frame_of(8, 8, &data);
        assert!(
            resampler
                .resample(short, Region::whole(short), 2, 2)
                .is_none()
        );
        let huge = Region {
            x: -1e6,
            y: -1e6,
            width: 2e6,
            height: 2e6,
        };
        assert!(resampler.resample(frame, huge, 2, 2).is_none());
        let nan = Region {
            x: f32::NAN,
            ..Region::whole(frame)
        };
        assert!(resampler.resample(frame, nan, 2, 2).is_none());
    }
}
