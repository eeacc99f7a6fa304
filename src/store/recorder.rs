//! The one recorder: the loop both history writers run (the cache's and the site database's), writing through a
//! [`Sink`]. It batches the feed events (a batch is written when it holds `flush_max_samples` samples or is
//! `flush_max_age` old, whichever comes first), runs the sink's clock (alarm delays, silent signals, shelves that
//! end, a leader's heartbeat), answers `Flush` once everything received so far is written, and on `Shutdown` or
//! when every feed is gone writes what it holds and hands over to the sink's own ending. The alarm evaluation of a
//! batch ([`evaluate`]) is the same for both sinks too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::model::alarm::Entry as AlarmEntry;
use crate::model::history::Evaluator;
use crate::model::vehicle::metric;
use crate::model::{FeedEvent, FeedEventBody, FeedState, Quality, Sample};

/// How the recorder batches for a sink: a batch is written when it holds this many samples...
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batching {
    pub flush_max_samples: usize,
    /// ...or when its oldest event is this old.
    pub flush_max_age: Duration,
}

impl Default for Batching {
    fn default() -> Self {
        Self { flush_max_samples: 20_000, flush_max_age: Duration::from_millis(250) }
    }
}

/// Events received and not yet handed to the sink.
#[derive(Default)]
pub struct Pending {
    pub events: Vec<Arc<FeedEvent>>,
    pub samples: usize,
    since: Option<Instant>,
}

impl Pending {
    fn push(&mut self, event: Arc<FeedEvent>) {
        if let FeedEventBody::Samples(s) = &event.body {
            self.samples += s.len();
        }
        self.since.get_or_insert_with(Instant::now);
        self.events.push(event);
    }

    /// Everything held, leaving this empty.
    pub fn take(&mut self) -> Self {
        std::mem::take(self)
    }

    /// Everything already queued on `events` counts as received.
    fn drain(&mut self, events: &mut mpsc::Receiver<Arc<FeedEvent>>) {
        while let Ok(event) = events.try_recv() {
            self.push(event);
        }
    }
}

/// What a command asks of the loop itself; anything else goes to the sink.
pub enum Order<C, S> {
    /// Write everything received so far, then answer with the sink's status.
    Flush(oneshot::Sender<S>),
    /// Write what is queued and stop, even if feeds still hold the bus.
    Shutdown,
    Own(C),
}

/// Where the recorder writes: the SQLite cache or the site's PostgreSQL. Each runs on its own thread's
/// current-thread runtime, so nothing here needs to be `Send`.
#[allow(async_fn_in_trait)]
pub trait Sink {
    type Command;
    type Status;
    /// Whether the loop ends when every command sender is gone (else it runs until the events end).
    const STOPS_WITHOUT_COMMANDS: bool;
    /// How often [`Sink::tick`] runs.
    const TICK_EVERY: Duration;

    fn batching(&self) -> Batching;
    fn order(command: Self::Command) -> Order<Self::Command, Self::Status>;
    fn status(&self) -> Self::Status;
    /// Before the first event.
    async fn start(&mut self);
    /// Writes a batch (or keeps it, if it cannot be written now).
    async fn flush(&mut self, batch: Pending);
    async fn tick(&mut self);
    /// A command of the sink's own; `pending` is what the loop holds, for a command that must write it first.
    async fn command(&mut self, command: Self::Command, pending: &mut Pending);
    /// After the last event: writes `rest` and ends.
    async fn finish(&mut self, rest: Pending);
}

/// Runs `sink` until the events end (every feed and the bus are gone) or it is told to stop.
pub async fn run<S: Sink>(
    sink: &mut S,
    mut events: mpsc::Receiver<Arc<FeedEvent>>,
    mut commands: mpsc::Receiver<S::Command>,
) {
    let batching = sink.batching();
    sink.start().await;
    let mut pending = Pending::default();
    let mut clock = tokio::time::interval(S::TICK_EVERY);
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut events_open, mut commands_open) = (true, true);
    while events_open {
        let deadline = pending.since.map(|t| tokio::time::Instant::from_std(t + batching.flush_max_age));
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    pending.push(event);
                    if pending.samples >= batching.flush_max_samples {
                        sink.flush(pending.take()).await;
                    }
                }
                None => events_open = false,
            },
            command = commands.recv(), if commands_open => match command.map(S::order) {
                Some(Order::Flush(reply)) => {
                    pending.drain(&mut events);
                    sink.flush(pending.take()).await;
                    let _ = reply.send(sink.status());
                }
                Some(Order::Shutdown) => {
                    pending.drain(&mut events);
                    events_open = false;
                }
                Some(Order::Own(command)) => sink.command(command, &mut pending).await,
                None => {
                    commands_open = false;
                    if S::STOPS_WITHOUT_COMMANDS {
                        pending.drain(&mut events);
                        events_open = false;
                    }
                }
            },
            () = sleep_until(deadline) => sink.flush(pending.take()).await,
            _ = clock.tick() => sink.tick().await,
        }
    }
    sink.finish(pending).await;
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Journal entries kept while the sink cannot write them; beyond this the oldest go (and are logged).
const MAX_UNJOURNALED: usize = 10_000;

/// Feeds the batch's good values, gateway changes and node deaths to the evaluator and lets the clock run; the
/// transitions go to `entries` for the journal.
pub fn evaluate(events: &[Arc<FeedEvent>], evaluator: &mut dyn Evaluator, now_ms: i64, entries: &mut Vec<AlarmEntry>) {
    for event in events {
        match &event.body {
            FeedEventBody::Samples(samples) => {
                for s in samples.iter().filter(|s| s.quality != Quality::Bad) {
                    evaluator.sample(s, event.received_ms, entries);
                }
            }
            FeedEventBody::Status(status) => match status.state {
                FeedState::Offline | FeedState::Error => {
                    evaluator.gateway(&event.gateway, true, event.received_ms, entries);
                }
                FeedState::Live | FeedState::Stale => {
                    evaluator.gateway(&event.gateway, false, event.received_ms, entries);
                }
                FeedState::Connecting => {}
            },
            FeedEventBody::Stale { prefix } => evaluator.node_death(prefix, event.received_ms, entries),
            FeedEventBody::Birth(_) | FeedEventBody::Rejected { .. } => {}
        }
    }
    evaluator.tick(now_ms, entries);
    if entries.len() > MAX_UNJOURNALED {
        let dropped = entries.len() - MAX_UNJOURNALED;
        tracing::error!(dropped, "history: the alarm journal cannot be written; the oldest entries are dropped");
        entries.drain(..dropped);
    }
}

/// A batch's vehicle positions: latitude and longitude arrive as samples of their own, and a fix is whole once
/// both of one vehicle and one time are there.
#[derive(Debug, Default)]
pub struct Fixes(HashMap<(Arc<str>, i64), HalfFix>);

/// A position's latitude and longitude as they have arrived so far.
type HalfFix = (Option<f64>, Option<f64>);

impl Fixes {
    /// Takes `sample` (stored as `num`) if it is a vehicle's latitude or longitude.
    pub fn note(&mut self, sample: &Sample, num: Option<f64>) {
        if let Some((vehicle, m)) = sample.signal.split_known_metric(&[metric::LATITUDE, metric::LONGITUDE])
            && let Some(v) = num
        {
            let entry = self.0.entry((Arc::from(vehicle), sample.ts_ms)).or_default();
            if m == metric::LATITUDE {
                entry.0 = Some(v);
            } else {
                entry.1 = Some(v);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The whole fixes: (vehicle, time, latitude, longitude), in no order.
    pub fn whole(&self) -> impl Iterator<Item = (&Arc<str>, i64, f64, f64)> {
        self.0.iter().filter_map(|((vehicle, ts), (lat, lon))| Some((vehicle, *ts, (*lat)?, (*lon)?)))
    }
}
