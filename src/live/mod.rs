//! `LiveState`: the one owner of "now". It changes only when [`LiveState::apply`] is given a feed event (from
//! `App::logic`); the UI only reads it.
//!
//! It keeps the latest sample per signal, and folds machine and vehicle metrics (DOMAIN §2) into [`MachineLive`] and
//! [`VehicleLive`] as they arrive, so drawing a frame never scans signals.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use crate::analytics::OeeTracker;
use crate::analytics::geofence::{Geofences, VehicleZones};
use crate::analytics::history::input_of;
use crate::model::asset::AssetModel;
use crate::model::machine::metric as mm;
use crate::model::vehicle::{MOVING_MIN_SPEED_KMH, metric as vm};
use crate::model::{
    BatteryThresholds, Fix, MachinePath, MachineState, Sample, ShiftCalendar, SignalId, SignalMeta, Value, VehicleKind,
    VehiclePath, VehicleStatus,
};
use crate::model::{FeedEvent, FeedEventBody, FeedState, FeedStatus};

/// How far back the parts rate looks.
pub const RATE_WINDOW_MS: i64 = crate::model::time::MINUTE_MS;
/// How many recent fixes a vehicle keeps for its trail.
pub const TRAIL_LEN: usize = 600;
/// How far back a vehicle keeps state-of-charge readings (for time to empty), and how close they may be.
pub const SOC_HISTORY_MS: i64 = 15 * crate::model::time::MINUTE_MS;
const SOC_SPACING_MS: i64 = 10_000;
/// Rejected-message reasons kept per gateway.
const RECENT_REJECTS: usize = 50;

/// Settings that change how live values are read.
#[derive(Clone, Debug)]
pub struct LiveSettings {
    /// A vehicle or machine silent this long is stale (DOMAIN §8).
    pub stale_after_ms: i64,
    /// Samples stamped further ahead of the arrival time than this are rejected (clock skew).
    pub max_future_ms: i64,
    /// Site name used for sources whose ids carry none (Kepware, flat JSON).
    pub default_site: String,
    pub battery: HashMap<VehicleKind, BatteryThresholds>,
    /// The shifts OEE is tracked over.
    pub calendar: ShiftCalendar,
    /// Overrides of the discovered asset model, and OEE defaults.
    pub assets: Arc<AssetModel>,
    /// The zones each vehicle is tracked in.
    pub geofences: Arc<Geofences>,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            stale_after_ms: 30_000,
            max_future_ms: 5 * 60_000,
            default_site: "Site".to_owned(),
            battery: VehicleKind::ALL.into_iter().map(|k| (k, BatteryThresholds::default_for(k))).collect(),
            calendar: ShiftCalendar::default_three_shifts(jiff::tz::TimeZone::UTC),
            assets: Arc::new(AssetModel::default()),
            geofences: Arc::new(Geofences::default()),
        }
    }
}

/// The latest of one signal.
#[derive(Clone, Debug)]
pub struct SignalLive {
    pub gateway: Arc<str>,
    pub meta: Option<SignalMeta>,
    pub last: Sample,
    pub stale: bool,
    /// The machine or vehicle the signal belongs to, worked out once.
    route: Route,
}

/// What is known of one machine now.
#[derive(Clone, Debug)]
pub struct MachineLive {
    /// The machine's signal-id prefix.
    pub id: Arc<str>,
    pub path: MachinePath,
    pub gateway: Arc<str>,
    pub state: Option<MachineState>,
    /// Source time the current state began (as far as we saw it).
    pub state_since_ms: i64,
    pub reason: Option<String>,
    pub total: Option<i64>,
    pub good: Option<i64>,
    pub reject: Option<i64>,
    pub ideal_cycle_secs: Option<f64>,
    pub temperature_c: Option<f64>,
    pub last_seen_ms: i64,
    pub stale: bool,
    /// The order the machine was first seen in (births list machines in process order).
    pub order: u64,
    /// (source time, parts added since the previous count) over the rate window.
    increments: VecDeque<(i64, i64)>,
    /// Source time of the first count seen: the rate window cannot reach further back.
    counting_since_ms: Option<i64>,
}

impl MachineLive {
    fn new(id: Arc<str>, path: MachinePath, gateway: Arc<str>) -> Self {
        Self {
            id,
            path,
            gateway,
            state: None,
            state_since_ms: 0,
            reason: None,
            total: None,
            good: None,
            reject: None,
            ideal_cycle_secs: None,
            temperature_c: None,
            last_seen_ms: 0,
            stale: false,
            order: 0,
            increments: VecDeque::new(),
            counting_since_ms: None,
        }
    }

    /// Parts per minute over the last minute before `now_ms`, counter resets handled (a drop is a reset, and the
    /// new value is what was made since). Until counts have been watched for 10 s the rate is unknown; until a full
    /// minute, it is taken over the time watched.
    pub fn rate_per_min(&self, now_ms: i64) -> Option<f64> {
        let watched_ms = (now_ms - self.counting_since_ms?).min(RATE_WINDOW_MS);
        if watched_ms < 10_000 {
            return None;
        }
        let parts: i64 = self.increments.iter().filter(|(ts, _)| now_ms - ts < RATE_WINDOW_MS).map(|(_, n)| n).sum();
        #[expect(clippy::cast_precision_loss, reason = "parts and milliseconds per minute are small")]
        let rate = parts as f64 * 60_000.0 / watched_ms as f64;
        Some(rate)
    }

    /// The rate at the ideal cycle time, parts per minute.
    pub fn ideal_rate_per_min(&self) -> Option<f64> {
        self.ideal_cycle_secs.filter(|c| *c > 0.0).map(|c| 60.0 / c)
    }

    fn set_total(&mut self, ts_ms: i64, total: i64) {
        self.counting_since_ms.get_or_insert(ts_ms);
        let added = match self.total {
            Some(prev) if total >= prev => total - prev,
            // A drop is a counter reset: what it reads now was made since the reset.
            Some(_) => total,
            // The first value tells nothing about the rate.
            None => 0,
        };
        self.total = Some(total);
        if added > 0 {
            self.increments.push_back((ts_ms, added));
        }
        while self.increments.front().is_some_and(|(t, _)| ts_ms - t >= RATE_WINDOW_MS) {
            self.increments.pop_front();
        }
    }
}

/// What is known of one vehicle now.
#[derive(Clone, Debug)]
pub struct VehicleLive {
    /// The vehicle's signal-id prefix.
    pub id: Arc<str>,
    pub path: VehiclePath,
    pub gateway: Arc<str>,
    pub kind: VehicleKind,
    lat_deg: Option<(i64, f64)>,
    lon_deg: Option<(i64, f64)>,
    heading_deg: f64,
    pub fix: Option<Fix>,
    pub speed_kmh: Option<f64>,
    pub soc_percent: Option<f64>,
    pub charging: bool,
    pub voltage: Option<f64>,
    pub battery_temp_c: Option<f64>,
    pub odometer_km: Option<f64>,
    /// Arrival time of the last sample (the feed's clock): what "last seen" and staleness use.
    pub last_seen_ms: i64,
    pub stale: bool,
    /// The order the vehicle was first seen in.
    pub order: u64,
    pub trail: VecDeque<Fix>,
    /// (source time, state of charge %) over the last [`SOC_HISTORY_MS`], at most one per 10 s.
    pub soc_history: VecDeque<(i64, f64)>,
    /// Which geofences the vehicle is in (debounced).
    pub zones: VehicleZones,
}

impl VehicleLive {
    fn new(id: Arc<str>, path: VehiclePath, gateway: Arc<str>) -> Self {
        Self {
            id,
            path,
            gateway,
            kind: VehicleKind::Other,
            lat_deg: None,
            lon_deg: None,
            heading_deg: 0.0,
            fix: None,
            speed_kmh: None,
            soc_percent: None,
            charging: false,
            voltage: None,
            battery_temp_c: None,
            odometer_km: None,
            last_seen_ms: 0,
            stale: false,
            order: 0,
            trail: VecDeque::new(),
            soc_history: VecDeque::new(),
            zones: VehicleZones::default(),
        }
    }

    /// Moving, idle, charging, or offline when nothing was heard for `stale_after_ms` (or the source died).
    pub fn status(&self, now_ms: i64, stale_after_ms: i64) -> VehicleStatus {
        if self.stale || now_ms - self.last_seen_ms > stale_after_ms {
            VehicleStatus::Offline
        } else if self.charging {
            VehicleStatus::Charging
        } else if self.speed_kmh.unwrap_or(0.0) >= MOVING_MIN_SPEED_KMH {
            VehicleStatus::Moving
        } else {
            VehicleStatus::Idle
        }
    }

    /// A fix is made when latitude and longitude of the same source time have both arrived.
    fn try_fix(&mut self) {
        let (Some((t_lat, lat_deg)), Some((t_lon, lon_deg))) = (self.lat_deg, self.lon_deg) else {
            return;
        };
        if t_lat != t_lon || self.fix.is_some_and(|f| f.ts_ms >= t_lat) {
            return;
        }
        let fix = Fix { ts_ms: t_lat, lat_deg, lon_deg, heading_deg: self.heading_deg };
        self.fix = Some(fix);
        if self.trail.len() == TRAIL_LEN {
            self.trail.pop_front();
        }
        self.trail.push_back(fix);
    }
}

/// One gateway as the status bar and connections panel see it.
#[derive(Clone, Debug)]
pub struct GatewayLive {
    pub status: FeedStatus,
    pub since_ms: i64,
    pub last_message_ms: Option<i64>,
    pub messages: u64,
    pub samples: u64,
    pub rejected: u64,
    pub recent_rejects: VecDeque<(i64, String)>,
}

impl GatewayLive {
    fn new(now_ms: i64) -> Self {
        Self {
            status: FeedStatus::new(FeedState::Connecting),
            since_ms: now_ms,
            last_message_ms: None,
            messages: 0,
            samples: 0,
            rejected: 0,
            recent_rejects: VecDeque::new(),
        }
    }

    fn reject(&mut self, ts_ms: i64, reason: String) {
        self.rejected += 1;
        if self.recent_rejects.len() == RECENT_REJECTS {
            self.recent_rejects.pop_front();
        }
        self.recent_rejects.push_back((ts_ms, reason));
    }
}

/// Where a signal's values go, worked out once per signal.
#[derive(Clone, Debug)]
enum Route {
    Machine(Arc<str>, &'static str),
    Vehicle(Arc<str>, &'static str),
    Unrouted,
}

/// Counters over everything applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestStats {
    pub events: u64,
    pub samples: u64,
    /// Older than the value already shown (late or duplicate): kept for history, not shown live.
    pub late: u64,
    pub historical: u64,
    pub rejected: u64,
    /// Replaced by a newer value before the UI saw them (the UI fell behind).
    pub coalesced: u64,
}

/// Everything live, owned by the app.
#[derive(Debug, Default)]
pub struct LiveState {
    pub settings: LiveSettings,
    pub signals: HashMap<SignalId, SignalLive>,
    meta: HashMap<SignalId, SignalMeta>,
    /// Keyed by source prefix, so machines of a line sit together.
    pub machines: BTreeMap<Arc<str>, MachineLive>,
    pub vehicles: HashMap<Arc<str>, VehicleLive>,
    pub gateways: BTreeMap<Arc<str>, GatewayLive>,
    pub stats: IngestStats,
    /// OEE of the shift running now, fed with every machine value as it is applied.
    pub oee: OeeTracker,
    next_order: u64,
}

/// Machines by state class, vehicles by status: what the status bar shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub machines: usize,
    pub machines_running: usize,
    pub machines_down: usize,
    pub vehicles: usize,
    pub vehicles_moving: usize,
    pub vehicles_charging: usize,
    pub vehicles_offline: usize,
}

impl LiveState {
    pub fn new(settings: LiveSettings) -> Self {
        let oee = OeeTracker::new(settings.calendar.clone(), Arc::clone(&settings.assets));
        Self { settings, oee, ..Self::default() }
    }

    /// Machines that carry a state (DOMAIN §2: that is what makes a source a machine).
    pub fn machines(&self) -> impl Iterator<Item = &MachineLive> {
        self.machines.values().filter(|m| m.state.is_some())
    }

    /// Vehicles that carry a position.
    pub fn vehicles(&self) -> impl Iterator<Item = &VehicleLive> {
        self.vehicles.values().filter(|v| v.fix.is_some())
    }

    /// Machines grouped by line: lines by name (natural order: Line2 before Line10), machines in the order they
    /// were first seen (a gateway announces them in process order).
    pub fn machines_by_line(&self) -> Vec<(&MachinePath, Vec<&MachineLive>)> {
        let mut machines: Vec<&MachineLive> = self.machines().collect();
        machines.sort_by_key(|m| m.order);
        // Config's order first, then the order seen.
        machines.sort_by_key(|m| self.settings.assets.machine(&m.id).and_then(|o| o.order).unwrap_or(i64::MAX));
        let mut lines: Vec<(&MachinePath, Vec<&MachineLive>)> = Vec::new();
        for m in machines {
            let same_line = |p: &MachinePath| p.site == m.path.site && p.line == m.path.line;
            match lines.iter_mut().find(|(p, _)| same_line(p)) {
                Some((_, list)) => list.push(m),
                None => lines.push((&m.path, vec![m])),
            }
        }
        let line_order = |p: &MachinePath| self.settings.assets.line(&p.line).and_then(|l| l.order).unwrap_or(i64::MAX);
        lines.sort_by(|(a, _), (b, _)| {
            crate::model::asset::natural_cmp(&a.site, &b.site)
                .then_with(|| line_order(a).cmp(&line_order(b)))
                .then_with(|| crate::model::asset::natural_cmp(&a.line, &b.line))
        });
        lines
    }

    /// Vehicles in the order they were first seen.
    pub fn vehicles_in_order(&self) -> Vec<&VehicleLive> {
        let mut vehicles: Vec<&VehicleLive> = self.vehicles().collect();
        vehicles.sort_by_key(|v| v.order);
        vehicles
    }

    pub fn vehicle_status(&self, v: &VehicleLive, now_ms: i64) -> VehicleStatus {
        v.status(now_ms, self.settings.stale_after_ms)
    }

    pub fn thresholds(&self, kind: VehicleKind) -> BatteryThresholds {
        self.settings.battery.get(&kind).copied().unwrap_or_else(|| BatteryThresholds::default_for(kind))
    }

    pub fn summary(&self, now_ms: i64) -> Summary {
        let mut s = Summary::default();
        for m in self.machines() {
            s.machines += 1;
            match m.state {
                Some(MachineState::Running) => s.machines_running += 1,
                Some(MachineState::Down) => s.machines_down += 1,
                _ => {}
            }
        }
        for v in self.vehicles() {
            s.vehicles += 1;
            match self.vehicle_status(v, now_ms) {
                VehicleStatus::Moving => s.vehicles_moving += 1,
                VehicleStatus::Charging => s.vehicles_charging += 1,
                VehicleStatus::Offline => s.vehicles_offline += 1,
                VehicleStatus::Idle => {}
            }
        }
        s
    }

    /// Folds one feed event into the live state.
    pub fn apply(&mut self, event: &FeedEvent) {
        self.stats.events += 1;
        let gateway =
            self.gateways.entry(Arc::clone(&event.gateway)).or_insert_with(|| GatewayLive::new(event.received_ms));
        gateway.messages += 1;
        gateway.last_message_ms = Some(event.received_ms);
        match &event.body {
            FeedEventBody::Status(status) => {
                if gateway.status.state != status.state {
                    gateway.since_ms = event.received_ms;
                }
                gateway.status = status.clone();
                if status.state != FeedState::Live && status.state != FeedState::Connecting {
                    // The link is gone: everything from it is now the last known value, not the present.
                    self.mark_stale(&event.gateway, "", event.received_ms);
                }
            }
            FeedEventBody::Birth(meta) => {
                for m in meta {
                    self.meta.insert(m.id.clone(), m.clone());
                    if let Some(sig) = self.signals.get_mut(&m.id) {
                        sig.meta = Some(m.clone());
                    }
                }
            }
            FeedEventBody::Samples(samples) => {
                for sample in samples {
                    self.apply_sample(&event.gateway, event.received_ms, sample);
                }
            }
            FeedEventBody::Stale { prefix } => self.mark_stale(&event.gateway, prefix, event.received_ms),
            FeedEventBody::Rejected { reason } => {
                self.stats.rejected += 1;
                gateway.reject(event.received_ms, reason.clone());
            }
        }
    }

    /// Shows the last values kept in the history cache (`(gateway, sample)`), at start: as stale, since they are
    /// not the present, until fresh values arrive. Values older than what is already shown are ignored.
    pub fn restore(&mut self, values: &[(String, Sample)]) {
        let machines_before: std::collections::HashSet<Arc<str>> = self.machines.keys().cloned().collect();
        let vehicles_before: std::collections::HashSet<Arc<str>> = self.vehicles.keys().cloned().collect();
        let mut gateways: HashMap<&str, Arc<str>> = HashMap::new();
        for (gateway, sample) in values {
            let gateway = Arc::clone(gateways.entry(gateway.as_str()).or_insert_with(|| Arc::from(gateway.as_str())));
            let sample = Sample { historical: false, ..sample.clone() };
            if self.signals.get(&sample.signal).is_some_and(|s| s.last.ts_ms >= sample.ts_ms) {
                continue;
            }
            // Not through the gateway's counters: nothing arrived from it.
            self.stats.samples += 1;
            // Not into OEE either: the tracker is seeded from the cache, which knows when Watchfloor was not running.
            self.apply_sample_unchecked(&gateway, sample.ts_ms, &sample, false);
            if let Some(sig) = self.signals.get_mut(&sample.signal) {
                sig.stale = true;
            }
        }
        for (id, m) in &mut self.machines {
            if !machines_before.contains(id) {
                m.stale = true;
            }
        }
        for (id, v) in &mut self.vehicles {
            if !vehicles_before.contains(id) {
                v.stale = true;
            }
        }
    }

    /// The site as it was at a past instant, from each signal's value then (review): not stale, not counted as
    /// received, not fed to OEE (a review seeds its tracker from the cache up to that instant).
    pub fn replayed(settings: LiveSettings, values: &[(String, Sample)]) -> Self {
        let mut live = Self::new(settings);
        let mut gateways: HashMap<&str, Arc<str>> = HashMap::new();
        for (gateway, sample) in values {
            let gateway = Arc::clone(gateways.entry(gateway.as_str()).or_insert_with(|| Arc::from(gateway.as_str())));
            let sample = Sample { historical: false, ..sample.clone() };
            live.apply_sample_unchecked(&gateway, sample.ts_ms, &sample, false);
        }
        live
    }

    pub fn note_coalesced(&mut self, n: u64) {
        self.stats.coalesced += n;
    }

    fn apply_sample(&mut self, gateway: &Arc<str>, received_ms: i64, sample: &Sample) {
        self.stats.samples += 1;
        let gw = self.gateways.get_mut(gateway);
        if let Some(gw) = gw {
            gw.samples += 1;
            if !sample.value.is_finite() {
                self.stats.rejected += 1;
                gw.reject(received_ms, format!("{}: value is not a finite number", sample.signal));
                return;
            }
            if sample.ts_ms - received_ms > self.settings.max_future_ms {
                self.stats.rejected += 1;
                gw.reject(
                    received_ms,
                    format!(
                        "{}: timestamp {} ms ahead of arrival (clock skew?)",
                        sample.signal,
                        sample.ts_ms - received_ms
                    ),
                );
                return;
            }
        }
        if sample.historical {
            self.stats.historical += 1;
            return;
        }
        self.apply_sample_unchecked(gateway, received_ms, sample, true);
    }

    /// Applies a value already checked (finite, not from the future, not historical).
    fn apply_sample_unchecked(&mut self, gateway: &Arc<str>, received_ms: i64, sample: &Sample, feed_oee: bool) {
        // One lookup per sample: the signal's entry holds its route to the machine or vehicle.
        let route = match self.signals.get_mut(&sample.signal) {
            Some(sig) if sig.last.ts_ms > sample.ts_ms => {
                self.stats.late += 1;
                return;
            }
            Some(sig) => {
                sig.last = sample.clone();
                sig.stale = false;
                if sig.gateway != *gateway {
                    sig.gateway = Arc::clone(gateway);
                }
                sig.route.clone()
            }
            None => {
                let route = route_of(&sample.signal, &self.settings.assets);
                self.signals.insert(
                    sample.signal.clone(),
                    SignalLive {
                        gateway: Arc::clone(gateway),
                        meta: self.meta.get(&sample.signal).cloned(),
                        last: sample.clone(),
                        stale: false,
                        route: route.clone(),
                    },
                );
                route
            }
        };
        match route {
            Route::Machine(prefix, metric) => {
                let site = &self.settings.default_site;
                let assets = &self.settings.assets;
                let order = &mut self.next_order;
                let machine = self.machines.entry(Arc::clone(&prefix)).or_insert_with(|| {
                    *order += 1;
                    let path = assets.machine_path(&prefix, site);
                    let mut m = MachineLive::new(Arc::clone(&prefix), path, Arc::clone(gateway));
                    m.order = *order;
                    m
                });
                machine.last_seen_ms = machine.last_seen_ms.max(received_ms);
                machine.stale = false;
                apply_machine_metric(machine, metric, sample);
                if feed_oee && let Some(input) = input_of(metric, &sample.value) {
                    self.oee.push(&prefix, sample.ts_ms, input);
                }
            }
            Route::Vehicle(prefix, metric) => {
                let order = &mut self.next_order;
                let vehicle = self.vehicles.entry(Arc::clone(&prefix)).or_insert_with(|| {
                    *order += 1;
                    let mut v =
                        VehicleLive::new(Arc::clone(&prefix), VehiclePath::from_prefix(&prefix), Arc::clone(gateway));
                    v.order = *order;
                    v
                });
                vehicle.last_seen_ms = vehicle.last_seen_ms.max(received_ms);
                vehicle.stale = false;
                let before = vehicle.fix.map(|f| f.ts_ms);
                apply_vehicle_metric(vehicle, metric, sample);
                if let Some(fix) = vehicle.fix.filter(|f| Some(f.ts_ms) != before)
                    && !self.settings.geofences.is_empty()
                {
                    let mut crossings = Vec::new();
                    vehicle.zones.push(&self.settings.geofences, fix.ts_ms, fix.lat_deg, fix.lon_deg, &mut crossings);
                }
            }
            Route::Unrouted => {}
        }
    }

    /// Marks every signal, machine and vehicle of `gateway` whose id starts with `prefix` as stale.
    fn mark_stale(&mut self, gateway: &Arc<str>, prefix: &str, at_ms: i64) {
        for (id, sig) in &mut self.signals {
            if sig.gateway == *gateway && id.as_str().starts_with(prefix) {
                sig.stale = true;
            }
        }
        for (id, m) in &mut self.machines {
            if m.gateway == *gateway && id.starts_with(prefix) {
                m.stale = true;
                self.oee.push(id, at_ms, crate::analytics::Input::NoData);
            }
        }
        for (id, v) in &mut self.vehicles {
            if v.gateway == *gateway && id.starts_with(prefix) {
                v.stale = true;
            }
        }
    }
}

fn route_of(id: &SignalId, assets: &AssetModel) -> Route {
    if let Some((prefix, metric)) = assets.machine_metric(id) {
        return Route::Machine(Arc::from(prefix), metric);
    }
    match id.split_known_metric(vm::ALL) {
        Some((prefix, metric)) => Route::Vehicle(Arc::from(prefix), metric),
        None => Route::Unrouted,
    }
}

fn apply_machine_metric(m: &mut MachineLive, metric: &'static str, sample: &Sample) {
    let v = &sample.value;
    match metric {
        mm::STATE => {
            let state = match v {
                Value::I64(code) => MachineState::from_code(*code),
                other => other.as_str().and_then(MachineState::parse),
            };
            if let Some(state) = state {
                if m.state != Some(state) {
                    m.state_since_ms = sample.ts_ms;
                }
                m.state = Some(state);
            }
        }
        mm::REASON => m.reason = v.as_str().filter(|r| !r.is_empty()).map(str::to_owned),
        mm::COUNT_TOTAL => {
            if let Some(total) = v.as_i64() {
                m.set_total(sample.ts_ms, total);
            }
        }
        mm::COUNT_GOOD => m.good = v.as_i64(),
        mm::COUNT_REJECT => m.reject = v.as_i64(),
        mm::IDEAL_CYCLE_TIME => m.ideal_cycle_secs = v.as_f64(),
        mm::TEMPERATURE => m.temperature_c = v.as_f64(),
        _ => {}
    }
}

fn apply_vehicle_metric(veh: &mut VehicleLive, metric: &'static str, sample: &Sample) {
    let v = &sample.value;
    match metric {
        vm::LATITUDE => {
            if let Some(lat) = v.as_f64().filter(|l| (-90.0..=90.0).contains(l)) {
                veh.lat_deg = Some((sample.ts_ms, lat));
                veh.try_fix();
            }
        }
        vm::LONGITUDE => {
            if let Some(lon) = v.as_f64().filter(|l| (-180.0..=180.0).contains(l)) {
                veh.lon_deg = Some((sample.ts_ms, lon));
                veh.try_fix();
            }
        }
        vm::HEADING => {
            if let Some(h) = v.as_f64() {
                veh.heading_deg = h.rem_euclid(360.0);
                if let Some(fix) = veh.fix.as_mut().filter(|f| f.ts_ms == sample.ts_ms) {
                    fix.heading_deg = veh.heading_deg;
                }
            }
        }
        vm::SPEED => veh.speed_kmh = v.as_f64(),
        vm::SOC => {
            veh.soc_percent = v.as_f64().map(|s| s.clamp(0.0, 100.0));
            if let Some(soc) = veh.soc_percent
                && veh.soc_history.back().is_none_or(|(t, _)| sample.ts_ms - t >= SOC_SPACING_MS)
            {
                veh.soc_history.push_back((sample.ts_ms, soc));
                while veh.soc_history.front().is_some_and(|(t, _)| sample.ts_ms - t > SOC_HISTORY_MS) {
                    veh.soc_history.pop_front();
                }
            }
        }
        vm::CHARGING => veh.charging = v.as_bool().unwrap_or(false),
        vm::VOLTAGE => veh.voltage = v.as_f64(),
        vm::BATTERY_TEMPERATURE => veh.battery_temp_c = v.as_f64(),
        vm::ODOMETER => veh.odometer_km = v.as_f64(),
        vm::KIND => {
            if let Some(kind) = v.as_str() {
                veh.kind = VehicleKind::parse(kind);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
