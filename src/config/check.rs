//! The checker: every field of the file validated, with the line and column of each mistake, into the typed
//! settings of [`super::Config`] (and of the feeds and stores it starts).

use super::raw::*;
use super::*;

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

    /// The connection part of a network gateway; `None` (with problems noted) when it cannot be used.
    pub(super) fn link(&mut self, g: &RawGateway, kind: &str) -> Option<Link> {
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

    pub(super) fn host_id(&mut self, g: &RawGateway) -> String {
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

    pub(super) fn mqtt_json(&mut self, g: &RawGateway, link: Link) -> Option<MqttJsonGateway> {
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

    /// An OPC UA gateway: security (`Basic256Sha256` with encryption unless told otherwise), what to map, how to
    /// sample; every mistake located.
    pub(super) fn opcua(&mut self, g: &RawGateway, link: Link) -> Option<OpcUaGateway> {
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
