//! A sighting: one recognised (or unknown) face on one camera at one instant.
//!
//! This is what the vision stage hands to the presence stage. Until the face pipeline exists, the
//! replay source reads sightings directly from JSON Lines in exactly this form.

use crate::tracking::liveness::TrackEvidence;
use serde::{Deserialize, Serialize};
use wardwatch_protocol::{CameraId, Liveness, Person, SeatId, Similarity, Timestamp};

/// One face, identified (or not), at capture time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sighting {
    /// Capture time (UTC).
    pub at: Timestamp,
    /// The camera.
    pub camera_id: CameraId,
    /// Who: an enrolled patient (`{"psn_no": "…"}`) or an unknown track (`{"unknown_track": "…"}`).
    pub person: Person,
    /// Similarity to the matched gallery entry (for unknown tracks: to the closest entry).
    pub similarity: Similarity,
    /// Liveness score of the face.
    pub liveness: Liveness,
    /// Landmark evidence its track gathered since its previous sighting (absent: none, or a
    /// recording of sightings made before track liveness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_evidence: Option<TrackEvidence>,
    /// The camera's seat zone holding the face's centre (absent: no zones, or none holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<SeatId>,
}
