//! Reading flags for the JSON API (and later the UI and exports): filtered, paged listings; one flag
//! with its evidence and fee lines; and the appeal attachments (stored in `flag_attachments`). Every
//! read takes a [`Viewer`]: what an institution may see is decided here, once, for every reader.

use super::store::{FLAG_COLUMNS, FlagRow, flag_from_row};
use super::visibility::Viewer;
use crate::store::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;

/// Which flags to list. Every field narrows; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagFilter {
    /// Rule id.
    pub rule: Option<String>,
    /// State code.
    pub state: Option<String>,
    /// Institution codes the flag must belong to (all of them must match: an institution viewer's
    /// own code is added, so another code then matches nothing).
    pub institutions: Vec<String>,
    /// Patient.
    pub psn_no: Option<String>,
    /// `created_at_ms` at or after.
    pub from_ms: Option<i64>,
    /// `created_at_ms` before.
    pub to_ms: Option<i64>,
    /// Any of these state codes (empty: any).
    pub any_state: Vec<String>,
    /// The kind of ward the flag's billed service was in (`haemodialysis`, …).
    pub ward_kind: Option<String>,
    /// Amount at stake at least (fen).
    pub min_amount_fen: Option<i64>,
    /// Amount at stake at most (fen).
    pub max_amount_fen: Option<i64>,
    /// Appeal deadline at or after.
    pub deadline_from_ms: Option<i64>,
    /// Appeal deadline before.
    pub deadline_to_ms: Option<i64>,
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

/// A flag in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FlagListItem {
    /// The flag.
    #[serde(flatten)]
    pub flag: FlagRow,
    /// The rule's version that raised it.
    pub rule_version: i64,
    /// When it was raised.
    pub created_at_ms: i64,
    /// When it last changed.
    pub updated_at_ms: i64,
}

/// One page of flags and how many match in all.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FlagPage {
    /// Matching flags in all pages.
    pub total: i64,
    /// This page, newest first.
    pub flags: Vec<FlagListItem>,
}

/// A fee line a flag is about.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FlagFeeLine {
    /// Fee line id.
    pub feedetl_sn: String,
    /// Visit.
    pub mdtrt_id: String,
    /// Patient.
    pub psn_no: String,
    /// When billed.
    pub fee_ocur_time_ms: i64,
    /// Item code.
    pub hilist_code: String,
    /// Item name.
    pub hilist_name: Option<String>,
    /// Count.
    pub cnt: f64,
    /// Amount (fen).
    pub det_item_fee_sumamt_fen: i64,
    /// The flag that recovered it, if any.
    pub recovered_by_flag: Option<i64>,
}

/// An attachment's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AttachmentMeta {
    /// Id.
    pub id: i64,
    /// The uploader's file name.
    pub file_name: String,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// Bytes.
    pub size: i64,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// When.
    pub at_ms: i64,
}

/// A flag with everything an auditor reviews.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FlagDetail {
    /// The flag.
    #[serde(flatten)]
    pub item: FlagListItem,
    /// The rule's evidence, parsed (its shape depends on the rule; for an institution, objects naming
    /// another institution are replaced by `{"withheld": …, "kind": …}`).
    pub evidence: serde_json::Value,
    /// Its fee lines (lines not imported are left out).
    pub lines: Vec<FlagFeeLine>,
    /// Attachments (metadata only).
    pub attachments: Vec<AttachmentMeta>,
}

/// The columns [`item_from_row`] reads: the flag's, then the listing's own.
fn list_columns() -> String {
    format!("{FLAG_COLUMNS}, rule_version, created_at_ms, updated_at_ms")
}

fn item_from_row(r: &sqlx::any::AnyRow) -> Result<FlagListItem, StoreError> {
    Ok(FlagListItem {
        flag: flag_from_row(r)?,
        rule_version: r.try_get(10)?,
        created_at_ms: r.try_get(11)?,
        updated_at_ms: r.try_get(12)?,
    })
}

/// A value bound to a `$n` placeholder.
#[derive(Debug, Clone)]
pub(crate) enum Bound {
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
}

/// A WHERE clause with `$1…$n` placeholders and the values they bind: built from a [`FlagFilter`]
/// for a [`Viewer`], then narrowed further by the reader (a keyset, a sort's cursor).
#[derive(Debug, Clone, Default)]
pub(crate) struct Condition {
    clauses: Vec<String>,
    values: Vec<Bound>,
}

impl Condition {
    /// Adds `clause`, in which `{}` stands for each of `values`' placeholders in turn.
    pub(crate) fn and(&mut self, clause: &str, values: Vec<Bound>) {
        let mut text = String::new();
        let mut pieces = clause.split("{}");
        if let Some(first) = pieces.next() {
            text.push_str(first);
        }
        for (piece, value) in pieces.zip(values) {
            self.values.push(value);
            text.push_str(&format!("${}", self.values.len()));
            text.push_str(piece);
        }
        self.clauses.push(text);
    }

    /// ` WHERE …` (empty when nothing narrows).
    pub(crate) fn clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// How many values are bound (the next placeholder is this plus one).
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// `query` with the values bound in order.
    pub(crate) fn bind<'q>(
        &self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for value in &self.values {
            query = match value {
                Bound::Text(text) => query.bind(text.clone()),
                Bound::Int(n) => query.bind(*n),
            };
        }
        query
    }
}

impl FlagFilter {
    /// The WHERE clause and its values, narrowed to what `viewer` may see. Every reader of flag
    /// listings (the API, the review queue, the institution's list) goes through here.
    pub(crate) fn condition(&self, viewer: &Viewer) -> Condition {
        let mut c = Condition::default();
        let text = |v: &String| vec![Bound::Text(v.clone())];
        if let Some(rule) = &self.rule {
            c.and("rule_id = {}", text(rule));
        }
        if let Some(state) = &self.state {
            c.and("state = {}", text(state));
        }
        if !self.any_state.is_empty() {
            let marks = vec!["{}"; self.any_state.len()].join(", ");
            c.and(
                &format!("state IN ({marks})"),
                self.any_state
                    .iter()
                    .map(|s| Bound::Text(s.clone()))
                    .collect(),
            );
        }
        for code in &self.institutions {
            c.and("fixmedins_code = {}", text(code));
        }
        if let Some(own) = viewer.institution() {
            c.and("fixmedins_code = {}", vec![Bound::Text(own.to_string())]);
        }
        if let Some(psn) = &self.psn_no {
            c.and("psn_no = {}", text(psn));
        }
        if let Some(kind) = &self.ward_kind {
            c.and("ward_kind = {}", text(kind));
        }
        let ints = [
            ("created_at_ms >= {}", self.from_ms),
            ("created_at_ms < {}", self.to_ms),
            ("amount_fen >= {}", self.min_amount_fen),
            ("amount_fen <= {}", self.max_amount_fen),
            ("appeal_deadline_ms >= {}", self.deadline_from_ms),
            ("appeal_deadline_ms < {}", self.deadline_to_ms),
        ];
        for (clause, value) in ints {
            if let Some(n) = value {
                c.and(clause, vec![Bound::Int(n)]);
            }
        }
        if matches!(viewer, Viewer::Institution(_)) {
            // Fixed codes, not input: listed inline.
            let states: Vec<String> = viewer
                .visible_states()
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            c.and(&format!("state IN ({})", states.join(", ")), vec![]);
        }
        c
    }
}

impl Store {
    /// One page of the flags matching `filter`, newest first, and the total that match (the bureau's
    /// view).
    pub async fn find_flags(&self, filter: &FlagFilter) -> Result<FlagPage, StoreError> {
        self.find_flags_for(&Viewer::Bureau, filter).await
    }

    /// One page of the flags matching `filter` that `viewer` may see, newest first, and their total.
    pub async fn find_flags_for(
        &self,
        viewer: &Viewer,
        filter: &FlagFilter,
    ) -> Result<FlagPage, StoreError> {
        let condition = filter.condition(viewer);
        let clause = condition.clause();
        let total: i64 = condition
            .bind(sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM flags{clause}"
            ))))
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        let n = condition.len();
        let rows = condition
            .bind(sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM flags{clause} ORDER BY id DESC LIMIT ${} OFFSET ${}",
                list_columns(),
                n + 1,
                n + 2
            ))))
            .bind(filter.limit)
            .bind(filter.offset)
            .fetch_all(self.pool())
            .await?;
        Ok(FlagPage {
            total,
            flags: rows.iter().map(item_from_row).collect::<Result<_, _>>()?,
        })
    }

    /// Flag `id` if `viewer` may see it; `None` whether it does not exist or is not the viewer's to
    /// see (so that the two cannot be told apart).
    pub async fn flag_for(&self, viewer: &Viewer, id: i64) -> Result<Option<FlagRow>, StoreError> {
        Ok(self
            .flag(id)
            .await?
            .filter(|f| viewer.may_see(&f.fixmedins_code, f.state)))
    }

    /// One flag with its evidence, fee lines and attachments' metadata (the bureau's view).
    pub async fn flag_detail(&self, id: i64) -> Result<Option<FlagDetail>, StoreError> {
        self.flag_detail_for(&Viewer::Bureau, id).await
    }

    /// One flag as `viewer` may see it: `None` when it may not; for an institution, the evidence
    /// redacted and only its own fee lines (see [`super::visibility`]).
    pub async fn flag_detail_for(
        &self,
        viewer: &Viewer,
        id: i64,
    ) -> Result<Option<FlagDetail>, StoreError> {
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {}, evidence FROM flags WHERE id = $1",
            list_columns()
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let item = item_from_row(&row)?;
        if !viewer.may_see(&item.flag.fixmedins_code, item.flag.state) {
            return Ok(None);
        }
        let evidence_text: String = row.try_get(13)?;
        let evidence: serde_json::Value =
            serde_json::from_str(&evidence_text).map_err(|e| StoreError::Corrupt {
                what: "flag evidence",
                why: e.to_string(),
            })?;
        let evidence = viewer.redact_evidence(&evidence);
        // An institution gets its own fee lines only (a line without an institution of its own is
        // the flag's, whose institution the viewer is).
        let own = viewer.institution().map(|c| c.to_string());
        let own_lines_only = if own.is_some() {
            " AND (f.fixmedins_code IS NULL OR f.fixmedins_code = $2)"
        } else {
            ""
        };
        let mut lines_query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT f.feedetl_sn, f.mdtrt_id, f.psn_no, f.fee_ocur_time_ms, f.hilist_code, \
             f.hilist_name, f.cnt, f.det_item_fee_sumamt_fen, f.recovered_by_flag \
             FROM flag_lines l JOIN fee_lines f ON f.feedetl_sn = l.feedetl_sn \
             WHERE l.flag_id = $1{own_lines_only} ORDER BY f.fee_ocur_time_ms, f.feedetl_sn"
        )))
        .bind(id);
        if let Some(own) = own {
            lines_query = lines_query.bind(own);
        }
        let lines = lines_query
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| {
                Ok(FlagFeeLine {
                    feedetl_sn: r.try_get(0)?,
                    mdtrt_id: r.try_get(1)?,
                    psn_no: r.try_get(2)?,
                    fee_ocur_time_ms: r.try_get(3)?,
                    hilist_code: r.try_get(4)?,
                    hilist_name: r.try_get(5)?,
                    cnt: r.try_get(6)?,
                    det_item_fee_sumamt_fen: r.try_get(7)?,
                    recovered_by_flag: r.try_get(8)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        let attachments = sqlx::query(
            "SELECT id, file_name, sha256, size, uploaded_by, at_ms FROM flag_attachments \
             WHERE flag_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(attachment_from_row)
        .collect::<Result<_, _>>()?;
        Ok(Some(FlagDetail {
            item,
            evidence,
            lines,
            attachments,
        }))
    }

    /// An attachment of flag `flag_id` with its content.
    pub async fn attachment(
        &self,
        flag_id: i64,
        attachment_id: i64,
    ) -> Result<Option<(AttachmentMeta, Vec<u8>)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, file_name, sha256, size, uploaded_by, at_ms, content FROM flag_attachments \
             WHERE flag_id = $1 AND id = $2",
        )
        .bind(flag_id)
        .bind(attachment_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((attachment_from_row(&row)?, row.try_get(6)?)))
    }
}

fn attachment_from_row(r: &sqlx::any::AnyRow) -> Result<AttachmentMeta, sqlx::Error> {
    Ok(AttachmentMeta {
        id: r.try_get(0)?,
        file_name: r.try_get(1)?,
        sha256: r.try_get(2)?,
        size: r.try_get(3)?,
        uploaded_by: r.try_get(4)?,
        at_ms: r.try_get(5)?,
    })
}
