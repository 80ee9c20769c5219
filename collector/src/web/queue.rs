//! 疑点工作台, the auditors' review queue: filters in the URL (rule, state, institution, local date range
//! of when the flag was raised), the count per state under the other filters, keyset paging by id (a
//! page costs the same at the 100,000th flag as at the first), and bulk first review (初审确认) of the
//! selected flags with one reason. The listing query is shared with the institution's [`super::portal`].

use super::auth::local_path;
use super::flag::parse_yuan;
use super::page::{Fields, PageError, Signed, render};
use crate::api::ApiState;
use crate::api::access::AccessNote;
use crate::flags::query::{Bound, FlagFilter};
use crate::flags::store::{FLAG_COLUMNS, FlagRow, TransitionError, flag_from_row};
use crate::flags::visibility::Viewer;
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
use wardwatch_protocol::{InstitutionCode, WardKind};

/// Flags on one page.
pub const PAGE_SIZE: i64 = 50;
/// The most flags one bulk action takes.
pub const MAX_BULK: usize = 200;

/// How the queue is ordered; each order pages by a keyset on (its key, id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Newest first (by id).
    #[default]
    Newest,
    /// Largest amount at stake first.
    Amount,
    /// Nearest appeal deadline first (flags with a deadline only).
    Deadline,
}

impl Sort {
    /// Every order.
    pub const ALL: [Sort; 3] = [Sort::Newest, Sort::Amount, Sort::Deadline];

    /// The code in the URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::Amount => "amount",
            Sort::Deadline => "deadline",
        }
    }

    /// The sort key's column.
    fn column(self) -> &'static str {
        match self {
            Sort::Newest => "id",
            Sort::Amount => "amount_fen",
            Sort::Deadline => "appeal_deadline_ms",
        }
    }

    /// `ORDER BY`.
    fn order(self) -> &'static str {
        match self {
            Sort::Newest => "id DESC",
            Sort::Amount => "amount_fen DESC, id DESC",
            Sort::Deadline => "appeal_deadline_ms ASC, id ASC",
        }
    }
}

/// Where the next page starts: after the row with this sort key and id (`KEY_ID` in the URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last row's sort key (its id for [`Sort::Newest`]).
    pub key: i64,
    /// The last row's id.
    pub id: i64,
}

/// The ward kinds a flag can be about.
pub const WARD_KINDS: [WardKind; 4] = [
    WardKind::Haemodialysis,
    WardKind::Rehabilitation,
    WardKind::Psychiatric,
    WardKind::Other,
];

/// What a listing shows: every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Rule.
    pub rule: Option<RuleId>,
    /// State.
    pub state: Option<FlagState>,
    /// Institution.
    pub institution: Option<InstitutionCode>,
    /// Kind of ward.
    pub ward_kind: Option<WardKind>,
    /// Raised on or after this local date.
    pub from: Option<NaiveDate>,
    /// Raised before this local date.
    pub to: Option<NaiveDate>,
    /// Amount at stake at least (fen).
    pub min_amount_fen: Option<i64>,
    /// Amount at stake at most (fen).
    pub max_amount_fen: Option<i64>,
    /// Appeal deadline on or after this local date.
    pub deadline_from: Option<NaiveDate>,
    /// Appeal deadline before this local date.
    pub deadline_to: Option<NaiveDate>,
    /// The order.
    pub sort: Sort,
    /// Keyset: the page after this row.
    pub after: Option<Cursor>,
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
    /// The kind of ward.
    pub ward_kind: Option<String>,
}

/// One page and the counts.
#[derive(Debug, Clone, Serialize)]
pub struct ListingPage {
    /// The flags in the listing's order.
    pub flags: Vec<ListedFlag>,
    /// The cursor of the next page (`KEY_ID`), when there is one.
    pub next_after: Option<String>,
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

impl Listing {
    /// The shared flag filter ([`crate::flags::query`]) of this listing, the state left out.
    fn filter(&self, zone: Tz) -> FlagFilter {
        let midnight = |d: Option<NaiveDate>| d.and_then(|d| day_bounds(d, zone)).map(|b| b.0);
        FlagFilter {
            rule: self.rule.map(|r| r.as_str().to_owned()),
            institutions: self.institution.iter().map(ToString::to_string).collect(),
            ward_kind: self.ward_kind.map(|k| k.as_str().to_owned()),
            from_ms: midnight(self.from),
            to_ms: midnight(self.to),
            min_amount_fen: self.min_amount_fen,
            max_amount_fen: self.max_amount_fen,
            deadline_from_ms: midnight(self.deadline_from),
            deadline_to_ms: midnight(self.deadline_to),
            ..FlagFilter::default()
        }
    }
}

impl Store {
    /// One page of `listing` as `viewer` may see it (in the listing's order, keyset-paged) and the
    /// counts per state under the other filters.
    pub async fn flag_listing(
        &self,
        viewer: &Viewer,
        listing: &Listing,
        zone: Tz,
    ) -> Result<ListingPage, StoreError> {
        let filter = listing.filter(zone);
        let mut page = filter.clone();
        page.state = listing.state.map(|s| s.as_str().to_owned());
        let mut condition = page.condition(viewer);
        let sort = listing.sort;
        if sort == Sort::Deadline {
            condition.and("appeal_deadline_ms IS NOT NULL", vec![]);
        }
        if let Some(after) = listing.after {
            let (key, id) = (Bound::Int(after.key), Bound::Int(after.id));
            let column = sort.column();
            match sort {
                Sort::Newest => condition.and("id < {}", vec![id]),
                Sort::Amount => condition.and(
                    &format!("({column} < {{}} OR ({column} = {{}} AND id < {{}}))"),
                    vec![key.clone(), key, id],
                ),
                Sort::Deadline => condition.and(
                    &format!("({column} > {{}} OR ({column} = {{}} AND id > {{}}))"),
                    vec![key.clone(), key, id],
                ),
            }
        }
        let sql = format!(
            "SELECT {FLAG_COLUMNS}, created_at_ms, ward_kind FROM flags{} ORDER BY {} LIMIT {}",
            condition.clause(),
            sort.order(),
            PAGE_SIZE + 1
        );
        let rows = condition
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(self.pool())
            .await?;
        let mut flags = Vec::with_capacity(rows.len());
        for row in &rows {
            let flag = flag_from_row(row)?;
            let created: i64 = row.try_get(10)?;
            flags.push(ListedFlag {
                raised: local_time(created, zone),
                deadline: flag.appeal_deadline_ms.map(|ms| local_time(ms, zone)),
                ward_kind: row.try_get(11)?,
                flag,
            });
        }
        let next_after = if flags.len() as i64 > PAGE_SIZE {
            flags.truncate(PAGE_SIZE as usize);
            flags.last().map(|f| {
                let key = match sort {
                    Sort::Newest => f.flag.id,
                    Sort::Amount => f.flag.amount_fen,
                    Sort::Deadline => f.flag.appeal_deadline_ms.unwrap_or_default(),
                };
                format!("{key}_{}", f.flag.id)
            })
        } else {
            None
        };
        // Counts under every filter but the state (the state tabs).
        let condition = filter.condition(viewer);
        let sql = format!(
            "SELECT state, COUNT(*) FROM flags{} GROUP BY state",
            condition.clause()
        );
        let mut by_state = std::collections::HashMap::new();
        for row in condition
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
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
            next_after,
            counts,
        })
    }
}

/// The queue's filters as read from the URL; a bad value is a 400 naming the parameter.
pub fn parse_filters(query: &Fields) -> Result<Listing, PageError> {
    let text = |name: &str| query.get(name).map(str::trim).filter(|v| !v.is_empty());
    let bad = |name: &str, v: &str, why: &str| PageError::bad_request(format!("{name}={v:?}{why}"));
    let date = |name: &str| {
        text(name)
            .map(|v| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map_err(|_| bad(name, v, ": YYYY-MM-DD expected"))
            })
            .transpose()
    };
    let yuan = |name: &str| {
        text(name)
            .map(|v| parse_yuan(v).ok_or_else(|| bad(name, v, ": yuan expected, e.g. 410.50")))
            .transpose()
    };
    let listing = Listing {
        rule: text("rule")
            .map(|v| v.parse::<RuleId>().map_err(|_| bad("rule", v, "")))
            .transpose()?,
        state: text("state")
            .map(|v| FlagState::parse(v).ok_or_else(|| bad("state", v, "")))
            .transpose()?,
        institution: text("institution")
            .map(|v| {
                v.to_ascii_uppercase()
                    .parse::<InstitutionCode>()
                    .map_err(|e| bad("institution", v, &format!(": {e}")))
            })
            .transpose()?,
        ward_kind: text("ward")
            .map(|v| {
                WARD_KINDS
                    .into_iter()
                    .find(|k| k.as_str() == v)
                    .ok_or_else(|| bad("ward", v, ""))
            })
            .transpose()?,
        from: date("from")?,
        to: date("to")?,
        min_amount_fen: yuan("min")?,
        max_amount_fen: yuan("max")?,
        deadline_from: date("deadline_from")?,
        deadline_to: date("deadline_to")?,
        sort: text("sort")
            .map(|v| {
                Sort::ALL
                    .into_iter()
                    .find(|s| s.as_str() == v)
                    .ok_or_else(|| bad("sort", v, ": newest, amount or deadline"))
            })
            .transpose()?
            .unwrap_or_default(),
        after: text("after")
            .map(|v| {
                v.split_once('_')
                    .and_then(|(key, id)| {
                        Some(Cursor {
                            key: key.parse().ok()?,
                            id: id.parse().ok().filter(|n: &i64| *n > 0)?,
                        })
                    })
                    .ok_or_else(|| bad("after", v, ""))
            })
            .transpose()?,
    };
    for (from, to, name) in [
        (listing.from, listing.to, "to"),
        (listing.deadline_from, listing.deadline_to, "deadline_to"),
    ] {
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(PageError::bad_request(format!(
                "{name}: must be after the start"
            )));
        }
    }
    if let (Some(min), Some(max)) = (listing.min_amount_fen, listing.max_amount_fen)
        && min > max
    {
        return Err(PageError::bad_request("max: must not be below min"));
    }
    Ok(listing)
}

/// The query string of `listing` without paging, for links (state tabs, next page, bulk return).
fn query_string(listing: &Listing) -> String {
    let mut parts = Vec::new();
    let mut push = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            parts.push(format!("{name}={value}"));
        }
    };
    push("rule", listing.rule.map(|r| r.as_str().into()));
    push("state", listing.state.map(|s| s.as_str().into()));
    push(
        "institution",
        listing.institution.as_ref().map(ToString::to_string),
    );
    push("ward", listing.ward_kind.map(|k| k.as_str().into()));
    push("from", listing.from.map(|d| d.to_string()));
    push("to", listing.to.map(|d| d.to_string()));
    push("min", listing.min_amount_fen.map(yuan_plain));
    push("max", listing.max_amount_fen.map(yuan_plain));
    push(
        "deadline_from",
        listing.deadline_from.map(|d| d.to_string()),
    );
    push("deadline_to", listing.deadline_to.map(|d| d.to_string()));
    if listing.sort != Sort::Newest {
        push("sort", Some(listing.sort.as_str().into()));
    }
    parts.join("&")
}

/// Fen as yuan without grouping, as typed in a form: 41050 → "410.50".
fn yuan_plain(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// `GET /queue?rule=&state=&institution=&ward=&from=&to=&min=&max=&deadline_from=&deadline_to=&sort=&after=`
/// (bureau users).
pub async fn show(
    State(state): State<ApiState>,
    signed: Signed,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.bureau_only()?;
    let query = Fields(query);
    let listing = parse_filters(&query)?;
    let page = state
        .store
        .flag_listing(&Viewer::Bureau, &listing, state.zone)
        .await?;
    let base_query = query_string(&Listing {
        state: None,
        ..listing.clone()
    });
    let values = context! {
        page => &page,
        rules => RuleId::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        states => FlagState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        wards => WARD_KINDS.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        sorts => Sort::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        filter => context! {
            rule => listing.rule.map(|r| r.as_str()),
            state => listing.state.map(|s| s.as_str()),
            institution => listing.institution.as_ref().map(|c| c.to_string()),
            ward => listing.ward_kind.map(|k| k.as_str()),
            from => listing.from.map(|d| d.to_string()),
            to => listing.to.map(|d| d.to_string()),
            min => listing.min_amount_fen.map(yuan_plain),
            max => listing.max_amount_fen.map(yuan_plain),
            deadline_from => listing.deadline_from.map(|d| d.to_string()),
            deadline_to => listing.deadline_to.map(|d| d.to_string()),
            sort => listing.sort.as_str(),
            paged => listing.after.is_some(),
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

    /// 120 flags with repeated amounts, 60 of them issued with deadlines (repeated too).
    async fn seeded_store(dir: &std::path::Path) -> Store {
        use crate::flags::store::NewFlag;
        use crate::flags::workflow::{Actor, Role};
        let store = Store::open(&crate::store::StoreLocation::DataDir(dir.to_path_buf()))
            .await
            .expect("store");
        let bureau = Actor {
            user: "seed".into(),
            role: Role::Auditor,
            institution: None,
        };
        for n in 0..120_i64 {
            let id = store
                .raise_flag(&NewFlag {
                    dedup_key: format!("t/{n}"),
                    rule_id: RuleId::ALL[n as usize % RuleId::ALL.len()],
                    rule_version: 1,
                    fixmedins_code: "H43060200175".parse().expect("code"),
                    psn_no: None,
                    amount_fen: 1_000 * (n % 7),
                    evidence: serde_json::json!({
                        "ward_kind": if n % 3 == 0 { "rehabilitation" } else { "haemodialysis" }
                    }),
                    lines: vec![],
                })
                .await
                .expect("raise")
                .expect("new");
            if n % 2 == 0 {
                for action in [Action::Confirm, Action::Issue] {
                    let request = Request {
                        action,
                        reason: "t".into(),
                        amount_fen: None,
                        now_ms: 1_000_000 + (n % 5) * 1_000,
                    };
                    store
                        .transition_flag(id, &bureau, &request, 15)
                        .await
                        .expect("transition");
                }
            }
        }
        store
    }

    #[test]
    fn keyset_pages_visit_every_flag_once_in_each_order() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("dir");
        runtime.block_on(async {
            let store = seeded_store(dir.path()).await;
            let zone = chrono_tz::Asia::Shanghai;
            for (sort, expected) in [
                (Sort::Newest, 120),
                (Sort::Amount, 120),
                (Sort::Deadline, 60),
            ] {
                let mut listing = Listing {
                    sort,
                    ..Listing::default()
                };
                let mut seen = Vec::new();
                loop {
                    let page = store
                        .flag_listing(&Viewer::Bureau, &listing, zone)
                        .await
                        .expect("page");
                    assert_eq!(page.total, 120, "the counts ignore paging");
                    seen.extend(page.flags.iter().map(|f| f.flag.clone()));
                    let Some(next) = page.next_after else { break };
                    listing = parse_filters(&fields(&[
                        ("sort", sort.as_str()),
                        ("after", next.as_str()),
                    ]))
                    .expect("cursor");
                }
                let mut ids: Vec<i64> = seen.iter().map(|f| f.id).collect();
                ids.sort_unstable();
                ids.dedup();
                assert_eq!(ids.len(), expected, "{sort:?}: every flag once");
                assert_eq!(seen.len(), expected, "{sort:?}: no flag twice");
                let ordered = seen.windows(2).all(|w| match sort {
                    Sort::Newest => w[0].id > w[1].id,
                    Sort::Amount => (w[0].amount_fen, w[0].id) > (w[1].amount_fen, w[1].id),
                    Sort::Deadline => {
                        (w[0].appeal_deadline_ms, w[0].id) < (w[1].appeal_deadline_ms, w[1].id)
                    }
                });
                assert!(ordered, "{sort:?}: in order across pages");
            }
            // Filters narrow the page and the counts alike.
            let narrowed = Listing {
                ward_kind: Some(WardKind::Rehabilitation),
                min_amount_fen: Some(2_000),
                max_amount_fen: Some(3_000),
                ..Listing::default()
            };
            let page = store
                .flag_listing(&Viewer::Bureau, &narrowed, zone)
                .await
                .expect("page");
            let expected = (0..120)
                .filter(|n| n % 3 == 0 && (2..=3).contains(&(n % 7)))
                .count();
            assert_eq!(page.flags.len(), expected);
            assert_eq!(page.total as usize, expected);
            assert!(
                page.flags
                    .iter()
                    .all(|f| f.ward_kind.as_deref() == Some("rehabilitation"))
            );
            store.close().await;
        });
    }

    #[test]
    fn filters_are_read_and_bad_ones_named() {
        let l = parse_filters(&fields(&[
            ("rule", "impersonation"),
            ("state", "pending"),
            ("institution", "h43060200175"),
            ("ward", "haemodialysis"),
            ("from", "2026-11-01"),
            ("to", ""),
            ("min", "100"),
            ("max", "1,000.5"),
            ("deadline_from", "2026-12-01"),
            ("sort", "amount"),
            ("after", "41000_17"),
        ]))
        .expect("filters");
        assert_eq!(l.rule, Some(RuleId::Impersonation));
        assert_eq!(l.state, Some(FlagState::Pending));
        assert_eq!(
            l.institution.as_ref().map(|c| c.to_string()).as_deref(),
            Some("H43060200175")
        );
        assert_eq!(l.ward_kind, Some(WardKind::Haemodialysis));
        assert_eq!(l.to, None);
        assert_eq!(
            (l.min_amount_fen, l.max_amount_fen),
            (Some(10_000), Some(100_050))
        );
        assert_eq!(l.sort, Sort::Amount);
        assert_eq!(
            l.after,
            Some(Cursor {
                key: 41_000,
                id: 17
            })
        );
        assert_eq!(
            query_string(&l),
            "rule=impersonation&state=pending&institution=H43060200175&ward=haemodialysis\
             &from=2026-11-01&min=100.00&max=1000.50&deadline_from=2026-12-01&sort=amount",
            "the filter round-trips into links, without the page"
        );
        assert_eq!(
            query_string(
                &parse_filters(&fields(&[("rule", "no_presence"), ("after", "9_9")])).expect("ok")
            ),
            "rule=no_presence"
        );
        for bad in [
            ("rule", "x"),
            ("state", "done"),
            ("institution", "X1"),
            ("ward", "icu"),
            ("from", "11/01"),
            ("min", "-3"),
            ("sort", "random"),
            ("after", "9"),
            ("after", "1_-1"),
        ] {
            let err = parse_filters(&fields(&[bad])).expect_err("refused");
            assert_eq!(err.status.as_u16(), 400);
            assert!(err.detail.unwrap_or_default().contains(bad.0), "{bad:?}");
        }
        assert!(parse_filters(&fields(&[("from", "2026-11-02"), ("to", "2026-11-01")])).is_err());
        assert!(parse_filters(&fields(&[("min", "5"), ("max", "4")])).is_err());
    }
}
