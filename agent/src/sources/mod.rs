//! Sources: where the agent's input comes from.
//!
//! Cameras yield [`Frame`]s through the [`FrameSource`] trait: [`folder`] reads a recorded clip (an
//! image sequence), [`rtsp`] a network camera's H.264 stream, and `usb` (with the `usb` cargo feature)
//! a USB camera through V4L2. Recordings give every frame; live cameras keep only the newest one. The [`replay`] source predates the cameras: it feeds recorded sightings straight to
//! the presence stage, for transport tests and lab replays. [`config`] holds what the configuration
//! says about them (a camera's `source`, the `[source]` replay) and its checks.

pub mod config;
pub mod folder;
pub mod frame;
pub mod latest;
pub mod replay;
pub mod rtsp;
#[cfg(feature = "usb")]
pub mod usb;

pub use frame::{Frame, FrameSource, SourceError};
pub use replay::{ReplayCursor, ReplaySource};
