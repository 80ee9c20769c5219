//! Evidence crops from the ward boxes (only those whose operator turned evidence on): bureau users
//! list them and fetch one as a JPEG; institutions never see them. Each fetch is written to the access
//! log with the crop's device, seq and size, as every API request is.

use super::ApiState;
use super::access::AccessNote;
use super::error::{ApiError, ErrorBody};
use super::openapi::FileBytes;
use crate::store::evidence::StoredEvidence;
use crate::users::User;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use wardwatch_protocol::{Event, Payload};

/// One crop, without its bytes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvidenceRow {
    /// The event that carried it (fetch it at `/evidence/{event_id}`).
    pub event_id: String,
    /// The device.
    pub device_id: String,
    /// The institution.
    pub institution_code: String,
    /// Its seq in the device's chain.
    pub seq: i64,
    /// The camera.
    pub camera_id: String,
    /// The track.
    pub track_id: String,
    /// `unknown` or `low_liveness`.
    pub reason: String,
    /// When the frame was captured.
    pub captured_at: String,
    /// The track's median liveness.
    pub liveness: f64,
    /// JPEG size in bytes.
    pub bytes: usize,
}

fn bureau_only(user: &User) -> Result<(), ApiError> {
    if user.role.is_bureau() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "evidence crops are biometric data: bureau users only",
        ))
    }
}

pub(crate) fn parse(stored: StoredEvidence) -> Option<(EvidenceRow, Vec<u8>)> {
    let event = serde_json::from_str::<Event>(&stored.body).ok()?;
    let Payload::Evidence(crop) = event.payload else {
        return None;
    };
    Some((
        EvidenceRow {
            event_id: stored.event_id,
            device_id: stored.device_id,
            institution_code: stored.institution_code,
            seq: stored.seq,
            camera_id: crop.camera_id.to_string(),
            track_id: crop.track_id.to_string(),
            reason: crop.reason.as_str().to_owned(),
            captured_at: crop.captured_at.to_string(),
            liveness: crop.liveness.get(),
            bytes: crop.jpeg.bytes().len(),
        },
        crop.jpeg.bytes().to_vec(),
    ))
}

/// `GET /evidence`: every crop received, newest first (at most 1000).
#[utoipa::path(
    get,
    path = "/api/v1/evidence",
    tag = "evidence",
    summary = "Evidence crops received, newest first (bureau users only)",
    responses(
        (status = 200, description = "The crops, without their bytes", body = Vec<EvidenceRow>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a bureau user", body = ErrorBody),
        (status = 408, description = "Not answered within the request deadline", body = ErrorBody),
        (status = 500, description = "Internal error (details in the collector's log)", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<ApiState>,
    Extension(user): Extension<User>,
) -> Result<Response, ApiError> {
    bureau_only(&user)?;
    let listed: Vec<EvidenceRow> = state
        .store
        .evidence_events()
        .await?
        .into_iter()
        .filter_map(|stored| parse(stored).map(|(item, _)| item))
        .collect();
    let note = AccessNote(format!("listed {} evidence crops", listed.len()));
    Ok((Extension(note), Json(listed)).into_response())
}

/// `GET /evidence/{event_id}`: the JPEG.
#[utoipa::path(
    get,
    path = "/api/v1/evidence/{event_id}",
    tag = "evidence",
    summary = "One evidence crop as a JPEG (bureau users only; every fetch is logged)",
    params(("event_id" = String, Path, description = "The id of the event that carried the crop")),
    responses(
        (status = 200, description = "The JPEG", content_type = "image/jpeg", body = FileBytes),
        (status = 400, description = "An unreadable id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a bureau user", body = ErrorBody),
        (status = 404, description = "No such crop", body = ErrorBody),
        (status = 408, description = "Not answered within the request deadline", body = ErrorBody),
        (status = 500, description = "Internal error (details in the collector's log)", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<ApiState>,
    Extension(user): Extension<User>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    bureau_only(&user)?;
    let Path(event_id) = path.map_err(|e| ApiError::bad_request("event_id", e.body_text()))?;
    let stored = state
        .store
        .evidence_event(&event_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("evidence crop {event_id}")))?;
    let (item, jpeg) = parse(stored).ok_or_else(|| {
        ApiError::internal(format!("stored evidence event {event_id} does not parse"))
    })?;
    let note = AccessNote(format!(
        "viewed evidence crop {} (device {}, seq {}, camera {}, track {}, {} bytes)",
        item.event_id, item.device_id, item.seq, item.camera_id, item.track_id, item.bytes
    ));
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Extension(note),
        jpeg,
    )
        .into_response())
}
