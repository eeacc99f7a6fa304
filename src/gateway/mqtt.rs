//! Publishes the simulator as Sparkplug B edge nodes: one MQTT connection per edge node (each line, and the
//! fleet), with NDEATH as its will, births on connect and on a rebirth request, DDATA by alias. With `--json` a
//! further connection publishes the same values in the Kepware standard template on `watchfloor/<group>/<node>`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, LastWill, MqttOptions, QoS, TlsConfiguration, Transport};
use tokio::sync::{broadcast, mpsc, watch};

use super::Update;
use crate::clock::Clock;
use crate::config::TlsFiles;
use crate::feeds::link::{Backoff, entropy};
use crate::feeds::sparkplug::edge::{EdgeNode, split_id};
use crate::feeds::sparkplug::{NAMESPACE, REBIRTH_METRIC, proto};
use crate::model::{Quality, Sample, Value};

/// Batches an edge node's task may fall behind by before the driver waits for it.
const NODE_QUEUE: usize = 64;

/// The Sparkplug (and JSON) publisher for `watchfloor gateway --mqtt`.
pub struct Publisher {
    url: url::Url,
    json: bool,
}

/// What an edge node's connection task hears from its pump.
enum Link {
    Up,
    Down(String),
    Command(bytes::Bytes),
}

impl Publisher {
    pub fn new(url: url::Url, json: bool) -> anyhow::Result<Self> {
        if !matches!(url.scheme(), "mqtt" | "mqtts") || url.host_str().is_none_or(str::is_empty) {
            anyhow::bail!("{url} is not an mqtt:// or mqtts:// url with a host");
        }
        Ok(Self { url, json })
    }

    fn options(&self, client_id: &str) -> anyhow::Result<MqttOptions> {
        let host = self.url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        let tls = self.url.scheme() == "mqtts";
        let port = self.url.port().unwrap_or(if tls { 8883 } else { 1883 });
        let mut options = MqttOptions::new(client_id, host, port);
        options.set_keep_alive(Duration::from_secs(15)).set_clean_session(true).set_max_packet_size(16 << 20, 16 << 20);
        options.set_request_channel_capacity(1024);
        if tls {
            let config = crate::feeds::tls::client_config(&TlsFiles::default()).map_err(anyhow::Error::msg)?;
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
        }
        Ok(options)
    }

    /// Publishes until `shutdown`; needs the driver's birth first to know the edge nodes.
    pub async fn run(
        self,
        mut updates: broadcast::Receiver<Arc<Update>>,
        clock: Arc<dyn Clock>,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut nodes: BTreeMap<(String, String), mpsc::Sender<Arc<Update>>> = BTreeMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            let update = tokio::select! {
                u = updates.recv() => u,
                _ = shutdown.changed() => break,
            };
            let update = match update {
                Ok(u) => u,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("MQTT publisher fell behind the simulator: {n} updates skipped");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            };
            if let Update::Birth { meta, .. } = update.as_ref() {
                for m in meta {
                    let Some((group, node, _, _)) = split_id(m.id.as_str()) else { continue };
                    let key = (group.to_owned(), node.to_owned());
                    if nodes.contains_key(&key) {
                        continue;
                    }
                    let mut edge = EdgeNode::new(group, node);
                    for m in meta {
                        edge.add(m);
                    }
                    let (tx, rx) = mpsc::channel(NODE_QUEUE);
                    let client_id = format!("wf-{group}-{node}-{:04x}", entropy() as u16);
                    let options = self.options(&client_id)?;
                    tasks.spawn(run_node(edge, options, rx, Arc::clone(&clock), shutdown.clone()));
                    nodes.insert(key, tx);
                }
                if self.json {
                    let (tx, rx) = mpsc::channel(NODE_QUEUE);
                    let options = self.options(&format!("wf-json-{:04x}", entropy() as u16))?;
                    tasks.spawn(run_json(options, rx, shutdown.clone()));
                    nodes.insert((String::new(), String::new()), tx);
                }
            }
            for tx in nodes.values() {
                // A node task that ended has logged why; the others go on.
                let _ = tx.send(Arc::clone(&update)).await;
            }
        }
        drop(nodes);
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}

/// Keeps one MQTT connection alive: reports up/down and incoming commands, sets the will for each new session.
async fn pump(mut eventloop: EventLoop, tx: mpsc::Sender<Link>, mut will: impl FnMut() -> Option<LastWill>) {
    let mut backoff = Backoff::default();
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                backoff.reset();
                if tx.send(Link::Up).await.is_err() {
                    return;
                }
            }
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                if tx.send(Link::Command(p.payload)).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(err) => {
                if tx.send(Link::Down(err.to_string())).await.is_err() {
                    return;
                }
                if let Some(w) = will() {
                    eventloop.mqtt_options.set_last_will(w);
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

async fn run_node(
    mut edge: EdgeNode,
    mut options: MqttOptions,
    mut rx: mpsc::Receiver<Arc<Update>>,
    clock: Arc<dyn Clock>,
    mut shutdown: watch::Receiver<bool>,
) {
    let name = format!("{}/{}", edge.group, edge.node);
    let (topic, payload) = edge.death();
    options.set_last_will(LastWill::new(topic, payload, QoS::AtLeastOnce, false));
    let (client, eventloop) = AsyncClient::new(options, 1024);
    let (link_tx, mut link_rx) = mpsc::channel(16);
    // Each new session gets the next bdSeq; the pump puts it in the will before reconnecting, the node reads it
    // when the session is up, so NBIRTH and NDEATH always agree.
    let bd_seq = Arc::new(AtomicU64::new(edge.bd_seq()));
    let next_death = {
        let bd_seq = Arc::clone(&bd_seq);
        let mut shadow = EdgeNode::new(edge.group.clone(), edge.node.clone());
        move || {
            let next = (bd_seq.load(Ordering::SeqCst) + 1) % 256;
            bd_seq.store(next, Ordering::SeqCst);
            shadow.set_bd_seq(next);
            let (topic, payload) = shadow.death();
            Some(LastWill::new(topic, payload, QoS::AtLeastOnce, false))
        }
    };
    let pump_task = tokio::spawn(pump(eventloop, link_tx, next_death));
    let ncmd = format!("{NAMESPACE}/{}/NCMD/{}", edge.group, edge.node);
    let mut up = false;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            link = link_rx.recv() => match link {
                Some(Link::Up) => {
                    up = true;
                    edge.set_bd_seq(bd_seq.load(Ordering::SeqCst));
                    let _ = client.subscribe(ncmd.clone(), QoS::AtLeastOnce).await;
                    publish_all(&client, edge.births(clock.now_ms())).await;
                    tracing::info!(node = %name, bd_seq = edge.bd_seq(), "edge node online");
                }
                Some(Link::Down(err)) => {
                    if up {
                        tracing::warn!(node = %name, "edge node offline: {err}");
                    }
                    up = false;
                }
                Some(Link::Command(payload)) => {
                    if up && is_rebirth(&payload) {
                        tracing::info!(node = %name, "rebirth requested");
                        publish_all(&client, edge.births(clock.now_ms())).await;
                    }
                }
                None => break,
            },
            update = rx.recv() => match update.as_deref() {
                Some(Update::Birth { values, .. }) => {
                    for s in values {
                        edge.set(s);
                    }
                }
                Some(Update::Samples(samples)) => {
                    let now = clock.now_ms();
                    if up {
                        publish_all(&client, edge.data(samples, now)).await;
                    } else {
                        for s in samples {
                            edge.set(s);
                        }
                    }
                }
                None => break,
            },
        }
    }
    if up {
        // A clean stop: the broker drops the will on DISCONNECT, so send the death ourselves.
        let (topic, payload) = edge.death();
        let _ = client.publish(topic, QoS::AtLeastOnce, false, payload).await;
        let _ = client.disconnect().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pump_task.abort();
}

fn is_rebirth(payload: &[u8]) -> bool {
    use prost::Message as _;
    proto::Payload::decode(payload).is_ok_and(|p| {
        p.metrics
            .iter()
            .any(|m| m.name.as_deref() == Some(REBIRTH_METRIC) && m.value == Some(proto::MetricValue::Boolean(true)))
    })
}

async fn publish_all(client: &AsyncClient, messages: Vec<(String, Vec<u8>)>) {
    for (topic, payload) in messages {
        if let Err(err) = client.publish(topic, QoS::AtMostOnce, false, payload).await {
            tracing::warn!("cannot publish: {err}");
            return;
        }
    }
}

/// The same values as Kepware-template JSON, one message per edge node and batch; every current value again after
/// each (re)connect, as Kepware does when a client connects.
async fn run_json(options: MqttOptions, mut rx: mpsc::Receiver<Arc<Update>>, mut shutdown: watch::Receiver<bool>) {
    let (client, eventloop) = AsyncClient::new(options, 1024);
    let (link_tx, mut link_rx) = mpsc::channel(16);
    let pump_task = tokio::spawn(pump(eventloop, link_tx, || None));
    let mut up = false;
    let mut latest: BTreeMap<crate::model::SignalId, Sample> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            link = link_rx.recv() => match link {
                Some(Link::Up) => {
                    up = true;
                    let all: Vec<Sample> = latest.values().cloned().collect();
                    publish_all(&client, kepware_messages(&all)).await;
                }
                Some(Link::Down(_)) => up = false,
                Some(Link::Command(_)) => {}
                None => break,
            },
            update = rx.recv() => {
                let samples = match update.as_deref() {
                    Some(Update::Birth { values, .. }) => values,
                    Some(Update::Samples(samples)) => samples,
                    None => break,
                };
                for s in samples {
                    latest.insert(s.signal.clone(), s.clone());
                }
                if up {
                    publish_all(&client, kepware_messages(samples)).await;
                }
            }
        }
    }
    let _ = client.disconnect().await;
    pump_task.abort();
}

/// Kepware standard-template messages for `samples`, one per `<group>/<node>`, on `watchfloor/<group>/<node>`.
/// Tag ids are the signal ids with `.` between levels, as Kepware names tags.
pub fn kepware_messages(samples: &[Sample]) -> Vec<(String, Vec<u8>)> {
    let mut by_node: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for s in samples {
        let Some((group, node, _, _)) = split_id(s.signal.as_str()) else { continue };
        let v = match &s.value {
            Value::F64(v) => serde_json::json!(v),
            Value::I64(v) => serde_json::json!(v),
            Value::Bool(b) => serde_json::json!(b),
            Value::Str(t) | Value::Raw(t) => serde_json::json!(t.as_ref()),
        };
        by_node.entry(format!("watchfloor/{group}/{node}")).or_default().push(serde_json::json!({
            "id": s.signal.as_str().replace('/', "."),
            "v": v,
            "q": s.quality == Quality::Good,
            "t": s.ts_ms,
        }));
    }
    by_node
        .into_iter()
        .map(|(topic, values)| {
            let ts = values.iter().filter_map(|v| v["t"].as_i64()).max().unwrap_or(0);
            (topic, serde_json::json!({ "timestamp": ts, "values": values }).to_string().into_bytes())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::mqtt_json::decode_kepware;
    use crate::model::SignalId;

    #[test]
    fn kepware_messages_decode_back_to_the_same_values() {
        let samples = vec![
            Sample::new(SignalId::from("PlantA/Line1/Filler/Count/Total"), 1_000, Value::I64(42)),
            Sample::new(SignalId::from("PlantA/Line1/Filler/State"), 1_000, Value::Str("running".into())),
            Sample::new(SignalId::from("PlantA/Fleet/AGV-01/Battery/SoC"), 2_000, Value::F64(81.5)),
        ];
        let messages = kepware_messages(&samples);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].0, "watchfloor/PlantA/Fleet");
        let decoded = decode_kepware(&messages[1].1, 5_000);
        assert!(decoded.rejected.is_empty(), "{:?}", decoded.rejected);
        assert_eq!(decoded.samples[0].signal.as_str(), "PlantA.Line1.Filler.Count.Total");
        assert_eq!(decoded.samples[0].value, Value::I64(42));
        assert_eq!(decoded.samples[1].value, Value::Str("running".into()));
        assert_eq!(decoded.samples[1].ts_ms, 1_000);
    }

    #[test]
    fn only_a_true_rebirth_metric_is_a_rebirth() {
        assert!(is_rebirth(&crate::feeds::sparkplug::rebirth_payload(1)));
        assert!(!is_rebirth(b"garbage"));
    }
}
