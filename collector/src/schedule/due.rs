//! Which rule jobs are due, decided as pure functions of the clock, the zone and the settings (no
//! database): a job is a local **day** (the per-line rules on that day's billing) or a local **month**
//! (the same window a monthly `rules run --from M-01 --to M+1-01` uses, so the rules that look at several
//! days — 挂床 streaks, the weekly dialysis limit, outage alignment — see the whole month and key their
//! flags as a manual run does). A period may run once it has closed plus a delay that lets the ward
//! boxes' spools drain.

use chrono::{Datelike, Duration as Days, NaiveDate, TimeZone};
use chrono_tz::Tz;
use std::collections::BTreeSet;
use std::fmt;

/// The span one rule job covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    /// One local day.
    Day(NaiveDate),
    /// One local calendar month, named by its first day.
    Month(NaiveDate),
}

impl Period {
    /// The month `date` falls in.
    pub fn month_of(date: NaiveDate) -> Period {
        Period::Month(date.with_day(1).unwrap_or(date))
    }

    /// Its first local day.
    pub fn first_day(self) -> NaiveDate {
        match self {
            Period::Day(d) | Period::Month(d) => d,
        }
    }

    /// The local day after its last one.
    pub fn end_day(self) -> NaiveDate {
        match self {
            Period::Day(d) => d + Days::days(1),
            Period::Month(d) => d
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(NaiveDate::MAX),
        }
    }

    /// `day` or `month`, as stored.
    pub fn kind(self) -> &'static str {
        match self {
            Period::Day(_) => "day",
            Period::Month(_) => "month",
        }
    }

    /// Its stored key: `day:2026-11-03` or `month:2026-11`.
    pub fn key(self) -> String {
        self.to_string()
    }

    /// Parses a stored key.
    pub fn parse(key: &str) -> Option<Period> {
        let (kind, rest) = key.split_once(':')?;
        match kind {
            "day" => NaiveDate::parse_from_str(rest, "%Y-%m-%d")
                .ok()
                .map(Period::Day),
            "month" => NaiveDate::parse_from_str(&format!("{rest}-01"), "%Y-%m-%d")
                .ok()
                .map(Period::Month),
            _ => None,
        }
    }

    /// [start, end) as UTC epoch milliseconds in `zone`.
    pub fn bounds_ms(self, zone: Tz) -> Option<(i64, i64)> {
        Some((
            local_midnight_ms(self.first_day(), zone)?,
            local_midnight_ms(self.end_day(), zone)?,
        ))
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Day(d) => write!(f, "day:{}", d.format("%Y-%m-%d")),
            Period::Month(d) => write!(f, "month:{}", d.format("%Y-%m")),
        }
    }
}

/// The first instant of a local date (the earliest, where a zone skips midnight).
pub fn local_midnight_ms(date: NaiveDate, zone: Tz) -> Option<i64> {
    zone.from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
        .earliest()
        .map(|t| t.timestamp_millis())
}

/// When the rules may run over a period: its end plus the close delay.
pub fn ready_at_ms(period: Period, zone: Tz, close_delay_ms: i64) -> Option<i64> {
    Some(period.bounds_ms(zone)?.1.saturating_add(close_delay_ms))
}

/// Has `period` closed, with the delay, at `now_ms`?
pub fn has_closed(period: Period, zone: Tz, close_delay_ms: i64, now_ms: i64) -> bool {
    ready_at_ms(period, zone, close_delay_ms).is_some_and(|at| at <= now_ms)
}

/// The periods `serve` makes sure have a job at `now_ms`: each local day of the last `catch_up_days`
/// that has closed (with the delay), and the month of each of those days once that month has closed. A
/// collector that was down for less than `catch_up_days` catches up; older days run only when an import
/// asks for them ([`touched_by_import`]) or by hand (`rules run`).
pub fn periods_to_schedule(
    now_ms: i64,
    zone: Tz,
    close_delay_ms: i64,
    catch_up_days: u32,
) -> BTreeSet<Period> {
    let Some(now) = zone.timestamp_millis_opt(now_ms).single() else {
        return BTreeSet::new();
    };
    let today = now.date_naive();
    let mut out = BTreeSet::new();
    for back in 1..=i64::from(catch_up_days) {
        let day = today - Days::days(back);
        for period in [Period::Day(day), Period::month_of(day)] {
            if has_closed(period, zone, close_delay_ms, now_ms) {
                out.insert(period);
            }
        }
    }
    out
}

/// The periods to run again after an import stored billing on `days`: each day and its month (which run
/// when they have closed, or at once if they already have).
pub fn touched_by_import(days: &BTreeSet<NaiveDate>) -> BTreeSet<Period> {
    days.iter()
        .flat_map(|day| [Period::Day(*day), Period::month_of(*day)])
        .collect()
}

/// The local days from `first` to `last` inclusive, at most `cap` of them (a settlement's stay from
/// admission to discharge; a corrupt date pair must not ask for centuries).
pub fn days_between(
    first: NaiveDate,
    last: NaiveDate,
    cap: usize,
) -> impl Iterator<Item = NaiveDate> {
    first.iter_days().take_while(move |d| *d <= last).take(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: Tz = chrono_tz::Asia::Shanghai;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    /// Local time in Shanghai as UTC ms.
    fn at(day: &str, hour: u32, minute: u32) -> i64 {
        ZONE.from_local_datetime(&date(day).and_hms_opt(hour, minute, 0).expect("time"))
            .single()
            .expect("local time")
            .timestamp_millis()
    }

    const TWO_HOURS: i64 = 2 * 3_600_000;

    #[test]
    fn a_day_is_due_only_once_its_local_end_plus_the_delay_has_passed() {
        let day = Period::Day(date("2026-11-03"));
        assert!(!has_closed(day, ZONE, TWO_HOURS, at("2026-11-03", 23, 59)));
        assert!(!has_closed(day, ZONE, TWO_HOURS, at("2026-11-04", 1, 59)));
        assert!(has_closed(day, ZONE, TWO_HOURS, at("2026-11-04", 2, 0)));
        // The local day, not the UTC one: 2026-11-04 02:00 in Shanghai is 2026-11-03 18:00 UTC.
        assert_eq!(at("2026-11-04", 2, 0), 1_793_728_800_000);
    }

    #[test]
    fn serve_schedules_the_closed_days_of_the_horizon_and_closed_months() {
        let got = periods_to_schedule(at("2026-12-01", 3, 0), ZONE, TWO_HOURS, 3);
        let want: BTreeSet<Period> = [
            Period::Day(date("2026-11-28")),
            Period::Day(date("2026-11-29")),
            Period::Day(date("2026-11-30")),
            Period::Month(date("2026-11-01")),
        ]
        .into();
        assert_eq!(got, want);
        // At 01:00 the day before is not closed with a two-hour delay, nor is its month.
        let early = periods_to_schedule(at("2026-12-01", 1, 0), ZONE, TWO_HOURS, 3);
        assert!(!early.contains(&Period::Day(date("2026-11-30"))));
        assert!(!early.contains(&Period::Month(date("2026-11-01"))));
        assert!(early.contains(&Period::Day(date("2026-11-29"))));
        // Mid-month: no month is due.
        let mid = periods_to_schedule(at("2026-11-15", 12, 0), ZONE, TWO_HOURS, 2);
        assert_eq!(
            mid,
            [
                Period::Day(date("2026-11-13")),
                Period::Day(date("2026-11-14"))
            ]
            .into()
        );
        assert!(periods_to_schedule(at("2026-11-15", 12, 0), ZONE, TWO_HOURS, 0).is_empty());
    }

    #[test]
    fn an_import_asks_for_each_day_it_touched_and_their_months() {
        let days: BTreeSet<NaiveDate> =
            [date("2026-10-31"), date("2026-11-02"), date("2026-11-03")].into();
        let got = touched_by_import(&days);
        assert_eq!(
            got,
            [
                Period::Day(date("2026-10-31")),
                Period::Day(date("2026-11-02")),
                Period::Day(date("2026-11-03")),
                Period::Month(date("2026-10-01")),
                Period::Month(date("2026-11-01")),
            ]
            .into()
        );
    }

    #[test]
    fn periods_have_local_bounds_and_round_trip_through_their_keys() {
        let month = Period::month_of(date("2026-02-17"));
        assert_eq!(month.key(), "month:2026-02");
        assert_eq!(month.end_day(), date("2026-03-01"));
        assert_eq!(
            month.bounds_ms(ZONE),
            Some((at("2026-02-01", 0, 0), at("2026-03-01", 0, 0)))
        );
        let day = Period::Day(date("2026-12-31"));
        assert_eq!(day.end_day(), date("2027-01-01"));
        for p in [month, day] {
            assert_eq!(Period::parse(&p.key()), Some(p));
        }
        assert_eq!(Period::parse("week:2026-W01"), None);
        assert_eq!(Period::parse("day:2026-13-01"), None);
    }

    #[test]
    fn a_stay_is_capped() {
        assert_eq!(
            days_between(date("2026-11-01"), date("2026-11-03"), 10).count(),
            3
        );
        assert_eq!(
            days_between(date("1900-01-01"), date("2026-11-03"), 400).count(),
            400
        );
        assert_eq!(
            days_between(date("2026-11-03"), date("2026-11-01"), 10).count(),
            0
        );
    }
}
