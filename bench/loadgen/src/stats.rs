//! Quantiles and number formatting for the table.

/// The q-quantile by nearest rank (q = 0.5 median, 0.99 p99); `None` for no samples.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

/// Median and p99 of a set of samples.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub median: f64,
    pub p99: f64,
}

pub fn summarize(values: &[f64]) -> Option<Summary> {
    Some(Summary {
        median: quantile(values, 0.5)?,
        p99: quantile(values, 0.99)?,
    })
}

/// Milliseconds with a precision that suits their size.
pub fn ms(x: f64) -> String {
    if x.abs() < 10.0 {
        format!("{x:.2} ms")
    } else if x.abs() < 1000.0 {
        format!("{x:.1} ms")
    } else {
        format!("{x:.0} ms")
    }
}

/// A signed difference in milliseconds (`+1.23 ms`).
pub fn ms_signed(x: f64) -> String {
    if x >= 0.0 {
        format!("+{}", ms(x))
    } else {
        ms(x)
    }
}

pub fn ratio(x: f64, base: f64) -> String {
    if base <= 0.0 {
        return "—".into();
    }
    format!("{:.3}×", x / base)
}

pub fn kib(bytes: f64) -> String {
    if bytes.abs() >= 10.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", bytes / 1024.0 / 1024.0)
    } else {
        format!("{:.0} KiB", bytes / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.99), Some(3.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
