//! The signed, hash-chained envelope around a payload.
//!
//! `hash = SHA-256("wardwatch/v1/event\n" ‖ canonical JSON of every field but hash and sig)` and
//! `sig = Ed25519(device key, hash)`. The canonical JSON is the compact serde_json form of the fields in
//! the order of [`Event`]; both sides compute it from typed values, never from the bytes received.
//! `prev_hash` is the `hash` of the same device's event with `seq - 1` ([`Digest::GENESIS`] for `seq` 1),
//! so deleting, reordering or altering any event breaks the chain.

use crate::SCHEMA_VERSION;
use crate::crypto::{Digest, PublicKey, Signature, SigningKey, sign};
use crate::ids::{DeviceId, InstitutionCode};
use crate::payload::Payload;
use crate::time::Timestamp;
use crate::topic::Topic;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Domain-separation prefix of the hashed bytes, so an event hash can never be confused with another
/// SHA-256 the project computes.
const HASH_DOMAIN: &[u8] = b"wardwatch/v1/event\n";

/// A sealed event as it travels on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Wire schema version ([`SCHEMA_VERSION`]).
    pub schema: u16,
    /// UUIDv7, unique per event; resends of the same event keep it.
    pub event_id: Uuid,
    /// The device that sealed and signed the event.
    pub device_id: DeviceId,
    /// The institution the device is installed at.
    pub institution_code: InstitutionCode,
    /// Per-device sequence number, strictly increasing from 1 and kept across restarts.
    pub seq: u64,
    /// When the device sealed the event (UTC, ms).
    pub sent_at: Timestamp,
    /// Sealed by an agent in test mode (`test_mode = true`, required for replay and folder sources):
    /// test data, refused from a device registered for production. Absent on the wire when false, so
    /// a production event's canonical bytes do not depend on this field existing.
    #[serde(default, skip_serializing_if = "is_false")]
    pub test_mode: bool,
    /// `hash` of this device's event `seq - 1`.
    pub prev_hash: Digest,
    /// What the event says.
    pub payload: Payload,
    /// SHA-256 over the canonical bytes.
    pub hash: Digest,
    /// Ed25519 signature over `hash` by the device key.
    pub sig: Signature,
}

/// Everything in an event but `hash` and `sig`: what a device fills in before sealing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventDraft {
    /// See [`Event::schema`].
    pub schema: u16,
    /// See [`Event::event_id`].
    pub event_id: Uuid,
    /// See [`Event::device_id`].
    pub device_id: DeviceId,
    /// See [`Event::institution_code`].
    pub institution_code: InstitutionCode,
    /// See [`Event::seq`].
    pub seq: u64,
    /// See [`Event::sent_at`].
    pub sent_at: Timestamp,
    /// See [`Event::test_mode`].
    #[serde(skip_serializing_if = "is_false")]
    pub test_mode: bool,
    /// See [`Event::prev_hash`].
    pub prev_hash: Digest,
    /// See [`Event::payload`].
    pub payload: Payload,
}

/// The canonical view of an event: borrowed fields in wire order, without `hash` and `sig`.
#[derive(Serialize)]
struct Canonical<'a> {
    schema: u16,
    event_id: &'a Uuid,
    device_id: &'a DeviceId,
    institution_code: &'a InstitutionCode,
    seq: u64,
    sent_at: Timestamp,
    #[serde(skip_serializing_if = "is_false")]
    test_mode: bool,
    prev_hash: &'a Digest,
    payload: &'a Payload,
}

/// For `skip_serializing_if`: `test_mode` is written only when true.
fn is_false(value: &bool) -> bool {
    !*value
}

impl Canonical<'_> {
    fn digest(&self) -> Digest {
        let mut bytes = HASH_DOMAIN.to_vec();
        // Serialising these types cannot fail: no maps with non-string keys, no non-finite floats
        // (scores are range-checked on construction).
        serde_json::to_writer(&mut bytes, self).expect("canonical event serialises");
        Digest::of(&bytes)
    }
}

impl EventDraft {
    /// A draft for this device's next event, with a fresh UUIDv7 and the current time.
    pub fn new(
        device_id: DeviceId,
        institution_code: InstitutionCode,
        seq: u64,
        prev_hash: Digest,
        payload: Payload,
    ) -> Self {
        EventDraft {
            schema: SCHEMA_VERSION,
            event_id: Uuid::now_v7(),
            device_id,
            institution_code,
            seq,
            sent_at: Timestamp::now(),
            test_mode: false,
            prev_hash,
            payload,
        }
    }

    /// Marks the draft as test data ([`Event::test_mode`]).
    pub fn in_test_mode(mut self, test_mode: bool) -> Self {
        self.test_mode = test_mode;
        self
    }

    fn canonical(&self) -> Canonical<'_> {
        Canonical {
            schema: self.schema,
            event_id: &self.event_id,
            device_id: &self.device_id,
            institution_code: &self.institution_code,
            seq: self.seq,
            sent_at: self.sent_at,
            test_mode: self.test_mode,
            prev_hash: &self.prev_hash,
            payload: &self.payload,
        }
    }

    /// Hashes and signs the draft with the device key.
    pub fn seal(self, key: &SigningKey) -> Event {
        let hash = self.canonical().digest();
        let sig = sign(key, &hash);
        Event {
            schema: self.schema,
            event_id: self.event_id,
            device_id: self.device_id,
            institution_code: self.institution_code,
            seq: self.seq,
            sent_at: self.sent_at,
            test_mode: self.test_mode,
            prev_hash: self.prev_hash,
            payload: self.payload,
            hash,
            sig,
        }
    }
}

impl Event {
    fn canonical(&self) -> Canonical<'_> {
        Canonical {
            schema: self.schema,
            event_id: &self.event_id,
            device_id: &self.device_id,
            institution_code: &self.institution_code,
            seq: self.seq,
            sent_at: self.sent_at,
            test_mode: self.test_mode,
            prev_hash: &self.prev_hash,
            payload: &self.payload,
        }
    }

    /// The hash the event's fields actually produce (compare with [`Event::hash`]).
    pub fn computed_hash(&self) -> Digest {
        self.canonical().digest()
    }

    /// True when `sig` is the device key's signature over `hash`. Check [`Event::computed_hash`] first.
    pub fn signed_by(&self, key: &PublicKey) -> bool {
        key.verify(&self.hash, &self.sig)
    }

    /// The topic this event is published on.
    pub fn topic(&self) -> Topic {
        Topic::new(
            self.institution_code.clone(),
            self.device_id.clone(),
            self.payload.topic_kind(),
        )
    }

    /// The compact JSON sent on the wire.
    pub fn to_wire(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("event serialises (see Canonical::digest)")
    }
}
