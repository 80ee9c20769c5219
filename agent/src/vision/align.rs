//! Face alignment: the similarity transform (scale, rotation, translation; no shear, no reflection) that
//! best maps five detected landmarks onto the recogniser's template, and the warp of the face into the
//! template's frame (112×112 for ArcFace-style recognisers) with bilinear sampling into a reused buffer.

/// The ArcFace 112×112 five-point template (x, y): left eye, right eye, nose tip, left and right mouth
/// corner (as in models/manifest.toml).
pub const ARCFACE_112: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// `p' = [a −b; b a]·p + t`: a similarity transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// scale·cos(θ).
    pub a: f32,
    /// scale·sin(θ).
    pub b: f32,
    /// Translation x.
    pub tx: f32,
    /// Translation y.
    pub ty: f32,
}

impl Similarity {
    /// The least-squares similarity mapping `from[i]` onto `to[i]` (closed form). `None` when the
    /// source points coincide.
    pub fn estimate(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<Similarity> {
        let n = from.len().min(to.len());
        if n < 2 {
            return None;
        }
        let mean = |points: &[[f32; 2]]| {
            let (sx, sy) = points[..n].iter().fold((0.0f64, 0.0f64), |(x, y), p| {
                (x + f64::from(p[0]), y + f64::from(p[1]))
            });
            (sx / n as f64, sy / n as f64)
        };
        let (fx, fy) = mean(from);
        let (tx, ty) = mean(to);
        let (mut dot, mut cross, mut norm) = (0.0f64, 0.0f64, 0.0f64);
        for (p, q) in from[..n].iter().zip(&to[..n]) {
            let (x, y) = (f64::from(p[0]) - fx, f64::from(p[1]) - fy);
            let (u, v) = (f64::from(q[0]) - tx, f64::from(q[1]) - ty);
            dot += x * u + y * v;
            cross += x * v - y * u;
            norm += x * x + y * y;
        }
        if norm < 1e-9 {
            return None;
        }
        let (a, b) = (dot / norm, cross / norm);
        Some(Similarity {
            a: a as f32,
            b: b as f32,
            tx: (tx - (a * fx - b * fy)) as f32,
            ty: (ty - (b * fx + a * fy)) as f32,
        })
    }

    /// Maps a point.
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    /// The inverse transform (`None` for a zero scale).
    pub fn inverse(&self) -> Option<Similarity> {
        let det = self.a * self.a + self.b * self.b;
        if det < 1e-12 {
            return None;
        }
        let (a, b) = (self.a / det, -self.b / det);
        Some(Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        })
    }

    /// The scale factor.
    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }
}

/// An interleaved 8-bit RGB image borrowed from a frame.
#[derive(Debug, Clone, Copy)]
pub struct RgbView<'a> {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width × height × 3` bytes, row by row.
    pub data: &'a [u8],
}

/// Bilinear sample of channel `c` at (x, y); outside the frame is 0 (black).
pub(crate) fn bilinear(frame: RgbView<'_>, x: f32, y: f32, c: usize) -> f32 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as isize, y0 as isize);
    let (w, h) = (frame.width as isize, frame.height as isize);
    let at = |x: isize, y: isize| -> f32 {
        if x < 0 || y < 0 || x >= w || y >= h {
            0.0
        } else {
            f32::from(frame.data[(y as usize * frame.width + x as usize) * 3 + c])
        }
    };
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
    let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Warps the face that `to_template` maps onto the template into `out` (`size × size × 3` RGB bytes,
/// reused between faces): each output pixel samples the source bilinearly; outside the frame is black.
/// Returns `false` (and leaves `out` untouched) when the transform cannot be inverted or the buffer has
/// the wrong size.
pub fn warp(frame: RgbView<'_>, to_template: &Similarity, size: usize, out: &mut [u8]) -> bool {
    let Some(back) = to_template.inverse() else {
        return false;
    };
    if out.len() != size * size * 3 || frame.data.len() < frame.width * frame.height * 3 {
        return false;
    }
    for v in 0..size {
        for u in 0..size {
            let [sx, sy] = back.apply([u as f32, v as f32]);
            for c in 0..3 {
                let value = bilinear(frame, sx, sy, c);
                out[(v * size + u) * 3 + c] = value.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_similarity_is_recovered_exactly() {
        let truth = Similarity {
            a: 0.8 * 0.3f32.cos(),
            b: 0.8 * 0.3f32.sin(),
            tx: 12.0,
            ty: -7.5,
        };
        let from: Vec<[f32; 2]> = ARCFACE_112
            .iter()
            .map(|p| [p[0] * 3.0 + 100.0, p[1] * 2.5 + 40.0])
            .collect();
        let to: Vec<[f32; 2]> = from.iter().map(|p| truth.apply(*p)).collect();
        let got = Similarity::estimate(&from, &to).expect("estimate");
        for (p, q) in from.iter().zip(&to) {
            let m = got.apply(*p);
            assert!(
                (m[0] - q[0]).abs() < 1e-3 && (m[1] - q[1]).abs() < 1e-3,
                "{m:?} vs {q:?}"
            );
        }
        let back = got.inverse().expect("invertible");
        let round = back.apply(got.apply([5.0, 9.0]));
        assert!((round[0] - 5.0).abs() < 1e-3 && (round[1] - 9.0).abs() < 1e-3);
        assert!(Similarity::estimate(&[[1.0, 1.0]; 5], &ARCFACE_112).is_none());
    }

    #[test]
    fn warping_with_the_identity_copies_and_outside_is_black() {
        let (w, h) = (8usize, 8usize);
        let data: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
        let frame = RgbView {
            width: w,
            height: h,
            data: &data,
        };
        let identity = Similarity {
            a: 1.0,
            b: 0.0,
            tx: 0.0,
            ty: 0.0,
        };
        let mut out = vec![0u8; 8 * 8 * 3];
        assert!(warp(frame, &identity, 8, &mut out));
        assert_eq!(out, data);
        let shifted = Similarity {
            a: 1.0,
            b: 0.0,
            tx: 4.0,
            ty: 0.0,
        };
        assert!(warp(frame, &shifted, 8, &mut out));
        assert_eq!(&out[..3], &[0, 0, 0], "left of the frame is black");
        assert_eq!(&out[4 * 3..5 * 3], &data[..3]);
        assert!(!warp(frame, &identity, 9, &mut out), "wrong buffer size");
    }
}
