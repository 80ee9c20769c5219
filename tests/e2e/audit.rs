//! The tamper-evident logs (issue 13, data at rest), on SQLite and on PostgreSQL when
//! `WARDWATCH_TEST_PG` is set: the audit log (`flag_events`) and the access log (`access_log`) are
//! hash-chained, so a row removed, altered or inserted past the append-only triggers — or a `TRUNCATE`
//! — is found and named by `wardwatch collector audit verify`, which exits non-zero; a chain rewritten
//! consistently is caught by a head published earlier (`--expect`); concurrent writers never fork a
//! chain; rows written before the chain existed are chained once when the collector opens the database.

use std::process::Output;
use wardwatch_collector::api::access::AccessEntry;
use wardwatch_collector::flags::store::NewFlag;
use wardwatch_collector::rules::RuleId;
use wardwatch_collector::store::log_chain::{
    self, ChainHead, ChainProblem, ChainedLog, Field, GENESIS,
};
use wardwatch_collector::store::{Backend, Store, StoreLocation, sqlite_url};
use wardwatch_testkit::e2e::*;

/// SQLite in `dir`, and PostgreSQL when `WARDWATCH_TEST_PG` is set (else `test` is reported skipped).
pub(crate) async fn databases(dir: &std::path::Path, test: &str) -> Vec<Database> {
    let mut all = vec![Database::sqlite(dir)];
    match Database::postgres().await {
        Some(pg) => all.push(pg),
        None => skip(test, "WARDWATCH_TEST_PG is not set"),
    }
    all
}

fn entry(n: i64, status: i64) -> AccessEntry {
    AccessEntry {
        at_ms: 1_793_000_000_000 + n,
        user_name: "auditor-li".into(),
        role: "auditor".into(),
        method: "GET".into(),
        path: format!("/api/v1/flags/{n}"),
        status,
        flag_id: Some(n),
        detail: String::new(),
    }
}

/// Three audit rows (three flags raised) and five access rows.
async fn seed(store: &Store) {
    for n in 0..3 {
        store
            .raise_flag(&NewFlag {
                dedup_key: format!("audit-test-{n}"),
                rule_id: RuleId::NoPresence,
                rule_version: 1,
                fixmedins_code: "H43060200175".parse().expect("code"),
                psn_no: None,
                amount_fen: 41_000,
                evidence: serde_json::json!({}),
                lines: Vec::new(),
            })
            .await
            .expect("raise")
            .expect("new");
    }
    for n in 1..=5 {
        store
            .log_access(&entry(n, if n == 3 { 403 } else { 200 }))
            .await
            .expect("log");
    }
}

/// Lets the test act as someone with write access to the database: the append-only triggers of
/// `table` are dropped (SQLite) or disabled (PostgreSQL).
async fn bypass_triggers(store: &Store, table: &str) {
    let statements: Vec<String> = match store.backend() {
        Backend::Sqlite => {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = $1",
            )
            .bind(table)
            .fetch_all(store.pool())
            .await
            .expect("triggers");
            names
                .into_iter()
                .map(|n| format!("DROP TRIGGER {n}"))
                .collect()
        }
        Backend::Postgres => vec![format!("ALTER TABLE {table} DISABLE TRIGGER USER")],
    };
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(store.pool())
            .await
            .expect("bypass a trigger");
    }
}

async fn exec(store: &Store, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn id_at(store: &Store, table: &str, seq: i64) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM {table} WHERE chain_seq = $1"
    )))
    .bind(seq)
    .fetch_one(store.pool())
    .await
    .expect("row")
}

fn verify_cli(db: &Database, expect: &[&ChainHead]) -> (Output, String) {
    let mut command = std::process::Command::new(bin());
    command
        .args(["collector", "audit", "verify"])
        .args(db.args());
    for head in expect {
        command.arg("--expect").arg(head.to_string());
    }
    let output = command.output().expect("run wardwatch");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_altered_and_inserted_rows_are_found_and_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in databases(dir.path(), "audit verify on postgres").await {
        println!("audit verify on {}", db.name);
        let store = db.open().await;
        seed(&store).await;
        let (ok, text) = verify_cli(&db, &[]);
        assert!(ok.status.success(), "{text}");
        assert_eq!(text.matches("chain intact").count(), 2, "{text}");
        let heads = store.chain_heads().await.expect("heads");
        assert_eq!(
            heads.iter().map(|h| (h.log, h.seq)).collect::<Vec<_>>(),
            [(ChainedLog::Audit, 3), (ChainedLog::Access, 5)]
        );
        for head in &heads {
            assert!(text.contains(&format!("head {head}")), "{text}");
        }

        // Past the triggers: an audit row deleted, an access row's refusal turned into a success, an
        // access row inserted as the old code (or anyone with SQL) would.
        let removed = id_at(&store, "flag_events", 2).await;
        let altered = id_at(&store, "access_log", 3).await;
        bypass_triggers(&store, "flag_events").await;
        bypass_triggers(&store, "access_log").await;
        exec(
            &store,
            &format!("DELETE FROM flag_events WHERE id = {removed}"),
        )
        .await;
        exec(
            &store,
            &format!("UPDATE access_log SET status = 200 WHERE id = {altered}"),
        )
        .await;
        exec(
            &store,
            "INSERT INTO access_log (at_ms, user_name, role, method, path, status, flag_id, detail) \
             VALUES (1793000000099, 'auditor-li', 'auditor', 'GET', '/api/v1/flags/9', 200, 9, '')",
        )
        .await;
        let inserted: i64 = sqlx::query_scalar("SELECT MAX(id) FROM access_log")
            .fetch_one(store.pool())
            .await
            .expect("id");

        let audit = store
            .verify_log(ChainedLog::Audit, &[])
            .await
            .expect("verify");
        assert_eq!(
            audit.problems,
            [ChainProblem::Removed {
                from_seq: 2,
                to_seq: 2
            }]
        );
        let access = store
            .verify_log(ChainedLog::Access, &[])
            .await
            .expect("verify");
        assert_eq!(
            access.problems,
            [
                ChainProblem::Altered {
                    seq: 3,
                    id: altered
                },
                ChainProblem::Unchained { id: inserted }
            ]
        );
        let (failed, text) = verify_cli(&db, &[]);
        assert!(!failed.status.success(), "{text}");
        for said in [
            "row 2 was removed".to_owned(),
            format!("row 3 (id {altered}) was altered"),
            format!("row id {inserted} was inserted around the collector"),
            "3 problems".to_owned(),
        ] {
            assert!(text.contains(&said), "expected {said:?} in:\n{text}");
        }
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistently_rewritten_chain_is_caught_by_a_published_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in databases(dir.path(), "published heads on postgres").await {
        println!("published heads on {}", db.name);
        let store = db.open().await;
        seed(&store).await;
        let published = store.chain_head(ChainedLog::Access).await.expect("head");

        // Someone with write access rewrites row 3 (a refusal becomes a success) and, knowing the
        // encoding, re-hashes it and every row after it and moves the head: the chain is consistent.
        bypass_triggers(&store, "access_log").await;
        bypass_triggers(&store, "log_chain_heads").await;
        exec(
            &store,
            "UPDATE access_log SET status = 200 WHERE chain_seq = 3",
        )
        .await;
        let mut prev: String =
            sqlx::query_scalar("SELECT row_hash FROM access_log WHERE chain_seq = 2")
                .fetch_one(store.pool())
                .await
                .expect("row 2");
        for seq in 3..=5 {
            let status = 200;
            let e = entry(seq, status);
            let fields = [
                Field::int(e.at_ms),
                Field::text(&e.user_name),
                Field::text(&e.role),
                Field::text(&e.method),
                Field::text(&e.path),
                Field::int(e.status),
                Field::Int(e.flag_id),
                Field::text(&e.detail),
            ];
            let hash = log_chain::row_hash(ChainedLog::Access, seq, &prev, &fields);
            sqlx::query("UPDATE access_log SET prev_hash = $1, row_hash = $2 WHERE chain_seq = $3")
                .bind(&prev)
                .bind(&hash)
                .bind(seq)
                .execute(store.pool())
                .await
                .expect("rehash");
            prev = hash;
        }
        sqlx::query("UPDATE log_chain_heads SET hash = $1 WHERE log = 'access'")
            .bind(&prev)
            .execute(store.pool())
            .await
            .expect("move the head");

        // On its own the chain cannot tell (that is what publishing the head is for) …
        let alone = store
            .verify_log(ChainedLog::Access, &[])
            .await
            .expect("verify");
        assert!(
            alone.problems.is_empty(),
            "a consistent rewrite passes alone"
        );
        // … but the head published before the rewrite is no longer on it.
        let held = store
            .verify_log(ChainedLog::Access, std::slice::from_ref(&published))
            .await
            .expect("verify");
        assert!(
            matches!(&held.problems[..], [ChainProblem::HeldHeadLost { held, found: Some(now) }]
                if *held == published && *now == prev),
            "{:?}",
            held.problems
        );
        let (failed, text) = verify_cli(&db, &[&published]);
        assert!(!failed.status.success(), "{text}");
        assert!(
            text.contains(&format!("the held head {published} does not match")),
            "{text}"
        );
        // A held audit head that is still on its chain passes.
        let audit_head = store.chain_head(ChainedLog::Audit).await.expect("head");
        let (ok, text) = verify_cli(&db, &[&audit_head]);
        assert!(ok.status.success(), "{text}");
        assert!(text.contains("every held head"), "{text}");
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_is_refused_and_a_truncate_past_the_triggers_is_found() {
    let Some(db) = Database::postgres().await else {
        skip(
            "truncate_is_refused_and_a_truncate_past_the_triggers_is_found",
            "WARDWATCH_TEST_PG is not set",
        );
        return;
    };
    let store = db.open().await;
    seed(&store).await;
    for table in ["flag_events", "access_log", "log_chain_heads"] {
        let refused = sqlx::query(sqlx::AssertSqlSafe(format!("TRUNCATE {table}")))
            .execute(store.pool())
            .await;
        assert!(refused.is_err(), "TRUNCATE {table} must be refused");
    }
    bypass_triggers(&store, "flag_events").await;
    exec(&store, "TRUNCATE flag_events").await;
    let report = store
        .verify_log(ChainedLog::Audit, &[])
        .await
        .expect("verify");
    assert_eq!(
        report.problems,
        [ChainProblem::TailRemoved {
            from_seq: 1,
            to_seq: 3
        }]
    );
    let (failed, text) = verify_cli(&db, &[]);
    assert!(!failed.status.success(), "{text}");
    assert!(
        text.contains("the newest rows 1 to 3 were removed"),
        "{text}"
    );
    store.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_never_fork_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in databases(dir.path(), "concurrent log writers on postgres").await {
        println!("concurrent log writers on {}", db.name);
        // Two stores (two pools, as two collectors would have), four writers each.
        let stores = [db.open().await, db.open().await];
        let mut writers = tokio::task::JoinSet::new();
        for (s, store) in stores.iter().enumerate() {
            for w in 0..4 {
                let store = store.clone();
                writers.spawn(async move {
                    for n in 0..25 {
                        store
                            .log_access(&entry((s * 1000 + w * 100 + n) as i64, 200))
                            .await
                            .expect("log");
                    }
                });
            }
        }
        while let Some(done) = writers.join_next().await {
            done.expect("writer");
        }
        let report = stores[0]
            .verify_log(ChainedLog::Access, &[])
            .await
            .expect("verify");
        assert!(
            report.problems.is_empty(),
            "{}: {:?}",
            db.name,
            report.problems
        );
        assert_eq!((report.rows, report.head.seq), (200, 200));
        for store in stores {
            store.close().await;
        }
        db.cleanup().await;
    }
}

/// The SQL the collector ran before the chain (migration 0013): rows without chain columns.
const LEGACY_ROWS: &str = "\
    INSERT INTO flag_events (flag_id, at_ms, actor, role, action, from_state, to_state, reason, \
    amount_fen) VALUES (1, 1793000000000, 'rule no_presence v1', 'system', 'raise', '-', 'pending', \
    'raised by rule no_presence', 41000);
    INSERT INTO flag_events (flag_id, at_ms, actor, role, action, from_state, to_state, reason, \
    amount_fen) VALUES (1, 1793000100000, 'auditor-li', 'auditor', 'confirm', 'pending', \
    'confirmed', 'seen on site', NULL);
    INSERT INTO access_log (at_ms, user_name, role, method, path, status, flag_id, detail) \
    VALUES (1793000000001, '-', '-', 'GET', '/api/v1/flags', 401, NULL, 'no token');
    INSERT INTO access_log (at_ms, user_name, role, method, path, status, flag_id, detail) \
    VALUES (1793000000002, 'auditor-li', 'auditor', 'GET', '/api/v1/flags/1', 200, 1, '');
    INSERT INTO access_log (at_ms, user_name, role, method, path, status, flag_id, detail) \
    VALUES (1793000000003, 'h0175', 'institution', 'GET', '/api/v1/flags/1', 404, 1, '');";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_older_than_the_chain_are_chained_once_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in databases(dir.path(), "chaining old rows on postgres").await {
        println!("chaining old rows on {}", db.name);
        // A database as the collector left it before migration 0013, holding log rows.
        let (url, backend) = match &db.location {
            StoreLocation::DataDir(data) => {
                std::fs::create_dir_all(data).expect("data dir");
                (
                    sqlite_url(&data.join(wardwatch_collector::store::SQLITE_FILE)),
                    "sqlite",
                )
            }
            StoreLocation::Url(url) => (url.clone(), "postgres"),
        };
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
        let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("collector/migrations")
            .join(backend);
        let migrator = sqlx::migrate::Migrator::new(migrations.as_path())
            .await
            .expect("migrations");
        migrator.run_to(12, &pool).await.expect("migrate to 12");
        sqlx::raw_sql(LEGACY_ROWS)
            .execute(&pool)
            .await
            .expect("old rows");
        pool.close().await;

        // The collector opens it: migration 0013, then the old rows chained in id order.
        let store = db.open().await;
        for (log, rows) in [(ChainedLog::Audit, 2), (ChainedLog::Access, 3)] {
            let report = store.verify_log(log, &[]).await.expect("verify");
            assert!(report.problems.is_empty(), "{log}: {:?}", report.problems);
            assert_eq!((report.rows, report.head.seq), (rows, rows as i64), "{log}");
            assert_ne!(report.head.hash, GENESIS);
            // Once only: a second pass finds nothing to chain.
            assert_eq!(
                log_chain::chain_existing_rows(&store, log)
                    .await
                    .expect("again"),
                0
            );
        }
        // The chained rows are append-only again, and new rows continue the chain.
        let edit = sqlx::query("UPDATE access_log SET status = 200 WHERE status = 404")
            .execute(store.pool())
            .await;
        assert!(edit.is_err(), "an old row became editable");
        store.log_access(&entry(7, 200)).await.expect("log");
        let report = store
            .verify_log(ChainedLog::Access, &[])
            .await
            .expect("verify");
        assert_eq!((report.problems.len(), report.head.seq), (0, 4));
        store.close().await;
        drop(store);
        // Reopening changes nothing.
        let store = db.open().await;
        assert_eq!(
            store
                .chain_head(ChainedLog::Access)
                .await
                .expect("head")
                .seq,
            4
        );
        store.close().await;
        db.cleanup().await;
    }
}
