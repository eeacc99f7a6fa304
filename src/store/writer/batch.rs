//! One batch in one transaction: signals, samples (idempotent inserts), what they derive (rollups, latest values,
//! gaps closed, fixes) and the geofence crossings of the new positions.

use super::*;

/// Runs the batch's new positions through the evaluator's geofences, in time order per vehicle, and stores the
/// crossings as `geofence.enter` / `geofence.exit` events (source: the vehicle, message: the zone).
pub(super) fn store_crossings(
    tx: &Transaction<'_>,
    fixes: &Fixes,
    evaluator: &mut dyn Evaluator,
    entries: &mut Vec<AlarmEntry>,
) -> rusqlite::Result<()> {
    if !evaluator.has_geofences() || fixes.is_empty() {
        return Ok(());
    }
    let mut ordered: Vec<(&Arc<str>, i64, f64, f64)> = fixes.whole().collect();
    ordered.sort_unstable_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));
    let mut insert =
        tx.prepare_cached("INSERT OR IGNORE INTO event (ts_ms, kind, source, message) VALUES (?1, ?2, ?3, ?4)")?;
    let mut crossings: Vec<ZoneCrossing> = Vec::new();
    for (vehicle, ts, lat, lon) in ordered {
        evaluator.position(vehicle, (ts, lat, lon), &mut crossings, entries);
        for c in crossings.drain(..) {
            let kind = if c.enter { "geofence.enter" } else { "geofence.exit" };
            insert.execute(params![c.ts_ms, kind, vehicle.as_ref(), c.zone.as_ref()])?;
        }
    }
    Ok(())
}

#[derive(Default, Clone, Copy)]
pub(super) struct BatchCounts {
    pub(super) stored: u64,
    pub(super) duplicates: u64,
}

/// What a batch derives from its samples, written after them in the same transaction.
pub(super) struct Batch {
    pub(super) counts: BatchCounts,
    /// The minute buckets of the values it inserted (the hours are made from them).
    pub(super) rollup_1m: Buckets,
    pub(super) latest: HashMap<i64, LatestRow>,
    /// Earliest sample per signal with an open gap, which closes that gap.
    pub(super) gap_closers: HashMap<i64, i64>,
    /// Latitude and longitude seen per vehicle and time; a fix is stored once both are there.
    pub(super) fixes: Fixes,
}

pub(super) struct LatestRow {
    pub(super) ts_ms: i64,
    pub(super) num: Option<f64>,
    pub(super) text: Option<Arc<str>>,
    pub(super) quality: i64,
}

pub(super) fn batch_events(
    tx: &Transaction<'_>,
    events: &[Arc<FeedEvent>],
    signals: &mut HashMap<Arc<str>, SignalRow>,
    by_gateway: &mut HashMap<Arc<str>, Vec<i64>>,
    open_gaps: &mut HashSet<i64>,
    batch: &mut Batch,
) -> rusqlite::Result<()> {
    let mut upsert_signal = tx.prepare_cached(
        "INSERT INTO signal (name, kind, unit, gateway) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, unit = coalesce(excluded.unit, unit),
             gateway = excluded.gateway
         RETURNING id",
    )?;
    let mut insert_sample = tx.prepare_cached(
        "INSERT OR IGNORE INTO sample (signal, ts_ms, num, text, quality) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut open_gap =
        tx.prepare_cached("INSERT OR IGNORE INTO gap (signal, start_ms, end_ms) VALUES (?1, ?2, NULL)")?;
    let mut insert_event =
        tx.prepare_cached("INSERT OR IGNORE INTO event (ts_ms, kind, source, message) VALUES (?1, ?2, ?3, ?4)")?;

    for event in events {
        let gateway = &event.gateway;
        match &event.body {
            FeedEventBody::Birth(metas) => {
                for meta in metas {
                    let id: i64 = upsert_signal.query_row(
                        params![meta.id.as_str(), kind_name(meta.kind), meta.unit.as_deref(), gateway.as_ref()],
                        |r| r.get(0),
                    )?;
                    if signals.insert(Arc::from(meta.id.as_str()), SignalRow { id }).is_none() {
                        by_gateway.entry(Arc::clone(gateway)).or_default().push(id);
                    }
                }
            }
            FeedEventBody::Samples(samples) => {
                for sample in samples {
                    let id = match signals.get(sample.signal.as_str()) {
                        Some(row) => row.id,
                        None => {
                            // A signal never announced: stored with the kind of its first value and no unit.
                            let id: i64 = upsert_signal.query_row(
                                params![
                                    sample.signal.as_str(),
                                    kind_name(sample.value.kind()),
                                    Option::<&str>::None,
                                    gateway.as_ref()
                                ],
                                |r| r.get(0),
                            )?;
                            signals.insert(Arc::from(sample.signal.as_str()), SignalRow { id });
                            by_gateway.entry(Arc::clone(gateway)).or_default().push(id);
                            id
                        }
                    };
                    let (num, text) = columns(&sample.value);
                    let quality = quality_code(sample.quality);
                    let inserted = insert_sample.execute(params![id, sample.ts_ms, num, text, quality])? == 1;
                    if inserted {
                        batch.counts.stored += 1;
                        batch.add(id, sample, num, quality, open_gaps);
                    } else {
                        batch.counts.duplicates += 1;
                    }
                }
            }
            FeedEventBody::Stale { prefix } => {
                for (name, row) in signals.iter() {
                    if name.starts_with(prefix.as_str()) && open_gaps.insert(row.id) {
                        open_gap.execute(params![row.id, event.received_ms])?;
                    }
                }
                insert_event.execute(params![event.received_ms, "feed.stale", gateway.as_ref(), prefix])?;
            }
            FeedEventBody::Status(status) => {
                let message = match &status.message {
                    Some(m) => format!("{}: {m}", status.state.label()),
                    None => status.state.label().to_owned(),
                };
                insert_event.execute(params![event.received_ms, "feed.status", gateway.as_ref(), message])?;
                if matches!(status.state, FeedState::Offline | FeedState::Error) {
                    for id in by_gateway.get(gateway).map(Vec::as_slice).unwrap_or_default() {
                        if open_gaps.insert(*id) {
                            open_gap.execute(params![id, event.received_ms])?;
                        }
                    }
                }
            }
            FeedEventBody::Rejected { reason } => {
                insert_event.execute(params![event.received_ms, "feed.rejected", gateway.as_ref(), reason])?;
            }
        }
    }
    Ok(())
}

impl Batch {
    pub(super) fn new() -> Self {
        Self {
            counts: BatchCounts::default(),
            rollup_1m: Buckets::new(MINUTE_MS),
            latest: HashMap::new(),
            gap_closers: HashMap::new(),
            fixes: Fixes::default(),
        }
    }

    pub(super) fn add(&mut self, id: i64, sample: &Sample, num: Option<f64>, quality: i64, open_gaps: &HashSet<i64>) {
        // Bad values are kept raw and shown as bad, but do not enter the statistics.
        if let Some(v) = num
            && sample.quality != Quality::Bad
        {
            self.rollup_1m.add(id, sample.ts_ms, v);
        }
        if !sample.historical {
            let newer = self.latest.get(&id).is_none_or(|l| sample.ts_ms >= l.ts_ms);
            if newer {
                let text = sample.value.as_str().map(Arc::from);
                self.latest.insert(id, LatestRow { ts_ms: sample.ts_ms, num, text, quality });
            }
        }
        if open_gaps.contains(&id) {
            let closer = self.gap_closers.entry(id).or_insert(sample.ts_ms);
            *closer = (*closer).min(sample.ts_ms);
        }
        self.fixes.note(sample, num);
    }

    pub(super) fn write_derived(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        for (table, buckets) in self.rollup_1m.tiers() {
            let mut upsert = tx.prepare_cached(&format!(
                "INSERT INTO {table} ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) {}",
                rollup::COLUMNS,
                rollup::merge_on_conflict(Dialect::Sqlite, table)
            ))?;
            for (&(id, start), a) in &buckets.by_key {
                upsert.execute(params![
                    id, start, a.min, a.max, a.sum, a.count, a.first_ms, a.first, a.last_ms, a.last
                ])?;
            }
        }
        let mut latest = tx.prepare_cached(
            "INSERT INTO latest (signal, ts_ms, num, text, quality) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (signal) DO UPDATE SET ts_ms = excluded.ts_ms, num = excluded.num, text = excluded.text,
                 quality = excluded.quality
             WHERE excluded.ts_ms >= latest.ts_ms",
        )?;
        for (id, l) in &self.latest {
            latest.execute(params![id, l.ts_ms, l.num, l.text.as_deref(), l.quality])?;
        }
        let mut close_gap =
            tx.prepare_cached("UPDATE gap SET end_ms = ?2 WHERE signal = ?1 AND end_ms IS NULL AND start_ms <= ?2")?;
        for (id, ts) in &self.gap_closers {
            close_gap.execute(params![id, ts])?;
        }
        let mut fix =
            tx.prepare_cached("INSERT OR IGNORE INTO fix (vehicle, ts_ms, lat_deg, lon_deg) VALUES (?1, ?2, ?3, ?4)")?;
        for (vehicle, ts, lat, lon) in self.fixes.whole() {
            fix.execute(params![vehicle.as_ref(), ts, lat, lon])?;
        }
        Ok(())
    }
}
