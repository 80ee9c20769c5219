//! The bureau's gallery of enrolled faces, from enrolment to the ward boxes.
//!
//! A face travels: the agent's `enroll-embed` output (JSON Lines) → [`enrolment`] (checked,
//! L2-normalised, stored once per institution, person and embedding; read back by the rule
//! `duplicate_face`) → [`publish`] (per institution with registered devices: one recogniser's
//! embeddings signed with the bureau's key, versioned, published retained to each device's `gallery`
//! topic; `gallery publish` does it once) → [`republish`] (`serve --bureau-key` does it at start and
//! again whenever an institution's content or devices change); [`removal`] takes a patient out on
//! request (PIPL), recording the deletion in the access log.

pub mod enrolment;
pub mod publish;
pub mod removal;
pub mod republish;

pub use enrolment::{Enrolled, GalleryError, GalleryImport};
