//! Rule jobs and leases in the database (`rule_jobs`, `job_leases`, migration 0016): asking for a
//! period's run, taking the single `rules` lease, claiming the next due job under it, renewing, and
//! finishing. Every step is one statement (or one transaction), so several collectors on one PostgreSQL
//! agree: the lease row is updated only where it is free, expired or already ours, and PostgreSQL
//! re-checks that condition on the row a concurrent updater just changed, so exactly one wins.

use super::due::Period;
use crate::store::{Store, StoreError};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeSet;

/// The lease every collector's rule scheduler competes for: one rule job at a time across them all.
pub const RULES_LEASE: &str = "rules";

/// A job claimed under the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// Which period.
    pub period: Period,
    /// Its bounds, UTC ms.
    pub from_ms: i64,
    /// End (exclusive).
    pub to_ms: i64,
    /// The request this run answers.
    pub request: i64,
    /// Runs started so far, this one included (above 1: retried or resumed).
    pub attempts: i64,
    /// Who ran it last before us, if that run never finished (a killed collector).
    pub resumed_from: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Finished: this many new flags.
    Done {
        /// New flags raised.
        raised: u64,
    },
    /// Failed; retried after the retry delay.
    Failed(String),
}

/// A stored job, for `rules jobs` and the tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRow {
    /// `day:…` / `month:…`.
    pub period: String,
    /// Latest request.
    pub requested: i64,
    /// Request answered by the last finished run.
    pub done: i64,
    /// Runs started.
    pub attempts: i64,
    /// Who runs it now (or ran it when killed).
    pub owner: Option<String>,
    /// `done` / `failed`.
    pub last_outcome: Option<String>,
    /// Why the last run failed.
    pub last_error: Option<String>,
    /// How long the last finished run took.
    pub last_duration_ms: Option<i64>,
    /// New flags of the last finished run.
    pub last_flags_raised: Option<i64>,
}

fn bounds(period: Period, zone: Tz) -> Result<(i64, i64), StoreError> {
    period.bounds_ms(zone).ok_or_else(|| StoreError::Corrupt {
        what: "rule job period",
        why: format!("{period} has no local midnight in {zone}"),
    })
}

impl Store {
    /// Makes sure each period has a job (a new one is due once); periods that have one keep it as is.
    pub async fn ensure_rule_jobs(
        &self,
        periods: &BTreeSet<Period>,
        zone: Tz,
    ) -> Result<(), StoreError> {
        self.upsert_rule_jobs(periods, zone, "DO NOTHING").await
    }

    /// Asks for each period to run (again): new billing arrived for it. A failed job's retry delay is
    /// lifted, since the new data may be what it lacked.
    pub async fn request_rule_jobs(
        &self,
        periods: &BTreeSet<Period>,
        zone: Tz,
    ) -> Result<(), StoreError> {
        self.upsert_rule_jobs(
            periods,
            zone,
            "DO UPDATE SET requested = rule_jobs.requested + 1, not_before_ms = 0",
        )
        .await
    }

    /// Inserts a job per period (first request), or applies `on_conflict` to the existing one, in one
    /// transaction.
    async fn upsert_rule_jobs(
        &self,
        periods: &BTreeSet<Period>,
        zone: Tz,
        on_conflict: &'static str,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO rule_jobs (period, from_ms, to_ms, requested) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (period) {on_conflict}"
        );
        let mut tx = self.pool().begin().await?;
        for period in periods {
            let (from_ms, to_ms) = bounds(*period, zone)?;
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(period.key())
                .bind(from_ms)
                .bind(to_ms)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Takes (or renews) lease `name` for `owner` until `now_ms + lease_ms`, if it is free, expired or
    /// already `owner`'s. True when `owner` holds it now.
    pub async fn take_lease(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        self.extend_lease(
            "UPDATE job_leases SET owner = $2, expires_ms = $3 \
             WHERE name = $1 AND (owner IS NULL OR expires_ms < $4 OR owner = $2)",
            (name, owner),
            now_ms,
            lease_ms,
        )
        .await
    }

    /// Extends `owner`'s lease; false when it is no longer `owner`'s (it expired and another took it).
    pub async fn renew_lease(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        self.extend_lease(
            "UPDATE job_leases SET expires_ms = $3 WHERE name = $1 AND owner = $2 AND expires_ms >= $4",
            (name, owner),
            now_ms,
            lease_ms,
        )
        .await
    }

    /// Runs a lease update (`$1` name, `$2` owner, `$3` new expiry, `$4` now); true when it took.
    async fn extend_lease(
        &self,
        sql: &'static str,
        (name, owner): (&str, &str),
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(sql)
            .bind(name)
            .bind(owner)
            .bind(now_ms.saturating_add(lease_ms))
            .bind(now_ms)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    /// Gives lease `name` up, if `owner` holds it.
    pub async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE job_leases SET owner = NULL, expires_ms = 0, job = NULL WHERE name = $1 AND owner = $2",
        )
        .bind(name)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Under the `rules` lease (the caller holds it): claims the next job whose period ended at least
    /// `close_delay_ms` before `now_ms` and that has a request no finished run answered — a run a killed
    /// collector left unfinished first, then the oldest period.
    pub async fn claim_rule_job(
        &self,
        owner: &str,
        now_ms: i64,
        close_delay_ms: i64,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "SELECT period, from_ms, to_ms, requested, attempts, owner FROM rule_jobs \
             WHERE done < requested AND to_ms + $1 <= $2 AND not_before_ms <= $2 \
             ORDER BY CASE WHEN owner IS NULL THEN 1 ELSE 0 END, to_ms, period LIMIT 1",
        )
        .bind(close_delay_ms)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let key: String = row.try_get(0)?;
        let period = Period::parse(&key).ok_or_else(|| StoreError::Corrupt {
            what: "rule_jobs.period",
            why: format!("{key:?} is neither day:YYYY-MM-DD nor month:YYYY-MM"),
        })?;
        let previous: Option<String> = row.try_get(5)?;
        let job = ClaimedJob {
            period,
            from_ms: row.try_get(1)?,
            to_ms: row.try_get(2)?,
            request: row.try_get(3)?,
            attempts: row.try_get::<i64, _>(4)? + 1,
            resumed_from: previous.filter(|p| p != owner),
        };
        sqlx::query(
            "UPDATE rule_jobs SET running = $2, owner = $3, attempts = $4, last_started_ms = $5 \
             WHERE period = $1",
        )
        .bind(&key)
        .bind(job.request)
        .bind(owner)
        .bind(job.attempts)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE job_leases SET job = $2 WHERE name = $1 AND owner = $3")
            .bind(RULES_LEASE)
            .bind(&key)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    /// Records how `job` ended. A finished run answers the request it started with (a request that
    /// arrived meanwhile stays due); a failed one is retried no sooner than `retry_at_ms`.
    pub async fn finish_rule_job(
        &self,
        job: &ClaimedJob,
        outcome: &JobOutcome,
        now_ms: i64,
        duration_ms: i64,
        retry_at_ms: i64,
    ) -> Result<(), StoreError> {
        let query = match outcome {
            JobOutcome::Done { raised } => sqlx::query(
                "UPDATE rule_jobs SET done = CASE WHEN done > $2 THEN done ELSE $2 END, running = NULL, \
                 owner = NULL, last_finished_ms = $3, last_duration_ms = $4, last_outcome = 'done', \
                 last_error = NULL, last_flags_raised = $5 WHERE period = $1",
            )
            .bind(job.period.key())
            .bind(job.request)
            .bind(now_ms)
            .bind(duration_ms)
            .bind(i64::try_from(*raised).unwrap_or(i64::MAX)),
            JobOutcome::Failed(error) => sqlx::query(
                "UPDATE rule_jobs SET running = NULL, owner = NULL, last_finished_ms = $2, \
                 last_duration_ms = $3, last_outcome = 'failed', last_error = $4, not_before_ms = $5 \
                 WHERE period = $1",
            )
            .bind(job.period.key())
            .bind(now_ms)
            .bind(duration_ms)
            .bind(error.clone())
            .bind(retry_at_ms),
        };
        query.execute(self.pool()).await?;
        Ok(())
    }

    /// Every job, oldest period first.
    pub async fn rule_jobs(&self) -> Result<Vec<JobRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT period, requested, done, attempts, owner, last_outcome, last_error, \
             last_duration_ms, last_flags_raised FROM rule_jobs ORDER BY from_ms, period",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(JobRow {
                    period: row.try_get(0)?,
                    requested: row.try_get(1)?,
                    done: row.try_get(2)?,
                    attempts: row.try_get(3)?,
                    owner: row.try_get(4)?,
                    last_outcome: row.try_get(5)?,
                    last_error: row.try_get(6)?,
                    last_duration_ms: row.try_get(7)?,
                    last_flags_raised: row.try_get(8)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
