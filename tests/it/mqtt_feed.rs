//! MQTT feeds against real brokers: the embedded rumqttd in every `cargo test`, and Mosquitto from Debian (which
//! `.ci/run` installs) for the same interop cases plus the ones rumqttd cannot do here (restart, TLS).
//!
//! Edge nodes are driven by hand with a bare rumqttc client and the Sparkplug encoder, so every `seq` is chosen
//! by the test; the host is the real `MqttFeed` under `spawn_feed`, publishing on a real `EventBus`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, QoS};
use tokio::sync::mpsc;
use watchfloor::bench::mqtt::{Mosquitto, mosquitto_binary};
use watchfloor::clock::Clock;
use watchfloor::config::{JsonFormat, Link, MqttJsonGateway, SparkplugGateway};
use watchfloor::feeds::mqtt::MqttFeed;
use watchfloor::feeds::sparkplug::edge::EdgeNode;
use watchfloor::feeds::sparkplug::proto::{MetricValue, Payload};
use watchfloor::model::{FeedEvent, FeedEventBody, FeedState};
use watchfloor::model::{Quality, Sample, SignalId, SignalMeta, Value, ValueKind};

use crate::PROBE_WAIT as WAIT;

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// One embedded rumqttd for the whole test binary (it cannot be stopped; every test uses its own topics).
fn rumqttd_url() -> url::Url {
    static PORT: OnceLock<u16> = OnceLock::new();
    let port = *PORT.get_or_init(|| {
        let port = free_port();
        let connections = rumqttd::ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 8 << 20,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        };
        let server = rumqttd::ServerSettings {
            name: "v4".to_owned(),
            listen: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
            tls: None,
            next_connection_delay_ms: 1,
            connections,
        };
        let router = rumqttd::RouterConfig {
            max_connections: 1_000,
            max_outgoing_packet_count: 1_000,
            max_segment_size: 100 << 20,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: rumqttd::Strategy::default(),
        };
        let config =
            rumqttd::Config { router, v4: Some(HashMap::from([("v4".to_owned(), server)])), ..Default::default() };
        std::thread::Builder::new()
            .name("rumqttd".to_owned())
            .spawn(move || {
                if let Err(err) = rumqttd::Broker::new(config).start() {
                    eprintln!("rumqttd stopped: {err}");
                }
            })
            .expect("broker thread");
        wait_for_port(port);
        port
    });
    url::Url::parse(&format!("mqtt://127.0.0.1:{port}")).expect("url")
}

fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on port {port}");
}

/// Mosquitto from the system, when installed. In CI it must be (`.ci/run` installs it); elsewhere a test that
/// needs it says it did not run.
fn mosquitto(tls: Option<(&Path, &Path, &Path)>) -> Option<Mosquitto> {
    if mosquitto_binary().is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must install mosquitto (apt-get install mosquitto)");
        eprintln!("mosquitto is not installed: this test did not run (apt-get install mosquitto)");
        return None;
    }
    Some(Mosquitto::start(tls).expect("mosquitto starts"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

type Host = crate::Probe;

fn samples(host: &Host) -> impl Iterator<Item = &Sample> {
    host.seen
        .iter()
        .filter_map(|e| match &e.body {
            FeedEventBody::Samples(s) => Some(s.iter()),
            _ => None,
        })
        .flatten()
}

fn states(host: &Host) -> Vec<FeedState> {
    host.seen
        .iter()
        .filter_map(|e| match &e.body {
            FeedEventBody::Status(s) => Some(s.state),
            _ => None,
        })
        .collect()
}

fn has_value(events: &[Arc<FeedEvent>], id: &str, value: &Value) -> bool {
    events.iter().any(|e| match &e.body {
        FeedEventBody::Samples(s) => s.iter().any(|s| s.signal.as_str() == id && s.value == *value),
        _ => false,
    })
}

fn sparkplug_host(url: url::Url, group: &str) -> MqttFeed {
    MqttFeed::sparkplug(SparkplugGateway {
        link: Link::new(url),
        group: Some(group.to_owned()),
        host_id: format!("wf-test-{group}"),
    })
}

/// A hand-driven edge node: a bare client plus the encoder.
struct Edge {
    node: EdgeNode,
    client: AsyncClient,
    commands: mpsc::Receiver<(String, bytes::Bytes)>,
}

impl Edge {
    async fn connect(url: &url::Url, group: &str) -> Self {
        let mut node = EdgeNode::new(group, "Line1");
        for (id, kind) in
            [("Filler/State", ValueKind::Int), ("Filler/Count/Total", ValueKind::Int), ("Oven/Temp", ValueKind::Float)]
        {
            node.add(&SignalMeta { id: SignalId::new(format!("{group}/Line1/{id}")), kind, unit: None });
        }
        let mut options = MqttOptions::new(format!("edge-{group}"), "127.0.0.1", url.port().unwrap_or(1883));
        options.set_keep_alive(Duration::from_secs(5));
        let (topic, payload) = node.death();
        options.set_last_will(rumqttc::LastWill::new(topic, payload, QoS::AtLeastOnce, false));
        let (client, eventloop) = AsyncClient::new(options, 1000);
        let (tx, commands) = mpsc::channel(100);
        let (up_tx, mut up_rx) = mpsc::channel(1);
        tokio::spawn(pump(eventloop, tx, up_tx));
        tokio::time::timeout(WAIT, up_rx.recv()).await.expect("edge connects");
        client.subscribe(format!("spBv1.0/{group}/NCMD/Line1"), QoS::AtLeastOnce).await.expect("subscribe");
        Self { node, client, commands }
    }

    async fn send(&self, messages: Vec<(String, Vec<u8>)>) {
        for (topic, payload) in messages {
            self.client.publish(topic, QoS::AtLeastOnce, false, payload).await.expect("publish");
        }
    }

    fn sample(&self, id: &str, ts_ms: i64, value: Value) -> Sample {
        Sample::new(SignalId::new(format!("{}/Line1/{id}", self.node.group)), ts_ms, value)
    }
}

async fn pump(mut eventloop: EventLoop, tx: mpsc::Sender<(String, bytes::Bytes)>, up: mpsc::Sender<()>) {
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                let _ = up.try_send(());
            }
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                let _ = tx.send((p.topic, p.payload)).await;
            }
            Ok(_) => {}
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn now_ms() -> i64 {
    watchfloor::clock::wall_now_ms()
}

/// Birth → data → death → rebirth, on a given broker.
async fn birth_data_death_rebirth(url: url::Url, group: &str) {
    let mut host = Host::start(sparkplug_host(url.clone(), group), "mqtt");
    host.until("host live", |seen| seen_state(seen, FeedState::Live)).await;
    let mut edge = Edge::connect(&url, group).await;
    let t = now_ms();
    edge.node.set(&edge.sample("Filler/State", t, Value::I64(1)));
    let births = edge.node.births(t);
    edge.send(births).await;
    let id_total = format!("{group}/Line1/Filler/Count/Total");
    let id_state = format!("{group}/Line1/Filler/State");
    host.until("births of all three metrics", |seen| {
        seen.iter().map(|e| if let FeedEventBody::Birth(m) = &e.body { m.len() } else { 0 }).sum::<usize>() == 3
    })
    .await;
    host.until("birth value", |seen| has_value(seen, &id_state, &Value::I64(1))).await;

    let data = edge.node.data(&[edge.sample("Filler/Count/Total", t + 1000, Value::I64(17))], t + 1000);
    edge.send(data).await;
    host.until("data by alias", |seen| has_value(seen, &id_total, &Value::I64(17))).await;
    let sample =
        samples(&host).find(|s| s.signal.as_str() == id_total && s.value == Value::I64(17)).cloned().expect("sample");
    assert_eq!(sample.ts_ms, t + 1000, "the metric timestamp is the source time");

    let (topic, payload) = edge.node.death();
    edge.send(vec![(topic, payload)]).await;
    let prefix = format!("{group}/Line1/");
    host.until("death marks stale", |seen| {
        seen.iter().any(|e| matches!(&e.body, FeedEventBody::Stale { prefix: p } if *p == prefix))
    })
    .await;

    edge.node.set_bd_seq(1);
    let births = edge.node.births(t + 2000);
    edge.send(births).await;
    let data = edge.node.data(&[edge.sample("Filler/Count/Total", t + 3000, Value::I64(18))], t + 3000);
    edge.send(data).await;
    host.until("data after rebirth", |seen| has_value(seen, &id_total, &Value::I64(18))).await;
    assert!(host.diag.lock().messages >= 7, "every message is in the inspector");
    let _ = &mut edge.commands;
}

fn seen_state(seen: &[Arc<FeedEvent>], state: FeedState) -> bool {
    seen.iter().any(|e| matches!(&e.body, FeedEventBody::Status(s) if s.state == state))
}

/// A gap in `seq` makes the host ask that edge node for a rebirth on its NCMD topic.
async fn seq_gap_requests_rebirth(url: url::Url, group: &str) {
    let mut host = Host::start(sparkplug_host(url.clone(), group), "mqtt");
    host.until("host live", |seen| seen_state(seen, FeedState::Live)).await;
    let mut edge = Edge::connect(&url, group).await;
    let t = now_ms();
    let births = edge.node.births(t);
    edge.send(births).await;
    host.until("birth", |seen| seen.iter().any(|e| matches!(&e.body, FeedEventBody::Birth(_)))).await;
    // One DDATA goes missing: its seq is used up but it never reaches the broker.
    let _lost = edge.node.data(&[edge.sample("Oven/Temp", t + 1000, Value::F64(1.0))], t + 1000);
    let next = edge.node.data(&[edge.sample("Oven/Temp", t + 2000, Value::F64(2.0))], t + 2000);
    edge.send(next).await;
    let (topic, payload) = tokio::time::timeout(WAIT, edge.commands.recv()).await.expect("a command").expect("open");
    assert_eq!(topic, format!("spBv1.0/{group}/NCMD/Line1"));
    let p = <Payload as prost::Message>::decode(payload.as_ref()).expect("NCMD payload");
    assert!(
        p.metrics
            .iter()
            .any(|m| m.name.as_deref() == Some("Node Control/Rebirth") && m.value == Some(MetricValue::Boolean(true))),
        "{p:?}"
    );
    host.until("the gap is counted", |seen| {
        seen.iter()
            .any(|e| matches!(&e.body, FeedEventBody::Rejected { reason } if reason.contains("messages were lost")))
    })
    .await;
    assert!(host.diag.lock().rebirths >= 1);
    assert_eq!(host.diag.lock().quarantine.len(), 1);
}

/// The host's STATE: online (retained) while connected, offline after a clean stop.
async fn host_state_is_announced(url: url::Url, group: &str) {
    let host = Host::start(sparkplug_host(url.clone(), group), "mqtt");
    let mut watcher = Edge::connect(&url, &format!("{group}w")).await;
    let state_topic = format!("spBv1.0/STATE/wf-test-{group}");
    watcher.client.subscribe(state_topic.clone(), QoS::AtLeastOnce).await.expect("subscribe");
    let online = |payload: &[u8]| -> Option<bool> {
        serde_json::from_slice::<serde_json::Value>(payload).ok()?.get("online")?.as_bool()
    };
    let mut saw_online = false;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !saw_online {
        let (topic, payload) =
            tokio::time::timeout_at(deadline, watcher.commands.recv()).await.expect("STATE").expect("open");
        saw_online = topic == state_topic && online(&payload) == Some(true);
    }
    drop(host);
    let mut saw_offline = false;
    while !saw_offline {
        let (topic, payload) =
            tokio::time::timeout_at(deadline, watcher.commands.recv()).await.expect("offline STATE").expect("open");
        saw_offline = topic == state_topic && online(&payload) == Some(false);
    }
}

#[test]
fn sparkplug_on_rumqttd_birth_data_death_rebirth() {
    runtime().block_on(birth_data_death_rebirth(rumqttd_url(), "RdA"));
}

#[test]
fn sparkplug_on_rumqttd_seq_gap_requests_a_rebirth() {
    runtime().block_on(seq_gap_requests_rebirth(rumqttd_url(), "RdB"));
}

#[test]
fn sparkplug_on_mosquitto_birth_data_death_rebirth() {
    let Some(broker) = mosquitto(None) else { return };
    runtime().block_on(birth_data_death_rebirth(broker.url("mqtt"), "MqA"));
}

#[test]
fn sparkplug_on_mosquitto_seq_gap_requests_a_rebirth() {
    let Some(broker) = mosquitto(None) else { return };
    runtime().block_on(seq_gap_requests_rebirth(broker.url("mqtt"), "MqB"));
}

#[test]
fn sparkplug_host_state_birth_and_clean_offline_on_mosquitto() {
    let Some(broker) = mosquitto(None) else { return };
    runtime().block_on(host_state_is_announced(broker.url("mqtt"), "MqS"));
}

#[test]
fn broker_killed_and_restarted_the_host_reconnects_resubscribes_and_data_resumes() {
    let Some(mut broker) = mosquitto(None) else { return };
    let url = broker.url("mqtt");
    let rt = runtime();
    rt.block_on(async {
        // The real gateway publisher as the edge side: it reconnects and re-births by itself.
        let publisher = watchfloor::gateway::mqtt::Publisher::new(url.clone(), false).expect("publisher");
        let start_ms = now_ms() / 1000 * 1000;
        let clock: Arc<dyn Clock> = Arc::new(watchfloor::clock::ScaledClock::new(start_ms, 10.0));
        let mut config = watchfloor::sim::SimConfig::demo(3, start_ms);
        config.lines = 1;
        config.vehicles = 2;
        let driver = watchfloor::gateway::Driver::new(config, Arc::clone(&clock));
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(publisher.run(driver.subscribe(), Arc::clone(&clock), stop.clone()));
        tokio::spawn(driver.run(stop));

        let mut host = Host::start(sparkplug_host(url.clone(), "PlantA"), "mqtt");
        host.until("samples before the restart", |seen| {
            seen.iter().filter(|e| matches!(&e.body, FeedEventBody::Samples(_))).count() > 5
        })
        .await;
        broker.kill();
        host.until("offline after the broker died", |seen| seen_state(seen, FeedState::Offline)).await;
        let stale = host.seen.iter().any(|e| matches!(&e.body, FeedEventBody::Stale { .. }));
        assert!(stale, "the link loss marks the edge nodes stale");
        let before = host.seen.len();
        broker.run().expect("mosquitto restarts");
        host.until("live again", |seen| {
            seen[before..].iter().any(|e| matches!(&e.body, FeedEventBody::Status(s) if s.state == FeedState::Live))
        })
        .await;
        host.until("births and data after the restart", |seen| {
            seen[before..].iter().any(|e| matches!(&e.body, FeedEventBody::Birth(_)))
                && seen[before..].iter().filter(|e| matches!(&e.body, FeedEventBody::Samples(_))).count() > 3
        })
        .await;
        assert!(host.diag.lock().reconnects >= 1);
        let states = states(&host);
        assert_eq!(states.first(), Some(&FeedState::Connecting), "{states:?}");
    });
}

#[test]
fn tls_with_a_test_ca_connects_and_a_certificate_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let (ca, cert, key) = crate::test_ca(dir.path(), "good");
    let (other_ca, _, _) = crate::test_ca(dir.path(), "other");
    let Some(broker) = mosquitto(Some((&ca, &cert, &key))) else { return };
    let url = broker.url("mqtts");
    runtime().block_on(async {
        let mut link = Link::new(url.clone());
        link.tls.ca_file = Some(ca.clone());
        let feed = MqttFeed::sparkplug(SparkplugGateway { link, group: Some("Tls".into()), host_id: "wf-tls".into() });
        let mut host = Host::start(feed, "mqtt");
        host.until("live over TLS", |seen| seen_state(seen, FeedState::Live)).await;

        let mut link = Link::new(url.clone());
        link.tls.ca_file = Some(other_ca.clone());
        let feed =
            MqttFeed::sparkplug(SparkplugGateway { link, group: Some("Tls2".into()), host_id: "wf-tls2".into() });
        let mut refused = Host::start(feed, "mqtt");
        refused.until("refused", |seen| seen_state(seen, FeedState::Error)).await;
        let message = refused.seen.iter().find_map(|e| match &e.body {
            FeedEventBody::Status(s) if s.state == FeedState::Error => s.message.clone(),
            _ => None,
        });
        let message = message.unwrap_or_default();
        assert!(message.contains("TLS"), "{message}");
        assert!(!seen_state(&refused.seen, FeedState::Live));
    });
}

#[test]
fn mqtt_json_kepware_and_flat_with_bad_messages_quarantined() {
    let url = rumqttd_url();
    runtime().block_on(async {
        let mut link = Link::new(url.clone());
        link.limits.max_payload_bytes = 4096;
        let kepware = MqttFeed::json(MqttJsonGateway {
            link: link.clone(),
            topics: vec!["kep/#".into()],
            format: JsonFormat::Kepware,
            map: Vec::new(),
        });
        let flat = MqttFeed::json(MqttJsonGateway {
            link,
            topics: vec!["flat/#".into()],
            format: JsonFormat::Flat,
            map: vec![("flat/line3/#".into(), "PlantA/Line3/".into())],
        });
        let mut kep_host = Host::start(kepware, "mqtt");
        let mut flat_host = Host::start(flat, "mqtt");
        kep_host.until("live", |seen| seen_state(seen, FeedState::Live)).await;
        flat_host.until("live", |seen| seen_state(seen, FeedState::Live)).await;
        let edge = Edge::connect(&url, "JsonEdge").await;
        let t = now_ms();
        let good = format!(r#"{{"timestamp":{t},"values":[{{"id":"Line2.Capper.State","v":"running","q":true,"t":{t}}},{{"id":"Line2.Capper.Temp","v":"NaN-ish","q":false,"t":{t}}}]}}"#);
        let messages = vec![
            ("kep/a".to_owned(), b"{not json".to_vec()),
            ("kep/a".to_owned(), vec![b' '; 10_000]),
            ("kep/a".to_owned(), format!(r#"{{"values":[{{"id":"Line2.Capper.Speed","v":1.5,"t":{}}}]}}"#, t + 3_600_000).into_bytes()),
            ("kep/a".to_owned(), good.into_bytes()),
            ("flat/line3/labeler/temperature".to_owned(), format!(r#"{{"ts":{t},"value":42.5,"quality":"good"}}"#).into_bytes()),
        ];
        edge.send(messages).await;
        kep_host.until("kepware value", |seen| has_value(seen, "Line2.Capper.State", &Value::Str("running".into()))).await;
        flat_host.until("flat value", |seen| has_value(seen, "PlantA/Line3/labeler/temperature", &Value::F64(42.5))).await;
        let bad = samples(&kep_host).find(|s| s.signal.as_str() == "Line2.Capper.Temp").expect("q=false kept");
        assert_eq!(bad.quality, Quality::Bad, "a bad-quality value is kept as bad, not dropped");
        let diag = kep_host.diag.lock();
        assert_eq!(diag.messages, 4, "four messages reached the Kepware feed");
        assert_eq!(diag.quarantine.len(), 3, "bad JSON, oversized, from the future: {:#?}", diag.quarantine);
        let reasons: Vec<&str> = diag.quarantine.iter().filter_map(|m| m.problem.as_deref()).collect();
        assert!(reasons[0].contains("not a Kepware template message"), "{reasons:?}");
        assert!(reasons[1].contains("larger than the limit"), "{reasons:?}");
        assert!(reasons[2].contains("ahead of arrival"), "{reasons:?}");
    });
}

#[test]
fn a_quiet_link_shows_as_stale_and_live_again_when_data_comes() {
    let url = rumqttd_url();
    runtime().block_on(async {
        let mut link = Link::new(url.clone());
        link.stale_after_ms = 1_000;
        let feed = MqttFeed::json(MqttJsonGateway {
            link,
            topics: vec!["quiet/#".into()],
            format: JsonFormat::Flat,
            map: Vec::new(),
        });
        let mut host = Host::start(feed, "mqtt");
        host.until("stale", |seen| seen_state(seen, FeedState::Stale)).await;
        let message = host.seen.iter().rev().find_map(|e| match &e.body {
            FeedEventBody::Status(s) if s.state == FeedState::Stale => s.message.clone(),
            _ => None,
        });
        assert!(message.unwrap_or_default().contains("nothing received"));
        let before = host.seen.len();
        let edge = Edge::connect(&url, "Quiet").await;
        edge.send(vec![("quiet/x".to_owned(), b"1.5".to_vec())]).await;
        host.until("live again", |seen| {
            seen[before..].iter().any(|e| matches!(&e.body, FeedEventBody::Status(s) if s.state == FeedState::Live))
        })
        .await;
        host.until("the value", |seen| has_value(seen, "quiet/x", &Value::F64(1.5))).await;
    });
}

#[test]
fn record_stores_what_watchfloor_gateway_publishes_as_sparkplug_and_kepware_json() {
    let Some(broker) = mosquitto(None) else { return };
    let dir = tempfile::tempdir().expect("dir");
    let url = broker.url("mqtt");
    let mut gateway = std::process::Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(["gateway", "--mqtt", url.as_str(), "--json", "--speed", "10", "--lines", "2", "--vehicles", "5"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start watchfloor gateway");
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "[[gateway]]\nname = \"plant\"\nkind = \"sparkplug\"\nurl = \"{url}\"\ngroup = \"PlantA\"\n\n\
             [[gateway]]\nname = \"kepware\"\nkind = \"mqtt-json\"\nurl = \"{url}\"\ntopics = [\"watchfloor/#\"]\n"
        ),
    )
    .expect("config");
    let db = dir.path().join("rec.sqlite");
    let record = std::process::Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(["record", "--config"])
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .args(["--duration", "6s"])
        .output()
        .expect("record");
    let _ = gateway.kill();
    let _ = gateway.wait();
    assert!(record.status.success(), "{}", String::from_utf8_lossy(&record.stderr));
    let signals = std::process::Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(["signals", "--db"])
        .arg(&db)
        .output()
        .expect("signals");
    let text = String::from_utf8_lossy(&signals.stdout);
    let sparkplug = text.lines().filter(|l| l.starts_with("PlantA/Line2/")).count();
    let kepware = text.lines().filter(|l| l.starts_with("PlantA.Line2.")).count();
    assert!(sparkplug >= 20, "Sparkplug signals of line 2 recorded: {sparkplug}\n{text}");
    assert!(kepware >= 20, "Kepware signals of line 2 recorded: {kepware}");
    assert!(text.lines().any(|l| l.starts_with("PlantA/Fleet/")), "the fleet edge node too");
}

/// Two hosts with one host id (two recorders of a site, or a recorder and a console of one config) both stay
/// connected and both receive the edge node's data; when one says goodbye, the other keeps the STATE online.
async fn two_hosts_share_a_host_id(url: url::Url, group: &str) {
    let mut a = Host::start(sparkplug_host(url.clone(), group), "mqtt");
    let mut b = Host::start(sparkplug_host(url.clone(), group), "mqtt");
    a.until("host a live", |seen| seen_state(seen, FeedState::Live)).await;
    b.until("host b live", |seen| seen_state(seen, FeedState::Live)).await;
    let mut edge = Edge::connect(&url, group).await;
    let t = now_ms();
    let births = edge.node.births(t);
    edge.send(births).await;
    let id_total = format!("{group}/Line1/Filler/Count/Total");
    for n in 0..5_i64 {
        let data = edge.node.data(&[edge.sample("Filler/Count/Total", t + 1000 * (n + 1), Value::I64(n))], t);
        edge.send(data).await;
    }
    a.until("a has the data", |seen| has_value(seen, &id_total, &Value::I64(4))).await;
    b.until("b has the data", |seen| has_value(seen, &id_total, &Value::I64(4))).await;
    for host in [&a, &b] {
        let offline = states(host).iter().filter(|s| matches!(s, FeedState::Offline)).count();
        assert_eq!(offline, 0, "neither host was thrown out by the other: {:?}", states(host));
    }
    // A goes; its goodbye says offline on the shared STATE topic, and B, still connected, says online again.
    let port = url.port().unwrap_or(1883);
    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(format!("watch-{group}"), "127.0.0.1", port), 10);
    client.subscribe(format!("spBv1.0/STATE/wf-test-{group}"), QoS::AtLeastOnce).await.expect("subscribe");
    let mut seen: Vec<bool> = Vec::new();
    let mut next_state = async || loop {
        if let Ok(Event::Incoming(Incoming::Publish(p))) = eventloop.poll().await {
            let v: serde_json::Value = serde_json::from_slice(&p.payload).unwrap_or_default();
            if let Some(online) = v.get("online").and_then(serde_json::Value::as_bool) {
                return online;
            }
        }
    };
    // The retained state first: online.
    seen.push(tokio::time::timeout(WAIT, next_state()).await.expect("the retained STATE"));
    drop(a);
    while !(seen.contains(&false) && seen.last() == Some(&true)) {
        seen.push(tokio::time::timeout(WAIT, next_state()).await.expect("STATE offline, then online again"));
    }
    assert_eq!(seen.first(), Some(&true), "{seen:?}");
    let _ = &mut b;
}

#[test]
fn two_hosts_with_one_host_id_on_mosquitto_both_stay_connected() {
    let Some(broker) = mosquitto(None) else { return };
    runtime().block_on(two_hosts_share_a_host_id(broker.url("mqtt"), "MqH"));
}
