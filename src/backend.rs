//! Starts the feeds a config asks for on the tokio runtime, and routes UI commands to them. Dropping the
//! [`Backend`] stops every feed.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::runtime::Handle;

use crate::clock::{Clock, ScaledClock, SystemClock, wall_now_ms};
use crate::config::{Config, GatewayKind};
use crate::feeds::Command;
use crate::feeds::http::HttpFeed;
use crate::feeds::mqtt::MqttFeed;
use crate::feeds::{DiagHandle, EventBus, FeedCommand, FeedHandle, spawn_feed};
use crate::sim::{SimConfig, SimFeed};

pub struct Backend {
    feeds: Vec<FeedHandle>,
    diags: Vec<DiagHandle>,
    sim_gateways: HashSet<Arc<str>>,
    clock: Arc<dyn Clock>,
}

impl Backend {
    /// Starts every configured gateway, publishing on `bus`.
    ///
    /// The app's clock is the wall clock, except when the only gateway is a simulator: then it is the simulator's
    /// (possibly sped-up) clock, so the site clock, "last seen" and staleness follow simulated time.
    pub fn start(runtime: &Handle, config: &Config, bus: &EventBus) -> Self {
        Self::start_with_clock(runtime, config, bus, Self::clock_for(config))
    }

    /// The clock [`Backend::start`] would choose for `config`: the simulator's when it is the only gateway, else
    /// the wall clock. Made first when the history writers, which start before the feeds, need the same "now".
    pub fn clock_for(config: &Config) -> Arc<dyn Clock> {
        match config.gateways.as_slice() {
            [only] => match &only.kind {
                GatewayKind::Sim(sim) => Arc::new(ScaledClock::new(wall_now_ms() / 1000 * 1000, sim.speed)),
                _ => Arc::new(SystemClock),
            },
            _ => Arc::new(SystemClock),
        }
    }

    /// [`Backend::start`] with the clock from [`Backend::clock_for`] (a sole simulator runs on it).
    pub fn start_with_clock(runtime: &Handle, config: &Config, bus: &EventBus, clock: Arc<dyn Clock>) -> Self {
        let wall: Arc<dyn Clock> = Arc::new(SystemClock);
        let start_ms = wall_now_ms() / 1000 * 1000;
        let mut feeds = Vec::new();
        let mut diags = Vec::new();
        let mut sim_gateways = HashSet::new();
        for gateway in &config.gateways {
            let name: Arc<str> = Arc::from(gateway.name.as_str());
            let endpoint = match gateway.kind.link() {
                Some(link) => link.url.to_string(),
                None => "built-in simulator".to_owned(),
            };
            let diag = DiagHandle::new(Arc::clone(&name), gateway.kind.label(), endpoint);
            diags.push(diag.clone());
            match &gateway.kind {
                GatewayKind::Sim(sim) => {
                    let sim_clock: Arc<dyn Clock> = if config.gateways.len() == 1 {
                        Arc::clone(&clock)
                    } else {
                        Arc::new(ScaledClock::new(start_ms, sim.speed))
                    };
                    let mut sim_config = SimConfig::demo(sim.seed, sim_clock.now_ms() / 1000 * 1000);
                    sim_config.lines = sim.lines;
                    sim_config.vehicles = sim.vehicles;
                    sim_config.calendar = config.calendar.clone();
                    tracing::info!(gateway = %name, seed = sim.seed, speed = sim.speed, "starting simulated gateway");
                    let feed = SimFeed::new(sim_config);
                    let handle =
                        spawn_feed(runtime, Arc::clone(&name), feed, bus.clone(), Arc::clone(&sim_clock), diag);
                    feeds.push(handle);
                    sim_gateways.insert(name);
                }
                GatewayKind::Sparkplug(g) => {
                    tracing::info!(gateway = %name, url = %g.link.url, group = ?g.group, host_id = %g.host_id, "starting Sparkplug B host");
                    let feed = MqttFeed::sparkplug(g.clone());
                    feeds.push(spawn_feed(runtime, Arc::clone(&name), feed, bus.clone(), Arc::clone(&wall), diag));
                }
                GatewayKind::MqttJson(g) => {
                    tracing::info!(gateway = %name, url = %g.link.url, topics = ?g.topics, "starting MQTT JSON feed");
                    let feed = MqttFeed::json(g.clone());
                    feeds.push(spawn_feed(runtime, Arc::clone(&name), feed, bus.clone(), Arc::clone(&wall), diag));
                }
                GatewayKind::Http(g) => {
                    tracing::info!(gateway = %name, url = %g.link.url, "starting HTTP gateway feed");
                    let feed = HttpFeed::new(g.clone());
                    feeds.push(spawn_feed(runtime, Arc::clone(&name), feed, bus.clone(), Arc::clone(&wall), diag));
                }
                GatewayKind::OpcUa(g) => {
                    tracing::info!(gateway = %name, url = %g.link.url, "starting OPC UA feed");
                    let feed = crate::feeds::opcua::OpcUaFeed::new(g.clone());
                    feeds.push(spawn_feed(runtime, Arc::clone(&name), feed, bus.clone(), Arc::clone(&wall), diag));
                }
            }
        }
        Self { feeds, diags, sim_gateways, clock }
    }

    /// Each gateway's counters, recent messages and quarantine, in config order.
    pub fn diagnostics(&self) -> &[DiagHandle] {
        &self.diags
    }

    /// The clock the UI should read "now" from.
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.clock)
    }

    /// Names of the gateways that are simulators (they accept fault injection).
    pub fn sim_gateways(&self) -> &HashSet<Arc<str>> {
        &self.sim_gateways
    }

    /// Routes a command without blocking; a command that cannot be delivered is logged and dropped.
    pub fn send(&self, command: Command) {
        let deliver = |gateway: &Arc<str>, command: FeedCommand| {
            self.feeds.iter().find(|f| f.gateway == *gateway).is_some_and(|f| f.send(command))
        };
        match command {
            Command::OpcUaAdd { gateway, mapping } => {
                if !deliver(&gateway, FeedCommand::OpcUaAdd(mapping)) {
                    tracing::warn!(%gateway, "OPC UA mapping not delivered: no such running gateway, or its queue is full");
                }
            }
            Command::InjectFault { gateway, fault } => {
                if !deliver(&gateway, FeedCommand::InjectFault(fault)) {
                    tracing::warn!(%gateway, "fault not delivered: no such running gateway, or its queue is full");
                }
            }
        }
    }

    /// Stops every feed and waits for each to finish.
    pub async fn shutdown(self) {
        for feed in self.feeds {
            feed.stop().await;
        }
    }
}
