//! Bench: a generated fee-line CSV of at least SIZE (default 1 GiB) streamed through
//! `Store::import_file` into SQLite, to show that the import's memory does not grow with the file.
//!
//! The file is generated row by row straight to a temporary file (Chinese headers and names, refunds
//! with a negative `cnt`, quoted cells, and a bad row every few thousand that must be reported without
//! stopping the import). A file 1/8 the size is generated too, and each file is imported in its own child
//! process (this bench run with `--import FILE`) so that each peak RSS (VmHWM) is that import's alone.
//! Prints, per file: size, rows, rows refused, time, rows/s and peak RSS.
//!
//! `cargo bench -p wardwatch-collector --bench import_large [-- SIZE]` (SIZE: bytes, or with a K, M or
//! G suffix in binary units, e.g. `256M`; default `1G`)

mod support;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use support::{Noise, peak_rss_kib, peak_rss_mib};
use wardwatch_collector::settlement::import::ImportOptions;
use wardwatch_collector::store::{Store, StoreLocation};

const HEADER: &str = "费用明细流水号,就诊ID,人员编号,人员姓名,费用发生时间,医保目录编码,医保目录名称,\
                      医药机构目录编码,数量,单价,明细项目费用总额,开单科室编码,备注";

/// (code, name as written in the CSV, unit price in fen).
const ITEMS: &[(&str, &str, i64)] = &[
    ("003105000010000", "血液透析", 41_000),
    ("003105000030000", "血液滤过", 52_000),
    ("003105000040000", "血液透析滤过", 61_050),
    ("86900234000038", "肝素钠注射液", 1_235),
    ("XB05BB01", "\"0.9%氯化钠注射液,500ml\"", 386),
    ("003401000010000", "运动疗法", 4_500),
    ("003402000030000", "作业疗法（OT）", 3_800),
    ("001102000010000", "精神科监护", 3_000),
    ("250101001", "血常规检查（五分类）", 2_000),
    ("311201031", "\"心理治疗 \"\"个体\"\"\"", 8_000),
];
const SURNAMES: &[&str] = &[
    "张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴", "欧阳", "司马", "徐", "孙",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "建国", "淑珍",
];
const DEPTS: &[&str] = &["HD01", "HD02", "KF01", "JS03", ""];
/// One row in this many is bad.
const BAD_EVERY: u64 = 4_999;

/// What was generated.
struct Generated {
    bytes: u64,
    rows: u64,
    bad: u64,
}

fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

/// Writes one row (good, or bad in one of several ways) to `line`; returns whether it is bad.
fn write_row(line: &mut String, i: u64, noise: &mut Noise) -> bool {
    use std::fmt::Write as _;
    line.clear();
    let (code, name, price) = *noise.pick(ITEMS);
    let refund = noise.next().is_multiple_of(33);
    let cnt: i64 = if refund {
        -1
    } else {
        1 + (noise.next() % 3) as i64
    };
    let day = 1 + i % 28;
    let second = i % 36_000;
    let psn = 4_306_000_000_000u64 + i % 70_000;
    let person = format!("{}{}", noise.pick(SURNAMES), noise.pick(GIVEN));
    let remark = match noise.next() % 50 {
        0 => "\"家属说\"\"明天再来\"\"\"",
        1..=3 => "补录",
        _ if refund => "退费",
        _ => "",
    };
    let mut time = format!(
        "2026-11-{day:02} {:02}:{:02}:{:02}",
        7 + second / 3600,
        second / 60 % 60,
        second % 60
    );
    let mut psn_no = psn.to_string();
    let mut amount = yuan(cnt * price);
    let mut cnt_text = cnt.to_string();
    let bad = i % BAD_EVERY == BAD_EVERY - 1;
    if bad {
        match (i / BAD_EVERY) % 5 {
            0 => time = "2026-13-45 25:00:00".into(),
            1 => amount = "12.345".into(),
            2 => psn_no = "43-06".into(),
            3 => cnt_text = "一".into(),
            _ => {
                // A short row: fewer fields than the header.
                let _ = write!(line, "FD{i:010},M{:09},{psn_no},{person}", i / 6);
                return true;
            }
        }
    }
    let _ = write!(
        line,
        "FD{i:010},M{:09},{psn_no},{person},{time},{code},{name},H{code},{cnt_text},{},{amount},{},{remark}",
        i / 6,
        yuan(price),
        noise.pick(DEPTS),
    );
    bad
}

/// Generates a fee-line CSV of at least `target` bytes, row by row.
fn generate(path: &Path, target: u64) -> std::io::Result<Generated> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "{HEADER}")?;
    let mut generated = Generated {
        bytes: HEADER.len() as u64 + 1,
        rows: 0,
        bad: 0,
    };
    let mut noise = Noise(0x5EED_CAFE_F00D_D00D);
    let mut line = String::with_capacity(256);
    while generated.bytes < target {
        if write_row(&mut line, generated.rows, &mut noise) {
            generated.bad += 1;
        }
        writeln!(out, "{line}")?;
        generated.bytes += line.len() as u64 + 1;
        generated.rows += 1;
    }
    out.flush()?;
    Ok(generated)
}

/// The child: imports one file into a fresh SQLite store next to it and prints one `result` line.
async fn import_child(file: &Path) -> anyhow::Result<()> {
    let db = file.with_extension("db");
    let store = Store::open(&StoreLocation::DataDir(db)).await?;
    let started = Instant::now();
    let mut next_report = 1_000_000;
    let report = store
        .import_file(file, &ImportOptions::default(), &mut |rows| {
            if rows >= next_report {
                eprintln!(
                    "  {rows} rows, {:.0} s, peak RSS {:.0} MiB",
                    started.elapsed().as_secs_f64(),
                    peak_rss_mib()
                );
                next_report += 1_000_000;
            }
        })
        .await?;
    let secs = started.elapsed().as_secs_f64();
    store.close().await;
    println!(
        "result rows_read={} rows_new={} rows_existing={} rows_bad={} problems={} secs={secs:.3} peak_rss_kib={}",
        report.rows_read,
        report.rows_new,
        report.rows_existing,
        report.rows_bad,
        report.problems.len(),
        peak_rss_kib().unwrap_or(0)
    );
    Ok(())
}

/// One child's `result` line, as numbers.
struct Measured {
    rows_read: u64,
    rows_new: u64,
    rows_bad: u64,
    secs: f64,
    peak_rss_kib: u64,
}

fn run_child(file: &Path) -> anyhow::Result<Measured> {
    let output = Command::new(std::env::current_exe()?)
        .arg("--import")
        .arg(file)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "import of {} failed: {stdout}",
        file.display()
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("result "))
        .ok_or_else(|| anyhow::anyhow!("no result line in {stdout:?}"))?;
    let value = |key: &str| -> anyhow::Result<f64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no {key} in {line:?}"))
    };
    Ok(Measured {
        rows_read: value("rows_read")? as u64,
        rows_new: value("rows_new")? as u64,
        rows_bad: value("rows_bad")? as u64,
        secs: value("secs")?,
        peak_rss_kib: value("peak_rss_kib")? as u64,
    })
}

fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last()? {
        (i, 'K' | 'k') => (&text[..i], 1u64 << 10),
        (i, 'M' | 'm') => (&text[..i], 1 << 20),
        (i, 'G' | 'g') => (&text[..i], 1 << 30),
        _ => (text, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--import") {
        let file = PathBuf::from(
            args.get(i + 1)
                .ok_or_else(|| anyhow::anyhow!("--import needs a file"))?,
        );
        return tokio::runtime::Runtime::new()?.block_on(import_child(&file));
    }
    // `cargo bench` passes `--bench`; the size is the one argument that parses.
    let size = args.iter().find_map(|a| parse_size(a)).unwrap_or(1 << 30);
    let dir = tempfile::tempdir()?;
    let mut lines = Vec::new();
    let mut peaks = Vec::new();
    for (label, target) in [("1/8", size / 8), ("full", size)] {
        let file = dir.path().join(format!("fees-{}.csv", target));
        let started = Instant::now();
        let generated = generate(&file, target)?;
        eprintln!(
            "{label}: generated {} rows ({} bad), {:.0} MiB in {:.0} s; importing…",
            generated.rows,
            generated.bad,
            generated.bytes as f64 / (1 << 20) as f64,
            started.elapsed().as_secs_f64()
        );
        let measured = run_child(&file)?;
        std::fs::remove_file(&file)?;
        anyhow::ensure!(
            measured.rows_read == generated.rows
                && measured.rows_bad == generated.bad
                && measured.rows_new == generated.rows - generated.bad,
            "{label}: generated {} rows ({} bad) but the import read {}, stored {} and refused {}",
            generated.rows,
            generated.bad,
            measured.rows_read,
            measured.rows_new,
            measured.rows_bad
        );
        peaks.push(measured.peak_rss_kib);
        lines.push(format!(
            "{label:>4}: {:>7.0} MiB CSV, {:>9} rows, {:>5} refused, {:>7.1} s, {:>6.0} rows/s, peak RSS {:>4.0} MiB",
            generated.bytes as f64 / (1 << 20) as f64,
            measured.rows_read,
            measured.rows_bad,
            measured.secs,
            measured.rows_read as f64 / measured.secs,
            measured.peak_rss_kib as f64 / 1024.0
        ));
    }
    println!("streaming import of generated fee lines into SQLite, one child process per file:");
    for line in &lines {
        println!("{line}");
    }
    if let [small, full] = peaks[..] {
        println!(
            "peak RSS full/(1/8): {:.2} for a file 8 times larger",
            full as f64 / small as f64
        );
    }
    Ok(())
}
