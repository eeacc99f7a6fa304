//! Annunciation (ISA-18.2, EEMUA 191): what the workstation's horn says now, from the alarm list alone.
//!
//! - An alarm sounds while it waits for an acknowledgement (active or returned); shelved, suppressed and
//!   out-of-service alarms never sound (their states do not ask for an acknowledgement).
//! - The horn plays the sound of the most urgent alarm that sounds.
//! - *Silence* stops the horn without acknowledging anything, for a set time; after it the horn comes back for
//!   whatever still waits. A new alarm (or a new occurrence of one) as urgent as the most urgent one silenced, or
//!   more, ends the silence at once; a less urgent one waits for the silence to end.
//! - When nothing waits any more the silence is over, so the next alarm sounds at once.
//! - Mute stops every sound on this workstation until it is unmuted (shown as a standing warning by the window).
//!
//! Pure: the caller gives the alarms and the time; the same state serves the sound thread and the window.

use std::collections::HashMap;

use crate::model::alarm::{AlarmView, Priority};

/// What the horn does now, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Annunciation {
    /// The sound to play: the most urgent alarm that sounds; `None` when quiet (nothing waits, silenced, muted).
    pub sounding: Option<Priority>,
    /// How many alarms wait for an acknowledgement (and would sound).
    pub waiting: usize,
    /// The most urgent of those.
    pub most_urgent: Option<Priority>,
    /// Silenced until this time (UTC ms).
    pub silenced_until_ms: Option<i64>,
    pub muted: bool,
}

/// One silence: until when, and what was sounding then (an alarm and its occurrence).
#[derive(Clone, Debug)]
struct Silence {
    until_ms: i64,
    /// The most urgent priority silenced: a new alarm at least this urgent sounds again.
    priority: Priority,
    heard: HashMap<(String, String), Option<i64>>,
}

/// The horn's state on one workstation.
#[derive(Clone, Debug)]
pub struct Annunciator {
    silence_ms: i64,
    muted: bool,
    silence: Option<Silence>,
}

impl Annunciator {
    /// `silence_ms`: how long *Silence* lasts.
    pub fn new(silence_ms: i64, muted: bool) -> Self {
        Self { silence_ms: silence_ms.max(1_000), muted, silence: None }
    }

    pub fn silence_ms(&self) -> i64 {
        self.silence_ms
    }

    pub fn muted(&self) -> bool {
        self.muted
    }

    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
    }

    /// *Silence*: the alarms waiting now stop sounding for the silence time. Nothing waiting: nothing to silence.
    pub fn silence(&mut self, alarms: &[AlarmView], now_ms: i64) {
        let waiting: Vec<&AlarmView> = alarms.iter().filter(|a| a.state.wants_ack()).collect();
        let Some(priority) = waiting.iter().map(|a| a.priority).min() else { return };
        let heard = waiting.iter().map(|a| ((a.rule.clone(), a.source.clone()), a.active_since_ms)).collect();
        self.silence = Some(Silence { until_ms: now_ms + self.silence_ms, priority, heard });
    }

    /// What sounds now. Ends a silence that is over, or that a new alarm as urgent as the silenced ones breaks.
    pub fn evaluate(&mut self, alarms: &[AlarmView], now_ms: i64) -> Annunciation {
        let waiting: Vec<&AlarmView> = alarms.iter().filter(|a| a.state.wants_ack()).collect();
        let most_urgent = waiting.iter().map(|a| a.priority).min();
        if let Some(silence) = &self.silence {
            let over = now_ms >= silence.until_ms || waiting.is_empty();
            let broken = waiting.iter().any(|a| {
                a.priority <= silence.priority
                    && silence.heard.get(&(a.rule.clone(), a.source.clone())) != Some(&a.active_since_ms)
            });
            if over || broken {
                self.silence = None;
            }
        }
        let silenced_until_ms = self.silence.as_ref().map(|s| s.until_ms);
        let sounding = if self.muted || silenced_until_ms.is_some() { None } else { most_urgent };
        Annunciation { sounding, waiting: waiting.len(), most_urgent, silenced_until_ms, muted: self.muted }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::alarm::AlarmState;

    fn alarm(rule: &str, priority: Priority, state: AlarmState, since: i64) -> AlarmView {
        AlarmView { active_since_ms: Some(since), ..AlarmView::new(rule, "m1", priority, state) }
    }

    #[test]
    fn the_most_urgent_waiting_alarm_sounds_and_hidden_ones_never_do() {
        let mut a = Annunciator::new(60_000, false);
        assert_eq!(a.evaluate(&[], 0).sounding, None);
        let alarms = [
            alarm("low", Priority::Low, AlarmState::Unacknowledged, 0),
            alarm("high", Priority::High, AlarmState::ReturnedUnacknowledged, 0),
            alarm("acked", Priority::Urgent, AlarmState::Acknowledged, 0),
            alarm("shelved", Priority::Urgent, AlarmState::Shelved, 0),
            alarm("suppressed", Priority::Urgent, AlarmState::Suppressed, 0),
            alarm("oos", Priority::Urgent, AlarmState::OutOfService, 0),
        ];
        let now = a.evaluate(&alarms, 1);
        assert_eq!((now.sounding, now.waiting), (Some(Priority::High), 2));
        a.set_muted(true);
        let muted = a.evaluate(&alarms, 2);
        assert_eq!((muted.sounding, muted.most_urgent, muted.muted), (None, Some(Priority::High), true));
    }

    #[test]
    fn silence_lasts_its_time_and_does_not_acknowledge() {
        let mut a = Annunciator::new(60_000, false);
        let alarms = [alarm("t", Priority::High, AlarmState::Unacknowledged, 0)];
        a.silence(&alarms, 1_000);
        let quiet = a.evaluate(&alarms, 30_000);
        assert_eq!((quiet.sounding, quiet.silenced_until_ms, quiet.waiting), (None, Some(61_000), 1));
        // The time is up and the alarm still waits: it sounds again.
        assert_eq!(a.evaluate(&alarms, 61_000).sounding, Some(Priority::High));
    }

    #[test]
    fn a_new_alarm_as_urgent_breaks_the_silence_a_less_urgent_one_waits() {
        let mut a = Annunciator::new(60_000, false);
        let first = alarm("t", Priority::High, AlarmState::Unacknowledged, 0);
        a.silence(std::slice::from_ref(&first), 1_000);
        let lower = [first.clone(), alarm("l", Priority::Medium, AlarmState::Unacknowledged, 2_000)];
        assert_eq!(a.evaluate(&lower, 2_000).sounding, None, "a less urgent alarm waits");
        let same = [first.clone(), alarm("h", Priority::High, AlarmState::Unacknowledged, 3_000)];
        assert_eq!(a.evaluate(&same, 3_000).sounding, Some(Priority::High), "as urgent: sounds again");
        a.silence(&same, 4_000);
        // The silenced alarm itself comes back as a new occurrence (acknowledged, cleared, active again).
        let again = [alarm("t", Priority::High, AlarmState::Unacknowledged, 5_000), same[1].clone()];
        assert_eq!(a.evaluate(&again, 5_000).sounding, Some(Priority::High));
        a.silence(&again, 6_000);
        let urgent = [again[0].clone(), alarm("u", Priority::Urgent, AlarmState::Unacknowledged, 7_000)];
        assert_eq!(a.evaluate(&urgent, 7_000).sounding, Some(Priority::Urgent), "more urgent: sounds");
    }

    #[test]
    fn when_nothing_waits_the_silence_ends_so_the_next_alarm_sounds_at_once() {
        let mut a = Annunciator::new(600_000, false);
        let first = [alarm("t", Priority::High, AlarmState::Unacknowledged, 0)];
        a.silence(&first, 1_000);
        let acked = [alarm("t", Priority::High, AlarmState::Acknowledged, 0)];
        assert_eq!(a.evaluate(&acked, 2_000).silenced_until_ms, None);
        let low = [acked[0].clone(), alarm("l", Priority::Low, AlarmState::Unacknowledged, 3_000)];
        assert_eq!(a.evaluate(&low, 3_000).sounding, Some(Priority::Low));
        // Silence with nothing waiting does nothing.
        let mut b = Annunciator::new(60_000, false);
        b.silence(&acked, 0);
        assert_eq!(b.evaluate(&low, 1).sounding, Some(Priority::Low));
    }
}
