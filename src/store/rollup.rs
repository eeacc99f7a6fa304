//! The rollups, computed once for both history sinks: the statistics of one signal's good numeric values in one
//! bucket (1 min or 1 h), how a batch gathers them, and how a bucket already stored takes in the batch's (the same
//! merge in SQLite's and PostgreSQL's words).

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::model::time::{HOUR_MS, MINUTE_MS};

/// The rollup tables and their bucket widths, finest first.
pub const TIERS: [(&str, i64); 2] = [("rollup_1m", MINUTE_MS), ("rollup_1h", HOUR_MS)];

/// Statistics of the good values of one signal in one bucket: the history seam's rollup row, so what the writers
/// store and what the readers return are one type.
pub use crate::model::history::Rollup as Agg;

pub fn bucket_start(ts_ms: i64, width_ms: i64) -> i64 {
    ts_ms.div_euclid(width_ms) * width_ms
}

/// A batch's buckets of one width, keyed by (signal id, bucket start), in key order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets {
    pub width_ms: i64,
    pub by_key: BTreeMap<(i64, i64), Agg>,
}

impl Buckets {
    pub fn new(width_ms: i64) -> Self {
        Self { width_ms, by_key: BTreeMap::new() }
    }

    /// One good value of signal `id` (bad ones and text never enter the statistics: the caller leaves them out).
    pub fn add(&mut self, id: i64, ts_ms: i64, v: f64) {
        let start = bucket_start(ts_ms, self.width_ms);
        let one = Agg { start_ms: start, ..Agg::one(ts_ms, v) };
        self.by_key.entry((id, start)).and_modify(|a| a.merge(&one)).or_insert(one);
    }

    /// The same values in buckets `width_ms` wide (a multiple of this one's width).
    pub fn coarsen(&self, width_ms: i64) -> Self {
        let mut coarse = Self::new(width_ms);
        for (&(id, start), a) in &self.by_key {
            let start = bucket_start(start, width_ms);
            let a = Agg { start_ms: start, ..*a };
            coarse.by_key.entry((id, start)).and_modify(|c| c.merge(&a)).or_insert(a);
        }
        coarse
    }

    /// Every tier of [`TIERS`] from the finest one's buckets (this, at one minute; not copied).
    pub fn tiers(&self) -> Vec<(&'static str, Cow<'_, Self>)> {
        TIERS
            .into_iter()
            .map(|(table, width_ms)| {
                let tier =
                    if width_ms == self.width_ms { Cow::Borrowed(self) } else { Cow::Owned(self.coarsen(width_ms)) };
                (table, tier)
            })
            .collect()
    }
}

/// The words a database merges a bucket in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// `ON CONFLICT … DO UPDATE` for a rollup table whose stored row is called `stored`: how a bucket already there
/// takes in new values of the same bucket (as [`Agg::merge`] does).
pub fn merge_on_conflict(dialect: Dialect, stored: &str) -> String {
    let (least, greatest) = match dialect {
        Dialect::Sqlite => ("min", "max"),
        Dialect::Postgres => ("least", "greatest"),
    };
    format!(
        "ON CONFLICT (signal, start_ms) DO UPDATE SET
            min_value = {least}({stored}.min_value, excluded.min_value),
            max_value = {greatest}({stored}.max_value, excluded.max_value),
            sum_value = {stored}.sum_value + excluded.sum_value,
            count = {stored}.count + excluded.count,
            first_value = CASE WHEN excluded.first_ms < {stored}.first_ms THEN excluded.first_value
                ELSE {stored}.first_value END,
            first_ms = {least}({stored}.first_ms, excluded.first_ms),
            last_value = CASE WHEN excluded.last_ms >= {stored}.last_ms THEN excluded.last_value
                ELSE {stored}.last_value END,
            last_ms = {greatest}({stored}.last_ms, excluded.last_ms)"
    )
}

/// The columns of a rollup row, in the order both sinks insert them.
pub const COLUMNS: &str =
    "signal, start_ms, min_value, max_value, sum_value, count, first_ms, first_value, last_ms, last_value";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_from_minutes_equal_hours_from_the_values() {
        let values = [(1, 59_000, 4.0), (1, 61_000, 2.0), (1, 3_599_999, 9.0), (1, 3_600_000, 1.0), (2, 10, 5.0)];
        let mut minutes = Buckets::new(MINUTE_MS);
        let mut hours = Buckets::new(HOUR_MS);
        for (id, ts, v) in values {
            minutes.add(id, ts, v);
            hours.add(id, ts, v);
        }
        assert_eq!(minutes.coarsen(HOUR_MS), hours);
        let a = hours.by_key[&(1, 0)];
        assert_eq!((a.min, a.max, a.sum, a.count), (2.0, 9.0, 15.0, 3));
        assert_eq!((a.first_ms, a.first, a.last_ms, a.last), (59_000, 4.0, 3_599_999, 9.0));
        let tiers = minutes.tiers();
        assert_eq!(
            tiers.iter().map(|(t, b)| (*t, b.by_key.len())).collect::<Vec<_>>(),
            [("rollup_1m", 5), ("rollup_1h", 3)]
        );
    }

    #[test]
    fn the_merge_reads_the_same_in_both_dialects() {
        let sqlite = merge_on_conflict(Dialect::Sqlite, "rollup_1m");
        let postgres = merge_on_conflict(Dialect::Postgres, "r");
        assert!(sqlite.contains("min(rollup_1m.min_value, excluded.min_value)"));
        assert!(postgres.contains("least(r.min_value, excluded.min_value)"));
        let sqlite = sqlite.replace("rollup_1m.", "").replace("min(", "least(").replace("max(", "greatest(");
        assert_eq!(sqlite, postgres.replace("r.", ""));
    }
}
