//! The HTTP gateway feed: the real client (`HttpFeed` under `spawn_feed`) against the real server (`gateway::http`)
//! on loopback, with updates pushed by hand so every sample is known.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use watchfloor::clock::wall_now_ms;
use watchfloor::config::{HttpGateway, Link};
use watchfloor::feeds::http::HttpFeed;
use watchfloor::gateway::Update;
use watchfloor::gateway::http::{Hub, serve_hub};
use watchfloor::model::{FeedEvent, FeedEventBody, FeedState};
use watchfloor::model::{Sample, SignalId, SignalMeta, Value, ValueKind};

const SIGNALS: usize = 5;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn id(i: usize) -> SignalId {
    SignalId::new(format!("Yard/Gw/Dev/Metric{i}"))
}

fn birth(t0: i64) -> Update {
    Update::Birth {
        meta: (0..SIGNALS).map(|i| SignalMeta { id: id(i), kind: ValueKind::Float, unit: None }).collect(),
        values: (0..SIGNALS).map(|i| Sample::new(id(i), t0, Value::F64(0.0))).collect(),
    }
}

/// Batch `n`: one sample per signal at `t0 + n` seconds.
fn batch(t0: i64, n: i64) -> Vec<Sample> {
    (0..SIGNALS).map(|i| Sample::new(id(i), t0 + n * 1000, Value::F64(n as f64))).collect()
}

struct Server {
    hub: Arc<Hub>,
    url: url::Url,
    stop: watch::Sender<bool>,
}

async fn server(hub: Hub, token: Option<&str>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = url::Url::parse(&format!("http://{}/", listener.local_addr().expect("addr"))).expect("url");
    let hub = Arc::new(hub);
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(serve_hub(listener, Arc::clone(&hub), token.map(str::to_owned), stop_rx));
    Server { hub, url, stop }
}

type Client = crate::Probe;

fn start_client(link: Link) -> Client {
    Client::start(HttpFeed::new(HttpGateway { link }), "http")
}

/// How often each (signal, time) of the pushed batches (t >= from) arrived, live or historical.
fn counts(client: &Client, from: i64) -> HashMap<(String, i64), usize> {
    let mut counts = HashMap::new();
    for e in &client.seen {
        if let FeedEventBody::Samples(s) = &e.body {
            for s in s.iter().filter(|s| s.ts_ms >= from) {
                *counts.entry((s.signal.as_str().to_owned(), s.ts_ms)).or_insert(0) += 1;
            }
        }
    }
    counts
}

fn live_count(seen: &[Arc<FeedEvent>]) -> usize {
    seen.iter().filter(|e| matches!(&e.body, FeedEventBody::Status(s) if s.state == FeedState::Live)).count()
}

#[test]
fn a_stream_cut_mid_way_resumes_from_the_last_event_with_no_sample_lost_or_doubled() {
    runtime().block_on(async {
        let t0 = wall_now_ms() / 1000 * 1000 - 600_000;
        let srv = server(Hub::default(), None).await;
        srv.hub.apply(&birth(t0));
        let mut client = start_client(Link::new(srv.url.clone()));
        client.until("live", |seen| live_count(seen) >= 1).await;
        client
            .until("birth", |seen| {
                seen.iter().any(|e| matches!(&e.body, FeedEventBody::Birth(m) if m.len() == SIGNALS))
            })
            .await;
        for n in 1..=40 {
            srv.hub.apply(&Update::Samples(batch(t0, n)));
            if n == 20 {
                srv.hub.cut_streams();
            }
        }
        // The client is away for its back-off (about a second); these are sent meanwhile.
        for n in 41..=60 {
            srv.hub.apply(&Update::Samples(batch(t0, n)));
        }
        client
            .until("every batch", |seen| {
                seen.iter()
                    .any(|e| matches!(&e.body, FeedEventBody::Samples(s) if s.iter().any(|s| s.ts_ms == t0 + 60_000)))
            })
            .await;
        assert!(live_count(&client.seen) >= 2, "it reconnected");
        let counts = counts(&client, t0 + 1000);
        assert_eq!(counts.len(), 60 * SIGNALS, "no sample lost");
        assert!(
            counts.values().all(|&c| c == 1),
            "none doubled: {:?}",
            counts.iter().filter(|(_, c)| **c != 1).take(5).collect::<Vec<_>>()
        );
        assert!(client.diag.lock().reconnects >= 1);
        let _ = srv.stop.send(true);
    });
}

#[test]
fn a_position_too_old_resets_then_snapshot_and_history_fill_the_outage() {
    runtime().block_on(async {
        let t0 = wall_now_ms() / 1000 * 1000 - 600_000;
        // Keeps only 5 events: a client away for more than that cannot resume from the ring.
        let srv = server(Hub::with_ring(5), None).await;
        srv.hub.apply(&birth(t0));
        let mut client = start_client(Link::new(srv.url.clone()));
        client.until("live", |seen| live_count(seen) >= 1).await;
        for n in 1..=5 {
            srv.hub.apply(&Update::Samples(batch(t0, n)));
        }
        client.until("first batches", |seen| {
            seen.iter().any(|e| matches!(&e.body, FeedEventBody::Samples(s) if s.iter().any(|s| s.ts_ms == t0 + 5_000)))
        })
        .await;
        srv.hub.cut_streams();
        for n in 6..=30 {
            srv.hub.apply(&Update::Samples(batch(t0, n)));
        }
        client.until("the outage backfilled", |seen| {
            let counts: usize = seen
                .iter()
                .filter_map(|e| match &e.body {
                    FeedEventBody::Samples(s) => Some(s.iter().filter(|s| s.historical && s.ts_ms == t0 + 6_000).count()),
                    _ => None,
                })
                .sum();
            counts == SIGNALS
        })
        .await;
        for n in 31..=32 {
            srv.hub.apply(&Update::Samples(batch(t0, n)));
        }
        client.until("live after the reset", |seen| {
            seen.iter().any(|e| matches!(&e.body, FeedEventBody::Samples(s) if s.iter().any(|s| s.ts_ms == t0 + 32_000 && !s.historical)))
        })
        .await;
        let counts = counts(&client, t0 + 1000);
        let missing: Vec<i64> = (1..=32).filter(|n| (0..SIGNALS).any(|i| !counts.contains_key(&(id(i).as_str().to_owned(), t0 + n * 1000)))).collect();
        assert!(missing.is_empty(), "batches missing: {missing:?}");
        assert!(client.diag.lock().recent.iter().any(|m| m.topic == "reset"), "the reset is in the inspector");
        let _ = srv.stop.send(true);
    });
}

#[test]
fn a_wrong_token_is_an_error_that_names_the_token_and_nothing_crashes() {
    runtime().block_on(async {
        let srv = server(Hub::default(), Some("right-token")).await;
        let dir = tempfile::tempdir().expect("dir");
        let token = dir.path().join("token");
        std::fs::write(&token, "wrong-token\n").expect("write");
        let mut link = Link::new(srv.url.clone());
        link.credentials.token_file = Some(token.clone());
        let mut client = start_client(link);
        client
            .until("error", |seen| {
                seen.iter().any(|e| matches!(&e.body, FeedEventBody::Status(s) if s.state == FeedState::Error))
            })
            .await;
        let message = client.seen.iter().find_map(|e| match &e.body {
            FeedEventBody::Status(s) if s.state == FeedState::Error => s.message.clone(),
            _ => None,
        });
        let message = message.unwrap_or_default();
        assert!(message.contains("401") && message.contains("token"), "{message}");
        assert!(!message.contains("wrong-token"), "the token itself is never shown");

        std::fs::write(&token, "right-token\n").expect("write");
        let mut link = Link::new(srv.url.clone());
        link.credentials.token_file = Some(token);
        let mut good = start_client(link);
        good.until("live with the right token", |seen| live_count(seen) >= 1).await;
        let _ = srv.stop.send(true);
    });
}

#[test]
fn json_responses_are_gzipped_and_the_stream_is_not() {
    runtime().block_on(async {
        let srv = server(Hub::default(), None).await;
        srv.hub.apply(&birth(wall_now_ms()));
        let plain = reqwest::Client::builder().no_gzip().build().expect("client");
        let resp = plain
            .get(srv.url.join("v1/snapshot").expect("url"))
            .header("Accept-Encoding", "gzip")
            .send()
            .await
            .expect("snapshot");
        assert_eq!(resp.headers().get("content-encoding").map(|v| v.to_str().unwrap_or_default()), Some("gzip"));
        let resp = plain
            .get(srv.url.join("v1/stream").expect("url"))
            .header("Accept-Encoding", "gzip")
            .send()
            .await
            .expect("stream");
        assert_eq!(
            resp.headers().get("content-type").map(|v| v.to_str().unwrap_or_default()),
            Some("text/event-stream")
        );
        assert!(resp.headers().get("content-encoding").is_none(), "events must not wait in a compressor");
        let _ = srv.stop.send(true);
    });
}

#[test]
fn a_malformed_event_is_quarantined_and_the_next_valid_one_still_flows() {
    runtime().block_on(async {
        let t0 = wall_now_ms() / 1000 * 1000 - 60_000;
        let srv = server(Hub::default(), None).await;
        srv.hub.apply(&birth(t0));
        let mut client = start_client(Link::new(srv.url.clone()));
        client.until("live", |seen| live_count(seen) >= 1).await;
        srv.hub.push("samples", "{\"samples\": [{\"id\": ".to_owned());
        srv.hub.push(
            "samples",
            format!("{{\"samples\": [{{\"id\": \"Yard/Gw/Dev/Metric0\", \"ts\": {}, \"v\": 1e999}}]}}", t0 + 1000),
        );
        srv.hub.push(
            "samples",
            format!(
                "{{\"samples\": [{{\"id\": \"Yard/Gw/Dev/Metric0\", \"ts\": {}, \"v\": 9.5}}]}}",
                t0 + 3_600_000 * 24
            ),
        );
        srv.hub.apply(&Update::Samples(batch(t0, 2)));
        client
            .until("the valid batch", |seen| {
                seen.iter()
                    .any(|e| matches!(&e.body, FeedEventBody::Samples(s) if s.iter().any(|s| s.ts_ms == t0 + 2_000)))
            })
            .await;
        let diag = client.diag.lock();
        assert_eq!(diag.quarantine.len(), 3, "{:#?}", diag.quarantine);
        assert!(diag.quarantine[2].problem.as_deref().unwrap_or_default().contains("ahead of arrival"));
        assert_eq!(live_count(&client.seen), 1, "bad events do not break the stream");
        let _ = srv.stop.send(true);
    });
}

/// The server behind TLS, for the HTTPS test.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // A client that gives up on our certificate is the expected failure here: wait for the next one.
            if let Ok((stream, addr)) = self.tcp.accept().await
                && let Ok(tls) = self.acceptor.accept(stream).await
            {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[test]
fn https_with_a_test_ca_works_and_a_certificate_from_another_ca_is_an_error() {
    use rustls::pki_types::pem::PemObject as _;
    let dir = tempfile::tempdir().expect("dir");
    let (ca, cert, key) = crate::test_ca(dir.path(), "https");
    let (other_ca, _, _) = crate::test_ca(dir.path(), "other");
    runtime().block_on(async {
        watchfloor::feeds::tls::install_provider();
        let chain = rustls::pki_types::CertificateDer::pem_file_iter(&cert)
            .expect("cert")
            .collect::<Result<Vec<_>, _>>()
            .expect("chain");
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&key).expect("key");
        let config =
            rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key).expect("config");
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = url::Url::parse(&format!("https://{}/", tcp.local_addr().expect("addr"))).expect("url");
        let listener = TlsListener { tcp, acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) };
        let hub = Arc::new(Hub::default());
        let t0 = wall_now_ms() / 1000 * 1000 - 60_000;
        hub.apply(&birth(t0));
        tokio::spawn(async move { axum::serve(listener, watchfloor::gateway::http::router(hub, None)).await });

        let mut link = Link::new(url.clone());
        link.tls.ca_file = Some(ca);
        let mut good = start_client(link);
        good.until("live over HTTPS with the snapshot", |seen| {
            live_count(seen) >= 1
                && seen.iter().any(|e| matches!(&e.body, FeedEventBody::Samples(s) if s.len() == SIGNALS))
        })
        .await;

        let mut link = Link::new(url);
        link.tls.ca_file = Some(other_ca);
        let mut refused = start_client(link);
        refused
            .until("refused", |seen| {
                seen.iter().any(|e| matches!(&e.body, FeedEventBody::Status(s) if s.state == FeedState::Error))
            })
            .await;
        let message = refused.seen.iter().find_map(|e| match &e.body {
            FeedEventBody::Status(s) if s.state == FeedState::Error => s.message.clone(),
            _ => None,
        });
        assert!(message.unwrap_or_default().contains("certificate"));
        assert_eq!(live_count(&refused.seen), 0);
    });
}
