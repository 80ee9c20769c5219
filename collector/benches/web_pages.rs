//! Bench: the web app's review queue (疑点工作台) and flag page (疑点详情) rendered server-side for a
//! SQLite database holding 100,000 flags (20 institutions, every rule, most pending, the rest issued
//! with deadlines, three months of creation times) and 90 days of 10-minute heartbeats from one box per
//! institution (the flag page's timeline reads the box's silent periods from them).
//!
//! Each request goes through the whole web router as a browser's would: session lookup, the handler's
//! queries, the template, the access-log write. Queue URLs: the first page, a state tab, a rule and an
//! institution filter, an amount range sorted by amount, the deadline order, and the 1,000th page by
//! its keyset cursor. Flag pages: random flags. Printed: median and p99 ms for each (goal: queue < 50
//! ms, flag page < 30 ms), and the peer measured in the same run — the queue's own per-state count
//! query run alone — with the ratio of the queue page's median to it.
//!
//! `cargo bench --workspace --profile dev --bench web_pages [-- FLAGS]` (default 100000)

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use sqlx::Row;
use std::time::Instant;
use support::Noise;
use tower::ServiceExt;
use wardwatch_collector::api::{ApiLimits, ApiState, app};
use wardwatch_collector::rules::RuleId;
use wardwatch_collector::store::{Store, StoreLocation, now_ms};
use wardwatch_collector::users::UserRole;

const INSTITUTIONS: i64 = 20;
const DAY_MS: i64 = 86_400_000;
/// 2026-09-01 00:00 Beijing.
const START_MS: i64 = 1_788_192_000_000;

fn institution(i: i64) -> String {
    format!("H430602{:05}", 100 + i)
}

async fn seed(store: &Store, flags: i64) -> anyhow::Result<()> {
    let mut noise = Noise(0x5EED_F1A6);
    let mut tx = store.pool().begin().await?;
    for i in 0..INSTITUTIONS {
        sqlx::query(
            "INSERT INTO devices (device_id, institution_code, public_key, registered_at_ms) \
             VALUES ($1, $2, 'bench', $3)",
        )
        .bind(format!("box-{i}"))
        .bind(institution(i))
        .bind(START_MS)
        .execute(&mut *tx)
        .await?;
        // Heartbeats every 10 minutes for 90 days, with a silent hour now and then.
        for n in 0..(90 * 144) {
            if n % 97 < 6 {
                continue;
            }
            let at = START_MS + n * 600_000;
            sqlx::query(
                "INSERT INTO events (event_id, device_id, seq, kind, institution_code, sent_at_ms, \
                 received_at_ms, prev_hash, hash, body) VALUES ($1, $2, $3, 'health', $4, $5, $5, '', '', '{}')",
            )
            .bind(format!("ev-{i}-{n}"))
            .bind(format!("box-{i}"))
            .bind(n)
            .bind(institution(i))
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
    }
    let states = [
        "pending",
        "pending",
        "pending",
        "pending",
        "confirmed",
        "issued",
        "appealed",
        "handled",
        "excluded",
    ];
    let wards = [
        "haemodialysis",
        "haemodialysis",
        "rehabilitation",
        "psychiatric",
    ];
    for n in 0..flags {
        let rule = RuleId::ALL[(n as usize) % RuleId::ALL.len()];
        let day = noise.below(90);
        let slot_start = START_MS + day * DAY_MS + (8 + noise.below(8)) * 3_600_000;
        let created = START_MS + (day + 1) * DAY_MS + noise.below(DAY_MS);
        let state = states[noise.below(states.len() as i64) as usize];
        let deadline = (!matches!(state, "pending" | "confirmed" | "excluded"))
            .then(|| created + (5 + noise.below(20)) * DAY_MS);
        let date = chrono::DateTime::from_timestamp_millis(slot_start + 8 * 3_600_000)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let ward = wards[noise.below(wards.len() as i64) as usize];
        let evidence = serde_json::json!({
            "date": date,
            "ward_kind": ward,
            "billed_slot": [slot_start, slot_start + 4 * 3_600_000],
            "billed_units": 1,
            "required_minutes": 240,
            "presence_minutes": noise.below(120),
            "sightings": [{"camera": "cam-1", "start_ms": slot_start + 600_000,
                           "end_ms": slot_start + 3_000_000, "similarity": 0.71, "liveness": 0.93}],
        });
        sqlx::query(
            "INSERT INTO flags (dedup_key, rule_id, rule_version, fixmedins_code, psn_no, amount_fen, \
             evidence, state, appeal_deadline_ms, created_at_ms, updated_at_ms, ward_kind) \
             VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $9, $9, $10)",
        )
        .bind(format!("bench/{n}"))
        .bind(rule.as_str())
        .bind(institution(noise.below(INSTITUTIONS)))
        .bind(format!("43060219{:08}", noise.below(50_000)))
        .bind(10_000 + noise.below(2_000_000))
        .bind(evidence.to_string())
        .bind(state)
        .bind(deadline)
        .bind(created)
        .bind(ward)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    // No ANALYZE: the collector never runs one, so the planner works without statistics here too.
    Ok(())
}

/// (median, p99) of `samples` in ms.
fn stats(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

async fn get(router: &axum::Router, cookie: &str, uri: &str) -> anyhow::Result<f64> {
    let request = Request::get(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())?;
    let started = Instant::now();
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(
        status == StatusCode::OK && body.len() > 1000,
        "{uri}: {status}, {} bytes",
        body.len()
    );
    Ok(ms)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags: i64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let store = Store::open(&StoreLocation::DataDir(dir.path().to_owned())).await?;
    let started = Instant::now();
    seed(&store, flags).await?;
    println!(
        "seeded {flags} flags and {} heartbeats in {:.1} s",
        INSTITUTIONS * 90 * 144,
        started.elapsed().as_secs_f64()
    );
    store
        .add_user_with_password(
            "auditor-bench",
            &UserRole::Auditor,
            "bench-password-1",
            false,
        )
        .await?;
    let (token, _) = store.create_session("auditor-bench", now_ms()).await?;
    let cookie = format!("ww_session={token}");
    let router = app(ApiState::with(store.clone(), ApiLimits::default()));

    // The cursor of the 1,000th page of the default order: the id below which it starts.
    let max_id: i64 = sqlx::query_scalar("SELECT MAX(id) FROM flags")
        .fetch_one(store.pool())
        .await?;
    let deep = max_id - 50 * 999;
    let queue_urls = [
        ("first page".to_owned(), "/queue".to_owned()),
        ("state tab".into(), "/queue?state=pending".into()),
        (
            "rule+institution".into(),
            format!("/queue?rule=impersonation&institution={}", institution(3)),
        ),
        (
            "amount range, by amount".into(),
            "/queue?min=1000&max=15000&sort=amount".into(),
        ),
        ("by deadline".into(), "/queue?sort=deadline".into()),
        (
            "state tab, by amount".into(),
            "/queue?state=pending&sort=amount".into(),
        ),
        (
            "ward+dates".into(),
            "/queue?ward=rehabilitation&from=2026-10-01&to=2026-11-01".into(),
        ),
        ("1000th page".into(), format!("/queue?after={deep}_{deep}")),
    ];
    // Warm up (the page cache, the templates).
    for (_, url) in &queue_urls {
        get(&router, &cookie, url).await?;
    }
    let rounds = 40;
    let mut all_queue = Vec::new();
    println!("queue page ({rounds} requests each):");
    for (name, url) in &queue_urls {
        let mut samples = Vec::new();
        for _ in 0..rounds {
            samples.push(get(&router, &cookie, url).await?);
        }
        all_queue.extend_from_slice(&samples);
        let (median, p99) = stats(&mut samples);
        println!("  {name:<24} median {median:6.2} ms  p99 {p99:6.2} ms   {url}");
    }
    let (queue_median, queue_p99) = stats(&mut all_queue);
    println!("queue page, all: median {queue_median:.2} ms, p99 {queue_p99:.2} ms (goal < 50 ms)");

    let mut noise = Noise(42);
    let mut samples = Vec::new();
    for _ in 0..300 {
        let id = 1 + noise.below(max_id);
        samples.push(get(&router, &cookie, &format!("/flags/{id}")).await?);
    }
    let (flag_median, flag_p99) = stats(&mut samples);
    println!(
        "flag page, 300 random flags: median {flag_median:.2} ms, p99 {flag_p99:.2} ms (goal < 30 ms)"
    );

    // The peer: the queue's count per state, alone, over all the flags.
    let mut samples = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM flags GROUP BY state")
                .fetch_all(store.pool())
                .await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(!rows.is_empty(), "counts");
    }
    let (count_median, _) = stats(&mut samples);
    println!(
        "peer: the per-state count alone: median {count_median:.2} ms; queue page / count = {:.2}, \
         flag page / count = {:.2}",
        queue_median / count_median,
        flag_median / count_median
    );
    // How SQLite runs the slowest kinds of page: an amount range by amount, and its counts.
    for sql in [
        "SELECT id FROM flags WHERE amount_fen >= 100000 AND amount_fen <= 1500000 \
         ORDER BY amount_fen DESC, id DESC LIMIT 51",
        "SELECT state, COUNT(*) FROM flags WHERE amount_fen >= 100000 AND amount_fen <= 1500000 \
         GROUP BY state",
        "SELECT id FROM flags WHERE state = 'pending' ORDER BY amount_fen DESC, id DESC LIMIT 51",
    ] {
        let plan: Vec<String> =
            sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .fetch_all(store.pool())
                .await?
                .iter()
                .filter_map(|r| r.try_get::<String, _>(3).ok())
                .collect();
        println!("plan: {} -- {sql}", plan.join(" | "));
    }
    store.close().await;
    Ok(())
}
