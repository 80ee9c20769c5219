//! `ca`: the bureau's certificate authority for mutual TLS — making it, then issuing the broker's, the
//! collectors' and each ward box's certificate, revoking them and writing the CRL the broker checks
//! (see [`crate::ca`]).

use crate::ca::revocation::{DEFAULT_CRL_DAYS, RevokeReason};
use crate::ca::{
    Ca, CaName, CertName, CollectorName, DEFAULT_CA_DAYS, DEFAULT_LEAF_DAYS, DnsName, Subject,
};
use clap::{Args, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;
use wardwatch_protocol::{DeviceId, InstitutionCode};

/// `ca` options.
#[derive(Debug, Args)]
pub struct CaArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: CaCommand,
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
        #[arg(long, default_value_t = DEFAULT_CA_DAYS, value_parser = clap::value_parser!(u32).range(1..=36500))]
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
        #[arg(long, default_value_t = DEFAULT_LEAF_DAYS, value_parser = clap::value_parser!(u32).range(1..=36500))]
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
        ip: Vec<IpAddr>,
        /// The certificate's CN and file name.
        #[arg(long, default_value = "wardwatch-broker")]
        name: CertName,
        /// Where to write the files (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Days of validity (at most the CA's remaining life).
        #[arg(long, default_value_t = DEFAULT_LEAF_DAYS, value_parser = clap::value_parser!(u32).range(1..=36500))]
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
        #[arg(long, default_value_t = DEFAULT_LEAF_DAYS, value_parser = clap::value_parser!(u32).range(1..=36500))]
        days: u32,
    },
    /// Revoke a client certificate this CA issued (a stolen or replaced box, a retired collector):
    /// recorded in DIR/revoked.tsv; `ca crl` then lists it for the broker.
    Revoke {
        /// The CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// The certificate to revoke (PEM, as `issue-device` or `issue-client` wrote it).
        #[arg(long)]
        cert: PathBuf,
        /// Why.
        #[arg(long, value_enum)]
        reason: RevokeReason,
    },
    /// Write the certificate revocation list (PEM) the broker reads (Mosquitto's `crlfile`), listing
    /// every revoked certificate; replaces an older CRL at OUT.
    Crl {
        /// The CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// The CRL file to write.
        #[arg(long)]
        out: PathBuf,
        /// Days until the next update: write a new CRL before then, or the broker refuses everyone.
        #[arg(long, default_value_t = DEFAULT_CRL_DAYS, value_parser = clap::value_parser!(u32).range(1..=366))]
        days: u32,
    },
}

/// Runs a `ca` subcommand and prints what it wrote.
pub fn run(args: CaArgs) -> anyhow::Result<()> {
    let issued = match args.command {
        CaCommand::Revoke { dir, cert, reason } => {
            let record = Ca::open(&dir)?.revoke(&cert, reason)?;
            println!(
                "revoked {} (serial {}); write the CRL next: wardwatch-collector ca crl --dir {} --out …",
                record.common_name,
                record.serial,
                dir.display()
            );
            return Ok(());
        }
        CaCommand::Crl { dir, out, days } => {
            let written = Ca::open(&dir)?.crl(&out, days)?;
            let next = chrono::DateTime::from_timestamp(written.next_update, 0)
                .map_or_else(|| written.next_update.to_string(), |t| t.to_rfc3339());
            println!(
                "CRL {} lists {} revoked certificate(s); next update {next}: write a new one before \
                 then and restart the broker after each",
                written.path.display(),
                written.revoked
            );
            return Ok(());
        }
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
