//! What an event says. Each payload kind travels on the topic of the same name.

use crate::crypto::Digest;
use crate::embedding::FaceEmbedding;
use crate::ids::{CameraId, PsnNo, SeatId, TrackId};
use crate::time::Timestamp;
use crate::topic::TopicKind;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The kind of ward a device watches; decides which billed services its presence can support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WardKind {
    /// 血液透析: haemodialysis and haemodiafiltration.
    Haemodialysis,
    /// 康复理疗: rehabilitation and physiotherapy sessions.
    Rehabilitation,
    /// 精神病院: psychiatric inpatient wards.
    Psychiatric,
    /// Any other monitored area.
    Other,
}

impl WardKind {
    /// The wire name (`haemodialysis`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            WardKind::Haemodialysis => "haemodialysis",
            WardKind::Rehabilitation => "rehabilitation",
            WardKind::Psychiatric => "psychiatric",
            WardKind::Other => "other",
        }
    }
}

/// Who was present: an enrolled patient, or a face the gallery does not know.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Person {
    /// An enrolled patient, by insured-person number.
    PsnNo(PsnNo),
    /// An unknown face, by the agent's track id.
    UnknownTrack(TrackId),
}

/// Why a score is out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{value} is outside [{min}, {max}] (or not a number)")]
pub struct ScoreError {
    value: f64,
    min: f64,
    max: f64,
}

macro_rules! bounded_score {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
        #[serde(try_from = "f64", into = "f64")]
        pub struct $name(f64);

        impl $name {
            /// The score as a number.
            pub fn get(self) -> f64 {
                self.0
            }
        }

        impl TryFrom<f64> for $name {
            type Error = ScoreError;
            fn try_from(value: f64) -> Result<Self, ScoreError> {
                // NaN fails both comparisons.
                if ($min..=$max).contains(&value) {
                    Ok($name(value))
                } else {
                    Err(ScoreError { value, min: $min, max: $max })
                }
            }
        }

        impl From<$name> for f64 {
            fn from(s: $name) -> f64 {
                s.0
            }
        }
    };
}

bounded_score!(
    /// Cosine similarity between a face and its gallery match, in [-1, 1].
    Similarity,
    -1.0,
    1.0
);

bounded_score!(
    /// Probability that a face is live (not a photo or a screen), in [0, 1].
    Liveness,
    0.0,
    1.0
);

bounded_score!(
    /// A share or a fraction, in [0, 1].
    Share,
    0.0,
    1.0
);

/// What a track's landmarks say about whether the face is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LivenessVerdict {
    /// The landmarks moved non-rigidly or the eyes blinked: a face, not a flat picture of one.
    Live,
    /// Enough samples, and the landmarks only ever moved as one rigid plane and never blinked: what a
    /// photo or a screen held up to the camera does.
    NotLive,
    /// Too few pairs of landmark samples to say.
    Undetermined,
}

impl LivenessVerdict {
    /// The wire name (`live`, `not_live`, `undetermined`).
    pub fn as_str(self) -> &'static str {
        match self {
            LivenessVerdict::Live => "live",
            LivenessVerdict::NotLive => "not_live",
            LivenessVerdict::Undetermined => "undetermined",
        }
    }
}

/// Liveness from the whole track over an interval: how the face's 68 landmarks moved between samples
/// taken a few times a second, whether its eyes blinked, and the single-frame model's median, with the
/// agent's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackLiveness {
    /// Landmark samples taken in the interval.
    pub samples: u32,
    /// Pairs of consecutive samples close enough in time to compare (the residual's population).
    pub pairs: u32,
    /// Median of the single-frame liveness model's score over the interval (the report's `liveness`).
    pub model_median: Liveness,
    /// Share of consecutive sample pairs whose landmarks moved non-rigidly: the residual after the
    /// best homography between them above the agent's threshold (a fraction of the face's size).
    pub nonrigid_motion: Share,
    /// The 90th percentile of that residual over the pairs, as a fraction of the face's size (to ±0.001).
    pub residual_p90: Share,
    /// Blinks seen: the eyes' openness dipped below its recent level and recovered.
    pub blinks: u32,
    /// The agent's verdict.
    pub verdict: LivenessVerdict,
}

/// A presence interval: one person seen by one camera from `start` to `end`.
///
/// A long stay is reported several times under the same `interval_id`: checkpoints with `open: true`
/// while the person is still there, then one final report with `open: false`. The latest report (highest
/// `seq`) for an `interval_id` supersedes the earlier ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Presence {
    /// Stable across the checkpoints and the final report of one interval.
    pub interval_id: Uuid,
    /// The camera that saw the person.
    pub camera_id: CameraId,
    /// The kind of ward the camera watches.
    pub ward_kind: WardKind,
    /// Who was seen.
    pub person: Person,
    /// First sighting in the interval.
    pub start: Timestamp,
    /// Last sighting in the interval so far.
    pub end: Timestamp,
    /// `true` for a checkpoint of an interval still in progress, `false` once it has closed.
    pub open: bool,
    /// How many recognised sightings the interval is built from.
    pub samples: u32,
    /// Best similarity over the sightings.
    pub best_similarity: Similarity,
    /// Median similarity over the sightings.
    pub median_similarity: Similarity,
    /// Median liveness over the sightings.
    pub liveness: Liveness,
    /// For an unknown face's final report: the average of its track's embeddings, so the collector can
    /// compare it with the gallery ("someone else sat in that chair"). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<FaceEmbedding>,
    /// Liveness from the whole track (landmark motion, blinks), when the agent took landmark samples.
    /// Absent from older agents and from intervals without samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_liveness: Option<TrackLiveness>,
    /// The seat zone of the camera (a chair, a bed) that held most of the interval's face centres, when
    /// the box's technician drew seat zones for the camera and one zone held a majority. Absent from
    /// older agents, from cameras without zones and from intervals no zone held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<SeatId>,
}

/// The device's heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// The agent's version string.
    pub agent_version: String,
    /// Events sealed but not yet acknowledged by the collector.
    pub spool_depth: u64,
    /// Seconds since the agent process started.
    pub uptime_secs: u64,
    /// The version of the bureau gallery in force (`None`: no signed gallery yet).
    pub gallery_version: Option<u64>,
    /// Each camera's recent work.
    pub cameras: Vec<CameraHealth>,
}

/// One camera's recent work, in a heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraHealth {
    /// The camera.
    pub camera_id: CameraId,
    /// Its state now (`None`: not yet known).
    pub state: Option<CameraState>,
    /// Frames looked at per second since the last heartbeat.
    pub fps: f64,
    /// Mean milliseconds of face work per frame looked at.
    pub inference_ms: f64,
    /// Faces followed now.
    pub tracks: u32,
    /// Where its frames come from (absent from agents older than this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceKind>,
}

/// Where a camera's frames come from, as the agent's configuration says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A network camera's RTSP stream.
    Rtsp,
    /// A USB camera (V4L2).
    Usb,
    /// A folder of recorded frames: tests and the demo only.
    Folder,
    /// Recorded sightings replayed without a camera: tests and the demo only.
    Replay,
}

impl SourceKind {
    /// The wire name (`rtsp`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Rtsp => "rtsp",
            SourceKind::Usb => "usb",
            SourceKind::Folder => "folder",
            SourceKind::Replay => "replay",
        }
    }

    /// A recording rather than a live camera: allowed only in test mode, and never from a device
    /// registered for production.
    pub fn is_recording(self) -> bool {
        matches!(self, SourceKind::Folder | SourceKind::Replay)
    }
}

/// The system clock jumped: wall-clock time moved by `jump_ms` more (or less, if negative) than the
/// monotonic clock between two readings. Events sealed around it may carry shifted times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockJump {
    /// The wall-clock time right after the jump was seen.
    pub detected_at: Timestamp,
    /// How far the wall clock jumped, in milliseconds (negative: backwards).
    pub jump_ms: i64,
}

/// Why sealed events were dropped before the collector had them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The spool reached its disk budget while the collector was unreachable.
    SpoolFull,
}

/// One sealed event the agent dropped, with the chain links the collector needs to bridge it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DroppedEvent {
    /// Its seq.
    pub seq: u64,
    /// Its hash (the next event's `prev_hash`).
    pub hash: Digest,
    /// Its `prev_hash`.
    pub prev_hash: Digest,
    /// The presence interval it was a checkpoint of (only checkpoints are ever dropped).
    pub interval_id: Uuid,
}

/// The agent dropped sealed events, and says exactly which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolDropped {
    /// Why.
    pub reason: DropReason,
    /// The events, in seq order.
    pub events: Vec<DroppedEvent>,
}

/// What a camera is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Frames arrive and look like the ward.
    Ok,
    /// No frames: unplugged, network down, stream closed.
    Offline,
    /// Dark or uniform frames: lens covered.
    Obstructed,
    /// Identical frames: a stuck or replayed stream.
    Frozen,
    /// The scene no longer matches its reference: camera turned away.
    Moved,
}

impl CameraState {
    /// The wire name (`ok`, `offline`, `obstructed`, `frozen`, `moved`).
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Ok => "ok",
            CameraState::Offline => "offline",
            CameraState::Obstructed => "obstructed",
            CameraState::Frozen => "frozen",
            CameraState::Moved => "moved",
        }
    }
}

/// A camera entered `state` at `since`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraStatus {
    /// The camera.
    pub camera_id: CameraId,
    /// Its new state.
    pub state: CameraState,
    /// When it entered that state.
    pub since: Timestamp,
}

/// The body of an event, tagged by `kind` (which must equal the topic's last level).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    /// A presence interval (topic kind `presence`).
    Presence(Presence),
    /// A heartbeat (topic kind `health`).
    Health(Health),
    /// A camera state change (topic kind `camera`).
    Camera(CameraStatus),
    /// A jump of the system clock (topic kind `clock`).
    Clock(ClockJump),
    /// Sealed events dropped from a full spool (topic kind `dropped`).
    Dropped(SpoolDropped),
    /// A face crop the operator asked for (topic kind `evidence`).
    Evidence(crate::evidence::EvidenceCrop),
}

impl Payload {
    /// The topic kind this payload travels on.
    pub fn topic_kind(&self) -> TopicKind {
        match self {
            Payload::Presence(_) => TopicKind::Presence,
            Payload::Health(_) => TopicKind::Health,
            Payload::Camera(_) => TopicKind::Camera,
            Payload::Clock(_) => TopicKind::Clock,
            Payload::Dropped(_) => TopicKind::Dropped,
            Payload::Evidence(_) => TopicKind::Evidence,
        }
    }
}
