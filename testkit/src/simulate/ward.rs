//! The honest ward month: who is scheduled when, what the cameras see of an honest session, visitors,
//! and the enrolled gallery.

use super::{BED_DAY, Builder, DIALYSIS, Line, MINUTE, Monitoring, PHYSIO, REHAB, Random, Spans};
use chrono::{Datelike, NaiveDate, TimeZone, Weekday};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use wardwatch_protocol::WardKind;

/// An honest observation of a session of `minutes` billed at `billed`: it starts 5 minutes before to
/// 10 minutes after the billing time and is seen for 75–100% of its length in 1–3 fragments; sometimes
/// a few minutes of the patient's face go unrecognised (an unknown track).
pub(super) fn observe(random: &mut Random, billed: i64, minutes: i64) -> (Spans, Spans) {
    let start = billed + random.range(-5, 10) * MINUTE;
    let share = 0.75 + 0.25 * random.unit();
    let fragments = random.range(1, 3);
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
    if random.chance(0.1) {
        let s = start + random.range(0, (minutes - 10).max(0)) * MINUTE;
        unknown.push((s, s + random.range(2, 8) * MINUTE));
    }
    (seen, unknown)
}

/// Did a dialysis patient of this pattern dialyse on this day (Mon/Wed/Fri or Tue/Thu/Sat)?
pub(super) fn dialysis_day(mon_wed_fri: bool, date: NaiveDate) -> bool {
    let wd = date.weekday();
    if mon_wed_fri {
        matches!(wd, Weekday::Mon | Weekday::Wed | Weekday::Fri)
    } else {
        matches!(wd, Weekday::Tue | Weekday::Thu | Weekday::Sat)
    }
}

impl Builder {
    /// A patient's number: `kind` 1 or 2 (dialysis centre 1 or 2), 3 (rehabilitation), 4 (psychiatric),
    /// 9 (a second enrolment under a new number); patient `p`; unique across the groups of a province.
    pub(super) fn psn(&self, kind: usize, p: u32) -> String {
        format!("4306{kind}{:04}{p:010}", self.spec.group)
    }

    /// A billed session line, observed honestly.
    #[allow(clippy::too_many_arguments)] // a schedule entry is this many facts
    pub(super) fn session(
        &mut self,
        institution: &str,
        psn: &str,
        ward: WardKind,
        code: &'static str,
        billed: i64,
        cnt: i32,
        unit_minutes: i64,
        price_fen: i64,
        mdtrt_id: String,
    ) -> usize {
        let (seen, unknown) = observe(&mut self.random, billed, unit_minutes * i64::from(cnt));
        let date = self
            .zone
            .timestamp_millis_opt(billed)
            .single()
            .map(|t| t.date_naive())
            .unwrap_or(self.spec.start);
        let sn = self.next_sn();
        self.lines.push(Line {
            sn,
            institution: institution.into(),
            psn_no: psn.into(),
            ward,
            code,
            date,
            at: billed,
            slot: (billed, billed + unit_minutes * i64::from(cnt) * MINUTE),
            cnt,
            unit_minutes,
            price_fen,
            mdtrt_id,
            seen,
            photo: false,
            unknown,
            fraud: BTreeSet::new(),
            refund: None,
            refunds: None,
            reserved: false,
            note: "attended".into(),
            monitoring: Monitoring::Full,
        });
        self.lines.len() - 1
    }

    /// The honest schedule of every ward.
    pub(super) fn patients(&mut self) {
        self.dialysis();
        self.rehabilitation();
        self.psychiatric();
    }

    /// Dialysis: three sessions a week (Mon/Wed/Fri or Tue/Thu/Sat), a morning (07:30) or afternoon
    /// (12:30) shift, starts staggered over 45 minutes; each session its own outpatient encounter.
    fn dialysis(&mut self) {
        for (i, (institution, _)) in self.inst.clone().iter().take(2).enumerate() {
            // Patients of one shift (the same days, the same half of the day) each have their chair.
            let shifts: Vec<Vec<String>> = (0..4)
                .map(|shift| {
                    (0..self.spec.dialysis_patients)
                        .filter(|p| p % 4 == shift)
                        .map(|p| self.psn(i + 1, p))
                        .collect()
                })
                .collect();
            self.seats.chairs(institution, &shifts);
            for p in 0..self.spec.dialysis_patients {
                let psn = self.psn(i + 1, p);
                let (hour, minute) = if p % 4 < 2 { (7, 30) } else { (12, 30) };
                for date in self.dates() {
                    if dialysis_day(p % 2 == 0, date) {
                        let billed =
                            self.local(date, hour, minute) + self.random.range(0, 45) * MINUTE;
                        let mdtrt = self.mdtrt();
                        self.session(
                            institution,
                            &psn,
                            WardKind::Haemodialysis,
                            DIALYSIS,
                            billed,
                            1,
                            240,
                            41_000,
                            mdtrt,
                        );
                    }
                }
            }
        }
    }

    /// Rehabilitation, weekdays: two patients in five have a morning and an afternoon session (two
    /// lines), the others one session, a double session (one line, `cnt` 2) on about a quarter of days;
    /// one patient in four is on the 45-minute item. A patient misses about one day in twenty (nothing
    /// billed). One encounter per patient-day.
    fn rehabilitation(&mut self) {
        let institution = &self.inst[2].0.clone();
        for p in 0..self.spec.rehab_patients {
            let psn = self.psn(3, p);
            let (code, minutes, price) = if p % 4 == 3 {
                (PHYSIO, 45, 6_000)
            } else {
                (REHAB, 30, 4_500)
            };
            let twice = p % 5 < 2;
            let morning = (8, 30 + (p % 3) * 50);
            let afternoon = (14, (p % 2) * 60);
            for date in self.dates() {
                if date.weekday().num_days_from_monday() >= 5 || self.random.chance(0.05) {
                    continue;
                }
                let mdtrt = self.mdtrt();
                let at = |b: &mut Builder, (h, m): (u32, u32)| {
                    b.local(date, h, 0) + i64::from(m) * MINUTE + b.random.range(0, 15) * MINUTE
                };
                let first = at(self, morning);
                let double = !twice && self.random.chance(0.25);
                let cnt = if double { 2 } else { 1 };
                let ward = WardKind::Rehabilitation;
                self.session(
                    institution,
                    &psn,
                    ward,
                    code,
                    first,
                    cnt,
                    minutes,
                    price,
                    mdtrt.clone(),
                );
                if twice {
                    let second = at(self, afternoon);
                    self.session(
                        institution,
                        &psn,
                        ward,
                        code,
                        second,
                        1,
                        minutes,
                        price,
                        mdtrt,
                    );
                }
            }
        }
    }

    /// Psychiatric inpatients: admitted all month, billed a bed-day daily at 12:00, seen 3–5 times a
    /// day for 30–90 minutes between 07:00 and 20:00.
    fn psychiatric(&mut self) {
        let institution = &self.inst[3].0.clone();
        let dates = self.dates();
        let (Some(first), Some(last)) = (dates.first().copied(), dates.last().copied()) else {
            return;
        };
        let patients = (0..self.spec.psych_patients)
            .map(|p| self.psn(4, p))
            .collect();
        self.seats.beds(institution, patients);
        for p in 0..self.spec.psych_patients {
            let psn = self.psn(4, p);
            let mdtrt = self.mdtrt();
            let (adm, dscg) = (self.local(first, 9, 0), self.local(last, 18, 0));
            self.stays
                .push((institution.into(), psn.clone(), mdtrt.clone(), adm, dscg));
            for date in &dates {
                let mut seen = Vec::new();
                for _ in 0..self.random.range(3, 5) {
                    let s = self.local(*date, 7, 0) + self.random.range(0, 12 * 60) * MINUTE;
                    seen.push((s, s + self.random.range(30, 90) * MINUTE));
                }
                let sn = self.next_sn();
                let at = self.local(*date, 12, 0);
                self.lines.push(Line {
                    sn,
                    institution: institution.into(),
                    psn_no: psn.clone(),
                    ward: WardKind::Psychiatric,
                    code: BED_DAY,
                    date: *date,
                    at,
                    slot: self.day_bounds(*date),
                    cnt: 1,
                    unit_minutes: 60,
                    price_fen: 18_000,
                    mdtrt_id: mdtrt.clone(),
                    seen,
                    photo: false,
                    unknown: Vec::new(),
                    fraud: BTreeSet::new(),
                    refund: None,
                    refunds: None,
                    reserved: false,
                    note: "on the ward".into(),
                    monitoring: Monitoring::Full,
                });
            }
        }
    }

    /// Visitors: five unknown faces a day per institution, 2–12 minutes each, 08:00–17:00.
    pub(super) fn visitors(&mut self) {
        for (inst, ward) in self.inst.clone() {
            for date in self.dates() {
                for _ in 0..5 {
                    let s = self.local(date, 8, 0) + self.random.range(0, 9 * 60) * MINUTE;
                    let e = s + self.random.range(2, 12) * MINUTE;
                    for span in self.visible(&inst, &[(s, e)]) {
                        self.visitors.push((inst.clone(), ward, span));
                    }
                }
            }
        }
    }

    /// The enrolled gallery: two embeddings per patient; two patients of centre 1 enrolled again at
    /// centre 2 under new numbers (one face, two insurance numbers: `duplicate_face`).
    pub(super) fn gallery(&mut self) {
        let people: BTreeMap<String, String> = self
            .lines
            .iter()
            .map(|l| (l.psn_no.clone(), l.institution.clone()))
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
        for k in 0..2u32 {
            let original = self.psn(1, 2 * k + 31);
            let Some(base) = bases.get(&original).cloned() else {
                continue;
            };
            let alias = self.psn(9, k);
            let centre_2 = self.inst[1].0.clone();
            enrol(&mut self.random, &centre_2, &alias, &base);
            self.finding("duplicate_face", &centre_2, &alias);
        }
        self.month.gallery_jsonl = lines;
    }
}
