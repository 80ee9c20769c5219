//! The rules' ids: one enum for every rule of the rules base, with the codes stored in the database, in
//! rules files and in flags.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A rule of the rules base (规则库).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleId {
    /// 假病人: a billed session, the patient never seen.
    NoPresence,
    /// Presence shorter than the billed service needs.
    ShortPresence,
    /// More sessions billed than observed.
    BilledAboveObserved,
    /// 挂床: inpatient days billed while absent.
    BedHolding,
    /// 冒名: someone else in the billed slot.
    Impersonation,
    /// Billed or seen at two institutions at once.
    CrossInstitution,
    /// Too many dialysis sessions in a week.
    DialysisOverWeekly,
    /// One face under several insurance numbers.
    DuplicateFace,
    /// An institution whose camera outages line up with its billing.
    OutageAlignment,
    /// 疑似照片/屏幕冒充: the billed slot's presence came from a face the liveness model scored not live.
    PresentationAttack,
    /// 监控缺失: a billed session with no working monitoring at all (off by default: counted, not flagged).
    UnmonitoredBilling,
}

impl RuleId {
    /// Every rule, in the order they are listed.
    pub const ALL: [RuleId; 11] = [
        RuleId::NoPresence,
        RuleId::ShortPresence,
        RuleId::BilledAboveObserved,
        RuleId::BedHolding,
        RuleId::Impersonation,
        RuleId::CrossInstitution,
        RuleId::DialysisOverWeekly,
        RuleId::DuplicateFace,
        RuleId::OutageAlignment,
        RuleId::PresentationAttack,
        RuleId::UnmonitoredBilling,
    ];

    /// The stored code (`no_presence`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            RuleId::NoPresence => "no_presence",
            RuleId::ShortPresence => "short_presence",
            RuleId::BilledAboveObserved => "billed_above_observed",
            RuleId::BedHolding => "bed_holding",
            RuleId::Impersonation => "impersonation",
            RuleId::CrossInstitution => "cross_institution",
            RuleId::DialysisOverWeekly => "dialysis_over_weekly",
            RuleId::DuplicateFace => "duplicate_face",
            RuleId::OutageAlignment => "outage_alignment",
            RuleId::PresentationAttack => "presentation_attack",
            RuleId::UnmonitoredBilling => "unmonitored_billing",
        }
    }

    /// The rule a finding of this rule is reported as when this rule is switched off: `impersonation`
    /// refines `no_presence` (the patient was never seen, and someone else sat in the slot), so with
    /// `impersonation` off the same billed session is still 假病人; likewise `presentation_attack` (the
    /// patient was "seen" only as a photo or a screen: presence that does not count as attendance).
    pub fn falls_back_to(self) -> Option<RuleId> {
        match self {
            RuleId::Impersonation | RuleId::PresentationAttack => Some(RuleId::NoPresence),
            _ => None,
        }
    }
}

/// A code that names no rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule id {code:?}; the rules are {}", RULE_IDS.join(", "))]
pub struct UnknownRule {
    /// The code given.
    pub code: String,
}

impl FromStr for RuleId {
    type Err = UnknownRule;

    fn from_str(code: &str) -> Result<RuleId, UnknownRule> {
        RuleId::ALL
            .into_iter()
            .find(|id| id.as_str() == code)
            .ok_or_else(|| UnknownRule {
                code: code.to_owned(),
            })
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Every rule's code, in [`RuleId::ALL`] order (derived from it, so the two cannot drift apart).
pub const RULE_IDS: [&str; RuleId::ALL.len()] = {
    let mut codes = [""; RuleId::ALL.len()];
    let mut i = 0;
    while i < codes.len() {
        codes[i] = RuleId::ALL[i].as_str();
        i += 1;
    }
    codes
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_the_listing() {
        for (id, code) in RuleId::ALL.into_iter().zip(RULE_IDS) {
            assert_eq!(id.as_str(), code);
            assert_eq!(code.parse::<RuleId>(), Ok(id));
            assert_eq!(
                serde_json::to_string(&id).expect("json"),
                format!("\"{code}\"")
            );
        }
        let err = "bed_holdin".parse::<RuleId>().expect_err("typo");
        assert!(err.to_string().contains("bed_holding"), "{err}");
    }
}
