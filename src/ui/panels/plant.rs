//! The plant overview: one tile per machine, grouped by line in process order. ISA-101: grey while running;
//! colour, shape and text only for abnormal states.

use std::sync::Arc;

use egui::{Align, Layout, RichText, Sense, Stroke, StrokeKind, Ui, Vec2, pos2};

use crate::feeds::Command;
use crate::live::MachineLive;
use crate::model::Fault;
use crate::model::MachineState;
use crate::ui::theme::{Severity, Theme};
use crate::ui::widgets::status_badge_ui;
use crate::ui::{UiCommand, ViewCtx, fmt_count, fmt_duration_secs};

pub const TILE_WIDTH: f32 = 190.0;

pub fn machine_severity(m: &MachineLive) -> Severity {
    if m.stale {
        return Severity::Stale;
    }
    match m.state {
        Some(MachineState::Running) | None => Severity::Normal,
        Some(MachineState::Idle | MachineState::Setup | MachineState::PlannedStop) => Severity::Info,
        Some(MachineState::Starved | MachineState::Blocked) => Severity::Attention,
        Some(MachineState::Down) => Severity::Alarm,
    }
}

/// Draws every line; returns commands from the tiles' context menus.
pub fn plant_overview_ui(ui: &mut Ui, env: &ViewCtx<'_>) -> Vec<UiCommand> {
    let (theme, live, now_ms, sim_gateways) = (env.theme, env.live, env.now_ms, env.sims);
    let mut commands = Vec::new();
    let lines = live.machines_by_line();
    if lines.is_empty() {
        ui.label(RichText::new("No machines yet: waiting for a gateway to announce them.").color(theme.text_dim));
        return commands;
    }
    for (path, machines) in lines {
        ui.horizontal(|ui| {
            ui.label(RichText::new(&path.line).heading().color(theme.text_strong));
            let down = machines.iter().filter(|m| m.state == Some(MachineState::Down)).count();
            let running = machines.iter().filter(|m| m.state == Some(MachineState::Running)).count();
            ui.label(RichText::new(format!("{running}/{} running", machines.len())).color(theme.text_dim));
            if down > 0 {
                status_badge_ui(ui, theme, Severity::Alarm, &format!("{down} down"));
            }
        });
        // Tiles are laid out in rows that fit the width (a frame's size is not known before it is drawn, so
        // egui's own wrapping cannot place them).
        let tile_outer = TILE_WIDTH + 2.0 * 8.0 + 2.0 * 2.5 + ui.spacing().item_spacing.x;
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a small positive count")]
        let per_row = ((ui.available_width() / tile_outer).floor() as usize).max(1);
        for row in machines.chunks(per_row) {
            ui.horizontal(|ui| {
                for m in row {
                    if let Some(cmd) = machine_tile_ui(ui, theme, m, now_ms, sim_gateways.contains(&m.gateway)) {
                        commands.push(UiCommand::Feed(cmd));
                    }
                }
            });
        }
        ui.add_space(8.0);
    }
    commands
}

fn machine_tile_ui(ui: &mut Ui, theme: &Theme, m: &MachineLive, now_ms: i64, simulated: bool) -> Option<Command> {
    let severity = machine_severity(m);
    let state = m.state.map_or("Unknown", MachineState::label);
    let border = match severity {
        Severity::Alarm => Stroke::new(2.5, theme.alarm),
        Severity::Attention => Stroke::new(2.0, theme.attention),
        _ => Stroke::new(1.0, theme.tile_border),
    };
    let frame = egui::Frame::new().fill(theme.tile).stroke(border).corner_radius(3.0).inner_margin(8.0);
    let inner = frame.show(ui, |ui| {
        ui.set_width(TILE_WIDTH);
        ui.vertical(|ui| machine_tile_body_ui(ui, theme, m, now_ms, severity, state));
    });
    let response = ui.interact(inner.response.rect, ui.scope_id().with(("machine", &m.path)), Sense::click());
    let label = format!("{}: {}", m.path.machine, if m.stale { "Stale" } else { state });
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Group, true, &label));
    let mut command = None;
    if simulated {
        response.context_menu(|ui| {
            if ui.button("Simulate a 10 min breakdown (demo)").clicked() {
                command = Some(Command::InjectFault {
                    gateway: Arc::clone(&m.gateway),
                    fault: Fault::StopMachine {
                        machine: m.path.machine.clone(),
                        secs: 600,
                        reason: "DEMO_STOP".to_owned(),
                    },
                });
                ui.close();
            }
        });
    }
    command
}

/// Name and state, stop reason and time in state, parts and reject share, rate against ideal.
fn machine_tile_body_ui(ui: &mut Ui, theme: &Theme, m: &MachineLive, now_ms: i64, severity: Severity, state: &str) {
    ui.horizontal(|ui| {
        let name_colour = if m.stale { theme.stale } else { theme.text_strong };
        ui.label(RichText::new(&m.path.machine).size(16.0).strong().color(name_colour));
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            status_badge_ui(ui, theme, severity, if m.stale { "Stale" } else { state });
        });
    });
    let detail = if m.state == Some(MachineState::Running) {
        String::new()
    } else {
        let dur = fmt_duration_secs((now_ms - m.state_since_ms) / 1000);
        match &m.reason {
            Some(reason) => format!("{reason} · {dur}"),
            None => format!("{state} · {dur}"),
        }
    };
    ui.label(RichText::new(if detail.is_empty() { " ".to_owned() } else { detail }).color(theme.text_dim));
    ui.horizontal(|ui| {
        ui.label(RichText::new(m.total.map_or("—".to_owned(), fmt_count)).size(18.0).color(theme.text_strong));
        ui.label(RichText::new("parts").color(theme.text_dim));
        if let (Some(reject), Some(total)) = (m.reject, m.total.filter(|t| *t > 0)) {
            #[expect(clippy::cast_precision_loss, reason = "counts to a percentage")]
            let pct = reject as f64 * 100.0 / total as f64;
            ui.label(RichText::new(format!("{pct:.1} % rej.")).small().color(theme.text_dim));
        }
    });
    rate_bar_ui(ui, theme, m.rate_per_min(now_ms), m.ideal_rate_per_min());
}

/// The current rate against the ideal rate: an analog bar so "where in range" reads at a glance.
fn rate_bar_ui(ui: &mut Ui, theme: &Theme, rate: Option<f64>, ideal: Option<f64>) {
    let height = 14.0;
    let (rect, _) = ui.allocate_exact_size(Vec2::new(TILE_WIDTH, height), Sense::hover());
    let painter = ui.painter();
    let bar = egui::Rect::from_min_size(rect.min, Vec2::new(TILE_WIDTH * 0.45, height)).shrink2(Vec2::new(0.0, 3.0));
    painter.rect_filled(bar, 2.0, theme.bar_track);
    if let Some(ideal) = ideal.filter(|i| *i > 0.0) {
        // The scale runs to 120 % of ideal, with the ideal marked.
        let full = ideal * 1.2;
        let rate = rate.unwrap_or(0.0);
        #[expect(clippy::cast_possible_truncation, reason = "to pixels")]
        let frac = (rate / full).clamp(0.0, 1.0) as f32;
        painter.rect_filled(
            egui::Rect::from_min_size(bar.min, Vec2::new(bar.width() * frac, bar.height())),
            2.0,
            theme.bar_normal,
        );
        let x = bar.left() + bar.width() / 1.2;
        painter
            .line_segment([pos2(x, bar.top() - 2.0), pos2(x, bar.bottom() + 2.0)], Stroke::new(1.5, theme.limit_mark));
    }
    painter.rect_stroke(bar, 2.0, Stroke::new(1.0, theme.tile_border), StrokeKind::Inside);
    let rate = rate.map_or("—".to_owned(), |r| format!("{r:.0}"));
    let text = match ideal {
        Some(ideal) => format!("{rate}/min of {ideal:.0}"),
        None => format!("{rate}/min"),
    };
    painter.text(
        pos2(bar.right() + 6.0, rect.center().y),
        egui::Align2::LEFT_CENTER,
        text,
        egui::FontId::proportional(12.0),
        theme.text,
    );
}
