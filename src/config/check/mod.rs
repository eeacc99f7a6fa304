//! The checker: every field of the file validated, with the line and column of each mistake, into the typed
//! settings of [`super::Config`] (and of the feeds and stores it starts).

use super::raw::*;
use super::*;
mod alarms;
mod gateways;
pub use gateways::*;

pub(super) struct Checker<'a> {
    pub(super) text: &'a str,
    /// Relative file names in the config are relative to the config's directory.
    pub(super) base: PathBuf,
    pub(super) problems: Vec<ConfigProblem>,
}

impl Checker<'_> {
    pub(super) fn problem(&mut self, span: std::ops::Range<usize>, message: String) {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        self.problems.push(ConfigProblem { line: Some(line), column: Some(column), message });
    }

    pub(super) fn into_error(self, file: &Path) -> ConfigError {
        ConfigError { file: file.to_owned(), problems: self.problems }
    }

    pub(super) fn duration(&mut self, value: &Spanned<String>, what: &str) -> Option<SignedDuration> {
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

    pub(super) fn time_of_day(&mut self, value: &Spanned<String>, what: &str) -> Option<Time> {
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

    pub(super) fn path(&self, value: &str) -> PathBuf {
        let p = PathBuf::from(value);
        if p.is_absolute() { p } else { self.base.join(p) }
    }

    #[expect(clippy::too_many_lines, reason = "the file's sections in the order they are written, each a few lines")]
    pub(super) fn validate(&mut self, raw: &RawConfig) -> Config {
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

    pub(super) fn site_db(&mut self, raw: &RawSiteDb) -> Option<SiteDb> {
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

    pub(super) fn fraction(&mut self, value: &Spanned<f64>, what: &str) -> Option<f64> {
        let v = *value.get_ref();
        if (0.0..=1.0).contains(&v) {
            Some(v)
        } else {
            self.problem(value.span(), format!("{what} = {v} is not a fraction; expected 0 to 1 (0.85 for 85 %)"));
            None
        }
    }

    pub(super) fn millis(&mut self, value: Option<&Spanned<String>>, what: &str) -> Option<i64> {
        let d = self.duration(value?, what)?;
        Some(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    pub(super) fn assets(&mut self, raw: &RawConfig) -> AssetModel {
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
