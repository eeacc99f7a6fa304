//! Pure domain types: signals and samples, machines, vehicles, the asset hierarchy and the shift calendar.
//! No I/O and no egui here.

pub mod alarm;
pub mod asset;
pub mod event;
pub mod fault;
pub mod history;
pub mod logbook;
pub mod machine;
pub mod shift;
pub mod signal;
pub mod siteplan;
pub mod time;
pub mod vehicle;

pub use asset::{MachinePath, VehiclePath};
pub use event::{FeedEvent, FeedEventBody, FeedState, FeedStatus};
pub use fault::Fault;
pub use machine::MachineState;
pub use shift::{ShiftCalendar, ShiftInstance};
pub use signal::{Quality, Sample, SignalId, SignalMeta, TimeSource, Value, ValueKind};
pub use vehicle::{BatteryLevel, BatteryThresholds, Fix, VehicleKind, VehicleStatus};
