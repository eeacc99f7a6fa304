use egui::{Align2, FontId, Rect, Response, Sense, Stroke, StrokeKind, Ui, Vec2, pos2};

use crate::model::{BatteryLevel, BatteryThresholds};
use crate::ui::theme::Theme;

/// A state-of-charge bar with its low and critical limits marked, so the operator sees where in range it is.
/// Grey while normal, amber when low, red when critical, dim when stale; the text gives the number, and a bolt on
/// the bar marks charging.
pub fn battery_bar_ui(
    ui: &mut Ui,
    theme: &Theme,
    soc_percent: Option<f64>,
    thresholds: BatteryThresholds,
    charging: bool,
    stale: bool,
) -> Response {
    let height = ui.text_style_height(&egui::TextStyle::Body);
    let width = 140.0_f32.min(ui.available_width().max(60.0));
    let (rect, response) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
    let painter = ui.painter();
    let bar = Rect::from_min_size(rect.min, Vec2::new(rect.width() * 0.6, rect.height())).shrink2(Vec2::new(0.0, 2.0));
    painter.rect_filled(bar, 2.0, theme.bar_track);
    let text = match soc_percent {
        Some(soc) => {
            let level = thresholds.level(soc);
            let fill = if stale {
                theme.stale
            } else {
                match level {
                    BatteryLevel::Normal => theme.bar_normal,
                    BatteryLevel::Low => theme.attention,
                    BatteryLevel::Critical => theme.alarm,
                }
            };
            #[expect(clippy::cast_possible_truncation, reason = "percent to pixels")]
            let frac = (soc / 100.0).clamp(0.0, 1.0) as f32;
            let filled = Rect::from_min_size(bar.min, Vec2::new(bar.width() * frac, bar.height()));
            painter.rect_filled(filled, 2.0, fill);
            for limit in [thresholds.low_percent, thresholds.critical_percent] {
                #[expect(clippy::cast_possible_truncation, reason = "percent to pixels")]
                let x = bar.left() + bar.width() * (limit / 100.0) as f32;
                painter.line_segment(
                    [pos2(x, bar.top() - 1.0), pos2(x, bar.bottom() + 1.0)],
                    Stroke::new(1.0, theme.limit_mark),
                );
            }
            let level_text = match level {
                BatteryLevel::Normal => "",
                BatteryLevel::Low => " low",
                BatteryLevel::Critical => " critical",
            };
            format!("{soc:.0} %{level_text}")
        }
        None => "—".to_owned(),
    };
    painter.rect_stroke(bar, 2.0, Stroke::new(1.0, theme.tile_border), StrokeKind::Inside);
    if charging {
        // A bolt drawn on the bar's end (the UI font has no ⚡ glyph).
        let c = pos2(bar.right() - bar.height() * 0.5, bar.center().y);
        let h = bar.height() * 0.5;
        let bolt = vec![
            c + egui::vec2(0.25 * h, -h),
            c + egui::vec2(-0.35 * h, 0.1 * h),
            c + egui::vec2(0.1 * h, 0.1 * h),
            c + egui::vec2(-0.25 * h, h),
        ];
        painter.add(egui::Shape::line(bolt, Stroke::new(1.5, theme.text_strong)));
    }
    let text_colour = if stale { theme.stale } else { theme.text };
    painter.text(
        pos2(bar.right() + 6.0, rect.center().y),
        Align2::LEFT_CENTER,
        &text,
        FontId::proportional(height * 0.8),
        text_colour,
    );
    response.widget_info(|| {
        egui::WidgetInfo::labeled(
            egui::Role::ProgressIndicator,
            true,
            format!("Battery {text}{}", if charging { ", charging" } else { "" }),
        )
    });
    response.on_hover_text(format!(
        "State of charge {text}\nlow ≤ {:.0} %, critical ≤ {:.0} %",
        thresholds.low_percent, thresholds.critical_percent
    ))
}
