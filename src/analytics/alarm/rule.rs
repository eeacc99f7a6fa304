//! Alarm rules: what a rule watches, the condition that raises it, its priority — from `[[alarm]]` in the config
//! and, unless `[alarms] defaults = false`, derived from the asset model (issue 7 §1):
//!
//! | default rule | watches | raised when | priority |
//! |---|---|---|---|
//! | Gateway offline | every gateway | offline or in error for longer than `[alarms] gateway_offline` (30 s) | high |
//! | Node offline | every Sparkplug node / link | its death certificate or lost link, until values come again | medium |
//! | Machine down | every machine's `State` | `down` for longer than `[alarms] machine_down` (10 min) | high |
//! | Battery low / critical | every vehicle's `Battery/SoC` | below its kind's `[battery]` threshold (2 % deadband) | medium / high |
//! | Vehicle not reporting | every vehicle's position | silent for longer than `[fleet] stale_after` | low |
//! | OEE below target | every machine | the shift's OEE below its target, once `[alarms] oee_window` (1 h) of planned time is in | low |
//! | Entered / Left *zone* | site-plan zones with an `alarm` property (`enter` or `exit`) | a vehicle inside / outside | medium |

use std::collections::BTreeMap;

use super::limit::Limits;
use crate::model::alarm::Priority;
use crate::model::{BatteryThresholds, VehicleKind};

/// One rule: every source it watches gets its own alarm (one instance per rule and source).
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Unique; the journal's `rule`.
    pub name: String,
    pub watch: Watch,
    pub condition: Condition,
    pub priority: Priority,
}

/// What a rule watches; each match is a source.
#[derive(Clone, Debug, PartialEq)]
pub enum Watch {
    /// Signals by id: exact, or a pattern where `*` stands for any run of characters.
    Signal(String),
    /// Every signal carrying a known metric (a machine's `State`, a vehicle's `Battery/SoC`).
    Metric(&'static str),
    /// Gateways: one by name, or `*` for every one.
    Gateway(String),
    /// Sources whose node died or whose link was lost (Sparkplug NDEATH/DDEATH, a dropped connection).
    Node,
    /// Vehicles and one zone of the site plan or the geofence file.
    Zone(String),
    /// Every machine's OEE over the shift.
    Machines,
}

impl Watch {
    /// Whether a signal id is watched by this rule (only for signal watches).
    pub fn matches_signal(&self, id: &str, metric: Option<&str>) -> bool {
        match self {
            Self::Signal(pattern) => glob(pattern, id),
            Self::Metric(m) => metric == Some(*m),
            _ => false,
        }
    }
}

/// What raises the alarm.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// A value past hi / hihi / lo / lolo.
    Limit(Limits),
    /// The value changes faster than `per_min` units a minute (either way), measured over `window_ms`; delays
    /// and deadband as in `limits`.
    Rate { per_min: f64, window_ms: i64, limits: Limits },
    /// No value arrived for longer than this.
    Stale { after_ms: i64 },
    /// A machine state (wire name, e.g. `down`) held for longer than the delay.
    State { states: Vec<String>, on_delay_ms: i64 },
    /// State of charge below the vehicle kind's low (or critical) threshold.
    Battery { critical: bool, thresholds: BTreeMap<VehicleKind, BatteryThresholds>, deadband: f64 },
    /// The gateway is offline or in error for longer than the delay.
    Offline { on_delay_ms: i64 },
    /// The node's values went stale with its death; it clears when values come again.
    NodeDeath,
    /// A vehicle inside the zone (`inside`), or outside it (`!inside`), for longer than the delay.
    Zone { inside: bool, on_delay_ms: i64 },
    /// The shift's OEE below `target` (the asset model's when `None`), once `min_planned_ms` of planned time is in.
    OeeBelow { target: Option<f64>, min_planned_ms: i64 },
}

impl Condition {
    /// The limits the check starts with (a boolean condition is the value 1 against a `hi` of 0.5).
    pub fn limits(&self, kind: VehicleKind) -> Limits {
        let boolean = |on_delay_ms| Limits { hi: Some(0.5), on_delay_ms, ..Limits::default() };
        match self {
            Self::Limit(l) => *l,
            Self::Rate { per_min, limits, .. } => Limits { hi: Some(*per_min), lo: Some(-*per_min), ..*limits },
            Self::Stale { .. } | Self::NodeDeath => boolean(0),
            Self::State { on_delay_ms, .. } | Self::Offline { on_delay_ms } | Self::Zone { on_delay_ms, .. } => {
                boolean(*on_delay_ms)
            }
            Self::Battery { critical, thresholds, deadband } => {
                let t = thresholds.get(&kind).copied().unwrap_or_else(|| BatteryThresholds::default_for(kind));
                let lo = if *critical { t.critical_percent } else { t.low_percent };
                Limits { lo: Some(lo), deadband: *deadband, on_delay_ms: 5_000, ..Limits::default() }
            }
            Self::OeeBelow { target, .. } => {
                Limits { lo: Some(target.unwrap_or(0.0)), deadband: 0.02, ..Limits::default() }
            }
        }
    }

    /// Whether the check's value is the condition as 0/1 (shown as text, not as a number).
    pub fn is_boolean(&self) -> bool {
        matches!(
            self,
            Self::Stale { .. } | Self::NodeDeath | Self::State { .. } | Self::Offline { .. } | Self::Zone { .. }
        )
    }
}

/// Settings of the default rules (`[alarms]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Defaults {
    pub enabled: bool,
    pub gateway_offline_ms: i64,
    pub machine_down_ms: i64,
    pub oee_window_ms: i64,
    pub vehicle_stale_ms: i64,
    pub battery: BTreeMap<VehicleKind, BatteryThresholds>,
    /// Zones and whether entering (`true`) or leaving raises an alarm.
    pub zones: Vec<(String, bool)>,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            enabled: true,
            gateway_offline_ms: 30_000,
            machine_down_ms: 10 * 60_000,
            oee_window_ms: 3_600_000,
            vehicle_stale_ms: 30_000,
            battery: BTreeMap::new(),
            zones: Vec::new(),
        }
    }
}

impl Defaults {
    /// The rules derived from the asset model.
    pub fn rules(&self) -> Vec<Rule> {
        use crate::model::{machine::metric as mm, vehicle::metric as vm};
        if !self.enabled {
            return Vec::new();
        }
        let rule = |name: &str, watch, condition, priority| Rule { name: name.to_owned(), watch, condition, priority };
        let battery = |critical| Condition::Battery { critical, thresholds: self.battery.clone(), deadband: 2.0 };
        let mut rules = vec![
            rule(
                "Gateway offline",
                Watch::Gateway("*".into()),
                Condition::Offline { on_delay_ms: self.gateway_offline_ms },
                Priority::High,
            ),
            rule("Node offline", Watch::Node, Condition::NodeDeath, Priority::Medium),
            rule(
                "Machine down",
                Watch::Metric(mm::STATE),
                Condition::State { states: vec!["down".into()], on_delay_ms: self.machine_down_ms },
                Priority::High,
            ),
            rule("Battery low", Watch::Metric(vm::SOC), battery(false), Priority::Medium),
            rule("Battery critical", Watch::Metric(vm::SOC), battery(true), Priority::High),
            rule(
                "Vehicle not reporting",
                Watch::Metric(vm::LATITUDE),
                Condition::Stale { after_ms: self.vehicle_stale_ms },
                Priority::Low,
            ),
            rule(
                "OEE below target",
                Watch::Machines,
                Condition::OeeBelow { target: None, min_planned_ms: self.oee_window_ms },
                Priority::Low,
            ),
        ];
        for (zone, enter) in &self.zones {
            let name = if *enter { format!("Entered {zone}") } else { format!("Left {zone}") };
            rules.push(rule(
                &name,
                Watch::Zone(zone.clone()),
                Condition::Zone { inside: *enter, on_delay_ms: 0 },
                Priority::Medium,
            ));
        }
        rules
    }
}

/// `*` matches any run of characters (also none); everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('*') else { return pattern == text };
    let Some(mut text) = text.strip_prefix(head) else { return false };
    let parts: Vec<&str> = rest.split('*').collect();
    let (last, middle) = parts.split_last().map_or(("", &[][..]), |(l, m)| (*l, m));
    for part in middle {
        match text.find(part) {
            Some(at) => text = &text[at + part.len()..],
            None => return false,
        }
    }
    text.len() >= last.len() && text.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_runs_of_characters() {
        assert!(glob("PlantA/Line1/Filler/Temperature", "PlantA/Line1/Filler/Temperature"));
        assert!(!glob("PlantA/Line1/Filler/Temperature", "PlantA/Line1/Filler/Temperature2"));
        assert!(glob("PlantA/*/Temperature", "PlantA/Line1/Filler/Temperature"));
        assert!(glob("*Temperature", "Line2.Capper.Temperature"));
        assert!(glob("PlantA/*/Filler/*", "PlantA/Line1/Filler/State"));
        assert!(!glob("PlantA/*/Capper/*", "PlantA/Line1/Filler/State"));
        assert!(!glob("a*a", "a"), "the head and the tail may not overlap");
        assert!(glob("*", "anything"));
    }

    #[test]
    fn defaults_cover_the_asset_model_and_can_be_turned_off() {
        let d = Defaults { zones: vec![("Loading dock".into(), true)], ..Defaults::default() };
        let names: Vec<String> = d.rules().into_iter().map(|r| r.name).collect();
        for want in ["Gateway offline", "Node offline", "Machine down", "Battery low", "Battery critical"] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
        assert!(names.iter().any(|n| n == "Entered Loading dock"));
        assert!(Defaults { enabled: false, ..d }.rules().is_empty());
        // Battery thresholds per kind.
        let mut battery = BTreeMap::new();
        battery.insert(VehicleKind::Van, BatteryThresholds { low_percent: 35.0, critical_percent: 12.0 });
        let c = Condition::Battery { critical: false, thresholds: battery, deadband: 2.0 };
        assert_eq!(c.limits(VehicleKind::Van).lo, Some(35.0));
        assert_eq!(c.limits(VehicleKind::Agv).lo, Some(25.0), "kinds not configured keep their defaults");
    }
}
