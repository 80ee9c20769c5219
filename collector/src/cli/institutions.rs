//! `institutions`: registering institutions (定点医药机构) from a CSV file and listing them (see
//! [`crate::institutions`]).

use super::args::StoreArgs;
use crate::institutions::read_registry;
use crate::settlement::source::EncodingChoice;
use crate::store::Store;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

/// `institutions` options.
#[derive(Debug, Args)]
pub struct InstitutionsArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: InstitutionsCommand,
}

/// `institutions` subcommands.
#[derive(Debug, Subcommand)]
pub enum InstitutionsCommand {
    /// Register institutions from a CSV file (UTF-8 or GB18030) with the header
    /// fixmedins_code,fixmedins_name,category,admdvs,region_name or
    /// 定点医药机构编号,定点医药机构名称,机构类别,医保区划,区划名称. Bad rows are reported with row,
    /// column and reason; good rows are kept; re-importing updates. Exits non-zero when a row was refused.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Text encoding.
        #[arg(long, value_enum, default_value_t = EncodingChoice::Auto)]
        encoding: EncodingChoice,
    },
    /// List the registered institutions.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `institutions` subcommand.
pub async fn run(args: InstitutionsArgs) -> anyhow::Result<()> {
    let InstitutionsArgs { store, command } = args;
    store
        .with_store(async |store| match command {
            InstitutionsCommand::Import { file, encoding } => import(store, &file, encoding).await,
            InstitutionsCommand::List { json } => {
                let institutions = store.institutions().await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&institutions)?);
                } else {
                    println!("定点医药机构编号\t定点医药机构名称\t机构类别\t医保区划\t区划名称");
                    for i in &institutions {
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            i.fixmedins_code,
                            i.fixmedins_name,
                            i.category,
                            i.admdvs,
                            i.region_name.as_deref().unwrap_or("")
                        );
                    }
                    println!("{} institution(s) registered", institutions.len());
                }
                Ok(())
            }
        })
        .await
}

/// `institutions import`.
async fn import(store: &Store, file: &Path, encoding: EncodingChoice) -> anyhow::Result<()> {
    let parsed = read_registry(file, encoding)?;
    let update = store.register_institutions(&parsed.institutions).await?;
    println!(
        "{}: {} rows: {} added, {} updated, {} unchanged, {} refused",
        file.display(),
        parsed.rows_read,
        update.added,
        update.updated,
        update.unchanged,
        parsed.problems.len()
    );
    if !parsed.ignored_columns.is_empty() {
        println!("  ignored columns: {}", parsed.ignored_columns.join(", "));
    }
    for problem in &parsed.problems {
        println!(
            "  row {}, column {}: {}",
            problem.row, problem.column, problem.reason
        );
    }
    anyhow::ensure!(
        parsed.problems.is_empty(),
        "{} row(s) refused; every other row was registered",
        parsed.problems.len()
    );
    Ok(())
}
