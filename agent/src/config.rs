//! The agent's TOML configuration, parsed into types at load time and checked by `wardwatch-agent check`.
//!
//! This module loads the file, resolves its relative paths and calls each section's check in a fixed
//! order (the first unusable setting is the one reported). The sections themselves live beside the
//! stages that use them, each with its defaults and its own `check`:
//!
//! | section | type | module |
//! |---|---|---|
//! | `[broker]` | [`BrokerConfig`] | [`crate::publish::config`] |
//! | `[presence]` | [`PresenceConfig`] | [`crate::presence::config`] |
//! | `[recognition]` | [`RecognitionConfig`] | [`crate::vision::config`] |
//! | `[health]` | [`HealthConfig`] | [`crate::heartbeat`] |
//! | `[evidence]` | [`EvidenceConfig`] | [`crate::evidence`] |
//! | `[gallery]` | [`GalleryConfig`] | [`crate::gallery`] |
//! | `[[camera]]` | [`CameraConfig`], [`Roi`] | [`crate::cameras::config`] |
//! | a camera's `source`, `[source]` | [`CameraSource`], [`UsbDevice`], [`SourceConfig`] | [`crate::sources::config`] |
//! | an RTSP camera's `transport` | [`RtspTransport`] | [`crate::sources::rtsp`] |
//!
//! They are re-exported here, so `wardwatch_agent::config::…` names every section type. A section's
//! check returns an [`InvalidSetting`]; [`AgentConfig::load`] adds the file's name to it.
//!
//! Relative paths are resolved against the directory of the configuration file, so a ward box's
//! configuration folder can be moved as a whole.

use crate::cameras::config::check_cameras;
use crate::setting::InvalidSetting;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use wardwatch_protocol::{DeviceId, InstitutionCode, WardKind};

pub use crate::cameras::config::{CameraConfig, Roi};
pub use crate::evidence::EvidenceConfig;
pub use crate::gallery::GalleryConfig;
pub use crate::heartbeat::HealthConfig;
pub use crate::presence::config::PresenceConfig;
pub use crate::publish::config::BrokerConfig;
pub use crate::sources::config::{CameraSource, SourceConfig, UsbDevice};
pub use crate::sources::rtsp::RtspTransport;
pub use crate::vision::config::RecognitionConfig;

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
    /// Test mode: required for recorded sources (a folder camera, a `[source]` replay), which are for
    /// tests and the demo. Every event the box seals is then marked as test data (`test_mode` on the
    /// wire), and a collector refuses test data from a box registered for production.
    #[serde(default)]
    pub test_mode: bool,
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
    /// The box's figures for Prometheus on a local port (off by default).
    #[serde(default)]
    pub metrics: crate::metrics::MetricsConfig,
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
        config.check().map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            key: e.key,
            why: crate::secrets::redact(&e.why, &text),
        })?;
        Ok(config)
    }

    /// Parses TOML text (no path resolution, no file checks). toml's message quotes the offending
    /// line; every password of the text is masked in it ([`crate::secrets::redact`]).
    pub fn parse(path: &Path, text: &str) -> Result<AgentConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: crate::secrets::redact(&e.to_string(), text),
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

    /// The first unusable setting (paths already resolved), each section checked by its own `check`,
    /// in this order; then the settings of the box itself (spool, cameras or a replay).
    fn check(&self) -> Result<(), InvalidSetting> {
        self.broker.check()?;
        self.presence.check()?;
        self.recognition.check()?;
        if self.spool_max_mib == 0 {
            return Err(InvalidSetting::new("spool_max_mib", "must be at least 1"));
        }
        self.health.check()?;
        self.evidence.check(self.broker.url.tls)?;
        match (&self.source, self.cameras.is_empty()) {
            (None, true) => {
                return Err(InvalidSetting::new(
                    "camera",
                    "is missing: configure [[camera]] entries (or a [source] replay)",
                ));
            }
            (Some(_), false) => {
                return Err(InvalidSetting::new(
                    "source",
                    "and [[camera]] cannot be used together: a box either replays sightings or \
                     watches cameras",
                ));
            }
            _ => {}
        }
        check_cameras(&self.cameras)?;
        self.check_test_mode()?;
        self.recognition.check_files(!self.cameras.is_empty())?;
        if let Some(source) = &self.source {
            source.check()?;
        }
        if self.spool_dir.exists() && !self.spool_dir.is_dir() {
            return Err(InvalidSetting::new(
                "spool_dir",
                format!("{} exists and is not a directory", self.spool_dir.display()),
            ));
        }
        Ok(())
    }

    /// Recorded sources only in test mode: a box in a ward must watch its cameras, and a recording
    /// replayed on it must never pass for the ward.
    fn check_test_mode(&self) -> Result<(), InvalidSetting> {
        if self.test_mode {
            return Ok(());
        }
        const WHY: &str = "recordings are for tests and the demo: set `test_mode = true` at the top                            of the file (every event is then marked as test data, which a collector                            refuses from a box registered for production)";
        if self.source.is_some() {
            return Err(InvalidSetting::new(
                "source",
                format!("replays recorded sightings; {WHY}"),
            ));
        }
        if let Some(camera) = self.cameras.iter().find(|c| c.source.kind().is_recording()) {
            return Err(InvalidSetting::new(
                "camera.source",
                format!("of camera {} reads a folder of frames; {WHY}", camera.id),
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
    use crate::vision::engine::{DEFAULT_MATCH_MARGIN, DEFAULT_VERIFY_THRESHOLD, DetectorKind};

    /// A valid Ed25519 public key (RFC 8032, test 1) pinned as the collector's ack key.
    const ACK_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    const GOOD: &str = r#"
device_id = "hd-ward3-box1"
institution_code = "H43060200175"
ward_kind = "haemodialysis"
test_mode = true

[broker]
url = "mqtt://127.0.0.1:1883"
ack_public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"

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
        // The example names where the ack key comes from; an operator pastes the real one.
        let text = include_str!("../../deploy/agent.example.toml");
        assert!(
            AgentConfig::parse(Path::new("agent.example.toml"), text).is_err(),
            "the placeholder ack key must be replaced before the example is used"
        );
        let text = text.replace("<wardwatch-collector ack-key show>", ACK_KEY);
        let config = AgentConfig::parse(Path::new("agent.example.toml"), &text).unwrap();
        assert_eq!(config.broker.ack_public_key.keys().len(), 1);
        assert_eq!(config.broker.window, 100);
        assert_eq!(config.recognition.detector, DetectorKind::Mtcnn);
        assert_eq!(config.recognition.min_face_px, 40.0);
        assert_eq!(config.cameras.len(), 1);
        assert_eq!(config.cameras[0].max_fps, Some(5.0));
        assert!(matches!(
            config.cameras[0].source,
            CameraSource::Rtsp { .. }
        ));
        assert!(
            !config.test_mode,
            "the installed example watches a live camera"
        );
        assert!(config.source.is_none());
        // Its seat zones, uncommented, are usable.
        let seated = text
            .replace("# [[camera.seats]]", "[[camera.seats]]")
            .replace("# id = \"chair-", "id = \"chair-")
            .replace("# rect = [", "rect = [");
        let config = AgentConfig::parse(Path::new("agent.example.toml"), &seated).unwrap();
        assert_eq!(config.cameras[0].seats.len(), 2);
        crate::cameras::seats::check_seats(&config.cameras[0].id, &config.cameras[0].seats)
            .unwrap();
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
        assert!(config.cameras[0].seats.is_empty());
        let seat =
            |id: &str, rect: &str| format!("[[camera.seats]]\nid = \"{id}\"\nrect = {rect}\n");
        let seated = format!(
            "{with_models}{}{}{}",
            camera("cam-1", ""),
            seat("chair-1", "[0.0, 0.3, 0.25, 0.5]"),
            seat("床2", "[0.25, 0.3, 0.25, 0.5]")
        );
        let config = AgentConfig::load(&write_config(dir.path(), &seated)).unwrap();
        let seats: Vec<&str> = config.cameras[0]
            .seats
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(seats, ["chair-1", "床2"]);
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
            (
                format!(
                    "{with_models}{}{}",
                    camera("cam-1", ""),
                    seat("chair-3", "[0.8, 0.3, 0.25, 0.5]")
                ),
                "`camera.seats.rect` of camera cam-1, seat chair-3",
            ),
            (
                format!(
                    "{with_models}{}{}{}",
                    camera("cam-1", ""),
                    seat("chair-3", "[0.0, 0.3, 0.25, 0.5]"),
                    seat("chair-3", "[0.5, 0.3, 0.25, 0.5]")
                ),
                "`camera.seats.id` chair-3 is used twice on camera cam-1",
            ),
            (
                format!(
                    "{with_models}{}{}",
                    camera("cam-1", ""),
                    seat("", "[0.0, 0.3, 0.25, 0.5]")
                ),
                "seat id \"\" is invalid: must not be empty",
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
    fn recorded_sources_need_test_mode_and_live_cameras_do_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("clip")).unwrap();
        let production = |text: &str| text.replace("test_mode = true\n", "");
        let replay = AgentConfig::load(&write_config(dir.path(), &production(GOOD)))
            .unwrap_err()
            .to_string();
        assert!(replay.contains("`source`"), "{replay}");
        assert!(replay.contains("test_mode = true"), "{replay}");
        let folder = with_camera(
            dir.path(),
            r#"{ kind = "folder", path = "clip", start = "2026-11-23T00:00:00Z", fps = 5 }"#,
        );
        assert!(AgentConfig::load(&write_config(dir.path(), &folder)).is_ok());
        let msg = AgentConfig::load(&write_config(dir.path(), &production(&folder)))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("`camera.source`") && msg.contains("cam-1"),
            "{msg}"
        );
        assert!(msg.contains("test_mode = true"), "{msg}");
        let rtsp = with_camera(
            dir.path(),
            r#"{ kind = "rtsp", url = "rtsp://192.168.1.64:554/Streaming/Channels/102" }"#,
        );
        let config = AgentConfig::load(&write_config(dir.path(), &production(&rtsp))).unwrap();
        assert!(!config.test_mode);
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
            // Errors toml reports with the line they are on: the line holds the password.
            (
                r#"{ kind = "rtsp", url = "rtsp://admin:hunter2@192.0.2.10/", transport = "sctp" }"#,
                "sctp",
            ),
            (
                r#"{ kind = "rtsp", url = "rtsp://admin:hunter2@192.0.2.10/", colour = "red" }"#,
                "colour",
            ),
            (
                r#"{ kind = "rtsp", url = "rtsp://192.0.2.10/", username = "admin", password = "hunter2", fps = 5 }"#,
                "fps",
            ),
            (
                r#"{ kind = "rtsp", url = "rtsp://admin:hunter%32@192.0.2.10/" "#,
                "rtsp",
            ),
            (
                r#"{ kind = "rtsp", url = "rtsp://192.0.2.10/", username = "admin", password = 2222 }"#,
                "password",
            ),
        ] {
            let msg = load(source).unwrap_err().to_string();
            assert!(msg.contains(expected), "expected {expected:?} in: {msg}");
            for secret in ["hunter2", "hunter%32", "2222"] {
                assert!(!msg.contains(secret), "password shown in: {msg}");
            }
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
    fn the_deploy_examples_of_usb_and_folder_cameras_parse() {
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
        assert_eq!(kinds, ["usb", "folder"]);
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
                GOOD.replace(&format!("ack_public_key = \"{ACK_KEY}\"\n"), ""),
                "ack_public_key",
            ),
            (GOOD.replace(ACK_KEY, &ACK_KEY[2..]), "ack_public_key"),
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
