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
