//! `wardwatch demo`: the spine end to end on one machine, with nothing to install.
//!
//! Starts the embedded broker on a free loopback port and the collector on SQLite in
//! `DATA_DIR/demo/`, creates an agent (key, config, spool) next to it, registers the agent's key,
//! replays the bundled haemodialysis morning (`demo/sightings.jsonl`) through the real agent until the
//! collector has acknowledged every event, then prints what arrived and where to look.

use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;
use wardwatch_agent::config::AgentConfig;
use wardwatch_agent::device_key;
use wardwatch_agent::run::{RunOptions, run as run_agent};
use wardwatch_collector::broker::{free_loopback_addr, start_embedded};
use wardwatch_collector::ingest::{IngestSettings, run_ingest};
use wardwatch_collector::store::devices::Device;
use wardwatch_collector::store::{Store, StoreLocation};

/// The bundled sample: a synthetic haemodialysis morning (see demo/make_sightings.py).
const SAMPLE_SIGHTINGS: &str = include_str!("../demo/sightings.jsonl");
const DEMO_DEVICE: &str = "demo-hd-box1";
const DEMO_INSTITUTION: &str = "H43060200175";

/// `demo` options.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Parent data directory; the demo (re)creates DATA_DIR/demo and nothing else.
    #[arg(long, default_value = "./wardwatch-data")]
    data_dir: PathBuf,
}

fn agent_config_text(broker: &str) -> String {
    format!(
        r#"# Written by `wardwatch demo`.
device_id = "{DEMO_DEVICE}"
institution_code = "{DEMO_INSTITUTION}"
ward_kind = "haemodialysis"
key_file = "device.key"
spool_dir = "spool"

[broker]
url = "{broker}"
resend_after_secs = 5

[presence]
close_after_secs = 120
min_samples = 3
checkpoint_secs = 1800

[source]
kind = "replay"
path = "sightings.jsonl"
"#
    )
}

fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot clear the previous demo in {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.join("agent"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(())
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.join("demo");
    prepare_dir(&dir)?;
    let agent_dir = dir.join("agent");
    let collector_dir = dir.join("collector");

    let addr = free_loopback_addr().context("no free loopback port")?;
    let broker = start_embedded(addr)?;
    let broker_url = format!("mqtt://{}", broker.addr);

    let store = Store::open(&StoreLocation::DataDir(collector_dir.clone())).await?;
    std::fs::write(agent_dir.join("sightings.jsonl"), SAMPLE_SIGHTINGS)?;
    let config_path = agent_dir.join("agent.toml");
    std::fs::write(&config_path, agent_config_text(&broker_url))?;
    let config = AgentConfig::load(&config_path)?;
    let (key, _) = device_key::load_or_create(&config.key_file)?;
    store
        .add_device(&Device {
            device_id: config.device_id.clone(),
            institution_code: config.institution_code.clone(),
            public_key: device_key::public_key(&key),
        })
        .await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let ingest = tokio::spawn(run_ingest(
        IngestSettings::new(broker_url.parse()?),
        store.clone(),
        stop_rx.clone(),
    ));
    let started = std::time::Instant::now();
    let agent = tokio::time::timeout(
        Duration::from_secs(300),
        run_agent(
            config,
            RunOptions {
                exit_when_drained: true,
            },
            stop_rx,
        ),
    )
    .await
    .context("the demo agent did not drain within 5 minutes")??;
    let elapsed = started.elapsed();
    stop_tx.send_replace(true);
    ingest.await??;

    let stats = store.stats().await?;
    let intervals = store.presence_listing().await?;
    store.close().await;

    println!();
    println!(
        "WardWatch demo — 演示 (embedded broker {broker_url}, SQLite in {})",
        collector_dir.display()
    );
    println!(
        "agent {DEMO_DEVICE}: {} sightings → {} signed events; collector acknowledged up to seq {} in {:.1} s",
        agent.produced.sightings,
        agent.produced.events,
        agent.acked,
        elapsed.as_secs_f64()
    );
    println!();
    print!(
        "{}",
        wardwatch_collector::store::stats::render_table(&stats)
    );
    println!();
    println!("presence intervals 在场区间 (UTC; Beijing time is +8 h):");
    println!(
        "{:<24} {:<6} {:<25} {:<25} {:>7} {:>6} {:>6}",
        "person 人员", "camera", "start 开始", "end 结束", "samples", "median", "live"
    );
    for row in &intervals {
        println!(
            "{:<24} {:<6} {:<25} {:<25} {:>7} {:>6.2} {:>6.2}{}",
            row.person,
            row.camera_id,
            row.start,
            row.end,
            row.samples,
            row.median_similarity,
            row.liveness,
            if row.open { "  (open)" } else { "" }
        );
    }
    println!();
    println!(
        "Look further 查看: cargo run --release -- collector stats --data-dir {}",
        collector_dir.display()
    );
    println!(
        "                   sqlite3 {}",
        collector_dir
            .join(wardwatch_collector::store::SQLITE_FILE)
            .display()
    );
    Ok(())
}
