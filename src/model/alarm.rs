//! Alarms as ISA-18.2 / IEC 62682 describe them (DOMAIN §4): one instance per (rule, source), whose state is
//! made of whether its condition is active, whether the operator has acknowledged it, and three overlays that hide
//! it — shelved by an operator for a time, suppressed by design (logic, e.g. a planned stop), out of service.
//!
//! Every change goes through a method that returns the [`Transition`] to journal (time, from, to, user, comment,
//! value), or `None` when nothing changed: a repeated activation (reconnect, backfill) is not a second alarm.

/// How urgent an alarm is. Shown by colour, shape and text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Urgent,
    High,
    Medium,
    Low,
}

impl Priority {
    pub const ALL: [Self; 4] = [Self::Urgent, Self::High, Self::Medium, Self::Low];

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "urgent" | "critical" | "emergency" => Some(Self::Urgent),
            "high" => Some(Self::High),
            "medium" => Some(Self::Medium),
            "low" => Some(Self::Low),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Urgent => "Urgent",
            Self::High => "High",
            Self::Medium => "Medium",
            Self::Low => "Low",
        }
    }
}

/// The state an operator sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlarmState {
    /// Not active and acknowledged.
    Normal,
    /// Active, not acknowledged.
    Unacknowledged,
    /// Active and acknowledged.
    Acknowledged,
    /// Cleared but not yet acknowledged.
    ReturnedUnacknowledged,
    /// Hidden by an operator until a time.
    Shelved,
    /// Hidden by design logic (e.g. the machine is in a planned stop).
    Suppressed,
    /// Taken out of service (maintenance).
    OutOfService,
}

impl AlarmState {
    pub fn label(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Unacknowledged => "Unacknowledged",
            Self::Acknowledged => "Acknowledged",
            Self::ReturnedUnacknowledged => "Returned, unacknowledged",
            Self::Shelved => "Shelved",
            Self::Suppressed => "Suppressed",
            Self::OutOfService => "Out of service",
        }
    }

    pub const ALL: [Self; 7] = [
        Self::Normal,
        Self::Unacknowledged,
        Self::Acknowledged,
        Self::ReturnedUnacknowledged,
        Self::Shelved,
        Self::Suppressed,
        Self::OutOfService,
    ];

    /// From its label (as journaled).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.label() == s)
    }

    /// Whether the operator is asked to act (shown in the banner, blinking).
    pub fn wants_ack(self) -> bool {
        matches!(self, Self::Unacknowledged | Self::ReturnedUnacknowledged)
    }

    /// Whether it is annunciated (banner, map): not normal, and not hidden by shelving, design suppression or
    /// being out of service — those are listed in the Alarms view only (ISA-18.2).
    pub fn annunciated(self) -> bool {
        matches!(self, Self::Unacknowledged | Self::Acknowledged | Self::ReturnedUnacknowledged)
    }
}

/// One journal entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub ts_ms: i64,
    pub from: AlarmState,
    pub to: AlarmState,
    /// Who did it; empty for the system (the condition, a timer, design logic).
    pub user: String,
    pub comment: String,
    /// The signal's value at the time, when there is one.
    pub value: Option<f64>,
}

/// One alarm instance: a rule on one source.
#[derive(Clone, Debug, PartialEq)]
pub struct Alarm {
    /// Whether the condition holds (after its delays).
    pub active: bool,
    pub acked: bool,
    /// Shelved until this time (UTC ms), and why.
    pub shelved: Option<(i64, String)>,
    pub suppressed: bool,
    pub out_of_service: bool,
    /// When it last became active.
    pub active_since_ms: Option<i64>,
    /// The last value the condition saw.
    pub value: Option<f64>,
}

impl Default for Alarm {
    fn default() -> Self {
        Self {
            active: false,
            acked: true,
            shelved: None,
            suppressed: false,
            out_of_service: false,
            active_since_ms: None,
            value: None,
        }
    }
}

impl Alarm {
    pub fn state(&self) -> AlarmState {
        if self.out_of_service {
            AlarmState::OutOfService
        } else if self.suppressed {
            AlarmState::Suppressed
        } else if self.shelved.is_some() {
            AlarmState::Shelved
        } else {
            match (self.active, self.acked) {
                (false, true) => AlarmState::Normal,
                (true, false) => AlarmState::Unacknowledged,
                (true, true) => AlarmState::Acknowledged,
                (false, false) => AlarmState::ReturnedUnacknowledged,
            }
        }
    }

    /// Applies `change` and returns the transition if the visible state changed.
    fn change(&mut self, ts_ms: i64, user: &str, comment: &str, change: impl FnOnce(&mut Self)) -> Option<Transition> {
        let from = self.state();
        change(self);
        let to = self.state();
        (from != to).then(|| Transition {
            ts_ms,
            from,
            to,
            user: user.to_owned(),
            comment: comment.to_owned(),
            value: self.value,
        })
    }

    /// The condition became true. Needs an acknowledgement again, even while shelved or suppressed (it shows
    /// when the overlay ends). Already active: nothing.
    pub fn activate(&mut self, ts_ms: i64, value: Option<f64>) -> Option<Transition> {
        if self.active {
            self.value = value.or(self.value);
            return None;
        }
        let out = self.change(ts_ms, "", "", |a| {
            a.active = true;
            a.acked = false;
            a.active_since_ms = Some(ts_ms);
            a.value = value;
        });
        // Hidden alarms still journal that the condition came, so the record is complete.
        out.or_else(|| Some(self.unseen(ts_ms, "active", value)))
    }

    /// The journal entry of a condition change while the alarm is hidden (its visible state stays).
    fn unseen(&self, ts_ms: i64, comment: &str, value: Option<f64>) -> Transition {
        let state = self.state();
        Transition { ts_ms, from: state, to: state, user: String::new(), comment: comment.to_owned(), value }
    }

    /// The condition cleared (after its delay). An unacknowledged alarm stays until acknowledged.
    pub fn clear(&mut self, ts_ms: i64, value: Option<f64>) -> Option<Transition> {
        if !self.active {
            return None;
        }
        let out = self.change(ts_ms, "", "", |a| {
            a.active = false;
            a.value = value.or(a.value);
        });
        out.or_else(|| Some(self.unseen(ts_ms, "cleared", value)))
    }

    /// The operator acknowledges. Only an alarm that wants it changes.
    pub fn acknowledge(&mut self, ts_ms: i64, user: &str, comment: &str) -> Option<Transition> {
        if !self.state().wants_ack() {
            return None;
        }
        self.change(ts_ms, user, comment, |a| a.acked = true)
    }

    /// The operator shelves it until `until_ms`, saying why.
    pub fn shelve(&mut self, ts_ms: i64, until_ms: i64, user: &str, reason: &str) -> Option<Transition> {
        if until_ms <= ts_ms || self.out_of_service {
            return None;
        }
        self.change(ts_ms, user, reason, |a| a.shelved = Some((until_ms, reason.to_owned())))
    }

    /// Unshelves by hand, or when the time is up (`tick`).
    pub fn unshelve(&mut self, ts_ms: i64, user: &str, comment: &str) -> Option<Transition> {
        self.shelved.as_ref()?;
        self.change(ts_ms, user, comment, |a| a.shelved = None)
    }

    /// Time passes: a shelf whose time is up ends.
    pub fn tick(&mut self, now_ms: i64) -> Option<Transition> {
        match &self.shelved {
            Some((until, _)) if *until <= now_ms => {
                let until = *until;
                self.unshelve(until, "", "shelf time over")
            }
            _ => None,
        }
    }

    /// Design logic hides or shows it.
    pub fn set_suppressed(&mut self, ts_ms: i64, suppressed: bool, why: &str) -> Option<Transition> {
        if self.suppressed == suppressed {
            return None;
        }
        self.change(ts_ms, "", why, |a| a.suppressed = suppressed)
    }

    /// Maintenance takes it out of service or returns it.
    pub fn set_out_of_service(&mut self, ts_ms: i64, out: bool, user: &str, comment: &str) -> Option<Transition> {
        if self.out_of_service == out {
            return None;
        }
        self.change(ts_ms, user, comment, |a| {
            a.out_of_service = out;
            if out {
                a.shelved = None;
            }
        })
    }
}

/// A limit a value is past, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    HiHi,
    Hi,
    Lo,
    LoLo,
}

impl Limit {
    pub fn parse(s: &str) -> Option<Self> {
        [Self::HiHi, Self::Hi, Self::Lo, Self::LoLo].into_iter().find(|l| l.label() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::HiHi => "HIHI",
            Self::Hi => "HI",
            Self::Lo => "LO",
            Self::LoLo => "LOLO",
        }
    }

    pub(crate) fn severity(self) -> u8 {
        match self {
            Self::HiHi | Self::LoLo => 2,
            Self::Hi | Self::Lo => 1,
        }
    }
}

/// One journal entry with what it is about.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The instance it belongs to (for operator actions).
    pub index: usize,
    pub rule: String,
    pub source: String,
    /// The machine, vehicle, gateway or node the source belongs to.
    pub asset: String,
    pub priority: Priority,
    /// The limit in force after the change, if any.
    pub limit: Option<Limit>,
    /// The alarm after the change: whether its condition is active and whether it is acknowledged.
    pub active: bool,
    pub acked: bool,
    /// Shelved until (UTC ms) after the change, so a shelf is put back after a restart.
    pub shelved_until_ms: Option<i64>,
    pub message: String,
    pub transition: Transition,
}

/// An alarm's state as its last journal entry left it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    pub active: bool,
    pub acked: bool,
    pub limit: Option<Limit>,
    /// Out of service stays so across a restart.
    pub out_of_service: bool,
    /// Shelved until (UTC ms), and why; a shelf whose time passed while nothing ran ends at the first tick.
    pub shelved: Option<(i64, String)>,
}

/// One journal entry's columns, as both history stores keep them: the last one of an alarm is where a restart
/// puts it back.
pub struct JournalColumns {
    pub active: bool,
    pub acked: bool,
    pub limit: Option<String>,
    pub state: String,
    pub shelved_until_ms: Option<i64>,
    pub comment: String,
}

impl Restored {
    /// The alarm as its last journal entry left it.
    pub fn from_journal(last: JournalColumns) -> Self {
        Self {
            active: last.active,
            acked: last.acked,
            limit: last.limit.as_deref().and_then(Limit::parse),
            out_of_service: last.state == AlarmState::OutOfService.label(),
            // The shelve's own entry says why; a later entry while shelved ("active") does not.
            shelved: last.shelved_until_ms.map(|until| {
                (until, if last.state == AlarmState::Shelved.label() { last.comment } else { String::new() })
            }),
        }
    }
}

/// The operator's side of an alarm as a console left it in the site database: the history writer that judges the
/// conditions takes it over without journaling it again (the console did).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperatorState {
    pub acked: bool,
    /// The occurrence the acknowledgement belongs to: when the alarm last became active. An acknowledgement of an
    /// older occurrence does not acknowledge a newer one.
    pub occurrence_ms: Option<i64>,
    /// Shelved until (UTC ms), and why.
    pub shelved: Option<(i64, String)>,
    pub out_of_service: bool,
}

/// One alarm as the window shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmView {
    /// The alarm instance's index, for operator actions.
    pub index: usize,
    pub rule: String,
    pub source: String,
    /// The machine, vehicle, gateway or node it belongs to.
    pub asset: String,
    pub priority: Priority,
    pub state: AlarmState,
    /// Whether its condition holds now (a shelved or suppressed alarm may still be active).
    pub active: bool,
    pub active_since_ms: Option<i64>,
    pub shelved_until_ms: Option<i64>,
    pub value: Option<f64>,
    pub limit: Option<Limit>,
    /// What it says, with the live value.
    pub message: String,
}

impl AlarmView {
    /// An alarm of `rule` on `source` in `state`, with nothing else known (no value, limit or times yet): callers
    /// fill in the rest.
    pub fn new(rule: &str, source: &str, priority: Priority, state: AlarmState) -> Self {
        Self {
            index: 0,
            rule: rule.to_owned(),
            source: source.to_owned(),
            asset: source.to_owned(),
            priority,
            state,
            active: matches!(state, AlarmState::Unacknowledged | AlarmState::Acknowledged),
            active_since_ms: None,
            shelved_until_ms: None,
            value: None,
            limit: None,
            message: String::new(),
        }
    }
}

/// One journal entry as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalEntry {
    pub id: i64,
    pub ts_ms: i64,
    pub rule: String,
    pub source: String,
    pub asset: String,
    pub priority: Priority,
    pub from: AlarmState,
    pub to: AlarmState,
    pub user: String,
    pub comment: String,
    pub value: Option<f64>,
    pub limit: Option<String>,
    pub message: String,
    pub active: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlarmState as S;

    fn step(t: Option<Transition>) -> (S, S) {
        let t = t.expect("a transition");
        (t.from, t.to)
    }

    #[test]
    fn the_full_cycle_active_ack_clear_and_clear_before_ack() {
        let mut a = Alarm::default();
        assert_eq!(a.state(), S::Normal);
        assert_eq!(step(a.activate(1, Some(90.0))), (S::Normal, S::Unacknowledged));
        assert!(a.activate(2, Some(91.0)).is_none(), "already active: no second alarm");
        let t = a.acknowledge(3, "anna", "checking the cooler").expect("ack");
        assert_eq!(
            (t.from, t.to, t.user.as_str(), t.comment.as_str()),
            (S::Unacknowledged, S::Acknowledged, "anna", "checking the cooler")
        );
        assert_eq!(t.value, Some(91.0));
        assert!(a.acknowledge(4, "anna", "").is_none(), "nothing to acknowledge");
        assert_eq!(step(a.clear(5, Some(80.0))), (S::Acknowledged, S::Normal));
        // Cleared before anyone acknowledged: it waits for the acknowledgement.
        a.activate(6, Some(95.0));
        assert_eq!(step(a.clear(7, Some(70.0))), (S::Unacknowledged, S::ReturnedUnacknowledged));
        assert!(a.clear(8, None).is_none());
        assert_eq!(step(a.acknowledge(9, "ben", "")), (S::ReturnedUnacknowledged, S::Normal));
    }

    #[test]
    fn a_shelf_hides_the_alarm_until_its_time_is_up() {
        let mut a = Alarm::default();
        a.activate(0, Some(1.0));
        assert!(a.shelve(10, 10, "anna", "sensor swap").is_none(), "a shelf needs a duration");
        assert_eq!(step(a.shelve(10, 610, "anna", "sensor swap")), (S::Unacknowledged, S::Shelved));
        // While shelved, the condition still comes and goes, and is journaled without showing.
        let hidden = a.clear(100, Some(0.0)).expect("journaled");
        assert_eq!((hidden.from, hidden.to), (S::Shelved, S::Shelved));
        assert!(a.tick(609).is_none());
        let back = a.tick(700).expect("back");
        assert_eq!((back.from, back.to, back.ts_ms), (S::Shelved, S::ReturnedUnacknowledged, 610));
        assert_eq!(back.comment, "shelf time over");
    }

    #[test]
    fn suppression_and_out_of_service_hide_and_return_it() {
        let mut a = Alarm::default();
        assert_eq!(step(a.set_suppressed(1, true, "planned stop")), (S::Normal, S::Suppressed));
        assert!(a.set_suppressed(2, true, "planned stop").is_none());
        a.activate(3, None);
        assert_eq!(a.state(), S::Suppressed);
        assert_eq!(step(a.set_suppressed(4, false, "running")), (S::Suppressed, S::Unacknowledged));
        a.shelve(5, 100, "anna", "x");
        assert_eq!(step(a.set_out_of_service(6, true, "tech", "calibration")), (S::Shelved, S::OutOfService));
        assert!(a.shelved.is_none(), "out of service ends a shelf");
        assert!(a.shelve(7, 100, "anna", "x").is_none(), "an alarm out of service is not shelved");
        assert_eq!(step(a.set_out_of_service(8, false, "tech", "done")), (S::OutOfService, S::Unacknowledged));
    }

    #[test]
    fn priorities_parse_and_order() {
        assert_eq!(Priority::parse("HIGH"), Some(Priority::High));
        assert_eq!(Priority::parse("severe"), None);
        assert!(Priority::Urgent < Priority::Low, "most urgent first");
    }
}
