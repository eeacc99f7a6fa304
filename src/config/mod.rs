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

use crate::model::asset::{AssetModel, LineOverride, MachineOverride};
use crate::model::machine::metric as mm;
use crate::model::shift::{BreakDef, ShiftDef};
use crate::model::{BatteryThresholds, ShiftCalendar, VehicleKind};
use crate::store::Retention;
// The settings each part below takes, defined with that part and built here from the file.
pub use crate::feeds::http::HttpGateway;
pub use crate::feeds::link::SecretError;
use crate::feeds::link::read_secret;
pub use crate::feeds::link::{Credentials, DEFAULT_LINK_STALE_AFTER_MS, Link, TlsFiles};
pub use crate::feeds::mqtt::{JsonFormat, MqttJsonGateway, SparkplugGateway};
pub use crate::feeds::opcua::settings::{OpcUaGateway, OpcUaMapping, OpcUaSecurity};
pub use crate::sim::SimGateway;
use check::Checker;
pub use check::valid_topic_filter;
pub use edit::add_opcua_mapping;
use raw::RawConfig;

mod check;
mod edit;
mod raw;
mod scheduled;
#[cfg(test)]
mod tests;
pub use scheduled::{Audience, Email, Notify, ReportFile, Reports, SmtpTls, Stages, Webhook};

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
    /// The site's PostgreSQL database (`[site_db]`), shared by the recorders and consoles of a control room.
    pub site_db: Option<SiteDb>,
    /// Overrides of the discovered machines and lines, and the OEE defaults.
    pub assets: AssetModel,
    /// The site plan drawn under the fleet map.
    pub site_plan: SitePlanSource,
    /// A `GeoJSON` file of geofence polygons, besides the site plan's zones.
    pub geofence_file: Option<PathBuf>,
    /// How long a vehicle must stay on the other side of a zone's edge before the crossing counts.
    pub geofence_debounce_ms: i64,
    /// The map's tile server, if any (the site plan is drawn over it, or alone without it).
    pub tiles: Option<TileServer>,
    /// An offline basemap: a raster `PMTiles` file (under the server's tiles when both are set).
    pub pmtiles: Option<PathBuf>,
    /// Alarm rules from `[[alarm]]`.
    pub alarms: Vec<crate::analytics::alarm::Rule>,
    /// The default rules' settings (`[alarms]`); the rules themselves come from [`Config::alarm_rules`].
    pub alarm_defaults: crate::analytics::alarm::Defaults,
    /// The workstation's horn (`[alarms] silence`, `[alarms.sound]`).
    pub horn: Horn,
    /// The headless recorder's shift reports (`[reports]`), if any.
    pub reports: Option<Reports>,
    /// The headless recorder's alarm notifications (`[notify]`), if any.
    pub notify: Option<Notify>,
}

/// The alarm horn's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Horn {
    /// How long *Silence* lasts (2 min by default).
    pub silence_ms: i64,
    /// WAV files replacing the built-in sounds, by priority.
    pub sounds: Vec<(crate::model::alarm::Priority, PathBuf)>,
}

impl Default for Horn {
    fn default() -> Self {
        Self { silence_ms: 120_000, sounds: Vec::new() }
    }
}

/// Where the map's site plan comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SitePlanSource {
    None,
    /// The demo site's plan (`assets/site-plan.geojson`, built in).
    Demo,
    File(PathBuf),
    /// `GeoJSON` text carried inside a recording.
    Embedded(std::sync::Arc<str>),
}

/// The demo site's plan, built into the binary so the demo map works from any directory.
pub const DEMO_SITE_PLAN: &str = include_str!("../../assets/site-plan.geojson");

impl SitePlanSource {
    /// Reads the plan; a file that cannot be read or parsed gives an empty plan and the reason.
    pub fn load(&self) -> (crate::model::siteplan::SitePlan, Option<String>) {
        use crate::model::siteplan::SitePlan;
        let parsed = match self {
            Self::None => return (SitePlan::default(), None),
            Self::Demo => SitePlan::parse(DEMO_SITE_PLAN),
            Self::Embedded(text) => SitePlan::parse(text).map_err(|err| format!("the recording's plan: {err}")),
            Self::File(path) => std::fs::read_to_string(path)
                .map_err(|err| format!("cannot read {}: {err}", path.display()))
                .and_then(|text| SitePlan::parse(&text).map_err(|err| format!("{}: {err}", path.display()))),
        };
        match parsed {
            Ok(plan) => {
                let note =
                    (plan.skipped > 0).then(|| format!("site plan: {} features could not be drawn", plan.skipped));
                (plan, note)
            }
            Err(err) => (SitePlan::default(), Some(format!("site plan not shown: {err}"))),
        }
    }
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
    Sparkplug(SparkplugGateway),
    MqttJson(MqttJsonGateway),
    Http(HttpGateway),
    OpcUa(OpcUaGateway),
}

impl GatewayKind {
    /// The name used in config files and the UI.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Sim(_) => "sim",
            Self::Sparkplug(_) => "sparkplug",
            Self::MqttJson(_) => "mqtt-json",
            Self::Http(_) => "http",
            Self::OpcUa(_) => "opcua",
        }
    }

    /// The connection settings of a network gateway.
    pub fn link(&self) -> Option<&Link> {
        match self {
            Self::Sim(_) => None,
            Self::Sparkplug(g) => Some(&g.link),
            Self::MqttJson(g) => Some(&g.link),
            Self::Http(g) => Some(&g.link),
            Self::OpcUa(g) => Some(&g.link),
        }
    }
}

/// The site database: a PostgreSQL URL (`postgres://user@host:5432/db`), its password from the environment or a
/// file (never in the config), and TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteDb {
    pub url: String,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub sslmode: SslMode,
    /// The CA that signed the server's certificate (else the system's roots).
    pub ca_file: Option<PathBuf>,
    /// Days of raw samples kept (whole days: older partitions are dropped); 0 keeps them forever.
    pub raw_days: u32,
}

impl SiteDb {
    pub const DEFAULT_RAW_DAYS: u32 = 90;

    /// A site database on `url` with no password and TLS when the server offers it.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            password_env: None,
            password_file: None,
            sslmode: SslMode::Prefer,
            ca_file: None,
            raw_days: Self::DEFAULT_RAW_DAYS,
        }
    }

    /// Whether a `--db` or `site_db.url` names a PostgreSQL database rather than a file.
    pub fn is_url(s: &str) -> bool {
        s.starts_with("postgres://") || s.starts_with("postgresql://")
    }

    pub fn check_url(url: &str) -> Result<(), String> {
        if !Self::is_url(url) {
            return Err(format!("site_db.url {url:?} must start with postgres:// (postgres://user@host:5432/db)"));
        }
        if url::Url::parse(url).is_err() {
            return Err(format!("site_db.url {url:?} is not a valid URL"));
        }
        Ok(())
    }

    /// The password, read now; `Ok(None)` when none is configured.
    pub fn password(&self) -> Result<Option<String>, SecretError> {
        read_secret(self.password_env.as_deref(), self.password_file.as_deref(), "site_db password")
    }
}

/// TLS to the site database, as libpq's `sslmode` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
}

impl SslMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "disable" => Some(Self::Disable),
            "prefer" => Some(Self::Prefer),
            "require" => Some(Self::Require),
            _ => None,
        }
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
            site_db: None,
            assets: AssetModel::default(),
            site_plan: SitePlanSource::Demo,
            geofence_file: None,
            geofence_debounce_ms: crate::analytics::geofence::DEFAULT_DEBOUNCE_MS,
            tiles: None,
            pmtiles: None,
            alarms: Vec::new(),
            alarm_defaults: crate::analytics::alarm::Defaults::default(),
            horn: Horn::default(),
            reports: None,
            notify: None,
        }
    }

    /// Every alarm rule: the defaults derived from the asset model (battery thresholds per kind, the stale limit,
    /// zones with an `alarm` property in the site plan or the geofence file), then `[[alarm]]`; a configured rule
    /// with a default's name replaces it.
    pub fn alarm_rules(&self, plan: &crate::model::siteplan::SitePlan) -> Vec<crate::analytics::alarm::Rule> {
        let mut defaults = self.alarm_defaults.clone();
        defaults.battery = self.battery.clone();
        defaults.vehicle_stale_ms = self.stale_after_ms;
        let fences = self.geofence_file.as_ref().map(|p| SitePlanSource::File(p.clone()).load().0);
        for f in plan.features.iter().chain(fences.iter().flat_map(|p| p.features.iter())) {
            let enter = match f.alarm.as_deref().map(str::to_ascii_lowercase).as_deref() {
                Some("enter") => true,
                Some("exit") => false,
                _ => continue,
            };
            if !defaults.zones.iter().any(|(z, e)| *z == f.name && *e == enter) {
                defaults.zones.push((f.name.clone(), enter));
            }
        }
        let mut rules: Vec<_> =
            defaults.rules().into_iter().filter(|d| !self.alarms.iter().any(|r| r.name == d.name)).collect();
        rules.extend(self.alarms.iter().cloned());
        rules
    }

    /// The geofences: the site plan's zones and the polygons of the geofence file, with what could not be read.
    pub fn geofences(&self) -> (crate::analytics::geofence::Geofences, Vec<String>) {
        let (plan, note) = self.site_plan.load();
        let (fences, notes) = self.geofences_on(&plan);
        (fences, note.into_iter().chain(notes).collect())
    }

    /// The geofences from an already loaded site plan and the geofence file.
    pub fn geofences_on(
        &self,
        plan: &crate::model::siteplan::SitePlan,
    ) -> (crate::analytics::geofence::Geofences, Vec<String>) {
        let mut notes = Vec::new();
        let extra = self.geofence_file.as_ref().map(|path| {
            let (plan, note) = SitePlanSource::File(path.clone()).load();
            notes.extend(note.map(|n| n.replace("site plan", "geofences")));
            plan
        });
        let fences =
            crate::analytics::geofence::Geofences::from_plans(Some(plan), extra.as_ref(), self.geofence_debounce_ms);
        (fences, notes)
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
        let base = file.parent().map(Path::to_owned).unwrap_or_default();
        let mut checker = Checker { text, base, problems: Vec::new() };
        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(err) => {
                let span = err.span().unwrap_or(0..0);
                checker.problem(span, err.message().trim_end().to_owned());
                return Err(checker.into_error(file));
            }
        };
        let config = checker.validate(&raw);
        if checker.problems.is_empty() { Ok(config) } else { Err(checker.into_error(file)) }
    }
}

/// A tile server from the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileServer {
    /// With `{z}`, `{x}` and `{y}` (and optionally `{s}`, replaced by `a`, `b` or `c`).
    pub url: String,
    pub attribution: String,
    /// The disk cache's size; 0 keeps no disk cache.
    pub cache_mb: u64,
    /// Where the disk cache lives (the data dir's `tiles/`, set at start); `None` keeps none.
    pub cache_dir: Option<std::path::PathBuf>,
}

/// The default size of the tile cache.
pub const DEFAULT_CACHE_MB: u64 = 512;

impl TileServer {
    /// Checks a URL template: http(s), with `{z}`, `{x}` and `{y}`.
    pub fn check_url(url: &str) -> Result<(), String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("map.tiles {url:?} must start with http:// or https://"));
        }
        let missing: Vec<&str> = ["{z}", "{x}", "{y}"].into_iter().filter(|p| !url.contains(p)).collect();
        if !missing.is_empty() {
            return Err(format!("map.tiles {url:?} has no {}", missing.join(", ")));
        }
        Ok(())
    }
}
