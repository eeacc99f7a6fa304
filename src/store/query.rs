//! Reads from the cache. Plain functions on a connection: the reader thread, the CLI and the benchmark call them.

use rusqlite::{Connection, OptionalExtension as _, params};

use super::rollup::bucket_start;
use super::writer::kind_name;
use crate::model::history::{HistoryRead, HistoryResult};
use crate::model::{Quality, Sample, SignalId, TimeSource, Value, ValueKind};

use crate::model::time::{HOUR_MS, MINUTE_MS};

/// A stored signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalInfo {
    pub id: SignalId,
    pub kind: ValueKind,
    pub unit: Option<String>,
    pub gateway: String,
}

pub use crate::model::history::{Gap, StoredSample};

/// Which table a range was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    Raw,
    Minute,
    Hour,
}

impl Tier {
    pub fn label(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Minute => "1 min",
            Self::Hour => "1 h",
        }
    }
}

/// Statistics of one display bucket. Min and max are exact, so peaks survive any decimation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Start of the bucket, UTC ms.
    pub ts_ms: i64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub count: u64,
}

/// A range of one signal, decimated to at most the requested number of buckets (empty buckets are left out).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub signal: SignalInfo,
    pub from_ms: i64,
    pub to_ms: i64,
    pub bucket_ms: i64,
    pub tier: Tier,
    pub buckets: Vec<Bucket>,
    pub gaps: Vec<Gap>,
    /// The last value before `from_ms` (so a line can start at the left edge), if any.
    pub before: Option<(i64, f64)>,
}

pub(crate) fn quality_from(code: i64) -> Quality {
    match code {
        0 => Quality::Good,
        1 => Quality::Uncertain,
        _ => Quality::Bad,
    }
}

pub(crate) fn kind_from(name: &str) -> ValueKind {
    [ValueKind::Float, ValueKind::Int, ValueKind::Bool, ValueKind::String, ValueKind::Raw]
        .into_iter()
        .find(|k| kind_name(*k) == name)
        .unwrap_or(ValueKind::Raw)
}

pub(crate) fn value_from(kind: ValueKind, num: Option<f64>, text: Option<String>) -> Value {
    match (kind, num, text) {
        (ValueKind::Bool, Some(n), _) => Value::Bool(n != 0.0),
        // Stored from an i64, so the round trip is exact within ±2^53.
        #[expect(clippy::cast_possible_truncation)]
        (ValueKind::Int, Some(n), _) => Value::I64(n as i64),
        (ValueKind::Raw, _, Some(t)) => Value::Raw(t.into()),
        (_, Some(n), _) => Value::F64(n),
        (_, None, Some(t)) => Value::Str(t.into()),
        (_, None, None) => Value::F64(f64::NAN),
    }
}

/// Names the cache file in an SQLite error from `conn`.
pub fn sqlite_error(conn: &Connection) -> impl Fn(rusqlite::Error) -> super::Error + Copy + '_ {
    |source| super::Error::Sqlite { path: conn.path().unwrap_or_default().into(), source }
}

/// Names the cache file in a failed analytics read of `conn`.
pub fn history_error(conn: &Connection) -> impl Fn(crate::model::history::HistoryError) -> super::Error + Copy + '_ {
    |source| super::Error::History { path: conn.path().unwrap_or_default().into(), source }
}

/// Every stored signal, by id.
pub fn signals(conn: &Connection) -> rusqlite::Result<Vec<SignalInfo>> {
    let mut stmt = conn.prepare_cached("SELECT name, kind, unit, gateway FROM signal ORDER BY name")?;
    stmt.query_map([], |r| {
        Ok(SignalInfo {
            id: SignalId::new(r.get::<_, String>(0)?),
            kind: kind_from(&r.get::<_, String>(1)?),
            unit: r.get(2)?,
            gateway: r.get(3)?,
        })
    })?
    .collect()
}

/// One signal's description.
pub fn signal(conn: &Connection, name: &str) -> rusqlite::Result<Option<(i64, SignalInfo)>> {
    conn.prepare_cached("SELECT id, kind, unit, gateway FROM signal WHERE name = ?1")?
        .query_row([name], |r| {
            Ok((
                r.get(0)?,
                SignalInfo {
                    id: SignalId::new(name),
                    kind: kind_from(&r.get::<_, String>(1)?),
                    unit: r.get(2)?,
                    gateway: r.get(3)?,
                },
            ))
        })
        .optional()
}

/// The last live value of every signal, with the gateway it came from: what the app shows at start. In the order
/// the signals were first stored, so machines and vehicles come back in their process order.
pub fn latest(conn: &Connection) -> rusqlite::Result<Vec<(String, Sample)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.name, s.kind, s.gateway, l.ts_ms, l.num, l.text, l.quality
         FROM latest l JOIN signal s ON s.id = l.signal ORDER BY s.id",
    )?;
    stmt.query_map([], gateway_sample)?.collect()
}

/// A row of (name, kind, gateway, ts, num, text, quality) as (gateway, sample).
fn gateway_sample(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, Sample)> {
    let kind = kind_from(&r.get::<_, String>(1)?);
    let sample = Sample {
        signal: SignalId::new(r.get::<_, String>(0)?),
        ts_ms: r.get(3)?,
        value: value_from(kind, r.get(4)?, r.get(5)?),
        quality: quality_from(r.get(6)?),
        time_source: TimeSource::Source,
        historical: true,
    };
    Ok((r.get::<_, String>(2)?, sample))
}

/// Raw values of one signal in `[from_ms, to_ms)`, oldest first, at most `limit`.
pub fn raw(
    conn: &Connection,
    id: i64,
    kind: ValueKind,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<StoredSample>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ts_ms, num, text, quality FROM sample WHERE signal = ?1 AND ts_ms >= ?2 AND ts_ms < ?3
         ORDER BY ts_ms LIMIT ?4",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    stmt.query_map(params![id, from_ms, to_ms, limit], |r| {
        Ok(StoredSample {
            ts_ms: r.get(0)?,
            value: value_from(kind, r.get(1)?, r.get(2)?),
            quality: quality_from(r.get(3)?),
        })
    })?
    .collect()
}

/// Gaps of one signal overlapping `[from_ms, to_ms)`.
pub fn gaps(conn: &Connection, id: i64, from_ms: i64, to_ms: i64) -> rusqlite::Result<Vec<Gap>> {
    let mut stmt = conn.prepare_cached(
        "SELECT start_ms, end_ms FROM gap WHERE signal = ?1 AND start_ms < ?3 AND (end_ms IS NULL OR end_ms > ?2)
         ORDER BY start_ms",
    )?;
    stmt.query_map(params![id, from_ms, to_ms], |r| Ok(Gap { start_ms: r.get(0)?, end_ms: r.get(1)? }))?.collect()
}

/// The reads [`series`] makes of a history: a cache file answers them, and so does the site database
/// (`store::site::PgHistory`), so a console's trends read the control room's history with the same decimation.
pub trait SeriesRead {
    /// Every stored signal, by name.
    fn signal_list(&self) -> Result<Vec<SignalInfo>, super::Error>;
    /// One signal's key and description.
    fn signal_info(&self, name: &str) -> Result<Option<(i64, SignalInfo)>, super::Error>;
    /// The oldest time the tier holds for the signal.
    fn oldest(&self, tier: Tier, id: i64) -> Result<Option<i64>, super::Error>;
    /// The tier's rows in `[from_ms, to_ms)` in time order, as (time, min, max, sum, count): raw good numbers are
    /// rows of one.
    fn tier_rows(
        &self,
        tier: Tier,
        id: i64,
        range: (i64, i64),
        row: &mut dyn FnMut(i64, f64, f64, f64, i64),
    ) -> Result<(), super::Error>;
    /// The last good value before `ts_ms`: from raw samples, or from the rollups once raw data has aged out.
    fn last_good_before(&self, id: i64, ts_ms: i64) -> Result<Option<(i64, f64)>, super::Error>;
    /// Gaps overlapping the range.
    fn gaps_in(&self, id: i64, from_ms: i64, to_ms: i64) -> Result<Vec<Gap>, super::Error>;
}

impl SeriesRead for Connection {
    fn signal_list(&self) -> Result<Vec<SignalInfo>, super::Error> {
        signals(self).map_err(sqlite_error(self))
    }

    fn signal_info(&self, name: &str) -> Result<Option<(i64, SignalInfo)>, super::Error> {
        signal(self, name).map_err(sqlite_error(self))
    }

    fn oldest(&self, tier: Tier, id: i64) -> Result<Option<i64>, super::Error> {
        let sql = match tier {
            Tier::Raw => "SELECT min(ts_ms) FROM sample WHERE signal = ?1",
            Tier::Minute => "SELECT min(start_ms) FROM rollup_1m WHERE signal = ?1",
            Tier::Hour => "SELECT min(start_ms) FROM rollup_1h WHERE signal = ?1",
        };
        self.prepare_cached(sql).and_then(|mut s| s.query_row([id], |r| r.get(0))).map_err(sqlite_error(self))
    }

    fn tier_rows(
        &self,
        tier: Tier,
        id: i64,
        (from_ms, to_ms): (i64, i64),
        row: &mut dyn FnMut(i64, f64, f64, f64, i64),
    ) -> Result<(), super::Error> {
        let sql = sqlite_error(self);
        // Rows come in time order from the clustered key.
        let query = match tier {
            Tier::Raw => {
                "SELECT ts_ms, num, num, num, 1 FROM sample
                 WHERE signal = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 AND num IS NOT NULL AND quality < 2"
            }
            Tier::Minute => {
                "SELECT start_ms, min_value, max_value, sum_value, count FROM rollup_1m
                 WHERE signal = ?1 AND start_ms >= ?2 AND start_ms < ?3"
            }
            Tier::Hour => {
                "SELECT start_ms, min_value, max_value, sum_value, count FROM rollup_1h
                 WHERE signal = ?1 AND start_ms >= ?2 AND start_ms < ?3"
            }
        };
        let mut stmt = self.prepare_cached(query).map_err(sql)?;
        let mut rows = stmt.query(params![id, from_ms, to_ms]).map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            row(
                r.get(0).map_err(sql)?,
                r.get(1).map_err(sql)?,
                r.get(2).map_err(sql)?,
                r.get(3).map_err(sql)?,
                r.get(4).map_err(sql)?,
            );
        }
        Ok(())
    }

    fn last_good_before(&self, id: i64, ts_ms: i64) -> Result<Option<(i64, f64)>, super::Error> {
        value_before(self, id, ts_ms).map_err(sqlite_error(self))
    }

    fn gaps_in(&self, id: i64, from_ms: i64, to_ms: i64) -> Result<Vec<Gap>, super::Error> {
        gaps(self, id, from_ms, to_ms).map_err(sqlite_error(self))
    }
}

/// Picks the table for a bucket width: the coarsest rollup no wider than a bucket, unless the finer data is gone.
fn choose_tier(history: &dyn SeriesRead, id: i64, from_ms: i64, bucket_ms: i64) -> Result<Tier, super::Error> {
    let mut tier = if bucket_ms >= HOUR_MS {
        Tier::Hour
    } else if bucket_ms >= MINUTE_MS {
        Tier::Minute
    } else {
        Tier::Raw
    };
    if tier == Tier::Raw
        && history.oldest(Tier::Raw, id)?.is_none_or(|t| t > from_ms)
        && history.oldest(Tier::Minute, id)?.is_some_and(|t| t <= from_ms)
    {
        // Raw data for the start of the range was pruned: the minute rollups still have it.
        tier = Tier::Minute;
    }
    if tier == Tier::Minute
        && history.oldest(Tier::Minute, id)?.is_none_or(|t| t > from_ms)
        && history.oldest(Tier::Hour, id)?.is_some_and(|t| t <= from_ms)
    {
        tier = Tier::Hour;
    }
    Ok(tier)
}

/// A range decimated to at most `buckets` buckets with min, max, mean and count each, read from raw samples or a
/// rollup tier depending on the bucket width. Gaps in the range come with it.
pub fn series(
    history: &dyn SeriesRead,
    name: &str,
    from_ms: i64,
    to_ms: i64,
    buckets: usize,
) -> Result<Series, super::Error> {
    let (id, info) = history.signal_info(name)?.ok_or_else(|| super::Error::UnknownSignal(name.to_owned()))?;
    let to_ms = to_ms.max(from_ms + 1);
    let n = i64::try_from(buckets.max(1)).unwrap_or(i64::MAX);
    let tier = choose_tier(history, id, from_ms, ((to_ms - from_ms) + n - 1) / n)?;
    let bucket_ms = bucket_width(from_ms, to_ms, n, tier.resolution_ms());
    // Rows come in time order and are folded into buckets here: cheaper than a GROUP BY on a computed bucket
    // number, which SQLite would sort in a temporary b-tree.
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.min(4_096));
    let mut sum = 0.0;
    history.tier_rows(tier, id, (from_ms, to_ms), &mut |ts, min, max, s, count| {
        let start = bucket_start(ts, bucket_ms);
        let count = u64::try_from(count).unwrap_or(0);
        match out.last_mut() {
            Some(b) if b.ts_ms == start => {
                b.min = b.min.min(min);
                b.max = b.max.max(max);
                b.count += count;
                sum += s;
            }
            last => {
                if let Some(b) = last {
                    #[expect(clippy::cast_precision_loss)]
                    let n = b.count.max(1) as f64;
                    b.mean = bounded_mean(sum / n, b);
                }
                sum = s;
                out.push(Bucket { ts_ms: start, min, max, mean: 0.0, count });
            }
        }
    })?;
    if let Some(b) = out.last_mut() {
        #[expect(clippy::cast_precision_loss)]
        let n = b.count.max(1) as f64;
        b.mean = bounded_mean(sum / n, b);
    }
    let before = history.last_good_before(id, from_ms)?;
    let gaps = history.gaps_in(id, from_ms, to_ms)?;
    Ok(Series { signal: info, from_ms, to_ms, bucket_ms, tier, buckets: out, gaps, before })
}

/// The last good value before `ts_ms`: from raw samples, or from the rollups once raw data has aged out.
fn value_before(conn: &Connection, id: i64, ts_ms: i64) -> rusqlite::Result<Option<(i64, f64)>> {
    for sql in [
        "SELECT ts_ms, num FROM sample WHERE signal = ?1 AND ts_ms < ?2 AND num IS NOT NULL AND quality < 2
         ORDER BY ts_ms DESC LIMIT 1",
        "SELECT last_ms, last_value FROM rollup_1m WHERE signal = ?1 AND start_ms < ?2 AND last_ms < ?2
         ORDER BY start_ms DESC LIMIT 1",
        "SELECT last_ms, last_value FROM rollup_1h WHERE signal = ?1 AND start_ms < ?2 AND last_ms < ?2
         ORDER BY start_ms DESC LIMIT 1",
    ] {
        let found =
            conn.prepare_cached(sql)?.query_row(params![id, ts_ms], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

impl Tier {
    /// The time resolution of the tier: bucket widths are whole multiples of it.
    pub fn resolution_ms(self) -> i64 {
        match self {
            Self::Raw => 1_000,
            Self::Minute => MINUTE_MS,
            Self::Hour => HOUR_MS,
        }
    }
}

/// The width of at most `n` buckets over `[from_ms, to_ms)`: a whole multiple of `resolution_ms`, with buckets at
/// whole multiples of the width since the epoch. So an instant falls in the same bucket whatever the range, a live
/// window that moves on does not reshuffle its buckets, and a rollup row never straddles two buckets.
pub fn bucket_width(from_ms: i64, to_ms: i64, n: i64, resolution_ms: i64) -> i64 {
    let n = n.max(1);
    let span = (to_ms - from_ms).max(1);
    let mut width = (span + n - 1) / n;
    width = ((width + resolution_ms - 1) / resolution_ms).max(1) * resolution_ms;
    let count = |w: i64| (to_ms - 1).div_euclid(w) - from_ms.div_euclid(w) + 1;
    // Alignment can add one partial bucket at each end; widen until they fit (a few steps at most).
    while count(width) > n {
        width += resolution_ms;
    }
    width
}

/// The same buckets computed the naive way: every raw row read into Rust, `bucket_ms` wide. The benchmark's
/// baseline, and a check on [`series`] in tests.
pub fn series_naive(
    conn: &Connection,
    name: &str,
    from_ms: i64,
    to_ms: i64,
    bucket_ms: i64,
) -> Result<Vec<Bucket>, super::Error> {
    let sql = sqlite_error(conn);
    let (id, _) = signal(conn, name).map_err(sql)?.ok_or_else(|| super::Error::UnknownSignal(name.to_owned()))?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT ts_ms, num FROM sample WHERE signal = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 AND num IS NOT NULL
             AND quality < 2 ORDER BY ts_ms",
        )
        .map_err(sql)?;
    let mut rows = stmt.query(params![id, from_ms, to_ms]).map_err(sql)?;
    let mut values: Vec<(i64, f64)> = Vec::new();
    while let Some(r) = rows.next().map_err(sql)? {
        values.push((r.get(0).map_err(sql)?, r.get(1).map_err(sql)?));
    }
    Ok(buckets_of(values.into_iter(), bucket_ms))
}

/// Values in time order into buckets `bucket_ms` wide (empty buckets left out).
pub fn buckets_of(values: impl Iterator<Item = (i64, f64)>, bucket_ms: i64) -> Vec<Bucket> {
    let bucket_ms = bucket_ms.max(1);
    let mut out: Vec<Bucket> = Vec::new();
    for (ts, v) in values {
        let start = bucket_start(ts, bucket_ms);
        match out.last_mut() {
            Some(b) if b.ts_ms == start => {
                b.min = b.min.min(v);
                b.max = b.max.max(v);
                b.mean += v;
                b.count += 1;
            }
            _ => out.push(Bucket { ts_ms: start, min: v, max: v, mean: v, count: 1 }),
        }
    }
    for b in &mut out {
        #[expect(clippy::cast_precision_loss)]
        let count = b.count as f64;
        b.mean = bounded_mean(b.mean / count, b);
    }
    out
}

/// A bucket's mean inside its min and max: summing sixteen values of 86.9 gives a mean of 86.90000000000002.
fn bounded_mean(mean: f64, b: &Bucket) -> f64 {
    if mean.is_finite() && b.min <= b.max { mean.clamp(b.min, b.max) } else { mean }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_mean_stays_between_its_min_and_max() {
        let b = Bucket { ts_ms: 0, min: 86.9, max: 86.9, mean: 0.0, count: 16 };
        let sum: f64 = std::iter::repeat_n(86.9, 16).sum();
        assert!(sum / 16.0 > 86.9, "the rounding this guards against");
        assert_eq!(bounded_mean(sum / 16.0, &b), 86.9);
        let wide = Bucket { min: 1.0, max: 3.0, ..b };
        assert_eq!(bounded_mean(2.5, &wide), 2.5);
    }
}

/// The time-weighted mean over `[from_ms, to_ms)`: each value counts for as long as it held (until the next value
/// or the start of a gap). Time inside gaps, and before the first known value, does not count.
pub fn time_weighted_mean(
    conn: &Connection,
    name: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Option<f64>, super::Error> {
    let sql = sqlite_error(conn);
    let (id, info) = signal(conn, name).map_err(sql)?.ok_or_else(|| super::Error::UnknownSignal(name.to_owned()))?;
    let before = value_before(conn, id, from_ms).map_err(sql)?;
    let rows = raw(conn, id, info.kind, from_ms, to_ms, usize::MAX).map_err(sql)?;
    let gaps = gaps(conn, id, from_ms, to_ms).map_err(sql)?;
    let points = before
        .map(|(_, v)| (from_ms, v))
        .into_iter()
        .chain(rows.iter().filter(|s| s.quality != Quality::Bad).filter_map(|s| Some((s.ts_ms, s.value.as_f64()?))));
    Ok(weighted_mean(points, &gaps, to_ms))
}

/// Step-held mean of `(ts, value)` points (sorted by time) up to `to_ms`, not counting time inside `gaps`.
pub fn weighted_mean(points: impl Iterator<Item = (i64, f64)>, gaps: &[Gap], to_ms: i64) -> Option<f64> {
    let points: Vec<(i64, f64)> = points.collect();
    let mut area = 0.0;
    let mut span = 0_i64;
    for (i, &(t, v)) in points.iter().enumerate() {
        let mut end = points.get(i + 1).map_or(to_ms, |p| p.0).min(to_ms);
        if let Some(g) = gaps.iter().find(|g| g.start_ms >= t && g.start_ms < end) {
            end = g.start_ms;
        }
        if end > t {
            #[expect(clippy::cast_precision_loss)]
            let held = (end - t) as f64;
            area += v * held;
            span += end - t;
        }
    }
    #[expect(clippy::cast_precision_loss)]
    let span_f = span as f64;
    (span > 0).then(|| area / span_f)
}

/// A point to draw, from a bucket or filled in across a gap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DisplayPoint {
    pub ts_ms: i64,
    pub value: f64,
    /// Filled in by linear interpolation across a gap: draw it differently (dashed), never as measured.
    pub interpolated: bool,
}

/// Points for a line through bucket means, split into runs at gaps. With `interpolate`, each gap is bridged by
/// a straight two-point run marked interpolated.
pub fn display_runs(series: &Series, interpolate: bool) -> Vec<Vec<DisplayPoint>> {
    let mut runs: Vec<Vec<DisplayPoint>> = Vec::new();
    let mut current: Vec<DisplayPoint> = Vec::new();
    if let Some((_, v)) = series.before
        && !series.gaps.iter().any(|g| g.start_ms <= series.from_ms)
    {
        current.push(DisplayPoint { ts_ms: series.from_ms, value: v, interpolated: false });
    }
    let mut prev_end = series.from_ms;
    let mut next_gap = 0;
    for b in &series.buckets {
        let point = DisplayPoint { ts_ms: b.ts_ms + series.bucket_ms / 2, value: b.mean, interpolated: false };
        // The last gap that started before this point and ended after the previous bucket splits the line.
        let mut split = None;
        while let Some(g) = series.gaps.get(next_gap)
            && g.start_ms < point.ts_ms
        {
            if g.end_ms.is_none_or(|e| e > prev_end) {
                split = Some(*g);
            }
            next_gap += 1;
        }
        if let Some(g) = split
            && let Some(&last) = current.last()
        {
            runs.push(std::mem::take(&mut current));
            if interpolate && g.end_ms.is_some() {
                runs.push(vec![
                    DisplayPoint { interpolated: true, ..last },
                    DisplayPoint { interpolated: true, ..point },
                ]);
            }
        }
        prev_end = b.ts_ms + series.bucket_ms;
        current.push(point);
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// A stored signal as [`values_of`] reads it.
#[derive(Clone, Debug)]
pub struct StoredSignal {
    pub id: i64,
    pub name: SignalId,
    pub kind: ValueKind,
    pub gateway: String,
    /// A vehicle's latitude or longitude: interpolated between fixes.
    pub position: bool,
}

/// Every stored signal, by key.
pub fn stored_signals(conn: &Connection) -> rusqlite::Result<Vec<StoredSignal>> {
    use crate::model::vehicle::metric as vm;
    let mut signals = conn.prepare_cached("SELECT id, name, kind, gateway FROM signal ORDER BY id")?;
    signals
        .query_map([], |r| {
            let name = SignalId::new(r.get::<_, String>(1)?);
            let position = name.split_known_metric(&[vm::LATITUDE, vm::LONGITUDE]).is_some();
            Ok(StoredSignal {
                id: r.get(0)?,
                name,
                kind: kind_from(&r.get::<_, String>(2)?),
                gateway: r.get(3)?,
                position,
            })
        })?
        .collect()
}

/// Every signal's value at `at_ms` as `(gateway, sample)`: its last sample at or before `at_ms` (looking back at
/// most `lookback_ms`), for review. A vehicle's latitude and longitude are interpolated between the fixes either
/// side of `at_ms` (linearly; a fix more than `lookback_ms` away is not bridged), so markers move smoothly. In time
/// order.
pub fn values_at(conn: &Connection, at_ms: i64, lookback_ms: i64) -> rusqlite::Result<Vec<(String, Sample)>> {
    let mut out = values_of(conn, &stored_signals(conn)?, at_ms, lookback_ms)?;
    // In time order, as they happened (the live state takes each signal's newest).
    out.sort_by_key(|(_, s)| s.ts_ms);
    Ok(out)
}

/// [`values_at`] for some signals, in their order.
pub fn values_of(
    conn: &Connection,
    signals: &[StoredSignal],
    at_ms: i64,
    lookback_ms: i64,
) -> rusqlite::Result<Vec<(String, Sample)>> {
    // One index seek per signal on the (signal, ts) key: a join here lets the planner scan every sample instead.
    let mut before = conn.prepare_cached(
        "SELECT ts_ms, num, text, quality FROM sample WHERE signal = ?1 AND ts_ms <= ?2 AND ts_ms >= ?3
         ORDER BY ts_ms DESC LIMIT 1",
    )?;
    let mut after = conn.prepare_cached(
        "SELECT ts_ms, num FROM sample WHERE signal = ?1 AND ts_ms > ?2 AND ts_ms <= ?3 ORDER BY ts_ms LIMIT 1",
    )?;
    let mut out = Vec::with_capacity(signals.len());
    for signal in signals {
        let row: Option<(i64, Option<f64>, Option<String>, i64)> = before
            .query_row(params![signal.id, at_ms, at_ms - lookback_ms], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((ts_ms, num, text, quality)) = row else { continue };
        let mut sample = Sample {
            value: value_from(signal.kind, num, text),
            signal: signal.name.clone(),
            ts_ms,
            quality: quality_from(quality),
            time_source: TimeSource::Source,
            historical: true,
        };
        if signal.position
            && ts_ms < at_ms
            && let Value::F64(v0) = sample.value
        {
            let next: Option<(i64, Option<f64>)> = after
                .query_row(params![signal.id, at_ms, at_ms + lookback_ms], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((t1, Some(v1))) = next {
                #[expect(clippy::cast_precision_loss, reason = "milliseconds between two fixes")]
                let f = (at_ms - ts_ms) as f64 / (t1 - ts_ms) as f64;
                sample.value = Value::F64(v0 + (v1 - v0) * f);
                sample.ts_ms = at_ms;
            }
        }
        out.push((signal.gateway.clone(), sample));
    }
    Ok(out)
}

/// [`stored_signals`] from any history (the site database).
pub fn stored_signals_of(history: &dyn HistoryRead) -> HistoryResult<Vec<StoredSignal>> {
    use crate::model::vehicle::metric as vm;
    let mut all = history.signals()?;
    all.sort_by_key(|s| s.key);
    Ok(all
        .into_iter()
        .map(|s| {
            let name = SignalId::new(s.name);
            let position = name.split_known_metric(&[vm::LATITUDE, vm::LONGITUDE]).is_some();
            StoredSignal { id: s.key, name, kind: s.kind, gateway: s.gateway, position }
        })
        .collect())
}

/// [`values_of`] from any history (the site database): the same values, through [`HistoryRead`].
pub fn values_of_history(
    history: &dyn HistoryRead,
    signals: &[StoredSignal],
    at_ms: i64,
    lookback_ms: i64,
) -> HistoryResult<Vec<(String, Sample)>> {
    let mut out = Vec::with_capacity(signals.len());
    for signal in signals {
        let Some(found) = history.last_before(signal.id, signal.kind, at_ms + 1, false)? else { continue };
        if found.ts_ms < at_ms - lookback_ms {
            continue;
        }
        let mut sample = Sample {
            value: found.value,
            signal: signal.name.clone(),
            ts_ms: found.ts_ms,
            quality: found.quality,
            time_source: TimeSource::Source,
            historical: true,
        };
        if signal.position
            && found.ts_ms < at_ms
            && let Value::F64(v0) = sample.value
        {
            let next = history.raw(signal.id, signal.kind, (at_ms + 1, at_ms + lookback_ms + 1), 1, false)?;
            if let Some(StoredSample { ts_ms: t1, value: Value::F64(v1), .. }) = next.first() {
                #[expect(clippy::cast_precision_loss, reason = "milliseconds between two fixes")]
                let f = (at_ms - found.ts_ms) as f64 / (t1 - found.ts_ms) as f64;
                sample.value = Value::F64(v0 + (v1 - v0) * f);
                sample.ts_ms = at_ms;
            }
        }
        out.push((signal.gateway.clone(), sample));
    }
    Ok(out)
}

/// [`down_spans`] from any history (the site database).
pub fn down_spans_of(history: &dyn HistoryRead, from_ms: i64, to_ms: i64) -> HistoryResult<Vec<(String, i64, i64)>> {
    let mut out = Vec::new();
    for s in history.signals()? {
        if SignalId::new(s.name.as_str()).split_known_metric(&[crate::model::machine::metric::STATE]).is_none() {
            continue;
        }
        let mut rows = history.raw(s.key, s.kind, (from_ms, to_ms), usize::MAX, false)?;
        if let Some(before) = history.last_before(s.key, s.kind, from_ms, false)? {
            rows.insert(0, StoredSample { ts_ms: from_ms, value: before.value, quality: Quality::Good });
        }
        down_runs(&s.name, &rows, to_ms, &mut out);
    }
    Ok(out)
}

/// The stretches of `rows` (a machine's states in time order) when it was down, until `to_ms` at the latest.
fn down_runs(name: &str, rows: &[StoredSample], to_ms: i64, out: &mut Vec<(String, i64, i64)>) {
    use crate::model::MachineState;
    let is_down = |v: &Value| {
        let state = match v {
            Value::I64(code) => MachineState::from_code(*code),
            other => other.as_str().and_then(MachineState::parse),
        };
        state == Some(MachineState::Down)
    };
    let mut start: Option<i64> = None;
    for row in rows {
        match (start, is_down(&row.value)) {
            (None, true) => start = Some(row.ts_ms),
            (Some(s), false) => {
                out.push((name.to_owned(), s, row.ts_ms));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((name.to_owned(), s, to_ms));
    }
}

/// Stretches in `[from_ms, to_ms)` when a machine was `down`, per machine `State` signal, for the review timeline.
pub fn down_spans(conn: &Connection, from_ms: i64, to_ms: i64) -> rusqlite::Result<Vec<(String, i64, i64)>> {
    let mut signals = conn.prepare_cached("SELECT id, name, kind FROM signal")?;
    let states: Vec<(i64, String, ValueKind)> = signals
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, String>(1)?, kind_from(&r.get::<_, String>(2)?))))?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .filter(|(_, name, _)| {
            let id = SignalId::new(name.as_str());
            id.split_known_metric(&[crate::model::machine::metric::STATE]).is_some()
        })
        .collect();
    let mut out = Vec::new();
    for (id, name, kind) in states {
        // The state in force at `from` counts too.
        let before: Option<(i64, Option<f64>, Option<String>)> = conn
            .prepare_cached(
                "SELECT ts_ms, num, text FROM sample WHERE signal = ?1 AND ts_ms < ?2 ORDER BY ts_ms DESC LIMIT 1",
            )?
            .query_row(params![id, from_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let mut rows = raw(conn, id, kind, from_ms, to_ms, usize::MAX)?;
        if let Some((_, num, text)) = before {
            rows.insert(0, StoredSample { ts_ms: from_ms, value: value_from(kind, num, text), quality: Quality::Good });
        }
        down_runs(&name, &rows, to_ms, &mut out);
    }
    out.sort_by_key(|(_, s, _)| *s);
    Ok(out)
}
