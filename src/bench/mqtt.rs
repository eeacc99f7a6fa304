//! End-to-end MQTT benchmark: Sparkplug B messages through a real Mosquitto into the whole pipeline (host, bus,
//! live state, history store), against a bare rumqttc client draining the same messages from the same broker in
//! the same process. Also the local Mosquitto the integration tests use.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

use crate::clock::{Clock, SystemClock, wall_now_ms};
use crate::config::{Link, SparkplugGateway};
use crate::feeds::mqtt::MqttFeed;
use crate::feeds::sparkplug::edge::EdgeNode;
use crate::feeds::{DiagHandle, spawn_feed};
use crate::live::{LiveSettings, LiveState};
use crate::model::{Sample, SignalId, SignalMeta, Value, ValueKind};

/// Where Debian and others install the broker.
pub fn mosquitto_binary() -> Option<PathBuf> {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/local/bin/mosquitto"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A private Mosquitto on a free loopback port (optionally TLS), restartable, killed on drop.
pub struct Mosquitto {
    binary: PathBuf,
    config: PathBuf,
    pub port: u16,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts Mosquitto; `tls` is (CA, certificate, key) PEM files for a TLS listener.
    pub fn start(tls: Option<(&Path, &Path, &Path)>) -> anyhow::Result<Self> {
        let binary =
            mosquitto_binary().ok_or_else(|| anyhow!("mosquitto is not installed (apt-get install mosquitto)"))?;
        let dir = tempfile::tempdir().context("temp dir for mosquitto")?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        let mut text =
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n");
        // As root, Mosquitto would switch to a user that may not exist here.
        if std::env::var("USER").is_ok_and(|u| u == "root") || std::env::var_os("HOME").is_some_and(|h| h == "/root") {
            text.push_str("user root\n");
        }
        if let Some((ca, cert, key)) = tls {
            text.push_str(&format!(
                "cafile {}\ncertfile {}\nkeyfile {}\n",
                ca.display(),
                cert.display(),
                key.display()
            ));
        }
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(&config, text)?;
        let mut m = Self { binary, config, port, child: None, _dir: dir };
        m.run()?;
        Ok(m)
    }

    /// (Re)starts the process on the same port and waits until it listens.
    pub fn run(&mut self) -> anyhow::Result<()> {
        let child = std::process::Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start mosquitto")?;
        self.child = Some(child);
        for _ in 0..400 {
            if std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(anyhow!("mosquitto did not start listening on port {}", self.port))
    }

    /// Kills the broker at once (no clean shutdown), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self, scheme: &str) -> url::Url {
        // The format is fixed and valid; a failure here would be a bug in this function.
        url::Url::parse(&format!("{scheme}://127.0.0.1:{}", self.port)).unwrap_or_else(|_| unreachable!())
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the end-to-end run measured (medians).
#[derive(Clone, Debug, serde::Serialize)]
pub struct E2eResult {
    pub e2e_messages: usize,
    pub e2e_samples_per_message: usize,
    /// Publish start → every sample applied to the live state and committed to the store.
    pub e2e_pipeline_ms: f64,
    /// Publish start → a bare rumqttc subscriber has received every message.
    pub e2e_bare_client_ms: f64,
    pub e2e_ratio_vs_bare_client: f64,
    pub e2e_pipeline_messages_per_sec: f64,
    pub e2e_runs: usize,
}

const GROUP: &str = "Bench";
const DEVICES: usize = 20;
const METRICS: usize = 2;

/// The edge node, its births and `messages` DDATA messages of [`METRICS`] samples each, stamped around now.
/// MQTT messages as (topic, payload).
type Messages = Vec<(String, Vec<u8>)>;

fn workload(messages: usize) -> (Messages, Messages) {
    let mut node = EdgeNode::new(GROUP, "Node1");
    for d in 0..DEVICES {
        for m in 0..METRICS {
            let id = SignalId::new(format!("{GROUP}/Node1/Dev{d}/Metric{m}"));
            node.add(&SignalMeta { id, kind: ValueKind::Float, unit: None });
        }
    }
    let t0 = wall_now_ms() - 60_000;
    let births = node.births(t0);
    let mut data = Vec::with_capacity(messages);
    for i in 0..messages {
        let d = i % DEVICES;
        let ts = t0 + 1 + i as i64;
        let samples: Vec<Sample> = (0..METRICS)
            .map(|m| {
                #[expect(clippy::cast_precision_loss)]
                let v = (i * METRICS + m) as f64 * 0.25;
                Sample::new(SignalId::new(format!("{GROUP}/Node1/Dev{d}/Metric{m}")), ts, Value::F64(v))
            })
            .collect();
        data.extend(node.data(&samples, ts));
    }
    (births, data)
}

fn client(port: u16, id: &str) -> (AsyncClient, rumqttc::EventLoop) {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30)).set_max_packet_size(1 << 20, 1 << 20);
    options.set_request_channel_capacity(10_000);
    AsyncClient::new(options, 10_000)
}

/// Connects a publisher and sends `messages` as fast as the broker takes them (`QoS` 0).
async fn publish(port: u16, messages: Arc<Vec<(String, Vec<u8>)>>) -> anyhow::Result<()> {
    let (client, mut eventloop) = client(port, "wf-bench-pub");
    let sender = tokio::spawn(async move {
        for (topic, payload) in messages.iter() {
            if client.publish(topic.clone(), QoS::AtMostOnce, false, payload.clone()).await.is_err() {
                break;
            }
        }
        let _ = client.disconnect().await;
    });
    while eventloop.poll().await.is_ok() {}
    sender.await.map_err(|err| anyhow!("publisher task: {err}"))
}

async fn bare_client(
    port: u16,
    births: &[(String, Vec<u8>)],
    data: Arc<Vec<(String, Vec<u8>)>>,
) -> anyhow::Result<Duration> {
    let (client, mut eventloop) = client(port, "wf-bench-bare");
    client.subscribe(format!("spBv1.0/{GROUP}/#"), QoS::AtLeastOnce).await?;
    loop {
        if let Event::Incoming(Incoming::SubAck(_)) = eventloop.poll().await? {
            break;
        }
    }
    publish(port, Arc::new(births.to_vec())).await?;
    let mut seen = 0;
    while seen < births.len() {
        if let Event::Incoming(Incoming::Publish(_)) = eventloop.poll().await? {
            seen += 1;
        }
    }
    let n = data.len();
    let started = Instant::now();
    let publisher = tokio::spawn(publish(port, data));
    let mut received = 0;
    while received < n {
        if let Event::Incoming(Incoming::Publish(p)) = eventloop.poll().await? {
            // Touch the payload as any consumer would.
            received += usize::from(!p.payload.is_empty());
        }
    }
    let elapsed = started.elapsed();
    publisher.await.map_err(|err| anyhow!("publisher: {err}"))??;
    Ok(elapsed)
}

fn pipeline(
    runtime: &tokio::runtime::Runtime,
    port: u16,
    dir: &Path,
    run: usize,
    births: &[(String, Vec<u8>)],
    data: &Arc<Vec<(String, Vec<u8>)>>,
) -> anyhow::Result<Duration> {
    let (mut inbox, store, bus) = super::app_consumers(dir.join(format!("e2e-{run}.sqlite")))?;
    let diag = DiagHandle::new("bench".into(), "sparkplug", "bench");
    let url = url::Url::parse(&format!("mqtt://127.0.0.1:{port}"))?;
    let feed = MqttFeed::sparkplug(SparkplugGateway {
        link: Link::new(url),
        group: Some(GROUP.to_owned()),
        host_id: format!("wf-bench-host-{run}"),
    });
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let handle = spawn_feed(runtime.handle(), "bench".into(), feed, bus, clock, diag.clone());
    let mut live = LiveState::new(LiveSettings::default());
    let wait_until = |what: &str,
                      live: &mut LiveState,
                      inbox: &mut crate::feeds::LiveInbox,
                      done: &dyn Fn(&LiveState, &DiagHandle) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !done(live, &diag) {
            anyhow::ensure!(Instant::now() < deadline, "end-to-end benchmark: {what} did not happen in 120 s");
            let stats = inbox.drain(Duration::from_millis(8), |e| live.apply(e));
            live.note_coalesced(stats.coalesced);
            if stats.events == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        Ok(())
    };
    wait_until("connect", &mut live, &mut inbox, &|_, d| d.lock().connected_since_ms.is_some())?;
    runtime.block_on(publish(port, Arc::new(births.to_vec())))?;
    let birth_samples = DEVICES * METRICS;
    wait_until("births", &mut live, &mut inbox, &|l, _| l.stats.samples as usize >= birth_samples)?;
    let expected = birth_samples + data.len() * METRICS;
    let started = Instant::now();
    let publisher = runtime.spawn(publish(port, Arc::clone(data)));
    // The live view may fold samples it is behind on into the latest value per signal (counted as coalesced);
    // it has caught up when applied + folded covers every sample sent.
    wait_until("the live state caught up", &mut live, &mut inbox, &|l, _| {
        (l.stats.samples + l.stats.coalesced) as usize >= expected
    })?;
    let status = store.flush_blocking().ok_or_else(|| anyhow!("the store stopped"))?;
    let elapsed = started.elapsed();
    runtime.block_on(publisher).map_err(|err| anyhow!("publisher: {err}"))??;
    anyhow::ensure!(
        status.stored_samples as usize >= expected,
        "the store holds {} of {expected} samples",
        status.stored_samples
    );
    anyhow::ensure!(live.stats.rejected == 0, "{} samples rejected", live.stats.rejected);
    drop(handle);
    drop(store.finish());
    Ok(elapsed)
}

/// Runs the end-to-end comparison `runs` times and reports medians.
pub fn e2e(messages: usize, runs: usize) -> anyhow::Result<E2eResult> {
    let broker = Mosquitto::start(None)?;
    let runtime = crate::startup::io_runtime()?;
    let dir = tempfile::tempdir()?;
    let (births, data) = workload(messages);
    let data = Arc::new(data);
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    for run in 0..runs {
        bare.push(super::ms(runtime.block_on(bare_client(broker.port, &births, Arc::clone(&data)))?));
        ours.push(super::ms(pipeline(&runtime, broker.port, dir.path(), run, &births, &data)?));
    }
    let (ours, bare) = (super::median(ours), super::median(bare));
    #[expect(clippy::cast_precision_loss)]
    let rate = messages as f64 / (ours / 1000.0);
    Ok(E2eResult {
        e2e_messages: messages,
        e2e_samples_per_message: METRICS,
        e2e_pipeline_ms: ours,
        e2e_bare_client_ms: bare,
        e2e_ratio_vs_bare_client: ours / bare,
        e2e_pipeline_messages_per_sec: rate,
        e2e_runs: runs,
    })
}
