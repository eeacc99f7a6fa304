//! Portable recordings: `watchfloor export` of a range, opened by `alarms`, `query` and `report` on the same terms as
//! a cache, every sample of the range kept, nothing outside it, and the config and site plan carried along.

use std::process::Command;

use watchfloor::sim::{Fault, SimConfig};
use watchfloor::store::open_reader;

use crate::START_MS;

fn watchfloor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_watchfloor"))
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).expect("time").to_string()
}

/// (count, sum of values, sum of times) of the samples in `[from, to)`: equal sums mean the same rows.
fn fingerprint(path: &std::path::Path, from: i64, to: i64) -> (i64, f64, i64) {
    open_reader(path)
        .expect("reader")
        .query_row(
            "SELECT count(*), total(num), total(ts_ms) FROM sample WHERE ts_ms >= ?1 AND ts_ms < ?2",
            [from, to],
            |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, f64>(2)? as i64)),
        )
        .expect("query")
}

#[test]
fn an_exported_range_keeps_every_sample_and_opens_like_a_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("history.sqlite");
    let config = watchfloor::config::Config::demo(watchfloor::config::SimGateway::default());
    let drain = Fault::DrainBattery { vehicle: "AGV-01".into(), soc_percent: 5.0 };
    let sim = SimConfig { lines: 1, vehicles: 4, ..SimConfig::demo(5, START_MS) };
    crate::record_sim(&cache, sim, 20, &[(6, drain)], config.alarm_rules(&config.site_plan.load().0));
    let (from, to) = (START_MS + 5 * 60_000, START_MS + 15 * 60_000);
    let rec = dir.path().join("shift.wfrec");
    let out = watchfloor()
        .args(["export", "--db", cache.to_str().expect("utf-8"), "--from", &rfc3339(from), "--to", &rfc3339(to)])
        .args(["--out", rec.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert!(!dir.path().join("shift.wfrec.part").exists(), "no partial file left");

    // Every sample of the range, and nothing outside it.
    let in_range = fingerprint(&cache, from, to);
    assert!(in_range.0 > 1_000, "{in_range:?}");
    assert_eq!(fingerprint(&rec, from, to), in_range);
    assert_eq!(fingerprint(&rec, i64::MIN, i64::MAX), in_range, "nothing outside the range");
    assert_eq!(summary["samples"], in_range.0);

    // The alarm raised in the range is in the recording, and `alarms` reads it as a cache.
    let out = watchfloor().args(["alarms", "--db", rec.to_str().expect("utf-8")]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        rows.iter()
            .any(|r| r["rule"] == "Battery critical" && r["asset"].as_str().is_some_and(|a| a.ends_with("AGV-01"))),
        "{rows:?}"
    );
    // `report` and `query` too.
    let out = watchfloor()
        .args(["report", "--db", rec.to_str().expect("utf-8"), "--from", &rfc3339(from), "--to", &rfc3339(to)])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The shift report by name, from the recording, as JSON and as a printable document.
    let out = watchfloor()
        .args(["report", "--db", rec.to_str().expect("utf-8"), "--shift", "2026-11-20 A"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        (report["from"].as_str(), report["to"].as_str()),
        (Some("2026-11-20T04:00:00.000Z"), Some("2026-11-20T12:00:00.000Z"))
    );
    assert!(report["alarms"]["activations"].as_u64().is_some_and(|n| n >= 1), "{}", report["alarms"]);
    let html = watchfloor()
        .args(["report", "--db", rec.to_str().expect("utf-8"), "--shift", "2026-11-20 A", "--format", "html"])
        .output()
        .expect("runs");
    let html = String::from_utf8(html.stdout).expect("utf-8");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Shift report: 2026-11-20 A"), "{html}");
    assert!(html.matches("<svg").count() >= 3, "gauges and charts drawn");
    assert!(html.contains("AGV-01"), "the fleet table");
    let bad = watchfloor()
        .args(["report", "--db", rec.to_str().expect("utf-8"), "--shift", "2026-11-20 Z"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no shift \"Z\" in the calendar (shifts: A, B, C)"));
    let out = watchfloor().args(["signals", "--db", rec.to_str().expect("utf-8")]).output().expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Battery/SoC"));

    // It carries its site plan (the zones with it).
    let conn = open_reader(&rec).expect("reader");
    let info = watchfloor::store::export::recording_info(&conn).expect("read").expect("a recording");
    assert_eq!((info.from_ms, info.to_ms), (from, to));
    let plan = watchfloor::model::siteplan::SitePlan::parse(info.site_plan.as_deref().expect("plan")).expect("GeoJSON");
    assert!(plan.features.iter().any(|f| f.kind == watchfloor::model::siteplan::PlanKind::Zone));

    // A second export to the same name is refused, the first one left as it was.
    let again = watchfloor()
        .args(["export", "--db", cache.to_str().expect("utf-8"), "--from", &rfc3339(from), "--to", &rfc3339(to)])
        .args(["--out", rec.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(fingerprint(&rec, from, to), in_range);
}
