//! A rules run over a window, in parts, so that its memory does not grow with the province:
//! 1. **per institution** (each institution with fee lines of a known item in the window): its lines,
//!    its presence intervals and unknown faces, its ward boxes' silences and outages →
//!    [`super::evaluate_institution`]; each institution's flags and coverage are saved in turn, while
//!    the next few are loaded and judged (below);
//! 2. **patients at more than one institution** (billed for a known item or seen at two or more in the
//!    window, or with lines of no institution: one query the database answers), a few hundred at a
//!    time: all their lines and presence, with the monitoring kept from step 1 →
//!    [`super::evaluate_crossing`] (two places at once, the weekly limit across institutions);
//! 3. **the gallery**: `duplicate_face` over the enrolled faces, with the billed lines of the patients
//!    it names; its products ([`face_pairs`], pure CPU work) on a blocking thread.
//!
//! What stays in memory across parts: the set of patients of step 2, each institution's monitoring
//! (its downtime records) and the report's per-institution figures — a few records per institution.
//!
//! Steps 1 and 2 keep [`PARTS_AHEAD`] parts loading and being judged ahead of the one being saved
//! (each a task of its own), so the database answers the next parts' queries while the collector
//! judges and saves this one; parts are still saved in order, so what a run raises, and the order
//! it raises it in, do not depend on timing. Memory is that many parts', still not the province's.

use super::finding::{Evaluation, SlotCoverage};
use super::id::RuleId;
use super::inputs::{RuleInputs, Scope, known_codes, placeholders};
use super::monitoring::Monitoring;
use super::set::RuleSet;
use super::{InstitutionCoverage, RulesError, RulesReport, duplicate_face, face_pairs};
use crate::flags::store::{NewFlag, stored_institution, stored_psn_no};
use crate::knowledge::Knowledge;
use crate::store::Store;
use chrono_tz::Tz;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use wardwatch_protocol::{InstitutionCode, PsnNo};

/// Patients per load in step 2 (bound parameters per query stay far below both backends' limits).
const PATIENTS_PER_PART: usize = 500;

/// Parts in flight ahead of the one being saved (see the module doc). The pool has 8 connections on
/// PostgreSQL and 4 on SQLite; each part holds one at a time.
const PARTS_AHEAD: usize = 3;

/// What a run's parts share, owned so that each part can be a task of its own.
#[derive(Clone)]
struct Shared {
    store: Store,
    knowledge: Arc<Knowledge>,
    rules: Arc<RuleSet>,
    zone: Tz,
    window: (i64, i64),
    silence_ms: i64,
}

impl Shared {
    /// The run's inputs for one part.
    async fn load(&self, scope: Scope<'_>) -> Result<RuleInputs<'_>, RulesError> {
        RuleInputs::load_scope(
            &self.store,
            &self.knowledge,
            self.zone,
            self.window,
            self.silence_ms,
            scope,
        )
        .await
    }
}

/// One part loaded and judged: its evaluation, the monitoring it loaded (step 1) and its refunds
/// that refund no billed line.
struct Judged {
    evaluation: Evaluation,
    monitoring: Monitoring,
    unmatched_refunds: u64,
}

/// Parts being judged in their own tasks, up to [`PARTS_AHEAD`] + 1 at once, handed out in the order
/// they were given.
struct Ahead<P, F> {
    pending: std::vec::IntoIter<P>,
    judge: F,
    running: VecDeque<(P, tokio::task::JoinHandle<Result<Judged, RulesError>>)>,
}

impl<P, F, Fut> Ahead<P, F>
where
    P: Clone,
    F: Fn(P) -> Fut,
    Fut: Future<Output = Result<Judged, RulesError>> + Send + 'static,
{
    fn new(parts: Vec<P>, judge: F) -> Self {
        Ahead {
            pending: parts.into_iter(),
            judge,
            running: VecDeque::new(),
        }
    }

    /// The next part in order, judged, once its task is done; the tasks behind it keep going.
    async fn next(&mut self) -> Result<Option<(P, Judged)>, RulesError> {
        while self.running.len() <= PARTS_AHEAD {
            let Some(part) = self.pending.next() else {
                break;
            };
            let task = tokio::spawn((self.judge)(part.clone()));
            self.running.push_back((part, task));
        }
        let Some((part, task)) = self.running.pop_front() else {
            return Ok(None);
        };
        match task.await {
            Ok(judged) => Ok(Some((part, judged?))),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a rules part was cancelled: {e}"),
        }
    }
}

/// Runs the rules over [from_ms, to_ms) in parts (see the module doc).
pub async fn run(
    store: &Store,
    zone: Tz,
    from_ms: i64,
    to_ms: i64,
) -> Result<RulesReport, RulesError> {
    // Shared with the parts' tasks, not copied for them.
    let knowledge = Arc::new(store.knowledge().await?);
    let rules = Arc::new(store.rules_base().await?.set);
    let rules = &rules;
    let silence_ms = rules.unmonitored_billing.params.silence_ms();
    let window = (from_ms, to_ms);
    let mut report = RulesReport {
        rules_version: rules.version,
        knowledge_version: knowledge.version,
        disabled: RuleId::ALL
            .into_iter()
            .filter(|id| !rules.enabled(*id))
            .map(|id| id.as_str().to_owned())
            .collect(),
        ..RulesReport::default()
    };
    let mut coverage: BTreeMap<InstitutionCode, SlotCoverage> = BTreeMap::new();
    let started = std::time::Instant::now();
    // Two scans of the month's lines, which the database runs side by side.
    let (crossing, institutions) = tokio::try_join!(
        crossing_patients(store, &knowledge, window),
        billing_institutions(store, &knowledge, window)
    )?;
    let crossing = Arc::new(crossing);
    let shared = Shared {
        store: store.clone(),
        knowledge: Arc::clone(&knowledge),
        rules: Arc::clone(rules),
        zone,
        window,
        silence_ms,
    };
    let mut monitoring: HashMap<InstitutionCode, Monitoring> = HashMap::new();
    let mut institutions = Ahead::new(institutions, |institution| {
        judge_institution(shared.clone(), institution, Arc::clone(&crossing))
    });
    while let Some((institution, judged)) = institutions.next().await? {
        report.unmatched_refunds += judged.unmatched_refunds;
        save(store, rules, judged.evaluation, &mut report, &mut coverage).await?;
        monitoring.insert(institution, judged.monitoring);
    }
    tracing::info!(
        institutions = monitoring.len(),
        secs = started.elapsed().as_secs_f64(),
        "rules run: step 1 (per institution) done"
    );
    let step_started = std::time::Instant::now();
    let mut people: Vec<PsnNo> = crossing.iter().cloned().collect();
    people.sort();
    let parts: Vec<Vec<PsnNo>> = people
        .chunks(PATIENTS_PER_PART)
        .map(<[_]>::to_vec)
        .collect();
    let monitoring = Arc::new(monitoring);
    let mut crossing_parts = Ahead::new(parts, |part| {
        judge_crossing(shared.clone(), part, Arc::clone(&monitoring))
    });
    while let Some((_, judged)) = crossing_parts.next().await? {
        save(store, rules, judged.evaluation, &mut report, &mut coverage).await?;
    }
    tracing::info!(
        patients = people.len(),
        secs = step_started.elapsed().as_secs_f64(),
        "rules run: step 2 (patients at more than one institution) done"
    );
    if rules.enabled(RuleId::DuplicateFace) {
        let step_started = std::time::Instant::now();
        let (enrolled, pairs) = match similar_faces(store, rules).await?.await {
            Ok(found) => found,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("duplicate_face's products were cancelled: {e}"),
        };
        let evaluation =
            gallery_findings(store, &knowledge, zone, window, rules, enrolled, &pairs).await?;
        save(store, rules, evaluation, &mut report, &mut coverage).await?;
        tracing::info!(
            secs = step_started.elapsed().as_secs_f64(),
            "rules run: step 3 (duplicate_face over the gallery) done"
        );
    }
    report.unlinked_lines = unlinked_lines(store, &knowledge, window).await?;
    report.coverage = coverage
        .into_iter()
        .map(|(institution, figures)| InstitutionCoverage {
            institution,
            billed_minutes: figures.billed_minutes,
            blind_minutes: figures.blind_minutes,
            monitored_share: figures.monitored_share(),
        })
        .collect();
    Ok(report)
}

/// Step 1 for one institution: its lines, presence and monitoring, judged.
async fn judge_institution(
    shared: Shared,
    institution: InstitutionCode,
    crossing: Arc<HashSet<PsnNo>>,
) -> Result<Judged, RulesError> {
    let inputs = shared.load(Scope::Institution(&institution)).await?;
    let evaluation = super::evaluate_institution(&shared.rules, &inputs, &crossing);
    Ok(Judged {
        evaluation,
        unmatched_refunds: inputs.unmatched_refunds,
        monitoring: inputs.observed.monitoring,
    })
}

/// Step 2 for some patients: their lines and presence everywhere, with step 1's monitoring, judged.
async fn judge_crossing(
    shared: Shared,
    people: Vec<PsnNo>,
    monitoring: Arc<HashMap<InstitutionCode, Monitoring>>,
) -> Result<Judged, RulesError> {
    let mut inputs = shared.load(Scope::Patients(&people)).await?;
    inputs.observed.monitoring = monitoring_of(&inputs, &monitoring);
    Ok(Judged {
        evaluation: super::evaluate_crossing(&shared.rules, &inputs),
        monitoring: Monitoring::default(),
        unmatched_refunds: 0,
    })
}

/// The gallery's faces and their pairs at least as alike as `duplicate_face`'s threshold
/// ([`face_pairs::similar_pairs`]), computed on a blocking thread: the products are pure CPU work.
type FacesAndPairs = (Vec<crate::gallery::Enrolled>, Vec<face_pairs::FacePair>);

/// Step 3's first half: the gallery read, its products on a blocking thread. (Started before step 1
/// instead, to use the cores while step 1 waits on the database, the province's run took longer:
/// 68.6 s against 66.8 s, both cores being busy in step 1 already.)
async fn similar_faces(
    store: &Store,
    rules: &RuleSet,
) -> Result<tokio::task::JoinHandle<FacesAndPairs>, RulesError> {
    let threshold = rules.duplicate_face.params.min_similarity as f32;
    let enrolled = store.gallery().await?;
    Ok(tokio::task::spawn_blocking(move || {
        let pairs = face_pairs::similar_pairs(&enrolled, threshold);
        (enrolled, pairs)
    }))
}

/// Step 3's second half: the findings of the similar pairs, with the lines of the patients they name.
async fn gallery_findings(
    store: &Store,
    knowledge: &Knowledge,
    zone: Tz,
    window: (i64, i64),
    rules: &RuleSet,
    enrolled: Vec<crate::gallery::Enrolled>,
    pairs: &[face_pairs::FacePair],
) -> Result<Evaluation, RulesError> {
    let params = &rules.duplicate_face.params;
    let named: BTreeSet<PsnNo> = pairs
        .iter()
        .filter_map(|(_, later, _)| enrolled[*later].psn_no.parse().ok())
        .collect();
    let named: Vec<PsnNo> = named.into_iter().collect();
    let mut lines = Vec::new();
    for part in named.chunks(PATIENTS_PER_PART) {
        let mut inputs =
            RuleInputs::load_scope(store, knowledge, zone, window, 0, Scope::Patients(part))
                .await?;
        lines.append(&mut inputs.lines);
    }
    let inputs = RuleInputs {
        zone,
        from_ms: window.0,
        to_ms: window.1,
        lines,
        observed: Default::default(),
        enrolled,
        unmatched_refunds: 0,
    };
    let evaluation = Evaluation {
        findings: duplicate_face::evaluate_pairs(&inputs, params, pairs),
        ..Evaluation::default()
    };
    Ok(super::keep_enabled(rules, evaluation))
}

/// The monitoring of the institutions `inputs`' lines were billed at, from step 1.
fn monitoring_of(
    inputs: &RuleInputs<'_>,
    kept: &HashMap<InstitutionCode, Monitoring>,
) -> Monitoring {
    let mut out = Monitoring::default();
    let institutions: BTreeSet<&InstitutionCode> = inputs
        .lines
        .iter()
        .filter_map(|l| l.institution.as_ref())
        .collect();
    for institution in institutions {
        if let Some(m) = kept.get(institution) {
            out.downtime.extend(m.downtime.clone());
            out.equipped_since.extend(m.equipped_since.clone());
        }
    }
    out
}

/// Saves one part's coverage and flags and adds its figures to the report.
async fn save(
    store: &Store,
    rules: &RuleSet,
    evaluation: Evaluation,
    report: &mut RulesReport,
    coverage: &mut BTreeMap<InstitutionCode, SlotCoverage>,
) -> Result<(), RulesError> {
    store.save_coverage(&evaluation.coverage).await?;
    for ((institution, _), figures) in &evaluation.coverage {
        coverage
            .entry(institution.clone())
            .or_default()
            .add(*figures);
    }
    report.checked += evaluation.checked;
    report.no_evidence += evaluation.no_evidence.len() as u64;
    report.no_evidence_amount_fen += evaluation
        .no_evidence
        .iter()
        .map(|d| d.amount_fen)
        .sum::<i64>();
    for finding in evaluation.findings {
        let flag = NewFlag {
            dedup_key: finding.dedup_key(),
            rule_id: finding.rule,
            rule_version: rules.version_of(finding.rule),
            fixmedins_code: finding.institution,
            psn_no: finding.psn_no,
            amount_fen: finding.amount_fen,
            evidence: finding.evidence,
            lines: finding.lines,
        };
        match store.raise_flag(&flag).await? {
            Some(_) => {
                *report
                    .raised
                    .entry(flag.rule_id.as_str().to_owned())
                    .or_default() += 1
            }
            None => report.already_raised += 1,
        }
    }
    Ok(())
}

/// A query over the window's fee lines of known items: `$1`, `$2` the window, then the item codes.
fn known_lines_query<'q>(
    sql: String,
    knowledge: &Knowledge,
    (from_ms, to_ms): (i64, i64),
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(from_ms)
        .bind(to_ms);
    for code in known_codes(knowledge) {
        query = query.bind(code);
    }
    query
}

fn known(knowledge: &Knowledge) -> String {
    format!(
        "hilist_code IN ({})",
        placeholders(3, knowledge.items.len())
    )
}

/// The institutions billed for a known item in the window: a line's own, else its encounter's.
async fn billing_institutions(
    store: &Store,
    knowledge: &Knowledge,
    window: (i64, i64),
) -> Result<Vec<InstitutionCode>, RulesError> {
    if knowledge.items.is_empty() {
        return Ok(Vec::new());
    }
    let known = known(knowledge);
    let sql = format!(
        "SELECT DISTINCT fixmedins_code FROM fee_lines WHERE fixmedins_code IS NOT NULL \
         AND fee_ocur_time_ms >= $1 AND fee_ocur_time_ms < $2 AND {known} \
         UNION SELECT s.fixmedins_code FROM fee_lines f JOIN settlements s ON s.mdtrt_id = f.mdtrt_id \
         WHERE f.fixmedins_code IS NULL AND f.fee_ocur_time_ms >= $1 AND f.fee_ocur_time_ms < $2 \
         AND f.{known}"
    );
    let rows = known_lines_query(sql, knowledge, window)
        .fetch_all(store.pool())
        .await?;
    let mut out = BTreeSet::new();
    for row in rows {
        out.insert(stored_institution(row.try_get(0)?)?);
    }
    Ok(out.into_iter().collect())
}

/// Patients billed for a known item or seen at two or more institutions in the window (presence
/// padded by a day, as the rules read it), or with a line of no institution at all.
async fn crossing_patients(
    store: &Store,
    knowledge: &Knowledge,
    (from_ms, to_ms): (i64, i64),
) -> Result<HashSet<PsnNo>, RulesError> {
    if knowledge.items.is_empty() {
        return Ok(HashSet::new());
    }
    let known = known(knowledge);
    let next = 3 + knowledge.items.len();
    let sql = format!(
        "SELECT psn_no FROM (SELECT DISTINCT f.psn_no, COALESCE(f.fixmedins_code, \
         (SELECT MIN(s.fixmedins_code) FROM settlements s WHERE s.mdtrt_id = f.mdtrt_id), '') AS place \
         FROM fee_lines f WHERE f.fee_ocur_time_ms >= $1 AND f.fee_ocur_time_ms < $2 AND f.{known} \
         UNION ALL SELECT DISTINCT psn_no, institution_code FROM presence_intervals \
         WHERE psn_no IS NOT NULL AND end_ms > ${next} AND start_ms < ${}) t \
         GROUP BY psn_no HAVING COUNT(DISTINCT place) > 1",
        next + 1
    );
    let rows = known_lines_query(sql, knowledge, (from_ms, to_ms))
        .bind(from_ms - 86_400_000)
        .bind(to_ms + 86_400_000)
        .fetch_all(store.pool())
        .await?;
    let mut out = HashSet::new();
    for row in rows {
        out.insert(stored_psn_no(row.try_get(0)?)?);
    }
    Ok(out)
}

/// Fee lines of a known item with neither their own institution nor a settled encounter.
async fn unlinked_lines(
    store: &Store,
    knowledge: &Knowledge,
    window: (i64, i64),
) -> Result<u64, RulesError> {
    if knowledge.items.is_empty() {
        return Ok(0);
    }
    let known = known(knowledge);
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM fee_lines f WHERE f.fixmedins_code IS NULL \
         AND f.fee_ocur_time_ms >= $1 AND f.fee_ocur_time_ms < $2 AND f.{known} \
         AND NOT EXISTS (SELECT 1 FROM settlements s WHERE s.mdtrt_id = f.mdtrt_id)"
    );
    let count: i64 = known_lines_query(sql, knowledge, window)
        .fetch_one(store.pool())
        .await?
        .try_get(0)?;
    Ok(count.max(0) as u64)
}
