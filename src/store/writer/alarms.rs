//! The cache's alarm journal: transitions written with the batch that commits (or on their own for operator actions
//! and the clock), the alarm list published, and every alarm put back from its last entry at start.

use super::*;

/// Puts every alarm back as its last journal entry left it, with the newest stored value of its signal (so
/// replayed older data is not judged again).
pub(super) fn restore_alarms(conn: &Connection, alarms: &mut dyn Evaluator) -> rusqlite::Result<()> {
    let mut last = conn.prepare(
        "SELECT j.rule, j.source, j.asset, j.active, j.acked, j.lim, j.state, j.shelved_until_ms, j.comment
         FROM alarm_journal j
         JOIN (SELECT rule, source, max(id) AS id FROM alarm_journal GROUP BY rule, source) m ON m.id = j.id",
    )?;
    let rows: Vec<(String, String, String, Restored)> = last
        .query_map([], |r| {
            let restored = Restored::from_journal(JournalColumns {
                active: r.get(3)?,
                acked: r.get(4)?,
                limit: r.get(5)?,
                state: r.get(6)?,
                shelved_until_ms: r.get(7)?,
                comment: r.get(8)?,
            });
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, restored))
        })?
        .collect::<Result<_, _>>()?;
    let mut latest = conn.prepare(
        "SELECT l.ts_ms, l.num FROM latest l JOIN signal s ON s.id = l.signal WHERE s.name = ?1 AND l.num IS NOT NULL",
    )?;
    for (rule, source, asset, restored) in rows {
        let seen: Option<(i64, f64)> =
            latest.query_map([&source], |r| Ok((r.get(0)?, r.get(1)?)))?.next().transpose()?;
        alarms.restore(&rule, &source, &asset, restored, seen);
    }
    Ok(())
}

/// Writes journal entries (a replayed one is already there and is skipped).
pub(super) fn journal_alarms(tx: &Transaction<'_>, entries: &[AlarmEntry]) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO alarm_journal
             (ts_ms, rule, source, priority, from_state, state, user, comment, value, active, acked, lim, asset, message,
              shelved_until_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    for e in entries {
        let t = &e.transition;
        insert.execute(params![
            t.ts_ms,
            e.rule,
            e.source,
            e.priority.label(),
            t.from.label(),
            t.to.label(),
            t.user,
            t.comment,
            t.value,
            e.active,
            e.acked,
            e.limit.map(Limit::label),
            e.asset,
            e.message,
            e.shelved_until_ms,
        ])?;
    }
    Ok(())
}

impl Writer {
    /// Journals operator actions in their own transaction, and shows the alarms' new states.
    pub(super) fn journal(&mut self, entries: &[AlarmEntry]) {
        self.unjournaled.extend_from_slice(entries);
        if !self.unjournaled.is_empty()
            && let Some(conn) = self.conn.as_mut()
        {
            let result = conn.transaction().and_then(|tx| {
                journal_alarms(&tx, &self.unjournaled)?;
                tx.commit()
            });
            match result {
                Ok(()) => self.unjournaled.clear(),
                // Kept for the next batch that commits.
                Err(err) => tracing::error!("history: cannot journal an alarm action yet: {err}"),
            }
        }
        self.publish_alarms();
    }
    /// The clock's turn: delays, silent signals, shelves, and the OEE rules once a minute; what changed is
    /// journaled at once (nothing else may come to carry it).
    pub(super) fn tick_alarms(&mut self) {
        if !self.evaluator.has_rules() {
            return;
        }
        let mut entries = Vec::new();
        self.evaluator.tick(self.options.clock.now_ms(), &mut entries);
        if !entries.is_empty() {
            self.journal(&entries);
        }
    }
    /// Publishes every alarm that is not normal on the alarm channel, if that changed.
    pub(super) fn publish_alarms(&mut self) {
        let views: Vec<AlarmView> = self.evaluator.views();
        if **self.alarms_tx.borrow() != views {
            self.alarms_tx.send_replace(Arc::new(views));
            self.wake();
        }
    }
}
