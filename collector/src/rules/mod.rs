//! Rules (规则库): cross-matching settlement records with presence and raising flags.
//!
//! `wardwatch-collector rules run --from … --to …` is repeatable: a finding is identified by its rule,
//! institution, patient, day and ward kind (or week), and is never raised twice. Rules so far:
//! [`presence`] (`no_presence` 假病人, `short_presence`) and [`weekly`] (`dialysis_over_weekly`); the
//! others of the collector issue come next.

pub mod presence;
pub mod weekly;

use crate::knowledge::{Knowledge, KnowledgeError, KnowledgeItem};
use crate::store::{Store, StoreError};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

/// Thresholds and settings of the rules in force.
#[derive(Debug, Clone)]
pub struct RuleParams {
    /// The zone whose calendar days group billed sessions.
    pub zone: Tz,
    /// `short_presence` fires below this share of the presence the billed units imply.
    pub short_ratio: f64,
    /// `dialysis_over_weekly` fires above this many haemodialysis sessions per patient and ISO week.
    pub max_dialysis_per_week: u32,
    /// The rules' version, recorded on each flag.
    pub version: i64,
}

impl Default for RuleParams {
    fn default() -> Self {
        RuleParams {
            zone: chrono_tz::Asia::Shanghai,
            short_ratio: 0.5,
            max_dialysis_per_week: 5,
            version: 1,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RulesReport {
    /// Knowledge version used.
    pub knowledge_version: i64,
    /// Billed patient-days checked.
    pub checked: u64,
    /// New flags by rule.
    pub raised: BTreeMap<String, u64>,
    /// Findings already flagged by an earlier run.
    pub already_raised: u64,
    /// Patient-days that would have been flagged but fell under a camera outage or a silent device:
    /// no evidence either way.
    pub no_evidence: u64,
    /// Fee lines of a known item whose encounter has no settlement (no institution to check).
    pub unlinked_lines: u64,
}

/// A rules run failed.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The knowledge base is unusable.
    #[error(transparent)]
    Knowledge(#[from] KnowledgeError),
}

impl From<sqlx::Error> for RulesError {
    fn from(e: sqlx::Error) -> Self {
        RulesError::Store(StoreError::Query(e))
    }
}

/// A fee line of a knowledge-listed item, with the institution of its encounter.
#[derive(Debug, Clone)]
pub struct BilledLine<'k> {
    /// The fee line.
    pub feedetl_sn: String,
    /// The patient.
    pub psn_no: String,
    /// When it was billed (UTC ms).
    pub at_ms: i64,
    /// What the knowledge base says about its item.
    pub item: &'k KnowledgeItem,
    /// Units (negative for refunds).
    pub cnt: f64,
    /// Amount in fen.
    pub fee_fen: i64,
    /// The institution, from the encounter's settlement (`None`: no settlement imported for it).
    pub institution: Option<String>,
}

/// The fee lines billed in [from_ms, to_ms) for items the knowledge base knows, in billing order.
async fn billed_lines<'k>(
    store: &Store,
    knowledge: &'k Knowledge,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<BilledLine<'k>>, RulesError> {
    let rows = sqlx::query(
        "SELECT f.feedetl_sn, f.psn_no, f.fee_ocur_time_ms, f.hilist_code, f.cnt, \
         f.det_item_fee_sumamt_fen, s.fixmedins_code \
         FROM fee_lines f LEFT JOIN (SELECT mdtrt_id, MIN(fixmedins_code) AS fixmedins_code \
         FROM settlements GROUP BY mdtrt_id) s ON s.mdtrt_id = f.mdtrt_id \
         WHERE f.fee_ocur_time_ms >= $1 AND f.fee_ocur_time_ms < $2 \
         ORDER BY f.fee_ocur_time_ms, f.feedetl_sn",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(store.pool())
    .await?;
    let mut lines = Vec::new();
    for row in rows {
        let code: String = row.try_get(3)?;
        let Some(item) = knowledge.item(&code) else {
            continue;
        };
        lines.push(BilledLine {
            feedetl_sn: row.try_get(0)?,
            psn_no: row.try_get(1)?,
            at_ms: row.try_get(2)?,
            item,
            cnt: row.try_get(4)?,
            fee_fen: row.try_get(5)?,
            institution: row.try_get(6)?,
        });
    }
    Ok(lines)
}

/// Runs every rule over fee lines billed in [from_ms, to_ms).
pub async fn run_rules(
    store: &Store,
    params: &RuleParams,
    from_ms: i64,
    to_ms: i64,
) -> Result<RulesReport, RulesError> {
    let knowledge = store.knowledge().await?;
    let mut report = RulesReport {
        knowledge_version: knowledge.version,
        ..RulesReport::default()
    };
    let lines = billed_lines(store, &knowledge, from_ms, to_ms).await?;
    presence::run(store, params, &lines, &mut report).await?;
    weekly::run(store, params, &lines, &mut report).await?;
    Ok(report)
}
