//! `[[camera]]`: the cameras a worker is started for — each one's id, frame source, frame-rate cap and
//! region of interest and seat zones ([`super::seats`]) — and their checks (unique ids, then each camera
//! in file order).

use super::seats::{SeatZone, check_seats};
use crate::setting::InvalidSetting;
use crate::sources::config::CameraSource;
use serde::Deserialize;
use wardwatch_protocol::CameraId;

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
    /// `[[camera.seats]]`: the chairs or beds in the picture (none: intervals carry no seat).
    #[serde(default)]
    pub seats: Vec<SeatZone>,
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

impl CameraConfig {
    /// The first unusable setting of this camera: its rate, its region, its seat zones, then its
    /// source.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        let id = &self.id;
        if let Some(fps) = self.max_fps
            && !(fps.is_finite() && fps > 0.0)
        {
            return Err(InvalidSetting::new(
                "camera.max_fps",
                format!("of camera {id} must be a positive number"),
            ));
        }
        if let Some(roi) = self.roi
            && (roi.width == 0 || roi.height == 0)
        {
            return Err(InvalidSetting::new(
                "camera.roi",
                format!("of camera {id} must have a positive width and height"),
            ));
        }
        check_seats(id, &self.seats)?;
        self.source.check(id)
    }
}

/// Checks each `[[camera]]` in file order: its id not used before, then [`CameraConfig::check`].
pub fn check_cameras(cameras: &[CameraConfig]) -> Result<(), InvalidSetting> {
    let mut seen = std::collections::BTreeSet::new();
    for camera in cameras {
        let id = &camera.id;
        if !seen.insert(id) {
            return Err(InvalidSetting::new(
                "camera.id",
                format!("{id} is used twice"),
            ));
        }
        camera.check()?;
    }
    Ok(())
}
