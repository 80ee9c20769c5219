//! CSRF: every state-changing form carries its session's random token in a hidden `csrf` field, and a
//! POST whose field is missing or different is answered 403 before anything is done. (The login form,
//! which has no session yet, uses a double-submit cookie instead: [`LOGIN_COOKIE`].) Comparison takes the
//! same time whatever the content.

/// The cookie holding the login form's token.
pub const LOGIN_COOKIE: &str = "ww_login";
/// The form field.
pub const FIELD: &str = "csrf";

/// True when `sent` is present and equals `expected` (constant time for equal lengths).
pub fn matches(expected: &str, sent: Option<&str>) -> bool {
    let Some(sent) = sent else { return false };
    if expected.is_empty() || sent.len() != expected.len() {
        return false;
    }
    sent.bytes()
        .zip(expected.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn only_the_exact_token_passes() {
        assert!(matches("abc123", Some("abc123")));
        assert!(!matches("abc123", Some("abc124")));
        assert!(!matches("abc123", Some("abc12")));
        assert!(!matches("abc123", None));
        assert!(!matches("", Some("")));
    }
}
