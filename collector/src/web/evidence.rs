//! Evidence crops in the web app (bureau users only: faces are biometric data): the crops of an
//! institution's boxes around a flag's slot, listed on the flag page, and one crop served as a JPEG —
//! each opening written to the access log with the crop's device, seq, camera and track. An
//! institution user gets 403 whether the crop exists or not.

use super::page::{PageError, Signed};
use super::queue::local_time;
use crate::api::ApiState;
use crate::api::access::AccessNote;
use crate::api::evidence::{EvidenceRow, parse};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono_tz::Tz;
use serde::Serialize;

/// A crop as listed on the flag page.
#[derive(Debug, Serialize)]
pub struct CropLink {
    /// Its event, the path of the crop.
    pub event_id: String,
    /// The camera.
    pub camera_id: String,
    /// The track.
    pub track_id: String,
    /// `unknown` or `low_liveness`.
    pub reason: String,
    /// When captured, local time.
    pub captured: String,
    /// The track's liveness.
    pub liveness: f64,
}

/// The crops of `institution`'s boxes sent in [`from_ms`, `to_ms`).
pub async fn crops_between(
    state: &ApiState,
    institution: &str,
    from_ms: i64,
    to_ms: i64,
    zone: Tz,
) -> Result<Vec<CropLink>, PageError> {
    Ok(state
        .store
        .evidence_events_between(institution, from_ms, to_ms)
        .await?
        .into_iter()
        .filter_map(|stored| parse(stored).map(|(row, _)| row))
        .map(|row: EvidenceRow| CropLink {
            captured: chrono::DateTime::parse_from_rfc3339(&row.captured_at)
                .map(|t| local_time(t.timestamp_millis(), zone))
                .unwrap_or(row.captured_at),
            event_id: row.event_id,
            camera_id: row.camera_id,
            track_id: row.track_id,
            reason: row.reason,
            liveness: row.liveness,
        })
        .collect())
}

/// `GET /evidence/{event_id}`: the JPEG, bureau users only, logged.
pub async fn show(
    State(state): State<ApiState>,
    signed: Signed,
    Path(event_id): Path<String>,
) -> Result<Response, PageError> {
    signed.bureau_only()?;
    let stored = state
        .store
        .evidence_event(&event_id)
        .await?
        .ok_or_else(PageError::not_found)?;
    let (item, jpeg) = parse(stored).ok_or_else(|| {
        PageError::internal(format!("stored evidence event {event_id} does not parse"))
    })?;
    let note = AccessNote(format!(
        "viewed evidence crop {} (device {}, seq {}, camera {}, track {}, {} bytes)",
        item.event_id, item.device_id, item.seq, item.camera_id, item.track_id, item.bytes
    ));
    let mut response = ([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response();
    response.extensions_mut().insert(note);
    Ok(response)
}
