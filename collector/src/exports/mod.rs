//! Exports for the bureau: the monthly deduction detail (扣费明细) per institution and the quarterly
//! analysis, built as [`table::Table`]s by library functions (the JSON API returns the same rows and
//! bytes the CLI writes to files).
//!
//! | module | what it is for |
//! |---|---|
//! | [`period`] | months and quarters typed from `2026-11` / `2026-Q4`, their local bounds |
//! | [`money`] | fen → yuan text, and spreading an amount over lines in whole fen |
//! | [`table`] | a sheet of typed cells, written as CSV (UTF-8 with BOM) or XLSX |
//! | [`deductions`] | 扣费明细: what was refused or recovered in a month, line by line |
//! | [`quarterly`] | the quarter by institution, category, region, rule and amount band |

pub mod deductions;
pub mod money;
pub mod period;
pub mod quarterly;
pub mod table;

use crate::store::StoreError;
use crate::store::log_chain::ChainHead;
use table::Value;

/// An export could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A period's bounds do not exist in the zone.
    #[error("{0}")]
    Period(#[from] period::PeriodError),
    /// Writing the workbook failed.
    #[error("cannot write the XLSX workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// Writing the CSV failed.
    #[error("cannot write the CSV: {0}")]
    Csv(String),
}

impl From<sqlx::Error> for ExportError {
    fn from(e: sqlx::Error) -> Self {
        ExportError::Store(StoreError::Query(e))
    }
}

/// A file an export produces: its name and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    /// The file name (no directory).
    pub name: String,
    /// The content.
    pub bytes: Vec<u8>,
}

/// The rows that publish the log chain heads below an export's table, one per log: a label, then the
/// head as `wardwatch-collector audit verify --expect` takes it (`audit:SEQ:HASH`). Whoever holds the
/// file can later show that the audit and access logs still run through these heads.
pub fn chain_head_rows(heads: &[ChainHead]) -> Vec<Vec<Value>> {
    heads
        .iter()
        .map(|head| {
            let label = match head.log {
                crate::store::log_chain::ChainedLog::Audit => "审计日志链头 audit log chain head",
                crate::store::log_chain::ChainedLog::Access => "访问日志链头 access log chain head",
            };
            vec![
                Value::text(label),
                Value::text(head),
                Value::text("核验 verify: wardwatch-collector audit verify --expect <链头 head>"),
            ]
        })
        .collect()
}
