//! After a cut: the gap filled by `HistoryRead` (only values newer than each item's last), and the watchdog that
//! finds items gone silent while the rest flows.

use super::*;

/// Publishes, as history, what the server kept of the gap since the last values.
pub(super) async fn fill_gap(
    ctx: &FeedContext,
    config: &OpcUaGateway,
    session: &Session,
    mapped: &[(NodeId, Arc<str>)],
    times: &mut Times,
) {
    let filled = backfill(session, mapped, times).await;
    if !filled.is_empty() {
        tracing::info!(gateway = %ctx.gateway, values = filled.len(), "OPC UA gap filled from the server's history");
        publish(ctx, &config.link.limits, filled, true).await;
    }
}

/// Per item staleness (`item_stale_after`): when each signal was last heard, and which are shown stale.
pub(super) struct ItemWatch {
    pub(super) after_ms: Option<i64>,
    pub(super) heard: HashMap<Arc<str>, (i64, bool)>,
}

impl ItemWatch {
    pub(super) fn new(after_ms: Option<i64>, mapped: &[(NodeId, Arc<str>)], now_ms: i64) -> Self {
        let heard = match after_ms {
            Some(_) => mapped.iter().map(|(_, s)| (Arc::clone(s), (now_ms, false))).collect(),
            None => HashMap::new(),
        };
        Self { after_ms, heard }
    }

    pub(super) fn heard(&mut self, batch: &[Arrived], now_ms: i64) {
        if self.after_ms.is_none() {
            return;
        }
        for (signal, _) in batch {
            if let Some(h) = self.heard.get_mut(signal) {
                *h = (now_ms, false);
            }
        }
    }

    /// The signals silent for longer than allowed and not yet said so (each is then shown stale until it speaks).
    pub(super) fn newly_silent(&mut self, now_ms: i64) -> Vec<String> {
        let Some(after) = self.after_ms else { return Vec::new() };
        let mut out = Vec::new();
        for (signal, (at, said)) in &mut self.heard {
            if !*said && now_ms - *at > after {
                *said = true;
                out.push(signal.to_string());
            }
        }
        if !out.is_empty() {
            tracing::warn!(items = out.len(), first = %out[0], "OPC UA items silent for longer than item_stale_after");
        }
        out
    }
}

/// The newest source time seen per signal, and how far a history backfill covered it.
#[derive(Default)]
pub(super) struct Times {
    pub(super) last: HashMap<Arc<str>, i64>,
    pub(super) covered: HashMap<Arc<str>, i64>,
}

impl Times {
    /// The values not already published by a backfill (a value the server had queued during the gap arrives
    /// both ways); notes the newest time of each signal.
    pub(super) fn keep_new(&mut self, batch: Vec<Arrived>) -> Vec<Arrived> {
        let mut kept = Vec::with_capacity(batch.len());
        for (signal, value) in batch {
            let ts = value.source_timestamp.as_ref().filter(|t| !t.is_null()).map(unix_ms);
            if let (Some(ts), Some(covered)) = (ts, self.covered.get(&signal))
                && ts <= *covered
            {
                continue;
            }
            if let Some(ts) = ts {
                let last = self.last.entry(Arc::clone(&signal)).or_insert(ts);
                *last = (*last).max(ts);
            }
            kept.push((signal, value));
        }
        kept
    }
}

/// After a reconnect: each node's raw history since the last value seen of it, up to now, as far as the server
/// keeps history (a server with none answers with an error per node, and nothing is filled).
pub(super) async fn backfill(session: &Session, mapped: &[(NodeId, Arc<str>)], times: &mut Times) -> Vec<Arrived> {
    use opcua::client::HistoryReadAction;
    use opcua::types::{ByteString, HistoryData, HistoryReadValueId, ReadRawModifiedDetails};
    let now = opcua::types::DateTime::now();
    let mut out = Vec::new();
    for (node, signal) in mapped {
        let Some(last) = times.last.get(signal).copied() else { continue };
        let details = ReadRawModifiedDetails {
            is_read_modified: false,
            start_time: ua_time(last + 1),
            end_time: now,
            num_values_per_node: 1_000,
            return_bounds: false,
        };
        let mut continuation = ByteString::null();
        loop {
            let read = HistoryReadValueId {
                node_id: node.clone(),
                index_range: Default::default(),
                data_encoding: Default::default(),
                continuation_point: continuation.clone(),
            };
            let action = HistoryReadAction::ReadRawModifiedDetails(details.clone());
            let Ok(results) = session.history_read(action, TimestampsToReturn::Both, false, &[read]).await else {
                break;
            };
            let Some(result) = results.into_iter().next() else { break };
            if !result.status_code.is_good() {
                break;
            }
            let values = result.history_data.inner_as::<HistoryData>().and_then(|h| h.data_values.clone());
            for value in values.unwrap_or_default() {
                if let Some(ts) = value.source_timestamp.as_ref().map(unix_ms) {
                    let covered = times.covered.entry(Arc::clone(signal)).or_insert(ts);
                    *covered = (*covered).max(ts);
                    let newest = times.last.entry(Arc::clone(signal)).or_insert(ts);
                    *newest = (*newest).max(ts);
                }
                out.push((Arc::clone(signal), value));
            }
            continuation = result.continuation_point;
            if continuation.is_null() {
                break;
            }
        }
    }
    out
}
