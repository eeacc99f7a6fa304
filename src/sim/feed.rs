//! The simulator as a live feed: a tokio task that steps the model to the feed clock's "now" a few times a second
//! and publishes what a gateway would have sent.

use std::time::Duration;

use super::{SimConfig, Simulator};
use crate::feeds::{Error, Feed, FeedCommand, FeedContext, Message, PayloadFormat};
use crate::model::{FeedEventBody, FeedState, FeedStatus};

/// A built-in simulator served as a gateway.
#[derive(Clone, Debug, PartialEq)]
pub struct SimGateway {
    pub seed: u64,
    pub speed: f64,
    pub lines: usize,
    pub vehicles: usize,
}

impl Default for SimGateway {
    fn default() -> Self {
        Self { seed: 42, speed: 1.0, lines: 3, vehicles: 42 }
    }
}

/// How often the feed wakes to step the model (wall time). Samples keep their one-second source timestamps.
const WAKE_EVERY: Duration = Duration::from_millis(250);
/// At high speed factors one wake produces many ticks; publish in batches of at most this many samples.
const MAX_BATCH: usize = 4_096;

pub struct SimFeed {
    sim: Simulator,
}

impl SimFeed {
    pub fn new(config: SimConfig) -> Self {
        Self { sim: Simulator::new(config) }
    }
}

impl Feed for SimFeed {
    async fn run_impl(mut self, ctx: &mut FeedContext) -> Result<(), Error> {
        let (meta, values) = self.sim.birth();
        ctx.diag.lock().connected(ctx.clock.now_ms());
        ctx.publish(FeedEventBody::Birth(meta)).await;
        record(ctx, "birth", values.len());
        ctx.publish(FeedEventBody::Samples(values)).await;
        ctx.set_status(FeedStatus::new(FeedState::Live)).await;

        let mut wake = tokio::time::interval(WAKE_EVERY);
        wake.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                _ = wake.tick() => {}
                changed = ctx.shutdown.changed() => {
                    if changed.is_err() || *ctx.shutdown.borrow() {
                        return Ok(());
                    }
                }
                Some(command) = ctx.commands.recv() => {
                    let FeedCommand::InjectFault(fault) = command else { continue };
                    if let Err(reason) = self.sim.inject(&fault) {
                        tracing::warn!(gateway = %ctx.gateway, "fault not injected: {reason}");
                        ctx.publish(FeedEventBody::Rejected { reason }).await;
                    } else {
                        tracing::info!(gateway = %ctx.gateway, ?fault, "fault injected");
                    }
                }
            }
            let now_ms = ctx.clock.now_ms();
            // Step in slices so one wake at ×1000 does not build one huge batch.
            while self.sim.now_ms() + super::TICK_MS <= now_ms {
                let slice_end = (self.sim.now_ms() + 60 * super::TICK_MS).min(now_ms);
                self.sim.step_to(slice_end, &mut batch);
                let caught_up = self.sim.now_ms() + super::TICK_MS > now_ms;
                if (batch.len() >= MAX_BATCH || caught_up) && !batch.is_empty() {
                    record(ctx, "samples", batch.len());
                    ctx.publish(FeedEventBody::Samples(std::mem::take(&mut batch))).await;
                }
            }
        }
    }
}

/// Counts a batch in the Connections view like a gateway message (there are no wire bytes to keep).
fn record(ctx: &FeedContext, topic: &str, samples: usize) {
    let mut message = Message::new(ctx.clock.now_ms(), topic, PayloadFormat::Simulator, &bytes::Bytes::new());
    message.samples = samples;
    ctx.diag.lock().record(message);
}
