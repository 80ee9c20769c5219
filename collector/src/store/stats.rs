//! Counts for `wardwatch-collector stats`: events by kind, devices, gaps, duplicates, quarantine.

use super::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

/// Gap records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GapCounts {
    /// Still missing events.
    pub open: i64,
    /// Filled since.
    pub closed: i64,
}

/// A snapshot of what the collector holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Stored events by kind (`presence`, `health`, `camera`, `clock`, `dropped`, `evidence`).
    pub events: BTreeMap<String, i64>,
    /// Registered devices.
    pub devices: i64,
    /// Presence intervals (latest report per interval).
    pub presence_intervals: i64,
    /// Gap records.
    pub gaps: GapCounts,
    /// Exact resends received and dropped.
    pub duplicates: i64,
    /// Presence checkpoints boxes dropped from a full spool (reported in `dropped` events).
    pub dropped_by_devices: i64,
    /// Devices whose last status was `online`.
    pub devices_online: i64,
    /// Quarantined messages (distinct payloads) by reason code.
    pub quarantined: BTreeMap<String, i64>,
}

impl Stats {
    /// Total stored events.
    pub fn total_events(&self) -> i64 {
        self.events.values().sum()
    }
}

impl Store {
    /// Reads the counts.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let pool = self.pool();
        let mut stats = Stats::default();
        for kind in [
            "presence", "health", "camera", "clock", "dropped", "evidence",
        ] {
            stats.events.insert(kind.to_owned(), 0);
        }
        for row in sqlx::query("SELECT kind, COUNT(*) FROM events GROUP BY kind")
            .fetch_all(pool)
            .await?
        {
            stats.events.insert(row.try_get(0)?, row.try_get(1)?);
        }
        stats.devices = sqlx::query("SELECT COUNT(*) FROM devices")
            .fetch_one(pool)
            .await?
            .try_get(0)?;
        stats.presence_intervals = sqlx::query("SELECT COUNT(*) FROM presence_intervals")
            .fetch_one(pool)
            .await?
            .try_get(0)?;
        let gaps = sqlx::query(
            "SELECT CAST(COALESCE(SUM(CASE WHEN closed_at_ms IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN closed_at_ms IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) FROM gaps",
        )
        .fetch_one(pool)
        .await?;
        stats.gaps = GapCounts {
            open: gaps.try_get(0)?,
            closed: gaps.try_get(1)?,
        };
        stats.duplicates =
            sqlx::query("SELECT CAST(COALESCE(SUM(duplicates), 0) AS BIGINT) FROM device_state")
                .fetch_one(pool)
                .await?
                .try_get(0)?;
        stats.dropped_by_devices = sqlx::query("SELECT COUNT(*) FROM dropped_events")
            .fetch_one(pool)
            .await?
            .try_get(0)?;
        stats.devices_online =
            sqlx::query("SELECT COUNT(*) FROM device_status WHERE state = 'online'")
                .fetch_one(pool)
                .await?
                .try_get(0)?;
        for row in sqlx::query("SELECT reason, COUNT(*) FROM quarantine GROUP BY reason")
            .fetch_all(pool)
            .await?
        {
            stats.quarantined.insert(row.try_get(0)?, row.try_get(1)?);
        }
        Ok(stats)
    }

    /// Every stored seq of a device, in order, with its hash and prev_hash (for checks and tests).
    pub async fn device_chain(
        &self,
        device: &str,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, hash, prev_hash FROM events WHERE device_id = $1 ORDER BY seq",
        )
        .bind(device)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }
}

/// The human-readable form of [`Stats`].
pub fn render_table(stats: &Stats) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "devices (online)     {} ({})",
        stats.devices, stats.devices_online
    );
    for (kind, count) in &stats.events {
        let _ = writeln!(out, "events.{kind:<14}{count}");
    }
    let _ = writeln!(out, "presence intervals   {}", stats.presence_intervals);
    let _ = writeln!(
        out,
        "gaps open/closed     {}/{}",
        stats.gaps.open, stats.gaps.closed
    );
    let _ = writeln!(out, "duplicates dropped   {}", stats.duplicates);
    let _ = writeln!(out, "dropped by devices   {}", stats.dropped_by_devices);
    if stats.quarantined.is_empty() {
        let _ = writeln!(out, "quarantined          0");
    }
    for (reason, count) in &stats.quarantined {
        let _ = writeln!(out, "quarantined.{reason:<9}{count}");
    }
    out
}

/// One presence interval, for listings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PresenceRow {
    /// `psn_no`, or `unknown:{track}`.
    pub person: String,
    /// Camera.
    pub camera_id: String,
    /// Start (RFC 3339 UTC).
    pub start: String,
    /// End (RFC 3339 UTC).
    pub end: String,
    /// Sightings.
    pub samples: i64,
    /// Median similarity.
    pub median_similarity: f64,
    /// Median liveness.
    pub liveness: f64,
    /// Still open (last report was a checkpoint).
    pub open: bool,
}

impl Store {
    /// Every presence interval, by start time.
    pub async fn presence_listing(&self) -> Result<Vec<PresenceRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT psn_no, track_id, camera_id, start_ms, end_ms, samples, median_similarity, \
             liveness, is_open FROM presence_intervals ORDER BY start_ms, camera_id",
        )
        .fetch_all(self.pool())
        .await?;
        let time = |ms: i64| {
            wardwatch_protocol::Timestamp::from_millis(ms)
                .map(|t| t.to_string())
                .unwrap_or_else(|| ms.to_string())
        };
        rows.into_iter()
            .map(|r| {
                let psn: Option<String> = r.try_get(0)?;
                let track: Option<String> = r.try_get(1)?;
                Ok(PresenceRow {
                    person: psn.unwrap_or_else(|| format!("unknown:{}", track.unwrap_or_default())),
                    camera_id: r.try_get(2)?,
                    start: time(r.try_get(3)?),
                    end: time(r.try_get(4)?),
                    samples: r.try_get(5)?,
                    median_similarity: r.try_get(6)?,
                    liveness: r.try_get(7)?,
                    open: r.try_get::<i64, _>(8)? != 0,
                })
            })
            .collect()
    }
}
