//! A recorded clip as a folder of images (JPEG, PNG, PGM/PPM): frames in file-name order, frame `n`
//! captured at `start + n / fps`. For replays of recorded ward video, lab tests and the demo; resumable
//! at a frame index, which the pipeline commits with the events the frames produced.

use super::frame::{Frame, FrameSource, SourceError};
use crate::vision::image_io::load_rgb;
use std::path::{Path, PathBuf};
use wardwatch_protocol::{CameraId, Timestamp};

/// File extensions read as frames.
const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "pgm", "ppm", "pnm"];

/// An image-sequence recording.
pub struct FolderSource {
    camera_id: CameraId,
    dir: PathBuf,
    start: Timestamp,
    fps: f64,
    files: Vec<PathBuf>,
    next: u64,
}

impl FolderSource {
    /// Lists `dir`'s images; the first frame read is number `resume_at` (0 from the start).
    pub fn open(
        camera_id: CameraId,
        dir: &Path,
        start: Timestamp,
        fps: f64,
        resume_at: u64,
    ) -> Result<FolderSource, SourceError> {
        let mut source = FolderSource {
            camera_id,
            dir: dir.to_owned(),
            start,
            fps,
            files: Vec::new(),
            next: resume_at,
        };
        source.reopen()?;
        Ok(source)
    }

    /// How many frames the recording holds.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the recording holds no frame.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn unavailable(&self, why: String) -> SourceError {
        SourceError::Unavailable {
            camera: self.camera_id.clone(),
            why: format!("{}: {why}", self.dir.display()),
        }
    }
}

impl FrameSource for FolderSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let Some(path) = usize::try_from(self.next)
            .ok()
            .and_then(|n| self.files.get(n))
        else {
            return Ok(None);
        };
        let index = self.next;
        self.next += 1;
        let offset_ms = (index as f64 * 1000.0 / self.fps).round() as i64;
        let image = load_rgb(path).map_err(|e| SourceError::BadFrame {
            camera: self.camera_id.clone(),
            why: e.to_string(),
        })?;
        Ok(Some(Frame {
            camera_id: self.camera_id.clone(),
            captured_at: self.start.plus_millis(offset_ms),
            position: self.next,
            width: image.width,
            height: image.height,
            pixels: image.data,
        }))
    }

    fn is_recording(&self) -> bool {
        true
    }

    fn reopen(&mut self) -> Result<(), SourceError> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| self.unavailable(format!("cannot list: {e}")))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| self.unavailable(format!("cannot list: {e}")))?
                .path();
            let is_image = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
            if is_image && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        self.files = files;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, value: u8) {
        image::RgbImage::from_pixel(4, 3, image::Rgb([value, value, value]))
            .save(path)
            .expect("write png");
    }

    #[test]
    fn frames_come_in_name_order_at_their_capture_times_and_resume() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_png(&dir.path().join("frame-0002.png"), 20);
        write_png(&dir.path().join("frame-0001.png"), 10);
        std::fs::write(dir.path().join("notes.txt"), "not a frame").expect("write");
        let start: Timestamp = "2026-11-23T08:00:00.000Z".parse().expect("time");
        let camera: CameraId = "cam-1".parse().expect("id");
        let mut source =
            FolderSource::open(camera.clone(), dir.path(), start, 2.0, 0).expect("open");
        assert_eq!(source.len(), 2);
        let first = source.next_frame().expect("read").expect("a frame");
        assert_eq!((first.width, first.height, first.pixels[0]), (4, 3, 10));
        assert_eq!(first.captured_at, start);
        let second = source.next_frame().expect("read").expect("a frame");
        assert_eq!(second.captured_at, start.plus_millis(500));
        assert_eq!(second.position, 2);
        assert!(source.next_frame().expect("end").is_none());
        let mut resumed = FolderSource::open(camera, dir.path(), start, 2.0, 1).expect("open");
        let again = resumed.next_frame().expect("read").expect("a frame");
        assert_eq!(
            (again.pixels[0], again.captured_at),
            (20, second.captured_at)
        );
    }

    #[test]
    fn a_corrupt_frame_is_named_and_the_next_one_still_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.jpg"), b"\xff\xd8 truncated").expect("write");
        write_png(&dir.path().join("b.png"), 30);
        let start: Timestamp = "2026-11-23T08:00:00.000Z".parse().expect("time");
        let mut source =
            FolderSource::open("cam-2".parse().expect("id"), dir.path(), start, 1.0, 0)
                .expect("open");
        let err = source.next_frame().expect_err("corrupt");
        assert!(err.to_string().contains("a.jpg"), "{err}");
        assert!(matches!(err, SourceError::BadFrame { .. }));
        let next = source.next_frame().expect("read").expect("a frame");
        assert_eq!(next.pixels[0], 30);
        assert_eq!(next.captured_at, start.plus_millis(1000));
    }

    #[test]
    fn a_missing_folder_is_unavailable() {
        let start: Timestamp = "2026-11-23T08:00:00.000Z".parse().expect("time");
        let err = FolderSource::open(
            "cam-3".parse().expect("id"),
            Path::new("/nonexistent/clip"),
            start,
            1.0,
            0,
        )
        .err()
        .expect("error");
        assert!(matches!(err, SourceError::Unavailable { .. }));
        assert!(err.to_string().contains("/nonexistent/clip"), "{err}");
    }
}
