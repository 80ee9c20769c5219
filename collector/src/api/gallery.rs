//! `POST /gallery/removals`: a bureau admin takes a patient out of an institution's gallery on
//! request (PIPL). [`crate::gallery::removal`] deletes the person's enrolment embeddings and records
//! the deletion (who, when, whom, why) in the access log in the same transaction; `serve
//! --bureau-key` then publishes the institution's next gallery version, without the person, to its
//! boxes.

use super::ApiState;
use super::access::AccessNote;
use super::body::json_body;
use super::error::{ApiError, ErrorBody};
use crate::gallery::removal::{Removal, RemovalError};
use crate::users::{User, UserRole};
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use wardwatch_protocol::{InstitutionCode, PsnNo};

/// The route's path, as recorded with the removal.
const PATH: &str = "/api/v1/gallery/removals";

/// The body of `POST /gallery/removals`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemovalBody {
    /// The institution that enrolled the person (定点医药机构编号).
    #[schema(example = "H43060200175")]
    pub fixmedins_code: String,
    /// The insured person (人员编号).
    #[schema(example = "430600000000000001")]
    pub psn_no: String,
    /// Why: the request's reference and ground (recorded with the removal).
    pub reason: String,
}

/// What a removal did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RemovalDone {
    /// The institution.
    pub fixmedins_code: String,
    /// The person.
    pub psn_no: String,
    /// Enrolment embeddings deleted.
    pub embeddings_removed: u64,
    /// When the removal was recorded (epoch ms, UTC).
    pub recorded_at_ms: i64,
}

/// `POST /gallery/removals` `{"fixmedins_code", "psn_no", "reason"}`
#[utoipa::path(
    post,
    path = "/api/v1/gallery/removals",
    tag = "gallery",
    summary = "Remove a patient from an institution's gallery on request (PIPL); bureau admins only",
    request_body(content = RemovalBody, description = "Whom, at which institution, and why"),
    responses(
        (status = 200, description = "Removed and recorded in the access log; the boxes get the next gallery version", body = RemovalDone),
        (status = 400, description = "A bad body, institution code, insurance number or an empty reason, named", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a bureau admin", body = ErrorBody),
        (status = 404, description = "The person is not enrolled at that institution (nothing removed)", body = ErrorBody),
        (status = 408, description = "Not answered within the request deadline", body = ErrorBody),
        (status = 413, description = "A body over 256 KiB", body = ErrorBody),
        (status = 500, description = "Internal error (details in the collector's log)", body = ErrorBody),
    )
)]
pub async fn remove(
    State(state): State<ApiState>,
    Extension(user): Extension<User>,
    body: Body,
) -> Result<Response, ApiError> {
    if !matches!(user.role, UserRole::Admin) {
        return Err(ApiError::forbidden(
            "only a bureau admin removes a patient from the gallery",
        ));
    }
    let body: RemovalBody = json_body(body).await?;
    let institution: InstitutionCode = body
        .fixmedins_code
        .parse()
        .map_err(|e| ApiError::bad_request("fixmedins_code", e))?;
    let psn_no: PsnNo = body
        .psn_no
        .parse()
        .map_err(|e| ApiError::bad_request("psn_no", e))?;
    let removal = Removal {
        institution,
        psn_no,
        by: user.name.clone(),
        role: "admin".into(),
        reason: body.reason,
        method: "POST".into(),
        path: PATH.into(),
    };
    let removed = state
        .store
        .remove_from_gallery(&removal)
        .await
        .map_err(|e| match e {
            e @ RemovalError::NotEnrolled { .. } => ApiError::not_found(e),
            RemovalError::Input { field, why } => ApiError::bad_request(field, why),
            RemovalError::Store(e) => ApiError::internal(e),
        })?;
    let done = RemovalDone {
        fixmedins_code: removal.institution.to_string(),
        psn_no: removal.psn_no.to_string(),
        embeddings_removed: removed.embeddings,
        recorded_at_ms: removed.record.at_ms,
    };
    let note = AccessNote(removed.record.detail);
    Ok((Extension(note), Json(done)).into_response())
}
