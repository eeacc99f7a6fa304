//! Where review stands: the range (a shift, a preset or typed times) and the timeline with its events and notes.

use super::*;

/// What the timeline shows.
#[derive(Default)]
pub(super) struct Timeline {
    pub(super) markers: Vec<(i64, Priority)>,
    pub(super) down: Vec<(String, i64, i64)>,
    /// The logbook's notes about the range.
    pub(super) notes: Vec<crate::model::logbook::Note>,
}
/// Choosing what to review: a shift of the calendar inside the data, or any range typed in.
#[derive(Default)]
pub(super) struct RangePicker {
    /// The first and last instant the source holds, once read.
    pub(super) extent: Option<(i64, i64)>,
    pub(super) loading: Option<Pending<Option<(i64, i64)>>>,
    pub(super) read: bool,
    /// The From/To fields are open.
    pub(super) custom: bool,
    pub(super) from_text: String,
    pub(super) to_text: String,
    pub(super) error: Option<String>,
}
/// A time typed into the range fields: local (site) time as `2026-11-20 06:00`, or RFC 3339.
pub fn parse_local(text: &str, tz: &TimeZone) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(civil) = text.parse::<jiff::civil::DateTime>() {
        return civil.to_zoned(tz.clone()).map(|z| z.timestamp().as_millisecond()).map_err(|e| e.to_string());
    }
    text.parse::<jiff::Timestamp>()
        .map(jiff::Timestamp::as_millisecond)
        .map_err(|err| format!("\"{text}\" is not a time ({err}); write it as 2026-11-20 06:00"))
}

impl Review {
    /// The range being reviewed, and the shifts (or a custom range) to review instead.
    pub(super) fn range_ui(&mut self, ui: &mut Ui, tz: &TimeZone) {
        let shifts = self.shifts();
        let mut picked = None;
        egui::ComboBox::new("review_range", "Range")
            .selected_text(&self.title)
            .width(230.0)
            .show_ui(ui, |ui| {
                for shift in &shifts {
                    let label = format!(
                        "Shift {} · {} {}–{}",
                        shift.name,
                        crate::ui::fmt_local(shift.start_ms, tz, "%a %d %b"),
                        crate::ui::fmt_local(shift.start_ms, tz, "%H:%M"),
                        crate::ui::fmt_local(shift.end_ms, tz, "%H:%M"),
                    );
                    let current = self.from_ms == shift.start_ms;
                    if ui.selectable_label(current, label).clicked() {
                        picked = Some(shift.clone());
                    }
                }
                if ui.selectable_label(self.picker.custom, "Custom range…").clicked() {
                    self.picker.custom = true;
                    self.picker.from_text = crate::ui::fmt_local(self.from_ms, tz, "%Y-%m-%d %H:%M");
                    self.picker.to_text = crate::ui::fmt_local(self.to_ms, tz, "%Y-%m-%d %H:%M");
                }
            })
            .response
            .on_hover_text("Review another shift, or any range");
        if let Some(shift) = picked {
            self.picker.custom = false;
            self.pick_shift(&shift, tz);
        }
    }
    /// From/To fields in site time, and *Show*.
    pub(super) fn custom_range_ui(&mut self, ui: &mut Ui, theme: &Theme, tz: &TimeZone) {
        ui.horizontal(|ui| {
            let from = ui.label("From");
            ui.add(egui::TextEdit::singleline(&mut self.picker.from_text).desired_width(130.0)).labelled_by(from.id);
            let to = ui.label("To");
            ui.add(egui::TextEdit::singleline(&mut self.picker.to_text).desired_width(130.0)).labelled_by(to.id);
            ui.label(RichText::new(format!("site time ({})", tz.iana_name().unwrap_or("local"))).color(theme.text_dim));
            if ui.button("Show").clicked() {
                match (parse_local(&self.picker.from_text, tz), parse_local(&self.picker.to_text, tz)) {
                    (Ok(from), Ok(to)) if from < to => {
                        self.picker.error = None;
                        self.picker.custom = false;
                        let title = format!(
                            "{} – {}",
                            crate::ui::fmt_local(from, tz, "%a %d %b %H:%M"),
                            crate::ui::fmt_local(to, tz, "%a %d %b %H:%M")
                        );
                        self.set_range((from, to), title);
                    }
                    (Ok(_), Ok(_)) => self.picker.error = Some("From must be before To".to_owned()),
                    (Err(e), _) | (_, Err(e)) => self.picker.error = Some(e),
                }
            }
            if ui.button("Close").clicked() {
                self.picker.custom = false;
                self.picker.error = None;
            }
            if let Some(e) = &self.picker.error {
                ui.label(RichText::new(e).color(theme.alarm));
            }
        });
    }
    pub(super) fn timeline_ui(&mut self, ui: &mut Ui, theme: &Theme, stamp: &dyn Fn(i64, &str) -> String) {
        let width = ui.available_width();
        let (rect, response) = ui.allocate_exact_size(vec2(width, 34.0), Sense::click_and_drag());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 2.0, theme.tile);
        let span = (self.to_ms - self.from_ms).max(1);
        #[expect(clippy::cast_precision_loss, reason = "milliseconds of a reviewed range")]
        let x_of = |t: i64| rect.left() + rect.width() * ((t - self.from_ms) as f32 / span as f32);
        // Downtime: one band per machine stop, stacked in the lower half.
        for (_, a, b) in &self.timeline.down {
            let band =
                Rect::from_min_max(pos2(x_of(*a), rect.center().y), pos2(x_of(*b).max(x_of(*a) + 1.0), rect.bottom()));
            painter.rect_filled(band, 0.0, theme.attention.gamma_multiply(0.35));
        }
        // Alarms: a tick each in the upper half, in the priority's colour.
        for (t, p) in &self.timeline.markers {
            let x = x_of(*t);
            let colour = crate::ui::panels::alarms::priority_colour(theme, *p);
            painter.line_segment([pos2(x, rect.top() + 2.0), pos2(x, rect.center().y)], Stroke::new(1.5, colour));
        }
        // Notes: a small flag on the top edge at what each is about (a range's span underlined).
        for note in &self.timeline.notes {
            let (a, b) = (x_of(note.from_ms.max(self.from_ms)), x_of(note.end_ms().min(self.to_ms)));
            if b > a + 1.0 {
                painter
                    .line_segment([pos2(a, rect.top() + 1.0), pos2(b, rect.top() + 1.0)], Stroke::new(2.0, theme.text));
            }
            let flag = [pos2(a, rect.top()), pos2(a + 7.0, rect.top() + 4.0), pos2(a, rect.top() + 8.0)];
            painter.add(egui::Shape::convex_polygon(flag.to_vec(), theme.text_strong, Stroke::NONE));
        }
        let x = x_of(self.at_ms);
        painter.line_segment([pos2(x, rect.top()), pos2(x, rect.bottom())], Stroke::new(2.0, theme.text_strong));
        painter.text(
            pos2(rect.left() + 4.0, rect.bottom() - 2.0),
            egui::Align2::LEFT_BOTTOM,
            stamp(self.from_ms, "%H:%M"),
            egui::FontId::proportional(11.0),
            theme.text_dim,
        );
        painter.text(
            pos2(rect.right() - 4.0, rect.bottom() - 2.0),
            egui::Align2::RIGHT_BOTTOM,
            stamp(self.to_ms, "%H:%M"),
            egui::FontId::proportional(11.0),
            theme.text_dim,
        );
        if let Some(p) = response.interact_pointer_pos()
            && (response.clicked() || response.dragged())
        {
            let f = f64::from(((p.x - rect.left()) / rect.width()).clamp(0.0, 1.0));
            #[expect(clippy::cast_possible_truncation, clippy::cast_precision_loss, reason = "a time on the bar")]
            let t = self.from_ms + (f * span as f64) as i64;
            self.seek(t);
        }
        if let Some(p) = response.hover_pos() {
            let f = f64::from(((p.x - rect.left()) / rect.width()).clamp(0.0, 1.0));
            #[expect(clippy::cast_possible_truncation, clippy::cast_precision_loss, reason = "a time on the bar")]
            let t = self.from_ms + (f * span as f64) as i64;
            // The notes about the hovered moment (within 4 px), with who wrote them.
            let near = 4.0 * span as f64 / f64::from(rect.width().max(1.0));
            let notes: Vec<String> = self
                .timeline
                .notes
                .iter()
                .filter(|n| (n.from_ms as f64 - near..=n.end_ms() as f64 + near).contains(&(t as f64)))
                .map(|n| format!("Note by {} at {}: {}", n.author, stamp(n.from_ms, "%H:%M"), n.text))
                .collect();
            let mut tip = format!("{} — click or drag to go there", stamp(t, "%H:%M:%S"));
            for note in notes {
                tip.push('\n');
                tip.push_str(&note);
            }
            response.on_hover_text(tip);
        }
    }
}
