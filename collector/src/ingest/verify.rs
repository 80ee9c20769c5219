//! Verification of one received message: decode (size, topic, JSON, schema, fields, topic agreement,
//! hash), then the registry (known device, its institution), the signature, test data from a
//! production device ([`super::test_data`]), and what the event says about time against the collector's receipt ([`super::times::check_event`]: not sealed in the future;
//! a presence interval that runs forwards, ends by its seal and by the receipt, and is not longer than
//! the maximum). The chain, replays and the order of seal times along the chain are checked against
//! stored events by the store, inside the batch transaction.

use super::test_data::refused_test_data;
use super::times::{TimeChecks, check_event};
use crate::store::devices::Device;
use crate::store::ingest::{Incoming, Rejection};
use crate::store::lifecycle::{DeviceTrust, Untrusted};
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use wardwatch_protocol::decode::check_signature;
use wardwatch_protocol::{
    DeviceId, DeviceStatus, Limits, RejectReason, Timestamp, Topic, TopicKind, decode_event,
};

/// How often, at most, an unknown device triggers a re-read of the registry.
const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// How old the registry may get before it is re-read anyway, so that `devices revoke` and
/// `devices rotate-key` take effect without a restart.
const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// The registered devices and their trust (key periods, revocation), cached; re-read when an unknown
/// device shows up (rate-limited) and every [`RELOAD_EVERY`], so `devices add`, `devices revoke` and
/// `devices rotate-key` take effect without a restart.
pub struct Registry {
    devices: HashMap<DeviceId, Device>,
    trust: HashMap<DeviceId, DeviceTrust>,
    /// For a device registered between the two reads of a reload: its key from the start, not revoked.
    plain: DeviceTrust,
    loaded_at: Option<Instant>,
}

impl Registry {
    /// An empty registry (loads on first use).
    pub fn new() -> Self {
        Registry {
            devices: HashMap::new(),
            trust: HashMap::new(),
            plain: DeviceTrust::default(),
            loaded_at: None,
        }
    }

    /// The registration and trust of `device`, re-reading the registry if it is unknown and the cache
    /// is stale, or if the cache is old.
    pub async fn lookup(
        &mut self,
        store: &Store,
        device: &DeviceId,
    ) -> Result<Option<(&Device, &DeviceTrust)>, StoreError> {
        let age = self.loaded_at.map(|t| t.elapsed());
        let stale = age.is_none_or(|a| a >= REFRESH_EVERY);
        let old = age.is_none_or(|a| a >= RELOAD_EVERY);
        if (!self.devices.contains_key(device) && stale) || old {
            self.devices = store
                .devices()
                .await?
                .into_iter()
                .map(|d| (d.device_id.clone(), d))
                .collect();
            self.trust = store.device_trust().await?;
            self.loaded_at = Some(Instant::now());
        }
        Ok(self
            .devices
            .get(device)
            .map(|d| (d, self.trust.get(device).unwrap_or(&self.plain))))
    }

    /// The cached registration of `device`, without touching the database.
    pub fn cached(&self, device: &DeviceId) -> Option<&Device> {
        self.devices.get(device)
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// What to do with a received message.
pub enum Verdict {
    /// Not for the collector: a collector → agent kind (our own acks echoing back), or a status message
    /// that is unusable (logged). Acknowledge, drop.
    Ignore,
    /// A registered device's connection status (`online` / `offline`): recorded as its state, not as an
    /// event.
    Status {
        /// The device.
        device: DeviceId,
        /// What it says.
        status: DeviceStatus,
    },
    /// Store (as an event or in the quarantine).
    Record(Incoming),
}

/// Classifies one message; `times` are the settings of the time checks.
pub async fn verify(
    topic: &str,
    payload: &[u8],
    limits: &Limits,
    times: &TimeChecks,
    registry: &mut Registry,
    store: &Store,
) -> Result<Verdict, StoreError> {
    if let Ok(parsed) = Topic::parse(topic) {
        if parsed.kind == TopicKind::Status {
            return status(parsed, payload, registry, store).await;
        }
        if !parsed.kind.is_from_device() {
            return Ok(Verdict::Ignore);
        }
    }
    let reject = |reason: RejectReason, detail: String| {
        Verdict::Record(Incoming::Rejected(Rejection {
            reason,
            detail,
            topic: topic.to_owned(),
            raw: payload.to_vec(),
        }))
    };
    let event = match decode_event(topic, payload, limits) {
        Ok(event) => event,
        Err(e) => return Ok(reject(e.reason(), e.to_string())),
    };
    let Some((device, trust)) = registry.lookup(store, &event.device_id).await? else {
        return Ok(reject(
            RejectReason::UnknownDevice,
            format!(
                "device {} is not registered (wardwatch-collector devices add)",
                event.device_id
            ),
        ));
    };
    if device.institution_code != event.institution_code {
        return Ok(reject(
            RejectReason::InstitutionMismatch,
            format!(
                "device {} is registered for {} but the event says {}",
                event.device_id, device.institution_code, event.institution_code
            ),
        ));
    }
    // The key in force when the event says it was sealed; none once the device is revoked.
    let key = match trust.key_for(&device.public_key, event.sent_at.millis()) {
        Ok(key) => key,
        Err(untrusted) => {
            let reason = match untrusted {
                Untrusted::Revoked { .. } => RejectReason::DeviceRevoked,
                Untrusted::NoKey { .. } => RejectReason::BadSignature,
            };
            return Ok(reject(
                reason,
                format!(
                    "event seq {} of device {} sealed at {}: {untrusted}",
                    event.seq, event.device_id, event.sent_at
                ),
            ));
        }
    };
    if let Err(e) = check_signature(&event, key) {
        return Ok(reject(e.reason(), e.to_string()));
    }
    // After the signature: what an unsigned message claims is not worth a reason of its own.
    if let Some(why) = refused_test_data(&event, device.purpose) {
        return Ok(reject(RejectReason::TestSource, why));
    }
    if let Err(e) = check_event(&event, Timestamp::now(), times) {
        return Ok(reject(
            e.reason(),
            format!("event seq {} of device {}: {e}", event.seq, event.device_id),
        ));
    }
    Ok(Verdict::Record(Incoming::Event {
        event: Box::new(event),
        raw: payload.to_vec(),
    }))
}

/// A status message: taken from registered devices of the topic's institution (the broker's ACL is
/// what vouches for the publisher), otherwise logged and dropped — a status is not evidence, so it is
/// not quarantined.
async fn status(
    topic: Topic,
    payload: &[u8],
    registry: &mut Registry,
    store: &Store,
) -> Result<Verdict, StoreError> {
    let status = match DeviceStatus::from_wire(payload) {
        Ok(status) => status,
        Err(error) => {
            tracing::warn!(%topic, %error, "unusable status message ignored");
            return Ok(Verdict::Ignore);
        }
    };
    match registry.lookup(store, &topic.device).await? {
        Some((device, _)) if device.institution_code == topic.institution => Ok(Verdict::Status {
            device: topic.device,
            status,
        }),
        _ => {
            tracing::warn!(%topic, "status from a device not registered under that institution ignored");
            Ok(Verdict::Ignore)
        }
    }
}
