//! The quality gate: whether a detected face is worth embedding, and if not, why. Measured from the five
//! landmarks (size, roll, yaw, pitch) and from the aligned crop (sharpness as the variance of the
//! Laplacian, exposure as mean brightness and the share of clipped pixels). The default thresholds are
//! provisional, set from the ArcFace template's geometry and common practice; the accuracy bench on ORL is
//! where they get calibrated.

use super::align::ARCFACE_112;

/// What was measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Distance between the eyes in frame pixels.
    pub eye_distance_px: f32,
    /// Head roll (eye line angle), degrees.
    pub roll_deg: f32,
    /// Yaw proxy: the nose's horizontal offset from the eyes' midpoint, in eye distances (0 frontal).
    pub yaw: f32,
    /// Pitch proxy: the nose's height between eyes (0) and mouth (1), minus the template's.
    pub pitch: f32,
    /// Variance of the Laplacian of the aligned crop's grey values.
    pub sharpness: f32,
    /// Mean grey value of the aligned crop's centre, 0–255.
    pub brightness: f32,
    /// Share of the crop's centre that is black (≤ 5) or white (≥ 250).
    pub clipped: f32,
}

impl Quality {
    /// A weight in (0, 1] for combining several embeddings of one face (enrolment photos, a track's
    /// recognitions): 1 for a frontal, upright, sharp face with eyes ≥ 40 px apart, falling with yaw,
    /// pitch, roll, blur and size. Each factor is floored so that no embedding counts for nothing.
    pub fn weight(&self) -> f32 {
        let falling = |value: f32, zero_at: f32| (1.0 - value.abs() / zero_at).clamp(0.1, 1.0);
        let rising = |value: f32, full_at: f32| (value / full_at).clamp(0.1, 1.0);
        let w = falling(self.yaw, 0.5)
            * falling(self.pitch, 0.3)
            * falling(self.roll_deg, 45.0)
            * rising(self.sharpness, 60.0)
            * rising(self.eye_distance_px, 40.0);
        if w.is_finite() { w.max(1e-3) } else { 1e-3 }
    }
}

/// Why a face is skipped.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum SkipReason {
    /// Too small to recognise.
    #[error("too small: eyes {0:.1} px apart")]
    TooSmall(f32),
    /// Head tilted sideways.
    #[error("head rolled {0:.0}°")]
    Rolled(f32),
    /// Head turned left or right.
    #[error("head turned (yaw {0:.2})")]
    Turned(f32),
    /// Head tilted up or down.
    #[error("head tilted up or down (pitch {0:.2})")]
    Tilted(f32),
    /// Motion or focus blur.
    #[error("blurred (sharpness {0:.0})")]
    Blurred(f32),
    /// Too dark.
    #[error("too dark (brightness {0:.0})")]
    TooDark(f32),
    /// Too bright.
    #[error("too bright (brightness {0:.0})")]
    TooBright(f32),
    /// Burnt-out or crushed pixels.
    #[error("clipped exposure ({:.0}% of the face)", .0 * 100.0)]
    Clipped(f32),
}

/// Thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityPolicy {
    /// Minimum eye distance (a 40-pixel face has its eyes about 15 px apart).
    pub min_eye_distance_px: f32,
    /// Maximum |roll|, degrees.
    pub max_roll_deg: f32,
    /// Maximum |yaw|.
    pub max_yaw: f32,
    /// Maximum |pitch|.
    pub max_pitch: f32,
    /// Minimum sharpness.
    pub min_sharpness: f32,
    /// Brightness range.
    pub brightness: (f32, f32),
    /// Maximum clipped share.
    pub max_clipped: f32,
}

impl Default for QualityPolicy {
    fn default() -> Self {
        QualityPolicy {
            min_eye_distance_px: 14.0,
            max_roll_deg: 30.0,
            max_yaw: 0.35,
            max_pitch: 0.2,
            min_sharpness: 15.0,
            brightness: (35.0, 225.0),
            max_clipped: 0.3,
        }
    }
}

impl QualityPolicy {
    /// The first reason to skip, or `Ok`.
    pub fn check(&self, q: &Quality) -> Result<(), SkipReason> {
        if q.eye_distance_px < self.min_eye_distance_px {
            return Err(SkipReason::TooSmall(q.eye_distance_px));
        }
        if q.roll_deg.abs() > self.max_roll_deg {
            return Err(SkipReason::Rolled(q.roll_deg));
        }
        if q.yaw.abs() > self.max_yaw {
            return Err(SkipReason::Turned(q.yaw));
        }
        if q.pitch.abs() > self.max_pitch {
            return Err(SkipReason::Tilted(q.pitch));
        }
        if q.brightness < self.brightness.0 {
            return Err(SkipReason::TooDark(q.brightness));
        }
        if q.brightness > self.brightness.1 {
            return Err(SkipReason::TooBright(q.brightness));
        }
        if q.clipped > self.max_clipped {
            return Err(SkipReason::Clipped(q.clipped));
        }
        if q.sharpness < self.min_sharpness {
            return Err(SkipReason::Blurred(q.sharpness));
        }
        Ok(())
    }
}

/// The pitch proxy of a landmark set in its own upright frame.
fn nose_height(points: &[[f32; 2]; 5]) -> f32 {
    let eyes_y = (points[0][1] + points[1][1]) / 2.0;
    let mouth_y = (points[3][1] + points[4][1]) / 2.0;
    (points[2][1] - eyes_y) / (mouth_y - eyes_y).max(1e-3)
}

/// Measures a face from its landmarks in the frame (left eye, right eye, nose, mouth left, mouth right)
/// and its aligned crop (`size × size × 3` RGB bytes).
pub fn measure(landmarks: &[[f32; 2]; 5], crop: &[u8], size: usize) -> Quality {
    let [le, re, ..] = *landmarks;
    let (dx, dy) = (re[0] - le[0], re[1] - le[1]);
    let eye_distance_px = (dx * dx + dy * dy).sqrt();
    let roll = dy.atan2(dx);
    // Landmarks rotated upright about the left eye, in eye distances.
    let (c, s) = (roll.cos(), roll.sin());
    let scale = eye_distance_px.max(1e-3);
    let upright: Vec<[f32; 2]> = landmarks
        .iter()
        .map(|p| {
            let (x, y) = (p[0] - le[0], p[1] - le[1]);
            [(c * x + s * y) / scale, (-s * x + c * y) / scale]
        })
        .collect();
    let upright: [[f32; 2]; 5] = [upright[0], upright[1], upright[2], upright[3], upright[4]];
    let yaw = upright[2][0] - (upright[0][0] + upright[1][0]) / 2.0;
    let pitch = nose_height(&upright) - nose_height(&ARCFACE_112);

    let grey = |x: usize, y: usize| -> f32 {
        let i = (y * size + x) * 3;
        crop.get(i..i + 3).map_or(0.0, |p| {
            0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
        })
    };
    // The centre half of the crop: the face, not the background corners.
    let (from, to) = (size / 4, size - size / 4);
    let (mut sum, mut sum_sq, mut n, mut clipped, mut total) =
        (0.0f64, 0.0f64, 0.0f64, 0usize, 0usize);
    let mut brightness = 0.0f64;
    for y in from.max(1)..to.min(size.saturating_sub(1)) {
        for x in from.max(1)..to.min(size.saturating_sub(1)) {
            let v = grey(x, y);
            let laplacian =
                grey(x - 1, y) + grey(x + 1, y) + grey(x, y - 1) + grey(x, y + 1) - 4.0 * v;
            sum += f64::from(laplacian);
            sum_sq += f64::from(laplacian) * f64::from(laplacian);
            n += 1.0;
            brightness += f64::from(v);
            total += 1;
            if !(5.0..250.0).contains(&v) {
                clipped += 1;
            }
        }
    }
    let variance = if n > 0.0 {
        let mean = sum / n;
        sum_sq / n - mean * mean
    } else {
        0.0
    };
    Quality {
        eye_distance_px,
        roll_deg: roll.to_degrees(),
        yaw,
        pitch,
        sharpness: variance.max(0.0) as f32,
        brightness: if total > 0 {
            (brightness / total as f64) as f32
        } else {
            0.0
        },
        clipped: if total > 0 {
            clipped as f32 / total as f32
        } else {
            1.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crop(f: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        let mut out = Vec::new();
        for y in 0..112 {
            for x in 0..112 {
                let v = f(x, y);
                out.extend([v, v, v]);
            }
        }
        out
    }

    #[test]
    fn a_frontal_sharp_well_lit_face_passes() {
        let textured = crop(|x, y| if (x / 2 + y / 2) % 2 == 0 { 90 } else { 160 });
        let q = measure(&ARCFACE_112, &textured, 112);
        assert!(
            q.roll_deg.abs() < 1.0 && q.yaw.abs() < 0.05 && q.pitch.abs() < 1e-3,
            "{q:?}"
        );
        assert_eq!(QualityPolicy::default().check(&q), Ok(()), "{q:?}");
    }

    #[test]
    fn the_weight_favours_frontal_sharp_large_faces_and_never_reaches_zero() {
        let textured = crop(|x, y| if (x / 2 + y / 2) % 2 == 0 { 90 } else { 160 });
        let frontal = measure(&ARCFACE_112, &textured, 112).weight();
        assert!(frontal > 0.8, "eyes 35 px apart, frontal, sharp: {frontal}");
        let mut turned = ARCFACE_112;
        turned[2][0] += 20.0;
        let turned = measure(&turned, &textured, 112).weight();
        let blurred = measure(&ARCFACE_112, &crop(|_, _| 128), 112).weight();
        let small = measure(
            &ARCFACE_112.map(|p| [p[0] * 0.2, p[1] * 0.2]),
            &textured,
            112,
        )
        .weight();
        for w in [turned, blurred, small] {
            assert!(w > 0.0 && w < 0.25 && w < frontal, "{w} against {frontal}");
        }
    }

    #[test]
    fn each_problem_is_named() {
        let policy = QualityPolicy::default();
        let textured = crop(|x, y| if (x / 2 + y / 2) % 2 == 0 { 90 } else { 160 });
        let flat = crop(|_, _| 128);
        assert!(matches!(
            policy.check(&measure(&ARCFACE_112, &flat, 112)),
            Err(SkipReason::Blurred(_))
        ));
        let dark = crop(|x, y| if (x + y) % 2 == 0 { 10 } else { 30 });
        assert!(matches!(
            policy.check(&measure(&ARCFACE_112, &dark, 112)),
            Err(SkipReason::TooDark(_))
        ));
        let small: [[f32; 2]; 5] = ARCFACE_112.map(|p| [p[0] * 0.2, p[1] * 0.2]);
        assert!(matches!(
            policy.check(&measure(&small, &textured, 112)),
            Err(SkipReason::TooSmall(_))
        ));
        // Rotated 45° about the template's centre.
        let (c, s) = (45f32.to_radians().cos(), 45f32.to_radians().sin());
        let rolled = ARCFACE_112.map(|p| {
            let (x, y) = (p[0] - 56.0, p[1] - 56.0);
            [56.0 + c * x - s * y, 56.0 + s * x + c * y]
        });
        let q = measure(&rolled, &textured, 112);
        assert!((q.roll_deg - 45.0).abs() < 1.0, "{q:?}");
        assert!(
            q.yaw.abs() < 0.05,
            "yaw is measured in the face's own frame: {q:?}"
        );
        assert!(matches!(policy.check(&q), Err(SkipReason::Rolled(_))));
        let mut turned = ARCFACE_112;
        turned[2][0] += 20.0; // nose far to the right of the eyes' midpoint
        assert!(matches!(
            policy.check(&measure(&turned, &textured, 112)),
            Err(SkipReason::Turned(_))
        ));
        let mut tilted = ARCFACE_112;
        tilted[2][1] -= 15.0; // nose up near the eyes
        assert!(matches!(
            policy.check(&measure(&tilted, &textured, 112)),
            Err(SkipReason::Tilted(_))
        ));
    }
}
