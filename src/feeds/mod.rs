//! Gateway feeds: each runs as a tokio task, decodes what its gateway sends into [`FeedEvent`]s and publishes them
//! on the [`EventBus`]. A supervisor wrapper turns a feed's failure into a status the UI shows; a feed never takes
//! the app down.

pub mod bus;
pub mod mqtt_json;
pub mod sparkplug;

use std::future::Future;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use bus::{DrainStats, EventBus, LiveInbox};

use crate::clock::Clock;
use crate::command::{FeedEvent, FeedEventBody, FeedState, FeedStatus};
use crate::sim::Fault;

/// Why a feed stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the simulator rejected a fault: {0}")]
    Fault(String),
    #[error("{0}")]
    Other(String),
}

/// Commands a running feed accepts.
#[derive(Clone, Debug, PartialEq)]
pub enum FeedCommand {
    InjectFault(Fault),
}

/// What a feed task is given: where to publish, when to stop, what time it is.
pub struct FeedContext {
    pub gateway: Arc<str>,
    pub bus: EventBus,
    pub clock: Arc<dyn Clock>,
    pub shutdown: watch::Receiver<bool>,
    pub commands: mpsc::Receiver<FeedCommand>,
}

impl FeedContext {
    /// Publishes `body` stamped with this gateway and the current time.
    pub async fn publish(&self, body: FeedEventBody) {
        let event = FeedEvent::new(Arc::clone(&self.gateway), self.clock.now_ms(), body);
        self.bus.publish(event).await;
    }

    pub async fn set_status(&self, status: FeedStatus) {
        self.publish(FeedEventBody::Status(status)).await;
    }
}

/// A source of feed events (a gateway connection or the simulator).
pub trait Feed: Send + 'static {
    /// Runs until `ctx.shutdown` turns true (then returns `Ok`) or the feed fails.
    fn run_impl(self, ctx: &mut FeedContext) -> impl Future<Output = Result<(), Error>> + Send;
}

/// A running feed. Dropping it stops the task.
pub struct FeedHandle {
    pub gateway: Arc<str>,
    shutdown: watch::Sender<bool>,
    commands: mpsc::Sender<FeedCommand>,
    join: Option<JoinHandle<()>>,
}

impl FeedHandle {
    /// Queues a command without waiting; `false` if the feed is gone or its queue is full.
    pub fn send(&self, command: FeedCommand) -> bool {
        self.commands.try_send(command).is_ok()
    }

    /// Asks the feed to stop and waits until it has.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(join) = self.join.take() {
            let _ = join.await;
        }
    }
}

impl Drop for FeedHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(join) = self.join.take() {
            join.abort();
        }
    }
}

/// Starts `feed` on `runtime` under a supervisor that reports its state.
pub fn spawn_feed<F: Feed>(
    runtime: &Handle,
    gateway: Arc<str>,
    feed: F,
    bus: EventBus,
    clock: Arc<dyn Clock>,
) -> FeedHandle {
    let (shutdown_tx, shutdown) = watch::channel(false);
    let (commands_tx, commands) = mpsc::channel(64);
    let mut ctx = FeedContext { gateway: Arc::clone(&gateway), bus, clock, shutdown, commands };
    let join = runtime.spawn(async move {
        ctx.set_status(FeedStatus::new(FeedState::Connecting)).await;
        let status = match feed.run_impl(&mut ctx).await {
            Ok(()) => {
                tracing::info!(gateway = %ctx.gateway, "feed stopped");
                FeedStatus::with_message(FeedState::Offline, "stopped")
            }
            Err(err) => {
                tracing::error!(gateway = %ctx.gateway, "feed failed: {err}");
                FeedStatus::with_message(FeedState::Error, err.to_string())
            }
        };
        ctx.set_status(status).await;
    });
    FeedHandle { gateway, shutdown: shutdown_tx, commands: commands_tx, join: Some(join) }
}
