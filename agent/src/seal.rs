//! Sealing: turning the agent's payloads into this device's signed, hash-chained events.

use wardwatch_protocol::{
    DeviceId, Digest, Event, EventDraft, InstitutionCode, Payload, SigningKey,
};

/// The device identity that seals events: its key, id and institution.
pub struct Sealer {
    key: SigningKey,
    device_id: DeviceId,
    institution_code: InstitutionCode,
    test_mode: bool,
}

impl Sealer {
    /// A sealer for this device, sealing production events.
    pub fn new(key: SigningKey, device_id: DeviceId, institution_code: InstitutionCode) -> Self {
        Sealer {
            key,
            device_id,
            institution_code,
            test_mode: false,
        }
    }

    /// Marks every event it seals as test data (the agent's `test_mode`).
    pub fn in_test_mode(mut self, test_mode: bool) -> Self {
        self.test_mode = test_mode;
        self
    }

    /// Seals `payload` as event `seq`, linked to `prev_hash`, stamped now.
    pub fn seal(&self, seq: u64, prev_hash: Digest, payload: Payload) -> Event {
        crate::metrics::sealed(&payload);
        EventDraft::new(
            self.device_id.clone(),
            self.institution_code.clone(),
            seq,
            prev_hash,
            payload,
        )
        .in_test_mode(self.test_mode)
        .seal(&self.key)
    }

    /// The device id.
    pub fn device_id(&self) -> &DeviceId {
        &self.device_id
    }

    /// The institution code.
    pub fn institution_code(&self) -> &InstitutionCode {
        &self.institution_code
    }
}
