//! [`HistoryRead`] on the SQLite cache: the reads analytics makes, as statements cached on the connection.

use rusqlite::{Connection, OptionalExtension as _, params};

use super::journal;
use super::query::{kind_from, quality_from, value_from};
use crate::model::ValueKind;
use crate::model::alarm::JournalEntry;
use crate::model::history::{
    Gap, HistoryError, HistoryRead, HistoryResult, Rollup, Standing, StoredSample, StoredSignal,
};

impl From<rusqlite::Error> for HistoryError {
    fn from(err: rusqlite::Error) -> Self {
        Self(format!("history cache: {err}"))
    }
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn sample(kind: ValueKind) -> impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<StoredSample> {
    move |r| {
        Ok(StoredSample {
            ts_ms: r.get(0)?,
            value: value_from(kind, r.get(1)?, r.get(2)?),
            quality: quality_from(r.get(3)?),
        })
    }
}

impl HistoryRead for Connection {
    fn signals(&self) -> HistoryResult<Vec<StoredSignal>> {
        let mut stmt = self.prepare_cached("SELECT id, name, kind, unit, gateway FROM signal ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredSignal {
                key: r.get(0)?,
                name: r.get(1)?,
                kind: kind_from(&r.get::<_, String>(2)?),
                unit: r.get(3)?,
                gateway: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn raw(
        &self,
        key: i64,
        kind: ValueKind,
        (from_ms, to_ms): (i64, i64),
        limit: usize,
        good_only: bool,
    ) -> HistoryResult<Vec<StoredSample>> {
        let mut stmt = self.prepare_cached(
            "SELECT ts_ms, num, text, quality FROM sample WHERE signal = ?1 AND ts_ms >= ?2 AND ts_ms < ?3
             AND quality <= ?5 ORDER BY ts_ms LIMIT ?4",
        )?;
        let worst = if good_only { 1 } else { 2 };
        let rows = stmt.query_map(params![key, from_ms, to_ms, limit_of(limit), worst], sample(kind))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn last_before(
        &self,
        key: i64,
        kind: ValueKind,
        ts_ms: i64,
        good_only: bool,
    ) -> HistoryResult<Option<StoredSample>> {
        let worst = if good_only { 1 } else { 2 };
        Ok(self
            .prepare_cached(
                "SELECT ts_ms, num, text, quality FROM sample WHERE signal = ?1 AND ts_ms < ?2 AND quality <= ?3
                 ORDER BY ts_ms DESC LIMIT 1",
            )?
            .query_row(params![key, ts_ms, worst], sample(kind))
            .optional()?)
    }

    fn minutes(&self, key: i64, from_ms: i64, to_ms: i64) -> HistoryResult<Vec<Rollup>> {
        let mut stmt = self.prepare_cached(
            "SELECT start_ms, min_value, max_value, sum_value, count, first_ms, first_value, last_ms, last_value
             FROM rollup_1m WHERE signal = ?1 AND start_ms >= ?2 AND start_ms < ?3 ORDER BY start_ms",
        )?;
        let rows = stmt.query_map(params![key, from_ms, to_ms], |r| {
            Ok(Rollup {
                start_ms: r.get(0)?,
                min: r.get(1)?,
                max: r.get(2)?,
                sum: r.get(3)?,
                count: r.get(4)?,
                first_ms: r.get(5)?,
                first: r.get(6)?,
                last_ms: r.get(7)?,
                last: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn gaps(&self, key: i64, from_ms: i64, to_ms: i64) -> HistoryResult<Vec<Gap>> {
        Ok(super::query::gaps(self, key, from_ms, to_ms)?)
    }

    fn latest(&self, key: i64, kind: ValueKind) -> HistoryResult<Option<StoredSample>> {
        Ok(self
            .prepare_cached("SELECT ts_ms, num, text, quality FROM latest WHERE signal = ?1")?
            .query_row([key], sample(kind))
            .optional()?)
    }

    fn newest_ms(&self) -> HistoryResult<Option<i64>> {
        Ok(self.prepare_cached("SELECT max(ts_ms) FROM latest")?.query_row([], |r| r.get(0))?)
    }

    fn fixes(&self, vehicle: &str, from_ms: i64, to_ms: i64) -> HistoryResult<Vec<(i64, [f64; 2])>> {
        let mut stmt = self.prepare_cached(
            "SELECT ts_ms, lat_deg, lon_deg FROM fix WHERE vehicle = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 ORDER BY ts_ms",
        )?;
        let rows = stmt.query_map(params![vehicle, from_ms, to_ms], |r| Ok((r.get(0)?, [r.get(1)?, r.get(2)?])))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn last_fix_before(&self, vehicle: &str, ts_ms: i64) -> HistoryResult<Option<i64>> {
        Ok(self
            .prepare_cached("SELECT max(ts_ms) FROM fix WHERE vehicle = ?1 AND ts_ms < ?2")?
            .query_row(params![vehicle, ts_ms], |r| r.get(0))?)
    }

    fn journal(&self, from_ms: i64, to_ms: i64, limit: usize) -> HistoryResult<Vec<JournalEntry>> {
        Ok(journal::entries(self, from_ms, to_ms, limit)?)
    }

    fn journal_after(&self, after_id: i64, limit: usize) -> HistoryResult<Vec<JournalEntry>> {
        Ok(journal::after(self, after_id, limit)?)
    }

    fn journal_last_at(&self, at_ms: i64) -> HistoryResult<Vec<JournalEntry>> {
        Ok(journal::last_at(self, at_ms)?)
    }

    fn standing(&self, at_ms: i64) -> HistoryResult<Vec<Standing>> {
        Ok(journal::standing(self, at_ms)?)
    }

    fn notes(&self, from_ms: i64, to_ms: i64) -> HistoryResult<Vec<crate::model::logbook::Note>> {
        Ok(super::logbook::notes(self, from_ms, to_ms)?)
    }
}
