//! The producing half of the agent: source → presence → spool, on a blocking thread.
//!
//! Two kinds of input: the cameras' observations ([`crate::cameras`]: sightings, camera states, clock
//! ticks) or a replay of recorded sightings. Either way the input is taken in batches; the presence
//! reports and camera states a batch causes are sealed and committed to the spool together with a
//! [`Checkpoint`] (where each input stands + open intervals) in one durable transaction. A restart
//! therefore resumes exactly where the last commit left off.

use crate::cameras::{self, CamerasError, Observation};
use crate::clock::ClockWatch;
use crate::config::AgentConfig;
use crate::gallery::SharedGallery;
use crate::heartbeat::Heartbeat;
use crate::presence::PresenceTracker;
use crate::seal::Sealer;
use crate::sources::config::SourceConfig;
use crate::sources::replay::{ReplayCursor, ReplayError, ReplaySource};
use crate::spool::{Spool, SpoolError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;
use wardwatch_protocol::{CameraId, Payload};

/// Sightings read per spool commit (one fsync per batch).
const BATCH_SIGHTINGS: usize = 512;
/// When pacing a replay, commit at least this often.
const MAX_PACED_BATCH: std::time::Duration = std::time::Duration::from_millis(100);

/// The pipeline's resumable state, committed with every batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Where the replay source stands.
    #[serde(default)]
    pub source: ReplayCursor,
    /// Where each camera's recording stands (the next frame), for cameras that replay a recording.
    #[serde(default)]
    pub cameras: BTreeMap<CameraId, u64>,
    /// Intervals still open.
    pub presence: PresenceTracker,
}

/// The producer stopped on an error.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The spool failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The source failed.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The cameras could not start.
    #[error(transparent)]
    Cameras(#[from] CamerasError),
    /// The stored checkpoint is not readable by this build.
    #[error("the spool's pipeline checkpoint is unreadable: {0}")]
    Checkpoint(String),
}

/// What one producer run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerSummary {
    /// Sightings processed.
    pub sightings: u64,
    /// Camera-state changes reported.
    pub camera_states: u64,
    /// Events sealed and spooled.
    pub events: u64,
    /// Source lines skipped as invalid.
    pub skipped_lines: u64,
    /// True when the source reached its end (false: stopped early).
    pub finished: bool,
}

/// Runs the producer until the source ends or `stop` is set; announces each new tip on `tip`. The
/// cameras match faces against `gallery`.
pub fn run_producer(
    config: &AgentConfig,
    spool: &Spool,
    sealer: &Sealer,
    tip: &watch::Sender<u64>,
    gallery: &SharedGallery,
    stop: &Arc<AtomicBool>,
) -> Result<ProducerSummary, PipelineError> {
    let mut checkpoint = match spool.checkpoint()? {
        Some(bytes) => serde_json::from_slice::<Checkpoint>(&bytes)
            .map_err(|e| PipelineError::Checkpoint(e.to_string()))?,
        None => Checkpoint {
            source: ReplayCursor::default(),
            cameras: BTreeMap::new(),
            presence: PresenceTracker::new(config.ward_kind, &config.presence),
        },
    };
    checkpoint
        .presence
        .reconfigure(config.ward_kind, &config.presence);
    tip.send_replace(spool.tip()?.seq);
    let sink = Sink {
        config,
        spool,
        sealer,
        tip,
    };
    match &config.source {
        Some(SourceConfig::Replay {
            path,
            max_rate_per_sec,
        }) => run_replay(&sink, path, *max_rate_per_sec, checkpoint, stop),
        None => run_cameras(&sink, checkpoint, gallery, stop),
    }
}

/// Where the producer's output goes: sealed into the spool, the new tip announced.
struct Sink<'a> {
    config: &'a AgentConfig,
    spool: &'a Spool,
    sealer: &'a Sealer,
    tip: &'a watch::Sender<u64>,
}

impl Sink<'_> {
    /// Seals and stores `payloads` with `checkpoint`, keeps the spool within its disk budget, and
    /// announces the new tip. Returns how many events were sealed.
    fn commit(
        &self,
        payloads: Vec<Payload>,
        checkpoint: &Checkpoint,
    ) -> Result<u64, PipelineError> {
        let Sink {
            config,
            spool,
            sealer,
            tip,
        } = self;
        let mut sealed = payloads.len() as u64;
        let bytes =
            serde_json::to_vec(checkpoint).map_err(|e| PipelineError::Checkpoint(e.to_string()))?;
        let mut new_tip = spool.commit(sealer, payloads, &bytes)?;
        let budget = config.spool_max_mib.saturating_mul(1024 * 1024);
        if let Some(dropped) = spool.enforce_budget(sealer, budget)? {
            tracing::warn!(
                dropped = dropped.events.len(),
                first = dropped.events.first().map(|d| d.seq),
                last = dropped.events.last().map(|d| d.seq),
                budget_mib = config.spool_max_mib,
                "spool over its disk budget: oldest presence checkpoints dropped"
            );
            sealed += 1;
            new_tip = spool.tip()?;
        }
        tip.send_replace(new_tip.seq);
        Ok(sealed)
    }
}

/// Observations taken per spool commit at most.
const BATCH_OBSERVATIONS: usize = 2048;
/// How long a batch waits for more observations before it is committed.
const BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// The cameras' observations → presence → spool, with heartbeats and clock checks, until every
/// recording has ended or `stop` is set.
fn run_cameras(
    sink: &Sink<'_>,
    mut checkpoint: Checkpoint,
    gallery: &SharedGallery,
    stop: &Arc<AtomicBool>,
) -> Result<ProducerSummary, PipelineError> {
    let (config, spool) = (sink.config, sink.spool);
    let workers = cameras::start(config, &checkpoint.cameras, gallery.clone(), stop.clone())?;
    let sources = config
        .cameras
        .iter()
        .map(|c| (c.id.clone(), c.source.kind()))
        .collect();
    let mut heartbeat = Heartbeat::new(
        std::time::Duration::from_secs(config.health.interval_secs),
        sources,
    );
    let mut clock = ClockWatch::default();
    tracing::info!(
        cameras = workers.count(),
        open_intervals = checkpoint.presence.open_intervals(),
        "cameras started"
    );
    let mut summary = ProducerSummary::default();
    let mut ended = 0usize;
    let mut disconnected = false;
    loop {
        let mut payloads = Vec::new();
        let mut moved = false;
        let deadline = std::time::Instant::now() + BATCH_WAIT;
        for _ in 0..BATCH_OBSERVATIONS {
            let wait = deadline.saturating_duration_since(std::time::Instant::now());
            let observation = match workers.observations.recv_timeout(wait) {
                Ok(o) => o,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    disconnected = true;
                    break;
                }
            };
            match observation {
                Observation::Sighting(sighting) => {
                    summary.sightings += 1;
                    payloads.extend(
                        checkpoint
                            .presence
                            .observe_on_camera(&sighting)
                            .into_iter()
                            .map(Payload::Presence),
                    );
                }
                Observation::Camera(status) => {
                    summary.camera_states += 1;
                    payloads.push(Payload::Camera(status));
                }
                Observation::Tick {
                    camera,
                    at,
                    position,
                } => {
                    payloads.extend(
                        checkpoint
                            .presence
                            .close_idle_on(&camera, at)
                            .into_iter()
                            .map(Payload::Presence),
                    );
                    if checkpoint.cameras.get(&camera) != Some(&position) {
                        checkpoint.cameras.insert(camera, position);
                        moved = true;
                    }
                }
                Observation::UnknownTrackEnded { track, embedding } => {
                    checkpoint.presence.attach_embedding(&track, embedding);
                }
                Observation::Evidence(crop) => payloads.push(Payload::Evidence(crop)),
                Observation::Ended { camera } => {
                    ended += 1;
                    payloads.extend(
                        checkpoint
                            .presence
                            .close_camera(&camera)
                            .into_iter()
                            .map(Payload::Presence),
                    );
                }
            }
        }
        if let Some(jump) = clock.check() {
            tracing::warn!(jump_ms = jump.jump_ms, "the system clock jumped");
            payloads.push(Payload::Clock(jump));
        }
        if heartbeat.due() {
            payloads.push(Payload::Health(heartbeat.beat(
                spool.depth()?,
                gallery.version(),
                workers.stats.snapshot(),
            )));
        }
        if moved || !payloads.is_empty() {
            summary.events += sink.commit(payloads, &checkpoint)?;
        }
        if ended >= workers.count() || disconnected {
            summary.finished = ended >= workers.count();
            break;
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    workers.join();
    Ok(summary)
}

/// Recorded sightings → presence → spool, until the file ends or `stop` is set.
fn run_replay(
    sink: &Sink<'_>,
    path: &std::path::Path,
    max_rate_per_sec: Option<f64>,
    mut checkpoint: Checkpoint,
    stop: &Arc<AtomicBool>,
) -> Result<ProducerSummary, PipelineError> {
    let pace = max_rate_per_sec.map(|rate| std::time::Duration::from_secs_f64(1.0 / rate));
    let started = std::time::Instant::now();
    let mut source = ReplaySource::open(path, checkpoint.source)?;
    if checkpoint.source.offset > 0 {
        tracing::info!(
            line = checkpoint.source.line,
            open_intervals = checkpoint.presence.open_intervals(),
            "resuming the replay from the spool checkpoint"
        );
    }
    let mut summary = ProducerSummary::default();
    loop {
        let mut payloads = Vec::new();
        let mut at_end = false;
        let batch_started = std::time::Instant::now();
        for _ in 0..BATCH_SIGHTINGS {
            if pace.is_some() && batch_started.elapsed() >= MAX_PACED_BATCH {
                break;
            }
            match source.next_sighting()? {
                Some(sighting) => {
                    summary.sightings += 1;
                    if let Some(pace) = pace {
                        // Sleep until this sighting's slot (batches are cut short below so that
                        // events are not held back while pacing).
                        let due = pace.mul_f64(summary.sightings as f64);
                        if let Some(wait) = due.checked_sub(started.elapsed()) {
                            std::thread::sleep(wait);
                        }
                    }
                    payloads.extend(
                        checkpoint
                            .presence
                            .observe(&sighting)
                            .into_iter()
                            .map(Payload::Presence),
                    );
                }
                None => {
                    at_end = true;
                    break;
                }
            }
        }
        if at_end {
            payloads.extend(
                checkpoint
                    .presence
                    .close_all()
                    .into_iter()
                    .map(Payload::Presence),
            );
        }
        let moved = source.cursor() != checkpoint.source;
        checkpoint.source = source.cursor();
        if moved || !payloads.is_empty() {
            summary.events += sink.commit(payloads, &checkpoint)?;
        }
        if at_end {
            summary.finished = true;
            break;
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    summary.skipped_lines = source.skipped();
    Ok(summary)
}
