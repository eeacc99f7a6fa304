//! Sparkplug B 3.0, host application side (DOMAIN.md §6), as pure logic: topics in, [`FeedEventBody`]s and rebirth
//! requests out. The MQTT connection that feeds it lives elsewhere; nothing here does I/O, so every rule (aliases,
//! `seq` gaps, `bdSeq` matching, deaths, historical metrics, data types) is unit-tested with plain bytes.

pub mod edge;
pub mod proto;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use prost::Message as _;

use crate::model::FeedEventBody;
use crate::model::{Quality, Sample, SignalId, SignalMeta, TimeSource, Value, ValueKind};
use proto::{MetricValue, Payload, PropertyValueKind, datatype as dt};

/// The Sparkplug B topic namespace.
pub const NAMESPACE: &str = "spBv1.0";
/// The metric a node answers with a new birth.
pub const REBIRTH_METRIC: &str = "Node Control/Rebirth";
/// At most one rebirth request per node in this many milliseconds, so a lossy link does not cause a storm.
pub const REBIRTH_HOLD_OFF_MS: i64 = 5_000;

/// The message types of a Sparkplug topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    NBirth,
    NData,
    NDeath,
    DBirth,
    DData,
    DDeath,
    NCmd,
    DCmd,
}

/// A parsed Sparkplug topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topic {
    /// `spBv1.0/STATE/<host id>`: a host application's online state.
    State { host_id: String },
    /// `spBv1.0/<group>/<type>/<edge node>[/<device>]`.
    Node { group: String, kind: MessageType, node: String, device: Option<String> },
}

/// Parses a topic; `Err` says what is wrong with it.
pub fn parse_topic(topic: &str) -> Result<Topic, String> {
    let parts: Vec<&str> = topic.split('/').collect();
    if parts.first() != Some(&NAMESPACE) {
        return Err(format!("topic {topic:?} is not in the {NAMESPACE} namespace"));
    }
    if parts.get(1) == Some(&"STATE") {
        return match parts.as_slice() {
            [_, _, host] if !host.is_empty() => Ok(Topic::State { host_id: (*host).to_owned() }),
            _ => Err(format!("STATE topic {topic:?} must be {NAMESPACE}/STATE/<host id>")),
        };
    }
    let kind = |s: &str| match s {
        "NBIRTH" => Some(MessageType::NBirth),
        "NDATA" => Some(MessageType::NData),
        "NDEATH" => Some(MessageType::NDeath),
        "DBIRTH" => Some(MessageType::DBirth),
        "DDATA" => Some(MessageType::DData),
        "DDEATH" => Some(MessageType::DDeath),
        "NCMD" => Some(MessageType::NCmd),
        "DCMD" => Some(MessageType::DCmd),
        _ => None,
    };
    match parts.as_slice() {
        [_, group, ty, node, rest @ ..] if !group.is_empty() && !node.is_empty() && rest.len() <= 1 => {
            let kind = kind(ty).ok_or_else(|| format!("unknown Sparkplug message type {ty:?} in {topic:?}"))?;
            let device = rest.first().map(|d| (*d).to_owned());
            let is_device =
                matches!(kind, MessageType::DBirth | MessageType::DData | MessageType::DDeath | MessageType::DCmd);
            if is_device != device.is_some() || device.as_deref() == Some("") {
                return Err(format!(
                    "{ty} topic {topic:?} {} a device part",
                    if is_device { "needs" } else { "must not have" }
                ));
            }
            Ok(Topic::Node { group: (*group).to_owned(), kind, node: (*node).to_owned(), device })
        }
        _ => Err(format!("topic {topic:?} must be {NAMESPACE}/<group>/<type>/<edge node>[/<device>]")),
    }
}

/// What one message produced.
#[derive(Debug, Default, PartialEq)]
pub struct Handled {
    /// Events to publish, in order.
    pub events: Vec<FeedEventBody>,
    /// Ask this edge node for a rebirth: publish [`rebirth_payload`] on this NCMD topic.
    pub rebirth: Option<String>,
}

impl Handled {
    fn reject(&mut self, reason: String) {
        self.events.push(FeedEventBody::Rejected { reason });
    }
}

/// What a birth told us about a metric.
#[derive(Clone, Debug)]
struct Known {
    id: SignalId,
    datatype: u32,
}

/// One edge node's session, from its NBIRTH to its NDEATH.
#[derive(Debug, Default)]
struct NodeSession {
    born: bool,
    bd_seq: Option<u64>,
    last_seq: Option<u64>,
    /// Alias → metric, for the node and all its devices (aliases are unique per edge node).
    aliases: HashMap<u64, Known>,
    /// Signal id → data type, for DATA metrics sent by name.
    by_name: HashMap<Arc<str>, u32>,
    last_rebirth_ms: Option<i64>,
}

/// The host application's view of every edge node it has heard from.
#[derive(Debug, Default)]
pub struct Host {
    /// Only this group, if set (config `group`).
    pub group_filter: Option<String>,
    nodes: HashMap<(String, String), NodeSession>,
}

impl Host {
    pub fn new(group_filter: Option<String>) -> Self {
        Self { group_filter, nodes: HashMap::new() }
    }

    /// The broker connection dropped: everything we know is now the last known value.
    pub fn connection_lost(&mut self) -> Vec<FeedEventBody> {
        let mut events = Vec::new();
        for ((group, node), session) in &mut self.nodes {
            if session.born {
                session.born = false;
                session.last_seq = None;
                events.push(FeedEventBody::Stale { prefix: format!("{group}/{node}/") });
            }
        }
        events
    }

    /// After a reconnect: the NCMD topic of every edge node heard from, to ask each for a rebirth (and hold off
    /// further requests to them for [`REBIRTH_HOLD_OFF_MS`]).
    pub fn request_rebirth_all(&mut self, now_ms: i64) -> Vec<String> {
        self.nodes
            .iter_mut()
            .map(|((group, node), session)| {
                session.last_rebirth_ms = Some(now_ms);
                format!("{NAMESPACE}/{group}/NCMD/{node}")
            })
            .collect()
    }

    /// Handles one MQTT message.
    pub fn handle(&mut self, topic: &str, payload: &[u8], received_ms: i64) -> Handled {
        let mut out = Handled::default();
        let (group, kind, node, device) = match parse_topic(topic) {
            Ok(Topic::Node { group, kind, node, device }) => (group, kind, node, device),
            // Other hosts' STATE messages are none of our business.
            Ok(Topic::State { .. }) => return out,
            Err(reason) => {
                out.reject(reason);
                return out;
            }
        };
        if self.group_filter.as_ref().is_some_and(|g| *g != group)
            || matches!(kind, MessageType::NCmd | MessageType::DCmd)
        {
            return out;
        }
        let payload = match Payload::decode(payload) {
            Ok(p) => p,
            Err(err) => {
                out.reject(format!("{topic}: not a Sparkplug B payload ({err})"));
                return out;
            }
        };
        let ncmd = format!("{NAMESPACE}/{group}/NCMD/{node}");
        let prefix = match &device {
            Some(d) => format!("{group}/{node}/{d}/"),
            None => format!("{group}/{node}/"),
        };
        let session = self.nodes.entry((group, node)).or_default();
        let mut wants_rebirth = false;

        match kind {
            MessageType::NBirth => {
                *session = NodeSession { last_rebirth_ms: session.last_rebirth_ms, ..NodeSession::default() };
                session.born = true;
                session.last_seq = payload.seq;
                session.bd_seq = bd_seq(&payload);
            }
            MessageType::NDeath => {
                let death = bd_seq(&payload);
                if session.born && death.is_some() && session.bd_seq.is_some() && death != session.bd_seq {
                    // The death certificate of an earlier session, delivered late by the broker: not ours.
                    return out;
                }
                session.born = false;
                session.last_seq = None;
                out.events.push(FeedEventBody::Stale { prefix });
                return out;
            }
            _ => {
                if !session.born {
                    // Normal after our own start or a reconnect: ask for a birth and wait. Only an edge node that
                    // lets a rebirth request go unanswered is a problem worth counting.
                    if session.last_rebirth_ms.is_some_and(|t| received_ms - t >= REBIRTH_HOLD_OFF_MS) {
                        out.reject(format!(
                            "{topic}: data from an edge node that has not been born, and did not answer a rebirth request"
                        ));
                    }
                    wants_rebirth = true;
                } else {
                    match (session.last_seq, payload.seq) {
                        (Some(last), Some(seq)) if seq != (last + 1) % 256 => {
                            out.reject(format!("{topic}: seq {seq} after {last}: messages were lost"));
                            wants_rebirth = true;
                        }
                        (_, None) => out.reject(format!("{topic}: no seq")),
                        _ => {}
                    }
                    if payload.seq.is_some() {
                        session.last_seq = payload.seq;
                    }
                }
            }
        }

        if kind == MessageType::DDeath {
            if session.born {
                out.events.push(FeedEventBody::Stale { prefix });
            }
        } else if session.born {
            let is_birth = matches!(kind, MessageType::NBirth | MessageType::DBirth);
            let mut metas = Vec::new();
            let mut samples = Vec::new();
            for metric in &payload.metrics {
                let known = match (&metric.name, metric.alias) {
                    (Some(name), alias) => {
                        let id = SignalId::new(format!("{prefix}{name}"));
                        let datatype = metric.datatype.or_else(|| session.by_name.get(id.as_str()).copied());
                        let Some(datatype) = datatype else {
                            out.reject(format!("{topic}: metric {name:?} has no data type and was never born"));
                            wants_rebirth = true;
                            continue;
                        };
                        let known = Known { id, datatype };
                        if is_birth {
                            if let Some(alias) = alias {
                                session.aliases.insert(alias, known.clone());
                            }
                            session.by_name.insert(Arc::from(known.id.as_str()), datatype);
                        }
                        known
                    }
                    (None, Some(alias)) => match session.aliases.get(&alias) {
                        Some(k) => k.clone(),
                        None => {
                            out.reject(format!("{topic}: unknown alias {alias}; asking for a rebirth"));
                            wants_rebirth = true;
                            continue;
                        }
                    },
                    (None, None) => {
                        out.reject(format!("{topic}: a metric with neither name nor alias"));
                        continue;
                    }
                };
                let name = &known.id.as_str()[prefix.len().min(known.id.as_str().len())..];
                if name == "bdSeq" || name.starts_with("Node Control/") || name.starts_with("Device Control/") {
                    continue;
                }
                if is_birth {
                    metas.push(SignalMeta {
                        id: known.id.clone(),
                        kind: value_kind(known.datatype),
                        unit: unit_of(metric),
                    });
                }
                match sample_of(metric, &known, payload.timestamp, received_ms) {
                    Ok(s) => samples.push(s),
                    Err(reason) => out.reject(format!("{}: {reason}", known.id)),
                }
            }
            if !metas.is_empty() {
                out.events.push(FeedEventBody::Birth(metas));
            }
            if !samples.is_empty() {
                out.events.push(FeedEventBody::Samples(samples));
            }
        }

        if wants_rebirth {
            let due = session.last_rebirth_ms.is_none_or(|t| received_ms - t >= REBIRTH_HOLD_OFF_MS);
            if due {
                session.last_rebirth_ms = Some(received_ms);
                out.rebirth = Some(ncmd);
            }
        }
        out
    }
}

fn bd_seq(payload: &Payload) -> Option<u64> {
    payload.metrics.iter().find(|m| m.name.as_deref() == Some("bdSeq")).and_then(|m| match m.value {
        Some(MetricValue::Long(v)) => Some(v),
        Some(MetricValue::Int(v)) => Some(u64::from(v)),
        _ => None,
    })
}

/// The NCMD payload that asks an edge node for a rebirth.
pub fn rebirth_payload(now_ms: i64) -> Vec<u8> {
    let ts = u64::try_from(now_ms).unwrap_or(0);
    Payload {
        timestamp: Some(ts),
        metrics: vec![proto::Metric {
            name: Some(REBIRTH_METRIC.to_owned()),
            timestamp: Some(ts),
            datatype: Some(dt::BOOLEAN),
            value: Some(MetricValue::Boolean(true)),
            ..proto::Metric::default()
        }],
        ..Payload::default()
    }
    .encode_to_vec()
}

/// The retained STATE message of a host application (Sparkplug 3.0 JSON form).
pub fn state_payload(online: bool, timestamp_ms: i64) -> Vec<u8> {
    format!(r#"{{"online":{online},"timestamp":{timestamp_ms}}}"#).into_bytes()
}

fn value_kind(datatype: u32) -> ValueKind {
    match datatype {
        dt::INT8
        | dt::INT16
        | dt::INT32
        | dt::INT64
        | dt::UINT8
        | dt::UINT16
        | dt::UINT32
        | dt::UINT64
        | dt::DATETIME => ValueKind::Int,
        dt::FLOAT | dt::DOUBLE => ValueKind::Float,
        dt::BOOLEAN => ValueKind::Bool,
        dt::STRING | dt::TEXT | dt::UUID => ValueKind::String,
        _ => ValueKind::Raw,
    }
}

/// The `engUnit` (Ignition) or `Unit` property of a metric, if any.
fn unit_of(metric: &proto::Metric) -> Option<Arc<str>> {
    let props = metric.properties.as_ref()?;
    props.keys.iter().zip(&props.values).find_map(|(k, v)| match (k.as_str(), &v.value) {
        ("engUnit" | "Unit" | "unit", Some(PropertyValueKind::String(s))) if !s.is_empty() => {
            Some(Arc::from(s.as_str()))
        }
        _ => None,
    })
}

/// The `Quality` property (OPC DA codes as Ignition sends them: 192 good, 64–127 uncertain, below 64 bad).
fn quality_of(metric: &proto::Metric) -> Quality {
    let Some(props) = metric.properties.as_ref() else { return Quality::Good };
    let code = props.keys.iter().zip(&props.values).find_map(|(k, v)| match (k.as_str(), &v.value) {
        ("Quality" | "quality", Some(PropertyValueKind::Int(q))) => Some(u64::from(*q)),
        ("Quality" | "quality", Some(PropertyValueKind::Long(q))) => Some(*q),
        _ => None,
    });
    match code {
        None => Quality::Good,
        Some(q) if q >= 192 => Quality::Good,
        Some(q) if q >= 64 => Quality::Uncertain,
        Some(_) => Quality::Bad,
    }
}

fn sample_of(
    metric: &proto::Metric,
    known: &Known,
    payload_ts: Option<u64>,
    received_ms: i64,
) -> Result<Sample, String> {
    let (ts_ms, time_source) = match metric.timestamp.or(payload_ts).and_then(|t| i64::try_from(t).ok()) {
        Some(t) => (t, TimeSource::Source),
        None => (received_ms, TimeSource::Arrival),
    };
    let mut quality = quality_of(metric);
    let value = if metric.is_null == Some(true) {
        quality = Quality::Bad;
        Value::Raw(Arc::from("null"))
    } else {
        let Some(v) = &metric.value else { return Err("no value and not marked null".to_owned()) };
        decode_value(known.datatype, v)?
    };
    if !value.is_finite() {
        return Err(format!("value {value} is not a finite number"));
    }
    Ok(Sample {
        signal: known.id.clone(),
        ts_ms,
        value,
        quality,
        time_source,
        historical: metric.is_historical == Some(true),
    })
}

/// A metric value in its declared data type. Integers arrive as unsigned wire values; signed types are two's
/// complement in the low bits.
pub fn decode_value(datatype: u32, v: &MetricValue) -> Result<Value, String> {
    #[expect(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
    let value = match (datatype, v) {
        (dt::INT8, MetricValue::Int(i)) => Value::I64(i64::from(*i as i8)),
        (dt::INT16, MetricValue::Int(i)) => Value::I64(i64::from(*i as i16)),
        (dt::INT32, MetricValue::Int(i)) => Value::I64(i64::from(*i as i32)),
        // Some edge nodes send 64-bit types in int_value when the value is small; accept both.
        (dt::UINT8 | dt::UINT16 | dt::UINT32 | dt::INT64 | dt::UINT64 | dt::DATETIME, MetricValue::Int(i)) => {
            Value::I64(i64::from(*i))
        }
        (dt::INT64 | dt::DATETIME, MetricValue::Long(l)) => Value::I64(*l as i64),
        #[expect(clippy::cast_precision_loss)]
        (dt::UINT64, MetricValue::Long(l)) => i64::try_from(*l).map_or(Value::F64(*l as f64), Value::I64),
        (dt::FLOAT, MetricValue::Float(f)) => Value::F64(f64::from(*f)),
        (dt::DOUBLE | dt::FLOAT, MetricValue::Double(d)) => Value::F64(*d),
        (dt::BOOLEAN, MetricValue::Boolean(b)) => Value::Bool(*b),
        (dt::STRING | dt::TEXT | dt::UUID, MetricValue::String(s)) => Value::Str(Arc::from(s.as_str())),
        (dt::BYTES | dt::FILE, MetricValue::Bytes(b)) => Value::Raw(Arc::from(bytes_text(b).as_str())),
        (dt::INT8_ARRAY..=dt::DATETIME_ARRAY, MetricValue::Bytes(b)) => {
            Value::Raw(Arc::from(array_text(datatype, b)?.as_str()))
        }
        (dt::DATASET, MetricValue::DataSet(d)) => Value::Raw(Arc::from(dataset_text(d).as_str())),
        (dt::TEMPLATE, MetricValue::Template(t)) => Value::Raw(Arc::from(
            format!("Template {} ({} metrics)", t.template_ref.as_deref().unwrap_or("definition"), t.metrics.len())
                .as_str(),
        )),
        (dt::PROPERTY_SET | dt::PROPERTY_SET_LIST, _) => Value::Raw(Arc::from("PropertySet")),
        (_, other) => return Err(format!("data type {datatype} does not match a {} value", wire_name(other))),
    };
    Ok(value)
}

fn wire_name(v: &MetricValue) -> &'static str {
    match v {
        MetricValue::Int(_) => "int",
        MetricValue::Long(_) => "long",
        MetricValue::Float(_) => "float",
        MetricValue::Double(_) => "double",
        MetricValue::Boolean(_) => "boolean",
        MetricValue::String(_) => "string",
        MetricValue::Bytes(_) => "bytes",
        MetricValue::DataSet(_) => "DataSet",
        MetricValue::Template(_) => "Template",
        MetricValue::Extension(_) => "extension",
    }
}

fn bytes_text(b: &[u8]) -> String {
    let mut s = format!("{} bytes", b.len());
    if !b.is_empty() {
        s.push_str(": ");
        for byte in b.iter().take(16) {
            let _ = write!(s, "{byte:02x}");
        }
        if b.len() > 16 {
            s.push('…');
        }
    }
    s
}

/// Sparkplug arrays: little-endian packed elements; booleans as a 4-byte count then bits, most significant first;
/// strings NUL-terminated.
fn array_text(datatype: u32, b: &[u8]) -> Result<String, String> {
    fn chunks<const N: usize>(b: &[u8]) -> Result<impl Iterator<Item = [u8; N]> + '_, String> {
        if !b.len().is_multiple_of(N) {
            return Err(format!("array of {} bytes is not a whole number of {N}-byte elements", b.len()));
        }
        Ok(b.chunks_exact(N).map(|c| {
            let mut a = [0_u8; N];
            a.copy_from_slice(c);
            a
        }))
    }
    let items: Vec<String> = match datatype {
        dt::INT8_ARRAY => b.iter().map(|x| i8::from_le_bytes([*x]).to_string()).collect(),
        dt::UINT8_ARRAY => b.iter().map(u8::to_string).collect(),
        dt::INT16_ARRAY => chunks::<2>(b)?.map(|c| i16::from_le_bytes(c).to_string()).collect(),
        dt::UINT16_ARRAY => chunks::<2>(b)?.map(|c| u16::from_le_bytes(c).to_string()).collect(),
        dt::INT32_ARRAY => chunks::<4>(b)?.map(|c| i32::from_le_bytes(c).to_string()).collect(),
        dt::UINT32_ARRAY => chunks::<4>(b)?.map(|c| u32::from_le_bytes(c).to_string()).collect(),
        dt::INT64_ARRAY | dt::DATETIME_ARRAY => chunks::<8>(b)?.map(|c| i64::from_le_bytes(c).to_string()).collect(),
        dt::UINT64_ARRAY => chunks::<8>(b)?.map(|c| u64::from_le_bytes(c).to_string()).collect(),
        dt::FLOAT_ARRAY => chunks::<4>(b)?.map(|c| f32::from_le_bytes(c).to_string()).collect(),
        dt::DOUBLE_ARRAY => chunks::<8>(b)?.map(|c| f64::from_le_bytes(c).to_string()).collect(),
        dt::BOOLEAN_ARRAY => {
            let (count, bits) = b.split_at_checked(4).ok_or("boolean array shorter than its 4-byte count")?;
            let count = u32::from_le_bytes([count[0], count[1], count[2], count[3]]) as usize;
            if bits.len() * 8 < count {
                return Err(format!("boolean array of {count} needs {} bytes, has {}", count.div_ceil(8), bits.len()));
            }
            (0..count).map(|i| ((bits[i / 8] >> (7 - i % 8)) & 1 == 1).to_string()).collect()
        }
        dt::STRING_ARRAY => {
            let body = b.strip_suffix(&[0]).unwrap_or(b);
            body.split(|x| *x == 0).map(|s| format!("{:?}", String::from_utf8_lossy(s))).collect()
        }
        other => return Err(format!("data type {other} is not an array")),
    };
    Ok(format!("[{}]", items.join(", ")))
}

fn dataset_text(d: &proto::DataSet) -> String {
    format!("DataSet {} rows × {} columns ({})", d.rows.len(), d.columns.len(), d.columns.join(", "))
}

#[cfg(test)]
mod tests;
