//! PostgreSQL's month partitions (migration 0022) as ingest, the import and retention use them: every
//! key stays unique across months (the key tables), an interval whose start moves into the month before
//! moves partition and stays one row, a box's spool delivered months late lands in the default partition
//! until `serve`'s maintenance gives its month a partition (but a month decades back never gets one), a
//! month's query reads one partition, and a database with data from before the migration keeps every
//! row. Only with `WARDWATCH_TEST_PG`.

use sqlx::Row;
use wardwatch_collector::store::ingest::{ChainCache, Fate, Incoming};
use wardwatch_collector::store::{Store, StoreLocation};
use wardwatch_protocol::{Event, Timestamp};
use wardwatch_testkit::e2e::*;
use wardwatch_testkit::ward_box::{WardBox, incoming};

/// Epoch milliseconds of a time in the bureau's zone (+08:00).
fn at(local: &str) -> Timestamp {
    let ms = chrono::DateTime::parse_from_rfc3339(&format!("{local}+08:00"))
        .expect("time")
        .timestamp_millis();
    Timestamp::from_millis(ms).expect("timestamp")
}

async fn ingest(store: &Store, events: &[&Event]) -> Vec<Fate> {
    let items: Vec<Incoming> = events.iter().map(|e| incoming(e)).collect();
    store
        .ingest_batch(&items, &ChainCache::new())
        .await
        .expect("ingest")
        .fates
}

async fn scalar(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn partition_of(store: &Store, table: &str, key: &str, id: &str) -> String {
    let sql = format!("SELECT tableoid::regclass::text FROM {table} WHERE {key} = $1");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{table} {id}: {e}"))
}

/// A fee line row inserted as the import's statement inserts it (no conflict target).
async fn insert_fee_line(store: &Store, feedetl_sn: &str, at: Timestamp) -> u64 {
    sqlx::query(
        "INSERT INTO fee_lines (feedetl_sn, mdtrt_id, psn_no, fee_ocur_time_ms, hilist_code, cnt, pric, \
         det_item_fee_sumamt_fen, row_sha, import_id, source_row) \
         VALUES ($1, 'M1', '43060000000000000001', $2, '003107000010000', 1, 400, 40000, 'sha', 1, 1) \
         ON CONFLICT DO NOTHING",
    )
    .bind(feedetl_sn)
    .bind(at.millis())
    .execute(store.pool())
    .await
    .expect("insert fee line")
    .rows_affected()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn month_partitions_keep_keys_unique_move_intervals_and_fold_late_rows() {
    let Some(db) = Database::postgres().await else {
        return skip("partitions", "WARDWATCH_TEST_PG is not set");
    };
    let store = db.open().await;
    // Opening made this month's partitions and the next.
    assert!(
        scalar(
            &store,
            "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'events'::regclass"
        )
        .await
            >= 4,
        "events has the months around now and a default partition"
    );
    let mut ward = WardBox::new(21, "box-partitions");
    store
        .add_device(&ward.registration())
        .await
        .expect("register");
    // September and October 2026 have partitions; August has none.
    store
        .ensure_months(
            at("2026-09-15T00:00:00").millis(),
            at("2026-10-15T00:00:00").millis(),
        )
        .await
        .expect("months");

    // A heartbeat from August (its spool delivered months late), then an interval opened just after
    // midnight on 1 October and closed with its start moved back to 23:50 on 30 September.
    let late = ward.health_at(at("2026-08-20T10:00:00"));
    let opened = ward.presence_at(
        at("2026-10-01T00:41:00"),
        7,
        at("2026-10-01T00:30:00"),
        at("2026-10-01T00:40:00"),
        true,
    );
    let closed = ward.presence_at(
        at("2026-10-01T02:01:00"),
        7,
        at("2026-09-30T23:50:00"),
        at("2026-10-01T02:00:00"),
        false,
    );
    assert_eq!(
        ingest(&store, &[&late, &opened]).await,
        vec![Fate::Stored, Fate::Stored]
    );
    let interval = uuid::Uuid::from_u128(7).to_string();
    assert_eq!(
        partition_of(&store, "presence_intervals", "interval_id", &interval).await,
        "presence_intervals_y2026m10"
    );
    assert_eq!(ingest(&store, &[&closed]).await, vec![Fate::Stored]);
    let row = sqlx::query("SELECT start_ms, end_ms, is_open, seq FROM presence_intervals")
        .fetch_all(store.pool())
        .await
        .expect("intervals");
    assert_eq!(row.len(), 1, "one interval, updated in place");
    assert_eq!(
        (
            row[0].get::<i64, _>(0),
            row[0].get::<i64, _>(1),
            row[0].get::<i64, _>(2),
            row[0].get::<i64, _>(3)
        ),
        (
            at("2026-09-30T23:50:00").millis(),
            at("2026-10-01T02:00:00").millis(),
            0,
            3
        )
    );
    assert_eq!(
        partition_of(&store, "presence_intervals", "interval_id", &interval).await,
        "presence_intervals_y2026m09",
        "the closing report moved the interval into September"
    );
    // An older report of the interval changes nothing, and a resend is a duplicate.
    assert_eq!(ingest(&store, &[&opened]).await, vec![Fate::Duplicate]);
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM presence_intervals").await,
        1
    );

    // The August heartbeat waits in the default partition until maintenance folds it.
    let late_id = late.event_id.to_string();
    assert_eq!(
        partition_of(&store, "events", "event_id", &late_id).await,
        "events_default"
    );
    assert!(store.fold_default_partitions().await.expect("fold") >= 1);
    assert_eq!(
        partition_of(&store, "events", "event_id", &late_id).await,
        "events_y2026m08"
    );
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM events_default").await,
        0
    );
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM events").await, 3);

    // Keys stay unique across months: the same event id, or the same (device, seq), sealed in
    // another month is not stored (as ON CONFLICT DO NOTHING on the old table).
    for (event_id, seq) in [(late_id.as_str(), 99_i64), ("another-id", 1_i64)] {
        let inserted = sqlx::query(
            "INSERT INTO events (event_id, device_id, seq, kind, institution_code, sent_at_ms, \
             received_at_ms, prev_hash, hash, body) VALUES ($1, 'box-partitions', $2, 'health', \
             'H43060200175', $3, $3, 'p', 'h', '{}') ON CONFLICT DO NOTHING",
        )
        .bind(event_id)
        .bind(seq)
        .bind(at("2026-10-10T10:00:00").millis())
        .execute(store.pool())
        .await
        .expect("insert")
        .rows_affected();
        assert_eq!(inserted, 0, "{event_id} / seq {seq} stored twice");
    }
    assert_eq!(
        insert_fee_line(&store, "F-1", at("2026-09-03T09:00:00")).await,
        1
    );
    assert_eq!(
        insert_fee_line(&store, "F-1", at("2026-10-03T09:00:00")).await,
        0,
        "a fee line's feedetl_sn is unique across months"
    );

    // Deleting rows (retention) frees their keys: the key tables hold exactly the stored rows.
    sqlx::query("DELETE FROM events WHERE event_id = $1")
        .bind(&late_id)
        .execute(store.pool())
        .await
        .expect("delete");
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM event_keys").await, 2);
    sqlx::query("DELETE FROM fee_lines WHERE feedetl_sn = 'F-1'")
        .execute(store.pool())
        .await
        .expect("delete");
    assert_eq!(
        insert_fee_line(&store, "F-1", at("2026-10-03T09:00:00")).await,
        1
    );

    // A month's query reads that month's partition only.
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT * FROM presence_intervals WHERE institution_code = 'H43060200175' \
         AND start_ms >= $1 AND start_ms < $2",
    )
    .bind(at("2026-09-01T00:00:00").millis())
    .bind(at("2026-10-01T00:00:00").millis())
    .fetch_all(store.pool())
    .await
    .expect("explain");
    let plan = plan.join("\n");
    assert!(plan.contains("presence_intervals_y2026m09"), "{plan}");
    assert!(!plan.contains("presence_intervals_y2026m10"), "{plan}");
    assert!(!plan.contains("presence_intervals_default"), "{plan}");

    // Only months from ten years back to three months ahead get partitions: a box holding its key
    // can seal events in any month, and a thousand months must not make a thousand partitions.
    // Such rows are stored all the same, in the default partition.
    let inserted = sqlx::query(
        "INSERT INTO events (event_id, device_id, seq, kind, institution_code, sent_at_ms, \
         received_at_ms, prev_hash, hash, body) VALUES ('ancient', 'box-partitions', 77, 'health', \
         'H43060200175', $1, $1, 'p', 'h', '{}') ON CONFLICT DO NOTHING",
    )
    .bind(at("1990-05-01T10:00:00").millis())
    .execute(store.pool())
    .await
    .expect("insert")
    .rows_affected();
    assert_eq!(inserted, 1);
    assert_eq!(
        store
            .ensure_months(
                at("1900-01-01T00:00:00").millis(),
                at("1999-12-31T00:00:00").millis()
            )
            .await
            .expect("months"),
        0
    );
    assert_eq!(store.fold_default_partitions().await.expect("fold"), 0);
    assert_eq!(
        partition_of(&store, "events", "event_id", "ancient").await,
        "events_default"
    );
    store.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_the_partitions_keeps_every_row() {
    let Some(db) = Database::postgres().await else {
        return skip("partitions migration", "WARDWATCH_TEST_PG is not set");
    };
    let StoreLocation::Url(url) = &db.location else {
        panic!("a PostgreSQL database has a URL");
    };
    let pool = sqlx::PgPool::connect(url).await.expect("connect");
    // The schema as it was before migration 0022.
    let mut before = sqlx::migrate!("collector/migrations/postgres");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 22)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(&pool).await.expect("migrations 1-21");
    let times = [
        at("2025-03-05T08:00:00").millis(),
        at("2026-11-30T23:59:00").millis(),
    ];
    for (n, time) in times.iter().enumerate() {
        sqlx::query(
            "INSERT INTO events (event_id, device_id, seq, kind, institution_code, sent_at_ms, \
             received_at_ms, prev_hash, hash, body) VALUES ($1, 'box-old', $2, 'health', \
             'H43060200175', $3, $3, 'p', 'h', '{}')",
        )
        .bind(format!("old-{n}"))
        .bind(n as i64 + 1)
        .bind(time)
        .execute(&pool)
        .await
        .expect("old event");
        sqlx::query(
            "INSERT INTO fee_lines (feedetl_sn, mdtrt_id, psn_no, fee_ocur_time_ms, hilist_code, cnt, \
             pric, det_item_fee_sumamt_fen, row_sha, import_id, source_row) \
             VALUES ($1, 'M1', '43060000000000000001', $2, '003107000010000', 1, 400, 40000, 'sha', 1, 1)",
        )
        .bind(format!("F-old-{n}"))
        .bind(time)
        .execute(&pool)
        .await
        .expect("old fee line");
    }
    pool.close().await;

    let store = db.open().await;
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM events").await, 2);
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM event_keys").await, 2);
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM fee_line_keys").await,
        2
    );
    assert_eq!(
        partition_of(&store, "events", "event_id", "old-0").await,
        "events_y2025m03"
    );
    assert_eq!(
        partition_of(&store, "fee_lines", "feedetl_sn", "F-old-1").await,
        "fee_lines_y2026m11"
    );
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM events_default").await,
        0
    );
    // The old rows' keys are taken.
    assert_eq!(
        insert_fee_line(&store, "F-old-0", at("2026-12-01T09:00:00")).await,
        0
    );
    store.close().await;
    db.cleanup().await;
}
