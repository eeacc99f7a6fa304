//! The reader thread: history queries run here, off the UI thread, on a read-only connection of their own (WAL lets
//! it read while the writer writes). Each request comes back as a [`Pending`] the UI polls once per frame.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::query::{self, SignalInfo};
use super::schema::{open_live_reader, open_reader};
use super::{Error, Waker};
use crate::model::Sample;

type Job = Box<dyn FnOnce(&Result<Connection, Error>, &mut SiteReader) + Send>;

/// What a reader job reads: this cache, or the site database; both answer the history reads, the trend's and
/// review's.
pub trait HistoryBackend {
    fn as_history(&self) -> &dyn crate::model::history::HistoryRead;
    fn as_series(&self) -> &dyn query::SeriesRead;
    /// Every stored signal as review reads them.
    fn stored_signals(&self) -> Result<Vec<query::StoredSignal>, Error>;
    /// Each of `signals`' value at `at_ms` (see [`query::values_of`]).
    fn values_of(
        &self,
        signals: &[query::StoredSignal],
        at_ms: i64,
        lookback_ms: i64,
    ) -> Result<Vec<(String, Sample)>, Error>;
    /// Stretches when a machine was down (see [`query::down_spans`]).
    fn down_spans(&self, from_ms: i64, to_ms: i64) -> Result<Vec<(String, i64, i64)>, Error>;
}

impl HistoryBackend for Connection {
    fn as_history(&self) -> &dyn crate::model::history::HistoryRead {
        self
    }
    fn as_series(&self) -> &dyn query::SeriesRead {
        self
    }
    fn stored_signals(&self) -> Result<Vec<query::StoredSignal>, Error> {
        query::stored_signals(self).map_err(query::sqlite_error(self))
    }
    fn values_of(
        &self,
        signals: &[query::StoredSignal],
        at_ms: i64,
        lookback_ms: i64,
    ) -> Result<Vec<(String, Sample)>, Error> {
        query::values_of(self, signals, at_ms, lookback_ms).map_err(query::sqlite_error(self))
    }
    fn down_spans(&self, from_ms: i64, to_ms: i64) -> Result<Vec<(String, i64, i64)>, Error> {
        query::down_spans(self, from_ms, to_ms).map_err(query::sqlite_error(self))
    }
}

impl HistoryBackend for super::site::PgHistory {
    fn as_history(&self) -> &dyn crate::model::history::HistoryRead {
        self
    }
    fn as_series(&self) -> &dyn query::SeriesRead {
        self
    }
    fn stored_signals(&self) -> Result<Vec<query::StoredSignal>, Error> {
        query::stored_signals_of(self).map_err(self.store_error())
    }
    fn values_of(
        &self,
        signals: &[query::StoredSignal],
        at_ms: i64,
        lookback_ms: i64,
    ) -> Result<Vec<(String, Sample)>, Error> {
        query::values_of_history(self, signals, at_ms, lookback_ms).map_err(self.store_error())
    }
    fn down_spans(&self, from_ms: i64, to_ms: i64) -> Result<Vec<(String, i64, i64)>, Error> {
        query::down_spans_of(self, from_ms, to_ms).map_err(self.store_error())
    }
}

/// Where a [`History::run_history`] result was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistorySource {
    /// The site database (a console with `[site_db]`).
    Site,
    /// This machine's cache; with why the site database was not read, when there is one.
    Cache { site_problem: Option<String> },
}

/// The site database as the reader thread reads it for a console: opened on first use, and again
/// [`SITE_RETRY`] after a failure (meanwhile the cache answers).
struct SiteReader {
    target: Option<super::site::SiteTarget>,
    conn: Option<super::site::PgHistory>,
    failed: Option<(std::time::Instant, String)>,
}

const SITE_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

impl SiteReader {
    /// The open site database, `Ok(None)` without one, `Err(why)` while it cannot be read.
    fn get(&mut self) -> Result<Option<&super::site::PgHistory>, String> {
        let Some(target) = &self.target else { return Ok(None) };
        if self.conn.is_none() {
            if let Some((at, why)) = &self.failed
                && at.elapsed() < SITE_RETRY
            {
                return Err(why.clone());
            }
            match super::site::PgHistory::open(target) {
                Ok(conn) => {
                    self.conn = Some(conn);
                    self.failed = None;
                }
                Err(err) => {
                    let why = err.to_string();
                    self.broke(why.clone());
                    return Err(why);
                }
            }
        }
        Ok(self.conn.as_ref())
    }

    fn broke(&mut self, why: String) {
        tracing::warn!("history from the site database: {why}; reading this console's cache");
        self.conn = None;
        self.failed = Some((std::time::Instant::now(), why));
    }
}

/// Queue length of the reader; a UI that asks for more than this at once gets `None` and asks again next frame.
const QUEUE: usize = 64;

/// A query's result, once it is ready.
pub struct Pending<T> {
    rx: oneshot::Receiver<Result<T, Error>>,
}

impl<T> Pending<T> {
    /// The result if it has arrived; never waits.
    pub fn poll(&mut self) -> Option<Result<T, Error>> {
        match self.rx.try_recv() {
            Ok(result) => Some(result),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(Err(Error::ReaderGone)),
        }
    }

    /// Waits for the result (CLI and tests, never the UI thread).
    pub fn wait(self) -> Result<T, Error> {
        self.rx.blocking_recv().unwrap_or(Err(Error::ReaderGone))
    }
}

/// The handle to the reader thread; the thread ends when the handle is dropped.
#[derive(Clone)]
pub struct History {
    jobs: mpsc::Sender<Job>,
    waker: Arc<OnceLock<Waker>>,
    path: Arc<PathBuf>,
}

impl History {
    /// Starts the reader on `path`. The file is opened on first use (and again after a failure), so the reader can
    /// start before the writer has created the file.
    pub fn start(path: PathBuf) -> Result<Self, std::io::Error> {
        Self::start_with_site(path, None)
    }

    /// Like [`History::start`]; with a site database, [`History::run_history`] reads it first (a console of a
    /// control room), and this cache while it cannot.
    pub fn start_with_site(path: PathBuf, site: Option<super::site::SiteTarget>) -> Result<Self, std::io::Error> {
        Self::spawn(path, site, open_live_reader)
    }

    /// A reader of a file nothing writes (a recording, a cache under review): one of an older schema is read
    /// through an upgraded copy (see [`super::open_reader`]).
    pub fn start_reviewing(path: PathBuf) -> Result<Self, std::io::Error> {
        Self::spawn(path, None, open_reader)
    }

    fn spawn(
        path: PathBuf,
        site: Option<super::site::SiteTarget>,
        open: fn(&std::path::Path) -> Result<Connection, Error>,
    ) -> Result<Self, std::io::Error> {
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
        let thread_path = path.clone();
        std::thread::Builder::new().name("wf-store-read".to_owned()).spawn(move || {
            let mut conn: Result<Connection, Error> = Err(Error::Missing { path: thread_path.clone() });
            let mut opened = None;
            let mut site = SiteReader { target: site, conn: None, failed: None };
            while let Some(job) = rx.blocking_recv() {
                // A new cache may have replaced the file (moved aside by "Start a new cache"): follow the path.
                let identity = file_identity(&thread_path);
                if conn.is_err() || identity != opened {
                    conn = open(&thread_path);
                    opened = identity;
                }
                job(&conn, &mut site);
            }
        })?;
        Ok(Self { jobs: tx, waker: Arc::new(OnceLock::new()), path: Arc::new(path) })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Sets what to call when a result is ready (first call wins).
    pub fn set_waker(&self, waker: Waker) {
        // A second waker would be a wiring mistake; the first one stays.
        let _ = self.waker.set(waker);
    }

    /// Runs `f` on the reader's connection; `None` if the reader already has `QUEUE` requests waiting.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    ) -> Option<Pending<T>> {
        let (tx, rx) = oneshot::channel();
        let waker = Arc::clone(&self.waker);
        let path = Arc::clone(&self.path);
        let job: Job = Box::new(move |conn, _| {
            let result = match conn {
                Ok(conn) => in_snapshot(conn, f),
                Err(err) => Err(reopen_error(err, &path)),
            };
            let _ = tx.send(result);
            if let Some(waker) = waker.get() {
                waker();
            }
        });
        self.jobs.try_send(job).ok()?;
        Some(Pending { rx })
    }

    /// Runs `f` on the site database when there is one and it answers, else on this cache; says which.
    pub fn run_history<T: Send + 'static>(
        &self,
        f: impl Fn(&dyn crate::model::history::HistoryRead) -> crate::model::history::HistoryResult<T> + Send + 'static,
    ) -> Option<Pending<(T, HistorySource)>> {
        let path = Arc::clone(&self.path);
        let (tx, rx) = oneshot::channel();
        self.site_first(
            move |h| f(h.as_history()).map_err(|source| Error::History { path: path.to_path_buf(), source }),
            move |result| {
                let _ = tx.send(result);
            },
        )
        .then_some(Pending { rx })
    }

    /// Runs `f` on the site database when there is one and it answers, else on this cache (review on a console).
    pub fn run_backend<T: Send + 'static>(
        &self,
        f: impl Fn(&dyn HistoryBackend) -> Result<T, Error> + Send + 'static,
    ) -> Option<Pending<T>> {
        let (tx, rx) = oneshot::channel();
        self.site_first(f, move |result| {
            let _ = tx.send(result.map(|(t, _)| t));
        })
        .then_some(Pending { rx })
    }

    /// Queues `f` to run on the site database when there is one and it answers (a signal it does not hold is read
    /// from this cache too), else on this cache; `deliver` gets the result and where it was read.
    fn site_first<T: Send + 'static>(
        &self,
        f: impl Fn(&dyn HistoryBackend) -> Result<T, Error> + Send + 'static,
        deliver: impl FnOnce(Result<(T, HistorySource), Error>) + Send + 'static,
    ) -> bool {
        let waker = Arc::clone(&self.waker);
        let path = Arc::clone(&self.path);
        let job: Job = Box::new(move |conn, site| {
            let site_problem = match site.get() {
                Ok(Some(pg)) => match f(pg) {
                    Ok(t) => Some(Ok(Ok((t, HistorySource::Site)))),
                    Err(Error::UnknownSignal(name)) => Some(Err(format!("no signal {name:?} in the site database"))),
                    // A read of the site database failed: the connection is dropped (opened again later) and
                    // this cache answers.
                    Err(err @ Error::History { .. }) => {
                        site.broke(err.to_string());
                        Some(Err(err.to_string()))
                    }
                    // The job's own failure (a file it writes, a cancel): not the database's, so not run again.
                    Err(err) => Some(Ok(Err(err))),
                },
                Ok(None) => None,
                Err(why) => Some(Err(why)),
            };
            let result = match site_problem {
                Some(Ok(Ok(done))) => Ok(done),
                Some(Ok(Err(err))) => Err(err),
                problem => {
                    let site_problem = problem.and_then(Result::err);
                    match conn {
                        Ok(conn) => in_snapshot(conn, |c| f(c)).map(|t| (t, HistorySource::Cache { site_problem })),
                        Err(err) => Err(reopen_error(err, &path)),
                    }
                }
            };
            deliver(result);
            if let Some(waker) = waker.get() {
                waker();
            }
        });
        self.jobs.try_send(job).is_ok()
    }

    /// A range of one signal decimated to `buckets`.
    /// On a console, from the site database (this cache while it cannot be read).
    pub fn series(&self, signal: &str, from_ms: i64, to_ms: i64, buckets: usize) -> Option<Pending<query::Series>> {
        let signal = signal.to_owned();
        let (tx, rx) = oneshot::channel();
        self.site_first(
            move |h| query::series(h.as_series(), &signal, from_ms, to_ms, buckets),
            move |result| {
                let _ = tx.send(result.map(|(series, _)| series));
            },
        )
        .then_some(Pending { rx })
    }

    /// Every stored signal; on a console, the site database's (this cache's while it cannot be read).
    pub fn signals(&self) -> Option<Pending<Vec<SignalInfo>>> {
        let (tx, rx) = oneshot::channel();
        self.site_first(
            move |h| h.as_series().signal_list(),
            move |result| {
                let _ = tx.send(result.map(|(signals, _)| signals));
            },
        )
        .then_some(Pending { rx })
    }

    /// The last value of every signal with its gateway.
    pub fn latest(&self) -> Option<Pending<Vec<(String, Sample)>>> {
        let path = Arc::clone(&self.path);
        self.run(move |conn| query::latest(conn).map_err(|e| Error::Sqlite { path: path.to_path_buf(), source: e }))
    }
}

/// Runs `f` in one read transaction (unless one is open): it reads one snapshot of the file, and SQLite locks the
/// file once instead of once per query — a review seek makes thousands of small queries.
pub fn in_snapshot<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
    if !conn.is_autocommit() {
        return f(conn);
    }
    let Ok(snapshot) = conn.unchecked_transaction() else { return f(conn) };
    let result = f(conn);
    // Nothing was written: ending it cannot lose anything.
    let _ = snapshot.finish();
    result
}

/// What tells one file at `path` from another that replaced it.
#[cfg(unix)]
fn file_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().and_then(|m| m.created().ok()).map(|t| {
        let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        (d.as_secs(), u64::from(d.subsec_nanos()))
    })
}

/// The open error again (errors are not `Clone`), for every request while the file cannot be read.
fn reopen_error(err: &Error, path: &std::path::Path) -> Error {
    match err {
        Error::Missing { path } => Error::Missing { path: path.clone() },
        other => Error::NotACache { path: path.to_owned(), reason: other.to_string() },
    }
}
