//! The shift calendar (DOMAIN §9): shifts and planned breaks in the site's local time, resolved to UTC with DST.

use jiff::civil::{DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan as _};

/// One shift of the daily pattern, in local civil time.
#[derive(Clone, Debug, PartialEq)]
pub struct ShiftDef {
    pub name: String,
    pub start: Time,
    /// Civil duration: a night shift that spans a DST change lasts an hour more or less in real time.
    pub duration: SignedDuration,
    pub breaks: Vec<BreakDef>,
}

/// A planned break inside a shift, at a local time of day.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakDef {
    pub start: Time,
    pub duration: SignedDuration,
}

/// One concrete shift: a name and UTC bounds, with its breaks in UTC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShiftInstance {
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub breaks_ms: Vec<(i64, i64)>,
}

impl ShiftInstance {
    pub fn contains(&self, ts_ms: i64) -> bool {
        (self.start_ms..self.end_ms).contains(&ts_ms)
    }

    pub fn in_break(&self, ts_ms: i64) -> bool {
        self.breaks_ms.iter().any(|&(s, e)| (s..e).contains(&ts_ms))
    }
}

/// The daily shift pattern of a site.
#[derive(Clone, Debug)]
pub struct ShiftCalendar {
    pub tz: TimeZone,
    pub shifts: Vec<ShiftDef>,
}

impl ShiftCalendar {
    /// Three 8 h shifts A/B/C from 06:00, each with one 30 min break four hours in.
    pub fn default_three_shifts(tz: TimeZone) -> Self {
        let shift = |name: &str, hour: i8| ShiftDef {
            name: name.to_owned(),
            start: Time::constant(hour, 0, 0, 0),
            duration: SignedDuration::from_hours(8),
            breaks: vec![BreakDef {
                start: Time::constant((hour + 4) % 24, 0, 0, 0),
                duration: SignedDuration::from_mins(30),
            }],
        };
        Self { tz, shifts: vec![shift("A", 6), shift("B", 14), shift("C", 22)] }
    }

    /// The shift that covers `ts_ms`, if any shift does.
    pub fn shift_at(&self, ts_ms: i64) -> Option<ShiftInstance> {
        let local = Timestamp::from_millisecond(ts_ms).ok()?.to_zoned(self.tz.clone()).date();
        // A shift that started yesterday may still be running (night shifts).
        for date in [local, local.yesterday().ok()?] {
            for def in &self.shifts {
                let inst = self.instance(def, date.to_datetime(def.start))?;
                if inst.contains(ts_ms) {
                    return Some(inst);
                }
            }
        }
        None
    }

    /// Every shift that overlaps `[from_ms, to_ms)`, in time order.
    pub fn instances_between(&self, from_ms: i64, to_ms: i64) -> Vec<ShiftInstance> {
        let (Ok(from), Ok(to)) = (Timestamp::from_millisecond(from_ms), Timestamp::from_millisecond(to_ms)) else {
            return Vec::new();
        };
        let first = from.to_zoned(self.tz.clone()).date().yesterday().unwrap_or(jiff::civil::Date::MIN);
        let last = to.to_zoned(self.tz.clone()).date();
        let mut out = Vec::new();
        let mut date = first;
        while date <= last {
            for def in &self.shifts {
                if let Some(inst) = self.instance(def, date.to_datetime(def.start))
                    && inst.start_ms < to_ms
                    && inst.end_ms > from_ms
                {
                    out.push(inst);
                }
            }
            let Ok(next) = date.tomorrow() else { break };
            date = next;
        }
        out.sort_by_key(|s| s.start_ms);
        out
    }

    /// The shift named `name` that starts on the local date `date` (`"2026-11-20 A"` in reports).
    pub fn instance_on(&self, date: jiff::civil::Date, name: &str) -> Option<ShiftInstance> {
        let def = self.shifts.iter().find(|d| d.name == name)?;
        self.instance(def, date.to_datetime(def.start))
    }

    /// Scheduled production windows in `[from_ms, to_ms)`: the shifts minus their breaks, sorted and merged.
    pub fn scheduled(&self, from_ms: i64, to_ms: i64) -> Vec<(i64, i64)> {
        let mut windows: Vec<(i64, i64)> = Vec::new();
        for inst in self.instances_between(from_ms, to_ms) {
            let mut breaks = inst.breaks_ms.clone();
            breaks.sort_unstable();
            let mut cursor = inst.start_ms;
            for (b_start, b_end) in breaks.into_iter().chain([(inst.end_ms, inst.end_ms)]) {
                let (s, e) = (cursor.max(from_ms), b_start.min(inst.end_ms).min(to_ms));
                if e > s {
                    windows.push((s, e));
                }
                cursor = cursor.max(b_end);
            }
        }
        windows.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(windows.len());
        for (s, e) in windows {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }

    /// Whether `ts_ms` falls in a planned break of the shift running then (no shift running counts as not a break).
    pub fn in_break(&self, ts_ms: i64) -> bool {
        self.shift_at(ts_ms).is_some_and(|s| s.in_break(ts_ms))
    }

    fn instance(&self, def: &ShiftDef, start: DateTime) -> Option<ShiftInstance> {
        let end = start.checked_add(def.duration).ok()?;
        let breaks_ms = def
            .breaks
            .iter()
            .filter_map(|b| {
                let mut begin = start.date().to_datetime(b.start);
                if begin < start {
                    begin = begin.checked_add(1.day()).ok()?;
                }
                let finish = begin.checked_add(b.duration).ok()?;
                Some((self.utc_ms(begin)?, self.utc_ms(finish)?))
            })
            .collect();
        Some(ShiftInstance {
            name: def.name.clone(),
            start_ms: self.utc_ms(start)?,
            end_ms: self.utc_ms(end)?,
            breaks_ms,
        })
    }

    fn utc_ms(&self, dt: DateTime) -> Option<i64> {
        // `to_zoned` resolves a time in a DST gap or fold the "compatible" way (later for gaps, earlier for folds).
        Some(dt.to_zoned(self.tz.clone()).ok()?.timestamp().as_millisecond())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().expect("valid timestamp").as_millisecond()
    }

    fn helsinki() -> ShiftCalendar {
        ShiftCalendar::default_three_shifts(TimeZone::get("Europe/Helsinki").expect("bundled tzdb"))
    }

    #[test]
    fn finds_day_and_night_shifts() {
        let cal = helsinki();
        // 2026-11-20 09:00 Helsinki = 07:00 UTC (winter, +02:00).
        let a = cal.shift_at(ms("2026-11-20T07:00:00Z")).expect("shift A");
        assert_eq!(a.name, "A");
        assert_eq!(a.start_ms, ms("2026-11-20T04:00:00Z"));
        assert_eq!(a.end_ms - a.start_ms, 8 * 3_600_000);
        // 03:00 local on the 21st belongs to C, which started at 22:00 on the 20th.
        let c = cal.shift_at(ms("2026-11-21T01:00:00Z")).expect("shift C");
        assert_eq!(c.name, "C");
        assert_eq!(c.start_ms, ms("2026-11-20T20:00:00Z"));
    }

    #[test]
    fn breaks_fall_inside_their_shift() {
        let cal = helsinki();
        // A's break is 10:00–10:30 local = 08:00–08:30 UTC in winter.
        assert!(cal.in_break(ms("2026-11-20T08:10:00Z")));
        assert!(!cal.in_break(ms("2026-11-20T08:30:00Z")));
        // C's break at 02:00 is on the next civil day.
        assert!(cal.in_break(ms("2026-11-21T00:15:00Z")));
    }

    #[test]
    fn night_shift_over_dst_change_is_longer_or_shorter() {
        let cal = helsinki();
        // Autumn: clocks go back at 04:00 local on 2026-10-25, so C from the 24th lasts 9 h.
        let c = cal.shift_at(ms("2026-10-24T21:00:00Z")).expect("C in autumn");
        assert_eq!(c.end_ms - c.start_ms, 9 * 3_600_000);
        // Spring: clocks go forward at 03:00 local on 2026-03-29, so C from the 28th lasts 7 h.
        let c = cal.shift_at(ms("2026-03-28T21:00:00Z")).expect("C in spring");
        assert_eq!(c.end_ms - c.start_ms, 7 * 3_600_000);
    }

    #[test]
    fn scheduled_time_is_shifts_minus_breaks() {
        let cal = helsinki();
        // One local day, 06:00 to 06:00: three shifts of 8 h less 30 min each.
        let (from, to) = (ms("2026-11-20T04:00:00Z"), ms("2026-11-21T04:00:00Z"));
        let windows = cal.scheduled(from, to);
        let total: i64 = windows.iter().map(|(s, e)| e - s).sum();
        assert_eq!(total, 3 * (8 * 3_600_000 - 30 * 60_000));
        assert_eq!(windows.first().map(|w| w.0), Some(from));
        assert_eq!(windows.last().map(|w| w.1), Some(to));
        // A range cut inside shift A's break starts at the break's end.
        let windows = cal.scheduled(ms("2026-11-20T08:10:00Z"), ms("2026-11-20T09:00:00Z"));
        assert_eq!(windows, vec![(ms("2026-11-20T08:30:00Z"), ms("2026-11-20T09:00:00Z"))]);
        let names: Vec<String> = cal.instances_between(from, to).into_iter().map(|s| s.name).collect();
        assert_eq!(names, vec!["A", "B", "C"]);
    }
}
