//! The durable spool: sealed events wait here, on disk, until the collector acknowledges them.
//!
//! One [redb](https://docs.rs/redb) file holds the unacknowledged events (seq → topic kind + wire bytes),
//! the chain tip (last seq and hash, so `seq` and the hash chain survive restarts), the highest seq the
//! collector acknowledged, and the pipeline checkpoint (source cursor and open presence intervals).
//! [`Spool::commit`] writes a batch of events together with the checkpoint that produced them in one
//! fsynced transaction: after `kill -9` the agent resumes exactly after the last committed batch.
//! Events are removed by [`Spool::ack`], i.e. when the collector (not the broker) has them — or, when
//! the collector has been unreachable so long that the unacknowledged events outgrow their disk budget,
//! by [`Spool::enforce_budget`]: it drops the oldest presence checkpoints (each superseded by a later
//! report of its interval), never anything else, and seals a `dropped` event that lists each dropped
//! event's seq and hashes so the collector can bridge the chain.

use crate::seal::Sealer;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use wardwatch_protocol::private_file;
use wardwatch_protocol::{
    Digest, DropReason, DroppedEvent, Event, Payload, SpoolDropped, TopicKind,
};

/// The spool's file name inside the spool directory.
pub const SPOOL_FILE: &str = "spool.redb";

const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Unacknowledged presence checkpoints (seq → interval id, hash, prev_hash): what may be dropped.
const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");
/// Bytes of unacknowledged event records.
const BYTES: &str = "bytes";
const TIP: &str = "tip";
const ACKED: &str = "acked";
const CHECKPOINT: &str = "checkpoint";

/// The spool file could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Creating the spool directory failed.
    #[error("spool directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The spool file could not be created or set to mode 0600.
    #[error("spool file: {0}")]
    Private(#[from] wardwatch_protocol::private_file::PrivateFileError),
    /// The database reported an error.
    #[error("spool database: {0}")]
    Db(#[from] redb::Error),
    /// A stored record is not in the expected form (a damaged or foreign file).
    #[error("spool record {0} is damaged")]
    Damaged(&'static str),
}

fn store<E: Into<redb::Error>>(e: E) -> SpoolError {
    SpoolError::Db(e.into())
}

/// The newest sealed event: the next one gets `seq + 1` and links to `hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    /// Last assigned seq (0 before the first event).
    pub seq: u64,
    /// Its hash ([`Digest::GENESIS`] before the first event).
    pub hash: Digest,
}

/// An event waiting in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledEvent {
    /// Its seq.
    pub seq: u64,
    /// Which topic it goes to.
    pub kind: TopicKind,
    /// The JSON to publish.
    pub wire: Vec<u8>,
}

fn kind_code(kind: TopicKind) -> u8 {
    match kind {
        TopicKind::Presence => 1,
        TopicKind::Health => 2,
        TopicKind::Camera => 3,
        TopicKind::Gallery => 4,
        TopicKind::Ack => 5,
        TopicKind::Clock => 6,
        TopicKind::Dropped => 7,
        TopicKind::Status => 8,
        TopicKind::Evidence => 9,
    }
}

fn kind_from_code(code: u8) -> Option<TopicKind> {
    TopicKind::ALL.into_iter().find(|k| kind_code(*k) == code)
}

/// The spool of one device.
pub struct Spool {
    db: Database,
}

impl Spool {
    /// Opens (or creates) the spool in `dir` (created with mode 0700). The spool file is created with
    /// mode 0600; one that other users may read is set to 0600, with a warning.
    pub fn open(dir: &Path) -> Result<Spool, SpoolError> {
        private_file::create_private_dir(dir).map_err(|e| match e {
            private_file::PrivateFileError::Io { path, source } => SpoolError::Dir { path, source },
            other => SpoolError::Private(other),
        })?;
        let file = dir.join(SPOOL_FILE);
        if let Some(t) = private_file::create_private(&file)? {
            tracing::warn!(
                path = %t.path.display(),
                was = format!("{:03o}", t.was),
                "the spool was readable by other users; set to mode 600"
            );
        }
        let db = Database::create(&file).map_err(store)?;
        let txn = db.begin_write().map_err(store)?;
        {
            let events = txn.open_table(EVENTS).map_err(store)?;
            txn.open_table(CHECKPOINTS).map_err(store)?;
            let mut meta = txn.open_table(META).map_err(store)?;
            if meta.get(BYTES).map_err(store)?.is_none() {
                // A spool from before the byte count: count once.
                let mut bytes = 0u64;
                for entry in events.iter().map_err(store)? {
                    bytes += entry.map_err(store)?.1.value().len() as u64;
                }
                meta.insert(BYTES, bytes.to_be_bytes().as_slice())
                    .map_err(store)?;
            }
        }
        txn.commit().map_err(store)?;
        Ok(Spool { db })
    }

    /// Bytes of unacknowledged events.
    pub fn bytes(&self) -> Result<u64, SpoolError> {
        match self.meta(BYTES)? {
            None => Ok(0),
            Some(b) => Ok(u64::from_be_bytes(
                b.try_into().map_err(|_| SpoolError::Damaged(BYTES))?,
            )),
        }
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, SpoolError> {
        let txn = self.db.begin_read().map_err(store)?;
        let table = txn.open_table(META).map_err(store)?;
        Ok(table.get(key).map_err(store)?.map(|v| v.value().to_vec()))
    }

    /// The chain tip.
    pub fn tip(&self) -> Result<ChainTip, SpoolError> {
        match self.meta(TIP)? {
            None => Ok(ChainTip {
                seq: 0,
                hash: Digest::GENESIS,
            }),
            Some(bytes) => {
                let (seq, hash) = bytes.split_at_checked(8).ok_or(SpoolError::Damaged(TIP))?;
                Ok(ChainTip {
                    seq: u64::from_be_bytes(seq.try_into().map_err(|_| SpoolError::Damaged(TIP))?),
                    hash: Digest(hash.try_into().map_err(|_| SpoolError::Damaged(TIP))?),
                })
            }
        }
    }

    /// The highest seq the collector has acknowledged (0: none).
    pub fn acked(&self) -> Result<u64, SpoolError> {
        match self.meta(ACKED)? {
            None => Ok(0),
            Some(bytes) => Ok(u64::from_be_bytes(
                bytes.try_into().map_err(|_| SpoolError::Damaged(ACKED))?,
            )),
        }
    }

    /// The pipeline checkpoint committed with the last batch, if any.
    pub fn checkpoint(&self) -> Result<Option<Vec<u8>>, SpoolError> {
        self.meta(CHECKPOINT)
    }

    /// Seals `payloads` as the next events and stores them with `checkpoint`, in one durable
    /// transaction. Returns the new tip.
    pub fn commit(
        &self,
        sealer: &Sealer,
        payloads: Vec<Payload>,
        checkpoint: &[u8],
    ) -> Result<ChainTip, SpoolError> {
        let mut tip = self.tip()?;
        let mut bytes = self.bytes()?;
        let mut txn = self.db.begin_write().map_err(store)?;
        txn.set_durability(Durability::Immediate).map_err(store)?;
        {
            let mut events = txn.open_table(EVENTS).map_err(store)?;
            let mut checkpoints = txn.open_table(CHECKPOINTS).map_err(store)?;
            for payload in payloads {
                let event = sealer.seal(tip.seq + 1, tip.hash, payload);
                let mut record = vec![kind_code(event.payload.topic_kind())];
                record.extend_from_slice(&event.to_wire());
                events.insert(event.seq, record.as_slice()).map_err(store)?;
                bytes += record.len() as u64;
                if let Payload::Presence(p) = &event.payload
                    && p.open
                {
                    let mut link = p.interval_id.as_bytes().to_vec();
                    link.extend_from_slice(&event.hash.0);
                    link.extend_from_slice(&event.prev_hash.0);
                    checkpoints
                        .insert(event.seq, link.as_slice())
                        .map_err(store)?;
                }
                tip = ChainTip {
                    seq: event.seq,
                    hash: event.hash,
                };
            }
            let mut meta = txn.open_table(META).map_err(store)?;
            meta.insert(BYTES, bytes.to_be_bytes().as_slice())
                .map_err(store)?;
            let mut tip_bytes = tip.seq.to_be_bytes().to_vec();
            tip_bytes.extend_from_slice(&tip.hash.0);
            meta.insert(TIP, tip_bytes.as_slice()).map_err(store)?;
            meta.insert(CHECKPOINT, checkpoint).map_err(store)?;
        }
        txn.commit().map_err(store)?;
        Ok(tip)
    }

    /// Up to `limit` events with seq ≥ `from`, in order.
    pub fn read_from(&self, from: u64, limit: usize) -> Result<Vec<SpooledEvent>, SpoolError> {
        let txn = self.db.begin_read().map_err(store)?;
        let table = txn.open_table(EVENTS).map_err(store)?;
        let mut out = Vec::new();
        for entry in table.range(from..).map_err(store)?.take(limit) {
            let (seq, record) = entry.map_err(store)?;
            let record = record.value();
            let (&code, wire) = record.split_first().ok_or(SpoolError::Damaged("event"))?;
            out.push(SpooledEvent {
                seq: seq.value(),
                kind: kind_from_code(code).ok_or(SpoolError::Damaged("event kind"))?,
                wire: wire.to_vec(),
            });
        }
        Ok(out)
    }

    /// Records the collector's acknowledgement of everything up to `seq` and deletes those events.
    /// Acks never go backwards, and an ack beyond the tip acknowledges events this box never sealed:
    /// it deletes nothing (the publisher refuses it before it gets here). Returns the acknowledged seq
    /// now in force.
    pub fn ack(&self, seq: u64) -> Result<u64, SpoolError> {
        let current = self.acked()?;
        if seq <= current || seq > self.tip()?.seq {
            return Ok(current);
        }
        let mut bytes = self.bytes()?;
        let mut txn = self.db.begin_write().map_err(store)?;
        // Losing an ack in a crash only means re-sending events the collector already has.
        txn.set_durability(Durability::None).map_err(store)?;
        {
            let mut events = txn.open_table(EVENTS).map_err(store)?;
            events
                .retain_in(..=seq, |_, record| {
                    bytes = bytes.saturating_sub(record.len() as u64);
                    false
                })
                .map_err(store)?;
            let mut checkpoints = txn.open_table(CHECKPOINTS).map_err(store)?;
            checkpoints.retain_in(..=seq, |_, _| false).map_err(store)?;
            let mut meta = txn.open_table(META).map_err(store)?;
            meta.insert(ACKED, seq.to_be_bytes().as_slice())
                .map_err(store)?;
            meta.insert(BYTES, bytes.to_be_bytes().as_slice())
                .map_err(store)?;
        }
        txn.commit().map_err(store)?;
        Ok(seq)
    }

    /// Events sealed but not yet acknowledged.
    pub fn depth(&self) -> Result<u64, SpoolError> {
        Ok(self.tip()?.seq - self.acked()?)
    }

    /// Keeps the unacknowledged events within `max_bytes`: when over, drops the oldest presence
    /// checkpoints until nine tenths of the budget is reached (or none is left), and seals a `dropped`
    /// event listing them, in one durable transaction. Nothing else is ever dropped, so the spool may
    /// stay over budget when only final reports, camera states and the like remain. Returns the
    /// record sealed, if any.
    pub fn enforce_budget(
        &self,
        sealer: &Sealer,
        max_bytes: u64,
    ) -> Result<Option<SpoolDropped>, SpoolError> {
        let mut bytes = self.bytes()?;
        if bytes <= max_bytes {
            return Ok(None);
        }
        let target = max_bytes / 10 * 9;
        let mut tip = self.tip()?;
        let mut txn = self.db.begin_write().map_err(store)?;
        txn.set_durability(Durability::Immediate).map_err(store)?;
        let record = {
            let mut events = txn.open_table(EVENTS).map_err(store)?;
            let mut checkpoints = txn.open_table(CHECKPOINTS).map_err(store)?;
            let mut dropped = Vec::new();
            let mut chosen = Vec::new();
            // The record itself takes room: its envelope and, per dropped event, seq, hashes, id.
            let record_size = |n: usize| 700 + 240 * n as u64;
            for entry in checkpoints.iter().map_err(store)? {
                if bytes + record_size(dropped.len()) <= target {
                    break;
                }
                let (seq, link) = entry.map_err(store)?;
                let (seq, link) = (seq.value(), link.value());
                if link.len() != 16 + 32 + 32 {
                    return Err(SpoolError::Damaged("checkpoint link"));
                }
                let size = events
                    .get(seq)
                    .map_err(store)?
                    .map_or(0, |r| r.value().len() as u64);
                bytes = bytes.saturating_sub(size);
                let digest = |range: std::ops::Range<usize>| {
                    link[range]
                        .try_into()
                        .map(Digest)
                        .map_err(|_| SpoolError::Damaged("checkpoint link"))
                };
                dropped.push(DroppedEvent {
                    seq,
                    interval_id: uuid::Uuid::from_slice(&link[..16])
                        .map_err(|_| SpoolError::Damaged("checkpoint link"))?,
                    hash: digest(16..48)?,
                    prev_hash: digest(48..80)?,
                });
                chosen.push(seq);
            }
            if dropped.is_empty() {
                return Ok(None);
            }
            for seq in &chosen {
                events.remove(seq).map_err(store)?;
                checkpoints.remove(seq).map_err(store)?;
            }
            let record = SpoolDropped {
                reason: DropReason::SpoolFull,
                events: dropped,
            };
            let event: Event = sealer.seal(tip.seq + 1, tip.hash, Payload::Dropped(record.clone()));
            let mut wire = vec![kind_code(TopicKind::Dropped)];
            wire.extend_from_slice(&event.to_wire());
            events.insert(event.seq, wire.as_slice()).map_err(store)?;
            bytes += wire.len() as u64;
            tip = ChainTip {
                seq: event.seq,
                hash: event.hash,
            };
            let mut meta = txn.open_table(META).map_err(store)?;
            let mut tip_bytes = tip.seq.to_be_bytes().to_vec();
            tip_bytes.extend_from_slice(&tip.hash.0);
            meta.insert(TIP, tip_bytes.as_slice()).map_err(store)?;
            meta.insert(BYTES, bytes.to_be_bytes().as_slice())
                .map_err(store)?;
            record
        };
        txn.commit().map_err(store)?;
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_protocol::{Health, SigningKey, decode::check_link};

    fn sealer() -> Sealer {
        Sealer::new(
            SigningKey::from_bytes(&[1; 32]),
            "box-1".parse().unwrap(),
            "H43060200175".parse().unwrap(),
        )
    }

    fn health(n: u64) -> Payload {
        Payload::Health(Health {
            agent_version: "t".into(),
            spool_depth: n,
            uptime_secs: n,
            gallery_version: None,
            cameras: Vec::new(),
        })
    }

    #[test]
    fn the_spool_is_created_owner_only_and_a_readable_one_is_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let spool_dir = dir.path().join("spool");
        let file = spool_dir.join(SPOOL_FILE);
        {
            let spool = Spool::open(&spool_dir).unwrap();
            spool
                .commit(&sealer(), (0..3).map(health).collect(), b"cp")
                .unwrap();
        }
        assert_eq!(private_file::mode(&file).unwrap(), 0o600, "spool file");
        assert_eq!(private_file::mode(&spool_dir).unwrap(), 0o700, "spool dir");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let spool = Spool::open(&spool_dir).unwrap();
        assert_eq!(private_file::mode(&file).unwrap(), 0o600, "tightened");
        assert_eq!(spool.tip().unwrap().seq, 3, "nothing lost by tightening");
    }

    #[test]
    fn chain_and_checkpoint_survive_reopen_and_acks_delete() {
        let dir = tempfile::tempdir().unwrap();
        {
            let spool = Spool::open(dir.path()).unwrap();
            let tip = spool
                .commit(&sealer(), (0..5).map(health).collect(), b"cp1")
                .unwrap();
            assert_eq!(tip.seq, 5);
        }
        let spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.tip().unwrap().seq, 5);
        assert_eq!(spool.checkpoint().unwrap().as_deref(), Some(&b"cp1"[..]));
        spool.commit(&sealer(), vec![health(5)], b"cp2").unwrap();

        let events = spool.read_from(1, 100).unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6]
        );
        let decoded: Vec<wardwatch_protocol::Event> = events
            .iter()
            .map(|e| serde_json::from_slice(&e.wire).unwrap())
            .collect();
        for pair in decoded.windows(2) {
            check_link(&pair[1], Some(&pair[0].hash), None).unwrap();
        }

        assert_eq!(spool.ack(4).unwrap(), 4);
        assert_eq!(spool.ack(2).unwrap(), 4, "acks never go backwards");
        assert_eq!(spool.ack(99).unwrap(), 4, "beyond the tip: nothing deleted");
        assert_eq!(spool.read_from(1, 100).unwrap().len(), 2);
        assert_eq!(spool.ack(6).unwrap(), 6);
        assert_eq!(spool.depth().unwrap(), 0);
        assert!(spool.read_from(1, 100).unwrap().is_empty());
        assert_eq!(
            spool.tip().unwrap().seq,
            6,
            "the tip outlives the acked events"
        );
    }

    fn presence(interval: u128, open: bool, minute: i64) -> Payload {
        use wardwatch_protocol::{Liveness, Person, Presence, Similarity, Timestamp, WardKind};
        let t = |m: i64| Timestamp::from_millis(1_790_000_000_000 + m * 60_000).unwrap();
        Payload::Presence(Presence {
            interval_id: uuid::Uuid::from_u128(interval),
            camera_id: "cam-1".parse().unwrap(),
            ward_kind: WardKind::Haemodialysis,
            person: Person::PsnNo("P001".parse().unwrap()),
            start: t(0),
            end: t(minute),
            open,
            samples: 10,
            best_similarity: Similarity::try_from(0.8).unwrap(),
            median_similarity: Similarity::try_from(0.7).unwrap(),
            liveness: Liveness::try_from(0.9).unwrap(),
            embedding: None,
            track_liveness: None,
            seat: None,
        })
    }

    fn camera(minute: i64) -> Payload {
        use wardwatch_protocol::{CameraState, CameraStatus, Timestamp};
        Payload::Camera(CameraStatus {
            camera_id: "cam-1".parse().unwrap(),
            state: CameraState::Obstructed,
            since: Timestamp::from_millis(1_790_000_000_000 + minute * 60_000).unwrap(),
        })
    }

    #[test]
    fn over_budget_only_the_oldest_checkpoints_go_and_a_record_lists_them() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        // seq 1..=20: a checkpoint every minute, a camera state every fifth, then the final report.
        let mut payloads = Vec::new();
        for m in 1..=18 {
            payloads.push(if m % 5 == 0 {
                camera(m)
            } else {
                presence(7, true, m)
            });
        }
        payloads.push(presence(7, false, 19));
        payloads.push(health(0));
        spool.commit(&sealer(), payloads, b"cp").unwrap();
        let before: Vec<wardwatch_protocol::Event> = spool
            .read_from(1, 100)
            .unwrap()
            .iter()
            .map(|e| serde_json::from_slice(&e.wire).unwrap())
            .collect();
        let bytes = spool.bytes().unwrap();
        assert!(
            spool.enforce_budget(&sealer(), bytes).unwrap().is_none(),
            "within budget"
        );
        // Half the budget: checkpoints go, oldest first, until 90% of it.
        let budget = bytes / 2;
        let record = spool
            .enforce_budget(&sealer(), budget)
            .unwrap()
            .expect("something dropped");
        let seqs: Vec<u64> = record.events.iter().map(|d| d.seq).collect();
        assert_eq!(seqs[0], 1, "oldest first");
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        for d in &record.events {
            let original = &before[d.seq as usize - 1];
            assert!(
                matches!(&original.payload, Payload::Presence(p) if p.open),
                "only checkpoints"
            );
            assert_eq!((d.hash, d.prev_hash), (original.hash, original.prev_hash));
        }
        let left = spool.read_from(1, 100).unwrap();
        assert!(left.iter().all(|e| !seqs.contains(&e.seq)));
        assert!(
            spool.bytes().unwrap() <= budget,
            "{} > {budget}",
            spool.bytes().unwrap()
        );
        // The record is sealed at the tip, linked to the previous tip.
        let last: wardwatch_protocol::Event =
            serde_json::from_slice(&left.last().unwrap().wire).unwrap();
        assert_eq!(last.seq, 21);
        assert_eq!(last.prev_hash, before[19].hash);
        assert!(matches!(last.payload, Payload::Dropped(_)));
        // Camera states and the final report are never dropped, even far over budget.
        let again = spool.enforce_budget(&sealer(), 1).unwrap();
        let all_dropped: Vec<u64> = seqs
            .iter()
            .copied()
            .chain(again.iter().flat_map(|r| r.events.iter().map(|d| d.seq)))
            .collect();
        let kept: Vec<u64> = spool
            .read_from(1, 100)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        for m in [5u64, 10, 15, 19, 20, 21] {
            assert!(kept.contains(&m), "seq {m} kept: {kept:?}");
        }
        assert_eq!(all_dropped.len(), 15, "every checkpoint, once");
        // Acks keep the byte count honest.
        spool.ack(spool.tip().unwrap().seq).unwrap();
        assert_eq!(spool.bytes().unwrap(), 0);
    }
}
