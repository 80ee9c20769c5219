//! 疑点工作台, the auditors' review queue: filters in the URL (rule, state, institution, local date range
//! of when the flag was raised), the count per state under the other filters, keyset paging by id (a
//! page costs the same at the 100,000th flag as at the first), and bulk first review (初审确认) of the
//! selected flags with one reason. The listing query is shared with the institution's [`super::portal`].

use super::auth::local_path;
use super::page::{Fields, PageError, Signed, render};
use crate::api::ApiState;
use crate::api::access::AccessNote;
use crate::flags::store::{FLAG_COLUMNS, FlagRow, TransitionError, flag_from_row};
use crate::flags::workflow::{Action, FlagState, Request};
use crate::rules::RuleId;
use crate::rules::timeline::day_bounds;
use crate::store::{Store, StoreError, now_ms};
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use minijinja::context;
use serde::Serialize;
use sqlx::Row;
use wardwatch_protocol::InstitutionCode;

/// Flags on one page.
pub const PAGE_SIZE: i64 = 50;
/// The most flags one bulk action takes.
pub const MAX_BULK: usize = 200;

/// What a listing shows: every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Rule.
    pub rule: Option<RuleId>,
    /// States (any of them); empty: any state.
    pub states: Vec<FlagState>,
    /// Institution.
    pub institution: Option<InstitutionCode>,
    /// Raised on or after this local date.
    pub from: Option<NaiveDate>,
    /// Raised before this local date.
    pub to: Option<NaiveDate>,
    /// Keyset: only flags with a smaller id (the next page).
    pub before: Option<i64>,
}

/// One row of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct ListedFlag {
    /// The flag.
    #[serde(flatten)]
    pub flag: FlagRow,
    /// When raised (local time).
    pub raised: String,
    /// The appeal deadline (local time).
    pub deadline: Option<String>,
}

/// One page and the counts.
#[derive(Debug, Clone, Serialize)]
pub struct ListingPage {
    /// The flags, newest first.
    pub flags: Vec<ListedFlag>,
    /// The id to continue from, when there is a next page.
    pub next_before: Option<i64>,
    /// (state code, count) under every filter but the state, in workflow order.
    pub counts: Vec<(&'static str, i64)>,
    /// All states together.
    pub total: i64,
}

/// Local date and time, minutes.
pub fn local_time(ms: i64, zone: Tz) -> String {
    zone.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

enum Bound {
    Text(String),
    Int(i64),
}

impl Listing {
    /// WHERE clauses and values; the state filter only when `with_state`.
    fn condition(&self, zone: Tz, with_state: bool) -> (Vec<String>, Vec<Bound>) {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        let mut push = |clause: &dyn Fn(usize) -> String, value: Bound| {
            values.push(value);
            clauses.push(clause(values.len()));
        };
        if let Some(rule) = self.rule {
            push(
                &|n| format!("rule_id = ${n}"),
                Bound::Text(rule.as_str().into()),
            );
        }
        if let Some(code) = &self.institution {
            push(
                &|n| format!("fixmedins_code = ${n}"),
                Bound::Text(code.to_string()),
            );
        }
        if let Some(ms) = self.from.and_then(|d| day_bounds(d, zone)).map(|b| b.0) {
            push(&|n| format!("created_at_ms >= ${n}"), Bound::Int(ms));
        }
        if let Some(ms) = self.to.and_then(|d| day_bounds(d, zone)).map(|b| b.0) {
            push(&|n| format!("created_at_ms < ${n}"), Bound::Int(ms));
        }
        if with_state && !self.states.is_empty() {
            let start = values.len();
            for state in &self.states {
                values.push(Bound::Text(state.as_str().into()));
            }
            let marks: Vec<String> = (start + 1..=values.len())
                .map(|n| format!("${n}"))
                .collect();
            clauses.push(format!("state IN ({})", marks.join(", ")));
        }
        (clauses, values)
    }
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    values: &[Bound],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for value in values {
        query = match value {
            Bound::Text(text) => query.bind(text.clone()),
            Bound::Int(n) => query.bind(*n),
        };
    }
    query
}

fn where_clause(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    }
}

impl Store {
    /// One page of `listing` (newest first, keyset by id) and the counts per state.
    pub async fn flag_listing(
        &self,
        listing: &Listing,
        zone: Tz,
    ) -> Result<ListingPage, StoreError> {
        let (mut clauses, mut values) = listing.condition(zone, true);
        if let Some(before) = listing.before {
            values.push(Bound::Int(before));
            clauses.push(format!("id < ${}", values.len()));
        }
        let sql = format!(
            "SELECT {FLAG_COLUMNS}, created_at_ms FROM flags{} ORDER BY id DESC LIMIT {}",
            where_clause(&clauses),
            PAGE_SIZE + 1
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &values)
            .fetch_all(self.pool())
            .await?;
        let mut flags = Vec::with_capacity(rows.len());
        for row in &rows {
            let flag = flag_from_row(row)?;
            let created: i64 = row.try_get(10)?;
            flags.push(ListedFlag {
                raised: local_time(created, zone),
                deadline: flag.appeal_deadline_ms.map(|ms| local_time(ms, zone)),
                flag,
            });
        }
        let next_before = if flags.len() as i64 > PAGE_SIZE {
            flags.truncate(PAGE_SIZE as usize);
            flags.last().map(|f| f.flag.id)
        } else {
            None
        };
        // Counts under every filter but the state (the state tabs), restricted to the listing's states
        // when it has several (the institution's portal).
        let (mut clauses, mut values) = listing.condition(zone, false);
        if listing.states.len() > 1 {
            let start = values.len();
            for state in &listing.states {
                values.push(Bound::Text(state.as_str().into()));
            }
            let marks: Vec<String> = (start + 1..=values.len())
                .map(|n| format!("${n}"))
                .collect();
            clauses.push(format!("state IN ({})", marks.join(", ")));
        }
        let sql = format!(
            "SELECT state, COUNT(*) FROM flags{} GROUP BY state",
            where_clause(&clauses)
        );
        let mut by_state = std::collections::HashMap::new();
        for row in bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &values)
            .fetch_all(self.pool())
            .await?
        {
            let state: String = row.try_get(0)?;
            let n: i64 = row.try_get(1)?;
            by_state.insert(state, n);
        }
        let counts: Vec<(&'static str, i64)> = FlagState::ALL
            .iter()
            .map(|s| (s.as_str(), by_state.get(s.as_str()).copied().unwrap_or(0)))
            .collect();
        Ok(ListingPage {
            total: counts.iter().map(|(_, n)| n).sum(),
            flags,
            next_before,
            counts,
        })
    }
}

/// The queue's filters as read from the URL; a bad value is a 400 naming the parameter.
pub fn parse_filters(query: &Fields) -> Result<Listing, PageError> {
    let text = |name: &str| query.get(name).map(str::trim).filter(|v| !v.is_empty());
    let date = |name: &str| {
        text(name)
            .map(|v| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                    PageError::bad_request(format!("{name}={v:?}: YYYY-MM-DD expected"))
                })
            })
            .transpose()
    };
    let listing = Listing {
        rule: text("rule")
            .map(|v| {
                v.parse::<RuleId>()
                    .map_err(|_| PageError::bad_request(format!("rule={v:?}")))
            })
            .transpose()?,
        states: text("state")
            .map(|v| {
                FlagState::parse(v).ok_or_else(|| PageError::bad_request(format!("state={v:?}")))
            })
            .transpose()?
            .into_iter()
            .collect(),
        institution: text("institution")
            .map(|v| {
                v.to_ascii_uppercase()
                    .parse::<InstitutionCode>()
                    .map_err(|e| PageError::bad_request(format!("institution={v:?}: {e}")))
            })
            .transpose()?,
        from: date("from")?,
        to: date("to")?,
        before: text("before")
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| PageError::bad_request(format!("before={v:?}")))
            })
            .transpose()?,
    };
    if let (Some(from), Some(to)) = (listing.from, listing.to)
        && from >= to
    {
        return Err(PageError::bad_request("to: must be after from"));
    }
    Ok(listing)
}

/// The query string of `listing` without paging, for links (state tabs, next page, bulk return).
fn query_string(listing: &Listing) -> String {
    let mut parts = Vec::new();
    if let Some(rule) = listing.rule {
        parts.push(format!("rule={}", rule.as_str()));
    }
    if let [state] = listing.states.as_slice() {
        parts.push(format!("state={}", state.as_str()));
    }
    if let Some(code) = &listing.institution {
        parts.push(format!("institution={code}"));
    }
    if let Some(d) = listing.from {
        parts.push(format!("from={d}"));
    }
    if let Some(d) = listing.to {
        parts.push(format!("to={d}"));
    }
    parts.join("&")
}

/// `GET /queue?rule=&state=&institution=&from=&to=&before=` (bureau users).
pub async fn show(
    State(state): State<ApiState>,
    signed: Signed,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.bureau_only()?;
    let query = Fields(query);
    let listing = parse_filters(&query)?;
    let page = state.store.flag_listing(&listing, state.zone).await?;
    let base_query = {
        let mut without_state = listing.clone();
        without_state.states.clear();
        query_string(&without_state)
    };
    let values = context! {
        page => &page,
        rules => RuleId::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        states => FlagState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        filter => context! {
            rule => listing.rule.map(|r| r.as_str()),
            state => listing.states.first().map(|s| s.as_str()),
            institution => listing.institution.as_ref().map(|c| c.to_string()),
            from => listing.from.map(|d| d.to_string()),
            to => listing.to.map(|d| d.to_string()),
            paged => listing.before.is_some(),
        },
        query => query_string(&listing),
        base_query => base_query,
        done => query.get("done"),
        refused => query.get("refused"),
    };
    let mut response = render(&signed.ctx, "queue.html", values);
    response.extensions_mut().insert(AccessNote(format!(
        "queue: {} of {} flags",
        page.flags.len(),
        page.total
    )));
    Ok(response)
}

/// `POST /queue/confirm` (`csrf`, `reason`, `ids`…, `back`): 初审确认 of every selected flag with the
/// one reason, each through the workflow (a flag no longer pending is refused and counted, not fatal).
pub async fn bulk_confirm(
    State(state): State<ApiState>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let form = Fields(fields);
    signed.check_csrf(&form)?;
    signed.bureau_only()?;
    let reason = form.get("reason").unwrap_or_default().trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 10_000 {
        return Err(PageError::bad_request("reason: 1 to 10000 characters"));
    }
    let ids: Vec<i64> = form
        .all("ids")
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| PageError::bad_request(format!("ids={v:?}")))
        })
        .collect::<Result<_, _>>()?;
    if ids.is_empty() || ids.len() > MAX_BULK {
        return Err(PageError::bad_request(format!(
            "ids: 1 to {MAX_BULK} flags"
        )));
    }
    let actor = signed.authed.user.actor();
    let (mut done, mut refused) = (0, 0);
    for id in &ids {
        let request = Request {
            action: Action::Confirm,
            reason: reason.clone(),
            amount_fen: None,
            now_ms: now_ms(),
        };
        match state
            .store
            .transition_flag(*id, &actor, &request, state.appeal_days)
            .await
        {
            Ok(_) => done += 1,
            Err(TransitionError::Store(e)) => return Err(PageError::internal(e)),
            Err(_) => refused += 1,
        }
    }
    let back = local_path(form.get("back"));
    let back = if back.starts_with("/queue") {
        back
    } else {
        "/queue".into()
    };
    let sep = if back.contains('?') { '&' } else { '?' };
    let mut response =
        Redirect::to(&format!("{back}{sep}done={done}&refused={refused}")).into_response();
    response.extensions_mut().insert(AccessNote(format!(
        "bulk confirm of {ids:?}: {done} done, {refused} refused"
    )));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        )
    }

    #[test]
    fn filters_are_read_and_bad_ones_named() {
        let l = parse_filters(&fields(&[
            ("rule", "impersonation"),
            ("state", "pending"),
            ("institution", "h43060200175"),
            ("from", "2026-11-01"),
            ("to", ""),
        ]))
        .expect("filters");
        assert_eq!(l.rule, Some(RuleId::Impersonation));
        assert_eq!(l.states, vec![FlagState::Pending]);
        assert_eq!(
            l.institution.map(|c| c.to_string()).as_deref(),
            Some("H43060200175")
        );
        assert_eq!(l.to, None);
        assert_eq!(
            query_string(
                &parse_filters(&fields(&[("rule", "no_presence"), ("before", "9")])).expect("ok")
            ),
            "rule=no_presence"
        );
        for bad in [
            ("rule", "x"),
            ("state", "done"),
            ("institution", "X1"),
            ("from", "11/01"),
            ("before", "-1"),
        ] {
            let err = parse_filters(&fields(&[bad])).expect_err("refused");
            assert_eq!(err.status.as_u16(), 400);
            assert!(err.detail.unwrap_or_default().contains(bad.0), "{bad:?}");
        }
        assert!(parse_filters(&fields(&[("from", "2026-11-02"), ("to", "2026-11-01")])).is_err());
    }
}
