//! `import settlements`: settlement and fee-line exports from the national platform, file by file,
//! with progress on stderr (a bar on a terminal, a line every 100,000 rows otherwise) and each file's report (see [`crate::settlement`]).

use super::args::StoreArgs;
use super::progress::Progress;
use crate::settlement::import::{ImportOptions, ImportReport};
use crate::settlement::source::{EncodingChoice, ReadOptions};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `import` options.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// What to import.
    #[command(subcommand)]
    pub command: ImportCommand,
}

/// `import` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Settlements and fee lines (CSV in UTF-8 or GB18030, XLSX, JSON Lines; platform field names or
    /// Chinese headers). Bad rows are reported with row, column and reason; good rows are kept;
    /// re-importing a file changes nothing. Exits non-zero when any row or file was refused.
    Settlements(Box<SettlementImportArgs>),
}

/// `import settlements` options.
#[derive(Debug, Args)]
pub struct SettlementImportArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The exported files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// XLSX: the sheet to read (default: the first).
    #[arg(long)]
    pub sheet: Option<String>,
    /// CSV text encoding.
    #[arg(long, value_enum, default_value_t = EncodingChoice::Auto)]
    pub encoding: EncodingChoice,
    /// The time zone of the export's local times (an IANA name).
    #[arg(long, default_value = "Asia/Shanghai")]
    pub timezone: chrono_tz::Tz,
}

/// Runs an `import` subcommand.
pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    match args.command {
        ImportCommand::Settlements(args) => settlements(*args).await,
    }
}

async fn settlements(args: SettlementImportArgs) -> anyhow::Result<()> {
    let options = ImportOptions {
        read: ReadOptions {
            sheet: args.sheet.clone(),
            encoding: args.encoding,
        },
        zone: args.timezone,
    };
    let (refused, unreadable) = args
        .store
        .with_store(async |store| {
            let mut refused = 0u64;
            let mut unreadable = 0u64;
            for file in &args.files {
                let started = Instant::now();
                let mut progress = Progress::for_file(file);
                let imported = store
                    .import_file(file, &options, &mut |rows| progress.update(rows))
                    .await;
                progress.finish();
                match imported {
                    Ok(report) => {
                        refused += report.rows_bad;
                        print_report(&report, started.elapsed());
                    }
                    Err(e) => {
                        unreadable += 1;
                        eprintln!("{}: not imported: {e}", file.display());
                    }
                }
            }
            Ok((refused, unreadable))
        })
        .await?;
    if refused > 0 || unreadable > 0 {
        anyhow::bail!(
            "{refused} row(s) refused and {unreadable} file(s) unreadable; everything else was imported"
        );
    }
    Ok(())
}

fn print_report(report: &ImportReport, elapsed: Duration) {
    println!(
        "{}: {} {} — {} rows: {} new, {} already imported, {} refused ({:.1} s)",
        report.file.display(),
        report.format,
        report.kind.as_str(),
        report.rows_read,
        report.rows_new,
        report.rows_existing,
        report.rows_bad,
        elapsed.as_secs_f64()
    );
    if !report.ignored_columns.is_empty() {
        println!("  ignored columns: {}", report.ignored_columns.join(", "));
    }
    // Fee lines: institutions and refunds, in numbers; what the import could use only in part, loudly.
    if let Some(summary) = report.fee_line_summary() {
        println!("  {summary}");
    }
    let warnings = report.warnings();
    if !warnings.is_empty() {
        println!("  {} WARNING(S):", warnings.len());
        for warning in &warnings {
            println!("  WARNING: {warning}");
        }
    }
    for problem in report.problems.iter().take(200) {
        println!(
            "  row {}, column {}: {}",
            problem.row, problem.column, problem.reason
        );
    }
    if report.problems.len() > 200 {
        println!(
            "  … {} more problems (all are in the import_errors table)",
            report.problems.len() - 200
        );
    }
}
