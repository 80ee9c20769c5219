//! The rules base (规则库): every rule's id, zh/en name, scenario, enabled flag and thresholds, read from a
//! TOML file and kept in versions. Each import is a new version and the newest is in force; the shipped
//! default (`collector/rules/default.toml`) is installed as version 1. A rule's own version is the rules
//! version in which its definition (enabled flag or parameters) last changed, and flags record it.
//!
//! This module only stores and reads versions; the typed rules are [`super::set::RuleSet`], and each
//! rule's thresholds are typed and range-checked beside the rule.

pub use super::id::RULE_IDS;
use super::id::RuleId;
use super::set::RuleSet;
use crate::store::{Store, StoreError, now_ms};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::{BTreeMap, HashSet};

/// The shipped default rules.
pub const DEFAULT_RULES: &str = include_str!("../../rules/default.toml");

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
            if let Err(unknown) = definition.id.parse::<RuleId>() {
                return Err(fail(unknown.to_string()));
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
        RuleSet::from_definitions(&self.rule, version, rule_versions)
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
        // A rules base stored before a rule existed: the rule comes from the shipped default (logged),
        // at the stored version, until the bureau imports a file that lists it.
        let shipped = RulesFile::parse("built-in default", DEFAULT_RULES)?;
        let missing: Vec<RuleDefinition> = shipped
            .rule
            .into_iter()
            .filter(|d| !rules.iter().any(|r| r.definition.id == d.id))
            .collect();
        for missing in missing {
            tracing::warn!(
                rule = %missing.id,
                rules_version = version,
                "the stored rules base does not list this rule (stored before it existed): using the shipped default"
            );
            rules.push(StoredRule {
                rule_version: version,
                definition: missing,
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
