//! A console's view of the site's alarms: its own thread keeps a connection to the site database, `LISTEN`s for
//! alarm changes and re-reads `alarm_state` by seq (all of it after every reconnect, since notifications are not
//! replayed), and applies the operator's actions as compare-and-set transactions ([`super::alarms`]). While the
//! database cannot be reached the console keeps showing the alarms as last read, queues the actions (shown as
//! pending) and applies them in order on reconnect; each carries an id, so one applied before the connection broke
//! is not applied twice.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_postgres::Client;

use super::alarms::{self, ActionKind, Outcome, SiteAction, SiteAlarm};
use super::{SiteError, SiteTarget};
use crate::model::alarm::{AlarmState, AlarmView};
use crate::store::Waker;

/// What the console knows of the site's alarms, published after every change.
#[derive(Clone, Debug, Default)]
pub struct ConsoleStatus {
    pub url: String,
    pub connected: bool,
    /// Whether the site's alarms were read at least once (until then the window shows its own).
    pub loaded: bool,
    /// Why it is not connected.
    pub message: Option<String>,
    /// The reason needs a person (wrong password, TLS, schema), not just a wait.
    pub error: bool,
    /// Since when the database cannot be reached (UTC ms).
    pub lost_since_ms: Option<i64>,
    /// Every alarm that is not normal; `index` is the place in this list.
    pub alarms: Arc<Vec<AlarmView>>,
    /// Actions waiting for the database, oldest first.
    pub pending: Arc<Vec<SiteAction>>,
    /// The last action's outcome, with when it came (UTC ms).
    pub last_outcome: Option<(SiteAction, Outcome, i64)>,
    /// The newest alarm change read.
    pub seq: i64,
    /// The recorder that leads the site and judges its alarms (its host, since when), as of the last check;
    /// `None` when no recorder's heartbeat is fresh.
    pub leader: Option<(String, i64)>,
}

impl ConsoleStatus {
    /// The last action's refusal, said for 15 s after it came: `Acknowledge of <rule> on <source> refused: why`.
    pub fn recent_refusal(&self, now_ms: i64) -> Option<String> {
        match &self.last_outcome {
            Some((action, Outcome::Refused(why), at)) if now_ms - at < 15_000 => {
                Some(format!("{} of {} on {} refused: {why}", action.kind.label(), action.rule, action.source))
            }
            _ => None,
        }
    }
}

/// The console's site alarm thread. Dropping it ends the thread (after the action in flight).
pub struct SiteConsole {
    actions: mpsc::Sender<SiteAction>,
    status: watch::Receiver<ConsoleStatus>,
    waker: Arc<OnceLock<Waker>>,
    console: String,
    /// Makes action ids unique within this process (with the console and the start time).
    counter: AtomicU64,
    started_ms: i64,
    target: SiteTarget,
}

impl SiteConsole {
    /// Starts the thread; never fails for the database's sake (an unreachable one is reported in the status).
    pub fn start(target: SiteTarget, console: impl Into<String>) -> Result<Self, std::io::Error> {
        Self::start_with_queue(target, console, None)
    }

    /// Like [`SiteConsole::start`], keeping the actions that wait for the database in `queue_file` (the data
    /// dir's), so a console closed while the database was away applies them when it next runs.
    pub fn start_with_queue(
        target: SiteTarget,
        console: impl Into<String>,
        queue_file: Option<std::path::PathBuf>,
    ) -> Result<Self, std::io::Error> {
        let (action_tx, action_rx) = mpsc::channel(256);
        let status = ConsoleStatus { url: target.display_url(), ..ConsoleStatus::default() };
        let own_target = target.clone();
        let (status_tx, status_rx) = watch::channel(status.clone());
        let waker: Arc<OnceLock<Waker>> = Arc::new(OnceLock::new());
        let thread_waker = Arc::clone(&waker);
        std::thread::Builder::new().name("wf-site-alarms".to_owned()).spawn(move || {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => {
                    let pending = queue_file.as_deref().map(load_queue).unwrap_or_default();
                    if !pending.is_empty() {
                        tracing::info!(
                            actions = pending.len(),
                            "site alarms: actions from an earlier run still to apply"
                        );
                    }
                    let mut state = State {
                        rows: BTreeMap::new(),
                        pending,
                        status,
                        tx: status_tx,
                        waker: thread_waker,
                        queue_file,
                    };
                    state.publish();
                    rt.block_on(run(target, action_rx, state));
                }
                Err(err) => tracing::error!("site alarms cannot start their runtime: {err}"),
            }
        })?;
        Ok(Self {
            actions: action_tx,
            status: status_rx,
            waker,
            console: console.into(),
            counter: AtomicU64::new(0),
            started_ms: crate::clock::wall_now_ms(),
            target: own_target,
        })
    }

    /// Sets what to call when the status changes (first call wins).
    pub fn set_waker(&self, waker: Waker) {
        // A second waker would be a wiring mistake; the first one stays.
        let _ = self.waker.set(waker);
    }

    pub fn status(&self) -> ConsoleStatus {
        self.status.borrow().clone()
    }

    /// A watch on the status (tests, benchmarks).
    pub fn watch(&self) -> watch::Receiver<ConsoleStatus> {
        self.status.clone()
    }

    /// The site database it follows.
    pub fn target(&self) -> &SiteTarget {
        &self.target
    }

    /// This console's name in the journal.
    pub fn console(&self) -> &str {
        &self.console
    }

    /// The action `kind` on the alarm `view` (as the operator saw it), by `user` at `at_ms`.
    pub fn action(&self, kind: ActionKind, view: &AlarmView, user: &str, comment: &str, at_ms: i64) -> SiteAction {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        SiteAction {
            id: format!("{}:{}:{}:{n}", self.console, std::process::id(), self.started_ms),
            kind,
            rule: view.rule.clone(),
            source: view.source.clone(),
            occurrence_ms: view.active_since_ms,
            user: user.to_owned(),
            console: self.console.clone(),
            comment: comment.to_owned(),
            at_ms,
        }
    }

    /// Queues an action without waiting; `false` if the queue is full or the thread gone.
    pub fn send(&self, action: SiteAction) -> bool {
        self.actions.try_send(action).is_ok()
    }

    /// Queues a logbook note for the site's logbook, kept and retried like an action (by the note's uid).
    pub fn send_note(&self, note: crate::model::logbook::Note) -> bool {
        self.send(SiteAction {
            id: format!("note:{}", note.uid),
            rule: String::new(),
            source: String::new(),
            occurrence_ms: None,
            user: note.author.clone(),
            console: self.console.clone(),
            comment: String::new(),
            at_ms: note.written_ms,
            kind: crate::store::site::alarms::ActionKind::Note(Box::new(note)),
        })
    }
}

/// This machine's name, for the journal's console column.
pub fn console_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "console".to_owned())
}

struct State {
    rows: BTreeMap<(String, String), SiteAlarm>,
    pending: VecDeque<SiteAction>,
    status: ConsoleStatus,
    tx: watch::Sender<ConsoleStatus>,
    waker: Arc<OnceLock<Waker>>,
    /// Where the waiting actions are kept across a restart.
    queue_file: Option<std::path::PathBuf>,
}

impl State {
    fn publish(&mut self) {
        if let Some(path) = &self.queue_file
            && self.status.pending.iter().map(|a| &a.id).ne(self.pending.iter().map(|a| &a.id))
        {
            save_queue(path, &self.pending);
        }
        let mut shown: Vec<&SiteAlarm> = self.rows.values().filter(|a| a.state() != AlarmState::Normal).collect();
        shown.sort_by(|a, b| (a.priority, &a.rule, &a.source).cmp(&(b.priority, &b.rule, &b.source)));
        self.status.alarms = Arc::new(shown.iter().enumerate().map(|(i, a)| a.view(i)).collect());
        self.status.pending = Arc::new(self.pending.iter().cloned().collect());
        self.status.seq = self.rows.values().map(|a| a.seq).max().unwrap_or(0).max(self.status.seq);
        self.tx.send_replace(self.status.clone());
        if let Some(wake) = self.waker.get() {
            wake();
        }
    }

    fn merge(&mut self, changed: Vec<SiteAlarm>) {
        for a in changed {
            self.status.seq = self.status.seq.max(a.seq);
            self.rows.insert((a.rule.clone(), a.source.clone()), a);
        }
    }

    async fn refresh(&mut self, client: &Client) -> Result<(), SiteError> {
        let changed = alarms::read_since(client, self.status.seq).await?;
        if !changed.is_empty() {
            self.merge(changed);
            self.publish();
        }
        Ok(())
    }

    fn lost(&mut self, err: &SiteError) {
        let message = err.to_string();
        if self.status.message.as_deref() != Some(message.as_str()) {
            tracing::warn!("site alarms: {message}; showing them as last read, actions are queued");
        }
        self.status.connected = false;
        self.status.error = matches!(
            err,
            SiteError::Auth { .. }
                | SiteError::Url { .. }
                | SiteError::NewerSchema { .. }
                | SiteError::OlderSchema { .. }
                | SiteError::Foreign { .. }
        );
        self.status.message = Some(message);
        self.status.lost_since_ms.get_or_insert_with(crate::clock::wall_now_ms);
        self.publish();
    }

    fn outcome(&mut self, action: SiteAction, outcome: Outcome) {
        let (rule, source, what) = (&action.rule, &action.source, action.kind.label());
        if let Outcome::Refused(why) = &outcome {
            tracing::warn!(%rule, %source, "{what} refused: {why}");
        } else {
            tracing::info!(%rule, %source, user = %action.user, "{what}: {outcome:?}");
        }
        self.status.last_outcome = Some((action, outcome, crate::clock::wall_now_ms()));
    }
}

const MAX_BACKOFF: Duration = Duration::from_secs(10);

async fn run(target: SiteTarget, mut actions: mpsc::Receiver<SiteAction>, mut state: State) {
    let mut backoff = Duration::from_millis(250);
    loop {
        match target.connect_listening("watchfloor-console").await {
            Ok((mut client, mut notes)) => {
                backoff = Duration::from_millis(250);
                match session(&mut client, &mut notes, &mut actions, &mut state).await {
                    Ok(()) => return,
                    Err(err) => state.lost(&err),
                }
            }
            Err(err) => state.lost(&err),
        }
        // Waits before the next try; actions keep coming and are queued.
        let wait = tokio::time::sleep(backoff);
        tokio::pin!(wait);
        backoff = (backoff * 2).min(MAX_BACKOFF);
        loop {
            tokio::select! {
                () = &mut wait => break,
                action = actions.recv() => match action {
                    Some(action) => {
                        state.pending.push_back(action);
                        state.publish();
                    }
                    None => return,
                },
            }
        }
    }
}

/// One connection's life: read everything, apply what was queued, then follow changes and take actions. Returns
/// `Ok` when the console is closed, the error when the connection is lost.
async fn session(
    client: &mut Client,
    notes: &mut mpsc::Receiver<()>,
    actions: &mut mpsc::Receiver<SiteAction>,
    state: &mut State,
) -> Result<(), SiteError> {
    super::check_schema(client).await?;
    client.batch_execute(&format!("LISTEN {}", alarms::CHANNEL)).await?;
    let all = alarms::read_all(client).await?;
    state.rows.clear();
    state.merge(all);
    state.status.leader = alarms::leader(client).await?;
    state.status.connected = true;
    state.status.loaded = true;
    state.status.message = None;
    state.status.error = false;
    if state.status.lost_since_ms.take().is_some() {
        tracing::info!(url = %state.status.url, "site alarms: connected again");
    }
    state.publish();
    while !state.pending.is_empty() {
        apply_front(client, state).await?;
    }
    let mut poll = tokio::time::interval(Duration::from_secs(2));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            note = notes.recv() => match note {
                Some(()) => {
                    while notes.try_recv().is_ok() {}
                    state.refresh(client).await?;
                }
                None => return Err(SiteError::Connect { url: state.status.url.clone(), reason: "the connection closed".to_owned() }),
            },
            action = actions.recv() => match action {
                Some(action) => {
                    state.pending.push_back(action);
                    while !state.pending.is_empty() {
                        apply_front(client, state).await?;
                    }
                }
                None => return Ok(()),
            },
            _ = poll.tick() => {
                state.refresh(client).await?;
                let leader = alarms::leader(client).await?;
                if leader != state.status.leader {
                    match &leader {
                        Some((host, _)) => tracing::info!(%host, "site alarms: a recorder leads the site"),
                        None => tracing::warn!("site alarms: no recorder leads the site; this console judges its own"),
                    }
                    state.status.leader = leader;
                    state.publish();
                }
            }
        }
    }
}

/// Applies the oldest queued action. A lost connection keeps it queued; a refused statement drops it with the
/// reason (it would block the queue forever).
async fn apply_front(client: &mut Client, state: &mut State) -> Result<(), SiteError> {
    let Some(action) = state.pending.front().cloned() else { return Ok(()) };
    let outcome = match alarms::apply_action(client, &action).await {
        Ok(outcome) => outcome,
        Err(err) if err.is_connection() => return Err(err),
        Err(err) => Outcome::Refused(format!("the site database refused it: {err}")),
    };
    state.pending.pop_front();
    state.outcome(action, outcome);
    state.refresh(client).await?;
    state.publish();
    Ok(())
}

/// The actions a console kept because the database was away (one JSON object a line).
fn load_queue(path: &std::path::Path) -> VecDeque<SiteAction> {
    let Ok(text) = std::fs::read_to_string(path) else { return VecDeque::new() };
    text.lines()
        .filter_map(|line| match serde_json::from_str::<SiteAction>(line) {
            Ok(action) => Some(action),
            Err(err) => {
                tracing::warn!("{}: an action that cannot be read is left out: {err}", path.display());
                None
            }
        })
        .collect()
}

/// Keeps the waiting actions (through a temp file and a rename); none removes the file.
fn save_queue(path: &std::path::Path, pending: &VecDeque<SiteAction>) {
    if pending.is_empty() {
        let _ = std::fs::remove_file(path);
        return;
    }
    let mut text = String::new();
    for action in pending {
        if let Ok(line) = serde_json::to_string(action) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    let tmp = path.with_extension("tmp");
    if let Err(err) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)) {
        tracing::error!("{}: the waiting alarm actions cannot be kept: {err}", path.display());
    }
}
