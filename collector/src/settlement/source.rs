//! Readers for exported files: CSV (UTF-8 or GB18030, detected or forced), XLSX (first sheet or a named
//! one) and JSON Lines. Each yields the header mapping and then rows of cells with their row number in
//! the file (the line for CSV and JSON Lines, the sheet row for XLSX), streaming where the format allows.
//! CSV and JSON Lines can also be read from any `Read` ([`read_csv`], [`read_jsonl`]); [`open`] reads a
//! file by its extension.

use super::columns::{Field, HeaderError, HeaderMap};
use super::values::Cell;
use calamine::{Data, Reader};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Which text encoding a CSV file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EncodingChoice {
    /// UTF-8 when the start of the file is valid UTF-8, else GB18030 (a byte-order mark wins).
    #[default]
    Auto,
    /// UTF-8.
    Utf8,
    /// GB18030 (a superset of GBK and GB2312).
    Gb18030,
}

/// How to read a file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// XLSX: the sheet to read (default: the first).
    pub sheet: Option<String>,
    /// CSV: the encoding.
    pub encoding: EncodingChoice,
}

/// A file could not be read as a whole (row-level problems are reported per row instead).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Nothing to import.
    #[error("{path}: the file is empty (0 bytes or no header row)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Neither UTF-8 nor GB18030.
    #[error(
        "{path}: the text is neither UTF-8 nor GB18030 (first undecodable byte at offset {offset}); \
         re-export it as UTF-8 or GB18030, or pass --encoding"
    )]
    Encoding {
        /// The file.
        path: PathBuf,
        /// Byte offset of the first bad byte.
        offset: usize,
    },
    /// The header row does not fit.
    #[error("{path}: {source}")]
    Header {
        /// The file.
        path: PathBuf,
        /// What is wrong with the header.
        source: HeaderError,
    },
    /// The extension names no supported format.
    #[error("{path}: unsupported file type (expected .csv, .xlsx or .jsonl)")]
    Format {
        /// The file.
        path: PathBuf,
    },
    /// A sheet declares (or its header spans) more columns than any export has: refused unread.
    #[error(
        "{path}: sheet {sheet:?} {what}; refused without reading it (at most {MAX_XLSX_COLUMNS} \
         columns are read: a settlement export has a few dozen)"
    )]
    SheetTooLarge {
        /// The file.
        path: PathBuf,
        /// The sheet.
        sheet: String,
        /// What it declares or holds.
        what: String,
    },
    /// The spreadsheet could not be opened.
    #[error("{path}: cannot read the workbook: {message}")]
    Workbook {
        /// The file.
        path: PathBuf,
        /// calamine's message.
        message: String,
    },
    /// A row could not even be split into cells.
    #[error("{path}: row {row}: {message}")]
    Row {
        /// The file.
        path: PathBuf,
        /// Row number.
        row: u64,
        /// What went wrong.
        message: String,
    },
}

/// A row: its number in the file and its cells (indexed as the header map says), or a problem that
/// concerns the whole row.
pub type RowResult = Result<(u64, Vec<Cell>), (u64, String)>;

/// An opened file: what it holds and its rows.
pub struct Table {
    /// Columns → fields, and the file kind.
    pub header: HeaderMap,
    /// The encoding used (CSV) or the format.
    pub format: String,
    /// The rows, in file order.
    pub rows: Box<dyn Iterator<Item = RowResult>>,
}

/// Opens a file by its extension.
pub fn open(path: &Path, options: &ReadOptions) -> Result<Table, ReadError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    if std::fs::metadata(path).map_err(io)?.len() == 0 {
        return Err(ReadError::Empty {
            path: path.to_owned(),
        });
    }
    match extension.as_str() {
        "csv" | "txt" => open_csv(path, options.encoding),
        "xlsx" | "xlsm" | "xls" => open_workbook(path, options.sheet.as_deref()),
        "jsonl" | "ndjson" | "json" => open_jsonl(path),
        _ => Err(ReadError::Format {
            path: path.to_owned(),
        }),
    }
}

/// Decides a CSV file's encoding from its first 64 KiB.
fn sniff_encoding(path: &Path, head: &[u8]) -> Result<&'static encoding_rs::Encoding, ReadError> {
    if head.starts_with(b"\xEF\xBB\xBF") {
        return Ok(encoding_rs::UTF_8);
    }
    if let Some((encoding, _)) = encoding_rs::Encoding::for_bom(head) {
        return Ok(encoding);
    }
    let first_bad = match std::str::from_utf8(head) {
        Ok(_) => return Ok(encoding_rs::UTF_8),
        // A character cut by the 64 KiB window is not an error.
        Err(e) if e.error_len().is_none() => return Ok(encoding_rs::UTF_8),
        Err(e) => e.valid_up_to(),
    };
    // A full window may end inside a character (cutting off a fixed number of bytes does not help: a
    // cut can land inside any character), so it is decoded as a stream that goes on.
    let window_is_full = head.len() == SNIFF_BYTES;
    let mut decoder = encoding_rs::GB18030.new_decoder_without_bom_handling();
    let mut scratch = [0u8; 4096];
    let mut rest = head;
    loop {
        let (result, read, _) =
            decoder.decode_to_utf8_without_replacement(rest, &mut scratch, !window_is_full);
        rest = &rest[read..];
        match result {
            encoding_rs::DecoderResult::InputEmpty => return Ok(encoding_rs::GB18030),
            encoding_rs::DecoderResult::OutputFull => continue,
            encoding_rs::DecoderResult::Malformed(_, _) => {
                return Err(ReadError::Encoding {
                    path: path.to_owned(),
                    offset: first_bad,
                });
            }
        }
    }
}

const SNIFF_BYTES: usize = 64 * 1024;

fn open_csv(path: &Path, choice: EncodingChoice) -> Result<Table, ReadError> {
    let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_csv(file, path, choice)
}

/// A CSV reader over bytes decoded to UTF-8 from their detected (or forced) encoding.
pub(crate) type DecodedCsv = csv::Reader<Box<dyn Read>>;

/// A CSV reader over `input` decoded to UTF-8 (the encoding detected from the first 64 KiB, which are
/// then read again, or forced), with the header row expected and rows of any width allowed; `path` only
/// names the source in errors. Also used by other CSV importers (the institutions registry).
pub(crate) fn csv_reader(
    mut input: impl Read + 'static,
    path: &Path,
    choice: EncodingChoice,
) -> Result<(DecodedCsv, &'static encoding_rs::Encoding), ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let mut head = vec![0u8; SNIFF_BYTES];
    let mut filled = 0;
    while filled < head.len() {
        let n = input.read(&mut head[filled..]).map_err(io)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    let encoding = match choice {
        EncodingChoice::Auto => sniff_encoding(path, &head)?,
        EncodingChoice::Utf8 => encoding_rs::UTF_8,
        EncodingChoice::Gb18030 => encoding_rs::GB18030,
    };
    let decoded: Box<dyn Read> = Box::new(
        encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(Some(encoding))
            .build(std::io::Cursor::new(head).chain(input)),
    );
    let reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(decoded);
    Ok((reader, encoding))
}

/// Reads a CSV export from any reader (a file, bytes in memory), streaming; `path` only names the
/// source in errors. The encoding is decided from the first 64 KiB, which are then read again.
pub fn read_csv(
    input: impl Read + 'static,
    path: &Path,
    choice: EncodingChoice,
) -> Result<Table, ReadError> {
    let (mut reader, encoding) = csv_reader(input, path, choice)?;
    let headers = reader
        .headers()
        .map_err(|e| ReadError::Row {
            path: path.to_owned(),
            row: 1,
            message: e.to_string(),
        })?
        .clone();
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(ReadError::Empty {
            path: path.to_owned(),
        });
    }
    let header =
        HeaderMap::from_headers(&headers.iter().collect::<Vec<_>>()).map_err(|source| {
            ReadError::Header {
                path: path.to_owned(),
                source,
            }
        })?;
    let width = headers.len();
    let rows = reader.into_records().map(move |record| match record {
        Ok(record) => {
            let row = record.position().map_or(0, |p| p.line());
            if record.iter().all(|c| c.trim().is_empty()) {
                return Ok((row, Vec::new()));
            }
            if record.len() != width {
                return Err((
                    row,
                    format!("has {} fields but the header has {width}", record.len()),
                ));
            }
            if record.iter().any(|c| c.contains('\u{FFFD}')) {
                return Err((
                    row,
                    format!("contains bytes that are not valid {}", encoding.name()),
                ));
            }
            Ok((row, record.iter().map(Cell::text).collect()))
        }
        Err(e) => {
            let row = e.position().map_or(0, |p| p.line());
            Err((row, e.to_string()))
        }
    });
    Ok(Table {
        header,
        format: format!("CSV ({})", encoding.name()),
        rows: Box::new(rows),
    })
}

fn data_cell(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::text(s),
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::Bool(b) => Cell::text(if *b { "true" } else { "false" }),
        Data::DateTime(t) => t.as_datetime().map_or(Cell::Empty, Cell::DateTime),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::text(s),
        Data::Error(e) => Cell::text(&format!("#ERROR {e:?}")),
    }
}

/// The widest sheet read: a settlement or fee-line export has a few dozen columns. A sheet that
/// declares more, or whose header row is wider, is refused before any row is read.
pub const MAX_XLSX_COLUMNS: u32 = 1024;

/// Rows read ahead of the importer: what the reader thread may hold beyond the row being imported.
const XLSX_ROWS_IN_FLIGHT: usize = 256;

/// What the reader thread sends: first the sheet's name and header cells (or why there are none), then
/// its rows.
enum SheetItem {
    Header(Result<(String, Vec<String>), ReadError>),
    Row(RowResult),
}

/// `A1`-style name of a zero-based column.
fn column_name(col: u32) -> String {
    let mut n = col + 1;
    let mut name = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        name.push(b'A' + rem);
        n = (n - 1) / 26;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

/// Opens an XLSX workbook and streams the sheet's rows from a reader thread (calamine's cell reader
/// over the sheet's XML), so that memory holds a few rows at a time rather than the sheet: nothing is
/// allocated for the sheet's declared size or for the area between its cells. The header is the first
/// row with a non-empty cell; its first and last non-empty cells bound the columns read (cells outside
/// them have no header and are ignored, as are rows with no cell inside them). A sheet that declares
/// more than [`MAX_XLSX_COLUMNS`] columns, or whose header row is wider, is refused naming the file
/// and the sheet. Legacy `.xls` files are refused: calamine reads every sheet of one whole at open.
fn open_workbook(path: &Path, sheet: Option<&str>) -> Result<Table, ReadError> {
    let workbook_error = |message: String| ReadError::Workbook {
        path: path.to_owned(),
        message,
    };
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xls"))
    {
        return Err(workbook_error(
            "legacy .xls workbooks are not read (their reader loads every sheet whole, whatever its \
             size); save it as .xlsx or CSV"
                .into(),
        ));
    }
    let (sender, receiver) = std::sync::mpsc::sync_channel(XLSX_ROWS_IN_FLIGHT);
    let (owned_path, owned_sheet) = (path.to_owned(), sheet.map(str::to_owned));
    std::thread::Builder::new()
        .name("xlsx-reader".into())
        .spawn(move || stream_sheet(&owned_path, owned_sheet.as_deref(), &sender))
        .map_err(|source| ReadError::Io {
            path: path.to_owned(),
            source,
        })?;
    let (name, headers) = match receiver.recv() {
        Ok(SheetItem::Header(header)) => header?,
        Ok(SheetItem::Row(_)) | Err(_) => {
            return Err(workbook_error(
                "the sheet reader stopped before the header row".into(),
            ));
        }
    };
    let header = HeaderMap::from_headers(&headers).map_err(|source| ReadError::Header {
        path: path.to_owned(),
        source,
    })?;
    let rows = receiver.into_iter().map_while(|item| match item {
        SheetItem::Row(row) => Some(row),
        SheetItem::Header(_) => None,
    });
    Ok(Table {
        header,
        format: format!("XLSX (sheet {name:?})"),
        rows: Box::new(rows),
    })
}

/// A sheet cell with its (row, column).
type PlacedCell = ((u32, u32), Data);

/// The reader thread: sends the header, then each row, until the sheet ends or the importer stops
/// listening.
fn stream_sheet(path: &Path, sheet: Option<&str>, out: &std::sync::mpsc::SyncSender<SheetItem>) {
    let workbook_error = |message: String| ReadError::Workbook {
        path: path.to_owned(),
        message,
    };
    let mut workbook: calamine::Xlsx<_> = match calamine::open_workbook(path) {
        Ok(workbook) => workbook,
        Err(e) => {
            let _ = out.send(SheetItem::Header(Err(workbook_error(e.to_string()))));
            return;
        }
    };
    let names = workbook.sheet_names();
    let name = match sheet {
        Some(wanted) => names.iter().find(|n| n.as_str() == wanted).cloned(),
        None => names.first().cloned(),
    };
    let Some(name) = name else {
        let why = match sheet {
            Some(wanted) => format!("no sheet {wanted:?}; the sheets are {names:?}"),
            None => "the workbook has no sheets".into(),
        };
        let _ = out.send(SheetItem::Header(Err(workbook_error(why))));
        return;
    };
    let mut cells = match workbook.worksheet_cells_reader(&name) {
        Ok(cells) => cells,
        Err(e) => {
            let _ = out.send(SheetItem::Header(Err(workbook_error(format!(
                "sheet {name:?}: {e}"
            )))));
            return;
        }
    };
    let too_large = |what: String| ReadError::SheetTooLarge {
        path: path.to_owned(),
        sheet: name.clone(),
        what,
    };
    let declared = cells.dimensions();
    let declared_columns = u64::from(declared.end.1.saturating_sub(declared.start.1)) + 1;
    if declared_columns > u64::from(MAX_XLSX_COLUMNS) {
        let rows = u64::from(declared.end.0.saturating_sub(declared.start.0)) + 1;
        let _ = out.send(SheetItem::Header(Err(too_large(format!(
            "declares its cells as {}{}:{}{} ({rows} rows × {declared_columns} columns)",
            column_name(declared.start.1),
            declared.start.0 + 1,
            column_name(declared.end.1),
            declared.end.0 + 1,
        )))));
        return;
    }
    let mut next = || -> Result<Option<PlacedCell>, String> {
        loop {
            match cells.next_cell() {
                Ok(None) => return Ok(None),
                Ok(Some(cell)) => {
                    let value = Data::from(cell.get_value().clone());
                    if value != Data::Empty {
                        return Ok(Some((cell.get_position(), value)));
                    }
                }
                Err(e) => return Err(format!("cannot read sheet {name:?}: {e}")),
            }
        }
    };
    // The header row: the first row with a non-empty cell.
    let mut header_cells: Vec<(u32, String)> = Vec::new();
    let mut header_row: Option<u32> = None;
    let mut carried = None;
    loop {
        match next() {
            Ok(Some((pos, value))) => match header_row {
                None => {
                    header_row = Some(pos.0);
                    header_cells.push((pos.1, value.to_string()));
                }
                Some(row) if row == pos.0 => header_cells.push((pos.1, value.to_string())),
                Some(_) => {
                    carried = Some((pos, value));
                    break;
                }
            },
            Ok(None) => break,
            Err(why) => {
                let _ = out.send(SheetItem::Header(Err(workbook_error(why))));
                return;
            }
        }
    }
    let Some(header_row) = header_row else {
        let _ = out.send(SheetItem::Header(Err(ReadError::Empty {
            path: path.to_owned(),
        })));
        return;
    };
    let first = header_cells.iter().map(|(c, _)| *c).min().unwrap_or(0);
    let last = header_cells.iter().map(|(c, _)| *c).max().unwrap_or(0);
    let width = last - first + 1;
    if width > MAX_XLSX_COLUMNS {
        let _ = out.send(SheetItem::Header(Err(too_large(format!(
            "has a header row {} from column {} to {} ({width} columns)",
            header_row + 1,
            column_name(first),
            column_name(last)
        )))));
        return;
    }
    let mut headers = vec![String::new(); width as usize];
    for (col, text) in header_cells {
        headers[(col - first) as usize] = text;
    }
    if out
        .send(SheetItem::Header(Ok((name.clone(), headers))))
        .is_err()
    {
        return;
    }
    // The rows, one at a time.
    let mut current: Option<(u32, Vec<Cell>)> = None;
    let flush = |current: &mut Option<(u32, Vec<Cell>)>| {
        current.take().is_none_or(|(row, cells)| {
            out.send(SheetItem::Row(Ok((u64::from(row) + 1, cells))))
                .is_ok()
        })
    };
    loop {
        let (pos, value) = match carried.take().map_or_else(&mut next, |cell| Ok(Some(cell))) {
            Ok(Some(cell)) => cell,
            Ok(None) => break,
            Err(why) => {
                // Reported at the row after the last one read whole; nothing after it is read.
                let row = current.as_ref().map_or(header_row, |(r, _)| *r);
                if flush(&mut current) {
                    let _ = out.send(SheetItem::Row(Err((u64::from(row) + 2, why))));
                }
                return;
            }
        };
        let (row, col) = pos;
        if col < first || col > last {
            continue;
        }
        let current_row = current.as_ref().map_or(header_row, |(r, _)| *r);
        // Rows must ascend (ECMA-376 writes them in order); a cell of an earlier row is refused.
        if row < current_row || (row == current_row && current.is_none()) {
            let message = format!(
                "cell {}{} comes after row {}: the sheet's rows are out of order",
                column_name(col),
                row + 1,
                current_row + 1
            );
            if out
                .send(SheetItem::Row(Err((u64::from(row) + 1, message))))
                .is_err()
            {
                return;
            }
            continue;
        }
        if current.as_ref().is_none_or(|(r, _)| *r != row) {
            if !flush(&mut current) {
                return;
            }
            current = Some((row, vec![Cell::Empty; width as usize]));
        }
        if let Some((_, cells)) = current.as_mut() {
            cells[(col - first) as usize] = data_cell(&value);
        }
    }
    let _ = flush(&mut current);
}

/// One JSON Lines row: keys and their raw JSON values.
type JsonRow = std::collections::BTreeMap<String, Box<serde_json::value::RawValue>>;

/// Every field, in a fixed order: JSON Lines rows are laid out in it.
const ALL_FIELDS: [Field; 25] = [
    Field::SetlId,
    Field::MdtrtId,
    Field::PsnNo,
    Field::PsnName,
    Field::Certno,
    Field::FixmedinsCode,
    Field::FixmedinsName,
    Field::MedType,
    Field::SetlTime,
    Field::MedfeeSumamt,
    Field::FundPaySumamt,
    Field::AdmTime,
    Field::DscgTime,
    Field::WardareaCodg,
    Field::Bedno,
    Field::FeedetlSn,
    Field::FeeOcurTime,
    Field::HilistCode,
    Field::HilistName,
    Field::MedListCodg,
    Field::Cnt,
    Field::Pric,
    Field::DetItemFeeSumamt,
    Field::BilgDeptCodg,
    Field::InitFeedetlSn,
];

/// A JSON value as a cell. Numbers keep their exact text: a 20-digit `psn_no` written as a JSON number
/// must not pass through f64.
fn json_cell(raw: &serde_json::value::RawValue) -> Cell {
    let text = raw.get().trim();
    if text == "null" {
        Cell::Empty
    } else if text.starts_with('"') {
        serde_json::from_str::<String>(text).map_or_else(|_| Cell::text(text), |s| Cell::text(&s))
    } else {
        Cell::text(text)
    }
}

fn open_jsonl(path: &Path) -> Result<Table, ReadError> {
    let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_jsonl(file, path)
}

/// Reads a JSON Lines export from any reader (a file, bytes in memory), streaming; `path` only names
/// the source in errors.
pub fn read_jsonl(input: impl Read + 'static, path: &Path) -> Result<Table, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let mut lines = BufReader::new(input).lines();
    let mut line_no = 0u64;
    // The first non-blank line decides the kind.
    let first = loop {
        line_no += 1;
        match lines.next() {
            None => {
                return Err(ReadError::Empty {
                    path: path.to_owned(),
                });
            }
            Some(line) => {
                let line = line.map_err(io)?;
                if !line.trim().is_empty() {
                    break line;
                }
            }
        }
    };
    let parse = |line: &str| -> Result<JsonRow, String> {
        serde_json::from_str::<JsonRow>(line).map_err(|e| {
            if e.is_data() {
                format!("is not a JSON object of fields: {e}")
            } else {
                format!("is not JSON: {e}")
            }
        })
    };
    let first_map = parse(&first).map_err(|message| ReadError::Row {
        path: path.to_owned(),
        row: line_no,
        message,
    })?;
    let keys: Vec<&String> = first_map.keys().collect();
    let detected = HeaderMap::from_headers(&keys).map_err(|source| ReadError::Header {
        path: path.to_owned(),
        source,
    })?;
    let header = HeaderMap {
        kind: detected.kind,
        columns: ALL_FIELDS
            .iter()
            .enumerate()
            .map(|(i, f)| (*f, i))
            .collect(),
        ignored: detected.ignored,
        absent: detected.absent,
    };
    let to_row = |map: &JsonRow| {
        let mut cells = vec![Cell::Empty; ALL_FIELDS.len()];
        for (key, value) in map {
            if let Some(field) = Field::from_header(key)
                && let Some(i) = ALL_FIELDS.iter().position(|f| *f == field)
            {
                cells[i] = json_cell(value);
            }
        }
        cells
    };
    let first_row = (line_no, to_row(&first_map));
    let path_owned = path.to_owned();
    let rest = lines.enumerate().map(move |(i, line)| {
        let row = line_no + 1 + i as u64;
        let line = line.map_err(|e| (row, format!("cannot read {}: {e}", path_owned.display())))?;
        if line.trim().is_empty() {
            return Ok((row, Vec::new()));
        }
        parse(&line)
            .map(|map| (row, to_row(&map)))
            .map_err(|m| (row, m))
    });
    Ok(Table {
        header,
        format: "JSON Lines".into(),
        rows: Box::new(std::iter::once(Ok(first_row)).chain(rest)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GB18030 fee-line file whose 64 KiB sniffing window ends `cut` bytes into a two-byte character
    /// placed at every offset near the window's end.
    fn gb18030_with_a_character_at(offset: usize) -> Vec<u8> {
        let header = "费用明细流水号,就诊ID,人员编号,费用发生时间,医保目录编码,数量,单价,明细项目费用总额,备注\n";
        let mut bytes = encoding_rs::GB18030.encode(header).0.into_owned();
        let row = "F1,M1,4306001,2026-11-02 08:00:00,C001,1,410,410.00,x\n";
        let last = b"F2,M1,4306001,2026-11-02 08:00:00,C001,1,410,410.00,";
        while bytes.len() + row.len() + last.len() < offset {
            bytes.extend_from_slice(row.as_bytes());
        }
        // Pad with ASCII up to `offset`, then a remark of two-byte characters across the window's end.
        bytes.extend_from_slice(last);
        while bytes.len() < offset {
            bytes.push(b'a');
        }
        let (remark, _, _) = encoding_rs::GB18030.encode("血液透析血液透析血液透析\n");
        bytes.extend_from_slice(&remark);
        bytes
    }

    #[test]
    fn gb18030_is_detected_whatever_character_the_sniffing_window_cuts() {
        for offset in SNIFF_BYTES - 8..SNIFF_BYTES + 1 {
            let bytes = gb18030_with_a_character_at(offset);
            let table = read_csv(
                std::io::Cursor::new(bytes),
                Path::new("cut.csv"),
                EncodingChoice::Auto,
            )
            .unwrap_or_else(|e| panic!("offset {offset}: {e}"));
            assert_eq!(table.format, "CSV (gb18030)", "offset {offset}");
            let last = table.rows.last().expect("rows").expect("a good row");
            assert!(
                matches!(&last.1[8], Cell::Text(t) if t.ends_with("a血液透析血液透析血液透析")),
                "offset {offset}: {:?}",
                last.1
            );
        }
    }
}
