//! Review mode: the site rebuilt from the cache at an instant equals what the live view showed at that instant,
//! and the window's review bar moves through the timeline and back to live.

use std::sync::Arc;

use tokio::sync::mpsc;
use watchfloor::analytics::MachineOee;
use watchfloor::live::{LiveSettings, LiveState};
use watchfloor::model::{FeedEvent, FeedEventBody};
use watchfloor::sim::{Fault, SimConfig, Simulator};
use watchfloor::store::{Store, StoreOptions, open_reader};
use watchfloor::ui::panels::review::{Replays, Review, load_frame};

use crate::START_MS;

type Snapshot = (Vec<(String, Option<String>, Option<i64>)>, Vec<(String, Option<f64>, bool)>);

/// Machines' states and counts, vehicles' batteries and whether they are charging (positions are compared apart:
/// in review a vehicle between two reports is shown interpolated, the live view shows its last report).
fn snapshot(live: &LiveState) -> Snapshot {
    let mut machines: Vec<_> =
        live.machines().map(|m| (m.id.to_string(), m.state.map(|s| s.as_str().to_owned()), m.total)).collect();
    machines.sort();
    let mut vehicles: Vec<_> = live.vehicles().map(|v| (v.id.to_string(), v.soc_percent, v.charging)).collect();
    vehicles.sort_by(|a, b| a.0.cmp(&b.0));
    (machines, vehicles)
}

fn positions(live: &LiveState) -> Vec<(String, f64, f64)> {
    live.vehicles().filter_map(|v| v.fix.map(|f| (v.id.to_string(), f.lat_deg, f.lon_deg))).collect()
}

/// Records 30 minutes of the simulator (fixed seed) while a live view follows it; the review at minute 20 shows
/// every machine's state and count and every vehicle's battery and position as the live view did then.
#[test]
fn the_site_replayed_at_an_instant_equals_the_live_view_at_that_instant() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("review.sqlite");
    let settings = LiveSettings::default();
    let mut live = LiveState::new(settings.clone());
    let snap_at = START_MS + 20 * 60_000;
    let mut seen = None;
    let mut oee_seen: Vec<(String, Option<MachineOee>)> = Vec::new();
    let mut rates_seen: Vec<(String, Option<f64>)> = Vec::new();
    {
        let (tx, rx) = mpsc::channel(64);
        let store = Store::start(StoreOptions::new(&path), rx).expect("writer");
        let mut sim = Simulator::new(SimConfig { lines: 2, vehicles: 6, ..SimConfig::demo(21, START_MS) });
        let gw: Arc<str> = Arc::from("demo");
        let (meta, values) = sim.birth();
        let send = |live: &mut LiveState, event: FeedEvent| {
            live.apply(&event);
            tx.blocking_send(Arc::new(event)).expect("send");
        };
        send(&mut live, FeedEvent::new(gw.clone(), START_MS, FeedEventBody::Birth(meta)));
        send(&mut live, FeedEvent::new(gw.clone(), START_MS, FeedEventBody::Samples(values)));
        let mut t = START_MS;
        while t < START_MS + 30 * 60_000 {
            if t == START_MS + 5 * 60_000 {
                sim.inject(&Fault::StopMachine { machine: "Filler".into(), secs: 300, reason: "jam".into() })
                    .expect("Filler");
            }
            t += 1_000;
            if t == snap_at {
                // OEE up to the instant: what the live tracker had read then.
                oee_seen = live.oee.machines().map(|m| (m.to_owned(), live.oee.machine(m, snap_at))).collect();
            }
            let mut batch = Vec::new();
            sim.step_to(t, &mut batch);
            send(&mut live, FeedEvent::new(gw.clone(), t, FeedEventBody::Samples(batch)));
            if t == snap_at {
                seen = Some((snapshot(&live), positions(&live)));
                rates_seen = live.machines().map(|m| (m.id.to_string(), m.rate_per_min(snap_at))).collect();
            }
        }
        drop(tx);
        store.finish();
    }
    let (seen, last_fixes) = seen.expect("snapshot taken");
    assert!(seen.0.len() >= 8 && seen.1.len() == 6, "{seen:?}");
    let conn = open_reader(&path).expect("reader");
    let replays = Replays::new(START_MS + 30 * 60_000);
    let frame = load_frame(&conn, &settings, &replays, snap_at).expect("frame");
    let mut review = Review::new(settings.clone(), (START_MS, START_MS + 30 * 60_000), snap_at, "test".into());
    review.show(frame);
    assert_eq!(snapshot(&review.live), seen);
    // Parts per minute: the live view's count over the last minute; review's from the counter a minute before.
    let mut compared = 0;
    for (machine, live_rate) in &rates_seen {
        let replayed = review.live.machines().find(|m| *m.id == **machine).and_then(|m| m.rate_per_min(snap_at));
        if let (Some(live_rate), Some(replayed)) = (live_rate, replayed) {
            assert!(
                (live_rate - replayed).abs() <= 1.0_f64.max(0.1 * live_rate),
                "{machine}: {replayed} vs {live_rate}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 6, "parts per minute shown in review: {compared} machines");
    // The gauges: every machine's OEE up to the instant, times and counts, as the live tracker had it.
    assert!(oee_seen.len() >= 8, "{oee_seen:?}");
    for (machine, live_oee) in &oee_seen {
        let replayed = review.live.oee.machine(machine, snap_at);
        assert_eq!(replayed.map(|m| m.totals), live_oee.as_ref().map(|m| m.totals), "{machine}");
    }
    // Positions: where the live view had them, or a few metres on towards the next report.
    for (id, lat, lon) in positions(&review.live) {
        let (_, lat0, lon0) = last_fixes.iter().find(|(v, _, _)| *v == id).expect("seen live");
        assert!((lat - lat0).abs() < 5e-4 && (lon - lon0).abs() < 5e-4, "{id}: {lat},{lon} vs {lat0},{lon0}");
    }
    // Between two fixes a vehicle is where the line between them says, not at the older one.
    let between = load_frame(&conn, &settings, &replays, snap_at + 500).expect("frame");
    let lat = between
        .values
        .iter()
        .find(|(_, s)| s.signal.as_str().ends_with("AGV-01/Position/Latitude"))
        .map(|(_, s)| s.ts_ms);
    assert_eq!(lat, Some(snap_at + 500), "interpolated to the instant");
}

/// The review bar: REVIEW and the time, stepping to events, and back to live.
#[test]
#[expect(clippy::too_many_lines, reason = "one operator's walk through the review bar, step after step")]
fn the_review_bar_steps_through_events_and_goes_back_to_live() {
    use egui::accesskit::Role;
    use egui_kittest::kittest::{Queryable as _, by};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bar.sqlite");
    let stop = Fault::StopMachine { machine: "Filler".into(), secs: 120, reason: "jam".into() };
    let sim = SimConfig { lines: 1, vehicles: 2, ..SimConfig::demo(4, START_MS) };
    crate::record_sim(&path, sim, 10, &[(2, stop)], Vec::new());
    let mut builder = watchfloor::feeds::EventBus::builder();
    let inbox = builder.live(16);
    let bus = builder.build();
    // The demo's site, calendar, assets and zones, as `watchfloor report` uses them with no --config.
    let demo = watchfloor::config::Config::demo(watchfloor::config::SimGateway::default());
    let reports = tempfile::tempdir().expect("temp dir");
    let recordings = tempfile::tempdir().expect("temp dir");
    let parts = watchfloor::app::AppParts {
        history: Some(watchfloor::store::History::start(path.clone()).expect("reader")),
        review: Some((START_MS, START_MS + 10 * 60_000, "Cache bar.sqlite".into())),
        reports_dir: Some(reports.path().to_owned()),
        recordings: Some((recordings.path().join("recordings"), watchfloor::store::export::RecordingInfo::default())),
        workstation: None,
        kiosk: None,
        annunciator: None,
        browsing: None,
        site_name: demo.site.name.clone(),
        live_settings: LiveSettings {
            calendar: demo.calendar.clone(),
            assets: Arc::new(demo.assets.clone()),
            geofences: Arc::new(demo.geofences().0),
            stale_after_ms: demo.stale_after_ms,
            ..LiveSettings::default()
        },
        ..crate::app_parts(inbox, bus, Arc::new(watchfloor::clock::ManualClock::new(START_MS + 3_600_000)))
    };
    let mut harness = egui_kittest::Harness::builder()
        .with_size([1600.0, 1000.0])
        .build_eframe(move |cc| watchfloor::app::WatchfloorApp::new(cc, parts));
    let wait = |harness: &mut egui_kittest::Harness<'_, watchfloor::app::WatchfloorApp>,
                done: &dyn Fn(&watchfloor::app::WatchfloorApp) -> bool| {
        for _ in 0..400 {
            harness.run_steps(1);
            if done(harness.state()) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("never happened");
    };
    wait(&mut harness, &|app| app.review().is_some_and(|r| r.shown_ms == Some(START_MS)));
    harness.get_by_label_contains("REVIEW — ");
    // The filler's stop is an event on the timeline: Next event goes to its start.
    wait(&mut harness, &|app| app.review().is_some_and(|r| r.shown_ms.is_some()));
    for _ in 0..50 {
        harness.get_by_label("Next event").click();
        harness.run_steps(2);
        let state = harness.state().review().map(|r| r.at_ms);
        if state.is_some_and(|t| t > START_MS) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let at = harness.state().review().map(|r| r.at_ms).expect("review");
    assert!((START_MS + 2 * 60_000..START_MS + 3 * 60_000).contains(&at), "the stop's start: {}", at - START_MS);
    wait(&mut harness, &|app| app.review().is_some_and(|r| r.shown_ms == Some(at)));
    let down =
        harness.state().review().map(|r| r.live.machines().filter(|m| m.state.is_some_and(|s| s.is_down())).count());
    assert_eq!(down, Some(1), "the filler is down at its stop");
    // The shift report from the window has the numbers `watchfloor report` prints for the same range.
    harness.get_by_label("Shift report").click();
    wait(&mut harness, &|app| app.review().is_some_and(|r| r.report_written.is_some()));
    let written = harness.state().review().and_then(|r| r.report_written.clone()).expect("written").expect("ok");
    let html = std::fs::read_to_string(&written).expect("html");
    assert!(html.contains("<svg") && html.contains("Report: Cache bar.sqlite"), "{html}");
    let gui: serde_json::Value =
        serde_json::from_slice(&std::fs::read(written.with_extension("json")).expect("json")).expect("JSON");
    let rfc = |ms: i64| jiff::Timestamp::from_millisecond(ms).expect("time").to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(["report", "--db", path.to_str().expect("utf-8")])
        .args(["--from", &rfc(START_MS), "--to", &rfc(START_MS + 10 * 60_000)])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(gui["machines"].as_array().is_some_and(|m| m.len() == 4), "{gui}");
    assert_eq!(gui, cli, "the window's report equals the command's");
    // And its CSV beside it, as `report --format csv` prints it.
    let stem = written.file_stem().expect("stem").to_string_lossy().into_owned();
    let gui_csv = std::fs::read_to_string(written.with_file_name(format!("{stem}-oee.csv"))).expect("OEE CSV");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(["report", "--db", path.to_str().expect("utf-8"), "--format", "csv"])
        .args(["--from", &rfc(START_MS), "--to", &rfc(START_MS + 10 * 60_000)])
        .output()
        .expect("runs");
    assert_eq!(gui_csv, String::from_utf8_lossy(&out.stdout), "the window's CSV equals the command's");
    for section in ["vehicles", "alarms"] {
        assert!(written.with_file_name(format!("{stem}-{section}.csv")).is_file(), "{section} CSV written");
    }
    // And the workbook, which an independent reader opens with the machines in it.
    {
        use calamine::Reader as _;
        let mut book: calamine::Xlsx<_> =
            calamine::open_workbook(written.with_extension("xlsx")).expect("the window's workbook");
        let oee = book.worksheet_range("OEE").expect("its OEE sheet");
        assert_eq!(
            oee.rows().filter(|r| r.first().and_then(calamine::DataType::get_string) == Some("machine")).count(),
            4
        );
    }
    // Export recording: a .wfrec of the reviewed range, written with progress on its own thread.
    harness.get_by_label("Export recording").click();
    wait(&mut harness, &|app| app.review().is_some_and(|r| r.export_written.is_some()));
    let (file, summary) = harness.state().review().and_then(|r| r.export_written.clone()).expect("done").expect("ok");
    assert!(file.starts_with(recordings.path()) && file.extension().is_some_and(|e| e == "wfrec"), "{file:?}");
    let rec = open_reader(&file).expect("a cache");
    let info = watchfloor::store::export::recording_info(&rec).expect("read").expect("a recording");
    assert_eq!((info.from_ms, info.to_ms), (START_MS, START_MS + 10 * 60_000));
    let source = open_reader(&path).expect("source");
    let in_range: i64 = source
        .query_row(
            "SELECT count(*) FROM sample WHERE ts_ms >= ?1 AND ts_ms < ?2",
            [START_MS, START_MS + 600_000],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(i64::try_from(summary.samples).expect("count"), in_range, "every sample in range");
    // Another range: a custom one in site time, then a shift from the list.
    let tz = demo.site.timezone.clone();
    let local = |ms: i64| watchfloor::ui::fmt_local(ms, &tz, "%Y-%m-%d %H:%M");
    harness.get(by().role(Role::ComboBox).label("Range")).click_accesskit();
    harness.run_steps(2);
    harness.get_by_label("Custom range…").click();
    harness.run_steps(2);
    for (field, ms) in [("From", START_MS + 2 * 60_000), ("To", START_MS + 6 * 60_000)] {
        harness.get_by_label(field).click();
        harness.run_steps(1);
        harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
        harness.get_by_label(field).type_text(&local(ms));
        harness.run_steps(1);
    }
    harness.get_by_label("Show").click();
    harness.run_steps(2);
    let range = harness.state().review().map(|r| (r.from_ms, r.to_ms));
    assert_eq!(range, Some((START_MS + 2 * 60_000, START_MS + 6 * 60_000)));
    wait(&mut harness, &|app| app.review().is_some_and(|r| r.shown_ms == Some(START_MS + 2 * 60_000)));
    let shift = demo.calendar.shift_at(START_MS).expect("a shift");
    harness.get(by().role(Role::ComboBox).label("Range")).click_accesskit();
    harness.run_steps(2);
    harness.get_by_label_contains(&format!("Shift {} · ", shift.name)).click();
    harness.run_steps(2);
    let review = harness.state().review().expect("review");
    assert_eq!(review.from_ms, shift.start_ms);
    assert!(review.title.starts_with(&format!("Shift {}", shift.name)), "{}", review.title);
    // The bar's layout can shift by a frame while the new range's reads land (a click at the button's last place
    // then misses it): click again until it takes, as with Next event above.
    for _ in 0..20 {
        if harness.state().review().is_none() {
            break;
        }
        harness.get_by_label("Back to live").click();
        harness.run_steps(2);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(harness.state().review().is_none());
    assert!(harness.query_by_label_contains("REVIEW — ").is_none());
    // A file dropped onto the window opens in review, through its own reader.
    let ctx = harness.ctx.clone();
    harness.state_mut().open_file(path, &ctx);
    wait(&mut harness, &|app| app.review().is_some_and(|r| r.shown_ms.is_some()));
    assert_eq!(harness.state().review().map(|r| r.title.as_str()), Some("Cache bar.sqlite"));
}

/// A seek reads a shift's OEE from checkpoints read once; at any instant (on a checkpoint, between two, inside a
/// minute) it is what reading the cache from the shift's start gives.
#[test]
fn a_shift_replay_at_any_instant_equals_the_shift_read_from_its_start() {
    use watchfloor::analytics::Period;
    use watchfloor::analytics::history::{ShiftReplay, seed};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("replay.sqlite");
    let stop = Fault::StopMachine { machine: "Filler".into(), secs: 200, reason: "jam".into() };
    let reset = Fault::ResetCounters { machine: "Capper".into() };
    let sim = SimConfig { lines: 2, vehicles: 1, ..SimConfig::demo(9, START_MS) };
    crate::record_sim(&path, sim, 40, &[(5, stop), (17, reset)], Vec::new());
    let conn = open_reader(&path).expect("reader");
    let settings = LiveSettings::default();
    let period = Period::at(&settings.calendar, START_MS + 60_000);
    let replay = ShiftReplay::load(&conn, &settings.assets, &settings.calendar, &period, START_MS + 40 * 60_000)
        .expect("replay");
    let mut compared = 0;
    for offset_ms in
        [0, 1_000, 59_999, 7 * 60_000 + 30_500, 15 * 60_000, 15 * 60_000 + 1, 17 * 60_000 + 20_000, 39 * 60_000]
    {
        let at = START_MS + offset_ms;
        let fast = replay.at(&conn, at).expect("replay at");
        let slow = seed(&conn, &settings.assets, &settings.calendar, &period, at).expect("seed");
        assert_eq!(fast.keys().collect::<Vec<_>>(), slow.keys().collect::<Vec<_>>(), "machines at +{offset_ms} ms");
        for (machine, acc) in &slow {
            assert_eq!(fast[machine].read(at), acc.read(at), "{machine} at +{offset_ms} ms");
            compared += 1;
        }
    }
    assert!(compared >= 8 * 8, "{compared} readings compared");
    let filler = replay.at(&conn, START_MS + 39 * 60_000).expect("replay");
    let filler = filler.iter().find(|(m, _)| m.ends_with("Filler")).expect("a filler").1;
    assert!(filler.read(START_MS + 39 * 60_000).totals.unplanned_ms >= 200_000, "the stop is in the replay");
}

/// A report tells its progress step by step (the machines, then the fleet and the alarms) and stops when asked.
#[test]
fn a_report_tells_its_progress_and_stops_when_asked() {
    use watchfloor::analytics::{fleet::FleetParams, report};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("progress.sqlite");
    crate::record_sim(&path, SimConfig { lines: 1, vehicles: 2, ..SimConfig::demo(3, START_MS) }, 5, &[], Vec::new());
    let conn = open_reader(&path).expect("reader");
    let settings = LiveSettings::default();
    let fleet = FleetParams { geofences: Default::default(), stale_after_ms: 60_000 };
    let range = (START_MS, START_MS + 5 * 60_000);
    let (assets, calendar) = (&settings.assets, &settings.calendar);
    let mut seen = Vec::new();
    let whole = report::full(&conn, assets, calendar, "Plant", &fleet, range, &mut |done, of| {
        seen.push((done, of));
        true
    })
    .expect("read")
    .expect("not stopped");
    assert_eq!(whole.machines.len(), 4);
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6], "{seen:?}");
    assert!(seen.iter().all(|s| s.1 == 6), "four machines, the fleet, the alarms: {seen:?}");
    let stopped = report::full(&conn, assets, calendar, "Plant", &fleet, range, &mut |done, _| done < 2).expect("read");
    assert!(stopped.is_none(), "stopped after the second machine");
}
