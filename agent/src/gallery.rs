//! The bureau's gallery on the box: which enrolled patients the cameras match faces against.
//!
//! The [`SharedGallery`] is what the camera workers read; it is swapped whole, so a match in progress
//! finishes against the gallery it started with. The [`GalleryKeeper`] guards what goes into it: a
//! gallery from the collector is taken only if the bureau's pinned key signed it, it is for this box's
//! institution and recogniser, and its version is newer than the one in force; it is then stored on disk
//! (atomically) before it is swapped in, so a restart begins with the last good gallery. A local gallery
//! file (`[recognition] gallery`) serves until the first signed one arrives.

use crate::vision::matcher::Gallery;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use wardwatch_protocol::{GalleryError, InstitutionCode, PinnedKeys, SignedGallery, Timestamp};

/// The gallery in force and its bureau version (`None`: a local file or nothing), shared by the
/// camera workers.
#[derive(Debug, Clone, Default)]
pub struct SharedGallery(Arc<RwLock<(Arc<Gallery>, Option<u64>)>>);

impl SharedGallery {
    /// Shares `gallery` (not from the bureau).
    pub fn new(gallery: Gallery) -> SharedGallery {
        SharedGallery(Arc::new(RwLock::new((Arc::new(gallery), None))))
    }

    /// The gallery now (a cheap handle; a swap does not disturb a match in progress).
    pub fn current(&self) -> Arc<Gallery> {
        match self.0.read() {
            Ok(g) => g.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        }
    }

    /// The bureau version in force, if the gallery came from the bureau.
    pub fn version(&self) -> Option<u64> {
        match self.0.read() {
            Ok(g) => g.1,
            Err(poisoned) => poisoned.into_inner().1,
        }
    }

    /// Replaces the gallery for every worker.
    pub fn replace(&self, gallery: Gallery, version: Option<u64>) {
        let mut slot = match self.0.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = (Arc::new(gallery), version);
    }
}

/// Why a gallery was not taken.
#[derive(Debug, thiserror::Error)]
pub enum GalleryRefused {
    /// Unreadable, inconsistent, or not signed by the bureau's pinned key.
    #[error(transparent)]
    Invalid(#[from] GalleryError),
    /// For another institution.
    #[error("gallery version {version} is for institution {got}, this box is at {want}")]
    OtherInstitution {
        /// Its version.
        version: u64,
        /// Its institution.
        got: InstitutionCode,
        /// This box's.
        want: InstitutionCode,
    },
    /// For another recogniser.
    #[error("gallery version {version} holds {got} embeddings; this box recognises with {want}")]
    OtherModel {
        /// Its version.
        version: u64,
        /// Its model.
        got: String,
        /// This box's.
        want: String,
    },
    /// Embeddings of another size than the recogniser's.
    #[error("gallery version {version}: embeddings of {got} values, the recogniser makes {want}")]
    Dimensions {
        /// Its version.
        version: u64,
        /// Their size.
        got: usize,
        /// The recogniser's.
        want: usize,
    },
    /// Not newer than the one in force.
    #[error("gallery version {got} is not newer than version {have} in force")]
    NotNewer {
        /// Its version.
        got: u64,
        /// The version in force.
        have: u64,
    },
    /// It could not be stored.
    #[error("cannot store the gallery in {path}: {error}")]
    Store {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

/// Checks, stores and swaps in the bureau's galleries.
pub struct GalleryKeeper {
    bureau: PinnedKeys,
    institution: InstitutionCode,
    model: String,
    dims: usize,
    path: PathBuf,
    shared: SharedGallery,
}

impl GalleryKeeper {
    /// A keeper for this box: the bureau's pinned key(s), its institution, its recogniser (model name and
    /// embedding size), where the last good gallery is kept, and the gallery the workers read.
    pub fn new(
        bureau: PinnedKeys,
        institution: InstitutionCode,
        (model, dims): (String, usize),
        path: PathBuf,
        shared: SharedGallery,
    ) -> GalleryKeeper {
        GalleryKeeper {
            bureau,
            institution,
            model,
            dims,
            path,
            shared,
        }
    }

    /// Puts the stored gallery (checked again: the file may have been edited) in force; `Ok(None)`
    /// when none is stored.
    pub fn load_stored(&mut self, now: Timestamp) -> Result<Option<u64>, GalleryRefused> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(GalleryRefused::Store {
                    path: self.path.clone(),
                    error,
                });
            }
        };
        let gallery = self.check(&bytes)?;
        self.shared.replace(
            matcher_gallery(&gallery, now, self.dims),
            Some(gallery.version),
        );
        Ok(Some(gallery.version))
    }

    /// A gallery received from the collector: checked, stored, swapped in. Returns its version.
    pub fn offer(&mut self, bytes: &[u8], now: Timestamp) -> Result<u64, GalleryRefused> {
        let gallery = self.check(bytes)?;
        if let Some(have) = self.shared.version()
            && gallery.version <= have
        {
            return Err(GalleryRefused::NotNewer {
                got: gallery.version,
                have,
            });
        }
        store_atomically(&self.path, bytes).map_err(|error| GalleryRefused::Store {
            path: self.path.clone(),
            error,
        })?;
        self.shared.replace(
            matcher_gallery(&gallery, now, self.dims),
            Some(gallery.version),
        );
        Ok(gallery.version)
    }

    fn check(&self, bytes: &[u8]) -> Result<SignedGallery, GalleryRefused> {
        let gallery = SignedGallery::from_wire(bytes, &self.bureau)?;
        if gallery.institution_code != self.institution {
            return Err(GalleryRefused::OtherInstitution {
                version: gallery.version,
                got: gallery.institution_code,
                want: self.institution.clone(),
            });
        }
        if gallery.model != self.model {
            return Err(GalleryRefused::OtherModel {
                version: gallery.version,
                got: gallery.model,
                want: self.model.clone(),
            });
        }
        if let Some(e) = gallery
            .entries
            .iter()
            .flat_map(|e| &e.embeddings)
            .find(|e| e.dims() != self.dims)
        {
            return Err(GalleryRefused::Dimensions {
                version: gallery.version,
                got: e.dims(),
                want: self.dims,
            });
        }
        Ok(gallery)
    }
}

/// The matcher's gallery: every embedding of the entries valid at `now`.
fn matcher_gallery(gallery: &SignedGallery, now: Timestamp, dims: usize) -> Gallery {
    let mut out = Gallery::new(dims);
    for entry in &gallery.entries {
        if entry.valid_from > now || entry.valid_until < now {
            continue;
        }
        for embedding in &entry.embeddings {
            // Checked unit length and size above; the matcher's own check cannot fail here.
            if let Err(e) = out.add(entry.psn_no.as_str(), embedding.values()) {
                tracing::warn!(psn_no = %entry.psn_no, error = %e, "gallery embedding skipped");
            }
        }
    }
    out
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one; the file (face
/// embeddings) is readable by its owner only.
fn store_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file =
        wardwatch_protocol::private_file::rewrite_private(&tmp).map_err(std::io::Error::other)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        dir.sync_all()?;
    }
    Ok(())
}

/// `[gallery]`: the bureau's signed gallery.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GalleryConfig {
    /// The bureau's public key (64 hex digits, `wardwatch-collector bureau-key show`), or an array of
    /// the old and the new key during a rotation: only galleries one of them signed are taken. Without
    /// it, galleries from the collector are refused and the local `[recognition] gallery` file serves.
    #[serde(default)]
    pub bureau_public_key: Option<PinnedKeys>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_protocol::{FaceEmbedding, GalleryDraft, GalleryEntry, PublicKey, SigningKey};

    const DIMS: usize = 32;

    fn embedding(i: usize) -> FaceEmbedding {
        let mut v = vec![0.0; DIMS];
        v[i] = 1.0;
        FaceEmbedding::try_from(v).expect("unit")
    }

    fn gallery(version: u64, institution: &str, model: &str, key: &SigningKey) -> Vec<u8> {
        let entry = |psn: &str, i: usize, until: &str| GalleryEntry {
            psn_no: psn.parse().expect("psn"),
            valid_from: "2026-11-01T00:00:00.000Z".parse().expect("time"),
            valid_until: until.parse().expect("time"),
            embeddings: vec![embedding(i)],
        };
        GalleryDraft::new(
            institution.parse().expect("code"),
            version,
            "2026-11-20T00:00:00.000Z".parse().expect("time"),
            model.into(),
            vec![
                entry("P001", 0, "2027-11-01T00:00:00.000Z"),
                // Enrolment already over: not matched.
                entry("P002", 1, "2026-11-10T00:00:00.000Z"),
            ],
        )
        .sign(key)
        .to_wire()
    }

    fn new_keeper(dir: &Path, bureau: &SigningKey) -> (GalleryKeeper, SharedGallery) {
        let shared = SharedGallery::default();
        let keeper = GalleryKeeper::new(
            PublicKey::of(bureau).into(),
            "H43060200175".parse().expect("code"),
            ("fr_feature".into(), DIMS),
            dir.join("gallery.json"),
            shared.clone(),
        );
        (keeper, shared)
    }

    fn now() -> Timestamp {
        "2026-11-23T00:00:00.000Z".parse().expect("time")
    }

    #[test]
    fn a_signed_newer_gallery_is_stored_and_swapped_in_and_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bureau = SigningKey::from_bytes(&[5; 32]);
        let (mut keeper, shared) = new_keeper(dir.path(), &bureau);
        let v3 = gallery(3, "H43060200175", "fr_feature", &bureau);
        assert_eq!(keeper.offer(&v3, now()).expect("taken"), 3);
        assert_eq!(shared.version(), Some(3));
        assert_eq!(
            shared.current().people(),
            ["P001"],
            "expired enrolment left out"
        );
        assert_eq!(
            wardwatch_protocol::private_file::mode(&dir.path().join("gallery.json")).expect("mode"),
            0o600,
            "the stored gallery (face embeddings) is readable by its owner only"
        );
        let (mut restarted, shared_again) = new_keeper(dir.path(), &bureau);
        assert_eq!(restarted.load_stored(now()).expect("stored"), Some(3));
        assert_eq!(shared_again.version(), Some(3));
    }

    #[test]
    fn a_person_enrolled_from_several_photos_is_matched_on_each_of_them() {
        use crate::vision::matcher::{Identity, MatchPolicy, MatchScratch};
        let dir = tempfile::tempdir().expect("tempdir");
        let bureau = SigningKey::from_bytes(&[5; 32]);
        let (mut keeper, shared) = new_keeper(dir.path(), &bureau);
        let entry = |psn: &str, axes: &[usize]| GalleryEntry {
            psn_no: psn.parse().expect("psn"),
            valid_from: "2026-11-01T00:00:00.000Z".parse().expect("time"),
            valid_until: "2027-11-01T00:00:00.000Z".parse().expect("time"),
            embeddings: axes.iter().map(|i| embedding(*i)).collect(),
        };
        let wire = GalleryDraft::new(
            "H43060200175".parse().expect("code"),
            1,
            "2026-11-20T00:00:00.000Z".parse().expect("time"),
            "fr_feature".into(),
            vec![entry("P001", &[0, 1, 2]), entry("P002", &[3])],
        )
        .sign(&bureau)
        .to_wire();
        keeper.offer(&wire, now()).expect("taken");
        let gallery = shared.current();
        assert_eq!(gallery.people(), ["P001", "P002"]);
        assert_eq!(
            gallery.len(),
            4,
            "every enrolment photo's embedding is kept"
        );
        let policy = MatchPolicy {
            threshold: 0.5,
            margin: 0.05,
        };
        for axis in [0, 1, 2] {
            match gallery.identify(
                embedding(axis).values(),
                policy,
                &mut MatchScratch::default(),
            ) {
                Identity::Known {
                    person, similarity, ..
                } => {
                    assert_eq!(gallery.people()[person], "P001");
                    assert!((similarity - 1.0).abs() < 1e-6);
                }
                other => panic!("photo {axis}: {other:?}"),
            }
        }
    }

    #[test]
    fn forged_older_foreign_and_mismatched_galleries_are_refused_and_the_old_one_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bureau = SigningKey::from_bytes(&[5; 32]);
        let (mut keeper, shared) = new_keeper(dir.path(), &bureau);
        keeper
            .offer(&gallery(5, "H43060200175", "fr_feature", &bureau), now())
            .expect("taken");
        let stored = std::fs::read(dir.path().join("gallery.json")).expect("stored");
        let forger = SigningKey::from_bytes(&[6; 32]);
        let refusals = [
            gallery(6, "H43060200175", "fr_feature", &forger),
            gallery(5, "H43060200175", "fr_feature", &bureau),
            gallery(4, "H43060200175", "fr_feature", &bureau),
            gallery(6, "H43060200176", "fr_feature", &bureau),
            gallery(6, "H43060200175", "arcface_r100", &bureau),
            b"not a gallery".to_vec(),
        ];
        let reasons: Vec<String> = refusals
            .iter()
            .map(|bytes| keeper.offer(bytes, now()).expect_err("refused").to_string())
            .collect();
        assert!(reasons[0].contains("signature"), "{}", reasons[0]);
        assert!(reasons[1].contains("not newer"), "{}", reasons[1]);
        assert!(reasons[2].contains("not newer"), "{}", reasons[2]);
        assert!(reasons[3].contains("H43060200176"), "{}", reasons[3]);
        assert!(reasons[4].contains("arcface_r100"), "{}", reasons[4]);
        assert_eq!(shared.version(), Some(5), "the old gallery stays in force");
        assert_eq!(
            std::fs::read(dir.path().join("gallery.json")).expect("stored"),
            stored,
            "and on disk"
        );
    }

    #[test]
    fn a_stored_gallery_edited_on_disk_is_refused_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bureau = SigningKey::from_bytes(&[5; 32]);
        let (mut keeper, _) = new_keeper(dir.path(), &bureau);
        keeper
            .offer(&gallery(2, "H43060200175", "fr_feature", &bureau), now())
            .expect("taken");
        let path = dir.path().join("gallery.json");
        let edited = std::fs::read_to_string(&path)
            .expect("read")
            .replace("P001", "P009");
        std::fs::write(&path, edited).expect("write");
        let (mut restarted, shared) = new_keeper(dir.path(), &bureau);
        assert!(restarted.load_stored(now()).is_err());
        assert_eq!(shared.version(), None);
    }

    #[test]
    fn bureau_key_rotation_old_and_new_taken_then_the_removed_key_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (old, new) = (
            SigningKey::from_bytes(&[5; 32]),
            SigningKey::from_bytes(&[6; 32]),
        );
        let keeper_pinning = |keys: Vec<PublicKey>| {
            GalleryKeeper::new(
                PinnedKeys::new(keys).expect("keys"),
                "H43060200175".parse().expect("code"),
                ("fr_feature".into(), DIMS),
                dir.path().join("gallery.json"),
                SharedGallery::default(),
            )
        };
        let mut rotating = keeper_pinning(vec![PublicKey::of(&old), PublicKey::of(&new)]);
        let offer = |keeper: &mut GalleryKeeper, version, key| {
            keeper.offer(&gallery(version, "H43060200175", "fr_feature", key), now())
        };
        assert_eq!(offer(&mut rotating, 1, &old).expect("old key, pinned"), 1);
        assert_eq!(offer(&mut rotating, 2, &new).expect("new key, pinned"), 2);
        // The old key removed from the box: the gallery in force (new key) survives the restart, and
        // a newer gallery signed with the old key is refused.
        let mut rotated = keeper_pinning(vec![PublicKey::of(&new)]);
        assert_eq!(rotated.load_stored(now()).expect("stored"), Some(2));
        let refused = offer(&mut rotated, 3, &old).expect_err("removed key");
        assert!(refused.to_string().contains("signature"), "{refused}");
        assert_eq!(offer(&mut rotated, 3, &new).expect("new key"), 3);
    }
}
