//! The local history cache: one SQLite file per data dir, written by one thread, read by another.
//!
//! - [`Store`] is the writer: a lossless consumer of the feed events (see [`crate::feeds::EventBus`]) on a named
//!   thread that owns the only writing connection. Events are batched into one transaction, flushed when
//!   [`recorder::Batching::flush_max_samples`] are pending or the oldest is
//!   [`recorder::Batching::flush_max_age`] old. Inserts
//!   are idempotent on natural keys, rollups (1 min, 1 h) are merged in the same transaction, and retention prunes a
//!   bounded chunk between batches. A file that cannot be used never stops the live view: the writer keeps draining
//!   events, counts what it could not store, and reports it in [`StoreStatus`]; the alarms it judges go out on a
//!   channel of their own ([`Store::alarms`]). Its loop is the one [`recorder`] loop the site database's writer
//!   runs too, with the same [`rollup`] aggregation.
//! - [`History`] is the reader: queries run on their own thread and come back as [`Pending`] results the UI polls.
//! - [`query`] holds the read functions themselves (used by the reader thread, the CLI and the benchmark).

mod read_sqlite;
mod reader;
pub mod recorder;
pub mod rollup;
mod schema;
mod writer;

pub mod export;
pub mod journal;
pub mod logbook;
pub mod query;
pub mod site;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::model::FeedEvent;
use crate::model::alarm::{Entry, Restored};
use crate::model::history::{Evaluator, OperatorAction, ZoneCrossing};

pub use reader::{History, HistoryBackend, HistorySource, Pending, in_snapshot};
pub use schema::{APPLICATION_ID, migrations, open_live_reader, open_owned, open_reader, open_writer, schema_version};

/// The cache file's name inside the data dir.
pub const CACHE_FILE_NAME: &str = "history.sqlite";

/// Called when the store's state changes, e.g. to ask egui for a repaint.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: no such history cache")]
    Missing { path: PathBuf },
    #[error("{path} cannot be used as a history cache: {reason}")]
    NotACache { path: PathBuf, reason: String },
    #[error("{path}: the disk is full; new history is not being stored")]
    DiskFull { path: PathBuf },
    #[error("{path} cannot be written: {reason}")]
    NotWritable { path: PathBuf, reason: String },
    #[error("{path}: cannot upgrade the cache: {reason}")]
    Migration { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: {source}")]
    History {
        path: PathBuf,
        #[source]
        source: crate::model::history::HistoryError,
    },
    #[error("no signal {0:?} in the history cache")]
    UnknownSignal(String),
    #[error("the history reader has stopped")]
    ReaderGone,
}

/// How long each tier is kept, and how large the file may grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Raw samples, days; 0 keeps them forever.
    pub raw_days: u32,
    /// One-minute rollups, days; 0 keeps them forever.
    pub rollup_1m_days: u32,
    /// One-hour rollups, days; 0 keeps them forever.
    pub rollup_1h_days: u32,
    /// Size cap in bytes (0: none). Over it, the oldest raw data goes first, then the oldest rollups.
    pub max_size_bytes: u64,
}

impl Retention {
    /// Nothing is ever removed (benchmarks and tools that write old data on purpose).
    pub const KEEP_ALL: Self = Self { raw_days: 0, rollup_1m_days: 0, rollup_1h_days: 0, max_size_bytes: 0 };
}

impl Default for Retention {
    fn default() -> Self {
        Self { raw_days: 30, rollup_1m_days: 365, rollup_1h_days: 0, max_size_bytes: 20 * 1024 * 1024 * 1024 }
    }
}

/// How the writer batches and prunes.
pub struct StoreOptions {
    pub path: PathBuf,
    pub retention: Retention,
    /// When a batch is written.
    pub batching: recorder::Batching,
    /// How often retention runs (each run deletes at most [`StoreOptions::prune_chunk_rows`] per batch).
    pub prune_every: Duration,
    pub prune_chunk_rows: usize,
    /// What is evaluated on every stored value: alarms (their transitions journaled in `alarm_journal`) and
    /// geofence crossings (stored as events). By default nothing.
    pub evaluator: Box<dyn Evaluator>,
    /// "Now" for the evaluator's clock (delays, silent signals, shelves) and operator actions: the app's clock, so
    /// a sped-up simulator's alarms run on simulated time. The wall clock by default.
    pub clock: Arc<dyn crate::clock::Clock>,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("path", &self.path)
            .field("retention", &self.retention)
            .field("batching", &self.batching)
            .finish_non_exhaustive()
    }
}

/// An [`Evaluator`] without rules or zones: values are stored, nothing is derived.
pub struct NoEvaluation;

impl Evaluator for NoEvaluation {
    fn has_rules(&self) -> bool {
        false
    }
    fn restore(&mut self, _: &str, _: &str, _: &str, _: Restored, _: Option<(i64, f64)>) {}
    fn sample(&mut self, _: &crate::model::Sample, _: i64, _: &mut Vec<Entry>) {}
    fn gateway(&mut self, _: &str, _: bool, _: i64, _: &mut Vec<Entry>) {}
    fn node_death(&mut self, _: &str, _: i64, _: &mut Vec<Entry>) {}
    fn has_geofences(&self) -> bool {
        false
    }
    fn position(&mut self, _: &str, _: (i64, f64, f64), _: &mut Vec<ZoneCrossing>, _: &mut Vec<Entry>) {}
    fn tick(&mut self, _: i64, _: &mut Vec<Entry>) {}
    fn operator(&mut self, _: &OperatorAction, _: i64, _: &mut Vec<Entry>) {}
    fn views(&self) -> Vec<AlarmView> {
        Vec::new()
    }
}

impl StoreOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            retention: Retention::default(),
            batching: recorder::Batching::default(),
            prune_every: Duration::from_secs(60),
            prune_chunk_rows: 50_000,
            evaluator: Box::new(NoEvaluation),
            clock: Arc::new(crate::clock::SystemClock),
        }
    }
}

/// What the writer is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StoreState {
    #[default]
    Opening,
    /// Storing every event.
    Recording,
    /// The file was refused at open (corrupt, foreign, newer schema); nothing is stored until a new cache is
    /// started. The file is left as it is.
    Refused,
    /// Writes are failing (disk full, read-only); retried with every batch.
    Failing,
    Stopped,
}

impl StoreState {
    pub fn label(self) -> &'static str {
        match self {
            Self::Opening => "Opening",
            Self::Recording => "Recording",
            Self::Refused => "Refused",
            Self::Failing => "Not storing",
            Self::Stopped => "Stopped",
        }
    }
}

/// The writer's state and counters, published after every batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreStatus {
    pub state: StoreState,
    pub path: PathBuf,
    /// Why the state is not `Recording`.
    pub message: Option<String>,
    /// New sample rows written.
    pub stored_samples: u64,
    /// Samples already in the cache (replays, backfills) that were skipped.
    pub duplicate_samples: u64,
    /// Samples that could not be stored (refused file, disk full, read-only).
    pub lost_samples: u64,
    pub batches: u64,
    /// Rows removed by retention.
    pub pruned_rows: u64,
    /// File size in bytes as of the last batch (pages in use).
    pub size_bytes: u64,
    /// Logbook notes committed since the writer started (a reader re-reads the logbook when it changes).
    pub notes_written: u64,
    /// Logbook notes waiting for the file to take them (disk full, read-only): none are dropped.
    pub notes_waiting: usize,
}

pub use crate::model::alarm::AlarmView;

/// Asks the writer for something.
#[derive(Debug)]
pub enum StoreCommand {
    /// Commit everything received so far, then answer.
    Flush(oneshot::Sender<StoreStatus>),
    /// Move the current file aside (it is kept, renamed `<name>.<time>.old`) and start a new, empty cache.
    StartNewCache,
    /// Commit what is queued and stop, even if feeds still hold the bus.
    Shutdown,
    /// An operator acknowledges, shelves, unshelves or takes alarms out of service; journaled with the user.
    Alarm(OperatorAction),
    /// A logbook note (or handover) to keep; kept and retried while the file cannot take it.
    Note(Box<crate::model::logbook::Note>),
    /// Sets `PRAGMA max_page_count` on the writer's connection, to make a full disk in tests.
    #[cfg(test)]
    TestSetMaxPages(i64),
}

/// The writer thread's handle. Dropping it does not stop the thread; call [`Store::finish`].
pub struct Store {
    commands: mpsc::Sender<StoreCommand>,
    status: watch::Receiver<StoreStatus>,
    alarms: watch::Receiver<Arc<Vec<AlarmView>>>,
    waker: Arc<OnceLock<Waker>>,
    thread: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
}

impl Store {
    /// Opens the cache and starts the writer thread on `events`. Never fails: a file that cannot be used is
    /// reported in [`Store::status`] and the events are drained (and counted) so feeds never stall.
    pub fn start(options: StoreOptions, events: mpsc::Receiver<Arc<FeedEvent>>) -> Result<Self, std::io::Error> {
        let (command_tx, command_rx) = mpsc::channel(16);
        let path = options.path.clone();
        let (status_tx, status_rx) = watch::channel(StoreStatus { path: path.clone(), ..StoreStatus::default() });
        let (alarms_tx, alarms_rx) = watch::channel(Arc::default());
        let waker: Arc<OnceLock<Waker>> = Arc::new(OnceLock::new());
        let thread_waker = Arc::clone(&waker);
        let thread = std::thread::Builder::new().name("wf-store-write".to_owned()).spawn(move || {
            writer::run(options, events, command_rx, (status_tx, alarms_tx), thread_waker);
        })?;
        let store =
            Self { commands: command_tx, status: status_rx, alarms: alarms_rx, waker, thread: Some(thread), path };
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets what to call when the state changes (first call wins).
    pub fn set_waker(&self, waker: Waker) {
        // A second waker would be a wiring mistake; the first one stays.
        let _ = self.waker.set(waker);
    }

    /// The latest status (cheap: a clone of the last published value).
    pub fn status(&self) -> StoreStatus {
        self.status.borrow().clone()
    }

    /// Every alarm that is not normal, as of the last batch, operator action or tick of the writer's clock.
    pub fn alarms(&self) -> Arc<Vec<AlarmView>> {
        Arc::clone(&self.alarms.borrow())
    }

    /// What the UI needs of the writer: its status, its alarms and a way to send it commands.
    pub fn link(&self) -> StoreLink {
        StoreLink { commands: self.commands.clone(), status: self.status.clone(), alarms: self.alarms.clone() }
    }

    /// Sends a command without waiting; `false` if the writer is gone or busy.
    pub fn send(&self, command: StoreCommand) -> bool {
        self.commands.try_send(command).is_ok()
    }

    /// Waits until everything received so far is committed.
    pub async fn flush(&self) -> Option<StoreStatus> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(StoreCommand::Flush(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Like [`Store::flush`], for threads outside the runtime (CLI, tests). Never call it on the UI thread.
    pub fn flush_blocking(&self) -> Option<StoreStatus> {
        let (tx, rx) = oneshot::channel();
        self.commands.blocking_send(StoreCommand::Flush(tx)).ok()?;
        rx.blocking_recv().ok()
    }

    /// Stops the writer after it has committed everything queued, and waits for it. Returns the final status.
    pub fn finish(mut self) -> StoreStatus {
        // A full command queue or a gone writer both end in the join below.
        let _ = self.commands.try_send(StoreCommand::Shutdown);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the history writer thread panicked");
        }
        self.status.borrow().clone()
    }
}

/// The UI's view of the writer.
#[derive(Clone)]
pub struct StoreLink {
    commands: mpsc::Sender<StoreCommand>,
    status: watch::Receiver<StoreStatus>,
    alarms: watch::Receiver<Arc<Vec<AlarmView>>>,
}

impl StoreLink {
    /// The latest status; cheap enough for every frame.
    pub fn status(&self) -> StoreStatus {
        self.status.borrow().clone()
    }

    /// Every alarm that is not normal (the writer's alarm channel); cheap enough for every frame.
    pub fn alarms(&self) -> Arc<Vec<AlarmView>> {
        Arc::clone(&self.alarms.borrow())
    }

    /// Sends a command without waiting; `false` if the writer is gone or busy.
    pub fn send(&self, command: StoreCommand) -> bool {
        self.commands.try_send(command).is_ok()
    }
}

/// The current wall time in UTC milliseconds, for retention cut-offs.
fn now_ms() -> i64 {
    crate::clock::wall_now_ms()
}
