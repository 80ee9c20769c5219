//! `bureau-key`: the bureau's gallery-signing key (Ed25519), made once; its public half is pinned on
//! every ward box.

use clap::{Args, Subcommand};
use std::path::PathBuf;
use wardwatch_protocol::{PublicKey, key_file};

/// `bureau-key` options.
#[derive(Debug, Args)]
pub struct BureauKeyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: BureauKeyCommand,
}

/// `bureau-key` subcommands.
#[derive(Debug, Subcommand)]
pub enum BureauKeyCommand {
    /// Create the key file (mode 0600; never overwrites) and print its public key.
    Init {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Print the public key of an existing key file.
    Show {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
    },
}

/// Runs a `bureau-key` subcommand.
pub fn run(args: BureauKeyArgs) -> anyhow::Result<()> {
    match args.command {
        BureauKeyCommand::Init { key } => {
            let made = key_file::create(&key)?;
            println!(
                "bureau key created in {} (mode 0600; back it up offline). Pin this public key \
                 on every ward box as [gallery] bureau_public_key:\n{}",
                key.display(),
                PublicKey::of(&made)
            );
        }
        BureauKeyCommand::Show { key } => {
            println!("{}", PublicKey::of(&key_file::load(&key)?));
        }
    }
    Ok(())
}
