//! Rules (规则库): cross-matching settlement records with presence and raising flags.
//!
//! A run reads the rules base in force ([`base`]), the knowledge base, the fee lines billed in the window
//! for items the knowledge base knows, and what the ward boxes observed around it ([`observed`]); then
//! each enabled rule raises flags. `wardwatch-collector rules run --from … --to …` is repeatable: a
//! finding is identified by its rule and subject (institution, patient, day or week …), never raised twice.
//!
//! | module | rules |
//! |---|---|
//! | [`sessions`] | per billed patient-day of session items: `no_presence` (假病人), `impersonation` (冒名), `short_presence`, `billed_above_observed` |
//! | [`bed_holding`] | `bed_holding` (挂床): inpatient days billed while absent N days running |
//! | [`cross_institution`] | `cross_institution`: billed or seen at two institutions at once |
//! | [`weekly`] | `dialysis_over_weekly` |
//! | [`duplicate_face`] | `duplicate_face`: one face, several insurance numbers |
//! | [`outage_alignment`] | `outage_alignment`: an institution whose outages line up with its billing |
//!
//! Coverage first: billed time that a camera outage or a silent ward box could explain is **no
//! evidence** — counted and reported, never a fraud flag by itself.

pub mod base;
pub mod bed_holding;
pub mod cross_institution;
pub mod duplicate_face;
pub mod observed;
pub mod outage_alignment;
pub mod sessions;
pub mod timeline;
pub mod weekly;

use crate::flags::store::NewFlag;
use crate::knowledge::{Knowledge, KnowledgeError, KnowledgeItem};
use crate::store::{Store, StoreError};
use base::{RuleSet, RulesBaseError};
use chrono::NaiveDate;
use chrono_tz::Tz;
use observed::Observations;
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RulesReport {
    /// Rules base version used.
    pub rules_version: i64,
    /// Knowledge version used.
    pub knowledge_version: i64,
    /// Billed patient-days checked against presence.
    pub checked: u64,
    /// New flags by rule.
    pub raised: BTreeMap<String, u64>,
    /// Findings already flagged by an earlier run.
    pub already_raised: u64,
    /// Billed patient-days that would have been flagged but that a camera outage or a silent device
    /// could explain: no evidence either way.
    pub no_evidence: u64,
    /// The amount billed on those days (fen).
    pub no_evidence_amount_fen: i64,
    /// Fee lines of a known item whose encounter has no settlement (no institution to check).
    pub unlinked_lines: u64,
    /// Rules switched off in the rules base.
    pub disabled: Vec<String>,
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
    /// The rules base is unusable.
    #[error(transparent)]
    RulesBase(#[from] RulesBaseError),
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
    /// When it was billed (UTC ms); taken as the start of the session.
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

impl BilledLine<'_> {
    /// The billed slot: [fee time, fee time + units × presence per unit).
    pub fn slot(&self) -> (i64, i64) {
        let minutes = self.cnt.max(0.0) * f64::from(self.item.min_presence_minutes);
        (self.at_ms, self.at_ms + (minutes * 60_000.0) as i64)
    }
}

/// A billed patient-day the rules could not judge (outage or silent device).
#[derive(Debug, Clone)]
pub struct NoEvidenceDay {
    /// The institution.
    pub institution: String,
    /// The patient.
    pub psn_no: String,
    /// The local day.
    pub date: NaiveDate,
    /// Its fee lines.
    pub lines: Vec<String>,
    /// Amount billed (fen).
    pub amount_fen: i64,
}

/// One run in progress: its inputs, and the report it builds.
pub struct Run<'a> {
    /// The store.
    pub store: &'a Store,
    /// The rules in force.
    pub rules: &'a RuleSet,
    /// The zone of local days.
    pub zone: Tz,
    /// Window start (UTC ms, inclusive).
    pub from_ms: i64,
    /// Window end (UTC ms, exclusive).
    pub to_ms: i64,
    /// What the ward boxes saw.
    pub observed: &'a Observations,
    /// The report so far.
    pub report: RulesReport,
    /// Days without evidence, for `outage_alignment`.
    pub no_evidence: Vec<NoEvidenceDay>,
}

impl Run<'_> {
    /// Raises a flag unless the same finding was raised before; counts either way.
    pub async fn raise(&mut self, flag: NewFlag) -> Result<(), RulesError> {
        let rule = flag.rule_id.clone();
        match self.store.raise_flag(&flag).await? {
            Some(_) => *self.report.raised.entry(rule).or_default() += 1,
            None => self.report.already_raised += 1,
        }
        Ok(())
    }

    /// Records a billed patient-day without evidence.
    pub fn no_evidence(&mut self, day: NoEvidenceDay) {
        self.report.no_evidence += 1;
        self.report.no_evidence_amount_fen += day.amount_fen;
        self.no_evidence.push(day);
    }
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

/// Runs every enabled rule of the rules base in force over fee lines billed in [from_ms, to_ms),
/// local days in `zone`.
pub async fn run_rules(
    store: &Store,
    zone: Tz,
    from_ms: i64,
    to_ms: i64,
) -> Result<RulesReport, RulesError> {
    let knowledge = store.knowledge().await?;
    let rules_base = store.rules_base().await?;
    let rules = &rules_base.set;
    let lines = billed_lines(store, &knowledge, from_ms, to_ms).await?;
    let observed = Observations::load(store, zone, from_ms, to_ms).await?;
    let mut run = Run {
        store,
        rules,
        zone,
        from_ms,
        to_ms,
        observed: &observed,
        report: RulesReport {
            rules_version: rules.version,
            knowledge_version: knowledge.version,
            disabled: rules_base
                .rules
                .iter()
                .filter(|r| !r.definition.enabled)
                .map(|r| r.definition.id.clone())
                .collect(),
            ..RulesReport::default()
        },
        no_evidence: Vec::new(),
    };
    run.report.unlinked_lines = lines.iter().filter(|l| l.institution.is_none()).count() as u64;
    sessions::run(&mut run, &lines).await?;
    bed_holding::run(&mut run, &lines).await?;
    if rules.cross_institution.enabled {
        cross_institution::run(&mut run, &lines).await?;
    }
    if rules.dialysis_over_weekly.enabled {
        weekly::run(&mut run, &lines).await?;
    }
    if rules.duplicate_face.enabled {
        duplicate_face::run(&mut run, &lines).await?;
    }
    if rules.outage_alignment.enabled {
        outage_alignment::run(&mut run, &lines).await?;
    }
    Ok(run.report)
}
