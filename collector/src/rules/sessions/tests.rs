//! The session rules on hand-made inputs: one verdict per billed line, and each way an institution
//! could game them.

use super::*;
use crate::rules::fixtures::*;
use wardwatch_protocol::WardKind::{Haemodialysis, Rehabilitation};

/// The unknown tracks (ids) the `impersonation` flag on line `sn` was given.
fn unknown_tracks_of(got: &Evaluation, sn: &str) -> Vec<String> {
    got.findings
        .iter()
        .find(|f| f.lines == vec![sn.to_owned()])
        .and_then(|f| f.evidence["unknown_faces"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["track_id"].as_str().map(str::to_owned))
        .collect()
}

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
    assert_eq!(got.findings[0].subject, format!("{H1}/{P1}/L1"));
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
    outage(&mut inputs, H1, at(3, 7, 30), at(3, 12, 30));
    // The whole run: `unmonitored_billing` is off by default.
    let got = crate::rules::evaluate(&default_rules(), &inputs);
    assert!(got.findings.is_empty(), "{:?}", got.findings);
    assert_eq!(got.no_evidence.len(), 1);
    assert_eq!(got.no_evidence[0].rule, RuleId::NoPresence);
    assert_eq!(got.no_evidence[0].lines, vec!["L1".to_owned()]);
}

#[test]
fn a_silent_box_is_no_evidence_not_a_flag() {
    let item = dialysis();
    let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
    silent(&mut inputs, H1, at(3, 0, 0), at(4, 0, 0));
    // The whole run: `unmonitored_billing` is off by default.
    let got = crate::rules::evaluate(&default_rules(), &inputs);
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
fn a_fully_refunded_line_is_not_checked() {
    let item = dialysis();
    // What the run's netting leaves of a line refunded in full: no units, no amount.
    let mut refunded = line("L1", &item, H1, P1, at(3, 8, 0), 1.0);
    refunded.cnt = 0.0;
    refunded.fee_fen = 0;
    let inputs = inputs(vec![refunded]);
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

fn verdicts(evaluation: &Evaluation) -> Vec<(RuleId, String)> {
    let mut got: Vec<(RuleId, String)> = evaluation
        .findings
        .iter()
        .map(|f| (f.rule, f.lines.join(",")))
        .collect();
    got.sort();
    got
}

#[test]
fn a_day_with_one_attended_and_one_unattended_session_flags_the_unattended_line_only() {
    let item = rehab();
    let mut inputs = inputs(vec![
        line("AM", &item, H1, P1, at(4, 9, 0), 1.0),
        line("PM", &item, H1, P1, at(4, 15, 0), 1.0),
    ]);
    seen(
        &mut inputs,
        P1,
        span(H1, Rehabilitation, at(4, 9, 2), at(4, 9, 31)),
    );
    let got = evaluate(&inputs, &default_rules());
    assert_eq!(got.checked, 2);
    assert_eq!(verdicts(&got), vec![(RuleId::NoPresence, "PM".into())]);
    assert_eq!(got.findings[0].amount_fen, 10_000);
}

#[test]
fn presence_is_the_union_of_pieces_within_the_slot() {
    // Two pieces of 13 minutes corroborate 26 minutes of a 30-minute session (need: 15).
    let item = rehab();
    let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(4, 9, 0), 1.0)]);
    for (from, to) in [((9, 0), (9, 13)), ((9, 16), (9, 29))] {
        seen(
            &mut inputs,
            P1,
            span(H1, Rehabilitation, at(4, from.0, from.1), at(4, to.0, to.1)),
        );
    }
    let got = evaluate(&inputs, &default_rules());
    assert!(got.findings.is_empty(), "{:?}", got.findings);
}

#[test]
fn presence_hours_away_from_the_slot_does_not_excuse_it() {
    // Seen all morning; the afternoon session was billed and never attended.
    let item = rehab();
    let mut inputs = inputs(vec![line("PM", &item, H1, P1, at(4, 15, 0), 1.0)]);
    seen(
        &mut inputs,
        P1,
        span(H1, Rehabilitation, at(4, 8, 0), at(4, 11, 0)),
    );
    let got = evaluate(&inputs, &default_rules());
    assert_eq!(verdicts(&got), vec![(RuleId::NoPresence, "PM".into())]);
}

#[test]
fn back_to_back_lines_need_a_session_of_presence_each() {
    let item = rehab();
    let mut inputs = inputs(vec![
        line("L1", &item, H1, P1, at(4, 9, 0), 1.0),
        line("L2", &item, H1, P1, at(4, 9, 30), 1.0),
    ]);
    seen(
        &mut inputs,
        P1,
        span(H1, Rehabilitation, at(4, 9, 0), at(4, 9, 30)),
    );
    let got = evaluate(&inputs, &default_rules());
    assert_eq!(verdicts(&got), vec![(RuleId::NoPresence, "L2".into())]);
}

#[test]
fn a_double_session_attended_once_is_billed_above_observed_for_half_the_line() {
    let item = rehab();
    let mut inputs = inputs(vec![line("D1", &item, H1, P1, at(4, 9, 0), 2.0)]);
    seen(
        &mut inputs,
        P1,
        span(H1, Rehabilitation, at(4, 9, 0), at(4, 9, 27)),
    );
    let got = evaluate(&inputs, &default_rules());
    assert_eq!(
        rules_of(&got),
        vec![(RuleId::BilledAboveObserved, vec!["D1".into()], 10_000)]
    );
    // Attended in full: nothing.
    let mut inputs =
        crate::rules::fixtures::inputs(vec![line("D1", &item, H1, P1, at(4, 9, 0), 2.0)]);
    seen(
        &mut inputs,
        P1,
        span(H1, Rehabilitation, at(4, 9, 0), at(4, 10, 0)),
    );
    assert!(evaluate(&inputs, &default_rules()).findings.is_empty());
}

#[test]
fn an_outage_excuses_only_the_part_of_the_slot_it_covers() {
    let item = dialysis();
    // An outage two hours before the slot explains nothing.
    let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 13, 0), 1.0)]);
    outage(&mut inputs, H1, at(3, 10, 0), at(3, 12, 30));
    let got = evaluate(&inputs, &default_rules());
    assert_eq!(verdicts(&got), vec![(RuleId::NoPresence, "L1".into())]);
    assert!(got.no_evidence.is_empty());
    // An outage over a quarter of the slot cannot hide a session never attended (need: half).
    let mut inputs =
        crate::rules::fixtures::inputs(vec![line("L1", &item, H1, P1, at(3, 13, 0), 1.0)]);
    outage(&mut inputs, H1, at(3, 13, 0), at(3, 14, 0));
    let got = evaluate(&inputs, &default_rules());
    assert_eq!(verdicts(&got), vec![(RuleId::NoPresence, "L1".into())]);
    assert_eq!(got.findings[0].evidence["blind_minutes_in_slot"], 60.0);
}

#[test]
fn a_box_switched_off_during_the_slot_is_no_evidence_never_a_fraud_finding() {
    let item = dialysis();
    let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
    silent(&mut inputs, H1, at(3, 7, 0), at(3, 13, 0));
    // The whole run: `unmonitored_billing` is off by default.
    let got = crate::rules::evaluate(&default_rules(), &inputs);
    assert!(got.findings.is_empty(), "{:?}", got.findings);
    assert_eq!(got.no_evidence.len(), 1);
    assert_eq!(got.no_evidence[0].blind_minutes, 240.0);
    let figures = got.coverage.values().next().copied().unwrap_or_default();
    assert_eq!(figures.billed_minutes, 240.0);
    assert_eq!(figures.monitored_share(), 0.0);
}

#[test]
fn an_institution_without_any_ward_box_is_unmonitored_not_a_fraud_finding() {
    let item = dialysis();
    let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
    inputs.observed.monitoring.equipped_since.clear();
    // The whole run: `unmonitored_billing` is off by default.
    let got = crate::rules::evaluate(&default_rules(), &inputs);
    assert!(got.findings.is_empty(), "{:?}", got.findings);
    assert_eq!(got.no_evidence.len(), 1);
}

#[test]
fn unmonitored_billing_is_counted_by_default_and_flagged_when_the_bureau_turns_it_on() {
    let item = dialysis();
    let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
    silent(&mut inputs, H1, at(3, 7, 0), at(3, 13, 0));
    let mut rules = default_rules();
    assert!(!rules.unmonitored_billing.enabled);
    assert!(crate::rules::evaluate(&rules, &inputs).findings.is_empty());
    rules.unmonitored_billing.enabled = true;
    let got = crate::rules::evaluate(&rules, &inputs);
    assert_eq!(
        verdicts(&got),
        vec![(RuleId::UnmonitoredBilling, "L1".into())]
    );
    // Blind for a third of the slot only: still judged, not "unmonitored".
    let mut inputs =
        crate::rules::fixtures::inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
    silent(&mut inputs, H1, at(3, 8, 0), at(3, 9, 20));
    let got = crate::rules::evaluate(&rules, &inputs);
    assert_eq!(verdicts(&got), vec![(RuleId::NoPresence, "L1".into())]);
}

#[test]
fn a_photo_held_up_is_not_attendance_and_is_flagged_as_a_presentation_attack() {
    let item = dialysis();
    let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
    let mut photo = span(H1, Haemodialysis, at(3, 8, 0), at(3, 12, 0));
    photo.liveness = 0.02;
    seen(&mut inputs, P1, photo);
    let got = evaluate(&inputs, &default_rules());
    assert_eq!(
        verdicts(&got),
        vec![(RuleId::PresentationAttack, "L1".into())]
    );
    assert_eq!(got.findings[0].evidence["not_live_minutes"], 240.0);
    assert_eq!(
        got.findings[0].evidence["not_live_sightings"][0]["liveness"],
        0.02
    );
    // With the rule off, the photo is still no attendance: 假病人.
    let mut rules = default_rules();
    rules.presentation_attack.enabled = false;
    let got = crate::rules::evaluate(&rules, &inputs);
    assert_eq!(verdicts(&got), vec![(RuleId::NoPresence, "L1".into())]);
}

/// A track liveness summary with `verdict` (the model's median fooled: 0.9).
fn track(verdict: wardwatch_protocol::LivenessVerdict) -> wardwatch_protocol::TrackLiveness {
    let share = |v: f64| wardwatch_protocol::Share::try_from(v).expect("share");
    wardwatch_protocol::TrackLiveness {
        samples: 43_200,
        pairs: 43_100,
        model_median: wardwatch_protocol::Liveness::try_from(0.9).expect("score"),
        nonrigid_motion: share(0.0),
        residual_p90: share(0.004),
        blinks: 0,
        verdict,
    }
}

#[test]
fn a_track_that_stayed_rigid_and_never_blinked_through_the_session_is_not_attendance() {
    use wardwatch_protocol::LivenessVerdict::{Live, NotLive, Undetermined};
    let item = dialysis();
    let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
    let mut photo = span(H1, Haemodialysis, at(3, 8, 0), at(3, 12, 0));
    photo.track_liveness = Some(track(NotLive));
    seen(&mut inputs, P1, photo.clone());
    let got = evaluate(&inputs, &default_rules());
    assert_eq!(
        verdicts(&got),
        vec![(RuleId::PresentationAttack, "L1".into())]
    );
    let evidence = &got.findings[0].evidence;
    assert_eq!(
        evidence["not_live_sightings"][0]["track_liveness"]["verdict"],
        "not_live"
    );
    assert_eq!(evidence["min_rigid_minutes"], 30);
    // The bureau can stop reading the verdict.
    let mut rules = default_rules();
    rules.presentation_attack.params.min_rigid_minutes = 0;
    assert!(crate::rules::evaluate(&rules, &inputs).findings.is_empty());
    // A live or undetermined track through the session is attendance.
    for verdict in [Live, Undetermined] {
        let mut inputs =
            crate::rules::fixtures::inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
        photo.track_liveness = Some(track(verdict));
        seen(&mut inputs, P1, photo.clone());
        let got = evaluate(&inputs, &default_rules());
        assert!(got.findings.is_empty(), "{verdict:?}: {:?}", got.findings);
    }
    // A rigid verdict over a stay shorter than min_rigid_minutes is too little to go on.
    let mut short = span(H1, Haemodialysis, at(3, 8, 0), at(3, 8, 20));
    short.track_liveness = Some(track(NotLive));
    assert!(!short.rigid_for(30));
    assert!(short.rigid_for(20));
}

#[test]
fn an_unknown_face_an_hour_before_the_slot_is_not_impersonation() {
    let item = dialysis();
    let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 13, 0), 1.0)]);
    unknown(
        &mut inputs,
        "t-1",
        span(H1, Haemodialysis, at(3, 8, 0), at(3, 12, 0)),
    );
    let got = evaluate(&inputs, &default_rules());
    assert_eq!(verdicts(&got), vec![(RuleId::NoPresence, "L1".into())]);
}

#[test]
fn two_absent_patients_and_two_unknown_faces_in_one_shift_are_matched_by_arrival() {
    let item = dialysis();
    let mut inputs = inputs(vec![
        line("A", &item, H1, P1, at(3, 8, 0), 1.0),
        line("B", &item, H1, P2, at(3, 8, 30), 1.0),
    ]);
    unknown(
        &mut inputs,
        "t-1",
        span(H1, Haemodialysis, at(3, 8, 0), at(3, 12, 0)),
    );
    unknown(
        &mut inputs,
        "t-2",
        span(H1, Haemodialysis, at(3, 8, 30), at(3, 12, 30)),
    );
    let got = evaluate(&inputs, &default_rules());
    assert_eq!(
        verdicts(&got),
        vec![
            (RuleId::Impersonation, "A".into()),
            (RuleId::Impersonation, "B".into())
        ]
    );
    for f in &got.findings {
        assert_eq!(
            f.evidence["ambiguous"], true,
            "both faces overlap both slots"
        );
    }
    let by_line = |sn: &str| {
        got.findings
            .iter()
            .find(|f| f.lines == vec![sn.to_owned()])
            .map(|f| f.evidence["unknown_faces"][0]["track_id"].clone())
    };
    assert_eq!(by_line("A"), Some("t-1".into()));
    assert_eq!(by_line("B"), Some("t-2".into()));
}

#[test]
fn one_unknown_face_for_two_absent_patients_makes_one_impersonation_and_one_no_presence() {
    let item = dialysis();
    let mut inputs = inputs(vec![
        line("A", &item, H1, P1, at(3, 8, 0), 1.0),
        line("B", &item, H1, P2, at(3, 8, 0), 1.0),
    ]);
    unknown(
        &mut inputs,
        "t-1",
        span(H1, Haemodialysis, at(3, 8, 0), at(3, 12, 0)),
    );
    let got = evaluate(&inputs, &default_rules());
    let rules: Vec<RuleId> = verdicts(&got).into_iter().map(|(r, _)| r).collect();
    assert_eq!(rules.len(), 2);
    assert!(rules.contains(&RuleId::Impersonation) && rules.contains(&RuleId::NoPresence));
    let impostor = got
        .findings
        .iter()
        .find(|f| f.rule == RuleId::Impersonation)
        .map(|f| f.evidence["ambiguous"].clone());
    assert_eq!(impostor, Some(serde_json::json!(true)));
}

#[test]
fn passers_by_do_not_add_up_to_an_impostor() {
    let item = rehab();
    let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(4, 9, 0), 1.0)]);
    for (i, minute) in [0, 6, 12, 18, 24].into_iter().enumerate() {
        unknown(
            &mut inputs,
            &format!("t-{i}"),
            span(H1, Rehabilitation, at(4, 9, minute), at(4, 9, minute + 4)),
        );
    }
    let got = evaluate(&inputs, &default_rules());
    assert_eq!(verdicts(&got), vec![(RuleId::NoPresence, "L1".into())]);
}

#[test]
fn one_impostor_seen_as_three_tracks_is_impersonation() {
    let item = dialysis();
    let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 8, 0), 1.0)]);
    for (i, (from, to)) in [((8, 5), (9, 10)), ((9, 30), (10, 40)), ((11, 0), (11, 55))]
        .into_iter()
        .enumerate()
    {
        unknown(
            &mut inputs,
            &format!("t-{i}"),
            span(H1, Haemodialysis, at(3, from.0, from.1), at(3, to.0, to.1)),
        );
    }
    let got = evaluate(&inputs, &default_rules());
    assert_eq!(verdicts(&got), vec![(RuleId::Impersonation, "L1".into())]);
    assert_eq!(got.findings[0].evidence["unknown_face_minutes"], 190.0);
}

#[test]
fn a_crowded_shift_with_two_impostors_and_a_no_show_is_matched_by_arrival() {
    // Three patients billed 08:00, 08:20 and 08:40; nobody saw them. Two unknown people came at
    // 08:02 and 08:41, each re-tracked twice after occlusions. Every fragment overlaps every slot
    // about equally: only arrival and one-face-one-chair tell who stood in for whom.
    let item = dialysis();
    let mut inputs = inputs(vec![
        line("A", &item, H1, P1, at(3, 8, 0), 1.0),
        line("B", &item, H1, P2, at(3, 8, 20), 1.0),
        line("C", &item, H1, P3, at(3, 8, 40), 1.0),
    ]);
    let fragments = [
        ("x-1", (8, 2), (9, 30)),
        ("y-1", (8, 41), (10, 0)),
        ("x-2", (9, 40), (11, 0)),
        ("y-2", (10, 10), (11, 30)),
        ("x-3", (11, 5), (12, 0)),
        ("y-3", (11, 35), (12, 40)),
    ];
    for (track, from, to) in fragments {
        unknown(
            &mut inputs,
            track,
            span(H1, Haemodialysis, at(3, from.0, from.1), at(3, to.0, to.1)),
        );
    }
    let got = evaluate(&inputs, &default_rules());
    let mut verdicts = verdicts(&got);
    verdicts.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        verdicts,
        vec![
            (RuleId::Impersonation, "A".into()),
            (RuleId::NoPresence, "B".into()),
            (RuleId::Impersonation, "C".into()),
        ]
    );
    let tracks = |sn: &str| unknown_tracks_of(&got, sn);
    assert_eq!(
        tracks("A"),
        ["x-1", "x-2", "x-3"],
        "each person keeps their chair"
    );
    assert_eq!(tracks("C"), ["y-1", "y-2", "y-3"]);
    let b = got
        .findings
        .iter()
        .find(|f| f.lines == vec!["B".to_owned()]);
    assert!(
        b.is_some_and(|f| f.evidence["unknown_faces_in_slot"].as_array().is_some()),
        "the no-show's flag still shows the faces in its slot"
    );
    assert!(
        b.is_some_and(|f| f.evidence["ambiguous"] == true),
        "and says a face seated in another chair sat through its slot too: {:?}",
        b.map(|f| &f.evidence)
    );
}

/// A rehabilitation session billed 09:00–09:30, nobody saw the patient; an unknown face 09:15–09:23
/// and another 09:37–09:45 (inside the 15-minute drift), each a third of a session.
fn two_short_unknown_tracks_around_a_session(faces: Option<(usize, usize)>) -> Vec<RuleId> {
    let item = rehab();
    let mut inputs = inputs(vec![line("L1", &item, H1, P1, at(3, 9, 0), 1.0)]);
    for (i, (from, to)) in [((9, 15), (9, 23)), ((9, 37), (9, 45))]
        .into_iter()
        .enumerate()
    {
        let mut track = span(H1, Rehabilitation, at(3, from.0, from.1), at(3, to.0, to.1));
        track.embedding = faces.map(|(a, b)| face(if i == 0 { a } else { b }, i));
        unknown(&mut inputs, &format!("t-{i}"), track);
    }
    evaluate(&inputs, &default_rules())
        .findings
        .iter()
        .map(|f| f.rule)
        .collect()
}

#[test]
fn two_unknown_tracks_a_gap_apart_are_one_person_only_when_their_faces_agree() {
    // Without faces, time alone: one person re-tracked, 16 minutes of a 30-minute session.
    assert_eq!(
        two_short_unknown_tracks_around_a_session(None),
        vec![RuleId::Impersonation]
    );
    assert_eq!(
        two_short_unknown_tracks_around_a_session(Some((1, 1))),
        vec![RuleId::Impersonation],
        "one face, re-tracked"
    );
    assert_eq!(
        two_short_unknown_tracks_around_a_session(Some((1, 2))),
        vec![RuleId::NoPresence],
        "two people passing, neither long enough to have taken the chair"
    );
}

#[test]
fn a_re_tracked_impostor_is_joined_to_their_own_earlier_track_by_face() {
    // Two impostors for A (08:00) and B (08:20). x leaves view at 09:30, y at 09:35; at 09:45 x is
    // tracked again. By time alone the new track continues y (who disappeared last); the faces say x.
    let item = dialysis();
    let mut inputs = inputs(vec![
        line("A", &item, H1, P1, at(3, 8, 0), 1.0),
        line("B", &item, H1, P2, at(3, 8, 20), 1.0),
    ]);
    let tracks = [
        ("x-1", 1, (8, 2), (9, 30)),
        ("y-1", 2, (8, 21), (9, 35)),
        ("x-2", 1, (9, 45), (12, 0)),
        ("y-2", 2, (10, 0), (12, 20)),
    ];
    for (n, (track, who, from, to)) in tracks.into_iter().enumerate() {
        let mut presence = span(H1, Haemodialysis, at(3, from.0, from.1), at(3, to.0, to.1));
        presence.embedding = Some(face(who, n));
        unknown(&mut inputs, track, presence);
    }
    let got = evaluate(&inputs, &default_rules());
    let tracks_of = |sn: &str| unknown_tracks_of(&got, sn);
    assert_eq!(tracks_of("A"), ["x-1", "x-2"]);
    assert_eq!(tracks_of("B"), ["y-1", "y-2"]);
    assert!(
        got.findings
            .iter()
            .all(|f| f.evidence.get("embedding").is_none()
                && !f.evidence.to_string().contains("embedding")),
        "faces never go into a flag's evidence"
    );
}

#[test]
fn a_third_face_in_the_shift_fills_the_third_chair() {
    let item = dialysis();
    let mut inputs = inputs(vec![
        line("A", &item, H1, P1, at(3, 8, 0), 1.0),
        line("B", &item, H1, P2, at(3, 8, 20), 1.0),
    ]);
    for (track, from) in [("x", (8, 1)), ("y", (8, 22))] {
        unknown(
            &mut inputs,
            track,
            span(
                H1,
                Haemodialysis,
                at(3, from.0, from.1),
                at(3, from.0 + 4, from.1),
            ),
        );
    }
    let got = evaluate(&inputs, &default_rules());
    assert_eq!(
        verdicts(&got),
        vec![
            (RuleId::Impersonation, "A".into()),
            (RuleId::Impersonation, "B".into())
        ]
    );
}

/// `span` with a seat zone of `cam-1`.
fn in_seat(mut presence: PresenceSpan, seat: Option<&str>) -> PresenceSpan {
    presence.seat = seat.map(|s| s.parse().expect("seat"));
    presence
}

/// A crowded shift on 10 November: A (P1) billed 08:00 and B (P2) 08:03, nobody saw either; one
/// unknown person 08:00–11:58, sitting in `their_seat`. Each patient was seen on `days_seen` earlier
/// days in their own chair (P1 `chair-1`, P2 `chair-2`), when `seats` is on.
fn crowded_shift_three_minutes_apart(their_seat: Option<&str>, days_seen: [u32; 2]) -> Evaluation {
    let item = dialysis();
    let mut inputs = inputs(vec![
        line("A", &item, H1, P1, at(10, 8, 0), 1.0),
        line("B", &item, H1, P2, at(10, 8, 3), 1.0),
    ]);
    for ((patient, chair), days) in [(P1, "chair-1"), (P2, "chair-2")]
        .into_iter()
        .zip(days_seen)
    {
        for day in 1..=days {
            let usual = span(H1, Haemodialysis, at(day, 8, 0), at(day, 12, 0));
            seen(&mut inputs, patient, in_seat(usual, Some(chair)));
        }
    }
    let person = span(H1, Haemodialysis, at(10, 8, 0), at(10, 11, 58));
    unknown(&mut inputs, "u-1", in_seat(person, their_seat));
    evaluate(&inputs, &default_rules())
}

fn evidence_of<'e>(got: &'e Evaluation, sn: &str) -> &'e serde_json::Value {
    match got.findings.iter().find(|f| f.lines == vec![sn.to_owned()]) {
        Some(f) => &f.evidence,
        None => panic!("no finding on {sn}: {:?}", verdicts(got)),
    }
}

#[test]
fn a_crowded_shift_three_minutes_apart_is_decided_by_the_seat() {
    // By timing the person fits A (arrived with A's slot, left 2 minutes before its end); they sat in
    // chair-2, P2's usual chair: B's.
    let got = crowded_shift_three_minutes_apart(Some("chair-2"), [6, 6]);
    assert_eq!(
        verdicts(&got),
        vec![
            (RuleId::NoPresence, "A".into()),
            (RuleId::Impersonation, "B".into())
        ]
    );
    let b = evidence_of(&got, "B");
    assert_eq!(b["ambiguous"], false, "the seat decided: {b}");
    assert_eq!(b["seat_ruled_out"], serde_json::json!(["A"]));
    assert_eq!(b["unknown_face_seat"]["seat"], "chair-2");
    assert_eq!(b["usual_seat"]["seat"], "chair-2");
    assert_eq!(b["usual_seat"]["camera_id"], "cam-1");
    assert_eq!(b["usual_seat"]["intervals"], 6);
    let a = evidence_of(&got, "A");
    assert_eq!(a["usual_seat"]["seat"], "chair-1");
    assert!(
        a.get("ambiguous").is_none(),
        "the face sat in B's chair, not A's: {a}"
    );
}

#[test]
fn without_seats_a_crowded_shift_is_matched_by_timing_as_before() {
    // The same shift, no seat zones anywhere: timing gives the person to A, and both flags say the
    // match is ambiguous.
    let got = crowded_shift_three_minutes_apart(None, [0, 0]);
    assert_eq!(
        verdicts(&got),
        vec![
            (RuleId::NoPresence, "B".into()),
            (RuleId::Impersonation, "A".into())
        ]
    );
    let (a, b) = (evidence_of(&got, "A"), evidence_of(&got, "B"));
    assert_eq!(a["ambiguous"], true);
    assert_eq!(a["ambiguous_with"], serde_json::json!(["B"]));
    assert_eq!(b["ambiguous"], true);
    for key in ["usual_seat", "unknown_face_seat", "seat_ruled_out"] {
        assert!(a.get(key).is_none() && b.get(key).is_none(), "{key}");
    }
    // Usual seats known but the person's seat not (no zone held them): timing too.
    let got = crowded_shift_three_minutes_apart(None, [6, 6]);
    assert_eq!(evidence_of(&got, "A")["ambiguous"], true);
    assert_eq!(evidence_of(&got, "A")["usual_seat"]["seat"], "chair-1");
}

#[test]
fn a_patient_seen_too_few_times_in_a_seat_has_no_usual_seat_and_timing_decides() {
    // Four earlier sessions each, five needed: no usual seat for either, so chair-2 says nothing.
    let got = crowded_shift_three_minutes_apart(Some("chair-2"), [4, 4]);
    assert_eq!(
        verdicts(&got),
        vec![
            (RuleId::NoPresence, "B".into()),
            (RuleId::Impersonation, "A".into())
        ]
    );
    let a = evidence_of(&got, "A");
    assert_eq!(a["ambiguous"], true);
    assert!(a.get("usual_seat").is_none(), "{a}");
    assert_eq!(a["unknown_face_seat"]["seat"], "chair-2");
    // P1's usual seat is chair-1 and P2 has none: the person in chair-2 is not in A's chair, so they
    // go to B, whose patient's seat is unknown, before A, whose patient usually sits elsewhere.
    let got = crowded_shift_three_minutes_apart(Some("chair-2"), [6, 4]);
    assert_eq!(
        verdicts(&got),
        vec![
            (RuleId::NoPresence, "A".into()),
            (RuleId::Impersonation, "B".into())
        ]
    );
    assert_eq!(evidence_of(&got, "B")["ambiguous"], false);
}

#[test]
fn whatever_seat_the_box_reports_both_absent_lines_stay_flagged() {
    // The institution draws the zones on its own box: a seat may only decide which absent line the
    // face replaced, never remove a flag or its amount.
    for their_seat in [None, Some("chair-1"), Some("chair-2"), Some("chair-9")] {
        let got = crowded_shift_three_minutes_apart(their_seat, [6, 6]);
        let mut lines: Vec<String> = verdicts(&got).into_iter().map(|(_, sn)| sn).collect();
        lines.sort();
        assert_eq!(lines, vec!["A", "B"], "seat {their_seat:?}");
        assert_eq!(
            got.findings.iter().map(|f| f.amount_fen).sum::<i64>(),
            2 * got.findings[0].amount_fen,
            "seat {their_seat:?}"
        );
    }
}
