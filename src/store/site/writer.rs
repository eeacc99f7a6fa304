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
use crate::model::vehicle::metric;
use crate::model::{FeedEvent, FeedEventBody, FeedState};
use crate::store::recorder::{self, Batching, Order, Pending, Sink, evaluate};
use crate::store::rollup::{self, Dialect};

/// How the site writer batches, buffers and takes over.
pub struct SiteOptions {
    pub target: SiteTarget,
    /// The site's name: recorders of one site share one leader lock.
    pub site: String,
    pub flush_max_samples: usize,
    pub flush_max_age: Duration,
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
            flush_max_samples: 20_000,
            flush_max_age: Duration::from_millis(250),
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

    fn batching(&self) -> Batching {
        Batching {
            flush_max_samples: self.options.flush_max_samples,
            flush_max_age: self.options.flush_max_age,
            tick_every: Duration::from_millis(500),
        }
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

    /// Leaves a batch to the cache: its time range is kept (on disk) to be read back and written later.
    fn spill(&mut self, gone: &Queued) {
        let times = gone.events.iter().flat_map(|e| match &e.body {
            FeedEventBody::Samples(s) => s.iter().map(|s| s.ts_ms).collect::<Vec<_>>(),
            _ => Vec::new(),
        });
        let (lo, hi) = times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        if lo > hi {
            return;
        }
        add_range(&mut self.spilled, (lo, hi.saturating_add(1)));
        self.status.spilled_samples += gone.samples as u64;
        if let Some(cache) = &self.options.cache {
            save_spilled(cache, &self.spilled);
        }
        tracing::warn!(samples = gone.samples, "site database: buffer full; the oldest batch is left to the cache");
    }

    /// The leader writes back, from the cache, what it left there: a minute of samples at a time, at most
    /// `budget` per call, so live batches are not held up.
    async fn catch_up(&mut self, budget: Duration) {
        let Some(cache) = self.options.cache.clone() else { return };
        let started = Instant::now();
        while let Some(&(from, to)) = self.spilled.first() {
            if started.elapsed() > budget || self.status.role != SiteRole::Leader {
                return;
            }
            let end = from.saturating_add(60_000).min(to);
            let events = match read_cache(&cache, (from, end)) {
                Ok(events) => events,
                Err(err) => {
                    tracing::error!(
                        "site database: cannot read back {}: {err}; that range is given up",
                        cache.display()
                    );
                    self.spilled.remove(0);
                    save_spilled(&cache, &self.spilled);
                    continue;
                }
            };
            if !events.is_empty() {
                match self.write_batch(&events).await {
                    Ok((stored, duplicates)) => {
                        self.status.stored_samples += stored;
                        self.status.duplicate_samples += duplicates;
                        self.status.caught_up_samples += stored;
                        self.status.batches += 1;
                    }
                    Err(err) => {
                        if self.client.as_ref().is_none_or(Client::is_closed) || err.is_connection() {
                            self.lost(&err.to_string());
                        } else {
                            tracing::error!("site database refused a batch read back from the cache: {err}");
                        }
                        return;
                    }
                }
            }
            if end >= to {
                self.spilled.remove(0);
            } else {
                self.spilled[0].0 = end;
            }
            save_spilled(&cache, &self.spilled);
            if self.spilled.is_empty() {
                tracing::info!("site database: everything left to the cache is written");
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

    /// Takes the site's lead if no other recorder holds it; a new leader puts its alarms back from the journal.
    async fn try_lead(&mut self) -> Result<bool, SiteError> {
        let Some(client) = &self.client else { return Ok(false) };
        let got: bool = client.query_one("SELECT pg_try_advisory_lock($1)", &[&self.key]).await?.get(0);
        if got {
            self.alarm_seq = restore_alarms(client, self.options.evaluator.as_mut()).await?;
        }
        Ok(got)
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

/// The writer's signal ids, and the ones made in the batch being written (forgotten if it rolls back).
struct Signals<'a> {
    ids: &'a mut HashMap<Arc<str>, i64>,
    by_gateway: &'a mut HashMap<Arc<str>, Vec<i64>>,
    new: Vec<(Arc<str>, Arc<str>, i64)>,
    /// Prepared on the first signal the batch stores.
    upsert: Option<tokio_postgres::Statement>,
}

impl Signals<'_> {
    /// The id of `name`; stored when unknown, and its kind, unit and gateway updated on a birth.
    async fn id(
        &mut self,
        tx: &Transaction<'_>,
        (name, kind, unit): (&str, ValueKind, Option<&str>),
        gateway: &Arc<str>,
        birth: bool,
    ) -> Result<i64, SiteError> {
        if let Some(id) = self.ids.get(name).filter(|_| !birth) {
            return Ok(*id);
        }
        let upsert = match &self.upsert {
            Some(stmt) => stmt.clone(),
            None => {
                let stmt = tx
                    .prepare(
                        "INSERT INTO signal (name, kind, unit, gateway) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind,
                             unit = coalesce(excluded.unit, signal.unit), gateway = excluded.gateway
                         RETURNING id",
                    )
                    .await?;
                self.upsert.insert(stmt).clone()
            }
        };
        let kind = crate::store::writer::kind_name(kind);
        let id: i64 = tx.query_one(&upsert, &[&name, &kind, &unit, &gateway.as_ref()]).await?.get(0);
        if self.ids.insert(Arc::from(name), id).is_none() {
            self.by_gateway.entry(Arc::clone(gateway)).or_default().push(id);
            self.new.push((Arc::from(name), Arc::clone(gateway), id));
        }
        Ok(id)
    }
}

/// The rows a batch of events makes (the signals they name are stored on the way).
async fn rows_of(
    tx: &Transaction<'_>,
    events: &[Arc<FeedEvent>],
    signals: &mut Signals<'_>,
) -> Result<Rows, SiteError> {
    let mut rows = Rows::default();
    for event in events {
        let gateway = &event.gateway;
        match &event.body {
            FeedEventBody::Birth(metas) => {
                for meta in metas {
                    signals.id(tx, (meta.id.as_str(), meta.kind, meta.unit.as_deref()), gateway, true).await?;
                }
            }
            FeedEventBody::Samples(samples) => {
                for s in samples {
                    // A signal never announced: stored with the kind of its first value and no unit.
                    let id = signals.id(tx, (s.signal.as_str(), s.value.kind(), None), gateway, false).await?;
                    rows.sample(id, s);
                }
            }
            FeedEventBody::Stale { prefix } => {
                for (name, id) in signals.ids.iter() {
                    if name.starts_with(prefix.as_str()) {
                        rows.gaps.push((*id, event.received_ms));
                    }
                }
                rows.event(event.received_ms, "feed.stale", gateway, prefix.as_str());
            }
            FeedEventBody::Status(status) => {
                let message = match &status.message {
                    Some(m) => format!("{}: {m}", status.state.label()),
                    None => status.state.label().to_owned(),
                };
                rows.event(event.received_ms, "feed.status", gateway, &message);
                if matches!(status.state, FeedState::Offline | FeedState::Error) {
                    for id in signals.by_gateway.get(gateway).map(Vec::as_slice).unwrap_or_default() {
                        rows.gaps.push((*id, event.received_ms));
                    }
                }
            }
            FeedEventBody::Rejected { reason } => rows.event(event.received_ms, "feed.rejected", gateway, reason),
        }
    }
    Ok(rows)
}

/// The batch's rows in its transaction: partitions, samples and rollups, gaps, fixes and their crossings, events,
/// the journal; then the commit.
async fn write_rows(
    tx: Transaction<'_>,
    mut rows: Rows,
    partitions: &mut HashSet<(&'static str, i64)>,
    alarms: AlarmWrite<'_>,
    unjournaled: &mut Vec<AlarmEntry>,
) -> Result<(u64, u64), SiteError> {
    let AlarmWrite { evaluator, seq: alarm_seq, now_ms } = alarms;
    // Day partitions for everything this batch holds.
    let mut days: Vec<(&'static str, i64)> = Vec::new();
    for &(_, ts, ..) in &rows.samples {
        days.push(("sample", ts.div_euclid(DAY_MS)));
        days.push(("rollup_1m", ts.div_euclid(DAY_MS)));
    }
    for (_, ts, ..) in rows.fixes() {
        days.push(("fix", ts.div_euclid(DAY_MS)));
    }
    days.sort_unstable();
    days.dedup();
    let mut made = Vec::new();
    for d in days.into_iter().filter(|d| !partitions.contains(d)) {
        tx.batch_execute(&schema::partition_sql(d.0, d.1)).await?;
        made.push(d);
    }

    let staged = rows.samples.len() as u64;
    // Each signal's first value in the batch, which ends its open gap (after the batch's own gaps are opened).
    let mut first_values: (Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new());
    let stored = if rows.samples.is_empty() {
        0
    } else {
        // The usual batch is all new: COPY it straight into `sample` (several times faster than an INSERT …
        // SELECT) and merge its rollups, computed here, into the rollup tables. A batch with a row already stored (a
        // replay, the overlap after a takeover) fails that COPY on the key: it is rolled back to the savepoint,
        // staged, and goes through the idempotent insert, whose rollups count only what it inserted.
        tx.batch_execute("SAVEPOINT wf_new_rows").await?;
        let stored: i64 = match copy_new_samples(&tx, &rows.samples).await {
            Ok(()) => {
                tx.batch_execute("RELEASE SAVEPOINT wf_new_rows").await?;
                for (table, tier) in gather(&rows.samples, MINUTE_MS).tiers() {
                    tx.execute(&merge_buckets_sql(table), &Buckets::columns(&tier).params()).await?;
                }
                i64::try_from(rows.samples.len()).unwrap_or(i64::MAX)
            }
            Err(err) if err.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT wf_new_rows").await?;
                let sink = tx
                    .copy_in("COPY wf_stage_sample (signal, ts_ms, num, text, quality, live) FROM STDIN BINARY")
                    .await?;
                let types = [Type::INT8, Type::INT8, Type::FLOAT8, Type::TEXT, Type::INT2, Type::BOOL];
                let writer = BinaryCopyInWriter::new(sink, &types);
                let mut writer = std::pin::pin!(writer);
                for (id, ts, num, text, quality, live) in &rows.samples {
                    writer.as_mut().write(&[id, ts, num, text, quality, live]).await?;
                }
                writer.finish().await?;
                tx.query_one(INSERT_SAMPLES.as_str(), &[]).await?.get(0)
            }
            Err(err) => return Err(err.into()),
        };
        // Each live signal's newest value becomes its latest (unless the stored one is newer); an open gap of a
        // signal that has values again ends at its first.
        let (mut latest, mut first): (HashMap<i64, &SampleRow>, HashMap<i64, i64>) = (HashMap::new(), HashMap::new());
        for row in &rows.samples {
            let f = first.entry(row.0).or_insert(row.1);
            *f = (*f).min(row.1);
            if row.5 && latest.get(&row.0).is_none_or(|l| l.1 <= row.1) {
                latest.insert(row.0, row);
            }
        }
        let latest: Vec<&SampleRow> = latest.into_values().collect();
        let ids: Vec<i64> = latest.iter().map(|r| r.0).collect();
        let ts: Vec<i64> = latest.iter().map(|r| r.1).collect();
        let nums: Vec<Option<f64>> = latest.iter().map(|r| r.2).collect();
        let texts: Vec<Option<&str>> = latest.iter().map(|r| r.3.as_deref()).collect();
        let qualities: Vec<i16> = latest.iter().map(|r| r.4).collect();
        tx.execute(UPSERT_LATEST, &[&ids, &ts, &nums, &texts, &qualities]).await?;
        first_values = first.into_iter().unzip();
        u64::try_from(stored).unwrap_or(0)
    };
    for (id, start) in &rows.gaps {
        // Only one open gap per signal.
        tx.execute(
            "INSERT INTO gap (signal, start_ms, end_ms) SELECT $1, $2, NULL
             WHERE NOT EXISTS (SELECT 1 FROM gap WHERE signal = $1 AND end_ms IS NULL)",
            &[id, start],
        )
        .await?;
    }

    if !first_values.0.is_empty() {
        tx.execute(
            "UPDATE gap g SET end_ms = s.first FROM unnest($1::int8[], $2::int8[]) AS s(signal, first)
             WHERE g.signal = s.signal AND g.end_ms IS NULL AND g.start_ms <= s.first",
            &[&first_values.0, &first_values.1],
        )
        .await?;
    }

    // Fixes: only the new ones count for the geofences.
    let fixes = rows.fixes();
    if !fixes.is_empty() {
        let sink = tx.copy_in("COPY wf_stage_fix (vehicle, ts_ms, lat_deg, lon_deg) FROM STDIN BINARY").await?;
        let writer = BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::INT8, Type::FLOAT8, Type::FLOAT8]);
        let mut writer = std::pin::pin!(writer);
        for (vehicle, ts, lat, lon) in &fixes {
            writer.as_mut().write(&[&vehicle.as_ref(), ts, lat, lon]).await?;
        }
        writer.finish().await?;
        let new = tx
            .query(
                "INSERT INTO fix (vehicle, ts_ms, lat_deg, lon_deg) SELECT DISTINCT ON (vehicle, ts_ms) * FROM wf_stage_fix
                 ON CONFLICT DO NOTHING RETURNING vehicle, ts_ms, lat_deg, lon_deg",
                &[],
            )
            .await?;
        if evaluator.has_geofences() {
            let mut new: Vec<(String, i64, f64, f64)> =
                new.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
            new.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut crossings: Vec<ZoneCrossing> = Vec::new();
            for (vehicle, ts, lat, lon) in new {
                evaluator.position(&vehicle, (ts, lat, lon), &mut crossings, unjournaled);
                for c in crossings.drain(..) {
                    let kind = if c.enter { "geofence.enter" } else { "geofence.exit" };
                    rows.events.push((c.ts_ms, kind, vehicle.clone(), c.zone.to_string()));
                }
            }
        }
    }

    let mut event_days: Vec<i64> = rows.events.iter().map(|e| e.0.div_euclid(DAY_MS)).collect();
    event_days.sort_unstable();
    event_days.dedup();
    for day in event_days.into_iter().filter(|d| !partitions.contains(&("event", *d))) {
        tx.batch_execute(&schema::partition_sql("event", day)).await?;
        made.push(("event", day));
    }
    if !rows.events.is_empty() {
        let insert = tx
            .prepare("INSERT INTO event (ts_ms, kind, source, message) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
            .await?;
        for (ts, kind, source, message) in &rows.events {
            tx.execute(&insert, &[ts, kind, source, message]).await?;
        }
    }
    let seq = journal_and_states(&tx, unjournaled, evaluator, *alarm_seq, now_ms).await?;
    tx.commit().await?;
    *alarm_seq = seq;
    partitions.extend(made);
    Ok((stored, staged.saturating_sub(stored)))
}

/// Sample rows staged for COPY: (signal, ts, num, text, quality, live).
type SampleRow = (i64, i64, Option<f64>, Option<String>, i16, bool);

#[derive(Default)]
struct Rows {
    samples: Vec<SampleRow>,
    /// Latitude and longitude seen per vehicle and time; a fix is stored once both are there.
    half_fixes: HashMap<(Arc<str>, i64), HalfFix>,
    gaps: Vec<(i64, i64)>,
    events: Vec<EventRow>,
}

/// A position's latitude and longitude as they arrive (each its own sample).
type HalfFix = (Option<f64>, Option<f64>);

/// (time, kind, source, message)
type EventRow = (i64, &'static str, String, String);

impl Rows {
    fn sample(&mut self, id: i64, s: &crate::model::Sample) {
        let (num, text) = crate::store::writer::columns(&s.value);
        let text = text.map(str::to_owned);
        // 0 good, 1 uncertain, 2 bad: always fits.
        let quality = i16::try_from(crate::store::writer::quality_code(s.quality)).unwrap_or(2);
        if let Some((vehicle, m)) = s.signal.split_known_metric(&[metric::LATITUDE, metric::LONGITUDE])
            && let Some(v) = num
        {
            let entry = self.half_fixes.entry((Arc::from(vehicle), s.ts_ms)).or_default();
            if m == metric::LATITUDE {
                entry.0 = Some(v);
            } else {
                entry.1 = Some(v);
            }
        }
        self.samples.push((id, s.ts_ms, num, text, quality, !s.historical));
    }

    fn event(&mut self, ts_ms: i64, kind: &'static str, source: &str, message: &str) {
        self.events.push((ts_ms, kind, source.to_owned(), message.to_owned()));
    }

    fn fixes(&self) -> Vec<(Arc<str>, i64, f64, f64)> {
        self.half_fixes
            .iter()
            .filter_map(|((v, ts), (lat, lon))| Some((Arc::clone(v), *ts, (*lat)?, (*lon)?)))
            .collect()
    }
}

/// Moves the staged samples into `sample` (a row already there is skipped) and merges the ones actually inserted
/// into the minute and hour rollups, in one statement; returns how many were inserted. (Data-modifying `WITH`
/// parts run to completion whether or not the final `SELECT` reads them.)
static INSERT_SAMPLES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH ins AS (
            INSERT INTO sample (signal, ts_ms, num, text, quality)
            SELECT signal, ts_ms, num, text, quality FROM wf_stage_sample
            ON CONFLICT DO NOTHING
            RETURNING signal, ts_ms, num, quality
        ), good AS (
            SELECT signal, ts_ms, num FROM ins WHERE num IS NOT NULL AND quality < 2
        ), m AS ({}), h AS ({})
        SELECT count(*) FROM ins",
        merge_rollup(rollup::TIERS[0].0, rollup::TIERS[0].1),
        merge_rollup(rollup::TIERS[1].0, rollup::TIERS[1].1)
    )
});

/// A batch's good values (numbers that are not bad) in buckets `width_ms` wide.
fn gather(samples: &[SampleRow], width_ms: i64) -> rollup::Buckets {
    let mut gathered = rollup::Buckets::new(width_ms);
    for (id, ts, num, _, quality, _) in samples {
        if let (Some(v), true) = (num, *quality < 2) {
            gathered.add(*id, *ts, *v);
        }
    }
    gathered
}

/// A batch's good values gathered into rollup buckets (the same figures the SQL merge computes).
#[derive(Default)]
struct Buckets {
    signal: Vec<i64>,
    start: Vec<i64>,
    min: Vec<f64>,
    max: Vec<f64>,
    sum: Vec<f64>,
    count: Vec<i64>,
    first_ms: Vec<i64>,
    first: Vec<f64>,
    last_ms: Vec<i64>,
    last: Vec<f64>,
}

impl Buckets {
    /// The batch's good values in buckets `width_ms` wide, as columns.
    #[cfg(test)]
    fn of(samples: &[SampleRow], width_ms: i64) -> Self {
        Self::columns(&gather(samples, width_ms))
    }

    fn columns(gathered: &rollup::Buckets) -> Self {
        let mut b = Self::default();
        for (&(signal, start), a) in &gathered.by_key {
            b.signal.push(signal);
            b.start.push(start);
            b.min.push(a.min);
            b.max.push(a.max);
            b.sum.push(a.sum);
            b.count.push(a.count);
            b.first_ms.push(a.first_ms);
            b.first.push(a.first);
            b.last_ms.push(a.last_ms);
            b.last.push(a.last);
        }
        b
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 10] {
        [
            &self.signal,
            &self.start,
            &self.min,
            &self.max,
            &self.sum,
            &self.count,
            &self.first_ms,
            &self.first,
            &self.last_ms,
            &self.last,
        ]
    }
}

/// Merges [`Buckets`] (as arrays) into `table`, as [`merge_rollup`] merges rows.
fn merge_buckets_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} AS r ({})
        SELECT * FROM unnest($1::int8[], $2::int8[], $3::float8[], $4::float8[], $5::float8[], $6::int8[],
            $7::int8[], $8::float8[], $9::int8[], $10::float8[])
        {}",
        rollup::COLUMNS,
        rollup::merge_on_conflict(Dialect::Postgres, "r")
    )
}

/// COPYs a batch's samples straight into `sample`; fails on the first one already stored.
async fn copy_new_samples(tx: &Transaction<'_>, samples: &[SampleRow]) -> Result<(), tokio_postgres::Error> {
    let sink = tx.copy_in("COPY sample (signal, ts_ms, num, text, quality) FROM STDIN BINARY").await?;
    let writer = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::INT8, Type::FLOAT8, Type::TEXT, Type::INT2]);
    let mut writer = std::pin::pin!(writer);
    for (id, ts, num, text, quality, _) in samples {
        writer.as_mut().write(&[id, ts, num, text, quality]).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// Merges the `good` rows into `table`'s buckets `width_ms` wide (as the cache's writer merges its rollups).
fn merge_rollup(table: &str, width_ms: i64) -> String {
    format!(
        "INSERT INTO {table} AS r ({})
        SELECT signal, ts_ms - (((ts_ms % {width_ms}) + {width_ms}) % {width_ms}), min(num), max(num), sum(num),
            count(*), min(ts_ms), (array_agg(num ORDER BY ts_ms))[1], max(ts_ms), (array_agg(num ORDER BY ts_ms DESC))[1]
        FROM good GROUP BY 1, 2
        {}",
        rollup::COLUMNS,
        rollup::merge_on_conflict(Dialect::Postgres, "r")
    )
}

/// Each live signal's newest value of the batch (as arrays) becomes its latest, unless the stored one is newer.
const UPSERT_LATEST: &str = "
INSERT INTO latest AS l (signal, ts_ms, num, text, quality)
SELECT * FROM unnest($1::int8[], $2::int8[], $3::float8[], $4::text[], $5::int2[])
ON CONFLICT (signal) DO UPDATE SET ts_ms = excluded.ts_ms, num = excluded.num, text = excluded.text,
    quality = excluded.quality
WHERE excluded.ts_ms >= l.ts_ms";

async fn journal(tx: &Transaction<'_>, entries: &[AlarmEntry]) -> Result<(), SiteError> {
    if entries.is_empty() {
        return Ok(());
    }
    let insert = tx
        .prepare(
            "INSERT INTO alarm_journal (ts_ms, rule, source, priority, from_state, state, \"user\", comment, value,
                 active, acked, lim, asset, message)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING",
        )
        .await?;
    for e in entries {
        let t = &e.transition;
        let params: [&(dyn ToSql + Sync); 14] = [
            &t.ts_ms,
            &e.rule,
            &e.source,
            &e.priority.label(),
            &t.from.label(),
            &t.to.label(),
            &t.user,
            &t.comment,
            &t.value,
            &e.active,
            &e.acked,
            &e.limit.map(Limit::label),
            &e.asset,
            &e.message,
        ];
        tx.execute(&insert, &params).await?;
    }
    Ok(())
}

/// The leader's alarm changes: under the site's alarm lock, take over what consoles changed since `seq` (so the
/// state written below has it), journal `entries` and write the state of every alarm they touch. Returns the
/// newest seq.
async fn journal_and_states(
    tx: &Transaction<'_>,
    entries: &[AlarmEntry],
    evaluator: &mut dyn Evaluator,
    seq: i64,
    now_ms: i64,
) -> Result<i64, SiteError> {
    if entries.is_empty() {
        return Ok(seq);
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&alarms::ALARM_LOCK]).await?;
    let seq = alarms::take_operator_changes(tx, seq, evaluator).await?;
    journal(tx, entries).await?;
    let mut touched: Vec<usize> = entries.iter().map(|e| e.index).collect();
    touched.sort_unstable();
    touched.dedup();
    let written = alarms::write_states(tx, evaluator, &touched, now_ms).await?;
    Ok(written.unwrap_or(seq).max(seq))
}

/// The evaluator and the alarm seq a batch's transaction writes alarm state with.
struct AlarmWrite<'a> {
    evaluator: &'a mut dyn Evaluator,
    seq: &'a mut i64,
    now_ms: i64,
}

async fn journal_alone(
    client: &mut Client,
    entries: &[AlarmEntry],
    evaluator: &mut dyn Evaluator,
    alarm_seq: &mut i64,
    now_ms: i64,
) -> Result<(), SiteError> {
    let tx = client.transaction().await?;
    let seq = journal_and_states(&tx, entries, evaluator, *alarm_seq, now_ms).await?;
    tx.commit().await?;
    *alarm_seq = seq;
    Ok(())
}

/// Puts every alarm back as the site left it — from `alarm_state`, shelves and consoles' acknowledgements
/// included; from the journal when there is none — with its signal's newest stored value. Returns the newest
/// alarm seq.
async fn restore_alarms(client: &Client, evaluator: &mut dyn Evaluator) -> Result<i64, SiteError> {
    if !evaluator.has_rules() {
        return Ok(0);
    }
    let states = alarms::read_all(client).await?;
    if !states.is_empty() {
        let latest: HashMap<String, (i64, f64)> = client
            .query(
                "SELECT s.name, l.ts_ms, l.num FROM latest l JOIN signal s ON s.id = l.signal WHERE l.num IS NOT NULL",
                &[],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        let mut newest = 0;
        for a in &states {
            let restored = Restored {
                active: a.alarm.active,
                acked: a.alarm.acked,
                limit: a.limit,
                out_of_service: a.alarm.out_of_service,
                shelved: a.alarm.shelved.clone(),
            };
            let seen = latest.get(&a.source).copied();
            evaluator.restore(&a.rule, &a.source, &a.asset, restored, seen);
            evaluator.operator_state(
                &a.rule,
                &a.source,
                &a.asset,
                &crate::model::alarm::OperatorState {
                    acked: a.alarm.acked,
                    occurrence_ms: a.alarm.active_since_ms,
                    shelved: a.alarm.shelved.clone(),
                    out_of_service: a.alarm.out_of_service,
                },
            );
            newest = newest.max(a.seq);
        }
        return Ok(newest);
    }
    let rows = client
        .query(
            "SELECT DISTINCT ON (j.rule, j.source) j.rule, j.source, j.asset, j.active, j.acked, j.lim, j.state,
                 (SELECT l.ts_ms FROM latest l JOIN signal s ON s.id = l.signal WHERE s.name = j.source),
                 (SELECT l.num FROM latest l JOIN signal s ON s.id = l.signal WHERE s.name = j.source)
             FROM alarm_journal j ORDER BY j.rule, j.source, j.id DESC",
            &[],
        )
        .await?;
    for r in rows {
        let restored = Restored::from_journal(JournalColumns {
            active: r.get(3),
            acked: r.get(4),
            limit: r.get(5),
            state: r.get(6),
            // The site keeps shelves in `alarm_state` (read above when it has rows).
            shelved_until_ms: None,
            comment: String::new(),
        });
        let seen = match (r.get::<_, Option<i64>>(7), r.get::<_, Option<f64>>(8)) {
            (Some(ts), Some(v)) => Some((ts, v)),
            _ => None,
        };
        let (rule, source, asset): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        evaluator.restore(&rule, &source, &asset, restored, seen);
    }
    Ok(0)
}

/// How a leader names itself in `site_leader`: the machine and the process.
fn leader_name() -> String {
    format!("{} (pid {})", super::console_name(), std::process::id())
}

/// Adds `[from, to)` to sorted, disjoint `ranges`, merging what overlaps or touches.
fn add_range(ranges: &mut Vec<(i64, i64)>, (from, to): (i64, i64)) {
    ranges.push((from, to));
    ranges.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for &(a, b) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    *ranges = merged;
}

/// Where the ranges still to write are kept: beside the cache.
fn spill_file(cache: &std::path::Path) -> std::path::PathBuf {
    let mut name = cache.as_os_str().to_owned();
    name.push(".site-pending");
    std::path::PathBuf::from(name)
}

fn load_spilled(cache: &std::path::Path) -> Vec<(i64, i64)> {
    let text = std::fs::read_to_string(spill_file(cache)).unwrap_or_default();
    let mut ranges = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace().map(str::parse::<i64>);
        if let (Some(Ok(from)), Some(Ok(to))) = (parts.next(), parts.next())
            && from < to
        {
            add_range(&mut ranges, (from, to));
        }
    }
    ranges
}

/// Writes the ranges (one `from to` line each) through a temp file and a rename; an empty list removes the file.
fn save_spilled(cache: &std::path::Path, ranges: &[(i64, i64)]) {
    let path = spill_file(cache);
    if ranges.is_empty() {
        let _ = std::fs::remove_file(&path);
        return;
    }
    let text: String = ranges.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
    let tmp = path.with_extension("site-pending.tmp");
    let result = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(err) = result {
        tracing::error!("site database: cannot keep the ranges still to write in {}: {err}", path.display());
    }
}

/// The cache's samples in `[from, to)`, as one event per gateway.
fn read_cache(cache: &std::path::Path, (from, to): (i64, i64)) -> Result<Vec<Arc<FeedEvent>>, crate::store::Error> {
    let conn = crate::store::open_live_reader(cache)?;
    let sql = |source| crate::store::Error::Sqlite { path: cache.to_owned(), source };
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.name, s.kind, s.gateway, x.ts_ms, x.num, x.text, x.quality
             FROM signal s JOIN sample x ON x.signal = s.id AND x.ts_ms >= ?1 AND x.ts_ms < ?2",
        )
        .map_err(sql)?;
    let mut by_gateway: HashMap<String, Vec<crate::model::Sample>> = HashMap::new();
    let rows = stmt
        .query_map(rusqlite::params![from, to], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<f64>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })
        .map_err(sql)?;
    for row in rows {
        let (name, kind, gateway, ts, num, text, quality) = row.map_err(sql)?;
        let value = crate::store::query::value_from(crate::store::query::kind_from(&kind), num, text);
        let mut sample = crate::model::Sample::new(crate::model::SignalId::new(name), ts, value);
        sample.quality = crate::store::query::quality_from(quality);
        // Read back from history: never the live value.
        sample.historical = true;
        by_gateway.entry(gateway).or_default().push(sample);
    }
    Ok(by_gateway
        .into_iter()
        .map(|(gateway, samples)| Arc::new(FeedEvent::new(Arc::from(gateway), from, FeedEventBody::Samples(samples))))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_left_to_the_cache_merge_when_they_touch_and_survive_a_restart() {
        let mut ranges = Vec::new();
        add_range(&mut ranges, (100, 200));
        add_range(&mut ranges, (300, 400));
        add_range(&mut ranges, (200, 250));
        assert_eq!(ranges, vec![(100, 250), (300, 400)]);
        add_range(&mut ranges, (50, 350));
        assert_eq!(ranges, vec![(50, 400)]);
        let dir = tempfile::tempdir().expect("dir");
        let cache = dir.path().join("h.sqlite");
        save_spilled(&cache, &[(1, 5), (9, 12)]);
        assert_eq!(load_spilled(&cache), vec![(1, 5), (9, 12)]);
        save_spilled(&cache, &[]);
        assert!(!spill_file(&cache).exists());
        assert!(load_spilled(&cache).is_empty());
    }

    #[test]
    fn buckets_hold_min_max_sum_count_and_the_first_and_last_value_of_good_numbers() {
        let rows: Vec<SampleRow> = vec![
            (1, 61_000, Some(5.0), None, 0, true),
            (1, 60_500, Some(7.0), None, 0, true),
            (1, 119_999, Some(1.0), None, 1, true),
            (1, 90_000, Some(100.0), None, 2, true),
            (1, 120_000, Some(3.0), None, 0, true),
            (2, 60_000, None, Some("running".into()), 0, true),
        ];
        let b = Buckets::of(&rows, 60_000);
        assert_eq!((b.signal.clone(), b.start.clone()), (vec![1, 1], vec![60_000, 120_000]));
        assert_eq!((b.min[0], b.max[0], b.sum[0], b.count[0]), (1.0, 7.0, 13.0, 3), "bad values left out");
        assert_eq!((b.first_ms[0], b.first[0], b.last_ms[0], b.last[0]), (60_500, 7.0, 119_999, 1.0));
    }
}
