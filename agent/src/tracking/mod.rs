//! Tracking: the same face followed from frame to frame on one camera, SORT-style — each track's box
//! is predicted forward ([`motion`]), detections are matched to tracks greedily by overlap (IoU); a
//! detection the motion gate saw move ([`Found::moved`]) that matched nothing may then continue the
//! nearest track that lost its face on this frame, if it lies within a walking person's reach of it
//! (a walker whose speed the prediction did not know yet), and that face is recognised at once to
//! check it is the same person; the remaining detections start tracks. A track is recognised a few
//! times, not every frame: on its first frames, then every `embed_every` matched frames; its identity
//! and liveness are voted over those recognitions ([`vote`]). A recognition far from the track's own
//! average face ends the track and starts a new one, so one patient leaving and another sitting in
//! the same chair are two tracks.
//!
//! The tracker knows nothing of models: the camera worker asks it which faces want an embedding,
//! recognises those, and [`FaceTracker::record`]s the result; likewise which want landmarks (a few
//! times a second, [`FaceTracker::wants_landmarks`]), whose evidence of liveness ([`liveness`]) goes
//! out with the track's next sighting.

pub mod liveness;
pub mod motion;
pub mod shape;
pub mod vote;

use crate::sighting::Sighting;
use crate::vision::boxes::FaceBox;
use crate::vision::detector::Located;
use crate::vision::gating::Found;
use liveness::LandmarkTrail;
use motion::Motion;
use shape::Points68;
use vote::{Recognition, Votes};
use wardwatch_protocol::{CameraId, Liveness, Person, SeatId, Similarity, Timestamp, TrackId};

/// How tracks are formed and recognised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// A detection continues a track when their boxes overlap at least this much (IoU).
    pub iou_match: f32,
    /// A track ends after this many frames in a row without its face…
    pub max_missed_frames: u32,
    /// …or once its face has been missing this many seconds of capture time, whichever comes first
    /// (so an unknown face's track, and its embedding, end well before its presence interval closes).
    pub max_missed_secs: f64,
    /// Frames a track must be matched on before it produces sightings.
    pub min_hits: u32,
    /// Recognise the face on each of a track's first this many frames where it is recognisable…
    pub embed_first: u32,
    /// …then once every this many matched frames.
    pub embed_every: u32,
    /// A recognition less similar than this to the track's average face starts a new track.
    pub split_below: f32,
    /// Milliseconds between a track's landmark samples (0: none).
    pub landmarks_every_ms: i64,
    /// A moved detection continues a track that lost its face when its centre lies within this many
    /// of the track's face widths per second since the track was last seen, from where the track was
    /// predicted (someone walking briskly crosses about ten widths of their face a second)…
    pub reach_faces_per_sec: f32,
    /// …and its width is within this factor of the track's either way.
    pub reach_size_ratio: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            iou_match: 0.3,
            max_missed_frames: 5,
            max_missed_secs: 10.0,
            min_hits: 2,
            embed_first: 3,
            embed_every: 10,
            split_below: 0.2,
            landmarks_every_ms: 0,
            reach_faces_per_sec: 10.0,
            reach_size_ratio: 1.5,
        }
    }
}

/// Identifies a track within one [`FaceTracker`].
pub type TrackKey = u64;

/// One detection, matched to a track.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// The track.
    pub track: TrackKey,
    /// The detected box and landmarks.
    pub face: Located,
    /// Whether the worker should recognise this face now.
    pub wants_recognition: bool,
}

/// A track that has ended, with what it was.
#[derive(Debug, Clone, PartialEq)]
pub struct EndedTrack {
    /// The track's key within its tracker.
    pub key: TrackKey,
    /// The track's id (used as the unknown person's id).
    pub id: TrackId,
    /// Its voted identity (`None`: unknown).
    pub verdict: Option<vote::Verdict>,
    /// The quality-weighted average of its embeddings (unit length), if it was recognised at least once.
    pub embedding: Option<Vec<f32>>,
    /// First and last frames it was matched on.
    pub first_seen: Timestamp,
    /// Last frame matched.
    pub last_seen: Timestamp,
}

#[derive(Debug, Clone)]
struct Track {
    key: TrackKey,
    id: TrackId,
    motion: Motion,
    hits: u32,
    missed: u32,
    matched_now: bool,
    /// Continued by a moved detection beyond its predicted box: the next recognition checks it is
    /// still the same face even before the track has the votes a split normally needs.
    unverified: bool,
    since_recognition: u32,
    votes: Votes,
    embedding_sum: Vec<f32>,
    first_seen: Timestamp,
    last_seen: Timestamp,
    trail: LandmarkTrail,
    /// The face's box on the last frame it was matched on.
    face: FaceBox,
}

impl Track {
    fn mean_embedding(&self) -> Option<Vec<f32>> {
        crate::vision::matcher::normalised(&self.embedding_sum)
    }

    fn end(self) -> EndedTrack {
        EndedTrack {
            key: self.key,
            embedding: self.mean_embedding(),
            verdict: self.votes.verdict(),
            id: self.id,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
        }
    }
}

/// The tracks of one camera.
#[derive(Debug)]
pub struct FaceTracker {
    config: TrackerConfig,
    camera: CameraId,
    tracks: Vec<Track>,
    next_key: TrackKey,
    ended: Vec<EndedTrack>,
    last_frame: Option<Timestamp>,
}

/// Intersection over union of two boxes.
pub fn iou(a: &FaceBox, b: &FaceBox) -> f32 {
    let inter = a.intersection(b);
    let union = a.area() + b.area() - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// How far `face` lies from `predicted`, in widths of the predicted face (centre to centre), when it
/// is within `reach` widths and of a width within `size_ratio` of it either way; `None` otherwise.
fn within_reach(predicted: &FaceBox, face: &FaceBox, reach: f32, size_ratio: f32) -> Option<f32> {
    let (pw, fw) = (predicted.x2 - predicted.x1, face.x2 - face.x1);
    if !(pw > 0.0 && fw > 0.0 && fw <= pw * size_ratio && pw <= fw * size_ratio) {
        return None;
    }
    let dx = (face.x1 + face.x2 - predicted.x1 - predicted.x2) / 2.0;
    let dy = (face.y1 + face.y2 - predicted.y1 - predicted.y2) / 2.0;
    let widths = dx.hypot(dy) / pw;
    (widths <= reach).then_some(widths)
}

impl FaceTracker {
    /// No tracks yet.
    pub fn new(camera: CameraId, config: TrackerConfig) -> FaceTracker {
        FaceTracker {
            config,
            camera,
            tracks: Vec::new(),
            next_key: 1,
            ended: Vec::new(),
            last_frame: None,
        }
    }

    /// Tracks alive now.
    pub fn live_tracks(&self) -> usize {
        self.tracks.len()
    }

    /// Where each live track's face is expected at `at` (for looking there first).
    pub fn predicted(&self, at: Timestamp) -> Vec<FaceBox> {
        self.tracks
            .iter()
            .map(|t| t.motion.predict(at.millis()))
            .collect()
    }

    fn start(&mut self, face: &FaceBox, at: Timestamp) -> TrackKey {
        let key = self.next_key;
        self.next_key += 1;
        // A v7 UUID: unique across restarts and devices, ordered by creation time.
        let id = format!("u-{}", uuid::Uuid::now_v7().simple());
        let id = id
            .parse()
            .unwrap_or_else(|_| unreachable!("u- and 32 hex digits is a valid track id"));
        self.tracks.push(Track {
            key,
            id,
            motion: Motion::new(face, at.millis()),
            hits: 1,
            missed: 0,
            matched_now: true,
            unverified: false,
            since_recognition: 0,
            votes: Votes::default(),
            embedding_sum: Vec::new(),
            first_seen: at,
            last_seen: at,
            trail: LandmarkTrail::default(),
            face: *face,
        });
        key
    }

    /// One frame's detections: matches them to tracks, ages the rest, starts new tracks.
    pub fn update(&mut self, at: Timestamp, detections: Vec<Found>) -> Vec<Assignment> {
        self.last_frame = Some(at);
        let predicted: Vec<FaceBox> = self
            .tracks
            .iter()
            .map(|t| t.motion.predict(at.millis()))
            .collect();
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (t, p) in predicted.iter().enumerate() {
            for (d, found) in detections.iter().enumerate() {
                let overlap = iou(p, &found.face.0);
                if overlap >= self.config.iou_match {
                    pairs.push((overlap, t, d));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_of = vec![None; detections.len()];
        let mut taken = vec![false; self.tracks.len()];
        for (_, t, d) in pairs {
            if !taken[t] && track_of[d].is_none() {
                taken[t] = true;
                track_of[d] = Some(t);
            }
        }
        // Then moved detections left over continue the nearest track that lost its face, within reach.
        let mut near: Vec<(f32, usize, usize)> = Vec::new();
        for (t, p) in predicted.iter().enumerate() {
            if taken[t] {
                continue;
            }
            let away_secs =
                (at.millis() - self.tracks[t].last_seen.millis()).max(0) as f32 / 1000.0;
            let reach = self.config.reach_faces_per_sec * away_secs;
            for (d, found) in detections.iter().enumerate() {
                if !found.moved || track_of[d].is_some() {
                    continue;
                }
                if let Some(widths) =
                    within_reach(p, &found.face.0, reach, self.config.reach_size_ratio)
                {
                    near.push((widths, t, d));
                }
            }
        }
        near.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, t, d) in near {
            if !taken[t] && track_of[d].is_none() {
                taken[t] = true;
                track_of[d] = Some(t);
                self.tracks[t].unverified = true;
            }
        }
        for (t, track) in self.tracks.iter_mut().enumerate() {
            track.matched_now = taken[t];
            if !taken[t] {
                track.missed += 1;
            }
        }
        let mut assignments = Vec::with_capacity(detections.len());
        for (d, found) in detections.into_iter().enumerate() {
            let located = found.face;
            let key = match track_of[d] {
                Some(t) => {
                    let track = &mut self.tracks[t];
                    track.motion.update(&located.0, at.millis());
                    track.hits += 1;
                    track.missed = 0;
                    track.since_recognition += 1;
                    track.last_seen = at;
                    track.face = located.0;
                    track.key
                }
                None => self.start(&located.0, at),
            };
            let wants_recognition = self.tracks.iter().find(|t| t.key == key).is_some_and(|t| {
                t.unverified
                    || (t.votes.count() as u32) < self.config.embed_first
                    || t.since_recognition >= self.config.embed_every
            });
            assignments.push(Assignment {
                track: key,
                face: located,
                wants_recognition,
            });
        }
        let max_missed = self.config.max_missed_frames;
        let max_missed_ms = (self.config.max_missed_secs * 1000.0) as i64;
        let (gone, kept): (Vec<Track>, Vec<Track>) =
            std::mem::take(&mut self.tracks).into_iter().partition(|t| {
                t.missed > max_missed
                    || (t.missed > 0 && at.millis() - t.last_seen.millis() > max_missed_ms)
            });
        self.tracks = kept;
        self.ended.extend(gone.into_iter().map(Track::end));
        assignments
    }

    /// Records a recognition of `track`'s face with its embedding. A face unlike the track's average
    /// (once it has three recognitions, or at once after a continuation beyond its predicted box)
    /// ends the track and starts a new one at the same place. Returns the key the face now belongs to
    /// (the new track's after a split), or `None` for a track that no longer exists.
    pub fn record(
        &mut self,
        track: TrackKey,
        recognition: &Recognition,
        embedding: &[f32],
    ) -> Option<TrackKey> {
        let index = self.tracks.iter().position(|t| t.key == track)?;
        let t = &self.tracks[index];
        let unlike = (t.votes.count() >= 3 || t.unverified)
            && t.mean_embedding().is_some_and(|mean| {
                crate::vision::engine::cosine(&mean, embedding) < self.config.split_below
            });
        let index = if unlike {
            let old = self.tracks.remove(index);
            let (at, face) = (old.last_seen, old.motion.predict(old.last_seen.millis()));
            self.ended.push(old.end());
            let key = self.start(&face, at);
            self.tracks.iter().position(|t| t.key == key)?
        } else {
            index
        };
        let t = self.tracks.get_mut(index)?;
        t.votes.add(recognition);
        if t.embedding_sum.len() != embedding.len() {
            t.embedding_sum = vec![0.0; embedding.len()];
        }
        // Quality-weighted: a sharp frontal face shapes the track's face more than a turned one.
        let weight = recognition.counted_weight();
        for (sum, v) in t.embedding_sum.iter_mut().zip(embedding) {
            *sum += weight * v;
        }
        t.since_recognition = 0;
        t.unverified = false;
        Some(t.key)
    }

    /// Whether `track`, matched on the frame at `at`, wants its landmarks sampled now.
    pub fn wants_landmarks(&self, track: TrackKey, at: Timestamp) -> bool {
        self.tracks
            .iter()
            .any(|t| t.key == track && t.trail.due(at.millis(), self.config.landmarks_every_ms))
    }

    /// Records `track`'s landmarks seen at `at`.
    pub fn record_landmarks(&mut self, track: TrackKey, at: Timestamp, points: &Points68) {
        if let Some(t) = self.tracks.iter_mut().find(|t| t.key == track) {
            t.trail.add(at.millis(), points);
        }
    }

    /// The sightings of this frame: one per track matched on it, confirmed and recognised at least
    /// once, each with the landmark evidence its track gathered since its previous sighting (no seat).
    pub fn sightings(&mut self) -> Vec<Sighting> {
        self.sightings_seated(|_| None)
    }

    /// [`FaceTracker::sightings`], each in the seat `seat_of` its face's box on this frame.
    pub fn sightings_seated(
        &mut self,
        seat_of: impl Fn(&FaceBox) -> Option<SeatId>,
    ) -> Vec<Sighting> {
        let Some(at) = self.last_frame else {
            return Vec::new();
        };
        self.tracks
            .iter_mut()
            .filter(|t| t.matched_now && t.hits >= self.config.min_hits)
            .filter_map(|t| {
                let verdict = t.votes.verdict()?;
                let person = match verdict.person {
                    Some(psn) => Person::PsnNo(psn),
                    None => Person::UnknownTrack(t.id.clone()),
                };
                Some(Sighting {
                    at,
                    camera_id: self.camera.clone(),
                    person,
                    similarity: Similarity::try_from(
                        f64::from(verdict.similarity).clamp(-1.0, 1.0),
                    )
                    .ok()?,
                    liveness: Liveness::try_from(f64::from(verdict.liveness).clamp(0.0, 1.0))
                        .ok()?,
                    track_evidence: t.trail.take(),
                    seat: seat_of(&t.face),
                })
            })
            .collect()
    }

    /// Tracks that ended since the last call.
    pub fn take_ended(&mut self) -> Vec<EndedTrack> {
        std::mem::take(&mut self.ended)
    }

    /// Ends every track (the source ended).
    pub fn end_all(&mut self) -> Vec<EndedTrack> {
        let tracks = std::mem::take(&mut self.tracks);
        self.ended.extend(tracks.into_iter().map(Track::end));
        self.take_ended()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A face found in place, 60 px wide, at `x`.
    fn face(x: f32) -> Found {
        Found::still((
            FaceBox {
                x1: x,
                y1: 100.0,
                x2: x + 60.0,
                y2: 170.0,
                score: 0.99,
            },
            [[0.0; 2]; 5],
        ))
    }

    /// The same face, found in a change window.
    fn moved(x: f32) -> Found {
        Found {
            moved: true,
            ..face(x)
        }
    }

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millis(1_790_000_000_000 + ms).expect("time")
    }

    fn unit(i: usize) -> Vec<f32> {
        let mut v = vec![0.0; 8];
        v[i] = 1.0;
        v
    }

    fn known(psn: &str) -> Recognition {
        Recognition {
            person: Some((psn.parse().expect("psn"), 0.7)),
            best_similarity: 0.7,
            liveness: 0.8,
            weight: 1.0,
        }
    }

    fn tracker() -> FaceTracker {
        FaceTracker::new("cam-1".parse().expect("id"), TrackerConfig::default())
    }

    #[test]
    fn a_walking_face_keeps_its_track_and_is_recognised_a_few_times() {
        let mut tracker = tracker();
        let mut recognitions = 0;
        let mut keys = std::collections::BTreeSet::new();
        for k in 0..30 {
            // 30 px a frame to the right at 5 fps.
            let assigned = tracker.update(t(200 * k), vec![face(30.0 * k as f32)]);
            assert_eq!(assigned.len(), 1);
            keys.insert(assigned[0].track);
            if assigned[0].wants_recognition {
                recognitions += 1;
                tracker.record(assigned[0].track, &known("P001"), &unit(0));
            }
        }
        assert_eq!(keys.len(), 1, "one track");
        // Three on the first frames, then one every ten matched frames.
        assert!((4..=6).contains(&recognitions), "{recognitions}");
        let sightings = tracker.sightings();
        assert_eq!(sightings.len(), 1);
        assert_eq!(
            sightings[0].person,
            Person::PsnNo("P001".parse().expect("psn"))
        );
    }

    #[test]
    fn a_sighting_is_seated_where_its_face_is_on_this_frame() {
        let mut tracker = tracker();
        let seat_of = |b: &FaceBox| -> Option<SeatId> {
            let centre = (b.x1 + b.x2) / 2.0;
            (centre > 145.0).then(|| "chair-2".parse().expect("seat"))
        };
        let mut seats = Vec::new();
        // The face moves 10 px a frame from x = 100 (centre 130) to the right.
        for k in 0..6 {
            let a = tracker.update(t(200 * k), vec![face(100.0 + 10.0 * k as f32)]);
            if a[0].wants_recognition {
                tracker.record(a[0].track, &known("P001"), &unit(0));
            }
            seats.extend(
                tracker
                    .sightings_seated(seat_of)
                    .into_iter()
                    .map(|s| s.seat),
            );
        }
        let chair: Option<SeatId> = "chair-2".parse().ok();
        // Frames 1–5 (frame 0 is not a track yet): centres 140, 150, 160, 170, 180.
        assert_eq!(
            seats,
            vec![None, chair.clone(), chair.clone(), chair.clone(), chair]
        );
    }

    #[test]
    fn a_new_track_waits_for_a_second_frame_and_a_recognition() {
        let mut tracker = tracker();
        let a = tracker.update(t(0), vec![face(100.0)]);
        tracker.record(a[0].track, &known("P001"), &unit(0));
        assert!(
            tracker.sightings().is_empty(),
            "one frame is not a track yet"
        );
        tracker.update(t(200), vec![face(102.0)]);
        assert_eq!(tracker.sightings().len(), 1);
    }

    #[test]
    fn a_face_missing_for_a_few_frames_keeps_its_track_then_ends_it() {
        let mut tracker = tracker();
        let first = tracker.update(t(0), vec![face(100.0)])[0].track;
        tracker.record(first, &known("P001"), &unit(0));
        for k in 1..=3 {
            tracker.update(t(200 * k), vec![]);
        }
        let again = tracker.update(t(800), vec![face(101.0)])[0].track;
        assert_eq!(again, first);
        for k in 5..=11 {
            tracker.update(t(200 * k), vec![]);
        }
        let ended = tracker.take_ended();
        assert_eq!(ended.len(), 1);
        assert_eq!(
            ended[0].verdict.as_ref().and_then(|v| v.person.clone()),
            Some("P001".parse().expect("psn"))
        );
        assert_eq!(tracker.live_tracks(), 0);
    }

    #[test]
    fn a_face_missing_for_long_in_capture_time_ends_its_track_at_once() {
        let mut tracker = tracker();
        let key = tracker.update(t(0), vec![face(100.0)])[0].track;
        tracker.record(key, &known("P001"), &unit(0));
        // A time-lapse: the next frame comes a minute later, without the face.
        tracker.update(t(60_000), vec![]);
        assert_eq!(tracker.take_ended().len(), 1);
    }

    #[test]
    fn someone_else_in_the_same_place_splits_the_track() {
        let mut tracker = tracker();
        let mut first = None;
        for k in 0..3 {
            let a = tracker.update(t(200 * k), vec![face(100.0)]);
            first.get_or_insert(a[0].track);
            tracker.record(a[0].track, &known("P001"), &unit(0));
        }
        let a = tracker.update(t(600), vec![face(100.0)]);
        // A face orthogonal to the track's average: another person, recorded under a new key.
        let now = tracker.record(a[0].track, &known("P002"), &unit(1));
        assert!(now.is_some_and(|key| Some(key) != first), "{now:?}");
        let ended = tracker.take_ended();
        assert_eq!(ended.len(), 1, "the first person's track ended");
        assert_eq!(Some(ended[0].key), first);
        tracker.update(t(800), vec![face(100.0)]);
        let sightings = tracker.sightings();
        assert_eq!(
            sightings[0].person,
            Person::PsnNo("P002".parse().expect("psn"))
        );
    }

    #[test]
    fn landmarks_are_sampled_at_their_rate_and_ride_on_the_next_sighting() {
        let config = TrackerConfig {
            landmarks_every_ms: 333,
            ..TrackerConfig::default()
        };
        let mut tracker = FaceTracker::new("cam-1".parse().expect("id"), config);
        let points: Points68 = std::array::from_fn(|i| [i as f32 * 2.0, (i * i % 17) as f32]);
        let (mut sampled, mut handed_over) = (0, 0);
        for k in 0..10 {
            let at = t(200 * k);
            let a = tracker.update(at, vec![face(100.0)]);
            if a[0].wants_recognition {
                tracker.record(a[0].track, &known("P001"), &unit(0));
            }
            if tracker.wants_landmarks(a[0].track, at) {
                sampled += 1;
                tracker.record_landmarks(a[0].track, at, &points);
            }
            handed_over += tracker
                .sightings()
                .iter()
                .filter_map(|s| s.track_evidence.as_ref())
                .map(|e| e.samples)
                .sum::<u32>();
        }
        // At 5 fps every other frame is 333 ms or more after the last sample: 5 of 10 frames.
        assert_eq!(sampled, 5);
        // The first frame's sample waited for the track's first sighting; none is lost or doubled.
        assert_eq!(handed_over, 5);
        assert!(!tracker.wants_landmarks(999, t(10_000)), "no such track");
    }

    #[test]
    fn two_faces_side_by_side_are_two_tracks() {
        let mut tracker = tracker();
        let a = tracker.update(t(0), vec![face(100.0), face(400.0)]);
        assert_ne!(a[0].track, a[1].track);
        let b = tracker.update(t(200), vec![face(402.0), face(101.0)]);
        assert_eq!(b[0].track, a[1].track);
        assert_eq!(b[1].track, a[0].track);
    }

    #[test]
    fn a_walker_found_where_the_picture_changed_continues_the_track_that_lost_them() {
        let mut tracker = tracker();
        let first = tracker.update(t(0), vec![face(100.0)]);
        tracker.record(first[0].track, &known("P001"), &unit(0));
        // Next frame: 90 px further (1.5 face widths) — no overlap with where the still track was
        // predicted; the window's detection continues the track, which is confirmed on this frame.
        let second = tracker.update(t(200), vec![moved(190.0)]);
        assert_eq!(second[0].track, first[0].track);
        assert!(
            second[0].wants_recognition,
            "a continuation is checked at once"
        );
        assert_eq!(tracker.live_tracks(), 1);
        assert_eq!(
            tracker.sightings().len(),
            1,
            "confirmed on its second frame"
        );
        // Its speed is known now: the next frame, 90 px on, matches by overlap.
        let third = tracker.update(t(400), vec![face(280.0)]);
        assert_eq!(third[0].track, first[0].track);
    }

    #[test]
    fn only_a_moved_face_within_reach_and_of_a_like_size_continues_a_lost_track() {
        let far_or_unlike = [
            // The same place as a moved face, but found in place: no evidence it moved there.
            face(190.0),
            // Moved, but 4 face widths in one frame: beyond a walker's 10 widths a second.
            moved(340.0),
            // Moved and near, but twice the size.
            Found {
                face: (
                    FaceBox {
                        x1: 150.0,
                        y1: 80.0,
                        x2: 270.0,
                        y2: 220.0,
                        score: 0.99,
                    },
                    [[0.0; 2]; 5],
                ),
                moved: true,
            },
        ];
        for detection in far_or_unlike {
            let mut tracker = tracker();
            let first = tracker.update(t(0), vec![face(100.0)])[0].track;
            let second = tracker.update(t(200), vec![detection])[0].track;
            assert_ne!(second, first, "{detection:?} starts its own track");
            assert_eq!(tracker.live_tracks(), 2);
        }
        // A track matched by overlap is not taken over by a moved face next to it; the nearest of two
        // lost tracks is continued.
        let mut tracker = tracker();
        let a = tracker.update(t(0), vec![face(100.0), face(400.0), face(700.0)]);
        let b = tracker.update(t(200), vec![face(101.0), moved(470.0), moved(160.0)]);
        assert_eq!(b[0].track, a[0].track);
        assert_eq!(b[1].track, a[1].track, "1.2 widths from the second track");
        assert!(
            b[2].track != a[0].track && b[2].track != a[2].track,
            "the first track is matched, the third is 9 widths away"
        );
    }

    #[test]
    fn a_continuation_by_someone_else_is_split_off_at_its_first_recognition() {
        let mut tracker = tracker();
        let first = tracker.update(t(0), vec![face(100.0)])[0].track;
        tracker.record(first, &known("P001"), &unit(0));
        let second = tracker.update(t(200), vec![moved(190.0)]);
        assert_eq!(second[0].track, first);
        // The face recognised there is another person's: one recognition is enough to split.
        let now = tracker.record(first, &known("P002"), &unit(1));
        assert!(now.is_some_and(|key| key != first), "{now:?}");
        assert_eq!(tracker.take_ended().len(), 1);
        // An ordinary young track is not split on its second recognition.
        let mut tracker = self::tracker();
        let a = tracker.update(t(0), vec![face(100.0)])[0].track;
        tracker.record(a, &known("P001"), &unit(0));
        tracker.update(t(200), vec![face(101.0)]);
        assert_eq!(tracker.record(a, &known("P002"), &unit(1)), Some(a));
    }
}
