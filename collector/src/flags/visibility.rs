//! What each reader may see of the flags: the one place that decides, for the JSON API, the web app and
//! any other reader. The bureau sees everything. An institution sees only its own flags, and only once
//! they have been issued to it (下发, [`FlagState::issued_to_institution`]): never while they wait for
//! review, were excluded, or were confirmed but not yet sent. In what it sees, another institution's
//! records are withheld: a flag's evidence loses every object naming another institution (its code,
//! the patient it names, its fee line, its times) and every text carrying another institution's code,
//! and its fee lines are only the institution's own.

use super::workflow::FlagState;
use serde_json::{Map, Value};
use wardwatch_protocol::InstitutionCode;

/// Who reads the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// Auditors and admins: every flag, unredacted.
    Bureau,
    /// An institution's user: its own issued flags, redacted.
    Institution(InstitutionCode),
}

/// What replaces a withheld record in an institution's view of the evidence.
pub const WITHHELD: &str = "其他机构的记录已隐去 another institution's record withheld";

/// The keys that name the institution an evidence object is about.
const INSTITUTION_KEYS: [&str; 2] = ["institution", "fixmedins_code"];

impl Viewer {
    /// True when this viewer may see a flag of `institution` in `state`.
    pub fn may_see(&self, institution: &InstitutionCode, state: FlagState) -> bool {
        match self {
            Viewer::Bureau => true,
            Viewer::Institution(own) => own == institution && state.issued_to_institution(),
        }
    }

    /// The states this viewer may see flags in.
    pub fn visible_states(&self) -> Vec<FlagState> {
        FlagState::ALL
            .into_iter()
            .filter(|s| matches!(self, Viewer::Bureau) || s.issued_to_institution())
            .collect()
    }

    /// The institution this viewer is restricted to, if any.
    pub fn institution(&self) -> Option<&InstitutionCode> {
        match self {
            Viewer::Bureau => None,
            Viewer::Institution(own) => Some(own),
        }
    }

    /// `evidence` as this viewer may see it (see the module doc).
    pub fn redact_evidence(&self, evidence: &Value) -> Value {
        match self {
            Viewer::Bureau => evidence.clone(),
            Viewer::Institution(own) => redact(own, evidence),
        }
    }
}

fn redact(own: &InstitutionCode, value: &Value) -> Value {
    match value {
        Value::Object(map) if names_another(own, map) => {
            let mut kept = Map::new();
            kept.insert("withheld".into(), Value::String(WITHHELD.into()));
            // What kind of record it was (`billed`, `seen`) says what the institution answers for
            // without saying where.
            if let Some(kind @ Value::String(_)) = map.get("kind") {
                kept.insert("kind".into(), kind.clone());
            }
            Value::Object(kept)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), redact(own, v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| redact(own, v)).collect()),
        Value::String(text) if mentions_another(own, text) => Value::String(WITHHELD.into()),
        other => other.clone(),
    }
}

/// True when the object says it is about an institution other than `own`.
fn names_another(own: &InstitutionCode, map: &Map<String, Value>) -> bool {
    INSTITUTION_KEYS.iter().any(|key| match map.get(*key) {
        Some(Value::String(code)) => code != own.as_str(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    })
}

/// True when `text` contains an institution code (`H`/`P` and 11 digits) other than `own`.
fn mentions_another(own: &InstitutionCode, text: &str) -> bool {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(11)).any(|i| {
        let window = &bytes[i..i + 12];
        let before_is_digit = i > 0 && bytes[i - 1].is_ascii_digit();
        let after_is_digit = bytes.get(i + 12).is_some_and(u8::is_ascii_digit);
        (window[0] == b'H' || window[0] == b'P')
            && window[1..].iter().all(u8::is_ascii_digit)
            && !before_is_digit
            && !after_is_digit
            && window != own.as_str().as_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn own() -> InstitutionCode {
        "H43060200175".parse().expect("code")
    }

    #[test]
    fn an_institution_sees_its_own_flags_once_issued() {
        let viewer = Viewer::Institution(own());
        let other: InstitutionCode = "H43060200999".parse().expect("code");
        assert!(!viewer.may_see(&own(), FlagState::Pending));
        assert!(!viewer.may_see(&own(), FlagState::Confirmed));
        assert!(!viewer.may_see(&own(), FlagState::Excluded));
        assert!(viewer.may_see(&own(), FlagState::Issued));
        assert!(!viewer.may_see(&other, FlagState::Issued));
        assert!(Viewer::Bureau.may_see(&other, FlagState::Pending));
        assert_eq!(Viewer::Bureau.visible_states().len(), FlagState::ALL.len());
        assert!(!viewer.visible_states().contains(&FlagState::Pending));
    }

    #[test]
    fn another_institutions_records_are_withheld_from_the_evidence() {
        let evidence = json!({
            "date": "2026-11-03",
            "conflicts": [{
                "own": {"institution": "H43060200175", "kind": "billed", "feedetl_sn": "L1"},
                "other": {"institution": "H43060200999", "kind": "billed", "feedetl_sn": "L9",
                          "start_ms": 1, "end_ms": 2},
                "overlap_minutes": 240.0,
            }],
            "enrolled_first": {"psn_no": "4306009", "fixmedins_code": "P43060200888"},
            "note": "also billed at H43060200999 that day",
            "own_note": "billed at H43060200175",
            "count": 3,
        });
        let seen = Viewer::Institution(own()).redact_evidence(&evidence);
        let text = seen.to_string();
        for secret in ["H43060200999", "P43060200888", "L9", "4306009", "start_ms"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(seen["conflicts"][0]["own"], evidence["conflicts"][0]["own"]);
        assert_eq!(seen["conflicts"][0]["other"]["kind"], "billed");
        assert_eq!(seen["conflicts"][0]["other"]["withheld"], WITHHELD);
        assert_eq!(seen["conflicts"][0]["overlap_minutes"], 240.0);
        assert_eq!(seen["own_note"], "billed at H43060200175");
        assert_eq!(seen["count"], 3);
        assert_eq!(Viewer::Bureau.redact_evidence(&evidence), evidence);
    }
}
