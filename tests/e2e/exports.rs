//! The exports on a real database (SQLite, and PostgreSQL when `WARDWATCH_TEST_PG` is set): a small
//! settlement month imported through the importer, flags raised and walked through the workflow to
//! refusal (拒付) and recovery (追回) with partial amounts, then `collector export deductions` and
//! `collector export quarterly` run as an operator runs them, and their files read back (XLSX with
//! calamine, CSV with csv).

use calamine::{Data, Range, Reader};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use wardwatch_collector::exports::deductions::DeductionQuery;
use wardwatch_collector::flags::store::NewFlag;
use wardwatch_collector::flags::workflow::{Action, Actor, Request, Role};
use wardwatch_collector::institutions::{UNCLASSIFIED, read_registry};
use wardwatch_collector::settlement::import::ImportOptions;
use wardwatch_collector::settlement::source::EncodingChoice;
use wardwatch_collector::store::Store;
use wardwatch_testkit::e2e::*;

const HOSPITAL: &str = "H43060200175";
const CLINIC: &str = "H43060300001";
const CLINIC_NAME: &str = "某血透中心";
const DAY: i64 = 86_400_000;

/// Local Shanghai time `YYYY-MM-DD HH:MM` as epoch ms.
fn local_ms(text: &str) -> i64 {
    chrono::DateTime::parse_from_str(&format!("{text} +0800"), "%Y-%m-%d %H:%M %z")
        .expect("a local time")
        .timestamp_millis()
}

/// (setl_id, mdtrt_id, psn_no, psn_name, institution, settled, total fen, fund fen, admitted, discharged)
type SettlementSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    &'static str,
    &'static str,
);

const SETTLEMENTS: [SettlementSpec; 4] = [
    (
        "S0",
        "M0",
        "P1",
        "张三",
        HOSPITAL,
        "2026-09-15 10:00",
        100_000,
        80_000,
        "",
        "",
    ),
    (
        "S1",
        "M1",
        "P1",
        "张三",
        HOSPITAL,
        "2026-11-30 10:00",
        123_000,
        100_000,
        "2026-11-02 08:00",
        "2026-11-06 10:00",
    ),
    (
        "S2",
        "M2",
        "P2",
        "李四",
        HOSPITAL,
        "2026-11-20 10:00",
        50_000,
        40_000,
        "",
        "",
    ),
    (
        "S3",
        "M3",
        "P3",
        "王五",
        CLINIC,
        "2026-11-25 10:00",
        123_000,
        100_000,
        "2026-11-10 08:00",
        "2026-11-10 17:00",
    ),
];

/// (feedetl_sn, mdtrt_id, psn_no, time, hilist_code, cnt, pric yuan, amount fen)
type FeeLineSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    u32,
    u32,
    i64,
);

const FEE_LINES: [FeeLineSpec; 6] = [
    ("FD1", "M1", "P1", "2026-11-02 08:00", "C1", 1, 410, 41_000),
    ("FD2", "M1", "P1", "2026-11-04 08:00", "C1", 1, 410, 41_000),
    ("FD3", "M1", "P1", "2026-11-06 08:00", "C1", 1, 410, 41_000),
    ("FD4", "M2", "P2", "2026-11-05 08:00", "C2", 1, 500, 50_000),
    ("FD5", "M3", "P3", "2026-11-10 08:00", "C1", 2, 410, 82_000),
    ("FD6", "M3", "P3", "2026-11-12 08:00", "C1", 1, 410, 41_000),
];

/// How a flag ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Pending,
    Excluded,
    /// Confirmed and issued, not handled yet.
    Issued,
    /// Handled with (action, amount fen, local time).
    Handled(Action, i64, &'static str),
}

struct FlagSpec {
    rule: &'static str,
    institution: &'static str,
    psn: &'static str,
    lines: &'static [&'static str],
    amount_fen: i64,
    raised: &'static str,
    end: End,
}

fn flags() -> Vec<FlagSpec> {
    vec![
        // Recovered in part, in December: 100,000 fen over three equal lines.
        FlagSpec {
            rule: "no_presence",
            institution: HOSPITAL,
            psn: "P1",
            lines: &["FD1", "FD2", "FD3"],
            amount_fen: 123_000,
            raised: "2026-11-08 09:00",
            end: End::Handled(Action::Recover, 100_000, "2026-12-03 10:00"),
        },
        FlagSpec {
            rule: "short_presence",
            institution: HOSPITAL,
            psn: "P2",
            lines: &["FD4"],
            amount_fen: 50_000,
            raised: "2026-11-09 09:00",
            end: End::Handled(Action::RefusePayment, 30_000, "2026-12-10 10:00"),
        },
        FlagSpec {
            rule: "no_presence",
            institution: CLINIC,
            psn: "P3",
            lines: &["FD5"],
            amount_fen: 82_000,
            raised: "2026-11-12 09:00",
            end: End::Handled(Action::RefusePayment, 82_000, "2026-12-31 23:30"),
        },
        // Handled in January: not in December's deductions.
        FlagSpec {
            rule: "no_presence",
            institution: CLINIC,
            psn: "P3",
            lines: &["FD6"],
            amount_fen: 41_000,
            raised: "2026-11-14 09:00",
            end: End::Handled(Action::Recover, 41_000, "2027-01-01 00:30"),
        },
        FlagSpec {
            rule: "dialysis_over_weekly",
            institution: HOSPITAL,
            psn: "P1",
            lines: &[],
            amount_fen: 1_500_000,
            raised: "2026-11-15 09:00",
            end: End::Excluded,
        },
        FlagSpec {
            rule: "no_presence",
            institution: HOSPITAL,
            psn: "P2",
            lines: &["FD4"],
            amount_fen: 41_000,
            raised: "2026-12-20 09:00",
            end: End::Pending,
        },
        // Raised in the third quarter: not in 2026-Q4.
        FlagSpec {
            rule: "no_presence",
            institution: HOSPITAL,
            psn: "P1",
            lines: &[],
            amount_fen: 41_000,
            raised: "2026-09-20 09:00",
            end: End::Issued,
        },
    ]
}

fn write_month(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut settlements = String::from(
        "setl_id,mdtrt_id,psn_no,psn_name,fixmedins_code,fixmedins_name,setl_time,medfee_sumamt,\
         fund_pay_sumamt,adm_time,dscg_time\n",
    );
    for (setl, mdtrt, psn, name, code, at, total, fund, adm, dscg) in SETTLEMENTS {
        let institution_name = if code == CLINIC { CLINIC_NAME } else { "" };
        settlements.push_str(&format!(
            "{setl},{mdtrt},{psn},{name},{code},{institution_name},{at}:00,{},{},{},{}\n",
            yuan(total),
            yuan(fund),
            if adm.is_empty() {
                String::new()
            } else {
                format!("{adm}:00")
            },
            if dscg.is_empty() {
                String::new()
            } else {
                format!("{dscg}:00")
            },
        ));
    }
    let mut fees = String::from(
        "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,hilist_name,cnt,pric,det_item_fee_sumamt\n",
    );
    for (sn, mdtrt, psn, at, code, cnt, pric, amount) in FEE_LINES {
        fees.push_str(&format!(
            "{sn},{mdtrt},{psn},{at}:00,{code},血液透析,{cnt},{pric},{}\n",
            yuan(amount)
        ));
    }
    let paths = vec![dir.join("settlements.csv"), dir.join("fee_lines.csv")];
    std::fs::write(&paths[0], settlements).expect("write");
    std::fs::write(&paths[1], fees).expect("write");
    paths
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

fn fen(yuan: &str) -> i64 {
    let (whole, cents) = yuan.split_once('.').expect("two decimals");
    whole.parse::<i64>().expect("yuan") * 100 + cents.parse::<i64>().expect("fen")
}

fn auditor() -> Actor {
    Actor {
        user: "auditor-li".into(),
        role: Role::Auditor,
        institution: None,
    }
}

async fn seed(store: &Store, dir: &Path) -> Vec<i64> {
    for path in write_month(dir) {
        let report = store
            .import_file(&path, &ImportOptions::default(), &mut |_| {})
            .await
            .expect("import");
        assert_eq!(report.rows_bad, 0, "{:?}", report.problems);
    }
    // The rules base names two of the three rules; no_presence was renamed in version 2.
    for (version, rule, name) in [
        (1, "no_presence", "旧名称 old name"),
        (2, "no_presence", "无在场记录(假病人)"),
        (1, "short_presence", "在场时长不足"),
    ] {
        sqlx::query(
            "INSERT INTO rule_definitions (version, rule_id, name_zh, name_en, scenario, enabled, \
             params, rule_version) VALUES ($1, $2, $3, $2, 'dialysis', 1, '{}', $1)",
        )
        .bind(version as i64)
        .bind(rule)
        .bind(name)
        .execute(store.pool())
        .await
        .expect("rule definition");
    }
    let mut ids = Vec::new();
    for (n, spec) in flags().iter().enumerate() {
        let id = store
            .raise_flag(&NewFlag {
                dedup_key: format!("{}/{n}", spec.rule),
                rule_id: spec.rule.parse().expect("rule id"),
                rule_version: 1,
                fixmedins_code: spec.institution.parse().expect("institution code"),
                psn_no: Some(spec.psn.parse().expect("psn_no")),
                amount_fen: spec.amount_fen,
                evidence: serde_json::json!({}),
                lines: spec.lines.iter().map(|l| (*l).to_owned()).collect(),
            })
            .await
            .expect("raise")
            .expect("new flag");
        let raised = local_ms(spec.raised);
        // Rules raise flags "now"; the fixture places each in its month.
        sqlx::query("UPDATE flags SET created_at_ms = $2 WHERE id = $1")
            .bind(id)
            .bind(raised)
            .execute(store.pool())
            .await
            .expect("backdate");
        let step = |action: Action, at: i64, amount_fen: Option<i64>| Request {
            action,
            reason: format!("{} after review", action.as_str()),
            amount_fen,
            now_ms: at,
        };
        let steps = match spec.end {
            End::Pending => vec![],
            End::Excluded => vec![step(Action::Exclude, raised + DAY, None)],
            End::Issued => vec![
                step(Action::Confirm, raised + DAY, None),
                step(Action::Issue, raised + DAY + 1, None),
            ],
            End::Handled(action, amount, at) => vec![
                step(Action::Confirm, raised + DAY, None),
                step(Action::Issue, raised + DAY + 1, None),
                step(action, local_ms(at), Some(amount)),
            ],
        };
        for request in steps {
            store
                .transition_flag(id, &auditor(), &request, 10)
                .await
                .unwrap_or_else(|e| panic!("flag {id} {:?}: {e}", request.action));
        }
        ids.push(id);
    }
    ids
}

fn run(args: &[String]) -> String {
    let output = Command::new(bin())
        .args(args)
        .output()
        .expect("run wardwatch");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{args:?} failed:\n{text}");
    text
}

fn collector(db: &Database, args: &[&str]) -> String {
    let mut all: Vec<String> = vec!["collector".into()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    all.extend(db.args());
    run(&all)
}

/// The log chain heads published below an export's rows (`审计日志链头 …` and `访问日志链头 …`):
/// taken off the end of `rows`, returned as the heads' text (`audit:SEQ:HASH`, `access:…`).
fn take_chain_heads(rows: &mut Vec<Vec<String>>) -> Vec<String> {
    let mut heads = Vec::new();
    while rows
        .last()
        .is_some_and(|r| r.first().is_some_and(|c| c.ends_with("log chain head")))
    {
        heads.insert(0, rows.pop().expect("a row")[1].clone());
    }
    heads
}

/// A CSV export: header and rows as text.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = std::fs::read(path).expect("csv");
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a BOM");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("row").iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn sheet(path: &Path, name: &str) -> Range<Data> {
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook(path).expect("workbook");
    workbook.worksheet_range(name).expect("sheet")
}

/// The rows of a sheet from its header row (the row whose first cell is `first_header`) on, as
/// header → cell maps.
fn sheet_rows(range: &Range<Data>, first_header: &str) -> Vec<BTreeMap<String, Data>> {
    let rows: Vec<&[Data]> = range.rows().collect();
    let at = rows
        .iter()
        .position(|r| r.first().is_some_and(|c| *c == first_header))
        .unwrap_or_else(|| panic!("no header row starting with {first_header}"));
    let header: Vec<String> = rows[at].iter().map(|c| c.to_string()).collect();
    rows[at + 1..]
        .iter()
        .map(|r| header.iter().cloned().zip(r.iter().cloned()).collect())
        .collect()
}

fn number(cell: Option<&Data>) -> f64 {
    match cell {
        Some(Data::Float(f)) => *f,
        Some(Data::Int(i)) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

fn cell_fen(row: &BTreeMap<String, Data>, column: &str) -> i64 {
    (number(row.get(column)) * 100.0).round() as i64
}

fn text(row: &BTreeMap<String, Data>, column: &str) -> String {
    row.get(column).map(|c| c.to_string()).unwrap_or_default()
}

fn handled_in_december(spec: &FlagSpec) -> Option<(Action, i64)> {
    match spec.end {
        End::Handled(action, amount, at) if at.starts_with("2026-12") => Some((action, amount)),
        _ => None,
    }
}

async fn check_deductions(db: &Database, store: &Store, ids: &[i64], out: &Path) {
    let specs = flags();
    let printed = collector(
        db,
        &[
            "export",
            "deductions",
            "--month",
            "2026-12",
            "--out-dir",
            &out.display().to_string(),
        ],
    );
    for institution in [HOSPITAL, CLINIC] {
        let stem = format!("扣费明细_2026-12_{institution}");
        assert!(printed.contains(&format!("{stem}.xlsx")), "{printed}");
        let (header, mut rows) = read_csv(&out.join(format!("{stem}.csv")));
        // Below the rows, the log chain heads as they were at the export: an institution holding the
        // file can later have the bureau show that its logs still run through them.
        let published = take_chain_heads(&mut rows);
        let heads: Vec<String> = store
            .chain_heads()
            .await
            .expect("heads")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(published, heads, "{institution}");
        let mut verify = vec!["audit", "verify"];
        for head in &published {
            verify.extend(["--expect", head.as_str()]);
        }
        let verified = collector(db, &verify);
        assert!(verified.contains("every held head"), "{verified}");
        let column = |name: &str| {
            header
                .iter()
                .position(|h| h.ends_with(name))
                .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
        };
        assert!(header.contains(&"结算ID setl_id".to_owned()), "{header:?}");
        let (total, lines) = rows.split_last().expect("a total row");
        assert_eq!(total[0], "合计 total");

        // Exactly the lines of this institution's flags handled in December.
        let expected_flags: Vec<(usize, &FlagSpec)> = specs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.institution == institution && handled_in_december(s).is_some())
            .collect();
        let expected_lines: BTreeSet<&str> = expected_flags
            .iter()
            .flat_map(|(_, s)| s.lines.iter().copied())
            .collect();
        let got_lines: BTreeSet<&str> = lines
            .iter()
            .map(|r| r[column("feedetl_sn")].as_str())
            .collect();
        assert_eq!(got_lines, expected_lines, "{institution}");
        assert!(
            lines
                .iter()
                .all(|r| r[column("fixmedins_code")] == institution)
        );

        // Per flag, the deducted amounts add up exactly to the handled amount, spread by line amount.
        for (n, spec) in &expected_flags {
            let (action, amount) = handled_in_december(spec).expect("handled");
            let flag_rows: Vec<&Vec<String>> = lines
                .iter()
                .filter(|r| r[column("flag_id")] == ids[*n].to_string())
                .collect();
            assert_eq!(flag_rows.len(), spec.lines.len());
            let shares: Vec<i64> = flag_rows
                .iter()
                .map(|r| fen(&r[column("deducted_amount")]))
                .collect();
            assert_eq!(shares.iter().sum::<i64>(), amount, "flag {}", ids[*n]);
            let max = shares.iter().max().expect("a line");
            let min = shares.iter().min().expect("a line");
            assert!(max - min <= shares.len() as i64, "{shares:?}");
            for r in &flag_rows {
                assert!(r[column("handling")].ends_with(action.as_str()));
                assert_eq!(fen(&r[column("outcome_amount")]), amount);
            }
        }
        let outcome_total: i64 = expected_flags
            .iter()
            .map(|(_, s)| handled_in_december(s).expect("handled").1)
            .sum();
        assert_eq!(fen(&total[column("deducted_amount")]), outcome_total);
        let line_total: i64 = lines
            .iter()
            .map(|r| fen(&r[column("det_item_fee_sumamt")]))
            .sum();
        assert_eq!(fen(&total[column("det_item_fee_sumamt")]), line_total);

        // Settlement, person and rule names joined in.
        for r in lines {
            let sn = r[column("feedetl_sn")].as_str();
            let fee = FEE_LINES
                .iter()
                .find(|f| f.0 == sn)
                .expect("a fixture line");
            let settlement = SETTLEMENTS
                .iter()
                .find(|s| s.1 == fee.1)
                .expect("a settlement");
            assert_eq!(r[column("setl_id")], settlement.0);
            assert_eq!(r[column("psn_name")], settlement.3);
            assert_eq!(r[column("fee_ocur_time")], format!("{}:00", fee.3));
            assert_eq!(fen(&r[column("det_item_fee_sumamt")]), fee.7);
            let rule = r[column("rule_id")].as_str();
            let name = &r[column("rule_name")];
            match rule {
                "no_presence" => assert_eq!(name, "无在场记录(假病人)"),
                "short_presence" => assert_eq!(name, "在场时长不足"),
                other => assert_eq!(name, other),
            }
            if institution == CLINIC {
                assert_eq!(r[column("fixmedins_name")], CLINIC_NAME);
            }
        }

        // The workbook holds the same rows and totals.
        let range = sheet(&out.join(format!("{stem}.xlsx")), "扣费明细 Deductions");
        let xlsx = sheet_rows(&range, "定点医药机构编号 fixmedins_code");
        // The rows, a blank row, the two heads.
        assert_eq!(xlsx.len(), rows.len() + 3);
        for (row, head) in xlsx[rows.len() + 1..].iter().zip(&published) {
            assert_eq!(&text(row, "定点医药机构名称 fixmedins_name"), head);
        }
        for (x, c) in xlsx.iter().zip(&rows) {
            assert_eq!(
                cell_fen(x, "扣费金额 deducted_amount"),
                fen(&c[column("deducted_amount")])
            );
            assert_eq!(
                text(x, "费用明细流水号 feedetl_sn"),
                c[column("feedetl_sn")]
            );
        }
    }
    let written: Vec<_> = std::fs::read_dir(out).expect("out dir").collect();
    assert_eq!(written.len(), 4, "an XLSX and a CSV per institution");
    for file in written {
        use std::os::unix::fs::PermissionsExt;
        let meta = file.expect("entry").metadata().expect("metadata");
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o600,
            "patient data, owner only"
        );
    }

    // The library gives the same rows, and only the asked institution's.
    let rows = store
        .deduction_rows(&DeductionQuery {
            month: "2026-12".parse().expect("month"),
            zone: chrono_tz::Asia::Shanghai,
            institution: Some(CLINIC.into()),
        })
        .await
        .expect("rows");
    assert!(!rows.is_empty() && rows.iter().all(|r| r.fixmedins_code == CLINIC));
    assert!(rows.iter().all(|r| r.feedetl_sn.as_deref() != Some("FD6")));

    // January has the flag handled at 00:30 on New Year's day; November has nothing.
    let january = out.join("january");
    collector(
        db,
        &[
            "export",
            "deductions",
            "--month",
            "2027-01",
            "--out-dir",
            &january.display().to_string(),
        ],
    );
    let (_, mut rows) = read_csv(&january.join(format!("扣费明细_2027-01_{CLINIC}.csv")));
    assert_eq!(take_chain_heads(&mut rows).len(), 2, "the log chain heads");
    assert_eq!(rows.len(), 2, "FD6 and the total");
    let printed = collector(
        db,
        &[
            "export",
            "deductions",
            "--month",
            "2026-11",
            "--out-dir",
            &out.join("november").display().to_string(),
        ],
    );
    assert!(printed.contains("no deductions"), "{printed}");
    assert!(!out.join("november").exists());
}

fn check_quarterly(db: &Database, out: &Path) {
    let file = out.join("q4.xlsx");
    collector(
        db,
        &[
            "export",
            "quarterly",
            "--quarter",
            "2026-Q4",
            "--out",
            &file.display().to_string(),
        ],
    );
    let specs = flags();
    let q4: Vec<&FlagSpec> = specs
        .iter()
        .filter(|s| s.raised >= "2026-10-01" && s.raised < "2027-01-01")
        .collect();
    let pending = q4.iter().filter(|s| s.end == End::Pending).count();
    let negative = q4.iter().filter(|s| s.end == End::Excluded).count();
    let positive = q4.len() - pending - negative;
    let handled = |wanted: Action| -> i64 {
        q4.iter()
            .map(|s| match s.end {
                End::Handled(action, amount, _) if action == wanted => amount,
                _ => 0,
            })
            .sum()
    };

    let summary: BTreeMap<String, Data> = sheet(&file, "汇总 Summary")
        .rows()
        .filter_map(|r| Some((r.first()?.to_string(), r.get(1)?.clone())))
        .collect();
    let value = |label: &str| number(summary.get(label));
    assert_eq!(value("生成疑点 flags raised") as usize, q4.len());
    assert_eq!(value("确认(复审后成立) confirmed") as usize, positive);
    assert_eq!(value("排除/撤销 excluded/reversed") as usize, negative);
    assert_eq!(value("待初审 pending") as usize, pending);
    assert_eq!(
        (value("涉及金额 amount at stake") * 100.0).round() as i64,
        q4.iter().map(|s| s.amount_fen).sum::<i64>()
    );
    assert_eq!(
        (value("拒付金额 amount refused") * 100.0).round() as i64,
        handled(Action::RefusePayment)
    );
    assert_eq!(
        (value("追回金额 amount recovered") * 100.0).round() as i64,
        handled(Action::Recover)
    );
    let rate = value("阳性率 positive rate");
    assert!((rate - positive as f64 / (positive + negative) as f64).abs() < 1e-9);
    // The log chain heads, published on the summary sheet, are on the chains.
    for (label, log) in [
        ("审计日志链头 audit log chain head", "audit:"),
        ("访问日志链头 access log chain head", "access:"),
    ] {
        let head = summary
            .get(label)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(head.starts_with(log), "{label}: {head:?}");
        let verified = collector(db, &["audit", "verify", "--expect", &head]);
        assert!(verified.contains("every held head"), "{verified}");
    }

    // By institution: flags and the quarter's settlements (S0 is the previous quarter).
    let institutions = sheet_rows(
        &sheet(&file, "按机构 By institution"),
        "定点医药机构编号 fixmedins_code",
    );
    let row = |code: &str| {
        institutions
            .iter()
            .find(|r| text(r, "定点医药机构编号 fixmedins_code") == code)
            .unwrap_or_else(|| panic!("no row for {code}"))
    };
    for code in [HOSPITAL, CLINIC] {
        let r = row(code);
        let q4_settlements: Vec<&SettlementSpec> = SETTLEMENTS
            .iter()
            .filter(|s| s.4 == code && s.5 >= "2026-10-01")
            .collect();
        let cost: i64 = q4_settlements.iter().map(|s| s.6).sum();
        let previous: i64 = SETTLEMENTS
            .iter()
            .filter(|s| s.4 == code && s.5 < "2026-10-01")
            .map(|s| s.6)
            .sum();
        assert_eq!(cell_fen(r, "医疗费总额 total cost"), cost);
        assert_eq!(
            cell_fen(r, "基金支付 fund payment"),
            q4_settlements.iter().map(|s| s.7).sum::<i64>()
        );
        assert_eq!(
            number(r.get("就诊人次 visits")) as usize,
            q4_settlements.len()
        );
        assert_eq!(
            cell_fen(r, "次均费用 cost per visit"),
            cost / q4_settlements.len() as i64
        );
        assert_eq!(
            number(r.get("疑点数 flags raised")) as usize,
            q4.iter().filter(|s| s.institution == code).count()
        );
        if previous > 0 {
            let growth = number(r.get("环比增长 growth"));
            assert!((growth - (cost - previous) as f64 / previous as f64).abs() < 1e-9);
        } else {
            assert_eq!(r.get("环比增长 growth"), Some(&Data::Empty));
        }
    }
    // S1: 2 to 6 November (4 days); S3: admitted and discharged the same day (counts 1).
    assert!((number(row(HOSPITAL).get("平均住院日 average stay (days)")) - 4.0).abs() < 1e-9);
    assert!((number(row(CLINIC).get("平均住院日 average stay (days)")) - 1.0).abs() < 1e-9);
    assert_eq!(text(row(HOSPITAL), "机构类别 category"), "三级医院");
    assert_eq!(text(row(CLINIC), "机构类别 category"), UNCLASSIFIED);
    assert_eq!(
        text(row(CLINIC), "定点医药机构名称 fixmedins_name"),
        CLINIC_NAME
    );

    let groups = |name: &str, first: &str| sheet_rows(&sheet(&file, name), first);
    let categories = groups("按类别 By category", "机构类别 category");
    assert_eq!(
        categories
            .iter()
            .map(|r| text(r, "机构类别 category"))
            .collect::<Vec<_>>(),
        ["三级医院", UNCLASSIFIED, "合计 total"]
    );
    let regions = groups("按区划 By region", "医保区划 admdvs");
    let hospital_region = regions
        .iter()
        .find(|r| text(r, "医保区划 admdvs") == "430602")
        .expect("the registered region");
    assert_eq!(text(hospital_region, "区划名称 region_name"), "岳阳楼区");
    assert!(
        regions
            .iter()
            .any(|r| text(r, "医保区划 admdvs") == "430603"),
        "the unregistered clinic's region comes from its code"
    );
    let rules = groups("按规则 By rule", "规则 rule_id");
    for r in rules
        .iter()
        .filter(|r| text(r, "规则 rule_id") != "合计 total")
    {
        let rule = text(r, "规则 rule_id");
        assert_eq!(
            number(r.get("疑点数 flags raised")) as usize,
            q4.iter().filter(|s| s.rule == rule).count(),
            "{rule}"
        );
    }
    let bands = groups("按金额 By amount", "涉及金额区间 amount band");
    let band_counts: Vec<usize> = bands[..3]
        .iter()
        .map(|r| number(r.get("疑点数 flags raised")) as usize)
        .collect();
    let in_band = |low: i64, high: i64| {
        q4.iter()
            .filter(|s| s.amount_fen >= low && s.amount_fen < high)
            .count()
    };
    assert_eq!(
        band_counts,
        [
            in_band(0, 100_000),
            in_band(100_000, 1_000_000),
            in_band(1_000_000, i64::MAX)
        ]
    );
    assert_eq!(
        number(bands[3].get("疑点数 flags raised")) as usize,
        q4.len()
    );
}

async fn register_institutions(db: &Database, store: &Store, dir: &Path) {
    let path = dir.join("institutions.csv");
    let write = |category: &str| {
        let text = format!(
            "定点医药机构编号,定点医药机构名称,机构类别,医保区划,区划名称\n\
             {HOSPITAL},岳阳市第一人民医院,{category},,岳阳楼区\n\
             X1,坏编号,二级医院,,\n"
        );
        let (bytes, _, _) = encoding_rs::GB18030.encode(&text);
        std::fs::write(&path, &bytes).expect("write");
    };
    write("二级医院");
    let parsed = read_registry(&path, EncodingChoice::Auto).expect("registry");
    assert_eq!(parsed.problems.len(), 1, "{:?}", parsed.problems);
    assert_eq!(parsed.problems[0].row, 3);
    let update = store
        .register_institutions(&parsed.institutions)
        .await
        .expect("register");
    assert_eq!((update.added, update.updated), (1, 0));
    // Re-import with a corrected category: updated, not duplicated.
    write("三级医院");
    let parsed = read_registry(&path, EncodingChoice::Auto).expect("registry");
    let update = store
        .register_institutions(&parsed.institutions)
        .await
        .expect("register");
    assert_eq!((update.added, update.updated), (0, 1));
    // The command line: the bad row named, the exit status non-zero, the good row kept.
    let mut args = vec![
        "collector".to_owned(),
        "institutions".into(),
        "import".into(),
    ];
    args.push(path.display().to_string());
    args.extend(db.args());
    let output = Command::new(bin()).args(&args).output().expect("run");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{printed}");
    assert!(
        printed.contains("row 3, column fixmedins_code (定点医药机构编号)"),
        "{printed}"
    );
    assert!(printed.contains("1 unchanged, 1 refused"), "{printed}");
    let listed = collector(db, &["institutions", "list"]);
    assert!(
        listed.contains("岳阳市第一人民医院\t三级医院\t430602\t岳阳楼区"),
        "{listed}"
    );
    let registered = store.institutions().await.expect("list");
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].category, "三级医院");
    assert_eq!(registered[0].admdvs, "430602");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deduction_detail_and_quarterly_analysis_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dbs = vec![Database::sqlite(dir.path())];
    match Database::postgres().await {
        Some(pg) => dbs.push(pg),
        None => skip("exports on postgres", "WARDWATCH_TEST_PG is not set"),
    }
    for db in dbs {
        println!("exports on {}", db.name);
        let work = dir.path().join(&db.name);
        std::fs::create_dir_all(&work).expect("work dir");
        let store = db.open().await;
        register_institutions(&db, &store, &work).await;
        let ids = seed(&store, &work).await;
        check_deductions(&db, &store, &ids, &work.join("deductions")).await;
        check_quarterly(&db, &work);
        store.close().await;
        db.cleanup().await;
    }
}
