//! The shift report written at each shift end: `[reports] after` past a shift's end, its report (the same
//! `analytics::report::full` as `watchfloor report` and the window's *Shift report*) goes into the folder as
//! `<shift id>.html`, `.xlsx` and `.json` (the shift id is the day it starts in site time and its name:
//! `2026-11-20-A`). Each file is written to a temporary file in the folder and renamed, so a reader never sees half a
//! report; an existing file is never written again. At start the most recent `catch_up` shifts whose files are
//! missing are written, skipping shifts with no data; the folder is made if missing. A failure (a folder that cannot
//! be made, disk full, history unreadable) is logged and tried again at the next tick; the recorder goes on.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{HistorySource, sleep_unless};
use crate::analytics::fleet::FleetParams;
use crate::clock::Clock;
use crate::config::{ReportFile, Reports};
use crate::model::asset::AssetModel;
use crate::model::history::HistoryRead;
use crate::model::{ShiftCalendar, ShiftInstance};

/// What the shift reports are made from.
#[derive(Clone)]
pub struct ReportContext {
    pub reports: Reports,
    pub site: String,
    pub assets: AssetModel,
    pub calendar: ShiftCalendar,
    pub fleet: FleetParams,
}

/// The shift's id in file names: the day it starts in site time, and its name (`2026-11-20-A`).
pub fn shift_id(calendar: &ShiftCalendar, shift: &ShiftInstance) -> String {
    let day = jiff::Timestamp::from_millisecond(shift.start_ms)
        .map(|t| t.to_zoned(calendar.tz.clone()).date().to_string())
        .unwrap_or_else(|_| shift.start_ms.to_string());
    let name: String = shift.name.chars().map(|c| if c.is_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("{day}-{name}")
}

/// The shifts whose reports are due at `now_ms`: ended at least `after_ms` ago, the newest `catch_up` of them,
/// oldest first.
pub fn shifts_due(calendar: &ShiftCalendar, now_ms: i64, after_ms: i64, catch_up: usize) -> Vec<ShiftInstance> {
    let ended_by = now_ms - after_ms;
    // Every calendar has a shift a day at most 24 h long: `catch_up + 1` days back holds `catch_up` shifts.
    let days = i64::try_from(catch_up).unwrap_or(30).saturating_add(2).min(60);
    let mut ended: Vec<ShiftInstance> = calendar
        .instances_between(ended_by - days * 86_400_000, ended_by)
        .into_iter()
        .filter(|s| s.end_ms <= ended_by)
        .collect();
    ended.sort_by_key(|s| s.end_ms);
    let skip = ended.len().saturating_sub(catch_up);
    ended.split_off(skip)
}

/// What writing one shift's report did.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// These files were written.
    Files(Vec<PathBuf>),
    /// Every file was already there.
    Present,
    /// No data in the shift: nothing written.
    NoData,
}

/// Writes the files of `shift`'s report that are missing.
pub fn write_shift(history: &dyn HistoryRead, ctx: &ReportContext, shift: &ShiftInstance) -> Result<Written, String> {
    let id = shift_id(&ctx.calendar, shift);
    let folder = &ctx.reports.folder;
    let missing: Vec<ReportFile> = ctx
        .reports
        .formats
        .iter()
        .copied()
        .filter(|f| !folder.join(format!("{id}.{}", f.extension())).exists())
        .collect();
    if missing.is_empty() {
        return Ok(Written::Present);
    }
    let newest = history.newest_ms().map_err(|e| e.to_string())?;
    if newest.is_none_or(|t| t < shift.start_ms) {
        return Ok(Written::NoData);
    }
    let mut step = |_: u64, _: u64| true;
    let range = (shift.start_ms, shift.end_ms);
    let report =
        crate::analytics::report::full(history, &ctx.assets, &ctx.calendar, &ctx.site, &ctx.fleet, range, &mut step)
            .map_err(|e| format!("cannot read the history: {e}"))?
            .ok_or_else(|| "the report was stopped".to_owned())?;
    // Machines known from other shifts are listed with the whole shift as no data; vehicles with no readings.
    let machines_ran = report.figures.planned_secs > 0.0 || report.figures.total_count > 0;
    let vehicles_seen = report.vehicles.iter().any(|v| v.min_soc_percent.is_some() || v.distance_km > 0.0);
    if !machines_ran && !vehicles_seen {
        return Ok(Written::NoData);
    }
    let title = format!("Shift report: {} {}", id.rsplit_once('-').map_or(id.as_str(), |(d, _)| d), shift.name);
    let mut written = Vec::new();
    for format in missing {
        let bytes = match format {
            ReportFile::Html => {
                crate::analytics::report_html::render(&report, &title, report.alarms.as_ref()).into_bytes()
            }
            ReportFile::Xlsx => crate::analytics::report_xlsx::render(&report, &title)
                .map_err(|e| format!("cannot make the workbook: {e}"))?,
            ReportFile::Json => serde_json::to_vec_pretty(&report).map_err(|e| format!("cannot make the JSON: {e}"))?,
        };
        let path = folder.join(format!("{id}.{}", format.extension()));
        write_new(&path, &bytes)?;
        written.push(path);
    }
    Ok(Written::Files(written))
}

/// Writes `bytes` to a temporary file beside `path` and renames it into place, unless `path` exists by then. The
/// folder is made if it is missing.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let folder = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(folder).map_err(|e| format!("cannot make the folder {}: {e}", folder.display()))?;
    let mut file = tempfile::Builder::new()
        .prefix(".wf-report-")
        .tempfile_in(folder)
        .map_err(|e| format!("cannot write into {}: {e}", folder.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.persist_noclobber(path).map_err(|e| format!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}

/// The reports' thread (`wf-reports`): a look every `tick`, until stopped; how many files it wrote.
pub struct ReportThread(super::Worker<usize>);

impl ReportThread {
    pub fn start(
        ctx: ReportContext,
        source: HistorySource,
        clock: Arc<dyn Clock>,
        tick: Duration,
    ) -> std::io::Result<Self> {
        let worker = super::Worker::spawn("wf-reports", move |flag| {
            let mut history: Option<Box<dyn HistoryRead + Send>> = None;
            let mut no_data: HashSet<i64> = HashSet::new();
            let mut failing: HashSet<String> = HashSet::new();
            let mut files = 0;
            loop {
                let now_ms = clock.now_ms();
                let mut due = shifts_due(&ctx.calendar, now_ms, ctx.reports.after_ms, ctx.reports.catch_up);
                due.retain(|s| !no_data.contains(&s.start_ms));
                for shift in &due {
                    if history.is_none() {
                        match source.open() {
                            Ok(h) => history = Some(h),
                            Err(err) => {
                                note(&mut failing, format!("cannot read {}: {err}", source.name()));
                                break;
                            }
                        }
                    }
                    let Some(h) = &history else { break };
                    let id = shift_id(&ctx.calendar, shift);
                    match write_shift(h.as_ref(), &ctx, shift) {
                        Ok(Written::Files(paths)) => {
                            for path in &paths {
                                tracing::info!("shift report written: {}", path.display());
                            }
                            files += paths.len();
                            failing.retain(|p| !p.contains(&id));
                        }
                        Ok(Written::Present) => {}
                        Ok(Written::NoData) => {
                            tracing::info!("no data in shift {id}: no report written");
                            no_data.insert(shift.start_ms);
                        }
                        Err(err) => {
                            note(&mut failing, format!("shift {id}: {err}; tried again in {} s", tick.as_secs()));
                            // A database that went away is opened again next time.
                            history = None;
                        }
                    }
                }
                if sleep_unless(flag, tick) {
                    break;
                }
            }
            files
        })?;
        Ok(Self(worker))
    }

    /// Stops the thread after its current look; how many files it wrote.
    pub fn finish(self) -> usize {
        self.0.finish()
    }
}

/// Logs a problem once while it lasts.
fn note(failing: &mut HashSet<String>, problem: String) {
    if !failing.contains(&problem) {
        tracing::warn!("reports: {problem}");
        failing.insert(problem);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar() -> ShiftCalendar {
        ShiftCalendar::default_three_shifts(jiff::tz::TimeZone::get("Europe/Helsinki").expect("tzdb"))
    }

    /// 2026-11-20 12:00 UTC: shift A (06:00–14:00 Helsinki, 04:00–12:00 UTC) has just ended.
    const A_END: i64 = 1_795_176_000_000;

    #[test]
    fn a_shift_is_due_after_its_grace_and_catch_up_is_bounded() {
        let cal = calendar();
        let due = shifts_due(&cal, A_END + 60_000, 120_000, 3);
        let ids: Vec<String> = due.iter().map(|s| shift_id(&cal, s)).collect();
        assert_eq!(ids, ["2026-11-19-A", "2026-11-19-B", "2026-11-19-C"]);
        assert_eq!(ids.len(), 3);
        assert!(!ids.contains(&"2026-11-20-A".to_owned()), "within the grace: {ids:?}");
        let due = shifts_due(&cal, A_END + 120_000, 120_000, 3);
        let ids: Vec<String> = due.iter().map(|s| shift_id(&cal, s)).collect();
        assert_eq!(ids, ["2026-11-19-B", "2026-11-19-C", "2026-11-20-A"]);
        assert_eq!(shifts_due(&cal, A_END + 120_000, 120_000, 1).len(), 1);
        assert!(shifts_due(&cal, A_END + 120_000, 120_000, 0).is_empty());
    }

    #[test]
    fn a_report_file_is_never_written_over() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("2026-11-20-A.json");
        write_new(&path, b"first").expect("write");
        assert!(write_new(&path, b"second").is_err());
        assert_eq!(std::fs::read(&path).expect("read"), b"first");
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
        write_new(&dir.path().join("new/x.json"), b"x").expect("a missing folder is made");
        assert!(write_new(&path.join("x.json"), b"x").is_err(), "a folder that cannot be made is an error");
    }
}
