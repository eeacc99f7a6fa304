//! The history seam: what every history backend (the local SQLite cache, the site's PostgreSQL) answers, in plain
//! domain types. Analytics (OEE recompute, reports, alarm KPIs, review) read through [`HistoryRead`] and never know
//! which backend holds the data; `store/` implements it for each.

use crate::model::alarm::{Alarm, AlarmView, Entry, JournalEntry, OperatorState, Priority, Restored};
use crate::model::{Quality, Sample, Value, ValueKind};

/// A stored signal with its backend key (a small integer: rows refer to it; keys grow in the order signals were
/// first stored, so machines and vehicles come back in their process order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSignal {
    pub key: i64,
    pub name: String,
    pub kind: ValueKind,
    pub unit: Option<String>,
    pub gateway: String,
}

/// One raw stored value.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSample {
    pub ts_ms: i64,
    pub value: Value,
    pub quality: Quality,
}

/// A stretch with no data from the source. `end_ms` is `None` while it lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    pub start_ms: i64,
    pub end_ms: Option<i64>,
}

/// One rollup row (a minute or an hour of one signal's good numeric values).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rollup {
    pub start_ms: i64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: i64,
    pub first_ms: i64,
    pub first: f64,
    pub last_ms: i64,
    pub last: f64,
}

impl Rollup {
    /// One value at `ts_ms` (its bucket's start is set by whoever buckets it).
    pub fn one(ts_ms: i64, v: f64) -> Self {
        Self { start_ms: ts_ms, min: v, max: v, sum: v, count: 1, first_ms: ts_ms, first: v, last_ms: ts_ms, last: v }
    }

    /// Takes in `o` (of the same bucket): on equal times the first value stays the one already here, the last
    /// becomes `o`'s.
    pub fn merge(&mut self, o: &Self) {
        self.start_ms = self.start_ms.min(o.start_ms);
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum += o.sum;
        self.count += o.count;
        if o.first_ms < self.first_ms {
            self.first_ms = o.first_ms;
            self.first = o.first;
        }
        if o.last_ms >= self.last_ms {
            self.last_ms = o.last_ms;
            self.last = o.last;
        }
    }
}

/// An alarm whose condition was active at some instant, with when it last came true.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Standing {
    pub rule: String,
    pub source: String,
    #[serde(serialize_with = "priority_label")]
    pub priority: Priority,
    /// When the condition last came true.
    pub active_since_ms: i64,
}

fn priority_label<S: serde::Serializer>(priority: &Priority, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(priority.label())
}

/// A history backend failed to answer (the message names the backend: a file or a database).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HistoryError(pub String);

pub type HistoryResult<T> = Result<T, HistoryError>;

/// The reads analytics makes of stored history. Ranges are `[from_ms, to_ms)`, results oldest first.
pub trait HistoryRead {
    /// Every stored signal, by key.
    fn signals(&self) -> HistoryResult<Vec<StoredSignal>>;
    /// Raw values of one signal, at most `limit`; without Bad ones when `good_only`.
    fn raw(
        &self,
        key: i64,
        kind: ValueKind,
        range: (i64, i64),
        limit: usize,
        good_only: bool,
    ) -> HistoryResult<Vec<StoredSample>>;
    /// The last value before `ts_ms`; without Bad ones when `good_only`.
    fn last_before(
        &self,
        key: i64,
        kind: ValueKind,
        ts_ms: i64,
        good_only: bool,
    ) -> HistoryResult<Option<StoredSample>>;
    /// Minute rollups starting in the range.
    fn minutes(&self, key: i64, from_ms: i64, to_ms: i64) -> HistoryResult<Vec<Rollup>>;
    /// Gaps overlapping the range.
    fn gaps(&self, key: i64, from_ms: i64, to_ms: i64) -> HistoryResult<Vec<Gap>>;
    /// The signal's last live value.
    fn latest(&self, key: i64, kind: ValueKind) -> HistoryResult<Option<StoredSample>>;
    /// The time of the newest live value of any signal.
    fn newest_ms(&self) -> HistoryResult<Option<i64>>;
    /// A vehicle's positions `(ts_ms, [lat, lon])`.
    fn fixes(&self, vehicle: &str, from_ms: i64, to_ms: i64) -> HistoryResult<Vec<(i64, [f64; 2])>>;
    /// When a vehicle's last position before `ts_ms` was.
    fn last_fix_before(&self, vehicle: &str, ts_ms: i64) -> HistoryResult<Option<i64>>;
    /// Alarm journal entries with `from_ms <= ts < to_ms` in time order; at most `limit` (the newest when cut).
    fn journal(&self, from_ms: i64, to_ms: i64, limit: usize) -> HistoryResult<Vec<JournalEntry>>;
    /// Journal entries stored after entry `after_id`, in the order they were stored (by id); at most `limit`. What
    /// follows the journal as it grows (the recorder's notifier) reads this: ids grow as entries are stored, while
    /// times may come late (a backfill's alarm carries its samples' time).
    fn journal_after(&self, after_id: i64, limit: usize) -> HistoryResult<Vec<JournalEntry>>;
    /// Each alarm's last journal entry at or before `at_ms`, in time order.
    fn journal_last_at(&self, at_ms: i64) -> HistoryResult<Vec<JournalEntry>>;
    /// The alarms whose condition was active just before `at_ms`.
    fn standing(&self, at_ms: i64) -> HistoryResult<Vec<Standing>>;
    /// The logbook's notes about any of `[from_ms, to_ms)`, in the order of what they are about.
    fn notes(&self, from_ms: i64, to_ms: i64) -> HistoryResult<Vec<crate::model::logbook::Note>>;
}

/// A debounced geofence crossing found in stored positions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneCrossing {
    pub ts_ms: i64,
    pub zone: std::sync::Arc<str>,
    pub enter: bool,
}

/// What a history writer derives from the values it stores and journals with them: alarm transitions (ISA-18.2)
/// and geofence crossings. Implemented by `analytics::recording::SiteEvaluator`; a backend only persists what comes
/// out. Every method appends the journal entries it causes to `out`.
pub trait Evaluator: Send {
    /// Whether any alarm rule is configured (without one, nothing is evaluated).
    fn has_rules(&self) -> bool;
    /// Puts an alarm back as its last journal entry left it, with its signal's newest stored value.
    fn restore(&mut self, rule: &str, source: &str, asset: &str, restored: Restored, seen: Option<(i64, f64)>);
    /// A good value as it arrives.
    fn sample(&mut self, sample: &Sample, received_ms: i64, out: &mut Vec<Entry>);
    /// A gateway lost (`true`) or back.
    fn gateway(&mut self, gateway: &str, lost: bool, ts_ms: i64, out: &mut Vec<Entry>);
    /// A node or device died: its signals are stale.
    fn node_death(&mut self, prefix: &str, ts_ms: i64, out: &mut Vec<Entry>);
    /// Whether any geofence is configured.
    fn has_geofences(&self) -> bool;
    /// A newly stored position of a vehicle (in time order per vehicle); its crossings go to `crossings`.
    fn position(
        &mut self,
        vehicle: &str,
        fix: (i64, f64, f64),
        crossings: &mut Vec<ZoneCrossing>,
        out: &mut Vec<Entry>,
    );
    /// The clock: delays, silent signals, shelves, and the OEE rules.
    fn tick(&mut self, now_ms: i64, out: &mut Vec<Entry>);
    /// An operator action on alarm instances, at `now_ms`.
    fn operator(&mut self, action: &OperatorAction, now_ms: i64, out: &mut Vec<Entry>);
    /// Every alarm that is not normal.
    fn views(&self) -> Vec<AlarmView>;
    /// Instance `index` as the window would show it, and its whole state (normal ones too).
    fn alarm_at(&self, index: usize) -> Option<(AlarmView, Alarm)> {
        let _ = index;
        None
    }
    /// Takes the operator's side of an alarm from the site database (another console acknowledged, shelved or
    /// took it out of service); nothing is journaled.
    fn operator_state(&mut self, rule: &str, source: &str, asset: &str, state: &OperatorState) {
        let _ = (rule, source, asset, state);
    }
}

/// What an operator does to alarms (by instance index), with who and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorAction {
    Acknowledge {
        indices: Vec<usize>,
        user: String,
        comment: String,
    },
    /// Shelved for a time from when the writer takes it.
    Shelve {
        indices: Vec<usize>,
        for_ms: i64,
        user: String,
        reason: String,
    },
    Unshelve {
        indices: Vec<usize>,
        user: String,
    },
    OutOfService {
        indices: Vec<usize>,
        out: bool,
        user: String,
        comment: String,
    },
}
