//! `outage_alignment`: an institution whose blind time lines up with its billed time. "Blind" is camera
//! outages and silent ward boxes alike ([`super::monitoring`]): a box switched off, unplugged or without
//! network counts as a covered lens does. Billed time while blind is never a fraud flag by itself (the
//! session rules call it "no evidence"); but an institution that blinds its wards when it bills is. Per
//! institution over the run's window, from when it had its first ward box:
//!
//! - billed share = minutes of billed session slots while blind / minutes of billed session slots;
//! - base share = blind minutes outside every billed slot / minutes outside every billed slot (what its
//!   wards do when nothing is billed).
//!
//! Flagged when the billed share is at least `min_billed_share` and at least `min_lift` × the base share,
//! on at least `min_days` distinct days; or when the billed share is at least `always_share` on at least
//! `min_days` days, whatever the lift (a box switched off for whole days on the days it bills ghost
//! sessions is as blind at night as by day, so the lift cannot show it; a ward box belongs on around the
//! clock). At stake: the billing of the institution's no-evidence lines.

use super::finding::{Finding, NoEvidence};
use super::id::RuleId;
use super::inputs::RuleInputs;
use super::params::{RuleParams, check_range};
use super::timeline::{covered_minutes, local_date, union};

use crate::knowledge::Unit;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use wardwatch_protocol::InstitutionCode;

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

impl RuleParams for OutageAlignment {
    fn check(&self, rule: RuleId) -> Result<(), String> {
        check_range(rule, "min_billed_share", self.min_billed_share, 0.01, 1.0)?;
        check_range(rule, "min_lift", self.min_lift, 1.0, 1000.0)?;
        check_range(rule, "min_days", f64::from(self.min_days), 1.0, 366.0)?;
        check_range(rule, "always_share", self.always_share, 0.05, 1.0)
    }
}

#[derive(Debug, Default)]
struct Tally {
    billed_minutes: f64,
    billed_under_outage: f64,
    days: BTreeSet<chrono::NaiveDate>,
    slots: Vec<(i64, i64)>,
    ward_kinds: BTreeSet<&'static str>,
    /// From when the institution had a ward box.
    since: i64,
}

/// Evaluates the rule over the billed lines, the institutions' outages and the billed days the other
/// rules could not judge (`no_evidence`: their billing is what is at stake).
pub fn evaluate(
    inputs: &RuleInputs<'_>,
    params: &OutageAlignment,
    no_evidence: &[NoEvidence],
) -> Vec<Finding> {
    let (from_ms, to_ms, zone) = (inputs.from_ms, inputs.to_ms, inputs.zone);
    let mut findings = Vec::new();
    let mut tallies: BTreeMap<&InstitutionCode, Tally> = BTreeMap::new();
    let monitoring = &inputs.observed.monitoring;
    for line in inputs
        .lines
        .iter()
        .filter(|l| l.item.unit == Unit::Session && l.cnt > 0.0)
    {
        let Some(institution) = line.institution.as_ref() else {
            continue;
        };
        // Before its first ward box an institution was not monitored at all: the coverage figure shows
        // that; this rule judges what an equipped institution does with its boxes.
        let Some(&since) = monitoring.equipped_since.get(institution) else {
            continue;
        };
        let (start, end) = line.slot();
        if start < since {
            continue;
        }
        let kind = line.item.ward_kind.as_str();
        let tally = tallies.entry(institution).or_insert_with(|| Tally {
            since: since.max(from_ms),
            ..Tally::default()
        });
        tally.billed_minutes += (end - start) as f64 / 60_000.0;
        let under = monitoring.blind_minutes(institution, kind, start, end);
        tally.billed_under_outage += under;
        tally.slots.push((start, end));
        tally.ward_kinds.insert(kind);
        if under > 0.0
            && let Some(date) = local_date(start, zone)
        {
            tally.days.insert(date);
        }
    }
    for (institution, tally) in tallies {
        let window_minutes = (to_ms - tally.since) as f64 / 60_000.0;
        if tally.billed_minutes <= 0.0 || window_minutes <= 0.0 {
            continue;
        }
        let outages = union(
            tally
                .ward_kinds
                .iter()
                .flat_map(|kind| monitoring.blind(institution, kind, tally.since, to_ms))
                .collect(),
        );
        let outage_minutes = covered_minutes(&outages, tally.since, to_ms);
        let slots = union(tally.slots.clone());
        let slot_minutes = covered_minutes(&slots, tally.since, to_ms);
        let outage_in_slots: f64 = slots
            .iter()
            .map(|&(s, e)| covered_minutes(&outages, s.max(tally.since), e.min(to_ms)))
            .sum();
        let unbilled_minutes = window_minutes - slot_minutes;
        let base_share = if unbilled_minutes > 0.0 {
            (outage_minutes - outage_in_slots).max(0.0) / unbilled_minutes
        } else {
            0.0
        };
        let billed_share = tally.billed_under_outage / tally.billed_minutes;
        let aligned = billed_share >= params.min_billed_share
            && billed_share >= params.min_lift * base_share
            && tally.days.len() >= params.min_days as usize;
        let mostly_blind =
            billed_share >= params.always_share && tally.days.len() >= params.min_days as usize;
        if !aligned && !mostly_blind {
            continue;
        }
        let unjudged: Vec<_> = no_evidence
            .iter()
            .filter(|d| d.institution == *institution)
            .collect();
        let (from, to) = (
            local_date(from_ms, zone)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            local_date(to_ms - 1, zone)
                .map(|d| d.to_string())
                .unwrap_or_default(),
        );
        let evidence = json!({
            "window": [from, to],
            "billed_session_minutes": tally.billed_minutes,
            "billed_minutes_under_outage": tally.billed_under_outage,
            "billed_share_under_outage": billed_share,
            "blind_minutes_in_window": outage_minutes,
            "base_share_under_outage_when_unbilled": base_share,
            "lift": if base_share > 0.0 { billed_share / base_share } else { f64::INFINITY },
            "days_with_outage_in_billed_time": tally.days.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            "no_evidence_lines": unjudged.len(),
        });
        findings.push(Finding {
            rule: RuleId::OutageAlignment,
            subject: format!("{institution}/{from}/{to}"),
            institution: institution.to_owned(),
            psn_no: None,
            amount_fen: unjudged.iter().map(|d| d.amount_fen).sum(),
            evidence,
            lines: unjudged
                .iter()
                .flat_map(|d| d.lines.iter().cloned())
                .collect(),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fixtures::*;

    fn no_evidence(sn: &str, day: u32) -> NoEvidence {
        NoEvidence {
            rule: RuleId::NoPresence,
            institution: code(H1),
            psn_no: psn(P1),
            date: local_date(at(day, 12, 0), ZONE).unwrap_or_default(),
            lines: vec![sn.into()],
            amount_fen: 10_000,
            blind_minutes: 240.0,
        }
    }

    const DAYS: [u32; 4] = [3, 5, 7, 10];

    /// A dialysis session billed at 08:00 on each of [`DAYS`], and an outage each of those days
    /// from `outage_from` to `outage_to` (hour, minute).
    fn billed_with_outages<'k>(
        item: &'k crate::knowledge::KnowledgeItem,
        outage_from: (u32, u32),
        outage_to: (u32, u32),
    ) -> RuleInputs<'k> {
        let mut inputs = inputs(
            DAYS.iter()
                .map(|&d| line(&format!("L{d}"), item, H1, P1, at(d, 8, 0), 1.0))
                .collect(),
        );
        for d in DAYS {
            outage(
                &mut inputs,
                H1,
                at(d, outage_from.0, outage_from.1),
                at(d, outage_to.0, outage_to.1),
            );
        }
        inputs
    }

    #[test]
    fn cameras_off_whenever_sessions_are_billed_flag_the_institution() {
        let item = dialysis();
        let days = DAYS;
        let inputs = billed_with_outages(&item, (7, 55), (12, 5));
        let unjudged: Vec<_> = days
            .iter()
            .map(|&d| no_evidence(&format!("L{d}"), d))
            .collect();
        let got = evaluate(&inputs, &default_rules().outage_alignment.params, &unjudged);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].institution.as_str(), H1);
        assert_eq!(got[0].lines, vec!["L3", "L5", "L7", "L10"]);
        assert_eq!(got[0].amount_fen, 40_000);
    }

    #[test]
    fn outages_at_night_do_not_line_up_with_billing() {
        let item = dialysis();
        let inputs = billed_with_outages(&item, (1, 0), (4, 0));
        let got = evaluate(&inputs, &default_rules().outage_alignment.params, &[]);
        assert!(got.is_empty(), "{got:?}");
    }
}
