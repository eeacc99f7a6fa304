//! The panels of the main window.

pub mod alarm_list;
pub mod alarms;
pub mod connections;
pub mod fleet;
pub mod logbook;
pub mod map;
pub mod oee;
pub mod opcua_browse;
pub mod plant;
pub mod review;
pub mod status_bar;
pub mod trend;
