//! Matching unknown faces to the billed lines nobody saw: which absent patient's chair each unknown
//! person sat in (冒名), and which absent lines are left empty (假病人).
//!
//! Ward practice the matching rests on:
//! - one person sits in one chair: an unknown face fills at most one absent line at any moment, so
//!   two unknown faces are needed for two absent patients of one shift, and a third absent patient of
//!   that shift with only two unknown faces is a no-show;
//! - one person is often several tracks (re-tracked after each occlusion): a track that starts soon
//!   after an earlier one ended (within `2 × slot_margin_minutes`) continues that person — the one
//!   who disappeared most recently — while tracks at the same time are different people;
//! - an impostor sits the billed patient's session: each person goes to the absent line whose slot
//!   their stay is centred on (the middle of their first and last sighting nearest the middle of the
//!   slot), one person to one line, best fits first. In a dialysis shift every slot overlaps every
//!   other, so how long a face overlaps each says little; when it came and went says much, and the
//!   middle of the stay is not moved by a face missed for the same while at both ends (turned away
//!   while settling in and while leaving);
//! - passers-by are not people in chairs: a track shorter than `min_track_share` of a session is not
//!   matched at all;
//! - an impostor sits in the absent patient's chair: where the ward box has seat zones, a person who
//!   sat in an absent patient's usual seat ([`super::seats`]) goes to that patient's line before any
//!   line whose patient has no usual seat (or the person no seat), and those before any line whose
//!   patient usually sits elsewhere; timing orders the pairs within each of these. Without seats every
//!   pair is "no information" and the matching is by time alone, as before seats.
//!
//! A line is `impersonation` when the tracks matched to it cover `min_overlap_share` of one session
//! within its slot (widened by `slot_margin_minutes`). When a matched track also covered that much
//! of another absent line's slot and the seat did not tell the two lines apart, the flag says so
//! (`ambiguous_with`): the match is the best reading of the shift, not a certainty, and the auditor
//! sees both lines. Lines the seat ruled out are named too (`seat_ruled_out`), with the person's seat
//! and the patient's usual seat.

use super::finding::Finding;
use super::id::RuleId;
use super::observed::PresenceSpan;
use super::seats::{Seat, SeatFit, UsualSeat, person_seat};
use super::set::RuleSet;
use super::timeline::{MINUTE_MS, minutes, union};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// Overlap tolerated between two tracks of one person (a re-track may start just before the old
/// track's last sighting is closed).
const RETRACK_OVERLAP_MS: i64 = MINUTE_MS;

/// A billed line nobody saw, with the unknown faces seen in its ward around its slot.
pub struct Absent {
    /// The `no_presence` finding the line gets unless an unknown face is matched to it.
    pub finding: Finding,
    /// The kind of ward the line was billed for (faces are matched within one institution and kind).
    pub ward_kind: &'static str,
    /// Minutes of one session.
    pub per_unit: f64,
    /// The billed slot widened by `impersonation.slot_margin_minutes` on both sides.
    pub window: (i64, i64),
    /// Unknown tracks overlapping `window`, unclipped.
    pub tracks: Vec<PresenceSpan>,
    /// Where the billed patient usually sits at the institution in this kind of ward, if known.
    pub usual_seat: Option<UsualSeat>,
}

impl Absent {
    fn overlap_minutes(&self, track: &PresenceSpan) -> f64 {
        let from = track.start_ms.max(self.window.0);
        let to = track.end_ms.min(self.window.1);
        (to - from).max(0) as f64 / MINUTE_MS as f64
    }

    /// `tracks` clipped to the line's window (as the flag shows them).
    fn clip(&self, tracks: &[PresenceSpan]) -> Vec<PresenceSpan> {
        tracks
            .iter()
            .map(|s| PresenceSpan {
                start_ms: s.start_ms.max(self.window.0),
                end_ms: s.end_ms.min(self.window.1),
                ..s.clone()
            })
            .collect()
    }

    /// Whether `tracks` (one person's) cover `share` of a session within this line's window.
    fn covered_by(&self, tracks: &[PresenceSpan], share: f64) -> bool {
        let clipped = self.clip(tracks);
        !tracks.is_empty()
            && minutes(&union(clipped.iter().map(PresenceSpan::span).collect()))
                >= share * self.per_unit
    }

    /// How a person who sat in `seat` fits this line's patient's usual seat.
    fn seat_fit(&self, seat: Option<&Seat>) -> SeatFit {
        SeatFit::of(seat, self.usual_seat.as_ref())
    }

    /// Whether `track` lasts long enough inside this line's window to be someone in the chair.
    fn sits_in(&self, track: &PresenceSpan, rules: &RuleSet) -> bool {
        let overlap = self.overlap_minutes(track);
        overlap > 0.0 && overlap >= rules.impersonation.params.min_track_share * self.per_unit
    }
}

/// The findings for the absent lines: `impersonation` for those an unknown face was matched to,
/// `no_presence` for the others (with the unknown faces in their slot as evidence).
pub fn match_impostors(rules: &RuleSet, absent: Vec<Absent>) -> Vec<Finding> {
    let mut groups: BTreeMap<(String, &'static str), Vec<usize>> = BTreeMap::new();
    for (i, a) in absent.iter().enumerate() {
        groups
            .entry((a.finding.institution.to_string(), a.ward_kind))
            .or_default()
            .push(i);
    }
    let mut assigned: Vec<Vec<PresenceSpan>> = vec![Vec::new(); absent.len()];
    for lines in groups.values_mut() {
        for shift in shifts(&absent, lines) {
            for (track, line) in seat(rules, &absent, &shift) {
                assigned[line].push(track);
            }
        }
    }
    absent
        .iter()
        .enumerate()
        .map(|(i, a)| verdict(rules, a, i, &assigned, &absent))
        .collect()
}

/// Splits one institution's ward kind's absent lines into runs whose windows overlap one another
/// (a shift, a session hour): faces are matched within a run, so the work grows with a shift's size,
/// not a month's.
fn shifts(absent: &[Absent], lines: &mut [usize]) -> Vec<Vec<usize>> {
    lines.sort_by_key(|&i| (absent[i].window.0, i));
    let mut runs: Vec<Vec<usize>> = Vec::new();
    let mut run_end = i64::MIN;
    for &i in lines.iter() {
        let (start, end) = absent[i].window;
        match runs.last_mut() {
            Some(run) if start < run_end => run.push(i),
            _ => runs.push(vec![i]),
        }
        run_end = run_end.max(end);
    }
    runs
}

/// Seats the unknown people of one run of overlapping absent lines in the absent lines' chairs; returns
/// (track, index into `absent`) pairs for the tracks of every seated person.
fn seat(rules: &RuleSet, absent: &[Absent], lines: &[usize]) -> Vec<(PresenceSpan, usize)> {
    let mut seen = BTreeSet::new();
    let mut tracks: Vec<&PresenceSpan> = Vec::new();
    for &i in lines {
        for t in &absent[i].tracks {
            let sits = lines.iter().any(|&j| absent[j].sits_in(t, rules));
            if sits && seen.insert((&t.camera_id, &t.track_id, t.start_ms)) {
                tracks.push(t);
            }
        }
    }
    tracks.sort_by(|a, b| (a.start_ms, &a.track_id).cmp(&(b.start_ms, &b.track_id)));
    let people = people(&tracks, rules);
    let share = rules.impersonation.params.min_overlap_share;
    let margin = i64::from(rules.impersonation.params.slot_margin_minutes) * MINUTE_MS;
    // Every (seat fit, cost, person, line) where the person covers enough of the line's slot to be
    // in its chair; seat fit: whether the person sat in the line's patient's usual seat; cost: how far
    // the middle of the person's stay is from the middle of the slot (twice that, in ms: the signed
    // distances of arrival and departure from the slot's ends, added).
    let mut pairs: Vec<(SeatFit, i64, usize, usize)> = Vec::new();
    for (p, person) in people.iter().enumerate() {
        let arrive = person.iter().map(|t| t.start_ms).min().unwrap_or_default();
        let leave = person.iter().map(|t| t.end_ms).max().unwrap_or_default();
        let seat = person_seat(person.iter().copied());
        for &i in lines {
            let line = &absent[i];
            let sitting: Vec<(i64, i64)> = person
                .iter()
                .filter(|t| line.sits_in(t, rules))
                .map(|t| (t.start_ms.max(line.window.0), t.end_ms.min(line.window.1)))
                .collect();
            if minutes(&union(sitting)) >= share * line.per_unit {
                let slot = (line.window.0 + margin, line.window.1 - margin);
                let cost = ((arrive - slot.0) + (leave - slot.1)).abs();
                pairs.push((line.seat_fit(seat.as_ref()), cost, p, i));
            }
        }
    }
    pairs.sort_unstable();
    let (mut person_seated, mut line_taken) = (vec![false; people.len()], BTreeMap::new());
    let mut out = Vec::new();
    for (_, _, p, i) in pairs {
        if person_seated[p] || line_taken.contains_key(&i) {
            continue;
        }
        person_seated[p] = true;
        line_taken.insert(i, p);
        out.extend(people[p].iter().map(|t| ((*t).clone(), i)));
    }
    out
}

/// Groups tracks (sorted by start) into people: a track that starts at most
/// `2 × slot_margin_minutes` after an earlier one ended — and not before it ended — continues that
/// person, unless their faces say otherwise (both carry embeddings less alike than
/// `same_face_similarity`); among the people it may continue, the one whose face is most like it, else
/// the one who disappeared most recently. Overlapping tracks are different people.
fn people<'t>(tracks: &[&'t PresenceSpan], rules: &RuleSet) -> Vec<Vec<&'t PresenceSpan>> {
    let params = &rules.impersonation.params;
    let max_gap = 2 * i64::from(params.slot_margin_minutes) * MINUTE_MS;
    // Each person's tracks and when their last one ended.
    let mut people: Vec<(Vec<&PresenceSpan>, i64)> = Vec::new();
    for &track in tracks {
        // (how alike the faces are, when both have one; when the person was last seen; person)
        let best = people
            .iter()
            .enumerate()
            .filter(|(_, (_, end))| {
                *end <= track.start_ms + RETRACK_OVERLAP_MS && track.start_ms - end <= max_gap
            })
            .filter_map(|(p, (theirs, end))| {
                let likeness = theirs
                    .iter()
                    .filter_map(|t| t.face_similarity(track))
                    .max_by(f64::total_cmp);
                match likeness {
                    Some(s) if s < params.same_face_similarity => None,
                    _ => Some((likeness, *end, p)),
                }
            })
            .max_by(|a, b| match (a.0, b.0) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (x, y) => x.is_some().cmp(&y.is_some()).then(a.1.cmp(&b.1)),
            });
        match best {
            Some((_, _, p)) => {
                people[p].0.push(track);
                people[p].1 = people[p].1.max(track.end_ms);
            }
            None => people.push((vec![track], track.end_ms)),
        }
    }
    people.into_iter().map(|(tracks, _)| tracks).collect()
}

/// Absent line `me`'s finding, given the tracks seated in each absent line's chair (`seated`).
fn verdict(
    rules: &RuleSet,
    a: &Absent,
    me: usize,
    seated: &[Vec<PresenceSpan>],
    all: &[Absent],
) -> Finding {
    let share = rules.impersonation.params.min_overlap_share;
    let mine = &seated[me];
    let clipped = a.clip(mine);
    let covered = minutes(&union(clipped.iter().map(PresenceSpan::span).collect()));
    let mut finding = a.finding.clone();
    if let Some(usual) = &a.usual_seat {
        finding.evidence["usual_seat"] = json!(usual);
    }
    if !mine.is_empty() && covered >= share * a.per_unit {
        let seat = person_seat(mine);
        let fit = a.seat_fit(seat.as_ref());
        // Other absent lines the face sat through too: ambiguous unless the seat preferred this one.
        let (mut ambiguous_with, mut ruled_out): (Vec<&String>, Vec<&String>) =
            (Vec::new(), Vec::new());
        for other in all.iter().filter(|o| {
            !std::ptr::eq(*o, a)
                && o.ward_kind == a.ward_kind
                && o.finding.institution == a.finding.institution
                && o.covered_by(mine, share)
        }) {
            if fit < other.seat_fit(seat.as_ref()) {
                ruled_out.extend(&other.finding.lines);
            } else {
                ambiguous_with.extend(&other.finding.lines);
            }
        }
        finding.rule = RuleId::Impersonation;
        finding.evidence["unknown_faces"] = json!(clipped);
        finding.evidence["unknown_face_minutes"] = json!(covered);
        finding.evidence["ambiguous"] = json!(!ambiguous_with.is_empty());
        finding.evidence["ambiguous_with"] = json!(ambiguous_with);
        if let Some(seat) = &seat {
            finding.evidence["unknown_face_seat"] = json!(seat);
        }
        if !ruled_out.is_empty() {
            finding.evidence["seat_ruled_out"] = json!(ruled_out);
        }
    } else {
        let in_slot = a.clip(&a.tracks);
        if !in_slot.is_empty() {
            finding.evidence["unknown_faces_in_slot"] = json!(in_slot);
        }
        // A face seated in another absent line's chair that sat through enough of this slot too: which
        // of the two patients it replaced is the best reading of the shift, not a certainty — unless
        // the face sat in that patient's usual seat and not in this one's.
        let elsewhere: Vec<&String> = seated
            .iter()
            .enumerate()
            .filter(|&(other, theirs)| {
                other != me
                    && all[other].ward_kind == a.ward_kind
                    && all[other].finding.institution == a.finding.institution
                    && a.covered_by(theirs, share)
                    && {
                        let seat = person_seat(theirs);
                        all[other].seat_fit(seat.as_ref()) >= a.seat_fit(seat.as_ref())
                    }
            })
            .flat_map(|(other, _)| &all[other].finding.lines)
            .collect();
        if !elsewhere.is_empty() {
            finding.evidence["ambiguous"] = json!(true);
            finding.evidence["ambiguous_with"] = json!(elsewhere);
        }
    }
    finding
}
