//! `watchfloor gateway`: the built-in simulator served as a real gateway, for demos, tests and gateway vendors.
//!
//! One driver steps the simulator on its (possibly sped-up) clock and broadcasts [`Update`]s; each output turns
//! them into its wire protocol: the HTTP gateway feed ([`http`]), Sparkplug B and Kepware JSON over MQTT ([`mqtt`]).

pub mod http;
pub mod mqtt;
pub mod opcua;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{broadcast, watch};

use crate::clock::{Clock, ScaledClock, wall_now_ms};
use crate::model::{Sample, SignalMeta};
use crate::sim::{SimConfig, Simulator, TICK_MS};

/// What the driver tells the outputs.
#[derive(Debug)]
pub enum Update {
    /// Every signal with its kind and unit, and its current value (sent first).
    Birth { meta: Vec<SignalMeta>, values: Vec<Sample> },
    /// Values of one or more simulated seconds, oldest first.
    Samples(Vec<Sample>),
}

/// Updates an output may fall behind before it loses some (it then logs how many).
pub const UPDATE_QUEUE: usize = 4_096;
/// How often the driver wakes (wall time).
const WAKE_EVERY: Duration = Duration::from_millis(250);

/// What to serve, from the command line.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// Serve the HTTP gateway feed on this address.
    pub http: Option<SocketAddr>,
    /// Publish Sparkplug B to this broker.
    pub mqtt: Option<url::Url>,
    /// Also publish Kepware-template JSON (needs `mqtt`).
    pub json: bool,
    /// Serve OPC UA.
    pub opcua: Option<opcua::OpcUaServe>,
    /// The bearer token HTTP clients must send is read from this environment variable.
    pub token_env: Option<String>,
    pub seed: u64,
    pub speed: f64,
    pub lines: usize,
    pub vehicles: usize,
    /// A synthetic load instead of the simulator (for `bench opcua`).
    pub load: Option<Load>,
}

/// A synthetic load: `items` float signals `Load/<n>`, every one changing every `every`, stamped with the wall
/// clock when made (so a client can tell how long a value took to reach it).
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub items: usize,
    pub every: Duration,
}

/// The signal ids of a load, in order.
pub fn load_signals(items: usize) -> Vec<crate::model::SignalId> {
    (0..items).map(|n| crate::model::SignalId::new(format!("Load/{n:05}"))).collect()
}

/// Broadcasts a load's birth, then all its values every `every`, until `shutdown` turns true.
pub struct LoadDriver {
    load: Load,
    tx: broadcast::Sender<Arc<Update>>,
}

impl LoadDriver {
    pub fn new(load: Load) -> Self {
        let (tx, _) = broadcast::channel(UPDATE_QUEUE);
        Self { load, tx }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.tx.subscribe()
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let ids = load_signals(self.load.items);
        let meta = ids
            .iter()
            .map(|id| SignalMeta { id: id.clone(), kind: crate::model::ValueKind::Float, unit: None })
            .collect();
        let values_at = |step: u64, ts_ms: i64| -> Vec<Sample> {
            ids.iter()
                .enumerate()
                .map(|(n, id)| {
                    #[expect(clippy::cast_precision_loss)]
                    let v = (step as f64 * 0.1 + n as f64).sin() * 100.0;
                    Sample::new(id.clone(), ts_ms, crate::model::Value::F64(v))
                })
                .collect()
        };
        let _ = self.tx.send(Arc::new(Update::Birth { meta, values: values_at(0, wall_now_ms()) }));
        let mut tick = tokio::time::interval(self.load.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        for step in 1.. {
            tokio::select! {
                _ = tick.tick() => {}
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                }
            }
            let _ = self.tx.send(Arc::new(Update::Samples(values_at(step, wall_now_ms()))));
        }
    }
}

/// Where the updates come from.
enum Source {
    Sim(Box<Driver>),
    Load(LoadDriver),
}

impl Source {
    fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        match self {
            Self::Sim(d) => d.subscribe(),
            Self::Load(d) => d.subscribe(),
        }
    }

    async fn run(self, shutdown: watch::Receiver<bool>) {
        match self {
            Self::Sim(d) => d.run(shutdown).await,
            Self::Load(d) => d.run(shutdown).await,
        }
    }
}

/// Steps a simulator to its clock's "now" and broadcasts what it produced.
pub struct Driver {
    sim: Simulator,
    clock: Arc<dyn Clock>,
    tx: broadcast::Sender<Arc<Update>>,
}

impl Driver {
    pub fn new(config: SimConfig, clock: Arc<dyn Clock>) -> Self {
        let (tx, _) = broadcast::channel(UPDATE_QUEUE);
        Self { sim: Simulator::new(config), clock, tx }
    }

    /// A receiver for an output; subscribe every output before [`Driver::run`].
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.tx.subscribe()
    }

    /// Sends the birth, then the simulator's samples as its clock advances, until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let (meta, values) = self.sim.birth();
        let _ = self.tx.send(Arc::new(Update::Birth { meta, values }));
        let mut wake = tokio::time::interval(WAKE_EVERY);
        wake.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                _ = wake.tick() => {}
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                }
            }
            let now_ms = self.clock.now_ms();
            while self.sim.now_ms() + TICK_MS <= now_ms {
                // At most a minute of simulated time per update, so one update stays a reasonable size.
                let slice_end = (self.sim.now_ms() + 60 * TICK_MS).min(now_ms);
                self.sim.step_to(slice_end, &mut batch);
                if !batch.is_empty() {
                    // No receiver (every output gone) is not an error: the process is shutting down.
                    let _ = self.tx.send(Arc::new(Update::Samples(std::mem::take(&mut batch))));
                }
            }
        }
    }
}

/// Runs the gateway until Ctrl-C or SIGTERM.
/// On `runtime` (owned by `main`).
pub fn run(options: &GatewayOptions, runtime: &tokio::runtime::Handle) -> anyhow::Result<()> {
    if options.http.is_none() && options.mqtt.is_none() && options.opcua.is_none() {
        anyhow::bail!("nothing to serve: pass --http ADDR, --mqtt URL and/or --opcua ADDR");
    }
    if options.json && options.mqtt.is_none() {
        anyhow::bail!("--json publishes over MQTT: pass --mqtt URL too");
    }
    crate::feeds::tls::install_provider();
    runtime.block_on(async {
        let start_ms = wall_now_ms() / 1000 * 1000;
        let mut config = SimConfig::demo(options.seed, start_ms);
        config.lines = options.lines;
        config.vehicles = options.vehicles;
        let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(start_ms, options.speed));
        let driver = match options.load {
            Some(load) => Source::Load(LoadDriver::new(load)),
            None => Source::Sim(Box::new(Driver::new(config, Arc::clone(&clock)))),
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut outputs = tokio::task::JoinSet::new();
        if let Some(addr) = options.http {
            let token = match &options.token_env {
                Some(var) => Some(std::env::var(var).with_context(|| format!("the token variable {var} is not set"))?),
                None => None,
            };
            let listener =
                tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
            let bound = listener.local_addr()?;
            eprintln!("serving the HTTP gateway feed on http://{bound}/v1/");
            tracing::info!(%bound, auth = token.is_some(), "HTTP gateway feed");
            outputs.spawn(http::serve(listener, driver.subscribe(), token, stop_rx.clone()));
        }
        if let Some(url) = &options.mqtt {
            let publisher = mqtt::Publisher::new(url.clone(), options.json).context("bad --mqtt url")?;
            eprintln!("publishing Sparkplug B{} to {url}", if options.json { " and Kepware JSON" } else { "" });
            outputs.spawn(publisher.run(driver.subscribe(), Arc::clone(&clock), stop_rx.clone()));
        }
        if let Some(serve) = &options.opcua {
            eprintln!("serving OPC UA on opc.tcp://{}/ (namespace {})", serve.addr, opcua::NAMESPACE);
            outputs.spawn(opcua::serve(serve.clone(), driver.subscribe(), stop_rx.clone()));
        }
        let driver_task = tokio::spawn(driver.run(stop_rx));
        let reason = tokio::select! {
            reason = crate::startup::wait_for_stop(None) => reason.to_string(),
            Some(result) = outputs.join_next() => match result {
                Ok(Ok(())) => "an output ended".to_owned(),
                Ok(Err(err)) => return Err(err),
                Err(err) => return Err(anyhow::anyhow!("an output failed: {err}")),
            },
        };
        eprintln!("stopping ({reason})");
        let _ = stop_tx.send(true);
        let _ =
            tokio::time::timeout(Duration::from_secs(3), async { while outputs.join_next().await.is_some() {} }).await;
        let _ = driver_task.await;
        Ok(())
    })
}
