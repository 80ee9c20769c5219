//! `backup` and `restore`: a consistent copy of the SQLite store while the collector serves, and that
//! copy placed as a new data dir's database (see [`crate::store::backup`]). PostgreSQL is refused with
//! the pg_dump procedure to follow instead.

use super::args::StoreArgs;
use crate::store::backup::restore;
use clap::Args;
use std::path::PathBuf;

/// `backup` options.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The backup file to write (must not exist; created with mode 0600).
    #[arg(long)]
    pub to: PathBuf,
}

/// `restore` options.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file written by `backup`.
    #[arg(long)]
    pub from: PathBuf,
    /// The new data dir to restore into (must not hold a database).
    #[arg(long)]
    pub data_dir: PathBuf,
}

/// Runs `backup`.
pub async fn run_backup(args: BackupArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let bytes = args
        .store
        .with_store(async |store| Ok(store.backup_to(&args.to).await?))
        .await?;
    println!(
        "backup written to {} ({:.1} MiB in {:.1} s; integrity checked)",
        args.to.display(),
        bytes as f64 / (1024.0 * 1024.0),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs `restore`.
pub async fn run_restore(args: RestoreArgs) -> anyhow::Result<()> {
    let path = restore(&args.from, &args.data_dir).await?;
    println!(
        "restored {} as {}; start the collector with --data-dir {}",
        args.from.display(),
        path.display(),
        args.data_dir.display()
    );
    Ok(())
}
