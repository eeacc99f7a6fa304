//! Review mode: the whole site at a past instant `t` on a timeline — every view (map, gauges, alarms, machine
//! states) drawn from the history cache as it was at `t`, with a scrubber that shows downtime bands and alarm
//! markers, play and pause at ×1 to ×600, stepping to the previous or next event, and a clear "REVIEW" label.
//!
//! Each seek is one job on the history reader: every signal's value at `t` (vehicle positions interpolated between
//! fixes), the alarms as they stood, and the OEE of the shift up to `t` — the shift's OEE inputs are read once
//! ([`ShiftReplay`]), and a seek feeds a copy of the accumulator checkpoint before `t` with the minutes up to it. The views then
//! read a [`LiveState`] built from those values instead of the live one; `ui()` never waits.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use egui::{Rect, RichText, Sense, Stroke, Ui, pos2, vec2};
use jiff::tz::TimeZone;

use crate::analytics::history::ShiftReplay;
use crate::analytics::{Accumulator, Period};
use crate::live::{LiveSettings, LiveState};
use crate::model::Sample;
use crate::model::alarm::Priority;
use crate::store::{AlarmView, History, Pending, journal, query};
use crate::ui::theme::Theme;

/// How far back a value may be to count as the value at `t`.
const LOOKBACK_MS: i64 = 24 * 3_600_000;
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

/// What the timeline shows.
#[derive(Default)]
struct Timeline {
    markers: Vec<(i64, Priority)>,
    down: Vec<(String, i64, i64)>,
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
    seeking: Option<Pending<Frame>>,
    replays: Replays,
    last_tick: Option<Instant>,
    pub problem: Option<String>,
    /// Its own reader when it reviews another file (a recording dropped onto the window).
    source: Option<History>,
    /// Where *Shift report* writes, and the site's name for it.
    reports: Option<(std::path::PathBuf, String)>,
    report: Option<Pending<std::path::PathBuf>>,
    /// *Shift report* was clicked; started on the next tick (which has the reader).
    report_asked: bool,
    /// The last report written, or why not.
    pub report_written: Option<Result<std::path::PathBuf, String>>,
}

/// The shifts' OEE inputs a review has read (on the reader thread), so a seek reads only the minutes around `t`.
#[derive(Clone, Default)]
pub struct Replays {
    shifts: Arc<Mutex<Vec<Arc<ShiftReplay>>>>,
    /// Inputs are read up to here (the end of the reviewed range).
    until_ms: i64,
}

impl Replays {
    /// Kept at once: the shift under the cursor and its neighbours.
    const KEEP: usize = 3;

    pub fn new(until_ms: i64) -> Self {
        Self { shifts: Arc::default(), until_ms }
    }

    /// The replay of the shift at `at_ms`, read now when it is not yet.
    pub fn shift_at(
        &self,
        conn: &rusqlite::Connection,
        settings: &LiveSettings,
        at_ms: i64,
    ) -> rusqlite::Result<Arc<ShiftReplay>> {
        let period = Period::at(&settings.calendar, at_ms);
        let mut shifts = self.shifts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(found) = shifts.iter().find(|r| r.period == period) {
            return Ok(Arc::clone(found));
        }
        let replay = Arc::new(ShiftReplay::load(conn, &settings.assets, &settings.calendar, &period, self.until_ms)?);
        if shifts.len() >= Self::KEEP {
            shifts.remove(0);
        }
        shifts.push(Arc::clone(&replay));
        Ok(replay)
    }
}

/// Reads the site at `at_ms` (values, alarms, the shift's OEE up to then).
pub fn load_frame(
    conn: &rusqlite::Connection,
    settings: &LiveSettings,
    replays: &Replays,
    at_ms: i64,
) -> Result<Frame, crate::store::Error> {
    let sql = crate::store::query::sqlite_error(conn);
    let values = query::values_at(conn, at_ms, LOOKBACK_MS).map_err(sql)?;
    let alarms = journal::alarms_at(conn, at_ms).map_err(sql)?;
    let replay = replays.shift_at(conn, settings, at_ms).map_err(sql)?;
    let seed = replay.at(conn, at_ms).map_err(sql)?;
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
            report: None,
            report_asked: false,
            report_written: None,
        }
    }

    /// Offers *Shift report*, written into `dir` (HTML to print, and the same figures as JSON).
    pub fn with_reports(mut self, dir: std::path::PathBuf, site: String) -> Self {
        self.reports = Some((dir, site));
        self
    }

    /// Writes the report of the reviewed range on the reader thread.
    fn request_report(&mut self, history: &History) {
        let Some((dir, site)) = self.reports.clone() else { return };
        let (settings, range, title) = (self.settings.clone(), (self.from_ms, self.to_ms), self.title.clone());
        self.report = history.run(move |conn| {
            let sql = crate::store::query::sqlite_error(conn);
            let fleet = crate::analytics::fleet::FleetParams {
                geofences: (*settings.geofences).clone(),
                stale_after_ms: settings.stale_after_ms,
            };
            let report =
                crate::analytics::report::full(conn, &settings.assets, &settings.calendar, &site, &fleet, range)
                    .map_err(sql)?;
            let html =
                crate::analytics::report_html::render(&report, &format!("Report: {title}"), report.alarms.as_ref());
            let write = |path: &std::path::Path, bytes: &[u8]| {
                std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(path, bytes))
                    .map_err(|e| crate::store::Error::NotWritable { path: path.to_owned(), reason: e.to_string() })
            };
            let stem = dir.join(format!("report-{}-{}", range.0, range.1));
            let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
            write(&stem.with_extension("json"), &json)?;
            let html_path = stem.with_extension("html");
            write(&html_path, html.as_bytes())?;
            Ok(html_path)
        });
    }

    /// Reviews another file than the app's cache, through its own reader.
    pub fn with_source(mut self, source: History) -> Self {
        self.source = Some(source);
        self
    }

    /// Puts a loaded frame on show.
    pub fn show(&mut self, frame: Frame) {
        let mut live = LiveState::replayed(self.settings.clone(), &frame.values);
        live.oee.tick(frame.at_ms);
        if let Some((period, seed)) = frame.oee {
            live.oee.begin_seed();
            live.oee.seed(&period, seed, frame.at_ms);
        }
        self.live = live;
        self.alarms = Arc::new(frame.alarms);
        self.shown_ms = Some(frame.at_ms);
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
        if self.report_asked
            && self.report.is_none()
            && let Some(h) = reader
        {
            self.report_asked = false;
            self.report_written = None;
            self.request_report(h);
        }
        if let Some(p) = &mut self.report
            && let Some(result) = p.poll()
        {
            self.report = None;
            self.report_written = Some(result.map_err(|e| e.to_string()));
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
            self.timeline_loading = history.run(move |conn| {
                let sql = crate::store::query::sqlite_error(conn);
                Ok(Timeline {
                    markers: journal::activations(conn, from, to).map_err(sql)?,
                    down: query::down_spans(conn, from, to).map_err(sql)?,
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
                Ok(frame) => self.show(frame),
                Err(err) => self.problem = Some(format!("The site at this time cannot be read: {err}")),
            }
        }
        if self.seeking.is_none() && self.shown_ms != Some(self.at_ms) {
            let (settings, replays, at) = (self.settings.clone(), self.replays.clone(), self.at_ms);
            self.seeking = history.run(move |conn| load_frame(conn, &settings, &replays, at));
        }
        if self.seeking.is_some() {
            ctx.request_repaint_after(Duration::from_millis(30));
        }
    }

    /// Every event the timeline knows, in time order: alarm activations and downtime starts and ends.
    fn events(&self) -> Vec<i64> {
        let mut out: Vec<i64> = self.timeline.markers.iter().map(|(t, _)| *t).collect();
        out.extend(self.timeline.down.iter().flat_map(|(_, a, b)| [*a, *b]));
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
            self.at_ms = t.clamp(self.from_ms, self.to_ms);
            self.playing = false;
        }
    }

    /// The bar across the top: the REVIEW label and time, the controls, and the timeline.
    pub fn bar_ui(&mut self, ui: &mut Ui, theme: &Theme, tz: &TimeZone) -> ReviewAction {
        let mut action = ReviewAction::None;
        let stamp = |ms: i64, fmt: &str| crate::ui::fmt_local(ms, tz, fmt);
        ui.horizontal(|ui| {
            ui.label(
                RichText::new(format!("REVIEW — {}", stamp(self.at_ms, "%a %d %b %H:%M:%S")))
                    .strong()
                    .size(18.0)
                    .color(theme.attention),
            );
            ui.label(RichText::new(&self.title).color(theme.text_dim));
            if self.seeking.is_some() {
                ui.spinner();
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
                    self.report_asked = true;
                }
                if busy {
                    ui.spinner();
                }
                match &self.report_written {
                    Some(Ok(path)) => {
                        ui.label(RichText::new(format!("Report written: {}", path.display())).color(theme.text_dim));
                    }
                    Some(Err(e)) => {
                        ui.label(RichText::new(format!("No report: {e}")).color(theme.alarm));
                    }
                    None => {}
                }
                ui.separator();
            }
            if ui.button("Back to live").on_hover_text("Leave the review and show the present").clicked() {
                action = ReviewAction::BackToLive;
            }
            if let Some(p) = &self.problem {
                ui.label(RichText::new(p).color(theme.alarm));
            }
        });
        self.timeline_ui(ui, theme, &stamp);
        action
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
            self.at_ms = t;
            self.playing = false;
        }
        if let Some(p) = response.hover_pos() {
            let f = f64::from(((p.x - rect.left()) / rect.width()).clamp(0.0, 1.0));
            #[expect(clippy::cast_possible_truncation, clippy::cast_precision_loss, reason = "a time on the bar")]
            let t = self.from_ms + (f * span as f64) as i64;
            response.on_hover_text(format!("{} — click or drag to go there", stamp(t, "%H:%M:%S")));
        }
    }
}
