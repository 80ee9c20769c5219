//! Which topic filters the collector subscribes to: only what devices publish (their events and their
//! status), never the acks and galleries the collector publishes itself.
//!
//! A catch-all such as the default `wardwatch/v1/+/+/#` also matches `…/ack` and `…/gallery`: the
//! broker then hands every signed ack the collector publishes (one per device per committed batch)
//! back to it, to be read, dropped and acknowledged like an event, and on every subscription every
//! retained ack and gallery. Under a backlog those echoes take half of the collector's broker queue
//! and in-flight window. So a filter whose `#` stands for the kind level (or for the levels above it)
//! is split into one filter per kind the collector reads; any other filter is used as given.

use super::share_group::ShareGroup;
use wardwatch_protocol::TopicKind;
use wardwatch_protocol::topic::TOPIC_PREFIX;

/// The kinds the collector reads: the devices' signed events and their status.
fn read_kinds() -> impl Iterator<Item = TopicKind> {
    TopicKind::ALL
        .into_iter()
        .filter(|k| k.is_from_device() || *k == TopicKind::Status)
}

/// What to subscribe to for `filter`, and the catch-all it replaces (to unsubscribe from: a persistent
/// session keeps the subscriptions of an older collector, which would deliver everything twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriptions {
    /// The filters to subscribe to (with the `$share/{group}/` prefix when sharing).
    pub filters: Vec<String>,
    /// The given filter, when it was split (with the same prefix).
    pub replaced: Option<String>,
}

/// The subscriptions for `filter`, shared in `group` if given.
pub fn subscriptions(filter: &str, group: Option<&ShareGroup>) -> Subscriptions {
    let shared = |f: &str| match group {
        Some(group) => format!("$share/{}/{f}", group.as_str()),
        None => f.to_owned(),
    };
    match per_kind(filter) {
        Some(filters) => Subscriptions {
            filters: filters.iter().map(|f| shared(f)).collect(),
            replaced: Some(shared(filter)),
        },
        None => Subscriptions {
            filters: vec![shared(filter)],
            replaced: None,
        },
    }
}

/// `wardwatch/v1/#`, `wardwatch/v1/{institution}/#` or `wardwatch/v1/{institution}/{device}/#` (each
/// level a name or `+`) as one filter per read kind; `None` for any other filter.
fn per_kind(filter: &str) -> Option<Vec<String>> {
    // "/" for wardwatch/v1/#, "/{a}/" or "/{a}/{b}/" below it.
    let inner = filter
        .strip_prefix(TOPIC_PREFIX)?
        .strip_suffix('#')?
        .strip_prefix('/')?;
    let mut levels: Vec<&str> = if inner.is_empty() {
        Vec::new()
    } else {
        inner.strip_suffix('/')?.split('/').collect()
    };
    if levels.len() > 2 || levels.iter().any(|l| l.is_empty() || l.contains('#')) {
        return None;
    }
    levels.resize(2, "+");
    let scope = levels.join("/");
    Some(
        read_kinds()
            .map(|kind| format!("{TOPIC_PREFIX}/{scope}/{kind}"))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_protocol::Topic;

    fn kinds_of(filters: &[String]) -> Vec<&str> {
        filters
            .iter()
            .filter_map(|f| f.rsplit('/').next())
            .collect()
    }

    #[test]
    fn the_default_catch_all_becomes_the_device_kinds_without_acks_or_galleries() {
        let subs = subscriptions(&Topic::all_devices_filter(), None);
        assert_eq!(
            kinds_of(&subs.filters),
            [
                "presence", "health", "camera", "clock", "dropped", "evidence", "status"
            ]
        );
        assert!(
            subs.filters
                .iter()
                .all(|f| f.starts_with("wardwatch/v1/+/+/"))
        );
        assert_eq!(subs.replaced, Some(Topic::all_devices_filter()));
    }

    #[test]
    fn narrower_scopes_keep_their_levels_and_shared_filters_their_group() {
        let group: ShareGroup = "0123456789abcdef0123456789abcdef".parse().expect("group");
        let subs = subscriptions("wardwatch/v1/H43060200175/#", Some(&group));
        assert_eq!(
            subs.filters[0],
            "$share/0123456789abcdef0123456789abcdef/wardwatch/v1/H43060200175/+/presence"
        );
        assert_eq!(
            subs.replaced.as_deref(),
            Some("$share/0123456789abcdef0123456789abcdef/wardwatch/v1/H43060200175/#")
        );
        let subs = subscriptions("wardwatch/v1/#", None);
        assert_eq!(subs.filters[1], "wardwatch/v1/+/+/health");
        let subs = subscriptions("wardwatch/v1/+/box-1/#", None);
        assert_eq!(subs.filters[6], "wardwatch/v1/+/box-1/status");
    }

    #[test]
    fn other_filters_are_used_as_given() {
        for filter in [
            "wardwatch/v1/+/+/presence",
            "wardwatch/v1/+/+/+/#",
            "wardwatch/v1//#",
            "wardwatch/v2/#",
            "#",
        ] {
            let subs = subscriptions(filter, None);
            assert_eq!(subs.filters, [filter.to_owned()], "{filter}");
            assert_eq!(subs.replaced, None, "{filter}");
        }
    }
}
