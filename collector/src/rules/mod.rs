//! Rules (规则库): cross-matching settlement records with presence and raising flags.
//!
//! A run flows in three steps:
//! 1. **load** ([`inputs::RuleInputs::load`]): the rules base in force ([`base`], typed as
//!    [`set::RuleSet`]), the knowledge base, the fee lines billed in the window for items the knowledge
//!    base knows, what the ward boxes observed around it ([`observed`]) and the enrolled faces;
//! 2. **evaluate** ([`evaluate`], pure: no database): each rule module's `evaluate` turns the inputs into
//!    [`finding::Finding`]s and the billed days it could not judge; [`evaluate`] is the one place that
//!    asks whether a rule is enabled;
//! 3. **save** ([`run_rules`]): each finding becomes a flag unless the same finding (rule + subject) was
//!    raised before, so `wardwatch-collector rules run --from … --to …` is repeatable.
//!
//! A run ([`run`]) does these steps one part of the window at a time — each institution, then the
//! patients seen or billed at more than one, then the gallery — so its memory is that of the largest
//! part, not of the province.
//!
//! | module | rules |
//! |---|---|
//! | [`sessions`] | per billed session line: `no_presence` (假病人), `impersonation` (冒名), `short_presence`, `billed_above_observed`, `presentation_attack` (疑似照片/屏幕冒充), `unmonitored_billing` (监控缺失, off by default) |
//! | [`impostors`] | for [`sessions`]: which absent line each unknown face sat in (`impersonation` or `no_presence`) |
//! | [`seats`] | for [`impostors`]: each patient's usual seat, the seat an unknown person sat in |
//! | [`bed_holding`] | `bed_holding` (挂床): inpatient days billed while absent N days running |
//! | [`cross_institution`] | `cross_institution`: billed or seen at two institutions at once |
//! | [`weekly`] | `dialysis_over_weekly` |
//! | [`duplicate_face`] | `duplicate_face`: one face, several insurance numbers |
//! | [`face_pairs`] | for [`duplicate_face`]: the enrolled faces alike above a threshold, in tiles of matrix products |
//! | [`outage_alignment`] | `outage_alignment`: an institution whose outages line up with its billing |
//!
//! Each rule module owns its thresholds (typed, range-checked) beside its evaluator; [`id`] names the
//! rules; [`timeline`] is the interval arithmetic they share; [`monitoring`] says when each ward was blind.
//!
//! Coverage first: billed time that a camera outage, a silent ward box or the lack of a box could
//! explain is **no evidence** — counted and reported (with each institution's share of billed session
//! time under working monitoring), never a fraud flag on the line by itself.

pub mod base;
pub mod bed_holding;
pub mod cross_institution;
pub mod duplicate_face;
pub mod face_pairs;
pub mod finding;
#[cfg(test)]
mod fixtures;
pub mod id;
pub mod impostors;
pub mod inputs;
pub mod monitoring;
pub mod observed;
pub mod outage_alignment;
pub mod params;
pub mod run;
pub mod seats;
pub mod sessions;
pub mod set;
pub mod timeline;
pub mod unmonitored;
pub mod weekly;

pub use finding::{Evaluation, Finding, NoEvidence, SlotCoverage};
pub use id::RuleId;
pub use inputs::{BilledLine, RuleInputs};
pub use set::{Rule, RuleSet};

use crate::knowledge::KnowledgeError;
use crate::store::{Store, StoreError};
use base::RulesBaseError;
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::BTreeMap;
use wardwatch_protocol::InstitutionCode;

/// One institution's billed session time in a run's window and how much of it was monitored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstitutionCoverage {
    /// The institution.
    pub institution: InstitutionCode,
    /// Minutes of billed session slots.
    pub billed_minutes: f64,
    /// Of which the ward was blind (camera outage, silent box, no box).
    pub blind_minutes: f64,
    /// The share of billed session time with working monitoring.
    pub monitored_share: f64,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RulesReport {
    /// Rules base version used.
    pub rules_version: i64,
    /// Knowledge version used.
    pub knowledge_version: i64,
    /// Billed lines (session lines and bed-days) checked against presence.
    pub checked: u64,
    /// New flags by rule.
    pub raised: BTreeMap<String, u64>,
    /// Findings already flagged by an earlier run.
    pub already_raised: u64,
    /// Billed lines (bed-days) that would have been flagged but that the ward's blindness (camera
    /// outage, silent box, no box) could explain: no evidence either way.
    pub no_evidence: u64,
    /// The amount billed on those lines (fen).
    pub no_evidence_amount_fen: i64,
    /// Fee lines of a known item with no institution (neither their own 定点医药机构编号 nor their
    /// encounter's settlement): not checked.
    pub unlinked_lines: u64,
    /// Refund lines in the window that refund no billed line in it (their lines were judged as billed).
    pub unmatched_refunds: u64,
    /// Per institution: billed session time and the share of it under working monitoring.
    pub coverage: Vec<InstitutionCoverage>,
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

/// Evaluates every enabled rule over `inputs`: the findings to raise, in order, and the billed days
/// without evidence (for the rules that are on). A run over a whole window evaluates it in parts
/// ([`evaluate_institution`], [`evaluate_crossing`], then `duplicate_face` over the gallery: see [`run`]); this is all of them at once.
pub fn evaluate(rules: &RuleSet, inputs: &RuleInputs<'_>) -> Evaluation {
    let mut out = local(rules, inputs);
    out.findings.extend(cross_institution::evaluate(
        inputs,
        &rules.cross_institution.params,
    ));
    out.findings
        .extend(weekly::evaluate(inputs, &rules.dialysis_over_weekly.params));
    out.findings.extend(duplicate_face::evaluate(
        inputs,
        &rules.duplicate_face.params,
    ));
    outage_alignment_of(rules, inputs, &mut out);
    keep_enabled(rules, out)
}

/// The rules judged within one institution (`inputs` of [`inputs::Scope::Institution`]): the session
/// rules, bed holding, outage alignment, and the weekly limit for patients billed nowhere else
/// (`crossing`: those seen or billed at more than one institution, judged by [`evaluate_crossing`]).
pub fn evaluate_institution(
    rules: &RuleSet,
    inputs: &RuleInputs<'_>,
    crossing: &std::collections::HashSet<wardwatch_protocol::PsnNo>,
) -> Evaluation {
    let mut out = local(rules, inputs);
    out.findings.extend(
        weekly::evaluate(inputs, &rules.dialysis_over_weekly.params)
            .into_iter()
            .filter(|f| f.psn_no.as_ref().is_none_or(|p| !crossing.contains(p))),
    );
    outage_alignment_of(rules, inputs, &mut out);
    keep_enabled(rules, out)
}

/// The rules about a patient at several institutions (`inputs` of [`inputs::Scope::Patients`] with
/// the monitoring of their institutions): two places at once, and the weekly limit over all of them.
pub fn evaluate_crossing(rules: &RuleSet, inputs: &RuleInputs<'_>) -> Evaluation {
    let mut out = Evaluation::default();
    out.findings.extend(cross_institution::evaluate(
        inputs,
        &rules.cross_institution.params,
    ));
    out.findings
        .extend(weekly::evaluate(inputs, &rules.dialysis_over_weekly.params));
    keep_enabled(rules, out)
}

/// Session rules and bed holding, with the no-evidence days of the rules that are on.
fn local(rules: &RuleSet, inputs: &RuleInputs<'_>) -> Evaluation {
    let mut out = sessions::evaluate(inputs, rules);
    out.extend(bed_holding::evaluate(inputs, rules));
    out.no_evidence.retain(|line| rules.enabled(line.rule));
    out
}

fn outage_alignment_of(rules: &RuleSet, inputs: &RuleInputs<'_>, out: &mut Evaluation) {
    let found =
        outage_alignment::evaluate(inputs, &rules.outage_alignment.params, &out.no_evidence);
    out.findings.extend(found);
}

/// The one place that asks whether a rule is enabled: a finding of a rule that is off is dropped, or
/// reported as the rule it refines ([`RuleId::falls_back_to`]) when that one is on.
fn keep_enabled(rules: &RuleSet, mut out: Evaluation) -> Evaluation {
    out.findings = std::mem::take(&mut out.findings)
        .into_iter()
        .filter_map(|mut finding| {
            if rules.enabled(finding.rule) {
                return Some(finding);
            }
            let fallback = finding.rule.falls_back_to()?;
            rules.enabled(fallback).then(|| {
                finding.rule = fallback;
                finding
            })
        })
        .collect();
    out
}

/// Runs every enabled rule of the rules base in force over fee lines billed in [from_ms, to_ms),
/// local days in `zone`, and raises their findings as flags: one institution at a time, then the
/// patients seen or billed at more than one, then the gallery ([`run`]).
pub async fn run_rules(
    store: &Store,
    zone: Tz,
    from_ms: i64,
    to_ms: i64,
) -> Result<RulesReport, RulesError> {
    run::run(store, zone, from_ms, to_ms).await
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    fn with(rules: &mut RuleSet, f: impl FnOnce(&mut RuleSet)) -> &RuleSet {
        f(rules);
        rules
    }

    fn never_seen_with_an_impostor<'k>(
        item: &'k crate::knowledge::KnowledgeItem,
    ) -> RuleInputs<'k> {
        let mut inputs = inputs(vec![line("L1", item, H1, P1, at(3, 8, 0), 1.0)]);
        let mut face = span(H1, item.ward_kind, at(3, 8, 0), at(3, 12, 0));
        face.track_id = Some("t-1".into());
        inputs
            .observed
            .unknown
            .entry((code(H1), item.ward_kind.as_str().into()))
            .or_default()
            .push(face);
        inputs
    }

    fn found(evaluation: &Evaluation) -> Vec<RuleId> {
        evaluation.findings.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn a_disabled_rule_raises_nothing_and_impersonation_falls_back_to_no_presence() {
        let item = dialysis();
        let inputs = never_seen_with_an_impostor(&item);
        let mut rules = default_rules();
        assert_eq!(
            found(&evaluate(&rules, &inputs)),
            vec![RuleId::Impersonation]
        );
        let off = with(&mut rules, |r| r.impersonation.enabled = false);
        assert_eq!(found(&evaluate(off, &inputs)), vec![RuleId::NoPresence]);
        let off = with(&mut rules, |r| r.no_presence.enabled = false);
        assert!(found(&evaluate(off, &inputs)).is_empty());
    }

    #[test]
    fn no_evidence_days_of_a_disabled_rule_are_not_counted() {
        let item = bed_day();
        let mut inputs = inputs(vec![line("B1", &item, H1, P1, at(3, 0, 30), 1.0)]);
        silent(&mut inputs, H1, at(3, 0, 0), at(4, 0, 0));
        let mut rules = default_rules();
        assert_eq!(evaluate(&rules, &inputs).no_evidence.len(), 1);
        let off = with(&mut rules, |r| r.bed_holding.enabled = false);
        let got = evaluate(off, &inputs);
        assert!(got.no_evidence.is_empty());
        assert_eq!(got.checked, 1, "still checked, as before");
    }
}
