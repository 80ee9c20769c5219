//! Appeal attachments: the institution uploads files (raw body, any type, at most
//! [`MAX_ATTACHMENT_BYTES`], a name without control or bidirectional-override characters, within the
//! caps per flag and per institution) while its flag is issued or appealed; bureau users at any time.
//! Only those who may see the flag may download them.

use super::ApiState;
use super::access::AccessNote;
use super::body::read_limited;
use super::error::{ApiError, ErrorBody};
use super::flags::{path_id, visible_flag};
use super::openapi::FileBytes;
use super::params::Params;
use crate::flags::attachments::{AttachmentError, AttachmentName};
use crate::flags::query::AttachmentMeta;
use crate::flags::workflow::FlagState;
use crate::users::User;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

/// The largest attachment accepted (10 MiB).
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;

/// `POST /flags/{id}/attachments?file_name=…` with the file as the body.
#[utoipa::path(
    post,
    path = "/api/v1/flags/{id}/attachments",
    tag = "attachments",
    summary = "Attach a file to a flag (an institution: while it is issued or appealed)",
    params(
        ("id" = i64, Path, minimum = 1, example = 1, description = "The flag's id"),
        ("file_name" = String, Query, min_length = 1, max_length = 200, example = "申诉材料.pdf", description = "The file's name: 1 to 200 characters, no control or bidirectional-formatting characters, no `/` or `\\`"),
    ),
    request_body(content = FileBytes, content_type = "application/octet-stream", description = "The file, at most 10 MiB"),
    responses(
        (status = 201, description = "Stored", body = AttachmentMeta),
        (status = 400, description = "A bad id or file name, or an empty file, named", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such flag, or one the caller may not see", body = ErrorBody),
        (status = 408, description = "Not read and answered within the request deadline", body = ErrorBody),
        (status = 409, description = "Not in a state that takes attachments, or a cap per flag or institution reached (`limit_reached`)", body = ErrorBody),
        (status = 413, description = "A file over 10 MiB", body = ErrorBody),
        (status = 500, description = "Internal error (details in the collector's log)", body = ErrorBody),
    )
)]
pub async fn upload(
    State(state): State<ApiState>,
    Extension(user): Extension<User>,
    path: Result<Path<Vec<(String, String)>>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let id = path_id(&path, "id")?;
    let file_name = Params::parse(query, &["file_name"])?
        .get("file_name", AttachmentName::parse)?
        .ok_or_else(|| ApiError::bad_request("file_name", "required"))?;
    // Read (bounded) before any refusal, so that a refused client gets the answer, not a reset.
    let content = read_limited(body, MAX_ATTACHMENT_BYTES).await?;
    if content.is_empty() {
        return Err(ApiError::bad_request("body", "the file is empty"));
    }
    let flag = visible_flag(&state, &user, id).await?;
    if !user.role.is_bureau() && !matches!(flag.state, FlagState::Issued | FlagState::Appealed) {
        return Err(ApiError::conflict(format!(
            "an institution may attach files only while the flag is issued or appealed; it is {}",
            flag.state.as_str()
        )));
    }
    let meta = state
        .store
        .add_attachment(
            id,
            &file_name,
            &content,
            &user.name,
            state.limits.attachments,
        )
        .await
        .map_err(|e| match e {
            AttachmentError::NoFlag(id) => ApiError::not_found(format!("flag {id}")),
            e @ (AttachmentError::FlagFull { .. } | AttachmentError::InstitutionFull { .. }) => {
                ApiError::limit_reached(e)
            }
            AttachmentError::Store(e) => ApiError::internal(e),
        })?;
    let note = AccessNote(format!(
        "uploaded attachment {} ({} bytes, sha256 {})",
        meta.id, meta.size, meta.sha256
    ));
    Ok((StatusCode::CREATED, Extension(note), Json(meta)).into_response())
}

/// `Content-Disposition` for a stored name: an ASCII fallback and the UTF-8 name (RFC 6266/5987).
pub(crate) fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `GET /flags/{id}/attachments/{aid}`: the bytes.
#[utoipa::path(
    get,
    path = "/api/v1/flags/{id}/attachments/{aid}",
    tag = "attachments",
    summary = "An attachment's bytes",
    params(
        ("id" = i64, Path, minimum = 1, example = 1, description = "The flag's id"),
        ("aid" = i64, Path, minimum = 1, example = 1, description = "The attachment's id"),
    ),
    responses(
        (status = 200, description = "The file as uploaded", content_type = "application/octet-stream", body = FileBytes),
        (status = 400, description = "A bad id, named", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such flag or attachment, or one the caller may not see", body = ErrorBody),
        (status = 408, description = "Not answered within the request deadline", body = ErrorBody),
        (status = 500, description = "Internal error (details in the collector's log)", body = ErrorBody),
    )
)]
pub async fn download(
    State(state): State<ApiState>,
    Extension(user): Extension<User>,
    path: Result<Path<Vec<(String, String)>>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(&path, "id")?;
    let aid = path_id(&path, "aid")?;
    visible_flag(&state, &user, id).await?;
    let (meta, content) = state
        .store
        .attachment(id, aid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("attachment {aid} of flag {id}")))?;
    let note = AccessNote(format!(
        "downloaded attachment {} ({} bytes, sha256 {})",
        meta.id, meta.size, meta.sha256
    ));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                content_disposition(&meta.file_name),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        Extension(note),
        content,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_carry_ascii_and_utf8_names() {
        assert_eq!(
            content_disposition("申诉 材料.pdf"),
            "attachment; filename=\"__ __.pdf\"; \
             filename*=UTF-8''%E7%94%B3%E8%AF%89%20%E6%9D%90%E6%96%99.pdf"
        );
    }
}
