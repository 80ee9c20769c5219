//! Cells and their conversion into typed values: text, money in fen, decimals, and local export times
//! converted to UTC. Each conversion error says what was found and what was expected.

use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// One cell as a reader found it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing (or only spaces).
    Empty,
    /// Text.
    Text(String),
    /// A spreadsheet number.
    Number(f64),
    /// A spreadsheet date-time.
    DateTime(NaiveDateTime),
}

impl Cell {
    /// A text cell, `Empty` when blank.
    pub fn text(s: &str) -> Cell {
        let s = s.trim();
        if s.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(s.to_owned())
        }
    }

    /// True for [`Cell::Empty`].
    pub fn is_empty(&self) -> bool {
        matches!(self, Cell::Empty)
    }
}

/// Largest integer an f64 holds exactly (2^53): longer ids in numeric spreadsheet cells lost digits.
const EXACT_F64: f64 = 9_007_199_254_740_992.0;

/// The cell as an identifier or name. Spreadsheet numbers are accepted when they are whole and exact.
pub fn text(cell: &Cell) -> Result<Option<String>, String> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Text(s) => Ok(Some(s.clone())),
        Cell::Number(n) if n.fract() == 0.0 && n.abs() < EXACT_F64 => Ok(Some(format!("{n:.0}"))),
        Cell::Number(n) => Err(format!(
            "expected text but found the number {n}, which cannot be an exact identifier \
             (format the column as text in the spreadsheet)"
        )),
        Cell::DateTime(t) => Err(format!("expected text but found the date {t}")),
    }
}

/// A money amount in yuan with at most two decimals (`1234.5`, `-12.30`, `1,234.50`) as fen.
pub fn money_fen(cell: &Cell) -> Result<Option<i64>, String> {
    let text = match cell {
        Cell::Empty => return Ok(None),
        Cell::Number(n) => {
            let fen = (n * 100.0).round();
            if !n.is_finite() || (n * 100.0 - fen).abs() > 1e-6 || fen.abs() > 1e15 {
                return Err(format!(
                    "{n} is not an amount in yuan with at most 2 decimals"
                ));
            }
            return Ok(Some(fen as i64));
        }
        Cell::DateTime(t) => return Err(format!("expected an amount but found the date {t}")),
        Cell::Text(s) => s.replace(',', ""),
    };
    let bad = || format!("{text:?} is not an amount in yuan with at most 2 decimals");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || whole.len() > 13
    {
        return Err(bad());
    }
    let (cents, extra) = frac.split_at(frac.len().min(2));
    if extra.bytes().any(|b| b != b'0') {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let cents: i64 = format!("{cents:0<2}").parse().map_err(|_| bad())?;
    let fen = whole * 100 + cents;
    Ok(Some(if negative { -fen } else { fen }))
}

/// A decimal number (quantity, unit price).
pub fn decimal(cell: &Cell) -> Result<Option<f64>, String> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Number(n) if n.is_finite() => Ok(Some(*n)),
        Cell::Number(n) => Err(format!("{n} is not a finite number")),
        Cell::DateTime(t) => Err(format!("expected a number but found the date {t}")),
        Cell::Text(s) => s
            .replace(',', "")
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Some)
            .ok_or_else(|| format!("{s:?} is not a number")),
    }
}

/// Formats accepted for export times (local time, no zone), most common first.
const TIME_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y%m%d%H%M%S",
];

/// A local export time (`2026-11-02 08:30:00`, `2026/11/02 08:30`, `20261102083000`, or a date alone
/// meaning midnight) interpreted in `zone`, as UTC epoch milliseconds.
pub fn local_time_ms(cell: &Cell, zone: Tz) -> Result<Option<i64>, String> {
    let naive = match cell {
        Cell::Empty => return Ok(None),
        Cell::DateTime(t) => *t,
        Cell::Number(n) => {
            return Err(format!(
                "expected a date-time but found the number {n} (format the column as a date or text)"
            ));
        }
        Cell::Text(s) => parse_naive(s).ok_or_else(|| {
            format!("{s:?} is not a date-time like 2026-11-02 08:30:00 (local time, no zone)")
        })?,
    };
    match zone.from_local_datetime(&naive).single() {
        Some(t) => Ok(Some(t.timestamp_millis())),
        None => Err(format!("{naive} does not exist or is ambiguous in {zone}")),
    }
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    TIME_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| {
            ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"]
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money() {
        let t = |s: &str| money_fen(&Cell::text(s));
        assert_eq!(t("1,234.5"), Ok(Some(123_450)));
        assert_eq!(t("-12.30"), Ok(Some(-1230)));
        assert_eq!(t("0.07"), Ok(Some(7)));
        assert_eq!(t("3.1400"), Ok(Some(314)));
        assert_eq!(t(""), Ok(None));
        for bad in ["3.145", "12a", "-", ".", "1.2.3", "¥5"] {
            assert!(t(bad).is_err(), "{bad}");
        }
        assert_eq!(money_fen(&Cell::Number(410.25)), Ok(Some(41025)));
        assert!(money_fen(&Cell::Number(1.005)).is_err());
    }

    #[test]
    fn times_are_local_china_time_by_default() {
        let zone: Tz = "Asia/Shanghai".parse().unwrap();
        let utc = |s: &str| local_time_ms(&Cell::text(s), zone).unwrap().unwrap();
        let expected = chrono::DateTime::parse_from_rfc3339("2026-11-02T00:30:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(utc("2026-11-02 08:30:00"), expected);
        assert_eq!(utc("2026/11/02 08:30"), expected);
        assert_eq!(utc("20261102083000"), expected);
        assert_eq!(utc("2026-11-02 08:30:00.000"), expected);
        let err = local_time_ms(&Cell::text("02/11/2026"), zone).unwrap_err();
        assert!(err.contains("02/11/2026"), "{err}");
    }

    #[test]
    fn long_numeric_ids_are_refused() {
        assert_eq!(text(&Cell::Number(12345.0)), Ok(Some("12345".into())));
        assert!(text(&Cell::Number(4.306e19)).is_err());
    }
}
