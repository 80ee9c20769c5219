//! What the ward boxes observed around a rules run, loaded once: presence intervals (enrolled patients
//! and unknown faces), camera outages per institution, and which institution-days their devices were
//! alive. The rules read this instead of querying per patient-day.

use super::RulesError;
use super::timeline::{covered_minutes, local_date, union};
use crate::flags::store::{stored_institution, stored_psn_no};
use crate::store::Store;
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap, HashSet};
use wardwatch_protocol::{CameraState, Event, InstitutionCode, Payload, PsnNo};

/// One stored presence interval as the rules see it: who was seen by which camera from when to when
/// (a span of time, unlike the agent's instantaneous `Sighting` of a face in one frame).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PresenceSpan {
    /// The institution of the device that saw it.
    pub institution: InstitutionCode,
    /// The camera.
    pub camera_id: String,
    /// The ward kind of the camera.
    pub ward_kind: String,
    /// The unknown face's track (for unknown faces).
    pub track_id: Option<String>,
    /// First sighting (UTC ms).
    pub start_ms: i64,
    /// Last sighting (UTC ms).
    pub end_ms: i64,
    /// Median similarity to the gallery match.
    pub median_similarity: f64,
    /// Median liveness.
    pub liveness: f64,
}

impl PresenceSpan {
    /// [start, end).
    pub fn span(&self) -> (i64, i64) {
        (self.start_ms, self.end_ms)
    }
}

/// Everything observed in the run's window (padded by a day on each side).
#[derive(Debug, Default)]
pub struct Observations {
    /// Enrolled patients' presence, by `psn_no`.
    pub by_person: HashMap<PsnNo, Vec<PresenceSpan>>,
    /// Unknown faces, by (institution, ward kind).
    pub unknown: HashMap<(InstitutionCode, String), Vec<PresenceSpan>>,
    /// Camera outages (any camera of the institution not `ok`), merged, by institution.
    pub outages: HashMap<InstitutionCode, Vec<(i64, i64)>>,
    /// Institution-days on which a device sealed an event or saw someone.
    pub alive_days: HashSet<(InstitutionCode, NaiveDate)>,
}

/// What the devices of an institution say about a stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Coverage {
    /// Minutes under a camera outage.
    pub outage_minutes: f64,
    /// Whether a device showed signs of life that day.
    pub device_alive: bool,
}

impl Observations {
    /// Loads observations for [from_ms, to_ms), padded by a day each side.
    pub async fn load(
        store: &Store,
        zone: Tz,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Observations, RulesError> {
        let (from, to) = (from_ms - 86_400_000, to_ms + 86_400_000);
        let mut observed = Observations::default();
        let rows = sqlx::query(
            "SELECT institution_code, camera_id, ward_kind, psn_no, track_id, start_ms, end_ms, \
             median_similarity, liveness FROM presence_intervals WHERE end_ms > $1 AND start_ms < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(store.pool())
        .await?;
        for row in rows {
            let psn_no: Option<String> = row.try_get(3)?;
            let psn_no = psn_no.map(stored_psn_no).transpose()?;
            let sighting = PresenceSpan {
                institution: stored_institution(row.try_get(0)?)?,
                camera_id: row.try_get(1)?,
                ward_kind: row.try_get(2)?,
                track_id: row.try_get(4)?,
                start_ms: row.try_get(5)?,
                end_ms: row.try_get(6)?,
                median_similarity: row.try_get(7)?,
                liveness: row.try_get(8)?,
            };
            if let (Some(first), Some(last)) = (
                local_date(sighting.start_ms, zone),
                local_date(sighting.end_ms, zone),
            ) {
                for date in first.iter_days().take_while(|d| *d <= last) {
                    observed
                        .alive_days
                        .insert((sighting.institution.clone(), date));
                }
            }
            match psn_no {
                Some(psn) => observed.by_person.entry(psn).or_default().push(sighting),
                None => observed
                    .unknown
                    .entry((sighting.institution.clone(), sighting.ward_kind.clone()))
                    .or_default()
                    .push(sighting),
            }
        }
        // Signs of life: events sealed, counted per quarter hour (zones are whole quarter hours).
        let rows = sqlx::query(
            "SELECT institution_code, sent_at_ms / 900000 FROM events WHERE sent_at_ms >= $1 AND sent_at_ms < $2 \
             GROUP BY institution_code, sent_at_ms / 900000",
        )
        .bind(from)
        .bind(to)
        .fetch_all(store.pool())
        .await?;
        for row in rows {
            let institution = stored_institution(row.try_get(0)?)?;
            let quarter: i64 = row.try_get(1)?;
            if let Some(date) = local_date(quarter * 900_000, zone) {
                observed.alive_days.insert((institution, date));
            }
        }
        observed.outages = camera_outages(store, to).await?;
        Ok(observed)
    }

    /// Coverage of an institution over [from, to) within local day `date`.
    pub fn coverage(
        &self,
        institution: &InstitutionCode,
        date: NaiveDate,
        from: i64,
        to: i64,
    ) -> Coverage {
        Coverage {
            outage_minutes: self
                .outages
                .get(institution)
                .map_or(0.0, |o| covered_minutes(o, from, to)),
            device_alive: self.alive_days.contains(&(institution.clone(), date)),
        }
    }

    /// The patient's sightings at an institution in a ward kind overlapping [from, to), for evidence
    /// (camera, times, similarity, liveness).
    pub fn sightings(
        &self,
        psn_no: &PsnNo,
        institution: &InstitutionCode,
        ward_kind: &str,
        from: i64,
        to: i64,
    ) -> Vec<&PresenceSpan> {
        self.by_person
            .get(psn_no)
            .into_iter()
            .flatten()
            .filter(|s| s.institution == *institution && s.ward_kind == ward_kind)
            .filter(|s| s.end_ms > from && s.start_ms < to)
            .collect()
    }

    /// The institution's camera outages overlapping [from, to), clipped to it, for evidence.
    pub fn outages_within(
        &self,
        institution: &InstitutionCode,
        from: i64,
        to: i64,
    ) -> Vec<(i64, i64)> {
        self.outages
            .get(institution)
            .into_iter()
            .flatten()
            .filter(|(s, e)| *e > from && *s < to)
            .map(|(s, e)| (*s.max(&from), *e.min(&to)))
            .collect()
    }

    /// The patient's presence at an institution in a ward kind, clipped to [from, to).
    pub fn presence(
        &self,
        psn_no: &PsnNo,
        institution: &InstitutionCode,
        ward_kind: &str,
        from: i64,
        to: i64,
    ) -> Vec<(i64, i64)> {
        self.sightings(psn_no, institution, ward_kind, from, to)
            .into_iter()
            .map(|s| (s.start_ms.max(from), s.end_ms.min(to)))
            .collect()
    }
}

/// Non-`ok` camera states, each lasting until the camera's next state, merged per institution. Events
/// sealed up to `until` count; an outage still open then lasts until `until`.
async fn camera_outages(
    store: &Store,
    until: i64,
) -> Result<HashMap<InstitutionCode, Vec<(i64, i64)>>, RulesError> {
    let rows = sqlx::query(
        "SELECT institution_code, device_id, body FROM events WHERE kind = 'camera' AND sent_at_ms < $1 \
         ORDER BY device_id, seq",
    )
    .bind(until)
    .fetch_all(store.pool())
    .await?;
    let mut changes: BTreeMap<(InstitutionCode, String, String), Vec<(i64, bool)>> =
        BTreeMap::new();
    for row in rows {
        let institution = stored_institution(row.try_get(0)?)?;
        let device: String = row.try_get(1)?;
        let body: String = row.try_get(2)?;
        // Stored bodies were verified at ingest; one that no longer parses is skipped, not fatal.
        let Ok(event) = serde_json::from_str::<Event>(&body) else {
            tracing::warn!(%device, "stored camera event does not parse; skipped by the rules");
            continue;
        };
        if let Payload::Camera(status) = event.payload {
            changes
                .entry((institution, device, status.camera_id.to_string()))
                .or_default()
                .push((status.since.millis(), status.state == CameraState::Ok));
        }
    }
    let mut outages: HashMap<InstitutionCode, Vec<(i64, i64)>> = HashMap::new();
    for ((institution, _, _), mut states) in changes {
        states.sort_unstable();
        for (i, (since, ok)) in states.iter().enumerate() {
            if !ok {
                let end = states.get(i + 1).map_or(until, |(next, _)| *next);
                outages
                    .entry(institution.clone())
                    .or_default()
                    .push((*since, end));
            }
        }
    }
    Ok(outages.into_iter().map(|(k, v)| (k, union(v))).collect())
}
