//! The session rules: one verdict for each billed session line (knowledge items whose unit is a session;
//! a double session is one line with `cnt` 2), judged on the line's own slot — never on the patient's
//! whole day, so a day with one attended and one unattended session flags the unattended line only.
//!
//! For each line, in billing order per patient, institution and ward kind:
//! - **slot**: [fee time, fee time + net units × the knowledge base's minutes per unit];
//! - **presence**: the union of the patient's presence intervals in that kind of ward at that
//!   institution within the slot widened by `no_presence.slot_drift_minutes` on both sides (schedules
//!   drift; two pieces of 13 minutes are 26 minutes). Presence already credited to an earlier line of
//!   the same patient is not credited again (two back-to-back lines need two sessions' presence), and
//!   presence from a face the liveness model scored below `presentation_attack.min_liveness`, or from a
//!   track the agent scored `not_live` (rigid landmarks, no blink) over at least
//!   `presentation_attack.min_rigid_minutes`, is not attendance;
//! - **blind**: the minutes of the slot itself during which the ward could not have seen anyone (a
//!   camera outage, a silent box, no box yet: [`super::monitoring`]), outside the credited presence.
//!
//! Verdicts, with `need` = `short_presence.min_share` × net units × minutes per unit:
//! - presence ≥ need: attended; for several units, observed sessions (bouts of at least
//!   `min_bout_share` of a session, or presence ÷ `unit_share` of a session) below the billed units by
//!   `min_excess_units` → `billed_above_observed`, at stake the excess units' share of the line;
//! - presence below need but, with several units, at least one session observed → `billed_above_observed`;
//! - presence below need, but presence + not-live presence ≥ need → `presentation_attack`
//!   (疑似照片/屏幕冒充), with the not-live spans as evidence;
//! - presence + blind ≥ need: **no evidence** — counted, never a fraud flag by these rules
//!   (`unmonitored_billing` and `outage_alignment` judge the pattern);
//! - never seen → `no_presence` (假病人), or `impersonation` (冒名) when an unknown face overlapped the
//!   slot itself (widened by `impersonation.slot_margin_minutes`) for `min_overlap_share` of a session
//!   (tracks shorter than `min_track_share` of a session are passers-by):
//!   several absent lines and several unknown faces in one shift are matched one face to one chair —
//!   in the absent patient's usual seat first, when the ward box has seat zones ([`super::seats`]),
//!   then by arrival ([`super::impostors`]) — and a flag says when its face also overlapped another
//!   absent line's slot and the seat did not tell the two apart;
//! - seen too briefly → `short_presence`.

use super::finding::{Evaluation, Finding, NoEvidence};
use super::id::RuleId;
use super::impostors::{Absent, match_impostors};
use super::inputs::{BilledLine, RuleInputs};
use super::observed::PresenceSpan;
use super::params::{RuleParams, check_range};
use super::seats::{UsualSeat, usual_seat};
use super::set::RuleSet;
use super::timeline::{
    MINUTE_MS, bouts, clip, earliest_minutes, local_date, minutes, subtract, union,
};
use crate::knowledge::Unit;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use wardwatch_protocol::{InstitutionCode, PsnNo};

/// `no_presence` thresholds (the presence window every session rule uses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoPresence {
    /// Presence counts within the billed slot widened by this on both sides (schedule drift).
    pub slot_drift_minutes: u32,
}

impl RuleParams for NoPresence {
    fn check(&self, rule: RuleId) -> Result<(), String> {
        check_range(
            rule,
            "slot_drift_minutes",
            f64::from(self.slot_drift_minutes),
            0.0,
            120.0,
        )
    }
}

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
        check_range(rule, "unit_share", self.unit_share, 0.1, 1.0)?;
        check_range(rule, "min_excess_units", self.min_excess_units, 0.5, 100.0)
    }
}

/// `impersonation` (冒名) thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impersonation {
    /// The billed slot is widened by this on both sides (schedule drift, not an hour).
    pub slot_margin_minutes: u32,
    /// Unknown-face presence needed in the slot, as a share of one session.
    pub min_overlap_share: f64,
    /// An unknown track counts only when it lasts this share of one session in the slot (a passer-by
    /// walks through in minutes; a person in the chair, re-tracked after each occlusion, stays longer).
    pub min_track_share: f64,
    /// Two unknown tracks whose faces (the embeddings the box sends with an unknown track) are less
    /// alike than this are two people, however close in time; absent from a rules base stored before
    /// it existed, which then reads [`default_same_face_similarity`].
    #[serde(default = "default_same_face_similarity")]
    pub same_face_similarity: f64,
    /// A patient's usual seat (camera and seat zone, [`super::seats`]) at an institution in a ward kind
    /// is the one holding at least this share of their presence intervals there that carry a seat…
    #[serde(default = "default_usual_seat_share")]
    pub usual_seat_share: f64,
    /// …when at least this many carry one (fewer: no usual seat, and the patient's lines are matched
    /// by time alone). Both absent from a rules base stored before seats: 0.6 and 5.
    #[serde(default = "default_usual_seat_min_intervals")]
    pub usual_seat_min_intervals: u32,
}

/// 0.3: about the recogniser's equal-error similarity on ORL single photos (0.315); a track's face is
/// the average of several, so two tracks of one person fall below it far more rarely than two photos.
pub fn default_same_face_similarity() -> f64 {
    0.3
}

/// 0.6: a patient sits in their own chair on most sessions; a machine under repair or a swap moves
/// them now and then, and a share above half leaves one seat at most.
pub fn default_usual_seat_share() -> f64 {
    0.6
}

/// 5: a week and a half of dialysis at three sessions a week, each seen in one or more intervals.
pub fn default_usual_seat_min_intervals() -> u32 {
    5
}

impl RuleParams for Impersonation {
    fn check(&self, rule: RuleId) -> Result<(), String> {
        check_range(
            rule,
            "slot_margin_minutes",
            f64::from(self.slot_margin_minutes),
            0.0,
            60.0,
        )?;
        check_range(rule, "min_overlap_share", self.min_overlap_share, 0.01, 1.0)?;
        check_range(rule, "min_track_share", self.min_track_share, 0.0, 1.0)?;
        check_range(
            rule,
            "same_face_similarity",
            self.same_face_similarity,
            -1.0,
            1.0,
        )?;
        check_range(rule, "usual_seat_share", self.usual_seat_share, 0.51, 1.0)?;
        check_range(
            rule,
            "usual_seat_min_intervals",
            f64::from(self.usual_seat_min_intervals),
            1.0,
            1000.0,
        )
    }
}

/// `presentation_attack` (疑似照片/屏幕冒充) thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresentationAttack {
    /// Presence whose median liveness over the track is below this is not attendance (0 turns the
    /// liveness check off).
    pub min_liveness: f64,
    /// Presence the agent scored `not_live` over the whole track (rigid landmarks, no blink) is not
    /// attendance when the interval lasted at least this many minutes (0 turns the track verdict off;
    /// absent from rules files older than the verdict: 30).
    #[serde(default = "default_min_rigid_minutes")]
    pub min_rigid_minutes: u32,
}

fn default_min_rigid_minutes() -> u32 {
    30
}

impl RuleParams for PresentationAttack {
    fn check(&self, rule: RuleId) -> Result<(), String> {
        check_range(rule, "min_liveness", self.min_liveness, 0.0, 1.0)?;
        check_range(
            rule,
            "min_rigid_minutes",
            f64::from(self.min_rigid_minutes),
            0.0,
            1440.0,
        )
    }
}

/// The billed session lines of one patient at one institution in one kind of ward, in billing order.
type Stay<'a, 'k> = BTreeMap<(PsnNo, InstitutionCode, &'static str), Vec<&'a BilledLine<'k>>>;

/// Evaluates the session rules over the billed lines: every finding whatever the rules' enabled flags
/// (the run keeps those of enabled rules), the lines nobody could judge, and each institution-day's
/// billed session time with its blind share.
pub fn evaluate(inputs: &RuleInputs<'_>, rules: &RuleSet) -> Evaluation {
    let mut stays: Stay<'_, '_> = BTreeMap::new();
    for line in inputs
        .lines
        .iter()
        .filter(|l| l.item.unit == Unit::Session && l.cnt > 0.0 && l.fee_fen > 0)
    {
        if let Some(institution) = &line.institution {
            stays
                .entry((
                    line.psn_no.clone(),
                    institution.clone(),
                    line.item.ward_kind.as_str(),
                ))
                .or_default()
                .push(line);
        }
    }
    let mut out = Evaluation::default();
    let mut findings = Vec::new();
    let mut absent = Vec::new();
    for ((psn_no, institution, ward_kind), mut lines) in stays {
        lines.sort_by(|a, b| (a.at_ms, &a.feedetl_sn).cmp(&(b.at_ms, &b.feedetl_sn)));
        let params = &rules.impersonation.params;
        let usual = usual_seat(
            inputs
                .observed
                .sightings(&psn_no, &institution, ward_kind, i64::MIN, i64::MAX),
            params.usual_seat_share,
            params.usual_seat_min_intervals,
        );
        let judge = Judge {
            inputs,
            rules,
            psn_no: &psn_no,
            institution: &institution,
            ward_kind,
            usual_seat: &usual,
        };
        let mut credited: Vec<(i64, i64)> = Vec::new();
        for line in lines {
            out.checked += 1;
            let verdict = judge.line(line, &mut credited, &mut out);
            match verdict {
                Verdict::NoFinding => {}
                Verdict::Finding(finding) => findings.push(finding),
                Verdict::Absent(a) => absent.push(a),
            }
        }
    }
    findings.extend(match_impostors(rules, absent));
    out.findings = findings;
    out
}

enum Verdict {
    NoFinding,
    Finding(Finding),
    Absent(Absent),
}

/// Judges the lines of one patient's stay.
struct Judge<'a, 'k> {
    inputs: &'a RuleInputs<'k>,
    rules: &'a RuleSet,
    psn_no: &'a PsnNo,
    institution: &'a InstitutionCode,
    ward_kind: &'static str,
    /// Where the patient usually sits there (from all their presence loaded for the run).
    usual_seat: &'a Option<UsualSeat>,
}

impl Judge<'_, '_> {
    fn line(
        &self,
        line: &BilledLine<'_>,
        credited: &mut Vec<(i64, i64)>,
        out: &mut Evaluation,
    ) -> Verdict {
        let rules = self.rules;
        let observed = &self.inputs.observed;
        let slot = line.slot();
        let drift = i64::from(rules.no_presence.params.slot_drift_minutes) * MINUTE_MS;
        let window = (slot.0 - drift, slot.1 + drift);
        let per_unit = f64::from(line.item.min_presence_minutes);
        let required = line.cnt * per_unit;
        let need = rules.short_presence.params.min_share * required;
        let min_liveness = rules.presentation_attack.params.min_liveness;
        let min_rigid_minutes = rules.presentation_attack.params.min_rigid_minutes;
        let spans = observed.sightings(
            self.psn_no,
            self.institution,
            self.ward_kind,
            window.0,
            window.1,
        );
        let (live, not_live): (Vec<&PresenceSpan>, Vec<&PresenceSpan>) = spans
            .iter()
            .partition(|s| s.liveness >= min_liveness && !s.rigid_for(min_rigid_minutes));
        let of = |spans: &[&PresenceSpan]| {
            clip(
                &spans.iter().map(|s| s.span()).collect::<Vec<_>>(),
                window.0,
                window.1,
            )
        };
        let presence = subtract(&of(&live), credited);
        let presence_minutes = minutes(&presence);
        credited.extend(earliest_minutes(&presence, required));
        *credited = union(std::mem::take(credited));
        let not_live_minutes = minutes(&subtract(&of(&not_live), &presence));
        let blind = subtract(
            &observed
                .monitoring
                .blind(self.institution, self.ward_kind, slot.0, slot.1),
            &presence,
        );
        let blind_minutes = minutes(&blind);
        let slot_minutes = (slot.1 - slot.0) as f64 / MINUTE_MS as f64;
        let date = local_date(line.at_ms, self.inputs.zone);
        if let Some(date) = date {
            let day = out
                .coverage
                .entry((self.institution.clone(), date))
                .or_default();
            day.billed_minutes += slot_minutes;
            day.blind_minutes += minutes(&clip(
                &observed
                    .monitoring
                    .blind(self.institution, self.ward_kind, slot.0, slot.1),
                slot.0,
                slot.1,
            ));
        }
        let mut evidence = json!({
            "date": date.map(|d| d.to_string()),
            "ward_kind": self.ward_kind,
            "hilist_code": line.item.hilist_code,
            "billed_units": line.cnt,
            "billed_slot": [slot.0, slot.1],
            "presence_window": [window.0, window.1],
            "required_minutes": required,
            "presence_minutes": presence_minutes,
            "presence_intervals": presence,
            "sightings": spans,
            "min_liveness": min_liveness,
            "blind_minutes_in_slot": blind_minutes,
            "blind_in_slot": observed.monitoring.downtime_within(
                self.institution, self.ward_kind, slot.0, slot.1),
        });
        let finding = |rule: RuleId, amount_fen: i64, evidence: serde_json::Value| Finding {
            rule,
            subject: format!("{}/{}/{}", self.institution, self.psn_no, line.feedetl_sn),
            institution: self.institution.clone(),
            psn_no: Some(self.psn_no.clone()),
            amount_fen,
            evidence,
            lines: vec![line.feedetl_sn.clone()],
        };
        let params = &rules.billed_above_observed.params;
        let session_of = params.unit_share * per_unit;
        let bouts = bouts(&presence, i64::from(params.merge_gap_minutes) * MINUTE_MS);
        let observed_sessions = (bouts
            .iter()
            .filter(|(s, e)| (e - s) as f64 / MINUTE_MS as f64 >= params.min_bout_share * per_unit)
            .count() as f64)
            .max((presence_minutes / session_of + 1e-9).floor())
            .min(line.cnt.ceil());
        let several = line.cnt > 1.0;
        if presence_minutes >= need || (several && observed_sessions >= 1.0) {
            let excess = line.cnt - observed_sessions;
            if !several || excess < params.min_excess_units {
                return Verdict::NoFinding;
            }
            let could_have_seen = presence_minutes + blind_minutes;
            if (could_have_seen / session_of + 1e-9).floor() >= line.cnt {
                self.no_evidence(line, RuleId::BilledAboveObserved, blind_minutes, out);
                return Verdict::NoFinding;
            }
            evidence["bouts"] = json!(bouts);
            evidence["observed_sessions"] = json!(observed_sessions);
            evidence["excess_units"] = json!(excess);
            let at_stake = (line.fee_fen as f64 * excess / line.cnt).round() as i64;
            return Verdict::Finding(finding(RuleId::BilledAboveObserved, at_stake, evidence));
        }
        if not_live_minutes > 0.0 && presence_minutes + not_live_minutes >= need {
            evidence["not_live_minutes"] = json!(not_live_minutes);
            evidence["min_rigid_minutes"] = json!(min_rigid_minutes);
            evidence["not_live_sightings"] = json!(not_live);
            return Verdict::Finding(finding(RuleId::PresentationAttack, line.fee_fen, evidence));
        }
        let rule = if presence_minutes > 0.0 {
            RuleId::ShortPresence
        } else {
            RuleId::NoPresence
        };
        if presence_minutes + blind_minutes >= need {
            self.no_evidence(line, rule, blind_minutes, out);
            let unmonitored = &rules.unmonitored_billing.params;
            if slot_minutes > 0.0 && blind_minutes / slot_minutes >= unmonitored.min_blind_share {
                evidence["blind_share_of_slot"] = json!(blind_minutes / slot_minutes);
                return Verdict::Finding(finding(
                    RuleId::UnmonitoredBilling,
                    line.fee_fen,
                    evidence,
                ));
            }
            return Verdict::NoFinding;
        }
        if rule == RuleId::ShortPresence {
            return Verdict::Finding(finding(rule, line.fee_fen, evidence));
        }
        let margin = i64::from(rules.impersonation.params.slot_margin_minutes) * MINUTE_MS;
        let widened = (slot.0 - margin, slot.1 + margin);
        Verdict::Absent(Absent {
            finding: finding(RuleId::NoPresence, line.fee_fen, evidence),
            ward_kind: self.ward_kind,
            per_unit,
            window: widened,
            tracks: self.unknown_faces_in(widened),
            usual_seat: self.usual_seat.clone(),
        })
    }

    fn no_evidence(
        &self,
        line: &BilledLine<'_>,
        rule: RuleId,
        blind_minutes: f64,
        out: &mut Evaluation,
    ) {
        if let Some(date) = local_date(line.at_ms, self.inputs.zone) {
            out.no_evidence.push(NoEvidence {
                rule,
                institution: self.institution.clone(),
                psn_no: self.psn_no.clone(),
                date,
                lines: vec![line.feedetl_sn.clone()],
                amount_fen: line.fee_fen,
                blind_minutes,
            });
        }
    }

    /// Unknown faces seen in the ward overlapping `window` (unclipped).
    fn unknown_faces_in(&self, (start, end): (i64, i64)) -> Vec<PresenceSpan> {
        self.inputs
            .observed
            .unknown
            .get(&(self.institution.clone(), self.ward_kind.to_owned()))
            .into_iter()
            .flatten()
            .filter(|s| s.end_ms > start && s.start_ms < end)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests;
