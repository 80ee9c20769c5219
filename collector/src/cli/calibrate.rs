//! `calibrate`: the FMR/FNMR of a bureau's own labelled photos at a range of thresholds, and the
//! `[recognition]` settings to give the ward boxes for a chosen false-match rate (see
//! [`crate::calibrate`]). The embeddings come from `wardwatch-agent embed --folder` on a machine with
//! the models; the collector only does the arithmetic.

use crate::calibrate::{Calibration, OpenSet, calibrate, read_photos};
use clap::Args;
use std::path::PathBuf;

/// `calibrate` options.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The enrolment photos' embeddings (`wardwatch-agent embed --folder ENROLMENT_DIR --out FILE`).
    #[arg(long)]
    pub enrolment: PathBuf,
    /// The camera captures' embeddings, in folders named as the enrolment's (other folders: people
    /// not enrolled, matched against everyone).
    #[arg(long)]
    pub captures: PathBuf,
    /// The false-match rate per comparison to set the threshold for.
    #[arg(long, default_value_t = 1e-3)]
    pub target_fmr: f64,
    /// Never recommend a margin below this (the box's default 0.05: near-ties between enrolled people
    /// are rarer in a calibration set than on the wards).
    #[arg(long, default_value_t = 0.05)]
    pub min_margin: f32,
}

fn open_set_cells(o: &OpenSet, of: usize) -> String {
    let pct = |n: usize| n as f64 * 100.0 / of.max(1) as f64;
    format!(
        "{:>6.2}% {:>6.2}% {:>6.2}%",
        pct(o.named_right),
        pct(o.unknown),
        pct(o.named_wrong)
    )
}

fn print(c: &Calibration) {
    println!(
        "enrolment 登记: {} people, {} embeddings ({} photos without a face left out)",
        c.enrolled.0, c.enrolled.1, c.enrolment_without_face
    );
    println!(
        "captures 抓拍: {} recognisable ({} of enrolled people); {} without a face, {} the quality gate skips (left out)",
        c.captures.0, c.captures.1, c.captures_without_face, c.captures_skipped
    );
    println!(
        "{} impostor comparisons (a capture against an enrolled person not in it)",
        c.impostor_comparisons
    );
    println!();
    println!(
        "threshold   FMR 误识率   FNMR 拒识率   named right / unknown / named wrong (margin {:.2})",
        c.margin
    );
    for r in &c.table {
        println!(
            "  {:.2}     {:>9.5}   {:>9.4}     {}",
            r.threshold,
            r.fmr,
            r.fnmr,
            open_set_cells(&r.open_set, c.captures.0)
        );
    }
    println!();
    println!(
        "margins at threshold {:.3}: named right / unknown / named wrong",
        c.threshold
    );
    for (m, o) in c.margins.iter().step_by(2) {
        println!("  {m:.2}   {}", open_set_cells(o, c.captures.0));
    }
    println!();
    let r = &c.at_recommended;
    println!(
        "recommended for FMR ≤ {:e} 建议: similarity_threshold = {:.3}, margin = {:.2} \
         (measured here: FMR {:.5}, FNMR {:.4}; of {} captures {} named right, {} unknown, {} named wrong)",
        c.target_fmr,
        c.threshold,
        c.margin,
        r.fmr,
        r.fnmr,
        c.captures.0,
        r.open_set.named_right,
        r.open_set.unknown,
        r.open_set.named_wrong
    );
    if !c.enough_comparisons() {
        println!(
            "caution 注意: {} impostor comparisons cannot show an FMR of {:e} (95% confidence needs at \
             least {:.0} with none above the threshold, the rule of three): add captures or people, \
             or choose a larger --target-fmr",
            c.impostor_comparisons,
            c.target_fmr,
            (3.0 / c.target_fmr).ceil()
        );
    }
    println!();
    println!("# agent.toml on the boxes:\n[recognition]");
    println!("similarity_threshold = {:.3}", c.threshold);
    println!("margin = {:.2}", c.margin);
}

/// Runs `calibrate`.
pub fn run(args: CalibrateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.min_margin.is_finite() && (0.0..1.0).contains(&args.min_margin),
        "--min-margin {}: must be at least 0 and below 1",
        args.min_margin
    );
    let enrolment = read_photos(&args.enrolment)?;
    let captures = read_photos(&args.captures)?;
    let calibration = calibrate(&enrolment, &captures, args.target_fmr, args.min_margin)?;
    print(&calibration);
    Ok(())
}
