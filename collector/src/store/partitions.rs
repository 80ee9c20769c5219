//! Month partitions of the big tables on PostgreSQL: making the months that rows are about to arrive
//! for, so they do not pile up in the default partitions.
//!
//! Migration 0022 partitions `events` (by `sent_at_ms`), `presence_intervals` (by `start_ms`) and
//! `fee_lines` (by `fee_ocur_time_ms`) by the bureau's month, with a default partition each for a month
//! that has none yet. Who makes the months:
//! - [`Store::open`](super::Store::open): the months around now ([`AROUND_NOW`]);
//! - `serve`, every [`MAINTENANCE_EVERY`] ([`keep_month_partitions`]): the months around now, and a
//!   partition for every month found in a default partition (a box's spool delivered weeks late), its
//!   rows moved over;
//! - the settlement import: the months of the fee lines it is about to store ([`MonthsMade`]).
//!
//! SQLite has no partitions: every call here is a no-op there.

use super::{Backend, Store, StoreError, now_ms};
use std::collections::BTreeSet;
use std::time::Duration;

/// How far around now [`Store::ensure_months_around_now`] makes months: one back, two ahead.
pub const AROUND_NOW: (Duration, Duration) = (
    Duration::from_secs(31 * 86_400),
    Duration::from_secs(62 * 86_400),
);

/// How often `serve` makes the coming months and folds the default partitions.
pub const MAINTENANCE_EVERY: Duration = Duration::from_secs(6 * 3_600);

impl Store {
    /// Makes the partitions of every month from `from_ms` to `to_ms` (epoch milliseconds) for the
    /// three partitioned tables; returns how many it made (0 on SQLite).
    pub async fn ensure_months(&self, from_ms: i64, to_ms: i64) -> Result<u32, StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(0);
        }
        let made: i32 = sqlx::query_scalar("SELECT wardwatch_month_partitions($1, $2)")
            .bind(from_ms)
            .bind(to_ms)
            .fetch_one(self.pool())
            .await?;
        Ok(u32::try_from(made).unwrap_or(0))
    }

    /// The months [`AROUND_NOW`].
    pub async fn ensure_months_around_now(&self) -> Result<u32, StoreError> {
        let now = now_ms();
        let (back, ahead) = AROUND_NOW;
        self.ensure_months(
            now - back.as_millis() as i64,
            now + ahead.as_millis() as i64,
        )
        .await
    }

    /// Refreshes the planner's statistics of `table` after a bulk change (PostgreSQL's `ANALYZE`; a
    /// no-op on SQLite), so the rules' next plans see the rows just stored without waiting for
    /// autovacuum — which may be off (it is on this project's test machines) or hours behind a
    /// 10-million-line import. On the province bench, the rules' queries on never-analysed tables
    /// took 5–40 s where they take 1–6 s analysed (README, province scale).
    pub async fn refresh_statistics(&self, table: BigTable) -> Result<(), StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(());
        }
        sqlx::query(table.analyze()).execute(self.pool()).await?;
        Ok(())
    }

    /// Gives every month with rows in a default partition a partition of its own and moves the rows
    /// there; returns how many partitions it made (0 on SQLite).
    pub async fn fold_default_partitions(&self) -> Result<u32, StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(0);
        }
        let made: i32 = sqlx::query_scalar("SELECT wardwatch_fold_default_partitions()")
            .fetch_one(self.pool())
            .await?;
        Ok(u32::try_from(made).unwrap_or(0))
    }
}

/// The tables that grow with the province, whose statistics [`Store::refresh_statistics`] refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BigTable {
    /// Ward boxes' events.
    Events,
    /// Presence intervals.
    PresenceIntervals,
    /// Imported fee lines.
    FeeLines,
    /// Imported settlements.
    Settlements,
}

impl BigTable {
    /// Its `ANALYZE` statement (on a partitioned table, every partition is analysed too).
    fn analyze(self) -> &'static str {
        match self {
            BigTable::Events => "ANALYZE events",
            BigTable::PresenceIntervals => "ANALYZE presence_intervals",
            BigTable::FeeLines => "ANALYZE fee_lines",
            BigTable::Settlements => "ANALYZE settlements",
        }
    }
}

/// The months one run of the import has already made sure of, so it asks the database once per month.
#[derive(Debug, Default)]
pub struct MonthsMade {
    /// (year, month) in the bureau's zone, as the partitions are cut.
    made: BTreeSet<(i32, u32)>,
}

/// The bureau's month of `ms`, as migration 0022 cuts partitions (Asia/Shanghai).
fn bureau_month(ms: i64) -> Option<(i32, u32)> {
    use chrono::Datelike;
    let zone: chrono_tz::Tz = chrono_tz::Asia::Shanghai;
    let t = chrono::DateTime::from_timestamp_millis(ms)?.with_timezone(&zone);
    Some((t.year(), t.month()))
}

impl MonthsMade {
    /// Makes sure the months from `from_ms` to `to_ms` have partitions, asking the database only when
    /// one of the two ends is a month not made before (a batch spans a day or two of billing).
    pub async fn ensure(
        &mut self,
        store: &Store,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<(), StoreError> {
        if store.backend() != Backend::Postgres {
            return Ok(());
        }
        let ends = [bureau_month(from_ms), bureau_month(to_ms)];
        if ends
            .iter()
            .all(|m| m.is_some_and(|m| self.made.contains(&m)))
        {
            return Ok(());
        }
        store.ensure_months(from_ms, to_ms).await?;
        self.made.extend(ends.into_iter().flatten());
        Ok(())
    }
}

/// Under `serve`: makes the months around now and folds the default partitions, now and every
/// `every`, until `shutdown` turns true. A failure is logged and tried again next time: rows still
/// land in the default partitions meanwhile.
pub async fn keep_month_partitions(
    store: Store,
    every: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match store.ensure_months_around_now().await {
            Ok(made) if made > 0 => tracing::info!(made, "month partitions made"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "month partitions not made; tried again later"),
        }
        match store.fold_default_partitions().await {
            Ok(made) if made > 0 => {
                tracing::info!(
                    made,
                    "rows of months without a partition moved into new ones"
                )
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "default partitions not folded; tried again later")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => if *shutdown.borrow() { return; },
        }
    }
}
