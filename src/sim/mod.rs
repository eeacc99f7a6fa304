//! A deterministic simulator of a plant and a fleet that emits exactly what a real gateway would: births with
//! metadata, then report-by-exception samples with the metric names of DOMAIN §2.
//!
//! Deterministic: the same seed and the same start time give the same samples, however the calls to
//! [`Simulator::step_to`] are spaced, because the model always advances in one-second ticks. The clock is whoever
//! calls `step_to` (see [`feed::SimFeed`] for the live one); `speed` only changes how fast that clock runs.

pub mod feed;
mod fleet;
pub mod geo;
mod plant;

/// The faults the simulator takes (defined with the domain types: a feed command carries them).
pub use crate::model::Fault;
pub use feed::{SimFeed, SimGateway};
pub use geo::Bounds;

use crate::model::{MachineState, Sample, ShiftCalendar, ShiftInstance, SignalMeta, VehicleKind};
use fleet::Vehicle;
use geo::SiteLayout;
use plant::Line;

/// The model's time step.
pub const TICK_MS: i64 = 1_000;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    /// The simulation's first instant, UTC ms.
    pub start_ms: i64,
    /// The Sparkplug group / first id segment.
    pub site: String,
    pub lines: usize,
    pub machines_per_line: usize,
    pub vehicles: usize,
    pub calendar: ShiftCalendar,
    /// Reset part counters when a shift starts, as many PLCs do.
    pub reset_counts_at_shift_start: bool,
}

impl SimConfig {
    /// The built-in demo: 3 lines × 4 machines and 42 vehicles on a site in Finland.
    pub fn demo(seed: u64, start_ms: i64) -> Self {
        let tz = jiff::tz::TimeZone::get("Europe/Helsinki").unwrap_or(jiff::tz::TimeZone::UTC);
        Self {
            seed,
            start_ms,
            site: "PlantA".to_owned(),
            lines: 3,
            machines_per_line: 4,
            vehicles: 42,
            calendar: ShiftCalendar::default_three_shifts(tz),
            reset_counts_at_shift_start: true,
        }
    }
}

pub struct Simulator {
    config: SimConfig,
    t_ms: i64,
    layout: SiteLayout,
    lines: Vec<Line>,
    vehicles: Vec<Vehicle>,
    shift: Option<ShiftInstance>,
}

fn matches_target(prefix: &str, target: &str) -> bool {
    prefix == target || prefix.rsplit('/').next() == Some(target)
}

impl Simulator {
    pub fn new(config: SimConfig) -> Self {
        let layout = SiteLayout::demo();
        let shift = config.calendar.shift_at(config.start_ms);
        let mut lines: Vec<Line> =
            (0..config.lines).map(|i| Line::new(&config.site, i, config.machines_per_line, config.seed)).collect();
        if let Some(shift) = &shift {
            #[expect(clippy::cast_precision_loss, reason = "milliseconds within a shift")]
            let secs_into_shift = (config.start_ms - shift.start_ms) as f64 / 1000.0;
            for line in &mut lines {
                line.prime(secs_into_shift);
            }
        }
        let n = config.vehicles;
        let num_agv = n * 2 / 5;
        let num_forklift = n / 3;
        let vehicles = (0..n)
            .map(|i| {
                let (kind, number) = if i < num_agv {
                    (VehicleKind::Agv, i + 1)
                } else if i < num_agv + num_forklift {
                    (VehicleKind::Forklift, i - num_agv + 1)
                } else {
                    (VehicleKind::Van, i - num_agv - num_forklift + 1)
                };
                let seed = config.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9);
                Vehicle::new(&config.site, kind, number, &layout, seed)
            })
            .collect();
        Self { t_ms: config.start_ms, config, layout, lines, vehicles, shift }
    }

    /// The simulation's current instant.
    pub fn now_ms(&self) -> i64 {
        self.t_ms
    }

    /// Every position the simulation can report lies in these bounds.
    pub fn bounds(&self) -> Bounds {
        self.layout.bounds()
    }

    /// Signal metadata and current values of every signal, as a Sparkplug birth would carry them.
    pub fn birth(&mut self) -> (Vec<SignalMeta>, Vec<Sample>) {
        let mut meta = Vec::new();
        let mut values = Vec::new();
        for m in self.lines.iter_mut().flat_map(|l| l.machines.iter_mut()) {
            meta.extend(m.meta());
            m.snapshot(self.t_ms, &mut values);
        }
        for v in &mut self.vehicles {
            meta.extend(v.meta());
            v.snapshot(self.t_ms, &self.layout, &mut values);
        }
        (meta, values)
    }

    /// Advances whole ticks up to `t_ms` and appends every sample they produce to `out`.
    pub fn step_to(&mut self, t_ms: i64, out: &mut Vec<Sample>) {
        while self.t_ms + TICK_MS <= t_ms {
            self.t_ms += TICK_MS;
            self.tick(out);
        }
    }

    fn tick(&mut self, out: &mut Vec<Sample>) {
        let t = self.t_ms;
        if !self.shift.as_ref().is_some_and(|s| s.contains(t)) {
            let next = self.config.calendar.shift_at(t);
            let started = next.is_some();
            self.shift = next;
            if started && self.config.reset_counts_at_shift_start {
                for line in &mut self.lines {
                    line.reset_counts();
                }
            }
        }
        let in_break = self.shift.as_ref().is_some_and(|s| s.in_break(t));
        for line in &mut self.lines {
            line.step(t, in_break, out);
        }
        for v in &mut self.vehicles {
            v.step();
            v.report(t, &self.layout, out);
        }
    }

    /// Applies a fault; an unknown target is an error with the name that was not found.
    pub fn inject(&mut self, fault: &Fault) -> Result<(), String> {
        match fault {
            Fault::StopMachine { machine, secs, reason } => {
                let m = self.machine_mut(machine)?;
                m.stop(MachineState::Down, reason, f64::from(*secs));
            }
            Fault::ResetCounters { machine } => self.machine_mut(machine)?.reset_pending = true,
            Fault::CutComms { vehicle, secs } => self.vehicle_mut(vehicle)?.comms_down_secs = f64::from(*secs),
            Fault::DrainBattery { vehicle, soc_percent } => self.vehicle_mut(vehicle)?.drain_to(*soc_percent),
        }
        Ok(())
    }

    fn machine_mut(&mut self, target: &str) -> Result<&mut plant::Machine, String> {
        self.lines
            .iter_mut()
            .flat_map(|l| l.machines.iter_mut())
            .find(|m| matches_target(&m.prefix, target))
            .ok_or_else(|| format!("no simulated machine named {target:?}"))
    }

    fn vehicle_mut(&mut self, target: &str) -> Result<&mut Vehicle, String> {
        self.vehicles
            .iter_mut()
            .find(|v| matches_target(&v.prefix, target))
            .ok_or_else(|| format!("no simulated vehicle named {target:?}"))
    }

    /// Source prefixes of the simulated machines.
    pub fn machine_prefixes(&self) -> Vec<String> {
        self.lines.iter().flat_map(|l| l.machines.iter().map(|m| m.prefix.clone())).collect()
    }

    /// Source prefixes of the simulated vehicles.
    pub fn vehicle_prefixes(&self) -> Vec<String> {
        self.vehicles.iter().map(|v| v.prefix.clone()).collect()
    }
}

#[cfg(test)]
mod tests;
