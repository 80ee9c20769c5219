//! Bench: a province-month (`wardwatch_testkit::simulate::province`: by default 600 institutions in
//! groups of two dialysis centres, a rehabilitation department and a psychiatric hospital, 4 ward
//! boxes each) through the import and the rules, on SQLite and on PostgreSQL.
//!
//! ```text
//! # 1. write the province's files (fee lines, settlements, gallery, registry, boxes, presence, truth)
//! cargo bench --workspace --profile dev --bench province -- generate --out DIR \
//!     [--institutions 600] [--patients 60000] [--month 2026-11] [--seed 2026] [--boxes 4] [--companions 8]
//! # 2. measure, on a fresh SQLite store in DIR/sqlite and/or a fresh PostgreSQL database `ww_province`
//! cargo bench --workspace --profile dev --bench province -- measure --dir DIR [--sqlite] [--postgres URL]
//! ```
//!
//! `measure` runs each step in its own child process (this bench run with `child-…`) so that each peak
//! RSS (VmHWM) is that step's alone:
//! - **import**: `settlements.csv` then `fee_lines.csv` through `Store::import_file` (the `import
//!   settlements` path): rows/s and peak RSS;
//! - **load**: each group regenerated from the same seed (deterministic) and its ward boxes, events,
//!   presence intervals and gallery written straight into the collector's tables
//!   (`province::load_group`: not through MQTT, whose cost the ingest bench measures);
//! - **rules**: `run_rules` over the whole month with the default rules base (`duplicate_face`
//!   included: exact tiled products over the gallery, `rules::face_pairs`): wall time, peak RSS;
//! - **peer**: the `no_presence` check as one plain SQL query over the same tables (billed session lines
//!   of a known item with no presence of the patient at the institution overlapping the slot; no
//!   refunds, outages, silent boxes or liveness), timed in the same run; the ratio rules/peer;
//! - **score**: each group regenerated and its flags scored against its truth: precision and recall
//!   per rule.

mod support;

use chrono::{NaiveDate, TimeZone};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use support::peak_rss_kib;
use wardwatch_collector::knowledge::Unit;
use wardwatch_collector::rules::run_rules;
use wardwatch_collector::settlement::import::ImportOptions;
use wardwatch_collector::store::partitions::BigTable;
use wardwatch_collector::store::{Store, StoreLocation};
use wardwatch_testkit::simulate::province::{ProvinceSpec, ProvinceWriter, load_group};
use wardwatch_testkit::simulate::{MonthScore, generate, institutions, score_institutions};

const ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

fn spec_from(args: &[String]) -> anyhow::Result<ProvinceSpec> {
    let mut spec = ProvinceSpec::default();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).map(String::as_str).unwrap_or_default();
        match args[i].as_str() {
            "--institutions" => spec.institutions = value.parse()?,
            "--patients" => spec.patients = value.parse()?,
            "--seed" => spec.seed = value.parse()?,
            "--boxes" => spec.boxes_per_institution = value.parse()?,
            "--companions" => spec.companions = value.parse()?,
            "--month" => {
                spec.month = NaiveDate::parse_from_str(&format!("{value}-01"), "%Y-%m-%d")?
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    Ok(spec)
}

fn spec_args(spec: &ProvinceSpec) -> String {
    format!(
        "--institutions {} --patients {} --seed {} --boxes {} --companions {} --month {}",
        spec.institutions,
        spec.patients,
        spec.seed,
        spec.boxes_per_institution,
        spec.companions,
        spec.month.format("%Y-%m")
    )
}

fn read_spec(dir: &Path) -> anyhow::Result<ProvinceSpec> {
    let text = std::fs::read_to_string(dir.join("spec.txt"))?;
    let args: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    spec_from(&args)
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).map(String::as_str)
}

/// [from, to) of the province's month in UTC ms.
fn window(spec: &ProvinceSpec) -> (i64, i64) {
    let at = |d: NaiveDate| {
        ZONE.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map_or(0, |t| t.timestamp_millis())
    };
    let first = spec.month;
    (
        at(first),
        at(first + chrono::Duration::days(i64::from(spec.days()))),
    )
}

fn location(store: &str) -> StoreLocation {
    match store.strip_prefix("dir:") {
        Some(dir) => StoreLocation::DataDir(PathBuf::from(dir)),
        None => StoreLocation::Url(store.to_owned()),
    }
}

fn generate_files(args: &[String]) -> anyhow::Result<()> {
    let spec = spec_from(args)?;
    let out = PathBuf::from(arg(args, "--out").ok_or_else(|| anyhow::anyhow!("--out DIR"))?);
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("spec.txt"), spec_args(&spec))?;
    let started = Instant::now();
    let mut writer = ProvinceWriter::create(&out)?;
    for g in 0..spec.groups() {
        let month_spec = spec.month_spec(g);
        let month = generate(&month_spec);
        writer.write_group(&month_spec, &month, spec.boxes_per_institution)?;
        if (g + 1) % 25 == 0 {
            eprintln!(
                "  {} of {} groups, {} fee lines, {} presence intervals, {:.0} s, peak RSS {:.0} MiB",
                g + 1,
                spec.groups(),
                writer.written.fee_lines,
                writer.written.presence,
                started.elapsed().as_secs_f64(),
                support::peak_rss_mib()
            );
        }
    }
    let written = writer.finish()?;
    println!(
        "generated {} in {:.1} s, peak RSS {:.0} MiB: {written:?}",
        spec_args(&spec),
        started.elapsed().as_secs_f64(),
        support::peak_rss_mib()
    );
    Ok(())
}

async fn child_import(store: &str, files: &[String]) -> anyhow::Result<()> {
    let store = Store::open(&location(store)).await?;
    let started = Instant::now();
    let (mut read, mut new, mut bad) = (0, 0, 0);
    for file in files {
        let mut next = 1_000_000;
        let report = store
            .import_file(Path::new(file), &ImportOptions::default(), &mut |rows| {
                if rows >= next {
                    next += 1_000_000;
                    eprintln!(
                        "  {file}: {rows} rows, {:.0} s, peak RSS {:.0} MiB",
                        started.elapsed().as_secs_f64(),
                        support::peak_rss_mib()
                    );
                }
            })
            .await?;
        eprintln!(
            "  {file}: {} rows read, {} new, {} refused; {}",
            report.rows_read,
            report.rows_new,
            report.rows_bad,
            report.fee_line_summary().unwrap_or_default()
        );
        read += report.rows_read;
        new += report.rows_new;
        bad += report.rows_bad;
    }
    let secs = started.elapsed().as_secs_f64();
    store.close().await;
    println!(
        "result rows={read} new={new} bad={bad} secs={secs:.3} rss={}",
        peak_rss_kib().unwrap_or(0)
    );
    Ok(())
}

async fn child_load(store: &str, dir: &Path) -> anyhow::Result<()> {
    let spec = read_spec(dir)?;
    let store = Store::open(&location(store)).await?;
    let started = Instant::now();
    let (mut boxes, mut events, mut presence) = (0, 0, 0);
    for g in 0..spec.groups() {
        let month = generate(&spec.month_spec(g));
        let loaded = load_group(&store, &month, spec.boxes_per_institution).await?;
        boxes += loaded.boxes;
        events += loaded.events;
        presence += loaded.presence;
        if (g + 1) % 25 == 0 {
            eprintln!(
                "  loaded {} of {} groups: {events} events, {:.0} s",
                g + 1,
                spec.groups(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    // Ingest trickles in over the month and autovacuum analyses it as it goes; a bulk load analyses
    // at its end (counted in the load's time), as the import does after a large file.
    for table in [BigTable::Events, BigTable::PresenceIntervals] {
        store.refresh_statistics(table).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    store.close().await;
    println!(
        "result boxes={boxes} events={events} presence={presence} secs={secs:.3} rss={}",
        peak_rss_kib().unwrap_or(0)
    );
    Ok(())
}

async fn child_rules(store: &str, dir: &Path) -> anyhow::Result<()> {
    let spec = read_spec(dir)?;
    let (from, to) = window(&spec);
    let store = Store::open(&location(store)).await?;
    // The run logs each step's time (info) on stderr.
    wardwatch_link::process::init_tracing();
    let started = Instant::now();
    let report = run_rules(&store, ZONE, from, to).await?;
    let secs = started.elapsed().as_secs_f64();
    store.close().await;
    eprintln!(
        "  rules: {} lines checked, {} without evidence, {} unlinked, {} refunds unmatched; raised {:?}",
        report.checked,
        report.no_evidence,
        report.unlinked_lines,
        report.unmatched_refunds,
        report.raised
    );
    println!(
        "result checked={} flags={} secs={secs:.3} rss={}",
        report.checked,
        report.raised.values().sum::<u64>(),
        peak_rss_kib().unwrap_or(0)
    );
    Ok(())
}

/// Runs this bench as `child-…` and returns its `result` line's numbers.
fn child(args: &[&str]) -> anyhow::Result<Vec<(String, f64)>> {
    let output = Command::new(std::env::current_exe()?)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "{args:?} failed: {stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("result "))
        .ok_or_else(|| anyhow::anyhow!("no result line in {stdout:?}"))?;
    Ok(line
        .split_whitespace()
        .skip(1)
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect())
}

fn get(values: &[(String, f64)], key: &str) -> f64 {
    values
        .iter()
        .find(|(k, _)| k == key)
        .map_or(f64::NAN, |(_, v)| *v)
}

fn mib(kib: f64) -> f64 {
    kib / 1024.0
}

/// The `no_presence` check as one SQL query: (lines found, seconds).
async fn peer(store: &Store, spec: &ProvinceSpec) -> anyhow::Result<(i64, f64)> {
    let knowledge = store.knowledge().await?;
    let sessions: Vec<_> = knowledge
        .items
        .iter()
        .filter(|i| i.unit == Unit::Session)
        .collect();
    anyhow::ensure!(
        !sessions.is_empty(),
        "no session items in the knowledge base"
    );
    let minutes = sessions
        .iter()
        .enumerate()
        .map(|(n, _)| format!("WHEN ${} THEN ${}", 3 + 2 * n, 4 + 2 * n))
        .collect::<Vec<_>>()
        .join(" ");
    let codes = (0..sessions.len())
        .map(|n| format!("${}", 3 + 2 * n))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM fee_lines f \
         WHERE f.fee_ocur_time_ms >= $1 AND f.fee_ocur_time_ms < $2 AND f.cnt > 0 \
         AND f.hilist_code IN ({codes}) \
         AND NOT EXISTS (SELECT 1 FROM presence_intervals p WHERE p.psn_no = f.psn_no \
         AND p.institution_code = f.fixmedins_code AND p.end_ms > f.fee_ocur_time_ms \
         AND p.start_ms < f.fee_ocur_time_ms + CAST(f.cnt * (CASE f.hilist_code {minutes} END) * 60000 AS BIGINT))"
    );
    let (from, to) = window(spec);
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to);
    for item in &sessions {
        query = query
            .bind(item.hilist_code.clone())
            .bind(i64::from(item.min_presence_minutes));
    }
    let started = Instant::now();
    let row = query.fetch_one(store.pool()).await?;
    let found: i64 = sqlx::Row::try_get(&row, 0)?;
    Ok((found, started.elapsed().as_secs_f64()))
}

async fn score_all(store: &Store, spec: &ProvinceSpec) -> anyhow::Result<MonthScore> {
    let mut total = MonthScore::default();
    for g in 0..spec.groups() {
        let month_spec = spec.month_spec(g);
        let month = generate(&month_spec);
        let codes: Vec<String> = institutions(month_spec.group)
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        let scored = score_institutions(store, &month, &codes).await?;
        total.add(&scored, &format!("group {}: ", month_spec.group));
    }
    Ok(total)
}

fn print_score(total: &MonthScore) {
    println!("  lines by truth: {:?}", total.lines);
    for line in total.table(3).0.lines() {
        println!("  {line}");
    }
    println!(
        "  honest lines flagged {}, refund lines flagged {}, unmonitored lines flagged by a line-level rule {}",
        total.honest_flagged.len(),
        total.refund_flagged.len(),
        total.unmonitored_flagged.len()
    );
}

/// A fresh PostgreSQL database `ww_province` on the server of `admin_url`; its URL.
async fn fresh_postgres(admin_url: &str) -> anyhow::Result<String> {
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(admin_url).await?;
    sqlx::query("DROP DATABASE IF EXISTS ww_province WITH (FORCE)")
        .execute(&admin)
        .await?;
    sqlx::query("CREATE DATABASE ww_province")
        .execute(&admin)
        .await?;
    admin.close().await;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    Ok(format!("{base}/ww_province"))
}

async fn measure(args: &[String]) -> anyhow::Result<()> {
    let dir = PathBuf::from(arg(args, "--dir").ok_or_else(|| anyhow::anyhow!("--dir DIR"))?);
    let spec = read_spec(&dir)?;
    let mut backends: Vec<(&str, String)> = Vec::new();
    if args.iter().any(|a| a == "--sqlite") {
        let db = dir.join("sqlite");
        if db.exists() {
            std::fs::remove_dir_all(&db)?;
        }
        backends.push(("SQLite", format!("dir:{}", db.display())));
    }
    if let Some(url) = arg(args, "--postgres") {
        backends.push(("PostgreSQL", fresh_postgres(url).await?));
    }
    let skip_import = args.iter().any(|a| a == "--skip-import");
    let dir_text = dir.display().to_string();
    let settlements = dir.join("settlements.csv").display().to_string();
    let fees = dir.join("fee_lines.csv").display().to_string();
    println!("province {}", spec_args(&spec));
    for (name, store) in &backends {
        println!("{name}:");
        if !skip_import {
            let import = child(&["child-import", store, &settlements, &fees])?;
            println!(
                "  import: {:.0} rows ({:.0} refused) in {:.1} s: {:.0} rows/s, peak RSS {:.0} MiB",
                get(&import, "rows"),
                get(&import, "bad"),
                get(&import, "secs"),
                get(&import, "rows") / get(&import, "secs"),
                mib(get(&import, "rss"))
            );
        }
        let load = child(&["child-load", store, &dir_text])?;
        println!(
            "  load (straight into the tables): {:.0} boxes, {:.0} events, {:.0} presence intervals in {:.1} s, peak RSS {:.0} MiB",
            get(&load, "boxes"),
            get(&load, "events"),
            get(&load, "presence"),
            get(&load, "secs"),
            mib(get(&load, "rss"))
        );
        let rules = child(&["child-rules", store, &dir_text])?;
        let rules_secs = get(&rules, "secs");
        println!(
            "  rules run, whole month: {:.0} lines checked, {:.0} flags in {rules_secs:.1} s, peak RSS {:.0} MiB",
            get(&rules, "checked"),
            get(&rules, "flags"),
            mib(get(&rules, "rss"))
        );
        let opened = Store::open(&location(store)).await?;
        let (found, peer_secs) = peer(&opened, &spec).await?;
        println!(
            "  peer: no_presence as one SQL query: {found} lines in {peer_secs:.1} s; rules/peer {:.2}",
            rules_secs / peer_secs
        );
        let total = score_all(&opened, &spec).await?;
        print_score(&total);
        opened.close().await;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rest = args.get(1..).unwrap_or_default();
    let runtime = tokio::runtime::Runtime::new()?;
    match args.first().map(String::as_str) {
        Some("generate") => generate_files(rest),
        Some("measure") => runtime.block_on(measure(rest)),
        Some("child-import") => runtime.block_on(child_import(&rest[0], &rest[1..])),
        Some("child-load") => runtime.block_on(child_load(&rest[0], Path::new(&rest[1]))),
        Some("child-rules") => runtime.block_on(child_rules(&rest[0], Path::new(&rest[1]))),
        _ => anyhow::bail!(
            "usage: province generate --out DIR [options] | province measure --dir DIR [--sqlite] [--postgres URL] [--skip-import]"
        ),
    }
}
