//! The device's Ed25519 signing key, kept in `key_file` by [`wardwatch_protocol::key_file`].
//!
//! Created on first start when missing; never overwritten. Its public half is what the bureau registers
//! with `wardwatch-collector devices add --pubkey …`.

use std::path::Path;
use wardwatch_protocol::key_file;
use wardwatch_protocol::{PublicKey, SigningKey};

pub use wardwatch_protocol::key_file::KeyFileError as KeyError;

/// Loads the key, creating it (mode 0600) when the file does not exist. Returns whether it was
/// created. Refuses a key file that other users may read or write, naming the file and the fix.
pub fn load_or_create(path: &Path) -> Result<(SigningKey, bool), KeyError> {
    key_file::load_or_create(path)
}

/// The public key in the text form the collector registers.
pub fn public_key(key: &SigningKey) -> PublicKey {
    PublicKey::of(key)
}
