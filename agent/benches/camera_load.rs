//! Steady-state load of one camera: CPU and memory at 5 fps with 4 people in view.
//!
//! Renders a 1920×1080 recording at 5 frames a second of four people seated in view the whole time
//! (the repository's own photos, `demo/faces/`), runs it through the agent's camera pipeline (folder
//! source → tamper checks → detection every frame → tracking → recognition and liveness a few times per
//! track → presence → sealed events in the spool) as fast as it goes, and reports the process's CPU time
//! per second of recording — the share of one core a live camera at 5 fps needs — and its peak
//! resident memory. The first second is excluded from the CPU figure (model plans are built then).
//!
//! `cargo bench -p wardwatch-agent --bench camera_load [-- SECONDS]` (default 30 s of recording).

mod common;

use common::{BenchArgs, repo_root};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use wardwatch_agent::config::AgentConfig;
use wardwatch_agent::pipeline::run_producer;
use wardwatch_agent::seal::Sealer;
use wardwatch_agent::spool::Spool;
use wardwatch_protocol::Timestamp;
use wardwatch_testkit::clip::{ClipPlan, Visit, render};

const FPS: f64 = 5.0;

/// CPU seconds (user + system) this process has used so far.
fn cpu_secs() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/self/stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// A line of /proc/self/status in MiB (VmHWM: peak resident set; VmRSS: now).
fn status_mib(key: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .ok_or_else(|| anyhow::anyhow!("{key} not in /proc/self/status"))?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("bad {key} line"))?
        .parse()?;
    Ok(kib / 1024.0)
}

fn main() -> anyhow::Result<()> {
    let args = BenchArgs::from_env(&[]);
    let seconds: f64 = args.number().unwrap_or(30.0);
    let frames = (seconds * FPS) as usize;
    let dir = tempfile::tempdir()?;
    let start: Timestamp = "2026-11-23T00:00:00.000Z".parse()?;
    let faces = repo_root().join("demo/faces");
    let photo = |name: &str| -> anyhow::Result<image::RgbImage> {
        Ok(image::open(faces.join(name))?.to_rgb8())
    };
    let photos = vec![
        photo("obama-2009.jpg")?,
        photo("biden-2010.jpg")?,
        photo("collins.jpg")?,
        photo("hopper.jpg")?,
    ];
    let plan = ClipPlan {
        width: 1920,
        height: 1080,
        start,
        frame_secs: 1.0 / FPS,
        frames,
        seats: vec![(250, 300), (700, 320), (1150, 300), (1600, 330)],
        photo_width: 120,
        visits: (0..4)
            .map(|i| Visit {
                photo: i,
                seat: i,
                from_secs: 0.0,
                to_secs: seconds + 1.0,
            })
            .collect(),
    };
    render(&plan, &photos, &dir.path().join("cam-1"))?;
    let config_text = |spool: &str, frames_dir: &str| {
        format!(
            r#"device_id = "load-box"
institution_code = "H43060200175"
ward_kind = "haemodialysis"
test_mode = true
spool_dir = "{spool}"
[broker]
url = "mqtt://127.0.0.1:1"
ack_public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
[recognition]
models = "{}"
[[camera]]
id = "cam-1"
source = {{ kind = "folder", path = "{frames_dir}", start = "{start}", fps = {FPS} }}
"#,
            repo_root().join("models/manifest.toml").display()
        )
    };
    let config_path = dir.path().join("agent.toml");
    std::fs::write(&config_path, config_text("spool", "cam-1"))?;
    let config = AgentConfig::load(&config_path)?;
    let spool = Spool::open(&config.spool_dir)?;
    let (key, _) = wardwatch_agent::device_key::load_or_create(&config.key_file)?;
    let sealer = Sealer::new(
        key,
        config.device_id.clone(),
        config.institution_code.clone(),
    );
    let (tip, _) = tokio::sync::watch::channel(0);
    let stop = Arc::new(AtomicBool::new(false));
    let gallery = wardwatch_agent::gallery::SharedGallery::default();

    // Warm-up: one second of the recording (plans for each input size are built here).
    let warm_dir = dir.path().join("warm");
    std::fs::create_dir_all(warm_dir.join("cam-1"))?;
    for n in 0..(FPS as usize) {
        let name = format!("frame-{n:05}.jpg");
        std::fs::copy(
            dir.path().join("cam-1").join(&name),
            warm_dir.join("cam-1").join(&name),
        )?;
    }
    let warm_path = dir.path().join("warm.toml");
    std::fs::write(&warm_path, config_text("warm/spool", "warm/cam-1"))?;
    let warm_config = AgentConfig::load(&warm_path)?;
    let warm_spool = Spool::open(&warm_config.spool_dir)?;
    run_producer(&warm_config, &warm_spool, &sealer, &tip, &gallery, &stop)?;

    // The producer raises its stop flag when a run ends: a fresh one for the measured run.
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_before = cpu_secs()?;
    let wall = std::time::Instant::now();
    let summary = run_producer(&config, &spool, &sealer, &tip, &gallery, &stop)?;
    let wall = wall.elapsed().as_secs_f64();
    let cpu = cpu_secs()? - cpu_before;
    println!(
        "camera_load: {frames} frames of 1920×1080 ({seconds} s at {FPS} fps, 4 people in view): \
         {} sightings, {} events",
        summary.sightings, summary.events
    );
    println!(
        "camera_load: wall {wall:.1} s, CPU {cpu:.1} s → {:.0}% of one core per camera at {FPS} fps \
         ({:.0} ms CPU a frame; {} cores here); keeps up in real time: {}",
        100.0 * cpu / seconds,
        1000.0 * cpu / frames as f64,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if wall <= seconds { "yes" } else { "no" }
    );
    println!(
        "camera_load: memory peak {:.0} MiB resident, {:.0} MiB now",
        status_mib("VmHWM:")?,
        status_mib("VmRSS:")?
    );
    Ok(())
}
