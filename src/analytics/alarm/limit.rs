//! Limit alarms on a numeric signal (hi, hihi, lo, lolo) with a deadband and on/off delays, the two tools that
//! keep an alarm from chattering (DOMAIN §4). Pure: fed with values in time order and ticked with the clock, so
//! an on-delay completes even when the signal reports only on change.
//!
//! The deadband applies on the way back: a value past `hi` raises the alarm; it clears only once the value is
//! below `hi − deadband`. The on-delay is how long a limit must be passed before the alarm is raised, the
//! off-delay how long it must be back before it clears; a change is dated when its delay is over.
//!
//! Every rule of the engine ends in one of these checks: a boolean condition (a gateway offline, a machine down) is
//! checked as the value 1 against a `hi` of 0.5, so delays work the same for every kind of alarm.

pub use crate::model::alarm::Limit;

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

    /// Takes a value; an older one than the last is ignored (backfill does not re-raise history). A pending
    /// change whose delay the held value completed before `ts_ms` takes effect first: both changes come out.
    pub fn push(&mut self, ts_ms: i64, value: f64) -> [Option<Change>; 2] {
        if !value.is_finite() || self.last.is_some_and(|(t, _)| ts_ms < t) {
            return [None, None];
        }
        let held = self.tick(ts_ms);
        [held, self.push_value(ts_ms, value)]
    }

    fn push_value(&mut self, ts_ms: i64, value: f64) -> Option<Change> {
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

    /// The delay a pending change to `raw` waits for.
    fn delay_to(&self, raw: Option<Limit>) -> i64 {
        let worse = match (raw, self.level) {
            (Some(r), Some(c)) => r.severity() > c.severity(),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if worse { self.limits.on_delay_ms } else { self.limits.off_delay_ms }
    }

    /// The clock's tick: like [`Self::tick`], but a held value older than its delay plus `slack_ms` is left to
    /// the next value (backfill or a replay, whose next values are on their way; [`Self::push`] completes the
    /// delay in data time then).
    pub fn tick_clock(&mut self, now_ms: i64, slack_ms: i64) -> Option<Change> {
        let (raw, _) = self.pending?;
        let (last_ts, _) = self.last?;
        if now_ms - last_ts > self.delay_to(raw) + slack_ms {
            return None;
        }
        self.tick(now_ms)
    }

    /// Time passes with the last value held: a delay that is over takes effect.
    pub fn tick(&mut self, now_ms: i64) -> Option<Change> {
        let (raw, since) = self.pending?;
        let (_, value) = self.last?;
        let delay = self.delay_to(raw);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The one change a push made (these tests never complete a delay and change again at once).
    fn one(changes: [Option<Change>; 2]) -> Option<Change> {
        assert!(changes[0].is_none() || changes[1].is_none(), "{changes:?}");
        changes[0].or(changes[1])
    }

    #[test]
    fn a_delay_held_between_two_values_counts_and_the_clock_leaves_backfill_to_the_data() {
        let mut c = LimitCheck::new(Limits { on_delay_ms: 10_000, ..hi(85.0, 0.0) });
        assert_eq!(c.push(0, 90.0), [None, None]);
        // Held above the limit for 15 s, then back: raised at 10 s and cleared at 15 s, both from one push.
        assert_eq!(
            c.push(15_000, 80.0),
            [
                Some(Change::Active { ts_ms: 10_000, limit: Limit::Hi, value: 90.0 }),
                Some(Change::Cleared { ts_ms: 15_000, value: 80.0 })
            ]
        );
        // An old value (a backfill): the wall clock does not complete its delay...
        c.push(100_000, 90.0);
        assert_eq!(c.tick_clock(5_000_000, 60_000), None);
        // ...a live one it does.
        assert_eq!(
            c.tick_clock(110_000, 60_000),
            Some(Change::Active { ts_ms: 110_000, limit: Limit::Hi, value: 90.0 })
        );
    }

    fn hi(hi: f64, deadband: f64) -> Limits {
        Limits { hi: Some(hi), deadband, ..Limits::default() }
    }

    #[test]
    fn the_deadband_keeps_noise_at_the_limit_from_chattering() {
        let mut c = LimitCheck::new(hi(85.0, 2.0));
        assert_eq!(one(c.push(0, 84.0)), None);
        assert_eq!(one(c.push(1_000, 85.0)), Some(Change::Active { ts_ms: 1_000, limit: Limit::Hi, value: 85.0 }));
        // Noise around the limit: no clear until below 83.
        for (k, v) in [84.5, 85.5, 83.5, 84.9, 83.1].into_iter().enumerate() {
            assert_eq!(one(c.push(2_000 + i64::try_from(k).expect("small") * 1_000, v)), None, "{v}");
        }
        assert_eq!(one(c.push(9_000, 82.9)), Some(Change::Cleared { ts_ms: 9_000, value: 82.9 }));
        // Without a deadband the same values would have chattered.
        let mut bare = LimitCheck::new(hi(85.0, 0.0));
        let changes = [84.0, 85.0, 84.5, 85.5, 83.5, 85.0]
            .iter()
            .enumerate()
            .filter_map(|(k, v)| one(bare.push(i64::try_from(k).expect("small"), *v)));
        assert_eq!(changes.count(), 5);
    }

    #[test]
    fn an_on_delay_ignores_a_short_spike_and_dates_the_alarm_when_it_is_over() {
        let mut c = LimitCheck::new(Limits { on_delay_ms: 10_000, off_delay_ms: 5_000, ..hi(85.0, 0.0) });
        assert_eq!(one(c.push(0, 90.0)), None);
        assert_eq!(one(c.push(4_000, 80.0)), None, "back within 4 s: never raised");
        assert_eq!(c.level(), None);
        assert_eq!(one(c.push(20_000, 90.0)), None);
        // A signal that reports only on change: the clock completes the delay.
        assert_eq!(c.tick(29_999), None);
        assert_eq!(c.tick(31_000), Some(Change::Active { ts_ms: 30_000, limit: Limit::Hi, value: 90.0 }));
        // Off-delay: back for 3 s, up again, then back for good.
        assert_eq!(one(c.push(40_000, 80.0)), None);
        assert_eq!(one(c.push(43_000, 90.0)), None);
        assert_eq!(one(c.push(50_000, 80.0)), None);
        assert_eq!(one(c.push(55_000, 80.0)), Some(Change::Cleared { ts_ms: 55_000, value: 80.0 }));
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
        assert!(matches!(one(c.push(0, 86.0)), Some(Change::Active { limit: Limit::Hi, .. })));
        assert!(matches!(one(c.push(1, 96.0)), Some(Change::Active { limit: Limit::HiHi, .. })));
        assert_eq!(one(c.push(2, 94.5)), None, "inside the hihi deadband");
        assert!(matches!(one(c.push(3, 93.0)), Some(Change::Active { limit: Limit::Hi, .. })));
        assert!(matches!(one(c.push(4, 50.0)), Some(Change::Cleared { .. })));
        assert!(matches!(one(c.push(5, 4.0)), Some(Change::Active { limit: Limit::LoLo, .. })));
        assert!(one(c.push(6, 5.5)).is_none(), "inside the lolo deadband");
        assert!(matches!(one(c.push(7, 8.0)), Some(Change::Active { limit: Limit::Lo, .. })));
        assert!(one(c.push(8, 10.5)).is_none(), "inside the lo deadband");
        assert!(matches!(one(c.push(9, 11.5)), Some(Change::Cleared { .. })));
    }

    #[test]
    fn old_and_bad_values_are_ignored() {
        let mut c = LimitCheck::new(hi(85.0, 0.0));
        one(c.push(10, 50.0));
        assert_eq!(one(c.push(5, 99.0)), None, "backfill older than what was seen");
        assert_eq!(one(c.push(11, f64::NAN)), None);
        assert_eq!(c.level(), None);
    }
}
