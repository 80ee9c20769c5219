//! What each ward box seals: presence intervals (the patients seen, unknown faces, visitors) with their
//! similarity, median liveness and seat ([`super::seats`]), camera state changes, a heartbeat every few minutes while the box is
//! on, and the forged events; nothing while a box is switched off.

use super::{Builder, MINUTE, SimEvent};
use std::collections::BTreeMap;
use wardwatch_protocol::{
    CameraHealth, CameraState, CameraStatus, FaceEmbedding, Health, Liveness, Payload, Person,
    Presence, Similarity, SourceKind, Timestamp, WardKind,
};

/// A closed presence interval of `person` on camera `cam-1` over `span`, with median `liveness`.
pub(super) fn presence(
    ward: WardKind,
    person: Person,
    (start, end): (i64, i64),
    liveness: f64,
) -> Option<Payload> {
    let known = matches!(person, Person::PsnNo(_));
    let similarity = |v: f64| Similarity::try_from(v).ok();
    Some(Payload::Presence(Presence {
        interval_id: uuid::Uuid::now_v7(),
        camera_id: "cam-1".parse().ok()?,
        ward_kind: ward,
        person,
        start: Timestamp::from_millis(start)?,
        end: Timestamp::from_millis(end)?,
        open: false,
        samples: ((end - start) / 10_000).clamp(1, u32::MAX.into()) as u32,
        best_similarity: similarity(if known { 0.8 } else { 0.3 })?,
        median_similarity: similarity(if known { 0.7 } else { 0.25 })?,
        liveness: Liveness::try_from(liveness).ok()?,
        embedding: None,
        track_liveness: None,
        seat: None,
    }))
}

/// Dimensions of the simulated recogniser's embeddings (as the gallery's `simulated-128`).
const FACE_DIMS: usize = 128;

/// A person's face: a random direction (what the recogniser would see of them at their best).
fn face_identity(random: &mut super::Random) -> Vec<f64> {
    (0..FACE_DIMS).map(|_| random.normal()).collect()
}

/// The average embedding a box sends with an unknown track of the person whose face is `identity`:
/// the face plus noise of 0.7 per value (two tracks of one person have a cosine of about 0.67, two
/// people about 0 ± 0.09), unit length.
fn track_embedding(random: &mut super::Random, identity: &[f64]) -> Option<FaceEmbedding> {
    let noisy: Vec<f64> = identity.iter().map(|v| v + 0.7 * random.normal()).collect();
    let norm = noisy.iter().map(|v| v * v).sum::<f64>().sqrt();
    FaceEmbedding::try_from(
        noisy
            .iter()
            .map(|v| (v / norm) as f32)
            .collect::<Vec<f32>>(),
    )
    .ok()
}

fn heartbeat(state: CameraState, uptime_secs: u64) -> Option<Payload> {
    let working = state == CameraState::Ok;
    Some(Payload::Health(Health {
        agent_version: "wardwatch-agent (simulated)".into(),
        spool_depth: 0,
        uptime_secs,
        gallery_version: Some(1),
        cameras: vec![CameraHealth {
            camera_id: "cam-1".parse().ok()?,
            state: Some(state),
            fps: if working { 5.0 } else { 0.0 },
            inference_ms: if working { 110.0 } else { 0.0 },
            tracks: 0,
            source: Some(SourceKind::Rtsp),
        }],
    }))
}

impl Builder {
    pub(super) fn events(&mut self) {
        let mut events: BTreeMap<String, Vec<SimEvent>> = BTreeMap::new();
        let mut push = |inst: &str, at: i64, payload: Option<Payload>| {
            if let Some(payload) = payload {
                events.entry(inst.to_owned()).or_default().push(SimEvent {
                    chain_at: at,
                    sent_at: at,
                    payload,
                    forged: None,
                    test_mode: false,
                });
            }
        };
        let mut track = 0u64;
        // Faces come from their own stream, so adding them left every other draw of the month as it was.
        let mut faces = super::Random(self.spec.seed ^ 0xFACE_0000_0000);
        let mut identities = super::Random(self.spec.seed ^ 0x1D00_0000_0000);
        let mut unknown_face =
            |random: &mut super::Random, ward, span: (i64, i64), identity: &[f64]| {
                track += 1;
                let person = format!("u-{track:06}")
                    .parse()
                    .ok()
                    .map(Person::UnknownTrack);
                let liveness = 0.6 + 0.39 * random.unit();
                let embedding = track_embedding(&mut faces, identity);
                person.and_then(|p| presence(ward, p, span, liveness)).map(
                    |payload| match payload {
                        Payload::Presence(mut p) => {
                            p.embedding = embedding;
                            Payload::Presence(p)
                        }
                        other => other,
                    },
                )
            };
        for l in &self.lines {
            // The chair (bed) of this session: the patient's, or another while their machine is repaired.
            let seat = self.seats.of_line(l);
            for span in &l.seen {
                let liveness = if l.photo {
                    0.01 + 0.04 * self.random.unit()
                } else {
                    0.6 + 0.39 * self.random.unit()
                };
                let payload = l
                    .psn_no
                    .parse()
                    .ok()
                    .map(Person::PsnNo)
                    .and_then(|p| presence(l.ward, p, *span, liveness));
                let payload = self.seats.report(l.ward, seat.as_ref(), payload);
                push(&l.institution, span.1 + 5_000, payload);
            }
            // One person per line's unknown tracks: the impostor, or the patient's own face unrecognised.
            let identity = face_identity(&mut identities);
            for span in &l.unknown {
                let payload = unknown_face(&mut self.random, l.ward, *span, &identity);
                let payload = self.seats.report(l.ward, seat.as_ref(), payload);
                push(&l.institution, span.1 + 5_000, payload);
            }
        }
        for (inst, ward, span) in &self.visitors {
            let identity = face_identity(&mut identities);
            let payload = unknown_face(&mut self.random, *ward, *span, &identity);
            push(inst, span.1 + 5_000, payload);
        }
        // One camera has one state at a time: where outages overlap, the one begun last decides, and
        // the camera is ok again only when none is on (an "ok" at the end of one outage inside another
        // would tell the collector the ward was watched while the truth says it was not).
        for (inst, outages) in &self.outages {
            let mut changes: Vec<i64> = outages.iter().flat_map(|(s, e, _)| [*s, *e]).collect();
            changes.sort_unstable();
            changes.dedup();
            let mut last = CameraState::Ok;
            for at in changes {
                let state = camera_state_at(outages, at);
                if state == last {
                    continue;
                }
                last = state;
                let payload = match ("cam-1".parse(), Timestamp::from_millis(at)) {
                    (Ok(camera_id), Some(since)) => Some(Payload::Camera(CameraStatus {
                        camera_id,
                        state,
                        since,
                    })),
                    _ => None,
                };
                push(inst, at + 1_000, payload);
            }
        }
        let every = i64::from(self.spec.heartbeat_minutes.max(1)) * MINUTE;
        let (from, to) = self.month.window;
        for (inst, _) in &self.inst {
            let silent = self.silent.get(inst).cloned().unwrap_or_default();
            let outages = self.outages.get(inst).cloned().unwrap_or_default();
            let mut booted = from;
            let mut at = from + self.random.range(0, every / 1000) * 1000;
            while at < to {
                if let Some((_, end)) = silent.iter().find(|(s, e)| *s <= at && at < *e) {
                    booted = *end;
                    at = *end + 30_000;
                    continue;
                }
                let state = camera_state_at(&outages, at);
                push(inst, at, heartbeat(state, ((at - booted) / 1000) as u64));
                at += every;
            }
        }
        // A box that is off seals nothing: drop what falls in its silent spans.
        for (inst, list) in &mut events {
            let silent = self.silent.get(inst).cloned().unwrap_or_default();
            list.retain(|e| {
                !silent
                    .iter()
                    .any(|(s, end)| *s <= e.chain_at && e.chain_at < *end)
            });
        }
        for (inst, event) in std::mem::take(&mut self.forged) {
            events.entry(inst).or_default().push(event);
        }
        for list in events.values_mut() {
            list.sort_by_key(|e| e.chain_at);
        }
        self.count(
            "events sealed",
            events.values().map(|l| l.len() as u64).sum(),
        );
        self.month.events = events;
    }
}

/// The camera's state at `at` under `outages` (start, end, state): the state of the outage begun last
/// among those still on, else ok.
fn camera_state_at(outages: &[(i64, i64, CameraState)], at: i64) -> CameraState {
    outages
        .iter()
        .filter(|(s, e, _)| *s <= at && at < *e)
        .max_by_key(|(s, _, _)| *s)
        .map_or(CameraState::Ok, |(_, _, state)| *state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_is_ok_again_only_when_no_outage_is_on() {
        // Covered from 0 to 100, switched off from 10 to 50 meanwhile.
        let outages = [
            (0, 100, CameraState::Obstructed),
            (10, 50, CameraState::Offline),
        ];
        assert_eq!(camera_state_at(&outages, 5), CameraState::Obstructed);
        assert_eq!(camera_state_at(&outages, 20), CameraState::Offline);
        // The end of the inner outage is not the end of the outer one.
        assert_eq!(camera_state_at(&outages, 50), CameraState::Obstructed);
        assert_eq!(camera_state_at(&outages, 100), CameraState::Ok);
    }
}
