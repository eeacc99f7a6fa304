//! The plant view: site and line OEE, and a row of machine gauges per line, for the shift running now or any of the
//! last shifts (recomputed from the history cache). A click on a machine opens its detail: the shift's state
//! timeline, OEE by hour, the loss Pareto, the six big losses, the current stop and parts against target.

use std::collections::BTreeMap;
use std::sync::Arc;

use egui::{Align2, FontId, Rect, RichText, Sense, Stroke, StrokeKind, Ui, pos2, vec2};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::analytics::oee::pareto;
use crate::analytics::report::Report;
use crate::analytics::{Accumulator, Losses, MachineOee, Oee, Period, Totals};
use crate::live::LiveState;
use crate::model::MachineState;
use crate::store::{History, Pending};
use crate::ui::panels::plant::machine_severity;
use crate::ui::theme::{Severity, Theme};
use crate::ui::widgets::{oee_gauge_ui, state_colour, status_badge_ui};
use crate::ui::{ViewCtx, fmt_count, fmt_duration_secs};

/// Gauge size on machine cards; lines and the site get a larger one.
const MACHINE_GAUGE: f32 = 128.0;
const LINE_GAUGE: f32 = 150.0;
const DETAIL_GAUGE: f32 = 190.0;
/// How many finished shifts the picker offers.
const PAST_SHIFTS: usize = 9;

/// A past shift recomputed from the cache: the report and each machine's accumulator (for the detail).
pub struct PastShift {
    pub report: Report,
    pub machines: BTreeMap<Arc<str>, Accumulator>,
}

/// A past shift being shown (or loaded).
struct Review {
    period: Period,
    pending: Option<Pending<PastShift>>,
    loaded: Option<Result<PastShift, String>>,
}

/// What the plant view remembers between frames.
#[derive(Default)]
pub struct PlantPanel {
    /// The machine whose detail is open (its signal-id prefix).
    pub selected: Option<Arc<str>>,
    review: Option<Review>,
}

/// One machine card, from the live state or a past shift.
struct Card {
    id: Arc<str>,
    name: String,
    severity: Severity,
    state: String,
    oee: Oee,
    target: f64,
    detail: String,
    stale: bool,
}

struct LineView {
    name: String,
    target: f64,
    totals: Totals,
    cards: Vec<Card>,
}

fn hm(ts_ms: i64, tz: &TimeZone) -> String {
    Timestamp::from_millisecond(ts_ms)
        .map_or_else(|_| "—".to_owned(), |t| t.to_zoned(tz.clone()).strftime("%H:%M").to_string())
}

fn shift_name(period: &Period) -> String {
    if period.name.is_empty() { "Between shifts".to_owned() } else { format!("Shift {}", period.name) }
}

/// "Shift B · 14:00–22:00 · 2 h 10 min left".
pub fn period_label(period: &Period, now_ms: i64, tz: &TimeZone) -> String {
    format!(
        "{} · {}–{} · {} left",
        shift_name(period),
        hm(period.start_ms, tz),
        hm(period.end_ms, tz),
        fmt_duration_secs((period.end_ms - now_ms) / 1000)
    )
}

/// "Sat 21 Nov · Shift C · 22:00–06:00".
fn past_label(period: &Period, tz: &TimeZone) -> String {
    let day = Timestamp::from_millisecond(period.start_ms)
        .map_or_else(|_| "—".to_owned(), |t| t.to_zoned(tz.clone()).strftime("%a %d %b").to_string());
    format!("{day} · {} · {}–{}", shift_name(period), hm(period.start_ms, tz), hm(period.end_ms, tz))
}

fn live_lines(live: &LiveState, now_ms: i64) -> Vec<LineView> {
    let assets = live.oee.assets();
    live.machines_by_line()
        .into_iter()
        .map(|(path, machines)| {
            let mut totals = Totals::default();
            let cards = machines
                .into_iter()
                .map(|m| {
                    let read = live.oee.machine(&m.id, now_ms);
                    if let Some(r) = &read {
                        totals.add(&r.totals);
                    }
                    let state = if m.stale { "Stale" } else { m.state.map_or("Unknown", MachineState::label) };
                    let detail = match m.state {
                        Some(MachineState::Running) | None => {
                            format!(
                                "{} parts",
                                read.as_ref().map_or_else(|| "—".to_owned(), |r| fmt_count(r.totals.total))
                            )
                        }
                        Some(_) => format!(
                            "{} · {}",
                            m.reason.as_deref().unwrap_or(state),
                            fmt_duration_secs((now_ms - m.state_since_ms) / 1000)
                        ),
                    };
                    Card {
                        id: Arc::clone(&m.id),
                        name: m.path.machine.clone(),
                        severity: machine_severity(m),
                        state: state.to_owned(),
                        oee: read.as_ref().map(MachineOee::oee).unwrap_or_default(),
                        target: assets.machine_target(&m.id, &m.path.line),
                        detail,
                        stale: m.stale,
                    }
                })
                .collect();
            LineView {
                name: assets.line_name(&path.line).to_owned(),
                target: assets.line_target(&path.line),
                totals,
                cards,
            }
        })
        .collect()
}

fn past_lines(shift: &PastShift) -> Vec<LineView> {
    shift
        .report
        .lines
        .iter()
        .map(|line| LineView {
            name: line.name.clone(),
            target: line.target_oee,
            totals: line.totals,
            cards: shift
                .report
                .machines
                .iter()
                .filter(|m| m.line == line.id)
                .map(|m| Card {
                    id: Arc::from(m.id.as_str()),
                    name: m.name.clone(),
                    severity: Severity::Normal,
                    state: format!("{} stops", m.stops),
                    oee: m.totals.oee(),
                    target: m.target_oee,
                    detail: m.top_stops.first().map_or_else(
                        || format!("{} parts", fmt_count(m.totals.total)),
                        |c| format!("most: {} {:.0} min", c.reason, c.minutes),
                    ),
                    stale: false,
                })
                .collect(),
        })
        .collect()
}

impl PlantPanel {
    /// The shift picker: now, or one of the last finished shifts (recomputed from the cache).
    fn picker_ui(
        &mut self,
        ui: &mut Ui,
        theme: &Theme,
        live: &LiveState,
        now_ms: i64,
        tz: &TimeZone,
        history: Option<&History>,
    ) {
        let Some(current) = live.oee.period().cloned() else { return };
        let calendar = live.oee.calendar();
        let mut past: Vec<Period> = calendar
            .instances_between(current.start_ms - 4 * 86_400_000, current.start_ms)
            .into_iter()
            .filter(|s| s.end_ms <= current.start_ms)
            .map(|s| Period { name: s.name, start_ms: s.start_ms, end_ms: s.end_ms })
            .collect();
        past.reverse();
        past.truncate(PAST_SHIFTS);
        let shown = self
            .review
            .as_ref()
            .map_or_else(|| format!("Now · {}", period_label(&current, now_ms, tz)), |r| past_label(&r.period, tz));
        let mut pick: Option<Option<Period>> = None;
        ui.horizontal(|ui| {
            ui.label(RichText::new("Shift").color(theme.text_dim));
            egui::ComboBox::from_id_salt("oee_shift").selected_text(shown).width(330.0).show_ui(ui, |ui| {
                if ui.selectable_label(self.review.is_none(), "Now (live)").clicked() {
                    pick = Some(None);
                }
                for p in &past {
                    let selected = self.review.as_ref().is_some_and(|r| r.period == *p);
                    let enabled = history.is_some();
                    if ui.add_enabled(enabled, egui::Button::selectable(selected, past_label(p, tz))).clicked() {
                        pick = Some(Some(p.clone()));
                    }
                }
            });
            if self.review.is_some() {
                status_badge_ui(ui, theme, Severity::Info, "REVIEW");
                if ui.button("Back to live").clicked() {
                    pick = Some(None);
                }
            }
        });
        match pick {
            Some(None) => self.review = None,
            Some(Some(period)) => {
                self.selected = None;
                let pending = history.and_then(|h| load_past(h, live, &period));
                let loaded = pending.is_none().then(|| Err("the history reader is busy; try again".to_owned()));
                self.review = Some(Review { period, pending, loaded });
            }
            None => {}
        }
        if let Some(review) = &mut self.review
            && let Some(pending) = &mut review.pending
            && let Some(result) = pending.poll()
        {
            review.pending = None;
            review.loaded = Some(result.map_err(|e| e.to_string()));
        }
    }

    /// The gauges of every line, for the shown shift; a click on a machine selects it.
    pub fn overview_ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>) {
        let (theme, live, now_ms, tz, history) = (env.theme, env.live, env.now_ms, env.timezone, env.history);
        self.picker_ui(ui, theme, live, now_ms, tz, history);
        let (lines, site, subtitle) = match &self.review {
            None => {
                let lines = live_lines(live, now_ms);
                let mut site = Totals::default();
                for l in &lines {
                    site.add(&l.totals);
                }
                (lines, site, live.oee.period().map(|p| period_label(p, now_ms, tz)).unwrap_or_default())
            }
            Some(Review { loaded: Some(Ok(shift)), period, .. }) => {
                let site = shift.machines.values().fold(Totals::default(), |mut t, acc| {
                    t.add(&acc.read(acc.to_ms).totals);
                    t
                });
                (past_lines(shift), site, format!("{} · recomputed from the history cache", past_label(period, tz)))
            }
            Some(Review { loaded: Some(Err(err)), .. }) => {
                ui.label(RichText::new(format!("This shift could not be read: {err}")).color(theme.alarm));
                return;
            }
            Some(_) => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Reading the shift from the history cache…");
                });
                return;
            }
        };
        if lines.is_empty() {
            ui.label(RichText::new("No machines yet: waiting for a gateway to announce them.").color(theme.text_dim));
            return;
        }
        let assets = live.oee.assets();
        ui.horizontal(|ui| {
            oee_gauge_ui(ui, theme, LINE_GAUGE, &site.oee(), assets.target_oee, false);
            ui.vertical(|ui| {
                ui.label(
                    RichText::new(format!("{} — site OEE", live.settings.default_site))
                        .heading()
                        .color(theme.text_strong),
                );
                ui.label(RichText::new(subtitle).color(theme.text));
                totals_line_ui(ui, theme, &site, false);
                ui.label(
                    RichText::new("Line and site figures are summed times and counts, not averages of machine OEE.")
                        .small()
                        .color(theme.text_dim),
                );
            });
        });
        ui.separator();
        for line in &lines {
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.set_width(LINE_GAUGE + 10.0);
                    ui.label(RichText::new(&line.name).heading().color(theme.text_strong));
                    oee_gauge_ui(ui, theme, LINE_GAUGE, &line.totals.oee(), line.target, false);
                });
                ui.add_space(8.0);
                ui.horizontal_wrapped(|ui| {
                    for card in &line.cards {
                        self.machine_card_ui(ui, theme, card);
                    }
                });
            });
            ui.separator();
        }
    }

    fn machine_card_ui(&mut self, ui: &mut Ui, theme: &Theme, card: &Card) {
        let selected = self.selected.as_deref() == Some(&*card.id);
        let border = match card.severity {
            _ if selected => Stroke::new(2.5, theme.selection),
            Severity::Alarm => Stroke::new(2.5, theme.alarm),
            Severity::Attention => Stroke::new(2.0, theme.attention),
            _ => Stroke::new(1.0, theme.tile_border),
        };
        let inner =
            egui::Frame::new().fill(theme.tile).stroke(border).corner_radius(3.0).inner_margin(6.0).show(ui, |ui| {
                ui.set_width(MACHINE_GAUGE + 8.0);
                ui.vertical(|ui| {
                    ui.label(RichText::new(&card.name).strong().color(if card.stale {
                        theme.stale
                    } else {
                        theme.text_strong
                    }));
                    status_badge_ui(ui, theme, card.severity, &card.state);
                    oee_gauge_ui(ui, theme, MACHINE_GAUGE, &card.oee, card.target, card.stale);
                    ui.label(RichText::new(&card.detail).small().color(theme.text));
                });
            });
        let response = ui.interact(inner.response.rect, ui.scope_id().with(("oee_machine", &*card.id)), Sense::click());
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, format!("Machine {}", card.name)));
        if response.clicked() {
            self.selected = if selected { None } else { Some(Arc::clone(&card.id)) };
        }
    }

    /// The selected machine's detail; `false` when it was closed.
    pub fn detail_ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>) -> bool {
        let (theme, live, now_ms, tz) = (env.theme, env.live, env.now_ms, env.timezone);
        let Some(id) = self.selected.clone() else { return false };
        let assets = live.oee.assets();
        let (acc, at_ms, subtitle) = match &self.review {
            None => match live.oee.accumulator(&id) {
                Some(acc) => (acc, now_ms, live.oee.period().map(|p| period_label(p, now_ms, tz)).unwrap_or_default()),
                None => {
                    ui.label("No OEE data for this machine yet.");
                    return true;
                }
            },
            Some(Review { loaded: Some(Ok(shift)), period, .. }) => match shift.machines.get(&id) {
                Some(acc) => (acc, acc.to_ms, past_label(period, tz)),
                None => return true,
            },
            Some(_) => return true,
        };
        let path = assets.machine_path(&id, &live.settings.default_site);
        let r = acc.read(at_ms);
        let target = assets.machine_target(&id, &path.line);
        let mut open = true;
        ui.horizontal(|ui| {
            ui.heading(
                RichText::new(format!("{} · {}", path.machine, assets.line_name(&path.line))).color(theme.text_strong),
            );
            if ui.button("Close").clicked() {
                open = false;
            }
        });
        ui.label(RichText::new(subtitle).color(theme.text_dim));
        let machine = live.machines.get(&id).filter(|_| self.review.is_none());
        let stale = machine.is_some_and(|m| m.stale);
        ui.horizontal_top(|ui| {
            oee_gauge_ui(ui, theme, DETAIL_GAUGE, &r.oee(), target, stale);
            ui.vertical(|ui| {
                if let Some(m) = machine {
                    let state = m.state.map_or("Unknown", MachineState::label);
                    status_badge_ui(ui, theme, machine_severity(m), if m.stale { "Stale" } else { state });
                    if let Some(stop) = acc.open_stop(now_ms) {
                        ui.label(
                            RichText::new(format!(
                                "Stopped: {} for {}",
                                stop.cause(),
                                fmt_duration_secs((now_ms - stop.start_ms) / 1000)
                            ))
                            .size(16.0)
                            .color(theme.text_strong),
                        );
                    }
                }
                parts_vs_target_ui(ui, theme, &r, target);
                totals_line_ui(ui, theme, &r.totals, true);
            });
        });
        ui.add_space(6.0);
        section(ui, theme, "State this shift");
        timeline_ui(ui, theme, acc, at_ms, tz);
        section(ui, theme, "OEE by hour");
        hourly_ui(ui, theme, &r.hourly, acc.from_ms, at_ms, target, tz);
        section(ui, theme, "Stop time by cause");
        let stops = acc.stops_at(at_ms);
        let causes = pareto(&stops);
        if causes.is_empty() {
            ui.label(RichText::new("No stops this shift.").color(theme.text_dim));
        }
        #[expect(clippy::cast_precision_loss, reason = "milliseconds to a bar length")]
        let longest = causes.first().map_or(1.0, |c| c.2.max(1) as f64);
        for (cause, n, ms) in causes.iter().take(8) {
            #[expect(clippy::cast_precision_loss, reason = "milliseconds to a bar length")]
            bar_row_ui(ui, theme, cause, *ms as f64 / longest, &format!("{} · {n}×", fmt_duration_secs(ms / 1000)));
        }
        section(ui, theme, "Six big losses");
        losses_ui(ui, theme, &r.totals.losses());
        if !open {
            self.selected = None;
        }
        open
    }
}

/// Asks the reader for a past shift's OEE.
fn load_past(history: &History, live: &LiveState, period: &Period) -> Option<Pending<PastShift>> {
    let assets = live.oee.assets().clone();
    let calendar = live.oee.calendar().clone();
    let site = live.settings.default_site.clone();
    let (from, to) = (period.start_ms, period.end_ms);
    let path = history.path().to_owned();
    history.run(move |conn| {
        let rows = crate::analytics::history::recompute(conn, &assets, &calendar, from, to)
            .map_err(|source| crate::store::Error::History { path, source })?;
        let report = crate::analytics::report::from_rows(&rows, &assets, &site, from, to);
        let machines = rows.into_iter().map(|(m, acc, _)| (Arc::from(m.prefix.as_str()), acc)).collect();
        Ok(PastShift { report, machines })
    })
}

fn section(ui: &mut Ui, theme: &Theme, title: &str) {
    ui.add_space(4.0);
    ui.label(RichText::new(title).strong().color(theme.text_strong));
}

/// Counts, and for one machine planned and run time; the share of time with no data (left out of the figures).
fn totals_line_ui(ui: &mut Ui, theme: &Theme, t: &Totals, one_machine: bool) {
    let mut text = format!("{} parts, {} rejects", fmt_count(t.total), fmt_count(t.rejects()));
    if one_machine {
        text = format!(
            "Planned {} · run {} · {text}",
            fmt_duration_secs(t.planned_ms / 1000),
            fmt_duration_secs(t.run_ms() / 1000)
        );
    }
    if t.no_data_ms > 0 {
        #[expect(clippy::cast_precision_loss, reason = "a share of milliseconds")]
        let share = t.no_data_ms as f64 * 100.0 / (t.no_data_ms + t.planned_ms) as f64;
        text.push_str(&format!(" · no data {share:.0} % of the time (left out)"));
    }
    if t.parts_in_gaps > 0 {
        text.push_str(&format!(" · {} parts across gaps left out", fmt_count(t.parts_in_gaps)));
    }
    ui.label(RichText::new(text).color(theme.text));
}

/// Parts made against the parts the target OEE asks for in the planned time so far.
fn parts_vs_target_ui(ui: &mut Ui, theme: &Theme, r: &MachineOee, target: f64) {
    let Some(ict) = r.ideal_cycle_secs else {
        ui.label(RichText::new("No ideal cycle time: performance unknown").color(theme.text_dim));
        return;
    };
    #[expect(clippy::cast_precision_loss, clippy::cast_possible_truncation, reason = "part counts")]
    let target_parts = (r.totals.planned_ms as f64 / 1000.0 / ict * target).round() as i64;
    ui.label(
        RichText::new(format!("Good parts {} of {} target", fmt_count(r.totals.good), fmt_count(target_parts)))
            .size(16.0)
            .color(theme.text_strong),
    );
    ui.label(
        RichText::new(format!("ideal cycle {ict:.2} s, target OEE {:.0} %", target * 100.0))
            .small()
            .color(theme.text_dim),
    );
}

/// A labelled horizontal bar with a value at its end.
fn bar_row_ui(ui: &mut Ui, theme: &Theme, label: &str, frac: f64, value: &str) {
    let width = ui.available_width().max(200.0);
    let (rect, response) = ui.allocate_exact_size(vec2(width, 18.0), Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, format!("{label}: {value}")));
    let painter = ui.painter();
    let label_w = width * 0.34;
    let value_w = width * 0.24;
    painter.text(
        pos2(rect.left(), rect.center().y),
        Align2::LEFT_CENTER,
        label,
        FontId::proportional(13.0),
        theme.text,
    );
    let track = Rect::from_min_max(
        pos2(rect.left() + label_w, rect.top() + 3.0),
        pos2(rect.right() - value_w, rect.bottom() - 3.0),
    );
    painter.rect_filled(track, 2.0, theme.bar_track);
    #[expect(clippy::cast_possible_truncation, reason = "a fraction to pixels")]
    let w = track.width() * frac.clamp(0.0, 1.0) as f32;
    painter.rect_filled(Rect::from_min_size(track.min, vec2(w, track.height())), 2.0, theme.bar_normal);
    painter.text(
        pos2(rect.right(), rect.center().y),
        Align2::RIGHT_CENTER,
        value,
        FontId::proportional(13.0),
        theme.text,
    );
}

fn losses_ui(ui: &mut Ui, theme: &Theme, losses: &Losses) {
    let values = losses.as_array();
    let most = values.iter().copied().fold(1.0, f64::max);
    for (name, ms) in Losses::NAMES.iter().zip(values) {
        bar_row_ui(ui, theme, name, ms / most, &format!("{:.1} min", ms / 60_000.0));
    }
}

/// The shift as a strip coloured by state, breaks and time outside shifts shaded, hours marked.
fn timeline_ui(ui: &mut Ui, theme: &Theme, acc: &crate::analytics::Accumulator, now_ms: i64, tz: &TimeZone) {
    let width = ui.available_width().max(200.0);
    let (rect, response) = ui.allocate_exact_size(vec2(width, 40.0), Sense::hover());
    let strip = Rect::from_min_size(rect.min, vec2(width, 24.0));
    let painter = ui.painter();
    let span = (acc.to_ms - acc.from_ms).max(1);
    #[expect(clippy::cast_precision_loss, reason = "milliseconds to pixels")]
    let x = |ts: i64| strip.left() + strip.width() * ((ts - acc.from_ms).clamp(0, span) as f32 / span as f32);
    painter.rect_filled(strip, 0.0, theme.background);
    for seg in acc.segments_at(now_ms) {
        painter.rect_filled(
            Rect::from_min_max(pos2(x(seg.start_ms), strip.top()), pos2(x(seg.end_ms), strip.bottom())),
            0.0,
            state_colour(theme, seg.state),
        );
    }
    // Unscheduled time (breaks, between shifts): a dim veil with a line, so it reads as "not counted".
    let mut cursor = acc.from_ms;
    for &(start, end) in acc.scheduled().iter().chain([&(acc.to_ms, acc.to_ms)]) {
        if start > cursor {
            let r = Rect::from_min_max(pos2(x(cursor), strip.top()), pos2(x(start), strip.bottom()));
            painter.rect_filled(r, 0.0, theme.panel.gamma_multiply(0.7));
            painter.line_segment([r.left_center(), r.right_center()], Stroke::new(1.0, theme.text_dim));
        }
        cursor = cursor.max(end);
    }
    painter.rect_stroke(strip, 0.0, Stroke::new(1.0, theme.tile_border), StrokeKind::Inside);
    let mut hour = acc.from_ms;
    while hour <= acc.to_ms {
        painter.line_segment(
            [pos2(x(hour), strip.bottom()), pos2(x(hour), strip.bottom() + 4.0)],
            Stroke::new(1.0, theme.text_dim),
        );
        painter.text(
            pos2(x(hour), strip.bottom() + 5.0),
            Align2::CENTER_TOP,
            hm(hour, tz),
            FontId::proportional(10.0),
            theme.text_dim,
        );
        hour += crate::analytics::oee::HOUR_MS;
    }
    if now_ms < acc.to_ms {
        painter.line_segment(
            [pos2(x(now_ms), strip.top() - 2.0), pos2(x(now_ms), strip.bottom() + 2.0)],
            Stroke::new(2.0, theme.text_strong),
        );
    }
    if let Some(pos) = response.hover_pos() {
        #[expect(clippy::cast_possible_truncation, reason = "pixels to milliseconds")]
        let ts = acc.from_ms + (f64::from((pos.x - strip.left()) / strip.width()) * span as f64) as i64;
        let seg = acc.segments_at(now_ms).into_iter().find(|s| (s.start_ms..s.end_ms).contains(&ts));
        let text = match seg {
            Some(s) => format!(
                "{}–{} {}",
                hm(s.start_ms, tz),
                hm(s.end_ms, tz),
                s.state.map_or("no data", MachineState::label)
            ),
            None => hm(ts, tz),
        };
        response.on_hover_text(text);
    }
}

/// OEE per hour as bars, with the target line.
fn hourly_ui(ui: &mut Ui, theme: &Theme, hourly: &[Totals], from_ms: i64, now_ms: i64, target: f64, tz: &TimeZone) {
    let width = ui.available_width().max(200.0);
    let (rect, _) = ui.allocate_exact_size(vec2(width, 90.0), Sense::hover());
    let plot = Rect::from_min_max(rect.min + vec2(0.0, 4.0), rect.max - vec2(0.0, 16.0));
    let painter = ui.painter();
    painter.rect_filled(plot, 0.0, theme.background);
    #[expect(clippy::cast_precision_loss, reason = "a few hours")]
    let slot = plot.width() / hourly.len().max(1) as f32;
    #[expect(clippy::cast_possible_truncation, reason = "a fraction to pixels")]
    let y = |v: f64| plot.bottom() - plot.height() * v.clamp(0.0, 1.0) as f32;
    for (i, h) in hourly.iter().enumerate() {
        let start = from_ms + i64::try_from(i).unwrap_or(0) * crate::analytics::oee::HOUR_MS;
        if start > now_ms {
            break;
        }
        #[expect(clippy::cast_precision_loss, reason = "a few hours")]
        let left = plot.left() + slot * i as f32;
        if let Some(v) = h.oee().oee {
            let colour = if v < target * 0.75 { theme.attention } else { theme.bar_normal };
            painter.rect_filled(
                Rect::from_min_max(pos2(left + 3.0, y(v)), pos2(left + slot - 3.0, plot.bottom())),
                1.0,
                colour,
            );
            painter.text(
                pos2(left + slot / 2.0, y(v) - 1.0),
                Align2::CENTER_BOTTOM,
                format!("{:.0}", v * 100.0),
                FontId::proportional(10.0),
                theme.text,
            );
        }
        painter.text(
            pos2(left + slot / 2.0, plot.bottom() + 2.0),
            Align2::CENTER_TOP,
            hm(start, tz),
            FontId::proportional(10.0),
            theme.text_dim,
        );
    }
    painter.line_segment(
        [pos2(plot.left(), y(target)), pos2(plot.right(), y(target))],
        Stroke::new(1.5, theme.limit_mark),
    );
}
