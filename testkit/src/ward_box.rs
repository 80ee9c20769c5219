//! A ward box for tests that hand events to the collector's store directly (no agent, no broker): a
//! device key and its hash chain, sealing each next event at the time the test says.

use wardwatch_collector::store::devices::{Device, DevicePurpose};
use wardwatch_collector::store::ingest::Incoming;
use wardwatch_protocol::{
    DeviceId, Digest, Event, EventDraft, Health, InstitutionCode, Liveness, Payload, Person,
    Presence, PublicKey, SigningKey, Similarity, Timestamp, WardKind,
};

/// The institution every [`WardBox`] belongs to.
pub const INSTITUTION: &str = "H43060200175";

/// The patient every [`WardBox::presence_at`] reports.
pub const PATIENT: &str = "43060000000000000001";

/// A box's key, identity and the chain it has sealed so far.
pub struct WardBox {
    pub key: SigningKey,
    pub device: DeviceId,
    pub institution: InstitutionCode,
    pub chain: Vec<Event>,
}

impl WardBox {
    /// A box named `device` of [`INSTITUTION`] whose key is 32 bytes of `key_seed`.
    pub fn new(key_seed: u8, device: &str) -> WardBox {
        WardBox {
            key: SigningKey::from_bytes(&[key_seed; 32]),
            device: device.parse().expect("device id"),
            institution: INSTITUTION.parse().expect("institution"),
            chain: Vec::new(),
        }
    }

    /// The registration the collector needs before it accepts the box's events (production).
    pub fn registration(&self) -> Device {
        Device {
            device_id: self.device.clone(),
            institution_code: self.institution.clone(),
            public_key: PublicKey::of(&self.key),
            purpose: DevicePurpose::Production,
        }
    }

    fn draft(&self, payload: Payload) -> EventDraft {
        let prev = self.chain.last().map(|e| e.hash).unwrap_or(Digest::GENESIS);
        EventDraft::new(
            self.device.clone(),
            self.institution.clone(),
            self.chain.len() as u64 + 1,
            prev,
            payload,
        )
    }

    fn push(&mut self, event: Event) -> Event {
        self.chain.push(event.clone());
        event
    }

    /// Seals the next event of the chain now.
    pub fn seal(&mut self, payload: Payload) -> Event {
        let event = self.draft(payload).seal(&self.key);
        self.push(event)
    }

    /// Seals the next event of the chain as if at `sent_at`.
    pub fn seal_at(&mut self, sent_at: Timestamp, payload: Payload) -> Event {
        let mut draft = self.draft(payload);
        draft.sent_at = sent_at;
        let event = draft.seal(&self.key);
        self.push(event)
    }

    /// A heartbeat sealed now.
    pub fn health(&mut self) -> Event {
        let payload = self.health_payload();
        self.seal(payload)
    }

    /// A heartbeat sealed at `sent_at`.
    pub fn health_at(&mut self, sent_at: Timestamp) -> Event {
        let payload = self.health_payload();
        self.seal_at(sent_at, payload)
    }

    fn health_payload(&self) -> Payload {
        let n = self.chain.len() as u64;
        Payload::Health(Health {
            agent_version: "test".into(),
            spool_depth: n,
            uptime_secs: n,
            gallery_version: None,
            cameras: Vec::new(),
        })
    }

    /// A report of [`PATIENT`] in a dialysis chair from `start` to `end` (still `open` or final) for
    /// the interval numbered `interval`, sealed at `sent_at`.
    pub fn presence_at(
        &mut self,
        sent_at: Timestamp,
        interval: u128,
        start: Timestamp,
        end: Timestamp,
        open: bool,
    ) -> Event {
        self.seal_at(
            sent_at,
            Payload::Presence(Presence {
                interval_id: uuid::Uuid::from_u128(interval),
                camera_id: "cam-1".parse().expect("camera"),
                ward_kind: WardKind::Haemodialysis,
                person: Person::PsnNo(PATIENT.parse().expect("psn")),
                start,
                end,
                open,
                samples: 10,
                best_similarity: Similarity::try_from(0.8).expect("score"),
                median_similarity: Similarity::try_from(0.7).expect("score"),
                liveness: Liveness::try_from(0.9).expect("score"),
                embedding: None,
                track_liveness: None,
                seat: None,
            }),
        )
    }
}

/// `event` as ingest hands it to the store.
pub fn incoming(event: &Event) -> Incoming {
    Incoming::Event {
        event: Box::new(event.clone()),
        raw: event.to_wire(),
    }
}
