//! Presence: folding sightings into intervals per (person, camera).
//!
//! An interval opens at a person's first sighting on a camera and closes once they have not been seen
//! for `close_after_secs`; only intervals with at least `min_samples` sightings are reported (fewer is a
//! passer-by or a misrecognition). A long stay is reported as it goes: a checkpoint (`open: true`) every
//! `checkpoint_secs` of event time, then the final report (`open: false`) under the same `interval_id`.
//! All time here is sighting (capture) time, never the wall clock, so a replay gives the same intervals
//! however fast it runs. The tracker's state is serialisable and is committed with the spool, so a
//! restarted agent continues its open intervals instead of splitting them.
//!
//! An interval's seat is the camera's seat zone ([`crate::cameras::seats`]) holding the face's centre
//! in more than half of its sightings; none when no zone holds a majority (the person moved about, or
//! stood between chairs) or the camera has no zones.

pub mod config;
pub mod liveness;
pub mod median;

use crate::sighting::Sighting;
pub use config::PresenceConfig;
use liveness::{LivenessConfig, LivenessTally};
use median::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;
use wardwatch_protocol::{
    CameraId, FaceEmbedding, Liveness, Person, Presence, SeatId, Similarity, Timestamp, TrackId,
    WardKind,
};

/// One interval in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OpenInterval {
    interval_id: Uuid,
    camera_id: CameraId,
    person: Person,
    start: Timestamp,
    end: Timestamp,
    samples: u32,
    best_similarity: f64,
    similarity: Histogram,
    liveness: Histogram,
    last_report: Option<Timestamp>,
    /// An unknown face's average embedding, once its track has ended.
    #[serde(default)]
    embedding: Option<FaceEmbedding>,
    /// The landmark evidence of its tracks (absent from checkpoints written before track liveness).
    #[serde(default)]
    track: LivenessTally,
    /// Sightings per seat zone holding the face's centre (absent from checkpoints written before seats).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    seats: BTreeMap<SeatId, u32>,
}

impl OpenInterval {
    fn new(s: &Sighting) -> Self {
        OpenInterval {
            interval_id: Uuid::now_v7(),
            camera_id: s.camera_id.clone(),
            person: s.person.clone(),
            start: s.at,
            end: s.at,
            samples: 0,
            best_similarity: -1.0,
            similarity: Histogram::new(-1.0, 1.0, 200),
            liveness: Histogram::new(0.0, 1.0, 100),
            last_report: None,
            embedding: None,
            track: LivenessTally::default(),
            seats: BTreeMap::new(),
        }
    }

    fn add(&mut self, s: &Sighting) {
        self.start = self.start.min(s.at);
        self.end = self.end.max(s.at);
        self.samples = self.samples.saturating_add(1);
        self.best_similarity = self.best_similarity.max(s.similarity.get());
        self.similarity.add(s.similarity.get());
        self.liveness.add(s.liveness.get());
        if let Some(evidence) = &s.track_evidence {
            self.track.add(evidence);
        }
        if let Some(seat) = &s.seat {
            let n = self.seats.entry(seat.clone()).or_default();
            *n = n.saturating_add(1);
        }
    }

    /// The seat zone that held the face in more than half of the interval's sightings.
    fn seat(&self) -> Option<SeatId> {
        self.seats
            .iter()
            .find(|(_, n)| 2 * u64::from(**n) > u64::from(self.samples))
            .map(|(seat, _)| seat.clone())
    }

    fn report(&self, ward_kind: WardKind, liveness: &LivenessConfig, open: bool) -> Presence {
        // Every value fed in was already range-checked; medians are bin centres inside the range.
        let similarity =
            |v: f64| Similarity::try_from(v.clamp(-1.0, 1.0)).unwrap_or_else(|_| unreachable!());
        let model_median =
            Liveness::try_from(self.liveness.median().unwrap_or(0.0).clamp(0.0, 1.0))
                .unwrap_or_else(|_| unreachable!());
        Presence {
            interval_id: self.interval_id,
            camera_id: self.camera_id.clone(),
            ward_kind,
            person: self.person.clone(),
            start: self.start,
            end: self.end,
            open,
            samples: self.samples,
            best_similarity: similarity(self.best_similarity),
            median_similarity: similarity(self.similarity.median().unwrap_or(0.0)),
            liveness: model_median,
            // Only a final report carries the embedding.
            embedding: if open { None } else { self.embedding.clone() },
            track_liveness: self.track.summary(liveness, model_median),
            seat: self.seat(),
        }
    }
}

/// The presence stage: sightings in, interval reports out. Serialisable for the spool checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceTracker {
    ward_kind: WardKind,
    close_after_ms: i64,
    checkpoint_ms: i64,
    min_samples: u32,
    /// How the intervals' liveness is judged (absent from checkpoints written before track liveness).
    #[serde(default)]
    liveness: LivenessConfig,
    open: Vec<OpenInterval>,
}

impl PresenceTracker {
    /// An empty tracker.
    pub fn new(ward_kind: WardKind, config: &PresenceConfig) -> Self {
        PresenceTracker {
            ward_kind,
            close_after_ms: i64::try_from(config.close_after_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            checkpoint_ms: i64::try_from(config.checkpoint_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            min_samples: config.min_samples,
            liveness: config.liveness,
            open: Vec::new(),
        }
    }

    /// Applies the current configuration to a tracker restored from the spool (its open intervals stay).
    pub fn reconfigure(&mut self, ward_kind: WardKind, config: &PresenceConfig) {
        let fresh = PresenceTracker::new(ward_kind, config);
        self.ward_kind = fresh.ward_kind;
        self.close_after_ms = fresh.close_after_ms;
        self.checkpoint_ms = fresh.checkpoint_ms;
        self.min_samples = fresh.min_samples;
        self.liveness = fresh.liveness;
    }

    /// Intervals currently open.
    pub fn open_intervals(&self) -> usize {
        self.open.len()
    }

    /// Feeds one sighting of a single time-ordered stream (a replay): intervals on every camera idle at
    /// the sighting's time close. Returns the reports it causes (closed intervals, checkpoints).
    pub fn observe(&mut self, sighting: &Sighting) -> Vec<Presence> {
        let mut reports = self.close_idle(sighting.at);
        reports.extend(self.add(sighting));
        reports
    }

    /// Feeds one sighting from a camera with its own clock (cameras run at their own pace, so one
    /// camera's time says nothing of another's): only that camera's idle intervals close.
    pub fn observe_on_camera(&mut self, sighting: &Sighting) -> Vec<Presence> {
        let mut reports = self.close_idle_on(&sighting.camera_id, sighting.at);
        reports.extend(self.add(sighting));
        reports
    }

    /// Closes `camera`'s intervals whose person has been absent longer than `close_after` at `now`
    /// (the camera's latest frame time).
    pub fn close_idle_on(&mut self, camera: &CameraId, now: Timestamp) -> Vec<Presence> {
        let close_after = self.close_after_ms;
        let (closed, open): (Vec<_>, Vec<_>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|i| &i.camera_id == camera && now.millis() - i.end.millis() > close_after);
        self.open = open;
        self.finals(closed)
    }

    /// Attaches an unknown face's average embedding to its open interval (the track has ended; the
    /// interval's final report will carry it).
    pub fn attach_embedding(&mut self, track: &TrackId, embedding: FaceEmbedding) {
        let person = Person::UnknownTrack(track.clone());
        if let Some(interval) = self.open.iter_mut().find(|i| i.person == person) {
            interval.embedding = Some(embedding);
        }
    }

    /// Closes every interval of `camera` (its recording ended).
    pub fn close_camera(&mut self, camera: &CameraId) -> Vec<Presence> {
        let (closed, open): (Vec<_>, Vec<_>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|i| &i.camera_id == camera);
        self.open = open;
        self.finals(closed)
    }

    fn add(&mut self, sighting: &Sighting) -> Vec<Presence> {
        let mut reports = Vec::new();
        let index = match self
            .open
            .iter()
            .position(|i| i.camera_id == sighting.camera_id && i.person == sighting.person)
        {
            Some(index) => index,
            None => {
                self.open.push(OpenInterval::new(sighting));
                self.open.len() - 1
            }
        };
        let interval = &mut self.open[index];
        interval.add(sighting);
        if interval.samples >= self.min_samples {
            let due = match interval.last_report {
                None => interval.end.millis() - interval.start.millis() >= self.checkpoint_ms,
                Some(last) => interval.end.millis() - last.millis() >= self.checkpoint_ms,
            };
            if due {
                interval.last_report = Some(interval.end);
                reports.push(interval.report(self.ward_kind, &self.liveness, true));
            }
        }
        reports
    }

    /// Closes every interval whose person has been absent longer than `close_after` at time `now`.
    pub fn close_idle(&mut self, now: Timestamp) -> Vec<Presence> {
        let close_after = self.close_after_ms;
        let (closed, open): (Vec<_>, Vec<_>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|i| now.millis() - i.end.millis() > close_after);
        self.open = open;
        self.finals(closed)
    }

    /// Closes everything (the source ended).
    pub fn close_all(&mut self) -> Vec<Presence> {
        let closed = std::mem::take(&mut self.open);
        self.finals(closed)
    }

    fn finals(&self, closed: Vec<OpenInterval>) -> Vec<Presence> {
        closed
            .into_iter()
            .filter(|i| i.samples >= self.min_samples)
            .map(|i| i.report(self.ward_kind, &self.liveness, false))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sighting(secs: i64, psn: &str) -> Sighting {
        Sighting {
            at: Timestamp::from_millis(1_790_000_000_000 + secs * 1000).unwrap(),
            camera_id: "cam-1".parse().unwrap(),
            person: Person::PsnNo(psn.parse().unwrap()),
            similarity: Similarity::try_from(0.7).unwrap(),
            liveness: Liveness::try_from(0.95).unwrap(),
            track_evidence: None,
            seat: None,
        }
    }

    fn tracker() -> PresenceTracker {
        PresenceTracker::new(
            WardKind::Haemodialysis,
            &PresenceConfig {
                close_after_secs: 120,
                min_samples: 3,
                checkpoint_secs: 300,
                liveness: LivenessConfig::default(),
            },
        )
    }

    #[test]
    fn a_stay_with_a_twenty_minute_break_is_two_intervals_with_checkpoints() {
        let mut t = tracker();
        let mut reports = Vec::new();
        // 0..=600 s every 10 s, absent 20 min, then 1800..=1900 s.
        for s in (0..=600).step_by(10).chain((1800..=1900).step_by(10)) {
            reports.extend(t.observe(&sighting(s, "p1")));
        }
        reports.extend(t.close_all());
        let finals: Vec<_> = reports.iter().filter(|r| !r.open).collect();
        assert_eq!(finals.len(), 2);
        assert_eq!(finals[0].end.millis() - finals[0].start.millis(), 600_000);
        assert_eq!(finals[0].samples, 61);
        assert_eq!(finals[1].samples, 11);
        let checkpoints: Vec<_> = reports.iter().filter(|r| r.open).collect();
        assert_eq!(checkpoints.len(), 2, "at 300 s and 600 s of the first stay");
        assert!(
            checkpoints
                .iter()
                .all(|c| c.interval_id == finals[0].interval_id)
        );
        assert!((finals[0].median_similarity.get() - 0.7).abs() <= 0.006);
    }

    #[test]
    fn cameras_keep_their_own_clocks() {
        let mut t = tracker();
        let on = |secs: i64, camera: &str| Sighting {
            camera_id: camera.parse().unwrap(),
            ..sighting(secs, "p4")
        };
        for s in [0, 10, 20] {
            t.observe_on_camera(&on(s, "cam-1"));
        }
        // cam-2 has run ahead by an hour: cam-1's interval stays open.
        for s in [3600, 3610, 3620] {
            assert!(t.observe_on_camera(&on(s, "cam-2")).is_empty());
        }
        assert_eq!(t.open_intervals(), 2);
        // cam-1's own clock passing the absence limit closes it.
        let closed = t.close_idle_on(
            &"cam-1".parse().unwrap(),
            Timestamp::from_millis(1_790_000_000_000 + 200_000).unwrap(),
        );
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].camera_id.as_str(), "cam-1");
        let rest = t.close_camera(&"cam-2".parse().unwrap());
        assert_eq!(rest.len(), 1);
        assert_eq!(t.open_intervals(), 0);
    }

    #[test]
    fn the_tracks_landmark_evidence_becomes_the_intervals_track_liveness() {
        use crate::tracking::liveness::TrackEvidence;
        use wardwatch_protocol::LivenessVerdict;
        let mut t = tracker();
        // Without landmark samples (a replay of old sightings): no summary, bytes as before.
        for s in [0, 10, 20] {
            t.observe(&sighting(s, "p5"));
        }
        assert!(t.close_all().iter().all(|r| r.track_liveness.is_none()));
        // A rigid face, three samples a sighting, never blinking, for a minute.
        let mut reports = Vec::new();
        for s in 0..60 {
            reports.extend(t.observe(&Sighting {
                track_evidence: Some(TrackEvidence {
                    samples: 3,
                    residuals: vec![0.004, 0.005, 0.006],
                    blinks: 0,
                }),
                ..sighting(s, "p6")
            }));
        }
        reports.extend(t.close_all());
        let summary = reports
            .last()
            .and_then(|r| r.track_liveness.clone())
            .expect("summary");
        assert_eq!(summary.samples, 180);
        assert_eq!(summary.verdict, LivenessVerdict::NotLive);
        assert_eq!(summary.model_median, reports[0].liveness);
        assert!(summary.residual_p90.get() < 0.01, "{summary:?}");
    }

    #[test]
    fn the_seat_holding_most_face_centres_is_the_intervals() {
        let mut t = tracker();
        let seated = |secs: i64, psn: &str, seat: Option<&str>| Sighting {
            seat: seat.map(|s| s.parse().expect("seat")),
            ..sighting(secs, psn)
        };
        // p7: 6 of 10 sightings in chair-3, 3 in chair-4, 1 in none → chair-3.
        // p8: 4 of 10 in chair-3, 4 in chair-4, 2 in none → no seat (no majority).
        // p9: no zones on the camera → no seat.
        for s in 0..10 {
            let p7 = match s {
                0..6 => Some("chair-3"),
                6..9 => Some("chair-4"),
                _ => None,
            };
            let p8 = match s {
                0..4 => Some("chair-3"),
                4..8 => Some("chair-4"),
                _ => None,
            };
            t.observe(&seated(s * 10, "p7", p7));
            t.observe(&seated(s * 10, "p8", p8));
            t.observe(&seated(s * 10, "p9", None));
        }
        // A restart in the middle keeps the tally.
        let mut t: PresenceTracker =
            serde_json::from_slice(&serde_json::to_vec(&t).unwrap()).unwrap();
        let reports = t.close_all();
        let seat_of = |psn: &str| {
            reports
                .iter()
                .find(|r| r.person == Person::PsnNo(psn.parse().unwrap()))
                .map(|r| r.seat.clone())
                .expect("reported")
        };
        assert_eq!(seat_of("p7"), Some("chair-3".parse().unwrap()));
        assert_eq!(seat_of("p8"), None);
        assert_eq!(seat_of("p9"), None);
    }

    #[test]
    fn too_few_sightings_are_not_reported() {
        let mut t = tracker();
        t.observe(&sighting(0, "p2"));
        t.observe(&sighting(5, "p2"));
        assert!(t.close_all().is_empty());
    }

    #[test]
    fn state_survives_serialisation() {
        let mut t = tracker();
        for s in [0, 10, 20] {
            t.observe(&sighting(s, "p3"));
        }
        let restored: PresenceTracker =
            serde_json::from_slice(&serde_json::to_vec(&t).unwrap()).unwrap();
        assert_eq!(restored, t);
    }
}
