//! A pen's y axis: round limits and steps for its values, and values written with the decimals the step needs.

/// A pen's y axis: values from `lo` to `hi` are drawn from 0 to 1; grid lines fall on round values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub lo: f64,
    pub hi: f64,
    /// Decimals that show the grid's step exactly.
    pub decimals: usize,
}

impl Scale {
    /// A round range over `min..=max` in `divisions` equal steps of 1, 2, 2.5 or 5 × 10ⁿ.
    pub fn nice(min: f64, max: f64, divisions: u32) -> Self {
        let (mut min, mut max) =
            if min.is_finite() && max.is_finite() { (min.min(max), max.max(min)) } else { (0.0, 1.0) };
        if max - min <= f64::EPSILON * min.abs().max(1.0) * 16.0 {
            // A flat line: centre it.
            let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
            min -= pad;
            max += pad;
        }
        let divisions = f64::from(divisions.max(1));
        let mut step = nice_at_least((max - min) / divisions);
        for _ in 0..8 {
            let lo = (min / step).floor() * step;
            let hi = lo + step * divisions;
            if hi >= max {
                return Self { lo, hi, decimals: decimals_for(step) };
            }
            step = nice_at_least(step * 1.000_1);
        }
        Self { lo: min, hi: max, decimals: decimals_for((max - min) / divisions) }
    }

    pub fn y_from_value(&self, value: f64) -> f64 {
        (value - self.lo) / (self.hi - self.lo)
    }

    pub fn value_from_y(&self, y: f64) -> f64 {
        self.lo + y * (self.hi - self.lo)
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ that is at least `x`.
pub(super) fn nice_at_least(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return 1.0;
    }
    let magnitude = 10_f64.powf(x.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|v| *v >= x * (1.0 - 1e-9)).unwrap_or(x)
}

/// Decimals needed to show multiples of `step` exactly (2.5 needs one more than its magnitude).
pub(super) fn decimals_for(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) {
        return 2;
    }
    let magnitude = step.log10().floor();
    let mantissa = step / 10_f64.powf(magnitude);
    let extra = usize::from((mantissa - 2.5).abs() < 1e-6);
    // Small: `magnitude` is a few dozen at most for any value a plant produces.
    let base = if magnitude < 0.0 { (-magnitude) as usize } else { 0 };
    (base + extra).min(9)
}

/// `v` with `decimals`, without a minus sign on zero.
pub(super) fn fmt_value(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    match text.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_owned(),
        _ => text,
    }
}
