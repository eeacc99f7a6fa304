//! The app on the simulator with a fixed clock, stepped by hand, queried by label.

use std::sync::Arc;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use watchfloor::app::{AppParts, View, WatchfloorApp};
use watchfloor::clock::{Clock as _, ManualClock};
use watchfloor::feeds::EventBus;
use watchfloor::model::VehicleStatus;
use watchfloor::model::{FeedEvent, FeedEventBody, FeedState, FeedStatus};
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
    // The table is worst first; by name, the first vehicles are in view.
    demo.harness.get_by_label("Vehicle").click();
    demo.harness.run_steps(2);
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
    demo.harness.get_by_label("Vehicle").click();
    demo.harness.run_steps(2);
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

/// The Fleet view: the map over the site plan with every vehicle, next to the table.
#[test]
fn fleet_view_shows_the_map_with_every_vehicle() {
    let mut builder = EventBus::builder();
    let inbox = builder.live(64);
    let bus = builder.build();
    let plan = watchfloor::config::SitePlanSource::Demo.load().0;
    assert!(!plan.features.is_empty());
    let parts = AppParts {
        site_plan: Arc::new(plan),
        ..crate::app_parts(inbox, bus.clone(), Arc::new(ManualClock::new(START_MS)))
    };
    let mut harness =
        Harness::builder().with_size([1600.0, 1000.0]).build_eframe(move |cc| WatchfloorApp::new(cc, parts));
    let mut sim = Simulator::new(SimConfig::demo(3, START_MS));
    let (meta, values) = sim.birth();
    assert!(bus.publish_now(FeedEvent::new(Arc::from("demo"), START_MS, FeedEventBody::Birth(meta))));
    assert!(bus.publish_now(FeedEvent::new(Arc::from("demo"), START_MS, FeedEventBody::Samples(values))));
    harness.run_steps(2);
    harness.get_by_label("Fleet").click();
    harness.run_steps(2);
    harness.get_by_label("Fit fleet").click();
    harness.run_steps(3);
    harness.get_by_label_contains("Fleet map: 42 vehicles in view");
    // A click on a name in the table selects the vehicle: the map names it and shows its detail.
    harness.get_by_label("Vehicle").click();
    harness.run_steps(2);
    harness.get_by_label("AGV-01").click();
    harness.run_steps(2);
    harness.get_by_label("Selected: AGV-01");
    harness.get_by_label_contains("time to empty");
    harness.get_by_label("Follow selected").click();
    harness.run_steps(2);
    harness.get_by_label("Clear").click();
    harness.run_steps(2);
    assert!(harness.query_by_label("Selected: AGV-01").is_none());
}

/// The fleet table puts what needs attention first (stale, then critical battery), sorts by any column and
/// filters by kind, state and zone.
#[test]
fn the_fleet_table_is_worst_first_and_filters_by_kind_state_and_zone() {
    use egui::accesskit::Role;
    let combo = |label| egui_kittest::kittest::by().role(Role::ComboBox).label(label);
    // An entry of an open combo box (the table shows the same words as labels).
    let choice = |label| egui_kittest::kittest::by().role(Role::Button).label(label);
    let mut demo = Demo::new();
    demo.advance(10);
    demo.sim.inject(&Fault::DrainBattery { vehicle: "AGV-05".into(), soc_percent: 5.0 }).expect("AGV-05 exists");
    demo.sim.inject(&Fault::CutComms { vehicle: "FL-02".into(), secs: 600 }).expect("FL-02 exists");
    demo.advance(60);
    let now = demo.clock.now_ms();
    let table = watchfloor::ui::panels::fleet::FleetTable::default();
    let live = demo.harness.state().live();
    let rows = table.rows(live, now);
    assert_eq!(rows.len(), 42);
    use watchfloor::ui::panels::fleet::Attention;
    let ranks: Vec<Attention> = rows.iter().map(|v| Attention::of(live, v, now)).collect();
    let stale = ranks.iter().filter(|a| **a == Attention::Stale).count();
    assert!((1..5).contains(&stale), "{ranks:?}");
    assert!(rows[..stale].iter().any(|v| v.path.vehicle == "FL-02"), "stale first");
    assert_eq!(rows[stale].path.vehicle, "AGV-05", "then the lowest critical battery");
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "worst first all the way: {ranks:?}");

    // Both are in view at the top of the table, whatever the size of the fleet.
    demo.harness.get_by_label("Fleet").click();
    demo.harness.run_steps(2);
    demo.harness.get_by_label("FL-02");
    demo.harness.get_by_label("AGV-05");
    demo.harness.get_by_label("42 of 42 vehicles");

    // Filter by kind: forklifts only.
    demo.harness.get(combo("Kind")).click_accesskit();
    demo.harness.run_steps(2);
    demo.harness.get(choice("Forklift")).click();
    demo.harness.run_steps(2);
    let forklifts =
        demo.harness.state().live().vehicles().filter(|v| v.kind == watchfloor::model::VehicleKind::Forklift).count();
    demo.harness.get_by_label(&format!("{forklifts} of 42 vehicles"));
    assert!(demo.harness.query_by_label("AGV-05").is_none(), "an AGV is filtered out");
    demo.harness.get_by_label("FL-02");

    // And by state: stale forklifts.
    demo.harness.get(combo("State")).click_accesskit();
    demo.harness.run_steps(2);
    demo.harness.get(choice("Stale")).click();
    demo.harness.run_steps(2);
    demo.harness.get_by_label("1 of 42 vehicles");
    demo.harness.get_by_label("Clear filters").click();
    demo.harness.run_steps(2);
    demo.harness.get_by_label("42 of 42 vehicles");

    // Sorting by battery puts the drained AGV first; a second click reverses.
    use watchfloor::ui::panels::fleet::SortBy;
    demo.harness.get_by_label("Battery").click();
    demo.harness.run_steps(2);
    let state = demo.harness.state();
    assert_eq!(state.fleet_table().sort, SortBy::Battery);
    assert_eq!(state.fleet_table().rows(state.live(), now)[0].path.vehicle, "AGV-05");
    demo.harness.get_by_label("Battery").click();
    demo.harness.run_steps(2);
    let state = demo.harness.state();
    assert!(state.fleet_table().descending);
    assert_ne!(state.fleet_table().rows(state.live(), now)[0].path.vehicle, "AGV-05");
}
