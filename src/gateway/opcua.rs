//! The simulator served as an OPC UA server (async-opcua, pure Rust): every signal a variable in folders named by
//! its path (`Objects/PlantA/Line1/Filler/State`), node ids `nsu=urn:watchfloor:sim;s=<signal id>`, source
//! timestamps and status codes from the samples, and history (`HistoryRead` raw) of the last values kept in memory.
//!
//! Endpoints: None (anonymous), and `Basic256Sha256`, `Aes128_Sha256_RsaOaep`, `Aes256_Sha256_RsaPss` with
//! `SignAndEncrypt` (anonymous, or the user given). The server's certificate is made on first start in its PKI
//! directory; client certificates are trusted as they come (a demo server).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use opcua::server::address_space::{AccessLevel, AddressSpace, VariableBuilder};
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::memory::{InMemoryNodeManager, InMemoryNodeManagerBuilder, InMemoryNodeManagerImpl};
use opcua::server::node_manager::{HistoryNode, RequestContext, ServerContext};
use opcua::server::{ANONYMOUS_USER_TOKEN_ID, ContinuationPoint, ServerBuilder, ServerEndpoint, ServerUserToken};
use opcua::types::{
    DataTypeId, DataValue, DateTime, HistoryData, MessageSecurityMode, NodeId, QualifiedName, ReadRawModifiedDetails,
    StatusCode, TimestampsToReturn, VariableTypeId, Variant,
};
use tokio::sync::{broadcast, watch};

use super::Update;
use crate::feeds::opcua::ua_time;
use crate::model::{Quality, Sample, SignalMeta, Value, ValueKind};

/// The namespace of the simulator's nodes.
pub const NAMESPACE: &str = "urn:watchfloor:sim";
/// Values kept per variable for `HistoryRead`: 10 minutes at 10 a second.
const HISTORY_DEPTH: usize = 6_000;

/// What `watchfloor gateway --opcua` serves.
#[derive(Clone, Debug)]
pub struct OpcUaServe {
    pub addr: SocketAddr,
    /// Where the server keeps its certificate and the clients' (`own/`, `private/`, `trusted/`, `rejected/`).
    pub pki_dir: PathBuf,
    /// A user (name, password) besides anonymous.
    pub user: Option<(String, String)>,
}

/// The simulator's node manager: the address space is the crate's in-memory one; history is added here.
pub struct SimNodes {
    ns: u16,
    history: opcua::sync::RwLock<HashMap<NodeId, VecDeque<DataValue>>>,
}

type SimManager = InMemoryNodeManager<SimNodes>;

/// Where a paged `HistoryRead` goes on: after this source time (ticks), in this direction.
struct Resume {
    after: i64,
    forward: bool,
}

impl SimNodes {
    fn record(&self, id: &NodeId, value: DataValue) {
        let mut history = self.history.write();
        let kept = history.entry(id.clone()).or_default();
        if kept.len() >= HISTORY_DEPTH {
            kept.pop_front();
        }
        kept.push_back(value);
    }
}

fn ticks(v: &DataValue) -> i64 {
    v.source_timestamp.as_ref().map_or(0, DateTime::checked_ticks)
}

#[async_trait::async_trait]
impl InMemoryNodeManagerImpl for SimNodes {
    async fn init(&self, _address_space: &mut AddressSpace, _context: ServerContext) {}

    fn name(&self) -> &str {
        "watchfloor-sim"
    }

    fn namespaces(&self) -> Vec<NamespaceMetadata> {
        vec![NamespaceMetadata {
            namespace_uri: NAMESPACE.to_owned(),
            namespace_index: self.ns,
            is_namespace_subset: Some(false),
            ..Default::default()
        }]
    }

    /// Raw history of the kept values: forward when the start is before the end, backward otherwise, in pages of
    /// `num_values_per_node` with a continuation point.
    async fn history_read_raw_modified(
        &self,
        _context: &RequestContext,
        details: &ReadRawModifiedDetails,
        nodes: &mut [&mut &mut HistoryNode],
        _timestamps_to_return: TimestampsToReturn,
    ) -> Result<(), StatusCode> {
        if details.is_read_modified {
            return Err(StatusCode::BadHistoryOperationUnsupported);
        }
        let (start, end) = (&details.start_time, &details.end_time);
        if start.is_null() && end.is_null() {
            return Err(StatusCode::BadHistoryOperationInvalid);
        }
        let forward = !start.is_null() && (end.is_null() || start.checked_ticks() <= end.checked_ticks());
        let lo = if start.is_null() { 0 } else { start.checked_ticks() };
        let hi = if end.is_null() { i64::MAX } else { end.checked_ticks() };
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        let page = if details.num_values_per_node == 0 { usize::MAX } else { details.num_values_per_node as usize };
        let history = self.history.read();
        for node in nodes.iter_mut() {
            let resume = match node.continuation_point().map(|cp| cp.get::<Resume>().map(|r| (r.after, r.forward))) {
                None => None,
                Some(Some((after, f))) if f == forward => Some(after),
                Some(_) => {
                    node.set_status(StatusCode::BadContinuationPointInvalid);
                    continue;
                }
            };
            let kept = history.get(node.node_id());
            let wanted = |v: &&DataValue| {
                let t = ticks(v);
                t >= lo && t <= hi && resume.is_none_or(|r| if forward { t > r } else { t < r })
            };
            let mut out: Vec<DataValue> = match kept {
                None => Vec::new(),
                Some(k) if forward => k.iter().filter(wanted).take(page.saturating_add(1)).cloned().collect(),
                Some(k) => k.iter().rev().filter(wanted).take(page.saturating_add(1)).cloned().collect(),
            };
            if out.len() > page {
                out.truncate(page);
                let after = out.last().map_or(0, ticks);
                node.set_next_continuation_point(Some(ContinuationPoint::new(Box::new(Resume { after, forward }))));
            }
            node.set_result(HistoryData { data_values: Some(out) });
            node.set_status(StatusCode::Good);
        }
        Ok(())
    }
}

/// A sample as an OPC UA value: its value, source time and status.
fn data_value(sample: &Sample) -> DataValue {
    let value: Variant = match &sample.value {
        Value::F64(v) => (*v).into(),
        Value::I64(v) => (*v).into(),
        Value::Bool(v) => (*v).into(),
        Value::Str(s) | Value::Raw(s) => s.as_ref().into(),
    };
    let status = match sample.quality {
        Quality::Good => StatusCode::Good,
        Quality::Uncertain => StatusCode::Uncertain,
        Quality::Bad => StatusCode::Bad,
    };
    let t = ua_time(sample.ts_ms);
    DataValue {
        value: Some(value),
        status: Some(status),
        source_timestamp: Some(t),
        source_picoseconds: None,
        server_timestamp: Some(t),
        server_picoseconds: None,
    }
}

/// The engineering range of a simulated number, by its unit (none for positions, times and counts).
fn eu_range(meta: &SignalMeta) -> Option<(f64, f64)> {
    if meta.kind != ValueKind::Float {
        return None;
    }
    match meta.unit.as_deref()? {
        "%" => Some((0.0, 100.0)),
        "°C" => Some((-40.0, 200.0)),
        "km/h" => Some((0.0, 130.0)),
        "V" => Some((0.0, 1_000.0)),
        _ => None,
    }
}

fn data_type(kind: ValueKind) -> DataTypeId {
    match kind {
        ValueKind::Float => DataTypeId::Double,
        ValueKind::Int => DataTypeId::Int64,
        ValueKind::Bool => DataTypeId::Boolean,
        ValueKind::String | ValueKind::Raw => DataTypeId::String,
    }
}

/// The node id of a signal in the simulator's namespace.
pub fn node_of(ns: u16, signal: &str) -> NodeId {
    NodeId::new(ns, signal)
}

/// Fills the address space: a folder per path prefix under Objects, a variable per signal (readable, historized).
fn build(meta: &[SignalMeta], values: &[Sample], context: &ServerContext, space: &mut AddressSpace) -> SimNodes {
    let ns = opcua::server::address_space::add_namespaces(context, space, &[NAMESPACE])[0];
    let initial: HashMap<&str, &Sample> = values.iter().map(|s| (s.signal.as_str(), s)).collect();
    let access = AccessLevel::CURRENT_READ | AccessLevel::HISTORY_READ;
    let mut folders: std::collections::HashSet<String> = std::collections::HashSet::new();
    for m in meta {
        let id = m.id.as_str();
        let parts: Vec<&str> = id.split('/').filter(|p| !p.is_empty()).collect();
        let Some((name, path)) = parts.split_last() else { continue };
        let mut parent = NodeId::objects_folder_id();
        for depth in 1..=path.len() {
            let prefix = path[..depth].join("/");
            let folder = NodeId::new(ns, format!("{prefix}/"));
            if folders.insert(prefix) {
                let name = path[depth - 1];
                space.add_folder(&folder, QualifiedName::new(ns, name), name, &parent);
            }
            parent = folder;
        }
        let value = initial.get(id).map_or_else(DataValue::null, |s| data_value(s));
        VariableBuilder::new(&node_of(ns, id), QualifiedName::new(ns, *name), *name)
            .data_type(data_type(m.kind))
            .value(value.value.clone().unwrap_or(Variant::Empty))
            .access_level(access)
            .user_access_level(access)
            .historizing(true)
            .minimum_sampling_interval(100.0)
            .has_type_definition(VariableTypeId::BaseDataVariableType)
            .organized_by(parent)
            .insert(space);
        if let Some((low, high)) = eu_range(m) {
            // The range a percent deadband is taken of, as OPC UA analog items carry it.
            let range = opcua::types::Range { low, high };
            VariableBuilder::new(
                &NodeId::new(ns, format!("{id}#EURange")),
                QualifiedName::new(0, "EURange"),
                "EURange",
            )
            .data_type(DataTypeId::Range)
            .value(Variant::from(opcua::types::ExtensionObject::from_message(range)))
            .access_level(AccessLevel::CURRENT_READ)
            .user_access_level(AccessLevel::CURRENT_READ)
            .has_type_definition(VariableTypeId::PropertyType)
            .property_of(node_of(ns, id))
            .insert(space);
        }
    }
    SimNodes { ns, history: opcua::sync::RwLock::default() }
}

/// The server with its endpoints and the simulator's address space (not yet running).
fn build_server(
    options: &OpcUaServe,
    meta: Vec<SignalMeta>,
    values: Vec<Sample>,
) -> anyhow::Result<(opcua::server::Server, opcua::server::ServerHandle)> {
    let mut users = vec![ANONYMOUS_USER_TOKEN_ID.to_owned()];
    let mut builder = ServerBuilder::new()
        .application_name("Watchfloor simulator")
        .application_uri("urn:watchfloor:sim:server")
        .product_uri("urn:watchfloor:sim:server")
        .host(options.addr.ip().to_string())
        .port(options.addr.port())
        .pki_dir(&options.pki_dir)
        .create_sample_keypair(true)
        .certificate_path("own/cert.der")
        .private_key_path("private/private.pem")
        .trust_client_certs(true)
        .discovery_urls(vec![format!("opc.tcp://{}/", options.addr)]);
    // A whole plant in one subscription (the default allows a thousand items), and room for its changes in one
    // message (the default is 320 KiB).
    builder.limits_mut().subscriptions.max_monitored_items_per_sub = 200_000;
    builder = builder.max_message_size(64 * 1024 * 1024).max_chunk_count(4_096).max_array_length(1_000_000);
    if let Some((name, password)) = &options.user {
        builder = builder.add_user_token(name, ServerUserToken::user_pass(name, password));
        users.push(name.clone());
    }
    use opcua::crypto::SecurityPolicy as P;
    builder = builder.add_endpoint(
        "none",
        ServerEndpoint::new("/", P::None, MessageSecurityMode::None, &[ANONYMOUS_USER_TOKEN_ID.to_owned()]),
    );
    for (id, policy) in
        [("basic256sha256", P::Basic256Sha256), ("aes128", P::Aes128Sha256RsaOaep), ("aes256", P::Aes256Sha256RsaPss)]
    {
        for (suffix, mode) in [("sign", MessageSecurityMode::Sign), ("encrypt", MessageSecurityMode::SignAndEncrypt)] {
            builder = builder.add_endpoint(format!("{id}_{suffix}"), ServerEndpoint::new("/", policy, mode, &users));
        }
    }
    builder
        .with_node_manager(InMemoryNodeManagerBuilder::new(move |context, space: &mut AddressSpace| {
            build(&meta, &values, &context, space)
        }))
        .build()
        .map_err(|err| anyhow::anyhow!("the OPC UA server cannot be built: {err}"))
}

/// Sets the samples' values (which notifies the subscriptions) and keeps them for history.
fn set(nodes: &SimManager, subscriptions: &opcua::server::SubscriptionCache, ns: u16, samples: &[Sample]) {
    let changes: Vec<(NodeId, DataValue)> =
        samples.iter().map(|s| (node_of(ns, s.signal.as_str()), data_value(s))).collect();
    for (id, value) in &changes {
        nodes.inner().record(id, value.clone());
    }
    let set = changes.iter().map(|(id, value)| (id, None, value.clone()));
    if let Err(err) = nodes.set_values(subscriptions, set) {
        tracing::warn!("OPC UA server: values not set: {err}");
    }
}

/// Serves the simulator's updates until `shutdown`: the address space is made from the birth, then every sample
/// is set (which notifies the subscriptions) and kept for history.
pub async fn serve(
    options: OpcUaServe,
    mut updates: broadcast::Receiver<Arc<Update>>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let birth = loop {
        match updates.recv().await {
            Ok(update) => {
                if let Update::Birth { meta, values } = update.as_ref() {
                    break (meta.clone(), values.clone());
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        }
    };
    let (meta, values) = birth;
    let initial = values.clone();
    let (server, handle) = build_server(&options, meta, values)?;
    let nodes =
        handle.node_managers().get_of_type::<SimManager>().context("the simulator's node manager is missing")?;
    let ns = nodes.inner().ns;
    let subscriptions = handle.subscriptions().clone();
    // The birth's values with their own times (the address space stamped them when it was built).
    set(&nodes, &subscriptions, ns, &initial);
    let running = tokio::spawn(server.run());
    tracing::info!(addr = %options.addr, namespace = NAMESPACE, "OPC UA server");
    loop {
        tokio::select! {
            update = updates.recv() => match update {
                Ok(update) => {
                    if let Update::Samples(samples) = update.as_ref() {
                        set(&nodes, &subscriptions, ns, samples);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!("OPC UA server fell behind: {n} updates lost"),
                Err(broadcast::error::RecvError::Closed) => break,
            },
            changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() { break },
        }
    }
    handle.cancel();
    match running.await {
        Ok(Ok(())) | Err(_) => Ok(()),
        Ok(Err(err)) => Err(anyhow::anyhow!("the OPC UA server stopped: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_convert_to_opc_ua_ticks() {
        // 2026-01-01T00:00:00Z
        let t = ua_time(1_767_225_600_000);
        assert_eq!(t.checked_ticks(), (1_767_225_600_000 + 11_644_473_600_000) * 10_000);
        let sample = Sample {
            quality: Quality::Uncertain,
            ..Sample::new(crate::model::SignalId::new("a/b"), 1_000, Value::F64(2.5))
        };
        let v = data_value(&sample);
        assert_eq!((v.value, v.status), (Some(Variant::Double(2.5)), Some(StatusCode::Uncertain)));
    }
}
