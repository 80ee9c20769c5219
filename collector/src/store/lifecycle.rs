//! A device's life after registration: its key replaced from a time (a new box, a re-keyed one),
//! with the keys it replaced kept beside the seal times they covered, so every stored event stays
//! verifiable; and its revocation from a time (a stolen or retired box), after which events it seals
//! are refused at ingest as `device_revoked`.
//!
//! Both are dated by the time an event says it was sealed (`sent_at`), the only time its signature
//! covers. A thief holding a box's key can still sign events dated before the revocation; the
//! collector's other checks (the chain, seal times running forward along it) limit that to the gap
//! after the last event stored before the theft.

use super::{Store, StoreError, now_ms};
use sqlx::Row;
use std::collections::HashMap;
use wardwatch_protocol::{DeviceId, PublicKey, Timestamp};

/// A key a device used before its current one, for events sealed in `[valid_from_ms, valid_until_ms)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredKey {
    /// The key.
    pub public_key: PublicKey,
    /// First seal time it covers (epoch ms).
    pub valid_from_ms: i64,
    /// First seal time it no longer covers (epoch ms).
    pub valid_until_ms: i64,
}

/// A device's revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Events sealed at or after this (epoch ms) are refused.
    pub from_ms: i64,
    /// Why (from `devices revoke --reason`).
    pub reason: String,
}

/// What the collector trusts of a device beyond its registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceTrust {
    /// Since when (seal time, epoch ms) the registered key is the device's (0: always).
    pub key_from_ms: i64,
    /// Keys it replaced.
    pub retired: Vec<RetiredKey>,
    /// Its revocation, if revoked.
    pub revoked: Option<Revocation>,
}

/// Why an event sealed at a given time is not to be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    /// Sealed at or after the device's revocation.
    #[error("device revoked from {from} ({reason})")]
    Revoked {
        /// From when.
        from: String,
        /// Why.
        reason: String,
    },
    /// No key of the device covers that seal time.
    #[error("no key of the device covers that seal time (its current key from {key_from})")]
    NoKey {
        /// When the current key took over.
        key_from: String,
    },
}

/// An epoch-ms time as RFC 3339 text (or the number, if out of range).
fn time(ms: i64) -> String {
    Timestamp::from_millis(ms).map_or_else(|| format!("{ms} ms"), |t| t.to_string())
}

impl DeviceTrust {
    /// The key to check an event sealed at `sealed_ms` against: the registered key (`current`) from
    /// `key_from_ms`, before that the retired key whose window covers it. Refused when revoked by then.
    pub fn key_for<'a>(
        &'a self,
        current: &'a PublicKey,
        sealed_ms: i64,
    ) -> Result<&'a PublicKey, Untrusted> {
        if let Some(r) = &self.revoked
            && sealed_ms >= r.from_ms
        {
            return Err(Untrusted::Revoked {
                from: time(r.from_ms),
                reason: r.reason.clone(),
            });
        }
        if sealed_ms >= self.key_from_ms {
            return Ok(current);
        }
        self.retired
            .iter()
            .find(|k| (k.valid_from_ms..k.valid_until_ms).contains(&sealed_ms))
            .map(|k| &k.public_key)
            .ok_or(Untrusted::NoKey {
                key_from: time(self.key_from_ms),
            })
    }
}

/// A lifecycle change could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// No such device.
    #[error("device {0} is not registered")]
    Unknown(DeviceId),
    /// The change contradicts what is recorded.
    #[error("device {device}: {why}")]
    Refused {
        /// The device.
        device: DeviceId,
        /// Why.
        why: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for LifecycleError {
    fn from(e: sqlx::Error) -> Self {
        LifecycleError::Store(StoreError::from(e))
    }
}

impl Store {
    /// Every registered device's trust, by id.
    pub async fn device_trust(&self) -> Result<HashMap<DeviceId, DeviceTrust>, StoreError> {
        let corrupt = |what, why: String| StoreError::Corrupt { what, why };
        let id = |text: String| {
            text.parse::<DeviceId>()
                .map_err(|e| corrupt("device id", e.to_string()))
        };
        let mut out = HashMap::new();
        let rows = sqlx::query(
            "SELECT device_id, key_from_ms, revoked_from_ms, revoked_reason FROM devices",
        )
        .fetch_all(self.pool())
        .await?;
        for row in rows {
            let revoked = match row.try_get::<Option<i64>, _>(2)? {
                Some(from_ms) => Some(Revocation {
                    from_ms,
                    reason: row.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
                }),
                None => None,
            };
            out.insert(
                id(row.try_get(0)?)?,
                DeviceTrust {
                    key_from_ms: row.try_get(1)?,
                    retired: Vec::new(),
                    revoked,
                },
            );
        }
        let rows = sqlx::query(
            "SELECT device_id, public_key, valid_from_ms, valid_until_ms FROM device_retired_keys \
             ORDER BY device_id, valid_from_ms",
        )
        .fetch_all(self.pool())
        .await?;
        for row in rows {
            let device = id(row.try_get(0)?)?;
            let public_key = row.try_get::<String, _>(1)?.parse().map_err(
                |e: wardwatch_protocol::crypto::PublicKeyError| {
                    corrupt("retired public key", e.to_string())
                },
            )?;
            if let Some(trust) = out.get_mut(&device) {
                trust.retired.push(RetiredKey {
                    public_key,
                    valid_from_ms: row.try_get(2)?,
                    valid_until_ms: row.try_get(3)?,
                });
            }
        }
        Ok(out)
    }

    /// Revokes `device` from `from`: events it seals from then on are refused. A later call moves the
    /// time only earlier (a revocation is never narrowed).
    pub async fn revoke_device(
        &self,
        device: &DeviceId,
        from: Timestamp,
        reason: &str,
    ) -> Result<Revocation, LifecycleError> {
        let current = self
            .device_trust()
            .await?
            .remove(device)
            .ok_or_else(|| LifecycleError::Unknown(device.clone()))?;
        let from_ms = match &current.revoked {
            Some(r) if r.from_ms <= from.millis() => return Ok(r.clone()),
            _ => from.millis(),
        };
        sqlx::query(
            "UPDATE devices SET revoked_from_ms = $1, revoked_reason = $2, revoked_at_ms = $3 \
             WHERE device_id = $4",
        )
        .bind(from_ms)
        .bind(reason)
        .bind(now_ms())
        .bind(device.as_str())
        .execute(self.pool())
        .await?;
        tracing::warn!(%device, from = %from, reason, "device revoked");
        Ok(Revocation {
            from_ms,
            reason: reason.to_owned(),
        })
    }

    /// Replaces `device`'s key with `new_key` for events sealed from `from` on; the old key is kept for
    /// the events sealed before. `from` must be after the current key took over, and the new key must
    /// be one the device never had.
    pub async fn rotate_device_key(
        &self,
        device: &DeviceId,
        new_key: &PublicKey,
        from: Timestamp,
    ) -> Result<(), LifecycleError> {
        let refused = |why: String| LifecycleError::Refused {
            device: device.clone(),
            why,
        };
        let registered = self
            .devices()
            .await?
            .into_iter()
            .find(|d| &d.device_id == device)
            .ok_or_else(|| LifecycleError::Unknown(device.clone()))?;
        let trust = self
            .device_trust()
            .await?
            .remove(device)
            .unwrap_or_default();
        if trust.revoked.is_some() {
            return Err(refused(
                "is revoked; register the replacement box under a new id".into(),
            ));
        }
        if from.millis() <= trust.key_from_ms {
            return Err(refused(format!(
                "its current key took over at {}; the new one must start later",
                time(trust.key_from_ms)
            )));
        }
        if registered.public_key == *new_key
            || trust.retired.iter().any(|k| k.public_key == *new_key)
        {
            return Err(refused(
                "already had that key; a replaced key never returns".into(),
            ));
        }
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO device_retired_keys (device_id, public_key, valid_from_ms, valid_until_ms, \
             retired_at_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(device.as_str())
        .bind(registered.public_key.to_string())
        .bind(trust.key_from_ms)
        .bind(from.millis())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE devices SET public_key = $1, key_from_ms = $2 WHERE device_id = $3")
            .bind(new_key.to_string())
            .bind(from.millis())
            .bind(device.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(%device, from = %from, "device key replaced");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> PublicKey {
        PublicKey::of(&wardwatch_protocol::SigningKey::from_bytes(&[n; 32]))
    }

    #[test]
    fn each_seal_time_has_one_key_and_a_revocation_ends_them_all() {
        let (old, new) = (key(1), key(2));
        let mut trust = DeviceTrust {
            key_from_ms: 1_000,
            retired: vec![RetiredKey {
                public_key: old,
                valid_from_ms: 0,
                valid_until_ms: 1_000,
            }],
            revoked: None,
        };
        assert_eq!(trust.key_for(&new, 999), Ok(&old));
        assert_eq!(trust.key_for(&new, 1_000), Ok(&new));
        assert!(matches!(
            trust.key_for(&new, -5),
            Err(Untrusted::NoKey { .. })
        ));
        trust.revoked = Some(Revocation {
            from_ms: 5_000,
            reason: "stolen".into(),
        });
        assert_eq!(trust.key_for(&new, 4_999), Ok(&new));
        let err = trust.key_for(&new, 5_000).unwrap_err();
        assert!(err.to_string().contains("stolen"), "{err}");
    }
}
