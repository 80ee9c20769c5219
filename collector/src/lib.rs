//! The WardWatch collector: run by the bureau's monitoring unit. It receives the agents' signed events,
//! verifies who sent them, stores them exactly once, and tells each agent what it may forget.
//!
//! An event travels: broker → [`ingest`] (subscribe, batch, [`ingest::verify`]) → [`store::ingest`]
//! (one transaction per batch: events, chain, gaps, presence, quarantine) → acknowledgements (PUBACK to
//! the broker, the contiguous seq to the agent).
//!
//! | module | what it is for |
//! |---|---|
//! | [`store`] | SQLite/PostgreSQL through sqlx, migrations, devices, ingest writes, stats |
//! | [`ingest`] | the MQTT side: subscription, batching, verification, acks |
//! | [`settlement`] | importing settlement and fee-line exports (CSV/XLSX/JSON Lines, UTF-8/GB18030) |
//! | [`knowledge`] | the versioned knowledge base: billed items → the presence they imply |
//! | [`rules`] | cross-matching billed sessions with presence, coverage-aware, raising flags |
//! | [`flags`] | flags and the review workflow: state machine, transitions, append-only audit log |
//! | [`users`] | the API's users: roles, institution binding, tokens stored as SHA-256 |
//! | [`api`] | the JSON API (`/api/v1`): bearer tokens, roles, append-only access log |
//! | [`broker`] | the embedded rumqttd broker for single-machine use |
//! | [`cli`] | the `wardwatch-collector` commands |
//!
//! More rules, exports and the web UI come next (see the collector issue).

pub mod api;
pub mod broker;
pub mod cli;
pub mod flags;
pub mod ingest;
pub mod knowledge;
pub mod rules;
pub mod settlement;
pub mod store;
pub mod users;
