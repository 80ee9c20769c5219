//! The device's Ed25519 signing key: a 64-hex-character seed in a file readable only by its owner.
//!
//! Created on first start when missing; never overwritten. Its public half is what the bureau registers
//! with `wardwatch-collector devices add --pubkey …`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use wardwatch_protocol::{PublicKey, SigningKey};

/// The key file could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// I/O on the key file.
    #[error("device key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not hold 64 hex characters.
    #[error("device key file {path} does not hold a 64-hex-character Ed25519 seed")]
    Malformed {
        /// The file.
        path: PathBuf,
    },
    /// The operating system's random source failed.
    #[error("no randomness available to create a device key: {0}")]
    Random(String),
}

/// Loads the key, creating it (mode 0600) when the file does not exist. Returns whether it was created.
pub fn load_or_create(path: &Path) -> Result<(SigningKey, bool), KeyError> {
    match load(path) {
        Ok(key) => Ok((key, false)),
        Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            create(path).map(|key| (key, true))
        }
        Err(e) => Err(e),
    }
}

/// Loads an existing key. Warns when the file is readable by others.
pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| KeyError::Malformed {
        path: path.to_owned(),
    })?;
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", mode & 0o777),
            "device key file is readable by other users; it should be mode 0600"
        );
    }
    Ok(SigningKey::from_bytes(&seed))
}

fn create(path: &Path) -> Result<SigningKey, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // create_new: never overwrite a key that appeared meanwhile.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(format!("{}\n", hex::encode(seed)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The public key in the text form the collector registers.
pub fn public_key(key: &SigningKey) -> PublicKey {
    PublicKey::of(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_owner_only_mode_then_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/device.key");
        let (key, created) = load_or_create(&path).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, created) = load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(public_key(&key), public_key(&again));
    }

    #[test]
    fn malformed_key_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.key");
        std::fs::write(&path, "not hex").unwrap();
        let err = load_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("64-hex"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not hex");
    }
}
