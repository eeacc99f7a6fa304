//! The Connections view: gateway rows from the diagnostics and live state, the inspector's messages and quarantine,
//! the filter, and a message shown decoded.

use std::sync::Arc;

use bytes::Bytes;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use watchfloor::app::{View, WatchfloorApp};
use watchfloor::clock::{Clock as _, ManualClock};
use watchfloor::feeds::{DiagHandle, EventBus, Message, PayloadFormat};
use watchfloor::model::{FeedEvent, FeedEventBody, FeedState, FeedStatus};

use crate::START_MS;

fn message(ts: i64, topic: &str, payload: &'static [u8], samples: usize, problem: Option<&str>) -> Message {
    let mut m = Message::new(ts, topic, PayloadFormat::Kepware, &Bytes::from_static(payload));
    m.samples = samples;
    m.problem = problem.map(str::to_owned);
    m
}

fn harness() -> (Harness<'static, WatchfloorApp>, DiagHandle) {
    let clock = Arc::new(ManualClock::new(START_MS));
    let mut builder = EventBus::builder();
    let inbox = builder.live(64);
    let bus = builder.build();
    let diag = DiagHandle::new("line3".into(), "mqtt-json", "mqtt://broker.plant:1883");
    {
        let mut d = diag.lock();
        d.connected(START_MS - 3_600_000);
        d.record(message(
            START_MS - 60_000,
            "factory/line3/oven",
            b"{not json",
            0,
            Some("not a Kepware template message"),
        ));
        // Ten seconds of two messages a second, five samples each.
        for s in 1..=10 {
            for k in 0..2 {
                let ts = START_MS - 11_000 + s * 1000 + k * 100;
                d.record(message(
                    ts,
                    "factory/line3/capper",
                    br#"{"timestamp": 1795158000000, "values": [{"id": "Line3.Capper.State", "v": "running", "q": true, "t": 1795158000000}]}"#,
                    5,
                    None,
                ));
            }
        }
    }
    let assert_published = bus.publish_now(FeedEvent::new(
        Arc::from("line3"),
        START_MS - 3_600_000,
        FeedEventBody::Status(FeedStatus::new(FeedState::Live)),
    ));
    assert!(assert_published);
    let mut parts = crate::app_parts(inbox, bus, clock.clone());
    parts.diagnostics = vec![diag.clone()];
    let mut harness =
        Harness::builder().with_size([1600.0, 1000.0]).build_eframe(move |cc| WatchfloorApp::new(cc, parts));
    harness.run_steps(2);
    assert_eq!(clock.now_ms(), START_MS);
    (harness, diag)
}

#[test]
fn the_connections_view_shows_each_gateway_with_state_rates_and_errors() {
    let (mut harness, _diag) = harness();
    harness.get_by_label("Connections").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings().view, View::Connections);
    harness.get_by_label("line3");
    harness.get_by_label("mqtt-json");
    harness.get_by_label("Live");
    assert!(harness.query_by_label("2.0/s").is_some(), "two messages a second over the last ten seconds");
    assert!(harness.query_by_label("10.0/s").is_some(), "ten samples a second");
    assert!(harness.query_by_label("1 h 0 min").is_some(), "uptime since the connection");
    harness.get_by_label("Messages (21)");
    harness.get_by_label("Quarantine (1)");
}

#[test]
fn the_inspector_filters_quarantines_and_decodes_a_message() {
    let (mut harness, _diag) = harness();
    harness.get_by_label("Connections").click();
    harness.run_steps(2);
    assert_eq!(harness.query_all_by_label_contains("factory/line3/capper").count(), 20);

    harness.get_by_label("Filter messages").click();
    harness.run_steps(1);
    harness.get_by_label("Filter messages").type_text("oven");
    harness.run_steps(2);
    assert_eq!(harness.query_all_by_label_contains("factory/line3/capper").count(), 0, "filtered out");
    assert_eq!(harness.query_all_by_label_contains("factory/line3/oven").count(), 1);

    harness.get_by_label_contains("factory/line3/oven").click();
    harness.run_steps(2);
    assert!(harness.query_by_label_contains("Problem: not a Kepware template message").is_some());
    assert!(harness.query_by_label_contains("{not json").is_some(), "the raw payload is shown");

    harness.get_by_label("Clear").click();
    harness.get_by_label("Quarantine (1)").click();
    harness.run_steps(2);
    assert_eq!(harness.query_all_by_label_contains("factory/line3/capper").count(), 0, "only bad messages");
    harness.get_by_label("Messages (21)").click();
    harness.run_steps(2);
    harness.get_all_by_label_contains("factory/line3/capper").next().expect("a good message").click();
    harness.run_steps(2);
    assert!(
        harness.query_by_label_contains("1 samples, 0 rejected").is_some(),
        "the message decoded as its gateway decodes it"
    );
}
