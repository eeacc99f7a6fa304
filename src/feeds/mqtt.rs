//! MQTT gateway feeds over one rumqttc connection each: a Sparkplug B 3.0 host application (STATE birth and will,
//! rebirth requests, stale on death or link loss) and MQTT with JSON payloads (Kepware template or flat).
//!
//! The connection is supervised here: reconnect with back-off and jitter, subscribe again after every connect,
//! ask every known edge node for a rebirth after a reconnect, and show the link as stale when it goes quiet.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, Incoming, LastWill, MqttOptions, QoS, TlsConfiguration, Transport,
};

use super::diag::{Message, PayloadFormat};
use super::link::{Backoff, HEALTHY_AFTER, Limits};
use super::sparkplug::{self, Host, NAMESPACE};
use super::{Error, Feed, FeedContext, mqtt_json};
use crate::feeds::link::Link;
use crate::model::{FeedEventBody, FeedState, FeedStatus};

/// A Sparkplug B 3.0 host application on an MQTT broker.
#[derive(Clone, Debug, PartialEq)]
pub struct SparkplugGateway {
    pub link: Link,
    /// Only this Sparkplug group.
    pub group: Option<String>,
    /// The host id for the STATE topic and the MQTT client id.
    pub host_id: String,
}

/// Which JSON shape an MQTT JSON gateway sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonFormat {
    /// `{"timestamp": .., "values": [{"id", "v", "q", "t"}]}`; ids are the tag ids.
    Kepware,
    /// One value per topic; the id is the topic (or its mapping).
    Flat,
}

/// MQTT with JSON payloads.
#[derive(Clone, Debug, PartialEq)]
pub struct MqttJsonGateway {
    pub link: Link,
    pub topics: Vec<String>,
    pub format: JsonFormat,
    /// Topic → signal id for flat payloads; a key ending in `/#` maps a subtree to an id prefix.
    pub map: Vec<(String, String)>,
}

impl MqttJsonGateway {
    /// The signal id for a flat payload on `topic`.
    pub fn signal_for_topic<'a>(&'a self, topic: &'a str) -> std::borrow::Cow<'a, str> {
        for (from, to) in &self.map {
            if let Some(base) = from.strip_suffix('#') {
                if let Some(rest) = topic.strip_prefix(base) {
                    return std::borrow::Cow::Owned(format!("{to}{rest}"));
                }
            } else if from == topic {
                return std::borrow::Cow::Borrowed(to.as_str());
            }
        }
        std::borrow::Cow::Borrowed(topic)
    }
}

/// MQTT keep-alive: a dead broker is noticed within about 1.5 times this.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Requests (subscribe, publish) queued while the connection is down.
const REQUEST_QUEUE: usize = 256;
/// How long a clean shutdown waits for the offline STATE and DISCONNECT to go out.
const GOODBYE_WAIT: Duration = Duration::from_secs(1);

enum Protocol {
    Sparkplug { host: Host, host_id: String, group: Option<String> },
    Json(Box<MqttJsonGateway>),
}

/// A feed from an MQTT broker.
pub struct MqttFeed {
    link: Link,
    protocol: Protocol,
}

impl MqttFeed {
    pub fn sparkplug(config: SparkplugGateway) -> Self {
        let host = Host::new(config.group.clone());
        Self { link: config.link, protocol: Protocol::Sparkplug { host, host_id: config.host_id, group: config.group } }
    }

    pub fn json(config: MqttJsonGateway) -> Self {
        Self { link: config.link.clone(), protocol: Protocol::Json(Box::new(config)) }
    }

    fn state_topic(&self) -> Option<String> {
        match &self.protocol {
            Protocol::Sparkplug { host_id, .. } => Some(format!("{NAMESPACE}/STATE/{host_id}")),
            Protocol::Json(_) => None,
        }
    }

    fn subscriptions(&self) -> Vec<String> {
        match &self.protocol {
            Protocol::Sparkplug { group, host_id, .. } => match group {
                Some(g) => vec![format!("{NAMESPACE}/{g}/#"), format!("{NAMESPACE}/STATE/{host_id}")],
                None => vec![format!("{NAMESPACE}/#")],
            },
            Protocol::Json(g) => g.topics.clone(),
        }
    }

    fn format(&self) -> PayloadFormat {
        match &self.protocol {
            Protocol::Sparkplug { .. } => PayloadFormat::Sparkplug,
            Protocol::Json(g) if g.format == JsonFormat::Kepware => PayloadFormat::Kepware,
            Protocol::Json(_) => PayloadFormat::FlatJson,
        }
    }

    /// Connection options; `state_ts` is the timestamp of this session's STATE birth and will.
    fn options(&self, state_ts: i64) -> Result<MqttOptions, Error> {
        let url = &self.link.url;
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        let port = url.port().unwrap_or(if self.link.uses_tls() { 8883 } else { 1883 });
        let client_id = match &self.protocol {
            // Several processes of one site share a host id (the recorders, leader and standby, and the consoles
            // of one config): with the host id as the client id the broker would throw each out as the next
            // connects. Each keeps the site's STATE topic, and says online again if another's goodbye or will
            // says offline while it is connected.
            Protocol::Sparkplug { host_id, .. } => {
                format!("{host_id}-{}-{:04x}", std::process::id(), super::link::entropy() as u16)
            }
            Protocol::Json(_) => format!("watchfloor-{}-{:04x}", std::process::id(), super::link::entropy() as u16),
        };
        let mut options = MqttOptions::new(client_id, host, port);
        options.set_keep_alive(KEEP_ALIVE).set_clean_session(true).set_request_channel_capacity(REQUEST_QUEUE);
        // A message over our own limit is refused and counted, but must not break the connection: let the
        // transport accept well beyond it.
        let transport_limit = self.link.limits.max_payload_bytes.saturating_mul(16).clamp(16 << 20, 512 << 20);
        options.set_max_packet_size(transport_limit, 1 << 20);
        if let Some(user) = &self.link.credentials.username {
            let password = self.link.credentials.password()?.unwrap_or_default();
            options.set_credentials(user.clone(), password);
        }
        if self.link.uses_tls() {
            let tls = super::tls::client_config(&self.link.tls)?;
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
        }
        if let Some(topic) = self.state_topic() {
            options.set_last_will(LastWill::new(
                topic,
                sparkplug::state_payload(false, state_ts),
                QoS::AtLeastOnce,
                true,
            ));
        }
        Ok(options)
    }

    /// After CONNACK: subscribe, announce the host, ask known edge nodes for a rebirth.
    fn on_connected(&mut self, client: &AsyncClient, state_ts: i64, now_ms: i64) -> usize {
        for topic in self.subscriptions() {
            if let Err(err) = client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                tracing::warn!("cannot subscribe to {topic}: {err}");
            }
        }
        let mut rebirths = 0;
        let state_topic = self.state_topic();
        if let Protocol::Sparkplug { host, .. } = &mut self.protocol {
            if let Some(topic) = state_topic {
                let _ = client.try_publish(topic, QoS::AtLeastOnce, true, sparkplug::state_payload(true, state_ts));
            }
            for ncmd in host.request_rebirth_all(now_ms) {
                if client.try_publish(ncmd, QoS::AtLeastOnce, false, sparkplug::rebirth_payload(now_ms)).is_ok() {
                    rebirths += 1;
                }
            }
        }
        rebirths
    }

    /// Decodes one message into events; `Some(topic)` asks for a rebirth on that NCMD topic.
    fn decode(&mut self, topic: &str, payload: &[u8], now_ms: i64) -> (Vec<FeedEventBody>, Option<String>) {
        match &mut self.protocol {
            Protocol::Sparkplug { host, .. } => {
                let handled = host.handle(topic, payload, now_ms);
                (handled.events, handled.rebirth)
            }
            Protocol::Json(g) => {
                let decoded = match g.format {
                    JsonFormat::Kepware => mqtt_json::decode_kepware(payload, now_ms),
                    JsonFormat::Flat => mqtt_json::decode_flat(&g.signal_for_topic(topic), payload, now_ms),
                };
                let mut events = Vec::with_capacity(1 + decoded.rejected.len());
                if !decoded.samples.is_empty() {
                    events.push(FeedEventBody::Samples(decoded.samples));
                }
                events.extend(decoded.rejected.into_iter().map(|reason| FeedEventBody::Rejected { reason }));
                (events, None)
            }
        }
    }
}

/// How a broken connection is shown: refused credentials and TLS failures are errors the user must fix; the rest
/// is the network, shown as offline while we retry.
fn classify(err: &ConnectionError, endpoint: &str) -> FeedStatus {
    match err {
        ConnectionError::ConnectionRefused(code) => {
            FeedStatus::with_message(FeedState::Error, format!("{endpoint} refused the connection: {code:?}"))
        }
        ConnectionError::Tls(tls) => FeedStatus::with_message(FeedState::Error, format!("TLS with {endpoint}: {tls}")),
        other => FeedStatus::with_message(FeedState::Offline, format!("{endpoint}: {other}")),
    }
}

impl Feed for MqttFeed {
    async fn run_impl(mut self, ctx: &mut FeedContext) -> Result<(), Error> {
        let endpoint = self.link.url.to_string();
        let mut state_ts = ctx.clock.now_ms();
        let options = self.options(state_ts)?;
        let (client, mut eventloop) = AsyncClient::new(options, REQUEST_QUEUE);
        let mut backoff = Backoff::default();
        let mut shutdown = ctx.shutdown.clone();
        let limits: Limits = self.link.limits;
        let format = self.format();
        let own_state = self.state_topic();
        let mut connected_at: Option<Instant> = None;
        let mut last_message = Instant::now();
        let mut stale = false;
        let mut watchdog = tokio::time::interval(Duration::from_secs(1));
        watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stale_after = Duration::from_millis(u64::try_from(self.link.stale_after_ms).unwrap_or(u64::MAX));

        loop {
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        if connected_at.is_some() {
                            self.goodbye(&client, &mut eventloop, state_ts).await;
                        }
                        return Ok(());
                    }
                }
                _ = watchdog.tick() => {
                    if connected_at.is_some() && !stale && last_message.elapsed() > stale_after {
                        stale = true;
                        let secs = last_message.elapsed().as_secs();
                        ctx.set_status(FeedStatus::with_message(FeedState::Stale, format!("nothing received for {secs} s"))).await;
                    }
                }
                event = eventloop.poll() => match event {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        let now = ctx.clock.now_ms();
                        connected_at = Some(Instant::now());
                        last_message = Instant::now();
                        stale = false;
                        ctx.diag.lock().connected(now);
                        let rebirths = self.on_connected(&client, state_ts, now);
                        ctx.diag.lock().rebirths += rebirths as u64;
                        tracing::info!(gateway = %ctx.gateway, %endpoint, rebirths, "connected");
                        ctx.set_status(FeedStatus::new(FeedState::Live)).await;
                    }
                    Ok(Event::Incoming(Incoming::SubAck(ack))) => {
                        if ack.return_codes.iter().any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure)) {
                            let msg = "the broker refused a subscription (not authorised for the topic?)";
                            ctx.diag.lock().error(ctx.clock.now_ms(), msg);
                            ctx.set_status(FeedStatus::with_message(FeedState::Error, msg)).await;
                        }
                    }
                    Ok(Event::Incoming(Incoming::Publish(publish))) => {
                        let now = ctx.clock.now_ms();
                        last_message = Instant::now();
                        if stale {
                            stale = false;
                            ctx.set_status(FeedStatus::new(FeedState::Live)).await;
                        }
                        if own_state.as_deref() == Some(publish.topic.as_str()) {
                            self.on_own_state(&client, &publish.payload, state_ts);
                        }
                        self.on_publish(ctx, &client, &publish.topic, &publish.payload, now, format, &limits).await;
                    }
                    Ok(_) => {}
                    Err(err) => {
                        let now = ctx.clock.now_ms();
                        let status = classify(&err, &endpoint);
                        let message = status.message.clone().unwrap_or_default();
                        if connected_at.is_some_and(|t| t.elapsed() >= HEALTHY_AFTER) {
                            backoff.reset();
                        }
                        let was_connected = connected_at.take().is_some();
                        ctx.diag.lock().disconnected(now, Some(message.clone()));
                        if was_connected || backoff.attempts() == 0 {
                            tracing::warn!(gateway = %ctx.gateway, "{message}");
                        } else {
                            tracing::debug!(gateway = %ctx.gateway, "{message}");
                        }
                        if let Protocol::Sparkplug { host, .. } = &mut self.protocol {
                            for event in host.connection_lost() {
                                ctx.publish(event).await;
                            }
                        }
                        ctx.set_status(status).await;
                        // The next session gets a fresh STATE timestamp, and its will must carry it.
                        if let Some(topic) = &own_state {
                            state_ts = ctx.clock.now_ms().max(state_ts + 1);
                            eventloop.mqtt_options.set_last_will(LastWill::new(
                                topic.clone(),
                                sparkplug::state_payload(false, state_ts),
                                QoS::AtLeastOnce,
                                true,
                            ));
                        }
                        let delay = backoff.next_delay();
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            _ = shutdown.changed() => {}
                        }
                        if *shutdown.borrow() {
                            return Ok(());
                        }
                        ctx.set_status(FeedStatus::new(FeedState::Connecting)).await;
                    }
                }
            }
        }
    }
}

impl MqttFeed {
    #[allow(clippy::too_many_arguments)]
    async fn on_publish(
        &mut self,
        ctx: &FeedContext,
        client: &AsyncClient,
        topic: &str,
        payload: &Bytes,
        now: i64,
        format: PayloadFormat,
        limits: &Limits,
    ) {
        let message = Message::new(now, topic, format, payload);
        if let Some(reason) = limits.check_size(payload.len()) {
            ctx.refuse(message, format!("{topic}: {reason}")).await;
            return;
        }
        let (events, rebirth) = self.decode(topic, payload, now);
        if let Some(ncmd) = rebirth
            && client.try_publish(ncmd.clone(), QoS::AtLeastOnce, false, sparkplug::rebirth_payload(now)).is_ok()
        {
            ctx.diag.lock().rebirths += 1;
            tracing::info!(gateway = %ctx.gateway, "asked for a rebirth on {ncmd}");
        }
        ctx.ingest(message, events, limits).await;
    }

    /// Someone (a late will of our previous session) says we are offline while we are connected: say otherwise.
    fn on_own_state(&self, client: &AsyncClient, payload: &[u8], state_ts: i64) {
        let offline = serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .and_then(|v| v.get("online").and_then(serde_json::Value::as_bool))
            == Some(false);
        if offline && let Some(topic) = self.state_topic() {
            let _ = client.try_publish(topic, QoS::AtLeastOnce, true, sparkplug::state_payload(true, state_ts));
        }
    }

    /// A clean stop: STATE offline (the will is not sent on a clean disconnect), then DISCONNECT.
    async fn goodbye(&self, client: &AsyncClient, eventloop: &mut EventLoop, state_ts: i64) {
        if let Some(topic) = self.state_topic() {
            let _ = client.try_publish(topic, QoS::AtLeastOnce, true, sparkplug::state_payload(false, state_ts));
        }
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(GOODBYE_WAIT, async { while eventloop.poll().await.is_ok() {} }).await;
    }
}
