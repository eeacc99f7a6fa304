//! Reading the alarm journal: entries in a range (the history view, `watchfloor alarms`), the alarms standing at a
//! time (stale alarms), and the KPIs of a range ([`crate::analytics::alarm_kpi`]).

use rusqlite::{Connection, params};

use crate::analytics::alarm_kpi::{self, JournalRow, Kpis, Standing};
use crate::model::alarm::{AlarmState, Priority};

/// One journal entry as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalEntry {
    pub id: i64,
    pub ts_ms: i64,
    pub rule: String,
    pub source: String,
    pub asset: String,
    pub priority: Priority,
    pub from: AlarmState,
    pub to: AlarmState,
    pub user: String,
    pub comment: String,
    pub value: Option<f64>,
    pub limit: Option<String>,
    pub message: String,
    pub active: bool,
}

impl JournalEntry {
    pub fn kpi_row(&self) -> JournalRow {
        JournalRow {
            id: self.id,
            ts_ms: self.ts_ms,
            rule: self.rule.clone(),
            source: self.source.clone(),
            priority: self.priority,
            from: self.from,
            to: self.to,
            comment: self.comment.clone(),
            active: self.active,
        }
    }
}

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

/// The alarm KPIs of a range, from the journal.
pub fn kpis(conn: &Connection, from_ms: i64, to_ms: i64) -> rusqlite::Result<Kpis> {
    // Flood detection looks 10 minutes back; rows before the range are read but not counted by `compute`.
    let rows: Vec<JournalRow> = entries(conn, from_ms, to_ms, usize::MAX)?.iter().map(JournalEntry::kpi_row).collect();
    let standing = standing(conn, to_ms)?;
    Ok(alarm_kpi::compute(&rows, &standing, from_ms, to_ms))
}

/// The alarms that were not normal at `at_ms`, as the banner and the summary showed them then (for review): each
/// alarm's last journal entry at or before `at_ms`.
pub fn alarms_at(conn: &Connection, at_ms: i64) -> rusqlite::Result<Vec<super::AlarmView>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM alarm_journal WHERE id IN (
             SELECT max(id) FROM alarm_journal WHERE ts_ms <= ?1 GROUP BY rule, source)
         ORDER BY ts_ms"
    ))?;
    let last: Vec<JournalEntry> = stmt.query_map([at_ms], entry)?.collect::<rusqlite::Result<_>>()?;
    let standing = standing(conn, at_ms + 1)?;
    Ok(last
        .into_iter()
        .filter(|e| e.to != AlarmState::Normal)
        .enumerate()
        .map(|(index, e)| super::AlarmView {
            index,
            active_since_ms: standing
                .iter()
                .find(|s| s.rule == e.rule && s.source == e.source)
                .map(|s| s.active_since_ms)
                .or(Some(e.ts_ms)),
            rule: e.rule,
            source: e.source,
            asset: e.asset,
            priority: e.priority,
            state: e.to,
            active: e.active,
            shelved_until_ms: None,
            value: e.value,
            limit: e.limit.as_deref().and_then(crate::analytics::alarm::Limit::parse),
            message: e.message,
        })
        .collect())
}

/// When alarms came in `[from_ms, to_ms)`, with their priority (the review timeline's markers).
pub fn activations(conn: &Connection, from_ms: i64, to_ms: i64) -> rusqlite::Result<Vec<(i64, Priority)>> {
    Ok(entries(conn, from_ms, to_ms, usize::MAX)?
        .iter()
        .filter(|e| e.kpi_row().is_activation())
        .map(|e| (e.ts_ms, e.priority))
        .collect())
}
