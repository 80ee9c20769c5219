//! The session rules: for each patient, institution, ward kind and local day with billed sessions
//! (knowledge items whose unit is a session), one verdict from what the ward's cameras saw that day.
//!
//! - seen less than `short_presence.min_share` × the presence the billed units imply, and no camera
//!   outage or silent box that could explain the shortfall:
//!   - never seen, and an unknown face in that ward during the billed slot → `impersonation` (冒名);
//!   - never seen → `no_presence` (假病人);
//!   - seen too briefly → `short_presence`;
//! - seen long enough, but fewer sessions observed than billed → `billed_above_observed`.
//!
//! A shortfall that an outage could explain (presence + outage minutes ≥ what is needed) or a day on
//! which the institution's devices showed no sign of life is **no evidence**: counted, never flagged.

use super::timeline::{bouts, covered_minutes, day_bounds, local_date};
use super::{BilledLine, NoEvidenceDay, RulesError, Run};
use crate::flags::store::NewFlag;
use crate::knowledge::Unit;
use chrono::NaiveDate;
use serde_json::json;
use std::collections::BTreeMap;

/// Billed sessions of one patient at one institution, in one kind of ward, on one local day.
#[derive(Debug, Default)]
struct BilledDay {
    units: f64,
    required_minutes: f64,
    amount_fen: i64,
    lines: Vec<String>,
    codes: Vec<String>,
    /// The union of the billed slots' span: first start, last end.
    slot: Option<(i64, i64)>,
}

type DayKey = (String, String, NaiveDate, &'static str);

/// Groups the billed session lines by patient-day.
fn billed_days(run: &Run<'_>, lines: &[BilledLine<'_>]) -> BTreeMap<DayKey, BilledDay> {
    let mut days: BTreeMap<DayKey, BilledDay> = BTreeMap::new();
    for line in lines.iter().filter(|l| l.item.unit == Unit::Session) {
        let (Some(institution), Some(date)) =
            (line.institution.clone(), local_date(line.at_ms, run.zone))
        else {
            continue;
        };
        let day = days
            .entry((
                line.psn_no.clone(),
                institution,
                date,
                line.item.ward_kind.as_str(),
            ))
            .or_default();
        day.units += line.cnt;
        day.required_minutes += line.cnt * f64::from(line.item.min_presence_minutes);
        day.amount_fen += line.fee_fen;
        day.lines.push(line.feedetl_sn.clone());
        if !day.codes.contains(&line.item.hilist_code) {
            day.codes.push(line.item.hilist_code.clone());
        }
        if line.cnt > 0.0 {
            let (s, e) = line.slot();
            day.slot = Some(day.slot.map_or((s, e), |(ds, de)| (ds.min(s), de.max(e))));
        }
    }
    days
}

/// Runs the session rules over the billed lines.
pub async fn run(run: &mut Run<'_>, lines: &[BilledLine<'_>]) -> Result<(), RulesError> {
    let rules = run.rules;
    let observed = run.observed;
    for ((psn_no, institution, date, ward_kind), billed) in billed_days(run, lines) {
        if billed.units <= 0.0 || billed.amount_fen <= 0 {
            continue; // refunded
        }
        let Some((day_start, day_end)) = day_bounds(date, run.zone) else {
            continue;
        };
        run.report.checked += 1;
        let per_unit = billed.required_minutes / billed.units;
        let own = observed.presence(&psn_no, &institution, ward_kind, day_start, day_end);
        let minutes = covered_minutes(&own, day_start, day_end);
        let coverage = observed.coverage(&institution, date, day_start, day_end);
        let need = rules.short_presence.params.min_share * billed.required_minutes;
        let no_evidence = |run: &mut Run<'_>| {
            run.no_evidence(NoEvidenceDay {
                institution: institution.clone(),
                psn_no: psn_no.clone(),
                date,
                lines: billed.lines.clone(),
                amount_fen: billed.amount_fen,
            })
        };
        let mut evidence = json!({
            "date": date.to_string(),
            "ward_kind": ward_kind,
            "billed_units": billed.units,
            "hilist_codes": billed.codes,
            "billed_slot": billed.slot,
            "required_minutes": billed.required_minutes,
            "presence_minutes": minutes,
            "presence_intervals": own,
            "camera_outage_minutes": coverage.outage_minutes,
            "device_alive": coverage.device_alive,
        });
        let (rule, rule_version, amount_fen) = if minutes < need {
            if !coverage.device_alive || minutes + coverage.outage_minutes >= need {
                no_evidence(run);
                continue;
            }
            if minutes > 0.0 {
                if !rules.short_presence.enabled {
                    continue;
                }
                (
                    "short_presence",
                    rules.short_presence.version,
                    billed.amount_fen,
                )
            } else {
                let impostors = impostors_in_slot(run, &institution, ward_kind, billed.slot);
                let overlap = covered_minutes(
                    &impostors.iter().map(|s| s.span()).collect::<Vec<_>>(),
                    i64::MIN,
                    i64::MAX,
                );
                if rules.impersonation.enabled
                    && overlap >= rules.impersonation.params.min_overlap_share * per_unit
                {
                    evidence["unknown_faces"] = json!(impostors);
                    evidence["unknown_minutes_in_slot"] = json!(overlap);
                    (
                        "impersonation",
                        rules.impersonation.version,
                        billed.amount_fen,
                    )
                } else if rules.no_presence.enabled {
                    ("no_presence", rules.no_presence.version, billed.amount_fen)
                } else {
                    continue;
                }
            }
        } else {
            let params = &rules.billed_above_observed.params;
            if !rules.billed_above_observed.enabled || billed.units < 1.0 + params.min_excess_units
            {
                continue;
            }
            let bouts = bouts(&own, i64::from(params.merge_gap_minutes) * 60_000);
            let sessions_in_bouts = bouts
                .iter()
                .filter(|(s, e)| (e - s) as f64 / 60_000.0 >= params.min_bout_share * per_unit)
                .count() as f64;
            let observed_sessions = sessions_in_bouts.max((minutes / per_unit + 1e-9).floor());
            let excess = billed.units - observed_sessions;
            if excess < params.min_excess_units {
                continue;
            }
            if ((minutes + coverage.outage_minutes) / per_unit + 1e-9).floor() >= billed.units {
                no_evidence(run);
                continue;
            }
            evidence["bouts"] = json!(bouts);
            evidence["observed_sessions"] = json!(observed_sessions);
            evidence["excess_units"] = json!(excess);
            let at_stake = (billed.amount_fen as f64 * excess / billed.units).round() as i64;
            (
                "billed_above_observed",
                rules.billed_above_observed.version,
                at_stake,
            )
        };
        run.raise(NewFlag {
            dedup_key: format!("{rule}/{institution}/{psn_no}/{date}/{ward_kind}"),
            rule_id: rule.into(),
            rule_version,
            fixmedins_code: institution.clone(),
            psn_no: Some(psn_no.clone()),
            amount_fen,
            evidence,
            lines: billed.lines.clone(),
        })
        .await?;
    }
    Ok(())
}

/// Unknown faces seen in the ward during the billed slot, widened by the rule's margin.
fn impostors_in_slot<'o>(
    run: &Run<'o>,
    institution: &str,
    ward_kind: &str,
    slot: Option<(i64, i64)>,
) -> Vec<super::observed::Sighting> {
    let Some((start, end)) = slot else {
        return Vec::new();
    };
    let margin = i64::from(run.rules.impersonation.params.slot_margin_minutes) * 60_000;
    let (start, end) = (start - margin, end + margin);
    run.observed
        .unknown
        .get(&(institution.to_owned(), ward_kind.to_owned()))
        .into_iter()
        .flatten()
        .filter(|s| s.end_ms > start && s.start_ms < end)
        .map(|s| {
            let mut clipped = s.clone();
            clipped.start_ms = s.start_ms.max(start);
            clipped.end_ms = s.end_ms.min(end);
            clipped
        })
        .collect()
}
