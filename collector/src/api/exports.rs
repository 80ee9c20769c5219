//! `/exports`: the files the bureau sends and files. `GET /exports/deductions?month=2026-11&institution=…
//! &format=xlsx|csv|json` is the 扣费明细 of one institution (an institution user gets only its own; a
//! bureau user names the institution); `GET /exports/quarterly?quarter=2026-Q4` is the quarterly analysis
//! workbook (bureau only).

use super::ApiState;
use super::access::AccessNote;
use super::attachments::content_disposition;
use super::error::{ApiError, ErrorBody};
use super::openapi::FileBytes;
use super::params::Params;
use crate::exports::deductions::DeductionRow;
use crate::exports::deductions::{DeductionQuery, deduction_file};
use crate::exports::period::{Month, Quarter};
use crate::exports::quarterly::quarterly_file;
use crate::exports::{ExportError, ExportFile};
use crate::users::User;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use wardwatch_protocol::InstitutionCode;

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        ApiError::internal(e)
    }
}

/// A file as an attachment (also the web app's downloads).
pub(crate) fn download(file: ExportFile, note: String) -> Response {
    let content_type = if file.name.ends_with(".csv") {
        "text/csv; charset=utf-8"
    } else {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, content_disposition(&file.name)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        Extension(AccessNote(note)),
        file.bytes,
    )
        .into_response()
}

/// `GET /exports/deductions`
#[utoipa::path(
    get,
    path = "/api/v1/exports/deductions",
    tag = "exports",
    summary = "扣费明细: one institution's deduction detail for a month",
    params(
        ("month" = String, Query, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2026-11", description = "The month the flags were handled in, YYYY-MM"),
        ("institution" = Option<String>, Query, pattern = "^[HP][0-9]{11}$", example = "H43060200175", description = "The institution; required for bureau users, an institution user's own otherwise"),
        ("format" = Option<String>, Query, pattern = "^(xlsx|csv|json)$", example = "json", description = "xlsx (default), csv or json"),
    ),
    responses(
        (status = 200, description = "The detail as a file, or its lines as JSON", content(
            (Vec<DeductionRow> = "application/json"),
            (FileBytes = "text/csv; charset=utf-8"),
            (FileBytes = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        (status = 400, description = "A bad, missing or unknown parameter, named", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "An institution asking for another's", body = ErrorBody),
        (status = 404, description = "No deductions for the institution in the month (csv and xlsx)", body = ErrorBody),
        (status = 408, description = "Not answered within the request deadline", body = ErrorBody),
        (status = 500, description = "Internal error (details in the collector's log)", body = ErrorBody),
    )
)]
pub async fn deductions(
    State(state): State<ApiState>,
    Extension(user): Extension<User>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = Params::parse(query, &["month", "institution", "format"])?;
    let month: Month = params
        .shaped("month", "9999-99", str::parse)?
        .ok_or_else(|| ApiError::bad_request("month", "required, e.g. 2026-11"))?;
    let asked: Option<InstitutionCode> = params.get("institution", str::parse)?;
    let institution = match (user.role.institution(), asked) {
        (Some(own), Some(other)) if *own != other => {
            return Err(ApiError::forbidden(
                "an institution sees only its own deductions",
            ));
        }
        (Some(own), _) => own.clone(),
        (None, Some(code)) => code,
        (None, None) => {
            return Err(ApiError::bad_request(
                "institution",
                "required for bureau users",
            ));
        }
    };
    let format = params.text("format", 8)?.unwrap_or_else(|| "xlsx".into());
    if !["xlsx", "csv", "json"].contains(&format.as_str()) {
        return Err(ApiError::bad_request("format", "must be xlsx, csv or json"));
    }
    let rows = state
        .store
        .deduction_rows(&DeductionQuery {
            month,
            zone: state.zone,
            institution: Some(institution.to_string()),
        })
        .await?;
    let note = format!(
        "扣费明细 {month} {institution}: {} lines as {format}",
        rows.len()
    );
    if format == "json" {
        return Ok((Extension(AccessNote(note)), Json(rows)).into_response());
    }
    let heads = state.store.chain_heads().await?;
    let file = deduction_file(month, state.zone, &rows, &heads, &format)?.ok_or_else(|| {
        ApiError::not_found(format!("无扣费 no deductions for {institution} in {month}"))
    })?;
    Ok(download(file, note))
}

/// `GET /exports/quarterly`
#[utoipa::path(
    get,
    path = "/api/v1/exports/quarterly",
    tag = "exports",
    summary = "季度分析: the quarterly analysis workbook (bureau users only)",
    params(("quarter" = String, Query, pattern = "^[0-9]{4}-Q[1-4]$", example = "2026-Q4", description = "The quarter, YYYY-Qn")),
    responses(
        (status = 200, description = "The workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = FileBytes),
        (status = 400, description = "A bad, missing or unknown parameter, named", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a bureau user", body = ErrorBody),
        (status = 408, description = "Not answered within the request deadline", body = ErrorBody),
        (status = 500, description = "Internal error (details in the collector's log)", body = ErrorBody),
    )
)]
pub async fn quarterly(
    State(state): State<ApiState>,
    Extension(user): Extension<User>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    if !user.role.is_bureau() {
        return Err(ApiError::forbidden(
            "the quarterly analysis is for auditors and admins",
        ));
    }
    let params = Params::parse(query, &["quarter"])?;
    let quarter: Quarter = params
        .shaped("quarter", "9999-Q9", str::parse)?
        .ok_or_else(|| ApiError::bad_request("quarter", "required, e.g. 2026-Q4"))?;
    let report = state.store.quarterly_report(quarter, state.zone).await?;
    let file = quarterly_file(&report)?;
    Ok(download(file, format!("季度分析 {quarter}")))
}
