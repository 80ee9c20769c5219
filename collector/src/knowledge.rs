//! The knowledge base (知识库): which billed items (`hilist_code`) imply presence in which kind of ward,
//! for how long per unit. Versioned: each import is a new version and the newest is in force; the shipped
//! default (`collector/knowledge/default.toml`) holds **example codes** a bureau replaces with its own.

use crate::store::{Store, StoreError, now_ms};
use serde::Deserialize;
use sqlx::Row;
use std::collections::HashSet;
use wardwatch_protocol::WardKind;

/// The shipped default table (example codes).
pub const DEFAULT_KNOWLEDGE: &str = include_str!("../knowledge/default.toml");

/// What one billed unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A treatment session (dialysis, rehabilitation).
    Session,
    /// An inpatient day.
    Day,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Session => "session",
            Unit::Day => "day",
        }
    }
}

/// One knowledge item.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeItem {
    /// The billed item's code.
    pub hilist_code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// The ward where the service happens.
    pub ward_kind: WardKind,
    /// What one unit is.
    pub unit: Unit,
    /// Presence each billed unit implies, in minutes.
    pub min_presence_minutes: u32,
}

/// A knowledge file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeFile {
    /// What this version is.
    pub note: String,
    /// The items.
    pub item: Vec<KnowledgeItem>,
}

/// A knowledge file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// TOML or field errors (toml's message names the key, line and column).
    #[error("knowledge file {source_name}: {message}")]
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

impl KnowledgeFile {
    /// Parses and checks a knowledge file.
    pub fn parse(source_name: &str, text: &str) -> Result<KnowledgeFile, KnowledgeError> {
        let fail = |message: String| KnowledgeError::Parse {
            source_name: source_name.to_owned(),
            message,
        };
        let file: KnowledgeFile = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        if file.item.is_empty() {
            return Err(fail("has no [[item]]".into()));
        }
        let mut seen = HashSet::new();
        for (i, item) in file.item.iter().enumerate() {
            if item.hilist_code.trim().is_empty() {
                return Err(fail(format!("item {} has an empty hilist_code", i + 1)));
            }
            if !seen.insert(item.hilist_code.as_str()) {
                return Err(fail(format!(
                    "hilist_code {} appears twice",
                    item.hilist_code
                )));
            }
            if !(1..=1440).contains(&item.min_presence_minutes) {
                return Err(fail(format!(
                    "item {}: min_presence_minutes must be 1 to 1440",
                    item.hilist_code
                )));
            }
        }
        Ok(file)
    }
}

/// The knowledge in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Knowledge {
    /// Its version.
    pub version: i64,
    /// Its items.
    pub items: Vec<KnowledgeItem>,
}

impl Knowledge {
    /// The item for a code.
    pub fn item(&self, hilist_code: &str) -> Option<&KnowledgeItem> {
        self.items.iter().find(|i| i.hilist_code == hilist_code)
    }
}

fn ward_kind(code: &str) -> Option<WardKind> {
    serde_json::from_value(serde_json::Value::String(code.to_owned())).ok()
}

impl Store {
    /// Stores `file` as the next knowledge version; returns it.
    pub async fn import_knowledge(
        &self,
        file: &KnowledgeFile,
        source: &str,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let version: i64 = sqlx::query(
            "SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT) FROM knowledge_versions",
        )
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        sqlx::query("INSERT INTO knowledge_versions (version, note, source, created_at_ms) VALUES ($1, $2, $3, $4)")
            .bind(version)
            .bind(&file.note)
            .bind(source)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        for item in &file.item {
            sqlx::query(
                "INSERT INTO knowledge_items (version, hilist_code, name_zh, name_en, ward_kind, unit, \
                 min_presence_minutes) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(version)
            .bind(&item.hilist_code)
            .bind(&item.name_zh)
            .bind(&item.name_en)
            .bind(item.ward_kind.as_str())
            .bind(item.unit.as_str())
            .bind(i64::from(item.min_presence_minutes))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(version)
    }

    /// The newest knowledge version; the shipped default is installed as version 1 when there is none.
    pub async fn knowledge(&self) -> Result<Knowledge, KnowledgeError> {
        let newest: Option<i64> = sqlx::query("SELECT MAX(version) FROM knowledge_versions")
            .fetch_one(self.pool())
            .await
            .map_err(StoreError::from)?
            .try_get(0)
            .map_err(StoreError::from)?;
        let version = match newest {
            Some(v) => v,
            None => {
                let default = KnowledgeFile::parse("built-in default", DEFAULT_KNOWLEDGE)?;
                self.import_knowledge(&default, "built-in default").await?
            }
        };
        let rows = sqlx::query(
            "SELECT hilist_code, name_zh, name_en, ward_kind, unit, min_presence_minutes \
             FROM knowledge_items WHERE version = $1 ORDER BY hilist_code",
        )
        .bind(version)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from)?;
        let corrupt = |what, why: String| KnowledgeError::Store(StoreError::Corrupt { what, why });
        let mut items = Vec::new();
        for r in rows {
            let kind: String = r.try_get(3).map_err(StoreError::from)?;
            let unit: String = r.try_get(4).map_err(StoreError::from)?;
            let minutes: i64 = r.try_get(5).map_err(StoreError::from)?;
            items.push(KnowledgeItem {
                hilist_code: r.try_get(0).map_err(StoreError::from)?,
                name_zh: r.try_get(1).map_err(StoreError::from)?,
                name_en: r.try_get(2).map_err(StoreError::from)?,
                ward_kind: ward_kind(&kind).ok_or_else(|| corrupt("ward kind", kind.clone()))?,
                unit: match unit.as_str() {
                    "session" => Unit::Session,
                    "day" => Unit::Day,
                    _ => return Err(corrupt("knowledge unit", unit)),
                },
                min_presence_minutes: u32::try_from(minutes)
                    .map_err(|_| corrupt("presence minutes", minutes.to_string()))?,
            });
        }
        Ok(Knowledge { version, items })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_parses_and_bad_files_are_explained() {
        let default = KnowledgeFile::parse("default", DEFAULT_KNOWLEDGE).unwrap();
        assert!(
            default
                .item
                .iter()
                .all(|i| i.hilist_code.starts_with("EXAMPLE-"))
        );
        let twice = format!(
            "{DEFAULT_KNOWLEDGE}\n[[item]]\nhilist_code = \"EXAMPLE-311000006\"\nname_zh = \"x\"\nname_en = \"x\"\n\
             ward_kind = \"haemodialysis\"\nunit = \"session\"\nmin_presence_minutes = 10\n"
        );
        let err = KnowledgeFile::parse("k.toml", &twice)
            .unwrap_err()
            .to_string();
        assert!(err.contains("appears twice"), "{err}");
        let err = KnowledgeFile::parse(
            "k.toml",
            &DEFAULT_KNOWLEDGE.replace("\"session\"", "\"hour\""),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("k.toml") && err.contains("unit"), "{err}");
    }
}
