//! `export`: 扣费明细 (monthly deduction detail) and the quarterly analysis (季度分析), read from the
//! store and then written as files (see [`crate::exports`]).

use super::args::StoreArgs;
use crate::exports::deductions::{DeductionQuery, deduction_files};
use crate::exports::period::{Month, Quarter};
use crate::exports::quarterly::quarterly_file;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use wardwatch_protocol::InstitutionCode;
use wardwatch_protocol::private_file;

/// `export` options.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// What to export.
    #[command(subcommand)]
    pub command: ExportCommand,
}

/// `export` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// 扣费明细: per institution, the fee lines of flags refused (拒付) or recovered (追回) in the month,
    /// as `扣费明细_<month>_<code>.xlsx` and `.csv` (UTF-8 with BOM).
    Deductions {
        /// The month the flags were handled in, e.g. 2026-11.
        #[arg(long)]
        month: Month,
        /// Only this institution.
        #[arg(long)]
        institution: Option<InstitutionCode>,
        /// The zone of the month and of the times written.
        #[arg(long, default_value = "Asia/Shanghai")]
        timezone: chrono_tz::Tz,
        /// Where to write the files (created if missing).
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// 季度分析: the quarter's flags by institution, category, region, rule and amount band (XLSX).
    Quarterly {
        /// The quarter the flags were raised in, e.g. 2026-Q4.
        #[arg(long)]
        quarter: Quarter,
        /// The zone of the quarter.
        #[arg(long, default_value = "Asia/Shanghai")]
        timezone: chrono_tz::Tz,
        /// The XLSX file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs an `export` subcommand: reads what to write, closes the store, writes the files (mode 0600).
pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let ExportArgs { store, command } = args;
    let files = store
        .with_store(async |store| to_write(store, command).await)
        .await?;
    for (path, bytes) in &files {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        // Patients' names and fee lines: readable by the bureau's account only, like the database.
        private_file::rewrite_private(path)
            .map_err(anyhow::Error::from)
            .and_then(|mut file| Ok(file.write_all(bytes)?))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}

/// The files to write: path and content.
async fn to_write(
    store: &crate::store::Store,
    command: ExportCommand,
) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    Ok(match command {
        ExportCommand::Deductions {
            month,
            institution,
            timezone,
            out_dir,
        } => {
            let query = DeductionQuery {
                month,
                zone: timezone,
                institution: institution.map(String::from),
            };
            let rows = store.deduction_rows(&query).await?;
            let heads = store.chain_heads().await?;
            let files = deduction_files(month, timezone, &rows, &heads)?;
            if files.is_empty() {
                let whose = query
                    .institution
                    .map_or(String::new(), |code| format!(" for {code}"));
                println!(
                    "{month} 无扣费 no deductions{whose}: no flag was refused (拒付) or recovered (追回) \
                     in that month ({timezone}); nothing written"
                );
            }
            files
                .into_iter()
                .map(|file| (out_dir.join(&file.name), file.bytes))
                .collect()
        }
        ExportCommand::Quarterly {
            quarter,
            timezone,
            out,
        } => {
            let report = store.quarterly_report(quarter, timezone).await?;
            println!(
                "{quarter}: {} flags raised, {} institutions, 阳性率 {}",
                report.summary.raised,
                report.by_institution.len(),
                report
                    .summary
                    .positive_rate()
                    .map_or("-".to_owned(), |r| format!("{:.1}%", r * 100.0))
            );
            vec![(out, quarterly_file(&report)?.bytes)]
        }
    })
}
