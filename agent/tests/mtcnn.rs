//! MTCNN finds small faces in a large frame: ORL photos (../shared/faces/orl, used in place) pasted at
//! about 40–55 pixels wide into a 1920×1080 frame, each found where it is, with landmarks inside it.

mod common;

use wardwatch_agent::vision::align::RgbView;
use wardwatch_agent::vision::mtcnn::Mtcnn;

#[test]
fn small_faces_in_a_full_hd_frame() {
    let orl = common::orl_dir();
    let manifest = common::manifest();
    let mut mtcnn = Mtcnn::load(&manifest).expect("mtcnn");
    let (width, height) = (1920usize, 1080usize);
    let mut frame = vec![118u8; width * height * 3];
    let mut places = Vec::new();
    for k in 0..20usize {
        let face = image::open(orl.join(format!("s{}/1.pgm", k + 3)))
            .expect("ORL")
            .to_luma8();
        let scale = 0.45 + 0.15 * (k % 3) as f32; // 41 to 69 px wide
        let (x, y) = (60 + (k % 5) * 370, 80 + (k / 5) * 240);
        places.push(common::paste(&mut frame, width, &face, (x, y), scale));
    }
    let faces = mtcnn
        .detect(RgbView {
            width,
            height,
            data: &frame,
        })
        .expect("detect");
    let found = places
        .iter()
        .filter(|(x1, y1, x2, y2)| {
            faces.iter().any(|f| {
                let place = (*x1, *y1, *x2, *y2);
                let centre = ((f.face.x1 + f.face.x2) / 2.0, (f.face.y1 + f.face.y2) / 2.0);
                common::inside(centre, place)
                    && f.landmarks[..2]
                        .iter()
                        .all(|p| common::inside((p[0], p[1]), place))
            })
        })
        .count();
    println!(
        "MTCNN: {found}/20 small faces found in 1920×1080, {} detections",
        faces.len()
    );
    assert!(found >= 18, "{found}/20");
    assert!(faces.len() <= 24, "{} detections for 20 faces", faces.len());
}

/// The liveness model runs on a detected face and gives a probability; the same face twice gives the
/// same answer, and a face and a flat grey patch the size of a face get different answers.
#[test]
fn liveness_scores_a_detected_face() {
    use wardwatch_agent::vision::liveness::LivenessModel;
    let manifest = common::manifest();
    let mut mtcnn = Mtcnn::load(&manifest).expect("mtcnn");
    let mut liveness = LivenessModel::load(&manifest).expect("liveness");
    let (width, height) = (640usize, 480usize);
    let mut frame = vec![118u8; width * height * 3];
    let face = image::open(common::orl_dir().join("s9/1.pgm"))
        .expect("ORL")
        .to_luma8();
    common::paste(&mut frame, width, &face, (250, 150), 1.5);
    let view = RgbView {
        width,
        height,
        data: &frame,
    };
    let found = mtcnn.detect(view).expect("detect");
    let first = found.first().expect("a face");
    let p = liveness
        .live_probability(view, &first.face)
        .expect("liveness");
    assert!((0.0..=1.0).contains(&p), "{p}");
    assert_eq!(
        liveness.live_probability(view, &first.face).expect("again"),
        p
    );
    let mut flat_box = first.face;
    flat_box.x1 -= 240.0;
    flat_box.x2 -= 240.0;
    let q = liveness.live_probability(view, &flat_box).expect("flat");
    assert!(
        (q - p).abs() > 1e-4,
        "a grey patch scored like a face: {q} vs {p}"
    );
}

/// The default pipeline (MTCNN at the ward's 40-pixel minimum → alignment → embedding) on a crowded
/// frame: 50 ORL photos (10 people × 5 photos each) about 120 px tall in one 1600×900 frame. Nearly every
/// face is found where it was pasted, and each person's faces are closer to one another than to the
/// other people's.
#[test]
fn fifty_faces_in_one_frame_are_found_and_embedded() {
    use wardwatch_agent::vision::engine::{DEFAULT_MIN_FACE_PX, DetectorKind, FaceEngine, cosine};
    let orl = common::orl_dir();
    let mut engine = FaceEngine::load(&common::manifest(), DetectorKind::Mtcnn).expect("engine");
    engine.set_min_face_size(DEFAULT_MIN_FACE_PX);
    let (width, height) = (1600usize, 900usize);
    let mut frame = vec![118u8; width * height * 3];
    let mut places = Vec::new();
    for k in 0..50usize {
        let (person, shot) = (k / 5 + 11, k % 5 + 1);
        let face = image::open(orl.join(format!("s{person}/{shot}.pgm")))
            .expect("ORL")
            .to_luma8();
        let (x, y) = (10 + (k % 10) * 158, 20 + (k / 10) * 175);
        places.push((person, common::paste(&mut frame, width, &face, (x, y), 1.3)));
    }
    let faces = engine
        .faces(RgbView {
            width,
            height,
            data: &frame,
        })
        .expect("pipeline");
    // Each pasted photo's face, with the person it shows.
    let mut matched = Vec::new();
    for (person, place) in &places {
        let centre_in = |f: &&wardwatch_agent::vision::engine::FaceFound| {
            common::inside(
                ((f.face.x1 + f.face.x2) / 2.0, (f.face.y1 + f.face.y2) / 2.0),
                *place,
            )
        };
        if let Some(found) = faces.iter().find(centre_in) {
            matched.push((*person, found));
        }
    }
    println!(
        "MTCNN pipeline: {}/50 faces found and embedded, {} detections",
        matched.len(),
        faces.len()
    );
    assert!(matched.len() >= 47, "{}/50 found", matched.len());
    assert!(faces.len() <= 55, "{} detections for 50 faces", faces.len());
    // Nearest neighbour among the other found faces is the same person for nearly all of them.
    let right = matched
        .iter()
        .enumerate()
        .filter(|(i, (person, face))| {
            let nearest = matched
                .iter()
                .enumerate()
                .filter(|(j, _)| j != i)
                .max_by(|a, b| {
                    cosine(&face.embedding, &a.1.1.embedding)
                        .total_cmp(&cosine(&face.embedding, &b.1.1.embedding))
                });
            nearest.is_some_and(|(_, (other, _))| other == person)
        })
        .count();
    assert!(
        right * 100 >= matched.len() * 90,
        "{right}/{} nearest neighbours are the same person",
        matched.len()
    );
}

/// A still photo cropped tight round a turned face: ORL's s2/6 (a near profile) shows no face to the
/// detector as it is, and `still_face` finds it inside a margin; its embedding is then closer to
/// photo 1 of its own person than to photo 1 of any of the 39 others. A photo whose face is found as
/// it is needs no margin.
#[test]
fn a_tight_portrait_is_found_inside_a_margin_and_matches_its_person() {
    use wardwatch_agent::vision::engine::{DetectorKind, FaceEngine, cosine};
    use wardwatch_agent::vision::image_io::load_rgb;
    let orl = common::orl_dir();
    let mut engine = FaceEngine::load(&common::manifest(), DetectorKind::Mtcnn).expect("engine");
    let photo = load_rgb(&orl.join("s2/6.pgm")).expect("ORL s2/6");
    assert!(
        engine.largest_face(photo.view()).expect("detect").is_none(),
        "s2/6 is found as it is now: the detector changed, and this test no longer shows the margin"
    );
    let still = engine
        .still_face(&photo)
        .expect("detect")
        .expect("s2/6 found inside a margin");
    let framed = still.framed.as_ref().expect("a margin was needed");
    assert!(framed.width > photo.width && framed.height > photo.height);
    let mut best = (0, f32::NEG_INFINITY);
    for person in 1..=40 {
        let enrolled = load_rgb(&orl.join(format!("s{person}/1.pgm"))).expect("ORL photo 1");
        let face = engine
            .still_face(&enrolled)
            .expect("detect")
            .expect("photo 1 has a face");
        assert!(face.framed.is_none(), "s{person}/1 is found as it is");
        let similarity = cosine(&face.found.embedding, &still.found.embedding);
        if similarity > best.1 {
            best = (person, similarity);
        }
    }
    assert_eq!(best.0, 2, "s2/6 is closest to s{} ({:.3})", best.0, best.1);
}
