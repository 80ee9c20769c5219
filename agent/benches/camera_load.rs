//! Cost per camera: CPU, identification recall and time to first sighting of the agent's camera
//! worker on rendered 1920×1080 recordings at 5 fps, against the naive per-frame pipeline in
//! onnxruntime on the very same frames in the same run.
//!
//! Scenes: 1, 4 and 20 people seated the whole time, and a scene where people walk in, sit a while and
//! walk out while two others stay seated. The 1- and 4-person casts are the repository's photos
//! (`demo/faces/`, each enrolled from the photo it is rendered from); the 20-person and walking casts
//! are ORL photos (../shared/faces/orl: photo 1 enrols, photo 2 is rendered). Each scene runs through
//!
//! - the agent's camera worker as configured by default (folder source → JPEG decode → tamper checks →
//!   gating: motion gate, tracked faces refined in place, periodic whole-frame search at the learnt face
//!   sizes → tracking → recognition and liveness a few times per track → sightings), as fast as it goes;
//!   CPU is the process's, counted from the end of the first frame (whole-frame plans built by then);
//! - for the 4-person scene, the same worker with `[recognition.gating] enabled = false` (MTCNN over
//!   the whole frame on every frame, the agent before gating);
//! - the naive peer, `models/naive_pipeline.py`: every frame decode → MTCNN on the whole frame → align →
//!   fr_feature → fr_liveness → gallery, onnxruntime on one thread at its fastest graph optimisation
//!   level (all four timed and printed), in a venv under target/ (made on first use from
//!   models/requirements.txt).
//!
//! Recall: on each frame, each person in view (the clip's plan) counts as found when a sighting on that
//! frame names them. Time to first sighting: from a person coming into view to the first frame that
//! names them, against the stated bound (`full_frame_every_secs` + one frame period).
//!
//! `cargo bench --workspace --profile dev --bench camera_load [-- SECONDS] [--scene 1|4|20|walk]
//! [--no-peer]` (default 20 s of recording per scene, every scene).

mod common;

use common::{BenchArgs, repo_root};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use wardwatch_agent::cameras::Observation;
use wardwatch_agent::cameras::worker::CameraWorker;
use wardwatch_agent::config::AgentConfig;
use wardwatch_agent::gallery::SharedGallery;
use wardwatch_agent::vision::align::RgbView;
use wardwatch_agent::vision::engine::{DetectorKind, FaceEngine};
use wardwatch_agent::vision::manifest::{Manifest, Role};
use wardwatch_agent::vision::matcher::Gallery;
use wardwatch_protocol::{Person, Timestamp};
use wardwatch_testkit::clip::{ClipPlan, Visit, Walk, render_with_walks};

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
    let ticks: f64 = fields
        .get(11)
        .ok_or_else(|| anyhow::anyhow!("short stat"))?
        .parse::<f64>()?
        + fields
            .get(12)
            .ok_or_else(|| anyhow::anyhow!("short stat"))?
            .parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// The machine's load averages over 1, 5 and 15 minutes (/proc/loadavg), to say how busy it was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The CPU's model name from /proc/cpuinfo, with whether it has AVX-512.
fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let name = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, v)| v.trim())
        .to_owned();
    let avx512 = info
        .lines()
        .any(|l| l.starts_with("flags") && l.contains("avx512f"));
    format!("{name}{}", if avx512 { ", AVX-512" } else { "" })
}

/// A scene: the plan, who walks, the photos, and who each photo is.
struct Scene {
    name: &'static str,
    plan: ClipPlan,
    walks: Vec<Walk>,
    photos: Vec<image::RgbImage>,
    /// Per photo: the person's number and the photo to enrol them from.
    people: Vec<(String, image::RgbImage)>,
}

impl Scene {
    /// Who is in view on frame `n` (their numbers).
    fn in_view(&self, n: usize) -> BTreeSet<String> {
        let t = self.plan.frame_time(n);
        let seated = self
            .plan
            .visits
            .iter()
            .filter(|v| (v.from_secs..v.to_secs).contains(&t))
            .map(|v| v.photo);
        let walking = self
            .walks
            .iter()
            .filter(|w| w.at(t).is_some())
            .map(|w| w.photo);
        seated
            .chain(walking)
            .map(|p| self.people[p].0.clone())
            .collect()
    }
}

fn psn(k: usize) -> String {
    format!("430600000000{k:08}")
}

fn demo(name: &str) -> anyhow::Result<image::RgbImage> {
    Ok(image::open(repo_root().join("demo/faces").join(name))?.to_rgb8())
}

fn orl(dir: &Path, subject: usize, shot: usize) -> anyhow::Result<image::RgbImage> {
    Ok(image::open(dir.join(format!("s{subject}/{shot}.pgm")))?.to_rgb8())
}

fn plan(frames: usize, seats: Vec<(u32, u32)>, visits: Vec<Visit>) -> anyhow::Result<ClipPlan> {
    Ok(ClipPlan {
        width: 1920,
        height: 1080,
        start: "2026-11-23T00:00:00.000Z".parse()?,
        frame_secs: 1.0 / FPS,
        frames,
        seats,
        photo_width: 120,
        visits,
    })
}

fn seated(count: usize, seconds: f64) -> Vec<Visit> {
    (0..count)
        .map(|i| Visit {
            photo: i,
            seat: i,
            from_secs: 0.0,
            to_secs: seconds + 1.0,
        })
        .collect()
}

fn scene(which: &str, seconds: f64, orl_dir: &Path) -> anyhow::Result<Scene> {
    let frames = (seconds * FPS) as usize;
    let demo_cast = || -> anyhow::Result<Vec<image::RgbImage>> {
        [
            "obama-2009.jpg",
            "biden-2010.jpg",
            "collins.jpg",
            "hopper.jpg",
        ]
        .iter()
        .map(|n| demo(n))
        .collect()
    };
    let same = |photos: &[image::RgbImage]| -> Vec<(String, image::RgbImage)> {
        photos
            .iter()
            .enumerate()
            .map(|(k, p)| (psn(k), p.clone()))
            .collect()
    };
    Ok(match which {
        "1" => {
            let photos = demo_cast()?[..1].to_vec();
            Scene {
                name: "1 seated",
                plan: plan(frames, vec![(900, 320)], seated(1, seconds))?,
                walks: Vec::new(),
                people: same(&photos),
                photos,
            }
        }
        "4" => {
            let photos = demo_cast()?;
            Scene {
                name: "4 seated",
                plan: plan(
                    frames,
                    vec![(250, 300), (700, 320), (1150, 300), (1600, 330)],
                    seated(4, seconds),
                )?,
                walks: Vec::new(),
                people: same(&photos),
                photos,
            }
        }
        "20" => {
            let mut photos = Vec::new();
            let mut people = Vec::new();
            for k in 0..20 {
                photos.push(orl(orl_dir, k + 1, 2)?);
                people.push((psn(k), orl(orl_dir, k + 1, 1)?));
            }
            let seats = (0..20)
                .map(|k| (80 + 370 * (k % 5) as u32, 40 + 260 * (k / 5) as u32))
                .collect();
            Scene {
                name: "20 seated",
                plan: plan(frames, seats, seated(20, seconds))?,
                walks: Vec::new(),
                photos,
                people,
            }
        }
        "walk" => {
            // Two seated the whole time; every 4 s someone walks in from an edge (3 s), sits in a
            // free seat (5 s) and walks out to the other edge (3 s).
            let mut photos = Vec::new();
            let mut people = Vec::new();
            let walkers = ((seconds - 11.0) / 4.0).floor().max(1.0) as usize;
            for k in 0..2 + walkers {
                photos.push(orl(orl_dir, k + 21, 2)?);
                people.push((psn(k + 100), orl(orl_dir, k + 21, 1)?));
            }
            let mut seats = vec![(250, 200), (1550, 220)];
            let mut visits = seated(2, seconds);
            let mut walks = Vec::new();
            for w in 0..walkers {
                let seat = (500 + 300 * (w % 3) as u32, 420 + 120 * (w % 2) as u32);
                seats.push(seat);
                let t0 = 1.0 + 4.0 * w as f64;
                let (edge_in, edge_out) = if w % 2 == 0 {
                    ((0, seat.1 + 100), (1800, seat.1 + 60))
                } else {
                    ((1800, seat.1 + 60), (0, seat.1 + 100))
                };
                let photo = 2 + w;
                walks.push(Walk {
                    photo,
                    from: edge_in,
                    to: seat,
                    from_secs: t0,
                    to_secs: t0 + 3.0,
                });
                visits.push(Visit {
                    photo,
                    seat: seats.len() - 1,
                    from_secs: t0 + 3.0,
                    to_secs: t0 + 8.0,
                });
                walks.push(Walk {
                    photo,
                    from: seat,
                    to: edge_out,
                    from_secs: t0 + 8.0,
                    to_secs: t0 + 11.0,
                });
            }
            Scene {
                name: "walking in and out",
                plan: plan(frames, seats, visits)?,
                walks,
                photos,
                people,
            }
        }
        other => anyhow::bail!("unknown scene {other} (1, 4, 20 or walk)"),
    })
}

/// The enrolled people's embeddings (the agent's pipeline on each enrolment photo).
fn enrol(manifest: &Manifest, scene: &Scene) -> anyhow::Result<Vec<(String, Vec<f32>)>> {
    let mut engine = FaceEngine::load(manifest, DetectorKind::Mtcnn)?;
    let mut out = Vec::new();
    for (who, photo) in &scene.people {
        let view = RgbView {
            width: photo.width() as usize,
            height: photo.height() as usize,
            data: photo.as_raw(),
        };
        // ORL photos are small: look from 20 px as the enrolment tools do.
        engine.set_min_face_size(20.0);
        let face = engine
            .largest_face(view)?
            .ok_or_else(|| anyhow::anyhow!("no face to enrol {who}"))?;
        out.push((who.clone(), face.embedding));
    }
    Ok(out)
}

/// What one run of the camera worker gave.
struct AgentRun {
    cpu_secs: f64,
    wall_secs: f64,
    /// Per frame: the people named on it.
    named: Vec<BTreeSet<String>>,
    /// Where it looked.
    stats: wardwatch_agent::vision::gating::GatingStats,
}

fn agent_config(dir: &Path, frames: &Path, gating: bool) -> anyhow::Result<AgentConfig> {
    let path = dir.join(format!("agent-{gating}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"device_id = "load-box"
institution_code = "H43060200175"
ward_kind = "haemodialysis"
test_mode = true
spool_dir = "spool"
[broker]
url = "mqtt://127.0.0.1:1"
ack_public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
[recognition]
models = "{}"
[recognition.gating]
enabled = {gating}
[[camera]]
id = "cam-1"
source = {{ kind = "folder", path = "{}", start = "2026-11-23T00:00:00.000Z", fps = {FPS} }}
"#,
            repo_root().join("models/manifest.toml").display(),
            frames.display()
        ),
    )?;
    Ok(AgentConfig::load(&path)?)
}

fn run_agent(
    config: &AgentConfig,
    manifest: &Manifest,
    gallery: &SharedGallery,
    start: Timestamp,
    frames: usize,
    dir: &Path,
) -> anyhow::Result<AgentRun> {
    let camera = config
        .cameras
        .first()
        .ok_or_else(|| anyhow::anyhow!("no camera"))?
        .clone();
    let source = wardwatch_agent::cameras::open_source(&camera.id, &camera.source, 0)?;
    let mut worker = CameraWorker::new(
        camera,
        source,
        manifest,
        &config.recognition,
        gallery.clone(),
        dir.join(format!("reference-{}", config.recognition.gating.enabled)),
    )?;
    let (tx, rx) = std::sync::mpsc::sync_channel(4096);
    let stop = AtomicBool::new(false);
    let mut named = vec![BTreeSet::new(); frames];
    let frame_of =
        |at: Timestamp| ((at.millis() - start.millis()) as f64 * FPS / 1000.0).round() as usize;
    let mut cpu_from = None;
    let wall = std::time::Instant::now();
    let stats = std::thread::scope(|scope| -> anyhow::Result<_> {
        let handle = scope.spawn(|| {
            worker.run(&tx, &stop);
            worker.gating_stats()
        });
        for observation in rx.iter() {
            match observation {
                Observation::Sighting(s) => {
                    if let (Person::PsnNo(p), Some(set)) =
                        (&s.person, named.get_mut(frame_of(s.at)))
                    {
                        set.insert(p.to_string());
                    }
                }
                Observation::Tick { .. } if cpu_from.is_none() => cpu_from = Some(cpu_secs()?),
                Observation::Ended { .. } => break,
                _ => {}
            }
        }
        drop(rx);
        handle
            .join()
            .map_err(|_| anyhow::anyhow!("the camera worker panicked"))
    })?;
    let cpu = cpu_secs()? - cpu_from.unwrap_or(0.0);
    Ok(AgentRun {
        cpu_secs: cpu,
        wall_secs: wall.elapsed().as_secs_f64(),
        named,
        stats,
    })
}

/// Found / in view, summed over frames.
fn recall(scene: &Scene, named: &[BTreeSet<String>]) -> (usize, usize) {
    let (mut found, mut total) = (0, 0);
    for (n, names) in named.iter().enumerate().take(scene.plan.frames) {
        let truth = scene.in_view(n);
        total += truth.len();
        found += truth.intersection(names).count();
    }
    (found, total)
}

/// For each arrival (a person coming into view after not being in it): seconds to the first frame
/// naming them, `None` when never named while in view.
fn arrivals(scene: &Scene, named: &[BTreeSet<String>]) -> Vec<(String, f64, Option<f64>)> {
    let mut out = Vec::new();
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    let mut previous = BTreeSet::new();
    for n in 0..scene.plan.frames {
        let now = scene.in_view(n);
        for who in now.difference(&previous) {
            open.insert(who.clone(), n);
        }
        for who in previous.difference(&now) {
            if let Some(from) = open.remove(who) {
                out.push((who.clone(), scene.plan.frame_time(from), None));
            }
        }
        let names = named.get(n).cloned().unwrap_or_default();
        let done: Vec<String> = open
            .keys()
            .filter(|w| names.contains(*w))
            .cloned()
            .collect();
        for who in done {
            if let Some(from) = open.remove(&who) {
                let t = scene.plan.frame_time(from);
                out.push((who, t, Some(scene.plan.frame_time(n) - t)));
            }
        }
        previous = now;
    }
    out.extend(
        open.into_iter()
            .map(|(w, from)| (w, scene.plan.frame_time(from), None)),
    );
    out
}

/// The venv's python under target/, made from models/requirements.txt on first use.
fn peer_python() -> anyhow::Result<PathBuf> {
    let venv = repo_root().join("target/ort-venv");
    let python = venv.join("bin/python3");
    if !python.exists() {
        println!(
            "camera_load: making {} (onnxruntime from PyPI)",
            venv.display()
        );
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()?
            .success()
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "-r"])
                .arg(repo_root().join("models/requirements.txt"))
                .status()?
                .success();
        anyhow::ensure!(ok, "could not make the venv at {}", venv.display());
    }
    Ok(python)
}

/// The naive peer's answer.
struct PeerRun {
    version: String,
    levels: Vec<(String, f64)>,
    level: String,
    cpu_secs: f64,
    named: Vec<BTreeSet<String>>,
}

fn run_peer(
    manifest: &Manifest,
    frames_dir: &Path,
    frames: usize,
    gallery: &[(String, Vec<f32>)],
) -> anyhow::Result<PeerRun> {
    let file = |role: Role| -> anyhow::Result<String> {
        let entry = manifest
            .role(role)
            .ok_or_else(|| anyhow::anyhow!("no {role:?}"))?;
        Ok(manifest.path_of(entry).display().to_string())
    };
    let defaults = wardwatch_agent::vision::config::RecognitionConfig::default();
    let spec = serde_json::json!({
        "frames": (0..frames).map(|n| frames_dir.join(format!("frame-{n:05}.jpg")).display().to_string()).collect::<Vec<_>>(),
        "models": {
            "pnet": file(Role::DetectorMtcnnPnet)?,
            "rnet": file(Role::DetectorMtcnnRnet)?,
            "onet": file(Role::DetectorMtcnnOnet)?,
            "recogniser": file(Role::Recogniser)?,
            "liveness": file(Role::Liveness)?,
        },
        "min_face": defaults.min_face_px,
        "threshold": defaults.similarity_threshold,
        "margin": defaults.margin,
        "probe_frames": 5,
        "gallery": gallery.iter().map(|(p, e)| serde_json::json!({"person": p, "embedding": e})).collect::<Vec<_>>(),
    });
    let mut child = Command::new(peer_python()?)
        .arg(repo_root().join("models/naive_pipeline.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?
        .write_all(spec.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "the naive onnxruntime peer failed");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let levels = v["levels"]
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("peer levels"))?
        .iter()
        .map(|(k, ms)| (k.clone(), ms.as_f64().unwrap_or(f64::NAN)))
        .collect();
    let named = v["identified"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("peer identified"))?
        .iter()
        .map(|f| {
            f.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    Ok(PeerRun {
        version: v["onnxruntime"].as_str().unwrap_or("?").to_owned(),
        levels,
        level: v["level"].as_str().unwrap_or("?").to_owned(),
        cpu_secs: v["cpu_secs"].as_f64().unwrap_or(f64::NAN),
        named,
    })
}

fn main() -> anyhow::Result<()> {
    let args = BenchArgs::from_env(&["--scene"]);
    let seconds: f64 = args.number().unwrap_or(20.0);
    let scenes: Vec<String> = match args.value::<String>("--scene")? {
        Some(s) => vec![s],
        None => ["1", "4", "20", "walk"].map(str::to_owned).to_vec(),
    };
    let orl_dir = args.orl_dir()?;
    let cpu = cpu_model();
    let manifest = Manifest::load(&repo_root().join("models/manifest.toml"))?;
    let bound =
        wardwatch_agent::vision::gating::GatingConfig::default().full_frame_every_secs + 1.0 / FPS;
    println!(
        "camera_load: {seconds} s per scene at {FPS} fps, 1920×1080; CPU: {cpu}; {} cores here",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for which in scenes {
        let scene = scene(&which, seconds, &orl_dir)?;
        let dir = tempfile::tempdir()?;
        let frames_dir = dir.path().join("cam-1");
        render_with_walks(&scene.plan, &scene.walks, &scene.photos, &frames_dir)?;
        let enrolled = enrol(&manifest, &scene)?;
        let mut gallery = Gallery::new(enrolled.first().map_or(512, |(_, e)| e.len()));
        for (who, embedding) in &enrolled {
            gallery.add(who, embedding)?;
        }
        let gallery = SharedGallery::new(gallery);
        let frames = scene.plan.frames;
        let per_frame = |cpu: f64| 1000.0 * cpu / (frames - 1) as f64;
        let mut runs = vec![(true, "agent (gated)")];
        if which == "4" {
            runs.push((false, "agent, gating off"));
        }
        let mut agent_fps = f64::NAN;
        for (gating, label) in runs {
            let config = agent_config(dir.path(), &frames_dir, gating)?;
            let run = run_agent(
                &config,
                &manifest,
                &gallery,
                scene.plan.start,
                frames,
                dir.path(),
            )?;
            let (found, total) = recall(&scene, &run.named);
            let ms = per_frame(run.cpu_secs);
            if gating {
                agent_fps = 1000.0 / ms;
            }
            println!(
                "camera_load [{}] {label}: {ms:.1} ms CPU a frame, {:.0}% of one core at {FPS} fps, \
                 {:.1} frames per CPU-second; recall {found}/{total}; wall {:.1} s; CPU {cpu}",
                scene.name,
                ms * FPS / 10.0,
                1000.0 / ms,
                run.wall_secs
            );
            let g = run.stats;
            println!(
                "    looked: {} frames, {} whole-frame searches ({} at every size), {} windows, {} \
                 tracked boxes refined, {} faces found in change windows; load average {}",
                g.frames,
                g.full_frames,
                g.full_pyramids,
                g.windows,
                g.refined,
                g.moved,
                load_average()
            );
            if gating {
                let arrivals = arrivals(&scene, &run.named);
                let late = arrivals
                    .iter()
                    .filter(|(_, _, d)| d.is_none_or(|d| d > bound + 1e-9))
                    .count();
                let worst = arrivals
                    .iter()
                    .filter_map(|(_, _, d)| *d)
                    .fold(0.0f64, f64::max);
                println!(
                    "camera_load [{}] arrivals: {} (first sighting within {bound:.1} s: {}; slowest \
                     {worst:.1} s; missed or late: {late}); CPU {cpu}",
                    scene.name,
                    arrivals.len(),
                    arrivals.len() - late
                );
                for (who, from, delay) in arrivals
                    .iter()
                    .filter(|(_, _, d)| d.is_none_or(|d| d > bound + 1e-9))
                {
                    println!(
                        "    late: {who} in view at {from:.1} s, first named after {delay:?} s"
                    );
                }
            }
        }
        if args.has("--no-peer") {
            continue;
        }
        let peer = run_peer(&manifest, &frames_dir, frames, &enrolled)?;
        let (found, total) = recall(&scene, &peer.named);
        let ms = 1000.0 * peer.cpu_secs / frames as f64;
        let levels: Vec<String> = peer
            .levels
            .iter()
            .map(|(k, v)| format!("{k} {v:.0} ms"))
            .collect();
        println!(
            "camera_load [{}] naive peer (onnxruntime {}, 1 thread, {}): {ms:.1} ms CPU a frame, \
             {:.2} frames per CPU-second; recall {found}/{total}; agent/peer frames per CPU-second \
             {:.1}×; levels timed on 5 frames: {}; CPU {cpu}",
            scene.name,
            peer.version,
            peer.level,
            1000.0 / ms,
            agent_fps / (1000.0 / ms),
            levels.join(", ")
        );
    }
    Ok(())
}
