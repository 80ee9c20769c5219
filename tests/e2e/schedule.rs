//! The rules run by themselves (issue 15, running unattended): an import records the days it touched
//! and their jobs run once each; a rerun raises nothing twice; with two collectors on one PostgreSQL
//! only one job runs at a time; a collector killed mid-job leaves a lease that expires, and the other
//! collector resumes that job.

use crate::audit::databases;
use crate::rules::{P, import_month, ingest, session};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use wardwatch_collector::schedule::{
    ClaimedJob, Period, RULES_LEASE, ScheduleSettings, Tick, run_rules_job, tick,
};
use wardwatch_collector::store::Store;
use wardwatch_testkit::e2e::*;

const ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// No close delay and no catch-up: only the periods a test asks for exist.
fn settings(lease: Duration) -> ScheduleSettings {
    ScheduleSettings {
        zone: ZONE,
        close_delay: Duration::ZERO,
        catch_up_days: 0,
        lease,
        poll: Duration::from_millis(50),
        retry_after: Duration::from_secs(60),
    }
}

fn day(text: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

async fn flags(store: &Store) -> Vec<(String, String)> {
    sqlx::query_as("SELECT rule_id, psn_no FROM flags ORDER BY rule_id, psn_no")
        .fetch_all(store.pool())
        .await
        .expect("flags")
}

/// Ticks until nothing is due; returns the periods run, in order.
async fn run_until_idle(store: &Store, owner: &str) -> Vec<Period> {
    let settings = settings(Duration::from_secs(30));
    let run = |store, job| run_rules_job(store, job, ZONE);
    let mut ran = Vec::new();
    loop {
        match tick(store, &settings, owner, &run).await.expect("tick") {
            Tick::Ran(job, outcome) => {
                outcome_raised(&outcome);
                ran.push(job.period);
            }
            Tick::Idle => return ran,
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn outcome_raised(outcome: &wardwatch_collector::schedule::JobOutcome) -> u64 {
    match outcome {
        wardwatch_collector::schedule::JobOutcome::Done { raised } => *raised,
        wardwatch_collector::schedule::JobOutcome::Failed(e) => panic!("job failed: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_days_run_once_each_and_a_rerun_raises_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in databases(dir.path(), "schedule imported days on postgres").await {
        let store = db.open().await;
        // Patient 01 attends the sessions of the 2nd and the 3rd; 02 is billed on the 2nd, never seen.
        ingest(
            &store,
            vec![session(&format!("{P}01"), 2), session(&format!("{P}01"), 3)],
        )
        .await;
        let mut settlements = String::from(
            "setl_id,mdtrt_id,psn_no,fixmedins_code,setl_time,medfee_sumamt,fund_pay_sumamt\n",
        );
        let mut fees = String::from(
            "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,cnt,pric,det_item_fee_sumamt\n",
        );
        for (n, (who, d)) in [("01", "02"), ("02", "02"), ("01", "03")]
            .iter()
            .enumerate()
        {
            settlements.push_str(&format!(
                "S{n},M{n},{P}{who},H43060200175,2026-11-{d} 12:30:00,410,328\n"
            ));
            fees.push_str(&format!(
                "FD{n},M{n},{P}{who},2026-11-{d} 08:00:00,EXAMPLE-311000006,1,410,410\n"
            ));
        }
        import_month(&store, dir.path(), settlements, fees).await;

        // The import recorded the days it touched, and their month.
        let asked: BTreeSet<String> = store
            .rule_jobs()
            .await
            .expect("jobs")
            .into_iter()
            .map(|j| j.period)
            .collect();
        let want: BTreeSet<String> = ["day:2026-11-02", "day:2026-11-03", "month:2026-11"]
            .map(String::from)
            .into();
        assert_eq!(asked, want, "{}", db.name);

        let ran = run_until_idle(&store, "collector-a").await;
        assert_eq!(
            ran,
            vec![
                Period::Day(day("2026-11-02")),
                Period::Day(day("2026-11-03")),
                Period::Month(day("2026-11-01"))
            ],
            "{}",
            db.name
        );
        let want_flags = vec![("no_presence".to_owned(), format!("{P}02"))];
        assert_eq!(flags(&store).await, want_flags, "{}", db.name);
        // Asked for by both files (settlements, then fee lines), run once for the later request.
        for job in store.rule_jobs().await.expect("jobs") {
            assert_eq!(
                (job.requested, job.done, job.attempts),
                (2, 2, 1),
                "{job:?}"
            );
        }
        // The month found what the days had raised: nothing new.
        let jobs = store.rule_jobs().await.expect("jobs");
        let month = jobs
            .iter()
            .find(|j| j.period == "month:2026-11")
            .expect("month");
        assert_eq!(month.last_flags_raised, Some(0), "{jobs:?}");

        // Re-importing the fee lines asks for their days again; the rerun keeps the flags as they are.
        let again: BTreeSet<Period> = [Period::Day(day("2026-11-02"))].into();
        store
            .request_rule_jobs(&again, ZONE)
            .await
            .expect("request");
        assert_eq!(
            run_until_idle(&store, "collector-a").await,
            vec![Period::Day(day("2026-11-02"))]
        );
        assert_eq!(flags(&store).await, want_flags, "{}", db.name);
        let jobs = store.rule_jobs().await.expect("jobs");
        let rerun = jobs
            .iter()
            .find(|j| j.period == "day:2026-11-02")
            .expect("day");
        assert_eq!((rerun.requested, rerun.done, rerun.attempts), (3, 3, 2));
        assert_eq!(rerun.last_flags_raised, Some(0));
        store.close().await;
        db.cleanup().await;
    }
}

/// A runner that takes `hold` and counts how many runs overlap.
#[derive(Clone, Default)]
struct Overlap {
    running: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    runs: Arc<AtomicUsize>,
}

impl Overlap {
    fn runner(
        &self,
        hold: Duration,
    ) -> impl Fn(
        Store,
        ClaimedJob,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<u64, String>> + Send>>
    + use<> {
        let me = self.clone();
        move |_store, _job| {
            let me = me.clone();
            Box::pin(async move {
                let now = me.running.fetch_add(1, Ordering::SeqCst) + 1;
                me.most.fetch_max(now, Ordering::SeqCst);
                me.runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(hold).await;
                me.running.fetch_sub(1, Ordering::SeqCst);
                Ok(0)
            })
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_on_one_postgres_run_one_rule_job_at_a_time() {
    let Some(db) = Database::postgres().await else {
        skip(
            "schedule::two_collectors_on_one_postgres_run_one_rule_job_at_a_time",
            "WARDWATCH_TEST_PG is not set",
        );
        return;
    };
    let (a, b) = (db.open().await, db.open().await);
    let periods: BTreeSet<Period> = (1..=8)
        .map(|d| Period::Day(day(&format!("2026-11-{d:02}"))))
        .collect();
    a.request_rule_jobs(&periods, ZONE).await.expect("request");
    let overlap = Overlap::default();
    let work = |store: Store, owner: &'static str| {
        let run = overlap.runner(Duration::from_millis(150));
        async move {
            let settings = settings(Duration::from_secs(5));
            let mut ran = 0;
            let mut idle = 0;
            // Until nothing is left and the other side has finished too.
            while idle < 5 {
                match tick(&store, &settings, owner, &run).await.expect("tick") {
                    Tick::Ran(..) => {
                        ran += 1;
                        idle = 0;
                        // Let the other collector compete for the lease.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Tick::Idle => {
                        idle += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Tick::LeaseHeldElsewhere => {
                        idle = 0;
                        tokio::time::sleep(Duration::from_millis(30)).await;
                    }
                    Tick::LostLease(job) => panic!("{owner} lost the lease running {job:?}"),
                }
            }
            ran
        }
    };
    let (ran_a, ran_b) = tokio::join!(
        work(a.clone(), "collector-a"),
        work(b.clone(), "collector-b")
    );
    eprintln!("collector-a ran {ran_a} jobs, collector-b {ran_b}");
    assert_eq!(
        overlap.most.load(Ordering::SeqCst),
        1,
        "two jobs ran at once"
    );
    assert_eq!(overlap.runs.load(Ordering::SeqCst), 8);
    assert_eq!(ran_a + ran_b, 8);
    for job in a.rule_jobs().await.expect("jobs") {
        assert_eq!(
            (job.requested, job.done, job.attempts),
            (1, 1, 1),
            "{job:?}"
        );
        assert_eq!(job.owner, None);
    }
    a.close().await;
    b.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_collectors_job_is_resumed_by_another_once_its_lease_expires() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in databases(dir.path(), "schedule lease expiry on postgres").await {
        let (a, b) = (db.open().await, db.open().await);
        let job: BTreeSet<Period> = [Period::Day(day("2026-11-05"))].into();
        a.request_rule_jobs(&job, ZONE).await.expect("request");
        let lease = Duration::from_secs(2);

        // Collector A starts the job and is killed mid-run: its task is dropped where it stands, with
        // no chance to finish the job or give the lease back.
        let stuck = Overlap::default();
        let a_task = {
            let a = a.clone();
            let run = stuck.runner(Duration::from_secs(3600));
            tokio::spawn(async move { tick(&a, &settings(lease), "collector-a", &run).await })
        };
        while stuck.runs.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Its renewals keep the lease while it runs.
        tokio::time::sleep(lease + Duration::from_millis(500)).await;
        let done = Overlap::default();
        let run_b = done.runner(Duration::from_millis(10));
        assert_eq!(
            tick(&b, &settings(lease), "collector-b", &run_b)
                .await
                .expect("tick"),
            Tick::LeaseHeldElsewhere,
            "{}",
            db.name
        );
        a_task.abort();
        let _ = a_task.await;
        let killed_at = std::time::Instant::now();

        // B waits for the lease to expire, then resumes A's job.
        let resumed = loop {
            match tick(&b, &settings(lease), "collector-b", &run_b)
                .await
                .expect("tick")
            {
                Tick::LeaseHeldElsewhere => tokio::time::sleep(Duration::from_millis(100)).await,
                Tick::Ran(job, _) => break job,
                other => panic!("unexpected {other:?}"),
            }
        };
        let waited = killed_at.elapsed();
        eprintln!("{}: resumed {waited:?} after the kill", db.name);
        assert!(waited <= lease + Duration::from_secs(2), "{waited:?}");
        assert_eq!(resumed.period, Period::Day(day("2026-11-05")));
        assert_eq!(resumed.attempts, 2);
        assert!(
            resumed
                .resumed_from
                .as_deref()
                .is_some_and(|who| who == "collector-a"),
            "{resumed:?}"
        );
        let jobs = b.rule_jobs().await.expect("jobs");
        assert_eq!(
            (jobs[0].requested, jobs[0].done, jobs[0].attempts),
            (1, 1, 2)
        );
        assert_eq!(jobs[0].owner, None);
        // And B gave the lease back: A, restarted, takes it at once.
        assert!(
            a.take_lease(
                RULES_LEASE,
                "collector-a",
                wardwatch_collector::store::now_ms(),
                1000
            )
            .await
            .expect("lease")
        );
        a.close().await;
        b.close().await;
        db.cleanup().await;
    }
}
