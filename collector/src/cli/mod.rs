//! The `wardwatch-collector` commands (also reachable as `wardwatch collector …`). This module holds
//! the command tree and the dispatch; each command family owns its arguments, its `run` and its output
//! in its own module, and every command that needs the database opens it through
//! [`StoreArgs::with_store`](args::StoreArgs::with_store).
//!
//! | module | commands |
//! |---|---|
//! | [`args`] | what several commands share: storage, TLS files, API settings |
//! | [`serve`] | `serve` (runs [`crate::serve`]) |
//! | [`devices`] | `devices add`, `devices list` |
//! | [`stats`] | `stats` |
//! | [`import`] | `import settlements` |
//! | [`knowledge`] | `knowledge show`, `knowledge import` |
//! | [`rules`] | `rules run`, `rules show`, `rules import`, `rules stats`, `rules jobs` |
//! | [`gallery`] | `gallery import`, `gallery list`, `gallery publish` |
//! | [`calibrate`] | `calibrate` |
//! | [`signing_key`] | `bureau-key init`, `bureau-key show`, `ack-key init`, `ack-key show` |
//! | [`institutions`] | `institutions import`, `institutions list` |
//! | [`export`] | `export deductions`, `export quarterly` |
//! | [`users`] | `users add`, `users list`, `users disable` |
//! | [`api`] | `api` |
//! | [`audit`] | `audit verify` |
//! | [`ca`] | `ca init`, `ca issue-device`, `ca issue-server`, `ca issue-client`, `ca revoke`, `ca crl` |
//! | [`broker`] | `broker` |
//! | [`backup`] | `backup`, `restore` |
//! | [`retention`] | `retention run`, `retention log` |

pub mod api;
pub mod args;
pub mod audit;
pub mod backup;
pub mod broker;
pub mod ca;
pub mod calibrate;
pub mod devices;
pub mod export;
pub mod gallery;
pub mod import;
pub mod institutions;
pub mod knowledge;
pub mod progress;
pub mod retention;
pub mod rules;
pub mod serve;
pub mod signing_key;
pub mod stats;
pub mod users;

use crate::signing_keys::KeyRole;
use clap::{Parser, Subcommand};

/// WardWatch collector: verifies and stores the agents' presence events.
#[derive(Debug, Parser)]
#[command(name = "wardwatch-collector", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log lines as `text` or `json` (one object per line, for a log shipper), on stderr.
    #[arg(long, global = true, default_value = "text")]
    pub log_format: wardwatch_link::process::LogFormat,
}

/// Collector subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest events from the broker until Ctrl-C/SIGTERM. Without --broker-url, starts the embedded broker.
    Serve(Box<serve::ServeArgs>),
    /// Manage registered devices.
    Devices(Box<devices::DevicesArgs>),
    /// Print counts: events by kind, devices, gaps, duplicates, quarantined by reason.
    Stats(stats::StatsArgs),
    /// Import records exported from the national medical-insurance platform.
    Import(import::ImportArgs),
    /// The knowledge base (知识库): which billed items imply presence.
    Knowledge(knowledge::KnowledgeArgs),
    /// The rules (规则库): cross-match billed sessions with presence and raise flags.
    Rules(rules::RulesArgs),
    /// The gallery of enrolled faces (embeddings per institution and insured person).
    Gallery(gallery::GalleryArgs),
    /// Thresholds from the bureau's own people: FMR/FNMR of labelled enrolment photos against labelled
    /// camera captures (embedded by `wardwatch-agent embed --folder`) and the `similarity_threshold` and
    /// `margin` to set for a target false-match rate.
    Calibrate(calibrate::CalibrateArgs),
    /// The bureau's gallery-signing key (Ed25519): make it once, pin its public half on every ward box
    /// (`[gallery] bureau_public_key`).
    BureauKey(signing_key::KeyArgs),
    /// The collector's ack-signing key (Ed25519): make it once, pin its public half on every ward box
    /// (`[broker] ack_public_key`); `serve --ack-key` signs every ack with it.
    AckKey(signing_key::KeyArgs),
    /// The institutions registry (定点医药机构): names, categories (机构类别) and regions (医保区划).
    Institutions(institutions::InstitutionsArgs),
    /// Exports: 扣费明细 (monthly deduction detail) and the quarterly analysis (季度分析).
    Export(export::ExportArgs),
    /// The JSON API's users (令牌 tokens for auditors, admins and institutions).
    Users(users::UsersArgs),
    /// Serve the JSON API (/api/v1) until Ctrl-C/SIGTERM: plain HTTP, put it behind a TLS reverse proxy.
    Api(api::ApiArgs),
    /// The bureau's certificate authority for mutual TLS: make it, then issue the broker's, the
    /// collectors' and each ward box's certificate.
    Ca(ca::CaArgs),
    /// Run only the embedded MQTT broker (for single-box set-ups and tests).
    Broker(broker::BrokerArgs),
    /// The tamper-evident logs: `audit verify` checks the hash chains of the audit log and the access
    /// log and prints their heads.
    Audit(audit::AuditArgs),
    /// A consistent copy of the SQLite store, safe while serving (PostgreSQL: pg_dump, deploy/README.md).
    Backup(backup::BackupArgs),
    /// Place a `backup` file as a new data dir's database, after checking it.
    Restore(backup::RestoreArgs),
    /// Retention (PIPL): delete personal data past its period, and list what was deleted.
    Retention(retention::RetentionArgs),
}

/// Executes one collector command.
pub async fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Devices(args) => devices::run(*args).await,
        Command::Stats(args) => stats::run(args).await,
        Command::Import(args) => import::run(args).await,
        Command::Knowledge(args) => knowledge::run(args).await,
        Command::Rules(args) => rules::run(args).await,
        Command::Gallery(args) => gallery::run(args).await,
        Command::Calibrate(args) => calibrate::run(args),
        Command::BureauKey(args) => signing_key::run(args, KeyRole::Gallery),
        Command::AckKey(args) => signing_key::run(args, KeyRole::Ack),
        Command::Institutions(args) => institutions::run(args).await,
        Command::Export(args) => export::run(args).await,
        Command::Users(args) => users::run(args).await,
        Command::Api(args) => api::run(args).await,
        Command::Ca(args) => ca::run(args),
        Command::Broker(args) => broker::run(args).await,
        Command::Audit(args) => audit::run(args).await,
        Command::Backup(args) => backup::run_backup(args).await,
        Command::Restore(args) => backup::run_restore(args).await,
        Command::Retention(args) => retention::run(args).await,
    }
}
