//! Flags in the database: raising them idempotently, applying transitions that [`super::workflow`]
//! allows in one transaction each, appending every change to the append-only `flag_events` log, and
//! marking recovered fee lines so that nothing is recovered twice.

use super::workflow::{
    Action, Actor, FlagFacts, FlagState, Policy, Refusal, Request, ReviewOutcome, decide,
};
use crate::rules::RuleId;
use crate::store::log_chain::{self, ChainedLog, Field};
use crate::store::{Store, StoreError, now_ms};
use serde::Serialize;
use sqlx::{Any, Row, Transaction};
use wardwatch_protocol::{InstitutionCode, PsnNo};

/// A flag a rule wants to raise.
#[derive(Debug, Clone)]
pub struct NewFlag {
    /// Identifies the finding (rule + subject + period): the same finding is never raised twice.
    pub dedup_key: String,
    /// The rule's id.
    pub rule_id: RuleId,
    /// The rule's version.
    pub rule_version: i64,
    /// The institution concerned.
    pub fixmedins_code: InstitutionCode,
    /// The patient concerned, if one.
    pub psn_no: Option<PsnNo>,
    /// The amount at stake, in fen.
    pub amount_fen: i64,
    /// The evidence (presence intervals, camera states, similarities …) as JSON.
    pub evidence: serde_json::Value,
    /// The fee lines (`feedetl_sn`) the flag is about.
    pub lines: Vec<String>,
}

/// A stored flag.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FlagRow {
    /// Id.
    pub id: i64,
    /// Rule id.
    #[schema(value_type = String, example = "no_presence")]
    pub rule_id: RuleId,
    /// Institution.
    #[schema(value_type = String, example = "H43060200175")]
    pub fixmedins_code: InstitutionCode,
    /// Patient.
    #[schema(value_type = Option<String>)]
    pub psn_no: Option<PsnNo>,
    /// Amount at stake (fen).
    pub amount_fen: i64,
    /// Current state (serialised as its code).
    #[schema(value_type = crate::api::openapi::StateCode)]
    pub state: FlagState,
    /// Appeal deadline.
    pub appeal_deadline_ms: Option<i64>,
    /// The institution's appeal text.
    pub appeal_text: Option<String>,
    /// `refuse_payment` or `recover`, once handled.
    pub outcome: Option<String>,
    /// The amount refused or recovered (fen).
    pub outcome_amount_fen: Option<i64>,
}

/// One entry of a flag's audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FlagEvent {
    /// When.
    pub at_ms: i64,
    /// Who.
    pub actor: String,
    /// In which role.
    pub role: String,
    /// What.
    pub action: String,
    /// From state.
    pub from_state: String,
    /// To state.
    pub to_state: String,
    /// Why.
    pub reason: String,
    /// Amount, for handling.
    pub amount_fen: Option<i64>,
}

/// How a rule's flags fared in review (the policy's 阳性率: confirmed share of reviewed flags, target
/// at least 50%).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RuleStats {
    /// The rule.
    pub rule_id: String,
    /// Flags raised.
    pub raised: i64,
    /// Flags still waiting for first review.
    pub pending: i64,
    /// Flags that stand (confirmed at first review and not reversed later).
    pub positive: i64,
    /// Flags excluded at first review or reversed at second review.
    pub negative: i64,
    /// positive / (positive + negative); `None` before any review.
    pub positive_rate: Option<f64>,
    /// negative / (positive + negative).
    pub false_positive_rate: Option<f64>,
}

/// A transition could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    /// No such flag.
    #[error("flag {0} does not exist")]
    NotFound(i64),
    /// The workflow refuses it.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A fee line of the flag was already recovered by another flag.
    #[error("fee line {line} was already recovered by flag {by}; nothing is recovered twice")]
    AlreadyRecovered {
        /// The fee line.
        line: String,
        /// The flag that recovered it.
        by: i64,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TransitionError {
    fn from(e: sqlx::Error) -> Self {
        TransitionError::Store(StoreError::Query(e))
    }
}

/// The columns [`flag_from_row`] reads, in order.
pub(crate) const FLAG_COLUMNS: &str = "id, rule_id, fixmedins_code, psn_no, amount_fen, state, appeal_deadline_ms, \
     appeal_text, outcome, outcome_amount_fen";

pub(crate) fn flag_from_row(r: &sqlx::any::AnyRow) -> Result<FlagRow, StoreError> {
    let psn_no: Option<String> = r.try_get(3)?;
    Ok(FlagRow {
        id: r.try_get(0)?,
        rule_id: stored_rule(&r.try_get::<String, _>(1)?)?,
        fixmedins_code: stored_institution(r.try_get(2)?)?,
        psn_no: psn_no.map(stored_psn_no).transpose()?,
        amount_fen: r.try_get(4)?,
        state: stored_state(&r.try_get::<String, _>(5)?)?,
        appeal_deadline_ms: r.try_get(6)?,
        appeal_text: r.try_get(7)?,
        outcome: r.try_get(8)?,
        outcome_amount_fen: r.try_get(9)?,
    })
}

/// Appends `event` to the audit log, hash-chained ([`crate::store::log_chain`]).
async fn append_event(
    tx: &mut Transaction<'static, Any>,
    flag_id: i64,
    event: &FlagEvent,
) -> Result<(), StoreError> {
    log_chain::append(
        tx,
        ChainedLog::Audit,
        &[
            Field::int(flag_id),
            Field::int(event.at_ms),
            Field::text(&event.actor),
            Field::text(&event.role),
            Field::text(&event.action),
            Field::text(&event.from_state),
            Field::text(&event.to_state),
            Field::text(&event.reason),
            Field::Int(event.amount_fen),
        ],
    )
    .await?;
    Ok(())
}

/// A stored rule id, typed; an unknown one means the database is corrupt.
pub(crate) fn stored_rule(code: &str) -> Result<RuleId, StoreError> {
    code.parse()
        .map_err(|e: crate::rules::id::UnknownRule| StoreError::Corrupt {
            what: "flag rule id",
            why: e.to_string(),
        })
}

/// A stored flag state, typed.
pub(crate) fn stored_state(code: &str) -> Result<FlagState, StoreError> {
    FlagState::parse(code).ok_or_else(|| StoreError::Corrupt {
        what: "flag state",
        why: format!("unknown state {code:?}"),
    })
}

/// A stored institution code, typed (every code was checked when it was stored).
pub(crate) fn stored_institution(code: String) -> Result<InstitutionCode, StoreError> {
    InstitutionCode::try_from(code).map_err(|e| StoreError::Corrupt {
        what: "institution code",
        why: e.to_string(),
    })
}

/// A stored insured-person number, typed.
pub(crate) fn stored_psn_no(code: String) -> Result<PsnNo, StoreError> {
    PsnNo::try_from(code).map_err(|e| StoreError::Corrupt {
        what: "psn_no",
        why: e.to_string(),
    })
}

impl Store {
    /// Raises a flag unless the same finding (`dedup_key`) was raised before. Returns its id if new.
    pub async fn raise_flag(&self, flag: &NewFlag) -> Result<Option<i64>, StoreError> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let id: Option<i64> = sqlx::query(
            "INSERT INTO flags (dedup_key, rule_id, rule_version, fixmedins_code, psn_no, amount_fen, \
             evidence, state, created_at_ms, updated_at_ms, ward_kind) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        )
        .bind(&flag.dedup_key)
        .bind(flag.rule_id.as_str())
        .bind(flag.rule_version)
        .bind(flag.fixmedins_code.as_str())
        .bind(flag.psn_no.as_ref().map(PsnNo::as_str))
        .bind(flag.amount_fen)
        .bind(flag.evidence.to_string())
        .bind(FlagState::Pending.as_str())
        .bind(now)
        // The ward kind from the evidence, in its own column for the review queue's filter.
        .bind(
            flag.evidence
                .get("ward_kind")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
        let Some(id) = id else {
            tx.rollback().await?;
            return Ok(None);
        };
        for line in &flag.lines {
            sqlx::query(
                "INSERT INTO flag_lines (flag_id, feedetl_sn) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(line)
            .execute(&mut *tx)
            .await?;
        }
        append_event(
            &mut tx,
            id,
            &FlagEvent {
                at_ms: now,
                actor: format!("rule {} v{}", flag.rule_id, flag.rule_version),
                role: "system".into(),
                action: "raise".into(),
                from_state: "-".into(),
                to_state: FlagState::Pending.as_str().into(),
                reason: format!("raised by rule {}", flag.rule_id),
                amount_fen: Some(flag.amount_fen),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Applies `request` by `actor` to flag `id`, if the workflow allows it under the default
    /// [`Policy`] (separation of duties on). `appeal_days` sets the deadline when the flag is issued.
    pub async fn transition_flag(
        &self,
        id: i64,
        actor: &Actor,
        request: &Request,
        appeal_days: i64,
    ) -> Result<FlagState, TransitionError> {
        self.transition_flag_under(id, actor, request, appeal_days, Policy::default())
            .await
    }

    /// [`Store::transition_flag`] under the bureau's `policy`.
    pub async fn transition_flag_under(
        &self,
        id: i64,
        actor: &Actor,
        request: &Request,
        appeal_days: i64,
        policy: Policy,
    ) -> Result<FlagState, TransitionError> {
        let mut tx = self.pool().begin().await?;
        // Lock the row (PostgreSQL); SQLite holds the database write lock from here on.
        sqlx::query("UPDATE flags SET updated_at_ms = updated_at_ms WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(
            "SELECT state, fixmedins_code, amount_fen, appeal_deadline_ms FROM flags WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(TransitionError::NotFound(id))?;
        // The first review (初审) is the latest `confirm`: the one the later reviews build on.
        let first_reviewer: Option<String> = sqlx::query(
            "SELECT actor FROM flag_events WHERE flag_id = $1 AND action = $2 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(id)
        .bind(Action::Confirm.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
        let facts = FlagFacts {
            state: stored_state(&row.try_get::<String, _>(0)?)?,
            fixmedins_code: stored_institution(row.try_get(1)?)?,
            amount_fen: row.try_get(2)?,
            appeal_deadline_ms: row.try_get(3)?,
            first_reviewer,
        };
        let to = decide(&facts, actor, request, policy)?;
        let now = request.now_ms;
        match request.action {
            Action::Issue => {
                sqlx::query("UPDATE flags SET appeal_deadline_ms = $2 WHERE id = $1")
                    .bind(id)
                    .bind(now + appeal_days * 86_400_000)
                    .execute(&mut *tx)
                    .await?;
            }
            Action::Appeal => {
                sqlx::query("UPDATE flags SET appeal_text = $2 WHERE id = $1")
                    .bind(id)
                    .bind(&request.reason)
                    .execute(&mut *tx)
                    .await?;
            }
            Action::RefusePayment | Action::Recover => {
                if request.action == Action::Recover {
                    let taken = sqlx::query(
                        "SELECT f.feedetl_sn, f.recovered_by_flag FROM flag_lines l \
                         JOIN fee_lines f ON f.feedetl_sn = l.feedetl_sn \
                         WHERE l.flag_id = $1 AND f.recovered_by_flag IS NOT NULL \
                         AND f.recovered_by_flag <> $1 ORDER BY f.feedetl_sn LIMIT 1",
                    )
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(taken) = taken {
                        return Err(TransitionError::AlreadyRecovered {
                            line: taken.try_get(0)?,
                            by: taken.try_get(1)?,
                        });
                    }
                    sqlx::query(
                        "UPDATE fee_lines SET recovered_by_flag = $1 WHERE feedetl_sn IN \
                         (SELECT feedetl_sn FROM flag_lines WHERE flag_id = $1)",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query("UPDATE flags SET outcome = $2, outcome_amount_fen = $3 WHERE id = $1")
                    .bind(id)
                    .bind(request.action.as_str())
                    .bind(request.amount_fen)
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {}
        }
        sqlx::query("UPDATE flags SET state = $2, updated_at_ms = $3 WHERE id = $1")
            .bind(id)
            .bind(to.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        append_event(
            &mut tx,
            id,
            &FlagEvent {
                at_ms: now,
                actor: actor.user.clone(),
                role: actor.role.as_str().into(),
                action: request.action.as_str().into(),
                from_state: facts.state.as_str().into(),
                to_state: to.as_str().into(),
                reason: request.reason.clone(),
                amount_fen: request.amount_fen.filter(|_| request.action.needs_amount()),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(to)
    }

    /// One flag.
    pub async fn flag(&self, id: i64) -> Result<Option<FlagRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FLAG_COLUMNS} FROM flags WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| flag_from_row(&r)).transpose()
    }

    /// Every flag, newest first (the JSON API will filter and page).
    pub async fn list_flags(&self) -> Result<Vec<FlagRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FLAG_COLUMNS} FROM flags ORDER BY id DESC"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(flag_from_row).collect()
    }

    /// Review outcomes per rule, by rule id ([`FlagState::review_outcome`] decides how each state counts).
    pub async fn rule_stats(&self) -> Result<Vec<RuleStats>, StoreError> {
        let rows = sqlx::query(
            "SELECT rule_id, state, COUNT(*) FROM flags GROUP BY rule_id, state ORDER BY rule_id",
        )
        .fetch_all(self.pool())
        .await?;
        let mut per_rule: std::collections::BTreeMap<String, [i64; 3]> = Default::default();
        for r in rows {
            let rule_id: String = r.try_get(0)?;
            let state: String = r.try_get(1)?;
            let count: i64 = r.try_get(2)?;
            let state = stored_state(&state)?;
            let counts = per_rule.entry(rule_id).or_default();
            counts[match state.review_outcome() {
                ReviewOutcome::Pending => 0,
                ReviewOutcome::Positive => 1,
                ReviewOutcome::Negative => 2,
            }] += count;
        }
        Ok(per_rule
            .into_iter()
            .map(|(rule_id, [pending, positive, negative])| {
                let reviewed = positive + negative;
                let share = |n: i64| (reviewed > 0).then(|| n as f64 / reviewed as f64);
                RuleStats {
                    rule_id,
                    raised: pending + positive + negative,
                    pending,
                    positive,
                    negative,
                    positive_rate: share(positive),
                    false_positive_rate: share(negative),
                }
            })
            .collect())
    }

    /// A flag's audit log, oldest first.
    pub async fn flag_history(&self, id: i64) -> Result<Vec<FlagEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, actor, role, action, from_state, to_state, reason, amount_fen \
             FROM flag_events WHERE flag_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(FlagEvent {
                    at_ms: r.try_get(0)?,
                    actor: r.try_get(1)?,
                    role: r.try_get(2)?,
                    action: r.try_get(3)?,
                    from_state: r.try_get(4)?,
                    to_state: r.try_get(5)?,
                    reason: r.try_get(6)?,
                    amount_fen: r.try_get(7)?,
                })
            })
            .collect()
    }
}
