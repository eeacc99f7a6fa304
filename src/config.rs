//! The TOML config: read, checked, and turned into validated settings once. Every mistake is reported with the
//! file, line and column, what is wrong and what was expected.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use jiff::SignedDuration;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use serde::Deserialize;
use toml::Spanned;

use crate::model::shift::{BreakDef, ShiftDef};
use crate::model::{BatteryThresholds, ShiftCalendar, VehicleKind};
use crate::store::Retention;

/// The fastest a simulated gateway may run.
pub const MAX_SIM_SPEED: f64 = 1_000.0;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

/// A config that could not be used: every problem found, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file.display())?;
            if let Some(line) = p.line {
                write!(f, ":{line}")?;
                if let Some(col) = p.column {
                    write!(f, ":{col}")?;
                }
            }
            write!(f, ": {}", p.message)?;
        }
        Ok(())
    }
}

// ---- The file as written -------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    site: RawSite,
    fleet: RawFleet,
    history: RawHistory,
    battery: BTreeMap<Spanned<String>, RawBattery>,
    gateway: Vec<RawGateway>,
    shift: Vec<RawShift>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSite {
    name: Option<String>,
    timezone: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawFleet {
    stale_after: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawHistory {
    raw_days: Option<u32>,
    rollup_1m_days: Option<u32>,
    rollup_1h_days: Option<u32>,
    max_size_mb: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBattery {
    low: Spanned<f64>,
    critical: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    name: Spanned<String>,
    kind: Spanned<String>,
    seed: Option<u64>,
    speed: Option<Spanned<f64>>,
    lines: Option<Spanned<usize>>,
    vehicles: Option<Spanned<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShift {
    name: Spanned<String>,
    start: Spanned<String>,
    duration: Spanned<String>,
    #[serde(default)]
    breaks: Vec<RawBreak>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreak {
    start: Spanned<String>,
    duration: Spanned<String>,
}

// ---- The validated config ------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Config {
    pub site: Site,
    pub calendar: ShiftCalendar,
    pub gateways: Vec<GatewayConfig>,
    pub stale_after_ms: i64,
    pub battery: BTreeMap<VehicleKind, BatteryThresholds>,
    /// How long history is kept, and how big the cache may grow.
    pub history: Retention,
}

#[derive(Clone, Debug)]
pub struct Site {
    pub name: String,
    pub timezone: TimeZone,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GatewayConfig {
    pub name: String,
    pub kind: GatewayKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum GatewayKind {
    Sim(SimGateway),
}

/// A built-in simulator served as a gateway.
#[derive(Clone, Debug, PartialEq)]
pub struct SimGateway {
    pub seed: u64,
    pub speed: f64,
    pub lines: usize,
    pub vehicles: usize,
}

impl Default for SimGateway {
    fn default() -> Self {
        Self { seed: 42, speed: 1.0, lines: 3, vehicles: 42 }
    }
}

pub const DEFAULT_TIMEZONE: &str = "Europe/Helsinki";

impl Config {
    /// No config: one simulated gateway named `demo`.
    pub fn demo(sim: SimGateway) -> Self {
        let timezone = TimeZone::get(DEFAULT_TIMEZONE).unwrap_or(TimeZone::UTC);
        Self {
            site: Site { name: "Plant A".to_owned(), timezone: timezone.clone() },
            calendar: ShiftCalendar::default_three_shifts(timezone),
            gateways: vec![GatewayConfig { name: "demo".to_owned(), kind: GatewayKind::Sim(sim) }],
            stale_after_ms: 30_000,
            battery: BTreeMap::new(),
            history: Retention::default(),
        }
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError {
            file: path.to_owned(),
            problems: vec![ConfigProblem {
                line: None,
                column: None,
                message: format!("cannot read the config file: {err}"),
            }],
        })?;
        Self::parse(&text, path)
    }

    /// Parses config text; `file` is only used in messages.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let mut checker = Checker { text, problems: Vec::new() };
        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(err) => {
                let span = err.span().unwrap_or(0..0);
                checker.problem(span, err.message().trim_end().to_owned());
                return Err(checker.into_error(file));
            }
        };
        let config = checker.validate(raw);
        if checker.problems.is_empty() { Ok(config) } else { Err(checker.into_error(file)) }
    }
}

struct Checker<'a> {
    text: &'a str,
    problems: Vec<ConfigProblem>,
}

impl Checker<'_> {
    fn problem(&mut self, span: std::ops::Range<usize>, message: String) {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        self.problems.push(ConfigProblem { line: Some(line), column: Some(column), message });
    }

    fn into_error(self, file: &Path) -> ConfigError {
        ConfigError { file: file.to_owned(), problems: self.problems }
    }

    fn duration(&mut self, value: &Spanned<String>, what: &str) -> Option<SignedDuration> {
        match value.get_ref().trim().parse::<SignedDuration>() {
            Ok(d) if d.is_positive() => Some(d),
            Ok(_) => {
                self.problem(value.span(), format!("{what} must be longer than zero"));
                None
            }
            Err(_) => {
                self.problem(
                    value.span(),
                    format!(
                        "{what} {:?} is not a duration; expected e.g. \"30s\", \"15m\", \"8h\" or \"1h 30m\"",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn time_of_day(&mut self, value: &Spanned<String>, what: &str) -> Option<Time> {
        if let Ok(t) = value.get_ref().trim().parse::<Time>() {
            Some(t)
        } else {
            self.problem(
                value.span(),
                format!("{what} {:?} is not a time of day; expected \"HH:MM\", e.g. \"06:00\"", value.get_ref()),
            );
            None
        }
    }

    fn validate(&mut self, raw: RawConfig) -> Config {
        let timezone = match &raw.site.timezone {
            None => TimeZone::get(DEFAULT_TIMEZONE).unwrap_or(TimeZone::UTC),
            Some(tz) => TimeZone::get(tz.get_ref()).unwrap_or_else(|_| {
                self.problem(
                    tz.span(),
                    format!("unknown time zone {:?}; expected an IANA name such as \"Europe/Helsinki\"", tz.get_ref()),
                );
                TimeZone::UTC
            }),
        };
        let site = Site { name: raw.site.name.unwrap_or_else(|| "Plant A".to_owned()), timezone: timezone.clone() };

        let stale_after_ms = raw
            .fleet
            .stale_after
            .as_ref()
            .and_then(|d| self.duration(d, "fleet.stale_after"))
            .map_or(30_000, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));

        let mut battery = BTreeMap::new();
        for (kind, b) in &raw.battery {
            let parsed = VehicleKind::parse(kind.get_ref());
            if parsed == VehicleKind::Other && kind.get_ref() != "other" {
                self.problem(
                    kind.span(),
                    format!(
                        "unknown vehicle kind {:?} in [battery]; expected agv, forklift, van or other",
                        kind.get_ref()
                    ),
                );
                continue;
            }
            let (low, critical) = (*b.low.get_ref(), *b.critical.get_ref());
            if !(0.0..=100.0).contains(&low) {
                self.problem(
                    b.low.span(),
                    format!("battery.{}.low = {low} is not a percentage (0–100)", kind.get_ref()),
                );
            } else if !(0.0..=100.0).contains(&critical) || critical > low {
                self.problem(
                    b.critical.span(),
                    format!(
                        "battery.{}.critical = {critical} must be a percentage no higher than low ({low})",
                        kind.get_ref()
                    ),
                );
            } else {
                battery.insert(parsed, BatteryThresholds { low_percent: low, critical_percent: critical });
            }
        }

        let mut gateways: Vec<GatewayConfig> = Vec::new();
        for g in &raw.gateway {
            if g.name.get_ref().trim().is_empty() {
                self.problem(g.name.span(), "gateway name is empty; every gateway needs a unique name".to_owned());
                continue;
            }
            if gateways.iter().any(|other| other.name == *g.name.get_ref()) {
                self.problem(
                    g.name.span(),
                    format!("gateway name {:?} is used twice; names must be unique", g.name.get_ref()),
                );
                continue;
            }
            let kind = match g.kind.get_ref().as_str() {
                "sim" => {
                    let defaults = SimGateway::default();
                    let speed = g.speed.as_ref().map_or(defaults.speed, |s| {
                        let v = *s.get_ref();
                        if (1.0..=MAX_SIM_SPEED).contains(&v) {
                            v
                        } else {
                            self.problem(
                                s.span(),
                                format!("speed = {v} is out of range; expected 1 to {MAX_SIM_SPEED}"),
                            );
                            1.0
                        }
                    });
                    let count = |this: &mut Self,
                                 v: Option<&Spanned<usize>>,
                                 default: usize,
                                 max: usize,
                                 what: &str| {
                        v.map_or(default, |s| {
                            let n = *s.get_ref();
                            if (1..=max).contains(&n) {
                                n
                            } else {
                                this.problem(s.span(), format!("{what} = {n} is out of range; expected 1 to {max}"));
                                default
                            }
                        })
                    };
                    let lines = count(self, g.lines.as_ref(), defaults.lines, 500, "lines");
                    let vehicles = count(self, g.vehicles.as_ref(), defaults.vehicles, 20_000, "vehicles");
                    GatewayKind::Sim(SimGateway { seed: g.seed.unwrap_or(defaults.seed), speed, lines, vehicles })
                }
                "sparkplug" | "mqtt-json" | "http" => {
                    self.problem(
                        g.kind.span(),
                        format!(
                            "gateway kind {:?} is not available in this build yet; supported kinds: \"sim\"",
                            g.kind.get_ref()
                        ),
                    );
                    continue;
                }
                other => {
                    self.problem(
                        g.kind.span(),
                        format!(
                            "unknown gateway kind {other:?}; expected \"sim\", \"sparkplug\", \"mqtt-json\" or \"http\""
                        ),
                    );
                    continue;
                }
            };
            gateways.push(GatewayConfig { name: g.name.get_ref().clone(), kind });
        }

        let mut calendar = ShiftCalendar::default_three_shifts(timezone.clone());
        if !raw.shift.is_empty() {
            calendar.shifts = raw
                .shift
                .iter()
                .filter_map(|s| {
                    let start = self.time_of_day(&s.start, "shift start");
                    let duration = self.duration(&s.duration, "shift duration");
                    let breaks = s
                        .breaks
                        .iter()
                        .filter_map(|b| {
                            Some(BreakDef {
                                start: self.time_of_day(&b.start, "break start")?,
                                duration: self.duration(&b.duration, "break duration")?,
                            })
                        })
                        .collect();
                    if duration.is_some_and(|d| d > SignedDuration::from_hours(24)) {
                        self.problem(s.duration.span(), "a shift cannot last longer than 24h".to_owned());
                        return None;
                    }
                    Some(ShiftDef { name: s.name.get_ref().clone(), start: start?, duration: duration?, breaks })
                })
                .collect();
        }

        let defaults = Retention::default();
        let max_size_bytes = match &raw.history.max_size_mb {
            None => defaults.max_size_bytes,
            Some(mb) if *mb.get_ref() > 0 && *mb.get_ref() < 16 => {
                self.problem(
                    mb.span(),
                    format!("history.max_size_mb = {} is too small; use 0 (no cap) or at least 16", mb.get_ref()),
                );
                defaults.max_size_bytes
            }
            Some(mb) => mb.get_ref().saturating_mul(1024 * 1024),
        };
        let history = Retention {
            raw_days: raw.history.raw_days.unwrap_or(defaults.raw_days),
            rollup_1m_days: raw.history.rollup_1m_days.unwrap_or(defaults.rollup_1m_days),
            rollup_1h_days: raw.history.rollup_1h_days.unwrap_or(defaults.rollup_1h_days),
            max_size_bytes,
        };
        Config { site, calendar, gateways, stale_after_ms, battery, history }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("site.toml"))
    }

    #[test]
    fn a_full_config_parses() {
        let cfg = parse(
            r#"
[site]
name = "Plant B"
timezone = "Europe/Berlin"

[fleet]
stale_after = "45s"

[battery.agv]
low = 30
critical = 12

[[gateway]]
name = "sim1"
kind = "sim"
seed = 7
speed = 60
lines = 5
vehicles = 100

[[shift]]
name = "Day"
start = "07:00"
duration = "12h"
breaks = [{ start = "12:00", duration = "45m" }]
"#,
        )
        .expect("valid config");
        assert_eq!(cfg.site.name, "Plant B");
        assert_eq!(cfg.stale_after_ms, 45_000);
        assert_eq!(cfg.battery[&VehicleKind::Agv].low_percent, 30.0);
        assert_eq!(
            cfg.gateways[0].kind,
            GatewayKind::Sim(SimGateway { seed: 7, speed: 60.0, lines: 5, vehicles: 100 })
        );
        assert_eq!(cfg.calendar.shifts.len(), 1);
        assert_eq!(cfg.calendar.shifts[0].duration, SignedDuration::from_hours(12));
        assert_eq!(cfg.calendar.shifts[0].breaks[0].duration, SignedDuration::from_mins(45));
    }

    #[test]
    fn an_unknown_field_names_the_line_and_what_was_expected() {
        let err = parse("[[gateway]]\nname = \"a\"\nkidn = \"sim\"\n").expect_err("typo");
        let text = err.to_string();
        assert!(text.starts_with("site.toml:3:1: unknown field `kidn`"), "{text}");
        assert!(text.contains("expected one of"), "{text}");
    }

    #[test]
    fn every_semantic_mistake_is_reported_with_its_line() {
        let err = parse(
            r#"[site]
timezone = "Mars/Olympus"

[[gateway]]
name = "a"
kind = "sim"
speed = 5000

[[gateway]]
name = "a"
kind = "sim"

[[gateway]]
name = "b"
kind = "opcua"

[[shift]]
name = "A"
start = "25:00"
duration = "eight hours"
"#,
        )
        .expect_err("mistakes");
        let lines: Vec<_> = err.problems.iter().map(|p| p.line.expect("line")).collect();
        assert_eq!(lines, vec![2, 7, 10, 15, 19, 20], "{err}");
        let text = err.to_string();
        assert!(text.contains("unknown time zone \"Mars/Olympus\""), "{text}");
        assert!(text.contains("speed = 5000 is out of range"), "{text}");
        assert!(text.contains("used twice"), "{text}");
        assert!(text.contains("unknown gateway kind \"opcua\""), "{text}");
        assert!(text.contains("not a time of day"), "{text}");
        assert!(text.contains("not a duration"), "{text}");
    }

    #[test]
    fn a_syntax_error_is_located() {
        let err = parse("[site]\nname = \"unterminated\n").expect_err("syntax");
        assert_eq!(err.problems[0].line, Some(2), "{err}");
    }

    #[test]
    fn an_empty_file_is_a_valid_config_with_defaults() {
        let cfg = parse("").expect("empty is fine");
        assert!(cfg.gateways.is_empty());
        assert_eq!(cfg.calendar.shifts.len(), 3);
    }
}
