//! The history cache end to end: the `record`, `signals` and `query` commands on a real file, a kill -9 in the
//! middle of heavy writes, and the app starting offline on a recorded cache.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use tokio::sync::mpsc;
use watchfloor::app::{AppParts, WatchfloorApp};
use watchfloor::clock::ManualClock;
use watchfloor::feeds::EventBus;
use watchfloor::model::{FeedEvent, FeedEventBody};
use watchfloor::sim::{SimConfig, Simulator};
use watchfloor::store::{History, Store, StoreOptions};

use crate::START_MS;

fn watchfloor() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_watchfloor"));
    cmd.env("NO_COLOR", "1");
    cmd
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(out.status.success(), "{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A site recorder with a config it cannot record with stops at once with `EX_CONFIG` (78), which its systemd unit does
/// not restart on; with no gateway it records nothing rather than falling back to the demo.
#[test]
fn record_refuses_a_config_without_gateways_or_with_mistakes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("site.sqlite");
    let no_gateway = dir.path().join("site.toml");
    std::fs::write(&no_gateway, "[site]\nname = \"Plant A\"\ntimezone = \"Europe/Helsinki\"\n").expect("write");
    let missing = dir.path().join("missing.toml");
    for (config, says) in [(&no_gateway, "nothing to record"), (&missing, "cannot read the config file")] {
        let out =
            watchfloor().args(["record", "--duration", "5s", "--config"]).arg(config).arg("--db").arg(&db).output();
        let out = out.expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{err}");
        assert!(err.contains(says), "{err}");
    }
    assert!(!db.exists(), "nothing recorded");
}

#[test]
fn record_then_list_and_query_the_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("shift.sqlite");
    let db_arg = db.to_str().expect("utf-8 path");
    let out =
        watchfloor().args(["record", "--db", db_arg, "--duration", "2s", "--speed", "200"]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stopped by the duration"), "{err}");

    let signals = run_ok(watchfloor().args(["signals", "--db", db_arg]));
    let ids: Vec<&str> = signals.lines().collect();
    assert!(ids.contains(&"PlantA/Line1/Filler/State"), "{signals}");
    assert!(ids.contains(&"PlantA/Fleet/AGV-01/Battery/SoC"), "{signals}");
    assert!(ids.len() > 400, "every signal of the demo: {}", ids.len());

    // Raw CSV: ts, value, quality; 2 s at ×200 is 400 s of data, sent once a second.
    let csv = run_ok(watchfloor().args(["query", "--db", db_arg, "--signal", "PlantA/Fleet/AGV-01/Battery/SoC"]));
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("ts,value,quality"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.len() > 100, "{} rows", rows.len());
    for row in &rows {
        assert_eq!(row.len(), 3);
        assert!(row[0].ends_with('Z') && row[0].len() == 24, "RFC 3339 UTC with ms: {}", row[0]);
        let soc: f64 = row[1].parse().expect("a number");
        assert!((0.0..=100.0).contains(&soc));
        assert_eq!(row[2], "good");
    }

    // Buckets as JSON: same keys as the CSV header. Over the raw rows' own range, stated, so both reads see the
    // same window whatever the time between them.
    let (first, last) = (rows[0][0], rows[rows.len() - 1][0]);
    let last_ms = jiff::Timestamp::from_str(last).expect("RFC 3339").as_millisecond() + 1;
    let to = watchfloor::cli::rfc3339(last_ms);
    let json = run_ok(watchfloor().args([
        "query",
        "--db",
        db_arg,
        "--signal",
        "PlantA/Fleet/AGV-01/Battery/SoC",
        "--buckets",
        "10",
        "--format",
        "json",
        "--from",
        first,
        "--to",
        &to,
    ]));
    let buckets: Vec<serde_json::Value> = serde_json::from_str(&json).expect("JSON array");
    assert!(!buckets.is_empty() && buckets.len() <= 10);
    let total: u64 = buckets.iter().map(|b| b["count"].as_u64().expect("count")).sum();
    assert_eq!(total as usize, rows.len(), "the buckets hold every raw value of the hour");
    for b in &buckets {
        let (min, mean, max) = (b["min"].as_f64(), b["mean"].as_f64(), b["max"].as_f64());
        assert!(min <= mean && mean <= max, "{b}");
    }
    let csv = run_ok(watchfloor().args([
        "query",
        "--db",
        db_arg,
        "--signal",
        "PlantA/Fleet/AGV-01/Battery/SoC",
        "--buckets",
        "10",
    ]));
    assert!(csv.starts_with("ts,min,max,mean,count\n"), "{csv}");
}

#[test]
fn query_mistakes_get_clear_messages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope.sqlite");
    let out = watchfloor().args(["signals", "--db", missing.to_str().expect("utf-8")]).output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such history cache"));
    assert!(!missing.exists(), "reading never creates a cache");

    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "shopping list\n".repeat(500)).expect("write");
    let out = watchfloor().args(["signals", "--db", junk.to_str().expect("utf-8")]).output().expect("runs");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an SQLite database"));

    let db = dir.path().join("h.sqlite");
    run_ok(watchfloor().args(["record", "--db", db.to_str().expect("utf-8"), "--duration", "1s"]));
    let out = watchfloor()
        .args([
            "query",
            "--db",
            db.to_str().expect("utf-8"),
            "--signal",
            "PlantA/Line1/Filler/State",
            "--from",
            "yesterday",
        ])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a time"), "{out:?}");
    let out = watchfloor()
        .args(["query", "--db", db.to_str().expect("utf-8"), "--signal", "PlantA/Nope"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no signal \"PlantA/Nope\""), "{out:?}");
}

/// The number after `total=` in a "batch committed" log line.
fn committed_total(line: &str) -> Option<u64> {
    if !line.contains("batch committed") {
        return None;
    }
    let rest = &line[line.find("total=")? + "total=".len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

#[test]
fn kill_9_during_heavy_writes_leaves_a_sound_file_with_every_committed_batch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("h.sqlite");
    let mut child = watchfloor()
        .args(["record", "--db", db.to_str().expect("utf-8"), "--speed", "1000"])
        .env("RUST_LOG", "watchfloor::store=debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("starts");
    let stderr = child.stderr.take().expect("piped");
    let mut last_committed = 0;
    let mut batches = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("log line");
        if let Some(total) = committed_total(&line) {
            last_committed = total;
            batches += 1;
        }
        if batches >= 12 || Instant::now() > deadline {
            break;
        }
    }
    // SIGKILL: no chance to flush or close.
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    assert!(batches >= 12, "the recorder committed only {batches} batches");

    let conn = rusqlite::Connection::open(&db).expect("the file opens");
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check runs");
    assert_eq!(check, "ok");
    let stored: i64 = conn.query_row("SELECT count(*) FROM sample", [], |r| r.get(0)).expect("count");
    let stored = u64::try_from(stored).expect("a count");
    assert!(stored >= last_committed, "{stored} rows, but {last_committed} were reported committed");
    drop(conn);
    // And it is still a cache the tools accept.
    let signals = run_ok(watchfloor().args(["signals", "--db", db.to_str().expect("utf-8")]));
    assert!(signals.lines().count() > 400);
}

#[test]
fn the_app_starts_offline_on_a_recorded_cache_with_the_last_values() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.sqlite");
    {
        let (tx, rx) = mpsc::channel(64);
        let store = Store::start(StoreOptions::new(&path), rx).expect("writer");
        let mut sim = Simulator::new(SimConfig::demo(3, START_MS));
        let (meta, values) = sim.birth();
        let gw: Arc<str> = Arc::from("demo");
        tx.blocking_send(Arc::new(FeedEvent::new(gw.clone(), START_MS, FeedEventBody::Birth(meta)))).expect("send");
        tx.blocking_send(Arc::new(FeedEvent::new(gw.clone(), START_MS, FeedEventBody::Samples(values)))).expect("send");
        let mut batch = Vec::new();
        sim.step_to(START_MS + 120_000, &mut batch);
        tx.blocking_send(Arc::new(FeedEvent::new(gw, START_MS + 120_000, FeedEventBody::Samples(batch))))
            .expect("send");
        drop(tx);
        store.finish();
    }
    // No gateway at all; an hour later.
    let mut builder = EventBus::builder();
    let inbox = builder.live(8);
    let bus = builder.build();
    let parts = AppParts {
        timezone: jiff::tz::TimeZone::UTC,
        history: Some(History::start(path).expect("reader")),
        ..crate::app_parts(inbox, bus, Arc::new(ManualClock::new(START_MS + 3_600_000)))
    };
    let mut harness =
        Harness::builder().with_size([1600.0, 1000.0]).build_eframe(move |cc| WatchfloorApp::new(cc, parts));
    for _ in 0..400 {
        harness.run_steps(1);
        if !harness.state().restoring() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.run_steps(2);
    let live = harness.state().live();
    assert_eq!(live.machines().count(), 12, "every machine is back from the cache");
    assert_eq!(live.vehicles().count(), 42, "every vehicle is back from the cache");
    assert!(live.machines().all(|m| m.stale), "values from the cache are not the present");
    harness.get_by_label_contains("Filler: ");
    harness.get_by_label("AGV-01");
}

#[test]
fn a_cache_that_cannot_be_written_shows_a_banner_and_live_values_go_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A directory where the file should be: SQLite cannot open it for writing.
    let path = dir.path().join("history.sqlite");
    std::fs::create_dir(&path).expect("dir");
    let mut builder = EventBus::builder();
    let inbox = builder.live(64);
    let events = builder.lossless(64);
    let bus = builder.build();
    let store = Store::start(StoreOptions::new(&path), events).expect("writer thread");
    let parts = AppParts {
        timezone: jiff::tz::TimeZone::UTC,
        history: Some(History::start(path.clone()).expect("reader")),
        store: Some(store.link()),
        ..crate::app_parts(inbox, bus.clone(), Arc::new(ManualClock::new(START_MS)))
    };
    let mut harness =
        Harness::builder().with_size([1600.0, 1000.0]).build_eframe(move |cc| WatchfloorApp::new(cc, parts));
    let mut sim = Simulator::new(SimConfig::demo(3, START_MS));
    let (meta, values) = sim.birth();
    assert!(bus.publish_now(FeedEvent::new(Arc::from("demo"), START_MS, FeedEventBody::Birth(meta))));
    assert!(bus.publish_now(FeedEvent::new(Arc::from("demo"), START_MS, FeedEventBody::Samples(values))));
    let status = store.flush_blocking().expect("status");
    assert!(status.lost_samples > 0, "{status:?}");
    harness.run_steps(3);
    harness.get_by_label("History not stored");
    harness.get_by_label_contains("cannot be written");
    harness.get_by_label_contains("samples not stored");
    assert_eq!(harness.state().live().machines().count(), 12, "the live view goes on");
    assert!(
        harness.query_by_label("Start a new cache").is_none(),
        "moving the file aside is offered only for a refused file"
    );
}
