//! Where people sat: a patient's usual seat — the (camera, seat zone) where the ward box saw them for
//! most of their presence intervals that carry a seat — and the seat an unknown person sat in, for
//! [`super::impostors`]: in a dialysis ward each patient has a regular chair and machine, and someone
//! else billed under their name sits in it.
//!
//! A seat is what the box's technician drew on a camera's picture (`[[camera.seats]]` in the box's
//! configuration); an interval carries one when a zone held most of its face centres. Without zones
//! no interval has a seat, nobody has a usual seat, and the matching is by time alone.

use super::observed::PresenceSpan;
use serde::Serialize;
use std::collections::BTreeMap;
use wardwatch_protocol::SeatId;

/// A seat zone of one camera.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Seat {
    /// The camera whose picture the zone is drawn on.
    pub camera_id: String,
    /// The zone.
    pub seat: SeatId,
}

impl Seat {
    /// The seat of a presence interval, when it has one.
    pub fn of(span: &PresenceSpan) -> Option<Seat> {
        span.seat.as_ref().map(|seat| Seat {
            camera_id: span.camera_id.clone(),
            seat: seat.clone(),
        })
    }
}

/// A patient's usual seat at an institution in a ward kind, with what it rests on (shown in flags).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsualSeat {
    /// The seat.
    #[serde(flatten)]
    pub seat: Seat,
    /// Of the patient's intervals there with a seat, the share in this one.
    pub share: f64,
    /// The patient's intervals there with a seat.
    pub intervals: usize,
}

/// The seat holding at least `min_share` of `spans` (one patient's intervals at one institution in one
/// ward kind) among those with a seat, when at least `min_intervals` have one.
pub fn usual_seat<'a>(
    spans: impl IntoIterator<Item = &'a PresenceSpan>,
    min_share: f64,
    min_intervals: u32,
) -> Option<UsualSeat> {
    let mut counts: BTreeMap<Seat, usize> = BTreeMap::new();
    for seat in spans.into_iter().filter_map(Seat::of) {
        *counts.entry(seat).or_default() += 1;
    }
    let intervals: usize = counts.values().sum();
    if intervals == 0 || intervals < min_intervals as usize {
        return None;
    }
    let (seat, most) = counts.into_iter().max_by_key(|(_, n)| *n)?;
    let share = most as f64 / intervals as f64;
    (share >= min_share).then_some(UsualSeat {
        seat,
        share,
        intervals,
    })
}

/// The seat an unknown person (their tracks) sat in: the one holding more than half of their minutes
/// in a seat.
pub fn person_seat<'a>(tracks: impl IntoIterator<Item = &'a PresenceSpan>) -> Option<Seat> {
    let mut minutes: BTreeMap<Seat, i64> = BTreeMap::new();
    for track in tracks {
        if let Some(seat) = Seat::of(track) {
            *minutes.entry(seat).or_default() += (track.end_ms - track.start_ms).max(0);
        }
    }
    let total: i64 = minutes.values().sum();
    minutes
        .into_iter()
        .find(|(_, ms)| 2 * ms > total)
        .map(|(seat, _)| seat)
}

/// How a person's seat bears on an absent patient's line, best first: in the patient's usual seat,
/// no information either way (no seat for the person, or no usual seat for the patient), in another
/// seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SeatFit {
    /// The person sat in the patient's usual seat.
    Agrees,
    /// Nothing to compare.
    Unknown,
    /// The person sat in another seat than the patient's usual one.
    Disagrees,
}

impl SeatFit {
    /// How `person` (their seat) fits a patient whose usual seat is `usual`.
    pub fn of(person: Option<&Seat>, usual: Option<&UsualSeat>) -> SeatFit {
        match (person, usual) {
            (Some(seat), Some(usual)) if *seat == usual.seat => SeatFit::Agrees,
            (Some(_), Some(_)) => SeatFit::Disagrees,
            _ => SeatFit::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fixtures::{H1, span};
    use wardwatch_protocol::WardKind::Haemodialysis;

    fn seated(seat: Option<&str>, minutes: i64) -> PresenceSpan {
        PresenceSpan {
            seat: seat.map(|s| s.parse().expect("seat")),
            ..span(H1, Haemodialysis, 0, minutes * 60_000)
        }
    }

    fn seat(id: &str) -> Seat {
        Seat {
            camera_id: "cam-1".into(),
            seat: id.parse().expect("seat"),
        }
    }

    #[test]
    fn the_usual_seat_needs_its_share_of_enough_seated_intervals() {
        // 4 of 5 seated intervals in chair-3 (one more without a seat): 0.8.
        let spans: Vec<PresenceSpan> = ["chair-3", "chair-3", "chair-7", "chair-3", "chair-3"]
            .into_iter()
            .map(|s| seated(Some(s), 60))
            .chain([seated(None, 60)])
            .collect();
        let usual = usual_seat(&spans, 0.6, 5).expect("usual seat");
        assert_eq!(usual.seat, seat("chair-3"));
        assert_eq!((usual.share, usual.intervals), (0.8, 5));
        assert_eq!(usual_seat(&spans, 0.85, 5), None, "0.8 is below 0.85");
        assert_eq!(
            usual_seat(&spans, 0.6, 6),
            None,
            "five seated intervals, six needed"
        );
        let none: Vec<PresenceSpan> = (0..8).map(|_| seated(None, 60)).collect();
        assert_eq!(usual_seat(&none, 0.6, 1), None, "no seats drawn");
    }

    #[test]
    fn a_persons_seat_holds_most_of_their_seated_minutes() {
        let tracks = [
            seated(Some("chair-3"), 100),
            seated(Some("chair-4"), 30),
            seated(None, 200),
        ];
        assert_eq!(person_seat(&tracks), Some(seat("chair-3")));
        let split = [seated(Some("chair-3"), 50), seated(Some("chair-4"), 50)];
        assert_eq!(person_seat(&split), None);
        let usual = UsualSeat {
            seat: seat("chair-3"),
            share: 0.9,
            intervals: 12,
        };
        let (here, there) = (seat("chair-3"), seat("chair-4"));
        assert_eq!(SeatFit::of(Some(&here), Some(&usual)), SeatFit::Agrees);
        assert_eq!(SeatFit::of(Some(&there), Some(&usual)), SeatFit::Disagrees);
        assert_eq!(SeatFit::of(None, Some(&usual)), SeatFit::Unknown);
        assert_eq!(SeatFit::of(Some(&here), None), SeatFit::Unknown);
        assert!(SeatFit::Agrees < SeatFit::Unknown && SeatFit::Unknown < SeatFit::Disagrees);
    }
}
