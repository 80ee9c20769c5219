//! The WardWatch agent: runs on a ward camera box and turns what the cameras see into signed presence
//! events that reach the bureau's collector even across network outages.
//!
//! A frame — for now a recorded sighting — travels down the modules in this order:
//!
//! | stage | module | what it does |
//! |---|---|---|
//! | sources | [`sources`] | where input comes from: [`sources::replay`] reads sightings from JSON Lines (cameras come with the runtime issue) |
//! | vision | [`vision`] | faces → identities with scores: detection (MTCNN, single-pass), landmarks, quality, alignment, embedding, liveness, gallery matching, all on tract; on video it joins the pipeline with the agent-runtime issue; its output type is [`sighting::Sighting`] |
//! | presence | [`presence`] | folds sightings into intervals per (person, camera), with checkpoints for long stays |
//! | seal | [`seal`] | turns payloads into this device's signed, hash-chained events |
//! | spool | [`spool`] | keeps sealed events on disk (fsynced) until the collector acknowledges them |
//! | publish | [`publish`] | sends spooled events over MQTT, retires acknowledged ones, re-sends the rest |
//!
//! Around the stages: [`config`] (the TOML file), [`device_key`] (the Ed25519 key), [`pipeline`] (the
//! producing half, source → presence → spool, on one blocking thread), [`run`] (wires the pipeline to the
//! publisher), and [`cli`] (the `wardwatch-agent` commands).

pub mod cli;
pub mod config;
pub mod device_key;
pub mod pipeline;
pub mod presence;
pub mod publish;
pub mod run;
pub mod seal;
pub mod sighting;
pub mod sources;
pub mod spool;
pub mod vision;
