//! 实时在场 Live wards (bureau users): per institution, each ward box with its connection state, last
//! heartbeat, spool depth, gallery version and cameras' states (from its newest heartbeat), and who is
//! present now, by ward kind and camera, from the open presence intervals. The page polls
//! `/live/fragment` (the same HTML without the chrome) every few seconds with the small script in
//! `static/app.js`, so a monitoring unit can watch a dialysis shift without reloading.

use super::page::{PageError, Signed, render};
use super::queue::local_time;
use crate::api::ApiState;
use crate::api::access::AccessNote;
use crate::store::{Store, StoreError, now_ms};
use axum::extract::State;
use axum::response::Response;
use minijinja::context;
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;
use wardwatch_protocol::{CameraState, Event, Health, Payload};

/// A box whose newest heartbeat is older than this is shown as silent.
pub const SILENT_AFTER_MS: i64 = 15 * 60_000;

/// A box as shown.
#[derive(Debug, Serialize)]
pub struct LiveBox {
    device_id: String,
    connection: Option<String>,
    last_heartbeat: Option<String>,
    silent: bool,
    spool_depth: Option<u64>,
    gallery_version: Option<u64>,
    agent_version: Option<String>,
    cameras: Vec<(String, String)>,
}

/// Someone present now.
#[derive(Debug, Serialize)]
pub struct Present {
    ward_kind: String,
    camera_id: String,
    /// The patient, or `None` for an unknown face (its track id in `track`).
    psn_no: Option<String>,
    track: Option<String>,
    since: String,
    similarity: f64,
    liveness: f64,
}

/// One institution's live view.
#[derive(Debug, Serialize)]
pub struct LiveInstitution {
    code: String,
    boxes: Vec<LiveBox>,
    present: Vec<Present>,
    patients: usize,
    unknown: usize,
}

fn institution_entry<'m>(
    map: &'m mut BTreeMap<String, LiveInstitution>,
    code: &str,
) -> &'m mut LiveInstitution {
    map.entry(code.to_owned())
        .or_insert_with(|| LiveInstitution {
            code: code.to_owned(),
            boxes: Vec::new(),
            present: Vec::new(),
            patients: 0,
            unknown: 0,
        })
}

impl Store {
    /// A box's newest heartbeat: when it was sent and what it said (`None` if its body does not
    /// parse as one).
    pub async fn newest_heartbeat(
        &self,
        device_id: &str,
    ) -> Result<Option<(i64, Option<Health>)>, StoreError> {
        let newest = sqlx::query(
            "SELECT sent_at_ms, body FROM events WHERE device_id = $1 AND kind = 'health' \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(device_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = newest else { return Ok(None) };
        let body: String = row.try_get(1)?;
        let health = serde_json::from_str::<Event>(&body)
            .ok()
            .and_then(|e| match e.payload {
                Payload::Health(h) => Some(h),
                _ => None,
            });
        Ok(Some((row.try_get(0)?, health)))
    }

    /// Every institution with a box or someone present now: its boxes' newest heartbeats and the open
    /// presence intervals.
    pub async fn live_wards(
        &self,
        zone: chrono_tz::Tz,
    ) -> Result<Vec<LiveInstitution>, StoreError> {
        let now = now_ms();
        let mut by_code: BTreeMap<String, LiveInstitution> = BTreeMap::new();
        let states = self.device_states().await?;
        for device in self.devices().await? {
            let (at, health) = match self.newest_heartbeat(device.device_id.as_str()).await? {
                Some((at, health)) => (Some(at), health),
                None => (None, None),
            };
            let institution = institution_entry(&mut by_code, device.institution_code.as_str());
            institution.boxes.push(LiveBox {
                connection: states
                    .get(device.device_id.as_str())
                    .map(|(s, _)| s.clone()),
                last_heartbeat: at.map(|ms| local_time(ms, zone)),
                silent: at.is_none_or(|ms| now - ms > SILENT_AFTER_MS),
                spool_depth: health.as_ref().map(|h| h.spool_depth),
                gallery_version: health.as_ref().and_then(|h| h.gallery_version),
                agent_version: health.as_ref().map(|h| h.agent_version.clone()),
                cameras: health
                    .iter()
                    .flat_map(|h| &h.cameras)
                    .map(|c| {
                        (
                            c.camera_id.to_string(),
                            c.state.map_or("unknown", CameraState::as_str).to_owned(),
                        )
                    })
                    .collect(),
                device_id: device.device_id.to_string(),
            });
        }
        let rows = sqlx::query(
            "SELECT institution_code, ward_kind, camera_id, psn_no, track_id, start_ms, \
             median_similarity, liveness FROM presence_intervals WHERE is_open = 1 \
             ORDER BY institution_code, ward_kind, camera_id, start_ms",
        )
        .fetch_all(self.pool())
        .await?;
        for row in rows {
            let code: String = row.try_get(0)?;
            let institution = institution_entry(&mut by_code, &code);
            let psn_no: Option<String> = row.try_get(3)?;
            if psn_no.is_some() {
                institution.patients += 1;
            } else {
                institution.unknown += 1;
            }
            institution.present.push(Present {
                ward_kind: row.try_get(1)?,
                camera_id: row.try_get(2)?,
                psn_no,
                track: row.try_get(4)?,
                since: local_time(row.try_get(5)?, zone),
                similarity: row.try_get(6)?,
                liveness: row.try_get(7)?,
            });
        }
        Ok(by_code.into_values().collect())
    }
}

async fn values(state: &ApiState) -> Result<minijinja::Value, PageError> {
    let institutions = state.store.live_wards(state.zone).await?;
    Ok(context! {
        institutions => institutions,
        updated => local_time(now_ms(), state.zone),
    })
}

/// `GET /live` (bureau users).
pub async fn show(State(state): State<ApiState>, signed: Signed) -> Result<Response, PageError> {
    signed.bureau_only()?;
    let mut response = render(&signed.ctx, "live.html", values(&state).await?);
    response
        .extensions_mut()
        .insert(AccessNote("live wards".into()));
    Ok(response)
}

/// `GET /live/fragment`: the live view's body alone, for the page's polling.
pub async fn fragment(
    State(state): State<ApiState>,
    signed: Signed,
) -> Result<Response, PageError> {
    signed.bureau_only()?;
    let mut response = render(&signed.ctx, "live_body.html", values(&state).await?);
    response
        .extensions_mut()
        .insert(AccessNote("live wards (poll)".into()));
    Ok(response)
}
