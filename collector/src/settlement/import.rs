//! Importing one file into the store: rows are parsed, bad ones are reported (row, column, reason) and
//! good ones kept; inserts are idempotent on `setl_id` / `feedetl_sn`, so re-importing a file changes
//! nothing, and a key that comes back with different values is reported, never overwritten (a fee line
//! stored before its `fixmedins_code` / `init_feedetl_sn` were read is completed by a re-import that
//! has them, its other values being equal).
//!
//! Fee-line files are also checked for what the rules need ([`FeeLineReport`], counted): lines without
//! their own institution, and refunds against the lines they name. A refund whose `init_feedetl_sn`
//! names a stored line (or one of the same file) of another patient, item or institution, or a line that
//! bills nothing, is refused as a row problem; one naming no line anywhere is stored and counted. A
//! refund that names a line further on in the file waits (up to [`MAX_DEFERRED_REFUNDS`]) until the
//! file's other rows are stored.

use super::columns::{Field, FileKind};
use super::record::{FeeLine, Record};
use super::refunds::{ClaimLine, check_link};
pub use super::rows::RowProblem;
use super::rows::{ParsedRow, parse_table_row};
use super::source::{ReadError, ReadOptions, open};
use crate::rules::timeline::local_date;
use crate::schedule::due::{days_between, touched_by_import};
use crate::store::partitions::{BigTable, MonthsMade};
use crate::store::{Store, StoreError, now_ms};
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::{Any, Row, Transaction};
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Rows per transaction.
const BATCH_ROWS: usize = 2000;
/// Problems kept in the report and in `import_errors` per file.
const MAX_PROBLEMS_KEPT: usize = 10_000;

/// New rows from which an import refreshes its table's planner statistics on PostgreSQL
/// ([`Store::refresh_statistics`]): a month's file, not a day's correction.
const ANALYZE_AFTER_ROWS: u64 = 10_000;
/// Refunds naming a line not stored yet that wait for the rest of their file (beyond that they are
/// stored at once, counted as naming no stored line).
pub const MAX_DEFERRED_REFUNDS: usize = 50_000;

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// How to read the files.
    pub read: ReadOptions,
    /// The zone the export's local times are in.
    pub zone: Tz,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            read: ReadOptions::default(),
            zone: chrono_tz::Asia::Shanghai,
        }
    }
}

/// What a fee-line file holds for the rules, counted over its good lines (new or already stored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeeLineReport {
    /// Columns a fee-line file should have and this one lacks (`fixmedins_code (定点医药机构编号)`, …).
    pub absent_columns: Vec<String>,
    /// Lines without their own institution (the column absent or the cell empty): their institution
    /// comes from the settlement of the same `mdtrt_id`.
    pub without_institution: u64,
    /// Refund lines kept (negative `cnt`).
    pub refunds: u64,
    /// Refunds whose `init_feedetl_sn` names a line (stored, or in the same file) of the same patient,
    /// item and institution.
    pub refunds_linked: u64,
    /// Refunds without an `init_feedetl_sn`: the rules match them to a line.
    pub refunds_unlinked: u64,
    /// Refunds whose `init_feedetl_sn` names no stored line: stored, but they refund nothing until
    /// that line is imported.
    pub refunds_dangling: u64,
    /// Refunds refused because the line they name is another patient's, item's or institution's, or
    /// bills nothing (each a row problem).
    pub refunds_refused: u64,
    /// Billed lines (non-negative `cnt`) carrying an `init_feedetl_sn`: stored and claimed as billed,
    /// the link ignored.
    pub links_on_billed_lines: u64,
    /// Lines stored before their `fixmedins_code` / `init_feedetl_sn` were read, completed now.
    pub completed: u64,
}

/// What importing one file did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// The file.
    pub file: PathBuf,
    /// What it held.
    pub kind: FileKind,
    /// How it was read (format, encoding).
    pub format: String,
    /// Non-blank data rows read.
    pub rows_read: u64,
    /// Rows stored for the first time.
    pub rows_new: u64,
    /// Rows already stored with the same values (re-imports, repeated lines).
    pub rows_existing: u64,
    /// Rows rejected.
    pub rows_bad: u64,
    /// The problems (at most 10,000 kept).
    pub problems: Vec<RowProblem>,
    /// Header columns that were not recognised (ignored).
    pub ignored_columns: Vec<String>,
    /// Fee-line files: institutions and refunds (all zero for settlement files).
    pub fee_lines: FeeLineReport,
}

impl ImportReport {
    /// For a fee-line file, one line of counts: lines with and without their own institution, and
    /// what became of the refunds (`None` for settlements).
    pub fn fee_line_summary(&self) -> Option<String> {
        if self.kind != FileKind::FeeLines {
            return None;
        }
        let f = &self.fee_lines;
        let kept = self.rows_new + self.rows_existing;
        Some(format!(
            "fee lines: {} with their own institution, {} without; refunds: {} kept ({} linked, {} \
             without a link, {} naming no stored line), {} refused; {} billed line(s) with a link; {} \
             stored line(s) completed",
            kept.saturating_sub(f.without_institution),
            f.without_institution,
            f.refunds,
            f.refunds_linked,
            f.refunds_unlinked,
            f.refunds_dangling,
            f.refunds_refused,
            f.links_on_billed_lines,
            f.completed,
        ))
    }

    /// What the import could use only in part, one sentence each with its count: printed loudly by
    /// `import settlements`. Refused rows are [`ImportReport::problems`] instead.
    pub fn warnings(&self) -> Vec<String> {
        let f = &self.fee_lines;
        let mut out = Vec::new();
        if !f.absent_columns.is_empty() {
            let absent: Vec<String> = f
                .absent_columns
                .iter()
                .map(|c| format!("no {c} column"))
                .collect();
            out.push(format!("the file has {}", absent.join(" and ")));
        }
        if f.without_institution > 0 {
            out.push(format!(
                "{} fee line(s) without their own fixmedins_code (定点医药机构编号): their institution \
                 comes from the settlement of the same mdtrt_id, where there is one",
                f.without_institution
            ));
        }
        if f.refunds_unlinked > 0 {
            out.push(format!(
                "{} refund(s) without init_feedetl_sn (原费用流水号): the rules match them to a line \
                 instead of following a link",
                f.refunds_unlinked
            ));
        }
        if f.refunds_dangling > 0 {
            out.push(format!(
                "{} refund(s) name a line that is not stored (import the file that holds it): stored, \
                 but they refund nothing until then",
                f.refunds_dangling
            ));
        }
        if f.links_on_billed_lines > 0 {
            out.push(format!(
                "{} billed line(s) (cnt ≥ 0) carry an init_feedetl_sn: stored and judged as billed, \
                 the link ignored",
                f.links_on_billed_lines
            ));
        }
        out
    }
}

/// A file could not be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Reading failed before any row.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        ImportError::Store(StoreError::Query(e))
    }
}

/// SHA-256 of the file, streamed (recorded with each import for traceability).
fn file_sha256(path: &Path) -> Result<String, ReadError> {
    use sha2::Digest as _;
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Longest stay (admission to discharge) whose days a settlement asks to run again.
const MAX_STAY_DAYS: usize = 400;

/// Adds the local days `record` bills for: a fee line's day; a settlement's stay, from admission (or
/// settlement) to discharge (or settlement), since it gives its encounter's fee lines their institution.
fn days_touched(record: &Record, zone: Tz, days: &mut BTreeSet<NaiveDate>) {
    let day = |ms: i64| local_date(ms, zone);
    match record {
        Record::FeeLine(f) => days.extend(day(f.fee_ocur_time_ms)),
        Record::Settlement(s) => {
            let first = day(s.adm_time_ms.unwrap_or(s.setl_time_ms));
            let last = day(s.dscg_time_ms.unwrap_or(s.setl_time_ms));
            if let (Some(first), Some(last)) = (first, last) {
                days.extend(days_between(first, last, MAX_STAY_DAYS));
            }
        }
    }
}

impl Store {
    /// Imports one file. `progress` is called with the rows read so far, every few thousand rows.
    pub async fn import_file(
        &self,
        path: &Path,
        options: &ImportOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportReport, ImportError> {
        let table = open(path, &options.read)?;
        let sha = file_sha256(path)?;
        let kind = table.header.kind;
        let import_id: i64 = sqlx::query(
            "INSERT INTO imports (file_name, file_sha256, kind, rows_read, rows_new, rows_existing, \
             rows_bad, started_at_ms) VALUES ($1, $2, $3, 0, 0, 0, 0, $4) RETURNING id",
        )
        .bind(path.display().to_string())
        .bind(&sha)
        .bind(kind.as_str())
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?
        .try_get(0)?;

        let mut report = ImportReport {
            file: path.to_owned(),
            kind,
            format: table.format.clone(),
            rows_read: 0,
            rows_new: 0,
            rows_existing: 0,
            rows_bad: 0,
            problems: Vec::new(),
            ignored_columns: table.header.ignored.clone(),
            fee_lines: FeeLineReport {
                absent_columns: table.header.absent.iter().map(Field::to_string).collect(),
                ..FeeLineReport::default()
            },
        };
        let header = table.header;
        let mut batch: Vec<(u64, Record)> = Vec::with_capacity(BATCH_ROWS);
        let mut deferred: Vec<(u64, Record)> = Vec::new();
        let mut problems: Vec<RowProblem> = Vec::new();
        let mut touched: BTreeSet<NaiveDate> = BTreeSet::new();
        let mut months = MonthsMade::default();
        for row in table.rows {
            match parse_table_row(&header, row, options.zone) {
                ParsedRow::Blank => continue,
                ParsedRow::Record(row_no, record) => {
                    report.rows_read += 1;
                    days_touched(&record, options.zone, &mut touched);
                    batch.push((row_no, *record));
                }
                ParsedRow::Refused(row_problems) => {
                    report.rows_read += 1;
                    report.rows_bad += 1;
                    problems.extend(row_problems);
                }
            }
            // Problems are flushed with each batch, and on their own when bad rows pile up, so
            // memory stays bounded whatever the file holds.
            if batch.len() >= BATCH_ROWS || problems.len() >= BATCH_ROWS {
                let rows = std::mem::take(&mut batch);
                self.store_batch(
                    import_id,
                    rows,
                    &mut months,
                    &mut report,
                    &mut problems,
                    Some(&mut deferred),
                )
                .await?;
                progress(report.rows_read);
            }
        }
        self.store_batch(
            import_id,
            batch,
            &mut months,
            &mut report,
            &mut problems,
            Some(&mut deferred),
        )
        .await?;
        // Refunds that named a line not stored yet: the rest of the file is stored now.
        while !deferred.is_empty() {
            let rows: Vec<(u64, Record)> =
                deferred.drain(..deferred.len().min(BATCH_ROWS)).collect();
            self.store_batch(
                import_id,
                rows,
                &mut months,
                &mut report,
                &mut problems,
                None,
            )
            .await?;
        }
        progress(report.rows_read);
        let mut tx = self.pool().begin().await?;
        flush_problems(&mut tx, import_id, &mut problems, &mut report).await?;
        sqlx::query(
            "UPDATE imports SET rows_read = $2, rows_new = $3, rows_existing = $4, rows_bad = $5, \
             finished_at_ms = $6 WHERE id = $1",
        )
        .bind(import_id)
        .bind(report.rows_read as i64)
        .bind(report.rows_new as i64)
        .bind(report.rows_existing as i64)
        .bind(report.rows_bad as i64)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if kind == FileKind::FeeLines {
            sqlx::query("UPDATE imports SET fee_line_checks = $2 WHERE id = $1")
                .bind(import_id)
                .bind(serde_json::to_string(&report.fee_lines).unwrap_or_default())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if report.rows_new >= ANALYZE_AFTER_ROWS {
            let table = match kind {
                FileKind::FeeLines => BigTable::FeeLines,
                FileKind::Settlements => BigTable::Settlements,
            };
            // The rows are stored: a failed ANALYZE only leaves the statistics to autovacuum.
            if let Err(e) = self.refresh_statistics(table).await {
                tracing::warn!(error = %e, ?table, "statistics not refreshed after the import");
            }
        }
        // The days this file holds billing for: their rules run again under `serve`'s scheduler.
        self.request_rule_jobs(&touched_by_import(&touched), options.zone)
            .await?;
        Ok(report)
    }

    /// Stores a batch of good rows in one transaction. Fee lines are checked first
    /// ([`check_fee_lines`]); refunds naming a line not stored yet go to `deferred` when given.
    async fn store_batch(
        &self,
        import_id: i64,
        batch: Vec<(u64, Record)>,
        months: &mut MonthsMade,
        report: &mut ImportReport,
        problems: &mut Vec<RowProblem>,
        deferred: Option<&mut Vec<(u64, Record)>>,
    ) -> Result<(), ImportError> {
        // PostgreSQL: the batch's months get their partitions first, outside the batch's transaction
        // (which would hold the partition lock until it commits).
        let times = batch.iter().filter_map(|(_, record)| match record {
            Record::FeeLine(line) => Some(line.fee_ocur_time_ms),
            Record::Settlement(_) => None,
        });
        if let (Some(from), Some(to)) = (times.clone().min(), times.max()) {
            months.ensure(self, from, to).await?;
        }
        let mut tx = self.pool().begin().await?;
        let batch = check_fee_lines(&mut tx, batch, report, problems, deferred).await?;
        let rows: Vec<(u64, Record, String)> = batch
            .into_iter()
            .map(|(row_no, record)| {
                let digest = record.digest();
                (row_no, record, digest)
            })
            .collect();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let inserted = insert_chunk(&mut tx, chunk, import_id).await?;
            if inserted == chunk.len() as u64 {
                report.rows_new += inserted;
                continue;
            }
            classify_conflicts(&mut tx, chunk, import_id, report, problems).await?;
        }
        flush_problems(&mut tx, import_id, problems, report).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Rows per multi-row INSERT (at most 18 columns × 100 stays far below both backends' parameter limits).
const ROWS_PER_STATEMENT: usize = 100;

/// Some rows of `chunk` were not inserted: tells, from what is stored under each key, which rows were
/// new, which repeat a stored record exactly, and which conflict with it.
async fn classify_conflicts(
    tx: &mut Transaction<'static, Any>,
    chunk: &[(u64, Record, String)],
    import_id: i64,
    report: &mut ImportReport,
    problems: &mut Vec<RowProblem>,
) -> Result<(), ImportError> {
    let (table, key) = match &chunk[0].1 {
        Record::Settlement(_) => ("settlements", "setl_id"),
        Record::FeeLine(_) => ("fee_lines", "feedetl_sn"),
    };
    let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {key}, row_sha, import_id, source_row FROM {table} WHERE {key} IN ({})",
        placeholders.join(", ")
    )));
    for (_, record, _) in chunk {
        query = query.bind(record.key().to_owned());
    }
    let mut stored = std::collections::HashMap::new();
    for row in query.fetch_all(&mut **tx).await? {
        let k: String = row.try_get(0)?;
        let v: (String, i64, i64) = (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
        stored.insert(k, v);
    }
    for (row_no, record, digest) in chunk {
        let Some((sha, first_import, first_row)) = stored.get(record.key()) else {
            // Neither inserted nor stored: never silently dropped, always reported.
            report.rows_bad += 1;
            problems.push(RowProblem {
                row: *row_no,
                column: key.to_owned(),
                reason: format!("{key} {} was neither stored nor found stored", record.key()),
            });
            continue;
        };
        if *first_import == import_id && *first_row == *row_no as i64 {
            report.rows_new += 1;
        } else if sha == digest {
            report.rows_existing += 1;
        } else if let Record::FeeLine(line) = record
            && complete_stored_line(tx, line, sha, digest).await?
        {
            report.rows_existing += 1;
            report.fee_lines.completed += 1;
        } else {
            report.rows_bad += 1;
            problems.push(RowProblem {
                row: *row_no,
                column: key.to_owned(),
                reason: format!(
                    "{key} {} was already imported with different values (import #{first_import}, \
                     row {first_row}); the stored record is kept",
                    record.key()
                ),
            });
        }
    }
    Ok(())
}

/// A fee line stored before its `fixmedins_code` / `init_feedetl_sn` were read (its stored digest is
/// that of `line` without them) gets them now; true when it was such a line.
async fn complete_stored_line(
    tx: &mut Transaction<'static, Any>,
    line: &FeeLine,
    stored_sha: &str,
    digest: &str,
) -> Result<bool, ImportError> {
    if line.fixmedins_code.is_none() && line.init_feedetl_sn.is_none() {
        return Ok(false);
    }
    let before = FeeLine {
        fixmedins_code: None,
        init_feedetl_sn: None,
        ..line.clone()
    };
    if Record::FeeLine(before).digest() != stored_sha {
        return Ok(false);
    }
    let updated = sqlx::query(
        "UPDATE fee_lines SET fixmedins_code = $2, init_feedetl_sn = $3, row_sha = $4 \
         WHERE feedetl_sn = $1 AND row_sha = $5 AND fixmedins_code IS NULL AND init_feedetl_sn IS NULL",
    )
    .bind(line.feedetl_sn.clone())
    .bind(line.fixmedins_code.clone())
    .bind(line.init_feedetl_sn.clone())
    .bind(digest.to_owned())
    .bind(stored_sha.to_owned())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Stored lines by `feedetl_sn` (as the netting sees them), for the keys asked.
async fn stored_lines(
    tx: &mut Transaction<'static, Any>,
    keys: &[String],
) -> Result<HashMap<String, ClaimLine>, ImportError> {
    let mut found = HashMap::new();
    for chunk in keys.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT feedetl_sn, psn_no, hilist_code, fixmedins_code, fee_ocur_time_ms, cnt, \
             det_item_fee_sumamt_fen, init_feedetl_sn FROM fee_lines WHERE feedetl_sn IN ({})",
            placeholders.join(", ")
        )));
        for key in chunk {
            query = query.bind(key.clone());
        }
        for row in query.fetch_all(&mut **tx).await? {
            let line = ClaimLine {
                feedetl_sn: row.try_get(0)?,
                psn_no: row.try_get(1)?,
                hilist_code: row.try_get(2)?,
                fixmedins_code: row.try_get(3)?,
                at_ms: row.try_get(4)?,
                cnt: row.try_get(5)?,
                amount_fen: row.try_get(6)?,
                init_feedetl_sn: row.try_get(7)?,
            };
            found.insert(line.feedetl_sn.clone(), line);
        }
    }
    Ok(found)
}

/// Checks a batch of fee lines before it is stored and counts what [`FeeLineReport`] says; returns
/// the rows to store. A refund whose named line is in the batch or stored is checked against it
/// ([`check_link`]) and refused when it does not fit; one whose line is nowhere yet goes to `deferred`
/// (while there is room) or is stored as dangling. Settlement batches pass through.
async fn check_fee_lines(
    tx: &mut Transaction<'static, Any>,
    batch: Vec<(u64, Record)>,
    report: &mut ImportReport,
    problems: &mut Vec<RowProblem>,
    mut deferred: Option<&mut Vec<(u64, Record)>>,
) -> Result<Vec<(u64, Record)>, ImportError> {
    let in_batch: HashMap<String, ClaimLine> = batch
        .iter()
        .filter_map(|(_, record)| match record {
            Record::FeeLine(f) => Some((f.feedetl_sn.clone(), ClaimLine::from(f))),
            Record::Settlement(_) => None,
        })
        .collect();
    if in_batch.is_empty() {
        return Ok(batch);
    }
    let wanted: Vec<String> = batch
        .iter()
        .filter_map(|(_, record)| match record {
            Record::FeeLine(f) if f.is_refund() => f.init_feedetl_sn.clone(),
            _ => None,
        })
        .filter(|named| !in_batch.contains_key(named.as_str()))
        .collect();
    let stored = stored_lines(tx, &wanted).await?;
    let mut keep = Vec::with_capacity(batch.len());
    let mut wait = Vec::new();
    for (row_no, record) in batch {
        let Record::FeeLine(line) = &record else {
            keep.push((row_no, record));
            continue;
        };
        let counts = &mut report.fee_lines;
        if line.is_refund() {
            match &line.init_feedetl_sn {
                None => counts.refunds_unlinked += 1,
                Some(named) => {
                    let original = in_batch
                        .get(named.as_str())
                        .or_else(|| stored.get(named.as_str()));
                    match original {
                        Some(original) => {
                            if let Err(why) = check_link(&ClaimLine::from(line), original) {
                                counts.refunds_refused += 1;
                                report.rows_bad += 1;
                                problems.push(RowProblem {
                                    row: row_no,
                                    column: Field::InitFeedetlSn.to_string(),
                                    reason: format!(
                                        "refund {} is not stored: {why}",
                                        line.feedetl_sn
                                    ),
                                });
                                continue;
                            }
                            counts.refunds_linked += 1;
                        }
                        None => match deferred.as_deref_mut() {
                            Some(later) if later.len() < MAX_DEFERRED_REFUNDS => {
                                wait.push((row_no, record));
                                continue;
                            }
                            _ => counts.refunds_dangling += 1,
                        },
                    }
                }
            }
            counts.refunds += 1;
        } else if line.init_feedetl_sn.is_some() {
            counts.links_on_billed_lines += 1;
        }
        if line.fixmedins_code.is_none() {
            counts.without_institution += 1;
        }
        keep.push((row_no, record));
    }
    if let Some(later) = deferred {
        later.extend(wait);
    }
    Ok(keep)
}

/// Moves problems into `import_errors` and the report, up to the cap.
async fn flush_problems(
    tx: &mut Transaction<'static, Any>,
    import_id: i64,
    problems: &mut Vec<RowProblem>,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    for problem in problems.drain(..) {
        if report.problems.len() >= MAX_PROBLEMS_KEPT {
            continue;
        }
        sqlx::query(
            "INSERT INTO import_errors (import_id, row_no, column_name, reason) VALUES ($1, $2, $3, $4)",
        )
        .bind(import_id)
        .bind(problem.row as i64)
        .bind(&problem.column)
        .bind(&problem.reason)
        .execute(&mut **tx)
        .await?;
        report.problems.push(problem);
    }
    Ok(())
}

/// Inserts a chunk of records of one kind in one statement, skipping stored keys; returns how many
/// rows were inserted.
async fn insert_chunk(
    tx: &mut Transaction<'static, Any>,
    chunk: &[(u64, Record, String)],
    import_id: i64,
) -> Result<u64, ImportError> {
    let (head, columns, key) = match &chunk[0].1 {
        Record::Settlement(_) => (
            "INSERT INTO settlements (setl_id, mdtrt_id, psn_no, psn_name, certno, fixmedins_code, \
             fixmedins_name, med_type, setl_time_ms, medfee_sumamt_fen, fund_pay_sumamt_fen, \
             adm_time_ms, dscg_time_ms, wardarea_codg, bedno, row_sha, import_id, source_row) VALUES ",
            18,
            "setl_id",
        ),
        Record::FeeLine(_) => (
            "INSERT INTO fee_lines (feedetl_sn, mdtrt_id, psn_no, fee_ocur_time_ms, hilist_code, \
             hilist_name, med_list_codg, cnt, pric, det_item_fee_sumamt_fen, bilg_dept_codg, \
             fixmedins_code, init_feedetl_sn, row_sha, import_id, source_row) VALUES ",
            16,
            // No conflict target: on PostgreSQL fee_lines is partitioned by month (migration 0022) and
            // a trigger skips a line whose feedetl_sn is taken (fee_line_keys), as DO NOTHING does.
            "",
        ),
    };
    let mut sql = String::from(head);
    for i in 0..chunk.len() {
        if i > 0 {
            sql.push_str(", ");
        }
        let params: Vec<String> = (1..=columns)
            .map(|c| format!("${}", i * columns + c))
            .collect();
        sql.push('(');
        sql.push_str(&params.join(", "));
        sql.push(')');
    }
    if key.is_empty() {
        sql.push_str(" ON CONFLICT DO NOTHING");
    } else {
        sql.push_str(&format!(" ON CONFLICT ({key}) DO NOTHING"));
    }
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (row_no, record, digest) in chunk {
        query = match record {
            Record::Settlement(s) => query
                .bind(s.setl_id.clone())
                .bind(s.mdtrt_id.clone())
                .bind(s.psn_no.clone())
                .bind(s.psn_name.clone())
                .bind(s.certno.clone())
                .bind(s.fixmedins_code.clone())
                .bind(s.fixmedins_name.clone())
                .bind(s.med_type.clone())
                .bind(s.setl_time_ms)
                .bind(s.medfee_sumamt_fen)
                .bind(s.fund_pay_sumamt_fen)
                .bind(s.adm_time_ms)
                .bind(s.dscg_time_ms)
                .bind(s.wardarea_codg.clone())
                .bind(s.bedno.clone()),
            Record::FeeLine(f) => query
                .bind(f.feedetl_sn.clone())
                .bind(f.mdtrt_id.clone())
                .bind(f.psn_no.clone())
                .bind(f.fee_ocur_time_ms)
                .bind(f.hilist_code.clone())
                .bind(f.hilist_name.clone())
                .bind(f.med_list_codg.clone())
                .bind(f.cnt)
                .bind(f.pric)
                .bind(f.det_item_fee_sumamt_fen)
                .bind(f.bilg_dept_codg.clone())
                .bind(f.fixmedins_code.clone())
                .bind(f.init_feedetl_sn.clone()),
        }
        .bind(digest.clone())
        .bind(import_id)
        .bind(*row_no as i64);
    }
    Ok(query.execute(&mut **tx).await?.rows_affected())
}
