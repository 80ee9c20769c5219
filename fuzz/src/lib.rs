//! The checks the fuzz targets run. They live here, not in the targets, so that the collector's
//! `fuzz_seeds` test runs the very same functions over the committed seeds on a stable toolchain.

use wardwatch_collector::settlement::import::ImportOptions;
use wardwatch_collector::settlement::record::Record;
use wardwatch_collector::settlement::rows::{TextFormat, check_export};
use wardwatch_collector::settlement::source::EncodingChoice;
use wardwatch_collector::settlement::values::{Cell, decimal, local_time_ms, money_fen, text};

/// What one input gave, over every way it was read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Reads that stopped before the first row (empty, undecodable, header not understood).
    pub files_refused: usize,
    /// Good rows.
    pub records: usize,
    /// Refused rows.
    pub rows_refused: usize,
}

/// Reads `data` as CSV (encoding detected, forced UTF-8, forced GB18030) and as JSON Lines, parses every
/// row as the importer does, and checks that every refused row carries typed problems and every record
/// holds what the importer relies on. Panics (the fuzzer's signal) when a check fails.
pub fn settlement_row(data: &[u8]) -> Outcome {
    let zone = ImportOptions::default().zone;
    let mut outcome = Outcome::default();
    for format in [
        TextFormat::Csv(EncodingChoice::Auto),
        TextFormat::Csv(EncodingChoice::Utf8),
        TextFormat::Csv(EncodingChoice::Gb18030),
        TextFormat::JsonLines,
    ] {
        let check = match check_export(data, format, zone) {
            Ok(check) => check,
            Err(e) => {
                assert!(
                    !e.to_string().is_empty(),
                    "{format:?}: an error without a message"
                );
                outcome.files_refused += 1;
                continue;
            }
        };
        for problems in &check.refused {
            assert!(
                !problems.is_empty(),
                "{format:?}: a row refused without a problem"
            );
            for problem in problems {
                assert!(
                    !problem.column.is_empty() && !problem.reason.trim().is_empty(),
                    "{format:?}: a problem that names no column or reason: {problem:?}"
                );
            }
        }
        for record in &check.records {
            assert!(
                !record.key().is_empty(),
                "{format:?}: a record without a key"
            );
            match record {
                Record::FeeLine(fee) => assert!(
                    fee.cnt.is_finite() && fee.pric.is_finite() && !fee.psn_no.is_empty(),
                    "{format:?}: {fee:?}"
                ),
                Record::Settlement(s) => {
                    if let (Some(adm), Some(dscg)) = (s.adm_time_ms, s.dscg_time_ms) {
                        assert!(
                            dscg >= adm,
                            "{format:?}: discharge before admission kept: {s:?}"
                        );
                    }
                }
            }
            assert_eq!(
                record.digest().len(),
                64,
                "{format:?}: digest of {record:?}"
            );
        }
        outcome.records += check.records.len();
        outcome.rows_refused += check.refused.len();
    }
    outcome
}

/// Formats fen as the yuan text an export would hold.
fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:02}",
        fen.unsigned_abs() / 100,
        fen.unsigned_abs() % 100
    )
}

/// Runs `data` as a text cell through every value parser, and its first 8 bytes as a spreadsheet number;
/// an amount that parses must come back the same from its own yuan text. Panics when a check fails.
pub fn cell_values(data: &[u8]) {
    let zone = ImportOptions::default().zone;
    let mut cells = vec![Cell::text(&String::from_utf8_lossy(data))];
    if let Some(bytes) = data.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
        cells.push(Cell::Number(f64::from_le_bytes(bytes)));
    }
    for cell in &cells {
        let _ = text(cell);
        if let Ok(Some(fen)) = money_fen(cell) {
            assert_eq!(
                money_fen(&Cell::text(&yuan(fen))),
                Ok(Some(fen)),
                "{cell:?} → {fen} fen does not read back"
            );
        }
        if let Ok(Some(n)) = decimal(cell) {
            assert!(n.is_finite(), "{cell:?} → {n}");
        }
        let _ = local_time_ms(cell, zone);
    }
}
