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
use wardwatch_protocol::{FaceEmbedding, InstitutionCode, PsnNo};

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
    /// An unknown track's face (the average embedding the box sends with it), to tell two unknown
    /// people apart. Never serialised: embeddings are biometric data and stay out of flag evidence.
    #[serde(skip)]
    pub embedding: Option<FaceEmbedding>,
}

/// A stored unknown face's embedding (base64 of little-endian f32), typed.
fn stored_embedding(text: &str) -> Result<FaceEmbedding, StoreError> {
    FaceEmbedding::from_base64(text).map_err(|e| StoreError::Corrupt {
        what: "presence_intervals.embedding",
        why: e.to_string(),
    })
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
                       median_similarity, liveness, CASE WHEN psn_no IS NULL THEN embedding END \
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
                camera_id: row.try_get(1)?,
                ward_kind: row.try_get(2)?,
                track_id: row.try_get(4)?,
                start_ms: row.try_get(5)?,
                end_ms: row.try_get(6)?,
                median_similarity: row.try_get(7)?,
                liveness: row.try_get(8)?,
                embedding,
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
        observed.monitoring = match scope {
            Scope::All => Monitoring::load(store, from, to, silence_ms, None).await?,
            Scope::Institution(code) => {
                Monitoring::load(store, from, to, silence_ms, Some(code)).await?
            }
            Scope::Patients(_) => Monitoring::default(),
        };
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
