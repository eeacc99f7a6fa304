use super::*;
use crate::model::alarm::AlarmState as S;
use crate::model::alarm::Priority;
use crate::model::{BatteryThresholds, SignalId};

fn sample(id: &str, ts_ms: i64, value: Value) -> Sample {
    Sample::new(SignalId::from(id), ts_ms, value)
}

fn states(out: &[Entry]) -> Vec<(&str, &str, S, S)> {
    out.iter().map(|e| (e.rule.as_str(), e.source.as_str(), e.transition.from, e.transition.to)).collect()
}

fn limit_rule(name: &str, signal: &str, limits: Limits) -> Rule {
    Rule {
        name: name.into(),
        watch: Watch::Signal(signal.into()),
        condition: Condition::Limit(limits),
        priority: Priority::High,
    }
}

#[test]
fn the_engine_raises_escalates_and_journals_one_alarm_per_rule_and_source() {
    let sig = "PlantA/Line1/Filler/Temperature";
    let rule = limit_rule(
        "Filler overtemp",
        sig,
        Limits { hi: Some(85.0), hihi: Some(95.0), deadband: 1.0, ..Limits::default() },
    );
    let mut engine = Engine::new(vec![rule]);
    let mut out = Vec::new();
    engine.sample(&sample("PlantA/Line1/Capper/Temperature", 0, Value::F64(99.0)), 0, &mut out);
    assert!(out.is_empty(), "another signal");
    for (t, v) in [(1_000, 86.0), (2_000, 87.0), (3_000, 96.0)] {
        engine.sample(&sample(sig, t, Value::F64(v)), t, &mut out);
    }
    // A replay of the same values (reconnect, backfill): nothing new.
    engine.sample(&sample(sig, 1_000, Value::F64(86.0)), 5_000, &mut out);
    engine.sample(&sample(sig, 3_000, Value::F64(96.0)), 5_000, &mut out);
    let seen: Vec<(S, S, Option<Limit>, &str)> =
        out.iter().map(|e| (e.transition.from, e.transition.to, e.limit, e.transition.comment.as_str())).collect();
    assert_eq!(
        seen,
        [
            (S::Normal, S::Unacknowledged, Some(Limit::Hi), ""),
            (S::Unacknowledged, S::Unacknowledged, Some(Limit::HiHi), "HIHI")
        ]
    );
    assert_eq!((out[0].source.as_str(), out[0].asset.as_str()), (sig, "PlantA/Line1/Filler"));
    assert_eq!(out[1].message, "96 above HIHI 95");
    assert_eq!(engine.len(), 1, "one instance");
    out.clear();
    engine.acknowledge(0, 4_000, "anna", "cooling water low", &mut out);
    engine.shelve(0, 5_000, 65_000, "anna", "fitter on site", &mut out);
    engine.sample(&sample(sig, 6_000, Value::F64(70.0)), 6_000, &mut out);
    engine.tick(70_000, &mut out);
    let seen: Vec<(S, S)> = out.iter().map(|e| (e.transition.from, e.transition.to)).collect();
    assert_eq!(
        seen,
        [
            (S::Unacknowledged, S::Acknowledged),
            (S::Acknowledged, S::Shelved),
            (S::Shelved, S::Shelved),
            (S::Shelved, S::Normal)
        ]
    );
    assert_eq!(out[0].transition.user, "anna");
}

#[test]
fn a_pattern_rule_makes_one_alarm_per_matching_signal() {
    let rule = limit_rule("Hot", "PlantA/*/Temperature", Limits { hi: Some(80.0), ..Limits::default() });
    let mut engine = Engine::new(vec![rule]);
    let mut out = Vec::new();
    engine.sample(&sample("PlantA/Line1/Filler/Temperature", 0, Value::F64(90.0)), 0, &mut out);
    engine.sample(&sample("PlantA/Line2/Capper/Temperature", 0, Value::F64(91.0)), 0, &mut out);
    engine.sample(&sample("PlantB/Line1/Filler/Temperature", 0, Value::F64(92.0)), 0, &mut out);
    assert_eq!(
        states(&out),
        [
            ("Hot", "PlantA/Line1/Filler/Temperature", S::Normal, S::Unacknowledged),
            ("Hot", "PlantA/Line2/Capper/Temperature", S::Normal, S::Unacknowledged)
        ]
    );
}

#[test]
fn machine_down_longer_than_the_delay_and_planned_stops_suppress() {
    let rules = Defaults { machine_down_ms: 600_000, ..Defaults::default() }.rules();
    let mut engine = Engine::new(rules);
    let mut out = Vec::new();
    let state = "PlantA/Line1/Filler/State";
    engine.sample(&sample(state, 0, Value::str("down")), 0, &mut out);
    engine.sample(&sample(state, 300_000, Value::str("running")), 300_000, &mut out);
    engine.tick(1_000_000, &mut out);
    assert!(out.is_empty(), "down for 5 min only: {out:?}");
    engine.sample(&sample(state, 1_000_000, Value::I64(5)), 1_000_000, &mut out);
    engine.tick(1_599_999, &mut out);
    assert!(out.is_empty());
    engine.tick(1_600_000, &mut out);
    assert_eq!(states(&out), [("Machine down", state, S::Normal, S::Unacknowledged)]);
    assert_eq!(out[0].transition.ts_ms, 1_600_000);
    assert_eq!(out[0].transition.value, None, "a state alarm has no number");
    assert_eq!(out[0].message, "down for over 10 min");
    out.clear();
    // A planned stop: every alarm of the machine is suppressed by design, and comes back after it.
    engine.sample(&sample(state, 1_700_000, Value::str("planned_stop")), 1_700_000, &mut out);
    assert_eq!(
        out.iter().map(|e| (e.transition.from, e.transition.to, e.transition.comment.as_str())).collect::<Vec<_>>(),
        [
            (S::Unacknowledged, S::ReturnedUnacknowledged, ""),
            (S::ReturnedUnacknowledged, S::Suppressed, "planned stop")
        ]
    );
    out.clear();
    engine.sample(&sample(state, 1_800_000, Value::str("running")), 1_800_000, &mut out);
    assert_eq!(states(&out), [("Machine down", state, S::Suppressed, S::ReturnedUnacknowledged)]);
}

#[test]
fn battery_alarms_follow_the_vehicle_kind_thresholds() {
    let mut battery = std::collections::BTreeMap::new();
    battery.insert(VehicleKind::Van, BatteryThresholds { low_percent: 40.0, critical_percent: 15.0 });
    let mut engine = Engine::new(Defaults { battery, ..Defaults::default() }.rules());
    let mut out = Vec::new();
    let (agv, van) = ("Fleet/AGV-01/Battery/SoC", "Fleet/VAN-01/Battery/SoC");
    engine.sample(&sample("Fleet/AGV-01/Kind", 0, Value::str("agv")), 0, &mut out);
    engine.sample(&sample("Fleet/VAN-01/Kind", 0, Value::str("van")), 0, &mut out);
    for (t, v) in [(0, 35.0), (10_000, 35.0)] {
        engine.sample(&sample(agv, t, Value::F64(v)), t, &mut out);
        engine.sample(&sample(van, t, Value::F64(v)), t, &mut out);
    }
    assert_eq!(states(&out), [("Battery low", van, S::Normal, S::Unacknowledged)], "AGV low is 25 %, van 40 %");
    assert_eq!(out[0].asset, "Fleet/VAN-01");
    assert_eq!(out[0].message, "SoC 35 %, limit 40 % (Road van)");
    out.clear();
    for (t, v) in [(20_000, 9.0), (30_000, 9.0)] {
        engine.sample(&sample(agv, t, Value::F64(v)), t, &mut out);
    }
    let rules: Vec<&str> = out.iter().map(|e| e.rule.as_str()).collect();
    assert_eq!(rules, ["Battery low", "Battery critical"]);
}

#[test]
fn gateway_offline_waits_for_its_delay_and_a_node_death_clears_with_new_values() {
    let mut engine = Engine::new(Defaults { gateway_offline_ms: 30_000, ..Defaults::default() }.rules());
    let mut out = Vec::new();
    engine.gateway("plant-mqtt", true, 0, &mut out);
    engine.gateway("plant-mqtt", false, 10_000, &mut out);
    engine.tick(60_000, &mut out);
    assert!(out.is_empty(), "back within 10 s");
    engine.gateway("plant-mqtt", true, 100_000, &mut out);
    engine.tick(130_000, &mut out);
    assert_eq!(states(&out), [("Gateway offline", "plant-mqtt", S::Normal, S::Unacknowledged)]);
    out.clear();
    engine.node_death("PlantA/Line1/", 200_000, &mut out);
    assert_eq!(states(&out), [("Node offline", "PlantA/Line1", S::Normal, S::Unacknowledged)]);
    out.clear();
    engine.sample(&sample("PlantA/Line2/Capper/Temperature", 201_000, Value::F64(1.0)), 201_000, &mut out);
    assert!(out.is_empty(), "another node");
    engine.sample(&sample("PlantA/Line1/Filler/Temperature", 202_000, Value::F64(1.0)), 202_000, &mut out);
    assert_eq!(states(&out), [("Node offline", "PlantA/Line1", S::Unacknowledged, S::ReturnedUnacknowledged)]);
}

#[test]
fn a_vehicle_that_stops_reporting_goes_stale_and_comes_back() {
    let mut engine = Engine::new(Defaults { vehicle_stale_ms: 30_000, ..Defaults::default() }.rules());
    let mut out = Vec::new();
    let lat = "Fleet/AGV-01/Position/Latitude";
    for t in [0, 1_000, 2_000] {
        engine.sample(&sample(lat, t, Value::F64(60.0)), t, &mut out);
        engine.tick(t, &mut out);
    }
    engine.tick(31_999, &mut out);
    assert!(out.is_empty());
    engine.tick(32_000, &mut out);
    assert_eq!(states(&out), [("Vehicle not reporting", lat, S::Normal, S::Unacknowledged)]);
    assert_eq!(out[0].transition.ts_ms, 32_000);
    out.clear();
    engine.sample(&sample(lat, 40_000, Value::F64(60.0)), 40_000, &mut out);
    assert_eq!(states(&out), [("Vehicle not reporting", lat, S::Unacknowledged, S::ReturnedUnacknowledged)]);
    // Parked, it sends no new position, but its battery still reports: it is not silent.
    out.clear();
    for t in (41_000..200_000).step_by(10_000) {
        engine.sample(&sample("Fleet/AGV-01/Battery/SoC", t, Value::F64(80.0)), t, &mut out);
        engine.tick(t, &mut out);
    }
    assert!(out.iter().all(|e| e.rule != "Vehicle not reporting"), "{out:?}");
}

#[test]
fn rate_of_change_over_a_window() {
    let rule = Rule {
        name: "Tank filling fast".into(),
        watch: Watch::Signal("Site/Tank1/Level".into()),
        condition: Condition::Rate { per_min: 5.0, window_ms: 60_000, limits: Limits::default() },
        priority: Priority::Medium,
    };
    let mut engine = Engine::new(vec![rule]);
    let mut out = Vec::new();
    // 2 units a minute for two minutes, then 10 a minute.
    for k in 0..=12 {
        let t = i64::from(k) * 10_000;
        engine.sample(&sample("Site/Tank1/Level", t, Value::F64(f64::from(k) * 2.0 / 6.0)), t, &mut out);
    }
    assert!(out.is_empty(), "{out:?}");
    let base = 4.0;
    for k in 1..=6 {
        let t = 120_000 + i64::from(k) * 10_000;
        engine.sample(&sample("Site/Tank1/Level", t, Value::F64(base + f64::from(k) * 10.0 / 6.0)), t, &mut out);
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].limit, Some(Limit::Hi));
    assert!(out[0].message.ends_with("/min above HI 5"), "{}", out[0].message);
}

#[test]
fn zone_and_oee_alarms() {
    let d = Defaults { zones: vec![("Loading dock".into(), true)], oee_window_ms: 3_600_000, ..Defaults::default() };
    let mut engine = Engine::new(d.rules());
    let mut out = Vec::new();
    engine.zone("Fleet/AGV-01", "Loading dock", true, 1_000, &mut out);
    engine.zone("Fleet/AGV-01", "Charging bay", true, 1_000, &mut out);
    assert_eq!(states(&out), [("Entered Loading dock", "Fleet/AGV-01", S::Normal, S::Unacknowledged)]);
    engine.zone("Fleet/AGV-01", "Loading dock", false, 5_000, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].transition.to, S::ReturnedUnacknowledged);
    out.clear();
    engine.oee("PlantA/Line1/Filler", 0, (0.40, 0.65, 1_800_000), &mut out);
    assert!(out.is_empty(), "not enough planned time yet");
    engine.oee("PlantA/Line1/Filler", 60_000, (0.40, 0.65, 3_600_000), &mut out);
    assert_eq!(states(&out), [("OEE below target", "PlantA/Line1/Filler", S::Normal, S::Unacknowledged)]);
    assert_eq!(out[0].message, "OEE 40 %, target 65 %");
}

#[test]
fn a_silence_alarm_restored_before_the_clock_ticks_counts_its_silence_from_the_first_tick() {
    let mut engine = Engine::new(Defaults { vehicle_stale_ms: 30_000, ..Defaults::default() }.rules());
    let lat = "Fleet/AGV-01/Position/Latitude";
    let state = Restored { active: false, acked: true, limit: None, out_of_service: false, shelved: None };
    assert!(engine.restore("Vehicle not reporting", lat, "Fleet/AGV-01", state, None));
    let mut out = Vec::new();
    // The first tick of a recorder taking the lead: no overflow, and not stale at once.
    engine.tick(1_000_000, &mut out);
    engine.tick(1_029_999, &mut out);
    assert!(out.is_empty(), "{out:?}");
    engine.tick(1_030_000, &mut out);
    assert_eq!(states(&out), [("Vehicle not reporting", lat, S::Normal, S::Unacknowledged)]);
}

#[test]
fn a_restored_alarm_ignores_replayed_data_and_picks_up_new_values() {
    let sig = "PlantA/Line1/Filler/Temperature";
    let rules = vec![limit_rule("Filler overtemp", sig, Limits { hi: Some(85.0), ..Limits::default() })];
    let mut engine = Engine::new(rules.clone());
    let state = Restored { active: true, acked: false, limit: Some(Limit::Hi), out_of_service: false, shelved: None };
    assert!(engine.restore("Filler overtemp", sig, "PlantA/Line1/Filler", state.clone(), Some((10_000, 90.0))));
    assert!(!engine.restore("Gone", sig, "x", state, None), "a rule no longer configured");
    let mut out = Vec::new();
    engine.sample(&sample(sig, 5_000, Value::F64(90.0)), 20_000, &mut out);
    engine.sample(&sample(sig, 10_000, Value::F64(90.0)), 20_000, &mut out);
    assert!(out.is_empty(), "replayed");
    assert_eq!(engine.alarm(0).map(Alarm::state), Some(S::Unacknowledged));
    engine.sample(&sample(sig, 11_000, Value::F64(80.0)), 20_000, &mut out);
    assert_eq!(states(&out), [("Filler overtemp", sig, S::Unacknowledged, S::ReturnedUnacknowledged)]);
}

#[test]
fn durations_read_as_people_say_them() {
    assert_eq!(duration(30_000), "30 s");
    assert_eq!(duration(600_000), "10 min");
    assert_eq!(duration(7_200_000), "2 h");
    assert_eq!(duration(1_500), "1.5 s");
    assert_eq!(asset_of("Line2.Capper.State"), (Arc::from("Line2.Capper"), Some("State")));
    assert_eq!(asset_of("site/line3/labeler/temperature").0.as_ref(), "site/line3/labeler");
}

#[test]
fn a_gateway_alarm_is_raised_among_all_the_default_rules() {
    let mut engine = Engine::new(Defaults::default().rules());
    let mut out = Vec::new();
    engine.sample(&sample("PlantA/Line1/Filler/State", 0, Value::str("running")), 0, &mut out);
    engine.gateway("plant", true, 1_000_000, &mut out);
    engine.tick(1_040_000, &mut out);
    assert_eq!(states(&out), [("Gateway offline", "plant", S::Normal, S::Unacknowledged)]);
}
