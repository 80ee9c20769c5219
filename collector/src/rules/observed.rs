//! What the ward boxes observed around a rules run, loaded once: presence intervals (enrolled patients
//! and unknown faces) and when each ward was blind ([`Monitoring`]). The rules read this instead of
//! querying per billed line.

use super::RulesError;
use super::inputs::{Scope, placeholders};
use super::monitoring::Monitoring;
use crate::flags::store::{stored_institution, stored_psn_no};
use crate::store::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;
use wardwatch_protocol::{
    FaceEmbedding, InstitutionCode, LivenessVerdict, PsnNo, SeatId, TrackLiveness,
};

/// One stored presence interval as the rules see it: who was seen by which camera from when to when
/// (a span of time, unlike the agent's instantaneous `Sighting` of a face in one frame).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PresenceSpan {
    /// The institution of the device that saw it.
    pub institution: InstitutionCode,
    /// The ward box that reported it (for monitoring: a report is a sign of the box's life). Not in
    /// flag evidence, which names the camera.
    #[serde(skip)]
    pub device_id: String,
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
    /// An unknown track's face (the average embedding the box sends with it), to tell two unknown
    /// people apart. Never serialised: embeddings are biometric data and stay out of flag evidence.
    #[serde(skip)]
    pub embedding: Option<FaceEmbedding>,
    /// The agent's liveness over the whole track (landmark motion, blinks, verdict), when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track_liveness: Option<TrackLiveness>,
    /// The camera's seat zone (chair, bed) that held the face for most of the interval, when the box
    /// has zones drawn and one held a majority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seat: Option<SeatId>,
}

/// A stored unknown face's embedding (base64 of little-endian f32), typed.
fn stored_embedding(text: &str) -> Result<FaceEmbedding, StoreError> {
    FaceEmbedding::from_base64(text).map_err(|e| StoreError::Corrupt {
        what: "presence_intervals.embedding",
        why: e.to_string(),
    })
}

/// A stored seat id (validated at ingest) parsed back.
fn stored_seat(text: Option<String>) -> Result<Option<SeatId>, StoreError> {
    text.map(|t| {
        t.parse()
            .map_err(|e: wardwatch_protocol::IdError| StoreError::Corrupt {
                what: "presence_intervals.seat",
                why: e.to_string(),
            })
    })
    .transpose()
}

/// A stored `track_liveness` (JSON written at ingest) parsed back.
fn stored_track_liveness(json: Option<String>) -> Result<Option<TrackLiveness>, StoreError> {
    json.map(|text| {
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            what: "track_liveness",
            why: e.to_string(),
        })
    })
    .transpose()
}

impl PresenceSpan {
    /// [start, end).
    pub fn span(&self) -> (i64, i64) {
        (self.start_ms, self.end_ms)
    }

    /// Cosine similarity of two spans' faces, when both carry an embedding of the same size.
    pub fn face_similarity(&self, other: &PresenceSpan) -> Option<f64> {
        let (a, b) = (self.embedding.as_ref()?, other.embedding.as_ref()?);
        (a.dims() == b.dims()).then(|| {
            a.values()
                .iter()
                .zip(b.values())
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum()
        })
    }

    /// Whether the agent scored this track `not_live` over a stay of at least `min_minutes` (0: never):
    /// its landmarks only ever moved as one flat picture and its eyes never blinked.
    pub fn rigid_for(&self, min_minutes: u32) -> bool {
        min_minutes > 0
            && self
                .track_liveness
                .as_ref()
                .is_some_and(|t| t.verdict == LivenessVerdict::NotLive)
            && self.end_ms - self.start_ms >= i64::from(min_minutes) * 60_000
    }
}

/// Everything observed in the run's window (padded by a day on each side).
#[derive(Debug, Default)]
pub struct Observations {
    /// Enrolled patients' presence, by `psn_no`.
    pub by_person: HashMap<PsnNo, Vec<PresenceSpan>>,
    /// Unknown faces, by (institution, ward kind).
    pub unknown: HashMap<(InstitutionCode, String), Vec<PresenceSpan>>,
    /// When each institution's wards were blind (camera outages, silent boxes, no box yet).
    pub monitoring: Monitoring,
}

impl Observations {
    /// Loads observations for [from_ms, to_ms), padded by a day each side, of `scope`: everything, an
    /// institution's (with its monitoring), or some patients' presence (no unknown faces, no
    /// monitoring: the caller has it); a box that sealed nothing for longer than `silence_ms` was
    /// silent.
    pub async fn load(
        store: &Store,
        from_ms: i64,
        to_ms: i64,
        silence_ms: i64,
        scope: Scope<'_>,
    ) -> Result<Observations, RulesError> {
        let (from, to) = (from_ms - 86_400_000, to_ms + 86_400_000);
        let mut observed = Observations::default();
        let columns = "institution_code, camera_id, ward_kind, psn_no, track_id, start_ms, end_ms, \
                       median_similarity, liveness, CASE WHEN psn_no IS NULL THEN embedding END, \
                       track_liveness, seat, device_id \
                       FROM presence_intervals WHERE end_ms > $1 AND start_ms < $2";
        let (sql, values): (String, Vec<String>) = match scope {
            Scope::All => (format!("SELECT {columns}"), Vec::new()),
            Scope::Institution(code) => (
                format!("SELECT {columns} AND institution_code = $3"),
                vec![code.as_str().to_owned()],
            ),
            Scope::Patients(people) => (
                format!(
                    "SELECT {columns} AND psn_no IN ({})",
                    placeholders(3, people.len())
                ),
                people.iter().map(|p| p.as_str().to_owned()).collect(),
            ),
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to);
        for value in values {
            query = query.bind(value);
        }
        let rows = query.fetch_all(store.pool()).await?;
        for row in rows {
            let psn_no: Option<String> = row.try_get(3)?;
            let psn_no = psn_no.map(stored_psn_no).transpose()?;
            let embedding: Option<String> = row.try_get(9)?;
            let embedding = embedding.map(|e| stored_embedding(&e)).transpose()?;
            let sighting = PresenceSpan {
                institution: stored_institution(row.try_get(0)?)?,
                device_id: row.try_get(12)?,
                camera_id: row.try_get(1)?,
                ward_kind: row.try_get(2)?,
                track_id: row.try_get(4)?,
                start_ms: row.try_get(5)?,
                end_ms: row.try_get(6)?,
                median_similarity: row.try_get(7)?,
                liveness: row.try_get(8)?,
                embedding,
                track_liveness: stored_track_liveness(row.try_get(10)?)?,
                seat: stored_seat(row.try_get(11)?)?,
            };
            match psn_no {
                Some(psn) => observed.by_person.entry(psn).or_default().push(sighting),
                None => observed
                    .unknown
                    .entry((sighting.institution.clone(), sighting.ward_kind.clone()))
                    .or_default()
                    .push(sighting),
            }
        }
        // Monitoring reads the same intervals as signs of the boxes' life.
        let spans: Vec<&PresenceSpan> = observed
            .by_person
            .values()
            .chain(observed.unknown.values())
            .flatten()
            .collect();
        let monitoring = match scope {
            Scope::All => Monitoring::load(store, from, to, silence_ms, None, &spans).await?,
            Scope::Institution(code) => {
                Monitoring::load(store, from, to, silence_ms, Some(code), &spans).await?
            }
            Scope::Patients(_) => Monitoring::default(),
        };
        observed.monitoring = monitoring;
        Ok(observed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreLocation;
    use crate::store::devices::{Device, DevicePurpose};
    use crate::store::ingest::{ChainCache, Incoming};
    use wardwatch_protocol::{
        Digest, EventDraft, Liveness, Payload, Person, Presence, PublicKey, Share, SigningKey,
        Similarity, Timestamp, WardKind,
    };

    fn summary(verdict: LivenessVerdict) -> TrackLiveness {
        TrackLiveness {
            samples: 900,
            pairs: 899,
            model_median: Liveness::try_from(0.8).expect("score"),
            nonrigid_motion: Share::try_from(if verdict == LivenessVerdict::Live {
                0.3
            } else {
                0.0
            })
            .expect("share"),
            residual_p90: Share::try_from(0.01).expect("share"),
            blinks: 0,
            verdict,
        }
    }

    #[tokio::test]
    async fn the_latest_reports_track_liveness_and_seat_are_stored_and_read_back_for_the_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&StoreLocation::DataDir(dir.path().to_path_buf()))
            .await
            .expect("store");
        let key = SigningKey::from_bytes(&[12; 32]);
        let device: wardwatch_protocol::DeviceId = "box-l".parse().expect("device");
        let institution: InstitutionCode = "H43060200175".parse().expect("institution");
        store
            .add_device(&Device {
                device_id: device.clone(),
                institution_code: institution.clone(),
                public_key: PublicKey::of(&key),
                purpose: DevicePurpose::Production,
            })
            .await
            .expect("register");
        let start: Timestamp = "2026-11-02T00:00:00.000Z".parse().expect("time");
        let report = |seq: u64, interval: u128, open: bool, track: Option<TrackLiveness>| {
            Payload::Presence(Presence {
                interval_id: uuid::Uuid::from_u128(interval),
                camera_id: "cam-1".parse().expect("camera"),
                ward_kind: WardKind::Haemodialysis,
                person: Person::PsnNo(
                    format!("4306000000000000000{interval}")
                        .parse()
                        .expect("psn"),
                ),
                start,
                end: start.plus_millis(i64::try_from(seq).expect("seq") * 3_600_000),
                open,
                samples: 100,
                best_similarity: Similarity::try_from(0.8).expect("score"),
                median_similarity: Similarity::try_from(0.7).expect("score"),
                liveness: Liveness::try_from(0.8).expect("score"),
                embedding: None,
                track_liveness: track,
                seat: (interval == 1).then(|| "chair-3".parse().expect("seat")),
            })
        };
        // Interval 1: a checkpoint scored not live, then a final report scored live (it supersedes);
        // interval 2: an older agent's report without the field.
        let payloads = [
            report(1, 1, true, Some(summary(LivenessVerdict::NotLive))),
            report(2, 1, false, Some(summary(LivenessVerdict::Live))),
            report(3, 2, false, None),
        ];
        let mut prev = Digest::GENESIS;
        let mut items = Vec::new();
        for (i, payload) in payloads.into_iter().enumerate() {
            let seq = i as u64 + 1;
            let mut draft =
                EventDraft::new(device.clone(), institution.clone(), seq, prev, payload);
            draft.sent_at = start.plus_millis(i64::try_from(seq).expect("seq") * 3_600_000 + 1_000);
            let event = draft.seal(&key);
            prev = event.hash;
            items.push(Incoming::Event {
                raw: event.to_wire(),
                event: Box::new(event),
            });
        }
        store
            .ingest_batch(&items, &ChainCache::new())
            .await
            .expect("ingest");
        let observed = Observations::load(
            &store,
            start.millis(),
            start.millis() + 86_400_000,
            15 * 60_000,
            crate::rules::inputs::Scope::All,
        )
        .await
        .expect("load");
        let verdict_of = |psn: &str| {
            observed.by_person[&psn.parse::<PsnNo>().expect("psn")][0]
                .track_liveness
                .as_ref()
                .map(|t| t.verdict)
        };
        assert_eq!(
            verdict_of("43060000000000000001"),
            Some(LivenessVerdict::Live)
        );
        assert_eq!(verdict_of("43060000000000000002"), None);
        // The seat of the latest report is stored and read back; an older agent's report has none.
        let seat_of = |psn: &str| {
            observed.by_person[&psn.parse::<PsnNo>().expect("psn")][0]
                .seat
                .as_ref()
                .map(|s| s.as_str().to_owned())
        };
        assert_eq!(seat_of("43060000000000000001").as_deref(), Some("chair-3"));
        assert_eq!(seat_of("43060000000000000002"), None);
    }
}
