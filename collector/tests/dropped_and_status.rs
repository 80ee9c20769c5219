//! Schema-2 records at the store: a box's `dropped` record accounts for the checkpoints it dropped from
//! a full spool (the ack moves past them, the gap closes, the chain is bridged) only when its hashes
//! link to what is stored; connection status is recorded per device, once per change.

use wardwatch_collector::store::ingest::{ChainCache, Fate};
use wardwatch_collector::store::{Store, StoreLocation};
use wardwatch_protocol::{
    DeviceId, DeviceStatus, Digest, DropReason, DroppedEvent, Event, Payload, RejectReason,
    SpoolDropped, Timestamp,
};
use wardwatch_testkit::ward_box::{WardBox, incoming};

/// A `dropped` record for the given events, as the agent writes it.
fn dropped(ward: &mut WardBox, events: &[Event]) -> Event {
    let events = events
        .iter()
        .map(|e| DroppedEvent {
            seq: e.seq,
            hash: e.hash,
            prev_hash: e.prev_hash,
            interval_id: uuid::Uuid::from_u128(u128::from(e.seq)),
        })
        .collect();
    ward.seal(Payload::Dropped(SpoolDropped {
        reason: DropReason::SpoolFull,
        events,
    }))
}

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&StoreLocation::DataDir(dir.path().to_path_buf()))
        .await
        .expect("open store");
    (dir, store)
}

#[tokio::test]
async fn a_dropped_record_that_links_closes_the_gap_and_moves_the_ack() {
    let (_dir, store) = store().await;
    let cache = ChainCache::new();
    let mut agent = WardBox::new(7, "box-1");
    let kept: Vec<Event> = (0..2).map(|_| agent.health()).collect();
    let lost: Vec<Event> = (0..3).map(|_| agent.health()).collect();
    let after = agent.health();

    let outcome = store
        .ingest_batch(
            &[incoming(&kept[0]), incoming(&kept[1]), incoming(&after)],
            &cache,
        )
        .await
        .expect("ingest");
    assert!(outcome.fates.iter().all(|f| *f == Fate::Stored));
    assert_eq!(outcome.acks[0].1, 2, "the ack stops before the gap");
    assert_eq!(store.stats().await.expect("stats").gaps.open, 1);

    let report = dropped(&mut agent, &lost);
    let outcome = store
        .ingest_batch(&[incoming(&report)], &cache)
        .await
        .expect("ingest");
    assert_eq!(outcome.fates, vec![Fate::Stored]);
    assert_eq!(
        outcome.acks[0].1, report.seq,
        "dropped seqs count as accounted for, so the box can retire its spool"
    );
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.gaps.open, 0);
    assert_eq!(stats.gaps.closed, 1);
    assert_eq!(stats.dropped_by_devices, 3);
    assert_eq!(stats.events.get("dropped"), Some(&1));

    // The chain is bridged: the next event links through the dropped ones' hashes.
    let next = agent.health();
    let outcome = store
        .ingest_batch(&[incoming(&next)], &cache)
        .await
        .expect("ingest");
    assert_eq!(outcome.fates, vec![Fate::Stored]);
    assert_eq!(outcome.acks[0].1, next.seq);
}

#[tokio::test]
async fn a_dropped_record_that_does_not_link_is_quarantined_and_the_gap_stays() {
    let (_dir, store) = store().await;
    let cache = ChainCache::new();
    let mut agent = WardBox::new(7, "box-1");
    let first = agent.health();
    let lost = agent.health();
    let after = agent.health();
    store
        .ingest_batch(&[incoming(&first), incoming(&after)], &cache)
        .await
        .expect("ingest");

    // The box claims it dropped seq 2 but lies about its hash (a real event it wants to hide).
    let mut forged = lost.clone();
    forged.hash = Digest([9; 32]);
    let report = dropped(&mut agent, &[forged]);
    let outcome = store
        .ingest_batch(&[incoming(&report)], &cache)
        .await
        .expect("ingest");
    assert_eq!(
        outcome.fates,
        vec![Fate::Quarantined(RejectReason::ChainBroken)]
    );
    assert_eq!(
        outcome.acks[0].1, 1,
        "the ack does not pass the unexplained gap"
    );
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.gaps.open, 1);
    assert_eq!(stats.dropped_by_devices, 0);
}

#[tokio::test]
async fn connection_status_is_recorded_once_per_change() {
    let (_dir, store) = store().await;
    let device: DeviceId = "box-1".parse().expect("device id");
    let connected = Timestamp::from_millis(1_790_000_000_000).expect("time");
    store
        .record_status(&device, &DeviceStatus::online(connected), false)
        .await
        .expect("record");
    let states = store.device_states().await.expect("states");
    assert_eq!(
        states.get("box-1"),
        Some(&("online".to_owned(), Some(connected.millis())))
    );

    store
        .record_status(&device, &DeviceStatus::offline(), false)
        .await
        .expect("record");
    let (state, since) = store.device_states().await.expect("states")["box-1"].clone();
    assert_eq!(state, "offline");
    let since = since.expect("dated when heard");

    // The retained last will, delivered again when the collector reconnects, keeps its first date.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .record_status(&device, &DeviceStatus::offline(), true)
        .await
        .expect("record");
    assert_eq!(
        store.device_states().await.expect("states")["box-1"],
        ("offline".to_owned(), Some(since))
    );
    assert_eq!(store.stats().await.expect("stats").devices_online, 0);
}
