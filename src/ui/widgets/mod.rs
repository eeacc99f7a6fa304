//! Small reusable widgets: status badges, battery bars, the OEE gauge.

mod badge;
mod battery;
mod gauge;

pub use badge::status_badge_ui;
pub use battery::battery_bar_ui;
pub use gauge::{oee_gauge_ui, state_colour};
