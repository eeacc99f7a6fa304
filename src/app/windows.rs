//! The operator's workstation in the window: views popped out into their own native windows (egui viewports),
//! named layouts put back at start, kiosk mode, the horn's controls and the keyboard.
//!
//! Every window draws the alarm banner from the same state in the same frame, so an acknowledgement made in one
//! shows in all at once.

use std::path::PathBuf;

use egui::{Key, KeyboardShortcut, Modifiers, RichText, Ui, ViewportBuilder, ViewportCommand, ViewportId};

use super::View;
use crate::analytics::annunciation::Annunciation;
use crate::store::AlarmView;
use crate::ui::theme::{Severity, Theme};
use crate::ui::{UiCommand, ViewCtx};
use crate::workstation::layout::{self, Layout, Monitor, Place, Workstation};

/// *Silence*: F9.
pub const KEY_SILENCE: Key = Key::F9;
/// Acknowledge the selected alarms, or the oldest waiting one: F10.
pub const KEY_ACKNOWLEDGE: Key = Key::F10;
/// The Alarms view: F8.
pub const KEY_ALARMS: Key = Key::F8;
/// Fullscreen on or off (not in kiosk mode): F11.
pub const KEY_FULLSCREEN: Key = Key::F11;
/// The next view: Ctrl+Tab (Ctrl+Shift+Tab the previous one).
pub const NEXT_VIEW: KeyboardShortcut = KeyboardShortcut::new(Modifiers::CTRL, Key::Tab);
pub const PREVIOUS_VIEW: KeyboardShortcut = KeyboardShortcut::new(Modifiers::CTRL.plus(Modifiers::SHIFT), Key::Tab);
/// Asks to leave kiosk mode: Ctrl+Shift+Q.
pub const LEAVE_KIOSK: KeyboardShortcut = KeyboardShortcut::new(Modifiers::CTRL.plus(Modifiers::SHIFT), Key::Q);

/// The keys pressed this frame, in any window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shortcuts {
    pub silence: bool,
    pub acknowledge: bool,
    pub alarms: bool,
    pub next_view: bool,
    pub previous_view: bool,
    pub fullscreen: bool,
    pub leave_kiosk: bool,
}

impl Shortcuts {
    /// Takes this window's shortcut keys; none while a text field has the keyboard.
    pub fn read(ctx: &egui::Context) -> Self {
        if ctx.egui_wants_keyboard_input() {
            return Self::default();
        }
        ctx.input_mut(|i| Self {
            silence: i.consume_key(Modifiers::NONE, KEY_SILENCE),
            acknowledge: i.consume_key(Modifiers::NONE, KEY_ACKNOWLEDGE),
            alarms: i.consume_key(Modifiers::NONE, KEY_ALARMS),
            previous_view: i.consume_shortcut(&PREVIOUS_VIEW),
            next_view: i.consume_shortcut(&NEXT_VIEW),
            fullscreen: i.consume_key(Modifiers::NONE, KEY_FULLSCREEN),
            leave_kiosk: i.consume_shortcut(&LEAVE_KIOSK),
        })
    }

    fn merge(&mut self, other: Self) {
        self.silence |= other.silence;
        self.acknowledge |= other.acknowledge;
        self.alarms |= other.alarms;
        self.next_view |= other.next_view;
        self.previous_view |= other.previous_view;
        self.fullscreen |= other.fullscreen;
        self.leave_kiosk |= other.leave_kiosk;
    }
}

/// A view shown in its own window.
#[derive(Clone, Debug)]
pub struct PopOut {
    pub id: ViewportId,
    pub view: View,
    /// Where it opens (from a layout, or next to the main window).
    pub place: Option<Place>,
}

/// Kiosk mode: the layout it shows, and the leave dialog's text while it is open.
#[derive(Clone, Debug)]
pub struct Kiosk {
    pub layout: String,
    pub leaving: Option<String>,
}

/// The windows of this workstation and what it keeps.
pub struct Windows {
    file: Option<PathBuf>,
    pub saved: Workstation,
    pub popped: Vec<PopOut>,
    next_id: u64,
    pub kiosk: Option<Kiosk>,
    /// A layout to put in place at the next frame.
    pending: Option<Layout>,
    /// The name typed in *Save layout as*.
    pub layout_name: String,
    /// The root window's fullscreen as last asked (F11).
    fullscreen: bool,
}

impl Windows {
    /// Reads the workstation file (`None`: nothing kept, as in tests) and picks the layout to start with: the
    /// kiosk's, else the one last saved or applied. Problems are returned for the window's problem list.
    pub fn new(file: Option<PathBuf>, kiosk: Option<String>) -> (Self, Vec<String>) {
        let mut problems = Vec::new();
        let saved = match &file {
            Some(path) => {
                let (saved, problem) = Workstation::load(path);
                problems.extend(problem);
                saved
            }
            None => Workstation::default(),
        };
        let start = kiosk.clone().or_else(|| saved.layout.clone());
        let pending = start.as_ref().and_then(|name| {
            let found = saved.layouts.get(name).cloned();
            if found.is_none() {
                problems.push(format!("there is no layout named {name:?}; the window opens as it was"));
            }
            found
        });
        let kiosk = kiosk.map(|layout| Kiosk { layout, leaving: None });
        let windows = Self {
            file,
            saved,
            popped: Vec::new(),
            next_id: 0,
            kiosk,
            pending,
            layout_name: String::new(),
            fullscreen: false,
        };
        (windows, problems)
    }

    pub fn kiosk(&self) -> bool {
        self.kiosk.is_some()
    }

    pub fn is_popped(&self, view: View) -> bool {
        self.popped.iter().any(|p| p.view == view)
    }

    /// Shows `view` in its own window (once: a view already out is left where it is).
    pub fn pop_out(&mut self, view: View, place: Option<Place>) {
        if self.is_popped(view) {
            return;
        }
        self.next_id += 1;
        let id = ViewportId::from_hash_of(("watchfloor-window", view.label(), self.next_id));
        self.popped.push(PopOut { id, view, place });
    }

    /// Pops `view` out onto a monitor no window is on yet (where an operator wants it: on another screen), else
    /// a little below and right of the main window.
    pub fn pop_out_beside(&mut self, ctx: &egui::Context, view: View) {
        let monitors = self.saved.monitors(ctx.pixels_per_point());
        let rect_of = |id: ViewportId| ctx.input(|i| i.raw.viewports.get(&id).and_then(|v| v.outer_rect));
        let taken: Vec<egui::Pos2> = std::iter::once(ViewportId::ROOT)
            .chain(self.popped.iter().map(|p| p.id))
            .filter_map(|id| rect_of(id).map(|r| r.center()))
            .collect();
        let free = monitors.iter().find(|m| !taken.iter().any(|c| m.contains(c.x, c.y)));
        let place = match (free, rect_of(ViewportId::ROOT)) {
            (Some(m), _) => Some(Place {
                view,
                x: m.x + 40.0,
                y: m.y + 40.0,
                width: (m.width - 80.0).clamp(480.0, 1600.0),
                height: (m.height - 80.0).clamp(320.0, 1000.0),
                monitor: Some(layout::MonitorRef { name: m.name.clone(), x: m.x, y: m.y }),
                fullscreen: false,
            }),
            (None, Some(main)) => {
                let step = 40.0 * (self.popped.len() + 1) as f32;
                Some(Place {
                    view,
                    x: main.min.x + step,
                    y: main.min.y + step,
                    width: 1024.0,
                    height: 720.0,
                    monitor: None,
                    fullscreen: false,
                })
            }
            (None, None) => None,
        };
        self.pop_out(view, place);
    }

    /// Puts a popped-out view back into the main window.
    pub fn bring_back(&mut self, view: View) {
        self.popped.retain(|p| p.view != view);
    }

    /// Writes the workstation file; a failure is logged and returned.
    fn persist(&self) -> Result<(), String> {
        let Some(path) = &self.file else { return Ok(()) };
        self.saved.save(path).inspect_err(|err| tracing::warn!("workstation settings not saved: {err}"))
    }

    /// Keeps the horn's mute for the next start.
    pub fn set_muted(&mut self, muted: bool) -> Result<(), String> {
        self.saved.muted = muted;
        self.persist()
    }

    /// Saves the windows as they are now under `name`, the layout put back at the next start.
    pub fn save_layout(&mut self, ctx: &egui::Context, name: &str, main_view: View) -> Result<(), String> {
        let name = name.trim();
        if name.is_empty() {
            return Err("a layout needs a name".to_owned());
        }
        let monitors = self.saved.monitors(ctx.pixels_per_point());
        let info = |id: ViewportId| ctx.input(|i| i.raw.viewports.get(&id).cloned()).unwrap_or_default();
        let main = place_of(&info(ViewportId::ROOT), main_view, &monitors);
        let windows = self.popped.iter().map(|p| place_of(&info(p.id), p.view, &monitors)).collect();
        self.saved.layouts.insert(name.to_owned(), Layout { main, windows });
        self.saved.layout = Some(name.to_owned());
        tracing::info!(layout = name, windows = self.popped.len() + 1, "layout saved");
        self.persist()
    }

    /// Puts a saved layout in place (at the next frame).
    pub fn apply_layout(&mut self, name: &str) -> Result<(), String> {
        let layout = self.saved.layouts.get(name).cloned().ok_or_else(|| format!("no layout named {name:?}"))?;
        self.pending = Some(layout);
        self.saved.layout = Some(name.to_owned());
        self.persist()
    }

    pub fn delete_layout(&mut self, name: &str) -> Result<(), String> {
        self.saved.layouts.remove(name);
        if self.saved.layout.as_deref() == Some(name) {
            self.saved.layout = None;
        }
        self.persist()
    }

    /// Puts the pending layout in place: the main window moved and sized (and its view shown), each other
    /// window opened where it was, on a monitor that exists. In kiosk mode every window is fullscreen.
    pub fn apply_pending(&mut self, ctx: &egui::Context, main_view: &mut View) {
        let Some(layout) = self.pending.take() else { return };
        let monitors = self.saved.monitors(ctx.pixels_per_point());
        let kiosk = self.kiosk();
        let fit = |place: &Place| {
            let place = layout::restore(place, &monitors);
            if kiosk { layout::fill_monitor(&place, &monitors) } else { place }
        };
        let main = fit(&layout.main);
        *main_view = main.view;
        place_root(ctx, &main, kiosk);
        self.popped.clear();
        for w in &layout.windows {
            let place = fit(w);
            self.pop_out(place.view, Some(place));
        }
        tracing::info!(windows = layout.windows.len() + 1, monitors = monitors.len(), "layout put in place");
    }

    /// Kiosk mode with no layout to put in place: the main window fullscreen with no decorations.
    pub fn enter_kiosk(&self, ctx: &egui::Context) {
        if self.kiosk() && self.pending.is_none() {
            ctx.send_viewport_cmd(ViewportCommand::Decorations(false));
            ctx.send_viewport_cmd(ViewportCommand::Fullscreen(true));
        }
    }

    /// F11 on the main window.
    pub fn toggle_fullscreen(&mut self, ctx: &egui::Context) {
        if self.kiosk() {
            return;
        }
        self.fullscreen = !ctx.input(|i| i.viewport().fullscreen.unwrap_or(self.fullscreen));
        ctx.send_viewport_cmd_to(ViewportId::ROOT, ViewportCommand::Fullscreen(self.fullscreen));
    }
}

/// A window's place as the windowing system reports it.
fn place_of(info: &egui::ViewportInfo, view: View, monitors: &[Monitor]) -> Place {
    let rect = info
        .outer_rect
        .or(info.inner_rect)
        .unwrap_or(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 800.0)));
    let inner = info.inner_rect.map_or(rect.size(), |r| r.size());
    Place {
        view,
        x: rect.min.x,
        y: rect.min.y,
        width: inner.x,
        height: inner.y,
        monitor: layout::monitor_of(rect.min.x, rect.min.y, rect.width(), rect.height(), monitors),
        fullscreen: info.fullscreen.unwrap_or(false),
    }
}

fn place_root(ctx: &egui::Context, place: &Place, kiosk: bool) {
    let root = ViewportId::ROOT;
    ctx.send_viewport_cmd_to(root, ViewportCommand::Fullscreen(false));
    ctx.send_viewport_cmd_to(root, ViewportCommand::OuterPosition(egui::pos2(place.x, place.y)));
    ctx.send_viewport_cmd_to(root, ViewportCommand::InnerSize(egui::vec2(place.width, place.height)));
    if kiosk {
        ctx.send_viewport_cmd_to(root, ViewportCommand::Decorations(false));
    }
    if place.fullscreen {
        ctx.send_viewport_cmd_to(root, ViewportCommand::Fullscreen(true));
    }
}

/// The per-view state the views draw with.
pub struct Views<'a> {
    pub plant: &'a mut crate::ui::panels::oee::PlantPanel,
    pub map: &'a mut crate::ui::panels::map::MapPanel,
    pub fleet_table: &'a mut crate::ui::panels::fleet::FleetTable,
    pub alarms: &'a mut crate::ui::panels::alarm_list::AlarmsPanel,
    pub trend: &'a mut crate::ui::panels::trend::TrendPanel,
    pub connections: &'a mut crate::ui::panels::connections::ConnectionsPanel,
    pub logbook: &'a mut crate::ui::panels::logbook::LogbookPanel,
}

/// What the views and windows asked for this frame: the views' commands, and the shortcut keys pressed.
#[derive(Default)]
pub struct ViewOut {
    pub commands: Vec<UiCommand>,
    pub keys: Shortcuts,
}

/// Draws one view into `ui` (its side panels and central panel).
pub fn view_ui(ui: &mut Ui, view: View, views: &mut Views<'_>, env: &ViewCtx<'_>, out: &mut ViewOut) {
    match view {
        View::Overview => {
            let table = &mut *views.fleet_table;
            egui::Panel::right("fleet_side").resizable(true).default_size(640.0).show(ui, |ui| {
                ui.heading("Vehicles");
                out.commands.extend(table.ui(ui, env, None));
            });
            egui::CentralPanel::default().show(ui, |ui| {
                egui::ScrollArea::vertical().id_salt("plant").show(ui, |ui| {
                    out.commands.extend(crate::ui::panels::plant::plant_overview_ui(ui, env));
                });
            });
        }
        View::Plant => {
            let panel = &mut *views.plant;
            if panel.selected.is_some() {
                egui::Panel::right("machine_detail").resizable(true).default_size(560.0).show(ui, |ui| {
                    egui::ScrollArea::vertical().id_salt("machine_detail").show(ui, |ui| {
                        panel.detail_ui(ui, env);
                    });
                });
            }
            egui::CentralPanel::default().show(ui, |ui| {
                egui::ScrollArea::vertical().id_salt("plant_oee").show(ui, |ui| {
                    panel.overview_ui(ui, env);
                });
            });
        }
        View::Fleet => {
            let (map, table) = (&mut *views.map, &mut *views.fleet_table);
            map.alarmed = env.alarms.iter().filter(|a| a.state.annunciated()).map(|a| a.asset.clone()).collect();
            egui::Panel::right("fleet_table").resizable(true).default_size(640.0).show(ui, |ui| {
                out.commands.extend(table.ui(ui, env, Some(&mut map.selected)));
            });
            egui::CentralPanel::default().show(ui, |ui| map.ui(ui, env));
        }
        View::Alarms => {
            let panel = &mut *views.alarms;
            out.commands.extend(egui::CentralPanel::default().show(ui, |ui| panel.ui(ui, env)).inner);
        }
        View::Trends => {
            let trend = &mut *views.trend;
            out.commands.extend(egui::CentralPanel::default().show(ui, |ui| trend.ui(ui, env)).inner);
        }
        View::Connections => {
            let panel = &mut *views.connections;
            out.commands.extend(egui::CentralPanel::default().show(ui, |ui| panel.ui(ui, env)).inner);
        }
        View::Logbook => {
            let panel = &mut *views.logbook;
            out.commands.extend(egui::CentralPanel::default().show(ui, |ui| panel.ui(ui, env)).inner);
        }
    }
}

/// The horn's state and controls: what sounds, *Silence* (F9), and the workstation's mute.
pub fn horn_ui(ui: &mut Ui, theme: &Theme, (horn, now_ms): (&Annunciation, i64), out: &mut ViewOut) {
    if horn.muted {
        crate::ui::widgets::status_badge_ui(ui, theme, Severity::Attention, "Horn muted")
            .on_hover_text("This workstation makes no alarm sound until it is unmuted");
        if ui.button("Unmute").on_hover_text("Alarm sounds on again at this workstation").clicked() {
            out.commands.push(UiCommand::Mute(false));
        }
        return;
    }
    if let Some(until) = horn.silenced_until_ms {
        let left = ((until - now_ms).max(0) + 999) / 1000;
        ui.label(RichText::new(format!("Horn silenced {}:{:02}", left / 60, left % 60)).color(theme.attention))
            .on_hover_text("A new alarm as urgent as the silenced ones sounds at once; the rest when the time is up");
    } else if let Some(p) = horn.sounding {
        ui.label(RichText::new(format!("Horn: {}", p.label().to_lowercase())).strong().color(theme.alarm));
    }
    let silence = ui
        .add_enabled(horn.sounding.is_some(), egui::Button::new("Silence"))
        .on_hover_text("Stop the horn without acknowledging (F9)")
        .on_disabled_hover_text("Nothing sounds (F9 silences the horn)");
    if silence.clicked() {
        out.commands.push(UiCommand::Silence);
    }
    if ui
        .button("Mute")
        .on_hover_text("No alarm sound at this workstation until unmuted (kept across restarts)")
        .clicked()
    {
        out.commands.push(UiCommand::Mute(true));
    }
}

/// Draws every popped-out view in its own native window: a header with the horn and *Back to main window*, the
/// alarm banner, then the view. Closing such a window puts its view back (in kiosk mode it cannot be closed).
pub fn pop_outs_ui(
    ctx: &egui::Context,
    popped: &[PopOut],
    views: &mut Views<'_>,
    env: &ViewCtx<'_>,
    out: &mut ViewOut,
) {
    for p in popped {
        let mut builder = ViewportBuilder::default()
            .with_title(format!("Watchfloor — {}", p.view.label()))
            .with_app_id("watchfloor")
            .with_min_inner_size([480.0, 320.0]);
        builder = match &p.place {
            Some(place) => builder
                .with_position([place.x, place.y])
                .with_inner_size([place.width, place.height])
                .with_fullscreen(place.fullscreen),
            None => builder.with_inner_size([1024.0, 720.0]),
        };
        if env.kiosk {
            builder = builder.with_decorations(false);
        }
        ctx.show_viewport_immediate(p.id, builder, |ui, _class| {
            let ctx = ui.ctx().clone();
            if ctx.input(|i| i.viewport().close_requested()) {
                if env.kiosk && !super::stop_requested() {
                    ctx.send_viewport_cmd(ViewportCommand::CancelClose);
                } else {
                    out.commands.push(UiCommand::BringBack(p.view));
                }
            }
            let keys = Shortcuts::read(&ctx);
            out.keys.merge(keys);
            if keys.fullscreen && !env.kiosk {
                let on = ctx.input(|i| i.viewport().fullscreen.unwrap_or(false));
                ctx.send_viewport_cmd(ViewportCommand::Fullscreen(!on));
            }
            egui::Panel::top(("window_header", p.id)).show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.label(RichText::new(p.view.label()).strong().size(16.0).color(env.theme.text_strong));
                    ui.separator();
                    horn_ui(ui, env.theme, (env.horn, env.horn_now_ms), out);
                    if !env.kiosk {
                        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                            if ui
                                .button("Back to main window")
                                .on_hover_text("Show this view as a tab of the main window again")
                                .clicked()
                            {
                                out.commands.push(UiCommand::BringBack(p.view));
                            }
                        });
                    }
                });
            });
            banner_ui(ui, ("window_alarms", p.id), env, out);
            view_ui(ui, p.view, views, env, out);
        });
    }
}

/// The alarm banner across the top of a window, when anything is annunciated.
pub fn banner_ui(ui: &mut Ui, id: impl std::hash::Hash + std::fmt::Debug, env: &ViewCtx<'_>, out: &mut ViewOut) {
    if env.alarms.iter().any(|a| a.state.annunciated()) {
        let actions = egui::Panel::top(id)
            .show(ui, |ui| {
                crate::ui::panels::alarms::alarms_banner_ui(
                    ui,
                    env.theme,
                    env.alarms,
                    env.now_ms,
                    env.operator,
                    env.reviewing,
                )
            })
            .inner;
        out.commands.extend(actions);
    }
}

/// The kiosk's leave dialog (Ctrl+Shift+Q): typing the layout's name and *Leave* closes Watchfloor.
/// Returns whether to close.
pub fn leave_kiosk_ui(ctx: &egui::Context, kiosk: &mut Kiosk, operator: &str) -> bool {
    let Some(typed) = &mut kiosk.leaving else { return false };
    let mut leave = false;
    let mut cancel = false;
    egui::Modal::new(egui::Id::unique("leave_kiosk")).show(ctx, |ui| {
        ui.heading("Leave kiosk mode");
        ui.label(format!("Type the layout's name, {:?}, to close Watchfloor on this workstation.", kiosk.layout));
        let field = ui.add(egui::TextEdit::singleline(typed).id_salt("leave_kiosk_name"));
        field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Layout name"));
        field.request_focus();
        let matches = typed.trim() == kiosk.layout;
        let enter = ui.input(|i| i.key_pressed(Key::Enter));
        ui.horizontal(|ui| {
            if ui.add_enabled(matches, egui::Button::new("Leave")).clicked() || (enter && matches) {
                leave = true;
            }
            if ui.button("Stay").clicked() || ui.input(|i| i.key_pressed(Key::Escape)) {
                cancel = true;
            }
        });
    });
    if leave {
        tracing::warn!(operator, layout = %kiosk.layout, "kiosk mode left: Watchfloor closes");
    }
    if cancel || leave {
        kiosk.leaving = None;
    }
    leave
}

/// The oldest alarm that waits for an acknowledgement (F10 with nothing selected).
pub fn oldest_waiting(alarms: &[AlarmView]) -> Option<&AlarmView> {
    alarms.iter().filter(|a| a.state.wants_ack()).min_by_key(|a| (a.active_since_ms.unwrap_or(i64::MAX), a.priority))
}
