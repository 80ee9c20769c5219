//! The presence rules: billed sessions compared with observed presence, per patient, institution, ward
//! kind and local day.
//!
//! - `no_presence` (假病人): sessions billed, the patient never seen in that kind of ward that day.
//! - `short_presence`: seen, but for less than `short_ratio` × the presence the billed units imply.
//!
//! Coverage first: a day on which the institution's cameras reported an outage (a non-`ok` camera
//! state), or on which its devices showed no sign of life (no event sealed and nobody seen that day),
//! is **no evidence** — counted and reported, never flagged. (Heartbeats, with the agent-runtime issue,
//! will make "a silent box" precise to the minute.)

use super::{BilledLine, RuleParams, RulesError, RulesReport};
use crate::flags::store::NewFlag;
use crate::store::Store;
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde_json::json;
use sqlx::Row;
use std::collections::BTreeMap;

/// Billed units of one patient at one institution, in one kind of ward, on one local day.
#[derive(Debug, Default)]
struct BilledDay {
    units: f64,
    required_minutes: f64,
    amount_fen: i64,
    lines: Vec<String>,
    codes: Vec<String>,
}

type DayKey = (String, String, NaiveDate, &'static str);

/// The local calendar date of an instant.
fn local_date(ms: i64, zone: Tz) -> Option<NaiveDate> {
    Some(zone.timestamp_millis_opt(ms).single()?.date_naive())
}

/// [start, end) of a local calendar day, as UTC epoch milliseconds.
fn day_bounds(date: NaiveDate, zone: Tz) -> Option<(i64, i64)> {
    let midnight = |d: NaiveDate| {
        zone.from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
            .earliest()
            .map(|t| t.timestamp_millis())
    };
    Some((midnight(date)?, midnight(date.succ_opt()?)?))
}

/// Total length of the union of `intervals`, clipped to [from, to), in minutes.
fn covered_minutes(mut intervals: Vec<(i64, i64)>, from: i64, to: i64) -> f64 {
    intervals.retain(|(s, e)| *e > from && *s < to);
    intervals.sort_unstable();
    let mut total = 0i64;
    let mut current: Option<(i64, i64)> = None;
    for (s, e) in intervals {
        let (s, e) = (s.max(from), e.min(to));
        match current {
            Some((cs, ce)) if s <= ce => current = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                current = Some((s, e));
            }
            None => current = Some((s, e)),
        }
    }
    if let Some((cs, ce)) = current {
        total += ce - cs;
    }
    total as f64 / 60_000.0
}

/// Runs the presence rules over the billed lines.
pub async fn run(
    store: &Store,
    params: &RuleParams,
    lines: &[BilledLine<'_>],
    report: &mut RulesReport,
) -> Result<(), RulesError> {
    let mut days: BTreeMap<DayKey, BilledDay> = BTreeMap::new();
    for line in lines {
        let Some(institution) = line.institution.clone() else {
            report.unlinked_lines += 1;
            continue;
        };
        let Some(date) = local_date(line.at_ms, params.zone) else {
            continue;
        };
        let day = days
            .entry((
                line.psn_no.clone(),
                institution,
                date,
                line.item.ward_kind.as_str(),
            ))
            .or_default();
        day.units += line.cnt;
        day.required_minutes += line.cnt * f64::from(line.item.min_presence_minutes);
        day.amount_fen += line.fee_fen;
        day.lines.push(line.feedetl_sn.clone());
        if !day.codes.contains(&line.item.hilist_code) {
            day.codes.push(line.item.hilist_code.clone());
        }
    }

    for ((psn_no, institution, date, ward_kind), billed) in days {
        if billed.units <= 0.0 || billed.amount_fen <= 0 {
            continue; // refunded
        }
        report.checked += 1;
        let Some((day_start, day_end)) = day_bounds(date, params.zone) else {
            continue;
        };
        let presence: Vec<(i64, i64)> = sqlx::query(
            "SELECT start_ms, end_ms FROM presence_intervals WHERE psn_no = $1 AND institution_code = $2 \
             AND ward_kind = $3 AND end_ms > $4 AND start_ms < $5",
        )
        .bind(&psn_no)
        .bind(&institution)
        .bind(ward_kind)
        .bind(day_start)
        .bind(day_end)
        .fetch_all(store.pool())
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?;
        let minutes = covered_minutes(presence.clone(), day_start, day_end);
        let short = minutes < params.short_ratio * billed.required_minutes;
        if !short {
            continue;
        }

        let coverage = coverage(store, &institution, day_start, day_end).await?;
        if !coverage.ok() {
            report.no_evidence += 1;
            continue;
        }
        let rule = if minutes == 0.0 {
            "no_presence"
        } else {
            "short_presence"
        };
        let evidence = json!({
            "date": date.to_string(),
            "ward_kind": ward_kind,
            "billed_units": billed.units,
            "hilist_codes": billed.codes,
            "required_minutes": billed.required_minutes,
            "presence_minutes": minutes,
            "presence_intervals": presence,
            "camera_outage_minutes": coverage.outage_minutes,
            "device_events_that_day": coverage.device_events,
        });
        let raised = store
            .raise_flag(&NewFlag {
                dedup_key: format!("{rule}/{institution}/{psn_no}/{date}/{ward_kind}"),
                rule_id: rule.into(),
                rule_version: params.version,
                fixmedins_code: institution.clone(),
                psn_no: Some(psn_no.clone()),
                amount_fen: billed.amount_fen,
                evidence,
                lines: billed.lines.clone(),
            })
            .await?;
        match raised {
            Some(_) => *report.raised.entry(rule.to_owned()).or_default() += 1,
            None => report.already_raised += 1,
        }
    }
    Ok(())
}

/// What the institution's devices said about a day.
struct Coverage {
    outage_minutes: f64,
    device_events: i64,
}

impl Coverage {
    fn ok(&self) -> bool {
        self.outage_minutes == 0.0 && self.device_events > 0
    }
}

/// Camera outages (non-`ok` camera states) and device activity for an institution on a day.
async fn coverage(
    store: &Store,
    institution: &str,
    day_start: i64,
    day_end: i64,
) -> Result<Coverage, RulesError> {
    // Signs of life: events sealed that day, or anyone seen that day (a replayed or delayed box seals
    // its events later than it saw them).
    let device_events: i64 = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM events WHERE institution_code = $1 AND sent_at_ms >= $2 \
         AND sent_at_ms < $3) + (SELECT COUNT(*) FROM presence_intervals WHERE institution_code = $1 \
         AND end_ms > $2 AND start_ms < $3)",
    )
    .bind(institution)
    .bind(day_start)
    .bind(day_end)
    .fetch_one(store.pool())
    .await?
    .try_get(0)?;
    // Camera state changes, in order per device: each state lasts until the next change.
    let rows = sqlx::query(
        "SELECT device_id, body FROM events WHERE institution_code = $1 AND kind = 'camera' \
         ORDER BY device_id, seq",
    )
    .bind(institution)
    .fetch_all(store.pool())
    .await?;
    let mut changes: BTreeMap<(String, String), Vec<(i64, bool)>> = BTreeMap::new();
    for row in rows {
        let device: String = row.try_get(0)?;
        let body: String = row.try_get(1)?;
        let Ok(event) = serde_json::from_str::<wardwatch_protocol::Event>(&body) else {
            continue;
        };
        if let wardwatch_protocol::Payload::Camera(status) = event.payload {
            changes
                .entry((device, status.camera_id.to_string()))
                .or_default()
                .push((
                    status.since.millis(),
                    status.state == wardwatch_protocol::CameraState::Ok,
                ));
        }
    }
    let mut outages = Vec::new();
    for (_, mut states) in changes {
        states.sort_unstable();
        for (i, (since, ok)) in states.iter().enumerate() {
            if !ok {
                let until = states.get(i + 1).map_or(i64::MAX, |(next, _)| *next);
                outages.push((*since, until));
            }
        }
    }
    Ok(Coverage {
        outage_minutes: covered_minutes(outages, day_start, day_end),
        device_events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_of_intervals_clipped() {
        let m = 60_000;
        let got = covered_minutes(
            vec![(0, 30 * m), (10 * m, 40 * m), (50 * m, 200 * m)],
            0,
            100 * m,
        );
        assert_eq!(got, 90.0);
        assert_eq!(covered_minutes(vec![], 0, 10), 0.0);
    }

    #[test]
    fn local_days_in_china_time() {
        let zone: Tz = "Asia/Shanghai".parse().unwrap();
        // 2026-11-01T20:00Z is 2026-11-02 04:00 in Beijing.
        let ms = chrono::DateTime::parse_from_rfc3339("2026-11-01T20:00:00Z")
            .unwrap()
            .timestamp_millis();
        let date = local_date(ms, zone).unwrap();
        assert_eq!(date.to_string(), "2026-11-02");
        let (start, end) = day_bounds(date, zone).unwrap();
        assert_eq!(end - start, 86_400_000);
        assert!(start <= ms && ms < end);
    }
}
