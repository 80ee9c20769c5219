//! `rules`: running the rules (规则库) over a span of billed days, showing and importing the rules in
//! force, and each rule's review outcomes (see [`crate::rules`]).

use super::args::StoreArgs;
use crate::rules::base::RulesFile;
use crate::rules::run_rules;
use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `rules` options.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: RulesCommand,
}

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Run the rules over fee lines billed from --from (inclusive) to --to (exclusive), local dates.
    /// Repeatable: a finding already flagged is not flagged again.
    Run {
        /// First local date, e.g. 2026-11-01.
        #[arg(long)]
        from: NaiveDate,
        /// Day after the last local date, e.g. 2026-12-01.
        #[arg(long)]
        to: NaiveDate,
        /// The zone of the local dates and of the billed days.
        #[arg(long, default_value = "Asia/Shanghai")]
        timezone: chrono_tz::Tz,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the rules in force: id, names, enabled, thresholds, version.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a rules TOML file (see collector/rules/default.toml) and store it as the next version.
    Import {
        /// The file.
        file: PathBuf,
    },
    /// The rule jobs `serve` runs by itself (`[rules_schedule]`): each day and month, asked for and
    /// done, attempts, who runs it now, how the last run ended.
    Jobs {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Review outcomes per rule: positive rate (阳性率, policy target ≥ 50%) and false-positive rate.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `rules` subcommand.
pub async fn run(args: RulesArgs) -> anyhow::Result<()> {
    let RulesArgs { store, command } = args;
    match command {
        RulesCommand::Run {
            from,
            to,
            timezone,
            json,
        } => run_over(&store, from, to, timezone, json).await,
        RulesCommand::Stats { json } => stats(&store, json).await,
        RulesCommand::Jobs { json } => jobs(&store, json).await,
        RulesCommand::Show { json } => show(&store, json).await,
        RulesCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let name = file.display().to_string();
            let parsed = RulesFile::parse(&name, &text)?;
            let version = store
                .with_store(async |store| Ok(store.import_rules(&parsed, &name, &text).await?))
                .await?;
            println!(
                "rules version {version} in force ({} rules)",
                parsed.rule.len()
            );
            Ok(())
        }
    }
}

/// `rules run`.
async fn run_over(
    store: &StoreArgs,
    from: NaiveDate,
    to: NaiveDate,
    timezone: chrono_tz::Tz,
    json: bool,
) -> anyhow::Result<()> {
    let report = store
        .with_store(async |store| {
            let bound = |date: NaiveDate| -> anyhow::Result<i64> {
                use chrono::TimeZone;
                let midnight = date.and_hms_opt(0, 0, 0).context("midnight")?;
                Ok(timezone
                    .from_local_datetime(&midnight)
                    .earliest()
                    .context("local midnight does not exist")?
                    .timestamp_millis())
            };
            anyhow::ensure!(from < to, "--from {from} must be before --to {to}");
            Ok(run_rules(store, timezone, bound(from)?, bound(to)?).await?)
        })
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    // What the run could not use, first and on stderr: a bureau must not miss it at the end of a listing.
    if report.unlinked_lines > 0 {
        eprintln!(
            "WARNING: {} fee lines of monitored items have no institution (neither their own \
             定点医药机构编号 nor a settlement for their encounter) and were NOT checked",
            report.unlinked_lines
        );
    }
    if report.unmatched_refunds > 0 {
        eprintln!(
            "WARNING: {} refund lines refund no billed line in the window; the lines they may refund \
             were judged as billed (import the month they belong to, or check 原费用流水号)",
            report.unmatched_refunds
        );
    }
    println!(
        "rules run {from} → {to} (rules v{}, knowledge v{}): {} billed lines checked",
        report.rules_version, report.knowledge_version, report.checked
    );
    for (rule, count) in &report.raised {
        println!("  new flags {rule}: {count}");
    }
    println!("  already flagged: {}", report.already_raised);
    println!(
        "  no evidence (ward blind: camera outage, silent box or no box): {} lines, {:.2} yuan",
        report.no_evidence,
        report.no_evidence_amount_fen as f64 / 100.0
    );
    if !report.disabled.is_empty() {
        println!("  disabled rules: {}", report.disabled.join(", "));
    }
    if !report.coverage.is_empty() {
        println!("  monitoring coverage of billed session time (监控覆盖率):");
        for c in &report.coverage {
            println!(
                "    {}  {:>5.1}%  ({:.0} of {:.0} billed minutes blind)",
                c.institution,
                c.monitored_share * 100.0,
                c.blind_minutes,
                c.billed_minutes
            );
        }
    }
    Ok(())
}

/// `rules stats`.
async fn stats(store: &StoreArgs, json: bool) -> anyhow::Result<()> {
    let stats = store
        .with_store(async |store| Ok(store.rule_stats().await?))
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(());
    }
    let percent = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.0}%", v * 100.0));
    println!("rule             raised pending positive negative 阳性率 false+");
    for s in &stats {
        println!(
            "{:<16} {:>6} {:>7} {:>8} {:>8} {:>6} {:>6}{}",
            s.rule_id,
            s.raised,
            s.pending,
            s.positive,
            s.negative,
            percent(s.positive_rate),
            percent(s.false_positive_rate),
            if s.positive_rate.is_some_and(|r| r < 0.5) {
                "  below the 50% target: review its thresholds"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// `rules show`.
async fn show(store: &StoreArgs, json: bool) -> anyhow::Result<()> {
    let base = store
        .with_store(async |store| Ok(store.rules_base().await?))
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&base.rules)?);
        return Ok(());
    }
    println!("规则库 rules base version {} — {}", base.version, base.note);
    for rule in &base.rules {
        let d = &rule.definition;
        println!(
            "{} v{} [{}] {} / {}\n    {}\n    params: {}",
            d.id,
            rule.rule_version,
            if d.enabled {
                "启用 enabled"
            } else {
                "停用 disabled"
            },
            d.name_zh,
            d.name_en,
            d.scenario,
            serde_json::to_string(&d.params)?
        );
    }
    Ok(())
}

/// `rules jobs`.
async fn jobs(store: &StoreArgs, json: bool) -> anyhow::Result<()> {
    let jobs = store
        .with_store(async |store| Ok(store.rule_jobs().await?))
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&jobs)?);
        return Ok(());
    }
    println!("period            asked done tries outcome  seconds new-flags  running on");
    for j in &jobs {
        println!(
            "{:<17} {:>5} {:>4} {:>5} {:<8} {:>7} {:>9}  {}{}",
            j.period,
            j.requested,
            j.done,
            j.attempts,
            j.last_outcome.as_deref().unwrap_or("-"),
            j.last_duration_ms
                .map_or("-".to_owned(), |ms| format!("{:.1}", ms as f64 / 1000.0)),
            j.last_flags_raised
                .map_or("-".to_owned(), |n| n.to_string()),
            j.owner.as_deref().unwrap_or("-"),
            j.last_error
                .as_deref()
                .map_or(String::new(), |e| format!("  error: {e}")),
        );
    }
    Ok(())
}
