//! One camera's worker: reads its frames, watches for tampering, and follows the faces.
//!
//! Per frame: the tamper checks on the whole frame ([`crate::tamper`]); then — unless the camera is
//! obstructed or frozen, when no sighting may come from it — detection inside the region of interest,
//! tracking ([`crate::tracking`]), the 68 landmarks of the faces due a sample (a few a second per
//! track, for liveness over the track), and for the faces the tracker wants recognised: the quality
//! gate, embedding, liveness and the gallery. Each tracked face on the frame becomes a sighting; the frame's
//! capture time becomes a tick of the camera's clock. A failing source is reopened with back-off while
//! the camera is reported offline.

use super::Observation;
use super::config::{CameraConfig, Roi};
use super::seats::seat_at;
use super::stats::StatsBoard;
use crate::evidence::{EvidenceConfig, EvidenceKeeper};
use crate::gallery::SharedGallery;
use crate::presence::liveness::LivenessConfig;
use crate::sources::{Frame, FrameSource, SourceError};
use crate::tamper::measure::Measurer;
use crate::tamper::{CameraWatch, TamperConfig};
use crate::tracking::vote::Recognition;
use crate::tracking::{FaceTracker, TrackerConfig};
use crate::vision::align::RgbView;
use crate::vision::boxes::FaceBox;
use crate::vision::config::RecognitionConfig;
use crate::vision::engine::FaceEngine;
use crate::vision::gating::Gating;
use crate::vision::landmarks::LandmarkModel;
use crate::vision::liveness::LivenessModel;
use crate::vision::manifest::Manifest;
use crate::vision::matcher::{Identity, MatchPolicy, MatchScratch};
use crate::vision::quality::QualityPolicy;
use crate::vision::single_pass::DetectorError;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;
use wardwatch_link::Backoff;
use wardwatch_protocol::{CameraState, PsnNo, Timestamp};

/// A camera's frame processing, owned by its thread.
pub struct CameraWorker {
    camera: CameraConfig,
    source: Box<dyn FrameSource>,
    engine: FaceEngine,
    gating: Gating,
    liveness: LivenessModel,
    quality: QualityPolicy,
    policy: MatchPolicy,
    gallery: SharedGallery,
    scratch: MatchScratch,
    tracker: FaceTracker,
    watch: CameraWatch,
    measurer: Measurer,
    reference_path: PathBuf,
    reference_saved: bool,
    roi_pixels: Vec<u8>,
    last_looked_at: Option<Timestamp>,
    stats: StatsBoard,
    evidence: Option<EvidenceKeeper>,
    landmarks: Option<LandmarkModel>,
}

impl CameraWorker {
    /// Loads this camera's models (one set per camera: tract plans are not shared between threads)
    /// and its stored reference view.
    pub fn new(
        camera: CameraConfig,
        source: Box<dyn FrameSource>,
        manifest: &Manifest,
        recognition: &RecognitionConfig,
        gallery: SharedGallery,
        reference_path: PathBuf,
    ) -> Result<CameraWorker, DetectorError> {
        let mut engine = FaceEngine::load(manifest, recognition.detector)?;
        engine.set_min_face_size(recognition.min_face_px);
        let reference = std::fs::read(&reference_path).ok();
        let reference_saved = reference.is_some();
        Ok(CameraWorker {
            tracker: FaceTracker::new(camera.id.clone(), TrackerConfig::default()),
            watch: CameraWatch::new(camera.id.clone(), TamperConfig::default(), reference),
            camera,
            source,
            engine,
            gating: Gating::new(recognition.gating),
            liveness: LivenessModel::load(manifest)?,
            quality: QualityPolicy::default(),
            policy: MatchPolicy {
                threshold: recognition.similarity_threshold,
                margin: recognition.margin,
            },
            gallery,
            scratch: MatchScratch::default(),
            measurer: Measurer::default(),
            reference_path,
            reference_saved,
            roi_pixels: Vec::new(),
            last_looked_at: None,
            stats: StatsBoard::default(),
            evidence: None,
            landmarks: None,
        })
    }

    /// Reports this worker's totals on `board` (for the heartbeat).
    pub fn report_to(mut self, board: StatsBoard) -> CameraWorker {
        self.stats = board;
        self
    }

    /// Keeps evidence crops when the operator turned them on.
    pub fn with_evidence(mut self, config: &EvidenceConfig) -> CameraWorker {
        self.evidence = config
            .enabled
            .then(|| EvidenceKeeper::new(self.camera.id.clone(), config.clone()));
        self
    }

    /// Samples each track's 68 landmarks `config.landmarks_per_sec` times a second for liveness over
    /// the track (off at 0, or when the manifest has no landmark model).
    pub fn with_track_liveness(
        mut self,
        manifest: &Manifest,
        config: &LivenessConfig,
    ) -> CameraWorker {
        let every_ms = config.sample_every_ms();
        if every_ms == 0 {
            return self;
        }
        match LandmarkModel::load(manifest) {
            Ok(model) => {
                self.landmarks = Some(model);
                self.tracker = FaceTracker::new(
                    self.camera.id.clone(),
                    TrackerConfig {
                        landmarks_every_ms: every_ms,
                        ..TrackerConfig::default()
                    },
                );
            }
            Err(error) => {
                tracing::warn!(camera = %self.camera.id, %error, "no landmark model: no liveness over tracks");
            }
        }
        self
    }

    /// What the ended tracks leave: evidence crops (when on), then unknown faces' embeddings.
    fn ended(&mut self, ended: Vec<crate::tracking::EndedTrack>) -> Vec<Observation> {
        let mut said: Vec<Observation> = match &mut self.evidence {
            Some(keeper) => ended
                .iter()
                .filter_map(|t| keeper.take(t))
                .map(Observation::Evidence)
                .collect(),
            None => Vec::new(),
        };
        said.extend(unknown_summaries(ended));
        said
    }

    /// Where this camera has looked for faces so far.
    pub fn gating_stats(&self) -> crate::vision::gating::GatingStats {
        self.gating.stats()
    }

    /// Runs until the recording ends, `stop` is set, or the pipeline is gone.
    pub fn run(&mut self, out: &SyncSender<Observation>, stop: &AtomicBool) {
        let id = self.camera.id.clone();
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let send = |o: Observation| out.send(o).is_ok();
        while !stop.load(Ordering::Relaxed) {
            match self.source.next_frame() {
                Ok(Some(frame)) => {
                    backoff.reset();
                    for observation in self.look(&frame) {
                        if !send(observation) {
                            return;
                        }
                    }
                }
                Ok(None) => {
                    for observation in {
                        let all = self.tracker.end_all();
                        self.ended(all)
                    } {
                        if !send(observation) {
                            return;
                        }
                    }
                    self.log_gating();
                    let _ = send(Observation::Ended { camera: id });
                    return;
                }
                Err(SourceError::BadFrame { why, .. }) => {
                    tracing::warn!(camera = %id, why, "frame skipped");
                }
                Err(error @ SourceError::Unavailable { .. }) => {
                    tracing::warn!(camera = %id, %error, "camera unavailable");
                    if let Some(status) = self.watch.no_frame(Timestamp::now())
                        && !send(Observation::Camera(status))
                    {
                        return;
                    }
                    let wait = backoff.next_delay();
                    let until = std::time::Instant::now() + wait;
                    while std::time::Instant::now() < until && !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(100).min(wait));
                    }
                    if let Err(error) = self.source.reopen() {
                        tracing::debug!(camera = %id, %error, "reopen failed");
                    }
                }
            }
        }
    }

    /// Where the faces were looked for, in total (at the end of a recording).
    fn log_gating(&self) {
        let g = self.gating.stats();
        tracing::info!(
            camera = %self.camera.id,
            frames = g.frames,
            full_frames = g.full_frames,
            full_pyramids = g.full_pyramids,
            windows = g.windows,
            refined = g.refined,
            moved = g.moved,
            "where faces were looked for"
        );
    }

    /// Everything one frame says.
    fn look(&mut self, frame: &Frame) -> Vec<Observation> {
        let started = std::time::Instant::now();
        let (said, looked) = self.look_inner(frame);
        let (tracks, state) = (self.tracker.live_tracks() as u32, self.watch.state());
        self.stats.update(&self.camera.id, |c| {
            c.frames_looked += u64::from(looked);
            c.busy += started.elapsed();
            c.tracks = tracks;
            c.state = state;
        });
        said
    }

    /// [`CameraWorker::look`]'s work; also whether the faces were looked for (not skipped by the
    /// frame-rate cap).
    fn look_inner(&mut self, frame: &Frame) -> (Vec<Observation>, bool) {
        let mut said = Vec::new();
        let at = frame.captured_at;
        if let Some(m) = self.measurer.measure(frame.view()) {
            if let Some(status) = self.watch.frame(at, &m) {
                tracing::info!(camera = %self.camera.id, state = ?status.state, since = %status.since, "camera state");
                said.push(Observation::Camera(status));
            }
            self.save_reference();
        }
        let tick = Observation::Tick {
            camera: self.camera.id.clone(),
            at,
            position: frame.position,
        };
        if let (Some(max_fps), Some(last)) = (self.camera.max_fps, self.last_looked_at) {
            let gap_ms = (1000.0 / max_fps) as i64;
            if at.millis() - last.millis() < gap_ms {
                said.push(tick);
                return (said, false);
            }
        }
        self.last_looked_at = Some(at);
        let blind = matches!(
            self.watch.state(),
            Some(CameraState::Obstructed | CameraState::Frozen)
        );
        if blind {
            // No sighting may come from a covered lens or a stuck stream; tracks age out.
            self.tracker.update(at, Vec::new());
        } else if let Err(error) = self.follow_faces(frame) {
            tracing::warn!(camera = %self.camera.id, %error, "face pipeline failed on a frame");
            self.tracker.update(at, Vec::new());
        } else {
            let (seats, roi) = (&self.camera.seats, self.camera.roi);
            let seat_of = |face: &FaceBox| {
                let (x, y) = centre_in_frame(frame, roi, face);
                seat_at(seats, x, y).cloned()
            };
            said.extend(
                self.tracker
                    .sightings_seated(seat_of)
                    .into_iter()
                    .map(Observation::Sighting),
            );
        }
        let ended = self.tracker.take_ended();
        said.extend(self.ended(ended));
        said.push(tick);
        (said, true)
    }

    /// Detection, tracking and recognition on one frame.
    fn follow_faces(&mut self, frame: &Frame) -> Result<(), DetectorError> {
        let view = match self.camera.roi {
            Some(roi) => crop(frame, roi, &mut self.roi_pixels),
            None => frame.view(),
        };
        let at = frame.captured_at;
        let tracked = self.tracker.predicted(at);
        let found = self
            .gating
            .locate(self.engine.detector(), view, at.millis(), &tracked)?;
        let assignments = self.tracker.update(at, found);
        if let Some(model) = &mut self.landmarks {
            for assigned in &assignments {
                if self.tracker.wants_landmarks(assigned.track, at) {
                    let points = model.points68(view, &assigned.face.0)?;
                    self.tracker.record_landmarks(assigned.track, at, &points);
                }
            }
        }
        let gallery = self.gallery.current();
        for assigned in assignments.into_iter().filter(|a| a.wants_recognition) {
            let (face, landmarks) = assigned.face;
            let found = self.engine.recognise(view, face, landmarks)?;
            if self.quality.check(&found.quality).is_err() {
                continue;
            }
            let liveness = self.liveness.live_probability(view, &found.face)?;
            let (person, best_similarity) =
                match gallery.identify(&found.embedding, self.policy, &mut self.scratch) {
                    Identity::Known {
                        person, similarity, ..
                    } => (
                        gallery.people()[person]
                            .parse::<PsnNo>()
                            .ok()
                            .map(|psn| (psn, similarity)),
                        similarity,
                    ),
                    Identity::Unknown { best } => (None, best.unwrap_or(0.0)),
                };
            let recorded = self.tracker.record(
                assigned.track,
                &Recognition {
                    person,
                    best_similarity,
                    liveness,
                    weight: found.quality.weight(),
                },
                &found.embedding,
            );
            // Offered under the key the face now belongs to: after a split, the new track's, so an
            // ended track's crop never shows the next person in the chair.
            if let (Some(key), Some(keeper)) = (recorded, &mut self.evidence) {
                keeper.offer(key, frame.captured_at, view, &found.face);
            }
        }
        Ok(())
    }

    /// Stores the reference view once it has been learnt, so a restart compares with the view the
    /// camera had when it was set up, not with wherever it points now.
    fn save_reference(&mut self) {
        if self.reference_saved {
            return;
        }
        if let Some(reference) = self.watch.reference() {
            match std::fs::write(&self.reference_path, reference) {
                Ok(()) => {
                    tracing::info!(camera = %self.camera.id, path = %self.reference_path.display(), "reference view stored");
                    self.reference_saved = true;
                }
                Err(error) => {
                    tracing::warn!(camera = %self.camera.id, %error, "cannot store the reference view");
                    self.reference_saved = true;
                }
            }
        }
    }
}

/// The embeddings of ended tracks whose verdict is unknown, for their intervals' final reports.
fn unknown_summaries(ended: Vec<crate::tracking::EndedTrack>) -> Vec<Observation> {
    ended
        .into_iter()
        .filter(|t| t.verdict.as_ref().is_some_and(|v| v.person.is_none()))
        .filter_map(|t| {
            let embedding = wardwatch_protocol::FaceEmbedding::try_from(t.embedding?).ok()?;
            Some(Observation::UnknownTrackEnded {
                track: t.id,
                embedding,
            })
        })
        .collect()
}

/// The centre of `face` (found in the region of interest `roi`, or the whole frame) as fractions of the
/// frame's width and height, where seat zones are drawn.
fn centre_in_frame(frame: &Frame, roi: Option<Roi>, face: &FaceBox) -> (f64, f64) {
    let (x0, y0) = roi.map_or((0, 0), |r| {
        (
            (r.x as usize).min(frame.width),
            (r.y as usize).min(frame.height),
        )
    });
    let at = |origin: usize, low: f32, high: f32, size: usize| {
        (origin as f64 + f64::from(low + high) / 2.0) / size.max(1) as f64
    };
    (
        at(x0, face.x1, face.x2, frame.width),
        at(y0, face.y1, face.y2, frame.height),
    )
}

/// The region of interest of `frame`, clipped to the frame, copied into `buffer`.
fn crop<'a>(frame: &Frame, roi: Roi, buffer: &'a mut Vec<u8>) -> RgbView<'a> {
    let x0 = (roi.x as usize).min(frame.width);
    let y0 = (roi.y as usize).min(frame.height);
    let w = (roi.width as usize).min(frame.width - x0);
    let h = (roi.height as usize).min(frame.height - y0);
    buffer.clear();
    for row in y0..y0 + h {
        let from = (row * frame.width + x0) * 3;
        buffer.extend_from_slice(&frame.pixels[from..from + w * 3]);
    }
    RgbView {
        width: w,
        height: h,
        data: buffer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_face_found_in_the_region_of_interest_is_placed_on_the_whole_frame() {
        let frame = Frame {
            camera_id: "cam-1".parse().expect("camera"),
            captured_at: Timestamp::from_millis(1_790_000_000_000).expect("time"),
            position: 0,
            width: 1000,
            height: 500,
            pixels: Vec::new(),
        };
        let face = FaceBox {
            x1: 80.0,
            y1: 40.0,
            x2: 120.0,
            y2: 60.0,
            score: 0.99,
        };
        assert_eq!(centre_in_frame(&frame, None, &face), (0.1, 0.1));
        let roi = Roi {
            x: 500,
            y: 200,
            width: 400,
            height: 300,
        };
        assert_eq!(centre_in_frame(&frame, Some(roi), &face), (0.6, 0.5));
    }
}
