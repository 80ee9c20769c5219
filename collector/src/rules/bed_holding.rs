//! `bed_holding` (挂床): inpatient days billed while the patient was absent. For each patient and
//! institution, billed days of day-unit items (e.g. psychiatric bed-days) on which the patient was seen
//! in that kind of ward for less than the knowledge base's minutes per day are "absent" days; a run of at
//! least `min_absent_days` calendar-consecutive absent days is one flag with those days' lines.
//!
//! A day that a camera outage or a silent box could explain is no evidence: it is counted and it ends
//! the run (so a flag only ever rests on days the cameras were watching). A day with no billing, or on
//! which the patient was seen, ends the run too; shorter absences (home leave) are not flagged.

use super::timeline::{covered_minutes, day_bounds, local_date};
use super::{BilledLine, NoEvidenceDay, RulesError, Run};
use crate::flags::store::NewFlag;
use crate::knowledge::Unit;
use chrono::NaiveDate;
use serde_json::json;
use std::collections::BTreeMap;

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
    outage_minutes: f64,
}

/// Runs the rule over the billed lines.
pub async fn run(run: &mut Run<'_>, lines: &[BilledLine<'_>]) -> Result<(), RulesError> {
    let rule = &run.rules.bed_holding;
    let mut stays: BTreeMap<(String, String, &'static str), BTreeMap<NaiveDate, BilledBedDay>> =
        BTreeMap::new();
    for line in lines.iter().filter(|l| l.item.unit == Unit::Day) {
        let (Some(institution), Some(date)) =
            (line.institution.clone(), local_date(line.at_ms, run.zone))
        else {
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
                flags.extend(close(&mut streak, rule.params.min_absent_days));
                continue;
            }
            let Some((start, end)) = day_bounds(date, run.zone) else {
                continue;
            };
            run.report.checked += 1;
            if streak
                .last()
                .is_some_and(|last| last.date.succ_opt() != Some(date))
            {
                flags.extend(close(&mut streak, rule.params.min_absent_days));
            }
            let presence = run
                .observed
                .presence(&psn_no, &institution, ward_kind, start, end);
            let minutes = covered_minutes(&presence, start, end);
            if minutes >= billed.required_minutes {
                flags.extend(close(&mut streak, rule.params.min_absent_days));
                continue;
            }
            let coverage = run.observed.coverage(&institution, date, start, end);
            if !coverage.device_alive
                || minutes + coverage.outage_minutes >= billed.required_minutes
            {
                flags.extend(close(&mut streak, rule.params.min_absent_days));
                if rule.enabled {
                    run.no_evidence(NoEvidenceDay {
                        institution: institution.clone(),
                        psn_no: psn_no.clone(),
                        date,
                        lines: billed.lines,
                        amount_fen: billed.amount_fen,
                    });
                }
                continue;
            }
            streak.push(AbsentDay {
                date,
                amount_fen: billed.amount_fen,
                lines: billed.lines,
                presence_minutes: minutes,
                outage_minutes: coverage.outage_minutes,
            });
        }
        flags.extend(close(&mut streak, rule.params.min_absent_days));
        if !rule.enabled {
            continue;
        }
        for absent in flags {
            let (Some(first), Some(last)) = (absent.first(), absent.last()) else {
                continue;
            };
            let evidence = json!({
                "ward_kind": ward_kind,
                "first_day": first.date.to_string(),
                "last_day": last.date.to_string(),
                "absent_days": absent.len(),
                "min_absent_days": rule.params.min_absent_days,
                "days": absent.iter().map(|d| json!({
                    "date": d.date.to_string(),
                    "presence_minutes": d.presence_minutes,
                    "camera_outage_minutes": d.outage_minutes,
                    "amount_fen": d.amount_fen,
                })).collect::<Vec<_>>(),
            });
            run.raise(NewFlag {
                dedup_key: format!("bed_holding/{institution}/{psn_no}/{}", first.date),
                rule_id: "bed_holding".into(),
                rule_version: rule.version,
                fixmedins_code: institution.clone(),
                psn_no: Some(psn_no.clone()),
                amount_fen: absent.iter().map(|d| d.amount_fen).sum(),
                evidence,
                lines: absent
                    .iter()
                    .flat_map(|d| d.lines.iter().cloned())
                    .collect(),
            })
            .await?;
        }
    }
    Ok(())
}

/// Ends a streak of absent days: returns it when it is long enough to flag.
fn close(streak: &mut Vec<AbsentDay>, min_days: u32) -> Option<Vec<AbsentDay>> {
    let days = std::mem::take(streak);
    (days.len() >= min_days as usize).then_some(days)
}
