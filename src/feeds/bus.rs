//! The fan-out from feeds to consumers: bounded channels, one per consumer.
//!
//! A *lossless* consumer (the history store) gets every event; when its channel is full the publishing feed waits,
//! which pushes back on the gateway link rather than dropping data. The *live* consumer (the UI) never makes a
//! feed wait: when its channel is full, samples are folded into an overflow that keeps only the latest value per
//! signal (and every non-sample event, in order), and the UI takes that overflow once its channel is empty.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::model::{FeedEvent, FeedEventBody};
use crate::model::{Sample, SignalId};

/// Called after each delivery to the live consumer, e.g. to ask egui for a repaint.
pub type Waker = Box<dyn Fn() + Send + Sync>;

/// A cheap-to-clone handle that feeds publish on.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    lossless: Vec<mpsc::Sender<Arc<FeedEvent>>>,
    live: Option<LiveSender>,
    waker: OnceLock<Waker>,
}

struct LiveSender {
    tx: mpsc::Sender<Arc<FeedEvent>>,
    overflow: Arc<Mutex<Overflow>>,
}

/// Builds an [`EventBus`]; consumers are registered before any feed starts.
#[derive(Default)]
pub struct EventBusBuilder {
    lossless: Vec<mpsc::Sender<Arc<FeedEvent>>>,
    live: Option<LiveSender>,
}

impl EventBusBuilder {
    /// A consumer that receives every event, in order. `capacity` is in events (each a batch of samples).
    pub fn lossless(&mut self, capacity: usize) -> mpsc::Receiver<Arc<FeedEvent>> {
        let (tx, rx) = mpsc::channel(capacity);
        self.lossless.push(tx);
        rx
    }

    /// The one live consumer, which may coalesce when it falls behind.
    pub fn live(&mut self, capacity: usize) -> LiveInbox {
        let (tx, rx) = mpsc::channel(capacity);
        let overflow = Arc::new(Mutex::new(Overflow::default()));
        self.live = Some(LiveSender { tx, overflow: Arc::clone(&overflow) });
        LiveInbox { rx, overflow }
    }

    pub fn build(self) -> EventBus {
        EventBus { inner: Arc::new(Inner { lossless: self.lossless, live: self.live, waker: OnceLock::new() }) }
    }
}

impl EventBus {
    pub fn builder() -> EventBusBuilder {
        EventBusBuilder::default()
    }

    /// Sets what to call after each delivery to the live consumer (only the first call takes effect).
    pub fn set_waker(&self, waker: Waker) {
        // A second waker would be a wiring mistake; the first one stays.
        let _ = self.inner.waker.set(waker);
    }

    /// Delivers `event` to every consumer; waits only for lossless consumers with full channels.
    pub async fn publish(&self, event: FeedEvent) {
        let event = Arc::new(event);
        for tx in &self.inner.lossless {
            // A closed channel means that consumer has shut down; the others still get the event.
            let _ = tx.send(Arc::clone(&event)).await;
        }
        self.deliver_live(event);
    }

    /// Delivers without waiting, for synchronous drivers (tests, the headless benchmark). Returns `false` if a
    /// lossless consumer was full and did not get the event.
    pub fn publish_now(&self, event: FeedEvent) -> bool {
        let event = Arc::new(event);
        let mut delivered = true;
        for tx in &self.inner.lossless {
            if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(Arc::clone(&event)) {
                delivered = false;
            }
        }
        self.deliver_live(event);
        delivered
    }

    fn deliver_live(&self, event: Arc<FeedEvent>) {
        let Some(live) = &self.inner.live else { return };
        let mut overflow = live.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        // Once anything is in the overflow, later events must queue behind it to keep their order.
        if overflow.is_empty() {
            match live.tx.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => overflow.absorb(&event),
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        } else {
            overflow.absorb(&event);
        }
        drop(overflow);
        if let Some(waker) = self.inner.waker.get() {
            waker();
        }
    }
}

/// The UI's end of the bus.
pub struct LiveInbox {
    rx: mpsc::Receiver<Arc<FeedEvent>>,
    overflow: Arc<Mutex<Overflow>>,
}

/// What one drain did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainStats {
    pub events: usize,
    /// Samples that were replaced by a newer value of the same signal before the UI saw them.
    pub coalesced: u64,
    /// The budget ran out with events still waiting.
    pub more_pending: bool,
}

impl LiveInbox {
    /// Hands events to `apply` in arrival order until none are left or `budget` is spent.
    pub fn drain(&mut self, budget: Duration, mut apply: impl FnMut(&FeedEvent)) -> DrainStats {
        let started = Instant::now();
        let mut stats = DrainStats::default();
        loop {
            if started.elapsed() >= budget {
                stats.more_pending = !self.rx.is_empty() || !self.lock_overflow().is_empty();
                return stats;
            }
            if let Ok(event) = self.rx.try_recv() {
                apply(&event);
                stats.events += 1;
                continue;
            }
            // The channel is empty: everything older than the overflow has been applied.
            let (events, coalesced) = self.lock_overflow().take();
            if events.is_empty() {
                return stats;
            }
            stats.coalesced += coalesced;
            for event in &events {
                apply(event);
                stats.events += 1;
            }
        }
    }

    fn lock_overflow(&self) -> std::sync::MutexGuard<'_, Overflow> {
        self.overflow.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Events that did not fit the live channel, with consecutive sample batches merged to the latest value per signal.
#[derive(Default)]
struct Overflow {
    segments: Vec<Segment>,
    coalesced: u64,
}

enum Segment {
    Samples { latest: HashMap<(Arc<str>, SignalId), Sample>, received_ms: i64 },
    Other(FeedEvent),
}

impl Overflow {
    fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    fn absorb(&mut self, event: &FeedEvent) {
        let FeedEventBody::Samples(samples) = &event.body else {
            self.segments.push(Segment::Other(event.clone()));
            return;
        };
        if !matches!(self.segments.last(), Some(Segment::Samples { .. })) {
            self.segments.push(Segment::Samples { latest: HashMap::new(), received_ms: event.received_ms });
        }
        let Some(Segment::Samples { latest, received_ms }) = self.segments.last_mut() else {
            return; // just pushed above
        };
        *received_ms = (*received_ms).max(event.received_ms);
        for sample in samples.iter().filter(|s| !s.historical) {
            let key = (Arc::clone(&event.gateway), sample.signal.clone());
            match latest.get_mut(&key) {
                Some(kept) => {
                    self.coalesced += 1;
                    if sample.ts_ms >= kept.ts_ms {
                        *kept = sample.clone();
                    }
                }
                None => {
                    latest.insert(key, sample.clone());
                }
            }
        }
    }

    fn take(&mut self) -> (Vec<FeedEvent>, u64) {
        let coalesced = std::mem::take(&mut self.coalesced);
        let mut events = Vec::new();
        for segment in self.segments.drain(..) {
            match segment {
                Segment::Other(event) => events.push(event),
                Segment::Samples { latest, received_ms } => {
                    let mut by_gateway: HashMap<Arc<str>, Vec<Sample>> = HashMap::new();
                    for ((gateway, _), sample) in latest {
                        by_gateway.entry(gateway).or_default().push(sample);
                    }
                    for (gateway, mut samples) in by_gateway {
                        samples.sort_by_key(|s| s.ts_ms);
                        events.push(FeedEvent::new(gateway, received_ms, FeedEventBody::Samples(samples)));
                    }
                }
            }
        }
        (events, coalesced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;
    use crate::model::{FeedState, FeedStatus};

    fn samples(gw: &str, ts: i64, values: &[(&str, f64)]) -> FeedEvent {
        let batch = values.iter().map(|(id, v)| Sample::new(SignalId::from(*id), ts, Value::F64(*v))).collect();
        FeedEvent::new(Arc::from(gw), ts, FeedEventBody::Samples(batch))
    }

    #[test]
    fn live_consumer_coalesces_when_full_and_keeps_order() {
        let mut builder = EventBus::builder();
        let mut inbox = builder.live(1);
        let mut store = builder.lossless(16);
        let bus = builder.build();

        assert!(bus.publish_now(samples("g", 1, &[("a", 1.0)])));
        // The live channel (capacity 1) is now full: these go to the overflow.
        assert!(bus.publish_now(samples("g", 2, &[("a", 2.0), ("b", 2.0)])));
        assert!(bus.publish_now(samples("g", 3, &[("a", 3.0)])));
        let status = FeedEvent::new(Arc::from("g"), 4, FeedEventBody::Status(FeedStatus::new(FeedState::Offline)));
        assert!(bus.publish_now(status));

        let mut seen = Vec::new();
        let stats = inbox.drain(Duration::from_secs(5), |e| seen.push(e.clone()));
        assert_eq!(stats.coalesced, 1, "a@2 was replaced by a@3");
        assert_eq!(seen.len(), 3, "first batch, merged overflow batch, status");
        let FeedEventBody::Samples(merged) = &seen[1].body else { panic!("expected samples") };
        let a = merged.iter().find(|s| s.signal.as_str() == "a").expect("a kept");
        assert_eq!(a.value, Value::F64(3.0));
        assert!(matches!(seen[2].body, FeedEventBody::Status(_)));

        // The lossless consumer got all four events, uncoalesced.
        let mut n = 0;
        while store.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, 4);
    }

    #[test]
    fn drain_respects_a_zero_budget() {
        let mut builder = EventBus::builder();
        let mut inbox = builder.live(8);
        let bus = builder.build();
        bus.publish_now(samples("g", 1, &[("a", 1.0)]));
        let stats = inbox.drain(Duration::ZERO, |_| {});
        assert_eq!(stats.events, 0);
        assert!(stats.more_pending);
        let stats = inbox.drain(Duration::from_secs(1), |_| {});
        assert_eq!(stats.events, 1);
        assert!(!stats.more_pending);
    }
}
