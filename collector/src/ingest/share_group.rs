//! The `$share` group several collectors subscribe under to split the devices' events.
//!
//! On Mosquitto 2.0 an `acl_file` cannot refuse a subscription: it only filters what it delivers.
//! A ward box that subscribes to `$share/{group}/wardwatch/v1/…` with the collectors' group name joins
//! the group, is handed its share of the events in turn, and the ACL then drops them — the collectors
//! never get them (measured on the shipped files: 20 of 40). So the group name is a secret, like a
//! password: long and random (`openssl rand -hex 16`), set with `--share-group` or, to keep it out of
//! the process list, `WARDWATCH_SHARE_GROUP`, and never on a box. A name a box can guess (`ingest`)
//! is refused.

use std::fmt;
use std::str::FromStr;

/// Fewest characters of a group name (16 random bytes in hex).
pub const MIN_SHARE_GROUP_CHARS: usize = 32;
/// Most characters of a group name.
pub const MAX_SHARE_GROUP_CHARS: usize = 128;

/// A shared-subscription group name that is hard to guess.
#[derive(Clone, PartialEq, Eq)]
pub struct ShareGroup(String);

/// A group name is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the share group must be a secret of {MIN_SHARE_GROUP_CHARS} to {MAX_SHARE_GROUP_CHARS} letters, \
     digits, '-' or '_' (e.g. `openssl rand -hex 16`), got {got} characters{why}: any client that knows \
     the name can join the group and take a share of the events"
)]
pub struct ShareGroupError {
    got: usize,
    why: &'static str,
}

impl FromStr for ShareGroup {
    type Err = ShareGroupError;
    fn from_str(text: &str) -> Result<Self, ShareGroupError> {
        let got = text.chars().count();
        let fail = |why| Err(ShareGroupError { got, why });
        if !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return fail(" including others");
        }
        if !(MIN_SHARE_GROUP_CHARS..=MAX_SHARE_GROUP_CHARS).contains(&got) {
            return fail("");
        }
        if text
            .chars()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            < 8
        {
            return fail(" with fewer than 8 distinct ones");
        }
        Ok(ShareGroup(text.to_owned()))
    }
}

impl ShareGroup {
    /// The name, for the subscription.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Never printed in full: it is a secret.
impl fmt::Debug for ShareGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShareGroup({}…)", &self.0[..4])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guessable_names_are_refused_with_the_reason() {
        for bad in [
            "ingest",
            "",
            "ingest/x",
            "$share",
            &"a".repeat(40),
            &"x".repeat(MAX_SHARE_GROUP_CHARS + 1),
        ] {
            let err = bad.parse::<ShareGroup>().expect_err(bad);
            assert!(err.to_string().contains("secret"), "{err}");
        }
        let good: ShareGroup = "3f9c2a7be1d04c56a8e2f71b0c9d4e3a".parse().expect("hex");
        assert_eq!(good.as_str().len(), 32);
        assert!(!format!("{good:?}").contains("3f9c2a7be1d04c56"));
    }
}
