//! Evidence crops as stored: the `evidence` events, with where they came from and their body as
//! received (the API parses the body and serves the JPEG).

use super::{Store, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored `evidence` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvidence {
    /// The event id.
    pub event_id: String,
    /// The device that sent it.
    pub device_id: String,
    /// The device's institution.
    pub institution_code: String,
    /// Its seq in the device's chain.
    pub seq: i64,
    /// The event's JSON, as received.
    pub body: String,
}

impl StoredEvidence {
    fn from_row(row: &AnyRow) -> Result<StoredEvidence, StoreError> {
        Ok(StoredEvidence {
            event_id: row.try_get(0)?,
            device_id: row.try_get(1)?,
            institution_code: row.try_get(2)?,
            seq: row.try_get(3)?,
            body: row.try_get(4)?,
        })
    }
}

impl Store {
    /// The evidence events received, newest first (at most 1000).
    pub async fn evidence_events(&self) -> Result<Vec<StoredEvidence>, StoreError> {
        let rows = sqlx::query(
            "SELECT event_id, device_id, institution_code, seq, body FROM events \
             WHERE kind = 'evidence' ORDER BY received_at_ms DESC, seq DESC LIMIT 1000",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(StoredEvidence::from_row).collect()
    }

    /// The evidence events of `institution`'s boxes sent in [`from_ms`, `to_ms`), oldest first (at
    /// most 200): the crops around one flag's billed slot.
    pub async fn evidence_events_between(
        &self,
        institution: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<StoredEvidence>, StoreError> {
        let rows = sqlx::query(
            "SELECT event_id, device_id, institution_code, seq, body FROM events \
             WHERE kind = 'evidence' AND institution_code = $1 AND sent_at_ms >= $2 \
             AND sent_at_ms < $3 ORDER BY sent_at_ms, seq LIMIT 200",
        )
        .bind(institution)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(StoredEvidence::from_row).collect()
    }

    /// The evidence event `event_id`, if there is one.
    pub async fn evidence_event(
        &self,
        event_id: &str,
    ) -> Result<Option<StoredEvidence>, StoreError> {
        let row = sqlx::query(
            "SELECT event_id, device_id, institution_code, seq, body FROM events \
             WHERE kind = 'evidence' AND event_id = $1",
        )
        .bind(event_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(StoredEvidence::from_row).transpose()
    }
}
