//! The app on the simulator with a fixed clock, stepped by hand, queried by label.

use std::sync::Arc;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use watchfloor::app::{AppParts, View, WatchfloorApp};
use watchfloor::clock::{Clock as _, ManualClock};
use watchfloor::command::{FeedEvent, FeedEventBody, FeedState, FeedStatus};
use watchfloor::feeds::EventBus;
use watchfloor::model::VehicleStatus;
use watchfloor::sim::{Fault, SimConfig, Simulator};
use watchfloor::ui::theme::ThemeChoice;

use crate::START_MS;

struct Demo {
    harness: Harness<'static, WatchfloorApp>,
    sim: Simulator,
    bus: EventBus,
    clock: Arc<ManualClock>,
}

impl Demo {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(START_MS));
        let mut sim = Simulator::new(SimConfig::demo(7, START_MS));
        let mut builder = EventBus::builder();
        let inbox = builder.live(1_024);
        let bus = builder.build();
        let parts = crate::app_parts(inbox, bus.clone(), clock.clone());
        let harness =
            Harness::builder().with_size([1600.0, 1000.0]).build_eframe(move |cc| WatchfloorApp::new(cc, parts));
        let (meta, values) = sim.birth();
        let mut demo = Self { harness, sim, bus, clock };
        demo.publish(FeedEventBody::Status(FeedStatus::new(FeedState::Live)));
        demo.publish(FeedEventBody::Birth(meta));
        demo.publish(FeedEventBody::Samples(values));
        demo.harness.run_steps(2);
        demo
    }

    fn publish(&self, body: FeedEventBody) {
        assert!(self.bus.publish_now(FeedEvent::new(Arc::from("demo"), self.clock.now_ms(), body)));
    }

    /// Moves the clock and the simulator on by `secs`, delivers what it sent, and lets the app draw.
    fn advance(&mut self, secs: i64) {
        let now = self.clock.advance_ms(secs * 1_000);
        let mut batch = Vec::new();
        self.sim.step_to(now, &mut batch);
        self.publish(FeedEventBody::Samples(batch));
        self.harness.run_steps(2);
    }
}

#[test]
fn the_overview_shows_machines_and_vehicles_with_their_states() {
    let mut demo = Demo::new();
    demo.advance(60);
    let h = &demo.harness;
    for machine in ["Depalletizer", "Filler", "Capper", "Labeler", "Mixer", "Press", "Inspector"] {
        h.get_by_label_contains(&format!("{machine}: "));
    }
    for vehicle in ["AGV-01", "AGV-02", "FL-01"] {
        h.get_by_label(vehicle);
    }
    h.get_by_label("demo: Live");
    h.get_by_label("Line1");
    assert!(h.query_all_by_label_contains("Battery ").count() >= 20, "a battery bar per visible row");
    let live = h.state().live();
    assert_eq!(live.machines().count(), 12);
    assert_eq!(live.vehicles().count(), 42);
    let summary = live.summary(demo.clock.now_ms());
    assert!(summary.vehicles_moving > 10, "{summary:?}");
    h.get_by_label(&format!("{} moving", summary.vehicles_moving));
}

#[test]
fn a_stopped_machine_and_a_silent_vehicle_show_as_such() {
    let mut demo = Demo::new();
    demo.advance(10);
    demo.sim
        .inject(&Fault::StopMachine { machine: "Filler".into(), secs: 900, reason: "TEST_STOP".into() })
        .expect("Filler exists");
    demo.sim.inject(&Fault::CutComms { vehicle: "AGV-03".into(), secs: 300 }).expect("AGV-03 exists");
    demo.advance(5);
    demo.harness.get_by_label("Filler: Down");
    demo.harness.get_by_label_contains("TEST_STOP · ");
    assert_eq!(demo.harness.query_all_by_label("1 down").count(), 2, "on Line1's header and in the status bar");

    // Silent for longer than the stale limit (30 s): offline, with its last-seen age shown.
    demo.advance(60);
    let live = demo.harness.state().live();
    let agv3 = live.vehicles().find(|v| v.path.vehicle == "AGV-03").expect("AGV-03");
    assert_eq!(live.vehicle_status(agv3, demo.clock.now_ms()), VehicleStatus::Offline);
    let offline = live.summary(demo.clock.now_ms()).vehicles_offline;
    assert!(offline >= 1);
    demo.harness.get_by_label(&format!("{offline} offline"));
    assert!(demo.harness.query_all_by_label("1 min ago").count() >= 1, "AGV-03 last seen a minute ago");
}

#[test]
fn view_and_theme_are_switched_by_clicking_and_kept_in_settings() {
    let mut demo = Demo::new();
    demo.advance(5);
    demo.harness.get_by_label("Fleet").click();
    demo.harness.run_steps(2);
    assert_eq!(demo.harness.state().settings().view, View::Fleet);
    assert!(demo.harness.query_by_label_contains("Filler: ").is_none(), "the plant is not on the fleet view");
    demo.harness.get_by_label("AGV-01");

    demo.harness.get_by_label("Light theme").click();
    demo.harness.run_steps(2);
    assert_eq!(demo.harness.state().settings().theme, ThemeChoice::Light);
    demo.harness.get_by_label("Dark theme");
}

#[test]
fn problems_at_start_are_shown_until_dismissed() {
    let mut builder = EventBus::builder();
    let inbox = builder.live(8);
    let bus = builder.build();
    let parts = AppParts {
        timezone: jiff::tz::TimeZone::UTC,
        problems: vec!["site.toml:3:1: unknown field `kidn`".to_owned()],
        ..crate::app_parts(inbox, bus, Arc::new(ManualClock::new(START_MS)))
    };
    let mut harness =
        Harness::builder().with_size([1200.0, 800.0]).build_eframe(move |cc| WatchfloorApp::new(cc, parts));
    harness.run_steps(2);
    harness.get_by_label("site.toml:3:1: unknown field `kidn`");
    harness.get_by_label("No gateways");
    harness.get_by_label("Dismiss").click();
    harness.run_steps(2);
    assert!(harness.query_by_label_contains("unknown field").is_none());
}
