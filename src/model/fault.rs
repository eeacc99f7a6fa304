//! Faults injected into a simulated gateway (demo and tests): made by the UI or a test, carried by a feed
//! command, acted on by the simulator.

/// Faults to inject, for tests and demos. Targets are named by prefix (`PlantA/Line1/Filler`) or by their last
/// segment (`Filler`, `AGV-03`).
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// An unplanned stop of `secs` with a reason code.
    StopMachine { machine: String, secs: u32, reason: String },
    /// The vehicle keeps going but sends nothing for `secs`.
    CutComms { vehicle: String, secs: u32 },
    /// The battery drops to `soc_percent` at once.
    DrainBattery { vehicle: String, soc_percent: f64 },
    /// The machine's part counters go back to zero.
    ResetCounters { machine: String },
}
