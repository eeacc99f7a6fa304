use super::*;
use crate::model::ShiftCalendar;
use MachineState::{Down, PlannedStop, Running, Setup};
use jiff::Timestamp;
use jiff::tz::TimeZone;

const MIN: i64 = 60_000;

fn ms(s: &str) -> i64 {
    s.parse::<Timestamp>().expect("valid timestamp").as_millisecond()
}

fn close(a: Option<f64>, b: f64) {
    let a = a.expect("a value");
    assert!((a - b).abs() < 1e-4, "{a} != {b}");
}

fn params(ict: f64) -> MachineParams {
    MachineParams { ideal_cycle_secs: Some(ict), ..MachineParams::default() }
}

/// The worked example of oee.com ("Calculate OEE"): an 8 h shift with two 15 min breaks and a 30 min meal,
/// 47 min down, ideal cycle 1.0 s, 19,271 parts of which 423 rejects. Published: A 88.81 %, P 86.11 %,
/// Q 97.80 %, OEE 74.79 %.
#[test]
fn published_worked_example() {
    let breaks = [(120, 135), (240, 270), (360, 375)];
    let mut scheduled = Vec::new();
    let mut cursor = 0;
    for (s, e) in breaks {
        scheduled.push((cursor * MIN, s * MIN));
        cursor = e;
    }
    scheduled.push((cursor * MIN, 480 * MIN));
    let mut inputs = vec![
        (0, Input::State(Running)),
        (0, Input::Total(0)),
        (0, Input::Reject(0)),
        (150 * MIN, Input::State(Down)),
        (150 * MIN, Input::Reason("MOTOR_OVERLOAD".into())),
        (197 * MIN, Input::State(Running)),
        (480 * MIN - 1, Input::Total(19_271)),
        (480 * MIN - 1, Input::Reject(423)),
    ];
    for (s, e) in breaks {
        inputs.push((s * MIN, Input::State(PlannedStop)));
        inputs.push((e * MIN, Input::State(Running)));
    }
    inputs.sort_by_key(|(ts, _)| *ts);
    let mut acc = Accumulator::new(0, 480 * MIN, scheduled, params(1.0));
    for (ts, input) in inputs {
        acc.push(ts, input);
    }
    assert_eq!(acc.late, 0);
    let r = acc.finish_range(None);
    let t = r.totals;
    assert_eq!(t.planned_ms, 420 * MIN);
    assert_eq!(t.run_ms(), 373 * MIN);
    assert_eq!((t.total, t.good), (19_271, 18_848));
    let oee = t.oee();
    close(oee.availability, 373.0 / 420.0);
    close(oee.performance, 19_271.0 / (373.0 * 60.0));
    close(oee.quality, 18_848.0 / 19_271.0);
    close(oee.oee, 0.7479);
    let stops = acc.stops();
    assert_eq!(stops.len(), 1);
    assert_eq!(
        (stops[0].class, stops[0].cause(), stops[0].in_range_ms),
        (StopClass::Unplanned, "MOTOR_OVERLOAD", 47 * MIN)
    );
    // The losses add up to the planned time not turned into good parts.
    let losses = t.losses();
    let sum: f64 = losses.as_array().iter().sum();
    assert!((sum - (420.0 * 60_000.0 - 18_848_000.0)).abs() < 1.0, "{sum}");
    assert!((losses.equipment_failure_ms - 47.0 * 60_000.0).abs() < 1e-6);
    assert!((losses.process_defects_ms - 423_000.0).abs() < 1e-6);
}

/// Stops shorter than the threshold lose performance, longer ones availability.
#[test]
fn small_stops_count_against_performance() {
    let mut acc = Accumulator::new(0, 60 * MIN, vec![(0, 60 * MIN)], params(1.0));
    acc.push(0, Input::State(Running));
    acc.push(10 * MIN, Input::State(Down));
    acc.push(10 * MIN + 90_000, Input::State(Running)); // 90 s: small
    acc.push(20 * MIN, Input::State(Down));
    acc.push(23 * MIN, Input::State(Running)); // 3 min: unplanned
    let t = acc.finish_range(None).totals;
    assert_eq!(t.small_stop_ms, 90_000);
    assert_eq!(t.unplanned_ms, 3 * MIN);
    assert_eq!(t.run_ms(), 57 * MIN);
    close(t.oee().availability, 57.0 / 60.0);
    let classes: Vec<StopClass> = acc.stops().iter().map(|s| s.class).collect();
    assert_eq!(classes, vec![StopClass::Small, StopClass::Unplanned]);
}

/// A stop open at the end of shift A lasts into B: its whole length (3 min) makes it unplanned in both shifts;
/// read live at the boundary it is still a small stop.
#[test]
fn stop_spanning_the_shift_boundary() {
    let (a_from, boundary, b_to) = (0, 60 * MIN, 120 * MIN);
    let mut a = Accumulator::new(a_from, boundary, vec![(a_from, boundary)], params(1.0));
    a.push(0, Input::State(Running));
    a.push(59 * MIN, Input::State(Down));
    // Live at the boundary: 1 min old, provisionally small.
    assert_eq!(a.read(boundary).totals.small_stop_ms, MIN);
    let mut b = a.carry_into(boundary, b_to, vec![(boundary, b_to)]);
    let a_done = a.finish_range(Some(62 * MIN)).totals;
    assert_eq!((a_done.unplanned_ms, a_done.small_stop_ms, a_done.planned_ms), (MIN, 0, 60 * MIN));
    b.push(62 * MIN, Input::State(Running));
    let b_done = b.finish_range(None).totals;
    assert_eq!((b_done.unplanned_ms, b_done.running_ms), (2 * MIN, 58 * MIN));
    assert_eq!(b.stops()[0].start_ms, 59 * MIN, "the stop keeps its real start");
    // A short one across the boundary stays small on both sides.
    let mut a = Accumulator::new(a_from, boundary, vec![(a_from, boundary)], params(1.0));
    a.push(0, Input::State(Running));
    a.push(boundary - 30_000, Input::State(Down));
    let mut b = a.carry_into(boundary, b_to, vec![(boundary, b_to)]);
    assert_eq!(a.finish_range(Some(boundary + 30_000)).totals.small_stop_ms, 30_000);
    b.push(boundary + 30_000, Input::State(Running));
    assert_eq!(b.finish_range(None).totals.small_stop_ms, 30_000);
}

/// Counter resets and wraps never count as negative production.
#[test]
fn counter_resets_and_wraps() {
    assert_eq!(counter_delta(100, 150), 50);
    assert_eq!(counter_delta(150, 20), 20, "a drop is a reset: 20 made since");
    assert_eq!(counter_delta(65_530, 10), 16, "16-bit wrap");
    assert_eq!(counter_delta(4_294_967_290, 4), 10, "32-bit wrap");
    assert_eq!(counter_delta(40_000, 10), 10, "far from a limit: a reset");
    let mut acc = Accumulator::new(0, 10 * MIN, vec![(0, 10 * MIN)], params(1.0));
    acc.push(0, Input::State(Running));
    for (i, v) in [100, 150, 20, 50].into_iter().enumerate() {
        acc.push(i64::try_from(i).expect("small") * MIN, Input::Total(v));
    }
    assert_eq!(acc.finish_range(None).totals.total, 100);
}

/// No data: excluded from planned time, reported, and parts counted across it left out.
#[test]
fn data_gaps_are_excluded_and_reported() {
    let mut acc = Accumulator::new(0, 60 * MIN, vec![(0, 60 * MIN)], params(1.0));
    acc.push(5 * MIN, Input::State(Running)); // nothing known for the first 5 min
    acc.push(5 * MIN, Input::Total(0));
    acc.push(10 * MIN, Input::Total(300));
    acc.push(20 * MIN, Input::NoData);
    acc.push(50 * MIN, Input::Total(2_400)); // 2,100 parts across the gap
    acc.push(59 * MIN, Input::Total(2_940));
    let t = acc.finish_range(None).totals;
    assert_eq!(t.no_data_ms, 5 * MIN + 30 * MIN);
    assert_eq!(t.planned_ms, 25 * MIN);
    assert_eq!(t.total, 300 + 540);
    assert_eq!(t.parts_in_gaps, 2_100);
    let segments = acc.segments_at(60 * MIN);
    let states: Vec<Option<MachineState>> = segments.iter().map(|s| s.state).collect();
    assert_eq!(states, vec![None, Some(Running), None, Some(Running)]);
}

/// Performance above 100 % is kept raw: the ideal cycle time is wrong, and that must show.
#[test]
fn performance_above_one_is_kept() {
    let mut acc = Accumulator::new(0, 10 * MIN, vec![(0, 10 * MIN)], params(2.0));
    acc.push(0, Input::State(Running));
    acc.push(0, Input::Total(0));
    acc.push(10 * MIN - 1, Input::Total(360)); // 360 × 2 s = 12 min of ideal time in 10 min
    let t = acc.finish_range(None).totals;
    close(t.oee().performance, 1.2);
    close(t.oee().oee, 1.2);
    assert!(t.losses().reduced_speed_ms.abs() < f64::EPSILON);
}

/// A night shift across midnight, and the DST night when it lasts 9 h.
#[test]
fn night_shift_across_midnight_and_dst() {
    let cal = ShiftCalendar::default_three_shifts(TimeZone::get("Europe/Helsinki").expect("tzdb"));
    for (night, hours) in [("2026-11-20T21:00:00Z", 8), ("2026-10-24T21:00:00Z", 9)] {
        let c = cal.shift_at(ms(night)).expect("shift C");
        assert_eq!(c.name, "C");
        let scheduled = cal.scheduled(c.start_ms, c.end_ms);
        let mut acc = Accumulator::new(c.start_ms, c.end_ms, scheduled, params(1.0));
        acc.push(c.start_ms - MIN, Input::State(Running));
        let t = acc.finish_range(None).totals;
        assert_eq!(c.end_ms - c.start_ms, hours * 60 * MIN);
        // Running through the break counts as production; the scheduled time excludes it.
        assert_eq!(t.planned_ms, hours * 60 * MIN);
        let mut acc = Accumulator::new(c.start_ms, c.end_ms, cal.scheduled(c.start_ms, c.end_ms), params(1.0));
        acc.push(c.start_ms, Input::State(Down));
        let t = acc.finish_range(None).totals;
        assert_eq!(t.unplanned_ms, hours * 60 * MIN - 30 * MIN, "down all night, less the break");
        let hourly = acc.read(c.end_ms).hourly;
        assert_eq!(hourly.len(), usize::try_from(hours).expect("small"));
    }
}

/// Line OEE is summed time and counts, not the mean of machine OEEs.
#[test]
fn line_oee_aggregates_times_and_counts() {
    let run = |down_min: i64, parts: i64| {
        let mut acc = Accumulator::new(0, 60 * MIN, vec![(0, 60 * MIN)], params(1.0));
        acc.push(0, Input::State(Down));
        acc.push(down_min * MIN, Input::State(Running));
        acc.push(0, Input::Total(0));
        acc.push(60 * MIN - 1, Input::Total(parts));
        acc.finish_range(None).totals
    };
    let (a, b) = (run(0, 3_600), run(30, 900));
    close(a.oee().oee, 1.0);
    close(b.oee().oee, 0.25);
    let mut line = a;
    line.add(&b);
    close(line.oee().oee, 4_500.0 / 7_200.0);
    close(line.oee().availability, 90.0 / 120.0);
}

/// Reading is pure and incremental: the read at t equals the same inputs finished at t.
#[test]
fn read_matches_a_range_closed_at_that_time() {
    let inputs = [
        (0, Input::State(Running)),
        (0, Input::Total(0)),
        (0, Input::Good(0)),
        (10 * MIN, Input::Total(500)),
        (10 * MIN, Input::Good(490)),
        (12 * MIN, Input::State(Setup)),
        (20 * MIN, Input::State(Running)),
        (21 * MIN, Input::Total(530)),
        (21 * MIN, Input::Good(505)),
    ];
    let mut live = Accumulator::new(0, 60 * MIN, vec![(0, 60 * MIN)], params(1.0));
    for (ts, input) in inputs.clone() {
        live.push(ts, input);
    }
    let at = 30 * MIN;
    let seen = live.read(at);
    assert_eq!(live.read(at), seen, "reading changes nothing");
    let mut closed = Accumulator::new(0, at, vec![(0, at)], params(1.0));
    for (ts, input) in inputs {
        closed.push(ts, input);
    }
    assert_eq!(closed.finish_range(None).totals, seen.totals);
    assert_eq!(seen.totals.setup_ms, 8 * MIN);
    assert_eq!(seen.totals.good, 505);
    close(seen.totals.oee().quality, 505.0 / 530.0);
}

/// Rejects right after a changeover are startup rejects.
#[test]
fn startup_rejects_follow_a_setup() {
    let mut acc = Accumulator::new(0, 60 * MIN, vec![(0, 60 * MIN)], params(1.0));
    acc.push(0, Input::State(Running));
    acc.push(0, Input::Total(0));
    acc.push(0, Input::Reject(0));
    acc.push(5 * MIN, Input::Reject(2));
    acc.push(10 * MIN, Input::State(Setup));
    acc.push(20 * MIN, Input::State(Running));
    acc.push(22 * MIN, Input::Reject(7)); // inside the 5 min window
    acc.push(40 * MIN, Input::Reject(8));
    acc.push(59 * MIN, Input::Total(2_000));
    let t = acc.finish_range(None).totals;
    assert_eq!((t.rejects(), t.startup_rejects), (8, 5));
    let l = t.losses();
    assert!((l.startup_rejects_ms - 5_000.0).abs() < 1e-6 && (l.process_defects_ms - 3_000.0).abs() < 1e-6);
}

#[test]
fn pareto_orders_causes_by_time() {
    let mut acc = Accumulator::new(0, 60 * MIN, vec![(0, 60 * MIN)], params(1.0));
    acc.push(0, Input::State(Running));
    for (start, len, reason) in [(5, 3, "JAM"), (15, 10, "SENSOR_FAULT"), (30, 4, "JAM"), (40, 1, "")] {
        acc.push(start * MIN, Input::Reason(reason.into()));
        acc.push(start * MIN, Input::State(Down));
        acc.push((start + len) * MIN, Input::State(Running));
    }
    let p = pareto(&acc.stops_at(60 * MIN));
    assert_eq!(p, vec![("SENSOR_FAULT".into(), 1, 10 * MIN), ("JAM".into(), 2, 7 * MIN), ("Down".into(), 1, MIN)]);
}
