//! Frame pixels → a model's input tensor: a region of the frame resized (bilinear, pixel centres
//! aligned; when shrinking, each output pixel averages a grid of samples over its footprint, close to
//! OpenCV's area resize) to the model's size, in its layout (NCHW, NHWC or MTCNN's transposed NWHC), colour order
//! (RGB, BGR or grey) and normalisation ((pixel − mean) / std), written into a caller's buffer.

use super::align::{RgbView, bilinear};
use super::manifest::{ColourOrder, InputSpec, Layout};

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

/// Fills `out` (`width × height × channels` values) with `region` of `frame` as `spec` wants it.
/// Returns `false` when `out` has the wrong length or the frame's bytes are short.
pub fn fill_input(
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
    let (sx, sy) = (region.width / width as f32, region.height / height as f32);
    // Samples per output pixel along each axis when shrinking (1 when enlarging).
    let (nx, ny) = (
        sx.ceil().clamp(1.0, 4.0) as usize,
        sy.ceil().clamp(1.0, 4.0) as usize,
    );
    let weight = 1.0 / (nx * ny) as f32;
    for v in 0..height {
        for u in 0..width {
            let (mut r, mut g, mut b) = (0.0, 0.0, 0.0);
            for j in 0..ny {
                let y = region.y + (v as f32 + (j as f32 + 0.5) / ny as f32) * sy - 0.5;
                for i in 0..nx {
                    let x = region.x + (u as f32 + (i as f32 + 0.5) / nx as f32) * sx - 0.5;
                    r += bilinear(frame, x, y, 0) * weight;
                    g += bilinear(frame, x, y, 1) * weight;
                    b += bilinear(frame, x, y, 2) * weight;
                }
            }
            for c in 0..channels {
                let pixel = match spec.colour_order {
                    ColourOrder::Rgb => [r, g, b][c],
                    ColourOrder::Bgr => [b, g, r][c],
                    ColourOrder::Grey => 0.299 * r + 0.587 * g + 0.114 * b,
                };
                let value = (pixel - spec.mean[c]) / spec.std[c];
                let index = match spec.layout {
                    Layout::Nchw => (c * height + v) * width + u,
                    Layout::Nhwc => (v * width + u) * channels + c,
                    Layout::Nwhc => (u * height + v) * channels + c,
                };
                out[index] = value;
            }
        }
    }
    true
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
            frame,
            Region::whole(frame),
            (2, 2),
            &spec(Layout::Nwhc, ColourOrder::Grey),
            &mut grey
        ));
    }
}
