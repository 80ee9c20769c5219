//! The end-to-end tests of the `wardwatch` binary, as one test executable: each module below was a test
//! file of its own, and each of those executables linked the agent (with tract) and the collector again.
//! The harness they share is `wardwatch_testkit::e2e`. Run one module with
//! `cargo test -p wardwatch --test e2e spine::`, one test by its full name
//! (`cargo test -p wardwatch --test e2e -- --exact spine::agent_killed_with_sigkill_resumes_from_its_spool`).

mod acks;
mod api;
mod api_abuse;
mod audit;
mod backup;
mod cli;
mod evidence;
mod exports;
mod gallery;
mod import;
mod metrics;
mod mtls;
mod partitions;
mod quarantine;
mod retention;
mod rules;
mod schedule;
mod spine;
mod web;
mod workflow;
