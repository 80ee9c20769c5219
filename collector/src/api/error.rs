//! The API's errors: one JSON shape (`{"error": {"code", "message"}}`) with the HTTP status that fits,
//! and the message kept for the access log.

use super::access::AccessNote;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answered to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code (`unauthorized`, `not_found`, …).
    pub code: &'static str,
    /// What went wrong, zh-CN first, then English.
    pub message: String,
}

impl ApiError {
    /// 400: bad input; `field` names the query parameter, body field or path segment.
    pub fn bad_request(field: &str, why: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: format!("参数错误 invalid `{field}`: {why}"),
        }
    }

    /// 401: no valid token.
    pub fn unauthorized(why: &str) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: format!("未认证 unauthorized: {why}"),
        }
    }

    /// 403: the caller's role may not do this.
    pub fn forbidden(why: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: format!("无权操作 forbidden: {why}"),
        }
    }

    /// 404: no such thing (or one the caller may not know exists).
    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("不存在 not found: {what}"),
        }
    }

    /// 409: not possible in the current state.
    pub fn conflict(why: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: format!("当前状态不允许 conflict: {why}"),
        }
    }

    /// 413: the body is larger than allowed.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large",
            message: format!("文件过大 body larger than {limit} bytes"),
        }
    }

    /// 408: the request took longer than the API allows (a slow body, or slow work).
    pub fn request_timeout(limit: std::time::Duration) -> ApiError {
        ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            code: "request_timeout",
            message: format!(
                "请求超时 the request was not read and answered within {} s",
                limit.as_secs()
            ),
        }
    }

    /// 409 for a cap reached (attachments per flag or per institution).
    pub fn limit_reached(why: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            code: "limit_reached",
            message: format!("超出上限 limit reached: {why}"),
        }
    }

    /// 500: logged in full, answered without internals.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "API request failed");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "内部错误 internal error (see the collector's log)".into(),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

/// The body of every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error's code and message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine code: `bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `limit_reached`, `payload_too_large`, `request_timeout`, `internal`, …
    pub code: String,
    /// What went wrong, zh-CN first, then English.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        response.extensions_mut().insert(AccessNote(self.message));
        response
    }
}
