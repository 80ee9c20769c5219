//! Time arithmetic the rules share: local calendar days in the bureau's zone, and unions and overlaps of
//! [start, end) intervals in epoch milliseconds.

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;

/// Milliseconds in a minute.
pub const MINUTE_MS: i64 = 60_000;

/// The local calendar date of an instant.
pub fn local_date(ms: i64, zone: Tz) -> Option<NaiveDate> {
    Some(zone.timestamp_millis_opt(ms).single()?.date_naive())
}

/// [start, end) of a local calendar day, as UTC epoch milliseconds.
pub fn day_bounds(date: NaiveDate, zone: Tz) -> Option<(i64, i64)> {
    let midnight = |d: NaiveDate| {
        zone.from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
            .earliest()
            .map(|t| t.timestamp_millis())
    };
    Some((midnight(date)?, midnight(date.succ_opt()?)?))
}

/// The union of `intervals` as sorted, disjoint intervals (touching ones joined).
pub fn union(mut intervals: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    intervals.retain(|(s, e)| e > s);
    intervals.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(intervals.len());
    for (s, e) in intervals {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// Total length of the union of `intervals`, clipped to [from, to), in minutes.
pub fn covered_minutes(intervals: &[(i64, i64)], from: i64, to: i64) -> f64 {
    let clipped = intervals
        .iter()
        .filter(|(s, e)| *e > from && *s < to)
        .map(|(s, e)| (*s.max(&from), *e.min(&to)))
        .collect();
    union(clipped).iter().map(|(s, e)| e - s).sum::<i64>() as f64 / MINUTE_MS as f64
}

/// Joins intervals separated by at most `gap_ms` into bouts (sorted, disjoint).
pub fn bouts(intervals: &[(i64, i64)], gap_ms: i64) -> Vec<(i64, i64)> {
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (s, e) in union(intervals.to_vec()) {
        match merged.last_mut() {
            Some(last) if s - last.1 <= gap_ms => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// `intervals` clipped to [from, to), as sorted, disjoint intervals.
pub fn clip(intervals: &[(i64, i64)], from: i64, to: i64) -> Vec<(i64, i64)> {
    union(
        intervals
            .iter()
            .filter(|(s, e)| *e > from && *s < to)
            .map(|(s, e)| (*s.max(&from), *e.min(&to)))
            .collect(),
    )
}

/// What of `from` (sorted, disjoint) `minus` (sorted, disjoint) does not cover.
pub fn subtract(from: &[(i64, i64)], minus: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for &(s, e) in from {
        let mut cursor = s;
        for &(ms, me) in minus.iter().filter(|(ms, me)| *me > s && *ms < e) {
            if ms > cursor {
                out.push((cursor, ms));
            }
            cursor = cursor.max(me);
        }
        if cursor < e {
            out.push((cursor, e));
        }
    }
    out
}

/// The earliest `minutes` of `intervals` (sorted, disjoint).
pub fn earliest_minutes(intervals: &[(i64, i64)], minutes: f64) -> Vec<(i64, i64)> {
    let mut left = (minutes * MINUTE_MS as f64) as i64;
    let mut out = Vec::new();
    for &(s, e) in intervals {
        if left <= 0 {
            break;
        }
        let end = e.min(s + left);
        out.push((s, end));
        left -= end - s;
    }
    out
}

/// Total length of sorted, disjoint intervals, in minutes.
pub fn minutes(intervals: &[(i64, i64)]) -> f64 {
    intervals.iter().map(|(s, e)| e - s).sum::<i64>() as f64 / MINUTE_MS as f64
}

/// Minutes two intervals have in common.
pub fn overlap_minutes(a: (i64, i64), b: (i64, i64)) -> f64 {
    (a.1.min(b.1) - a.0.max(b.0)).max(0) as f64 / MINUTE_MS as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_of_intervals_clipped() {
        let m = MINUTE_MS;
        let got = covered_minutes(
            &[(0, 30 * m), (10 * m, 40 * m), (50 * m, 200 * m)],
            0,
            100 * m,
        );
        assert_eq!(got, 90.0);
        assert_eq!(covered_minutes(&[], 0, 10), 0.0);
    }

    #[test]
    fn bouts_join_short_gaps_only() {
        let m = MINUTE_MS;
        let got = bouts(&[(0, 10 * m), (20 * m, 30 * m), (100 * m, 110 * m)], 15 * m);
        assert_eq!(got, vec![(0, 30 * m), (100 * m, 110 * m)]);
        assert_eq!(overlap_minutes((0, 10 * m), (5 * m, 20 * m)), 5.0);
        assert_eq!(overlap_minutes((0, 10 * m), (15 * m, 20 * m)), 0.0);
    }

    #[test]
    fn subtract_clip_and_earliest() {
        let m = MINUTE_MS;
        let a = [(0, 30 * m), (40 * m, 60 * m)];
        assert_eq!(
            subtract(&a, &[(10 * m, 20 * m), (50 * m, 90 * m)]),
            vec![(0, 10 * m), (20 * m, 30 * m), (40 * m, 50 * m)]
        );
        assert_eq!(
            clip(&a, 20 * m, 45 * m),
            vec![(20 * m, 30 * m), (40 * m, 45 * m)]
        );
        assert_eq!(
            earliest_minutes(&a, 35.0),
            vec![(0, 30 * m), (40 * m, 45 * m)]
        );
        assert_eq!(minutes(&a), 50.0);
    }

    #[test]
    fn local_days_in_china_time() {
        let zone: Tz = "Asia/Shanghai".parse().expect("zone");
        // 2026-11-01T20:00Z is 2026-11-02 04:00 in Beijing.
        let ms = chrono::DateTime::parse_from_rfc3339("2026-11-01T20:00:00Z")
            .expect("time")
            .timestamp_millis();
        let date = local_date(ms, zone).expect("date");
        assert_eq!(date.to_string(), "2026-11-02");
        let (start, end) = day_bounds(date, zone).expect("bounds");
        assert_eq!(end - start, 86_400_000);
        assert!(start <= ms && ms < end);
    }
}
