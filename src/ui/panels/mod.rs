//! The panels of the main window.

pub mod connections;
pub mod fleet;
pub mod plant;
pub mod status_bar;
pub mod trend;
