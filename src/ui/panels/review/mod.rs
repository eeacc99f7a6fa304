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
mod export;
mod replay;
mod timeline;
use export::*;
pub use replay::*;
pub use timeline::*;

/// How far back a value may be to count as the value at `t`.
const LOOKBACK_MS: i64 = crate::model::time::DAY_MS;
/// Playback speeds offered.
pub const SPEEDS: [f64; 4] = [1.0, 10.0, 60.0, 600.0];

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

    /// Offers *Shift report*, written into `dir` (HTML to print, and the same figures as JSON).
    pub fn with_reports(mut self, dir: std::path::PathBuf, site: String) -> Self {
        self.reports = Some((dir, site));
        self
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
}

#[cfg(test)]
mod tests;
