//! What the box cannot know, at the collector: the times an event states are checked against the
//! collector's receipt (through [`verify`]) and against the event's stored chain neighbours (in the
//! store, inside the batch transaction). A refused event is quarantined with its reason and a detail
//! naming the field and the times, is never stored as presence, and holds the ack below it while the
//! events after it on the chain are stored.

use wardwatch_collector::ingest::times::TimeChecks;
use wardwatch_collector::ingest::verify::{Registry, Verdict, verify};
use wardwatch_collector::store::ingest::{ChainCache, Fate, Incoming};
use wardwatch_collector::store::{Store, StoreLocation};
use wardwatch_protocol::{Event, Limits, RejectReason, Timestamp};
use wardwatch_testkit::ward_box::{WardBox, incoming};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// A final presence report of `start..end`, sealed at `sent_at`, for an interval of its own.
fn presence(ward: &mut WardBox, sent_at: Timestamp, start: Timestamp, end: Timestamp) -> Event {
    let n = ward.chain.len() as u128 + 1;
    ward.presence_at(sent_at, n, start, end, false)
}

async fn store(ward: &WardBox) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&StoreLocation::DataDir(dir.path().to_path_buf()))
        .await
        .expect("open store");
    store
        .add_device(&ward.registration())
        .await
        .expect("register");
    (dir, store)
}

async fn details(store: &Store, reason: RejectReason) -> Vec<String> {
    sqlx::query_scalar("SELECT detail FROM quarantine WHERE reason = $1 ORDER BY id")
        .bind(reason.as_str())
        .fetch_all(store.pool())
        .await
        .expect("quarantine")
}

async fn presence_rows(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM presence_intervals")
        .fetch_one(store.pool())
        .await
        .expect("presence")
}

/// `verify` as ingest calls it, returning the reason if the message is refused.
async fn verdict(store: &Store, event: &Event, checks: &TimeChecks) -> Option<RejectReason> {
    let mut registry = Registry::new();
    let topic = event.topic().to_string();
    match verify(
        &topic,
        &event.to_wire(),
        &Limits::default(),
        checks,
        &mut registry,
        store,
    )
    .await
    .expect("verify")
    {
        Verdict::Record(Incoming::Rejected(r)) => Some(r.reason),
        Verdict::Record(Incoming::Event { .. }) => None,
        _ => panic!("not an event verdict"),
    }
}

#[tokio::test]
async fn verify_refuses_the_future_a_reversed_and_an_overlong_interval_but_not_age() {
    let mut ward = WardBox::new(11, "box-t");
    let (_dir, store) = store(&ward).await;
    let checks = TimeChecks::default();
    let now = Timestamp::now();

    let future = ward.health_at(now.plus_millis(2 * HOUR));
    assert_eq!(
        verdict(&store, &future, &checks).await,
        Some(RejectReason::SealedInFuture)
    );
    let reversed = presence(
        &mut ward,
        now,
        now.plus_millis(-HOUR),
        now.plus_millis(-2 * HOUR),
    );
    assert_eq!(
        verdict(&store, &reversed, &checks).await,
        Some(RejectReason::IntervalReversed)
    );
    let after_seal = presence(
        &mut ward,
        now.plus_millis(-DAY),
        now.plus_millis(-HOUR),
        now.plus_millis(-MIN),
    );
    assert_eq!(
        verdict(&store, &after_seal, &checks).await,
        Some(RejectReason::IntervalInFuture)
    );
    let days24 = presence(
        &mut ward,
        now,
        now.plus_millis(-24 * DAY - HOUR),
        now.plus_millis(-HOUR),
    );
    assert_eq!(
        verdict(&store, &days24, &checks).await,
        Some(RejectReason::IntervalTooLong)
    );
    // Late is not forged: sealed five weeks ago, right after the sighting.
    let late = presence(
        &mut ward,
        now.plus_millis(-35 * DAY),
        now.plus_millis(-35 * DAY - 4 * HOUR),
        now.plus_millis(-35 * DAY - MIN),
    );
    assert_eq!(verdict(&store, &late, &checks).await, None);
}

#[tokio::test]
async fn an_event_sealed_earlier_than_its_stored_predecessor_is_quarantined_and_holds_the_ack() {
    let mut ward = WardBox::new(11, "box-t");
    let (_dir, store) = store(&ward).await;
    let cache = ChainCache::new();
    let t = Timestamp::now().plus_millis(-3 * DAY);

    let first = ward.health_at(t);
    let second = ward.health_at(t.plus_millis(MIN));
    // The box's clock set back a day: "yesterday's" presence, sealed after today's events.
    let back = presence(
        &mut ward,
        t.plus_millis(-DAY),
        t.plus_millis(-DAY - 4 * HOUR),
        t.plus_millis(-DAY - MIN),
    );
    // Consistent with the refused one, but not with the stored chain: refused too.
    let still_back = ward.health_at(t.plus_millis(-DAY + MIN));
    // The clock set right again: stored.
    let later = ward.health_at(t.plus_millis(2 * MIN));
    // A correction within the tolerance is a clock being set right: stored.
    let corrected = ward.health_at(t.plus_millis(2 * MIN - 4 * MIN));

    let outcome = store
        .ingest_batch(
            &[
                incoming(&first),
                incoming(&second),
                incoming(&back),
                incoming(&still_back),
                incoming(&later),
                incoming(&corrected),
            ],
            &cache,
        )
        .await
        .expect("ingest");
    let out_of_order = Fate::Quarantined(RejectReason::SealedOutOfOrder);
    assert_eq!(
        outcome.fates,
        [
            Fate::Stored,
            Fate::Stored,
            out_of_order,
            out_of_order,
            Fate::Stored,
            Fate::Stored
        ]
    );
    assert_eq!(outcome.acks[0].1, 2, "the ack stops below the refused seq");
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.gaps.open, 1, "{stats:?}");
    assert_eq!(
        presence_rows(&store).await,
        0,
        "refused presence is not stored"
    );
    let detail = &details(&store, RejectReason::SealedOutOfOrder).await[0];
    assert!(
        detail.contains(&format!(
            "`sent_at` {} of seq 3 is 1 d 0 h earlier than the `sent_at` {} of the stored seq 2 before it",
            back.sent_at, second.sent_at
        )),
        "{detail}"
    );

    // Each batch on its own (the cache path), and a resend: the same verdicts.
    let cache: ChainCache = [(
        ward.device.clone(),
        (second.seq, second.hash, second.sent_at),
    )]
    .into();
    let outcome = store
        .ingest_batch(&[incoming(&back)], &cache)
        .await
        .expect("ingest");
    assert_eq!(outcome.fates, [out_of_order]);
    let times_seen: i64 =
        sqlx::query_scalar("SELECT times_seen FROM quarantine WHERE detail LIKE '%seq 3 %'")
            .fetch_one(store.pool())
            .await
            .expect("row");
    assert_eq!(times_seen, 2);
}

#[tokio::test]
async fn an_event_filling_a_gap_sealed_after_its_stored_successor_is_quarantined() {
    let mut ward = WardBox::new(11, "box-t");
    let (_dir, store) = store(&ward).await;
    let cache = ChainCache::new();
    let t = Timestamp::now().plus_millis(-DAY);
    let first = ward.health_at(t);
    // Sealed (and chained) an hour after the event that follows it on the chain.
    let forged = presence(
        &mut ward,
        t.plus_millis(HOUR),
        t.plus_millis(MIN),
        t.plus_millis(HOUR),
    );
    let third = ward.health_at(t.plus_millis(10 * MIN));
    let outcome = store
        .ingest_batch(&[incoming(&first), incoming(&third)], &cache)
        .await
        .expect("ingest");
    assert_eq!(outcome.fates, [Fate::Stored, Fate::Stored]);
    let outcome = store
        .ingest_batch(&[incoming(&forged)], &cache)
        .await
        .expect("ingest");
    assert_eq!(
        outcome.fates,
        [Fate::Quarantined(RejectReason::SealedOutOfOrder)]
    );
    assert_eq!(outcome.acks[0].1, 1);
    assert_eq!(presence_rows(&store).await, 0);
    let detail = &details(&store, RejectReason::SealedOutOfOrder).await[0];
    assert!(detail.contains("of the stored seq 3 after it"), "{detail}");
}

#[tokio::test]
async fn bytes_quarantined_before_their_seal_time_stay_in_the_future_when_sent_again() {
    let mut ward = WardBox::new(11, "box-t");
    let (_dir, store) = store(&ward).await;
    let checks = TimeChecks::default();
    let now = Timestamp::now();
    // First receipt, two hours ago, of an event that says it was sealed an hour ago.
    let event = ward.health_at(now.plus_millis(-HOUR));
    let first = Incoming::Rejected(wardwatch_collector::store::ingest::Rejection {
        reason: RejectReason::SealedInFuture,
        detail: "first receipt".into(),
        topic: event.topic().to_string(),
        raw: event.to_wire(),
    });
    store
        .ingest_batch(&[first], &ChainCache::new())
        .await
        .expect("ingest");
    sqlx::query("UPDATE quarantine SET first_seen_ms = $1")
        .bind(now.plus_millis(-2 * HOUR).millis())
        .execute(store.pool())
        .await
        .expect("backdate the first receipt");

    // Now its time has come, and verify alone would let it through; the store remembers.
    assert_eq!(verdict(&store, &event, &checks).await, None);
    let outcome = store
        .ingest_batch(&[incoming(&event)], &ChainCache::new())
        .await
        .expect("ingest");
    assert_eq!(
        outcome.fates,
        [Fate::Quarantined(RejectReason::SealedInFuture)]
    );
    assert_eq!(store.stats().await.expect("stats").total_events(), 0);
    let times_seen: i64 = sqlx::query_scalar("SELECT times_seen FROM quarantine")
        .fetch_one(store.pool())
        .await
        .expect("row");
    assert_eq!(times_seen, 2);
}
