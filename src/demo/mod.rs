//! `wardwatch demo`: the spine end to end on one machine, with nothing to install.
//!
//! Starts the embedded broker on a free loopback port and the collector on SQLite in
//! `DATA_DIR/demo/`, creates an agent (key, config, spool) next to it, registers the agent's key,
//! renders the bundled haemodialysis morning as two cameras' recordings ([`ward`]: faces from the
//! repository's own photos), enrols the patients with the box's models, runs the real agent on the
//! recordings (faces in, presence events out) until the collector has acknowledged every event, then
//! imports the bundled settlement month (`demo/*.csv`), runs the rules, and prints what arrived, the
//! flags per rule with the amounts at stake, and where to look.

mod ward;

use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;
use wardwatch_agent::config::AgentConfig;
use wardwatch_agent::device_key;
use wardwatch_agent::run::{RunOptions, run as run_agent};
use wardwatch_agent::vision::manifest::Manifest;
use wardwatch_collector::broker::{free_loopback_addr, start_embedded};
use wardwatch_collector::ingest::{IngestSettings, run_ingest};
use wardwatch_collector::rules::run_rules;
use wardwatch_collector::settlement::import::ImportOptions;
use wardwatch_collector::store::devices::{Device, DevicePurpose};
use wardwatch_collector::store::{Store, StoreLocation};
use wardwatch_protocol::{PublicKey, key_file};

/// The bundled settlement month (see demo/make_settlements.py): settlements in UTF-8 with the
/// platform's field names, fee lines in GB18030 with Chinese headers.
const SAMPLE_SETTLEMENTS: &[u8] = include_bytes!("../../demo/settlements.csv");
const SAMPLE_FEE_LINES: &[u8] = include_bytes!("../../demo/fee_lines.csv");
const DEMO_DEVICE: &str = "demo-hd-box1";
const DEMO_INSTITUTION: &str = "H43060200175";

/// `demo` options.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Parent data directory; the demo (re)creates DATA_DIR/demo and nothing else.
    #[arg(long, default_value = "./wardwatch-data")]
    data_dir: PathBuf,
}

fn agent_config_text(broker: &str, ack_key: &PublicKey, models: &Path) -> String {
    let cameras: String = ["cam-1", "cam-2"]
        .iter()
        .map(|id| {
            format!(
                "\n[[camera]]\nid = \"{id}\"\nsource = {{ kind = \"folder\", path = \"{id}\", \
                 start = \"2026-11-02T00:00:00.000Z\", fps = {} }}\n",
                1.0 / ward::FRAME_SECS
            )
        })
        .collect();
    format!(
        r#"# Written by `wardwatch demo`.
device_id = "{DEMO_DEVICE}"
institution_code = "{DEMO_INSTITUTION}"
ward_kind = "haemodialysis"
test_mode = true
key_file = "device.key"
spool_dir = "spool"

[broker]
url = "{broker}"
resend_after_secs = 5
ack_public_key = "{ack_key}"

[presence]
close_after_secs = 300
min_samples = 2
checkpoint_secs = 1800

[recognition]
models = "{models}"
gallery = "gallery.jsonl"
{cameras}"#,
        models = models.display()
    )
}

/// The model manifest: `$WARDWATCH_MODELS`, else `models/manifest.toml` here, else the one in the
/// source tree this binary was built from.
fn models_path() -> PathBuf {
    if let Some(path) = std::env::var_os("WARDWATCH_MODELS") {
        return PathBuf::from(path);
    }
    let here = PathBuf::from("models/manifest.toml");
    if here.exists() {
        return std::fs::canonicalize(&here).unwrap_or(here);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/manifest.toml")
}

fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot clear the previous demo in {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.join("agent"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(())
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.join("demo");
    prepare_dir(&dir)?;
    let agent_dir = dir.join("agent");
    let collector_dir = dir.join("collector");

    let addr = free_loopback_addr().context("no free loopback port")?;
    let broker = start_embedded(addr, None)?;
    let broker_url = format!("mqtt://{}", broker.addr);
    let collector_url = format!("mqtt://{}", broker.collector_addr);

    let store = Store::open(&StoreLocation::DataDir(collector_dir.clone())).await?;
    let models = models_path();
    let manifest = Manifest::load(&models)
        .with_context(|| format!("the face models ({})", models.display()))?;
    let rendering = std::time::Instant::now();
    let recordings = ward::recordings()?;
    for recording in &recordings {
        recording.render(&agent_dir.join(recording.camera_id))?;
    }
    std::fs::write(
        agent_dir.join("gallery.jsonl"),
        ward::enrol(&manifest, DEMO_INSTITUTION)?,
    )?;
    let frames: usize = recordings.iter().map(|r| r.plan.frames).sum();
    let rendered = rendering.elapsed();
    // The collector's ack key, pinned by the agent.
    let ack_key = key_file::create(&collector_dir.join("ack.key"))?;
    let config_path = agent_dir.join("agent.toml");
    std::fs::write(
        &config_path,
        agent_config_text(&broker_url, &PublicKey::of(&ack_key), &models),
    )?;
    let config = AgentConfig::load(&config_path)?;
    let (key, _) = device_key::load_or_create(&config.key_file)?;
    store
        .add_device(&Device {
            device_id: config.device_id.clone(),
            institution_code: config.institution_code.clone(),
            public_key: device_key::public_key(&key),
            purpose: DevicePurpose::Tests,
        })
        .await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let ingest = tokio::spawn(run_ingest(
        IngestSettings::new(collector_url.parse()?, ack_key),
        store.clone(),
        stop_rx.clone(),
    ));
    let started = std::time::Instant::now();
    let agent = tokio::time::timeout(
        Duration::from_secs(300),
        run_agent(
            config,
            RunOptions {
                exit_when_drained: true,
            },
            stop_rx,
        ),
    )
    .await
    .context("the demo agent did not drain within 5 minutes")??;
    let elapsed = started.elapsed();
    stop_tx.send_replace(true);
    ingest.await??;

    let stats = store.stats().await?;
    let intervals = store.presence_listing().await?;

    // The bureau's side: import the month's settlements and fee lines, run the rules.
    let mut imports = Vec::new();
    for (name, bytes) in [
        ("settlements.csv", SAMPLE_SETTLEMENTS),
        ("fee_lines.csv", SAMPLE_FEE_LINES),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes)?;
        imports.push(
            store
                .import_file(&path, &ImportOptions::default(), &mut |_| {})
                .await?,
        );
    }
    let month = |text: &str| -> anyhow::Result<i64> {
        Ok(text.parse::<wardwatch_protocol::Timestamp>()?.millis())
    };
    // November 2026, Beijing time.
    let rules = run_rules(
        &store,
        chrono_tz::Asia::Shanghai,
        month("2026-10-31T16:00:00Z")?,
        month("2026-11-30T16:00:00Z")?,
    )
    .await?;
    let flags = store.list_flags().await?;
    // The web app's demo users, each with a one-time password to change at first login.
    let mut demo_users = Vec::new();
    for (name, role, institution) in [
        ("demo-auditor", "auditor", None),
        ("demo-h0175", "institution", Some(DEMO_INSTITUTION)),
    ] {
        let role = wardwatch_collector::users::UserRole::from_parts(role, institution)?;
        let password = wardwatch_collector::web::password::initial_password()?;
        store
            .add_user_with_password(name, &role, &password, true)
            .await?;
        demo_users.push((institution.unwrap_or(name), password));
    }
    store.close().await;

    println!();
    println!(
        "WardWatch demo — 演示 (embedded broker {broker_url}, SQLite in {})",
        collector_dir.display()
    );
    println!(
        "cameras: {frames} frames of 1280×720 (a frame every {} s, 08:00–12:10 Beijing time) rendered from demo/faces/ and 3 patients enrolled in {:.1} s",
        ward::FRAME_SECS,
        rendered.as_secs_f64()
    );
    println!(
        "agent {DEMO_DEVICE}: {frames} frames → {} face sightings → {} signed events; collector acknowledged up to seq {} in {:.1} s",
        agent.produced.sightings,
        agent.produced.events,
        agent.acked,
        elapsed.as_secs_f64()
    );
    println!();
    print!(
        "{}",
        wardwatch_collector::store::stats::render_table(&stats)
    );
    println!();
    println!("presence intervals 在场区间 (UTC; Beijing time is +8 h):");
    println!(
        "{:<24} {:<6} {:<25} {:<25} {:>7} {:>6} {:>6}",
        "person 人员", "camera", "start 开始", "end 结束", "samples", "median", "live"
    );
    for row in &intervals {
        println!(
            "{:<24} {:<6} {:<25} {:<25} {:>7} {:>6.2} {:>6.2}{}",
            row.person,
            row.camera_id,
            row.start,
            row.end,
            row.samples,
            row.median_similarity,
            row.liveness,
            if row.open { "  (open)" } else { "" }
        );
    }
    println!();
    println!("settlements 结算数据:");
    for report in &imports {
        println!(
            "  {} ({}): {} rows, {} new, {} refused",
            report
                .file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("?"),
            report.format,
            report.rows_read,
            report.rows_new,
            report.rows_bad
        );
    }
    println!(
        "rules 规则 (rules v{}, knowledge v{}, example item codes): {} billed lines checked, {} without evidence (ward blind: camera outage or silent box)",
        rules.rules_version, rules.knowledge_version, rules.checked, rules.no_evidence
    );
    println!("flags 疑点 by rule:");
    for (rule, count) in &rules.raised {
        let amount: i64 = flags
            .iter()
            .filter(|f| f.rule_id.as_str() == rule)
            .map(|f| f.amount_fen)
            .sum();
        println!(
            "  {rule:<16} {count} flag(s), {:.2} yuan at stake",
            amount as f64 / 100.0
        );
    }
    for flag in &flags {
        println!(
            "  #{:<3} {:<16} {:<22} {:>8.2} yuan  {}",
            flag.id,
            flag.rule_id,
            flag.psn_no.as_ref().map_or("-", |p| p.as_str()),
            flag.amount_fen as f64 / 100.0,
            flag.state.as_str()
        );
    }
    println!();
    println!(
        "Look further 查看: cargo run --release -- collector stats --data-dir {}",
        collector_dir.display()
    );
    println!(
        "                   sqlite3 {}",
        collector_dir
            .join(wardwatch_collector::store::SQLITE_FILE)
            .display()
    );
    let dir = collector_dir.display();
    println!("                   cargo run --release -- collector rules show --data-dir {dir}");
    println!(
        "                   cargo run --release -- collector users add --name me --role auditor --data-dir {dir}"
    );
    println!(
        "                   cargo run --release -- collector api --data-dir {dir}   # then GET /api/v1/flags with the token"
    );
    println!();
    println!(
        "The web app 网页 (疑点工作台, 疑点详情 with the day's timeline, 报表, 统计看板, 实时在场, 规则库, \
         the institution's list):"
    );
    println!("  cargo run --release -- collector api --data-dir {dir} --listen 127.0.0.1:8080");
    println!(
        "  then open http://127.0.0.1:8080/ and sign in 登录 (one-time passwords, changed at first login):"
    );
    for (login, password) in &demo_users {
        println!("    {login:<14} {password}");
    }
    println!(
        "  (the institution's list shows a flag once an auditor has issued it: 初审确认, then 下发)"
    );
    Ok(())
}
