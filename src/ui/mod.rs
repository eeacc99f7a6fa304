//! Everything drawn: the theme, widgets, and the panels of each view. Drawing functions take `ui`, end in `_ui`,
//! read [`crate::live::LiveState`] and return [`crate::feeds::Command`]s; they never block.

pub mod contract;
pub mod panels;
pub mod theme;
pub mod tiles;
pub mod widgets;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// `12345` → `12 345` (thin grouping that reads at a distance and in any locale).
pub fn fmt_count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(ch);
    }
    out
}

/// How long ago: `just now`, `12 s ago`, `4 min ago`, `2 h 5 min ago`.
pub fn fmt_ago(now_ms: i64, then_ms: i64) -> String {
    let secs = (now_ms - then_ms).max(0) / 1000;
    match secs {
        0..=1 => "just now".to_owned(),
        2..=59 => format!("{secs} s ago"),
        60..=3_599 => format!("{} min ago", secs / 60),
        _ => format!("{} h {} min ago", secs / 3_600, secs % 3_600 / 60),
    }
}

/// The site clock: `Sun 22 Nov 14:03:22 EET` in the site's zone.
pub fn fmt_site_clock(now_ms: i64, tz: &TimeZone) -> String {
    fmt_local(now_ms, tz, "%a %d %b %H:%M:%S %Z")
}

/// A UTC millisecond instant in the site's zone with a `strftime` format; `—` when it is out of range.
pub fn fmt_local(ms: i64, tz: &TimeZone, format: &str) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz.clone()).strftime(format).to_string())
        .unwrap_or_else(|_| "—".to_owned())
}

/// A duration in seconds as `45 s`, `12 min`, `1 h 20 min`.
pub fn fmt_duration_secs(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3_599 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3_600, secs % 3_600 / 60),
    }
}

pub use contract::{ReviewCursor, UiCommand, ViewCtx};

/// The views (defined with the workstation's layouts, which name them).
pub use crate::workstation::layout::View;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(fmt_count(-1_000), "-1\u{202f}000");
        assert_eq!(fmt_ago(10_000, 9_500), "just now");
        assert_eq!(fmt_ago(300_000, 0), "5 min ago");
        assert_eq!(fmt_ago(3_900_000, 0), "1 h 5 min ago");
        assert_eq!(fmt_duration_secs(4_800), "1 h 20 min");
        let tz = TimeZone::get("Europe/Helsinki").expect("bundled");
        assert_eq!(fmt_site_clock(1_795_158_000_000, &tz), "Fri 20 Nov 09:00:00 EET");
    }
}
