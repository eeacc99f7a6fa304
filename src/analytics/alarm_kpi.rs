//! Alarm-management KPIs over a time range, read from the alarm journal (ISA-18.2 / IEC 62682 and EEMUA 191,
//! DOMAIN §4). Pure: the caller queries the journal rows and the alarms standing now, and [`compute`] turns them
//! into [`Kpis`] in O(n log n).
//!
//! Every KPI counts *activations* (annunciations): the moments an alarm's condition came true. A journal row is
//! one when it goes from Normal or Returned-unacknowledged to Unacknowledged with the condition active, or when the
//! alarm is hidden (shelved, suppressed or out of service) and the row records that the condition came anyway
//! (`from == to`, comment `"active"`). Acknowledgements, shelving and escalations (`from == to` with another comment,
//! e.g. `"HIHI"`) are not activations. See [`JournalRow::is_activation`].
//!
//! - **Alarm rate**: activations per 10-minute bucket, buckets aligned to the start of the range (the last may be
//!   shorter). ISA-18.2 and EEMUA 191 aim for at most 1–2 per operator per 10 minutes; more than 10 is a flood.
//! - **Flood**: starts when the trailing 10-minute count of activations exceeds 10
//!   ([`FLOOD_START_PER_10_MIN`]) and ends at the first instant it is below 5 ([`FLOOD_END_PER_10_MIN`]). An
//!   activation leaves the trailing window exactly 10 minutes after it happened, so a flood usually ends between
//!   activations. The target is under 1 % of the time in flood.
//! - **Chattering**: an alarm that activates 3 or more times ([`CHATTER_COUNT`]) within 60 seconds
//!   ([`CHATTER_WINDOW_MS`]); deadbands and on/off delays are the cure.
//! - **Bad actors**: the 10 alarms that activated most often; in most plants they make up a large share of all
//!   activations, so fixing them pays most.
//! - **Stale alarms**: alarms continuously active for more than 24 hours ([`STALE_AFTER_MS`]) at the end of the range.
//! - **Priority mix**: activations per priority; a healthy mix is about 80 % low, 15 % medium and 5 % high.
//!
//! An alarm is identified by its rule and source. The range is half-open, `[from_ms, to_ms)`: rows outside it are
//! ignored, and activations before `from_ms` do not count in the trailing windows either. Fractions of nothing are
//! 0.0, never NaN.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::model::alarm::{AlarmState, AlarmView, JournalEntry, Limit, Priority};
use crate::model::history::{HistoryRead, HistoryResult};

/// A flood starts when the trailing 10-minute count reaches this (more than 10; ISA-18.2, EEMUA 191).
pub const FLOOD_START_PER_10_MIN: usize = 11;
/// A flood ends when the trailing 10-minute count falls below this (ISA-18.2).
pub const FLOOD_END_PER_10_MIN: usize = 5;
/// Activations within [`CHATTER_WINDOW_MS`] that make an alarm chattering.
pub const CHATTER_COUNT: usize = 3;
/// The window chattering is counted in; an activation leaves it exactly this long after it happened.
pub const CHATTER_WINDOW_MS: i64 = 60_000;
/// An alarm active for longer than this is stale (EEMUA 191).
pub const STALE_AFTER_MS: i64 = 24 * 3_600_000;
/// The length of a rate bucket and of the trailing flood window.
pub const TEN_MINUTES_MS: i64 = 600_000;
/// How many bad actors are reported.
pub const BAD_ACTOR_COUNT: usize = 10;

/// The journal comment of a condition that came while the alarm was hidden.
const HIDDEN_ACTIVATION_COMMENT: &str = "active";

/// One journal row as the KPIs read it.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalRow {
    /// The row's id in the journal; orders rows with the same time.
    pub id: i64,
    pub ts_ms: i64,
    pub rule: String,
    pub source: String,
    pub priority: Priority,
    pub from: AlarmState,
    pub to: AlarmState,
    pub comment: String,
    /// Whether the alarm's condition is active after this row.
    pub active: bool,
}

impl From<&JournalEntry> for JournalRow {
    fn from(e: &JournalEntry) -> Self {
        Self {
            id: e.id,
            ts_ms: e.ts_ms,
            rule: e.rule.clone(),
            source: e.source.clone(),
            priority: e.priority,
            from: e.from,
            to: e.to,
            comment: e.comment.clone(),
            active: e.active,
        }
    }
}

impl JournalRow {
    /// Whether this row is an annunciation: the alarm's condition came true (see the module docs).
    pub fn is_activation(&self) -> bool {
        match (self.from, self.to) {
            (AlarmState::Normal | AlarmState::ReturnedUnacknowledged, AlarmState::Unacknowledged) => self.active,
            (from, to) if from == to && is_hidden(from) => self.comment == HIDDEN_ACTIVATION_COMMENT,
            _ => false,
        }
    }
}

/// Whether an alarm in this state is hidden from the operator.
fn is_hidden(state: AlarmState) -> bool {
    matches!(state, AlarmState::Shelved | AlarmState::Suppressed | AlarmState::OutOfService)
}

pub use crate::model::history::Standing;

/// An alarm that activated [`CHATTER_COUNT`] or more times within [`CHATTER_WINDOW_MS`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Chattering {
    pub rule: String,
    pub source: String,
    /// The most activations within any [`CHATTER_WINDOW_MS`].
    pub max_in_window: usize,
    /// All its activations in the range.
    pub activations: usize,
}

/// One of the alarms that activated most often.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BadActor {
    pub rule: String,
    pub source: String,
    /// The priority of its latest activation in the range.
    #[serde(serialize_with = "serialize_priority")]
    pub priority: Priority,
    pub activations: usize,
    /// Its activations as a fraction of all activations in the range.
    pub share: f64,
}

/// The alarm-management KPIs of a range (see the module docs for what each one is).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Kpis {
    pub from_ms: i64,
    pub to_ms: i64,
    /// Activations in the range.
    pub activations: usize,
    /// Activations per 10-minute bucket from `from_ms`; the last bucket may be shorter.
    pub per_10_min: Vec<usize>,
    /// Activations per 10 minutes of the range: a shorter last bucket weighs by its length.
    pub mean_per_10_min: f64,
    /// The most activations in one bucket.
    pub max_per_10_min: usize,
    /// The fraction of buckets with more than 10 activations (the flood level).
    pub flood_bucket_fraction: f64,
    /// Flood periods as (start, end); a flood still on at `to_ms` ends there.
    pub floods: Vec<(i64, i64)>,
    /// Total time in flood.
    pub flood_ms: i64,
    /// Time in flood as a fraction of the range.
    pub flood_fraction: f64,
    /// The highest trailing 10-minute count of activations.
    pub peak_10_min: usize,
    /// Chattering alarms, the most activations within 60 s first (then the most activations, rule, source).
    pub chattering: Vec<Chattering>,
    /// At most [`BAD_ACTOR_COUNT`] alarms, the most activations first (ties by rule, then source).
    pub bad_actors: Vec<BadActor>,
    /// Alarms active for longer than [`STALE_AFTER_MS`] at `to_ms`, the oldest first.
    pub stale: Vec<Standing>,
    /// Activations per priority, every priority in [`Priority::ALL`] order.
    #[serde(serialize_with = "serialize_priority_mix")]
    pub priority_mix: Vec<(Priority, usize)>,
}

/// The activations of one alarm in the range, in time order.
struct AlarmActivations {
    /// The priority of the latest activation.
    priority: Priority,
    times_ms: Vec<i64>,
}

/// Computes the KPIs of `[from_ms, to_ms)` from journal rows in any order and the alarms standing at `to_ms`.
///
/// `per_10_min` holds one count per 10 minutes of the range, so the range should be bounded (a shift, a day, a
/// month); an empty or reversed range gives no buckets.
pub fn compute(rows: &[JournalRow], standing: &[Standing], from_ms: i64, to_ms: i64) -> Kpis {
    let mut activations: Vec<&JournalRow> =
        rows.iter().filter(|row| (from_ms..to_ms).contains(&row.ts_ms) && row.is_activation()).collect();
    activations.sort_unstable_by_key(|row| (row.ts_ms, row.id));
    let times_ms: Vec<i64> = activations.iter().map(|row| row.ts_ms).collect();

    let range_ms = to_ms.saturating_sub(from_ms).max(0);
    let per_10_min = buckets(&times_ms, from_ms, range_ms);
    let max_per_10_min = per_10_min.iter().copied().max().unwrap_or(0);
    let flood_buckets = per_10_min.iter().filter(|&&count| count >= FLOOD_START_PER_10_MIN).count();
    let (floods, peak_10_min) = floods(&times_ms, to_ms);
    let flood_ms = floods.iter().map(|(start, end)| end - start).sum();

    let mut by_alarm: BTreeMap<(&str, &str), AlarmActivations> = BTreeMap::new();
    let mut per_priority = [0_usize; Priority::ALL.len()];
    for row in &activations {
        let alarm = by_alarm
            .entry((row.rule.as_str(), row.source.as_str()))
            .or_insert_with(|| AlarmActivations { priority: row.priority, times_ms: Vec::new() });
        alarm.priority = row.priority;
        alarm.times_ms.push(row.ts_ms);
        per_priority[priority_index(row.priority)] += 1;
    }

    Kpis {
        from_ms,
        to_ms,
        activations: activations.len(),
        mean_per_10_min: if range_ms == 0 {
            0.0
        } else {
            f64_from_count(activations.len()) * f64_from_ms(TEN_MINUTES_MS) / f64_from_ms(range_ms)
        },
        max_per_10_min,
        flood_bucket_fraction: ratio(flood_buckets, per_10_min.len()),
        per_10_min,
        floods,
        flood_ms,
        flood_fraction: if range_ms == 0 { 0.0 } else { f64_from_ms(flood_ms) / f64_from_ms(range_ms) },
        peak_10_min,
        chattering: chattering(&by_alarm),
        bad_actors: bad_actors(&by_alarm, activations.len()),
        stale: stale(standing, to_ms),
        priority_mix: Priority::ALL.iter().zip(per_priority).map(|(&priority, count)| (priority, count)).collect(),
    }
}

/// Activations per 10-minute bucket of `range_ms` from `from_ms`; `times_ms` are all in the range.
fn buckets(times_ms: &[i64], from_ms: i64, range_ms: i64) -> Vec<usize> {
    let num_buckets = range_ms / TEN_MINUTES_MS + i64::from(range_ms % TEN_MINUTES_MS != 0);
    // Fails only on a 32-bit target for a range of tens of thousands of years.
    let mut per_bucket = vec![0; usize::try_from(num_buckets).unwrap_or(0)];
    for &ts_ms in times_ms {
        let index = usize::try_from(ts_ms.saturating_sub(from_ms) / TEN_MINUTES_MS).ok();
        if let Some(count) = index.and_then(|index| per_bucket.get_mut(index)) {
            *count += 1;
        }
    }
    per_bucket
}

/// The flood periods and the peak trailing 10-minute count, from activation times in order (all before `to_ms`).
///
/// The trailing count at instant `t` counts the activations in `(t − 10 min, t]`. It changes only when an
/// activation happens (+1) or leaves the window 10 minutes later (−1), so those instants are walked in order, both
/// lists being sorted; all changes at one instant apply before the count is read.
fn floods(times_ms: &[i64], to_ms: i64) -> (Vec<(i64, i64)>, usize) {
    let mut floods = Vec::new();
    let mut flood_start: Option<i64> = None;
    let mut peak = 0;
    let (mut entered, mut left) = (0, 0);
    while let Some(&oldest_ms) = times_ms.get(left) {
        let leave_ms = oldest_ms.saturating_add(TEN_MINUTES_MS);
        let instant = times_ms.get(entered).map_or(leave_ms, |&next_ms| next_ms.min(leave_ms));
        if instant >= to_ms {
            break;
        }
        while times_ms.get(entered) == Some(&instant) {
            entered += 1;
        }
        while times_ms.get(left).is_some_and(|&ts_ms| ts_ms.saturating_add(TEN_MINUTES_MS) == instant) {
            left += 1;
        }
        let count = entered - left;
        peak = peak.max(count);
        match flood_start {
            None if count >= FLOOD_START_PER_10_MIN => flood_start = Some(instant),
            Some(start) if count < FLOOD_END_PER_10_MIN => {
                floods.push((start, instant));
                flood_start = None;
            }
            _ => {}
        }
    }
    if let Some(start) = flood_start {
        floods.push((start, to_ms));
    }
    (floods, peak)
}

/// The alarms with [`CHATTER_COUNT`] or more activations within [`CHATTER_WINDOW_MS`], the worst first.
fn chattering(by_alarm: &BTreeMap<(&str, &str), AlarmActivations>) -> Vec<Chattering> {
    let mut chattering: Vec<Chattering> = by_alarm
        .iter()
        .filter_map(|(&(rule, source), alarm)| {
            let max_in_window = max_in_window(&alarm.times_ms, CHATTER_WINDOW_MS);
            (max_in_window >= CHATTER_COUNT).then(|| Chattering {
                rule: rule.to_owned(),
                source: source.to_owned(),
                max_in_window,
                activations: alarm.times_ms.len(),
            })
        })
        .collect();
    // Stable: equal ones stay in rule, then source order.
    chattering.sort_by_key(|alarm| (Reverse(alarm.max_in_window), Reverse(alarm.activations)));
    chattering
}

/// The most of `times_ms` (in order) within any window of `window_ms`, each time leaving it `window_ms` later.
fn max_in_window(times_ms: &[i64], window_ms: i64) -> usize {
    let mut most = 0;
    let mut first = 0;
    for (last, &ts_ms) in times_ms.iter().enumerate() {
        while times_ms.get(first).is_some_and(|&first_ms| ts_ms.saturating_sub(first_ms) >= window_ms) {
            first += 1;
        }
        most = most.max(last + 1 - first);
    }
    most
}

/// The [`BAD_ACTOR_COUNT`] alarms with the most activations, ties by rule then source.
fn bad_actors(by_alarm: &BTreeMap<(&str, &str), AlarmActivations>, total: usize) -> Vec<BadActor> {
    let mut counts: Vec<(&(&str, &str), &AlarmActivations)> = by_alarm.iter().collect();
    // Stable: equal counts stay in rule, then source order.
    counts.sort_by_key(|(_, alarm)| Reverse(alarm.times_ms.len()));
    counts
        .into_iter()
        .take(BAD_ACTOR_COUNT)
        .map(|(&(rule, source), alarm)| BadActor {
            rule: rule.to_owned(),
            source: source.to_owned(),
            priority: alarm.priority,
            activations: alarm.times_ms.len(),
            share: ratio(alarm.times_ms.len(), total),
        })
        .collect()
}

/// The standing alarms active for longer than [`STALE_AFTER_MS`] at `to_ms`, the oldest first.
fn stale(standing: &[Standing], to_ms: i64) -> Vec<Standing> {
    let mut stale: Vec<Standing> =
        standing.iter().filter(|alarm| to_ms.saturating_sub(alarm.active_since_ms) > STALE_AFTER_MS).cloned().collect();
    stale.sort_by(|a, b| (a.active_since_ms, &a.rule, &a.source).cmp(&(b.active_since_ms, &b.rule, &b.source)));
    stale
}

/// The position of `priority` in [`Priority::ALL`].
fn priority_index(priority: Priority) -> usize {
    match priority {
        Priority::Urgent => 0,
        Priority::High => 1,
        Priority::Medium => 2,
        Priority::Low => 3,
    }
}

/// `numerator / denominator`, or 0.0 when the denominator is 0.
fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 { 0.0 } else { f64_from_count(numerator) / f64_from_count(denominator) }
}

/// A count as a float.
#[allow(clippy::cast_precision_loss)] // Exact below 2^53; counts of journal rows never get near.
fn f64_from_count(count: usize) -> f64 {
    count as f64
}

/// A duration in milliseconds as a float.
#[allow(clippy::cast_precision_loss)] // Exact below 2^53 ms, about 285 000 years.
fn f64_from_ms(ms: i64) -> f64 {
    ms as f64
}

fn serialize_priority<S: Serializer>(priority: &Priority, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(priority.label())
}

/// As a list of `[label, count]` pairs.
fn serialize_priority_mix<S: Serializer>(mix: &[(Priority, usize)], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(mix.iter().map(|(priority, count)| (priority.label(), count)))
}

/// The alarm KPIs of a range, from the journal.
pub fn kpis(history: &dyn HistoryRead, from_ms: i64, to_ms: i64) -> HistoryResult<Kpis> {
    // Flood detection looks 10 minutes back; rows before the range are read but not counted by `compute`.
    let rows: Vec<JournalRow> = history.journal(from_ms, to_ms, usize::MAX)?.iter().map(JournalRow::from).collect();
    let standing = history.standing(to_ms)?;
    Ok(compute(&rows, &standing, from_ms, to_ms))
}

/// The alarms that were not normal at `at_ms`, as the banner and the summary showed them then (for review): each
/// alarm's last journal entry at or before `at_ms`.
pub fn alarms_at(history: &dyn HistoryRead, at_ms: i64) -> HistoryResult<Vec<AlarmView>> {
    let last = history.journal_last_at(at_ms)?;
    let standing = history.standing(at_ms + 1)?;
    Ok(last
        .into_iter()
        .filter(|e| e.to != AlarmState::Normal)
        .enumerate()
        .map(|(index, e)| AlarmView {
            index,
            active_since_ms: standing
                .iter()
                .find(|s| s.rule == e.rule && s.source == e.source)
                .map(|s| s.active_since_ms)
                .or(Some(e.ts_ms)),
            rule: e.rule,
            source: e.source,
            asset: e.asset,
            priority: e.priority,
            state: e.to,
            active: e.active,
            shelved_until_ms: None,
            value: e.value,
            limit: e.limit.as_deref().and_then(Limit::parse),
            message: e.message,
        })
        .collect())
}

/// When alarms came in `[from_ms, to_ms)`, with their priority (the review timeline's markers).
pub fn activations(history: &dyn HistoryRead, from_ms: i64, to_ms: i64) -> HistoryResult<Vec<(i64, Priority)>> {
    Ok(history
        .journal(from_ms, to_ms, usize::MAX)?
        .iter()
        .filter(|e| JournalRow::from(*e).is_activation())
        .map(|e| (e.ts_ms, e.priority))
        .collect())
}

/// The KPIs as CSV for a spreadsheet: `kpi,rule,source,value` — the range's figures (no rule or source), then one
/// row per bad actor, chattering alarm and stale alarm.
pub fn write_csv(k: &Kpis, out: &mut dyn std::io::Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["kpi", "rule", "source", "value"])?;
    let mut figure = |kpi: &str, value: String| w.write_record([kpi, "", "", value.as_str()]);
    figure("activations", k.activations.to_string())?;
    figure("mean_per_10_min", format!("{:.2}", k.mean_per_10_min))?;
    figure("max_per_10_min", k.max_per_10_min.to_string())?;
    figure("peak_10_min", k.peak_10_min.to_string())?;
    figure("floods", k.floods.len().to_string())?;
    figure("flood_minutes", format!("{:.1}", k.flood_ms as f64 / 60_000.0))?;
    figure("flood_fraction", format!("{:.4}", k.flood_fraction))?;
    for (p, n) in &k.priority_mix {
        figure(&format!("priority_{}", p.label().to_lowercase()), n.to_string())?;
    }
    for b in &k.bad_actors {
        w.write_record(["bad_actor", &b.rule, &b.source, &b.activations.to_string()])?;
    }
    for c in &k.chattering {
        w.write_record(["chattering_max_in_60s", &c.rule, &c.source, &c.max_in_window.to_string()])?;
    }
    for s in &k.stale {
        w.write_record(["stale_since", &s.rule, &s.source, &crate::model::time::rfc3339(s.active_since_ms)])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::time::{HOUR_MS, MINUTE_MS};

    fn row(id: i64, ts_ms: i64, rule: &str, from: AlarmState, to: AlarmState, comment: &str) -> JournalRow {
        JournalRow {
            id,
            ts_ms,
            rule: rule.to_owned(),
            source: "line1".to_owned(),
            priority: Priority::Low,
            from,
            to,
            comment: comment.to_owned(),
            active: true,
        }
    }

    /// A Normal → Unacknowledged activation.
    fn activation(id: i64, ts_ms: i64, rule: &str, source: &str) -> JournalRow {
        JournalRow {
            source: source.to_owned(),
            ..row(id, ts_ms, rule, AlarmState::Normal, AlarmState::Unacknowledged, "")
        }
    }

    /// One activation of rule `r` at each time, ids in order.
    fn activations_at(times_ms: &[i64]) -> Vec<JournalRow> {
        times_ms.iter().zip(1..).map(|(&ts_ms, id)| activation(id, ts_ms, "r", "s")).collect()
    }

    #[test]
    fn activation_detection() {
        use AlarmState::{Acknowledged, Normal, OutOfService, ReturnedUnacknowledged, Shelved, Suppressed};
        let unack = AlarmState::Unacknowledged;
        assert!(row(1, 0, "r", Normal, unack, "").is_activation());
        assert!(row(1, 0, "r", ReturnedUnacknowledged, unack, "").is_activation());
        assert!(!JournalRow { active: false, ..row(1, 0, "r", Normal, unack, "") }.is_activation());
        assert!(!row(1, 0, "r", unack, Acknowledged, "").is_activation());
        assert!(!row(1, 0, "r", Acknowledged, Normal, "").is_activation());
        assert!(!row(1, 0, "r", Normal, Shelved, "shift change").is_activation());
        assert!(!row(1, 0, "r", Shelved, unack, "shelf time over").is_activation());
        for hidden in [Shelved, Suppressed, OutOfService] {
            assert!(row(1, 0, "r", hidden, hidden, "active").is_activation(), "{hidden:?}");
            assert!(!row(1, 0, "r", hidden, hidden, "HIHI").is_activation(), "{hidden:?}");
        }
        assert!(!row(1, 0, "r", unack, unack, "HIHI").is_activation());
        assert!(!row(1, 0, "r", Acknowledged, Acknowledged, "active").is_activation());
        // Journal rows that are not activations count nowhere.
        let kpis =
            compute(&[row(1, 0, "r", unack, Acknowledged, ""), row(2, 1, "r", unack, unack, "HIHI")], &[], 0, HOUR_MS);
        assert_eq!(kpis.activations, 0);
    }

    #[test]
    fn buckets_mean_and_max_per_10_min() {
        let mut times = vec![0, 9 * MINUTE_MS + 59_999]; // bucket 0
        times.extend((0..12).map(|i| 20 * MINUTE_MS + i * 1_000)); // bucket 2: 12, over the flood level
        times.push(30 * MINUTE_MS); // bucket 3, the half bucket, starts exactly here
        let kpis = compute(&activations_at(&times), &[], 0, 35 * MINUTE_MS);
        assert_eq!(kpis.per_10_min, vec![2, 0, 12, 1]);
        assert_eq!(kpis.activations, 15);
        assert_eq!(kpis.max_per_10_min, 12);
        // 15 activations in 3.5 ten-minute stretches.
        assert!((kpis.mean_per_10_min - 15.0 / 3.5).abs() < 1e-12, "{}", kpis.mean_per_10_min);
        assert!((kpis.flood_bucket_fraction - 0.25).abs() < 1e-12);

        // Buckets are aligned to `from_ms`, not to the clock.
        let kpis = compute(
            &activations_at(&[5 * MINUTE_MS, 14 * MINUTE_MS, 16 * MINUTE_MS]),
            &[],
            5 * MINUTE_MS,
            25 * MINUTE_MS,
        );
        assert_eq!(kpis.per_10_min, vec![2, 1]);
        assert!((kpis.mean_per_10_min - 1.5).abs() < 1e-12);
        assert!(kpis.flood_bucket_fraction.abs() < f64::EPSILON);
    }

    #[test]
    fn flood_starts_above_10_and_ends_below_5() {
        // 12 activations 25 s apart from minute 1: the last one at 335 s, all within 5 minutes.
        let times: Vec<i64> = (0..12).map(|i| MINUTE_MS + i * 25_000).collect();
        let kpis = compute(&activations_at(&times), &[], 0, 70 * MINUTE_MS);
        // The 11th (index 10) starts it: 60 s + 10 × 25 s.
        let start = 310_000;
        // The count falls to 11, 10, … as the first ones leave, 10 minutes after each; it is below 5 (4 left) once
        // the 8th (index 7, at 60 s + 7 × 25 s = 235 s) has left, at 835 s: between activations.
        let end = 835_000;
        assert_eq!(kpis.floods, vec![(start, end)]);
        assert_eq!(kpis.flood_ms, 525_000);
        assert_eq!(kpis.flood_fraction, 0.125); // 525 s of 4200 s, exact in binary
        assert_eq!(kpis.peak_10_min, 12);
        assert_eq!(kpis.per_10_min[0], 12);

        // Ten within 10 minutes are not a flood.
        let kpis = compute(&activations_at(&times[..10]), &[], 0, 70 * MINUTE_MS);
        assert!(kpis.floods.is_empty());
        assert_eq!((kpis.flood_ms, kpis.peak_10_min), (0, 10));
        assert_eq!(kpis.flood_fraction, 0.0);
    }

    #[test]
    fn flood_ends_at_to_ms_and_changes_at_one_instant_apply_together() {
        // 11 activations a minute apart from 0: the 11th at 10 min is the moment the first leaves, so the count stays 10.
        let times: Vec<i64> = (0..11).map(|i| i * MINUTE_MS).collect();
        let kpis = compute(&activations_at(&times), &[], 0, HOUR_MS);
        assert!(kpis.floods.is_empty());
        assert_eq!(kpis.peak_10_min, 10);

        // 11 in 11 s, and the range ends 5 s after the last one: the flood ends at `to_ms`.
        let times: Vec<i64> = (0..11).map(|i| 100_000 + i * 1_000).collect();
        let kpis = compute(&activations_at(&times), &[], 0, 115_000);
        assert_eq!(kpis.floods, vec![(110_000, 115_000)]);
        assert_eq!(kpis.flood_ms, 5_000);
        assert_eq!(kpis.flood_fraction, 5_000.0 / 115_000.0);

        // Two floods: the second starts after the first ended.
        let mut times: Vec<i64> = (0..11).map(|i| i * 1_000).collect();
        times.extend((0..11).map(|i| HOUR_MS + i * 1_000));
        let kpis = compute(&activations_at(&times), &[], 0, 2 * HOUR_MS);
        // The first ends when the 7th (at 6 s) leaves: 4 left.
        assert_eq!(kpis.floods, vec![(10_000, 606_000), (HOUR_MS + 10_000, HOUR_MS + 606_000)]);
        assert_eq!(kpis.flood_ms, 2 * 596_000);
    }

    #[test]
    fn chattering_needs_3_activations_within_60_s() {
        let mut rows = Vec::new();
        let mut id = 0;
        let mut add = |rule: &str, times_s: &[i64]| {
            for &ts_s in times_s {
                id += 1;
                rows.push(activation(id, ts_s * 1_000, rule, "s"));
                // The clear and acknowledgement in between are not activations.
                id += 1;
                rows.push(row(id, ts_s * 1_000 + 1, rule, AlarmState::Unacknowledged, AlarmState::Acknowledged, ""));
            }
        };
        add("in_50_s", &[0, 20, 50, 500]);
        add("in_70_s", &[0, 35, 70]);
        add("in_60_s", &[0, 30, 60]); // the first has left the window when the third comes
        add("five", &[1_000, 1_010, 1_020, 1_030, 1_040]);
        let kpis = compute(&rows, &[], 0, HOUR_MS);
        let found: Vec<(&str, usize, usize)> =
            kpis.chattering.iter().map(|c| (c.rule.as_str(), c.max_in_window, c.activations)).collect();
        assert_eq!(found, vec![("five", 5, 5), ("in_50_s", 3, 4)]);
        assert_eq!(kpis.activations, 4 + 3 + 3 + 5);
    }

    #[test]
    fn bad_actors_top_10_by_count_ties_by_rule_then_source() {
        let mut rows = Vec::new();
        let mut id = 0;
        let mut add = |rule: &str, source: &str, count: i64| {
            for i in 0..count {
                id += 1;
                rows.push(activation(id, id * 1_000 + i, rule, source));
            }
        };
        add("m", "x", 9);
        add("b", "x", 5);
        add("a", "y", 5);
        add("a", "x", 5);
        for (rule, count) in [("c", 8), ("d", 7), ("e", 6), ("f", 4), ("g", 3), ("h", 2), ("i", 1), ("j", 1)] {
            add(rule, "s", count);
        }
        // The latest activation's priority is reported.
        rows.push(JournalRow { priority: Priority::High, ..activation(1_000, 900_000, "m", "x") });
        let kpis = compute(&rows, &[], 0, HOUR_MS);
        let total = 10 + 15 + 8 + 7 + 6 + 4 + 3 + 2 + 1 + 1;
        assert_eq!(kpis.activations, total);
        let found: Vec<(&str, &str, usize)> =
            kpis.bad_actors.iter().map(|b| (b.rule.as_str(), b.source.as_str(), b.activations)).collect();
        assert_eq!(
            found,
            vec![
                ("m", "x", 10),
                ("c", "s", 8),
                ("d", "s", 7),
                ("e", "s", 6),
                ("a", "x", 5),
                ("a", "y", 5),
                ("b", "x", 5),
                ("f", "s", 4),
                ("g", "s", 3),
                ("h", "s", 2),
            ]
        );
        assert_eq!(kpis.bad_actors[0].priority, Priority::High);
        assert_eq!(kpis.bad_actors[1].priority, Priority::Low);
        assert_eq!(kpis.bad_actors[0].share, 10.0 / 57.0);
        let shares: f64 = kpis.bad_actors.iter().map(|b| b.share).sum();
        assert!(shares <= 1.0 && (shares - 55.0 / 57.0).abs() < 1e-12, "{shares}");
        assert_eq!(
            kpis.priority_mix,
            vec![(Priority::Urgent, 0), (Priority::High, 1), (Priority::Medium, 0), (Priority::Low, 56)]
        );
    }

    #[test]
    fn stale_alarms_are_active_for_more_than_24_h() {
        let to_ms = 100 * HOUR_MS;
        let standing = |rule: &str, hours_ago: i64| Standing {
            rule: rule.to_owned(),
            source: "s".to_owned(),
            priority: Priority::Medium,
            active_since_ms: to_ms - hours_ago * HOUR_MS,
        };
        let alarms =
            [standing("25h", 25), standing("23h", 23), standing("24h", 24), standing("30h", 30), standing("25h b", 25)];
        let kpis = compute(&[], &alarms, 0, to_ms);
        let found: Vec<&str> = kpis.stale.iter().map(|s| s.rule.as_str()).collect();
        assert_eq!(found, vec!["30h", "25h", "25h b"]);
        assert_eq!(kpis.stale[0], alarms[3]);
    }

    #[test]
    fn empty_input_gives_zeros() {
        let kpis = compute(&[], &[], 1_000, 1_000 + 25 * MINUTE_MS);
        assert_eq!(kpis.per_10_min, vec![0, 0, 0]);
        assert_eq!((kpis.activations, kpis.max_per_10_min, kpis.peak_10_min, kpis.flood_ms), (0, 0, 0, 0));
        assert_eq!((kpis.mean_per_10_min, kpis.flood_fraction, kpis.flood_bucket_fraction), (0.0, 0.0, 0.0));
        assert!(kpis.floods.is_empty() && kpis.chattering.is_empty() && kpis.bad_actors.is_empty());
        assert!(kpis.stale.is_empty());
        assert_eq!(kpis.priority_mix, Priority::ALL.iter().map(|&p| (p, 0)).collect::<Vec<_>>());

        // An empty or reversed range: nothing to divide by.
        for (from_ms, to_ms) in [(5_000, 5_000), (5_000, 0)] {
            let kpis = compute(&activations_at(&[5_000]), &[], from_ms, to_ms);
            assert!(kpis.per_10_min.is_empty());
            assert_eq!((kpis.activations, kpis.mean_per_10_min, kpis.flood_fraction), (0, 0.0, 0.0));
            assert_eq!(kpis.flood_bucket_fraction, 0.0);
        }
    }

    #[test]
    fn rows_out_of_order_and_outside_the_range() {
        let from_ms = HOUR_MS;
        let to_ms = 2 * HOUR_MS;
        let in_order: Vec<JournalRow> = (0..12).map(|i| activation(i, from_ms + i * 1_000, "r", "s")).collect();
        let mut shuffled = in_order.clone();
        shuffled.reverse();
        shuffled.swap(2, 9);
        // Outside the range: before `from_ms`, and at `to_ms` (the range is half-open).
        shuffled.push(activation(100, from_ms - 1, "r", "s"));
        shuffled.push(activation(101, to_ms, "r", "s"));
        shuffled.insert(3, activation(102, 0, "early", "s"));
        // Same time as an earlier one: the id decides which is later, so the priority is the later id's.
        shuffled.insert(
            0,
            JournalRow { priority: Priority::Urgent, ..activation(201, from_ms + 30 * MINUTE_MS, "t", "s") },
        );
        shuffled.insert(
            5,
            JournalRow { priority: Priority::Medium, ..activation(200, from_ms + 30 * MINUTE_MS, "t", "s") },
        );

        let kpis = compute(&shuffled, &[], from_ms, to_ms);
        let expected = compute(
            &[
                in_order,
                vec![
                    JournalRow { priority: Priority::Medium, ..activation(200, from_ms + 30 * MINUTE_MS, "t", "s") },
                    JournalRow { priority: Priority::Urgent, ..activation(201, from_ms + 30 * MINUTE_MS, "t", "s") },
                ],
            ]
            .concat(),
            &[],
            from_ms,
            to_ms,
        );
        assert_eq!(kpis, expected);
        assert_eq!(kpis.activations, 14);
        assert_eq!(kpis.per_10_min, vec![12, 0, 0, 2, 0, 0]);
        // The activation before `from_ms` is not in the trailing window: the flood starts at the 11th in range.
        assert_eq!(kpis.floods, vec![(from_ms + 10_000, from_ms + 607_000)]);
        let actor = |rule: &str| kpis.bad_actors.iter().find(|b| b.rule == rule).map(|b| (b.priority, b.activations));
        assert_eq!(actor("t"), Some((Priority::Urgent, 2)));
        assert_eq!(actor("early"), None);
        assert_eq!(actor("r"), Some((Priority::Low, 12)));
    }

    #[test]
    fn priorities_serialize_by_label() {
        let kpis = compute(
            &[JournalRow { priority: Priority::High, ..activation(1, 0, "r", "s") }],
            &[Standing {
                rule: "q".to_owned(),
                source: "s".to_owned(),
                priority: Priority::Urgent,
                active_since_ms: 0,
            }],
            0,
            30 * HOUR_MS,
        );
        let json = serde_json::to_value(&kpis).expect("KPIs serialize");
        assert_eq!(json["priority_mix"], serde_json::json!([["Urgent", 0], ["High", 1], ["Medium", 0], ["Low", 0]]));
        assert_eq!(json["bad_actors"][0]["priority"], "High");
        assert_eq!(json["stale"][0]["priority"], "Urgent");
    }
}
