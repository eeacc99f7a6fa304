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
use crate::ui::{fmt_count, fmt_duration_secs};

/// At most this many pens on one chart.
pub const MAX_PENS: usize = 8;

const SECOND_MS: i64 = 1_000;
const MINUTE_MS: i64 = 60 * SECOND_MS;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

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

/// What the trend panel reads each frame.
pub struct TrendEnv<'a> {
    pub theme: &'a Theme,
    /// `None` when there is no history cache at all.
    pub history: Option<&'a History>,
    pub live: &'a LiveState,
    pub now_ms: i64,
    pub timezone: &'a TimeZone,
    /// In review: the reviewed range and the cursor `t` (then `now_ms` is `t`).
    pub review: Option<ReviewCursor>,
}

/// The review's range and cursor, as the trend shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReviewCursor {
    pub from_ms: i64,
    pub to_ms: i64,
    pub at_ms: i64,
}

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

/// A pen's y axis: values from `lo` to `hi` are drawn from 0 to 1; grid lines fall on round values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub lo: f64,
    pub hi: f64,
    /// Decimals that show the grid's step exactly.
    pub decimals: usize,
}

impl Scale {
    /// A round range over `min..=max` in `divisions` equal steps of 1, 2, 2.5 or 5 × 10ⁿ.
    pub fn nice(min: f64, max: f64, divisions: u32) -> Self {
        let (mut min, mut max) =
            if min.is_finite() && max.is_finite() { (min.min(max), max.max(min)) } else { (0.0, 1.0) };
        if max - min <= f64::EPSILON * min.abs().max(1.0) * 16.0 {
            // A flat line: centre it.
            let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
            min -= pad;
            max += pad;
        }
        let divisions = f64::from(divisions.max(1));
        let mut step = nice_at_least((max - min) / divisions);
        for _ in 0..8 {
            let lo = (min / step).floor() * step;
            let hi = lo + step * divisions;
            if hi >= max {
                return Self { lo, hi, decimals: decimals_for(step) };
            }
            step = nice_at_least(step * 1.000_1);
        }
        Self { lo: min, hi: max, decimals: decimals_for((max - min) / divisions) }
    }

    pub fn y_from_value(&self, value: f64) -> f64 {
        (value - self.lo) / (self.hi - self.lo)
    }

    pub fn value_from_y(&self, y: f64) -> f64 {
        self.lo + y * (self.hi - self.lo)
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ that is at least `x`.
fn nice_at_least(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return 1.0;
    }
    let magnitude = 10_f64.powf(x.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|v| *v >= x * (1.0 - 1e-9)).unwrap_or(x)
}

/// Decimals needed to show multiples of `step` exactly (2.5 needs one more than its magnitude).
fn decimals_for(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) {
        return 2;
    }
    let magnitude = step.log10().floor();
    let mantissa = step / 10_f64.powf(magnitude);
    let extra = usize::from((mantissa - 2.5).abs() < 1e-6);
    // Small: `magnitude` is a few dozen at most for any value a plant produces.
    let base = if magnitude < 0.0 { (-magnitude) as usize } else { 0 };
    (base + extra).min(9)
}

/// `v` with `decimals`, without a minus sign on zero.
fn fmt_value(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    match text.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_owned(),
        _ => text,
    }
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

/// The signals that can be trended: the cache's list merged with the live view's.
#[derive(Default)]
struct Catalog {
    stored: Vec<SignalInfo>,
    pending: Option<Pending<Vec<SignalInfo>>>,
    requested_at: Option<f64>,
    error: Option<String>,
    live_count: usize,
    entries: BTreeMap<String, Entry>,
    /// Changes whenever `entries` does (the tree is rebuilt then).
    generation: u64,
}

/// What the tree knows of one signal.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    unit: Option<String>,
    /// Numbers, counters and flags can be trended; text cannot.
    numeric: bool,
    /// In the history cache (not only seen live).
    stored: bool,
}

fn is_numeric(kind: ValueKind) -> bool {
    matches!(kind, ValueKind::Float | ValueKind::Int | ValueKind::Bool)
}

impl Catalog {
    fn update(&mut self, history: &History, live: &LiveState, time: f64) {
        let mut changed = false;
        if let Some(result) = self.pending.as_mut().and_then(Pending::poll) {
            self.pending = None;
            match result {
                Ok(list) => {
                    self.stored = list;
                    self.error = None;
                    changed = true;
                }
                // No file yet: nothing recorded so far, which is not an error.
                Err(Error::Missing { .. }) => self.error = None,
                Err(err) => self.error = Some(err.to_string()),
            }
        }
        let due = self.requested_at.is_none_or(|t| time - t >= SIGNALS_REFRESH_SECS);
        if self.pending.is_none()
            && due
            && let Some(pending) = history.signals()
        {
            self.pending = Some(pending);
            self.requested_at = Some(time);
        }
        if live.signals.len() != self.live_count {
            self.live_count = live.signals.len();
            changed = true;
        }
        if changed {
            self.rebuild(live);
        }
    }

    fn rebuild(&mut self, live: &LiveState) {
        let mut entries: BTreeMap<String, Entry> = self
            .stored
            .iter()
            .map(|s| {
                let entry = Entry { unit: s.unit.clone(), numeric: is_numeric(s.kind), stored: true };
                (s.id.as_str().to_owned(), entry)
            })
            .collect();
        for (id, signal) in &live.signals {
            let kind = signal.meta.as_ref().map_or_else(|| signal.last.value.kind(), |m| m.kind);
            let unit = signal.meta.as_ref().and_then(|m| m.unit.as_deref()).map(str::to_owned);
            entries
                .entry(id.as_str().to_owned())
                .and_modify(|e| {
                    if e.unit.is_none() {
                        e.unit.clone_from(&unit);
                    }
                })
                .or_insert(Entry { unit, numeric: is_numeric(kind), stored: false });
        }
        self.entries = entries;
        self.generation += 1;
    }
}

/// The signal ids split on `/`.
#[derive(Default)]
struct TreeNode {
    children: BTreeMap<String, TreeNode>,
    /// The signal whose id ends at this node.
    signal: Option<String>,
}

/// The tree for one filter over one version of the catalog.
struct TreeCache {
    filter: String,
    generation: u64,
    root: TreeNode,
    matches: usize,
}

impl TreeCache {
    /// `filter` is lower case; every word of it must appear in the id.
    fn build(entries: &BTreeMap<String, Entry>, filter: &str, generation: u64) -> Self {
        let words: Vec<&str> = filter.split_whitespace().collect();
        let mut root = TreeNode::default();
        let mut matches = 0;
        for id in entries.keys() {
            let lower = id.to_lowercase();
            if !words.iter().all(|w| lower.contains(w)) {
                continue;
            }
            matches += 1;
            let mut node = &mut root;
            let mut segments = id.split('/').filter(|s| !s.is_empty()).peekable();
            if segments.peek().is_none() {
                node = node.children.entry(id.clone()).or_default();
            }
            for segment in segments {
                node = node.children.entry(segment.to_owned()).or_default();
            }
            node.signal = Some(id.clone());
        }
        Self { filter: filter.to_owned(), generation, root, matches }
    }
}

/// What drawing the tree needs.
struct TreeCtx<'a> {
    theme: &'a Theme,
    entries: &'a BTreeMap<String, Entry>,
    pens: HashSet<&'a str>,
    full: bool,
    filtering: bool,
    /// The signal clicked, to be added as a pen.
    add: Option<String>,
}

/// What the plot reported back.
struct PlotOutcome {
    /// The x range after the user's drag or zoom, UTC ms.
    window: (i64, i64),
    hover_ms: Option<i64>,
    double_clicked: bool,
    /// Where a single click landed (review moves its cursor there).
    clicked_ms: Option<i64>,
    size_px: egui::Vec2,
}

/// What a pen's readout shows at a time.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reading<'a> {
    /// `held`: after the last bucket, where the last value still holds (signals report by exception).
    Bucket {
        bucket: &'a Bucket,
        exact: bool,
        held: bool,
    },
    /// No bucket in the range, but the last value before it still holds.
    Held {
        since_ms: i64,
        value: f64,
    },
    NoData {
        interpolated: Option<f64>,
    },
    Nothing,
}

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

    /// Draws the panel; in review, a click on the plot returns the time to move the cursor to.
    pub fn ui(&mut self, ui: &mut Ui, env: &TrendEnv<'_>) -> Option<i64> {
        let Some(history) = env.history else {
            no_history_ui(ui, env.theme);
            return None;
        };
        if self.rt.review.is_some() != env.review.is_some() {
            // Into or out of review: follow the reviewed range, or the present again, asked for at once.
            self.live = true;
            for pen in &mut self.pens {
                pen.data.requested_at = None;
            }
        }
        self.rt.review = env.review;
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
            return None;
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
        outcome.clicked_ms.filter(|_| env.review.is_some())
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
    fn signal_tree_ui(&mut self, ui: &mut Ui, theme: &Theme) -> Option<String> {
        ui.heading("Signals");
        let label = ui.label("Search signals");
        ui.add(
            egui::TextEdit::singleline(&mut self.rt.filter).hint_text("e.g. filler temp").desired_width(f32::INFINITY),
        )
        .labelled_by(label.id);
        let filter = self.rt.filter.trim().to_lowercase();
        let catalog = &self.rt.catalog;
        if self.rt.tree.as_ref().is_none_or(|t| t.filter != filter || t.generation != catalog.generation) {
            self.rt.tree = Some(TreeCache::build(&catalog.entries, &filter, catalog.generation));
        }
        if let Some(err) = &catalog.error {
            ui.colored_label(theme.alarm, format!("Signal list not read: {err}"));
        }
        let tree = self.rt.tree.as_ref()?;
        if catalog.entries.is_empty() {
            ui.horizontal(|ui| {
                if catalog.pending.is_some() {
                    ui.add(egui::Spinner::new()).on_hover_text("Reading the signal list");
                }
                ui.label(RichText::new("No signals recorded yet.").color(theme.text_dim));
            });
            return None;
        }
        if tree.matches == 0 {
            ui.label(RichText::new(format!("No signal matches \"{}\".", self.rt.filter.trim())).color(theme.text_dim));
            return None;
        }
        let mut ctx = TreeCtx {
            theme,
            entries: &catalog.entries,
            pens: self.pens.iter().map(|p| p.signal.as_str()).collect(),
            full: self.pens.len() >= MAX_PENS,
            filtering: !filter.is_empty(),
            add: None,
        };
        egui::ScrollArea::vertical().id_salt("trend_tree").auto_shrink([false, false]).show(ui, |ui| {
            tree_node_ui(ui, &tree.root, "", 0, &mut ctx);
        });
        ctx.add
    }

    /// Presets, earlier/later, live, interpolation, the spinner; then the custom range and what is shown.
    fn toolbar_ui(&mut self, ui: &mut Ui, env: &TrendEnv<'_>) {
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
    fn pen_table_ui(&self, ui: &mut Ui, env: &TrendEnv<'_>, scales: &[Option<Scale>]) -> Option<String> {
        let theme = env.theme;
        let mut remove = None;
        // Under the pointer, else in review at the cursor, else the latest.
        let at = self.rt.hover_ms.or(env.review.map(|r| r.at_ms));
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

    /// The chart: gaps, min–max bands and mean lines of every pen, one y axis per pen, site time on x.
    fn plot_ui(
        &self,
        ui: &mut Ui,
        env: &TrendEnv<'_>,
        window: (i64, i64),
        scales: &[Option<Scale>],
        divisions: u32,
    ) -> PlotOutcome {
        let theme = env.theme;
        let tz = env.timezone;
        let origin_ms = window.0.div_euclid(DAY_MS) * DAY_MS;
        let x_of = move |ms: i64| (ms - origin_ms) as f64 / 1_000.0;
        let ms_of = move |x: f64| origin_ms + (x * 1_000.0).round() as i64;
        let offset_ms = Timestamp::from_millisecond(window.0 + (window.1 - window.0) / 2)
            .map_or(0, |t| i64::from(tz.to_offset(t).seconds()) * SECOND_MS);

        let mut y_axes = Vec::new();
        let mut hover_pens = Vec::new();
        let mut all_gaps = Vec::new();
        for ((i, pen), scale) in self.pens.iter().enumerate().zip(scales) {
            let colour = pen.colour(theme);
            let unit = self.unit_of(pen).map(str::to_owned);
            let title = match &unit {
                Some(u) => format!("{} {} ({u})", i + 1, short_name(&pen.signal)),
                None => format!("{} {}", i + 1, short_name(&pen.signal)),
            };
            let scale = *scale;
            y_axes.push(
                AxisHints::new_y()
                    .label(RichText::new(title).color(colour))
                    .tick_label_color(colour)
                    .placement(if i % 2 == 0 { HPlacement::Left } else { HPlacement::Right })
                    .formatter(move |mark, _| {
                        scale.map_or_else(String::new, |s| fmt_value(s.value_from_y(mark.value), s.decimals))
                    }),
            );
            let gaps = pen.series().map(|s| visible_gaps(s, window, env.now_ms)).unwrap_or_default();
            all_gaps.extend(gaps.iter().map(|&(from, to)| (from, to, i + 1)));
            hover_pens.push(HoverPen { number: i + 1, signal: pen.signal.clone(), unit, scale, gaps });
        }
        let gap_spans = merge_gaps(all_gaps);

        let x_tz = tz.clone();
        let x_axis = AxisHints::new_x()
            .label(format!("Site time ({})", tz.iana_name().unwrap_or("fixed offset")))
            .formatter(move |mark, _| fmt_grid_time(ms_of(mark.value), mark.step_size, &x_tz));
        let hover_tz = tz.clone();
        let pens = &self.pens;
        let interpolate = self.interpolate;
        let now_ms = env.now_ms;
        let cursor = env.review.map(|r| r.at_ms);
        let notes: Vec<&crate::model::logbook::Note> =
            self.rt.notes.iter().filter(|n| n.overlaps(window.0, window.1)).collect();
        let response = Plot::new("trend_plot")
            .allow_drag(Vec2b::new(true, false))
            .allow_zoom(Vec2b::new(true, false))
            .allow_axis_zoom_drag(Vec2b::new(true, false))
            .allow_scroll(false)
            .allow_boxed_zoom(false)
            .allow_double_click_reset(false)
            .auto_bounds(Vec2b::FALSE)
            .cursor_color(theme.text_dim)
            .custom_x_axes(vec![x_axis])
            .custom_y_axes(y_axes)
            .grid_spacing(egui::Rangef::new(16.0, 240.0))
            .x_grid_spacer(move |input| time_grid_marks(&input, origin_ms, offset_ms))
            .y_grid_spacer(move |_| {
                (0..=divisions)
                    .map(|k| GridMark {
                        value: f64::from(k) / f64::from(divisions),
                        step_size: 1.0 / f64::from(divisions),
                    })
                    .collect()
            })
            .label_formatter(move |position| hover_text(position, &hover_pens, ms_of, &hover_tz))
            .show(ui, |plot_ui| {
                plot_ui.set_plot_bounds(PlotBounds::from_min_max([x_of(window.0), Y_MIN], [x_of(window.1), Y_MAX]));
                for (from, to, numbers) in gap_spans {
                    let numbers: Vec<String> = numbers.iter().map(ToString::to_string).collect();
                    plot_ui.span(
                        Span::new(format!("no data · pen {}", numbers.join(", ")), x_of(from)..=x_of(to))
                            .fill(theme.trend_gap)
                            .border(Stroke::new(1.0, theme.text_dim))
                            .border_style(LineStyle::dashed_dense()),
                    );
                }
                for (pen, scale) in pens.iter().zip(scales) {
                    if let (Some(series), Some(scale)) = (pen.series(), scale) {
                        let drawing = PenDrawing {
                            series,
                            scale: *scale,
                            colour: pen.colour(theme),
                            name: &pen.signal,
                            held_until_ms: held_until(series, window, now_ms),
                        };
                        pen_items(plot_ui, &drawing, interpolate, x_of);
                    }
                }
                if let Some(at) = cursor {
                    plot_ui.vline(
                        egui_plot::VLine::new("Review cursor", x_of(at)).stroke(Stroke::new(2.0, theme.attention)),
                    );
                }
                // The logbook: a dashed line at each note (a range shaded), its author and first words at the top.
                for note in &notes {
                    let at = note.from_ms.max(window.0);
                    if let Some(to) = note.to_ms.filter(|to| *to > note.from_ms) {
                        plot_ui.span(
                            Span::new(format!("note by {}", note.author), x_of(at)..=x_of(to.min(window.1)))
                                .fill(theme.text_dim.gamma_multiply(0.08))
                                .border(Stroke::NONE),
                        );
                    }
                    plot_ui.vline(
                        egui_plot::VLine::new(format!("note by {}", note.author), x_of(at))
                            .stroke(Stroke::new(1.0, theme.text))
                            .style(LineStyle::dashed_loose()),
                    );
                    let words: String = note.text.chars().take(48).collect();
                    let more = if note.text.chars().count() > 48 { "…" } else { "" };
                    plot_ui.text(
                        egui_plot::Text::new(
                            "note",
                            egui_plot::PlotPoint::new(x_of(at), Y_MAX - (Y_MAX - Y_MIN) * 0.05),
                            RichText::new(format!(" {}: {words}{more}", note.author)).size(11.0).color(theme.text),
                        )
                        .anchor(egui::Align2::LEFT_TOP),
                    );
                }
            });
        let response_rect = *response.transform.frame();
        let bounds = response.transform.bounds();
        let hover_ms = response.response.hover_pos().map(|p| ms_of(response.transform.value_from_position(p).x));
        let double_clicked = response.response.double_clicked();
        let clicked_ms = response
            .response
            .interact_pointer_pos()
            .filter(|_| response.response.clicked())
            .map(|p| ms_of(response.transform.value_from_position(p).x));
        let _ = response.response.accessible_name("Trend plot");
        PlotOutcome {
            window: (ms_of(bounds.min()[0]), ms_of(bounds.max()[0])),
            hover_ms,
            double_clicked,
            clicked_ms,
            size_px: response_rect.size(),
        }
    }
}

/// A pen as its hover text needs it.
struct HoverPen {
    number: usize,
    signal: String,
    unit: Option<String>,
    scale: Option<Scale>,
    gaps: Vec<(i64, i64)>,
}

/// The plot's hover text: the pen and its value near a point (saying when it is interpolated), and the time
/// elsewhere, with the pens that have no data there.
fn hover_text(
    position: &HoverPosition<'_>,
    pens: &[HoverPen],
    ms_of: impl Fn(f64) -> i64,
    tz: &TimeZone,
) -> Option<String> {
    match position {
        HoverPosition::NearDataPoint { plot_name, position, .. } => {
            let (name, interpolated) = match plot_name.strip_suffix(INTERPOLATED_SUFFIX) {
                Some(name) => (name, true),
                None => (*plot_name, false),
            };
            let pen = pens.iter().find(|p| p.signal == name)?;
            let scale = pen.scale?;
            let ms = ms_of(position.x);
            let value = fmt_value(scale.value_from_y(position.y), (scale.decimals + 1).min(9));
            let unit = pen.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
            let note = if interpolated { "\ninterpolated: no data here" } else { "" };
            Some(format!(
                "{} {}\n{}\n{value}{unit}{note}",
                pen.number,
                pen.signal,
                fmt_site(ms, tz, "%a %d %b %H:%M:%S")
            ))
        }
        HoverPosition::Elsewhere { position } => {
            let ms = ms_of(position.x);
            let time = fmt_site(ms, tz, "%a %d %b %H:%M:%S");
            let missing: Vec<String> = pens
                .iter()
                .filter(|p| p.gaps.iter().any(|&(from, to)| from <= ms && ms < to))
                .map(|p| format!("{} {}", p.number, short_name(&p.signal)))
                .collect();
            if missing.is_empty() { Some(time) } else { Some(format!("{time}\nno data: {}", missing.join(", "))) }
        }
    }
}

/// Bands, lines and single points of one pen.
fn pen_items(plot_ui: &mut PlotUi<'_>, pen: &PenDrawing<'_>, interpolate: bool, x_of: impl Fn(i64) -> f64) {
    let PenDrawing { series, scale, colour, name, held_until_ms } = *pen;
    let band_fill = colour.gamma_multiply(0.22);
    for run in band_runs(series) {
        let mut xs = Vec::with_capacity(run.len() * 2);
        let mut mins = Vec::with_capacity(run.len() * 2);
        let mut maxs = Vec::with_capacity(run.len() * 2);
        for b in run {
            for t in [b.ts_ms, b.ts_ms + series.bucket_ms] {
                xs.push(x_of(t));
                mins.push(scale.y_from_value(b.min));
                maxs.push(scale.y_from_value(b.max));
            }
        }
        plot_ui.add(
            FilledArea::new(format!("{name} min–max"), &xs, &mins, &maxs).fill_color(band_fill).allow_hover(false),
        );
    }
    let runs = display_runs(series, interpolate);
    let last_run = runs.len().saturating_sub(1);
    for (i, run) in runs.into_iter().enumerate() {
        let interpolated = run.first().is_some_and(|p| p.interpolated);
        let mut points: Vec<[f64; 2]> = run.iter().map(|p| [x_of(p.ts_ms), scale.y_from_value(p.value)]).collect();
        // The last value holds on (report by exception) up to now, unless a gap follows it.
        if i == last_run
            && !interpolated
            && let (Some(end), Some(last)) = (held_until_ms, run.last())
            && end > last.ts_ms
        {
            points.push([x_of(end), scale.y_from_value(last.value)]);
        }
        if points.len() == 1 {
            plot_ui.points(Points::new(name, points).color(colour).radius(2.5));
        } else if interpolated {
            let line = Line::new(format!("{name}{INTERPOLATED_SUFFIX}"), points);
            plot_ui.line(line.color(colour).width(1.5).style(LineStyle::dashed_loose()));
        } else {
            plot_ui.line(Line::new(name, points).color(colour).width(2.0));
        }
    }
}

/// What drawing one pen needs.
#[derive(Clone, Copy)]
struct PenDrawing<'a> {
    series: &'a Series,
    scale: Scale,
    colour: Color32,
    name: &'a str,
    /// See [`held_until`].
    held_until_ms: Option<i64>,
}

/// Runs of buckets that follow each other without a hole.
fn band_runs(series: &Series) -> Vec<&[Bucket]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=series.buckets.len() {
        let breaks = series.buckets.get(i).is_none_or(|b| b.ts_ms != series.buckets[i - 1].ts_ms + series.bucket_ms);
        if breaks {
            runs.push(&series.buckets[start..i]);
            start = i;
        }
    }
    runs
}

/// A pen's range over the buckets in the window (and the value the line starts with).
fn pen_scale(series: &Series, window: (i64, i64), divisions: u32) -> Option<Scale> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for b in series.buckets.iter().filter(|b| b.ts_ms + series.bucket_ms > window.0 && b.ts_ms < window.1) {
        lo = lo.min(b.min);
        hi = hi.max(b.max);
    }
    if let Some((_, v)) = series.before {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo.is_finite() && hi.is_finite()).then(|| Scale::nice(lo, hi, divisions))
}

/// The series' gaps clipped to the window; an open gap lasts until now.
fn visible_gaps(series: &Series, window: (i64, i64), now_ms: i64) -> Vec<(i64, i64)> {
    series
        .gaps
        .iter()
        .map(|g| (g.start_ms.max(window.0), g.end_ms.unwrap_or(now_ms).min(window.1)))
        .filter(|(from, to)| from < to)
        .collect()
}

/// Overlapping gaps of all pens as one stretch each, with the numbers of the pens they concern.
fn merge_gaps(mut gaps: Vec<(i64, i64, usize)>) -> Vec<(i64, i64, Vec<usize>)> {
    gaps.sort_unstable();
    let mut merged: Vec<(i64, i64, Vec<usize>)> = Vec::new();
    for (from, to, number) in gaps {
        match merged.last_mut() {
            Some(last) if from <= last.1 => {
                last.1 = last.1.max(to);
                if !last.2.contains(&number) {
                    last.2.push(number);
                }
            }
            _ => merged.push((from, to, vec![number])),
        }
    }
    for m in &mut merged {
        m.2.sort_unstable();
    }
    merged
}

/// What a pen's readout shows at `at_ms` (or for the latest bucket when `None`); after the last bucket the last value
/// holds until `held_until_ms` (see [`held_until`]).
fn reading_at(series: &Series, at_ms: Option<i64>, interpolate: bool, held_until_ms: Option<i64>) -> Reading<'_> {
    let exact = |b: &Bucket| series.tier == Tier::Raw && b.count == 1;
    if series.buckets.is_empty() {
        // Only the value from before the range, if it still holds.
        let holds = at_ms.is_none_or(|ms| held_until_ms.is_some_and(|end| ms <= end));
        return match series.before {
            Some((since_ms, value)) if holds => Reading::Held { since_ms, value },
            _ => Reading::Nothing,
        };
    }
    let Some(ms) = at_ms else {
        return series.buckets.last().map_or(Reading::Nothing, |b| Reading::Bucket {
            bucket: b,
            exact: exact(b),
            held: false,
        });
    };
    if let Some(gap) = series.gaps.iter().find(|g| g.start_ms <= ms && g.end_ms.is_none_or(|e| ms < e)) {
        let interpolated = (interpolate && gap.end_ms.is_some())
            .then(|| {
                display_runs(series, true).into_iter().filter(|r| r.len() == 2 && r[0].interpolated).find_map(|r| {
                    let (a, b) = (r[0], r[1]);
                    (a.ts_ms <= ms && ms <= b.ts_ms && b.ts_ms > a.ts_ms)
                        .then(|| a.value + (b.value - a.value) * (ms - a.ts_ms) as f64 / (b.ts_ms - a.ts_ms) as f64)
                })
            })
            .flatten();
        return Reading::NoData { interpolated };
    }
    let centre = |b: &Bucket| b.ts_ms + series.bucket_ms / 2;
    let i = series.buckets.partition_point(|b| centre(b) < ms);
    let nearest = [i.checked_sub(1), Some(i)]
        .into_iter()
        .flatten()
        .filter_map(|i| series.buckets.get(i))
        .min_by_key(|b| (centre(b) - ms).abs());
    if let Some(last) = series.buckets.last()
        && ms >= last.ts_ms + series.bucket_ms
        && held_until_ms.is_some_and(|end| ms <= end)
    {
        return Reading::Bucket { bucket: last, exact: exact(last), held: true };
    }
    match nearest {
        // Further than two buckets away is not "under the pointer".
        Some(b) if (centre(b) - ms).abs() <= 2 * series.bucket_ms => {
            Reading::Bucket { bucket: b, exact: exact(b), held: false }
        }
        _ => Reading::Nothing,
    }
}

/// Until when the last value of a series holds: sources report by exception, so without a gap after it the last
/// value stands until now (or the window's end). `None` when a gap follows it or there is no data.
fn held_until(series: &Series, window: (i64, i64), now_ms: i64) -> Option<i64> {
    // The last data and where its line ends: the last bucket's centre, or the left edge when the only value in
    // sight is the one from before the range.
    let (last_ts, line_end) = match series.buckets.last() {
        Some(b) => (b.ts_ms, b.ts_ms + series.bucket_ms / 2),
        None => (series.before?.0, series.from_ms),
    };
    if series.gaps.iter().any(|g| g.start_ms >= last_ts || g.end_ms.is_none()) {
        return None;
    }
    let end = now_ms.min(window.1);
    (end > line_end).then_some(end)
}

/// The readout columns of one pen: time, mean, min, max, count.
fn readout_cells_ui(
    ui: &mut Ui,
    theme: &Theme,
    series: Option<&Series>,
    reading: Reading<'_>,
    at_ms: Option<i64>,
    decimals: usize,
    tz: &TimeZone,
) {
    match (series, reading) {
        (Some(series), Reading::Bucket { bucket, exact, held }) => {
            let width = fmt_duration_ms(series.bucket_ms);
            let held = if held { "held since " } else { "" };
            let time = fmt_site(bucket.ts_ms, tz, "%H:%M:%S");
            ui.label(format!("{held}{time} ({width} · {})", series.tier.label()))
                .on_hover_text(format!("Bucket from {}", fmt_site(bucket.ts_ms, tz, "%a %d %b %Y %H:%M:%S %Z")));
            if exact {
                ui.label(RichText::new(format!("{} (exact)", bucket.mean)).strong());
                ui.label("");
                ui.label("");
            } else {
                ui.label(RichText::new(fmt_value(bucket.mean, decimals)).strong());
                ui.label(fmt_value(bucket.min, decimals));
                ui.label(fmt_value(bucket.max, decimals));
            }
            ui.label(fmt_count(i64::try_from(bucket.count).unwrap_or(i64::MAX)));
        }
        (_, Reading::Held { since_ms, value }) => {
            ui.label(format!("held since {}", fmt_site(since_ms, tz, "%a %d %b %H:%M:%S")));
            ui.label(RichText::new(format!("{value} (exact)")).strong());
            for _ in 0..3 {
                ui.label("");
            }
        }
        (_, Reading::NoData { interpolated }) => {
            ui.label(at_ms.map_or_else(String::new, |ms| fmt_site(ms, tz, "%H:%M:%S")));
            ui.colored_label(theme.text_dim, "no data");
            match interpolated {
                Some(v) => ui.colored_label(theme.text_dim, format!("interpolated {}", fmt_value(v, decimals))),
                None => ui.label(""),
            };
            ui.label("");
            ui.label("");
        }
        _ => {
            for _ in 0..5 {
                ui.colored_label(theme.text_dim, "—");
            }
        }
    }
}

/// `861 buckets · raw · 1 gap`, and `updating` while the next range loads.
fn series_status(series: &Series, loading: bool) -> String {
    let mut text =
        format!("{} buckets · {}", fmt_count(i64::try_from(series.buckets.len()).unwrap_or(0)), series.tier.label());
    match series.gaps.len() {
        0 => {}
        1 => text.push_str(" · 1 gap"),
        n => text.push_str(&format!(" · {n} gaps")),
    }
    if loading {
        text.push_str(" · updating");
    }
    text
}

/// One level of the tree: headers for branches, buttons for signals.
fn tree_node_ui(ui: &mut Ui, node: &TreeNode, path: &str, depth: usize, ctx: &mut TreeCtx<'_>) {
    for (name, child) in &node.children {
        if child.children.is_empty() {
            if let Some(id) = &child.signal {
                signal_leaf_ui(ui, name, id, ctx);
            }
            continue;
        }
        let child_path = if path.is_empty() { name.clone() } else { format!("{path}/{name}") };
        // A separate state while searching, so a search opens everything without changing the tree's own state.
        egui::CollapsingHeader::new(name.as_str())
            .id_salt((ctx.filtering, &child_path))
            .default_open(ctx.filtering || depth == 0)
            .show(ui, |ui| {
                if let Some(id) = &child.signal {
                    signal_leaf_ui(ui, "(this signal)", id, ctx);
                }
                tree_node_ui(ui, child, &child_path, depth + 1, ctx);
            });
    }
}

/// A signal in the tree: click to trend it; its unit beside it.
fn signal_leaf_ui(ui: &mut Ui, name: &str, id: &str, ctx: &mut TreeCtx<'_>) {
    let Some(entry) = ctx.entries.get(id) else { return };
    let is_pen = ctx.pens.contains(id);
    ui.horizontal(|ui| {
        let enabled = entry.numeric && (is_pen || !ctx.full);
        let response = ui.add_enabled(enabled, egui::Button::selectable(is_pen, name));
        let response = if !entry.numeric {
            response.on_disabled_hover_text(format!("{id}\nText values cannot be trended"))
        } else if !enabled {
            response.on_disabled_hover_text(format!("{id}\nAt most {MAX_PENS} pens: remove one first"))
        } else if is_pen {
            response.on_hover_text(format!("{id}\nTrended"))
        } else if entry.stored {
            response.on_hover_text(format!("{id}\nClick to trend"))
        } else {
            response.on_hover_text(format!("{id}\nClick to trend (seen live, not in the history cache yet)"))
        };
        if response.clicked() && !is_pen {
            ctx.add = Some(id.to_owned());
        }
        if let Some(unit) = &entry.unit {
            ui.label(RichText::new(unit).color(ctx.theme.text_dim));
        }
    });
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

fn fmt_site(ms: i64, tz: &TimeZone, format: &str) -> String {
    Timestamp::from_millisecond(ms)
        .map_or_else(|_| "—".to_owned(), |t| t.to_zoned(tz.clone()).strftime(format).to_string())
}

/// `Fri 20 Nov 08:00 – 09:00 EET`, with the end's date when it is another day.
fn fmt_window((from, to): (i64, i64), tz: &TimeZone) -> String {
    let (Ok(a), Ok(b)) = (Timestamp::from_millisecond(from), Timestamp::from_millisecond(to)) else {
        return "—".to_owned();
    };
    let (a, b) = (a.to_zoned(tz.clone()), b.to_zoned(tz.clone()));
    let seconds = (to - from) < HOUR_MS;
    let time = if seconds { "%H:%M:%S" } else { "%H:%M" };
    let start = a.strftime(&format!("%a %d %b {time}")).to_string();
    let end = if a.date() == b.date() {
        b.strftime(&format!("{time} %Z")).to_string()
    } else {
        b.strftime(&format!("%a %d %b {time} %Z")).to_string()
    };
    format!("{start} – {end}")
}

/// A window width: `15 min`, `1 h 30 min`, `7 d`, `2 d 6 h`.
fn fmt_span(span_ms: i64) -> String {
    let secs = span_ms / SECOND_MS;
    if (3_600..86_400).contains(&secs) && secs % 3_600 == 0 {
        return format!("{} h", secs / 3_600);
    }
    if secs < 86_400 {
        return fmt_duration_secs(secs);
    }
    let (days, hours) = (secs / 86_400, secs % 86_400 / 3_600);
    if hours == 0 { format!("{days} d") } else { format!("{days} d {hours} h") }
}

/// A bucket width: `500 ms`, `10 s`, `5 min`, `1 h`.
fn fmt_duration_ms(ms: i64) -> String {
    if ms < SECOND_MS { format!("{ms} ms") } else { fmt_span(ms) }
}

/// A grid label in site time: the date at midnight and for steps of a day or more, seconds for steps under a minute.
fn fmt_grid_time(ms: i64, step_secs: f64, tz: &TimeZone) -> String {
    let Ok(t) = Timestamp::from_millisecond(ms) else { return String::new() };
    let z = t.to_zoned(tz.clone());
    let midnight = z.hour() == 0 && z.minute() == 0 && z.second() == 0;
    let format = if step_secs >= 86_400.0 || midnight {
        "%a %d %b"
    } else if step_secs < 60.0 {
        "%H:%M:%S"
    } else {
        "%H:%M"
    };
    z.strftime(format).to_string()
}

/// Grid lines on round site times (offset `offset_ms` from UTC), three levels: the finest step that is not too dense,
/// and two coarser ones that it divides.
fn time_grid_marks(input: &GridInput, origin_ms: i64, offset_ms: i64) -> Vec<GridMark> {
    let (min_x, max_x) = input.bounds;
    if !(input.base_step_size > 0.0 && min_x.is_finite() && max_x.is_finite() && min_x < max_x) {
        return Vec::new();
    }
    let last = GRID_STEPS_SECS.len() - 1;
    let finest = GRID_STEPS_SECS.iter().position(|&s| s as f64 >= input.base_step_size).unwrap_or(last);
    let from_ms = origin_ms + (min_x * 1_000.0).floor() as i64;
    let to_ms = origin_ms + (max_x * 1_000.0).ceil() as i64;
    let mut marks: BTreeMap<i64, i64> = BTreeMap::new();
    for level in [finest, (finest + 2).min(last), (finest + 4).min(last)] {
        let step_ms = GRID_STEPS_SECS[level] * SECOND_MS;
        let first = (from_ms + offset_ms + step_ms - 1).div_euclid(step_ms);
        // Bounded: at most a few hundred lines fit on a screen anyway.
        for k in first..first + 2_000 {
            let t = k * step_ms - offset_ms;
            if t > to_ms {
                break;
            }
            let step = marks.entry(t).or_insert(0);
            *step = (*step).max(GRID_STEPS_SECS[level]);
        }
    }
    marks
        .into_iter()
        .map(|(t, step_secs)| GridMark { value: (t - origin_ms) as f64 / 1_000.0, step_size: step_secs as f64 })
        .collect()
}

/// A time typed by an operator, in site time: `2026-11-20 08:00[:00]`, `2026-11-20T08:00`, `2026-11-20` (midnight),
/// `08:00` (today), `now`, or an RFC 3339 time with an offset.
fn parse_site_time(text: &str, tz: &TimeZone, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    let fail = || format!("Cannot read \"{text}\" as a site time: write e.g. 2026-11-20 08:00");
    if text.eq_ignore_ascii_case("now") {
        return Ok(now_ms);
    }
    let zoned_ms = |dt: jiff::civil::DateTime| dt.to_zoned(tz.clone()).map(|z| z.timestamp().as_millisecond());
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t.as_millisecond());
    }
    if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        return zoned_ms(dt).map_err(|e| format!("{}: {e}", fail()));
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return zoned_ms(date.to_datetime(jiff::civil::Time::midnight())).map_err(|e| format!("{}: {e}", fail()));
    }
    if let Ok(time) = text.parse::<jiff::civil::Time>() {
        let today =
            Timestamp::from_millisecond(now_ms).map_err(|e| format!("{}: {e}", fail()))?.to_zoned(tz.clone()).date();
        return zoned_ms(today.to_datetime(time)).map_err(|e| format!("{}: {e}", fail()));
    }
    Err(fail())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SignalId;
    use crate::store::query::Gap;

    const T0: i64 = 1_795_158_000_000;

    fn helsinki() -> TimeZone {
        TimeZone::get("Europe/Helsinki").expect("bundled")
    }

    fn series(buckets: &[(i64, f64)], bucket_ms: i64, gaps: Vec<Gap>) -> Series {
        Series {
            signal: SignalInfo {
                id: SignalId::from("a/b"),
                kind: ValueKind::Float,
                unit: None,
                gateway: "g".to_owned(),
            },
            from_ms: 0,
            to_ms: 1_000,
            bucket_ms,
            tier: Tier::Raw,
            buckets: buckets
                .iter()
                .map(|&(ts_ms, v)| Bucket { ts_ms, min: v - 1.0, max: v + 1.0, mean: v, count: 1 })
                .collect(),
            gaps,
            before: None,
        }
    }

    #[test]
    fn scales_are_round_and_cover_the_data() {
        let s = Scale::nice(12.3, 87.1, 5);
        assert_eq!((s.lo, s.hi, s.decimals), (0.0, 100.0, 0));
        let s = Scale::nice(0.0, 1.0, 5);
        assert_eq!((s.lo, s.hi, s.decimals), (0.0, 1.0, 1));
        let s = Scale::nice(20.0, 20.0, 4);
        assert!(s.lo < 20.0 && s.hi > 20.0, "{s:?}");
        let s = Scale::nice(-0.013, 0.011, 4);
        assert!(s.lo <= -0.013 && s.hi >= 0.011 && s.decimals >= 2, "{s:?}");
        let s = Scale::nice(101.0, 109.0, 4);
        assert_eq!((s.lo, s.hi), (100.0, 110.0));
        assert!((s.value_from_y(s.y_from_value(104.0)) - 104.0).abs() < 1e-9);
        assert_eq!(fmt_value(-0.0001, 2), "0.00");
        assert_eq!(decimals_for(2.5), 1);
        assert_eq!(decimals_for(0.25), 2);
    }

    #[test]
    fn queries_use_round_aligned_buckets() {
        let key = QueryKey::for_window((T0 - HOUR_MS + 123, T0 + 123), 1_200.0);
        assert_eq!((key.to_ms - key.from_ms) % (10 * SECOND_MS), 0);
        assert_eq!(key.span_ms() / i64::try_from(key.buckets).expect("small"), 10 * SECOND_MS);
        assert!(key.from_ms <= T0 - HOUR_MS + 123 && key.to_ms >= T0 + 123);
        assert_eq!(bucket_width_ms(8 * HOUR_MS, 600), MINUTE_MS);
        assert_eq!(bucket_width_ms(15 * MINUTE_MS, 2_000), 500);
        // Moving the window by less than a bucket keeps the key: live follow does not reshuffle buckets.
        assert_eq!(QueryKey::for_window((T0 - HOUR_MS + 1_000, T0 + 1_000), 1_200.0).from_ms, key.from_ms);
    }

    #[test]
    fn site_times_are_read_in_the_site_zone() {
        let tz = helsinki();
        // T0 is 09:00 in Helsinki.
        assert_eq!(parse_site_time("2026-11-20 09:00", &tz, 0), Ok(T0));
        assert_eq!(parse_site_time(" 2026-11-20T09:00:30 ", &tz, 0), Ok(T0 + 30_000));
        assert_eq!(parse_site_time("2026-11-20T07:00:00Z", &tz, 0), Ok(T0));
        assert_eq!(parse_site_time("2026-11-20", &tz, 0), Ok(T0 - 9 * HOUR_MS));
        assert_eq!(parse_site_time("08:00", &tz, T0), Ok(T0 - HOUR_MS));
        assert_eq!(parse_site_time("now", &tz, T0), Ok(T0));
        let err = parse_site_time("yesterday-ish", &tz, T0).expect_err("not a time");
        assert!(err.contains("\"yesterday-ish\""), "{err}");
    }

    #[test]
    fn time_labels_and_grid_follow_site_time() {
        let tz = helsinki();
        assert_eq!(fmt_window((T0 - HOUR_MS, T0), &tz), "Fri 20 Nov 08:00 – 09:00 EET");
        assert_eq!(fmt_span(7 * DAY_MS), "7 d");
        assert_eq!(fmt_span(90 * MINUTE_MS), "1 h 30 min");
        assert_eq!(fmt_span(8 * HOUR_MS), "8 h");
        assert_eq!(fmt_grid_time(T0, 600.0, &tz), "09:00");
        assert_eq!(fmt_grid_time(T0 - 9 * HOUR_MS, 3_600.0, &tz), "Fri 20 Nov");
        assert_eq!(short_name("PlantA/Line1/Filler/Temperature"), "Filler/Temperature");
        assert_eq!(short_name("Temperature"), "Temperature");
        // Helsinki is UTC+2 in November: at 50 min per 8 px the levels are 1 h, 3 h and 12 h, on whole local hours; the
        // 12 h lines fall on local noon and midnight, 10:00 and 22:00 UTC.
        let origin = T0 - 7 * HOUR_MS;
        let input = GridInput { bounds: (0.0, 86_400.0), base_step_size: 3_000.0 };
        let marks = time_grid_marks(&input, origin, 2 * HOUR_MS);
        let hours = |min_step: f64| -> Vec<f64> {
            marks.iter().filter(|m| m.step_size >= min_step).map(|m| m.value / 3_600.0).collect()
        };
        assert_eq!(hours(43_200.0), vec![10.0, 22.0]);
        assert_eq!(hours(10_800.0), vec![1.0, 4.0, 7.0, 10.0, 13.0, 16.0, 19.0, 22.0]);
        assert_eq!(hours(0.0).len(), 25, "both ends included");
    }

    #[test]
    fn readings_find_the_bucket_under_the_pointer_and_say_no_data_in_gaps() {
        let s = series(&[(0, 1.0), (10, 2.0), (40, 5.0)], 10, vec![Gap { start_ms: 20, end_ms: Some(40) }]);
        assert!(
            matches!(reading_at(&s, Some(12), false, None), Reading::Bucket { bucket, exact: true, .. } if bucket.mean == 2.0)
        );
        assert!(matches!(reading_at(&s, None, false, None), Reading::Bucket { bucket, .. } if bucket.mean == 5.0));
        assert_eq!(reading_at(&s, Some(25), false, None), Reading::NoData { interpolated: None });
        // Bridged from the centre of the bucket before (15, 2.0) to the one after (45, 5.0).
        assert_eq!(reading_at(&s, Some(25), true, None), Reading::NoData { interpolated: Some(3.0) });
        assert_eq!(reading_at(&s, Some(500), false, None), Reading::Nothing);
        // After the last bucket its value holds, until now or the window's end, unless a gap follows.
        assert_eq!(held_until(&s, (0, 1_000), 600), Some(600));
        assert!(
            matches!(reading_at(&s, Some(500), false, Some(600)), Reading::Bucket { held: true, bucket, .. } if bucket.mean == 5.0)
        );
        let open = series(&[(0, 1.0)], 10, vec![Gap { start_ms: 30, end_ms: None }]);
        assert_eq!(held_until(&open, (0, 1_000), 600), None);
        // Nothing changed in the range: the value from before it holds.
        let mut quiet = series(&[], 10, Vec::new());
        quiet.before = Some((-50, 7.0));
        assert_eq!(held_until(&quiet, (0, 1_000), 600), Some(600));
        assert_eq!(reading_at(&quiet, Some(300), false, Some(600)), Reading::Held { since_ms: -50, value: 7.0 });
        assert_eq!(reading_at(&quiet, Some(700), false, Some(600)), Reading::Nothing);
        let runs = band_runs(&s);
        assert_eq!(runs.iter().map(|r| r.len()).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(merge_gaps(vec![(5, 10, 2), (0, 6, 1), (20, 30, 1)]), vec![(0, 10, vec![1, 2]), (20, 30, vec![1])]);
    }

    #[test]
    fn pens_take_the_first_free_colour_and_stop_at_the_limit() {
        let mut panel = TrendPanel::default();
        for i in 0..MAX_PENS {
            assert!(panel.add_pen(&format!("s{i}")));
        }
        assert!(!panel.add_pen("one too many"));
        assert!(!panel.add_pen("s0"), "no duplicates");
        panel.remove_pen("s2");
        assert!(panel.add_pen("new"));
        assert_eq!(panel.pens.last().map(|p| p.colour), Some(2));
    }
}
