//! Time to empty (or to full while charging) from the recent state-of-charge slope (DOMAIN §8).
//!
//! A least-squares line through the last minutes of state-of-charge readings gives the rate in %/h and its standard error. The
//! estimate is the time the line takes to reach 0 % (100 % while charging), with a range from the slope ± two
//! standard errors. It is withheld when the fit says little: too few readings or too short a span, a slope that is
//! not clearly away from zero, or a poor fit (R² below 0.6). A jump between two readings (a battery swap, a
//! recalibration) starts the fit afresh from the reading after it.

/// The fit needs readings over at least this long.
pub const MIN_SPAN_MS: i64 = 3 * 60_000;
pub const MIN_POINTS: usize = 6;
const MIN_R2: f64 = 0.6;
/// A change between consecutive readings larger than this (percentage points) is a jump, not a trend.
const JUMP: f64 = 5.0;

/// An estimate: hours until empty (discharging) or full (charging), with a likely range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// `true`: until full (charging); `false`: until empty.
    pub to_full: bool,
    pub hours: f64,
    /// Likely range of `hours` (slope ± 2 standard errors); `hours_max` is infinite when the slower end is flat.
    pub hours_min: f64,
    pub hours_max: f64,
    /// The fitted rate, %/h (negative while discharging).
    pub rate_per_hour: f64,
}

/// Fits `(ts_ms, soc %)` readings (any order) and estimates from the newest reading.
pub fn estimate(readings: &[(i64, f64)]) -> Option<Estimate> {
    let mut points: Vec<(i64, f64)> = readings.iter().copied().filter(|(_, s)| s.is_finite()).collect();
    points.sort_by_key(|(t, _)| *t);
    if let Some(after_jump) = points.windows(2).rposition(|w| (w[1].1 - w[0].1).abs() > JUMP) {
        points.drain(..=after_jump);
    }
    if points.len() < MIN_POINTS {
        return None;
    }
    let (t0, t1) = points.iter().fold((i64::MAX, i64::MIN), |(lo, hi), (t, _)| (lo.min(*t), hi.max(*t)));
    if t1 - t0 < MIN_SPAN_MS {
        return None;
    }
    #[expect(clippy::cast_precision_loss, reason = "a few hundred readings and hours")]
    let (n, xs): (f64, Vec<(f64, f64)>) =
        (points.len() as f64, points.iter().map(|(t, s)| ((t - t0) as f64 / 3_600_000.0, *s)).collect());
    let mean_x = xs.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = xs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = xs.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let syy: f64 = xs.iter().map(|p| (p.1 - mean_y).powi(2)).sum();
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let residual: f64 = xs.iter().map(|p| (p.1 - (mean_y + slope * (p.0 - mean_x))).powi(2)).sum();
    let r2 = 1.0 - residual / syy;
    let se = (residual / (n - 2.0) / sxx).sqrt();
    if r2 < MIN_R2 || slope.abs() < 2.0 * se {
        return None;
    }
    let newest = points.iter().max_by_key(|(t, _)| *t).map(|p| p.1)?;
    let to_full = slope > 0.0;
    let remaining = if to_full { 100.0 - newest } else { newest }.max(0.0);
    let hours_at = |rate: f64| if rate > 0.0 { remaining / rate } else { f64::INFINITY };
    let rate = slope.abs();
    Some(Estimate {
        to_full,
        hours: hours_at(rate),
        hours_min: hours_at(rate + 2.0 * se),
        hours_max: hours_at(rate - 2.0 * se),
        rate_per_hour: slope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(rate_per_hour: f64, start: f64, minutes: i64, noise: f64) -> Vec<(i64, f64)> {
        (0..=minutes * 2)
            .map(|k| {
                let t = k * 30_000;
                #[expect(clippy::cast_precision_loss, reason = "small test values")]
                let soc = start + rate_per_hour * t as f64 / 3_600_000.0 + noise * if k % 2 == 0 { 1.0 } else { -1.0 };
                (t, soc)
            })
            .collect()
    }

    #[test]
    fn steady_discharge_gives_time_to_empty() {
        // 20 %/h from 60 %: 10 minutes later it reads 56.67 %, 2.83 h to empty.
        let e = estimate(&series(-20.0, 60.0, 10, 0.1)).expect("a clear slope");
        assert!(!e.to_full);
        assert!((e.rate_per_hour + 20.0).abs() < 0.5, "{e:?}");
        assert!((e.hours - 56.667 / 20.0).abs() < 0.1, "{e:?}");
        assert!(e.hours_min <= e.hours && e.hours <= e.hours_max, "{e:?}");
    }

    #[test]
    fn charging_gives_time_to_full() {
        let e = estimate(&series(40.0, 30.0, 6, 0.1)).expect("charging");
        assert!(e.to_full);
        assert!((e.hours - (100.0 - 34.0) / 40.0).abs() < 0.1, "{e:?}");
    }

    #[test]
    fn withheld_when_the_fit_says_little() {
        assert_eq!(estimate(&series(-20.0, 60.0, 2, 0.1)), None, "two minutes is too short");
        assert_eq!(estimate(&series(0.0, 60.0, 10, 0.5)), None, "flat: no slope");
        assert_eq!(estimate(&series(-2.0, 60.0, 10, 1.0)), None, "noise larger than the trend");
        assert_eq!(estimate(&[(0, 50.0); 3]), None);
    }

    #[test]
    fn a_jump_starts_the_fit_afresh() {
        let mut swapped = series(-20.0, 60.0, 10, 0.0);
        for p in swapped.iter_mut().skip(8) {
            p.1 += 30.0; // a battery swap after 4 minutes
        }
        let e = estimate(&swapped).expect("six minutes since the swap");
        assert!((e.rate_per_hour + 20.0).abs() < 1e-6, "{e:?}");
        let newest = swapped.last().expect("readings").1;
        assert!((e.hours - newest / 20.0).abs() < 1e-6, "{e:?}");
        for p in swapped.iter_mut().skip(18) {
            p.1 -= 30.0; // and another, too recent to say anything
        }
        assert_eq!(estimate(&swapped), None);
    }
}
