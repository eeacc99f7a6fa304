//! The eframe app: `logic()` drains feed events into [`LiveState`] under a time budget; `ui()` only reads it and
//! sends [`Command`]s.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use egui::{RichText, Ui};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::analytics::annunciation::Annunciation;
use crate::backend::Backend;
use crate::clock::Clock;
use crate::feeds::Command;
use crate::feeds::{DiagHandle, EventBus, LiveInbox};
use crate::live::{LiveSettings, LiveState};
use crate::store::AlarmView;
use crate::store::export::RecordingInfo;
use crate::store::{History, Pending, StoreCommand, StoreLink, StoreState, StoreStatus};
use crate::ui::panels::connections::ConnectionsPanel;
use crate::ui::panels::status_bar::HistoryIndicator;
use crate::ui::panels::trend::TrendPanel;
use crate::ui::panels::{fleet, status_bar};
use crate::ui::theme::{Theme, ThemeChoice};
use crate::workstation::annunciator::AnnunciatorHandle;

pub mod windows;

/// How long one `logic()` may spend applying events before it lets the frame be drawn.
pub const DRAIN_BUDGET: Duration = Duration::from_millis(8);
/// A repaint is asked for at most this long after data arrives (data shown at up to 10 Hz; idle when none comes).
pub const DATA_REPAINT_AFTER: Duration = Duration::from_millis(100);

/// Set when the system asks Watchfloor to stop (SIGTERM, Ctrl-C): the window closes even in kiosk mode.
static STOP_REQUESTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The system asks Watchfloor to stop: the next close request is not refused, kiosk or not.
pub fn request_stop() {
    STOP_REQUESTED.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn stop_requested() -> bool {
    STOP_REQUESTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// When the process started (set by `main`), so the first frame can report how long start-up took.
pub static PROCESS_START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

pub use crate::ui::View;

/// What is kept between runs (eframe persistence; window size and position are kept by eframe itself).
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UiSettings {
    pub theme: ThemeChoice,
    pub view: View,
    pub trend: TrendPanel,
}

/// Everything the app is built from.
pub struct AppParts {
    pub inbox: LiveInbox,
    /// The bus the inbox belongs to, so the app can ask for repaints when data arrives.
    pub bus: EventBus,
    pub clock: Arc<dyn Clock>,
    /// `None` in tests that publish events themselves.
    pub backend: Option<Backend>,
    pub site_name: String,
    pub timezone: TimeZone,
    pub live_settings: LiveSettings,
    /// Problems found at start (config mistakes), shown until dismissed.
    pub problems: Vec<String>,
    /// The history cache's reader; `None` when there is no cache.
    pub history: Option<History>,
    /// The history writer; `None` when reading a cache read-only (`--db`) or in tests without one.
    pub store: Option<StoreLink>,
    /// Each gateway's counters, last messages and quarantine, for the Connections view.
    pub diagnostics: Vec<DiagHandle>,
    /// Drawn under the fleet map.
    pub site_plan: Arc<crate::model::siteplan::SitePlan>,
    /// The fleet map's tile server, if the config names one.
    pub tiles: Option<crate::ui::tiles::TileServer>,
    /// The fleet map's offline basemap (a `PMTiles` file), if the config names one.
    pub pmtiles: Option<std::path::PathBuf>,
    /// Who acts on alarms (`--operator`); the OS user when `None`.
    pub operator: Option<String>,
    /// Start in review over this range (a recording or a cache opened read-only): (from, to, title).
    pub review: Option<(i64, i64, String)>,
    /// Where *Shift report* writes (the data dir's `reports/`); no button without it.
    pub reports_dir: Option<std::path::PathBuf>,
    /// Where *Export recording* in review writes, and what a recording of this cache carries (config, plan).
    pub recordings: Option<(std::path::PathBuf, crate::store::export::RecordingInfo)>,
    /// The workstation's file (layouts, mute: the data dir's `workstation.toml`); `None` keeps nothing.
    pub workstation: Option<std::path::PathBuf>,
    /// `--kiosk LAYOUT`: fullscreen on that layout, with no way out from the window but the leave dialog.
    pub kiosk: Option<String>,
    /// The horn; `None`: a silent one the window drives itself (tests).
    pub annunciator: Option<AnnunciatorHandle>,
    /// Browsing the OPC UA gateways' servers from the Connections view; `None`: no *Browse*.
    pub browsing: Option<crate::ui::panels::opcua_browse::Browsing>,
}

/// A dropped file being opened: its reader, name, and its review range and what it carries as a recording.
type Opening = (History, String, Pending<(Option<(i64, i64, bool)>, Option<crate::store::export::RecordingInfo>)>);

type Seed = std::collections::BTreeMap<Arc<str>, crate::analytics::Accumulator>;

pub struct WatchfloorApp {
    live: LiveState,
    inbox: LiveInbox,
    clock: Arc<dyn Clock>,
    backend: Option<Backend>,
    sim_gateways: HashSet<Arc<str>>,
    site_name: String,
    timezone: TimeZone,
    settings: UiSettings,
    theme: Theme,
    problems: Vec<String>,
    history: Option<History>,
    store: Option<StoreLink>,
    /// The last values from the cache, requested at start.
    restoring: Option<Pending<Vec<(String, crate::model::Sample)>>>,
    /// The shift so far, rebuilt from the cache at start: (shift, read up to, accumulators).
    seeding: Option<(crate::analytics::Period, i64, Pending<Seed>)>,
    first_frame_drawn: bool,
    diagnostics: Vec<DiagHandle>,
    connections: ConnectionsPanel,
    plant: crate::ui::panels::oee::PlantPanel,
    map: crate::ui::panels::map::MapPanel,
    fleet_table: fleet::FleetTable,
    alarms: crate::ui::panels::alarm_list::AlarmsPanel,
    logbook: crate::ui::panels::logbook::LogbookPanel,
    /// This workstation's name: the logbook's note ids.
    console: String,
    /// The site at a past instant, when reviewing.
    review: Option<crate::ui::panels::review::Review>,
    reports_dir: Option<std::path::PathBuf>,
    recordings: Option<(std::path::PathBuf, crate::store::export::RecordingInfo)>,
    /// A recording dropped onto the window, while its range is read.
    opening: Option<Opening>,
    /// Who acts on alarms from this window: chosen at start (`--operator`, the toolbar), default the OS user.
    operator: String,
    /// The site database's alarms, when this window is a control-room console (`[site_db]`).
    site: Option<crate::store::site::SiteConsole>,
    /// The workstation's alarm horn.
    annunciator: AnnunciatorHandle,
    /// Popped-out windows, layouts, kiosk mode.
    windows: windows::Windows,
    /// Whether the start-up layout and kiosk mode were put in place (at the first frame).
    placed: bool,
}

impl WatchfloorApp {
    pub fn new(cc: &eframe::CreationContext<'_>, parts: AppParts) -> Self {
        let settings: UiSettings = cc.storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY)).unwrap_or_default();
        let theme = Theme::for_choice(settings.theme);
        theme.apply(&cc.egui_ctx);
        let ctx = cc.egui_ctx.clone();
        parts.bus.set_waker(Box::new(move || ctx.request_repaint_after(DATA_REPAINT_AFTER)));
        let sim_gateways = parts.backend.as_ref().map(|b| b.sim_gateways().clone()).unwrap_or_default();
        if let Some(history) = &parts.history {
            let ctx = cc.egui_ctx.clone();
            history.set_waker(std::sync::Arc::new(move || ctx.request_repaint()));
        }
        let restoring = parts.history.as_ref().and_then(History::latest);
        let mut live = LiveState::new(parts.live_settings);
        let seeding = parts.history.as_ref().and_then(|h| seed_oee(h, &mut live, parts.clock.now_ms()));
        let start_in_review = parts.review.clone();
        let (windows, workstation_problems) = windows::Windows::new(parts.workstation, parts.kiosk);
        let mut problems = parts.problems;
        problems.extend(workstation_problems);
        let annunciator = parts.annunciator.unwrap_or_else(|| {
            let horn = crate::analytics::annunciation::Annunciator::new(120_000, windows.saved.muted);
            AnnunciatorHandle::silent(horn, Arc::new(crate::clock::SystemClock))
        });
        let mut app = Self {
            live,
            seeding,
            inbox: parts.inbox,
            clock: parts.clock,
            backend: parts.backend,
            sim_gateways,
            site_name: parts.site_name,
            timezone: parts.timezone,
            settings,
            theme,
            problems,
            history: parts.history,
            store: parts.store,
            restoring,
            first_frame_drawn: false,
            diagnostics: parts.diagnostics,
            connections: ConnectionsPanel::with_browsing(parts.browsing),
            plant: crate::ui::panels::oee::PlantPanel::default(),
            map: crate::ui::panels::map::MapPanel::new(parts.site_plan).with_tiles(parts.tiles, parts.pmtiles),
            fleet_table: fleet::FleetTable::default(),
            alarms: crate::ui::panels::alarm_list::AlarmsPanel::default(),
            logbook: crate::ui::panels::logbook::LogbookPanel::default(),
            console: crate::store::site::console_name(),
            opening: None,
            review: None,
            reports_dir: parts.reports_dir,
            recordings: parts.recordings,
            operator: parts.operator.filter(|o| !o.trim().is_empty()).unwrap_or_else(os_user),
            site: None,
            annunciator,
            windows,
            placed: false,
        };
        if let Some((from, to, title)) = start_in_review {
            app.start_review((from, to), from, title);
        }
        app
    }

    /// Makes this window a control-room console: the banner and the Alarms view show the site database's alarms
    /// (this window's own until the site's are first read) and operator actions go there, journaled with this
    /// console's name.
    #[must_use]
    pub fn with_site(mut self, site: crate::store::site::SiteConsole, ctx: &egui::Context) -> Self {
        let ctx = ctx.clone();
        site.set_waker(Arc::new(move || ctx.request_repaint()));
        self.site = Some(site);
        self
    }

    /// The site database's alarms as this console last read them, if it is one.
    pub fn site_status(&self) -> Option<crate::store::site::ConsoleStatus> {
        self.site.as_ref().map(crate::store::site::SiteConsole::status)
    }

    /// The site's alarm state when this console uses it (see [`site_in_use`]).
    fn site_alarms(&self) -> Option<crate::store::site::ConsoleStatus> {
        self.site_status().filter(site_in_use)
    }

    /// The alarms shown now: the site's when this is a console that has read them, else this window's own.
    fn alarms_now(&self) -> Arc<Vec<crate::store::AlarmView>> {
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
    fn send_alarm_actions(&self, reviewing: bool, shown: &[crate::store::AlarmView], actions: Vec<StoreCommand>) {
        use crate::model::history::OperatorAction;
        use crate::store::site::alarms::ActionKind;
        let Some(site) = self.site.as_ref().filter(|_| !reviewing && self.site_alarms().is_some()) else {
            send_alarm_actions(self.store.as_ref(), reviewing, actions);
            return;
        };
        let now = self.clock.now_ms();
        for action in actions {
            let StoreCommand::Alarm(op) = action else { continue };
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

    /// A strip under the top bar while the site database is away, actions wait, or one was just refused.
    fn site_strip_ui(&self, ui: &mut Ui, status: &crate::store::site::ConsoleStatus) {
        use crate::ui::theme::Severity;
        let refused = status.recent_refusal(crate::clock::wall_now_ms());
        ui.horizontal_wrapped(|ui| {
            if status.connected && status.leader.is_none() {
                crate::ui::widgets::status_badge_ui(ui, &self.theme, Severity::Attention, "No recorder leads the site");
                ui.label("Nothing judges the site's alarms: this console shows and acts on its own.");
            } else if status.connected {
                crate::ui::widgets::status_badge_ui(ui, &self.theme, Severity::Normal, "Site database");
            } else {
                let (severity, badge) = if status.error {
                    (Severity::Alarm, "Site database refused")
                } else {
                    (Severity::Attention, "Site database unreachable")
                };
                crate::ui::widgets::status_badge_ui(ui, &self.theme, severity, badge);
                let since = status
                    .lost_since_ms
                    .map(|t| format!("lost {}", crate::ui::fmt_ago(crate::clock::wall_now_ms(), t)))
                    .unwrap_or_default();
                let what = if status.loaded {
                    "Showing the alarms as last read; actions are queued."
                } else {
                    "Showing this console's own alarms; actions are queued."
                };
                ui.label(RichText::new(since).strong());
                ui.label(what);
                ui.label(
                    RichText::new(status.message.as_deref().unwrap_or("not connected")).color(self.theme.text_dim),
                );
            }
            if !status.pending.is_empty() {
                ui.label(
                    RichText::new(format!(
                        "{} action(s) pending, applied when the site database is back",
                        status.pending.len()
                    ))
                    .strong()
                    .color(self.theme.attention),
                );
            }
            if let Some(text) = refused {
                ui.label(RichText::new(text).color(self.theme.alarm));
            }
        });
    }

    /// Treat these gateways as simulators (their tiles offer fault injection). For tests without a backend.
    pub fn set_sim_gateways(&mut self, names: HashSet<Arc<str>>) {
        self.sim_gateways = names;
    }

    pub fn live(&self) -> &LiveState {
        &self.live
    }

    pub fn settings(&self) -> &UiSettings {
        &self.settings
    }

    /// The fleet table's order and filters.
    pub fn fleet_table(&self) -> &fleet::FleetTable {
        &self.fleet_table
    }

    /// The review, when one is open.
    pub fn review(&self) -> Option<&crate::ui::panels::review::Review> {
        self.review.as_ref()
    }

    /// Leaves the review: every view shows the present again (*Back to live*).
    pub fn back_to_live(&mut self) {
        self.review = None;
    }

    /// Opens a review of `[from, to]` at `at` (the *Review* button does this for the current shift).
    pub fn start_review(&mut self, range: (i64, i64), at_ms: i64, title: String) {
        self.review = Some(self.new_review(range, at_ms, title));
    }

    fn new_review(&self, range: (i64, i64), at_ms: i64, title: String) -> crate::ui::panels::review::Review {
        let mut review = crate::ui::panels::review::Review::new(self.live.settings.clone(), range, at_ms, title);
        if let Some(dir) = &self.reports_dir {
            review = review.with_reports(dir.clone(), self.site_name.clone());
        }
        if let Some((dir, info)) = &self.recordings {
            review = review.with_export(dir.clone(), info.clone());
        }
        if let Some(site) = &self.site {
            review = review.with_site(site.target().clone());
        }
        review
    }

    /// Opens a recording (or another cache) dropped onto the window, in review, through its own reader.
    pub fn open_file(&mut self, path: std::path::PathBuf, ctx: &egui::Context) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match History::start_reviewing(path) {
            Ok(history) => {
                let ctx = ctx.clone();
                history.set_waker(Arc::new(move || ctx.request_repaint()));
                let extent = history.run(|conn| {
                    let sql = crate::store::query::sqlite_error(conn);
                    let extent = crate::store::export::review_extent(conn).map_err(sql)?;
                    let info =
                        crate::store::export::recording_info(conn).map_err(crate::store::query::sqlite_error(conn))?;
                    Ok((extent, info))
                });
                if let Some(extent) = extent {
                    self.opening = Some((history, name, extent));
                }
            }
            Err(err) => self.problems.push(format!("{name} cannot be opened: {err}")),
        }
    }

    /// Finishes opening a dropped file once its range is known.
    fn poll_opening(&mut self) {
        let Some((_, _, pending)) = &mut self.opening else { return };
        let Some(result) = pending.poll() else { return };
        let Some((history, name, _)) = self.opening.take() else { return };
        match result {
            Ok((Some((from, to, recording)), info)) => {
                let title = format!("{} {name}", if recording { "Recording" } else { "Cache" });
                let mut review = self.new_review((from, to), from, title).with_source(history.clone());
                if let Some((dir, own)) = &self.recordings {
                    // A part of a dropped recording carries its config and plan; of a dropped cache, this window's.
                    let source = history.path().display().to_string();
                    let info = RecordingInfo { source, ..info.unwrap_or_else(|| own.clone()) };
                    review = review.with_export(dir.clone(), info);
                }
                self.review = Some(review);
            }
            Ok((None, _)) => self.problems.push(format!("{name} holds no data to review")),
            Err(err) => self.problems.push(format!("{name} cannot be opened: {err}")),
        }
    }

    /// Switches the view, as the tabs do (the UI benchmark drives the app without clicks).
    pub fn set_view(&mut self, view: View) {
        self.settings.view = view;
    }

    /// Whether the last values from the cache are still being read.
    pub fn restoring(&self) -> bool {
        self.restoring.is_some()
    }

    /// A banner when the history cache is not storing: why, and what the user can do.
    fn history_problem_ui(&self, ui: &mut Ui, store: &StoreLink, status: &StoreStatus) {
        alarm_banner_ui(ui, &self.theme, |ui| {
            ui.horizontal_wrapped(|ui| {
                crate::ui::widgets::status_badge_ui(
                    ui,
                    &self.theme,
                    crate::ui::theme::Severity::Alarm,
                    "History not stored",
                );
                ui.label(status.message.as_deref().unwrap_or("The history cache cannot be written."));
                ui.label(format!("Live values go on; {} samples not stored.", status.lost_samples));
                if status.state == StoreState::Refused
                    && ui
                        .button("Start a new cache")
                        .on_hover_text("The old file is kept next to the new one, renamed with a time stamp")
                        .clicked()
                    && !store.send(StoreCommand::StartNewCache)
                {
                    tracing::warn!("history writer busy; try again");
                }
            });
        });
    }

    fn send(&self, commands: Vec<Command>) {
        for command in commands {
            match &self.backend {
                Some(backend) => backend.send(command),
                None => tracing::debug!(?command, "no backend to send to"),
            }
        }
    }

    /// The top bar; `waiting`: the alarms that wait for an acknowledgement (counted on the Alarms tab).
    fn top_bar_ui(&mut self, ui: &mut Ui, (horn, waiting): (&Annunciation, usize), out: &mut windows::ViewOut) {
        let kiosk = self.windows.kiosk();
        ui.horizontal(|ui| {
            ui.label(RichText::new("Watchfloor").strong().size(17.0).color(self.theme.text_strong));
            ui.separator();
            for view in View::ALL {
                let mut label = match view {
                    View::Alarms if waiting > 0 => format!("Alarms ({waiting})"),
                    _ => view.label().to_owned(),
                };
                if let Some(window) = self.windows.popped.iter().find(|p| p.view == view) {
                    // A view in its own window: its tab brings that window to the front.
                    label.push_str(" (window)");
                    if ui
                        .button(label)
                        .on_hover_text("Shown in its own window: click to bring it to the front")
                        .clicked()
                    {
                        ui.ctx().send_viewport_cmd_to(window.id, egui::ViewportCommand::Focus);
                    }
                    continue;
                }
                let tip = match view {
                    View::Alarms => "Ctrl+Tab: next view · F8: the Alarms view",
                    _ => "Ctrl+Tab: next view · Ctrl+Shift+Tab: previous view",
                };
                ui.selectable_value(&mut self.settings.view, view, label).on_hover_text(tip);
            }
            if !kiosk
                && !self.windows.is_popped(self.settings.view)
                && ui
                    .button("Pop out")
                    .on_hover_text("Show this view in its own window, to put on another monitor")
                    .clicked()
            {
                self.windows.pop_out_beside(ui.ctx(), self.settings.view);
            }
            ui.separator();
            if self.review.is_none()
                && self.history.is_some()
                && ui.button("Review").on_hover_text("Go back through this shift on a timeline").clicked()
            {
                let now = self.clock.now_ms();
                let shift = crate::analytics::Period::at(&self.live.settings.calendar, now);
                let title = format!("Shift {}", shift.name);
                self.start_review((shift.start_ms, now), (now - 15 * 60_000).max(shift.start_ms), title);
            }
            ui.separator();
            windows::horn_ui(ui, &self.theme, (horn, self.annunciator.now_ms()), out);
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let next = self.settings.theme.toggled();
                if ui
                    .button(format!("{} theme", next.label()))
                    .on_hover_text("Switch between the dark and the light variant")
                    .clicked()
                {
                    self.settings.theme = next;
                    self.theme = Theme::for_choice(next);
                    self.theme.apply(ui.ctx());
                }
                if !kiosk {
                    self.layout_menu_ui(ui);
                }
                // Right to left: the field, then its label to its left.
                let field = ui
                    .add(egui::TextEdit::singleline(&mut self.operator).id_salt("operator").desired_width(110.0))
                    .on_hover_text("Your name: every alarm action is journaled with it");
                field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Operator"));
                if field.lost_focus() && self.operator.trim().is_empty() {
                    self.operator = os_user();
                }
                ui.label("Operator");
            });
        });
    }

    /// *Layout*: save the windows as they are under a name, put a saved layout back, delete one.
    fn layout_menu_ui(&mut self, ui: &mut Ui) {
        let current = self.windows.saved.layout.clone();
        let title = current.as_deref().map_or_else(|| "Layout".to_owned(), |n| format!("Layout: {n}"));
        // The menu stays open while the name is typed (a click in it closes it only on a button).
        let config =
            egui::containers::menu::MenuConfig::new().close_behavior(egui::PopupCloseBehavior::CloseOnClickOutside);
        egui::containers::menu::MenuButton::new(title).config(config).ui(ui, |ui| {
            let mut result = Ok(());
            ui.horizontal(|ui| {
                let field = ui.add(
                    egui::TextEdit::singleline(&mut self.windows.layout_name)
                        .id_salt("layout_name")
                        .hint_text("name")
                        .desired_width(120.0),
                );
                field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Layout name"));
                if ui
                    .button("Save layout")
                    .on_hover_text("Keep which view is in which window, where, how big and on which monitor")
                    .clicked()
                {
                    let name = std::mem::take(&mut self.windows.layout_name);
                    result = self.windows.save_layout(ui.ctx(), &name, self.settings.view);
                    ui.close();
                }
            });
            let names: Vec<String> = self.windows.saved.layouts.keys().cloned().collect();
            if !names.is_empty() {
                ui.separator();
            }
            for name in names {
                ui.horizontal(|ui| {
                    let mark = if current.as_deref() == Some(name.as_str()) { "● " } else { "" };
                    if ui.button(format!("{mark}{name}")).on_hover_text("Put these windows back").clicked() {
                        result = self.windows.apply_layout(&name);
                        ui.close();
                    }
                    if ui.small_button("Delete").on_hover_text(format!("Forget the layout {name:?}")).clicked() {
                        result = self.windows.delete_layout(&name);
                    }
                });
            }
            if let Err(err) = result {
                self.problems.push(err);
            }
        });
    }

    /// Hands logbook notes to the history writer (which keeps them until the file takes them) and, on a console,
    /// to the site database.
    fn write_notes(&mut self, notes: Vec<crate::model::logbook::Note>) {
        for note in notes {
            tracing::info!(uid = note.uid, author = note.author, "logbook: note written");
            if let Some(site) = &self.site
                && !site.send_note(note.clone())
            {
                self.problems.push("The note did not go to the site database: its queue is full".to_owned());
            }
            let sent = self.store.as_ref().is_some_and(|s| s.send(StoreCommand::Note(Box::new(note))));
            if !sent {
                self.problems.push("The note was not stored: the history writer is busy or gone".to_owned());
            }
        }
    }

    /// Carries out what the windows asked for this frame: feed commands, alarm actions, the horn, the keys.
    fn act(&mut self, ctx: &egui::Context, out: windows::ViewOut, live_alarms: &[AlarmView], shown: &[AlarmView]) {
        let reviewing = self.review.is_some();
        self.send(out.commands);
        self.write_notes(out.logbook.notes);
        if let Some(taker) = out.logbook.operator {
            tracing::info!(from = self.operator, to = taker, "shift handed over");
            self.operator = taker;
        }
        let mut actions = out.alarm_actions;
        if let (Some(t), Some(review)) = (out.seek, self.review.as_mut()) {
            review.seek(t);
        }
        if out.horn.silence || (out.keys.silence && self.annunciator.now().sounding.is_some()) {
            self.annunciator.silence(live_alarms);
        }
        if let Some(muted) = out.horn.mute {
            self.annunciator.set_muted(muted, live_alarms);
            if let Err(err) = self.windows.set_muted(muted) {
                self.problems.push(err);
            }
        }
        if out.keys.acknowledge && !reviewing {
            // The alarms selected in the Alarms view that wait, else the oldest one waiting.
            let mut indices: Vec<usize> = live_alarms
                .iter()
                .filter(|a| a.state.wants_ack() && self.alarms.selected.contains(&a.index))
                .map(|a| a.index)
                .collect();
            if indices.is_empty() {
                indices.extend(windows::oldest_waiting(live_alarms).map(|a| a.index));
            }
            if !indices.is_empty() {
                actions.push(StoreCommand::Alarm(crate::model::history::OperatorAction::Acknowledge {
                    indices,
                    user: self.operator.clone(),
                    comment: String::new(),
                }));
            }
        }
        self.send_alarm_actions(reviewing, shown, actions);
        let in_main: Vec<View> = View::ALL.into_iter().filter(|v| !self.windows.is_popped(*v)).collect();
        if out.keys.alarms {
            match self.windows.popped.iter().find(|p| p.view == View::Alarms) {
                Some(p) => ctx.send_viewport_cmd_to(p.id, egui::ViewportCommand::Focus),
                None => self.settings.view = View::Alarms,
            }
        }
        if (out.keys.next_view || out.keys.previous_view) && !in_main.is_empty() {
            let at = in_main.iter().position(|v| *v == self.settings.view).unwrap_or(0);
            let step = if out.keys.next_view { 1 } else { in_main.len() - 1 };
            self.settings.view = in_main[(at + step) % in_main.len()];
        }
        if let Some(view) = out.bring_back {
            self.windows.bring_back(view);
            self.settings.view = view;
        }
        if out.keys.leave_kiosk
            && let Some(kiosk) = &mut self.windows.kiosk
        {
            kiosk.leaving.get_or_insert_with(String::new);
        }
        let operator = self.operator.clone();
        if let Some(kiosk) = &mut self.windows.kiosk
            && windows::leave_kiosk_ui(ctx, kiosk, &operator)
        {
            self.windows.kiosk = None;
            ctx.send_viewport_cmd_to(egui::ViewportId::ROOT, egui::ViewportCommand::Close);
        }
    }

    /// The workstation's horn.
    pub fn annunciator(&self) -> &AnnunciatorHandle {
        &self.annunciator
    }

    /// The views shown in their own windows.
    pub fn popped_out(&self) -> Vec<View> {
        self.windows.popped.iter().map(|p| p.view).collect()
    }

    /// Shows a view in its own window (as *Pop out* does).
    pub fn pop_out(&mut self, view: View) {
        self.windows.pop_out(view, None);
    }

    fn problems_ui(&mut self, ui: &mut Ui) {
        let mut dismissed = false;
        alarm_banner_ui(ui, &self.theme, |ui| {
            ui.horizontal(|ui| {
                crate::ui::widgets::status_badge_ui(
                    ui,
                    &self.theme,
                    crate::ui::theme::Severity::Alarm,
                    "Problems at start",
                );
                if ui.button("Dismiss").clicked() {
                    dismissed = true;
                }
            });
            for p in &self.problems {
                ui.label(RichText::new(p).monospace());
            }
        });
        if dismissed {
            self.problems.clear();
        }
    }
}

/// The site the views show, and when: as it was at the review's cursor, else live now.
fn shown<'a>(
    review: Option<&'a crate::ui::panels::review::Review>,
    live: &'a LiveState,
    clock: &dyn Clock,
) -> (&'a LiveState, i64) {
    match review {
        Some(r) => (&r.live, r.at_ms),
        None => (live, clock.now_ms()),
    }
}

/// Whether a console uses the site's alarm state: read at least once, and judged by a leading recorder (or the
/// database is away: then as last read). With no recorder leading, nothing judges the site's alarms, so the
/// window shows and acts on its own.
pub fn site_in_use(status: &crate::store::site::ConsoleStatus) -> bool {
    status.loaded && (status.leader.is_some() || !status.connected)
}

/// The alarms a window and its horn follow: the site's when this is a console that uses them, else the history
/// writer's.
pub fn alarms_of(
    site: Option<&crate::store::site::ConsoleStatus>,
    store: Option<&StoreLink>,
) -> Arc<Vec<crate::store::AlarmView>> {
    match site.filter(|s| site_in_use(s)) {
        Some(status) => Arc::clone(&status.alarms),
        None => store.map(|s| s.status().alarms).unwrap_or_default(),
    }
}

/// Sends the operator's alarm actions to the history writer; in review they are not taken (they are for the
/// present).
fn send_alarm_actions(store: Option<&StoreLink>, reviewing: bool, actions: Vec<StoreCommand>) {
    for action in actions {
        if reviewing {
            tracing::info!("alarm actions are for the present: back to live to act");
        } else if !store.is_some_and(|s| s.send(action)) {
            tracing::warn!("alarm action not taken: the history writer is busy or gone");
        }
    }
}

/// The OS user, the default operator.
pub fn os_user() -> String {
    std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "operator".to_owned())
}

/// The area an alarm's asset belongs to: a machine's area, the fleet, the gateways.
fn alarm_area(live: &LiveState, asset: &str) -> String {
    if let Some(m) = live.machines.get(asset) {
        return m.path.area.clone();
    }
    if live.vehicles.contains_key(asset) {
        return "Fleet".to_owned();
    }
    if live.gateways.contains_key(asset) {
        return "Gateways".to_owned();
    }
    match live.machines.values().find(|m| m.id.starts_with(asset)) {
        Some(m) => m.path.area.clone(),
        None => "Other".to_owned(),
    }
}

/// Asks the reader for the current shift so far, and has the tracker keep live inputs until it comes.
fn seed_oee(
    history: &History,
    live: &mut LiveState,
    now_ms: i64,
) -> Option<(crate::analytics::Period, i64, Pending<Seed>)> {
    live.oee.tick(now_ms);
    let period = live.oee.period()?.clone();
    // The writer commits in batches: what is older than this is in the file.
    let until_ms = now_ms - 2_000;
    let (assets, calendar) = (live.oee.assets().clone(), live.oee.calendar().clone());
    let shift = period.clone();
    let path = history.path().to_owned();
    let pending = history.run(move |conn| {
        crate::analytics::history::seed(conn, &assets, &calendar, &shift, until_ms)
            .map_err(|source| crate::store::Error::History { path, source })
    })?;
    live.oee.begin_seed();
    Some((period, until_ms, pending))
}

/// A framed banner outlined in the alarm colour, across the top of the window.
fn alarm_banner_ui(ui: &mut Ui, theme: &Theme, add_contents: impl FnOnce(&mut Ui)) {
    egui::Frame::new()
        .fill(theme.tile)
        .stroke(egui::Stroke::new(2.0, theme.alarm))
        .inner_margin(8.0)
        .show(ui, add_contents);
}

impl eframe::App for WatchfloorApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        if let Some(pending) = &mut self.restoring
            && let Some(result) = pending.poll()
        {
            self.restoring = None;
            match result {
                Ok(values) => {
                    tracing::info!(signals = values.len(), "last values restored from the history cache");
                    self.live.restore(&values);
                }
                Err(crate::store::Error::Missing { .. }) => {}
                Err(err) => tracing::warn!("last values not restored: {err}"),
            }
        }
        if let Some((period, until_ms, pending)) = &mut self.seeding
            && let Some(result) = pending.poll()
        {
            match result {
                Ok(machines) => {
                    tracing::info!(machines = machines.len(), shift = %period.name, "OEE of the shift so far read from the cache");
                    self.live.oee.seed(period, machines, *until_ms);
                }
                Err(crate::store::Error::Missing { .. }) => self.live.oee.seed(period, Seed::new(), *until_ms),
                Err(err) => {
                    tracing::warn!("OEE of the shift so far not read from the cache: {err}");
                    self.live.oee.seed(period, Seed::new(), *until_ms);
                }
            }
            self.seeding = None;
        }
        let live = &mut self.live;
        live.oee.tick(self.clock.now_ms());
        let stats = self.inbox.drain(DRAIN_BUDGET, |event| live.apply(event));
        live.note_coalesced(stats.coalesced);
        if stats.more_pending {
            ctx.request_repaint();
        }
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        if !self.placed {
            self.placed = true;
            self.windows.enter_kiosk(&ctx);
        }
        self.windows.apply_pending(&ctx, &mut self.settings.view);
        // A recording dropped onto the window opens in review.
        let dropped: Option<std::path::PathBuf> =
            ctx.input(|i| i.raw.dropped_files.first().map(|f| f.path().to_path_buf()));
        if let Some(path) = dropped {
            self.open_file(path, &ctx);
        }
        self.poll_opening();
        // In kiosk mode the main window cannot be closed from the desktop (only the leave dialog closes it, or the
        // system stopping Watchfloor: SIGTERM, logout).
        if self.windows.kiosk() && !stop_requested() && ctx.input(|i| i.viewport().close_requested()) {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
        }
        // The horn follows the live alarms, also while the window reviews the past.
        let live_alarms = self.alarms_now();
        let horn = self.annunciator.evaluate(&live_alarms);
        let mut out = windows::ViewOut { keys: windows::Shortcuts::read(&ctx), ..Default::default() };
        if out.keys.fullscreen {
            self.windows.toggle_fullscreen(&ctx);
        }
        let no_sound = match self.annunciator.audio() {
            crate::workstation::sound::AudioState::Unavailable(why) => Some(why),
            _ => None,
        };
        let waiting = live_alarms.iter().filter(|a| a.state.wants_ack()).count();
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar_ui(ui, (&horn, waiting), &mut out));
        if let Some(review) = &mut self.review {
            review.tick(self.history.as_ref(), &ctx);
            let (theme, tz) = (&self.theme, &self.timezone);
            let action = egui::Panel::top("review").show(ui, |ui| review.bar_ui(ui, theme, tz)).inner;
            if action == crate::ui::panels::review::ReviewAction::BackToLive {
                self.back_to_live();
            }
        }
        if !self.problems.is_empty() {
            egui::Panel::top("problems").show(ui, |ui| self.problems_ui(ui));
        }
        let history = match (&self.store, &self.history) {
            (Some(store), _) => HistoryIndicator::Recording(store.status()),
            (None, Some(history)) => HistoryIndicator::Reviewing(history.path().to_owned()),
            (None, None) => HistoryIndicator::None,
        };
        let open_connections = egui::Panel::bottom("status_bar")
            .show(ui, |ui| {
                let site = self.site_status();
                let (live, now_ms) = shown(self.review.as_ref(), &self.live, self.clock.as_ref());
                let sources =
                    status_bar::StatusSources { history: &history, site: site.as_ref(), no_sound: no_sound.as_deref() };
                status_bar::status_bar_ui(ui, &self.theme, live, now_ms, (&self.site_name, &self.timezone), &sources)
            })
            .inner;
        if open_connections {
            self.settings.view = View::Connections;
        }
        if let (Some(store), HistoryIndicator::Recording(status)) = (&self.store, &history)
            && matches!(status.state, StoreState::Refused | StoreState::Failing)
        {
            egui::Panel::top("history_problem").show(ui, |ui| self.history_problem_ui(ui, store, status));
        }
        if let Some(status) = self.site_status().filter(|s| {
            let refused = s.recent_refusal(crate::clock::wall_now_ms()).is_some();
            !s.connected || !s.pending.is_empty() || refused || s.leader.is_none()
        }) {
            egui::Panel::top("site_db").show(ui, |ui| self.site_strip_ui(ui, &status));
        }
        let reviewing = self.review.is_some();
        let alarms_now: Arc<Vec<crate::store::AlarmView>> = match &self.review {
            Some(r) => Arc::clone(&r.alarms),
            None => Arc::clone(&live_alarms),
        };
        let main_view = self.settings.view;
        {
            // Every view reads the site either live or, in review, as it was at the cursor.
            let (live, now_ms) = shown(self.review.as_ref(), &self.live, self.clock.as_ref());
            let env = windows::ViewEnv {
                theme: &self.theme,
                live,
                now_ms,
                sims: &self.sim_gateways,
                // A dropped recording under review has its own reader.
                history: self.review.as_ref().and_then(|r| r.source()).or(self.history.as_ref()),
                alarms: &alarms_now,
                operator: &self.operator,
                timezone: &self.timezone,
                diagnostics: &self.diagnostics,
                cursor: self.review.as_ref().map(|r| crate::ui::panels::trend::ReviewCursor {
                    from_ms: r.from_ms,
                    to_ms: r.to_ms,
                    at_ms: r.at_ms,
                }),
                reviewing,
                horn: &horn,
                horn_now_ms: self.annunciator.now_ms(),
                kiosk: self.windows.kiosk(),
                notes_written: self.store.as_ref().map_or(0, |s| s.status().notes_written),
                notes_writable: self.store.is_some(),
                console: &self.console,
            };
            let mut views = windows::Views {
                plant: &mut self.plant,
                map: &mut self.map,
                fleet_table: &mut self.fleet_table,
                alarms: &mut self.alarms,
                trend: &mut self.settings.trend,
                connections: &mut self.connections,
                logbook: &mut self.logbook,
            };
            windows::banner_ui(ui, "alarms", &env, &mut out);
            if self.windows.is_popped(main_view) {
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.add_space(24.0);
                    ui.vertical_centered(|ui| {
                        ui.label(format!("{} is shown in its own window.", main_view.label()));
                        if !env.kiosk && ui.button("Back to main window").clicked() {
                            out.bring_back = Some(main_view);
                        }
                    });
                });
            } else {
                windows::view_ui(ui, main_view, &mut views, &env, &mut out);
            }
            windows::pop_outs_ui(&ctx, &self.windows.popped, &mut views, &env, &mut out);
        }
        self.act(&ctx, out, &live_alarms, &alarms_now);
        // The main window shows a view that is not in a window of its own (unless every view is).
        if self.windows.is_popped(self.settings.view)
            && let Some(view) = View::ALL.into_iter().find(|v| !self.windows.is_popped(*v))
        {
            self.settings.view = view;
        }
        if !self.first_frame_drawn {
            self.first_frame_drawn = true;
            if let Some(start) = PROCESS_START.get() {
                tracing::info!(ms = start.elapsed().as_millis(), "first frame drawn");
            }
        }
        // The clock and "last seen" move on even when no data arrives; once a second is enough for them.
        ctx.request_repaint_after(Duration::from_secs(1));
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }

    fn clear_color(&self, _visuals: &egui::Visuals) -> [f32; 4] {
        self.theme.background.to_normalized_gamma_f32()
    }
}
