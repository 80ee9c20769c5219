//! The collector → agent acknowledgement, retained on `wardwatch/v1/{institution}/{device}/ack`.
//!
//! `acked_seq` is the highest `seq` such that the collector has committed every event `1..=acked_seq` of
//! the device. The agent deletes those from its spool and re-sends anything above it that stays
//! unacknowledged too long. The broker's own PUBACK is not enough: brokers drop queued messages.

use crate::SCHEMA_VERSION;
use crate::ids::DeviceId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Largest ack payload accepted by the agent.
pub const MAX_ACK_BYTES: usize = 1024;

/// An acknowledgement of everything up to and including `acked_seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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

    /// Compact JSON for the wire.
    pub fn to_wire(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("ack serialises")
    }

    /// Parses an ack received from the broker.
    pub fn decode(bytes: &[u8]) -> Result<Ack, AckError> {
        if bytes.len() > MAX_ACK_BYTES {
            return Err(AckError::Oversized(bytes.len()));
        }
        let ack: Ack =
            serde_json::from_slice(bytes).map_err(|e| AckError::Invalid(e.to_string()))?;
        if ack.schema != SCHEMA_VERSION {
            return Err(AckError::UnknownSchema(ack.schema));
        }
        Ok(ack)
    }
}
