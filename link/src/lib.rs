//! MQTT connection set-up shared by the agent and the collector.
//!
//! | item | what it does |
//! |---|---|
//! | [`BrokerUrl`] | parses `mqtt://host:port` and `mqtts://host:port` |
//! | [`TlsFiles`] | the PEM files for TLS: the pinned CA, and optionally a client certificate and key |
//! | [`client_options`] | builds `rumqttc::MqttOptions` (persistent session, packet limits, TLS on ring) |
//! | [`Backoff`] | reconnection back-off (rumqttc has none of its own) |
//! | [`event_loop`] | drives rumqttc's event loop in a task, reporting connects, outages and messages |
//! | [`resend`] | when a publisher re-sends what the collector has not acknowledged (back-off, spread) |
//! | [`process`] | logging set-up and shutdown on Ctrl-C/SIGTERM for the binaries |
//!
//! There is exactly one TLS stack: rustls 0.23 on the `ring` provider, no OpenSSL and no aws-lc.

pub mod event_loop;
pub mod process;
pub mod resend;

use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Largest MQTT packet either side sends or accepts (events are < 64 KiB; galleries may be larger).
pub const MAX_PACKET_BYTES: usize = 4 * 1024 * 1024;

/// Why a broker connection cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The URL is not `mqtt://host:port` or `mqtts://host:port`.
    #[error("broker URL {url:?} is invalid: {why}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What was wrong.
        why: &'static str,
    },
    /// A PEM file could not be read or holds nothing usable.
    #[error("{role} file {path}: {why}")]
    Pem {
        /// `CA certificate`, `client certificate` or `client key`.
        role: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// rustls refused the configuration (e.g. key does not match certificate).
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// `mqtts://` without a CA file, or a certificate without its key.
    #[error("{0}")]
    Incomplete(&'static str),
    /// The private key file is readable by users other than its owner.
    #[error(transparent)]
    NotPrivate(#[from] wardwatch_protocol::private_file::PrivateFileError),
}

/// A broker address with its transport.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct BrokerUrl {
    /// `true` for `mqtts://`.
    pub tls: bool,
    /// Host name or IP literal (without brackets).
    pub host: String,
    /// TCP port (default 1883, or 8883 with TLS).
    pub port: u16,
}

impl FromStr for BrokerUrl {
    type Err = LinkError;
    fn from_str(url: &str) -> Result<Self, LinkError> {
        let bad = |why| LinkError::BadUrl {
            url: url.to_owned(),
            why,
        };
        let (tls, rest) = if let Some(rest) = url.strip_prefix("mqtt://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("mqtts://") {
            (true, rest)
        } else {
            return Err(bad("must start with mqtt:// or mqtts://"));
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('@') {
            return Err(bad("must be only scheme://host:port (no path, no user)"));
        }
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            match after.strip_prefix(':') {
                Some(p) => (
                    host,
                    p.parse().map_err(|_| bad("port is not a number 1-65535"))?,
                ),
                None if after.is_empty() => (host, default_port),
                None => return Err(bad("unexpected text after ']'")),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (
                    h,
                    p.parse().map_err(|_| bad("port is not a number 1-65535"))?,
                ),
                None => (rest, default_port),
            }
        };
        if host.is_empty() {
            return Err(bad("host is empty"));
        }
        if port == 0 {
            return Err(bad("port 0 is not a broker port"));
        }
        Ok(BrokerUrl {
            tls,
            host: host.to_owned(),
            port,
        })
    }
}

impl TryFrom<String> for BrokerUrl {
    type Error = LinkError;
    fn try_from(value: String) -> Result<Self, LinkError> {
        value.parse()
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// PEM files for a TLS connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA that signed the broker's certificate (pinned: no system roots are trusted).
    pub ca_file: Option<PathBuf>,
    /// This client's certificate chain, for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// This client's private key, for mutual TLS.
    pub key_file: Option<PathBuf>,
}

fn pem_error(role: &'static str, path: &Path, why: impl fmt::Display) -> LinkError {
    LinkError::Pem {
        role,
        path: path.to_owned(),
        why: why.to_string(),
    }
}

impl TlsFiles {
    /// Builds a rustls client configuration (ring provider) from the files.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, LinkError> {
        let ca_file = self
            .ca_file
            .as_deref()
            .ok_or(LinkError::Incomplete("mqtts:// needs a CA file (ca_file)"))?;
        let mut roots = rustls::RootCertStore::empty();
        let mut found = 0;
        for cert in CertificateDer::pem_file_iter(ca_file)
            .map_err(|e| pem_error("CA certificate", ca_file, e))?
        {
            let cert = cert.map_err(|e| pem_error("CA certificate", ca_file, e))?;
            roots
                .add(cert)
                .map_err(|e| pem_error("CA certificate", ca_file, e))?;
            found += 1;
        }
        if found == 0 {
            return Err(pem_error("CA certificate", ca_file, "no certificate found"));
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
        match (&self.cert_file, &self.key_file) {
            (None, None) => Ok(builder.with_no_client_auth()),
            (Some(cert_file), Some(key_file)) => {
                let chain = CertificateDer::pem_file_iter(cert_file)
                    .map_err(|e| pem_error("client certificate", cert_file, e))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| pem_error("client certificate", cert_file, e))?;
                if chain.is_empty() {
                    return Err(pem_error(
                        "client certificate",
                        cert_file,
                        "no certificate found",
                    ));
                }
                wardwatch_protocol::private_file::require_private(key_file, "TLS client key")?;
                let key = PrivateKeyDer::from_pem_file(key_file)
                    .map_err(|e| pem_error("client key", key_file, e))?;
                Ok(builder.with_client_auth_cert(chain, key)?)
            }
            _ => Err(LinkError::Incomplete(
                "mutual TLS needs both cert_file and key_file",
            )),
        }
    }
}

/// MQTT client options for a long-lived participant: stable `client_id`, persistent session
/// (`clean_session = false`), [`MAX_PACKET_BYTES`] both ways, TLS when the URL says `mqtts://`.
pub fn client_options(
    client_id: &str,
    url: &BrokerUrl,
    tls: &TlsFiles,
    keep_alive: Duration,
) -> Result<MqttOptions, LinkError> {
    let mut options = MqttOptions::new(client_id, url.host.clone(), url.port);
    options
        .set_clean_session(false)
        .set_keep_alive(keep_alive)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    if url.tls {
        let config = tls.client_config()?;
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(config),
        )));
    }
    Ok(options)
}

/// Exponential back-off between reconnection attempts: rumqttc reconnects at once on the next `poll()`,
/// which would spin against a broker that is down.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `min`, doubles per failure up to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            next: min,
            min,
            max,
        }
    }

    /// The delay before the next attempt; doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// A connection succeeded: start again from `min`.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u: BrokerUrl = "mqtt://127.0.0.1:1883".parse().unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (false, "127.0.0.1", 1883));
        let u: BrokerUrl = "mqtts://broker.bureau.example".parse().unwrap();
        assert_eq!(u.port, 8883);
        let u: BrokerUrl = "mqtt://[::1]:11883".parse().unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 11883));
        assert_eq!(u.to_string(), "mqtt://[::1]:11883");
        for bad in [
            "tcp://x:1",
            "mqtt://:1883",
            "mqtt://x:port",
            "mqtt://x:1883/topic",
            "mqtt://x:0",
        ] {
            assert!(bad.parse::<BrokerUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn tls_needs_a_ca() {
        let err = TlsFiles::default().client_config().unwrap_err();
        assert!(err.to_string().contains("CA file"), "{err}");
        let err = TlsFiles {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        }
        .client_config()
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn backoff_doubles_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let delays: Vec<_> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 100);
    }
}
