//! The interface's words: one catalogue per language (`zh-CN.toml`, `en.toml`, compiled in), flattened to
//! `section.key` → text. Simplified Chinese is the default; a cookie switches to English. A key missing
//! from a catalogue shows as `⟦key⟧` (a test makes sure none is missing from either, and that every key
//! a template asks for exists).

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The interface language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文 (default).
    ZhCn,
    /// English.
    En,
}

/// The cookie that holds the chosen language.
pub const LANG_COOKIE: &str = "ww_lang";

impl Lang {
    /// The code in the cookie and in `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    /// Parses a cookie value; anything else is Chinese.
    pub fn from_code(code: Option<&str>) -> Lang {
        match code {
            Some("en") => Lang::En,
            _ => Lang::ZhCn,
        }
    }

    /// The other language (the toggle).
    pub fn other(self) -> Lang {
        match self {
            Lang::ZhCn => Lang::En,
            Lang::En => Lang::ZhCn,
        }
    }

    /// This language's catalogue.
    pub fn catalogue(self) -> &'static Catalogue {
        static ZH: OnceLock<Catalogue> = OnceLock::new();
        static EN: OnceLock<Catalogue> = OnceLock::new();
        match self {
            Lang::ZhCn => ZH.get_or_init(|| Catalogue::parse(include_str!("zh-CN.toml"))),
            Lang::En => EN.get_or_init(|| Catalogue::parse(include_str!("en.toml"))),
        }
    }
}

/// One language's texts by `section.key`.
#[derive(Debug, Default)]
pub struct Catalogue {
    texts: BTreeMap<String, String>,
}

impl Catalogue {
    /// Parses a compiled-in catalogue. It is part of the binary, so a broken one is a build defect
    /// (the tests parse both): it then yields an empty catalogue and every text shows its key.
    fn parse(text: &str) -> Catalogue {
        let table: toml::Table = match text.parse() {
            Ok(table) => table,
            Err(e) => {
                tracing::error!(error = %e, "web catalogue does not parse");
                return Catalogue::default();
            }
        };
        let mut texts = BTreeMap::new();
        for (section, entries) in table {
            if let toml::Value::Table(entries) = entries {
                for (key, value) in entries {
                    if let toml::Value::String(value) = value {
                        texts.insert(format!("{section}.{key}"), value);
                    }
                }
            }
        }
        Catalogue { texts }
    }

    /// The text for `key`, or `⟦key⟧` when missing.
    pub fn text(&self, key: &str) -> String {
        self.texts
            .get(key)
            .cloned()
            .unwrap_or_else(|| format!("⟦{key}⟧"))
    }

    /// The text for `key`, if the catalogue has it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.texts.get(key).map(String::as_str)
    }

    /// Every key.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.texts.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn both_catalogues_have_the_same_keys_and_no_empty_text() {
        let zh: BTreeSet<&str> = Lang::ZhCn.catalogue().keys().collect();
        let en: BTreeSet<&str> = Lang::En.catalogue().keys().collect();
        assert!(zh.len() > 100, "zh-CN catalogue parsed: {} keys", zh.len());
        let only_zh: Vec<_> = zh.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&zh).collect();
        assert!(only_zh.is_empty(), "missing in en.toml: {only_zh:?}");
        assert!(only_en.is_empty(), "missing in zh-CN.toml: {only_en:?}");
        for lang in [Lang::ZhCn, Lang::En] {
            for key in lang.catalogue().keys() {
                assert!(!lang.catalogue().text(key).trim().is_empty(), "{key} empty");
            }
        }
    }

    #[test]
    fn every_state_action_and_rule_has_a_name() {
        use crate::flags::workflow::{Action, FlagState};
        use crate::rules::RuleId;
        let keys = FlagState::ALL
            .iter()
            .map(|s| format!("state.{}", s.as_str()))
            .chain(Action::ALL.iter().map(|a| format!("action.{}", a.as_str())))
            .chain(RuleId::ALL.iter().map(|r| format!("rule.{}", r.as_str())));
        for key in keys {
            for lang in [Lang::ZhCn, Lang::En] {
                assert!(
                    lang.catalogue().get(&key).is_some(),
                    "{} lacks {key}",
                    lang.code()
                );
            }
        }
    }

    #[test]
    fn unknown_language_codes_mean_chinese() {
        assert_eq!(Lang::from_code(None), Lang::ZhCn);
        assert_eq!(Lang::from_code(Some("fr")), Lang::ZhCn);
        assert_eq!(Lang::from_code(Some("en")), Lang::En);
        assert_eq!(Lang::En.catalogue().text("no.such"), "⟦no.such⟧");
    }
}
