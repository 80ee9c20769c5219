//! Frame pixels → a model's input tensor: a region of the frame resampled to the model's size
//! ([`super::resample`]: area averaging when shrinking, bilinear when enlarging, outside the frame black),
//! then written in its layout (NCHW, NHWC or MTCNN's transposed NWHC), colour order (RGB, BGR or grey) and
//! normalisation ((pixel − mean) / std) into a caller's buffer.

use super::align::RgbView;
use super::manifest::{ColourOrder, InputSpec, Layout};
use super::resample::Resampler;

/// A rectangle of the frame in pixels; parts outside the frame read as black.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    /// Left.
    pub x: f32,
    /// Top.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

impl Region {
    /// A `width × height` region centred on `face`'s centre, shifted back inside the frame where it fits.
    pub fn centred_on(
        face: &super::boxes::FaceBox,
        width: f32,
        height: f32,
        frame: RgbView<'_>,
    ) -> Region {
        let (cx, cy) = ((face.x1 + face.x2) / 2.0, (face.y1 + face.y2) / 2.0);
        Region {
            x: (cx - width / 2.0).clamp(0.0, (frame.width as f32 - width).max(0.0)),
            y: (cy - height / 2.0).clamp(0.0, (frame.height as f32 - height).max(0.0)),
            width,
            height,
        }
    }

    /// The whole frame.
    pub fn whole(frame: RgbView<'_>) -> Region {
        Region {
            x: 0.0,
            y: 0.0,
            width: frame.width as f32,
            height: frame.height as f32,
        }
    }
}

/// Fills `out` (`width × height × channels` values) with `region` of `frame` as `spec` wants it,
/// resampling through `resampler` (whose buffers are reused). Returns `false` when `out` has the wrong
/// length, the frame's bytes are short, or the region cannot be resampled (empty, not finite).
pub fn fill_input(
    resampler: &mut Resampler,
    frame: RgbView<'_>,
    region: Region,
    (width, height): (usize, usize),
    spec: &InputSpec,
    out: &mut [f32],
) -> bool {
    let channels = if spec.colour_order == ColourOrder::Grey {
        1
    } else {
        3
    };
    if out.len() != width * height * channels || frame.data.len() < frame.width * frame.height * 3 {
        return false;
    }
    if region == Region::whole(frame) && (frame.width, frame.height) == (width, height) {
        copy_pixels(frame, spec, channels, out);
        return true;
    }
    match resampler.resample(frame, region, width, height) {
        Some(resampled) => {
            copy_pixels(resampled, spec, channels, out);
            true
        }
        None => false,
    }
}

/// Writes every pixel of `frame` (already at the model's size) in `spec`'s layout, colour order and
/// normalisation.
fn copy_pixels(frame: RgbView<'_>, spec: &InputSpec, channels: usize, out: &mut [f32]) {
    let (width, height) = (frame.width, frame.height);
    for v in 0..height {
        let row = &frame.data[v * width * 3..(v + 1) * width * 3];
        for (u, rgb) in row.chunks_exact(3).enumerate() {
            let (r, g, b) = (rgb[0] as f32, rgb[1] as f32, rgb[2] as f32);
            for c in 0..channels {
                let pixel = match spec.colour_order {
                    ColourOrder::Rgb => [r, g, b][c],
                    ColourOrder::Bgr => [b, g, r][c],
                    ColourOrder::Grey => 0.299 * r + 0.587 * g + 0.114 * b,
                };
                let index = match spec.layout {
                    Layout::Nchw => (c * height + v) * width + u,
                    Layout::Nhwc => (v * width + u) * channels + c,
                    Layout::Nwhc => (u * height + v) * channels + c,
                };
                out[index] = (pixel - spec.mean[c]) / spec.std[c];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(layout: Layout, colour_order: ColourOrder) -> InputSpec {
        let n = if colour_order == ColourOrder::Grey {
            1
        } else {
            3
        };
        InputSpec {
            name: "input".into(),
            dims: vec![],
            shape: vec![],
            layout,
            dtype: "f32".into(),
            colour_order,
            mean: vec![100.0; n],
            std: vec![2.0; n],
            normalisation: "mean_std".into(),
        }
    }

    #[test]
    fn layouts_colours_and_normalisation() {
        // A 2×1 frame: a red pixel then a blue one.
        let data = [200, 100, 100, 100, 100, 200];
        let frame = RgbView {
            width: 2,
            height: 1,
            data: &data,
        };
        let mut out = vec![0.0; 6];
        assert!(fill_input(
            &mut Resampler::default(),
            frame,
            Region::whole(frame),
            (2, 1),
            &spec(Layout::Nchw, ColourOrder::Rgb),
            &mut out
        ));
        assert_eq!(
            out,
            [50.0, 0.0, 0.0, 0.0, 0.0, 50.0],
            "R plane, G plane, B plane"
        );
        assert!(fill_input(
            &mut Resampler::default(),
            frame,
            Region::whole(frame),
            (2, 1),
            &spec(Layout::Nhwc, ColourOrder::Bgr),
            &mut out
        ));
        assert_eq!(
            out,
            [0.0, 0.0, 50.0, 50.0, 0.0, 0.0],
            "pixel by pixel, B G R"
        );
        // NWHC on a 1×2 frame (one column): the transposed image.
        let tall = [10, 10, 10, 30, 30, 30];
        let frame = RgbView {
            width: 1,
            height: 2,
            data: &tall,
        };
        let mut grey = vec![0.0; 2];
        assert!(fill_input(
            &mut Resampler::default(),
            frame,
            Region::whole(frame),
            (1, 2),
            &spec(Layout::Nwhc, ColourOrder::Grey),
            &mut grey
        ));
        assert!(
            (grey[0] + 45.0).abs() < 1e-3 && (grey[1] + 35.0).abs() < 1e-3,
            "{grey:?}"
        );
        assert!(!fill_input(
            &mut Resampler::default(),
            frame,
            Region::whole(frame),
            (2, 2),
            &spec(Layout::Nwhc, ColourOrder::Grey),
            &mut grey
        ));
    }
}
