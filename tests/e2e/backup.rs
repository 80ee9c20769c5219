//! Backups (issue 15): `collector backup` while `serve` ingests writes a consistent copy of the SQLite
//! store (every event of the copy chained 1..k with nothing missing, the logs' chains intact); `restore`
//! places it as a new data dir's database, which the collector opens and `audit verify` passes; a copy
//! taken once the box has drained matches the original's counts. Nothing is overwritten, and
//! PostgreSQL is refused with the pg_dump advice.

use std::process::Command;
use std::time::Duration;
use wardwatch_collector::api::access::AccessEntry;
use wardwatch_collector::flags::store::NewFlag;
use wardwatch_collector::rules::RuleId;
use wardwatch_collector::store::{Store, StoreLocation};
use wardwatch_testkit::e2e::*;

const EVENTS: usize = 400;

fn collector(args: &[&str], dirs: &[(&str, &std::path::Path)]) -> std::process::Output {
    let mut command = Command::new(bin());
    command.arg("collector").args(args);
    for (flag, path) in dirs {
        command.arg(flag).arg(path);
    }
    command.output().expect("run collector")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn open_dir(dir: &std::path::Path) -> Store {
    Store::open(&StoreLocation::DataDir(dir.to_owned()))
        .await
        .expect("open restored store")
}

/// Events 1..=k of the device, each linked to the one before, and no gap: a consistent snapshot.
async fn assert_chained_prefix(store: &Store, device: &str) -> i64 {
    let chain = store.device_chain(device).await.expect("chain");
    let k = chain.len() as i64;
    let seqs: Vec<i64> = chain.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(seqs, (1..=k).collect::<Vec<_>>());
    for pair in chain.windows(2) {
        assert_eq!(pair[1].2, pair[0].1, "seq {} unlinked", pair[1].0);
    }
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.presence_intervals, k, "{stats:?}");
    assert_eq!(stats.gaps.open, 0, "{stats:?}");
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_to_a_sound_database() {
    // A slow box: the first backup is taken while events are still arriving.
    let mut spine = Spine::new(BrokerKind::Embedded, None, EVENTS, 150.0).await;
    let data_dir = spine.dir.path().join("collector");
    spine.start_collector();
    // Review activity in both chained logs.
    let live = spine.db.open().await;
    for n in 0..3 {
        live.raise_flag(&NewFlag {
            dedup_key: format!("backup-test-{n}"),
            rule_id: RuleId::NoPresence,
            rule_version: 1,
            fixmedins_code: spine.institution.clone(),
            psn_no: None,
            amount_fen: 41_000,
            evidence: serde_json::json!({}),
            lines: Vec::new(),
        })
        .await
        .expect("raise");
        live.log_access(&AccessEntry {
            at_ms: 1_793_000_000_000 + n,
            user_name: "auditor-li".into(),
            role: "auditor".into(),
            method: "GET".into(),
            path: format!("/api/v1/flags/{n}"),
            status: 200,
            flag_id: None,
            detail: String::new(),
        })
        .await
        .expect("log");
    }
    spine.start_agent();
    spine.wait_stored(60, Duration::from_secs(60)).await;

    let backups = tempfile::tempdir().expect("backups dir");
    let during = backups.path().join("during.db");
    let out = Command::new(bin())
        .args(["collector", "backup", "--data-dir"])
        .arg(&data_dir)
        .arg("--to")
        .arg(&during)
        .output()
        .expect("backup");
    assert!(out.status.success(), "{}", text(&out));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&during)
            .expect("backup")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // Restored into a new data dir: the collector opens it, the logs verify, the events are a chained
    // prefix of what the box sent.
    let restored_dir = backups.path().join("restored");
    let out = Command::new(bin())
        .args(["collector", "restore", "--from"])
        .arg(&during)
        .arg("--data-dir")
        .arg(&restored_dir)
        .output()
        .expect("restore");
    assert!(out.status.success(), "{}", text(&out));
    let out = collector(&["audit", "verify"], &[("--data-dir", &restored_dir)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("chain intact"), "{}", text(&out));
    let restored = open_dir(&restored_dir).await;
    let k = assert_chained_prefix(&restored, spine.device.as_str()).await;
    eprintln!("backup while serving held {k} of {EVENTS} events");
    assert!((60..=EVENTS as i64).contains(&k), "{k}");
    restored.close().await;

    // Nothing is overwritten.
    let again = Command::new(bin())
        .args(["collector", "restore", "--from"])
        .arg(&during)
        .arg("--data-dir")
        .arg(&restored_dir)
        .output()
        .expect("restore again");
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already holds a database"),
        "{}",
        text(&again)
    );
    let over = Command::new(bin())
        .args(["collector", "backup", "--data-dir"])
        .arg(&data_dir)
        .arg("--to")
        .arg(&during)
        .output()
        .expect("backup over");
    assert!(!over.status.success());
    assert!(text(&over).contains("already exists"), "{}", text(&over));

    // Once the box has drained, a second copy matches the original's counts exactly.
    spine.wait_agent_drained(Duration::from_secs(60));
    let after = backups.path().join("after.db");
    let out = Command::new(bin())
        .args(["collector", "backup", "--data-dir"])
        .arg(&data_dir)
        .arg("--to")
        .arg(&after)
        .output()
        .expect("backup");
    assert!(out.status.success(), "{}", text(&out));
    let second_dir = backups.path().join("restored-after");
    let out = Command::new(bin())
        .args(["collector", "restore", "--from"])
        .arg(&after)
        .arg("--data-dir")
        .arg(&second_dir)
        .output()
        .expect("restore");
    assert!(out.status.success(), "{}", text(&out));
    let copy = open_dir(&second_dir).await;
    assert_eq!(
        copy.stats().await.expect("stats"),
        live.stats().await.expect("stats")
    );
    assert_eq!(
        assert_chained_prefix(&copy, spine.device.as_str()).await,
        EVENTS as i64
    );
    for table in ["flags", "flag_events", "access_log"] {
        let count = |store: &Store| {
            let store = store.clone();
            let sql = format!("SELECT COUNT(*) FROM {table}");
            async move {
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                    .fetch_one(store.pool())
                    .await
                    .expect("count")
            }
        };
        assert_eq!(count(&copy).await, count(&live).await, "{table}");
    }
    copy.close().await;
    live.close().await;
    spine.finish().await;

    // PostgreSQL: refused, pointing at pg_dump.
    if let Some(pg) = Database::postgres().await {
        let mut command = Command::new(bin());
        command
            .args(["collector", "backup", "--to"])
            .arg(backups.path().join("pg.db"))
            .args(pg.args());
        let out = command.output().expect("backup pg");
        assert!(!out.status.success());
        assert!(text(&out).contains("pg_dump"), "{}", text(&out));
        pg.cleanup().await;
    } else {
        skip("backup::postgres_refusal", "WARDWATCH_TEST_PG is not set");
    }
}
