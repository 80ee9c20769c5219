//! The collector's configuration file (`serve --config collector.toml`; deploy/collector.example.toml):
//! what `serve` runs by itself beside ingest. Each section is optional and switches its job on:
//! `[rules_schedule]` (the rules per closed day and month, [`crate::schedule`]) and `[retention]` (the
//! deletion of personal data past its period, daily, [`crate::retention`]). Unknown keys are refused, naming
//! the file and the key.

use crate::retention::RetentionPeriods;
use crate::schedule::ScheduleSettings;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    /// Run the rules by themselves.
    pub rules_schedule: Option<RulesScheduleSection>,
    /// Delete personal data past its period.
    pub retention: Option<RetentionPeriods>,
}

/// `[rules_schedule]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesScheduleSection {
    /// Minutes after a local day (or month) ends before its rules run (late events from the boxes).
    pub close_delay_minutes: u64,
    /// How many closed days back `serve` schedules by itself.
    pub catch_up_days: u32,
    /// The zone of the local days (an IANA name).
    pub timezone: String,
    /// Seconds a lease lasts without renewal: how long a killed collector's job waits for another.
    pub lease_seconds: u64,
    /// Seconds between looks for due jobs.
    pub poll_seconds: u64,
    /// Minutes before a failed job is tried again.
    pub retry_minutes: u64,
}

impl Default for RulesScheduleSection {
    fn default() -> Self {
        let d = ScheduleSettings::default();
        RulesScheduleSection {
            close_delay_minutes: d.close_delay.as_secs() / 60,
            catch_up_days: d.catch_up_days,
            timezone: d.zone.name().to_owned(),
            lease_seconds: d.lease.as_secs(),
            poll_seconds: d.poll.as_secs(),
            retry_minutes: d.retry_after.as_secs() / 60,
        }
    }
}

/// The configuration file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable.
    #[error("collector configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML or not this schema.
    #[error("collector configuration {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What and where.
        message: String,
    },
}

impl RulesScheduleSection {
    /// As the scheduler takes it; out-of-range values are refused, naming the key.
    pub fn settings(&self) -> Result<ScheduleSettings, String> {
        let check = |key: &str, value: u64, low: u64, high: u64| {
            if (low..=high).contains(&value) {
                Ok(value)
            } else {
                Err(format!(
                    "[rules_schedule] {key} = {value} is outside {low}..={high}"
                ))
            }
        };
        let lease = check("lease_seconds", self.lease_seconds, 5, 3600)?;
        let zone: chrono_tz::Tz = self.timezone.parse().map_err(|_| {
            format!(
                "[rules_schedule] timezone = {:?} is not an IANA zone name",
                self.timezone
            )
        })?;
        Ok(ScheduleSettings {
            zone,
            close_delay: Duration::from_secs(
                check(
                    "close_delay_minutes",
                    self.close_delay_minutes,
                    0,
                    7 * 24 * 60,
                )? * 60,
            ),
            catch_up_days: u32::try_from(check(
                "catch_up_days",
                u64::from(self.catch_up_days),
                0,
                366,
            )?)
            .unwrap_or(0),
            lease: Duration::from_secs(lease),
            poll: Duration::from_secs(check("poll_seconds", self.poll_seconds, 1, 3600)?),
            retry_after: Duration::from_secs(
                check("retry_minutes", self.retry_minutes, 1, 24 * 60)? * 60,
            ),
        })
    }
}

impl CollectorConfig {
    /// Parses `text` (read from `path`, named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<CollectorConfig, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let config: CollectorConfig = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if let Some(schedule) = &config.rules_schedule {
            schedule.settings().map_err(invalid)?;
        }
        if let Some(retention) = &config.retention {
            retention.check().map_err(invalid)?;
        }
        Ok(config)
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<CollectorConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        CollectorConfig::parse(path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_switches_its_job_on_with_defaults_and_bad_keys_are_named() {
        let path = Path::new("collector.toml");
        let empty = CollectorConfig::parse(path, "").expect("empty");
        assert!(empty.rules_schedule.is_none() && empty.retention.is_none());
        let on = CollectorConfig::parse(path, "[rules_schedule]\nclose_delay_minutes = 30\n")
            .expect("schedule");
        let settings = on
            .rules_schedule
            .expect("section")
            .settings()
            .expect("valid");
        assert_eq!(settings.close_delay, Duration::from_secs(1800));
        assert_eq!(settings.catch_up_days, 7);
        let typo = CollectorConfig::parse(path, "[rules_schedule]\nclose_delay_minute = 30\n")
            .expect_err("unknown key");
        assert!(typo.to_string().contains("close_delay_minute"), "{typo}");
        assert!(typo.to_string().contains("collector.toml"), "{typo}");
        let range = CollectorConfig::parse(path, "[rules_schedule]\nlease_seconds = 1\n")
            .expect_err("range");
        assert!(range.to_string().contains("lease_seconds = 1"), "{range}");
        let chained = CollectorConfig::parse(path, "[retention]\naccess_log_days = 365\n")
            .expect_err("access log");
        assert!(chained.to_string().contains("hash-chained"), "{chained}");
    }
}
