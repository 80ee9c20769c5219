//! Sources: where the agent's input comes from. Cameras (USB, RTSP, files) arrive with the runtime
//! issue; for now the [`replay`] source feeds recorded sightings straight to the presence stage.

pub mod replay;

pub use replay::{ReplayCursor, ReplaySource};
