//! Alarms end to end: limit rules evaluated on the history writer's path, the journal in a real cache, the
//! `alarms` command, and an alarm's state carried across a restart without journaling replayed data twice.

use std::process::Command;
use std::str::FromStr as _;
use std::sync::Arc;

use tokio::sync::mpsc;
use watchfloor::analytics::alarm::{Condition, Limits, Rule, Watch};
use watchfloor::command::{FeedEvent, FeedEventBody};
use watchfloor::model::alarm::Priority;
use watchfloor::model::{Sample, SignalId, Value};
use watchfloor::sim::{Fault, SimConfig, Simulator};
use watchfloor::store::{Store, StoreOptions, open_reader};

use crate::START_MS;

const SOC: &str = "PlantA/Fleet/AGV-01/Battery/SoC";

fn rules() -> Vec<Rule> {
    vec![Rule {
        name: "AGV-01 battery low".into(),
        watch: Watch::Signal(SOC.into()),
        condition: Condition::Limit(Limits { lo: Some(20.0), deadband: 2.0, on_delay_ms: 5_000, ..Limits::default() }),
        priority: Priority::High,
    }]
}

/// Runs a writer with the rules over `events`.
fn store(path: &std::path::Path, events: &[Arc<FeedEvent>]) {
    let (tx, rx) = mpsc::channel(64);
    let mut options = StoreOptions::new(path);
    options.alarm_rules = rules();
    let store = Store::start(options, rx).expect("writer");
    for e in events {
        tx.blocking_send(Arc::clone(e)).expect("send");
    }
    drop(tx);
    store.finish();
}

fn journal_rows(path: &std::path::Path) -> i64 {
    open_reader(path).expect("reader").query_row("SELECT count(*) FROM alarm_journal", [], |r| r.get(0)).expect("count")
}

#[test]
fn a_limit_alarm_is_journaled_once_listed_and_carried_across_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("alarms.sqlite");
    let mut sim = Simulator::new(SimConfig { lines: 0, vehicles: 4, ..SimConfig::demo(3, START_MS) });
    let gw: Arc<str> = Arc::from("demo");
    let (meta, values) = sim.birth();
    let mut events = vec![
        Arc::new(FeedEvent::new(gw.clone(), START_MS, FeedEventBody::Birth(meta))),
        Arc::new(FeedEvent::new(gw.clone(), START_MS, FeedEventBody::Samples(values))),
    ];
    let mut t = START_MS;
    while t < START_MS + 180_000 {
        if t == START_MS + 60_000 {
            sim.inject(&Fault::DrainBattery { vehicle: "AGV-01".into(), soc_percent: 8.0 }).expect("AGV-01");
        }
        t += 1_000;
        let mut batch = Vec::new();
        sim.step_to(t, &mut batch);
        events.push(Arc::new(FeedEvent::new(gw.clone(), t, FeedEventBody::Samples(batch))));
    }
    store(&path, &events);

    let out = Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(["alarms", "--db", path.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    let first = rows.first().expect("the drained battery raised the alarm");
    assert_eq!(first["rule"], "AGV-01 battery low");
    assert_eq!(first["source"], SOC);
    assert_eq!(first["priority"], "High");
    assert_eq!((first["from_state"].as_str(), first["state"].as_str()), (Some("Normal"), Some("Unacknowledged")));
    assert_eq!(first["limit"], "LO");
    assert!(first["value"].as_f64().is_some_and(|v| v <= 20.0), "{first}");
    let ts = first["ts"].as_str().expect("ts");
    assert!(ts.ends_with('Z'), "{ts}");
    let raised = jiff::Timestamp::from_str(ts).expect("RFC 3339").as_millisecond();
    assert!((START_MS + 65_000..START_MS + 70_000).contains(&raised), "raised after the 5 s on-delay: {ts}");
    for key in ["user", "comment"] {
        assert!(first[key].is_string(), "{key} in {first}");
    }
    let csv = Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(["alarms", "--db", path.to_str().expect("utf-8"), "--format", "csv"])
        .output()
        .expect("runs");
    let csv = String::from_utf8(csv.stdout).expect("utf-8");
    assert!(
        csv.starts_with("ts,rule,source,asset,priority,state,from_state,user,comment,value,limit,message\n"),
        "{csv}"
    );
    assert_eq!(first["asset"], "PlantA/Fleet/AGV-01");
    assert!(first["message"].as_str().is_some_and(|m| m.contains("below LO 20")), "{first}");

    // A restart that replays everything (a reconnect, a backfill) journals nothing twice...
    let before = journal_rows(&path);
    store(&path, &events);
    assert_eq!(journal_rows(&path), before, "replayed data is not a new alarm");
    // ...and the alarm is still active and unacknowledged: a value back in range returns it, unacknowledged.
    let back = Sample::new(SignalId::new(SOC), START_MS + 200_000, Value::F64(60.0));
    store(&path, &[Arc::new(FeedEvent::new(gw, START_MS + 200_000, FeedEventBody::Samples(vec![back])))]);
    let last: (String, String) = open_reader(&path)
        .expect("reader")
        .query_row("SELECT from_state, state FROM alarm_journal ORDER BY ts_ms DESC, id DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("last entry");
    assert_eq!(last, ("Unacknowledged".to_owned(), "Returned, unacknowledged".to_owned()));
}

/// The banner shows a raised alarm with its priority and value; *Acknowledge* goes to the writer, which journals
/// it with the operator's name, and the banner follows.
#[test]
fn the_banner_shows_an_alarm_and_acknowledges_it_into_the_journal() {
    use egui_kittest::kittest::Queryable as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("alarms.sqlite");
    let mut builder = watchfloor::feeds::EventBus::builder();
    let inbox = builder.live(256);
    let stored = builder.lossless(1_024);
    let bus = builder.build();
    let mut options = StoreOptions::new(&path);
    options.alarm_rules = rules();
    let store = Store::start(options, stored).expect("writer");
    let parts = watchfloor::app::AppParts {
        store: Some(store.link()),
        ..crate::app_parts(inbox, bus.clone(), Arc::new(watchfloor::clock::ManualClock::new(START_MS + 10_000)))
    };
    let mut harness = egui_kittest::Harness::builder()
        .with_size([1600.0, 1000.0])
        .build_eframe(move |cc| watchfloor::app::WatchfloorApp::new(cc, parts));
    for (t, soc) in [(START_MS, 50.0), (START_MS + 1_000, 12.0), (START_MS + 7_000, 11.5)] {
        let sample = Sample::new(SignalId::new(SOC), t, Value::F64(soc));
        assert!(bus.publish_now(FeedEvent::new(Arc::from("gw"), t, FeedEventBody::Samples(vec![sample]))));
    }
    let wait = |harness: &mut egui_kittest::Harness<'_, watchfloor::app::WatchfloorApp>, label: &str, shown: bool| {
        for _ in 0..400 {
            harness.run_steps(1);
            if harness.query_by_label_contains(label).is_some() == shown {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{label:?} never {}", if shown { "shown" } else { "gone" });
    };
    wait(&mut harness, "1 to acknowledge", true);
    harness.get_by_label("AGV-01 battery low");
    harness.get_by_label("1 high");
    // Raised at the low limit with the value that completed the on-delay (12.0 or 11.5, as the batches fell).
    let row = format!("{:?}", harness.get_by_label_contains(" · Unacknowledged · since "));
    assert!(row.contains("12 below LO 20 · ") || row.contains("11.5 below LO 20 · "), "{row}");
    harness.get_by_label("Acknowledge").click();
    wait(&mut harness, "to acknowledge", false);
    harness.get_by_label_contains(" · Acknowledged · since ");
    drop(harness);
    drop(bus);
    store.finish();
    let (state, user): (String, String) = open_reader(&path)
        .expect("reader")
        .query_row("SELECT state, user FROM alarm_journal ORDER BY id DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("the acknowledgement");
    assert_eq!(state, "Acknowledged");
    let expected = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "operator".into());
    assert_eq!(user, expected);
}
