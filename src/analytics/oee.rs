//! The OEE engine (DOMAIN §3): one [`Accumulator`] per machine and range folds state changes and counter values,
//! in time order, into times, counts and stops. The live tracker and the store recompute feed the same code, so a
//! shift's OEE reads the same on the plant view and in `watchfloor report`.
//!
//! How time is classed, for each instant of the range:
//! - no data (before the first state, or while the source is stale or gone): excluded and reported, never counted
//!   as running or stopped;
//! - running: planned and run time, in or out of scheduled time (working through a break is production);
//! - planned stop: excluded from planned time;
//! - any other state, inside scheduled time (the shifts minus their breaks): planned time lost, as setup, as a small
//!   stop (shorter than the threshold: a performance loss, counted in run time) or as an unplanned stop
//!   (equipment failure: down, and also idle, starved or blocked for longer than the threshold). The whole stop's
//!   length decides, even where it crosses the range's ends. Outside scheduled time, stopped machines are not
//!   planned.
//!
//! Counters are read as deltas: a drop is a reset (the new value is what was made since), or a wrap when the old
//! value was near a 16, 31 or 32 bit limit and the new one small. Parts counted across a data gap are reported
//! and left out, since the time they took is unknown.

use crate::model::MachineState;

pub use crate::model::time::HOUR_MS;

pub use crate::model::asset::MachineParams;

/// One thing a machine reported, at a time.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    State(MachineState),
    Reason(String),
    Total(i64),
    Good(i64),
    Reject(i64),
    IdealCycle(f64),
    /// The source went stale or its link was lost: nothing is known until the next value.
    NoData,
}

/// How a stop counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopClass {
    /// Shorter than the small-stop threshold: counted in run time, lost as performance.
    Small,
    /// Down, idle, starved or blocked for longer than the threshold: lost as availability.
    Unplanned,
    /// Setup or changeover: lost as availability.
    Setup,
}

/// One stop of a machine.
#[derive(Clone, Debug, PartialEq)]
pub struct StopEvent {
    /// When the stop began (may be before the range).
    pub start_ms: i64,
    /// When it ended; `None` while it lasts.
    pub end_ms: Option<i64>,
    pub state: MachineState,
    pub reason: Option<String>,
    pub class: StopClass,
    /// Scheduled time it took inside the range.
    pub in_range_ms: i64,
}

impl StopEvent {
    /// The reason code, or the state's name when the machine gave none.
    pub fn cause(&self) -> &str {
        self.reason.as_deref().unwrap_or(self.state.label())
    }
}

/// What the machine was doing over a stretch of the range (for the state timeline).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start_ms: i64,
    pub end_ms: i64,
    /// `None`: no data.
    pub state: Option<MachineState>,
}

/// Times and counts of a machine, line or site over a range (or one hour of it). Times in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    /// Planned production time: running plus every stop in scheduled time, without planned stops and no-data time.
    pub planned_ms: i64,
    /// Time in the running state.
    pub running_ms: i64,
    pub small_stop_ms: i64,
    pub unplanned_ms: i64,
    pub setup_ms: i64,
    /// Scheduled time with nothing known (excluded from planned time).
    pub no_data_ms: i64,
    /// Time in the planned-stop state inside scheduled time (excluded from planned time).
    pub planned_stop_ms: i64,
    pub total: i64,
    pub good: i64,
    pub startup_rejects: i64,
    /// Parts counted across a data gap, left out of every figure.
    pub parts_in_gaps: i64,
    /// Ideal time of the parts made: Σ ideal cycle time × parts.
    pub ideal_ms: f64,
    /// Ideal time of the good parts.
    pub good_ideal_ms: f64,
}

/// The four OEE figures as fractions; `None` when there is nothing to divide by.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Oee {
    pub availability: Option<f64>,
    /// Raw: above 1.0 means the ideal cycle time is set too slow. Displays cap it.
    pub performance: Option<f64>,
    pub quality: Option<f64>,
    pub oee: Option<f64>,
}

/// The six big losses, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Losses {
    pub equipment_failure_ms: f64,
    pub setup_adjustment_ms: f64,
    pub small_stops_ms: f64,
    pub reduced_speed_ms: f64,
    pub process_defects_ms: f64,
    pub startup_rejects_ms: f64,
}

impl Losses {
    pub const NAMES: [&'static str; 6] = [
        "Equipment failure",
        "Setup and adjustment",
        "Small stops",
        "Reduced speed",
        "Process defects",
        "Startup rejects",
    ];

    pub fn as_array(&self) -> [f64; 6] {
        [
            self.equipment_failure_ms,
            self.setup_adjustment_ms,
            self.small_stops_ms,
            self.reduced_speed_ms,
            self.process_defects_ms,
            self.startup_rejects_ms,
        ]
    }
}

#[expect(clippy::cast_precision_loss, reason = "milliseconds and part counts well inside f64's exact range")]
fn f(v: i64) -> f64 {
    v as f64
}

impl MachineOee {
    pub fn oee(&self) -> Oee {
        self.totals.oee()
    }
}

impl Totals {
    /// Run time (DOMAIN §3): planned time minus availability losses; small stops are inside it.
    pub fn run_ms(&self) -> i64 {
        self.running_ms + self.small_stop_ms
    }

    pub fn rejects(&self) -> i64 {
        self.total - self.good
    }

    /// Adds another machine's (or hour's) totals: line and site figures come from summed times and counts, never
    /// from averaged percentages.
    pub fn add(&mut self, o: &Self) {
        self.planned_ms += o.planned_ms;
        self.running_ms += o.running_ms;
        self.small_stop_ms += o.small_stop_ms;
        self.unplanned_ms += o.unplanned_ms;
        self.setup_ms += o.setup_ms;
        self.no_data_ms += o.no_data_ms;
        self.planned_stop_ms += o.planned_stop_ms;
        self.total += o.total;
        self.good += o.good;
        self.startup_rejects += o.startup_rejects;
        self.parts_in_gaps += o.parts_in_gaps;
        self.ideal_ms += o.ideal_ms;
        self.good_ideal_ms += o.good_ideal_ms;
    }

    /// A, P, Q and OEE. Performance needs an ideal cycle time; quality needs parts. OEE is good parts' ideal time
    /// over planned time, so it is known (zero) even for a machine that made nothing.
    pub fn oee(&self) -> Oee {
        let planned = f(self.planned_ms);
        let run = f(self.run_ms());
        let availability = (self.planned_ms > 0).then(|| run / planned);
        let performance = (self.run_ms() > 0 && self.ideal_ms > 0.0).then(|| self.ideal_ms / run);
        let quality = (self.ideal_ms > 0.0)
            .then(|| self.good_ideal_ms / self.ideal_ms)
            .or_else(|| (self.total > 0).then(|| f(self.good) / f(self.total)));
        let oee =
            (self.planned_ms > 0 && (self.ideal_ms > 0.0 || self.total == 0)).then(|| self.good_ideal_ms / planned);
        Oee { availability, performance, quality, oee }
    }

    /// Where planned time went. Reduced speed is what remains of run time after small stops and the ideal time of
    /// the parts (zero when the machine ran faster than its ideal cycle).
    pub fn losses(&self) -> Losses {
        let reject_ideal = self.ideal_ms - self.good_ideal_ms;
        let rejects = self.rejects();
        let startup_share = if rejects > 0 { f(self.startup_rejects.min(rejects)) / f(rejects) } else { 0.0 };
        Losses {
            equipment_failure_ms: f(self.unplanned_ms),
            setup_adjustment_ms: f(self.setup_ms),
            small_stops_ms: f(self.small_stop_ms),
            reduced_speed_ms: (f(self.running_ms) - self.ideal_ms).max(0.0),
            process_defects_ms: reject_ideal * (1.0 - startup_share),
            startup_rejects_ms: reject_ideal * startup_share,
        }
    }
}

/// Counter delta: a rise is production; a drop is a wrap near a 16/31/32-bit limit, otherwise a reset.
pub fn counter_delta(prev: i64, now: i64) -> i64 {
    if now >= prev {
        return now - prev;
    }
    for limit in [1_i64 << 16, 1_i64 << 31, 1_i64 << 32] {
        if prev < limit && prev >= limit - limit / 10 && now < limit / 10 {
            return limit - prev + now;
        }
    }
    now
}

#[derive(Clone, Copy, Debug, Default)]
struct Counter {
    last: Option<i64>,
    /// The next delta spans a data gap.
    across_gap: bool,
}

impl Counter {
    /// The parts this value adds in the range, and the parts it adds across a data gap (left out). The first value
    /// only sets the baseline; values outside the range only move it.
    fn update(&mut self, value: i64, in_range: bool) -> (i64, i64) {
        let delta = self.last.map_or(0, |prev| counter_delta(prev, value));
        self.last = Some(value);
        let across_gap = std::mem::take(&mut self.across_gap);
        match (in_range, across_gap) {
            (false, _) => (0, 0),
            (true, true) => (0, delta),
            (true, false) => (delta, 0),
        }
    }
}

#[derive(Clone, Debug)]
struct OpenStop {
    start_ms: i64,
    state: MachineState,
    reason: Option<String>,
    /// Scheduled time so far, by hour bucket.
    pieces: Vec<(usize, i64)>,
}

/// Per-hour raw figures. Good and reject counts are derived when read (a machine reports good, reject or both),
/// and parts counted before an ideal cycle time was known get the current one.
#[derive(Clone, Copy, Debug, Default)]
struct Raw {
    times: Totals,
    good: i64,
    reject: i64,
    good_ideal_ms: f64,
    reject_ideal_ms: f64,
    unpriced: [i64; 3],
}

/// What the machine is doing over an accounted stretch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Condition {
    NoData,
    Running,
    PlannedStop,
    Stopped,
}

/// OEE of one machine over one range, fed in time order.
#[derive(Clone, Debug)]
pub struct Accumulator {
    pub from_ms: i64,
    pub to_ms: i64,
    params: MachineParams,
    /// Scheduled windows inside the range, sorted and disjoint.
    scheduled: Vec<(i64, i64)>,
    /// Everything before this instant is accounted.
    pos_ms: i64,
    state: Option<MachineState>,
    /// When the current state began (may be before the range).
    since_ms: i64,
    no_data: bool,
    reason: Option<String>,
    ideal_cycle_secs: Option<f64>,
    counters: [Counter; 3],
    has_good: bool,
    has_reject: bool,
    startup_until_ms: i64,
    open: Option<OpenStop>,
    buckets: Vec<Raw>,
    stops: Vec<StopEvent>,
    segments: Vec<Segment>,
    /// Inputs older than what was already accounted (applied at the current position).
    pub late: u64,
}

/// A read of an accumulator at an instant.
#[derive(Clone, Debug, PartialEq)]
pub struct MachineOee {
    pub totals: Totals,
    /// One per hour from the range start.
    pub hourly: Vec<Totals>,
    pub state: Option<MachineState>,
    pub since_ms: i64,
    pub reason: Option<String>,
    pub ideal_cycle_secs: Option<f64>,
}

fn is_stop(state: MachineState) -> bool {
    !matches!(state, MachineState::Running | MachineState::PlannedStop)
}

fn push_segment(segments: &mut Vec<Segment>, start_ms: i64, end_ms: i64, state: Option<MachineState>) {
    match segments.last_mut() {
        Some(last) if last.state == state && last.end_ms == start_ms => last.end_ms = end_ms,
        _ => segments.push(Segment { start_ms, end_ms, state }),
    }
}

const TOTAL: usize = 0;
const GOOD: usize = 1;
const REJECT: usize = 2;

impl Accumulator {
    pub fn new(from_ms: i64, to_ms: i64, scheduled: Vec<(i64, i64)>, params: MachineParams) -> Self {
        let to_ms = to_ms.max(from_ms);
        let hours = usize::try_from((to_ms - from_ms + HOUR_MS - 1) / HOUR_MS).unwrap_or(0).max(1);
        Self {
            from_ms,
            to_ms,
            params,
            scheduled,
            pos_ms: from_ms,
            state: None,
            since_ms: from_ms,
            no_data: true,
            reason: None,
            ideal_cycle_secs: params.ideal_cycle_secs,
            counters: [Counter::default(); 3],
            has_good: false,
            has_reject: false,
            startup_until_ms: i64::MIN,
            open: None,
            buckets: vec![Raw::default(); hours],
            stops: Vec::new(),
            segments: Vec::new(),
            late: 0,
        }
    }

    /// A new range that continues this one: the state and when it began, the reason, the ideal cycle time and the
    /// counter baselines carry over, so a stop that crosses a shift change keeps its full length.
    pub fn carry_into(&self, from_ms: i64, to_ms: i64, scheduled: Vec<(i64, i64)>) -> Self {
        let mut next = Self::new(from_ms, to_ms, scheduled, self.params);
        next.state = self.state;
        next.since_ms = self.since_ms;
        next.no_data = self.no_data;
        next.reason.clone_from(&self.reason);
        next.ideal_cycle_secs = self.ideal_cycle_secs;
        next.counters = self.counters;
        (next.has_good, next.has_reject) = (self.has_good, self.has_reject);
        next.startup_until_ms = self.startup_until_ms;
        next.open = self.open.as_ref().map(|o| OpenStop { pieces: Vec::new(), ..o.clone() });
        next
    }

    pub fn params(&self) -> MachineParams {
        self.params
    }

    /// The stops that ended, in time order.
    pub fn stops(&self) -> &[StopEvent] {
        &self.stops
    }

    /// Scheduled windows inside the range.
    pub fn scheduled(&self) -> &[(i64, i64)] {
        &self.scheduled
    }

    fn class_of(&self, state: MachineState, len_ms: i64) -> StopClass {
        if state == MachineState::Setup {
            StopClass::Setup
        } else if len_ms < self.params.small_stop_ms {
            StopClass::Small
        } else {
            StopClass::Unplanned
        }
    }

    fn bucket_of(&self, ts_ms: i64) -> usize {
        // Not `buckets.len()`: the buckets may be taken out while a span is added.
        let last = (self.to_ms - self.from_ms - 1).max(0) / HOUR_MS;
        usize::try_from(((ts_ms - self.from_ms).max(0) / HOUR_MS).min(last)).unwrap_or(0)
    }

    /// `[a, b)` cut at hour boundaries: (bucket, whole length, scheduled length) per piece.
    fn pieces(&self, a: i64, b: i64) -> Vec<(usize, i64, i64)> {
        let mut out = Vec::new();
        let mut x = a;
        while x < b {
            let bucket = self.bucket_of(x);
            let bucket_end = self.from_ms + (i64::try_from(bucket).unwrap_or(0) + 1) * HOUR_MS;
            let y = b.min(bucket_end);
            let first = self.scheduled.partition_point(|&(_, end)| end <= x);
            let scheduled: i64 = self.scheduled[first..]
                .iter()
                .take_while(|&&(start, _)| start < y)
                .map(|&(start, end)| end.min(y) - start.max(x))
                .sum();
            out.push((bucket, y - x, scheduled));
            x = y;
        }
        out
    }

    fn condition(&self) -> Condition {
        match self.state {
            _ if self.no_data => Condition::NoData,
            None => Condition::NoData,
            Some(MachineState::Running) => Condition::Running,
            Some(MachineState::PlannedStop) => Condition::PlannedStop,
            Some(_) => Condition::Stopped,
        }
    }

    /// Adds `[a, b)` to `buckets` in the current condition; returns the scheduled pieces of a stop.
    fn add_span(&self, buckets: &mut [Raw], a: i64, b: i64) -> Vec<(usize, i64)> {
        let cond = self.condition();
        let mut stop_pieces = Vec::new();
        for (bucket, whole, scheduled) in self.pieces(a, b) {
            let t = &mut buckets[bucket].times;
            match cond {
                Condition::NoData => t.no_data_ms += scheduled,
                Condition::Running => {
                    t.running_ms += whole;
                    t.planned_ms += whole;
                }
                Condition::PlannedStop => t.planned_stop_ms += scheduled,
                Condition::Stopped => {
                    t.planned_ms += scheduled;
                    if scheduled > 0 {
                        stop_pieces.push((bucket, scheduled));
                    }
                }
            }
        }
        stop_pieces
    }

    /// Accounts time up to `at` (capped at the range end).
    fn advance(&mut self, at: i64) {
        let end = at.min(self.to_ms);
        if end <= self.pos_ms {
            return;
        }
        let mut buckets = std::mem::take(&mut self.buckets);
        let pieces = self.add_span(&mut buckets, self.pos_ms, end);
        self.buckets = buckets;
        if let Some(open) = self.open.as_mut() {
            for (bucket, ms) in pieces {
                match open.pieces.last_mut() {
                    Some((b, sum)) if *b == bucket => *sum += ms,
                    _ => open.pieces.push((bucket, ms)),
                }
            }
        }
        let state = if self.no_data { None } else { self.state };
        push_segment(&mut self.segments, self.pos_ms, end, state);
        self.pos_ms = end;
    }

    fn add_stop_pieces(buckets: &mut [Raw], class: StopClass, pieces: &[(usize, i64)]) {
        for &(bucket, ms) in pieces {
            let t = &mut buckets[bucket].times;
            match class {
                StopClass::Small => t.small_stop_ms += ms,
                StopClass::Unplanned => t.unplanned_ms += ms,
                StopClass::Setup => t.setup_ms += ms,
            }
        }
    }

    fn close_stop(&mut self, end_ms: i64) {
        let Some(open) = self.open.take() else { return };
        let class = self.class_of(open.state, end_ms - open.start_ms);
        Self::add_stop_pieces(&mut self.buckets, class, &open.pieces);
        if class != StopClass::Small {
            self.startup_until_ms = end_ms + self.params.startup_window_ms;
        }
        let in_range_ms = open.pieces.iter().map(|(_, ms)| ms).sum();
        if in_range_ms > 0 {
            self.stops.push(StopEvent {
                start_ms: open.start_ms,
                end_ms: Some(end_ms),
                state: open.state,
                reason: open.reason,
                class,
                in_range_ms,
            });
        }
    }

    fn open_stop_for(&mut self, state: MachineState, start_ms: i64) {
        self.open =
            is_stop(state).then(|| OpenStop { start_ms, state, reason: self.reason.clone(), pieces: Vec::new() });
    }

    /// Applies one input at `ts_ms`. Inputs must come in time order; older ones are applied at the current position
    /// and counted as late. Inputs before the range set the starting state and counter baselines; inputs after
    /// the range only tell how long a stop open at its end lasted.
    pub fn push(&mut self, ts_ms: i64, input: Input) {
        if ts_ms < self.pos_ms && ts_ms >= self.from_ms {
            self.late += 1;
        }
        let at = ts_ms.max(self.pos_ms);
        self.advance(at);
        let in_range = ts_ms >= self.from_ms && ts_ms < self.to_ms;
        let is_data = matches!(input, Input::State(_) | Input::Total(_) | Input::Good(_) | Input::Reject(_));
        if is_data && self.no_data {
            self.no_data = false;
            if let Some(state) = self.state {
                // Data again: a stop starts afresh, since how long it lasted in the gap is unknown.
                self.since_ms = ts_ms;
                self.open_stop_for(state, ts_ms);
            }
        }
        match input {
            Input::State(state) => {
                if self.state != Some(state) || self.open.is_none() && is_stop(state) {
                    self.close_stop(ts_ms);
                    if self.state != Some(state) {
                        self.since_ms = ts_ms;
                        if state == MachineState::Running {
                            self.reason = None;
                        }
                    }
                    self.state = Some(state);
                    self.open_stop_for(state, self.since_ms);
                }
            }
            Input::Reason(reason) => {
                self.reason = Some(reason).filter(|r| !r.is_empty());
                if let (Some(open), Some(r)) = (self.open.as_mut(), self.reason.as_ref()) {
                    open.reason = Some(r.clone());
                }
            }
            Input::Total(v) => self.count(TOTAL, at, v, in_range),
            Input::Good(v) => {
                self.has_good = true;
                self.count(GOOD, at, v, in_range);
            }
            Input::Reject(v) => {
                self.has_reject = true;
                let before = self.buckets[self.bucket_of(at)].reject;
                self.count(REJECT, at, v, in_range);
                let added = self.buckets[self.bucket_of(at)].reject - before;
                if added > 0 && ts_ms < self.startup_until_ms {
                    let bucket = self.bucket_of(at);
                    self.buckets[bucket].times.startup_rejects += added;
                }
            }
            Input::IdealCycle(secs) => {
                if self.params.ideal_cycle_secs.is_none() && secs.is_finite() && secs > 0.0 {
                    self.ideal_cycle_secs = Some(secs);
                }
            }
            Input::NoData => {
                if !self.no_data {
                    self.close_stop(ts_ms);
                    self.no_data = true;
                    for c in &mut self.counters {
                        c.across_gap = c.last.is_some();
                    }
                }
            }
        }
    }

    fn count(&mut self, which: usize, at: i64, value: i64, in_range: bool) {
        let (delta, gap) = self.counters[which].update(value, in_range);
        let ict_ms = self.ideal_cycle_secs.map(|s| s * 1000.0);
        let bucket = self.bucket_of(at);
        let raw = &mut self.buckets[bucket];
        if which == TOTAL {
            raw.times.parts_in_gaps += gap;
        }
        if delta <= 0 {
            return;
        }
        match which {
            TOTAL => raw.times.total += delta,
            GOOD => raw.good += delta,
            _ => raw.reject += delta,
        }
        match ict_ms {
            Some(ict) => {
                let ideal = f(delta) * ict;
                match which {
                    TOTAL => raw.times.ideal_ms += ideal,
                    GOOD => raw.good_ideal_ms += ideal,
                    _ => raw.reject_ideal_ms += ideal,
                }
            }
            None => raw.unpriced[which] += delta,
        }
    }

    /// Derived totals of one bucket.
    fn finish(&self, raw: &Raw) -> Totals {
        let ict_ms = self.ideal_cycle_secs.map_or(0.0, |s| s * 1000.0);
        let mut t = raw.times;
        t.ideal_ms += f(raw.unpriced[TOTAL]) * ict_ms;
        let (good, good_ideal) = if self.has_good {
            (raw.good, raw.good_ideal_ms + f(raw.unpriced[GOOD]) * ict_ms)
        } else if self.has_reject {
            (t.total - raw.reject, t.ideal_ms - raw.reject_ideal_ms - f(raw.unpriced[REJECT]) * ict_ms)
        } else {
            (t.total, t.ideal_ms)
        };
        t.good = good.clamp(0, t.total);
        t.good_ideal_ms = good_ideal.clamp(0.0, t.ideal_ms);
        t
    }

    /// OEE at `now_ms`: everything accounted plus the stretch since the last input in the current state (an open
    /// stop classed by its length so far). Nothing is changed.
    pub fn read(&self, now_ms: i64) -> MachineOee {
        let mut buckets = self.buckets.clone();
        let end = now_ms.min(self.to_ms);
        let mut pieces = if end > self.pos_ms { self.add_span(&mut buckets, self.pos_ms, end) } else { Vec::new() };
        if let Some(open) = &self.open {
            pieces.extend_from_slice(&open.pieces);
            Self::add_stop_pieces(&mut buckets, self.class_of(open.state, now_ms - open.start_ms), &pieces);
        }
        let hourly: Vec<Totals> = buckets.iter().map(|raw| self.finish(raw)).collect();
        let mut totals = Totals::default();
        for h in &hourly {
            totals.add(h);
        }
        MachineOee {
            totals,
            hourly,
            state: if self.no_data { None } else { self.state },
            since_ms: self.since_ms,
            reason: self.reason.clone(),
            ideal_cycle_secs: self.ideal_cycle_secs,
        }
    }

    /// The open stop, classed by its length at `now_ms`.
    pub fn open_stop(&self, now_ms: i64) -> Option<StopEvent> {
        let open = self.open.as_ref()?;
        let end = now_ms.min(self.to_ms);
        let extra: i64 = if end > self.pos_ms { self.pieces(self.pos_ms, end).iter().map(|p| p.2).sum() } else { 0 };
        Some(StopEvent {
            start_ms: open.start_ms,
            end_ms: None,
            state: open.state,
            reason: open.reason.clone(),
            class: self.class_of(open.state, now_ms - open.start_ms),
            in_range_ms: open.pieces.iter().map(|(_, ms)| ms).sum::<i64>() + extra,
        })
    }

    /// Every stop up to `now_ms` that took scheduled time in the range, the open one last.
    pub fn stops_at(&self, now_ms: i64) -> Vec<StopEvent> {
        let mut stops = self.stops.clone();
        stops.extend(self.open_stop(now_ms).filter(|s| s.in_range_ms > 0));
        stops
    }

    /// The state timeline up to `now_ms`, inside the range.
    pub fn segments_at(&self, now_ms: i64) -> Vec<Segment> {
        let mut segments = self.segments.clone();
        let end = now_ms.min(self.to_ms);
        if end > self.pos_ms {
            push_segment(&mut segments, self.pos_ms, end, if self.no_data { None } else { self.state });
        }
        segments
    }

    /// Closes the range at its end: `next_change_ms`, when known, is when a stop open at the end really ended
    /// (its length decides small or unplanned).
    pub fn finish_range(&mut self, next_change_ms: Option<i64>) -> MachineOee {
        self.advance(self.to_ms);
        if self.open.is_some() {
            let end = next_change_ms.unwrap_or(self.to_ms).max(self.to_ms);
            self.close_stop(end);
        }
        self.read(self.to_ms)
    }
}

/// Stop time by cause (reason code, or state when there is none), longest first: the loss Pareto.
pub fn pareto(stops: &[StopEvent]) -> Vec<(String, usize, i64)> {
    let mut by_cause: Vec<(String, usize, i64)> = Vec::new();
    for s in stops {
        match by_cause.iter_mut().find(|(c, _, _)| c == s.cause()) {
            Some((_, n, ms)) => {
                *n += 1;
                *ms += s.in_range_ms;
            }
            None => by_cause.push((s.cause().to_owned(), 1, s.in_range_ms)),
        }
    }
    by_cause.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    by_cause
}

#[cfg(test)]
mod tests;
