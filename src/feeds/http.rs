//! The HTTP gateway feed client (docs/gateway-http.md): signals and a snapshot on connect, then the SSE stream,
//! resumed with `Last-Event-ID` after a cut; after a `reset` (gateway restart, position too old) a new snapshot and a
//! backfill of the outage from `/v1/history`, marked historical so live values never go back in time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventsource_stream::Eventsource as _;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::diag::{Message, PayloadFormat};
use super::link::{Backoff, HEALTHY_AFTER};
use super::{Error, Feed, FeedContext};
use crate::model::{FeedEventBody, FeedState, FeedStatus};
use crate::model::{Quality, Sample, SignalId, SignalMeta, TimeSource, Value, ValueKind};

use crate::feeds::link::Link;

/// The Watchfloor HTTP gateway feed (docs/gateway-http.md).
#[derive(Clone, Debug, PartialEq)]
pub struct HttpGateway {
    pub link: Link,
}

/// Three missed keep-alives (the gateway sends one at least every 15 s) and the stream is reopened.
pub const STREAM_SILENCE: Duration = Duration::from_secs(45);
/// The longest signal id the protocol allows.
pub const MAX_ID_BYTES: usize = 256;

// ---- Wire types (shared with the server in `gateway::http`) ---------------------------------------------------

/// A sample as JSON: `{"id", "ts", "v", "q"}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WireSample {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
    pub v: WireValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
}

/// A JSON value of a sample; `null` is "no value".
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum WireValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Null(()),
}

/// A signal as JSON: `{"id", "kind", "unit"}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WireSignal {
    pub id: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

impl WireSample {
    pub fn from_sample(s: &Sample) -> Self {
        let v = match &s.value {
            Value::F64(f) => WireValue::Float(*f),
            Value::I64(i) => WireValue::Int(*i),
            Value::Bool(b) => WireValue::Bool(*b),
            Value::Str(t) | Value::Raw(t) => WireValue::Str(t.to_string()),
        };
        let q = match s.quality {
            Quality::Good => None,
            Quality::Uncertain => Some("uncertain".to_owned()),
            Quality::Bad => Some("bad".to_owned()),
        };
        let ts = (s.time_source == TimeSource::Source).then_some(s.ts_ms);
        Self { id: s.signal.as_str().to_owned(), ts, v, q }
    }

    /// The sample, or why it cannot be used.
    pub fn into_sample(self, received_ms: i64) -> Result<Sample, String> {
        if self.id.is_empty() || self.id.len() > MAX_ID_BYTES || self.id.chars().any(char::is_control) {
            return Err(format!(
                "signal id {:?} is empty, longer than {MAX_ID_BYTES} bytes or has control characters",
                self.id
            ));
        }
        let mut quality = match self.q.as_deref() {
            None | Some("good") => Quality::Good,
            Some("uncertain") => Quality::Uncertain,
            Some("bad") => Quality::Bad,
            Some(other) => return Err(format!("{}: quality {other:?} is not good, uncertain or bad", self.id)),
        };
        let value = match self.v {
            WireValue::Bool(b) => Value::Bool(b),
            WireValue::Int(i) => Value::I64(i),
            WireValue::Float(f) => Value::F64(f),
            WireValue::Str(s) => Value::Str(Arc::from(s.as_str())),
            WireValue::Null(()) => {
                quality = Quality::Bad;
                Value::Raw(Arc::from("null"))
            }
        };
        let (ts_ms, time_source) = match self.ts {
            Some(t) => (t, TimeSource::Source),
            None => (received_ms, TimeSource::Arrival),
        };
        Ok(Sample { signal: SignalId::new(self.id), ts_ms, value, quality, time_source, historical: false })
    }
}

impl WireSignal {
    pub fn from_meta(m: &SignalMeta) -> Self {
        let kind = match m.kind {
            ValueKind::Float => "float",
            ValueKind::Int => "int",
            ValueKind::Bool => "bool",
            ValueKind::String => "string",
            ValueKind::Raw => "raw",
        };
        Self { id: m.id.as_str().to_owned(), kind: kind.to_owned(), unit: m.unit.as_deref().map(str::to_owned) }
    }

    pub fn into_meta(self) -> Result<SignalMeta, String> {
        let kind = match self.kind.as_str() {
            "float" => ValueKind::Float,
            "int" => ValueKind::Int,
            "bool" => ValueKind::Bool,
            "string" => ValueKind::String,
            "raw" => ValueKind::Raw,
            other => return Err(format!("{}: kind {other:?} is not float, int, bool, string or raw", self.id)),
        };
        if self.id.is_empty() || self.id.len() > MAX_ID_BYTES {
            return Err(format!("signal id {:?} is empty or too long", self.id));
        }
        Ok(SignalMeta { id: SignalId::new(self.id), kind, unit: self.unit.map(|u| Arc::from(u.as_str())) })
    }
}

// ---- Pure decoding --------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct SamplesData<'a> {
    #[serde(borrow)]
    samples: Vec<&'a RawValue>,
}

/// Decodes a list of raw samples one by one: a bad one is a `Rejected` event, the good ones still flow.
fn decode_samples(raw: &[&RawValue], received_ms: i64, historical: bool) -> Vec<FeedEventBody> {
    let mut samples = Vec::with_capacity(raw.len());
    let mut out = Vec::new();
    for r in raw {
        match serde_json::from_str::<WireSample>(r.get()).map_err(|e| format!("sample {}: {e}", short(r.get()))) {
            Ok(w) => match w.into_sample(received_ms) {
                Ok(s) => samples.push(Sample { historical, ..s }),
                Err(reason) => out.push(FeedEventBody::Rejected { reason }),
            },
            Err(reason) => out.push(FeedEventBody::Rejected { reason }),
        }
    }
    if !samples.is_empty() {
        out.insert(0, FeedEventBody::Samples(samples));
    }
    out
}

fn short(text: &str) -> &str {
    let mut end = text.len().min(80);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One SSE event of the stream (`samples`, `birth`, `stale`; `reset` is handled by the connection).
pub fn decode_event(event: &str, data: &str, received_ms: i64) -> Result<Vec<FeedEventBody>, String> {
    match event {
        "samples" => {
            let d: SamplesData<'_> =
                serde_json::from_str(data).map_err(|e| format!("samples event is not {{\"samples\": [..]}}: {e}"))?;
            Ok(decode_samples(&d.samples, received_ms, false))
        }
        "birth" => {
            #[derive(Deserialize)]
            struct Birth {
                signals: Vec<WireSignal>,
            }
            let b: Birth =
                serde_json::from_str(data).map_err(|e| format!("birth event is not {{\"signals\": [..]}}: {e}"))?;
            let mut metas = Vec::new();
            let mut out = Vec::new();
            for s in b.signals {
                match s.into_meta() {
                    Ok(m) => metas.push(m),
                    Err(reason) => out.push(FeedEventBody::Rejected { reason }),
                }
            }
            if !metas.is_empty() {
                out.insert(0, FeedEventBody::Birth(metas));
            }
            Ok(out)
        }
        "stale" => {
            #[derive(Deserialize)]
            struct Stale {
                prefix: String,
            }
            let s: Stale =
                serde_json::from_str(data).map_err(|e| format!("stale event is not {{\"prefix\": ..}}: {e}"))?;
            Ok(vec![FeedEventBody::Stale { prefix: s.prefix }])
        }
        other => Err(format!("unknown event type {:?}", short(other))),
    }
}

/// `/v1/snapshot`: the samples and the stream position they belong to.
pub fn decode_snapshot(body: &[u8], received_ms: i64) -> Result<(Vec<FeedEventBody>, Option<String>), String> {
    #[derive(Deserialize)]
    struct Snapshot<'a> {
        last_event_id: Option<String>,
        #[serde(borrow)]
        samples: Vec<&'a RawValue>,
    }
    let s: Snapshot<'_> = serde_json::from_slice(body).map_err(|e| format!("snapshot is not valid: {e}"))?;
    Ok((decode_samples(&s.samples, received_ms, false), s.last_event_id))
}

/// One `/v1/history` page: samples (historical) and the next cursor.
pub fn decode_history(body: &[u8], received_ms: i64) -> Result<(Vec<FeedEventBody>, Option<String>), String> {
    #[derive(Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        samples: Vec<&'a RawValue>,
        next: Option<String>,
    }
    let p: Page<'_> = serde_json::from_slice(body).map_err(|e| format!("history page is not valid: {e}"))?;
    Ok((decode_samples(&p.samples, received_ms, true), p.next))
}

// ---- The connection --------------------------------------------------------------------------------------------

pub struct HttpFeed {
    config: HttpGateway,
}

impl HttpFeed {
    pub fn new(config: HttpGateway) -> Self {
        Self { config }
    }
}

/// Where the stream stands between connections.
#[derive(Default)]
struct Position {
    /// The last event processed, `<epoch>:<seq>`.
    last_event_id: Option<String>,
    /// The newest sample time seen, where a backfill starts.
    newest_ms: Option<i64>,
    /// The next connection must take a snapshot (first connect, or after a reset).
    needs_snapshot: bool,
    /// After a reset: backfill from here.
    backfill_from: Option<i64>,
}

/// Why a session ended.
enum End {
    Stop,
    /// Reconnect: with this status, after the back-off or the given delay.
    Retry(FeedStatus, Option<Duration>),
    /// Reconnect at once (a reset).
    Now,
}

struct Session<'a> {
    client: &'a reqwest::Client,
    base: &'a url::Url,
    token: Option<&'a str>,
}

impl Session<'_> {
    fn url(&self, path: &str) -> url::Url {
        let mut base = self.base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        base.join(path).unwrap_or_else(|_| base.clone())
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        let req = self.client.get(self.url(path));
        match self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Sends a request; a non-2xx answer becomes the status to show.
    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> Result<reqwest::Response, End> {
        let resp = req.send().await.map_err(|e| {
            let text = error_chain(&e);
            // A certificate that does not verify needs a person (ca_file, the server's certificate), not a retry.
            let state = if text.contains("certificate") { FeedState::Error } else { FeedState::Offline };
            End::Retry(FeedStatus::with_message(state, format!("{what}: {text}")), None)
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp.text().await.unwrap_or_default();
        let body = short_kib(&body);
        let (state, hint) = match status.as_u16() {
            401 | 403 => (FeedState::Error, " (check the token: token_env / token_file)"),
            429 | 503 => (FeedState::Offline, ""),
            400..=499 => (FeedState::Error, ""),
            _ => (FeedState::Offline, ""),
        };
        tracing::warn!("{what}: HTTP {status}{hint}: {body}");
        Err(End::Retry(FeedStatus::with_message(state, format!("{what}: HTTP {status}{hint}")), retry_after))
    }
}

fn short_kib(text: &str) -> &str {
    let mut end = text.len().min(1024);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].trim()
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

fn newest(events: &[FeedEventBody]) -> Option<i64> {
    events
        .iter()
        .filter_map(|e| match e {
            FeedEventBody::Samples(s) => {
                s.iter().filter(|s| s.time_source == TimeSource::Source).map(|s| s.ts_ms).max()
            }
            _ => None,
        })
        .max()
}

impl HttpFeed {
    fn client(&self) -> Result<reqwest::Client, Error> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(STREAM_SILENCE)
            .user_agent(concat!("watchfloor/", env!("CARGO_PKG_VERSION")));
        if self.config.link.uses_tls() {
            let tls = super::tls::client_config(&self.config.link.tls)?;
            builder = builder.tls_backend_preconfigured(Arc::unwrap_or_clone(tls));
        } else {
            super::tls::install_provider();
        }
        builder.build().map_err(|e| Error::HttpClient(error_chain(&e)))
    }

    /// Snapshot (and signals) at connect; a backfill after a reset.
    async fn prepare(&self, ctx: &FeedContext, s: &Session<'_>, pos: &mut Position) -> Result<(), End> {
        let limits = &self.config.link.limits;
        let resp = s.send(s.get("v1/signals"), "GET /v1/signals").await?;
        let body = self.body(ctx, resp, "/v1/signals").await?;
        let now = ctx.clock.now_ms();
        let message = Message::new(now, "GET /v1/signals", PayloadFormat::HttpJson, &body);
        match serde_json::from_slice::<Vec<WireSignal>>(&body) {
            Ok(list) => {
                let mut events = Vec::new();
                let mut metas = Vec::new();
                for w in list {
                    match w.into_meta() {
                        Ok(m) => metas.push(m),
                        Err(reason) => events.push(FeedEventBody::Rejected { reason }),
                    }
                }
                events.insert(0, FeedEventBody::Birth(metas));
                ctx.ingest(message, events, limits).await;
            }
            Err(e) => ctx.refuse(message, format!("/v1/signals is not a list of signals: {e}")).await,
        }

        let resp = s.send(s.get("v1/snapshot"), "GET /v1/snapshot").await?;
        let body = self.body(ctx, resp, "/v1/snapshot").await?;
        let now = ctx.clock.now_ms();
        let message = Message::new(now, "GET /v1/snapshot", PayloadFormat::HttpJson, &body);
        match decode_snapshot(&body, now) {
            Ok((events, last_id)) => {
                pos.newest_ms = pos.newest_ms.max(newest(&events));
                pos.last_event_id = last_id;
                ctx.ingest(message, events, limits).await;
            }
            Err(reason) => {
                ctx.refuse(message, reason.clone()).await;
                return Err(End::Retry(FeedStatus::with_message(FeedState::Error, reason), None));
            }
        }
        pos.needs_snapshot = false;

        if let Some(from) = pos.backfill_from.take() {
            self.backfill(ctx, s, from, now).await?;
        }
        Ok(())
    }

    /// Fills an outage from `/v1/history`, page by page; a gateway without history (404) leaves a gap.
    async fn backfill(&self, ctx: &FeedContext, s: &Session<'_>, from: i64, to: i64) -> Result<(), End> {
        let mut cursor: Option<String> = None;
        let mut total = 0usize;
        loop {
            let mut query = vec![("from", from.to_string()), ("to", to.to_string())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let resp = match s.send(s.get("v1/history").query(&query), "GET /v1/history").await {
                Ok(r) => r,
                Err(End::Retry(st, _)) if st.message.as_deref().is_some_and(|m| m.contains("404")) => {
                    tracing::info!(gateway = %ctx.gateway, "the gateway keeps no history; the outage stays a gap");
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let body = self.body(ctx, resp, "/v1/history").await?;
            let now = ctx.clock.now_ms();
            let message = Message::new(now, "GET /v1/history", PayloadFormat::HttpJson, &body);
            match decode_history(&body, now) {
                Ok((events, next)) => {
                    total += events
                        .iter()
                        .map(|e| if let FeedEventBody::Samples(s) = e { s.len() } else { 0 })
                        .sum::<usize>();
                    ctx.ingest(message, events, &self.config.link.limits).await;
                    match next {
                        Some(n) => cursor = Some(n),
                        None => break,
                    }
                }
                Err(reason) => {
                    ctx.refuse(message, reason).await;
                    break;
                }
            }
        }
        tracing::info!(gateway = %ctx.gateway, samples = total, "backfilled the outage from the gateway's history");
        Ok(())
    }

    async fn body(&self, ctx: &FeedContext, resp: reqwest::Response, what: &str) -> Result<Bytes, End> {
        let limit = self.config.link.limits.max_payload_bytes.saturating_mul(64);
        let body = resp.bytes().await.map_err(|e| {
            End::Retry(FeedStatus::with_message(FeedState::Offline, format!("{what}: {}", error_chain(&e))), None)
        })?;
        if body.len() > limit {
            let reason = format!("{what}: response of {} bytes is larger than {limit}", body.len());
            let message = Message::new(ctx.clock.now_ms(), what, PayloadFormat::HttpJson, &body);
            ctx.refuse(message, reason.clone()).await;
            return Err(End::Retry(FeedStatus::with_message(FeedState::Error, reason), None));
        }
        Ok(body)
    }

    /// One connection: (snapshot,) stream until it ends.
    async fn session(&self, ctx: &mut FeedContext, s: &Session<'_>, pos: &mut Position, backoff: &mut Backoff) -> End {
        if (pos.needs_snapshot || pos.last_event_id.is_none())
            && let Err(end) = self.prepare(ctx, s, pos).await
        {
            return end;
        }
        let mut req = s.get("v1/stream").header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = &pos.last_event_id {
            req = req.header("Last-Event-ID", id.as_str());
        }
        let resp = match s.send(req, "GET /v1/stream").await {
            Ok(r) => r,
            Err(end) => return end,
        };
        let connected = Instant::now();
        ctx.diag.lock().connected(ctx.clock.now_ms());
        ctx.set_status(FeedStatus::new(FeedState::Live)).await;
        let limits = self.config.link.limits;
        let stale_after = Duration::from_millis(u64::try_from(self.config.link.stale_after_ms).unwrap_or(u64::MAX));
        let stale_after = stale_after.min(STREAM_SILENCE);
        let mut stream = resp.bytes_stream().eventsource();
        let mut shutdown = ctx.shutdown.clone();
        let mut stale = false;
        loop {
            if connected.elapsed() >= HEALTHY_AFTER {
                backoff.reset();
            }
            let next = tokio::select! {
                _ = shutdown.changed() => return End::Stop,
                next = tokio::time::timeout(stale_after, stream.next()) => next,
            };
            let event = match next {
                Err(_) if !stale => {
                    // Quiet longer than expected; the read timeout (three keep-alives) reopens the stream.
                    stale = true;
                    let msg = format!("nothing received for {} s", stale_after.as_secs());
                    ctx.set_status(FeedStatus::with_message(FeedState::Stale, msg)).await;
                    continue;
                }
                Err(_) => {
                    let msg = format!("the stream was silent for {} s; reopening", 2 * stale_after.as_secs());
                    return End::Retry(FeedStatus::with_message(FeedState::Offline, msg), Some(Duration::ZERO));
                }
                Ok(None) => {
                    return End::Retry(
                        FeedStatus::with_message(FeedState::Offline, "the gateway closed the stream"),
                        None,
                    );
                }
                Ok(Some(Err(e))) => {
                    let msg = format!("the stream broke: {}", error_chain(&e));
                    return End::Retry(FeedStatus::with_message(FeedState::Offline, msg), None);
                }
                Ok(Some(Ok(event))) => event,
            };
            if stale {
                stale = false;
                ctx.set_status(FeedStatus::new(FeedState::Live)).await;
            }
            let now = ctx.clock.now_ms();
            let kind = if event.event.is_empty() { "message" } else { event.event.as_str() };
            let topic = if event.id.is_empty() { kind.to_owned() } else { format!("{kind} #{}", event.id) };
            let payload = Bytes::from(event.data.clone());
            let message = Message::new(now, topic, PayloadFormat::HttpJson, &payload);
            if kind == "reset" {
                tracing::info!(gateway = %ctx.gateway, "the gateway reset the stream (restart or position too old): snapshot and backfill");
                ctx.ingest(message, Vec::new(), &limits).await;
                pos.needs_snapshot = true;
                pos.backfill_from = pos.newest_ms;
                pos.last_event_id = None;
                return End::Now;
            }
            if let Some(reason) = limits.check_size(payload.len()) {
                ctx.refuse(message, format!("{kind}: {reason}")).await;
            } else {
                match decode_event(kind, &event.data, now) {
                    Ok(events) => {
                        pos.newest_ms = pos.newest_ms.max(newest(&events));
                        ctx.ingest(message, events, &limits).await;
                    }
                    Err(reason) => ctx.refuse(message, reason).await,
                }
            }
            if !event.id.is_empty() {
                pos.last_event_id = Some(event.id);
            }
        }
    }
}

impl Feed for HttpFeed {
    async fn run_impl(self, ctx: &mut FeedContext) -> Result<(), Error> {
        let client = self.client()?;
        let token = self.config.link.credentials.token()?;
        let session = Session { client: &client, base: &self.config.link.url, token: token.as_deref() };
        let mut pos = Position { needs_snapshot: true, ..Position::default() };
        let mut backoff = Backoff::default();
        loop {
            match self.session(ctx, &session, &mut pos, &mut backoff).await {
                End::Stop => return Ok(()),
                End::Now => {}
                End::Retry(status, delay) => {
                    let now = ctx.clock.now_ms();
                    let message = status.message.clone().unwrap_or_default();
                    if ctx.diag.lock().connected_since_ms.is_some() || backoff.attempts() == 0 {
                        tracing::warn!(gateway = %ctx.gateway, "{message}");
                    }
                    ctx.diag.lock().disconnected(now, Some(message));
                    ctx.set_status(status).await;
                    let delay = delay.unwrap_or_else(|| backoff.next_delay());
                    if ctx.sleep_or_stop(delay).await {
                        return Ok(());
                    }
                    ctx.set_status(FeedStatus::new(FeedState::Connecting)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_decode_one_by_one_and_bad_ones_are_rejected_with_a_reason() {
        let data = r#"{"samples": [
            {"id": "A/x", "ts": 1000, "v": 1.5},
            {"id": "A/y", "ts": 1000, "v": 7, "q": "uncertain"},
            {"id": "A/z", "v": null},
            {"id": "A/w", "ts": 1000, "v": true, "q": "excellent"},
            {"id": "", "ts": 1000, "v": 1},
            {"ts": 1000, "v": 1},
            {"id": "A/s", "ts": 1000, "v": "running"}
        ]}"#;
        let events = decode_event("samples", data, 5_000).expect("decodes");
        let FeedEventBody::Samples(samples) = &events[0] else { panic!("{events:?}") };
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[0].value, Value::F64(1.5));
        assert_eq!(samples[1].value, Value::I64(7));
        assert_eq!(samples[1].quality, Quality::Uncertain);
        assert_eq!(
            (samples[2].quality, samples[2].ts_ms, samples[2].time_source),
            (Quality::Bad, 5_000, TimeSource::Arrival)
        );
        assert_eq!(samples[3].value, Value::Str("running".into()));
        let rejected: Vec<&str> = events
            .iter()
            .filter_map(|e| if let FeedEventBody::Rejected { reason } = e { Some(reason.as_str()) } else { None })
            .collect();
        assert_eq!(rejected.len(), 3, "{rejected:?}");
        assert!(rejected[0].contains("excellent"));
    }

    #[test]
    fn broken_events_say_why() {
        assert!(decode_event("samples", "{not json", 0).expect_err("bad").contains("samples event"));
        assert!(decode_event("samples", r#"{"samples": [{"id": "a", "v": NaN}]}"#, 0).is_err());
        assert!(decode_event("weird", "{}", 0).expect_err("unknown").contains("unknown event type"));
        let birth = decode_event(
            "birth",
            r#"{"signals": [{"id": "a", "kind": "float", "unit": "m"}, {"id": "b", "kind": "blob"}]}"#,
            0,
        )
        .expect("birth");
        assert!(matches!(&birth[0], FeedEventBody::Birth(m) if m.len() == 1 && m[0].unit.as_deref() == Some("m")));
        assert!(matches!(&birth[1], FeedEventBody::Rejected { reason } if reason.contains("blob")));
        assert_eq!(
            decode_event("stale", r#"{"prefix": "P/"}"#, 0),
            Ok(vec![FeedEventBody::Stale { prefix: "P/".into() }])
        );
    }

    #[test]
    fn history_pages_are_historical() {
        let (events, next) =
            decode_history(br#"{"samples": [{"id": "a", "ts": 5, "v": 1}], "next": "10"}"#, 0).expect("page");
        assert_eq!(next.as_deref(), Some("10"));
        assert!(matches!(&events[0], FeedEventBody::Samples(s) if s[0].historical));
    }

    #[test]
    fn wire_samples_round_trip() {
        let s = Sample { quality: Quality::Bad, ..Sample::new(SignalId::from("a/b"), 42, Value::I64(-3)) };
        let w = WireSample::from_sample(&s);
        let text = serde_json::to_string(&w).expect("json");
        assert_eq!(text, r#"{"id":"a/b","ts":42,"v":-3,"q":"bad"}"#);
        let back: WireSample = serde_json::from_str(&text).expect("parse");
        assert_eq!(back.into_sample(0), Ok(s));
    }
}
