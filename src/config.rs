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

use crate::feeds::link::Limits;
use crate::model::asset::{AssetModel, LineOverride, MachineOverride};
use crate::model::machine::metric as mm;
use crate::model::shift::{BreakDef, ShiftDef};
use crate::model::{BatteryThresholds, ShiftCalendar, VehicleKind};
use crate::store::Retention;

mod scheduled;
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

// ---- The file as written -------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    site: RawSite,
    fleet: RawFleet,
    history: RawHistory,
    site_db: Option<RawSiteDb>,
    battery: BTreeMap<Spanned<String>, RawBattery>,
    gateway: Vec<RawGateway>,
    shift: Vec<RawShift>,
    oee: RawOee,
    machine: Vec<RawMachine>,
    line: Vec<RawLine>,
    map: RawMap,
    alarm: Vec<RawAlarm>,
    alarms: RawAlarms,
    reports: Option<scheduled::RawReports>,
    notify: Option<scheduled::RawNotify>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawAlarms {
    defaults: Option<bool>,
    machine_down: Option<Spanned<String>>,
    gateway_offline: Option<Spanned<String>>,
    oee_window: Option<Spanned<String>>,
    /// How long *Silence* stops the horn.
    silence: Option<Spanned<String>>,
    /// A WAV file per priority in place of the built-in sound.
    sound: RawSounds,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSounds {
    urgent: Option<String>,
    high: Option<String>,
    medium: Option<String>,
    low: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlarm {
    name: Spanned<String>,
    signal: Option<String>,
    rate: Option<Spanned<f64>>,
    rate_window: Option<Spanned<String>>,
    stale: Option<Spanned<String>>,
    state: Option<Spanned<String>>,
    zone: Option<String>,
    when: Option<Spanned<String>>,
    gateway: Option<String>,
    hi: Option<f64>,
    hihi: Option<f64>,
    lo: Option<f64>,
    lolo: Option<f64>,
    deadband: Option<Spanned<f64>>,
    on_delay: Option<Spanned<String>>,
    off_delay: Option<Spanned<String>>,
    priority: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawMap {
    site_plan: Option<Spanned<String>>,
    geofences: Option<Spanned<String>>,
    geofence_debounce: Option<Spanned<String>>,
    tiles: Option<Spanned<String>>,
    tiles_attribution: Option<String>,
    tile_cache_mb: Option<u64>,
    pmtiles: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawOee {
    target: Option<Spanned<f64>>,
    small_stop: Option<Spanned<String>>,
    startup_window: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMachine {
    id: Spanned<String>,
    name: Option<String>,
    line: Option<String>,
    area: Option<String>,
    order: Option<i64>,
    ideal_cycle_time: Option<Spanned<f64>>,
    target_oee: Option<Spanned<f64>>,
    small_stop: Option<Spanned<String>>,
    state: Option<String>,
    reason: Option<String>,
    total: Option<String>,
    good: Option<String>,
    reject: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    id: Spanned<String>,
    name: Option<String>,
    area: Option<String>,
    order: Option<i64>,
    target_oee: Option<Spanned<f64>>,
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
struct RawSiteDb {
    url: Spanned<String>,
    password_env: Option<String>,
    password_file: Option<String>,
    sslmode: Option<Spanned<String>>,
    ca_file: Option<String>,
    raw_days: Option<u32>,
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
    url: Option<Spanned<String>>,
    group: Option<String>,
    host_id: Option<Spanned<String>>,
    topics: Option<Spanned<Vec<String>>>,
    format: Option<Spanned<String>>,
    map: Option<BTreeMap<String, String>>,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<String>,
    token_env: Option<String>,
    token_file: Option<String>,
    ca_file: Option<Spanned<String>>,
    cert_file: Option<Spanned<String>>,
    key_file: Option<Spanned<String>>,
    stale_after: Option<Spanned<String>>,
    max_payload_kb: Option<Spanned<usize>>,
    max_future: Option<Spanned<String>>,
    max_past_days: Option<Spanned<u32>>,
    /// OPC UA: the security policy and mode.
    security: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
    /// OPC UA: folders whose variables are mapped by their browse names.
    folders: Option<Vec<String>>,
    /// OPC UA: signal id → node id.
    nodes: Option<BTreeMap<String, String>>,
    /// OPC UA: the monitored items' sampling interval, queue size, absolute deadband, and percent deadband (of
    /// the node's `EURange`, for the nodes that have one).
    sampling: Option<Spanned<String>>,
    queue_size: Option<Spanned<u32>>,
    deadband: Option<Spanned<f64>>,
    deadband_percent: Option<Spanned<f64>>,
    /// OPC UA: an item silent this long is shown stale while the others flow.
    item_stale_after: Option<Spanned<String>>,
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
pub const DEMO_SITE_PLAN: &str = include_str!("../assets/site-plan.geojson");

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

/// How to reach a network gateway and what to accept from it.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// `mqtt://`, `mqtts://`, `http://` or `https://`; credentials are never part of it.
    pub url: url::Url,
    pub tls: TlsFiles,
    pub credentials: Credentials,
    /// The link shows as stale when nothing arrived for this long.
    pub stale_after_ms: i64,
    pub limits: Limits,
}

impl Link {
    pub fn new(url: url::Url) -> Self {
        Self {
            url,
            tls: TlsFiles::default(),
            credentials: Credentials::default(),
            stale_after_ms: DEFAULT_LINK_STALE_AFTER_MS,
            limits: Limits::default(),
        }
    }

    /// Whether the scheme asks for TLS (`mqtts`, `https`).
    pub fn uses_tls(&self) -> bool {
        matches!(self.url.scheme(), "mqtts" | "https")
    }
}

/// The link is stale after this long without a message, unless the gateway sets `stale_after`.
pub const DEFAULT_LINK_STALE_AFTER_MS: i64 = 60_000;

/// PEM files for TLS: a CA to trust instead of the system roots, and a client certificate for mutual TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
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
    pub fn password(&self) -> Result<Option<String>, String> {
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

/// Where secrets come from: environment variables or files, never the config itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

impl Credentials {
    /// The MQTT password, read now; `Ok(None)` when none is configured.
    pub fn password(&self) -> Result<Option<String>, String> {
        read_secret(self.password_env.as_deref(), self.password_file.as_deref(), "password")
    }

    /// The HTTP bearer token, read now; `Ok(None)` when none is configured.
    pub fn token(&self) -> Result<Option<String>, String> {
        read_secret(self.token_env.as_deref(), self.token_file.as_deref(), "token")
    }
}

fn read_secret(env: Option<&str>, file: Option<&Path>, what: &str) -> Result<Option<String>, String> {
    if let Some(var) = env {
        return match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_owned())),
            _ => Err(format!("the {what} environment variable {var} is not set")),
        };
    }
    if let Some(path) = file {
        return match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_owned())),
            Ok(_) => Err(format!("the {what} file {} is empty", path.display())),
            Err(err) => Err(format!("cannot read the {what} file {}: {err}", path.display())),
        };
    }
    Ok(None)
}

/// A Sparkplug B 3.0 host application on an MQTT broker.
#[derive(Clone, Debug, PartialEq)]
pub struct SparkplugGateway {
    pub link: Link,
    /// Only this Sparkplug group.
    pub group: Option<String>,
    /// The host id for the STATE topic and the MQTT client id.
    pub host_id: String,
}

/// Which JSON shape an MQTT JSON gateway sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonFormat {
    /// `{"timestamp": .., "values": [{"id", "v", "q", "t"}]}`; ids are the tag ids.
    Kepware,
    /// One value per topic; the id is the topic (or its mapping).
    Flat,
}

/// MQTT with JSON payloads.
#[derive(Clone, Debug, PartialEq)]
pub struct MqttJsonGateway {
    pub link: Link,
    pub topics: Vec<String>,
    pub format: JsonFormat,
    /// Topic → signal id for flat payloads; a key ending in `/#` maps a subtree to an id prefix.
    pub map: Vec<(String, String)>,
}

impl MqttJsonGateway {
    /// The signal id for a flat payload on `topic`.
    pub fn signal_for_topic<'a>(&'a self, topic: &'a str) -> std::borrow::Cow<'a, str> {
        for (from, to) in &self.map {
            if let Some(base) = from.strip_suffix('#') {
                if let Some(rest) = topic.strip_prefix(base) {
                    return std::borrow::Cow::Owned(format!("{to}{rest}"));
                }
            } else if from == topic {
                return std::borrow::Cow::Borrowed(to.as_str());
            }
        }
        std::borrow::Cow::Borrowed(topic)
    }
}

/// The Watchfloor HTTP gateway feed (docs/gateway-http.md).
#[derive(Clone, Debug, PartialEq)]
pub struct HttpGateway {
    pub link: Link,
}

/// The security an OPC UA connection asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpcUaSecurity {
    /// No signing, no encryption: only where the network itself is trusted.
    None,
    Basic256Sha256,
    Aes128Sha256RsaOaep,
    Aes256Sha256RsaPss,
}

impl OpcUaSecurity {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "none" => Some(Self::None),
            "basic256sha256" => Some(Self::Basic256Sha256),
            "aes128" | "aes128sha256rsaoaep" => Some(Self::Aes128Sha256RsaOaep),
            "aes256" | "aes256sha256rsapss" => Some(Self::Aes256Sha256RsaPss),
            _ => None,
        }
    }
}

/// An OPC UA server read by subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct OpcUaGateway {
    /// `opc.tcp://host:port/path`; the username and password are in `link.credentials`.
    pub link: Link,
    pub security: OpcUaSecurity,
    /// Sign only (`false`) or sign and encrypt (`true`, the default); meaningless with no security.
    pub encrypt: bool,
    /// Folders (node ids) whose variables become signals named by their browse path from the folder.
    pub folders: Vec<String>,
    /// Signal id → node id, e.g. `nsu=urn:plc;s=Line1.Filler.Temp`.
    pub nodes: Vec<(String, String)>,
    pub sampling_ms: f64,
    pub queue_size: u32,
    /// Absolute deadband of numeric items; 0: every change.
    pub deadband: f64,
    /// Percent of the node's `EURange` a value must move to be reported, for nodes that have an `EURange` (the
    /// others keep `deadband`); 0: none.
    pub deadband_percent: f64,
    /// An item with no value for this long is shown stale (its last value, greyed) while the rest flows; `None`:
    /// items are judged with their gateway only (for servers that report only changes).
    pub item_stale_after_ms: Option<i64>,
    /// Where the client's certificate and the trust list live (the data dir's `opcua-pki` when `None`).
    pub pki_dir: Option<PathBuf>,
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

struct Checker<'a> {
    text: &'a str,
    /// Relative file names in the config are relative to the config's directory.
    base: PathBuf,
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

    fn path(&self, value: &str) -> PathBuf {
        let p = PathBuf::from(value);
        if p.is_absolute() { p } else { self.base.join(p) }
    }

    /// The connection part of a network gateway; `None` (with problems noted) when it cannot be used.
    fn link(&mut self, g: &RawGateway, kind: &str) -> Option<Link> {
        let Some(url_text) = &g.url else {
            self.problem(g.kind.span(), format!("gateway {:?} needs a url", g.name.get_ref()));
            return None;
        };
        let schemes: &[&str] = match kind {
            "http" => &["http", "https"],
            "opcua" => &["opc.tcp"],
            _ => &["mqtt", "mqtts"],
        };
        let url = match url::Url::parse(url_text.get_ref().trim()) {
            Ok(u) if schemes.contains(&u.scheme()) && u.host_str().is_some_and(|h| !h.is_empty()) => u,
            Ok(u) if !schemes.contains(&u.scheme()) => {
                self.problem(
                    url_text.span(),
                    format!(
                        "url scheme {:?} does not fit kind {kind:?}; expected {}",
                        u.scheme(),
                        schemes.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(" or ")
                    ),
                );
                return None;
            }
            Ok(_) => {
                self.problem(url_text.span(), "url has no host".to_owned());
                return None;
            }
            Err(err) => {
                self.problem(url_text.span(), format!("url {:?} is not valid: {err}", url_text.get_ref()));
                return None;
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            self.problem(
                url_text.span(),
                "credentials do not belong in the url (they would end up in logs); use username with \
                 password_env or password_file, or token_env / token_file"
                    .to_owned(),
            );
            return None;
        }
        let mut link = Link::new(url);
        for (value, slot) in [
            (&g.ca_file, &mut link.tls.ca_file),
            (&g.cert_file, &mut link.tls.cert_file),
            (&g.key_file, &mut link.tls.key_file),
        ] {
            if let Some(v) = value {
                let path = self.path(v.get_ref());
                if !path.is_file() {
                    self.problem(v.span(), format!("file {} does not exist", path.display()));
                }
                *slot = Some(path);
            }
        }
        if let (Some(c), None) = (&g.cert_file, &g.key_file) {
            self.problem(c.span(), "cert_file needs key_file (client certificate and its key)".to_owned());
        }
        if (link.tls.ca_file.is_some() || link.tls.cert_file.is_some()) && !link.uses_tls() {
            self.problem(url_text.span(), "TLS files are set but the url is not mqtts:// or https://".to_owned());
        }
        link.credentials = Credentials {
            username: g.username.clone(),
            password_env: g.password_env.clone(),
            password_file: g.password_file.as_deref().map(|p| self.path(p)),
            token_env: g.token_env.clone(),
            token_file: g.token_file.as_deref().map(|p| self.path(p)),
        };
        if let Some(d) = &g.stale_after
            && let Some(d) = self.duration(d, "stale_after")
        {
            link.stale_after_ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        }
        if let Some(d) = &g.max_future
            && let Some(d) = self.duration(d, "max_future")
        {
            link.limits.max_future_ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        }
        if let Some(days) = &g.max_past_days {
            link.limits.max_past_ms = i64::from(*days.get_ref()) * 86_400_000;
        }
        if let Some(kb) = &g.max_payload_kb {
            if !(1..=256 * 1024).contains(kb.get_ref()) {
                self.problem(
                    kb.span(),
                    format!("max_payload_kb = {} is out of range; expected 1 to 262144", kb.get_ref()),
                );
            } else {
                link.limits.max_payload_bytes = kb.get_ref() * 1024;
            }
        }
        Some(link)
    }

    fn host_id(&mut self, g: &RawGateway) -> String {
        match &g.host_id {
            Some(id) if valid_topic_level(id.get_ref()) => id.get_ref().clone(),
            Some(id) => {
                self.problem(
                    id.span(),
                    format!("host_id {:?} must be one MQTT topic level: not empty, no '/', '+' or '#'", id.get_ref()),
                );
                String::new()
            }
            None => format!("watchfloor-{}", std::process::id()),
        }
    }

    fn mqtt_json(&mut self, g: &RawGateway, link: Link) -> Option<MqttJsonGateway> {
        let format = match g.format.as_ref().map(|f| f.get_ref().as_str()) {
            None | Some("kepware") => JsonFormat::Kepware,
            Some("flat") => JsonFormat::Flat,
            Some(other) => {
                let span = g.format.as_ref().map_or(0..0, Spanned::span);
                self.problem(span, format!("unknown format {other:?}; expected \"kepware\" or \"flat\""));
                return None;
            }
        };
        let topics = match &g.topics {
            Some(t) if !t.get_ref().is_empty() => {
                for topic in t.get_ref() {
                    if !valid_topic_filter(topic) {
                        self.problem(
                            t.span(),
                            format!(
                                "{topic:?} is not an MQTT topic filter ('+' and '#' only as whole levels, '#' last)"
                            ),
                        );
                        return None;
                    }
                }
                t.get_ref().clone()
            }
            _ => {
                self.problem(g.kind.span(), format!("mqtt-json gateway {:?} needs topics = [..]", g.name.get_ref()));
                return None;
            }
        };
        let map = g.map.clone().unwrap_or_default().into_iter().collect();
        Some(MqttJsonGateway { link, topics, format, map })
    }

    fn validate(&mut self, raw: &RawConfig) -> Config {
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
        let site =
            Site { name: raw.site.name.clone().unwrap_or_else(|| "Plant A".to_owned()), timezone: timezone.clone() };

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
                kind @ ("sparkplug" | "mqtt-json" | "http" | "opcua") => {
                    let Some(link) = self.link(g, kind) else { continue };
                    match kind {
                        "opcua" => {
                            let Some(opcua) = self.opcua(g, link) else { continue };
                            GatewayKind::OpcUa(opcua)
                        }
                        "sparkplug" => GatewayKind::Sparkplug(SparkplugGateway {
                            link,
                            group: g.group.clone().filter(|s| !s.is_empty()),
                            host_id: self.host_id(g),
                        }),
                        "mqtt-json" => {
                            let Some(json) = self.mqtt_json(g, link) else { continue };
                            GatewayKind::MqttJson(json)
                        }
                        _ => GatewayKind::Http(HttpGateway { link }),
                    }
                }
                other => {
                    self.problem(
                        g.kind.span(),
                        format!(
                            "unknown gateway kind {other:?}; expected \"sim\", \"sparkplug\", \"mqtt-json\", \"http\" or \"opcua\""
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
        let assets = self.assets(raw);
        let site_plan = match &raw.map.site_plan {
            Some(p) if p.get_ref() == "demo" => SitePlanSource::Demo,
            Some(p) => SitePlanSource::File(self.path(p.get_ref())),
            None => SitePlanSource::None,
        };
        let geofence_file = raw.map.geofences.as_ref().map(|p| self.path(p.get_ref()));
        let geofence_debounce_ms = raw
            .map
            .geofence_debounce
            .as_ref()
            .and_then(|d| self.duration(d, "map.geofence_debounce"))
            .map_or(crate::analytics::geofence::DEFAULT_DEBOUNCE_MS, |d| {
                i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
            });
        let tiles = raw.map.tiles.as_ref().and_then(|url| match TileServer::check_url(url.get_ref()) {
            Ok(()) => Some(TileServer {
                url: url.get_ref().clone(),
                attribution: raw.map.tiles_attribution.clone().unwrap_or_default(),
                cache_mb: raw.map.tile_cache_mb.unwrap_or(DEFAULT_CACHE_MB),
                cache_dir: None,
            }),
            Err(problem) => {
                self.problem(url.span(), problem);
                None
            }
        });
        let site_db = raw.site_db.as_ref().and_then(|db| self.site_db(db));
        Config {
            site,
            calendar,
            gateways,
            stale_after_ms,
            battery,
            history,
            site_db,
            assets,
            site_plan,
            geofence_file,
            geofence_debounce_ms,
            tiles,
            pmtiles: raw.map.pmtiles.as_ref().map(|p| self.path(p.get_ref())),
            alarms: self.alarms(&raw.alarm),
            alarm_defaults: self.alarm_defaults(&raw.alarms),
            horn: self.horn(&raw.alarms),
            reports: raw.reports.as_ref().and_then(|r| self.reports(r)),
            notify: raw.notify.as_ref().map(|n| self.notify(n)),
        }
    }

    fn site_db(&mut self, raw: &RawSiteDb) -> Option<SiteDb> {
        let url = raw.url.get_ref();
        if let Err(problem) = SiteDb::check_url(url) {
            self.problem(raw.url.span(), problem);
            return None;
        }
        let sslmode = match raw.sslmode.as_ref() {
            None => SslMode::Prefer,
            Some(m) => match SslMode::parse(m.get_ref()) {
                Some(mode) => mode,
                None => {
                    self.problem(
                        m.span(),
                        format!("site_db.sslmode {:?} is not one of disable, prefer, require", m.get_ref()),
                    );
                    return None;
                }
            },
        };
        if raw.password_env.is_some() && raw.password_file.is_some() {
            self.problem(raw.url.span(), "site_db: give password_env or password_file, not both".to_owned());
        }
        Some(SiteDb {
            url: url.clone(),
            password_env: raw.password_env.clone(),
            password_file: raw.password_file.as_deref().map(|p| self.path(p)),
            sslmode,
            ca_file: raw.ca_file.as_deref().map(|p| self.path(p)),
            raw_days: raw.raw_days.unwrap_or(SiteDb::DEFAULT_RAW_DAYS),
        })
    }

    fn alarms(&mut self, raw: &[RawAlarm]) -> Vec<crate::analytics::alarm::Rule> {
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

    fn alarm_defaults(&mut self, raw: &RawAlarms) -> crate::analytics::alarm::Defaults {
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

    /// An OPC UA gateway: security (`Basic256Sha256` with encryption unless told otherwise), what to map, how to
    /// sample; every mistake located.
    fn opcua(&mut self, g: &RawGateway, link: Link) -> Option<OpcUaGateway> {
        let security = match &g.security {
            None => OpcUaSecurity::Basic256Sha256,
            Some(v) => match OpcUaSecurity::parse(v.get_ref()) {
                Some(s) => s,
                None => {
                    self.problem(
                        v.span(),
                        format!(
                            "security {:?} is not none, basic256sha256, aes128_sha256_rsaoaep or aes256_sha256_rsapss",
                            v.get_ref()
                        ),
                    );
                    return None;
                }
            },
        };
        let encrypt = match g.mode.as_ref().map(|m| m.get_ref().trim().to_ascii_lowercase()) {
            None => true,
            Some(m) if m == "sign" => false,
            Some(m) if m == "sign_and_encrypt" || m == "signandencrypt" => true,
            Some(_) => {
                let span = g.mode.as_ref().map(Spanned::span).unwrap_or_default();
                self.problem(span, "mode must be \"sign\" or \"sign_and_encrypt\"".to_owned());
                return None;
            }
        };
        let folders = g.folders.clone().unwrap_or_default();
        let nodes: Vec<(String, String)> = g.nodes.clone().unwrap_or_default().into_iter().collect();
        if folders.is_empty() && nodes.is_empty() {
            self.problem(
                g.kind.span(),
                format!(
                    "OPC UA gateway {:?} maps nothing; give folders = [\"nsu=…;s=…\"] and/or nodes = {{ \"Signal/Id\" = \"nsu=…;s=…\" }}",
                    g.name.get_ref()
                ),
            );
            return None;
        }
        let sampling_ms = match self.millis(g.sampling.as_ref(), "sampling") {
            Some(ms) if ms > 0 => ms as f64,
            Some(_) => {
                let span = g.sampling.as_ref().map(Spanned::span).unwrap_or_default();
                self.problem(span, "sampling must be longer than zero".to_owned());
                return None;
            }
            None => 500.0,
        };
        let queue_size = g.queue_size.as_ref().map_or(10, |q| (*q.get_ref()).max(1));
        let deadband = match &g.deadband {
            Some(d) if *d.get_ref() < 0.0 || !d.get_ref().is_finite() => {
                self.problem(d.span(), format!("deadband {} must be zero or more", d.get_ref()));
                return None;
            }
            Some(d) => *d.get_ref(),
            None => 0.0,
        };
        let deadband_percent = match &g.deadband_percent {
            Some(d) if !(0.0..=100.0).contains(d.get_ref()) => {
                self.problem(d.span(), format!("deadband_percent {} must be from 0 to 100", d.get_ref()));
                return None;
            }
            Some(d) => *d.get_ref(),
            None => 0.0,
        };
        Some(OpcUaGateway {
            link,
            security,
            encrypt,
            folders,
            nodes,
            sampling_ms,
            queue_size,
            deadband,
            deadband_percent,
            item_stale_after_ms: self.millis(g.item_stale_after.as_ref(), "item_stale_after"),
            pki_dir: None,
        })
    }

    fn horn(&mut self, raw: &RawAlarms) -> Horn {
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

    fn fraction(&mut self, value: &Spanned<f64>, what: &str) -> Option<f64> {
        let v = *value.get_ref();
        if (0.0..=1.0).contains(&v) {
            Some(v)
        } else {
            self.problem(value.span(), format!("{what} = {v} is not a fraction; expected 0 to 1 (0.85 for 85 %)"));
            None
        }
    }

    fn millis(&mut self, value: Option<&Spanned<String>>, what: &str) -> Option<i64> {
        let d = self.duration(value?, what)?;
        Some(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// One `[[alarm]]`: one condition (limits in order lolo ≤ lo ≤ hi ≤ hihi, a rate, a stale time, a machine
    /// state, a zone or a gateway), what it watches, a known priority, durations; every mistake located.
    fn alarm(&mut self, a: &RawAlarm) -> Option<crate::analytics::alarm::Rule> {
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

    fn assets(&mut self, raw: &RawConfig) -> AssetModel {
        let mut assets = AssetModel::default();
        if let Some(t) = raw.oee.target.as_ref().and_then(|t| self.fraction(t, "oee.target")) {
            assets.target_oee = t;
        }
        if let Some(ms) = self.millis(raw.oee.small_stop.as_ref(), "oee.small_stop") {
            assets.small_stop_ms = ms;
        }
        if let Some(ms) = self.millis(raw.oee.startup_window.as_ref(), "oee.startup_window") {
            assets.startup_window_ms = ms;
        }
        for m in &raw.machine {
            let id = m.id.get_ref().trim().trim_end_matches(['/', '.']).to_owned();
            if id.is_empty() || assets.machine(&id).is_some() {
                self.problem(m.id.span(), format!("machine id {:?} is empty or used twice", m.id.get_ref()));
                continue;
            }
            let ideal_cycle_secs = m.ideal_cycle_time.as_ref().and_then(|c| {
                let v = *c.get_ref();
                if v.is_finite() && v > 0.0 {
                    Some(v)
                } else {
                    self.problem(c.span(), format!("ideal_cycle_time = {v} must be a number of seconds above zero"));
                    None
                }
            });
            let signals = [
                (&m.state, mm::STATE),
                (&m.reason, mm::REASON),
                (&m.total, mm::COUNT_TOTAL),
                (&m.good, mm::COUNT_GOOD),
                (&m.reject, mm::COUNT_REJECT),
            ]
            .into_iter()
            .filter_map(|(signal, metric)| Some((signal.clone()?, metric)))
            .collect();
            assets.machines.push(MachineOverride {
                id,
                name: m.name.clone(),
                line: m.line.clone(),
                area: m.area.clone(),
                order: m.order,
                ideal_cycle_secs,
                target_oee: m.target_oee.as_ref().and_then(|t| self.fraction(t, "target_oee")),
                small_stop_ms: self.millis(m.small_stop.as_ref(), "small_stop"),
                signals,
            });
        }
        for l in &raw.line {
            if assets.line(l.id.get_ref()).is_some() {
                self.problem(l.id.span(), format!("line {:?} is configured twice", l.id.get_ref()));
                continue;
            }
            assets.lines.push(LineOverride {
                id: l.id.get_ref().clone(),
                name: l.name.clone(),
                area: l.area.clone(),
                order: l.order,
                target_oee: l.target_oee.as_ref().and_then(|t| self.fraction(t, "target_oee")),
            });
        }
        assets
    }
}

fn valid_topic_level(level: &str) -> bool {
    !level.is_empty() && !level.contains(['/', '+', '#'])
}

/// An MQTT subscription filter: wildcards only as whole levels, `#` only last.
pub fn valid_topic_filter(filter: &str) -> bool {
    if filter.is_empty() {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, level)| match *level {
        "#" => i == levels.len() - 1,
        "+" => true,
        l => !l.contains(['+', '#']),
    })
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

/// A folder or a node added to an OPC UA gateway's mapping (by the Connections view's browser): into the config
/// file and into the running feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpcUaMapping {
    /// Every variable below, named by browse path from the folder.
    Folder(String),
    /// One node as one signal.
    Node { signal: String, node: String },
}

impl OpcUaMapping {
    /// Whether `config` does not map it yet.
    pub fn adds_to(&self, config: &OpcUaGateway) -> bool {
        match self {
            Self::Folder(folder) => !config.folders.contains(folder),
            Self::Node { signal, node } => !config.nodes.iter().any(|(s, n)| s == signal && n == node),
        }
    }

    /// Adds it to `config` (a node replaces what its signal was mapped to); false when it was there already.
    pub fn apply(&self, config: &mut OpcUaGateway) -> bool {
        if !self.adds_to(config) {
            return false;
        }
        match self {
            Self::Folder(folder) => config.folders.push(folder.clone()),
            Self::Node { signal, node } => {
                config.nodes.retain(|(s, _)| s != signal);
                config.nodes.push((signal.clone(), node.clone()));
            }
        }
        true
    }
}

/// Adds a folder (to `folders`) or a node (`signal = node` in `nodes`) to the OPC UA gateway `gateway` in the config
/// file at `path`, keeping everything else as written (comments, order, layout); the file is replaced whole, so a
/// failed write leaves the old one. Returns false when the mapping was there already.
pub fn add_opcua_mapping(path: &Path, gateway: &str, mapping: &OpcUaMapping) -> Result<bool, String> {
    let text = std::fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let mut doc: toml_edit::DocumentMut =
        text.parse().map_err(|err| format!("{} is not valid TOML: {err}", path.display()))?;
    let tables = doc
        .get_mut("gateway")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
        .ok_or_else(|| format!("{} has no [[gateway]]", path.display()))?;
    let table = tables
        .iter_mut()
        .find(|t| t.get("name").and_then(toml_edit::Item::as_str) == Some(gateway))
        .ok_or_else(|| format!("{} has no gateway named {gateway:?}", path.display()))?;
    let added = match mapping {
        OpcUaMapping::Folder(folder) => {
            let folders = table
                .entry("folders")
                .or_insert_with(|| toml_edit::value(toml_edit::Array::new()))
                .as_array_mut()
                .ok_or("folders is not a list")?;
            let had = folders.iter().any(|f| f.as_str() == Some(folder.as_str()));
            if !had {
                folders.push(folder.as_str());
            }
            !had
        }
        OpcUaMapping::Node { signal, node } => {
            let nodes = table
                .entry("nodes")
                .or_insert_with(|| toml_edit::value(toml_edit::InlineTable::new()))
                .as_table_like_mut()
                .ok_or("nodes is not a table")?;
            let had = nodes.get(signal).and_then(toml_edit::Item::as_str) == Some(node.as_str());
            if !had {
                nodes.insert(signal, toml_edit::value(node.as_str()));
            }
            !had
        }
    };
    if added {
        let tmp = path.with_extension("toml.new");
        std::fs::write(&tmp, doc.to_string()).map_err(|err| format!("cannot write {}: {err}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|err| format!("cannot replace {}: {err}", path.display()))?;
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_overrides_and_oee_settings() {
        let cfg = parse(
            r#"[oee]
target = 0.7
small_stop = "3m"

[[machine]]
id = "PlantA/Line1/Filler"
name = "Filler 1"
line = "Bottling"
ideal_cycle_time = 2.5
target_oee = 0.8
state = "PlantA/Line1/Filler/Status"

[[line]]
id = "Bottling"
name = "Bottling line"
order = 1
target_oee = 0.75
"#,
        )
        .expect("valid");
        let a = &cfg.assets;
        assert_eq!((a.target_oee, a.small_stop_ms), (0.7, 180_000));
        let p = a.machine_path("PlantA/Line1/Filler", "Site");
        assert_eq!((p.line.as_str(), p.machine.as_str()), ("Bottling", "Filler 1"));
        assert_eq!(a.params("PlantA/Line1/Filler").ideal_cycle_secs, Some(2.5));
        assert_eq!(a.machine_target("PlantA/Line1/Capper", "Bottling"), 0.75);
        assert_eq!(a.signal_route("PlantA/Line1/Filler/Status"), Some(("PlantA/Line1/Filler", "State")));
        let err = parse("[oee]\ntarget = 85\n").expect_err("a percentage is not a fraction");
        assert!(err.to_string().contains("site.toml:2:10: oee.target = 85 is not a fraction"), "{err}");
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("site.toml"))
    }

    #[test]
    fn alarm_rules_are_read_and_their_mistakes_located() {
        let cfg = parse(
            "[[alarm]]\nname = \"Filler overtemp\"\nsignal = \"PlantA/Line1/Filler/Temperature\"\nhi = 85.0\n\
             hihi = 95.0\ndeadband = 1.5\non_delay = \"10s\"\noff_delay = \"5s\"\npriority = \"high\"\n",
        )
        .expect("valid");
        let rule = &cfg.alarms[0];
        assert_eq!((rule.name.as_str(), rule.priority), ("Filler overtemp", crate::model::alarm::Priority::High));
        let crate::analytics::alarm::Condition::Limit(l) = rule.condition else { panic!("a limit rule") };
        assert_eq!(
            (l.hi, l.hihi, l.deadband, l.on_delay_ms, l.off_delay_ms),
            (Some(85.0), Some(95.0), 1.5, 10_000, 5_000)
        );
        let err = parse("[[alarm]]\nname = \"x\"\nsignal = \"a/b\"\n").expect_err("no limit");
        assert!(err.to_string().contains("site.toml:2:8: alarm \"x\" has no condition"), "{err}");
        let err = parse("[[alarm]]\nname = \"x\"\nsignal = \"a/b\"\nhi = 1.0\nstale = \"1m\"\n").expect_err("two");
        assert!(err.to_string().contains("more than one kind of condition"), "{err}");
        let err = parse("[[alarm]]\nname = \"x\"\nhi = 1.0\n").expect_err("no signal");
        assert!(err.to_string().contains("needs the signal"), "{err}");
        let err = parse("[[alarm]]\nname = \"x\"\nzone = \"Dock\"\n[[alarm]]\nname = \"x\"\nzone = \"Dock\"\n")
            .expect_err("twice");
        assert!(err.to_string().contains("site.toml:5:8: alarm name \"x\" is used twice"), "{err}");
        let err = parse("[[alarm]]\nname = \"x\"\nsignal = \"a/b\"\nhi = 1.0\nhihi = 0.5\n").expect_err("order");
        assert!(err.to_string().contains("in order"), "{err}");
        let err = parse("[[alarm]]\nname = \"x\"\nsignal = \"a/b\"\nhi = 1.0\npriority = \"severe\"\n")
            .expect_err("priority");
        assert!(err.to_string().contains("site.toml:5:12: alarm priority \"severe\""), "{err}");
    }

    #[test]
    fn the_horn_settings_are_read_with_files_next_to_the_config() {
        use crate::model::alarm::Priority;
        let cfg = parse("[alarms]\nsilence = \"5m\"\n[alarms.sound]\nurgent = \"klaxon.wav\"\n").expect("valid");
        assert_eq!(cfg.horn.silence_ms, 300_000);
        assert_eq!(cfg.horn.sounds, vec![(Priority::Urgent, PathBuf::from("klaxon.wav"))]);
        assert_eq!(parse("").expect("empty").horn, Horn::default());
        let err = parse("[alarms]\nsilence = \"500ms\"\n").expect_err("too short");
        assert!(err.to_string().contains("site.toml:2:11: alarms.silence must be at least 1s"), "{err}");
        let err = parse("[alarms.sound]\nsiren = \"x.wav\"\n").expect_err("no such priority");
        assert!(err.to_string().contains("siren"), "{err}");
    }

    #[test]
    fn other_alarm_conditions_and_the_defaults_are_read() {
        use crate::analytics::alarm::{Condition, Watch};
        let cfg = parse(
            "[alarms]\nmachine_down = \"5m\"\n\
             [[alarm]]\nname = \"Tank rising\"\nsignal = \"Site/*/Level\"\nrate = 5.0\nrate_window = \"2m\"\n\
             [[alarm]]\nname = \"Dock\"\nzone = \"Loading docks\"\nwhen = \"exit\"\n\
             [[alarm]]\nname = \"Mixer silent\"\nsignal = \"Site/Mixer/Speed\"\nstale = \"5m\"\n\
             [[alarm]]\nname = \"Battery low\"\nsignal = \"*/Battery/SoC\"\nlo = 50.0\npriority = \"low\"\n",
        )
        .expect("valid");
        let c: Vec<&Condition> = cfg.alarms.iter().map(|r| &r.condition).collect();
        assert!(matches!(c[0], Condition::Rate { per_min, window_ms: 120_000, .. } if *per_min == 5.0));
        assert!(matches!(c[1], Condition::Zone { inside: false, .. }));
        assert!(matches!(c[2], Condition::Stale { after_ms: 300_000 }));
        assert_eq!(cfg.alarms[1].watch, Watch::Zone("Loading docks".into()));
        let rules = cfg.alarm_rules(&crate::model::siteplan::SitePlan::default());
        let down = rules.iter().find(|r| r.name == "Machine down").expect("default");
        assert!(matches!(down.condition, Condition::State { on_delay_ms: 300_000, .. }));
        let low: Vec<_> = rules.iter().filter(|r| r.name == "Battery low").collect();
        assert_eq!(low.len(), 1, "the configured rule replaces the default");
        assert!(matches!(low[0].condition, Condition::Limit(_)));
        let off = parse("[alarms]\ndefaults = false\n").expect("valid");
        assert!(off.alarm_rules(&crate::model::siteplan::SitePlan::default()).is_empty());
        let err = parse("[alarms]\nmachine_down = \"soon\"\n").expect_err("bad");
        assert!(err.to_string().contains("site.toml:2:16"), "{err}");
    }

    #[test]
    fn the_map_takes_a_tile_server_geofences_and_a_debounce() {
        let cfg = parse(
            "[map]\ntiles = \"https://tile.example/{z}/{x}/{y}.png\"\ntiles_attribution = \"© Example\"\n\
             tile_cache_mb = 100\ngeofences = \"fences.geojson\"\ngeofence_debounce = \"5s\"\n",
        )
        .expect("valid");
        let tiles = cfg.tiles.expect("tiles");
        assert_eq!((tiles.attribution.as_str(), tiles.cache_mb), ("© Example", 100));
        assert_eq!(cfg.geofence_debounce_ms, 5_000);
        assert!(cfg.geofence_file.is_some_and(|p| p.ends_with("fences.geojson")));
        let err = parse("[map]\ntiles = \"https://tile.example/{z}/{x}.png\"\n").expect_err("no {y}");
        assert!(err.to_string().contains("site.toml:2:9: map.tiles"), "{err}");
        let err = parse("[map]\ngeofence_debounce = \"soon\"\n").expect_err("not a duration");
        assert!(err.to_string().contains("map.geofence_debounce"), "{err}");
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
kind = "modbus"

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
        assert!(text.contains("unknown gateway kind \"modbus\""), "{text}");
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

    #[test]
    fn network_gateways_parse_with_their_links() {
        let cfg = parse(
            r#"
[[gateway]]
name = "plant"
kind = "sparkplug"
url = "mqtt://127.0.0.1:1883"
group = "PlantA"
host_id = "watchfloor-ops1"
stale_after = "20s"
max_payload_kb = 512

[[gateway]]
name = "line3"
kind = "mqtt-json"
url = "mqtts://broker.example:8883"
topics = ["site/line3/#"]
format = "flat"
map = { "site/line3/#" = "PlantA/Line3/", "site/oven" = "PlantA/Line3/Oven/Temperature" }
username = "ops"
password_env = "WF_MQTT_PASSWORD"

[[gateway]]
name = "yard"
kind = "http"
url = "http://10.0.0.5:8080/watchfloor"
token_env = "WF_GATEWAY_TOKEN"
max_future = "1m"
max_past_days = 7
"#,
        )
        .expect("valid config");
        let GatewayKind::Sparkplug(sp) = &cfg.gateways[0].kind else { panic!("sparkplug") };
        assert_eq!(sp.group.as_deref(), Some("PlantA"));
        assert_eq!(sp.host_id, "watchfloor-ops1");
        assert_eq!(sp.link.stale_after_ms, 20_000);
        assert_eq!(sp.link.limits.max_payload_bytes, 512 * 1024);
        let GatewayKind::MqttJson(json) = &cfg.gateways[1].kind else { panic!("mqtt-json") };
        assert!(json.link.uses_tls());
        assert_eq!(json.format, JsonFormat::Flat);
        assert_eq!(json.signal_for_topic("site/line3/labeler/temp"), "PlantA/Line3/labeler/temp");
        assert_eq!(json.signal_for_topic("site/oven"), "PlantA/Line3/Oven/Temperature");
        assert_eq!(json.signal_for_topic("other/x"), "other/x");
        let GatewayKind::Http(http) = &cfg.gateways[2].kind else { panic!("http") };
        assert_eq!(http.link.credentials.token_env.as_deref(), Some("WF_GATEWAY_TOKEN"));
        assert_eq!(http.link.limits.max_future_ms, 60_000);
        assert_eq!(http.link.limits.max_past_ms, 7 * 86_400_000);
    }

    #[test]
    fn network_gateway_mistakes_are_located() {
        let err = parse(
            r#"[[gateway]]
name = "a"
kind = "sparkplug"
url = "http://127.0.0.1:1883"

[[gateway]]
name = "b"
kind = "http"
url = "http://user:secret@gw:80/"

[[gateway]]
name = "c"
kind = "mqtt-json"
url = "mqtt://127.0.0.1"
topics = ["a/#/b"]

[[gateway]]
name = "d"
kind = "sparkplug"
url = "mqtt://127.0.0.1"
host_id = "a/b"
ca_file = "missing-ca.pem"
"#,
        )
        .expect_err("mistakes");
        let lines: Vec<_> = err.problems.iter().map(|p| p.line.expect("line")).collect();
        assert_eq!(lines, vec![4, 9, 15, 22, 20, 21], "{err}");
        let text = err.to_string();
        assert!(text.contains("does not fit kind \"sparkplug\""), "{text}");
        assert!(text.contains("credentials do not belong in the url"), "{text}");
        assert!(!text.contains("secret"), "a password must not be echoed: {text}");
        assert!(text.contains("not an MQTT topic filter"), "{text}");
        assert!(text.contains("missing-ca.pem does not exist"), "{text}");
        assert!(text.contains("one MQTT topic level"), "{text}");
    }

    #[test]
    fn secrets_come_from_the_environment_or_a_file() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret\n").expect("write");
        let c = Credentials { token_file: Some(file), ..Credentials::default() };
        assert_eq!(c.token(), Ok(Some("s3cret".to_owned())));
        let c = Credentials { token_env: Some("WF_TEST_SURELY_UNSET_VAR".into()), ..Credentials::default() };
        assert!(c.token().expect_err("unset").contains("WF_TEST_SURELY_UNSET_VAR is not set"));
        assert_eq!(Credentials::default().password(), Ok(None));
    }

    #[test]
    fn topic_filters_are_checked() {
        for ok in ["a/b", "a/+/c", "a/#", "#", "+"] {
            assert!(valid_topic_filter(ok), "{ok}");
        }
        for bad in ["", "a/#/b", "a+/b", "a/b#"] {
            assert!(!valid_topic_filter(bad), "{bad}");
        }
    }
}
