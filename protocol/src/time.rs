//! UTC instants with millisecond precision, written as RFC 3339 (`2026-11-23T08:30:00.000Z`) on the wire.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Milliseconds since the Unix epoch, UTC. Always written with exactly three fractional digits and `Z`,
/// so that a value has one canonical text form (the hash chain depends on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// The text is not an RFC 3339 time, or is out of the representable range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not an RFC 3339 UTC time like 2026-11-23T08:30:00.000Z: {why}")]
pub struct TimestampError {
    value: String,
    why: String,
}

impl Timestamp {
    /// The current wall-clock time, truncated to milliseconds.
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_millis())
    }

    /// From milliseconds since the Unix epoch; `None` outside chrono's range.
    pub fn from_millis(ms: i64) -> Option<Self> {
        DateTime::<Utc>::from_timestamp_millis(ms).map(|_| Timestamp(ms))
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// This instant shifted by `ms` milliseconds (saturating).
    pub fn plus_millis(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }

    fn to_datetime(self) -> DateTime<Utc> {
        // Constructed only through from_millis/parse, which check the range.
        DateTime::<Utc>::from_timestamp_millis(self.0).unwrap_or_default()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = DateTime::parse_from_rfc3339(s).map_err(|e| TimestampError {
            value: s.chars().take(64).collect(),
            why: e.to_string(),
        })?;
        let ms = parsed.with_timezone(&Utc).timestamp_millis();
        Timestamp::from_millis(ms).ok_or_else(|| TimestampError {
            value: s.chars().take(64).collect(),
            why: "out of range".into(),
        })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_round_trips() {
        let t: Timestamp = "2026-11-23T16:30:00.5+08:00".parse().unwrap();
        assert_eq!(t.to_string(), "2026-11-23T08:30:00.500Z");
        assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
    }

    #[test]
    fn rejects_times_without_zone() {
        let err = "2026-11-23 08:30:00".parse::<Timestamp>().unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }
}
