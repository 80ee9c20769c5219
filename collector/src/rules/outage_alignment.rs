//! `outage_alignment`: an institution whose camera outages line up with its billed time. Billed time under
//! an outage is never a fraud flag by itself (the session rules call it "no evidence"); but an
//! institution that covers its cameras when it bills is. Per institution over the run's window:
//!
//! - billed share = minutes of billed session slots under an outage / minutes of billed session slots;
//! - base share = minutes under an outage outside every billed slot / minutes outside every billed slot
//!   (what its cameras do when nothing is billed).
//!
//! Flagged when the billed share is at least `min_billed_share` and at least `min_lift` × the base share,
//! on at least `min_days` distinct days; or when the billed share is at least `always_share` (cameras
//! that are always off line up with everything). At stake: the billing of the institution's no-evidence
//! days.

use super::timeline::{covered_minutes, local_date, union};
use super::{BilledLine, RulesError, Run};
use crate::flags::store::NewFlag;
use crate::knowledge::Unit;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
struct Tally {
    billed_minutes: f64,
    billed_under_outage: f64,
    days: BTreeSet<chrono::NaiveDate>,
    slots: Vec<(i64, i64)>,
}

/// Runs the rule over the billed lines and the institutions' outages.
pub async fn run(run: &mut Run<'_>, lines: &[BilledLine<'_>]) -> Result<(), RulesError> {
    let rule = &run.rules.outage_alignment;
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    for line in lines
        .iter()
        .filter(|l| l.item.unit == Unit::Session && l.cnt > 0.0)
    {
        let Some(institution) = line.institution.as_deref() else {
            continue;
        };
        let (start, end) = line.slot();
        let tally = tallies.entry(institution).or_default();
        tally.billed_minutes += (end - start) as f64 / 60_000.0;
        let under = run
            .observed
            .outages
            .get(institution)
            .map_or(0.0, |o| covered_minutes(o, start, end));
        tally.billed_under_outage += under;
        tally.slots.push((start, end));
        if under > 0.0
            && let Some(date) = local_date(start, run.zone)
        {
            tally.days.insert(date);
        }
    }
    let window_minutes = (run.to_ms - run.from_ms) as f64 / 60_000.0;
    for (institution, tally) in tallies {
        if tally.billed_minutes <= 0.0 || window_minutes <= 0.0 {
            continue;
        }
        let outages: &[(i64, i64)] = run.observed.outages.get(institution).map_or(&[], |o| o);
        let outage_minutes = covered_minutes(outages, run.from_ms, run.to_ms);
        let slots = union(tally.slots.clone());
        let slot_minutes = covered_minutes(&slots, run.from_ms, run.to_ms);
        let outage_in_slots: f64 = slots
            .iter()
            .map(|&(s, e)| covered_minutes(outages, s.max(run.from_ms), e.min(run.to_ms)))
            .sum();
        let unbilled_minutes = window_minutes - slot_minutes;
        let base_share = if unbilled_minutes > 0.0 {
            (outage_minutes - outage_in_slots).max(0.0) / unbilled_minutes
        } else {
            0.0
        };
        let billed_share = tally.billed_under_outage / tally.billed_minutes;
        let params = &rule.params;
        let aligned = billed_share >= params.min_billed_share
            && billed_share >= params.min_lift * base_share
            && tally.days.len() >= params.min_days as usize;
        if !aligned && billed_share < params.always_share {
            continue;
        }
        let unjudged: Vec<_> = run
            .no_evidence
            .iter()
            .filter(|d| d.institution == institution)
            .collect();
        let (from, to) = (
            local_date(run.from_ms, run.zone)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            local_date(run.to_ms - 1, run.zone)
                .map(|d| d.to_string())
                .unwrap_or_default(),
        );
        let evidence = json!({
            "window": [from, to],
            "billed_session_minutes": tally.billed_minutes,
            "billed_minutes_under_outage": tally.billed_under_outage,
            "billed_share_under_outage": billed_share,
            "outage_minutes_in_window": outage_minutes,
            "base_share_under_outage_when_unbilled": base_share,
            "lift": if base_share > 0.0 { billed_share / base_share } else { f64::INFINITY },
            "days_with_outage_in_billed_time": tally.days.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            "no_evidence_patient_days": unjudged.len(),
        });
        let flag = NewFlag {
            dedup_key: format!("outage_alignment/{institution}/{from}/{to}"),
            rule_id: "outage_alignment".into(),
            rule_version: rule.version,
            fixmedins_code: institution.to_owned(),
            psn_no: None,
            amount_fen: unjudged.iter().map(|d| d.amount_fen).sum(),
            evidence,
            lines: unjudged
                .iter()
                .flat_map(|d| d.lines.iter().cloned())
                .collect(),
        };
        run.raise(flag).await?;
    }
    Ok(())
}
