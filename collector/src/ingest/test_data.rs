//! Test data from a production box: recordings must never pass for the ward.
//!
//! Folder and replay sources are for tests and the demo; an agent reads them only in test mode, and
//! then marks every event it seals (`test_mode`, signed) and names each camera's source kind in its
//! heartbeats. A device registered for production ([`DevicePurpose::Production`]) may send neither: an
//! event sealed in test mode, or a heartbeat saying a camera reads a recording, is quarantined as
//! `test_source`. Like every check of what a box says about itself, this holds the agent's own code
//! to account — it catches a recording played on an unmodified box and an agent modified to lie in
//! one place but not the other; a box whose key and software are both in hostile hands can forge
//! anything it signs, which is why silence, camera states and liveness are judged by the rules too.

use crate::store::devices::DevicePurpose;
use wardwatch_protocol::{Event, Payload};

/// Why `event` is test data that a device registered for `purpose` may not send (`None`: it may).
pub fn refused_test_data(event: &Event, purpose: DevicePurpose) -> Option<String> {
    if purpose == DevicePurpose::Tests {
        return None;
    }
    if event.test_mode {
        return Some(format!(
            "event seq {} of device {} was sealed in test mode (a replay or folder source), but the \
             device is registered for production",
            event.seq, event.device_id
        ));
    }
    if let Payload::Health(health) = &event.payload
        && let Some((camera, kind)) = health.cameras.iter().find_map(|c| {
            c.source
                .filter(|kind| kind.is_recording())
                .map(|kind| (&c.camera_id, kind))
        })
    {
        return Some(format!(
            "heartbeat seq {} of device {}: camera {camera} reads a recording ({} source), but the \
             device is registered for production",
            event.seq,
            event.device_id,
            kind.as_str()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_protocol::{CameraHealth, Digest, EventDraft, Health, SigningKey, SourceKind};

    fn heartbeat(sources: &[Option<SourceKind>], test_mode: bool) -> Event {
        let cameras = sources
            .iter()
            .enumerate()
            .map(|(i, source)| CameraHealth {
                camera_id: format!("cam-{i}").parse().expect("camera id"),
                state: None,
                fps: 5.0,
                inference_ms: 30.0,
                tracks: 0,
                source: *source,
            })
            .collect();
        EventDraft::new(
            "box-1".parse().expect("device id"),
            "H43060200175".parse().expect("institution"),
            1,
            Digest::GENESIS,
            Payload::Health(Health {
                agent_version: "test".into(),
                spool_depth: 0,
                uptime_secs: 1,
                gallery_version: None,
                cameras,
            }),
        )
        .in_test_mode(test_mode)
        .seal(&SigningKey::from_bytes(&[7; 32]))
    }

    #[test]
    fn a_production_device_sends_no_test_mode_event_and_no_recorded_camera() {
        let production = DevicePurpose::Production;
        let live = [Some(SourceKind::Rtsp), Some(SourceKind::Usb), None];
        assert_eq!(
            refused_test_data(&heartbeat(&live, false), production),
            None
        );
        let marked = refused_test_data(&heartbeat(&live, true), production).expect("refused");
        assert!(
            marked.contains("test mode") && marked.contains("box-1"),
            "{marked}"
        );
        for recording in [SourceKind::Folder, SourceKind::Replay] {
            let sources = [Some(SourceKind::Rtsp), Some(recording)];
            let why = refused_test_data(&heartbeat(&sources, false), production).expect("refused");
            assert!(
                why.contains("cam-1") && why.contains(recording.as_str()),
                "{why}"
            );
        }
    }

    #[test]
    fn a_test_device_may_send_test_data() {
        let sources = [Some(SourceKind::Folder)];
        assert_eq!(
            refused_test_data(&heartbeat(&sources, true), DevicePurpose::Tests),
            None
        );
    }
}
