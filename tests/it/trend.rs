//! The trend view on a real history cache (written by the real store writer), with a fixed clock, stepped by hand.
//! Results come from the reader thread, so the tests step until a condition holds, with a bound.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use tokio::sync::mpsc;
use watchfloor::app::{AppParts, WatchfloorApp};
use watchfloor::clock::ManualClock;
use watchfloor::feeds::EventBus;
use watchfloor::model::{FeedEvent, FeedEventBody};
use watchfloor::model::{Sample, SignalId, SignalMeta, Value, ValueKind};
use watchfloor::store::{History, Retention, Store, StoreOptions};

use crate::START_MS;

const TEMPERATURE: &str = "PlantA/Line1/Filler/Temperature";
const COUNT: &str = "PlantA/Line1/Filler/Count/Total";
const STATE: &str = "PlantA/Line1/Filler/State";
const AGV_SPEED: &str = "PlantA/Fleet/AGV-01/Speed";
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
/// The AGV is silent (a stale gateway) from 30 to 20 minutes before "now".
const GAP: (i64, i64) = (START_MS - 30 * MINUTE_MS, START_MS - 20 * MINUTE_MS);

fn event(received_ms: i64, body: FeedEventBody) -> Arc<FeedEvent> {
    Arc::new(FeedEvent::new(Arc::from("demo"), received_ms, body))
}

fn meta(id: &str, kind: ValueKind, unit: Option<&str>) -> SignalMeta {
    SignalMeta { id: SignalId::from(id), kind, unit: unit.map(Arc::from) }
}

/// Two hours of a filler and an AGV before [`START_MS`], written through the real store writer.
fn write_cache(path: &std::path::Path) {
    let (tx, rx) = mpsc::channel(64);
    let mut options = StoreOptions::new(path);
    // Retention runs on the wall clock; keep everything so the fixed test time never ages out.
    options.retention = Retention { raw_days: 0, rollup_1m_days: 0, rollup_1h_days: 0, max_size_bytes: 0 };
    let store = Store::start(options, rx).expect("writer thread");
    let send = |e: Arc<FeedEvent>| tx.blocking_send(e).expect("writer alive");
    let start = START_MS - 2 * HOUR_MS;
    send(event(
        start,
        FeedEventBody::Birth(vec![
            meta(TEMPERATURE, ValueKind::Float, Some("°C")),
            meta(COUNT, ValueKind::Int, Some("parts")),
            meta(STATE, ValueKind::String, None),
            meta(AGV_SPEED, ValueKind::Float, Some("km/h")),
        ]),
    ));
    let mut stale_sent = false;
    for chunk in 0..24 {
        let (from, to) = (start + chunk * 5 * MINUTE_MS, start + (chunk + 1) * 5 * MINUTE_MS);
        let mut samples = Vec::new();
        for ts in (from..to).step_by(2_000) {
            let phase = (ts - start) as f64 / 600_000.0;
            samples.push(Sample::new(TEMPERATURE.into(), ts, Value::F64(60.0 + 5.0 * phase.sin())));
            if ts % 10_000 == 0 {
                samples.push(Sample::new(COUNT.into(), ts, Value::I64((ts - start) / 2_500)));
            }
            if ts % 5_000 < 2_000 && !(GAP.0..GAP.1).contains(&ts) {
                samples.push(Sample::new(AGV_SPEED.into(), ts, Value::F64(4.0 + phase.cos())));
            }
        }
        if from >= GAP.0 && !stale_sent {
            send(event(GAP.0, FeedEventBody::Stale { prefix: "PlantA/Fleet/".to_owned() }));
            stale_sent = true;
        }
        send(event(to, FeedEventBody::Samples(samples)));
    }
    send(event(start, FeedEventBody::Samples(vec![Sample::new(STATE.into(), start, Value::str("running"))])));
    store.flush_blocking().expect("flushed");
    drop(tx);
    store.finish();
}

struct Rig {
    harness: Harness<'static, WatchfloorApp>,
    /// A second handle on the app's reader, to hold it busy.
    history: Option<History>,
    bus: EventBus,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn new() -> Self {
        Self::build(true)
    }

    fn build(with_history: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path: PathBuf = dir.path().join("history.sqlite");
        let history = with_history.then(|| {
            write_cache(&path);
            History::start(path).expect("reader thread")
        });
        let mut builder = EventBus::builder();
        let inbox = builder.live(256);
        let bus = builder.build();
        let parts = AppParts {
            history: history.clone(),
            ..crate::app_parts(inbox, bus.clone(), Arc::new(ManualClock::new(START_MS)))
        };
        let mut harness =
            Harness::builder().with_size([1600.0, 1000.0]).build_eframe(move |cc| WatchfloorApp::new(cc, parts));
        harness.run_steps(2);
        harness.get_by_label("Trends").click();
        harness.run_steps(2);
        let mut rig = Self { harness, history, bus, _dir: dir };
        if with_history {
            rig.until("the signal tree", |h| h.query_by_label("PlantA").is_some());
        }
        rig
    }

    /// Steps (with a short pause for the reader thread) until `done`, at most 1,000 times (a loaded machine is slow).
    fn until(&mut self, what: &str, done: impl Fn(&Harness<'static, WatchfloorApp>) -> bool) {
        for _ in 0..1_000 {
            if done(&self.harness) {
                return;
            }
            self.harness.run_steps(1);
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("never saw {what}");
    }

    fn search(&mut self, text: &str) {
        self.type_into("Search signals", text);
        self.harness.run_steps(1);
    }

    fn type_into(&mut self, label: &str, text: &str) {
        self.harness.get_by_label(label).click();
        self.harness.run_steps(1);
        self.harness.key_combination_modifiers(egui::Modifiers::COMMAND, &[egui::Key::A]);
        self.harness.get_by_label(label).type_text(text);
        self.harness.run_steps(1);
    }

    /// Searches for `search`, clicks the leaf `leaf`, and waits for its data.
    fn add_pen(&mut self, search: &str, leaf: &str) {
        self.search(search);
        self.harness.get_by_label(leaf).click();
        self.harness.run_steps(1);
        self.until("the pen's data", |h| h.query_by_label_contains("buckets · ").is_some());
        // The pen table sizes its columns to the new readout on the next frames.
        self.harness.run_steps(2);
    }

    fn pens(&self) -> Vec<String> {
        self.harness.state().settings().trend.pens.iter().map(|p| p.signal.clone()).collect()
    }
}

#[test]
fn searching_filters_the_signal_tree() {
    let mut rig = Rig::new();
    let h = &rig.harness;
    assert_eq!(h.query_all_by_label("Fleet").count(), 2, "the view button and the branch under the site");
    assert!(h.query_by_label("Temperature").is_none(), "branches below the site start closed");
    h.get_by_label("Pick signals on the left to trend them");

    rig.search("filler temp");
    // Units come with the cache's signal list, which may land after the restored live values drew the tree.
    rig.until("the unit from the cache", |h| h.query_by_label("°C").is_some());
    let h = &rig.harness;
    h.get_by_label("Temperature");
    assert_eq!(h.query_all_by_label("Fleet").count(), 1, "only the view button: the fleet has no match");
    assert!(h.query_by_label("Total").is_none(), "every word must match");

    rig.search("zzz");
    rig.harness.get_by_label_contains("No signal matches");
}

#[test]
fn clicking_a_signal_adds_a_pen_with_its_unit_and_data() {
    let mut rig = Rig::new();
    rig.add_pen("filler temp", "Temperature");
    assert_eq!(rig.pens(), vec![TEMPERATURE.to_owned()]);
    let h = &rig.harness;
    h.get_by_label(TEMPERATURE);
    assert_eq!(h.query_all_by_label("°C").count(), 2, "in the tree and in the pen table");
    // The default hour at about one bucket per 2 px is read from raw samples.
    h.get_by_label_contains("buckets · raw");
    assert!(h.query_by_label("Pick signals on the left to trend them").is_none());
    // The readout shows the latest bucket until the pointer is over the plot.
    h.get_by_label("Latest");

    // A text signal cannot be trended: its button is disabled.
    rig.search("filler state");
    rig.harness.get_by_label("State").click();
    rig.harness.run_steps(2);
    assert_eq!(rig.pens().len(), 1);
}

#[test]
fn a_pending_query_shows_a_spinner_until_its_data_arrives() {
    let mut rig = Rig::new();
    rig.search("filler temp");
    // Hold the reader busy, so the pen's query waits behind this job.
    let (release, gate) = std::sync::mpsc::sync_channel::<()>(1);
    let history = rig.history.clone().expect("a cache");
    let mut blocker = history.run(move |_| Ok(gate.recv_timeout(Duration::from_secs(20)).is_ok())).expect("queued");

    rig.harness.get_by_label("Temperature").click();
    rig.harness.run_steps(3);
    rig.harness.get_by_label("Loading history");
    rig.harness.get_by_label("Loading…");
    assert!(rig.harness.query_by_label_contains("buckets · ").is_none());

    release.send(()).expect("the job waits");
    rig.until("the data", |h| h.query_by_label_contains("buckets · raw").is_some());
    assert_eq!(blocker.poll().map(|r| r.ok()), Some(Some(true)), "the job was released, not timed out");
    rig.until("the spinner to go", |h| h.query_by_label("Loading history").is_none());
}

#[test]
fn range_presets_and_a_custom_range_change_the_window() {
    let mut rig = Rig::new();
    rig.add_pen("filler temp", "Temperature");
    let trend = &rig.harness.state().settings().trend;
    assert_eq!((trend.span_ms, trend.live), (HOUR_MS, true));
    rig.harness.get_by_label_contains("Showing 1 h: Fri 20 Nov 08:00 – 09:00 EET, following live");

    rig.harness.get_by_label("8 h").click();
    rig.harness.run_steps(1);
    let trend = &rig.harness.state().settings().trend;
    assert_eq!((trend.span_ms, trend.live), (8 * HOUR_MS, true));
    // 8 h needs buckets of a minute at least: the minute rollups answer.
    rig.until("the minute tier", |h| h.query_by_label_contains("buckets · 1 min").is_some());

    rig.harness.get_by_label("15 min").click();
    rig.harness.run_steps(1);
    assert_eq!(rig.harness.state().settings().trend.span_ms, 15 * MINUTE_MS);
    rig.until("raw data again", |h| h.query_by_label_contains("buckets · raw").is_some());

    rig.type_into("From", "2026-11-20 07:30");
    rig.type_into("To", "2026-11-20 08:00");
    rig.harness.get_by_label("Show range").click();
    rig.harness.run_steps(1);
    let trend = &rig.harness.state().settings().trend;
    assert_eq!((trend.span_ms, trend.end_ms, trend.live), (30 * MINUTE_MS, START_MS - HOUR_MS, false));
    rig.harness.get_by_label_contains("Showing 30 min: Fri 20 Nov 07:30:00 – 08:00:00 EET");

    rig.type_into("From", "yesterday-ish");
    rig.harness.get_by_label("Show range").click();
    rig.harness.run_steps(1);
    rig.harness.get_by_label_contains("Cannot read \"yesterday-ish\" as a site time");
    assert_eq!(rig.harness.state().settings().trend.span_ms, 30 * MINUTE_MS, "the window is kept");

    rig.harness.get_by_label("Live").click();
    rig.harness.run_steps(1);
    let trend = &rig.harness.state().settings().trend;
    assert_eq!((trend.span_ms, trend.live), (30 * MINUTE_MS, true));
}

#[test]
fn removing_a_pen_brings_back_the_hint() {
    let mut rig = Rig::new();
    rig.add_pen("filler temp", "Temperature");
    rig.harness.get_by_label(&format!("Remove {TEMPERATURE}")).click();
    rig.harness.run_steps(2);
    assert!(rig.pens().is_empty());
    assert!(rig.harness.query_by_label(TEMPERATURE).is_none());
    rig.harness.get_by_label("Pick signals on the left to trend them");
}

#[test]
fn gaps_are_reported_and_the_readout_follows_the_pointer() {
    let mut rig = Rig::new();
    rig.add_pen("agv speed", "Speed");
    rig.harness.get_by_label_contains("buckets · raw · 1 gap");
    assert_eq!(rig.harness.query_all_by_label("km/h").count(), 2, "in the tree and in the pen table");

    // The plot spans 08:00 to 09:00; the gap is 08:30 to 08:40, so a little right of the middle.
    let plot = rig.harness.get_by_label("Trend plot").rect();
    let at = |fraction: f32| egui::pos2(plot.left() + plot.width() * fraction, plot.center().y);
    rig.harness.hover_at(at(0.58));
    rig.harness.run_steps(2);
    rig.harness.get_by_label_contains("At 08:3");
    rig.harness.get_by_label("no data");

    rig.harness.get_by_label("Interpolate gaps").click();
    rig.harness.run_steps(2);
    assert!(rig.harness.state().settings().trend.interpolate);
    // The click moved the pointer to the checkbox; back over the gap.
    rig.harness.hover_at(at(0.58));
    rig.harness.run_steps(2);
    rig.harness.get_by_label_contains("interpolated ");

    rig.harness.hover_at(at(0.25));
    rig.harness.run_steps(2);
    rig.harness.get_by_label_contains("At 08:1");
    assert!(rig.harness.query_by_label("no data").is_none());
}

#[test]
fn a_signal_only_seen_live_says_it_is_not_in_the_cache() {
    let mut rig = Rig::new();
    let capper = "PlantA/Line2/Capper/Temperature";
    let body = FeedEventBody::Birth(vec![meta(capper, ValueKind::Float, Some("°C"))]);
    assert!(rig.bus.publish_now(FeedEvent::new(Arc::from("demo"), START_MS, body)));
    let sample = Sample::new(capper.into(), START_MS, Value::F64(40.0));
    assert!(rig.bus.publish_now(FeedEvent::new(Arc::from("demo"), START_MS, FeedEventBody::Samples(vec![sample]))));
    rig.harness.run_steps(2);
    rig.search("capper");
    rig.harness.get_by_label("Temperature").click();
    rig.until("the error", |h| h.query_by_label("Not in the history cache (yet)").is_some());
    assert_eq!(rig.pens(), vec![capper.to_owned()]);
}

#[test]
fn without_a_history_cache_the_view_says_so() {
    let rig = Rig::build(false);
    rig.harness.get_by_label("No history cache");
    assert!(rig.harness.query_by_label("Search signals").is_none());
}

#[test]
fn panning_leaves_live_and_queries_the_new_range_once_it_settles() {
    let mut rig = Rig::new();
    rig.add_pen("filler temp", "Temperature");
    let first_from = |h: &Harness<'static, WatchfloorApp>| {
        h.state().settings().trend.pens[0].series().map(|s| s.from_ms).expect("data shown")
    };
    let before = first_from(&rig.harness);
    let centre = rig.harness.get_by_label("Trend plot").rect().center();
    rig.harness.hover_at(centre);
    rig.harness.drag_at(centre);
    rig.harness.run_steps(1);
    // Dragging to the right shows earlier data; while the drag goes on, nothing is asked of the reader.
    for dx in 1..=5 {
        rig.harness.hover_at(centre + egui::vec2(40.0 * dx as f32, 0.0));
        rig.harness.run_steps(1);
        // Time for the reader to answer, had anything been asked.
        std::thread::sleep(Duration::from_millis(20));
        rig.harness.run_steps(1);
        assert!(!rig.harness.state().settings().trend.live, "a pan leaves live follow");
        assert_eq!(first_from(&rig.harness), before, "no query while panning");
    }
    rig.harness.drop_at(centre + egui::vec2(200.0, 0.0));
    rig.harness.run_steps(1);
    let trend = &rig.harness.state().settings().trend;
    assert_eq!(trend.span_ms, HOUR_MS);
    assert!(trend.end_ms < START_MS - 5 * MINUTE_MS, "moved back by about 10 min: {}", START_MS - trend.end_ms);
    rig.until("the earlier range's data", |h| first_from(h) < before - 5 * MINUTE_MS);

    // The wheel zooms the time axis around the pointer.
    rig.harness.hover_at(centre);
    rig.harness.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, 200.0),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Unknown,
        modifiers: egui::Modifiers::NONE,
    });
    rig.harness.run_steps(6);
    let span = rig.harness.state().settings().trend.span_ms;
    assert!(span < 50 * MINUTE_MS, "zoomed in: {span}");

    // A double click goes back to following live (both clicks in one frame: kittest steps 0.25 s per event).
    for pressed in [true, false, true, false] {
        let button = egui::Event::PointerButton {
            pos: centre,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        };
        rig.harness.input_mut().events.push(button);
    }
    rig.harness.run_steps(2);
    assert!(rig.harness.state().settings().trend.live);
}

/// In review the chart shows the reviewed range with the cursor, and a click on it moves the cursor there.
#[test]
fn in_review_the_chart_follows_the_reviewed_range_and_a_click_moves_the_cursor() {
    let mut rig = Rig::new();
    rig.add_pen("filler temp", "Temperature");
    let range = (START_MS - 90 * MINUTE_MS, START_MS - 30 * MINUTE_MS);
    rig.harness.state_mut().start_review(range, range.0 + 10 * MINUTE_MS, "test".into());
    let shown = |h: &Harness<'static, WatchfloorApp>| h.state().settings().trend.pens[0].series().map(|s| s.from_ms);
    rig.until("the reviewed range charted", |h| shown(h) == Some(range.0));
    assert!(rig.harness.state().settings().trend.live, "following the reviewed range");
    let plot = rig.harness.get_by_label("Trend plot").rect();
    rig.harness.hover_at(plot.center());
    rig.harness.run_steps(1);
    rig.harness.get_by_label("Trend plot").click();
    rig.harness.run_steps(2);
    let at = rig.harness.state().review().map(|r| r.at_ms).expect("in review");
    let middle = range.0 + (range.1 - range.0) / 2;
    // The plot's centre, give or take the axes' share of its width.
    assert!((at - middle).abs() < 8 * MINUTE_MS, "cursor at {} min, middle {} min", (at - range.0) / 60_000, 30);
    // Back to live: the chart follows the present again.
    // (The review bar's button is clicked in the review tests.)
    rig.harness.state_mut().back_to_live();
    rig.harness.run_steps(2);
    assert!(rig.harness.state().review().is_none(), "back to live");
    let span = rig.harness.state().settings().trend.span_ms;
    rig.until("the live window charted", |h| shown(h) == Some(START_MS - span));
}
