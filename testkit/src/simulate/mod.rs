//! A synthetic ward month with ground truth per fee line, for measuring the rules (the `rules_month`
//! bench) and for tests.
//!
//! What is generated ([`generate`]):
//! - **ward practice** ([`ward`]): two haemodialysis centres (one 4-hour session on dialysis days, three a
//!   week, staggered starts in a morning or afternoon shift), a rehabilitation hospital (one or two sessions
//!   a weekday; a double session is one line with `cnt` 2; 30- and 45-minute items) and a psychiatric
//!   hospital (one bed-day line a day per inpatient);
//! - **refunds** ([`refunds`]): lines refunded in full or in part by a line with a negative `cnt`, linked
//!   by `init_feedetl_sn` (原费用流水号) in most cases, unlinked in some;
//! - **coverage** ([`coverage`]): honest camera outages, an honest silent ward box (no heartbeat, no
//!   event) for a day;
//! - **fraud** ([`fraud`]), each labelled on the fee lines it concerns: ghost sessions, someone else in the
//!   chair, short stays, a double session attended for one, bed holding, double billing at two
//!   institutions, too many dialysis sessions a week, a photo or screen held up to the camera, a camera
//!   covered and a box switched off while ghost sessions are billed, and presence forged by the box's key
//!   (a report from the future, a back-dated one, a 24-day interval, a recording replayed in test mode);
//! - **exports** ([`exports`]): a settlement file and one fee-line file per institution (platform field
//!   names, one of them with Chinese headers), each fee line with its own `fixmedins_code`; one
//!   institution's lines have no settlement file at all;
//! - **events** ([`events`]): what each ward box seals (presence with similarity and median liveness,
//!   camera states, heartbeats), in chain order.
//!
//! [`province`] scales the month out: many groups of four institutions ([`MonthSpec::group`]), each with
//! companion lines ([`MonthSpec::companions`]) and several ward boxes an institution, streamed to disk.
//!
//! [`load`] feeds a month through the real paths (each event sealed, then verified and stored as ingest
//! does, so the collector's time checks apply; the export files through the importer; the gallery
//! through its import). [`score`] scores the flags raised per fee line ([`LineTruth`]) and, for the
//! institution-level rules, per finding ([`Expected`]).
//!
//! The truth is the generator's own, decided without the rules: a line is labelled with what happened
//! on it; where an outage or a silent box hid its slot it is *unmonitored* (must never be a line-level
//! fraud finding); where monitoring hid only part of the slot, absence-type fraud (nobody, someone else,
//! a photo) stays expected when at least half the slot was watched, and partial-attendance fraud (short
//! stays, a double session attended once) is left unscored.
//!
//! The noise model is ours, not measured on a real ward: an honest session starts 5 minutes before to
//! 10 minutes after its billing time and is seen for 75–100% of its length in 1–3 fragments, sometimes
//! with a few minutes of the patient's face unrecognised (an unknown track); an impostor is seen the same
//! way as an unknown face; honest median liveness is 0.6–0.99 per interval and a photo's 0.01–0.05;
//! visitors are unknown faces for 2–12 minutes; each institution has a few camera outages of 30–150
//! minutes at random times. Seats ([`seats`]): each dialysis patient has a regular chair (patients of
//! one shift never share one; two spare chairs a ward) and each psychiatric inpatient a bed; on 5% of
//! dialysis sessions the machine is under repair and whoever comes sits in another chair of the ward
//! drawn at random, otherwise whoever comes — the patient or an impostor in their place — sits in the
//! patient's chair; a dialysis interval carries its chair 90% of the time (else no zone held the face
//! for most of it), a psychiatric one the patient's bed 50% of the time (else they were about the
//! ward); rehabilitation (a gym) and visitors have no seat. Every unknown track carries its face as the box sends it (an average
//! embedding, 128 values): one face for all the unknown tracks of one line (its impostor, or its
//! patient unrecognised) and one per visitor, each track the face plus noise (two tracks of one person
//! about 0.67 alike, two people about 0), drawn from their own random streams so the rest of the month
//! is as it was without them. Patients whose face is never recognised for a whole session are not
//! simulated.

mod coverage;
mod events;
mod exports;
mod fraud;
mod load;
pub mod province;
mod refunds;
mod score;
mod seats;
mod ward;

pub use load::{LoadReport, load};
pub use score::{MonthScore, RuleScore, Scope, score, score_institutions};

use chrono::{Duration, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use wardwatch_protocol::{CameraState, Payload, WardKind};

const DIALYSIS: &str = "EXAMPLE-311000006";
const REHAB: &str = "EXAMPLE-340200001";
const PHYSIO: &str = "EXAMPLE-340200002";
const BED_DAY: &str = "EXAMPLE-PSY-BED-DAY";
const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

/// [start, end) intervals in UTC ms.
type Spans = Vec<(i64, i64)>;

/// The ward kinds of a group's four institutions: two dialysis centres, a rehabilitation hospital, a
/// psychiatric hospital.
pub const KINDS: [WardKind; 4] = [
    WardKind::Haemodialysis,
    WardKind::Haemodialysis,
    WardKind::Rehabilitation,
    WardKind::Psychiatric,
];

/// The codes of group `group`'s four institutions (group 0: `H43060200001`…`H43060200004`), with their
/// ward kinds.
pub fn institutions(group: u32) -> [(String, WardKind); 4] {
    let code = |n: usize| format!("H{:09}{:02}", 430_602_000 + u64::from(group), n + 1);
    [0, 1, 2, 3].map(|n| (code(n), KINDS[n]))
}

/// Line-level fraud that rests on what the cameras saw (or did not see) in the slot.
const ABSENCE_RULES: [&str; 4] = [
    "no_presence",
    "impersonation",
    "presentation_attack",
    "bed_holding",
];
/// Line-level fraud that rests on how long the patient was seen.
const ATTENDANCE_RULES: [&str; 2] = ["short_presence", "billed_above_observed"];

/// How big the month is.
#[derive(Debug, Clone)]
pub struct MonthSpec {
    /// Seed of the generator (same seed, same month).
    pub seed: u64,
    /// First local day.
    pub start: NaiveDate,
    /// Days.
    pub days: u32,
    /// Dialysis patients per dialysis centre (two centres).
    pub dialysis_patients: u32,
    /// Rehabilitation patients.
    pub rehab_patients: u32,
    /// Psychiatric inpatients.
    pub psych_patients: u32,
    /// Injected cases per fraud kind (some kinds use fewer).
    pub cases_per_kind: u32,
    /// Minutes between a working box's heartbeats.
    pub heartbeat_minutes: u32,
    /// Which group of four institutions this month is (a province is many groups): the institutions'
    /// codes ([`institutions`]) and the prefixes of patient numbers, serials and encounters. Group 0 is
    /// the single month of the `rules_month` bench.
    pub group: u32,
    /// Lines billed beside each session or bed-day on its encounter (drugs, consumables, tests: items
    /// the rules do not judge), as a real export has them; 0 for none.
    pub companions: u32,
}

impl Default for MonthSpec {
    fn default() -> Self {
        MonthSpec {
            seed: 202_611,
            start: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default(),
            days: 30,
            dialysis_patients: 40,
            rehab_patients: 40,
            psych_patients: 30,
            cases_per_kind: 8,
            heartbeat_minutes: 10,
            group: 0,
            companions: 0,
        }
    }
}

/// An institution-level finding that should be raised (`outage_alignment`, `duplicate_face`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Expected {
    /// The rule.
    pub rule: String,
    /// The institution flagged.
    pub institution: String,
    /// The patient (`-` for findings about the institution itself).
    pub psn_no: String,
}

/// How much of a line's slot (a bed-day: its local day) the institution's monitoring covered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Monitoring {
    /// Cameras working and the box alive through the slot.
    Full,
    /// An outage or a silent box covered part of it: the share watched.
    Partly(f64),
    /// Nothing of it was watched.
    Hidden,
}

/// A line's part in a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RefundRole {
    /// A refund line (negative `cnt`).
    Refund,
    /// A billed line refunded in full: nothing is claimed.
    FullyRefunded,
    /// A billed line refunded in part: the rest is claimed (and honest).
    PartlyRefunded,
}

/// The truth about one generated fee line.
#[derive(Debug, Clone, Serialize)]
pub struct LineTruth {
    /// `feedetl_sn`.
    pub feedetl_sn: String,
    /// The institution that billed it.
    pub institution: String,
    /// The patient.
    pub psn_no: String,
    /// Local day billed.
    pub date: NaiveDate,
    /// Item.
    pub hilist_code: String,
    /// Units (negative for a refund).
    pub cnt: i32,
    /// Line-level rules that should flag it.
    pub expected: BTreeSet<String>,
    /// Rules whose flag on it is neither right nor wrong (fraud that monitoring hid in part).
    pub unscored: BTreeSet<String>,
    /// Fraud that happened on it but that monitoring hid (never to be a line-level finding).
    pub hidden_fraud: BTreeSet<String>,
    /// What monitoring covered of its slot.
    pub monitoring: Monitoring,
    /// Its part in a refund, if any.
    pub refund: Option<RefundRole>,
    /// What happened, for the report.
    pub note: String,
}

impl LineTruth {
    /// One line for a report: serial, institution, patient, day, item, units and what happened.
    pub fn describe(&self) -> String {
        let what = if self.expected.is_empty() && self.unscored.is_empty() {
            match (self.refund, self.monitoring) {
                (Some(role), _) => format!("{role:?}"),
                (None, Monitoring::Full) => "honest".into(),
                (None, Monitoring::Partly(share)) => {
                    format!("unmonitored in part ({:.0}% watched)", share * 100.0)
                }
                (None, Monitoring::Hidden) => "unmonitored".into(),
            }
        } else {
            let mut labels: Vec<String> = self.expected.iter().cloned().collect();
            labels.extend(self.unscored.iter().map(|r| format!("{r} (unscored)")));
            labels.join("+")
        };
        let hidden = if self.hidden_fraud.is_empty() {
            String::new()
        } else {
            format!(
                " [hidden: {}]",
                self.hidden_fraud
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("+")
            )
        };
        format!(
            "{} {} {} {} {}×{}: {what}{hidden}; {}",
            self.feedetl_sn,
            self.institution,
            self.psn_no,
            self.date,
            self.hilist_code,
            self.cnt,
            self.note
        )
    }

    /// Honest and fully watched: no fraud, no refund, no outage.
    pub fn is_honest(&self) -> bool {
        self.expected.is_empty()
            && self.unscored.is_empty()
            && self.hidden_fraud.is_empty()
            && self.refund.is_none()
            && self.monitoring == Monitoring::Full
    }

    /// Refunded in full, refunded in part, or a refund: never to be flagged as billed.
    pub fn is_refund(&self) -> bool {
        // A partly refunded line is claimed net (honest here): judged like any billed line, and at
        // stake in an institution-level finding when monitoring could not judge it.
        matches!(
            self.refund,
            Some(RefundRole::Refund | RefundRole::FullyRefunded)
        ) && self.expected.is_empty()
    }

    /// Monitoring hid some or all of it and no line-level rule should flag it.
    pub fn is_unmonitored(&self) -> bool {
        self.monitoring != Monitoring::Full && self.expected.is_empty() && self.refund.is_none()
    }
}

/// One export file of the month.
#[derive(Debug, Clone)]
pub struct ExportFile {
    /// File name.
    pub name: String,
    /// Contents (UTF-8 CSV).
    pub text: String,
}

/// One event a ward box seals.
#[derive(Debug, Clone)]
pub struct SimEvent {
    /// Its place on the box's chain: when the box really sealed it (UTC ms).
    pub chain_at: i64,
    /// The `sent_at` it states (differs from `chain_at` only for forged events).
    pub sent_at: i64,
    /// What it says.
    pub payload: Payload,
    /// For a forged event: how it was forged (`future`, `back-dated`, `24-day interval`, `replayed
    /// recording`).
    pub forged: Option<&'static str>,
    /// Sealed in test mode: a recording replayed on the production box (refused as `test_source`).
    pub test_mode: bool,
}

/// The generated month.
#[derive(Debug, Default)]
pub struct Month {
    /// Export files, in import order (settlements first).
    pub files: Vec<ExportFile>,
    /// Enrolled embeddings, JSON Lines.
    pub gallery_jsonl: String,
    /// Per institution: what its ward box sealed, in chain order.
    pub events: BTreeMap<String, Vec<SimEvent>>,
    /// The truth about every fee line.
    pub lines: Vec<LineTruth>,
    /// Institution-level findings that should be raised.
    pub findings: BTreeSet<Expected>,
    /// Window [from, to) in UTC ms.
    pub window: (i64, i64),
    /// Counts for the report.
    pub counts: BTreeMap<&'static str, u64>,
}

/// splitmix64: small, deterministic, good enough for a simulation (and the benches' own data).
pub struct Random(pub u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [low, high].
    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % ((high - low + 1).max(1) as u64)) as i64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// A standard normal value (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// One generated fee line (billed or refund) and what was observed of its slot.
#[derive(Debug, Clone)]
struct Line {
    sn: String,
    institution: String,
    psn_no: String,
    ward: WardKind,
    code: &'static str,
    date: NaiveDate,
    /// Billing time (fee_ocur_time, UTC ms).
    at: i64,
    /// The slot judged: [billing time, + units × minutes) for sessions, the local day for bed-days.
    slot: (i64, i64),
    cnt: i32,
    unit_minutes: i64,
    price_fen: i64,
    mdtrt_id: String,
    /// The patient's presence in this slot.
    seen: Spans,
    /// `seen` is a photo or screen held up to the camera (liveness ~0.02).
    photo: bool,
    /// Unknown faces of this slot (unrecognised patient, impostor).
    unknown: Spans,
    /// Fraud on this line.
    fraud: BTreeSet<&'static str>,
    refund: Option<RefundRole>,
    /// For a refund line: the line it refunds, and whether the export names it.
    refunds: Option<(String, bool)>,
    /// Taken by an injection or a refund: not touched again.
    reserved: bool,
    /// What happened, for the report.
    note: String,
    monitoring: Monitoring,
}

/// The generator's state.
struct Builder {
    spec: MonthSpec,
    /// This group's institutions ([`institutions`]).
    inst: [(String, WardKind); 4],
    /// Inserted in serials and encounter numbers of groups other than 0 (unique across a province).
    prefix: String,
    zone: Tz,
    random: Random,
    lines: Vec<Line>,
    /// Stays: (institution, psn, mdtrt, admission ms, discharge ms).
    stays: Vec<(String, String, String, i64, i64)>,
    encounter: u64,
    serial: u64,
    /// Camera outages per institution.
    outages: BTreeMap<String, Vec<(i64, i64, CameraState)>>,
    /// Spans when an institution's box was silent (off: no heartbeat, no event).
    silent: BTreeMap<String, Spans>,
    /// Extra unknown tracks (visitors): institution, ward, span.
    visitors: Vec<(String, WardKind, (i64, i64))>,
    /// Forged events per institution.
    forged: Vec<(String, SimEvent)>,
    /// Dialysis chairs and psychiatric beds, and who sits where (their own random stream).
    seats: seats::Seats,
    month: Month,
}

impl Builder {
    fn local(&self, date: NaiveDate, hour: u32, minute: u32) -> i64 {
        let at: NaiveDateTime = date.and_hms_opt(hour, minute, 0).unwrap_or_default();
        self.zone
            .from_local_datetime(&at)
            .earliest()
            .map_or(0, |t| t.timestamp_millis())
    }

    fn day_bounds(&self, date: NaiveDate) -> (i64, i64) {
        (
            self.local(date, 0, 0),
            self.local(date + Duration::days(1), 0, 0),
        )
    }

    /// This group's institution codes, in [`KINDS`] order.
    fn codes(&self) -> [String; 4] {
        self.inst.clone().map(|(code, _)| code)
    }

    fn mdtrt(&mut self) -> String {
        self.encounter += 1;
        format!("M{}{:08}", self.prefix, self.encounter)
    }

    fn next_sn(&mut self) -> String {
        self.serial += 1;
        format!("FD{}{:07}", self.prefix, self.serial)
    }

    fn dates(&self) -> Vec<NaiveDate> {
        self.spec
            .start
            .iter_days()
            .take(self.spec.days as usize)
            .collect()
    }

    fn count(&mut self, what: &'static str, n: u64) {
        *self.month.counts.entry(what).or_default() += n;
    }

    fn finding(&mut self, rule: &str, institution: &str, psn: &str) {
        self.month.findings.insert(Expected {
            rule: rule.into(),
            institution: institution.into(),
            psn_no: psn.into(),
        });
    }

    /// Up to `n` untouched billed lines passing `keep`, in random order; they are reserved.
    fn pick(&mut self, n: usize, keep: impl Fn(&Line) -> bool) -> Vec<usize> {
        let mut candidates: Vec<usize> = (0..self.lines.len())
            .filter(|i| {
                let l = &self.lines[*i];
                l.cnt > 0 && !l.reserved && l.refunds.is_none() && keep(l)
            })
            .collect();
        let mut chosen = Vec::new();
        while chosen.len() < n && !candidates.is_empty() {
            let k = (self.random.next() % candidates.len() as u64) as usize;
            let i = candidates.swap_remove(k);
            self.lines[i].reserved = true;
            chosen.push(i);
        }
        chosen
    }

    /// The truth about each line, from what happened on it and what monitoring covered.
    fn labels(&mut self) {
        let mut truths: Vec<LineTruth> = Vec::with_capacity(self.lines.len());
        for l in &self.lines {
            let mut t = LineTruth {
                feedetl_sn: l.sn.clone(),
                institution: l.institution.clone(),
                psn_no: l.psn_no.clone(),
                date: l.date,
                hilist_code: l.code.into(),
                cnt: l.cnt,
                expected: BTreeSet::new(),
                unscored: BTreeSet::new(),
                hidden_fraud: BTreeSet::new(),
                monitoring: l.monitoring,
                refund: l.refund,
                note: l.note.clone(),
            };
            if matches!(
                l.refund,
                Some(RefundRole::Refund | RefundRole::FullyRefunded)
            ) {
                truths.push(t);
                continue;
            }
            for rule in &l.fraud {
                let needs_cameras = ABSENCE_RULES.contains(rule) || ATTENDANCE_RULES.contains(rule);
                match (needs_cameras, l.monitoring) {
                    (false, _) | (true, Monitoring::Full) => {
                        t.expected.insert((*rule).into());
                    }
                    (true, Monitoring::Hidden) => {
                        t.hidden_fraud.insert((*rule).into());
                    }
                    (true, Monitoring::Partly(share)) => {
                        if ABSENCE_RULES.contains(rule) && share >= 0.5 {
                            t.expected.insert((*rule).into());
                        } else {
                            t.unscored.insert((*rule).into());
                        }
                    }
                }
            }
            truths.push(t);
        }
        bed_holding_runs(&mut truths);
        self.month.lines = truths;
    }
}

/// Bed holding is absence on 3 or more days running: a labelled bed-day stays expected only inside a
/// run of at least 3 consecutive watched absent days of its patient; the others are unscored.
fn bed_holding_runs(truths: &mut [LineTruth]) {
    let mut by_patient: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, t) in truths.iter().enumerate() {
        if t.expected.contains("bed_holding") {
            by_patient
                .entry((t.institution.clone(), t.psn_no.clone()))
                .or_default()
                .push(i);
        }
    }
    for (_, mut days) in by_patient {
        days.sort_by_key(|i| truths[*i].date);
        let mut runs: Vec<Vec<usize>> = Vec::new();
        for i in days {
            match runs.last_mut() {
                Some(run)
                    if run
                        .last()
                        .is_some_and(|j| truths[*j].date.succ_opt() == Some(truths[i].date)) =>
                {
                    run.push(i)
                }
                _ => runs.push(vec![i]),
            }
        }
        for run in runs.into_iter().filter(|r| r.len() < 3) {
            for i in run {
                truths[i].expected.remove("bed_holding");
                truths[i].unscored.insert("bed_holding".into());
            }
        }
    }
}

/// Generates a month.
pub fn generate(spec: &MonthSpec) -> Month {
    let zone = chrono_tz::Asia::Shanghai;
    let mut b = Builder {
        spec: spec.clone(),
        inst: institutions(spec.group),
        prefix: if spec.group == 0 {
            String::new()
        } else {
            format!("{:04}", spec.group)
        },
        zone,
        random: Random(spec.seed),
        lines: Vec::new(),
        stays: Vec::new(),
        encounter: 0,
        serial: 0,
        outages: BTreeMap::new(),
        silent: BTreeMap::new(),
        visitors: Vec::new(),
        forged: Vec::new(),
        seats: seats::Seats::new(spec.seed),
        month: Month::default(),
    };
    let first = b.local(spec.start, 0, 0);
    let last = b.local(spec.start + Duration::days(i64::from(spec.days)), 0, 0);
    b.month.window = (first, last);
    b.patients();
    b.honest_outages();
    b.inject();
    b.refunds();
    b.hide();
    b.visitors();
    b.labels();
    b.gallery();
    b.exports();
    b.events();
    let billed = b.lines.iter().filter(|l| l.cnt > 0).count() as u64;
    b.count("billed lines", billed);
    b.count("refund lines", b.lines.len() as u64 - billed);
    b.month
}
