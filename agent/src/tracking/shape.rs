//! The geometry of a face's 68 landmarks, for liveness over a track: how much of the change between
//! two samples is *not* explained by moving one flat picture (the residual after the best homography,
//! or after the best similarity transform), and how open the eyes are (eye aspect ratio).
//!
//! A photo or a screen is a plane: however it is moved, tilted or held at an angle, its landmarks in
//! two frames are related by a homography, so the residual after the best one is the landmark model's
//! jitter. A face is not: expressions, eyes, a turn of the head (a nose in front of the cheeks) leave a
//! residual. Residuals are divided by the shape's size (the root-mean-square distance of the points
//! from their centroid) so they do not depend on how far the face is from the camera.

/// 68 landmark points (iBUG 300-W order), in frame pixels.
pub type Points68 = [[f32; 2]; 68];

/// Root-mean-square distance of the points from their centroid (0 for fewer than one point).
pub fn shape_size(points: &[[f32; 2]]) -> f32 {
    let n = points.len().max(1) as f32;
    let (cx, cy) = centroid(points);
    (points
        .iter()
        .map(|p| (p[0] - cx).powi(2) + (p[1] - cy).powi(2))
        .sum::<f32>()
        / n)
        .sqrt()
}

fn centroid(points: &[[f32; 2]]) -> (f32, f32) {
    let n = points.len().max(1) as f32;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), p| (sx + p[0], sy + p[1]));
    (sx / n, sy / n)
}

/// Root-mean-square distance between `mapped` and `to`, divided by the size of `to`.
fn normalised_rms(mapped: impl Iterator<Item = [f64; 2]>, to: &[[f32; 2]]) -> Option<f32> {
    let size = shape_size(to);
    if size.is_nan() || size <= 1e-3 {
        return None;
    }
    let (mut sum, mut n) = (0.0f64, 0usize);
    for (m, t) in mapped.zip(to) {
        sum += (m[0] - f64::from(t[0])).powi(2) + (m[1] - f64::from(t[1])).powi(2);
        n += 1;
    }
    let rms = (sum / n.max(1) as f64).sqrt() as f32;
    rms.is_finite().then_some(rms / size)
}

/// The residual of `to` after the best (least-squares) similarity transform — rotation, uniform
/// scale, translation — of `from` onto it, as a fraction of `to`'s size. `None` for degenerate shapes.
pub fn similarity_residual(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<f32> {
    if from.len() != to.len() || from.len() < 2 {
        return None;
    }
    let (fx, fy) = centroid(from);
    let (tx, ty) = centroid(to);
    let (mut a, mut b, mut norm) = (0.0f64, 0.0f64, 0.0f64);
    for (p, q) in from.iter().zip(to) {
        let (px, py) = (f64::from(p[0] - fx), f64::from(p[1] - fy));
        let (qx, qy) = (f64::from(q[0] - tx), f64::from(q[1] - ty));
        a += px * qx + py * qy;
        b += px * qy - py * qx;
        norm += px * px + py * py;
    }
    if norm <= 1e-9 {
        return None;
    }
    let (c, s) = (a / norm, b / norm);
    let mapped = from.iter().map(|p| {
        let (px, py) = (f64::from(p[0] - fx), f64::from(p[1] - fy));
        [
            c * px - s * py + f64::from(tx),
            s * px + c * py + f64::from(ty),
        ]
    });
    normalised_rms(mapped, to)
}

/// Moves points to centroid 0 and mean distance √2 (Hartley's normalisation); returns the points and
/// (centroid x, centroid y, scale).
fn normalise(points: &[[f32; 2]]) -> (Vec<[f64; 2]>, (f64, f64, f64)) {
    let (cx, cy) = centroid(points);
    let (cx, cy) = (f64::from(cx), f64::from(cy));
    let mean = points
        .iter()
        .map(|p| ((f64::from(p[0]) - cx).powi(2) + (f64::from(p[1]) - cy).powi(2)).sqrt())
        .sum::<f64>()
        / points.len().max(1) as f64;
    let scale = if mean > 1e-9 {
        std::f64::consts::SQRT_2 / mean
    } else {
        1.0
    };
    (
        points
            .iter()
            .map(|p| {
                [
                    (f64::from(p[0]) - cx) * scale,
                    (f64::from(p[1]) - cy) * scale,
                ]
            })
            .collect(),
        (cx, cy, scale),
    )
}

/// Solves the square system `a x = b` (row-major `n × n`) by Gaussian elimination with partial
/// pivoting; `None` when singular.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot =
            (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[pivot * n + col].abs() < 1e-12 {
            return None;
        }
        if pivot != col {
            for k in 0..n {
                a.swap(pivot * n + k, col * n + k);
            }
            b.swap(pivot, col);
        }
        for row in col + 1..n {
            let f = a[row * n + col] / a[col * n + col];
            for k in col..n {
                a[row * n + k] -= f * a[col * n + k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let tail: f64 = (row + 1..n).map(|k| a[row * n + k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row * n + row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// The least-squares (algebraic, on Hartley-normalised points) homography taking `from` onto `to`,
/// row-major with the last entry 1; `None` for fewer than four points or a degenerate shape.
pub fn fit_homography(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<[f64; 9]> {
    if from.len() != to.len() || from.len() < 4 {
        return None;
    }
    let (p, (pcx, pcy, ps)) = normalise(from);
    let (q, (qcx, qcy, qs)) = normalise(to);
    // h = (h11 h12 h13 h21 h22 h23 h31 h32), h33 = 1; two equations per point; normal equations.
    let mut ata = vec![0.0f64; 64];
    let mut atb = vec![0.0f64; 8];
    for (p, q) in p.iter().zip(&q) {
        let (x, y, u, v) = (p[0], p[1], q[0], q[1]);
        let rows = [
            ([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y], u),
            ([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y], v),
        ];
        for (row, rhs) in rows {
            for i in 0..8 {
                atb[i] += row[i] * rhs;
                for j in 0..8 {
                    ata[i * 8 + j] += row[i] * row[j];
                }
            }
        }
    }
    let h = solve(ata, atb)?;
    // Undo the normalisations: H = Tq⁻¹ · Hn · Tp.
    let hn = [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0];
    let tp = [ps, 0.0, -ps * pcx, 0.0, ps, -ps * pcy, 0.0, 0.0, 1.0];
    let tq_inv = [1.0 / qs, 0.0, qcx, 0.0, 1.0 / qs, qcy, 0.0, 0.0, 1.0];
    let m = multiply(&multiply(&tq_inv, &hn), &tp);
    (m[8].abs() > 1e-12).then(|| m.map(|v| v / m[8]))
}

/// The product of two row-major 3×3 matrices.
pub fn multiply(a: &[f64; 9], b: &[f64; 9]) -> [f64; 9] {
    std::array::from_fn(|k| {
        let (r, c) = (k / 3, k % 3);
        (0..3).map(|i| a[r * 3 + i] * b[i * 3 + c]).sum()
    })
}

/// `h` applied to the point (x, y).
pub fn apply(h: &[f64; 9], x: f64, y: f64) -> [f64; 2] {
    let w = h[6] * x + h[7] * y + h[8];
    let w = if w.abs() < 1e-12 { 1e-12 } else { w };
    [
        (h[0] * x + h[1] * y + h[2]) / w,
        (h[3] * x + h[4] * y + h[5]) / w,
    ]
}

/// The residual of `to` after the best homography of `from` onto it ([`fit_homography`]) — what
/// remains once any movement of a flat picture (translation, rotation, scale, tilt, perspective) is
/// taken out — as a fraction of `to`'s size. `None` for degenerate shapes or fewer than five points
/// (four always fit exactly).
pub fn homography_residual(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<f32> {
    if from.len() < 5 {
        return None;
    }
    let h = fit_homography(from, to)?;
    let mapped = from
        .iter()
        .map(|p| apply(&h, f64::from(p[0]), f64::from(p[1])));
    normalised_rms(mapped, to)
}

/// Eye aspect ratio of one eye's six points (corner, two upper lid, corner, two lower lid): the lids'
/// mean distance over the corners' distance. About 0.25–0.35 open, under 0.15 shut.
fn eye_aspect(eye: &[[f32; 2]]) -> Option<f32> {
    let d = |a: usize, b: usize| distance(eye[a], eye[b]);
    let width = d(0, 3);
    (width > 1e-3).then(|| (d(1, 5) + d(2, 4)) / (2.0 * width))
}

fn mean_of(points: &[[f32; 2]]) -> [f32; 2] {
    let (x, y) = centroid(points);
    [x, y]
}

fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// How open the eyes are: the mean eye aspect ratio of both eyes (points 36–41 and 42–47), divided by
/// the face's own proportion (eyes-to-mouth distance over the distance between the eyes). The division
/// cancels what tilting a flat picture does to every vertical (or horizontal) distance at once, so a
/// photo leaning back does not look like closing eyes; a real blink moves the lids alone.
pub fn eye_openness(points: &Points68) -> Option<f32> {
    let left = eye_aspect(&points[36..42])?;
    let right = eye_aspect(&points[42..48])?;
    let (le, re) = (mean_of(&points[36..42]), mean_of(&points[42..48]));
    let eyes = distance(le, re);
    let mid = [(le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0];
    let proportion = distance(mid, mean_of(&points[48..68])) / eyes.max(1e-3);
    (eyes > 1e-3 && proportion > 1e-3).then(|| (left + right) / 2.0 / proportion)
}

/// A face-like 68-point shape for tests, about 100 px across: a wobbly closed curve (on no line or
/// conic) with two eyes 40 px apart at y = 40 whose lids are `lid` px from the eye line.
#[cfg(test)]
pub(crate) fn test_face(lid: f32) -> Points68 {
    let mut p = [[0.0f32; 2]; 68];
    for (i, q) in p.iter_mut().enumerate() {
        let t = i as f32 / 67.0 * std::f32::consts::TAU;
        *q = [
            50.0 + 45.0 * t.cos() + 3.0 * (3.0 * t).sin(),
            60.0 + 55.0 * t.sin() + 4.0 * (5.0 * t).cos(),
        ];
    }
    let eye = |x0: f32| {
        [
            [x0, 40.0],
            [x0 + 5.0, 40.0 - lid],
            [x0 + 10.0, 40.0 - lid],
            [x0 + 15.0, 40.0],
            [x0 + 10.0, 40.0 + lid],
            [x0 + 5.0, 40.0 + lid],
        ]
    };
    p[36..42].copy_from_slice(&eye(20.0));
    p[42..48].copy_from_slice(&eye(60.0));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warp(points: &Points68, h: [f32; 8]) -> Points68 {
        points.map(|[x, y]| {
            let w = h[6] * x + h[7] * y + 1.0;
            [
                (h[0] * x + h[1] * y + h[2]) / w,
                (h[3] * x + h[4] * y + h[5]) / w,
            ]
        })
    }

    #[test]
    fn a_plane_moved_in_perspective_leaves_no_residual_after_a_homography() {
        let a = test_face(2.25);
        let b = warp(&a, [0.9, 0.15, 30.0, -0.1, 1.05, -12.0, 0.0012, -0.0008]);
        let h = homography_residual(&a, &b).expect("fit");
        assert!(h < 1e-3, "{h}");
        // A similarity cannot take out the perspective.
        let s = similarity_residual(&a, &b).expect("fit");
        assert!(s > 0.02, "{s}");
    }

    #[test]
    fn a_rotated_and_scaled_shape_leaves_no_residual_after_a_similarity() {
        let a = test_face(2.25);
        let (c, s) = (0.3f32.cos() * 1.4, 0.3f32.sin() * 1.4);
        let b = warp(&a, [c, -s, 5.0, s, c, 7.0, 0.0, 0.0]);
        assert!(similarity_residual(&a, &b).expect("fit") < 1e-4);
        assert!(homography_residual(&a, &b).expect("fit") < 1e-4);
    }

    #[test]
    fn moving_a_few_points_on_their_own_leaves_a_residual() {
        let a = test_face(2.25);
        let mut b = a;
        // The "mouth" opens: eight points move down by 8 px (about a tenth of the face).
        for q in &mut b[60..68] {
            q[1] += 8.0;
        }
        let h = homography_residual(&a, &b).expect("fit");
        assert!(h > 0.03, "{h}");
    }

    #[test]
    fn degenerate_shapes_have_no_residual() {
        let same = [[10.0f32, 10.0]; 68];
        assert_eq!(homography_residual(&same, &same), None);
        assert_eq!(similarity_residual(&same, &same), None);
        assert_eq!(
            homography_residual(&test_face(2.25)[..4], &test_face(2.25)[..4]),
            None
        );
    }

    #[test]
    fn eye_openness_is_the_lids_over_the_corners() {
        // Eye centres 40 px apart at y = 40; the mouth's points centred 40 px below them.
        let with_mouth = |lid: f32| {
            let mut p = test_face(lid);
            for (k, q) in p[48..68].iter_mut().enumerate() {
                *q = [47.5 + (k as f32 - 9.5), 80.0];
            }
            p
        };
        let open = eye_openness(&with_mouth(2.25)).expect("eyes");
        assert!((open - 0.3).abs() < 1e-5, "{open}");
        // A flat picture squashed vertically: lids and proportion shrink together.
        let squashed = with_mouth(2.25).map(|[x, y]| [x, y * 0.7]);
        let tilted = eye_openness(&squashed).expect("eyes");
        assert!((tilted - 0.3).abs() < 1e-4, "{tilted}");
        assert!(eye_openness(&with_mouth(0.3)).expect("eyes") < 0.05);
    }
}
