//! Injected fraud, each kind labelled on the fee lines it concerns (`Line::fraud`), and the
//! institution-level findings it should raise.

use super::events::presence;
use super::ward::observe;
use super::{BED_DAY, Builder, DAY, DIALYSIS, Line, MINUTE, SimEvent, Spans};
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use std::collections::BTreeSet;
use wardwatch_protocol::{CameraState, Person, WardKind};

fn is_dialysis(l: &Line) -> bool {
    l.code == DIALYSIS
}

fn is_rehab(l: &Line) -> bool {
    l.ward == WardKind::Rehabilitation
}

impl Builder {
    /// Every kind of fraud the rules look for.
    pub(super) fn inject(&mut self) {
        let n = self.spec.cases_per_kind as usize;
        let half = (n / 2).max(1);
        self.over_weekly(half);
        self.ghosts(half);
        self.impostors(half);
        self.crowded_shift();
        self.short_stays(half);
        self.double_attended_once(n);
        self.photos(half);
        self.bed_holding(n);
        self.double_billing(half);
        self.covered_camera();
        self.switched_off_box();
        self.outages_near_slots();
        self.forgeries();
    }

    fn label(&mut self, i: usize, rule: &'static str, note: String) {
        let line = &mut self.lines[i];
        line.fraud.insert(rule);
        line.reserved = true;
        line.note = note;
        self.count("fraud lines injected", 1);
    }

    /// The patient never came: nothing of them in the slot.
    fn ghost(&mut self, i: usize, note: &str) {
        let line = &mut self.lines[i];
        line.seen.clear();
        line.unknown.clear();
        self.label(i, "no_presence", note.into());
    }

    /// 假病人: sessions billed, the patient never came; on rehabilitation days with two sessions, one of
    /// the two (the other attended).
    fn ghosts(&mut self, half: usize) {
        for i in self.pick(half, is_dialysis) {
            self.ghost(i, "never came");
        }
        let twice: BTreeSet<(String, NaiveDate)> = {
            let mut seen = BTreeSet::new();
            let mut twice = BTreeSet::new();
            for l in self.lines.iter().filter(|l| is_rehab(l)) {
                if !seen.insert((l.psn_no.clone(), l.date)) {
                    twice.insert((l.psn_no.clone(), l.date));
                }
            }
            twice
        };
        let one_of_two = half / 2;
        for i in self.pick(one_of_two, |l| {
            is_rehab(l) && twice.contains(&(l.psn_no.clone(), l.date))
        }) {
            self.ghost(
                i,
                "never came to this session (attended the other one that day)",
            );
        }
        for i in self.pick(half - one_of_two, is_rehab) {
            self.ghost(i, "never came");
        }
    }

    /// 冒名: someone else sat through the slot, seen as an unknown face the way a patient is seen (1–3
    /// fragments, 75–100% of the slot).
    fn impostor(&mut self, i: usize, note: &str) {
        let (at, minutes) = {
            let l = &self.lines[i];
            (l.at, l.unit_minutes * i64::from(l.cnt))
        };
        let (spans, _) = observe(&mut self.random, at, minutes);
        let line = &mut self.lines[i];
        line.seen.clear();
        line.unknown = spans;
        self.label(i, "impersonation", note.into());
    }

    fn impostors(&mut self, half: usize) {
        for i in self.pick(half, is_dialysis) {
            self.impostor(i, "someone else in the chair");
        }
        for i in self.pick(half, is_rehab) {
            self.impostor(i, "someone else in the session");
        }
    }

    /// One dialysis shift with two impostors and a third patient who never came, their slots starting
    /// within 45 minutes of each other.
    fn crowded_shift(&mut self) {
        let c = self.codes();
        let Some(first) = self
            .pick(1, |l| is_dialysis(l) && l.institution == c[0])
            .pop()
        else {
            return;
        };
        let (inst, date, at) = {
            let l = &self.lines[first];
            (l.institution.clone(), l.date, l.at)
        };
        let others = self.pick(2, |l| {
            is_dialysis(l)
                && l.institution == inst
                && l.date == date
                && (l.at - at).abs() <= 45 * MINUTE
        });
        if others.len() < 2 {
            self.lines[first].reserved = false;
            for i in others {
                self.lines[i].reserved = false;
            }
            return;
        }
        self.impostor(first, "someone else in the chair (crowded shift)");
        self.impostor(others[0], "someone else in the chair (crowded shift)");
        self.ghost(others[1], "never came (crowded shift: two impostors in it)");
    }

    /// Came for 10–35% of the slot: left early or came late.
    fn short_stay(&mut self, i: usize) {
        let share = 0.1 + 0.25 * self.random.unit();
        let late = self.random.chance(0.5);
        let line = &mut self.lines[i];
        let length = line.slot.1 - line.slot.0;
        let stay = ((length as f64 * share) as i64).max(3 * MINUTE);
        line.seen = if late {
            vec![(line.slot.1 - stay, line.slot.1)]
        } else {
            vec![(line.slot.0, line.slot.0 + stay)]
        };
        line.unknown.clear();
        let what = if late { "came late" } else { "left early" };
        self.label(
            i,
            "short_presence",
            format!("{what}: {:.0}% of the slot", share * 100.0),
        );
    }

    fn short_stays(&mut self, half: usize) {
        for i in self.pick(half, is_dialysis) {
            self.short_stay(i);
        }
        for i in self.pick(half, |l| is_rehab(l) && l.cnt == 1) {
            self.short_stay(i);
        }
    }

    /// Line `i`'s patient seen honestly for `units` of its units from its billing time, nobody else.
    fn seen_for_units(&mut self, i: usize, units: i64) {
        let (at, unit) = (self.lines[i].at, self.lines[i].unit_minutes);
        let (seen, _) = observe(&mut self.random, at, unit * units);
        let line = &mut self.lines[i];
        line.seen = seen;
        line.unknown.clear();
    }

    /// A double session (`cnt` 2) attended for one: one session's worth of presence, seen honestly.
    fn double_attended_once(&mut self, n: usize) {
        for i in self.pick(n, |l| is_rehab(l) && l.cnt == 2) {
            self.seen_for_units(i, 1);
            self.label(
                i,
                "billed_above_observed",
                "double session billed, one attended".into(),
            );
        }
    }

    /// 疑似照片/屏幕冒充: the patient's photo or a screen held up to the camera through the slot (the
    /// face matches, its median liveness is ~0.02).
    fn photos(&mut self, half: usize) {
        let mut chosen = self.pick(half, is_dialysis);
        chosen.extend(self.pick(half, is_rehab));
        for i in chosen {
            self.seen_for_units(i, i64::from(self.lines[i].cnt));
            self.lines[i].photo = true;
            self.label(
                i,
                "presentation_attack",
                "a photo held up to the camera".into(),
            );
        }
    }

    /// 挂床: every other of the first `n` inpatients is absent 3–7 days running while bed-days are
    /// billed; the others go on 1–2 days' home leave (honest).
    fn bed_holding(&mut self, n: usize) {
        let psych: Vec<String> = self
            .lines
            .iter()
            .filter(|l| l.code == BED_DAY)
            .map(|l| l.psn_no.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for (k, psn) in psych.iter().enumerate().take(n) {
            let holding = k % 2 == 0;
            let absent = if holding {
                self.random.range(3, 7)
            } else {
                self.random.range(1, 2)
            };
            let first = self.random.range(2, i64::from(self.spec.days) - 9);
            let day0 = self.spec.start + Duration::days(first);
            let absent_lines: Vec<usize> = (0..self.lines.len())
                .filter(|i| {
                    let l = &self.lines[*i];
                    l.psn_no == *psn && (0..absent).contains(&(l.date - day0).num_days())
                })
                .collect();
            for i in absent_lines {
                self.lines[i].seen.clear();
                if holding {
                    self.label(
                        i,
                        "bed_holding",
                        format!("absent {absent} days running from {day0}"),
                    );
                } else {
                    self.lines[i].reserved = true;
                    self.lines[i].note = format!("home leave of {absent} day(s)");
                }
            }
        }
    }

    /// Two places at once: a patient dialysed at centre 1 is also billed by centre 2 for a session
    /// starting 20, 60 or 120 minutes later that never happened there.
    fn double_billing(&mut self, half: usize) {
        let c = self.codes();
        let offsets = [20, 60, 120];
        for (k, i) in self
            .pick(half, |l| is_dialysis(l) && l.institution == c[0])
            .into_iter()
            .enumerate()
        {
            let offset = offsets[k % offsets.len()];
            let mut fake = self.lines[i].clone();
            fake.sn = self.next_sn();
            fake.mdtrt_id = self.mdtrt();
            fake.institution = c[1].clone();
            fake.at += offset * MINUTE;
            fake.slot = (fake.slot.0 + offset * MINUTE, fake.slot.1 + offset * MINUTE);
            fake.seen.clear();
            fake.unknown.clear();
            fake.fraud = BTreeSet::from(["cross_institution", "no_presence"]);
            fake.note = format!(
                "billed {offset} min after the same patient's attended session at {}",
                c[0]
            );
            self.lines[i].note = format!("attended; {} billed the same slot too", c[1]);
            self.lines.push(fake);
            self.count("fraud lines injected", 1);
        }
    }

    /// More than five dialysis sessions in a week: three extra attended evening sessions at centre 1 in
    /// one ISO week; the sessions past the fifth, in billing order, are over the limit.
    fn over_weekly(&mut self, patients: usize) {
        let c = self.codes();
        let start = self.spec.start;
        let first_monday =
            start + Duration::days(i64::from((7 - start.weekday().num_days_from_monday()) % 7));
        let end = start + Duration::days(i64::from(self.spec.days));
        let weeks = ((end - first_monday).num_days() / 7).max(1);
        for j in 0..patients as u32 {
            let psn = self.psn(1, 2 * j + 20);
            let monday = first_monday + Duration::days(7 * (i64::from(j) % weeks));
            if monday + Duration::days(7) > end {
                continue;
            }
            for extra in [1, 3, 5] {
                let date = monday + Duration::days(extra);
                let at = self.local(date, 18, 0) + self.random.range(0, 20) * MINUTE;
                let mdtrt = self.mdtrt();
                self.session(
                    &c[0],
                    &psn,
                    WardKind::Haemodialysis,
                    DIALYSIS,
                    at,
                    1,
                    240,
                    41_000,
                    mdtrt,
                );
            }
            let mut week: Vec<usize> = (0..self.lines.len())
                .filter(|i| {
                    let l = &self.lines[*i];
                    l.psn_no == psn && l.date >= monday && l.date < monday + Duration::days(7)
                })
                .collect();
            week.sort_by_key(|i| self.lines[*i].at);
            for (k, i) in week.into_iter().enumerate() {
                self.lines[i].reserved = true;
                if k >= 5 {
                    self.label(
                        i,
                        "dialysis_over_weekly",
                        format!("session {} of the week (attended)", k + 1),
                    );
                }
            }
        }
    }

    /// Centre 2 covers its camera through the morning shift on three days and bills two patients who
    /// did not come each time.
    fn covered_camera(&mut self) {
        let c = self.codes();
        let inst = c[1].as_str();
        let mut days = 0;
        for date in self.dates().into_iter().skip(8) {
            if days == 3 {
                break;
            }
            if date.weekday() == Weekday::Sun {
                continue;
            }
            days += 1;
            let from = self.local(date, 7, 20) + self.random.range(0, 20) * MINUTE;
            let to = self.local(date, 12, 0) + self.random.range(0, 40) * MINUTE;
            self.outage(inst, (from, to), CameraState::Obstructed);
            for i in self.pick(2, |l| {
                l.institution == inst && l.date == date && l.at >= from && l.slot.1 <= to
            }) {
                self.ghost(i, "never came; camera covered while billed");
            }
        }
        self.finding("outage_alignment", inst, "-");
    }

    /// The rehabilitation hospital switches its box off (no heartbeat, no event) through the working
    /// day on four weekdays and bills two or three sessions that nobody attended each of those days.
    fn switched_off_box(&mut self) {
        let c = self.codes();
        let inst = c[2].as_str();
        let days: Vec<NaiveDate> = self
            .dates()
            .into_iter()
            .skip(7)
            .filter(|d| d.weekday().num_days_from_monday() < 5)
            .step_by(2)
            .take(4)
            .collect();
        for date in days {
            let from = self.local(date, 7, 0) + self.random.range(0, 40) * MINUTE;
            let to = self.local(date, 17, 30) + self.random.range(0, 60) * MINUTE;
            self.silence(inst, (from, to));
            let k = self.random.range(2, 3) as usize;
            for i in self.pick(k, |l| {
                l.institution == inst && l.date == date && l.at >= from && l.slot.1 <= to
            }) {
                self.ghost(i, "never came; box switched off while billed");
            }
        }
        self.finding("outage_alignment", inst, "-");
    }

    /// Outages that do not cover the slot cannot excuse it: two ghost sessions with an outage ending
    /// 15–100 minutes before the slot, and one whose first 40–90 minutes an outage covers.
    fn outages_near_slots(&mut self) {
        let c = self.codes();
        let mut near = self.pick(1, |l| is_dialysis(l) && l.institution == c[1]);
        near.extend(self.pick(1, is_rehab));
        for i in near {
            let (inst, slot) = (self.lines[i].institution.clone(), self.lines[i].slot);
            let gap = self.random.range(15, 100);
            let length = self.random.range(30, 90);
            let end = slot.0 - gap * MINUTE;
            self.outage(&inst, (end - length * MINUTE, end), CameraState::Offline);
            self.ghost(
                i,
                &format!("never came; an outage of {length} min ended {gap} min before the slot"),
            );
        }
        if let Some(i) = self
            .pick(1, |l| is_dialysis(l) && l.institution == c[0])
            .pop()
        {
            let (inst, slot) = (self.lines[i].institution.clone(), self.lines[i].slot);
            let before = self.random.range(0, 30);
            let into = self.random.range(40, 90);
            self.outage(
                &inst,
                (slot.0 - before * MINUTE, slot.0 + into * MINUTE),
                CameraState::Offline,
            );
            self.ghost(
                i,
                &format!("never came; an outage covered the first {into} min of the slot"),
            );
        }
    }

    /// Presence forged with the box's own key for ghost sessions: sealed before the interval it reports
    /// ended (a report from the future), sealed with a `sent_at` ten years ahead, back-dated (sealed
    /// three days later with the seal time set back), a 24-day interval over an inpatient's absence,
    /// and a recording of the patient replayed on the box in test mode. The collector's time and
    /// test-data checks must refuse each; the lines stay what they were.
    fn forgeries(&mut self) {
        let c = self.codes();
        let forged = |b: &mut Builder, i: usize, chain_at: i64, sent_at: i64, how: &'static str| {
            let test_mode = how == "replayed recording";
            let l = &b.lines[i];
            let span = (l.slot.0 + 5 * MINUTE, l.slot.1 - 5 * MINUTE);
            let person = l.psn_no.parse().ok().map(Person::PsnNo);
            let payload = person.and_then(|p| presence(l.ward, p, span, 0.9));
            if let Some(payload) = payload {
                let inst = l.institution.clone();
                b.forged.push((
                    inst,
                    SimEvent {
                        chain_at,
                        sent_at,
                        payload,
                        forged: Some(how),
                        test_mode,
                    },
                ));
                b.count("forged events", 1);
            }
        };
        if let Some(i) = self
            .pick(1, |l| is_dialysis(l) && l.institution == c[0])
            .pop()
        {
            let at = self.lines[i].slot.0 - 30 * MINUTE;
            forged(self, i, at, at, "future");
            self.ghost(
                i,
                "never came; presence sealed 30 min before the slot began",
            );
        }
        let off = self.silent.get(&c[2]).cloned().unwrap_or_default();
        let watched = move |l: &Line| !off.iter().any(|(s, e)| l.slot.0 < *e && l.slot.1 > *s);
        if let Some(i) = self.pick(1, |l| is_rehab(l) && watched(l)).pop() {
            let end = self.lines[i].slot.1;
            forged(
                self,
                i,
                end + 2 * MINUTE,
                end + 3650 * DAY,
                "sealed in the future",
            );
            self.ghost(i, "never came; presence sealed with a time ten years ahead");
        }
        let last_day = self.spec.start + Duration::days(i64::from(self.spec.days) - 5);
        if let Some(i) = self
            .pick(1, |l| {
                is_dialysis(l) && l.institution == c[1] && l.date < last_day
            })
            .pop()
        {
            let end = self.lines[i].slot.1;
            forged(self, i, end + 3 * DAY, end + 2 * MINUTE, "back-dated");
            self.ghost(i, "never came; presence sealed 3 days later, back-dated");
        }
        if let Some(i) = self.pick(1, |l| is_rehab(l) && watched(l)).pop() {
            let end = self.lines[i].slot.1;
            forged(
                self,
                i,
                end + 2 * MINUTE,
                end + 2 * MINUTE,
                "replayed recording",
            );
            self.ghost(
                i,
                "never came; a recording of them replayed on the box in test mode",
            );
        }
        self.long_interval();
    }

    /// A 24-day presence interval over the first bed-holding patient's absence.
    fn long_interval(&mut self) {
        let c = self.codes();
        let absent: Vec<usize> = (0..self.lines.len())
            .filter(|i| self.lines[*i].fraud.contains("bed_holding"))
            .collect();
        let Some(&first) = absent.first() else {
            return;
        };
        let (psn, date) = (self.lines[first].psn_no.clone(), self.lines[first].date);
        let (from, to) = self.month.window;
        let length = 24 * DAY;
        if to - from < length + 2 * DAY {
            return;
        }
        let start = (self.local(date, 8, 0) - 10 * DAY).clamp(from + DAY / 2, to - length - DAY);
        let span: Spans = vec![(start, start + length)];
        let payload = psn
            .parse()
            .ok()
            .map(Person::PsnNo)
            .and_then(|p| presence(WardKind::Psychiatric, p, span[0], 0.9));
        if let Some(payload) = payload {
            let sealed = start + length + MINUTE;
            self.forged.push((
                c[3].clone(),
                SimEvent {
                    chain_at: sealed,
                    sent_at: sealed,
                    payload,
                    forged: Some("24-day interval"),
                    test_mode: false,
                },
            ));
            self.count("forged events", 1);
            for line in self.lines.iter_mut().filter(|l| l.psn_no == psn) {
                if line.fraud.contains("bed_holding") {
                    line.note.push_str("; a forged 24-day interval covers it");
                }
            }
        }
    }
}
