//! `bureau-key` and `ack-key`: the bureau's two Ed25519 signing keys, each made once, each with its
//! public half pinned on every ward box. The gallery key signs the bureau's galleries (`[gallery]
//! bureau_public_key`); the ack key signs the collector's acks (`[broker] ack_public_key`), which let a
//! box delete events from its spool. Rotating either: make a new key, pin old and new on every box,
//! switch the collector to the new key, then remove the old one from the boxes (README, deploy/).

use crate::signing_keys::KeyRole;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use wardwatch_protocol::{PublicKey, key_file};

/// `bureau-key` / `ack-key` options.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: KeyCommand,
}

/// `bureau-key` / `ack-key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
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

/// Runs a `bureau-key` or `ack-key` subcommand.
pub fn run(args: KeyArgs, role: KeyRole) -> anyhow::Result<()> {
    match args.command {
        KeyCommand::Init { key } => {
            let made = key_file::create(&key)?;
            println!(
                "{} created in {} (mode 0600; back it up offline). Pin this public key on every ward \
                 box as {}:\n{}",
                role.name(),
                key.display(),
                role.pinned_as(),
                PublicKey::of(&made)
            );
        }
        KeyCommand::Show { key } => {
            println!("{}", PublicKey::of(&key_file::load(&key)?));
        }
    }
    Ok(())
}
