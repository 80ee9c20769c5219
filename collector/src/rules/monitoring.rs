//! When each ward could not have seen anyone: the stretches of time a rule must not read as absence.
//!
//! A ward is **blind** while
//! - one of its cameras reports a state other than `ok` (covered, frozen, turned away, unplugged…): a
//!   camera outage, until the camera's next state;
//! - its ward box is **silent**: it sealed no event (heartbeat, presence, camera state…) and reported no
//!   presence for longer than the silence threshold (`unmonitored_billing.silence_minutes`; the agent's
//!   heartbeat comes every minute by default) — a box switched off, unplugged from the network for good, or
//!   never installed counts exactly as a covered lens does. A box cut off from the network that keeps
//!   sealing is not silent: its events arrive late with the times they were sealed;
//! - the institution had no ward box yet (before its first device's first event or registration).
//!
//! A camera's or box's blindness applies to the ward kinds it has reported presence in; one that never
//! reported any blinds every ward kind of its institution (it could have been watching any of them).
//!
//! The evaluators read [`Monitoring::blind`] for the billed slot itself: an outage excuses only the part
//! of the slot it covers.

use super::RulesError;
use super::observed::PresenceSpan;
use super::timeline::{covered_minutes, union};
use crate::flags::store::stored_institution;
use crate::store::Store;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use wardwatch_protocol::{CameraState, Event, InstitutionCode, Payload};

/// Why a ward was blind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlindCause {
    /// A camera was not `ok`.
    CameraOutage,
    /// The ward box sealed nothing for longer than the silence threshold.
    BoxSilent,
}

/// A stretch of time a ward (or every ward) of an institution could not have seen anyone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Downtime {
    /// Why.
    pub cause: BlindCause,
    /// The ward box.
    pub device_id: String,
    /// The camera, for a camera outage.
    pub camera_id: Option<String>,
    /// The camera's state (`offline`, `obstructed`, …), for a camera outage.
    pub state: Option<String>,
    /// The ward kinds it blinds; empty: every ward kind of the institution.
    pub ward_kinds: Vec<String>,
    /// Start (UTC ms).
    pub start_ms: i64,
    /// End (UTC ms, exclusive).
    pub end_ms: i64,
}

impl Downtime {
    fn blinds(&self, ward_kind: &str) -> bool {
        self.ward_kinds.is_empty() || self.ward_kinds.iter().any(|k| k == ward_kind)
    }
}

/// What the rules know about each institution's monitoring around a run.
#[derive(Debug, Default, Clone)]
pub struct Monitoring {
    /// Camera outages and silent boxes, by institution.
    pub downtime: HashMap<InstitutionCode, Vec<Downtime>>,
    /// Since when each institution has had a ward box (UTC ms); an institution not listed never had one.
    pub equipped_since: HashMap<InstitutionCode, i64>,
}

impl Monitoring {
    /// When the `ward_kind` wards of `institution` were blind within [from, to): merged, clipped.
    pub fn blind(
        &self,
        institution: &InstitutionCode,
        ward_kind: &str,
        from: i64,
        to: i64,
    ) -> Vec<(i64, i64)> {
        let mut spans: Vec<(i64, i64)> = self
            .downtime
            .get(institution)
            .into_iter()
            .flatten()
            .filter(|d| d.blinds(ward_kind) && d.end_ms > from && d.start_ms < to)
            .map(|d| (d.start_ms.max(from), d.end_ms.min(to)))
            .collect();
        match self.equipped_since.get(institution) {
            Some(&since) if since > from => spans.push((from, since.min(to))),
            Some(_) => {}
            None => spans.push((from, to)),
        }
        union(spans)
    }

    /// Minutes of [from, to) the `ward_kind` wards of `institution` were blind.
    pub fn blind_minutes(
        &self,
        institution: &InstitutionCode,
        ward_kind: &str,
        from: i64,
        to: i64,
    ) -> f64 {
        covered_minutes(&self.blind(institution, ward_kind, from, to), from, to)
    }

    /// The downtime records overlapping [from, to) that blind `ward_kind`, clipped, for evidence; plus a
    /// record for a stretch before the institution had any ward box.
    pub fn downtime_within(
        &self,
        institution: &InstitutionCode,
        ward_kind: &str,
        from: i64,
        to: i64,
    ) -> Vec<Downtime> {
        let mut out: Vec<Downtime> = self
            .downtime
            .get(institution)
            .into_iter()
            .flatten()
            .filter(|d| d.blinds(ward_kind) && d.end_ms > from && d.start_ms < to)
            .map(|d| Downtime {
                start_ms: d.start_ms.max(from),
                end_ms: d.end_ms.min(to),
                ..d.clone()
            })
            .collect();
        let unequipped_until = match self.equipped_since.get(institution) {
            Some(&since) if since > from => Some(since.min(to)),
            Some(_) => None,
            None => Some(to),
        };
        if let Some(end_ms) = unequipped_until {
            out.push(Downtime {
                cause: BlindCause::BoxSilent,
                device_id: String::new(),
                camera_id: None,
                state: Some("no_ward_box".into()),
                ward_kinds: Vec::new(),
                start_ms: from,
                end_ms,
            });
        }
        out
    }

    /// Loads monitoring for [from, to): every registered device's (or, with `institution`, that
    /// institution's devices') silences longer than `silence_ms` and its cameras' outages.
    /// `sightings` are the same devices' presence intervals overlapping [from, to) (read once, by
    /// [`super::observed::Observations::load`]): signs of life, and which ward kinds each camera watches.
    pub async fn load(
        store: &Store,
        from: i64,
        to: i64,
        silence_ms: i64,
        institution: Option<&InstitutionCode>,
        sightings: &[&PresenceSpan],
    ) -> Result<Monitoring, RulesError> {
        let kinds = ward_kinds(sightings);
        let mut monitoring = Monitoring::default();
        let devices = with_institution(
            format!(
                "SELECT d.device_id, d.institution_code, d.registered_at_ms, \
                 (SELECT e.sent_at_ms FROM events e WHERE e.device_id = d.device_id ORDER BY e.seq LIMIT 1) \
                 FROM devices d{}",
                only(institution, 1, " WHERE d.institution_code")
            ),
            &[],
            institution,
        )
        .fetch_all(store.pool())
        .await?;
        let mut starts: HashMap<String, (InstitutionCode, i64)> = HashMap::new();
        for row in devices {
            let device: String = row.try_get(0)?;
            let institution = stored_institution(row.try_get(1)?)?;
            let registered: i64 = row.try_get(2)?;
            let first_event: Option<i64> = row.try_get(3)?;
            let start = first_event.map_or(registered, |f| f.min(registered));
            starts.insert(device, (institution, start));
        }
        let (silences, starts) = silences(
            store,
            starts,
            (from, to),
            silence_ms,
            institution,
            sightings,
        )
        .await?;
        for (institution, start) in starts.values() {
            let since = monitoring
                .equipped_since
                .entry(institution.clone())
                .or_insert(*start);
            *since = (*since).min(*start);
        }
        let device_kinds = |device: &str| -> Vec<String> {
            kinds
                .get(device)
                .map(|cameras| cameras.values().flatten().cloned().collect::<BTreeSet<_>>())
                .unwrap_or_default()
                .into_iter()
                .collect()
        };
        for (device, silences) in silences {
            let Some((institution, _)) = starts.get(&device) else {
                continue;
            };
            let ward_kinds = device_kinds(&device);
            monitoring
                .downtime
                .entry(institution.clone())
                .or_default()
                .extend(silences.into_iter().map(|(start_ms, end_ms)| Downtime {
                    cause: BlindCause::BoxSilent,
                    device_id: device.clone(),
                    camera_id: None,
                    state: None,
                    ward_kinds: ward_kinds.clone(),
                    start_ms,
                    end_ms,
                }));
        }
        for (institution, outage) in camera_outages(store, to, &kinds, institution).await? {
            monitoring
                .downtime
                .entry(institution)
                .or_default()
                .push(outage);
        }
        for list in monitoring.downtime.values_mut() {
            list.sort_by_key(|d| (d.start_ms, d.end_ms));
        }
        Ok(monitoring)
    }
}

/// `{column} = $n` when a run is scoped to one institution, else nothing.
fn only(institution: Option<&InstitutionCode>, n: usize, column: &str) -> String {
    match institution {
        Some(_) => format!("{column} = ${n}"),
        None => String::new(),
    }
}

/// `sql` with the `bound` values, then the institution if any.
fn with_institution<'q>(
    sql: String,
    bound: &[i64],
    institution: Option<&InstitutionCode>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in bound {
        query = query.bind(*value);
    }
    if let Some(code) = institution {
        query = query.bind(code.as_str().to_owned());
    }
    query
}

/// The ward kinds each device's cameras reported presence in: device → camera → kinds.
fn ward_kinds(sightings: &[&PresenceSpan]) -> HashMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut kinds: HashMap<String, BTreeMap<String, BTreeSet<String>>> = HashMap::new();
    for sighting in sightings {
        kinds
            .entry(sighting.device_id.clone())
            .or_default()
            .entry(sighting.camera_id.clone())
            .or_default()
            .insert(sighting.ward_kind.clone());
    }
    kinds
}

/// Each device's silences within [from, to): stretches longer than `silence_ms` in which it sealed no
/// event and reported no presence, counted from when the device existed. `starts` (device →
/// institution, registration or first seal) comes back with each start moved back to the device's
/// earliest presence in the window (a presence interval is reported when it closes, after it began).
async fn silences(
    store: &Store,
    mut starts: HashMap<String, (InstitutionCode, i64)>,
    (from, to): (i64, i64),
    silence_ms: i64,
    institution: Option<&InstitutionCode>,
    sightings: &[&PresenceSpan],
) -> Result<Silences, RulesError> {
    // Signs of life: each event's seal time and each presence interval's span.
    let mut alive: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    // One pass over the window's events, in each device's order of sealing: the events that follow
    // a silence (or start the device's window) and each device's last event.
    let rows = with_institution(
        format!(
            "SELECT device_id, prev_ms, sent_at_ms, next_ms FROM (SELECT device_id, sent_at_ms, \
             LAG(sent_at_ms) OVER w AS prev_ms, LEAD(sent_at_ms) OVER w AS next_ms \
             FROM events WHERE sent_at_ms >= $1 AND sent_at_ms < $2{} \
             WINDOW w AS (PARTITION BY device_id ORDER BY sent_at_ms)) t \
             WHERE prev_ms IS NULL OR sent_at_ms - prev_ms > $3 OR next_ms IS NULL \
             ORDER BY device_id, sent_at_ms",
            only(institution, 4, " AND institution_code")
        ),
        &[from, to, silence_ms],
        institution,
    )
    .fetch_all(store.pool())
    .await?;
    // Without the quiet stretches' ends we only know where events stop and start again: the events
    // between two listed gaps are joined into one stretch of life below.
    let mut starts_of_life: HashMap<String, Vec<i64>> = HashMap::new();
    for row in rows {
        let device: String = row.try_get(0)?;
        let prev: Option<i64> = row.try_get(1)?;
        let at: i64 = row.try_get(2)?;
        let next: Option<i64> = row.try_get(3)?;
        let list = starts_of_life.entry(device.clone()).or_default();
        if prev.is_none_or(|prev| at - prev > silence_ms) {
            if let Some(prev) = prev {
                // The stretch of life that began at the last listed start ends at `prev`.
                alive
                    .entry(device.clone())
                    .or_default()
                    .push((list.last().copied().unwrap_or(prev), prev + 1));
            }
            list.push(at);
        }
        if next.is_none() {
            // The device's last event: its last stretch of life ends here.
            let begun = list.last().copied().unwrap_or(at);
            alive.entry(device).or_default().push((begun, at + 1));
        }
    }
    for sighting in sightings {
        let span = (sighting.start_ms, sighting.end_ms);
        if let Some((_, start)) = starts.get_mut(&sighting.device_id) {
            *start = (*start).min(span.0);
        }
        alive
            .entry(sighting.device_id.clone())
            .or_default()
            .push(span);
    }
    let mut out = HashMap::new();
    for (device, (_, start)) in &starts {
        let from = from.max(*start);
        if from >= to {
            continue;
        }
        let life = union(alive.remove(device).unwrap_or_default());
        out.insert(device.clone(), quiet_stretches(&life, from, to, silence_ms));
    }
    Ok((out, starts))
}

/// Each device's quiet stretches, and each device's institution and start.
type Silences = (
    HashMap<String, Vec<(i64, i64)>>,
    HashMap<String, (InstitutionCode, i64)>,
);

/// The stretches of [from, to) longer than `silence_ms` that no span of `life` (sorted, disjoint) covers.
pub fn quiet_stretches(
    life: &[(i64, i64)],
    from: i64,
    to: i64,
    silence_ms: i64,
) -> Vec<(i64, i64)> {
    let mut quiet = Vec::new();
    let mut cursor = from;
    for &(s, e) in life {
        if e <= cursor {
            continue;
        }
        if s >= to {
            break;
        }
        if s - cursor > silence_ms {
            quiet.push((cursor, s));
        }
        cursor = cursor.max(e);
    }
    if to - cursor > silence_ms {
        quiet.push((cursor, to));
    }
    quiet
}

/// Non-`ok` camera states, each lasting until the camera's next state, per institution. Events sealed
/// up to `until` count; an outage still open then lasts until `until`.
async fn camera_outages(
    store: &Store,
    until: i64,
    kinds: &HashMap<String, BTreeMap<String, BTreeSet<String>>>,
    institution: Option<&InstitutionCode>,
) -> Result<Vec<(InstitutionCode, Downtime)>, RulesError> {
    let rows = with_institution(
        format!(
            "SELECT institution_code, device_id, body FROM events WHERE kind = 'camera' AND sent_at_ms < $1{} \
             ORDER BY device_id, seq",
            only(institution, 2, " AND institution_code")
        ),
        &[until],
        institution,
    )
    .fetch_all(store.pool())
    .await?;
    type CameraKey = (InstitutionCode, String, String);
    let mut changes: BTreeMap<CameraKey, Vec<(i64, CameraState)>> = BTreeMap::new();
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
                .push((status.since.millis(), status.state));
        }
    }
    let mut outages = Vec::new();
    for ((institution, device, camera), mut states) in changes {
        states.sort_by_key(|(since, _)| *since);
        let ward_kinds: Vec<String> = kinds
            .get(&device)
            .and_then(|cameras| cameras.get(&camera))
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default();
        for (i, (since, state)) in states.iter().enumerate() {
            if *state == CameraState::Ok {
                continue;
            }
            let end = states.get(i + 1).map_or(until, |(next, _)| *next);
            if end <= *since {
                continue;
            }
            outages.push((
                institution.clone(),
                Downtime {
                    cause: BlindCause::CameraOutage,
                    device_id: device.clone(),
                    camera_id: Some(camera.clone()),
                    state: serde_json::to_value(state)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned)),
                    ward_kinds: ward_kinds.clone(),
                    start_ms: *since,
                    end_ms: end,
                },
            ));
        }
    }
    Ok(outages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fixtures::{H1, at, code};

    const M: i64 = 60_000;

    #[test]
    fn quiet_stretches_are_the_gaps_longer_than_the_threshold() {
        let life = [(10 * M, 20 * M), (25 * M, 30 * M), (60 * M, 70 * M)];
        assert_eq!(
            quiet_stretches(&life, 0, 100 * M, 15 * M),
            vec![(30 * M, 60 * M), (70 * M, 100 * M)]
        );
        assert_eq!(quiet_stretches(&[], 0, 10 * M, 15 * M), vec![]);
        assert_eq!(quiet_stretches(&[], 0, 20 * M, 15 * M), vec![(0, 20 * M)]);
    }

    fn outage(kinds: &[&str], from: i64, to: i64) -> Downtime {
        Downtime {
            cause: BlindCause::CameraOutage,
            device_id: "box-1".into(),
            camera_id: Some("cam-1".into()),
            state: Some("obstructed".into()),
            ward_kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            start_ms: from,
            end_ms: to,
        }
    }

    #[test]
    fn a_camera_blinds_only_its_own_ward_kind_and_an_unknown_one_blinds_all() {
        let mut monitoring = Monitoring::default();
        monitoring.equipped_since.insert(code(H1), at(1, 0, 0));
        monitoring.downtime.insert(
            code(H1),
            vec![
                outage(&["rehabilitation"], at(3, 9, 0), at(3, 10, 0)),
                outage(&[], at(3, 14, 0), at(3, 14, 30)),
            ],
        );
        let (from, to) = (at(3, 0, 0), at(4, 0, 0));
        assert_eq!(
            monitoring.blind_minutes(&code(H1), "rehabilitation", from, to),
            90.0
        );
        assert_eq!(
            monitoring.blind_minutes(&code(H1), "haemodialysis", from, to),
            30.0
        );
    }

    #[test]
    fn an_institution_without_a_ward_box_is_blind_throughout() {
        let mut monitoring = Monitoring::default();
        let (from, to) = (at(3, 8, 0), at(3, 12, 0));
        assert_eq!(
            monitoring.blind_minutes(&code(H1), "haemodialysis", from, to),
            240.0
        );
        monitoring.equipped_since.insert(code(H1), at(3, 10, 0));
        assert_eq!(
            monitoring.blind_minutes(&code(H1), "haemodialysis", from, to),
            120.0
        );
    }
}
