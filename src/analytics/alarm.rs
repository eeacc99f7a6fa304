//! Limit alarms on a numeric signal (hi, hihi, lo, lolo) with a deadband and on/off delays, the two tools that
//! keep an alarm from chattering (DOMAIN §4). Pure: fed with values in time order and ticked with the clock, so
//! an on-delay completes even when the signal reports only on change.
//!
//! The deadband applies on the way back: a value past `hi` raises the alarm; it clears only once the value is
//! below `hi − deadband`. The on-delay is how long a limit must be passed before the alarm is raised, the
//! off-delay how long it must be back before it clears; a change is dated when its delay is over.
//!
//! [`Engine`] holds the configured rules and one alarm per rule (its source is the rule's signal), feeds them
//! values and the clock, and passes operator actions on; every change comes out as a journal [`Entry`].

use std::collections::HashMap;

use crate::model::alarm::{Alarm, Priority, Transition};

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

    fn severity(self) -> u8 {
        match self {
            Self::HiHi | Self::LoLo => 2,
            Self::Hi | Self::Lo => 1,
        }
    }
}

/// A rule's limits and delays.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    pub hihi: Option<f64>,
    pub hi: Option<f64>,
    pub lo: Option<f64>,
    pub lolo: Option<f64>,
    /// In the signal's unit; never negative.
    pub deadband: f64,
    pub on_delay_ms: i64,
    pub off_delay_ms: i64,
}

impl Limits {
    /// The most severe limit `v` is past, given the limit in force (which it must come back past by the deadband
    /// to leave).
    pub fn level(&self, v: f64, current: Option<Limit>) -> Option<Limit> {
        let db = self.deadband.max(0.0);
        let held = |l: Limit| current.is_some_and(|c| c == l || (c.severity() > l.severity() && same_side(c, l)));
        let high = |limit: Option<f64>, l: Limit| limit.is_some_and(|x| if held(l) { v > x - db } else { v >= x });
        let low = |limit: Option<f64>, l: Limit| limit.is_some_and(|x| if held(l) { v < x + db } else { v <= x });
        if high(self.hihi, Limit::HiHi) {
            Some(Limit::HiHi)
        } else if high(self.hi, Limit::Hi) {
            Some(Limit::Hi)
        } else if low(self.lolo, Limit::LoLo) {
            Some(Limit::LoLo)
        } else if low(self.lo, Limit::Lo) {
            Some(Limit::Lo)
        } else {
            None
        }
    }
}

fn same_side(a: Limit, b: Limit) -> bool {
    matches!(
        (a, b),
        (Limit::HiHi | Limit::Hi, Limit::HiHi | Limit::Hi) | (Limit::LoLo | Limit::Lo, Limit::LoLo | Limit::Lo)
    )
}

/// What the check decided.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change {
    /// Past a limit (or a more or less severe one than before), from `ts_ms`.
    Active { ts_ms: i64, limit: Limit, value: f64 },
    /// Back within every limit, from `ts_ms`.
    Cleared { ts_ms: i64, value: f64 },
}

/// One rule's running check on one signal.
#[derive(Clone, Debug, Default)]
pub struct LimitCheck {
    pub limits: Limits,
    /// The limit in force (after delays).
    level: Option<Limit>,
    /// A different level the values have shown since a time, waiting for its delay.
    pending: Option<(Option<Limit>, i64)>,
    last: Option<(i64, f64)>,
}

impl LimitCheck {
    pub fn new(limits: Limits) -> Self {
        Self { limits, ..Self::default() }
    }

    pub fn level(&self) -> Option<Limit> {
        self.level
    }

    /// Sets the limit in force and the newest value seen (an alarm restored after a restart); values older than
    /// that are ignored, the next newer one is judged against the limit.
    pub fn restore(&mut self, level: Option<Limit>, last: Option<(i64, f64)>) {
        self.level = level;
        self.pending = None;
        self.last = last.or(self.last);
    }

    /// Takes a value; an older one than the last is ignored (backfill does not re-raise history).
    pub fn push(&mut self, ts_ms: i64, value: f64) -> Option<Change> {
        if !value.is_finite() || self.last.is_some_and(|(t, _)| ts_ms < t) {
            return None;
        }
        self.last = Some((ts_ms, value));
        let raw = self.limits.level(value, self.level);
        if raw == self.level {
            self.pending = None;
            return None;
        }
        match self.pending {
            Some((p, _)) if p == raw => {}
            _ => self.pending = Some((raw, ts_ms)),
        }
        self.tick(ts_ms)
    }

    /// Time passes with the last value held: a delay that is over takes effect.
    pub fn tick(&mut self, now_ms: i64) -> Option<Change> {
        let (raw, since) = self.pending?;
        let (_, value) = self.last?;
        let worse = match (raw, self.level) {
            (Some(r), Some(c)) => r.severity() > c.severity(),
            (Some(_), None) => true,
            (None, _) => false,
        };
        let delay = if worse { self.limits.on_delay_ms } else { self.limits.off_delay_ms };
        if now_ms - since < delay {
            return None;
        }
        let ts_ms = since + delay;
        self.level = raw;
        self.pending = None;
        Some(match raw {
            Some(limit) => Change::Active { ts_ms, limit, value },
            None => Change::Cleared { ts_ms, value },
        })
    }
}

/// A limit rule from the config.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub name: String,
    /// The signal id it watches (its source).
    pub signal: String,
    pub limits: Limits,
    pub priority: Priority,
}

/// One journal entry with what it is about.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub rule: String,
    pub source: String,
    pub priority: Priority,
    /// The limit in force after the change, if any.
    pub limit: Option<Limit>,
    /// The alarm after the change: whether its condition is active and whether it is acknowledged.
    pub active: bool,
    pub acked: bool,
    pub transition: Transition,
}

struct Instance {
    check: LimitCheck,
    alarm: Alarm,
}

/// Every rule's alarm, evaluated as values arrive and as time passes.
pub struct Engine {
    rules: Vec<Rule>,
    instances: Vec<Instance>,
    by_signal: HashMap<String, Vec<usize>>,
}

impl Engine {
    pub fn new(rules: Vec<Rule>) -> Self {
        let mut by_signal: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            by_signal.entry(r.signal.clone()).or_default().push(i);
        }
        let instances =
            rules.iter().map(|r| Instance { check: LimitCheck::new(r.limits), alarm: Alarm::default() }).collect();
        Self { rules, instances, by_signal }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Puts rule `i`'s alarm back as its last journal entry left it (after a restart): active, acknowledged,
    /// at which limit; `last` is the newest value already judged, so replayed older data changes nothing.
    pub fn restore(&mut self, i: usize, active: bool, acked: bool, limit: Option<Limit>, last: Option<(i64, f64)>) {
        if let Some(x) = self.instances.get_mut(i) {
            x.alarm.active = active;
            x.alarm.acked = acked;
            x.check.restore(if active { limit } else { None }, last);
        }
    }

    /// Rule `i`'s limit in force.
    pub fn limit(&self, i: usize) -> Option<Limit> {
        self.instances.get(i).and_then(|x| x.check.level())
    }

    /// Rule `i`'s alarm.
    pub fn alarm(&self, i: usize) -> Option<&Alarm> {
        self.instances.get(i).map(|x| &x.alarm)
    }

    fn entry(&self, i: usize, transition: Transition) -> Entry {
        let rule = &self.rules[i];
        Entry {
            rule: rule.name.clone(),
            source: rule.signal.clone(),
            priority: rule.priority,
            limit: self.instances[i].check.level(),
            active: self.instances[i].alarm.active,
            acked: self.instances[i].alarm.acked,
            transition,
        }
    }

    fn apply(&mut self, i: usize, change: Option<Change>, out: &mut Vec<Entry>) {
        let alarm = &mut self.instances[i].alarm;
        let transition = match change {
            Some(Change::Active { ts_ms, limit, value }) => {
                let was_active = alarm.active;
                alarm.activate(ts_ms, Some(value)).or_else(|| {
                    // Already active, at another limit: the escalation or its easing is journaled too.
                    was_active.then(|| {
                        let state = alarm.state();
                        Transition {
                            ts_ms,
                            from: state,
                            to: state,
                            user: String::new(),
                            comment: limit.label().to_owned(),
                            value: Some(value),
                        }
                    })
                })
            }
            Some(Change::Cleared { ts_ms, value }) => alarm.clear(ts_ms, Some(value)),
            None => None,
        };
        if let Some(t) = transition {
            out.push(self.entry(i, t));
        }
    }

    /// A value of `signal`; changes go to `out`.
    pub fn push(&mut self, signal: &str, ts_ms: i64, value: f64, out: &mut Vec<Entry>) {
        let Some(rules) = self.by_signal.get(signal).cloned() else { return };
        for i in rules {
            let change = self.instances[i].check.push(ts_ms, value);
            self.apply(i, change, out);
        }
    }

    /// Time passes: delays complete, shelves end.
    pub fn tick(&mut self, now_ms: i64, out: &mut Vec<Entry>) {
        for i in 0..self.instances.len() {
            let change = self.instances[i].check.tick(now_ms);
            self.apply(i, change, out);
            if let Some(t) = self.instances[i].alarm.tick(now_ms) {
                out.push(self.entry(i, t));
            }
        }
    }

    /// The operator acknowledges rule `i`'s alarm.
    pub fn acknowledge(&mut self, i: usize, ts_ms: i64, user: &str, comment: &str, out: &mut Vec<Entry>) {
        if let Some(t) = self.instances.get_mut(i).and_then(|x| x.alarm.acknowledge(ts_ms, user, comment)) {
            out.push(self.entry(i, t));
        }
    }

    /// The operator shelves rule `i`'s alarm until `until_ms`.
    pub fn shelve(&mut self, i: usize, ts_ms: i64, until_ms: i64, user: &str, reason: &str, out: &mut Vec<Entry>) {
        if let Some(t) = self.instances.get_mut(i).and_then(|x| x.alarm.shelve(ts_ms, until_ms, user, reason)) {
            out.push(self.entry(i, t));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hi(hi: f64, deadband: f64) -> Limits {
        Limits { hi: Some(hi), deadband, ..Limits::default() }
    }

    #[test]
    fn the_deadband_keeps_noise_at_the_limit_from_chattering() {
        let mut c = LimitCheck::new(hi(85.0, 2.0));
        assert_eq!(c.push(0, 84.0), None);
        assert_eq!(c.push(1_000, 85.0), Some(Change::Active { ts_ms: 1_000, limit: Limit::Hi, value: 85.0 }));
        // Noise around the limit: no clear until below 83.
        for (k, v) in [84.5, 85.5, 83.5, 84.9, 83.1].into_iter().enumerate() {
            assert_eq!(c.push(2_000 + i64::try_from(k).expect("small") * 1_000, v), None, "{v}");
        }
        assert_eq!(c.push(9_000, 82.9), Some(Change::Cleared { ts_ms: 9_000, value: 82.9 }));
        // Without a deadband the same values would have chattered.
        let mut bare = LimitCheck::new(hi(85.0, 0.0));
        let changes = [84.0, 85.0, 84.5, 85.5, 83.5, 85.0]
            .iter()
            .enumerate()
            .filter_map(|(k, v)| bare.push(i64::try_from(k).expect("small"), *v));
        assert_eq!(changes.count(), 5);
    }

    #[test]
    fn an_on_delay_ignores_a_short_spike_and_dates_the_alarm_when_it_is_over() {
        let mut c = LimitCheck::new(Limits { on_delay_ms: 10_000, off_delay_ms: 5_000, ..hi(85.0, 0.0) });
        assert_eq!(c.push(0, 90.0), None);
        assert_eq!(c.push(4_000, 80.0), None, "back within 4 s: never raised");
        assert_eq!(c.level(), None);
        assert_eq!(c.push(20_000, 90.0), None);
        // A signal that reports only on change: the clock completes the delay.
        assert_eq!(c.tick(29_999), None);
        assert_eq!(c.tick(31_000), Some(Change::Active { ts_ms: 30_000, limit: Limit::Hi, value: 90.0 }));
        // Off-delay: back for 3 s, up again, then back for good.
        assert_eq!(c.push(40_000, 80.0), None);
        assert_eq!(c.push(43_000, 90.0), None);
        assert_eq!(c.push(50_000, 80.0), None);
        assert_eq!(c.push(55_000, 80.0), Some(Change::Cleared { ts_ms: 55_000, value: 80.0 }));
    }

    #[test]
    fn hihi_escalates_and_falls_back_to_hi_and_lo_limits_mirror_them() {
        let limits = Limits {
            hihi: Some(95.0),
            hi: Some(85.0),
            lo: Some(10.0),
            lolo: Some(5.0),
            deadband: 1.0,
            ..Limits::default()
        };
        let mut c = LimitCheck::new(limits);
        assert!(matches!(c.push(0, 86.0), Some(Change::Active { limit: Limit::Hi, .. })));
        assert!(matches!(c.push(1, 96.0), Some(Change::Active { limit: Limit::HiHi, .. })));
        assert_eq!(c.push(2, 94.5), None, "inside the hihi deadband");
        assert!(matches!(c.push(3, 93.0), Some(Change::Active { limit: Limit::Hi, .. })));
        assert!(matches!(c.push(4, 50.0), Some(Change::Cleared { .. })));
        assert!(matches!(c.push(5, 4.0), Some(Change::Active { limit: Limit::LoLo, .. })));
        assert!(c.push(6, 5.5).is_none(), "inside the lolo deadband");
        assert!(matches!(c.push(7, 8.0), Some(Change::Active { limit: Limit::Lo, .. })));
        assert!(c.push(8, 10.5).is_none(), "inside the lo deadband");
        assert!(matches!(c.push(9, 11.5), Some(Change::Cleared { .. })));
    }

    #[test]
    fn old_and_bad_values_are_ignored() {
        let mut c = LimitCheck::new(hi(85.0, 0.0));
        c.push(10, 50.0);
        assert_eq!(c.push(5, 99.0), None, "backfill older than what was seen");
        assert_eq!(c.push(11, f64::NAN), None);
        assert_eq!(c.level(), None);
    }

    #[test]
    fn the_engine_raises_escalates_and_journals_one_alarm_per_rule() {
        use crate::model::alarm::AlarmState as S;
        let rule = Rule {
            name: "Filler overtemp".into(),
            signal: "PlantA/Line1/Filler/Temperature".into(),
            limits: Limits { hi: Some(85.0), hihi: Some(95.0), deadband: 1.0, ..Limits::default() },
            priority: Priority::High,
        };
        let mut engine = Engine::new(vec![rule]);
        let mut out = Vec::new();
        let sig = "PlantA/Line1/Filler/Temperature";
        engine.push("PlantA/Line1/Capper/Temperature", 0, 99.0, &mut out);
        assert!(out.is_empty(), "another signal");
        engine.push(sig, 1_000, 86.0, &mut out);
        engine.push(sig, 2_000, 87.0, &mut out);
        engine.push(sig, 3_000, 96.0, &mut out);
        // A replay of the same values (reconnect, backfill): nothing new.
        engine.push(sig, 1_000, 86.0, &mut out);
        engine.push(sig, 3_000, 96.0, &mut out);
        let seen: Vec<(S, S, Option<Limit>, &str)> =
            out.iter().map(|e| (e.transition.from, e.transition.to, e.limit, e.transition.comment.as_str())).collect();
        assert_eq!(
            seen,
            [
                (S::Normal, S::Unacknowledged, Some(Limit::Hi), ""),
                (S::Unacknowledged, S::Unacknowledged, Some(Limit::HiHi), "HIHI")
            ]
        );
        assert_eq!(
            (out[0].rule.as_str(), out[0].source.as_str(), out[0].priority),
            ("Filler overtemp", sig, Priority::High)
        );
        out.clear();
        engine.acknowledge(0, 4_000, "anna", "cooling water low", &mut out);
        engine.shelve(0, 5_000, 65_000, "anna", "fitter on site", &mut out);
        engine.push(sig, 6_000, 70.0, &mut out);
        engine.tick(70_000, &mut out);
        let states: Vec<(S, S)> = out.iter().map(|e| (e.transition.from, e.transition.to)).collect();
        assert_eq!(
            states,
            [
                (S::Unacknowledged, S::Acknowledged),
                (S::Acknowledged, S::Shelved),
                (S::Shelved, S::Shelved),
                (S::Shelved, S::Normal)
            ]
        );
        assert_eq!(engine.alarm(0).map(Alarm::state), Some(S::Normal));
    }
}
