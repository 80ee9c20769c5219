//! `knowledge`: the knowledge base (知识库) in force, and importing the next version (see
//! [`crate::knowledge`]).

use super::args::StoreArgs;
use crate::knowledge::KnowledgeFile;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `knowledge` options.
#[derive(Debug, Args)]
pub struct KnowledgeArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: KnowledgeCommand,
}

/// `knowledge` subcommands.
#[derive(Debug, Subcommand)]
pub enum KnowledgeCommand {
    /// Print the knowledge in force (the built-in example table until a bureau imports its own).
    Show,
    /// Check a knowledge TOML file and store it as the next version.
    Import {
        /// The file (see collector/knowledge/default.toml for the format).
        file: PathBuf,
    },
}

/// Runs a `knowledge` subcommand.
pub async fn run(args: KnowledgeArgs) -> anyhow::Result<()> {
    let KnowledgeArgs { store, command } = args;
    store
        .with_store(async |store| {
            match command {
                KnowledgeCommand::Show => {
                    let knowledge = store.knowledge().await?;
                    println!("knowledge version {}", knowledge.version);
                    for item in &knowledge.items {
                        println!(
                            "{}\t{}\t{}\t{:?}\t{} min per {:?}",
                            item.hilist_code,
                            item.name_zh,
                            item.ward_kind.as_str(),
                            item.unit,
                            item.min_presence_minutes,
                            item.unit
                        );
                    }
                }
                KnowledgeCommand::Import { file } => {
                    let text = std::fs::read_to_string(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    let parsed = KnowledgeFile::parse(&file.display().to_string(), &text)?;
                    let version = store
                        .import_knowledge(&parsed, &file.display().to_string())
                        .await?;
                    println!(
                        "knowledge version {version} in force ({} items)",
                        parsed.item.len()
                    );
                }
            }
            Ok(())
        })
        .await
}
