//! Helpers shared by the collector's benches.

/// The process's peak resident set size (VmHWM in /proc/self/status) in KiB, if the platform tells.
pub fn peak_rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The peak RSS in MiB (NaN when unknown).
pub fn peak_rss_mib() -> f64 {
    peak_rss_kib().map_or(f64::NAN, |kb| kb as f64 / 1024.0)
}
