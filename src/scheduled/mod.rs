//! What the headless recorder (`watchfloor record`) does on a schedule besides recording: [`reports`] writes the
//! shift report (HTML, XLSX, JSON) into a folder at each shift end, and [`notifier`] sends alarms over webhooks and
//! e-mail ([`deliver`]) as [`policy`] says (a delay and an escalation per priority), through an [`outbox`] that
//! survives restarts.
//!
//! Both read the recorder's history through [`HistorySource`]: the site database when `[site_db]` is configured,
//! else the cache it records into. With a site database, operators acknowledge on consoles, and those
//! acknowledgements are journaled there only (the recorder's own cache takes the state over without journaling
//! it): following the cache would send escalations for alarms already acknowledged. The site database is also
//! what every console's *Shift report* reads, so the recorder's reports have the same figures, whichever recorder
//! (leader or standby) writes them.
//!
//! Used by `cli` only; nothing below it (`model`, `analytics`, `store`, `feeds`, `live`) imports this.

pub mod deliver;
pub mod notifier;
pub mod outbox;
pub mod policy;
pub mod reports;

use std::path::PathBuf;

use crate::model::history::HistoryRead;

/// Where the recorder's history is read from.
#[derive(Clone)]
pub enum HistorySource {
    /// The cache file the recorder writes.
    Cache(PathBuf),
    /// The site database.
    Site(crate::store::site::SiteTarget),
}

impl HistorySource {
    /// A name for the outbox's cursor and the log: the cache's path, or the database's URL without its password.
    pub fn name(&self) -> String {
        match self {
            Self::Cache(path) => format!("cache {}", path.display()),
            Self::Site(target) => format!("site {}", target.display_url()),
        }
    }

    /// Opens a reader (blocking).
    pub fn open(&self) -> Result<Box<dyn HistoryRead + Send>, String> {
        match self {
            Self::Cache(path) => crate::store::open_reader(path)
                .map(|c| Box::new(c) as Box<dyn HistoryRead + Send>)
                .map_err(|e| e.to_string()),
            Self::Site(target) => crate::store::site::PgHistory::open(target)
                .map(|h| Box::new(h) as Box<dyn HistoryRead + Send>)
                .map_err(|e| e.to_string()),
        }
    }
}

/// Sleeps `total` in short slices, returning early (`true`) once `stop` is set.
fn sleep_unless(stop: &std::sync::atomic::AtomicBool, total: std::time::Duration) -> bool {
    let slice = std::time::Duration::from_millis(50);
    let start = std::time::Instant::now();
    while start.elapsed() < total {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(slice.min(total.saturating_sub(start.elapsed())));
    }
    stop.load(std::sync::atomic::Ordering::Relaxed)
}
