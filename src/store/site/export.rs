//! `export --db postgres://…`: a range of the site database written as a recording, the same file an export from
//! a cache makes ([`crate::store::export`]), so a supervisor takes a shift from the control room to a laptop.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use postgres::types::{ToSql, Type};
use rusqlite::types::Value as SqlValue;

use crate::model::time::{HOUR_MS, MINUTE_MS};
use crate::store::export::{ExportError, ExportSummary, Progress, RowSource};
use crate::store::rollup::bucket_start;

impl RowSource for postgres::Client {
    fn copy_into(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        part: &Path,
        range: (i64, i64),
        progress: Progress<'_>,
        cancel: &AtomicBool,
    ) -> Result<ExportSummary, ExportError> {
        copy_site(self, tx, part, range, progress, cancel)
    }
}

/// The range's rows from the site database into the recording's transaction (the rows the cache export copies:
/// every signal, samples, fixes, events, journal entries and logbook notes in the range, each alarm's last entry before it, the
/// gaps and the whole rollup buckets it touches).
fn copy_site(
    client: &mut postgres::Client,
    tx: &rusqlite::Transaction<'_>,
    part: &Path,
    (from_ms, to_ms): (i64, i64),
    progress: Progress<'_>,
    cancel: &AtomicBool,
) -> Result<ExportSummary, ExportError> {
    let mut copy = |select: &str, params: &[&(dyn ToSql + Sync)], insert: &str| -> Result<u64, ExportError> {
        copy_rows(client, tx, part, (select, params), insert)
    };
    let mut summary = ExportSummary::default();
    let steps = crate::store::export::export_steps((from_ms, to_ms));
    summary.signals = copy(
        "SELECT id, name, kind, unit, gateway FROM signal",
        &[],
        "INSERT INTO signal (id, name, kind, unit, gateway) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    progress(1, steps);
    summary.samples = crate::store::export::by_hour((from_ms, to_ms), steps, progress, cancel, &mut |t, end| {
        copy(
            "SELECT signal, ts_ms, num, text, quality FROM sample WHERE ts_ms >= $1 AND ts_ms < $2",
            &[&t, &end],
            "INSERT INTO sample (signal, ts_ms, num, text, quality) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
    })?;
    let (m_from, h_from) = (bucket_start(from_ms, MINUTE_MS), bucket_start(from_ms, HOUR_MS));
    let rollup = "signal, start_ms, min_value, max_value, sum_value, count, first_ms, first_value, last_ms, last_value";
    let values = "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10";
    for (table, start) in [("rollup_1m", &m_from), ("rollup_1h", &h_from)] {
        copy(
            &format!("SELECT {rollup} FROM {table} WHERE start_ms >= $1 AND start_ms < $2"),
            &[start, &to_ms],
            &format!("INSERT INTO {table} ({rollup}) VALUES ({values})"),
        )?;
    }
    copy(
        "SELECT signal, start_ms, end_ms FROM gap WHERE start_ms < $2 AND (end_ms IS NULL OR end_ms > $1)",
        &[&from_ms, &to_ms],
        "INSERT INTO gap (signal, start_ms, end_ms) VALUES (?1, ?2, ?3)",
    )?;
    progress(steps - 1, steps);
    summary.fixes = copy(
        "SELECT vehicle, ts_ms, lat_deg, lon_deg FROM fix WHERE ts_ms >= $1 AND ts_ms < $2",
        &[&from_ms, &to_ms],
        "INSERT INTO fix (vehicle, ts_ms, lat_deg, lon_deg) VALUES (?1, ?2, ?3, ?4)",
    )?;
    summary.events = copy(
        "SELECT ts_ms, kind, source, message FROM event WHERE ts_ms >= $1 AND ts_ms < $2 ORDER BY ts_ms",
        &[&from_ms, &to_ms],
        "INSERT OR IGNORE INTO event (ts_ms, kind, source, message) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let columns = "ts_ms, rule, source, priority, from_state, state, \"user\", comment, value, active, acked, lim, \
                   asset, message";
    summary.journal = copy(
        &format!(
            "SELECT {columns} FROM alarm_journal WHERE id IN (
                 SELECT max(id) FROM alarm_journal WHERE ts_ms < $1 GROUP BY rule, source)
             OR (ts_ms >= $1 AND ts_ms < $2) ORDER BY ts_ms, id"
        ),
        &[&from_ms, &to_ms],
        &format!(
            "INSERT OR IGNORE INTO alarm_journal ({columns})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ),
    )?;
    let notes = crate::store::logbook::COLUMNS;
    summary.notes = copy(
        &format!(
            "SELECT {notes} FROM logbook WHERE from_ms < $2 AND coalesce(to_ms, from_ms) >= $1 ORDER BY written_ms, id"
        ),
        &[&from_ms, &to_ms],
        &format!("INSERT OR IGNORE INTO logbook ({notes}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
    )?;
    progress(steps, steps);
    Ok(summary)
}

/// Runs `select` on the site database and `insert` for each row (columns in the same order); returns the rows.
fn copy_rows(
    client: &mut postgres::Client,
    tx: &rusqlite::Transaction<'_>,
    part: &Path,
    (select, params): (&str, &[&(dyn ToSql + Sync)]),
    insert: &str,
) -> Result<u64, ExportError> {
    let site = |e: postgres::Error| ExportError::Site(format!("site database: {e}"));
    let sql = |source| ExportError::Sqlite { path: part.to_owned(), source };
    let rows = client.query(select, params).map_err(site)?;
    let mut stmt = tx.prepare_cached(insert).map_err(sql)?;
    for row in &rows {
        let values: Vec<SqlValue> = (0..row.len()).map(|i| value_of(row, i)).collect::<Result<_, _>>().map_err(site)?;
        stmt.execute(rusqlite::params_from_iter(values)).map_err(sql)?;
    }
    Ok(rows.len() as u64)
}

/// One column as SQLite stores it (booleans as 0/1, NULL kept).
fn value_of(row: &postgres::Row, i: usize) -> Result<SqlValue, postgres::Error> {
    let ty = row.columns()[i].type_();
    Ok(if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)?.map_or(SqlValue::Null, SqlValue::Integer)
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)?.map_or(SqlValue::Null, |v| SqlValue::Integer(v.into()))
    } else if *ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(i)?.map_or(SqlValue::Null, |v| SqlValue::Integer(v.into()))
    } else if *ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(i)?.map_or(SqlValue::Null, SqlValue::Real)
    } else if *ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i)?.map_or(SqlValue::Null, |v| SqlValue::Integer(i64::from(v)))
    } else {
        row.try_get::<_, Option<String>>(i)?.map_or(SqlValue::Null, SqlValue::Text)
    })
}
