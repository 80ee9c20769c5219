//! Validated identifiers. Each is parsed once at the edge (config, topic, JSON) and is valid from then on.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a string is not a valid identifier of some kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {value:?} is invalid: {why}")]
pub struct IdError {
    /// Which identifier was being parsed, e.g. "institution code".
    pub kind: &'static str,
    /// The offending value (truncated to 80 characters).
    pub value: String,
    /// What rule it broke.
    pub why: &'static str,
}

impl IdError {
    fn new(kind: &'static str, value: &str, why: &'static str) -> Self {
        IdError {
            kind,
            value: value.chars().take(80).collect(),
            why,
        }
    }
}

/// Checks a "token" identifier: 1..=max chars of `[A-Za-z0-9._-]`, starting with a letter or digit.
/// Such ids are safe inside MQTT topics (no `/`, `+`, `#`, `$`) and file names.
fn check_token(kind: &'static str, value: &str, max: usize) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::new(kind, value, "must not be empty"));
    }
    if value.len() > max {
        return Err(IdError::new(kind, value, "is too long"));
    }
    if !value.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(IdError::new(
            kind,
            value,
            "must start with a letter or digit",
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(IdError::new(
            kind,
            value,
            "may contain only letters, digits, '.', '_' and '-'",
        ));
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                let check: fn(&str) -> Result<(), IdError> = $check;
                check(&value)?;
                Ok($name(value))
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::try_from(s.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A designated medical institution's code (定点医药机构编号): `H` (hospital) or `P` (pharmacy)
    /// followed by 11 digits, e.g. `H43060200175`.
    InstitutionCode,
    |v| {
        let b = v.as_bytes();
        if b.len() != 12 || !(b[0] == b'H' || b[0] == b'P') || !b[1..].iter().all(u8::is_ascii_digit) {
            return Err(IdError::new(
                "institution code",
                v,
                "must be 'H' or 'P' followed by 11 digits, e.g. H43060200175",
            ));
        }
        Ok(())
    }
);

string_id!(
    /// A ward box's id, unique within the bureau (e.g. `hd-ward3-box1`).
    DeviceId,
    |v| check_token("device id", v, 64)
);

string_id!(
    /// A camera's id, unique on its device (e.g. `cam-1`).
    CameraId,
    |v| check_token("camera id", v, 64)
);

string_id!(
    /// An unknown-face track id assigned by the agent (e.g. `u-20261123-0042`).
    TrackId,
    |v| check_token("track id", v, 64)
);

string_id!(
    /// A seat zone on a camera's picture — a dialysis chair, a bed (e.g. `chair-3`, `床7`): drawn by
    /// the technician in the ward box's configuration and unique on its camera. 1 to 32 characters,
    /// none of them a control character (labels in the ward's own words are allowed).
    SeatId,
    |v| {
        if v.is_empty() {
            return Err(IdError::new("seat id", v, "must not be empty"));
        }
        if v.chars().count() > 32 {
            return Err(IdError::new("seat id", v, "must be at most 32 characters"));
        }
        if v.chars().any(char::is_control) {
            return Err(IdError::new("seat id", v, "must not contain control characters"));
        }
        Ok(())
    }
);

string_id!(
    /// An insured person's number (人员编号, `psn_no`) on the national platform: 1 to 40 letters or digits.
    PsnNo,
    |v| {
        if v.is_empty() || v.len() > 40 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IdError::new("psn_no", v, "must be 1 to 40 letters or digits"));
        }
        Ok(())
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn institution_codes() {
        assert!("H43060200175".parse::<InstitutionCode>().is_ok());
        assert!("P43060200175".parse::<InstitutionCode>().is_ok());
        for bad in [
            "",
            "H4306020017",
            "H430602001755",
            "X43060200175",
            "h43060200175",
            "H4306020017a",
        ] {
            let err = bad.parse::<InstitutionCode>().unwrap_err();
            assert_eq!(err.kind, "institution code", "{bad}");
        }
    }

    #[test]
    fn device_ids_are_topic_safe() {
        assert!("hd-ward3.box_1".parse::<DeviceId>().is_ok());
        for bad in ["", "-x", "a/b", "a+b", "a#", "$sys", "a b", &"x".repeat(65)] {
            assert!(bad.parse::<DeviceId>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn seat_ids() {
        for good in ["chair-3", "床7", "A 12", &"x".repeat(32), &"床".repeat(32)] {
            assert!(good.parse::<SeatId>().is_ok(), "{good:?} refused");
        }
        for bad in ["", "chair\n3", "tab\there", "\u{7f}", &"x".repeat(33)] {
            let err = bad.parse::<SeatId>().unwrap_err();
            assert_eq!(err.kind, "seat id", "{bad:?}");
        }
    }

    #[test]
    fn psn_no() {
        assert!("43060219800101123X".parse::<PsnNo>().is_ok());
        assert!("43-06".parse::<PsnNo>().is_err());
    }
}
