//! Small reusable widgets: status badges, battery bars.

mod badge;
mod battery;

pub use badge::status_badge_ui;
pub use battery::battery_bar_ui;
