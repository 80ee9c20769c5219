//! `unmonitored_billing` (监控缺失): billed sessions during which the ward could not have seen anyone.
//!
//! Its thresholds define coverage for every rule, whether or not it is enabled: a ward box that sealed
//! nothing for `silence_minutes` is silent ([`super::monitoring`]). Enabled, a billed session line whose
//! slot was blind for at least `min_blind_share` of its length, and that the session rules therefore
//! could not judge, is flagged as unmonitored billing. Off by default: such lines are counted and shown
//! (the run's coverage figure per institution), never a fraud finding on the line itself; an
//! institution whose blind time lines up with its billing is what `outage_alignment` catches.

use super::id::RuleId;
use super::params::{RuleParams, check_range};
use serde::{Deserialize, Serialize};

/// `unmonitored_billing` thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnmonitoredBilling {
    /// A ward box that sealed no event and reported no presence for this long is silent.
    pub silence_minutes: u32,
    /// A no-evidence line is flagged (when the rule is on) when its slot was blind this share of its length.
    pub min_blind_share: f64,
}

impl UnmonitoredBilling {
    /// The silence threshold in milliseconds.
    pub fn silence_ms(&self) -> i64 {
        i64::from(self.silence_minutes) * 60_000
    }
}

impl RuleParams for UnmonitoredBilling {
    fn check(&self, rule: RuleId) -> Result<(), String> {
        check_range(
            rule,
            "silence_minutes",
            f64::from(self.silence_minutes),
            2.0,
            1440.0,
        )?;
        check_range(rule, "min_blind_share", self.min_blind_share, 0.1, 1.0)
    }
}
