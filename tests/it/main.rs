//! Integration tests, in one binary (faster to build than many).

mod alarms;
mod cli;
mod compat;
mod connections;
mod feed;
mod fleet;
mod http_feed;
mod layering;
mod logbook;
mod mqtt_feed;
mod notify;
mod oee;
mod opcua_feed;
mod recording;
mod review;
mod site;
mod store;
mod trend;
mod ui;
mod workstation;

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
        site_plan: Arc::default(),
        tiles: None,
        pmtiles: None,
        operator: None,
        review: None,
        reports_dir: None,
        recordings: None,
        workstation: None,
        kiosk: None,
        annunciator: None,
        browsing: None,
    }
}

/// A feed under test, spawned on the current tokio runtime with a lossless consumer, and what it published.
pub struct Probe {
    _feed: watchfloor::feeds::FeedHandle,
    events: tokio::sync::mpsc::Receiver<Arc<watchfloor::model::FeedEvent>>,
    pub seen: Vec<Arc<watchfloor::model::FeedEvent>>,
    pub diag: watchfloor::feeds::DiagHandle,
}

/// How long a probe waits for what a test expects.
pub const PROBE_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

impl Probe {
    pub fn start(feed: impl watchfloor::feeds::Feed, kind: &'static str) -> Self {
        let mut builder = EventBus::builder();
        let events = builder.lossless(100_000);
        let bus = builder.build();
        let diag = watchfloor::feeds::DiagHandle::new("gw".into(), kind, "test");
        let clock: Arc<dyn Clock> = Arc::new(watchfloor::clock::SystemClock);
        let handle = tokio::runtime::Handle::current();
        let feed = watchfloor::feeds::spawn_feed(&handle, "gw".into(), feed, bus, clock, diag.clone());
        Self { _feed: feed, events, seen: Vec::new(), diag }
    }

    /// Waits until `done` holds for what has been seen so far; fails after [`PROBE_WAIT`].
    pub async fn until(&mut self, what: &str, mut done: impl FnMut(&[Arc<watchfloor::model::FeedEvent>]) -> bool) {
        let deadline = tokio::time::Instant::now() + PROBE_WAIT;
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) => self.seen.push(e),
                Ok(None) => panic!("{what}: the feed ended"),
                Err(_) => panic!(
                    "{what}: not seen in {PROBE_WAIT:?}; last events: {:#?}",
                    self.seen.iter().rev().take(8).collect::<Vec<_>>()
                ),
            }
        }
    }
}

/// A CA, and a server certificate for 127.0.0.1 signed by it, as PEM files in `dir`.
pub fn test_ca(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, format!("Watchfloor test CA {name}"));
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("server key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("params");
    let cert = params.signed_by(&key, &ca).expect("server certificate");
    let paths =
        (dir.join(format!("{name}-ca.pem")), dir.join(format!("{name}-cert.pem")), dir.join(format!("{name}-key.pem")));
    std::fs::write(&paths.0, ca.pem()).expect("write");
    std::fs::write(&paths.1, cert.pem()).expect("write");
    std::fs::write(&paths.2, key.serialize_pem()).expect("write");
    paths
}

/// 2026-11-20 07:00 UTC, 09:00 in Helsinki: an hour into shift A.
pub const START_MS: i64 = 1_795_158_000_000;

/// The simulator's events for `minutes` at 1 s steps from [`START_MS`] (a birth first), with each fault injected
/// at its minute.
pub fn sim_events(
    sim: watchfloor::sim::SimConfig,
    minutes: i64,
    faults: &[(i64, watchfloor::sim::Fault)],
) -> Vec<Arc<watchfloor::model::FeedEvent>> {
    use watchfloor::model::{FeedEvent, FeedEventBody};
    let mut sim = watchfloor::sim::Simulator::new(sim);
    let gw: Arc<str> = Arc::from("demo");
    let event = |t: i64, body| Arc::new(FeedEvent::new(gw.clone(), t, body));
    let (meta, values) = sim.birth();
    let mut out = vec![event(START_MS, FeedEventBody::Birth(meta)), event(START_MS, FeedEventBody::Samples(values))];
    let mut t = START_MS;
    while t < START_MS + minutes * 60_000 {
        for (minute, fault) in faults {
            if t == START_MS + minute * 60_000 {
                sim.inject(fault).expect("a known machine or vehicle");
            }
        }
        t += 1_000;
        let mut batch = Vec::new();
        sim.step_to(t, &mut batch);
        out.push(event(t, FeedEventBody::Samples(batch)));
    }
    out
}

/// Records [`sim_events`] into a new cache at `path` through the real writer (with `rules`).
pub fn record_sim(
    path: &std::path::Path,
    sim: watchfloor::sim::SimConfig,
    minutes: i64,
    faults: &[(i64, watchfloor::sim::Fault)],
    rules: Vec<watchfloor::analytics::alarm::Rule>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let mut options = watchfloor::store::StoreOptions::new(path);
    options.evaluator = watchfloor::analytics::recording::SiteEvaluator::boxed(rules, Default::default(), None);
    let store = watchfloor::store::Store::start(options, rx).expect("writer");
    for event in sim_events(sim, minutes, faults) {
        tx.blocking_send(event).expect("send");
    }
    drop(tx);
    store.finish();
}
