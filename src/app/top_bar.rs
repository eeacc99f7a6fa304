//! The bars above the views: the top bar (views, theme, operator, horn, layouts, review), the site strip of a
//! console, the history writer's problem, the list of problems, and the alarm banner's frame.

use super::*;

/// A framed banner outlined in the alarm colour, across the top of the window.
pub(super) fn alarm_banner_ui(ui: &mut Ui, theme: &Theme, add_contents: impl FnOnce(&mut Ui)) {
    egui::Frame::new()
        .fill(theme.tile)
        .stroke(egui::Stroke::new(2.0, theme.alarm))
        .inner_margin(8.0)
        .show(ui, add_contents);
}

impl WatchfloorApp {
    /// A strip under the top bar while the site database is away, actions wait, or one was just refused.
    pub(super) fn site_strip_ui(&self, ui: &mut Ui, status: &crate::store::site::ConsoleStatus) {
        use crate::ui::theme::Severity;
        let refused = status.recent_refusal(crate::clock::wall_now_ms());
        ui.horizontal_wrapped(|ui| {
            if status.connected && status.leader.is_none() {
                crate::ui::widgets::status_badge_ui(ui, &self.theme, Severity::Attention, "No recorder leads the site");
                ui.label("Nothing judges the site's alarms: this console shows and acts on its own.");
            } else if status.connected {
                crate::ui::widgets::status_badge_ui(ui, &self.theme, Severity::Normal, "Site database");
            } else {
                let (severity, badge) = if status.error {
                    (Severity::Alarm, "Site database refused")
                } else {
                    (Severity::Attention, "Site database unreachable")
                };
                crate::ui::widgets::status_badge_ui(ui, &self.theme, severity, badge);
                let since = status
                    .lost_since_ms
                    .map(|t| format!("lost {}", crate::ui::fmt_ago(crate::clock::wall_now_ms(), t)))
                    .unwrap_or_default();
                let what = if status.loaded {
                    "Showing the alarms as last read; actions are queued."
                } else {
                    "Showing this console's own alarms; actions are queued."
                };
                ui.label(RichText::new(since).strong());
                ui.label(what);
                ui.label(
                    RichText::new(status.message.as_deref().unwrap_or("not connected")).color(self.theme.text_dim),
                );
            }
            if !status.pending.is_empty() {
                ui.label(
                    RichText::new(format!(
                        "{} action(s) pending, applied when the site database is back",
                        status.pending.len()
                    ))
                    .strong()
                    .color(self.theme.attention),
                );
            }
            if let Some(text) = refused {
                ui.label(RichText::new(text).color(self.theme.alarm));
            }
        });
    }
    /// A banner when the history cache is not storing: why, and what the user can do.
    pub(super) fn history_problem_ui(&self, ui: &mut Ui, store: &StoreLink, status: &StoreStatus) {
        alarm_banner_ui(ui, &self.theme, |ui| {
            ui.horizontal_wrapped(|ui| {
                crate::ui::widgets::status_badge_ui(
                    ui,
                    &self.theme,
                    crate::ui::theme::Severity::Alarm,
                    "History not stored",
                );
                ui.label(status.message.as_deref().unwrap_or("The history cache cannot be written."));
                ui.label(format!("Live values go on; {} samples not stored.", status.lost_samples));
                if status.state == StoreState::Refused
                    && ui
                        .button("Start a new cache")
                        .on_hover_text("The old file is kept next to the new one, renamed with a time stamp")
                        .clicked()
                    && !store.send(StoreCommand::StartNewCache)
                {
                    tracing::warn!("history writer busy; try again");
                }
            });
        });
    }
    /// The top bar; `waiting`: the alarms that wait for an acknowledgement (counted on the Alarms tab).
    pub(super) fn top_bar_ui(
        &mut self,
        ui: &mut Ui,
        (horn, waiting): (&Annunciation, usize),
        out: &mut windows::ViewOut,
    ) {
        let kiosk = self.windows.kiosk();
        ui.horizontal(|ui| {
            ui.label(RichText::new("Watchfloor").strong().size(17.0).color(self.theme.text_strong));
            ui.separator();
            for view in View::ALL {
                let mut label = match view {
                    View::Alarms if waiting > 0 => format!("Alarms ({waiting})"),
                    _ => view.label().to_owned(),
                };
                if let Some(window) = self.windows.popped.iter().find(|p| p.view == view) {
                    // A view in its own window: its tab brings that window to the front.
                    label.push_str(" (window)");
                    if ui
                        .button(label)
                        .on_hover_text("Shown in its own window: click to bring it to the front")
                        .clicked()
                    {
                        ui.ctx().send_viewport_cmd_to(window.id, egui::ViewportCommand::Focus);
                    }
                    continue;
                }
                let tip = match view {
                    View::Alarms => "Ctrl+Tab: next view · F8: the Alarms view",
                    _ => "Ctrl+Tab: next view · Ctrl+Shift+Tab: previous view",
                };
                ui.selectable_value(&mut self.settings.view, view, label).on_hover_text(tip);
            }
            if !kiosk
                && !self.windows.is_popped(self.settings.view)
                && ui
                    .button("Pop out")
                    .on_hover_text("Show this view in its own window, to put on another monitor")
                    .clicked()
            {
                self.windows.pop_out_beside(ui.ctx(), self.settings.view);
            }
            ui.separator();
            if self.review.is_none()
                && self.history.is_some()
                && ui.button("Review").on_hover_text("Go back through this shift on a timeline").clicked()
            {
                let now = self.clock.now_ms();
                let shift = crate::analytics::Period::at(&self.live.settings.calendar, now);
                let title = format!("Shift {}", shift.name);
                self.start_review((shift.start_ms, now), (now - 15 * 60_000).max(shift.start_ms), title);
            }
            ui.separator();
            windows::horn_ui(ui, &self.theme, (horn, self.annunciator.now_ms()), out);
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let next = self.settings.theme.toggled();
                if ui
                    .button(format!("{} theme", next.label()))
                    .on_hover_text("Switch between the dark and the light variant")
                    .clicked()
                {
                    self.settings.theme = next;
                    self.theme = Theme::for_choice(next);
                    self.theme.apply(ui.ctx());
                }
                if !kiosk {
                    self.layout_menu_ui(ui);
                }
                // Right to left: the field, then its label to its left.
                let field = ui
                    .add(egui::TextEdit::singleline(&mut self.operator).id_salt("operator").desired_width(110.0))
                    .on_hover_text("Your name: every alarm action is journaled with it");
                field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Operator"));
                if field.lost_focus() && self.operator.trim().is_empty() {
                    self.operator = os_user();
                }
                ui.label("Operator");
            });
        });
    }
    /// *Layout*: save the windows as they are under a name, put a saved layout back, delete one.
    pub(super) fn layout_menu_ui(&mut self, ui: &mut Ui) {
        let current = self.windows.saved.layout.clone();
        let title = current.as_deref().map_or_else(|| "Layout".to_owned(), |n| format!("Layout: {n}"));
        // The menu stays open while the name is typed (a click in it closes it only on a button).
        let config =
            egui::containers::menu::MenuConfig::new().close_behavior(egui::PopupCloseBehavior::CloseOnClickOutside);
        egui::containers::menu::MenuButton::new(title).config(config).ui(ui, |ui| {
            let mut result = Ok(());
            ui.horizontal(|ui| {
                let field = ui.add(
                    egui::TextEdit::singleline(&mut self.windows.layout_name)
                        .id_salt("layout_name")
                        .hint_text("name")
                        .desired_width(120.0),
                );
                field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Layout name"));
                if ui
                    .button("Save layout")
                    .on_hover_text("Keep which view is in which window, where, how big and on which monitor")
                    .clicked()
                {
                    let name = std::mem::take(&mut self.windows.layout_name);
                    result = self.windows.save_layout(ui.ctx(), &name, self.settings.view);
                    ui.close();
                }
            });
            let names: Vec<String> = self.windows.saved.layouts.keys().cloned().collect();
            if !names.is_empty() {
                ui.separator();
            }
            for name in names {
                ui.horizontal(|ui| {
                    let mark = if current.as_deref() == Some(name.as_str()) { "● " } else { "" };
                    if ui.button(format!("{mark}{name}")).on_hover_text("Put these windows back").clicked() {
                        result = self.windows.apply_layout(&name);
                        ui.close();
                    }
                    if ui.small_button("Delete").on_hover_text(format!("Forget the layout {name:?}")).clicked() {
                        result = self.windows.delete_layout(&name);
                    }
                });
            }
            if let Err(err) = result {
                self.problems.push(err);
            }
        });
    }
    pub(super) fn problems_ui(&mut self, ui: &mut Ui) {
        let mut dismissed = false;
        alarm_banner_ui(ui, &self.theme, |ui| {
            ui.horizontal(|ui| {
                crate::ui::widgets::status_badge_ui(
                    ui,
                    &self.theme,
                    crate::ui::theme::Severity::Alarm,
                    "Problems at start",
                );
                if ui.button("Dismiss").clicked() {
                    dismissed = true;
                }
            });
            for p in &self.problems {
                ui.label(RichText::new(p).monospace());
            }
        });
        if dismissed {
            self.problems.clear();
        }
    }
}
