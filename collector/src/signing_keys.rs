//! The bureau's signing keys on disk, as the collector uses them: the gallery key (galleries) and the
//! ack key (acks). Both are [`key_file`]s (64 hex digits, mode 0600, never overwritten); loading one
//! warns when its file is readable by other users.

use std::path::Path;
use wardwatch_protocol::SigningKey;
use wardwatch_protocol::key_file::{self, KeyFileError};

/// Which of the bureau's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// Signs the galleries (`bureau-key`).
    Gallery,
    /// Signs the acks (`ack-key`).
    Ack,
}

impl KeyRole {
    /// How people call it.
    pub fn name(self) -> &'static str {
        match self {
            KeyRole::Gallery => "bureau gallery key",
            KeyRole::Ack => "collector ack key",
        }
    }

    /// Where a ward box pins its public half.
    pub fn pinned_as(self) -> &'static str {
        match self {
            KeyRole::Gallery => "[gallery] bureau_public_key",
            KeyRole::Ack => "[broker] ack_public_key",
        }
    }
}

/// Reads a signing key; a key file readable by other users is refused, naming the file and the fix
/// ([`key_file::load`]).
pub fn load(path: &Path, _role: KeyRole) -> Result<SigningKey, KeyFileError> {
    key_file::load(path)
}
