//! A patient's removal from the gallery on request (PIPL: consent withdrawn, or the person's
//! enrolment ended): every enrolment embedding of one insured person at one institution is deleted,
//! and the deletion itself is recorded in the hash-chained access log in the same transaction — who,
//! when, which person at which institution, why, how many embeddings — so the record cannot be lost
//! without the deletion, nor the deletion happen unrecorded. The republish loop (`serve --bureau-key`,
//! [`super::republish`]) then signs the institution's next gallery version without the person, and its
//! ward boxes take it (an institution left with nobody gets an empty gallery); `gallery publish` does
//! the same once.
//!
//! Only enrolment embeddings are the patient's gallery: unknown faces' embeddings (kept on presence
//! intervals) are tied to no enrolled person and are not touched here (`[retention]
//! unknown_embedding_days` governs them), nor is presence already recorded under the person's insurance
//! number, which is billing evidence under its own retention period.

use crate::api::access::{AccessEntry, append_access};
use crate::store::{Store, StoreError, now_ms};
use wardwatch_protocol::{InstitutionCode, PsnNo};

/// Longest reason accepted.
pub const MAX_REASON_CHARS: usize = 2_000;
/// Longest name of whoever removes.
pub const MAX_BY_CHARS: usize = 200;

/// One removal request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The institution that enrolled the person.
    pub institution: InstitutionCode,
    /// The insured person.
    pub psn_no: PsnNo,
    /// Who removes (an API user's name, or the operator named on the command line).
    pub by: String,
    /// Their role (`admin` for the API; `operator` on the command line).
    pub role: String,
    /// Why (the request's reference and ground).
    pub reason: String,
    /// How it came: the access-log method and path (`CLI` and `gallery remove`, or the API request's).
    pub method: String,
    /// See [`Removal::method`].
    pub path: String,
}

/// What a removal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// Embeddings deleted.
    pub embeddings: u64,
    /// The access-log entry recorded for it.
    pub record: AccessEntry,
}

/// A removal was not done.
#[derive(Debug, thiserror::Error)]
pub enum RemovalError {
    /// The person has no enrolment embedding at that institution (nothing deleted, nothing recorded).
    #[error("{psn_no} is not enrolled in the gallery of {institution}: nothing removed")]
    NotEnrolled {
        /// The institution.
        institution: InstitutionCode,
        /// The person.
        psn_no: PsnNo,
    },
    /// The request is incomplete.
    #[error("{field}: {why}")]
    Input {
        /// Which part.
        field: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The database failed (nothing deleted).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RemovalError {
    fn from(e: sqlx::Error) -> Self {
        RemovalError::Store(StoreError::Query(e))
    }
}

fn check(field: &'static str, text: &str, max: usize) -> Result<(), RemovalError> {
    let why = if text.trim().is_empty() {
        "must be given".to_owned()
    } else if text.chars().count() > max {
        format!("at most {max} characters")
    } else {
        return Ok(());
    };
    Err(RemovalError::Input { field, why })
}

impl Store {
    /// Deletes every enrolment embedding of `removal.psn_no` at `removal.institution` and records the
    /// deletion in the access log, in one transaction.
    pub async fn remove_from_gallery(&self, removal: &Removal) -> Result<Removed, RemovalError> {
        check("reason", &removal.reason, MAX_REASON_CHARS)?;
        check("by", &removal.by, MAX_BY_CHARS)?;
        let mut tx = self.pool().begin().await?;
        let deleted =
            sqlx::query("DELETE FROM gallery_embeddings WHERE fixmedins_code = $1 AND psn_no = $2")
                .bind(removal.institution.as_str())
                .bind(removal.psn_no.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if deleted == 0 {
            return Err(RemovalError::NotEnrolled {
                institution: removal.institution.clone(),
                psn_no: removal.psn_no.clone(),
            });
        }
        let record = AccessEntry {
            at_ms: now_ms(),
            user_name: removal.by.clone(),
            role: removal.role.clone(),
            method: removal.method.clone(),
            path: removal.path.clone(),
            status: 200,
            flag_id: None,
            detail: format!(
                "gallery removal: {deleted} enrolment embedding(s) of {} at {} deleted at the \
                 person's request; reason: {}",
                removal.psn_no,
                removal.institution,
                removal.reason.trim()
            ),
        };
        append_access(&mut tx, &record).await?;
        tx.commit().await?;
        tracing::info!(
            institution = %removal.institution,
            by = %removal.by,
            embeddings = deleted,
            "patient removed from the gallery"
        );
        Ok(Removed {
            embeddings: deleted,
            record,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gallery::publish::{GalleryOptions, prepare};
    use crate::store::StoreLocation;
    use crate::store::devices::{Device, DevicePurpose};
    use crate::store::log_chain::ChainedLog;
    use wardwatch_protocol::{PublicKey, SigningKey};

    fn line(institution: &str, psn: &str, seed: f32) -> String {
        let embedding: Vec<f32> = (0..128).map(|i| ((i as f32 + 1.0) * seed).sin()).collect();
        format!(
            "{{\"fixmedins_code\":\"{institution}\",\"psn_no\":\"{psn}\",\"model\":\"fr_feature\",\"embedding\":{}}}\n",
            serde_json::to_string(&embedding).expect("json")
        )
    }

    fn removal(institution: &str, psn: &str) -> Removal {
        Removal {
            institution: institution.parse().expect("institution"),
            psn_no: psn.parse().expect("psn_no"),
            by: "张三 (bureau data officer)".into(),
            role: "operator".into(),
            reason: "PIPL withdrawal request 2026-117".into(),
            method: "CLI".into(),
            path: "gallery remove".into(),
        }
    }

    #[tokio::test]
    async fn a_removed_patient_leaves_the_gallery_and_the_next_version_and_the_removal_is_logged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&StoreLocation::DataDir(dir.path().to_owned()))
            .await
            .expect("store");
        let (a, b) = ("H43060200175", "H43060200176");
        let (gone, stays) = ("430600000000000001", "430600000000000002");
        let file = [
            line(a, gone, 0.3),
            line(a, gone, 0.7),
            line(a, stays, 1.1),
            // The same person enrolled at another institution: not part of this request.
            line(b, gone, 0.3),
        ]
        .concat();
        store.import_gallery(file.as_bytes()).await.expect("import");
        for (n, institution) in [a, b].into_iter().enumerate() {
            store
                .add_device(&Device {
                    device_id: format!("box-{n}").parse().expect("device"),
                    institution_code: institution.parse().expect("institution"),
                    public_key: PublicKey::of(&SigningKey::from_bytes(&[n as u8 + 1; 32])),
                    purpose: DevicePurpose::Production,
                })
                .await
                .expect("device");
        }
        let bureau = SigningKey::from_bytes(&[9; 32]);
        let before = prepare(&store, &bureau, &GalleryOptions::default())
            .await
            .expect("prepare");
        assert_eq!(before[0].gallery.entries.len(), 2);

        // Refused without a reason, or for someone not enrolled: nothing deleted, nothing logged.
        let mut no_reason = removal(a, gone);
        no_reason.reason = "  ".into();
        assert!(matches!(
            store.remove_from_gallery(&no_reason).await,
            Err(RemovalError::Input {
                field: "reason",
                ..
            })
        ));
        assert!(matches!(
            store
                .remove_from_gallery(&removal(a, "430600000000000099"))
                .await,
            Err(RemovalError::NotEnrolled { .. })
        ));
        assert!(store.access_log().await.expect("log").is_empty());

        let removed = store
            .remove_from_gallery(&removal(a, gone))
            .await
            .expect("removed");
        assert_eq!(removed.embeddings, 2);
        let left: Vec<(String, String)> = store
            .gallery()
            .await
            .expect("gallery")
            .into_iter()
            .map(|e| (e.fixmedins_code, e.psn_no))
            .collect();
        assert_eq!(
            left,
            vec![(a.into(), stays.into()), (b.into(), gone.into())],
            "only the person's embeddings at that institution went"
        );

        // The deletion is in the (chained) access log: who, when, which person, why.
        let log = store.access_log().await.expect("log");
        assert_eq!(log, vec![removed.record.clone()]);
        let entry = &log[0];
        assert_eq!(entry.user_name, "张三 (bureau data officer)");
        assert!(
            entry.detail.contains(gone) && entry.detail.contains(a),
            "{entry:?}"
        );
        assert!(entry.detail.contains("PIPL withdrawal request 2026-117"));
        assert!(entry.at_ms > 0);
        let chain = store
            .verify_log(ChainedLog::Access, &[])
            .await
            .expect("verify");
        assert!(chain.problems.is_empty(), "{:?}", chain.problems);
        assert_eq!(chain.rows, 1);

        // The next publication is a new version without the person; the other institution's is
        // unchanged.
        let after = prepare(&store, &bureau, &GalleryOptions::default())
            .await
            .expect("prepare");
        let a_gallery = &after[0].gallery;
        assert!(after[0].new_version);
        assert_eq!(a_gallery.version, before[0].gallery.version + 1);
        let people: Vec<String> = a_gallery
            .entries
            .iter()
            .map(|e| e.psn_no.to_string())
            .collect();
        assert_eq!(people, vec![stays.to_owned()]);
        assert!(!after[1].new_version, "institution {b} is unchanged");

        // The last person leaves: the institution's boxes get an empty gallery, not the old one.
        store
            .remove_from_gallery(&removal(a, stays))
            .await
            .expect("removed");
        let empty = prepare(&store, &bureau, &GalleryOptions::default())
            .await
            .expect("prepare");
        assert!(empty[0].new_version);
        assert!(empty[0].gallery.entries.is_empty());
    }
}
