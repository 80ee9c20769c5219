//! Passwords: argon2id hashes in PHC string form (algorithm, parameters and salt travel with the
//! hash), the length rule, and one-time initial passwords for `users add --initial-password`.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest password accepted (hashing is deliberately slow: bound the work an attacker can ask for).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A password could not be hashed or is not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too short or too long.
    #[error("a password needs {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")]
    Length,
    /// The system's random source failed.
    #[error("cannot draw random bytes: {0}")]
    Random(String),
    /// argon2 refused (should not happen with our parameters).
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// argon2id with the OWASP-recommended m=19 MiB, t=2, p=1.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the length rule.
pub fn check_policy(password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        Ok(())
    } else {
        Err(PasswordError::Length)
    }
}

/// The argon2id PHC string of `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    check_policy(password)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// True when `password` matches the stored PHC string (false for a string that does not parse).
pub fn verify(password: &str, stored: &str) -> bool {
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return false;
    }
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Burns the time of one verification, so that an unknown user name answers as slowly as a wrong
/// password (no user enumeration by timing).
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if let Some(dummy) = DUMMY.get_or_init(|| hash("not-a-real-password").ok()) {
        let _ = verify(password, dummy);
    }
}

/// A one-time initial password: 16 characters from an alphabet without look-alikes (0/O, 1/l/I).
pub fn initial_password() -> Result<String, PasswordError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| PasswordError::Random(e.to_string()))?;
    // 256 is not a multiple of 56: the first 32 letters are drawn a little more often, which leaves
    // well over 90 bits for 16 characters.
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hashes_verify_and_salts_differ() {
        let a = hash("correct horse battery").expect("hash");
        let b = hash("correct horse battery").expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "fresh salt each time");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterY", &a));
        assert!(!verify("correct horse battery", "not a hash"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(hash("short"), Err(PasswordError::Length)));
        assert!(check_policy("exactly10!").is_ok());
        let p = initial_password().expect("random");
        assert_eq!(p.chars().count(), 16);
        assert!(check_policy(&p).is_ok());
        assert_ne!(p, initial_password().expect("random"));
    }
}
