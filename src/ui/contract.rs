//! The one contract between the views and the app. Every view draws from one read-only [`ViewCtx`], built once a
//! frame, and asks for what it wants done with [`UiCommand`]s; one place in the app carries them out (the alarm
//! desk decides whether an alarm action or a note goes to this window's history writer or to the site database).
//! A view never sends anything itself and never blocks.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::tz::TimeZone;

use crate::analytics::annunciation::Annunciation;
use crate::feeds::DiagHandle;
use crate::live::LiveState;
use crate::model::ShiftCalendar;
use crate::model::history::OperatorAction;
use crate::model::logbook::Note;
use crate::store::{AlarmView, History};
use crate::ui::View;
use crate::ui::theme::Theme;

/// The review's range and cursor, as the views show them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReviewCursor {
    pub from_ms: i64,
    pub to_ms: i64,
    /// The instant reviewed.
    pub at_ms: i64,
}

/// What every view reads this frame: the site live, or in review as it was at the cursor.
pub struct ViewCtx<'a> {
    pub theme: &'a Theme,
    pub live: &'a LiveState,
    /// Now, or the review's cursor.
    pub now_ms: i64,
    /// The gateways that are simulators (they take injected faults).
    pub sims: &'a HashSet<Arc<str>>,
    /// The history reader (a dropped recording's own under review); `None` with no history cache at all.
    pub history: Option<&'a History>,
    /// The alarms shown: live (the site's on a console), or as they stood at the review's cursor.
    pub alarms: &'a [AlarmView],
    /// Who acts from this window.
    pub operator: &'a str,
    pub timezone: &'a TimeZone,
    pub diagnostics: &'a [DiagHandle],
    /// In review: the range and the cursor.
    pub cursor: Option<ReviewCursor>,
    pub reviewing: bool,
    pub horn: &'a Annunciation,
    /// The annunciator's clock now (for the silence's time left).
    pub horn_now_ms: i64,
    pub kiosk: bool,
    /// The history writer's count of stored logbook notes (the list is read again when it moves).
    pub notes_written: u64,
    /// Logbook notes can be written (a history writer is running).
    pub notes_writable: bool,
    /// This workstation's name (the logbook's note ids).
    pub console: &'a str,
    /// The area an asset belongs to (a machine's area, "Fleet", "Gateways").
    pub area_of: &'a dyn Fn(&str) -> String,
}

impl ViewCtx<'_> {
    /// The shift calendar of the site shown.
    pub fn calendar(&self) -> &ShiftCalendar {
        self.live.oee.calendar()
    }

    /// Logbook notes can be written now: a history writer runs, and this is not review.
    pub fn notes_can_be_written(&self) -> bool {
        self.notes_writable && !self.reviewing
    }
}

/// What a view asks the app to do.
#[derive(Clone, Debug, PartialEq)]
pub enum UiCommand {
    /// To a gateway's feed: a fault injected into a simulator, an OPC UA mapping added.
    Feed(crate::feeds::Command),
    /// An operator acknowledges, shelves, unshelves or takes alarms out of (or back into) service.
    Alarm(OperatorAction),
    /// A logbook note, or a handover, to keep.
    Note(Box<Note>),
    /// A handover was recorded: the incoming operator acts from this window from now on.
    TakeOver(String),
    /// Review: move the cursor to this time (picked on the trend).
    Seek(i64),
    /// Silence the horn.
    Silence,
    /// Mute (or unmute) the horn at this workstation.
    Mute(bool),
    /// Put a popped-out view back into the main window.
    BringBack(View),
}
