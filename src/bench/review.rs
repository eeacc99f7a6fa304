//! `watchfloor bench review`: seeking in review mode. An 8 h shift of 200 machines and 500 vehicles is recorded into
//! a cache (the simulator, stepped every 10 s); then the cursor jumps to random instants of the shift and each seek
//! is timed as the window runs it — the reader's job (every signal's value at `t` with positions interpolated, the
//! alarms then, the shift's OEE up to `t` from the replay read at the first load) plus building the site the views
//! read. Target: the 95th
//! percentile under 50 ms. The baseline is the same cache's `latest` read (what a start-up restore costs).

use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;

use super::print_result;
use crate::cli::Format;
use crate::live::LiveSettings;
use crate::sim::SimConfig;
use crate::store::{open_reader, query};
use crate::ui::panels::review::{Replays, Review, load_frame};

/// 2026-01-05 06:00 Helsinki: shift A.
const SHIFT_START_MS: i64 = 1_767_585_600_000;

#[derive(Debug, Serialize)]
pub struct ReviewBenchResult {
    pub machines: usize,
    pub vehicles: usize,
    pub hours: i64,
    pub samples_in_cache: i64,
    pub seeks: usize,
    pub seek_ms_median: f64,
    /// Target < 50 ms.
    pub seek_ms_p95: f64,
    /// Of which: every signal's value at `t` (the signal list read too, which a seek has kept from the first).
    pub values_ms_median: f64,
    /// Of which: the shift's OEE up to `t` from the replay (a checkpoint and the minutes after it).
    pub oee_ms_median: f64,
    /// Of which: the alarms as they stood at `t` (from the journal).
    pub alarms_ms_median: f64,
    /// Of which: building the site the views read from what was read (on the reader thread too).
    pub build_ms_median: f64,
    /// The same OEE read from the cache from the shift's start, as seeks did before the replay.
    pub oee_from_shift_start_ms_median: f64,
    /// Opening the review: the shift's OEE inputs read once, and the first seek.
    pub first_load_ms: f64,
    /// Reading `latest` (every signal's last value) from the same cache.
    pub baseline_latest_ms: f64,
    pub ratio_vs_baseline: f64,
}

/// Milliseconds `f` takes inside one read transaction (as a seek runs its parts).
fn timed<T>(conn: &rusqlite::Connection, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<f64> {
    let snapshot = conn.unchecked_transaction()?;
    let start = Instant::now();
    std::hint::black_box(f()?);
    let ms = start.elapsed().as_secs_f64() * 1_000.0;
    snapshot.finish()?;
    Ok(ms)
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

pub fn review(
    format: Format,
    hours: i64,
    lines: usize,
    vehicles: usize,
    keep: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let config = SimConfig { lines, vehicles, ..SimConfig::demo(7, SHIFT_START_MS) };
    let machines = lines * config.machines_per_line;
    let dir = tempfile::tempdir().context("temporary directory")?;
    let path = keep.unwrap_or_else(|| dir.path().join("review.sqlite"));
    let end_ms = SHIFT_START_MS + hours * 3_600_000;
    if path.exists() {
        eprintln!("bench review: reusing the recording in {}", path.display());
    } else {
        eprintln!("bench review: recording {hours} h of {machines} machines and {vehicles} vehicles");
        super::record_sim(&path, config.clone(), end_ms)?;
    }
    let conn = open_reader(&path)?;
    let samples_in_cache: i64 = conn.query_row("SELECT count(*) FROM sample", [], |r| r.get(0))?;
    let settings = LiveSettings {
        calendar: config.calendar.clone(),
        default_site: config.site.clone(),
        ..LiveSettings::default()
    };
    let mut review = Review::new(settings.clone(), (SHIFT_START_MS, end_ms), SHIFT_START_MS, "bench".into());
    // The first load: the shift's OEE inputs read once (and SQLite's page cache warmed, as in the window).
    let replays = Replays::new(end_ms);
    let start = Instant::now();
    review.show(load_frame(&conn, &settings, &replays, SHIFT_START_MS + 60_000)?);
    let first_load_ms = start.elapsed().as_secs_f64() * 1_000.0;
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let (mut seeks, mut values, mut oee, mut oee_from_start) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut build, mut alarms) = (Vec::new(), Vec::new());
    for i in 0..40 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let at = SHIFT_START_MS + i64::try_from(rng % u64::try_from(end_ms - SHIFT_START_MS)?)?;
        let start = Instant::now();
        let frame = load_frame(&conn, &settings, &replays, at)?;
        let read = start.elapsed();
        review.show(frame);
        seeks.push(start.elapsed().as_secs_f64() * 1_000.0);
        build.push((start.elapsed() - read).as_secs_f64() * 1_000.0);
        // The parts alone, each in one read transaction as the seek runs them.
        alarms.push(timed(&conn, || Ok(crate::analytics::alarm_kpi::alarms_at(&conn, at)?))?);
        anyhow::ensure!(review.live.machines().count() == machines, "every machine shown at {at}");
        values.push(timed(&conn, || Ok(query::values_at(&conn, at, 24 * 3_600_000)?))?);
        let replay = replays.shift_at(&conn, &settings, at)?;
        oee.push(timed(&conn, || Ok(replay.at(&conn, at)?))?);
        // What a seek cost before the replay: the shift read from its start (every 4th seek: it is slow).
        if i % 4 == 0 {
            let (assets, calendar) = (&settings.assets, &settings.calendar);
            oee_from_start.push(timed(&conn, || {
                Ok(crate::analytics::history::seed(&conn, assets, calendar, &replay.period, at)?)
            })?);
        }
    }
    let mut latest = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        std::hint::black_box(query::latest(&conn)?);
        latest.push(start.elapsed().as_secs_f64() * 1_000.0);
    }
    let baseline = super::median(latest);
    let median = percentile(seeks.clone(), 0.5);
    let result = ReviewBenchResult {
        machines,
        vehicles,
        hours,
        samples_in_cache,
        seeks: seeks.len(),
        seek_ms_median: median,
        seek_ms_p95: percentile(seeks, 0.95),
        values_ms_median: percentile(values, 0.5),
        oee_ms_median: percentile(oee, 0.5),
        alarms_ms_median: percentile(alarms, 0.5),
        build_ms_median: percentile(build, 0.5),
        oee_from_shift_start_ms_median: percentile(oee_from_start, 0.5),
        first_load_ms,
        baseline_latest_ms: baseline,
        ratio_vs_baseline: median / baseline,
    };
    print_result(format, &result)
}
