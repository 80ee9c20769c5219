//! The bureau's certificate authority for mutual TLS between ward boxes, collectors and the broker.
//!
//! `wardwatch-collector ca init` makes the CA (an ECDSA P-256 key and a self-signed certificate, PEM,
//! in a directory the bureau keeps offline); `ca issue-device`, `ca issue-client` and `ca issue-server`
//! sign the certificates the broker and its clients present. Mosquitto with `use_identity_as_username`
//! takes a client certificate's common name (CN) as the MQTT username, which its ACL keys on
//! (`deploy/mosquitto/wardwatch.acl`): a ward box's CN is its device id, a collector's starts with
//! [`COLLECTOR_PREFIX`]. The names are checked here so that no device can ever hold a collector's
//! identity.
//!
//! Every issued certificate is verified against the CA with rustls' own verifier (webpki, as agents and
//! collectors will) before anything is written; private keys are written with mode 0600 and nothing
//! is ever overwritten. [`revocation`]: revoking issued client certificates and the CRL the broker
//! checks them against.

pub mod revocation;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use wardwatch_protocol::{DeviceId, InstitutionCode};

/// The CA certificate's file name, in the CA directory and beside every issued certificate.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA key's file name in the CA directory (mode 0600; keep the directory offline).
pub const CA_KEY_FILE: &str = "ca.key";
/// Every collector certificate's CN starts with this; device ids may not.
pub const COLLECTOR_PREFIX: &str = "wardwatch-collector";
/// Default CA lifetime (ten years).
pub const DEFAULT_CA_DAYS: u32 = 3650;
/// Default lifetime of an issued certificate (about 27 months).
pub const DEFAULT_LEAF_DAYS: u32 = 825;

/// Why the CA could not be made, opened or used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// `ca init` found a CA (or part of one) already there.
    #[error(
        "{path} already exists: refusing to overwrite (a new CA would orphan every certificate it signed)"
    )]
    CaExists {
        /// The existing file.
        path: PathBuf,
    },
    /// An issued file would overwrite an existing one.
    #[error("{path} already exists: refusing to overwrite it (choose another --out or remove it)")]
    OutputExists {
        /// The existing file.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The CA directory holds something that is not a usable WardWatch CA.
    #[error("CA in {dir}: {why}")]
    BadCa {
        /// The CA directory.
        dir: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A name, lifetime or address given to the CA is unusable.
    #[error("{0}")]
    Invalid(String),
    /// rcgen could not generate a key or sign a certificate.
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// The freshly issued certificate did not verify against the CA (a bug, or a CA key that does not
    /// match its certificate).
    #[error("the issued certificate does not verify against the CA: {0}")]
    Verify(String),
    /// No randomness for the serial number.
    #[error("no randomness for the serial number: {0}")]
    Random(String),
    /// The CA key is readable by users other than its owner.
    #[error(transparent)]
    NotPrivate(#[from] wardwatch_protocol::private_file::PrivateFileError),
}

fn invalid(why: impl Into<String>) -> CaError {
    CaError::Invalid(why.into())
}

/// The CA's common name: 1–64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaName(String);

impl FromStr for CaName {
    type Err = CaError;
    fn from_str(s: &str) -> Result<Self, CaError> {
        let n = s.chars().count();
        if n == 0 || n > 64 || s.chars().any(char::is_control) || s.trim() != s {
            return Err(invalid(format!(
                "CA name {s:?} must be 1 to 64 characters without control characters or surrounding spaces"
            )));
        }
        Ok(CaName(s.to_owned()))
    }
}

impl fmt::Display for CaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A name that becomes a certificate's CN and its files' names: the characters of a device id
/// (letters, digits, `.`, `_`, `-`; starting with a letter or digit; at most 64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertName(String);

impl FromStr for CertName {
    type Err = CaError;
    fn from_str(s: &str) -> Result<Self, CaError> {
        // Same rule as device ids: safe in MQTT usernames, ACL patterns and file names.
        DeviceId::from_str(s)
            .map(|_| CertName(s.to_owned()))
            .map_err(|e| invalid(format!("certificate name {s:?}: {}", e.why)))
    }
}

impl fmt::Display for CertName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A collector's certificate name (its MQTT username at the broker): starts with
/// [`COLLECTOR_PREFIX`], e.g. `wardwatch-collector-1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorName(CertName);

impl FromStr for CollectorName {
    type Err = CaError;
    fn from_str(s: &str) -> Result<Self, CaError> {
        let name: CertName = s.parse()?;
        if !s.starts_with(COLLECTOR_PREFIX) {
            return Err(invalid(format!(
                "collector name {s:?} must start with {COLLECTOR_PREFIX:?} (the broker's ACL grants collectors by name)"
            )));
        }
        Ok(CollectorName(name))
    }
}

impl fmt::Display for CollectorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A DNS name for a server certificate's subject alternative names (no wildcards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsName(String);

impl FromStr for DnsName {
    type Err = CaError;
    fn from_str(s: &str) -> Result<Self, CaError> {
        let bad = |why: &str| invalid(format!("DNS name {s:?} {why}"));
        let name = s.strip_suffix('.').unwrap_or(s);
        if name.is_empty() || name.len() > 253 {
            return Err(bad("must be 1 to 253 characters"));
        }
        if name.parse::<IpAddr>().is_ok() {
            return Err(bad("is an IP address: give it with --ip"));
        }
        for label in name.split('.') {
            let ok_chars = label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if label.is_empty()
                || label.len() > 63
                || !ok_chars
                || label.starts_with('-')
                || label.ends_with('-')
            {
                return Err(bad(
                    "must be dot-separated labels of letters, digits and inner '-' (no wildcards)",
                ));
            }
        }
        Ok(DnsName(name.to_ascii_lowercase()))
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whom a certificate is for.
#[derive(Debug, Clone)]
pub enum Subject {
    /// A ward box: CN = device id (its MQTT username), O = its institution code; client
    /// authentication only.
    Device {
        /// The device id, as registered at the collector.
        device_id: DeviceId,
        /// The institution the box is installed at.
        institution: InstitutionCode,
    },
    /// A collector: CN = its name; client authentication only.
    Collector(CollectorName),
    /// The broker: CN = `name`, the DNS names and IP addresses clients connect to as subject
    /// alternative names; server authentication only.
    Server {
        /// CN and file name, e.g. `wardwatch-broker`.
        name: CertName,
        /// DNS names.
        dns: Vec<DnsName>,
        /// IP addresses (needed when clients connect by IP).
        ips: Vec<IpAddr>,
    },
}

impl Subject {
    /// A device certificate's subject, refusing ids that would pass for a collector at the broker.
    pub fn device(device_id: DeviceId, institution: InstitutionCode) -> Result<Subject, CaError> {
        if device_id
            .as_str()
            .to_ascii_lowercase()
            .starts_with(COLLECTOR_PREFIX)
        {
            return Err(invalid(format!(
                "device id {device_id:?} starts with {COLLECTOR_PREFIX:?}, which is reserved for collectors"
            )));
        }
        Ok(Subject::Device {
            device_id,
            institution,
        })
    }

    /// A broker certificate's subject; needs at least one DNS name or IP address.
    pub fn server(name: CertName, dns: Vec<DnsName>, ips: Vec<IpAddr>) -> Result<Subject, CaError> {
        if dns.is_empty() && ips.is_empty() {
            return Err(invalid(
                "a server certificate needs at least one --dns NAME or --ip ADDRESS (the names clients connect to)",
            ));
        }
        Ok(Subject::Server { name, dns, ips })
    }

    /// The certificate's common name, which is also the name of its files.
    pub fn common_name(&self) -> &str {
        match self {
            Subject::Device { device_id, .. } => device_id.as_str(),
            Subject::Collector(name) => &name.0.0,
            Subject::Server { name, .. } => &name.0,
        }
    }

    fn params(&self) -> Result<CertificateParams, CaError> {
        let mut params = match self {
            Subject::Server { dns, ips, .. } => {
                let sans: Vec<String> = dns
                    .iter()
                    .map(ToString::to_string)
                    .chain(ips.iter().map(ToString::to_string))
                    .collect();
                CertificateParams::new(sans)?
            }
            _ => CertificateParams::default(),
        };
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, self.common_name());
        if let Subject::Device { institution, .. } = self {
            params
                .distinguished_name
                .push(DnType::OrganizationName, institution.as_str());
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![match self {
            Subject::Server { .. } => ExtendedKeyUsagePurpose::ServerAuth,
            _ => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        params.use_authority_key_identifier_extension = true;
        Ok(params)
    }
}

/// What `init` or `issue` wrote.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM, PKCS#8, mode 0600).
    pub key_file: PathBuf,
    /// The CA certificate to pin (PEM); for `init`, the same as `cert_file`.
    pub ca_file: PathBuf,
    /// The subject's common name.
    pub common_name: String,
    /// Last day of validity (the certificate expires at its start, 00:00 UTC).
    pub expires: chrono::NaiveDate,
    /// SHA-256 of the certificate's DER, lowercase hex.
    pub sha256: String,
}

/// An opened CA: its certificate and the key it signs with.
pub struct Ca {
    dir: PathBuf,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    expires_at: i64,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("dir", &self.dir)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |source| CaError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A random positive 128-bit serial number (RFC 5280: unique per CA, at most 20 bytes).
fn random_serial() -> Result<SerialNumber, CaError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| CaError::Random(e.to_string()))?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

/// Validity from yesterday (UTC; a ward box's clock may lag) to `days` days from today.
fn validity(params: &mut CertificateParams, days: u32) -> Result<chrono::NaiveDate, CaError> {
    if days == 0 {
        return Err(invalid("--days must be at least 1"));
    }
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Days::new(1);
    let until = today
        .checked_add_days(chrono::Days::new(u64::from(days)))
        .ok_or_else(|| invalid(format!("--days {days} is too far in the future")))?;
    let ymd = |d: chrono::NaiveDate| {
        use chrono::Datelike;
        // Month and day always fit in u8.
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    params.not_before = ymd(from);
    params.not_after = ymd(until);
    Ok(until)
}

fn sha256_hex(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Creates `path` with mode 0600 (owner only) and writes `text`; never overwrites.
fn write_private(path: &Path, text: &str) -> Result<(), CaError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_error(path))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(path))
}

/// Creates `path` (readable by all: certificates are public) and writes `text`; never overwrites.
fn write_public(path: &Path, text: &str) -> Result<(), CaError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(path))
}

fn create_dir(dir: &Path, mode: u32) -> Result<(), CaError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder.create(dir).map_err(io_error(dir))
}

impl Ca {
    /// Makes a new CA in `dir` (created with mode 0700 if missing): `ca.key` (mode 0600) and the
    /// self-signed `ca.pem`, valid for `days`. Refuses when either file exists.
    pub fn init(dir: &Path, name: &CaName, days: u32) -> Result<Issued, CaError> {
        let cert_file = dir.join(CA_CERT_FILE);
        let key_file = dir.join(CA_KEY_FILE);
        for path in [&cert_file, &key_file] {
            if path.exists() {
                return Err(CaError::CaExists { path: path.clone() });
            }
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, &name.0);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(random_serial()?);
        let expires = validity(&mut params, days)?;
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        create_dir(dir, 0o700)?;
        write_private(&key_file, &key.serialize_pem())?;
        write_public(&cert_file, &cert.pem())?;
        tracing::info!(dir = %dir.display(), name = %name, "bureau CA created");
        Ok(Issued {
            cert_file: cert_file.clone(),
            key_file,
            ca_file: cert_file,
            common_name: name.0.clone(),
            expires,
            sha256: sha256_hex(cert.der()),
        })
    }

    /// Opens the CA in `dir`: checks that `ca.pem` is a CA certificate, not expired, and that `ca.key`
    /// is its key.
    pub fn open(dir: &Path) -> Result<Ca, CaError> {
        let bad = |why: String| CaError::BadCa {
            dir: dir.to_owned(),
            why,
        };
        let cert_file = dir.join(CA_CERT_FILE);
        let key_file = dir.join(CA_KEY_FILE);
        let cert_pem = std::fs::read_to_string(&cert_file).map_err(io_error(&cert_file))?;
        let key_pem = std::fs::read_to_string(&key_file).map_err(io_error(&key_file))?;
        wardwatch_protocol::private_file::require_private(&key_file, "the CA key")?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| bad(format!("{CA_CERT_FILE} holds no PEM certificate: {e}")))?;
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| bad(format!("{CA_KEY_FILE} holds no usable private key: {e}")))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| bad(format!("{CA_CERT_FILE} does not parse: {e}")))?;
        if !parsed.is_ca() {
            return Err(bad(format!("{CA_CERT_FILE} is not a CA certificate")));
        }
        if *parsed.public_key().subject_public_key.data != *key.public_key_raw() {
            return Err(bad(format!(
                "{CA_KEY_FILE} is not the key of {CA_CERT_FILE}"
            )));
        }
        let expires_at = parsed.validity().not_after.timestamp();
        if expires_at <= chrono::Utc::now().timestamp() {
            return Err(bad(format!(
                "{CA_CERT_FILE} expired at {}",
                parsed.validity().not_after
            )));
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)?;
        Ok(Ca {
            dir: dir.to_owned(),
            cert_pem,
            cert_der: cert_der.into_owned(),
            issuer,
            expires_at,
        })
    }

    /// Issues a certificate for `subject`, valid for `days`, into `out` (created if missing):
    /// `{cn}.pem`, `{cn}.key` (mode 0600) and a copy of the CA certificate as `ca.pem` (an existing
    /// `ca.pem` must be this CA's). Refuses to overwrite and to outlive the CA.
    pub fn issue(&self, subject: &Subject, days: u32, out: &Path) -> Result<Issued, CaError> {
        let cn = subject.common_name();
        let cert_file = out.join(format!("{cn}.pem"));
        let key_file = out.join(format!("{cn}.key"));
        let ca_file = out.join(CA_CERT_FILE);
        for path in [&cert_file, &key_file] {
            if path.exists() {
                return Err(CaError::OutputExists { path: path.clone() });
            }
        }
        let write_ca = match std::fs::read_to_string(&ca_file) {
            Ok(existing) if existing == self.cert_pem => false,
            Ok(_) => {
                return Err(invalid(format!(
                    "{} is another CA's certificate; issue into another --out",
                    ca_file.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(io_error(&ca_file)(e)),
        };
        let mut params = subject.params()?;
        params.serial_number = Some(random_serial()?);
        let expires = validity(&mut params, days)?;
        let ends = expires
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp())
            .unwrap_or(i64::MAX);
        if ends > self.expires_at {
            let ca_end = chrono::DateTime::from_timestamp(self.expires_at, 0)
                .map_or_else(|| self.expires_at.to_string(), |t| t.to_rfc3339());
            return Err(invalid(format!(
                "--days {days} would outlive the CA, which expires at {ca_end}"
            )));
        }
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        self.verify(subject, cert.der())?;
        create_dir(out, 0o755)?;
        write_private(&key_file, &key.serialize_pem())?;
        write_public(&cert_file, &cert.pem())?;
        if write_ca {
            write_public(&ca_file, &self.cert_pem)?;
        }
        tracing::info!(cn, out = %out.display(), "certificate issued");
        Ok(Issued {
            cert_file,
            key_file,
            ca_file,
            common_name: cn.to_owned(),
            expires,
            sha256: sha256_hex(cert.der()),
        })
    }

    /// Verifies an issued certificate against this CA as a rustls peer would: client certificates as
    /// the broker's clients' peers, server certificates for each of their names.
    fn verify(&self, subject: &Subject, der: &CertificateDer<'_>) -> Result<(), CaError> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.cert_der.clone())
            .map_err(|e| CaError::Verify(e.to_string()))?;
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let now = UnixTime::now();
        let failed = |e: &dyn fmt::Display| CaError::Verify(e.to_string());
        match subject {
            Subject::Server { dns, ips, .. } => {
                use rustls::client::danger::ServerCertVerifier;
                let verifier =
                    rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                        .build()
                        .map_err(|e| failed(&e))?;
                let names = dns
                    .iter()
                    .map(|d| ServerName::try_from(d.0.clone()).map_err(|e| failed(&e)))
                    .chain(ips.iter().map(|ip| Ok(ServerName::from(*ip))));
                for name in names {
                    verifier
                        .verify_server_cert(der, &[], &name?, &[], now)
                        .map_err(|e| failed(&e))?;
                }
            }
            _ => self.verify_client(der)?,
        }
        Ok(())
    }

    /// Verifies a client certificate (a ward box's or a collector's) against this CA.
    fn verify_client(&self, der: &CertificateDer<'_>) -> Result<(), CaError> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.cert_der.clone())
            .map_err(|e| CaError::Verify(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let failed = |e: &dyn fmt::Display| CaError::Verify(e.to_string());
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| failed(&e))?;
        verifier
            .verify_client_cert(der, &[], UnixTime::now())
            .map_err(|e| failed(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str) -> Subject {
        Subject::device(id.parse().unwrap(), "H43060200175".parse().unwrap()).unwrap()
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn subject_of(pem_file: &Path) -> (String, Vec<String>, bool) {
        let pem = std::fs::read(pem_file).unwrap();
        let der = CertificateDer::from_pem_slice(&pem).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        let sans = cert
            .subject_alternative_name()
            .unwrap()
            .map(|ext| {
                ext.value
                    .general_names
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect()
            })
            .unwrap_or_default();
        (cn, sans, cert.is_ca())
    }

    #[test]
    fn init_writes_a_ca_once_with_an_owner_only_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        let made = Ca::init(&ca_dir, &"Test bureau CA".parse().unwrap(), 30).unwrap();
        assert_eq!(mode(&made.key_file), 0o600);
        assert_eq!(mode(&ca_dir), 0o700);
        let (cn, _, is_ca) = subject_of(&made.cert_file);
        assert_eq!((cn.as_str(), is_ca), ("Test bureau CA", true));
        let again = Ca::init(&ca_dir, &"Other".parse().unwrap(), 30).unwrap_err();
        assert!(matches!(again, CaError::CaExists { .. }), "{again}");
        // The refused init left the CA as it was.
        Ca::open(&ca_dir).unwrap();
    }

    #[test]
    fn open_refuses_a_ca_key_others_may_read_naming_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let made = Ca::init(dir.path(), &"Test bureau CA".parse().unwrap(), 30).unwrap();
        std::fs::set_permissions(&made.key_file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = Ca::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("chmod 600 {}", made.key_file.display())),
            "{err}"
        );
        assert_eq!(mode(&made.key_file), 0o640, "left for the operator to fix");
    }

    #[test]
    fn device_certificate_has_the_device_id_as_cn_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        Ca::init(dir.path(), &"CA".parse().unwrap(), 30).unwrap();
        let ca = Ca::open(dir.path()).unwrap();
        let out = dir.path().join("box");
        let issued = ca.issue(&device("hd-ward3-box1"), 10, &out).unwrap();
        assert_eq!(issued.cert_file, out.join("hd-ward3-box1.pem"));
        assert_eq!(mode(&issued.key_file), 0o600);
        assert_eq!(
            std::fs::read(&issued.ca_file).unwrap(),
            std::fs::read(dir.path().join(CA_CERT_FILE)).unwrap()
        );
        let (cn, sans, is_ca) = subject_of(&issued.cert_file);
        assert_eq!((cn.as_str(), is_ca), ("hd-ward3-box1", false));
        assert!(sans.is_empty());
        // A second device into the same directory shares the CA copy; the same device again is refused.
        ca.issue(&device("hd-ward3-box2"), 10, &out).unwrap();
        let again = ca.issue(&device("hd-ward3-box1"), 10, &out).unwrap_err();
        assert!(matches!(again, CaError::OutputExists { .. }), "{again}");
    }

    #[test]
    fn server_certificate_names_its_dns_names_and_ips() {
        let dir = tempfile::tempdir().unwrap();
        Ca::init(dir.path(), &"CA".parse().unwrap(), 30).unwrap();
        let ca = Ca::open(dir.path()).unwrap();
        let subject = Subject::server(
            "wardwatch-broker".parse().unwrap(),
            vec!["broker.bureau.internal".parse().unwrap()],
            vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
        )
        .unwrap();
        let issued = ca.issue(&subject, 10, &dir.path().join("broker")).unwrap();
        let (cn, sans, _) = subject_of(&issued.cert_file);
        assert_eq!(cn, "wardwatch-broker");
        assert_eq!(sans.len(), 3, "{sans:?}");
        assert!(
            Subject::server("b".parse().unwrap(), vec![], vec![]).is_err(),
            "a server certificate without names is refused"
        );
    }

    #[test]
    fn names_are_checked_at_the_edge() {
        assert!("wardwatch-collector-1".parse::<CollectorName>().is_ok());
        assert!("collector-1".parse::<CollectorName>().is_err());
        assert!("wardwatch-collector/1".parse::<CollectorName>().is_err());
        let reserved = Subject::device(
            "Wardwatch-Collector-7".parse().unwrap(),
            "H43060200175".parse().unwrap(),
        );
        assert!(
            reserved.is_err(),
            "a device may not take a collector's name"
        );
        assert!("broker.bureau.internal".parse::<DnsName>().is_ok());
        for bad in ["", "*.bureau", "-a.b", "a..b", "10.0.0.1", "a_b.c"] {
            assert!(bad.parse::<DnsName>().is_err(), "{bad:?}");
        }
        assert!("".parse::<CaName>().is_err());
        assert!("a\nb".parse::<CaName>().is_err());
    }

    #[test]
    fn refuses_to_outlive_the_ca_and_a_foreign_ca_copy() {
        let dir = tempfile::tempdir().unwrap();
        Ca::init(dir.path(), &"CA".parse().unwrap(), 30).unwrap();
        let ca = Ca::open(dir.path()).unwrap();
        let err = ca
            .issue(&device("box-1"), 400, &dir.path().join("out"))
            .unwrap_err();
        assert!(err.to_string().contains("outlive the CA"), "{err}");
        let other = tempfile::tempdir().unwrap();
        Ca::init(other.path(), &"Other CA".parse().unwrap(), 30).unwrap();
        let err = Ca::open(other.path())
            .unwrap()
            .issue(&device("box-1"), 10, dir.path())
            .unwrap_err();
        assert!(err.to_string().contains("another CA"), "{err}");
    }

    #[test]
    fn open_refuses_a_key_that_is_not_the_cas() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        Ca::init(a.path(), &"A".parse().unwrap(), 30).unwrap();
        Ca::init(b.path(), &"B".parse().unwrap(), 30).unwrap();
        std::fs::remove_file(a.path().join(CA_KEY_FILE)).unwrap();
        std::fs::copy(b.path().join(CA_KEY_FILE), a.path().join(CA_KEY_FILE)).unwrap();
        let err = Ca::open(a.path()).unwrap_err();
        assert!(err.to_string().contains("is not the key"), "{err}");
    }
}
