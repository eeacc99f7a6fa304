//! OEE end to end: the live tracker against the recompute from the cache on the same simulated shift, the
//! `report` command on a recorded cache, and the plant view's gauges and machine detail.

use std::process::Command;
use std::sync::Arc;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use tokio::sync::mpsc;
use watchfloor::analytics::report;
use watchfloor::app::WatchfloorApp;
use watchfloor::clock::ManualClock;
use watchfloor::feeds::EventBus;
use watchfloor::live::{LiveSettings, LiveState};
use watchfloor::model::ShiftCalendar;
use watchfloor::model::asset::AssetModel;
use watchfloor::model::{FeedEvent, FeedEventBody};
use watchfloor::sim::{Fault, SimConfig, Simulator};
use watchfloor::store::{Store, StoreOptions, open_reader};

use crate::START_MS;

/// Records the demo simulator (seed `seed`, from `START_MS`) into a cache at `path` up to `end_ms`, a batch every
/// `step_ms`, injecting `faults` at their times; `each` sees every event too.
fn record_sim(
    path: &std::path::Path,
    seed: u64,
    (end_ms, step_ms): (i64, i64),
    faults: &[(i64, Fault)],
    mut each: impl FnMut(&FeedEvent),
) {
    let (tx, rx) = mpsc::channel(64);
    let store = Store::start(StoreOptions::new(path), rx).expect("writer");
    // No vehicles: OEE needs machines only, and the simulated hours come quicker.
    let mut sim = Simulator::new(SimConfig { vehicles: 0, ..SimConfig::demo(seed, START_MS) });
    let gw: Arc<str> = Arc::from("demo");
    let (meta, values) = sim.birth();
    let mut send = |event: FeedEvent| {
        each(&event);
        tx.blocking_send(Arc::new(event)).expect("send");
    };
    send(FeedEvent::new(gw.clone(), START_MS, FeedEventBody::Birth(meta)));
    send(FeedEvent::new(gw.clone(), START_MS, FeedEventBody::Samples(values)));
    let mut t = START_MS;
    while t + step_ms <= end_ms {
        for (_, fault) in faults.iter().filter(|(at, _)| (t..t + step_ms).contains(at)) {
            sim.inject(fault).expect("a known machine");
        }
        t += step_ms;
        let mut batch = Vec::new();
        sim.step_to(t, &mut batch);
        send(FeedEvent::new(gw.clone(), t, FeedEventBody::Samples(batch)));
    }
    drop(tx);
    store.finish();
}

/// The app on a recorded cache, no gateway, its clock at `now_ms`.
fn app_on_cache(path: std::path::PathBuf, calendar: ShiftCalendar, now_ms: i64) -> Harness<'static, WatchfloorApp> {
    let mut builder = EventBus::builder();
    let inbox = builder.live(8);
    let bus = builder.build();
    let parts = watchfloor::app::AppParts {
        history: Some(watchfloor::store::History::start(path).expect("reader")),
        live_settings: LiveSettings { calendar, ..LiveSettings::default() },
        ..crate::app_parts(inbox, bus, Arc::new(ManualClock::new(now_ms)))
    };
    Harness::builder().with_size([1600.0, 1000.0]).build_eframe(move |cc| WatchfloorApp::new(cc, parts))
}

/// Runs frames until `done` (the history reader answers on its own thread), for at most about 4 s.
fn frames_until(
    harness: &mut Harness<'static, WatchfloorApp>,
    done: impl Fn(&Harness<'static, WatchfloorApp>) -> bool,
) {
    for _ in 0..400 {
        harness.run_steps(1);
        if done(harness) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Two simulated hours of shift A: the live tracker, fed as values arrive, and the report recomputed from the
/// cache (counters from the minute rollups) agree on every machine's times and counts.
#[test]
fn live_shift_oee_equals_the_recompute_from_the_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.sqlite");
    let calendar = SimConfig::demo(7, START_MS).calendar;
    let mut live = LiveState::new(LiveSettings {
        calendar: calendar.clone(),
        default_site: "PlantA".to_owned(),
        ..LiveSettings::default()
    });
    let end_ms = START_MS + 2 * 3_600_000;
    // Values up to a second before the end: the report's range excludes its end, the live read includes now.
    // Counter resets mid-shift (one machine twice), read as resets by both.
    let reset = |machine: &str| Fault::ResetCounters { machine: machine.to_owned() };
    let faults = [
        (START_MS + 1_800_000, reset("Filler")),
        (START_MS + 1_830_000, reset("Filler")),
        (START_MS + 4_000_000, reset("Mixer")),
    ];
    record_sim(&path, 7, (end_ms - 1_000, 1_000), &faults, |event| live.apply(event));
    let shift = calendar.shift_at(START_MS).expect("shift A");
    let conn = open_reader(&path).expect("reader");
    let rep =
        report::build(&conn, &AssetModel::default(), &calendar, "PlantA", shift.start_ms, end_ms).expect("report");
    assert_eq!(rep.machines.len(), 12);
    let mut stopped = 0;
    for m in &rep.machines {
        let tracked = live.oee.machine(&m.id, end_ms).expect("tracked live").totals;
        let stored = m.totals;
        assert_eq!(
            (tracked.planned_ms, tracked.run_ms(), tracked.unplanned_ms, tracked.setup_ms),
            (stored.planned_ms, stored.run_ms(), stored.unplanned_ms, stored.setup_ms),
            "{}: times",
            m.id
        );
        assert_eq!((tracked.total, tracked.good), (stored.total, stored.good), "{}: counts", m.id);
        assert_eq!(tracked.no_data_ms, 3 * 3_600_000, "{}: 06:00 to 09:00 local had no data", m.id);
        assert!(stored.total > 1_000, "{}: {} parts in two hours", m.id, stored.total);
        let oee = m.figures.oee.expect("an OEE");
        assert!((0.2..1.0).contains(&oee), "{}: OEE {oee}", m.id);
        stopped += usize::from(m.stops > 0);
    }
    assert!(stopped >= 6, "the simulator stops machines: {stopped} of 12 stopped");
    // Line figures are sums, and the site's is the sum of the lines.
    let line1 = rep.lines.iter().find(|l| l.id == "Line1").expect("Line1");
    let planned: f64 = rep.machines.iter().filter(|m| m.line == "Line1").map(|m| m.figures.planned_secs).sum();
    assert!((line1.figures.planned_secs - planned).abs() < 1e-6);
    assert_eq!(rep.figures.total_count, rep.lines.iter().map(|l| l.figures.total_count).sum::<i64>());
}

#[test]
fn report_command_prints_machines_and_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("shift.sqlite");
    let db = db.to_str().expect("utf-8 path");
    let watchfloor = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_watchfloor"));
        cmd.env("NO_COLOR", "1");
        cmd
    };
    // One shift round the clock with no break: the recording is planned time whatever the hour the test runs at
    // (the demo's own calendar would make a recording inside a break a range with nothing planned).
    let config = dir.path().join("watchfloor.toml");
    std::fs::write(
        &config,
        "[[gateway]]\nname = \"demo\"\nkind = \"sim\"\nspeed = 300\n\n\
         [[shift]]\nname = \"Day\"\nstart = \"00:00\"\nduration = \"24h\"\n",
    )
    .expect("config");
    let config = config.to_str().expect("utf-8 path");
    let out = watchfloor().args(["record", "--config", config, "--db", db, "--duration", "2s"]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = watchfloor().args(["report", "--db", db, "--from", "-1h", "--to", "+2h"]).output().expect("runs");
    assert!(!out.status.success(), "a relative time must start with '-': {}", String::from_utf8_lossy(&out.stdout));
    // The recording starts now and runs ahead at ×300: report the next hour.
    let from = watchfloor::cli::rfc3339(watchfloor::clock::wall_now_ms() - 60_000);
    let to = watchfloor::cli::rfc3339(watchfloor::clock::wall_now_ms() + 3_600_000);
    let out = watchfloor()
        .args(["report", "--config", config, "--db", db, "--from", &from, "--to", &to])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let machines = json["machines"].as_array().expect("machines");
    assert_eq!(machines.len(), 12);
    let filler = machines.iter().find(|m| m["id"] == "PlantA/Line1/Filler").expect("the filler by its prefix");
    assert_eq!(filler["line"], "Line1");
    for key in ["availability", "performance", "quality", "oee"] {
        let v = filler[key].as_f64().expect(key);
        assert!((0.0..=1.5).contains(&v), "{key} = {v}");
    }
    assert!(filler["planned_secs"].as_f64().expect("planned") > 0.0);
    assert!(filler["total_count"].as_i64().expect("total") >= filler["good_count"].as_i64().expect("good"));
    assert!(filler["losses_min"]["equipment_failure"].is_number());
    assert_eq!(json["lines"].as_array().expect("lines").len(), 3);
    let line1: Vec<&str> =
        machines.iter().filter(|m| m["line"] == "Line1").filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(line1, ["Depalletizer", "Filler", "Capper", "Labeler"], "in process order");
    // The vehicles section: one row per vehicle, by its signal-id prefix.
    let vehicles = json["vehicles"].as_array().expect("vehicles");
    assert_eq!(vehicles.len(), 42);
    for v in vehicles {
        assert!(v["id"].as_str().is_some_and(|id| id.matches('/').count() >= 2), "{v}");
        for key in ["distance_km", "soc_used_percent", "min_soc_percent", "charging_secs", "stale_secs"] {
            assert!(v[key].as_f64().is_some_and(|x| x >= 0.0), "{key} in {v}");
        }
        assert!(v["geofence_events"].is_array(), "{v}");
    }
    let vcsv = watchfloor()
        .args(["report", "--config", config, "--db", db, "--from", &from, "--to", &to])
        .args(["--format", "csv", "--section", "vehicles"])
        .output()
        .expect("runs");
    let vcsv = String::from_utf8(vcsv.stdout).expect("utf-8");
    assert!(
        vcsv.starts_with("id,kind,distance_km,soc_used_percent,min_soc_percent,charging_secs,stale_secs"),
        "{vcsv}"
    );
    assert_eq!(vcsv.lines().count(), 43, "a header and 42 vehicles");
    // The workbook, read back with an independent reader (calamine): the filler's OEE as in the JSON, every vehicle.
    let xlsx = watchfloor()
        .args(["report", "--config", config, "--db", db, "--from", &from, "--to", &to, "--format", "xlsx"])
        .output()
        .expect("runs");
    assert!(xlsx.status.success(), "{}", String::from_utf8_lossy(&xlsx.stderr));
    {
        use calamine::Reader as _;
        let mut book: calamine::Xlsx<_> = calamine::Xlsx::new(std::io::Cursor::new(xlsx.stdout)).expect("a workbook");
        let oee = book.worksheet_range("OEE").expect("the OEE sheet");
        let row = oee
            .rows()
            .find(|r| r.get(1).and_then(calamine::DataType::get_string) == Some("PlantA/Line1/Filler"))
            .expect("the filler's row");
        let cell = row.get(7).and_then(calamine::DataType::get_float).expect("its OEE, a number");
        let json_oee = filler["oee"].as_f64().expect("oee");
        assert!((cell - json_oee).abs() < 1e-9, "xlsx {cell} ≠ json {json_oee}");
        let vehicles = book.worksheet_range("Vehicles").expect("the Vehicles sheet");
        assert_eq!(vehicles.height(), 43, "a header and 42 vehicles");
    }
    let csv = watchfloor()
        .args(["report", "--config", config, "--db", db, "--from", &from, "--to", &to, "--format", "csv"])
        .output()
        .expect("runs");
    let csv = String::from_utf8(csv.stdout).expect("utf-8");
    assert!(csv.starts_with("level,id,line,availability,performance,quality,oee,planned_secs"), "{csv}");
    assert_eq!(csv.lines().filter(|l| l.starts_with("machine,")).count(), 12);
    assert_eq!(csv.lines().filter(|l| l.starts_with("site,")).count(), 1);
}

/// The plant view draws a gauge per machine, line and the site; a click opens the machine's detail.
#[test]
fn plant_view_shows_gauges_and_machine_detail() {
    let mut builder = EventBus::builder();
    let inbox = builder.live(256);
    let bus = builder.build();
    let clock = Arc::new(ManualClock::new(START_MS));
    let config = SimConfig::demo(5, START_MS);
    let parts = watchfloor::app::AppParts {
        live_settings: LiveSettings { calendar: config.calendar.clone(), ..LiveSettings::default() },
        ..crate::app_parts(inbox, bus.clone(), clock.clone())
    };
    let mut harness =
        Harness::builder().with_size([1600.0, 1000.0]).build_eframe(move |cc| WatchfloorApp::new(cc, parts));
    let mut sim = Simulator::new(config);
    let gw: Arc<str> = Arc::from("demo");
    let (meta, values) = sim.birth();
    assert!(bus.publish_now(FeedEvent::new(gw.clone(), START_MS, FeedEventBody::Birth(meta))));
    assert!(bus.publish_now(FeedEvent::new(gw.clone(), START_MS, FeedEventBody::Samples(values))));
    for minute in 1..=30 {
        let t = START_MS + minute * 60_000;
        let mut batch = Vec::new();
        sim.step_to(t, &mut batch);
        assert!(bus.publish_now(FeedEvent::new(gw.clone(), t, FeedEventBody::Samples(batch))));
        clock.set(t);
        harness.run_steps(1);
    }
    harness.get_by_label("Plant").click();
    harness.run_steps(3);
    // 12 machines, 3 lines and the site.
    let gauges = harness.query_all_by_label_contains("OEE ").count();
    assert!(gauges >= 16, "{gauges} gauges");
    harness.get_by_label_contains("site OEE");
    harness.get_by_label_contains("Shift A");
    harness.get_by_label("Machine Filler").click();
    harness.run_steps(3);
    harness.get_by_label("Stop time by cause");
    harness.get_by_label("Six big losses");
    harness.get_by_label_contains("Equipment failure: ");
    harness.get_by_label_contains("Reduced speed: ");
    harness.get_by_label_contains("Good parts");
    harness.get_by_label("Close").click();
    harness.run_steps(2);
    assert!(harness.query_by_label("Six big losses").is_none(), "the detail closes");
}

/// After a restart mid-shift, the shift so far comes back from the cache: the tracker does not start from zero.
#[test]
fn a_restart_mid_shift_keeps_the_shift_so_far() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.sqlite");
    let calendar = SimConfig::demo(9, START_MS).calendar;
    let hour_later = START_MS + 3_600_000;
    record_sim(&path, 9, (hour_later, 10_000), &[], |_| {});
    let now = hour_later + 5_000;
    let mut harness = app_on_cache(path, calendar, now);
    frames_until(&mut harness, |h| h.state().live().oee.machine("PlantA/Line1/Filler", now).is_some());
    let seeded = harness.state().live().oee.machine("PlantA/Line1/Filler", now);
    let filler = seeded.expect("the filler's shift so far, from the cache").totals;
    assert!(filler.planned_ms + filler.planned_stop_ms >= 55 * 60_000, "an hour of the shift: {filler:?}");
    assert!(filler.total > 500, "the hour's parts: {}", filler.total);
    assert_eq!(filler.no_data_ms, 3 * 3_600_000, "06:00 to 09:00 local had no data");
}

/// A finished shift picked in the Plant view is recomputed from the cache and shown as a review, with the same
/// site OEE as the report.
#[test]
fn a_past_shift_is_reviewed_from_the_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.sqlite");
    let calendar = SimConfig::demo(4, START_MS).calendar;
    let shift_a = calendar.shift_at(START_MS).expect("shift A");
    let later = shift_a.end_ms + 30 * 60_000;
    record_sim(&path, 4, (later, 10_000), &[], |_| {});
    let conn = open_reader(&path).expect("reader");
    let rep = report::build(&conn, &AssetModel::default(), &calendar, "Plant A", shift_a.start_ms, shift_a.end_ms)
        .expect("report");
    let site_oee = rep.figures.oee.expect("site OEE");

    let mut harness = app_on_cache(path, calendar, later);
    harness.run_steps(2);
    harness.get_by_label("Plant").click();
    harness.run_steps(2);
    harness.get_by(|n| n.value().is_some_and(|v| v.starts_with("Now · Shift B"))).click();
    harness.run_steps(2);
    harness.get_by_label("Fri 20 Nov · Shift A · 06:00–14:00").click();
    frames_until(&mut harness, |h| h.query_by_label_contains("recomputed from the history cache").is_some());
    harness.get_by_label("REVIEW");
    harness.get_by_label(&format!("OEE {:.1} %", site_oee * 100.0));
    harness.get_by_label("Machine Filler").click();
    harness.run_steps(3);
    harness.get_by_label("Six big losses");
    harness.get_by_label("Back to live").click();
    harness.run_steps(2);
    assert!(harness.query_by_label("REVIEW").is_none(), "back to the live shift");
}
