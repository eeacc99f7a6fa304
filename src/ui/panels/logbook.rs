//! The Logbook view: the shift's **notes** (write one about now, the last minutes or the shift so far, about a
//! machine, a vehicle or an alarm; correct one by writing a new note that names it) and the **handover** at shift
//! change (what the incoming operator must know: the shift's notes, standing, shelved and out-of-service alarms,
//! down machines and stranded vehicles; then who took over, recorded in the logbook).
//!
//! Notes go out as [`UiCommand::Note`]s (the app hands them to the history writer, and to the site database on a
//! console); the list is read on the history reader's thread, again when the writer has stored a note.

use std::time::{Duration, Instant};

use egui::{RichText, Ui};
use jiff::tz::TimeZone;

use crate::model::alarm::AlarmState;
use crate::model::logbook::{Handover, Note, Subject, corrected_by, new_uid};
use crate::model::{BatteryLevel, MachineState, ShiftInstance, VehicleStatus};
use crate::store::{AlarmView, Pending};
use crate::ui::theme::Theme;
use crate::ui::{UiCommand, ViewCtx};

/// The two parts of the view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogbookTab {
    #[default]
    Notes,
    Handover,
}

/// What time a new note is about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum When {
    #[default]
    Now,
    Last15Min,
    LastHour,
    ShiftSoFar,
}

impl When {
    const ALL: [Self; 4] = [Self::Now, Self::Last15Min, Self::LastHour, Self::ShiftSoFar];

    fn label(self) -> &'static str {
        match self {
            Self::Now => "Now",
            Self::Last15Min => "The last 15 min",
            Self::LastHour => "The last hour",
            Self::ShiftSoFar => "The shift so far",
        }
    }

    /// `(from, to)`; `to` is `None` for an instant.
    fn range(self, now_ms: i64, shift: Option<&ShiftInstance>) -> (i64, Option<i64>) {
        match self {
            Self::Now => (now_ms, None),
            Self::Last15Min => (now_ms - 15 * 60_000, Some(now_ms)),
            Self::LastHour => (now_ms - 60 * 60_000, Some(now_ms)),
            Self::ShiftSoFar => (shift.map_or(now_ms - 8 * 3_600_000, |s| s.start_ms), Some(now_ms)),
        }
    }
}

/// A read of the logbook on the reader thread.
type NotesRead = Pending<(Vec<Note>, crate::store::HistorySource)>;

/// The list is read again this often even when nothing was written here (other consoles write too).
const RELOAD_EVERY: Duration = Duration::from_secs(20);

#[derive(Default)]
pub struct LogbookPanel {
    pub tab: LogbookTab,
    draft: String,
    when: When,
    subject: Subject,
    /// The note being corrected: the new note names it and keeps its time and subject.
    correcting: Option<Note>,
    /// The shift's notes as last read, and the range read.
    notes: Vec<Note>,
    read_range: Option<(i64, i64)>,
    loading: Option<(i64, i64, NotesRead)>,
    asked: Option<(u64, (i64, i64), Instant)>,
    /// Written here and not yet read back.
    sent: Vec<Note>,
    taken_over_by: String,
    handover_text: String,
    problem: Option<String>,
    /// How many shifts back the list shows (0: the shift now).
    earlier: u32,
}

impl LogbookPanel {
    pub fn ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>) -> Vec<UiCommand> {
        let shift = env.calendar().shift_at(env.now_ms);
        if self.tab == LogbookTab::Handover {
            // A handover is of the shift now.
            self.earlier = 0;
        }
        let (range, shown) = shown_range(env, shift.as_ref(), self.earlier);
        self.load(env, range);
        let mut out = Vec::new();
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.tab, LogbookTab::Notes, "Notes");
            ui.selectable_value(&mut self.tab, LogbookTab::Handover, "Handover");
            ui.separator();
            if self.tab == LogbookTab::Notes {
                if ui.button("Earlier shift").on_hover_text("Read the notes of the shift before").clicked() {
                    self.earlier += 1;
                }
                if ui.add_enabled(self.earlier > 0, egui::Button::new("Later shift")).clicked() {
                    self.earlier -= 1;
                }
            }
            let name = shown.as_ref().map_or_else(|| "No shift".to_owned(), |s| shift_label(s, env.timezone));
            let now = if self.earlier == 0 { " (now)" } else { "" };
            ui.label(RichText::new(format!("{name}{now}")).strong());
            if let Some(problem) = &self.problem {
                ui.label(RichText::new(problem).color(env.theme.alarm));
            }
        });
        ui.separator();
        match self.tab {
            LogbookTab::Notes => {
                self.write_ui(ui, env, shift.as_ref(), &mut out);
                ui.separator();
                egui::ScrollArea::vertical().id_salt("logbook_notes").show(ui, |ui| {
                    self.list_ui(ui, env, false);
                });
            }
            LogbookTab::Handover => {
                egui::ScrollArea::vertical().id_salt("logbook_handover").show(ui, |ui| {
                    self.handover_ui(ui, env, shift.as_ref(), &mut out);
                });
            }
        }
        out
    }

    /// Reads the shift's notes on the reader thread: when the shift or the writer's count changed, and every
    /// [`RELOAD_EVERY`].
    fn load(&mut self, env: &ViewCtx<'_>, range: (i64, i64)) {
        if let Some((from, to, pending)) = &mut self.loading {
            match pending.poll() {
                Some(Ok((notes, _))) => {
                    self.notes = notes;
                    self.sent.retain(|s| !self.notes.iter().any(|n| n.uid == s.uid));
                    self.read_range = Some((*from, *to));
                    self.loading = None;
                    self.problem = None;
                }
                Some(Err(err)) => {
                    self.problem = Some(format!("The logbook cannot be read: {err}"));
                    self.loading = None;
                }
                None => return,
            }
        }
        let fresh =
            self.asked.is_some_and(|(n, r, at)| n == env.notes_written && r == range && at.elapsed() < RELOAD_EVERY);
        if fresh {
            return;
        }
        let Some(history) = env.history else { return };
        let (from, to) = range;
        if let Some(p) = history.run_history(move |h| h.notes(from, to)) {
            self.loading = Some((from, to, p));
            self.asked = Some((env.notes_written, range, Instant::now()));
        }
    }

    fn write_ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>, shift: Option<&ShiftInstance>, out: &mut Vec<UiCommand>) {
        if !env.notes_can_be_written() {
            ui.label(
                RichText::new("Notes are written live, into this workstation's history cache; not in review.")
                    .color(env.theme.text_dim),
            );
            return;
        }
        if let Some(old) = &self.correcting {
            let cancel = ui
                .horizontal_wrapped(|ui| {
                    ui.label(RichText::new("Correcting:").strong());
                    ui.label(RichText::new(&old.text).color(env.theme.text_dim));
                    ui.button("Cancel correction").clicked()
                })
                .inner;
            if cancel {
                self.correcting = None;
                self.draft.clear();
            }
        }
        ui.horizontal(|ui| {
            ui.label("About");
            if let Some(old) = &self.correcting {
                ui.label(when_label(old, env.timezone));
            } else {
                egui::ComboBox::new("note_when", "").selected_text(self.when.label()).show_ui(ui, |ui| {
                    for w in When::ALL {
                        ui.selectable_value(&mut self.when, w, w.label());
                    }
                });
            }
            match &self.correcting {
                // A correction is about what the note it corrects is about.
                Some(old) => {
                    ui.label(old.subject.label());
                }
                None => {
                    egui::ComboBox::new("note_subject", "")
                        .selected_text(self.subject.label())
                        .width(260.0)
                        .show_ui(ui, |ui| subject_choices_ui(ui, &mut self.subject, env));
                }
            }
        });
        let edit = egui::TextEdit::multiline(&mut self.draft)
            .hint_text("What happened, what was done, what the next shift should know")
            .desired_rows(3)
            .desired_width(f32::INFINITY);
        let response = ui.add(edit);
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Note"));
        ui.horizontal(|ui| {
            let label = if self.correcting.is_some() { "Write correction" } else { "Write note" };
            let ready = !self.draft.trim().is_empty();
            if ui.add_enabled(ready, egui::Button::new(label)).clicked() {
                let note = self.make_note(env, shift);
                match note.problem() {
                    Some(problem) => self.problem = Some(format!("Not written: {problem}")),
                    None => {
                        self.sent.push(note.clone());
                        out.push(UiCommand::Note(Box::new(note)));
                        self.draft.clear();
                        self.correcting = None;
                        self.problem = None;
                    }
                }
            }
            ui.label(RichText::new(format!("as {}", env.operator)).color(env.theme.text_dim))
                .on_hover_text("Notes are never changed once written: a mistake is put right by a correction");
        });
    }

    fn make_note(&self, env: &ViewCtx<'_>, shift: Option<&ShiftInstance>) -> Note {
        let written = env.now_ms;
        let mut note = Note::new(new_uid(env.console, written), written, env.operator, env.now_ms, &self.draft);
        match &self.correcting {
            Some(old) => {
                (note.from_ms, note.to_ms) = (old.from_ms, old.to_ms);
                note.subject = old.subject.clone();
                note.corrects = Some(old.uid.clone());
            }
            None => {
                (note.from_ms, note.to_ms) = self.when.range(env.now_ms, shift);
                note.subject = self.subject.clone();
            }
        }
        note
    }

    /// The shift's notes, newest first (handovers marked, corrected notes struck through); `compact` in the
    /// handover, without the Correct buttons.
    fn list_ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>, compact: bool) {
        let theme = env.theme;
        if self.notes.is_empty() && self.sent.is_empty() {
            let what = if self.read_range.is_some() { "No notes in this shift yet." } else { "Reading the logbook…" };
            ui.label(RichText::new(what).color(theme.text_dim));
            return;
        }
        let corrected = corrected_by(&self.notes);
        let mut correct = None;
        for note in self.sent.iter().rev() {
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(when_label(note, env.timezone)).monospace());
                ui.label(RichText::new(&note.text));
                ui.label(RichText::new("saving…").color(theme.text_dim));
            });
        }
        for note in self.notes.iter().rev() {
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(when_label(note, env.timezone)).monospace());
                ui.label(RichText::new(note.subject.label()).strong());
                let mut text = RichText::new(&note.text);
                if let Some(h) = &note.handover {
                    ui.label(RichText::new(format!("Handover to {}", h.taken_over_by)).strong().color(theme.attention));
                }
                if corrected.contains_key(note.uid.as_str()) {
                    text = text.strikethrough().color(theme.text_dim);
                }
                ui.label(text);
                ui.label(
                    RichText::new(format!(
                        "— {}, {}",
                        note.author,
                        crate::ui::fmt_local(note.written_ms, env.timezone, "%H:%M")
                    ))
                    .color(theme.text_dim),
                );
                if let Some(by) = corrected.get(note.uid.as_str()) {
                    ui.label(RichText::new(format!("corrected by {}", by.author)).italics().color(theme.text_dim));
                }
                if !compact
                    && env.notes_can_be_written()
                    && note.handover.is_none()
                    && ui.small_button("Correct").clicked()
                {
                    correct = Some(note.clone());
                }
            });
        }
        if let Some(note) = correct {
            self.draft.clone_from(&note.text);
            self.correcting = Some(note);
            self.tab = LogbookTab::Notes;
        }
    }

    fn handover_ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>, shift: Option<&ShiftInstance>, out: &mut Vec<UiCommand>) {
        let theme = env.theme;
        let summary = HandoverSummary::of(env);
        let handed: Vec<&Note> = self.notes.iter().filter(|n| n.handover.is_some()).collect();
        for h in &handed {
            if let Some(handover) = &h.handover {
                let text = format!(
                    "Handed over to {} by {} at {}",
                    handover.taken_over_by,
                    h.author,
                    crate::ui::fmt_local(h.written_ms, env.timezone, "%H:%M")
                );
                ui.label(RichText::new(text).strong());
            }
        }
        section_ui(ui, theme, "Notes of the shift", self.notes.iter().filter(|n| n.handover.is_none()).count());
        self.list_ui(ui, env, true);
        section_ui(ui, theme, "Standing alarms", summary.standing.len());
        for a in &summary.standing {
            let since = a.active_since_ms.map(|t| format!(" · since {}", crate::ui::fmt_ago(env.now_ms, t)));
            let what = format!("{} · {} · {} · {}", a.priority.label(), a.state.label(), a.rule, a.asset);
            ui.label(format!("{what}{}", since.unwrap_or_default()));
        }
        section_ui(ui, theme, "Shelved", summary.shelved.len());
        for a in &summary.shelved {
            let until =
                a.shelved_until_ms.map(|t| crate::ui::fmt_local(t, env.timezone, "until %H:%M")).unwrap_or_default();
            ui.label(format!("{} · {} {until}", a.rule, a.asset));
        }
        section_ui(ui, theme, "Out of service", summary.out_of_service.len());
        for a in &summary.out_of_service {
            ui.label(format!("{} · {}", a.rule, a.asset));
        }
        section_ui(ui, theme, "Down machines", summary.down.len());
        for (name, why) in &summary.down {
            ui.label(format!("{name} · {why}"));
        }
        section_ui(ui, theme, "Stranded vehicles", summary.stranded.len());
        for (name, why) in &summary.stranded {
            ui.label(format!("{name} · {why}"));
        }
        ui.separator();
        if !env.notes_can_be_written() {
            ui.label(RichText::new("A handover is recorded live, not in review.").color(theme.text_dim));
            return;
        }
        ui.horizontal(|ui| {
            ui.label("Taken over by");
            let field =
                ui.add(egui::TextEdit::singleline(&mut self.taken_over_by).hint_text("name").desired_width(160.0));
            field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Incoming operator"));
        });
        let note = ui.add(
            egui::TextEdit::multiline(&mut self.handover_text)
                .hint_text("What the next shift should watch (optional)")
                .desired_rows(2)
                .desired_width(f32::INFINITY),
        );
        note.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Handover note"));
        let ready = !self.taken_over_by.trim().is_empty();
        if ui
            .add_enabled(ready, egui::Button::new("Record handover"))
            .on_hover_text("Written in the logbook with the shift, who handed over and who took over")
            .clicked()
        {
            let mut note =
                Note::new(new_uid(env.console, env.now_ms), env.now_ms, env.operator, env.now_ms, &self.handover_text);
            if let Some(s) = shift {
                (note.from_ms, note.to_ms) = (s.start_ms, Some(env.now_ms.clamp(s.start_ms, s.end_ms)));
            }
            let taker = self.taken_over_by.trim().to_owned();
            note.handover = Some(Handover {
                shift: shift.map_or_else(|| "no shift".to_owned(), |s| shift_label(s, env.timezone)),
                taken_over_by: taker.clone(),
            });
            note.text = summary.digest(&note.text);
            match note.problem() {
                Some(problem) => self.problem = Some(format!("Not recorded: {problem}")),
                None => {
                    self.sent.push(note.clone());
                    out.push(UiCommand::Note(Box::new(note)));
                    out.push(UiCommand::TakeOver(taker));
                    self.taken_over_by.clear();
                    self.handover_text.clear();
                }
            }
        }
    }

    /// The notes read last (for the trend and the tests).
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }
}

/// What the incoming operator must know, as things stand.
#[derive(Debug, Default)]
pub struct HandoverSummary<'a> {
    pub standing: Vec<&'a AlarmView>,
    pub shelved: Vec<&'a AlarmView>,
    pub out_of_service: Vec<&'a AlarmView>,
    /// (machine, state and why, since when)
    pub down: Vec<(String, String)>,
    /// (vehicle, why)
    pub stranded: Vec<(String, String)>,
}

impl<'a> HandoverSummary<'a> {
    pub fn of(env: &ViewCtx<'a>) -> Self {
        let mut s = Self::default();
        for a in env.alarms {
            match a.state {
                AlarmState::Shelved => s.shelved.push(a),
                AlarmState::OutOfService => s.out_of_service.push(a),
                AlarmState::Unacknowledged | AlarmState::Acknowledged | AlarmState::ReturnedUnacknowledged => {
                    s.standing.push(a);
                }
                AlarmState::Normal | AlarmState::Suppressed => {}
            }
        }
        // The most urgent first, then the oldest.
        s.standing.sort_by_key(|a| (a.priority, a.active_since_ms));
        for m in env.live.machines() {
            let why = match m.state {
                _ if m.stale => Some("no data".to_owned()),
                Some(MachineState::Down) => Some(format!(
                    "down{} for {}",
                    m.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
                    crate::ui::fmt_duration_secs((env.now_ms - m.state_since_ms) / 1000)
                )),
                _ => None,
            };
            if let Some(why) = why {
                s.down.push((m.path.machine.clone(), why));
            }
        }
        for v in env.live.vehicles_in_order() {
            let status = env.live.vehicle_status(v, env.now_ms);
            let level = v.soc_percent.map(|soc| env.live.thresholds(v.kind).level(soc));
            let why = if status == VehicleStatus::Offline {
                Some(format!("offline, last seen {}", crate::ui::fmt_ago(env.now_ms, v.last_seen_ms)))
            } else if level == Some(BatteryLevel::Critical) && !v.charging {
                Some(format!("battery {:.0} %, not charging", v.soc_percent.unwrap_or_default()))
            } else {
                None
            };
            if let Some(why) = why {
                s.stranded.push((v.path.vehicle.clone(), why));
            }
        }
        s
    }

    /// The handover's text: the operator's words, then the counts as they stood (kept with the record).
    fn digest(&self, words: &str) -> String {
        let counts = format!(
            "At handover: standing alarms {}, shelved {}, out of service {}, machines down {}, vehicles stranded {}.",
            self.standing.len(),
            self.shelved.len(),
            self.out_of_service.len(),
            self.down.len(),
            self.stranded.len()
        );
        if words.trim().is_empty() { counts } else { format!("{}\n{counts}", words.trim()) }
    }
}

fn section_ui(ui: &mut Ui, theme: &Theme, title: &str, count: usize) {
    ui.add_space(6.0);
    let colour = if count > 0 { theme.text_strong } else { theme.text_dim };
    ui.label(RichText::new(format!("{title} ({count})")).strong().size(15.0).color(colour));
}

/// The choices of what a note is about: in general, a machine, a vehicle, or one of the alarms shown now.
fn subject_choices_ui(ui: &mut Ui, subject: &mut Subject, env: &ViewCtx<'_>) {
    ui.selectable_value(subject, Subject::General, "General");
    ui.separator();
    for a in env.alarms.iter().take(30) {
        let choice = Subject::Alarm { rule: a.rule.clone(), source: a.source.clone(), asset: a.asset.clone() };
        let label = choice.label();
        ui.selectable_value(subject, choice, label);
    }
    ui.separator();
    for m in env.live.machines_by_line().into_iter().flat_map(|(_, machines)| machines) {
        let choice = Subject::Asset { asset: m.id.to_string() };
        ui.selectable_value(subject, choice, format!("{} / {}", m.path.line, m.path.machine));
    }
    ui.separator();
    for v in env.live.vehicles_in_order() {
        let choice = Subject::Asset { asset: v.id.to_string() };
        ui.selectable_value(subject, choice, v.path.vehicle.as_str());
    }
}

/// The range the list shows, `earlier` shifts before the one at now (8 h steps where the calendar has no shift),
/// and that shift.
fn shown_range(env: &ViewCtx<'_>, now: Option<&ShiftInstance>, earlier: u32) -> ((i64, i64), Option<ShiftInstance>) {
    const HOURS_8: i64 = 8 * 3_600_000;
    let mut range = now.map_or((env.now_ms - HOURS_8, env.now_ms + 1), |s| (s.start_ms, s.end_ms));
    let mut shift = now.cloned();
    for _ in 0..earlier {
        shift = env.calendar().shift_at(range.0 - 1);
        range = shift.as_ref().map_or((range.0 - HOURS_8, range.0), |s| (s.start_ms, s.end_ms));
    }
    (range, shift)
}

/// A note's time in site time: `09:10` or `09:10–09:40`.
fn when_label(note: &Note, tz: &TimeZone) -> String {
    let at = |ms| crate::ui::fmt_local(ms, tz, "%H:%M");
    match note.to_ms {
        Some(to) if to != note.from_ms => format!("{}–{}", at(note.from_ms), at(to)),
        _ => at(note.from_ms),
    }
}

/// A shift as people name it: `Sat 5 Dec Morning`.
pub fn shift_label(shift: &ShiftInstance, tz: &TimeZone) -> String {
    format!("{} {}", crate::ui::fmt_local(shift.start_ms, tz, "%a %-d %b"), shift.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_gives_an_instant_or_a_range_ending_now() {
        let now = 10 * 3_600_000;
        assert_eq!(When::Now.range(now, None), (now, None));
        assert_eq!(When::Last15Min.range(now, None), (now - 900_000, Some(now)));
        let shift =
            ShiftInstance { name: "A".into(), start_ms: 6 * 3_600_000, end_ms: 14 * 3_600_000, breaks_ms: vec![] };
        assert_eq!(When::ShiftSoFar.range(now, Some(&shift)), (6 * 3_600_000, Some(now)));
    }
}
