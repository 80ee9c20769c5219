//! What the evaluators return: findings (a rule, a subject, the fee lines and amount at stake, the
//! evidence) and the billed days they could not judge. The run turns findings of enabled rules into
//! flags; nothing here touches the database.

use super::id::RuleId;
use chrono::NaiveDate;
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

/// A billed patient-day a rule could not judge (camera outage or silent device): no evidence either
/// way, counted and never flagged by that rule.
#[derive(Debug, Clone, PartialEq)]
pub struct NoEvidenceDay {
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
}

/// What one or more evaluators produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Findings, in the order they are to be raised.
    pub findings: Vec<Finding>,
    /// Billed days nobody could judge.
    pub no_evidence: Vec<NoEvidenceDay>,
    /// Billed patient-days checked against presence.
    pub checked: u64,
}

impl Evaluation {
    /// Appends another evaluator's output.
    pub fn extend(&mut self, other: Evaluation) {
        self.findings.extend(other.findings);
        self.no_evidence.extend(other.no_evidence);
        self.checked += other.checked;
    }
}
