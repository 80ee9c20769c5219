//! Turning an untrusted (topic, bytes) pair into an [`Event`], or a [`DecodeError`] that says what was
//! wrong and where.
//!
//! [`decode_event`] checks everything that needs no outside knowledge: size, topic, JSON, schema, field
//! types and ranges, topic/payload agreement, and the hash. The signature needs the registered device key
//! ([`check_signature`]) and chain continuity needs the predecessor ([`check_link`]); the collector does
//! those with what it has stored.

use crate::SCHEMA_VERSION;
use crate::crypto::{Digest, PublicKey};
use crate::event::Event;
use crate::topic::{Topic, TopicError};
use serde::Deserialize;
use std::fmt;

/// Bounds on what a decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload in bytes.
    pub max_payload_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // A presence event is ~700 bytes; 64 KiB leaves room for later fields, not for abuse.
        Limits {
            max_payload_bytes: 64 * 1024,
        }
    }
}

/// Stable, machine-readable reason codes for rejected messages (stored in the collector's quarantine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Payload larger than [`Limits::max_payload_bytes`].
    Oversized,
    /// Topic is not `wardwatch/v1/{institution}/{device}/{kind}` or not a device-published kind.
    BadTopic,
    /// Not JSON at all.
    InvalidJson,
    /// `schema` is not one this build speaks.
    UnknownSchema,
    /// JSON, but a field is missing, unknown, of the wrong type or out of range.
    InvalidField,
    /// `device_id` differs from the topic's device.
    DeviceMismatch,
    /// `institution_code` differs from the topic's institution, or from the device's registration.
    InstitutionMismatch,
    /// The payload `kind` differs from the topic's kind.
    KindMismatch,
    /// `hash` is not the hash of the event's fields.
    BadHash,
    /// The device is not registered at the collector.
    UnknownDevice,
    /// `sig` is not the registered device key's signature.
    BadSignature,
    /// The device was revoked from a time at or before the event's `sent_at`.
    DeviceRevoked,
    /// `prev_hash` does not link to the stored neighbour's `hash`.
    ChainBroken,
    /// A different event claims a `seq` the collector already holds for that device.
    ReplayedSeq,
    /// `sent_at` (when the box says it sealed the event) is later than the collector's receipt of the
    /// event — its first receipt of the same bytes — plus the clock tolerance: a report from the future.
    SealedInFuture,
    /// A presence interval whose `end` is before its `start`.
    IntervalReversed,
    /// A presence interval whose `end` is later than the event's own `sent_at`, or than the collector's
    /// receipt, plus the clock tolerance: the box reports a sighting it cannot have made yet.
    IntervalInFuture,
    /// A presence interval longer than the collector's maximum for one continuous sighting.
    IntervalTooLong,
    /// `sent_at` is earlier than the `sent_at` of the nearest stored event before it on the device's
    /// chain, or later than that of the nearest stored event after it, beyond the clock tolerance: the
    /// box's seal times must not run backwards along its `seq`.
    SealedOutOfOrder,
    /// Test data from a device registered for production: an event sealed in test mode (replay and
    /// folder sources), or a heartbeat saying a camera reads a recording.
    TestSource,
}

impl RejectReason {
    /// Every reason, in documentation order.
    pub const ALL: [RejectReason; 20] = [
        RejectReason::Oversized,
        RejectReason::BadTopic,
        RejectReason::InvalidJson,
        RejectReason::UnknownSchema,
        RejectReason::InvalidField,
        RejectReason::DeviceMismatch,
        RejectReason::InstitutionMismatch,
        RejectReason::KindMismatch,
        RejectReason::BadHash,
        RejectReason::UnknownDevice,
        RejectReason::BadSignature,
        RejectReason::DeviceRevoked,
        RejectReason::ChainBroken,
        RejectReason::ReplayedSeq,
        RejectReason::SealedInFuture,
        RejectReason::IntervalReversed,
        RejectReason::IntervalInFuture,
        RejectReason::IntervalTooLong,
        RejectReason::SealedOutOfOrder,
        RejectReason::TestSource,
    ];

    /// The snake_case code stored and reported.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Oversized => "oversized",
            RejectReason::BadTopic => "bad_topic",
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::UnknownSchema => "unknown_schema",
            RejectReason::InvalidField => "invalid_field",
            RejectReason::DeviceMismatch => "device_mismatch",
            RejectReason::InstitutionMismatch => "institution_mismatch",
            RejectReason::KindMismatch => "kind_mismatch",
            RejectReason::BadHash => "bad_hash",
            RejectReason::UnknownDevice => "unknown_device",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::DeviceRevoked => "device_revoked",
            RejectReason::ChainBroken => "chain_broken",
            RejectReason::ReplayedSeq => "replayed_seq",
            RejectReason::SealedInFuture => "sealed_in_future",
            RejectReason::IntervalReversed => "interval_reversed",
            RejectReason::IntervalInFuture => "interval_in_future",
            RejectReason::IntervalTooLong => "interval_too_long",
            RejectReason::SealedOutOfOrder => "sealed_out_of_order",
            RejectReason::TestSource => "test_source",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a message is not an acceptable event. The `Display` text names what and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// See [`RejectReason::Oversized`].
    #[error("payload of {size} bytes exceeds the {limit}-byte limit")]
    Oversized {
        /// Payload size.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// See [`RejectReason::BadTopic`].
    #[error(transparent)]
    BadTopic(#[from] TopicError),
    /// A valid topic of a collector → agent kind, which devices must not publish.
    #[error("topic kind {kind} is published by the collector, not by devices")]
    NotADeviceTopic {
        /// The kind found.
        kind: crate::topic::TopicKind,
    },
    /// See [`RejectReason::InvalidJson`].
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    InvalidJson {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// See [`RejectReason::UnknownSchema`].
    #[error("schema version {found} is not supported (this build speaks {SCHEMA_VERSION})")]
    UnknownSchema {
        /// The version found.
        found: u64,
    },
    /// See [`RejectReason::InvalidField`].
    #[error("field `{path}`: {message}")]
    InvalidField {
        /// Dotted path to the field (`payload.best_similarity`); `.` for the document itself.
        path: String,
        /// What was wrong with it.
        message: String,
    },
    /// See [`RejectReason::DeviceMismatch`], [`RejectReason::InstitutionMismatch`] and
    /// [`RejectReason::KindMismatch`].
    #[error("`{field}` is {in_payload:?} but the topic says {in_topic:?}")]
    TopicMismatch {
        /// `device_id`, `institution_code` or `payload.kind`.
        field: &'static str,
        /// Value in the topic.
        in_topic: String,
        /// Value in the payload.
        in_payload: String,
    },
    /// See [`RejectReason::BadHash`].
    #[error("`hash` is {claimed} but the event's fields hash to {computed}")]
    BadHash {
        /// The hash the event carries.
        claimed: Digest,
        /// The hash its fields produce.
        computed: Digest,
    },
    /// See [`RejectReason::BadSignature`].
    #[error("`sig` is not a signature of event seq {seq} by device {device}'s registered key")]
    BadSignature {
        /// Device id.
        device: String,
        /// The event's seq.
        seq: u64,
    },
    /// See [`RejectReason::ChainBroken`].
    #[error("chain broken at seq {seq}: {detail}")]
    ChainBroken {
        /// The event that does not link.
        seq: u64,
        /// Which link failed.
        detail: String,
    },
}

impl DecodeError {
    /// The stable reason code for this error.
    pub fn reason(&self) -> RejectReason {
        match self {
            DecodeError::Oversized { .. } => RejectReason::Oversized,
            DecodeError::BadTopic(_) | DecodeError::NotADeviceTopic { .. } => {
                RejectReason::BadTopic
            }
            DecodeError::InvalidJson { .. } => RejectReason::InvalidJson,
            DecodeError::UnknownSchema { .. } => RejectReason::UnknownSchema,
            DecodeError::InvalidField { .. } => RejectReason::InvalidField,
            DecodeError::TopicMismatch { field, .. } => match *field {
                "device_id" => RejectReason::DeviceMismatch,
                "institution_code" => RejectReason::InstitutionMismatch,
                _ => RejectReason::KindMismatch,
            },
            DecodeError::BadHash { .. } => RejectReason::BadHash,
            DecodeError::BadSignature { .. } => RejectReason::BadSignature,
            DecodeError::ChainBroken { .. } => RejectReason::ChainBroken,
        }
    }
}

/// Only the schema version, read before the rest so that a future schema is reported as such rather than
/// as a field error.
#[derive(Deserialize)]
struct SchemaProbe {
    schema: Option<serde_json::Value>,
}

fn json_error(e: &serde_json::Error) -> DecodeError {
    DecodeError::InvalidJson {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

/// serde reports errors inside the internally tagged `payload` at `payload` only (it buffers the map);
/// this re-reads the payload as its own kind to name the field.
fn locate_payload_error(bytes: &[u8]) -> Option<DecodeError> {
    use crate::payload::{CameraStatus, Health, Presence};
    fn inner<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Option<DecodeError> {
        serde_path_to_error::deserialize::<_, T>(value)
            .err()
            .map(|e| DecodeError::InvalidField {
                path: format!("payload.{}", e.path()),
                message: e.into_inner().to_string(),
            })
    }
    let mut doc: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let payload = doc.get_mut("payload")?.as_object_mut()?;
    let kind = payload.remove("kind")?;
    let payload = serde_json::Value::Object(payload.clone());
    match kind.as_str()? {
        "presence" => inner::<Presence>(payload),
        "health" => inner::<Health>(payload),
        "camera" => inner::<CameraStatus>(payload),
        _ => None,
    }
}

/// Decodes and checks a device-published message. See the module doc for what is and is not checked.
pub fn decode_event(topic: &str, bytes: &[u8], limits: &Limits) -> Result<Event, DecodeError> {
    if bytes.len() > limits.max_payload_bytes {
        return Err(DecodeError::Oversized {
            size: bytes.len(),
            limit: limits.max_payload_bytes,
        });
    }
    let topic = Topic::parse(topic)?;
    if !topic.kind.is_from_device() {
        return Err(DecodeError::NotADeviceTopic { kind: topic.kind });
    }

    let probe: SchemaProbe = match serde_json::from_slice(bytes) {
        Ok(p) => p,
        Err(e) if e.is_syntax() || e.is_eof() || e.is_io() => return Err(json_error(&e)),
        Err(e) => {
            return Err(DecodeError::InvalidField {
                path: ".".into(),
                message: e.to_string(),
            });
        }
    };
    match probe.schema {
        None => {
            return Err(DecodeError::InvalidField {
                path: "schema".into(),
                message: "missing field".into(),
            });
        }
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(SCHEMA_VERSION)) => {}
        Some(serde_json::Value::Number(n)) if n.as_u64().is_some() => {
            return Err(DecodeError::UnknownSchema {
                found: n.as_u64().unwrap_or_default(),
            });
        }
        Some(other) => {
            return Err(DecodeError::InvalidField {
                path: "schema".into(),
                message: format!("expected an unsigned integer, found {other}"),
            });
        }
    }

    let mut de = serde_json::Deserializer::from_slice(bytes);
    let event: Event = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "payload"
            && let Some(located) = locate_payload_error(bytes)
        {
            return located;
        }
        DecodeError::InvalidField {
            path,
            message: e.into_inner().to_string(),
        }
    })?;
    de.end().map_err(|e| json_error(&e))?;

    let mismatch = |field, in_topic: &str, in_payload: &str| DecodeError::TopicMismatch {
        field,
        in_topic: in_topic.to_owned(),
        in_payload: in_payload.to_owned(),
    };
    if event.device_id != topic.device {
        return Err(mismatch(
            "device_id",
            topic.device.as_str(),
            event.device_id.as_str(),
        ));
    }
    if event.institution_code != topic.institution {
        return Err(mismatch(
            "institution_code",
            topic.institution.as_str(),
            event.institution_code.as_str(),
        ));
    }
    if event.payload.topic_kind() != topic.kind {
        return Err(mismatch(
            "payload.kind",
            topic.kind.as_str(),
            event.payload.topic_kind().as_str(),
        ));
    }
    if event.seq == 0 {
        return Err(DecodeError::InvalidField {
            path: "seq".into(),
            message: "must be at least 1".into(),
        });
    }
    let computed = event.computed_hash();
    if computed != event.hash {
        return Err(DecodeError::BadHash {
            claimed: event.hash,
            computed,
        });
    }
    Ok(event)
}

/// Checks the event's signature against the device's registered key.
pub fn check_signature(event: &Event, key: &PublicKey) -> Result<(), DecodeError> {
    if event.signed_by(key) {
        Ok(())
    } else {
        Err(DecodeError::BadSignature {
            device: event.device_id.to_string(),
            seq: event.seq,
        })
    }
}

/// Checks that `event` links to its stored neighbours: `prev` is the stored `hash` of `seq - 1` (or
/// [`Digest::GENESIS`] when `seq` is 1), `next_prev` the stored `prev_hash` of `seq + 1`. `None` means the
/// neighbour is not stored (yet), which is a gap, not a break.
pub fn check_link(
    event: &Event,
    prev: Option<&Digest>,
    next_prev: Option<&Digest>,
) -> Result<(), DecodeError> {
    let prev = if event.seq == 1 {
        Some(&Digest::GENESIS)
    } else {
        prev
    };
    if let Some(prev) = prev
        && *prev != event.prev_hash
    {
        return Err(DecodeError::ChainBroken {
            seq: event.seq,
            detail: format!(
                "prev_hash {} but the stored event seq {} has hash {}",
                event.prev_hash,
                event.seq.saturating_sub(1),
                prev
            ),
        });
    }
    if let Some(next_prev) = next_prev
        && *next_prev != event.hash
    {
        return Err(DecodeError::ChainBroken {
            seq: event.seq,
            detail: format!(
                "hash {} but the stored event seq {} links to {}",
                event.hash,
                event.seq + 1,
                next_prev
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::RejectReason;

    /// Exhaustive over the variants: a new reason does not compile here until it is numbered, and then
    /// fails the test until [`RejectReason::ALL`] lists it in that place.
    fn position(reason: RejectReason) -> usize {
        match reason {
            RejectReason::Oversized => 0,
            RejectReason::BadTopic => 1,
            RejectReason::InvalidJson => 2,
            RejectReason::UnknownSchema => 3,
            RejectReason::InvalidField => 4,
            RejectReason::DeviceMismatch => 5,
            RejectReason::InstitutionMismatch => 6,
            RejectReason::KindMismatch => 7,
            RejectReason::BadHash => 8,
            RejectReason::UnknownDevice => 9,
            RejectReason::BadSignature => 10,
            RejectReason::DeviceRevoked => 11,
            RejectReason::ChainBroken => 12,
            RejectReason::ReplayedSeq => 13,
            RejectReason::SealedInFuture => 14,
            RejectReason::IntervalReversed => 15,
            RejectReason::IntervalInFuture => 16,
            RejectReason::IntervalTooLong => 17,
            RejectReason::SealedOutOfOrder => 18,
            RejectReason::TestSource => 19,
        }
    }

    #[test]
    fn every_reason_is_listed_once_with_its_own_snake_case_code() {
        for (i, reason) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(position(*reason), i, "{reason} is out of place in ALL");
        }
        let mut codes: Vec<&str> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        assert!(
            codes
                .iter()
                .all(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')),
            "{codes:?}"
        );
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), RejectReason::ALL.len());
        let times: Vec<String> = RejectReason::ALL
            [position(RejectReason::SealedInFuture)..=position(RejectReason::SealedOutOfOrder)]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            times,
            [
                "sealed_in_future",
                "interval_reversed",
                "interval_in_future",
                "interval_too_long",
                "sealed_out_of_order"
            ]
        );
    }
}
