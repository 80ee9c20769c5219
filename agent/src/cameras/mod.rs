//! Cameras: one worker thread per `[[camera]]` turns its frames into observations — sightings of
//! tracked faces, camera-state changes, and ticks of the camera's clock — for the pipeline's presence
//! stage. A frame travels: [`crate::sources`] → [`worker`] (tamper checks, detection, tracking,
//! recognition of a few frames per track, liveness, gallery, the seat zone of each face) → [`Observation`]s
//! on a bounded channel.

pub mod config;
pub mod seats;
pub mod stats;
pub mod worker;

use crate::config::AgentConfig;
pub use crate::gallery::SharedGallery;
use crate::sighting::Sighting;
use crate::sources::config::CameraSource;
use crate::sources::folder::FolderSource;
use crate::sources::rtsp::RtspSource;
use crate::sources::{FrameSource, SourceError};
use crate::vision::gallery_file::{GalleryFileError, read_gallery};
use crate::vision::manifest::{Manifest, ManifestError, Role};
use crate::vision::matcher::Gallery;
use crate::vision::single_pass::DetectorError;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, sync_channel};
use wardwatch_protocol::{CameraId, CameraStatus, Timestamp};
use worker::CameraWorker;

/// Observations waiting for the pipeline, across all cameras, before workers block.
const CHANNEL_DEPTH: usize = 256;

/// What a camera worker tells the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// A tracked face on a frame.
    Sighting(Sighting),
    /// The camera changed state.
    Camera(CameraStatus),
    /// The camera's clock reached `at` (a frame was looked at); `position` is where its source stands
    /// (recordings: the next frame's index), committed so a restart resumes there.
    Tick {
        /// The camera.
        camera: CameraId,
        /// The frame's capture time.
        at: Timestamp,
        /// The source's position after the frame.
        position: u64,
    },
    /// An unknown face's track ended: its average embedding goes into its interval's final report.
    UnknownTrackEnded {
        /// The track's id (the interval's person).
        track: wardwatch_protocol::TrackId,
        /// The average of its embeddings.
        embedding: wardwatch_protocol::FaceEmbedding,
    },
    /// A face crop the operator asked for (`[evidence]`).
    Evidence(wardwatch_protocol::EvidenceCrop),
    /// The camera's recording ended (live cameras never end).
    Ended {
        /// The camera.
        camera: CameraId,
    },
}

/// The cameras could not be started.
#[derive(Debug, thiserror::Error)]
pub enum CamerasError {
    /// The model manifest.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A model.
    #[error(transparent)]
    Models(#[from] DetectorError),
    /// The gallery file.
    #[error(transparent)]
    Gallery(#[from] GalleryFileError),
    /// A source (a recording's folder, say).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A thread could not be started.
    #[error("cannot start the worker thread of camera {camera}: {error}")]
    Thread {
        /// The camera.
        camera: CameraId,
        /// Why.
        error: std::io::Error,
    },
}

/// The running workers.
pub struct Cameras {
    /// Observations from every camera.
    pub observations: Receiver<Observation>,
    /// What each worker has done lately.
    pub stats: stats::StatsBoard,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Cameras {
    /// How many cameras run.
    pub fn count(&self) -> usize {
        self.handles.len()
    }

    /// Waits for every worker to finish (after the stop flag was set).
    pub fn join(self) {
        drop(self.observations);
        for handle in self.handles {
            if handle.join().is_err() {
                tracing::error!("a camera worker panicked");
            }
        }
    }
}

/// A camera's frame source; `resume_at` is where a recording resumes (live cameras ignore it). A
/// live camera that cannot be reached yet still opens: it is reported offline until it answers.
pub fn open_source(
    camera: &CameraId,
    source: &CameraSource,
    resume_at: u64,
) -> Result<Box<dyn FrameSource>, SourceError> {
    let unusable = |why: String| SourceError::Unavailable {
        camera: camera.clone(),
        why,
    };
    Ok(match source {
        CameraSource::Folder { path, start, fps } => Box::new(FolderSource::open(
            camera.clone(),
            path,
            *start,
            *fps,
            resume_at,
        )?),
        CameraSource::Rtsp { .. } => {
            let endpoint = source
                .rtsp_endpoint()
                .unwrap_or_else(|| Err("is not an RTSP source".into()))
                .map_err(|why| unusable(format!("RTSP url {why}")))?;
            Box::new(RtspSource::open(camera.clone(), endpoint)?)
        }
        #[cfg(feature = "usb")]
        CameraSource::Usb {
            device,
            width,
            height,
            fps,
        } => Box::new(crate::sources::usb::UsbSource::open(
            camera.clone(),
            crate::sources::usb::UsbSettings {
                device: device.clone(),
                width: *width,
                height: *height,
                fps: *fps,
            },
        )?),
        #[cfg(not(feature = "usb"))]
        CameraSource::Usb { device, .. } => {
            return Err(unusable(format!(
                "{device} is a USB camera, but this agent was built without the `usb` feature"
            )));
        }
    })
}

/// Loads the models once per camera and starts a worker for each `[[camera]]`, each resuming its
/// source at `positions` (recordings) and matching against `gallery` (filled from the local gallery
/// file when no bureau gallery is in force); workers stop when `stop` is set.
pub fn start(
    config: &AgentConfig,
    positions: &BTreeMap<CameraId, u64>,
    gallery: SharedGallery,
    stop: Arc<AtomicBool>,
) -> Result<Cameras, CamerasError> {
    let manifest = Manifest::load(&config.recognition.manifest_path())?;
    let dims = manifest
        .role(Role::Recogniser)
        .and_then(|e| e.recogniser.as_ref())
        .map_or(512, |r| r.embedding_size);
    if gallery.version().is_none() {
        let local = match &config.recognition.gallery {
            Some(path) => read_gallery(path, dims)?,
            None => Gallery::new(dims),
        };
        gallery.replace(local, None);
    }
    tracing::info!(
        enrolled = gallery.current().people().len(),
        bureau_version = ?gallery.version(),
        "gallery in force"
    );
    let (tx, rx) = sync_channel(CHANNEL_DEPTH);
    let board = stats::StatsBoard::default();
    let mut handles = Vec::new();
    for camera in &config.cameras {
        let resume_at = positions.get(&camera.id).copied().unwrap_or(0);
        let source = open_source(&camera.id, &camera.source, resume_at)?;
        let worker = CameraWorker::new(
            camera.clone(),
            source,
            &manifest,
            &config.recognition,
            gallery.clone(),
            config
                .spool_dir
                .join(format!("camera-{}.reference", camera.id)),
        )?
        .report_to(board.clone())
        .with_evidence(&config.evidence)
        .with_track_liveness(&manifest, &config.presence.liveness);
        let (tx, stop) = (tx.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name(format!("camera-{}", camera.id))
            .spawn(move || {
                let mut worker = worker;
                worker.run(&tx, &stop);
            })
            .map_err(|error| CamerasError::Thread {
                camera: camera.id.clone(),
                error,
            })?;
        handles.push(handle);
    }
    Ok(Cameras {
        observations: rx,
        stats: board,
        handles,
    })
}
