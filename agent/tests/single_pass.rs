//! The single-pass detector on real faces: the ORL database's images (../shared/faces/orl, 40 people ×
//! 10 grey 92×112 photos; used from ../shared, never copied into the repository), each pasted at a known
//! place and scale into a larger grey frame, must be found at that place.

mod common;

use wardwatch_agent::vision::align::RgbView;
use wardwatch_agent::vision::single_pass::SinglePassDetector;

/// The ORL folder and a loaded detector.
fn setup() -> (std::path::PathBuf, SinglePassDetector) {
    (
        common::orl_dir(),
        SinglePassDetector::load(&common::manifest()).expect("detector"),
    )
}

/// Whether a box's centre lies inside the rectangle (x1, y1, x2, y2).
fn centre_inside(
    boxes: &[wardwatch_agent::vision::boxes::FaceBox],
    (x1, y1, x2, y2): (f32, f32, f32, f32),
) -> bool {
    boxes
        .iter()
        .any(|b| common::inside(((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0), (x1, y1, x2, y2)))
}

#[test]
fn orl_faces_pasted_into_a_frame_are_found_where_they_are() {
    let (orl, mut detector) = setup();
    let (width, height) = (640usize, 480usize);
    let (mut found, mut total) = (0, 0);
    let mut misses = Vec::new();
    for person in 1..=40 {
        for shot in [1, 5] {
            let path = orl.join(format!("s{person}/{shot}.pgm"));
            let face = image::open(&path).expect("ORL image").to_luma8();
            let (x, y, scale) = (100 + person * 7, 60 + shot * 9, 1.6);
            let mut frame = vec![118u8; width * height * 3];
            let place = common::paste(&mut frame, width, &face, (x, y), scale);
            let boxes = detector
                .detect(RgbView {
                    width,
                    height,
                    data: &frame,
                })
                .expect("detect");
            total += 1;
            // Found: a box whose centre lies inside the pasted photo.
            let hit = centre_inside(&boxes, place);
            if hit {
                found += 1;
            } else {
                misses.push(format!("s{person}/{shot}"));
            }
        }
    }
    println!("single-pass detector: {found}/{total} ORL faces found; missed {misses:?}");
    assert!(
        found * 100 >= total * 90,
        "{found}/{total}; missed {misses:?}"
    );
}

#[test]
fn fifty_faces_in_one_frame() {
    let (orl, mut detector) = setup();
    // A 1600×900 frame holding 50 photos (10 × 5) at 1.3×: faces about 120 px tall.
    let (width, height, scale) = (1600usize, 900usize, 1.3f32);
    let mut frame = vec![118u8; width * height * 3];
    let mut places = Vec::new();
    for k in 0..50 {
        let face = image::open(orl.join(format!("s{}/{}.pgm", k % 40 + 1, k % 10 + 1)))
            .expect("ORL image")
            .to_luma8();
        let (x, y) = (10 + (k % 10) * 158, 20 + (k / 10) * 175);
        places.push(common::paste(&mut frame, width, &face, (x, y), scale));
    }
    let boxes = detector
        .detect(RgbView {
            width,
            height,
            data: &frame,
        })
        .expect("detect");
    let found = places
        .iter()
        .filter(|place| centre_inside(&boxes, **place))
        .count();
    println!(
        "50 faces in one frame: {found} found, {} boxes",
        boxes.len()
    );
    assert!(found >= 45, "{found}/50 found");
    assert!(boxes.len() <= 55, "{} boxes for 50 faces", boxes.len());
}
