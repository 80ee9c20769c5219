//! The session rules: for each patient, institution, ward kind and local day with billed sessions
//! (knowledge items whose unit is a session), one verdict from what the ward's cameras saw that day.
//!
//! - seen less than `short_presence.min_share` × the presence the billed units imply, and no camera
//!   outage or silent box that could explain the shortfall:
//!   - never seen, and one unknown face (a single track) in that ward through the billed slot →
//!     `impersonation` (冒名);
//!   - never seen → `no_presence` (假病人);
//!   - seen too briefly → `short_presence`;
//! - seen long enough, but fewer sessions observed than billed → `billed_above_observed`: observed
//!   sessions are the separate bouts of presence that last `min_bout_share` of a session, or the
//!   presence divided by `unit_share` of a session's length, whichever is more.
//!
//! A shortfall that an outage near the billed slot could explain (presence + outage minutes within
//! [`COVERAGE_MARGIN_MINUTES`] of the slot ≥ what is needed) or a day on which the institution's devices
//! showed no sign of life is **no evidence**: counted, never flagged.

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

/// Outages this close to a billed slot can excuse a shortfall; farther ones cannot (a camera covered at
/// 3 a.m. does not explain a missing afternoon session).
pub const COVERAGE_MARGIN_MINUTES: i64 = 120;

/// A finding waiting to be raised.
struct Finding {
    key: DayKey,
    rule: &'static str,
    rule_version: i64,
    amount_fen: i64,
    evidence: serde_json::Value,
    lines: Vec<String>,
}

/// A patient-day never seen, with the unknown faces in its slot: (track, minutes, start distance).
struct Absent {
    finding: Finding,
    per_unit: f64,
    tracks: Vec<(String, f64, i64, super::observed::Sighting)>,
}

/// Runs the session rules over the billed lines.
pub async fn run(run: &mut Run<'_>, lines: &[BilledLine<'_>]) -> Result<(), RulesError> {
    let rules = run.rules;
    let observed = run.observed;
    let mut findings: Vec<Finding> = Vec::new();
    let mut absent: Vec<Absent> = Vec::new();
    for (key, billed) in billed_days(run, lines) {
        let (psn_no, institution, date, ward_kind) = &key;
        let (date, ward_kind) = (*date, *ward_kind);
        if billed.units <= 0.0 || billed.amount_fen <= 0 {
            continue; // refunded
        }
        let (Some((day_start, day_end)), Some(slot)) = (day_bounds(date, run.zone), billed.slot)
        else {
            continue;
        };
        run.report.checked += 1;
        let per_unit = billed.required_minutes / billed.units;
        let own = observed.presence(psn_no, institution, ward_kind, day_start, day_end);
        let minutes = covered_minutes(&own, day_start, day_end);
        let margin = COVERAGE_MARGIN_MINUTES * 60_000;
        let (near_start, near_end) = (
            (slot.0 - margin).max(day_start),
            (slot.1 + margin).min(day_end),
        );
        let coverage = observed.coverage(institution, date, near_start, near_end);
        let need = rules.short_presence.params.min_share * billed.required_minutes;
        let no_evidence = NoEvidenceDay {
            institution: institution.clone(),
            psn_no: psn_no.clone(),
            date,
            lines: billed.lines.clone(),
            amount_fen: billed.amount_fen,
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
            "sightings": observed.sightings(psn_no, institution, ward_kind, day_start, day_end),
            "camera_outage_minutes_near_slot": coverage.outage_minutes,
            "camera_outages_near_slot": observed.outages_within(institution, near_start, near_end),
            "device_alive": coverage.device_alive,
        });
        let finding = |rule: &'static str, rule_version: i64, amount_fen: i64, evidence| Finding {
            key: key.clone(),
            rule,
            rule_version,
            amount_fen,
            evidence,
            lines: billed.lines.clone(),
        };
        if minutes < need {
            if !coverage.device_alive || minutes + coverage.outage_minutes >= need {
                run.no_evidence(no_evidence);
            } else if minutes > 0.0 {
                if rules.short_presence.enabled {
                    findings.push(finding(
                        "short_presence",
                        rules.short_presence.version,
                        billed.amount_fen,
                        evidence,
                    ));
                }
            } else {
                let tracks = impostors_in_slot(run, institution, ward_kind, slot)
                    .into_iter()
                    .map(|s| {
                        let minutes = (s.end_ms - s.start_ms) as f64 / 60_000.0;
                        (
                            s.track_id.clone().unwrap_or_default(),
                            minutes,
                            (s.start_ms - slot.0).abs(),
                            s,
                        )
                    })
                    .collect();
                absent.push(Absent {
                    finding: finding(
                        "no_presence",
                        rules.no_presence.version,
                        billed.amount_fen,
                        evidence,
                    ),
                    per_unit,
                    tracks,
                });
            }
            continue;
        }
        let params = &rules.billed_above_observed.params;
        if !rules.billed_above_observed.enabled || billed.units < 1.0 + params.min_excess_units {
            continue;
        }
        let bouts = bouts(&own, i64::from(params.merge_gap_minutes) * 60_000);
        let sessions_in_bouts = bouts
            .iter()
            .filter(|(s, e)| (e - s) as f64 / 60_000.0 >= params.min_bout_share * per_unit)
            .count() as f64;
        let observed_sessions =
            sessions_in_bouts.max((minutes / (params.unit_share * per_unit) + 1e-9).floor());
        let excess = billed.units - observed_sessions;
        if excess < params.min_excess_units {
            continue;
        }
        let could_have_seen = minutes + coverage.outage_minutes;
        if (could_have_seen / (params.unit_share * per_unit) + 1e-9).floor() >= billed.units {
            run.no_evidence(no_evidence);
            continue;
        }
        evidence["bouts"] = json!(bouts);
        evidence["observed_sessions"] = json!(observed_sessions);
        evidence["excess_units"] = json!(excess);
        let at_stake = (billed.amount_fen as f64 * excess / billed.units).round() as i64;
        findings.push(finding(
            "billed_above_observed",
            rules.billed_above_observed.version,
            at_stake,
            evidence,
        ));
    }
    findings.extend(assign_impostors(run, absent));
    for f in findings {
        let (psn_no, institution, date, ward_kind) = f.key;
        run.raise(NewFlag {
            dedup_key: format!("{}/{institution}/{psn_no}/{date}/{ward_kind}", f.rule),
            rule_id: f.rule.into(),
            rule_version: f.rule_version,
            fixmedins_code: institution,
            psn_no: Some(psn_no),
            amount_fen: f.amount_fen,
            evidence: f.evidence,
            lines: f.lines,
        })
        .await?;
    }
    Ok(())
}

/// Decides `impersonation` against `no_presence` for the patient-days nobody saw. One unknown person sits
/// in one chair: each unknown track goes to the absent patient whose slot it covers longest (ties: the
/// slot that starts nearest the track), and a patient-day is impersonation when one track assigned to it
/// covers `min_overlap_share` of a session.
fn assign_impostors(run: &Run<'_>, absent: Vec<Absent>) -> Vec<Finding> {
    let rules = run.rules;
    let mut best: BTreeMap<&str, (usize, f64, i64)> = BTreeMap::new();
    for (i, a) in absent.iter().enumerate() {
        let mut per_track: BTreeMap<&str, (f64, i64)> = BTreeMap::new();
        for (track, minutes, distance, _) in &a.tracks {
            let entry = per_track.entry(track.as_str()).or_insert((0.0, *distance));
            entry.0 += minutes;
            entry.1 = entry.1.min(*distance);
        }
        for (track, (minutes, distance)) in per_track {
            let better = best
                .get(track)
                .is_none_or(|&(_, m, d)| minutes > m || (minutes == m && distance < d));
            if better {
                best.insert(track, (i, minutes, distance));
            }
        }
    }
    let mut out = Vec::new();
    for (i, a) in absent.iter().enumerate() {
        let mine: Vec<&super::observed::Sighting> = a
            .tracks
            .iter()
            .filter(|(track, ..)| {
                best.get(track.as_str())
                    .is_some_and(|(owner, ..)| *owner == i)
            })
            .map(|(.., s)| s)
            .collect();
        let longest = best
            .values()
            .filter(|(owner, ..)| *owner == i)
            .map(|(_, minutes, _)| *minutes)
            .fold(0.0, f64::max);
        let mut finding = Finding {
            key: a.finding.key.clone(),
            rule: a.finding.rule,
            rule_version: a.finding.rule_version,
            amount_fen: a.finding.amount_fen,
            evidence: a.finding.evidence.clone(),
            lines: a.finding.lines.clone(),
        };
        if rules.impersonation.enabled
            && longest >= rules.impersonation.params.min_overlap_share * a.per_unit
        {
            finding.rule = "impersonation";
            finding.rule_version = rules.impersonation.version;
            finding.evidence["unknown_faces"] = json!(mine);
            finding.evidence["longest_unknown_track_minutes"] = json!(longest);
        } else if !rules.no_presence.enabled {
            continue;
        }
        out.push(finding);
    }
    out
}

/// Unknown faces seen in the ward during the billed slot, widened by the rule's margin.
fn impostors_in_slot(
    run: &Run<'_>,
    institution: &str,
    ward_kind: &str,
    (start, end): (i64, i64),
) -> Vec<super::observed::Sighting> {
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
