//! The one contract between the WardWatch agent (ward box) and the collector (bureau).
//!
//! Everything that crosses the broker is defined here, and nothing else is: the agent and the collector
//! both depend on this crate and never on each other.
//!
//! | module | what it holds |
//! |---|---|
//! | [`ids`] | validated identifiers: institution codes (`H43060200175`), device and camera ids, `psn_no` |
//! | [`time`] | [`Timestamp`]: UTC instants with millisecond precision, RFC 3339 on the wire |
//! | [`topic`] | `wardwatch/v1/{institution_code}/{device_id}/{kind}` parsing and formatting |
//! | [`payload`] | what an event says: presence intervals, health heartbeats, camera states, clock jumps, dropped events |
//! | [`embedding`] | face embeddings on the wire (unit-length f32, base64) |
//! | [`evidence`] | face crops of unknown or low-liveness tracks, only when the box's operator turns them on |
//! | [`gallery`] | the bureau-signed gallery of an institution's enrolled patients (collector → agent) |
//! | [`status`] | a device's retained `online`/`offline` (its MQTT last will) |
//! | [`event`] | the signed, hash-chained envelope around a payload, and how a device seals one |
//! | [`crypto`] | SHA-256 digests, Ed25519 device keys and signatures, canonical bytes |
//! | [`pinned`] | the public keys a box pins (gallery, acks): one, or old and new during a rotation |
//! | [`key_file`] | a signing key on disk (the device's, the bureau's): created once, mode 0600, never overwritten |
//! | [`private_file`] | files only their owner may read: keys refused when others may, data files created 0600 and tightened |
//! | [`decode`] | turning untrusted topic + bytes into an [`Event`], with a typed [`DecodeError`] |
//! | [`ack`] | the collector → agent acknowledgement of the highest contiguous committed `seq`, signed |
//!
//! The wire format is documented for humans in `PROTOCOL.md` at the crate root.

pub mod ack;
pub mod crypto;
pub mod decode;
pub mod embedded_photo;
pub mod embedding;
pub mod event;
pub mod evidence;
pub mod gallery;
pub mod ids;
pub mod json_lines;
pub mod key_file;
pub mod payload;
pub mod pinned;
pub mod private_file;
pub mod status;
pub mod time;
pub mod topic;

pub use ack::{Ack, AckError};
pub use crypto::{Digest, PublicKey, Signature, SigningKey};
pub use decode::{DecodeError, Limits, RejectReason, decode_event};
pub use embedded_photo::EmbeddedPhoto;
pub use embedding::FaceEmbedding;
pub use event::{Event, EventDraft};
pub use evidence::{EvidenceCrop, EvidenceReason, Jpeg, MAX_EVIDENCE_BYTES};
pub use gallery::{GalleryDraft, GalleryEntry, GalleryError, SignedGallery};
pub use ids::{CameraId, DeviceId, IdError, InstitutionCode, PsnNo, SeatId, TrackId};
pub use json_lines::{JsonLinesError, read_json_lines};
pub use payload::{
    CameraHealth, CameraState, CameraStatus, ClockJump, DropReason, DroppedEvent, Health, Liveness,
    LivenessVerdict, Payload, Person, Presence, Share, Similarity, SourceKind, SpoolDropped,
    TrackLiveness, WardKind,
};
pub use pinned::{PinnedKeys, PinnedKeysError};
pub use status::{Connection, DeviceStatus};
pub use time::Timestamp;
pub use topic::{Topic, TopicKind};

/// The schema version this build writes and the only one it accepts.
pub const SCHEMA_VERSION: u16 = 2;
