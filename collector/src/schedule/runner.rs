//! The scheduler loop `serve` runs: every poll it makes sure the closed days (and months) of the
//! horizon have a job, takes the `rules` lease if no other collector holds it, claims the next due job,
//! runs it while renewing the lease, records the outcome and gives the lease back. A collector killed
//! mid-run stops renewing; its lease expires and the next collector to poll resumes that job first. A
//! rerun is harmless: a flag is keyed by its finding (rule + subject), so a finding already raised is
//! kept as it is (it may be under review) and never raised twice.

use super::due::periods_to_schedule;
use super::jobs::{ClaimedJob, JobOutcome, RULES_LEASE};
use crate::rules::run_rules;
use crate::store::{Store, StoreError, now_ms};
use chrono_tz::Tz;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How the scheduler runs (`[rules_schedule]` in the collector's configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSettings {
    /// The zone of the local days.
    pub zone: Tz,
    /// How long after a day (or month) ends its job waits, for late events from the ward boxes.
    pub close_delay: Duration,
    /// How many days back `serve` schedules closed days by itself.
    pub catch_up_days: u32,
    /// How long the lease lasts without renewal (a killed collector's job waits this long).
    pub lease: Duration,
    /// How often to look for due jobs.
    pub poll: Duration,
    /// How long a failed job waits before it is tried again (unless an import asks for it sooner).
    pub retry_after: Duration,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        ScheduleSettings {
            zone: chrono_tz::Asia::Shanghai,
            close_delay: Duration::from_secs(120 * 60),
            catch_up_days: 7,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(30),
            retry_after: Duration::from_secs(15 * 60),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What one look for work did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    /// Another collector holds the lease.
    LeaseHeldElsewhere,
    /// Nothing due.
    Idle,
    /// Ran a job.
    Ran(ClaimedJob, JobOutcome),
    /// The lease was lost during the run (it expired and another collector took it): the run was
    /// abandoned and will be resumed by whoever holds the lease.
    LostLease(ClaimedJob),
}

/// Runs one job the real way: the rules over the job's window.
pub async fn run_rules_job(store: Store, job: ClaimedJob, zone: Tz) -> Result<u64, String> {
    let report = run_rules(&store, zone, job.from_ms, job.to_ms)
        .await
        .map_err(|e| e.to_string())?;
    Ok(report.raised.values().sum())
}

/// Looks for work once and runs at most one job with `run`.
pub async fn tick<F, Fut>(
    store: &Store,
    settings: &ScheduleSettings,
    owner: &str,
    run: &F,
) -> Result<Tick, StoreError>
where
    F: Fn(Store, ClaimedJob) -> Fut,
    Fut: Future<Output = Result<u64, String>>,
{
    let lease_ms = millis(settings.lease);
    let delay_ms = millis(settings.close_delay);
    let now = now_ms();
    store
        .ensure_rule_jobs(
            &periods_to_schedule(now, settings.zone, delay_ms, settings.catch_up_days),
            settings.zone,
        )
        .await?;
    if !store.take_lease(RULES_LEASE, owner, now, lease_ms).await? {
        return Ok(Tick::LeaseHeldElsewhere);
    }
    let Some(job) = store.claim_rule_job(owner, now, delay_ms).await? else {
        store.release_lease(RULES_LEASE, owner).await?;
        return Ok(Tick::Idle);
    };
    if let Some(previous) = &job.resumed_from {
        tracing::warn!(period = %job.period, %previous, attempt = job.attempts,
            "resuming a rule job whose collector stopped renewing its lease");
    }
    tracing::info!(period = %job.period, attempt = job.attempts, "rule job started");
    let started = Instant::now();
    let renew_every = settings.lease / 3;
    let work = run(store.clone(), job.clone());
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            result = &mut work => break Some(result),
            () = tokio::time::sleep(renew_every) => {
                if !store.renew_lease(RULES_LEASE, owner, now_ms(), lease_ms).await? {
                    break None;
                }
            }
        }
    };
    let elapsed = started.elapsed();
    let Some(result) = result else {
        tracing::error!(period = %job.period, "lost the rules lease mid-run; abandoning the job");
        crate::metrics::rule_job_finished("lost_lease", elapsed);
        return Ok(Tick::LostLease(job));
    };
    let outcome = match result {
        Ok(raised) => JobOutcome::Done { raised },
        Err(error) => JobOutcome::Failed(error),
    };
    let now = now_ms();
    store
        .finish_rule_job(
            &job,
            &outcome,
            now,
            millis(elapsed),
            now.saturating_add(millis(settings.retry_after)),
        )
        .await?;
    store.release_lease(RULES_LEASE, owner).await?;
    match &outcome {
        JobOutcome::Done { raised } => {
            crate::metrics::rule_job_finished("done", elapsed);
            tracing::info!(period = %job.period, raised, seconds = elapsed.as_secs_f64(), "rule job done");
        }
        JobOutcome::Failed(error) => {
            crate::metrics::rule_job_finished("failed", elapsed);
            tracing::error!(period = %job.period, %error, "rule job failed; retried later");
        }
    }
    Ok(Tick::Ran(job, outcome))
}

/// Runs the scheduler until `shutdown` turns true: a job after another while any is due, else a look
/// every poll interval. Database errors are logged and retried at the next poll.
pub async fn run_scheduler<F, Fut>(
    store: Store,
    settings: ScheduleSettings,
    owner: String,
    mut shutdown: watch::Receiver<bool>,
    run: F,
) where
    F: Fn(Store, ClaimedJob) -> Fut,
    Fut: Future<Output = Result<u64, String>>,
{
    tracing::info!(%owner, zone = %settings.zone, close_delay_minutes = settings.close_delay.as_secs() / 60,
        "rule scheduler running");
    loop {
        if *shutdown.borrow() {
            break;
        }
        let again = match tick(&store, &settings, &owner, &run).await {
            Ok(Tick::Ran(..)) => true,
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e, "rule scheduler: database error; retrying");
                false
            }
        };
        if again {
            continue;
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            () = tokio::time::sleep(settings.poll) => {}
        }
    }
    // Whatever we held, give it back so another collector need not wait for it to expire.
    let _ = store.release_lease(RULES_LEASE, &owner).await;
}

/// A scheduler identity unique to this process: the MQTT client id, the process id and a random part.
pub fn owner_id(client_id: &str) -> String {
    format!(
        "{client_id}/{}/{}",
        std::process::id(),
        &uuid::Uuid::now_v7().simple().to_string()[24..]
    )
}
