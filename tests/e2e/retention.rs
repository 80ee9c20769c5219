//! Retention (issue 15, PIPL): past their periods, unknown faces' embeddings leave the intervals and the
//! stored events, quarantined bytes are emptied, presence detail and evidence crops are deleted —
//! except what an open case needs — and every pass is recorded in an append-only log.

use crate::audit::databases;
use crate::rules::{P, import_month, ingest, presence, session, ts};
use wardwatch_collector::flags::store::NewFlag;
use wardwatch_collector::retention::RetentionPeriods;
use wardwatch_collector::rules::RuleId;
use wardwatch_collector::store::Store;
use wardwatch_collector::store::ingest::{ChainCache, Incoming, Rejection};
use wardwatch_protocol::*;

fn unknown_with_embedding(start: &str, end: &str) -> Payload {
    let mut values = vec![0.0f32; 512];
    values[0] = 1.0;
    let Payload::Presence(mut p) = presence(&format!("{P}01"), start, end) else {
        unreachable!()
    };
    p.person = Person::UnknownTrack("t-unknown".parse().expect("track"));
    p.embedding = Some(FaceEmbedding::try_from(values).expect("embedding"));
    Payload::Presence(p)
}

fn crop(at: &str) -> Payload {
    Payload::Evidence(EvidenceCrop {
        camera_id: "cam-1".parse().expect("id"),
        track_id: "t-unknown".parse().expect("track"),
        reason: EvidenceReason::Unknown,
        captured_at: ts(at),
        liveness: Liveness::try_from(0.9).expect("score"),
        jpeg: Jpeg::new(vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]).expect("jpeg"),
    })
}

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(store.pool())
        .await
        .expect(sql)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_past_its_period_goes_except_what_an_open_case_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in databases(dir.path(), "retention on postgres").await {
        let store = db.open().await;
        ingest(
            &store,
            vec![
                // Old and free to go: the 2nd and 3rd of November.
                session(&format!("{P}01"), 2),
                (
                    "2026-11-03T04:00:01.000Z",
                    unknown_with_embedding("2026-11-03T00:00:00.000Z", "2026-11-03T04:00:00.000Z"),
                ),
                ("2026-11-03T04:00:02.000Z", crop("2026-11-03T03:00:00.000Z")),
                // Old but under an open case: the 10th.
                session(&format!("{P}02"), 10),
                ("2026-11-10T04:00:02.000Z", crop("2026-11-10T03:00:00.000Z")),
                // The box's newest event.
                session(&format!("{P}01"), 30),
            ],
        )
        .await;
        // The open case: patient 02 billed on the 10th, flagged, pending review.
        import_month(
            &store,
            dir.path(),
            format!(
                "setl_id,mdtrt_id,psn_no,fixmedins_code,setl_time,medfee_sumamt,fund_pay_sumamt\n\
                 S-held,M-held,{P}02,H43060200175,2026-11-10 12:30:00,410,328\n"
            ),
            format!(
                "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,cnt,pric,det_item_fee_sumamt\n\
                 FD-held,M-held,{P}02,2026-11-10 08:00:00,EXAMPLE-311000006,1,410,410\n"
            ),
        )
        .await;
        store
            .raise_flag(&NewFlag {
                dedup_key: "retention-test".into(),
                rule_id: RuleId::ShortPresence,
                rule_version: 1,
                fixmedins_code: "H43060200175".parse().expect("code"),
                psn_no: Some(format!("{P}02").parse().expect("psn")),
                amount_fen: 41_000,
                evidence: serde_json::json!({}),
                lines: vec!["FD-held".into()],
            })
            .await
            .expect("raise")
            .expect("new");
        // A quarantined message seen long ago.
        let rejected = Incoming::Rejected(Rejection {
            reason: RejectReason::InvalidJson,
            detail: "test".into(),
            topic: "wardwatch/v1/H43060200175/hd-box-1/presence".into(),
            raw: b"a face, perhaps".to_vec(),
        });
        store
            .ingest_batch(&[rejected], &ChainCache::new())
            .await
            .expect("quarantine");
        sqlx::query("UPDATE quarantine SET first_seen_ms = $1, last_seen_ms = $1")
            .bind(ts("2026-11-01T00:00:00.000Z").millis())
            .execute(store.pool())
            .await
            .expect("age");
        let now = ts("2026-12-05T00:00:00.000Z").millis();

        // Pass 1: embeddings and quarantined bytes (10 days).
        let outcomes = store
            .apply_retention(
                &RetentionPeriods {
                    unknown_embedding_days: Some(10),
                    quarantine_bytes_days: Some(10),
                    ..RetentionPeriods::default()
                },
                now,
            )
            .await
            .expect("retention");
        let rows: Vec<(&str, u64)> = outcomes.iter().map(|o| (o.data_class, o.rows)).collect();
        assert_eq!(
            rows,
            [("unknown_embeddings", 2), ("quarantine_bytes", 1)],
            "{}: the interval's column and the event's body; one message",
            db.name
        );
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM presence_intervals WHERE embedding IS NOT NULL"
            )
            .await,
            0
        );
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM events WHERE body LIKE '%embedding%'"
            )
            .await,
            0
        );
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM quarantine WHERE length(raw) = 0"
            )
            .await,
            1,
            "the bytes went, the row stays"
        );
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM presence_intervals").await,
            4
        );

        // Pass 2: presence detail and crops (10 days): the 10th is held by the open case.
        let outcomes = store
            .apply_retention(
                &RetentionPeriods {
                    presence_days: Some(10),
                    evidence_crop_days: Some(10),
                    ..RetentionPeriods::default()
                },
                now,
            )
            .await
            .expect("retention");
        let rows: Vec<(&str, u64, u64)> = outcomes
            .iter()
            .map(|o| (o.data_class, o.rows, o.held))
            .collect();
        assert_eq!(
            rows,
            [("presence_detail", 4, 1), ("evidence_crops", 1, 1)],
            "{}: two intervals and two presence events went, one interval held; one crop each",
            db.name
        );
        let left: Vec<(i64, String)> = sqlx::query_as("SELECT seq, kind FROM events ORDER BY seq")
            .fetch_all(store.pool())
            .await
            .expect("events");
        assert_eq!(
            left,
            [
                (4, "presence".to_owned()),
                (5, "evidence".to_owned()),
                (6, "presence".to_owned())
            ],
            "{}",
            db.name
        );
        let intervals: Vec<(String,)> =
            sqlx::query_as("SELECT psn_no FROM presence_intervals ORDER BY start_ms")
                .fetch_all(store.pool())
                .await
                .expect("intervals");
        assert_eq!(
            intervals,
            [(format!("{P}02"),), (format!("{P}01"),)],
            "{}",
            db.name
        );
        assert_eq!(
            store.stats().await.expect("stats").gaps.open,
            0,
            "deleting old events opens no gap"
        );

        // Every pass recorded, and the record cannot be changed.
        assert_eq!(count(&store, "SELECT COUNT(*) FROM retention_log").await, 4);
        assert!(
            sqlx::query("DELETE FROM retention_log")
                .execute(store.pool())
                .await
                .is_err(),
            "retention_log is append-only"
        );
        store.close().await;
        db.cleanup().await;
    }
}
