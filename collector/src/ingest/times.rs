//! What the box cannot know: the times an event states, checked against the collector's own receipt
//! time and against the event's stored neighbours on its chain.
//!
//! The institution that is audited owns the ward box and so holds its signing key: a valid signature
//! proves only that the box (or whoever holds its key) said something, not that it is possible. These
//! checks refuse what no honest box can say, each with its own [`RejectReason`]:
//!
//! | check | reason |
//! |---|---|
//! | `sent_at` later than the collector's receipt (its first receipt of the same bytes) + [`CLOCK_TOLERANCE`] | `sealed_in_future` |
//! | a presence `end` before its `start` | `interval_reversed` |
//! | a presence `end` later than the event's own `sent_at`, or than the receipt, + [`CLOCK_TOLERANCE`] | `interval_in_future` |
//! | a presence interval longer than [`TimeChecks::max_interval`] (default [`DEFAULT_MAX_INTERVAL`]) | `interval_too_long` |
//! | `sent_at` earlier than the nearest stored event before it on the chain, or later than the nearest stored event after it, by more than [`CLOCK_TOLERANCE`] | `sealed_out_of_order` |
//!
//! **Late is not forged.** Nothing here has a lower bound on age: a box cut off for weeks delivers its
//! spool long after sealing it, and every event of it is stored. Only the future and contradictions
//! inside an event or along its chain are refused.
//!
//! **Clock jumps.** The agent records a jump of its wall clock of more than 2 s as a `clock` event
//! (`agent/src/clock.rs`). A recorded jump *explains* a backward step of the seal times but does not
//! excuse it: setting a box's clock back a day is exactly how an unmodified agent would be made to seal
//! "yesterday's" presence today, and it would dutifully record the jump. So a backward step up to
//! [`CLOCK_TOLERANCE`] is accepted, recorded or not (an NTP correction of a clock that was off by no more
//! than the collector accepts anyway), and a larger one is refused, recorded or not; the `clock` event is
//! itself an event on the chain and is stored or quarantined by the same rules, so the bureau sees it
//! either way.
//!
//! The functions here are pure; [`super::verify`] applies [`check_event`] to every signed event, and the
//! store ([`crate::store::ingest`]) applies [`check_order`] and [`check_first_receipt`] inside the batch
//! transaction, where the chain neighbours and earlier receipts are known.

use std::time::Duration;
use wardwatch_protocol::{Event, Payload, RejectReason, Timestamp};

/// How far a box's clock may be off the collector's, and so how far it may be stepped back between two
/// of its own readings, before the collector refuses what it stamped.
///
/// Five minutes: boxes keep NTP time, and an RTC that drifts a second or two a day stays within it
/// through a month offline; the collector's own clock error is covered too. It is far below anything
/// that matters to a bill (sessions last 30 minutes and more), so a box gains nothing by using it. A
/// box whose clock is off by more has its reports quarantined until its time is fixed (deploy/README).
pub const CLOCK_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The default longest presence interval: 24 hours.
///
/// One interval is one camera seeing one person continuously (a face recognised at least every
/// `close_after_secs`, 2 minutes by default). The longest ward session billed is a day (a psychiatric
/// bed-day); a dialysis session lasts 4–5 hours, a rehabilitation session under 2. A longer continuous
/// sighting is not a ward session, and a 24-day one is not a sighting at all.
pub const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// The collector's settings for the time checks that are settings; [`CLOCK_TOLERANCE`] is a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeChecks {
    /// The longest presence interval (`end − start`) accepted; default [`DEFAULT_MAX_INTERVAL`].
    pub max_interval: Duration,
}

impl Default for TimeChecks {
    fn default() -> Self {
        TimeChecks {
            max_interval: DEFAULT_MAX_INTERVAL,
        }
    }
}

/// A stored chain neighbour: its seq and when it was sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    /// The neighbour's seq.
    pub seq: u64,
    /// Its `sent_at`.
    pub sent_at: Timestamp,
}

/// Why an event's times are impossible. The `Display` text names the field and the times; it is kept as
/// the quarantine row's detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeViolation {
    /// See [`RejectReason::SealedInFuture`].
    #[error(
        "`sent_at` {sent_at} is {} later than the collector {} it at {received} (tolerance {})",
        span(.received, .sent_at),
        received_how(.first_receipt),
        span_of(&CLOCK_TOLERANCE)
    )]
    SealedInFuture {
        /// The event's `sent_at`.
        sent_at: Timestamp,
        /// When the collector (first) received it.
        received: Timestamp,
        /// Whether `received` is an earlier receipt of the same bytes, from the quarantine.
        first_receipt: bool,
    },
    /// See [`RejectReason::IntervalReversed`].
    #[error("`payload.end` {end} is {} before `payload.start` {start}", span(.end, .start))]
    IntervalReversed {
        /// The interval's start.
        start: Timestamp,
        /// Its end.
        end: Timestamp,
    },
    /// See [`RejectReason::IntervalInFuture`]: later than the event's own seal time.
    #[error(
        "`payload.end` {end} is {} later than the event's `sent_at` {sent_at} (tolerance {})",
        span(.sent_at, .end),
        span_of(&CLOCK_TOLERANCE)
    )]
    IntervalAfterSeal {
        /// The interval's end.
        end: Timestamp,
        /// The event's `sent_at`.
        sent_at: Timestamp,
    },
    /// See [`RejectReason::IntervalInFuture`]: later than the collector's receipt.
    #[error(
        "`payload.end` {end} is {} later than the collector received the event at {received} (tolerance {})",
        span(.received, .end),
        span_of(&CLOCK_TOLERANCE)
    )]
    IntervalAfterReceipt {
        /// The interval's end.
        end: Timestamp,
        /// When the collector received the event.
        received: Timestamp,
    },
    /// See [`RejectReason::IntervalTooLong`].
    #[error(
        "presence interval `payload.start` {start} to `payload.end` {end} lasts {}, longer than the {} maximum",
        span(.start, .end),
        span_of(.max)
    )]
    IntervalTooLong {
        /// The interval's start.
        start: Timestamp,
        /// Its end.
        end: Timestamp,
        /// The maximum in force.
        max: Duration,
    },
    /// See [`RejectReason::SealedOutOfOrder`]: earlier than a stored event before it on the chain.
    #[error(
        "`sent_at` {sent_at} of seq {seq} is {} earlier than {} before it (tolerance {})",
        span_to(.sent_at, .before),
        neighbour(.before),
        span_of(&CLOCK_TOLERANCE)
    )]
    SealedBeforePredecessor {
        /// The event's seq.
        seq: u64,
        /// The event's `sent_at`.
        sent_at: Timestamp,
        /// The nearest stored event before it.
        before: Sealed,
    },
    /// See [`RejectReason::SealedOutOfOrder`]: later than a stored event after it on the chain.
    #[error(
        "`sent_at` {sent_at} of seq {seq} is {} later than {} after it (tolerance {})",
        span_to(.sent_at, .after),
        neighbour(.after),
        span_of(&CLOCK_TOLERANCE)
    )]
    SealedAfterSuccessor {
        /// The event's seq.
        seq: u64,
        /// The event's `sent_at`.
        sent_at: Timestamp,
        /// The nearest stored event after it.
        after: Sealed,
    },
}

impl TimeViolation {
    /// The stable reason code stored in the quarantine.
    pub fn reason(&self) -> RejectReason {
        match self {
            TimeViolation::SealedInFuture { .. } => RejectReason::SealedInFuture,
            TimeViolation::IntervalReversed { .. } => RejectReason::IntervalReversed,
            TimeViolation::IntervalAfterSeal { .. }
            | TimeViolation::IntervalAfterReceipt { .. } => RejectReason::IntervalInFuture,
            TimeViolation::IntervalTooLong { .. } => RejectReason::IntervalTooLong,
            TimeViolation::SealedBeforePredecessor { .. }
            | TimeViolation::SealedAfterSuccessor { .. } => RejectReason::SealedOutOfOrder,
        }
    }
}

fn tolerance_ms() -> i64 {
    i64::try_from(CLOCK_TOLERANCE.as_millis()).unwrap_or(i64::MAX)
}

/// `a` is later than `b` by more than the clock tolerance.
fn beyond(a: Timestamp, b: Timestamp) -> bool {
    a.millis().saturating_sub(b.millis()) > tolerance_ms()
}

/// The time from `from` to `to`, readably (`1 h 5 min`, `24 d 0 h`, `2.500 s`).
fn span(from: &Timestamp, to: &Timestamp) -> String {
    span_ms(to.millis().saturating_sub(from.millis()))
}

fn span_of(d: &Duration) -> String {
    span_ms(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The time between `sent_at` and a neighbour's seal, either way.
fn span_to(sent_at: &Timestamp, neighbour: &Sealed) -> String {
    span(sent_at, &neighbour.sent_at)
}

fn neighbour(n: &Sealed) -> String {
    format!("the `sent_at` {} of the stored seq {}", n.sent_at, n.seq)
}

fn received_how(first_receipt: &bool) -> &'static str {
    if *first_receipt {
        "first received"
    } else {
        "received"
    }
}

fn span_ms(ms: i64) -> String {
    let ms = ms.unsigned_abs();
    let (day, hour, minute) = (86_400_000, 3_600_000, 60_000);
    if ms >= day {
        format!("{} d {} h", ms / day, ms % day / hour)
    } else if ms >= hour {
        format!("{} h {} min", ms / hour, ms % hour / minute)
    } else if ms >= minute {
        format!("{} min {} s", ms / minute, ms % minute / 1000)
    } else {
        format!("{}.{:03} s", ms / 1000, ms % 1000)
    }
}

/// Checks what one event says about time against itself and against `received`, when the collector
/// received it: the seal is not in the future, and a presence interval runs forwards, ends by its seal
/// and by the receipt, and is no longer than `checks.max_interval`. Age is never refused.
pub fn check_event(
    event: &Event,
    received: Timestamp,
    checks: &TimeChecks,
) -> Result<(), TimeViolation> {
    if beyond(event.sent_at, received) {
        return Err(TimeViolation::SealedInFuture {
            sent_at: event.sent_at,
            received,
            first_receipt: false,
        });
    }
    let Payload::Presence(p) = &event.payload else {
        return Ok(());
    };
    if p.end < p.start {
        return Err(TimeViolation::IntervalReversed {
            start: p.start,
            end: p.end,
        });
    }
    if beyond(p.end, event.sent_at) {
        return Err(TimeViolation::IntervalAfterSeal {
            end: p.end,
            sent_at: event.sent_at,
        });
    }
    if beyond(p.end, received) {
        return Err(TimeViolation::IntervalAfterReceipt {
            end: p.end,
            received,
        });
    }
    let length = u64::try_from(p.end.millis().saturating_sub(p.start.millis())).unwrap_or(0);
    if u128::from(length) > checks.max_interval.as_millis() {
        return Err(TimeViolation::IntervalTooLong {
            start: p.start,
            end: p.end,
            max: checks.max_interval,
        });
    }
    Ok(())
}

/// Checks `sent_at` against an earlier receipt of the same bytes: a message the collector already had
/// before the time it claims to have been sealed stays a report from the future when it is sent again.
pub fn check_first_receipt(
    sent_at: Timestamp,
    first_received: Timestamp,
) -> Result<(), TimeViolation> {
    if beyond(sent_at, first_received) {
        return Err(TimeViolation::SealedInFuture {
            sent_at,
            received: first_received,
            first_receipt: true,
        });
    }
    Ok(())
}

/// Checks that the seal times do not run backwards along the chain: event `seq`, sealed at `sent_at`,
/// against the nearest stored event before it (`before`) and after it (`after`, when it fills a gap).
pub fn check_order(
    seq: u64,
    sent_at: Timestamp,
    before: Option<Sealed>,
    after: Option<Sealed>,
) -> Result<(), TimeViolation> {
    if let Some(before) = before
        && beyond(before.sent_at, sent_at)
    {
        return Err(TimeViolation::SealedBeforePredecessor {
            seq,
            sent_at,
            before,
        });
    }
    if let Some(after) = after
        && beyond(sent_at, after.sent_at)
    {
        return Err(TimeViolation::SealedAfterSuccessor {
            seq,
            sent_at,
            after,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_protocol::{
        Digest, EventDraft, Health, Liveness, Person, Presence, SigningKey, Similarity, WardKind,
    };

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;

    fn t(s: &str) -> Timestamp {
        s.parse().expect("time")
    }

    fn seal(sent_at: Timestamp, payload: Payload) -> Event {
        let mut draft = EventDraft::new(
            "box-1".parse().expect("device"),
            "H43060200175".parse().expect("institution"),
            7,
            Digest::GENESIS,
            payload,
        );
        draft.sent_at = sent_at;
        draft.seal(&SigningKey::from_bytes(&[3; 32]))
    }

    fn presence(start: Timestamp, end: Timestamp) -> Payload {
        Payload::Presence(Presence {
            interval_id: uuid::Uuid::from_u128(1),
            camera_id: "cam-1".parse().expect("camera"),
            ward_kind: WardKind::Haemodialysis,
            person: Person::PsnNo("43060000000000000001".parse().expect("psn")),
            start,
            end,
            open: false,
            samples: 10,
            best_similarity: Similarity::try_from(0.8).expect("score"),
            median_similarity: Similarity::try_from(0.7).expect("score"),
            liveness: Liveness::try_from(0.9).expect("score"),
            embedding: None,
            track_liveness: None,
            seat: None,
        })
    }

    fn health() -> Payload {
        Payload::Health(Health {
            agent_version: "test".into(),
            spool_depth: 0,
            uptime_secs: 0,
            gallery_version: None,
            cameras: Vec::new(),
        })
    }

    fn reason(r: Result<(), TimeViolation>) -> Option<RejectReason> {
        r.err().map(|v| v.reason())
    }

    #[test]
    fn a_report_from_the_future_is_refused_within_the_tolerance_it_is_not() {
        let now = t("2026-12-05T14:00:00.000Z");
        let checks = TimeChecks::default();
        let future = seal(now.plus_millis(HOUR), health());
        let err = check_event(&future, now, &checks).expect_err("an hour ahead");
        assert_eq!(err.reason(), RejectReason::SealedInFuture);
        let detail = err.to_string();
        assert!(
            detail.contains("`sent_at` 2026-12-05T15:00:00.000Z is 1 h 0 min later")
                && detail.contains("received it at 2026-12-05T14:00:00.000Z"),
            "{detail}"
        );
        let skewed = seal(now.plus_millis(5 * MIN), health());
        assert_eq!(check_event(&skewed, now, &checks), Ok(()), "5 min is skew");
        let beyond = seal(now.plus_millis(5 * MIN + 1), health());
        assert_eq!(
            reason(check_event(&beyond, now, &checks)),
            Some(RejectReason::SealedInFuture)
        );
    }

    #[test]
    fn a_month_sealed_weeks_ago_is_not_refused_for_its_age() {
        let now = t("2026-12-05T14:00:00.000Z");
        let checks = TimeChecks::default();
        for day in 21..=51 {
            let end = now.plus_millis(-day * DAY);
            let event = seal(
                end.plus_millis(MIN),
                presence(end.plus_millis(-4 * HOUR), end),
            );
            assert_eq!(check_event(&event, now, &checks), Ok(()), "day -{day}");
        }
        let year_old = seal(now.plus_millis(-365 * DAY), health());
        assert_eq!(check_event(&year_old, now, &checks), Ok(()));
    }

    #[test]
    fn an_interval_that_ends_before_it_starts_is_refused() {
        let now = t("2026-12-05T14:00:00.000Z");
        let start = now.plus_millis(-2 * HOUR);
        let event = seal(now, presence(start, start.plus_millis(-30 * MIN)));
        let err = check_event(&event, now, &TimeChecks::default()).expect_err("reversed");
        assert_eq!(err.reason(), RejectReason::IntervalReversed);
        assert!(
            err.to_string()
                .contains("`payload.end` 2026-12-05T11:30:00.000Z is 30 min 0 s before `payload.start` 2026-12-05T12:00:00.000Z"),
            "{err}"
        );
        let instant = seal(now, presence(start, start));
        assert_eq!(check_event(&instant, now, &TimeChecks::default()), Ok(()));
    }

    #[test]
    fn an_interval_ending_after_its_own_seal_or_after_the_receipt_is_refused() {
        let now = t("2026-12-05T14:00:00.000Z");
        let checks = TimeChecks::default();
        // Sealed a week ago, reporting a sighting from the day after its seal.
        let sealed = now.plus_millis(-7 * DAY);
        let after_seal = seal(
            sealed,
            presence(sealed.plus_millis(DAY), sealed.plus_millis(DAY + HOUR)),
        );
        let err = check_event(&after_seal, now, &checks).expect_err("after its seal");
        assert_eq!(err.reason(), RejectReason::IntervalInFuture);
        assert!(
            err.to_string().contains("later than the event's `sent_at`"),
            "{err}"
        );
        // Sealed within the skew, with an end beyond the skew past the receipt.
        let ahead = seal(
            now.plus_millis(4 * MIN),
            presence(now.plus_millis(-HOUR), now.plus_millis(8 * MIN)),
        );
        let err = check_event(&ahead, now, &checks).expect_err("after the receipt");
        assert_eq!(err.reason(), RejectReason::IntervalInFuture);
        assert!(
            err.to_string()
                .contains("later than the collector received"),
            "{err}"
        );
        // The last sighting a moment after the seal is within the tolerance.
        let close = seal(
            now,
            presence(now.plus_millis(-HOUR), now.plus_millis(1_000)),
        );
        assert_eq!(check_event(&close, now, &checks), Ok(()));
    }

    #[test]
    fn an_interval_longer_than_the_maximum_is_refused_and_the_maximum_is_a_setting() {
        let now = t("2026-12-05T14:00:00.000Z");
        let checks = TimeChecks::default();
        let end = now.plus_millis(-HOUR);
        let days24 = seal(now, presence(end.plus_millis(-24 * DAY), end));
        let err = check_event(&days24, now, &checks).expect_err("24 days");
        assert_eq!(err.reason(), RejectReason::IntervalTooLong);
        assert!(
            err.to_string()
                .contains("lasts 24 d 0 h, longer than the 1 d 0 h maximum"),
            "{err}"
        );
        let day = seal(now, presence(end.plus_millis(-DAY), end));
        assert_eq!(check_event(&day, now, &checks), Ok(()), "exactly 24 h");
        let over = seal(now, presence(end.plus_millis(-DAY - 1), end));
        assert_eq!(
            reason(check_event(&over, now, &checks)),
            Some(RejectReason::IntervalTooLong)
        );
        let strict = TimeChecks {
            max_interval: Duration::from_secs(6 * 3600),
        };
        let dialysis = seal(now, presence(end.plus_millis(-5 * HOUR), end));
        assert_eq!(check_event(&dialysis, now, &strict), Ok(()));
        let long = seal(now, presence(end.plus_millis(-7 * HOUR), end));
        assert_eq!(
            reason(check_event(&long, now, &strict)),
            Some(RejectReason::IntervalTooLong)
        );
    }

    #[test]
    fn seal_times_must_not_run_backwards_along_the_chain() {
        let at = t("2026-11-20T08:00:00.000Z");
        let before = Sealed {
            seq: 6,
            sent_at: at,
        };
        let after = Sealed {
            seq: 9,
            sent_at: at.plus_millis(HOUR),
        };
        assert_eq!(
            check_order(7, at.plus_millis(MIN), Some(before), Some(after)),
            Ok(())
        );
        assert_eq!(
            check_order(7, at, Some(before), Some(after)),
            Ok(()),
            "same ms"
        );
        // A correction of up to the tolerance is a clock being set right, not a back-dating.
        assert_eq!(
            check_order(7, at.plus_millis(-5 * MIN), Some(before), None),
            Ok(())
        );
        let err = check_order(7, at.plus_millis(-DAY), Some(before), None).expect_err("a day back");
        assert_eq!(err.reason(), RejectReason::SealedOutOfOrder);
        assert!(
            err.to_string().contains(
                "`sent_at` 2026-11-19T08:00:00.000Z of seq 7 is 1 d 0 h earlier than the `sent_at` \
                 2026-11-20T08:00:00.000Z of the stored seq 6 before it"
            ),
            "{err}"
        );
        // Filling a gap: the stored successor was sealed earlier than this one.
        let err = check_order(7, at.plus_millis(2 * HOUR), Some(before), Some(after))
            .expect_err("after its successor");
        assert_eq!(err.reason(), RejectReason::SealedOutOfOrder);
        assert!(err.to_string().contains("stored seq 9 after it"), "{err}");
        assert_eq!(check_order(1, at, None, None), Ok(()));
    }

    #[test]
    fn a_resend_of_bytes_first_received_before_their_seal_time_stays_in_the_future() {
        let first = t("2026-12-05T14:00:00.000Z");
        let sent_at = first.plus_millis(HOUR);
        let err = check_first_receipt(sent_at, first).expect_err("first receipt");
        assert_eq!(err.reason(), RejectReason::SealedInFuture);
        assert!(err.to_string().contains("first received it at"), "{err}");
        assert_eq!(check_first_receipt(first.plus_millis(MIN), first), Ok(()));
    }
}
