//! 疑点详情, one flag: who, where, which rule and version, the amount at stake, the state and deadline; at
//! its centre the patient's day ([`super::timeline`]); below, the fee lines, attachments, the audit
//! history, and the actions the workflow allows this user now, each a form that needs a reason (and an
//! amount in yuan for 拒付/追回). [`crate::flags::workflow`] decides; this page only offers and relays.

use super::page::{Fields, PageError, Signed, redirect, render};
use super::portal::visible_flag;
use super::queue::local_time;
use super::timeline;
use crate::api::ApiState;
use crate::api::access::AccessNote;
use crate::flags::store::TransitionError;
use crate::flags::workflow::{Action, FlagState, Refusal, Request, offered_actions};
use crate::store::now_ms;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use minijinja::context;
use serde::Serialize;
use serde_json::Value;

/// A history entry as shown.
#[derive(Debug, Serialize)]
struct HistoryRow {
    at: String,
    actor: String,
    role: String,
    action: String,
    from_state: String,
    to_state: String,
    reason: String,
    amount_fen: Option<i64>,
}

/// A fee line as shown.
#[derive(Debug, Serialize)]
struct LineRow {
    feedetl_sn: String,
    at: String,
    hilist_code: String,
    hilist_name: Option<String>,
    cnt: f64,
    amount_fen: i64,
}

/// One presence interval's liveness over its track, as shown (from the flag's evidence).
#[derive(Debug, Serialize)]
struct TrackLivenessRow {
    camera_id: String,
    from: String,
    to: String,
    samples: u32,
    model_median: f64,
    nonrigid_percent: f64,
    residual_p90: f64,
    blinks: u32,
    verdict: &'static str,
}

/// The track liveness of the evidence's sightings that carry one, in the order the rule listed them;
/// an entry that does not parse as the protocol's summary is left out.
fn track_liveness_rows(evidence: &Value, zone: chrono_tz::Tz) -> Vec<TrackLivenessRow> {
    let sightings = evidence.get("sightings").and_then(Value::as_array);
    sightings
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let summary: wardwatch_protocol::TrackLiveness =
                serde_json::from_value(s.get("track_liveness")?.clone()).ok()?;
            let time = |key: &str| {
                s.get(key)
                    .and_then(Value::as_i64)
                    .map(|ms| local_time(ms, zone))
            };
            Some(TrackLivenessRow {
                camera_id: s.get("camera_id")?.as_str()?.to_owned(),
                from: time("start_ms")?,
                to: time("end_ms")?,
                samples: summary.samples,
                model_median: summary.model_median.get(),
                nonrigid_percent: 100.0 * summary.nonrigid_motion.get(),
                residual_p90: summary.residual_p90.get(),
                blinks: summary.blinks,
                verdict: summary.verdict.as_str(),
            })
        })
        .collect()
}

/// An action offered.
#[derive(Debug, Serialize)]
struct Offered {
    code: &'static str,
    needs_amount: bool,
}

pub(crate) fn flag_id(raw: &str) -> Result<i64, PageError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(PageError::not_found)
}

/// `GET /flags/{id}`: 404 for a flag the user may not see, exactly as for one that does not exist.
pub async fn show(
    State(state): State<ApiState>,
    signed: Signed,
    Path(raw): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let id = flag_id(&raw)?;
    let user = &signed.authed.user;
    // The shared visibility rule: an institution gets its own issued flags only, with other
    // institutions' records withheld from the evidence and fee lines (flags/visibility.rs).
    let detail = state
        .store
        .flag_detail_for(&crate::api::viewer(user), id)
        .await?
        .ok_or_else(PageError::not_found)?;
    let flag = &detail.item.flag;
    let zone = state.zone;
    let evidence = &detail.evidence;
    let patient_name = match &flag.psn_no {
        Some(psn) => state.store.patient_name(psn.as_str()).await?,
        None => None,
    };
    let institution_name = state
        .store
        .institution_name(flag.fixmedins_code.as_str())
        .await?;
    let words = signed.ctx.lang.catalogue();
    let chart = match timeline::window(evidence, zone) {
        Some((from, to)) => {
            let facts = state
                .store
                .day_facts(flag.fixmedins_code.as_str(), from, to)
                .await?;
            timeline::build(evidence, &facts, words, zone).map(|t| {
                let title = format!(
                    "{} {} · {}",
                    words.text("flag.timeline"),
                    evidence
                        .get("date")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    flag.psn_no.as_ref().map(|p| p.as_str()).unwrap_or_default()
                );
                timeline::svg(&t, &title, zone)
            })
        }
        None => None,
    };
    let history: Vec<HistoryRow> = state
        .store
        .flag_history(id)
        .await?
        .into_iter()
        .map(|e| HistoryRow {
            at: local_time(e.at_ms, zone),
            actor: e.actor,
            role: e.role,
            action: e.action,
            from_state: e.from_state,
            to_state: e.to_state,
            reason: e.reason,
            amount_fen: e.amount_fen,
        })
        .collect();
    let lines: Vec<LineRow> = detail
        .lines
        .iter()
        .map(|l| LineRow {
            feedetl_sn: l.feedetl_sn.clone(),
            at: local_time(l.fee_ocur_time_ms, zone),
            hilist_code: l.hilist_code.clone(),
            hilist_name: l.hilist_name.clone(),
            cnt: l.cnt,
            amount_fen: l.det_item_fee_sumamt_fen,
        })
        .collect();
    let first_reviewer = history
        .iter()
        .rev()
        .find(|e| e.action == Action::Confirm.as_str())
        .map(|e| e.actor.as_str());
    let actions: Vec<Offered> = offered_actions(
        flag.state,
        user.role.workflow_role(),
        &user.name,
        first_reviewer,
        state.policy,
    )
    .into_iter()
    .map(|a| Offered {
        code: a.as_str(),
        needs_amount: a.needs_amount(),
    })
    .collect();
    // Evidence crops of the institution's boxes in the timeline's window: bureau users only (each
    // opened crop is logged by super::evidence).
    let crops = match (user.role.is_bureau(), timeline::window(evidence, zone)) {
        (true, Some((from, to))) => {
            super::evidence::crops_between(&state, flag.fixmedins_code.as_str(), from, to, zone)
                .await?
        }
        _ => Vec::new(),
    };
    let fields = Fields(query);
    let done = fields.get("done");
    let number = |key: &str| evidence.get(key).and_then(Value::as_f64);
    let values = context! {
        flag => flag,
        rule_version => detail.item.rule_version,
        raised => local_time(detail.item.created_at_ms, zone),
        deadline => flag.appeal_deadline_ms.map(|ms| local_time(ms, zone)),
        patient_name => patient_name,
        institution_name => institution_name,
        date => evidence.get("date").and_then(Value::as_str),
        ward_kind => evidence.get("ward_kind").and_then(Value::as_str),
        billed_units => number("billed_units"),
        presence_minutes => number("presence_minutes"),
        required_minutes => number("required_minutes"),
        timeline_svg => chart.map(minijinja::Value::from_safe_string),
        lines => lines,
        attachments => &detail.attachments,
        history => history,
        actions => actions,
        may_attach => user.role.is_bureau()
            || matches!(flag.state, FlagState::Issued | FlagState::Appealed),
        crops => crops,
        track_liveness => track_liveness_rows(evidence, zone),
        done => done.and_then(Action::parse).map(Action::as_str),
        attached => done == Some("attached"),
    };
    let mut response = render(&signed.ctx, "flag.html", values);
    response
        .extensions_mut()
        .insert(AccessNote("viewed flag".into()));
    Ok(response)
}

/// Yuan as typed ("410", "410.5", "1,234.56") → fen.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let text: String = text.trim().chars().filter(|c| *c != ',').collect();
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole
            .chars()
            .chain(frac.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let frac = format!("{frac:0<2}");
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(frac.parse().ok()?)
}

/// The page for a transition the workflow or the store refused.
pub(crate) fn transition_page(e: TransitionError) -> PageError {
    match e {
        TransitionError::NotFound(_) => PageError::not_found(),
        TransitionError::Refused(refusal) => refusal_page(refusal),
        e @ TransitionError::AlreadyRecovered { .. } => PageError::conflict(e.to_string()),
        TransitionError::Store(e) => PageError::internal(e),
    }
}

fn refusal_page(refusal: Refusal) -> PageError {
    match refusal {
        Refusal::WrongState { .. } | Refusal::Deadline(_) => {
            PageError::conflict(refusal.to_string())
        }
        Refusal::WrongRole { .. }
        | Refusal::OtherInstitution { .. }
        | Refusal::SameReviewer { .. } => PageError::forbidden(),
        Refusal::Input(why) => PageError::bad_request(why),
    }
}

/// `POST /flags/{id}/act` (`csrf`, `action`, `reason`, `amount` in yuan for handling).
pub async fn act(
    State(state): State<ApiState>,
    signed: Signed,
    Path(raw): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let form = Fields(fields);
    signed.check_csrf(&form)?;
    let id = flag_id(&raw)?;
    let user = &signed.authed.user;
    visible_flag(&state, user, id).await?;
    let action = form
        .get("action")
        .and_then(Action::parse)
        .ok_or_else(|| PageError::bad_request("action"))?;
    let reason = form.get("reason").unwrap_or_default().trim().to_owned();
    if reason.chars().count() > 10_000 {
        return Err(PageError::bad_request("reason: at most 10000 characters"));
    }
    let amount_fen = match form.get("amount").map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => {
            Some(parse_yuan(v).ok_or_else(|| PageError::bad_request(format!("amount={v:?}")))?)
        }
        None => None,
    };
    let request = Request {
        action,
        reason,
        amount_fen,
        now_ms: now_ms(),
    };
    let to = state
        .store
        .transition_flag(id, &user.actor(), &request, state.appeal_days)
        .await
        .map_err(transition_page)?;
    Ok(redirect(
        &format!("/flags/{id}?done={}", action.as_str()),
        format!("{} → {}", action.as_str(), to.as_str()),
    ))
}

impl crate::store::Store {
    /// The patient's name from the settlements, if any gives one.
    pub async fn patient_name(
        &self,
        psn_no: &str,
    ) -> Result<Option<String>, crate::store::StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT psn_name FROM settlements WHERE psn_no = $1 AND psn_name IS NOT NULL \
             ORDER BY setl_time_ms DESC LIMIT 1",
        )
        .bind(psn_no)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The institution's registered name, if registered.
    pub async fn institution_name(
        &self,
        code: &str,
    ) -> Result<Option<String>, crate::store::StoreError> {
        let registered: Option<String> =
            sqlx::query_scalar("SELECT fixmedins_name FROM institutions WHERE fixmedins_code = $1")
                .bind(code)
                .fetch_optional(self.pool())
                .await?;
        if registered.is_some() {
            return Ok(registered);
        }
        Ok(sqlx::query_scalar(
            "SELECT fixmedins_name FROM settlements WHERE fixmedins_code = $1 \
             AND fixmedins_name IS NOT NULL LIMIT 1",
        )
        .bind(code)
        .fetch_optional(self.pool())
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_yuan, track_liveness_rows};
    use serde_json::json;

    #[test]
    fn track_liveness_rows_come_from_the_sightings_that_carry_a_valid_one() {
        // 2026-11-07 08:00 and 12:00 Beijing.
        let (from, to) = (1_794_009_600_000_i64, 1_794_024_000_000_i64);
        let summary = json!({"samples": 43200, "pairs": 43100, "model_median": 0.9,
            "nonrigid_motion": 0.0, "residual_p90": 0.004, "blinks": 0, "verdict": "not_live"});
        let evidence = json!({"sightings": [
            {"camera_id": "cam-1", "start_ms": from, "end_ms": to, "liveness": 0.9,
             "track_liveness": summary},
            {"camera_id": "cam-2", "start_ms": from, "end_ms": to, "liveness": 0.9},
            {"camera_id": "cam-3", "start_ms": from, "end_ms": to, "liveness": 0.9,
             "track_liveness": {"verdict": "maybe"}},
        ]});
        let rows = track_liveness_rows(&evidence, chrono_tz::Asia::Shanghai);
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        assert_eq!(
            (row.camera_id.as_str(), row.verdict, row.samples, row.blinks),
            ("cam-1", "not_live", 43200, 0)
        );
        assert_eq!(
            (row.from.as_str(), row.to.as_str()),
            ("2026-11-07 08:00", "2026-11-07 12:00")
        );
        assert!(track_liveness_rows(&json!({}), chrono_tz::Asia::Shanghai).is_empty());
    }

    #[test]
    fn yuan_as_typed_become_fen() {
        assert_eq!(parse_yuan("410"), Some(41_000));
        assert_eq!(parse_yuan("410.5"), Some(41_050));
        assert_eq!(parse_yuan(" 1,234.56 "), Some(123_456));
        for bad in ["", "-1", "1.234", "abc", "1e3", "."] {
            assert_eq!(parse_yuan(bad), None, "{bad:?}");
        }
    }
}
