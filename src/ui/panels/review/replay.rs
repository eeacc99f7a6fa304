//! The site at a past instant: a shift's inputs read once with checkpoints, so any instant's frame (values, OEE,
//! alarms standing) is read in milliseconds, off the UI thread.

use super::*;

pub(super) type Seed = std::collections::BTreeMap<Arc<str>, Accumulator>;
/// One seek's result.
pub struct Frame {
    pub at_ms: i64,
    pub values: Vec<(String, Sample)>,
    pub alarms: Vec<AlarmView>,
    pub oee: Option<(Period, Seed)>,
}
impl Frame {
    /// The site as the views read it: a live state built from the values, its OEE seeded up to the instant.
    pub fn into_site(self, settings: &LiveSettings) -> Site {
        let mut live = LiveState::replayed(settings.clone(), &self.values);
        live.oee.tick(self.at_ms);
        if let Some((period, seed)) = self.oee {
            live.oee.begin_seed();
            live.oee.seed(&period, seed, self.at_ms);
        }
        Site { at_ms: self.at_ms, live, alarms: self.alarms }
    }
}
/// One seek's result as the views show it.
pub struct Site {
    pub at_ms: i64,
    pub live: LiveState,
    pub alarms: Vec<AlarmView>,
}
/// What a review reads once and keeps for its seeks (on the reader thread): the shifts' OEE inputs, so a seek
/// reads only the minutes around `t`, and the list of stored signals.
#[derive(Clone, Default)]
pub struct Replays {
    pub(super) inner: Arc<ReplaysInner>,
}
#[derive(Default)]
pub(super) struct ReplaysInner {
    pub(super) shifts: Mutex<Vec<Arc<ShiftReplay>>>,
    /// Inputs are read up to here (the end of the reviewed range).
    pub(super) until_ms: i64,
    /// Every stored signal, and the machines' total counters among them.
    pub(super) signals: Mutex<Option<Signals>>,
}
pub(super) type Signals = (Arc<Vec<query::StoredSignal>>, Arc<Vec<query::StoredSignal>>);
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
impl Replays {
    /// Kept at once: the shift under the cursor and its neighbours.
    const KEEP: usize = 3;

    pub fn new(until_ms: i64) -> Self {
        Self { inner: Arc::new(ReplaysInner { until_ms, ..ReplaysInner::default() }) }
    }

    /// The replay of the shift at `at_ms`, read now when it is not yet.
    pub fn shift_at(
        &self,
        conn: &dyn crate::model::history::HistoryRead,
        settings: &LiveSettings,
        at_ms: i64,
    ) -> crate::model::history::HistoryResult<Arc<ShiftReplay>> {
        let period = Period::at(&settings.calendar, at_ms);
        let mut shifts = lock(&self.inner.shifts);
        if let Some(found) = shifts.iter().find(|r| r.period == period) {
            return Ok(Arc::clone(found));
        }
        let replay =
            Arc::new(ShiftReplay::load(conn, &settings.assets, &settings.calendar, &period, self.inner.until_ms)?);
        if shifts.len() >= Self::KEEP {
            shifts.remove(0);
        }
        shifts.push(Arc::clone(&replay));
        Ok(replay)
    }

    /// The stored signals, and the machines' total counters among them (their value a minute before `t` gives the
    /// parts per minute at `t`); read at the first seek (a signal first stored later has no value in the range).
    pub fn signals(&self, conn: &dyn HistoryBackend, settings: &LiveSettings) -> Result<Signals, crate::store::Error> {
        let mut signals = lock(&self.inner.signals);
        if let Some((all, counters)) = &*signals {
            return Ok((Arc::clone(all), Arc::clone(counters)));
        }
        let all = conn.stored_signals()?;
        let counters: Vec<query::StoredSignal> = all
            .iter()
            .filter(|s| {
                let metric = settings.assets.machine_metric(&s.name).map(|(_, m)| m);
                metric == Some(crate::model::machine::metric::COUNT_TOTAL)
            })
            .cloned()
            .collect();
        let read = (Arc::new(all), Arc::new(counters));
        *signals = Some((Arc::clone(&read.0), Arc::clone(&read.1)));
        Ok(read)
    }
}
/// Reads the site at `at_ms` (values, alarms, the shift's OEE up to then).
/// The site at `at_ms` from a cache, in one read transaction.
pub fn load_frame(
    conn: &rusqlite::Connection,
    settings: &LiveSettings,
    replays: &Replays,
    at_ms: i64,
) -> Result<Frame, crate::store::Error> {
    crate::store::in_snapshot(conn, |conn| frame_from(conn, settings, replays, at_ms))
}
/// The site at `at_ms` from a cache or from the site database (a console's review).
pub fn frame_from(
    conn: &dyn HistoryBackend,
    settings: &LiveSettings,
    replays: &Replays,
    at_ms: i64,
) -> Result<Frame, crate::store::Error> {
    let (signals, counters) = replays.signals(conn, settings)?;
    // The counters a minute before too, so the machines show their parts per minute at `t`.
    let before = at_ms - crate::live::RATE_WINDOW_MS;
    let mut values = conn.values_of(&counters, before, LOOKBACK_MS)?;
    values.extend(conn.values_of(&signals, at_ms, LOOKBACK_MS)?);
    // In time order, as they happened (the live state takes each signal's newest).
    values.sort_by_key(|(_, s)| s.ts_ms);
    let failed = |source| crate::store::Error::History { path: "history".into(), source };
    let history = conn.as_history();
    let alarms = crate::analytics::alarm_kpi::alarms_at(history, at_ms).map_err(failed)?;
    let replay = replays.shift_at(history, settings, at_ms).map_err(failed)?;
    let seed = replay.at(history, at_ms).map_err(failed)?;
    Ok(Frame { at_ms, values, alarms, oee: Some((replay.period.clone(), seed)) })
}
