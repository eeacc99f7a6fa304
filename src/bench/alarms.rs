//! `watchfloor bench alarms`: the alarm engine as the history writer runs it — 10,000 rules (limits with deadband
//! and delays, rates of change, stale checks, plus the defaults) against 50,000 samples a second, ticked every
//! 250 ms like the writer's batches. The figure that matters is the share of one core it takes
//! (`cpu_fraction_of_one_core`, target < 0.5); the baseline is a hash map of the latest value per signal fed the
//! same samples in the same process.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::{median, print_result};
use crate::analytics::alarm::{Condition, Defaults, Engine, Limits, Rule, Watch};
use crate::cli::Format;
use crate::model::alarm::Priority;
use crate::model::{Sample, SignalId, Value};

const RULES: usize = 10_000;
const SAMPLES_PER_SEC: usize = 50_000;
const SECONDS: usize = 20;
const RUNS: usize = 5;
const T0_MS: i64 = super::T0_MS;

#[derive(Debug, Serialize)]
pub struct AlarmBenchResult {
    pub rules: usize,
    pub signals: usize,
    pub samples_per_sec: usize,
    pub data_seconds: usize,
    /// Engine time ÷ data time: the share of one core alarm evaluation takes at this rate (median of runs).
    pub cpu_fraction_of_one_core: f64,
    pub engine_ms_per_data_second: f64,
    /// A hash map of the latest value per signal, fed the same samples.
    pub baseline_ms_per_data_second: f64,
    pub ratio_vs_baseline: f64,
    /// Journal entries the run produced (alarms raised, escalated, cleared).
    pub transitions: usize,
    pub runs: usize,
}

fn rules(signals: &[SignalId]) -> Vec<Rule> {
    let mut rules = Defaults::default().rules();
    for (i, s) in signals.iter().enumerate().take(RULES) {
        let condition = match i % 20 {
            0 => Condition::Rate { per_min: 400.0, window_ms: 10_000, limits: Limits::default() },
            1 => Condition::Stale { after_ms: 5_000 },
            _ => Condition::Limit(Limits {
                hihi: Some(98.0),
                hi: Some(90.0),
                lo: Some(-90.0),
                lolo: Some(-98.0),
                deadband: 2.0,
                on_delay_ms: 1_000,
                off_delay_ms: 1_000,
            }),
        };
        rules.push(Rule {
            name: format!("Rule {i}"),
            watch: Watch::Signal(s.as_str().to_owned()),
            condition,
            priority: Priority::ALL[i % 4],
        });
    }
    rules
}

/// Each signal 5 times a second: a slow sine of its own phase with a little noise, so some cross their limits.
fn data(signals: &[SignalId]) -> Vec<Vec<Sample>> {
    let per_signal = SAMPLES_PER_SEC / signals.len();
    let step_ms = 1_000 / i64::try_from(per_signal).unwrap_or(1);
    let mut out = Vec::new();
    let mut noise: u64 = 0x2545_f491_4f6c_dd1d;
    for tick in 0..SECONDS * per_signal {
        let ts = T0_MS + i64::try_from(tick).unwrap_or(0) * step_ms;
        let mut batch = Vec::with_capacity(signals.len());
        for (i, id) in signals.iter().enumerate() {
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            #[expect(clippy::cast_precision_loss, reason = "small indices and a noise fraction")]
            let v = ((tick as f64) / 40.0 + i as f64).sin() * 95.0 + (noise % 1000) as f64 / 250.0;
            batch.push(Sample::new(id.clone(), ts, Value::F64(v)));
        }
        out.push(batch);
    }
    out
}

pub fn alarms(format: Format) -> anyhow::Result<()> {
    let signals: Vec<SignalId> =
        (0..RULES).map(|i| SignalId::new(format!("Bench/Area{}/M{i}/Temperature", i % 10))).collect();
    let rules = rules(&signals);
    eprintln!("bench alarms: {} rules, {SAMPLES_PER_SEC} samples/s for {SECONDS} s", rules.len());
    let data = data(&signals);
    let n: usize = data.iter().map(Vec::len).sum();
    let ticks_per_batch = data.len() / (SECONDS * 4); // a writer batch every 250 ms
    let (mut engine_ms, mut baseline_ms, mut transitions) = (Vec::new(), Vec::new(), 0);
    for _ in 0..RUNS {
        let mut latest: HashMap<Arc<str>, (i64, f64)> = HashMap::new();
        let start = Instant::now();
        for batch in &data {
            for s in batch {
                if let Some(v) = s.value.as_f64() {
                    latest.insert(Arc::from(s.signal.as_str()), (s.ts_ms, v));
                }
            }
        }
        baseline_ms.push(start.elapsed().as_secs_f64() * 1_000.0);
        std::hint::black_box(&latest);

        let mut engine = Engine::new(rules.clone());
        let mut out = Vec::new();
        let start = Instant::now();
        for (k, batch) in data.iter().enumerate() {
            let received = batch.first().map_or(T0_MS, |s| s.ts_ms);
            for s in batch {
                engine.sample(s, received, &mut out);
            }
            if ticks_per_batch > 0 && k % ticks_per_batch == ticks_per_batch - 1 {
                engine.tick(received, &mut out);
            }
        }
        engine_ms.push(start.elapsed().as_secs_f64() * 1_000.0);
        anyhow::ensure!(!out.is_empty(), "no alarm changed: the benchmark's data does not exercise the engine");
        transitions = out.len();
    }
    #[expect(clippy::cast_precision_loss, reason = "seconds of data")]
    let secs = SECONDS as f64;
    let (engine, baseline) = (median(engine_ms), median(baseline_ms));
    let result = AlarmBenchResult {
        rules: rules.len(),
        signals: signals.len(),
        samples_per_sec: n / SECONDS,
        data_seconds: SECONDS,
        cpu_fraction_of_one_core: engine / (secs * 1_000.0),
        engine_ms_per_data_second: engine / secs,
        baseline_ms_per_data_second: baseline / secs,
        ratio_vs_baseline: engine / baseline,
        transitions,
        runs: RUNS,
    };
    print_result(format, &result)
}
