//! Machines: the seven states of DOMAIN §2 and the metric names a machine carries.

use std::fmt;

/// The state a machine reports, in the order of the integer codes 1–7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MachineState {
    Running,
    Idle,
    Starved,
    Blocked,
    Down,
    Setup,
    PlannedStop,
}

impl MachineState {
    pub const ALL: [Self; 7] =
        [Self::Running, Self::Idle, Self::Starved, Self::Blocked, Self::Down, Self::Setup, Self::PlannedStop];

    /// The wire name (`running`, …, `planned_stop`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Idle => "idle",
            Self::Starved => "starved",
            Self::Blocked => "blocked",
            Self::Down => "down",
            Self::Setup => "setup",
            Self::PlannedStop => "planned_stop",
        }
    }

    /// The name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Running => "Running",
            Self::Idle => "Idle",
            Self::Starved => "Starved",
            Self::Blocked => "Blocked",
            Self::Down => "Down",
            Self::Setup => "Setup",
            Self::PlannedStop => "Planned stop",
        }
    }

    /// The integer code 1–7.
    pub fn code(self) -> i64 {
        match self {
            Self::Running => 1,
            Self::Idle => 2,
            Self::Starved => 3,
            Self::Blocked => 4,
            Self::Down => 5,
            Self::Setup => 6,
            Self::PlannedStop => 7,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        let index = usize::try_from(code.checked_sub(1)?).ok()?;
        Self::ALL.get(index).copied()
    }

    /// Parses the wire name, case-insensitively, accepting `-` or space for `_`.
    pub fn parse(s: &str) -> Option<Self> {
        let norm: String =
            s.trim().chars().map(|c| if c == '-' || c == ' ' { '_' } else { c.to_ascii_lowercase() }).collect();
        Self::ALL.into_iter().find(|st| st.as_str() == norm)
    }

    /// Down is the only state that counts as "down" in the status bar: an unplanned stop.
    pub fn is_down(self) -> bool {
        self == Self::Down
    }

    /// Whether the state needs an operator's eye (ISA-101: only these get colour).
    pub fn is_abnormal(self) -> bool {
        matches!(self, Self::Down | Self::Starved | Self::Blocked)
    }
}

impl fmt::Display for MachineState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Metric names of a machine (DOMAIN §2), relative to the machine's prefix.
pub mod metric {
    pub const STATE: &str = "State";
    pub const REASON: &str = "Reason";
    pub const COUNT_TOTAL: &str = "Count/Total";
    pub const COUNT_GOOD: &str = "Count/Good";
    pub const COUNT_REJECT: &str = "Count/Reject";
    pub const IDEAL_CYCLE_TIME: &str = "IdealCycleTime";
    pub const TEMPERATURE: &str = "Temperature";

    /// Every machine metric the live state routes, longest first so `Count/Total` wins over a shorter suffix.
    pub const ALL: &[&str] = &[COUNT_REJECT, COUNT_TOTAL, COUNT_GOOD, IDEAL_CYCLE_TIME, TEMPERATURE, REASON, STATE];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for st in MachineState::ALL {
            assert_eq!(MachineState::from_code(st.code()), Some(st));
            assert_eq!(MachineState::parse(st.as_str()), Some(st));
        }
        assert_eq!(MachineState::from_code(0), None);
        assert_eq!(MachineState::from_code(8), None);
        assert_eq!(MachineState::parse("Planned-Stop"), Some(MachineState::PlannedStop));
        assert_eq!(MachineState::parse("exploded"), None);
    }
}
