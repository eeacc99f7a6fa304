//! Analytics over machine and vehicle data: the OEE engine ([`oee`]), the live shift tracker ([`OeeTracker`]),
//! the recompute of any range from the history cache ([`history`]), battery estimates ([`battery`]), geofence
//! crossings ([`geofence`]) and what a report says about each vehicle ([`fleet`]). The engines are pure; only
//! [`history`], [`fleet`] and [`report`] read SQLite.

pub mod alarm;
pub mod alarm_kpi;
pub mod annunciation;
pub mod battery;
pub mod fleet;
pub mod geofence;
pub mod history;
pub mod oee;
pub mod recording;
pub mod report;
pub mod report_html;
pub mod report_xlsx;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::asset::AssetModel;
use crate::model::{ShiftCalendar, ShiftInstance};
pub use oee::{Accumulator, Input, Losses, MachineOee, MachineParams, Oee, Segment, StopClass, StopEvent, Totals};

/// The period OEE is tracked over: a shift, or the time between two shifts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    /// The shift's name; empty between shifts.
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Period {
    /// The shift running at `ts_ms`, or the stretch until the next one starts (at most a day).
    pub fn at(calendar: &ShiftCalendar, ts_ms: i64) -> Self {
        if let Some(ShiftInstance { name, start_ms, end_ms, .. }) = calendar.shift_at(ts_ms) {
            return Self { name, start_ms, end_ms };
        }
        let next =
            calendar.instances_between(ts_ms, ts_ms + 24 * oee::HOUR_MS).into_iter().find(|s| s.start_ms > ts_ms);
        let end_ms = next.map_or(ts_ms + oee::HOUR_MS, |s| s.start_ms);
        Self { name: String::new(), start_ms: ts_ms, end_ms }
    }
}

/// OEE of the shift running now, per machine, updated as values arrive: each input is O(1), and reading a
/// machine at any instant costs one pass over its hours, so nothing rescans history per frame. At a shift change
/// every machine carries its state and counter baselines into the next shift; the finished shift is kept.
#[derive(Clone, Debug)]
pub struct OeeTracker {
    calendar: ShiftCalendar,
    assets: Arc<AssetModel>,
    period: Option<Period>,
    machines: BTreeMap<Arc<str>, Accumulator>,
    /// The shift before this one, as it ended.
    pub previous: Option<(Period, BTreeMap<Arc<str>, MachineOee>)>,
    /// Inputs since a seed from the cache was asked for, applied again on top of it.
    awaiting_seed: Option<Vec<(Arc<str>, i64, Input)>>,
}

/// Inputs kept while a seed is read; beyond this the seed is given up (the shift so far stays as seen live).
const SEED_BUFFER: usize = 1_000_000;

impl OeeTracker {
    pub fn new(calendar: ShiftCalendar, assets: Arc<AssetModel>) -> Self {
        Self { calendar, assets, period: None, machines: BTreeMap::new(), previous: None, awaiting_seed: None }
    }

    pub fn calendar(&self) -> &ShiftCalendar {
        &self.calendar
    }

    pub fn assets(&self) -> &AssetModel {
        &self.assets
    }

    pub fn period(&self) -> Option<&Period> {
        self.period.as_ref()
    }

    /// Moves to the period that holds `now_ms` (call once per frame, so a shift change shows without new data).
    pub fn tick(&mut self, now_ms: i64) {
        match &self.period {
            None => self.period = Some(Period::at(&self.calendar, now_ms)),
            Some(p) if now_ms >= p.end_ms => {
                let ended = p.clone();
                let next = Period::at(&self.calendar, now_ms.max(ended.end_ms));
                let scheduled = self.calendar.scheduled(next.start_ms, next.end_ms);
                let mut results = BTreeMap::new();
                for (id, acc) in &mut self.machines {
                    let carried = acc.carry_into(next.start_ms, next.end_ms, scheduled.clone());
                    results.insert(Arc::clone(id), acc.finish_range(None));
                    *acc = carried;
                }
                self.previous = Some((ended, results));
                self.period = Some(next);
            }
            Some(_) => {}
        }
    }

    /// Feeds one machine input (source time).
    pub fn push(&mut self, machine: &Arc<str>, ts_ms: i64, input: Input) {
        if let Some(buffer) = &mut self.awaiting_seed {
            if buffer.len() < SEED_BUFFER {
                buffer.push((Arc::clone(machine), ts_ms, input.clone()));
            } else {
                tracing::warn!("OEE: the shift so far could not be read from the cache in time; shown from now on");
                self.awaiting_seed = None;
            }
        }
        self.tick(ts_ms);
        let Some(period) = &self.period else { return };
        if !self.machines.contains_key(machine) {
            let scheduled = self.calendar.scheduled(period.start_ms, period.end_ms);
            let params = self.assets.params(machine);
            self.machines
                .insert(Arc::clone(machine), Accumulator::new(period.start_ms, period.end_ms, scheduled, params));
        }
        if let Some(acc) = self.machines.get_mut(machine) {
            acc.push(ts_ms, input);
        }
    }

    /// The machines seen this shift.
    pub fn machines(&self) -> impl Iterator<Item = &str> {
        self.machines.keys().map(AsRef::as_ref)
    }

    pub fn accumulator(&self, machine: &str) -> Option<&Accumulator> {
        self.machines.get(machine)
    }

    /// A machine's OEE for the current shift at `now_ms`.
    pub fn machine(&self, machine: &str, now_ms: i64) -> Option<MachineOee> {
        Some(self.machines.get(machine)?.read(now_ms))
    }

    /// Starts keeping inputs for [`Self::seed`].
    pub fn begin_seed(&mut self) {
        self.awaiting_seed = Some(Vec::new());
    }

    /// Replaces the current shift's accumulators with ones rebuilt from the history cache up to `until_ms` (at
    /// start, so a restart mid-shift does not lose the shift so far), then applies again the inputs from
    /// `until_ms` on that arrived meanwhile. Ignored if the shift changed in between.
    pub fn seed(&mut self, period: &Period, machines: BTreeMap<Arc<str>, Accumulator>, until_ms: i64) {
        let buffered = self.awaiting_seed.take().unwrap_or_default();
        if self.period.as_ref() != Some(period) {
            return;
        }
        let mut seeded = machines;
        for (id, ts, input) in buffered {
            if ts >= until_ms
                && let Some(acc) = seeded.get_mut(&id)
            {
                acc.push(ts, input);
            }
        }
        // Machines the cache did not know keep what was seen live.
        self.machines.extend(seeded);
    }
}

impl Default for OeeTracker {
    fn default() -> Self {
        Self::new(ShiftCalendar::default_three_shifts(jiff::tz::TimeZone::UTC), Arc::new(AssetModel::default()))
    }
}
