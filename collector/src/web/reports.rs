//! 报表 Reports: a month's 扣费明细 (deduction detail) per institution and the quarter's analysis, on
//! screen and as the same files the CLI and the API write (XLSX/CSV, [`crate::exports`]). The on-screen
//! figures come from the same rows and tables as the downloads. An institution sees and downloads only
//! its own 扣费明细; the quarterly analysis is the bureau's.

use super::page::{Fields, PageError, Signed, render};
use crate::api::ApiState;
use crate::api::access::AccessNote;
use crate::api::exports::download;
use crate::exports::ExportError;
use crate::exports::deductions::{DeductionQuery, DeductionRow, deduction_file};
use crate::exports::period::{Month, Quarter};
use crate::exports::quarterly::{quarterly_file, quarterly_tables};
use crate::exports::table::{Table, Value};
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{Datelike, TimeZone};
use minijinja::context;
use serde::Serialize;
use std::collections::BTreeSet;
use wardwatch_protocol::InstitutionCode;

impl From<ExportError> for PageError {
    fn from(e: ExportError) -> Self {
        PageError::internal(e)
    }
}

/// One institution's 扣费明细 of the month, summed.
#[derive(Debug, Serialize)]
struct InstitutionSum {
    code: String,
    name: String,
    flags: usize,
    lines: usize,
    deducted_fen: i64,
}

/// A table as shown: headers, and cells as the CSV writes them (numbers right-aligned).
#[derive(Debug, Serialize)]
struct ShownTable {
    title: String,
    headers: Vec<String>,
    rows: Vec<Vec<(String, bool)>>,
}

fn shown(table: &Table) -> ShownTable {
    let cell = |v: &Value| (v.csv_text(), !matches!(v, Value::Text(_) | Value::Empty));
    ShownTable {
        title: table
            .title
            .first()
            .cloned()
            .unwrap_or_else(|| table.sheet.clone()),
        headers: table.columns.iter().map(|c| c.header.clone()).collect(),
        rows: table
            .rows
            .iter()
            .chain(table.total.iter())
            .map(|r| r.iter().map(cell).collect())
            .collect(),
    }
}

fn sums(rows: &[DeductionRow]) -> Vec<InstitutionSum> {
    rows.chunk_by(|a, b| a.fixmedins_code == b.fixmedins_code)
        .map(|group| InstitutionSum {
            code: group[0].fixmedins_code.clone(),
            name: group[0].fixmedins_name.clone(),
            flags: group
                .iter()
                .map(|r| r.flag_id)
                .collect::<BTreeSet<_>>()
                .len(),
            lines: group.iter().filter(|r| r.feedetl_sn.is_some()).count(),
            deducted_fen: group.iter().map(|r| r.deducted_fen).sum(),
        })
        .collect()
}

/// The month of now, local.
fn this_month(zone: chrono_tz::Tz) -> Month {
    let now = zone
        .timestamp_millis_opt(crate::store::now_ms())
        .single()
        .map_or((1970, 1), |t| (t.year(), t.month()));
    Month {
        year: now.0,
        month: now.1,
    }
}

/// The quarter a month is in.
fn quarter_of(month: Month) -> Quarter {
    Quarter {
        year: month.year,
        quarter: (month.month - 1) / 3 + 1,
    }
}

fn month_param(query: &Fields, zone: chrono_tz::Tz) -> Result<Month, PageError> {
    match query.get("month").map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => v
            .parse()
            .map_err(|e| PageError::bad_request(format!("month={v:?}: {e}"))),
        None => Ok(this_month(zone)),
    }
}

/// The institution a request may read: an institution user's own (another one named is 403); a bureau
/// user's choice (`None`: all).
fn institution_param(
    signed: &Signed,
    query: &Fields,
) -> Result<Option<InstitutionCode>, PageError> {
    let asked = query
        .get("institution")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.to_ascii_uppercase()
                .parse::<InstitutionCode>()
                .map_err(|e| PageError::bad_request(format!("institution={v:?}: {e}")))
        })
        .transpose()?;
    match (signed.authed.user.role.institution(), asked) {
        (Some(own), Some(other)) if *own != other => Err(PageError::forbidden()),
        (Some(own), _) => Ok(Some(own.clone())),
        (None, asked) => Ok(asked),
    }
}

/// `GET /reports?month=YYYY-MM&quarter=YYYY-QN`: the month's 扣费明细 summed per institution with its
/// downloads; for bureau users the quarter's analysis tables and its download.
pub async fn show(
    State(state): State<ApiState>,
    signed: Signed,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let query = Fields(query);
    let zone = state.zone;
    let month = month_param(&query, zone)?;
    let institution = institution_param(&signed, &query)?;
    let rows = state
        .store
        .deduction_rows(&DeductionQuery {
            month,
            zone,
            institution: institution.as_ref().map(ToString::to_string),
        })
        .await?;
    let institutions = sums(&rows);
    let bureau = signed.authed.user.role.is_bureau();
    let quarter = match query
        .get("quarter")
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        Some(v) => v
            .parse()
            .map_err(|e| PageError::bad_request(format!("quarter={v:?}: {e}")))?,
        None => quarter_of(month),
    };
    let quarterly = if bureau {
        let report = state.store.quarterly_report(quarter, zone).await?;
        quarterly_tables(&report).iter().map(shown).collect()
    } else {
        Vec::new()
    };
    let values = context! {
        month => month.to_string(),
        quarter => quarter.to_string(),
        institution => institution.map(|c| c.to_string()),
        institutions => institutions,
        total_fen => rows.iter().map(|r| r.deducted_fen).sum::<i64>(),
        bureau => bureau,
        quarterly => quarterly,
    };
    let mut response = render(&signed.ctx, "reports.html", values);
    response.extensions_mut().insert(AccessNote(format!(
        "reports {month}: {} deduction lines",
        rows.len()
    )));
    Ok(response)
}

/// `GET /reports/deductions?month=&institution=&format=xlsx|csv`: one institution's 扣费明细 file.
pub async fn deductions(
    State(state): State<ApiState>,
    signed: Signed,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let query = Fields(query);
    let month = month_param(&query, state.zone)?;
    let institution = institution_param(&signed, &query)?
        .ok_or_else(|| PageError::bad_request("institution: required"))?;
    let format = query.get("format").unwrap_or("xlsx");
    if !["xlsx", "csv"].contains(&format) {
        return Err(PageError::bad_request(format!(
            "format={format:?}: xlsx or csv"
        )));
    }
    let rows = state
        .store
        .deduction_rows(&DeductionQuery {
            month,
            zone: state.zone,
            institution: Some(institution.to_string()),
        })
        .await?;
    let heads = state.store.chain_heads().await?;
    let file = deduction_file(month, state.zone, &rows, &heads, format)?
        .ok_or_else(PageError::not_found)?;
    let note = format!(
        "扣费明细 {month} {institution}: {} lines as {format}",
        rows.len()
    );
    Ok(download(file, note))
}

/// `GET /reports/quarterly?quarter=YYYY-QN`: the quarterly analysis workbook (bureau users).
pub async fn quarterly(
    State(state): State<ApiState>,
    signed: Signed,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.bureau_only()?;
    let query = Fields(query);
    let quarter: Quarter = query
        .get("quarter")
        .ok_or_else(|| PageError::bad_request("quarter: required, e.g. 2026-Q4"))?
        .parse()
        .map_err(|e| PageError::bad_request(format!("quarter: {e}")))?;
    let report = state.store.quarterly_report(quarter, state.zone).await?;
    let file = quarterly_file(&report)?;
    Ok(download(file, format!("季度分析 {quarter}")))
}
