//! `[broker]`: how the publisher reaches the MQTT broker (address, TLS files, client id, re-send timing
//! and window) and which collector ack key(s) it trusts, checked before the agent starts.

use crate::setting::InvalidSetting;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use wardwatch_link::{BrokerUrl, TlsFiles};
use wardwatch_protocol::PinnedKeys;

/// `[broker]`: the MQTT connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: BrokerUrl,
    /// The bureau CA certificate (PEM) that signed the broker's certificate; required with `mqtts://`.
    pub ca_file: Option<PathBuf>,
    /// This device's certificate (PEM), for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// This device's TLS private key (PEM), for mutual TLS.
    pub key_file: Option<PathBuf>,
    /// The collector's ack public key (`wardwatch-collector ack-key show`), or old and new during a
    /// rotation: only acks one of them signed may delete events from the spool.
    pub ack_public_key: PinnedKeys,
    /// MQTT client id; default `wardwatch-agent-{device_id}`. Must be stable: the broker keeps the
    /// persistent session under it.
    pub client_id: Option<String>,
    /// Re-send everything unacknowledged when the collector's ack has not advanced for this long; the
    /// wait doubles after each re-send without progress (up to ten times this).
    #[serde(default = "default_resend_after_secs")]
    pub resend_after_secs: f64,
    /// At most this many events published beyond the last acknowledged one.
    #[serde(default = "default_window")]
    pub window: u64,
    /// MQTT keep-alive.
    #[serde(default = "default_keep_alive_secs")]
    pub keep_alive_secs: u64,
}

fn default_resend_after_secs() -> f64 {
    30.0
}

/// 100 events beyond the ack: a day's spool goes in a few round trips, and a bureau's broker queue for
/// the collector holds every box's window at once (boxes x window; deploy/mosquitto/wardwatch.conf).
fn default_window() -> u64 {
    100
}

fn default_keep_alive_secs() -> u64 {
    30
}

impl BrokerConfig {
    /// The TLS files, as the link crate wants them.
    pub fn tls_files(&self) -> TlsFiles {
        TlsFiles {
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
        }
    }

    /// See [`BrokerConfig::resend_after_secs`].
    pub fn resend_after(&self) -> Duration {
        Duration::from_secs_f64(self.resend_after_secs)
    }

    /// The first unusable setting: TLS files that match the URL's scheme and exist (paths already
    /// resolved), a re-send delay, a window and a client id in range.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if self.url.tls && self.ca_file.is_none() {
            return Err(InvalidSetting::new(
                "broker.ca_file",
                "is required with an mqtts:// url (the bureau CA is pinned)",
            ));
        }
        if !self.url.tls && (self.ca_file.is_some() || self.cert_file.is_some()) {
            return Err(InvalidSetting::new(
                "broker.url",
                "is mqtt:// (plain) but TLS files are configured; use mqtts://",
            ));
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(InvalidSetting::new(
                "broker.cert_file",
                "and broker.key_file must be given together",
            ));
        }
        for (key, file) in [
            ("broker.ca_file", &self.ca_file),
            ("broker.cert_file", &self.cert_file),
            ("broker.key_file", &self.key_file),
        ] {
            if let Some(file) = file
                && !file.is_file()
            {
                return Err(InvalidSetting::new(
                    key,
                    format!("{} does not exist", file.display()),
                ));
            }
        }
        if !(self.resend_after_secs.is_finite() && self.resend_after_secs >= 0.1) {
            return Err(InvalidSetting::new(
                "broker.resend_after_secs",
                "must be at least 0.1",
            ));
        }
        if self.window == 0 {
            return Err(InvalidSetting::new("broker.window", "must be at least 1"));
        }
        if let Some(id) = &self.client_id
            && (id.is_empty() || id.len() > 128)
        {
            return Err(InvalidSetting::new(
                "broker.client_id",
                "must be 1 to 128 characters",
            ));
        }
        Ok(())
    }
}
