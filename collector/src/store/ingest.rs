//! Writing one ingest batch in one transaction: events (idempotent on `event_id` and on `(device, seq)`),
//! chain checks against stored neighbours, gap records, presence intervals, and the quarantine.
//!
//! A box whose spool filled up drops its oldest presence checkpoints and says so in a `dropped` event
//! listing each dropped seq with its hashes. Those seqs are then accounted for: the contiguous mark (and
//! so the agent's ack) moves past them, their gap closes, and their hashes bridge the chain — but only
//! if they link to the stored neighbours; a `dropped` record that does not is quarantined.
//!
//! Times ([`crate::ingest::times`]): the stored events of a device, in `seq` order, have seal times
//! (`sent_at`) that do not run backwards by more than
//! [`CLOCK_TOLERANCE`](crate::ingest::times::CLOCK_TOLERANCE). A new event is compared with
//! the nearest *stored* event before it and, when it fills a gap, the nearest stored event after it (not
//! only `seq ± 1`: a refused event is not stored, and the next one must not step back past it either);
//! one that does not fit is quarantined as `sealed_out_of_order`. A message whose bytes were already
//! quarantined before its own `sent_at` stays `sealed_in_future` when it is sent again.
//!
//! A quarantined event is never stored (no event row, no presence interval): its `seq` stays a gap and
//! the contiguous mark — so the agent's ack — stops below it. The events after it are stored if they pass
//! their own checks.
//!
//! Per device, the `device_state` row is locked first (a no-op `UPDATE`), so collectors sharing a
//! PostgreSQL database serialise on a device without blocking each other on different devices.

use super::{Store, StoreError, now_ms};
use crate::ingest::times::{Sealed, check_first_receipt, check_order};
use sqlx::{Any, Row, Transaction};
use std::collections::{BTreeMap, HashMap};
use wardwatch_protocol::decode::check_link;
use wardwatch_protocol::{
    DeviceId, Digest, DropReason, DroppedEvent, Event, Payload, Person, RejectReason, SpoolDropped,
    Timestamp,
};

/// Bytes of a rejected message kept in the quarantine (the size and digest of the whole are kept too).
pub const QUARANTINE_RAW_LIMIT: usize = 4096;

/// A message the store must record.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// An event that decoded and whose signature verified.
    Event {
        /// The event.
        event: Box<Event>,
        /// The bytes it arrived as.
        raw: Vec<u8>,
    },
    /// A message rejected before storage.
    Rejected(Rejection),
}

/// A rejected message, for the quarantine.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The stable reason code.
    pub reason: RejectReason,
    /// The human-readable explanation (what and where).
    pub detail: String,
    /// The topic it arrived on.
    pub topic: String,
    /// The payload as received.
    pub raw: Vec<u8>,
}

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Stored as a new event.
    Stored,
    /// Already stored: an exact resend.
    Duplicate,
    /// Put in the quarantine for this reason.
    Quarantined(RejectReason),
}

/// What a batch did.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    /// One fate per input message, in input order.
    pub fates: Vec<Fate>,
    /// Per device touched: the highest contiguous committed seq, to acknowledge to the agent.
    pub acks: Vec<(DeviceId, u64)>,
    /// Per device touched: the seq, hash and seal time of its last stored event (for the caller's
    /// cache).
    pub last_hashes: Vec<(DeviceId, u64, Digest, Timestamp)>,
}

/// The last stored (seq, hash, sent_at) per device, kept by the ingest loop between batches so that the
/// common case (events in order) needs no read to check the chain and its seal times. Entries are facts
/// about committed rows, so the cache stays valid even when several collectors share the database.
pub type ChainCache = HashMap<DeviceId, (u64, Digest, Timestamp)>;

/// What the batch knows of one seq of a device: its hash, and for events stored in this batch (or the
/// cached last one) its `prev_hash` and seal time.
#[derive(Debug, Clone, Copy)]
struct Known {
    hash: Digest,
    prev_hash: Option<Digest>,
    sent_at: Option<Timestamp>,
}

/// What [`store_event`] did with one event.
enum Decision {
    /// Stored as a new event.
    Stored,
    /// Already stored: an exact resend.
    Duplicate,
    /// Refused, with the detail for the quarantine row.
    Refused(RejectReason, String),
}

/// One device's events in a batch: (input position, event, raw bytes).
type DeviceEvents<'a> = Vec<(usize, &'a Event, &'a [u8])>;

struct DeviceState {
    contiguous: i64,
    max_seq: i64,
    duplicates: i64,
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Records a batch atomically: either every message's fate is committed or none is.
    pub async fn ingest_batch(
        &self,
        items: &[Incoming],
        cache: &ChainCache,
    ) -> Result<BatchOutcome, StoreError> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let mut fates: Vec<Option<Fate>> = vec![None; items.len()];

        // Group events by device, in seq order, remembering their input positions.
        let mut by_device: BTreeMap<&DeviceId, DeviceEvents<'_>> = BTreeMap::new();
        for (index, item) in items.iter().enumerate() {
            match item {
                Incoming::Event { event, raw } => by_device
                    .entry(&event.device_id)
                    .or_default()
                    .push((index, event, raw)),
                Incoming::Rejected(rejection) => {
                    quarantine(&mut tx, rejection, now).await?;
                    fates[index] = Some(Fate::Quarantined(rejection.reason));
                }
            }
        }

        let mut outcome = BatchOutcome::default();
        for (device, mut events) in by_device {
            events.sort_by_key(|(index, e, _)| (e.seq, *index));
            let mut state = lock_device(&mut tx, device).await?;
            let mut known: HashMap<u64, Known> = HashMap::new();
            if let Some((seq, hash, sent_at)) = cache.get(device) {
                known.insert(
                    *seq,
                    Known {
                        hash: *hash,
                        prev_hash: None,
                        sent_at: Some(*sent_at),
                    },
                );
            }
            let mut last: Option<(u64, Digest, Timestamp)> = None;
            for (index, event, raw) in events {
                let fate = match store_event(&mut tx, &mut state, &known, event, raw, now).await? {
                    Decision::Stored => {
                        known.insert(
                            event.seq,
                            Known {
                                hash: event.hash,
                                prev_hash: Some(event.prev_hash),
                                sent_at: Some(event.sent_at),
                            },
                        );
                        if last.is_none_or(|(s, _, _)| event.seq > s) {
                            last = Some((event.seq, event.hash, event.sent_at));
                        }
                        Fate::Stored
                    }
                    Decision::Duplicate => Fate::Duplicate,
                    Decision::Refused(reason, detail) => {
                        let rejection = Rejection {
                            reason,
                            detail,
                            topic: event.topic().to_string(),
                            raw: raw.to_vec(),
                        };
                        quarantine(&mut tx, &rejection, now).await?;
                        Fate::Quarantined(reason)
                    }
                };
                fates[index] = Some(fate);
            }
            state.contiguous = advance_contiguous(&mut tx, device, state.contiguous).await?;
            sqlx::query(
                "UPDATE device_state SET contiguous_seq = $2, max_seq = $3, duplicates = $4 \
                 WHERE device_id = $1",
            )
            .bind(device.as_str())
            .bind(state.contiguous)
            .bind(state.max_seq)
            .bind(state.duplicates)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE gaps SET closed_at_ms = $3 \
                 WHERE device_id = $1 AND closed_at_ms IS NULL AND to_seq <= $2",
            )
            .bind(device.as_str())
            .bind(state.contiguous)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            outcome
                .acks
                .push((device.clone(), u64::try_from(state.contiguous).unwrap_or(0)));
            if let Some((seq, hash, sent_at)) = last {
                outcome
                    .last_hashes
                    .push((device.clone(), seq, hash, sent_at));
            }
        }
        tx.commit().await?;
        outcome.fates = fates
            .into_iter()
            .map(|f| f.unwrap_or(Fate::Quarantined(RejectReason::InvalidField)))
            .collect();
        Ok(outcome)
    }
}

fn replayed(event: &Event) -> Decision {
    Decision::Refused(
        RejectReason::ReplayedSeq,
        format!(
            "device {} already has a different event at seq {} (this one: event_id {}, hash {})",
            event.device_id, event.seq, event.event_id, event.hash
        ),
    )
}

fn chain_broken(event: &Event) -> Decision {
    Decision::Refused(
        RejectReason::ChainBroken,
        format!(
            "event seq {} of device {} does not link to its stored neighbours",
            event.seq, event.device_id
        ),
    )
}

fn time_refused(event: &Event, violation: &crate::ingest::times::TimeViolation) -> Decision {
    Decision::Refused(
        violation.reason(),
        format!(
            "event seq {} of device {}: {violation}",
            event.seq, event.device_id
        ),
    )
}

async fn lock_device(
    tx: &mut Transaction<'static, Any>,
    device: &DeviceId,
) -> Result<DeviceState, StoreError> {
    sqlx::query(
        "INSERT INTO device_state (device_id, contiguous_seq, max_seq, duplicates) \
         VALUES ($1, 0, 0, 0) ON CONFLICT (device_id) DO NOTHING",
    )
    .bind(device.as_str())
    .execute(&mut **tx)
    .await?;
    // Takes the row lock on PostgreSQL; SQLite already holds the database write lock.
    sqlx::query("UPDATE device_state SET max_seq = max_seq WHERE device_id = $1")
        .bind(device.as_str())
        .execute(&mut **tx)
        .await?;
    let row = sqlx::query(
        "SELECT contiguous_seq, max_seq, duplicates FROM device_state WHERE device_id = $1",
    )
    .bind(device.as_str())
    .fetch_one(&mut **tx)
    .await?;
    Ok(DeviceState {
        contiguous: row.try_get(0)?,
        max_seq: row.try_get(1)?,
        duplicates: row.try_get(2)?,
    })
}

async fn stored_hashes(
    tx: &mut Transaction<'static, Any>,
    device: &DeviceId,
    seq: u64,
) -> Result<Option<(String, Digest, Digest)>, StoreError> {
    let row = sqlx::query(
        "SELECT event_id, hash, prev_hash FROM events WHERE device_id = $1 AND seq = $2",
    )
    .bind(device.as_str())
    .bind(as_i64(seq))
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some((
        row.try_get(0)?,
        stored_digest(row.try_get(1)?, "event hash")?,
        stored_digest(row.try_get(2)?, "event hash")?,
    )))
}

async fn store_event(
    tx: &mut Transaction<'static, Any>,
    state: &mut DeviceState,
    known: &HashMap<u64, Known>,
    event: &Event,
    raw: &[u8],
    now: i64,
) -> Result<Decision, StoreError> {
    let device = &event.device_id;
    if let Some((event_id, hash, _)) = stored_hashes(tx, device, event.seq).await? {
        if event_id == event.event_id.to_string() && hash == event.hash {
            state.duplicates += 1;
            return Ok(Decision::Duplicate);
        }
        return Ok(replayed(event));
    }
    // The same bytes already quarantined: their first receipt bounds when they can have been sealed.
    if let Some(first) = first_quarantined(tx, &event.topic().to_string(), raw).await?
        && let Err(violation) = check_first_receipt(event.sent_at, first)
    {
        return Ok(time_refused(event, &violation));
    }

    let prev = match event.seq {
        1 => None,
        seq => match known.get(&(seq - 1)) {
            Some(k) => Some(k.hash),
            None => neighbour_hashes(tx, device, seq - 1).await?.map(|(h, _)| h),
        },
    };
    let fills_gap = as_i64(event.seq) < state.max_seq;
    let next_prev = if fills_gap {
        match known.get(&(event.seq + 1)) {
            Some(Known {
                prev_hash: Some(prev_hash),
                ..
            }) => Some(*prev_hash),
            _ => neighbour_hashes(tx, device, event.seq + 1)
                .await?
                .map(|(_, p)| p),
        }
    } else {
        None
    };
    if check_link(event, prev.as_ref(), next_prev.as_ref()).is_err() {
        return Ok(chain_broken(event));
    }
    let before = match known.get(&(event.seq.saturating_sub(1))) {
        Some(Known {
            sent_at: Some(sent_at),
            ..
        }) if event.seq > 1 => Some(Sealed {
            seq: event.seq - 1,
            sent_at: *sent_at,
        }),
        _ => sealed_neighbour(tx, device, event.seq, Side::Before).await?,
    };
    let after = if fills_gap {
        sealed_neighbour(tx, device, event.seq, Side::After).await?
    } else {
        None
    };
    if let Err(violation) = check_order(event.seq, event.sent_at, before, after) {
        return Ok(time_refused(event, &violation));
    }
    if let Payload::Dropped(dropped) = &event.payload
        && !dropped_links(tx, device, known, dropped).await?
    {
        return Ok(chain_broken(event));
    }

    let body = match std::str::from_utf8(raw) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(&event.to_wire()).into_owned(),
    };
    let inserted = sqlx::query(
        "INSERT INTO events (event_id, device_id, seq, kind, institution_code, sent_at_ms, \
         received_at_ms, prev_hash, hash, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT DO NOTHING",
    )
    .bind(event.event_id.to_string())
    .bind(device.as_str())
    .bind(as_i64(event.seq))
    .bind(event.payload.topic_kind().as_str())
    .bind(event.institution_code.as_str())
    .bind(event.sent_at.millis())
    .bind(now)
    .bind(event.prev_hash.to_string())
    .bind(event.hash.to_string())
    .bind(body)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        // The event_id is taken by another seq: not a resend.
        return Ok(replayed(event));
    }

    let seq = as_i64(event.seq);
    if seq > state.max_seq + 1 {
        sqlx::query(
            "INSERT INTO gaps (device_id, from_seq, to_seq, opened_at_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(device.as_str())
        .bind(state.max_seq + 1)
        .bind(seq - 1)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        tracing::warn!(
            device = %device,
            from = state.max_seq + 1,
            to = seq - 1,
            "gap in the event sequence"
        );
    }
    state.max_seq = state.max_seq.max(seq);

    if let Payload::Dropped(dropped) = &event.payload {
        record_dropped(tx, device, seq, dropped, now).await?;
    }
    if let Payload::Presence(p) = &event.payload {
        let (psn_no, track_id) = match &p.person {
            Person::PsnNo(psn) => (Some(psn.as_str()), None),
            Person::UnknownTrack(track) => (None, Some(track.as_str())),
        };
        sqlx::query(
            "INSERT INTO presence_intervals (interval_id, device_id, institution_code, camera_id, \
             ward_kind, psn_no, track_id, start_ms, end_ms, is_open, samples, best_similarity, \
             median_similarity, liveness, seq, event_id, embedding, track_liveness) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18) \
             ON CONFLICT (interval_id) DO UPDATE SET start_ms = excluded.start_ms, \
             end_ms = excluded.end_ms, is_open = excluded.is_open, samples = excluded.samples, \
             best_similarity = excluded.best_similarity, \
             median_similarity = excluded.median_similarity, liveness = excluded.liveness, \
             seq = excluded.seq, event_id = excluded.event_id, \
             embedding = COALESCE(excluded.embedding, presence_intervals.embedding), \
             track_liveness = COALESCE(excluded.track_liveness, presence_intervals.track_liveness) \
             WHERE presence_intervals.seq < excluded.seq \
             AND presence_intervals.device_id = excluded.device_id",
        )
        .bind(p.interval_id.to_string())
        .bind(device.as_str())
        .bind(event.institution_code.as_str())
        .bind(p.camera_id.as_str())
        .bind(p.ward_kind.as_str())
        .bind(psn_no)
        .bind(track_id)
        .bind(p.start.millis())
        .bind(p.end.millis())
        .bind(i64::from(p.open))
        .bind(i64::from(p.samples))
        .bind(p.best_similarity.get())
        .bind(p.median_similarity.get())
        .bind(p.liveness.get())
        .bind(seq)
        .bind(event.event_id.to_string())
        .bind(p.embedding.as_ref().map(|e| e.to_base64()))
        .bind(
            p.track_liveness
                .as_ref()
                .and_then(|t| serde_json::to_string(t).ok()),
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(Decision::Stored)
}

/// Which stored neighbour [`sealed_neighbour`] looks for.
#[derive(Debug, Clone, Copy)]
enum Side {
    Before,
    After,
}

/// The nearest stored event of `device` before or after `seq`, with its seal time. Dropped
/// checkpoints carry no seal time and are skipped.
async fn sealed_neighbour(
    tx: &mut Transaction<'static, Any>,
    device: &DeviceId,
    seq: u64,
    side: Side,
) -> Result<Option<Sealed>, StoreError> {
    let sql = match side {
        Side::Before => {
            "SELECT seq, sent_at_ms FROM events WHERE device_id = $1 AND seq < $2 \
             ORDER BY seq DESC LIMIT 1"
        }
        Side::After => {
            "SELECT seq, sent_at_ms FROM events WHERE device_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT 1"
        }
    };
    let row = sqlx::query(sql)
        .bind(device.as_str())
        .bind(as_i64(seq))
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let seq: i64 = row.try_get(0)?;
    let sent_at: i64 = row.try_get(1)?;
    let corrupt = |why: String| StoreError::Corrupt {
        what: "event seal time",
        why,
    };
    Ok(Some(Sealed {
        seq: u64::try_from(seq).map_err(|e| corrupt(e.to_string()))?,
        sent_at: Timestamp::from_millis(sent_at)
            .ok_or_else(|| corrupt(format!("{sent_at} ms is out of range")))?,
    }))
}

/// When these bytes on this topic were first quarantined, if ever.
async fn first_quarantined(
    tx: &mut Transaction<'static, Any>,
    topic: &str,
    raw: &[u8],
) -> Result<Option<Timestamp>, StoreError> {
    let first: Option<i64> =
        sqlx::query_scalar("SELECT first_seen_ms FROM quarantine WHERE digest = $1")
            .bind(quarantine_digest(topic, raw))
            .fetch_optional(&mut **tx)
            .await?;
    Ok(first.and_then(Timestamp::from_millis))
}

/// The quarantine's key for a message: the digest of its topic and bytes.
fn quarantine_digest(topic: &str, raw: &[u8]) -> String {
    let mut keyed = topic.as_bytes().to_vec();
    keyed.push(0);
    keyed.extend_from_slice(raw);
    Digest::of(&keyed).to_string()
}

/// A stored hex digest, or a corruption error naming `what`.
fn stored_digest(text: String, what: &'static str) -> Result<Digest, StoreError> {
    text.parse::<Digest>().map_err(|e| StoreError::Corrupt {
        what,
        why: e.to_string(),
    })
}

/// The (hash, prev_hash) the collector knows for `seq`: a stored event's, else a dropped one's.
async fn neighbour_hashes(
    tx: &mut Transaction<'static, Any>,
    device: &DeviceId,
    seq: u64,
) -> Result<Option<(Digest, Digest)>, StoreError> {
    if let Some((_, hash, prev)) = stored_hashes(tx, device, seq).await? {
        return Ok(Some((hash, prev)));
    }
    let row =
        sqlx::query("SELECT hash, prev_hash FROM dropped_events WHERE device_id = $1 AND seq = $2")
            .bind(device.as_str())
            .bind(as_i64(seq))
            .fetch_optional(&mut **tx)
            .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some((
        stored_digest(row.try_get(0)?, "dropped event hash")?,
        stored_digest(row.try_get(1)?, "dropped event hash")?,
    )))
}

/// Whether every event a `dropped` record lists links to what is known around it: to each other, and
/// to the stored (or earlier dropped) neighbours on either side. A seq the collector already holds as
/// an event must carry that event's hash.
async fn dropped_links(
    tx: &mut Transaction<'static, Any>,
    device: &DeviceId,
    known: &HashMap<u64, Known>,
    dropped: &SpoolDropped,
) -> Result<bool, StoreError> {
    let listed: HashMap<u64, &DroppedEvent> = dropped.events.iter().map(|d| (d.seq, d)).collect();
    if listed.len() != dropped.events.len() {
        return Ok(false);
    }
    // What the collector holds for a seq outside this record: a batch-mate, a stored or a dropped event.
    let mut outside = async |seq: u64| -> Result<Option<(Digest, Option<Digest>)>, StoreError> {
        if let Some(entry) = known.get(&seq) {
            return Ok(Some((entry.hash, entry.prev_hash)));
        }
        Ok(neighbour_hashes(tx, device, seq)
            .await?
            .map(|(h, p)| (h, Some(p))))
    };
    for d in &dropped.events {
        if d.seq == 0 {
            return Ok(false);
        }
        if let Some((hash, _)) = outside(d.seq).await?
            && hash != d.hash
        {
            return Ok(false);
        }
        let before = match listed.get(&(d.seq - 1)) {
            Some(b) => Some(b.hash),
            None if d.seq > 1 => outside(d.seq - 1).await?.map(|(h, _)| h),
            None => None,
        };
        if before.is_some_and(|h| h != d.prev_hash) {
            return Ok(false);
        }
        let after_prev = match listed.get(&(d.seq + 1)) {
            Some(a) => Some(a.prev_hash),
            None => outside(d.seq + 1).await?.and_then(|(_, p)| p),
        };
        if after_prev.is_some_and(|p| p != d.hash) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Records the events a `dropped` record (itself at `reported_in_seq`) lists.
async fn record_dropped(
    tx: &mut Transaction<'static, Any>,
    device: &DeviceId,
    reported_in_seq: i64,
    dropped: &SpoolDropped,
    now: i64,
) -> Result<(), StoreError> {
    let reason = match dropped.reason {
        DropReason::SpoolFull => "spool_full",
    };
    for d in &dropped.events {
        sqlx::query(
            "INSERT INTO dropped_events (device_id, seq, hash, prev_hash, interval_id, reason, \
             reported_in_seq, received_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (device_id, seq) DO NOTHING",
        )
        .bind(device.as_str())
        .bind(as_i64(d.seq))
        .bind(d.hash.to_string())
        .bind(d.prev_hash.to_string())
        .bind(d.interval_id.to_string())
        .bind(reason)
        .bind(reported_in_seq)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    tracing::warn!(
        device = %device,
        events = dropped.events.len(),
        reason,
        "the box dropped presence checkpoints from its full spool"
    );
    Ok(())
}

/// Moves the contiguous mark forward over stored and dropped events.
async fn advance_contiguous(
    tx: &mut Transaction<'static, Any>,
    device: &DeviceId,
    mut contiguous: i64,
) -> Result<i64, StoreError> {
    const PAGE: i64 = 1000;
    loop {
        let rows = sqlx::query(
            "SELECT seq FROM events WHERE device_id = $1 AND seq > $2 \
             UNION SELECT seq FROM dropped_events WHERE device_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(device.as_str())
        .bind(contiguous)
        .bind(PAGE)
        .fetch_all(&mut **tx)
        .await?;
        let fetched = rows.len();
        let mut consumed = 0;
        for row in rows {
            let seq: i64 = row.try_get(0)?;
            if seq != contiguous + 1 {
                break;
            }
            contiguous = seq;
            consumed += 1;
        }
        if consumed < fetched || fetched < PAGE as usize {
            return Ok(contiguous);
        }
    }
}

async fn quarantine(
    tx: &mut Transaction<'static, Any>,
    rejection: &Rejection,
    now: i64,
) -> Result<(), StoreError> {
    let digest = quarantine_digest(&rejection.topic, &rejection.raw);
    let kept = &rejection.raw[..rejection.raw.len().min(QUARANTINE_RAW_LIMIT)];
    let detail: String = rejection.detail.chars().take(2000).collect();
    let topic: String = rejection.topic.chars().take(512).collect();
    sqlx::query(
        "INSERT INTO quarantine (digest, reason, detail, topic, raw, raw_size, first_seen_ms, \
         last_seen_ms, times_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1) \
         ON CONFLICT (digest) DO UPDATE SET last_seen_ms = excluded.last_seen_ms, \
         times_seen = quarantine.times_seen + 1",
    )
    .bind(digest)
    .bind(rejection.reason.as_str())
    .bind(detail)
    .bind(topic)
    .bind(kept.to_vec())
    .bind(i64::try_from(rejection.raw.len()).unwrap_or(i64::MAX))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    tracing::warn!(
        reason = rejection.reason.as_str(),
        topic = %rejection.topic,
        detail = %rejection.detail,
        "quarantined a message"
    );
    Ok(())
}
