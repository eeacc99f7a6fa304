//! Alarms end to end: limit rules evaluated on the history writer's path, the journal in a real cache, the
//! `alarms` command, and an alarm's state carried across a restart without journaling replayed data twice.

use std::process::Command;
use std::str::FromStr as _;
use std::sync::Arc;

use tokio::sync::mpsc;
use watchfloor::analytics::alarm::{Condition, Limits, Rule, Watch};
use watchfloor::model::alarm::Priority;
use watchfloor::model::history::OperatorAction;
use watchfloor::model::{FeedEvent, FeedEventBody};
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
    options.evaluator = watchfloor::analytics::recording::SiteEvaluator::boxed(rules(), Default::default(), None);
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
    let (mut harness, bus, store) = alarm_app(&path, rules(), None);
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
    // Shelved, it leaves the banner (it is listed in the Alarms view only) while the condition goes on.
    harness.get_by_label("Shelve 1 h").click();
    wait(&mut harness, "AGV-01 battery low", false);
    assert!(harness.query_by_label("1 high").is_none(), "no banner for a shelved alarm");
    drop(harness);
    drop(bus);
    store.finish();
    let (state, user): (String, String) = open_reader(&path)
        .expect("reader")
        .query_row("SELECT state, user FROM alarm_journal WHERE state = 'Acknowledged'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("the acknowledgement");
    assert_eq!(state, "Acknowledged");
    let expected = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "operator".into());
    assert_eq!(user, expected);
}

pub const TEMP: &str = "PlantA/Line1/Filler/Temperature";
pub const LEVEL: &str = "PlantA/Line1/Tank/Level";

/// "Filler hot" (high) above 80 on [`TEMP`], "Tank low" (`tank`) below 10 on [`LEVEL`].
pub fn two_rules_with(tank: Priority) -> Vec<Rule> {
    vec![
        Rule {
            name: "Filler hot".into(),
            watch: Watch::Signal(TEMP.into()),
            condition: Condition::Limit(Limits { hi: Some(80.0), ..Limits::default() }),
            priority: Priority::High,
        },
        Rule {
            name: "Tank low".into(),
            watch: Watch::Signal(LEVEL.into()),
            condition: Condition::Limit(Limits { lo: Some(10.0), ..Limits::default() }),
            priority: tank,
        },
    ]
}

fn two_rules() -> Vec<Rule> {
    two_rules_with(Priority::Low)
}

type AppHarness = egui_kittest::Harness<'static, watchfloor::app::WatchfloorApp>;

/// The window on a writer with `rules` over a cache at `path` (with its reader), acting as `operator`; events
/// published on the returned bus reach both.
fn alarm_app(
    path: &std::path::Path,
    rules: Vec<Rule>,
    operator: Option<&str>,
) -> (AppHarness, watchfloor::feeds::EventBus, Store) {
    let mut builder = watchfloor::feeds::EventBus::builder();
    let inbox = builder.live(256);
    let stored = builder.lossless(1_024);
    let bus = builder.build();
    let mut options = StoreOptions::new(path);
    options.evaluator = watchfloor::analytics::recording::SiteEvaluator::boxed(rules, Default::default(), None);
    let store = Store::start(options, stored).expect("writer");
    let parts = watchfloor::app::AppParts {
        store: Some(store.link()),
        history: Some(watchfloor::store::History::start(path.to_owned()).expect("reader")),
        operator: operator.map(str::to_owned),
        ..crate::app_parts(inbox, bus.clone(), Arc::new(watchfloor::clock::ManualClock::new(START_MS + 10_000)))
    };
    let harness = egui_kittest::Harness::builder()
        .with_size([1600.0, 1000.0])
        .build_eframe(move |cc| watchfloor::app::WatchfloorApp::new(cc, parts));
    (harness, bus, store)
}

fn wait_for(harness: &mut AppHarness, label: &str) {
    use egui_kittest::kittest::Queryable as _;
    for _ in 0..400 {
        harness.run_steps(1);
        if harness.query_by_label_contains(label).is_some() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{label:?} never shown");
}

/// The Alarms view: filter by priority, select, acknowledge with a comment, shelve with a time and a reason; each
/// action journaled with the operator chosen at start; the history lists the journal.
#[test]
fn the_alarm_summary_filters_acknowledges_with_a_comment_and_shelves_with_a_reason() {
    use egui::accesskit::Role;
    use egui_kittest::kittest::{Queryable as _, by};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("alarms.sqlite");
    let (mut harness, bus, store) = alarm_app(&path, two_rules(), Some("anna"));
    let samples = vec![
        Sample::new(SignalId::new(TEMP), START_MS, Value::F64(91.5)),
        Sample::new(SignalId::new(LEVEL), START_MS, Value::F64(4.0)),
    ];
    assert!(bus.publish_now(FeedEvent::new(Arc::from("gw"), START_MS, FeedEventBody::Samples(samples))));
    harness.state_mut().set_view(watchfloor::app::View::Alarms);
    wait_for(&mut harness, "2 of 2 alarms");
    harness.get_by_label("Alarms (2)");
    harness.get_by_label("91.5 above HI 80");

    // Only high priority.
    harness.get(by().role(Role::ComboBox).label("Priority")).click_accesskit();
    harness.run_steps(2);
    harness.get(by().role(Role::Button).label("High")).click();
    wait_for(&mut harness, "1 of 2 alarms");
    harness.get_by_label("Select all shown").click();
    harness.run_steps(2);
    harness.get_by_label("Comment").click();
    harness.run_steps(1);
    harness.get_by_label("Comment").type_text("cooling water valve closed");
    harness.run_steps(2);
    harness.get_by_label("Acknowledge 1").click();
    wait_for(&mut harness, "Alarms (1)");

    // Shelving needs a reason.
    harness.get(by().role(Role::ComboBox).label("Priority")).click_accesskit();
    harness.run_steps(2);
    harness.get(by().role(Role::Button).label("Low")).click();
    wait_for(&mut harness, "1 of 2 alarms");
    harness.get_by_label("Clear selection").click();
    harness.run_steps(1);
    harness.get_by_label("Select all shown").click();
    harness.run_steps(2);
    {
        use egui_kittest::kittest::NodeT as _;
        assert!(harness.get_by_label("Shelve 1").accesskit_node().is_disabled(), "no reason yet");
    }
    harness.get_by_label("Reason").click();
    harness.run_steps(1);
    harness.get_by_label("Reason").type_text("level sensor being replaced");
    harness.run_steps(2);
    harness.get_by_label("Shelve 1").click();
    wait_for(&mut harness, "Shelved until");

    // The history lists the journal of the range.
    harness.get_by_label("History").click();
    wait_for(&mut harness, "journal entries, newest first");
    assert!(harness.query_all_by_label("Filler hot").count() >= 2, "in the banner and in the history");
    // And the KPIs of the same range.
    harness.get_by_label("KPIs").click();
    wait_for(&mut harness, "Time in flood");
    harness.get_by_label("Top 10 bad actors");
    drop(harness);
    drop(bus);
    store.finish();
    let rows: Vec<(String, String, String, String)> = open_reader(&path)
        .expect("reader")
        .prepare("SELECT rule, state, user, comment FROM alarm_journal WHERE user != '' ORDER BY id")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let own = |a: &str, b: &str, c: &str, d: &str| (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned());
    assert_eq!(
        rows,
        [
            own("Filler hot", "Acknowledged", "anna", "cooling water valve closed"),
            own("Tank low", "Shelved", "anna", "level sensor being replaced")
        ]
    );
}

/// The default rules from the asset model, through a real writer: a gateway offline for longer than its delay,
/// a machine down for longer than 10 minutes (a shorter stop is not an alarm), a planned stop suppressing the
/// machine's alarms, a critical battery by kind, and a node death cleared by new values. The journal is the
/// record; a second run over the same events journals nothing new.
#[test]
fn default_rules_raise_from_the_asset_model_and_suppress_in_a_planned_stop() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("defaults.sqlite");
    let config = watchfloor::config::Config::demo(watchfloor::config::SimGateway::default());
    let rules = config.alarm_rules(&watchfloor::model::siteplan::SitePlan::default());
    let gw: Arc<str> = Arc::from("plant");
    let ev = |t: i64, body| Arc::new(FeedEvent::new(Arc::clone(&gw), t, body));
    let value = |id: &str, t: i64, v: Value| Sample::new(SignalId::new(id), t, v);
    let (state, capper) = ("PlantA/Line1/Filler/State", "PlantA/Line1/Capper/State");
    let min = 60_000;
    let events = vec![
        ev(
            START_MS,
            FeedEventBody::Samples(vec![
                value(state, START_MS, Value::str("running")),
                value(capper, START_MS, Value::str("running")),
                value("PlantA/Fleet/VAN-01/Kind", START_MS, Value::str("van")),
                value("PlantA/Fleet/VAN-01/Battery/SoC", START_MS, Value::F64(60.0)),
            ]),
        ),
        // The capper stops for 4 minutes: not an alarm. The filler stops for 14.
        ev(START_MS + min, FeedEventBody::Samples(vec![value(capper, START_MS + min, Value::str("down"))])),
        ev(START_MS + 2 * min, FeedEventBody::Samples(vec![value(state, START_MS + 2 * min, Value::I64(5))])),
        ev(START_MS + 5 * min, FeedEventBody::Samples(vec![value(capper, START_MS + 5 * min, Value::str("running"))])),
        ev(
            START_MS + 16 * min,
            FeedEventBody::Samples(vec![
                value(state, START_MS + 16 * min, Value::str("planned_stop")),
                value("PlantA/Fleet/VAN-01/Battery/SoC", START_MS + 16 * min, Value::F64(8.0)),
            ]),
        ),
        ev(
            START_MS + 17 * min,
            FeedEventBody::Samples(vec![value(
                "PlantA/Fleet/VAN-01/Battery/SoC",
                START_MS + 17 * min,
                Value::F64(8.0),
            )]),
        ),
        ev(START_MS + 20 * min, FeedEventBody::Stale { prefix: "PlantA/Line2/".into() }),
        ev(
            START_MS + 21 * min,
            FeedEventBody::Samples(vec![value("PlantA/Line2/Oven/State", START_MS + 21 * min, Value::str("running"))]),
        ),
    ];
    // Gateway status is stamped with arrival time: the gateway went offline 40 s ago.
    let offline_ms = watchfloor::clock::wall_now_ms() - 40_000;
    let offline = watchfloor::model::FeedStatus::new(watchfloor::model::FeedState::Offline);
    let mut events = events;
    events.push(ev(offline_ms, FeedEventBody::Status(offline)));
    let run = |events: &[Arc<FeedEvent>]| {
        let (tx, rx) = mpsc::channel(64);
        let mut options = StoreOptions::new(&path);
        options.evaluator =
            watchfloor::analytics::recording::SiteEvaluator::boxed(rules.clone(), Default::default(), None);
        let store = Store::start(options, rx).expect("writer");
        for e in events {
            tx.blocking_send(Arc::clone(e)).expect("send");
        }
        drop(tx);
        store.finish();
    };
    run(&events);
    let journal: Vec<(i64, String, String, String, String)> = open_reader(&path)
        .expect("reader")
        .prepare("SELECT ts_ms, rule, source, from_state, state FROM alarm_journal ORDER BY ts_ms, id")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let find = |rule: &str, to: &str| journal.iter().find(|j| j.1 == rule && j.4 == to);
    let down = find("Machine down", "Unacknowledged").expect("the filler's 14 min stop");
    assert_eq!((down.0, down.2.as_str()), (START_MS + 12 * min, state), "raised 10 minutes into the stop");
    assert!(!journal.iter().any(|j| j.2 == capper), "the capper's 4 min stop is no alarm: {journal:?}");
    let suppressed = find("Machine down", "Suppressed").expect("the planned stop suppresses it");
    assert_eq!(suppressed.0, START_MS + 16 * min);
    let critical = find("Battery critical", "Unacknowledged").expect("the van's critical battery");
    assert_eq!(critical.2, "PlantA/Fleet/VAN-01/Battery/SoC");
    assert!(find("Battery low", "Unacknowledged").is_some());
    let node = find("Node offline", "Unacknowledged").expect("node death");
    assert_eq!((node.0, node.2.as_str()), (START_MS + 20 * min, "PlantA/Line2"));
    let back = find("Node offline", "Returned, unacknowledged").expect("values again");
    assert_eq!(back.0, START_MS + 21 * min);
    let offline = find("Gateway offline", "Unacknowledged").unwrap_or_else(|| panic!("offline: {journal:?}"));
    assert_eq!((offline.0, offline.2.as_str()), (offline_ms + 30_000, "plant"));

    // The same events again (a reconnect that replays, a restart): nothing new.
    let before = journal.len();
    run(&events);
    let after: i64 = open_reader(&path)
        .expect("reader")
        .query_row("SELECT count(*) FROM alarm_journal", [], |r| r.get(0))
        .expect("count");
    assert_eq!(usize::try_from(after).ok(), Some(before), "replayed events journal nothing twice");
}

/// A flood and a chattering alarm in a real journal, through `watchfloor alarms --kpis`.
#[test]
fn the_kpis_find_a_flood_a_chattering_alarm_and_the_bad_actors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kpis.sqlite");
    // 15 pumps trip within 3 minutes (a flood); one valve chatters 4 times in a minute.
    let mut rules: Vec<Rule> = (0..15)
        .map(|i| Rule {
            name: format!("Pump {i} trip"),
            watch: Watch::Signal(format!("Site/Pump{i}/Current")),
            condition: Condition::Limit(Limits { hi: Some(50.0), ..Limits::default() }),
            priority: Priority::Medium,
        })
        .collect();
    rules.push(Rule {
        name: "Valve travel".into(),
        watch: Watch::Signal("Site/Valve/Position".into()),
        condition: Condition::Limit(Limits { hi: Some(90.0), ..Limits::default() }),
        priority: Priority::Low,
    });
    let gw: Arc<str> = Arc::from("site");
    let mut samples = Vec::new();
    for i in 0..15 {
        let t = START_MS + i * 12_000;
        samples.push(Sample::new(SignalId::new(format!("Site/Pump{i}/Current")), t, Value::F64(60.0)));
    }
    for k in 0..8 {
        let t = START_MS + 600_000 + k * 7_000;
        let v = if k % 2 == 0 { 95.0 } else { 50.0 };
        samples.push(Sample::new(SignalId::new("Site/Valve/Position"), t, Value::F64(v)));
    }
    samples.sort_by_key(|s| s.ts_ms);
    let (tx, rx) = mpsc::channel(64);
    let mut options = StoreOptions::new(&path);
    options.evaluator = watchfloor::analytics::recording::SiteEvaluator::boxed(rules, Default::default(), None);
    let store = Store::start(options, rx).expect("writer");
    for s in samples {
        let t = s.ts_ms;
        tx.blocking_send(Arc::new(FeedEvent::new(Arc::clone(&gw), t, FeedEventBody::Samples(vec![s])))).expect("send");
    }
    drop(tx);
    store.finish();
    let from = jiff::Timestamp::from_millisecond(START_MS).expect("time").to_string();
    let to = jiff::Timestamp::from_millisecond(START_MS + 3_600_000).expect("time").to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(["alarms", "--db", path.to_str().expect("utf-8"), "--kpis", "--from", &from, "--to", &to])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let k: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(k["activations"], 19, "{k}");
    assert_eq!(k["max_per_10_min"], 15, "{k}");
    let floods = k["floods"].as_array().expect("floods");
    assert_eq!(floods.len(), 1, "{k}");
    assert_eq!(floods[0][0], START_MS + 10 * 12_000, "the 11th alarm in 10 minutes starts it");
    assert!(k["flood_ms"].as_i64().is_some_and(|ms| ms > 0), "{k}");
    let chattering = k["chattering"].as_array().expect("chattering");
    assert_eq!(chattering.len(), 1, "{k}");
    assert_eq!(chattering[0]["rule"], "Valve travel");
    assert_eq!(k["bad_actors"][0]["rule"], "Valve travel", "the most frequent first");
    assert_eq!(k["bad_actors"][0]["activations"], 4);
    assert_eq!(k["per_10_min"].as_array().map(Vec::len), Some(6));
    // The same as CSV in the report: the figures, then the bad actors.
    let out = Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(["report", "--db", path.to_str().expect("utf-8"), "--from", &from, "--to", &to])
        .args(["--format", "csv", "--section", "alarms"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).expect("UTF-8");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "kpi,rule,source,value");
    assert!(lines.contains(&"activations,,,19"), "{csv}");
    assert!(lines.contains(&"floods,,,1"), "{csv}");
    let first_actor = lines.iter().find(|l| l.starts_with("bad_actor,")).expect("bad actors");
    assert!(first_actor.starts_with("bad_actor,Valve travel,") && first_actor.ends_with(",4"), "{csv}");
    assert!(lines.iter().any(|l| l.starts_with("chattering_max_in_60s,Valve travel,")), "{csv}");
}

/// Out of service (maintenance) is journaled with the user and the reason, and survives a restart.
/// AGV-01's state of charge at 10 % at `t` (below the rule's low limit).
fn low_soc(t: i64) -> Arc<FeedEvent> {
    let s = Sample::new(SignalId::new(SOC), t, Value::F64(10.0));
    Arc::new(FeedEvent::new(Arc::from("gw"), t, FeedEventBody::Samples(vec![s])))
}

/// A writer with the rules on `path`, on `clock`, and the sender of its events.
fn start_writer(
    path: &std::path::Path,
    clock: Arc<dyn watchfloor::clock::Clock>,
) -> (mpsc::Sender<Arc<FeedEvent>>, Store) {
    let (tx, rx) = mpsc::channel(64);
    let mut options = StoreOptions::new(path);
    options.evaluator = watchfloor::analytics::recording::SiteEvaluator::boxed(rules(), Default::default(), None);
    options.clock = clock;
    (tx, Store::start(options, rx).expect("writer"))
}

#[test]
fn out_of_service_is_journaled_and_survives_a_restart() {
    use watchfloor::model::alarm::AlarmState;
    use watchfloor::store::StoreCommand;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("oos.sqlite");
    let low = low_soc;
    let start = || start_writer(&path, Arc::new(watchfloor::clock::SystemClock));
    let (tx, store) = start();
    for t in [START_MS, START_MS + 10_000] {
        tx.blocking_send(low(t)).expect("send");
    }
    store.flush_blocking().expect("flushed");
    let alarms = store.alarms();
    assert_eq!(alarms.first().map(|a| a.state), Some(AlarmState::Unacknowledged));
    let index = alarms[0].index;
    assert!(store.send(StoreCommand::Alarm(OperatorAction::OutOfService {
        indices: vec![index],
        out: true,
        user: "tech".into(),
        comment: "probe replaced".into()
    })));
    store.flush_blocking().expect("flushed");
    let alarms = store.alarms();
    assert_eq!(alarms.first().map(|a| a.state), Some(AlarmState::OutOfService));
    drop(tx);
    store.finish();

    let (tx, store) = start();
    tx.blocking_send(low(START_MS + 20_000)).expect("send");
    let status = store.flush_blocking().expect("flushed");
    let alarms = store.alarms();
    assert_eq!(alarms.first().map(|a| a.state), Some(AlarmState::OutOfService), "{status:?}");
    drop(tx);
    store.finish();
    let (user, comment): (String, String) = open_reader(&path)
        .expect("reader")
        .query_row("SELECT user, comment FROM alarm_journal WHERE state = 'Out of service'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("journaled");
    assert_eq!((user.as_str(), comment.as_str()), ("tech", "probe replaced"));
}

#[test]
fn a_shelf_survives_a_restart_and_ends_on_time() {
    use watchfloor::clock::ManualClock;
    use watchfloor::model::alarm::AlarmState;
    use watchfloor::store::StoreCommand;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shelf.sqlite");
    let low = low_soc;
    let clock = Arc::new(ManualClock::new(START_MS + 10_000));
    let start = || start_writer(&path, Arc::clone(&clock) as Arc<dyn watchfloor::clock::Clock>);
    let (tx, store) = start();
    for t in [START_MS, START_MS + 10_000] {
        tx.blocking_send(low(t)).expect("send");
    }
    store.flush_blocking().expect("flushed");
    let alarms = store.alarms();
    assert_eq!(alarms.first().map(|a| a.state), Some(AlarmState::Unacknowledged));
    let shelf_ms = 3_600_000;
    assert!(store.send(StoreCommand::Alarm(OperatorAction::Shelve {
        indices: vec![alarms[0].index],
        for_ms: shelf_ms,
        user: "ana".into(),
        reason: "charger being replaced".into(),
    })));
    store.flush_blocking().expect("flushed");
    let alarms = store.alarms();
    let until = START_MS + 10_000 + shelf_ms;
    assert_eq!(alarms.first().and_then(|a| a.shelved_until_ms), Some(until));
    drop(tx);
    store.finish();

    // Restarted half an hour later: still shelved, until the same time.
    clock.set(START_MS + 10_000 + shelf_ms / 2);
    let (tx, store) = start();
    tx.blocking_send(low(START_MS + 20_000)).expect("send");
    let status = store.flush_blocking().expect("flushed");
    let alarms = store.alarms();
    let alarm = alarms.first().expect("the alarm is listed");
    assert_eq!((alarm.state, alarm.shelved_until_ms), (AlarmState::Shelved, Some(until)), "{status:?}");
    // The shelf's time comes: the writer's clock ends it and journals that.
    clock.set(until + 1_000);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = store.flush_blocking().expect("flushed");
        let alarms = store.alarms();
        if alarms.first().is_some_and(|a| a.state != AlarmState::Shelved) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the shelf did not end: {status:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    drop(tx);
    store.finish();
    let rows: Vec<(String, Option<i64>)> = open_reader(&path)
        .expect("reader")
        .prepare("SELECT state, shelved_until_ms FROM alarm_journal ORDER BY id")
        .expect("sql")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        rows,
        vec![
            ("Unacknowledged".to_owned(), None),
            ("Shelved".to_owned(), Some(until)),
            ("Unacknowledged".to_owned(), None),
        ],
        "shelved once, not again at the restart, and unshelved when the time came"
    );
}
