//! The logbook in the window: a note written about a machine, corrected by a new note, and the shift handed over;
//! everything kept in the cache, immutable, and in the shift report.

use std::sync::Arc;

use egui_kittest::kittest::Queryable as _;
use watchfloor::model::history::HistoryRead as _;
use watchfloor::sim::{Fault, SimConfig};
use watchfloor::store::{Store, StoreOptions};

use crate::START_MS;

type AppHarness = egui_kittest::Harness<'static, watchfloor::app::WatchfloorApp>;

fn wait_for(harness: &mut AppHarness, label: &str) {
    for _ in 0..500 {
        harness.run_steps(1);
        if harness.query_by_label_contains(label).is_some() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{label:?} never shown");
}

fn click(harness: &mut AppHarness, label: &str) {
    harness.query_all_by_label(label).next().unwrap_or_else(|| panic!("no {label:?}")).click();
    harness.run_steps(2);
}

fn type_into(harness: &mut AppHarness, field: &str, text: &str) {
    let node = harness.query_by_label(field).unwrap_or_else(|| panic!("no field {field:?}"));
    node.click();
    harness.run_steps(1);
    harness.query_by_label(field).expect("field").type_text(text);
    harness.run_steps(2);
}

#[test]
fn a_note_is_written_corrected_and_the_shift_handed_over() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("logbook.sqlite");
    let mut builder = watchfloor::feeds::EventBus::builder();
    let inbox = builder.live(4_096);
    let stored = builder.lossless(4_096);
    let bus = builder.build();
    let store = Store::start(StoreOptions::new(&path), stored).expect("writer");
    // Two minutes of the demo; the capper stops at the first minute and AGV-02's battery drops to 3 %.
    let now = START_MS + 120_000;
    let events = crate::sim_events(
        SimConfig::demo(7, START_MS),
        2,
        &[
            (1, Fault::StopMachine { machine: "Capper".into(), secs: 3_600, reason: "JAM".into() }),
            (1, Fault::DrainBattery { vehicle: "AGV-02".into(), soc_percent: 3.0 }),
        ],
    );
    for event in events {
        assert!(bus.publish_now((*event).clone()), "published");
    }
    let parts = watchfloor::app::AppParts {
        store: Some(store.link()),
        history: Some(watchfloor::store::History::start(path.clone()).expect("reader")),
        operator: Some("ana".to_owned()),
        ..crate::app_parts(inbox, bus.clone(), Arc::new(watchfloor::clock::ManualClock::new(now)))
    };
    let mut harness: AppHarness = egui_kittest::Harness::builder()
        .with_size([1600.0, 1000.0])
        .build_eframe(move |cc| watchfloor::app::WatchfloorApp::new(cc, parts));
    harness.run_steps(4);
    click(&mut harness, "Logbook");
    wait_for(&mut harness, "No notes in this shift yet");

    type_into(&mut harness, "Note", "Filler jammed on a bent crate; guide adjusted");
    click(&mut harness, "Write note");
    wait_for(&mut harness, "— ana,");
    assert!(harness.query_by_label_contains("saving").is_none(), "read back from the cache");

    // A mistake is put right by a new note that names the old one.
    click(&mut harness, "Correct");
    wait_for(&mut harness, "Correcting:");
    type_into(&mut harness, "Note", " (it was the capper, not the filler)");
    click(&mut harness, "Write correction");
    wait_for(&mut harness, "corrected by ana");

    click(&mut harness, "Handover");
    wait_for(&mut harness, "Down machines (1)");
    assert!(harness.query_by_label_contains("Capper · down (JAM)").is_some(), "the stopped capper is listed");
    // The demo's vans lose their link now and then: they may be listed too.
    assert!(harness.query_by_label_contains("Stranded vehicles (").is_some());
    assert!(harness.query_by_label_contains("AGV-02 · battery 3 %, not charging").is_some());
    type_into(&mut harness, "Incoming operator", "ben");
    type_into(&mut harness, "Handover note", "Capper guide to be replaced");
    click(&mut harness, "Record handover");
    wait_for(&mut harness, "Handed over to ben by ana");
    harness.run_steps(2);
    let operator: Vec<Option<String>> = harness.query_all_by_label("Operator").map(|n| n.value()).collect();
    assert!(operator.contains(&Some("ben".to_owned())), "who took over acts from now on: {operator:?}");

    // The shift before has no notes; back to this one, its notes again.
    click(&mut harness, "Notes");
    click(&mut harness, "Earlier shift");
    wait_for(&mut harness, "No notes in this shift yet");
    assert!(harness.query_by_label_contains("(now)").is_none(), "an earlier shift is not now");
    click(&mut harness, "Later shift");
    wait_for(&mut harness, "Handover to ben");

    let status = store.flush_blocking().expect("flushed");
    assert_eq!(status.notes_written, 3);
    drop(harness);
    drop(bus);
    store.finish();

    let conn = watchfloor::store::open_reader(&path).expect("reader");
    let notes = conn.notes(START_MS - 3_600_000, now + 3_600_000).expect("notes");
    assert_eq!(notes.len(), 3, "{notes:#?}");
    let first = notes.iter().find(|n| n.text == "Filler jammed on a bent crate; guide adjusted").expect("the note");
    let fix = notes.iter().find(|n| n.corrects.as_deref() == Some(first.uid.as_str())).expect("the correction");
    assert!(fix.text.contains("(it was the capper, not the filler)"), "{}", fix.text);
    assert!(fix.text.contains("guide adjusted"), "the correction starts from the old text: {}", fix.text);
    assert_eq!((fix.from_ms, fix.author.as_str()), (first.from_ms, "ana"), "the correction keeps the time");
    let handover = notes.iter().find_map(|n| n.handover.as_ref().map(|h| (n, h))).expect("the handover");
    assert_eq!(handover.1.taken_over_by, "ben");
    assert_eq!(handover.0.author, "ana");
    assert!(handover.0.text.starts_with("Capper guide to be replaced\nAt handover:"), "{}", handover.0.text);
    assert!(handover.0.text.contains("machines down 1, vehicles stranded "), "{}", handover.0.text);
    drop(conn);

    // The shift report carries them.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(["report", "--format", "json", "--db"])
        .arg(&path)
        .args(["--from", &watchfloor::model::time::rfc3339(START_MS)])
        .args(["--to", &watchfloor::model::time::rfc3339(now + 60_000)])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let texts: Vec<&str> =
        report["notes"].as_array().expect("notes").iter().filter_map(|n| n["text"].as_str()).collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts.contains(&"Filler jammed on a bent crate; guide adjusted"), "{texts:?}");
}
