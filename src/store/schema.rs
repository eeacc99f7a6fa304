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
        // 5: the shift logbook: operators' notes and handovers (`model::logbook`). An entry is never changed or
        // removed (a correction is a new entry naming the old one's uid), and the triggers hold that for every
        // writer. `uid` is the same in every store the note is copied to, so a copy is never doubled. A range's
        // notes are found by `from_ms` (ranges are short against the history).
        M::up(
            "CREATE TABLE logbook (
                id         INTEGER PRIMARY KEY,
                uid        TEXT NOT NULL UNIQUE,
                written_ms INTEGER NOT NULL,
                author     TEXT NOT NULL,
                from_ms    INTEGER NOT NULL,
                to_ms      INTEGER,
                asset      TEXT NOT NULL DEFAULT '',
                alarm_rule TEXT,
                alarm_source TEXT,
                text       TEXT NOT NULL,
                corrects   TEXT,
                handover_shift TEXT,
                taken_over_by  TEXT
            );
            CREATE INDEX logbook_by_time ON logbook (from_ms);
            CREATE TRIGGER logbook_no_update BEFORE UPDATE ON logbook
                BEGIN SELECT RAISE(ABORT, 'logbook entries are never changed: write a correction'); END;
            CREATE TRIGGER logbook_no_delete BEFORE DELETE ON logbook
                BEGIN SELECT RAISE(ABORT, 'logbook entries are never removed: write a correction'); END;",
        ),
        // 6: until when a shelved alarm stays shelved, journaled with the shelve, so a shelf survives a restart.
        M::up("ALTER TABLE alarm_journal ADD COLUMN shelved_until_ms INTEGER;"),
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
    open_owned(path, APPLICATION_ID, &MIGRATIONS)
}

/// Opens (creating if needed) an SQLite file of ours for writing: one whose `PRAGMA application_id` is
/// `application_id` (a new file gets it; any other is refused and left alone), in WAL mode, migrated with
/// `migrations`. The cache, and the recorder's notification outbox beside it.
pub fn open_owned(path: &Path, application_id: i32, migrations: &Migrations<'_>) -> Result<Connection, Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| classify(e, path))?;
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        return Err(Error::NotWritable { path: path.to_owned(), reason: "the file is read-only".to_owned() });
    }
    let fresh = check_ours(&conn, path, application_id)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| classify(e, path))?;
    if fresh {
        // Only possible before the first table exists: freed pages can then be returned to the file system after
        // retention deletes (see `incremental_vacuum` in the writer).
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(|e| classify(e, path))?;
        conn.pragma_update(None, "application_id", application_id).map_err(|e| classify(e, path))?;
    }
    conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| classify(e, path))?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| classify(e, path))?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(|e| classify(e, path))?;
    migrations.to_latest(&mut conn).map_err(|e| Error::Migration { path: path.to_owned(), reason: e.to_string() })?;
    Ok(conn)
}

/// Opens an existing cache or recording read-only (queries, `--db`, `query`, `signals`, review, export). Never
/// creates or changes the file. One written by an older Watchfloor is read through an upgraded copy (see
/// `open_reader_upgraded`); one written by a newer Watchfloor is refused.
pub fn open_reader(path: &Path) -> Result<Connection, Error> {
    open_read_only(path, true)
}

/// Like [`open_reader`], for a cache a history writer keeps open: an older schema is refused (the writer upgrades
/// the file itself at open; a copy would freeze what the reader sees).
pub fn open_live_reader(path: &Path) -> Result<Connection, Error> {
    open_read_only(path, false)
}

fn open_read_only(path: &Path, upgrade_older: bool) -> Result<Connection, Error> {
    if !path.exists() {
        return Err(Error::Missing { path: path.to_owned() });
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(e, path))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| classify(e, path))?;
    if check_ours(&conn, path, APPLICATION_ID)? {
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
    let conn = match version < known {
        true if upgrade_older => open_reader_upgraded(&conn, path, version)?,
        true => {
            return Err(Error::NotACache {
                path: path.to_owned(),
                reason: format!("it has an older schema ({version}); open it once for writing to upgrade it"),
            });
        }
        false => conn,
    };
    // Readers jump between many signals' (signal, ts) pages (review seeks read one per signal): a 64 MiB page cache
    // keeps them in memory instead of SQLite's default 2 MiB.
    conn.pragma_update(None, "cache_size", READER_CACHE_KIB).map_err(|e| classify(e, path))?;
    Ok(conn)
}

/// A file of an older schema (`version`), read through a copy: `VACUUM INTO` a temporary file (a consistent
/// snapshot, even of a file another process writes), the migrations run on the copy, and the copy is opened
/// read-only and unlinked at once (the open connection keeps it; nothing is left behind). The original is never
/// changed, so a recording on read-only media or one shared with an older build stays as it was.
fn open_reader_upgraded(conn: &Connection, path: &Path, version: i64) -> Result<Connection, Error> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    tracing::info!(
        path = %path.display(),
        version,
        latest = MIGRATIONS_LEN,
        size_mib = size / (1024 * 1024),
        "reading a file of an older schema through an upgraded copy"
    );
    let copy =
        tempfile::Builder::new().prefix("watchfloor-upgraded-").suffix(".sqlite").tempfile().map_err(|e| {
            Error::NotWritable { path: std::env::temp_dir(), reason: format!("no room for a copy: {e}") }
        })?;
    let upgrade = |why: String| Error::Migration { path: path.to_owned(), reason: why };
    conn.execute("VACUUM INTO ?1", [copy.path().to_string_lossy()])
        .map_err(|e| upgrade(format!("cannot copy it to {} to upgrade: {e}", copy.path().display())))?;
    let mut writable = Connection::open(copy.path()).map_err(|e| upgrade(e.to_string()))?;
    // A rollback journal, so the read-only connection below needs no `-shm` file beside the copy.
    writable.pragma_update(None, "journal_mode", "DELETE").map_err(|e| upgrade(e.to_string()))?;
    MIGRATIONS.to_latest(&mut writable).map_err(|e| upgrade(e.to_string()))?;
    drop(writable);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let upgraded = Connection::open_with_flags(copy.path(), flags).map_err(|e| classify(e, copy.path()))?;
    // Reading the schema makes SQLite hold the file before its name goes.
    upgraded
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0))
        .map_err(|e| classify(e, path))?;
    drop(copy);
    Ok(upgraded)
}

/// A reader's page cache, KiB as SQLite's negative `cache_size` takes it.
const READER_CACHE_KIB: i64 = -64 * 1024;

/// Number of migrations in this build.
const MIGRATIONS_LEN: usize = 6;

/// The cache schema this build writes (`PRAGMA user_version`).
pub fn schema_version() -> usize {
    MIGRATIONS_LEN
}

/// Returns whether the file is new (no tables yet); refuses SQLite files that belong to someone else.
fn check_ours(conn: &Connection, path: &Path, application_id: i32) -> Result<bool, Error> {
    // Reading the schema is the first thing that touches the file's pages: a non-database fails here.
    let tables: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).map_err(|e| classify(e, path))?;
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(|e| classify(e, path))?;
    if tables == 0 && app_id == 0 {
        return Ok(true);
    }
    if app_id != application_id {
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
