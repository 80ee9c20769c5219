//! `wardwatch-agent run`: wires the pipeline (source → presence → spool) to the publisher and runs
//! them until told to stop, or, with `exit_when_drained`, until the source has ended and the collector
//! has acknowledged everything.

use crate::config::AgentConfig;
use crate::device_key::{self, KeyError};
use crate::gallery::{GalleryKeeper, SharedGallery};
use crate::pipeline::{self, PipelineError, ProducerSummary};
use crate::publish::{self, PublishError, PublishSettings};
use crate::seal::Sealer;
use crate::spool::{Spool, SpoolError};
use crate::vision::manifest::{Manifest, Role};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use wardwatch_protocol::Timestamp;

/// The agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The device key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The spool.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The producing pipeline.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The publisher.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The gallery keeper could not be set up.
    #[error("bureau gallery: {0}")]
    Gallery(String),
    /// A task panicked or was cancelled.
    #[error("agent task failed: {0}")]
    Task(String),
}

/// How a run ends.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Exit once the source has ended and every event is acknowledged by the collector.
    pub exit_when_drained: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// The producer's counts.
    pub produced: ProducerSummary,
    /// The last acknowledged seq.
    pub acked: u64,
    /// The chain tip.
    pub tip: u64,
}

/// The keeper of the bureau's galleries, with the last good one in force, when the configuration pins
/// the bureau's key and the box has cameras.
fn gallery_keeper(
    config: &AgentConfig,
    shared: &SharedGallery,
) -> Result<Option<GalleryKeeper>, RunError> {
    let Some(bureau) = config.gallery.bureau_public_key.clone() else {
        return Ok(None);
    };
    if config.cameras.is_empty() {
        return Ok(None);
    }
    let manifest = Manifest::load(&config.recognition.manifest_path())
        .map_err(|e| RunError::Gallery(e.to_string()))?;
    let entry = manifest
        .role(Role::Recogniser)
        .ok_or_else(|| RunError::Gallery("the model manifest has no recogniser".into()))?;
    let model = entry
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dims = entry.recogniser.as_ref().map_or(512, |r| r.embedding_size);
    let mut keeper = GalleryKeeper::new(
        bureau,
        config.institution_code.clone(),
        (model, dims),
        config.spool_dir.join("gallery.json"),
        shared.clone(),
    );
    match keeper.load_stored(Timestamp::now()) {
        Ok(Some(version)) => tracing::info!(version, "bureau gallery in force"),
        Ok(None) => tracing::info!("no bureau gallery stored yet"),
        Err(e) => tracing::error!(error = %e, "the stored bureau gallery is refused"),
    }
    Ok(Some(keeper))
}

/// Checks each gallery the publisher receives and swaps the good ones in.
async fn take_galleries(
    keeper: Option<GalleryKeeper>,
    mut received: tokio::sync::mpsc::Receiver<Vec<u8>>,
) {
    let keeper = keeper.map(|k| Arc::new(std::sync::Mutex::new(k)));
    while let Some(bytes) = received.recv().await {
        let Some(keeper) = keeper.clone() else {
            tracing::warn!(
                bytes = bytes.len(),
                "a gallery arrived but [gallery] bureau_public_key is not configured: refused"
            );
            continue;
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let mut keeper = match keeper.lock() {
                Ok(k) => k,
                Err(poisoned) => poisoned.into_inner(),
            };
            keeper.offer(&bytes, Timestamp::now())
        })
        .await;
        match outcome {
            Ok(Ok(version)) => tracing::info!(version, "new bureau gallery in force"),
            Ok(Err(refused)) => {
                tracing::warn!(reason = %refused, "gallery refused; the one in force stays")
            }
            Err(e) => tracing::error!(error = %e, "gallery check failed"),
        }
    }
}

/// Runs the agent until `shutdown` turns true (or until drained, see [`RunOptions`]).
pub async fn run(
    config: AgentConfig,
    options: RunOptions,
    shutdown: watch::Receiver<bool>,
) -> Result<RunSummary, RunError> {
    let (key, created) = device_key::load_or_create(&config.key_file)?;
    if created {
        tracing::info!(
            path = %config.key_file.display(),
            public_key = %device_key::public_key(&key),
            "created a new device key; register its public key at the collector"
        );
    }
    let sealer = Sealer::new(
        key,
        config.device_id.clone(),
        config.institution_code.clone(),
    )
    .in_test_mode(config.test_mode);
    if config.test_mode {
        tracing::warn!(
            "test mode: every event is marked as test data; a collector refuses it from a box \
             registered for production"
        );
    }
    let spool = Arc::new(Spool::open(&config.spool_dir)?);
    let tip0 = spool.tip()?;
    tracing::info!(
        device = %config.device_id,
        tip = tip0.seq,
        acked = spool.acked()?,
        "spool opened"
    );

    if let Some(addr) = config.metrics.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| RunError::Task(format!("metrics: cannot listen on {addr}: {e}")))?;
        tokio::spawn(crate::metrics::serve(
            listener,
            spool.clone(),
            shutdown.clone(),
        ));
    }

    let (tip_tx, tip_rx) = watch::channel(tip0.seq);
    let (acked_tx, mut acked_rx) = watch::channel(0u64);
    let (stop_publisher_tx, stop_publisher_rx) = watch::channel(false);
    let stop_producer = Arc::new(AtomicBool::new(false));

    let settings = PublishSettings {
        device_id: config.device_id.clone(),
        institution_code: config.institution_code.clone(),
        client_id: config.client_id(),
        url: config.broker.url.clone(),
        tls: config.broker.tls_files(),
        keep_alive: Duration::from_secs(config.broker.keep_alive_secs.max(5)),
        resend_after: config.broker.resend_after(),
        window: config.broker.window,
        ack_keys: config.broker.ack_public_key.clone(),
    };
    let gallery = SharedGallery::default();
    let (gallery_tx, gallery_rx) = tokio::sync::mpsc::channel(1);
    let keeper = gallery_keeper(&config, &gallery)?;
    tokio::spawn(take_galleries(keeper, gallery_rx));
    let publisher = tokio::spawn(publish::run_publisher(
        settings,
        spool.clone(),
        tip_rx,
        acked_tx,
        gallery_tx,
        stop_publisher_rx,
    ));

    let producer = {
        let spool = spool.clone();
        let stop = stop_producer.clone();
        let config = config.clone();
        let gallery = gallery.clone();
        tokio::task::spawn_blocking(move || {
            pipeline::run_producer(&config, &spool, &sealer, &tip_tx, &gallery, &stop)
        })
    };

    let mut shutdown = shutdown;
    let mut producer = Some(producer);
    let mut produced = ProducerSummary::default();
    let mut publisher = publisher;
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() { break; }
            }
            result = async { producer.as_mut().expect("polled only while running").await }, if producer.is_some() => {
                producer = None;
                produced = result.map_err(|e| RunError::Task(e.to_string()))??;
                tracing::info!(
                    sightings = produced.sightings,
                    events = produced.events,
                    skipped_lines = produced.skipped_lines,
                    "source finished"
                );
            }
            _ = acked_rx.changed() => {}
            result = &mut publisher => {
                // The publisher only ends on its own on an error.
                result.map_err(|e| RunError::Task(e.to_string()))??;
                return Err(RunError::Task("publisher stopped".into()));
            }
        }
        if options.exit_when_drained && producer.is_none() && *acked_rx.borrow() >= spool.tip()?.seq
        {
            tracing::info!(
                acked = *acked_rx.borrow(),
                "everything acknowledged by the collector"
            );
            break;
        }
    }

    stop_producer.store(true, Ordering::Relaxed);
    if let Some(producer) = producer {
        produced = producer
            .await
            .map_err(|e| RunError::Task(e.to_string()))??;
    }
    stop_publisher_tx.send_replace(true);
    publisher
        .await
        .map_err(|e| RunError::Task(e.to_string()))??;
    Ok(RunSummary {
        produced,
        acked: spool.acked()?,
        tip: spool.tip()?.seq,
    })
}
