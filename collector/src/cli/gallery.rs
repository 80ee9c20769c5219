//! `gallery`: importing enrolled embeddings, counting them, and signing and publishing each
//! institution's gallery once (see [`crate::gallery`]).

use super::args::{StoreArgs, TlsArgs};
use crate::gallery::publish::{self, GalleryOptions};
use crate::gallery::removal::Removal;
use crate::signing_keys::{self, KeyRole};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use wardwatch_link::BrokerUrl;
use wardwatch_protocol::{InstitutionCode, PsnNo, SigningKey};

/// `gallery` options.
#[derive(Debug, Args)]
pub struct GalleryArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: GalleryCommand,
}

/// `gallery` subcommands.
#[derive(Debug, Subcommand)]
pub enum GalleryCommand {
    /// Import embeddings from JSON Lines (`{"fixmedins_code", "psn_no", "model", "embedding": [...]}` a
    /// line). Bad lines are reported with their number; good ones kept; re-importing changes nothing.
    Import {
        /// The file.
        file: PathBuf,
    },
    /// Count enrolled embeddings per institution.
    List,
    /// Sign each institution's gallery with the bureau key and publish it, retained, to each of its
    /// registered ward boxes (a new version only when the content changed).
    Publish(Box<PublishArgs>),
    /// Remove a patient from an institution's gallery on request (PIPL): delete every enrolment
    /// embedding of the person there and record the deletion (who, when, whom, why) in the access log.
    /// `serve --bureau-key` then publishes the next version without the person to the institution's
    /// boxes (or run `gallery publish`).
    Remove(RemoveArgs),
}

/// `gallery remove` options.
#[derive(Debug, Clone, Args)]
pub struct RemoveArgs {
    /// The institution that enrolled the person (定点医药机构编号).
    #[arg(long)]
    pub institution: InstitutionCode,
    /// The insured person (人员编号).
    #[arg(long)]
    pub psn_no: PsnNo,
    /// Who carries out the removal (recorded in the access log).
    #[arg(long)]
    pub by: String,
    /// Why: the request's reference and ground (recorded in the access log).
    #[arg(long)]
    pub reason: String,
}

/// `gallery publish` options.
#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    /// The broker (mqtt://host:port or mqtts://host:port).
    #[arg(long)]
    pub broker_url: BrokerUrl,
    /// MQTT client id for this one-off connection.
    #[arg(long, default_value = "wardwatch-collector-gallery")]
    pub client_id: String,
    /// TLS files for an mqtts:// broker.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// What to sign and send.
    #[command(flatten)]
    pub gallery: SigningArgs,
}

/// Which gallery to sign, with which key.
#[derive(Debug, Clone, Args)]
pub struct SigningArgs {
    /// The bureau's signing key (`bureau-key init`).
    #[arg(long)]
    pub bureau_key: PathBuf,
    /// The recogniser whose embeddings are published.
    #[arg(long, default_value = "fr_feature")]
    pub gallery_model: String,
    /// Days an enrolment counts from the person's first enrolment.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub valid_days: u32,
    /// Only this institution (repeatable; default every institution with registered devices).
    #[arg(long = "institution")]
    pub institutions: Vec<InstitutionCode>,
}

impl SigningArgs {
    /// The bureau key and the publication options.
    pub fn load(&self) -> anyhow::Result<(SigningKey, GalleryOptions)> {
        let key = signing_keys::load(&self.bureau_key, KeyRole::Gallery)?;
        Ok((
            key,
            GalleryOptions {
                model: self.gallery_model.clone(),
                valid_days: self.valid_days,
                institutions: self.institutions.clone(),
            },
        ))
    }
}

/// Runs a `gallery` subcommand.
pub async fn run(args: GalleryArgs) -> anyhow::Result<()> {
    let GalleryArgs { store, command } = args;
    match command {
        GalleryCommand::Publish(args) => {
            let prepared = store
                .with_store(async |store| {
                    let (key, options) = args.gallery.load()?;
                    Ok(publish::prepare(store, &key, &options).await?)
                })
                .await?;
            let tls = args.tls.files();
            let sent = publish::send(&args.broker_url, &tls, &args.client_id, &prepared).await?;
            for p in &prepared {
                println!(
                    "{}\tversion {}{}\t{} persons\t{} device(s)",
                    p.gallery.institution_code,
                    p.gallery.version,
                    if p.new_version { " (new)" } else { "" },
                    p.gallery.entries.len(),
                    p.devices.len()
                );
            }
            println!(
                "{sent} gallery message(s) acknowledged by {}",
                args.broker_url
            );
        }
        GalleryCommand::Import { file } => {
            let report = store
                .with_store(async |store| {
                    let reader = std::fs::File::open(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    Ok(store
                        .import_gallery(std::io::BufReader::new(reader))
                        .await?)
                })
                .await?;
            println!(
                "{}: {} lines: {} new, {} already enrolled, {} refused",
                file.display(),
                report.lines,
                report.new,
                report.existing,
                report.refused.len()
            );
            for (line, why) in &report.refused {
                println!("  line {line}: {why}");
            }
            anyhow::ensure!(
                report.refused.is_empty(),
                "{} line(s) refused; the others were imported",
                report.refused.len()
            );
        }
        GalleryCommand::Remove(args) => {
            let removal = Removal {
                institution: args.institution,
                psn_no: args.psn_no,
                by: args.by,
                role: "operator".into(),
                reason: args.reason,
                method: "CLI".into(),
                path: "gallery remove".into(),
            };
            let removed = store
                .with_store(async |store| Ok(store.remove_from_gallery(&removal).await?))
                .await?;
            println!(
                "{}\t{}\t{} enrolment embedding(s) removed; recorded in the access log; \
                 `serve --bureau-key` publishes the next gallery version without this person (or run \
                 `gallery publish`)",
                removal.institution, removal.psn_no, removed.embeddings
            );
        }
        GalleryCommand::List => {
            let enrolled = store
                .with_store(async |store| Ok(store.gallery().await?))
                .await?;
            let mut counts = BTreeMap::<(String, String), (u64, BTreeSet<String>)>::new();
            for e in enrolled {
                let entry = counts.entry((e.fixmedins_code, e.model)).or_default();
                entry.0 += 1;
                entry.1.insert(e.psn_no);
            }
            for ((institution, model), (embeddings, people)) in counts {
                println!(
                    "{institution}\t{model}\t{} persons\t{embeddings} embeddings",
                    people.len()
                );
            }
        }
    }
    Ok(())
}
