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

// ---- Fee lines with their own institution and refund links (原费用流水号) ----

/// A GB18030 fee-line export with Chinese headers, its own institution per line and refund links:
/// FD3 refunds half of FD1 (linked); FD4 names FD9, which comes 2,100 lines later (linked once the
/// file is stored); FD5 names a line nowhere (stored, counted); FD6 has no link (counted; matched by
/// the netting); FD7 names P2's refund… of P1's line FD2 (refused); FD8 is a billed line with a link
/// (stored, counted, the link ignored); FD10's institution code is malformed (refused); FD11 has no
/// institution (counted).
fn fee_lines_with_links() -> String {
    const P1: &str = "43060000000000000001";
    const P2: &str = "43060000000000000002";
    const H: &str = "H43060200175";
    let line = |sn: &str, psn: &str, at: &str, cnt: i32, code: &str, link: &str| {
        format!(
            "{sn},M-{psn},{psn},{at},004300000010000-430000001,康复训练,{cnt},60,{}.00,{code},{link}\n",
            cnt * 60
        )
    };
    let mut text = String::from(
        "费用明细流水号,就诊ID,人员编号,费用发生时间,医保目录编码,医保目录名称,数量,单价,明细项目费用总额,定点医药机构编号,原费用流水号\n",
    );
    text += &line("FD1", P1, "2026-11-02 08:00:00", 2, H, "");
    text += &line("FD2", P1, "2026-11-02 14:00:00", 1, H, "");
    text += &line("FD3", P1, "2026-11-02 16:00:00", -1, H, "FD1");
    text += &line("FD4", P1, "2026-11-03 16:00:00", -1, H, "FD9");
    text += &line("FD5", P1, "2026-11-03 17:00:00", -1, H, "FD0999");
    text += &line("FD6", P1, "2026-11-02 18:00:00", -1, H, "");
    text += &line("FD7", P2, "2026-11-02 18:00:00", -1, H, "FD2");
    text += &line("FD8", P1, "2026-11-03 08:00:00", 1, H, "FD1");
    for i in 0..2100 {
        text += &line(
            &format!("FILL{i:04}"),
            "43060000000000000003",
            "2026-11-04 08:00:00",
            1,
            H,
            "",
        );
    }
    text += &line("FD9", P1, "2026-11-03 09:00:00", 1, H, "");
    text += &line("FD10", P1, "2026-11-03 10:00:00", 1, "H43-06", "");
    text += &line("FD11", P1, "2026-11-03 11:00:00", 1, "", "");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fee_lines_carry_their_institution_and_refunds_their_links() {
    use wardwatch_collector::settlement::import::FeeLineReport;
    use wardwatch_collector::settlement::refunds::{ClaimLine, RefundMatch, Unmatched, net_claims};

    let dir = tempfile::tempdir().expect("tempdir");
    let text = fee_lines_with_links();
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(&text);
    assert!(!unmappable);
    let file = write(dir.path(), "fee-lines-2026-11.csv", &bytes);
    // The same FD1 and FD2 as an older export gave them: no institution, no link column.
    let older = write(
        dir.path(),
        "fee-lines-old.csv",
        "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,hilist_name,cnt,pric,det_item_fee_sumamt\n\
         FD1,M-43060000000000000001,43060000000000000001,2026-11-02 08:00:00,004300000010000-430000001,康复训练,2,60,120.00\n\
         FD2,M-43060000000000000001,43060000000000000001,2026-11-02 14:00:00,004300000010000-430000001,康复训练,1,60,60.00\n"
            .as_bytes(),
    );
    for db in databases(dir.path()).await {
        let store = db.open().await;

        let old = import(&store, &older).await.expect("older export");
        assert_eq!((old.rows_new, old.rows_bad), (2, 0), "{old:?}");
        assert_eq!(old.fee_lines.without_institution, 2);
        assert_eq!(
            old.fee_lines.absent_columns,
            [
                "fixmedins_code (定点医药机构编号)",
                "init_feedetl_sn (原费用流水号)"
            ]
        );
        let warnings = old.warnings();
        assert!(
            warnings[0].contains("no fixmedins_code (定点医药机构编号) column")
                && warnings[1].starts_with("2 fee line(s) without their own fixmedins_code"),
            "{warnings:#?}"
        );

        let report = import(&store, &file).await.expect("import");
        assert!(report.format.contains("gb18030"), "{}", report.format);
        assert_eq!(report.rows_read, 2111);
        assert_eq!(
            (report.rows_new, report.rows_existing, report.rows_bad),
            (2107, 2, 2),
            "FD1 and FD2 were stored by the older export: {:?}",
            report.problems
        );
        let expected = FeeLineReport {
            absent_columns: vec![],
            without_institution: 1,
            refunds: 4,
            refunds_linked: 2,
            refunds_unlinked: 1,
            refunds_dangling: 1,
            refunds_refused: 1,
            links_on_billed_lines: 1,
            completed: 2,
        };
        assert_eq!(report.fee_lines, expected);
        let problems: Vec<String> = report
            .problems
            .iter()
            .map(|p| format!("row {} {}: {}", p.row, p.column, p.reason))
            .collect();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0]
                .starts_with("row 8 init_feedetl_sn (原费用流水号): refund FD7 is not stored")
                && problems[0].contains("of patient 43060000000000000001"),
            "{problems:#?}"
        );
        assert!(
            problems[1].starts_with("row 2111 fixmedins_code (定点医药机构编号)"),
            "{problems:#?}"
        );
        assert_eq!(report.warnings().len(), 4, "{:#?}", report.warnings());
        let summary = report.fee_line_summary().expect("a fee-line file");
        assert!(
            summary.starts_with(
                "fee lines: 2108 with their own institution, 1 without; refunds: 4 kept (2 linked"
            ),
            "{summary}"
        );

        // Stored: the new columns, FD1 completed, FD7 and FD10 not stored.
        let stored: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT feedetl_sn, fixmedins_code, init_feedetl_sn FROM fee_lines \
             WHERE feedetl_sn LIKE 'FD%' ORDER BY feedetl_sn",
        )
        .fetch_all(store.pool())
        .await
        .expect("stored");
        let h = || Some("H43060200175".to_owned());
        let link = |sn: &str| Some(sn.to_owned());
        assert_eq!(
            stored,
            [
                ("FD1".into(), h(), None),
                ("FD11".into(), None, None),
                ("FD2".into(), h(), None),
                ("FD3".into(), h(), link("FD1")),
                ("FD4".into(), h(), link("FD9")),
                ("FD5".into(), h(), link("FD0999")),
                ("FD6".into(), h(), None),
                ("FD8".into(), h(), link("FD1")),
                ("FD9".into(), h(), None),
            ]
        );
        let kept: String =
            sqlx::query_scalar("SELECT fee_line_checks FROM imports ORDER BY id DESC LIMIT 1")
                .fetch_one(store.pool())
                .await
                .expect("import row");
        assert!(kept.contains("\"refunds_linked\":2"), "{kept}");

        // What the rules will judge: P1's lines netted.
        let rows = sqlx::query(
            "SELECT feedetl_sn, psn_no, hilist_code, fixmedins_code, fee_ocur_time_ms, cnt, \
             det_item_fee_sumamt_fen, init_feedetl_sn FROM fee_lines \
             WHERE psn_no = '43060000000000000001' ORDER BY fee_ocur_time_ms, feedetl_sn",
        )
        .fetch_all(store.pool())
        .await
        .expect("lines");
        let lines: Vec<ClaimLine> = rows
            .iter()
            .map(|r| ClaimLine {
                feedetl_sn: r.get(0),
                psn_no: r.get(1),
                hilist_code: r.get(2),
                fixmedins_code: r.get(3),
                at_ms: r.get(4),
                cnt: r.get(5),
                amount_fen: r.get(6),
                init_feedetl_sn: r.get(7),
            })
            .collect();
        let net = net_claims(&lines, chrono_tz::Asia::Shanghai);
        let claims: Vec<(&str, f64, i64)> = net
            .claims
            .iter()
            .map(|c| (c.line.feedetl_sn.as_str(), c.net_cnt, c.net_fen))
            .collect();
        assert_eq!(
            claims,
            [
                ("FD1", 1.0, 6_000),
                ("FD8", 1.0, 6_000),
                ("FD11", 1.0, 6_000)
            ]
        );
        assert_eq!(net.fully_refunded, ["FD2", "FD9"]);
        let how: Vec<(&str, &str, RefundMatch)> = net
            .applied
            .iter()
            .map(|a| (a.refund.as_str(), a.original.as_str(), a.how))
            .collect();
        assert_eq!(
            how,
            [
                ("FD3", "FD1", RefundMatch::Linked),
                ("FD4", "FD9", RefundMatch::Linked),
                ("FD6", "FD2", RefundMatch::MatchedSameDay)
            ]
        );
        assert!(matches!(
            &net.unmatched[..],
            [u] if u.refund == "FD5" && matches!(&u.reason, Unmatched::LinkedLineNotGiven { named } if named == "FD0999")
        ));
        assert_eq!(net.links_on_billed_lines, ["FD8"]);

        // Again: nothing changes, and the counts are the file's.
        let again = import(&store, &file).await.expect("re-import");
        assert_eq!(
            (again.rows_new, again.rows_existing, again.rows_bad),
            (0, 2109, 2)
        );
        assert_eq!(
            again.fee_lines,
            FeeLineReport {
                completed: 0,
                ..expected
            }
        );
        store.close().await;
        db.cleanup().await;
    }
}

#[test]
fn the_import_command_warns_in_numbers_about_fee_lines_without_institution_or_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "fees.csv",
        "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,cnt,pric,det_item_fee_sumamt\n\
         F1,M1,43060000000000000001,2026-11-02 08:00:00,C1,1,410,410\n\
         F2,M1,43060000000000000001,2026-11-02 09:00:00,C1,-1,410,-410\n"
            .as_bytes(),
    );
    let data = dir.path().join("data").display().to_string();
    let out = std::process::Command::new(bin())
        .args(["collector", "import", "settlements", "--data-dir", &data])
        .arg(&file)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "nothing was refused: {out:?}");
    for needle in [
        "fee lines: 0 with their own institution, 2 without; refunds: 1 kept (0 linked, 1 without a link",
        "3 WARNING(S):",
        "WARNING: the file has no fixmedins_code (定点医药机构编号) column and no init_feedetl_sn (原费用流水号) column",
        "WARNING: 2 fee line(s) without their own fixmedins_code",
        "WARNING: 1 refund(s) without init_feedetl_sn",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in {stdout}");
    }
}

// ---- XLSX dimension bombs (issue 13) ----

/// A small settlement workbook (sheet `结算明细`: the header and one good row) with `far` written at
/// XFD1048576, the last cell a sheet can have, unless it is `None`.
fn settlement_workbook(path: &Path, far: Option<&str>) {
    use rust_xlsxwriter::Workbook;
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("结算明细").expect("name");
    let row: [(&str, &str); 7] = [
        ("setl_id", "B001"),
        ("mdtrt_id", "M001"),
        ("psn_no", "43060000000000000001"),
        ("fixmedins_code", "H43060200175"),
        ("setl_time", "2026-11-02 12:10:00"),
        ("medfee_sumamt", "1230.50"),
        ("fund_pay_sumamt", "984.40"),
    ];
    for (col, (header, value)) in row.iter().enumerate() {
        sheet.write_string(0, col as u16, *header).expect("header");
        sheet.write_string(1, col as u16, *value).expect("cell");
    }
    if let Some(text) = far {
        sheet
            .write_string(1_048_575, 16_383, text)
            .expect("far cell");
    }
    workbook.save(path).expect("save");
}

/// Rewrites the `<dimension ref="…"/>` of the workbook's first sheet to `reference`.
fn set_declared_dimension(path: &Path, reference: &str) {
    use std::io::{Read, Write};
    let bytes = std::fs::read(path).expect("read");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut rewritten = false;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        let name = entry.name().expect("entry name").into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("entry bytes");
        if name == "xl/worksheets/sheet1.xml" {
            let xml = String::from_utf8(content).expect("xml");
            let start = xml.find("<dimension ref=\"").expect("a dimension") + 16;
            let end = start + xml[start..].find('"').expect("closing quote");
            content = format!("{}{reference}{}", &xml[..start], &xml[end..]).into_bytes();
            rewritten = true;
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("start");
        out.write_all(&content).expect("write");
    }
    assert!(rewritten, "no sheet1.xml");
    let bytes = out.finish().expect("finish").into_inner();
    std::fs::write(path, bytes).expect("write back");
}

/// Runs `import settlements` on `file` in a process whose address space is capped at 4 GiB (far
/// below what reading the bomb as a grid asks for: 512 GiB).
fn import_capped(data: &str, file: &Path) -> std::process::Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$@\"")
        .arg(bin())
        .args(["collector", "import", "settlements", "--data-dir", data])
        .arg(file)
        .output()
        .expect("run")
}

#[test]
fn xlsx_dimension_bombs_are_refused_or_read_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data").display().to_string();

    // Declared and real: a cell at XFD1048576. Reading it as a grid asks for 2^34 cells (512 GiB)
    // and aborted the process; now it is refused, naming the file and the sheet, before any row.
    let bomb = dir.path().join("bomb.xlsx");
    settlement_workbook(&bomb, Some("x"));
    let size = std::fs::metadata(&bomb).expect("bomb").len();
    assert!(size < 16 * 1024, "a small file: {size} bytes");
    let out = import_capped(&data, &bomb);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the process must exit with an error, not be killed: {out:?}"
    );
    for said in ["bomb.xlsx", "\"结算明细\"", "A1:XFD1048576", "refused"] {
        assert!(stderr.contains(said), "expected {said:?} in: {stderr}");
    }

    // Declared small (A1:G2) but the far cell is there: the rows stream past it in bounded memory,
    // the good row is imported and the cell outside the header's columns is ignored.
    let hidden = dir.path().join("hidden.xlsx");
    settlement_workbook(&hidden, Some("x"));
    set_declared_dimension(&hidden, "A1:G2");
    let out = import_capped(&data, &hidden);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{out:?}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 new"), "{stdout}");

    // Declared absurd, content small: refused on the declaration alone.
    let declared = dir.path().join("declared.xlsx");
    settlement_workbook(&declared, None);
    set_declared_dimension(&declared, "A1:XFD1048576");
    let out = import_capped(&data, &declared);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr.contains("declared.xlsx") && stderr.contains("结算明细"),
        "{stderr}"
    );
}
