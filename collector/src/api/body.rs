//! Request bodies read with a size limit. An oversize body is still read (and dropped) up to
//! [`DRAIN_LIMIT`] so that the client receives the 413 rather than a connection reset; past that the
//! connection is simply closed.

use super::error::ApiError;
use axum::body::Body;
use http_body_util::BodyExt;

/// The largest JSON body (a transition with a long appeal text fits many times over).
pub const JSON_BODY_LIMIT: usize = 256 * 1024;
/// How much of an oversize body is drained before giving up on answering politely.
pub const DRAIN_LIMIT: usize = 40 * 1024 * 1024;

/// The body's bytes if it has at most `limit` of them; otherwise 413.
pub async fn read_limited(body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = body;
    let mut content = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request("body", e))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen > DRAIN_LIMIT {
            break;
        }
        if seen <= limit {
            content.extend_from_slice(&data);
        }
    }
    if seen > limit {
        return Err(ApiError::too_large(limit));
    }
    Ok(content)
}

/// A JSON body parsed into `T`; errors name the field (`body` when it is the whole document).
pub async fn json_body<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = read_limited(body, JSON_BODY_LIMIT).await?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::bad_request(&field, e.into_inner())
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request("body", format!("trailing data: {e}")))?;
    Ok(value)
}
