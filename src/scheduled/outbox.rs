//! The notifier's outbox: a SQLite file of its own beside the cache (`<cache stem>-outbox.sqlite`), never a table
//! of the history cache. It holds every notification until it is delivered or has failed for good, each under an
//! idempotency key (channel, rule, source, occurrence time, stage) that is UNIQUE, so a restart or a re-read of the
//! journal enqueues nothing twice; and where in the journal the notifier is, so it neither re-sends nor misses.
//!
//! Pragmas at open (WAL, `synchronous=NORMAL`), migrations as plain SQL (`rusqlite_migration`, `user_version`).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use rusqlite::{Connection, OptionalExtension as _, params};
use rusqlite_migration::{M, Migrations};

use super::policy::Due;

/// `PRAGMA application_id` of a Watchfloor outbox ("WFO1"), so a foreign file is refused, not altered.
const APPLICATION_ID: i32 = 0x5746_4F31;

static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![
        // 1: the outbox and the journal cursor.
        // `key` is the idempotency key: `INSERT OR IGNORE` on it makes enqueueing idempotent. `status` is
        // `queued` (waiting for its first or next attempt at `next_ms`), `sent` or `failed` (for good); attempts
        // and the last error are kept for the log and the status. `payload` is the notification as JSON, so a
        // row is delivered the same after a restart. The index serves the one query the sender makes.
        // `cursor` keeps, per journal (the cache, or a site database), the id a restart reads after.
        M::up(
            "CREATE TABLE outbox (
                id         INTEGER PRIMARY KEY,
                key        TEXT NOT NULL UNIQUE,
                channel    TEXT NOT NULL,
                payload    TEXT NOT NULL,
                created_ms INTEGER NOT NULL,
                next_ms    INTEGER NOT NULL,
                attempts   INTEGER NOT NULL DEFAULT 0,
                status     TEXT NOT NULL DEFAULT 'queued',
                last_error TEXT,
                done_ms    INTEGER
            );
            CREATE INDEX outbox_due ON outbox (status, next_ms);
            CREATE TABLE cursor (
                journal  TEXT PRIMARY KEY,
                after_id INTEGER NOT NULL
            );",
        ),
    ])
});

/// The outbox could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the outbox {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("the outbox: {0}")]
    Store(crate::store::Error),
    #[error("{path} is not a Watchfloor outbox; it is left as it is ({reason})")]
    Foreign { path: PathBuf, reason: String },
}

/// Where the outbox of the cache `db` lives: `history.sqlite` → `history-outbox.sqlite`, beside it.
pub fn path_for(db: &Path) -> PathBuf {
    let stem = db.file_stem().map_or_else(|| "history".into(), |s| s.to_string_lossy().into_owned());
    db.with_file_name(format!("{stem}-outbox.sqlite"))
}

/// One row waiting for delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub id: i64,
    pub key: String,
    pub channel: String,
    pub due: Due,
    pub created_ms: i64,
    pub attempts: u32,
}

/// How the outbox stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Waiting for their first attempt.
    pub queued: u64,
    /// Waiting for another attempt after a failure.
    pub retrying: u64,
    pub sent: u64,
    pub failed: u64,
}

pub struct Outbox {
    conn: Connection,
    path: PathBuf,
}

impl Outbox {
    /// Opens (creating if needed) the outbox at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self, Error> {
        // Opened, checked and migrated as the cache is, under the outbox's own application id.
        let conn = crate::store::open_owned(path, APPLICATION_ID, &MIGRATIONS).map_err(|e| match e {
            crate::store::Error::NotACache { .. } => Error::Foreign { path: path.to_owned(), reason: e.to_string() },
            other => Error::Store(other),
        })?;
        Ok(Self { conn, path: path.to_owned() })
    }

    fn sqlite(&self, source: rusqlite::Error) -> Error {
        Error::Sqlite { path: self.path.clone(), source }
    }

    /// Where the notifier left `journal` (an id to read after), if it was ever there.
    pub fn cursor(&self, journal: &str) -> Result<Option<i64>, Error> {
        self.conn
            .query_row("SELECT after_id FROM cursor WHERE journal = ?1", [journal], |r| r.get(0))
            .optional()
            .map_err(|e| self.sqlite(e))
    }

    /// Enqueues `due` for each of `channels` at `now_ms` and moves the cursor, in one transaction; returns how many
    /// rows were new (a notification already there, by its key, is not added again).
    pub fn enqueue(
        &mut self,
        items: &[(String, Due)],
        journal: &str,
        after_id: i64,
        now_ms: i64,
    ) -> Result<usize, Error> {
        let path = self.path.clone();
        let sqlite = |source| Error::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(sqlite)?;
        let mut added = 0;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO outbox (key, channel, payload, created_ms, next_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
                )
                .map_err(sqlite)?;
            for (channel, due) in items {
                let payload = serde_json::to_string(due).unwrap_or_default();
                added += insert.execute(params![key(channel, due), channel, payload, now_ms]).map_err(sqlite)?;
            }
            tx.execute(
                "INSERT INTO cursor (journal, after_id) VALUES (?1, ?2)
                 ON CONFLICT (journal) DO UPDATE SET after_id = excluded.after_id",
                params![journal, after_id],
            )
            .map_err(sqlite)?;
        }
        tx.commit().map_err(sqlite)?;
        Ok(added)
    }

    /// Rows whose next attempt is due at `now_ms`, oldest first, at most `limit`.
    pub fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<Pending>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, key, channel, payload, created_ms, attempts FROM outbox
                 WHERE status = 'queued' AND next_ms <= ?1 ORDER BY next_ms, id LIMIT ?2",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![now_ms, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, u32>(5)?,
                ))
            })
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, key, channel, payload, created_ms, attempts) = row.map_err(|e| self.sqlite(e))?;
            match serde_json::from_str::<Due>(&payload) {
                Ok(due) => out.push(Pending { id, key, channel, due, created_ms, attempts }),
                Err(err) => {
                    tracing::warn!(key, "an outbox row cannot be read ({err}); marked failed");
                    self.failed(id, now_ms, &format!("unreadable payload: {err}"))?;
                }
            }
        }
        Ok(out)
    }

    pub fn sent(&self, id: i64, now_ms: i64) -> Result<(), Error> {
        self.conn
            .execute(
                "UPDATE outbox SET status = 'sent', attempts = attempts + 1, done_ms = ?2, last_error = NULL
                 WHERE id = ?1",
                params![id, now_ms],
            )
            .map(drop)
            .map_err(|e| self.sqlite(e))
    }

    pub fn retry(&self, id: i64, next_ms: i64, error: &str) -> Result<(), Error> {
        self.conn
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, next_ms = ?2, last_error = ?3 WHERE id = ?1",
                params![id, next_ms, error],
            )
            .map(drop)
            .map_err(|e| self.sqlite(e))
    }

    pub fn failed(&self, id: i64, now_ms: i64, error: &str) -> Result<(), Error> {
        self.conn
            .execute(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, done_ms = ?2, last_error = ?3
                 WHERE id = ?1",
                params![id, now_ms, error],
            )
            .map(drop)
            .map_err(|e| self.sqlite(e))
    }

    /// Removes delivered and failed rows done before `before_ms`; returns how many.
    pub fn prune(&self, before_ms: i64) -> Result<usize, Error> {
        self.conn
            .execute("DELETE FROM outbox WHERE status IN ('sent', 'failed') AND done_ms < ?1", [before_ms])
            .map_err(|e| self.sqlite(e))
    }

    pub fn counts(&self) -> Result<Counts, Error> {
        self.conn
            .query_row(
                "SELECT count(*) FILTER (WHERE status = 'queued' AND attempts = 0),
                        count(*) FILTER (WHERE status = 'queued' AND attempts > 0),
                        count(*) FILTER (WHERE status = 'sent'),
                        count(*) FILTER (WHERE status = 'failed')
                 FROM outbox",
                [],
                |r| {
                    let n = |i: usize| r.get::<_, i64>(i).map(|n| u64::try_from(n).unwrap_or_default());
                    Ok(Counts { queued: n(0)?, retrying: n(1)?, sent: n(2)?, failed: n(3)? })
                },
            )
            .map_err(|e| self.sqlite(e))
    }
}

/// The idempotency key of `due` on `channel`: channel, rule, source, occurrence time and stage.
pub fn key(channel: &str, due: &Due) -> String {
    format!("{channel}|{}|{}|{}|{}", due.rule, due.source, due.occurred_ms, due.stage.label())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduled::policy::Stage;

    fn due(stage: Stage) -> Due {
        Due {
            rule: "Filler hot".into(),
            source: "PlantA/Line1/Filler/Temperature".into(),
            asset: "PlantA/Line1/Filler".into(),
            priority: "High".into(),
            state: "Unacknowledged".into(),
            message: "85 above HI 80".into(),
            value: Some(85.0),
            limit: Some("HI".into()),
            occurred_ms: 1_000,
            stage,
            gateway_loss: false,
        }
    }

    #[test]
    fn migrations_are_valid() {
        assert!(MIGRATIONS.validate().is_ok());
    }

    #[test]
    fn a_notification_is_enqueued_once_and_the_cursor_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = path_for(&dir.path().join("history.sqlite"));
        assert!(path.ends_with("history-outbox.sqlite"));
        let mut outbox = Outbox::open(&path).expect("open");
        assert_eq!(outbox.cursor("cache").expect("cursor"), None);
        let items = vec![("hook".to_owned(), due(Stage::First)), ("mail".to_owned(), due(Stage::First))];
        assert_eq!(outbox.enqueue(&items, "cache", 5, 10).expect("enqueue"), 2);
        assert_eq!(outbox.enqueue(&items, "cache", 6, 11).expect("again"), 0, "the same keys");
        drop(outbox);
        let mut outbox = Outbox::open(&path).expect("reopen");
        assert_eq!(outbox.cursor("cache").expect("cursor"), Some(6));
        assert_eq!(outbox.enqueue(&[("hook".to_owned(), due(Stage::Escalation))], "cache", 7, 12).expect("new"), 1);
        let pending = outbox.due(12, 10).expect("due");
        assert_eq!(pending.len(), 3);
        assert_eq!(pending[0].due, due(Stage::First));
        outbox.retry(pending[0].id, 100, "503").expect("retry");
        outbox.sent(pending[1].id, 12).expect("sent");
        outbox.failed(pending[2].id, 12, "404").expect("failed");
        assert_eq!(outbox.counts().expect("counts"), Counts { queued: 0, retrying: 1, sent: 1, failed: 1 });
        assert!(outbox.due(99, 10).expect("due").is_empty(), "backing off");
        assert_eq!(outbox.due(100, 10).expect("due").len(), 1);
        assert_eq!(outbox.prune(13).expect("prune"), 2);
        assert_eq!(outbox.counts().expect("counts").retrying, 1, "what waits is never pruned");
    }

    #[test]
    fn a_foreign_file_is_left_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("other.sqlite");
        Connection::open(&path).expect("open").execute_batch("CREATE TABLE t (x)").expect("create");
        assert!(matches!(Outbox::open(&path), Err(Error::Foreign { .. })));
    }
}
