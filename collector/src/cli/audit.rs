//! `audit verify`: walks the hash chains of the audit log and the access log
//! ([`crate::store::log_chain`]), prints each log's head and every row removed, inserted or altered, and
//! fails when anything is wrong — including a head published earlier (`--expect`) that the chain no
//! longer runs through.

use super::args::StoreArgs;
use crate::store::log_chain::{ChainHead, ChainReport, ChainedLog};
use clap::{Args, Subcommand};

/// `audit` options.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Checks that no row of the audit log (flag_events) or the access log (access_log) was removed,
    /// inserted or altered; prints both chain heads. Exits non-zero when anything is wrong.
    Verify {
        /// A chain head published earlier (a 扣费明细 file's footer, the quarterly analysis), e.g.
        /// `audit:42:9f86d0…`: the chain must still run through it. May be given several times.
        #[arg(long = "expect", value_name = "LOG:SEQ:HASH")]
        expect: Vec<ChainHead>,
    },
}

/// The report of one log as text: the verdict, the head, then each problem.
pub fn render(report: &ChainReport) -> String {
    let mut out = format!(
        "{}: {} rows, {}\n  head {}\n",
        report.log,
        report.rows,
        match report.problems.len() {
            0 => "chain intact".to_owned(),
            1 => "1 problem".to_owned(),
            n => format!("{n} problems"),
        },
        report.head
    );
    for problem in &report.problems {
        out.push_str(&format!("  - {problem}\n"));
    }
    out
}

/// Runs an `audit` subcommand.
pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let AuditArgs { store, command } = args;
    let AuditCommand::Verify { expect } = command;
    let reports = store
        .with_store(async |store| {
            let mut reports = Vec::new();
            for log in ChainedLog::ALL {
                reports.push(store.verify_log(log, &expect).await?);
            }
            Ok(reports)
        })
        .await?;
    for report in &reports {
        print!("{}", render(report));
    }
    let problems: usize = reports.iter().map(|r| r.problems.len()).sum();
    if problems > 0 {
        anyhow::bail!(
            "the logs failed verification: {problems} problem{} (listed above)",
            if problems == 1 { "" } else { "s" }
        );
    }
    if !expect.is_empty() {
        println!(
            "every held head ({}) is on its chain",
            expect
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}
