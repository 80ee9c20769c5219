//! A bounded-memory median: a fixed-bin histogram, so a four-hour stay at 5 fps costs the same as a
//! one-minute one and serialises small into the spool checkpoint.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Counts of values in bins of width `(max - min) / bins` over `[min, max]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    min: f64,
    max: f64,
    bins: u16,
    /// Sparse: bin index → count.
    counts: BTreeMap<u16, u32>,
    total: u64,
}

impl Histogram {
    /// An empty histogram over `[min, max]` with `bins` bins.
    pub fn new(min: f64, max: f64, bins: u16) -> Self {
        Histogram {
            min,
            max,
            bins: bins.max(1),
            counts: BTreeMap::new(),
            total: 0,
        }
    }

    /// Adds a value (clamped into range).
    pub fn add(&mut self, value: f64) {
        let unit = ((value - self.min) / (self.max - self.min)).clamp(0.0, 1.0);
        let bin = ((unit * f64::from(self.bins)) as u16).min(self.bins - 1);
        *self.counts.entry(bin).or_default() += 1;
        self.total += 1;
    }

    /// The centre of the bin holding the median, or `None` when empty. Accurate to half a bin.
    pub fn median(&self) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let half = self.total.div_ceil(2);
        let mut seen = 0u64;
        for (&bin, &count) in &self.counts {
            seen += u64::from(count);
            if seen >= half {
                let width = (self.max - self.min) / f64::from(self.bins);
                return Some((self.min + (f64::from(bin) + 0.5) * width).clamp(self.min, self.max));
            }
        }
        None
    }

    /// How many values were added.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The centre of the bin holding the `q` quantile (0..1), or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let width = (self.max - self.min) / f64::from(self.bins);
        let mut seen = 0u64;
        self.counts.iter().find_map(|(&bin, &count)| {
            seen += u64::from(count);
            (seen >= rank).then(|| (self.min + (f64::from(bin) + 0.5) * width).min(self.max))
        })
    }

    /// The share of the values in bins starting at or above `value` (0 when empty).
    pub fn share_above(&self, value: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let width = (self.max - self.min) / f64::from(self.bins);
        let above: u64 = self
            .counts
            .iter()
            .filter(|(bin, _)| self.min + f64::from(**bin) * width >= value - 1e-12)
            .map(|(_, count)| u64::from(*count))
            .sum();
        above as f64 / self.total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_within_half_a_bin() {
        let mut h = Histogram::new(-1.0, 1.0, 200);
        assert_eq!(h.median(), None);
        for v in [0.10, 0.52, 0.61, 0.63, 0.99] {
            h.add(v);
        }
        let m = h.median().unwrap();
        assert!((m - 0.61).abs() <= 0.005 + 1e-9, "{m}");
        h.add(5.0); // clamped to the top bin
        assert!(h.median().unwrap() <= 1.0);
    }

    #[test]
    fn quantiles_and_shares_by_bin() {
        let mut h = Histogram::new(0.0, 0.2, 200);
        assert_eq!(h.quantile(0.9), None);
        assert_eq!(h.share_above(0.02), 0.0);
        for k in 0..10 {
            h.add(0.001 * f64::from(k) + 0.0004);
        }
        // 0.0094 is in bin 9 (centre 0.0095).
        assert!((h.quantile(0.9).unwrap() - 0.0085).abs() < 1e-9);
        assert!((h.quantile(1.0).unwrap() - 0.0095).abs() < 1e-9);
        assert!((h.share_above(0.005) - 0.5).abs() < 1e-9);
    }
}
