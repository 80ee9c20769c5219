//! Tamper evidence for the two append-only logs, the audit log of the review workflow (`flag_events`)
//! and the API's access log (`access_log`): each row is hash-chained to the one before it, so that a
//! row removed, inserted or altered — by someone who dropped the append-only triggers, ran `TRUNCATE`
//! on PostgreSQL, or edited the SQLite file — is found by [`Store::verify_log`] (`wardwatch-collector
//! audit verify`), which says which row.
//!
//! **The chain.** Row `n` of a log (`chain_seq = n`, from 1) stores `prev_hash`, the `row_hash` of row
//! `n − 1` ([`GENESIS`] for row 1), and its own `row_hash`: SHA-256 over [`canonical_bytes`] — a
//! length-prefixed encoding of a version tag, the log's name, `n`, `prev_hash` and every column of the row
//! by name, with typed values. `log_chain_heads` holds each log's newest `seq` and `hash`.
//!
//! **Appending** ([`append`]) runs inside the writer's transaction: it first advances the head
//! (`UPDATE … SET seq = seq + 1 … RETURNING seq, hash`), which takes the head row's lock on PostgreSQL
//! and the database write lock on SQLite, so concurrent writers — several API requests, several
//! collectors on one database — queue there and never fork the chain; then it inserts the row with its
//! chain columns and stores the new hash in the head. The row and the head commit together or not at all.
//!
//! **What a chain cannot prove alone.** Whoever can write the database can also recompute every hash
//! after a change and move the head. The head is therefore published where the database's writers cannot
//! reach it: each month's 扣费明细 file and the quarterly analysis carry both heads
//! ([`ChainHead`]'s text form `audit:SEQ:HASH`), and `audit verify --expect audit:SEQ:HASH` checks that the
//! chain still runs through a head held outside (a rewrite up to that row changes its hash).
//!
//! **Rows older than the chain** (written before migration 0013) are chained once, in id order, at the
//! first open after the migration ([`chain_existing_rows`], called by [`Store::open`]); from then on a row
//! without chain columns is reported as written around the collector.

use super::{Store, StoreError};
use sha2::{Digest as _, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::fmt;
use std::str::FromStr;

/// `prev_hash` of each log's first row, and the head of an empty log.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Version tag at the start of every hashed encoding.
const ENCODING_TAG: &[u8] = b"wardwatch/log-chain/v1";

/// Rows read or chained per query when walking a log.
const PAGE: i64 = 2_000;

/// A hash-chained log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChainedLog {
    /// The review workflow's audit log, `flag_events`.
    Audit,
    /// The API's access log, `access_log`.
    Access,
}

/// How a column's values are typed (and bound, and hashed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
}

impl ChainedLog {
    /// Both logs.
    pub const ALL: [ChainedLog; 2] = [ChainedLog::Audit, ChainedLog::Access];

    /// The name in `log_chain_heads` and in published heads.
    pub fn name(self) -> &'static str {
        match self {
            ChainedLog::Audit => "audit",
            ChainedLog::Access => "access",
        }
    }

    /// The table.
    pub fn table(self) -> &'static str {
        match self {
            ChainedLog::Audit => "flag_events",
            ChainedLog::Access => "access_log",
        }
    }

    /// The row's columns (besides `id` and the chain columns), in hashing and binding order.
    fn columns(self) -> &'static [(&'static str, Kind)] {
        match self {
            ChainedLog::Audit => &[
                ("flag_id", Kind::Int),
                ("at_ms", Kind::Int),
                ("actor", Kind::Text),
                ("role", Kind::Text),
                ("action", Kind::Text),
                ("from_state", Kind::Text),
                ("to_state", Kind::Text),
                ("reason", Kind::Text),
                ("amount_fen", Kind::Int),
            ],
            ChainedLog::Access => &[
                ("at_ms", Kind::Int),
                ("user_name", Kind::Text),
                ("role", Kind::Text),
                ("method", Kind::Text),
                ("path", Kind::Text),
                ("status", Kind::Int),
                ("flag_id", Kind::Int),
                ("detail", Kind::Text),
            ],
        }
    }

    fn column_list(self) -> String {
        self.columns()
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for ChainedLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            ChainedLog::Audit => "audit log",
            ChainedLog::Access => "access log",
        };
        write!(f, "{what} ({})", self.table())
    }
}

/// One value of a chained row, typed as its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// An integer column (`NULL` as `None`).
    Int(Option<i64>),
    /// A text column (`NULL` as `None`).
    Text(Option<String>),
}

impl Field {
    /// A non-null integer.
    pub fn int(value: i64) -> Field {
        Field::Int(Some(value))
    }

    /// A non-null text.
    pub fn text(value: impl Into<String>) -> Field {
        Field::Text(Some(value.into()))
    }

    fn kind(&self) -> Kind {
        match self {
            Field::Int(_) => Kind::Int,
            Field::Text(_) => Kind::Text,
        }
    }
}

/// The hashed encoding of row `seq` of `log`: the version tag, the log's name, `seq`, `prev_hash`, and
/// per column its name and a typed value (tag 0 NULL; 1 and the 8-byte big-endian integer; 2 and the
/// length-prefixed UTF-8 text). Every variable-length part is prefixed with its length (8 bytes, big
/// endian), so no two rows encode alike.
pub fn canonical_bytes(log: ChainedLog, seq: i64, prev_hash: &str, fields: &[Field]) -> Vec<u8> {
    // Built as bytes (not streamed into the hasher) so that tests can pin the encoding.
    let mut out = Vec::with_capacity(128);
    let mut put = |bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    put(ENCODING_TAG);
    put(log.name().as_bytes());
    put(&seq.to_be_bytes());
    put(prev_hash.as_bytes());
    for ((name, _), field) in log.columns().iter().zip(fields) {
        put(name.as_bytes());
        match field {
            Field::Int(None) | Field::Text(None) => put(&[0]),
            Field::Int(Some(v)) => {
                let mut value = vec![1];
                value.extend_from_slice(&v.to_be_bytes());
                put(&value);
            }
            Field::Text(Some(s)) => {
                let mut value = vec![2];
                value.extend_from_slice(s.as_bytes());
                put(&value);
            }
        }
    }
    out
}

/// `row_hash` of row `seq` of `log` (lowercase hex SHA-256 of [`canonical_bytes`]).
pub fn row_hash(log: ChainedLog, seq: i64, prev_hash: &str, fields: &[Field]) -> String {
    hex::encode(Sha256::digest(canonical_bytes(log, seq, prev_hash, fields)))
}

/// The wrong number or kind of fields for a log (a bug in the caller).
fn shape_error(log: ChainedLog, fields: &[Field]) -> Option<StoreError> {
    let columns = log.columns();
    let fits = fields.len() == columns.len()
        && columns
            .iter()
            .zip(fields)
            .all(|((_, kind), field)| field.kind() == *kind);
    (!fits).then(|| StoreError::Corrupt {
        what: "log row",
        why: format!(
            "{log} takes {} fields ({}), not {fields:?}",
            columns.len(),
            log.column_list()
        ),
    })
}

fn bind_fields<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    fields: &'q [Field],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    for field in fields {
        query = match field {
            Field::Int(v) => query.bind(*v),
            Field::Text(v) => query.bind(v.as_deref()),
        };
    }
    query
}

/// Appends a row to `log` inside the writer's transaction `tx`, chained to the head (see the module
/// doc for the locking). Returns the row's place on the chain.
pub async fn append(
    tx: &mut Transaction<'static, Any>,
    log: ChainedLog,
    fields: &[Field],
) -> Result<ChainHead, StoreError> {
    if let Some(e) = shape_error(log, fields) {
        return Err(e);
    }
    let head =
        sqlx::query("UPDATE log_chain_heads SET seq = seq + 1 WHERE log = $1 RETURNING seq, hash")
            .bind(log.name())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                what: "log chain head",
                why: format!("log_chain_heads has no row for {}", log.name()),
            })?;
    let seq: i64 = head.try_get(0)?;
    let prev_hash: String = head.try_get(1)?;
    let hash = row_hash(log, seq, &prev_hash, fields);
    let columns = log.columns();
    let placeholders: Vec<String> = (1..=columns.len() + 3).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}, chain_seq, prev_hash, row_hash) VALUES ({})",
        log.table(),
        log.column_list(),
        placeholders.join(", ")
    );
    bind_fields(sqlx::query(sqlx::AssertSqlSafe(sql)), fields)
        .bind(seq)
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE log_chain_heads SET hash = $2 WHERE log = $1")
        .bind(log.name())
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
    Ok(ChainHead { log, seq, hash })
}

/// Reads the log's columns from `row`, starting at column `first`.
fn fields_of(log: ChainedLog, row: &AnyRow, first: usize) -> Result<Vec<Field>, sqlx::Error> {
    log.columns()
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| {
            Ok(match kind {
                Kind::Int => Field::Int(row.try_get(first + i)?),
                Kind::Text => Field::Text(row.try_get(first + i)?),
            })
        })
        .collect()
}

/// Chains the rows of `log` written before the chain existed (migration 0013), in id order, once: the
/// first caller after the migration claims the head (`backfilled = 0`) under its lock, chains every
/// unchained row and marks the head; later callers find it marked and do nothing. Returns how many rows
/// were chained.
pub async fn chain_existing_rows(store: &Store, log: ChainedLog) -> Result<u64, StoreError> {
    // The usual case, read without taking a write lock: done long ago.
    let backfilled: Option<i64> =
        sqlx::query_scalar("SELECT backfilled FROM log_chain_heads WHERE log = $1")
            .bind(log.name())
            .fetch_optional(store.pool())
            .await?;
    if backfilled != Some(0) {
        return Ok(0);
    }
    let mut tx = store.pool().begin().await?;
    let claimed = sqlx::query(
        "UPDATE log_chain_heads SET seq = seq WHERE log = $1 AND backfilled = 0 RETURNING seq, hash",
    )
    .bind(log.name())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(head) = claimed else {
        tx.rollback().await?;
        return Ok(0);
    };
    let mut seq: i64 = head.try_get(0)?;
    let mut prev_hash: String = head.try_get(1)?;
    let select = format!(
        "SELECT id, {} FROM {} WHERE row_hash IS NULL AND id > $1 ORDER BY id LIMIT {PAGE}",
        log.column_list(),
        log.table()
    );
    let update = format!(
        "UPDATE {} SET chain_seq = $2, prev_hash = $3, row_hash = $4 WHERE id = $1",
        log.table()
    );
    let mut last_id = i64::MIN;
    let mut chained = 0u64;
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
            .bind(last_id)
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let id: i64 = row.try_get(0)?;
            let fields = fields_of(log, row, 1)?;
            seq += 1;
            let hash = row_hash(log, seq, &prev_hash, &fields);
            sqlx::query(sqlx::AssertSqlSafe(update.clone()))
                .bind(id)
                .bind(seq)
                .bind(&prev_hash)
                .bind(&hash)
                .execute(&mut *tx)
                .await?;
            prev_hash = hash;
            last_id = id;
            chained += 1;
        }
    }
    sqlx::query("UPDATE log_chain_heads SET seq = $2, hash = $3, backfilled = 1 WHERE log = $1")
        .bind(log.name())
        .bind(seq)
        .bind(&prev_hash)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if chained > 0 {
        tracing::info!(
            log = %log,
            rows = chained,
            "rows written before the log chain existed are now chained (once, in id order)"
        );
    }
    Ok(chained)
}

/// A log's chain head: the newest row's place and hash, in the text form `audit:SEQ:HASH` that the
/// exports publish and `audit verify --expect` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// The log.
    pub log: ChainedLog,
    /// The newest row's `chain_seq` (0 for an empty log).
    pub seq: i64,
    /// Its `row_hash` ([`GENESIS`] for an empty log).
    pub hash: String,
}

impl serde::Serialize for ChainHead {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.log.name(), self.seq, self.hash)
    }
}

/// A held head that is not `LOG:SEQ:HASH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a chain head like audit:42:<64 hex characters> (or access:…)")]
pub struct BadChainHead(String);

impl FromStr for ChainHead {
    type Err = BadChainHead;
    fn from_str(s: &str) -> Result<Self, BadChainHead> {
        let bad = || BadChainHead(s.chars().take(100).collect());
        let mut parts = s.trim().splitn(3, ':');
        let log = match parts.next() {
            Some("audit") => ChainedLog::Audit,
            Some("access") => ChainedLog::Access,
            _ => return Err(bad()),
        };
        let seq: i64 = parts
            .next()
            .and_then(|n| n.parse().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(bad)?;
        let hash = parts.next().ok_or_else(bad)?.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(ChainHead { log, seq, hash })
    }
}

/// Something wrong with a chain, naming the rows concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProblem {
    /// The row's content no longer gives its hash.
    Altered {
        /// Its place.
        seq: i64,
        /// Its id.
        id: i64,
    },
    /// The row does not link to the row before it: that row was replaced or rewritten with a new hash.
    Unlinked {
        /// Its place.
        seq: i64,
        /// Its id.
        id: i64,
    },
    /// Places missing inside the chain: those rows were removed.
    Removed {
        /// The first missing place.
        from_seq: i64,
        /// The last missing place.
        to_seq: i64,
    },
    /// The newest rows are missing: the head is further than the last row.
    TailRemoved {
        /// The first missing place.
        from_seq: i64,
        /// The head's place.
        to_seq: i64,
    },
    /// A second row claims a place already taken.
    Duplicate {
        /// The place.
        seq: i64,
        /// The extra row's id.
        id: i64,
    },
    /// A row without chain columns: written around the collector.
    Unchained {
        /// Its id.
        id: i64,
    },
    /// A row beyond the head: appended around the collector, or the head was moved back.
    BeyondHead {
        /// Its place.
        seq: i64,
        /// Its id.
        id: i64,
    },
    /// The head names the last row's place but another hash.
    HeadMismatch {
        /// The head's place.
        seq: i64,
    },
    /// Row ids do not grow along the chain: rows were renumbered.
    OutOfOrder {
        /// Its place.
        seq: i64,
        /// Its id.
        id: i64,
    },
    /// A head held outside (`--expect`) is no longer on the chain.
    HeldHeadLost {
        /// The held head.
        held: ChainHead,
        /// The hash the chain has at that place now (`None`: no row there).
        found: Option<String>,
    },
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainProblem::Altered { seq, id } => write!(
                f,
                "row {seq} (id {id}) was altered: its content no longer matches its hash"
            ),
            ChainProblem::Unlinked { seq, id } => write!(
                f,
                "row {seq} (id {id}) does not link to row {}: that row was replaced or rewritten",
                seq - 1
            ),
            ChainProblem::Removed { from_seq, to_seq } if from_seq == to_seq => {
                write!(f, "row {from_seq} was removed")
            }
            ChainProblem::Removed { from_seq, to_seq } => {
                write!(f, "rows {from_seq} to {to_seq} were removed")
            }
            ChainProblem::TailRemoved { from_seq, to_seq } => write!(
                f,
                "the newest rows {from_seq} to {to_seq} were removed (the head is at {to_seq})"
            ),
            ChainProblem::Duplicate { seq, id } => write!(
                f,
                "row id {id} was inserted: it claims place {seq}, which another row holds"
            ),
            ChainProblem::Unchained { id } => write!(
                f,
                "row id {id} was inserted around the collector: it is not on the chain"
            ),
            ChainProblem::BeyondHead { seq, id } => write!(
                f,
                "row {seq} (id {id}) was inserted beyond the head (or the head was moved back)"
            ),
            ChainProblem::HeadMismatch { seq } => write!(
                f,
                "the head names row {seq} with another hash: the head or that row was rewritten"
            ),
            ChainProblem::OutOfOrder { seq, id } => write!(
                f,
                "row {seq} (id {id}) is out of id order: rows were renumbered"
            ),
            ChainProblem::HeldHeadLost { held, found: None } => write!(
                f,
                "the held head {held} is gone: there is no row {} any more",
                held.seq
            ),
            ChainProblem::HeldHeadLost {
                held,
                found: Some(hash),
            } => write!(
                f,
                "the held head {held} does not match: row {} now hashes to {hash}, so the log up to \
                 it was rewritten",
                held.seq
            ),
        }
    }
}

/// What [`Store::verify_log`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// The log.
    pub log: ChainedLog,
    /// Rows in the table.
    pub rows: u64,
    /// The stored head.
    pub head: ChainHead,
    /// What is wrong, in chain order; empty when the chain is intact.
    pub problems: Vec<ChainProblem>,
}

/// Walks one log's rows in chain order.
struct Walk {
    log: ChainedLog,
    expected_seq: i64,
    prev_hash: String,
    last_id: Option<i64>,
    problems: Vec<ChainProblem>,
}

impl Walk {
    fn visit(&mut self, id: i64, seq: i64, prev_hash: &str, hash: &str, fields: &[Field]) {
        if seq < self.expected_seq {
            self.problems.push(ChainProblem::Duplicate { seq, id });
            return;
        }
        if seq > self.expected_seq {
            self.problems.push(ChainProblem::Removed {
                from_seq: self.expected_seq,
                to_seq: seq - 1,
            });
        } else if prev_hash != self.prev_hash {
            self.problems.push(ChainProblem::Unlinked { seq, id });
        }
        if row_hash(self.log, seq, prev_hash, fields) != hash {
            self.problems.push(ChainProblem::Altered { seq, id });
        }
        if self.last_id.is_some_and(|last| id <= last) {
            self.problems.push(ChainProblem::OutOfOrder { seq, id });
        }
        self.last_id = Some(id);
        self.expected_seq = seq + 1;
        self.prev_hash = hash.to_owned();
    }
}

impl Store {
    /// Each log's head, as published in the exports.
    pub async fn chain_heads(&self) -> Result<Vec<ChainHead>, StoreError> {
        let mut heads = Vec::new();
        for log in ChainedLog::ALL {
            heads.push(self.chain_head(log).await?);
        }
        Ok(heads)
    }

    /// One log's head.
    pub async fn chain_head(&self, log: ChainedLog) -> Result<ChainHead, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM log_chain_heads WHERE log = $1")
            .bind(log.name())
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                what: "log chain head",
                why: format!(
                    "log_chain_heads has no row for {} (it was deleted)",
                    log.name()
                ),
            })?;
        Ok(ChainHead {
            log,
            seq: row.try_get(0)?,
            hash: row.try_get(1)?,
        })
    }

    /// Walks `log`'s chain from its first row to the head, recomputing every hash, and checks each
    /// `held` head of that log (published earlier) against the chain.
    pub async fn verify_log(
        &self,
        log: ChainedLog,
        held: &[ChainHead],
    ) -> Result<ChainReport, StoreError> {
        let head = self.chain_head(log).await?;
        let mut walk = Walk {
            log,
            expected_seq: 1,
            prev_hash: GENESIS.to_owned(),
            last_id: None,
            problems: Vec::new(),
        };
        let select = format!(
            "SELECT id, chain_seq, prev_hash, row_hash, {} FROM {} WHERE chain_seq IS NOT NULL \
             AND (chain_seq > $1 OR (chain_seq = $1 AND id > $2)) ORDER BY chain_seq, id LIMIT {PAGE}",
            log.column_list(),
            log.table()
        );
        let mut rows_seen = 0u64;
        let mut beyond_head = Vec::new();
        let (mut after_seq, mut after_id) = (i64::MIN, i64::MIN);
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                .bind(after_seq)
                .bind(after_id)
                .fetch_all(self.pool())
                .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let id: i64 = row.try_get(0)?;
                let seq: i64 = row.try_get(1)?;
                let prev_hash: Option<String> = row.try_get(2)?;
                let hash: Option<String> = row.try_get(3)?;
                let fields = fields_of(log, row, 4)?;
                rows_seen += 1;
                (after_seq, after_id) = (seq, id);
                if seq > head.seq {
                    beyond_head.push(ChainProblem::BeyondHead { seq, id });
                }
                walk.visit(
                    id,
                    seq,
                    prev_hash.as_deref().unwrap_or(""),
                    hash.as_deref().unwrap_or(""),
                    &fields,
                );
            }
        }
        let last_seq = walk.expected_seq - 1;
        if head.seq > last_seq {
            walk.problems.push(ChainProblem::TailRemoved {
                from_seq: last_seq + 1,
                to_seq: head.seq,
            });
        } else if head.seq == last_seq && head.hash != walk.prev_hash {
            walk.problems
                .push(ChainProblem::HeadMismatch { seq: head.seq });
        }
        walk.problems.extend(beyond_head);
        let unchained = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM {} WHERE chain_seq IS NULL ORDER BY id",
            log.table()
        )))
        .fetch_all(self.pool())
        .await?;
        for row in &unchained {
            walk.problems.push(ChainProblem::Unchained {
                id: row.try_get(0)?,
            });
        }
        for held in held.iter().filter(|h| h.log == log) {
            let found: Option<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT row_hash FROM {} WHERE chain_seq = $1 ORDER BY id LIMIT 1",
                log.table()
            )))
            .bind(held.seq)
            .fetch_optional(self.pool())
            .await?;
            let found = found.flatten();
            let matches = if held.seq == 0 {
                held.hash == GENESIS
            } else {
                found.as_deref() == Some(held.hash.as_str())
            };
            if !matches {
                walk.problems.push(ChainProblem::HeldHeadLost {
                    held: held.clone(),
                    found,
                });
            }
        }
        Ok(ChainReport {
            log,
            rows: rows_seen + unchained.len() as u64,
            head,
            problems: walk.problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access_fields(path: &str) -> Vec<Field> {
        vec![
            Field::int(1_790_000_000_000),
            Field::text("li"),
            Field::text("auditor"),
            Field::text("GET"),
            Field::text(path),
            Field::int(200),
            Field::Int(None),
            Field::text(""),
        ]
    }

    #[test]
    fn the_encoding_is_deterministic_and_separates_every_part() {
        let fields = access_fields("/api/v1/me");
        let hash = row_hash(ChainedLog::Access, 1, GENESIS, &fields);
        // Deterministic: the same row in the same place hashes alike.
        assert_eq!(
            hash,
            row_hash(ChainedLog::Access, 1, GENESIS, &access_fields("/api/v1/me"))
        );
        assert_ne!(hash, row_hash(ChainedLog::Access, 2, GENESIS, &fields));
        assert_ne!(
            hash,
            row_hash(ChainedLog::Access, 1, &"1".repeat(64), &fields)
        );
        assert_ne!(
            hash,
            row_hash(
                ChainedLog::Access,
                1,
                GENESIS,
                &access_fields("/api/v1/me ")
            )
        );
        // NULL and an empty text differ; so do a text and the same digits as a number.
        let mut empty_flag = fields.clone();
        empty_flag[6] = Field::Int(Some(0));
        assert_ne!(hash, row_hash(ChainedLog::Access, 1, GENESIS, &empty_flag));
        let mut no_detail = fields.clone();
        no_detail[7] = Field::Text(None);
        assert_ne!(hash, row_hash(ChainedLog::Access, 1, GENESIS, &no_detail));
        // Moving text between adjacent columns changes the hash (length prefixes).
        let mut shifted = fields.clone();
        shifted[1] = Field::text("lia");
        shifted[2] = Field::text("uditor");
        assert_ne!(hash, row_hash(ChainedLog::Access, 1, GENESIS, &shifted));
        let bytes = canonical_bytes(ChainedLog::Access, 1, GENESIS, &fields);
        assert!(bytes.starts_with(&[0, 0, 0, 0, 0, 0, 0, 22]));
        assert_eq!(&bytes[8..30], ENCODING_TAG);
        assert_eq!(hash.len(), 64);
    }

    #[test]
    fn heads_read_back_from_their_text() {
        let head = ChainHead {
            log: ChainedLog::Audit,
            seq: 42,
            hash: "ab".repeat(32),
        };
        assert_eq!(head.to_string().parse::<ChainHead>(), Ok(head));
        for bad in [
            "audit:42",
            "audits:1:00",
            "access:-1:",
            &format!("audit:x:{GENESIS}"),
            &format!("audit:1:{}", "g".repeat(64)),
        ] {
            assert!(bad.parse::<ChainHead>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_walk_names_each_kind_of_tampering() {
        let log = ChainedLog::Access;
        let rows: Vec<(i64, i64, String, String, Vec<Field>)> = {
            let mut prev = GENESIS.to_owned();
            (1..=5)
                .map(|seq| {
                    let fields = access_fields(&format!("/api/v1/flags/{seq}"));
                    let hash = row_hash(log, seq, &prev, &fields);
                    let row = (seq * 10, seq, prev.clone(), hash.clone(), fields);
                    prev = hash;
                    row
                })
                .collect()
        };
        let walk = |rows: &[(i64, i64, String, String, Vec<Field>)]| {
            let mut walk = Walk {
                log,
                expected_seq: 1,
                prev_hash: GENESIS.to_owned(),
                last_id: None,
                problems: Vec::new(),
            };
            for (id, seq, prev, hash, fields) in rows {
                walk.visit(*id, *seq, prev, hash, fields);
            }
            walk.problems
        };
        assert_eq!(walk(&rows), vec![]);

        let mut removed = rows.clone();
        removed.remove(2);
        assert_eq!(
            walk(&removed),
            vec![ChainProblem::Removed {
                from_seq: 3,
                to_seq: 3
            }]
        );

        let mut altered = rows.clone();
        altered[1].4[4] = Field::text("/api/v1/flags/99");
        assert_eq!(
            walk(&altered),
            vec![ChainProblem::Altered { seq: 2, id: 20 }]
        );

        // Altered and re-hashed: the next row no longer links to it.
        let mut rehashed = rows.clone();
        rehashed[1].4[4] = Field::text("/api/v1/flags/99");
        rehashed[1].3 = row_hash(log, 2, &rehashed[1].2, &rehashed[1].4);
        assert_eq!(
            walk(&rehashed),
            vec![ChainProblem::Unlinked { seq: 3, id: 30 }]
        );

        let mut inserted = rows.clone();
        let extra = inserted[2].clone();
        inserted.insert(3, (31, extra.1, extra.2, extra.3, extra.4));
        assert_eq!(
            walk(&inserted),
            vec![ChainProblem::Duplicate { seq: 3, id: 31 }]
        );
    }
}
