//! The simulated plant: lines of machines in series with buffers between them.
//!
//! Each line has a bottleneck (the second machine); machines upstream of it are a little faster and get blocked
//! when it stops, machines downstream are faster and run at its pace or starve. Machines fail at random with a
//! reason code, have changeovers followed by a short wait for the operator, stop for planned breaks, and reject a
//! small share of parts.

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

use crate::model::machine::metric;
use crate::model::{MachineState, Sample, SignalId, SignalMeta, Value, ValueKind};

/// Unplanned stop reasons: code, relative weight, shortest and longest duration in seconds.
const FAILURES: &[(&str, f64, f64, f64)] = &[
    ("JAM", 0.55, 20.0, 150.0),
    ("SENSOR_FAULT", 0.15, 120.0, 600.0),
    ("LOW_AIR_PRESSURE", 0.10, 180.0, 900.0),
    ("MOTOR_OVERLOAD", 0.08, 300.0, 1_500.0),
    ("OPERATOR_CALL", 0.12, 60.0, 300.0),
];

pub const CHANGEOVER: &str = "CHANGEOVER";

/// Machine names per line type; lines beyond these reuse them in turn.
const LINE_TYPES: &[[&str; 4]] = &[
    ["Depalletizer", "Filler", "Capper", "Labeler"],
    ["Mixer", "Extruder", "Cutter", "Wrapper"],
    ["Press", "Welder", "Painter", "Inspector"],
];

/// Seconds without an input part (or without room for an output part) before a machine reports starved (blocked).
const WAIT_BEFORE_STARVED_SECS: u32 = 5;
const BUFFER_CAPACITY: u32 = 40;
const AMBIENT_C: f64 = 24.0;

pub(super) struct Line {
    pub machines: Vec<Machine>,
    /// `buffers[i]` holds parts between machine `i` and `i + 1`.
    buffers: Vec<u32>,
}

pub(super) struct Machine {
    pub prefix: String,
    pub ideal_cycle_secs: f64,
    efficiency: f64,
    reject_rate: f64,
    mtbf_secs: f64,
    rng: ChaCha8Rng,
    pub state: MachineState,
    pub reason: String,
    /// Seconds left in a timed state (down, setup, waiting for the operator after setup).
    remaining_secs: f64,
    progress: f64,
    wait_secs: u32,
    pub total: i64,
    pub good: i64,
    pub reject: i64,
    pub temperature_c: f64,
    running_temp_c: f64,
    /// Counters go to zero at the start of the next second (shift start, or an injected reset).
    pub reset_pending: bool,
    emitted: Emitted,
}

/// What the outside world last heard, for report-by-exception.
#[derive(Default)]
struct Emitted {
    state: Option<MachineState>,
    reason: String,
    counts: (i64, i64, i64),
    counts_at_ms: i64,
    temperature_c: f64,
    temperature_at_ms: i64,
}

impl Line {
    pub fn new(site: &str, index: usize, machines_per_line: usize, seed: u64) -> Self {
        let names = LINE_TYPES[index % LINE_TYPES.len()];
        let line_name = format!("Line{}", index + 1);
        let mut line_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(index as u64 + 1));
        let bottleneck_cycle: f64 = line_rng.random_range(1.6..3.2);
        let machines = (0..machines_per_line)
            .map(|i| {
                let name = if i < names.len() { names[i].to_owned() } else { format!("Station{}", i + 1) };
                // Upstream of the bottleneck a little faster, downstream clearly faster (the "V-curve").
                let speed_margin = match i {
                    1 => 1.0,
                    0 => 0.92,
                    _ => 0.85,
                };
                let mut rng = ChaCha8Rng::seed_from_u64(line_rng.random());
                Machine {
                    prefix: format!("{site}/{line_name}/{name}"),
                    ideal_cycle_secs: (bottleneck_cycle * speed_margin * 100.0).round() / 100.0,
                    efficiency: rng.random_range(0.88..0.97),
                    reject_rate: rng.random_range(0.005..0.03),
                    mtbf_secs: rng.random_range(1_800.0..4_800.0),
                    running_temp_c: rng.random_range(55.0..75.0),
                    temperature_c: AMBIENT_C,
                    rng,
                    state: MachineState::Running,
                    reason: String::new(),
                    remaining_secs: 0.0,
                    progress: 0.0,
                    wait_secs: 0,
                    total: 0,
                    good: 0,
                    reject: 0,
                    reset_pending: false,
                    emitted: Emitted::default(),
                }
            })
            .collect();
        Self { machines, buffers: vec![BUFFER_CAPACITY / 2; machines_per_line.saturating_sub(1)] }
    }

    /// Gives every machine the counts it would have after `secs` of normal running (so the demo does not start
    /// at zero), and warms it up.
    pub fn prime(&mut self, secs: f64) {
        for m in &mut self.machines {
            let parts = (secs * 0.8 * m.efficiency / m.ideal_cycle_secs).floor();
            #[expect(clippy::cast_possible_truncation, reason = "a shift's parts fit i64")]
            let total = parts as i64;
            #[expect(clippy::cast_possible_truncation, reason = "rounded share of total")]
            let reject = (parts * m.reject_rate).round() as i64;
            m.total = total;
            m.reject = reject;
            m.good = total - reject;
            m.temperature_c = m.running_temp_c;
        }
    }

    /// Asks every machine to zero its counters at the start of the next second.
    pub fn reset_counts(&mut self) {
        for m in &mut self.machines {
            m.reset_pending = true;
        }
    }

    /// Advances one second and appends what changed. `in_break`: a planned break of the shift calendar.
    pub fn step(&mut self, ts_ms: i64, in_break: bool, out: &mut Vec<Sample>) {
        for m in &mut self.machines {
            m.apply_reset(ts_ms, out);
        }
        let n = self.machines.len();
        // Downstream first, so a part moved this second frees room for the machine upstream.
        for i in (0..n).rev() {
            let input = if i == 0 { None } else { Some(self.buffers[i - 1]) };
            let room = if i + 1 == n { None } else { Some(BUFFER_CAPACITY - self.buffers[i]) };
            let made = self.machines[i].step(in_break, input, room);
            if i > 0 {
                self.buffers[i - 1] -= made.taken;
            }
            if i + 1 < n {
                self.buffers[i] += made.passed;
            }
        }
        for m in &mut self.machines {
            m.report(ts_ms, out);
        }
    }
}

struct Made {
    taken: u32,
    passed: u32,
}

impl Machine {
    /// Zeroes the counters if a reset is pending, and reports the zeros at once, as a PLC publishes its reset.
    fn apply_reset(&mut self, ts_ms: i64, out: &mut Vec<Sample>) {
        if !std::mem::take(&mut self.reset_pending) {
            return;
        }
        self.total = 0;
        self.good = 0;
        self.reject = 0;
        self.emit_counts(ts_ms, out);
    }

    fn step(&mut self, in_break: bool, input: Option<u32>, room: Option<u32>) -> Made {
        const DT: f64 = 1.0;
        let nothing = Made { taken: 0, passed: 0 };
        self.temperature_c +=
            (self.target_temp_c() - self.temperature_c) * DT / 240.0 + self.rng.random_range(-0.05..0.05);

        if self.remaining_secs > 0.0 {
            // A repair or changeover keeps going through a break.
            self.remaining_secs -= DT;
            if self.remaining_secs <= 0.0 {
                if self.state == MachineState::Setup {
                    // After a changeover the line waits for the operator to start it.
                    self.set_state(MachineState::Idle, "");
                    self.remaining_secs = self.rng.random_range(45.0..180.0);
                } else {
                    self.set_state(MachineState::Running, "");
                }
            }
            return nothing;
        }
        if in_break {
            self.set_state(MachineState::PlannedStop, "BREAK");
            return nothing;
        }
        if self.rng.random_bool(DT / self.mtbf_secs) {
            let (reason, secs) = self.pick_failure();
            self.stop(MachineState::Down, reason, secs);
            return nothing;
        }
        if self.rng.random_bool(DT / (5.0 * 3_600.0)) {
            let secs = self.rng.random_range(480.0..1_200.0);
            self.stop(MachineState::Setup, CHANGEOVER, secs);
            return nothing;
        }

        self.progress += DT * self.efficiency * self.rng.random_range(0.95..1.05) / self.ideal_cycle_secs;
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "small positive")]
        let wanted = self.progress.floor() as u32;
        let possible = wanted.min(input.unwrap_or(u32::MAX)).min(room.unwrap_or(u32::MAX));
        if possible == 0 && (input == Some(0) || room == Some(0)) {
            self.progress = self.progress.min(0.99);
            self.wait_secs += 1;
            if self.wait_secs >= WAIT_BEFORE_STARVED_SECS {
                let waiting = if input == Some(0) { MachineState::Starved } else { MachineState::Blocked };
                self.set_state(waiting, "");
            }
            return nothing;
        }
        self.wait_secs = 0;
        self.set_state(MachineState::Running, "");
        self.progress -= f64::from(possible);
        let mut passed = 0;
        for _ in 0..possible {
            self.total += 1;
            if self.rng.random_bool(self.reject_rate) {
                self.reject += 1;
            } else {
                self.good += 1;
                passed += 1;
            }
        }
        Made { taken: possible, passed }
    }

    fn target_temp_c(&self) -> f64 {
        if self.state == MachineState::Running { self.running_temp_c } else { AMBIENT_C }
    }

    fn pick_failure(&mut self) -> (&'static str, f64) {
        let total: f64 = FAILURES.iter().map(|f| f.1).sum();
        let mut pick = self.rng.random_range(0.0..total);
        for &(code, weight, min, max) in FAILURES {
            if pick < weight {
                return (code, self.rng.random_range(min..max));
            }
            pick -= weight;
        }
        ("JAM", 60.0)
    }

    pub fn stop(&mut self, state: MachineState, reason: &str, secs: f64) {
        self.set_state(state, reason);
        self.remaining_secs = secs;
        self.progress = 0.0;
        self.wait_secs = 0;
    }

    fn set_state(&mut self, state: MachineState, reason: &str) {
        self.state = state;
        if self.reason != reason {
            reason.clone_into(&mut self.reason);
        }
    }

    fn emit_counts(&mut self, ts_ms: i64, out: &mut Vec<Sample>) {
        out.push(Sample::new(self.id(metric::COUNT_TOTAL), ts_ms, Value::I64(self.total)));
        out.push(Sample::new(self.id(metric::COUNT_GOOD), ts_ms, Value::I64(self.good)));
        out.push(Sample::new(self.id(metric::COUNT_REJECT), ts_ms, Value::I64(self.reject)));
        self.emitted.counts = (self.total, self.good, self.reject);
        self.emitted.counts_at_ms = ts_ms;
    }

    fn id(&self, metric: &str) -> SignalId {
        SignalId::from(format!("{}/{metric}", self.prefix))
    }

    pub fn meta(&self) -> Vec<SignalMeta> {
        let meta = |m: &str, kind, unit: Option<&str>| SignalMeta { id: self.id(m), kind, unit: unit.map(Into::into) };
        vec![
            meta(metric::STATE, ValueKind::String, None),
            meta(metric::REASON, ValueKind::String, None),
            meta(metric::COUNT_TOTAL, ValueKind::Int, Some("parts")),
            meta(metric::COUNT_GOOD, ValueKind::Int, Some("parts")),
            meta(metric::COUNT_REJECT, ValueKind::Int, Some("parts")),
            meta(metric::IDEAL_CYCLE_TIME, ValueKind::Float, Some("s")),
            meta(metric::TEMPERATURE, ValueKind::Float, Some("°C")),
        ]
    }

    /// Every value, as a birth carries them.
    pub fn snapshot(&mut self, ts_ms: i64, out: &mut Vec<Sample>) {
        out.push(Sample::new(self.id(metric::IDEAL_CYCLE_TIME), ts_ms, Value::F64(self.ideal_cycle_secs)));
        self.emitted = Emitted::default();
        self.report(ts_ms, out);
    }

    /// What changed since the last report: state and reason at once, counts at most every 2 s, temperature every 5 s.
    fn report(&mut self, ts_ms: i64, out: &mut Vec<Sample>) {
        let state_changed = self.emitted.state != Some(self.state) || self.emitted.reason != self.reason;
        if state_changed {
            out.push(Sample::new(self.id(metric::STATE), ts_ms, Value::str(self.state.as_str())));
            out.push(Sample::new(self.id(metric::REASON), ts_ms, Value::str(&self.reason)));
            self.emitted.state = Some(self.state);
            self.emitted.reason.clone_from(&self.reason);
        }
        let counts = (self.total, self.good, self.reject);
        let counts_due = ts_ms - self.emitted.counts_at_ms >= 2_000 || state_changed;
        if counts != self.emitted.counts && counts_due {
            self.emit_counts(ts_ms, out);
        }
        let temp = (self.temperature_c * 10.0).round() / 10.0;
        if ts_ms - self.emitted.temperature_at_ms >= 5_000 && (temp - self.emitted.temperature_c).abs() >= 0.1 {
            out.push(Sample::new(self.id(metric::TEMPERATURE), ts_ms, Value::F64(temp)));
            self.emitted.temperature_c = temp;
            self.emitted.temperature_at_ms = ts_ms;
        }
    }
}
