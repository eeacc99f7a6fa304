use std::collections::{HashMap, HashSet};

use super::*;
use crate::model::Value;

/// 2026-11-20 07:00 UTC = 09:00 in Helsinki, an hour into shift A, break at 10:00 local.
const START_MS: i64 = 1_795_158_000_000;
use crate::model::time::HOUR_MS;

fn run(seed: u64, until_ms: i64, step_ms: i64) -> Vec<Sample> {
    let mut sim = Simulator::new(SimConfig::demo(seed, START_MS));
    let (_, mut out) = sim.birth();
    let mut t = START_MS;
    while t < until_ms {
        t = (t + step_ms).min(until_ms);
        sim.step_to(t, &mut out);
    }
    out
}

fn metric_of(s: &Sample) -> &str {
    s.signal.as_str()
}

#[test]
fn same_seed_gives_the_same_samples_however_it_is_stepped() {
    let end = START_MS + HOUR_MS / 2;
    let a = run(7, end, 1_000);
    let b = run(7, end, 7_300);
    assert!(a.len() > 10_000, "half an hour of a plant and a fleet is busy: {}", a.len());
    assert_eq!(a, b);
    let c = run(8, end, 1_000);
    assert_ne!(a, c, "another seed gives another day");
}

#[test]
fn counts_never_decrease_except_on_a_reset() {
    // Across a shift change (14:00 local = 12:00 UTC), where counters reset.
    let samples = run(3, START_MS + 6 * HOUR_MS, 60_000);
    let mut last: HashMap<&str, i64> = HashMap::new();
    let mut resets = 0;
    for s in samples.iter().filter(|s| metric_of(s).contains("/Count/")) {
        let v = s.value.as_i64().expect("counts are integers");
        if let Some(prev) = last.insert(metric_of(s), v)
            && v < prev
        {
            assert_eq!(v, 0, "{} fell from {prev} to {v} without a reset", s.signal);
            resets += 1;
        }
    }
    assert!(resets >= 12, "every machine's counters reset at the shift change, saw {resets}");
}

#[test]
fn soc_stays_in_range_and_positions_in_bounds() {
    let mut sim = Simulator::new(SimConfig::demo(11, START_MS));
    let bounds = sim.bounds();
    let (_, mut out) = sim.birth();
    sim.step_to(START_MS + 10 * HOUR_MS, &mut out);
    let mut lat = HashMap::new();
    let mut n_soc = 0;
    for s in &out {
        let id = metric_of(s);
        if id.ends_with("/Battery/SoC") {
            let v = s.value.as_f64().expect("numeric SoC");
            assert!((0.0..=100.0).contains(&v), "{id} = {v}");
            n_soc += 1;
        } else if id.ends_with("/Position/Latitude") {
            lat.insert(id.trim_end_matches("/Position/Latitude").to_owned(), s.value.as_f64().expect("lat"));
        } else if id.ends_with("/Position/Longitude") {
            let prefix = id.trim_end_matches("/Position/Longitude");
            let la = lat[prefix];
            let lo = s.value.as_f64().expect("lon");
            assert!(bounds.contains(la, lo), "{prefix} at {la},{lo} outside {bounds:?}");
        }
    }
    assert!(n_soc > 1_000);
}

#[test]
fn the_plant_shows_every_kind_of_behaviour() {
    let samples = run(5, START_MS + 8 * HOUR_MS, 60_000);
    let mut states = HashSet::new();
    let mut reasons = HashSet::new();
    for s in &samples {
        let id = metric_of(s);
        if id.ends_with("/State") {
            states.insert(MachineState::parse(s.value.as_str().expect("string state")).expect("known state"));
        } else if id.ends_with("/Reason") {
            reasons.insert(s.value.as_str().expect("string reason").to_owned());
        }
    }
    for st in [
        MachineState::Running,
        MachineState::Down,
        MachineState::Starved,
        MachineState::Blocked,
        MachineState::Setup,
        MachineState::Idle,
        MachineState::PlannedStop,
    ] {
        assert!(states.contains(&st), "{st:?} never happened in 8 h: {states:?}");
    }
    assert!(reasons.contains("BREAK") && reasons.contains("JAM") && reasons.contains(plant::CHANGEOVER), "{reasons:?}");
    let machines: HashSet<_> = samples.iter().filter_map(|s| metric_of(s).strip_suffix("/State")).collect();
    assert_eq!(machines.len(), 12, "3 lines × 4 machines");
}

#[test]
fn the_fleet_moves_charges_and_drops_out() {
    let mut sim = Simulator::new(SimConfig::demo(9, START_MS));
    let (meta, mut out) = sim.birth();
    let kinds: HashSet<_> =
        out.iter().filter(|s| metric_of(s).ends_with("/Kind")).filter_map(|s| s.value.as_str()).collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(sim.vehicle_prefixes().len() >= 40);
    assert!(meta.iter().any(|m| m.id.as_str().ends_with("/Battery/SoC")));
    sim.step_to(START_MS + 6 * HOUR_MS, &mut out);
    let charging = out
        .iter()
        .filter(|s| metric_of(s).ends_with("/Battery/Charging") && s.value == Value::Bool(true))
        .map(metric_of)
        .collect::<HashSet<_>>();
    assert!(charging.len() >= 10, "vehicles go to chargers: {}", charging.len());
    // A dropout shows as a gap of more than 20 s between a moving vehicle's reports.
    let mut last_seen: HashMap<&str, i64> = HashMap::new();
    let mut gaps = 0;
    for s in out.iter().filter(|s| metric_of(s).ends_with("/Battery/SoC")) {
        if let Some(prev) = last_seen.insert(metric_of(s), s.ts_ms)
            && s.ts_ms - prev > 20_000
        {
            gaps += 1;
        }
    }
    assert!(gaps >= 3, "links drop out now and then: {gaps}");
}

#[test]
fn faults_show_up_as_a_real_feed_would_show_them() {
    let mut sim = Simulator::new(SimConfig::demo(2, START_MS));
    let _ = sim.birth();
    let mut out = Vec::new();
    sim.step_to(START_MS + 10_000, &mut out);

    sim.inject(&Fault::StopMachine { machine: "Filler".into(), secs: 600, reason: "TEST_STOP".into() })
        .expect("Filler exists");
    sim.inject(&Fault::CutComms { vehicle: "AGV-03".into(), secs: 120 }).expect("AGV-03 exists");
    sim.inject(&Fault::DrainBattery { vehicle: "PlantA/Fleet/VAN-02".into(), soc_percent: 4.0 })
        .expect("VAN-02 exists");
    assert!(sim.inject(&Fault::CutComms { vehicle: "AGV-99".into(), secs: 1 }).is_err());

    out.clear();
    sim.step_to(START_MS + 100_000, &mut out);
    let filler_states: Vec<_> =
        out.iter().filter(|s| metric_of(s) == "PlantA/Line1/Filler/State").map(|s| s.value.clone()).collect();
    assert_eq!(filler_states, vec![Value::str("down")]);
    assert!(out.iter().any(|s| metric_of(s) == "PlantA/Line1/Filler/Reason" && s.value == Value::str("TEST_STOP")));
    assert!(!out.iter().any(|s| metric_of(s).starts_with("PlantA/Fleet/AGV-03/")), "AGV-03 is silent");
    let van_soc = out
        .iter()
        .filter(|s| metric_of(s) == "PlantA/Fleet/VAN-02/Battery/SoC")
        .filter_map(|s| s.value.as_f64())
        .next_back()
        .expect("VAN-02 reports");
    assert!(van_soc < 5.0, "{van_soc}");

    out.clear();
    sim.step_to(START_MS + 200_000, &mut out);
    assert!(out.iter().any(|s| metric_of(s).starts_with("PlantA/Fleet/AGV-03/")), "AGV-03 is back");
}
