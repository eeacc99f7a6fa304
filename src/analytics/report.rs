//! The OEE report of a range: per machine, per line and for the site, from the history cache. `watchfloor report`
//! prints it as JSON or CSV.

use std::collections::BTreeMap;

use serde::Serialize;

use super::oee::{MachineOee, StopEvent, Totals, pareto};
use crate::model::ShiftCalendar;
use crate::model::asset::{AssetModel, natural_cmp};
use crate::model::history::{HistoryRead, HistoryResult};

/// The six big losses in minutes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LossesMin {
    pub equipment_failure: f64,
    pub setup_adjustment: f64,
    pub small_stops: f64,
    pub reduced_speed: f64,
    pub process_defects: f64,
    pub startup_rejects: f64,
}

/// The figures every level of the report has.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    pub availability: Option<f64>,
    pub performance: Option<f64>,
    pub quality: Option<f64>,
    pub oee: Option<f64>,
    pub planned_secs: f64,
    pub run_secs: f64,
    pub total_count: i64,
    pub good_count: i64,
    pub reject_count: i64,
    /// Scheduled time with no data: left out of planned time.
    pub no_data_secs: f64,
    /// Parts counted across data gaps: left out of the counts.
    pub parts_in_gaps: i64,
    pub losses_min: LossesMin,
}

fn secs(ms: i64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "milliseconds of a report range")]
    let s = ms as f64 / 1000.0;
    s
}

impl From<&Totals> for Figures {
    fn from(t: &Totals) -> Self {
        let oee = t.oee();
        let l = t.losses();
        let min = |ms: f64| ms / 60_000.0;
        Self {
            availability: oee.availability,
            performance: oee.performance,
            quality: oee.quality,
            oee: oee.oee,
            planned_secs: secs(t.planned_ms),
            run_secs: secs(t.run_ms()),
            total_count: t.total,
            good_count: t.good,
            reject_count: t.rejects(),
            no_data_secs: secs(t.no_data_ms),
            parts_in_gaps: t.parts_in_gaps,
            losses_min: LossesMin {
                equipment_failure: min(l.equipment_failure_ms),
                setup_adjustment: min(l.setup_adjustment_ms),
                small_stops: min(l.small_stops_ms),
                reduced_speed: min(l.reduced_speed_ms),
                process_defects: min(l.process_defects_ms),
                startup_rejects: min(l.startup_rejects_ms),
            },
        }
    }
}

/// Stop time by cause.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cause {
    pub reason: String,
    pub stops: usize,
    pub minutes: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MachineRow {
    /// The machine's signal-id prefix.
    pub id: String,
    pub name: String,
    pub line: String,
    pub area: String,
    pub target_oee: f64,
    #[serde(flatten)]
    pub figures: Figures,
    /// Stops that took scheduled time in the range.
    pub stops: usize,
    pub top_stops: Vec<Cause>,
    #[serde(skip)]
    pub totals: Totals,
    #[serde(skip)]
    pub ideal_cycle_secs: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LineRow {
    pub id: String,
    pub name: String,
    pub site: String,
    pub target_oee: f64,
    pub machines: usize,
    /// The machine with the longest ideal cycle time: it sets the line's pace.
    pub bottleneck: Option<String>,
    #[serde(flatten)]
    pub figures: Figures,
    #[serde(skip)]
    pub totals: Totals,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub site: String,
    pub target_oee: f64,
    #[serde(flatten)]
    pub figures: Figures,
    pub machines: Vec<MachineRow>,
    pub lines: Vec<LineRow>,
    /// Per vehicle: distance, battery, charging, stale time and geofences (filled by `watchfloor report`).
    pub vehicles: Vec<super::fleet::VehicleRow>,
    /// The alarm KPIs of the range (filled by `watchfloor report`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarms: Option<super::alarm_kpi::Kpis>,
    /// The logbook's notes and handovers about the range, in the order of what they are about.
    pub notes: Vec<crate::model::logbook::Note>,
}

/// One machine's row from its OEE and stops.
pub fn machine_row(
    id: &str,
    path: &crate::model::MachinePath,
    assets: &AssetModel,
    oee: &MachineOee,
    stops: &[StopEvent],
) -> MachineRow {
    let top_stops = pareto(stops)
        .into_iter()
        .take(5)
        .map(|(reason, n, ms)| {
            #[expect(clippy::cast_precision_loss, reason = "minutes of a report range")]
            let minutes = ms as f64 / 60_000.0;
            Cause { reason, stops: n, minutes }
        })
        .collect();
    MachineRow {
        id: id.to_owned(),
        name: path.machine.clone(),
        line: path.line.clone(),
        area: path.area.clone(),
        target_oee: assets.machine_target(id, &path.line),
        figures: Figures::from(&oee.totals),
        stops: stops.len(),
        top_stops,
        totals: oee.totals,
        ideal_cycle_secs: oee.ideal_cycle_secs,
    }
}

/// Lines from their machines' summed times and counts, in line order; and the site's figures.
pub fn lines_of(machines: &[MachineRow], site: &str, assets: &AssetModel) -> (Vec<LineRow>, Totals) {
    let mut by_line: BTreeMap<&str, Vec<&MachineRow>> = BTreeMap::new();
    for m in machines {
        by_line.entry(m.line.as_str()).or_default().push(m);
    }
    let mut site_totals = Totals::default();
    let mut lines: Vec<LineRow> = by_line
        .into_iter()
        .map(|(line, ms)| {
            let mut totals = Totals::default();
            for m in &ms {
                totals.add(&m.totals);
            }
            site_totals.add(&totals);
            let bottleneck = ms
                .iter()
                .filter_map(|m| Some((m, m.ideal_cycle_secs?)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(m, _)| m.id.clone());
            LineRow {
                id: line.to_owned(),
                name: assets.line_name(line).to_owned(),
                site: site.to_owned(),
                target_oee: assets.line_target(line),
                machines: ms.len(),
                bottleneck,
                figures: Figures::from(&totals),
                totals,
            }
        })
        .collect();
    let order = |l: &LineRow| assets.line(&l.id).and_then(|o| o.order).unwrap_or(i64::MAX);
    lines.sort_by(|a, b| order(a).cmp(&order(b)).then_with(|| natural_cmp(&a.id, &b.id)));
    (lines, site_totals)
}

/// The whole report of a range: OEE, the fleet, the alarm KPIs — what `watchfloor report` prints and the
/// window's *Shift report* writes. `step(done, of)` is told the progress (machine by machine, then the fleet and
/// the alarms); `None` once it returns `false` (cancelled).
pub fn full(
    history: &dyn HistoryRead,
    assets: &AssetModel,
    calendar: &ShiftCalendar,
    site: &str,
    fleet: &super::fleet::FleetParams,
    (from_ms, to_ms): (i64, i64),
    step: &mut dyn FnMut(u64, u64) -> bool,
) -> HistoryResult<Option<Report>> {
    // Two more steps after the machines: the fleet, then the alarms.
    let mut of_all = 2;
    let recomputed = super::history::recompute_each(history, assets, calendar, (from_ms, to_ms), &mut |done, of| {
        of_all = of + 2;
        step(done, of_all)
    })?;
    let Some(rows) = recomputed else { return Ok(None) };
    let mut report = from_rows(&rows, assets, site, from_ms, to_ms);
    report.vehicles = super::fleet::vehicles(history, fleet, from_ms, to_ms)?;
    if !step(of_all - 1, of_all) {
        return Ok(None);
    }
    report.alarms = Some(super::alarm_kpi::kpis(history, from_ms, to_ms)?);
    report.notes = history.notes(from_ms, to_ms)?;
    step(of_all, of_all);
    Ok(Some(report))
}

/// The OEE part of the report of `[from_ms, to_ms)` from the cache.
pub fn build(
    history: &dyn HistoryRead,
    assets: &AssetModel,
    calendar: &ShiftCalendar,
    site: &str,
    from_ms: i64,
    to_ms: i64,
) -> HistoryResult<Report> {
    let rows = super::history::recompute(history, assets, calendar, from_ms, to_ms)?;
    Ok(from_rows(&rows, assets, site, from_ms, to_ms))
}

/// The report from recomputed machines (the GUI keeps their accumulators for the detail view).
pub fn from_rows(
    rows: &[(super::history::StoredMachine, super::Accumulator, MachineOee)],
    assets: &AssetModel,
    site: &str,
    from_ms: i64,
    to_ms: i64,
) -> Report {
    let mut machines: Vec<(i64, MachineRow)> = rows
        .iter()
        .map(|(m, acc, oee)| {
            let path = assets.machine_path(&m.prefix, site);
            (m.first_signal, machine_row(&m.prefix, &path, assets, oee, acc.stops()))
        })
        .collect();
    // By line, then config's order, then the order first seen.
    machines.sort_by(|(a_seen, a), (b_seen, b)| {
        let order = |m: &MachineRow| assets.machine(&m.id).and_then(|o| o.order).unwrap_or(i64::MAX);
        natural_cmp(&a.line, &b.line).then_with(|| order(a).cmp(&order(b))).then_with(|| a_seen.cmp(b_seen))
    });
    let machines: Vec<MachineRow> = machines.into_iter().map(|(_, m)| m).collect();
    let (lines, site_totals) = lines_of(&machines, site, assets);
    Report {
        from: crate::model::time::rfc3339(from_ms),
        to: crate::model::time::rfc3339(to_ms),
        site: site.to_owned(),
        target_oee: assets.target_oee,
        figures: Figures::from(&site_totals),
        machines,
        lines,
        vehicles: Vec::new(),
        alarms: None,
        notes: Vec::new(),
    }
}

/// The CSV form: one row per machine, then per line, then the site.
pub fn write_csv(report: &Report, out: &mut dyn std::io::Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "level",
        "id",
        "line",
        "availability",
        "performance",
        "quality",
        "oee",
        "planned_secs",
        "run_secs",
        "total_count",
        "good_count",
        "reject_count",
        "no_data_secs",
        "equipment_failure_min",
        "setup_adjustment_min",
        "small_stops_min",
        "reduced_speed_min",
        "process_defects_min",
        "startup_rejects_min",
    ])?;
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
    let mut row = |level: &str, id: &str, line: &str, f: &Figures| {
        let l = &f.losses_min;
        w.write_record([
            level.to_owned(),
            id.to_owned(),
            line.to_owned(),
            opt(f.availability),
            opt(f.performance),
            opt(f.quality),
            opt(f.oee),
            format!("{:.3}", f.planned_secs),
            format!("{:.3}", f.run_secs),
            f.total_count.to_string(),
            f.good_count.to_string(),
            f.reject_count.to_string(),
            format!("{:.3}", f.no_data_secs),
            format!("{:.3}", l.equipment_failure),
            format!("{:.3}", l.setup_adjustment),
            format!("{:.3}", l.small_stops),
            format!("{:.3}", l.reduced_speed),
            format!("{:.3}", l.process_defects),
            format!("{:.3}", l.startup_rejects),
        ])
    };
    for m in &report.machines {
        row("machine", &m.id, &m.line, &m.figures)?;
    }
    for l in &report.lines {
        row("line", &l.id, &l.id, &l.figures)?;
    }
    row("site", &report.site, "", &report.figures)?;
    w.flush()?;
    Ok(())
}
