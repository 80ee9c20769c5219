//! The device's Ed25519 signing key, kept in `key_file` by [`wardwatch_protocol::key_file`].
//!
//! Created on first start when missing; never overwritten. Its public half is what the bureau registers
//! with `wardwatch-collector devices add --pubkey …`.

use std::path::Path;
use wardwatch_protocol::key_file;
use wardwatch_protocol::{PublicKey, SigningKey};

pub use wardwatch_protocol::key_file::KeyFileError as KeyError;

/// Loads the key, creating it (mode 0600) when the file does not exist. Returns whether it was
/// created. Warns when others may read the file.
pub fn load_or_create(path: &Path) -> Result<(SigningKey, bool), KeyError> {
    let loaded = key_file::load_or_create(path)?;
    if let Some(mode) = key_file::loose_mode(path) {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:o}"),
            "device key file is readable by other users; it should be mode 0600"
        );
    }
    Ok(loaded)
}

/// The public key in the text form the collector registers.
pub fn public_key(key: &SigningKey) -> PublicKey {
    PublicKey::of(key)
}
