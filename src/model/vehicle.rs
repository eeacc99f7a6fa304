//! Vehicles: kinds, fixes, batteries and the metric names a vehicle carries.

use std::fmt;

/// What sort of electric vehicle it is; battery thresholds and expected report rates differ per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VehicleKind {
    Agv,
    Forklift,
    Van,
    Other,
}

impl VehicleKind {
    pub const ALL: [Self; 4] = [Self::Agv, Self::Forklift, Self::Van, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agv => "agv",
            Self::Forklift => "forklift",
            Self::Van => "van",
            Self::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Agv => "Yard AGV",
            Self::Forklift => "Forklift",
            Self::Van => "Road van",
            Self::Other => "Vehicle",
        }
    }

    /// Anything not known is `Other`, not an error: a gateway may send kinds we have not met.
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "agv" | "yard_agv" | "yard-agv" => Self::Agv,
            "forklift" => Self::Forklift,
            "van" | "road_van" | "road-van" => Self::Van,
            _ => Self::Other,
        }
    }
}

impl fmt::Display for VehicleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A WGS84 position with heading, at a source time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fix {
    pub ts_ms: i64,
    pub lat_deg: f64,
    pub lon_deg: f64,
    /// Degrees clockwise from north.
    pub heading_deg: f64,
}

/// Battery thresholds for one vehicle kind (DOMAIN §8), in percent state of charge.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatteryThresholds {
    pub low_percent: f64,
    pub critical_percent: f64,
}

impl BatteryThresholds {
    /// Defaults per kind: AGVs run lower before they must charge than road vans, which need a way home.
    pub fn default_for(kind: VehicleKind) -> Self {
        let (low_percent, critical_percent) = match kind {
            VehicleKind::Agv | VehicleKind::Other => (25.0, 10.0),
            VehicleKind::Forklift => (30.0, 15.0),
            VehicleKind::Van => (20.0, 10.0),
        };
        Self { low_percent, critical_percent }
    }

    pub fn level(&self, soc_percent: f64) -> BatteryLevel {
        if soc_percent <= self.critical_percent {
            BatteryLevel::Critical
        } else if soc_percent <= self.low_percent {
            BatteryLevel::Low
        } else {
            BatteryLevel::Normal
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BatteryLevel {
    Normal,
    Low,
    Critical,
}

/// What a vehicle is doing, as the fleet view shows it. Derived from its latest values and last-seen time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VehicleStatus {
    /// Nothing heard for longer than the stale limit: its last values are history, not the present.
    Offline,
    Moving,
    Idle,
    Charging,
}

impl VehicleStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::Offline => "Offline",
            Self::Moving => "Moving",
            Self::Idle => "Idle",
            Self::Charging => "Charging",
        }
    }
}

impl fmt::Display for VehicleStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Speed below which a vehicle counts as standing still (GPS jitter alone reads as a little speed).
pub const MOVING_MIN_SPEED_KMH: f64 = 0.5;

/// Metric names of a vehicle (DOMAIN §2), relative to the vehicle's prefix.
pub mod metric {
    pub const LATITUDE: &str = "Position/Latitude";
    pub const LONGITUDE: &str = "Position/Longitude";
    pub const HEADING: &str = "Position/Heading";
    pub const SPEED: &str = "Speed";
    pub const SOC: &str = "Battery/SoC";
    pub const CHARGING: &str = "Battery/Charging";
    pub const VOLTAGE: &str = "Battery/Voltage";
    pub const BATTERY_TEMPERATURE: &str = "Battery/Temperature";
    pub const ODOMETER: &str = "Odometer";
    pub const KIND: &str = "Kind";

    pub const ALL: &[&str] =
        &[LATITUDE, LONGITUDE, HEADING, BATTERY_TEMPERATURE, CHARGING, VOLTAGE, SOC, SPEED, ODOMETER, KIND];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_classify() {
        let t = BatteryThresholds::default_for(VehicleKind::Agv);
        assert_eq!(t.level(80.0), BatteryLevel::Normal);
        assert_eq!(t.level(25.0), BatteryLevel::Low);
        assert_eq!(t.level(9.9), BatteryLevel::Critical);
    }

    #[test]
    fn unknown_kind_is_other() {
        assert_eq!(VehicleKind::parse("Forklift"), VehicleKind::Forklift);
        assert_eq!(VehicleKind::parse("hovercraft"), VehicleKind::Other);
    }
}
