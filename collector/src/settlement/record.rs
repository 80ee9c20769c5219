//! Typed settlement and fee-line records, built from one row of cells; every problem in the row is
//! reported with its column.

use super::columns::{Field, FileKind, HeaderMap};
use super::values::{Cell, decimal, local_time_ms, money_fen, text};
use chrono_tz::Tz;
use serde::Serialize;
use wardwatch_protocol::{InstitutionCode, PsnNo};

/// One settlement (结算).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settlement {
    pub setl_id: String,
    pub mdtrt_id: String,
    pub psn_no: String,
    pub psn_name: Option<String>,
    pub certno: Option<String>,
    pub fixmedins_code: String,
    pub fixmedins_name: Option<String>,
    pub med_type: Option<String>,
    pub setl_time_ms: i64,
    pub medfee_sumamt_fen: i64,
    pub fund_pay_sumamt_fen: i64,
    pub adm_time_ms: Option<i64>,
    pub dscg_time_ms: Option<i64>,
    pub wardarea_codg: Option<String>,
    pub bedno: Option<String>,
}

/// One fee line (费用明细); `cnt` is negative for refunds.
///
/// `fixmedins_code` and `init_feedetl_sn` came with the national export's later layout: they are left
/// out of the record's digest when absent, so a line stored before they were read keeps its digest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeeLine {
    pub feedetl_sn: String,
    pub mdtrt_id: String,
    pub psn_no: String,
    pub fee_ocur_time_ms: i64,
    pub hilist_code: String,
    pub hilist_name: Option<String>,
    pub med_list_codg: Option<String>,
    pub cnt: f64,
    pub pric: f64,
    pub det_item_fee_sumamt_fen: i64,
    pub bilg_dept_codg: Option<String>,
    /// The line's own institution (定点医药机构编号), a valid [`InstitutionCode`]; `None` when the
    /// export lacks it (the institution then comes from the settlement of the same `mdtrt_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixmedins_code: Option<String>,
    /// For a refund (negative `cnt`): the `feedetl_sn` of the line it refunds (原费用流水号).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_feedetl_sn: Option<String>,
}

impl FeeLine {
    /// A refund (冲销) line: negative `cnt`.
    pub fn is_refund(&self) -> bool {
        self.cnt < 0.0
    }
}

/// A parsed row.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A settlement row.
    Settlement(Settlement),
    /// A fee-line row.
    FeeLine(FeeLine),
}

impl Record {
    /// The record's key (`setl_id` or `feedetl_sn`).
    pub fn key(&self) -> &str {
        match self {
            Record::Settlement(s) => &s.setl_id,
            Record::FeeLine(f) => &f.feedetl_sn,
        }
    }

    /// SHA-256 of the record's canonical JSON: equal records, equal digests.
    pub fn digest(&self) -> String {
        let json = match self {
            Record::Settlement(s) => serde_json::to_vec(s),
            Record::FeeLine(f) => serde_json::to_vec(f),
        }
        .unwrap_or_default();
        wardwatch_protocol::Digest::of(&json).to_string()
    }
}

/// One problem in one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellError {
    /// The column's field.
    pub field: Field,
    /// What is wrong.
    pub reason: String,
}

/// Reads a row's fields, collecting every problem instead of stopping at the first.
struct RowReader<'a> {
    cells: &'a dyn Fn(Field) -> Cell,
    errors: Vec<CellError>,
    zone: Tz,
}

impl RowReader<'_> {
    fn fail(&mut self, field: Field, reason: String) {
        self.errors.push(CellError { field, reason });
    }

    fn required<T>(&mut self, field: Field, value: Result<Option<T>, String>) -> Option<T> {
        match value {
            Ok(Some(v)) => Some(v),
            Ok(None) => {
                self.fail(field, "is empty".into());
                None
            }
            Err(reason) => {
                self.fail(field, reason);
                None
            }
        }
    }

    fn optional<T>(&mut self, field: Field, value: Result<Option<T>, String>) -> Option<T> {
        match value {
            Ok(v) => v,
            Err(reason) => {
                self.fail(field, reason);
                None
            }
        }
    }

    fn text(&mut self, field: Field) -> Option<String> {
        let v = text(&(self.cells)(field));
        self.required(field, v)
    }

    fn opt_text(&mut self, field: Field) -> Option<String> {
        let v = text(&(self.cells)(field));
        self.optional(field, v)
    }

    fn money(&mut self, field: Field) -> Option<i64> {
        let v = money_fen(&(self.cells)(field));
        self.required(field, v)
    }

    fn decimal(&mut self, field: Field) -> Option<f64> {
        let v = decimal(&(self.cells)(field));
        self.required(field, v)
    }

    fn time(&mut self, field: Field) -> Option<i64> {
        let v = local_time_ms(&(self.cells)(field), self.zone);
        self.required(field, v)
    }

    fn opt_time(&mut self, field: Field) -> Option<i64> {
        let v = local_time_ms(&(self.cells)(field), self.zone);
        self.optional(field, v)
    }

    /// An institution code: `Ok(None)` when empty, a cell error when it is not a valid code.
    fn institution(&mut self, field: Field, required: bool) -> Option<String> {
        let code = if required {
            self.text(field)?
        } else {
            self.opt_text(field)?
        };
        match code.parse::<InstitutionCode>() {
            Ok(_) => Some(code),
            Err(e) => {
                self.fail(field, e.why.to_owned());
                None
            }
        }
    }

    fn psn_no(&mut self) -> Option<String> {
        let value = self.text(Field::PsnNo)?;
        match value.parse::<PsnNo>() {
            Ok(_) => Some(value),
            Err(e) => {
                self.fail(Field::PsnNo, e.why.to_owned());
                None
            }
        }
    }
}

/// Builds a record from a row. `cells` returns the cell for a field (`Empty` when the column is absent).
pub fn parse_row(
    kind: FileKind,
    cells: &dyn Fn(Field) -> Cell,
    zone: Tz,
) -> Result<Record, Vec<CellError>> {
    let mut r = RowReader {
        cells,
        errors: Vec::new(),
        zone,
    };
    let record = match kind {
        FileKind::Settlements => {
            let setl_id = r.text(Field::SetlId);
            let mdtrt_id = r.text(Field::MdtrtId);
            let psn_no = r.psn_no();
            let fixmedins_code = r.institution(Field::FixmedinsCode, true);
            let setl_time_ms = r.time(Field::SetlTime);
            let medfee = r.money(Field::MedfeeSumamt);
            let fund = r.money(Field::FundPaySumamt);
            let adm_time_ms = r.opt_time(Field::AdmTime);
            let dscg_time_ms = r.opt_time(Field::DscgTime);
            if let (Some(adm), Some(dscg)) = (adm_time_ms, dscg_time_ms)
                && dscg < adm
            {
                r.fail(Field::DscgTime, "discharge is before admission".into());
            }
            let settlement = Settlement {
                psn_name: r.opt_text(Field::PsnName),
                certno: r.opt_text(Field::Certno),
                fixmedins_name: r.opt_text(Field::FixmedinsName),
                med_type: r.opt_text(Field::MedType),
                wardarea_codg: r.opt_text(Field::WardareaCodg),
                bedno: r.opt_text(Field::Bedno),
                setl_id: setl_id.unwrap_or_default(),
                mdtrt_id: mdtrt_id.unwrap_or_default(),
                psn_no: psn_no.unwrap_or_default(),
                fixmedins_code: fixmedins_code.unwrap_or_default(),
                setl_time_ms: setl_time_ms.unwrap_or_default(),
                medfee_sumamt_fen: medfee.unwrap_or_default(),
                fund_pay_sumamt_fen: fund.unwrap_or_default(),
                adm_time_ms,
                dscg_time_ms,
            };
            Record::Settlement(settlement)
        }
        FileKind::FeeLines => {
            let feedetl_sn = r.text(Field::FeedetlSn).unwrap_or_default();
            let init_feedetl_sn = r.opt_text(Field::InitFeedetlSn);
            if init_feedetl_sn.as_deref() == Some(feedetl_sn.as_str()) {
                r.fail(
                    Field::InitFeedetlSn,
                    "names the line itself: a line cannot refund itself".into(),
                );
            }
            let fee = FeeLine {
                feedetl_sn,
                mdtrt_id: r.text(Field::MdtrtId).unwrap_or_default(),
                psn_no: r.psn_no().unwrap_or_default(),
                fee_ocur_time_ms: r.time(Field::FeeOcurTime).unwrap_or_default(),
                hilist_code: r.text(Field::HilistCode).unwrap_or_default(),
                hilist_name: r.opt_text(Field::HilistName),
                med_list_codg: r.opt_text(Field::MedListCodg),
                cnt: r.decimal(Field::Cnt).unwrap_or_default(),
                pric: r.decimal(Field::Pric).unwrap_or_default(),
                det_item_fee_sumamt_fen: r.money(Field::DetItemFeeSumamt).unwrap_or_default(),
                bilg_dept_codg: r.opt_text(Field::BilgDeptCodg),
                fixmedins_code: r.institution(Field::FixmedinsCode, false),
                init_feedetl_sn,
            };
            Record::FeeLine(fee)
        }
    };
    if r.errors.is_empty() {
        Ok(record)
    } else {
        Err(r.errors)
    }
}

/// A row's cells looked up through a header map.
pub fn cells_by_header<'a>(header: &'a HeaderMap, row: &'a [Cell]) -> impl Fn(Field) -> Cell + 'a {
    move |field| {
        header
            .columns
            .get(&field)
            .and_then(|&i| row.get(i))
            .cloned()
            .unwrap_or(Cell::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> Tz {
        "Asia/Shanghai".parse().unwrap()
    }

    #[test]
    fn a_fee_line_row_with_every_problem_reported() {
        let header = HeaderMap::from_headers(&[
            "feedetl_sn",
            "mdtrt_id",
            "psn_no",
            "fee_ocur_time",
            "hilist_code",
            "cnt",
            "pric",
            "det_item_fee_sumamt",
        ])
        .unwrap();
        let good: Vec<Cell> = [
            "F1",
            "M1",
            "4306001",
            "2026-11-02 08:00:00",
            "C001",
            "-1",
            "410.5",
            "-410.50",
        ]
        .iter()
        .map(|s| Cell::text(s))
        .collect();
        let record = parse_row(header.kind, &cells_by_header(&header, &good), zone()).unwrap();
        let Record::FeeLine(fee) = record else {
            panic!()
        };
        assert_eq!((fee.cnt, fee.det_item_fee_sumamt_fen), (-1.0, -41050));

        let bad: Vec<Cell> = ["F2", "", "43-06", "yesterday", "C001", "x", "1", "1.234"]
            .iter()
            .map(|s| Cell::text(s))
            .collect();
        let errors = parse_row(header.kind, &cells_by_header(&header, &bad), zone()).unwrap_err();
        let fields: Vec<Field> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                Field::MdtrtId,
                Field::PsnNo,
                Field::FeeOcurTime,
                Field::Cnt,
                Field::DetItemFeeSumamt
            ]
        );
    }

    #[test]
    fn a_fee_line_reads_its_institution_and_the_line_it_refunds() {
        // The required columns by their Chinese headers (in the order of the cells below), then the two.
        let mut headers: Vec<&str> = FileKind::FeeLines
            .required()
            .iter()
            .map(|f| f.chinese())
            .collect();
        headers.extend(["定点医药机构编号", "原费用流水号"]);
        let header = HeaderMap::from_headers(&headers).unwrap();
        let row =
            |cells: [&str; 10]| -> Vec<Cell> { cells.iter().map(|s| Cell::text(s)).collect() };
        let parse =
            |cells: Vec<Cell>| parse_row(header.kind, &cells_by_header(&header, &cells), zone());
        let refund = row([
            "F2",
            "M1",
            "4306001",
            "2026-11-02 09:00:00",
            "C001",
            "-1",
            "410",
            "-410",
            "H43060200175",
            "F1",
        ]);
        let Ok(Record::FeeLine(fee)) = parse(refund) else {
            panic!()
        };
        assert!(fee.is_refund());
        assert_eq!(fee.fixmedins_code.as_deref(), Some("H43060200175"));
        assert_eq!(fee.init_feedetl_sn.as_deref(), Some("F1"));

        // Empty cells: neither is required, and the digest of such a line is the one it had before
        // the two columns were read.
        let bare = row([
            "F1",
            "M1",
            "4306001",
            "2026-11-02 08:00:00",
            "C001",
            "1",
            "410",
            "410",
            "",
            "",
        ]);
        let record = parse(bare).unwrap();
        let Record::FeeLine(fee) = &record else {
            panic!()
        };
        assert_eq!((&fee.fixmedins_code, &fee.init_feedetl_sn), (&None, &None));
        let json = serde_json::to_string(fee).unwrap();
        assert!(
            !json.contains("fixmedins_code") && !json.contains("init_feedetl_sn"),
            "{json}"
        );

        let bad = row([
            "F3",
            "M1",
            "4306001",
            "2026-11-02 08:00:00",
            "C001",
            "-1",
            "410",
            "-410",
            "H43-06",
            "F3",
        ]);
        let errors = parse(bad).unwrap_err();
        let fields: Vec<Field> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [Field::InitFeedetlSn, Field::FixmedinsCode],
            "{errors:?}"
        );
    }
}
