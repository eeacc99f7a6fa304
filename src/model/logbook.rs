//! The shift logbook: operators' notes and the handovers between shifts.
//!
//! A note is tied to an instant or a range of site time and, optionally, to what it is about: a machine, a vehicle
//! or an alarm. Notes are immutable once written: a correction is a new note that names the one it corrects (by
//! its `uid`, which stays the same in every store the note is copied to: the cache, the site database, a
//! recording). A handover is a note too: written by the outgoing operator at shift change, naming who took over.

use serde::{Deserialize, Serialize};

/// What a note is about, besides its time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// The shift or the site as a whole.
    #[default]
    General,
    /// A machine or a vehicle, by its signal-id prefix (`PlantA/Line1/Filler`, `Fleet/AGV-03`).
    Asset { asset: String },
    /// One alarm instance.
    Alarm { rule: String, source: String, asset: String },
}

impl Subject {
    /// The machine or vehicle the note concerns (an alarm's asset too), `""` for a general note.
    pub fn asset(&self) -> &str {
        match self {
            Self::General => "",
            Self::Asset { asset } | Self::Alarm { asset, .. } => asset,
        }
    }

    /// How the subject reads in a list: the asset's last path part, or the alarm.
    pub fn label(&self) -> String {
        match self {
            Self::General => "General".to_owned(),
            Self::Asset { asset } => short(asset).to_owned(),
            Self::Alarm { rule, source, .. } => format!("Alarm {rule} on {}", short(source)),
        }
    }
}

/// The last part of a signal path, the name people use (`Filler` for `PlantA/Line1/Filler`).
fn short(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A shift handed over: which shift, and who took it over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    /// The shift handed over, as the calendar names it (`2026-12-05 Morning`).
    pub shift: String,
    pub taken_over_by: String,
}

/// One logbook entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// Unique in every store (`<console>-<written ms>-<random>`), so a copy is recognised and never doubled.
    pub uid: String,
    /// When it was written, UTC ms.
    pub written_ms: i64,
    pub author: String,
    /// The instant it is about, or the start of the range it is about.
    pub from_ms: i64,
    /// The end of the range it is about; `None` for an instant.
    pub to_ms: Option<i64>,
    pub subject: Subject,
    pub text: String,
    /// The `uid` of the note this one corrects.
    pub corrects: Option<String>,
    /// Set on a handover record.
    pub handover: Option<Handover>,
}

impl Note {
    /// A note about an instant, written now; the caller sets range, subject and correction as needed.
    pub fn new(uid: String, written_ms: i64, author: &str, at_ms: i64, text: &str) -> Self {
        Self {
            uid,
            written_ms,
            author: author.trim().to_owned(),
            from_ms: at_ms,
            to_ms: None,
            subject: Subject::General,
            text: text.trim().to_owned(),
            corrects: None,
            handover: None,
        }
    }

    /// The end of what it is about (its instant for an instant).
    pub fn end_ms(&self) -> i64 {
        self.to_ms.unwrap_or(self.from_ms)
    }

    /// Whether it concerns any of `[from_ms, to_ms)`.
    pub fn overlaps(&self, from_ms: i64, to_ms: i64) -> bool {
        self.from_ms < to_ms && self.end_ms() >= from_ms
    }

    /// What is wrong with it, if anything: an empty text, no author, or a range that ends before it starts.
    pub fn problem(&self) -> Option<&'static str> {
        if self.author.is_empty() {
            Some("a note needs an author")
        } else if self.text.is_empty() && self.handover.is_none() {
            Some("a note needs a text")
        } else if self.to_ms.is_some_and(|to| to < self.from_ms) {
            Some("the range ends before it starts")
        } else if self.handover.as_ref().is_some_and(|h| h.taken_over_by.trim().is_empty()) {
            Some("a handover names who takes over")
        } else {
            None
        }
    }
}

/// A new note's `uid`: the console's name, the time it was written and a random part.
pub fn new_uid(console: &str, written_ms: i64) -> String {
    let console: String = console.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(32).collect();
    // std's hasher keys are random per `RandomState`: enough to tell two notes of one console and millisecond apart.
    let random = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), written_ms);
    format!("{console}-{written_ms}-{:08x}", random & 0xffff_ffff)
}

/// The notes that a later note corrects, by `uid`: a list shows them struck through with the correction's author.
pub fn corrected_by(notes: &[Note]) -> std::collections::HashMap<&str, &Note> {
    notes.iter().filter_map(|n| n.corrects.as_deref().map(|c| (c, n))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_overlaps_what_it_touches_and_an_instant_only_its_moment() {
        let mut n = Note::new("a".into(), 0, "ana", 100, "jam cleared");
        assert!(n.overlaps(100, 101));
        assert!(n.overlaps(0, 101));
        assert!(!n.overlaps(101, 200));
        assert!(!n.overlaps(0, 100), "the range's end is open");
        n.to_ms = Some(300);
        assert!(n.overlaps(250, 400));
        assert!(n.overlaps(300, 400), "a range includes its end instant");
        assert!(!n.overlaps(301, 400));
    }

    #[test]
    fn problems_are_named() {
        let ok = Note::new("a".into(), 0, " ana ", 100, " text ");
        assert_eq!(ok.author, "ana");
        assert_eq!(ok.text, "text");
        assert_eq!(ok.problem(), None);
        assert!(Note::new("a".into(), 0, "", 100, "x").problem().is_some());
        assert!(Note::new("a".into(), 0, "ana", 100, "  ").problem().is_some());
        let mut backwards = ok.clone();
        backwards.to_ms = Some(50);
        assert_eq!(backwards.problem(), Some("the range ends before it starts"));
        let mut handover = Note::new("h".into(), 0, "ana", 100, "");
        handover.handover = Some(Handover { shift: "Morning".into(), taken_over_by: " ".into() });
        assert_eq!(handover.problem(), Some("a handover names who takes over"));
        handover.handover = Some(Handover { shift: "Morning".into(), taken_over_by: "ben".into() });
        assert_eq!(handover.problem(), None, "a handover may have no comment");
    }

    #[test]
    fn uids_differ_and_name_the_console() {
        let a = new_uid("ops desk 1", 5);
        let b = new_uid("ops desk 1", 5);
        assert_ne!(a, b);
        assert!(a.starts_with("opsdesk1-5-"), "{a}");
    }

    #[test]
    fn corrections_are_found_by_uid() {
        let first = Note::new("a".into(), 0, "ana", 100, "filler jammed");
        let mut fix = Note::new("b".into(), 10, "ana", 100, "capper jammed, not the filler");
        fix.corrects = Some("a".into());
        let notes = vec![first, fix];
        let by = corrected_by(&notes);
        assert_eq!(by.get("a").map(|n| n.uid.as_str()), Some("b"));
        assert!(!by.contains_key("b"));
    }
}
