//! `wardwatch-agent verify` and `enroll-embed` as a user runs them, on ORL photos (../shared/faces/orl,
//! used in place, never copied into the repository) and on bad input: unreadable, truncated, corrupt,
//! zero-size, oversized, no face; grey and RGBA images.

use std::path::{Path, PathBuf};
use std::process::Command;

fn orl(rel: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/faces/orl")
        .join(rel);
    assert!(
        path.exists(),
        "{} is missing: the accuracy data sits beside the repository",
        path.display()
    );
    path
}

fn agent(args: &[&str]) -> (bool, String, String) {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/manifest.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch-agent"))
        .args(args)
        .env("WARDWATCH_MODELS", models)
        .output()
        .expect("run wardwatch-agent");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn verify(a: &Path, b: &Path) -> serde_json::Value {
    let (ok, stdout, stderr) = agent(&[
        "verify",
        &a.display().to_string(),
        &b.display().to_string(),
        "--json",
    ]);
    assert!(ok, "{stderr}");
    serde_json::from_str(&stdout).expect("JSON")
}

#[test]
fn same_and_different_people() {
    let same = verify(&orl("s5/1.pgm"), &orl("s5/2.pgm"));
    assert_eq!(same["same"], true, "{same}");
    assert_eq!(same["threshold"], 0.39);
    let different = verify(&orl("s5/1.pgm"), &orl("s6/1.pgm"));
    assert_eq!(different["same"], false, "{different}");
    assert!(same["similarity"].as_f64() > different["similarity"].as_f64());
}

/// The threshold comes from the agent configuration's `[recognition]` section when one is given, the
/// command line overrides it, and an out-of-range value is refused with its key named.
#[test]
fn the_threshold_comes_from_the_configuration_then_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("sightings.jsonl"), "").expect("write");
    let config = |section: &str| {
        let path = dir.path().join("agent.toml");
        std::fs::write(
            &path,
            format!(
                "device_id = \"box-1\"\ninstitution_code = \"H43060200175\"\nward_kind = \"haemodialysis\"\ntest_mode = true\n\
                 [broker]\nurl = \"mqtt://127.0.0.1:1883\"\n\
                 ack_public_key = \"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\"\n\
                 [source]\nkind = \"replay\"\npath = \"sightings.jsonl\"\n\
                 [recognition]\n{section}\n"
            ),
        )
        .expect("write");
        path.display().to_string()
    };
    let (a, b) = (
        orl("s5/1.pgm").display().to_string(),
        orl("s5/2.pgm").display().to_string(),
    );
    let strict = config("similarity_threshold = 0.99");
    let (ok, stdout, stderr) = agent(&["verify", &a, &b, "--json", "--config", &strict]);
    assert!(ok, "{stderr}");
    let answer: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(answer["threshold"], 0.99, "{answer}");
    assert_eq!(answer["same"], false, "{answer}");
    let (ok, stdout, stderr) = agent(&[
        "verify",
        &a,
        &b,
        "--json",
        "--config",
        &strict,
        "--threshold",
        "0.3",
    ]);
    assert!(ok, "{stderr}");
    let answer: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(answer["threshold"], 0.3, "{answer}");
    assert_eq!(answer["same"], true, "{answer}");
    let broken = config("similarity_threshold = 3");
    let (ok, _, stderr) = agent(&["verify", &a, &b, "--config", &broken]);
    assert!(!ok);
    assert!(
        stderr.contains("recognition.similarity_threshold"),
        "{stderr}"
    );
}

#[test]
fn bad_images_are_named_and_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = orl("s5/1.pgm");
    let bytes = std::fs::read(&good).expect("read");
    let truncated = dir.path().join("truncated.pgm");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).expect("write");
    let corrupt = dir.path().join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\nthis is not a png").expect("write");
    let empty = dir.path().join("empty.jpg");
    std::fs::write(&empty, b"").expect("write");
    // A PNG header that claims 100,000 × 100,000 pixels: refused before any allocation.
    let huge = png_header(100_000, 100_000);
    let huge_path = dir.path().join("huge.png");
    std::fs::write(&huge_path, &huge).expect("write");
    let blank = dir.path().join("blank.png");
    image::RgbImage::from_pixel(200, 150, image::Rgb([120, 120, 120]))
        .save(&blank)
        .expect("blank png");
    let missing = dir.path().join("missing.jpg");
    for (path, expected) in [
        (&truncated, "truncated.pgm"),
        (&corrupt, "corrupt.png"),
        (&empty, "empty.jpg"),
        (&huge_path, "huge.png"),
        (&blank, "no face found"),
        (&missing, "cannot read"),
    ] {
        let (ok, _, stderr) = agent(&[
            "verify",
            &good.display().to_string(),
            &path.display().to_string(),
        ]);
        assert!(!ok, "{} must fail", path.display());
        assert!(stderr.contains(expected), "{}: {stderr}", path.display());
    }
}

/// A minimal PNG: signature and an IHDR chunk (8-bit RGB) with the given size; no image data.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(b"IHDR");
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let crc = crc32(&ihdr);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn rgba_and_grey_images_embed_alike_and_enrol_for_the_collector() {
    let dir = tempfile::tempdir().expect("tempdir");
    let grey = orl("s7/3.pgm");
    let face = image::open(&grey).expect("ORL").to_luma8();
    let rgba = image::RgbaImage::from_fn(face.width(), face.height(), |x, y| {
        let v = face.get_pixel(x, y)[0];
        image::Rgba([v, v, v, 255])
    });
    let rgba_path = dir.path().join("face.png");
    rgba.save(&rgba_path).expect("save");
    let same = verify(&grey, &rgba_path);
    assert!(
        same["similarity"].as_f64().is_some_and(|s| s > 0.99),
        "{same}"
    );

    let (ok, stdout, stderr) = agent(&[
        "enroll-embed",
        &grey.display().to_string(),
        &rgba_path.display().to_string(),
        "--psn-no",
        "43060000000000000007",
        "--institution",
        "H43060200175",
    ]);
    assert!(ok, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["psn_no"], "43060000000000000007");
    assert_eq!(lines[0]["fixmedins_code"], "H43060200175");
    assert_eq!(lines[0]["model"], "fr_feature");
    assert_eq!(lines[0]["embedding"].as_array().map(Vec::len), Some(512));
}

#[test]
fn identify_names_enrolled_people_and_calls_others_unknown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gallery = dir.path().join("gallery.jsonl");
    let mut lines = String::new();
    for (person, psn) in [
        ("s5", "43060000000000000005"),
        ("s6", "43060000000000000006"),
    ] {
        let (ok, stdout, stderr) = agent(&[
            "enroll-embed",
            &orl(&format!("{person}/1.pgm")).display().to_string(),
            "--psn-no",
            psn,
            "--institution",
            "H43060200175",
        ]);
        assert!(ok, "{stderr}");
        lines.push_str(&stdout);
    }
    std::fs::write(&gallery, lines).expect("write gallery");
    let (ok, stdout, stderr) = agent(&[
        "identify",
        &orl("s5/3.pgm").display().to_string(),
        &orl("s7/1.pgm").display().to_string(),
        "--gallery",
        &gallery.display().to_string(),
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let first = &report[0]["faces"][0];
    assert_eq!(
        first["identity"]["psn_no"], "43060000000000000005",
        "{first}"
    );
    assert!(
        first["liveness"]
            .as_f64()
            .is_some_and(|l| (0.0..=1.0).contains(&l))
    );
    assert_eq!(
        first["quality"]["skipped"],
        serde_json::Value::Null,
        "{first}"
    );
    assert_eq!(first["landmarks"].as_array().map(Vec::len), Some(5));
    let stranger = &report[1]["faces"][0];
    assert_eq!(
        stranger["identity"]["psn_no"],
        serde_json::Value::Null,
        "{stranger}"
    );

    std::fs::write(&gallery, "{\"psn_no\": \"1\", \"embedding\": [1.0, 2.0]}\n").expect("write");
    let (ok, _, stderr) = agent(&[
        "identify",
        &orl("s5/3.pgm").display().to_string(),
        "--gallery",
        &gallery.display().to_string(),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("line 1") && stderr.contains("512"),
        "{stderr}"
    );
}
