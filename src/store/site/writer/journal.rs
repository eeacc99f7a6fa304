//! The leader's alarm journal and the alarm state every console shares, and alarms put back when a recorder takes
//! the lead.

use super::*;

pub(super) async fn journal(tx: &Transaction<'_>, entries: &[AlarmEntry]) -> Result<(), SiteError> {
    if entries.is_empty() {
        return Ok(());
    }
    let insert = tx
        .prepare(
            "INSERT INTO alarm_journal (ts_ms, rule, source, priority, from_state, state, \"user\", comment, value,
                 active, acked, lim, asset, message)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING",
        )
        .await?;
    for e in entries {
        let t = &e.transition;
        let params: [&(dyn ToSql + Sync); 14] = [
            &t.ts_ms,
            &e.rule,
            &e.source,
            &e.priority.label(),
            &t.from.label(),
            &t.to.label(),
            &t.user,
            &t.comment,
            &t.value,
            &e.active,
            &e.acked,
            &e.limit.map(Limit::label),
            &e.asset,
            &e.message,
        ];
        tx.execute(&insert, &params).await?;
    }
    Ok(())
}

/// The leader's alarm changes: under the site's alarm lock, take over what consoles changed since `seq` (so the
/// state written below has it), journal `entries` and write the state of every alarm they touch. Returns the
/// newest seq.
pub(super) async fn journal_and_states(
    tx: &Transaction<'_>,
    entries: &[AlarmEntry],
    evaluator: &mut dyn Evaluator,
    seq: i64,
    now_ms: i64,
) -> Result<i64, SiteError> {
    if entries.is_empty() {
        return Ok(seq);
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&alarms::ALARM_LOCK]).await?;
    let seq = alarms::take_operator_changes(tx, seq, evaluator).await?;
    journal(tx, entries).await?;
    let mut touched: Vec<usize> = entries.iter().map(|e| e.index).collect();
    touched.sort_unstable();
    touched.dedup();
    let written = alarms::write_states(tx, evaluator, &touched, now_ms).await?;
    Ok(written.unwrap_or(seq).max(seq))
}

/// The evaluator and the alarm seq a batch's transaction writes alarm state with.
pub(super) struct AlarmWrite<'a> {
    pub(super) evaluator: &'a mut dyn Evaluator,
    pub(super) seq: &'a mut i64,
    pub(super) now_ms: i64,
}

pub(super) async fn journal_alone(
    client: &mut Client,
    entries: &[AlarmEntry],
    evaluator: &mut dyn Evaluator,
    alarm_seq: &mut i64,
    now_ms: i64,
) -> Result<(), SiteError> {
    let tx = client.transaction().await?;
    let seq = journal_and_states(&tx, entries, evaluator, *alarm_seq, now_ms).await?;
    tx.commit().await?;
    *alarm_seq = seq;
    Ok(())
}

/// Puts every alarm back as the site left it — from `alarm_state`, shelves and consoles' acknowledgements
/// included; from the journal when there is none — with its signal's newest stored value. Returns the newest
/// alarm seq.
pub(super) async fn restore_alarms(client: &Client, evaluator: &mut dyn Evaluator) -> Result<i64, SiteError> {
    if !evaluator.has_rules() {
        return Ok(0);
    }
    let states = alarms::read_all(client).await?;
    if !states.is_empty() {
        let latest: HashMap<String, (i64, f64)> = client
            .query(
                "SELECT s.name, l.ts_ms, l.num FROM latest l JOIN signal s ON s.id = l.signal WHERE l.num IS NOT NULL",
                &[],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        let mut newest = 0;
        for a in &states {
            let restored = Restored {
                active: a.alarm.active,
                acked: a.alarm.acked,
                limit: a.limit,
                out_of_service: a.alarm.out_of_service,
                shelved: a.alarm.shelved.clone(),
            };
            let seen = latest.get(&a.source).copied();
            evaluator.restore(&a.rule, &a.source, &a.asset, restored, seen);
            evaluator.operator_state(
                &a.rule,
                &a.source,
                &a.asset,
                &crate::model::alarm::OperatorState {
                    acked: a.alarm.acked,
                    occurrence_ms: a.alarm.active_since_ms,
                    shelved: a.alarm.shelved.clone(),
                    out_of_service: a.alarm.out_of_service,
                },
            );
            newest = newest.max(a.seq);
        }
        return Ok(newest);
    }
    let rows = client
        .query(
            "SELECT DISTINCT ON (j.rule, j.source) j.rule, j.source, j.asset, j.active, j.acked, j.lim, j.state,
                 (SELECT l.ts_ms FROM latest l JOIN signal s ON s.id = l.signal WHERE s.name = j.source),
                 (SELECT l.num FROM latest l JOIN signal s ON s.id = l.signal WHERE s.name = j.source)
             FROM alarm_journal j ORDER BY j.rule, j.source, j.id DESC",
            &[],
        )
        .await?;
    for r in rows {
        let restored = Restored::from_journal(JournalColumns {
            active: r.get(3),
            acked: r.get(4),
            limit: r.get(5),
            state: r.get(6),
            // The site keeps shelves in `alarm_state` (read above when it has rows).
            shelved_until_ms: None,
            comment: String::new(),
        });
        let seen = match (r.get::<_, Option<i64>>(7), r.get::<_, Option<f64>>(8)) {
            (Some(ts), Some(v)) => Some((ts, v)),
            _ => None,
        };
        let (rule, source, asset): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        evaluator.restore(&rule, &source, &asset, restored, seen);
    }
    Ok(0)
}
