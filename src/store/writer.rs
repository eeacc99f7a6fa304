//! The writer thread: batches feed events into transactions, keeps rollups, the latest values, gaps and fixes up
//! to date, and prunes by retention between batches.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rusqlite::{Connection, Transaction, params};
use tokio::sync::{mpsc, watch};

use super::recorder::{self, Batching, Order, Pending, Sink, evaluate};
use super::rollup::{self, Buckets, Dialect};
use super::schema::{classify, open_writer};
use super::{AlarmView, Error, StoreCommand, StoreOptions, StoreState, StoreStatus, Waker, now_ms};
use crate::model::alarm::{Entry as AlarmEntry, JournalColumns, Limit, Restored};
use crate::model::history::{Evaluator, ZoneCrossing};
use crate::model::vehicle::metric;
use crate::model::{FeedEvent, FeedEventBody, FeedState};
use crate::model::{Quality, Sample, Value, ValueKind};

use crate::model::time::{DAY_MS, MINUTE_MS};

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
    status_tx: watch::Sender<StoreStatus>,
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

    fn batching(&self) -> Batching {
        Batching {
            flush_max_samples: self.options.flush_max_samples,
            flush_max_age: self.options.flush_max_age,
            // The clock completes delays, finds silent signals and ends shelves even when nothing arrives.
            tick_every: std::time::Duration::from_secs(1),
        }
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

    /// Journals operator actions in their own transaction, and shows the alarms' new states.
    fn journal(&mut self, entries: &[AlarmEntry]) {
        self.unjournaled.extend_from_slice(entries);
        if !self.unjournaled.is_empty()
            && let Some(conn) = self.conn.as_mut()
        {
            let result = conn.transaction().and_then(|tx| {
                journal_alarms(&tx, &self.unjournaled)?;
                tx.commit()
            });
            match result {
                Ok(()) => self.unjournaled.clear(),
                // Kept for the next batch that commits.
                Err(err) => tracing::error!("history: cannot journal an alarm action yet: {err}"),
            }
        }
        self.publish_alarms();
    }

    /// The clock's turn: delays, silent signals, shelves, and the OEE rules once a minute; what changed is
    /// journaled at once (nothing else may come to carry it).
    fn tick_alarms(&mut self) {
        if !self.evaluator.has_rules() {
            return;
        }
        let mut entries = Vec::new();
        self.evaluator.tick(self.options.clock.now_ms(), &mut entries);
        if !entries.is_empty() {
            self.journal(&entries);
        }
    }

    /// Puts every alarm that is not normal in the status, if that changed.
    fn publish_alarms(&mut self) {
        let views: Vec<AlarmView> = self.evaluator.views();
        if *self.status.alarms != views {
            self.status.alarms = Arc::new(views);
            self.publish(true);
        }
    }

    fn publish(&mut self, state_changed: bool) {
        self.status_tx.send_replace(self.status.clone());
        if state_changed && let Some(waker) = self.waker.get() {
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

    /// Deletes at most one chunk per batch, so ingest never waits for more than one chunk.
    fn maybe_prune(&mut self) {
        let due = self.last_prune.is_none_or(|t| t.elapsed() >= self.options.prune_every);
        if !due && !self.prune_more {
            return;
        }
        if due {
            self.last_prune = Some(Instant::now());
        }
        let size = self.size_bytes().unwrap_or(0);
        let Some(conn) = self.conn.as_mut() else { return };
        match prune_step(conn, &self.options, size, &mut self.prune_cursor) {
            Ok(deleted) => {
                self.status.pruned_rows += deleted as u64;
                self.prune_more = deleted >= self.options.prune_chunk_rows;
                if deleted > 0 {
                    tracing::debug!(deleted, "history: retention pruned");
                    // Hand a bounded number of freed pages back to the file system.
                    if let Err(err) = conn.execute_batch("PRAGMA incremental_vacuum(2000)") {
                        tracing::warn!("history: vacuum failed: {err}");
                    }
                }
            }
            Err(err) => tracing::warn!("history: retention failed: {err}"),
        }
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

/// Puts every alarm back as its last journal entry left it, with the newest stored value of its signal (so
/// replayed older data is not judged again).
fn restore_alarms(conn: &Connection, alarms: &mut dyn Evaluator) -> rusqlite::Result<()> {
    let mut last = conn.prepare(
        "SELECT j.rule, j.source, j.asset, j.active, j.acked, j.lim, j.state, j.shelved_until_ms, j.comment
         FROM alarm_journal j
         JOIN (SELECT rule, source, max(id) AS id FROM alarm_journal GROUP BY rule, source) m ON m.id = j.id",
    )?;
    let rows: Vec<(String, String, String, Restored)> = last
        .query_map([], |r| {
            let restored = Restored::from_journal(JournalColumns {
                active: r.get(3)?,
                acked: r.get(4)?,
                limit: r.get(5)?,
                state: r.get(6)?,
                shelved_until_ms: r.get(7)?,
                comment: r.get(8)?,
            });
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, restored))
        })?
        .collect::<Result<_, _>>()?;
    let mut latest = conn.prepare(
        "SELECT l.ts_ms, l.num FROM latest l JOIN signal s ON s.id = l.signal WHERE s.name = ?1 AND l.num IS NOT NULL",
    )?;
    for (rule, source, asset, restored) in rows {
        let seen: Option<(i64, f64)> =
            latest.query_map([&source], |r| Ok((r.get(0)?, r.get(1)?)))?.next().transpose()?;
        alarms.restore(&rule, &source, &asset, restored, seen);
    }
    Ok(())
}

/// Writes journal entries (a replayed one is already there and is skipped).
fn journal_alarms(tx: &Transaction<'_>, entries: &[AlarmEntry]) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO alarm_journal
             (ts_ms, rule, source, priority, from_state, state, user, comment, value, active, acked, lim, asset, message,
              shelved_until_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    for e in entries {
        let t = &e.transition;
        insert.execute(params![
            t.ts_ms,
            e.rule,
            e.source,
            e.priority.label(),
            t.from.label(),
            t.to.label(),
            t.user,
            t.comment,
            t.value,
            e.active,
            e.acked,
            e.limit.map(Limit::label),
            e.asset,
            e.message,
            e.shelved_until_ms,
        ])?;
    }
    Ok(())
}

/// Runs the batch's new positions through the evaluator's geofences, in time order per vehicle, and stores the
/// crossings as `geofence.enter` / `geofence.exit` events (source: the vehicle, message: the zone).
fn store_crossings(
    tx: &Transaction<'_>,
    fixes: &HashMap<(Arc<str>, i64), HalfFix>,
    evaluator: &mut dyn Evaluator,
    entries: &mut Vec<AlarmEntry>,
) -> rusqlite::Result<()> {
    if !evaluator.has_geofences() || fixes.is_empty() {
        return Ok(());
    }
    let mut ordered: Vec<(&Arc<str>, i64, f64, f64)> =
        fixes.iter().filter_map(|((vehicle, ts), (lat, lon))| Some((vehicle, *ts, (*lat)?, (*lon)?))).collect();
    ordered.sort_unstable_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));
    let mut insert =
        tx.prepare_cached("INSERT OR IGNORE INTO event (ts_ms, kind, source, message) VALUES (?1, ?2, ?3, ?4)")?;
    let mut crossings: Vec<ZoneCrossing> = Vec::new();
    for (vehicle, ts, lat, lon) in ordered {
        evaluator.position(vehicle, (ts, lat, lon), &mut crossings, entries);
        for c in crossings.drain(..) {
            let kind = if c.enter { "geofence.enter" } else { "geofence.exit" };
            insert.execute(params![c.ts_ms, kind, vehicle.as_ref(), c.zone.as_ref()])?;
        }
    }
    Ok(())
}

#[derive(Default, Clone, Copy)]
struct BatchCounts {
    stored: u64,
    duplicates: u64,
}

/// What a batch derives from its samples, written after them in the same transaction.
struct Batch {
    counts: BatchCounts,
    /// The minute buckets of the values it inserted (the hours are made from them).
    rollup_1m: Buckets,
    latest: HashMap<i64, LatestRow>,
    /// Earliest sample per signal with an open gap, which closes that gap.
    gap_closers: HashMap<i64, i64>,
    /// Latitude and longitude seen per vehicle and time; a fix is stored once both are there.
    fixes: HashMap<(Arc<str>, i64), HalfFix>,
}

type HalfFix = (Option<f64>, Option<f64>);

struct LatestRow {
    ts_ms: i64,
    num: Option<f64>,
    text: Option<Arc<str>>,
    quality: i64,
}

fn batch_events(
    tx: &Transaction<'_>,
    events: &[Arc<FeedEvent>],
    signals: &mut HashMap<Arc<str>, SignalRow>,
    by_gateway: &mut HashMap<Arc<str>, Vec<i64>>,
    open_gaps: &mut HashSet<i64>,
    batch: &mut Batch,
) -> rusqlite::Result<()> {
    let mut upsert_signal = tx.prepare_cached(
        "INSERT INTO signal (name, kind, unit, gateway) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, unit = coalesce(excluded.unit, unit),
             gateway = excluded.gateway
         RETURNING id",
    )?;
    let mut insert_sample = tx.prepare_cached(
        "INSERT OR IGNORE INTO sample (signal, ts_ms, num, text, quality) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut open_gap =
        tx.prepare_cached("INSERT OR IGNORE INTO gap (signal, start_ms, end_ms) VALUES (?1, ?2, NULL)")?;
    let mut insert_event =
        tx.prepare_cached("INSERT OR IGNORE INTO event (ts_ms, kind, source, message) VALUES (?1, ?2, ?3, ?4)")?;

    for event in events {
        let gateway = &event.gateway;
        match &event.body {
            FeedEventBody::Birth(metas) => {
                for meta in metas {
                    let id: i64 = upsert_signal.query_row(
                        params![meta.id.as_str(), kind_name(meta.kind), meta.unit.as_deref(), gateway.as_ref()],
                        |r| r.get(0),
                    )?;
                    if signals.insert(Arc::from(meta.id.as_str()), SignalRow { id }).is_none() {
                        by_gateway.entry(Arc::clone(gateway)).or_default().push(id);
                    }
                }
            }
            FeedEventBody::Samples(samples) => {
                for sample in samples {
                    let id = match signals.get(sample.signal.as_str()) {
                        Some(row) => row.id,
                        None => {
                            // A signal never announced: stored with the kind of its first value and no unit.
                            let id: i64 = upsert_signal.query_row(
                                params![
                                    sample.signal.as_str(),
                                    kind_name(sample.value.kind()),
                                    Option::<&str>::None,
                                    gateway.as_ref()
                                ],
                                |r| r.get(0),
                            )?;
                            signals.insert(Arc::from(sample.signal.as_str()), SignalRow { id });
                            by_gateway.entry(Arc::clone(gateway)).or_default().push(id);
                            id
                        }
                    };
                    let (num, text) = columns(&sample.value);
                    let quality = quality_code(sample.quality);
                    let inserted = insert_sample.execute(params![id, sample.ts_ms, num, text, quality])? == 1;
                    if inserted {
                        batch.counts.stored += 1;
                        batch.add(id, sample, num, quality, open_gaps);
                    } else {
                        batch.counts.duplicates += 1;
                    }
                }
            }
            FeedEventBody::Stale { prefix } => {
                for (name, row) in signals.iter() {
                    if name.starts_with(prefix.as_str()) && open_gaps.insert(row.id) {
                        open_gap.execute(params![row.id, event.received_ms])?;
                    }
                }
                insert_event.execute(params![event.received_ms, "feed.stale", gateway.as_ref(), prefix])?;
            }
            FeedEventBody::Status(status) => {
                let message = match &status.message {
                    Some(m) => format!("{}: {m}", status.state.label()),
                    None => status.state.label().to_owned(),
                };
                insert_event.execute(params![event.received_ms, "feed.status", gateway.as_ref(), message])?;
                if matches!(status.state, FeedState::Offline | FeedState::Error) {
                    for id in by_gateway.get(gateway).map(Vec::as_slice).unwrap_or_default() {
                        if open_gaps.insert(*id) {
                            open_gap.execute(params![id, event.received_ms])?;
                        }
                    }
                }
            }
            FeedEventBody::Rejected { reason } => {
                insert_event.execute(params![event.received_ms, "feed.rejected", gateway.as_ref(), reason])?;
            }
        }
    }
    Ok(())
}

impl Batch {
    fn new() -> Self {
        Self {
            counts: BatchCounts::default(),
            rollup_1m: Buckets::new(MINUTE_MS),
            latest: HashMap::new(),
            gap_closers: HashMap::new(),
            fixes: HashMap::new(),
        }
    }

    fn add(&mut self, id: i64, sample: &Sample, num: Option<f64>, quality: i64, open_gaps: &HashSet<i64>) {
        // Bad values are kept raw and shown as bad, but do not enter the statistics.
        if let Some(v) = num
            && sample.quality != Quality::Bad
        {
            self.rollup_1m.add(id, sample.ts_ms, v);
        }
        if !sample.historical {
            let newer = self.latest.get(&id).is_none_or(|l| sample.ts_ms >= l.ts_ms);
            if newer {
                let text = sample.value.as_str().map(Arc::from);
                self.latest.insert(id, LatestRow { ts_ms: sample.ts_ms, num, text, quality });
            }
        }
        if open_gaps.contains(&id) {
            let closer = self.gap_closers.entry(id).or_insert(sample.ts_ms);
            *closer = (*closer).min(sample.ts_ms);
        }
        if let Some((vehicle, m)) = sample.signal.split_known_metric(&[metric::LATITUDE, metric::LONGITUDE])
            && let Some(v) = num
        {
            let entry = self.fixes.entry((Arc::from(vehicle), sample.ts_ms)).or_default();
            if m == metric::LATITUDE {
                entry.0 = Some(v);
            } else {
                entry.1 = Some(v);
            }
        }
    }

    fn write_derived(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        for (table, buckets) in self.rollup_1m.tiers() {
            let mut upsert = tx.prepare_cached(&format!(
                "INSERT INTO {table} ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) {}",
                rollup::COLUMNS,
                rollup::merge_on_conflict(Dialect::Sqlite, table)
            ))?;
            for (&(id, start), a) in &buckets.by_key {
                upsert.execute(params![
                    id, start, a.min, a.max, a.sum, a.count, a.first_ms, a.first, a.last_ms, a.last
                ])?;
            }
        }
        let mut latest = tx.prepare_cached(
            "INSERT INTO latest (signal, ts_ms, num, text, quality) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (signal) DO UPDATE SET ts_ms = excluded.ts_ms, num = excluded.num, text = excluded.text,
                 quality = excluded.quality
             WHERE excluded.ts_ms >= latest.ts_ms",
        )?;
        for (id, l) in &self.latest {
            latest.execute(params![id, l.ts_ms, l.num, l.text.as_deref(), l.quality])?;
        }
        let mut close_gap =
            tx.prepare_cached("UPDATE gap SET end_ms = ?2 WHERE signal = ?1 AND end_ms IS NULL AND start_ms <= ?2")?;
        for (id, ts) in &self.gap_closers {
            close_gap.execute(params![id, ts])?;
        }
        let mut fix =
            tx.prepare_cached("INSERT OR IGNORE INTO fix (vehicle, ts_ms, lat_deg, lon_deg) VALUES (?1, ?2, ?3, ?4)")?;
        for ((vehicle, ts), (lat, lon)) in &self.fixes {
            if let (Some(lat), Some(lon)) = (lat, lon) {
                fix.execute(params![vehicle.as_ref(), ts, lat, lon])?;
            }
        }
        Ok(())
    }
}

/// One retention step: deletes at most `options.prune_chunk_rows` rows past their tier's age, or the oldest rows when
/// the file is over its size cap. Returns how many rows went.
fn prune_step(
    conn: &mut Connection,
    options: &StoreOptions,
    size_bytes: u64,
    cursor: &mut usize,
) -> rusqlite::Result<usize> {
    // Ages count back from the newest data, not from the wall clock: a laptop that was off for two months keeps the
    // history it has, and a recording from a sped-up simulator is not pruned by real time. A clock far in the future
    // cannot wipe the cache: the newest data counts as at most a day ahead of the wall clock.
    let wall = now_ms();
    let newest: Option<i64> = conn.query_row("SELECT max(ts_ms) FROM latest", [], |r| r.get(0))?;
    let now = newest.map_or(wall, |n| n.min(wall + DAY_MS));
    let r = options.retention;
    let cutoff = |days: u32| (days > 0).then(|| now - i64::from(days) * DAY_MS);
    let mut raw_cut = cutoff(r.raw_days);
    let mut m1_cut = cutoff(r.rollup_1m_days);
    let mut h1_cut = cutoff(r.rollup_1h_days);
    let tx = conn.transaction()?;
    if r.max_size_bytes > 0 && size_bytes > r.max_size_bytes {
        // Over the cap: a day past the oldest data of the finest tier that still has any.
        let oldest = |table: &str, col: &str| -> rusqlite::Result<Option<i64>> {
            tx.query_row(
                &format!("SELECT min((SELECT min({col}) FROM {table} t WHERE t.signal = s.id)) FROM signal s"),
                [],
                |row| row.get(0),
            )
        };
        if let Some(t) = oldest("sample", "ts_ms")? {
            raw_cut = Some(raw_cut.unwrap_or(i64::MIN).max(t + DAY_MS));
        } else if let Some(t) = oldest("rollup_1m", "start_ms")? {
            m1_cut = Some(m1_cut.unwrap_or(i64::MIN).max(t + 7 * DAY_MS));
        } else if let Some(t) = oldest("rollup_1h", "start_ms")? {
            h1_cut = Some(h1_cut.unwrap_or(i64::MIN).max(t + 30 * DAY_MS));
        }
        tracing::warn!(size_bytes, cap = r.max_size_bytes, "history: over the size cap; removing the oldest data");
    }
    let ids: Vec<i64> = {
        let mut stmt = tx.prepare_cached("SELECT id FROM signal ORDER BY id")?;
        stmt.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?
    };
    let budget = options.prune_chunk_rows;
    let mut deleted = 0;
    let tiers = [("sample", "ts_ms", raw_cut), ("rollup_1m", "start_ms", m1_cut), ("rollup_1h", "start_ms", h1_cut)];
    for (table, col, cut) in tiers {
        let Some(cut) = cut else { continue };
        let mut stmt = tx.prepare_cached(&format!(
            "DELETE FROM {table} WHERE signal = ?1 AND {col} < min(?2, coalesce(
                 (SELECT {col} FROM {table} WHERE signal = ?1 ORDER BY {col} LIMIT 1 OFFSET ?3), ?2))"
        ))?;
        for step in 0..ids.len() {
            if deleted >= budget {
                break;
            }
            let id = ids[(*cursor + step) % ids.len()];
            let left = i64::try_from(budget - deleted).unwrap_or(i64::MAX);
            deleted += stmt.execute(params![id, cut, left])?;
        }
    }
    if let Some(cut) = m1_cut.or(raw_cut) {
        // Gaps are kept as long as the finest rollups they describe.
        deleted += tx.execute("DELETE FROM gap WHERE end_ms IS NOT NULL AND end_ms < ?1", [cut])?;
    }
    if let Some(cut) = raw_cut {
        deleted += tx.execute("DELETE FROM fix WHERE ts_ms < ?1", [cut])?;
        deleted += tx.execute("DELETE FROM event WHERE ts_ms < ?1", [cut])?;
    }
    tx.commit()?;
    *cursor = cursor.wrapping_add(1);
    Ok(deleted)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
