//! A device's connection status on `wardwatch/v1/{institution}/{device}/status`, retained: the agent
//! publishes `online` when it connects and leaves `offline` as its MQTT last will, which the broker
//! publishes when the connection dies without a goodbye. Not signed — a last will is fixed before the
//! connection it outlives — so it is only as trustworthy as the broker's authentication of the device
//! (mutual TLS in production); the signed heartbeats on `health` are the evidence.

use crate::SCHEMA_VERSION;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Connected or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// The agent is connected.
    Online,
    /// The agent's connection died (its last will) or it said goodbye.
    Offline,
}

/// The message on `…/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceStatus {
    /// Wire schema version.
    pub schema: u16,
    /// Connected or not.
    pub state: Connection,
    /// When the agent connected (absent in the last will, whose time only the broker knows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
}

/// Why a status message is not usable.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Not the expected JSON.
    #[error("status message: {0}")]
    Json(String),
    /// Another schema.
    #[error("status schema {0} is not supported (this build speaks {SCHEMA_VERSION})")]
    UnknownSchema(u16),
}

impl DeviceStatus {
    /// `online`, connected at `at`.
    pub fn online(at: Timestamp) -> DeviceStatus {
        DeviceStatus {
            schema: SCHEMA_VERSION,
            state: Connection::Online,
            at: Some(at),
        }
    }

    /// `offline`, as the last will.
    pub fn offline() -> DeviceStatus {
        DeviceStatus {
            schema: SCHEMA_VERSION,
            state: Connection::Offline,
            at: None,
        }
    }

    /// The compact JSON.
    pub fn to_wire(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a received message.
    pub fn from_wire(bytes: &[u8]) -> Result<DeviceStatus, StatusError> {
        let status: DeviceStatus =
            serde_json::from_slice(bytes).map_err(|e| StatusError::Json(e.to_string()))?;
        if status.schema != SCHEMA_VERSION {
            return Err(StatusError::UnknownSchema(status.schema));
        }
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_and_offline_round_trip() {
        let at: Timestamp = "2026-11-23T08:00:00.000Z".parse().expect("time");
        for status in [DeviceStatus::online(at), DeviceStatus::offline()] {
            assert_eq!(
                DeviceStatus::from_wire(&status.to_wire()).expect("parse"),
                status
            );
        }
        assert_eq!(
            String::from_utf8(DeviceStatus::offline().to_wire()).expect("utf-8"),
            format!("{{\"schema\":{SCHEMA_VERSION},\"state\":\"offline\"}}")
        );
        assert!(DeviceStatus::from_wire(b"{\"schema\":1,\"state\":\"online\"}").is_err());
        assert!(DeviceStatus::from_wire(b"online").is_err());
    }
}
