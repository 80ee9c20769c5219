//! `retention run` and `retention log`: applying the configuration's `[retention]` periods now, and
//! what past runs deleted (see [`crate::retention`]).

use super::args::StoreArgs;
use crate::config::CollectorConfig;
use crate::store::now_ms;
use clap::{Args, Subcommand};
use sqlx::Row;
use std::path::PathBuf;

/// `retention` options.
#[derive(Debug, Args)]
pub struct RetentionArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: RetentionCommand,
}

/// `retention` subcommands.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Delete what is past its period in the configuration's [retention] (held: what an open case needs).
    Run {
        /// The collector's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// What past runs deleted, newest first.
    Log,
}

/// Runs a `retention` subcommand.
pub async fn run(args: RetentionArgs) -> anyhow::Result<()> {
    match args.command {
        RetentionCommand::Run { config, json } => {
            let periods = CollectorConfig::load(&config)?.retention.ok_or_else(|| {
                anyhow::anyhow!("{} has no [retention] section", config.display())
            })?;
            let outcomes = args
                .store
                .with_store(async |store| Ok(store.apply_retention(&periods, now_ms()).await?))
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&outcomes)?);
            } else if outcomes.is_empty() {
                println!("no retention period set: nothing deleted");
            }
            if !json {
                for o in &outcomes {
                    println!(
                        "{:<20} {} removed, {} held by open cases",
                        o.data_class, o.rows, o.held
                    );
                }
            }
            Ok(())
        }
        RetentionCommand::Log => {
            let rows = args
                .store
                .with_store(async |store| {
                    Ok(sqlx::query(
                        "SELECT at_ms, data_class, rows, held, detail FROM retention_log \
                         ORDER BY id DESC LIMIT 200",
                    )
                    .fetch_all(store.pool())
                    .await?)
                })
                .await?;
            for row in rows {
                let at: i64 = row.try_get(0)?;
                let when = chrono::DateTime::from_timestamp_millis(at)
                    .map_or(at.to_string(), |t| t.to_rfc3339());
                let class: String = row.try_get(1)?;
                let detail: String = row.try_get(4)?;
                println!("{when}  {class:<20} {detail}");
            }
            Ok(())
        }
    }
}
