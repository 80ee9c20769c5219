//! Sources: where the agent's input comes from.
//!
//! Cameras yield [`Frame`]s through the [`FrameSource`] trait: [`folder`] reads a recorded clip (an
//! image sequence). The [`replay`] source predates the cameras: it feeds recorded sightings straight to
//! the presence stage, for transport tests and lab replays.

pub mod folder;
pub mod frame;
pub mod replay;

pub use frame::{Frame, FrameSource, SourceError};
pub use replay::{ReplayCursor, ReplaySource};
