//! The OPC UA feed against the built-in OPC UA server (`watchfloor gateway --opcua`) on loopback: a folder
//! mapped by browse names with source times; secure (`Basic256Sha256`, signed and encrypted, with a user) where an
//! untrusted server certificate is an error until trusted; a wrong password an error.

use std::sync::Arc;
use std::time::Duration;

use watchfloor::config::{Link, OpcUaGateway, OpcUaSecurity};
use watchfloor::feeds::opcua::OpcUaFeed;
use watchfloor::gateway::opcua::{NAMESPACE, OpcUaServe};
use watchfloor::model::TimeSource;
use watchfloor::model::{FeedEvent, FeedEventBody, FeedState};

use crate::Probe;

/// The simulator served over OPC UA on a free loopback port; dropped, it stops.
struct Server {
    addr: std::net::SocketAddr,
    /// Every sample the simulator made, as the server got it.
    made: Arc<std::sync::Mutex<Vec<watchfloor::model::Sample>>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    pki: std::path::PathBuf,
}

impl Server {
    async fn start(dir: &std::path::Path, user: Option<(&str, &str)>) -> Self {
        let addr = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("addr")
        };
        Self::start_at(dir, user, addr).await
    }

    /// A server on `addr` with the PKI directory of `dir` (a restart keeps its certificate).
    async fn start_at(dir: &std::path::Path, user: Option<(&str, &str)>, addr: std::net::SocketAddr) -> Self {
        let start_ms = watchfloor::clock::wall_now_ms() / 1000 * 1000;
        let clock: Arc<dyn watchfloor::clock::Clock> = Arc::new(watchfloor::clock::ScaledClock::new(start_ms, 1.0));
        let mut sim = watchfloor::sim::SimConfig::demo(7, start_ms);
        (sim.lines, sim.vehicles) = (1, 2);
        let driver = watchfloor::gateway::Driver::new(sim, clock);
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let pki = dir.join("server-pki");
        let serve = OpcUaServe { addr, pki_dir: pki.clone(), user: user.map(|(u, p)| (u.to_owned(), p.to_owned())) };
        let task = tokio::spawn(watchfloor::gateway::opcua::serve(serve, driver.subscribe(), stop_rx.clone()));
        let made: Arc<std::sync::Mutex<Vec<watchfloor::model::Sample>>> = Arc::default();
        let mut updates = driver.subscribe();
        let keep = Arc::clone(&made);
        tokio::spawn(async move {
            while let Ok(update) = updates.recv().await {
                let (watchfloor::gateway::Update::Samples(samples)
                | watchfloor::gateway::Update::Birth { values: samples, .. }) = update.as_ref();
                keep.lock().expect("lock").extend(samples.iter().cloned());
            }
        });
        tokio::spawn(driver.run(stop_rx));
        // Listening once the first connection is taken.
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { addr, made, stop, task, pki }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

fn gateway(server: &Server, dir: &std::path::Path, security: OpcUaSecurity) -> OpcUaGateway {
    let url = url::Url::parse(&format!("opc.tcp://{}/", server.addr)).expect("url");
    OpcUaGateway {
        link: Link::new(url),
        security,
        encrypt: true,
        folders: vec![format!("nsu={NAMESPACE};s=PlantA/")],
        nodes: Vec::new(),
        sampling_ms: 200.0,
        queue_size: 10,
        deadband: 0.0,
        deadband_percent: 0.0,
        item_stale_after_ms: None,
        pki_dir: Some(dir.join("client-pki")),
    }
}

/// Every sample seen, in order.
fn all_samples(seen: &[Arc<FeedEvent>]) -> impl Iterator<Item = &watchfloor::model::Sample> {
    seen.iter()
        .filter_map(|e| match &e.body {
            FeedEventBody::Samples(s) => Some(s),
            _ => None,
        })
        .flatten()
}

fn samples_of<'a>(seen: &'a [Arc<FeedEvent>], signal: &'a str) -> impl Iterator<Item = &'a watchfloor::model::Sample> {
    all_samples(seen).filter(move |s| s.signal.as_str() == signal)
}

fn last_status(seen: &[Arc<FeedEvent>]) -> Option<(FeedState, String)> {
    seen.iter().rev().find_map(|e| match &e.body {
        FeedEventBody::Status(s) => Some((s.state, s.message.clone().unwrap_or_default())),
        _ => None,
    })
}

/// A folder mapped by browse names: the filler's state and count arrive as the simulator's signals, with source
/// times from the server, while the status says what the server granted; a node named by its browse path arrives
/// under the signal it is mapped to.
#[test]
fn a_folder_of_the_built_in_server_arrives_as_signals_with_source_times() {
    with_server(None, async |server, dir| {
        let mut config = gateway(server, dir, OpcUaSecurity::None);
        // One node by browse path, under a name of its own (the folder would name it by its path).
        config.nodes = vec![("Filler temperature".to_owned(), "/PlantA/Line1/Filler/Temperature".to_owned())];
        let mut probe = Probe::start(OpcUaFeed::new(config), "opcua");
        let state = "PlantA/Line1/Filler/State";
        probe.until("the filler's state", |seen| samples_of(seen, state).next().is_some()).await;
        probe
            .until("the node mapped by browse path", |seen| samples_of(seen, "Filler temperature").next().is_some())
            .await;
        // Values keep flowing: samples stamped with at least three distinct source seconds. (Not the filler's
        // count: in a shift's break the line stands still and its count does not change.)
        probe
            .until("values changing over time", |seen| {
                let mut times: Vec<i64> = all_samples(seen).map(|s| s.ts_ms / 1_000).collect();
                times.sort_unstable();
                times.dedup();
                times.len() >= 3
            })
            .await;
        let s = samples_of(&probe.seen, state).next().expect("a state");
        assert_eq!(s.time_source, TimeSource::Source);
        let age = watchfloor::clock::wall_now_ms() - s.ts_ms;
        assert!((-1_000..60_000).contains(&age), "source time {age} ms ago");
        let (state, message) = last_status(&probe.seen).expect("a status");
        assert_eq!(state, FeedState::Live, "{message}");
        assert!(message.contains("sampling 200 ms granted"), "{message}");
        drop(probe);
    });
}

/// Signed and encrypted with a user: the server's certificate is not trusted at first (an error that says how
/// to trust it); moved into the trust list, the feed connects and values flow. A wrong password is an error too.
#[test]
fn secure_with_a_user_an_untrusted_server_is_an_error_until_trusted() {
    with_server(Some(("op", "s3cret")), async |server, dir| {
        let secret = dir.join("password");
        std::fs::write(&secret, "s3cret").expect("password file");
        let mut config = gateway(server, dir, OpcUaSecurity::Basic256Sha256);
        config.link.credentials.username = Some("op".to_owned());
        config.link.credentials.password_file = Some(secret.clone());
        let mut probe = Probe::start(OpcUaFeed::new(config.clone()), "opcua");
        probe
            .until("an untrusted certificate", |seen| {
                last_status(seen).is_some_and(|(s, m)| s == FeedState::Error && m.contains("not trusted"))
            })
            .await;
        // The Connections view's *Trust* does this: the kept-aside certificate moves into the trust list.
        let cert = probe.diag.lock().untrusted.clone().expect("the certificate offered for trust");
        assert!(cert.subject.contains("Watchfloor simulator") && cert.thumbprint.len() == 40, "{cert:?}");
        watchfloor::feeds::opcua::trust(&cert).expect("trusted");
        assert!(dir.join("client-pki/trusted").join(cert.file.file_name().expect("name")).exists());
        probe
            .until("values over the secure channel", |seen| {
                samples_of(seen, "PlantA/Line1/Filler/State").next().is_some()
            })
            .await;
        drop(probe);

        std::fs::write(&secret, "wrong").expect("password file");
        let mut probe = Probe::start(OpcUaFeed::new(config), "opcua");
        probe
            .until("a refused password", |seen| {
                last_status(seen).is_some_and(|(s, m)| s == FeedState::Error && m.contains("user name or password"))
            })
            .await;
        assert!(server.pki.join("own").exists(), "the server made its certificate");
        drop(probe);
    });
}

/// A percent deadband applies where the node has an `EURange` (speed, 0–130 km/h: a 50 % deadband lets
/// almost nothing through) and not where it has none (positions keep coming); the status says on how many.
#[test]
fn a_percent_deadband_applies_only_to_nodes_with_an_eu_range() {
    with_server(None, async |server, dir| {
        let mut config = gateway(server, dir, OpcUaSecurity::None);
        config.folders = vec![format!("nsu={NAMESPACE};s=PlantA/Fleet/")];
        config.deadband_percent = 50.0;
        let mut probe = Probe::start(OpcUaFeed::new(config), "opcua");
        let ends = |suffix: &'static str| {
            move |seen: &[Arc<FeedEvent>]| all_samples(seen).filter(|s| s.signal.as_str().ends_with(suffix)).count()
        };
        probe.until("positions coming", |seen| ends("/Position/Latitude")(seen) >= 8).await;
        let vehicles = 2;
        let speeds = ends("/Speed")(&probe.seen);
        assert!((vehicles..=2 * vehicles).contains(&speeds), "{speeds} speeds through a 50 % deadband");
        let (_, message) = last_status(&probe.seen).expect("a status");
        assert!(message.contains("deadband 50 % of range on"), "{message}");
        let of: Vec<usize> = message
            .split("range on ")
            .nth(1)
            .and_then(|m| m.split(" items").next())
            .map(|m| m.split(" of ").filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_default();
        assert!(of.len() == 2 && of[0] > 0 && of[0] < of[1], "{message}");
        drop(probe);
    });
}

/// Per item staleness: with `item_stale_after`, an item that has said nothing for that long (the filler's ideal
/// cycle time, sent once) is marked stale on its own while the gateway stays live.
#[test]
fn an_item_silent_for_longer_than_allowed_is_marked_stale_on_its_own() {
    with_server(None, async |server, dir| {
        let mut config = gateway(server, dir, OpcUaSecurity::None);
        config.folders = vec![format!("nsu={NAMESPACE};s=PlantA/Line1/Filler/")];
        config.item_stale_after_ms = Some(3_000);
        let mut probe = Probe::start(OpcUaFeed::new(config), "opcua");
        let stale_of = |seen: &[Arc<FeedEvent>]| -> Vec<String> {
            seen.iter()
                .filter_map(|e| match &e.body {
                    FeedEventBody::Stale { prefix } => Some(prefix.clone()),
                    _ => None,
                })
                .collect()
        };
        probe
            .until("the cycle time marked stale", |seen| stale_of(seen).iter().any(|p| p == "Filler/IdealCycleTime"))
            .await;
        assert!(samples_of(&probe.seen, "Filler/IdealCycleTime").next().is_some(), "it came once");
        let (state, message) = last_status(&probe.seen).expect("a status");
        assert_eq!(state, FeedState::Live, "the gateway stays live: {message}");
        drop(probe);
    });
}

/// The server restarted mid-stream, its sessions and subscriptions gone: the feed notices, gets a session and a
/// subscription on the new server by itself, and values flow again, live.
#[test]
fn after_a_server_restart_mid_stream_values_flow_again() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let server = Server::start(dir.path(), None).await;
        let addr = server.addr;
        let mut probe = Probe::start(OpcUaFeed::new(gateway(&server, dir.path(), OpcUaSecurity::None)), "opcua");
        let signal = "PlantA/Fleet/VAN-01/Position/Latitude";
        probe.until("values before the restart", |seen| samples_of(seen, signal).count() >= 2).await;
        server.stop().await;
        probe.until("the server gone", |seen| last_status(seen).is_some_and(|(s, _)| s != FeedState::Live)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let restarted_ms = watchfloor::clock::wall_now_ms();
        let server = Server::start_at(dir.path(), None, addr).await;
        probe
            .until("live values from the restarted server", |seen| {
                samples_of(seen, signal).any(|s| !s.historical && s.ts_ms > restarted_ms + 1_000)
            })
            .await;
        let (state, message) = last_status(&probe.seen).expect("a status");
        assert_eq!(state, FeedState::Live, "{message}");
        drop(probe);
        server.stop().await;
    });
}

/// Runs `test` against a fresh built-in server (anonymous, or also `user`) in a temporary directory, then stops it.
fn with_server(user: Option<(&str, &str)>, test: impl AsyncFnOnce(&Server, &std::path::Path)) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let server = Server::start(dir.path(), user).await;
        test(&server, dir.path()).await;
        server.stop().await;
    });
}

/// A TCP proxy in front of the server whose line can be cut (open connections closed, new ones refused) or
/// frozen (connections stay open, nothing passes: a silent stall).
struct Proxy {
    addr: std::net::SocketAddr,
    cut_until: Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
    frozen: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

/// Copies one way, holding whatever it read while the line is frozen.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while frozen.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("proxy");
        let addr = listener.local_addr().expect("addr");
        let cut_until: Arc<std::sync::Mutex<Option<tokio::time::Instant>>> = Arc::default();
        let frozen: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let open: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (cut, conns, freeze) = (Arc::clone(&cut_until), Arc::clone(&open), Arc::clone(&frozen));
        tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                if cut.lock().expect("lock").is_some_and(|t| tokio::time::Instant::now() < t) {
                    continue;
                }
                let freeze = Arc::clone(&freeze);
                conns.lock().expect("lock").push(tokio::spawn(async move {
                    let Ok(up) = tokio::net::TcpStream::connect(target).await else { return };
                    let ((down_r, down_w), (up_r, up_w)) = (down.into_split(), up.into_split());
                    tokio::join!(pump(down_r, up_w, Arc::clone(&freeze)), pump(up_r, down_w, freeze));
                }));
            }
        });
        Self { addr, cut_until, frozen, open }
    }

    /// Cuts the line for `how_long`.
    fn cut(&self, how_long: Duration) {
        *self.cut_until.lock().expect("lock") = Some(tokio::time::Instant::now() + how_long);
        for c in self.open.lock().expect("lock").drain(..) {
            c.abort();
        }
    }

    /// Freezes every connection, open or new, until thawed; thawing closes them (as a stalled peer is at last given up).
    fn freeze(&self, on: bool) {
        self.frozen.store(on, std::sync::atomic::Ordering::Relaxed);
        if !on {
            for c in self.open.lock().expect("lock").drain(..) {
                c.abort();
            }
        }
    }
}

/// A silent stall: the line stays open but nothing passes (no error, no closed socket). The subscription's
/// watchdog notices the missing publish answers, says so (stale), subscribes again once the line is back, and
/// fills the stall from history.
#[test]
fn a_silent_stall_is_noticed_and_the_subscription_made_again() {
    with_server(None, async |server, dir| {
        let proxy = Proxy::start(server.addr).await;
        let mut config = gateway(server, dir, OpcUaSecurity::None);
        config.link.url = url::Url::parse(&format!("opc.tcp://{}/", proxy.addr)).expect("url");
        let mut probe = Probe::start(OpcUaFeed::new(config), "opcua");
        let signal = "PlantA/Fleet/VAN-01/Position/Latitude";
        probe.until("values before the stall", |seen| samples_of(seen, signal).count() >= 2).await;
        proxy.freeze(true);
        let frozen_ms = watchfloor::clock::wall_now_ms();
        probe
            .until("the stall noticed", |seen| {
                last_status(seen)
                    .is_some_and(|(s, m)| s == FeedState::Stale && m.contains("no answer from the subscription"))
            })
            .await;
        let noticed_ms = watchfloor::clock::wall_now_ms();
        // 2 × 10 keep-alive intervals of 200 ms, plus 2 s, checked each second.
        assert!(noticed_ms - frozen_ms < 10_000, "noticed after {} ms", noticed_ms - frozen_ms);
        proxy.freeze(false);
        probe
            .until("live again with the stall filled", |seen| {
                last_status(seen).is_some_and(|(s, _)| s == FeedState::Live)
                    && samples_of(seen, signal).any(|s| s.historical && s.ts_ms > frozen_ms)
            })
            .await;
        drop(probe);
    });
}

/// The line to the server cut for 30 s: the feed goes offline, comes back by itself, and fills the gap from the
/// server's history — every value the simulator made in the meantime arrives, each once.
#[test]
fn after_a_30_s_cut_the_gap_is_filled_from_history_with_every_value_once() {
    with_server(None, async |server, dir| {
        let proxy = Proxy::start(server.addr).await;
        let mut config = gateway(server, dir, OpcUaSecurity::None);
        config.link.url = url::Url::parse(&format!("opc.tcp://{}/", proxy.addr)).expect("url");
        let mut probe = Probe::start(OpcUaFeed::new(config), "opcua");
        let signal = "PlantA/Fleet/VAN-01/Position/Latitude";
        probe.until("values before the cut", |seen| samples_of(seen, signal).count() >= 3).await;
        proxy.cut(Duration::from_secs(30));
        let cut_ms = watchfloor::clock::wall_now_ms();
        probe.until("offline", |seen| last_status(seen).is_some_and(|(s, _)| s == FeedState::Offline)).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        let back_ms = watchfloor::clock::wall_now_ms();
        probe.until("values after the cut", |seen| samples_of(seen, signal).any(|s| s.ts_ms > back_ms + 2_000)).await;
        assert!(
            samples_of(&probe.seen, signal).any(|s| s.historical && s.ts_ms > cut_ms),
            "the gap filled from history"
        );
        let got: Vec<i64> = samples_of(&probe.seen, signal).map(|s| s.ts_ms).collect();
        let mut unique = got.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), got.len(), "a value arrived twice");
        let (first, last) = (unique[0], unique[unique.len() - 1]);
        let made: Vec<i64> = {
            let made = server.made.lock().expect("lock");
            let mut t: Vec<i64> = made
                .iter()
                .filter(|s| s.signal.as_str() == signal && (first..=last).contains(&s.ts_ms))
                .map(|s| s.ts_ms)
                .collect();
            t.sort_unstable();
            t.dedup();
            t
        };
        assert_eq!(unique, made, "every value the simulator made between the first and the last one received");
        assert!(made.iter().any(|t| (cut_ms..back_ms).contains(t)), "values made during the cut");
        drop(probe);
    });
}

/// Python with asyncua (a third-party OPC UA stack): `WATCHFLOOR_ASYNCUA_PYTHON`, else the venv `.ci/run` makes in
/// `target/asyncua-venv`. In CI it must be there; elsewhere the interop test says so and does not run.
/// The python asyncua server on `port` (with `pki`: also signed and encrypted, its certificate kept there), once it
/// says it is ready.
fn asyncua_server(python: &std::path::Path, port: u16, pki: Option<&std::path::Path>) -> std::process::Child {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/opcua/asyncua_server.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .args(pki)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the asyncua server");
    let mut ready = String::new();
    let stdout = child.stdout.take().expect("stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut ready).expect("its first line");
    assert_eq!(ready.trim(), "ready");
    child
}

/// The third-party server signed and encrypted (`Basic256Sha256`): its certificate is an error until trusted, then
/// values flow; killed and started again mid-stream (same port, same certificate), the feed gets a new session by
/// itself and values flow again.
#[test]
fn a_third_party_server_secure_then_restarted_mid_stream() {
    let Some(python) = asyncua_python() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("dir");
    let pki = dir.path().join("asyncua-pki");
    let mut child = asyncua_server(&python, port, Some(&pki));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        // By the name its certificate carries: a certificate for another host is refused (tried: "does not name this
        // server").
        let url = url::Url::parse(&format!("opc.tcp://localhost:{port}/interop/")).expect("url");
        let config = OpcUaGateway {
            link: Link::new(url),
            security: OpcUaSecurity::Basic256Sha256,
            encrypt: true,
            folders: vec!["nsu=urn:test:asyncua;s=Line9".to_owned()],
            nodes: Vec::new(),
            sampling_ms: 100.0,
            queue_size: 10,
            deadband: 0.0,
            deadband_percent: 0.0,
            item_stale_after_ms: None,
            pki_dir: Some(dir.path().join("client-pki")),
        };
        let mut probe = Probe::start(OpcUaFeed::new(config), "opcua");
        probe
            .until("an untrusted certificate", |seen| {
                last_status(seen).is_some_and(|(s, m)| s == FeedState::Error && m.contains("not trusted"))
            })
            .await;
        let cert = probe.diag.lock().untrusted.clone().expect("the certificate offered for trust");
        assert!(cert.subject.contains("urn:test:asyncua:server") && cert.thumbprint.len() == 40, "{cert:?}");
        watchfloor::feeds::opcua::trust(&cert).expect("trusted");
        let count = "Line9/Filler/Count";
        probe.until("values over the secure channel", |seen| samples_of(seen, count).count() >= 3).await;

        let _ = child.kill();
        let _ = child.wait();
        probe.until("the server gone", |seen| last_status(seen).is_some_and(|(s, _)| s != FeedState::Live)).await;
        let restarted_ms = watchfloor::clock::wall_now_ms();
        child = asyncua_server(&python, port, Some(&pki));
        probe
            .until("values from the restarted server", |seen| {
                samples_of(seen, count).any(|s| !s.historical && s.ts_ms > restarted_ms + 500)
            })
            .await;
        drop(probe);
    });
    let _ = child.kill();
    let _ = child.wait();
}

fn asyncua_python() -> Option<std::path::PathBuf> {
    let python = std::env::var_os("WATCHFLOOR_ASYNCUA_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/asyncua-venv/bin/python"));
    let works = std::process::Command::new(&python)
        .args(["-c", "import asyncua"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        assert!(std::env::var_os("CI").is_none(), "CI must make the asyncua venv (.ci/run does)");
        eprintln!("skipped: no python with asyncua at {} (see .ci/run)", python.display());
        return None;
    }
    Some(python)
}

/// Against python asyncua's server: a folder of a server Watchfloor did not write arrives by browse names, with
/// integer, text and number values, and a value whose status is Bad kept as a bad sample.
#[test]
fn a_third_party_server_python_asyncua_interoperates() {
    let Some(python) = asyncua_python() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let mut child = asyncua_server(&python, port, None);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let url = url::Url::parse(&format!("opc.tcp://127.0.0.1:{port}/interop/")).expect("url");
        let config = OpcUaGateway {
            link: Link::new(url),
            security: OpcUaSecurity::None,
            encrypt: false,
            folders: vec!["nsu=urn:test:asyncua;s=Line9".to_owned()],
            nodes: vec![(
                "Interop/Temperature".to_owned(),
                "nsu=urn:test:asyncua;s=Line9.Filler.Temperature".to_owned(),
            )],
            sampling_ms: 100.0,
            queue_size: 10,
            deadband: 0.0,
            deadband_percent: 0.0,
            item_stale_after_ms: None,
            pki_dir: Some(dir.path().join("client-pki")),
        };
        let mut probe = Probe::start(OpcUaFeed::new(config), "opcua");
        probe
            .until("every kind of value", |seen| {
                samples_of(seen, "Line9/Filler/Count").count() >= 3
                    && samples_of(seen, "Line9/Filler/State").next().is_some()
                    && samples_of(seen, "Line9/Filler/Pressure").next().is_some()
                    && samples_of(seen, "Interop/Temperature").next().is_some()
            })
            .await;
        let count = samples_of(&probe.seen, "Line9/Filler/Count").last().expect("a count");
        assert!(matches!(count.value, watchfloor::model::Value::I64(n) if n > 0), "{count:?}");
        let state = samples_of(&probe.seen, "Line9/Filler/State").next().expect("a state");
        assert!(
            matches!(&state.value, watchfloor::model::Value::Str(s) if s.as_ref() == "Running" || s.as_ref() == "Idle")
        );
        let pressure = samples_of(&probe.seen, "Line9/Filler/Pressure").next().expect("a pressure");
        assert_eq!(pressure.quality, watchfloor::model::Quality::Bad, "{pressure:?}");
        let temperature = samples_of(&probe.seen, "Interop/Temperature").next().expect("a temperature");
        assert!(matches!(temperature.value, watchfloor::model::Value::F64(_)));
        drop(probe);
    });
    let _ = child.kill();
    let _ = child.wait();
}

/// The Connections view shows an untrusted server certificate with its fingerprint; *Trust* moves it into the
/// trust list and the notice goes.
#[test]
fn trust_in_the_connections_view_moves_the_certificate_into_the_trust_list() {
    use egui_kittest::kittest::Queryable as _;
    let dir = tempfile::tempdir().expect("dir");
    let rejected = dir.path().join("pki/rejected");
    std::fs::create_dir_all(&rejected).expect("dir");
    let file = rejected.join("CN=PLC 7 [36518c00112233445566778899aabbccddeeff00].der");
    std::fs::write(&file, b"certificate").expect("file");
    let diag = watchfloor::feeds::DiagHandle::new("plc7".into(), "opcua", "opc.tcp://plc7:4840/");
    diag.lock().untrusted = watchfloor::feeds::opcua::rejected_cert(&dir.path().join("pki"));
    let mut builder = watchfloor::feeds::EventBus::builder();
    let inbox = builder.live(16);
    let bus = builder.build();
    let clock: Arc<dyn watchfloor::clock::Clock> = Arc::new(watchfloor::clock::SystemClock);
    let parts = watchfloor::app::AppParts { diagnostics: vec![diag.clone()], ..crate::app_parts(inbox, bus, clock) };
    let mut harness = egui_kittest::Harness::builder()
        .with_size([1400.0, 900.0])
        .build_eframe(move |cc| watchfloor::app::WatchfloorApp::new(cc, parts));
    harness.state_mut().set_view(watchfloor::app::View::Connections);
    harness.run_steps(2);
    harness.get_by_label("Untrusted server certificate");
    harness.get_by_label("presents CN=PLC 7");
    harness.get_by_label("SHA-1 36:51:8C:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00");
    harness.get_by_label("Trust").click();
    harness.run_steps(2);
    assert!(harness.query_by_label("Untrusted server certificate").is_none());
    assert!(!file.exists() && dir.path().join("pki/trusted").join(file.file_name().expect("name")).exists());
}

/// Runs the harness until `label` shows (the browser answers from the I/O runtime).
fn wait_for_label(harness: &mut egui_kittest::Harness<'_, watchfloor::app::WatchfloorApp>, label: &str) {
    use egui_kittest::kittest::Queryable as _;
    let deadline = std::time::Instant::now() + crate::PROBE_WAIT;
    while harness.query_all_by_label(label).next().is_none() {
        assert!(std::time::Instant::now() < deadline, "{label:?} not shown in {:?}", crate::PROBE_WAIT);
        std::thread::sleep(Duration::from_millis(50));
        harness.run_steps(1);
    }
}

/// The Connections view browses the server folder by folder, shows a variable with its value, data type and
/// status, and *Add* writes it into the config file, keeping the file's comments; the running feed, told the same,
/// subscribes to it at once.
#[test]
fn browsing_the_server_adds_a_node_to_the_config_and_to_the_running_feed() {
    use egui_kittest::kittest::Queryable as _;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let server = rt.block_on(Server::start(dir.path(), None));
    let fleet = format!("nsu={NAMESPACE};s=PlantA/Fleet/");
    let mut config = gateway(&server, dir.path(), OpcUaSecurity::None);
    config.folders = vec![fleet.clone()];
    let file = dir.path().join("watchfloor.toml");
    std::fs::write(
        &file,
        format!(
            "# The site's gateways.\n[[gateway]]\nname = \"gw\"   # the line's PLC\nkind = \"opcua\"\nurl = \"{}\"\n\
             security = \"none\"\nfolders = [\"{fleet}\"]\n",
            config.link.url
        ),
    )
    .expect("config file");

    let diag = watchfloor::feeds::DiagHandle::new("gw".into(), "opcua", config.link.url.as_str());
    let browsing = watchfloor::ui::panels::opcua_browse::Browsing::new(
        rt.handle().clone(),
        [(Arc::from("gw"), config.clone())],
        Some(file.clone()),
    );
    let mut builder = watchfloor::feeds::EventBus::builder();
    let inbox = builder.live(16);
    let bus = builder.build();
    let clock: Arc<dyn watchfloor::clock::Clock> = Arc::new(watchfloor::clock::SystemClock);
    let parts = watchfloor::app::AppParts {
        diagnostics: vec![diag],
        browsing: Some(browsing),
        ..crate::app_parts(inbox, bus, clock)
    };
    let mut harness = egui_kittest::Harness::builder()
        .with_size([1400.0, 1000.0])
        .build_eframe(move |cc| watchfloor::app::WatchfloorApp::new(cc, parts));
    harness.state_mut().set_view(watchfloor::app::View::Connections);
    harness.run_steps(2);
    harness.get_by_label("Browse").click();
    harness.run_steps(2);
    for folder in ["PlantA", "Line1", "Filler"] {
        wait_for_label(&mut harness, folder);
        harness.get_by_label(folder).click();
        harness.run_steps(2);
    }
    wait_for_label(&mut harness, "IdealCycleTime");
    // The mapped fleet folder says so; the filler's variables show their reading.
    assert!(harness.query_by_label("mapped").is_some(), "the mapped folder is marked");
    // The state's row: the "State" label beside an *Add* (the table's column is called State too).
    let adds: Vec<f32> = harness.query_all_by_label("Add").map(|n| n.rect().center().y).collect();
    let y = harness
        .query_all_by_label("State")
        .map(|n| n.rect().center().y)
        .find(|y| adds.iter().any(|a| (a - y).abs() < 6.0))
        .expect("the state's row");
    let on_row =
        |label: &str| harness.query_all_by_label_contains(label).any(|n| (n.rect().center().y - y).abs() < 6.0);
    assert!(on_row("String") && on_row("Good"), "the state's data type and status are shown");
    let add = harness
        .query_all_by_label("Add")
        .find(|n| (n.rect().center().y - y).abs() < 6.0)
        .expect("Add on the state's row");
    add.click();
    // The file is written on the I/O runtime; the note says when it is done.
    let deadline = std::time::Instant::now() + crate::PROBE_WAIT;
    while harness.query_by_label_contains("Added PlantA/Line1/Filler/State").is_none() {
        assert!(std::time::Instant::now() < deadline, "no note of the addition");
        std::thread::sleep(Duration::from_millis(20));
        harness.run_steps(1);
    }
    let text = std::fs::read_to_string(&file).expect("config file");
    let signal = "PlantA/Line1/Filler/State";
    let node = format!("nsu={NAMESPACE};s={signal}");
    assert!(text.contains(&format!("\"{signal}\" = \"{node}\"")), "{text}");
    assert!(text.contains("# the line's PLC") && text.contains("# The site's gateways."), "comments kept: {text}");
    assert!(harness.query_by_label_contains("Added PlantA/Line1/Filler/State").is_some());
    // The config still loads, with the node mapped.
    let loaded = watchfloor::config::Config::load(&file).unwrap_or_else(|err| panic!("{err}"));
    let watchfloor::config::GatewayKind::OpcUa(g) = &loaded.gateways[0].kind else { panic!("an OPC UA gateway") };
    assert_eq!(g.nodes, vec![(signal.to_owned(), node.clone())]);
    drop(harness);

    // The running feed: told to add the node, it subscribes to it as well.
    rt.block_on(async {
        let mut probe = Probe::start(OpcUaFeed::new(config), "opcua");
        probe.until("the fleet", |seen| samples_of(seen, "Fleet/VAN-01/Speed").next().is_some()).await;
        assert!(samples_of(&probe.seen, signal).next().is_none(), "the filler is not mapped yet");
        let mapping = watchfloor::config::OpcUaMapping::Node { signal: signal.to_owned(), node };
        assert!(probe._feed.send(watchfloor::feeds::FeedCommand::OpcUaAdd(mapping)));
        probe.until("the added node", |seen| samples_of(seen, signal).next().is_some()).await;
        drop(probe);
        server.stop().await;
    });
}
