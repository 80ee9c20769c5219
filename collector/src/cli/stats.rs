//! `stats`: what the collector holds — events by kind, devices, gaps, duplicates, quarantine.

use super::args::StoreArgs;
use crate::store::stats::render_table;
use clap::Args;

/// `stats` options.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Prints the counts.
pub async fn run(args: StatsArgs) -> anyhow::Result<()> {
    let stats = args
        .store
        .with_store(async |store| Ok(store.stats().await?))
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print!("{}", render_table(&stats));
    }
    Ok(())
}
