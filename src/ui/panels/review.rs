//! Review mode: the whole site at a past instant `t` on a timeline — every view (map, gauges, alarms, machine
//! states) drawn from the history cache as it was at `t`, with a scrubber that shows downtime bands and alarm
//! markers, play and pause at ×1 to ×600, stepping to the previous or next event, and a clear "REVIEW" label.
//!
//! Each seek is one job on the history reader: every signal's value at `t` (vehicle positions interpolated between
//! fixes), the alarms as they stood, and the OEE of the shift up to `t` — the shift's OEE inputs are read once
//! ([`ShiftReplay`]), and a seek feeds a copy of the accumulator checkpoint before `t` with the minutes up to it.
//! The views then read a [`LiveState`] built from those values (also on the reader thread) instead of the live
//! one; `ui()` never waits, and only swaps the new site in.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use egui::{Rect, RichText, Sense, Stroke, Ui, pos2, vec2};
use jiff::tz::TimeZone;

use crate::analytics::history::ShiftReplay;
use crate::analytics::{Accumulator, Period};
use crate::live::{LiveSettings, LiveState};
use crate::model::Sample;
use crate::model::ShiftInstance;
use crate::model::alarm::Priority;
use crate::store::export::{ExportSummary, RecordingInfo};
use crate::store::{AlarmView, History, HistoryBackend, Pending, query};
use crate::ui::theme::Theme;

/// How far back a value may be to count as the value at `t`.
const LOOKBACK_MS: i64 = crate::model::time::DAY_MS;
/// Playback speeds offered.
pub const SPEEDS: [f64; 4] = [1.0, 10.0, 60.0, 600.0];

type Seed = std::collections::BTreeMap<Arc<str>, Accumulator>;

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

/// What the timeline shows.
#[derive(Default)]
struct Timeline {
    markers: Vec<(i64, Priority)>,
    down: Vec<(String, i64, i64)>,
    /// The logbook's notes about the range.
    notes: Vec<crate::model::logbook::Note>,
}

/// Choosing what to review: a shift of the calendar inside the data, or any range typed in.
#[derive(Default)]
struct RangePicker {
    /// The first and last instant the source holds, once read.
    extent: Option<(i64, i64)>,
    loading: Option<Pending<Option<(i64, i64)>>>,
    read: bool,
    /// The From/To fields are open.
    custom: bool,
    from_text: String,
    to_text: String,
    error: Option<String>,
}

/// A recording of the reviewed range being written, on its own thread.
struct Exporting {
    /// (steps done, steps in all)
    progress: Arc<(AtomicU64, AtomicU64)>,
    cancel: Arc<AtomicBool>,
    result: std::sync::mpsc::Receiver<Result<(PathBuf, ExportSummary), String>>,
}

/// A time typed into the range fields: local (site) time as `2026-11-20 06:00`, or RFC 3339.
pub fn parse_local(text: &str, tz: &TimeZone) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(civil) = text.parse::<jiff::civil::DateTime>() {
        return civil.to_zoned(tz.clone()).map(|z| z.timestamp().as_millisecond()).map_err(|e| e.to_string());
    }
    text.parse::<jiff::Timestamp>()
        .map(jiff::Timestamp::as_millisecond)
        .map_err(|err| format!("\"{text}\" is not a time ({err}); write it as 2026-11-20 06:00"))
}

/// A short "written" link (the bar keeps its layout); the path on hover, copied on a click.
fn written_ui(ui: &mut Ui, label: &str, path: &std::path::Path, what: &str) {
    let response = ui.link(label).on_hover_text(format!("{}\n{what}\nClick to copy the path", path.display()));
    if response.clicked() {
        ui.ctx().copy_text(path.display().to_string());
    }
}

/// A small progress bar for `done` of `total` steps, with its percentage.
fn progress_bar_ui(ui: &mut Ui, done: u64, total: u64) -> egui::Response {
    #[expect(clippy::cast_precision_loss, reason = "a fraction for a progress bar")]
    let fraction = if total == 0 { 0.0 } else { done as f32 / total as f32 };
    ui.add(egui::ProgressBar::new(fraction).desired_width(120.0).show_percentage())
}

/// What the review bar asks of the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewAction {
    None,
    BackToLive,
}

/// A review of `[from_ms, to_ms]` at `at_ms`.
pub struct Review {
    pub from_ms: i64,
    pub to_ms: i64,
    /// Where the cursor is.
    pub at_ms: i64,
    pub title: String,
    /// The site at the instant last loaded.
    pub live: LiveState,
    pub alarms: Arc<Vec<AlarmView>>,
    /// The instant `live` shows, once loaded.
    pub shown_ms: Option<i64>,
    pub playing: bool,
    pub speed: f64,
    settings: LiveSettings,
    timeline: Timeline,
    timeline_loading: Option<Pending<Timeline>>,
    /// The timeline was read (or could not be): it is asked for once.
    timeline_read: bool,
    seeking: Option<Pending<Site>>,
    replays: Replays,
    last_tick: Option<Instant>,
    pub problem: Option<String>,
    /// Its own reader when it reviews another file (a recording dropped onto the window).
    source: Option<History>,
    /// Where *Shift report* writes, and the site's name for it.
    reports: Option<(std::path::PathBuf, String)>,
    /// The site database a console reviews: *Export recording* writes from it (unless a dropped file is reviewed).
    site: Option<crate::store::site::SiteTarget>,
    report: Option<Pending<std::path::PathBuf>>,
    /// *Shift report* was clicked: the files' name (site time), started on the next tick (which has the reader).
    report_asked: Option<String>,
    /// The last report written, or why not.
    pub report_written: Option<Result<std::path::PathBuf, String>>,
    /// Set on a report being written: *Cancel* stops it and nothing is written.
    report_cancel: Arc<AtomicBool>,
    /// (steps done, steps in all) of the report being written.
    report_progress: Arc<(AtomicU64, AtomicU64)>,
    picker: RangePicker,
    /// Where *Export recording* writes, and what the recording carries (config, site plan).
    export_to: Option<(PathBuf, RecordingInfo)>,
    /// *Export recording* was clicked: the file to write, started on the next tick (which knows the source file).
    export_asked: Option<PathBuf>,
    exporting: Option<Exporting>,
    /// The last export: the file and what it holds, or why there is none.
    pub export_written: Option<Result<(PathBuf, ExportSummary), String>>,
}

/// What a review reads once and keeps for its seeks (on the reader thread): the shifts' OEE inputs, so a seek
/// reads only the minutes around `t`, and the list of stored signals.
#[derive(Clone, Default)]
pub struct Replays {
    inner: Arc<ReplaysInner>,
}

#[derive(Default)]
struct ReplaysInner {
    shifts: Mutex<Vec<Arc<ShiftReplay>>>,
    /// Inputs are read up to here (the end of the reviewed range).
    until_ms: i64,
    /// Every stored signal, and the machines' total counters among them.
    signals: Mutex<Option<Signals>>,
}

type Signals = (Arc<Vec<query::StoredSignal>>, Arc<Vec<query::StoredSignal>>);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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

impl Review {
    pub fn new(settings: LiveSettings, range: (i64, i64), at_ms: i64, title: String) -> Self {
        let (from_ms, to_ms) = range;
        Self {
            from_ms,
            to_ms,
            at_ms: at_ms.clamp(from_ms, to_ms),
            title,
            live: LiveState::new(settings.clone()),
            alarms: Arc::new(Vec::new()),
            shown_ms: None,
            playing: false,
            speed: 60.0,
            settings,
            timeline: Timeline::default(),
            timeline_loading: None,
            timeline_read: false,
            seeking: None,
            replays: Replays::new(to_ms),
            last_tick: None,
            problem: None,
            source: None,
            reports: None,
            site: None,
            report: None,
            report_asked: None,
            report_written: None,
            report_cancel: Arc::default(),
            report_progress: Arc::default(),
            picker: RangePicker::default(),
            export_to: None,
            export_asked: None,
            exporting: None,
            export_written: None,
        }
    }

    /// Offers *Export recording*, written into `dir` with `info` (the config and site plan it carries).
    pub fn with_export(mut self, dir: PathBuf, info: RecordingInfo) -> Self {
        self.export_to = Some((dir, info));
        self
    }

    /// A console's review: recordings are written from the site database.
    #[must_use]
    pub fn with_site(mut self, site: crate::store::site::SiteTarget) -> Self {
        self.site = Some(site);
        self
    }

    /// Reviews another range: the timeline, the OEE replay and the cursor start again at its start.
    pub fn set_range(&mut self, (from_ms, to_ms): (i64, i64), title: String) {
        self.from_ms = from_ms;
        self.to_ms = to_ms.max(from_ms + 1);
        self.at_ms = from_ms;
        self.title = title;
        self.timeline = Timeline::default();
        self.timeline_loading = None;
        self.timeline_read = false;
        self.replays = Replays::new(self.to_ms);
        self.seeking = None;
        self.shown_ms = None;
        self.playing = false;
        self.problem = None;
        self.report_written = None;
        self.export_written = None;
    }

    /// The shifts of the calendar that hold data, newest first.
    pub fn shifts(&self) -> Vec<ShiftInstance> {
        let Some((lo, hi)) = self.picker.extent else { return Vec::new() };
        let mut shifts: Vec<ShiftInstance> = self
            .settings
            .calendar
            .instances_between(lo, hi)
            .into_iter()
            .filter(|s| s.end_ms > lo && s.start_ms <= hi)
            .collect();
        shifts.reverse();
        shifts.truncate(90);
        shifts
    }

    /// Reviews one shift (up to the data's end if it is still running).
    pub fn pick_shift(&mut self, shift: &ShiftInstance, tz: &TimeZone) {
        let end = self.picker.extent.map_or(shift.end_ms, |(_, hi)| shift.end_ms.min(hi));
        let title = format!("Shift {} · {}", shift.name, crate::ui::fmt_local(shift.start_ms, tz, "%a %d %b"));
        self.set_range((shift.start_ms, end.max(shift.start_ms + 1)), title);
    }

    /// Starts writing a recording of the reviewed range from the cache at `db`.
    fn start_export(&mut self, db: PathBuf, out: PathBuf, ctx: &egui::Context) {
        let Some((_, info)) = self.export_to.clone() else { return };
        // A console reviewing the site exports the site's rows; a dropped file is exported from itself.
        let site = self.site.clone().filter(|_| self.source.is_none());
        let progress: Arc<(AtomicU64, AtomicU64)> = Arc::default();
        let cancel: Arc<AtomicBool> = Arc::default();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let (p, c, ctx, range) = (Arc::clone(&progress), Arc::clone(&cancel), ctx.clone(), (self.from_ms, self.to_ms));
        let spawned = std::thread::Builder::new().name("wf-export".to_owned()).spawn(move || {
            let mut report = |done: u64, total: u64| {
                p.0.store(done, Ordering::Relaxed);
                p.1.store(total, Ordering::Relaxed);
                ctx.request_repaint();
            };
            let result = out
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .map_err(|e| format!("{}: {e}", out.display()))
                .and_then(|()| match &site {
                    Some(target) => {
                        let mut client = target.connect_blocking("watchfloor-export").map_err(|e| e.to_string())?;
                        let info = RecordingInfo { source: target.display_url(), ..info };
                        let source = crate::store::export::Source::Site(&mut client);
                        crate::store::export::export_from(source, &out, range, &info, &mut report, &c)
                            .map_err(|e| e.to_string())
                    }
                    None => crate::store::export::export(&db, &out, range, &info, &mut report, &c)
                        .map_err(|e| e.to_string()),
                });
            let _ = tx.send(result.map(|summary| (out, summary)));
            ctx.request_repaint();
        });
        match spawned {
            Ok(_) => self.exporting = Some(Exporting { progress, cancel, result: rx }),
            Err(e) => self.export_written = Some(Err(format!("the export could not start: {e}"))),
        }
    }

    /// `<what>-<from>-to-<to>` in site time, for the files written of the reviewed range.
    fn file_stem(&self, what: &str, tz: &TimeZone) -> String {
        let stamp = |ms: i64| crate::ui::fmt_local(ms, tz, "%Y%m%d-%H%M");
        format!("{what}-{}-to-{}", stamp(self.from_ms), stamp(self.to_ms))
    }

    /// A file name for a recording of the reviewed range, not yet taken, in `dir`.
    fn export_path(&self, dir: &std::path::Path, tz: &TimeZone) -> PathBuf {
        let stem = self.file_stem("recording", tz);
        let mut path = dir.join(format!("{stem}.wfrec"));
        for n in 2..1000 {
            if !path.exists() {
                break;
            }
            path = dir.join(format!("{stem}-{n}.wfrec"));
        }
        path
    }

    /// Offers *Shift report*, written into `dir` (HTML to print, and the same figures as JSON).
    pub fn with_reports(mut self, dir: std::path::PathBuf, site: String) -> Self {
        self.reports = Some((dir, site));
        self
    }

    /// Writes the report of the reviewed range on the reader thread.
    fn request_report(&mut self, history: &History, name: String) {
        let Some((dir, site)) = self.reports.clone() else { return };
        let (settings, range, title) = (self.settings.clone(), (self.from_ms, self.to_ms), self.title.clone());
        self.report_cancel = Arc::default();
        self.report_progress = Arc::default();
        let (cancel, progress) = (Arc::clone(&self.report_cancel), Arc::clone(&self.report_progress));
        // A console's report reads the site database, as its review does.
        self.report = history.run_backend(move |conn| {
            let fleet = crate::analytics::fleet::FleetParams {
                geofences: (*settings.geofences).clone(),
                stale_after_ms: settings.stale_after_ms,
            };
            let mut step = |done: u64, of: u64| {
                progress.0.store(done, Ordering::Relaxed);
                progress.1.store(of, Ordering::Relaxed);
                !cancel.load(Ordering::Relaxed)
            };
            let (assets, calendar) = (&settings.assets, &settings.calendar);
            let history = conn.as_history();
            let report = crate::analytics::report::full(history, assets, calendar, &site, &fleet, range, &mut step)
                .map_err(|source| crate::store::Error::History { path: "history".into(), source })?;
            let Some(report) = report.filter(|_| !cancel.load(Ordering::Relaxed)) else {
                return Err(crate::store::Error::NotWritable { path: dir.clone(), reason: "cancelled".to_owned() });
            };
            let html =
                crate::analytics::report_html::render(&report, &format!("Report: {title}"), report.alarms.as_ref());
            let write = |path: &std::path::Path, bytes: &[u8]| {
                std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(path, bytes))
                    .map_err(|e| crate::store::Error::NotWritable { path: path.to_owned(), reason: e.to_string() })
            };
            let stem = dir.join(&name);
            let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
            write(&stem.with_extension("json"), &json)?;
            // The CSV forms, as `watchfloor report --format csv --section oee|vehicles|alarms` prints them.
            let mut csvs: Vec<(&str, Vec<u8>)> = vec![("oee", Vec::new()), ("vehicles", Vec::new())];
            let _ = crate::analytics::report::write_csv(&report, &mut csvs[0].1);
            let _ = crate::analytics::fleet::write_csv(&report.vehicles, &mut csvs[1].1);
            if let Some(kpis) = &report.alarms {
                let mut bytes = Vec::new();
                let _ = crate::analytics::alarm_kpi::write_csv(kpis, &mut bytes);
                csvs.push(("alarms", bytes));
            }
            for (section, bytes) in csvs {
                let name = format!("{}-{section}.csv", stem.file_name().unwrap_or_default().to_string_lossy());
                write(&dir.join(name), &bytes)?;
            }
            // The workbook, as `watchfloor report --format xlsx` writes it.
            match crate::analytics::report_xlsx::render(&report, &format!("Report: {title}")) {
                Ok(bytes) => write(&stem.with_extension("xlsx"), &bytes)?,
                Err(err) => tracing::warn!("the report's workbook was not made: {err}"),
            }
            let html_path = stem.with_extension("html");
            write(&html_path, html.as_bytes())?;
            Ok(html_path)
        });
    }

    /// The reader of the file under review when it is not the app's cache (a dropped recording).
    pub fn source(&self) -> Option<&History> {
        self.source.as_ref()
    }

    /// Moves the cursor to `t` (inside the range) and stops playback.
    pub fn seek(&mut self, t: i64) {
        self.at_ms = t.clamp(self.from_ms, self.to_ms);
        self.playing = false;
    }

    /// Reviews another file than the app's cache, through its own reader.
    pub fn with_source(mut self, source: History) -> Self {
        self.source = Some(source);
        self
    }

    /// Puts a loaded frame on show.
    pub fn show(&mut self, frame: Frame) {
        self.show_site(frame.into_site(&self.settings));
    }

    fn show_site(&mut self, site: Site) {
        self.live = site.live;
        self.alarms = Arc::new(site.alarms);
        self.shown_ms = Some(site.at_ms);
    }

    /// Moves the cursor (playback), collects finished reads and asks for the next one. Call once per frame.
    pub fn tick(&mut self, history: Option<&History>, ctx: &egui::Context) {
        let now = Instant::now();
        if self.playing {
            let dt = self.last_tick.map_or(Duration::ZERO, |t| now.duration_since(t));
            #[expect(clippy::cast_possible_truncation, reason = "milliseconds of playback per frame")]
            let step = (dt.as_secs_f64() * 1_000.0 * self.speed) as i64;
            self.at_ms = (self.at_ms + step).min(self.to_ms);
            if self.at_ms >= self.to_ms {
                self.playing = false;
            }
            ctx.request_repaint_after(Duration::from_millis(100));
        }
        self.last_tick = Some(now);
        let own = self.source.take();
        let reader = own.as_ref().or(history);
        if self.report.is_none()
            && let Some(h) = reader
            && let Some(name) = self.report_asked.take()
        {
            self.report_written = None;
            self.request_report(h, name);
        }
        if let Some(p) = &mut self.report
            && let Some(result) = p.poll()
        {
            self.report = None;
            self.report_written = Some(result.map_err(|e| e.to_string()));
        }
        if let Some(h) = reader
            && self.exporting.is_none()
            && let Some(out) = self.export_asked.take()
        {
            self.export_written = None;
            self.start_export(h.path().to_owned(), out, ctx);
        }
        if let Some(job) = &self.exporting {
            match job.result.try_recv() {
                Ok(result) => {
                    self.export_written = Some(result);
                    self.exporting = None;
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    self.export_written = Some(Err("the export stopped".to_owned()));
                    self.exporting = None;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => ctx.request_repaint_after(Duration::from_millis(200)),
            }
        }
        if let Some(h) = reader
            && self.picker.loading.is_none()
            && !self.picker.read
        {
            self.picker.loading =
                h.run(|conn| crate::store::export::data_extent(conn).map_err(crate::store::query::sqlite_error(conn)));
        }
        if let Some(p) = &mut self.picker.loading
            && let Some(result) = p.poll()
        {
            self.picker.loading = None;
            self.picker.read = true;
            // Without it only the range given at the start is offered.
            self.picker.extent = result.ok().flatten();
        }
        self.read(reader, ctx);
        self.source = own;
    }

    fn read(&mut self, history: Option<&History>, ctx: &egui::Context) {
        let Some(history) = history else {
            self.problem = Some("No history cache: nothing to review.".to_owned());
            return;
        };
        if self.timeline_loading.is_none() && !self.timeline_read {
            let (from, to) = (self.from_ms, self.to_ms);
            self.timeline_loading = history.run_backend(move |conn| {
                let history_error = |source| crate::store::Error::History { path: "history".into(), source };
                Ok(Timeline {
                    markers: crate::analytics::alarm_kpi::activations(conn.as_history(), from, to)
                        .map_err(history_error)?,
                    down: conn.down_spans(from, to)?,
                    notes: conn.as_history().notes(from, to).map_err(history_error)?,
                })
            });
        }
        if let Some(p) = &mut self.timeline_loading
            && let Some(result) = p.poll()
        {
            self.timeline_loading = None;
            self.timeline_read = true;
            match result {
                Ok(t) => self.timeline = t,
                Err(err) => self.problem = Some(format!("The timeline cannot be read: {err}")),
            }
        }
        if let Some(p) = &mut self.seeking
            && let Some(result) = p.poll()
        {
            self.seeking = None;
            match result {
                Ok(site) => self.show_site(site),
                Err(err) => self.problem = Some(format!("The site at this time cannot be read: {err}")),
            }
        }
        if self.seeking.is_none() && self.shown_ms != Some(self.at_ms) {
            let (settings, replays, at) = (self.settings.clone(), self.replays.clone(), self.at_ms);
            // The site the views read is built on the reader thread too: the window only swaps it in.
            self.seeking =
                history.run_backend(move |conn| Ok(frame_from(conn, &settings, &replays, at)?.into_site(&settings)));
        }
        if self.seeking.is_some() {
            ctx.request_repaint_after(Duration::from_millis(30));
        }
    }

    /// Every event the timeline knows, in time order: alarm activations, downtime starts and ends, and notes.
    fn events(&self) -> Vec<i64> {
        let mut out: Vec<i64> = self.timeline.markers.iter().map(|(t, _)| *t).collect();
        out.extend(self.timeline.down.iter().flat_map(|(_, a, b)| [*a, *b]));
        out.extend(self.timeline.notes.iter().map(|n| n.from_ms.max(self.from_ms)));
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The previous (`forward == false`) or next event from the cursor.
    pub fn step(&mut self, forward: bool) {
        let events = self.events();
        let target = if forward {
            events.into_iter().find(|t| *t > self.at_ms)
        } else {
            events.into_iter().rev().find(|t| *t < self.at_ms)
        };
        if let Some(t) = target {
            self.seek(t);
        }
    }

    /// The bar across the top: the REVIEW label and time, the controls, and the timeline.
    pub fn bar_ui(&mut self, ui: &mut Ui, theme: &Theme, tz: &TimeZone) -> ReviewAction {
        let mut action = ReviewAction::None;
        let stamp = |ms: i64, fmt: &str| crate::ui::fmt_local(ms, tz, fmt);
        // Wrapped: on a narrow window the controls go on a second row rather than off the edge.
        ui.horizontal_wrapped(|ui| {
            ui.label(
                RichText::new(format!("REVIEW — {}", stamp(self.at_ms, "%a %d %b %H:%M:%S")))
                    .strong()
                    .size(18.0)
                    .color(theme.attention),
            );
            self.range_ui(ui, tz);
            // The spinner's place is kept while no seek runs, so the controls do not jump during playback.
            let side = ui.spacing().interact_size.y;
            let (rect, _) = ui.allocate_exact_size(vec2(side, side), Sense::hover());
            if self.seeking.is_some() {
                ui.put(rect, egui::Spinner::new());
            }
            ui.separator();
            if ui.button("Previous event").clicked() {
                self.step(false);
            }
            let play = if self.playing { "Pause" } else { "Play" };
            if ui.button(play).clicked() {
                self.playing = !self.playing;
                if self.at_ms >= self.to_ms {
                    self.at_ms = self.from_ms;
                }
            }
            if ui.button("Next event").clicked() {
                self.step(true);
            }
            for s in SPEEDS {
                ui.selectable_value(&mut self.speed, s, format!("×{s:.0}"));
            }
            ui.separator();
            if self.reports.is_some() {
                let busy = self.report.is_some();
                if ui
                    .add_enabled(!busy, egui::Button::new("Shift report"))
                    .on_hover_text("Write the report of this range: a printable HTML document and its JSON")
                    .clicked()
                {
                    self.report_asked = Some(self.file_stem("report", tz));
                }
                if busy {
                    let progress = &self.report_progress;
                    progress_bar_ui(ui, progress.0.load(Ordering::Relaxed), progress.1.load(Ordering::Relaxed))
                        .on_hover_text("Computing the report");
                    if ui.button("Cancel").on_hover_text("Stop writing the report").clicked() {
                        self.report_cancel.store(true, Ordering::Relaxed);
                        self.report = None;
                        self.report_written = Some(Err("cancelled".to_owned()));
                    }
                }
                match &self.report_written {
                    Some(Ok(path)) => written_ui(ui, "Report written", path, "HTML, JSON and CSV beside it"),
                    Some(Err(e)) => {
                        ui.label(RichText::new(format!("No report: {e}")).color(theme.alarm));
                    }
                    None => {}
                }
                ui.separator();
            }
            self.export_ui(ui, theme, tz);
            if ui.button("Back to live").on_hover_text("Leave the review and show the present").clicked() {
                action = ReviewAction::BackToLive;
            }
            if let Some(p) = &self.problem {
                ui.label(RichText::new(p).color(theme.alarm));
            }
        });
        if self.picker.custom {
            self.custom_range_ui(ui, theme, tz);
        }
        self.timeline_ui(ui, theme, &stamp);
        action
    }

    /// The range being reviewed, and the shifts (or a custom range) to review instead.
    fn range_ui(&mut self, ui: &mut Ui, tz: &TimeZone) {
        let shifts = self.shifts();
        let mut picked = None;
        egui::ComboBox::new("review_range", "Range")
            .selected_text(&self.title)
            .width(230.0)
            .show_ui(ui, |ui| {
                for shift in &shifts {
                    let label = format!(
                        "Shift {} · {} {}–{}",
                        shift.name,
                        crate::ui::fmt_local(shift.start_ms, tz, "%a %d %b"),
                        crate::ui::fmt_local(shift.start_ms, tz, "%H:%M"),
                        crate::ui::fmt_local(shift.end_ms, tz, "%H:%M"),
                    );
                    let current = self.from_ms == shift.start_ms;
                    if ui.selectable_label(current, label).clicked() {
                        picked = Some(shift.clone());
                    }
                }
                if ui.selectable_label(self.picker.custom, "Custom range…").clicked() {
                    self.picker.custom = true;
                    self.picker.from_text = crate::ui::fmt_local(self.from_ms, tz, "%Y-%m-%d %H:%M");
                    self.picker.to_text = crate::ui::fmt_local(self.to_ms, tz, "%Y-%m-%d %H:%M");
                }
            })
            .response
            .on_hover_text("Review another shift, or any range");
        if let Some(shift) = picked {
            self.picker.custom = false;
            self.pick_shift(&shift, tz);
        }
    }

    /// From/To fields in site time, and *Show*.
    fn custom_range_ui(&mut self, ui: &mut Ui, theme: &Theme, tz: &TimeZone) {
        ui.horizontal(|ui| {
            let from = ui.label("From");
            ui.add(egui::TextEdit::singleline(&mut self.picker.from_text).desired_width(130.0)).labelled_by(from.id);
            let to = ui.label("To");
            ui.add(egui::TextEdit::singleline(&mut self.picker.to_text).desired_width(130.0)).labelled_by(to.id);
            ui.label(RichText::new(format!("site time ({})", tz.iana_name().unwrap_or("local"))).color(theme.text_dim));
            if ui.button("Show").clicked() {
                match (parse_local(&self.picker.from_text, tz), parse_local(&self.picker.to_text, tz)) {
                    (Ok(from), Ok(to)) if from < to => {
                        self.picker.error = None;
                        self.picker.custom = false;
                        let title = format!(
                            "{} – {}",
                            crate::ui::fmt_local(from, tz, "%a %d %b %H:%M"),
                            crate::ui::fmt_local(to, tz, "%a %d %b %H:%M")
                        );
                        self.set_range((from, to), title);
                    }
                    (Ok(_), Ok(_)) => self.picker.error = Some("From must be before To".to_owned()),
                    (Err(e), _) | (_, Err(e)) => self.picker.error = Some(e),
                }
            }
            if ui.button("Close").clicked() {
                self.picker.custom = false;
                self.picker.error = None;
            }
            if let Some(e) = &self.picker.error {
                ui.label(RichText::new(e).color(theme.alarm));
            }
        });
    }

    /// *Export recording*: progress and *Cancel* while it runs, then the file written.
    fn export_ui(&mut self, ui: &mut Ui, theme: &Theme, tz: &TimeZone) {
        let Some((dir, _)) = &self.export_to else { return };
        if let Some(job) = &self.exporting {
            let (done, total) = (job.progress.0.load(Ordering::Relaxed), job.progress.1.load(Ordering::Relaxed));
            progress_bar_ui(ui, done, total).on_hover_text("Writing the recording");
            if ui.button("Cancel export").clicked() {
                job.cancel.store(true, Ordering::Relaxed);
            }
        } else if ui
            .button("Export recording")
            .on_hover_text("Write this range, with the config and site plan, to a .wfrec file to open elsewhere")
            .clicked()
        {
            self.export_asked = Some(self.export_path(&dir.clone(), tz));
        }
        match &self.export_written {
            Some(Ok((path, summary))) => {
                let what = format!("{} samples, {} MB", summary.samples, summary.bytes / 1_000_000);
                written_ui(ui, "Recording written", path, &what);
            }
            Some(Err(e)) => {
                ui.label(RichText::new(format!("No recording: {e}")).color(theme.alarm));
            }
            None => {}
        }
        ui.separator();
    }

    fn timeline_ui(&mut self, ui: &mut Ui, theme: &Theme, stamp: &dyn Fn(i64, &str) -> String) {
        let width = ui.available_width();
        let (rect, response) = ui.allocate_exact_size(vec2(width, 34.0), Sense::click_and_drag());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 2.0, theme.tile);
        let span = (self.to_ms - self.from_ms).max(1);
        #[expect(clippy::cast_precision_loss, reason = "milliseconds of a reviewed range")]
        let x_of = |t: i64| rect.left() + rect.width() * ((t - self.from_ms) as f32 / span as f32);
        // Downtime: one band per machine stop, stacked in the lower half.
        for (_, a, b) in &self.timeline.down {
            let band =
                Rect::from_min_max(pos2(x_of(*a), rect.center().y), pos2(x_of(*b).max(x_of(*a) + 1.0), rect.bottom()));
            painter.rect_filled(band, 0.0, theme.attention.gamma_multiply(0.35));
        }
        // Alarms: a tick each in the upper half, in the priority's colour.
        for (t, p) in &self.timeline.markers {
            let x = x_of(*t);
            let colour = crate::ui::panels::alarms::priority_colour(theme, *p);
            painter.line_segment([pos2(x, rect.top() + 2.0), pos2(x, rect.center().y)], Stroke::new(1.5, colour));
        }
        // Notes: a small flag on the top edge at what each is about (a range's span underlined).
        for note in &self.timeline.notes {
            let (a, b) = (x_of(note.from_ms.max(self.from_ms)), x_of(note.end_ms().min(self.to_ms)));
            if b > a + 1.0 {
                painter
                    .line_segment([pos2(a, rect.top() + 1.0), pos2(b, rect.top() + 1.0)], Stroke::new(2.0, theme.text));
            }
            let flag = [pos2(a, rect.top()), pos2(a + 7.0, rect.top() + 4.0), pos2(a, rect.top() + 8.0)];
            painter.add(egui::Shape::convex_polygon(flag.to_vec(), theme.text_strong, Stroke::NONE));
        }
        let x = x_of(self.at_ms);
        painter.line_segment([pos2(x, rect.top()), pos2(x, rect.bottom())], Stroke::new(2.0, theme.text_strong));
        painter.text(
            pos2(rect.left() + 4.0, rect.bottom() - 2.0),
            egui::Align2::LEFT_BOTTOM,
            stamp(self.from_ms, "%H:%M"),
            egui::FontId::proportional(11.0),
            theme.text_dim,
        );
        painter.text(
            pos2(rect.right() - 4.0, rect.bottom() - 2.0),
            egui::Align2::RIGHT_BOTTOM,
            stamp(self.to_ms, "%H:%M"),
            egui::FontId::proportional(11.0),
            theme.text_dim,
        );
        if let Some(p) = response.interact_pointer_pos()
            && (response.clicked() || response.dragged())
        {
            let f = f64::from(((p.x - rect.left()) / rect.width()).clamp(0.0, 1.0));
            #[expect(clippy::cast_possible_truncation, clippy::cast_precision_loss, reason = "a time on the bar")]
            let t = self.from_ms + (f * span as f64) as i64;
            self.seek(t);
        }
        if let Some(p) = response.hover_pos() {
            let f = f64::from(((p.x - rect.left()) / rect.width()).clamp(0.0, 1.0));
            #[expect(clippy::cast_possible_truncation, clippy::cast_precision_loss, reason = "a time on the bar")]
            let t = self.from_ms + (f * span as f64) as i64;
            // The notes about the hovered moment (within 4 px), with who wrote them.
            let near = 4.0 * span as f64 / f64::from(rect.width().max(1.0));
            let notes: Vec<String> = self
                .timeline
                .notes
                .iter()
                .filter(|n| (n.from_ms as f64 - near..=n.end_ms() as f64 + near).contains(&(t as f64)))
                .map(|n| format!("Note by {} at {}: {}", n.author, stamp(n.from_ms, "%H:%M"), n.text))
                .collect();
            let mut tip = format!("{} — click or drag to go there", stamp(t, "%H:%M:%S"));
            for note in notes {
                tip.push('\n');
                tip.push_str(&note);
            }
            response.on_hover_text(tip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_fields_take_site_time_or_rfc_3339_and_say_what_is_wrong() {
        let helsinki = TimeZone::get("Europe/Helsinki").expect("tzdb");
        // 06:00 in Helsinki in November is 04:00 UTC.
        let t = parse_local("2026-11-20 06:00", &helsinki).expect("site time");
        assert_eq!(t, "2026-11-20T04:00:00Z".parse::<jiff::Timestamp>().expect("ts").as_millisecond());
        assert_eq!(parse_local(" 2026-11-20T06:00 ", &helsinki), Ok(t));
        assert_eq!(parse_local("2026-11-20T04:00:00Z", &helsinki), Ok(t));
        let err = parse_local("20.11. 6 Uhr", &helsinki).expect_err("not a time");
        assert!(err.contains("2026-11-20 06:00"), "{err}");
    }

    #[test]
    fn a_new_range_starts_the_review_again_at_its_start() {
        let mut review = Review::new(LiveSettings::default(), (0, 3_600_000), 1_800_000, "first".into());
        review.timeline_read = true;
        review.shown_ms = Some(1_800_000);
        review.playing = true;
        review.set_range((7_200_000, 7_100_000), "second".into());
        assert_eq!((review.from_ms, review.to_ms, review.at_ms), (7_200_000, 7_200_001, 7_200_000));
        assert!(!review.timeline_read && review.shown_ms.is_none() && !review.playing);
        assert_eq!(review.title, "second");
    }

    #[test]
    fn the_shifts_offered_are_those_holding_data_newest_first() {
        let mut review = Review::new(LiveSettings::default(), (0, 1), 0, "t".into());
        assert!(review.shifts().is_empty(), "nothing before the extent is read");
        // The default calendar (UTC): A 06–14, B 14–22, C 22–06. Data from 2026-11-20 10:00 to 2026-11-21 07:00 UTC.
        let at = |s: &str| s.parse::<jiff::Timestamp>().expect("ts").as_millisecond();
        review.picker.extent = Some((at("2026-11-20T10:00:00Z"), at("2026-11-21T07:00:00Z")));
        let names: Vec<String> = review.shifts().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["A", "C", "B", "A"]);
        let newest = review.shifts().remove(0);
        review.pick_shift(&newest, &TimeZone::UTC);
        assert_eq!((review.from_ms, review.to_ms), (at("2026-11-21T06:00:00Z"), at("2026-11-21T07:00:00Z")));
        assert!(review.title.starts_with("Shift A"), "{}", review.title);
    }
}
