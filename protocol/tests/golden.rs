//! Golden wire examples: the exact bytes a device with a known key produces, and what decoding makes of
//! them and of broken variants. Regenerate the files with `WARDWATCH_BLESS=1 cargo test -p wardwatch-protocol`
//! only when the wire format is meant to change (and bump the schema version then).

use std::path::PathBuf;
use wardwatch_protocol::decode::{check_link, check_signature};
use wardwatch_protocol::*;

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn device_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// The example events of PROTOCOL.md: seq 1 presence, 2 camera, 3 health, 4 an unknown face's
/// presence with its embedding, 5 a clock jump, 6 a dropped-events record, 7 an evidence crop, 8 a
/// presence with its track liveness.
fn golden_events() -> Vec<(&'static str, Event)> {
    let device: DeviceId = "hd-ward3-box1".parse().unwrap();
    let inst: InstitutionCode = "H43060200175".parse().unwrap();
    let payloads = vec![
        (
            "presence.json",
            Payload::Presence(Presence {
                interval_id: "019a8f2e-7c00-7000-8000-000000000001".parse().unwrap(),
                camera_id: "cam-1".parse().unwrap(),
                ward_kind: WardKind::Haemodialysis,
                person: Person::PsnNo("43060000000000000001".parse().unwrap()),
                start: ts("2026-11-23T00:05:00.000Z"),
                end: ts("2026-11-23T04:02:30.500Z"),
                open: false,
                samples: 2841,
                best_similarity: Similarity::try_from(0.8125).unwrap(),
                median_similarity: Similarity::try_from(0.6406).unwrap(),
                liveness: Liveness::try_from(0.97).unwrap(),
                embedding: None,
                track_liveness: None,
                seat: None,
            }),
        ),
        (
            "camera.json",
            Payload::Camera(CameraStatus {
                camera_id: "cam-1".parse().unwrap(),
                state: CameraState::Obstructed,
                since: ts("2026-11-23T04:10:00.000Z"),
            }),
        ),
        (
            "health.json",
            Payload::Health(Health {
                agent_version: "0.1.0".into(),
                spool_depth: 2,
                uptime_secs: 86400,
                gallery_version: Some(7),
                cameras: vec![CameraHealth {
                    camera_id: "cam-1".parse().unwrap(),
                    state: Some(CameraState::Ok),
                    fps: 5.0,
                    inference_ms: 142.5,
                    tracks: 4,
                    source: None,
                }],
            }),
        ),
        (
            "presence_unknown.json",
            Payload::Presence(Presence {
                interval_id: "019a8f2e-7c00-7000-8000-000000000002".parse().unwrap(),
                camera_id: "cam-1".parse().unwrap(),
                ward_kind: WardKind::Haemodialysis,
                person: Person::UnknownTrack("u-019a8f2e7c007000800000000000000a".parse().unwrap()),
                start: ts("2026-11-23T01:00:00.000Z"),
                end: ts("2026-11-23T01:40:00.000Z"),
                open: false,
                samples: 480,
                best_similarity: Similarity::try_from(0.21).unwrap(),
                median_similarity: Similarity::try_from(0.12).unwrap(),
                liveness: Liveness::try_from(0.9).unwrap(),
                // A 16-value unit vector keeps the example short; the recogniser's are 512.
                embedding: Some(FaceEmbedding::try_from(vec![0.25f32; 16]).unwrap()),
                track_liveness: None,
                seat: None,
            }),
        ),
        (
            "clock.json",
            Payload::Clock(ClockJump {
                detected_at: ts("2026-11-23T04:20:00.000Z"),
                jump_ms: -3_600_000,
            }),
        ),
        (
            "dropped.json",
            Payload::Dropped(SpoolDropped {
                reason: DropReason::SpoolFull,
                events: vec![DroppedEvent {
                    seq: 1,
                    hash: "7366995dafe8db40997811ce35e56d05d857a9212d873b047444cb2659e63f29"
                        .parse()
                        .unwrap(),
                    prev_hash: Digest::GENESIS,
                    interval_id: "019a8f2e-7c00-7000-8000-000000000001".parse().unwrap(),
                }],
            }),
        ),
        (
            "evidence.json",
            Payload::Evidence(EvidenceCrop {
                camera_id: "cam-1".parse().unwrap(),
                track_id: "u-019a8f2e7c007000800000000000000a".parse().unwrap(),
                reason: EvidenceReason::Unknown,
                captured_at: ts("2026-11-23T01:39:58.000Z"),
                liveness: Liveness::try_from(0.96).unwrap(),
                // The smallest JPEG shape: start-of-image, an APP0 marker, end-of-image (the wire
                // checks the start-of-image marker and the size, not the image).
                jpeg: Jpeg::new(vec![0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xD9]).unwrap(),
            }),
        ),
        (
            "presence_track_liveness.json",
            Payload::Presence(Presence {
                interval_id: "019a8f2e-7c00-7000-8000-000000000003".parse().unwrap(),
                camera_id: "cam-2".parse().unwrap(),
                ward_kind: WardKind::Haemodialysis,
                person: Person::PsnNo("43060000000000000002".parse().unwrap()),
                start: ts("2026-11-23T00:10:00.000Z"),
                end: ts("2026-11-23T04:05:00.000Z"),
                open: false,
                samples: 2790,
                best_similarity: Similarity::try_from(0.7813).unwrap(),
                median_similarity: Similarity::try_from(0.6094).unwrap(),
                liveness: Liveness::try_from(0.905).unwrap(),
                embedding: None,
                track_liveness: Some(TrackLiveness {
                    samples: 42_300,
                    pairs: 42_180,
                    model_median: Liveness::try_from(0.905).unwrap(),
                    nonrigid_motion: Share::try_from(0.125).unwrap(),
                    residual_p90: Share::try_from(0.0215).unwrap(),
                    blinks: 1840,
                    verdict: LivenessVerdict::Live,
                }),
                seat: None,
            }),
        ),
    ];
    let mut prev = Digest::GENESIS;
    let mut out = Vec::new();
    for (i, (name, payload)) in payloads.into_iter().enumerate() {
        let seq = i as u64 + 1;
        let draft = EventDraft {
            schema: SCHEMA_VERSION,
            event_id: format!("019a8f2e-7c00-7000-8000-0000000001{seq:02}")
                .parse()
                .unwrap(),
            device_id: device.clone(),
            institution_code: inst.clone(),
            seq,
            sent_at: ts("2026-11-23T04:10:01.000Z").plus_millis(seq as i64),
            test_mode: false,
            prev_hash: prev,
            payload,
        };
        let event = draft.seal(&device_key());
        prev = event.hash;
        out.push((name, event));
    }
    out
}

#[test]
fn sealing_produces_the_golden_bytes_and_they_decode_and_chain() {
    let bless = std::env::var_os("WARDWATCH_BLESS").is_some();
    let public = PublicKey::of(&device_key());
    let mut prev: Option<Digest> = None;
    for (name, event) in golden_events() {
        let wire = event.to_wire();
        if bless {
            std::fs::write(golden_path(name), &wire).unwrap();
        }
        let golden = std::fs::read(golden_path(name)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&wire),
            String::from_utf8_lossy(&golden),
            "{name}: the wire form changed"
        );
        let decoded =
            decode_event(&event.topic().to_string(), &golden, &Limits::default()).unwrap();
        assert_eq!(decoded, event);
        check_signature(&decoded, &public).unwrap();
        check_link(&decoded, prev.as_ref(), None).unwrap();
        prev = Some(decoded.hash);
    }
}

fn golden_presence() -> (String, serde_json::Value) {
    let (_, event) = golden_events().remove(0);
    (
        event.topic().to_string(),
        serde_json::from_slice(&event.to_wire()).unwrap(),
    )
}

fn decode_value(topic: &str, value: &serde_json::Value) -> Result<Event, DecodeError> {
    decode_event(
        topic,
        &serde_json::to_vec(value).unwrap(),
        &Limits::default(),
    )
}

#[test]
fn each_kind_of_bad_message_gets_its_reason_and_location() {
    let (topic, good) = golden_presence();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        f(&mut v);
        v
    };
    let cases: Vec<(&str, Result<Event, DecodeError>, RejectReason, &str)> = vec![
        (
            "future schema",
            decode_value(&topic, &edit(&|v| v["schema"] = 3.into())),
            RejectReason::UnknownSchema,
            "schema version 3",
        ),
        (
            "similarity out of range",
            decode_value(
                &topic,
                &edit(&|v| v["payload"]["best_similarity"] = 1.5.into()),
            ),
            RejectReason::InvalidField,
            "payload.best_similarity",
        ),
        (
            "unknown field",
            decode_value(&topic, &edit(&|v| v["payload"]["mood"] = "calm".into())),
            RejectReason::InvalidField,
            "mood",
        ),
        (
            "bad institution code in body",
            decode_value(&topic, &edit(&|v| v["institution_code"] = "H123".into())),
            RejectReason::InvalidField,
            "institution_code",
        ),
        (
            "altered body",
            decode_value(&topic, &edit(&|v| v["payload"]["samples"] = 1.into())),
            RejectReason::BadHash,
            "hash",
        ),
        (
            "another device's topic",
            decode_value("wardwatch/v1/H43060200175/hd-ward3-box2/presence", &good),
            RejectReason::DeviceMismatch,
            "hd-ward3-box2",
        ),
        (
            "another institution's topic",
            decode_value("wardwatch/v1/H43060200176/hd-ward3-box1/presence", &good),
            RejectReason::InstitutionMismatch,
            "H43060200176",
        ),
        (
            "presence on the camera topic",
            decode_value("wardwatch/v1/H43060200175/hd-ward3-box1/camera", &good),
            RejectReason::KindMismatch,
            "payload.kind",
        ),
        (
            "device publishing on ack",
            decode_value("wardwatch/v1/H43060200175/hd-ward3-box1/ack", &good),
            RejectReason::BadTopic,
            "collector",
        ),
        (
            "not JSON",
            decode_event(&topic, b"{\"schema\": 1, oops", &Limits::default()),
            RejectReason::InvalidJson,
            "line 1, column",
        ),
        (
            "too big",
            decode_event(&topic, &vec![b' '; 70_000], &Limits::default()),
            RejectReason::Oversized,
            "70000 bytes",
        ),
    ];
    for (what, result, reason, needle) in cases {
        let err = result.expect_err(what);
        assert_eq!(err.reason(), reason, "{what}: {err}");
        assert!(
            err.to_string().contains(needle),
            "{what}: {err:?} lacks {needle:?}"
        );
    }
}

#[test]
fn a_forged_signature_and_a_broken_chain_are_caught() {
    let events = golden_events();
    let (_, first) = &events[0];
    let forged = EventDraft {
        schema: first.schema,
        event_id: first.event_id,
        device_id: first.device_id.clone(),
        institution_code: first.institution_code.clone(),
        seq: first.seq,
        sent_at: first.sent_at,
        test_mode: first.test_mode,
        prev_hash: first.prev_hash,
        payload: first.payload.clone(),
    }
    .seal(&SigningKey::from_bytes(&[8; 32]));
    let err = check_signature(&forged, &PublicKey::of(&device_key())).unwrap_err();
    assert_eq!(err.reason(), RejectReason::BadSignature);

    let (_, second) = &events[1];
    let (_, third) = &events[2];
    // The third event does not follow the first.
    let err = check_link(third, Some(&first.hash), None).unwrap_err();
    assert_eq!(err.reason(), RejectReason::ChainBroken);
    assert!(err.to_string().contains("seq 3"), "{err}");
    // The second links both ways.
    check_link(second, Some(&first.hash), Some(&third.prev_hash)).unwrap();
    // A first event must start from the genesis hash.
    let err = check_link(second, None, None);
    assert!(
        err.is_ok(),
        "seq 2 without its predecessor is a gap, not a break"
    );
}

#[test]
fn test_mode_is_signed_and_absent_from_production_events() {
    let events = golden_events();
    let (_, first) = &events[0];
    let production = String::from_utf8(first.to_wire()).unwrap();
    assert!(
        !production.contains("test_mode"),
        "a production event's bytes are as before the field existed: {production}"
    );
    let test = EventDraft {
        schema: first.schema,
        event_id: first.event_id,
        device_id: first.device_id.clone(),
        institution_code: first.institution_code.clone(),
        seq: first.seq,
        sent_at: first.sent_at,
        test_mode: false,
        prev_hash: first.prev_hash,
        payload: first.payload.clone(),
    }
    .in_test_mode(true)
    .seal(&device_key());
    assert_ne!(test.hash, first.hash, "test_mode is part of the hash");
    let wire = String::from_utf8(test.to_wire()).unwrap();
    assert!(wire.contains(r#""test_mode":true"#), "{wire}");
    let limits = Limits::default();
    let decoded = decode_event(&test.topic().to_string(), wire.as_bytes(), &limits).unwrap();
    assert!(decoded.test_mode);
    // Stripping the mark from a test event (to pass recordings off as the ward) breaks its hash.
    let stripped = wire.replace(r#""test_mode":true,"#, "");
    let err = decode_event(&test.topic().to_string(), stripped.as_bytes(), &limits).unwrap_err();
    assert_eq!(err.reason(), RejectReason::BadHash);
}

#[test]
fn track_liveness_is_optional_and_its_values_are_checked() {
    let events = golden_events();
    let (name, with) = &events[7];
    assert_eq!(*name, "presence_track_liveness.json");
    let topic = with.topic().to_string();
    let good: serde_json::Value = serde_json::from_slice(&with.to_wire()).unwrap();
    assert_eq!(good["payload"]["track_liveness"]["verdict"], "live");
    let bad = |field: &str, value: serde_json::Value| {
        let mut v = good.clone();
        v["payload"]["track_liveness"][field] = value;
        decode_value(&topic, &v).unwrap_err()
    };
    for (field, value, needle) in [
        (
            "nonrigid_motion",
            1.5.into(),
            "payload.track_liveness.nonrigid_motion",
        ),
        ("verdict", "maybe".into(), "payload.track_liveness.verdict"),
        ("extra", 1.into(), "extra"),
    ] {
        let err = bad(field, value);
        assert_eq!(err.reason(), RejectReason::InvalidField, "{field}: {err}");
        assert!(err.to_string().contains(needle), "{field}: {err}");
    }
    // The presence events before the field existed have no such key at all.
    let (_, old) = &events[0];
    let wire = String::from_utf8(old.to_wire()).unwrap();
    assert!(!wire.contains("track_liveness"), "{wire}");
}

#[test]
fn a_seat_is_optional_and_checked() {
    let events = golden_events();
    let (name, without) = &events[0];
    assert_eq!(*name, "presence.json");
    let topic = without.topic().to_string();
    let limits = Limits::default();
    // Without the field (the golden bytes, as older agents send them): decodes to no seat.
    let wire = String::from_utf8(without.to_wire()).unwrap();
    assert!(!wire.contains("seat"), "{wire}");
    let decoded = decode_event(&topic, wire.as_bytes(), &limits).unwrap();
    let Payload::Presence(p) = &decoded.payload else {
        panic!("not a presence: {decoded:?}")
    };
    assert_eq!(p.seat, None);
    // With it: sealed, sent and decoded back; part of the hash.
    let Payload::Presence(mut seated) = without.payload.clone() else {
        panic!("not a presence")
    };
    seated.seat = Some("chair-3".parse().unwrap());
    let with = EventDraft {
        schema: without.schema,
        event_id: without.event_id,
        device_id: without.device_id.clone(),
        institution_code: without.institution_code.clone(),
        seq: without.seq,
        sent_at: without.sent_at,
        test_mode: false,
        prev_hash: without.prev_hash,
        payload: Payload::Presence(seated),
    }
    .seal(&device_key());
    assert_ne!(with.hash, without.hash, "the seat is part of the hash");
    let wire = String::from_utf8(with.to_wire()).unwrap();
    assert!(wire.contains(r#""seat":"chair-3""#), "{wire}");
    let decoded = decode_event(&topic, wire.as_bytes(), &limits).unwrap();
    assert_eq!(decoded, with);
    // An unusable seat id is refused, naming the field.
    let mut bad: serde_json::Value = serde_json::from_str(&wire).unwrap();
    for value in ["", "chair\u{7}3", &"x".repeat(33)] {
        bad["payload"]["seat"] = value.into();
        let err = decode_value(&topic, &bad).unwrap_err();
        assert_eq!(err.reason(), RejectReason::InvalidField, "{value:?}: {err}");
        assert!(err.to_string().contains("payload.seat"), "{value:?}: {err}");
    }
}
