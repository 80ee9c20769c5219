//! The fuzz targets' checks (`fuzz/src/lib.rs`) over the committed seeds in `fuzz/seeds/`, on a stable
//! toolchain: what the fuzzer starts from must pass, and must reach both good and refused rows.

#[path = "../../fuzz/src/lib.rs"]
mod fuzz_checks;

use std::path::{Path, PathBuf};

fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the seed directory")
        .map(|entry| entry.expect("a seed").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
}

#[test]
fn settlement_row_seeds_pass_and_reach_good_and_refused_rows() {
    let mut total = fuzz_checks::Outcome::default();
    for file in seeds("settlement_row") {
        let bytes = std::fs::read(&file).expect("the seed");
        let outcome = fuzz_checks::settlement_row(&bytes);
        eprintln!("{}: {outcome:?}", file.display());
        total.records += outcome.records;
        total.rows_refused += outcome.rows_refused;
        total.files_refused += outcome.files_refused;
    }
    assert!(
        total.records > 0 && total.rows_refused > 0 && total.files_refused > 0,
        "{total:?}"
    );
}

#[test]
fn cell_values_seeds_pass() {
    for file in seeds("cell_values") {
        fuzz_checks::cell_values(&std::fs::read(&file).expect("the seed"));
    }
}
