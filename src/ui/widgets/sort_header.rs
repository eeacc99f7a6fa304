//! A sortable column title for tables.

use egui::{Response, RichText, Ui};

/// A column title that sorts the table by `by`: a click sorts by it, a second click reverses; a triangle marks the
/// sorted column (pointing down: first rows first in the column's natural order). Returns the title's response
/// (for a hover text).
pub fn sort_header_ui<T: PartialEq + Copy>(
    ui: &mut Ui,
    title: &str,
    by: T,
    sort: &mut T,
    descending: &mut bool,
) -> Response {
    let response = ui.add(egui::Button::new(RichText::new(title).strong()).frame(false));
    if *sort == by {
        let (rect, _) = ui.allocate_exact_size(egui::vec2(9.0, 9.0), egui::Sense::hover());
        let c = rect.center();
        let (tip, base) = if *descending { (-3.5, 3.5) } else { (3.5, -3.5) };
        let points = vec![c + egui::vec2(-4.0, base), c + egui::vec2(4.0, base), c + egui::vec2(0.0, tip)];
        ui.painter().add(egui::Shape::convex_polygon(points, ui.visuals().strong_text_color(), egui::Stroke::NONE));
    }
    if response.clicked() {
        if *sort == by {
            *descending = !*descending;
        } else {
            *sort = by;
            *descending = false;
        }
    }
    response
}
