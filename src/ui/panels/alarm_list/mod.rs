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
use crate::store::{AlarmView, HistorySource, Pending};
use crate::ui::panels::alarms::{priority_colour, priority_mark_ui};
use crate::ui::theme::Theme;
use crate::ui::{UiCommand, ViewCtx};
mod history;
pub use history::*;

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

/// Shelving times offered (ISA-18.2: shelving is always for a limited time).
const SHELVE_FOR: [(i64, &str); 4] =
    [(15 * 60_000, "15 min"), (3_600_000, "1 h"), (4 * 3_600_000, "4 h"), (8 * 3_600_000, "8 h")];

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
    pub fn ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>) -> Vec<UiCommand> {
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

    fn summary_ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>) -> Vec<UiCommand> {
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
    fn actions_ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>) -> Vec<UiCommand> {
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
                commands.push(UiCommand::Alarm(OperatorAction::Acknowledge {
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
                commands.push(UiCommand::Alarm(OperatorAction::Shelve {
                    indices: shelvable.clone(),
                    for_ms: self.shelve_for_ms,
                    user: user.clone(),
                    reason: self.shelve_reason.trim().to_owned(),
                }));
                self.shelve_reason.clear();
            }
            if ui.add_enabled(!shelved.is_empty(), egui::Button::new(format!("Unshelve {}", shelved.len()))).clicked() {
                commands
                    .push(UiCommand::Alarm(OperatorAction::Unshelve { indices: shelved.clone(), user: user.clone() }));
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
                commands.push(UiCommand::Alarm(OperatorAction::OutOfService {
                    indices: in_service,
                    out: true,
                    user: user.clone(),
                    comment: self.comment.trim().to_owned(),
                }));
                self.comment.clear();
            }
            let return_label = format!("Return to service {}", out_of_service.len());
            if ui.add_enabled(!out_of_service.is_empty(), egui::Button::new(return_label)).clicked() {
                commands.push(UiCommand::Alarm(OperatorAction::OutOfService {
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
}

#[cfg(test)]
mod tests;
