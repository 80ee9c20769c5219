//! The agent's TOML configuration, parsed into types at load time and checked by `wardwatch-agent check`.
//!
//! Relative paths are resolved against the directory of the configuration file, so a ward box's
//! configuration folder can be moved as a whole.

use crate::vision::engine::{
    DEFAULT_LIVE_THRESHOLD, DEFAULT_MATCH_MARGIN, DEFAULT_MIN_FACE_PX, DEFAULT_VERIFY_THRESHOLD,
    DetectorKind,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use wardwatch_link::{BrokerUrl, TlsFiles};
use wardwatch_protocol::{CameraId, DeviceId, InstitutionCode, Timestamp, WardKind};

/// Why a configuration cannot be used. Each variant names the file and, where known, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key, a missing key or a value of the wrong form.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, which names the key, line and column.
        message: String,
    },
    /// A value is well-formed but unusable (e.g. a TLS file that does not exist).
    #[error("config file {path}: `{key}` {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted key, e.g. `broker.ca_file`.
        key: &'static str,
        /// What is wrong.
        why: String,
    },
}

/// The whole agent configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// This ward box's id, registered at the collector.
    pub device_id: DeviceId,
    /// The institution the box is installed at (H/P + 11 digits).
    pub institution_code: InstitutionCode,
    /// What kind of ward the cameras watch.
    pub ward_kind: WardKind,
    /// The device's Ed25519 key (created with mode 0600 on first start when missing).
    #[serde(default = "default_key_file")]
    pub key_file: PathBuf,
    /// Where sealed events wait for the collector's acknowledgement.
    #[serde(default = "default_spool_dir")]
    pub spool_dir: PathBuf,
    /// Disk budget of the unacknowledged events, in MiB: beyond it the oldest presence checkpoints
    /// are dropped (and the drop recorded), never camera states or final reports.
    #[serde(default = "default_spool_max_mib")]
    pub spool_max_mib: u64,
    /// How to reach the broker.
    pub broker: BrokerConfig,
    /// How sightings become presence intervals.
    #[serde(default)]
    pub presence: PresenceConfig,
    /// Recorded sightings to replay (`[source]`), instead of cameras.
    #[serde(default)]
    pub source: Option<SourceConfig>,
    /// The cameras (`[[camera]]`), instead of a replay.
    #[serde(default, rename = "camera")]
    pub cameras: Vec<CameraConfig>,
    /// How faces are found and matched on this box.
    #[serde(default)]
    pub recognition: RecognitionConfig,
    /// Heartbeats.
    #[serde(default)]
    pub health: HealthConfig,
    /// The bureau's signed gallery.
    #[serde(default)]
    pub gallery: GalleryConfig,
    /// Evidence crops (off by default: no image leaves the box).
    #[serde(default)]
    pub evidence: EvidenceConfig,
}

fn default_key_file() -> PathBuf {
    "device.key".into()
}

fn default_spool_max_mib() -> u64 {
    2048
}

fn default_spool_dir() -> PathBuf {
    "spool".into()
}

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
    /// MQTT client id; default `wardwatch-agent-{device_id}`. Must be stable: the broker keeps the
    /// persistent session under it.
    pub client_id: Option<String>,
    /// Re-send everything unacknowledged when the collector's ack has not advanced for this long.
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

fn default_window() -> u64 {
    500
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
}

/// `[presence]`: how sightings are folded into intervals.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceConfig {
    /// An interval closes when its person has not been seen for this long.
    #[serde(default = "default_close_after_secs")]
    pub close_after_secs: u64,
    /// Sightings needed before an interval is reported (fewer: a passer-by or a misrecognition).
    #[serde(default = "default_min_samples")]
    pub min_samples: u32,
    /// An open interval is reported (as a checkpoint) at least this often.
    #[serde(default = "default_checkpoint_secs")]
    pub checkpoint_secs: u64,
}

fn default_close_after_secs() -> u64 {
    120
}

fn default_min_samples() -> u32 {
    3
}

fn default_checkpoint_secs() -> u64 {
    300
}

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig {
            close_after_secs: default_close_after_secs(),
            min_samples: default_min_samples(),
            checkpoint_secs: default_checkpoint_secs(),
        }
    }
}

/// `[recognition]`: how faces are found, checked and matched on this box. The defaults are the ones
/// measured in the README (ORL accuracy, synthetic-frame recall); `verify` and `identify` use them too.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecognitionConfig {
    /// The model manifest (default: `$WARDWATCH_MODELS`, else `models/manifest.toml` in the working
    /// directory).
    #[serde(default)]
    pub models: Option<PathBuf>,
    /// Enrolled people (JSON Lines as `enroll-embed --psn-no … --institution …` prints them); without
    /// one every face is unknown. The bureau's signed gallery takes over once it arrives.
    #[serde(default)]
    pub gallery: Option<PathBuf>,
    /// Which detector finds the faces (`mtcnn` or `single_pass`).
    #[serde(default = "default_detector")]
    pub detector: DetectorKind,
    /// The smallest face, in pixels, the detector looks for (MTCNN's pyramid starts here).
    #[serde(default = "default_min_face_px")]
    pub min_face_px: f32,
    /// Cosine similarity from which two faces are the same person.
    #[serde(default = "default_similarity_threshold")]
    pub similarity_threshold: f32,
    /// How far the best enrolled person must lead the runner-up to be named.
    #[serde(default = "default_margin")]
    pub margin: f32,
    /// Live-class probability from which a face counts as live (not a print or a screen).
    #[serde(default = "default_live_threshold")]
    pub live_threshold: f32,
}

fn default_detector() -> DetectorKind {
    DetectorKind::Mtcnn
}

fn default_min_face_px() -> f32 {
    DEFAULT_MIN_FACE_PX
}

fn default_similarity_threshold() -> f32 {
    DEFAULT_VERIFY_THRESHOLD
}

fn default_margin() -> f32 {
    DEFAULT_MATCH_MARGIN
}

fn default_live_threshold() -> f32 {
    DEFAULT_LIVE_THRESHOLD
}

impl Default for RecognitionConfig {
    fn default() -> Self {
        RecognitionConfig {
            models: None,
            gallery: None,
            detector: default_detector(),
            min_face_px: default_min_face_px(),
            similarity_threshold: default_similarity_threshold(),
            margin: default_margin(),
            live_threshold: default_live_threshold(),
        }
    }
}

impl RecognitionConfig {
    /// The model manifest in force.
    pub fn manifest_path(&self) -> PathBuf {
        self.models.clone().unwrap_or_else(|| {
            std::env::var_os("WARDWATCH_MODELS")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("models/manifest.toml"))
        })
    }

    /// The first value out of range, as (dotted key, why).
    fn problem(&self) -> Option<(&'static str, &'static str)> {
        let r = self;
        if !(r.min_face_px.is_finite() && (12.0..=1000.0).contains(&r.min_face_px)) {
            return Some((
                "recognition.min_face_px",
                "must be between 12 and 1000 pixels",
            ));
        }
        if !(r.similarity_threshold.is_finite() && (-1.0..=1.0).contains(&r.similarity_threshold)) {
            return Some((
                "recognition.similarity_threshold",
                "must be a cosine similarity between -1 and 1",
            ));
        }
        if !(r.margin.is_finite() && (0.0..1.0).contains(&r.margin)) {
            return Some(("recognition.margin", "must be at least 0 and below 1"));
        }
        if !(r.live_threshold.is_finite() && (0.0..=1.0).contains(&r.live_threshold)) {
            return Some((
                "recognition.live_threshold",
                "must be a probability between 0 and 1",
            ));
        }
        None
    }
}

/// `[health]`: heartbeats.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Seconds between heartbeats (the first is sent at start).
    #[serde(default = "default_health_interval_secs")]
    pub interval_secs: u64,
}

fn default_health_interval_secs() -> u64 {
    60
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval_secs: default_health_interval_secs(),
        }
    }
}

/// `[evidence]`: face crops of unknown or low-liveness tracks, sent only when the operator turns them
/// on, only over TLS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceConfig {
    /// Send crops at all (default false).
    #[serde(default)]
    pub enabled: bool,
    /// Largest crop, bytes of JPEG (default 16384; at most 40960).
    #[serde(default = "default_evidence_max_bytes")]
    pub max_bytes: u32,
    /// Longest side of a crop in pixels (default 112).
    #[serde(default = "default_evidence_side_px")]
    pub side_px: u32,
    /// A recognised patient's track whose median liveness is below this is sent too (default 0.5).
    #[serde(default = "default_evidence_liveness_below")]
    pub liveness_below: f64,
    /// At most this many crops per camera per hour (default 30).
    #[serde(default = "default_evidence_max_per_hour")]
    pub max_per_hour: u32,
}

fn default_evidence_max_bytes() -> u32 {
    16 * 1024
}

fn default_evidence_side_px() -> u32 {
    112
}

fn default_evidence_liveness_below() -> f64 {
    0.5
}

fn default_evidence_max_per_hour() -> u32 {
    30
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            enabled: false,
            max_bytes: default_evidence_max_bytes(),
            side_px: default_evidence_side_px(),
            liveness_below: default_evidence_liveness_below(),
            max_per_hour: default_evidence_max_per_hour(),
        }
    }
}

impl EvidenceConfig {
    /// The first unusable setting, as (key, why).
    fn problem(&self, broker_tls: bool) -> Option<(&'static str, String)> {
        if !self.enabled {
            return None;
        }
        if !broker_tls {
            return Some((
                "evidence.enabled",
                "evidence crops travel only over TLS: set broker.url to mqtts://".into(),
            ));
        }
        let max = wardwatch_protocol::MAX_EVIDENCE_BYTES as u32;
        if !(2048..=max).contains(&self.max_bytes) {
            return Some((
                "evidence.max_bytes",
                format!("must be between 2048 and {max}"),
            ));
        }
        if !(32..=256).contains(&self.side_px) {
            return Some(("evidence.side_px", "must be between 32 and 256".into()));
        }
        if !(0.0..=1.0).contains(&self.liveness_below) {
            return Some((
                "evidence.liveness_below",
                "must be a probability between 0 and 1".into(),
            ));
        }
        None
    }
}

/// `[gallery]`: the bureau's signed gallery.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GalleryConfig {
    /// The bureau's public key (64 hex digits, `wardwatch-collector bureau-key show`): only galleries
    /// it signed are taken. Without it, galleries from the collector are refused and the local
    /// `[recognition] gallery` file serves.
    #[serde(default)]
    pub bureau_public_key: Option<wardwatch_protocol::PublicKey>,
}

/// One `[[camera]]`: where its frames come from and how many of them are looked at.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// The camera's id, unique on this box (letters, digits, '.', '_', '-').
    pub id: CameraId,
    /// Where its frames come from.
    pub source: CameraSource,
    /// Look at no more than this many frames a second (default: every frame).
    #[serde(default)]
    pub max_fps: Option<f64>,
    /// Look for faces only inside this rectangle of the frame (the tamper checks see the whole frame).
    #[serde(default)]
    pub roi: Option<Roi>,
}

/// A camera's frame source, by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CameraSource {
    /// A recorded clip: a folder of images in file-name order, frame `n` captured at
    /// `start + n / fps`.
    Folder {
        /// The folder.
        path: PathBuf,
        /// Capture time of the first frame (RFC 3339, UTC).
        start: Timestamp,
        /// Frames per second of the recording.
        fps: f64,
    },
    /// A network camera's RTSP stream (H.264), e.g. a Hikvision
    /// `rtsp://192.168.1.64:554/Streaming/Channels/102` or a Dahua
    /// `rtsp://192.168.1.108:554/cam/realmonitor?channel=1&subtype=1`.
    Rtsp {
        /// `rtsp://host[:port]/path`; credentials may be in it (`rtsp://user:pass@host/…`) or below.
        url: String,
        /// How RTP travels: `tcp` (interleaved on the RTSP connection, the default) or `udp`.
        #[serde(default)]
        transport: RtspTransport,
        /// The camera account's user name (instead of putting it in the URL).
        #[serde(default)]
        username: Option<String>,
        /// Its password (instead of putting it in the URL). Never logged.
        #[serde(default)]
        password: Option<String>,
    },
    /// A USB (UVC) camera through V4L2; needs an agent built with `--features usb`.
    Usb {
        /// The device: an index (`0` for `/dev/video0`) or a path (`/dev/video0`, or a stable
        /// `/dev/v4l/by-id/…` link).
        device: UsbDevice,
        /// The capture width in pixels.
        width: u32,
        /// The capture height in pixels.
        height: u32,
        /// Frames per second to ask the camera for (default: the camera's choice for the size).
        #[serde(default)]
        fps: Option<u32>,
    },
}

impl CameraSource {
    /// An `rtsp` source's checked URL and credentials (`None` for other kinds).
    pub fn rtsp_endpoint(&self) -> Option<Result<crate::sources::rtsp::RtspEndpoint, String>> {
        match self {
            CameraSource::Rtsp {
                url,
                transport,
                username,
                password,
            } => Some(crate::sources::rtsp::RtspEndpoint::new(
                url,
                username.as_deref(),
                password.as_deref(),
                *transport,
            )),
            _ => None,
        }
    }
}

/// How an RTSP camera's RTP packets travel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RtspTransport {
    /// Interleaved on the RTSP TCP connection: no packet loss, passes NAT and firewalls.
    #[default]
    Tcp,
    /// Separate UDP ports: lower latency on a clean LAN, frames lost with packets.
    Udp,
}

/// A USB camera, by index or device path.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum UsbDevice {
    /// `/dev/video{N}`.
    Index(u32),
    /// A device node or a link to one.
    Path(PathBuf),
}

impl std::fmt::Display for UsbDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UsbDevice::Index(n) => write!(f, "/dev/video{n}"),
            UsbDevice::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A rectangle of the frame, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roi {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// `[source]`: where sightings come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// Sightings replayed from a JSON Lines file (testing the transport before cameras exist).
    Replay {
        /// The `.jsonl` file.
        path: PathBuf,
        /// Replay at most this many sightings per second (default: as fast as possible). For lab
        /// replays that should look like a live ward, and for tests that interrupt a stream midway.
        #[serde(default)]
        max_rate_per_sec: Option<f64>,
    },
}

impl AgentConfig {
    /// Reads, parses and checks a configuration file; relative paths become relative to its folder.
    pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::parse(path, &text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config.validate(path)?;
        Ok(config)
    }

    /// Parses TOML text (no path resolution, no file checks).
    pub fn parse(path: &Path, text: &str) -> Result<AgentConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.key_file);
        fix(&mut self.spool_dir);
        for p in [
            &mut self.broker.ca_file,
            &mut self.broker.cert_file,
            &mut self.broker.key_file,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
        if let Some(SourceConfig::Replay { path, .. }) = &mut self.source {
            fix(path);
        }
        for camera in &mut self.cameras {
            if let CameraSource::Folder { path, .. } = &mut camera.source {
                fix(path);
            }
        }
        for p in [&mut self.recognition.models, &mut self.recognition.gallery]
            .into_iter()
            .flatten()
        {
            fix(p);
        }
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key, why: String| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            why,
        };
        let b = &self.broker;
        if b.url.tls && b.ca_file.is_none() {
            return Err(invalid(
                "broker.ca_file",
                "is required with an mqtts:// url (the bureau CA is pinned)".into(),
            ));
        }
        if !b.url.tls && (b.ca_file.is_some() || b.cert_file.is_some()) {
            return Err(invalid(
                "broker.url",
                "is mqtt:// (plain) but TLS files are configured; use mqtts://".into(),
            ));
        }
        if b.cert_file.is_some() != b.key_file.is_some() {
            return Err(invalid(
                "broker.cert_file",
                "and broker.key_file must be given together".into(),
            ));
        }
        for (key, file) in [
            ("broker.ca_file", &b.ca_file),
            ("broker.cert_file", &b.cert_file),
            ("broker.key_file", &b.key_file),
        ] {
            if let Some(file) = file
                && !file.is_file()
            {
                return Err(invalid(key, format!("{} does not exist", file.display())));
            }
        }
        if !(b.resend_after_secs.is_finite() && b.resend_after_secs >= 0.1) {
            return Err(invalid(
                "broker.resend_after_secs",
                "must be at least 0.1".into(),
            ));
        }
        if b.window == 0 {
            return Err(invalid("broker.window", "must be at least 1".into()));
        }
        if let Some(id) = &b.client_id
            && (id.is_empty() || id.len() > 128)
        {
            return Err(invalid(
                "broker.client_id",
                "must be 1 to 128 characters".into(),
            ));
        }
        let p = &self.presence;
        if p.min_samples == 0 {
            return Err(invalid("presence.min_samples", "must be at least 1".into()));
        }
        if p.close_after_secs == 0 || p.checkpoint_secs == 0 {
            return Err(invalid(
                "presence.close_after_secs",
                "and presence.checkpoint_secs must be positive".into(),
            ));
        }
        if let Some((key, why)) = self.recognition.problem() {
            return Err(invalid(key, why.into()));
        }
        if self.spool_max_mib == 0 {
            return Err(invalid("spool_max_mib", "must be at least 1".into()));
        }
        if self.health.interval_secs == 0 {
            return Err(invalid("health.interval_secs", "must be at least 1".into()));
        }
        if let Some((key, why)) = self.evidence.problem(self.broker.url.tls) {
            return Err(invalid(key, why));
        }
        match (&self.source, self.cameras.is_empty()) {
            (None, true) => {
                return Err(invalid(
                    "camera",
                    "is missing: configure [[camera]] entries (or a [source] replay)".into(),
                ));
            }
            (Some(_), false) => {
                return Err(invalid(
                    "source",
                    "and [[camera]] cannot be used together: a box either replays sightings or \
                     watches cameras"
                        .into(),
                ));
            }
            _ => {}
        }
        self.validate_cameras(path)?;
        if let Some(SourceConfig::Replay {
            path: file,
            max_rate_per_sec,
        }) = &self.source
        {
            if let Some(rate) = max_rate_per_sec
                && !(rate.is_finite() && *rate > 0.0)
            {
                return Err(invalid(
                    "source.max_rate_per_sec",
                    "must be a positive number".into(),
                ));
            }
            if !file.is_file() {
                return Err(invalid(
                    "source.path",
                    format!("{} does not exist", file.display()),
                ));
            }
        }
        if self.spool_dir.exists() && !self.spool_dir.is_dir() {
            return Err(invalid(
                "spool_dir",
                format!("{} exists and is not a directory", self.spool_dir.display()),
            ));
        }
        Ok(())
    }

    /// Checks each `[[camera]]`: unique ids, a usable source, rate and region, and the models and
    /// gallery the cameras need.
    fn validate_cameras(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key, why: String| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            why,
        };
        let mut seen = std::collections::BTreeSet::new();
        for camera in &self.cameras {
            let id = &camera.id;
            if !seen.insert(id.clone()) {
                return Err(invalid("camera.id", format!("{id} is used twice")));
            }
            if let Some(fps) = camera.max_fps
                && !(fps.is_finite() && fps > 0.0)
            {
                return Err(invalid(
                    "camera.max_fps",
                    format!("of camera {id} must be a positive number"),
                ));
            }
            if let Some(roi) = camera.roi
                && (roi.width == 0 || roi.height == 0)
            {
                return Err(invalid(
                    "camera.roi",
                    format!("of camera {id} must have a positive width and height"),
                ));
            }
            match &camera.source {
                CameraSource::Folder { path: dir, fps, .. } => {
                    if !(fps.is_finite() && *fps > 0.0) {
                        return Err(invalid(
                            "camera.source.fps",
                            format!("of camera {id} must be a positive number"),
                        ));
                    }
                    if !dir.is_dir() {
                        return Err(invalid(
                            "camera.source.path",
                            format!("of camera {id}: {} is not a folder", dir.display()),
                        ));
                    }
                }
                CameraSource::Rtsp { .. } => {
                    if let Some(Err(why)) = camera.source.rtsp_endpoint() {
                        return Err(invalid(
                            "camera.source.url",
                            format!("of camera {id}: {why}"),
                        ));
                    }
                }
                CameraSource::Usb {
                    device,
                    width,
                    height,
                    fps,
                } => {
                    if !cfg!(feature = "usb") {
                        return Err(invalid(
                            "camera.source.kind",
                            format!(
                                "of camera {id} is \"usb\", but this wardwatch-agent was built \
                                 without USB camera support: rebuild it with `cargo build --release \
                                 -p wardwatch-agent --features usb` (needs libclang-dev)"
                            ),
                        ));
                    }
                    if !(1..=8192).contains(width) || !(1..=8192).contains(height) {
                        return Err(invalid(
                            "camera.source.width",
                            format!("and height of camera {id} must be 1 to 8192 pixels"),
                        ));
                    }
                    if fps.is_some_and(|f| !(1..=240).contains(&f)) {
                        return Err(invalid(
                            "camera.source.fps",
                            format!("of camera {id} must be 1 to 240"),
                        ));
                    }
                    if let UsbDevice::Path(path) = device
                        && !path.starts_with("/dev")
                    {
                        return Err(invalid(
                            "camera.source.device",
                            format!(
                                "of camera {id} must be an index or a device under /dev, not {}",
                                path.display()
                            ),
                        ));
                    }
                }
            }
        }
        if !self.cameras.is_empty() {
            let manifest = self.recognition.manifest_path();
            if !manifest.is_file() {
                return Err(invalid(
                    "recognition.models",
                    format!(
                        "{} does not exist (the cameras need the face models)",
                        manifest.display()
                    ),
                ));
            }
        }
        if let Some(gallery) = &self.recognition.gallery
            && !gallery.is_file()
        {
            return Err(invalid(
                "recognition.gallery",
                format!("{} does not exist", gallery.display()),
            ));
        }
        Ok(())
    }

    /// The MQTT client id in force.
    pub fn client_id(&self) -> String {
        self.broker
            .client_id
            .clone()
            .unwrap_or_else(|| format!("wardwatch-agent-{}", self.device_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
device_id = "hd-ward3-box1"
institution_code = "H43060200175"
ward_kind = "haemodialysis"

[broker]
url = "mqtt://127.0.0.1:1883"

[source]
kind = "replay"
path = "sightings.jsonl"
"#;

    fn write_config(dir: &Path, text: &str) -> PathBuf {
        std::fs::write(dir.join("sightings.jsonl"), "").unwrap();
        let path = dir.join("agent.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn loads_and_resolves_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let config = AgentConfig::load(&write_config(dir.path(), GOOD)).unwrap();
        assert_eq!(config.key_file, dir.path().join("device.key"));
        assert_eq!(config.spool_dir, dir.path().join("spool"));
        assert_eq!(config.client_id(), "wardwatch-agent-hd-ward3-box1");
        assert_eq!(config.presence.min_samples, 3);
    }

    #[test]
    fn the_deploy_example_parses() {
        let text = include_str!("../../deploy/agent.example.toml");
        let config = AgentConfig::parse(Path::new("agent.example.toml"), text).unwrap();
        assert_eq!(config.broker.window, 500);
        assert_eq!(config.recognition.detector, DetectorKind::Mtcnn);
        assert_eq!(config.recognition.min_face_px, 40.0);
        assert_eq!(config.cameras.len(), 1);
        assert_eq!(config.cameras[0].max_fps, Some(5.0));
        assert!(config.source.is_none());
    }

    #[test]
    fn cameras_or_a_replay_but_not_both_and_each_camera_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("clip")).unwrap();
        std::fs::write(dir.path().join("manifest.toml"), "").unwrap();
        let camera = |id: &str, extra: &str| {
            format!(
                "[[camera]]\nid = \"{id}\"\nsource = {{ kind = \"folder\", path = \"clip\", \
                 start = \"2026-11-23T00:00:00.000Z\", fps = 5 }}\n{extra}\n"
            )
        };
        let without_source = GOOD[..GOOD.find("[source]").unwrap()].to_owned();
        let with_models = format!("{without_source}[recognition]\nmodels = \"manifest.toml\"\n");
        let good = format!("{with_models}{}", camera("cam-1", "max_fps = 5"));
        let config = AgentConfig::load(&write_config(dir.path(), &good)).unwrap();
        assert_eq!(config.cameras[0].id.as_str(), "cam-1");
        let cases = [
            (without_source.clone(), "camera"),
            (
                format!("{GOOD}{}", camera("cam-1", "")),
                "cannot be used together",
            ),
            (
                format!(
                    "{with_models}{}{}",
                    camera("cam-1", ""),
                    camera("cam-1", "")
                ),
                "used twice",
            ),
            (
                format!("{with_models}{}", camera("cam-1", "max_fps = 0")),
                "camera.max_fps",
            ),
            (
                format!(
                    "{with_models}{}",
                    camera("cam-1", "roi = { x = 0, y = 0, width = 0, height = 10 }")
                ),
                "camera.roi",
            ),
            (
                format!("{without_source}{}", camera("cam-1", ""))
                    .replace("path = \"clip\"", "path = \"missing\""),
                "camera.source.path",
            ),
        ];
        for (text, key) in cases {
            let err = AgentConfig::load(&write_config(dir.path(), &text)).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(key), "expected {key:?} in: {msg}");
        }
    }

    /// A configuration with the models in place and one camera of source `source`.
    fn with_camera(dir: &Path, source: &str) -> String {
        std::fs::write(dir.join("manifest.toml"), "").unwrap();
        let without_source = &GOOD[..GOOD.find("[source]").unwrap()];
        format!(
            "{without_source}[recognition]\nmodels = \"manifest.toml\"\n\
             [[camera]]\nid = \"cam-1\"\nsource = {source}\n"
        )
    }

    #[test]
    fn rtsp_cameras_parse_and_bad_urls_are_named_without_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let load = |source: &str| {
            AgentConfig::load(&write_config(dir.path(), &with_camera(dir.path(), source)))
        };
        let config = load(
            r#"{ kind = "rtsp", url = "rtsp://admin:hunter2@192.0.2.10:554/Streaming/Channels/102" }"#,
        )
        .unwrap();
        let CameraSource::Rtsp {
            transport,
            username,
            ..
        } = &config.cameras[0].source
        else {
            panic!("not rtsp: {:?}", config.cameras[0].source);
        };
        assert_eq!(
            (*transport, username.as_deref()),
            (RtspTransport::Tcp, None)
        );
        let config = load(
            r#"{ kind = "rtsp", url = "rtsp://192.0.2.10/cam/realmonitor?channel=1&subtype=1", transport = "udp", username = "viewer", password = "pw" }"#,
        )
        .unwrap();
        assert!(matches!(
            config.cameras[0].source,
            CameraSource::Rtsp {
                transport: RtspTransport::Udp,
                ..
            }
        ));
        for (source, expected) in [
            (
                r#"{ kind = "rtsp", url = "http://admin:hunter2@192.0.2.10/" }"#,
                "camera.source.url",
            ),
            (
                r#"{ kind = "rtsp", url = "rtsp://admin:hunter2@192.0.2.10/", username = "x" }"#,
                "give them once",
            ),
            (
                r#"{ kind = "rtsp", url = "rtsp://192.0.2.10/", password = "hunter2" }"#,
                "no username",
            ),
            (
                r#"{ kind = "rtsp", url = "rtsp://192.0.2.10/", transport = "sctp" }"#,
                "transport",
            ),
            (
                r#"{ kind = "rtsp", url = "rtsp://192.0.2.10/", colour = "red" }"#,
                "colour",
            ),
            (r#"{ kind = "rtsp" }"#, "url"),
            (
                r#"{ kind = "webcam", url = "rtsp://192.0.2.10/" }"#,
                "webcam",
            ),
        ] {
            let msg = load(source).unwrap_err().to_string();
            assert!(msg.contains(expected), "expected {expected:?} in: {msg}");
            assert!(!msg.contains("hunter2"), "password shown in: {msg}");
        }
    }

    #[test]
    fn usb_cameras_need_the_usb_feature_and_sane_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let load = |source: &str| {
            AgentConfig::load(&write_config(dir.path(), &with_camera(dir.path(), source)))
        };
        let good =
            r#"{ kind = "usb", device = "/dev/video0", width = 1280, height = 720, fps = 15 }"#;
        let parsed =
            AgentConfig::parse(Path::new("agent.toml"), &with_camera(dir.path(), good)).unwrap();
        assert!(matches!(
            &parsed.cameras[0].source,
            CameraSource::Usb { device: UsbDevice::Path(p), width: 1280, height: 720, fps: Some(15) }
                if p == Path::new("/dev/video0")
        ));
        let by_index = r#"{ kind = "usb", device = 2, width = 640, height = 480 }"#;
        let parsed =
            AgentConfig::parse(Path::new("agent.toml"), &with_camera(dir.path(), by_index))
                .unwrap();
        assert!(matches!(
            &parsed.cameras[0].source,
            CameraSource::Usb {
                device: UsbDevice::Index(2),
                fps: None,
                ..
            }
        ));
        if cfg!(feature = "usb") {
            load(good).unwrap();
            load(by_index).unwrap();
            for (source, expected) in [
                (
                    r#"{ kind = "usb", device = 0, width = 0, height = 480 }"#,
                    "camera.source.width",
                ),
                (
                    r#"{ kind = "usb", device = 0, width = 640, height = 480, fps = 0 }"#,
                    "camera.source.fps",
                ),
                (
                    r#"{ kind = "usb", device = "video0", width = 640, height = 480 }"#,
                    "camera.source.device",
                ),
            ] {
                let msg = load(source).unwrap_err().to_string();
                assert!(msg.contains(expected), "expected {expected:?} in: {msg}");
            }
        } else {
            let msg = load(good).unwrap_err().to_string();
            assert!(msg.contains("--features usb"), "{msg}");
            assert!(msg.contains("cam-1"), "{msg}");
        }
        let msg = load(r#"{ kind = "usb", device = 0, width = 640 }"#)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("height"), "{msg}");
    }

    #[test]
    fn the_deploy_examples_of_rtsp_and_usb_cameras_parse() {
        let text = include_str!("../../deploy/agent.example.toml");
        let dir = tempfile::tempdir().unwrap();
        let mut kinds = Vec::new();
        for line in text.lines() {
            let Some(source) = line.strip_prefix("# source = ") else {
                continue;
            };
            let config =
                AgentConfig::parse(Path::new("agent.toml"), &with_camera(dir.path(), source))
                    .unwrap();
            kinds.push(match config.cameras[0].source {
                CameraSource::Folder { .. } => "folder",
                CameraSource::Rtsp { .. } => "rtsp",
                CameraSource::Usb { .. } => "usb",
            });
        }
        assert_eq!(kinds, ["rtsp", "usb"]);
    }

    #[test]
    fn recognition_defaults_apply_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let config = AgentConfig::load(&write_config(dir.path(), GOOD)).unwrap();
        assert_eq!(
            config.recognition.similarity_threshold,
            DEFAULT_VERIFY_THRESHOLD
        );
        let with = |section: &str| format!("{GOOD}\n[recognition]\n{section}\n");
        let tuned = AgentConfig::load(&write_config(
            dir.path(),
            &with("detector = \"single_pass\"\nsimilarity_threshold = 0.45"),
        ))
        .unwrap();
        assert_eq!(tuned.recognition.detector, DetectorKind::SinglePass);
        assert_eq!(tuned.recognition.similarity_threshold, 0.45);
        assert_eq!(tuned.recognition.margin, DEFAULT_MATCH_MARGIN);
        for (section, key) in [
            (
                "similarity_threshold = 1.5",
                "recognition.similarity_threshold",
            ),
            ("min_face_px = 4", "recognition.min_face_px"),
            ("margin = -0.1", "recognition.margin"),
            ("live_threshold = 2", "recognition.live_threshold"),
            ("detector = \"haar\"", "detector"),
        ] {
            let err = AgentConfig::load(&write_config(dir.path(), &with(section))).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(key), "expected {key:?} in: {msg}");
        }
    }

    #[test]
    fn errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (GOOD.replace("H43060200175", "H4306"), "institution_code"),
            (GOOD.replace("haemodialysis", "dentistry"), "ward_kind"),
            (GOOD.replace("mqtt://127", "http://127"), "url"),
            (
                GOOD.replace("[broker]", "colour = \"red\"\n[broker]"),
                "colour",
            ),
            (GOOD.replace("mqtt://", "mqtts://"), "broker.ca_file"),
            (
                GOOD.replace("sightings.jsonl", "missing.jsonl"),
                "source.path",
            ),
        ];
        for (text, key) in cases {
            let err = AgentConfig::load(&write_config(dir.path(), &text)).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(key), "expected {key:?} in: {msg}");
            assert!(msg.contains("agent.toml"), "expected the file in: {msg}");
        }
    }
}
