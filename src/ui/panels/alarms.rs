//! The alarm banner: always at the top while any alarm is not normal. Counts by priority, then the alarms that
//! matter most (unacknowledged first, then by priority, newest first) with their value and state, and the
//! operator's actions: acknowledge, shelve for an hour. Priority is shown by colour, shape and text; only an
//! unacknowledged alarm's mark blinks (ISA-101).

use egui::{Color32, Pos2, RichText, Shape, Stroke, Ui, vec2};

use crate::model::alarm::Priority;
use crate::model::history::OperatorAction;
use crate::store::AlarmView;
use crate::ui::UiCommand;
use crate::ui::theme::Theme;

/// How many alarms the banner lists; the rest are counted.
const SHOWN: usize = 3;
/// How long *Shelve 1 h* hides an alarm.
const SHELVE_MS: i64 = crate::model::time::HOUR_MS;

/// A priority's colour (with its mark's shape and its name, never colour alone).
pub fn priority_colour(theme: &Theme, p: Priority) -> Color32 {
    match p {
        Priority::Urgent | Priority::High => theme.alarm,
        Priority::Medium => theme.attention,
        Priority::Low => theme.text_dim,
    }
}

/// The priority's mark: a diamond (urgent), triangle (high), square (medium) or circle (low).
pub fn priority_mark_ui(ui: &mut Ui, theme: &Theme, p: Priority, filled: bool) {
    let (rect, _) = ui.allocate_exact_size(vec2(14.0, 14.0), egui::Sense::hover());
    let c = rect.center();
    let r = 6.0;
    let colour = priority_colour(theme, p);
    let (fill, stroke) = if filled { (colour, Stroke::NONE) } else { (Color32::TRANSPARENT, Stroke::new(1.5, colour)) };
    let points: Vec<Pos2> = match p {
        Priority::Urgent => vec![c + vec2(0.0, -r), c + vec2(r, 0.0), c + vec2(0.0, r), c + vec2(-r, 0.0)],
        Priority::High => vec![c + vec2(0.0, -r), c + vec2(r, r * 0.8), c + vec2(-r, r * 0.8)],
        Priority::Medium => vec![c + vec2(-r, -r), c + vec2(r, -r), c + vec2(r, r), c + vec2(-r, r)],
        Priority::Low => {
            ui.painter().add(Shape::circle_filled(c, r, fill));
            ui.painter().add(Shape::circle_stroke(c, r, stroke));
            return;
        }
    };
    ui.painter().add(Shape::convex_polygon(points, fill, stroke));
}

/// The banner; returns the operator's actions for the history writer (which journals them with `user`).
pub fn alarms_banner_ui(
    ui: &mut Ui,
    theme: &Theme,
    alarms: &[AlarmView],
    now_ms: i64,
    user: &str,
    reviewing: bool,
) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    // It annunciates: shelved, suppressed and out-of-service alarms are in the Alarms view only (ISA-18.2).
    let alarms: Vec<&AlarmView> = alarms.iter().filter(|a| a.state.annunciated()).collect();
    let mut order = alarms.clone();
    order.sort_by(|a, b| {
        b.state
            .wants_ack()
            .cmp(&a.state.wants_ack())
            .then(a.priority.cmp(&b.priority))
            .then(b.active_since_ms.cmp(&a.active_since_ms))
    });
    let unacked = alarms.iter().filter(|a| a.state.wants_ack()).count();
    // Blink (twice a second) only while something waits for an acknowledgement.
    let blink_on = unacked == 0 || (ui.input(|i| i.time) * 2.0).floor().rem_euclid(2.0) < 1.0;
    if unacked > 0 {
        ui.ctx().request_repaint_after(std::time::Duration::from_millis(500));
    }
    egui::Frame::new().fill(theme.tile).stroke(Stroke::new(2.0, theme.alarm)).inner_margin(6.0).show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Alarms").strong().color(theme.text_strong));
            for p in Priority::ALL {
                let n = alarms.iter().filter(|a| a.priority == p).count();
                if n > 0 {
                    priority_mark_ui(ui, theme, p, true);
                    ui.label(format!("{n} {}", p.label().to_lowercase()));
                }
            }
            if unacked > 0 {
                ui.label(RichText::new(format!("{unacked} to acknowledge")).strong().color(theme.alarm));
            }
            if alarms.len() > SHOWN {
                ui.label(RichText::new(format!("{} more", alarms.len() - SHOWN)).color(theme.text_dim));
            }
        });
        for a in order.into_iter().take(SHOWN) {
            ui.horizontal(|ui| {
                priority_mark_ui(ui, theme, a.priority, !a.state.wants_ack() || blink_on);
                ui.label(RichText::new(a.priority.label()).color(priority_colour(theme, a.priority)));
                ui.label(RichText::new(&a.rule).strong());
                ui.label(RichText::new(&a.asset).color(theme.text));
                let mut detail = vec![a.message.clone(), a.state.label().to_owned()];
                if let Some(since) = a.active_since_ms {
                    detail.push(format!("since {}", crate::ui::fmt_ago(now_ms, since)));
                }
                ui.label(RichText::new(detail.join(" · ")).color(theme.text));
                if reviewing {
                    // The alarms as they stood: nothing to act on in the past.
                    return;
                }
                if a.state.wants_ack()
                    && ui
                        .button("Acknowledge")
                        .on_hover_text(format!("Acknowledge as {user} (F10: the oldest waiting alarm)"))
                        .clicked()
                {
                    commands.push(UiCommand::Alarm(OperatorAction::Acknowledge {
                        indices: vec![a.index],
                        user: user.to_owned(),
                        comment: String::new(),
                    }));
                }
                if ui.button("Shelve 1 h").on_hover_text("Hide it for an hour; it comes back then").clicked() {
                    commands.push(UiCommand::Alarm(OperatorAction::Shelve {
                        indices: vec![a.index],
                        for_ms: SHELVE_MS,
                        user: user.to_owned(),
                        reason: "shelved from the banner".to_owned(),
                    }));
                }
            });
        }
    });
    commands
}
