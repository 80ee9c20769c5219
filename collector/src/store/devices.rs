//! The device registry: which ward boxes may send events, for which institution, with which key.

use super::{Store, StoreError, now_ms};
use sqlx::Row;
use wardwatch_protocol::{Connection, DeviceId, DeviceStatus, InstitutionCode, PublicKey};

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The device id.
    pub device_id: DeviceId,
    /// Its institution.
    pub institution_code: InstitutionCode,
    /// Its Ed25519 public key.
    pub public_key: PublicKey,
    /// A ward box in production, or a box for tests and demos.
    pub purpose: DevicePurpose,
}

/// What a device is registered for. Test data (events sealed in test mode, heartbeats saying a
/// camera reads a recording) is refused from a production device as `test_source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevicePurpose {
    /// A ward box whose events are evidence (the default).
    #[default]
    Production,
    /// A box for tests and demos, whose recorded sources are expected.
    Tests,
}

impl DevicePurpose {
    /// The stored code (`production`, `tests`).
    pub fn as_str(self) -> &'static str {
        match self {
            DevicePurpose::Production => "production",
            DevicePurpose::Tests => "tests",
        }
    }

    fn from_stored(code: &str) -> Option<DevicePurpose> {
        match code {
            "production" => Some(DevicePurpose::Production),
            "tests" => Some(DevicePurpose::Tests),
            _ => None,
        }
    }
}

/// What `add` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// Newly registered.
    Added,
    /// Already registered with the same institution and key.
    Unchanged,
}

/// Registering failed.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The id is taken by a registration with another key, institution or purpose.
    #[error(
        "device {0} is already registered with a different key, institution or purpose; \
         a device's key is never silently replaced (devices rotate-key, devices set-purpose)"
    )]
    Conflict(DeviceId),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Registers a device (idempotent for the same key and institution).
    pub async fn add_device(&self, device: &Device) -> Result<AddOutcome, AddError> {
        let inserted = sqlx::query(
            "INSERT INTO devices (device_id, institution_code, public_key, registered_at_ms, purpose) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id) DO NOTHING",
        )
        .bind(device.device_id.as_str())
        .bind(device.institution_code.as_str())
        .bind(device.public_key.to_string())
        .bind(now_ms())
        .bind(device.purpose.as_str())
        .execute(self.pool())
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        if inserted == 1 {
            return Ok(AddOutcome::Added);
        }
        let existing = self
            .devices()
            .await?
            .into_iter()
            .find(|d| d.device_id == device.device_id);
        match existing {
            Some(d) if d == *device => Ok(AddOutcome::Unchanged),
            _ => Err(AddError::Conflict(device.device_id.clone())),
        }
    }

    /// Changes what a registered device is for (a test box put into a ward, or taken out); returns
    /// false when no such device is registered.
    pub async fn set_device_purpose(
        &self,
        device: &DeviceId,
        purpose: DevicePurpose,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE devices SET purpose = $1 WHERE device_id = $2")
            .bind(purpose.as_str())
            .bind(device.as_str())
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    /// Records a device's connection status when it changed. An `online` carries the agent's connect
    /// time; an `offline` (the last will) is dated when the collector first hears it. A retained message
    /// re-delivered on the collector's reconnect changes nothing, as its state is already recorded.
    pub async fn record_status(
        &self,
        device: &DeviceId,
        status: &DeviceStatus,
        retained: bool,
    ) -> Result<(), StoreError> {
        let state = match status.state {
            Connection::Online => "online",
            Connection::Offline => "offline",
        };
        let now = now_ms();
        let since = status.at.map(|t| t.millis()).unwrap_or(now);
        let changed = sqlx::query(
            "INSERT INTO device_status (device_id, state, since_ms, received_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (device_id) DO UPDATE SET state = excluded.state, \
             since_ms = excluded.since_ms, received_at_ms = excluded.received_at_ms \
             WHERE device_status.state <> excluded.state \
             OR (excluded.state = 'online' AND device_status.since_ms <> excluded.since_ms)",
        )
        .bind(device.as_str())
        .bind(state)
        .bind(since)
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed > 0 {
            tracing::info!(%device, state, retained, "device connection status");
        }
        Ok(())
    }

    /// Each registered device's connection state and since when (epoch ms), if it ever reported one.
    pub async fn device_states(
        &self,
    ) -> Result<std::collections::HashMap<String, (String, Option<i64>)>, StoreError> {
        let rows = sqlx::query("SELECT device_id, state, since_ms FROM device_status")
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?))))
            .collect()
    }

    /// Every registered device, by id.
    pub async fn devices(&self) -> Result<Vec<Device>, StoreError> {
        let rows = sqlx::query(
            "SELECT device_id, institution_code, public_key, purpose FROM devices ORDER BY device_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|row| {
                let corrupt = |what, why: String| StoreError::Corrupt { what, why };
                Ok(Device {
                    device_id: row.try_get::<String, _>(0)?.parse().map_err(
                        |e: wardwatch_protocol::IdError| corrupt("device id", e.to_string()),
                    )?,
                    institution_code: row.try_get::<String, _>(1)?.parse().map_err(
                        |e: wardwatch_protocol::IdError| corrupt("institution code", e.to_string()),
                    )?,
                    public_key: row.try_get::<String, _>(2)?.parse().map_err(
                        |e: wardwatch_protocol::crypto::PublicKeyError| {
                            corrupt("public key", e.to_string())
                        },
                    )?,
                    purpose: {
                        let code: String = row.try_get(3)?;
                        DevicePurpose::from_stored(&code).ok_or_else(|| {
                            corrupt("device purpose", format!("unknown code {code:?}"))
                        })?
                    },
                })
            })
            .collect()
    }
}
