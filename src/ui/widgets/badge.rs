use egui::{Response, Sense, Shape, Stroke, Ui, Vec2, pos2};

use crate::ui::theme::{Severity, Theme};

/// A state shown by shape, colour and text together, so it reads without colour vision and from afar:
/// normal — hollow circle; info — hollow square; attention — amber triangle; alarm — red diamond;
/// stale — dashed circle.
pub fn status_badge_ui(ui: &mut Ui, theme: &Theme, severity: Severity, text: &str) -> Response {
    ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = 4.0;
        let size = ui.text_style_height(&egui::TextStyle::Body);
        let (rect, _) = ui.allocate_exact_size(Vec2::splat(size), Sense::hover());
        let c = rect.center();
        let r = size * 0.38;
        let colour = theme.severity_colour(severity);
        let stroke = Stroke::new(1.5, colour);
        let painter = ui.painter();
        match severity {
            Severity::Normal => {
                painter.circle_stroke(c, r, stroke);
            }
            Severity::Info => {
                painter.rect_stroke(
                    egui::Rect::from_center_size(c, Vec2::splat(r * 1.7)),
                    0.0,
                    stroke,
                    egui::StrokeKind::Middle,
                );
            }
            Severity::Attention => {
                painter.add(Shape::convex_polygon(
                    vec![
                        pos2(c.x, c.y - r * 1.15),
                        pos2(c.x + r * 1.2, c.y + r * 0.95),
                        pos2(c.x - r * 1.2, c.y + r * 0.95),
                    ],
                    colour,
                    Stroke::NONE,
                ));
            }
            Severity::Alarm => {
                painter.add(Shape::convex_polygon(
                    vec![
                        pos2(c.x, c.y - r * 1.25),
                        pos2(c.x + r * 1.25, c.y),
                        pos2(c.x, c.y + r * 1.25),
                        pos2(c.x - r * 1.25, c.y),
                    ],
                    colour,
                    Stroke::NONE,
                ));
            }
            Severity::Stale => {
                let points: Vec<_> = (0..=16)
                    .map(|i| {
                        let a = f32::from(i as u8) / 16.0 * std::f32::consts::TAU;
                        c + Vec2::angled(a) * r
                    })
                    .collect();
                painter.extend(Shape::dashed_line(&points, stroke, 2.0, 2.0));
            }
        }
        let text_colour = match severity {
            Severity::Alarm | Severity::Attention => colour,
            Severity::Stale => theme.stale,
            Severity::Normal | Severity::Info => theme.text,
        };
        ui.label(egui::RichText::new(text).color(text_colour))
    })
    .inner
}
