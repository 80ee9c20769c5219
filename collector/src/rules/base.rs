//! The rules base (规则库): every rule's id, zh/en name, scenario, enabled flag and thresholds, read from a
//! TOML file and kept in versions. Each import is a new version and the newest is in force; the shipped
//! default (`collector/rules/default.toml`) is installed as version 1. A rule's own version is the rules
//! version in which its definition (enabled flag or parameters) last changed, and flags record it.

use crate::store::{Store, StoreError, now_ms};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::{BTreeMap, HashSet};

/// The shipped default rules.
pub const DEFAULT_RULES: &str = include_str!("../../rules/default.toml");

/// `short_presence` thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShortPresence {
    /// Fires when presence is below this share of the presence the billed units imply.
    pub min_share: f64,
}

/// `billed_above_observed` thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BilledAboveObserved {
    /// Presence intervals this close are one bout.
    pub merge_gap_minutes: u32,
    /// A bout counts as a session when it lasts this share of one session.
    pub min_bout_share: f64,
    /// Back-to-back sessions: each `unit_share` × a session's length of presence is one observed session.
    pub unit_share: f64,
    /// Fires when billed units exceed observed sessions by at least this much.
    pub min_excess_units: f64,
}

/// `bed_holding` (挂床) thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BedHolding {
    /// Consecutive absent billed days needed for a flag.
    pub min_absent_days: u32,
}

/// `impersonation` (冒名) thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impersonation {
    /// The billed slot is widened by this on both sides.
    pub slot_margin_minutes: u32,
    /// Unknown-face presence needed in the slot, as a share of one session.
    pub min_overlap_share: f64,
}

/// `cross_institution` thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossInstitution {
    /// Overlap needed between two claims (billed slot or presence) at different institutions.
    pub min_overlap_minutes: u32,
}

/// `dialysis_over_weekly` thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialysisOverWeekly {
    /// Haemodialysis sessions allowed per patient and ISO week.
    pub max_sessions_per_week: u32,
}

/// `duplicate_face` thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateFace {
    /// Cosine similarity at or above which two identities are taken for one face.
    pub min_similarity: f64,
}

/// `outage_alignment` thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageAlignment {
    /// Share of billed session time under outage needed.
    pub min_billed_share: f64,
    /// How many times the share of all time under outage that must be.
    pub min_lift: f64,
    /// Distinct days with outages during billed time needed.
    pub min_days: u32,
    /// At or above this share of billed time under outage, flagged whatever the lift (cameras that are
    /// always off line up with everything).
    pub always_share: f64,
}

/// A rule without thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

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
    /// 假病人.
    pub no_presence: Rule<NoParams>,
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
}

/// Every rule id, in the order they are listed.
pub const RULE_IDS: [&str; 9] = [
    "no_presence",
    "short_presence",
    "billed_above_observed",
    "bed_holding",
    "impersonation",
    "cross_institution",
    "dialysis_over_weekly",
    "duplicate_face",
    "outage_alignment",
];

/// One `[[rule]]` of a rules file, thresholds still untyped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDefinition {
    /// The rule's id (one of [`RULE_IDS`]).
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// When it applies and what it checks.
    pub scenario: String,
    /// Whether it runs.
    pub enabled: bool,
    /// Its thresholds (typed per rule when the file is checked).
    pub params: toml::Table,
}

/// A rules file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// What this version is.
    pub note: String,
    /// The rules.
    pub rule: Vec<RuleDefinition>,
}

/// A rules file or the stored rules base is unusable.
#[derive(Debug, thiserror::Error)]
pub enum RulesBaseError {
    /// The file is wrong (the message names the rule and the field).
    #[error("rules file {source_name}: {message}")]
    Parse {
        /// The file.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RulesBaseError {
    fn from(e: sqlx::Error) -> Self {
        RulesBaseError::Store(StoreError::Query(e))
    }
}

/// A threshold outside its sensible range.
fn check_range(rule: &str, field: &str, value: f64, min: f64, max: f64) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "rule {rule}: {field} = {value} must be between {min} and {max}"
        ))
    }
}

/// Types one rule's thresholds.
fn typed<P: DeserializeOwned>(definition: &RuleDefinition) -> Result<P, String> {
    toml::Value::Table(definition.params.clone())
        .try_into()
        .map_err(|e| format!("rule {} params: {e}", definition.id))
}

impl RulesFile {
    /// Parses a rules file and checks every rule's thresholds.
    pub fn parse(source_name: &str, text: &str) -> Result<RulesFile, RulesBaseError> {
        let fail = |message: String| RulesBaseError::Parse {
            source_name: source_name.to_owned(),
            message,
        };
        let file: RulesFile = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        let mut seen = HashSet::new();
        for definition in &file.rule {
            if !RULE_IDS.contains(&definition.id.as_str()) {
                return Err(fail(format!(
                    "unknown rule id {:?}; the rules are {}",
                    definition.id,
                    RULE_IDS.join(", ")
                )));
            }
            if !seen.insert(definition.id.as_str()) {
                return Err(fail(format!("rule {} appears twice", definition.id)));
            }
            if definition.name_zh.trim().is_empty() || definition.name_en.trim().is_empty() {
                return Err(fail(format!(
                    "rule {} needs name_zh and name_en",
                    definition.id
                )));
            }
        }
        if let Some(missing) = RULE_IDS.iter().find(|id| !seen.contains(*id)) {
            return Err(fail(format!(
                "rule {missing} is missing (list every rule; set enabled = false to turn one off)"
            )));
        }
        file.rule_set(0).map_err(fail)?;
        Ok(file)
    }

    fn definition(&self, id: &str) -> Result<&RuleDefinition, String> {
        self.rule
            .iter()
            .find(|d| d.id == id)
            .ok_or_else(|| format!("rule {id} is missing"))
    }

    /// The typed rules, every rule at `version`.
    fn rule_set(&self, version: i64) -> Result<RuleSet, String> {
        self.rule_set_with(version, &BTreeMap::new())
    }

    /// The typed rules; each rule's own version from `rule_versions` (default `version`).
    fn rule_set_with(
        &self,
        version: i64,
        rule_versions: &BTreeMap<String, i64>,
    ) -> Result<RuleSet, String> {
        fn rule<P: DeserializeOwned>(
            file: &RulesFile,
            id: &str,
            version: i64,
            rule_versions: &BTreeMap<String, i64>,
        ) -> Result<Rule<P>, String> {
            let definition = file.definition(id)?;
            Ok(Rule {
                enabled: definition.enabled,
                version: rule_versions.get(id).copied().unwrap_or(version),
                params: typed(definition)?,
            })
        }
        let set = RuleSet {
            version,
            no_presence: rule(self, "no_presence", version, rule_versions)?,
            short_presence: rule(self, "short_presence", version, rule_versions)?,
            billed_above_observed: rule(self, "billed_above_observed", version, rule_versions)?,
            bed_holding: rule(self, "bed_holding", version, rule_versions)?,
            impersonation: rule(self, "impersonation", version, rule_versions)?,
            cross_institution: rule(self, "cross_institution", version, rule_versions)?,
            dialysis_over_weekly: rule(self, "dialysis_over_weekly", version, rule_versions)?,
            duplicate_face: rule(self, "duplicate_face", version, rule_versions)?,
            outage_alignment: rule(self, "outage_alignment", version, rule_versions)?,
        };
        set.check()?;
        Ok(set)
    }
}

impl RuleSet {
    /// Checks that every threshold is in a sensible range.
    fn check(&self) -> Result<(), String> {
        check_range(
            "short_presence",
            "min_share",
            self.short_presence.params.min_share,
            0.01,
            1.0,
        )?;
        let b = &self.billed_above_observed.params;
        check_range(
            "billed_above_observed",
            "merge_gap_minutes",
            f64::from(b.merge_gap_minutes),
            0.0,
            240.0,
        )?;
        check_range(
            "billed_above_observed",
            "min_bout_share",
            b.min_bout_share,
            0.01,
            1.0,
        )?;
        check_range(
            "billed_above_observed",
            "min_excess_units",
            b.min_excess_units,
            0.5,
            100.0,
        )?;
        check_range(
            "bed_holding",
            "min_absent_days",
            f64::from(self.bed_holding.params.min_absent_days),
            1.0,
            60.0,
        )?;
        let i = &self.impersonation.params;
        check_range(
            "impersonation",
            "slot_margin_minutes",
            f64::from(i.slot_margin_minutes),
            0.0,
            720.0,
        )?;
        check_range(
            "impersonation",
            "min_overlap_share",
            i.min_overlap_share,
            0.01,
            1.0,
        )?;
        check_range(
            "cross_institution",
            "min_overlap_minutes",
            f64::from(self.cross_institution.params.min_overlap_minutes),
            1.0,
            1440.0,
        )?;
        check_range(
            "dialysis_over_weekly",
            "max_sessions_per_week",
            f64::from(self.dialysis_over_weekly.params.max_sessions_per_week),
            1.0,
            21.0,
        )?;
        check_range(
            "duplicate_face",
            "min_similarity",
            self.duplicate_face.params.min_similarity,
            0.0,
            1.0,
        )?;
        let o = &self.outage_alignment.params;
        check_range(
            "outage_alignment",
            "min_billed_share",
            o.min_billed_share,
            0.01,
            1.0,
        )?;
        check_range("outage_alignment", "min_lift", o.min_lift, 1.0, 1000.0)?;
        check_range(
            "outage_alignment",
            "min_days",
            f64::from(o.min_days),
            1.0,
            366.0,
        )?;
        Ok(())
    }
}

/// One rule as stored, for listings and exports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRule {
    /// The rule's own version.
    pub rule_version: i64,
    /// Its definition.
    #[serde(flatten)]
    pub definition: RuleDefinition,
}

/// The rules base in force.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesBase {
    /// Its version.
    pub version: i64,
    /// What the version is.
    pub note: String,
    /// Every rule, in [`RULE_IDS`] order.
    pub rules: Vec<StoredRule>,
    /// The same, typed.
    pub set: RuleSet,
}

impl Store {
    /// Stores `file` as the next rules version; a rule keeps its own version unless its enabled flag or
    /// thresholds changed. Returns the new version.
    pub async fn import_rules(
        &self,
        file: &RulesFile,
        source: &str,
        body: &str,
    ) -> Result<i64, RulesBaseError> {
        let previous = self.rules_base_if_any().await?;
        let mut tx = self.pool().begin().await?;
        let version: i64 =
            sqlx::query("SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT) FROM rule_versions")
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        sqlx::query("INSERT INTO rule_versions (version, note, source, body, created_at_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(version)
            .bind(&file.note)
            .bind(source)
            .bind(body)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        for definition in &file.rule {
            let unchanged = previous.as_ref().and_then(|p| {
                p.rules.iter().find(|r| {
                    r.definition.id == definition.id
                        && r.definition.enabled == definition.enabled
                        && r.definition.params == definition.params
                })
            });
            let rule_version = unchanged.map_or(version, |r| r.rule_version);
            sqlx::query(
                "INSERT INTO rule_definitions (version, rule_id, name_zh, name_en, scenario, enabled, params, \
                 rule_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(version)
            .bind(&definition.id)
            .bind(&definition.name_zh)
            .bind(&definition.name_en)
            .bind(&definition.scenario)
            .bind(i64::from(definition.enabled))
            .bind(serde_json::to_string(&definition.params).map_err(|e| StoreError::Corrupt {
                what: "rule params",
                why: e.to_string(),
            })?)
            .bind(rule_version)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(version)
    }

    /// The rules base in force; the shipped default is installed as version 1 when there is none.
    pub async fn rules_base(&self) -> Result<RulesBase, RulesBaseError> {
        if let Some(base) = self.rules_base_if_any().await? {
            return Ok(base);
        }
        let default = RulesFile::parse("built-in default", DEFAULT_RULES)?;
        self.import_rules(&default, "built-in default", DEFAULT_RULES)
            .await?;
        self.rules_base_if_any().await?.ok_or_else(|| {
            RulesBaseError::Store(StoreError::Corrupt {
                what: "rules base",
                why: "the default rules were stored but cannot be read back".into(),
            })
        })
    }

    async fn rules_base_if_any(&self) -> Result<Option<RulesBase>, RulesBaseError> {
        let newest =
            sqlx::query("SELECT version, note FROM rule_versions ORDER BY version DESC LIMIT 1")
                .fetch_optional(self.pool())
                .await?;
        let Some(newest) = newest else {
            return Ok(None);
        };
        let version: i64 = newest.try_get(0)?;
        let note: String = newest.try_get(1)?;
        let rows = sqlx::query(
            "SELECT rule_id, name_zh, name_en, scenario, enabled, params, rule_version \
             FROM rule_definitions WHERE version = $1",
        )
        .bind(version)
        .fetch_all(self.pool())
        .await?;
        let corrupt = |why: String| {
            RulesBaseError::Store(StoreError::Corrupt {
                what: "rule definition",
                why,
            })
        };
        let mut rules = Vec::new();
        for r in rows {
            let params: String = r.try_get(5)?;
            let enabled: i64 = r.try_get(4)?;
            rules.push(StoredRule {
                rule_version: r.try_get(6)?,
                definition: RuleDefinition {
                    id: r.try_get(0)?,
                    name_zh: r.try_get(1)?,
                    name_en: r.try_get(2)?,
                    scenario: r.try_get(3)?,
                    enabled: enabled != 0,
                    params: serde_json::from_str(&params).map_err(|e| corrupt(e.to_string()))?,
                },
            });
        }
        rules.sort_by_key(|r| RULE_IDS.iter().position(|id| *id == r.definition.id));
        let file = RulesFile {
            note: note.clone(),
            rule: rules.iter().map(|r| r.definition.clone()).collect(),
        };
        let versions = rules
            .iter()
            .map(|r| (r.definition.id.clone(), r.rule_version))
            .collect();
        let set = file.rule_set_with(version, &versions).map_err(corrupt)?;
        Ok(Some(RulesBase {
            version,
            note,
            rules,
            set,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_parses_with_every_rule() {
        let file = RulesFile::parse("default", DEFAULT_RULES).expect("default rules");
        let set = file.rule_set(1).expect("typed");
        assert_eq!(file.rule.len(), RULE_IDS.len());
        assert_eq!(set.dialysis_over_weekly.params.max_sessions_per_week, 5);
        assert!(set.no_presence.enabled);
    }

    #[test]
    fn bad_files_name_the_rule_and_the_field() {
        let cases = [
            (
                DEFAULT_RULES.replace("min_share = 0.5", "min_share = 5.0"),
                "min_share",
            ),
            (
                DEFAULT_RULES.replace("min_absent_days = 3", "min_absent_dayz = 3"),
                "bed_holding",
            ),
            (
                DEFAULT_RULES.replace("id = \"bed_holding\"", "id = \"bed_holdin\""),
                "unknown rule id",
            ),
            (
                DEFAULT_RULES.replace("id = \"impersonation\"", "id = \"bed_holding\""),
                "appears twice",
            ),
            (
                DEFAULT_RULES.replace("min_days = 3", "min_days = \"three\""),
                "outage_alignment",
            ),
        ];
        for (text, expected) in cases {
            let err = RulesFile::parse("r.toml", &text)
                .expect_err(expected)
                .to_string();
            assert!(
                err.contains("r.toml") && err.contains(expected),
                "{expected}: {err}"
            );
        }
    }
}
