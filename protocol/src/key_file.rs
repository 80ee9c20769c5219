//! An Ed25519 signing key kept on disk: a 64-hex-character seed in a file readable only by its owner.
//! The agent keeps its device key so; the collector keeps the bureau's gallery-signing key so. A key file
//! that group or others may read is refused when loaded ([`crate::private_file::require_private`]).
//!
//! A key file is created once and never overwritten: losing a key means re-registering a device or
//! re-pinning the bureau key on every box, so a malformed file is an error, never a reason for a new key.

use crate::crypto::SigningKey;
use crate::private_file::{self, PrivateFileError};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A key file could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// I/O on the key file.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not hold 64 hex characters.
    #[error("key file {path} does not hold a 64-hex-character Ed25519 seed")]
    Malformed {
        /// The file.
        path: PathBuf,
    },
    /// The operating system's random source failed.
    #[error("no randomness available to create a key: {0}")]
    Random(String),
    /// Users other than the owner may read or write the file.
    #[error(transparent)]
    NotPrivate(#[from] PrivateFileError),
}

impl KeyFileError {
    /// Whether the file does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, KeyFileError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Loads the key, creating it (mode 0600) when the file does not exist. Returns whether it was created.
pub fn load_or_create(path: &Path) -> Result<(SigningKey, bool), KeyFileError> {
    match load(path) {
        Ok(key) => Ok((key, false)),
        Err(e) if e.is_missing() => create(path).map(|key| (key, true)),
        Err(e) => Err(e),
    }
}

/// Loads an existing key; refuses it when users other than its owner may read or write the file.
pub fn load(path: &Path) -> Result<SigningKey, KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    private_file::require_private(path, "key file")?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| KeyFileError::Malformed {
        path: path.to_owned(),
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Creates a new key file; fails if the file exists.
pub fn create(path: &Path) -> Result<SigningKey, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyFileError::Random(e.to_string()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // create_new: never overwrite a key that appeared meanwhile.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(private_file::PRIVATE_MODE)
        .open(path)
        .map_err(io)?;
    file.write_all(format!("{}\n", hex::encode(seed)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    Ok(SigningKey::from_bytes(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PublicKey;

    #[test]
    fn created_once_with_owner_only_mode_then_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/device.key");
        let (key, created) = load_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(
            private_file::mode(&path).unwrap(),
            private_file::PRIVATE_MODE
        );
        let (again, created) = load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(PublicKey::of(&key), PublicKey::of(&again));
        assert!(
            create(&path).is_err(),
            "an existing key is never overwritten"
        );
    }

    #[test]
    fn malformed_key_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.key");
        std::fs::write(&path, "not hex").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let err = load_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("64-hex"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not hex");
    }

    #[test]
    fn a_key_others_may_read_is_refused_and_left_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.key");
        let key = create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::NotPrivate(_)), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("chmod 600 {}", path.display())),
            "{message}"
        );
        assert_eq!(private_file::mode(&path).unwrap(), 0o644, "mode untouched");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(PublicKey::of(&load(&path).unwrap()), PublicKey::of(&key));
    }
}
