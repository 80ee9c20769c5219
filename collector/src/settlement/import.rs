//! Importing one file into the store: rows are parsed, bad ones are reported (row, column, reason) and
//! good ones kept; inserts are idempotent on `setl_id` / `feedetl_sn`, so re-importing a file changes
//! nothing, and a key that comes back with different values is reported, never overwritten.

use super::columns::FileKind;
use super::record::Record;
pub use super::rows::RowProblem;
use super::rows::{ParsedRow, parse_table_row};
use super::source::{ReadError, ReadOptions, open};
use crate::store::{Store, StoreError, now_ms};
use chrono_tz::Tz;
use sqlx::{Any, Row, Transaction};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Rows per transaction.
const BATCH_ROWS: usize = 2000;
/// Problems kept in the report and in `import_errors` per file.
const MAX_PROBLEMS_KEPT: usize = 10_000;

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

/// What importing one file did.
#[derive(Debug, Clone)]
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
        };
        let header = table.header;
        let mut batch: Vec<(u64, Record)> = Vec::with_capacity(BATCH_ROWS);
        let mut problems: Vec<RowProblem> = Vec::new();
        for row in table.rows {
            match parse_table_row(&header, row, options.zone) {
                ParsedRow::Blank => continue,
                ParsedRow::Record(row_no, record) => {
                    report.rows_read += 1;
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
                self.store_batch(import_id, &mut batch, &mut report, &mut problems)
                    .await?;
                progress(report.rows_read);
            }
        }
        self.store_batch(import_id, &mut batch, &mut report, &mut problems)
            .await?;
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
        tx.commit().await?;
        Ok(report)
    }

    async fn store_batch(
        &self,
        import_id: i64,
        batch: &mut Vec<(u64, Record)>,
        report: &mut ImportReport,
        problems: &mut Vec<RowProblem>,
    ) -> Result<(), ImportError> {
        let mut tx = self.pool().begin().await?;
        let rows: Vec<(u64, Record, String)> = batch
            .drain(..)
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

/// Rows per multi-row INSERT (18 columns × 100 stays far below both backends' parameter limits).
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
             row_sha, import_id, source_row) VALUES ",
            14,
            "feedetl_sn",
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
    sql.push_str(&format!(" ON CONFLICT ({key}) DO NOTHING"));
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
                .bind(f.bilg_dept_codg.clone()),
        }
        .bind(digest.clone())
        .bind(import_id)
        .bind(*row_no as i64);
    }
    Ok(query.execute(&mut **tx).await?.rows_affected())
}
