//! The WardWatch agent: runs on a ward camera box and turns what the cameras see into signed presence
//! events that reach the bureau's collector even across network outages.
//!
//! A frame travels down the modules in this order:
//!
//! | stage | module | what it does |
//! |---|---|---|
//! | sources | [`sources`] | frames from cameras ([`sources::folder`]: a recorded clip; [`sources::rtsp`]: IP cameras; `sources::usb` with the `usb` feature), stamped at capture; or recorded sightings ([`sources::replay`]) |
//! | cameras | [`cameras`] | one worker per camera runs the stages below on its frames and sends observations to the pipeline |
//! | tamper | [`tamper`] | the camera's state: ok, offline, obstructed, frozen, moved, from the frames themselves |
//! | vision | [`vision`] | faces → identities with scores: detection (MTCNN, single-pass), landmarks, quality, alignment, embedding, liveness, gallery matching, all on tract |
//! | tracking | [`tracking`] | the same face from frame to frame; recognised a few times per track, identity and liveness voted over the track; its output type is [`sighting::Sighting`] |
//! | evidence | [`evidence`] | only when the operator turns it on: a bounded JPEG crop of an unknown or low-liveness track |
//! | presence | [`presence`] | folds sightings into intervals per (person, camera), with checkpoints for long stays |
//! | seal | [`seal`] | turns payloads into this device's signed, hash-chained events |
//! | spool | [`spool`] | keeps sealed events on disk (fsynced) until the collector acknowledges them |
//! | publish | [`publish`] | sends spooled events over MQTT, retires acknowledged ones, re-sends the rest |
//!
//! Around the stages: [`config`] (the TOML file: loading, paths and the order of the checks; each
//! section's type and check live beside the stage that uses it, and say what is wrong with an
//! [`setting::InvalidSetting`]; [`secrets`] keeps camera passwords out of its messages),
//! [`device_key`] (the Ed25519 key), [`metrics`] (the box's figures for Prometheus on a local port, off by
//! default), [`pipeline`] (the producing half, cameras or replay → presence →
//! spool, on one blocking thread), [`run`] (wires the pipeline to the publisher) and [`cli`] (the
//! `wardwatch-agent` commands). The synthetic ward recordings
//! that tests, benches and the demo render live in the dev-only `wardwatch-testkit` crate.

pub mod cameras;
pub mod cli;
pub mod clock;
pub mod config;
pub mod device_key;
pub mod evidence;
pub mod gallery;
pub mod heartbeat;
pub mod metrics;
pub mod pipeline;
pub mod presence;
pub mod publish;
pub mod run;
pub mod seal;
pub mod secrets;
pub mod setting;
pub mod sighting;
pub mod sources;
pub mod spool;
pub mod tamper;
pub mod tracking;
pub mod vision;
