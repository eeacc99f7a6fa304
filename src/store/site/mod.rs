//! The site database: one PostgreSQL shared by the recorders and consoles of a control room, beside each
//! machine's SQLite cache.
//!
//! - [`SiteWriter`] is the site recorder's writer thread (`writer/`): binary COPY, idempotent inserts, day
//!   partitions, leader and standby on an advisory lock.
//! - [`PgHistory`] answers [`HistoryRead`] from the site database, so reports, the alarm journal and its KPIs read
//!   it exactly as they read a cache file (`--db postgres://…`).
//! - [`schema`] holds the versioned migrations.

pub mod alarms;
mod console;
pub(crate) mod export;
pub mod schema;
mod writer;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::Client;

pub use console::{ConsoleStatus, SiteConsole, console_name};
pub use writer::SiteOptions;

use crate::model::FeedEvent;
use crate::model::ValueKind;
use crate::model::alarm::{AlarmState, JournalEntry, Priority};
use crate::model::history::{
    Gap, HistoryError, HistoryRead, HistoryResult, Rollup, Standing, StoredSample, StoredSignal,
};

/// Where the site database is and how to reach it (the config's `[site_db]`, resolved: the password read, TLS
/// built).
#[derive(Clone)]
pub struct SiteTarget {
    pub url: String,
    pub password: Option<String>,
    pub tls: SiteTls,
}

/// TLS to the site database.
#[derive(Clone)]
pub enum SiteTls {
    /// Plain TCP (loopback, or a network the site trusts).
    Disable,
    /// TLS when the server offers it, with this client config.
    Prefer(Arc<rustls::ClientConfig>),
    /// TLS or nothing.
    Require(Arc<rustls::ClientConfig>),
}

impl SiteTarget {
    /// A database on `url` without password or TLS (tests, loopback).
    pub fn plain(url: impl Into<String>) -> Self {
        Self { url: url.into(), password: None, tls: SiteTls::Disable }
    }

    /// The URL without its password, for messages.
    pub fn display_url(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                u.to_string()
            }
            Err(_) => self.url.clone(),
        }
    }

    fn config(&self, application: &str) -> Result<tokio_postgres::Config, SiteError> {
        let mut config: tokio_postgres::Config =
            self.url.parse().map_err(|e| SiteError::Url { url: self.display_url(), reason: format!("{e}") })?;
        if let Some(password) = &self.password {
            config.password(password);
        }
        config.application_name(application);
        config.connect_timeout(std::time::Duration::from_secs(5));
        config.ssl_mode(match self.tls {
            SiteTls::Disable => tokio_postgres::config::SslMode::Disable,
            SiteTls::Prefer(_) => tokio_postgres::config::SslMode::Prefer,
            SiteTls::Require(_) => tokio_postgres::config::SslMode::Require,
        });
        Ok(config)
    }

    /// Connects (async); the connection is driven by a task on the current runtime.
    pub async fn connect(&self, application: &str) -> Result<Client, SiteError> {
        let config = self.config(application)?;
        let url = self.display_url();
        match &self.tls {
            SiteTls::Disable => {
                let (client, connection) =
                    config.connect(tokio_postgres::NoTls).await.map_err(|e| SiteError::connect(&url, &e))?;
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::debug!("site database connection ended: {err}");
                    }
                });
                Ok(client)
            }
            SiteTls::Prefer(tls) | SiteTls::Require(tls) => {
                let make = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
                let (client, connection) = config.connect(make).await.map_err(|e| SiteError::connect(&url, &e))?;
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::debug!("site database connection ended: {err}");
                    }
                });
                Ok(client)
            }
        }
    }

    /// Connects, and sends `()` on the returned channel for every notification the connection receives (the
    /// consoles' `LISTEN`); the channel closes when the connection ends.
    pub async fn connect_listening(&self, application: &str) -> Result<(Client, mpsc::Receiver<()>), SiteError> {
        let config = self.config(application)?;
        let url = self.display_url();
        let (tx, rx) = mpsc::channel(64);
        let client = match &self.tls {
            SiteTls::Disable => {
                let (client, connection) =
                    config.connect(tokio_postgres::NoTls).await.map_err(|e| SiteError::connect(&url, &e))?;
                tokio::spawn(forward_notifications(connection, tx));
                client
            }
            SiteTls::Prefer(tls) | SiteTls::Require(tls) => {
                let make = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
                let (client, connection) = config.connect(make).await.map_err(|e| SiteError::connect(&url, &e))?;
                tokio::spawn(forward_notifications(connection, tx));
                client
            }
        };
        Ok((client, rx))
    }

    /// Connects (blocking: the CLI, the reader thread; never inside a runtime).
    pub fn connect_blocking(&self, application: &str) -> Result<postgres::Client, SiteError> {
        let config: postgres::Config = self.config(application)?.into();
        let url = self.display_url();
        match &self.tls {
            SiteTls::Disable => config.connect(postgres::NoTls).map_err(|e| SiteError::connect(&url, &e)),
            SiteTls::Prefer(tls) | SiteTls::Require(tls) => {
                let make = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
                config.connect(make).map_err(|e| SiteError::connect(&url, &e))
            }
        }
    }
}

/// Drives a connection, passing on that a notification came (many at once collapse: the reader re-reads by seq).
async fn forward_notifications<S, T>(mut connection: tokio_postgres::Connection<S, T>, tx: mpsc::Sender<()>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt as _;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        match message {
            Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                if let Err(mpsc::error::TrySendError::Closed(())) = tx.try_send(()) {
                    break;
                }
            }
            Ok(_) => {}
            Err(err) => {
                tracing::debug!("site database connection ended: {err}");
                break;
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("{url}: not a PostgreSQL URL: {reason}")]
    Url { url: String, reason: String },
    #[error("{url}: wrong user name or password ({reason})")]
    Auth { url: String, reason: String },
    #[error("{url}: cannot connect: {reason}")]
    Connect { url: String, reason: String },
    #[error(
        "the site database has schema {found}, newer than this build's {known}: it was left unchanged; use a newer Watchfloor"
    )]
    NewerSchema { found: i32, known: i32 },
    #[error(
        "the site database has schema {found}, older than this build's {known}; run `watchfloor record` once to upgrade it"
    )]
    OlderSchema { found: i32, known: i32 },
    #[error("the database is not a Watchfloor site database ({reason}); it was left unchanged")]
    Foreign { reason: String },
    #[error("not connected")]
    NotConnected,
    #[error("site database: {0}")]
    Db(#[from] tokio_postgres::Error),
}

impl SiteError {
    fn connect(url: &str, err: &tokio_postgres::Error) -> Self {
        let reason = match err.as_db_error() {
            Some(db) => db.message().to_owned(),
            None => {
                // The source has the useful part (refused, TLS failure, timeout).
                let mut text = err.to_string();
                let mut source = std::error::Error::source(err);
                while let Some(s) = source {
                    text = format!("{text}: {s}");
                    source = s.source();
                }
                text
            }
        };
        let auth = err.code().is_some_and(|c| {
            *c == tokio_postgres::error::SqlState::INVALID_PASSWORD
                || *c == tokio_postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        }) || reason.contains("password");
        if auth { Self::Auth { url: url.to_owned(), reason } } else { Self::Connect { url: url.to_owned(), reason } }
    }

    /// Whether the error means the connection is gone (as opposed to a refused statement).
    fn is_connection(&self) -> bool {
        match self {
            Self::Db(e) => e.is_closed() || e.as_db_error().is_none(),
            Self::NotConnected | Self::Connect { .. } => true,
            _ => false,
        }
    }
}

/// The advisory lock key of a site's leader: a stable hash of its name.
pub fn lock_key(site: &str) -> i64 {
    // FNV-1a: the same key in every build and on every machine.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("watchfloor-leader:{site}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

const SCHEMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS watchfloor_schema (
    version integer PRIMARY KEY, applied_ms bigint NOT NULL, why text NOT NULL)";

/// Brings the database to this build's schema: refuses a newer one or a foreign database, applies what is
/// missing in one transaction (two recorders starting at once take turns on a lock).
pub async fn migrate(client: &Client) -> Result<(), SiteError> {
    client.batch_execute("BEGIN").await?;
    let result = migrate_in(client).await;
    match result {
        Ok(()) => client.batch_execute("COMMIT").await?,
        Err(_) => {
            let _ = client.batch_execute("ROLLBACK").await;
        }
    }
    result
}

async fn migrate_in(client: &Client) -> Result<(), SiteError> {
    client.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::MIGRATION_LOCK]).await?;
    let ours: bool = client.query_one("SELECT to_regclass('watchfloor_schema') IS NOT NULL", &[]).await?.get(0);
    if !ours {
        let tables: i64 =
            client.query_one("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()", &[]).await?.get(0);
        if tables > 0 {
            return Err(SiteError::Foreign { reason: format!("it has {tables} tables and no watchfloor_schema") });
        }
        client.batch_execute(SCHEMA_TABLE).await?;
    }
    let found: i32 = client.query_one("SELECT coalesce(max(version), 0) FROM watchfloor_schema", &[]).await?.get(0);
    let known = schema::latest_version();
    if found > known {
        return Err(SiteError::NewerSchema { found, known });
    }
    for (version, why, sql) in schema::MIGRATIONS.iter().filter(|m| m.0 > found) {
        client.batch_execute(sql).await?;
        client
            .execute(
                "INSERT INTO watchfloor_schema (version, applied_ms, why) VALUES ($1, $2, $3)",
                &[version, &crate::clock::wall_now_ms(), why],
            )
            .await?;
        tracing::info!(version, "site database: migrated ({why})");
    }
    Ok(())
}

/// Checks the database holds this build's schema (a console reads and writes alarm state, but never migrates).
async fn check_schema(client: &Client) -> Result<(), SiteError> {
    let ours: bool = client.query_one("SELECT to_regclass('watchfloor_schema') IS NOT NULL", &[]).await?.get(0);
    if !ours {
        return Err(SiteError::Foreign { reason: "it has no watchfloor_schema".to_owned() });
    }
    let found: i32 = client.query_one("SELECT coalesce(max(version), 0) FROM watchfloor_schema", &[]).await?.get(0);
    let known = schema::latest_version();
    if found > known {
        return Err(SiteError::NewerSchema { found, known });
    }
    if found < known {
        return Err(SiteError::OlderSchema { found, known });
    }
    Ok(())
}

/// What the site writer is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SiteRole {
    #[default]
    Connecting,
    /// Holds the site's lock: writes and evaluates alarms.
    Leader,
    /// Another recorder leads; this one keeps the recent stream and takes over when the lock frees.
    Standby,
    /// Cannot use the database (wrong password, TLS, a newer schema); retried.
    Error,
    Stopped,
}

impl SiteRole {
    pub fn label(self) -> &'static str {
        match self {
            Self::Connecting => "Connecting",
            Self::Leader => "Leader",
            Self::Standby => "Standby",
            Self::Error => "Error",
            Self::Stopped => "Stopped",
        }
    }
}

/// The site writer's role and counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiteStatus {
    pub role: SiteRole,
    pub url: String,
    pub message: Option<String>,
    pub stored_samples: u64,
    /// Samples already in the database (replays, overlap after a takeover) that were skipped.
    pub duplicate_samples: u64,
    /// Samples waiting to be written (while connecting, or kept by a standby).
    pub buffered_samples: u64,
    /// Samples given up: the buffer overflowed (with no cache to leave them to), or the database refused their
    /// batch.
    pub dropped_samples: u64,
    /// Samples left to the recorder's cache when the buffer was full, to be written from there.
    pub spilled_samples: u64,
    /// Samples written from the cache afterwards.
    pub caught_up_samples: u64,
    pub batches: u64,
    /// How many times this writer took the lead.
    pub takeovers: u64,
}

/// The site writer's thread. Dropping it does not stop the thread; call [`SiteWriter::finish`].
pub struct SiteWriter {
    commands: mpsc::Sender<writer::SiteCommand>,
    status: watch::Receiver<SiteStatus>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SiteWriter {
    /// Starts the writer on `events`. Never fails for the database's sake: a database that cannot be reached is
    /// reported in [`SiteWriter::status`] and retried.
    pub fn start(options: SiteOptions, events: mpsc::Receiver<Arc<FeedEvent>>) -> Result<Self, std::io::Error> {
        let (command_tx, command_rx) = mpsc::channel(16);
        let (status_tx, status_rx) = watch::channel(SiteStatus::default());
        let thread = std::thread::Builder::new().name("wf-site-write".to_owned()).spawn(move || {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt.block_on(writer::run(options, events, command_rx, status_tx)),
                Err(err) => tracing::error!("site writer cannot start its runtime: {err}"),
            }
        })?;
        Ok(Self { commands: command_tx, status: status_rx, thread: Some(thread) })
    }

    pub fn status(&self) -> SiteStatus {
        self.status.borrow().clone()
    }

    /// A watch on the status (the recorder's log line, tests waiting for a role).
    pub fn watch(&self) -> watch::Receiver<SiteStatus> {
        self.status.clone()
    }

    /// Waits until everything received so far is written (or kept, when it cannot be). Not on the UI thread.
    pub fn flush_blocking(&self) -> Option<SiteStatus> {
        let (tx, rx) = oneshot::channel();
        self.commands.blocking_send(writer::SiteCommand::Flush(tx)).ok()?;
        rx.blocking_recv().ok()
    }

    /// Stops after writing what it holds; returns the final status.
    pub fn finish(mut self) -> SiteStatus {
        let _ = self.commands.try_send(writer::SiteCommand::Shutdown);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the site writer thread panicked");
        }
        self.status.borrow().clone()
    }
}

/// The site database read as history (reports, the alarm journal, `query`, `signals`).
pub struct PgHistory {
    client: RefCell<postgres::Client>,
    /// Each query prepared once per connection (a report asks the same few thousands of times).
    statements: RefCell<HashMap<String, postgres::Statement>>,
    url: String,
}

impl PgHistory {
    /// Connects and checks the schema is the one this build reads (blocking; not inside a runtime).
    pub fn open(target: &SiteTarget) -> Result<Self, SiteError> {
        let mut client = target.connect_blocking("watchfloor")?;
        let ours: bool = client.query_one("SELECT to_regclass('watchfloor_schema') IS NOT NULL", &[])?.get(0);
        if !ours {
            return Err(SiteError::Foreign { reason: "it has no watchfloor_schema".to_owned() });
        }
        let found: i32 = client.query_one("SELECT coalesce(max(version), 0) FROM watchfloor_schema", &[])?.get(0);
        let known = schema::latest_version();
        if found > known {
            return Err(SiteError::NewerSchema { found, known });
        }
        if found < known {
            return Err(SiteError::OlderSchema { found, known });
        }
        Ok(Self { client: RefCell::new(client), statements: RefCell::default(), url: target.display_url() })
    }

    fn failed(&self) -> impl Fn(postgres::Error) -> HistoryError + '_ {
        |e| HistoryError(format!("{}: {e}", self.url))
    }

    fn query(&self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> HistoryResult<Vec<postgres::Row>> {
        let mut client = self.client.borrow_mut();
        let mut statements = self.statements.borrow_mut();
        let stmt = match statements.get(sql) {
            Some(stmt) => stmt.clone(),
            None => {
                let stmt = client.prepare(sql).map_err(self.failed())?;
                statements.insert(sql.to_owned(), stmt.clone());
                stmt
            }
        };
        client.query(&stmt, params).map_err(self.failed())
    }

    /// Every stored signal's name, kind, unit and gateway, by name (`watchfloor signals`).
    pub fn signal_list(&self) -> HistoryResult<Vec<StoredSignal>> {
        let mut all = self.signals()?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn sample_of(kind: ValueKind, r: &postgres::Row) -> StoredSample {
    let quality: i16 = r.get(3);
    StoredSample {
        ts_ms: r.get(0),
        value: super::query::value_from(kind, r.get(1), r.get(2)),
        quality: super::query::quality_from(i64::from(quality)),
    }
}

const JOURNAL_COLUMNS: &str =
    "id, ts_ms, rule, source, asset, priority, from_state, state, \"user\", comment, value, lim, message, active";

fn journal_of(r: &postgres::Row) -> JournalEntry {
    let state = |i: usize| AlarmState::parse(r.get::<_, &str>(i)).unwrap_or(AlarmState::Normal);
    JournalEntry {
        id: r.get(0),
        ts_ms: r.get(1),
        rule: r.get(2),
        source: r.get(3),
        asset: r.get(4),
        priority: Priority::parse(r.get::<_, &str>(5)).unwrap_or(Priority::Low),
        from: state(6),
        to: state(7),
        user: r.get(8),
        comment: r.get(9),
        value: r.get(10),
        limit: r.get(11),
        message: r.get(12),
        active: r.get(13),
    }
}

impl HistoryRead for PgHistory {
    fn signals(&self) -> HistoryResult<Vec<StoredSignal>> {
        Ok(self
            .query("SELECT id, name, kind, unit, gateway FROM signal ORDER BY id", &[])?
            .iter()
            .map(|r| StoredSignal {
                key: r.get(0),
                name: r.get(1),
                kind: super::query::kind_from(r.get::<_, &str>(2)),
                unit: r.get(3),
                gateway: r.get(4),
            })
            .collect())
    }

    fn raw(
        &self,
        key: i64,
        kind: ValueKind,
        (from_ms, to_ms): (i64, i64),
        limit: usize,
        good_only: bool,
    ) -> HistoryResult<Vec<StoredSample>> {
        let worst: i16 = if good_only { 1 } else { 2 };
        Ok(self
            .query(
                "SELECT ts_ms, num, text, quality FROM sample WHERE signal = $1 AND ts_ms >= $2 AND ts_ms < $3
                 AND quality <= $5 ORDER BY ts_ms LIMIT $4",
                &[&key, &from_ms, &to_ms, &limit_of(limit), &worst],
            )?
            .iter()
            .map(|r| sample_of(kind, r))
            .collect())
    }

    fn last_before(
        &self,
        key: i64,
        kind: ValueKind,
        ts_ms: i64,
        good_only: bool,
    ) -> HistoryResult<Option<StoredSample>> {
        let worst: i16 = if good_only { 1 } else { 2 };
        Ok(self
            .query(
                "SELECT ts_ms, num, text, quality FROM sample WHERE signal = $1 AND ts_ms < $2 AND quality <= $3
                 ORDER BY ts_ms DESC LIMIT 1",
                &[&key, &ts_ms, &worst],
            )?
            .first()
            .map(|r| sample_of(kind, r)))
    }

    fn minutes(&self, key: i64, from_ms: i64, to_ms: i64) -> HistoryResult<Vec<Rollup>> {
        Ok(self
            .query(
                "SELECT start_ms, min_value, max_value, sum_value, count, first_ms, first_value, last_ms, last_value
                 FROM rollup_1m WHERE signal = $1 AND start_ms >= $2 AND start_ms < $3 ORDER BY start_ms",
                &[&key, &from_ms, &to_ms],
            )?
            .iter()
            .map(|r| Rollup {
                start_ms: r.get(0),
                min: r.get(1),
                max: r.get(2),
                sum: r.get(3),
                count: r.get(4),
                first_ms: r.get(5),
                first: r.get(6),
                last_ms: r.get(7),
                last: r.get(8),
            })
            .collect())
    }

    fn gaps(&self, key: i64, from_ms: i64, to_ms: i64) -> HistoryResult<Vec<Gap>> {
        Ok(self
            .query(
                "SELECT start_ms, end_ms FROM gap WHERE signal = $1 AND start_ms < $3 AND (end_ms IS NULL OR end_ms > $2)
                 ORDER BY start_ms",
                &[&key, &from_ms, &to_ms],
            )?
            .iter()
            .map(|r| Gap { start_ms: r.get(0), end_ms: r.get(1) })
            .collect())
    }

    fn latest(&self, key: i64, kind: ValueKind) -> HistoryResult<Option<StoredSample>> {
        Ok(self
            .query("SELECT ts_ms, num, text, quality FROM latest WHERE signal = $1", &[&key])?
            .first()
            .map(|r| sample_of(kind, r)))
    }

    fn newest_ms(&self) -> HistoryResult<Option<i64>> {
        Ok(self.query("SELECT max(ts_ms) FROM latest", &[])?.first().and_then(|r| r.get(0)))
    }

    fn fixes(&self, vehicle: &str, from_ms: i64, to_ms: i64) -> HistoryResult<Vec<(i64, [f64; 2])>> {
        Ok(self
            .query(
                "SELECT ts_ms, lat_deg, lon_deg FROM fix WHERE vehicle = $1 AND ts_ms >= $2 AND ts_ms < $3 ORDER BY ts_ms",
                &[&vehicle, &from_ms, &to_ms],
            )?
            .iter()
            .map(|r| (r.get(0), [r.get(1), r.get(2)]))
            .collect())
    }

    fn last_fix_before(&self, vehicle: &str, ts_ms: i64) -> HistoryResult<Option<i64>> {
        Ok(self
            .query("SELECT max(ts_ms) FROM fix WHERE vehicle = $1 AND ts_ms < $2", &[&vehicle, &ts_ms])?
            .first()
            .and_then(|r| r.get(0)))
    }

    fn journal(&self, from_ms: i64, to_ms: i64, limit: usize) -> HistoryResult<Vec<JournalEntry>> {
        let sql = format!(
            "SELECT * FROM (SELECT {JOURNAL_COLUMNS} FROM alarm_journal WHERE ts_ms >= $1 AND ts_ms < $2
             ORDER BY ts_ms DESC, id DESC LIMIT $3) j ORDER BY ts_ms, id"
        );
        Ok(self.query(&sql, &[&from_ms, &to_ms, &limit_of(limit)])?.iter().map(journal_of).collect())
    }

    fn journal_after(&self, after_id: i64, limit: usize) -> HistoryResult<Vec<JournalEntry>> {
        let sql = format!("SELECT {JOURNAL_COLUMNS} FROM alarm_journal WHERE id > $1 ORDER BY id LIMIT $2");
        Ok(self.query(&sql, &[&after_id, &limit_of(limit)])?.iter().map(journal_of).collect())
    }

    fn journal_last_at(&self, at_ms: i64) -> HistoryResult<Vec<JournalEntry>> {
        let sql = format!(
            "SELECT {JOURNAL_COLUMNS} FROM alarm_journal WHERE id IN (
                 SELECT max(id) FROM alarm_journal WHERE ts_ms <= $1 GROUP BY rule, source)
             ORDER BY ts_ms"
        );
        Ok(self.query(&sql, &[&at_ms])?.iter().map(journal_of).collect())
    }

    fn standing(&self, at_ms: i64) -> HistoryResult<Vec<Standing>> {
        let rows = self.query(
            "SELECT j.rule, j.source, j.priority,
                    (SELECT max(a.ts_ms) FROM alarm_journal a WHERE a.rule = j.rule AND a.source = j.source
                       AND a.ts_ms < $1 AND a.active
                       AND ((a.state = 'Unacknowledged' AND a.from_state IN ('Normal', 'Returned, unacknowledged'))
                            OR (a.comment = 'active' AND a.from_state = a.state)))
             FROM alarm_journal j
             JOIN (SELECT rule, source, max(id) AS id FROM alarm_journal WHERE ts_ms < $1 GROUP BY rule, source) m
               ON m.id = j.id
             WHERE j.active",
            &[&at_ms],
        )?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let since: Option<i64> = r.get(3);
                Some(Standing {
                    rule: r.get(0),
                    source: r.get(1),
                    priority: Priority::parse(r.get::<_, &str>(2)).unwrap_or(Priority::Low),
                    active_since_ms: since?,
                })
            })
            .collect())
    }

    fn notes(&self, from_ms: i64, to_ms: i64) -> HistoryResult<Vec<crate::model::logbook::Note>> {
        let rows = self.query(
            "SELECT uid, written_ms, author, from_ms, to_ms, asset, alarm_rule, alarm_source, text, corrects,
                    handover_shift, taken_over_by
             FROM logbook WHERE from_ms < $2 AND coalesce(to_ms, from_ms) >= $1 ORDER BY from_ms, written_ms, id",
            &[&from_ms, &to_ms],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                crate::store::logbook::note_from(
                    (r.get(0), r.get(1), r.get(2)),
                    (r.get(3), r.get(4)),
                    (r.get(5), r.get(6), r.get(7)),
                    (r.get(8), r.get(9)),
                    (r.get(10), r.get(11)),
                )
            })
            .collect())
    }
}

impl PgHistory {
    /// A failed read as the store reports it, naming this database.
    pub(crate) fn store_error(&self) -> impl Fn(HistoryError) -> crate::store::Error + '_ {
        |source| crate::store::Error::History { path: std::path::PathBuf::from(&self.url), source }
    }
}

impl crate::store::query::SeriesRead for PgHistory {
    fn signal_list(&self) -> Result<Vec<crate::store::query::SignalInfo>, crate::store::Error> {
        Ok(PgHistory::signal_list(self)
            .map_err(self.store_error())?
            .into_iter()
            .map(|s| crate::store::query::SignalInfo {
                id: crate::model::SignalId::new(s.name),
                kind: s.kind,
                unit: s.unit,
                gateway: s.gateway,
            })
            .collect())
    }

    fn signal_info(&self, name: &str) -> Result<Option<(i64, crate::store::query::SignalInfo)>, crate::store::Error> {
        let rows = self
            .query("SELECT id, kind, unit, gateway FROM signal WHERE name = $1", &[&name])
            .map_err(self.store_error())?;
        Ok(rows.first().map(|r| {
            let info = crate::store::query::SignalInfo {
                id: crate::model::SignalId::new(name),
                kind: super::query::kind_from(r.get::<_, &str>(1)),
                unit: r.get(2),
                gateway: r.get(3),
            };
            (r.get(0), info)
        }))
    }

    fn oldest(&self, tier: crate::store::query::Tier, id: i64) -> Result<Option<i64>, crate::store::Error> {
        use crate::store::query::Tier;
        let sql = match tier {
            Tier::Raw => "SELECT min(ts_ms) FROM sample WHERE signal = $1",
            Tier::Minute => "SELECT min(start_ms) FROM rollup_1m WHERE signal = $1",
            Tier::Hour => "SELECT min(start_ms) FROM rollup_1h WHERE signal = $1",
        };
        Ok(self.query(sql, &[&id]).map_err(self.store_error())?.first().and_then(|r| r.get(0)))
    }

    fn tier_rows(
        &self,
        tier: crate::store::query::Tier,
        id: i64,
        (from_ms, to_ms): (i64, i64),
        row: &mut dyn FnMut(i64, f64, f64, f64, i64),
    ) -> Result<(), crate::store::Error> {
        use crate::store::query::Tier;
        let sql = match tier {
            Tier::Raw => {
                "SELECT ts_ms, num, num, num, 1::int8 FROM sample
                 WHERE signal = $1 AND ts_ms >= $2 AND ts_ms < $3 AND num IS NOT NULL AND quality < 2 ORDER BY ts_ms"
            }
            Tier::Minute => {
                "SELECT start_ms, min_value, max_value, sum_value, count FROM rollup_1m
                 WHERE signal = $1 AND start_ms >= $2 AND start_ms < $3 ORDER BY start_ms"
            }
            Tier::Hour => {
                "SELECT start_ms, min_value, max_value, sum_value, count FROM rollup_1h
                 WHERE signal = $1 AND start_ms >= $2 AND start_ms < $3 ORDER BY start_ms"
            }
        };
        for r in self.query(sql, &[&id, &from_ms, &to_ms]).map_err(self.store_error())? {
            row(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        }
        Ok(())
    }

    fn last_good_before(&self, id: i64, ts_ms: i64) -> Result<Option<(i64, f64)>, crate::store::Error> {
        for sql in [
            "SELECT ts_ms, num FROM sample WHERE signal = $1 AND ts_ms < $2 AND num IS NOT NULL AND quality < 2
             ORDER BY ts_ms DESC LIMIT 1",
            "SELECT last_ms, last_value FROM rollup_1m WHERE signal = $1 AND start_ms < $2 AND last_ms < $2
             ORDER BY start_ms DESC LIMIT 1",
            "SELECT last_ms, last_value FROM rollup_1h WHERE signal = $1 AND start_ms < $2 AND last_ms < $2
             ORDER BY start_ms DESC LIMIT 1",
        ] {
            if let Some(r) = self.query(sql, &[&id, &ts_ms]).map_err(self.store_error())?.first() {
                return Ok(Some((r.get(0), r.get(1))));
            }
        }
        Ok(None)
    }

    fn gaps_in(&self, id: i64, from_ms: i64, to_ms: i64) -> Result<Vec<Gap>, crate::store::Error> {
        HistoryRead::gaps(self, id, from_ms, to_ms).map_err(self.store_error())
    }
}
