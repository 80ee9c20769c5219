//! Liveness evidence along one track, from its face's 68 landmarks sampled a few times a second
//! ([`crate::vision::landmarks`]): between consecutive samples, the residual of the landmarks after the
//! best homography ([`super::shape::homography_residual`]: zero, up to the landmark model's jitter, for
//! anything flat however it moves); and blinks, from the eyes' openness ([`super::shape::eye_openness`]).
//!
//! A blink is a dip and a recovery: a sample whose openness is below [`DIP`] × the median of the
//! track's recent samples, then, within [`MAX_CLOSED_MS`], one back above [`RECOVER`] × that median.
//! Eyes closed for longer (asleep) are not blinks, and closed samples do not enter the median. Sampled a few times a second, most blinks fall
//! between two samples; over a stay of hours enough do not.
//!
//! What the track has gathered since its last sighting is handed over with that sighting
//! ([`TrackEvidence`]), and the presence stage folds it into the interval's summary.

use super::shape::{Points68, eye_openness, homography_residual};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// A dip: openness below this share of the recent median.
pub const DIP: f32 = 0.75;
/// A recovery: openness back above this share of the recent median.
pub const RECOVER: f32 = 0.9;
/// Eyes closed longer than this are not a blink.
pub const MAX_CLOSED_MS: i64 = 2_000;
/// Two samples further apart than this are not compared (the face was lost or skipped in between).
pub const MAX_PAIR_GAP_MS: i64 = 3_000;
/// Recent openness samples the median is taken over.
const RECENT: usize = 9;
/// Samples needed before a dip can be judged.
const MIN_RECENT: usize = 3;

/// Landmark evidence gathered on a track since it was last handed over.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackEvidence {
    /// Landmark samples taken.
    pub samples: u32,
    /// Residual after the best homography between each sample and the one before it, as a fraction
    /// of the face's size.
    #[serde(default)]
    pub residuals: Vec<f32>,
    /// Blinks completed.
    #[serde(default)]
    pub blinks: u32,
}

impl TrackEvidence {
    /// Nothing gathered.
    pub fn is_empty(&self) -> bool {
        self.samples == 0 && self.residuals.is_empty() && self.blinks == 0
    }
}

/// One track's landmark samples so far, and what they have shown.
#[derive(Debug, Clone, Default)]
pub struct LandmarkTrail {
    last: Option<(i64, Points68)>,
    openness: VecDeque<f32>,
    closed_since: Option<i64>,
    pending: TrackEvidence,
}

impl LandmarkTrail {
    /// Whether a sample is due at `at_ms`, one every `every_ms` (0: never).
    pub fn due(&self, at_ms: i64, every_ms: i64) -> bool {
        every_ms > 0
            && self
                .last
                .as_ref()
                .is_none_or(|(last, _)| at_ms - last >= every_ms)
    }

    /// Adds the landmarks seen at `at_ms`.
    pub fn add(&mut self, at_ms: i64, points: &Points68) {
        self.pending.samples = self.pending.samples.saturating_add(1);
        if let Some((last_ms, last)) = &self.last
            && at_ms - last_ms <= MAX_PAIR_GAP_MS
            && let Some(residual) = homography_residual(last, points)
        {
            self.pending.residuals.push(residual);
        }
        if let Some(open) = eye_openness(points) {
            self.eyes(at_ms, open);
        }
        self.last = Some((at_ms, *points));
    }

    fn eyes(&mut self, at_ms: i64, open: f32) {
        if self.openness.len() >= MIN_RECENT {
            let mut recent: Vec<f32> = self.openness.iter().copied().collect();
            recent.sort_by(f32::total_cmp);
            let median = recent[recent.len() / 2];
            match self.closed_since {
                None if open < DIP * median => self.closed_since = Some(at_ms),
                Some(since) if open >= RECOVER * median => {
                    if at_ms - since <= MAX_CLOSED_MS {
                        self.pending.blinks = self.pending.blinks.saturating_add(1);
                    }
                    self.closed_since = None;
                }
                _ => {}
            }
        }
        if self.closed_since.is_some() {
            // The recent level is the open eyes': closed samples would drag it down until a
            // sleeper's closed eyes looked open.
            return;
        }
        self.openness.push_back(open);
        if self.openness.len() > RECENT {
            self.openness.pop_front();
        }
    }

    /// What was gathered since the last call.
    pub fn take(&mut self) -> Option<TrackEvidence> {
        let taken = std::mem::take(&mut self.pending);
        (!taken.is_empty()).then_some(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test face with lids `lid` px from the eye line, moved `dx` px to the right.
    fn face(lid: f32, dx: f32) -> Points68 {
        crate::tracking::shape::test_face(lid).map(|[x, y]| [x + dx, y])
    }

    #[test]
    fn samples_are_taken_at_the_set_interval() {
        let mut trail = LandmarkTrail::default();
        assert!(trail.due(0, 333));
        assert!(!trail.due(0, 0), "0 turns sampling off");
        trail.add(0, &face(2.5, 0.0));
        assert!(!trail.due(200, 333));
        assert!(trail.due(400, 333));
    }

    #[test]
    fn a_shape_moved_rigidly_leaves_small_residuals_and_no_blink() {
        let mut trail = LandmarkTrail::default();
        for k in 0..10 {
            trail.add(k * 333, &face(2.5, k as f32 * 3.0));
        }
        let evidence = trail.take().expect("evidence");
        assert_eq!(evidence.samples, 10);
        assert_eq!(evidence.residuals.len(), 9);
        assert!(evidence.residuals.iter().all(|r| *r < 1e-3), "{evidence:?}");
        assert_eq!(evidence.blinks, 0);
        assert_eq!(trail.take(), None, "taken once");
    }

    #[test]
    fn a_dip_and_a_recovery_is_a_blink_but_a_long_closure_is_not() {
        let mut trail = LandmarkTrail::default();
        let lids = [2.5, 2.5, 2.6, 2.5, 0.4, 2.5, 2.5, 0.5, 0.5, 2.4];
        for (k, lid) in lids.iter().enumerate() {
            trail.add(k as i64 * 333, &face(*lid, 0.0));
        }
        let evidence = trail.take().expect("evidence");
        assert_eq!(evidence.blinks, 2, "{evidence:?}");
        // Eyes shut for 3 s (asleep), then open: no blink.
        let mut trail = LandmarkTrail::default();
        for k in 0..5 {
            trail.add(k * 333, &face(2.5, 0.0));
        }
        for k in 5..15 {
            trail.add(k * 333, &face(0.3, 0.0));
        }
        trail.add(15 * 333, &face(2.5, 0.0));
        assert_eq!(trail.take().expect("evidence").blinks, 0);
    }

    #[test]
    fn samples_far_apart_are_not_compared() {
        let mut trail = LandmarkTrail::default();
        trail.add(0, &face(2.5, 0.0));
        trail.add(MAX_PAIR_GAP_MS + 1, &face(2.5, 0.0));
        let evidence = trail.take().expect("evidence");
        assert_eq!((evidence.samples, evidence.residuals.len()), (2, 0));
    }
}
