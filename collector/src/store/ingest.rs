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

use super::{Backend, Store, StoreError, now_ms};
use crate::ingest::times::{Sealed, check_first_receipt, check_order};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::collections::{BTreeMap, HashMap, HashSet};
use wardwatch_protocol::decode::check_link;
use wardwatch_protocol::{
    DeviceId, Digest, DropReason, DroppedEvent, Event, Payload, Person, Presence, RejectReason,
    SpoolDropped, Timestamp,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    ///
    /// The common case — each device's events arriving in `seq` order, after the last one stored —
    /// costs a fixed number of statements per batch, whatever the number of devices: one look-up of
    /// the quarantine and one of event ids, one upsert that locks every device's state row, the new
    /// events and presence intervals as multi-row inserts, one upsert of the states. Anything else
    /// (a resend, a gap filled, a `dropped` record, an event whose neighbour is not in the batch or the
    /// cache) writes what is pending and reads the stored rows, as one event at a time would.
    pub async fn ingest_batch(
        &self,
        items: &[Incoming],
        cache: &ChainCache,
    ) -> Result<BatchOutcome, StoreError> {
        let now = now_ms();
        let marks = Marks::of(self.backend());
        let mut tx = self.pool().begin().await?;
        let mut fates: Vec<Option<Fate>> = vec![None; items.len()];

        // Group events by device, in seq order, remembering their input positions.
        let mut by_device: BTreeMap<&DeviceId, DeviceEvents<'_>> = BTreeMap::new();
        let mut event_ids = Vec::new();
        let mut digests = Vec::new();
        for item in items {
            if let Incoming::Event { event, raw } = item {
                event_ids.push(event.event_id.to_string());
                digests.push(quarantine_digest(&event.topic().to_string(), raw));
            }
        }
        let mut seen = Seen {
            quarantined: first_quarantined(&mut tx, &digests, marks).await?,
            event_ids: taken_event_ids(&mut tx, &event_ids, marks).await?,
        };
        for (index, item) in items.iter().enumerate() {
            match item {
                Incoming::Event { event, raw } => by_device
                    .entry(&event.device_id)
                    .or_default()
                    .push((index, event, raw)),
                Incoming::Rejected(rejection) => {
                    quarantine(&mut tx, &mut seen, rejection, now).await?;
                    fates[index] = Some(Fate::Quarantined(rejection.reason));
                }
            }
        }

        let devices: Vec<&DeviceId> = by_device.keys().copied().collect();
        let mut states = lock_devices(&mut tx, &devices, marks).await?;
        let mut pending = Pending {
            marks,
            events: Vec::new(),
            presence: Vec::new(),
            states: Vec::new(),
        };
        let mut outcome = BatchOutcome::default();
        for (device, mut events) in by_device {
            events.sort_by_key(|(index, e, _)| (e.seq, *index));
            let mut state = states.remove(device).ok_or_else(|| StoreError::Corrupt {
                what: "device state",
                why: format!("no state row locked for {device}"),
            })?;
            let start = state;
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
            let mut stored_in_order = true;
            for (index, event, raw) in events {
                let mut ctx = EventContext {
                    tx: &mut tx,
                    pending: &mut pending,
                    seen: &mut seen,
                    now,
                };
                let fate = match store_event(&mut ctx, &mut state, &known, event, raw).await? {
                    Decision::Stored => {
                        known.insert(
                            event.seq,
                            Known {
                                hash: event.hash,
                                prev_hash: Some(event.prev_hash),
                                sent_at: Some(event.sent_at),
                            },
                        );
                        let next = last.map_or(start.max_seq, |(s, _, _)| as_i64(s)) + 1;
                        stored_in_order &= as_i64(event.seq) == next;
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
                        quarantine(&mut tx, &mut seen, &rejection, now).await?;
                        Fate::Quarantined(reason)
                    }
                };
                fates[index] = Some(fate);
            }
            // No gap before this batch and this device's new events follow on one by one: the mark
            // moves to the last of them and no gap can have opened or closed (a `dropped` record only
            // lists seqs below its own, all stored here or before).
            if start.contiguous == start.max_seq && stored_in_order {
                state.contiguous = state.max_seq;
            } else {
                pending.flush(&mut tx, now).await?;
                state.contiguous = advance_contiguous(&mut tx, device, state.contiguous).await?;
                sqlx::query(
                    "UPDATE gaps SET closed_at_ms = $3 \
                     WHERE device_id = $1 AND closed_at_ms IS NULL AND to_seq <= $2",
                )
                .bind(device.as_str())
                .bind(state.contiguous)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            if state != start {
                pending.states.push((device.as_str(), state));
            }
            outcome
                .acks
                .push((device.clone(), u64::try_from(state.contiguous).unwrap_or(0)));
            if let Some((seq, hash, sent_at)) = last {
                outcome
                    .last_hashes
                    .push((device.clone(), seq, hash, sent_at));
            }
        }
        pending.flush(&mut tx, now).await?;
        tx.commit().await?;
        outcome.fates = fates
            .into_iter()
            .map(|f| f.unwrap_or(Fate::Quarantined(RejectReason::InvalidField)))
            .collect();
        Ok(outcome)
    }
}

/// Rows per multi-row statement (PostgreSQL takes at most 65,535 parameters, SQLite 32,766).
const ROWS_PER_STATEMENT: usize = 500;

/// How a statement marks its parameters: `$1, $2, …` on PostgreSQL, `?` on SQLite. sqlx reads the
/// name of every parameter of a SQLite statement, and SQLite finds a `$n` name by scanning the
/// statement's list of names: quadratic in the parameters (one 500-row insert of presence intervals
/// took 1.3 s, nearly all of it there, measured with perf); anonymous `?` marks have no names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marks {
    Numbered,
    Anonymous,
}

impl Marks {
    fn of(backend: Backend) -> Marks {
        match backend {
            Backend::Postgres => Marks::Numbered,
            Backend::Sqlite => Marks::Anonymous,
        }
    }

    /// Appends the mark of parameter `n` (from 1).
    fn push(self, sql: &mut String, n: usize) {
        match self {
            Marks::Numbered => {
                sql.push('$');
                sql.push_str(&n.to_string());
            }
            Marks::Anonymous => sql.push('?'),
        }
    }
}

/// A presence interval's columns, in the order [`bind_presence`] binds them.
const PRESENCE_COLUMNS: &str = "interval_id, device_id, institution_code, camera_id, ward_kind, psn_no, \
     track_id, start_ms, end_ms, is_open, samples, best_similarity, median_similarity, liveness, seq, \
     event_id, embedding, track_liveness, seat";

/// How many columns [`PRESENCE_COLUMNS`] names.
const PRESENCE_COLUMN_COUNT: usize = 19;

/// What a later report of a stored interval changes: everything but its identity (id, device, camera,
/// person), the embedding and track liveness only when the report has them. `{v}` is the report's row.
fn presence_updates(v: &str, stored: &str) -> String {
    format!(
        "start_ms = {v}.start_ms, end_ms = {v}.end_ms, is_open = {v}.is_open, samples = {v}.samples, \
         best_similarity = {v}.best_similarity, median_similarity = {v}.median_similarity, \
         liveness = {v}.liveness, seq = {v}.seq, event_id = {v}.event_id, \
         embedding = COALESCE({v}.embedding, {stored}.embedding), \
         track_liveness = COALESCE({v}.track_liveness, {stored}.track_liveness), seat = {v}.seat"
    )
}

/// Binds one interval's [`PRESENCE_COLUMNS`] (borrowing the event's strings: no copy per event).
fn bind_presence<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    event: &'q Event,
    p: &'q Presence,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    let (psn_no, track_id) = match &p.person {
        Person::PsnNo(psn) => (Some(psn.as_str()), None),
        Person::UnknownTrack(track) => (None, Some(track.as_str())),
    };
    query
        .bind(p.interval_id.to_string())
        .bind(event.device_id.as_str())
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
        .bind(as_i64(event.seq))
        .bind(event.event_id.to_string())
        .bind(p.embedding.as_ref().map(|e| e.to_base64()))
        .bind(
            p.track_liveness
                .as_ref()
                .and_then(|t| serde_json::to_string(t).ok()),
        )
        .bind(p.seat.as_ref().map(|s| s.as_str()))
}

/// Stores or updates `chunk` (no interval twice) in one upsert: an interval already stored is updated
/// by a report with a later `seq` from the same device, and only then.
async fn upsert_presence(
    tx: &mut Transaction<'static, Any>,
    chunk: &[(&Event, &Presence)],
    marks: Marks,
) -> Result<(), StoreError> {
    let sql = multi_row(
        &format!("INSERT INTO presence_intervals ({PRESENCE_COLUMNS}) VALUES"),
        PRESENCE_COLUMN_COUNT,
        chunk.len(),
        &format!(
            "ON CONFLICT (interval_id) DO UPDATE SET {} \
             WHERE presence_intervals.seq < excluded.seq \
             AND presence_intervals.device_id = excluded.device_id",
            presence_updates("excluded", "presence_intervals")
        ),
        marks,
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (event, p) in chunk {
        query = bind_presence(query, event, p);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// [`upsert_presence`] on PostgreSQL, where `presence_intervals` is partitioned by month (migration
/// 0022) and has no unique key on `interval_id` alone for `ON CONFLICT` to use. The ids are claimed in
/// `presence_interval_keys` first, in a statement of their own: a claim another collector holds waits
/// for its transaction, and the next statements' snapshot then sees the row it stored. The claimed
/// intervals are inserted, the others updated under the same condition as the upsert (a later `seq`
/// from the same device); an update that moves an interval's start into another month moves its row.
async fn upsert_presence_partitioned(
    tx: &mut Transaction<'static, Any>,
    chunk: &[(&Event, &Presence)],
    marks: Marks,
) -> Result<(), StoreError> {
    let sql = multi_row(
        "INSERT INTO presence_interval_keys (interval_id) VALUES",
        1,
        chunk.len(),
        "ON CONFLICT DO NOTHING RETURNING interval_id",
        marks,
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (_, p) in chunk {
        query = query.bind(p.interval_id.to_string());
    }
    let claimed: HashSet<String> = query
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    let (new, known): (Vec<_>, Vec<_>) = chunk
        .iter()
        .partition(|(_, p)| claimed.contains(&p.interval_id.to_string()));
    if !new.is_empty() {
        let sql = multi_row(
            &format!("INSERT INTO presence_intervals ({PRESENCE_COLUMNS}) VALUES"),
            PRESENCE_COLUMN_COUNT,
            new.len(),
            "",
            marks,
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (event, p) in &new {
            query = bind_presence(query, event, p);
        }
        query.execute(&mut **tx).await?;
    }
    if !known.is_empty() {
        let sql = multi_row(
            &format!(
                "UPDATE presence_intervals AS p SET {} FROM (VALUES",
                presence_updates("v", "p")
            ),
            PRESENCE_COLUMN_COUNT,
            known.len(),
            &format!(
                ") AS v ({PRESENCE_COLUMNS}) WHERE p.interval_id = v.interval_id \
                 AND p.seq < v.seq AND p.device_id = v.device_id"
            ),
            marks,
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (event, p) in &known {
            query = bind_presence(query, event, p);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// `INSERT INTO … VALUES ($1, …, $k), (…), …` for `rows` rows of `columns` values, then `tail`.
fn multi_row(head: &str, columns: usize, rows: usize, tail: &str, marks: Marks) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * columns * 6);
    sql.push_str(head);
    for row in 0..rows {
        sql.push_str(if row == 0 { " (" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            marks.push(&mut sql, row * columns + column + 1);
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

/// What the batch knows beyond the stored rows it reads: quarantined digests with their first
/// receipt, and event ids already taken (stored before the batch, or by a batch-mate).
struct Seen {
    quarantined: HashMap<String, i64>,
    event_ids: HashSet<String>,
}

/// A new event row, written with the batch's other new events in one statement.
struct EventRow<'a> {
    event: &'a Event,
    body: String,
}

/// Writes deferred to one multi-row statement each: new events, presence intervals (in order), and
/// the devices' states. Flushed before any read of the stored events that could see them.
struct Pending<'a> {
    marks: Marks,
    events: Vec<EventRow<'a>>,
    presence: Vec<(&'a Event, &'a Presence)>,
    states: Vec<(&'a str, DeviceState)>,
}

impl Pending<'_> {
    async fn flush(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        now: i64,
    ) -> Result<(), StoreError> {
        for chunk in self.events.chunks(ROWS_PER_STATEMENT) {
            let sql = multi_row(
                "INSERT INTO events (event_id, device_id, seq, kind, institution_code, sent_at_ms, \
                 received_at_ms, prev_hash, hash, body) VALUES",
                10,
                chunk.len(),
                "ON CONFLICT DO NOTHING",
                self.marks,
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in chunk {
                let event = row.event;
                query = query
                    .bind(event.event_id.to_string())
                    .bind(event.device_id.as_str())
                    .bind(as_i64(event.seq))
                    .bind(event.payload.topic_kind().as_str())
                    .bind(event.institution_code.as_str())
                    .bind(event.sent_at.millis())
                    .bind(now)
                    .bind(event.prev_hash.to_string())
                    .bind(event.hash.to_string())
                    .bind(row.body.as_str());
            }
            let inserted = query.execute(&mut **tx).await?.rows_affected();
            if inserted != chunk.len() as u64 {
                // Another collector stored an event with one of these ids (a replay on another
                // device) since the batch looked: roll back; the retry sees it and refuses it.
                return Err(StoreError::Corrupt {
                    what: "ingest batch",
                    why: format!(
                        "{} of {} new events collided with rows stored meanwhile; retrying",
                        chunk.len() as u64 - inserted,
                        chunk.len()
                    ),
                });
            }
        }
        self.events.clear();

        // One statement may not update the same interval twice (PostgreSQL refuses): a new
        // statement starts where an interval repeats, so the rows apply in order as before.
        let mut rest = &self.presence[..];
        while !rest.is_empty() {
            let mut ids = HashSet::new();
            let take = rest
                .iter()
                .take(ROWS_PER_STATEMENT)
                .take_while(|(_, p)| ids.insert(p.interval_id))
                .count();
            let (chunk, tail) = rest.split_at(take);
            rest = tail;
            match self.marks {
                Marks::Anonymous => upsert_presence(tx, chunk, self.marks).await?,
                Marks::Numbered => upsert_presence_partitioned(tx, chunk, self.marks).await?,
            }
        }
        self.presence.clear();

        for chunk in self.states.chunks(ROWS_PER_STATEMENT) {
            let sql = multi_row(
                "INSERT INTO device_state (device_id, contiguous_seq, max_seq, duplicates) VALUES",
                4,
                chunk.len(),
                "ON CONFLICT (device_id) DO UPDATE SET contiguous_seq = excluded.contiguous_seq, \
                 max_seq = excluded.max_seq, duplicates = excluded.duplicates",
                self.marks,
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (device, state) in chunk {
                query = query
                    .bind(*device)
                    .bind(state.contiguous)
                    .bind(state.max_seq)
                    .bind(state.duplicates);
            }
            query.execute(&mut **tx).await?;
        }
        self.states.clear();
        Ok(())
    }
}

/// What [`store_event`] works with besides the device's state.
struct EventContext<'c, 'a> {
    tx: &'c mut Transaction<'static, Any>,
    pending: &'c mut Pending<'a>,
    seen: &'c mut Seen,
    now: i64,
}

impl EventContext<'_, '_> {
    /// The transaction, with every pending write done (before reading stored events).
    async fn reading(&mut self) -> Result<&mut Transaction<'static, Any>, StoreError> {
        self.pending.flush(self.tx, self.now).await?;
        Ok(&mut *self.tx)
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

/// Creates the missing state rows of `devices` and locks them all (on PostgreSQL the upsert takes each
/// row's lock, in `devices`' sorted order, so collectors sharing the database cannot deadlock; SQLite
/// already holds the database write lock), returning each device's state.
async fn lock_devices(
    tx: &mut Transaction<'static, Any>,
    devices: &[&DeviceId],
    marks: Marks,
) -> Result<HashMap<DeviceId, DeviceState>, StoreError> {
    let mut states = HashMap::with_capacity(devices.len());
    for chunk in devices.chunks(ROWS_PER_STATEMENT) {
        let values: Vec<String> = (1..=chunk.len())
            .map(|n| {
                let mut mark = String::new();
                marks.push(&mut mark, n);
                format!("({mark}, 0, 0, 0)")
            })
            .collect();
        let sql = format!(
            "INSERT INTO device_state (device_id, contiguous_seq, max_seq, duplicates) VALUES {} \
             ON CONFLICT (device_id) DO UPDATE SET max_seq = device_state.max_seq \
             RETURNING device_id, contiguous_seq, max_seq, duplicates",
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for device in chunk {
            query = query.bind(device.as_str());
        }
        for row in query.fetch_all(&mut **tx).await? {
            let device: String = row.try_get(0)?;
            let device = device
                .parse::<DeviceId>()
                .map_err(|e| StoreError::Corrupt {
                    what: "device state",
                    why: e.to_string(),
                })?;
            states.insert(
                device,
                DeviceState {
                    contiguous: row.try_get(1)?,
                    max_seq: row.try_get(2)?,
                    duplicates: row.try_get(3)?,
                },
            );
        }
    }
    Ok(states)
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

async fn store_event<'a>(
    ctx: &mut EventContext<'_, 'a>,
    state: &mut DeviceState,
    known: &HashMap<u64, Known>,
    event: &'a Event,
    raw: &[u8],
) -> Result<Decision, StoreError> {
    let device = &event.device_id;
    let now = ctx.now;
    // Above the highest stored seq nothing is stored at this seq yet; a batch-mate's is in `known`.
    if let Some(k) = known.get(&event.seq).filter(|k| k.prev_hash.is_some()) {
        if k.hash == event.hash {
            state.duplicates += 1;
            return Ok(Decision::Duplicate);
        }
        return Ok(replayed(event));
    }
    if as_i64(event.seq) <= state.max_seq
        && let Some((event_id, hash, _)) =
            stored_hashes(ctx.reading().await?, device, event.seq).await?
    {
        if event_id == event.event_id.to_string() && hash == event.hash {
            state.duplicates += 1;
            return Ok(Decision::Duplicate);
        }
        return Ok(replayed(event));
    }
    // The same bytes already quarantined: their first receipt bounds when they can have been sealed.
    let digest = quarantine_digest(&event.topic().to_string(), raw);
    if let Some(first) = ctx
        .seen
        .quarantined
        .get(&digest)
        .copied()
        .and_then(Timestamp::from_millis)
        && let Err(violation) = check_first_receipt(event.sent_at, first)
    {
        return Ok(time_refused(event, &violation));
    }

    let prev = match event.seq {
        1 => None,
        seq => match known.get(&(seq - 1)) {
            Some(k) => Some(k.hash),
            None => neighbour_hashes(ctx.reading().await?, device, seq - 1)
                .await?
                .map(|(h, _)| h),
        },
    };
    let fills_gap = as_i64(event.seq) < state.max_seq;
    let next_prev = if fills_gap {
        match known.get(&(event.seq + 1)) {
            Some(Known {
                prev_hash: Some(prev_hash),
                ..
            }) => Some(*prev_hash),
            _ => neighbour_hashes(ctx.reading().await?, device, event.seq + 1)
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
        // Nothing is stored below seq 1.
        _ if event.seq <= 1 => None,
        _ => sealed_neighbour(ctx.reading().await?, device, event.seq, Side::Before).await?,
    };
    let after = if fills_gap {
        sealed_neighbour(ctx.reading().await?, device, event.seq, Side::After).await?
    } else {
        None
    };
    if let Err(violation) = check_order(event.seq, event.sent_at, before, after) {
        return Ok(time_refused(event, &violation));
    }
    if let Payload::Dropped(dropped) = &event.payload
        && !dropped_links(ctx.reading().await?, device, known, dropped).await?
    {
        return Ok(chain_broken(event));
    }

    if !ctx.seen.event_ids.insert(event.event_id.to_string()) {
        // The event_id is taken by another seq: not a resend.
        return Ok(replayed(event));
    }
    let body = match std::str::from_utf8(raw) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(&event.to_wire()).into_owned(),
    };
    ctx.pending.events.push(EventRow { event, body });

    let seq = as_i64(event.seq);
    if seq > state.max_seq + 1 {
        sqlx::query(
            "INSERT INTO gaps (device_id, from_seq, to_seq, opened_at_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(device.as_str())
        .bind(state.max_seq + 1)
        .bind(seq - 1)
        .bind(now)
        .execute(&mut **ctx.tx)
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
        record_dropped(ctx.tx, device, seq, dropped, now).await?;
    }
    if let Payload::Presence(p) = &event.payload {
        ctx.pending.presence.push((event, p));
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

/// The rows `select` (ending in `… IN`) finds for `keys`, a statement per [`ROWS_PER_STATEMENT`].
async fn rows_in(
    tx: &mut Transaction<'static, Any>,
    select: &str,
    keys: &[String],
    marks: Marks,
) -> Result<Vec<AnyRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let sql = format!("{select} ({})", placeholders(chunk.len(), marks));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for key in chunk {
            query = query.bind(key.as_str());
        }
        rows.extend(query.fetch_all(&mut **tx).await?);
    }
    Ok(rows)
}

/// When each of these digests (of a topic and its bytes) was first quarantined, for those that were.
async fn first_quarantined(
    tx: &mut Transaction<'static, Any>,
    digests: &[String],
    marks: Marks,
) -> Result<HashMap<String, i64>, StoreError> {
    let select = "SELECT digest, first_seen_ms FROM quarantine WHERE digest IN";
    rows_in(tx, select, digests, marks)
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Which of these event ids are already stored.
async fn taken_event_ids(
    tx: &mut Transaction<'static, Any>,
    event_ids: &[String],
    marks: Marks,
) -> Result<HashSet<String>, StoreError> {
    // PostgreSQL keeps every event id in `event_keys` (migration 0022): one index, where `events` has
    // one per month partition.
    let select = match marks {
        Marks::Numbered => "SELECT event_id FROM event_keys WHERE event_id IN",
        Marks::Anonymous => "SELECT event_id FROM events WHERE event_id IN",
    };
    rows_in(tx, select, event_ids, marks)
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

/// `$1, $2, …, $n` (or `?, ?, …`).
fn placeholders(n: usize, marks: Marks) -> String {
    let mut sql = String::with_capacity(n * 5);
    for i in 1..=n {
        if i > 1 {
            sql.push_str(", ");
        }
        marks.push(&mut sql, i);
    }
    sql
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
    seen: &mut Seen,
    rejection: &Rejection,
    now: i64,
) -> Result<(), StoreError> {
    let digest = quarantine_digest(&rejection.topic, &rejection.raw);
    seen.quarantined.entry(digest.clone()).or_insert(now);
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
