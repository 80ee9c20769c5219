//! One table row → a typed record or the typed problems that refuse it, with no database: the step the
//! importer takes for every row. [`check_export`] runs a whole export held in memory through the same
//! reading, header mapping and row parsing (the fuzz target and its seed-corpus test use it).

use super::columns::{FileKind, HeaderMap};
use super::record::{Record, cells_by_header, parse_row};
use super::source::{EncodingChoice, ReadError, RowResult, read_csv, read_jsonl};
use chrono_tz::Tz;
use std::path::Path;

/// One bad row (or cell).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowProblem {
    /// Row number in the file.
    pub row: u64,
    /// The column (`cnt (数量)`), or `*` for the whole row.
    pub column: String,
    /// What is wrong.
    pub reason: String,
}

/// What became of one row.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedRow {
    /// Nothing in it: skipped and not counted.
    Blank,
    /// A good row and its number in the file.
    Record(u64, Box<Record>),
    /// A refused row: everything wrong with it (never empty).
    Refused(Vec<RowProblem>),
}

/// Turns one row from a reader into a record, or into the problems that refuse it.
pub fn parse_table_row(header: &HeaderMap, row: RowResult, zone: Tz) -> ParsedRow {
    match row {
        Ok((_, cells)) if cells.iter().all(|c| c.is_empty()) => ParsedRow::Blank,
        Ok((row_no, cells)) => match parse_row(header.kind, &cells_by_header(header, &cells), zone)
        {
            Ok(record) => ParsedRow::Record(row_no, Box::new(record)),
            Err(errors) => ParsedRow::Refused(
                errors
                    .into_iter()
                    .map(|e| RowProblem {
                        row: row_no,
                        column: e.field.to_string(),
                        reason: e.reason,
                    })
                    .collect(),
            ),
        },
        Err((row_no, message)) => ParsedRow::Refused(vec![RowProblem {
            row: row_no,
            column: "*".into(),
            reason: message,
        }]),
    }
}

/// A text export format that can be read from memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// CSV in the given encoding.
    Csv(EncodingChoice),
    /// JSON Lines.
    JsonLines,
}

/// What [`check_export`] found: the counts an import would start from, before any key is compared
/// with what is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportCheck {
    /// What the file holds.
    pub kind: FileKind,
    /// Good rows.
    pub records: Vec<Record>,
    /// Refused rows, each with its problems.
    pub refused: Vec<Vec<RowProblem>>,
}

/// Reads an export held in memory and parses every row, as an import would, without storing anything.
/// Errors are those that stop an import before its first row.
pub fn check_export(bytes: &[u8], format: TextFormat, zone: Tz) -> Result<ExportCheck, ReadError> {
    let name = Path::new("<memory>");
    let input = std::io::Cursor::new(bytes.to_vec());
    let table = match format {
        TextFormat::Csv(encoding) => read_csv(input, name, encoding)?,
        TextFormat::JsonLines => read_jsonl(input, name)?,
    };
    let mut check = ExportCheck {
        kind: table.header.kind,
        records: Vec::new(),
        refused: Vec::new(),
    };
    for row in table.rows {
        match parse_table_row(&table.header, row, zone) {
            ParsedRow::Blank => {}
            ParsedRow::Record(_, record) => check.records.push(*record),
            ParsedRow::Refused(problems) => check.refused.push(problems),
        }
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_in_memory_gives_records_and_refused_rows_with_their_problems() {
        let text = "费用明细流水号,就诊ID,人员编号,费用发生时间,医保目录编码,数量,单价,明细项目费用总额\n\
                    F1,M1,4306001,2026-11-02 08:00:00,C001,1,410,410.00\n\
                    \n\
                    F2,M1,4306001,2026-11-02 08:00:00,C001,-1,410,-410.00\n\
                    F3,M1,4306001\n\
                    F4,M1,43-06,2026-11-02 08:00:00,C001,1,410,4.105\n";
        let (bytes, _, _) = encoding_rs::GB18030.encode(text);
        let zone = chrono_tz::Asia::Shanghai;
        let check =
            check_export(&bytes, TextFormat::Csv(EncodingChoice::Auto), zone).expect("readable");
        assert_eq!(check.kind, FileKind::FeeLines);
        let keys: Vec<&str> = check.records.iter().map(Record::key).collect();
        assert_eq!(keys, ["F1", "F2"]);
        let refused: Vec<Vec<(u64, &str)>> = check
            .refused
            .iter()
            .map(|row| row.iter().map(|p| (p.row, p.column.as_str())).collect())
            .collect();
        assert_eq!(
            refused,
            [
                vec![(5, "*")],
                vec![
                    (6, "psn_no (人员编号)"),
                    (6, "det_item_fee_sumamt (明细项目费用总额)")
                ]
            ]
        );
    }
}
