//! Writer and query tests on real SQLite files.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::*;
use crate::model::{FeedEvent, FeedEventBody, FeedState, FeedStatus};
use crate::model::{Quality, Sample, SignalId, SignalMeta, Value, ValueKind};
use crate::store::query::{self, Gap, Tier};
use crate::store::rollup::Agg;
use crate::store::{Retention, Store, StoreOptions, StoreState, open_reader};

const T0: i64 = 1_795_158_000_000;

struct Rig {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    tx: Option<mpsc::Sender<Arc<FeedEvent>>>,
    store: Option<Store>,
}

impl Rig {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(adjust: impl FnOnce(&mut StoreOptions)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.sqlite");
        let mut options = StoreOptions::new(&path);
        adjust(&mut options);
        let (tx, rx) = mpsc::channel(64);
        let store = Store::start(options, rx).expect("writer thread");
        Self { _dir: dir, path, tx: Some(tx), store: Some(store) }
    }

    fn send(&self, body: FeedEventBody, received_ms: i64) {
        let event = FeedEvent::new(Arc::from("g1"), received_ms, body);
        self.tx.as_ref().expect("open").blocking_send(Arc::new(event)).expect("writer alive");
    }

    fn samples(&self, signal: &str, points: &[(i64, f64)]) {
        let samples = points.iter().map(|&(t, v)| Sample::new(SignalId::from(signal), t, Value::F64(v))).collect();
        self.send(FeedEventBody::Samples(samples), points.last().map_or(T0, |p| p.0));
    }

    fn flush(&self) -> StoreStatus {
        self.store.as_ref().expect("open").flush_blocking().expect("flushed")
    }

    fn finish(&mut self) -> StoreStatus {
        self.tx = None;
        self.store.take().expect("open").finish()
    }

    fn reader(&self) -> rusqlite::Connection {
        open_reader(&self.path).expect("reader")
    }
}

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect("count")
}

#[test]
fn replayed_samples_are_stored_once_and_rollups_do_not_double_count() {
    let rig = Rig::new();
    let points: Vec<(i64, f64)> = (0..120).map(|i| (T0 + i * 1000, i as f64)).collect();
    rig.samples("PlantA/Line1/Filler/Speed", &points);
    rig.flush();
    rig.samples("PlantA/Line1/Filler/Speed", &points);
    let status = rig.flush();
    assert_eq!(status.stored_samples, 120);
    assert_eq!(status.duplicate_samples, 120);
    let conn = rig.reader();
    assert_eq!(count(&conn, "SELECT count(*) FROM sample"), 120);
    assert_eq!(count(&conn, "SELECT sum(count) FROM rollup_1m"), 120);
    assert_eq!(count(&conn, "SELECT count(*) FROM rollup_1m"), 2);
    assert_eq!(count(&conn, "SELECT sum(count) FROM rollup_1h"), 120);
    let (min, max, sum): (f64, f64, f64) = conn
        .query_row("SELECT min_value, max_value, sum_value FROM rollup_1m ORDER BY start_ms LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .expect("row");
    assert_eq!((min, max, sum), (0.0, 59.0, (0..60).sum::<i32>() as f64));
}

#[test]
fn late_data_updates_rollups_and_not_the_latest_value() {
    let rig = Rig::new();
    rig.samples("s", &[(T0 + 10_000, 5.0), (T0 + 20_000, 6.0)]);
    rig.flush();
    // Late: earlier than what is stored, same minute.
    rig.samples("s", &[(T0 + 1_000, 100.0)]);
    rig.flush();
    let conn = rig.reader();
    let (first, max, n): (f64, f64, i64) = conn
        .query_row("SELECT first_value, max_value, count FROM rollup_1m", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("row");
    assert_eq!((first, max, n), (100.0, 100.0, 3));
    let latest = query::latest(&conn).expect("latest");
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].1.ts_ms, T0 + 20_000);
    assert_eq!(latest[0].1.value, Value::F64(6.0));
}

#[test]
fn births_kinds_units_strings_bools_and_quality_round_trip() {
    let rig = Rig::new();
    rig.send(
        FeedEventBody::Birth(vec![
            SignalMeta { id: SignalId::from("m/State"), kind: ValueKind::Int, unit: None },
            SignalMeta { id: SignalId::from("m/Temp"), kind: ValueKind::Float, unit: Some(Arc::from("°C")) },
            SignalMeta { id: SignalId::from("m/Run"), kind: ValueKind::Bool, unit: None },
            SignalMeta { id: SignalId::from("m/Reason"), kind: ValueKind::String, unit: None },
        ]),
        T0,
    );
    let mut bad = Sample::new(SignalId::from("m/Temp"), T0 + 2, Value::F64(999.0));
    bad.quality = Quality::Bad;
    rig.send(
        FeedEventBody::Samples(vec![
            Sample::new(SignalId::from("m/State"), T0, Value::I64(3)),
            Sample::new(SignalId::from("m/Temp"), T0 + 1, Value::F64(21.5)),
            bad,
            Sample::new(SignalId::from("m/Run"), T0, Value::Bool(true)),
            Sample::new(SignalId::from("m/Reason"), T0, Value::str("jam")),
        ]),
        T0,
    );
    rig.flush();
    let conn = rig.reader();
    let signals = query::signals(&conn).expect("signals");
    let temp = signals.iter().find(|s| s.id.as_str() == "m/Temp").expect("temp");
    assert_eq!(temp.unit.as_deref(), Some("°C"));
    assert_eq!(temp.gateway, "g1");
    let (id, _) = query::signal(&conn, "m/Temp").expect("query").expect("known");
    let raw = query::raw(&conn, id, ValueKind::Float, T0, T0 + 10, 10).expect("raw");
    assert_eq!(raw.len(), 2);
    assert_eq!(raw[1].quality, Quality::Bad, "bad samples are stored and stay bad");
    // ...but not in the statistics.
    assert_eq!(count(&conn, &format!("SELECT CAST(max_value AS INTEGER) FROM rollup_1m WHERE signal = {id}")), 21);
    let latest: std::collections::HashMap<String, Value> =
        query::latest(&conn).expect("latest").into_iter().map(|(_, s)| (s.signal.to_string(), s.value)).collect();
    assert_eq!(latest["m/State"], Value::I64(3));
    assert_eq!(latest["m/Run"], Value::Bool(true));
    assert_eq!(latest["m/Reason"], Value::str("jam"));
    assert_eq!(latest["m/Temp"], Value::F64(999.0), "the latest value is the latest, whatever its quality");
}

#[test]
fn decimated_series_keeps_peaks_and_matches_the_naive_scan() {
    let rig = Rig::new();
    let day_ms = 86_400_000;
    let mut points: Vec<(i64, f64)> = (0..86_400).map(|i| (T0 + i * 1000, (i % 600) as f64 / 10.0)).collect();
    points[40_000].1 = 1_000.0; // a one-second spike
    for chunk in points.chunks(5_000) {
        rig.samples("s", chunk);
    }
    rig.flush();
    let conn = rig.reader();
    // 8 h in 1000 buckets: 28.8 s each, from raw rows.
    let s = query::series(&conn, "s", T0, T0 + 8 * 3_600_000, 1000).expect("series");
    assert_eq!(s.tier, Tier::Raw);
    let naive = query::series_naive(&conn, "s", T0, T0 + 8 * 3_600_000, s.bucket_ms).expect("naive");
    assert_eq!(s.bucket_ms, 29_000, "28.8 s rounded up to whole seconds");
    assert!(s.buckets.iter().all(|b| b.ts_ms % s.bucket_ms == 0), "buckets aligned to their width");
    assert_eq!(s.buckets.len(), naive.len());
    for (a, b) in s.buckets.iter().zip(&naive) {
        assert_eq!((a.ts_ms, a.min, a.max, a.count), (b.ts_ms, b.min, b.max, b.count));
        assert!((a.mean - b.mean).abs() < 1e-9);
    }
    // 24 h in 500 buckets: from the minute rollups, the spike survives.
    let s = query::series(&conn, "s", T0, T0 + day_ms, 500).expect("series");
    assert_eq!(s.tier, Tier::Minute);
    assert_eq!(s.bucket_ms % 60_000, 0, "whole minutes, so no minute row straddles two buckets");
    assert!(s.buckets.len() <= 500);
    assert_eq!(s.buckets.iter().map(|b| b.max).fold(f64::MIN, f64::max), 1_000.0);
    assert_eq!(s.buckets.iter().map(|b| b.count).sum::<u64>(), 86_400);
    // A week in 100 buckets: hourly rollups.
    let s = query::series(&conn, "s", T0, T0 + 7 * day_ms, 100).expect("series");
    assert_eq!(s.tier, Tier::Hour);
    assert_eq!(s.buckets.iter().map(|b| b.max).fold(f64::MIN, f64::max), 1_000.0);
    let mean_all = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let mean_h = s.buckets.iter().map(|b| b.mean * b.count as f64).sum::<f64>() / 86_400.0;
    assert!((mean_all - mean_h).abs() < 1e-6);
}

#[test]
fn stale_and_offline_open_gaps_that_the_next_sample_closes() {
    let rig = Rig::new();
    rig.samples("PlantA/Fleet/AGV-01/Speed", &[(T0, 1.0)]);
    rig.samples("PlantA/Line1/Filler/Speed", &[(T0, 2.0)]);
    rig.send(FeedEventBody::Stale { prefix: "PlantA/Fleet/".to_owned() }, T0 + 10_000);
    rig.send(FeedEventBody::Status(FeedStatus::with_message(FeedState::Offline, "broker gone")), T0 + 20_000);
    rig.flush();
    rig.samples("PlantA/Fleet/AGV-01/Speed", &[(T0 + 60_000, 3.0)]);
    rig.flush();
    let conn = rig.reader();
    let (agv, _) = query::signal(&conn, "PlantA/Fleet/AGV-01/Speed").expect("q").expect("known");
    let (filler, _) = query::signal(&conn, "PlantA/Line1/Filler/Speed").expect("q").expect("known");
    assert_eq!(
        query::gaps(&conn, agv, T0, T0 + 100_000).expect("gaps"),
        vec![Gap { start_ms: T0 + 10_000, end_ms: Some(T0 + 60_000) }]
    );
    assert_eq!(
        query::gaps(&conn, filler, T0, T0 + 100_000).expect("gaps"),
        vec![Gap { start_ms: T0 + 20_000, end_ms: None }]
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM event WHERE kind = 'feed.status'"), 1);
    // The held value counts until the gap, not across it: 1.0 for 10 s, 3.0 for 40 s.
    let mean = query::time_weighted_mean(&conn, "PlantA/Fleet/AGV-01/Speed", T0, T0 + 100_000).expect("mean");
    assert_eq!(mean, Some((1.0 * 10.0 + 3.0 * 40.0) / 50.0));
}

#[test]
fn a_restart_opens_a_gap_after_every_signals_last_value() {
    let mut rig = Rig::new();
    rig.samples("s", &[(T0, 1.0)]);
    rig.finish();
    let (tx, rx) = mpsc::channel(8);
    let store = Store::start(StoreOptions::new(&rig.path), rx).expect("writer");
    tx.blocking_send(Arc::new(FeedEvent::new(
        Arc::from("g1"),
        T0 + 5_000,
        FeedEventBody::Samples(vec![Sample::new(SignalId::from("s"), T0 + 5_000, Value::F64(2.0))]),
    )))
    .expect("send");
    store.flush_blocking();
    let conn = rig.reader();
    let (id, _) = query::signal(&conn, "s").expect("q").expect("known");
    assert_eq!(
        query::gaps(&conn, id, T0, T0 + 10_000).expect("gaps"),
        vec![Gap { start_ms: T0 + 1, end_ms: Some(T0 + 5_000) }]
    );
}

#[test]
fn vehicle_fixes_are_paired_from_latitude_and_longitude() {
    let rig = Rig::new();
    rig.send(
        FeedEventBody::Samples(vec![
            Sample::new(SignalId::from("PlantA/Fleet/VAN-01/Position/Latitude"), T0, Value::F64(61.5)),
            Sample::new(SignalId::from("PlantA/Fleet/VAN-01/Position/Longitude"), T0, Value::F64(23.8)),
            Sample::new(SignalId::from("PlantA/Fleet/VAN-01/Position/Latitude"), T0 + 1000, Value::F64(61.6)),
        ]),
        T0,
    );
    rig.flush();
    let conn = rig.reader();
    let (v, lat, lon): (String, f64, f64) = conn
        .query_row("SELECT vehicle, lat_deg, lon_deg FROM fix", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("one fix");
    assert_eq!((v.as_str(), lat, lon), ("PlantA/Fleet/VAN-01", 61.5, 23.8));
    assert_eq!(count(&conn, "SELECT count(*) FROM fix"), 1, "half a fix is not a fix");
}

#[test]
fn a_full_disk_loses_the_batch_not_the_file_and_recovers() {
    let rig = Rig::new();
    rig.samples("s", &[(T0, 1.0)]);
    rig.flush();
    // Cap the file at its current size: the next batch cannot grow it.
    {
        let conn = rusqlite::Connection::open(&rig.path).expect("open");
        let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0)).expect("pages");
        drop(conn);
        let store = rig.store.as_ref().expect("open");
        // The cap must be set on the writer's own connection; ask it through a test hook.
        assert!(store.send(StoreCommand::TestSetMaxPages(pages)));
    }
    let many: Vec<(i64, f64)> = (1..20_000).map(|i| (T0 + i * 1000, i as f64)).collect();
    rig.samples("s", &many);
    let status = rig.flush();
    assert_eq!(status.state, StoreState::Failing, "{status:?}");
    assert!(status.message.as_deref().is_some_and(|m| m.contains("disk is full")), "{status:?}");
    assert_eq!(status.lost_samples, 19_999);
    assert!(rig.store.as_ref().expect("open").send(StoreCommand::TestSetMaxPages(1_000_000)));
    rig.samples("s", &[(T0 + 50_000_000, 5.0)]);
    let status = rig.flush();
    assert_eq!(status.state, StoreState::Recording, "{status:?}");
    let conn = rig.reader();
    let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
    assert_eq!(ok, "ok");
    assert_eq!(count(&conn, "SELECT count(*) FROM sample"), 2);
}

#[test]
fn a_refused_file_drains_events_and_a_new_cache_keeps_the_old_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.sqlite");
    std::fs::write(&path, b"this is not a database, but someone's notes. keep them.".repeat(100)).expect("write");
    let (tx, rx) = mpsc::channel(4);
    let store = Store::start(StoreOptions::new(&path), rx).expect("writer");
    for i in 0..20 {
        // More events than the channel holds: the writer must keep draining.
        tx.blocking_send(Arc::new(FeedEvent::new(
            Arc::from("g1"),
            T0,
            FeedEventBody::Samples(vec![Sample::new(SignalId::from("s"), T0 + i, Value::F64(1.0))]),
        )))
        .expect("send");
    }
    let status = store.flush_blocking().expect("status");
    assert_eq!(status.state, StoreState::Refused);
    assert!(status.message.as_deref().is_some_and(|m| m.contains("not an SQLite database")), "{status:?}");
    assert_eq!(status.lost_samples, 20);
    let history = crate::store::History::start(path.clone()).expect("reader");
    let err = history.signals().expect("queued").wait().expect_err("the junk file is not readable");
    assert!(err.to_string().contains("not an SQLite database"), "{err}");
    assert!(store.send(StoreCommand::StartNewCache));
    // Commands are handled in order: once this flush answers, the new cache is open.
    assert_eq!(store.flush_blocking().expect("status").state, StoreState::Recording);
    tx.blocking_send(Arc::new(FeedEvent::new(
        Arc::from("g1"),
        T0,
        FeedEventBody::Samples(vec![Sample::new(SignalId::from("s"), T0 + 100, Value::F64(1.0))]),
    )))
    .expect("send");
    let status = store.flush_blocking().expect("status");
    assert_eq!(status.state, StoreState::Recording, "{status:?}");
    assert_eq!(status.stored_samples, 1);
    let signals = history.signals().expect("queued").wait().expect("the reader follows the new cache");
    assert_eq!(signals.len(), 1);
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".old"))
        .collect();
    assert_eq!(kept.len(), 1);
    assert!(std::fs::read(kept[0].path()).expect("read").starts_with(b"this is not a database"));
}

#[test]
fn retention_prunes_old_raw_rows_in_chunks_and_keeps_rollups() {
    let now = crate::clock::wall_now_ms();
    let old = now - 40 * 86_400_000;
    let rig = Rig::with(|o| {
        o.retention = Retention { raw_days: 30, ..Retention::default() };
        o.prune_chunk_rows = 1_000;
        o.prune_every = std::time::Duration::ZERO;
    });
    let points: Vec<(i64, f64)> = (0..5_000).map(|i| (old + i * 1000, 1.0)).collect();
    rig.samples("s", &points);
    rig.samples("s", &[(now, 2.0)]);
    let first = rig.flush();
    assert!(first.pruned_rows <= 1_000, "one chunk per batch: {first:?}");
    // Each further batch prunes one more chunk.
    for i in 0..6 {
        rig.samples("s", &[(now + 1 + i, 2.0)]);
        rig.flush();
    }
    let conn = rig.reader();
    assert_eq!(count(&conn, &format!("SELECT count(*) FROM sample WHERE ts_ms < {now}")), 0);
    assert_eq!(count(&conn, &format!("SELECT sum(count) FROM rollup_1m WHERE start_ms < {old} + 86400000")), 5_000);
    // The series falls back to rollups where raw rows were pruned.
    let s = query::series(&conn, "s", old, old + 3_600_000, 1000).expect("series");
    assert_eq!(s.tier, Tier::Minute);
}

#[test]
fn display_runs_split_at_gaps_and_mark_interpolation() {
    let series = query::Series {
        signal: query::SignalInfo {
            id: SignalId::from("s"),
            kind: ValueKind::Float,
            unit: None,
            gateway: "g".to_owned(),
        },
        from_ms: 0,
        to_ms: 100,
        bucket_ms: 10,
        tier: Tier::Raw,
        buckets: [0, 10, 50, 60]
            .into_iter()
            .map(|t| query::Bucket { ts_ms: t, min: 1.0, max: 1.0, mean: t as f64, count: 1 })
            .collect(),
        gaps: vec![Gap { start_ms: 22, end_ms: Some(51) }],
        before: None,
    };
    let runs = query::display_runs(&series, false);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].len(), 2);
    let runs = query::display_runs(&series, true);
    assert_eq!(runs.len(), 3);
    assert!(runs[1].iter().all(|p| p.interpolated));
    assert!(runs[0].iter().chain(&runs[2]).all(|p| !p.interpolated));
}

#[test]
fn rollup_merge_is_order_independent() {
    let a = Agg::one(5, 2.0);
    let mut b = Agg::one(1, 7.0);
    b.merge(&Agg::one(9, -1.0));
    let mut ab = a;
    ab.merge(&b);
    let mut ba = b;
    ba.merge(&a);
    assert_eq!(ab, ba);
    assert_eq!((ab.first, ab.last, ab.min, ab.max, ab.count), (7.0, -1.0, -1.0, 7.0, 3));
}

#[test]
fn over_the_size_cap_the_oldest_raw_day_goes_first() {
    let rig = Rig::with(|o| {
        o.retention = Retention { raw_days: 0, rollup_1m_days: 0, rollup_1h_days: 0, max_size_bytes: 4096 };
        o.prune_every = std::time::Duration::ZERO;
    });
    let day = 86_400_000;
    // Three days, a value every 10 minutes.
    let points: Vec<(i64, f64)> = (0..432).map(|i| (T0 + i * 600_000, i as f64)).collect();
    rig.samples("s", &points);
    rig.flush();
    rig.samples("s", &[(T0 + 3 * day, 1.0)]);
    let status = rig.flush();
    assert!(status.pruned_rows > 0, "{status:?}");
    let conn = rig.reader();
    let oldest = count(&conn, "SELECT min(ts_ms) FROM sample");
    assert!(oldest >= T0 + day, "the first day is gone from raw: oldest {oldest}");
    assert_eq!(count(&conn, &format!("SELECT sum(count) FROM rollup_1h WHERE start_ms < {}", T0 + day)), 144);
}

#[test]
fn bucket_widths_are_whole_and_never_too_many() {
    for (from, to, n, res) in [
        (T0 + 123, T0 + 8 * 3_600_000 + 77, 1000, 1_000),
        (T0, T0 + 86_400_000, 500, 60_000),
        (T0 + 59_999, T0 + 30 * 86_400_000, 1000, 60_000),
        (T0, T0 + 1, 1000, 1_000),
    ] {
        let w = query::bucket_width(from, to, n, res);
        assert_eq!(w % res, 0);
        let count = (to - 1).div_euclid(w) - from.div_euclid(w) + 1;
        assert!(count <= n, "{count} buckets of {w} ms for n = {n}");
        assert!(count >= n / 2 || w == res, "not needlessly coarse: {count} of {n}");
    }
}

#[test]
fn the_value_before_a_range_comes_from_rollups_once_raw_is_gone() {
    let rig = Rig::new();
    rig.samples("s", &[(T0, 4.0), (T0 + 30_000, 5.0)]);
    rig.flush();
    let conn = rusqlite::Connection::open(&rig.path).expect("open");
    conn.execute("DELETE FROM sample", []).expect("age out raw");
    drop(conn);
    let conn = rig.reader();
    let s = query::series(&conn, "s", T0 + 3_600_000, T0 + 7_200_000, 100).expect("series");
    assert_eq!(s.before, Some((T0 + 30_000, 5.0)));
}

#[test]
fn retention_counts_back_from_the_newest_data_and_ignores_a_clock_far_ahead() {
    let day = 86_400_000;
    let rig = Rig::with(|o| {
        o.retention = Retention { raw_days: 1, ..Retention::default() };
        o.prune_every = std::time::Duration::ZERO;
    });
    // A recording that ended before today (T0 is in the past): its last day stays, the older day goes.
    rig.samples("s", &[(T0 - 2 * day, 1.0), (T0, 2.0)]);
    rig.flush();
    rig.samples("s", &[(T0 + 1, 3.0)]);
    rig.flush();
    let conn = rig.reader();
    assert_eq!(count(&conn, "SELECT count(*) FROM sample"), 2, "only the sample older than a day was pruned");

    let rig = Rig::with(|o| o.prune_every = std::time::Duration::ZERO);
    let wall = crate::clock::wall_now_ms();
    rig.samples("s", &[(wall - 5 * day, 1.0)]);
    // A sample from a clock ten years ahead.
    rig.samples("s", &[(wall + 3650 * day, 2.0)]);
    rig.flush();
    rig.samples("s", &[(wall, 3.0)]);
    rig.flush();
    let conn = rig.reader();
    assert_eq!(count(&conn, "SELECT count(*) FROM sample"), 3, "30 days of raw kept despite the skewed clock");
}

#[test]
fn alarms_keep_working_on_a_full_disk_and_their_journal_waits_for_it() {
    let rig = Rig::with(|o| o.evaluator = Box::new(AboveHundred::default()));
    rig.samples("s", &[(T0, 1.0)]);
    rig.flush();
    let conn = rusqlite::Connection::open(&rig.path).expect("open");
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0)).expect("pages");
    drop(conn);
    assert!(rig.store.as_ref().expect("open").send(StoreCommand::TestSetMaxPages(pages)));
    // The disk is full, and the value crosses the limit: the alarm is raised all the same.
    let many: Vec<(i64, f64)> = (1..20_000).map(|i| (T0 + i * 1000, if i > 10 { 150.0 } else { 1.0 })).collect();
    rig.samples("s", &many);
    let status = rig.flush();
    assert_eq!(status.state, StoreState::Failing, "{status:?}");
    let alarms = rig.store.as_ref().expect("open").alarms();
    assert_eq!(alarms.len(), 1, "{status:?}");
    assert_eq!(alarms[0].state, crate::model::alarm::AlarmState::Unacknowledged);
    assert_eq!(count(&rig.reader(), "SELECT count(*) FROM alarm_journal"), 0, "nothing could be written");
    // Space again: the waiting entry is journaled with the next batch.
    assert!(rig.store.as_ref().expect("open").send(StoreCommand::TestSetMaxPages(1_000_000)));
    rig.samples("s", &[(T0 + 50_000_000, 150.0)]);
    let status = rig.flush();
    assert_eq!(status.state, StoreState::Recording, "{status:?}");
    let conn = rig.reader();
    let (state, ts): (String, i64) = conn
        .query_row("SELECT state, ts_ms FROM alarm_journal", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("one entry");
    assert_eq!((state.as_str(), ts), ("Unacknowledged", T0 + 11_000));
}

/// A one-alarm evaluator for the writer's tests ("s" above 100, priority high), so they need no alarm engine.
#[derive(Default)]
struct AboveHundred {
    active: bool,
}

impl crate::model::history::Evaluator for AboveHundred {
    fn has_rules(&self) -> bool {
        true
    }
    fn restore(&mut self, _: &str, _: &str, _: &str, r: crate::model::alarm::Restored, _: Option<(i64, f64)>) {
        self.active = r.active;
    }
    fn sample(&mut self, s: &crate::model::Sample, _: i64, out: &mut Vec<crate::model::alarm::Entry>) {
        use crate::model::alarm::{AlarmState, Entry, Priority, Transition};
        let high = s.signal.as_str() == "s" && s.value.as_f64().is_some_and(|v| v > 100.0);
        if high && !self.active {
            self.active = true;
            out.push(Entry {
                index: 0,
                rule: "s high".into(),
                source: "s".into(),
                asset: String::new(),
                priority: Priority::High,
                limit: Some(crate::model::alarm::Limit::Hi),
                active: true,
                acked: false,
                shelved_until_ms: None,
                message: String::new(),
                transition: Transition {
                    ts_ms: s.ts_ms,
                    from: AlarmState::Normal,
                    to: AlarmState::Unacknowledged,
                    user: String::new(),
                    comment: String::new(),
                    value: s.value.as_f64(),
                },
            });
        }
    }
    fn gateway(&mut self, _: &str, _: bool, _: i64, _: &mut Vec<crate::model::alarm::Entry>) {}
    fn node_death(&mut self, _: &str, _: i64, _: &mut Vec<crate::model::alarm::Entry>) {}
    fn has_geofences(&self) -> bool {
        false
    }
    fn position(
        &mut self,
        _: &str,
        _: (i64, f64, f64),
        _: &mut Vec<crate::model::history::ZoneCrossing>,
        _: &mut Vec<crate::model::alarm::Entry>,
    ) {
    }
    fn tick(&mut self, _: i64, _: &mut Vec<crate::model::alarm::Entry>) {}
    fn operator(&mut self, _: &crate::model::history::OperatorAction, _: i64, _: &mut Vec<crate::model::alarm::Entry>) {
    }
    fn views(&self) -> Vec<crate::model::alarm::AlarmView> {
        use crate::model::alarm::{AlarmState, AlarmView, Priority};
        if !self.active {
            return Vec::new();
        }
        vec![AlarmView {
            index: 0,
            rule: "s high".into(),
            source: "s".into(),
            asset: String::new(),
            priority: Priority::High,
            state: AlarmState::Unacknowledged,
            active: true,
            active_since_ms: None,
            shelved_until_ms: None,
            value: None,
            limit: None,
            message: String::new(),
        }]
    }
}
