//! MQTT topics: `wardwatch/v1/{institution_code}/{device_id}/{kind}`.

use crate::ids::{DeviceId, InstitutionCode};
use std::fmt;

/// The fixed prefix of every WardWatch topic.
pub const TOPIC_PREFIX: &str = "wardwatch/v1";

/// The last level of a topic: what flows on it and in which direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// agent → collector: presence intervals (signed events).
    Presence,
    /// agent → collector: the device's heartbeat (signed events).
    Health,
    /// agent → collector: camera state changes (signed events).
    Camera,
    /// agent → collector: system clock jumps (signed events).
    Clock,
    /// agent → collector: records of sealed events dropped from a full spool (signed events).
    Dropped,
    /// agent → collector: face crops, only when the box's operator turned evidence on (signed events).
    Evidence,
    /// agent → collector: `online` on connect, `offline` as the MQTT last will (retained, not signed:
    /// the broker vouches for who published it).
    Status,
    /// collector → agent: the bureau's signed gallery of enrolled patients.
    Gallery,
    /// collector → agent: the highest contiguous `seq` the collector has committed.
    Ack,
}

impl TopicKind {
    /// Every kind, in documentation order.
    pub const ALL: [TopicKind; 9] = [
        TopicKind::Presence,
        TopicKind::Health,
        TopicKind::Camera,
        TopicKind::Clock,
        TopicKind::Dropped,
        TopicKind::Evidence,
        TopicKind::Status,
        TopicKind::Gallery,
        TopicKind::Ack,
    ];

    /// The topic level for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            TopicKind::Presence => "presence",
            TopicKind::Health => "health",
            TopicKind::Camera => "camera",
            TopicKind::Clock => "clock",
            TopicKind::Dropped => "dropped",
            TopicKind::Evidence => "evidence",
            TopicKind::Status => "status",
            TopicKind::Gallery => "gallery",
            TopicKind::Ack => "ack",
        }
    }

    /// True for the kinds a device publishes as signed events; false for its unsigned status and for
    /// collector → agent kinds.
    pub fn is_from_device(self) -> bool {
        matches!(
            self,
            TopicKind::Presence
                | TopicKind::Health
                | TopicKind::Camera
                | TopicKind::Clock
                | TopicKind::Dropped
                | TopicKind::Evidence
        )
    }

    fn parse(level: &str) -> Option<TopicKind> {
        TopicKind::ALL.into_iter().find(|k| k.as_str() == level)
    }
}

impl fmt::Display for TopicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed WardWatch topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    /// The institution the device belongs to.
    pub institution: InstitutionCode,
    /// The publishing (or addressed) device.
    pub device: DeviceId,
    /// What flows on the topic.
    pub kind: TopicKind,
}

/// Why a topic string is not a WardWatch topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("topic {topic:?} is not wardwatch/v1/{{institution_code}}/{{device_id}}/{{kind}}: {why}")]
pub struct TopicError {
    /// The offending topic (truncated to 200 characters).
    pub topic: String,
    /// What was wrong with it.
    pub why: String,
}

impl Topic {
    /// A topic for `kind` under this institution and device.
    pub fn new(institution: InstitutionCode, device: DeviceId, kind: TopicKind) -> Self {
        Topic {
            institution,
            device,
            kind,
        }
    }

    /// Parses a topic received from the broker.
    pub fn parse(topic: &str) -> Result<Topic, TopicError> {
        let fail = |why: String| TopicError {
            topic: topic.chars().take(200).collect(),
            why,
        };
        let rest = topic
            .strip_prefix(TOPIC_PREFIX)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| fail(format!("does not start with {TOPIC_PREFIX}/")))?;
        let levels: Vec<&str> = rest.split('/').collect();
        let [institution, device, kind] = levels[..] else {
            return Err(fail(format!(
                "has {} levels after the prefix, expected 3",
                levels.len()
            )));
        };
        let institution = institution
            .parse::<InstitutionCode>()
            .map_err(|e| fail(e.to_string()))?;
        let device = device
            .parse::<DeviceId>()
            .map_err(|e| fail(e.to_string()))?;
        let kind = TopicKind::parse(kind).ok_or_else(|| fail(format!("unknown kind {kind:?}")))?;
        Ok(Topic {
            institution,
            device,
            kind,
        })
    }

    /// The subscription filter matching every device-published topic of every institution.
    pub fn all_devices_filter() -> String {
        format!("{TOPIC_PREFIX}/+/+/#")
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{TOPIC_PREFIX}/{}/{}/{}",
            self.institution, self.device, self.kind
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = Topic::parse("wardwatch/v1/H43060200175/box-1/presence").unwrap();
        assert_eq!(t.kind, TopicKind::Presence);
        assert_eq!(t.device.as_str(), "box-1");
        assert_eq!(t.to_string(), "wardwatch/v1/H43060200175/box-1/presence");
    }

    #[test]
    fn rejects_with_reason() {
        let cases = [
            ("other/v1/H43060200175/box-1/presence", "does not start"),
            ("wardwatch/v1/H43060200175/box-1", "2 levels"),
            ("wardwatch/v1/X1/box-1/presence", "institution code"),
            ("wardwatch/v1/H43060200175/box-1/selfie", "unknown kind"),
        ];
        for (topic, want) in cases {
            let err = Topic::parse(topic).unwrap_err();
            assert!(err.to_string().contains(want), "{topic}: {err}");
        }
    }
}
