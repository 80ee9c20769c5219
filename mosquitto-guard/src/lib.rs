//! A Mosquitto 2.0 plugin for WardWatch's mutual-TLS listener: a ward box may subscribe to its own
//! ack and gallery topics and to nothing else — no other box's topics, no `#`, no shared subscription
//! (`$share/GROUP/…`). Collectors, named in the plugin's `collectors` option, are left to the ACL file.
//!
//! Why a plugin: Mosquitto 2.0's `acl_file` grants every subscription (its check answers "yes" to every
//! subscribe request and only filters what it later delivers). For a plain subscription that filter
//! is enough, but a box that joined the collectors' share group took its turn of their events, which
//! the ACL then dropped: the collectors lost them. Refused at subscribe time, the box never joins the
//! group. Measured with the shipped files in `tests/e2e/mtls.rs`.
//!
//! Configured after the listener in `deploy/mosquitto/wardwatch-tls.conf`:
//!
//! ```text
//! plugin /usr/local/lib/wardwatch/libwardwatch_mosquitto_guard.so
//! plugin_opt_collectors wardwatch-collector-1 wardwatch-collector-2
//! ```
//!
//! A client is a ward box unless its username (the certificate's CN) is listed; a client without a
//! username is refused every subscription. Mosquitto asks this plugin before the ACL file (plugins
//! register their checks first); the plugin answers "refused" or "not mine to decide", never "granted".

mod plugin;

/// What the plugin answers for one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not the plugin's to decide: the ACL file's (which grants every subscription).
    Defer,
    /// Refused: the client gets a failure code in its SUBACK and receives nothing through it.
    Deny,
}

/// The topic kinds a ward box reads, under its own device id.
pub const DEVICE_READS: [&str; 2] = ["ack", "gallery"];

/// The rule: which usernames are collectors; everyone else is a ward box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    collectors: Vec<String>,
}

impl Guard {
    /// A guard for these collector usernames (certificate CNs).
    pub fn new(collectors: impl IntoIterator<Item = String>) -> Guard {
        Guard {
            collectors: collectors.into_iter().collect(),
        }
    }

    /// The guard for the `collectors` option: names separated by spaces or commas; `None` when it
    /// names none.
    pub fn from_option(value: &str) -> Option<Guard> {
        let names: Vec<String> = value
            .split([' ', ',', '\t'])
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        (!names.is_empty()).then(|| Guard::new(names))
    }

    /// The collectors it knows.
    pub fn collectors(&self) -> &[String] {
        &self.collectors
    }

    /// The verdict for `username` subscribing to `filter` (as the client sent it, `$share/…`
    /// included).
    pub fn subscription(&self, username: Option<&str>, filter: &str) -> Verdict {
        match username {
            None => Verdict::Deny,
            Some(user) if self.collectors.iter().any(|c| c == user) => Verdict::Defer,
            Some(device) if device_may_subscribe(device, filter) => Verdict::Defer,
            Some(_) => Verdict::Deny,
        }
    }
}

/// Whether `filter` reads only `device`'s own ack or gallery:
/// `wardwatch/v1/{institution or +}/{device}/{ack | gallery}`. A device id that is empty or holds a
/// wildcard, `/` or `$` matches nothing (it could stand for other boxes).
pub fn device_may_subscribe(device: &str, filter: &str) -> bool {
    if device.is_empty() || device.contains(['+', '#', '/', '$']) {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    match levels.as_slice() {
        ["wardwatch", "v1", institution, id, kind] => {
            *id == device
                && DEVICE_READS.contains(kind)
                && (*institution == "+"
                    || !institution.is_empty() && !institution.contains(['+', '#', '$']))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::from_option("wardwatch-collector-1, wardwatch-collector-2").expect("names")
    }

    #[test]
    fn a_box_reads_its_own_ack_and_gallery_only() {
        let g = guard();
        let box_a = Some("box-a");
        for own in [
            "wardwatch/v1/H43060200175/box-a/ack",
            "wardwatch/v1/H43060200175/box-a/gallery",
            "wardwatch/v1/+/box-a/ack",
        ] {
            assert_eq!(g.subscription(box_a, own), Verdict::Defer, "{own}");
        }
        for other in [
            "$share/ingest/wardwatch/v1/+/+/presence",
            "$share/g/wardwatch/v1/#",
            "$share/g/wardwatch/v1/H43060200175/box-a/ack",
            "wardwatch/v1/#",
            "#",
            "+/v1/H43060200175/box-a/ack",
            "wardwatch/v1/H43060200175/box-b/ack",
            "wardwatch/v1/H43060200175/+/ack",
            "wardwatch/v1/H43060200175/box-a/#",
            "wardwatch/v1/H43060200175/box-a/+",
            "wardwatch/v1/H43060200175/box-a/presence",
            "wardwatch/v1/#/box-a/ack",
            "wardwatch/v1//box-a/ack",
            "wardwatch/v1/H43060200175/box-a/ack/x",
            "$SYS/#",
        ] {
            assert_eq!(g.subscription(box_a, other), Verdict::Deny, "{other}");
        }
    }

    #[test]
    fn collectors_are_left_to_the_acl_and_nameless_or_wildcard_names_refused() {
        let g = guard();
        for filter in ["$share/ingest/wardwatch/v1/+/+/#", "wardwatch/v1/#"] {
            assert_eq!(
                g.subscription(Some("wardwatch-collector-2"), filter),
                Verdict::Defer
            );
            assert_eq!(
                g.subscription(Some("wardwatch-collector-3"), filter),
                Verdict::Deny
            );
            assert_eq!(g.subscription(None, filter), Verdict::Deny);
        }
        // A CN of `+` must not read every box's ack through `…/+/ack`.
        assert_eq!(
            g.subscription(Some("+"), "wardwatch/v1/+/+/ack"),
            Verdict::Deny
        );
        assert_eq!(Guard::from_option(" , "), None);
        assert_eq!(guard().collectors().len(), 2);
    }

    /// The kinds after `{device}/` in the lines of `text` that contain `marker`, up to the line that
    /// contains `end` (the whole rest when `end` is empty).
    fn kinds(
        text: &str,
        marker: &str,
        device: &str,
        end: &str,
    ) -> std::collections::BTreeSet<String> {
        let start = text.find(marker).expect(marker);
        let rest = &text[start..];
        let rest = if end.is_empty() {
            rest
        } else {
            &rest[..rest.find(end).expect(end)]
        };
        rest.lines()
            .filter_map(|l| l.split(&format!("/{device}/")).nth(1))
            .map(|k| {
                k.trim_end_matches(['"', ',', ']', '}', '.', ' '])
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn the_emqx_acl_lets_a_box_do_what_the_mosquitto_acl_and_this_guard_let_it_do() {
        let mosquitto = include_str!("../../deploy/mosquitto/wardwatch.acl");
        let emqx = include_str!("../../deploy/emqx/acl.conf");
        let publish: std::collections::BTreeSet<String> = mosquitto
            .lines()
            .filter_map(|l| l.strip_prefix("pattern write wardwatch/v1/+/%u/"))
            .map(str::to_owned)
            .collect();
        let read: std::collections::BTreeSet<String> = mosquitto
            .lines()
            .filter_map(|l| l.strip_prefix("pattern read wardwatch/v1/+/%u/"))
            .map(str::to_owned)
            .collect();
        assert_eq!(publish.len(), 7, "{publish:?}");
        assert_eq!(read, DEVICE_READS.iter().map(|k| k.to_string()).collect());
        let user = "${username}";
        assert_eq!(
            kinds(
                emqx,
                "{allow, all, publish,",
                user,
                "{allow, all, subscribe,"
            ),
            publish
        );
        assert_eq!(
            kinds(emqx, "{allow, all, subscribe,", user, "{deny, all}"),
            read
        );
        assert!(
            emqx.trim_end().ends_with("{deny, all}."),
            "refuses the rest"
        );
    }
}
