//! Refunds (冲销): a line with a negative `cnt` that refunds an earlier line in full or in part, linked
//! by `init_feedetl_sn` (原费用流水号) in most exports. Refunded lines are ordinary honest ward practice:
//! a session billed for a patient who then did not come and refunded, a duplicate charge refunded, a
//! price corrected, a double session of which one was not given.

use super::ward::observe;
use super::{Builder, DAY, Line, MINUTE, Monitoring, RefundRole};
use chrono::TimeZone;
use std::collections::BTreeMap;

impl Builder {
    /// Refunds about one untouched billed line in forty. A refund is linked to its line in 85% of
    /// cases; the others leave 原费用流水号 empty, which the generator does only where the export still
    /// identifies the line (the patient's only line of that item that day, refunded the same day).
    pub(super) fn refunds(&mut self) {
        let mut per_day: BTreeMap<(String, String, chrono::NaiveDate), u32> = BTreeMap::new();
        for l in &self.lines {
            *per_day
                .entry((l.psn_no.clone(), l.code.to_owned(), l.date))
                .or_default() += 1;
        }
        let n = self.lines.len() / 40;
        for i in self.pick(n, |_| true) {
            let partial = self.lines[i].cnt >= 2 && self.random.chance(0.5);
            let duplicate = !partial && self.random.chance(0.2);
            let target = if duplicate { self.duplicate(i) } else { i };
            let units = if partial { 1 } else { self.lines[target].cnt };
            let same_day = self.random.chance(0.6);
            let at = self.refund_time(target, same_day);
            let only_line = per_day
                .get(&(
                    self.lines[i].psn_no.clone(),
                    self.lines[i].code.to_owned(),
                    self.lines[i].date,
                ))
                .is_some_and(|c| *c == 1);
            let linked = !(same_day && only_line && !duplicate) || self.random.chance(0.85);
            let what = if partial {
                let (billed, unit) = (self.lines[i].at, self.lines[i].unit_minutes);
                let (seen, unknown) = observe(&mut self.random, billed, unit);
                let line = &mut self.lines[i];
                line.seen = seen;
                line.unknown = unknown;
                line.refund = Some(RefundRole::PartlyRefunded);
                line.note = "double session, one of the two refunded; attended one".into();
                "partial"
            } else if duplicate {
                self.lines[target].refund = Some(RefundRole::FullyRefunded);
                self.lines[target].note = format!("duplicate charge of {}", self.lines[i].sn);
                "duplicate charge"
            } else if self.random.chance(0.6) {
                let line = &mut self.lines[i];
                line.seen.clear();
                line.unknown.clear();
                line.refund = Some(RefundRole::FullyRefunded);
                line.note = "did not come; refunded in full".into();
                "full, did not come"
            } else {
                let line = &mut self.lines[i];
                line.refund = Some(RefundRole::FullyRefunded);
                line.note = "attended; refunded in full (price corrected)".into();
                "full, attended"
            };
            self.refund_line(target, units, at, linked, what);
        }
    }

    /// The same session charged a second time (a new line, same slot, nothing observed of its own).
    fn duplicate(&mut self, i: usize) -> usize {
        let mut copy = self.lines[i].clone();
        copy.sn = self.next_sn();
        copy.at += self.random.range(0, 2) * MINUTE;
        copy.seen.clear();
        copy.unknown.clear();
        copy.reserved = true;
        self.lines.push(copy);
        self.lines.len() - 1
    }

    /// When a refund of line `i` is billed: 1–6 hours later on the same day, or 1–6 days later, within
    /// the month.
    fn refund_time(&mut self, i: usize, same_day: bool) -> i64 {
        let (at, date) = (self.lines[i].at, self.lines[i].date);
        let (_, day_end) = self.day_bounds(date);
        let (_, window_end) = self.month.window;
        if same_day {
            (at + self.random.range(60, 360) * MINUTE).min(day_end - 10 * MINUTE)
        } else {
            (at + self.random.range(1, 6) * DAY).min(window_end - 60 * MINUTE)
        }
    }

    fn refund_line(&mut self, i: usize, units: i32, at: i64, linked: bool, what: &str) {
        let sn = self.next_sn();
        let original = self.lines[i].clone();
        let date = self
            .zone
            .timestamp_millis_opt(at)
            .single()
            .map_or(original.date, |t| t.date_naive());
        let link = if linked {
            "linked"
        } else {
            "no 原费用流水号"
        };
        self.lines.push(Line {
            sn,
            date,
            at,
            slot: (at, at),
            cnt: -units,
            seen: Vec::new(),
            photo: false,
            unknown: Vec::new(),
            fraud: Default::default(),
            refund: Some(RefundRole::Refund),
            refunds: Some((original.sn.clone(), linked)),
            reserved: true,
            note: format!("refunds {} ({what}, {link})", original.sn),
            monitoring: Monitoring::Full,
            ..original
        });
        self.count("refund lines (linked)", u64::from(linked));
        self.count("refund lines (no link)", u64::from(!linked));
    }
}
