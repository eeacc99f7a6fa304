//! `[alarms]`, `[[alarm]]` and the horn checked into alarm rules, the defaults derived from the asset model, and the
//! horn's sounds.

use super::*;

impl Checker<'_> {
    pub(super) fn alarms(&mut self, raw: &[RawAlarm]) -> Vec<crate::analytics::alarm::Rule> {
        let mut rules: Vec<crate::analytics::alarm::Rule> = Vec::new();
        for a in raw {
            if rules.iter().any(|r| r.name == *a.name.get_ref()) {
                self.problem(
                    a.name.span(),
                    format!("alarm name {:?} is used twice; each rule needs its own", a.name.get_ref()),
                );
            } else if let Some(rule) = self.alarm(a) {
                rules.push(rule);
            }
        }
        rules
    }
    pub(super) fn alarm_defaults(&mut self, raw: &RawAlarms) -> crate::analytics::alarm::Defaults {
        let mut d = crate::analytics::alarm::Defaults { enabled: raw.defaults.unwrap_or(true), ..Default::default() };
        if let Some(ms) = self.millis(raw.machine_down.as_ref(), "alarms.machine_down") {
            d.machine_down_ms = ms;
        }
        if let Some(ms) = self.millis(raw.gateway_offline.as_ref(), "alarms.gateway_offline") {
            d.gateway_offline_ms = ms;
        }
        if let Some(ms) = self.millis(raw.oee_window.as_ref(), "alarms.oee_window") {
            d.oee_window_ms = ms;
        }
        d
    }
    pub(super) fn horn(&mut self, raw: &RawAlarms) -> Horn {
        use crate::model::alarm::Priority;
        let mut horn = Horn::default();
        if let Some(ms) = self.millis(raw.silence.as_ref(), "alarms.silence") {
            if ms >= 1_000 {
                horn.silence_ms = ms;
            } else if let Some(v) = &raw.silence {
                self.problem(v.span(), "alarms.silence must be at least 1s".to_owned());
            }
        }
        let files = [
            (Priority::Urgent, &raw.sound.urgent),
            (Priority::High, &raw.sound.high),
            (Priority::Medium, &raw.sound.medium),
            (Priority::Low, &raw.sound.low),
        ];
        horn.sounds = files.into_iter().filter_map(|(p, f)| f.as_deref().map(|f| (p, self.path(f)))).collect();
        horn
    }
    /// One `[[alarm]]`: one condition (limits in order lolo ≤ lo ≤ hi ≤ hihi, a rate, a stale time, a machine
    /// state, a zone or a gateway), what it watches, a known priority, durations; every mistake located.
    pub(super) fn alarm(&mut self, a: &RawAlarm) -> Option<crate::analytics::alarm::Rule> {
        use crate::analytics::alarm::{Condition, Limits, Rule, Watch};
        use crate::model::alarm::Priority;
        let name = a.name.get_ref();
        let span = a.name.span();
        let limits = [a.lolo, a.lo, a.hi, a.hihi];
        let has_limit = limits.iter().any(Option::is_some);
        let kinds =
            [has_limit, a.rate.is_some(), a.stale.is_some(), a.state.is_some(), a.zone.is_some(), a.gateway.is_some()];
        match kinds.iter().filter(|k| **k).count() {
            0 => {
                self.problem(
                    span,
                    format!(
                        "alarm {name:?} has no condition; give hi, hihi, lo, lolo, rate, stale, state, zone or gateway"
                    ),
                );
                return None;
            }
            1 => {}
            _ => {
                self.problem(
                    span,
                    format!("alarm {name:?} has more than one kind of condition; split it in two rules"),
                );
                return None;
            }
        }
        let set: Vec<f64> = limits.into_iter().flatten().collect();
        if set.iter().any(|v| !v.is_finite()) || set.windows(2).any(|w| w[0] > w[1]) {
            self.problem(span, format!("alarm {name:?}: the limits must be in order lolo ≤ lo ≤ hi ≤ hihi"));
            return None;
        }
        let priority = match &a.priority {
            None => Priority::Medium,
            Some(p) => {
                let Some(priority) = Priority::parse(p.get_ref()) else {
                    self.problem(
                        p.span(),
                        format!("alarm priority {:?} is not urgent, high, medium or low", p.get_ref()),
                    );
                    return None;
                };
                priority
            }
        };
        let deadband = match &a.deadband {
            Some(d) if !(d.get_ref().is_finite() && *d.get_ref() >= 0.0) => {
                self.problem(d.span(), format!("alarm deadband {} must be zero or more", d.get_ref()));
                return None;
            }
            Some(d) => *d.get_ref(),
            None => 0.0,
        };
        let mut delay = |d: Option<&Spanned<String>>, what: &str, default: i64| match d {
            None => Some(default),
            Some(d) => self.duration(d, what).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        };
        let on_delay_ms = delay(a.on_delay.as_ref(), "alarm on_delay", 0)?;
        let off_delay_ms = delay(a.off_delay.as_ref(), "alarm off_delay", 0)?;
        let limits = Limits { hihi: a.hihi, hi: a.hi, lo: a.lo, lolo: a.lolo, deadband, on_delay_ms, off_delay_ms };
        let needs_signal = |this: &mut Self| match &a.signal {
            Some(s) if !s.trim().is_empty() => Some(Watch::Signal(s.trim().to_owned())),
            _ => {
                this.problem(span, format!("alarm {name:?} needs the signal it watches (signal = \"…\", * allowed)"));
                None
            }
        };
        let (watch, condition) = if has_limit {
            (needs_signal(self)?, Condition::Limit(limits))
        } else if let Some(rate) = &a.rate {
            if !(rate.get_ref().is_finite() && *rate.get_ref() > 0.0) {
                self.problem(
                    rate.span(),
                    format!("alarm rate {} must be a positive change per minute", rate.get_ref()),
                );
                return None;
            }
            let window_ms = self.millis(a.rate_window.as_ref(), "alarm rate_window").unwrap_or(60_000);
            (needs_signal(self)?, Condition::Rate { per_min: *rate.get_ref(), window_ms, limits })
        } else if let Some(stale) = &a.stale {
            let after_ms = self.millis(Some(stale), "alarm stale")?;
            (needs_signal(self)?, Condition::Stale { after_ms })
        } else if let Some(state) = &a.state {
            let Some(s) = crate::model::MachineState::parse(state.get_ref()) else {
                self.problem(state.span(), format!("alarm state {:?} is not a machine state (running, idle, starved, blocked, down, setup, planned_stop)", state.get_ref()));
                return None;
            };
            (needs_signal(self)?, Condition::State { states: vec![s.as_str().to_owned()], on_delay_ms })
        } else if let Some(zone) = &a.zone {
            let inside = match a.when.as_ref().map(|w| (w, w.get_ref().trim().to_ascii_lowercase())) {
                None => true,
                Some((_, w)) if w == "enter" || w == "inside" => true,
                Some((_, w)) if w == "exit" || w == "outside" => false,
                Some((w, _)) => {
                    self.problem(w.span(), format!("alarm when = {:?} is not enter or exit", w.get_ref()));
                    return None;
                }
            };
            (Watch::Zone(zone.clone()), Condition::Zone { inside, on_delay_ms })
        } else {
            let gateway = a.gateway.clone().unwrap_or_default();
            let on_delay_ms = if a.on_delay.is_some() { on_delay_ms } else { 30_000 };
            (Watch::Gateway(gateway), Condition::Offline { on_delay_ms })
        };
        Some(Rule { name: name.clone(), watch, condition, priority })
    }
}
