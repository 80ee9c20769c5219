//! Keeping camera passwords out of messages. The configuration may hold them as `password = "…"` or
//! inside a URL (`rtsp://user:pass@host/…`); a TOML error quotes the line it found wrong, and a serde
//! error can quote a value, so every configuration error is passed through [`redact`] before it is
//! shown, with the secrets [`secrets_in`] finds in the file's text — whether or not the text parses.

/// Every password of `text` as it may appear in a message: `password` values (as written and as
/// TOML reads them) and the passwords of URLs' user info (as written and percent-decoded). Longest
/// first, so that masking one never leaves part of a longer one.
pub fn secrets_in(text: &str) -> Vec<String> {
    let mut found = url_passwords(text);
    found.extend(password_assignments(text));
    if let Ok(table) = toml::from_str::<toml::Table>(text) {
        collect_from_table(&table, &mut found);
    }
    found.retain(|s| !s.is_empty());
    found.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    found.dedup();
    found
}

/// `message` with every secret of the configuration `text` replaced by `***`.
pub fn redact(message: &str, text: &str) -> String {
    let mut out = message.to_owned();
    for secret in secrets_in(text) {
        out = out.replace(&secret, "***");
    }
    out
}

/// The passwords in the user info of every `scheme://user:password@host` in `text`, as written and
/// percent-decoded.
pub fn url_passwords(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        rest = &rest[at + 3..];
        let authority_end = rest
            .find(|c: char| matches!(c, '/' | '"' | '\'' | '?' | '#') || c.is_whitespace())
            .unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some((userinfo, _host)) = authority.rsplit_once('@')
            && let Some((_user, password)) = userinfo.split_once(':')
        {
            found.push(password.to_owned());
            if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8() {
                found.push(decoded.into_owned());
            }
        }
    }
    found
}

/// The raw values written after `password =` anywhere in `text` (quoted or bare), for text that may
/// not parse as TOML.
fn password_assignments(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("password") {
        rest = &rest[at + "password".len()..];
        let after_key = rest.trim_start_matches([' ', '\t', '"', '\'']);
        let Some(value) = after_key.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start_matches([' ', '\t']);
        let raw = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let body = &value[1..];
                let mut end = body.len();
                let mut escaped = false;
                for (i, c) in body.char_indices() {
                    if c == quote && !(quote == '"' && escaped) {
                        end = i;
                        break;
                    }
                    escaped = quote == '"' && c == '\\' && !escaped;
                }
                &body[..end]
            }
            _ => {
                let end = value
                    .find(|c: char| matches!(c, ',' | '}' | '#') || c.is_whitespace())
                    .unwrap_or(value.len());
                &value[..end]
            }
        };
        found.push(raw.to_owned());
    }
    found
}

fn collect_from_table(table: &toml::Table, found: &mut Vec<String>) {
    for (key, value) in table {
        if key == "password" {
            match value {
                toml::Value::String(s) => found.push(s.clone()),
                other => found.push(other.to_string()),
            }
        }
        collect_from_value(value, found);
    }
}

fn collect_from_value(value: &toml::Value, found: &mut Vec<String>) {
    match value {
        toml::Value::String(s) if s.contains("://") => found.extend(url_passwords(s)),
        toml::Value::Table(table) => collect_from_table(table, found),
        toml::Value::Array(items) => {
            for item in items {
                collect_from_value(item, found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_in_urls_and_assignments_even_in_broken_text() {
        let text = "url = \"rtsp://admin:p%40ss@192.0.2.10/x\"\npassword = \"q\\\"w\" }\n\
                    other = { password = 12345, url = 'rtsp://u:lit@h/' }\n[broken";
        let found = secrets_in(text);
        for secret in ["p%40ss", "p@ss", "q\\\"w", "12345", "lit"] {
            assert!(found.contains(&secret.to_owned()), "{secret} in {found:?}");
        }
        assert_eq!(
            redact("line 1: rtsp://admin:p%40ss@192.0.2.10/x and 12345", text),
            "line 1: rtsp://admin:***@192.0.2.10/x and ***"
        );
    }

    #[test]
    fn parsed_values_are_found_as_toml_reads_them() {
        let text = "[camera.source]\npassword = \"a\\u0041b\"\n";
        assert!(secrets_in(text).contains(&"aAb".to_owned()));
        assert!(url_passwords("mqtt://host:1883 rtsp://user@host/").is_empty());
    }
}
