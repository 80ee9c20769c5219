//! Bench: the rules' precision and recall per fee line on generated ward months with ground truth
//! (`wardwatch_testkit::simulate`: two dialysis centres, a rehabilitation and a psychiatric hospital;
//! several sessions a day, double sessions, refunds linked by 原费用流水号 or not, one institution's fee
//! lines with no settlement file; recognition noise, visitors, camera outages, silent boxes; injected
//! fraud of every kind, including a box switched off while ghost sessions are billed, photos held up to
//! the camera and presence forged with the box's key).
//!
//! Each month goes through the real paths (events sealed and verified as ingest does, the export files
//! through the importer, the gallery import) into its own SQLite store; the rules run twice (the second
//! run must raise nothing). Printed per month: the generator's counts, the importer's counts, what ingest
//! quarantined and any forged event it stored. Then over all months, per rule: flags, lines (or, for
//! `outage_alignment` and `duplicate_face`, findings) flagged and expected, precision and recall, with
//! every false positive and miss and the line's truth; and the honest lines, refund lines and
//! unmonitored lines that any flag named (goal: none of each).
//!
//! `cargo bench --workspace --bench rules_month [-- MONTHS [FIRST_SEED]]` (default 5 months)

use std::time::Instant;
use wardwatch_collector::rules::run_rules;
use wardwatch_collector::store::{Store, StoreLocation};
use wardwatch_testkit::simulate::{MonthScore, MonthSpec, generate, load, score};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let months = numbers.first().copied().unwrap_or(5);
    let first_seed = numbers.get(1).copied().unwrap_or(MonthSpec::default().seed);
    let zone = chrono_tz::Asia::Shanghai;
    let mut total = MonthScore::default();
    let mut second_run_new = 0;
    let mut rules_time = 0.0;
    for seed in first_seed..first_seed + months {
        let spec = MonthSpec {
            seed,
            ..MonthSpec::default()
        };
        let dir = tempfile::tempdir()?;
        let month = generate(&spec);
        let store = Store::open(&StoreLocation::DataDir(dir.path().to_owned())).await?;
        let started = Instant::now();
        let loaded = load(&store, &month, dir.path()).await?;
        let load_time = started.elapsed().as_secs_f64();
        let (from, to) = month.window;
        let started = Instant::now();
        let report = run_rules(&store, zone, from, to).await?;
        rules_time += started.elapsed().as_secs_f64();
        let again = run_rules(&store, zone, from, to).await?;
        second_run_new += again.raised.values().sum::<u64>();
        println!("seed {seed}: {:?}", month.counts);
        println!(
            "  loaded in {load_time:.1} s: {} events stored, quarantined {:?}, forged events stored {:?}",
            loaded.stored, loaded.quarantined, loaded.forged_stored
        );
        for line in &loaded.imports {
            println!("  import {line}");
        }
        println!(
            "  rules: {} patient-days checked, {} without evidence ({:.2} yuan), {} lines unlinked",
            report.checked,
            report.no_evidence,
            report.no_evidence_amount_fen as f64 / 100.0,
            report.unlinked_lines
        );
        let scored = score(&store, &month).await?;
        println!("  lines by truth: {:?}", scored.lines);
        total.add(&scored, &format!("seed {seed}: "));
        store.close().await;
    }
    println!(
        "\n{months} months; rules ran in {:.3} s per month; a second run raised {second_run_new} new flags",
        rules_time / months as f64
    );
    println!("lines by truth: {:?}", total.lines);
    let (table, worst) = total.table(usize::MAX);
    print!("{table}");
    for (what, list) in [
        ("honest line flagged", &total.honest_flagged),
        ("refund or refunded line flagged", &total.refund_flagged),
        (
            "unmonitored line flagged by a line-level rule",
            &total.unmonitored_flagged,
        ),
        (
            "flag naming a line the month does not have",
            &total.unknown_lines,
        ),
    ] {
        for line in list {
            println!("  {what}: {line}");
        }
    }
    println!(
        "worst precision or recall {worst:.3} (goal ≥ 0.95); honest lines flagged {}, refund lines flagged {}, \
         unmonitored lines flagged by a line-level rule {} (goal 0 each)",
        total.honest_flagged.len(),
        total.refund_flagged.len(),
        total.unmonitored_flagged.len()
    );
    Ok(())
}
