//! Bench: the face pipeline's speed per stage and end to end on 1920×1080 frames holding 1, 5 and 20
//! faces (ORL photos from ../shared/faces/orl pasted at 100–140 px), single thread, in tract — and the
//! same models on the same input shapes in onnxruntime (`models/ort_pipeline_timing.py`, 1 thread),
//! measured in the same run, with their ratio. tract's stage times include the Rust pre- and
//! post-processing around the models (pyramid resizing, crops, NMS); onnxruntime's are the model calls
//! alone, so the ratio is a bound in onnxruntime's favour.
//!
//! `cargo bench -p wardwatch-agent --bench pipeline_speed [-- RUNS] [--min-face PX]` (default 40 px, the
//! agent's default for wards; the manifest's 20 adds the two largest pyramid levels) (needs python3 with numpy and
//! onnxruntime: `pip install -r models/requirements.txt`)

mod common;

use common::BenchArgs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;
use wardwatch_agent::vision::align::RgbView;
use wardwatch_agent::vision::liveness::LivenessModel;
use wardwatch_agent::vision::manifest::{Manifest, Role};
use wardwatch_agent::vision::mtcnn::Mtcnn;
use wardwatch_agent::vision::recogniser::Recogniser;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A 1920×1080 grey frame with `faces` ORL photos pasted in a grid.
fn frame(orl: &Path, faces: usize) -> anyhow::Result<Vec<u8>> {
    let (width, height) = (1920usize, 1080usize);
    let mut data = vec![118u8; width * height * 3];
    for k in 0..faces {
        let face = image::open(orl.join(format!("s{}/1.pgm", k % 40 + 1)))?.to_luma8();
        let scale = 1.1 + 0.1 * (k % 4) as f32;
        let (x, y) = (40 + (k % 8) * 230, 60 + (k / 8) * 330);
        let (fw, fh) = ((92.0 * scale) as usize, (112.0 * scale) as usize);
        for v in 0..fh {
            for u in 0..fw {
                let value = face.get_pixel(
                    ((u as f32 / scale) as u32).min(91),
                    ((v as f32 / scale) as u32).min(111),
                )[0];
                let i = ((y + v) * width + x + u) * 3;
                data[i..i + 3].copy_from_slice(&[value; 3]);
            }
        }
    }
    Ok(data)
}

fn main() -> anyhow::Result<()> {
    let args = BenchArgs::from_env(&["--min-face"]);
    let min_face: f32 = args.value("--min-face")?.unwrap_or(40.0);
    let runs: usize = args.number().unwrap_or(5);
    let root = common::repo_root();
    let orl = args.orl_dir()?;
    let manifest = Manifest::load(&root.join("models/manifest.toml"))?;
    let file = |role: Role| -> anyhow::Result<String> {
        let entry = manifest
            .role(role)
            .ok_or_else(|| anyhow::anyhow!("no {role:?}"))?;
        Ok(manifest.path_of(entry).display().to_string())
    };
    let mut mtcnn = Mtcnn::load(&manifest)?;
    mtcnn.set_min_face_size(min_face);
    let mut recogniser = Recogniser::load(&manifest)?;
    let mut liveness = LivenessModel::load(&manifest)?;
    println!(
        "single thread; median of {runs} runs per frame; ms; MTCNN looks for faces from {min_face} px"
    );
    println!(
        "{:<9} {:<22} {:>9} {:>12} {:>7}",
        "faces", "stage", "tract", "onnxruntime", "ratio"
    );
    for faces in [1usize, 5, 20] {
        let data = frame(&orl, faces)?;
        let view = RgbView {
            width: 1920,
            height: 1080,
            data: &data,
        };
        let mut resize = Vec::new();
        let (mut pnet, mut rnet, mut onet, mut embed, mut live, mut total) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        let mut found = 0;
        for _ in 0..runs + 1 {
            let started = Instant::now();
            let detected = mtcnn.detect(view)?;
            let t = mtcnn.timings().clone();
            let embedded = Instant::now();
            for face in &detected {
                recogniser.embed(view, &face.landmarks)?;
            }
            let lived = Instant::now();
            for face in &detected {
                liveness.live_probability(view, &face.face)?;
            }
            let done = Instant::now();
            found = detected.len();
            pnet.push(t.pnet_ms);
            resize.push(t.pnet_resize_ms);
            rnet.push(t.rnet_ms);
            onet.push(t.onet_ms);
            embed.push((lived - embedded).as_secs_f64() * 1e3);
            live.push((done - lived).as_secs_f64() * 1e3);
            total.push((done - started).as_secs_f64() * 1e3);
        }
        // The same model calls in onnxruntime.
        let t = mtcnn.timings().clone();
        let mut jobs: Vec<(String, Vec<usize>, usize)> = t
            .pnet_shapes
            .iter()
            .map(|s| Ok((file(Role::DetectorMtcnnPnet)?, s.to_vec(), 1)))
            .collect::<anyhow::Result<_>>()?;
        jobs.push((
            file(Role::DetectorMtcnnRnet)?,
            vec![1, 24, 24, 3],
            t.rnet_runs,
        ));
        jobs.push((
            file(Role::DetectorMtcnnOnet)?,
            vec![1, 48, 48, 3],
            t.onet_runs,
        ));
        jobs.push((file(Role::Recogniser)?, vec![1, 3, 112, 112], found));
        jobs.push((file(Role::Liveness)?, vec![1, 3, 128, 128], found));
        let spec = serde_json::json!({
            "threads": 1,
            "runs": 10,
            "jobs": jobs.iter().map(|(m, s, _)| serde_json::json!({"model": m, "shape": s})).collect::<Vec<_>>(),
        });
        let mut child = Command::new("python3")
            .arg(root.join("models/ort_pipeline_timing.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdin"))?
            .write_all(spec.to_string().as_bytes())?;
        let out = child.wait_with_output()?;
        anyhow::ensure!(
            out.status.success(),
            "onnxruntime peer failed (pip install -r models/requirements.txt)"
        );
        let peer: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let ms: Vec<f64> = peer["jobs"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("peer output"))?
            .iter()
            .map(|j| j["median_ms"].as_f64().unwrap_or(f64::NAN))
            .collect();
        let levels = t.pnet_shapes.len();
        let ort_pnet: f64 = ms[..levels].iter().sum();
        let per =
            |i: usize| ms.get(levels + i).copied().unwrap_or(f64::NAN) * jobs[levels + i].2 as f64;
        let (ort_rnet, ort_onet, ort_embed, ort_live) = (per(0), per(1), per(2), per(3));
        let rows = [
            (
                format!("MTCNN pnet ({levels} levels)"),
                median(pnet),
                ort_pnet,
            ),
            ("  of which resizing".to_owned(), median(resize), f64::NAN),
            (
                format!("MTCNN rnet ({} crops)", t.rnet_runs),
                median(rnet),
                ort_rnet,
            ),
            (
                format!("MTCNN onet ({} crops)", t.onet_runs),
                median(onet),
                ort_onet,
            ),
            (
                format!("fr_feature ({found} faces)"),
                median(embed),
                ort_embed,
            ),
            (
                format!("fr_liveness ({found} faces)"),
                median(live),
                ort_live,
            ),
            (
                "end to end".to_owned(),
                median(total),
                ort_pnet + ort_rnet + ort_onet + ort_embed + ort_live,
            ),
        ];
        for (stage, tract, ort) in rows {
            println!(
                "{:<9} {:<22} {:>9.1} {:>12.1} {:>7.2}",
                format!("{faces} ({found})"),
                stage,
                tract,
                ort,
                tract / ort
            );
        }
        println!(
            "onnxruntime {}",
            peer["onnxruntime"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}
