//! What the configuration says about sources: a camera's `source = { kind = … }` (a recorded folder, an
//! RTSP stream or a USB camera: [`CameraSource`]) and the `[source]` replay of recorded sightings
//! ([`SourceConfig`]), each with its checks. The RTSP URL is checked by the RTSP source's own
//! [`RtspEndpoint`], so what the configuration accepts is exactly what the source can open.

use super::rtsp::{RtspEndpoint, RtspTransport};
use crate::setting::InvalidSetting;
use serde::Deserialize;
use std::path::PathBuf;
use wardwatch_protocol::{CameraId, SourceKind, Timestamp};

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
        url: ConfiguredUrl,
        /// How RTP travels: `tcp` (interleaved on the RTSP connection, the default) or `udp`.
        #[serde(default)]
        transport: RtspTransport,
        /// The camera account's user name (instead of putting it in the URL).
        #[serde(default)]
        username: Option<String>,
        /// Its password (instead of putting it in the URL). Never logged.
        #[serde(default)]
        password: Option<Password>,
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
    /// The kind, as heartbeats report it.
    pub fn kind(&self) -> SourceKind {
        match self {
            CameraSource::Folder { .. } => SourceKind::Folder,
            CameraSource::Rtsp { .. } => SourceKind::Rtsp,
            CameraSource::Usb { .. } => SourceKind::Usb,
        }
    }

    /// An `rtsp` source's checked URL and credentials (`None` for other kinds).
    pub fn rtsp_endpoint(&self) -> Option<Result<RtspEndpoint, String>> {
        match self {
            CameraSource::Rtsp {
                url,
                transport,
                username,
                password,
            } => Some(RtspEndpoint::new(
                url.as_str(),
                username.as_deref(),
                password.as_ref().map(Password::expose),
                *transport,
            )),
            _ => None,
        }
    }

    /// The first unusable setting of camera `id`'s source (paths already resolved): a folder that
    /// exists and a positive rate; an RTSP URL the source can open; a USB camera in an agent built with
    /// USB support, with a sane size and rate and a device under `/dev`. Messages name the camera and
    /// never show an RTSP password.
    pub fn check(&self, id: &CameraId) -> Result<(), InvalidSetting> {
        match self {
            CameraSource::Folder { path: dir, fps, .. } => {
                if !(fps.is_finite() && *fps > 0.0) {
                    return Err(InvalidSetting::new(
                        "camera.source.fps",
                        format!("of camera {id} must be a positive number"),
                    ));
                }
                if !dir.is_dir() {
                    return Err(InvalidSetting::new(
                        "camera.source.path",
                        format!("of camera {id}: {} is not a folder", dir.display()),
                    ));
                }
            }
            CameraSource::Rtsp { .. } => {
                if let Some(Err(why)) = self.rtsp_endpoint() {
                    return Err(InvalidSetting::new(
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
                    return Err(InvalidSetting::new(
                        "camera.source.kind",
                        format!(
                            "of camera {id} is \"usb\", but this wardwatch-agent was built \
                             without USB camera support: rebuild it with `cargo build --release \
                             -p wardwatch-agent --features usb` (needs libclang-dev)"
                        ),
                    ));
                }
                if !(1..=8192).contains(width) || !(1..=8192).contains(height) {
                    return Err(InvalidSetting::new(
                        "camera.source.width",
                        format!("and height of camera {id} must be 1 to 8192 pixels"),
                    ));
                }
                if fps.is_some_and(|f| !(1..=240).contains(&f)) {
                    return Err(InvalidSetting::new(
                        "camera.source.fps",
                        format!("of camera {id} must be 1 to 240"),
                    ));
                }
                if let UsbDevice::Path(path) = device
                    && !path.starts_with("/dev")
                {
                    return Err(InvalidSetting::new(
                        "camera.source.device",
                        format!(
                            "of camera {id} must be an index or a device under /dev, not {}",
                            path.display()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A password from the configuration: `Debug` shows `***`, so no `{:?}` of a configuration (a log
/// line, a panic message) can show it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    /// The password itself, for the one place that sends it (the RTSP client's credentials).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A URL as written in the configuration, credentials possibly inside (`rtsp://user:pass@host/…`):
/// `Debug` shows it with the password masked.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ConfiguredUrl(String);

impl ConfiguredUrl {
    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ConfiguredUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.clone();
        for secret in crate::secrets::url_passwords(&self.0) {
            shown = shown.replace(&secret, "***");
        }
        write!(f, "{shown:?}")
    }
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

impl SourceConfig {
    /// The first unusable setting (paths already resolved): a positive rate, an existing file.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        let SourceConfig::Replay {
            path,
            max_rate_per_sec,
        } = self;
        if let Some(rate) = max_rate_per_sec
            && !(rate.is_finite() && *rate > 0.0)
        {
            return Err(InvalidSetting::new(
                "source.max_rate_per_sec",
                "must be a positive number",
            ));
        }
        if !path.is_file() {
            return Err(InvalidSetting::new(
                "source.path",
                format!("{} does not exist", path.display()),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_needs_a_positive_rate_and_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sightings.jsonl");
        std::fs::write(&file, "").unwrap();
        let replay = |path: &PathBuf, rate| SourceConfig::Replay {
            path: path.clone(),
            max_rate_per_sec: rate,
        };
        replay(&file, Some(10.0)).check().unwrap();
        assert_eq!(
            replay(&file, Some(0.0)).check().unwrap_err().key,
            "source.max_rate_per_sec"
        );
        assert_eq!(
            replay(&dir.path().join("missing.jsonl"), None)
                .check()
                .unwrap_err()
                .key,
            "source.path"
        );
    }

    #[test]
    fn debug_output_never_shows_a_camera_password() {
        let source: CameraSource = toml::from_str(
            r#"kind = "rtsp"
               url = "rtsp://admin:hunter2@192.0.2.10/Streaming/Channels/102"
               username = "viewer"
               password = "s3cret-pw""#,
        )
        .expect("parses");
        let shown = format!("{source:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret-pw"),
            "{shown}"
        );
        assert!(shown.contains("admin:***@192.0.2.10"), "{shown}");
    }

    #[test]
    fn a_folder_source_needs_a_positive_rate_and_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let id: CameraId = "cam-1".parse().unwrap();
        let folder = |path: PathBuf, fps| CameraSource::Folder {
            path,
            start: "2026-11-23T00:00:00.000Z".parse().unwrap(),
            fps,
        };
        folder(dir.path().to_owned(), 5.0).check(&id).unwrap();
        let err = folder(dir.path().to_owned(), f64::INFINITY)
            .check(&id)
            .unwrap_err();
        assert_eq!(err.key, "camera.source.fps");
        assert!(err.why.contains("cam-1"), "{err}");
        let err = folder(dir.path().join("missing"), 5.0)
            .check(&id)
            .unwrap_err();
        assert_eq!(err.key, "camera.source.path");
    }
}
