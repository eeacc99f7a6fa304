//! What the leader could not write while the database was away, left to the recorder's own cache: the time
//! ranges still to write (kept on disk beside the cache) and the catch-up that writes them from there later.

use super::*;

/// Adds `[from, to)` to sorted, disjoint `ranges`, merging what overlaps or touches.
pub(super) fn add_range(ranges: &mut Vec<(i64, i64)>, (from, to): (i64, i64)) {
    ranges.push((from, to));
    ranges.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for &(a, b) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    *ranges = merged;
}

/// Where the ranges still to write are kept: beside the cache.
pub(super) fn spill_file(cache: &std::path::Path) -> std::path::PathBuf {
    let mut name = cache.as_os_str().to_owned();
    name.push(".site-pending");
    std::path::PathBuf::from(name)
}

pub(super) fn load_spilled(cache: &std::path::Path) -> Vec<(i64, i64)> {
    let text = std::fs::read_to_string(spill_file(cache)).unwrap_or_default();
    let mut ranges = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace().map(str::parse::<i64>);
        if let (Some(Ok(from)), Some(Ok(to))) = (parts.next(), parts.next())
            && from < to
        {
            add_range(&mut ranges, (from, to));
        }
    }
    ranges
}

/// Writes the ranges (one `from to` line each) through a temp file and a rename; an empty list removes the file.
pub(super) fn save_spilled(cache: &std::path::Path, ranges: &[(i64, i64)]) {
    let path = spill_file(cache);
    if ranges.is_empty() {
        let _ = std::fs::remove_file(&path);
        return;
    }
    let text: String = ranges.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
    let tmp = path.with_extension("site-pending.tmp");
    let result = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(err) = result {
        tracing::error!("site database: cannot keep the ranges still to write in {}: {err}", path.display());
    }
}

/// The cache's samples in `[from, to)`, as one event per gateway.
pub(super) fn read_cache(
    cache: &std::path::Path,
    (from, to): (i64, i64),
) -> Result<Vec<Arc<FeedEvent>>, crate::store::Error> {
    let conn = crate::store::open_live_reader(cache)?;
    let sql = |source| crate::store::Error::Sqlite { path: cache.to_owned(), source };
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.name, s.kind, s.gateway, x.ts_ms, x.num, x.text, x.quality
             FROM signal s JOIN sample x ON x.signal = s.id AND x.ts_ms >= ?1 AND x.ts_ms < ?2",
        )
        .map_err(sql)?;
    let mut by_gateway: HashMap<String, Vec<crate::model::Sample>> = HashMap::new();
    let rows = stmt
        .query_map(rusqlite::params![from, to], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<f64>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })
        .map_err(sql)?;
    for row in rows {
        let (name, kind, gateway, ts, num, text, quality) = row.map_err(sql)?;
        let value = crate::store::query::value_from(crate::store::query::kind_from(&kind), num, text);
        let mut sample = crate::model::Sample::new(crate::model::SignalId::new(name), ts, value);
        sample.quality = crate::store::query::quality_from(quality);
        // Read back from history: never the live value.
        sample.historical = true;
        by_gateway.entry(gateway).or_default().push(sample);
    }
    Ok(by_gateway
        .into_iter()
        .map(|(gateway, samples)| Arc::new(FeedEvent::new(Arc::from(gateway), from, FeedEventBody::Samples(samples))))
        .collect())
}

impl Writer {
    /// Leaves a batch to the cache: its time range is kept (on disk) to be read back and written later.
    pub(super) fn spill(&mut self, gone: &Queued) {
        let times = gone.events.iter().flat_map(|e| match &e.body {
            FeedEventBody::Samples(s) => s.iter().map(|s| s.ts_ms).collect::<Vec<_>>(),
            _ => Vec::new(),
        });
        let (lo, hi) = times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        if lo > hi {
            return;
        }
        add_range(&mut self.spilled, (lo, hi.saturating_add(1)));
        self.status.spilled_samples += gone.samples as u64;
        if let Some(cache) = &self.options.cache {
            save_spilled(cache, &self.spilled);
        }
        tracing::warn!(samples = gone.samples, "site database: buffer full; the oldest batch is left to the cache");
    }
    /// The leader writes back, from the cache, what it left there: a minute of samples at a time, at most
    /// `budget` per call, so live batches are not held up.
    pub(super) async fn catch_up(&mut self, budget: Duration) {
        let Some(cache) = self.options.cache.clone() else { return };
        let started = Instant::now();
        while let Some(&(from, to)) = self.spilled.first() {
            if started.elapsed() > budget || self.status.role != SiteRole::Leader {
                return;
            }
            let end = from.saturating_add(60_000).min(to);
            let events = match read_cache(&cache, (from, end)) {
                Ok(events) => events,
                Err(err) => {
                    tracing::error!(
                        "site database: cannot read back {}: {err}; that range is given up",
                        cache.display()
                    );
                    self.spilled.remove(0);
                    save_spilled(&cache, &self.spilled);
                    continue;
                }
            };
            if !events.is_empty() {
                match self.write_batch(&events).await {
                    Ok((stored, duplicates)) => {
                        self.status.stored_samples += stored;
                        self.status.duplicate_samples += duplicates;
                        self.status.caught_up_samples += stored;
                        self.status.batches += 1;
                    }
                    Err(err) => {
                        if self.client.as_ref().is_none_or(Client::is_closed) || err.is_connection() {
                            self.lost(&err.to_string());
                        } else {
                            tracing::error!("site database refused a batch read back from the cache: {err}");
                        }
                        return;
                    }
                }
            }
            if end >= to {
                self.spilled.remove(0);
            } else {
                self.spilled[0].0 = end;
            }
            save_spilled(&cache, &self.spilled);
            if self.spilled.is_empty() {
                tracing::info!("site database: everything left to the cache is written");
            }
        }
    }
}
