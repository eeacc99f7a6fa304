//! The alarm desk: the one place that decides which alarms this window follows and where what an operator does
//! goes. On a control-room console that uses the site database's alarm state, actions and notes go to the site
//! (journaled there with this console's name); otherwise to this window's history writer. In review, alarm actions
//! go nowhere: they are for the present.

use std::sync::Arc;

use crate::model::history::OperatorAction;
use crate::store::site::{ConsoleStatus, SiteConsole};
use crate::store::{AlarmView, StoreCommand, StoreLink};

/// This window's history writer and, on a console, the site database's alarm state.
#[derive(Default)]
pub struct Desk {
    pub(super) store: Option<StoreLink>,
    /// The site database's alarms, when this window is a control-room console (`[site_db]`).
    pub(super) site: Option<SiteConsole>,
}

impl Desk {
    /// The site database's alarms as this console last read them, if it is one.
    pub fn site_status(&self) -> Option<ConsoleStatus> {
        self.site.as_ref().map(SiteConsole::status)
    }

    /// The site's alarm state when this console uses it (see [`site_in_use`]).
    pub fn site_alarms(&self) -> Option<ConsoleStatus> {
        self.site_status().filter(site_in_use)
    }

    /// The alarms shown now: the site's when this is a console that has read them, else this window's own.
    pub fn alarms_now(&self) -> Arc<Vec<AlarmView>> {
        let Some(status) = self.site_alarms() else { return alarms_of(None, self.store.as_ref()) };
        if status.pending.is_empty() {
            return status.alarms;
        }
        // An action waiting for the site database is shown on its alarm.
        let mut alarms = (*status.alarms).clone();
        for a in &mut alarms {
            let waiting: Vec<&str> = status
                .pending
                .iter()
                .filter(|p| p.rule == a.rule && p.source == a.source)
                .map(|p| p.kind.label())
                .collect();
            if !waiting.is_empty() {
                a.message = format!("{} · {} pending", a.message, waiting.join(", "));
            }
        }
        Arc::new(alarms)
    }

    /// Sends the operator's alarm actions: to the site database on a console, else to the history writer. In
    /// review they are not taken (they are for the present).
    pub fn send_alarm_actions(&self, reviewing: bool, shown: &[AlarmView], actions: Vec<OperatorAction>, now_ms: i64) {
        use crate::store::site::alarms::ActionKind;
        let Some(site) = self.site.as_ref().filter(|_| !reviewing && self.site_alarms().is_some()) else {
            send_alarm_actions(self.store.as_ref(), reviewing, actions);
            return;
        };
        let now = now_ms;
        for op in actions {
            let (kind, indices, user, comment) = match op {
                OperatorAction::Acknowledge { indices, user, comment } => {
                    (ActionKind::Acknowledge, indices, user, comment)
                }
                OperatorAction::Shelve { indices, for_ms, user, reason } => {
                    (ActionKind::Shelve { until_ms: now + for_ms, reason }, indices, user, String::new())
                }
                OperatorAction::Unshelve { indices, user } => (ActionKind::Unshelve, indices, user, String::new()),
                OperatorAction::OutOfService { indices, out, user, comment } => {
                    (ActionKind::OutOfService(out), indices, user, comment)
                }
            };
            for view in indices.iter().filter_map(|i| shown.iter().find(|v| v.index == *i)) {
                if !site.send(site.action(kind.clone(), view, &user, &comment, now)) {
                    tracing::warn!("alarm action not taken: the site alarm queue is full");
                }
            }
        }
    }

    /// Hands logbook notes to the history writer (which keeps them until the file takes them) and, on a console,
    /// to the site database.
    pub fn write_notes(&self, notes: Vec<crate::model::logbook::Note>, problems: &mut Vec<String>) {
        for note in notes {
            tracing::info!(uid = note.uid, author = note.author, "logbook: note written");
            if let Some(site) = &self.site
                && !site.send_note(note.clone())
            {
                problems.push("The note did not go to the site database: its queue is full".to_owned());
            }
            let sent = self.store.as_ref().is_some_and(|s| s.send(StoreCommand::Note(Box::new(note))));
            if !sent {
                problems.push("The note was not stored: the history writer is busy or gone".to_owned());
            }
        }
    }
}

/// Whether a console uses the site's alarm state: read at least once, and judged by a leading recorder (or the
/// database is away: then as last read). With no recorder leading, nothing judges the site's alarms, so the
/// window shows and acts on its own.
pub fn site_in_use(status: &ConsoleStatus) -> bool {
    status.loaded && (status.leader.is_some() || !status.connected)
}

/// The alarms a window and its horn follow: the site's when this is a console that uses them, else the history
/// writer's.
pub fn alarms_of(site: Option<&ConsoleStatus>, store: Option<&StoreLink>) -> Arc<Vec<AlarmView>> {
    match site.filter(|s| site_in_use(s)) {
        Some(status) => Arc::clone(&status.alarms),
        None => store.map(StoreLink::alarms).unwrap_or_default(),
    }
}

/// Sends the operator's alarm actions to the history writer; in review they are not taken (they are for the
/// present).
fn send_alarm_actions(store: Option<&StoreLink>, reviewing: bool, actions: Vec<OperatorAction>) {
    for action in actions {
        if reviewing {
            tracing::info!("alarm actions are for the present: back to live to act");
        } else if !store.is_some_and(|s| s.send(StoreCommand::Alarm(action))) {
            tracing::warn!("alarm action not taken: the history writer is busy or gone");
        }
    }
}
