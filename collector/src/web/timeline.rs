//! The patient's day as one server-rendered SVG, so an auditor sees in two seconds why a flag was raised
//! and whether coverage explains it. Drawn from the flag's own evidence (what the rule saw: the billed
//! slot, the patient's sightings per camera with similarity and liveness, the unknown faces in the slot)
//! and from the institution's events of that day (each camera's states; the box's silent periods, when
//! it sealed nothing for [`SILENCE_MS`]). Every bar has a `<title>` (shown on hover and read by screen
//! readers). The window is the billed slot widened by the rules' coverage margin, in whole hours.

use super::i18n::Catalogue;
use super::queue::local_time;
use crate::rules::timeline::day_bounds;
use crate::store::{Store, StoreError};
use chrono::{NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;
use serde_json::Value;
use sqlx::Row;
use std::collections::BTreeMap;
use std::fmt::Write;
use wardwatch_protocol::{CameraState, Event, LivenessVerdict, Payload};

/// A box that sealed nothing for this long was silent.
pub const SILENCE_MS: i64 = 15 * 60_000;
const HOUR_MS: i64 = 3_600_000;

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Start (UTC ms).
    pub start_ms: i64,
    /// End (UTC ms).
    pub end_ms: i64,
    /// CSS class: `billed`, `presence`, `unknown`, `cam-ok`, `cam-bad`, `silence`.
    pub class: &'static str,
    /// The hover text.
    pub title: String,
}

/// One row of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    /// The row's label.
    pub label: String,
    /// Its bars.
    pub bars: Vec<Bar>,
}

/// The chart's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Window start (UTC ms, a whole local hour).
    pub from_ms: i64,
    /// Window end.
    pub to_ms: i64,
    /// Rows, top to bottom.
    pub lanes: Vec<Lane>,
}

/// What the institution's devices said about the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayFacts {
    /// Per camera: (since, state), in order, the last one before the window included.
    pub camera_states: BTreeMap<String, Vec<(i64, CameraState)>>,
    /// Per device: the periods it sealed nothing for [`SILENCE_MS`] or more.
    pub silences: BTreeMap<String, Vec<(i64, i64)>>,
}

impl Store {
    /// Camera states and silences of `institution`'s devices over [from, to).
    pub async fn day_facts(
        &self,
        institution: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<DayFacts, StoreError> {
        let mut facts = DayFacts::default();
        let rows = sqlx::query(
            "SELECT body FROM events WHERE kind = 'camera' AND institution_code = $1 \
             AND sent_at_ms < $2 ORDER BY device_id, seq",
        )
        .bind(institution)
        .bind(to_ms)
        .fetch_all(self.pool())
        .await?;
        for row in rows {
            let body: String = row.try_get(0)?;
            if let Ok(event) = serde_json::from_str::<Event>(&body)
                && let Payload::Camera(status) = event.payload
            {
                facts
                    .camera_states
                    .entry(status.camera_id.to_string())
                    .or_default()
                    .push((status.since.millis(), status.state));
            }
        }
        for states in facts.camera_states.values_mut() {
            states.sort_by_key(|(since, _)| *since);
        }
        let devices: Vec<String> = sqlx::query_scalar(
            "SELECT device_id FROM devices WHERE institution_code = $1 ORDER BY device_id",
        )
        .bind(institution)
        .fetch_all(self.pool())
        .await?;
        let mut sealed: BTreeMap<String, Vec<i64>> =
            devices.into_iter().map(|d| (d, Vec::new())).collect();
        let rows = sqlx::query(
            "SELECT device_id, sent_at_ms FROM events WHERE institution_code = $1 \
             AND sent_at_ms >= $2 AND sent_at_ms < $3 ORDER BY sent_at_ms",
        )
        .bind(institution)
        .bind(from_ms - SILENCE_MS)
        .bind(to_ms + SILENCE_MS)
        .fetch_all(self.pool())
        .await?;
        for row in rows {
            sealed
                .entry(row.try_get(0)?)
                .or_default()
                .push(row.try_get(1)?);
        }
        for (device, times) in sealed {
            facts
                .silences
                .insert(device, silences(&times, from_ms, to_ms));
        }
        Ok(facts)
    }
}

/// The periods of [from, to) without a sealed event for [`SILENCE_MS`] or more (`sorted_times` may start
/// before `from`: the last of those is where a silence at the start of the window begins).
pub fn silences(sorted_times: &[i64], from_ms: i64, to_ms: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut prev = sorted_times
        .iter()
        .rfind(|t| **t <= from_ms)
        .copied()
        .unwrap_or(from_ms);
    let later = sorted_times.iter().copied().filter(|t| *t > from_ms);
    for t in later.chain(std::iter::once(to_ms)) {
        if t - prev >= SILENCE_MS {
            let (s, e) = (prev.max(from_ms), t.min(to_ms));
            if e > s {
                out.push((s, e));
            }
        }
        prev = prev.max(t);
    }
    out
}

fn pair(v: &Value) -> Option<(i64, i64)> {
    Some((v.get(0)?.as_i64()?, v.get(1)?.as_i64()?))
}

fn span(v: &Value) -> Option<(i64, i64)> {
    Some((v.get("start_ms")?.as_i64()?, v.get("end_ms")?.as_i64()?))
}

fn hhmm(ms: i64, zone: Tz) -> String {
    local_time(ms, zone)
        .get(11..)
        .unwrap_or_default()
        .to_owned()
}

/// The window of a flag's timeline: the billed slot ± the coverage margin, in whole local hours, within
/// the local day of the evidence's `date`; without a slot, 06:00–22:00 of that day.
pub fn window(evidence: &Value, zone: Tz) -> Option<(i64, i64)> {
    let date: NaiveDate = evidence.get("date")?.as_str()?.parse().ok()?;
    let (day_start, day_end) = day_bounds(date, zone)?;
    let Some((s, e)) = evidence.get("billed_slot").and_then(pair) else {
        return Some((day_start + 6 * HOUR_MS, day_start + 22 * HOUR_MS));
    };
    // Two hours either side of the slot: enough of the day to see what came before and after.
    let margin = 2 * HOUR_MS;
    let floor_hour = |ms: i64| {
        zone.timestamp_millis_opt(ms)
            .single()
            .and_then(|t| t.with_minute(0)?.with_second(0)?.with_nanosecond(0))
            .map_or(ms, |t| t.timestamp_millis())
    };
    let from = floor_hour((s - margin).max(day_start));
    let to = floor_hour((e + margin + HOUR_MS - 1).min(day_end)).max(from + HOUR_MS);
    Some((from.max(day_start), to.min(day_end)))
}

/// The chart from a flag's evidence and the day's facts; `None` when the evidence has no date.
pub fn build(evidence: &Value, facts: &DayFacts, words: &Catalogue, zone: Tz) -> Option<Timeline> {
    let (from_ms, to_ms) = window(evidence, zone)?;
    let range = |(s, e): (i64, i64)| format!("{}–{}", hhmm(s, zone), hhmm(e, zone));
    let mut lanes = Vec::new();
    if let Some(slot) = evidence.get("billed_slot").and_then(pair) {
        lanes.push(Lane {
            label: words.text("timeline.billed"),
            bars: vec![Bar {
                start_ms: slot.0,
                end_ms: slot.1,
                class: "billed",
                title: format!("{} {}", words.text("timeline.billed"), range(slot)),
            }],
        });
    }
    let list = |key: &str| {
        evidence
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (sightings, unknown) = (list("sightings"), list("unknown_faces"));
    let camera_of = |v: &Value| {
        v.get("camera_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut cameras: Vec<String> = sightings
        .iter()
        .chain(&unknown)
        .filter_map(camera_of)
        .chain(facts.camera_states.keys().cloned())
        .collect();
    cameras.sort();
    cameras.dedup();
    let score = |v: &Value, key: &str| v.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN);
    for camera in &cameras {
        let bars = |items: &[Value], class: &'static str, what: &str| -> Vec<Bar> {
            items
                .iter()
                .filter(|v| camera_of(v).as_deref() == Some(camera.as_str()))
                .filter_map(|v| {
                    let (s, e) = span(v)?;
                    let track = v
                        .get("track_id")
                        .and_then(Value::as_str)
                        .map(|t| format!(" {t}"))
                        .unwrap_or_default();
                    let verdict = v
                        .pointer("/track_liveness/verdict")
                        .and_then(|code| {
                            serde_json::from_value::<LivenessVerdict>(code.clone()).ok()
                        })
                        .map(|verdict| {
                            format!(
                                " · {} {}",
                                words.text("flag.track_liveness"),
                                words.text(&format!("liveness_verdict.{}", verdict.as_str()))
                            )
                        })
                        .unwrap_or_default();
                    Some(Bar {
                        start_ms: s,
                        end_ms: e,
                        class,
                        title: format!(
                            "{what}{track} {} · {} {:.2} · {} {:.2}{verdict}",
                            range((s, e)),
                            words.text("timeline.similarity"),
                            score(v, "median_similarity"),
                            words.text("timeline.liveness"),
                            score(v, "liveness"),
                        ),
                    })
                })
                .collect()
        };
        let seen = bars(&sightings, "presence", &words.text("timeline.presence"));
        let strangers = bars(&unknown, "unknown", &words.text("timeline.unknown"));
        lanes.push(Lane {
            label: format!("{camera} {}", words.text("timeline.presence")),
            bars: seen,
        });
        if !strangers.is_empty() {
            lanes.push(Lane {
                label: format!("{camera} {}", words.text("timeline.unknown")),
                bars: strangers,
            });
        }
        if let Some(states) = facts.camera_states.get(camera) {
            let mut bars = Vec::new();
            for (i, (since, state)) in states.iter().enumerate() {
                let end = states.get(i + 1).map_or(to_ms, |(next, _)| *next);
                let (s, e) = ((*since).max(from_ms), end.min(to_ms));
                if e <= s {
                    continue;
                }
                let name = words.text(&format!("camera_state.{}", state.as_str()));
                bars.push(Bar {
                    start_ms: s,
                    end_ms: e,
                    class: if *state == CameraState::Ok {
                        "cam-ok"
                    } else {
                        "cam-bad"
                    },
                    title: format!("{camera} {name} {}", range((s, e))),
                });
            }
            lanes.push(Lane {
                label: format!("{camera} {}", words.text("timeline.camera")),
                bars,
            });
        }
    }
    for (device, gaps) in &facts.silences {
        lanes.push(Lane {
            label: format!("{} {device}", words.text("timeline.silence")),
            bars: gaps
                .iter()
                .map(|&(s, e)| Bar {
                    start_ms: s,
                    end_ms: e,
                    class: "silence",
                    title: format!(
                        "{device} {} {}",
                        words.text("timeline.silence"),
                        range((s, e))
                    ),
                })
                .collect(),
        });
    }
    Some(Timeline {
        from_ms,
        to_ms,
        lanes,
    })
}

/// Escapes text for SVG/HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The chart as an inline `<svg>` element (no style attributes: the page's stylesheet colours it by
/// class, which the Content-Security-Policy allows).
pub fn svg(timeline: &Timeline, title: &str, zone: Tz) -> String {
    const WIDTH: f64 = 1000.0;
    const LABEL: f64 = 200.0;
    const RIGHT: f64 = 12.0;
    const AXIS: f64 = 22.0;
    const LANE: f64 = 18.0;
    const GAP: f64 = 8.0;
    let plot = WIDTH - LABEL - RIGHT;
    let span = (timeline.to_ms - timeline.from_ms).max(1) as f64;
    let x = |ms: i64| {
        LABEL
            + plot * ((ms.clamp(timeline.from_ms, timeline.to_ms) - timeline.from_ms) as f64 / span)
    };
    let height = AXIS + timeline.lanes.len() as f64 * (LANE + GAP) + 4.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="timeline" id="timeline" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-labelledby="timeline-title" xmlns="http://www.w3.org/2000/svg"><title id="timeline-title">{}</title>"#,
        esc(title)
    );
    let mut hour = timeline.from_ms;
    while hour <= timeline.to_ms {
        let hx = x(hour);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{hx:.1}" y1="{}" x2="{hx:.1}" y2="{:.1}"/><text class="hour" x="{hx:.1}" y="14">{}</text>"#,
            AXIS - 4.0,
            height - 2.0,
            esc(&hhmm(hour, zone))
        );
        hour += HOUR_MS;
    }
    for (i, lane) in timeline.lanes.iter().enumerate() {
        let y = AXIS + i as f64 * (LANE + GAP);
        let _ = write!(
            out,
            r#"<g class="lane"><rect class="lane-bg" x="{LABEL}" y="{y:.1}" width="{plot:.1}" height="{LANE}"/><text class="label" x="{:.1}" y="{:.1}">{}</text>"#,
            LABEL - 8.0,
            y + LANE - 5.0,
            esc(&lane.label)
        );
        for bar in &lane.bars {
            if bar.end_ms <= timeline.from_ms || bar.start_ms >= timeline.to_ms {
                continue;
            }
            let (x0, x1) = (x(bar.start_ms), x(bar.end_ms));
            let _ = write!(
                out,
                r#"<rect class="bar {}" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
                bar.class,
                y + 2.0,
                (x1 - x0).max(2.0),
                LANE - 4.0,
                esc(&bar.title)
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Lang;
    use serde_json::json;

    const ZONE: Tz = chrono_tz::Asia::Shanghai;
    const M: i64 = 60_000;

    #[test]
    fn silences_are_the_long_gaps_between_sealed_events() {
        assert_eq!(silences(&[], 0, 60 * M), vec![(0, 60 * M)]);
        assert_eq!(
            silences(&[5 * M, 10 * M, 40 * M, 52 * M], 0, 60 * M),
            vec![(10 * M, 40 * M)]
        );
        // An event just before the window counts; the window's end counts as the next event.
        assert_eq!(
            silences(&[-M, 20 * M], 0, 60 * M),
            vec![(0, 20 * M), (20 * M, 60 * M)]
        );
        assert_eq!(
            silences(&[0, 14 * M, 28 * M, 42 * M, 56 * M], 0, 60 * M),
            vec![]
        );
    }

    #[test]
    fn an_impersonation_day_draws_the_unknown_face_over_the_billed_slot() {
        // 2026-11-02 08:00–12:00 Beijing = 00:00–04:00 UTC.
        let slot = (1_793_577_600_000_i64, 1_793_577_600_000_i64 + 240 * M);
        let evidence = json!({
            "date": "2026-11-02",
            "billed_slot": [slot.0, slot.1],
            "sightings": [],
            "unknown_faces": [{"camera_id": "cam-1", "track_id": "t7", "start_ms": slot.0 + 5 * M,
                               "end_ms": slot.1 - 5 * M, "median_similarity": 0.2, "liveness": 0.9}],
        });
        let mut facts = DayFacts::default();
        facts
            .camera_states
            .insert("cam-1".into(), vec![(slot.0 - 600 * M, CameraState::Ok)]);
        facts.silences.insert("hd-1".into(), vec![]);
        let chart = build(&evidence, &facts, Lang::ZhCn.catalogue(), ZONE).expect("chart");
        assert_eq!(chart.from_ms, slot.0 - 120 * M, "06:00 Beijing");
        assert_eq!(chart.to_ms, slot.1 + 120 * M, "14:00 Beijing");
        let labels: Vec<&str> = chart.lanes.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "计费时段",
                "cam-1 本人在场",
                "cam-1 陌生人脸",
                "cam-1 摄像头",
                "设备静默 hd-1"
            ]
        );
        let unknown = &chart.lanes[2].bars[0];
        assert_eq!(unknown.class, "unknown");
        assert!(
            unknown.start_ms < slot.1 && unknown.end_ms > slot.0,
            "overlaps the slot"
        );
        assert!(unknown.title.contains("08:05–11:55"), "{}", unknown.title);
        let svg = svg(&chart, "时间轴 <day>", ZONE);
        assert!(svg.contains(r#"class="bar unknown""#));
        assert!(svg.contains("时间轴 &lt;day&gt;"), "escaped");
        assert!(!svg.contains("style="), "no inline style (CSP)");
        assert!(svg.contains(">06:00<") && svg.contains(">14:00<"));
    }
}
