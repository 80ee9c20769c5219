//! `/flags`: listing with filters and paging, one flag with everything a reviewer needs, and
//! workflow transitions. An institution user sees only its own flags once issued to it, redacted
//! ([`crate::flags::visibility`]); any other flag is answered exactly like a flag that does not exist.

use super::access::AccessNote;
use super::body::json_body;
use super::error::{ApiError, ErrorBody};
use super::openapi::StateCode;
use super::params::Params;
use super::{ApiState, viewer};
use crate::flags::query::{FlagDetail, FlagFilter, FlagPage};
use crate::flags::store::{FlagEvent, FlagRow, TransitionError};
use crate::flags::workflow::{
    Action, FlagState, Refusal, Request, Role, allowed_actions, offered_actions,
};
use crate::store::now_ms;
use crate::users::User;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::TimeZone;
use serde::{Deserialize, Serialize};
use wardwatch_protocol::InstitutionCode;

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 100;
/// The largest page.
pub const MAX_LIMIT: i64 = 1000;

/// The path's `name` segment as an id.
pub fn path_id(
    path: &Result<Path<Vec<(String, String)>>, PathRejection>,
    name: &str,
) -> Result<i64, ApiError> {
    let Ok(Path(segments)) = path else {
        return Err(ApiError::bad_request(name, "unreadable path"));
    };
    let value = segments
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    value
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_request(name, format!("{value:?} is not an id")))
}

/// Flag `id` if `user` may see it; otherwise 404, whether it exists or not.
pub async fn visible_flag(state: &ApiState, user: &User, id: i64) -> Result<FlagRow, ApiError> {
    state
        .store
        .flag_for(&viewer(user), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("flag {id}")))
}

fn local_midnight_ms(state: &ApiState, name: &str, date: &str) -> Result<i64, String> {
    let date = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map_err(|e| format!("a local date YYYY-MM-DD is expected ({e})"))?;
    let midnight = date.and_hms_opt(0, 0, 0).ok_or("no midnight")?;
    state
        .zone
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| format!("{name}: local midnight does not exist in {}", state.zone))
}

/// `GET /flags?rule=&state=&institution=&psn_no=&from=&to=&limit=&offset=`
#[utoipa::path(
    get,
    path = "/api/v1/flags",
    tag = "flags",
    summary = "Flags the caller may see, newest first, filtered and paged",
    params(
        ("rule" = Option<String>, Query, max_length = 64, description = "A rule id, e.g. `no_presence`"),
        ("state" = inline(Option<StateCode>), Query, description = "Only flags in this state"),
        ("institution" = Option<String>, Query, pattern = "^[HP][0-9]{11}$", example = "H43060200175", description = "An institution code (定点医药机构编号); an institution user sees only its own whatever it asks"),
        ("psn_no" = Option<String>, Query, max_length = 64, description = "The insured person (人员编号)"),
        ("from" = Option<String>, Query, format = Date, example = "2026-11-01", description = "Raised on or after this local date, YYYY-MM-DD"),
        ("to" = Option<String>, Query, format = Date, example = "2026-12-01", description = "Raised before this local date, YYYY-MM-DD, after `from` (400 otherwise)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Page size (default 100)"),
        ("offset" = Option<i64>, Query, minimum = 0, description = "Flags skipped"),
    ),
    responses(
        (status = 200, description = "One page and the total", body = FlagPage),
        (status = 400, description = "A bad, repeated or unknown parameter, named", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 408, description = "Not answered within the request deadline", body = ErrorBody),
        (status = 500, description = "Internal error (details in the collector's log)", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<ApiState>,
    Extension(user): Extension<User>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = Params::parse(
        query,
        &[
            "rule",
            "state",
            "institution",
            "psn_no",
            "from",
            "to",
            "limit",
            "offset",
        ],
    )?;
    let filter = FlagFilter {
        rule: params.text("rule", 64)?,
        state: params.get("state", |v| {
            FlagState::parse(v)
                .map(|s| s.as_str().to_owned())
                .ok_or_else(|| {
                    let all: Vec<_> = FlagState::ALL.iter().map(|s| s.as_str()).collect();
                    format!("unknown state; one of {}", all.join(", "))
                })
        })?,
        institutions: params
            .get("institution", |v| v.parse::<InstitutionCode>())?
            .map(|c| c.to_string())
            .into_iter()
            .collect(),
        psn_no: params.text("psn_no", 64)?,
        from_ms: params.shaped("from", "9999-99-99", |v| {
            local_midnight_ms(&state, "from", v)
        })?,
        to_ms: params.shaped("to", "9999-99-99", |v| local_midnight_ms(&state, "to", v))?,
        limit: params.int("limit", 1..=MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT),
        offset: params.int("offset", 0..=i64::MAX)?.unwrap_or(0),
        ..FlagFilter::default()
    };
    if let (Some(from), Some(to)) = (filter.from_ms, filter.to_ms)
        && from >= to
    {
        return Err(ApiError::bad_request("to", "must be after `from`"));
    }
    // An institution sees its own issued flags whatever it asks for.
    let page = state.store.find_flags_for(&viewer(&user), &filter).await?;
    let note = AccessNote(format!(
        "listed {} of {} flags",
        page.flags.len(),
        page.total
    ));
    Ok((Extension(note), Json(page)).into_response())
}

/// One flag as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlagView {
    /// The flag, evidence, fee lines, attachments.
    #[serde(flatten)]
    pub detail: FlagDetail,
    /// The state's Chinese name.
    pub state_zh: &'static str,
    /// What the caller's role may do now.
    pub allowed_actions: Vec<&'static str>,
    /// The audit log, oldest first.
    pub history: Vec<FlagEvent>,
}

/// The actions legal in `state` that `role` may take.
pub(crate) fn actions_for(state: FlagState, role: Role) -> Vec<&'static str> {
    allowed_actions(state)
        .into_iter()
        .filter(|a| (*a == Action::Appeal) == (role == Role::Institution))
        .map(Action::as_str)
        .collect()
}

/// `GET /flags/{id}`
#[utoipa::path(
    get,
    path = "/api/v1/flags/{id}",
    tag = "flags",
    summary = "One flag with its evidence, fee lines, attachments and audit log",
    params(("id" = i64, Path, minimum = 1, example = 1, description = "The flag's id")),
    responses(
        (status = 200, description = "The flag as the caller may see it", body = FlagView),
        (status = 400, description = "The id is not an id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such flag, or one the caller may not see", body = ErrorBody),
        (status = 408, description = "Not answered within the request deadline", body = ErrorBody),
        (status = 500, description = "Internal error (details in the collector's log)", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<ApiState>,
    Extension(user): Extension<User>,
    path: Result<Path<Vec<(String, String)>>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(&path, "id")?;
    let detail = state
        .store
        .flag_detail_for(&viewer(&user), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("flag {id}")))?;
    let flag_state = detail.item.flag.state;
    let history = state.store.flag_history(id).await?;
    // The first reviewer is not offered the later reviews it may not take.
    let first_reviewer = history
        .iter()
        .rev()
        .find(|e| e.action == Action::Confirm.as_str())
        .map(|e| e.actor.as_str());
    let view = FlagView {
        state_zh: flag_state.zh(),
        allowed_actions: offered_actions(
            flag_state,
            user.role.workflow_role(),
            &user.name,
            first_reviewer,
            state.policy,
        )
        .into_iter()
        .map(Action::as_str)
        .collect(),
        history,
        detail,
    };
    Ok((Extension(AccessNote("viewed flag".into())), Json(view)).into_response())
}

/// The body of `POST /flags/{id}/transitions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    /// The action code (`confirm`, `issue`, `appeal`, …).
    #[schema(value_type = crate::api::openapi::ActionCode)]
    pub action: String,
    /// Why; the appeal's text for `appeal`.
    #[serde(default)]
    pub reason: String,
    /// For `refuse_payment` and `recover`.
    #[serde(default)]
    pub amount_fen: Option<i64>,
}

/// The state a transition reached.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TransitionDone {
    /// The flag.
    pub id: i64,
    /// Its new state.
    pub state: &'static str,
    /// Chinese name.
    pub state_zh: &'static str,
    /// What the caller may do next.
    pub allowed_actions: Vec<&'static str>,
}

fn refusal_error(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::WrongState { .. } | Refusal::Deadline(_) => ApiError::conflict(refusal),
        Refusal::WrongRole { .. }
        | Refusal::OtherInstitution { .. }
        | Refusal::SameReviewer { .. } => ApiError::forbidden(refusal),
        Refusal::Input(why) => ApiError::bad_request("body", why),
    }
}

/// `POST /flags/{id}/transitions` `{"action", "reason", "amount_fen"}`
#[utoipa::path(
    post,
    path = "/api/v1/flags/{id}/transitions",
    tag = "flags",
    summary = "Take a workflow action on a flag (初审, 下发, 申诉, 复审, 合议, 处理, 归档)",
    params(("id" = i64, Path, minimum = 1, example = 1, description = "The flag's id")),
    request_body(content = TransitionBody, description = "The action, why, and an amount for handling"),
    responses(
        (status = 200, description = "The state reached", body = TransitionDone),
        (status = 400, description = "A bad id, body, action or amount, named", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The caller's role, institution or earlier review forbids it", body = ErrorBody),
        (status = 404, description = "No such flag, or one the caller may not see", body = ErrorBody),
        (status = 408, description = "Not answered within the request deadline", body = ErrorBody),
        (status = 409, description = "Not possible in the flag's state, past its deadline, or a fee line already recovered", body = ErrorBody),
        (status = 413, description = "A body over 256 KiB", body = ErrorBody),
        (status = 500, description = "Internal error (details in the collector's log)", body = ErrorBody),
    )
)]
pub async fn transition(
    State(state): State<ApiState>,
    Extension(user): Extension<User>,
    path: Result<Path<Vec<(String, String)>>, PathRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let id = path_id(&path, "id")?;
    let body: TransitionBody = json_body(body).await?;
    let action = Action::parse(&body.action).ok_or_else(|| {
        let all: Vec<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
        ApiError::bad_request(
            "action",
            format!(
                "{:?} is not an action; one of {}",
                body.action,
                all.join(", ")
            ),
        )
    })?;
    if body.reason.chars().count() > 10_000 {
        return Err(ApiError::bad_request("reason", "at most 10000 characters"));
    }
    visible_flag(&state, &user, id).await?;
    let request = Request {
        action,
        reason: body.reason,
        amount_fen: body.amount_fen,
        now_ms: now_ms(),
    };
    let to = state
        .store
        .transition_flag_under(id, &user.actor(), &request, state.appeal_days, state.policy)
        .await
        .map_err(|e| match e {
            TransitionError::NotFound(id) => ApiError::not_found(format!("flag {id}")),
            TransitionError::Refused(refusal) => refusal_error(refusal),
            e @ TransitionError::AlreadyRecovered { .. } => ApiError::conflict(e),
            TransitionError::Store(e) => ApiError::internal(e),
        })?;
    let done = TransitionDone {
        id,
        state: to.as_str(),
        state_zh: to.zh(),
        allowed_actions: actions_for(to, user.role.workflow_role()),
    };
    let note = AccessNote(format!("{} → {}", action.as_str(), to.as_str()));
    Ok((Extension(note), Json(done)).into_response())
}
