//! Retention: each tier pruned by age and the file kept under its size cap, a bounded chunk per batch.

use super::*;

/// One retention step: deletes at most `options.prune_chunk_rows` rows past their tier's age, or the oldest rows when
/// the file is over its size cap. Returns how many rows went.
pub(super) fn prune_step(
    conn: &mut Connection,
    options: &StoreOptions,
    size_bytes: u64,
    cursor: &mut usize,
) -> rusqlite::Result<usize> {
    // Ages count back from the newest data, not from the wall clock: a laptop that was off for two months keeps the
    // history it has, and a recording from a sped-up simulator is not pruned by real time. A clock far in the future
    // cannot wipe the cache: the newest data counts as at most a day ahead of the wall clock.
    let wall = now_ms();
    let newest: Option<i64> = conn.query_row("SELECT max(ts_ms) FROM latest", [], |r| r.get(0))?;
    let now = newest.map_or(wall, |n| n.min(wall + DAY_MS));
    let r = options.retention;
    let cutoff = |days: u32| (days > 0).then(|| now - i64::from(days) * DAY_MS);
    let mut raw_cut = cutoff(r.raw_days);
    let mut m1_cut = cutoff(r.rollup_1m_days);
    let mut h1_cut = cutoff(r.rollup_1h_days);
    let tx = conn.transaction()?;
    if r.max_size_bytes > 0 && size_bytes > r.max_size_bytes {
        // Over the cap: a day past the oldest data of the finest tier that still has any.
        let oldest = |table: &str, col: &str| -> rusqlite::Result<Option<i64>> {
            tx.query_row(
                &format!("SELECT min((SELECT min({col}) FROM {table} t WHERE t.signal = s.id)) FROM signal s"),
                [],
                |row| row.get(0),
            )
        };
        if let Some(t) = oldest("sample", "ts_ms")? {
            raw_cut = Some(raw_cut.unwrap_or(i64::MIN).max(t + DAY_MS));
        } else if let Some(t) = oldest("rollup_1m", "start_ms")? {
            m1_cut = Some(m1_cut.unwrap_or(i64::MIN).max(t + 7 * DAY_MS));
        } else if let Some(t) = oldest("rollup_1h", "start_ms")? {
            h1_cut = Some(h1_cut.unwrap_or(i64::MIN).max(t + 30 * DAY_MS));
        }
        tracing::warn!(size_bytes, cap = r.max_size_bytes, "history: over the size cap; removing the oldest data");
    }
    let ids: Vec<i64> = {
        let mut stmt = tx.prepare_cached("SELECT id FROM signal ORDER BY id")?;
        stmt.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?
    };
    let budget = options.prune_chunk_rows;
    let mut deleted = 0;
    let tiers = [("sample", "ts_ms", raw_cut), ("rollup_1m", "start_ms", m1_cut), ("rollup_1h", "start_ms", h1_cut)];
    for (table, col, cut) in tiers {
        let Some(cut) = cut else { continue };
        let mut stmt = tx.prepare_cached(&format!(
            "DELETE FROM {table} WHERE signal = ?1 AND {col} < min(?2, coalesce(
                 (SELECT {col} FROM {table} WHERE signal = ?1 ORDER BY {col} LIMIT 1 OFFSET ?3), ?2))"
        ))?;
        for step in 0..ids.len() {
            if deleted >= budget {
                break;
            }
            let id = ids[(*cursor + step) % ids.len()];
            let left = i64::try_from(budget - deleted).unwrap_or(i64::MAX);
            deleted += stmt.execute(params![id, cut, left])?;
        }
    }
    if let Some(cut) = m1_cut.or(raw_cut) {
        // Gaps are kept as long as the finest rollups they describe.
        deleted += tx.execute("DELETE FROM gap WHERE end_ms IS NOT NULL AND end_ms < ?1", [cut])?;
    }
    if let Some(cut) = raw_cut {
        deleted += tx.execute("DELETE FROM fix WHERE ts_ms < ?1", [cut])?;
        deleted += tx.execute("DELETE FROM event WHERE ts_ms < ?1", [cut])?;
    }
    tx.commit()?;
    *cursor = cursor.wrapping_add(1);
    Ok(deleted)
}

impl Writer {
    /// Deletes at most one chunk per batch, so ingest never waits for more than one chunk.
    pub(super) fn maybe_prune(&mut self) {
        let due = self.last_prune.is_none_or(|t| t.elapsed() >= self.options.prune_every);
        if !due && !self.prune_more {
            return;
        }
        if due {
            self.last_prune = Some(Instant::now());
        }
        let size = self.size_bytes().unwrap_or(0);
        let Some(conn) = self.conn.as_mut() else { return };
        match prune_step(conn, &self.options, size, &mut self.prune_cursor) {
            Ok(deleted) => {
                self.status.pruned_rows += deleted as u64;
                self.prune_more = deleted >= self.options.prune_chunk_rows;
                if deleted > 0 {
                    tracing::debug!(deleted, "history: retention pruned");
                    // Hand a bounded number of freed pages back to the file system.
                    if let Err(err) = conn.execute_batch("PRAGMA incremental_vacuum(2000)") {
                        tracing::warn!("history: vacuum failed: {err}");
                    }
                }
            }
            Err(err) => tracing::warn!("history: retention failed: {err}"),
        }
    }
}
