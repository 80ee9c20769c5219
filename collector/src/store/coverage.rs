//! The coverage figure: per institution and local day, billed session time and how much of it the ward
//! was blind, as the last rules run over that day computed it (for the web app and the quarterly
//! analysis).

use super::{Store, StoreError, now_ms};
use crate::flags::store::stored_institution;
use crate::rules::SlotCoverage;
use chrono::NaiveDate;
use sqlx::Row;
use std::collections::BTreeMap;
use wardwatch_protocol::InstitutionCode;

impl Store {
    /// Stores a run's figures, replacing earlier runs' figures for the same institution-days.
    pub async fn save_coverage(
        &self,
        coverage: &BTreeMap<(InstitutionCode, NaiveDate), SlotCoverage>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        for ((institution, date), figures) in coverage {
            sqlx::query(
                "INSERT INTO billing_coverage (institution_code, local_date, billed_minutes, blind_minutes, \
                 computed_at_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (institution_code, local_date) \
                 DO UPDATE SET billed_minutes = excluded.billed_minutes, \
                 blind_minutes = excluded.blind_minutes, computed_at_ms = excluded.computed_at_ms",
            )
            .bind(institution.as_str())
            .bind(date.to_string())
            .bind(figures.billed_minutes)
            .bind(figures.blind_minutes)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Each institution's figures over the local days [from, to] (inclusive).
    pub async fn coverage(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<InstitutionCode, SlotCoverage>, StoreError> {
        let rows = sqlx::query(
            "SELECT institution_code, SUM(billed_minutes), SUM(blind_minutes) FROM billing_coverage \
             WHERE local_date >= $1 AND local_date <= $2 GROUP BY institution_code",
        )
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(self.pool())
        .await?;
        let mut out = BTreeMap::new();
        for row in rows {
            out.insert(
                stored_institution(row.try_get(0)?)?,
                SlotCoverage {
                    billed_minutes: row.try_get(1)?,
                    blind_minutes: row.try_get(2)?,
                },
            );
        }
        Ok(out)
    }
}
