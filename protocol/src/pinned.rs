//! Public keys a ward box pins: the bureau's gallery key and the collector's ack key.
//!
//! A box normally pins one key of each kind. To rotate a key without a window in which the box refuses
//! everything, it pins the old and the new key together (a TOML string or an array of strings), the
//! bureau switches to signing with the new key, and the old key is then removed from every box. A
//! message is taken when any pinned key verifies its signature; a key no longer pinned verifies nothing.

use crate::crypto::{Digest, PublicKey, Signature};
use serde::{Deserialize, Deserializer};

/// At most this many keys pinned at once (a rotation needs two).
pub const MAX_PINNED_KEYS: usize = 4;

/// One to [`MAX_PINNED_KEYS`] distinct public keys, any of which may sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedKeys(Vec<PublicKey>);

/// A set of pinned keys is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinnedKeysError {
    /// No key at all.
    #[error("at least one public key must be pinned")]
    Empty,
    /// More than [`MAX_PINNED_KEYS`].
    #[error("{0} keys pinned; at most {MAX_PINNED_KEYS} (old and new during a rotation)")]
    TooMany(usize),
    /// The same key twice.
    #[error("public key {0} is pinned twice")]
    Duplicate(Box<PublicKey>),
}

impl PinnedKeys {
    /// Checks and wraps `keys`.
    pub fn new(keys: Vec<PublicKey>) -> Result<PinnedKeys, PinnedKeysError> {
        if keys.is_empty() {
            return Err(PinnedKeysError::Empty);
        }
        if keys.len() > MAX_PINNED_KEYS {
            return Err(PinnedKeysError::TooMany(keys.len()));
        }
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].contains(key) {
                return Err(PinnedKeysError::Duplicate(Box::new(*key)));
            }
        }
        Ok(PinnedKeys(keys))
    }

    /// Just `key`.
    pub fn one(key: PublicKey) -> PinnedKeys {
        PinnedKeys(vec![key])
    }

    /// The pinned keys.
    pub fn keys(&self) -> &[PublicKey] {
        &self.0
    }

    /// Whether any pinned key signed `digest` with `sig` (checked strictly, see [`PublicKey::verify`]).
    pub fn verify(&self, digest: &Digest, sig: &Signature) -> bool {
        self.0.iter().any(|key| key.verify(digest, sig))
    }
}

impl From<PublicKey> for PinnedKeys {
    fn from(key: PublicKey) -> Self {
        PinnedKeys::one(key)
    }
}

impl<'de> Deserialize<'de> for PinnedKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(
            untagged,
            expecting = "a public key (64 hex digits) or an array of them"
        )]
        enum OneOrMany {
            One(PublicKey),
            Many(Vec<PublicKey>),
        }
        let keys = match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(key) => vec![key],
            OneOrMany::Many(keys) => keys,
        };
        PinnedKeys::new(keys).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{SigningKey, sign};

    fn key(n: u8) -> (SigningKey, PublicKey) {
        let k = SigningKey::from_bytes(&[n; 32]);
        let p = PublicKey::of(&k);
        (k, p)
    }

    #[derive(Debug, Deserialize)]
    struct Section {
        key: PinnedKeys,
    }

    #[test]
    fn one_key_or_several_from_toml_like_json() {
        let (_, a) = key(1);
        let (_, b) = key(2);
        let one: Section = serde_json::from_str(&format!(r#"{{"key":"{a}"}}"#)).unwrap();
        assert_eq!(one.key.keys(), [a]);
        let two: Section = serde_json::from_str(&format!(r#"{{"key":["{a}","{b}"]}}"#)).unwrap();
        assert_eq!(two.key.keys(), [a, b]);
        for bad in [
            r#"{"key":[]}"#.to_owned(),
            format!(r#"{{"key":["{a}","{a}"]}}"#),
            r#"{"key":"abc"}"#.to_owned(),
        ] {
            assert!(serde_json::from_str::<Section>(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn during_a_rotation_both_keys_verify_and_a_removed_key_verifies_nothing() {
        let (old, old_pub) = key(1);
        let (new, new_pub) = key(2);
        let digest = Digest::of(b"ack");
        let by_old = sign(&old, &digest);
        let by_new = sign(&new, &digest);
        let rotating = PinnedKeys::new(vec![old_pub, new_pub]).unwrap();
        assert!(rotating.verify(&digest, &by_old));
        assert!(rotating.verify(&digest, &by_new));
        let rotated = PinnedKeys::one(new_pub);
        assert!(rotated.verify(&digest, &by_new));
        assert!(
            !rotated.verify(&digest, &by_old),
            "the removed key is refused"
        );
    }
}
