//! The rules in force, typed: each rule's enabled flag, own version and thresholds (the thresholds'
//! types live beside the rule that reads them). [`RuleSet::enabled`] is the one place a run asks whether
//! a rule is switched on.

use super::base::{DEFAULT_RULES, RuleDefinition, RulesBaseError, RulesFile};
use super::bed_holding::BedHolding;
use super::cross_institution::CrossInstitution;
use super::duplicate_face::DuplicateFace;
use super::id::RuleId;
use super::outage_alignment::OutageAlignment;
use super::params::RuleParams;
use super::sessions::{
    BilledAboveObserved, Impersonation, NoPresence, PresentationAttack, ShortPresence,
};
use super::unmonitored::UnmonitoredBilling;
use super::weekly::DialysisOverWeekly;
use std::collections::BTreeMap;

/// One rule in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule<P> {
    /// Whether it runs.
    pub enabled: bool,
    /// The rules version in which this rule last changed.
    pub version: i64,
    /// Its thresholds.
    pub params: P,
}

/// The rules in force, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    /// The rules base version.
    pub version: i64,
    /// 假病人 (and the presence window of every session rule).
    pub no_presence: Rule<NoPresence>,
    /// Presence too short.
    pub short_presence: Rule<ShortPresence>,
    /// More sessions billed than observed.
    pub billed_above_observed: Rule<BilledAboveObserved>,
    /// 挂床.
    pub bed_holding: Rule<BedHolding>,
    /// 冒名.
    pub impersonation: Rule<Impersonation>,
    /// Two institutions at once.
    pub cross_institution: Rule<CrossInstitution>,
    /// Too many dialysis sessions a week.
    pub dialysis_over_weekly: Rule<DialysisOverWeekly>,
    /// One face, many insurance numbers.
    pub duplicate_face: Rule<DuplicateFace>,
    /// Outages aligned with billing.
    pub outage_alignment: Rule<OutageAlignment>,
    /// 疑似照片/屏幕冒充 (and the liveness below which presence is not attendance).
    pub presentation_attack: Rule<PresentationAttack>,
    /// 监控缺失 (and the silence that makes a box blind, for every rule).
    pub unmonitored_billing: Rule<UnmonitoredBilling>,
}

impl RuleSet {
    /// Types the definitions (one per rule) at rules version `version`; each rule's own version from
    /// `rule_versions` (default `version`). Every threshold is range-checked by its rule.
    pub fn from_definitions(
        definitions: &[RuleDefinition],
        version: i64,
        rule_versions: &BTreeMap<String, i64>,
    ) -> Result<RuleSet, String> {
        let rule = |id: RuleId| -> Result<(&RuleDefinition, i64), String> {
            let definition = definitions
                .iter()
                .find(|d| d.id == id.as_str())
                .ok_or_else(|| format!("rule {id} is missing"))?;
            let own = rule_versions.get(id.as_str()).copied().unwrap_or(version);
            Ok((definition, own))
        };
        fn typed<P: RuleParams>(
            id: RuleId,
            (definition, version): (&RuleDefinition, i64),
        ) -> Result<Rule<P>, String> {
            let params: P = toml::Value::Table(definition.params.clone())
                .try_into()
                .map_err(|e| format!("rule {id} params: {e}"))?;
            Ok(Rule {
                enabled: definition.enabled,
                version,
                params,
            })
        }
        let set = RuleSet {
            version,
            no_presence: typed(RuleId::NoPresence, rule(RuleId::NoPresence)?)?,
            short_presence: typed(RuleId::ShortPresence, rule(RuleId::ShortPresence)?)?,
            billed_above_observed: typed(
                RuleId::BilledAboveObserved,
                rule(RuleId::BilledAboveObserved)?,
            )?,
            bed_holding: typed(RuleId::BedHolding, rule(RuleId::BedHolding)?)?,
            impersonation: typed(RuleId::Impersonation, rule(RuleId::Impersonation)?)?,
            cross_institution: typed(RuleId::CrossInstitution, rule(RuleId::CrossInstitution)?)?,
            dialysis_over_weekly: typed(
                RuleId::DialysisOverWeekly,
                rule(RuleId::DialysisOverWeekly)?,
            )?,
            duplicate_face: typed(RuleId::DuplicateFace, rule(RuleId::DuplicateFace)?)?,
            outage_alignment: typed(RuleId::OutageAlignment, rule(RuleId::OutageAlignment)?)?,
            presentation_attack: typed(
                RuleId::PresentationAttack,
                rule(RuleId::PresentationAttack)?,
            )?,
            unmonitored_billing: typed(
                RuleId::UnmonitoredBilling,
                rule(RuleId::UnmonitoredBilling)?,
            )?,
        };
        set.check()?;
        Ok(set)
    }

    /// Each rule checks its own thresholds, in listing order.
    fn check(&self) -> Result<(), String> {
        self.no_presence.params.check(RuleId::NoPresence)?;
        self.short_presence.params.check(RuleId::ShortPresence)?;
        self.billed_above_observed
            .params
            .check(RuleId::BilledAboveObserved)?;
        self.bed_holding.params.check(RuleId::BedHolding)?;
        self.impersonation.params.check(RuleId::Impersonation)?;
        self.cross_institution
            .params
            .check(RuleId::CrossInstitution)?;
        self.dialysis_over_weekly
            .params
            .check(RuleId::DialysisOverWeekly)?;
        self.duplicate_face.params.check(RuleId::DuplicateFace)?;
        self.outage_alignment
            .params
            .check(RuleId::OutageAlignment)?;
        self.presentation_attack
            .params
            .check(RuleId::PresentationAttack)?;
        self.unmonitored_billing
            .params
            .check(RuleId::UnmonitoredBilling)
    }

    /// Whether `rule` is switched on: the one place a run asks.
    pub fn enabled(&self, rule: RuleId) -> bool {
        self.enabled_and_version(rule).0
    }

    /// The rules version in which `rule` last changed (recorded on its flags).
    pub fn version_of(&self, rule: RuleId) -> i64 {
        self.enabled_and_version(rule).1
    }

    fn enabled_and_version(&self, rule: RuleId) -> (bool, i64) {
        fn of<P>(r: &Rule<P>) -> (bool, i64) {
            (r.enabled, r.version)
        }
        match rule {
            RuleId::NoPresence => of(&self.no_presence),
            RuleId::ShortPresence => of(&self.short_presence),
            RuleId::BilledAboveObserved => of(&self.billed_above_observed),
            RuleId::BedHolding => of(&self.bed_holding),
            RuleId::Impersonation => of(&self.impersonation),
            RuleId::CrossInstitution => of(&self.cross_institution),
            RuleId::DialysisOverWeekly => of(&self.dialysis_over_weekly),
            RuleId::DuplicateFace => of(&self.duplicate_face),
            RuleId::OutageAlignment => of(&self.outage_alignment),
            RuleId::PresentationAttack => of(&self.presentation_attack),
            RuleId::UnmonitoredBilling => of(&self.unmonitored_billing),
        }
    }

    /// The shipped default rules, every rule at version 1 (for tests and tools).
    pub fn shipped_default() -> Result<RuleSet, RulesBaseError> {
        let file = RulesFile::parse("built-in default", DEFAULT_RULES)?;
        RuleSet::from_definitions(&file.rule, 1, &BTreeMap::new()).map_err(|message| {
            RulesBaseError::Parse {
                source_name: "built-in default".into(),
                message,
            }
        })
    }
}
