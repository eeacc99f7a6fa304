//! The Alarms view: the **summary** of every alarm that is not normal (sort, filter by priority, area and state,
//! multi-select, acknowledge with a comment, shelve for a chosen time with a reason, unshelve), the **history**
//! (the journal of a range) and the **KPIs** of a range (alarm rate per 10 min with floods, chattering alarms, bad
//! actors, stale alarms, the priority mix; ISA-18.2 / EEMUA 191 targets beside each figure).
//!
//! Every action goes to the history writer as a [`StoreCommand`] with the operator's name; the journal and the
//! KPIs are read on the history reader's thread, never in `ui()`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use egui::{Align2, FontId, RichText, Sense, Stroke, Ui, vec2};
use egui_extras::{Column, TableBuilder};
use jiff::tz::TimeZone;

use crate::analytics::Period;
use crate::analytics::alarm_kpi::{FLOOD_END_PER_10_MIN, FLOOD_START_PER_10_MIN, Kpis};
use crate::model::ShiftCalendar;
use crate::model::alarm::{AlarmState, Priority};
use crate::model::history::OperatorAction;
use crate::store::journal::JournalEntry;
use crate::store::{AlarmView, History, HistorySource, Pending, StoreCommand};
use crate::ui::panels::alarms::{priority_colour, priority_mark_ui};
use crate::ui::theme::Theme;

/// The three parts of the view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AlarmTab {
    #[default]
    Summary,
    History,
    Kpis,
}

/// Which alarms the summary lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StateFilter {
    #[default]
    All,
    ToAcknowledge,
    Active,
    Shelved,
    Suppressed,
}

impl StateFilter {
    const ALL: [Self; 5] = [Self::All, Self::ToAcknowledge, Self::Active, Self::Shelved, Self::Suppressed];

    fn label(self) -> &'static str {
        match self {
            Self::All => "Any state",
            Self::ToAcknowledge => "To acknowledge",
            Self::Active => "Active",
            Self::Shelved => "Shelved",
            Self::Suppressed => "Suppressed or out of service",
        }
    }

    fn keeps(self, a: &AlarmView) -> bool {
        match self {
            Self::All => true,
            Self::ToAcknowledge => a.state.wants_ack(),
            Self::Active => a.active,
            Self::Shelved => a.state == AlarmState::Shelved,
            Self::Suppressed => matches!(a.state, AlarmState::Suppressed | AlarmState::OutOfService),
        }
    }
}

/// The summary's sort column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AlarmSort {
    /// Unacknowledged first, then by priority, newest first (what needs the operator most).
    #[default]
    Priority,
    Time,
    Rule,
    Asset,
    State,
}

/// The range the history and the KPIs read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JournalRange {
    #[default]
    ThisShift,
    LastShift,
    Last24h,
    Last7d,
}

impl JournalRange {
    const ALL: [Self; 4] = [Self::ThisShift, Self::LastShift, Self::Last24h, Self::Last7d];

    fn label(self) -> &'static str {
        match self {
            Self::ThisShift => "This shift",
            Self::LastShift => "Last shift",
            Self::Last24h => "Last 24 h",
            Self::Last7d => "Last 7 days",
        }
    }

    /// `[from, to)` at `now_ms`.
    pub fn bounds(self, calendar: &ShiftCalendar, now_ms: i64) -> (i64, i64) {
        match self {
            Self::ThisShift => (Period::at(calendar, now_ms).start_ms, now_ms),
            Self::LastShift => {
                let this = Period::at(calendar, now_ms);
                let last = Period::at(calendar, this.start_ms - 1);
                (last.start_ms, last.end_ms)
            }
            Self::Last24h => (now_ms - 86_400_000, now_ms),
            Self::Last7d => (now_ms - 7 * 86_400_000, now_ms),
        }
    }
}

/// Shelving times offered (ISA-18.2: shelving is always for a limited time).
const SHELVE_FOR: [(i64, &str); 4] =
    [(15 * 60_000, "15 min"), (3_600_000, "1 h"), (4 * 3_600_000, "4 h"), (8 * 3_600_000, "8 h")];
/// The journal read for the history view at most.
const HISTORY_ROWS: usize = 5_000;
/// How often an open history or KPI view is read again.
const RELOAD_EVERY: Duration = Duration::from_secs(10);

struct Loaded {
    range: (i64, i64),
    entries: Vec<JournalEntry>,
    kpis: Kpis,
    /// Read from the site database, or this machine's cache (and why not the site's).
    source: HistorySource,
}

/// The Alarms view's state.
pub struct AlarmsPanel {
    pub tab: AlarmTab,
    pub priority: Option<Priority>,
    pub area: Option<String>,
    pub state: StateFilter,
    pub sort: AlarmSort,
    pub descending: bool,
    /// Selected alarm instances (their indices).
    pub selected: BTreeSet<usize>,
    pub comment: String,
    pub shelve_for_ms: i64,
    pub shelve_reason: String,
    pub range: JournalRange,
    pub search: String,
    loading: Option<(JournalRange, Pending<(Loaded, HistorySource)>)>,
    loaded: Option<(JournalRange, Loaded)>,
    /// The last read asked for, and when.
    asked: Option<(JournalRange, Instant)>,
    problem: Option<String>,
}

impl Default for AlarmsPanel {
    fn default() -> Self {
        Self {
            tab: AlarmTab::Summary,
            priority: None,
            area: None,
            state: StateFilter::All,
            sort: AlarmSort::Priority,
            descending: false,
            selected: BTreeSet::new(),
            comment: String::new(),
            shelve_for_ms: 3_600_000,
            shelve_reason: String::new(),
            range: JournalRange::ThisShift,
            search: String::new(),
            loading: None,
            loaded: None,
            asked: None,
            problem: None,
        }
    }
}

/// What the view needs from the app.
pub struct AlarmsEnv<'a> {
    pub theme: &'a Theme,
    pub alarms: &'a [AlarmView],
    pub now_ms: i64,
    pub operator: &'a str,
    pub timezone: &'a TimeZone,
    pub calendar: &'a ShiftCalendar,
    pub history: Option<&'a History>,
    /// The area an asset belongs to (a machine's area, "Fleet", "Gateways").
    pub area_of: &'a dyn Fn(&str) -> String,
    /// In review: the alarms as they stood at the cursor, with nothing to act on.
    pub reviewing: bool,
}

fn clock(ms: i64, tz: &TimeZone) -> String {
    crate::ui::fmt_local(ms, tz, "%a %H:%M:%S")
}

impl AlarmsPanel {
    /// The summary's rows, filtered and sorted.
    pub fn rows<'a>(&self, alarms: &'a [AlarmView], area_of: &dyn Fn(&str) -> String) -> Vec<&'a AlarmView> {
        let mut rows: Vec<&AlarmView> = alarms
            .iter()
            .filter(|a| self.priority.is_none_or(|p| a.priority == p))
            .filter(|a| self.state.keeps(a))
            .filter(|a| self.area.as_ref().is_none_or(|area| area_of(&a.asset) == *area))
            .collect();
        rows.sort_by(|a, b| {
            let order = match self.sort {
                AlarmSort::Priority => b
                    .state
                    .wants_ack()
                    .cmp(&a.state.wants_ack())
                    .then(a.priority.cmp(&b.priority))
                    .then(b.active_since_ms.cmp(&a.active_since_ms)),
                AlarmSort::Time => b.active_since_ms.cmp(&a.active_since_ms),
                AlarmSort::Rule => a.rule.cmp(&b.rule),
                AlarmSort::Asset => crate::model::asset::natural_cmp(&a.asset, &b.asset),
                AlarmSort::State => a.state.label().cmp(b.state.label()),
            };
            let order = order.then(a.index.cmp(&b.index));
            if self.descending { order.reverse() } else { order }
        });
        rows
    }

    /// Draws the view; returns the operator's actions for the history writer.
    pub fn ui(&mut self, ui: &mut Ui, env: &AlarmsEnv<'_>) -> Vec<StoreCommand> {
        ui.horizontal(|ui| {
            for (tab, label) in
                [(AlarmTab::Summary, "Summary"), (AlarmTab::History, "History"), (AlarmTab::Kpis, "KPIs")]
            {
                ui.selectable_value(&mut self.tab, tab, label);
            }
        });
        ui.separator();
        match self.tab {
            AlarmTab::Summary => self.summary_ui(ui, env),
            AlarmTab::History => {
                self.load(env);
                self.history_ui(ui, env);
                Vec::new()
            }
            AlarmTab::Kpis => {
                self.load(env);
                self.kpis_ui(ui, env);
                Vec::new()
            }
        }
    }

    /// Reads the journal and KPIs of the range on the reader thread when the range changed or they are old.
    fn load(&mut self, env: &AlarmsEnv<'_>) {
        if let Some((range, pending)) = &mut self.loading {
            match pending.poll() {
                Some(Ok((loaded, source))) => {
                    self.loaded = Some((*range, Loaded { source, ..loaded }));
                    self.loading = None;
                    self.problem = None;
                }
                Some(Err(err)) => {
                    self.problem = Some(format!("The alarm journal cannot be read: {err}"));
                    self.loading = None;
                }
                None => return,
            }
        }
        // Asked again when the range changes, and every RELOAD_EVERY (also after a failure, not every frame).
        let recent = self.asked.is_some_and(|(r, at)| r == self.range && at.elapsed() < RELOAD_EVERY);
        if recent {
            return;
        }
        let Some(history) = env.history else { return };
        let (from, to) = self.range.bounds(env.calendar, env.now_ms);
        // A console reads the site's journal (every console's actions), its own cache while the site is away.
        let pending = history.run_history(move |h| {
            let entries = h.journal(from, to, HISTORY_ROWS)?;
            let kpis = crate::analytics::alarm_kpi::kpis(h, from, to)?;
            Ok(Loaded { range: (from, to), entries, kpis, source: HistorySource::Site })
        });
        if let Some(p) = pending {
            self.loading = Some((self.range, p));
            self.asked = Some((self.range, Instant::now()));
        }
    }

    fn range_ui(&mut self, ui: &mut Ui, env: &AlarmsEnv<'_>) {
        egui::ComboBox::new("alarm_range", "Range").selected_text(self.range.label()).show_ui(ui, |ui| {
            for r in JournalRange::ALL {
                ui.selectable_value(&mut self.range, r, r.label());
            }
        });
        if let Some((_, l)) = &self.loaded {
            ui.label(
                RichText::new(format!("{} – {}", clock(l.range.0, env.timezone), clock(l.range.1, env.timezone)))
                    .color(env.theme.text_dim),
            );
            match &l.source {
                HistorySource::Site => {
                    ui.label(RichText::new("from the site database").color(env.theme.text_dim));
                }
                HistorySource::Cache { site_problem: Some(why) } => {
                    ui.label(
                        RichText::new("from this console's cache: the site database cannot be read")
                            .color(env.theme.attention),
                    )
                    .on_hover_text(why);
                }
                HistorySource::Cache { site_problem: None } => {}
            }
        }
        if self.loading.is_some() {
            ui.spinner();
        }
        if env.history.is_none() {
            ui.label(RichText::new("No history cache: the journal is not available.").color(env.theme.text_dim));
        }
        if let Some(p) = &self.problem {
            ui.label(RichText::new(p).color(env.theme.alarm));
        }
    }

    fn summary_ui(&mut self, ui: &mut Ui, env: &AlarmsEnv<'_>) -> Vec<StoreCommand> {
        let theme = env.theme;
        let mut commands = Vec::new();
        // Alarms that went back to normal drop out of the selection.
        self.selected.retain(|i| env.alarms.iter().any(|a| a.index == *i));
        let mut areas: Vec<String> = env.alarms.iter().map(|a| (env.area_of)(&a.asset)).collect();
        areas.sort();
        areas.dedup();
        ui.horizontal_wrapped(|ui| {
            egui::ComboBox::new("alarm_priority", "Priority")
                .selected_text(self.priority.map_or("Any priority", Priority::label))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.priority, None, "Any priority");
                    for p in Priority::ALL {
                        ui.selectable_value(&mut self.priority, Some(p), p.label());
                    }
                });
            egui::ComboBox::new("alarm_area", "Area")
                .selected_text(self.area.clone().unwrap_or_else(|| "Any area".to_owned()))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.area, None, "Any area");
                    for a in &areas {
                        ui.selectable_value(&mut self.area, Some(a.clone()), a);
                    }
                });
            egui::ComboBox::new("alarm_state", "State").selected_text(self.state.label()).show_ui(ui, |ui| {
                for s in StateFilter::ALL {
                    ui.selectable_value(&mut self.state, s, s.label());
                }
            });
        });
        let rows = self.rows(env.alarms, env.area_of);
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("{} of {} alarms", rows.len(), env.alarms.len()));
            if ui.button("Select all shown").clicked() {
                self.selected.extend(rows.iter().map(|a| a.index));
            }
            if !self.selected.is_empty() && ui.button("Clear selection").clicked() {
                self.selected.clear();
            }
        });
        if env.reviewing {
            ui.label(
                RichText::new("As they stood at the review's cursor: acknowledging and shelving are for the present.")
                    .color(theme.text_dim),
            );
        } else {
            commands.extend(self.actions_ui(ui, env));
        }
        ui.separator();
        if env.alarms.is_empty() {
            ui.label(RichText::new("No alarms: every alarm is normal.").color(theme.text_dim));
            return commands;
        }
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 8.0;
        let columns = [
            ("Priority", AlarmSort::Priority),
            ("Since", AlarmSort::Time),
            ("Alarm", AlarmSort::Rule),
            ("Asset", AlarmSort::Asset),
            ("State", AlarmSort::State),
        ];
        let blink_on = (ui.input(|i| i.time) * 2.0).floor().rem_euclid(2.0) < 1.0;
        if rows.iter().any(|a| a.state.wants_ack()) {
            ui.ctx().request_repaint_after(Duration::from_millis(500));
        }
        TableBuilder::new(ui)
            .id_salt("alarm_summary")
            .striped(true)
            .column(Column::exact(28.0))
            .column(Column::auto().at_least(90.0))
            .column(Column::auto().at_least(90.0))
            .column(Column::auto().at_least(150.0))
            .column(Column::auto().at_least(160.0))
            .column(Column::auto().at_least(150.0))
            .column(Column::remainder().at_least(200.0))
            .header(row_height, |mut header| {
                header.col(|_| {});
                for (title, by) in columns {
                    header.col(|ui| {
                        ui.horizontal(|ui| {
                            crate::ui::widgets::sort_header_ui(ui, title, by, &mut self.sort, &mut self.descending);
                        });
                    });
                }
                header.col(|ui| {
                    ui.strong("Message");
                });
            })
            .body(|body| {
                body.rows(row_height, rows.len(), |mut row| {
                    let a = rows[row.index()];
                    let mut on = self.selected.contains(&a.index);
                    row.col(|ui| {
                        let label = format!("Select {} on {}", a.rule, a.asset);
                        if ui.checkbox(&mut on, "").on_hover_text(&label).changed() {
                            if on {
                                self.selected.insert(a.index);
                            } else {
                                self.selected.remove(&a.index);
                            }
                        }
                    });
                    row.col(|ui| {
                        ui.horizontal(|ui| {
                            priority_mark_ui(ui, theme, a.priority, !a.state.wants_ack() || blink_on);
                            ui.label(RichText::new(a.priority.label()).color(priority_colour(theme, a.priority)));
                        });
                    });
                    row.col(|ui| {
                        let since = a.active_since_ms.map_or_else(|| "—".to_owned(), |t| clock(t, env.timezone));
                        ui.label(since);
                    });
                    row.col(|ui| {
                        let text = RichText::new(&a.rule);
                        ui.label(if a.state.wants_ack() { text.strong() } else { text });
                    });
                    row.col(|ui| {
                        ui.label(&a.asset).on_hover_text(&a.source);
                    });
                    row.col(|ui| {
                        let mut state = a.state.label().to_owned();
                        if let Some(until) = a.shelved_until_ms {
                            state = format!("Shelved until {}", clock(until, env.timezone));
                        }
                        let colour = if a.state.wants_ack() { theme.alarm } else { theme.text };
                        ui.label(RichText::new(state).color(colour));
                    });
                    row.col(|ui| {
                        ui.label(&a.message);
                    });
                });
            });
        commands
    }

    /// Acknowledge with a comment, shelve for a time with a reason, unshelve — for the selection.
    fn actions_ui(&mut self, ui: &mut Ui, env: &AlarmsEnv<'_>) -> Vec<StoreCommand> {
        let mut commands = Vec::new();
        let chosen: Vec<&AlarmView> = env.alarms.iter().filter(|a| self.selected.contains(&a.index)).collect();
        let to_ack: Vec<usize> = chosen.iter().filter(|a| a.state.wants_ack()).map(|a| a.index).collect();
        let shelved: Vec<usize> = chosen.iter().filter(|a| a.state == AlarmState::Shelved).map(|a| a.index).collect();
        let shelvable: Vec<usize> = chosen
            .iter()
            .filter(|a| !matches!(a.state, AlarmState::Shelved | AlarmState::OutOfService))
            .map(|a| a.index)
            .collect();
        let user = env.operator.to_owned();
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Comment");
            ui.add(
                egui::TextEdit::singleline(&mut self.comment)
                    .id_salt("alarm_comment")
                    .hint_text("optional")
                    .desired_width(180.0),
            )
            .labelled_by(label.id);
            let ack = ui
                .add_enabled(!to_ack.is_empty(), egui::Button::new(format!("Acknowledge {}", to_ack.len())))
                .on_hover_text(format!("Acknowledge the selected alarms as {user} (F10)"));
            if ack.clicked() {
                commands.push(StoreCommand::Alarm(OperatorAction::Acknowledge {
                    indices: to_ack.clone(),
                    user: user.clone(),
                    comment: self.comment.trim().to_owned(),
                }));
                self.comment.clear();
            }
            ui.separator();
            let label = SHELVE_FOR.iter().find(|(ms, _)| *ms == self.shelve_for_ms).map_or("1 h", |(_, l)| *l);
            egui::ComboBox::new("shelve_for", "Shelve for").selected_text(label).show_ui(ui, |ui| {
                for (ms, l) in SHELVE_FOR {
                    ui.selectable_value(&mut self.shelve_for_ms, ms, l);
                }
            });
            let label = ui.label("Reason");
            ui.add(
                egui::TextEdit::singleline(&mut self.shelve_reason)
                    .id_salt("shelve_reason")
                    .hint_text("required")
                    .desired_width(160.0),
            )
            .labelled_by(label.id);
            let can_shelve = !shelvable.is_empty() && !self.shelve_reason.trim().is_empty();
            let shelve = ui
                .add_enabled(can_shelve, egui::Button::new(format!("Shelve {}", shelvable.len())))
                .on_hover_text("Hide the selected alarms for the chosen time; they come back then");
            if shelve.clicked() {
                commands.push(StoreCommand::Alarm(OperatorAction::Shelve {
                    indices: shelvable.clone(),
                    for_ms: self.shelve_for_ms,
                    user: user.clone(),
                    reason: self.shelve_reason.trim().to_owned(),
                }));
                self.shelve_reason.clear();
            }
            if ui.add_enabled(!shelved.is_empty(), egui::Button::new(format!("Unshelve {}", shelved.len()))).clicked() {
                commands.push(StoreCommand::Alarm(OperatorAction::Unshelve {
                    indices: shelved.clone(),
                    user: user.clone(),
                }));
            }
            ui.separator();
            let in_service: Vec<usize> =
                chosen.iter().filter(|a| a.state != AlarmState::OutOfService).map(|a| a.index).collect();
            let out_of_service: Vec<usize> =
                chosen.iter().filter(|a| a.state == AlarmState::OutOfService).map(|a| a.index).collect();
            let take_out = ui
                .add_enabled(!in_service.is_empty(), egui::Button::new(format!("Out of service {}", in_service.len())))
                .on_hover_text("For maintenance: hidden until returned; the comment says why");
            if take_out.clicked() {
                commands.push(StoreCommand::Alarm(OperatorAction::OutOfService {
                    indices: in_service,
                    out: true,
                    user: user.clone(),
                    comment: self.comment.trim().to_owned(),
                }));
                self.comment.clear();
            }
            let return_label = format!("Return to service {}", out_of_service.len());
            if ui.add_enabled(!out_of_service.is_empty(), egui::Button::new(return_label)).clicked() {
                commands.push(StoreCommand::Alarm(OperatorAction::OutOfService {
                    indices: out_of_service,
                    out: false,
                    user: user.clone(),
                    comment: self.comment.trim().to_owned(),
                }));
            }
            ui.label(RichText::new(format!("as {user}")).color(env.theme.text_dim));
        });
        commands
    }

    fn history_ui(&mut self, ui: &mut Ui, env: &AlarmsEnv<'_>) {
        let theme = env.theme;
        ui.horizontal_wrapped(|ui| {
            self.range_ui(ui, env);
            let label = ui.label("Find");
            ui.add(egui::TextEdit::singleline(&mut self.search).hint_text("alarm, asset, user…").desired_width(160.0))
                .labelled_by(label.id);
        });
        let Some((_, loaded)) = &self.loaded else {
            return;
        };
        let needle = self.search.trim().to_lowercase();
        let rows: Vec<&JournalEntry> = loaded
            .entries
            .iter()
            .rev()
            .filter(|e| {
                needle.is_empty()
                    || [&e.rule, &e.asset, &e.source, &e.user, &e.comment, &e.message]
                        .iter()
                        .any(|s| s.to_lowercase().contains(&needle))
            })
            .collect();
        ui.label(RichText::new(format!("{} journal entries, newest first", rows.len())).color(theme.text_dim));
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
        TableBuilder::new(ui)
            .id_salt("alarm_history")
            .striped(true)
            .column(Column::auto().at_least(90.0))
            .column(Column::auto().at_least(80.0))
            .column(Column::auto().at_least(140.0))
            .column(Column::auto().at_least(140.0))
            .column(Column::auto().at_least(300.0))
            .column(Column::auto().at_least(70.0))
            .column(Column::remainder().at_least(160.0))
            .header(row_height, |mut header| {
                for title in ["Time", "Priority", "Alarm", "Asset", "Change", "User", "Comment / message"] {
                    header.col(|ui| {
                        ui.strong(title);
                    });
                }
            })
            .body(|body| {
                body.rows(row_height, rows.len(), |mut row| {
                    let e = rows[row.index()];
                    row.col(|ui| {
                        ui.label(clock(e.ts_ms, env.timezone));
                    });
                    row.col(|ui| {
                        ui.horizontal(|ui| {
                            priority_mark_ui(ui, theme, e.priority, true);
                            ui.label(e.priority.label());
                        });
                    });
                    row.col(|ui| {
                        ui.label(&e.rule);
                    });
                    row.col(|ui| {
                        ui.label(&e.asset).on_hover_text(&e.source);
                    });
                    row.col(|ui| {
                        let change = if e.from == e.to {
                            format!("{} ({})", e.to.label(), e.comment)
                        } else {
                            format!("{} (was {})", e.to.label(), e.from.label())
                        };
                        ui.label(change);
                    });
                    row.col(|ui| {
                        ui.label(if e.user.is_empty() { "system" } else { &e.user });
                    });
                    row.col(|ui| {
                        let text = match (e.comment.is_empty() || e.from == e.to, e.message.is_empty()) {
                            (false, false) => format!("\"{}\" · {}", e.comment, e.message),
                            (false, true) => format!("\"{}\"", e.comment),
                            (true, _) => e.message.clone(),
                        };
                        ui.label(text);
                    });
                });
            });
    }

    fn kpis_ui(&mut self, ui: &mut Ui, env: &AlarmsEnv<'_>) {
        let theme = env.theme;
        ui.horizontal_wrapped(|ui| self.range_ui(ui, env));
        let Some((_, loaded)) = &self.loaded else {
            return;
        };
        let k = &loaded.kpis;
        egui::ScrollArea::vertical().id_salt("alarm_kpis").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                let flood_pct = k.flood_fraction * 100.0;
                figure_ui(ui, theme, "Alarms", &k.activations.to_string(), "", false);
                figure_ui(
                    ui,
                    theme,
                    "Per 10 min (mean)",
                    &format!("{:.1}", k.mean_per_10_min),
                    "target: 1 to 2",
                    k.mean_per_10_min > 2.0,
                );
                figure_ui(
                    ui,
                    theme,
                    "Per 10 min (peak)",
                    &k.max_per_10_min.to_string(),
                    "flood > 10",
                    k.max_per_10_min >= FLOOD_START_PER_10_MIN,
                );
                figure_ui(
                    ui,
                    theme,
                    "Time in flood",
                    &format!("{flood_pct:.1} %"),
                    &format!("{} floods · target < 1 %", k.floods.len()),
                    flood_pct >= 1.0,
                );
                figure_ui(
                    ui,
                    theme,
                    "Chattering",
                    &k.chattering.len().to_string(),
                    "3+ in 1 min",
                    !k.chattering.is_empty(),
                );
                figure_ui(ui, theme, "Stale", &k.stale.len().to_string(), "active > 24 h", !k.stale.is_empty());
            });
            ui.add_space(8.0);
            ui.label(RichText::new("Alarms per 10 minutes").strong());
            rate_chart_ui(ui, theme, &k.per_10_min);
            ui.label(
                RichText::new(format!(
                    "A flood starts above {} alarms in 10 minutes and ends below {}.",
                    FLOOD_START_PER_10_MIN - 1,
                    FLOOD_END_PER_10_MIN
                ))
                .color(theme.text_dim),
            );
            ui.add_space(8.0);
            ui.columns(2, |cols| {
                cols[0].label(RichText::new("Top 10 bad actors").strong());
                if k.bad_actors.is_empty() {
                    cols[0].label(RichText::new("No alarms in this range.").color(theme.text_dim));
                }
                egui::Grid::new("bad_actors").striped(true).show(&mut cols[0], |ui| {
                    for b in &k.bad_actors {
                        ui.horizontal(|ui| {
                            priority_mark_ui(ui, theme, b.priority, true);
                            ui.label(&b.rule);
                        });
                        ui.label(&b.source);
                        ui.label(format!("{} ({:.0} %)", b.activations, b.share * 100.0));
                        ui.end_row();
                    }
                });
                cols[1].label(RichText::new("Priority mix").strong());
                let total = k.activations.max(1);
                for (p, n) in &k.priority_mix {
                    cols[1].horizontal(|ui| {
                        priority_mark_ui(ui, theme, *p, true);
                        #[expect(clippy::cast_precision_loss, reason = "alarm counts are far below 2^53")]
                        let share = *n as f64 / total as f64 * 100.0;
                        ui.label(format!("{}: {n} ({share:.0} %)", p.label()));
                    });
                }
                cols[1].label(RichText::new("Healthy: about 80 % low, 15 % medium, 5 % high.").color(theme.text_dim));
                cols[1].add_space(6.0);
                cols[1].label(RichText::new("Chattering alarms").strong());
                if k.chattering.is_empty() {
                    cols[1].label(RichText::new("None.").color(theme.text_dim));
                }
                for c in &k.chattering {
                    cols[1].label(format!(
                        "{} on {}: {} in a minute, {} in all",
                        c.rule, c.source, c.max_in_window, c.activations
                    ));
                }
                cols[1].add_space(6.0);
                cols[1].label(RichText::new("Stale alarms").strong());
                if k.stale.is_empty() {
                    cols[1].label(RichText::new("None.").color(theme.text_dim));
                }
                for s in &k.stale {
                    cols[1].label(format!(
                        "{} on {}: active since {}",
                        s.rule,
                        s.source,
                        clock(s.active_since_ms, env.timezone)
                    ));
                }
            });
        });
    }
}

/// One KPI: name, figure, target; amber when past the target.
fn figure_ui(ui: &mut Ui, theme: &Theme, name: &str, value: &str, target: &str, bad: bool) {
    egui::Frame::new().fill(theme.tile).stroke(Stroke::new(1.0, theme.tile_border)).inner_margin(8.0).show(ui, |ui| {
        ui.set_min_width(130.0);
        ui.vertical(|ui| {
            ui.label(RichText::new(name).color(theme.text_dim));
            let colour = if bad { theme.attention } else { theme.text_strong };
            ui.label(RichText::new(value).size(24.0).color(colour));
            if !target.is_empty() {
                ui.label(RichText::new(target).small().color(theme.text_dim));
            }
        });
    });
}

/// Bars of alarms per 10 minutes, the flood level marked; bars above it in the alarm colour.
fn rate_chart_ui(ui: &mut Ui, theme: &Theme, buckets: &[usize]) {
    let width = ui.available_width().min(900.0);
    let (rect, response) = ui.allocate_exact_size(vec2(width, 120.0), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, theme.tile);
    if buckets.is_empty() {
        return;
    }
    let top = buckets.iter().copied().max().unwrap_or(0).max(FLOOD_START_PER_10_MIN + 2);
    #[expect(clippy::cast_precision_loss, reason = "bucket counts and indices are small")]
    let (y_of, bar_w) =
        (|n: usize| rect.bottom() - rect.height() * (n as f32 / top as f32), rect.width() / buckets.len() as f32);
    for (i, n) in buckets.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "bucket indices are small")]
        let x = rect.left() + i as f32 * bar_w;
        let colour = if *n >= FLOOD_START_PER_10_MIN { theme.alarm } else { theme.bar_normal };
        let bar = egui::Rect::from_min_max(egui::pos2(x + 0.5, y_of(*n)), egui::pos2(x + bar_w - 0.5, rect.bottom()));
        painter.rect_filled(bar, 0.0, colour);
    }
    let flood_y = y_of(FLOOD_START_PER_10_MIN - 1);
    painter.hline(rect.x_range(), flood_y, Stroke::new(1.0, theme.limit_mark));
    painter.text(
        egui::pos2(rect.right() - 4.0, flood_y - 2.0),
        Align2::RIGHT_BOTTOM,
        "flood",
        FontId::proportional(11.0),
        theme.text_dim,
    );
    if let Some(p) = response.hover_pos() {
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a bar index on screen")]
        let i = ((p.x - rect.left()) / bar_w) as usize;
        if let Some(n) = buckets.get(i) {
            response.on_hover_text(format!("{n} alarms in 10 minutes #{}", i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(index: usize, priority: Priority, state: AlarmState, since: i64, asset: &str) -> AlarmView {
        AlarmView {
            index,
            asset: asset.to_owned(),
            active: state != AlarmState::ReturnedUnacknowledged,
            active_since_ms: Some(since),
            ..AlarmView::new(&format!("Rule {index}"), &format!("{asset}/x"), priority, state)
        }
    }

    #[test]
    fn the_summary_puts_what_needs_the_operator_first_and_filters() {
        let alarms = vec![
            view(0, Priority::Low, AlarmState::Unacknowledged, 10, "PlantA/Line1/Filler"),
            view(1, Priority::Urgent, AlarmState::Acknowledged, 20, "PlantA/Line1/Capper"),
            view(2, Priority::High, AlarmState::Unacknowledged, 5, "Fleet/AGV-01"),
            view(3, Priority::High, AlarmState::Shelved, 30, "Fleet/AGV-02"),
        ];
        let area_of = |asset: &str| if asset.starts_with("Fleet") { "Fleet".to_owned() } else { "Plant".to_owned() };
        let mut panel = AlarmsPanel::default();
        let order: Vec<usize> = panel.rows(&alarms, &area_of).iter().map(|a| a.index).collect();
        assert_eq!(order, [2, 0, 1, 3], "unacknowledged first, then by priority");
        panel.area = Some("Fleet".into());
        panel.state = StateFilter::ToAcknowledge;
        assert_eq!(panel.rows(&alarms, &area_of).iter().map(|a| a.index).collect::<Vec<_>>(), [2]);
        panel.area = None;
        panel.state = StateFilter::All;
        panel.sort = AlarmSort::Time;
        assert_eq!(panel.rows(&alarms, &area_of).iter().map(|a| a.index).collect::<Vec<_>>(), [3, 1, 0, 2]);
        panel.descending = true;
        assert_eq!(panel.rows(&alarms, &area_of).iter().map(|a| a.index).collect::<Vec<_>>(), [2, 0, 1, 3]);
        panel.priority = Some(Priority::High);
        panel.descending = false;
        assert_eq!(panel.rows(&alarms, &area_of).iter().map(|a| a.index).collect::<Vec<_>>(), [3, 2]);
    }

    /// In review the banner shows the alarms as they stood, without Acknowledge or Shelve.
    #[test]
    fn the_banner_offers_no_actions_in_review() {
        use egui_kittest::kittest::Queryable as _;
        let alarms = vec![view(0, Priority::High, AlarmState::Unacknowledged, 10, "PlantA/Line1/Filler")];
        for reviewing in [false, true] {
            let theme = Theme::for_choice(crate::ui::theme::ThemeChoice::Dark);
            let alarms = alarms.clone();
            let harness = egui_kittest::Harness::new_ui(move |ui| {
                let _ = crate::ui::panels::alarms::alarms_banner_ui(ui, &theme, &alarms, 20, "anna", reviewing);
            });
            harness.get_by_label("Rule 0");
            assert_eq!(harness.query_by_label("Acknowledge").is_some(), !reviewing, "reviewing: {reviewing}");
            assert_eq!(harness.query_by_label("Shelve 1 h").is_some(), !reviewing, "reviewing: {reviewing}");
        }
    }
}
