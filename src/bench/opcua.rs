//! `watchfloor bench opcua`: 10,000 monitored items at 100 ms from the built-in OPC UA server (a child process
//! `watchfloor gateway --opcua … --load …`, so its CPU is not ours) through the whole pipeline — the OPC UA feed,
//! the bus, the live state and the history store — against a bare async-opcua client subscribing to the same
//! items with the same parameters, in the same process, on the same runtime.
//!
//! CPU is read from `/proc/self/task/*/stat` (user + system ticks per thread), so the pipeline's share splits into
//! the I/O runtime (`wf-io`: the OPC UA client and the feed), the store's writer (`wf-store-write`) and the rest
//! (the live state, applied on the calling thread as the window does each frame).

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use opcua::client::{ClientBuilder, DataChangeCallback, IdentityToken};
use opcua::crypto::SecurityPolicy;
use opcua::types::{
    AttributeId, MessageSecurityMode, MonitoredItemCreateRequest, MonitoringMode, MonitoringParameters, NodeId,
    ReadValueId, TimestampsToReturn,
};
use serde::Serialize;

use crate::cli::Format;
use crate::clock::{Clock, SystemClock, wall_now_ms};
use crate::config::{Link, OpcUaGateway, OpcUaSecurity};
use crate::feeds::opcua::{OpcUaFeed, unix_ms};
use crate::feeds::{DiagHandle, spawn_feed};
use crate::gateway::opcua::NAMESPACE;
use crate::live::{LiveSettings, LiveState};
use crate::model::FeedEventBody;

/// What `bench opcua` is asked to do.
#[derive(Clone, Copy, Debug)]
pub struct OpcUaBenchOptions {
    pub format: Format,
    pub items: usize,
    pub every_ms: u64,
    /// Measured seconds per run (after the items' first values and a warm-up).
    pub secs: u64,
    pub runs: usize,
}

/// Medians of the runs, with the JSON keys docs/benchmarks.md refers to.
#[derive(Debug, Serialize)]
pub struct OpcUaBenchResult {
    pub items: usize,
    pub interval_ms: u64,
    pub window_secs: u64,
    pub runs: usize,
    /// Values the server made per second (items ÷ interval), what both clients should receive.
    pub offered_per_sec: f64,
    /// Values applied to the live state per second (or folded into a newer one when the view is behind).
    pub pipeline_per_sec: f64,
    /// Data change notifications the bare client's callback received per second.
    pub bare_per_sec: f64,
    /// The whole process's CPU while the pipeline ran, in shares of one core.
    pub pipeline_cpu_share: f64,
    /// Of which the I/O runtime: the OPC UA client and the feed.
    pub pipeline_cpu_share_feed: f64,
    /// Of which the store's writer thread.
    pub pipeline_cpu_share_store: f64,
    /// Of which the rest (the live state).
    pub pipeline_cpu_share_live: f64,
    pub bare_cpu_share: f64,
    /// Pipeline CPU ÷ bare client CPU (the goal is ≤ 1.5).
    pub cpu_ratio_vs_bare: f64,
    /// The feed's threads alone ÷ bare client CPU.
    pub feed_cpu_ratio_vs_bare: f64,
    /// Source time → the value applied to the live state.
    pub pipeline_p50_latency_ms: f64,
    pub pipeline_p99_latency_ms: f64,
    /// Source time → the bare client's callback.
    pub bare_p50_latency_ms: f64,
    pub bare_p99_latency_ms: f64,
    /// The server process's CPU over the pipeline's window (for context: both clients share the machine with it).
    pub server_cpu_share: f64,
}

/// One measured window.
#[derive(Clone, Debug, Default)]
struct Window {
    per_sec: f64,
    cpu: CpuShares,
    p50_ms: f64,
    p99_ms: f64,
    server_cpu: f64,
}

#[derive(Clone, Copy, Debug, Default)]
struct CpuShares {
    feed: f64,
    store: f64,
    rest: f64,
}

impl CpuShares {
    fn total(self) -> f64 {
        self.feed + self.store + self.rest
    }
}

/// Linux reports `/proc` CPU times in `USER_HZ` ticks, 100 a second on every mainstream build.
const TICKS_PER_SEC: f64 = 100.0;

/// User + system ticks of one `/proc/…/stat` line (the fields after the command name).
fn stat_ticks(text: &str) -> Option<(String, u64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_owned();
    let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
    // After the name: state is field 3, utime 14 and stime 15 (1-based over the whole line).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// Ticks per thread of this process, grouped as the I/O runtime, the store writer and the rest.
fn own_ticks() -> [u64; 3] {
    let mut out = [0; 3];
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return out };
    for task in tasks.flatten() {
        let Some((name, ticks)) =
            std::fs::read_to_string(task.path().join("stat")).ok().as_deref().and_then(stat_ticks)
        else {
            continue;
        };
        let slot = if name.starts_with("wf-io") {
            0
        } else if name.starts_with("wf-store-write") {
            1
        } else {
            2
        };
        out[slot] += ticks;
    }
    out
}

fn process_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(stat_ticks).map_or(0, |(_, t)| t)
}

/// CPU bookkeeping over a window: ours by thread group, and the server's.
struct CpuClock {
    started: Instant,
    own: [u64; 3],
    server: u64,
    server_pid: u32,
}

impl CpuClock {
    fn start(server_pid: u32) -> Self {
        Self { started: Instant::now(), own: own_ticks(), server: process_ticks(server_pid), server_pid }
    }

    /// Shares of one core since the start: ours, and the server's.
    fn stop(&self) -> (CpuShares, f64) {
        let secs = self.started.elapsed().as_secs_f64();
        let own = own_ticks();
        #[expect(clippy::cast_precision_loss)]
        let share = |a: u64, b: u64| b.saturating_sub(a) as f64 / TICKS_PER_SEC / secs;
        let shares = CpuShares {
            feed: share(self.own[0], own[0]),
            store: share(self.own[1], own[1]),
            rest: share(self.own[2], own[2]),
        };
        (shares, share(self.server, process_ticks(self.server_pid)))
    }
}

/// The nearest-rank percentile `p` (0–1) of sorted values.
fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[expect(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let at = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1);
    #[expect(clippy::cast_precision_loss)]
    let v = sorted[at.min(sorted.len() - 1)] as f64;
    v
}

/// The load server: `watchfloor gateway --opcua … --load …` as a child process, killed on drop.
struct LoadServer {
    child: Child,
    url: url::Url,
}

impl LoadServer {
    fn start(dir: &Path, items: usize, every_ms: u64) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        let exe = std::env::current_exe().context("where this program is")?;
        let child = std::process::Command::new(exe)
            .args(["gateway", "--opcua", &format!("127.0.0.1:{port}"), "--opcua-pki"])
            .arg(dir.join("server-pki"))
            .args(["--load", &items.to_string(), "--load-every-ms", &every_ms.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the OPC UA load server")?;
        let mut server = Self { child, url: url::Url::parse(&format!("opc.tcp://127.0.0.1:{port}/"))? };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                return Err(anyhow!("the OPC UA load server exited: {status}"));
            }
            anyhow::ensure!(Instant::now() < deadline, "the OPC UA load server did not listen in 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }
}

impl Drop for LoadServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The same monitoring parameters for both clients: every value (status, value or time changed), queue 10.
fn item_requests(nodes: &[NodeId], every_ms: u64) -> Vec<MonitoredItemCreateRequest> {
    let filter = crate::feeds::opcua::value_filter(0.0);
    nodes
        .iter()
        .map(|node| MonitoredItemCreateRequest {
            item_to_monitor: ReadValueId::new(node.clone(), AttributeId::Value),
            monitoring_mode: MonitoringMode::Reporting,
            requested_parameters: MonitoringParameters {
                client_handle: 0,
                #[expect(clippy::cast_precision_loss)]
                sampling_interval: every_ms as f64,
                queue_size: 10,
                discard_oldest: true,
                filter: filter.clone(),
            },
        })
        .collect()
}

/// The bare client: a session, one subscription with every item, a callback that counts and notes latencies.
async fn bare(server: &LoadServer, dir: &Path, options: OpcUaBenchOptions, warm: Duration) -> anyhow::Result<Window> {
    // The same transport limits as the feed: the defaults cannot carry a publish response of 10,000 changes.
    let mut client = crate::feeds::opcua::with_large_messages(ClientBuilder::new())
        .application_name("Watchfloor bench")
        .application_uri("urn:watchfloor:bench")
        .product_uri("urn:watchfloor:bench")
        .pki_dir(dir.join("bare-pki"))
        .create_sample_keypair(true)
        .trust_server_certs(true)
        .session_retry_limit(3)
        .client()
        .map_err(|errors| anyhow!("bare client: {}", errors.join("; ")))?;
    let url = server.url.as_str();
    let endpoints = client.get_server_endpoints_from_url(url).await.map_err(|e| anyhow!("endpoints: {e}"))?;
    let mut endpoint = endpoints
        .into_iter()
        .find(|e| {
            e.security_mode == MessageSecurityMode::None
                && SecurityPolicy::from_uri(e.security_policy_uri.as_ref()) == SecurityPolicy::None
        })
        .context("the server has no endpoint without security")?;
    endpoint.endpoint_url = url.into();
    let (session, event_loop) =
        client.connect_to_endpoint_directly(endpoint, IdentityToken::Anonymous).map_err(|e| anyhow!("connect: {e}"))?;
    let driver = event_loop.spawn();
    anyhow::ensure!(session.wait_for_connection().await, "the bare client did not connect");
    let ns = session.get_namespace_index(NAMESPACE).await.map_err(|e| anyhow!("namespace: {e}"))?;
    let nodes: Vec<NodeId> =
        crate::gateway::load_signals(options.items).iter().map(|s| NodeId::new(ns, s.as_str())).collect();

    let count = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let callback = {
        let (count, measuring, latencies) = (Arc::clone(&count), Arc::clone(&measuring), Arc::clone(&latencies));
        DataChangeCallback::new(move |value, _item| {
            count.fetch_add(1, Ordering::Relaxed);
            if measuring.load(Ordering::Relaxed)
                && let Some(t) = value.source_timestamp.as_ref()
                && let Ok(mut l) = latencies.lock()
            {
                l.push(wall_now_ms() - unix_ms(t));
            }
        })
    };
    let interval = Duration::from_millis(options.every_ms);
    let id = session
        .create_subscription(interval, 60, 10, crate::feeds::opcua::MAX_NOTIFICATIONS_PER_PUBLISH, 0, true, callback)
        .await
        .map_err(|e| anyhow!("subscription: {e}"))?;
    for chunk in nodes.chunks(1_000) {
        session
            .create_monitored_items(id, TimestampsToReturn::Both, item_requests(chunk, options.every_ms))
            .await
            .map_err(|e| anyhow!("monitored items: {e}"))?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::Relaxed) < options.items as u64 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the bare client got {} of the {} first values in 60 s",
            count.load(Ordering::Relaxed),
            options.items
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(warm).await;
    let before = count.load(Ordering::Relaxed);
    measuring.store(true, Ordering::Relaxed);
    let cpu = CpuClock::start(server.child.id());
    tokio::time::sleep(Duration::from_secs(options.secs)).await;
    let (shares, server_cpu) = cpu.stop();
    let secs = cpu.started.elapsed().as_secs_f64();
    measuring.store(false, Ordering::Relaxed);
    let got = count.load(Ordering::Relaxed) - before;
    let _ = tokio::time::timeout(Duration::from_secs(5), session.disconnect()).await;
    driver.abort();
    let mut l = std::mem::take(&mut *latencies.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    l.sort_unstable();
    #[expect(clippy::cast_precision_loss)]
    let per_sec = got as f64 / secs;
    Ok(Window { per_sec, cpu: shares, p50_ms: percentile(&l, 0.5), p99_ms: percentile(&l, 0.99), server_cpu })
}

/// The pipeline: the OPC UA feed mapping the load's folder, the bus, the store, and the live state applied here.
fn pipeline(
    runtime: &tokio::runtime::Runtime,
    server: &LoadServer,
    dir: &Path,
    run: usize,
    options: OpcUaBenchOptions,
    warm: Duration,
) -> anyhow::Result<Window> {
    let (mut inbox, store, bus) = super::app_consumers(dir.join(format!("opcua-{run}.sqlite")))?;
    let diag = DiagHandle::new("bench".into(), "opcua", "bench");
    #[expect(clippy::cast_precision_loss)]
    let feed = OpcUaFeed::new(OpcUaGateway {
        link: Link::new(server.url.clone()),
        security: OpcUaSecurity::None,
        encrypt: false,
        folders: vec![format!("nsu={NAMESPACE};s=Load/")],
        nodes: Vec::new(),
        sampling_ms: options.every_ms as f64,
        queue_size: 10,
        deadband: 0.0,
        deadband_percent: 0.0,
        item_stale_after_ms: None,
        pki_dir: Some(dir.join("feed-pki")),
    });
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let handle = spawn_feed(runtime.handle(), "bench".into(), feed, bus, clock, diag);
    let mut live = LiveState::new(LiveSettings::default());
    let mut latencies: Vec<i64> = Vec::new();
    let mut measuring = false;
    let mut pump = |live: &mut LiveState, latencies: &mut Vec<i64>, measuring: bool| {
        let stats = inbox.drain(Duration::from_millis(8), |e| {
            if measuring && let FeedEventBody::Samples(samples) = &e.body {
                let now = wall_now_ms();
                latencies.extend(samples.iter().filter(|s| !s.historical).map(|s| now - s.ts_ms));
            }
            live.apply(e);
        });
        live.note_coalesced(stats.coalesced);
        if stats.events == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while live.stats.samples < options.items as u64 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the pipeline got {} of the {} first values in 120 s",
            live.stats.samples,
            options.items
        );
        pump(&mut live, &mut latencies, false);
    }
    let warm_until = Instant::now() + warm;
    while Instant::now() < warm_until {
        pump(&mut live, &mut latencies, false);
    }
    let before = live.stats.samples + live.stats.coalesced;
    let cpu = CpuClock::start(server.child.id());
    let window_end = cpu.started + Duration::from_secs(options.secs);
    while Instant::now() < window_end {
        pump(&mut live, &mut latencies, measuring);
        measuring = true;
    }
    let (shares, server_cpu) = cpu.stop();
    let secs = cpu.started.elapsed().as_secs_f64();
    let got = live.stats.samples + live.stats.coalesced - before;
    anyhow::ensure!(live.stats.rejected == 0, "{} samples rejected", live.stats.rejected);
    drop(handle);
    let status = store.finish();
    anyhow::ensure!(status.lost_samples == 0, "the store lost {} samples", status.lost_samples);
    latencies.sort_unstable();
    #[expect(clippy::cast_precision_loss)]
    let per_sec = got as f64 / secs;
    Ok(Window {
        per_sec,
        cpu: shares,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        server_cpu,
    })
}

/// Runs the comparison and prints the medians.
pub fn opcua(options: OpcUaBenchOptions) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = LoadServer::start(dir.path(), options.items, options.every_ms)?;
    let runtime = crate::startup::io_runtime()?;
    let warm = Duration::from_secs(3);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for run in 0..options.runs {
        theirs.push(runtime.block_on(bare(&server, dir.path(), options, warm))?);
        ours.push(pipeline(&runtime, &server, dir.path(), run, options, warm)?);
        eprintln!(
            "run {}: pipeline {:.0}/s at {:.2} cores, bare client {:.0}/s at {:.2} cores",
            run + 1,
            ours[run].per_sec,
            ours[run].cpu.total(),
            theirs[run].per_sec,
            theirs[run].cpu.total()
        );
    }
    let m = |v: &[Window], f: fn(&Window) -> f64| super::median(v.iter().map(f).collect());
    let (cpu, bare_cpu, feed_cpu) =
        (m(&ours, |w| w.cpu.total()), m(&theirs, |w| w.cpu.total()), m(&ours, |w| w.cpu.feed));
    #[expect(clippy::cast_precision_loss)]
    let offered = options.items as f64 * 1000.0 / options.every_ms as f64;
    let result = OpcUaBenchResult {
        items: options.items,
        interval_ms: options.every_ms,
        window_secs: options.secs,
        runs: options.runs,
        offered_per_sec: offered,
        pipeline_per_sec: m(&ours, |w| w.per_sec),
        bare_per_sec: m(&theirs, |w| w.per_sec),
        pipeline_cpu_share: cpu,
        pipeline_cpu_share_feed: feed_cpu,
        pipeline_cpu_share_store: m(&ours, |w| w.cpu.store),
        pipeline_cpu_share_live: m(&ours, |w| w.cpu.rest),
        bare_cpu_share: bare_cpu,
        cpu_ratio_vs_bare: cpu / bare_cpu,
        feed_cpu_ratio_vs_bare: feed_cpu / bare_cpu,
        pipeline_p50_latency_ms: m(&ours, |w| w.p50_ms),
        pipeline_p99_latency_ms: m(&ours, |w| w.p99_ms),
        bare_p50_latency_ms: m(&theirs, |w| w.p50_ms),
        bare_p99_latency_ms: m(&theirs, |w| w.p99_ms),
        server_cpu_share: m(&ours, |w| w.server_cpu),
    };
    super::print_result(options.format, &result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_its_name_and_cpu_ticks() {
        let line = "4242 (wf-io (x)) S 1 2 3 4 5 6 7 8 9 10 120 30 0 0 20 0 4 0 100";
        assert_eq!(stat_ticks(line), Some(("wf-io (x)".to_owned(), 150)));
        assert_eq!(stat_ticks("garbage"), None);
        if let Ok(own) = std::fs::read_to_string("/proc/self/stat") {
            assert!(stat_ticks(&own).is_some(), "{own}");
        }
    }

    #[test]
    fn percentiles_of_sorted_latencies() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!((percentile(&v, 0.5), percentile(&v, 0.99), percentile(&v, 1.0)), (50.0, 99.0, 100.0));
        assert_eq!(percentile(&[7], 0.99), 7.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
