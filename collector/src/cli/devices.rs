//! `devices`: registering ward boxes (their id, institution and public key), listing them with
//! their connection state, revoking a stolen or retired box, and replacing a box's key with its
//! history kept (see [`crate::store::lifecycle`]).

use super::args::StoreArgs;
use crate::store::devices::{AddOutcome, Device, DevicePurpose};
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
        /// A box for tests and demos: its test-mode events (replay and folder sources) are
        /// accepted. Without it the box is a production ward box, whose test data is refused.
        #[arg(long)]
        for_tests: bool,
    },
    /// Change what a registered box is for: `--purpose production` when a test box goes into a
    /// ward (its test data refused from then on), `--purpose tests` when it leaves.
    SetPurpose {
        /// Device id.
        #[arg(long)]
        id: DeviceId,
        /// `production` or `tests`.
        #[arg(long, value_parser = parse_purpose)]
        purpose: DevicePurpose,
    },
    /// List registered devices.
    List,
    /// Revoke a device (stolen, lost, retired): events it seals from --from on are quarantined as
    /// `device_revoked`. Also revoke its certificate (`ca revoke`) and publish the CRL (`ca crl`).
    Revoke {
        /// Device id.
        #[arg(long)]
        id: DeviceId,
        /// From when (RFC 3339, e.g. 2026-12-05T08:00:00Z); default now.
        #[arg(long)]
        from: Option<Timestamp>,
        /// Why (kept with the revocation).
        #[arg(long)]
        reason: String,
    },
    /// Replace a device's key (a replaced box, a re-keyed one) for events sealed from --from on; events
    /// sealed before stay verified with the old key.
    RotateKey {
        /// Device id.
        #[arg(long)]
        id: DeviceId,
        /// The new Ed25519 public key (`wardwatch-agent key`), 64 hex characters.
        #[arg(long)]
        pubkey: PublicKey,
        /// From when (RFC 3339); default now.
        #[arg(long)]
        from: Option<Timestamp>,
    },
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
                    for_tests,
                } => {
                    let purpose = if for_tests {
                        DevicePurpose::Tests
                    } else {
                        DevicePurpose::Production
                    };
                    let device = Device {
                        device_id: id.clone(),
                        institution_code: institution,
                        public_key: pubkey,
                        purpose,
                    };
                    match store.add_device(&device).await? {
                        AddOutcome::Added => {
                            println!("registered device {id} ({})", purpose.as_str())
                        }
                        AddOutcome::Unchanged => println!("device {id} was already registered"),
                    }
                }
                DevicesCommand::SetPurpose { id, purpose } => {
                    if !store.set_device_purpose(&id, purpose).await? {
                        anyhow::bail!("device {id} is not registered (devices add)");
                    }
                    println!("device {id} is now registered for {}", purpose.as_str());
                }
                DevicesCommand::Revoke { id, from, reason } => {
                    let from = from.unwrap_or_else(Timestamp::now);
                    let revoked = store.revoke_device(&id, from, &reason).await?;
                    let from = Timestamp::from_millis(revoked.from_ms).unwrap_or(from);
                    println!(
                        "device {id} revoked from {from}: events it seals from then on are refused \
                         (device_revoked); revoke its certificate too: wardwatch-collector ca revoke"
                    );
                }
                DevicesCommand::RotateKey { id, pubkey, from } => {
                    let from = from.unwrap_or_else(Timestamp::now);
                    store.rotate_device_key(&id, &pubkey, from).await?;
                    println!(
                        "device {id}: key {pubkey} from {from}; events sealed before stay checked \
                         against the old key"
                    );
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
                            "{}\t{}\t{}\t{}\t{state}",
                            d.device_id,
                            d.institution_code,
                            d.public_key,
                            d.purpose.as_str()
                        );
                    }
                }
            }
            Ok(())
        })
        .await
}

/// `--purpose`: `production` or `tests`.
fn parse_purpose(text: &str) -> Result<DevicePurpose, String> {
    match text {
        "production" => Ok(DevicePurpose::Production),
        "tests" => Ok(DevicePurpose::Tests),
        other => Err(format!("{other:?}: expected production or tests")),
    }
}
