//! Portable recordings (`.wfrec`): a range of a history cache copied into a new SQLite file with the same schema,
//! plus what is needed to read it on another laptop, offline — the config text and the site plan (with the
//! geofences) in the `recording` table. `report`, `query`, `alarms` and the window open it like any cache.
//!
//! What is copied: every signal; samples, fixes, events, alarm journal entries and logbook notes in `[from, to)`; the
//! alarm journal's last entry before `from` per alarm (so the alarms standing when the range begins are known); gaps
//! that overlap the range; the 1-minute and 1-hour rollups of the minutes and hours the range touches (whole buckets: a
//! rollup at an edge also counts the values of its bucket just outside the range); each signal's last value in the
//! range. The file is written as `<out>.part` and renamed when complete, so a cancelled or failed export never leaves a
//! file that looks like a recording.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, OptionalExtension as _, params};

use super::rollup::bucket_start;
use super::{Error, open_reader, open_writer};
use crate::model::time::{HOUR_MS, MINUTE_MS};

/// What a recording says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordingInfo {
    pub from_ms: i64,
    pub to_ms: i64,
    /// The cache it was exported from.
    pub source: String,
    pub created_ms: i64,
    /// The config file's text, if one was given.
    pub config: Option<String>,
    /// The site plan and geofences as one `GeoJSON` feature collection.
    pub site_plan: Option<String>,
}

/// What an export copied.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportSummary {
    pub signals: u64,
    pub samples: u64,
    pub fixes: u64,
    pub events: u64,
    pub journal: u64,
    /// Logbook notes about the range.
    pub notes: u64,
    pub bytes: u64,
}

/// How far the export is: (steps done, steps in all).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0} already exists; choose another name or remove it")]
    Exists(PathBuf),
    #[error("the export was cancelled; nothing was written")]
    Cancelled,
    #[error(transparent)]
    Store(#[from] Error),
    #[error("{0}")]
    Site(String),
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// A cache file (or another recording) as a source of rows: attached to the recording's connection as `src`.
pub struct CacheRows<'a>(pub &'a Path);

impl RowSource for CacheRows<'_> {
    fn check(&mut self) -> Result<(), ExportError> {
        // Fails early, with the reader's message, if the source is not a cache.
        drop(open_reader(self.0)?);
        Ok(())
    }

    fn attach(&mut self, conn: &Connection, part: &Path) -> Result<(), ExportError> {
        conn.execute("ATTACH DATABASE ?1 AS src", [self.0.to_string_lossy()])
            .map_err(|source| ExportError::Sqlite { path: part.to_owned(), source })?;
        Ok(())
    }

    fn detach(&mut self, conn: &Connection, part: &Path) -> Result<(), ExportError> {
        conn.execute("DETACH DATABASE src", [])
            .map_err(|source| ExportError::Sqlite { path: part.to_owned(), source })?;
        Ok(())
    }

    fn copy_into(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        part: &Path,
        range: (i64, i64),
        progress: Progress<'_>,
        cancel: &AtomicBool,
    ) -> Result<ExportSummary, ExportError> {
        copy_cache(tx, part, range, progress, cancel)
    }
}

/// A history store a recording's rows are copied from — a cache file ([`CacheRows`]) or the site database: every
/// signal, the range's samples, fixes, events, journal entries and notes, each alarm's last entry before the range,
/// the gaps and the whole rollup buckets it touches, into the recording's transaction.
pub trait RowSource {
    /// Checks the source before anything is written.
    fn check(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Readies the recording's connection before its transaction begins ([`RowSource::detach`] undoes it after).
    fn attach(&mut self, _conn: &Connection, _part: &Path) -> Result<(), ExportError> {
        Ok(())
    }

    fn detach(&mut self, _conn: &Connection, _part: &Path) -> Result<(), ExportError> {
        Ok(())
    }

    fn copy_into(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        part: &Path,
        range: (i64, i64),
        progress: Progress<'_>,
        cancel: &AtomicBool,
    ) -> Result<ExportSummary, ExportError>;
}

/// Copies `[from_ms, to_ms)` of the cache at `db` into a new recording at `out`.
pub fn export(
    db: &Path,
    out: &Path,
    range: (i64, i64),
    info: &RecordingInfo,
    progress: Progress<'_>,
    cancel: &AtomicBool,
) -> Result<ExportSummary, ExportError> {
    export_from(&mut CacheRows(db), out, range, info, progress, cancel)
}

/// Copies `[from_ms, to_ms)` of `rows` (a [`CacheRows`], or the site database: `store::site::export` implements
/// [`RowSource`] for its client) into a new recording at `out`.
pub fn export_from(
    rows: &mut dyn RowSource,
    out: &Path,
    range: (i64, i64),
    info: &RecordingInfo,
    progress: Progress<'_>,
    cancel: &AtomicBool,
) -> Result<ExportSummary, ExportError> {
    let (from_ms, to_ms) = range;
    if out.exists() {
        return Err(ExportError::Exists(out.to_owned()));
    }
    rows.check()?;
    let part = PathBuf::from(format!("{}.part", out.display()));
    let _ = std::fs::remove_file(&part);
    let result = write(rows, &part, range, info, progress, cancel);
    match result {
        Ok(mut summary) => {
            // Fold the WAL in so the recording is one file.
            finish_file(&part).map_err(|source| ExportError::Sqlite { path: part.clone(), source })?;
            std::fs::rename(&part, out)
                .map_err(|e| Error::NotWritable { path: out.to_owned(), reason: e.to_string() })?;
            summary.bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
            tracing::info!(out = %out.display(), from_ms, to_ms, ?summary, "recording exported");
            Ok(summary)
        }
        Err(err) => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", part.display()));
            }
            Err(err)
        }
    }
}

fn finish_file(path: &Path) -> rusqlite::Result<()> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

fn write(
    source: &mut dyn RowSource,
    part: &Path,
    range: (i64, i64),
    info: &RecordingInfo,
    progress: Progress<'_>,
    cancel: &AtomicBool,
) -> Result<ExportSummary, ExportError> {
    let sql = |source| ExportError::Sqlite { path: part.to_owned(), source };
    let mut conn = open_writer(part)?;
    source.attach(&conn, part)?;
    let tx = conn.transaction().map_err(sql)?;
    let summary = source.copy_into(&tx, part, range, progress, cancel)?;
    let (from_ms, to_ms) = range;
    // The last value in the range (SQLite takes the other columns from the row with the max).
    tx.execute(
        "INSERT INTO latest (signal, ts_ms, num, text, quality)
         SELECT signal, max(ts_ms), num, text, quality FROM sample GROUP BY signal",
        [],
    )
    .map_err(sql)?;
    let now = crate::clock::wall_now_ms();
    let mut put = tx.prepare("INSERT INTO recording (key, value) VALUES (?1, ?2)").map_err(sql)?;
    for (key, value) in [
        ("from_ms", Some(from_ms.to_string())),
        ("to_ms", Some(to_ms.to_string())),
        ("source", Some(info.source.clone())),
        ("created_ms", Some(now.to_string())),
        ("config", info.config.clone()),
        ("site_plan", info.site_plan.clone()),
    ] {
        if let Some(value) = value {
            put.execute(params![key, value]).map_err(sql)?;
        }
    }
    drop(put);
    if cancel.load(Ordering::Relaxed) {
        return Err(ExportError::Cancelled);
    }
    tx.commit().map_err(sql)?;
    source.detach(&conn, part)?;
    Ok(summary)
}

/// How many progress steps an export of `range` takes: the signals, an hour of samples each, the rest.
pub(crate) fn export_steps((from_ms, to_ms): (i64, i64)) -> u64 {
    u64::try_from((to_ms - from_ms).max(0) / HOUR_MS + 1).unwrap_or(1) + 3
}

/// Copies the range's samples an hour at a time with `copy(from, to)` (progress, and a cancel noticed within one
/// hour of data); returns how many it copied.
pub(crate) fn by_hour(
    (from_ms, to_ms): (i64, i64),
    steps: u64,
    progress: Progress<'_>,
    cancel: &AtomicBool,
    copy: &mut dyn FnMut(i64, i64) -> Result<u64, ExportError>,
) -> Result<u64, ExportError> {
    let (mut t, mut done, mut copied) = (from_ms, 1, 0);
    while t < to_ms {
        if cancel.load(Ordering::Relaxed) {
            return Err(ExportError::Cancelled);
        }
        let end = (t + HOUR_MS).min(to_ms);
        copied += copy(t, end)?;
        t = end;
        done += 1;
        progress(done.min(steps), steps);
    }
    Ok(copied)
}

/// The range's rows from the attached cache `src`.
fn copy_cache(
    tx: &rusqlite::Transaction<'_>,
    part: &Path,
    (from_ms, to_ms): (i64, i64),
    progress: Progress<'_>,
    cancel: &AtomicBool,
) -> Result<ExportSummary, ExportError> {
    let sql = |source| ExportError::Sqlite { path: part.to_owned(), source };
    let mut summary = ExportSummary::default();
    let steps = export_steps((from_ms, to_ms));
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    summary.signals = count(tx.execute("INSERT INTO signal SELECT * FROM src.signal", []).map_err(sql)?);
    progress(1, steps);
    summary.samples = by_hour((from_ms, to_ms), steps, progress, cancel, &mut |t, end| {
        let n = tx
            .execute("INSERT INTO sample SELECT * FROM src.sample WHERE ts_ms >= ?1 AND ts_ms < ?2", params![t, end])
            .map_err(sql)?;
        Ok(count(n))
    })?;
    let (m_from, h_from) = (bucket_start(from_ms, MINUTE_MS), bucket_start(from_ms, HOUR_MS));
    tx.execute(
        "INSERT INTO rollup_1m SELECT * FROM src.rollup_1m WHERE start_ms >= ?1 AND start_ms < ?2",
        params![m_from, to_ms],
    )
    .map_err(sql)?;
    tx.execute(
        "INSERT INTO rollup_1h SELECT * FROM src.rollup_1h WHERE start_ms >= ?1 AND start_ms < ?2",
        params![h_from, to_ms],
    )
    .map_err(sql)?;
    tx.execute(
        "INSERT INTO gap SELECT * FROM src.gap WHERE start_ms < ?2 AND (end_ms IS NULL OR end_ms > ?1)",
        params![from_ms, to_ms],
    )
    .map_err(sql)?;
    progress(steps - 1, steps);
    summary.fixes = count(
        tx.execute("INSERT INTO fix SELECT * FROM src.fix WHERE ts_ms >= ?1 AND ts_ms < ?2", params![from_ms, to_ms])
            .map_err(sql)?,
    );
    summary.events = count(
        tx.execute(
            "INSERT INTO event (ts_ms, kind, source, message)
             SELECT ts_ms, kind, source, message FROM src.event WHERE ts_ms >= ?1 AND ts_ms < ?2 ORDER BY id",
            params![from_ms, to_ms],
        )
        .map_err(sql)?,
    );
    let columns = "ts_ms, rule, source, priority, from_state, state, user, comment, value, active, acked, lim, asset, \
                   message";
    summary.journal = count(
        tx.execute(
            &format!(
                "INSERT INTO alarm_journal ({columns})
                 SELECT {columns} FROM src.alarm_journal WHERE id IN (
                     SELECT max(id) FROM src.alarm_journal WHERE ts_ms < ?1 GROUP BY rule, source)
                 OR (ts_ms >= ?1 AND ts_ms < ?2) ORDER BY ts_ms, id"
            ),
            params![from_ms, to_ms],
        )
        .map_err(sql)?,
    );
    // A cache of a schema before the logbook has no notes to copy.
    let has_logbook: bool = tx
        .query_row("SELECT count(*) > 0 FROM src.sqlite_schema WHERE type = 'table' AND name = 'logbook'", [], |r| {
            r.get(0)
        })
        .map_err(sql)?;
    if has_logbook {
        let notes = super::logbook::COLUMNS;
        summary.notes = count(
            tx.execute(
                &format!(
                    "INSERT INTO logbook ({notes}) SELECT {notes} FROM src.logbook
                     WHERE from_ms < ?2 AND coalesce(to_ms, from_ms) >= ?1 ORDER BY written_ms, id"
                ),
                params![from_ms, to_ms],
            )
            .map_err(sql)?,
        );
    }
    progress(steps, steps);
    Ok(summary)
}

/// What a recording says about itself; `None` for a plain cache.
pub fn recording_info(conn: &Connection) -> rusqlite::Result<Option<RecordingInfo>> {
    let get = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM recording WHERE key = ?1", [key], |r| r.get(0)).optional()
    };
    let Some(from) = get("from_ms")? else { return Ok(None) };
    let number = |s: Option<String>| s.and_then(|s| s.parse::<i64>().ok()).unwrap_or_default();
    Ok(Some(RecordingInfo {
        from_ms: number(Some(from)),
        to_ms: number(get("to_ms")?),
        source: get("source")?.unwrap_or_default(),
        created_ms: number(get("created_ms")?),
        config: get("config")?,
        site_plan: get("site_plan")?,
    }))
}

/// The range to review in a cache: a recording's own range, else the last 8 h it holds; `true` for a recording.
pub fn review_extent(conn: &Connection) -> rusqlite::Result<Option<(i64, i64, bool)>> {
    if let Some(info) = recording_info(conn)? {
        return Ok(Some((info.from_ms, info.to_ms, true)));
    }
    Ok(data_extent(conn)?.map(|(lo, hi)| ((hi - 8 * 3_600_000).max(lo), hi, false)))
}

/// The first and last sample time a cache holds (a recording: its range).
pub fn data_extent(conn: &Connection) -> rusqlite::Result<Option<(i64, i64)>> {
    if let Some(info) = recording_info(conn)? {
        return Ok(Some((info.from_ms, info.to_ms)));
    }
    // Per signal through the (signal, ts) key, and the last values: a plain min/max would read every sample.
    let (lo, hi): (Option<i64>, Option<i64>) = conn.query_row(
        "SELECT (SELECT min((SELECT ts_ms FROM sample WHERE signal = s.id ORDER BY ts_ms LIMIT 1)) FROM signal s),
                (SELECT max(ts_ms) FROM latest)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(lo.zip(hi))
}
