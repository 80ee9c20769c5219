//! Hand-made inputs for the evaluators' unit tests: knowledge items, fee lines and observations built
//! in a few lines, in Beijing time, with no database.

use super::inputs::{BilledLine, RuleInputs};
use super::monitoring::{BlindCause, Downtime};
use super::observed::{Observations, PresenceSpan};
use super::set::RuleSet;
use super::timeline::MINUTE_MS;
use crate::knowledge::{KnowledgeItem, Unit};
use chrono::TimeZone;
use chrono_tz::Tz;
use wardwatch_protocol::{FaceEmbedding, InstitutionCode, PsnNo, WardKind};

/// The zone of the fixtures.
pub const ZONE: Tz = chrono_tz::Asia::Shanghai;
/// The institution most fixtures bill from.
pub const H1: &str = "H43060200175";
/// A second institution.
pub const H2: &str = "H43060200999";
/// A patient.
pub const P1: &str = "43060000000000000001";
/// Another patient.
pub const P2: &str = "43060000000000000002";
/// A third patient.
pub const P3: &str = "43060000000000000003";

/// UTC ms of a Beijing local time on a day of November 2026.
pub fn at(day: u32, hour: u32, minute: u32) -> i64 {
    ZONE.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .single()
        .map(|t| t.timestamp_millis())
        .unwrap_or_default()
}

/// A four-hour haemodialysis session item.
pub fn dialysis() -> KnowledgeItem {
    item("DIALYSIS", WardKind::Haemodialysis, Unit::Session, 240)
}

/// A 30-minute rehabilitation session item.
pub fn rehab() -> KnowledgeItem {
    item("REHAB", WardKind::Rehabilitation, Unit::Session, 30)
}

/// A psychiatric bed-day needing an hour of presence.
pub fn bed_day() -> KnowledgeItem {
    item("BEDDAY", WardKind::Psychiatric, Unit::Day, 60)
}

fn item(code: &str, ward_kind: WardKind, unit: Unit, minutes: u32) -> KnowledgeItem {
    KnowledgeItem {
        hilist_code: code.into(),
        name_zh: code.into(),
        name_en: code.into(),
        ward_kind,
        unit,
        min_presence_minutes: minutes,
    }
}

/// A fee line at institution `institution` for `psn_no`, `cnt` units of `item` at `at_ms`, 100 yuan a unit.
pub fn line<'k>(
    sn: &str,
    item: &'k KnowledgeItem,
    institution: &str,
    psn_no: &str,
    at_ms: i64,
    cnt: f64,
) -> BilledLine<'k> {
    BilledLine {
        feedetl_sn: sn.into(),
        psn_no: psn(psn_no),
        at_ms,
        item,
        cnt,
        fee_fen: (cnt * 10_000.0) as i64,
        institution: Some(code(institution)),
    }
}

/// A presence span of an enrolled patient (`psn_no`) or an unknown track (`track`).
pub fn span(institution: &str, ward_kind: WardKind, start_ms: i64, end_ms: i64) -> PresenceSpan {
    PresenceSpan {
        institution: code(institution),
        device_id: "box-1".into(),
        camera_id: "cam-1".into(),
        ward_kind: ward_kind.as_str().into(),
        track_id: None,
        start_ms,
        end_ms,
        median_similarity: 0.8,
        liveness: 0.9,
        embedding: None,
        track_liveness: None,
        seat: None,
    }
}

/// Inputs over November 2026 with `lines` and nothing observed; both institutions have had a working
/// ward box since the month began (add outages or silences to test coverage).
pub fn inputs<'k>(lines: Vec<BilledLine<'k>>) -> RuleInputs<'k> {
    let mut observed = Observations::default();
    for institution in [H1, H2] {
        observed
            .monitoring
            .equipped_since
            .insert(code(institution), at(1, 0, 0) - 86_400_000);
    }
    RuleInputs {
        zone: ZONE,
        from_ms: at(1, 0, 0),
        to_ms: at(30, 23, 59) + MINUTE_MS,
        lines,
        observed,
        enrolled: Vec::new(),
        unmatched_refunds: 0,
    }
}

fn blind(inputs: &mut RuleInputs<'_>, institution: &str, cause: BlindCause, from: i64, to: i64) {
    inputs
        .observed
        .monitoring
        .downtime
        .entry(code(institution))
        .or_default()
        .push(Downtime {
            cause,
            device_id: "box-1".into(),
            camera_id: (cause == BlindCause::CameraOutage).then(|| "cam-1".into()),
            state: (cause == BlindCause::CameraOutage).then(|| "obstructed".into()),
            ward_kinds: Vec::new(),
            start_ms: from,
            end_ms: to,
        });
}

/// Records a camera outage at `institution` (every ward kind) over [from, to).
pub fn outage(inputs: &mut RuleInputs<'_>, institution: &str, from: i64, to: i64) {
    blind(inputs, institution, BlindCause::CameraOutage, from, to);
}

/// Records the institution's ward box silent over [from, to).
pub fn silent(inputs: &mut RuleInputs<'_>, institution: &str, from: i64, to: i64) {
    blind(inputs, institution, BlindCause::BoxSilent, from, to);
}

/// Records an enrolled patient's presence.
pub fn seen(inputs: &mut RuleInputs<'_>, psn_no: &str, presence: PresenceSpan) {
    inputs
        .observed
        .by_person
        .entry(psn(psn_no))
        .or_default()
        .push(presence);
}

/// Records an unknown face's presence.
pub fn unknown(inputs: &mut RuleInputs<'_>, track: &str, mut presence: PresenceSpan) {
    presence.track_id = Some(track.into());
    inputs
        .observed
        .unknown
        .entry((presence.institution.clone(), presence.ward_kind.clone()))
        .or_default()
        .push(presence);
}

/// A face as a box would send it with an unknown track: person `who`'s face seen on occasion
/// `occasion`. Two occasions of one person are about 0.8 alike, two people about 0.
pub fn face(who: usize, occasion: usize) -> FaceEmbedding {
    let mut values = vec![0.0f32; 128];
    values[who % 64] = 1.0;
    values[64 + (who * 7 + occasion) % 64] = 0.5;
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    let unit: Vec<f32> = values.iter().map(|v| v / norm).collect();
    match FaceEmbedding::try_from(unit) {
        Ok(face) => face,
        Err(e) => panic!("a fixture face is a unit vector: {e}"),
    }
}

/// A typed institution code.
pub fn code(text: &str) -> InstitutionCode {
    match text.parse() {
        Ok(code) => code,
        Err(e) => panic!("fixture institution code {text}: {e}"),
    }
}

/// A typed insured-person number.
pub fn psn(text: &str) -> PsnNo {
    match text.parse() {
        Ok(psn) => psn,
        Err(e) => panic!("fixture psn_no {text}: {e}"),
    }
}

/// The shipped default rules.
pub fn default_rules() -> RuleSet {
    match RuleSet::shipped_default() {
        Ok(set) => set,
        Err(e) => panic!("shipped default rules: {e}"),
    }
}
