//! Retention (PIPL: personal information kept no longer than its purpose needs; faces are sensitive
//! personal information). Each data class has its own period in `[retention]` (unset: kept):
//!
//! | class | what goes | how |
//! |---|---|---|
//! | `presence_detail` | who was seen where and when: `presence_intervals` rows and the `presence` events' bodies | rows deleted; each device's newest event is kept (its chain continues from it) |
//! | `unknown_embeddings` | unknown faces' embeddings, in `presence_intervals.embedding` and inside the `presence` events | the column set NULL, the field taken out of the stored event body |
//! | `evidence_crops` | the boxes' face crops (`evidence` events) | rows deleted |
//! | `quarantine_bytes` | the raw bytes of quarantined messages | emptied; the row (reason, size, digest, times) stays |
//!
//! **Held while a case is open**: presence and crops of an institution are kept while a flag of that
//! institution that is not ended (excluded, reversed, closed) concerns a fee line billed within a day
//! of them — the case may need them. Every run appends one row per class to `retention_log`
//! (append-only by trigger): when, the cutoff, how many rows went and how many were held.
//!
//! **The access log is not trimmed.** It is hash-chained ([`crate::store::log_chain`]): deleting its
//! oldest rows would need a recorded cut point that `audit verify` starts from, and the heads published
//! in exports before the cut could no longer be checked. It holds user names, paths and flag ids — no
//! face, no image — and is the record of who looked at personal data, which the bureau must be able to
//! show; an `access_log_days` setting is refused with this reason.

use crate::store::{Store, StoreError, now_ms};
use serde::Deserialize;
use serde::Serialize;
use sqlx::Row;

const DAY_MS: i64 = 86_400_000;

/// The flag states that end a case: their flags hold nothing.
const ENDED_STATES: &str = "'excluded', 'reversed', 'closed'";

/// `[retention]`: days each class is kept (unset: kept).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPeriods {
    /// Presence intervals and presence events.
    pub presence_days: Option<u32>,
    /// Unknown faces' embeddings.
    pub unknown_embedding_days: Option<u32>,
    /// Evidence crops.
    pub evidence_crop_days: Option<u32>,
    /// Quarantined messages' bytes.
    pub quarantine_bytes_days: Option<u32>,
    /// Refused: see the module documentation.
    pub access_log_days: Option<u32>,
}

impl RetentionPeriods {
    /// Refuses what cannot be honoured, naming the key and why.
    pub fn check(&self) -> Result<(), String> {
        if self.access_log_days.is_some() {
            return Err(
                "[retention] access_log_days is not supported: the access log is \
                 hash-chained and is the record of who viewed personal data; it is kept whole \
                 (README, Operations)"
                    .into(),
            );
        }
        for (key, days) in [
            ("presence_days", self.presence_days),
            ("unknown_embedding_days", self.unknown_embedding_days),
            ("evidence_crop_days", self.evidence_crop_days),
            ("quarantine_bytes_days", self.quarantine_bytes_days),
        ] {
            if days.is_some_and(|d| !(1..=36_500).contains(&d)) {
                return Err(format!("[retention] {key} must be 1..=36500 days"));
            }
        }
        Ok(())
    }
}

/// What one class's pass did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassOutcome {
    /// The class.
    pub data_class: &'static str,
    /// Data older than this was due (UTC ms).
    pub cutoff_ms: i64,
    /// Rows deleted or emptied.
    pub rows: u64,
    /// Rows due but held by an open case.
    pub held: u64,
}

/// SQL condition, over a table aliased `x` with `institution_code`, true when an open flag of that
/// institution concerns a fee line billed within a day of [`start`, `end`].
fn held_by_open_case(start: &str, end: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM flags f JOIN flag_lines fl ON fl.flag_id = f.id \
         JOIN fee_lines l ON l.feedetl_sn = fl.feedetl_sn \
         WHERE f.fixmedins_code = x.institution_code AND f.state NOT IN ({ENDED_STATES}) \
         AND l.fee_ocur_time_ms >= {start} - {DAY_MS} AND l.fee_ocur_time_ms <= {end} + {DAY_MS})"
    )
}

/// Removes every `"embedding"` member from a JSON value, at any depth; true when one was.
fn strip_embeddings(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => {
            let mut removed = map.remove("embedding").is_some();
            for v in map.values_mut() {
                removed |= strip_embeddings(v);
            }
            removed
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .fold(false, |acc, v| strip_embeddings(v) | acc),
        _ => false,
    }
}

async fn count(store: &Store, sql: String, cutoff: i64) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(cutoff)
        .fetch_one(store.pool())
        .await?
        .try_get(0)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

async fn execute(store: &Store, sql: String, cutoff: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(cutoff)
        .execute(store.pool())
        .await?
        .rows_affected())
}

/// Deletes the events of `kind` sealed before `cutoff` that no open case holds, keeping each device's
/// newest event (its chain continues from it); returns (deleted, held).
async fn delete_old_events(
    store: &Store,
    kind: &str,
    cutoff: i64,
) -> Result<(u64, u64), StoreError> {
    let held_event = held_by_open_case("x.sent_at_ms", "x.sent_at_ms");
    let due = format!("x.kind = '{kind}' AND x.sent_at_ms < $1");
    let held = count(
        store,
        format!("SELECT COUNT(*) FROM events x WHERE {due} AND {held_event}"),
        cutoff,
    )
    .await?;
    let deleted = execute(
        store,
        format!(
            "DELETE FROM events WHERE event_id IN (SELECT x.event_id FROM events x \
             JOIN device_state s ON s.device_id = x.device_id \
             WHERE {due} AND x.seq < s.max_seq AND NOT {held_event})"
        ),
        cutoff,
    )
    .await?;
    Ok((deleted, held))
}

async fn presence_detail(store: &Store, cutoff: i64) -> Result<ClassOutcome, StoreError> {
    let held_interval = held_by_open_case("x.start_ms", "x.end_ms");
    let held = count(
        store,
        format!(
            "SELECT COUNT(*) FROM presence_intervals x WHERE x.end_ms < $1 AND {held_interval}"
        ),
        cutoff,
    )
    .await?;
    let intervals = execute(
        store,
        format!(
            "DELETE FROM presence_intervals WHERE interval_id IN (SELECT x.interval_id \
             FROM presence_intervals x WHERE x.end_ms < $1 AND NOT {held_interval})"
        ),
        cutoff,
    )
    .await?;
    let (events, _) = delete_old_events(store, "presence", cutoff).await?;
    Ok(ClassOutcome {
        data_class: "presence_detail",
        cutoff_ms: cutoff,
        rows: intervals + events,
        held,
    })
}

async fn unknown_embeddings(store: &Store, cutoff: i64) -> Result<ClassOutcome, StoreError> {
    let mut rows = execute(
        store,
        "UPDATE presence_intervals SET embedding = NULL WHERE end_ms < $1 AND embedding IS NOT NULL"
            .into(),
        cutoff,
    )
    .await?;
    // Inside the stored events, in pages by event id: each body rewritten without its embedding.
    let mut after = String::new();
    loop {
        let page = sqlx::query(
            "SELECT event_id, body FROM events WHERE kind = 'presence' AND sent_at_ms < $1 \
             AND body LIKE '%\"embedding\"%' AND event_id > $2 ORDER BY event_id LIMIT 500",
        )
        .bind(cutoff)
        .bind(&after)
        .fetch_all(store.pool())
        .await?;
        if page.is_empty() {
            break;
        }
        let mut tx = store.pool().begin().await?;
        for row in &page {
            let event_id: String = row.try_get(0)?;
            let body: String = row.try_get(1)?;
            let mut value: serde_json::Value =
                serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                    what: "events.body",
                    why: format!("event {event_id}: {e}"),
                })?;
            if strip_embeddings(&mut value) {
                sqlx::query("UPDATE events SET body = $2 WHERE event_id = $1")
                    .bind(&event_id)
                    .bind(value.to_string())
                    .execute(&mut *tx)
                    .await?;
                rows += 1;
            }
            after = event_id;
        }
        tx.commit().await?;
    }
    Ok(ClassOutcome {
        data_class: "unknown_embeddings",
        cutoff_ms: cutoff,
        rows,
        held: 0,
    })
}

async fn evidence_crops(store: &Store, cutoff: i64) -> Result<ClassOutcome, StoreError> {
    let (rows, held) = delete_old_events(store, "evidence", cutoff).await?;
    Ok(ClassOutcome {
        data_class: "evidence_crops",
        cutoff_ms: cutoff,
        rows,
        held,
    })
}

async fn quarantine_bytes(store: &Store, cutoff: i64) -> Result<ClassOutcome, StoreError> {
    let rows =
        sqlx::query("UPDATE quarantine SET raw = $2 WHERE last_seen_ms < $1 AND length(raw) > 0")
            .bind(cutoff)
            .bind(Vec::<u8>::new())
            .execute(store.pool())
            .await?
            .rows_affected();
    Ok(ClassOutcome {
        data_class: "quarantine_bytes",
        cutoff_ms: cutoff,
        rows,
        held: 0,
    })
}

impl Store {
    /// Applies `periods` as of `now_ms`: each class with a period loses what is older, except what an
    /// open case holds; each pass is recorded in `retention_log`.
    pub async fn apply_retention(
        &self,
        periods: &RetentionPeriods,
        now_ms: i64,
    ) -> Result<Vec<ClassOutcome>, StoreError> {
        let cutoff = |days: u32| now_ms - i64::from(days) * DAY_MS;
        let mut out = Vec::new();
        if let Some(days) = periods.presence_days {
            out.push(presence_detail(self, cutoff(days)).await?);
        }
        if let Some(days) = periods.unknown_embedding_days {
            out.push(unknown_embeddings(self, cutoff(days)).await?);
        }
        if let Some(days) = periods.evidence_crop_days {
            out.push(evidence_crops(self, cutoff(days)).await?);
        }
        if let Some(days) = periods.quarantine_bytes_days {
            out.push(quarantine_bytes(self, cutoff(days)).await?);
        }
        for outcome in &out {
            sqlx::query(
                "INSERT INTO retention_log (at_ms, data_class, cutoff_ms, rows, held, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(now_ms)
            .bind(outcome.data_class)
            .bind(outcome.cutoff_ms)
            .bind(i64::try_from(outcome.rows).unwrap_or(i64::MAX))
            .bind(i64::try_from(outcome.held).unwrap_or(i64::MAX))
            .bind(format!(
                "{} rows older than {} days removed, {} held by open cases",
                outcome.rows,
                (now_ms - outcome.cutoff_ms) / DAY_MS,
                outcome.held
            ))
            .execute(self.pool())
            .await?;
        }
        Ok(out)
    }
}

/// Runs retention every `every` until `shutdown`, under the `retention` lease (one collector at a time).
pub async fn run_daily(
    store: Store,
    periods: RetentionPeriods,
    owner: String,
    every: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let lease_ms = 3_600_000;
        match store
            .take_lease("retention", &owner, now_ms(), lease_ms)
            .await
        {
            Ok(true) => {
                match store.apply_retention(&periods, now_ms()).await {
                    Ok(outcomes) => {
                        for o in outcomes {
                            tracing::info!(
                                class = o.data_class,
                                rows = o.rows,
                                held = o.held,
                                "retention"
                            );
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "retention run failed; retried next time")
                    }
                }
                // Kept until it expires: the other collectors skip this day's run.
            }
            Ok(false) => tracing::debug!("retention: another collector holds the lease"),
            Err(e) => tracing::warn!(error = %e, "retention: database error"),
        }
        tokio::select! {
            _ = shutdown.changed() => if *shutdown.borrow() { return; },
            () = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_taken_out_at_any_depth() {
        let mut v = serde_json::json!({"payload": {"kind": "presence", "embedding": "AAAA",
            "person": {"unknown": true}}, "list": [{"embedding": [1, 2]}]});
        assert!(strip_embeddings(&mut v));
        assert!(!v.to_string().contains("embedding"), "{v}");
        assert!(!strip_embeddings(&mut v));
    }

    #[test]
    fn the_access_log_period_is_refused_with_the_reason() {
        let periods = RetentionPeriods {
            access_log_days: Some(365),
            ..RetentionPeriods::default()
        };
        assert!(
            periods
                .check()
                .expect_err("refused")
                .contains("hash-chained")
        );
        let zero = RetentionPeriods {
            presence_days: Some(0),
            ..RetentionPeriods::default()
        };
        assert!(zero.check().is_err());
    }
}
