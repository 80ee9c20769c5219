//! The OpenAPI 3.1 document of `/api/v1`, derived from the code: each handler's `#[utoipa::path]`
//! (its path, parameters and the statuses it answers) and the request and response types it uses
//! (`#[derive(ToSchema)]` on them). Served at `/api/v1/openapi.json` to any valid token, logged like
//! every API request: the schema holds no secret, but the API's one rule — nothing under `/api/v1`
//! without a token, nothing unlogged — stays without exception. The tests below hold the document to
//! the router: every route it serves is documented, and every documented status is one a request
//! was seen to get.

use super::access::AccessNote;
use crate::flags::workflow::{Action, FlagState};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa::OpenApi;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The document's root: every operation and the bearer-token scheme they all require.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "WardWatch collector API",
        description = "The bureau's JSON API: flags and their review workflow, appeal attachments, \
                       evidence crops, rule statistics and exports. Every request needs \
                       `Authorization: Bearer <token>` (`wardwatch-collector users add`) and is \
                       written to the append-only access log. Errors are \
                       `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(
        super::flags::list,
        super::flags::show,
        super::flags::transition,
        super::attachments::upload,
        super::attachments::download,
        super::evidence::list,
        super::evidence::show,
        super::info::rule_stats,
        super::info::me,
        super::exports::deductions,
        super::exports::quarterly,
        super::gallery::remove,
        document_json,
    ),
    modifiers(&BearerToken),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme the operations name.
struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A user's token (64 hex digits) from `wardwatch-collector users add`",
                    ))
                    .build(),
            ),
        );
    }
}

/// A flag state's code, as the API shows and takes it: one of [`FlagState::ALL`].
pub struct StateCode;

impl utoipa::PartialSchema for StateCode {
    fn schema() -> RefOr<Schema> {
        codes(
            FlagState::ALL.iter().map(|s| s.as_str()),
            "A flag's state (流程状态)",
        )
    }
}

impl utoipa::ToSchema for StateCode {}

/// A workflow action's code: one of [`Action::ALL`].
pub struct ActionCode;

impl utoipa::PartialSchema for ActionCode {
    fn schema() -> RefOr<Schema> {
        codes(
            Action::ALL.iter().map(|a| a.as_str()),
            "A workflow action (初审 confirm/exclude, 下发 issue, 申诉 appeal, 复审 uphold/reverse/\
             refer_panel, 处理 refuse_payment/recover, 归档 close)",
        )
    }
}

impl utoipa::ToSchema for ActionCode {}

/// A file's bytes (an upload's body, a download, an export, a JPEG).
pub struct FileBytes;

impl utoipa::PartialSchema for FileBytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for FileBytes {}

fn codes<'a>(codes: impl Iterator<Item = &'a str>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(codes))
        .description(Some(description))
        .into()
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /openapi.json`
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "info",
    summary = "This document",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of /api/v1", body = Object),
        (status = 401, description = "No valid token", body = super::error::ErrorBody),
        (status = 500, description = "Internal error (details in the collector's log)", body = super::error::ErrorBody),
    )
)]
pub async fn document_json() -> Response {
    (
        Extension(AccessNote("OpenAPI document".into())),
        Json(document()),
    )
        .into_response()
}

#[cfg(test)]
mod tests;
