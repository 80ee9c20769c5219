//! Money in exports: amounts are stored and summed in fen (integers); they are shown in yuan with two
//! decimals, and an amount is spread over lines in whole fen so that the lines add up exactly.

/// Fen as yuan with two decimals (`-1234` → `-12.34`), without going through floating point.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Spreads `total` fen over lines in proportion to `weights` (their amounts), in whole fen: each line
/// gets the rounded-down share, the last line the rounding remainder, so the shares sum to `total`.
/// Negative weights count as zero; when no weight is positive the lines share equally.
pub fn distribute_fen(total: i64, weights: &[i64]) -> Vec<i64> {
    let Some(last) = weights.len().checked_sub(1) else {
        return Vec::new();
    };
    let positive: Vec<i128> = weights.iter().map(|w| i128::from((*w).max(0))).collect();
    let sum: i128 = positive.iter().sum();
    let (weights, sum) = if sum > 0 {
        (positive, sum)
    } else {
        (vec![1; weights.len()], weights.len() as i128)
    };
    let mut shares: Vec<i64> = weights
        .iter()
        .map(|w| {
            // |total × w / sum| ≤ |total|, so the share fits in i64.
            i64::try_from(i128::from(total) * w / sum).unwrap_or_default()
        })
        .collect();
    let given: i64 = shares[..last].iter().sum();
    shares[last] = total - given;
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_has_two_decimals() {
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(41_000), "410.00");
        assert_eq!(yuan(123_456), "1234.56");
        assert_eq!(yuan(-1_234), "-12.34");
        assert_eq!(yuan(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn shares_are_proportional_and_sum_exactly() {
        assert_eq!(distribute_fen(100, &[410, 410, 410]), [33, 33, 34]);
        assert_eq!(distribute_fen(30_000, &[41_000, 20_500]), [20_000, 10_000]);
        assert_eq!(distribute_fen(7, &[1, 2, 4]), [1, 2, 4]);
        assert_eq!(distribute_fen(10, &[0, 0]), [5, 5]);
        assert_eq!(distribute_fen(10, &[-5, 5]), [0, 10]);
        assert_eq!(distribute_fen(99, &[1]), [99]);
        assert!(distribute_fen(99, &[]).is_empty());
        for (total, weights) in [
            (1_i64, vec![3_i64, 3, 3]),
            (12_345, vec![1, 10, 100, 1_000, 10_000]),
            (i64::MAX / 2, vec![i64::MAX / 3, i64::MAX / 3]),
        ] {
            let shares = distribute_fen(total, &weights);
            assert_eq!(shares.iter().sum::<i64>(), total, "{weights:?}");
            assert!(shares.iter().all(|s| *s >= 0), "{shares:?}");
        }
    }
}
