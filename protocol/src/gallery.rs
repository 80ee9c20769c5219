//! The bureau's gallery of enrolled patients for one institution, signed with the bureau's key and
//! published retained on each of the institution's devices' `gallery` topic. A device pins the bureau's
//! public key, verifies the signature, refuses a version that is not newer than the one it holds, and
//! swaps the new gallery in whole.
//!
//! `sig = Ed25519(bureau key, SHA-256("wardwatch/v1/gallery\n" ‖ C))`, where `C` is the compact JSON of
//! every field but `sig`, in the order of [`SignedGallery`], computed from the typed values.

use crate::SCHEMA_VERSION;
use crate::crypto::{Digest, Signature, SigningKey, sign};
use crate::embedding::FaceEmbedding;
use crate::ids::{InstitutionCode, PsnNo};
use crate::pinned::PinnedKeys;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Domain-separation prefix of the signed bytes.
const SIGN_DOMAIN: &[u8] = b"wardwatch/v1/gallery\n";

/// One enrolled patient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GalleryEntry {
    /// The insured person's number.
    pub psn_no: PsnNo,
    /// From when the enrolment counts (e.g. the start of a treatment course).
    pub valid_from: Timestamp,
    /// Until when it counts.
    pub valid_until: Timestamp,
    /// One or more enrolment embeddings.
    pub embeddings: Vec<FaceEmbedding>,
}

/// A gallery before signing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GalleryDraft {
    /// Wire schema version.
    pub schema: u16,
    /// The institution whose patients these are.
    pub institution_code: InstitutionCode,
    /// Strictly increasing per institution; a device refuses anything not newer than what it holds.
    pub version: u64,
    /// When the bureau issued it.
    pub issued_at: Timestamp,
    /// The recogniser the embeddings come from (a device refuses a gallery for another model).
    pub model: String,
    /// The patients.
    pub entries: Vec<GalleryEntry>,
}

/// A signed gallery as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedGallery {
    /// Wire schema version.
    pub schema: u16,
    /// The institution whose patients these are.
    pub institution_code: InstitutionCode,
    /// Strictly increasing per institution.
    pub version: u64,
    /// When the bureau issued it.
    pub issued_at: Timestamp,
    /// The recogniser the embeddings come from.
    pub model: String,
    /// The patients.
    pub entries: Vec<GalleryEntry>,
    /// The bureau's signature.
    pub sig: Signature,
}

/// Why a gallery is refused.
#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    /// Not the expected JSON (with the field path).
    #[error("gallery: {0}")]
    Json(String),
    /// Another schema.
    #[error("gallery schema {0} is not supported (this build speaks {SCHEMA_VERSION})")]
    UnknownSchema(u16),
    /// Inconsistent content.
    #[error("gallery version {version}: {why}")]
    Invalid {
        /// The version it claims.
        version: u64,
        /// What is wrong.
        why: String,
    },
    /// The signature is not the bureau's.
    #[error("gallery version {0}: the signature is not the bureau's")]
    BadSignature(u64),
}

#[derive(Serialize)]
struct Canonical<'a> {
    schema: u16,
    institution_code: &'a InstitutionCode,
    version: u64,
    issued_at: Timestamp,
    model: &'a str,
    entries: &'a [GalleryEntry],
}

fn digest(c: &Canonical<'_>) -> Digest {
    let mut bytes = SIGN_DOMAIN.to_vec();
    // Serialising typed values cannot fail.
    bytes.extend(serde_json::to_vec(c).unwrap_or_default());
    Digest::of(&bytes)
}

impl GalleryDraft {
    /// A draft of the current schema.
    pub fn new(
        institution_code: InstitutionCode,
        version: u64,
        issued_at: Timestamp,
        model: String,
        entries: Vec<GalleryEntry>,
    ) -> GalleryDraft {
        GalleryDraft {
            schema: SCHEMA_VERSION,
            institution_code,
            version,
            issued_at,
            model,
            entries,
        }
    }

    /// Signs with the bureau's key.
    pub fn sign(self, bureau: &SigningKey) -> SignedGallery {
        let sig = sign(
            bureau,
            &digest(&Canonical {
                schema: self.schema,
                institution_code: &self.institution_code,
                version: self.version,
                issued_at: self.issued_at,
                model: &self.model,
                entries: &self.entries,
            }),
        );
        SignedGallery {
            schema: self.schema,
            institution_code: self.institution_code,
            version: self.version,
            issued_at: self.issued_at,
            model: self.model,
            entries: self.entries,
            sig,
        }
    }
}

impl SignedGallery {
    /// The digest the signature covers.
    pub fn digest(&self) -> Digest {
        digest(&Canonical {
            schema: self.schema,
            institution_code: &self.institution_code,
            version: self.version,
            issued_at: self.issued_at,
            model: &self.model,
            entries: &self.entries,
        })
    }

    /// The compact JSON.
    pub fn to_wire(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses, checks and verifies a received gallery against the bureau's pinned key(s).
    pub fn from_wire(bytes: &[u8], bureau: &PinnedKeys) -> Result<SignedGallery, GalleryError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let gallery: SignedGallery = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| GalleryError::Json(format!("{}: {}", e.path(), e.inner())))?;
        if gallery.schema != SCHEMA_VERSION {
            return Err(GalleryError::UnknownSchema(gallery.schema));
        }
        gallery.check()?;
        if !bureau.verify(&gallery.digest(), &gallery.sig) {
            return Err(GalleryError::BadSignature(gallery.version));
        }
        Ok(gallery)
    }

    /// One embedding size throughout, each patient once, validity in order, at least one embedding each.
    fn check(&self) -> Result<(), GalleryError> {
        let invalid = |why: String| GalleryError::Invalid {
            version: self.version,
            why,
        };
        let mut seen = std::collections::BTreeSet::new();
        let dims = self
            .entries
            .iter()
            .flat_map(|e| e.embeddings.first())
            .map(FaceEmbedding::dims)
            .next();
        for entry in &self.entries {
            if !seen.insert(&entry.psn_no) {
                return Err(invalid(format!("{} is listed twice", entry.psn_no)));
            }
            if entry.embeddings.is_empty() {
                return Err(invalid(format!("{} has no embedding", entry.psn_no)));
            }
            if entry.valid_until < entry.valid_from {
                return Err(invalid(format!(
                    "{} is valid until {} before it is valid from {}",
                    entry.psn_no, entry.valid_until, entry.valid_from
                )));
            }
            if let Some(d) = dims
                && entry.embeddings.iter().any(|e| e.dims() != d)
            {
                return Err(invalid(format!(
                    "{} has embeddings of another size than {d}",
                    entry.psn_no
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PublicKey;

    fn entry(psn: &str, value: f32) -> GalleryEntry {
        let mut v = vec![0.0; 32];
        v[0] = value;
        v[1] = (1.0 - value * value).sqrt();
        GalleryEntry {
            psn_no: psn.parse().expect("psn"),
            valid_from: "2026-11-01T00:00:00.000Z".parse().expect("time"),
            valid_until: "2027-11-01T00:00:00.000Z".parse().expect("time"),
            embeddings: vec![FaceEmbedding::try_from(v).expect("unit")],
        }
    }

    fn draft(version: u64, entries: Vec<GalleryEntry>) -> GalleryDraft {
        GalleryDraft::new(
            "H43060200175".parse().expect("code"),
            version,
            "2026-11-23T08:00:00.000Z".parse().expect("time"),
            "fr_feature".into(),
            entries,
        )
    }

    #[test]
    fn a_signed_gallery_verifies_and_a_tampered_one_does_not() {
        let bureau = SigningKey::from_bytes(&[3; 32]);
        let signed = draft(7, vec![entry("P001", 0.6), entry("P002", 0.8)]).sign(&bureau);
        let wire = signed.to_wire();
        let back = SignedGallery::from_wire(&wire, &PinnedKeys::one(PublicKey::of(&bureau)))
            .expect("verifies");
        assert_eq!(back, signed);
        // Someone else's key.
        let other = PinnedKeys::one(PublicKey::of(&SigningKey::from_bytes(&[4; 32])));
        assert!(matches!(
            SignedGallery::from_wire(&wire, &other),
            Err(GalleryError::BadSignature(7))
        ));
        // A patient renamed after signing.
        let tampered = String::from_utf8(wire)
            .expect("utf-8")
            .replace("P002", "P003");
        assert!(matches!(
            SignedGallery::from_wire(
                tampered.as_bytes(),
                &PinnedKeys::one(PublicKey::of(&bureau))
            ),
            Err(GalleryError::BadSignature(7))
        ));
        // No signature at all.
        let mut unsigned: serde_json::Value =
            serde_json::from_slice(&signed.to_wire()).expect("json");
        unsigned.as_object_mut().expect("object").remove("sig");
        let err = SignedGallery::from_wire(
            unsigned.to_string().as_bytes(),
            &PinnedKeys::one(PublicKey::of(&bureau)),
        )
        .expect_err("unsigned");
        assert!(err.to_string().contains("sig"), "{err}");
    }

    #[test]
    fn inconsistent_galleries_are_refused_with_the_reason() {
        let bureau = SigningKey::from_bytes(&[3; 32]);
        let key = PinnedKeys::one(PublicKey::of(&bureau));
        let twice = draft(1, vec![entry("P001", 0.6), entry("P001", 0.7)]).sign(&bureau);
        let err = SignedGallery::from_wire(&twice.to_wire(), &key).expect_err("twice");
        assert!(err.to_string().contains("listed twice"), "{err}");
        let mut backwards = entry("P001", 0.6);
        std::mem::swap(&mut backwards.valid_from, &mut backwards.valid_until);
        let err =
            SignedGallery::from_wire(&draft(1, vec![backwards]).sign(&bureau).to_wire(), &key)
                .expect_err("backwards");
        assert!(err.to_string().contains("valid until"), "{err}");
    }
}
