//! `[presence]`: how the presence stage folds sightings into intervals (see [`super::PresenceTracker`]).

use crate::setting::InvalidSetting;
use serde::Deserialize;

/// `[presence]`: how sightings are folded into intervals.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceConfig {
    /// An interval closes when its person has not been seen for this long.
    #[serde(default = "default_close_after_secs")]
    pub close_after_secs: u64,
    /// Sightings needed before an interval is reported (fewer: a passer-by or a misrecognition).
    #[serde(default = "default_min_samples")]
    pub min_samples: u32,
    /// An open interval is reported (as a checkpoint) at least this often.
    #[serde(default = "default_checkpoint_secs")]
    pub checkpoint_secs: u64,
    /// `[presence.liveness]`: landmark samples along each track and the interval's liveness verdict.
    #[serde(default)]
    pub liveness: super::liveness::LivenessConfig,
}

fn default_close_after_secs() -> u64 {
    120
}

fn default_min_samples() -> u32 {
    3
}

fn default_checkpoint_secs() -> u64 {
    300
}

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig {
            close_after_secs: default_close_after_secs(),
            min_samples: default_min_samples(),
            checkpoint_secs: default_checkpoint_secs(),
            liveness: super::liveness::LivenessConfig::default(),
        }
    }
}

impl PresenceConfig {
    /// The first unusable setting: at least one sighting per interval, positive durations.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if self.min_samples == 0 {
            return Err(InvalidSetting::new(
                "presence.min_samples",
                "must be at least 1",
            ));
        }
        if self.close_after_secs == 0 || self.checkpoint_secs == 0 {
            return Err(InvalidSetting::new(
                "presence.close_after_secs",
                "and presence.checkpoint_secs must be positive",
            ));
        }
        self.liveness.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_and_zeros_are_named() {
        PresenceConfig::default().check().unwrap();
        let zero_samples = PresenceConfig {
            min_samples: 0,
            ..PresenceConfig::default()
        };
        assert_eq!(
            zero_samples.check().unwrap_err().key,
            "presence.min_samples"
        );
        let zero_checkpoint = PresenceConfig {
            checkpoint_secs: 0,
            ..PresenceConfig::default()
        };
        assert_eq!(
            zero_checkpoint.check().unwrap_err().key,
            "presence.close_after_secs"
        );
    }
}
