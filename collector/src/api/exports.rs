//! `/exports`: the files the bureau sends and files. `GET /exports/deductions?month=2026-11&institution=…
//! &format=xlsx|csv|json` is the 扣费明细 of one institution (an institution user gets only its own; a
//! bureau user names the institution); `GET /exports/quarterly?quarter=2026-Q4` is the quarterly analysis
//! workbook (bureau only).

use super::ApiState;
use super::access::AccessNote;
use super::attachments::content_disposition;
use super::error::ApiError;
use super::params::Params;
use crate::exports::deductions::{DeductionQuery, deduction_files};
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
pub async fn deductions(
    State(state): State<ApiState>,
    Extension(user): Extension<User>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = Params::parse(query, &["month", "institution", "format"])?;
    let month: Month = params
        .get("month", str::parse)?
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
    let file = deduction_files(month, state.zone, &rows, &heads)?
        .into_iter()
        .find(|f| f.name.ends_with(&format!(".{format}")))
        .ok_or_else(|| {
            ApiError::not_found(format!("无扣费 no deductions for {institution} in {month}"))
        })?;
    Ok(download(file, note))
}

/// `GET /exports/quarterly`
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
        .get("quarter", str::parse)?
        .ok_or_else(|| ApiError::bad_request("quarter", "required, e.g. 2026-Q4"))?;
    let report = state.store.quarterly_report(quarter, state.zone).await?;
    let file = quarterly_file(&report)?;
    Ok(download(file, format!("季度分析 {quarter}")))
}
