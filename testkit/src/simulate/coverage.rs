//! Coverage: honest camera outages and an honest silent box, and what they hide of each slot.

use super::{Builder, MINUTE, Monitoring, Spans};
use chrono::Duration;
use wardwatch_protocol::CameraState;

/// Minutes of [from, to) that `spans` cover (spans may overlap).
pub(super) fn covered(spans: &[(i64, i64)], from: i64, to: i64) -> i64 {
    let mut clipped: Vec<(i64, i64)> = spans
        .iter()
        .map(|&(s, e)| (s.max(from), e.min(to)))
        .filter(|(s, e)| e > s)
        .collect();
    clipped.sort_unstable();
    let mut total = 0;
    let mut reach = from;
    for (s, e) in clipped {
        let s = s.max(reach);
        if e > s {
            total += e - s;
            reach = e;
        }
    }
    total
}

/// `spans` with everything inside `holes` cut out.
pub(super) fn cut(spans: &[(i64, i64)], holes: &[(i64, i64)]) -> Spans {
    let mut out: Spans = spans.to_vec();
    for &(hs, he) in holes {
        out = out
            .into_iter()
            .flat_map(|(a, b)| {
                let mut parts = Vec::new();
                if a < hs {
                    parts.push((a, b.min(hs)));
                }
                if b > he {
                    parts.push((a.max(he), b));
                }
                parts
            })
            .filter(|(a, b)| b > a)
            .collect();
    }
    out
}

impl Builder {
    /// Honest camera outages: three per institution, 30–150 minutes at a random time, offline or
    /// covered; and one whole day on which centre 1's box is off (a power cut: no heartbeat, no event).
    pub(super) fn honest_outages(&mut self) {
        for (inst, _) in self.inst.clone() {
            for _ in 0..3 {
                let day = self.random.range(0, i64::from(self.spec.days) - 1);
                let date = self.spec.start + Duration::days(day);
                let start = self.local(date, 0, 0) + self.random.range(0, 24 * 60 - 1) * MINUTE;
                let end = start + self.random.range(30, 150) * MINUTE;
                let state = if self.random.chance(0.5) {
                    CameraState::Offline
                } else {
                    CameraState::Obstructed
                };
                self.outage(&inst, (start, end), state);
            }
        }
        let day = self.spec.start + Duration::days(i64::from(self.spec.days) / 2);
        let (from, to) = self.day_bounds(day);
        let centre_1 = self.inst[0].0.clone();
        self.silence(&centre_1, (from, to));
        self.count("honest silent box-days", 1);
    }

    pub(super) fn outage(&mut self, inst: &str, (from, to): (i64, i64), state: CameraState) {
        self.outages
            .entry(inst.into())
            .or_default()
            .push((from, to, state));
    }

    pub(super) fn silence(&mut self, inst: &str, span: (i64, i64)) {
        self.silent.entry(inst.into()).or_default().push(span);
    }

    /// What the institution's monitoring did not watch: its outages and silent spans.
    pub(super) fn unwatched(&self, inst: &str) -> Spans {
        let mut spans: Spans = self
            .outages
            .get(inst)
            .into_iter()
            .flatten()
            .map(|(s, e, _)| (*s, *e))
            .collect();
        spans.extend(self.silent.get(inst).into_iter().flatten().copied());
        spans
    }

    /// The parts of `spans` the institution's monitoring watched.
    pub(super) fn visible(&self, inst: &str, spans: &[(i64, i64)]) -> Spans {
        cut(spans, &self.unwatched(inst))
    }

    /// Cuts what outages and silent boxes hid out of every line's observations, and records how much of
    /// each slot was watched.
    pub(super) fn hide(&mut self) {
        let unwatched: std::collections::BTreeMap<String, Spans> = self
            .lines
            .iter()
            .map(|l| l.institution.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|inst| {
                let spans = self.unwatched(&inst);
                (inst, spans)
            })
            .collect();
        for line in &mut self.lines {
            let Some(holes) = unwatched.get(&line.institution) else {
                continue;
            };
            line.seen = cut(&line.seen, holes);
            line.unknown = cut(&line.unknown, holes);
            let (from, to) = line.slot;
            let length = (to - from).max(1);
            let hidden = covered(holes, from, to);
            line.monitoring = if hidden == 0 {
                Monitoring::Full
            } else if hidden >= length - MINUTE.min(length / 2) {
                Monitoring::Hidden
            } else {
                Monitoring::Partly(1.0 - hidden as f64 / length as f64)
            };
        }
        let silent_hours: i64 = self.silent.values().flatten().map(|(s, e)| e - s).sum();
        self.count("hours a box was off", (silent_hours / (60 * MINUTE)) as u64);
    }
}
