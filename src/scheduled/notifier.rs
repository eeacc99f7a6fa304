//! The notifier: follows the alarm journal (by id, from where the outbox's cursor says), lets [`Policy`] decide
//! what is due, enqueues one outbox row per notification and channel (idempotent by key), and delivers what is due
//! with exponential back-off and jitter. Its own thread (`wf-notify`), one pass a second; deliveries run on the
//! recorder's tokio runtime, all of a pass's at once.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::deliver::{self, Outcome};
use super::outbox::{self, Counts, Outbox, Pending};
use super::policy::{Due, Policy, PolicySettings, Stage, backoff_ms};
use super::{HistorySource, sleep_unless};
use crate::clock::Clock;
use crate::config::{Audience, Notify};
use crate::model::alarm::Priority;
use crate::model::history::HistoryRead;

/// Journal entries read per query.
const BATCH: usize = 500;
/// Deliveries attempted per pass.
const DELIVERIES_PER_PASS: usize = 50;
/// A notification still failing this long after it was queued is given up.
const GIVE_UP_AFTER_MS: i64 = crate::model::time::DAY_MS;

/// The notifier failed (its outbox or the journal could not be read).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Outbox(#[from] outbox::Error),
    #[error("cannot read the alarm journal: {0}")]
    Journal(#[from] crate::model::history::HistoryError),
    #[error("{0}")]
    Setup(String),
}

/// What the notifier needs.
pub struct NotifierOptions {
    pub notify: Notify,
    /// The site's name, in every notification.
    pub site: String,
    /// The alarm rules that watch gateways (their alarms are gateway losses).
    pub gateway_rules: HashSet<String>,
    /// The outbox file.
    pub outbox: PathBuf,
    /// Whose journal is followed (its name keys the cursor).
    pub journal: String,
    /// How many ids before its place each pass reads again. A site database's ids come from a sequence that
    /// concurrent writers (the leader, the consoles) take in one order and commit in another, so an entry may appear
    /// behind one already read; read again, in id order, each alarm's entries give the same occurrences and the
    /// outbox drops what is already there. 0 for the cache, which has one writer.
    pub overlap_ids: i64,
    pub clock: Arc<dyn Clock>,
}

/// How the notifier stands: this run's counts, and what waits in the outbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotifyStatus {
    /// Rows added to the outbox this run.
    pub queued: u64,
    /// Delivered this run.
    pub sent: u64,
    /// Given up this run (refused, or failing for 24 h).
    pub failed: u64,
    /// In the outbox now: waiting for a first attempt, or for another after a failure.
    pub waiting: u64,
    pub retrying: u64,
}

impl std::fmt::Display for NotifyStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} queued, {} sent, {} retrying, {} failed",
            self.queued,
            self.sent,
            self.retrying + self.waiting,
            self.failed
        )
    }
}

pub struct Notifier {
    options: NotifierOptions,
    outbox: Outbox,
    policy: Policy,
    /// The last journal id read (`None` until the journal was first read).
    position: Option<i64>,
    client: reqwest::Client,
    status: NotifyStatus,
}

impl Notifier {
    pub fn open(options: NotifierOptions) -> Result<Self, Error> {
        let outbox = Outbox::open(&options.outbox)?;
        let position = outbox.cursor(&options.journal)?;
        let policy = Policy::new(PolicySettings {
            stages: options.notify.stages.clone(),
            gateway_rules: options.gateway_rules.clone(),
            gateway_loss: options.notify.gateway_loss,
        });
        let client = deliver::http_client().map_err(Error::Setup)?;
        Ok(Self { options, outbox, policy, position, client, status: NotifyStatus::default() })
    }

    pub fn status(&self) -> NotifyStatus {
        self.status
    }

    /// Reads what the journal gained, enqueues what is due now, and moves the cursor; returns the rows added.
    pub fn read_journal(&mut self, history: &dyn HistoryRead) -> Result<usize, Error> {
        let now_ms = self.options.clock.now_ms();
        let mut position = match self.position {
            Some(p) => p,
            None => self.first_position(history, now_ms)?,
        };
        let mut after = (position - self.options.overlap_ids).max(0);
        loop {
            let batch = history.journal_after(after, BATCH)?;
            for e in &batch {
                self.policy.apply(e);
                position = position.max(e.id);
                after = e.id;
            }
            if batch.len() < BATCH {
                break;
            }
        }
        self.position = Some(position);
        let mut items = Vec::new();
        for due in self.policy.due(now_ms) {
            for audience in self.audiences() {
                if wants(audience, &due) {
                    items.push((audience.name.clone(), due.clone()));
                }
            }
        }
        // A restart reads again from the oldest occurrence still open, so its escalation is not lost.
        let cursor = self.policy.oldest_open_id().map_or(position, |id| position.min(id - 1));
        let added = self.outbox.enqueue(&items, &self.options.journal, cursor, now_ms)?;
        if added > 0 {
            tracing::info!(added, "notifications queued");
        }
        self.status.queued += u64::try_from(added).unwrap_or(u64::MAX);
        Ok(added)
    }

    /// Where a notifier that never ran starts: at the alarms of the last while (as long as the longest delay or
    /// escalation, plus a minute), so alarms standing at start are sent, but not the whole journal's past.
    fn first_position(&self, history: &dyn HistoryRead, now_ms: i64) -> Result<i64, Error> {
        let longest = self
            .options
            .notify
            .stages
            .values()
            .map(|s| s.escalate_after_ms.unwrap_or(s.delay_ms).max(s.delay_ms))
            .max()
            .unwrap_or(0);
        let recent = history.journal(now_ms - longest - 60_000, i64::MAX, usize::MAX)?;
        if let Some(first) = recent.iter().map(|e| e.id).min() {
            return Ok(first - 1);
        }
        Ok(history.journal_last_at(i64::MAX)?.iter().map(|e| e.id).max().unwrap_or(0))
    }

    fn audiences(&self) -> impl Iterator<Item = &Audience> {
        let n = &self.options.notify;
        n.webhooks.iter().map(|w| &w.audience).chain(n.emails.iter().map(|e| &e.audience))
    }

    /// Attempts every delivery due now (all at once on `runtime`) and records how each went; returns how many
    /// were delivered.
    pub fn deliver(&mut self, runtime: &tokio::runtime::Handle) -> Result<usize, Error> {
        let now_ms = self.options.clock.now_ms();
        let pending = self.outbox.due(now_ms, DELIVERIES_PER_PASS)?;
        if pending.is_empty() {
            return Ok(0);
        }
        let site = self.options.site.as_str();
        let (notify, client) = (&self.options.notify, &self.client);
        let attempts = pending.iter().map(|p| async move {
            if let Some(hook) = notify.webhooks.iter().find(|w| w.audience.name == p.channel) {
                deliver::webhook(client, hook, site, &p.key, &p.due).await
            } else if let Some(mail) = notify.emails.iter().find(|m| m.audience.name == p.channel) {
                deliver::email(mail, site, &p.key, &p.due).await
            } else {
                Outcome::Failed(format!("no notify channel named {:?} in the config any more", p.channel))
            }
        });
        let outcomes = runtime.block_on(futures_util::future::join_all(attempts));
        let now_ms = self.options.clock.now_ms();
        let mut delivered = 0;
        for (p, outcome) in pending.iter().zip(outcomes) {
            delivered += usize::from(outcome == Outcome::Delivered);
            self.record(p, outcome, now_ms)?;
        }
        self.refresh_counts()?;
        Ok(delivered)
    }

    fn record(&mut self, p: &Pending, outcome: Outcome, now_ms: i64) -> Result<(), Error> {
        let what =
            format!("{} {} on {} ({}) to {}", p.due.stage.label(), p.due.rule, p.due.source, p.due.priority, p.channel);
        match outcome {
            Outcome::Delivered => {
                self.outbox.sent(p.id, now_ms)?;
                self.status.sent += 1;
                tracing::info!(attempts = p.attempts + 1, "notification sent: {what}");
            }
            Outcome::Retry(err) if now_ms - p.created_ms < GIVE_UP_AFTER_MS => {
                let next_ms = now_ms + backoff_ms(p.attempts + 1, jitter(&p.key, now_ms));
                self.outbox.retry(p.id, next_ms, &err)?;
                tracing::warn!(
                    attempts = p.attempts + 1,
                    "notification not delivered ({err}); next try in {} s: {what}",
                    (next_ms - now_ms) / 1000
                );
            }
            Outcome::Retry(err) => {
                self.outbox.failed(p.id, now_ms, &format!("gave up after 24 h: {err}"))?;
                self.status.failed += 1;
                tracing::error!("notification given up after 24 h ({err}): {what}");
            }
            Outcome::Failed(err) => {
                self.outbox.failed(p.id, now_ms, &err)?;
                self.status.failed += 1;
                tracing::error!("notification refused, not retried ({err}): {what}");
            }
        }
        Ok(())
    }

    fn refresh_counts(&mut self) -> Result<Counts, Error> {
        let counts = self.outbox.counts()?;
        self.status.waiting = counts.queued;
        self.status.retrying = counts.retrying;
        Ok(counts)
    }

    /// Removes delivered and failed rows older than `[notify] keep_days`.
    pub fn prune(&self) -> Result<usize, Error> {
        let keep_ms = i64::from(self.options.notify.keep_days) * 86_400_000;
        Ok(self.outbox.prune(self.options.clock.now_ms() - keep_ms)?)
    }

    /// One pass: the journal, then the deliveries.
    pub fn pass(&mut self, history: &dyn HistoryRead, runtime: &tokio::runtime::Handle) -> Result<(), Error> {
        self.read_journal(history)?;
        self.deliver(runtime)?;
        Ok(())
    }
}

/// Whether `audience` is sent `due`: the stage it takes, and the priority it asks for (a gateway's loss goes to
/// every channel, whatever its priority).
fn wants(audience: &Audience, due: &Due) -> bool {
    let stage_ok = audience.escalation == (due.stage == Stage::Escalation);
    let priority = Priority::parse(&due.priority).unwrap_or(Priority::Low);
    stage_ok && (due.gateway_loss || priority <= audience.min_priority)
}

/// A number in 0..1 that differs between rows and attempts, so deliveries that failed together do not retry
/// together.
fn jitter(key: &str, now_ms: i64) -> f64 {
    let mixed = deliver::fnv1a(key) ^ u64::from_ne_bytes(now_ms.to_ne_bytes()).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    #[expect(clippy::cast_precision_loss, reason = "53 bits of a hash as a fraction")]
    let fraction = (mixed >> 11) as f64 / (1_u64 << 53) as f64;
    fraction
}

/// The notifier's thread: opens the history when it can, one pass a second, until stopped; its counts at the end.
pub struct NotifierThread(super::Worker<NotifyStatus>);

impl NotifierThread {
    /// With `leads` (the site writer's status), it passes only while this recorder leads the site: a standby's
    /// notifier waits, so a site with two recorders sends each notification once (and should a takeover send one
    /// again, it carries the same idempotency key and Message-ID).
    pub fn start(
        options: NotifierOptions,
        source: HistorySource,
        runtime: tokio::runtime::Handle,
        leads: Option<tokio::sync::watch::Receiver<crate::store::site::SiteStatus>>,
    ) -> Result<Self, Error> {
        let mut notifier = Notifier::open(options)?;
        let worker = super::Worker::spawn("wf-notify", move |flag| {
            let mut history: Option<Box<dyn HistoryRead + Send>> = None;
            let mut last_problem = String::new();
            let mut passes: u64 = 0;
            let mut logged = NotifyStatus::default();
            loop {
                let leading = leads.as_ref().is_none_or(|w| w.borrow().role == crate::store::site::SiteRole::Leader);
                if !leading {
                    note_problem(&mut last_problem, "not leading the site: the leader sends".to_owned());
                    if sleep_unless(flag, Duration::from_secs(1)) {
                        break;
                    }
                    continue;
                }
                if history.is_none() {
                    match source.open() {
                        Ok(h) => history = Some(h),
                        Err(err) => {
                            note_problem(&mut last_problem, format!("cannot read {}: {err}", source.name()));
                        }
                    }
                }
                if let Some(h) = &history {
                    match notifier.pass(h.as_ref(), &runtime) {
                        Ok(()) => last_problem.clear(),
                        Err(err) => {
                            note_problem(&mut last_problem, err.to_string());
                            // Reopened at the next pass: a site database may have gone away.
                            if matches!(err, Error::Journal(_)) {
                                history = None;
                            }
                        }
                    }
                }
                let now = notifier.status();
                if now != logged {
                    tracing::info!(
                        queued = now.queued,
                        sent = now.sent,
                        retrying = now.retrying + now.waiting,
                        failed = now.failed,
                        "notifications"
                    );
                    logged = now;
                }
                if passes.is_multiple_of(3_600) {
                    match notifier.prune() {
                        Ok(n) if n > 0 => tracing::info!("{n} old notifications pruned from the outbox"),
                        Ok(_) => {}
                        Err(err) => tracing::warn!("cannot prune the outbox: {err}"),
                    }
                }
                passes += 1;
                if sleep_unless(flag, Duration::from_secs(1)) {
                    break;
                }
            }
            let _ = notifier.refresh_counts();
            notifier.status()
        })
        .map_err(|e| Error::Setup(format!("cannot start the notifier thread: {e}")))?;
        Ok(Self(worker))
    }

    /// Stops the thread after its current pass; what it counted.
    pub fn finish(self) -> NotifyStatus {
        self.0.finish()
    }
}

/// Logs a problem once (until it changes or goes away).
fn note_problem(last: &mut String, problem: String) {
    if *last != problem {
        tracing::warn!("notifier: {problem}");
        *last = problem;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audience(min_priority: Priority, escalation: bool) -> Audience {
        Audience { name: "x".into(), min_priority, escalation, timeout_ms: 1_000 }
    }

    fn due(priority: Priority, stage: Stage, gateway_loss: bool) -> Due {
        Due {
            rule: "r".into(),
            source: "s".into(),
            asset: "a".into(),
            priority: priority.label().into(),
            state: "Unacknowledged".into(),
            message: String::new(),
            value: None,
            limit: None,
            occurred_ms: 0,
            stage,
            gateway_loss,
        }
    }

    #[test]
    fn a_channel_takes_its_stage_and_its_priorities_and_every_gateway_loss() {
        let ops = audience(Priority::High, false);
        assert!(wants(&ops, &due(Priority::Urgent, Stage::First, false)));
        assert!(wants(&ops, &due(Priority::High, Stage::First, false)));
        assert!(!wants(&ops, &due(Priority::Medium, Stage::First, false)));
        assert!(wants(&ops, &due(Priority::Low, Stage::First, true)), "a gateway's loss, whatever its priority");
        assert!(!wants(&ops, &due(Priority::Urgent, Stage::Escalation, false)), "not an escalation recipient");
        let lead = audience(Priority::Medium, true);
        assert!(wants(&lead, &due(Priority::Medium, Stage::Escalation, false)));
        assert!(!wants(&lead, &due(Priority::Urgent, Stage::First, false)));
    }

    #[test]
    fn jitter_stays_in_its_band_and_varies() {
        let a = jitter("hook|r|s|0|first", 1_000);
        let b = jitter("hook|r|s|0|first", 2_000);
        assert!((0.0..1.0).contains(&a) && (0.0..1.0).contains(&b));
        assert!((a - b).abs() > f64::EPSILON);
    }
}
