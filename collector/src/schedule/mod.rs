//! The rules run by themselves under `serve` (`[rules_schedule]` in the collector's configuration): a
//! job per local day once it has closed, one per local month once that has, and again for past days
//! when an import stores billing for them. Several collectors on one database share the work through a
//! lease: only the holder runs a job, and a killed holder's lease expires so another resumes its job.
//!
//! | module | job |
//! |---|---|
//! | [`due`] | which periods are due: pure functions of the clock, the zone and the settings |
//! | [`jobs`] | `rule_jobs` and `job_leases` in the database: request, lease, claim, finish |
//! | [`runner`] | the loop `serve` runs: claim, run the rules while renewing the lease, record |

pub mod due;
pub mod jobs;
pub mod runner;

pub use due::Period;
pub use jobs::{ClaimedJob, JobOutcome, JobRow, RULES_LEASE};
pub use runner::{ScheduleSettings, Tick, owner_id, run_rules_job, run_scheduler, tick};
