//! Monitored items in the server's batch size, with deadbands (absolute, or percent of an item's `EURange`).

use super::*;

/// The server's `MaxMonitoredItemsPerCall` (the default when it does not say).
pub(super) async fn items_per_call(session: &Session) -> usize {
    let id = NodeId::from(VariableId::Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall);
    let read = session.read(&[ReadValueId::new_value(id)], TimestampsToReturn::Neither, 0.0).await;
    match read.ok().and_then(|v| v.into_iter().next()).and_then(|v| v.value) {
        Some(Variant::UInt32(n)) if n > 0 => n as usize,
        _ => DEFAULT_ITEMS_PER_CALL,
    }
}

/// The nodes among `mapped` that have an `EURange` property (asked in batches of `per_call`).
pub(super) async fn with_eu_range(
    session: &Session,
    mapped: &[(NodeId, Arc<str>)],
    per_call: usize,
) -> std::collections::HashSet<NodeId> {
    use opcua::types::{BrowsePath, QualifiedName, RelativePath, RelativePathElement};
    let mut out = std::collections::HashSet::new();
    for chunk in mapped.chunks(per_call) {
        let paths: Vec<BrowsePath> = chunk
            .iter()
            .map(|(node, _)| BrowsePath {
                starting_node: node.clone(),
                relative_path: RelativePath {
                    elements: Some(vec![RelativePathElement {
                        reference_type_id: ReferenceTypeId::HasProperty.into(),
                        is_inverse: false,
                        include_subtypes: true,
                        target_name: QualifiedName::new(0, "EURange"),
                    }]),
                },
            })
            .collect();
        match session.translate_browse_paths_to_node_ids(&paths).await {
            Ok(results) => {
                for (result, (node, _)) in results.iter().zip(chunk) {
                    if result.status_code.is_good() && result.targets.as_ref().is_some_and(|t| !t.is_empty()) {
                        out.insert(node.clone());
                    }
                }
            }
            Err(err) => tracing::warn!("OPC UA: which nodes have an EURange could not be asked: {err}"),
        }
    }
    out
}

/// The data change filter of an absolute `deadband`. With none, every value counts, also one that repeats the
/// last with a new time (a heartbeat, a count that did not move): the history then holds every sample the server
/// made.
pub fn value_filter(deadband: f64) -> ExtensionObject {
    ExtensionObject::from_message(if deadband > 0.0 {
        DataChangeFilter {
            trigger: DataChangeTrigger::StatusValue,
            deadband_type: DeadbandType::Absolute as u32,
            deadband_value: deadband,
        }
    } else {
        DataChangeFilter {
            trigger: DataChangeTrigger::StatusValueTimestamp,
            deadband_type: DeadbandType::None as u32,
            deadband_value: 0.0,
        }
    })
}

/// Creates the subscription and its monitored items in batches; returns what the server granted, in words.
pub(super) async fn subscribe(
    config: &OpcUaGateway,
    session: &Arc<Session>,
    mapped: &[(NodeId, Arc<str>)],
    tx: mpsc::Sender<Arrived>,
) -> Result<String, String> {
    let signals: Arc<HashMap<NodeId, Arc<str>>> = Arc::new(mapped.iter().cloned().collect());
    let lookup = Arc::clone(&signals);
    let callback = DataChangeCallback::new(move |value, item| {
        if let Some(signal) = lookup.get(&item.item_to_monitor().node_id) {
            // A full queue means the app cannot keep up: the value is dropped here and the queue is counted full.
            let _ = tx.try_send((Arc::clone(signal), value));
        }
    });
    let interval = Duration::from_secs_f64((config.sampling_ms / 1000.0).max(0.05));
    let id = session
        .create_subscription(
            interval,
            6 * KEEP_ALIVE_COUNT,
            KEEP_ALIVE_COUNT,
            MAX_NOTIFICATIONS_PER_PUBLISH,
            0,
            true,
            callback,
        )
        .await
        .map_err(|e| format!("the subscription was refused: {e}"))?;
    let absolute = value_filter(config.deadband);
    let per_call = items_per_call(session).await;
    // A percent deadband only where the server knows the range (`EURange`); the other items keep the absolute one.
    let ranged =
        if config.deadband_percent > 0.0 { with_eu_range(session, mapped, per_call).await } else { Default::default() };
    let percent = ExtensionObject::from_message(DataChangeFilter {
        trigger: DataChangeTrigger::StatusValue,
        deadband_type: DeadbandType::Percent as u32,
        deadband_value: config.deadband_percent,
    });
    let (mut granted_ms, mut granted_queue, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    for chunk in mapped.chunks(per_call) {
        let requests: Vec<MonitoredItemCreateRequest> = chunk
            .iter()
            .map(|(node, _)| MonitoredItemCreateRequest {
                item_to_monitor: ReadValueId::new(node.clone(), AttributeId::Value),
                monitoring_mode: MonitoringMode::Reporting,
                requested_parameters: MonitoringParameters {
                    client_handle: 0,
                    sampling_interval: config.sampling_ms,
                    queue_size: config.queue_size,
                    discard_oldest: true,
                    filter: if ranged.contains(node) { percent.clone() } else { absolute.clone() },
                },
            })
            .collect();
        let created = session
            .create_monitored_items(id, TimestampsToReturn::Both, requests)
            .await
            .map_err(|e| format!("monitored items were refused: {e}"))?;
        for (c, (node, signal)) in created.iter().zip(chunk) {
            if c.result.status_code.is_good() {
                granted_ms.push(c.result.revised_sampling_interval);
                granted_queue.push(c.result.revised_queue_size);
            } else {
                refused.push(format!("{signal} ({node}): {}", c.result.status_code));
            }
        }
    }
    for r in refused.iter().take(20) {
        tracing::warn!("OPC UA item refused: {r}");
    }
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        if v.is_empty() {
            "-".to_owned()
        } else if lo == hi {
            format!("{lo} ms")
        } else {
            format!("{lo}–{hi} ms")
        }
    };
    let queues: Vec<f64> = granted_queue.iter().map(|q| f64::from(*q)).collect();
    let mut words = format!(
        "sampling {} granted (asked {} ms), queue {}",
        range(&granted_ms),
        config.sampling_ms,
        range(&queues).trim_end_matches(" ms")
    );
    if config.deadband_percent > 0.0 {
        words.push_str(&format!(
            "; deadband {} % of range on {} of {} items (the rest have no EURange)",
            config.deadband_percent,
            ranged.len(),
            mapped.len()
        ));
    }
    if !refused.is_empty() {
        words.push_str(&format!("; {} item(s) refused, e.g. {}", refused.len(), refused[0]));
    }
    Ok(words)
}
