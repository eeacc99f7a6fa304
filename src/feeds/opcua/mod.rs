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

/// The client's certificate and trust list: the configured directory, else the data dir's `opcua-pki`.
fn pki_dir(config: &OpcUaGateway) -> PathBuf {
    config.pki_dir.clone().unwrap_or_else(|| {
        directories::ProjectDirs::from("", "", "watchfloor")
            .map_or_else(|| std::env::temp_dir().join("watchfloor"), |d| d.data_dir().to_owned())
            .join("opcua-pki")
    })
}

fn policy(security: OpcUaSecurity) -> SecurityPolicy {
    match security {
        OpcUaSecurity::None => SecurityPolicy::None,
        OpcUaSecurity::Basic256Sha256 => SecurityPolicy::Basic256Sha256,
        OpcUaSecurity::Aes128Sha256RsaOaep => SecurityPolicy::Aes128Sha256RsaOaep,
        OpcUaSecurity::Aes256Sha256RsaPss => SecurityPolicy::Aes256Sha256RsaPss,
    }
}

/// A status code in plain words, with what to do where there is something to do.
pub fn explain(status: StatusCode, pki: &std::path::Path) -> String {
    let is = |s: StatusCode| is_any(status, &[s]);
    if is_any(status, UNTRUSTED) {
        format!(
            "the server's certificate is not trusted ({status}); to trust it, move its file from {} to {}",
            pki.join("rejected").display(),
            pki.join("trusted").display()
        )
    } else if is(StatusCode::BadIdentityTokenRejected) || is(StatusCode::BadUserAccessDenied) {
        format!("the server refused the user name or password ({status})")
    } else if is(StatusCode::BadIdentityTokenInvalid) {
        format!("the server does not accept this kind of login on this endpoint ({status})")
    } else if is(StatusCode::BadCertificateTimeInvalid) {
        format!("a certificate is expired or not yet valid; check both clocks ({status})")
    } else if is(StatusCode::BadCertificateHostNameInvalid) || is(StatusCode::BadCertificateUriInvalid) {
        format!("the server's certificate does not name this server ({status})")
    } else if is(StatusCode::BadSecurityPolicyRejected) {
        format!("the server offers no endpoint with this security policy and mode ({status})")
    } else if is(StatusCode::BadCommunicationError) || is(StatusCode::BadConnectionClosed) {
        format!("the server cannot be reached or closed the connection ({status})")
    } else {
        status.to_string()
    }
}

/// Whether `status` is one of `codes`, whatever its info bits.
fn is_any(status: StatusCode, codes: &[StatusCode]) -> bool {
    let code = status.bits() & 0xFFFF_0000;
    codes.iter().any(|s| s.bits() == code)
}

/// The server's certificate is not in the trust list (or was kept aside as rejected).
const UNTRUSTED: &[StatusCode] = &[StatusCode::BadCertificateUntrusted, StatusCode::BadSecurityChecksFailed];

/// Whether the server refused us for a reason retrying does not fix (trust, credentials, endpoint).
fn is_refusal(status: StatusCode) -> bool {
    is_any(status, UNTRUSTED)
        || is_any(
            status,
            &[
                StatusCode::BadIdentityTokenRejected,
                StatusCode::BadIdentityTokenInvalid,
                StatusCode::BadUserAccessDenied,
                StatusCode::BadSecurityPolicyRejected,
                StatusCode::BadCertificateTimeInvalid,
                StatusCode::BadCertificateHostNameInvalid,
                StatusCode::BadCertificateUriInvalid,
            ],
        )
}

fn refused(status: StatusCode, pki: &std::path::Path) -> End {
    let state = if is_refusal(status) { FeedState::Error } else { FeedState::Offline };
    let shown = FeedStatus::with_message(state, explain(status, pki));
    if is_any(status, UNTRUSTED) { End::Untrusted(shown) } else { End::Retry(shown) }
}

/// The server certificate most recently kept aside in `<pki>/rejected/` (async-opcua names each file
/// `<subject> [<SHA-1 thumbprint>].der`).
pub fn rejected_cert(pki: &std::path::Path) -> Option<crate::feeds::diag::UntrustedCert> {
    let newest = std::fs::read_dir(pki.join("rejected"))
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "der"))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())?;
    let file = newest.path();
    let stem = file.file_stem()?.to_string_lossy().into_owned();
    let (subject, thumbprint) = match stem.rsplit_once(" [") {
        Some((subject, rest)) => (subject.to_owned(), rest.trim_end_matches(']').to_owned()),
        None => (stem.clone(), String::new()),
    };
    Some(crate::feeds::diag::UntrustedCert { file, subject, thumbprint })
}

/// Trusts a kept-aside server certificate: its file moves into `<pki>/trusted/` (the feed connects on its next try).
pub fn trust(cert: &crate::feeds::diag::UntrustedCert) -> std::io::Result<()> {
    let pki = cert.file.parent().and_then(std::path::Path::parent).ok_or(std::io::ErrorKind::NotFound)?;
    let trusted = pki.join("trusted");
    std::fs::create_dir_all(&trusted)?;
    let name = cert.file.file_name().ok_or(std::io::ErrorKind::NotFound)?;
    std::fs::rename(&cert.file, trusted.join(name))?;
    tracing::warn!(subject = %cert.subject, thumbprint = %cert.thumbprint, "OPC UA server certificate trusted");
    Ok(())
}

/// Room for a plant's worth of values in one message: async-opcua's defaults (1,000 array elements, 320 KiB
/// messages) cut the session as soon as one publish response carries more than a thousand changes.
pub fn with_large_messages(builder: ClientBuilder) -> ClientBuilder {
    builder.max_array_length(1_000_000).max_message_size(256 * 1024 * 1024).max_chunk_count(8_192)
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
        (Some(_), Err(err)) => return Err(End::Retry(FeedStatus::with_message(FeedState::Error, err))),
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

/// Publishes, as history, what the server kept of the gap since the last values.
async fn fill_gap(
    ctx: &FeedContext,
    config: &OpcUaGateway,
    session: &Session,
    mapped: &[(NodeId, Arc<str>)],
    times: &mut Times,
) {
    let filled = backfill(session, mapped, times).await;
    if !filled.is_empty() {
        tracing::info!(gateway = %ctx.gateway, values = filled.len(), "OPC UA gap filled from the server's history");
        publish(ctx, &config.link.limits, filled, true).await;
    }
}

/// Per item staleness (`item_stale_after`): when each signal was last heard, and which are shown stale.
struct ItemWatch {
    after_ms: Option<i64>,
    heard: HashMap<Arc<str>, (i64, bool)>,
}

impl ItemWatch {
    fn new(after_ms: Option<i64>, mapped: &[(NodeId, Arc<str>)], now_ms: i64) -> Self {
        let heard = match after_ms {
            Some(_) => mapped.iter().map(|(_, s)| (Arc::clone(s), (now_ms, false))).collect(),
            None => HashMap::new(),
        };
        Self { after_ms, heard }
    }

    fn heard(&mut self, batch: &[Arrived], now_ms: i64) {
        if self.after_ms.is_none() {
            return;
        }
        for (signal, _) in batch {
            if let Some(h) = self.heard.get_mut(signal) {
                *h = (now_ms, false);
            }
        }
    }

    /// The signals silent for longer than allowed and not yet said so (each is then shown stale until it speaks).
    fn newly_silent(&mut self, now_ms: i64) -> Vec<String> {
        let Some(after) = self.after_ms else { return Vec::new() };
        let mut out = Vec::new();
        for (signal, (at, said)) in &mut self.heard {
            if !*said && now_ms - *at > after {
                *said = true;
                out.push(signal.to_string());
            }
        }
        if !out.is_empty() {
            tracing::warn!(items = out.len(), first = %out[0], "OPC UA items silent for longer than item_stale_after");
        }
        out
    }
}

/// The newest source time seen per signal, and how far a history backfill covered it.
#[derive(Default)]
struct Times {
    last: HashMap<Arc<str>, i64>,
    covered: HashMap<Arc<str>, i64>,
}

impl Times {
    /// The values not already published by a backfill (a value the server had queued during the gap arrives
    /// both ways); notes the newest time of each signal.
    fn keep_new(&mut self, batch: Vec<Arrived>) -> Vec<Arrived> {
        let mut kept = Vec::with_capacity(batch.len());
        for (signal, value) in batch {
            let ts = value.source_timestamp.as_ref().filter(|t| !t.is_null()).map(unix_ms);
            if let (Some(ts), Some(covered)) = (ts, self.covered.get(&signal))
                && ts <= *covered
            {
                continue;
            }
            if let Some(ts) = ts {
                let last = self.last.entry(Arc::clone(&signal)).or_insert(ts);
                *last = (*last).max(ts);
            }
            kept.push((signal, value));
        }
        kept
    }
}

/// After a reconnect: each node's raw history since the last value seen of it, up to now, as far as the server
/// keeps history (a server with none answers with an error per node, and nothing is filled).
async fn backfill(session: &Session, mapped: &[(NodeId, Arc<str>)], times: &mut Times) -> Vec<Arrived> {
    use opcua::client::HistoryReadAction;
    use opcua::types::{ByteString, HistoryData, HistoryReadValueId, ReadRawModifiedDetails};
    let now = opcua::types::DateTime::now();
    let mut out = Vec::new();
    for (node, signal) in mapped {
        let Some(last) = times.last.get(signal).copied() else { continue };
        let details = ReadRawModifiedDetails {
            is_read_modified: false,
            start_time: ua_time(last + 1),
            end_time: now,
            num_values_per_node: 1_000,
            return_bounds: false,
        };
        let mut continuation = ByteString::null();
        loop {
            let read = HistoryReadValueId {
                node_id: node.clone(),
                index_range: Default::default(),
                data_encoding: Default::default(),
                continuation_point: continuation.clone(),
            };
            let action = HistoryReadAction::ReadRawModifiedDetails(details.clone());
            let Ok(results) = session.history_read(action, TimestampsToReturn::Both, false, &[read]).await else {
                break;
            };
            let Some(result) = results.into_iter().next() else { break };
            if !result.status_code.is_good() {
                break;
            }
            let values = result.history_data.inner_as::<HistoryData>().and_then(|h| h.data_values.clone());
            for value in values.unwrap_or_default() {
                if let Some(ts) = value.source_timestamp.as_ref().map(unix_ms) {
                    let covered = times.covered.entry(Arc::clone(signal)).or_insert(ts);
                    *covered = (*covered).max(ts);
                    let newest = times.last.entry(Arc::clone(signal)).or_insert(ts);
                    *newest = (*newest).max(ts);
                }
                out.push((Arc::clone(signal), value));
            }
            continuation = result.continuation_point;
            if continuation.is_null() {
                break;
            }
        }
    }
    out
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

/// A value as the inspector shows it: value, status, source time.
fn describe(v: &DataValue) -> String {
    let value = v.value.as_ref().map_or_else(|| "(no value)".to_owned(), |x| format!("{x:?}"));
    let ts = v.source_timestamp.as_ref().map(|t| t.to_rfc3339()).unwrap_or_default();
    format!("{value} {} {ts}", v.status())
}

/// Where the Unix epoch falls on OPC UA's clock (milliseconds since 1601-01-01).
const UNIX_EPOCH_IN_UA_MS: i64 = 11_644_473_600_000;

/// OPC UA time (100 ns ticks since 1601) as UTC milliseconds.
pub fn unix_ms(t: &opcua::types::DateTime) -> i64 {
    t.checked_ticks() / 10_000 - UNIX_EPOCH_IN_UA_MS
}

/// UTC milliseconds as an OPC UA time.
pub fn ua_time(ms: i64) -> opcua::types::DateTime {
    opcua::types::DateTime::from(ms.saturating_add(UNIX_EPOCH_IN_UA_MS).saturating_mul(10_000))
}

/// An arrived value as a sample: its source time (else the server's, else arrival) and quality from its status.
pub fn sample(signal: &Arc<str>, v: &DataValue, arrival_ms: i64) -> Sample {
    let status = v.status();
    let quality = if status.is_good() {
        Quality::Good
    } else if status.is_uncertain() {
        Quality::Uncertain
    } else {
        Quality::Bad
    };
    let value = match &v.value {
        Some(x) => value(x),
        None => Value::Raw(Arc::from(status.to_string())),
    };
    let (ts_ms, time_source) = match v.source_timestamp.as_ref().or(v.server_timestamp.as_ref()) {
        Some(t) if !t.is_null() => (unix_ms(t), TimeSource::Source),
        _ => (arrival_ms, TimeSource::Arrival),
    };
    Sample { signal: SignalId::new(Arc::clone(signal)), ts_ms, value, quality, time_source, historical: false }
}

/// A data value in OPC UA binary encoding, as a sample (what a data change notification carries): `None` when the
/// bytes are no data value. The fuzz target `opcua_value` feeds it any bytes.
pub fn decode_sample(signal: &Arc<str>, bytes: &[u8], arrival_ms: i64) -> Option<Sample> {
    use opcua::types::BinaryDecodable as _;
    let context = opcua::types::ContextOwned::default();
    let value = DataValue::decode(&mut std::io::Cursor::new(bytes), &context.context()).ok()?;
    Some(sample(signal, &value, arrival_ms))
}

/// An OPC UA variant as a value: numbers as numbers, booleans, text; anything else as its text.
pub fn value(x: &Variant) -> Value {
    match x {
        Variant::Double(v) => Value::F64(*v),
        Variant::Float(v) => Value::F64(f64::from(*v)),
        Variant::Boolean(v) => Value::Bool(*v),
        Variant::SByte(v) => Value::I64(i64::from(*v)),
        Variant::Byte(v) => Value::I64(i64::from(*v)),
        Variant::Int16(v) => Value::I64(i64::from(*v)),
        Variant::UInt16(v) => Value::I64(i64::from(*v)),
        Variant::Int32(v) => Value::I64(i64::from(*v)),
        Variant::UInt32(v) => Value::I64(i64::from(*v)),
        Variant::Int64(v) => Value::I64(*v),
        Variant::UInt64(v) => i64::try_from(*v).map_or(Value::F64(*v as f64), Value::I64),
        Variant::String(s) => Value::Str(Arc::from(s.as_ref())),
        Variant::LocalizedText(t) => Value::Str(Arc::from(t.text.as_ref())),
        other => Value::Raw(Arc::from(format!("{other:?}"))),
    }
}

/// The server's namespace table (index → URI), read once per session: it turns `nsu=` ids into node ids.
pub(crate) async fn namespaces(session: &Session) -> Vec<String> {
    let read = ReadValueId::new_value(NodeId::from(VariableId::Server_NamespaceArray));
    match session.read(&[read], TimestampsToReturn::Neither, 0.0).await.ok().and_then(|mut v| v.pop()) {
        Some(DataValue { value: Some(Variant::Array(a)), .. }) => a
            .values
            .iter()
            .map(|v| if let Variant::String(s) = v { s.as_ref().to_owned() } else { String::new() })
            .collect(),
        _ => Vec::new(),
    }
}

/// A node id as OPC UA writes it, or `nsu=<uri>;…` with the URI looked up in the server's `namespaces`.
pub(crate) fn parse_id(text: &str, namespaces: &[String]) -> Result<NodeId, String> {
    if let Some(rest) = text.strip_prefix("nsu=") {
        let (uri, id) = rest.split_once(';').ok_or_else(|| format!("{text:?}: nsu=<uri>;<id> expected"))?;
        let ns = namespaces
            .iter()
            .position(|u| u == uri)
            .ok_or_else(|| format!("{text:?}: the server has no namespace {uri:?}"))?;
        return format!("ns={ns};{id}").parse::<NodeId>().map_err(|err| format!("{text:?} is not a node id ({err:?})"));
    }
    text.parse::<NodeId>().map_err(|err| format!("{text:?} is not a node id (nsu=…;s=…, ns=…;s=…, i=…): {err:?}"))
}

/// A node id of the config: a browse path from the Objects folder (`/PlantA/Line1/Filler/State`, browse names in
/// any namespace) followed on the server, else as [`parse_id`] reads it.
async fn resolve(session: &Session, namespaces: &[String], text: &str) -> Result<NodeId, String> {
    let text = text.trim();
    let Some(path) = text.strip_prefix('/') else { return parse_id(text, namespaces) };
    let mut node = NodeId::objects_folder_id();
    for name in path.split('/').filter(|n| !n.is_empty()) {
        node = child_named(session, &node, name)
            .await?
            .ok_or_else(|| format!("{text:?}: the server has no {name:?} there"))?;
    }
    Ok(node)
}

/// Every node to subscribe, with its signal: the configured nodes, then the variables under each folder named by
/// their browse path from the folder.
async fn map_signals(config: &OpcUaGateway, session: &Session) -> Result<Vec<(NodeId, Arc<str>)>, String> {
    let namespaces = namespaces(session).await;
    let mut out: Vec<(NodeId, Arc<str>)> = Vec::new();
    for (signal, node) in &config.nodes {
        out.push((resolve(session, &namespaces, node).await?, Arc::from(signal.as_str())));
    }
    for folder in &config.folders {
        let root = resolve(session, &namespaces, folder).await?;
        let name = browse_name(session, &root).await?;
        browse_variables(session, root, name, &mut out).await?;
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|(node, _)| seen.insert(node.clone()));
    Ok(out)
}

/// Asks for a node's children by hierarchical references: of `classes` (a node class mask, 0 for all), with the
/// fields of `result`.
pub(crate) fn children_of(node: NodeId, classes: u32, result: BrowseResultMask) -> BrowseDescription {
    BrowseDescription {
        node_id: node,
        browse_direction: BrowseDirection::Forward,
        reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
        include_subtypes: true,
        node_class_mask: classes,
        result_mask: result as u32,
    }
}

/// Browses every page of `description` (`BrowseNext` as long as the server has more), handing each reference to
/// `found` until it says it has what it wanted (the rest is then released on the server).
async fn browse_pages(
    session: &Session,
    description: BrowseDescription,
    mut found: impl FnMut(opcua::types::ReferenceDescription) -> bool,
) -> Result<(), String> {
    let node = description.node_id.clone();
    let mut results = session.browse(&[description], 1_000, None).await.map_err(|e| format!("browse {node}: {e}"))?;
    while let Some(result) = results.pop() {
        if !result.status_code.is_good() {
            return Err(format!("browse {node}: {}", result.status_code));
        }
        let done = result.references.unwrap_or_default().into_iter().any(&mut found);
        if result.continuation_point.is_null() {
            break;
        }
        if done {
            let _ = session.browse_next(true, &[result.continuation_point]).await;
            break;
        }
        results = session
            .browse_next(false, &[result.continuation_point])
            .await
            .map_err(|e| format!("browse {node}: {e}"))?;
    }
    Ok(())
}

/// The child of `parent` (by hierarchical references) whose browse name is `name`, looking through every page.
async fn child_named(session: &Session, parent: &NodeId, name: &str) -> Result<Option<NodeId>, String> {
    let mut child = None;
    browse_pages(session, children_of(parent.clone(), 0, BrowseResultMask::BrowseName), |r| {
        let is = r.browse_name.name.as_ref() == name;
        if is {
            child = Some(r.node_id.node_id);
        }
        is
    })
    .await?;
    Ok(child)
}

async fn browse_name(session: &Session, node: &NodeId) -> Result<String, String> {
    let read = ReadValueId { attribute_id: AttributeId::BrowseName as u32, ..ReadValueId::new_value(node.clone()) };
    let values = session.read(&[read], TimestampsToReturn::Neither, 0.0).await.map_err(|e| format!("{node}: {e}"))?;
    match values.first().and_then(|v| v.value.as_ref()) {
        Some(Variant::QualifiedName(q)) => Ok(q.name.as_ref().to_owned()),
        _ => Err(format!("the folder {node} was not found on the server")),
    }
}

/// Walks the folder's hierarchy (objects and folders), collecting variables with their browse path.
async fn browse_variables(
    session: &Session,
    root: NodeId,
    root_name: String,
    out: &mut Vec<(NodeId, Arc<str>)>,
) -> Result<(), String> {
    let mut stack = vec![(root, root_name)];
    let mut visited = std::collections::HashSet::new();
    let classes = (NodeClass::Object as u32) | (NodeClass::Variable as u32);
    while let Some((node, path)) = stack.pop() {
        if !visited.insert(node.clone()) {
            continue;
        }
        browse_pages(session, children_of(node, classes, BrowseResultMask::All), |r| {
            let child = format!("{path}/{}", r.browse_name.name.as_ref());
            match r.node_class {
                NodeClass::Variable => out.push((r.node_id.node_id, Arc::from(child))),
                NodeClass::Object => stack.push((r.node_id.node_id, child)),
                _ => {}
            }
            false
        })
        .await?;
    }
    Ok(())
}

/// The server's `MaxMonitoredItemsPerCall` (the default when it does not say).
async fn items_per_call(session: &Session) -> usize {
    let id = NodeId::from(VariableId::Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall);
    let read = session.read(&[ReadValueId::new_value(id)], TimestampsToReturn::Neither, 0.0).await;
    match read.ok().and_then(|v| v.into_iter().next()).and_then(|v| v.value) {
        Some(Variant::UInt32(n)) if n > 0 => n as usize,
        _ => DEFAULT_ITEMS_PER_CALL,
    }
}

/// The nodes among `mapped` that have an `EURange` property (asked in batches of `per_call`).
async fn with_eu_range(
    session: &Session,
    mapped: &[(NodeId, Arc<str>)],
    per_call: usize,
) -> std::collections::HashSet<NodeId> {
    use opcua::types::{BrowsePath, QualifiedName, RelativePath, RelativePathElement};
    let mut out = std::collections::HashSet::new();
    for chunk in mapped.chunks(per_call) {
        let paths: Vec<BrowsePath> = chunk
            .iter()
            .map(|(node, _)| BrowsePath {
                starting_node: node.clone(),
                relative_path: RelativePath {
                    elements: Some(vec![RelativePathElement {
                        reference_type_id: ReferenceTypeId::HasProperty.into(),
                        is_inverse: false,
                        include_subtypes: true,
                        target_name: QualifiedName::new(0, "EURange"),
                    }]),
                },
            })
            .collect();
        match session.translate_browse_paths_to_node_ids(&paths).await {
            Ok(results) => {
                for (result, (node, _)) in results.iter().zip(chunk) {
                    if result.status_code.is_good() && result.targets.as_ref().is_some_and(|t| !t.is_empty()) {
                        out.insert(node.clone());
                    }
                }
            }
            Err(err) => tracing::warn!("OPC UA: which nodes have an EURange could not be asked: {err}"),
        }
    }
    out
}

/// The data change filter of an absolute `deadband`. With none, every value counts, also one that repeats the
/// last with a new time (a heartbeat, a count that did not move): the history then holds every sample the server
/// made.
pub fn value_filter(deadband: f64) -> ExtensionObject {
    ExtensionObject::from_message(if deadband > 0.0 {
        DataChangeFilter {
            trigger: DataChangeTrigger::StatusValue,
            deadband_type: DeadbandType::Absolute as u32,
            deadband_value: deadband,
        }
    } else {
        DataChangeFilter {
            trigger: DataChangeTrigger::StatusValueTimestamp,
            deadband_type: DeadbandType::None as u32,
            deadband_value: 0.0,
        }
    })
}

/// Creates the subscription and its monitored items in batches; returns what the server granted, in words.
async fn subscribe(
    config: &OpcUaGateway,
    session: &Arc<Session>,
    mapped: &[(NodeId, Arc<str>)],
    tx: mpsc::Sender<Arrived>,
) -> Result<String, String> {
    let signals: Arc<HashMap<NodeId, Arc<str>>> = Arc::new(mapped.iter().cloned().collect());
    let lookup = Arc::clone(&signals);
    let callback = DataChangeCallback::new(move |value, item| {
        if let Some(signal) = lookup.get(&item.item_to_monitor().node_id) {
            // A full queue means the app cannot keep up: the value is dropped here and the queue is counted full.
            let _ = tx.try_send((Arc::clone(signal), value));
        }
    });
    let interval = Duration::from_secs_f64((config.sampling_ms / 1000.0).max(0.05));
    let id = session
        .create_subscription(
            interval,
            6 * KEEP_ALIVE_COUNT,
            KEEP_ALIVE_COUNT,
            MAX_NOTIFICATIONS_PER_PUBLISH,
            0,
            true,
            callback,
        )
        .await
        .map_err(|e| format!("the subscription was refused: {e}"))?;
    let absolute = value_filter(config.deadband);
    let per_call = items_per_call(session).await;
    // A percent deadband only where the server knows the range (`EURange`); the other items keep the absolute one.
    let ranged =
        if config.deadband_percent > 0.0 { with_eu_range(session, mapped, per_call).await } else { Default::default() };
    let percent = ExtensionObject::from_message(DataChangeFilter {
        trigger: DataChangeTrigger::StatusValue,
        deadband_type: DeadbandType::Percent as u32,
        deadband_value: config.deadband_percent,
    });
    let (mut granted_ms, mut granted_queue, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    for chunk in mapped.chunks(per_call) {
        let requests: Vec<MonitoredItemCreateRequest> = chunk
            .iter()
            .map(|(node, _)| MonitoredItemCreateRequest {
                item_to_monitor: ReadValueId::new(node.clone(), AttributeId::Value),
                monitoring_mode: MonitoringMode::Reporting,
                requested_parameters: MonitoringParameters {
                    client_handle: 0,
                    sampling_interval: config.sampling_ms,
                    queue_size: config.queue_size,
                    discard_oldest: true,
                    filter: if ranged.contains(node) { percent.clone() } else { absolute.clone() },
                },
            })
            .collect();
        let created = session
            .create_monitored_items(id, TimestampsToReturn::Both, requests)
            .await
            .map_err(|e| format!("monitored items were refused: {e}"))?;
        for (c, (node, signal)) in created.iter().zip(chunk) {
            if c.result.status_code.is_good() {
                granted_ms.push(c.result.revised_sampling_interval);
                granted_queue.push(c.result.revised_queue_size);
            } else {
                refused.push(format!("{signal} ({node}): {}", c.result.status_code));
            }
        }
    }
    for r in refused.iter().take(20) {
        tracing::warn!("OPC UA item refused: {r}");
    }
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        if v.is_empty() {
            "-".to_owned()
        } else if lo == hi {
            format!("{lo} ms")
        } else {
            format!("{lo}–{hi} ms")
        }
    };
    let queues: Vec<f64> = granted_queue.iter().map(|q| f64::from(*q)).collect();
    let mut words = format!(
        "sampling {} granted (asked {} ms), queue {}",
        range(&granted_ms),
        config.sampling_ms,
        range(&queues).trim_end_matches(" ms")
    );
    if config.deadband_percent > 0.0 {
        words.push_str(&format!(
            "; deadband {} % of range on {} of {} items (the rest have no EURange)",
            config.deadband_percent,
            ranged.len(),
            mapped.len()
        ));
    }
    if !refused.is_empty() {
        words.push_str(&format!("; {} item(s) refused, e.g. {}", refused.len(), refused[0]));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_quality_and_bad_values_are_kept() {
        let signal: Arc<str> = Arc::from("PlantA/Line1/Filler/Temperature");
        let t = ua_time(1_767_225_600_000);
        let good = DataValue { value: Some(Variant::Double(71.5)), source_timestamp: Some(t), ..DataValue::default() };
        let s = sample(&signal, &good, 5);
        assert_eq!(
            (s.value, s.quality, s.ts_ms, s.time_source),
            (Value::F64(71.5), Quality::Good, 1_767_225_600_000, TimeSource::Source)
        );
        let uncertain = DataValue { status: Some(StatusCode::UncertainLastUsableValue), ..good.clone() };
        assert_eq!(sample(&signal, &uncertain, 5).quality, Quality::Uncertain);
        let bad = DataValue { value: None, status: Some(StatusCode::BadSensorFailure), source_timestamp: None, ..good };
        let s = sample(&signal, &bad, 5);
        assert_eq!((s.quality, s.ts_ms, s.time_source), (Quality::Bad, 5, TimeSource::Arrival));
        assert!(matches!(s.value, Value::Raw(ref r) if r.contains("BadSensorFailure")), "{:?}", s.value);
        assert_eq!(value(&Variant::UInt64(u64::MAX)), Value::F64(u64::MAX as f64));
        assert_eq!(value(&Variant::from("Running")), Value::Str(Arc::from("Running")));
    }

    #[test]
    fn an_encoded_data_value_decodes_and_garbage_does_not() {
        use opcua::types::BinaryEncodable as _;
        let signal: Arc<str> = Arc::from("a/b");
        let value =
            DataValue { value: Some(Variant::Int32(7)), status: Some(StatusCode::Good), ..DataValue::default() };
        let context = opcua::types::ContextOwned::default();
        let mut bytes = Vec::new();
        value.encode(&mut bytes, &context.context()).expect("encode");
        let s = decode_sample(&signal, &bytes, 3).expect("a sample");
        assert_eq!((s.value, s.quality, s.ts_ms), (Value::I64(7), Quality::Good, 3));
        assert!(decode_sample(&signal, &[0xFF, 0x01], 3).is_none());
    }

    #[test]
    fn refusals_say_what_to_do() {
        let pki = std::path::Path::new("/data/opcua-pki");
        let text = explain(StatusCode::BadCertificateUntrusted, pki);
        assert!(text.contains("not trusted") && text.contains("/data/opcua-pki/rejected"), "{text}");
        assert!(is_refusal(StatusCode::BadIdentityTokenRejected));
        assert!(!is_refusal(StatusCode::BadCommunicationError));
    }
}
