//! Small reusable widgets: status badges, battery bars, the OEE gauge, sortable column titles.

mod badge;
mod battery;
mod gauge;
mod sort_header;

pub use badge::status_badge_ui;
pub use battery::battery_bar_ui;
pub use gauge::{oee_gauge_ui, state_colour};
pub use sort_header::sort_header_ui;
