//! The HTTP gateway feed server (docs/gateway-http.md, protocol version 1), serving the simulator: signals,
//! snapshot, an SSE stream that resumes from `Last-Event-ID`, and paged history for backfill.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use tokio::sync::{broadcast, watch};

use super::Update;
use crate::feeds::http::{WireSample, WireSignal};
use crate::model::{Sample, SignalId};

/// Events kept for resuming streams.
pub const RING_EVENTS: usize = 100_000;
/// Samples kept for `/v1/history`.
pub const HISTORY_SAMPLES: usize = 2_000_000;
/// Samples per `/v1/history` page and per `samples` event.
pub const PAGE: usize = 10_000;
const EVENT_SAMPLES: usize = 5_000;
/// The keep-alive comment interval the protocol promises.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One numbered stream event.
#[derive(Debug)]
pub struct StreamEvent {
    pub seq: u64,
    pub kind: &'static str,
    pub data: String,
}

struct HubState {
    epoch: String,
    seq: u64,
    ring: VecDeque<Arc<StreamEvent>>,
    ring_cap: usize,
    signals: BTreeMap<SignalId, WireSignal>,
    latest: HashMap<SignalId, Sample>,
    history: VecDeque<Sample>,
}

/// What the server serves: the current epoch, the event ring, latest values and history. Thread-safe.
pub struct Hub {
    state: Mutex<HubState>,
    live: broadcast::Sender<Arc<StreamEvent>>,
    cut: watch::Sender<u64>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::with_ring(RING_EVENTS)
    }
}

impl Hub {
    /// A hub keeping `ring` events for resuming (small values let tests make a position too old).
    pub fn with_ring(ring: usize) -> Self {
        let epoch = format!("{:08x}", crate::feeds::link::entropy() as u32);
        Self {
            state: Mutex::new(HubState {
                epoch,
                seq: 0,
                ring: VecDeque::new(),
                ring_cap: ring.max(1),
                signals: BTreeMap::new(),
                latest: HashMap::new(),
                history: VecDeque::new(),
            }),
            live: broadcast::channel(4_096).0,
            cut: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn epoch(&self) -> String {
        self.lock().epoch.clone()
    }

    /// Takes one update from the simulator (or a test).
    pub fn apply(&self, update: &Update) {
        match update {
            Update::Birth { meta, values } => {
                let signals: Vec<WireSignal> = meta.iter().map(WireSignal::from_meta).collect();
                {
                    let mut st = self.lock();
                    for s in &signals {
                        st.signals.insert(SignalId::from(s.id.as_str()), s.clone());
                    }
                }
                let data = serde_json::json!({ "signals": signals }).to_string();
                self.push("birth", data);
                self.samples(values);
            }
            Update::Samples(samples) => self.samples(samples),
        }
    }

    fn samples(&self, samples: &[Sample]) {
        for chunk in samples.chunks(EVENT_SAMPLES) {
            {
                let mut st = self.lock();
                for s in chunk {
                    if st.latest.get(&s.signal).is_none_or(|l| l.ts_ms <= s.ts_ms) {
                        st.latest.insert(s.signal.clone(), s.clone());
                    }
                    if st.history.len() == HISTORY_SAMPLES {
                        st.history.pop_front();
                    }
                    st.history.push_back(s.clone());
                }
            }
            let wire: Vec<WireSample> = chunk.iter().map(WireSample::from_sample).collect();
            self.push("samples", serde_json::json!({ "samples": wire }).to_string());
        }
    }

    /// Adds an event with the next seq and sends it to every open stream. Tests use it to send bad events.
    pub fn push(&self, kind: &'static str, data: String) {
        let event = {
            let mut st = self.lock();
            st.seq += 1;
            let event = Arc::new(StreamEvent { seq: st.seq, kind, data });
            if st.ring.len() == st.ring_cap {
                st.ring.pop_front();
            }
            st.ring.push_back(Arc::clone(&event));
            event
        };
        // No open stream is fine.
        let _ = self.live.send(event);
    }

    /// Ends every open stream at once, as a dropped connection would (clients resume with `Last-Event-ID`).
    pub fn cut_streams(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    fn snapshot(&self) -> serde_json::Value {
        let st = self.lock();
        let samples: Vec<WireSample> = st.latest.values().map(WireSample::from_sample).collect();
        serde_json::json!({
            "epoch": st.epoch,
            "last_event_id": format!("{}:{}", st.epoch, st.seq),
            "samples": samples,
        })
    }
}

type SharedHub = (Arc<Hub>, Option<Arc<str>>);

fn authorized(headers: &HeaderMap, token: Option<&str>) -> bool {
    let Some(token) = token else { return true };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| given.trim() == token)
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "missing or wrong bearer token\n")
        .into_response()
}

async fn signals(State((hub, token)): State<SharedHub>, headers: HeaderMap) -> Response {
    if !authorized(&headers, token.as_deref()) {
        return unauthorized();
    }
    let list: Vec<WireSignal> = hub.lock().signals.values().cloned().collect();
    axum::Json(list).into_response()
}

async fn snapshot(State((hub, token)): State<SharedHub>, headers: HeaderMap) -> Response {
    if !authorized(&headers, token.as_deref()) {
        return unauthorized();
    }
    axum::Json(hub.snapshot()).into_response()
}

async fn history(State((hub, token)): State<SharedHub>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    if !authorized(&headers, token.as_deref()) {
        return unauthorized();
    }
    let (mut from, mut to, mut skip) = (i64::MIN, i64::MAX, 0usize);
    let mut ids: Vec<String> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let bad = || (StatusCode::BAD_REQUEST, format!("{k}={v:?} is not valid\n")).into_response();
        match k.as_ref() {
            "from" => match v.parse() {
                Ok(t) => from = t,
                Err(_) => return bad(),
            },
            "to" => match v.parse() {
                Ok(t) => to = t,
                Err(_) => return bad(),
            },
            "cursor" => match v.parse() {
                Ok(c) => skip = c,
                Err(_) => return bad(),
            },
            "id" => ids.push(v.into_owned()),
            _ => {}
        }
    }
    let st = hub.lock();
    let mut matching: Vec<&Sample> = st
        .history
        .iter()
        .filter(|s| s.ts_ms >= from && s.ts_ms < to && (ids.is_empty() || ids.iter().any(|i| i == s.signal.as_str())))
        .collect();
    matching.sort_by_key(|s| s.ts_ms);
    let page: Vec<WireSample> = matching.iter().skip(skip).take(PAGE).map(|s| WireSample::from_sample(s)).collect();
    let next = (skip + page.len() < matching.len()).then(|| (skip + page.len()).to_string());
    axum::Json(serde_json::json!({ "samples": page, "next": next })).into_response()
}

/// Where a client wants to resume: `<epoch>:<seq>`.
fn parse_last_event_id(headers: &HeaderMap) -> Option<(String, u64)> {
    let text = headers.get("last-event-id")?.to_str().ok()?;
    let (epoch, seq) = text.rsplit_once(':')?;
    Some((epoch.to_owned(), seq.parse().ok()?))
}

async fn stream(State((hub, token)): State<SharedHub>, headers: HeaderMap) -> Response {
    if !authorized(&headers, token.as_deref()) {
        return unauthorized();
    }
    // Subscribe first, then read the ring under the lock: no event can fall between the two.
    let live = hub.live.subscribe();
    let cut = hub.cut.subscribe();
    let (replay, epoch, reset) = {
        let st = hub.lock();
        let oldest = st.ring.front().map_or(st.seq + 1, |e| e.seq);
        match parse_last_event_id(&headers) {
            Some((epoch, seq)) if epoch == st.epoch && seq <= st.seq && seq + 1 >= oldest => {
                (st.ring.iter().filter(|e| e.seq > seq).cloned().collect::<VecDeque<_>>(), st.epoch.clone(), false)
            }
            // No position: live from now on (the client took a snapshot just before).
            None => (VecDeque::new(), st.epoch.clone(), false),
            Some(_) => (VecDeque::new(), st.epoch.clone(), true),
        }
    };
    let last_seq = replay.back().map(|e| e.seq);
    let state = StreamState { replay, live, cut, epoch, reset, last_seq };
    Sse::new(events(state)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")).into_response()
}

struct StreamState {
    replay: VecDeque<Arc<StreamEvent>>,
    live: broadcast::Receiver<Arc<StreamEvent>>,
    cut: watch::Receiver<u64>,
    epoch: String,
    reset: bool,
    last_seq: Option<u64>,
}

fn to_sse(epoch: &str, e: &StreamEvent) -> SseEvent {
    SseEvent::default().id(format!("{epoch}:{}", e.seq)).event(e.kind).data(&e.data)
}

fn events(state: StreamState) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    futures_util::stream::unfold(state, |mut st| async move {
        if st.reset {
            st.reset = false;
            let data = serde_json::json!({ "epoch": st.epoch }).to_string();
            return Some((Ok(SseEvent::default().event("reset").data(data)), st));
        }
        if let Some(e) = st.replay.pop_front() {
            return Some((Ok(to_sse(&st.epoch, &e)), st));
        }
        loop {
            // A cut connection delivers nothing more, even when live events are already waiting.
            tokio::select! {
                biased;
                _ = st.cut.changed() => return None,
                received = st.live.recv() => match received {
                    Ok(e) if st.last_seq.is_some_and(|s| e.seq <= s) => {}
                    Ok(e) => {
                        st.last_seq = Some(e.seq);
                        let event = to_sse(&st.epoch, &e);
                        return Some((Ok(event), st));
                    }
                    // Too slow for the live feed: end the stream; the client resumes from the ring.
                    Err(_) => return None,
                },
            }
        }
    })
}

/// The routes, for [`serve`] and tests.
pub fn router(hub: Arc<Hub>, token: Option<String>) -> axum::Router {
    axum::Router::new()
        .route("/v1/signals", get(signals))
        .route("/v1/snapshot", get(snapshot))
        .route("/v1/stream", get(stream))
        .route("/v1/history", get(history))
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state((hub, token.map(Arc::from)))
}

/// Serves `hub` on `listener` until `shutdown` turns true (open streams are ended then).
pub async fn serve_hub(
    listener: tokio::net::TcpListener,
    hub: Arc<Hub>,
    token: Option<String>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let app = router(Arc::clone(&hub), token);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            while !*shutdown.borrow_and_update() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
            hub.cut_streams();
        })
        .await?;
    Ok(())
}

/// Serves the HTTP gateway feed on `listener` from the driver's `updates` until `shutdown` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    mut updates: broadcast::Receiver<Arc<Update>>,
    token: Option<String>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let hub = Arc::new(Hub::default());
    let feeder = Arc::clone(&hub);
    tokio::spawn(async move {
        loop {
            match updates.recv().await {
                Ok(update) => feeder.apply(&update),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("HTTP gateway fell behind the simulator: {n} updates skipped");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    serve_hub(listener, hub, token, shutdown).await
}
