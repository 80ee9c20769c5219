//! `devices`: registering ward boxes (their id, institution and public key) and listing them with
//! their connection state.

use super::args::StoreArgs;
use crate::store::devices::{AddOutcome, Device};
use clap::{Args, Subcommand};
use wardwatch_protocol::{DeviceId, InstitutionCode, PublicKey, Timestamp};

/// `devices` options.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// What to do with devices.
    #[command(subcommand)]
    pub command: DevicesCommand,
}

/// `devices` subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process; boxing would only obscure clap's derive
pub enum DevicesCommand {
    /// Register a ward box: its id, its institution, and the public key `wardwatch-agent key` printed.
    Add {
        /// Device id.
        #[arg(long)]
        id: DeviceId,
        /// Institution code (H/P + 11 digits).
        #[arg(long)]
        institution: InstitutionCode,
        /// Ed25519 public key, 64 hex characters.
        #[arg(long)]
        pubkey: PublicKey,
    },
    /// List registered devices.
    List,
}

/// Runs a `devices` subcommand.
pub async fn run(args: DevicesArgs) -> anyhow::Result<()> {
    let DevicesArgs { store, command } = args;
    store
        .with_store(async |store| {
            match command {
                DevicesCommand::Add {
                    id,
                    institution,
                    pubkey,
                } => {
                    let device = Device {
                        device_id: id.clone(),
                        institution_code: institution,
                        public_key: pubkey,
                    };
                    match store.add_device(&device).await? {
                        AddOutcome::Added => println!("registered device {id}"),
                        AddOutcome::Unchanged => println!("device {id} was already registered"),
                    }
                }
                DevicesCommand::List => {
                    let states = store.device_states().await?;
                    for d in store.devices().await? {
                        let state = match states.get(d.device_id.as_str()) {
                            Some((state, since)) => {
                                let since = since
                                    .and_then(Timestamp::from_millis)
                                    .map(|t| format!(" since {t}"))
                                    .unwrap_or_default();
                                format!("{state}{since}")
                            }
                            None => "never connected".to_owned(),
                        };
                        println!(
                            "{}\t{}\t{}\t{state}",
                            d.device_id, d.institution_code, d.public_key
                        );
                    }
                }
            }
            Ok(())
        })
        .await
}
