//! The trend panel: a historian-style chart of up to [`MAX_PENS`] signals from the history cache.
//!
//! - Left: a searchable tree of signal ids (split on `/`), from the cache (asked for at first show, then every
//!   [`SIGNALS_REFRESH_SECS`]) merged with the signals the live view knows.
//! - Centre: range presets, live follow, earlier/later, a custom range typed in site time; the plot; and the pen
//!   table, which doubles as the readout of the buckets under the pointer (or the latest ones).
//! - Each pen has at most one query on the history reader thread at a time: when the range changes (debounced by
//!   [`SETTLE_SECS`] while the user pans or zooms) and every [`LIVE_REFRESH_SECS`] while following live. Results are
//!   polled once per frame and never waited for; the last series stays drawn, with a spinner, while the next loads.
//!   Bucket widths are round (1 s, 10 s, 1 min, ...) and aligned to them, so a window that moves with "now" keeps its
//!   buckets and the rollup tiers fill buckets evenly.
//! - Every pen has its own y axis: its values are mapped onto 0..1 through a round range of its own ([`Scale`]), all
//!   axes share the grid lines, and each axis labels them in its pen's unit.
//! - x is seconds since an origin (the UTC day the window starts in), so `f64` keeps sub-millisecond precision; the
//!   axis, the hover text and the readout show site time.

use std::collections::{BTreeMap, HashSet};

use egui::{Color32, RichText, Stroke, Ui, Vec2b};
use egui_plot::{
    AxisHints, FilledArea, GridInput, GridMark, HPlacement, HoverPosition, Line, LineStyle, Plot, PlotBounds, PlotUi,
    Points, Span,
};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::live::LiveState;
use crate::model::ValueKind;
use crate::store::query::{Bucket, Series, SignalInfo, Tier, display_runs};
use crate::store::{Error, History, Pending};
use crate::ui::theme::Theme;
use crate::ui::{UiCommand, ViewCtx};
use crate::ui::{fmt_count, fmt_duration_secs};

/// At most this many pens on one chart.
pub const MAX_PENS: usize = 8;

use crate::model::time::{DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS};
mod catalog;
mod plot;
mod scale;
mod time;
use catalog::*;
use plot::*;
use scale::*;
use time::*;

/// The range buttons: label and window width.
pub const PRESETS: [(&str, i64); 5] =
    [("15 min", 15 * MINUTE_MS), ("1 h", HOUR_MS), ("8 h", 8 * HOUR_MS), ("24 h", DAY_MS), ("7 d", 7 * DAY_MS)];

/// Narrowest and widest window (zooming stops there).
pub const MIN_SPAN_MS: i64 = 10 * SECOND_MS;
pub const MAX_SPAN_MS: i64 = 400 * DAY_MS;

/// How often the list of stored signals is asked for again.
pub const SIGNALS_REFRESH_SECS: f64 = 30.0;
/// How often a live window asks for its data again.
pub const LIVE_REFRESH_SECS: f64 = 1.5;
/// How long panning or zooming must rest before the visible range is queried.
pub const SETTLE_SECS: f64 = 0.3;

/// The plot's y range: pens are drawn in 0..1, with a little room above and below.
const Y_MIN: f64 = -0.04;
const Y_MAX: f64 = 1.04;

/// Bucket widths a query may use: round, so buckets line up with the minute and hour rollups and with the clock.
const BUCKET_WIDTHS_MS: [i64; 21] = [
    100,
    200,
    500,
    SECOND_MS,
    2 * SECOND_MS,
    5 * SECOND_MS,
    10 * SECOND_MS,
    15 * SECOND_MS,
    30 * SECOND_MS,
    MINUTE_MS,
    2 * MINUTE_MS,
    5 * MINUTE_MS,
    10 * MINUTE_MS,
    15 * MINUTE_MS,
    30 * MINUTE_MS,
    HOUR_MS,
    2 * HOUR_MS,
    3 * HOUR_MS,
    6 * HOUR_MS,
    12 * HOUR_MS,
    DAY_MS,
];

/// Steps of the time grid, seconds; each is a divisor of the one two places further on, so the three grid levels
/// (step, 2 places on, 4 places on) nest.
const GRID_STEPS_SECS: [i64; 20] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400, 172_800, 604_800,
];

/// Appended to the name of a line bridging a gap, so its hover text can say so.
const INTERPOLATED_SUFFIX: &str = " (interpolated)";

pub use crate::ui::ReviewCursor;

/// One trended signal. Only the id and the colour are kept between runs.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Pen {
    /// The signal's id.
    pub signal: String,
    /// Index into [`Theme::trend_pens`]; a pen keeps its colour when others are removed.
    pub colour: usize,
    #[serde(skip)]
    data: PenData,
}

impl Pen {
    pub fn colour(&self, theme: &Theme) -> Color32 {
        theme.trend_pens[self.colour % theme.trend_pens.len()]
    }

    /// The series shown (it may be from an older range while the next one loads).
    pub fn series(&self) -> Option<&Series> {
        self.data.series.as_ref()
    }

    /// Why the last query failed, if it did.
    pub fn error(&self) -> Option<&str> {
        self.data.error.as_deref()
    }

    pub fn loading(&self) -> bool {
        self.data.pending.is_some()
    }
}

/// A pen's queries and what they brought.
#[derive(Default)]
struct PenData {
    series: Option<Series>,
    pending: Option<Pending<Series>>,
    /// The range last asked for (answered or not).
    requested: Option<QueryKey>,
    /// When it was asked for, in egui's time (seconds).
    requested_at: Option<f64>,
    error: Option<String>,
}

/// The range and bucket count of one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct QueryKey {
    from_ms: i64,
    to_ms: i64,
    buckets: usize,
}

impl QueryKey {
    /// The window aligned outwards to round buckets, about one per two pixels (100 to 2000).
    fn for_window((from_ms, to_ms): (i64, i64), plot_width_px: f32) -> Self {
        let span_ms = (to_ms - from_ms).max(1);
        // Truncation is fine: a pixel more or less does not matter.
        let target = ((plot_width_px / 2.0) as i64).clamp(100, 2_000);
        let bucket_ms = bucket_width_ms(span_ms, target);
        let from_ms = from_ms.div_euclid(bucket_ms) * bucket_ms;
        let to_ms = (to_ms + bucket_ms - 1).div_euclid(bucket_ms) * bucket_ms;
        let buckets = usize::try_from((to_ms - from_ms) / bucket_ms).unwrap_or(1).max(1);
        Self { from_ms, to_ms, buckets }
    }

    fn span_ms(self) -> i64 {
        self.to_ms - self.from_ms
    }
}

/// The narrowest round bucket width that covers `span_ms` in at most `target` buckets.
fn bucket_width_ms(span_ms: i64, target: i64) -> i64 {
    let least = (span_ms + target - 1) / target.max(1);
    BUCKET_WIDTHS_MS.iter().copied().find(|&w| w >= least).unwrap_or_else(|| (least + DAY_MS - 1) / DAY_MS * DAY_MS)
}

/// The panel's state: what is kept between runs (pens, range, options) and, skipped by serde, what is not.
#[derive(Serialize, Deserialize)]
#[serde(default)]
pub struct TrendPanel {
    /// The pens, in the order they were added (at most [`MAX_PENS`]).
    pub pens: Vec<Pen>,
    /// Width of the time window, ms.
    pub span_ms: i64,
    /// The window's end follows "now".
    pub live: bool,
    /// The window's end when not live, UTC ms.
    pub end_ms: i64,
    /// Bridge gaps with dashed straight lines (marked as interpolated, never as measured).
    pub interpolate: bool,
    #[serde(skip)]
    rt: Runtime,
}

impl Default for TrendPanel {
    fn default() -> Self {
        Self { pens: Vec::new(), span_ms: HOUR_MS, live: true, end_ms: 0, interpolate: false, rt: Runtime::default() }
    }
}

/// State that lives only while the app runs.
#[derive(Default)]
struct Runtime {
    catalog: Catalog,
    filter: String,
    tree: Option<TreeCache>,
    from_text: String,
    to_text: String,
    range_error: Option<String>,
    /// egui time of the last pan or zoom: queries wait until it has settled.
    moved_at: Option<f64>,
    /// Size of the plot area last frame.
    plot_size_px: Option<egui::Vec2>,
    /// Site time under the pointer last frame.
    hover_ms: Option<i64>,
    /// In review, the range and cursor: following "live" then means showing the reviewed range.
    review: Option<ReviewCursor>,
    /// The logbook's notes about the range read last (wider than the window, so panning needs no new read).
    notes: Vec<crate::model::logbook::Note>,
    notes_read: Option<((i64, i64), std::time::Instant)>,
    notes_loading: Option<(i64, i64, NotesRead)>,
}

/// A read of the logbook on the reader thread.
type NotesRead = Pending<(Vec<crate::model::logbook::Note>, crate::store::HistorySource)>;

/// Notes are read again this often, as others may write them.
const NOTES_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

impl TrendPanel {
    /// The window shown at `now_ms`, UTC ms.
    pub fn window_ms(&self, now_ms: i64) -> (i64, i64) {
        if let Some(r) = self.rt.review
            && self.live
        {
            return (r.from_ms, r.to_ms.max(r.from_ms + MIN_SPAN_MS));
        }
        let span = self.span_ms.clamp(MIN_SPAN_MS, MAX_SPAN_MS);
        let end = if self.live { now_ms } else { self.end_ms };
        (end - span, end)
    }

    /// Adds a pen for `signal`; `false` if it is there already or the chart is full.
    pub fn add_pen(&mut self, signal: &str) -> bool {
        if self.pens.len() >= MAX_PENS || self.pens.iter().any(|p| p.signal == signal) {
            return false;
        }
        let colour = (0..MAX_PENS).find(|c| !self.pens.iter().any(|p| p.colour == *c)).unwrap_or(0);
        self.pens.push(Pen { signal: signal.to_owned(), colour, data: PenData::default() });
        true
    }

    pub fn remove_pen(&mut self, signal: &str) {
        self.pens.retain(|p| p.signal != signal);
    }

    /// Whether any pen is waiting for data.
    pub fn loading(&self) -> bool {
        self.pens.iter().any(Pen::loading)
    }

    /// Shows the last `span_ms`, following live.
    pub fn show_last(&mut self, span_ms: i64) {
        self.span_ms = span_ms.clamp(MIN_SPAN_MS, MAX_SPAN_MS);
        self.live = true;
        self.rt.range_error = None;
    }

    /// Draws the panel; in review, a click on the plot asks to move the cursor there ([`UiCommand::Seek`]).
    pub fn ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>) -> Vec<UiCommand> {
        let Some(history) = env.history else {
            no_history_ui(ui, env.theme);
            return Vec::new();
        };
        if self.rt.review.is_some() != env.cursor.is_some() {
            // Into or out of review: follow the reviewed range, or the present again, asked for at once.
            self.live = true;
            for pen in &mut self.pens {
                pen.data.requested_at = None;
            }
        }
        self.rt.review = env.cursor;
        let time = ui.input(|i| i.time);
        self.rt.catalog.update(history, env.live, time);
        self.poll_results();

        let mut add = None;
        egui::Panel::left("trend_signals").resizable(true).default_size(300.0).show(ui, |ui| {
            add = self.signal_tree_ui(ui, env.theme);
        });
        if let Some(signal) = add {
            self.add_pen(&signal);
        }

        self.toolbar_ui(ui, env);
        let window = self.window_ms(env.now_ms);
        if self.pens.is_empty() {
            ui.centered_and_justified(|ui| {
                ui.label(RichText::new("Pick signals on the left to trend them").size(16.0).color(env.theme.text_dim));
            });
            return Vec::new();
        }

        let divisions = self.rt.plot_size_px.map_or(5, |s| (s.y / 70.0).floor().clamp(2.0, 10.0) as u32);
        let scales: Vec<Option<Scale>> =
            self.pens.iter().map(|p| p.series().and_then(|s| pen_scale(s, window, divisions))).collect();
        let mut remove = None;
        egui::Panel::bottom("trend_pens").resizable(false).show(ui, |ui| {
            remove = self.pen_table_ui(ui, env, &scales);
        });
        self.load_notes(history, window);
        let outcome = self.plot_ui(ui, env, window, &scales, divisions);
        self.apply_plot_outcome(&outcome, window, ui, time);
        if let Some(signal) = remove {
            self.remove_pen(&signal);
        }
        let window = self.window_ms(env.now_ms);
        self.request_series(history, window, time, ui.ctx());
        outcome.clicked_ms.filter(|_| env.cursor.is_some()).map(UiCommand::Seek).into_iter().collect()
    }

    /// Takes in the results that have arrived.
    fn poll_results(&mut self) {
        for pen in &mut self.pens {
            let Some(result) = pen.data.pending.as_mut().and_then(Pending::poll) else { continue };
            pen.data.pending = None;
            match result {
                Ok(series) => {
                    pen.data.series = Some(series);
                    pen.data.error = None;
                }
                Err(err) => {
                    if matches!(err, Error::UnknownSignal(_) | Error::Missing { .. }) {
                        pen.data.series = None;
                    }
                    pen.data.error = Some(match err {
                        Error::UnknownSignal(_) => "Not in the history cache (yet)".to_owned(),
                        Error::Missing { .. } => "No history recorded yet".to_owned(),
                        other => other.to_string(),
                    });
                }
            }
        }
    }

    /// Asks for each pen's series when its range changed, or, when live, when it is due again.
    fn request_series(&mut self, history: &History, window: (i64, i64), time: f64, ctx: &egui::Context) {
        if let Some(moved) = self.rt.moved_at {
            let rest = SETTLE_SECS - (time - moved);
            if rest > 0.0 {
                ctx.request_repaint_after(std::time::Duration::from_secs_f64(rest));
                return;
            }
            self.rt.moved_at = None;
        }
        let width = self.rt.plot_size_px.map_or(1_000.0, |s| s.x);
        let key = QueryKey::for_window(window, width);
        let live = self.live;
        let mut busy = false;
        for pen in &mut self.pens {
            if pen.data.pending.is_some() {
                continue;
            }
            let since_due = pen.data.requested_at.is_none_or(|t| time - t >= LIVE_REFRESH_SECS);
            let due = match pen.data.requested {
                None => true,
                // Another width or resolution: the user asked for it, so at once.
                Some(k) if k.span_ms() != key.span_ms() || k.buckets != key.buckets => true,
                // The same width, moved: at once when panned, at the live pace when following.
                Some(k) if k != key => !live || since_due,
                Some(_) => live && since_due,
            };
            if !due {
                continue;
            }
            match history.series(&pen.signal, key.from_ms, key.to_ms, key.buckets) {
                Some(pending) => {
                    pen.data.pending = Some(pending);
                    pen.data.requested = Some(key);
                    pen.data.requested_at = Some(time);
                }
                // The reader's queue is full: ask again next frame.
                None => busy = true,
            }
        }
        if busy {
            ctx.request_repaint();
        } else if live {
            ctx.request_repaint_after(std::time::Duration::from_secs_f64(LIVE_REFRESH_SECS));
        }
    }

    /// Adopts the user's pan or zoom (leaving live follow), a wheel zoom, or a double click (back to live).
    fn apply_plot_outcome(&mut self, outcome: &PlotOutcome, window: (i64, i64), ui: &Ui, time: f64) {
        self.rt.plot_size_px = Some(outcome.size_px);
        self.rt.hover_ms = outcome.hover_ms;
        let mut new = outcome.window;
        if let Some(at) = outcome.hover_ms {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            if scroll != 0.0 {
                // A notch of the wheel (about 50 points) zooms by about 10 %.
                let factor = f64::from(-scroll * 0.002).exp();
                let scale = |t: i64| at + ((t - at) as f64 * factor).round() as i64;
                new = (scale(new.0), scale(new.1));
            }
        }
        if outcome.double_clicked {
            self.live = true;
            self.rt.moved_at = Some(time);
        } else if new != window {
            let span = (new.1 - new.0).clamp(MIN_SPAN_MS, MAX_SPAN_MS);
            let centre = new.0 + (new.1 - new.0) / 2;
            self.live = false;
            self.span_ms = span;
            self.end_ms = centre + span / 2;
            self.rt.moved_at = Some(time);
        }
    }

    fn pan_by(&mut self, delta_ms: i64, now_ms: i64) {
        let (_, end) = self.window_ms(now_ms);
        let end = end + delta_ms;
        if delta_ms > 0 && end >= now_ms {
            self.live = true;
        } else {
            self.live = false;
            self.end_ms = end;
        }
        self.rt.range_error = None;
    }

    fn set_live(&mut self, live: bool, now_ms: i64) {
        if !live {
            self.end_ms = self.window_ms(now_ms).1;
        }
        self.live = live;
    }

    /// Reads the typed range; an empty field keeps that end of the current window.
    fn apply_custom_range(&mut self, tz: &TimeZone, now_ms: i64) {
        let window = self.window_ms(now_ms);
        let read = |text: &str, current: i64| {
            if text.trim().is_empty() { Ok(current) } else { parse_site_time(text, tz, now_ms) }
        };
        match (read(&self.rt.from_text, window.0), read(&self.rt.to_text, window.1)) {
            (Ok(from), Ok(to)) if to - from > MAX_SPAN_MS => {
                self.rt.range_error = Some("A range of at most 400 days can be shown.".to_owned());
            }
            (Ok(from), Ok(to)) if to - from >= MIN_SPAN_MS => {
                self.live = false;
                self.span_ms = to - from;
                self.end_ms = to;
                self.rt.range_error = None;
                self.rt.from_text.clear();
                self.rt.to_text.clear();
            }
            (Ok(_), Ok(_)) => self.rt.range_error = Some("\"To\" must be at least 10 s after \"From\".".to_owned()),
            (Err(err), _) | (_, Err(err)) => self.rt.range_error = Some(err),
        }
    }

    /// The search box and the tree; returns the signal clicked.
    /// Presets, earlier/later, live, interpolation, the spinner; then the custom range and what is shown.
    fn toolbar_ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>) {
        let now_ms = env.now_ms;
        ui.horizontal_wrapped(|ui| {
            for (label, span_ms) in PRESETS {
                let selected = self.live && self.span_ms == span_ms;
                if ui
                    .selectable_label(selected, label)
                    .on_hover_text(format!("The last {label}, following live"))
                    .clicked()
                {
                    self.show_last(span_ms);
                }
            }
            ui.separator();
            if ui.button("Earlier").on_hover_text("Move back by half the window").clicked() {
                self.pan_by(-self.span_ms / 2, now_ms);
            }
            if ui
                .add_enabled(!self.live, egui::Button::new("Later"))
                .on_hover_text("Move on by half the window")
                .clicked()
            {
                self.pan_by(self.span_ms / 2, now_ms);
            }
            let mut live = self.live;
            if ui.toggle_value(&mut live, "Live").on_hover_text("Keep the window's end at the current time").changed() {
                self.set_live(live, now_ms);
            }
            ui.separator();
            ui.checkbox(&mut self.interpolate, "Interpolate gaps").on_hover_text(
                "Bridge stretches without data by dashed straight lines; they are never measured values",
            );
            if self.loading() {
                ui.add(egui::Spinner::new()).on_hover_text("Loading history");
            }
        });
        ui.horizontal_wrapped(|ui| {
            let window = self.window_ms(now_ms);
            let tz = env.timezone;
            let from_label = ui.label("From");
            let from = ui
                .add(
                    egui::TextEdit::singleline(&mut self.rt.from_text)
                        .hint_text(fmt_site(window.0, tz, "%Y-%m-%d %H:%M:%S"))
                        .desired_width(150.0),
                )
                .labelled_by(from_label.id);
            let to_label = ui.label("To");
            let to = ui
                .add(
                    egui::TextEdit::singleline(&mut self.rt.to_text)
                        .hint_text(fmt_site(window.1, tz, "%Y-%m-%d %H:%M:%S"))
                        .desired_width(150.0),
                )
                .labelled_by(to_label.id);
            let entered = (from.lost_focus() || to.lost_focus()) && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui
                .button("Show range")
                .on_hover_text(
                    "Site time, e.g. 2026-11-20 08:00, 08:00 (today), 2026-11-20 or now; empty keeps the current end",
                )
                .clicked()
                || entered
            {
                self.apply_custom_range(tz, now_ms);
            }
            if let Some(err) = &self.rt.range_error {
                ui.colored_label(env.theme.alarm, err);
            }
        });
        let window = self.window_ms(now_ms);
        let following = match (self.live, self.rt.review.is_some()) {
            (true, true) => ", the reviewed range",
            (true, false) => ", following live",
            (false, _) => "",
        };
        ui.label(
            RichText::new(format!(
                "Showing {}: {}{following}",
                fmt_span(window.1 - window.0),
                fmt_window(window, env.timezone)
            ))
            .color(env.theme.text_dim),
        );
    }

    /// One row per pen: colour and number, signal, unit, status, the reading under the pointer (or the latest), and a
    /// remove button. Returns the pen to remove.
    fn pen_table_ui(&self, ui: &mut Ui, env: &ViewCtx<'_>, scales: &[Option<Scale>]) -> Option<String> {
        let theme = env.theme;
        let mut remove = None;
        // Under the pointer, else in review at the cursor, else the latest.
        let at = self.rt.hover_ms.or(env.cursor.map(|r| r.at_ms));
        let window = self.window_ms(env.now_ms);
        egui::Grid::new("trend_pen_table").striped(true).num_columns(10).spacing([14.0, 4.0]).min_col_width(48.0).show(
            ui,
            |ui| {
                let when = match at {
                    Some(ms) => format!("At {}", fmt_site(ms, env.timezone, "%H:%M:%S")),
                    None => "Latest".to_owned(),
                };
                for title in ["Pen", "Signal", "Unit", "Data", when.as_str(), "Mean", "Min", "Max", "Count", ""] {
                    ui.label(RichText::new(title).strong());
                }
                ui.end_row();
                for ((i, pen), scale) in self.pens.iter().enumerate().zip(scales) {
                    let colour = pen.colour(theme);
                    ui.horizontal(|ui| {
                        let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                        ui.painter().rect_filled(rect, 2.0, colour);
                        ui.label(RichText::new((i + 1).to_string()).strong().color(colour));
                    });
                    ui.label(&pen.signal);
                    ui.label(self.unit_of(pen).unwrap_or("—"));
                    match (pen.error(), pen.series()) {
                        (Some(err), _) => ui.colored_label(theme.alarm, err),
                        (None, Some(series)) => ui.label(series_status(series, pen.loading())),
                        (None, None) => ui.label(RichText::new("Loading…").color(theme.text_dim)),
                    };
                    let decimals = scale.map_or(3, |s| (s.decimals + 1).min(9));
                    let reading = pen.series().map_or(Reading::Nothing, |s| {
                        reading_at(s, at, self.interpolate, held_until(s, window, env.now_ms))
                    });
                    readout_cells_ui(ui, theme, pen.series(), reading, at, decimals, env.timezone);
                    if ui
                        .small_button("Remove")
                        .accessible_name(format!("Remove {}", pen.signal))
                        .on_hover_text(format!("Stop trending {}", pen.signal))
                        .clicked()
                    {
                        remove = Some(pen.signal.clone());
                    }
                    ui.end_row();
                }
            },
        );
        remove
    }

    /// The unit from the series, or from the signal list until the series is there.
    fn unit_of<'s>(&'s self, pen: &'s Pen) -> Option<&'s str> {
        pen.series()
            .and_then(|s| s.signal.unit.as_deref())
            .or_else(|| self.rt.catalog.entries.get(&pen.signal).and_then(|e| e.unit.as_deref()))
    }

    /// Reads the notes about the window and a window's width either side, when the window left what was read or
    /// [`NOTES_EVERY`] has passed.
    fn load_notes(&mut self, history: &History, window: (i64, i64)) {
        if let Some((from, to, pending)) = &mut self.rt.notes_loading {
            match pending.poll() {
                Some(Ok((notes, _))) => {
                    self.rt.notes = notes;
                    self.rt.notes_read = Some(((*from, *to), std::time::Instant::now()));
                    self.rt.notes_loading = None;
                }
                Some(Err(err)) => {
                    tracing::warn!("trend: the logbook cannot be read: {err}");
                    self.rt.notes_read = Some(((*from, *to), std::time::Instant::now()));
                    self.rt.notes_loading = None;
                }
                None => return,
            }
        }
        let covered = self
            .rt
            .notes_read
            .is_some_and(|((from, to), at)| from <= window.0 && window.1 <= to && at.elapsed() < NOTES_EVERY);
        if covered {
            return;
        }
        let width = window.1 - window.0;
        let (from, to) = (window.0 - width, window.1 + width);
        if let Some(p) = history.run_history(move |h| h.notes(from, to)) {
            self.rt.notes_loading = Some((from, to, p));
        }
    }
}

/// Shown instead of the panel when there is no history cache.
fn no_history_ui(ui: &mut Ui, theme: &Theme) {
    ui.vertical_centered(|ui| {
        ui.add_space(40.0);
        ui.heading("No history cache");
        ui.label(
            RichText::new(
                "Trends are drawn from the history cache, and none is open. Live values are on the other views; start \
                 Watchfloor with a data dir it can write to, or with --db FILE to review a cache.",
            )
            .color(theme.text_dim),
        );
    });
}

/// The last two parts of an id (`Filler/Temperature`), for axis titles.
fn short_name(id: &str) -> &str {
    let mut slashes = id.rmatch_indices('/').map(|(i, _)| i);
    match (slashes.next(), slashes.next()) {
        (Some(_), Some(i)) => &id[i + 1..],
        _ => id,
    }
}

#[cfg(test)]
mod tests;
