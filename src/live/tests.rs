use super::*;
use crate::model::FeedStatus;
use crate::model::Quality;

const T0: i64 = 1_795_158_000_000;

fn event(ts: i64, samples: &[(&str, Value)]) -> FeedEvent {
    let batch = samples.iter().map(|(id, v)| Sample::new(SignalId::from(*id), ts, v.clone())).collect();
    FeedEvent::new(Arc::from("gw"), ts, FeedEventBody::Samples(batch))
}

fn status(ts: i64, state: FeedState) -> FeedEvent {
    FeedEvent::new(Arc::from("gw"), ts, FeedEventBody::Status(FeedStatus::new(state)))
}

#[test]
fn machine_state_from_names_and_codes() {
    let mut live = LiveState::default();
    live.apply(&status(T0, FeedState::Live));
    live.apply(&event(T0, &[("P/L1/Filler/State", Value::str("running"))]));
    live.apply(&event(
        T0 + 1_000,
        &[("Line2.Capper.State", Value::I64(5)), ("Line2.Capper.Reason", Value::str("JAM"))],
    ));
    let filler = &live.machines[&Arc::from("P/L1/Filler")];
    assert_eq!(filler.state, Some(MachineState::Running));
    assert_eq!(filler.path.line, "L1");
    let capper = &live.machines[&Arc::from("Line2.Capper")];
    assert_eq!(capper.state, Some(MachineState::Down));
    assert_eq!(capper.reason.as_deref(), Some("JAM"));
    assert_eq!(live.summary(T0).machines_down, 1);
}

#[test]
fn rate_counts_parts_in_the_last_minute_through_a_reset() {
    let mut live = LiveState::default();
    live.apply(&status(T0, FeedState::Live));
    let id = "P/L1/Filler/Count/Total";
    live.apply(&event(T0, &[("P/L1/Filler/State", Value::str("running")), (id, Value::I64(1_000))]));
    live.apply(&event(T0 + 20_000, &[(id, Value::I64(1_020))]));
    // The counter resets and counts 10 more.
    live.apply(&event(T0 + 40_000, &[(id, Value::I64(10))]));
    let m = &live.machines[&Arc::from("P/L1/Filler")];
    assert_eq!(m.rate_per_min(T0 + 5_000), None, "too soon to tell");
    // 30 parts in the 45 s watched so far.
    let rate = m.rate_per_min(T0 + 45_000).expect("known");
    assert!((rate - 40.0).abs() < 1e-9, "{rate}");
    assert!((m.rate_per_min(T0 + 60_000).expect("known") - 30.0).abs() < 1e-9);
    // Later only the 10 after the reset are in the window; later still, nothing.
    assert!((m.rate_per_min(T0 + 90_000).expect("known") - 10.0).abs() < 1e-9);
    assert!(m.rate_per_min(T0 + 200_000).expect("known").abs() < 1e-9);
}

#[test]
fn late_samples_do_not_replace_newer_values() {
    let mut live = LiveState::default();
    live.apply(&status(T0, FeedState::Live));
    live.apply(&event(T0 + 5_000, &[("a/b/c/Temperature", Value::F64(50.0))]));
    live.apply(&event(T0 + 1_000, &[("a/b/c/Temperature", Value::F64(10.0))]));
    assert_eq!(live.signals[&SignalId::from("a/b/c/Temperature")].last.value, Value::F64(50.0));
    assert_eq!(live.stats.late, 1);
}

#[test]
fn nan_and_far_future_samples_are_rejected_and_counted() {
    let mut live = LiveState::default();
    live.apply(&status(T0, FeedState::Live));
    live.apply(&event(T0, &[("x/Speed", Value::F64(f64::NAN)), ("x/Battery/SoC", Value::F64(50.0))]));
    let mut future = event(T0, &[("x/Battery/SoC", Value::F64(60.0))]);
    if let FeedEventBody::Samples(s) = &mut future.body {
        s[0].ts_ms = T0 + 3_600_000;
    }
    live.apply(&future);
    assert_eq!(live.stats.rejected, 2);
    let gw = &live.gateways[&Arc::from("gw")];
    assert_eq!(gw.rejected, 2);
    assert!(gw.recent_rejects[0].1.contains("not a finite number"));
    assert!(gw.recent_rejects[1].1.contains("ahead of arrival"));
    assert_eq!(live.vehicles[&Arc::from("x")].soc_percent, Some(50.0), "the valid value still flowed");
}

#[test]
fn a_vehicle_gets_a_fix_from_latitude_and_longitude_of_one_time() {
    let mut live = LiveState::default();
    live.apply(&status(T0, FeedState::Live));
    let prefix = "P/Fleet/AGV-01";
    live.apply(&event(
        T0,
        &[("P/Fleet/AGV-01/Kind", Value::str("agv")), ("P/Fleet/AGV-01/Position/Latitude", Value::F64(61.45))],
    ));
    assert!(live.vehicles[&Arc::from(prefix)].fix.is_none());
    live.apply(&event(
        T0,
        &[
            ("P/Fleet/AGV-01/Position/Longitude", Value::F64(23.84)),
            ("P/Fleet/AGV-01/Position/Heading", Value::F64(370.0)),
            ("P/Fleet/AGV-01/Speed", Value::F64(5.0)),
            ("P/Fleet/AGV-01/Battery/Temperature", Value::F64(30.0)),
        ],
    ));
    let v = &live.vehicles[&Arc::from(prefix)];
    let fix = v.fix.expect("fix");
    assert_eq!((fix.lat_deg, fix.lon_deg), (61.45, 23.84));
    assert!((fix.heading_deg - 10.0).abs() < 1e-9);
    assert_eq!(v.kind, VehicleKind::Agv);
    assert_eq!(v.battery_temp_c, Some(30.0));
    assert!(live.machines.is_empty(), "Battery/Temperature is not a machine's Temperature");
    assert_eq!(live.vehicle_status(v, T0 + 1_000), VehicleStatus::Moving);
    assert_eq!(live.vehicle_status(v, T0 + 31_000), VehicleStatus::Offline, "silent longer than the stale limit");
}

#[test]
fn a_lost_link_makes_everything_from_it_stale_until_new_values_arrive() {
    let mut live = LiveState::default();
    live.apply(&status(T0, FeedState::Live));
    live.apply(&event(T0, &[("P/L1/M/State", Value::str("running"))]));
    live.apply(&status(T0 + 1, FeedState::Offline));
    assert!(live.machines[&Arc::from("P/L1/M")].stale);
    assert!(live.signals[&SignalId::from("P/L1/M/State")].stale);
    live.apply(&event(T0 + 2, &[("P/L1/M/State", Value::str("down"))]));
    assert!(!live.machines[&Arc::from("P/L1/M")].stale);
}

#[test]
fn bad_quality_is_kept_and_shown() {
    let mut live = LiveState::default();
    live.apply(&status(T0, FeedState::Live));
    let mut e = event(T0, &[("a/Temperature", Value::F64(1.0))]);
    if let FeedEventBody::Samples(s) = &mut e.body {
        s[0].quality = Quality::Bad;
    }
    live.apply(&e);
    assert_eq!(live.signals[&SignalId::from("a/Temperature")].last.quality, Quality::Bad);
}
