//! The `wardwatch-agent` command line (also reachable as `wardwatch agent …`).

use crate::config::AgentConfig;
use crate::device_key;
use crate::run::{RunOptions, run};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use wardwatch_link::process::shutdown_signal;

/// WardWatch ward-box agent: sightings in, signed presence events out to the bureau's broker.
#[derive(Debug, Parser)]
#[command(name = "wardwatch-agent", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Agent subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: source → presence → spool → broker, until Ctrl-C/SIGTERM.
    Run {
        /// The agent's TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
        /// Exit once the source has ended and the collector has acknowledged every event.
        #[arg(long)]
        exit_when_drained: bool,
    },
    /// Validate a configuration file and say exactly what is wrong with it.
    Check {
        /// The agent's TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the device's public key (creating the key on first use) for `wardwatch-collector devices add`.
    Key {
        /// The agent's TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// Executes one agent command.
pub async fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Check { config } => {
            let loaded = AgentConfig::load(&config)?;
            println!(
                "{}: OK (device {} at {}, {} ward, broker {})",
                config.display(),
                loaded.device_id,
                loaded.institution_code,
                loaded.ward_kind.as_str(),
                loaded.broker.url
            );
            Ok(())
        }
        Command::Key { config } => {
            let loaded = AgentConfig::load(&config)?;
            let (key, created) = device_key::load_or_create(&loaded.key_file)?;
            if created {
                eprintln!("created a new device key in {}", loaded.key_file.display());
            }
            println!("{}", device_key::public_key(&key));
            Ok(())
        }
        Command::Run {
            config,
            exit_when_drained,
        } => {
            let loaded = AgentConfig::load(&config)?;
            let summary = run(loaded, RunOptions { exit_when_drained }, shutdown_signal())
                .await
                .context("agent stopped")?;
            tracing::info!(
                sightings = summary.produced.sightings,
                events = summary.produced.events,
                tip = summary.tip,
                acked = summary.acked,
                "agent stopped"
            );
            Ok(())
        }
    }
}
