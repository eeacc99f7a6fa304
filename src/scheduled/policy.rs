//! When an alarm is sent, from the journal alone (pure: no I/O, no clock of its own).
//!
//! An **occurrence** starts when an alarm becomes unacknowledged and active (`Unacknowledged` from any other
//! state: it came, came again after returning, or showed again when a shelf, a suppression or out of service
//! ended). It is sent once its priority's `delay` has passed (the *first* stage) and, still unacknowledged and
//! active `escalate_after` after it came, once more to the escalation channels (the *escalation* stage). It ends
//! when it is acknowledged, cleared (returned) or hidden (shelved, suppressed, out of service): within the delay
//! nothing is sent, and an acknowledged alarm is never sent again. A cleared and re-raised alarm is a new
//! occurrence, with its own time.
//!
//! The same journal read twice gives the same occurrences with the same times, so the outbox's idempotency keys
//! (rule, source, occurrence time, stage) make a restart or a re-read send nothing twice.

use std::collections::{BTreeMap, HashSet};

use crate::config::Stages;
use crate::model::alarm::{AlarmState, JournalEntry, Priority};

/// Which notification of an occurrence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    First,
    Escalation,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Escalation => "escalation",
        }
    }
}

/// One notification due: what the alarm was when it came, and the stage.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Due {
    pub rule: String,
    pub source: String,
    pub asset: String,
    /// The priority's label (`High`).
    pub priority: String,
    /// The alarm's state as last journaled (`Unacknowledged`).
    pub state: String,
    pub message: String,
    pub value: Option<f64>,
    pub limit: Option<String>,
    /// When the occurrence began (UTC ms).
    pub occurred_ms: i64,
    pub stage: Stage,
    /// Whether the rule watches a gateway (a gateway's loss).
    pub gateway_loss: bool,
}

/// What the policy is told besides the journal.
#[derive(Clone, Debug, Default)]
pub struct PolicySettings {
    pub stages: BTreeMap<Priority, Stages>,
    /// The rules that watch gateways.
    pub gateway_rules: HashSet<String>,
    /// Whether gateway losses are sent at all.
    pub gateway_loss: bool,
}

#[derive(Clone, Debug)]
struct Occurrence {
    /// The journal entry that began it (a re-read starts from here).
    first_id: i64,
    entry: JournalEntry,
    first_done: bool,
    escalation_done: bool,
}

/// The open occurrences, by (rule, source).
#[derive(Debug, Default)]
pub struct Policy {
    settings: PolicySettings,
    open: BTreeMap<(String, String), Occurrence>,
}

impl Policy {
    pub fn new(settings: PolicySettings) -> Self {
        Self { settings, open: BTreeMap::new() }
    }

    /// Takes one journal entry (in journal order).
    pub fn apply(&mut self, e: &JournalEntry) {
        let is_gateway = self.settings.gateway_rules.contains(&e.rule);
        if is_gateway && !self.settings.gateway_loss {
            return;
        }
        let key = (e.rule.clone(), e.source.clone());
        let comes = e.to == AlarmState::Unacknowledged && e.from != AlarmState::Unacknowledged;
        if comes {
            // The same entry read again (a restart re-reads open occurrences) keeps what was done.
            if self.open.get(&key).is_some_and(|o| o.first_id == e.id) {
                return;
            }
            self.open.insert(
                key,
                Occurrence { first_id: e.id, entry: e.clone(), first_done: false, escalation_done: false },
            );
            return;
        }
        match e.to {
            // Still standing and unacknowledged: keep the newest value and message for the notification.
            AlarmState::Unacknowledged => {
                if let Some(o) = self.open.get_mut(&key) {
                    o.entry.value = e.value.or(o.entry.value);
                }
            }
            // Acknowledged, returned, or hidden: the occurrence is over.
            AlarmState::Normal
            | AlarmState::Acknowledged
            | AlarmState::ReturnedUnacknowledged
            | AlarmState::Shelved
            | AlarmState::Suppressed
            | AlarmState::OutOfService => {
                self.open.remove(&key);
            }
        }
    }

    /// The notifications due at `now_ms`, each given once; occurrences with nothing left to send are closed.
    pub fn due(&mut self, now_ms: i64) -> Vec<Due> {
        let mut out = Vec::new();
        let stages = &self.settings.stages;
        let gateway_rules = &self.settings.gateway_rules;
        self.open.retain(|_, o| {
            let s = stages.get(&o.entry.priority).copied().unwrap_or(Stages { delay_ms: 0, escalate_after_ms: None });
            let since = o.entry.ts_ms;
            let due = |stage| Due {
                rule: o.entry.rule.clone(),
                source: o.entry.source.clone(),
                asset: o.entry.asset.clone(),
                priority: o.entry.priority.label().to_owned(),
                state: o.entry.to.label().to_owned(),
                message: o.entry.message.clone(),
                value: o.entry.value,
                limit: o.entry.limit.clone(),
                occurred_ms: since,
                stage,
                gateway_loss: gateway_rules.contains(&o.entry.rule),
            };
            if !o.first_done && now_ms >= since.saturating_add(s.delay_ms) {
                o.first_done = true;
                out.push(due(Stage::First));
            }
            if let Some(after) = s.escalate_after_ms
                && !o.escalation_done
                && now_ms >= since.saturating_add(after)
            {
                o.escalation_done = true;
                out.push(due(Stage::Escalation));
            }
            !(o.first_done && (o.escalation_done || s.escalate_after_ms.is_none()))
        });
        out
    }

    /// The first journal id of an occurrence still open: a restart reads the journal again from there.
    pub fn oldest_open_id(&self) -> Option<i64> {
        self.open.values().map(|o| o.first_id).min()
    }

    pub fn open_count(&self) -> usize {
        self.open.len()
    }
}

/// The wait before attempt `attempts + 1` of a delivery: 5 s doubling to at most 10 min, with ±20 % jitter
/// (`jitter` in 0..1 chooses where in the band).
pub fn backoff_ms(attempts: u32, jitter: f64) -> i64 {
    const FIRST_MS: i64 = 5_000;
    const CAP_MS: i64 = 600_000;
    let base = FIRST_MS.saturating_mul(1_i64 << attempts.saturating_sub(1).min(20)).min(CAP_MS);
    #[expect(clippy::cast_precision_loss, reason = "at most 10 min in ms")]
    let base_f = base as f64;
    #[expect(clippy::cast_possible_truncation, reason = "at most 12 min in ms")]
    let with_jitter = (base_f * (0.8 + 0.4 * jitter.clamp(0.0, 1.0))) as i64;
    with_jitter
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlarmState as S;

    const MIN: i64 = 60_000;

    fn settings() -> PolicySettings {
        let mut stages = crate::config::Notify::default_stages();
        stages.insert(Priority::High, Stages { delay_ms: MIN, escalate_after_ms: Some(10 * MIN) });
        PolicySettings { stages, gateway_rules: HashSet::from(["Gateway offline".to_owned()]), gateway_loss: true }
    }

    fn entry(id: i64, ts_ms: i64, from: S, to: S) -> JournalEntry {
        JournalEntry {
            id,
            ts_ms,
            rule: "Filler hot".into(),
            source: "PlantA/Line1/Filler/Temperature".into(),
            asset: "PlantA/Line1/Filler".into(),
            priority: Priority::High,
            from,
            to,
            user: String::new(),
            comment: String::new(),
            value: Some(85.0),
            limit: Some("HI".into()),
            message: "85 above HI 80".into(),
            active: matches!(to, S::Unacknowledged | S::Acknowledged),
        }
    }

    fn stages(due: &[Due]) -> Vec<(Stage, i64)> {
        due.iter().map(|d| (d.stage, d.occurred_ms)).collect()
    }

    #[test]
    fn an_alarm_is_sent_after_its_delay_and_escalated_while_unacknowledged() {
        let mut p = Policy::new(settings());
        p.apply(&entry(1, 0, S::Normal, S::Unacknowledged));
        assert!(p.due(MIN - 1).is_empty(), "within the delay");
        assert_eq!(stages(&p.due(MIN)), [(Stage::First, 0)]);
        assert!(p.due(2 * MIN).is_empty(), "sent once");
        assert_eq!(p.oldest_open_id(), Some(1), "open until escalated");
        assert_eq!(stages(&p.due(10 * MIN)), [(Stage::Escalation, 0)]);
        assert!(p.due(100 * MIN).is_empty());
        assert_eq!(p.open_count(), 0);
    }

    #[test]
    fn acknowledged_or_cleared_within_the_delay_sends_nothing() {
        let mut p = Policy::new(settings());
        p.apply(&entry(1, 0, S::Normal, S::Unacknowledged));
        p.apply(&entry(2, 30_000, S::Unacknowledged, S::Acknowledged));
        assert!(p.due(20 * MIN).is_empty());
        p.apply(&entry(3, 40_000, S::Acknowledged, S::Normal));
        p.apply(&entry(4, 50_000, S::Normal, S::Unacknowledged));
        p.apply(&entry(5, 55_000, S::Unacknowledged, S::ReturnedUnacknowledged));
        assert!(p.due(20 * MIN).is_empty(), "cleared within the delay");
        assert_eq!(p.open_count(), 0);
    }

    #[test]
    fn an_acknowledged_alarm_is_not_escalated_and_not_repeated() {
        let mut p = Policy::new(settings());
        p.apply(&entry(1, 0, S::Normal, S::Unacknowledged));
        assert_eq!(p.due(2 * MIN).len(), 1);
        p.apply(&entry(2, 3 * MIN, S::Unacknowledged, S::Acknowledged));
        // Still standing, acknowledged: further values journal nothing that starts an occurrence.
        assert!(p.due(30 * MIN).is_empty());
    }

    #[test]
    fn a_cleared_and_reraised_alarm_is_a_new_occurrence() {
        let mut p = Policy::new(settings());
        p.apply(&entry(1, 0, S::Normal, S::Unacknowledged));
        assert_eq!(stages(&p.due(MIN)), [(Stage::First, 0)]);
        p.apply(&entry(2, 2 * MIN, S::Unacknowledged, S::ReturnedUnacknowledged));
        p.apply(&entry(3, 3 * MIN, S::ReturnedUnacknowledged, S::Unacknowledged));
        assert_eq!(stages(&p.due(4 * MIN)), [(Stage::First, 3 * MIN)], "its own time, so its own key");
        assert_eq!(stages(&p.due(13 * MIN)), [(Stage::Escalation, 3 * MIN)]);
    }

    #[test]
    fn reading_the_same_entries_again_keeps_what_was_done() {
        let mut p = Policy::new(settings());
        let raised = entry(7, 0, S::Normal, S::Unacknowledged);
        p.apply(&raised);
        assert_eq!(p.due(MIN).len(), 1);
        p.apply(&raised);
        assert!(p.due(2 * MIN).is_empty());
        // A fresh policy over the same journal gives the same notification (same key): the outbox drops it.
        let mut again = Policy::new(settings());
        again.apply(&raised);
        assert_eq!(stages(&again.due(2 * MIN)), [(Stage::First, 0)]);
    }

    #[test]
    fn hidden_alarms_are_not_sent_and_gateway_losses_follow_the_switch() {
        let mut p = Policy::new(settings());
        p.apply(&entry(1, 0, S::Normal, S::Unacknowledged));
        p.apply(&entry(2, 1_000, S::Unacknowledged, S::Shelved));
        assert!(p.due(20 * MIN).is_empty(), "shelved within the delay");
        let mut gw = entry(3, 0, S::Normal, S::Unacknowledged);
        gw.rule = "Gateway offline".into();
        p.apply(&gw);
        let due = p.due(20 * MIN);
        assert!(due.iter().all(|d| d.gateway_loss) && due.len() == 2, "{due:?}");
        let mut off = Policy::new(PolicySettings { gateway_loss: false, ..settings() });
        off.apply(&gw);
        assert!(off.due(20 * MIN).is_empty());
    }

    #[test]
    fn backoff_doubles_to_a_cap_with_jitter() {
        assert_eq!(backoff_ms(1, 0.5), 5_000);
        assert_eq!(backoff_ms(2, 0.5), 10_000);
        assert_eq!(backoff_ms(3, 0.5), 20_000);
        assert_eq!(backoff_ms(30, 0.5), 600_000, "capped at 10 min");
        assert_eq!(backoff_ms(1, 0.0), 4_000);
        assert_eq!(backoff_ms(1, 1.0), 6_000);
        assert!((480_000..=720_000).contains(&backoff_ms(12, 0.9)));
    }
}
