//! A synthetic ward month with ground truth, for measuring the rules (the `rules_month` bench) and for
//! tests: institutions, patients and their schedules, what the ward boxes saw (with recognition noise,
//! visitors, camera outages and a silent day), the settlement export the platform would give, the
//! enrolled gallery, and injected fraud of every kind the rules look for, each with the flag it should
//! raise. [`load`] feeds it through the real paths (signed events through ingest, CSV files through the
//! importer, JSON Lines through the gallery import); [`score`] compares the flags raised with the truth.
//!
//! The noise model is ours, not measured on a real ward: an honest session is seen for 75–100% of its
//! length in 1–3 fragments, sometimes with a few minutes of the patient's face not recognised (an unknown
//! track); visitors are unknown faces for 2–12 minutes; each institution has a few camera outages of
//! 30–150 minutes at random times (the cameras see nothing then); one ward box is silent for a whole day.
//! Patients whose face is never recognised for a whole session are not simulated: the rules cannot tell
//! that from a no-show without comparing the unknown face with the gallery (which needs the agent to send
//! unknown-face embeddings, a later issue).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use wardwatch_collector::settlement::import::ImportOptions;
use wardwatch_collector::store::Store;
use wardwatch_collector::store::devices::Device;
use wardwatch_collector::store::ingest::{ChainCache, Incoming};
use wardwatch_protocol::{
    CameraState, CameraStatus, Digest, EventDraft, Health, Liveness, Payload, Person, Presence,
    PublicKey, SigningKey, Similarity, Timestamp, WardKind,
};

const DIALYSIS: &str = "EXAMPLE-311000006";
const REHAB: &str = "EXAMPLE-340200001";
const BED_DAY: &str = "EXAMPLE-PSY-BED-DAY";
const MINUTE: i64 = 60_000;

/// [start, end) intervals in UTC ms.
type Spans = Vec<(i64, i64)>;

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
        }
    }
}

/// A flag that should be raised.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Expected {
    /// The rule.
    pub rule: String,
    /// The institution flagged.
    pub institution: String,
    /// The patient (`-` for institution-level findings).
    pub psn_no: String,
    /// The local day, week (`2026-W45`), or `-`.
    pub period: String,
}

/// The generated month.
#[derive(Debug, Default)]
pub struct Month {
    /// Settlements CSV (platform field names, local times).
    pub settlements_csv: String,
    /// Fee lines CSV.
    pub fee_lines_csv: String,
    /// Enrolled embeddings, JSON Lines.
    pub gallery_jsonl: String,
    /// Per institution: what its ward box sent (sent-at, payload), in sending order.
    pub events: BTreeMap<String, Vec<(i64, Payload)>>,
    /// The flags that should be raised.
    pub expected: BTreeSet<Expected>,
    /// Honest patient-days whose presence a camera outage or a silent box hid: never to be flagged.
    pub under_outage: BTreeSet<(String, String, String)>,
    /// Window [from, to) in UTC ms.
    pub window: (i64, i64),
    /// Counts for the report.
    pub counts: BTreeMap<&'static str, u64>,
}

/// splitmix64: small, deterministic, good enough for a simulation.
struct Random(u64);

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
    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % ((high - low + 1).max(1) as u64)) as i64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// One billed session or bed-day, and what was observed of it.
#[derive(Debug, Clone)]
struct Visit {
    institution: String,
    psn_no: String,
    ward: WardKind,
    code: &'static str,
    date: NaiveDate,
    /// Billing time = session start (UTC ms).
    start: i64,
    /// Units billed.
    cnt: u32,
    /// Minutes per unit.
    unit_minutes: i64,
    price_fen: i64,
    /// Encounter id.
    mdtrt_id: String,
    /// What the camera saw of the patient.
    seen: Vec<(i64, i64)>,
    /// Unknown faces in the ward during it.
    unknown: Vec<(i64, i64)>,
}

struct Builder {
    spec: MonthSpec,
    zone: Tz,
    random: Random,
    visits: Vec<Visit>,
    /// Stays: (institution, psn, mdtrt, admission ms, discharge ms).
    stays: Vec<(String, String, String, i64, i64)>,
    month: Month,
    encounter: u64,
    /// Outages per institution.
    outages: BTreeMap<String, Vec<(i64, i64, CameraState)>>,
    /// Institution-days whose box was silent.
    silent: BTreeSet<(String, NaiveDate)>,
    /// Expectations resting on visits (see [`Builder::excuse`]).
    cases: Vec<(Expected, Vec<usize>)>,
    /// Extra unknown tracks (visitors), per institution and ward.
    visitors: Vec<(String, WardKind, i64, i64)>,
}

/// The institutions: two dialysis centres, a rehabilitation hospital, a psychiatric hospital.
pub const INSTITUTIONS: [(&str, WardKind); 4] = [
    ("H43060200001", WardKind::Haemodialysis),
    ("H43060200002", WardKind::Haemodialysis),
    ("H43060200003", WardKind::Rehabilitation),
    ("H43060200004", WardKind::Psychiatric),
];

impl Builder {
    fn local(&self, date: NaiveDate, hour: u32, minute: u32) -> i64 {
        let at: NaiveDateTime = date.and_hms_opt(hour, minute, 0).unwrap_or_default();
        self.zone
            .from_local_datetime(&at)
            .earliest()
            .map_or(0, |t| t.timestamp_millis())
    }

    fn mdtrt(&mut self) -> String {
        self.encounter += 1;
        format!("M{:08}", self.encounter)
    }

    fn dates(&self) -> Vec<NaiveDate> {
        self.spec
            .start
            .iter_days()
            .take(self.spec.days as usize)
            .collect()
    }

    /// An honest observation of [start, start + minutes): 75–100% seen in 1–3 fragments, sometimes a
    /// few unrecognised minutes.
    fn observe(&mut self, start: i64, minutes: i64) -> (Spans, Spans) {
        let share = 0.75 + 0.25 * self.random.unit();
        let fragments = self.random.range(1, 3);
        let seen_ms = (minutes as f64 * share) as i64 * MINUTE;
        let gap_ms = (minutes * MINUTE - seen_ms) / fragments;
        let piece = seen_ms / fragments;
        let mut seen = Vec::new();
        let mut at = start + gap_ms / 2;
        for _ in 0..fragments {
            seen.push((at, at + piece));
            at += piece + gap_ms;
        }
        let mut unknown = Vec::new();
        if self.random.unit() < 0.1 {
            let s = start + self.random.range(0, minutes.max(10) - 10) * MINUTE;
            unknown.push((s, s + self.random.range(2, 8) * MINUTE));
        }
        (seen, unknown)
    }

    fn patients(&mut self) {
        let dates = self.dates();
        // Dialysis: Mon/Wed/Fri or Tue/Thu/Sat, morning or afternoon shift.
        for (i, (institution, _)) in INSTITUTIONS.iter().take(2).enumerate() {
            for p in 0..self.spec.dialysis_patients {
                let psn = format!("4306{}{:014}", i + 1, p);
                let odd = p % 2 == 0;
                let shift = if p % 4 < 2 { 8 } else { 13 };
                for date in &dates {
                    let wd = date.weekday();
                    let today = if odd {
                        matches!(wd, Weekday::Mon | Weekday::Wed | Weekday::Fri)
                    } else {
                        matches!(wd, Weekday::Tue | Weekday::Thu | Weekday::Sat)
                    };
                    if today {
                        self.session(
                            institution,
                            &psn,
                            WardKind::Haemodialysis,
                            DIALYSIS,
                            *date,
                            shift,
                            1,
                            240,
                            41_000,
                        );
                    }
                }
            }
        }
        // Rehabilitation: 3 days a week, 1–2 units of 30 minutes back to back, 09:00–16:00.
        let institution = INSTITUTIONS[2].0;
        for p in 0..self.spec.rehab_patients {
            let psn = format!("43063{:014}", p);
            let days: [u32; 3] = [p % 2, 2 + p % 2, 4];
            for date in &dates {
                if days.contains(&date.weekday().num_days_from_monday()) {
                    let hour = 9 + (p % 7);
                    let units = 1 + (p % 2);
                    self.session(
                        institution,
                        &psn,
                        WardKind::Rehabilitation,
                        REHAB,
                        *date,
                        hour,
                        units,
                        30,
                        4_500,
                    );
                }
            }
        }
        // Psychiatric inpatients: admitted all month, billed a bed-day daily at 12:00, seen 3–5 times a day.
        let institution = INSTITUTIONS[3].0;
        for p in 0..self.spec.psych_patients {
            let psn = format!("43064{:014}", p);
            let mdtrt = self.mdtrt();
            let (Some(first), Some(last)) = (dates.first().copied(), dates.last().copied()) else {
                return;
            };
            let (adm, dscg) = (self.local(first, 9, 0), self.local(last, 18, 0));
            self.stays
                .push((institution.into(), psn.clone(), mdtrt.clone(), adm, dscg));
            for date in &dates {
                let mut seen = Vec::new();
                for _ in 0..self.random.range(3, 5) {
                    let s = self.local(*date, 7, 0) + self.random.range(0, 13 * 60) * MINUTE;
                    seen.push((s, s + self.random.range(30, 90) * MINUTE));
                }
                self.visits.push(Visit {
                    institution: institution.into(),
                    psn_no: psn.clone(),
                    ward: WardKind::Psychiatric,
                    code: BED_DAY,
                    date: *date,
                    start: self.local(*date, 12, 0),
                    cnt: 1,
                    unit_minutes: 60,
                    price_fen: 18_000,
                    mdtrt_id: mdtrt.clone(),
                    seen,
                    unknown: Vec::new(),
                });
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // a schedule entry is this many facts
    fn session(
        &mut self,
        institution: &str,
        psn: &str,
        ward: WardKind,
        code: &'static str,
        date: NaiveDate,
        hour: u32,
        cnt: u32,
        unit_minutes: i64,
        price_fen: i64,
    ) {
        let start = self.local(date, hour, 0) + self.random.range(0, 10) * MINUTE;
        let (seen, unknown) = self.observe(start, unit_minutes * i64::from(cnt));
        let mdtrt_id = self.mdtrt();
        self.visits.push(Visit {
            institution: institution.into(),
            psn_no: psn.into(),
            ward,
            code,
            date,
            start,
            cnt,
            unit_minutes,
            price_fen,
            mdtrt_id,
            seen,
            unknown,
        });
    }

    /// An expectation resting on what was (not) seen of these visits: dropped by [`Builder::excuse`]
    /// when an outage or a silent box hides it.
    fn expect_visits(
        &mut self,
        rule: &str,
        institution: &str,
        psn: &str,
        period: String,
        visits: Vec<usize>,
    ) {
        self.cases.push((
            Expected {
                rule: rule.into(),
                institution: institution.into(),
                psn_no: psn.into(),
                period: period.clone(),
            },
            visits,
        ));
        self.truth(rule, institution, psn, period);
    }

    fn truth(&mut self, rule: &str, institution: &str, psn: &str, period: String) {
        self.month.expected.insert(Expected {
            rule: rule.into(),
            institution: institution.into(),
            psn_no: psn.into(),
            period,
        });
        *self.month.counts.entry("injected cases").or_default() += 1;
    }

    /// Indexes of untouched honest visits of a kind, in random order.
    fn pick(&mut self, code: &str, taken: &BTreeSet<usize>, n: usize) -> Vec<usize> {
        let mut candidates: Vec<usize> = (0..self.visits.len())
            .filter(|i| self.visits[*i].code == code && !taken.contains(i))
            .collect();
        let mut chosen = Vec::new();
        while chosen.len() < n && !candidates.is_empty() {
            let k = (self.random.next() % candidates.len() as u64) as usize;
            chosen.push(candidates.swap_remove(k));
        }
        chosen
    }

    fn inject(&mut self) {
        let n = self.spec.cases_per_kind as usize;
        let mut taken = BTreeSet::new();
        // Whole patients are reserved for some cases so that injections do not collide.
        // 假病人: sessions billed, patient never came.
        for code in [DIALYSIS, REHAB] {
            for i in self.pick(code, &taken, n / 2) {
                taken.insert(i);
                let v = &mut self.visits[i];
                v.seen.clear();
                v.unknown.clear();
                let (inst, psn, date) =
                    (v.institution.clone(), v.psn_no.clone(), v.date.to_string());
                self.expect_visits("no_presence", &inst, &psn, date, vec![i]);
            }
        }
        // 冒名: someone else sat through the session.
        for code in [DIALYSIS, REHAB] {
            for i in self.pick(code, &taken, n / 2) {
                taken.insert(i);
                let v = &mut self.visits[i];
                let length = v.unit_minutes * i64::from(v.cnt) * MINUTE;
                v.seen.clear();
                v.unknown = vec![(v.start + 5 * MINUTE, v.start + length * 9 / 10)];
                let (inst, psn, date) =
                    (v.institution.clone(), v.psn_no.clone(), v.date.to_string());
                self.expect_visits("impersonation", &inst, &psn, date, vec![i]);
            }
        }
        // Too short: came for 10–35% of the session.
        for code in [DIALYSIS, REHAB] {
            for i in self.pick(code, &taken, n / 2) {
                taken.insert(i);
                let share = 0.1 + 0.25 * self.random.unit();
                let v = &mut self.visits[i];
                let length = v.unit_minutes * i64::from(v.cnt);
                v.seen = vec![(
                    v.start,
                    v.start + ((length as f64 * share) as i64).max(3) * MINUTE,
                )];
                v.unknown.clear();
                let (inst, psn, date) =
                    (v.institution.clone(), v.psn_no.clone(), v.date.to_string());
                self.expect_visits("short_presence", &inst, &psn, date, vec![i]);
            }
        }
        // More units billed than observed: rehab billed 3 units, one 50–58 minute bout seen.
        for i in self.pick(REHAB, &taken, n) {
            taken.insert(i);
            let extra = self.random.range(50, 58);
            let v = &mut self.visits[i];
            v.cnt = 3;
            v.seen = vec![(v.start, v.start + extra * MINUTE)];
            v.unknown.clear();
            let (inst, psn, date) = (v.institution.clone(), v.psn_no.clone(), v.date.to_string());
            self.expect_visits("billed_above_observed", &inst, &psn, date, vec![i]);
        }
        // 挂床: inpatients absent 4–7 days running while bed-days are billed; others on 1–2 days' leave.
        let psych: Vec<String> = self
            .visits
            .iter()
            .filter(|v| v.code == BED_DAY)
            .map(|v| v.psn_no.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for (k, psn) in psych.iter().enumerate().take(n) {
            let absent = if k % 2 == 0 {
                self.random.range(4, 7)
            } else {
                self.random.range(1, 2)
            };
            let first = self.random.range(2, i64::from(self.spec.days) - 9);
            let day0 = self.spec.start + Duration::days(first);
            let mut days = Vec::new();
            for (i, v) in self
                .visits
                .iter_mut()
                .enumerate()
                .filter(|(_, v)| v.psn_no == *psn)
            {
                let offset = (v.date - day0).num_days();
                if (0..absent).contains(&offset) {
                    v.seen.clear();
                    days.push(i);
                }
            }
            if absent >= 3 {
                let inst = INSTITUTIONS[3].0;
                self.expect_visits("bed_holding", inst, psn, day0.to_string(), days);
            }
        }
        // Two institutions at once: a dialysis patient of centre 1 dialysed there is also billed by
        // centre 2 an hour later (a session that never happened).
        for i in self.pick(DIALYSIS, &taken, n / 2) {
            if self.visits[i].institution != INSTITUTIONS[0].0 {
                continue;
            }
            taken.insert(i);
            let mut fake = self.visits[i].clone();
            fake.institution = INSTITUTIONS[1].0.into();
            fake.start += 60 * MINUTE;
            fake.seen.clear();
            fake.unknown.clear();
            fake.mdtrt_id = self.mdtrt();
            let (psn, date) = (fake.psn_no.clone(), fake.date.to_string());
            self.visits.push(fake);
            self.truth("cross_institution", INSTITUTIONS[1].0, &psn, date);
            // One verdict per line: the rules report it as cross_institution, not also 假病人.
        }
        // More than five dialysis sessions in a week: three extra (attended) sessions.
        for p in 0..(n / 4).max(1) as u32 {
            let psn = format!("4306{}{:014}", 1, 2 * p + 20); // Mon/Wed/Fri patients
            let monday = self.spec.start
                + Duration::days(i64::from(
                    (7 - self.spec.start.weekday().num_days_from_monday()) % 7,
                ));
            for extra in [1, 3, 5] {
                self.session(
                    INSTITUTIONS[0].0,
                    &psn,
                    WardKind::Haemodialysis,
                    DIALYSIS,
                    monday + Duration::days(extra),
                    18,
                    1,
                    240,
                    41_000,
                );
                taken.insert(self.visits.len() - 1);
            }
            let week = monday.iso_week();
            self.truth(
                "dialysis_over_weekly",
                INSTITUTIONS[0].0,
                &psn,
                format!("{}-W{:02}", week.year(), week.week()),
            );
        }
        // Camera covered while billing: centre 2 obstructs its camera through the morning shift on three
        // days, and bills two patients who did not come each time.
        let inst = INSTITUTIONS[1].0;
        let mut covered_days = 0;
        for date in self.dates().into_iter().skip(8) {
            if covered_days == 3 {
                break;
            }
            if date.weekday() == Weekday::Sun || self.silent.iter().any(|(_, d)| *d == date) {
                continue;
            }
            covered_days += 1;
            let (from, to) = (self.local(date, 7, 50), self.local(date, 12, 20));
            self.outages
                .entry(inst.into())
                .or_default()
                .push((from, to, CameraState::Obstructed));
            let mut absent = 0;
            for v in self.visits.iter_mut().filter(|v| {
                v.institution == inst && v.date == date && v.start < to && v.start >= from
            }) {
                if absent < 2 {
                    v.seen.clear();
                    absent += 1;
                }
            }
        }
        self.truth("outage_alignment", inst, "-", "-".into());
    }

    /// Honest camera outages and a silent day; presence inside them is not seen.
    fn outages(&mut self) {
        let silent_day = self.spec.start + Duration::days(i64::from(self.spec.days) / 2);
        self.silent.insert((INSTITUTIONS[2].0.into(), silent_day));
        for (inst, _) in INSTITUTIONS {
            for _ in 0..3 {
                let mut day = self.random.range(0, i64::from(self.spec.days) - 1);
                if inst == INSTITUTIONS[2].0 && (day - i64::from(self.spec.days) / 2).abs() <= 1 {
                    day = (day + 3) % i64::from(self.spec.days);
                }
                let date = self.spec.start + Duration::days(day);
                let start = self.local(date, 0, 0) + self.random.range(0, 24 * 60 - 1) * MINUTE;
                let end = start + self.random.range(30, 150) * MINUTE;
                let state = if self.random.unit() < 0.5 {
                    CameraState::Offline
                } else {
                    CameraState::Obstructed
                };
                self.outages
                    .entry(inst.into())
                    .or_default()
                    .push((start, end, state));
            }
        }
    }

    /// Drops the expectations that an outage near the slot, or a silent box, leaves without evidence —
    /// with the default thresholds of `collector/rules/default.toml`: a session needs half its length,
    /// an observed unit 75% of one, an outage excuses only the part of the slot it covers, a bed-day
    /// needs an hour, a stay 3 absent days running.
    fn excuse(&mut self) {
        let margin = 0;
        let cases = std::mem::take(&mut self.cases);
        for (expected, visits) in cases {
            let excused = |v: &Visit, whole_day: bool| -> bool {
                let (day_start, day_end) = (
                    self.local(v.date, 0, 0),
                    self.local(v.date + Duration::days(1), 0, 0),
                );
                let length = v.unit_minutes * i64::from(v.cnt);
                let (from, to) = if whole_day {
                    (day_start, day_end)
                } else {
                    (
                        (v.start - margin).max(day_start),
                        (v.start + length * MINUTE + margin).min(day_end),
                    )
                };
                let outages: Vec<(i64, i64)> = self
                    .outages
                    .get(&v.institution)
                    .into_iter()
                    .flatten()
                    .map(|(s, e, _)| (*s, *e))
                    .collect();
                let hidden =
                    wardwatch_collector::rules::timeline::covered_minutes(&outages, from, to);
                let seen = wardwatch_collector::rules::timeline::covered_minutes(
                    &v.seen, day_start, day_end,
                );
                let silent = self.silent.contains(&(v.institution.clone(), v.date));
                silent
                    || match expected.rule.as_str() {
                        "billed_above_observed" => {
                            ((seen + hidden) / (0.75 * v.unit_minutes as f64) + 1e-9).floor()
                                >= f64::from(v.cnt)
                        }
                        "bed_holding" => seen + hidden >= v.unit_minutes as f64,
                        _ => seen + hidden >= 0.5 * length as f64,
                    }
            };
            let still = if expected.rule == "bed_holding" {
                let mut longest = 0;
                let mut run = 0;
                let mut last: Option<NaiveDate> = None;
                for v in visits.iter().map(|i| &self.visits[*i]) {
                    let next = last.is_none_or(|d| d.succ_opt() == Some(v.date));
                    run = if excused(v, true) {
                        0
                    } else if next {
                        run + 1
                    } else {
                        1
                    };
                    last = Some(v.date);
                    longest = longest.max(run);
                }
                longest >= 3
            } else {
                !visits.iter().any(|i| excused(&self.visits[*i], false))
            };
            if !still {
                self.month.expected.remove(&expected);
                *self
                    .month
                    .counts
                    .entry("injected cases an outage hides (no evidence expected)")
                    .or_default() += 1;
            }
        }
    }

    /// Removes what outages and silent days hid; records honest patient-days they touched.
    fn apply_outages(&mut self) {
        let outages = self.outages.clone();
        for v in &mut self.visits {
            let silent = self.silent.contains(&(v.institution.clone(), v.date));
            let inst_outages = outages.get(&v.institution).cloned().unwrap_or_default();
            let before = v.seen.clone();
            if silent {
                v.seen.clear();
                v.unknown.clear();
            }
            for (s, e, _) in &inst_outages {
                v.seen = v
                    .seen
                    .iter()
                    .flat_map(|&(a, b)| {
                        let mut parts = Vec::new();
                        if a < *s {
                            parts.push((a, b.min(*s)));
                        }
                        if b > *e {
                            parts.push((a.max(*e), b));
                        }
                        parts
                    })
                    .filter(|(a, b)| b > a)
                    .collect();
            }
            if v.seen != before {
                self.month.under_outage.insert((
                    v.institution.clone(),
                    v.psn_no.clone(),
                    v.date.to_string(),
                ));
            }
        }
    }

    fn visitors(&mut self) {
        for (inst, ward) in INSTITUTIONS {
            for date in self.dates() {
                for _ in 0..5 {
                    let s = self.local(date, 8, 0) + self.random.range(0, 9 * 60) * MINUTE;
                    self.visitors.push((
                        inst.into(),
                        ward,
                        s,
                        s + self.random.range(2, 12) * MINUTE,
                    ));
                }
            }
        }
    }

    fn gallery(&mut self) {
        let people: BTreeMap<String, String> = self
            .visits
            .iter()
            .map(|v| (v.psn_no.clone(), v.institution.clone()))
            .collect();
        let mut bases: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for psn in people.keys() {
            let base = (0..128).map(|_| self.random.normal()).collect();
            bases.insert(psn.clone(), base);
        }
        let mut lines = String::new();
        let mut enrol = |random: &mut Random, inst: &str, psn: &str, base: &[f64]| {
            for _ in 0..2 {
                let e: Vec<f64> = base.iter().map(|b| b + 0.5 * random.normal()).collect();
                let _ = writeln!(
                    lines,
                    "{}",
                    serde_json::json!({"fixmedins_code": inst, "psn_no": psn, "model": "simulated-128", "embedding": e})
                );
            }
        };
        for (psn, inst) in &people {
            enrol(&mut self.random, inst, psn, &bases[psn]);
        }
        // One face, two insurance numbers: patients of centre 1 enrolled again at centre 2 under a new number.
        for k in 0..2u32 {
            let original = format!("4306{}{:014}", 1, 2 * k + 31);
            let Some(base) = bases.get(&original).cloned() else {
                continue;
            };
            let alias = format!("43069{:014}", k);
            enrol(&mut self.random, INSTITUTIONS[1].0, &alias, &base);
            self.truth("duplicate_face", INSTITUTIONS[1].0, &alias, "-".into());
        }
        self.month.gallery_jsonl = lines;
    }

    fn exports(&mut self) {
        let mut settlements = String::from(
            "setl_id,mdtrt_id,psn_no,psn_name,fixmedins_code,med_type,setl_time,medfee_sumamt,fund_pay_sumamt,adm_time,dscg_time\n",
        );
        let mut fees = String::from(
            "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,hilist_name,cnt,pric,det_item_fee_sumamt\n",
        );
        let local = |ms: i64, zone: Tz| {
            zone.timestamp_millis_opt(ms)
                .single()
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default()
        };
        let mut per_encounter: BTreeMap<String, (String, String, i64, i64)> = BTreeMap::new();
        for (n, v) in self.visits.iter().enumerate() {
            let amount = v.price_fen * i64::from(v.cnt);
            let name = match v.code {
                DIALYSIS => "血液透析",
                REHAB => "康复训练",
                _ => "精神科住院床日",
            };
            let _ = writeln!(
                fees,
                "FD{n:07},{},{},{},{},{name},{},{:.2},{:.2}",
                v.mdtrt_id,
                v.psn_no,
                local(v.start, self.zone),
                v.code,
                v.cnt,
                v.price_fen as f64 / 100.0,
                amount as f64 / 100.0
            );
            let entry = per_encounter.entry(v.mdtrt_id.clone()).or_insert((
                v.institution.clone(),
                v.psn_no.clone(),
                v.start,
                0,
            ));
            entry.2 = entry.2.max(v.start);
            entry.3 += amount;
        }
        for (mdtrt, (inst, psn, last, amount)) in per_encounter {
            let stay = self.stays.iter().find(|s| s.2 == mdtrt);
            let (med_type, adm, dscg) = match stay {
                Some((_, _, _, a, d)) => ("21", local(*a, self.zone), local(*d, self.zone)),
                None => ("11", String::new(), String::new()),
            };
            let _ = writeln!(
                settlements,
                "S{mdtrt},{mdtrt},{psn},患者{},{inst},{med_type},{},{:.2},{:.2},{adm},{dscg}",
                &psn[psn.len() - 4..],
                local(last + 6 * 3_600_000, self.zone),
                amount as f64 / 100.0,
                amount as f64 * 0.8 / 100.0
            );
        }
        self.month.settlements_csv = settlements;
        self.month.fee_lines_csv = fees;
    }

    fn events(&mut self) {
        let mut track = 0u64;
        let mut events: BTreeMap<String, Vec<(i64, Payload)>> = BTreeMap::new();
        let similarity = |v: f64| Similarity::try_from(v).ok();
        let presence =
            |ward: WardKind, person: Person, (s, e): (i64, i64)| -> Option<(i64, Payload)> {
                let known = matches!(person, Person::PsnNo(_));
                Some((
                    e + MINUTE,
                    Payload::Presence(Presence {
                        interval_id: uuid::Uuid::now_v7(),
                        camera_id: "cam-1".parse().ok()?,
                        ward_kind: ward,
                        person,
                        start: Timestamp::from_millis(s)?,
                        end: Timestamp::from_millis(e)?,
                        open: false,
                        samples: ((e - s) / 10_000).max(1) as u32,
                        best_similarity: similarity(if known { 0.8 } else { 0.3 })?,
                        median_similarity: similarity(if known { 0.7 } else { 0.25 })?,
                        liveness: Liveness::try_from(0.9).ok()?,
                        embedding: None,
                    }),
                ))
            };
        let mut unknown =
            |inst: &str,
             ward: WardKind,
             span: (i64, i64),
             events: &mut BTreeMap<String, Vec<(i64, Payload)>>| {
                track += 1;
                let person = format!("u-{track:06}")
                    .parse()
                    .ok()
                    .map(Person::UnknownTrack);
                if let Some(event) = person.and_then(|p| presence(ward, p, span)) {
                    events.entry(inst.to_owned()).or_default().push(event);
                }
            };
        for v in &self.visits {
            for span in &v.seen {
                if let Some(event) = v
                    .psn_no
                    .parse()
                    .ok()
                    .map(Person::PsnNo)
                    .and_then(|p| presence(v.ward, p, *span))
                {
                    events.entry(v.institution.clone()).or_default().push(event);
                }
            }
            for span in &v.unknown {
                unknown(&v.institution, v.ward, *span, &mut events);
            }
        }
        for (inst, ward, s, e) in &self.visitors {
            unknown(inst, *ward, (*s, *e), &mut events);
        }
        for (inst, outages) in &self.outages {
            for (s, e, state) in outages {
                for (at, state) in [(*s, *state), (*e, CameraState::Ok)] {
                    if let (Ok(camera_id), Some(since)) =
                        ("cam-1".parse(), Timestamp::from_millis(at))
                    {
                        events.entry(inst.clone()).or_default().push((
                            at + 1_000,
                            Payload::Camera(CameraStatus {
                                camera_id,
                                state,
                                since,
                            }),
                        ));
                    }
                }
            }
        }
        // Every box sends a heartbeat every ten minutes while it is on (the agent's default is every
        // minute; ten keeps the month small and stays under the rules' 15-minute silence threshold).
        let (first, last) = self.month.window;
        for (inst, _) in INSTITUTIONS {
            let list = events.entry(inst.to_owned()).or_default();
            let mut at = first - 86_400_000;
            while at < last + 86_400_000 {
                list.push((
                    at,
                    Payload::Health(Health {
                        agent_version: "simulated".into(),
                        spool_depth: 0,
                        uptime_secs: 600,
                        gallery_version: None,
                        cameras: Vec::new(),
                    }),
                ));
                at += 10 * MINUTE;
            }
        }
        // A silent box sends nothing that day (its presence was already cleared).
        for (inst, list) in &mut events {
            list.retain(|(at, _)| {
                let day = self
                    .zone
                    .timestamp_millis_opt(*at)
                    .single()
                    .map(|t| t.date_naive());
                let silent = day.is_some_and(|d| self.silent.contains(&(inst.clone(), d)));
                !silent
            });
            list.sort_by_key(|(at, _)| *at);
        }
        self.month.counts.insert(
            "presence and camera events",
            events.values().map(|l| l.len() as u64).sum(),
        );
        self.month.events = events;
    }
}

/// Generates a month.
pub fn generate(spec: &MonthSpec) -> Month {
    let zone = chrono_tz::Asia::Shanghai;
    let mut b = Builder {
        spec: spec.clone(),
        zone,
        random: Random(spec.seed),
        visits: Vec::new(),
        stays: Vec::new(),
        month: Month::default(),
        encounter: 0,
        outages: BTreeMap::new(),
        silent: BTreeSet::new(),
        cases: Vec::new(),
        visitors: Vec::new(),
    };
    let first = b.local(spec.start, 0, 0);
    let last = b.local(spec.start + Duration::days(i64::from(spec.days)), 0, 0);
    b.month.window = (first, last);
    b.patients();
    b.outages();
    b.inject();
    b.apply_outages();
    b.excuse();
    b.visitors();
    b.gallery();
    b.exports();
    b.events();
    b.month
        .counts
        .insert("billed visits", b.visits.len() as u64);
    b.month
}

/// Loads a month into the store through the real paths. `dir` receives the export files.
pub async fn load(store: &Store, month: &Month, dir: &Path) -> anyhow::Result<()> {
    for (n, (inst, events)) in month.events.iter().enumerate() {
        let key = SigningKey::from_bytes(&[n as u8 + 1; 32]);
        let device: wardwatch_protocol::DeviceId = format!("sim-box-{}", n + 1).parse()?;
        let institution: wardwatch_protocol::InstitutionCode = inst.parse()?;
        store
            .add_device(&Device {
                device_id: device.clone(),
                institution_code: institution.clone(),
                public_key: PublicKey::of(&key),
            })
            .await?;
        let mut prev = Digest::GENESIS;
        let mut batch = Vec::new();
        let cache = ChainCache::new();
        for (seq, (sent_at, payload)) in events.iter().enumerate() {
            let mut draft = EventDraft::new(
                device.clone(),
                institution.clone(),
                seq as u64 + 1,
                prev,
                payload.clone(),
            );
            draft.sent_at = Timestamp::from_millis(*sent_at)
                .ok_or_else(|| anyhow::anyhow!("time {sent_at}"))?;
            let event = draft.seal(&key);
            prev = event.hash;
            batch.push(Incoming::Event {
                raw: event.to_wire(),
                event: Box::new(event),
            });
            if batch.len() == 500 {
                store
                    .ingest_batch(&std::mem::take(&mut batch), &cache)
                    .await?;
            }
        }
        store.ingest_batch(&batch, &cache).await?;
    }
    for (name, text) in [
        ("settlements.csv", &month.settlements_csv),
        ("fee_lines.csv", &month.fee_lines_csv),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        let report = store
            .import_file(&path, &ImportOptions::default(), &mut |_| {})
            .await?;
        anyhow::ensure!(
            report.rows_bad == 0,
            "{name}: {:?}",
            report.problems.first()
        );
    }
    let gallery = store.import_gallery(month.gallery_jsonl.as_bytes()).await?;
    anyhow::ensure!(
        gallery.refused.is_empty(),
        "gallery: {:?}",
        gallery.refused.first()
    );
    Ok(())
}

/// Precision and recall of one rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuleScore {
    /// The rule.
    pub rule: String,
    /// Flags raised.
    pub raised: u64,
    /// Flags that match an expected finding.
    pub true_positives: u64,
    /// Expected findings.
    pub expected: u64,
    /// Expected findings that were flagged.
    pub found: u64,
    /// Flags whose evidence is an honest patient-day under an outage.
    pub under_outage: u64,
    /// Flags that match nothing expected (for the report).
    pub false_positives: Vec<String>,
    /// Expected findings not flagged.
    pub missed: Vec<String>,
}

impl RuleScore {
    /// true positives / raised (1 when nothing was raised and nothing expected).
    pub fn precision(&self) -> f64 {
        if self.raised == 0 {
            if self.expected == 0 { 1.0 } else { 0.0 }
        } else {
            self.true_positives as f64 / self.raised as f64
        }
    }
    /// found / expected (1 when nothing was expected).
    pub fn recall(&self) -> f64 {
        if self.expected == 0 {
            1.0
        } else {
            self.found as f64 / self.expected as f64
        }
    }
}

/// The period a flag is about, in the truth's terms.
fn flag_period(rule: &str, dedup_key: &str, evidence: &serde_json::Value) -> String {
    let parts: Vec<&str> = dedup_key.split('/').collect();
    match rule {
        "dialysis_over_weekly" => parts.get(2).copied().unwrap_or("-").to_owned(),
        "bed_holding" => evidence["first_day"].as_str().unwrap_or("-").to_owned(),
        "duplicate_face" | "outage_alignment" => "-".into(),
        _ => evidence["date"].as_str().unwrap_or("-").to_owned(),
    }
}

/// Compares the flags in the store with the month's truth, per rule.
pub async fn score(store: &Store, month: &Month) -> anyhow::Result<Vec<RuleScore>> {
    let rows = sqlx::query(
        "SELECT rule_id, fixmedins_code, psn_no, dedup_key, evidence FROM flags ORDER BY id",
    )
    .fetch_all(store.pool())
    .await?;
    let mut scores: BTreeMap<String, RuleScore> = wardwatch_collector::rules::base::RULE_IDS
        .iter()
        .map(|r| {
            (
                r.to_string(),
                RuleScore {
                    rule: r.to_string(),
                    ..RuleScore::default()
                },
            )
        })
        .collect();
    let mut found = BTreeSet::new();
    for row in rows {
        let rule: String = row.try_get(0)?;
        let institution: String = row.try_get(1)?;
        let psn: Option<String> = row.try_get(2)?;
        let key: String = row.try_get(3)?;
        let evidence: serde_json::Value = serde_json::from_str(&row.try_get::<String, _>(4)?)?;
        let period = flag_period(&rule, &key, &evidence);
        let flag = Expected {
            rule: rule.clone(),
            institution: institution.clone(),
            psn_no: psn.clone().unwrap_or_else(|| "-".into()),
            period: period.clone(),
        };
        let score = scores.entry(rule.clone()).or_default();
        score.raised += 1;
        // bed_holding: a flag matches a truth of the same stay whose absence it starts in or overlaps.
        let matched = month.expected.iter().find(|e| {
            e.rule == flag.rule
                && e.institution == flag.institution
                && e.psn_no == flag.psn_no
                && (e.period == flag.period || rule == "bed_holding")
        });
        match matched {
            Some(e) => {
                score.true_positives += 1;
                found.insert(e.clone());
            }
            None => score
                .false_positives
                .push(format!("{institution} {} {period}", flag.psn_no)),
        }
        if month
            .under_outage
            .contains(&(institution, flag.psn_no.clone(), period))
            && matched.is_none()
        {
            score.under_outage += 1;
        }
    }
    for e in &month.expected {
        let score = scores.entry(e.rule.clone()).or_default();
        score.expected += 1;
        if found.contains(e) {
            score.found += 1;
        } else {
            score
                .missed
                .push(format!("{} {} {}", e.institution, e.psn_no, e.period));
        }
    }
    Ok(scores.into_values().collect())
}
