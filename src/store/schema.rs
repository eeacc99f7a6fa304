//! The cache file: how it is opened, recognised and migrated.
//!
//! Pragmas are set at open, never in migrations (STYLE.md). Migrations are plain SQL, applied in order and tracked in
//! `PRAGMA user_version` by `rusqlite_migration`; each says why it exists.

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use rusqlite_migration::{M, Migrations};

use super::Error;

/// `PRAGMA application_id` of a Watchfloor cache ("WFH1"), so a foreign SQLite file is refused, not altered.
pub const APPLICATION_ID: i32 = 0x5746_4831;

/// How long a connection waits for another one's lock before reporting busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![
        // 1: the first history schema.
        // Signals get a small integer key so every sample row stays small. Samples, rollups and fixes are
        // WITHOUT ROWID tables clustered on their natural key (signal, time): a range read is one index walk, and
        // `INSERT OR IGNORE` on that key makes replays and backfills idempotent. Numbers and booleans go in `num`
        // (SQLite stores whole REALs as integers, so counters and states stay compact), strings in `text`.
        // Quality: 0 good, 1 uncertain, 2 bad.
        M::up(
            "CREATE TABLE signal (
                id       INTEGER PRIMARY KEY,
                name     TEXT NOT NULL UNIQUE,
                kind     TEXT NOT NULL,
                unit     TEXT,
                gateway  TEXT NOT NULL
            );
            CREATE TABLE sample (
                signal   INTEGER NOT NULL REFERENCES signal(id),
                ts_ms    INTEGER NOT NULL,
                num      REAL,
                text     TEXT,
                quality  INTEGER NOT NULL,
                PRIMARY KEY (signal, ts_ms)
            ) WITHOUT ROWID;
            -- Rollups: one row per signal and minute / hour, merged as data arrives (late data included), so long
            -- ranges read a few thousand rows instead of millions. mean = sum / count.
            CREATE TABLE rollup_1m (
                signal   INTEGER NOT NULL REFERENCES signal(id),
                start_ms INTEGER NOT NULL,
                min_value   REAL NOT NULL,
                max_value   REAL NOT NULL,
                sum_value   REAL NOT NULL,
                count    INTEGER NOT NULL,
                first_ms INTEGER NOT NULL,
                first_value REAL NOT NULL,
                last_ms  INTEGER NOT NULL,
                last_value  REAL NOT NULL,
                PRIMARY KEY (signal, start_ms)
            ) WITHOUT ROWID;
            CREATE TABLE rollup_1h (
                signal   INTEGER NOT NULL REFERENCES signal(id),
                start_ms INTEGER NOT NULL,
                min_value   REAL NOT NULL,
                max_value   REAL NOT NULL,
                sum_value   REAL NOT NULL,
                count    INTEGER NOT NULL,
                first_ms INTEGER NOT NULL,
                first_value REAL NOT NULL,
                last_ms  INTEGER NOT NULL,
                last_value  REAL NOT NULL,
                PRIMARY KEY (signal, start_ms)
            ) WITHOUT ROWID;
            -- Stretches with no data from a signal's source (link lost, node death, Watchfloor not running).
            -- end_ms is NULL while the gap is open; the next sample closes it.
            CREATE TABLE gap (
                signal   INTEGER NOT NULL REFERENCES signal(id),
                start_ms INTEGER NOT NULL,
                end_ms   INTEGER,
                PRIMARY KEY (signal, start_ms)
            ) WITHOUT ROWID;
            -- The last live value per signal, so the app starts with current values without reading history.
            CREATE TABLE latest (
                signal   INTEGER PRIMARY KEY REFERENCES signal(id),
                ts_ms    INTEGER NOT NULL,
                num      REAL,
                text     TEXT,
                quality  INTEGER NOT NULL
            );
            -- Vehicle positions, one row per fix, for trails and replay.
            CREATE TABLE fix (
                vehicle  TEXT NOT NULL,
                ts_ms    INTEGER NOT NULL,
                lat_deg  REAL NOT NULL,
                lon_deg  REAL NOT NULL,
                PRIMARY KEY (vehicle, ts_ms)
            ) WITHOUT ROWID;
            -- A journal of things that happened (feed status, rejected input; later alarms and OEE events).
            -- The natural key keeps a replayed event from being stored twice.
            CREATE TABLE event (
                id       INTEGER PRIMARY KEY,
                ts_ms    INTEGER NOT NULL,
                kind     TEXT NOT NULL,
                source   TEXT NOT NULL,
                message  TEXT NOT NULL,
                UNIQUE (kind, source, ts_ms, message)
            );
            CREATE INDEX event_by_time ON event (ts_ms);",
        ),
        // 2: the alarm journal (ISA-18.2): every transition of every alarm with time, user, comment and value.
        // `active`, `acked` and `limit` are the alarm's state after the entry, so the writer restores each alarm
        // from its last entry after a restart. The natural key keeps replayed data from journaling twice.
        M::up(
            "CREATE TABLE alarm_journal (
                id        INTEGER PRIMARY KEY,
                ts_ms     INTEGER NOT NULL,
                rule      TEXT NOT NULL,
                source    TEXT NOT NULL,
                priority  TEXT NOT NULL,
                from_state TEXT NOT NULL,
                state     TEXT NOT NULL,
                user      TEXT NOT NULL,
                comment   TEXT NOT NULL,
                value     REAL,
                active    INTEGER NOT NULL,
                acked     INTEGER NOT NULL,
                lim       TEXT,
                UNIQUE (rule, source, ts_ms, state, comment)
            );
            CREATE INDEX alarm_journal_by_time ON alarm_journal (ts_ms);",
        ),
        // 3: what each journal entry is about (the machine, vehicle, gateway or node) and what the alarm said,
        // with its live value, at the time.
        M::up(
            "ALTER TABLE alarm_journal ADD COLUMN asset TEXT NOT NULL DEFAULT '';
            ALTER TABLE alarm_journal ADD COLUMN message TEXT NOT NULL DEFAULT '';
            CREATE INDEX alarm_journal_by_key ON alarm_journal (rule, source, id);",
        ),
        // 4: what a portable recording (`watchfloor export`) says about itself: its range, where it came from, the
        // config text and the site plan. Empty in a live cache.
        M::up("CREATE TABLE recording (key TEXT PRIMARY KEY, value TEXT NOT NULL);"),
    ])
});

/// The migrations, for the validation test and for tools.
pub fn migrations() -> &'static Migrations<'static> {
    &MIGRATIONS
}

fn sqlite_code(err: &rusqlite::Error) -> Option<ErrorCode> {
    match err {
        rusqlite::Error::SqliteFailure(e, _) => Some(e.code),
        _ => None,
    }
}

/// Turns an SQLite failure into the store's error, naming the file.
pub fn classify(err: rusqlite::Error, path: &Path) -> Error {
    match sqlite_code(&err) {
        Some(ErrorCode::NotADatabase) => Error::NotACache {
            path: path.to_owned(),
            reason: "the file is not an SQLite database (corrupt, encrypted, or another kind of file)".to_owned(),
        },
        Some(ErrorCode::DatabaseCorrupt) => {
            Error::NotACache { path: path.to_owned(), reason: format!("the file is corrupt: {err}") }
        }
        Some(ErrorCode::DiskFull) => Error::DiskFull { path: path.to_owned() },
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            Error::NotWritable { path: path.to_owned(), reason: err.to_string() }
        }
        _ => Error::Sqlite { path: path.to_owned(), source: err },
    }
}

/// Opens (creating if needed) a cache for writing: checks it is ours, sets pragmas, migrates.
pub fn open_writer(path: &Path) -> Result<Connection, Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| classify(e, path))?;
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        return Err(Error::NotWritable { path: path.to_owned(), reason: "the file is read-only".to_owned() });
    }
    let fresh = check_ours(&conn, path)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| classify(e, path))?;
    if fresh {
        // Only possible before the first table exists: freed pages can then be returned to the file system after
        // retention deletes (see `incremental_vacuum` in the writer).
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(|e| classify(e, path))?;
        conn.pragma_update(None, "application_id", APPLICATION_ID).map_err(|e| classify(e, path))?;
    }
    conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| classify(e, path))?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| classify(e, path))?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(|e| classify(e, path))?;
    MIGRATIONS.to_latest(&mut conn).map_err(|e| Error::Migration { path: path.to_owned(), reason: e.to_string() })?;
    Ok(conn)
}

/// Opens an existing cache read-only (queries, `--db`, `query`, `signals`). Never creates or changes the file.
pub fn open_reader(path: &Path) -> Result<Connection, Error> {
    if !path.exists() {
        return Err(Error::Missing { path: path.to_owned() });
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(e, path))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| classify(e, path))?;
    if check_ours(&conn, path)? {
        return Err(Error::NotACache { path: path.to_owned(), reason: "the file is empty".to_owned() });
    }
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| classify(e, path))?;
    let known = i64::try_from(MIGRATIONS_LEN).unwrap_or(i64::MAX);
    if version > known {
        return Err(Error::NotACache {
            path: path.to_owned(),
            reason: format!("it was written by a newer Watchfloor (schema {version}, this build knows {known})"),
        });
    }
    if version < known {
        return Err(Error::NotACache {
            path: path.to_owned(),
            reason: format!("it has an older schema ({version}); open it once for writing to upgrade it"),
        });
    }
    // Readers jump between many signals' (signal, ts) pages (review seeks read one per signal): a 64 MiB page cache
    // keeps them in memory instead of SQLite's default 2 MiB.
    conn.pragma_update(None, "cache_size", READER_CACHE_KIB).map_err(|e| classify(e, path))?;
    Ok(conn)
}

/// A reader's page cache, KiB as SQLite's negative `cache_size` takes it.
const READER_CACHE_KIB: i64 = -64 * 1024;

/// Number of migrations in this build.
const MIGRATIONS_LEN: usize = 4;

/// Returns whether the file is new (no tables yet); refuses SQLite files that belong to someone else.
fn check_ours(conn: &Connection, path: &Path) -> Result<bool, Error> {
    // Reading the schema is the first thing that touches the file's pages: a non-database fails here.
    let tables: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).map_err(|e| classify(e, path))?;
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(|e| classify(e, path))?;
    if tables == 0 && app_id == 0 {
        return Ok(true);
    }
    if app_id != APPLICATION_ID {
        return Err(Error::NotACache {
            path: path.to_owned(),
            reason: format!("it is an SQLite database of another application (application_id {app_id:#x})"),
        });
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(MIGRATIONS.validate().is_ok());
    }

    #[test]
    fn migrations_len_matches() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        MIGRATIONS.to_latest(&mut conn).expect("migrate");
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("version");
        assert_eq!(usize::try_from(version).ok(), Some(MIGRATIONS_LEN));
    }

    #[test]
    fn a_foreign_sqlite_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("other.db");
        let conn = Connection::open(&path).expect("create");
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');").expect("write");
        drop(conn);
        let before = std::fs::read(&path).expect("read");
        let err = open_writer(&path).expect_err("foreign file must be refused");
        assert!(matches!(err, Error::NotACache { .. }), "{err}");
        assert!(err.to_string().contains("another application"), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), before, "the foreign file must not change");
    }

    #[test]
    fn garbage_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("junk.sqlite");
        std::fs::write(&path, vec![0x42_u8; 8192]).expect("write");
        let err = open_writer(&path).expect_err("junk must be refused");
        assert!(err.to_string().contains("not an SQLite database"), "{err}");
        let err = open_reader(&path).expect_err("junk must be refused");
        assert!(err.to_string().contains("not an SQLite database"), "{err}");
    }

    #[test]
    fn a_new_cache_is_ours_and_reopens() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("h.sqlite");
        drop(open_writer(&path).expect("create"));
        drop(open_writer(&path).expect("reopen"));
        let conn = open_reader(&path).expect("read");
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("mode");
        assert_eq!(mode, "wal");
    }
}
