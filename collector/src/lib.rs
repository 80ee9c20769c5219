//! The WardWatch collector: run by the bureau's monitoring unit. It receives the agents' signed events,
//! verifies who sent them, stores them exactly once, and tells each agent what it may forget.
//!
//! An event travels: broker → [`ingest`] (subscribe, batch, [`ingest::verify`], including the times it
//! states against the receipt, [`ingest::times`]) → [`store::ingest`] (one transaction per batch:
//! events, chain and seal order, gaps, dropped checkpoints, presence, quarantine) →
//! acknowledgements (PUBACK to the broker, the contiguous seq to the agent). A device's `status`
//! (online/offline, its last will) is recorded as its connection state, not as an event.
//!
//! | module | what it is for |
//! |---|---|
//! | [`store`] | SQLite/PostgreSQL through sqlx, migrations, devices, ingest writes, stats |
//! | [`ingest`] | the MQTT side: subscription, batching, verification (signatures, times), acks |
//! | [`settlement`] | importing settlement and fee-line exports (CSV/XLSX/JSON Lines, UTF-8/GB18030) |
//! | [`knowledge`] | the versioned knowledge base (知识库): billed items → the presence they imply |
//! | [`rules`] | the versioned rules base (规则库) and the rules: billing against presence, coverage-aware, raising flags |
//! | [`gallery`] | enrolled face embeddings per institution and person; signed with the bureau's key, versioned, sent retained to each ward box |
//! | [`calibrate`] | thresholds from a bureau's own labelled photos: FMR/FNMR by threshold, the recommended threshold and margin |
//! | [`flags`] | flags and the review workflow: state machine, transitions, append-only audit log |
//! | [`institutions`] | the institutions registry: name, category and region per institution code |
//! | [`exports`] | 扣费明细 (monthly deduction detail, XLSX/CSV) and the quarterly analysis (XLSX) |
//! | [`users`] | the API's users: roles, institution binding, tokens stored as SHA-256 |
//! | [`api`] | the JSON API (`/api/v1`): bearer tokens, roles, append-only access log |
//! | [`web`] | the web app at `/`: login, the review queue, the flag page with its timeline, the institution portal (zh-CN, English toggle) |
//! | [`broker`] | the embedded rumqttd broker for single-machine use |
//! | [`ca`] | the bureau's certificate authority for mutual TLS: CA, broker, collector and device certificates |
//! | [`signing_keys`] | the bureau's gallery key and the collector's ack key on disk |
//! | [`schedule`] | the rules run by themselves under `serve`: a job per closed day and month, leases across collectors |
//! | [`retention`] | deleting personal data past its period (PIPL), each deletion recorded |
//! | [`metrics`] | Prometheus metrics at `/metrics` on the HTTP listener |
//! | [`config`] | the collector's configuration file (`serve --config`) |
//! | [`serve`] | `serve`: the broker, ingest, the JSON API and the gallery republishing, run until told to stop |
//! | [`cli`] | the `wardwatch-collector` commands, one module per command family |

pub mod api;
pub mod broker;
pub mod ca;
pub mod calibrate;
pub mod cli;
pub mod config;
pub mod exports;
pub mod flags;
pub mod gallery;
pub mod ingest;
pub mod institutions;
pub mod knowledge;
pub mod metrics;
pub mod retention;
pub mod rules;
pub mod schedule;
pub mod serve;
pub mod settlement;
pub mod signing_keys;
pub mod store;
pub mod users;
pub mod web;
