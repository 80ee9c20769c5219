//! A setting that parses but cannot be used: what each configuration section's `check` returns.
//!
//! The sections live beside the stages that use them ([`crate::presence::config`],
//! [`crate::publish::config`], [`crate::cameras::config`], …) and know nothing of the file they were
//! read from; [`crate::config::AgentConfig::load`] names the file when it turns an [`InvalidSetting`]
//! into a [`crate::config::ConfigError::Invalid`]. This module depends on nothing in the crate, so a
//! section can use it without importing the loader that imports the section.

/// A well-formed value that is out of range, refers to a missing file, or contradicts another setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` {why}")]
pub struct InvalidSetting {
    /// Dotted key, e.g. `broker.ca_file`.
    pub key: &'static str,
    /// What is wrong, worded to follow the key (`must be at least 1`).
    pub why: String,
}

impl InvalidSetting {
    /// `key` is unusable because `why`.
    pub fn new(key: &'static str, why: impl Into<String>) -> InvalidSetting {
        InvalidSetting {
            key,
            why: why.into(),
        }
    }
}
