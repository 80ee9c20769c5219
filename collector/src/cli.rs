//! The `wardwatch-collector` commands (also reachable as `wardwatch collector …`).

use crate::api::ApiState;
use crate::broker::start_embedded;
use crate::ca::{self, Ca, CaName, CertName, CollectorName, DnsName, Subject};
use crate::exports::deductions::{DeductionQuery, deduction_files};
use crate::exports::period::{Month, Quarter};
use crate::exports::quarterly::quarterly_file;
use crate::gallery_publish::{self, GalleryOptions};
use crate::ingest::{IngestSettings, run_ingest};
use crate::institutions::read_registry;
use crate::knowledge::KnowledgeFile;
use crate::rules::base::RulesFile;
use crate::rules::run_rules;
use crate::settlement::import::{ImportOptions, ImportReport};
use crate::settlement::source::{EncodingChoice, ReadOptions};
use crate::store::devices::{AddOutcome, Device};
use crate::store::{Store, StoreLocation};
use crate::users::{UserRole, UserView};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use wardwatch_link::process::shutdown_signal;
use wardwatch_link::{BrokerUrl, TlsFiles};
use wardwatch_protocol::key_file;
use wardwatch_protocol::{DeviceId, InstitutionCode, PublicKey, SigningKey, Topic};

/// WardWatch collector: verifies and stores the agents' presence events.
#[derive(Debug, Parser)]
#[command(name = "wardwatch-collector", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives: a SQLite data dir (default) or a database URL.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Data directory; the SQLite database is DIR/wardwatch.db.
    #[arg(long, default_value = "./wardwatch-data", global = true)]
    pub data_dir: PathBuf,
    /// A postgres://… URL; overrides --data-dir.
    #[arg(long, env = "WARDWATCH_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// The location these arguments name.
    pub fn location(&self) -> StoreLocation {
        match &self.database_url {
            Some(url) => StoreLocation::Url(url.clone()),
            None => StoreLocation::DataDir(self.data_dir.clone()),
        }
    }

    /// Opens (and migrates) the store.
    pub async fn open(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.location()).await?)
    }
}

/// Collector subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest events from the broker until Ctrl-C/SIGTERM. Without --broker-url, starts the embedded broker.
    Serve(Box<ServeArgs>),
    /// Manage registered devices.
    Devices(Box<DevicesArgs>),
    /// Print counts: events by kind, devices, gaps, duplicates, quarantined by reason.
    Stats {
        /// Storage.
        #[command(flatten)]
        store: StoreArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Import records exported from the national medical-insurance platform.
    Import {
        /// What to import.
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// The knowledge base (知识库): which billed items imply presence.
    Knowledge {
        /// Storage.
        #[command(flatten)]
        store: StoreArgs,
        /// What to do.
        #[command(subcommand)]
        command: KnowledgeCommand,
    },
    /// The rules (规则库): cross-match billed sessions with presence and raise flags.
    Rules {
        /// Storage.
        #[command(flatten)]
        store: StoreArgs,
        /// What to do.
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// The gallery of enrolled faces (embeddings per institution and insured person).
    Gallery {
        /// Storage.
        #[command(flatten)]
        store: StoreArgs,
        /// What to do.
        #[command(subcommand)]
        command: GalleryCommand,
    },
    /// The bureau's gallery-signing key (Ed25519): make it once, pin its public half on every ward box
    /// (`[gallery] bureau_public_key`).
    BureauKey {
        /// What to do.
        #[command(subcommand)]
        command: BureauKeyCommand,
    },
    /// The institutions registry (定点医药机构): names, categories (机构类别) and regions (医保区划).
    Institutions {
        /// Storage.
        #[command(flatten)]
        store: StoreArgs,
        /// What to do.
        #[command(subcommand)]
        command: InstitutionsCommand,
    },
    /// Exports: 扣费明细 (monthly deduction detail) and the quarterly analysis (季度分析).
    Export {
        /// Storage.
        #[command(flatten)]
        store: StoreArgs,
        /// What to export.
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// The JSON API's users (令牌 tokens for auditors, admins and institutions).
    Users {
        /// Storage.
        #[command(flatten)]
        store: StoreArgs,
        /// What to do.
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Serve the JSON API (/api/v1) until Ctrl-C/SIGTERM: plain HTTP, put it behind a TLS reverse proxy.
    Api {
        /// Storage.
        #[command(flatten)]
        store: StoreArgs,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// API settings.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// The bureau's certificate authority for mutual TLS: make it, then issue the broker's, the
    /// collectors' and each ward box's certificate.
    Ca {
        /// What to do.
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Run only the embedded MQTT broker (for single-box set-ups and tests).
    Broker {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:1883")]
        listen: SocketAddr,
    },
}

/// `serve` options.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// An external broker (mqtt://host:port or mqtts://host:port). Default: start the embedded one.
    #[arg(long)]
    pub broker_url: Option<BrokerUrl>,
    /// Where the embedded broker listens (ignored with --broker-url).
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub listen_mqtt: SocketAddr,
    /// MQTT client id; keep it stable (the broker holds the persistent session under it).
    #[arg(long, default_value = "wardwatch-collector")]
    pub client_id: String,
    /// Share the load with other collectors subscribing under this $share group.
    #[arg(long)]
    pub share_group: Option<String>,
    /// Topic filter (default: every device of every institution).
    #[arg(long)]
    pub topic_filter: Option<String>,
    /// TLS files for an mqtts:// broker.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Also serve the JSON API on this address (off by default).
    #[arg(long)]
    pub listen_http: Option<SocketAddr>,
    /// Sign and publish each institution's gallery with this bureau key (`bureau-key init`), at start
    /// and whenever enrolments or devices change (checked every --gallery-every-secs).
    #[arg(long)]
    pub bureau_key: Option<PathBuf>,
    /// The recogniser whose embeddings are published (with --bureau-key).
    #[arg(long, default_value = "fr_feature")]
    pub gallery_model: String,
    /// Days an enrolment counts (with --bureau-key).
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub valid_days: u32,
    /// How often to check for gallery changes (with --bureau-key).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub gallery_every_secs: u64,
    /// API settings (with --listen-http).
    #[command(flatten)]
    pub api: ApiOptions,
}

/// The collector's TLS files for an `mqtts://` broker.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// The CA that signed the broker's certificate (mqtts://).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// The collector's client certificate (mutual TLS).
    #[arg(long)]
    pub cert_file: Option<PathBuf>,
    /// The collector's client key (mutual TLS).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

impl TlsArgs {
    /// As the link crate takes them.
    pub fn files(&self) -> TlsFiles {
        TlsFiles {
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
        }
    }
}

/// JSON API settings.
#[derive(Debug, Clone, Args)]
pub struct ApiOptions {
    /// Days an institution has to appeal once a flag is issued.
    #[arg(long, default_value_t = crate::api::DEFAULT_APPEAL_DAYS, value_parser = clap::value_parser!(i64).range(1..=365))]
    pub appeal_days: i64,
}

impl ApiOptions {
    /// The API state over `store`.
    pub fn state(&self, store: Store) -> ApiState {
        ApiState {
            appeal_days: self.appeal_days,
            ..ApiState::new(store)
        }
    }
}

/// `ca` subcommands. Issued files go to `OUT/{name}.pem`, `OUT/{name}.key` (mode 0600) and
/// `OUT/ca.pem`; nothing is ever overwritten.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Make the bureau CA in DIR: `ca.key` (mode 0600; keep it offline) and the self-signed `ca.pem`.
    Init {
        /// The CA directory (created with mode 0700 if missing).
        #[arg(long)]
        dir: PathBuf,
        /// The CA's common name.
        #[arg(long, default_value = "WardWatch bureau CA")]
        name: CaName,
        /// Days of validity.
        #[arg(long, default_value_t = ca::DEFAULT_CA_DAYS, value_parser = clap::value_parser!(u32).range(1..=36500))]
        days: u32,
    },
    /// A ward box's certificate: CN = the device id, which the broker takes as its MQTT username.
    IssueDevice {
        /// The CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// The device id (as in the agent's configuration and `devices add`).
        #[arg(long)]
        device_id: DeviceId,
        /// The box's institution code (H/P + 11 digits), recorded in the certificate.
        #[arg(long)]
        institution: InstitutionCode,
        /// Where to write the files (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Days of validity (at most the CA's remaining life).
        #[arg(long, default_value_t = ca::DEFAULT_LEAF_DAYS, value_parser = clap::value_parser!(u32).range(1..=36500))]
        days: u32,
    },
    /// The broker's certificate, for the DNS names and IP addresses clients connect to.
    IssueServer {
        /// The CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// A DNS name clients use (repeatable).
        #[arg(long = "dns")]
        dns: Vec<DnsName>,
        /// An IP address clients use (repeatable; needed when connecting by IP).
        #[arg(long = "ip")]
        ip: Vec<std::net::IpAddr>,
        /// The certificate's CN and file name.
        #[arg(long, default_value = "wardwatch-broker")]
        name: CertName,
        /// Where to write the files (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Days of validity (at most the CA's remaining life).
        #[arg(long, default_value_t = ca::DEFAULT_LEAF_DAYS, value_parser = clap::value_parser!(u32).range(1..=36500))]
        days: u32,
    },
    /// A collector's client certificate; its name (CN, the MQTT username) starts with
    /// `wardwatch-collector`, as the broker's ACL expects.
    IssueClient {
        /// The CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// The collector's name, e.g. wardwatch-collector-1.
        #[arg(long)]
        name: CollectorName,
        /// Where to write the files (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Days of validity (at most the CA's remaining life).
        #[arg(long, default_value_t = ca::DEFAULT_LEAF_DAYS, value_parser = clap::value_parser!(u32).range(1..=36500))]
        days: u32,
    },
}

/// Runs a `ca` subcommand and prints what it wrote.
fn certificate_authority(command: CaCommand) -> anyhow::Result<()> {
    let issued = match command {
        CaCommand::Init { dir, name, days } => {
            let made = Ca::init(&dir, &name, days)?;
            println!(
                "CA {:?} created: certificate {} (copy it to the broker and every client), key {} \
                 (mode 0600: keep it offline); valid until {} 00:00 UTC; SHA-256 {}",
                made.common_name,
                made.cert_file.display(),
                made.key_file.display(),
                made.expires,
                made.sha256
            );
            return Ok(());
        }
        CaCommand::IssueDevice {
            dir,
            device_id,
            institution,
            out,
            days,
        } => Ca::open(&dir)?.issue(&Subject::device(device_id, institution)?, days, &out)?,
        CaCommand::IssueServer {
            dir,
            dns,
            ip,
            name,
            out,
            days,
        } => Ca::open(&dir)?.issue(&Subject::server(name, dns, ip)?, days, &out)?,
        CaCommand::IssueClient {
            dir,
            name,
            out,
            days,
        } => Ca::open(&dir)?.issue(&Subject::Collector(name), days, &out)?,
    };
    println!(
        "{}: certificate {}, key {} (mode 0600), CA {}; valid until {} 00:00 UTC; SHA-256 {}",
        issued.common_name,
        issued.cert_file.display(),
        issued.key_file.display(),
        issued.ca_file.display(),
        issued.expires,
        issued.sha256
    );
    Ok(())
}

/// `users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user and print its token once (only its SHA-256 is stored).
    Add {
        /// Unique user name.
        #[arg(long)]
        name: String,
        /// admin, auditor or institution.
        #[arg(long, value_parser = ["admin", "auditor", "institution"])]
        role: String,
        /// For institution users: their fixmedins_code (H/P + 11 digits).
        #[arg(long)]
        institution: Option<String>,
    },
    /// List users (never tokens).
    List,
    /// Disable a user: its token is refused from now on.
    Disable {
        /// The user's name.
        name: String,
    },
}

impl ServeArgs {
    /// Ingest settings for a broker URL.
    pub fn ingest_settings(&self, url: BrokerUrl) -> anyhow::Result<IngestSettings> {
        let mut settings = IngestSettings::new(url);
        settings.client_id = self.client_id.clone();
        settings.share_group = self.share_group.clone();
        if let Some(group) = &settings.share_group
            && (group.is_empty() || group.contains(['/', '+', '#']))
        {
            anyhow::bail!(
                "--share-group {group:?} must be a non-empty name without '/', '+' or '#'"
            );
        }
        if let Some(filter) = &self.topic_filter {
            settings.topic_filter = filter.clone();
        }
        settings.tls = self.tls.files();
        Ok(settings)
    }
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

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Run the rules over fee lines billed from --from (inclusive) to --to (exclusive), local dates.
    /// Repeatable: a finding already flagged is not flagged again.
    Run {
        /// First local date, e.g. 2026-11-01.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Day after the last local date, e.g. 2026-12-01.
        #[arg(long)]
        to: chrono::NaiveDate,
        /// The zone of the local dates and of the billed days.
        #[arg(long, default_value = "Asia/Shanghai")]
        timezone: chrono_tz::Tz,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the rules in force: id, names, enabled, thresholds, version.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a rules TOML file (see collector/rules/default.toml) and store it as the next version.
    Import {
        /// The file.
        file: PathBuf,
    },
    /// Review outcomes per rule: positive rate (阳性率, policy target ≥ 50%) and false-positive rate.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
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
    pub gallery: GalleryArgs,
}

/// Which gallery to sign, with which key.
#[derive(Debug, Clone, Args)]
pub struct GalleryArgs {
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

impl GalleryArgs {
    /// The bureau key and the publication options.
    pub fn load(&self) -> anyhow::Result<(SigningKey, GalleryOptions)> {
        let key = key_file::load(&self.bureau_key)?;
        if let Some(mode) = key_file::loose_mode(&self.bureau_key) {
            tracing::warn!(
                path = %self.bureau_key.display(),
                mode = format!("{mode:o}"),
                "bureau key file is readable by other users; it should be mode 0600"
            );
        }
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

/// `import` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Settlements and fee lines (CSV in UTF-8 or GB18030, XLSX, JSON Lines; platform field names or
    /// Chinese headers). Bad rows are reported with row, column and reason; good rows are kept;
    /// re-importing a file changes nothing. Exits non-zero when any row or file was refused.
    Settlements(Box<SettlementImportArgs>),
}

/// `import settlements` options.
#[derive(Debug, Args)]
pub struct SettlementImportArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The exported files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// XLSX: the sheet to read (default: the first).
    #[arg(long)]
    pub sheet: Option<String>,
    /// CSV text encoding.
    #[arg(long, value_enum, default_value_t = EncodingChoice::Auto)]
    pub encoding: EncodingChoice,
    /// The time zone of the export's local times (an IANA name).
    #[arg(long, default_value = "Asia/Shanghai")]
    pub timezone: chrono_tz::Tz,
}

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

/// Executes one collector command.
pub async fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(*args).await,
        Command::Devices(args) => {
            let DevicesArgs { store, command } = *args;
            let store = store.open().await?;
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
                                    .and_then(wardwatch_protocol::Timestamp::from_millis)
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
            store.close().await;
            Ok(())
        }
        Command::Stats { store, json } => {
            let store = store.open().await?;
            let stats = store.stats().await?;
            store.close().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print!("{}", crate::store::stats::render_table(&stats));
            }
            Ok(())
        }
        Command::Import {
            command: ImportCommand::Settlements(args),
        } => import_settlements(*args).await,
        Command::Knowledge { store, command } => {
            let store = store.open().await?;
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
            store.close().await;
            Ok(())
        }
        Command::Rules {
            store,
            command:
                RulesCommand::Run {
                    from,
                    to,
                    timezone,
                    json,
                },
        } => {
            let store = store.open().await?;
            let bound = |date: chrono::NaiveDate| -> anyhow::Result<i64> {
                use chrono::TimeZone;
                let midnight = date.and_hms_opt(0, 0, 0).context("midnight")?;
                Ok(timezone
                    .from_local_datetime(&midnight)
                    .earliest()
                    .context("local midnight does not exist")?
                    .timestamp_millis())
            };
            anyhow::ensure!(from < to, "--from {from} must be before --to {to}");
            let report = run_rules(&store, timezone, bound(from)?, bound(to)?).await?;
            store.close().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "rules run {from} → {to} (rules v{}, knowledge v{}): {} billed patient-days checked",
                    report.rules_version, report.knowledge_version, report.checked
                );
                for (rule, count) in &report.raised {
                    println!("  new flags {rule}: {count}");
                }
                println!("  already flagged: {}", report.already_raised);
                println!(
                    "  no evidence (camera outage or silent device): {} patient-days, {:.2} yuan",
                    report.no_evidence,
                    report.no_evidence_amount_fen as f64 / 100.0
                );
                if !report.disabled.is_empty() {
                    println!("  disabled rules: {}", report.disabled.join(", "));
                }
                if report.unlinked_lines > 0 {
                    println!(
                        "  fee lines without a settlement (not checked): {}",
                        report.unlinked_lines
                    );
                }
            }
            Ok(())
        }
        Command::Rules {
            store,
            command: RulesCommand::Stats { json },
        } => {
            let store = store.open().await?;
            let stats = store.rule_stats().await?;
            store.close().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
                return Ok(());
            }
            let percent =
                |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.0}%", v * 100.0));
            println!("rule             raised pending positive negative 阳性率 false+");
            for s in &stats {
                println!(
                    "{:<16} {:>6} {:>7} {:>8} {:>8} {:>6} {:>6}{}",
                    s.rule_id,
                    s.raised,
                    s.pending,
                    s.positive,
                    s.negative,
                    percent(s.positive_rate),
                    percent(s.false_positive_rate),
                    if s.positive_rate.is_some_and(|r| r < 0.5) {
                        "  below the 50% target: review its thresholds"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        Command::Rules {
            store,
            command: RulesCommand::Show { json },
        } => {
            let store = store.open().await?;
            let base = store.rules_base().await?;
            store.close().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&base.rules)?);
                return Ok(());
            }
            println!("规则库 rules base version {} — {}", base.version, base.note);
            for rule in &base.rules {
                let d = &rule.definition;
                println!(
                    "{} v{} [{}] {} / {}\n    {}\n    params: {}",
                    d.id,
                    rule.rule_version,
                    if d.enabled {
                        "启用 enabled"
                    } else {
                        "停用 disabled"
                    },
                    d.name_zh,
                    d.name_en,
                    d.scenario,
                    serde_json::to_string(&d.params)?
                );
            }
            Ok(())
        }
        Command::Rules {
            store,
            command: RulesCommand::Import { file },
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let name = file.display().to_string();
            let parsed = RulesFile::parse(&name, &text)?;
            let store = store.open().await?;
            let version = store.import_rules(&parsed, &name, &text).await?;
            store.close().await;
            println!(
                "rules version {version} in force ({} rules)",
                parsed.rule.len()
            );
            Ok(())
        }
        Command::BureauKey { command } => {
            match command {
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
        Command::Gallery { store, command } => {
            let store = store.open().await?;
            match command {
                GalleryCommand::Publish(args) => {
                    let (key, options) = args.gallery.load()?;
                    let prepared = gallery_publish::prepare(&store, &key, &options).await?;
                    store.close().await;
                    let tls = args.tls.files();
                    let sent =
                        gallery_publish::send(&args.broker_url, &tls, &args.client_id, &prepared)
                            .await?;
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
                    let reader = std::fs::File::open(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    let report = store
                        .import_gallery(std::io::BufReader::new(reader))
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
                    store.close().await;
                    anyhow::ensure!(
                        report.refused.is_empty(),
                        "{} line(s) refused; the others were imported",
                        report.refused.len()
                    );
                }
                GalleryCommand::List => {
                    let mut counts = std::collections::BTreeMap::<
                        (String, String),
                        (u64, std::collections::BTreeSet<String>),
                    >::new();
                    for e in store.gallery().await? {
                        let entry = counts.entry((e.fixmedins_code, e.model)).or_default();
                        entry.0 += 1;
                        entry.1.insert(e.psn_no);
                    }
                    store.close().await;
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
        Command::Institutions { store, command } => institutions(store, command).await,
        Command::Export { store, command } => export(store, command).await,
        Command::Users { store, command } => {
            let store = store.open().await?;
            let result = manage_users(&store, command).await;
            store.close().await;
            result
        }
        Command::Api { store, listen, api } => {
            let store = store.open().await?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            crate::api::serve(api.state(store.clone()), listener, shutdown_signal()).await?;
            store.close().await;
            Ok(())
        }
        Command::Ca { command } => certificate_authority(command),
        Command::Broker { listen } => {
            let broker = start_embedded(listen)?;
            println!("embedded MQTT broker listening on {}", broker.addr);
            let mut shutdown = shutdown_signal();
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
            Ok(())
        }
    }
}

async fn institutions(store: StoreArgs, command: InstitutionsCommand) -> anyhow::Result<()> {
    let store = store.open().await?;
    let result = match command {
        InstitutionsCommand::Import { file, encoding } => {
            import_institutions(&store, &file, encoding).await
        }
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
    };
    store.close().await;
    result
}

async fn import_institutions(
    store: &Store,
    file: &std::path::Path,
    encoding: EncodingChoice,
) -> anyhow::Result<()> {
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

async fn export(store: StoreArgs, command: ExportCommand) -> anyhow::Result<()> {
    let store = store.open().await?;
    let files = match command {
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
            let files = deduction_files(month, timezone, &rows)?;
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
    };
    store.close().await;
    let files: Vec<(PathBuf, Vec<u8>)> = files;
    for (path, bytes) in &files {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    let url = match &args.broker_url {
        Some(url) => url.clone(),
        None => {
            let broker = start_embedded(args.listen_mqtt)?;
            format!("mqtt://{}", broker.addr)
                .parse()
                .context("embedded broker address")?
        }
    };
    let settings = args.ingest_settings(url)?;
    tracing::info!(
        broker = %settings.url,
        subscription = %settings.subscription(),
        devices_filter = %Topic::all_devices_filter(),
        "collector serving"
    );
    let shutdown = shutdown_signal();
    let api = match args.listen_http {
        Some(listen) => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let state = args.api.state(store.clone());
            Some(tokio::spawn(crate::api::serve(
                state,
                listener,
                shutdown.clone(),
            )))
        }
        None => None,
    };
    let galleries = match &args.bureau_key {
        Some(bureau_key) => {
            let (key, options) = GalleryArgs {
                bureau_key: bureau_key.clone(),
                gallery_model: args.gallery_model.clone(),
                valid_days: args.valid_days,
                institutions: Vec::new(),
            }
            .load()?;
            Some(tokio::spawn(keep_galleries_published(
                store.clone(),
                key,
                options,
                settings.clone(),
                Duration::from_secs(args.gallery_every_secs),
                shutdown.clone(),
            )))
        }
        None => None,
    };
    run_ingest(settings, store.clone(), shutdown).await?;
    if let Some(api) = api {
        api.await.context("JSON API task")??;
    }
    if let Some(galleries) = galleries {
        galleries.abort();
    }
    store.close().await;
    Ok(())
}

/// Publishes each institution's gallery at start and again whenever its content or its devices change
/// (a failed attempt is retried at the next check).
async fn keep_galleries_published(
    store: Store,
    key: SigningKey,
    options: GalleryOptions,
    settings: IngestSettings,
    every: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let client_id = format!("{}-gallery", settings.client_id);
    let mut sent: std::collections::HashMap<InstitutionCode, (u64, Vec<DeviceId>)> =
        std::collections::HashMap::new();
    loop {
        match gallery_publish::prepare(&store, &key, &options).await {
            Ok(prepared) => {
                let due: Vec<_> = prepared
                    .into_iter()
                    .filter(|p| {
                        sent.get(&p.gallery.institution_code)
                            != Some(&(p.gallery.version, p.devices.clone()))
                    })
                    .collect();
                if !due.is_empty() {
                    match gallery_publish::send(&settings.url, &settings.tls, &client_id, &due)
                        .await
                    {
                        Ok(count) => {
                            for p in due {
                                tracing::info!(
                                    institution = %p.gallery.institution_code,
                                    version = p.gallery.version,
                                    persons = p.gallery.entries.len(),
                                    devices = p.devices.len(),
                                    "gallery published"
                                );
                                sent.insert(
                                    p.gallery.institution_code.clone(),
                                    (p.gallery.version, p.devices),
                                );
                            }
                            tracing::debug!(messages = count, "galleries acknowledged");
                        }
                        Err(error) => tracing::warn!(%error, "galleries not published; will retry"),
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "galleries not prepared; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => if *shutdown.borrow() { return; },
        }
    }
}

async fn manage_users(store: &Store, command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Add {
            name,
            role,
            institution,
        } => {
            let role = UserRole::from_parts(&role, institution.as_deref())?;
            let token = store.add_user(&name, &role).await?;
            eprintln!("user {name} created; its token is shown only this once:");
            println!("{token}");
        }
        UsersCommand::List => {
            for user in store.users().await? {
                let view = UserView::from(&user);
                println!(
                    "{}\t{}\t{}\t{}",
                    view.name,
                    view.role,
                    view.fixmedins_code.as_deref().unwrap_or("-"),
                    if view.disabled { "disabled" } else { "enabled" }
                );
            }
        }
        UsersCommand::Disable { name } => {
            store.disable_user(&name).await?;
            println!("user {name} disabled");
        }
    }
    Ok(())
}

async fn import_settlements(args: SettlementImportArgs) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    let options = ImportOptions {
        read: ReadOptions {
            sheet: args.sheet.clone(),
            encoding: args.encoding,
        },
        zone: args.timezone,
    };
    let mut refused = 0u64;
    let mut unreadable = 0u64;
    for file in &args.files {
        let started = std::time::Instant::now();
        let mut last_shown = 0u64;
        let mut progress = |rows: u64| {
            if rows >= last_shown + 100_000 {
                last_shown = rows;
                eprintln!("  {}: {rows} rows read …", file.display());
            }
        };
        match store.import_file(file, &options, &mut progress).await {
            Ok(report) => {
                refused += report.rows_bad;
                print_report(&report, started.elapsed());
            }
            Err(e) => {
                unreadable += 1;
                eprintln!("{}: not imported: {e}", file.display());
            }
        }
    }
    store.close().await;
    if refused > 0 || unreadable > 0 {
        anyhow::bail!(
            "{refused} row(s) refused and {unreadable} file(s) unreadable; everything else was imported"
        );
    }
    Ok(())
}

fn print_report(report: &ImportReport, elapsed: std::time::Duration) {
    println!(
        "{}: {} {} — {} rows: {} new, {} already imported, {} refused ({:.1} s)",
        report.file.display(),
        report.format,
        report.kind.as_str(),
        report.rows_read,
        report.rows_new,
        report.rows_existing,
        report.rows_bad,
        elapsed.as_secs_f64()
    );
    if !report.ignored_columns.is_empty() {
        println!("  ignored columns: {}", report.ignored_columns.join(", "));
    }
    // Fee lines: institutions and refunds, in numbers; what the import could use only in part, loudly.
    if let Some(summary) = report.fee_line_summary() {
        println!("  {summary}");
    }
    let warnings = report.warnings();
    if !warnings.is_empty() {
        println!("  {} WARNING(S):", warnings.len());
        for warning in &warnings {
            println!("  WARNING: {warning}");
        }
    }
    for problem in report.problems.iter().take(200) {
        println!(
            "  row {}, column {}: {}",
            problem.row, problem.column, problem.reason
        );
    }
    if report.problems.len() > 200 {
        println!(
            "  … {} more problems (all are in the import_errors table)",
            report.problems.len() - 200
        );
    }
}
