//! The asset hierarchy: site → area → line → machine, and fleet → vehicle.
//!
//! Sources are discovered from signal ids (DOMAIN §2): the prefix before a known metric is the source, its last
//! segment the machine or vehicle name, the segment before it the line (or fleet), and the first the site.

/// Where a machine sits in the plant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MachinePath {
    pub site: String,
    pub area: String,
    pub line: String,
    pub machine: String,
}

/// Where a vehicle sits in the fleet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VehiclePath {
    pub fleet: String,
    pub vehicle: String,
}

fn segments(prefix: &str) -> Vec<&str> {
    let sep = if prefix.contains('/') { '/' } else { '.' };
    prefix.split(sep).filter(|s| !s.is_empty()).collect()
}

impl MachinePath {
    /// `PlantA/Line1/Filler` → site `PlantA`, line `Line1`, machine `Filler`; missing levels take `default_site`
    /// and a line named after the site. The area defaults to the site until config names one.
    pub fn from_prefix(prefix: &str, default_site: &str) -> Self {
        let segs = segments(prefix);
        let machine = segs.last().copied().unwrap_or(prefix).to_owned();
        let line = if segs.len() >= 2 { segs[segs.len() - 2] } else { default_site }.to_owned();
        let site = if segs.len() >= 3 { segs[0] } else { default_site }.to_owned();
        Self { area: site.clone(), site, line, machine }
    }
}

impl VehiclePath {
    /// `PlantA/Fleet/AGV-01` → fleet `Fleet`, vehicle `AGV-01`.
    pub fn from_prefix(prefix: &str) -> Self {
        let segs = segments(prefix);
        let vehicle = segs.last().copied().unwrap_or(prefix).to_owned();
        let fleet = if segs.len() >= 2 { segs[segs.len() - 2] } else { "Fleet" }.to_owned();
        Self { fleet, vehicle }
    }
}

/// What config says about one machine; every field optional (discovery fills the rest).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MachineOverride {
    /// The machine's signal-id prefix, e.g. `PlantA/Line1/Filler`.
    pub id: String,
    pub name: Option<String>,
    pub line: Option<String>,
    pub area: Option<String>,
    /// Position in its line (process order); machines without one follow in the order seen.
    pub order: Option<i64>,
    pub ideal_cycle_secs: Option<f64>,
    pub target_oee: Option<f64>,
    pub small_stop_ms: Option<i64>,
    /// Signals that give a machine metric under another name: (signal id, metric name from `machine::metric`).
    pub signals: Vec<(String, &'static str)>,
}

/// What config says about one line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineOverride {
    /// The line's name as discovered (the segment before the machine), e.g. `Line1`.
    pub id: String,
    pub name: Option<String>,
    pub area: Option<String>,
    pub order: Option<i64>,
    pub target_oee: Option<f64>,
}

/// The asset model's overrides and OEE defaults (DOMAIN §2, §3).
#[derive(Clone, Debug, PartialEq)]
pub struct AssetModel {
    pub machines: Vec<MachineOverride>,
    pub lines: Vec<LineOverride>,
    /// Site-wide OEE target (fraction).
    pub target_oee: f64,
    pub small_stop_ms: i64,
    pub startup_window_ms: i64,
}

impl Default for AssetModel {
    fn default() -> Self {
        Self {
            machines: Vec::new(),
            lines: Vec::new(),
            target_oee: 0.85,
            small_stop_ms: 2 * 60_000,
            startup_window_ms: 5 * 60_000,
        }
    }
}

/// Engine settings for one machine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MachineParams {
    /// Stops shorter than this are small stops (a performance loss).
    pub small_stop_ms: i64,
    /// Rejects within this long after a setup or an unplanned stop are startup rejects.
    pub startup_window_ms: i64,
    /// Seconds per part; when set it overrides the machine's `IdealCycleTime` signal.
    pub ideal_cycle_secs: Option<f64>,
}

impl Default for MachineParams {
    fn default() -> Self {
        Self { small_stop_ms: 2 * 60_000, startup_window_ms: 5 * 60_000, ideal_cycle_secs: None }
    }
}

impl AssetModel {
    pub fn machine(&self, prefix: &str) -> Option<&MachineOverride> {
        self.machines.iter().find(|m| m.id == prefix)
    }

    pub fn line(&self, line: &str) -> Option<&LineOverride> {
        self.lines.iter().find(|l| l.id == line)
    }

    /// The OEE engine's settings for a machine.
    pub fn params(&self, prefix: &str) -> MachineParams {
        let m = self.machine(prefix);
        MachineParams {
            small_stop_ms: m.and_then(|m| m.small_stop_ms).unwrap_or(self.small_stop_ms),
            startup_window_ms: self.startup_window_ms,
            ideal_cycle_secs: m.and_then(|m| m.ideal_cycle_secs),
        }
    }

    pub fn machine_target(&self, prefix: &str, line: &str) -> f64 {
        self.machine(prefix).and_then(|m| m.target_oee).unwrap_or_else(|| self.line_target(line))
    }

    pub fn line_target(&self, line: &str) -> f64 {
        self.line(line).and_then(|l| l.target_oee).unwrap_or(self.target_oee)
    }

    /// The machine and metric a signal is: config's mapping first, else the known metric names — never a vehicle
    /// metric (`Battery/Temperature` is not a machine's `Temperature`).
    pub fn machine_metric<'a>(&'a self, id: &'a crate::model::SignalId) -> Option<(&'a str, &'static str)> {
        use crate::model::{machine::metric as mm, vehicle::metric as vm};
        if let Some(route) = self.signal_route(id.as_str()) {
            return Some(route);
        }
        if id.split_known_metric(vm::ALL).is_some() {
            return None;
        }
        id.split_known_metric(mm::ALL)
    }

    /// A signal that config maps to a machine metric: (machine prefix, metric).
    pub fn signal_route(&self, signal: &str) -> Option<(&str, &'static str)> {
        self.machines
            .iter()
            .find_map(|m| m.signals.iter().find(|(s, _)| s == signal).map(|(_, metric)| (m.id.as_str(), *metric)))
    }

    /// The path of a machine: discovered from its prefix, then overridden by config.
    pub fn machine_path(&self, prefix: &str, default_site: &str) -> MachinePath {
        let mut path = MachinePath::from_prefix(prefix, default_site);
        if let Some(m) = self.machine(prefix) {
            if let Some(line) = &m.line {
                path.line.clone_from(line);
            }
            if let Some(name) = &m.name {
                path.machine.clone_from(name);
            }
        }
        let area = self
            .machine(prefix)
            .and_then(|m| m.area.clone())
            .or_else(|| self.line(&path.line).and_then(|l| l.area.clone()));
        if let Some(area) = area {
            path.area = area;
        }
        path
    }

    /// The name shown for a line.
    pub fn line_name<'a>(&'a self, line: &'a str) -> &'a str {
        self.line(line).and_then(|l| l.name.as_deref()).unwrap_or(line)
    }
}

/// Compares names the way people read them: digit runs as numbers, so `Line2` comes before `Line10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        let (Some(ca), Some(cb)) = (a.chars().next(), b.chars().next()) else { return a.len().cmp(&b.len()) };
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let na = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let nb = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let (da, db) = (a[..na].trim_start_matches('0'), b[..nb].trim_start_matches('0'));
            let order = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
            if order != std::cmp::Ordering::Equal {
                return order;
            }
            (a, b) = (&a[na..], &b[nb..]);
        } else {
            if ca != cb {
                return ca.cmp(&cb);
            }
            (a, b) = (&a[ca.len_utf8()..], &b[cb.len_utf8()..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_reads_numbers_as_numbers() {
        let mut v = vec!["Line10", "Line2", "Line1", "Area B", "Line02x"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, vec!["Area B", "Line1", "Line2", "Line02x", "Line10"]);
    }

    #[test]
    fn sparkplug_prefix() {
        let p = MachinePath::from_prefix("PlantA/Line1/Filler", "Site");
        assert_eq!((p.site.as_str(), p.line.as_str(), p.machine.as_str()), ("PlantA", "Line1", "Filler"));
    }

    #[test]
    fn kepware_prefix_without_site() {
        let p = MachinePath::from_prefix("Line2.Capper", "Plant A");
        assert_eq!((p.site.as_str(), p.line.as_str(), p.machine.as_str()), ("Plant A", "Line2", "Capper"));
    }

    #[test]
    fn vehicle_prefix() {
        let v = VehiclePath::from_prefix("PlantA/Fleet/AGV-01");
        assert_eq!((v.fleet.as_str(), v.vehicle.as_str()), ("Fleet", "AGV-01"));
    }
}
