//! Bench: the rules' precision and recall on generated ward months with ground truth
//! (`wardwatch_testkit::simulate`: two dialysis centres, a rehabilitation and a psychiatric hospital,
//! recognition noise, visitors, camera outages, a silent ward box, and injected fraud of every kind).
//! Each month goes through the real paths (signed events through ingest, CSV exports through the
//! importer, the gallery import) into its own SQLite store; the rules run twice (the second run must raise
//! nothing). Printed: each rule's precision and recall over all the months, every false positive and
//! miss, and the flags raised on honest patient-days that an outage hid (must be 0).
//!
//! `cargo bench -p wardwatch-collector --bench rules_month [-- MONTHS [FIRST_SEED]]` (default 5 months)

use std::collections::BTreeMap;
use std::time::Instant;
use wardwatch_collector::rules::run_rules;
use wardwatch_collector::store::{Store, StoreLocation};
use wardwatch_testkit::simulate::{MonthSpec, RuleScore, generate, load, score};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let months = numbers.first().copied().unwrap_or(5);
    let first_seed = numbers.get(1).copied().unwrap_or(MonthSpec::default().seed);
    let zone = chrono_tz::Asia::Shanghai;
    let mut total: BTreeMap<String, RuleScore> = BTreeMap::new();
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
        load(&store, &month, dir.path()).await?;
        let (from, to) = month.window;
        let started = Instant::now();
        let report = run_rules(&store, zone, from, to).await?;
        rules_time += started.elapsed().as_secs_f64();
        let again = run_rules(&store, zone, from, to).await?;
        second_run_new += again.raised.values().sum::<u64>();
        println!(
            "seed {seed}: {:?}; {} patient-days checked, {} without evidence ({:.2} yuan), {} honest ones hidden by outages",
            month.counts,
            report.checked,
            report.no_evidence,
            report.no_evidence_amount_fen as f64 / 100.0,
            month.under_outage.len()
        );
        for s in score(&store, &month).await? {
            let t = total.entry(s.rule.clone()).or_insert_with(|| RuleScore {
                rule: s.rule.clone(),
                ..RuleScore::default()
            });
            t.raised += s.raised;
            t.true_positives += s.true_positives;
            t.expected += s.expected;
            t.found += s.found;
            t.under_outage += s.under_outage;
            t.false_positives.extend(
                s.false_positives
                    .iter()
                    .map(|f| format!("seed {seed}: {f}")),
            );
            t.missed
                .extend(s.missed.iter().map(|f| format!("seed {seed}: {f}")));
        }
        store.close().await;
    }
    println!(
        "\n{months} months; rules ran in {:.3} s per month; a second run raised {second_run_new} new flags",
        rules_time / months as f64
    );
    println!("rule                   raised expected  precision  recall  flags-under-outage");
    let mut worst: f64 = 1.0;
    for s in total.values() {
        println!(
            "{:<22} {:>6} {:>8}  {:>9.3}  {:>6.3}  {:>4}",
            s.rule,
            s.raised,
            s.expected,
            s.precision(),
            s.recall(),
            s.under_outage
        );
        worst = worst.min(s.precision()).min(s.recall());
        for fp in &s.false_positives {
            println!("    false positive: {fp}");
        }
        for miss in &s.missed {
            println!("    missed: {miss}");
        }
    }
    let under_outage: u64 = total.values().map(|s| s.under_outage).sum();
    println!(
        "worst precision or recall {worst:.3} (goal ≥ 0.95); flags on honest days under outage {under_outage} (goal 0)"
    );
    Ok(())
}
