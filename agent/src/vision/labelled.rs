//! Labelled folders of face photos — one sub-folder per person, named by the insured person's number or
//! any label — embedded with the box's own models for `wardwatch-collector calibrate` (and for
//! enrolling several photos a person): one [`EmbeddedPhoto`] per photo, with the quality gate's verdict,
//! so that the collector, which never links the models, does the arithmetic.

use super::engine::FaceEngine;
use super::image_io::load_rgb;
use super::quality::QualityPolicy;
use std::path::{Path, PathBuf};
use wardwatch_protocol::EmbeddedPhoto;

/// File extensions read as photos (case-insensitive).
const PHOTO_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "pgm", "ppm"];

/// Every photo under `folder`, as (person, path): the sub-folders in name order, each one's photos in
/// name order. Files directly in `folder` and other files are ignored.
pub fn list(folder: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut people: Vec<(String, PathBuf)> = std::fs::read_dir(folder)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    people.sort();
    let mut photos = Vec::new();
    for (person, dir) in people {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.extension().is_some_and(|x| {
                        PHOTO_EXTENSIONS.contains(&x.to_string_lossy().to_lowercase().as_str())
                    })
            })
            .collect();
        files.sort();
        photos.extend(files.into_iter().map(|f| (person.clone(), f)));
    }
    Ok(photos)
}

/// The largest face of one photo: its embedding, quality weight and the gate's verdict. A photo that
/// cannot be read or has no face has no embedding and says why.
pub fn embed_photo(
    engine: &mut FaceEngine,
    policy: &QualityPolicy,
    model: &str,
    person: &str,
    path: &Path,
) -> EmbeddedPhoto {
    let mut photo = EmbeddedPhoto {
        person: person.to_owned(),
        file: path.display().to_string(),
        model: model.to_owned(),
        embedding: None,
        quality: None,
        skipped: None,
    };
    let found = load_rgb(path)
        .map_err(|e| format!("cannot read: {e}"))
        .and_then(|frame| {
            engine
                .still_face(&frame)
                .map_err(|e| format!("face pipeline failed: {e}"))
        });
    match found {
        Err(why) => photo.skipped = Some(why),
        Ok(None) => photo.skipped = Some("no face found".into()),
        Ok(Some(still)) => {
            let face = still.found;
            photo.skipped = policy.check(&face.quality).err().map(|r| r.to_string());
            photo.quality = Some(face.quality.weight());
            photo.embedding = Some(face.embedding);
        }
    }
    photo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_the_sub_folders_and_photos_their_image_files_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (person, files) in [
            ("430600000000000002", &["b.JPG", "a.png", "notes.txt"][..]),
            ("430600000000000001", &["1.pgm"][..]),
            ("empty", &[][..]),
        ] {
            std::fs::create_dir(dir.path().join(person)).expect("mkdir");
            for f in files {
                std::fs::write(dir.path().join(person).join(f), b"x").expect("write");
            }
        }
        std::fs::write(dir.path().join("loose.jpg"), b"x").expect("write");
        let listed: Vec<(String, String)> = list(dir.path())
            .expect("list")
            .into_iter()
            .map(|(p, f)| {
                (
                    p,
                    f.file_name().expect("name").to_string_lossy().into_owned(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                ("430600000000000001".to_owned(), "1.pgm".to_owned()),
                ("430600000000000002".to_owned(), "a.png".to_owned()),
                ("430600000000000002".to_owned(), "b.JPG".to_owned()),
            ]
        );
        assert!(list(&dir.path().join("missing")).is_err());
    }
}
