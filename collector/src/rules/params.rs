//! What every rule's thresholds have in common: they are typed from the rules file's `params` table
//! and check their own ranges, naming the rule and the field when one is out of range.

use super::id::RuleId;
use serde::de::DeserializeOwned;

/// A rule's thresholds.
pub trait RuleParams: DeserializeOwned {
    /// Checks that every threshold is in a sensible range; the message names the rule and the field.
    fn check(&self, rule: RuleId) -> Result<(), String>;
}

/// A threshold outside its sensible range.
pub fn check_range(
    rule: RuleId,
    field: &str,
    value: f64,
    min: f64,
    max: f64,
) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "rule {rule}: {field} = {value} must be between {min} and {max}"
        ))
    }
}
