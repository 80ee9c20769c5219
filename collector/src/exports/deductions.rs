//! The monthly deduction detail (扣费明细): every fee line of every flag handled in the month — refused
//! (拒付, applied in the next settlement) or recovered (追回) — with the share of the handled amount
//! that falls on the line. A flag is in month M when its handling transition happened in M (local
//! dates); its `outcome_amount_fen` is spread over its lines in proportion to their amounts, in whole
//! fen, so the lines of a flag add up exactly to it. Only the flag institution's own lines are
//! listed (a fee line of another institution never reaches an institution's 扣费明细); handled flags
//! were all issued (下发) first, so nothing pending review reaches it either.

use super::money::distribute_fen;
use super::period::{Month, local_time};
use super::table::{Column, Table, Value};
use super::{ExportError, ExportFile};
use crate::institutions::InstitutionDirectory;
use crate::store::Store;
use crate::store::log_chain::ChainHead;
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::Row;

/// One line of the deduction detail.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeductionRow {
    /// 定点医药机构编号.
    pub fixmedins_code: String,
    /// 定点医药机构名称 (registry, else settlements).
    pub fixmedins_name: String,
    /// The flag.
    pub flag_id: i64,
    /// The rule that raised it.
    pub rule_id: String,
    /// The rule's Chinese name (newest rules-base version that has it), else the rule id.
    pub rule_name: String,
    /// 人员编号.
    pub psn_no: Option<String>,
    /// 人员姓名 (from the encounter's settlement).
    pub psn_name: Option<String>,
    /// 就诊ID.
    pub mdtrt_id: Option<String>,
    /// 结算ID (the encounter's settlement).
    pub setl_id: Option<String>,
    /// 费用明细流水号 (none for a flag without fee lines).
    pub feedetl_sn: Option<String>,
    /// 费用发生时间, epoch ms.
    pub fee_time_ms: Option<i64>,
    /// 医保目录编码.
    pub hilist_code: Option<String>,
    /// 医保目录名称.
    pub hilist_name: Option<String>,
    /// 数量.
    pub cnt: Option<f64>,
    /// 单价 (yuan, as exported).
    pub pric: Option<f64>,
    /// The line's amount (fen).
    pub line_amount_fen: i64,
    /// `refuse_payment` (拒付) or `recover` (追回).
    pub handling: String,
    /// When the flag was handled, epoch ms.
    pub handled_at_ms: i64,
    /// The flag's handled amount (fen).
    pub outcome_amount_fen: i64,
    /// This line's share of it (fen).
    pub deducted_fen: i64,
}

/// What to export.
#[derive(Debug, Clone)]
pub struct DeductionQuery {
    /// The month the flags were handled in.
    pub month: Month,
    /// The zone of the month and of the times shown.
    pub zone: Tz,
    /// Only this institution, if given.
    pub institution: Option<String>,
}

/// `拒付 refuse_payment` / `追回 recover`.
pub fn handling_label(action: &str) -> String {
    match action {
        "refuse_payment" => "拒付 refuse_payment".into(),
        "recover" => "追回 recover".into(),
        other => other.into(),
    }
}

/// One fee line of a handled flag, as read.
struct HandledLine {
    flag_id: i64,
    rule_id: String,
    rule_name: Option<String>,
    fixmedins_code: String,
    psn_no: Option<String>,
    outcome_amount_fen: i64,
    action: String,
    handled_at_ms: i64,
    feedetl_sn: Option<String>,
    mdtrt_id: Option<String>,
    fee_time_ms: Option<i64>,
    hilist_code: Option<String>,
    hilist_name: Option<String>,
    cnt: Option<f64>,
    pric: Option<f64>,
    line_amount_fen: Option<i64>,
    setl_id: Option<String>,
    psn_name: Option<String>,
}

impl Store {
    /// The deduction detail of a month, by institution, handling time, flag and fee line.
    pub async fn deduction_rows(
        &self,
        query: &DeductionQuery,
    ) -> Result<Vec<DeductionRow>, ExportError> {
        let (start, end) = query.month.bounds_ms(query.zone)?;
        let rows = sqlx::query(
            "SELECT fl.id, fl.rule_id, \
             (SELECT d.name_zh FROM rule_definitions d WHERE d.rule_id = fl.rule_id \
              ORDER BY d.version DESC LIMIT 1), \
             fl.fixmedins_code, fl.psn_no, COALESCE(fl.outcome_amount_fen, e.amount_fen, 0), \
             e.action, e.at_ms, f.feedetl_sn, f.mdtrt_id, f.fee_ocur_time_ms, f.hilist_code, \
             f.hilist_name, f.cnt, f.pric, f.det_item_fee_sumamt_fen, \
             (SELECT MIN(s.setl_id) FROM settlements s WHERE s.mdtrt_id = f.mdtrt_id), \
             (SELECT MIN(s.psn_name) FROM settlements s WHERE s.mdtrt_id = f.mdtrt_id) \
             FROM flag_events e \
             JOIN flags fl ON fl.id = e.flag_id \
             LEFT JOIN flag_lines l ON l.flag_id = fl.id \
             LEFT JOIN fee_lines f ON f.feedetl_sn = l.feedetl_sn \
             WHERE e.action IN ('refuse_payment', 'recover') AND e.at_ms >= $1 AND e.at_ms < $2 \
             AND ($3 = '' OR fl.fixmedins_code = $3) \
             AND (f.fixmedins_code IS NULL OR f.fixmedins_code = fl.fixmedins_code) \
             ORDER BY fl.fixmedins_code, e.at_ms, fl.id, f.feedetl_sn",
        )
        .bind(start)
        .bind(end)
        .bind(query.institution.as_deref().unwrap_or(""))
        .fetch_all(self.pool())
        .await?;
        let lines = rows
            .iter()
            .map(|r| {
                Ok(HandledLine {
                    flag_id: r.try_get(0)?,
                    rule_id: r.try_get(1)?,
                    rule_name: r.try_get(2)?,
                    fixmedins_code: r.try_get(3)?,
                    psn_no: r.try_get(4)?,
                    outcome_amount_fen: r.try_get(5)?,
                    action: r.try_get(6)?,
                    handled_at_ms: r.try_get(7)?,
                    feedetl_sn: r.try_get(8)?,
                    mdtrt_id: r.try_get(9)?,
                    fee_time_ms: r.try_get(10)?,
                    hilist_code: r.try_get(11)?,
                    hilist_name: r.try_get(12)?,
                    cnt: r.try_get(13)?,
                    pric: r.try_get(14)?,
                    line_amount_fen: r.try_get(15)?,
                    setl_id: r.try_get(16)?,
                    psn_name: r.try_get(17)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let directory = self.institution_directory().await?;
        Ok(spread_over_lines(lines, &directory))
    }
}

/// Turns the lines (grouped by flag, in order) into rows, spreading each flag's amount over its lines.
fn spread_over_lines(
    lines: Vec<HandledLine>,
    directory: &InstitutionDirectory,
) -> Vec<DeductionRow> {
    let mut rows = Vec::with_capacity(lines.len());
    for flag_lines in lines.chunk_by(|a, b| a.flag_id == b.flag_id) {
        let weights: Vec<i64> = flag_lines
            .iter()
            .map(|l| l.line_amount_fen.unwrap_or(0))
            .collect();
        let shares = distribute_fen(flag_lines[0].outcome_amount_fen, &weights);
        for (line, deducted_fen) in flag_lines.iter().zip(shares) {
            rows.push(DeductionRow {
                fixmedins_code: line.fixmedins_code.clone(),
                fixmedins_name: directory.resolve(&line.fixmedins_code).fixmedins_name,
                flag_id: line.flag_id,
                rule_id: line.rule_id.clone(),
                rule_name: line
                    .rule_name
                    .clone()
                    .unwrap_or_else(|| line.rule_id.clone()),
                psn_no: line.psn_no.clone(),
                psn_name: line.psn_name.clone(),
                mdtrt_id: line.mdtrt_id.clone(),
                setl_id: line.setl_id.clone(),
                feedetl_sn: line.feedetl_sn.clone(),
                fee_time_ms: line.fee_time_ms,
                hilist_code: line.hilist_code.clone(),
                hilist_name: line.hilist_name.clone(),
                cnt: line.cnt,
                pric: line.pric,
                line_amount_fen: line.line_amount_fen.unwrap_or(0),
                handling: line.action.clone(),
                handled_at_ms: line.handled_at_ms,
                outcome_amount_fen: line.outcome_amount_fen,
                deducted_fen,
            });
        }
    }
    rows
}

/// The columns of the deduction detail.
const COLUMNS: [(&str, f64); 20] = [
    ("定点医药机构编号 fixmedins_code", 16.0),
    ("定点医药机构名称 fixmedins_name", 24.0),
    ("疑点ID flag_id", 9.0),
    ("规则 rule_id", 18.0),
    ("规则名称 rule_name", 22.0),
    ("人员编号 psn_no", 16.0),
    ("人员姓名 psn_name", 10.0),
    ("就诊ID mdtrt_id", 16.0),
    ("结算ID setl_id", 16.0),
    ("费用明细流水号 feedetl_sn", 18.0),
    ("费用发生时间 fee_ocur_time", 19.0),
    ("医保目录编码 hilist_code", 18.0),
    ("医保目录名称 hilist_name", 22.0),
    ("数量 cnt", 7.0),
    ("单价 pric", 10.0),
    ("明细金额 det_item_fee_sumamt", 13.0),
    ("处理方式 handling", 18.0),
    ("处理时间 handled_at", 19.0),
    ("处理金额 outcome_amount", 13.0),
    ("扣费金额 deducted_amount", 13.0),
];

fn optional(value: &Option<String>) -> Value {
    value.as_deref().map_or(Value::Empty, Value::text)
}

/// The rows as a sheet (times local to `zone`), with the total row (line amounts and deducted amounts
/// summed in fen) and, below it, the log chain `heads` at the time of the export.
pub fn deduction_table(
    month: Month,
    zone: Tz,
    rows: &[DeductionRow],
    heads: &[ChainHead],
) -> Table {
    let title = match rows.first() {
        Some(first)
            if rows
                .iter()
                .all(|r| r.fixmedins_code == first.fixmedins_code) =>
        {
            format!(
                "扣费明细 deduction detail {month} — {} {}",
                first.fixmedins_code, first.fixmedins_name
            )
        }
        _ => format!("扣费明细 deduction detail {month}"),
    };
    let body = rows
        .iter()
        .map(|r| {
            vec![
                Value::text(&r.fixmedins_code),
                Value::text(&r.fixmedins_name),
                Value::Count(r.flag_id),
                Value::text(&r.rule_id),
                Value::text(&r.rule_name),
                optional(&r.psn_no),
                optional(&r.psn_name),
                optional(&r.mdtrt_id),
                optional(&r.setl_id),
                optional(&r.feedetl_sn),
                r.fee_time_ms
                    .map_or(Value::Empty, |t| Value::Text(local_time(t, zone))),
                optional(&r.hilist_code),
                optional(&r.hilist_name),
                r.cnt.map_or(Value::Empty, Value::Number),
                r.pric.map_or(Value::Empty, Value::Decimal),
                Value::Fen(r.line_amount_fen),
                Value::Text(handling_label(&r.handling)),
                Value::Text(local_time(r.handled_at_ms, zone)),
                Value::Fen(r.outcome_amount_fen),
                Value::Fen(r.deducted_fen),
            ]
        })
        .collect();
    let mut total = vec![Value::Empty; COLUMNS.len()];
    total[0] = Value::text("合计 total");
    total[15] = Value::Fen(rows.iter().map(|r| r.line_amount_fen).sum());
    total[19] = Value::Fen(rows.iter().map(|r| r.deducted_fen).sum());
    Table {
        sheet: "扣费明细 Deductions".into(),
        title: vec![title, format!("时区 time zone: {zone}")],
        columns: COLUMNS
            .iter()
            .map(|(header, width)| Column::new(header, *width))
            .collect(),
        rows: body,
        total: Some(total),
        footer: super::chain_head_rows(heads),
    }
}

/// The file name for an institution's detail: `扣费明细_2026-11_H43060200175` (+ `.xlsx` / `.csv`).
pub fn file_stem(month: Month, fixmedins_code: &str) -> String {
    format!("扣费明细_{month}_{fixmedins_code}")
}

/// The one file in `extension` (`xlsx` or `csv`) of [`deduction_files`] for `rows` of a single
/// institution (`None`: no deductions), as the API and the web app serve it.
pub fn deduction_file(
    month: Month,
    zone: Tz,
    rows: &[DeductionRow],
    heads: &[ChainHead],
    extension: &str,
) -> Result<Option<ExportFile>, ExportError> {
    let suffix = format!(".{extension}");
    Ok(deduction_files(month, zone, rows, heads)?
        .into_iter()
        .find(|f| f.name.ends_with(&suffix)))
}

/// One XLSX and one CSV per institution that has deductions, in institution order, each with the log
/// chain `heads` below its table.
pub fn deduction_files(
    month: Month,
    zone: Tz,
    rows: &[DeductionRow],
    heads: &[ChainHead],
) -> Result<Vec<ExportFile>, ExportError> {
    let mut files = Vec::new();
    for institution_rows in rows.chunk_by(|a, b| a.fixmedins_code == b.fixmedins_code) {
        let code = &institution_rows[0].fixmedins_code;
        let table = deduction_table(month, zone, institution_rows, heads);
        let stem = file_stem(month, code);
        files.push(ExportFile {
            name: format!("{stem}.xlsx"),
            bytes: super::table::to_xlsx(std::slice::from_ref(&table))?,
        });
        files.push(ExportFile {
            name: format!("{stem}.csv"),
            bytes: table.to_csv()?,
        });
    }
    Ok(files)
}
