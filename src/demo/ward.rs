//! The demo's haemodialysis morning (2026-11-02, 08:00–12:10 Beijing time) as two cameras' recordings,
//! rendered from the face photos the repository ships (`demo/faces/`, public domain: see FACES.md), and
//! the gallery the box matches them against.
//!
//! Camera 1 watches patients …0001 (Obama: enrolled from his 2012 portrait, seen as in 2009) and …0002
//! (Biden, seen mirrored), who leaves for 20 minutes; camera 2 watches …0003 (Collins, seen mirrored),
//! who stays an hour of a four-hour session, and a visitor nobody enrolled (Hopper) in the chair of
//! …0004, who is billed but never comes. A frame every two minutes: a time-lapse, so the whole morning
//! runs through the real face pipeline in seconds (14 s for the whole demo in a release build here).

use anyhow::Context;
use image::RgbImage;
use std::path::Path;
use wardwatch_agent::vision::align::RgbView;
use wardwatch_agent::vision::engine::{DetectorKind, FaceEngine};
use wardwatch_agent::vision::manifest::Manifest;
use wardwatch_protocol::Timestamp;
use wardwatch_testkit::clip::{ClipPlan, Visit, render};

const OBAMA_2012: &[u8] = include_bytes!("../../demo/faces/obama-2012.jpg");
const OBAMA_2009: &[u8] = include_bytes!("../../demo/faces/obama-2009.jpg");
const BIDEN: &[u8] = include_bytes!("../../demo/faces/biden-2010.jpg");
const COLLINS: &[u8] = include_bytes!("../../demo/faces/collins.jpg");
const HOPPER: &[u8] = include_bytes!("../../demo/faces/hopper.jpg");

/// Seconds between frames.
pub const FRAME_SECS: f64 = 120.0;
/// The clips' first frame: 2026-11-02 08:00 Beijing time.
const START: &str = "2026-11-02T00:00:00.000Z";
const HOUR: f64 = 3600.0;

fn photo(bytes: &[u8], name: &str) -> anyhow::Result<RgbImage> {
    Ok(image::load_from_memory(bytes)
        .with_context(|| format!("bundled photo {name}"))?
        .to_rgb8())
}

/// A camera's recording: its id, its plan and the photos its visits refer to.
pub struct Recording {
    /// The camera.
    pub camera_id: &'static str,
    /// Who is where when.
    pub plan: ClipPlan,
    photos: Vec<RgbImage>,
}

/// The two cameras' recordings.
pub fn recordings() -> anyhow::Result<Vec<Recording>> {
    let start: Timestamp = START.parse()?;
    let frames = (4.0 * HOUR + 600.0) / FRAME_SECS;
    let plan = |visits: Vec<Visit>| ClipPlan {
        width: 1280,
        height: 720,
        start,
        frame_secs: FRAME_SECS,
        frames: frames as usize + 1,
        seats: vec![(260, 220), (820, 240)],
        photo_width: 120,
        visits,
    };
    let visit = |photo, seat, from_secs, to_secs| Visit {
        photo,
        seat,
        from_secs,
        to_secs,
    };
    let mirrored = |bytes, name| -> anyhow::Result<RgbImage> {
        Ok(image::imageops::flip_horizontal(&photo(bytes, name)?))
    };
    Ok(vec![
        Recording {
            camera_id: "cam-1",
            plan: plan(vec![
                visit(0, 0, 0.0, 4.0 * HOUR),
                visit(1, 1, 600.0, 2.0 * HOUR),
                visit(1, 1, 2.0 * HOUR + 1200.0, 4.0 * HOUR + 300.0),
            ]),
            photos: vec![
                photo(OBAMA_2009, "obama-2009.jpg")?,
                mirrored(BIDEN, "biden-2010.jpg")?,
            ],
        },
        Recording {
            camera_id: "cam-2",
            plan: plan(vec![
                visit(0, 0, 0.0, HOUR),
                visit(1, 1, 1800.0, 3.0 * HOUR + 3300.0),
            ]),
            photos: vec![
                mirrored(COLLINS, "collins.jpg")?,
                photo(HOPPER, "hopper.jpg")?,
            ],
        },
    ])
}

impl Recording {
    /// Writes the frames into `dir` (JPEG files in order, for a `folder` source).
    pub fn render(&self, dir: &Path) -> anyhow::Result<()> {
        render(&self.plan, &self.photos, dir)
            .with_context(|| format!("rendering {} into {}", self.camera_id, dir.display()))
    }
}

/// The box's gallery (JSON Lines, as `wardwatch-agent enroll-embed` writes it): …0001 from Obama's
/// 2012 portrait, …0002 and …0003 from Biden's and Collins' photos, embedded by the box's own models.
pub fn enrol(manifest: &Manifest, institution: &str) -> anyhow::Result<String> {
    let mut engine = FaceEngine::load(manifest, DetectorKind::Mtcnn)?;
    let mut gallery = String::new();
    for (psn_no, bytes, name) in [
        ("43060000000000000001", OBAMA_2012, "obama-2012.jpg"),
        ("43060000000000000002", BIDEN, "biden-2010.jpg"),
        ("43060000000000000003", COLLINS, "collins.jpg"),
    ] {
        let image = photo(bytes, name)?;
        let view = RgbView {
            width: image.width() as usize,
            height: image.height() as usize,
            data: image.as_raw(),
        };
        let face = engine
            .largest_face(view)?
            .with_context(|| format!("no face found in the bundled photo {name}"))?;
        gallery.push_str(
            &serde_json::json!({
                "fixmedins_code": institution,
                "psn_no": psn_no,
                "model": "fr_feature",
                "embedding": face.embedding,
            })
            .to_string(),
        );
        gallery.push('\n');
    }
    Ok(gallery)
}
