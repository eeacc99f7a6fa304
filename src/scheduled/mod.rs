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

    /// Opens a reader (blocking). The cache is the recorder's own, which its writer upgrades: a live reader, so a
    /// cache still being created or upgraded is an error to try again, never a frozen upgraded copy.
    pub fn open(&self) -> Result<Box<dyn HistoryRead + Send>, String> {
        match self {
            Self::Cache(path) => crate::store::open_live_reader(path)
                .map(|c| Box::new(c) as Box<dyn HistoryRead + Send>)
                .map_err(|e| e.to_string()),
            Self::Site(target) => crate::store::site::PgHistory::open(target)
                .map(|h| Box::new(h) as Box<dyn HistoryRead + Send>)
                .map_err(|e| e.to_string()),
        }
    }
}

/// A named thread that runs until it is told to stop (or dropped), and what it returns when it ends.
pub struct Worker<T> {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<T>>,
}

impl<T: Default + Send + 'static> Worker<T> {
    /// Runs `work` on a thread called `name`; `work` is given the flag that says it should stop.
    fn spawn(
        name: &str,
        work: impl FnOnce(&std::sync::atomic::AtomicBool) -> T + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || work(&flag))?;
        Ok(Self { stop, thread: Some(thread) })
    }

    /// Stops the thread after its current round and waits for it; what it returned (the default if it panicked).
    pub fn finish(mut self) -> T {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl<T> Drop for Worker<T> {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
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
