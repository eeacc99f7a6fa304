//! Gateway feeds: each runs as a tokio task, decodes what its gateway sends into [`FeedEvent`]s and publishes them
//! on the [`EventBus`]. A supervisor wrapper turns a feed's failure into a status the UI shows; a feed never takes
//! the app down.

pub mod bus;
pub mod diag;
pub mod http;
pub mod inspect;
pub mod link;
pub mod mqtt;
pub mod mqtt_json;
pub mod opcua;
pub mod sparkplug;
pub mod tls;

use std::future::Future;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use bus::{DrainStats, EventBus, LiveInbox};
pub use diag::{DiagHandle, GatewayDiag, Message, PayloadFormat};
pub use link::{Backoff, Limits};

use crate::clock::Clock;
use crate::model::Fault;
use crate::model::{FeedEvent, FeedEventBody, FeedState, FeedStatus};

/// A request from the UI to one gateway's feed. Sending never blocks the UI; results come back as events.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Inject a fault into a simulated gateway (demo and tests).
    InjectFault { gateway: Arc<str>, fault: Fault },
    /// Subscribe an OPC UA gateway to a folder or node as well (from the Connections view's browser).
    OpcUaAdd { gateway: Arc<str>, mapping: crate::feeds::opcua::settings::OpcUaMapping },
}

/// Why a feed stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A password or token the gateway's config names cannot be read.
    #[error(transparent)]
    Secret(#[from] link::SecretError),
    /// The gateway's TLS settings cannot be used.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

/// Commands a running feed accepts.
#[derive(Clone, Debug, PartialEq)]
pub enum FeedCommand {
    InjectFault(Fault),
    /// OPC UA: subscribe to this folder or node as well (added from the Connections view's browser).
    OpcUaAdd(crate::feeds::opcua::settings::OpcUaMapping),
}

/// What a feed task is given: where to publish, when to stop, what time it is.
pub struct FeedContext {
    pub gateway: Arc<str>,
    pub bus: EventBus,
    pub clock: Arc<dyn Clock>,
    pub shutdown: watch::Receiver<bool>,
    pub commands: mpsc::Receiver<FeedCommand>,
    /// Counters, the inspector's last messages and the quarantine, shown in the Connections panel.
    pub diag: DiagHandle,
}

/// Rejection reasons published as events per message; the rest are counted in one summary event.
const MAX_REASONS_PER_MESSAGE: usize = 20;

impl FeedContext {
    /// Publishes `body` stamped with this gateway and the current time.
    pub async fn publish(&self, body: FeedEventBody) {
        let event = FeedEvent::new(Arc::clone(&self.gateway), self.clock.now_ms(), body);
        self.bus.publish(event).await;
    }

    pub async fn set_status(&self, status: FeedStatus) {
        self.publish(FeedEventBody::Status(status)).await;
    }

    /// Whether the feed has been asked to stop.
    pub fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Waits until the feed is asked to stop (or its handle is gone).
    pub async fn stopped(&mut self) {
        while !*self.shutdown.borrow_and_update() {
            if self.shutdown.changed().await.is_err() {
                return;
            }
        }
    }

    /// Sleeps for `delay`, or less if the feed is asked to stop; `true` when it should stop.
    pub async fn sleep_or_stop(&mut self, delay: std::time::Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(delay) => self.stopping(),
            () = self.stopped() => true,
        }
    }

    /// Publishes what one message decoded into: samples outside `limits` are removed, every problem is counted,
    /// published and (with the message) quarantined; the message goes to the inspector.
    pub async fn ingest(&self, mut message: Message, events: Vec<FeedEventBody>, limits: &Limits) {
        let mut reasons = Vec::new();
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            match event {
                FeedEventBody::Samples(mut samples) => {
                    reasons.extend(limits.retain_valid(&mut samples, message.received_ms));
                    if !samples.is_empty() {
                        message.samples += samples.len();
                        out.push(FeedEventBody::Samples(samples));
                    }
                }
                FeedEventBody::Rejected { reason } => reasons.push(reason),
                other => out.push(other),
            }
        }
        self.reject_reasons(&mut message, reasons, &mut out);
        self.diag.lock().record(message);
        for body in out {
            self.publish(body).await;
        }
    }

    /// Records a message that was refused whole (too large, unreadable) and publishes the reason.
    pub async fn refuse(&self, mut message: Message, reason: String) {
        let mut out = Vec::new();
        self.reject_reasons(&mut message, vec![reason], &mut out);
        self.diag.lock().record(message);
        for body in out {
            self.publish(body).await;
        }
    }

    fn reject_reasons(&self, message: &mut Message, reasons: Vec<String>, out: &mut Vec<FeedEventBody>) {
        let Some(first) = reasons.first() else { return };
        message.problem = Some(if reasons.len() == 1 {
            first.clone()
        } else {
            format!("{first} (and {} more problems)", reasons.len() - 1)
        });
        self.diag.lock().count_rejected(reasons.len() as u64 - 1);
        tracing::debug!(gateway = %self.gateway, topic = %message.topic, "rejected: {first}");
        let extra = reasons.len().saturating_sub(MAX_REASONS_PER_MESSAGE);
        out.extend(reasons.into_iter().take(MAX_REASONS_PER_MESSAGE).map(|reason| FeedEventBody::Rejected { reason }));
        if extra > 0 {
            out.push(FeedEventBody::Rejected {
                reason: format!("{}: {extra} more problems in the same message", message.topic),
            });
        }
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
    diag: DiagHandle,
) -> FeedHandle {
    let (shutdown_tx, shutdown) = watch::channel(false);
    let (commands_tx, commands) = mpsc::channel(64);
    let mut ctx = FeedContext { gateway: Arc::clone(&gateway), bus, clock, shutdown, commands, diag };
    let join = runtime.spawn(async move {
        ctx.set_status(FeedStatus::new(FeedState::Connecting)).await;
        let status = match feed.run_impl(&mut ctx).await {
            Ok(()) => {
                tracing::info!(gateway = %ctx.gateway, "feed stopped");
                FeedStatus::with_message(FeedState::Offline, "stopped")
            }
            Err(err) => {
                tracing::error!(gateway = %ctx.gateway, "feed failed: {err}");
                ctx.diag.lock().error(ctx.clock.now_ms(), err.to_string());
                FeedStatus::with_message(FeedState::Error, err.to_string())
            }
        };
        ctx.set_status(status).await;
    });
    FeedHandle { gateway, shutdown: shutdown_tx, commands: commands_tx, join: Some(join) }
}
