//! Bench: importing N fee lines (default 1,000,000) from a generated CSV into SQLite, against a peer
//! measured in the same run: inserting the same rows, pre-parsed, straight into an equivalent table
//! through the same pool and transaction size. Prints both times, their ratio and the peak RSS.
//!
//! `cargo bench -p wardwatch-collector --bench import_fee_lines [-- ROWS]`

mod support;

use std::io::Write;
use std::time::Instant;
use support::peak_rss_mib;
use wardwatch_collector::settlement::import::ImportOptions;
use wardwatch_collector::store::{Store, StoreLocation};

fn row(i: usize) -> (String, String, String, String, f64, f64, String) {
    let day = 1 + i % 28;
    let minute = i % 600;
    (
        format!("FD{i:09}"),
        format!("M{:08}", i / 4),
        format!("4306{:016}", i % 50_000),
        format!(
            "2026-11-{day:02} {:02}:{:02}:00",
            8 + minute / 60,
            minute % 60
        ),
        if i % 10 == 9 { -1.0 } else { 1.0 },
        410.0,
        "EXAMPLE-311000006".to_owned(),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("fees.csv");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&csv)?);
        writeln!(
            out,
            "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,hilist_name,cnt,pric,det_item_fee_sumamt"
        )?;
        for i in 0..rows {
            let (sn, m, p, t, cnt, pric, code) = row(i);
            writeln!(
                out,
                "{sn},{m},{p},{t},{code},血液透析,{cnt},{pric},{:.2}",
                cnt * pric
            )?;
        }
    }
    let size_mib = std::fs::metadata(&csv)?.len() as f64 / (1024.0 * 1024.0);
    let store = Store::open(&StoreLocation::DataDir(dir.path().join("db"))).await?;

    let started = Instant::now();
    let report = store
        .import_file(&csv, &ImportOptions::default(), &mut |_| {})
        .await?;
    let import_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.rows_new as usize == rows && report.rows_bad == 0,
        "import: {report:?}"
    );

    // Peer: the same rows, already parsed, inserted with the same batching and no checks.
    sqlx::query(
        "CREATE TABLE bench_raw (feedetl_sn TEXT PRIMARY KEY, mdtrt_id TEXT, psn_no TEXT, \
         fee_ocur_time_ms INTEGER, hilist_code TEXT, cnt REAL, pric REAL, fen INTEGER)",
    )
    .execute(store.pool())
    .await?;
    let started = Instant::now();
    for chunk in (0..rows).collect::<Vec<_>>().chunks(2000) {
        let mut tx = store.pool().begin().await?;
        for &i in chunk {
            let (sn, m, p, _, cnt, pric, code) = row(i);
            sqlx::query("INSERT INTO bench_raw VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(sn)
                .bind(m)
                .bind(p)
                .bind(i as i64)
                .bind(code)
                .bind(cnt)
                .bind(pric)
                .bind((cnt * pric * 100.0) as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    let raw_secs = started.elapsed().as_secs_f64();
    store.close().await;

    println!("fee lines           {rows} ({size_mib:.0} MiB CSV)");
    println!(
        "import (parse, validate, idempotent insert): {import_secs:.1} s ({:.0} rows/s)",
        rows as f64 / import_secs
    );
    println!(
        "peer (pre-parsed rows, plain insert):       {raw_secs:.1} s ({:.0} rows/s)",
        rows as f64 / raw_secs
    );
    println!("ratio import/peer   {:.2}", import_secs / raw_secs);
    println!("peak RSS            {:.0} MiB", peak_rss_mib());
    Ok(())
}
