//! Time as the whole code base counts it — UTC milliseconds in an `i64` — the one home of its constants, and its
//! formatting for the reports, the CLI and the logs.

pub const SECOND_MS: i64 = 1_000;
pub const MINUTE_MS: i64 = 60 * SECOND_MS;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// A UTC instant as RFC 3339 with milliseconds (`2026-11-20T06:00:00.000Z`); the raw number if out of range.
pub fn rfc3339(ts_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ts_ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|_| ts_ms.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_milliseconds() {
        assert_eq!(super::rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(super::rfc3339(i64::MAX), i64::MAX.to_string());
    }
}
