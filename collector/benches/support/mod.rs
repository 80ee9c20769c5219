//! Helpers shared by the collector's benches (each bench uses some of them).
#![allow(dead_code)]

/// The process's peak resident set size (VmHWM in /proc/self/status) in KiB, if the platform tells.
pub fn peak_rss_kib() -> Option<u64> {
    peak_rss_kib_at("/proc/self/status")
}

/// Another process's peak RSS in MiB (NaN when unknown), e.g. a broker the bench started.
pub fn peak_rss_mib_of(pid: u32) -> f64 {
    peak_rss_kib_at(&format!("/proc/{pid}/status")).map_or(f64::NAN, |kb| kb as f64 / 1024.0)
}

fn peak_rss_kib_at(status: &str) -> Option<u64> {
    std::fs::read_to_string(status)
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

/// A small deterministic generator (xorshift64*): the same data for the same seed, no dependency.
pub struct Noise(pub u64);

impl Noise {
    /// A number in `0..n`.
    pub fn below(&mut self, n: i64) -> i64 {
        (self.next() % n as u64) as i64
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// One of `from`.
    pub fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[(self.next() % from.len() as u64) as usize]
    }
}
