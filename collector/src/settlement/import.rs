//! Importing one file into the store: rows are parsed, bad ones are reported (row, column, reason) and
//! good ones kept; inserts are idempotent on `setl_id` / `feedetl_sn`, so re-importing a file changes
//! nothing, and a key that comes back with different values is reported, never overwritten.

use super::columns::FileKind;
use super::record::{Record, cells_by_header, parse_row};
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

/// One bad row (or cell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// Row number in the file.
    pub row: u64,
    /// The column (`cnt (数量)`), or `*` for the whole row.
    pub column: String,
    /// What is wrong.
    pub reason: String,
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
            match row {
                Ok((_, cells)) if cells.iter().all(|c| c.is_empty()) => continue,
                Ok((row_no, cells)) => {
                    report.rows_read += 1;
                    match parse_row(kind, &cells_by_header(&header, &cells), options.zone) {
                        Ok(record) => batch.push((row_no, record)),
                        Err(errors) => {
                            report.rows_bad += 1;
                            problems.extend(errors.into_iter().map(|e| RowProblem {
                                row: row_no,
                                column: e.field.to_string(),
                                reason: e.reason,
                            }));
                        }
                    }
                }
                Err((row_no, message)) => {
                    report.rows_read += 1;
                    report.rows_bad += 1;
                    problems.push(RowProblem {
                        row: row_no,
                        column: "*".into(),
                        reason: message,
                    });
                }
            }
            if batch.len() >= BATCH_ROWS {
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
        for (row_no, record) in batch.drain(..) {
            let digest = record.digest();
            let inserted = insert_record(&mut tx, &record, &digest, import_id, row_no).await?;
            if inserted {
                report.rows_new += 1;
                continue;
            }
            let (table, key) = match &record {
                Record::Settlement(_) => ("settlements", "setl_id"),
                Record::FeeLine(_) => ("fee_lines", "feedetl_sn"),
            };
            let existing = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT row_sha, import_id, source_row FROM {table} WHERE {key} = $1"
            )))
            .bind(record.key())
            .fetch_one(&mut *tx)
            .await?;
            let (sha, first_import, first_row): (String, i64, i64) = (
                existing.try_get(0)?,
                existing.try_get(1)?,
                existing.try_get(2)?,
            );
            if sha == digest {
                report.rows_existing += 1;
            } else {
                report.rows_bad += 1;
                problems.push(RowProblem {
                    row: row_no,
                    column: key.to_owned(),
                    reason: format!(
                        "{key} {} was already imported with different values (import #{first_import}, \
                         row {first_row}); the stored record is kept",
                        record.key()
                    ),
                });
            }
        }
        flush_problems(&mut tx, import_id, problems, report).await?;
        tx.commit().await?;
        Ok(())
    }
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

async fn insert_record(
    tx: &mut Transaction<'static, Any>,
    record: &Record,
    digest: &str,
    import_id: i64,
    row_no: u64,
) -> Result<bool, ImportError> {
    let result = match record {
        Record::Settlement(s) => {
            sqlx::query(
                "INSERT INTO settlements (setl_id, mdtrt_id, psn_no, psn_name, certno, fixmedins_code, \
                 fixmedins_name, med_type, setl_time_ms, medfee_sumamt_fen, fund_pay_sumamt_fen, \
                 adm_time_ms, dscg_time_ms, wardarea_codg, bedno, row_sha, import_id, source_row) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
                 ON CONFLICT (setl_id) DO NOTHING",
            )
            .bind(&s.setl_id)
            .bind(&s.mdtrt_id)
            .bind(&s.psn_no)
            .bind(&s.psn_name)
            .bind(&s.certno)
            .bind(&s.fixmedins_code)
            .bind(&s.fixmedins_name)
            .bind(&s.med_type)
            .bind(s.setl_time_ms)
            .bind(s.medfee_sumamt_fen)
            .bind(s.fund_pay_sumamt_fen)
            .bind(s.adm_time_ms)
            .bind(s.dscg_time_ms)
            .bind(&s.wardarea_codg)
            .bind(&s.bedno)
            .bind(digest)
            .bind(import_id)
            .bind(row_no as i64)
            .execute(&mut **tx)
            .await?
        }
        Record::FeeLine(f) => {
            sqlx::query(
                "INSERT INTO fee_lines (feedetl_sn, mdtrt_id, psn_no, fee_ocur_time_ms, hilist_code, \
                 hilist_name, med_list_codg, cnt, pric, det_item_fee_sumamt_fen, bilg_dept_codg, \
                 row_sha, import_id, source_row) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT (feedetl_sn) DO NOTHING",
            )
            .bind(&f.feedetl_sn)
            .bind(&f.mdtrt_id)
            .bind(&f.psn_no)
            .bind(f.fee_ocur_time_ms)
            .bind(&f.hilist_code)
            .bind(&f.hilist_name)
            .bind(&f.med_list_codg)
            .bind(f.cnt)
            .bind(f.pric)
            .bind(f.det_item_fee_sumamt_fen)
            .bind(&f.bilg_dept_codg)
            .bind(digest)
            .bind(import_id)
            .bind(row_no as i64)
            .execute(&mut **tx)
            .await?
        }
    };
    Ok(result.rows_affected() == 1)
}
