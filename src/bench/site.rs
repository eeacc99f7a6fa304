//! `watchfloor bench site`: the site database on a private PostgreSQL on loopback ([`super::pgserver`]).
//!
//! - **Ingest**: 100 signals at 1 Hz for an hour (360,000 samples) through the site recorder's writer (binary COPY
//!   into staging, idempotent insert, minute and hour rollups, last values, in its batches) against a bare binary
//!   COPY of the same rows in the same batch sizes straight into `sample`, on the same server in the same run, each
//!   into a fresh database; the median of the runs, and their ratio (target ≥ 0.5).
//! - **Ack latency**: 1,000 unacknowledged alarms; console A acknowledges them one by one, and the time from
//!   sending each to console B's status showing it acknowledged is taken (`LISTEN`/`NOTIFY`, then a read by seq):
//!   p50 and p99 (target p99 < 250 ms).
//! - **Failover**: an HTTP gateway and two `watchfloor record` processes on one site; the leader is killed with
//!   SIGKILL and the time until the standby's first rows is taken; then every sample either recorder stored in its
//!   cache is looked for in PostgreSQL (missing ones counted) and duplicates are counted.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

use super::pgserver::PgServer;
use super::{median, ms, print_result};
use crate::cli::Format;
use crate::model::alarm::AlarmState;
use crate::model::{FeedEvent, FeedEventBody};
use crate::store::site::alarms::ActionKind;
use crate::store::site::{SiteConsole, SiteOptions, SiteRole, SiteTarget, SiteWriter};

const SIGNALS: usize = 100;
const SECONDS: i64 = 3_600;
const RUNS: usize = 3;
const ACKS: usize = 1_000;

#[derive(Debug, Serialize)]
pub struct SiteBenchResult {
    pub ingest_samples: usize,
    pub recorder_samples_per_sec: f64,
    pub bare_copy_samples_per_sec: f64,
    pub ingest_ratio_vs_bare_copy: f64,
    pub acks: usize,
    pub ack_seen_p50_ms: f64,
    pub ack_seen_p99_ms: f64,
    pub ack_seen_max_ms: f64,
    /// From SIGKILL of the leader to the standby's first rows (median of the runs).
    pub failover_ms: f64,
    pub failover_max_ms: f64,
    /// Samples in either recorder's cache that are not in PostgreSQL, summed over the runs.
    pub failover_missing_samples: usize,
    /// Rows in PostgreSQL beyond one per (signal, time), summed over the runs.
    pub failover_duplicate_rows: i64,
    pub runs: usize,
}

pub fn site(format: Format, failover_runs: usize) -> anyhow::Result<()> {
    let server = PgServer::start().context("a PostgreSQL server on loopback (Debian's postgresql-15)")?;
    let batches = super::ingest_rows(SIGNALS, SECONDS);
    let samples: usize = batches.iter().map(Vec::len).sum();
    let (mut recorder, mut bare) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        let url = server.create_database(&format!("ingest_recorder_{run}"))?;
        recorder.push(ingest_recorder(&url, &batches)?);
        let url = server.create_database(&format!("ingest_bare_{run}"))?;
        bare.push(ingest_bare(&url, &batches)?);
        eprintln!("ingest run {}: recorder {:.0} ms, bare COPY {:.0} ms", run + 1, recorder[run], bare[run]);
    }
    #[expect(clippy::cast_precision_loss, reason = "a sample count")]
    let per_sec = |ms: f64| samples as f64 / (ms / 1_000.0);
    let (recorder_ms, bare_ms) = (median(recorder), median(bare));

    let latencies = ack_latencies(&server)?;
    let pick = |q: f64| {
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies.get(i).copied().unwrap_or(f64::NAN)
    };
    let (mut failovers, mut missing, mut duplicates) = (Vec::new(), 0, 0);
    for run in 0..failover_runs {
        let (took, lost, doubled) = failover(&server, run)?;
        eprintln!("failover run {}: {:.0} ms, {lost} missing, {doubled} duplicates", run + 1, ms(took));
        failovers.push(ms(took));
        missing += lost;
        duplicates += doubled;
    }
    let failover_max_ms = failovers.iter().copied().fold(f64::NAN, f64::max);
    let result = SiteBenchResult {
        ingest_samples: samples,
        recorder_samples_per_sec: per_sec(recorder_ms),
        bare_copy_samples_per_sec: per_sec(bare_ms),
        ingest_ratio_vs_bare_copy: bare_ms / recorder_ms,
        acks: latencies.len(),
        ack_seen_p50_ms: pick(0.5),
        ack_seen_p99_ms: pick(0.99),
        ack_seen_max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        failover_ms: median(failovers),
        failover_max_ms,
        failover_missing_samples: missing,
        failover_duplicate_rows: duplicates,
        runs: RUNS,
    };
    print_result(format, &result)
}

/// The recorder's writer: every batch sent as the bus would, until all is written; milliseconds.
fn ingest_recorder(url: &str, batches: &[Vec<crate::model::Sample>]) -> anyhow::Result<f64> {
    let gateway: Arc<str> = Arc::from("bench");
    let events: Vec<Arc<FeedEvent>> = batches
        .iter()
        .map(|b| Arc::new(FeedEvent::new(Arc::clone(&gateway), b[0].ts_ms, FeedEventBody::Samples(b.clone()))))
        .collect();
    let mut options = SiteOptions::new(SiteTarget::plain(url), "Bench site");
    options.raw_days = 0;
    let (tx, rx) = tokio::sync::mpsc::channel(1_024);
    let writer = SiteWriter::start(options, rx)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while writer.status().role != SiteRole::Leader {
        anyhow::ensure!(Instant::now() < deadline, "the recorder never led: {:?}", writer.status());
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    for e in events {
        tx.blocking_send(e).context("the recorder stopped")?;
    }
    let status = writer.flush_blocking().context("flush")?;
    let took = ms(started.elapsed());
    drop(tx);
    writer.finish();
    anyhow::ensure!(
        status.stored_samples as usize == batches.iter().map(Vec::len).sum::<usize>(),
        "the recorder stored {} samples",
        status.stored_samples
    );
    Ok(took)
}

/// A bare binary COPY of the same rows straight into `sample`, 20,000 rows a transaction (the recorder's batch);
/// milliseconds.
fn ingest_bare(url: &str, batches: &[Vec<crate::model::Sample>]) -> anyhow::Result<f64> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let mut client = SiteTarget::plain(url).connect("watchfloor-bench").await?;
        crate::store::site::migrate(&client).await?;
        let day = batches[0][0].ts_ms.div_euclid(crate::store::site::schema::DAY_MS);
        let last = batches.last().map_or(day, |b| b[0].ts_ms.div_euclid(crate::store::site::schema::DAY_MS));
        for d in day..=last {
            client.batch_execute(&crate::store::site::schema::partition_sql("sample", d)).await?;
        }
        let rows: Vec<(i64, i64, f64)> = batches
            .iter()
            .flat_map(|b| b.iter().enumerate().map(|(i, s)| (i as i64, s.ts_ms, s.value.as_f64().unwrap_or(0.0))))
            .collect();
        let started = Instant::now();
        for chunk in rows.chunks(20_000) {
            let tx = client.transaction().await?;
            let sink = tx.copy_in("COPY sample (signal, ts_ms, num, quality) FROM STDIN BINARY").await?;
            let writer = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::INT8, Type::FLOAT8, Type::INT2]);
            let mut writer = std::pin::pin!(writer);
            for (signal, ts, num) in chunk {
                writer.as_mut().write(&[signal, ts, num, &0_i16]).await?;
            }
            writer.finish().await?;
            tx.commit().await?;
        }
        Ok(ms(started.elapsed()))
    })
}

/// Console A acknowledges `ACKS` alarms one at a time; each time until console B shows it acknowledged, sorted.
fn ack_latencies(server: &PgServer) -> anyhow::Result<Vec<f64>> {
    let url = server.create_database("acks")?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let client = SiteTarget::plain(&url).connect("watchfloor-bench").await?;
        crate::store::site::migrate(&client).await?;
        client
            .execute(
                "INSERT INTO alarm_state (rule, source, asset, priority, state, active, acked, suppressed,
                     out_of_service, occurrence_ms, value, message, seq, changed_ms, changed_by)
                 SELECT 'Bench rule', 'Bench/M' || i || '/Temperature', 'Bench/M' || i, 'High', 'Unacknowledged',
                     true, false, false, false, $2, 90.0, 'above HI', nextval('alarm_seq'), $2, ''
                 FROM generate_series(1, $1::int) i",
                &[&i32::try_from(ACKS).unwrap_or(i32::MAX), &super::T0_MS],
            )
            .await?;
        anyhow::Ok(())
    })?;
    let a = SiteConsole::start(SiteTarget::plain(&url), "bench-a")?;
    let b = SiteConsole::start(SiteTarget::plain(&url), "bench-b")?;
    let loaded = |c: &SiteConsole| c.status().alarms.len() == ACKS;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(loaded(&a) && loaded(&b)) {
        anyhow::ensure!(Instant::now() < deadline, "the consoles never read the alarms");
        std::thread::sleep(Duration::from_millis(10));
    }
    let views = a.status().alarms;
    let mut seen = b.watch();
    let mut out = Vec::with_capacity(ACKS);
    for view in views.iter() {
        let started = Instant::now();
        let action = a.action(ActionKind::Acknowledge, view, "bench", "", super::T0_MS + 1);
        anyhow::ensure!(a.send(action), "console A's queue is full");
        let acked = |s: &crate::store::site::ConsoleStatus| {
            s.alarms.iter().any(|x| x.source == view.source && x.state == AlarmState::Acknowledged)
        };
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), async {
                while !acked(&seen.borrow_and_update()) {
                    if seen.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await
        })
        .with_context(|| format!("console B never saw the ack of {}", view.source))?;
        out.push(ms(started.elapsed()));
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

/// One failover: (time from the kill to the standby's first rows, samples missing, duplicate rows).
fn failover(server: &PgServer, run: usize) -> anyhow::Result<(Duration, usize, i64)> {
    let db = format!("failover_{run}");
    let url = server.create_database(&db)?;
    let dir = tempfile::tempdir()?;
    let exe = std::env::current_exe().context("this program's path")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut gateway = Command::new(&exe)
        .args(["gateway", "--http", &format!("127.0.0.1:{port}"), "--lines", "2", "--vehicles", "10"])
        .stderr(Stdio::null())
        .spawn()
        .context("watchfloor gateway")?;
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "[site]\nname = \"Failover bench\"\n\n[site_db]\nurl = \"{url}\"\nsslmode = \"disable\"\n\n\
             [[gateway]]\nname = \"plant\"\nkind = \"http\"\nurl = \"http://127.0.0.1:{port}\"\n"
        ),
    )?;
    let recorder = |name: &str| -> anyhow::Result<std::process::Child> {
        Command::new(&exe)
            .args(["record", "--config"])
            .arg(&config)
            .arg("--db")
            .arg(dir.path().join(format!("{name}.sqlite")))
            .stderr(Stdio::null())
            .spawn()
            .context("watchfloor record")
    };
    let rows = || -> i64 {
        server.psql(&db, "SELECT count(*) FROM sample").ok().and_then(|o| o.trim().parse().ok()).unwrap_or(0)
    };
    let wait = |what: &str, limit: Duration, done: &dyn Fn() -> bool| -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while !done() {
            anyhow::ensure!(Instant::now() < deadline, "{what} within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    };
    let mut leader = recorder("a")?;
    wait("the leader writing", Duration::from_secs(30), &|| rows() > 100)?;
    let mut standby = recorder("b")?;
    let b_cache = dir.path().join("b.sqlite");
    wait("the standby receiving", Duration::from_secs(30), &|| b_cache.exists() && !cache_keys(&b_cache).is_empty())?;
    std::thread::sleep(Duration::from_secs(2));
    leader.kill()?;
    let _ = leader.wait();
    let killed = Instant::now();
    let at_kill = rows();
    wait("the standby writing", Duration::from_secs(30), &|| rows() > at_kill)?;
    let took = killed.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let _ = Command::new("kill").arg("-TERM").arg(standby.id().to_string()).status();
    let _ = standby.wait();
    let _ = gateway.kill();
    let _ = gateway.wait();
    let stored: HashSet<(String, i64)> = site_keys(server, &db)?;
    let mut missing = 0;
    for cache in ["a", "b"] {
        missing += cache_keys(&dir.path().join(format!("{cache}.sqlite"))).difference(&stored).count();
    }
    let total = rows();
    let duplicates = total - i64::try_from(stored.len()).unwrap_or(0);
    Ok((took, missing, duplicates))
}

fn cache_keys(path: &Path) -> HashSet<(String, i64)> {
    let Ok(conn) = crate::store::open_reader(path) else { return HashSet::new() };
    let Ok(mut stmt) = conn.prepare("SELECT s.name, x.ts_ms FROM sample x JOIN signal s ON s.id = x.signal") else {
        return HashSet::new();
    };
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map(|rows| rows.flatten().collect()).unwrap_or_default()
}

fn site_keys(server: &PgServer, db: &str) -> anyhow::Result<HashSet<(String, i64)>> {
    let out = server.psql(db, "SELECT s.name || '|' || x.ts_ms FROM sample x JOIN signal s ON s.id = x.signal")?;
    Ok(out
        .lines()
        .filter_map(|l| l.rsplit_once('|'))
        .filter_map(|(name, ts)| Some((name.to_owned(), ts.parse().ok()?)))
        .collect())
}
