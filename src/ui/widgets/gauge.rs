//! The OEE gauge: a radial 0–100 % dial with the target marked and bands behind it, the value in large text, and
//! availability, performance and quality as three small bars under it. ISA-101: grey while at or above target;
//! amber only when well below it; dim when the machine is stale. Sized by the caller: about 150 px reads from 3 m on
//! a control-room screen, and it stays legible at half that on a laptop.

use std::f32::consts::PI;

use egui::{Align2, Color32, FontId, Pos2, Response, Sense, Shape, Stroke, Ui, Vec2, pos2, vec2};

use crate::analytics::Oee;
use crate::ui::theme::Theme;

/// The dial sweeps 240°, from the lower left, over the top, to the lower right.
const START: f32 = 150.0 * PI / 180.0;
const SWEEP: f32 = 240.0 * PI / 180.0;

/// Below this share of the target the value turns amber.
const POOR_SHARE_OF_TARGET: f64 = 0.75;

fn angle(frac: f64) -> f32 {
    #[expect(clippy::cast_possible_truncation, reason = "a fraction to an angle")]
    let f = frac.clamp(0.0, 1.0) as f32;
    START + SWEEP * f
}

fn arc(center: Pos2, radius: f32, from: f64, to: f64) -> Vec<Pos2> {
    let (a, b) = (angle(from), angle(to));
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a small segment count")]
    let n = (((b - a).abs() / SWEEP) * 64.0).ceil().max(2.0) as usize;
    (0..=n)
        .map(|i| {
            #[expect(clippy::cast_precision_loss, reason = "a small index")]
            let t = a + (b - a) * i as f32 / n as f32;
            center + radius * vec2(t.cos(), t.sin())
        })
        .collect()
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{:.1} %", v * 100.0))
}

/// Draws the gauge `size` pixels wide; returns its response (hover shows the raw figures).
pub fn oee_gauge_ui(ui: &mut Ui, theme: &Theme, size: f32, oee: &Oee, target: f64, stale: bool) -> Response {
    let bar_h = (size * 0.075).max(6.0);
    let bars_height = 3.0 * (bar_h + 4.0);
    let dial_h = size * 0.8;
    let (rect, response) = ui.allocate_exact_size(Vec2::new(size, dial_h + bars_height), Sense::click());
    let painter = ui.painter_at(rect.expand(2.0));
    let center = pos2(rect.center().x, rect.top() + size * 0.5);
    let width = size * 0.1;
    let radius = size * 0.5 - width * 0.5 - 2.0;

    // Bands behind the dial: poor (well below target), below target, at or above target.
    let poor = target * POOR_SHARE_OF_TARGET;
    let band_r = radius + width * 0.5 + 2.0;
    for (from, to, colour) in [
        (0.0, poor, theme.attention.gamma_multiply(0.45)),
        (poor, target, theme.bar_track),
        (target, 1.0, theme.limit_mark.gamma_multiply(0.6)),
    ] {
        if to > from {
            painter.add(Shape::line(arc(center, band_r, from, to), Stroke::new(2.0, colour)));
        }
    }
    painter.add(Shape::line(arc(center, radius, 0.0, 1.0), Stroke::new(width, theme.bar_track)));
    let value = oee.oee;
    let fill = match value {
        _ if stale => theme.stale,
        Some(v) if v < poor => theme.attention,
        _ => theme.bar_normal,
    };
    if let Some(v) = value.filter(|v| *v > 0.0) {
        painter.add(Shape::line(arc(center, radius, 0.0, v.min(1.0)), Stroke::new(width, fill)));
    }
    // Target marker: a tick across the dial.
    let t = angle(target);
    let dir = vec2(t.cos(), t.sin());
    painter.line_segment(
        [center + dir * (radius - width * 0.8), center + dir * (radius + width * 0.9)],
        Stroke::new((size * 0.02).max(1.5), theme.limit_mark),
    );

    let text_colour = if stale { theme.stale } else { theme.text_strong };
    let value_text = value.map_or_else(|| "—".to_owned(), |v| format!("{:.0}%", v * 100.0));
    painter.text(center, Align2::CENTER_CENTER, &value_text, FontId::proportional(size * 0.22), text_colour);
    painter.text(
        center + vec2(0.0, size * 0.2),
        Align2::CENTER_CENTER,
        format!("OEE · target {:.0}%", target * 100.0),
        FontId::proportional((size * 0.075).max(9.0)),
        theme.text_dim,
    );

    // A, P, Q as small bars with their numbers.
    let mut y = rect.top() + dial_h;
    let label_w = size * 0.12;
    let num_w = size * 0.26;
    for (name, v) in [("A", oee.availability), ("P", oee.performance), ("Q", oee.quality)] {
        let row = egui::Rect::from_min_size(pos2(rect.left(), y), vec2(size, bar_h));
        let font = FontId::proportional((bar_h * 1.25).max(9.0));
        painter.text(pos2(row.left(), row.center().y), Align2::LEFT_CENTER, name, font.clone(), theme.text_dim);
        let track =
            egui::Rect::from_min_max(pos2(row.left() + label_w, row.top()), pos2(row.right() - num_w, row.bottom()));
        painter.rect_filled(track, 2.0, theme.bar_track);
        if let Some(v) = v {
            #[expect(clippy::cast_possible_truncation, reason = "a fraction to pixels")]
            let w = track.width() * v.clamp(0.0, 1.0) as f32;
            painter.rect_filled(
                egui::Rect::from_min_size(track.min, vec2(w, track.height())),
                2.0,
                if stale { theme.stale } else { theme.bar_normal },
            );
        }
        // Performance above 100 % is shown capped, with a mark: the ideal cycle time is wrong.
        let shown = match v {
            Some(v) if v > 1.0 => "100%+".to_owned(),
            Some(v) => format!("{:.0}%", v * 100.0),
            None => "—".to_owned(),
        };
        painter.text(pos2(row.right(), row.center().y), Align2::RIGHT_CENTER, shown, font, theme.text);
        y += bar_h + 4.0;
    }

    let label = format!("OEE {}", value.map_or_else(|| "unknown".to_owned(), |v| format!("{:.1} %", v * 100.0)));
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::ProgressIndicator, true, &label));
    response.on_hover_text(format!(
        "OEE {}  (target {:.0} %)\nAvailability {}\nPerformance {}{}\nQuality {}",
        pct(oee.oee),
        target * 100.0,
        pct(oee.availability),
        pct(oee.performance),
        if oee.performance.is_some_and(|p| p > 1.0) { " — above 100 %: check the ideal cycle time" } else { "" },
        pct(oee.quality),
    ))
}

/// A colour for a machine state on the timeline strip (ISA-101: grey for running, colour for what is abnormal).
pub fn state_colour(theme: &Theme, state: Option<crate::model::MachineState>) -> Color32 {
    use crate::model::MachineState as S;
    match state {
        None => theme.background,
        Some(S::Running) => theme.bar_normal,
        Some(S::Down) => theme.alarm,
        Some(S::Starved | S::Blocked) => theme.attention,
        Some(S::Setup | S::Idle) => theme.limit_mark.gamma_multiply(0.55),
        Some(S::PlannedStop) => theme.bar_track,
    }
}
