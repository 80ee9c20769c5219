//! What the rule evaluators read, loaded once per run: the fee lines billed in the window for items the
//! knowledge base knows (with their institution), what the ward boxes observed around it, and the
//! enrolled faces. Evaluators take these as plain data and never touch the database, so a test can build
//! them by hand; a run loads them one [`Scope`] at a time (an institution, then the patients seen or
//! billed at more than one), so its memory is that of the largest institution, not of the province.

use super::RulesError;
use super::observed::Observations;
use crate::flags::store::{stored_institution, stored_psn_no};
use crate::gallery::Enrolled;
use crate::knowledge::{Knowledge, KnowledgeItem};
use crate::settlement::refunds::{ClaimLine, net_claims};
use crate::store::Store;
use chrono_tz::Tz;
use sqlx::Row;
use wardwatch_protocol::{InstitutionCode, PsnNo};

/// A fee line of a knowledge-listed item, with the institution of its encounter.
#[derive(Debug, Clone)]
pub struct BilledLine<'k> {
    /// The fee line.
    pub feedetl_sn: String,
    /// The patient.
    pub psn_no: PsnNo,
    /// When it was billed (UTC ms); taken as the start of the session.
    pub at_ms: i64,
    /// What the knowledge base says about its item.
    pub item: &'k KnowledgeItem,
    /// Units (negative for refunds).
    pub cnt: f64,
    /// Amount in fen.
    pub fee_fen: i64,
    /// The institution: the fee line's own (定点医药机构编号), else its encounter's settlement's (`None`:
    /// neither is known).
    pub institution: Option<InstitutionCode>,
}

impl BilledLine<'_> {
    /// The billed slot: [fee time, fee time + units × presence per unit).
    pub fn slot(&self) -> (i64, i64) {
        let minutes = self.cnt.max(0.0) * f64::from(self.item.min_presence_minutes);
        (self.at_ms, self.at_ms + (minutes * 60_000.0) as i64)
    }
}

/// Everything a run's evaluators read.
#[derive(Debug)]
pub struct RuleInputs<'k> {
    /// The zone of local days.
    pub zone: Tz,
    /// Window start (UTC ms, inclusive).
    pub from_ms: i64,
    /// Window end (UTC ms, exclusive).
    pub to_ms: i64,
    /// Fee lines billed in the window, in billing order.
    pub lines: Vec<BilledLine<'k>>,
    /// What the ward boxes saw.
    pub observed: Observations,
    /// The enrolled faces, in enrolment order (for `duplicate_face`).
    pub enrolled: Vec<Enrolled>,
    /// Refund lines in the window that refund no billed line in it.
    pub unmatched_refunds: u64,
}

/// Which part of a run's window a [`RuleInputs`] holds: a province-scale run loads one institution at a
/// time, then the patients seen or billed at more than one, never the whole window at once.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Everything in the window.
    All,
    /// One institution's fee lines (its own 定点医药机构编号, else its encounter's settlement), its
    /// presence intervals (patients and unknown faces) and its monitoring.
    Institution(&'a InstitutionCode),
    /// These patients' fee lines at every institution and their presence (no unknown faces); the
    /// monitoring is the caller's.
    Patients(&'a [PsnNo]),
}

impl<'k> RuleInputs<'k> {
    /// Loads a run's inputs for fee lines billed in [from_ms, to_ms), local days in `zone`; a ward box
    /// that sealed nothing for longer than `silence_ms` was silent.
    pub async fn load(
        store: &Store,
        knowledge: &'k Knowledge,
        zone: Tz,
        (from_ms, to_ms): (i64, i64),
        silence_ms: i64,
    ) -> Result<RuleInputs<'k>, RulesError> {
        let mut inputs = RuleInputs::load_scope(
            store,
            knowledge,
            zone,
            (from_ms, to_ms),
            silence_ms,
            Scope::All,
        )
        .await?;
        inputs.enrolled = store.gallery().await?;
        Ok(inputs)
    }

    /// Loads the part `scope` of a run's inputs (no enrolled faces: the caller adds them where
    /// `duplicate_face` needs them). For [`Scope::Patients`] the monitoring is left empty.
    pub async fn load_scope(
        store: &Store,
        knowledge: &'k Knowledge,
        zone: Tz,
        (from_ms, to_ms): (i64, i64),
        silence_ms: i64,
        scope: Scope<'_>,
    ) -> Result<RuleInputs<'k>, RulesError> {
        let (lines, unmatched_refunds) =
            billed_lines(store, knowledge, zone, from_ms, to_ms, scope).await?;
        Ok(RuleInputs {
            zone,
            from_ms,
            to_ms,
            lines,
            unmatched_refunds,
            observed: Observations::load(store, from_ms, to_ms, silence_ms, scope).await?,
            enrolled: Vec::new(),
        })
    }
}

/// `$first, $first+1, …` for `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The item codes the knowledge base knows (the only fee lines the rules read).
pub(crate) fn known_codes(knowledge: &Knowledge) -> Vec<String> {
    knowledge
        .items
        .iter()
        .map(|i| i.hilist_code.clone())
        .collect()
}

/// The claims billed in [from_ms, to_ms) for items the knowledge base knows, in billing order: each
/// billed line net of the refunds in the window that refund it ([`net_claims`]: by 原费用流水号 when the
/// export gives it, else matched), so a fully refunded line and its refund are never judged and a partly
/// refunded one is judged on its net units and amount. Also: how many refunds refund no line in the window.
async fn billed_lines<'k>(
    store: &Store,
    knowledge: &'k Knowledge,
    zone: Tz,
    from_ms: i64,
    to_ms: i64,
    scope: Scope<'_>,
) -> Result<(Vec<BilledLine<'k>>, u64), RulesError> {
    let codes = known_codes(knowledge);
    if codes.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let columns = "f.feedetl_sn, f.psn_no, f.fee_ocur_time_ms, f.hilist_code, f.cnt, \
                   f.det_item_fee_sumamt_fen";
    // The encounter's institution, for a line without its own.
    let settled = "(SELECT MIN(s.fixmedins_code) FROM settlements s WHERE s.mdtrt_id = f.mdtrt_id)";
    let window = "f.fee_ocur_time_ms >= $1 AND f.fee_ocur_time_ms < $2";
    let known = format!("f.hilist_code IN ({})", placeholders(3, codes.len()));
    let next = 3 + codes.len();
    let (sql, values): (String, Vec<String>) = match scope {
        Scope::All => (
            format!(
                "SELECT {columns}, COALESCE(f.fixmedins_code, {settled}), f.init_feedetl_sn \
                 FROM fee_lines f WHERE {window} AND {known} ORDER BY f.fee_ocur_time_ms, f.feedetl_sn"
            ),
            Vec::new(),
        ),
        // Two index ranges: the institution's own lines, and lines without an institution whose
        // encounter was settled there.
        Scope::Institution(code) => (
            format!(
                "SELECT * FROM (SELECT {columns}, f.fixmedins_code, f.init_feedetl_sn FROM fee_lines f \
                 WHERE f.fixmedins_code = ${next} AND {window} AND {known} \
                 UNION ALL SELECT {columns}, ${next}, f.init_feedetl_sn FROM fee_lines f \
                 WHERE f.fixmedins_code IS NULL AND {window} AND {known} AND {settled} = ${next}) t \
                 ORDER BY 3, 1"
            ),
            vec![code.as_str().to_owned()],
        ),
        Scope::Patients(people) => (
            format!(
                "SELECT {columns}, COALESCE(f.fixmedins_code, {settled}), f.init_feedetl_sn \
                 FROM fee_lines f WHERE f.psn_no IN ({}) AND {window} AND {known} \
                 ORDER BY f.fee_ocur_time_ms, f.feedetl_sn",
                placeholders(next, people.len())
            ),
            people.iter().map(|p| p.as_str().to_owned()).collect(),
        ),
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(from_ms)
        .bind(to_ms);
    for code in codes.into_iter().chain(values) {
        query = query.bind(code);
    }
    let rows = query.fetch_all(store.pool()).await?;
    let mut claim_lines = Vec::new();
    for row in rows {
        let code: String = row.try_get(3)?;
        if knowledge.item(&code).is_none() {
            continue;
        }
        claim_lines.push(ClaimLine {
            feedetl_sn: row.try_get(0)?,
            psn_no: row.try_get(1)?,
            hilist_code: code,
            fixmedins_code: row.try_get(6)?,
            at_ms: row.try_get(2)?,
            cnt: row.try_get(4)?,
            amount_fen: row.try_get(5)?,
            init_feedetl_sn: row.try_get(7)?,
        });
    }
    let netted = net_claims(&claim_lines, zone);
    if !netted.unmatched.is_empty() {
        tracing::warn!(
            refunds = netted.unmatched.len(),
            "refunds in the window refund no billed line in it; their lines are judged as billed"
        );
    }
    let mut lines = Vec::with_capacity(netted.claims.len());
    let unmatched = netted.unmatched.len() as u64;
    for claim in netted.claims {
        let Some(item) = knowledge.item(&claim.line.hilist_code) else {
            continue;
        };
        lines.push(BilledLine {
            feedetl_sn: claim.line.feedetl_sn,
            psn_no: stored_psn_no(claim.line.psn_no)?,
            at_ms: claim.line.at_ms,
            item,
            cnt: claim.net_cnt,
            fee_fen: claim.net_fen,
            institution: claim
                .line
                .fixmedins_code
                .map(stored_institution)
                .transpose()?,
        });
    }
    Ok((lines, unmatched))
}
