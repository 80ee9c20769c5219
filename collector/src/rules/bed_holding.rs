//! `bed_holding` (挂床): inpatient days billed while the patient was absent. For each patient and
//! institution, billed days of day-unit items (e.g. psychiatric bed-days) on which the patient was seen
//! in that kind of ward for less than the knowledge base's minutes per day are "absent" days; a run of at
//! least `min_absent_days` calendar-consecutive absent days is one flag with those days' lines.
//!
//! Presence of a face scored below `presentation_attack.min_liveness` is not presence. An inpatient
//! lives on the ward, so the day's presence is expected across the day, not in one hour of it: the
//! ward's blindness (camera outage, silent box, no box: [`super::monitoring`]) excuses only the part of
//! the day it covers, and on a partly blind day the patient must be seen for the minutes per day in
//! proportion to the part that was watched. A day watched for less than `min_watched_share` of it is no
//! evidence: it is counted and it ends the run (so a flag only ever rests on days the cameras were
//! mostly watching). Otherwise an hour's outage a day — a box switched off at the time a bed-day's hour of
//! presence would fall — would hide any absence. A day with no billing, or on which the patient was
//! seen, ends the run too; shorter absences (home leave) are not flagged.

use super::finding::{Evaluation, Finding, NoEvidence};
use super::id::RuleId;
use super::inputs::RuleInputs;
use super::params::{RuleParams, check_range};
use super::set::RuleSet;
use super::timeline::{self, clip, covered_minutes, day_bounds, local_date, subtract};
use crate::knowledge::Unit;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use wardwatch_protocol::{InstitutionCode, PsnNo};

/// `bed_holding` (挂床) thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BedHolding {
    /// Consecutive absent billed days needed for a flag.
    pub min_absent_days: u32,
    /// A billed day is judged only when the ward was watched (cameras working, box alive) for at least
    /// this share of it; on such a day the knowledge base's minutes per day are expected pro rata to
    /// the watched share. Rules bases stored before this parameter read it as 0.5.
    #[serde(default = "default_min_watched_share")]
    pub min_watched_share: f64,
}

fn default_min_watched_share() -> f64 {
    0.5
}

impl RuleParams for BedHolding {
    fn check(&self, rule: RuleId) -> Result<(), String> {
        check_range(
            rule,
            "min_absent_days",
            f64::from(self.min_absent_days),
            1.0,
            60.0,
        )?;
        check_range(rule, "min_watched_share", self.min_watched_share, 0.1, 1.0)
    }
}

#[derive(Debug, Default)]
struct BilledBedDay {
    units: f64,
    required_minutes: f64,
    amount_fen: i64,
    lines: Vec<String>,
}

/// One judged day.
#[derive(Debug)]
struct AbsentDay {
    date: NaiveDate,
    amount_fen: i64,
    lines: Vec<String>,
    presence_minutes: f64,
    blind_minutes: f64,
}

/// Evaluates the rule over the billed lines: findings, and the billed days no camera could judge.
pub fn evaluate(inputs: &RuleInputs<'_>, rules: &RuleSet) -> Evaluation {
    let params = &rules.bed_holding.params;
    let min_liveness = rules.presentation_attack.params.min_liveness;
    let mut out = Evaluation::default();
    let min_days = params.min_absent_days;
    type StayKey = (PsnNo, InstitutionCode, &'static str);
    let mut stays: BTreeMap<StayKey, BTreeMap<NaiveDate, BilledBedDay>> = BTreeMap::new();
    for line in inputs.lines.iter().filter(|l| l.item.unit == Unit::Day) {
        let (Some(institution), Some(date)) = (
            line.institution.clone(),
            local_date(line.at_ms, inputs.zone),
        ) else {
            continue;
        };
        let day = stays
            .entry((
                line.psn_no.clone(),
                institution,
                line.item.ward_kind.as_str(),
            ))
            .or_default()
            .entry(date)
            .or_default();
        day.units += line.cnt;
        day.required_minutes += line.cnt.signum() * f64::from(line.item.min_presence_minutes);
        day.amount_fen += line.fee_fen;
        day.lines.push(line.feedetl_sn.clone());
    }
    for ((psn_no, institution, ward_kind), days) in stays {
        let mut streak: Vec<AbsentDay> = Vec::new();
        let mut flags = Vec::new();
        for (date, billed) in days {
            if billed.units <= 0.0 || billed.amount_fen <= 0 {
                flags.extend(close(&mut streak, min_days));
                continue;
            }
            let Some((start, end)) = day_bounds(date, inputs.zone) else {
                continue;
            };
            out.checked += 1;
            if streak
                .last()
                .is_some_and(|last| last.date.succ_opt() != Some(date))
            {
                flags.extend(close(&mut streak, min_days));
            }
            let presence: Vec<(i64, i64)> = inputs
                .observed
                .sightings(&psn_no, &institution, ward_kind, start, end)
                .into_iter()
                .filter(|s| s.liveness >= min_liveness)
                .map(|s| s.span())
                .collect();
            let presence = clip(&presence, start, end);
            let minutes = covered_minutes(&presence, start, end);
            if minutes >= billed.required_minutes {
                flags.extend(close(&mut streak, min_days));
                continue;
            }
            let blind = subtract(
                &inputs
                    .observed
                    .monitoring
                    .blind(&institution, ward_kind, start, end),
                &presence,
            );
            let blind_minutes = timeline::minutes(&blind);
            let day_minutes = (end - start) as f64 / timeline::MINUTE_MS as f64;
            let watched_share = if day_minutes > 0.0 {
                (1.0 - blind_minutes / day_minutes).clamp(0.0, 1.0)
            } else {
                0.0
            };
            if watched_share < params.min_watched_share {
                flags.extend(close(&mut streak, min_days));
                out.no_evidence.push(NoEvidence {
                    rule: RuleId::BedHolding,
                    institution: institution.clone(),
                    psn_no: psn_no.clone(),
                    date,
                    lines: billed.lines,
                    amount_fen: billed.amount_fen,
                    blind_minutes,
                });
                continue;
            }
            if minutes >= billed.required_minutes * watched_share {
                // Seen for the watched part's share of the minutes per day: present.
                flags.extend(close(&mut streak, min_days));
                continue;
            }
            streak.push(AbsentDay {
                date,
                amount_fen: billed.amount_fen,
                lines: billed.lines,
                presence_minutes: minutes,
                blind_minutes,
            });
        }
        flags.extend(close(&mut streak, min_days));
        for absent in flags {
            let (Some(first), Some(last)) = (absent.first(), absent.last()) else {
                continue;
            };
            let evidence = json!({
                "ward_kind": ward_kind,
                "first_day": first.date.to_string(),
                "last_day": last.date.to_string(),
                "absent_days": absent.len(),
                "min_absent_days": min_days,
                "days": absent.iter().map(|d| json!({
                    "date": d.date.to_string(),
                    "presence_minutes": d.presence_minutes,
                    "blind_minutes": d.blind_minutes,
                    "amount_fen": d.amount_fen,
                })).collect::<Vec<_>>(),
            });
            out.findings.push(Finding {
                rule: RuleId::BedHolding,
                subject: format!("{institution}/{psn_no}/{}", first.date),
                institution: institution.clone(),
                psn_no: Some(psn_no.clone()),
                amount_fen: absent.iter().map(|d| d.amount_fen).sum(),
                evidence,
                lines: absent
                    .iter()
                    .flat_map(|d| d.lines.iter().cloned())
                    .collect(),
            });
        }
    }
    out
}

/// Ends a streak of absent days: returns it when it is long enough to flag.
fn close(streak: &mut Vec<AbsentDay>, min_days: u32) -> Option<Vec<AbsentDay>> {
    let days = std::mem::take(streak);
    (days.len() >= min_days as usize).then_some(days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::KnowledgeItem;
    use crate::rules::fixtures::*;
    use crate::rules::inputs::BilledLine;
    use wardwatch_protocol::WardKind::Psychiatric;

    /// P1's bed-day lines B1…B`days` at H1, one a day from day 1.
    fn bed_days(item: &KnowledgeItem, days: u32) -> Vec<BilledLine<'_>> {
        (1..=days)
            .map(|d| line(&format!("B{d}"), item, H1, P1, at(d, 0, 30), 1.0))
            .collect()
    }

    #[test]
    fn three_absent_days_running_are_one_flag_with_their_lines() {
        let item = bed_day();
        let mut inputs = inputs(bed_days(&item, 5));
        // Seen on days 1 and 5 only.
        for d in [1, 5] {
            seen(
                &mut inputs,
                P1,
                span(H1, Psychiatric, at(d, 9, 0), at(d, 12, 0)),
            );
        }
        let got = evaluate(&inputs, &default_rules());
        assert_eq!(got.checked, 5);
        assert_eq!(got.findings.len(), 1, "{:?}", got.findings);
        let f = &got.findings[0];
        assert_eq!(f.lines, vec!["B2", "B3", "B4"]);
        assert_eq!(f.amount_fen, 30_000);
        assert_eq!(f.evidence["absent_days"], 3);
    }

    #[test]
    fn two_days_away_is_leave_not_bed_holding() {
        let item = bed_day();
        let mut inputs = inputs(bed_days(&item, 4));
        for d in [1, 4] {
            seen(
                &mut inputs,
                P1,
                span(H1, Psychiatric, at(d, 9, 0), at(d, 12, 0)),
            );
        }
        assert!(evaluate(&inputs, &default_rules()).findings.is_empty());
    }

    #[test]
    fn a_day_watched_less_than_half_breaks_the_run_and_counts_as_no_evidence() {
        // Day 3 blind all day, then blind for 14 of its 24 hours (watched 42% < 50%).
        for (from, to) in [(at(3, 0, 0), at(4, 0, 0)), (at(3, 6, 0), at(3, 20, 0))] {
            let item = bed_day();
            let mut inputs = inputs(bed_days(&item, 5));
            outage(&mut inputs, H1, from, to);
            let got = evaluate(&inputs, &default_rules());
            assert!(got.findings.is_empty(), "{:?}", got.findings);
            assert_eq!(got.no_evidence.len(), 1);
            assert_eq!(got.no_evidence[0].lines, vec!["B3"]);
            assert_eq!(got.no_evidence[0].rule, RuleId::BedHolding);
        }
    }

    #[test]
    fn an_hours_outage_a_day_does_not_hide_an_absence() {
        // The box switched off for an hour every day (when a bed-day's hour of presence could fall):
        // the other 23 hours were watched and showed nobody.
        let item = bed_day();
        let mut inputs = inputs(bed_days(&item, 4));
        for d in 1..=4 {
            silent(&mut inputs, H1, at(d, 10, 0), at(d, 11, 30));
        }
        let got = evaluate(&inputs, &default_rules());
        assert!(got.no_evidence.is_empty(), "{:?}", got.no_evidence);
        assert_eq!(got.findings.len(), 1, "{:?}", got.findings);
        assert_eq!(got.findings[0].lines, vec!["B1", "B2", "B3", "B4"]);
        assert_eq!(got.findings[0].evidence["days"][0]["blind_minutes"], 90.0);
    }

    #[test]
    fn on_a_half_blind_day_presence_is_expected_pro_rata() {
        // Days 2–4 blind from 00:00 to 12:00: 30 minutes seen in the watched half is the watched
        // half's share of the 60 minutes a day (present); 20 minutes is not (absent).
        let item = bed_day();
        let judged = |minutes: u32| {
            let mut inputs = inputs(bed_days(&item, 4));
            for d in 2..=4 {
                outage(&mut inputs, H1, at(d, 0, 0), at(d, 12, 0));
                seen(
                    &mut inputs,
                    P1,
                    span(H1, Psychiatric, at(d, 14, 0), at(d, 14, minutes)),
                );
            }
            evaluate(&inputs, &default_rules())
        };
        let present = judged(30);
        assert!(present.findings.is_empty(), "{:?}", present.findings);
        assert!(present.no_evidence.is_empty());
        let absent = judged(20);
        assert_eq!(absent.findings.len(), 1, "{:?}", absent.findings);
        assert_eq!(absent.findings[0].lines, vec!["B1", "B2", "B3", "B4"]);
    }
}
