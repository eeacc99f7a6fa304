//! `watchfloor bench oee`: the OEE engine's cost. The incremental update of the live tracker for 200 machines
//! reporting at 1 Hz, and the recompute of a whole 8 h shift of those machines from a history cache.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;

use super::{median, print_result};
use crate::analytics::history::input_of;
use crate::analytics::{Input, OeeTracker};
use crate::cli::Format;
use crate::model::SignalId;
use crate::model::asset::AssetModel;
use crate::model::machine::metric as mm;
use crate::sim::{SimConfig, Simulator};
use crate::store::open_reader;

/// 2026-01-05T04:00:00Z: 06:00 in Helsinki, the start of shift A.
const SHIFT_START_MS: i64 = 1_767_585_600_000;
const LINES: usize = 50;
const RUNS: usize = 5;

#[derive(Debug, Serialize)]
pub struct OeeBenchResult {
    pub machines: usize,
    /// Machine inputs (states, reasons, counters) per simulated second.
    pub inputs_per_data_second: f64,
    /// Time to fold one second of data from every machine into the live tracker.
    pub update_ms_per_data_second: f64,
    /// Baseline: the same inputs stored as each machine's latest value in a hash map (the least any live view does).
    pub baseline_latest_ms_per_data_second: f64,
    pub update_ratio_vs_baseline: f64,
    /// Reading every machine's OEE at an instant (what the plant view does each frame).
    pub read_all_machines_ms: f64,
    /// Samples in the cache for the 8 h shift (every machine metric and temperature).
    pub shift_samples: i64,
    /// Every machine's OEE, stops and timeline over the 8 h shift, from the cache.
    pub shift_recompute_ms: f64,
    /// Baseline: one pass over every raw sample of the shift (`count` and `sum` in SQLite), what a recompute
    /// without rollups would at least read.
    pub baseline_raw_scan_ms: f64,
    pub recompute_ratio_vs_raw_scan: f64,
    pub runs: usize,
}

fn config() -> SimConfig {
    SimConfig { lines: LINES, vehicles: 0, ..SimConfig::demo(11, SHIFT_START_MS) }
}

/// Machine inputs of each simulated second, routed once (the live state caches routes per signal too). The
/// simulator reports by exception; here every machine also sends its state and counters every second, as a 1 Hz
/// poll of a PLC would.
fn routed_inputs(seconds: i64) -> Vec<Vec<(Arc<str>, i64, Input)>> {
    let mut sim = Simulator::new(config());
    let mut prefixes: std::collections::HashMap<SignalId, Option<(Arc<str>, &'static str)>> = Default::default();
    let mut route = |samples: Vec<crate::model::Sample>| -> Vec<(Arc<str>, i64, Input)> {
        samples
            .into_iter()
            .filter_map(|s| {
                let (prefix, metric) = prefixes
                    .entry(s.signal.clone())
                    .or_insert_with(|| s.signal.split_known_metric(mm::ALL).map(|(p, m)| (Arc::from(p), m)))
                    .clone()?;
                Some((prefix, s.ts_ms, input_of(metric, &s.value)?))
            })
            .collect()
    };
    let (_, birth) = sim.birth();
    let mut out = vec![route(birth)];
    // The last state and counters of each machine, by input kind.
    let mut last: std::collections::BTreeMap<(Arc<str>, u8), Input> = std::collections::BTreeMap::new();
    for sec in 1..=seconds {
        let ts = SHIFT_START_MS + sec * 1_000;
        let mut batch = Vec::new();
        sim.step_to(ts, &mut batch);
        let mut inputs = route(batch);
        for (prefix, _, input) in out.last().into_iter().flatten() {
            let kind = match input {
                Input::State(_) => 0,
                Input::Total(_) => 1,
                Input::Good(_) => 2,
                Input::Reject(_) => 3,
                _ => continue,
            };
            last.insert((Arc::clone(prefix), kind), input.clone());
        }
        let sent: std::collections::HashSet<(Arc<str>, u8)> = inputs
            .iter()
            .filter_map(|(p, _, i)| match i {
                Input::State(_) => Some((Arc::clone(p), 0)),
                Input::Total(_) => Some((Arc::clone(p), 1)),
                Input::Good(_) => Some((Arc::clone(p), 2)),
                Input::Reject(_) => Some((Arc::clone(p), 3)),
                _ => None,
            })
            .collect();
        for ((prefix, kind), input) in &last {
            if !sent.contains(&(Arc::clone(prefix), *kind)) {
                inputs.push((Arc::clone(prefix), ts, input.clone()));
            }
        }
        out.push(inputs);
    }
    out
}

pub fn oee(format: Format) -> anyhow::Result<()> {
    const SECONDS: i64 = 3_600;
    let machines = LINES * 4;
    let calendar = config().calendar;
    let assets = Arc::new(AssetModel::default());
    eprintln!("bench oee: simulating {machines} machines for an hour");
    let data = routed_inputs(SECONDS);
    #[expect(clippy::cast_precision_loss, reason = "counts")]
    let inputs_per_data_second = data.iter().map(Vec::len).sum::<usize>() as f64 / (SECONDS + 1) as f64;
    let mut update = Vec::new();
    let mut baseline = Vec::new();
    let mut read_all = Vec::new();
    for _ in 0..RUNS {
        let mut latest: std::collections::HashMap<(Arc<str>, std::mem::Discriminant<Input>), (i64, Input)> =
            std::collections::HashMap::new();
        let start = Instant::now();
        for second in &data {
            for (prefix, ts, input) in second {
                latest.insert((Arc::clone(prefix), std::mem::discriminant(input)), (*ts, input.clone()));
            }
        }
        #[expect(clippy::cast_precision_loss, reason = "seconds of data")]
        baseline.push(start.elapsed().as_secs_f64() * 1000.0 / (SECONDS + 1) as f64);
        std::hint::black_box(&latest);
        let mut tracker = OeeTracker::new(calendar.clone(), Arc::clone(&assets));
        let start = Instant::now();
        for second in &data {
            for (prefix, ts, input) in second {
                tracker.push(prefix, *ts, input.clone());
            }
        }
        #[expect(clippy::cast_precision_loss, reason = "seconds of data")]
        update.push(start.elapsed().as_secs_f64() * 1000.0 / (SECONDS + 1) as f64);
        let now = SHIFT_START_MS + SECONDS * 1_000;
        let ids: Vec<Arc<str>> = data
            .iter()
            .flatten()
            .map(|(p, _, _)| Arc::clone(p))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let start = Instant::now();
        let mut planned = 0;
        for id in &ids {
            planned += tracker.machine(id, now).map_or(0, |m| m.totals.planned_ms);
        }
        read_all.push(start.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(planned > 0, "the tracker saw no planned time");
    }

    eprintln!("bench oee: recording an 8 h shift of {machines} machines into a cache");
    let dir = tempfile::tempdir().context("temporary directory")?;
    let path = dir.path().join("shift.sqlite");
    let shift = calendar.shift_at(SHIFT_START_MS).context("shift A")?;
    super::record_sim(&path, config(), shift.end_ms)?;
    let conn = open_reader(&path)?;
    let shift_samples: i64 = conn.query_row("SELECT count(*) FROM sample", [], |r| r.get(0))?;
    let mut recompute = Vec::new();
    let mut scan = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let (n, sum): (i64, Option<f64>) = conn.query_row(
            "SELECT count(*), sum(num) FROM sample WHERE ts_ms >= ?1 AND ts_ms < ?2",
            [shift.start_ms, shift.end_ms],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        scan.push(start.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box((n, sum));
        let start = Instant::now();
        let rows = crate::analytics::history::recompute(&conn, &assets, &calendar, shift.start_ms, shift.end_ms)?;
        recompute.push(start.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(rows.len() == machines, "{} machines recomputed, expected {machines}", rows.len());
    }
    let (update, baseline) = (median(update), median(baseline));
    let (recompute, scan) = (median(recompute), median(scan));
    print_result(
        format,
        &OeeBenchResult {
            machines,
            inputs_per_data_second,
            update_ms_per_data_second: update,
            baseline_latest_ms_per_data_second: baseline,
            update_ratio_vs_baseline: update / baseline,
            read_all_machines_ms: median(read_all),
            shift_samples,
            shift_recompute_ms: recompute,
            baseline_raw_scan_ms: scan,
            recompute_ratio_vs_raw_scan: recompute / scan,
            runs: RUNS,
        },
    )
}
