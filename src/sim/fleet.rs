//! The simulated fleet: electric yard AGVs on loops between warehouse and lines, forklifts between racks and docks,
//! and road vans on delivery loops. Batteries drain with distance and load, vehicles go to a charger when low,
//! positions carry GPS jitter, and links drop out now and then.

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

use super::geo::{Point, SiteLayout, Waypoint, distance_m, heading_deg};
use crate::model::vehicle::metric;
use crate::model::{BatteryThresholds, Sample, SignalId, SignalMeta, Value, ValueKind, VehicleKind};

/// How a kind of vehicle behaves.
struct KindProfile {
    cruise_kmh: (f64, f64),
    drain_percent_per_km: f64,
    charge_percent_per_sec: f64,
    nominal_voltage: f64,
    gps_sigma_m: f64,
    /// Mean seconds between link dropouts, and a dropout's length range.
    dropout_every_secs: f64,
    dropout_secs: (f64, f64),
}

fn profile(kind: VehicleKind) -> KindProfile {
    match kind {
        VehicleKind::Agv | VehicleKind::Other => KindProfile {
            cruise_kmh: (4.0, 6.0),
            drain_percent_per_km: 3.0,
            charge_percent_per_sec: 0.02,
            nominal_voltage: 48.0,
            gps_sigma_m: 0.3,
            dropout_every_secs: 2.0 * 3_600.0,
            dropout_secs: (30.0, 180.0),
        },
        VehicleKind::Forklift => KindProfile {
            cruise_kmh: (7.0, 12.0),
            drain_percent_per_km: 4.0,
            charge_percent_per_sec: 0.014,
            nominal_voltage: 80.0,
            gps_sigma_m: 1.0,
            dropout_every_secs: 3.0 * 3_600.0,
            dropout_secs: (30.0, 180.0),
        },
        VehicleKind::Van => KindProfile {
            cruise_kmh: (30.0, 55.0),
            drain_percent_per_km: 0.45,
            charge_percent_per_sec: 0.009,
            nominal_voltage: 400.0,
            gps_sigma_m: 2.5,
            dropout_every_secs: 45.0 * 60.0,
            dropout_secs: (60.0, 600.0),
        },
    }
}

/// Standing-still battery use, percent per second (controller, lights, telematics).
const IDLE_DRAIN_PERCENT_PER_SEC: f64 = 0.0005;
/// A stranded vehicle (empty battery) is towed to a charger after this long.
const TOW_AFTER_SECS: f64 = 900.0;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Plan {
    Driving,
    Dwelling { secs: f64 },
    ToCharger,
    Charging,
    Stranded { secs: f64 },
}

pub(super) struct Vehicle {
    pub prefix: String,
    pub kind: VehicleKind,
    rng: ChaCha8Rng,
    route: Vec<Waypoint>,
    /// Index into `route` of the next waypoint; forklifts pick their next spot at random.
    next: usize,
    charger: Point,
    pub pos: Point,
    heading_deg: f64,
    pub speed_kmh: f64,
    cruise_kmh: f64,
    plan: Plan,
    loaded: bool,
    pub soc_percent: f64,
    charge_below_percent: f64,
    charge_until_percent: f64,
    odometer_km: f64,
    battery_temp_c: f64,
    pub comms_down_secs: f64,
    last_fast_report_ms: i64,
    last_slow_report_ms: i64,
    reported_charging: bool,
}

impl Vehicle {
    pub fn new(site: &str, kind: VehicleKind, number: usize, layout: &SiteLayout, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (name, route, chargers) = match kind {
            VehicleKind::Van => (
                format!("VAN-{number:02}"),
                layout.van_routes[number % layout.van_routes.len()].clone(),
                &layout.van_chargers,
            ),
            VehicleKind::Forklift => {
                (format!("FL-{number:02}"), layout.forklift_spots.clone(), &layout.forklift_chargers)
            }
            VehicleKind::Agv | VehicleKind::Other => (
                format!("AGV-{number:02}"),
                layout.agv_loops[number % layout.agv_loops.len()].clone(),
                &layout.agv_chargers,
            ),
        };
        let p = profile(kind);
        let low = BatteryThresholds::default_for(kind).low_percent;
        let next = rng.random_range(0..route.len());
        // Start somewhere along the leg that ends at `next`.
        let prev = route[(next + route.len() - 1) % route.len()].at;
        let t = rng.random_range(0.0..1.0);
        let to = route[next].at;
        let pos = [prev[0] + (to[0] - prev[0]) * t, prev[1] + (to[1] - prev[1]) * t];
        Self {
            prefix: format!("{site}/Fleet/{name}"),
            kind,
            charger: chargers[number % chargers.len()],
            heading_deg: heading_deg(pos, to),
            cruise_kmh: rng.random_range(p.cruise_kmh.0..p.cruise_kmh.1),
            soc_percent: rng.random_range(35.0..98.0),
            charge_below_percent: low + rng.random_range(0.0..8.0),
            charge_until_percent: rng.random_range(88.0..99.0),
            odometer_km: rng.random_range(500.0..40_000.0_f64).round(),
            battery_temp_c: 24.0,
            rng,
            route,
            next,
            pos,
            speed_kmh: 0.0,
            plan: Plan::Driving,
            loaded: false,
            comms_down_secs: 0.0,
            last_fast_report_ms: i64::MIN / 2,
            last_slow_report_ms: i64::MIN / 2,
            reported_charging: false,
        }
    }

    pub fn charging(&self) -> bool {
        self.plan == Plan::Charging
    }

    /// Advances one second.
    pub fn step(&mut self) {
        const DT: f64 = 1.0;
        let p = profile(self.kind);
        if self.comms_down_secs > 0.0 {
            self.comms_down_secs -= DT;
        } else if self.rng.random_bool(DT / p.dropout_every_secs) {
            self.comms_down_secs = self.rng.random_range(p.dropout_secs.0..p.dropout_secs.1);
        }

        self.speed_kmh = 0.0;
        match self.plan {
            Plan::Charging => {
                self.soc_percent = (self.soc_percent + p.charge_percent_per_sec * DT).min(100.0);
                if self.soc_percent >= self.charge_until_percent {
                    self.plan = Plan::Driving;
                }
            }
            Plan::Dwelling { secs } => {
                self.plan = if secs > DT { Plan::Dwelling { secs: secs - DT } } else { Plan::Driving };
            }
            Plan::Stranded { secs } => {
                self.plan = if secs > DT {
                    Plan::Stranded { secs: secs - DT }
                } else {
                    self.pos = self.charger;
                    Plan::Charging
                };
            }
            Plan::Driving | Plan::ToCharger => self.drive(DT, &p),
        }
        if !matches!(self.plan, Plan::Charging) {
            self.soc_percent = (self.soc_percent - IDLE_DRAIN_PERCENT_PER_SEC * DT).max(0.0);
        }
        if self.soc_percent <= 0.0 && !matches!(self.plan, Plan::Charging | Plan::Stranded { .. }) {
            self.plan = Plan::Stranded { secs: TOW_AFTER_SECS };
            self.speed_kmh = 0.0;
        } else if self.soc_percent < self.charge_below_percent && matches!(self.plan, Plan::Driving) {
            self.plan = Plan::ToCharger;
        }
        let target_temp = match self.plan {
            Plan::Charging => 34.0,
            Plan::Driving | Plan::ToCharger => 29.0,
            _ => 22.0,
        };
        self.battery_temp_c += (target_temp - self.battery_temp_c) * DT / 600.0;
    }

    fn drive(&mut self, dt: f64, p: &KindProfile) {
        let target = if self.plan == Plan::ToCharger { self.charger } else { self.route[self.next].at };
        let dist = distance_m(self.pos, target);
        let mut speed_kmh = self.cruise_kmh * self.rng.random_range(0.9..1.1);
        if dist < 15.0 {
            // Slow down for the stop.
            speed_kmh *= 0.5;
        }
        let step_m = (speed_kmh / 3.6 * dt).min(dist);
        if dist > 0.0 {
            self.heading_deg = heading_deg(self.pos, target);
            let f = step_m / dist;
            self.pos = [self.pos[0] + (target[0] - self.pos[0]) * f, self.pos[1] + (target[1] - self.pos[1]) * f];
        }
        self.speed_kmh = step_m * 3.6 / dt;
        let km = step_m / 1000.0;
        self.odometer_km += km;
        let load = if self.loaded { 1.25 } else { 1.0 };
        self.soc_percent = (self.soc_percent - km * p.drain_percent_per_km * load).max(0.0);
        if step_m >= dist {
            self.arrive();
        }
    }

    fn arrive(&mut self) {
        if self.plan == Plan::ToCharger {
            self.plan = Plan::Charging;
            return;
        }
        let wp = self.route[self.next];
        if let Some(load) = wp.load_after {
            self.loaded = load;
        }
        self.next = if self.kind == VehicleKind::Forklift {
            // Racks and docks in any order, never the same spot twice in a row.
            let pick = self.rng.random_range(0..self.route.len() - 1);
            if pick >= self.next { pick + 1 } else { pick }
        } else {
            (self.next + 1) % self.route.len()
        };
        if self.kind == VehicleKind::Forklift {
            self.loaded = !self.loaded;
        }
        let (lo, hi) = wp.dwell_secs;
        if hi > 0.0 {
            self.plan = Plan::Dwelling { secs: self.rng.random_range(lo..hi) };
        }
    }

    /// Sets the state of charge (fault injection) and lets the vehicle react as it would.
    pub fn drain_to(&mut self, soc_percent: f64) {
        self.soc_percent = soc_percent.clamp(0.0, 100.0);
        if self.plan == Plan::Charging {
            self.plan = Plan::Driving;
        }
    }

    fn id(&self, metric: &str) -> SignalId {
        SignalId::from(format!("{}/{metric}", self.prefix))
    }

    pub fn meta(&self) -> Vec<SignalMeta> {
        let meta = |m: &str, kind, unit: Option<&str>| SignalMeta { id: self.id(m), kind, unit: unit.map(Into::into) };
        vec![
            meta(metric::KIND, ValueKind::String, None),
            meta(metric::LATITUDE, ValueKind::Float, Some("deg")),
            meta(metric::LONGITUDE, ValueKind::Float, Some("deg")),
            meta(metric::HEADING, ValueKind::Float, Some("deg")),
            meta(metric::SPEED, ValueKind::Float, Some("km/h")),
            meta(metric::SOC, ValueKind::Float, Some("%")),
            meta(metric::CHARGING, ValueKind::Bool, None),
            meta(metric::VOLTAGE, ValueKind::Float, Some("V")),
            meta(metric::BATTERY_TEMPERATURE, ValueKind::Float, Some("°C")),
            meta(metric::ODOMETER, ValueKind::Float, Some("km")),
        ]
    }

    /// Every value, as a birth carries them (sent even while the link is down: a birth is a fresh session).
    pub fn snapshot(&mut self, ts_ms: i64, layout: &SiteLayout, out: &mut Vec<Sample>) {
        out.push(Sample::new(self.id(metric::KIND), ts_ms, Value::str(self.kind.as_str())));
        self.push_fast(ts_ms, layout, out);
        self.push_slow(ts_ms, out);
    }

    /// Reports what is due: position, speed and battery every second while moving (every 10 s standing, or at once
    /// when charging starts or stops); voltage, temperature and odometer every 10 s. Nothing while the link is down.
    pub fn report(&mut self, ts_ms: i64, layout: &SiteLayout, out: &mut Vec<Sample>) {
        if self.comms_down_secs > 0.0 {
            return;
        }
        let moving = self.speed_kmh > 0.0;
        let fast_every_ms = if moving { 1_000 } else { 10_000 };
        if ts_ms - self.last_fast_report_ms >= fast_every_ms || self.reported_charging != self.charging() {
            self.push_fast(ts_ms, layout, out);
        }
        if ts_ms - self.last_slow_report_ms >= 10_000 {
            self.push_slow(ts_ms, out);
        }
    }

    fn push_fast(&mut self, ts_ms: i64, layout: &SiteLayout, out: &mut Vec<Sample>) {
        let sigma = profile(self.kind).gps_sigma_m;
        let jitter = [gaussian(&mut self.rng) * sigma, gaussian(&mut self.rng) * sigma];
        let (lat, lon) = layout.frame.to_wgs84([self.pos[0] + jitter[0], self.pos[1] + jitter[1]]);
        let heading = (self.heading_deg + self.rng.random_range(-1.5..1.5)).rem_euclid(360.0);
        out.extend([
            Sample::new(self.id(metric::LATITUDE), ts_ms, Value::F64(round_to(lat, 7))),
            Sample::new(self.id(metric::LONGITUDE), ts_ms, Value::F64(round_to(lon, 7))),
            Sample::new(self.id(metric::HEADING), ts_ms, Value::F64(round_to(heading, 1))),
            Sample::new(self.id(metric::SPEED), ts_ms, Value::F64(round_to(self.speed_kmh, 1))),
            Sample::new(self.id(metric::SOC), ts_ms, Value::F64(round_to(self.soc_percent, 1))),
            Sample::new(self.id(metric::CHARGING), ts_ms, Value::Bool(self.charging())),
        ]);
        self.last_fast_report_ms = ts_ms;
        self.reported_charging = self.charging();
    }

    fn push_slow(&mut self, ts_ms: i64, out: &mut Vec<Sample>) {
        let nominal = profile(self.kind).nominal_voltage;
        let boost = if self.charging() { 1.03 } else { 1.0 };
        let voltage = nominal * (0.9 + 0.15 * self.soc_percent / 100.0) * boost;
        out.extend([
            Sample::new(self.id(metric::VOLTAGE), ts_ms, Value::F64(round_to(voltage, 1))),
            Sample::new(self.id(metric::BATTERY_TEMPERATURE), ts_ms, Value::F64(round_to(self.battery_temp_c, 1))),
            Sample::new(self.id(metric::ODOMETER), ts_ms, Value::F64(round_to(self.odometer_km, 2))),
        ]);
        self.last_slow_report_ms = ts_ms;
    }
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let k = 10f64.powi(decimals);
    (x * k).round() / k
}
