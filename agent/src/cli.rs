//! The `wardwatch-agent` command line (also reachable as `wardwatch agent …`).

use crate::config::AgentConfig;
use crate::device_key;
use crate::run::{RunOptions, run};
use crate::vision::config::RecognitionConfig;
use crate::vision::matcher::{Identity, MatchPolicy, MatchScratch};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use wardwatch_link::process::shutdown_signal;

/// WardWatch ward-box agent: sightings in, signed presence events out to the bureau's broker.
#[derive(Debug, Parser)]
#[command(name = "wardwatch-agent", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log lines as `text` or `json` (one object per line, for a log shipper), on stderr.
    #[arg(long, global = true, default_value = "text")]
    pub log_format: wardwatch_link::process::LogFormat,
}

/// Agent subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: source → presence → spool → broker, until Ctrl-C/SIGTERM.
    Run {
        /// The agent's TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
        /// Exit once the source has ended and the collector has acknowledged every event.
        #[arg(long)]
        exit_when_drained: bool,
    },
    /// Validate a configuration file and say exactly what is wrong with it.
    Check {
        /// The agent's TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the device's public key (creating the key on first use) for `wardwatch-collector devices add`.
    Key {
        /// The agent's TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Compare the largest face in two images: cosine similarity and the decision at the threshold.
    /// Exits non-zero, saying why, when an image cannot be read or has no face.
    Verify {
        /// First image (JPEG, PNG, PGM/PPM).
        first: PathBuf,
        /// Second image.
        second: PathBuf,
        /// Print `{"similarity", "threshold", "same"}` as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        recognition: RecognitionArgs,
    },
    /// Every face in each image: box, landmarks, quality (or why it is skipped), liveness, and — with a
    /// gallery — who it is (open set: unknown below the threshold or without a margin over the runner-up).
    Identify {
        /// The images (JPEG, PNG, PGM/PPM).
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Enrolled people: JSON Lines as `enroll-embed --psn-no … --institution …` prints them.
        #[arg(long)]
        gallery: Option<PathBuf>,
        /// Print JSON (one document for all images).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        recognition: RecognitionArgs,
    },
    /// Embeddings of the largest face in each image, one JSON line per image; with --psn-no and
    /// --institution the lines are ready for `wardwatch-collector gallery import`. With --folder and
    /// --institution: every photo of a folder holding one sub-folder per person, named by the person's
    /// number (several photos a person: each is enrolled).
    EnrollEmbed {
        /// The enrolment photos.
        #[arg(required_unless_present = "folder")]
        images: Vec<PathBuf>,
        /// A folder with one sub-folder per person, named by the insured person's number.
        #[arg(long, conflicts_with_all = ["images", "psn_no"], requires = "institution")]
        folder: Option<PathBuf>,
        /// The insured person's number (人员编号).
        #[arg(long, requires = "institution")]
        psn_no: Option<wardwatch_protocol::PsnNo>,
        /// The enrolling institution's code.
        #[arg(long)]
        institution: Option<wardwatch_protocol::InstitutionCode>,
        /// The model manifest.
        #[arg(long, env = "WARDWATCH_MODELS", default_value = "models/manifest.toml")]
        models: PathBuf,
        /// Which detector finds the faces.
        #[arg(long, value_enum, default_value_t = crate::vision::engine::DetectorKind::Mtcnn)]
        detector: crate::vision::engine::DetectorKind,
    },
    /// Embed labelled photos for `wardwatch-collector calibrate`: FOLDER holds one sub-folder per
    /// person (the enrolment photos, or the camera captures, in folders named alike); one JSON line per
    /// photo: person, file, model, embedding (null without a face), quality weight, and why the box's
    /// quality gate would skip it.
    Embed {
        /// The folder of per-person folders.
        #[arg(long)]
        folder: PathBuf,
        /// Write the JSON Lines here (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        recognition: RecognitionArgs,
    },
    /// List the USB cameras on this box and the formats each offers (builds with `--features usb`);
    /// with --probe, open an RTSP stream instead and report its codec, size and first frame.
    Cameras {
        /// An RTSP URL to open (credentials may be in it; they are never printed).
        #[arg(long, value_name = "RTSP_URL")]
        probe: Option<String>,
        /// RTP over `tcp` or `udp` for --probe.
        #[arg(long, value_enum, default_value_t = ProbeTransport::Tcp, requires = "probe")]
        transport: ProbeTransport,
    },
}

/// `cameras --probe --transport`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ProbeTransport {
    /// Interleaved on the RTSP connection.
    Tcp,
    /// Separate UDP ports.
    Udp,
}

/// `cameras`: the USB cameras, or one RTSP stream probed.
async fn cameras(probe: Option<String>, transport: ProbeTransport) -> anyhow::Result<()> {
    use crate::sources::rtsp::{RtspEndpoint, RtspTransport, probe as probe_rtsp};
    if let Some(url) = probe {
        let (transport, name) = match transport {
            ProbeTransport::Tcp => (RtspTransport::Tcp, "tcp"),
            ProbeTransport::Udp => (RtspTransport::Udp, "udp"),
        };
        let endpoint = RtspEndpoint::new(&url, None, None, transport)
            .map_err(|why| anyhow::anyhow!("--probe: the URL {why}"))?;
        println!("probing {} over {name} …", endpoint.shown());
        let p = probe_rtsp(&endpoint).await.map_err(anyhow::Error::msg)?;
        println!("url          {}", p.url);
        println!("server       {}", p.tool.as_deref().unwrap_or("-"));
        println!("codec        {}", p.codec);
        println!("size         {}×{}", p.size.0, p.size.1);
        println!(
            "frame rate   {}",
            p.fps
                .map_or("- (not in the SPS)".into(), |f| format!("{f:.2}"))
        );
        println!(
            "first frame  after {} ms, captured {}",
            p.first_frame_after.as_millis(),
            p.captured_at
        );
        return Ok(());
    }
    list_usb_cameras()
}

#[cfg(feature = "usb")]
fn list_usb_cameras() -> anyhow::Result<()> {
    let found = crate::sources::usb::list().map_err(anyhow::Error::msg)?;
    if found.is_empty() {
        println!("no USB camera found (no V4L2 capture device under /dev/video*)");
    }
    for camera in found {
        println!(
            "/dev/video{}  {}  ({})",
            camera.index, camera.name, camera.description
        );
        match camera.formats {
            Ok(formats) if formats.is_empty() => println!("    no capture format offered"),
            Ok(formats) => formats.iter().for_each(|f| println!("    {f}")),
            Err(why) => println!("    formats unreadable: {why}"),
        }
    }
    Ok(())
}

#[cfg(not(feature = "usb"))]
fn list_usb_cameras() -> anyhow::Result<()> {
    println!(
        "this wardwatch-agent was built without USB camera support; rebuild it with \
         `cargo build --release -p wardwatch-agent --features usb` (needs libclang-dev) to list and \
         use USB cameras. RTSP cameras need no feature: `wardwatch-agent cameras --probe rtsp://…`"
    );
    Ok(())
}

/// Face settings shared by `verify` and `identify`: the `[recognition]` section of an agent
/// configuration (or its defaults), each value overridable on the command line.
#[derive(Debug, clap::Args)]
pub struct RecognitionArgs {
    /// Take the defaults from this agent configuration's `[recognition]` section.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Decision threshold (cosine similarity) [default: the configuration's, else 0.39].
    #[arg(long)]
    threshold: Option<f32>,
    /// Minimum lead of the best enrolled person over the runner-up (identify) [default: 0.05].
    #[arg(long)]
    margin: Option<f32>,
    /// Smallest face looked for, in pixels [default: 40].
    #[arg(long)]
    min_face: Option<f32>,
    /// Which detector finds the faces [default: mtcnn].
    #[arg(long, value_enum)]
    detector: Option<crate::vision::engine::DetectorKind>,
    /// The model manifest.
    #[arg(long, env = "WARDWATCH_MODELS", default_value = "models/manifest.toml")]
    models: PathBuf,
}

impl RecognitionArgs {
    /// The settings in force: the command line over the configuration over the defaults.
    fn resolve(&self) -> anyhow::Result<RecognitionConfig> {
        let mut settings = match &self.config {
            Some(path) => AgentConfig::load(path)?.recognition,
            None => RecognitionConfig::default(),
        };
        if let Some(t) = self.threshold {
            anyhow::ensure!(
                t.is_finite() && (-1.0..=1.0).contains(&t),
                "--threshold {t}: must be a cosine similarity between -1 and 1"
            );
            settings.similarity_threshold = t;
        }
        if let Some(m) = self.margin {
            anyhow::ensure!(
                m.is_finite() && (0.0..1.0).contains(&m),
                "--margin {m}: must be at least 0 and below 1"
            );
            settings.margin = m;
        }
        if let Some(px) = self.min_face {
            anyhow::ensure!(
                px.is_finite() && (12.0..=1000.0).contains(&px),
                "--min-face {px}: must be between 12 and 1000 pixels"
            );
            settings.min_face_px = px;
        }
        if let Some(kind) = self.detector {
            settings.detector = kind;
        }
        Ok(settings)
    }

    /// The face engine for these settings.
    fn engine(
        &self,
        settings: &RecognitionConfig,
    ) -> anyhow::Result<(
        crate::vision::manifest::Manifest,
        crate::vision::engine::FaceEngine,
    )> {
        let manifest = crate::vision::manifest::Manifest::load(&self.models)?;
        let mut engine = crate::vision::engine::FaceEngine::load(&manifest, settings.detector)?;
        engine.set_min_face_size(settings.min_face_px);
        Ok((manifest, engine))
    }
}

/// `identify`: every face of every image, as a table or JSON.
fn identify(
    images: &[PathBuf],
    gallery: Option<&std::path::Path>,
    json: bool,
    recognition: &RecognitionArgs,
) -> anyhow::Result<()> {
    use crate::vision::manifest::Role;
    let settings = recognition.resolve()?;
    let policy = MatchPolicy {
        threshold: settings.similarity_threshold,
        margin: settings.margin,
    };
    let (manifest, mut engine) = recognition.engine(&settings)?;
    let dims = manifest
        .role(Role::Recogniser)
        .and_then(|e| e.recogniser.as_ref())
        .map_or(512, |r| r.embedding_size);
    let gallery = gallery
        .map(|path| crate::vision::gallery_file::read_gallery(path, dims))
        .transpose()?;
    let mut liveness = crate::vision::liveness::LivenessModel::load(&manifest)?;
    let quality_policy = crate::vision::quality::QualityPolicy::default();
    let mut scratch = MatchScratch::default();
    let mut report = Vec::new();
    if !json {
        println!(
            "image 图像                      face  box (x1,y1,x2,y2)          quality 质量              live   identity 身份              similarity"
        );
    }
    for path in images {
        let frame = crate::vision::image_io::load_rgb(path)?;
        let faces = engine
            .faces(frame.view())
            .with_context(|| format!("{}: face pipeline failed", path.display()))?;
        let mut described = Vec::new();
        for (n, face) in faces.iter().enumerate() {
            let live = liveness.live_probability(frame.view(), &face.face)?;
            let is_live = live >= settings.live_threshold;
            let skipped = quality_policy.check(&face.quality).err();
            let identity = match (&gallery, skipped) {
                (Some(g), None) => Some(g.identify(&face.embedding, policy, &mut scratch)),
                _ => None,
            };
            let (who, similarity) = match &identity {
                Some(Identity::Known {
                    person, similarity, ..
                }) => (
                    gallery
                        .as_ref()
                        .map_or("?", |g| g.people()[*person].as_str())
                        .to_owned(),
                    Some(*similarity),
                ),
                Some(Identity::Unknown { best }) => ("unknown 未知".to_owned(), *best),
                None => ("-".to_owned(), None),
            };
            let b = &face.face;
            if !json {
                println!(
                    "{:<30} {:>4}  ({:>5.0},{:>5.0},{:>5.0},{:>5.0})  {:<24} {:>5.2}{} {:<24} {}",
                    path.display(),
                    n + 1,
                    b.x1,
                    b.y1,
                    b.x2,
                    b.y2,
                    skipped.map_or("ok".to_owned(), |r| r.to_string()),
                    live,
                    if is_live { " " } else { "!" },
                    who,
                    similarity.map_or("-".to_owned(), |s| format!("{s:.3}"))
                );
            }
            described.push(serde_json::json!({
                "box": [b.x1, b.y1, b.x2, b.y2],
                "score": b.score,
                "landmarks": face.landmarks,
                "quality": {
                    "eye_distance_px": face.quality.eye_distance_px,
                    "roll_deg": face.quality.roll_deg,
                    "yaw": face.quality.yaw,
                    "pitch": face.quality.pitch,
                    "sharpness": face.quality.sharpness,
                    "brightness": face.quality.brightness,
                    "clipped": face.quality.clipped,
                    "skipped": skipped.map(|r| r.to_string()),
                },
                "liveness": live,
                "live": is_live,
                "identity": match &identity {
                    Some(Identity::Known { similarity, margin, .. }) => serde_json::json!({"psn_no": who, "similarity": similarity, "margin": margin}),
                    Some(Identity::Unknown { best }) => serde_json::json!({"psn_no": null, "best_similarity": best}),
                    None => serde_json::Value::Null,
                },
            }));
        }
        if !json && faces.is_empty() {
            println!("{:<30}    -  no face 未检测到人脸", path.display());
        }
        report.push(serde_json::json!({"image": path.display().to_string(), "width": frame.width, "height": frame.height, "faces": described}));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "(live 活体: the live-class probability; '!' below {} = possibly a print or a screen 疑似翻拍)",
            settings.live_threshold
        );
    }
    Ok(())
}

/// The recogniser's name as galleries carry it (its file's stem).
fn model_name(manifest: &crate::vision::manifest::Manifest) -> String {
    manifest
        .role(crate::vision::manifest::Role::Recogniser)
        .and_then(|e| e.file.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recogniser".into())
}

/// `embed --folder`: one [`wardwatch_protocol::EmbeddedPhoto`] line per photo.
fn embed_folder(
    folder: &std::path::Path,
    out: Option<&std::path::Path>,
    recognition: &RecognitionArgs,
) -> anyhow::Result<()> {
    use std::io::Write;
    let settings = recognition.resolve()?;
    let (manifest, mut engine) = recognition.engine(&settings)?;
    let model = model_name(&manifest);
    let photos = crate::vision::labelled::list(folder)
        .with_context(|| format!("{}: cannot list the per-person folders", folder.display()))?;
    anyhow::ensure!(
        !photos.is_empty(),
        "{}: no photo (.jpg, .jpeg, .png, .pgm, .ppm) in any sub-folder; one sub-folder per person",
        folder.display()
    );
    let mut sink: Box<dyn Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let policy = crate::vision::quality::QualityPolicy::default();
    let (mut embedded, mut skipped) = (0, 0);
    for (person, path) in &photos {
        let photo =
            crate::vision::labelled::embed_photo(&mut engine, &policy, &model, person, path);
        if photo.embedding.is_some() {
            embedded += 1;
        }
        if photo.skipped.is_some() {
            skipped += 1;
        }
        writeln!(sink, "{}", serde_json::to_string(&photo)?)?;
    }
    sink.flush()?;
    eprintln!(
        "{} photos: {embedded} with a face, {skipped} without one or skipped by the quality gate",
        photos.len()
    );
    Ok(())
}

/// The largest face's embedding in a still image file ([`crate::vision::engine::FaceEngine::still_face`]),
/// or an error naming the file.
fn embed_file(
    engine: &mut crate::vision::engine::FaceEngine,
    path: &std::path::Path,
) -> anyhow::Result<Vec<f32>> {
    let frame = crate::vision::image_io::load_rgb(path)?;
    let found = engine
        .still_face(&frame)
        .with_context(|| format!("{}: face pipeline failed", path.display()))?;
    match found {
        Some(still) => Ok(still.found.embedding),
        None => anyhow::bail!("{}: no face found", path.display()),
    }
}

/// Executes one agent command.
pub async fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Check { config } => {
            let loaded = AgentConfig::load(&config)?;
            println!(
                "{}: OK (device {} at {}, {} ward, broker {})",
                config.display(),
                loaded.device_id,
                loaded.institution_code,
                loaded.ward_kind.as_str(),
                loaded.broker.url
            );
            Ok(())
        }
        Command::Key { config } => {
            let loaded = AgentConfig::load(&config)?;
            let (key, created) = device_key::load_or_create(&loaded.key_file)?;
            if created {
                eprintln!("created a new device key in {}", loaded.key_file.display());
            }
            println!("{}", device_key::public_key(&key));
            Ok(())
        }
        Command::Verify {
            first,
            second,
            json,
            recognition,
        } => {
            let settings = recognition.resolve()?;
            let threshold = settings.similarity_threshold;
            let (_, mut engine) = recognition.engine(&settings)?;
            let a = embed_file(&mut engine, &first)?;
            let b = embed_file(&mut engine, &second)?;
            let similarity = crate::vision::engine::cosine(&a, &b);
            let same = similarity >= threshold;
            if json {
                let round = |v: f32| (f64::from(v) * 1e6).round() / 1e6;
                println!(
                    "{}",
                    serde_json::json!({"similarity": round(similarity), "threshold": round(threshold), "same": same})
                );
            } else {
                println!(
                    "similarity {similarity:.3} (threshold {threshold:.3}): {}",
                    if same {
                        "same person 同一人"
                    } else {
                        "different people 不同人"
                    }
                );
            }
            Ok(())
        }
        Command::Identify {
            images,
            gallery,
            json,
            recognition,
        } => identify(&images, gallery.as_deref(), json, &recognition),
        Command::EnrollEmbed {
            images,
            folder,
            psn_no,
            institution,
            models,
            detector,
        } => {
            anyhow::ensure!(
                institution.is_none() || folder.is_some() || psn_no.is_some(),
                "--institution needs --psn-no (or --folder of per-person folders)"
            );
            let manifest = crate::vision::manifest::Manifest::load(&models)?;
            let model = model_name(&manifest);
            let mut engine = crate::vision::engine::FaceEngine::load(&manifest, detector)?;
            let photos: Vec<(Option<wardwatch_protocol::PsnNo>, PathBuf)> = match &folder {
                Some(folder) => crate::vision::labelled::list(folder)
                    .with_context(|| {
                        format!("{}: cannot list the per-person folders", folder.display())
                    })?
                    .into_iter()
                    .map(|(person, path)| {
                        person.parse().map(|psn| (Some(psn), path)).map_err(|e| {
                            anyhow::anyhow!(
                                "{}/{person}: the folder is not named by a person's number: {e}",
                                folder.display()
                            )
                        })
                    })
                    .collect::<anyhow::Result<_>>()?,
                None => images
                    .into_iter()
                    .map(|image| (psn_no.clone(), image))
                    .collect(),
            };
            for (psn_no, image) in &photos {
                let embedding = embed_file(&mut engine, image)?;
                let line = match (psn_no, &institution) {
                    (Some(psn), Some(inst)) => serde_json::json!({
                        "fixmedins_code": inst.as_str(), "psn_no": psn.as_str(), "model": model, "embedding": embedding
                    }),
                    _ => {
                        serde_json::json!({"image": image.display().to_string(), "model": model, "embedding": embedding})
                    }
                };
                println!("{line}");
            }
            Ok(())
        }
        Command::Embed {
            folder,
            out,
            recognition,
        } => embed_folder(&folder, out.as_deref(), &recognition),
        Command::Cameras { probe, transport } => cameras(probe, transport).await,
        Command::Run {
            config,
            exit_when_drained,
        } => {
            let loaded = AgentConfig::load(&config)?;
            let summary = run(loaded, RunOptions { exit_when_drained }, shutdown_signal())
                .await
                .context("agent stopped")?;
            tracing::info!(
                sightings = summary.produced.sightings,
                events = summary.produced.events,
                tip = summary.tip,
                acked = summary.acked,
                "agent stopped"
            );
            Ok(())
        }
    }
}
