//! The collector → agent acknowledgement, retained on `wardwatch/v1/{institution}/{device}/ack`.
//!
//! `acked_seq` is the highest `seq` such that the collector has committed every event `1..=acked_seq` of
//! the device. The agent deletes those from its spool and re-sends anything above it that stays
//! unacknowledged too long. The broker's own PUBACK is not enough: brokers drop queued messages.
//!
//! An ack makes a box delete data, so it is signed with the collector's ack key and every box pins the
//! public half (`[broker] ack_public_key`): `sig = Ed25519(ack key, SHA-256("wardwatch/v1/ack\n" ‖ C))`,
//! where `C` is the compact JSON of [`Ack`] (every field but `sig`, in order), computed from the typed
//! values. An unsigned ack, or one no pinned key signed, is refused.

use crate::SCHEMA_VERSION;
use crate::crypto::{Digest, Signature, SigningKey, sign};
use crate::ids::DeviceId;
use crate::pinned::PinnedKeys;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Largest ack payload accepted by the agent.
pub const MAX_ACK_BYTES: usize = 1024;

/// Domain-separation prefix of the signed bytes.
const SIGN_DOMAIN: &[u8] = b"wardwatch/v1/ack\n";

/// An acknowledgement of everything up to and including `acked_seq` (what the signature covers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Wire schema version.
    pub schema: u16,
    /// The acknowledged device.
    pub device_id: DeviceId,
    /// Every event `1..=acked_seq` of the device is committed at the collector (0: none yet).
    pub acked_seq: u64,
    /// When the collector computed this.
    pub at: Timestamp,
}

/// An ack as it travels: the [`Ack`]'s fields and the collector's signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedAck {
    schema: u16,
    device_id: DeviceId,
    acked_seq: u64,
    at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sig: Option<Signature>,
}

/// An ack payload could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// Larger than [`MAX_ACK_BYTES`].
    #[error("ack payload of {0} bytes exceeds the {MAX_ACK_BYTES}-byte limit")]
    Oversized(usize),
    /// Not a valid ack document.
    #[error("ack payload is not valid: {0}")]
    Invalid(String),
    /// A schema this build does not speak.
    #[error("ack schema {0} is not supported (this build speaks {SCHEMA_VERSION})")]
    UnknownSchema(u16),
    /// No signature.
    #[error("ack up to seq {0} is not signed")]
    Unsigned(u64),
    /// A signature no pinned ack key made.
    #[error("ack up to seq {0} is not signed by a pinned collector ack key")]
    BadSignature(u64),
}

impl Ack {
    /// An ack for `device` up to `acked_seq`, stamped now.
    pub fn new(device_id: DeviceId, acked_seq: u64) -> Self {
        Ack {
            schema: SCHEMA_VERSION,
            device_id,
            acked_seq,
            at: Timestamp::now(),
        }
    }

    /// The digest the signature covers.
    fn digest(&self) -> Digest {
        let mut bytes = SIGN_DOMAIN.to_vec();
        // Serialising typed values cannot fail.
        bytes.extend(serde_json::to_vec(self).unwrap_or_default());
        Digest::of(&bytes)
    }

    /// Compact JSON for the wire, signed with the collector's ack key.
    pub fn to_signed_wire(&self, key: &SigningKey) -> Vec<u8> {
        self.wire(Some(sign(key, &self.digest())))
    }

    /// Compact JSON with the given signature, or none (only tests send unsigned acks).
    #[doc(hidden)]
    pub fn wire(&self, sig: Option<Signature>) -> Vec<u8> {
        serde_json::to_vec(&SignedAck {
            schema: self.schema,
            device_id: self.device_id.clone(),
            acked_seq: self.acked_seq,
            at: self.at,
            sig,
        })
        .unwrap_or_default()
    }

    /// Parses an ack received from the broker and checks that a pinned ack key signed it.
    pub fn from_signed_wire(bytes: &[u8], pinned: &PinnedKeys) -> Result<Ack, AckError> {
        if bytes.len() > MAX_ACK_BYTES {
            return Err(AckError::Oversized(bytes.len()));
        }
        let wire: SignedAck =
            serde_json::from_slice(bytes).map_err(|e| AckError::Invalid(e.to_string()))?;
        if wire.schema != SCHEMA_VERSION {
            return Err(AckError::UnknownSchema(wire.schema));
        }
        let ack = Ack {
            schema: wire.schema,
            device_id: wire.device_id,
            acked_seq: wire.acked_seq,
            at: wire.at,
        };
        let sig = wire.sig.ok_or(AckError::Unsigned(ack.acked_seq))?;
        if !pinned.verify(&ack.digest(), &sig) {
            return Err(AckError::BadSignature(ack.acked_seq));
        }
        Ok(ack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PublicKey;

    fn collector() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn pinned() -> PinnedKeys {
        PinnedKeys::one(PublicKey::of(&collector()))
    }

    #[test]
    fn a_signed_ack_round_trips() {
        let ack = Ack::new("box-1".parse().unwrap(), 42);
        let back = Ack::from_signed_wire(&ack.to_signed_wire(&collector()), &pinned()).unwrap();
        assert_eq!(back, ack);
    }

    #[test]
    fn unsigned_foreign_and_altered_acks_are_refused() {
        let ack = Ack::new("box-1".parse().unwrap(), 42);
        assert_eq!(
            Ack::from_signed_wire(&ack.wire(None), &pinned()),
            Err(AckError::Unsigned(42))
        );
        let forger = SigningKey::from_bytes(&[8; 32]);
        assert_eq!(
            Ack::from_signed_wire(&ack.to_signed_wire(&forger), &pinned()),
            Err(AckError::BadSignature(42))
        );
        // The real signature moved onto a larger seq.
        let wire = String::from_utf8(ack.to_signed_wire(&collector())).unwrap();
        let raised = wire.replace("\"acked_seq\":42", "\"acked_seq\":999999");
        assert_eq!(
            Ack::from_signed_wire(raised.as_bytes(), &pinned()),
            Err(AckError::BadSignature(999_999))
        );
        // Another device's genuine ack does not verify as this one's.
        let other = wire.replace("box-1", "box-2");
        assert!(matches!(
            Ack::from_signed_wire(other.as_bytes(), &pinned()),
            Err(AckError::BadSignature(42))
        ));
        assert!(matches!(
            Ack::from_signed_wire(&[b' '; MAX_ACK_BYTES + 1], &pinned()),
            Err(AckError::Oversized(_))
        ));
    }
}
