//! Integration tests, in one binary (faster to build than many).

mod cli;
mod connections;
mod feed;
mod http_feed;
mod mqtt_feed;
mod store;
mod trend;
mod ui;

use std::sync::Arc;

use watchfloor::app::AppParts;
use watchfloor::clock::Clock;
use watchfloor::feeds::{EventBus, LiveInbox};
use watchfloor::live::LiveSettings;

/// The app's parts for a test: no backend, no history, site Plant A in Helsinki time; override fields as needed.
pub fn app_parts(inbox: LiveInbox, bus: EventBus, clock: Arc<dyn Clock>) -> AppParts {
    AppParts {
        inbox,
        bus,
        clock,
        backend: None,
        site_name: "Plant A".to_owned(),
        timezone: jiff::tz::TimeZone::get("Europe/Helsinki").expect("bundled tzdb"),
        live_settings: LiveSettings::default(),
        problems: Vec::new(),
        history: None,
        store: None,
        diagnostics: Vec::new(),
    }
}

/// 2026-11-20 07:00 UTC, 09:00 in Helsinki: an hour into shift A.
pub const START_MS: i64 = 1_795_158_000_000;
