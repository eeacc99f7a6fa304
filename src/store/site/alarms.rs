//! Alarm state shared by every console of a site, in the site database's `alarm_state` (schema 2).
//!
//! - The leader recorder judges the conditions; after each batch it writes the whole state of every alarm that
//!   changed ([`write_states`]), having first taken over what consoles changed ([`take_operator_changes`]).
//! - A console's operator action is one compare-and-set transaction ([`apply_action`]): the alarm's row is read
//!   under the site's alarm lock, the action checked against it (an acknowledgement names the occurrence the
//!   operator saw: one of an already acknowledged alarm, or of an occurrence that is no longer the current one, is
//!   refused and journaled as refused), then the row, the journal and the action's outcome are written and the
//!   consoles notified.
//! - Both take `ALARM_LOCK` for the transaction, so a console's action and the leader's batch never interleave;
//!   every change takes the next `alarm_seq`, which consoles re-read from after a reconnect.

use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

use super::SiteError;
use crate::model::alarm::{Alarm, AlarmState, AlarmView, Limit, OperatorState, Priority};
use crate::model::history::Evaluator;

/// The advisory lock key alarm changes take for their transaction (`'WFal'`).
pub const ALARM_LOCK: i64 = 0x5746_616c;
/// The channel consoles `LISTEN` on; the payload is the newest seq.
pub const CHANNEL: &str = "watchfloor_alarm";

/// How old the leader's last heartbeat may be before consoles take it as gone.
pub const LEADER_STALE_MS: i64 = 10_000;

/// The database server's clock in UTC milliseconds (heartbeats are written and judged in it).
const SERVER_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// The leader's heartbeat: it leads `site` from `host`.
pub async fn beat(client: &impl GenericClient, site: &str, host: &str) -> Result<(), SiteError> {
    let sql = format!(
        "INSERT INTO site_leader (site, host, since_ms, beat_ms) VALUES ($1, $2, {SERVER_NOW_MS}, {SERVER_NOW_MS})
         ON CONFLICT (site) DO UPDATE SET beat_ms = excluded.beat_ms, host = excluded.host,
             since_ms = CASE WHEN site_leader.host = excluded.host THEN site_leader.since_ms ELSE excluded.since_ms END"
    );
    client.execute(&sql, &[&site, &host]).await?;
    Ok(())
}

/// A leader stopping cleanly says so at once.
pub async fn resign(client: &impl GenericClient, site: &str, host: &str) -> Result<(), SiteError> {
    client.execute("DELETE FROM site_leader WHERE site = $1 AND host = $2", &[&site, &host]).await?;
    Ok(())
}

/// The recorder leading a site now: its host and since when (UTC ms), if its heartbeat is fresh.
pub async fn leader(client: &impl GenericClient) -> Result<Option<(String, i64)>, SiteError> {
    let sql = format!(
        "SELECT host, since_ms FROM site_leader WHERE beat_ms > {SERVER_NOW_MS} - $1 ORDER BY beat_ms DESC LIMIT 1"
    );
    Ok(client.query_opt(&sql, &[&LEADER_STALE_MS]).await?.map(|r| (r.get(0), r.get(1))))
}

/// One alarm as the site database holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteAlarm {
    pub rule: String,
    pub source: String,
    pub asset: String,
    pub priority: Priority,
    pub alarm: Alarm,
    pub limit: Option<Limit>,
    pub message: String,
    pub seq: i64,
    pub changed_ms: i64,
    /// Who made the last change: empty for the recorder, else `user@console`.
    pub changed_by: String,
}

impl SiteAlarm {
    pub fn state(&self) -> AlarmState {
        self.alarm.state()
    }

    /// As the window shows it, with `index` its place in the console's list.
    pub fn view(&self, index: usize) -> AlarmView {
        AlarmView {
            index,
            rule: self.rule.clone(),
            source: self.source.clone(),
            asset: self.asset.clone(),
            priority: self.priority,
            state: self.alarm.state(),
            active: self.alarm.active,
            active_since_ms: self.alarm.active_since_ms,
            shelved_until_ms: self.alarm.shelved.as_ref().map(|(until, _)| *until),
            value: self.alarm.value,
            limit: self.limit,
            message: self.message.clone(),
        }
    }

    fn operator_state(&self) -> OperatorState {
        OperatorState {
            acked: self.alarm.acked,
            occurrence_ms: self.alarm.active_since_ms,
            shelved: self.alarm.shelved.clone(),
            out_of_service: self.alarm.out_of_service,
        }
    }
}

pub(super) const COLUMNS: &str = "rule, source, asset, priority, active, acked, suppressed, out_of_service, \
     shelved_until_ms, shelve_reason, occurrence_ms, value, lim, message, seq, changed_ms, changed_by";

pub(super) fn alarm_of(r: &Row) -> SiteAlarm {
    let shelved_until: Option<i64> = r.get(8);
    let reason: Option<String> = r.get(9);
    let lim: Option<String> = r.get(12);
    SiteAlarm {
        rule: r.get(0),
        source: r.get(1),
        asset: r.get(2),
        priority: Priority::parse(r.get::<_, &str>(3)).unwrap_or(Priority::Low),
        alarm: Alarm {
            active: r.get(4),
            acked: r.get(5),
            suppressed: r.get(6),
            out_of_service: r.get(7),
            shelved: shelved_until.map(|until| (until, reason.unwrap_or_default())),
            active_since_ms: r.get(10),
            value: r.get(11),
        },
        limit: lim.as_deref().and_then(Limit::parse),
        message: r.get(13),
        seq: r.get(14),
        changed_ms: r.get(15),
        changed_by: r.get(16),
    }
}

/// Every alarm the site database holds.
pub async fn read_all(client: &impl GenericClient) -> Result<Vec<SiteAlarm>, SiteError> {
    let sql = format!("SELECT {COLUMNS} FROM alarm_state ORDER BY seq");
    Ok(client.query(&sql, &[]).await?.iter().map(alarm_of).collect())
}

/// The alarms changed after `seq`, oldest change first.
pub async fn read_since(client: &impl GenericClient, seq: i64) -> Result<Vec<SiteAlarm>, SiteError> {
    let sql = format!("SELECT {COLUMNS} FROM alarm_state WHERE seq > $1 ORDER BY seq");
    Ok(client.query(&sql, &[&seq]).await?.iter().map(alarm_of).collect())
}

/// The leader takes over what consoles changed after `seq` (acknowledgements, shelves, out of service) and
/// returns the newest seq it saw.
pub async fn take_operator_changes(
    client: &impl GenericClient,
    seq: i64,
    evaluator: &mut dyn Evaluator,
) -> Result<i64, SiteError> {
    let mut newest = seq;
    for a in read_since(client, seq).await? {
        newest = newest.max(a.seq);
        if !a.changed_by.is_empty() {
            evaluator.operator_state(&a.rule, &a.source, &a.asset, &a.operator_state());
        }
    }
    Ok(newest)
}

/// Writes the whole state of alarm instances `indices` as the leader's evaluator has them (inside the batch's
/// transaction, which holds the alarm lock), and notifies the consoles. Returns the newest seq written.
pub async fn write_states(
    tx: &impl GenericClient,
    evaluator: &dyn Evaluator,
    indices: &[usize],
    now_ms: i64,
) -> Result<Option<i64>, SiteError> {
    let upsert = tx
        .prepare(
            "INSERT INTO alarm_state (rule, source, asset, priority, state, active, acked, suppressed, out_of_service,
                 shelved_until_ms, shelve_reason, occurrence_ms, value, lim, message, seq, changed_ms, changed_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, nextval('alarm_seq'), $16, '')
             ON CONFLICT (rule, source) DO UPDATE SET asset = excluded.asset, priority = excluded.priority,
                 state = excluded.state, active = excluded.active, acked = excluded.acked,
                 suppressed = excluded.suppressed, out_of_service = excluded.out_of_service,
                 shelved_until_ms = excluded.shelved_until_ms, shelve_reason = excluded.shelve_reason,
                 occurrence_ms = excluded.occurrence_ms, value = excluded.value, lim = excluded.lim,
                 message = excluded.message, seq = excluded.seq, changed_ms = excluded.changed_ms, changed_by = ''
             RETURNING seq",
        )
        .await?;
    let mut newest = None;
    for &i in indices {
        let Some((view, alarm)) = evaluator.alarm_at(i) else { continue };
        let (until, reason) = match &alarm.shelved {
            Some((until, reason)) => (Some(*until), Some(reason.as_str())),
            None => (None, None),
        };
        let params: [&(dyn ToSql + Sync); 16] = [
            &view.rule,
            &view.source,
            &view.asset,
            &view.priority.label(),
            &view.state.label(),
            &alarm.active,
            &alarm.acked,
            &alarm.suppressed,
            &alarm.out_of_service,
            &until,
            &reason,
            &alarm.active_since_ms,
            &alarm.value,
            &view.limit.map(Limit::label),
            &view.message,
            &now_ms,
        ];
        let seq: i64 = tx.query_one(&upsert, &params).await?.get(0);
        newest = Some(newest.map_or(seq, |n: i64| n.max(seq)));
    }
    if let Some(seq) = newest {
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &seq.to_string()]).await?;
    }
    Ok(newest)
}

/// What an operator asks of one alarm.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ActionKind {
    Acknowledge,
    Shelve {
        until_ms: i64,
        reason: String,
    },
    Unshelve,
    OutOfService(bool),
    /// A logbook note: not about one alarm's state, but queued, kept and retried the same way.
    Note(Box<crate::model::logbook::Note>),
}

impl ActionKind {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Acknowledge => "Acknowledge",
            Self::Shelve { .. } => "Shelve",
            Self::Unshelve => "Unshelve",
            Self::OutOfService(true) => "Out of service",
            Self::OutOfService(false) => "Return to service",
            Self::Note(_) => "Note",
        }
    }
}

/// One operator action on one alarm, as a console sends it to the site database.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SiteAction {
    /// Unique per action (console, process, counter): a replay is recognised by it.
    pub id: String,
    pub kind: ActionKind,
    pub rule: String,
    pub source: String,
    /// The occurrence the operator saw (when it last became active).
    pub occurrence_ms: Option<i64>,
    pub user: String,
    pub console: String,
    pub comment: String,
    /// When the operator acted (UTC ms).
    pub at_ms: i64,
}

/// What became of an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done {
        from: AlarmState,
        to: AlarmState,
    },
    /// Checked against the site's state and refused; journaled with the reason.
    Refused(String),
    /// The same action (by id) was applied before: nothing changed.
    Replayed,
    /// A logbook note went in.
    Written,
}

impl Outcome {
    fn text(&self) -> String {
        match self {
            Self::Done { from, to } => format!("done: {} → {}", from.label(), to.label()),
            Self::Refused(why) => format!("refused: {why}"),
            Self::Replayed => "replayed".to_owned(),
            Self::Written => "written".to_owned(),
        }
    }
}

/// Writes a logbook note into the site's logbook, once by its uid.
async fn write_note(
    client: &tokio_postgres::Client,
    note: &crate::model::logbook::Note,
    console: &str,
) -> Result<Outcome, SiteError> {
    use crate::model::logbook::Subject;
    let (rule, source) = match &note.subject {
        Subject::Alarm { rule, source, .. } => (Some(rule.as_str()), Some(source.as_str())),
        Subject::General | Subject::Asset { .. } => (None, None),
    };
    let (shift, taken_over_by) = match &note.handover {
        Some(h) => (Some(h.shift.as_str()), Some(h.taken_over_by.as_str())),
        None => (None, None),
    };
    let inserted = client
        .execute(
            "INSERT INTO logbook (uid, written_ms, author, from_ms, to_ms, asset, alarm_rule, alarm_source, text,
                 corrects, handover_shift, taken_over_by, console)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (uid) DO NOTHING",
            &[
                &note.uid,
                &note.written_ms,
                &note.author,
                &note.from_ms,
                &note.to_ms,
                &note.subject.asset(),
                &rule,
                &source,
                &note.text,
                &note.corrects,
                &shift,
                &taken_over_by,
                &console,
            ],
        )
        .await?;
    Ok(if inserted > 0 { Outcome::Written } else { Outcome::Replayed })
}

/// Applies `action` as one compare-and-set transaction (see the module docs).
pub async fn apply_action(client: &mut tokio_postgres::Client, action: &SiteAction) -> Result<Outcome, SiteError> {
    if let ActionKind::Note(note) = &action.kind {
        return write_note(client, note, &action.console).await;
    }
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ALARM_LOCK]).await?;
    let fresh = tx
        .query_opt(
            "INSERT INTO alarm_action (id, ts_ms, console, \"user\", action, rule, source) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO NOTHING RETURNING id",
            &[
                &action.id,
                &action.at_ms,
                &action.console,
                &action.user,
                &action.kind.label(),
                &action.rule,
                &action.source,
            ],
        )
        .await?;
    if fresh.is_none() {
        tx.commit().await?;
        return Ok(Outcome::Replayed);
    }
    let sql = format!("SELECT {COLUMNS} FROM alarm_state WHERE rule = $1 AND source = $2 FOR UPDATE");
    let Some(mut site) = tx.query_opt(&sql, &[&action.rule, &action.source]).await?.map(|r| alarm_of(&r)) else {
        let outcome = Outcome::Refused("the site database has no such alarm".to_owned());
        tx.execute("UPDATE alarm_action SET outcome = $2 WHERE id = $1", &[&action.id, &outcome.text()]).await?;
        tx.commit().await?;
        return Ok(outcome);
    };
    let by = format!("{}@{}", action.user, action.console);
    let (from, transition) = {
        let from = site.alarm.state();
        let a = &mut site.alarm;
        let t = match &action.kind {
            ActionKind::Acknowledge if a.active_since_ms != action.occurrence_ms => Err(format!(
                "a newer occurrence (active since {}) is not the one acknowledged",
                a.active_since_ms.map_or_else(|| "-".to_owned(), crate::model::time::rfc3339)
            )),
            ActionKind::Acknowledge if !from.wants_ack() => Err(if site.changed_by.is_empty() {
                format!("it is {} already", from.label())
            } else {
                format!("already {} by {}", from.label().to_lowercase(), site.changed_by)
            }),
            ActionKind::Acknowledge => Ok(a.acknowledge(action.at_ms, &action.user, &action.comment)),
            ActionKind::Shelve { until_ms, reason } => Ok(a.shelve(action.at_ms, *until_ms, &action.user, reason)),
            ActionKind::Unshelve => Ok(a.unshelve(action.at_ms, &action.user, &action.comment)),
            ActionKind::OutOfService(out) => {
                Ok(a.set_out_of_service(action.at_ms, *out, &action.user, &action.comment))
            }
            // Written above, before any alarm is looked at.
            ActionKind::Note(_) => Err("a note is not an alarm action".to_owned()),
        };
        (from, t.and_then(|t| t.ok_or_else(|| format!("nothing to do: it is {}", from.label()))))
    };
    let outcome = match &transition {
        Ok(t) => Outcome::Done { from: t.from, to: t.to },
        Err(why) => Outcome::Refused(why.clone()),
    };
    let (to, comment) = match &transition {
        Ok(t) => (t.to, t.comment.clone()),
        Err(why) => (from, format!("{} refused: {why}", action.kind.label())),
    };
    if transition.is_ok() {
        let (until, reason) = match &site.alarm.shelved {
            Some((until, reason)) => (Some(*until), Some(reason.as_str())),
            None => (None, None),
        };
        tx.execute(
            "UPDATE alarm_state SET state = $3, acked = $4, shelved_until_ms = $5, shelve_reason = $6,
                 out_of_service = $7, seq = nextval('alarm_seq'), changed_ms = $8, changed_by = $9
             WHERE rule = $1 AND source = $2",
            &[
                &action.rule,
                &action.source,
                &to.label(),
                &site.alarm.acked,
                &until,
                &reason,
                &site.alarm.out_of_service,
                &action.at_ms,
                &by,
            ],
        )
        .await?;
    }
    tx.execute(
        "INSERT INTO alarm_journal (ts_ms, rule, source, priority, from_state, state, \"user\", comment, value,
             active, acked, lim, asset, message, console)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING",
        &[
            &action.at_ms,
            &action.rule,
            &action.source,
            &site.priority.label(),
            &from.label(),
            &to.label(),
            &action.user,
            &comment,
            &site.alarm.value,
            &site.alarm.active,
            &site.alarm.acked,
            &site.limit.map(Limit::label),
            &site.asset,
            &site.message,
            &action.console,
        ],
    )
    .await?;
    tx.execute("UPDATE alarm_action SET outcome = $2 WHERE id = $1", &[&action.id, &outcome.text()]).await?;
    tx.execute("SELECT pg_notify($1, 'action')", &[&CHANNEL]).await?;
    tx.commit().await?;
    Ok(outcome)
}
