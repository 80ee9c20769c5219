//! A face box's motion between frames: an alpha-beta filter (the steady-state form of SORT's Kalman
//! filter) on the box centre and size, with velocities per second of capture time. It predicts where a
//! track's face is in the next frame, so association survives a patient walking past the camera.

use crate::vision::boxes::FaceBox;

/// Weight of a new measurement in the position estimate.
const ALPHA: f32 = 0.6;
/// Weight of a new measurement in the velocity estimate.
const BETA: f32 = 0.2;

/// Position (centre x, centre y, width, height) and its velocity per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    state: [f32; 4],
    velocity: [f32; 4],
    /// Capture time of the last update, in milliseconds.
    at_ms: i64,
    /// Whether the velocity has been measured (two points at least).
    moving: bool,
}

fn centre_size(b: &FaceBox) -> [f32; 4] {
    [
        (b.x1 + b.x2) / 2.0,
        (b.y1 + b.y2) / 2.0,
        b.x2 - b.x1,
        b.y2 - b.y1,
    ]
}

impl Motion {
    /// Starts at `b`, still.
    pub fn new(b: &FaceBox, at_ms: i64) -> Motion {
        Motion {
            state: centre_size(b),
            velocity: [0.0; 4],
            at_ms,
            moving: false,
        }
    }

    /// Where the box is expected at `at_ms`.
    pub fn predict(&self, at_ms: i64) -> FaceBox {
        let dt = ((at_ms - self.at_ms) as f32 / 1000.0).clamp(0.0, 5.0);
        let [cx, cy, w, h] = std::array::from_fn(|i| self.state[i] + self.velocity[i] * dt);
        let (w, h) = (w.max(1.0), h.max(1.0));
        FaceBox {
            x1: cx - w / 2.0,
            y1: cy - h / 2.0,
            x2: cx + w / 2.0,
            y2: cy + h / 2.0,
            score: 0.0,
        }
    }

    /// Folds in the box measured at `at_ms`.
    pub fn update(&mut self, b: &FaceBox, at_ms: i64) {
        let dt = (at_ms - self.at_ms) as f32 / 1000.0;
        let measured = centre_size(b);
        if dt <= 0.0 || dt > 5.0 {
            // Same instant, time going backwards or a long gap: restart from the measurement.
            self.state = measured;
            self.velocity = [0.0; 4];
            self.moving = false;
        } else if !self.moving {
            // Second point: the velocity is the difference, as a two-point start.
            self.velocity = std::array::from_fn(|i| (measured[i] - self.state[i]) / dt);
            self.state = measured;
            self.moving = true;
        } else {
            for ((state, velocity), measured) in
                self.state.iter_mut().zip(&mut self.velocity).zip(measured)
            {
                let predicted = *state + *velocity * dt;
                let residual = measured - predicted;
                *state = predicted + ALPHA * residual;
                *velocity += BETA * residual / dt;
            }
        }
        self.at_ms = at_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f32) -> FaceBox {
        FaceBox {
            x1: x,
            y1: 100.0,
            x2: x + 50.0,
            y2: 160.0,
            score: 1.0,
        }
    }

    #[test]
    fn a_steady_walk_is_predicted_ahead() {
        // 100 px per second to the right, a frame every 200 ms.
        let mut m = Motion::new(&at(0.0), 0);
        for k in 1..=10 {
            m.update(&at(20.0 * k as f32), 200 * k);
        }
        let next = m.predict(2200);
        let centre = (next.x1 + next.x2) / 2.0;
        assert!((centre - 245.0).abs() < 5.0, "predicted centre {centre}");
    }

    #[test]
    fn a_still_face_stays_put_and_a_long_gap_restarts() {
        let mut m = Motion::new(&at(10.0), 0);
        m.update(&at(10.0), 200);
        assert_eq!(m.predict(400), at(10.0).with_score(0.0));
        m.update(&at(500.0), 60_000);
        assert_eq!(m.predict(60_200), at(500.0).with_score(0.0));
    }

    trait WithScore {
        fn with_score(self, s: f32) -> Self;
    }

    impl WithScore for FaceBox {
        fn with_score(mut self, s: f32) -> Self {
            self.score = s;
            self
        }
    }
}
