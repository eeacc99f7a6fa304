//! The site recorder's writer thread: the feed events, batched as the cache's writer batches them, written to the
//! site's PostgreSQL with binary COPY into staging tables and idempotent inserts (a replayed batch, or the overlap
//! after a failover, inserts nothing twice; the rollups are made from the rows actually inserted, so they stay equal
//! to the raw data).
//!
//! Leader and standby: of the recorders of one site, the one holding the site's advisory lock writes and evaluates
//! alarms. The others keep the last [`SiteOptions::standby_keep`] of the stream and try the lock every second; the
//! lock is released the moment the leader's session ends (its process killed included), and the new leader writes
//! what it kept first, so the leader's last unwritten batches are not lost. While the database is unreachable the
//! writer keeps what it could not write (at most [`SiteOptions::buffer_max_samples`]) and reconnects with back-off.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Transaction};

use super::schema;
use super::{SiteError, SiteRole, SiteStatus, SiteTarget, alarms, lock_key};
use crate::model::ValueKind;
use crate::model::alarm::{Entry as AlarmEntry, JournalColumns, Limit, Restored};
use crate::model::history::{Evaluator, ZoneCrossing};
use crate::model::time::{DAY_MS, MINUTE_MS};
use crate::model::{FeedEvent, FeedEventBody, FeedState};
use crate::store::recorder::{self, Batching, Fixes, Order, Pending, Sink, evaluate};
use crate::store::rollup::{self, Dialect};
mod copy;
mod journal;
mod lead;
mod spill;
use copy::*;
use journal::*;
use lead::*;
use spill::*;

/// How the site writer batches, buffers and takes over.
pub struct SiteOptions {
    pub target: SiteTarget,
    /// The site's name: recorders of one site share one leader lock.
    pub site: String,
    /// When a batch is written.
    pub batching: Batching,
    /// Samples kept while the database cannot take them; beyond this the oldest batches go (and are counted).
    pub buffer_max_samples: usize,
    /// How much of the stream a standby keeps, to write it when it takes over.
    pub standby_keep: Duration,
    /// Days of raw samples, fixes and events kept (whole day partitions are dropped); 0 keeps everything.
    pub raw_days: u32,
    /// Alarms and geofence crossings, evaluated by the leader.
    pub evaluator: Box<dyn Evaluator>,
    /// "Now" for the evaluator's clock (the app's clock; the wall clock by default).
    pub clock: Arc<dyn crate::clock::Clock>,
    /// The recorder's own cache, which stores everything it receives: when the buffer is full the oldest batches
    /// are not dropped but read back from it once the database is back (the time ranges still to write are kept
    /// on disk beside it, so a restart does not forget them). `None` drops them (and counts them).
    pub cache: Option<std::path::PathBuf>,
}

impl SiteOptions {
    pub fn new(target: SiteTarget, site: impl Into<String>) -> Self {
        Self {
            target,
            site: site.into(),
            batching: Batching::default(),
            buffer_max_samples: 2_000_000,
            standby_keep: Duration::from_secs(30),
            raw_days: 90,
            evaluator: Box::new(crate::store::NoEvaluation),
            clock: Arc::new(crate::clock::SystemClock),
            cache: None,
        }
    }
}

pub(super) enum SiteCommand {
    Flush(oneshot::Sender<SiteStatus>),
    Shutdown,
}

/// Events not yet in the database.
struct Queued {
    events: Vec<Arc<FeedEvent>>,
    samples: usize,
    at: Instant,
    /// Whether the evaluator has seen them (a retried batch is not judged twice).
    evaluated: bool,
}

struct Writer {
    options: SiteOptions,
    key: i64,
    client: Option<Client>,
    status: SiteStatus,
    status_tx: watch::Sender<SiteStatus>,
    queue: VecDeque<Queued>,
    next_attempt: Instant,
    backoff: Duration,
    signals: HashMap<Arc<str>, i64>,
    by_gateway: HashMap<Arc<str>, Vec<i64>>,
    partitions: HashSet<(&'static str, i64)>,
    unjournaled: Vec<AlarmEntry>,
    last_retention: Option<Instant>,
    /// The newest `alarm_state` change the evaluator has taken over (consoles' actions are read from after it).
    alarm_seq: i64,
    /// Sample time ranges `[from, to)` the database still lacks, to read back from the cache.
    spilled: Vec<(i64, i64)>,
    /// When the leader last wrote its heartbeat.
    last_beat: Option<Instant>,
}

const MAX_BACKOFF: Duration = Duration::from_secs(10);

pub(super) async fn run(
    options: SiteOptions,
    events: mpsc::Receiver<Arc<FeedEvent>>,
    commands: mpsc::Receiver<SiteCommand>,
    status_tx: watch::Sender<SiteStatus>,
) {
    let key = lock_key(&options.site);
    let status = SiteStatus { url: options.target.display_url(), ..SiteStatus::default() };
    let mut w = Writer {
        options,
        key,
        client: None,
        status,
        status_tx,
        queue: VecDeque::new(),
        next_attempt: Instant::now(),
        backoff: Duration::from_millis(250),
        signals: HashMap::new(),
        by_gateway: HashMap::new(),
        partitions: HashSet::new(),
        unjournaled: Vec::new(),
        last_retention: None,
        alarm_seq: 0,
        spilled: Vec::new(),
        last_beat: None,
    };
    recorder::run(&mut w, events, commands).await;
}

/// The site database as the recorder's sink.
impl Sink for Writer {
    type Command = SiteCommand;
    type Status = SiteStatus;
    const STOPS_WITHOUT_COMMANDS: bool = true;
    const TICK_EVERY: Duration = Duration::from_millis(500);

    fn batching(&self) -> Batching {
        self.options.batching
    }

    fn order(command: SiteCommand) -> Order<SiteCommand, SiteStatus> {
        match command {
            SiteCommand::Flush(reply) => Order::Flush(reply),
            SiteCommand::Shutdown => Order::Shutdown,
        }
    }

    fn status(&self) -> SiteStatus {
        self.status.clone()
    }

    async fn start(&mut self) {
        self.spilled = self.options.cache.as_deref().map(load_spilled).unwrap_or_default();
        if !self.spilled.is_empty() {
            tracing::info!(
                ranges = self.spilled.len(),
                "site database: ranges from an earlier run still to write from the cache"
            );
        }
        self.tick().await;
    }

    async fn flush(&mut self, batch: Pending) {
        self.queue_and_write(batch.events, batch.samples).await;
    }

    async fn tick(&mut self) {
        self.tick().await;
    }

    async fn command(&mut self, _: SiteCommand, _: &mut Pending) {}

    async fn finish(&mut self, rest: Pending) {
        self.queue_and_write(rest.events, rest.samples).await;
        // What could not be written is in the cache (the recorder's store commits it as it stops): the next run
        // writes it from there.
        if self.status.role != SiteRole::Standby && self.options.cache.is_some() {
            while let Some(gone) = self.queue.pop_front() {
                self.spill(&gone);
            }
        }
        if self.status.role == SiteRole::Leader
            && let Some(client) = &self.client
            && let Err(err) = alarms::resign(client, &self.options.site, &leader_name()).await
        {
            tracing::debug!("site database: the heartbeat row stays until it is stale: {err}");
        }
        self.status.role = SiteRole::Stopped;
        self.publish();
        tracing::info!(
            stored = self.status.stored_samples,
            duplicates = self.status.duplicate_samples,
            unwritten = self.status.buffered_samples,
            "site writer stopped"
        );
    }
}

impl Writer {
    fn publish(&mut self) {
        self.status.buffered_samples = self.queue.iter().map(|q| q.samples as u64).sum();
        self.status_tx.send_replace(self.status.clone());
    }

    fn set_role(&mut self, role: SiteRole, message: Option<String>) {
        if self.status.role != role || self.status.message != message {
            match (&message, role) {
                (Some(m), SiteRole::Error) => tracing::error!("site database: {m}"),
                (Some(m), _) => tracing::warn!("site database: {m}"),
                (None, _) => tracing::info!(url = %self.status.url, "site database: {}", role.label()),
            }
        }
        self.status.role = role;
        self.status.message = message;
        self.publish();
    }

    /// Queues a batch and writes what it can.
    async fn queue_and_write(&mut self, events: Vec<Arc<FeedEvent>>, samples: usize) {
        if !events.is_empty() {
            self.queue.push_back(Queued { events, samples, at: Instant::now(), evaluated: false });
        }
        if self.status.role == SiteRole::Leader {
            self.write_queue().await;
        }
        self.trim();
        self.publish();
    }

    /// A standby keeps only the recent stream; a writer that cannot write keeps at most its buffer.
    fn trim(&mut self) {
        match self.status.role {
            SiteRole::Leader => {}
            SiteRole::Standby => {
                let keep = self.options.standby_keep;
                while self.queue.front().is_some_and(|q| q.at.elapsed() > keep) {
                    self.queue.pop_front();
                }
            }
            _ => {
                let mut held: usize = self.queue.iter().map(|q| q.samples).sum();
                while held > self.options.buffer_max_samples {
                    let Some(gone) = self.queue.pop_front() else { break };
                    held -= gone.samples;
                    if self.options.cache.is_some() {
                        self.spill(&gone);
                    } else {
                        self.status.dropped_samples += gone.samples as u64;
                        tracing::error!(
                            samples = gone.samples,
                            "site database: buffer full; the oldest batch is dropped"
                        );
                    }
                }
            }
        }
    }

    /// Connects, takes the lead when it can, and does the leader's timed work.
    async fn tick(&mut self) {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.lost("the connection closed");
        }
        if self.client.is_none() {
            if Instant::now() < self.next_attempt {
                return;
            }
            match self.connect().await {
                Ok(client) => {
                    self.client = Some(client);
                    self.backoff = Duration::from_millis(250);
                    self.set_role(SiteRole::Standby, None);
                }
                Err(err) => {
                    let retry = if matches!(err, SiteError::NewerSchema { .. } | SiteError::Foreign { .. }) {
                        Duration::from_secs(30)
                    } else {
                        self.backoff
                    };
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    self.next_attempt = Instant::now() + retry;
                    self.set_role(SiteRole::Error, Some(err.to_string()));
                    self.trim();
                    return;
                }
            }
        }
        if self.status.role != SiteRole::Leader {
            match self.try_lead().await {
                Ok(true) => {
                    self.status.takeovers += 1;
                    self.set_role(SiteRole::Leader, None);
                    self.write_queue().await;
                }
                Ok(false) => {
                    if self.status.role != SiteRole::Standby {
                        self.set_role(SiteRole::Standby, None);
                    }
                    self.trim();
                    self.publish();
                }
                Err(err) => self.lost(&err.to_string()),
            }
            return;
        }
        if self.last_beat.is_none_or(|t| t.elapsed() >= Duration::from_secs(2))
            && let Some(client) = &self.client
        {
            self.last_beat = Some(Instant::now());
            if let Err(err) = alarms::beat(client, &self.options.site, &leader_name()).await {
                tracing::warn!("site database: the leader's heartbeat failed: {err}");
            }
        }
        let mut entries = Vec::new();
        self.options.evaluator.tick(self.options.clock.now_ms(), &mut entries);
        self.unjournaled.extend(entries);
        if !self.unjournaled.is_empty() || !self.queue.is_empty() {
            self.write_queue().await;
        }
        if self.queue.is_empty() && !self.spilled.is_empty() {
            self.catch_up(Duration::from_millis(300)).await;
        }
        if self.last_retention.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
            self.last_retention = Some(Instant::now());
            if let Err(err) = self.retention().await {
                tracing::warn!("site database: retention failed: {err}");
            }
        }
    }

    fn lost(&mut self, why: &str) {
        self.client = None;
        self.last_beat = None;
        self.signals.clear();
        self.by_gateway.clear();
        self.partitions.clear();
        self.next_attempt = Instant::now() + self.backoff;
        self.set_role(SiteRole::Connecting, Some(format!("{why}; reconnecting, what arrives is kept")));
    }

    async fn connect(&mut self) -> Result<Client, SiteError> {
        let client = self.options.target.connect("watchfloor-record").await?;
        super::migrate(&client).await?;
        client
            .batch_execute(
                "CREATE TEMP TABLE IF NOT EXISTS wf_stage_sample (signal int8, ts_ms int8, num float8, text text,
                     quality int2, live bool) ON COMMIT DELETE ROWS;
                 CREATE TEMP TABLE IF NOT EXISTS wf_stage_fix (vehicle text, ts_ms int8, lat_deg float8,
                     lon_deg float8) ON COMMIT DELETE ROWS;",
            )
            .await?;
        self.signals.clear();
        self.by_gateway.clear();
        for row in client.query("SELECT id, name, gateway FROM signal", &[]).await? {
            let (id, name, gateway): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
            self.signals.insert(Arc::from(name), id);
            self.by_gateway.entry(Arc::from(gateway)).or_default().push(id);
        }
        Ok(client)
    }

    /// Writes the queued batches in order; stops at the first failure (kept for the next try).
    async fn write_queue(&mut self) {
        while let Some(evaluated) = self.queue.front().map(|q| q.evaluated) {
            if !evaluated {
                // What consoles did since the last batch, before the batch's values are judged.
                if self.options.evaluator.has_rules()
                    && let Some(client) = &self.client
                {
                    match alarms::take_operator_changes(client, self.alarm_seq, self.options.evaluator.as_mut()).await {
                        Ok(seq) => self.alarm_seq = seq,
                        Err(err) => tracing::debug!("site database: consoles' alarm changes not read yet: {err}"),
                    }
                }
                let Some(front) = self.queue.front_mut() else { break };
                front.evaluated = true;
                evaluate(
                    &front.events,
                    self.options.evaluator.as_mut(),
                    self.options.clock.now_ms(),
                    &mut self.unjournaled,
                );
            }
            let Some(front) = self.queue.front_mut() else { break };
            let events = std::mem::take(&mut front.events);
            let result = self.write_batch(&events).await;
            let Some(front) = self.queue.front_mut() else { break };
            front.events = events;
            match result {
                Ok((stored, duplicates)) => {
                    self.status.stored_samples += stored;
                    self.status.duplicate_samples += duplicates;
                    self.status.batches += 1;
                    self.queue.pop_front();
                    self.unjournaled.clear();
                }
                Err(err) => {
                    // A refused batch that is not about the connection would block the queue forever: dropped
                    // and counted, the rest goes on.
                    let connection = self.client.as_ref().is_none_or(Client::is_closed) || err.is_connection();
                    if connection {
                        self.lost(&err.to_string());
                    } else {
                        let gone = self.queue.pop_front().map_or(0, |q| q.samples);
                        self.status.dropped_samples += gone as u64;
                        tracing::error!(samples = gone, "site database refused a batch: {err}");
                    }
                    break;
                }
            }
        }
        if self.queue.is_empty() && !self.unjournaled.is_empty() {
            // Alarm transitions from the clock, with no batch to carry them.
            let entries = std::mem::take(&mut self.unjournaled);
            let now = self.options.clock.now_ms();
            let result = match self.client.as_mut() {
                Some(client) => {
                    journal_alone(client, &entries, self.options.evaluator.as_mut(), &mut self.alarm_seq, now).await
                }
                None => Ok(()),
            };
            if let Err(err) = result {
                self.unjournaled = entries;
                self.lost(&err.to_string());
            }
        }
        self.publish();
    }

    /// One batch in one transaction; returns (stored, duplicate) sample counts.
    async fn write_batch(&mut self, events: &[Arc<FeedEvent>]) -> Result<(u64, u64), SiteError> {
        let Writer { client, signals, by_gateway, partitions, options, unjournaled, alarm_seq, .. } = self;
        let Some(client) = client.as_mut() else { return Err(SiteError::NotConnected) };
        let tx = client.transaction().await?;
        let mut known = Signals { ids: signals, by_gateway, new: Vec::new(), upsert: None };
        let result = match rows_of(&tx, events, &mut known).await {
            Ok(rows) => {
                let alarms = AlarmWrite {
                    evaluator: options.evaluator.as_mut(),
                    seq: alarm_seq,
                    now_ms: options.clock.now_ms(),
                };
                write_rows(tx, rows, partitions, alarms, unjournaled).await
            }
            Err(err) => Err(err),
        };
        if result.is_err() {
            // Ids handed out in a rolled-back transaction are not in the database.
            for (name, gateway, id) in std::mem::take(&mut known.new) {
                known.ids.remove(&name);
                if let Some(ids) = known.by_gateway.get_mut(&gateway) {
                    ids.retain(|i| *i != id);
                }
            }
        }
        result
    }

    /// Drops the day partitions past the retention.
    async fn retention(&mut self) -> Result<(), SiteError> {
        if self.options.raw_days == 0 {
            return Ok(());
        }
        let Some(client) = &self.client else { return Ok(()) };
        let newest: Option<i64> = client.query_one("SELECT max(ts_ms) FROM latest", &[]).await?.get(0);
        let now = newest.unwrap_or_else(crate::clock::wall_now_ms).min(crate::clock::wall_now_ms() + DAY_MS);
        let cut_day = (now - i64::from(self.options.raw_days) * DAY_MS).div_euclid(DAY_MS);
        for table in ["sample", "fix", "event"] {
            let parts = client
                .query(
                    "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                     WHERE i.inhparent = $1::text::regclass",
                    &[&table],
                )
                .await?;
            for row in parts {
                let name: String = row.get(0);
                if let Some(day) = schema::partition_day(table, &name).filter(|d| *d < cut_day) {
                    client.batch_execute(&format!("DROP TABLE IF EXISTS {name}")).await?;
                    self.partitions.remove(&(table, day));
                    tracing::info!(partition = %name, "site database: retention dropped a day");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
