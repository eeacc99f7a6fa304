//! The OPC UA feed against the built-in OPC UA server (`watchfloor gateway --opcua`) on loopback: a folder
//! mapped by browse names with source times; secure (`Basic256Sha256`, signed and encrypted, with a user) where an
//! untrusted server certificate is an error until trusted; a wrong password an error.

use std::sync::Arc;
use std::time::Duration;

use watchfloor::command::{FeedEvent, FeedEventBody, FeedState};
use watchfloor::config::{Link, OpcUaGateway, OpcUaSecurity};
use watchfloor::feeds::opcua::OpcUaFeed;
use watchfloor::gateway::opcua::{NAMESPACE, OpcUaServe};
use watchfloor::model::TimeSource;

use crate::Probe;

/// The simulator served over OPC UA on a free loopback port; dropped, it stops.
struct Server {
    addr: std::net::SocketAddr,
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
        let start_ms = watchfloor::clock::wall_now_ms() / 1000 * 1000;
        let clock: Arc<dyn watchfloor::clock::Clock> = Arc::new(watchfloor::clock::ScaledClock::new(start_ms, 1.0));
        let mut sim = watchfloor::sim::SimConfig::demo(7, start_ms);
        (sim.lines, sim.vehicles) = (1, 2);
        let driver = watchfloor::gateway::Driver::new(sim, clock);
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let pki = dir.join("server-pki");
        let serve = OpcUaServe { addr, pki_dir: pki.clone(), user: user.map(|(u, p)| (u.to_owned(), p.to_owned())) };
        let task = tokio::spawn(watchfloor::gateway::opcua::serve(serve, driver.subscribe(), stop_rx.clone()));
        tokio::spawn(driver.run(stop_rx));
        // Listening once the first connection is taken.
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { addr, stop, task, pki }
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
        pki_dir: Some(dir.join("client-pki")),
    }
}

fn samples_of<'a>(seen: &'a [Arc<FeedEvent>], signal: &'a str) -> impl Iterator<Item = &'a watchfloor::model::Sample> {
    seen.iter()
        .filter_map(|e| match &e.body {
            FeedEventBody::Samples(s) => Some(s),
            _ => None,
        })
        .flatten()
        .filter(move |s| s.signal.as_str() == signal)
}

fn last_status(seen: &[Arc<FeedEvent>]) -> Option<(FeedState, String)> {
    seen.iter().rev().find_map(|e| match &e.body {
        FeedEventBody::Status(s) => Some((s.state, s.message.clone().unwrap_or_default())),
        _ => None,
    })
}

/// A folder mapped by browse names: the filler's state and count arrive as the simulator's signals, with source
/// times from the server, while the status says what the server granted.
#[test]
fn a_folder_of_the_built_in_server_arrives_as_signals_with_source_times() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let server = Server::start(dir.path(), None).await;
        let mut probe = Probe::start(OpcUaFeed::new(gateway(&server, dir.path(), OpcUaSecurity::None)), "opcua");
        let state = "PlantA/Line1/Filler/State";
        probe.until("the filler's state", |seen| samples_of(seen, state).next().is_some()).await;
        probe
            .until("its count changing", |seen| samples_of(seen, "PlantA/Line1/Filler/Count/Total").count() >= 2)
            .await;
        let s = samples_of(&probe.seen, state).next().expect("a state");
        assert_eq!(s.time_source, TimeSource::Source);
        let age = watchfloor::clock::wall_now_ms() - s.ts_ms;
        assert!((-1_000..60_000).contains(&age), "source time {age} ms ago");
        let (state, message) = last_status(&probe.seen).expect("a status");
        assert_eq!(state, FeedState::Live, "{message}");
        assert!(message.contains("sampling 200 ms granted"), "{message}");
        drop(probe);
        server.stop().await;
    });
}

/// Signed and encrypted with a user: the server's certificate is not trusted at first (an error that says how
/// to trust it); moved into the trust list, the feed connects and values flow. A wrong password is an error too.
#[test]
fn secure_with_a_user_an_untrusted_server_is_an_error_until_trusted() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let server = Server::start(dir.path(), Some(("op", "s3cret"))).await;
        let secret = dir.path().join("password");
        std::fs::write(&secret, "s3cret").expect("password file");
        let mut config = gateway(&server, dir.path(), OpcUaSecurity::Basic256Sha256);
        config.link.credentials.username = Some("op".to_owned());
        config.link.credentials.password_file = Some(secret.clone());
        let mut probe = Probe::start(OpcUaFeed::new(config.clone()), "opcua");
        probe
            .until("an untrusted certificate", |seen| {
                last_status(seen).is_some_and(|(s, m)| s == FeedState::Error && m.contains("not trusted"))
            })
            .await;
        let pki = dir.path().join("client-pki");
        let rejected: Vec<_> =
            std::fs::read_dir(pki.join("rejected")).expect("rejected dir").map(|e| e.expect("entry").path()).collect();
        assert_eq!(rejected.len(), 1, "the server's certificate kept aside");
        let name = rejected[0].file_name().expect("name").to_owned();
        std::fs::create_dir_all(pki.join("trusted")).expect("trusted dir");
        std::fs::rename(&rejected[0], pki.join("trusted").join(name)).expect("trust it");
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
        server.stop().await;
    });
}
