//! Appeal attachments kept within bounds: a file name checked at the edge ([`AttachmentName`]: no path,
//! no control characters, no bidirectional overrides that make `harmless<U+202E>fdp.exe` read as
//! `harmlessexe.pdf`), and caps on how many files a flag may carry and how many bytes an institution's
//! flags may hold in all ([`AttachmentLimits`]), enforced in the same transaction as the insert.

use super::query::AttachmentMeta;
use crate::store::{Store, StoreError, now_ms};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::fmt;

/// The longest file name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Characters that reorder how text is displayed (Unicode bidirectional formatting characters: the
/// embeddings, overrides and isolates, and the implicit marks).
const BIDI_CONTROLS: [char; 12] = [
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

/// A checked attachment file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentName(String);

/// Why a file name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadName {
    /// Empty, or longer than [`MAX_NAME_CHARS`].
    #[error("must be 1 to {MAX_NAME_CHARS} characters")]
    Length,
    /// A path rather than a name.
    #[error("a plain file name: no `/`, `\\`, `.` or `..`")]
    Path,
    /// A control character (U+0000–U+001F, U+007F–U+009F).
    #[error("control character U+{0:04X} at character {1}: not allowed in a file name")]
    Control(u32, usize),
    /// A bidirectional formatting character.
    #[error(
        "bidirectional formatting character U+{0:04X} at character {1}: not allowed in a file name \
         (it can make a name display as something it is not)"
    )]
    Bidi(u32, usize),
}

impl AttachmentName {
    /// Checks `name`.
    pub fn parse(name: &str) -> Result<AttachmentName, BadName> {
        let count = name.chars().count();
        if count == 0 || count > MAX_NAME_CHARS {
            return Err(BadName::Length);
        }
        for (i, c) in name.chars().enumerate() {
            if c.is_control() {
                return Err(BadName::Control(u32::from(c), i + 1));
            }
            if BIDI_CONTROLS.contains(&c) {
                return Err(BadName::Bidi(u32::from(c), i + 1));
            }
        }
        if name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(BadName::Path);
        }
        Ok(AttachmentName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AttachmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an appeal file is, told by its content (its first bytes), never by its name: the web app
/// accepts only these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentKind {
    /// `%PDF-`.
    Pdf,
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// PNG (its 8-byte signature).
    Png,
}

/// Why a file's content is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadContent {
    /// Nothing was sent.
    #[error("the file is empty")]
    Empty,
    /// Larger than allowed.
    #[error("the file has {size} bytes; at most {limit}")]
    TooLarge {
        /// Its size (or the bytes read before giving up).
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// Not a PDF, JPEG or PNG by content.
    #[error("the file is not a PDF, JPEG or PNG by its content (it starts with {0})")]
    NotAllowed(String),
}

impl AttachmentKind {
    /// The kind of `content`, checking its size against `limit`.
    pub fn sniff(content: &[u8], limit: usize) -> Result<AttachmentKind, BadContent> {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        if content.is_empty() {
            return Err(BadContent::Empty);
        }
        if content.len() > limit {
            return Err(BadContent::TooLarge {
                size: content.len(),
                limit,
            });
        }
        if content.starts_with(b"%PDF-") {
            Ok(AttachmentKind::Pdf)
        } else if content.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Ok(AttachmentKind::Jpeg)
        } else if content.starts_with(PNG) {
            Ok(AttachmentKind::Png)
        } else {
            let head: Vec<String> = content.iter().take(8).map(|b| format!("{b:02X}")).collect();
            Err(BadContent::NotAllowed(head.join(" ")))
        }
    }

    /// The kind of a stored file, if it is one of these.
    pub fn of(content: &[u8]) -> Option<AttachmentKind> {
        AttachmentKind::sniff(content, usize::MAX).ok()
    }

    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            AttachmentKind::Pdf => "application/pdf",
            AttachmentKind::Jpeg => "image/jpeg",
            AttachmentKind::Png => "image/png",
        }
    }
}

/// How much the attachments may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentLimits {
    /// Files on one flag.
    pub per_flag: i64,
    /// Bytes on all the flags of one institution together.
    pub bytes_per_institution: i64,
}

impl Default for AttachmentLimits {
    /// 20 files a flag, 1 GiB an institution.
    fn default() -> AttachmentLimits {
        AttachmentLimits {
            per_flag: 20,
            bytes_per_institution: 1024 * 1024 * 1024,
        }
    }
}

/// An attachment could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    /// No such flag.
    #[error("flag {0} does not exist")]
    NoFlag(i64),
    /// The flag carries its maximum number of files.
    #[error("flag {flag} already has {count} attachments; at most {limit} per flag")]
    FlagFull {
        /// The flag.
        flag: i64,
        /// Files it has.
        count: i64,
        /// The cap.
        limit: i64,
    },
    /// The institution's flags hold their maximum bytes.
    #[error(
        "the attachments of institution {institution}'s flags would reach {would_be} bytes; at most \
         {limit} per institution"
    )]
    InstitutionFull {
        /// The institution.
        institution: String,
        /// Its total with this file.
        would_be: i64,
        /// The cap.
        limit: i64,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AttachmentError {
    fn from(e: sqlx::Error) -> Self {
        AttachmentError::Store(StoreError::Query(e))
    }
}

impl Store {
    /// Stores an attachment of flag `flag_id` if `limits` allow it (the caller checked who may).
    pub async fn add_attachment(
        &self,
        flag_id: i64,
        file_name: &AttachmentName,
        content: &[u8],
        uploaded_by: &str,
        limits: AttachmentLimits,
    ) -> Result<AttachmentMeta, AttachmentError> {
        let sha256 = hex::encode(Sha256::digest(content));
        let size = i64::try_from(content.len()).map_err(|_| StoreError::Corrupt {
            what: "attachment size",
            why: content.len().to_string(),
        })?;
        let at_ms = now_ms();
        let mut tx = self.pool().begin().await?;
        // Lock the flag (PostgreSQL); SQLite holds the database write lock from here on.
        sqlx::query("UPDATE flags SET updated_at_ms = updated_at_ms WHERE id = $1")
            .bind(flag_id)
            .execute(&mut *tx)
            .await?;
        let institution: String = sqlx::query("SELECT fixmedins_code FROM flags WHERE id = $1")
            .bind(flag_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(AttachmentError::NoFlag(flag_id))?
            .try_get(0)?;
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM flag_attachments WHERE flag_id = $1")
            .bind(flag_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if count >= limits.per_flag {
            return Err(AttachmentError::FlagFull {
                flag: flag_id,
                count,
                limit: limits.per_flag,
            });
        }
        let held: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(a.size), 0) AS BIGINT) FROM flag_attachments a \
             JOIN flags f ON f.id = a.flag_id WHERE f.fixmedins_code = $1",
        )
        .bind(&institution)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        if held.saturating_add(size) > limits.bytes_per_institution {
            return Err(AttachmentError::InstitutionFull {
                institution,
                would_be: held.saturating_add(size),
                limit: limits.bytes_per_institution,
            });
        }
        let id: i64 = sqlx::query(
            "INSERT INTO flag_attachments (flag_id, file_name, sha256, size, content, uploaded_by, \
             at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(flag_id)
        .bind(file_name.as_str())
        .bind(&sha256)
        .bind(size)
        .bind(content.to_vec())
        .bind(uploaded_by)
        .bind(at_ms)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        tx.commit().await?;
        Ok(AttachmentMeta {
            id,
            file_name: file_name.to_string(),
            sha256,
            size,
            uploaded_by: uploaded_by.to_owned(),
            at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_content_not_names() {
        assert_eq!(
            AttachmentKind::sniff(b"%PDF-1.4\n...", 100),
            Ok(AttachmentKind::Pdf)
        );
        assert_eq!(
            AttachmentKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0], 100),
            Ok(AttachmentKind::Jpeg)
        );
        assert_eq!(
            AttachmentKind::sniff(b"\x89PNG\r\n\x1a\n\0\0", 100),
            Ok(AttachmentKind::Png)
        );
        assert_eq!(AttachmentKind::sniff(b"", 100), Err(BadContent::Empty));
        assert_eq!(
            AttachmentKind::sniff(b"%PDF-1.4", 4),
            Err(BadContent::TooLarge { size: 8, limit: 4 })
        );
        let refused = AttachmentKind::sniff(b"MZ\x90\0 pretend.pdf", 100).expect_err("exe");
        assert_eq!(
            refused,
            BadContent::NotAllowed("4D 5A 90 00 20 70 72 65".into())
        );
    }

    #[test]
    fn names_with_paths_controls_or_bidi_overrides_are_refused() {
        assert!(AttachmentName::parse("病历 2026-11-02.pdf").is_ok());
        assert_eq!(
            AttachmentName::parse("invoice\u{202E}fdp.exe"),
            Err(BadName::Bidi(0x202E, 8))
        );
        for bidi in [
            '\u{202A}', '\u{202D}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            assert!(matches!(
                AttachmentName::parse(&format!("a{bidi}b.pdf")),
                Err(BadName::Bidi(..))
            ));
        }
        assert_eq!(
            AttachmentName::parse("a\rb.pdf"),
            Err(BadName::Control(0x0D, 2))
        );
        assert!(matches!(
            AttachmentName::parse("a\u{0085}b"),
            Err(BadName::Control(..))
        ));
        assert_eq!(AttachmentName::parse("../etc/passwd"), Err(BadName::Path));
        assert_eq!(AttachmentName::parse(".."), Err(BadName::Path));
        assert_eq!(AttachmentName::parse(""), Err(BadName::Length));
        assert_eq!(
            AttachmentName::parse(&"长".repeat(201)),
            Err(BadName::Length)
        );
        let message = BadName::Bidi(0x202E, 8).to_string();
        assert!(message.contains("U+202E"), "{message}");
    }
}
