//! The writer thread: batches feed events into transactions, keeps rollups, the latest values, gaps and fixes up
//! to date, and prunes by retention between batches.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rusqlite::{Connection, Transaction, params};
use tokio::sync::{mpsc, watch};

use super::recorder::{self, Batching, Fixes, Order, Pending, Sink, evaluate};
use super::rollup::{self, Buckets, Dialect};
use super::schema::{classify, open_writer};
use super::{AlarmView, Error, StoreCommand, StoreOptions, StoreState, StoreStatus, Waker, now_ms};
use crate::model::alarm::{Entry as AlarmEntry, JournalColumns, Limit, Restored};
use crate::model::history::{Evaluator, ZoneCrossing};
use crate::model::{FeedEvent, FeedEventBody, FeedState};
use crate::model::{Quality, Sample, Value, ValueKind};

use crate::model::time::{DAY_MS, MINUTE_MS};
mod alarms;
mod batch;
mod retention;
use alarms::*;
use batch::*;

pub fn quality_code(q: Quality) -> i64 {
    match q {
        Quality::Good => 0,
        Quality::Uncertain => 1,
        Quality::Bad => 2,
    }
}

pub fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Float => "float",
        ValueKind::Int => "int",
        ValueKind::Bool => "bool",
        ValueKind::String => "string",
        ValueKind::Raw => "raw",
    }
}

/// The stored form of a value: a number (numbers and booleans) or a text.
pub(crate) fn columns(value: &Value) -> (Option<f64>, Option<&str>) {
    match value {
        Value::Bool(b) => (Some(if *b { 1.0 } else { 0.0 }), None),
        Value::Str(s) | Value::Raw(s) => (None, Some(s)),
        // Precision: i64 beyond 2^53 loses its low bits as REAL; counters in this field stay far below.
        #[expect(clippy::cast_precision_loss)]
        Value::I64(i) => (Some(*i as f64), None),
        Value::F64(f) => (f.is_finite().then_some(*f), None),
    }
}

#[derive(Clone, Copy)]
struct SignalRow {
    id: i64,
}

struct Writer {
    options: StoreOptions,
    conn: Option<Connection>,
    signals: HashMap<Arc<str>, SignalRow>,
    /// Signals whose gateway is known, for gaps on a gateway going offline.
    by_gateway: HashMap<Arc<str>, Vec<i64>>,
    open_gaps: HashSet<i64>,
    status: StoreStatus,
    status_tx: watch::Sender<StoreStatus>,
    /// Every alarm that is not normal, on a channel of its own.
    alarms_tx: watch::Sender<Arc<Vec<AlarmView>>>,
    waker: Arc<OnceLock<Waker>>,
    last_prune: Option<Instant>,
    prune_more: bool,
    prune_cursor: usize,
    /// Alarms and geofence crossings, evaluated here so every value counts (the window may be closed: `record`).
    evaluator: Box<dyn Evaluator>,
    /// Alarm transitions not yet in the journal (written with the next batch that commits).
    unjournaled: Vec<AlarmEntry>,
    /// Logbook notes not yet in the file, oldest first.
    unwritten_notes: Vec<crate::model::logbook::Note>,
}

/// Runs until the event channel closes (every feed and the bus are gone), then commits what it holds.
pub fn run(
    mut options: StoreOptions,
    events: mpsc::Receiver<Arc<FeedEvent>>,
    commands: mpsc::Receiver<StoreCommand>,
    (status_tx, alarms_tx): (watch::Sender<StoreStatus>, watch::Sender<Arc<Vec<AlarmView>>>),
    waker: Arc<OnceLock<Waker>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
        Ok(rt) => rt,
        Err(err) => {
            tracing::error!("history writer cannot start its timer: {err}");
            return;
        }
    };
    let status = StoreStatus { path: options.path.clone(), ..StoreStatus::default() };
    let evaluator = std::mem::replace(&mut options.evaluator, Box::new(super::NoEvaluation));
    let mut writer = Writer {
        options,
        conn: None,
        signals: HashMap::new(),
        by_gateway: HashMap::new(),
        open_gaps: HashSet::new(),
        status,
        status_tx,
        alarms_tx,
        waker,
        last_prune: None,
        prune_more: true,
        prune_cursor: 0,
        evaluator,
        unjournaled: Vec::new(),
        unwritten_notes: Vec::new(),
    };
    runtime.block_on(recorder::run(&mut writer, events, commands));
}

/// The cache as the recorder's sink.
impl Sink for Writer {
    type Command = StoreCommand;
    type Status = StoreStatus;
    const STOPS_WITHOUT_COMMANDS: bool = false;
    // The clock completes delays, finds silent signals and ends shelves even when nothing arrives.
    const TICK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

    fn batching(&self) -> Batching {
        self.options.batching
    }

    fn order(command: StoreCommand) -> Order<StoreCommand, StoreStatus> {
        match command {
            StoreCommand::Flush(reply) => Order::Flush(reply),
            StoreCommand::Shutdown => Order::Shutdown,
            other => Order::Own(other),
        }
    }

    fn status(&self) -> StoreStatus {
        self.status.clone()
    }

    async fn start(&mut self) {
        self.open();
        self.publish_alarms();
    }

    async fn flush(&mut self, batch: Pending) {
        self.write_pending(batch);
    }

    async fn tick(&mut self) {
        self.tick_alarms();
    }

    async fn command(&mut self, command: StoreCommand, pending: &mut Pending) {
        match command {
            StoreCommand::StartNewCache => {
                self.write_pending(pending.take());
                self.start_new_cache();
            }
            StoreCommand::Note(note) => {
                self.unwritten_notes.push(*note);
                self.write_notes();
            }
            StoreCommand::Alarm(action) => {
                let mut entries = Vec::new();
                self.evaluator.operator(&action, self.options.clock.now_ms(), &mut entries);
                self.journal(&entries);
            }
            #[cfg(test)]
            StoreCommand::TestSetMaxPages(pages) => {
                if let Some(conn) = &self.conn {
                    let _ = conn.pragma_update(None, "max_page_count", pages);
                }
            }
            // Answered by the loop itself.
            StoreCommand::Flush(_) | StoreCommand::Shutdown => {}
        }
    }

    async fn finish(&mut self, rest: Pending) {
        self.write_pending(rest);
        self.close();
    }
}

impl Writer {
    /// Writes the waiting logbook notes in one transaction; on failure they wait for the next batch that commits.
    fn write_notes(&mut self) {
        if self.unwritten_notes.is_empty() {
            return;
        }
        if let Some(conn) = self.conn.as_mut() {
            let result = conn.transaction().and_then(|tx| {
                for note in &self.unwritten_notes {
                    if !super::logbook::insert(&tx, note)? {
                        tracing::debug!(uid = note.uid, "history: the note was already in the logbook");
                    }
                }
                tx.commit()
            });
            match result {
                Ok(()) => {
                    self.status.notes_written += self.unwritten_notes.len() as u64;
                    tracing::info!(notes = self.unwritten_notes.len(), "history: logbook written");
                    self.unwritten_notes.clear();
                }
                Err(err) => tracing::error!("history: cannot write the logbook yet (kept, retried): {err}"),
            }
        }
        self.status.notes_waiting = self.unwritten_notes.len();
        self.publish(true);
    }

    fn publish(&mut self, state_changed: bool) {
        self.status_tx.send_replace(self.status.clone());
        if state_changed {
            self.wake();
        }
    }

    /// Tells the window something changed (it redraws).
    fn wake(&self) {
        if let Some(waker) = self.waker.get() {
            waker();
        }
    }

    fn set_state(&mut self, state: StoreState, message: Option<String>) {
        let changed = self.status.state != state || self.status.message != message;
        if changed {
            match (&message, state) {
                (Some(m), StoreState::Refused | StoreState::Failing) => tracing::error!("history: {m}"),
                (Some(m), _) => tracing::info!("history: {m}"),
                (None, _) => tracing::info!(path = %self.options.path.display(), "history: {}", state.label()),
            }
        }
        self.status.state = state;
        self.status.message = message;
        self.publish(changed);
    }

    fn open(&mut self) {
        match open_writer(&self.options.path).and_then(|conn| {
            open_gaps_after_downtime(&conn);
            self.load_caches(&conn)?;
            restore_alarms(&conn, self.evaluator.as_mut()).map_err(|e| classify(e, &self.options.path))?;
            Ok(conn)
        }) {
            Ok(conn) => {
                self.conn = Some(conn);
                self.status.size_bytes = self.size_bytes().unwrap_or(0);
                self.set_state(StoreState::Recording, None);
            }
            Err(err) => {
                let state = if matches!(err, Error::NotWritable { .. } | Error::DiskFull { .. }) {
                    StoreState::Failing
                } else {
                    StoreState::Refused
                };
                self.set_state(state, Some(err.to_string()));
            }
        }
    }

    fn close(&mut self) {
        self.write_notes();
        for note in &self.unwritten_notes {
            // The file never took it: the log keeps it whole, so it can be written again by hand.
            tracing::error!(
                uid = note.uid,
                author = note.author,
                at = note.from_ms,
                text = note.text,
                "history: a logbook note was not stored"
            );
        }
        if let Some(conn) = self.conn.take() {
            // Folds the WAL back into the file so it is one self-contained file at rest.
            if let Err(err) = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE") {
                tracing::warn!("history: checkpoint at close failed: {err}");
            }
            if let Err((_, err)) = conn.close() {
                tracing::warn!("history: close failed: {err}");
            }
        }
        self.status.state = StoreState::Stopped;
        self.publish(true);
        tracing::info!(
            stored = self.status.stored_samples,
            duplicates = self.status.duplicate_samples,
            lost = self.status.lost_samples,
            "history writer stopped"
        );
    }

    fn load_caches(&mut self, conn: &Connection) -> Result<(), Error> {
        let path = self.options.path.clone();
        let sql = |e| classify(e, &path);
        self.signals.clear();
        self.by_gateway.clear();
        self.open_gaps.clear();
        let mut stmt = conn.prepare("SELECT id, name, gateway FROM signal").map_err(sql)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .map_err(sql)?;
        for row in rows {
            let (id, name, gateway) = row.map_err(sql)?;
            self.signals.insert(Arc::from(name), SignalRow { id });
            self.by_gateway.entry(Arc::from(gateway)).or_default().push(id);
        }
        let mut stmt = conn.prepare("SELECT signal FROM gap WHERE end_ms IS NULL").map_err(sql)?;
        for id in stmt.query_map([], |r| r.get::<_, i64>(0)).map_err(sql)? {
            self.open_gaps.insert(id.map_err(sql)?);
        }
        Ok(())
    }

    fn start_new_cache(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn);
        }
        let path = self.options.path.clone();
        if path.exists() {
            let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
            let aside = path.with_extension(format!("{stamp}.old"));
            match std::fs::rename(&path, &aside) {
                Ok(()) => {
                    tracing::warn!(old = %aside.display(), "history: the old cache was kept and a new one started");
                    for suffix in ["-wal", "-shm"] {
                        let side = Path::new(&format!("{}{suffix}", path.display())).to_owned();
                        if side.exists() {
                            let _ = std::fs::rename(&side, format!("{}{suffix}", aside.display()));
                        }
                    }
                }
                Err(err) => {
                    let message = format!("cannot move {} aside to start a new cache: {err}", path.display());
                    self.set_state(StoreState::Refused, Some(message));
                    return;
                }
            }
        }
        self.open();
    }

    fn size_bytes(&self) -> Option<u64> {
        let conn = self.conn.as_ref()?;
        let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0)).ok()?;
        let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0)).ok()?;
        let size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0)).ok()?;
        u64::try_from((pages - free) * size).ok()
    }

    fn write_pending(&mut self, pending: Pending) {
        if pending.events.is_empty() {
            return;
        }
        let Pending { events, samples, .. } = pending;
        // Alarms are judged on every batch, whether or not the file can take it: a full disk does not silence
        // them. Their journal entries wait (bounded) until a batch commits.
        evaluate(&events, self.evaluator.as_mut(), self.options.clock.now_ms(), &mut self.unjournaled);
        self.publish_alarms();
        if self.conn.is_none() {
            if self.status.state == StoreState::Failing {
                // A failing file (disk full, read-only) is retried with each batch after a pause.
                self.open();
            }
            if self.conn.is_none() {
                self.status.lost_samples += samples as u64;
                self.publish(false);
                return;
            }
        }
        let started = Instant::now();
        let result = self.write_batch(&events);
        match result {
            Ok(counts) => {
                self.status.stored_samples += counts.stored;
                self.status.duplicate_samples += counts.duplicates;
                self.status.batches += 1;
                tracing::debug!(
                    events = events.len(),
                    stored = counts.stored,
                    total = self.status.stored_samples,
                    ms = started.elapsed().as_millis(),
                    "history: batch committed"
                );
                if self.status.state != StoreState::Recording {
                    self.set_state(StoreState::Recording, None);
                }
                self.maybe_prune();
                self.status.size_bytes = self.size_bytes().unwrap_or(self.status.size_bytes);
                self.write_notes();
                self.publish(false);
                self.publish_alarms();
            }
            Err(err) => {
                self.status.lost_samples += samples as u64;
                // The transaction rolled back: cached ids of signals created in it are not in the file.
                if let Some(conn) = self.conn.take() {
                    if let Err(reload) = self.load_caches(&conn) {
                        tracing::warn!("history: {reload}");
                    }
                    self.conn = Some(conn);
                }
                let message = format!("{err}; the live view goes on");
                if matches!(err, Error::NotACache { .. }) {
                    self.conn = None;
                    self.set_state(StoreState::Refused, Some(message));
                } else {
                    if matches!(err, Error::NotWritable { .. }) {
                        // Reopened with the next batch, in case the file became writable again.
                        self.conn = None;
                    }
                    self.set_state(StoreState::Failing, Some(message));
                }
            }
        }
    }

    fn write_batch(&mut self, events: &[Arc<FeedEvent>]) -> Result<BatchCounts, Error> {
        let path = self.options.path.clone();
        let Some(conn) = self.conn.as_mut() else {
            return Err(Error::NotWritable { path, reason: "not open".to_owned() });
        };
        let tx = conn.transaction().map_err(|e| classify(e, &path))?;
        let mut batch = Batch::new();
        batch_events(&tx, events, &mut self.signals, &mut self.by_gateway, &mut self.open_gaps, &mut batch)
            .map_err(|e| classify(e, &path))?;
        store_crossings(&tx, &batch.fixes, self.evaluator.as_mut(), &mut self.unjournaled)
            .map_err(|e| classify(e, &path))?;
        journal_alarms(&tx, &self.unjournaled).map_err(|e| classify(e, &path))?;
        batch.write_derived(&tx).map_err(|e| classify(e, &path))?;
        tx.commit().map_err(|e| classify(e, &path))?;
        self.unjournaled.clear();
        Ok(batch.counts)
    }
}

/// Watchfloor was not recording between its last run and now: every signal's history has a gap after its last
/// stored value, closed by the next sample.
fn open_gaps_after_downtime(conn: &Connection) {
    if let Err(err) = conn.execute(
        "INSERT OR IGNORE INTO gap (signal, start_ms, end_ms)
         SELECT l.signal, l.ts_ms + 1, NULL FROM latest l
         WHERE NOT EXISTS (SELECT 1 FROM gap g WHERE g.signal = l.signal AND g.end_ms IS NULL)",
        [],
    ) {
        tracing::warn!("history: cannot mark the downtime gap: {err}");
    }
}

#[cfg(test)]
#[path = "../tests.rs"]
mod tests;
