//! SHA-256 digests, Ed25519 device keys and signatures, each with one hex text form.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;
use std::fmt;
use std::str::FromStr;

pub use ed25519_dalek::SigningKey;

/// A hex value has the wrong length or a non-hex character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} lowercase hex characters for {what}, got {got:?}")]
pub struct HexError {
    what: &'static str,
    expected: usize,
    got: String,
}

fn parse_hex<const N: usize>(what: &'static str, text: &str) -> Result<[u8; N], HexError> {
    let fail = || HexError {
        what,
        expected: N * 2,
        got: text.chars().take(140).collect(),
    };
    if text.len() != N * 2 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(fail());
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| fail())?;
    Ok(out)
}

macro_rules! hex_bytes {
    ($(#[$doc:meta])* $name:ident, $len:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub [u8; $len]);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, HexError> {
                parse_hex::<$len>($what, s).map($name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_bytes!(
    /// A SHA-256 digest: an event's `hash`, or the `prev_hash` linking it to its predecessor.
    Digest,
    32,
    "a SHA-256 digest"
);

hex_bytes!(
    /// An Ed25519 signature over an event's `hash`.
    Signature,
    64,
    "an Ed25519 signature"
);

impl Digest {
    /// The `prev_hash` of a device's first event (`seq` 1): 32 zero bytes.
    pub const GENESIS: Digest = Digest([0; 32]);

    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(sha2::Sha256::digest(bytes).into())
    }
}

/// A device's Ed25519 public key, registered at the collector, 64 hex characters in text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub ed25519_dalek::VerifyingKey);

/// A public key is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicKeyError {
    /// Not 64 hex characters.
    #[error(transparent)]
    Hex(#[from] HexError),
    /// 32 bytes that are not a valid Ed25519 point.
    #[error("the 32 bytes are not a valid Ed25519 public key")]
    NotAPoint,
}

impl PublicKey {
    /// The public half of a device's signing key.
    pub fn of(key: &SigningKey) -> PublicKey {
        PublicKey(key.verifying_key())
    }

    /// Checks `sig` over `digest` strictly (rejects malleable and small-order forms).
    pub fn verify(&self, digest: &Digest, sig: &Signature) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        self.0.verify_strict(&digest.0, &sig).is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for PublicKey {
    type Err = PublicKeyError;
    fn from_str(s: &str) -> Result<Self, PublicKeyError> {
        let bytes = parse_hex::<32>("an Ed25519 public key", s.trim())?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| PublicKeyError::NotAPoint)
    }
}

/// Signs `digest` with a device key.
pub fn sign(key: &SigningKey, digest: &Digest) -> Signature {
    use ed25519_dalek::Signer;
    Signature(key.sign(&digest.0).to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let digest = Digest::of(b"hello");
        let sig = sign(&key, &digest);
        let public: PublicKey = PublicKey::of(&key).to_string().parse().unwrap();
        assert!(public.verify(&digest, &sig));
        assert!(!public.verify(&Digest::of(b"hellO"), &sig));
        let other = PublicKey::of(&SigningKey::from_bytes(&[8; 32]));
        assert!(!other.verify(&digest, &sig));
    }

    #[test]
    fn hex_forms_are_strict() {
        assert!("00".parse::<Digest>().is_err());
        assert!("AB".repeat(32).parse::<Digest>().is_err());
        assert!("ab".repeat(32).parse::<Digest>().is_ok());
        assert!("zz".repeat(32).parse::<PublicKey>().is_err());
    }
}
