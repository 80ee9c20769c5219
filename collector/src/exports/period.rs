//! Report periods: a calendar month (`2026-11`) or quarter (`2026-Q4`) in a time zone, parsed at the
//! edge, with their bounds as epoch milliseconds (local midnight of the first day, inclusive, to local
//! midnight of the first day after, exclusive).

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A period could not be parsed or has no bounds in the zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// The text is not a month (`YYYY-MM`) or quarter (`YYYY-Qn`).
    #[error("{text:?} is not a {what} (expected e.g. {example})")]
    Syntax {
        /// The input.
        text: String,
        /// Month or quarter.
        what: &'static str,
        /// An example.
        example: &'static str,
    },
    /// Local midnight does not exist in the zone on that day.
    #[error("local midnight of {date} does not exist in {zone}")]
    NoMidnight {
        /// The day.
        date: NaiveDate,
        /// The zone.
        zone: Tz,
    },
}

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Month {
    /// Year.
    pub year: i32,
    /// 1–12.
    pub month: u32,
}

/// A calendar quarter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Quarter {
    /// Year.
    pub year: i32,
    /// 1–4.
    pub quarter: u32,
}

fn first_day(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, 1)
}

/// Epoch ms of local midnight starting `date` in `zone`.
pub fn local_midnight_ms(date: NaiveDate, zone: Tz) -> Result<i64, PeriodError> {
    zone.from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map(|t| t.timestamp_millis())
        .ok_or(PeriodError::NoMidnight { date, zone })
}

/// `[start, end)` in epoch ms for the months `first..first + months` starting at `(year, month)`.
fn bounds(year: i32, month: u32, months: u32, zone: Tz) -> Result<(i64, i64), PeriodError> {
    let start = first_day(year, month).ok_or(PeriodError::Syntax {
        text: format!("{year}-{month:02}"),
        what: "month",
        example: "2026-11",
    })?;
    let end = start
        .checked_add_months(chrono::Months::new(months))
        .ok_or(PeriodError::Syntax {
            text: format!("{year}-{month:02}"),
            what: "month",
            example: "2026-11",
        })?;
    Ok((
        local_midnight_ms(start, zone)?,
        local_midnight_ms(end, zone)?,
    ))
}

impl Month {
    /// `[start, end)` in epoch ms.
    pub fn bounds_ms(self, zone: Tz) -> Result<(i64, i64), PeriodError> {
        bounds(self.year, self.month, 1, zone)
    }
}

impl Quarter {
    /// `[start, end)` in epoch ms.
    pub fn bounds_ms(self, zone: Tz) -> Result<(i64, i64), PeriodError> {
        bounds(self.year, self.quarter * 3 - 2, 3, zone)
    }

    /// The quarter before.
    pub fn previous(self) -> Quarter {
        if self.quarter == 1 {
            Quarter {
                year: self.year - 1,
                quarter: 4,
            }
        } else {
            Quarter {
                year: self.year,
                quarter: self.quarter - 1,
            }
        }
    }
}

/// `YYYY-<prefix>N` with N in `1..=max`: the year and N.
fn parse_period(
    s: &str,
    prefix: &[char],
    max: u32,
    what: &'static str,
    example: &'static str,
) -> Result<(i32, u32), PeriodError> {
    let bad = || PeriodError::Syntax {
        text: s.to_owned(),
        what,
        example,
    };
    let (year, rest) = s.trim().split_once('-').ok_or_else(bad)?;
    let year: i32 = year.parse().map_err(|_| bad())?;
    let rest = if prefix.is_empty() {
        Some(rest)
    } else {
        rest.strip_prefix(prefix)
    };
    let n = rest.and_then(|n| n.parse::<u32>().ok()).ok_or_else(bad)?;
    if !(1..=9999).contains(&year) || !(1..=max).contains(&n) {
        return Err(bad());
    }
    Ok((year, n))
}

impl FromStr for Month {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Month, PeriodError> {
        let (year, month) = parse_period(s, &[], 12, "month", "2026-11")?;
        Ok(Month { year, month })
    }
}

impl FromStr for Quarter {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Quarter, PeriodError> {
        let (year, quarter) = parse_period(s, &['Q', 'q'], 4, "quarter", "2026-Q4")?;
        Ok(Quarter { year, quarter })
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-Q{}", self.year, self.quarter)
    }
}

/// Epoch ms as local `YYYY-MM-DD HH:MM:SS` in `zone`.
pub fn local_time(ms: i64, zone: Tz) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| {
            t.with_timezone(&zone)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_quarters_parse_and_bound_in_local_time() {
        let zone = chrono_tz::Asia::Shanghai;
        let month: Month = "2026-11".parse().expect("month");
        let (start, end) = month.bounds_ms(zone).expect("bounds");
        assert_eq!(local_time(start, zone), "2026-11-01 00:00:00");
        assert_eq!(local_time(end, zone), "2026-12-01 00:00:00");
        assert_eq!(end - start, 30 * 86_400_000);
        let quarter: Quarter = "2026-q4".parse().expect("quarter");
        assert_eq!(quarter.to_string(), "2026-Q4");
        let (start, end) = quarter.bounds_ms(zone).expect("bounds");
        assert_eq!(local_time(start, zone), "2026-10-01 00:00:00");
        assert_eq!(local_time(end, zone), "2027-01-01 00:00:00");
        assert_eq!("2027-Q1".parse::<Quarter>().expect("q").previous(), quarter);
        for bad in ["2026-13", "2026", "2026-Q5", "26-Q0", "2026-11-01"] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
            assert!(bad.parse::<Quarter>().is_err(), "{bad}");
        }
    }
}
