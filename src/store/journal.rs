//! Reading the alarm journal from the cache: entries in a range (the history view, `watchfloor alarms`), each
//! alarm's last entry at a time (review) and the alarms standing at a time (stale alarms). The KPIs and the review's
//! alarms are computed from these by the analytics (`analytics::alarm_kpi`).

use rusqlite::{Connection, params};

use crate::model::alarm::{AlarmState, Priority};
use crate::model::history::Standing;

pub use crate::model::alarm::JournalEntry;

const COLUMNS: &str =
    "id, ts_ms, rule, source, asset, priority, from_state, state, user, comment, value, lim, message, active";

fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<JournalEntry> {
    let state = |i: usize| -> rusqlite::Result<AlarmState> {
        let s: String = r.get(i)?;
        Ok(AlarmState::parse(&s).unwrap_or(AlarmState::Normal))
    };
    let priority: String = r.get(5)?;
    Ok(JournalEntry {
        id: r.get(0)?,
        ts_ms: r.get(1)?,
        rule: r.get(2)?,
        source: r.get(3)?,
        asset: r.get(4)?,
        priority: Priority::parse(&priority).unwrap_or(Priority::Low),
        from: state(6)?,
        to: state(7)?,
        user: r.get(8)?,
        comment: r.get(9)?,
        value: r.get(10)?,
        limit: r.get(11)?,
        message: r.get(12)?,
        active: r.get(13)?,
    })
}

/// Entries with `from_ms <= ts < to_ms` in time order; at most `limit` (the newest when cut).
pub fn entries(conn: &Connection, from_ms: i64, to_ms: i64, limit: usize) -> rusqlite::Result<Vec<JournalEntry>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT * FROM (SELECT {COLUMNS} FROM alarm_journal WHERE ts_ms >= ?1 AND ts_ms < ?2
         ORDER BY ts_ms DESC, id DESC LIMIT ?3) ORDER BY ts_ms, id"
    ))?;
    stmt.query_map(params![from_ms, to_ms, limit], entry)?.collect()
}

/// Entries stored after entry `after_id`, by id; at most `limit`.
pub fn after(conn: &Connection, after_id: i64, limit: usize) -> rusqlite::Result<Vec<JournalEntry>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM alarm_journal WHERE id > ?1 ORDER BY id LIMIT ?2"))?;
    stmt.query_map(params![after_id, limit], entry)?.collect()
}

/// The alarms whose condition was active at `at_ms`, with when it last came.
pub fn standing(conn: &Connection, at_ms: i64) -> rusqlite::Result<Vec<Standing>> {
    let mut stmt = conn.prepare_cached(
        "SELECT j.rule, j.source, j.priority,
                (SELECT max(a.ts_ms) FROM alarm_journal a WHERE a.rule = j.rule AND a.source = j.source
                   AND a.ts_ms < ?1 AND a.active = 1
                   AND ((a.state = 'Unacknowledged' AND a.from_state IN ('Normal', 'Returned, unacknowledged'))
                        OR (a.comment = 'active' AND a.from_state = a.state)))
         FROM alarm_journal j
         JOIN (SELECT rule, source, max(id) AS id FROM alarm_journal WHERE ts_ms < ?1 GROUP BY rule, source) m
           ON m.id = j.id
         WHERE j.active = 1",
    )?;
    let rows = stmt.query_map([at_ms], |r| {
        let priority: String = r.get(2)?;
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, priority, r.get::<_, Option<i64>>(3)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (rule, source, priority, since) = row?;
        if let Some(active_since_ms) = since {
            let priority = Priority::parse(&priority).unwrap_or(Priority::Low);
            out.push(Standing { rule, source, priority, active_since_ms });
        }
    }
    Ok(out)
}

/// Each alarm's last journal entry at or before `at_ms`, in time order.
pub fn last_at(conn: &Connection, at_ms: i64) -> rusqlite::Result<Vec<JournalEntry>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM alarm_journal WHERE id IN (
             SELECT max(id) FROM alarm_journal WHERE ts_ms <= ?1 GROUP BY rule, source)
         ORDER BY ts_ms"
    ))?;
    stmt.query_map([at_ms], entry)?.collect()
}
