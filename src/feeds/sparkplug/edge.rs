//! The other side of the wire: what a Sparkplug B edge node sends, for `watchfloor gateway --mqtt`, the benchmark
//! and the tests. Births carry names, aliases, data types and current values; DATA carries aliases only; `seq`
//! runs 0–255 across the node's N and D messages; `bdSeq` ties NBIRTH to the NDEATH registered as the MQTT will.

use std::collections::{BTreeMap, HashMap};

use prost::Message as _;

use super::proto::{self, MetricValue, Payload, datatype as dt};
use super::{NAMESPACE, REBIRTH_METRIC};
use crate::model::{Quality, Sample, SignalId, SignalMeta, Value, ValueKind};

/// Where a signal id puts a metric: `<group>/<node>/<device>/<metric…>` or `<group>/<node>/<metric>`.
pub fn split_id(id: &str) -> Option<(&str, &str, Option<&str>, &str)> {
    let mut parts = id.splitn(4, '/');
    let group = parts.next().filter(|s| !s.is_empty())?;
    let node = parts.next().filter(|s| !s.is_empty())?;
    let third = parts.next().filter(|s| !s.is_empty())?;
    match parts.next() {
        Some(metric) if !metric.is_empty() => Some((group, node, Some(third), metric)),
        _ => Some((group, node, None, third)),
    }
}

#[derive(Clone, Debug)]
struct MetricModel {
    name: String,
    alias: u64,
    datatype: u32,
    unit: Option<String>,
    last: Option<Sample>,
}

/// One edge node and its devices, with the current value of every metric (for births).
#[derive(Debug)]
pub struct EdgeNode {
    pub group: String,
    pub node: String,
    bd_seq: u64,
    seq: u64,
    /// `None` = node-level metrics.
    devices: BTreeMap<Option<String>, Vec<MetricModel>>,
    index: HashMap<SignalId, (Option<String>, usize)>,
    next_alias: u64,
}

impl EdgeNode {
    pub fn new(group: impl Into<String>, node: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            node: node.into(),
            bd_seq: 0,
            seq: 0,
            devices: BTreeMap::new(),
            index: HashMap::new(),
            next_alias: 1,
        }
    }

    /// Adds a metric from its signal id; `false` if the id does not belong to this node.
    pub fn add(&mut self, meta: &SignalMeta) -> bool {
        let Some((group, node, device, metric)) = split_id(meta.id.as_str()) else { return false };
        if group != self.group || node != self.node || self.index.contains_key(&meta.id) {
            return false;
        }
        let device = device.map(str::to_owned);
        let metrics = self.devices.entry(device.clone()).or_default();
        metrics.push(MetricModel {
            name: metric.to_owned(),
            alias: self.next_alias,
            datatype: datatype_of(meta.kind),
            unit: meta.unit.as_deref().map(str::to_owned),
            last: None,
        });
        self.next_alias += 1;
        self.index.insert(meta.id.clone(), (device, metrics.len() - 1));
        true
    }

    /// Remembers a value for the next birth; `false` for a signal this node does not have.
    pub fn set(&mut self, sample: &Sample) -> bool {
        let Some((device, i)) = self.index.get(&sample.signal) else { return false };
        if let Some(m) = self.devices.get_mut(device).and_then(|d| d.get_mut(*i)) {
            m.last = Some(sample.clone());
        }
        true
    }

    pub fn bd_seq(&self) -> u64 {
        self.bd_seq
    }

    /// The bdSeq of a new MQTT session (0–255); use [`EdgeNode::death`] as its will.
    pub fn set_bd_seq(&mut self, bd_seq: u64) {
        self.bd_seq = bd_seq % 256;
    }

    fn topic_of(&self, kind: &str, device: Option<&str>) -> String {
        match device {
            Some(d) => format!("{NAMESPACE}/{}/{kind}/{}/{d}", self.group, self.node),
            None => format!("{NAMESPACE}/{}/{kind}/{}", self.group, self.node),
        }
    }

    /// The NDEATH for the MQTT will of the current session.
    pub fn death(&self) -> (String, Vec<u8>) {
        let payload = Payload { timestamp: None, metrics: vec![bd_seq_metric(self.bd_seq)], ..Payload::default() };
        (self.topic_of("NDEATH", None), payload.encode_to_vec())
    }

    /// NBIRTH then one DBIRTH per device, with every metric's current value; `seq` starts again at 0.
    pub fn births(&mut self, now_ms: i64) -> Vec<(String, Vec<u8>)> {
        self.seq = 0;
        let ts = u64::try_from(now_ms).unwrap_or(0);
        let mut out = Vec::with_capacity(self.devices.len() + 1);
        let mut node_metrics = vec![
            bd_seq_metric(self.bd_seq),
            proto::Metric {
                name: Some(REBIRTH_METRIC.to_owned()),
                datatype: Some(dt::BOOLEAN),
                value: Some(MetricValue::Boolean(false)),
                ..proto::Metric::default()
            },
        ];
        if let Some(metrics) = self.devices.get(&None) {
            node_metrics.extend(metrics.iter().map(|m| birth_metric(m, ts)));
        }
        out.push((self.topic_of("NBIRTH", None), self.payload(ts, node_metrics)));
        let devices: Vec<(String, Vec<proto::Metric>)> = self
            .devices
            .iter()
            .filter_map(|(d, metrics)| Some((d.clone()?, metrics.iter().map(|m| birth_metric(m, ts)).collect())))
            .collect();
        for (device, metrics) in devices {
            let topic = self.topic_of("DBIRTH", Some(&device));
            out.push((topic, self.payload(ts, metrics)));
        }
        out
    }

    /// NDATA / DDATA for `samples` (aliases only, one message per device), remembering the values for births.
    pub fn data(&mut self, samples: &[Sample], now_ms: i64) -> Vec<(String, Vec<u8>)> {
        let ts = u64::try_from(now_ms).unwrap_or(0);
        let mut by_device: BTreeMap<Option<String>, Vec<proto::Metric>> = BTreeMap::new();
        for sample in samples {
            let Some((device, i)) = self.index.get(&sample.signal).cloned() else { continue };
            let Some(m) = self.devices.get_mut(&device).and_then(|d| d.get_mut(i)) else { continue };
            m.last = Some(sample.clone());
            by_device.entry(device).or_default().push(value_metric(m.alias, m.datatype, sample));
        }
        by_device
            .into_iter()
            .map(|(device, metrics)| {
                let kind = if device.is_some() { "DDATA" } else { "NDATA" };
                let topic = self.topic_of(kind, device.as_deref());
                (topic, self.payload(ts, metrics))
            })
            .collect()
    }

    fn payload(&mut self, ts: u64, metrics: Vec<proto::Metric>) -> Vec<u8> {
        let seq = self.seq;
        self.seq = (self.seq + 1) % 256;
        Payload { timestamp: Some(ts), metrics, seq: Some(seq), ..Payload::default() }.encode_to_vec()
    }
}

fn bd_seq_metric(bd_seq: u64) -> proto::Metric {
    proto::Metric {
        name: Some("bdSeq".to_owned()),
        datatype: Some(dt::INT64),
        value: Some(MetricValue::Long(bd_seq)),
        ..proto::Metric::default()
    }
}

fn datatype_of(kind: ValueKind) -> u32 {
    match kind {
        ValueKind::Float => dt::DOUBLE,
        ValueKind::Int => dt::INT64,
        ValueKind::Bool => dt::BOOLEAN,
        ValueKind::String | ValueKind::Raw => dt::STRING,
    }
}

fn birth_metric(m: &MetricModel, ts: u64) -> proto::Metric {
    let mut metric = match &m.last {
        Some(sample) => value_metric(m.alias, m.datatype, sample),
        None => proto::Metric {
            alias: Some(m.alias),
            timestamp: Some(ts),
            datatype: Some(m.datatype),
            is_null: Some(true),
            ..proto::Metric::default()
        },
    };
    metric.name = Some(m.name.clone());
    metric.datatype = Some(m.datatype);
    if let Some(unit) = &m.unit {
        metric.properties = Some(proto::PropertySet {
            keys: vec!["engUnit".to_owned()],
            values: vec![proto::PropertyValue {
                r#type: Some(dt::STRING),
                is_null: None,
                value: Some(proto::PropertyValueKind::String(unit.clone())),
            }],
        });
    }
    metric
}

fn value_metric(alias: u64, datatype: u32, sample: &Sample) -> proto::Metric {
    let value = match (&sample.value, datatype) {
        (Value::F64(v), _) => MetricValue::Double(*v),
        // Two's complement, as the Sparkplug specification stores signed integers in the unsigned fields.
        (Value::I64(v), _) => MetricValue::Long(*v as u64),
        (Value::Bool(b), _) => MetricValue::Boolean(*b),
        (Value::Str(s) | Value::Raw(s), _) => MetricValue::String(s.to_string()),
    };
    let value = match (value, datatype) {
        (MetricValue::Long(v), dt::DOUBLE) => MetricValue::Double(v as i64 as f64),
        (MetricValue::Double(v), dt::INT64) => MetricValue::Long(v.round() as i64 as u64),
        (v, _) => v,
    };
    let mut metric = proto::Metric {
        alias: Some(alias),
        timestamp: u64::try_from(sample.ts_ms).ok(),
        datatype: None,
        value: Some(value),
        ..proto::Metric::default()
    };
    if sample.quality != Quality::Good {
        let code = if sample.quality == Quality::Uncertain { 64 } else { 0 };
        metric.properties = Some(proto::PropertySet {
            keys: vec!["Quality".to_owned()],
            values: vec![proto::PropertyValue {
                r#type: Some(dt::INT32),
                is_null: None,
                value: Some(proto::PropertyValueKind::Int(code)),
            }],
        });
    }
    metric
}

#[cfg(test)]
mod tests {
    use super::super::{Host, Topic, parse_topic};
    use super::*;
    use crate::model::FeedEventBody;

    fn meta(id: &str, kind: ValueKind) -> SignalMeta {
        SignalMeta { id: SignalId::from(id), kind, unit: None }
    }

    fn node() -> EdgeNode {
        let mut n = EdgeNode::new("PlantA", "Line1");
        assert!(n.add(&meta("PlantA/Line1/Filler/State", ValueKind::Int)));
        assert!(n.add(&meta("PlantA/Line1/Filler/Count/Total", ValueKind::Int)));
        assert!(n.add(&SignalMeta { unit: Some("°C".into()), ..meta("PlantA/Line1/Oven/Temp", ValueKind::Float) }));
        assert!(n.add(&meta("PlantA/Line1/Uptime", ValueKind::Float)));
        assert!(!n.add(&meta("PlantA/Line2/Filler/State", ValueKind::Int)), "another node's signal");
        n
    }

    #[test]
    fn ids_split_into_sparkplug_parts() {
        assert_eq!(
            split_id("PlantA/Line1/Filler/Count/Total"),
            Some(("PlantA", "Line1", Some("Filler"), "Count/Total"))
        );
        assert_eq!(split_id("PlantA/Line1/Uptime"), Some(("PlantA", "Line1", None, "Uptime")));
        assert_eq!(split_id("PlantA/Line1"), None);
        assert_eq!(split_id("PlantA//x/y"), None);
    }

    #[test]
    fn what_an_edge_node_sends_is_what_the_host_reads() {
        let mut n = node();
        let now = 1_800_000_000_000;
        n.set(&Sample::new(SignalId::from("PlantA/Line1/Filler/State"), now - 500, Value::I64(1)));
        let mut host = Host::new(None);
        let mut samples = Vec::new();
        let mut metas = Vec::new();
        let births = n.births(now);
        assert_eq!(births.len(), 3, "NBIRTH + 2 DBIRTH");
        let data = n.data(
            &[
                Sample::new(SignalId::from("PlantA/Line1/Filler/Count/Total"), now + 1000, Value::I64(-3)),
                Sample::new(SignalId::from("PlantA/Line1/Oven/Temp"), now + 1000, Value::F64(181.5)),
                Sample {
                    quality: Quality::Bad,
                    ..Sample::new(SignalId::from("PlantA/Line1/Uptime"), now + 1000, Value::F64(2.0))
                },
            ],
            now + 1000,
        );
        assert_eq!(data.len(), 3, "one DDATA per device + NDATA");
        for (topic, payload) in births.iter().chain(&data) {
            assert!(matches!(parse_topic(topic), Ok(Topic::Node { .. })), "{topic}");
            let handled = host.handle(topic, payload, now + 2000);
            assert_eq!(handled.rebirth, None, "{topic}: {:?}", handled.events);
            for e in handled.events {
                match e {
                    FeedEventBody::Samples(s) => samples.extend(s),
                    FeedEventBody::Birth(m) => metas.extend(m),
                    other => panic!("{topic}: {other:?}"),
                }
            }
        }
        let find = |id: &str| samples.iter().rev().find(|s| s.signal.as_str() == id).cloned().expect(id);
        assert_eq!(find("PlantA/Line1/Filler/State").value, Value::I64(1));
        assert_eq!(find("PlantA/Line1/Filler/State").ts_ms, now - 500);
        assert_eq!(find("PlantA/Line1/Filler/Count/Total").value, Value::I64(-3));
        assert_eq!(find("PlantA/Line1/Oven/Temp").value, Value::F64(181.5));
        assert_eq!(find("PlantA/Line1/Uptime").quality, Quality::Bad);
        let oven = metas.iter().find(|m| m.id.as_str() == "PlantA/Line1/Oven/Temp").expect("oven meta");
        assert_eq!(oven.unit.as_deref(), Some("°C"));
        // A death with this session's bdSeq marks the node stale.
        let (topic, payload) = n.death();
        let handled = host.handle(&topic, &payload, now + 3000);
        assert_eq!(handled.events, vec![FeedEventBody::Stale { prefix: "PlantA/Line1/".to_owned() }]);
    }

    #[test]
    fn seq_runs_across_node_and_device_messages_and_restarts_at_birth() {
        let mut n = node();
        let seqs = |msgs: &[(String, Vec<u8>)]| -> Vec<u64> {
            msgs.iter().map(|(_, p)| Payload::decode(p.as_slice()).expect("payload").seq.unwrap_or(999)).collect()
        };
        assert_eq!(seqs(&n.births(0)), vec![0, 1, 2]);
        let d = n.data(&[Sample::new(SignalId::from("PlantA/Line1/Uptime"), 1, Value::F64(1.0))], 1);
        assert_eq!(seqs(&d), vec![3]);
        assert_eq!(seqs(&n.births(2)), vec![0, 1, 2]);
    }
}
