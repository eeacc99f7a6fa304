//! What the Connections panel shows about each gateway beyond its state: counters, rates, the last messages as
//! received (raw bytes, decoded only when someone looks) and a quarantine of the messages that could not be used.
//!
//! A feed task writes through a [`DiagHandle`] (one short lock per message, no formatting); the UI reads a copy
//! of the parts it draws.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

/// Messages kept for the inspector, per gateway.
pub const INSPECTOR_LEN: usize = 200;
/// Bad messages kept in quarantine, per gateway.
pub const QUARANTINE_LEN: usize = 200;
/// Bytes of a payload kept for display; the size of the whole message is still recorded.
pub const KEEP_BYTES: usize = 64 * 1024;
/// Rates are averaged over this many whole seconds.
pub const RATE_WINDOW_SECS: i64 = 10;

/// How a payload is decoded for display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadFormat {
    Sparkplug,
    Kepware,
    FlatJson,
    /// An HTTP gateway feed event or response (JSON text).
    HttpJson,
    /// The built-in simulator (no wire format).
    Simulator,
    /// OPC UA data change notifications (shown as node, value, status and source time).
    OpcUa,
}

/// One message as it arrived.
#[derive(Clone, Debug)]
pub struct Message {
    pub received_ms: i64,
    /// MQTT topic, SSE event type and id, or HTTP path.
    pub topic: String,
    pub format: PayloadFormat,
    /// The payload, cut at [`KEEP_BYTES`].
    pub payload: Bytes,
    /// The size of the whole payload.
    pub size: usize,
    /// Samples it gave.
    pub samples: usize,
    /// Why (part of) it was rejected; `None` when all of it was used.
    pub problem: Option<String>,
}

impl Message {
    pub fn new(received_ms: i64, topic: impl Into<String>, format: PayloadFormat, payload: &Bytes) -> Self {
        Self {
            received_ms,
            topic: topic.into(),
            format,
            payload: payload.slice(..payload.len().min(KEEP_BYTES)),
            size: payload.len(),
            samples: 0,
            problem: None,
        }
    }

    pub fn truncated(&self) -> bool {
        self.payload.len() < self.size
    }
}

/// Per-second counts for the rate window.
#[derive(Clone, Copy, Debug, Default)]
struct Second {
    sec: i64,
    messages: u64,
    samples: u64,
    bytes: u64,
}

/// Everything known about one gateway's link.
#[derive(Clone, Debug)]
pub struct GatewayDiag {
    pub name: Arc<str>,
    /// `sparkplug`, `mqtt-json`, `http` or `sim`.
    pub kind: &'static str,
    /// Where it connects, without credentials.
    pub endpoint: String,
    pub messages: u64,
    pub bytes: u64,
    pub samples: u64,
    /// Messages or entries that could not be used (decode errors, limits).
    pub rejected: u64,
    /// Connections made after the first.
    pub reconnects: u64,
    /// Rebirth requests sent (Sparkplug).
    pub rebirths: u64,
    pub connected_since_ms: Option<i64>,
    pub last_message_ms: Option<i64>,
    pub last_error: Option<(i64, String)>,
    pub recent: VecDeque<Message>,
    pub quarantine: VecDeque<Message>,
    /// An OPC UA server certificate the trust list does not hold yet (the Connections view offers *Trust*).
    pub untrusted: Option<UntrustedCert>,
    seconds: VecDeque<Second>,
    connections: u64,
}

/// A server certificate kept aside as not trusted: its file, whom it names, its SHA-1 thumbprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UntrustedCert {
    pub file: std::path::PathBuf,
    pub subject: String,
    pub thumbprint: String,
}

/// Messages, samples and bytes per second over the last [`RATE_WINDOW_SECS`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    pub messages_per_sec: f64,
    pub samples_per_sec: f64,
    pub bytes_per_sec: f64,
}

impl GatewayDiag {
    pub fn new(name: Arc<str>, kind: &'static str, endpoint: impl Into<String>) -> Self {
        Self {
            name,
            kind,
            endpoint: endpoint.into(),
            messages: 0,
            bytes: 0,
            samples: 0,
            rejected: 0,
            reconnects: 0,
            rebirths: 0,
            connected_since_ms: None,
            last_message_ms: None,
            last_error: None,
            recent: VecDeque::with_capacity(INSPECTOR_LEN),
            quarantine: VecDeque::new(),
            untrusted: None,
            seconds: VecDeque::with_capacity(RATE_WINDOW_SECS as usize + 2),
            connections: 0,
        }
    }

    /// Records a message; a message with a problem is also quarantined.
    pub fn record(&mut self, message: Message) {
        self.messages += 1;
        self.bytes += message.size as u64;
        self.samples += message.samples as u64;
        self.last_message_ms = Some(self.last_message_ms.map_or(message.received_ms, |t| t.max(message.received_ms)));
        self.count_second(message.received_ms, 1, message.samples as u64, message.size as u64);
        if message.problem.is_some() {
            self.rejected += 1;
            push_capped(&mut self.quarantine, message.clone(), QUARANTINE_LEN);
        }
        push_capped(&mut self.recent, message, INSPECTOR_LEN);
    }

    /// Counts rejected entries inside a message that was otherwise used (already recorded).
    pub fn count_rejected(&mut self, n: u64) {
        self.rejected += n;
    }

    pub fn connected(&mut self, now_ms: i64) {
        if self.connections > 0 {
            self.reconnects += 1;
        }
        self.connections += 1;
        self.connected_since_ms = Some(now_ms);
    }

    pub fn disconnected(&mut self, now_ms: i64, error: Option<String>) {
        self.connected_since_ms = None;
        if let Some(error) = error {
            self.last_error = Some((now_ms, error));
        }
    }

    pub fn error(&mut self, now_ms: i64, error: impl Into<String>) {
        self.last_error = Some((now_ms, error.into()));
    }

    /// Rates over the last whole seconds before `now_ms` (the current, unfinished second is left out).
    pub fn rates(&self, now_ms: i64) -> Rates {
        let now_sec = now_ms.div_euclid(1000);
        let from = now_sec - RATE_WINDOW_SECS;
        let mut r = Rates::default();
        for s in self.seconds.iter().filter(|s| s.sec >= from && s.sec < now_sec) {
            r.messages_per_sec += s.messages as f64;
            r.samples_per_sec += s.samples as f64;
            r.bytes_per_sec += s.bytes as f64;
        }
        let n = RATE_WINDOW_SECS as f64;
        Rates {
            messages_per_sec: r.messages_per_sec / n,
            samples_per_sec: r.samples_per_sec / n,
            bytes_per_sec: r.bytes_per_sec / n,
        }
    }

    fn count_second(&mut self, ts_ms: i64, messages: u64, samples: u64, bytes: u64) {
        let sec = ts_ms.div_euclid(1000);
        match self.seconds.back_mut() {
            Some(last) if last.sec == sec => {
                last.messages += messages;
                last.samples += samples;
                last.bytes += bytes;
            }
            // A clock step backwards: count it in the newest second rather than reorder the window.
            Some(last) if last.sec > sec => {
                last.messages += messages;
                last.samples += samples;
                last.bytes += bytes;
            }
            _ => self.seconds.push_back(Second { sec, messages, samples, bytes }),
        }
        while self.seconds.front().is_some_and(|s| s.sec < sec - RATE_WINDOW_SECS - 1) {
            self.seconds.pop_front();
        }
    }
}

fn push_capped<T>(queue: &mut VecDeque<T>, item: T, cap: usize) {
    if queue.len() == cap {
        queue.pop_front();
    }
    queue.push_back(item);
}

/// A gateway's diagnostics, shared by its feed task (writer) and the UI (reader).
#[derive(Clone, Debug)]
pub struct DiagHandle(Arc<Mutex<GatewayDiag>>);

impl DiagHandle {
    pub fn new(name: Arc<str>, kind: &'static str, endpoint: impl Into<String>) -> Self {
        Self(Arc::new(Mutex::new(GatewayDiag::new(name, kind, endpoint))))
    }

    /// Locks for a short read or update. A panic elsewhere while holding it leaves the counters usable.
    pub fn lock(&self) -> MutexGuard<'_, GatewayDiag> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ts: i64, samples: usize, problem: Option<&str>) -> Message {
        let mut m = Message::new(ts, "t", PayloadFormat::FlatJson, &Bytes::from_static(b"{}"));
        m.samples = samples;
        m.problem = problem.map(str::to_owned);
        m
    }

    #[test]
    fn rates_average_whole_seconds_and_leave_out_the_current_one() {
        let mut d = GatewayDiag::new("g".into(), "http", "x");
        for s in 0..20 {
            for _ in 0..5 {
                d.record(msg(s * 1000 + 10, 3, None));
            }
        }
        let r = d.rates(20_500);
        assert!((r.messages_per_sec - 5.0).abs() < 1e-9, "{r:?}");
        assert!((r.samples_per_sec - 15.0).abs() < 1e-9, "{r:?}");
        // Silence: the rate falls to zero once the window has passed.
        assert_eq!(d.rates(40_000).messages_per_sec, 0.0);
        assert!(d.seconds.len() <= RATE_WINDOW_SECS as usize + 2);
    }

    #[test]
    fn the_inspector_keeps_the_last_messages_and_bad_ones_are_quarantined() {
        let mut d = GatewayDiag::new("g".into(), "http", "x");
        for i in 0..(INSPECTOR_LEN as i64 + 50) {
            d.record(msg(i, 1, (i % 10 == 0).then_some("bad")));
        }
        assert_eq!(d.recent.len(), INSPECTOR_LEN);
        assert_eq!(d.recent.front().map(|m| m.received_ms), Some(50));
        assert_eq!(d.quarantine.len(), 25);
        assert_eq!(d.rejected, 25);
        assert_eq!(d.messages, INSPECTOR_LEN as u64 + 50);
    }

    #[test]
    fn reconnects_count_connections_after_the_first() {
        let mut d = GatewayDiag::new("g".into(), "http", "x");
        d.connected(1);
        d.disconnected(2, Some("reset".into()));
        d.connected(3);
        assert_eq!(d.reconnects, 1);
        assert_eq!(d.connected_since_ms, Some(3));
        assert_eq!(d.last_error, Some((2, "reset".to_owned())));
    }

    #[test]
    fn a_huge_payload_is_kept_cut_but_its_size_is_counted() {
        let big = Bytes::from(vec![b'x'; KEEP_BYTES * 3]);
        let m = Message::new(0, "t", PayloadFormat::FlatJson, &big);
        assert!(m.truncated());
        assert_eq!(m.payload.len(), KEEP_BYTES);
        assert_eq!(m.size, KEEP_BYTES * 3);
    }
}
