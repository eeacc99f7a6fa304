//! `watchfloor bench …`: measurements on this machine, printed as CSV or JSON. Every ratio compares two runs in the
//! same process, and every figure is the median of several runs, because these machines are shared and noisy.

mod alarms;
pub mod mqtt;
mod oee;
mod opcua;
pub mod pgserver;
mod review;
mod site;
mod ui;

pub use alarms::alarms;
pub use oee::oee;
pub use opcua::{OpcUaBenchOptions, opcua};
pub use review::review;
pub use site::site;
pub use ui::{UiBenchOptions, peak_rss_mb, ui};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rusqlite::params;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::cli::Format;
use crate::model::{FeedEvent, FeedEventBody};
use crate::model::{Sample, SignalId, Value};
use crate::store::{History, Retention, Store, StoreOptions, StoreState, open_writer, query};

/// 2026-01-01T00:00:00Z: where generated data starts.
const T0_MS: i64 = 1_767_225_600_000;

/// What `bench store` is asked to do.
#[derive(Clone, Debug)]
pub struct StoreBenchOptions {
    pub format: Format,
    /// Size of the large cache for the start-up measurement; 0 skips it.
    pub startup_cache_mb: u64,
    pub dir: Option<PathBuf>,
}

/// The results, with the JSON keys docs/benchmarks.md refers to.
#[derive(Debug, Serialize)]
pub struct StoreBenchResult {
    /// Samples per ingest run (100 signals at 1 Hz).
    pub ingest_samples: u64,
    /// Through the writer thread: events on its channel, batched transactions, rollups, latest values.
    pub ingest_samples_per_sec: f64,
    /// A plain rusqlite loop inserting the same rows in one transaction.
    pub raw_loop_samples_per_sec: f64,
    pub ingest_ratio_vs_raw: f64,
    /// 30 days at 1 Hz of one signal (2,592,000 samples) into 1,000 buckets.
    pub query_2_6m_ms: f64,
    /// The same buckets from a scan of every raw row.
    pub naive_2_6m_ms: f64,
    pub query_speedup_vs_naive: f64,
    /// File size (WAL folded in) of the 30-day cache per million samples, rollups included.
    pub bytes_per_million_samples: f64,
    /// Size of the large cache the start-up was measured on (0: skipped).
    pub startup_cache_bytes: u64,
    /// Open the writer on the large cache (checks, migrations, caches, downtime gaps) and read every signal's last
    /// value: what stands between start and the first frame with current values.
    pub startup_ms: f64,
    pub runs: usize,
}

/// What the window puts behind a feed: a live inbox, and a history writer on a fresh cache at `path` keeping
/// everything; the bus to hand the feed.
fn app_consumers(path: PathBuf) -> anyhow::Result<(crate::feeds::LiveInbox, Store, crate::feeds::EventBus)> {
    let mut bus = crate::feeds::EventBus::builder();
    let inbox = bus.live(crate::startup::LIVE_CHANNEL_CAPACITY);
    let mut options = StoreOptions::new(path);
    options.retention = Retention::KEEP_ALL;
    let store = Store::start(options, bus.lossless(crate::startup::STORE_CHANNEL_CAPACITY))?;
    Ok((inbox, store, bus.build()))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// One sample per signal per second: the rows both ingest paths write.
fn ingest_rows(signals: usize, seconds: i64) -> Vec<Vec<Sample>> {
    let ids: Vec<SignalId> = (0..signals).map(|i| SignalId::new(format!("Bench/Line{}/M{i}/Speed", i % 4))).collect();
    (0..seconds)
        .map(|s| {
            ids.iter()
                .enumerate()
                .map(|(i, id)| {
                    #[expect(clippy::cast_precision_loss)]
                    let v = ((s as f64) / 60.0 + i as f64).sin() * 100.0;
                    Sample::new(id.clone(), T0_MS + s * 1_000, Value::F64(v))
                })
                .collect()
        })
        .collect()
}

/// Sends the batches through a writer on a fresh file; returns the time from first event to everything committed.
fn ingest_via_writer(path: &Path, batches: &[Vec<Sample>]) -> anyhow::Result<Duration> {
    remove_cache(path);
    let (tx, rx) = mpsc::channel(4_096);
    let mut options = StoreOptions::new(path);
    // Generated data is months old: retention would prune it while it is written.
    options.retention = Retention::KEEP_ALL;
    let store = Store::start(options, rx)?;
    let gateway: Arc<str> = Arc::from("bench");
    let started = Instant::now();
    for batch in batches {
        let event = FeedEvent::new(Arc::clone(&gateway), batch[0].ts_ms, FeedEventBody::Samples(batch.clone()));
        tx.blocking_send(Arc::new(event)).context("the writer stopped")?;
    }
    drop(tx);
    let status = store.finish();
    let elapsed = started.elapsed();
    anyhow::ensure!(status.state == StoreState::Stopped && status.lost_samples == 0, "writer failed: {status:?}");
    Ok(elapsed)
}

/// The baseline: the same rows, one prepared INSERT each, in one transaction, on the same schema.
fn ingest_raw_loop(path: &Path, batches: &[Vec<Sample>]) -> anyhow::Result<Duration> {
    remove_cache(path);
    let mut conn = open_writer(path)?;
    let started = Instant::now();
    let tx = conn.transaction()?;
    {
        let mut signal = tx.prepare(
            "INSERT INTO signal (name, kind, gateway) VALUES (?1, 'float', 'bench')
             ON CONFLICT (name) DO UPDATE SET kind = kind RETURNING id",
        )?;
        let mut ids = std::collections::HashMap::new();
        let mut insert =
            tx.prepare("INSERT OR IGNORE INTO sample (signal, ts_ms, num, quality) VALUES (?1, ?2, ?3, 0)")?;
        for batch in batches {
            for s in batch {
                let id: i64 = match ids.get(s.signal.as_str()) {
                    Some(id) => *id,
                    None => {
                        let id = signal.query_row([s.signal.as_str()], |r| r.get(0))?;
                        ids.insert(s.signal.to_string(), id);
                        id
                    }
                };
                insert.execute(params![id, s.ts_ms, s.value.as_f64()])?;
            }
        }
    }
    tx.commit()?;
    let elapsed = started.elapsed();
    drop(conn);
    Ok(elapsed)
}

fn remove_cache(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn file_size(path: &Path) -> u64 {
    ["", "-wal"].iter().map(|s| std::fs::metadata(format!("{}{s}", path.display())).map_or(0, |m| m.len())).sum()
}

/// Builds a cache of about `mb` megabytes quickly: 1,000 signals, raw rows generated inside SQLite, last values.
fn build_large_cache(path: &Path, mb: u64) -> anyhow::Result<()> {
    remove_cache(path);
    let conn = open_writer(path)?;
    // About 25 bytes a row on disk with this schema (measured with bytes_per_million_samples).
    let rows_per_signal = i64::try_from(mb * 1024 * 1024 / 25 / 1000).unwrap_or(i64::MAX).max(1);
    conn.execute_batch("PRAGMA synchronous = OFF")?;
    conn.execute_batch(&format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
         INSERT INTO signal (name, kind, unit, gateway)
             SELECT 'Big/Line' || (i / 100) || '/M' || i || '/Speed', 'float', 'm/min', 'bench' FROM n;
         WITH RECURSIVE t(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM t WHERE k < {last})
         INSERT INTO sample (signal, ts_ms, num, quality)
             SELECT s.id, {T0_MS} + t.k * 1000, (t.k % 977) * 0.5, 0 FROM signal s, t ORDER BY s.id, t.k;
         INSERT INTO latest (signal, ts_ms, num, quality)
             SELECT id, {T0_MS} + {last} * 1000, 1.0, 0 FROM signal;
         COMMIT;",
        last = rows_per_signal - 1
    ))?;
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
    Ok(())
}

/// Opens the writer on an existing cache and reads the last values, as the app does at start.
fn startup(path: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let (tx, rx) = mpsc::channel(16);
    let mut options = StoreOptions::new(path);
    options.retention = Retention::KEEP_ALL;
    let store = Store::start(options, rx)?;
    let history = History::start(path.to_owned())?;
    let latest = history.latest().context("reader busy")?.wait()?;
    let status = store.flush_blocking().context("writer gone")?;
    let elapsed = started.elapsed();
    anyhow::ensure!(status.state == StoreState::Recording, "writer did not open the cache: {status:?}");
    anyhow::ensure!(latest.len() == 1000, "expected 1000 last values, got {}", latest.len());
    drop(tx);
    store.finish();
    Ok(elapsed)
}

pub fn store(options: &StoreBenchOptions) -> anyhow::Result<()> {
    let (dir, temporary) = match &options.dir {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("watchfloor-bench-{}", std::process::id())), true),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = run_store(&dir, options);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    print_result(options.format, &result?)
}

/// Records the simulator from `config.start_ms` to `end_ms` into a new cache at `path`, stepped every 10 s, through
/// the real writer; fails if a sample was lost.
fn record_sim(path: &Path, config: crate::sim::SimConfig, end_ms: i64) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel(256);
    let store = Store::start(StoreOptions::new(path), rx).context("history writer")?;
    let start_ms = config.start_ms;
    let mut sim = crate::sim::Simulator::new(config);
    let gw: Arc<str> = Arc::from("bench");
    let send =
        |event: FeedEvent| tx.blocking_send(Arc::new(event)).map_err(|err| anyhow::anyhow!("writer stopped: {err}"));
    let (meta, values) = sim.birth();
    send(FeedEvent::new(Arc::clone(&gw), start_ms, FeedEventBody::Birth(meta)))?;
    send(FeedEvent::new(Arc::clone(&gw), start_ms, FeedEventBody::Samples(values)))?;
    let mut t = start_ms;
    while t + 10_000 <= end_ms {
        t += 10_000;
        let mut batch = Vec::new();
        sim.step_to(t, &mut batch);
        send(FeedEvent::new(Arc::clone(&gw), t, FeedEventBody::Samples(batch)))?;
    }
    drop(tx);
    let status = store.finish();
    anyhow::ensure!(status.lost_samples == 0, "samples lost while recording: {status:?}");
    Ok(())
}

/// Prints one result as pretty JSON, or as a CSV header and row.
fn print_result<T: Serialize>(format: Format, result: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, result)?;
            std::io::Write::write_all(&mut out, b"\n")?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.serialize(result)?;
            w.flush()?;
        }
    }
    Ok(())
}

fn run_store(dir: &Path, options: &StoreBenchOptions) -> anyhow::Result<StoreBenchResult> {
    const RUNS: usize = 5;
    let ingest = ingest_rows(100, 3_000);
    let n = ingest.iter().map(Vec::len).sum::<usize>();
    let path = dir.join("ingest.sqlite");
    let (mut writer_rates, mut raw_rates) = (Vec::new(), Vec::new());
    #[expect(clippy::cast_precision_loss)]
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    for run in 0..RUNS {
        // Alternate the order so neither path always runs on a warmer cache.
        if run % 2 == 0 {
            writer_rates.push(rate(ingest_via_writer(&path, &ingest)?));
            raw_rates.push(rate(ingest_raw_loop(&path, &ingest)?));
        } else {
            raw_rates.push(rate(ingest_raw_loop(&path, &ingest)?));
            writer_rates.push(rate(ingest_via_writer(&path, &ingest)?));
        }
        tracing::info!(run, writer = writer_rates[run], raw = raw_rates[run], "ingest samples/s");
    }
    let ingest_samples_per_sec = median(writer_rates);
    let raw_loop_samples_per_sec = median(raw_rates);

    // 30 days of one signal at 1 Hz, through the writer (so rollups exist as they would in use).
    let month = dir.join("month.sqlite");
    let seconds = 30 * 86_400;
    let day: Vec<Vec<Sample>> = (0..seconds / 600)
        .map(|chunk| {
            (0..600)
                .map(|k| {
                    let s = chunk * 600 + k;
                    #[expect(clippy::cast_precision_loss)]
                    let v = (s as f64 / 3_600.0).sin() * 50.0 + if s % 86_413 == 0 { 400.0 } else { 0.0 };
                    Sample::new(SignalId::from("Bench/Month/Speed"), T0_MS + s * 1_000, Value::F64(v))
                })
                .collect()
        })
        .collect();
    let took = ingest_via_writer(&month, &day)?;
    tracing::info!(ms = ms(took), "wrote 30 days of one signal");
    let bytes = file_size(&month);
    #[expect(clippy::cast_precision_loss)]
    let bytes_per_million_samples = bytes as f64 / (seconds as f64 / 1e6);
    let conn = crate::store::open_reader(&month)?;
    let to = T0_MS + seconds * 1_000;
    let mut query_ms = Vec::new();
    let mut naive_ms = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let s = query::series(&conn, "Bench/Month/Speed", T0_MS, to, 1_000)?;
        query_ms.push(ms(t.elapsed()));
        anyhow::ensure!(s.buckets.len() <= 1_000 && s.buckets.iter().any(|b| b.max >= 400.0), "peaks lost");
        let t = Instant::now();
        let naive = query::series_naive(&conn, "Bench/Month/Speed", T0_MS, to, s.bucket_ms)?;
        naive_ms.push(ms(t.elapsed()));
        anyhow::ensure!(
            naive.len() == s.buckets.len(),
            "naive ({}) and decimated ({}, {:?}) disagree on buckets",
            naive.len(),
            s.buckets.len(),
            s.tier
        );
    }
    let query_2_6m_ms = median(query_ms);
    let naive_2_6m_ms = median(naive_ms);
    drop(conn);

    let (startup_cache_bytes, startup_ms) = if options.startup_cache_mb > 0 {
        let big = dir.join("large.sqlite");
        let t = Instant::now();
        build_large_cache(&big, options.startup_cache_mb)?;
        tracing::info!(s = t.elapsed().as_secs_f64(), bytes = file_size(&big), "built the large cache");
        let mut times = Vec::new();
        for _ in 0..RUNS {
            times.push(ms(startup(&big)?));
        }
        (file_size(&big), median(times))
    } else {
        (0, f64::NAN)
    };

    Ok(StoreBenchResult {
        ingest_samples: n as u64,
        ingest_samples_per_sec,
        raw_loop_samples_per_sec,
        ingest_ratio_vs_raw: ingest_samples_per_sec / raw_loop_samples_per_sec,
        query_2_6m_ms,
        naive_2_6m_ms,
        query_speedup_vs_naive: naive_2_6m_ms / query_2_6m_ms,
        bytes_per_million_samples,
        startup_cache_bytes,
        startup_ms,
        runs: RUNS,
    })
}

/// The results of `bench feeds`, with the JSON keys docs/benchmarks.md refers to.
#[derive(Debug, Serialize)]
pub struct FeedsBenchResult {
    /// Samples per message in both decoders' input.
    pub metrics_per_message: usize,
    pub messages: usize,
    /// Sparkplug DDATA by alias through the host rules (protobuf decode, alias resolution, seq check), one thread.
    pub sparkplug_decode_samples_per_sec: f64,
    /// Kepware standard-template JSON, one thread.
    pub json_decode_samples_per_sec: f64,
    pub runs: usize,
    /// Sparkplug DDATA messages sent through Mosquitto in the end-to-end comparison.
    pub e2e_messages: usize,
    /// Publish start → every sample in the live state and committed to the store (median).
    pub e2e_pipeline_ms: Option<f64>,
    /// Publish start → a bare rumqttc subscriber has every message, same broker, same run (median).
    pub e2e_bare_client_ms: Option<f64>,
    pub e2e_ratio_vs_bare_client: Option<f64>,
    pub e2e_pipeline_messages_per_sec: Option<f64>,
    /// Why the end-to-end part did not run (no Mosquitto), if it did not.
    pub e2e_skipped: Option<String>,
}

/// Decoder throughput on one thread, then the end-to-end run through Mosquitto with `e2e_messages` messages.
pub fn feeds(format: Format, e2e_messages: usize) -> anyhow::Result<()> {
    use prost::Message as _;

    use crate::feeds::mqtt_json::decode_kepware;
    use crate::feeds::sparkplug::Host;
    use crate::feeds::sparkplug::proto::{Metric, MetricValue, Payload, datatype};

    const RUNS: usize = 5;
    const MESSAGES: usize = 10_000;
    const METRICS: usize = 10;
    let ts = u64::try_from(T0_MS).unwrap_or(0);
    let birth = Payload {
        timestamp: Some(ts),
        seq: Some(0),
        metrics: (0..METRICS)
            .map(|i| Metric {
                name: Some(format!("Metric{i}")),
                alias: Some(i as u64),
                datatype: Some(datatype::DOUBLE),
                value: Some(MetricValue::Double(0.0)),
                ..Metric::default()
            })
            .collect(),
        ..Payload::default()
    }
    .encode_to_vec();
    let data: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|m| {
            Payload {
                timestamp: Some(ts + m as u64 * 1000),
                seq: Some(((m + 1) % 256) as u64),
                metrics: (0..METRICS)
                    .map(|i| Metric {
                        alias: Some(i as u64),
                        timestamp: Some(ts + m as u64 * 1000),
                        #[expect(clippy::cast_precision_loss)]
                        value: Some(MetricValue::Double((m * METRICS + i) as f64 * 0.5)),
                        ..Metric::default()
                    })
                    .collect(),
                ..Payload::default()
            }
            .encode_to_vec()
        })
        .collect();
    let json: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|m| {
            let values: Vec<String> = (0..METRICS)
                .map(|i| {
                    format!(
                        r#"{{"id":"Line{}.Machine{i}.Speed","v":{}.5,"q":true,"t":{}}}"#,
                        m % 4,
                        m * METRICS + i,
                        T0_MS + m as i64 * 1000
                    )
                })
                .collect();
            format!(r#"{{"timestamp":{},"values":[{}]}}"#, T0_MS + m as i64 * 1000, values.join(",")).into_bytes()
        })
        .collect();
    let n = MESSAGES * METRICS;
    #[expect(clippy::cast_precision_loss)]
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let (mut sparkplug, mut kepware) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let mut host = Host::new(None);
        host.handle("spBv1.0/Bench/NBIRTH/Node1", &birth, T0_MS);
        let started = Instant::now();
        let mut decoded = 0;
        for (m, payload) in data.iter().enumerate() {
            let h = host.handle("spBv1.0/Bench/NDATA/Node1", payload, T0_MS + m as i64);
            decoded +=
                h.events.iter().map(|e| if let FeedEventBody::Samples(s) = e { s.len() } else { 0 }).sum::<usize>();
        }
        sparkplug.push(rate(started.elapsed()));
        anyhow::ensure!(decoded == n, "Sparkplug decoded {decoded} of {n} samples");

        let started = Instant::now();
        let mut decoded = 0;
        for payload in &json {
            decoded += decode_kepware(payload, T0_MS).samples.len();
        }
        kepware.push(rate(started.elapsed()));
        anyhow::ensure!(decoded == n, "Kepware decoded {decoded} of {n} samples");
    }
    let mut result = FeedsBenchResult {
        metrics_per_message: METRICS,
        messages: MESSAGES,
        sparkplug_decode_samples_per_sec: median(sparkplug),
        json_decode_samples_per_sec: median(kepware),
        runs: RUNS,
        e2e_messages,
        e2e_pipeline_ms: None,
        e2e_bare_client_ms: None,
        e2e_ratio_vs_bare_client: None,
        e2e_pipeline_messages_per_sec: None,
        e2e_skipped: None,
    };
    if mqtt::mosquitto_binary().is_none() {
        result.e2e_skipped = Some("mosquitto is not installed (apt-get install mosquitto)".to_owned());
    } else if e2e_messages > 0 {
        let e2e = mqtt::e2e(e2e_messages, 3)?;
        result.e2e_pipeline_ms = Some(e2e.e2e_pipeline_ms);
        result.e2e_bare_client_ms = Some(e2e.e2e_bare_client_ms);
        result.e2e_ratio_vs_bare_client = Some(e2e.e2e_ratio_vs_bare_client);
        result.e2e_pipeline_messages_per_sec = Some(e2e.e2e_pipeline_messages_per_sec);
    }
    print_result(format, &result)
}
