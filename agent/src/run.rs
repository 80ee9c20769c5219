//! `wardwatch-agent run`: wires the pipeline (source → presence → spool) to the publisher and runs
//! them until told to stop, or, with `exit_when_drained`, until the source has ended and the collector
//! has acknowledged everything.

use crate::config::AgentConfig;
use crate::device_key::{self, KeyError};
use crate::pipeline::{self, PipelineError, ProducerSummary};
use crate::publish::{self, PublishError, PublishSettings};
use crate::seal::Sealer;
use crate::spool::{Spool, SpoolError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

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
    );
    let spool = Arc::new(Spool::open(&config.spool_dir)?);
    let tip0 = spool.tip()?;
    tracing::info!(
        device = %config.device_id,
        tip = tip0.seq,
        acked = spool.acked()?,
        "spool opened"
    );

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
    };
    let publisher = tokio::spawn(publish::run_publisher(
        settings,
        spool.clone(),
        tip_rx,
        acked_tx,
        stop_publisher_rx,
    ));

    let producer = {
        let spool = spool.clone();
        let stop = stop_producer.clone();
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            pipeline::run_producer(&config, &spool, &sealer, &tip_tx, &stop)
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
