//! The OPC UA client feed (async-opcua, pure Rust, no OpenSSL): one session per gateway, secure by default
//! (`Basic256Sha256`, signed and encrypted), the nodes of the config subscribed as monitored items.
//!
//! - Mapping: `nodes` names a node per signal (`nsu=<namespace URI>;s=…`, stable across servers that renumber
//!   their namespaces, or `ns=2;s=…`, `i=…`, or a browse path from the Objects folder, `/Line1/Filler/Temp`);
//!   `folders` maps every variable under a folder by its browse path from
//!   the folder (`PlantA/Line1/Filler/State`), browsed with `BrowseNext` as far as the server pages it.
//! - Subscription: the configured sampling interval, queue size and deadband (absolute, or a percent of the
//!   `EURange` for the nodes that have one, asked with `TranslateBrowsePaths`), created in batches of the
//!   server's `MaxMonitoredItemsPerCall`; the intervals the server granted are logged and shown in the status.
//! - Values: source timestamps (else the server's, else arrival), OPC UA status codes mapped to quality — Bad and
//!   Uncertain are kept and shown as such, never dropped. With `item_stale_after`, an item silent that long is
//!   marked stale on its own.
//! - Supervision: the session reconnects with back-off and reactivates, transfers or recreates its subscription
//!   (with a publish kick after a reconnect, which async-opcua 0.19 leaves out); a server certificate not in the
//!   trust list is an error in plain words saying how to trust it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use opcua::client::{
    ClientBuilder, DataChangeCallback, IdentityToken, Password, Session, SessionPollResult, SubscriptionActivity,
};
use opcua::crypto::SecurityPolicy;
use opcua::types::{
    AttributeId, BrowseDescription, BrowseDirection, BrowseResultMask, DataChangeFilter, DataChangeTrigger, DataValue,
    DeadbandType, ExtensionObject, MessageSecurityMode, MonitoredItemCreateRequest, MonitoringMode,
    MonitoringParameters, NodeClass, NodeId, ReadValueId, ReferenceTypeId, StatusCode, TimestampsToReturn, VariableId,
    Variant,
};
use tokio::sync::mpsc;

pub mod browse;
pub mod settings;

use super::diag::{Message, PayloadFormat};
use super::{Backoff, Error, Feed, FeedContext};
use crate::model::{FeedEventBody, FeedState, FeedStatus};
use crate::model::{Quality, Sample, SignalId, TimeSource, Value};
pub use settings::{OpcUaGateway, OpcUaMapping, OpcUaSecurity};
mod address;
mod backfill;
mod decode;
mod subscribe;
mod trust;
pub(crate) use address::*;
use backfill::*;
pub use decode::*;
pub use subscribe::*;
pub use trust::*;

/// Values waiting between the subscription's callback and the feed.
const QUEUE: usize = 100_000;
/// How often arrived values are published as one batch.
const BATCH_EVERY: Duration = Duration::from_millis(100);
/// Publishing intervals without data after which the server sends a keep-alive.
const KEEP_ALIVE_COUNT: u32 = 10;
/// Values one publish response may carry: about 150 KB of numbers, under the 320 KiB a server's default message
/// size allows (more: the server says so and the client asks again at once).
pub const MAX_NOTIFICATIONS_PER_PUBLISH: u32 = 4_000;
/// Monitored items per `CreateMonitoredItems` call when the server does not say.
const DEFAULT_ITEMS_PER_CALL: usize = 1_000;

/// One OPC UA gateway.
pub struct OpcUaFeed {
    config: OpcUaGateway,
}

impl OpcUaFeed {
    pub fn new(config: OpcUaGateway) -> Self {
        Self { config }
    }
}

/// What the subscription's callback hands over: the signal and the value as it came.
type Arrived = (Arc<str>, DataValue);

/// How one session ended.
enum End {
    Stopped,
    /// The mapping grew: a new session subscribes to it at once.
    Remap(OpcUaMapping),
    /// Try again after a pause, with this status shown meanwhile.
    Retry(FeedStatus),
    /// The server's certificate is not trusted: shown with *Trust* until it is.
    Untrusted(FeedStatus),
}

impl Feed for OpcUaFeed {
    async fn run_impl(mut self, ctx: &mut FeedContext) -> Result<(), Error> {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 17);
        // Kept across sessions: a new session fills the gap since the last values from the server's history.
        let mut times = Times::default();
        loop {
            let began = std::time::Instant::now();
            let end = session(&self.config, ctx, &mut times).await;
            if began.elapsed() > Duration::from_secs(60) {
                // It ran a while: the next try comes soon again.
                backoff.reset();
            }
            let untrusted = matches!(end, End::Untrusted(_)).then(|| rejected_cert(&pki_dir(&self.config))).flatten();
            ctx.diag.lock().untrusted = untrusted;
            match end {
                End::Stopped => return Ok(()),
                End::Remap(mapping) => {
                    if mapping.apply(&mut self.config) {
                        tracing::info!(gateway = %ctx.gateway, ?mapping, "OPC UA mapping added");
                    }
                }
                End::Retry(status) | End::Untrusted(status) => {
                    if let Some(message) = &status.message {
                        tracing::warn!(gateway = %ctx.gateway, "OPC UA: {message}");
                        ctx.diag.lock().last_error = Some((ctx.clock.now_ms(), message.clone()));
                    }
                    ctx.set_status(status).await;
                    if ctx.sleep_or_stop(backoff.next_delay()).await {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// A session to the configured server with the configured security and identity (its event loop not yet
/// polled), or how it failed.
async fn connect(
    config: &OpcUaGateway,
) -> Result<(Arc<Session>, opcua::client::SessionEventLoop<opcua::client::transport::TcpConnector>), End> {
    let pki = pki_dir(config);
    let client = with_large_messages(ClientBuilder::new())
        .application_name("Watchfloor")
        .application_uri("urn:watchfloor:client")
        .product_uri("urn:watchfloor:client")
        .pki_dir(&pki)
        .create_sample_keypair(true)
        .trust_server_certs(false)
        .session_retry_limit(-1)
        .session_retry_initial(Duration::from_secs(1))
        .session_retry_max(Duration::from_secs(10))
        .keep_alive_interval(Duration::from_secs(5))
        .session_timeout(60_000)
        .client();
    let mut client = match client {
        Ok(c) => c,
        Err(errors) => {
            return Err(End::Retry(FeedStatus::with_message(
                FeedState::Error,
                format!("the OPC UA client cannot start: {}", errors.join("; ")),
            )));
        }
    };
    let identity = match (&config.link.credentials.username, config.link.credentials.password()) {
        (Some(user), Ok(password)) => {
            IdentityToken::UserName(user.clone(), Password::new(password.unwrap_or_default()))
        }
        (Some(_), Err(err)) => return Err(End::Retry(FeedStatus::with_message(FeedState::Error, err.to_string()))),
        (None, _) => IdentityToken::Anonymous,
    };
    let url = config.link.url.as_str();
    let security = policy(config.security);
    let mode = match (config.security, config.encrypt) {
        (OpcUaSecurity::None, _) => MessageSecurityMode::None,
        (_, true) => MessageSecurityMode::SignAndEncrypt,
        (_, false) => MessageSecurityMode::Sign,
    };
    let endpoint = endpoint(&client, url, (security, mode), &identity, &pki).await?;
    client.connect_to_endpoint_directly(endpoint, identity).map_err(|err| refused(err.status(), &pki))
}

/// One session: connect, map, subscribe, then pass values on until the session ends or the feed stops.
async fn session(config: &OpcUaGateway, ctx: &mut FeedContext, times: &mut Times) -> End {
    let pki = pki_dir(config);
    let (session, event_loop) = match connect(config).await {
        Ok(pair) => pair,
        Err(end) => return end,
    };
    // The session's events come through a channel; the loop itself runs on its own task.
    let (events_tx, mut events) = mpsc::channel::<Result<SessionPollResult, StatusCode>>(64);
    let kick = Arc::clone(&session);
    let publishes = Arc::new(std::sync::atomic::AtomicI64::new(crate::clock::wall_now_ms()));
    let heard = Arc::clone(&publishes);
    let driver = tokio::spawn(async move {
        let stream = event_loop.enter();
        futures_util::pin_mut!(stream);
        let mut first = true;
        while let Some(event) = stream.next().await {
            if let Ok(SessionPollResult::Reconnected(_)) = &event {
                // async-opcua 0.19 recreates a subscription after a reconnect but sends no publish request for
                // it until kicked.
                if !first {
                    kick.trigger_publish_now();
                }
                first = false;
            }
            if let Ok(SessionPollResult::Subscription(SubscriptionActivity::Publish)) = &event {
                heard.store(crate::clock::wall_now_ms(), std::sync::atomic::Ordering::Relaxed);
            }
            let end = event.is_err();
            let forwarded = matches!(
                event,
                Err(_)
                    | Ok(SessionPollResult::ConnectionLost(_)
                        | SessionPollResult::Reconnected(_)
                        | SessionPollResult::ReconnectFailed(_))
            );
            if forwarded && events_tx.send(event).await.is_err() {
                return;
            }
            if end {
                return;
            }
        }
    });
    let parts = SessionParts { session: &session, events: &mut events, pki: &pki, publishes: &publishes };
    let end = run_session(config, ctx, parts, times).await;
    ctx.diag.lock().disconnected(ctx.clock.now_ms(), None);
    // A healthy session (the mapping grew) closes properly, its loop still running; one never made or broken has
    // nothing to close (and async-opcua would wait for it): its loop stops first.
    if matches!(end, End::Remap(_)) {
        let _ = tokio::time::timeout(Duration::from_secs(2), session.disconnect()).await;
        driver.abort();
    } else {
        driver.abort();
        let _ = tokio::time::timeout(Duration::from_secs(2), session.disconnect()).await;
    }
    end
}

/// The server's endpoint with this security and a token for this identity, at the configured address: a server
/// behind a router or a proxy advertises its own host and port, which the client may not reach.
async fn endpoint(
    client: &opcua::client::Client,
    url: &str,
    (security, mode): (SecurityPolicy, MessageSecurityMode),
    identity: &IdentityToken,
    pki: &std::path::Path,
) -> Result<opcua::types::EndpointDescription, End> {
    use opcua::types::UserTokenType;
    let endpoints = client.get_server_endpoints_from_url(url).await.map_err(|err| refused(err.status(), pki))?;
    let token = match identity {
        IdentityToken::Anonymous => UserTokenType::Anonymous,
        _ => UserTokenType::UserName,
    };
    let found = endpoints.into_iter().find(|e| {
        e.security_mode == mode
            && SecurityPolicy::from_uri(e.security_policy_uri.as_ref()) == security
            && e.user_identity_tokens.iter().flatten().any(|t| t.token_type == token)
    });
    let Some(mut found) = found else {
        let what = format!(
            "the server offers no endpoint with security {} ({mode:?}) and {} login",
            security.to_str(),
            if token == UserTokenType::Anonymous { "anonymous" } else { "user name" }
        );
        return Err(End::Retry(FeedStatus::with_message(FeedState::Error, what)));
    };
    found.endpoint_url = url.into();
    Ok(found)
}

/// Waits for the session, maps and subscribes, then forwards values and session events.
/// One session's parts: the session, its events, the PKI directory, when a publish response last came.
struct SessionParts<'a> {
    session: &'a Arc<Session>,
    events: &'a mut mpsc::Receiver<Result<SessionPollResult, StatusCode>>,
    pki: &'a std::path::Path,
    publishes: &'a std::sync::atomic::AtomicI64,
}

async fn run_session(config: &OpcUaGateway, ctx: &mut FeedContext, parts: SessionParts<'_>, times: &mut Times) -> End {
    let SessionParts { session, events, pki, publishes } = parts;
    // The first event says whether the session was made.
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Ok(SessionPollResult::Reconnected(_))) => break,
                Some(Ok(SessionPollResult::ReconnectFailed(status))) => {
                    if is_refusal(status) {
                        return refused(status, pki);
                    }
                    ctx.set_status(FeedStatus::with_message(FeedState::Connecting, explain(status, pki))).await;
                }
                Some(Ok(_)) => {}
                Some(Err(status)) => return refused(status, pki),
                None => return End::Retry(FeedStatus::with_message(FeedState::Offline, "the session ended")),
            },
            () = ctx.stopped() => return End::Stopped,
        }
    }
    ctx.diag.lock().connected(ctx.clock.now_ms());
    let mapped = match map_signals(config, session).await {
        Ok(m) if m.is_empty() => {
            return End::Retry(FeedStatus::with_message(FeedState::Error, "none of the configured nodes was found"));
        }
        Ok(m) => m,
        Err(message) => return End::Retry(FeedStatus::with_message(FeedState::Error, message)),
    };
    let (tx, mut arrived) = mpsc::channel::<Arrived>(QUEUE);
    let granted = match subscribe(config, session, &mapped, tx).await {
        Ok(g) => g,
        Err(message) => return End::Retry(FeedStatus::with_message(FeedState::Error, message)),
    };
    tracing::info!(gateway = %ctx.gateway, items = mapped.len(), %granted, "OPC UA subscription");
    let live = FeedStatus::with_message(FeedState::Live, format!("{} nodes; {granted}", mapped.len()));
    ctx.set_status(live.clone()).await;
    // A new session after an earlier one: what the server kept of the gap.
    fill_gap(ctx, config, session, &mapped, times).await;
    // The watchdog: a subscription answers each publishing interval, or with a keep-alive within
    // `KEEP_ALIVE_COUNT` intervals; twice that and more with no answer is a stall, whatever the status codes say.
    let interval_ms = config.sampling_ms.max(50.0);
    let stall_ms = (2.0 * f64::from(KEEP_ALIVE_COUNT) * interval_ms) as i64 + 2_000;
    publishes.store(crate::clock::wall_now_ms(), std::sync::atomic::Ordering::Relaxed);
    let mut watchdog = tokio::time::interval(Duration::from_secs(1));
    let mut tick = tokio::time::interval(BATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch: Vec<Arrived> = Vec::new();
    let mut connected = true;
    let mut items = ItemWatch::new(config.item_stale_after_ms, &mapped, crate::clock::wall_now_ms());
    loop {
        tokio::select! {
            // Everything queued at once: a publish response of thousands of values is one wake, not thousands.
            n = arrived.recv_many(&mut batch, QUEUE) => if n == 0 {
                return End::Retry(FeedStatus::with_message(FeedState::Offline, "the subscription ended"));
            },
            _ = tick.tick() => {
                items.heard(&batch, crate::clock::wall_now_ms());
                flush(ctx, config, times, &mut batch).await;
            }
            event = events.recv() => match event {
                Some(Ok(SessionPollResult::ConnectionLost(status))) => {
                    connected = false;
                    ctx.diag.lock().disconnected(ctx.clock.now_ms(), Some(explain(status, pki)));
                    ctx.set_status(FeedStatus::with_message(FeedState::Offline, explain(status, pki))).await;
                }
                Some(Ok(SessionPollResult::ReconnectFailed(status))) => {
                    let state = if is_refusal(status) { FeedState::Error } else { FeedState::Offline };
                    ctx.set_status(FeedStatus::with_message(state, explain(status, pki))).await;
                }
                Some(Ok(SessionPollResult::Reconnected(mode))) => {
                    connected = true;
                    ctx.diag.lock().connected(ctx.clock.now_ms());
                    publishes.store(crate::clock::wall_now_ms(), std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(gateway = %ctx.gateway, ?mode, "OPC UA session back");
                    // What the server kept of the gap comes before the values that wait in the queue.
                    fill_gap(ctx, config, session, &mapped, times).await;
                    ctx.set_status(live.clone()).await;
                }
                Some(Ok(_)) => {}
                Some(Err(status)) => return refused(status, pki),
                None => return End::Retry(FeedStatus::with_message(FeedState::Offline, "the session ended")),
            },
            _ = watchdog.tick() => {
                if connected {
                    for prefix in items.newly_silent(crate::clock::wall_now_ms()) {
                        ctx.publish(FeedEventBody::Stale { prefix }).await;
                    }
                }
                let silent = crate::clock::wall_now_ms() - publishes.load(std::sync::atomic::Ordering::Relaxed);
                if connected && silent > stall_ms {
                    let why = format!(
                        "no answer from the subscription for {} s (it must answer at least every {} s): subscribing again",
                        silent / 1000,
                        (f64::from(KEEP_ALIVE_COUNT) * interval_ms / 1000.0).ceil()
                    );
                    flush(ctx, config, times, &mut batch).await;
                    return End::Retry(FeedStatus::with_message(FeedState::Stale, why));
                }
            }
            command = ctx.commands.recv() => {
                let end = match command {
                    Some(super::FeedCommand::OpcUaAdd(mapping)) if mapping.adds_to(config) => End::Remap(mapping),
                    // Already mapped, or a fault for a simulator.
                    Some(super::FeedCommand::OpcUaAdd(_) | super::FeedCommand::InjectFault(_)) => continue,
                    None => End::Stopped,
                };
                flush(ctx, config, times, &mut batch).await;
                return end;
            }
            changed = ctx.shutdown.changed() => {
                if changed.is_ok() && !*ctx.shutdown.borrow() {
                    continue;
                }
                flush(ctx, config, times, &mut batch).await;
                return End::Stopped;
            }
        }
    }
}

/// Publishes the values that arrived (those a backfill did not bring already).
async fn flush(ctx: &FeedContext, config: &OpcUaGateway, times: &mut Times, batch: &mut Vec<Arrived>) {
    if !batch.is_empty() {
        publish(ctx, &config.link.limits, times.keep_new(std::mem::take(batch)), false).await;
    }
}

/// Publishes one batch of arrived values as samples (through the feed's limits and counters); `historical` ones
/// (a backfill) go to history without changing live values.
async fn publish(ctx: &FeedContext, limits: &super::Limits, batch: Vec<Arrived>, historical: bool) {
    if batch.is_empty() {
        return;
    }
    let now = ctx.clock.now_ms();
    let samples: Vec<Sample> =
        batch.iter().map(|(signal, value)| Sample { historical, ..sample(signal, value, now) }).collect();
    let summary = batch.iter().take(20).map(|(s, v)| format!("{s} = {}\n", describe(v))).collect::<String>();
    let topic = if historical { "history read" } else { "subscription" };
    let message = Message::new(now, topic, PayloadFormat::OpcUa, &Bytes::from(summary));
    ctx.ingest(message, vec![FeedEventBody::Samples(samples)], limits).await;
}

#[cfg(test)]
mod tests;
