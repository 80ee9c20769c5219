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

use super::finding::{Evaluation, Finding, NoEvidenceDay};
use super::id::RuleId;
use super::inputs::{BilledLine, RuleInputs};
use super::observed::PresenceSpan;
use super::params::{RuleParams, check_range};
use super::set::RuleSet;
use super::timeline::{bouts, covered_minutes, day_bounds, local_date};
use crate::knowledge::Unit;
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use wardwatch_protocol::{InstitutionCode, PsnNo};

/// `short_presence` thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShortPresence {
    /// Fires when presence is below this share of the presence the billed units imply.
    pub min_share: f64,
}

impl RuleParams for ShortPresence {
    fn check(&self, rule: RuleId) -> Result<(), String> {
        check_range(rule, "min_share", self.min_share, 0.01, 1.0)
    }
}

/// `billed_above_observed` thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BilledAboveObserved {
    /// Presence intervals this close are one bout.
    pub merge_gap_minutes: u32,
    /// A bout counts as a session when it lasts this share of one session.
    pub min_bout_share: f64,
    /// Back-to-back sessions: each `unit_share` × a session's length of presence is one observed session.
    pub unit_share: f64,
    /// Fires when billed units exceed observed sessions by at least this much.
    pub min_excess_units: f64,
}

impl RuleParams for BilledAboveObserved {
    fn check(&self, rule: RuleId) -> Result<(), String> {
        check_range(
            rule,
            "merge_gap_minutes",
            f64::from(self.merge_gap_minutes),
            0.0,
            240.0,
        )?;
        check_range(rule, "min_bout_share", self.min_bout_share, 0.01, 1.0)?;
        check_range(rule, "min_excess_units", self.min_excess_units, 0.5, 100.0)
    }
}

/// `impersonation` (冒名) thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impersonation {
    /// The billed slot is widened by this on both sides.
    pub slot_margin_minutes: u32,
    /// Unknown-face presence needed in the slot, as a share of one session.
    pub min_overlap_share: f64,
}

impl RuleParams for Impersonation {
    fn check(&self, rule: RuleId) -> Result<(), String> {
        check_range(
            rule,
            "slot_margin_minutes",
            f64::from(self.slot_margin_minutes),
            0.0,
            720.0,
        )?;
        check_range(rule, "min_overlap_share", self.min_overlap_share, 0.01, 1.0)
    }
}

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

type DayKey = (PsnNo, InstitutionCode, NaiveDate, &'static str);

/// Groups the billed session lines by patient-day.
fn billed_days(zone: Tz, lines: &[BilledLine<'_>]) -> BTreeMap<DayKey, BilledDay> {
    let mut days: BTreeMap<DayKey, BilledDay> = BTreeMap::new();
    for line in lines.iter().filter(|l| l.item.unit == Unit::Session) {
        let (Some(institution), Some(date)) =
            (line.institution.clone(), local_date(line.at_ms, zone))
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

/// A patient-day never seen, with the unknown faces in its slot: (track, minutes, start distance).
struct Absent {
    finding: Finding,
    per_unit: f64,
    tracks: Vec<(String, f64, i64, PresenceSpan)>,
}

/// Evaluates the session rules over the billed lines: every finding whatever the rules' enabled flags
/// (the run keeps those of enabled rules), and the patient-days no camera could judge.
pub fn evaluate(inputs: &RuleInputs<'_>, rules: &RuleSet) -> Evaluation {
    let observed = &inputs.observed;
    let mut out = Evaluation::default();
    let mut findings: Vec<Finding> = Vec::new();
    let mut absent: Vec<Absent> = Vec::new();
    for (key, billed) in billed_days(inputs.zone, &inputs.lines) {
        let (psn_no, institution, date, ward_kind) = &key;
        let (date, ward_kind) = (*date, *ward_kind);
        if billed.units <= 0.0 || billed.amount_fen <= 0 {
            continue; // refunded
        }
        let (Some((day_start, day_end)), Some(slot)) = (day_bounds(date, inputs.zone), billed.slot)
        else {
            continue;
        };
        out.checked += 1;
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
        let no_evidence = |rule: RuleId| NoEvidenceDay {
            rule,
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
        let finding = |rule: RuleId, amount_fen: i64, evidence| Finding {
            rule,
            subject: format!("{institution}/{psn_no}/{date}/{ward_kind}"),
            institution: institution.clone(),
            psn_no: Some(psn_no.clone()),
            amount_fen,
            evidence,
            lines: billed.lines.clone(),
        };
        if minutes < need {
            let seen_rule = if minutes > 0.0 {
                RuleId::ShortPresence
            } else {
                RuleId::NoPresence
            };
            if !coverage.device_alive || minutes + coverage.outage_minutes >= need {
                out.no_evidence.push(no_evidence(seen_rule));
            } else if minutes > 0.0 {
                findings.push(finding(RuleId::ShortPresence, billed.amount_fen, evidence));
            } else {
                let tracks = impostors_in_slot(inputs, rules, institution, ward_kind, slot)
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
                    finding: finding(RuleId::NoPresence, billed.amount_fen, evidence),
                    per_unit,
                    tracks,
                });
            }
            continue;
        }
        let params = &rules.billed_above_observed.params;
        if billed.units < 1.0 + params.min_excess_units {
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
            out.no_evidence
                .push(no_evidence(RuleId::BilledAboveObserved));
            continue;
        }
        evidence["bouts"] = json!(bouts);
        evidence["observed_sessions"] = json!(observed_sessions);
        evidence["excess_units"] = json!(excess);
        let at_stake = (billed.amount_fen as f64 * excess / billed.units).round() as i64;
        findings.push(finding(RuleId::BilledAboveObserved, at_stake, evidence));
    }
    findings.extend(assign_impostors(rules, absent));
    out.findings = findings;
    out
}

/// Decides `impersonation` against `no_presence` for the patient-days nobody saw. One unknown person sits
/// in one chair: each unknown track goes to the absent patient whose slot it covers longest (ties: the
/// slot that starts nearest the track), and a patient-day is impersonation when one track assigned to it
/// covers `min_overlap_share` of a session (reported as `no_presence` when `impersonation` is off).
fn assign_impostors(rules: &RuleSet, absent: Vec<Absent>) -> Vec<Finding> {
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
        let mine: Vec<&PresenceSpan> = a
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
        let mut finding = a.finding.clone();
        if longest >= rules.impersonation.params.min_overlap_share * a.per_unit {
            finding.rule = RuleId::Impersonation;
            finding.evidence["unknown_faces"] = json!(mine);
            finding.evidence["longest_unknown_track_minutes"] = json!(longest);
        }
        out.push(finding);
    }
    out
}

/// Unknown faces seen in the ward during the billed slot, widened by the rule's margin.
fn impostors_in_slot(
    inputs: &RuleInputs<'_>,
    rules: &RuleSet,
    institution: &InstitutionCode,
    ward_kind: &str,
    (start, end): (i64, i64),
) -> Vec<PresenceSpan> {
    let margin = i64::from(rules.impersonation.params.slot_margin_minutes) * 60_000;
    let (start, end) = (start - margin, end + margin);
    inputs
        .observed
        .unknown
        .get(&(institution.clone(), ward_kind.to_owned()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fixtures::*;
    use wardwatch_protocol::WardKind::{Haemodialysis, Rehabilitation};

    fn rules_of(evaluation: &Evaluation) -> Vec<(RuleId, Vec<String>, i64)> {
        evaluation
            .findings
            .iter()
            .map(|f| (f.rule, f.lines.clone(), f.amount_fen))
            .collect()
    }

    #[test]
    fn never_seen_with_cameras_watching_is_no_presence() {
        let item = dialysis();
        let inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
        let got = evaluate(&inputs, &default_rules());
        assert_eq!(got.checked, 1);
        assert_eq!(
            rules_of(&got),
            vec![(RuleId::NoPresence, vec!["L1".into()], 10_000)]
        );
        assert_eq!(
            got.findings[0].subject,
            format!("{H1}/{P1}/2026-11-03/haemodialysis")
        );
        assert!(got.no_evidence.is_empty());
    }

    #[test]
    fn seen_through_the_session_is_not_flagged() {
        let item = dialysis();
        let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
        seen(
            &mut inputs,
            P1,
            span(H1, Haemodialysis, at(3, 8, 5), at(3, 11, 50)),
        );
        let got = evaluate(&inputs, &default_rules());
        assert_eq!(got.checked, 1);
        assert!(got.findings.is_empty(), "{:?}", got.findings);
    }

    #[test]
    fn an_hour_of_a_four_hour_session_is_short_presence() {
        let item = dialysis();
        let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
        seen(
            &mut inputs,
            P1,
            span(H1, Haemodialysis, at(3, 8, 0), at(3, 9, 0)),
        );
        let got = evaluate(&inputs, &default_rules());
        assert_eq!(
            rules_of(&got),
            vec![(RuleId::ShortPresence, vec!["L1".into()], 10_000)]
        );
    }

    #[test]
    fn an_unknown_face_through_the_slot_is_impersonation() {
        let item = dialysis();
        let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
        unknown(
            &mut inputs,
            "t-9",
            span(H1, Haemodialysis, at(3, 8, 10), at(3, 11, 40)),
        );
        let got = evaluate(&inputs, &default_rules());
        assert_eq!(
            rules_of(&got),
            vec![(RuleId::Impersonation, vec!["L1".into()], 10_000)]
        );
        assert_eq!(
            got.findings[0].evidence["unknown_faces"][0]["track_id"],
            "t-9"
        );
    }

    #[test]
    fn a_shortfall_an_outage_explains_is_no_evidence_not_a_flag() {
        let item = dialysis();
        let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
        inputs
            .observed
            .outages
            .insert(code(H1), vec![(at(3, 7, 30), at(3, 12, 30))]);
        let got = evaluate(&inputs, &default_rules());
        assert!(got.findings.is_empty(), "{:?}", got.findings);
        assert_eq!(got.no_evidence.len(), 1);
        assert_eq!(got.no_evidence[0].rule, RuleId::NoPresence);
        assert_eq!(got.no_evidence[0].lines, vec!["L1".to_owned()]);
    }

    #[test]
    fn a_silent_box_is_no_evidence_not_a_flag() {
        let item = dialysis();
        let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
        inputs.observed.alive_days.clear();
        let got = evaluate(&inputs, &default_rules());
        assert!(got.findings.is_empty());
        assert_eq!(got.no_evidence.len(), 1);
    }

    #[test]
    fn two_sessions_billed_one_observed_is_billed_above_observed_for_half() {
        let item = rehab();
        let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(4, 9, 0), 2.0)]);
        seen(
            &mut inputs,
            P1,
            span(H1, Rehabilitation, at(4, 9, 0), at(4, 9, 30)),
        );
        let got = evaluate(&inputs, &default_rules());
        assert_eq!(
            rules_of(&got),
            vec![(RuleId::BilledAboveObserved, vec!["L1".into()], 10_000)]
        );
        assert_eq!(got.findings[0].evidence["excess_units"], 1.0);
    }

    #[test]
    fn a_refunded_day_is_not_checked() {
        let item = dialysis();
        let inputs = inputs(vec![
            line("L1", &item, H1, P1, at(3, 8, 0), 1.0),
            line("L2", &item, H1, P1, at(3, 9, 0), -1.0),
        ]);
        let got = evaluate(&inputs, &default_rules());
        assert_eq!(got.checked, 0);
        assert!(got.findings.is_empty());
    }

    #[test]
    fn one_unknown_face_goes_to_the_absent_patient_whose_slot_it_covers_longest() {
        let item = dialysis();
        let mut inputs = inputs(vec![
            line("L1", &item, H1, P1, at(3, 8, 0), 1.0),
            line("L2", &item, H1, P2, at(3, 13, 0), 1.0),
        ]);
        unknown(
            &mut inputs,
            "t-1",
            span(H1, Haemodialysis, at(3, 13, 0), at(3, 17, 0)),
        );
        let got = evaluate(&inputs, &default_rules());
        let by_line: Vec<(RuleId, String)> = got
            .findings
            .iter()
            .map(|f| (f.rule, f.lines[0].clone()))
            .collect();
        assert!(
            by_line.contains(&(RuleId::NoPresence, "L1".into())),
            "{by_line:?}"
        );
        assert!(
            by_line.contains(&(RuleId::Impersonation, "L2".into())),
            "{by_line:?}"
        );
    }
}
