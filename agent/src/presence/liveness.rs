//! Liveness over an interval: the landmark evidence of the tracks behind its sightings
//! ([`crate::tracking::liveness`]) folded into one summary per report — samples, the single-frame
//! model's median, the share of sample pairs that moved non-rigidly, the 90th percentile of the
//! residual, blinks — and a verdict (`[presence.liveness]`, [`LivenessConfig`]):
//!
//! - fewer than `min_pairs` pairs of samples compared (consecutive samples of a track at most
//!   [`crate::tracking::liveness::MAX_PAIR_GAP_MS`] apart): `undetermined` — a time-lapse recording,
//!   or a face seen only in snatches, shows nothing either way;
//! - at least `min_blinks` blinks, or at least `min_nonrigid_share` of the pairs with a residual above
//!   `nonrigid_threshold` of the face's size: `live`;
//! - otherwise `not_live`: the face only ever moved as one flat picture and never blinked.
//!
//! The single-frame model's median travels beside the verdict but does not decide it: on ORL it
//! rejects 44% of real faces and passes screens (README), so it would only add its errors.

use super::median::Histogram;
use crate::setting::InvalidSetting;
use crate::tracking::liveness::TrackEvidence;
use serde::{Deserialize, Serialize};
use wardwatch_protocol::{Liveness, LivenessVerdict, Share, TrackLiveness};

/// `[presence.liveness]`: landmark sampling and the verdict's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LivenessConfig {
    /// Landmark samples per second per track (0 turns track liveness off).
    #[serde(default = "default_landmarks_per_sec")]
    pub landmarks_per_sec: f64,
    /// A pair of samples moved non-rigidly when the residual after the best homography is above this
    /// fraction of the face's size.
    #[serde(default = "default_nonrigid_threshold")]
    pub nonrigid_threshold: f64,
    /// Live when at least this share of the pairs moved non-rigidly…
    #[serde(default = "default_min_nonrigid_share")]
    pub min_nonrigid_share: f64,
    /// …or the eyes blinked at least this often.
    #[serde(default = "default_min_blinks")]
    pub min_blinks: u32,
    /// Fewer pairs of samples compared than this: undetermined.
    #[serde(default = "default_min_pairs")]
    pub min_pairs: u32,
}

fn default_landmarks_per_sec() -> f64 {
    3.0
}

fn default_nonrigid_threshold() -> f64 {
    0.04
}

fn default_min_nonrigid_share() -> f64 {
    0.1
}

fn default_min_blinks() -> u32 {
    2
}

fn default_min_pairs() -> u32 {
    20
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            landmarks_per_sec: default_landmarks_per_sec(),
            nonrigid_threshold: default_nonrigid_threshold(),
            min_nonrigid_share: default_min_nonrigid_share(),
            min_blinks: default_min_blinks(),
            min_pairs: default_min_pairs(),
        }
    }
}

impl LivenessConfig {
    /// The first unusable setting.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if !(0.0..=30.0).contains(&self.landmarks_per_sec) {
            return Err(InvalidSetting::new(
                "presence.liveness.landmarks_per_sec",
                "must be 0 (off) to 30",
            ));
        }
        let within = |v: f64, max: f64| v > 0.0 && v <= max;
        if !within(self.nonrigid_threshold, RESIDUAL_MAX - 1e-9) {
            return Err(InvalidSetting::new(
                "presence.liveness.nonrigid_threshold",
                "must be above 0 and below 0.2",
            ));
        }
        if !within(self.min_nonrigid_share, 1.0) {
            return Err(InvalidSetting::new(
                "presence.liveness.min_nonrigid_share",
                "must be above 0 and at most 1",
            ));
        }
        if self.min_blinks == 0 || self.min_pairs == 0 {
            return Err(InvalidSetting::new(
                "presence.liveness.min_blinks",
                "and presence.liveness.min_pairs must be at least 1",
            ));
        }
        Ok(())
    }

    /// Milliseconds between a track's landmark samples (0: off).
    pub fn sample_every_ms(&self) -> i64 {
        if self.landmarks_per_sec > 0.0 {
            (1000.0 / self.landmarks_per_sec).round() as i64
        } else {
            0
        }
    }

    /// The verdict on `pairs` pairs of samples of which `nonrigid_share` moved non-rigidly, with
    /// `blinks` blinks.
    pub fn verdict(&self, pairs: u32, nonrigid_share: f64, blinks: u32) -> LivenessVerdict {
        if pairs < self.min_pairs {
            LivenessVerdict::Undetermined
        } else if blinks >= self.min_blinks || nonrigid_share >= self.min_nonrigid_share {
            LivenessVerdict::Live
        } else {
            LivenessVerdict::NotLive
        }
    }
}

/// Residuals are kept in a histogram over [0, this) (above: counted in the top bin).
const RESIDUAL_MAX: f64 = 0.2;

/// An interval's landmark evidence so far (bounded memory; serialised with the spool checkpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessTally {
    samples: u32,
    blinks: u32,
    residual: Histogram,
}

impl Default for LivenessTally {
    fn default() -> Self {
        LivenessTally {
            samples: 0,
            blinks: 0,
            residual: Histogram::new(0.0, RESIDUAL_MAX, 200),
        }
    }
}

impl LivenessTally {
    /// Adds a track's evidence handed over with a sighting.
    pub fn add(&mut self, evidence: &TrackEvidence) {
        self.samples = self.samples.saturating_add(evidence.samples);
        self.blinks = self.blinks.saturating_add(evidence.blinks);
        for r in &evidence.residuals {
            self.residual.add(f64::from(*r));
        }
    }

    /// The summary for a report (`None` before any landmark sample), with the model's median
    /// `model_median`.
    pub fn summary(
        &self,
        config: &LivenessConfig,
        model_median: Liveness,
    ) -> Option<TrackLiveness> {
        if self.samples == 0 {
            return None;
        }
        let share = self.residual.share_above(config.nonrigid_threshold);
        let p90 = self.residual.quantile(0.9).unwrap_or(0.0);
        let share_of =
            |v: f64| Share::try_from(v.clamp(0.0, 1.0)).unwrap_or_else(|_| unreachable!());
        let pairs = u32::try_from(self.residual.count()).unwrap_or(u32::MAX);
        Some(TrackLiveness {
            samples: self.samples,
            pairs,
            model_median,
            nonrigid_motion: share_of(share),
            residual_p90: share_of(p90),
            blinks: self.blinks,
            verdict: config.verdict(pairs, share, self.blinks),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(samples: u32, residuals: &[f32], blinks: u32) -> TrackEvidence {
        TrackEvidence {
            samples,
            residuals: residuals.to_vec(),
            blinks,
        }
    }

    fn live(v: f64) -> Liveness {
        Liveness::try_from(v).expect("score")
    }

    #[test]
    fn the_verdict_needs_samples_then_motion_or_blinks() {
        let config = LivenessConfig::default();
        config.check().expect("defaults pass");
        let mut tally = LivenessTally::default();
        assert_eq!(tally.summary(&config, live(0.5)), None);
        // Ten samples of a rigid face: too few to say.
        tally.add(&evidence(10, &[0.005; 9], 0));
        let s = tally.summary(&config, live(0.5)).expect("summary");
        assert_eq!(s.verdict, LivenessVerdict::Undetermined);
        // A time-lapse: a hundred samples, none close enough to the next to compare.
        let mut lapse = LivenessTally::default();
        lapse.add(&evidence(100, &[], 0));
        let s = lapse.summary(&config, live(0.5)).expect("summary");
        assert_eq!((s.pairs, s.verdict), (0, LivenessVerdict::Undetermined));
        // Forty samples, 39 pairs: rigid and never blinking.
        tally.add(&evidence(30, &[0.006; 30], 0));
        let s = tally.summary(&config, live(0.5)).expect("summary");
        assert_eq!(
            (s.samples, s.pairs, s.verdict),
            (40, 39, LivenessVerdict::NotLive)
        );
        assert!(s.nonrigid_motion.get() < 1e-9);
        assert!((s.residual_p90.get() - 0.0065).abs() <= 0.0006, "{s:?}");
        // Two blinks make it live.
        let mut blinked = tally.clone();
        blinked.add(&evidence(1, &[], 2));
        assert_eq!(
            blinked
                .summary(&config, live(0.5))
                .expect("summary")
                .verdict,
            LivenessVerdict::Live
        );
        // So does a tenth of the pairs moving non-rigidly.
        tally.add(&evidence(5, &[0.05; 5], 0));
        let s = tally.summary(&config, live(0.2)).expect("summary");
        assert_eq!(s.verdict, LivenessVerdict::Live, "{s:?}");
        assert!((s.nonrigid_motion.get() - 5.0 / 44.0).abs() < 1e-9);
        assert_eq!(s.model_median, live(0.2));
    }

    #[test]
    fn unusable_settings_are_named() {
        let off = LivenessConfig {
            landmarks_per_sec: 0.0,
            ..LivenessConfig::default()
        };
        off.check().expect("0 turns it off");
        assert_eq!(off.sample_every_ms(), 0);
        assert_eq!(LivenessConfig::default().sample_every_ms(), 333);
        let bad = LivenessConfig {
            nonrigid_threshold: 0.5,
            ..LivenessConfig::default()
        };
        assert_eq!(
            bad.check().unwrap_err().key,
            "presence.liveness.nonrigid_threshold"
        );
    }
}
