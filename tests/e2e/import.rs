//! Settlement import as a bureau uses it: platform exports in CSV (UTF-8 with English field names,
//! GB18030 with Chinese headers), XLSX and JSON Lines; bad files and bad rows reported precisely with
//! nothing good lost; re-imports change nothing. On SQLite, and on PostgreSQL when `WARDWATCH_TEST_PG`
//! is set.

use sqlx::Row;
use std::path::{Path, PathBuf};
use wardwatch_collector::settlement::import::{ImportError, ImportOptions, ImportReport};
use wardwatch_collector::settlement::source::ReadError;
use wardwatch_collector::store::Store;
use wardwatch_testkit::e2e::*;

async fn databases(dir: &Path) -> Vec<Database> {
    let mut all = vec![Database::sqlite(dir)];
    match Database::postgres().await {
        Some(pg) => all.push(pg),
        None => skip("import on postgres", "WARDWATCH_TEST_PG is not set"),
    }
    all
}

async fn import(store: &Store, path: &Path) -> Result<ImportReport, ImportError> {
    store
        .import_file(path, &ImportOptions::default(), &mut |_| {})
        .await
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

const SETTLEMENTS_CSV: &str = "\
setl_id,mdtrt_id,psn_no,psn_name,fixmedins_code,fixmedins_name,med_type,setl_time,medfee_sumamt,fund_pay_sumamt,adm_time,dscg_time,wardarea_codg,bedno
S001,M001,43060000000000000001,张三,H43060200175,岳阳市某医院,14,2026-11-02 12:10:00,\"1,230.50\",984.40,,,,
S002,M002,43060000000000000002,李四,H43060200175,岳阳市某医院,14,2026-11-02 12:20:00,410.00,328.00,,,,
S003,M003,43060000000000000003,王五,H43060200175,岳阳市某医院,21,2026-11-30 09:00:00,8400,7560,2026-11-01 09:00:00,2026-11-29 10:00:00,W03,12
";

fn utc_ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("time")
        .timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_imports_once_and_reimports_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "settlements.csv", SETTLEMENTS_CSV.as_bytes());
    for db in databases(dir.path()).await {
        let store = db.open().await;
        let first = import(&store, &file).await.expect("import");
        assert_eq!(
            (first.rows_read, first.rows_new, first.rows_bad),
            (3, 3, 0),
            "{first:?}"
        );
        let again = import(&store, &file).await.expect("re-import");
        assert_eq!(
            (again.rows_new, again.rows_existing, again.rows_bad),
            (0, 3, 0),
            "{again:?}"
        );

        let row = sqlx::query(
            "SELECT medfee_sumamt_fen, fund_pay_sumamt_fen, setl_time_ms, adm_time_ms FROM settlements \
             WHERE setl_id = 'S001'",
        )
        .fetch_one(store.pool())
        .await
        .expect("row");
        assert_eq!(row.try_get::<i64, _>(0).unwrap(), 123_050);
        assert_eq!(row.try_get::<i64, _>(1).unwrap(), 98_440);
        // 12:10 Beijing time is 04:10 UTC.
        assert_eq!(
            row.try_get::<i64, _>(2).unwrap(),
            utc_ms("2026-11-02T04:10:00Z")
        );
        assert_eq!(row.try_get::<Option<i64>, _>(3).unwrap(), None);
        let stay: (i64, String) =
            sqlx::query_as("SELECT dscg_time_ms, bedno FROM settlements WHERE setl_id = 'S003'")
                .fetch_one(store.pool())
                .await
                .expect("stay");
        assert_eq!(stay, (utc_ms("2026-11-29T02:00:00Z"), "12".to_owned()));
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gb18030_csv_with_chinese_headers_and_a_refund() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "\
费用明细流水号,就诊ID,人员编号,费用发生时间,医保目录编码,医保目录名称,数量,单价,明细项目费用总额,开单科室编码
FD0001,M001,43060000000000000001,2026-11-02 08:05:00,003107000010000-310700001,血液透析,1,410,410.00,D01
FD0002,M001,43060000000000000001,2026-11-02 08:06:00,003107000010000-310700001,血液透析,-1,410,-410.00,D01
FD0003,M001,43060000000000000001,2026/11/02 08:07,003107000020000-310700002,血液透析滤过,1,520.5,520.50,D01
";
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(text);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "the fixture really is GB18030"
    );
    let file = write(dir.path(), "fees.csv", &bytes);
    for db in databases(dir.path()).await {
        let store = db.open().await;
        let report = import(&store, &file).await.expect("import");
        assert!(report.format.contains("gb18030"), "{}", report.format);
        assert_eq!(
            (report.rows_new, report.rows_bad),
            (3, 0),
            "{:?}",
            report.problems
        );
        let refund: (f64, i64, String) = sqlx::query_as(
            "SELECT cnt, det_item_fee_sumamt_fen, hilist_name FROM fee_lines WHERE feedetl_sn = 'FD0002'",
        )
        .fetch_one(store.pool())
        .await
        .expect("refund");
        assert_eq!(refund, (-1.0, -41_000, "血液透析".to_owned()));
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_are_reported_precisely_and_good_rows_are_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "\
feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,cnt,pric,det_item_fee_sumamt
F1,M1,4306001,2026-11-02 08:00:00,C1,1,410,410
F2,M1,4306001,yesterday,C1,1,410,410
F3,M1,4306001,2026-11-02 08:00:00,C1,one,410,410.123
F4,M1,,2026-11-02 08:00:00,C1,1,410,410
F5,M1,4306001,2026-11-02 08:00:00,C1,1,410
F1,M1,4306001,2026-11-02 08:00:00,C1,1,410,410
F1,M1,4306001,2026-11-02 09:00:00,C1,1,410,410
F6,M1,4306001,2026-11-02 10:00:00,C1,2,410,820
";
    let file = write(dir.path(), "fees.csv", text.as_bytes());
    let store = Database::sqlite(dir.path()).open().await;
    let report = import(&store, &file).await.expect("import");
    assert_eq!(report.rows_read, 8);
    assert_eq!(
        report.rows_new, 2,
        "F1 and F6 are good: {:?}",
        report.problems
    );
    assert_eq!(report.rows_existing, 1, "the identical repeat of F1");
    assert_eq!(report.rows_bad, 5);
    let lines: Vec<String> = report
        .problems
        .iter()
        .map(|p| format!("row {} {}: {}", p.row, p.column, p.reason))
        .collect();
    let expect = [
        ("row 3 fee_ocur_time", "\"yesterday\""),
        ("row 4 cnt", "\"one\" is not a number"),
        ("row 4 det_item_fee_sumamt", "at most 2 decimals"),
        ("row 5 psn_no", "is empty"),
        ("row 6 *", "has 7 fields but the header has 8"),
        ("row 8 feedetl_sn", "already imported with different values"),
    ];
    for (prefix, needle) in expect {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(prefix) && l.contains(needle)),
            "no {prefix:?} … {needle:?} in {lines:#?}"
        );
    }
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM fee_lines")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(kept, 2);
    let stored_errors: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM import_errors")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(stored_errors, report.problems.len() as i64);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_files_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Database::sqlite(dir.path()).open().await;
    let empty = write(dir.path(), "empty.csv", b"");
    assert!(matches!(
        import(&store, &empty).await,
        Err(ImportError::Read(ReadError::Empty { .. }))
    ));

    let missing = write(
        dir.path(),
        "missing.csv",
        "setl_id,psn_no\nS1,4306\n".as_bytes(),
    );
    let err = import(&store, &missing)
        .await
        .expect_err("missing columns")
        .to_string();
    assert!(
        err.contains("missing.csv") && err.contains("mdtrt_id (就诊ID)"),
        "{err}"
    );

    // Latin-1 "Café" is neither UTF-8 nor GB18030.
    let latin1 = write(dir.path(), "latin1.csv", b"setl_id,name\nS1,Caf\xe9,x\n");
    let err = import(&store, &latin1)
        .await
        .expect_err("encoding")
        .to_string();
    assert!(
        err.contains("neither UTF-8 nor GB18030") && err.contains("offset 19"),
        "{err}"
    );

    let unknown = write(dir.path(), "list.pdf", b"%PDF");
    let err = import(&store, &unknown)
        .await
        .expect_err("format")
        .to_string();
    assert!(err.contains("unsupported file type"), "{err}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xlsx_and_json_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let xlsx = dir.path().join("month.xlsx");
    {
        use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        sheet.set_name("结算明细").expect("name");
        let headers = [
            "结算ID",
            "就诊ID",
            "人员编号",
            "定点医药机构编号",
            "结算时间",
            "医疗费总额",
            "基金支付总额",
        ];
        for (col, h) in headers.iter().enumerate() {
            sheet.write_string(0, col as u16, *h).expect("header");
        }
        let date = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
        let when = ExcelDateTime::parse_from_str("2026-11-02 12:10:00").expect("date");
        sheet.write_string(1, 0, "X001").expect("cell");
        sheet.write_string(1, 1, "M001").expect("cell");
        sheet
            .write_string(1, 2, "43060000000000000001")
            .expect("cell");
        sheet.write_string(1, 3, "H43060200175").expect("cell");
        sheet
            .write_datetime_with_format(1, 4, &when, &date)
            .expect("cell");
        sheet.write_number(1, 5, 1230.5).expect("cell");
        sheet.write_number(1, 6, 984.4).expect("cell");
        workbook.save(&xlsx).expect("save");
    }
    let jsonl = write(
        dir.path(),
        "month.jsonl",
        concat!(
            r#"{"setl_id":"J001","mdtrt_id":"M9","psn_no":43060000000000000009,"fixmedins_code":"H43060200175","setl_time":"2026-11-03 09:00:00","medfee_sumamt":"410.00","fund_pay_sumamt":328}"#,
            "\n\n",
            r#"{"setl_id":"J002","mdtrt_id":"M9","psn_no":"43060000000000000009","fixmedins_code":"H4306","setl_time":"2026-11-03 09:00:00","medfee_sumamt":"410.00","fund_pay_sumamt":328}"#,
            "\n"
        )
        .as_bytes(),
    );
    let store = Database::sqlite(dir.path()).open().await;
    let report = import(&store, &xlsx).await.expect("xlsx");
    assert!(report.format.contains("结算明细"), "{}", report.format);
    assert_eq!(
        (report.rows_new, report.rows_bad),
        (1, 0),
        "{:?}",
        report.problems
    );
    let (time, fen): (i64, i64) = sqlx::query_as(
        "SELECT setl_time_ms, medfee_sumamt_fen FROM settlements WHERE setl_id = 'X001'",
    )
    .fetch_one(store.pool())
    .await
    .expect("row");
    assert_eq!((time, fen), (utc_ms("2026-11-02T04:10:00Z"), 123_050));

    let report = import(&store, &jsonl).await.expect("jsonl");
    assert_eq!(
        (report.rows_read, report.rows_new, report.rows_bad),
        (2, 1, 1)
    );
    assert_eq!(report.problems[0].row, 3, "{:?}", report.problems);
    assert!(report.problems[0].column.starts_with("fixmedins_code"));
    let psn: String = sqlx::query_scalar("SELECT psn_no FROM settlements WHERE setl_id = 'J001'")
        .fetch_one(store.pool())
        .await
        .expect("row");
    assert_eq!(
        psn, "43060000000000000009",
        "a 20-digit JSON number keeps every digit"
    );
    store.close().await;
}

#[test]
fn the_import_command_reports_and_exits_non_zero_on_refused_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(dir.path(), "s.csv", SETTLEMENTS_CSV.as_bytes());
    let bad = write(
        dir.path(),
        "bad.csv",
        SETTLEMENTS_CSV
            .replace("2026-11-02 12:20:00", "2026-13-45 12:20")
            .as_bytes(),
    );
    let data = dir.path().join("data").display().to_string();
    let run = |file: &Path| {
        std::process::Command::new(bin())
            .args(["collector", "import", "settlements", "--data-dir", &data])
            .arg(file)
            .output()
            .expect("run")
    };
    let ok = run(&good);
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("3 new"));
    let out = run(&bad);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("row 3, column setl_time (结算时间)"),
        "{stdout}"
    );
    assert!(stdout.contains("2 already imported, 1 refused"), "{stdout}");
}
