//! What the evaluators return: findings (a rule, a subject, the fee lines and amount at stake, the
//! evidence) and the billed days they could not judge. The run turns findings of enabled rules into
//! flags; nothing here touches the database.

use super::id::RuleId;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;
use wardwatch_protocol::{InstitutionCode, PsnNo};

/// Something a rule found, not yet a flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The rule.
    pub rule: RuleId,
    /// What the finding is about (institution, patient, day or week …): with the rule it identifies
    /// the finding, so the same finding is never flagged twice.
    pub subject: String,
    /// The institution concerned.
    pub institution: InstitutionCode,
    /// The patient concerned, if one.
    pub psn_no: Option<PsnNo>,
    /// The amount at stake, in fen.
    pub amount_fen: i64,
    /// The evidence, as JSON.
    pub evidence: serde_json::Value,
    /// The fee lines (`feedetl_sn`) at stake.
    pub lines: Vec<String>,
}

impl Finding {
    /// The flag's de-duplication key: `rule/subject`.
    pub fn dedup_key(&self) -> String {
        format!("{}/{}", self.rule, self.subject)
    }
}

/// A billed line (or bed-day) a rule could not judge because the ward was blind during it (camera
/// outage, silent box, no box): no evidence either way, counted and never flagged by that rule.
#[derive(Debug, Clone, PartialEq)]
pub struct NoEvidence {
    /// The rule that could not judge it.
    pub rule: RuleId,
    /// The institution.
    pub institution: InstitutionCode,
    /// The patient.
    pub psn_no: PsnNo,
    /// The local day.
    pub date: NaiveDate,
    /// Its fee lines.
    pub lines: Vec<String>,
    /// Amount billed (fen).
    pub amount_fen: i64,
    /// Minutes of the slot (or day) the ward was blind.
    pub blind_minutes: f64,
}

/// Billed session time of an institution on a local day, and how much of it the ward was blind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SlotCoverage {
    /// Minutes of billed session slots.
    pub billed_minutes: f64,
    /// Of which the ward was blind (camera outage, silent box, no box).
    pub blind_minutes: f64,
}

impl SlotCoverage {
    /// The share of billed time with working monitoring (1 when nothing was billed).
    pub fn monitored_share(&self) -> f64 {
        if self.billed_minutes > 0.0 {
            1.0 - (self.blind_minutes / self.billed_minutes).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }

    /// Adds another stretch's figures.
    pub fn add(&mut self, other: SlotCoverage) {
        self.billed_minutes += other.billed_minutes;
        self.blind_minutes += other.blind_minutes;
    }
}

/// What one or more evaluators produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Findings, in the order they are to be raised.
    pub findings: Vec<Finding>,
    /// Billed lines (bed-days) nobody could judge.
    pub no_evidence: Vec<NoEvidence>,
    /// Billed lines (bed-days) checked against presence.
    pub checked: u64,
    /// Billed session time and its blind part, per institution and local day.
    pub coverage: BTreeMap<(InstitutionCode, NaiveDate), SlotCoverage>,
}

impl Evaluation {
    /// Appends another evaluator's output.
    pub fn extend(&mut self, other: Evaluation) {
        self.findings.extend(other.findings);
        self.no_evidence.extend(other.no_evidence);
        self.checked += other.checked;
        for (key, figures) in other.coverage {
            self.coverage.entry(key).or_default().add(figures);
        }
    }
}
