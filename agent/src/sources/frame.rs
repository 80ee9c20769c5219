//! A camera frame and what every frame source provides.
//!
//! A [`Frame`] is an RGB image stamped with its capture time at the source (never at processing
//! time, so a slow frame is still placed right on the timeline). A [`FrameSource`] yields frames until
//! it ends (a recording) or fails (a camera unplugged, a stream dropped); the camera worker reopens a
//! failed source with back-off and reports the camera `offline` meanwhile.

use crate::vision::align::RgbView;
use wardwatch_protocol::{CameraId, Timestamp};

/// One captured image.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The camera it came from.
    pub camera_id: CameraId,
    /// When it was captured (UTC).
    pub captured_at: Timestamp,
    /// The source's position after this frame (recordings: the next frame's index), for resuming.
    pub position: u64,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width × height` RGB pixels, row by row.
    pub pixels: Vec<u8>,
}

impl Frame {
    /// The pixels as a view for the vision stage.
    pub fn view(&self) -> RgbView<'_> {
        RgbView {
            width: self.width,
            height: self.height,
            data: &self.pixels,
        }
    }
}

/// Why a source gave no frame.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The device or stream cannot be opened or has gone away; the camera is offline until a reopen
    /// succeeds.
    #[error("camera {camera}: {why}")]
    Unavailable {
        /// The camera.
        camera: CameraId,
        /// What failed, with the device, URL or file named.
        why: String,
    },
    /// One frame could not be decoded; the source itself is still usable.
    #[error("camera {camera}: a frame could not be decoded: {why}")]
    BadFrame {
        /// The camera.
        camera: CameraId,
        /// What was wrong.
        why: String,
    },
}

/// Something that yields frames.
pub trait FrameSource: Send {
    /// The next frame; `Ok(None)` when a recording has ended (a live source never ends).
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError>;

    /// Whether the source is a recording (frames are processed at their own pace, none dropped; a live
    /// camera drops frames the vision stage cannot keep up with).
    fn is_recording(&self) -> bool;

    /// Reopens the source after an [`SourceError::Unavailable`].
    fn reopen(&mut self) -> Result<(), SourceError>;
}
