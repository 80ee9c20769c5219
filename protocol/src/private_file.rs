//! Files that only their owner may read: every key file, the agent's spool and stored gallery, the
//! collector's SQLite database. Both sides use the same two rules:
//!
//! - a **secret** (a signing key, a TLS private key, the CA key) that group or others may read or write
//!   is refused ([`require_private`]): the error names the file and the fix (`chmod 600 FILE`), and
//!   nothing is loaded from it. A key someone else could have read is no longer the owner's alone, and
//!   repairing the mode in place would hide that.
//! - a **data file** (a database, a spool) is created with mode 0600 ([`create_private`]) and, when an
//!   older one is found open to other users, tightened to 0600 ([`tighten`]); the caller logs a warning
//!   with the mode it had. Refusing would stop a ward box or the bureau's ingest over a mode bit; the
//!   data is protected from then on either way.
//!
//! Directories the programs create for such files get mode 0700 ([`create_private_dir`]).

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of every private file: read and write for the owner only.
pub const PRIVATE_MODE: u32 = 0o600;

/// The permission bits that give group or others any access.
const OPEN_TO_OTHERS: u32 = 0o077;

/// A private file could not be checked, created or tightened.
#[derive(Debug, thiserror::Error)]
pub enum PrivateFileError {
    /// I/O on the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A secret that group or others may read or write.
    #[error(
        "{what} {path} is readable or writable by other users (mode {mode:03o}); refusing to use it: \
         a key must be readable by its owner only. Fix it with `chmod 600 {path}` (and replace the key \
         if someone else may have read it)"
    )]
    OpenToOthers {
        /// What the file holds (`key file`, `TLS client key`, …).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> PrivateFileError + '_ {
    move |source| PrivateFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The file's permission bits (the lower nine), following symbolic links.
pub fn mode(path: &Path) -> Result<u32, PrivateFileError> {
    Ok(std::fs::metadata(path)
        .map_err(io_error(path))?
        .permissions()
        .mode()
        & 0o777)
}

/// Refuses a secret (`what` names it in the message) that group or others may access.
pub fn require_private(path: &Path, what: &'static str) -> Result<(), PrivateFileError> {
    let mode = mode(path)?;
    if mode & OPEN_TO_OTHERS != 0 {
        return Err(PrivateFileError::OpenToOthers {
            what,
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// A data file found open to other users and tightened to 0600.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tightened {
    /// The file.
    pub path: PathBuf,
    /// The mode it had.
    pub was: u32,
}

/// Sets an existing file to mode 0600 if group or others had any access; `None` when it was already
/// private or does not exist.
pub fn tighten(path: &Path) -> Result<Option<Tightened>, PrivateFileError> {
    let was = match std::fs::metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    if was & OPEN_TO_OTHERS == 0 {
        return Ok(None);
    }
    std::fs::set_permissions(path, Permissions::from_mode(PRIVATE_MODE)).map_err(io_error(path))?;
    Ok(Some(Tightened {
        path: path.to_owned(),
        was,
    }))
}

/// Makes sure the data file `path` exists with mode 0600: creates it empty (never truncating one that
/// exists), or tightens an existing one ([`tighten`]).
pub fn create_private(path: &Path) -> Result<Option<Tightened>, PrivateFileError> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_MODE)
        .open(path)
    {
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => tighten(path),
        Err(e) => Err(io_error(path)(e)),
    }
}

/// Opens `path` for writing from scratch (created with mode 0600, or truncated and set to 0600): for
/// a file that is written whole, such as the temporary file of an atomic replace.
pub fn rewrite_private(path: &Path) -> Result<std::fs::File, PrivateFileError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(PRIVATE_MODE)
        .open(path)
        .map_err(io_error(path))?;
    file.set_permissions(Permissions::from_mode(PRIVATE_MODE))
        .map_err(io_error(path))?;
    Ok(file)
}

/// Creates `dir` and its missing parents; the directories it creates get mode 0700 (existing ones are
/// left as they are).
pub fn create_private_dir(dir: &Path) -> Result<(), PrivateFileError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_secret_open_to_others_is_refused_naming_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.key");
        std::fs::write(&path, "x").unwrap();
        for loose in [0o644, 0o640, 0o604, 0o620, 0o660] {
            set_mode(&path, loose);
            let err = require_private(&path, "key file").unwrap_err().to_string();
            assert!(
                err.contains(&path.display().to_string())
                    && err.contains(&format!("chmod 600 {}", path.display()))
                    && err.contains(&format!("{loose:03o}")),
                "{err}"
            );
        }
        for private in [0o600, 0o400] {
            set_mode(&path, private);
            require_private(&path, "key file").unwrap();
        }
    }

    #[test]
    fn data_files_are_created_private_and_loose_ones_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/data.db");
        create_private_dir(path.parent().unwrap()).unwrap();
        assert_eq!(mode(path.parent().unwrap()).unwrap(), 0o700);
        assert_eq!(create_private(&path).unwrap(), None);
        assert_eq!(mode(&path).unwrap(), PRIVATE_MODE);
        std::fs::write(&path, "kept").unwrap();
        set_mode(&path, 0o644);
        assert_eq!(
            create_private(&path).unwrap(),
            Some(Tightened {
                path: path.clone(),
                was: 0o644
            })
        );
        assert_eq!(mode(&path).unwrap(), PRIVATE_MODE);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept");
        assert_eq!(tighten(&dir.path().join("absent")).unwrap(), None);

        let tmp = dir.path().join("gallery.tmp");
        std::fs::write(&tmp, "old").unwrap();
        set_mode(&tmp, 0o666);
        drop(rewrite_private(&tmp).unwrap());
        assert_eq!(mode(&tmp).unwrap(), PRIVATE_MODE);
        assert_eq!(std::fs::read_to_string(&tmp).unwrap(), "");
    }
}
