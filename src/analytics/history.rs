//! OEE of any range, recomputed from the history cache with the same engine as the live tracker.
//!
//! States, reasons and ideal cycle times are read raw (they change rarely). Counters are read from the minute
//! rollups (first, last, min and max per minute) so a shift of 200 machines reads a few hundred thousand rows, not
//! millions; a minute that did not only rise (its min below its first value, or its max above its last) holds a
//! reset and is read raw, as are the partial minutes at the range's ends. Bad-quality values are left out, as in
//! the rollups.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::oee::{Accumulator, Input, MachineOee};
use crate::model::asset::AssetModel;
use crate::model::history::{HistoryRead, HistoryResult, Rollup, StoredSample};
use crate::model::machine::metric as mm;
use crate::model::{MachineState, ShiftCalendar, SignalId, Value, ValueKind};

use crate::model::time::MINUTE_MS;

const ENGINE_METRICS: [&str; 6] =
    [mm::STATE, mm::REASON, mm::COUNT_TOTAL, mm::COUNT_GOOD, mm::COUNT_REJECT, mm::IDEAL_CYCLE_TIME];

/// The input a machine metric's value gives the engine, if it is one the engine reads.
pub fn input_of(metric: &str, value: &Value) -> Option<Input> {
    match metric {
        mm::STATE => match value {
            Value::I64(code) => MachineState::from_code(*code),
            #[expect(clippy::cast_possible_truncation, reason = "a state code stored as REAL")]
            Value::F64(code) if code.fract() == 0.0 => MachineState::from_code(*code as i64),
            other => other.as_str().and_then(MachineState::parse),
        }
        .map(Input::State),
        mm::REASON => Some(Input::Reason(value.as_str().unwrap_or_default().to_owned())),
        mm::COUNT_TOTAL => value.as_i64().map(Input::Total),
        mm::COUNT_GOOD => value.as_i64().map(Input::Good),
        mm::COUNT_REJECT => value.as_i64().map(Input::Reject),
        mm::IDEAL_CYCLE_TIME => value.as_f64().map(Input::IdealCycle),
        _ => None,
    }
}

/// A machine found in the cache: its prefix and the stored signals of its metrics.
#[derive(Clone, Debug, Default)]
pub struct StoredMachine {
    pub prefix: String,
    /// The key of its first stored signal: machines sort by it in the order they were first seen (process order,
    /// as a gateway announces them).
    pub first_signal: i64,
    /// metric → (signal key, value kind)
    pub signals: BTreeMap<&'static str, (i64, ValueKind)>,
}

/// Machines in the cache: sources with a `State` signal (DOMAIN §2), plus signals config maps to a machine.
pub fn machines(history: &dyn HistoryRead, assets: &AssetModel) -> HistoryResult<Vec<StoredMachine>> {
    let mut found: BTreeMap<String, StoredMachine> = BTreeMap::new();
    for signal in history.signals()? {
        let (id, name, kind) = (signal.key, signal.name, signal.kind);
        let sid = SignalId::new(name.clone());
        let routed = assets.machine_metric(&sid).map(|(p, m)| (p.to_owned(), m));
        // Only what the engine reads (a temperature is a machine metric, but not an OEE input).
        if let Some((prefix, metric)) = routed.filter(|(_, m)| ENGINE_METRICS.contains(m)) {
            let m = found.entry(prefix.clone()).or_insert_with(|| StoredMachine {
                prefix,
                first_signal: id,
                ..StoredMachine::default()
            });
            m.signals.entry(metric).or_insert((id, kind));
        }
    }
    Ok(found.into_values().filter(|m| m.signals.contains_key(mm::STATE)).collect())
}

fn raw_good(
    history: &dyn HistoryRead,
    id: i64,
    kind: ValueKind,
    from_ms: i64,
    to_ms: i64,
) -> HistoryResult<Vec<StoredSample>> {
    if to_ms <= from_ms {
        return Ok(Vec::new());
    }
    history.raw(id, kind, (from_ms, to_ms), usize::MAX, true)
}

/// A counter's values in `[from_ms, to_ms)`: raw at the ends, minute rollups between.
fn counter_values(
    history: &dyn HistoryRead,
    id: i64,
    kind: ValueKind,
    from_ms: i64,
    to_ms: i64,
) -> HistoryResult<Vec<(i64, f64)>> {
    let first_full = (from_ms + MINUTE_MS - 1).div_euclid(MINUTE_MS) * MINUTE_MS;
    let last_full = to_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
    let num = |s: &StoredSample| s.value.as_f64().map(|v| (s.ts_ms, v));
    if last_full <= first_full {
        return Ok(raw_good(history, id, kind, from_ms, to_ms)?.iter().filter_map(num).collect());
    }
    let mut out: Vec<(i64, f64)> = raw_good(history, id, kind, from_ms, first_full)?.iter().filter_map(num).collect();
    let minutes = history.minutes(id, first_full, last_full)?;
    for Rollup { start_ms: start, min, max, first_ms, first, last_ms, last, .. } in minutes {
        // A counter that only rose in the minute starts at its min and ends at its max.
        if min < first || max > last {
            // A reset inside the minute: every value counts.
            out.extend(raw_good(history, id, kind, start, start + MINUTE_MS)?.iter().filter_map(num));
        } else {
            out.push((first_ms, first));
            if last_ms != first_ms {
                out.push((last_ms, last));
            }
        }
    }
    out.extend(raw_good(history, id, kind, last_full, to_ms)?.iter().filter_map(num));
    Ok(out)
}

/// Inputs in time order: (time, order at one instant, input).
type Inputs = Vec<(i64, u8, Input)>;

fn is_counter(metric: &str) -> bool {
    matches!(metric, mm::COUNT_TOTAL | mm::COUNT_GOOD | mm::COUNT_REJECT)
}

/// A counter's inputs over `[from_ms, to_ms)`: minute rollups inside, raw at the ends.
fn counter_inputs(
    history: &dyn HistoryRead,
    metric: &'static str,
    (id, kind): (i64, ValueKind),
    from_ms: i64,
    to_ms: i64,
) -> HistoryResult<Inputs> {
    #[expect(clippy::cast_possible_truncation, reason = "counters stored as REAL hold integers")]
    let inputs = counter_values(history, id, kind, from_ms, to_ms)?
        .into_iter()
        .filter_map(|(ts, v)| input_of(metric, &Value::I64(v.round() as i64)).map(|i| (ts, 1, i)))
        .collect();
    Ok(inputs)
}

/// One metric's inputs over a range, in time order: the value in force at its start, then the values in it (and
/// for the state, where data was missing).
struct MetricInputs {
    metric: &'static str,
    signal: (i64, ValueKind),
    inputs: Inputs,
}

/// A machine's inputs over `[from_ms, to_ms)` per metric, and when the state after `to_ms` first changed.
fn load_metric_inputs(
    history: &dyn HistoryRead,
    machine: &StoredMachine,
    from_ms: i64,
    to_ms: i64,
) -> HistoryResult<(Vec<MetricInputs>, Option<i64>)> {
    let mut out = Vec::with_capacity(machine.signals.len());
    let mut state_after: Option<i64> = None;
    for (&metric, &(id, kind)) in &machine.signals {
        let mut inputs: Inputs = Vec::new();
        if let Some(before) = history.last_before(id, kind, from_ms, true)?
            && let Some(input) = input_of(metric, &before.value)
        {
            inputs.push((before.ts_ms, 1, input));
        }
        if is_counter(metric) {
            inputs.extend(counter_inputs(history, metric, (id, kind), from_ms, to_ms)?);
        } else {
            for s in raw_good(history, id, kind, from_ms, to_ms)? {
                if let Some(input) = input_of(metric, &s.value) {
                    inputs.push((s.ts_ms, 1, input));
                }
            }
        }
        if metric == mm::STATE {
            // When the state at the end changed: a stop open at the end is classed by its whole length.
            let last = inputs.iter().rev().find_map(|(_, _, i)| match i {
                Input::State(s) => Some(*s),
                _ => None,
            });
            for gap in history.gaps(id, from_ms, to_ms)? {
                inputs.push((gap.start_ms, 0, Input::NoData));
            }
            let after = history.raw(id, kind, (to_ms, i64::MAX), 64, true)?;
            state_after = after.into_iter().find_map(|a| match input_of(metric, &a.value) {
                Some(Input::State(s)) if Some(s) != last => Some(a.ts_ms),
                _ => None,
            });
        }
        out.push(MetricInputs { metric, signal: (id, kind), inputs });
    }
    Ok((out, state_after))
}

/// The metrics' inputs merged in time order; at one instant a gap's start first, then values in metric order.
fn merge(lists: impl IntoIterator<Item = Inputs>) -> Inputs {
    let mut inputs: Inputs = lists.into_iter().flatten().collect();
    inputs.sort_by_key(|(ts, order, _)| (*ts, *order));
    inputs
}

/// A machine's inputs over `[from_ms, to_ms)` in time order (with the values in force at `from_ms`), and when the
/// state after `to_ms` first changed.
fn load_inputs(
    history: &dyn HistoryRead,
    machine: &StoredMachine,
    from_ms: i64,
    to_ms: i64,
) -> HistoryResult<(Inputs, Option<i64>)> {
    let (lists, state_after) = load_metric_inputs(history, machine, from_ms, to_ms)?;
    Ok((merge(lists.into_iter().map(|l| l.inputs)), state_after))
}

/// One machine's OEE over `[from_ms, to_ms)`, with the accumulator (stops, timeline) that produced it.
pub fn machine_range(
    history: &dyn HistoryRead,
    machine: &StoredMachine,
    assets: &AssetModel,
    calendar: &ShiftCalendar,
    from_ms: i64,
    to_ms: i64,
) -> HistoryResult<(Accumulator, MachineOee)> {
    let (inputs, state_after) = load_inputs(history, machine, from_ms, to_ms)?;
    let mut acc = Accumulator::new(from_ms, to_ms, calendar.scheduled(from_ms, to_ms), assets.params(&machine.prefix));
    for (ts, _, input) in inputs {
        acc.push(ts, input);
    }
    let result = acc.finish_range(state_after);
    Ok((acc, result))
}

/// Accumulators for the period `[period.start_ms, period.end_ms)` fed with what the cache holds up to `now_ms`
/// and left open, so live values continue them (the tracker's start after a restart mid-shift).
pub fn seed(
    history: &dyn HistoryRead,
    assets: &AssetModel,
    calendar: &ShiftCalendar,
    period: &super::Period,
    now_ms: i64,
) -> HistoryResult<BTreeMap<std::sync::Arc<str>, Accumulator>> {
    let scheduled = calendar.scheduled(period.start_ms, period.end_ms);
    let mut out = BTreeMap::new();
    for m in machines(history, assets)? {
        let (inputs, _) = load_inputs(history, &m, period.start_ms, now_ms.min(period.end_ms))?;
        let mut acc = Accumulator::new(period.start_ms, period.end_ms, scheduled.clone(), assets.params(&m.prefix));
        for (ts, _, input) in inputs {
            acc.push(ts, input);
        }
        out.insert(std::sync::Arc::from(m.prefix.as_str()), acc);
    }
    Ok(out)
}

/// Every machine's OEE over `[from_ms, to_ms)`.
pub fn recompute(
    history: &dyn HistoryRead,
    assets: &AssetModel,
    calendar: &ShiftCalendar,
    from_ms: i64,
    to_ms: i64,
) -> HistoryResult<Vec<(StoredMachine, Accumulator, MachineOee)>> {
    Ok(recompute_each(history, assets, calendar, (from_ms, to_ms), &mut |_, _| true)?.unwrap_or_default())
}

/// A recomputed machine: what the cache holds of it, its accumulator and its OEE.
pub type Recomputed = (StoredMachine, Accumulator, MachineOee);

/// [`recompute`] machine by machine: `step(done, of)` after each, and `None` once it returns `false` (cancelled).
pub fn recompute_each(
    history: &dyn HistoryRead,
    assets: &AssetModel,
    calendar: &ShiftCalendar,
    (from_ms, to_ms): (i64, i64),
    step: &mut dyn FnMut(u64, u64) -> bool,
) -> HistoryResult<Option<Vec<Recomputed>>> {
    let found = machines(history, assets)?;
    let of = u64::try_from(found.len()).unwrap_or(u64::MAX);
    let mut out = Vec::with_capacity(found.len());
    for (done, m) in (1..).zip(found) {
        let (acc, oee) = machine_range(history, &m, assets, calendar, from_ms, to_ms)?;
        out.push((m, acc, oee));
        if !step(done, of) {
            return Ok(None);
        }
    }
    Ok(Some(out))
}

/// How far apart (in data time) a shift replay keeps copies of each machine's accumulator.
const CHECKPOINT_MS: i64 = 15 * MINUTE_MS;

/// One machine of a [`ShiftReplay`].
struct MachineReplay {
    prefix: Arc<str>,
    metrics: Vec<MetricInputs>,
    /// Every metric's inputs merged, as [`seed`] feeds them.
    inputs: Inputs,
    /// (inputs fed, the accumulator after them), the first with none fed.
    checkpoints: Vec<(usize, Accumulator)>,
}

/// A shift's OEE inputs read once, so its OEE up to any instant is a copy of a nearby checkpoint fed with a few
/// minutes of inputs (review mode seeks with it) — the same result as [`seed`] at that instant, which reads the
/// cache from the shift's start each time.
///
/// Counters come from the minute rollups, so the minute an instant falls in is read raw from the cache, as
/// [`seed`] does.
pub struct ShiftReplay {
    pub period: super::Period,
    machines: Vec<MachineReplay>,
}

impl ShiftReplay {
    /// Reads the period's inputs up to `until_ms` (at most its end).
    pub fn load(
        history: &dyn HistoryRead,
        assets: &AssetModel,
        calendar: &ShiftCalendar,
        period: &super::Period,
        until_ms: i64,
    ) -> HistoryResult<Self> {
        let scheduled = calendar.scheduled(period.start_ms, period.end_ms);
        let mut out = Vec::new();
        for m in machines(history, assets)? {
            let (metrics, _) = load_metric_inputs(history, &m, period.start_ms, until_ms.min(period.end_ms))?;
            let inputs = merge(metrics.iter().map(|l| l.inputs.clone()));
            let mut acc = Accumulator::new(period.start_ms, period.end_ms, scheduled.clone(), assets.params(&m.prefix));
            let mut checkpoints = vec![(0, acc.clone())];
            let mut next = period.start_ms + CHECKPOINT_MS;
            for (i, (ts, _, input)) in inputs.iter().enumerate() {
                if *ts >= next {
                    checkpoints.push((i, acc.clone()));
                    next = (ts.div_euclid(CHECKPOINT_MS) + 1) * CHECKPOINT_MS;
                }
                acc.push(*ts, input.clone());
            }
            out.push(MachineReplay { prefix: Arc::from(m.prefix.as_str()), metrics, inputs, checkpoints });
        }
        Ok(Self { period: period.clone(), machines: out })
    }

    /// Every machine's accumulator fed with what the cache holds before `at_ms` and left open (as [`seed`] at
    /// `at_ms`), for an instant inside the period.
    pub fn at(&self, history: &dyn HistoryRead, at_ms: i64) -> HistoryResult<BTreeMap<Arc<str>, Accumulator>> {
        let at_ms = at_ms.clamp(self.period.start_ms, self.period.end_ms);
        // Whole minutes before this come from the rollups; the rest is read raw.
        let minute = at_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        let tail_from = minute.max(self.period.start_ms);
        let mut out = BTreeMap::new();
        for m in &self.machines {
            let end = m.inputs.partition_point(|(ts, _, _)| *ts < tail_from);
            let at = m.checkpoints.partition_point(|(i, _)| *i <= end).saturating_sub(1);
            let (fed, mut acc) = m.checkpoints[at].clone();
            for (ts, _, input) in &m.inputs[fed..end] {
                acc.push(*ts, input.clone());
            }
            let mut tail = Vec::with_capacity(m.metrics.len());
            for l in &m.metrics {
                if is_counter(l.metric) {
                    tail.push(counter_inputs(history, l.metric, l.signal, tail_from, at_ms)?);
                } else {
                    tail.push(l.inputs.iter().filter(|(ts, _, _)| (tail_from..at_ms).contains(ts)).cloned().collect());
                }
            }
            for (ts, _, input) in merge(tail) {
                acc.push(ts, input);
            }
            out.insert(Arc::clone(&m.prefix), acc);
        }
        Ok(out)
    }
}
