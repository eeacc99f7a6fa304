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
use crate::ui::UiCommand;
use crate::ui::panels::connections::ConnectionsPanel;
use crate::ui::panels::status_bar::HistoryIndicator;
use crate::ui::panels::trend::TrendPanel;
use crate::ui::panels::{fleet, status_bar};
use crate::ui::theme::{Theme, ThemeChoice};
use crate::workstation::annunciator::AnnunciatorHandle;

mod desk;
pub mod windows;

pub use desk::{Desk, alarms_of, site_in_use};

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
mod review;
mod top_bar;
use review::*;

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
    /// Where alarm actions and notes go; the alarms followed.
    desk: desk::Desk,
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
            desk: desk::Desk { store: parts.store, site: None },
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
        self.desk.site = Some(site);
        self
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

    /// Switches the view, as the tabs do (the UI benchmark drives the app without clicks).
    pub fn set_view(&mut self, view: View) {
        self.settings.view = view;
    }

    /// Whether the last values from the cache are still being read.
    pub fn restoring(&self) -> bool {
        self.restoring.is_some()
    }

    fn send(&self, commands: Vec<Command>) {
        for command in commands {
            match &self.backend {
                Some(backend) => backend.send(command),
                None => tracing::debug!(?command, "no backend to send to"),
            }
        }
    }

    /// Carries out what the views and windows asked for this frame — the one place that does — and the keys.
    fn act(&mut self, ctx: &egui::Context, out: windows::ViewOut, live_alarms: &[AlarmView], shown: &[AlarmView]) {
        let reviewing = self.review.is_some();
        let (mut alarm_actions, mut notes, mut feed) = (Vec::new(), Vec::new(), Vec::new());
        let mut bring_back = None;
        let mut silence = out.keys.silence && self.annunciator.now().sounding.is_some();
        for command in out.commands {
            match command {
                UiCommand::Feed(command) => feed.push(command),
                UiCommand::Alarm(action) => alarm_actions.push(action),
                UiCommand::Note(note) => notes.push(*note),
                UiCommand::TakeOver(taker) => {
                    tracing::info!(from = self.operator, to = taker, "shift handed over");
                    self.operator = taker;
                }
                UiCommand::Seek(t) => {
                    if let Some(review) = self.review.as_mut() {
                        review.seek(t);
                    }
                }
                UiCommand::Silence => silence = true,
                UiCommand::Mute(muted) => {
                    self.annunciator.set_muted(muted, live_alarms);
                    if let Err(err) = self.windows.set_muted(muted) {
                        self.problems.push(err);
                    }
                }
                UiCommand::BringBack(view) => bring_back = Some(view),
            }
        }
        self.send(feed);
        self.desk.write_notes(notes, &mut self.problems);
        if silence {
            self.annunciator.silence(live_alarms);
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
                alarm_actions.push(crate::model::history::OperatorAction::Acknowledge {
                    indices,
                    user: self.operator.clone(),
                    comment: String::new(),
                });
            }
        }
        self.desk.send_alarm_actions(reviewing, shown, alarm_actions, self.clock.now_ms());
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
        if let Some(view) = bring_back {
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
        let live_alarms = self.desk.alarms_now();
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
        let history = match (&self.desk.store, &self.history) {
            (Some(store), _) => HistoryIndicator::Recording(store.status()),
            (None, Some(history)) => HistoryIndicator::Reviewing(history.path().to_owned()),
            (None, None) => HistoryIndicator::None,
        };
        let open_connections = egui::Panel::bottom("status_bar")
            .show(ui, |ui| {
                let site = self.desk.site_status();
                let (live, now_ms) = shown(self.review.as_ref(), &self.live, self.clock.as_ref());
                let sources =
                    status_bar::StatusSources { history: &history, site: site.as_ref(), no_sound: no_sound.as_deref() };
                status_bar::status_bar_ui(ui, &self.theme, live, now_ms, (&self.site_name, &self.timezone), &sources)
            })
            .inner;
        if open_connections {
            self.settings.view = View::Connections;
        }
        if let (Some(store), HistoryIndicator::Recording(status)) = (&self.desk.store, &history)
            && matches!(status.state, StoreState::Refused | StoreState::Failing)
        {
            egui::Panel::top("history_problem").show(ui, |ui| self.history_problem_ui(ui, store, status));
        }
        if let Some(status) = self.desk.site_status().filter(|s| {
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
            let area_of = |asset: &str| alarm_area(live, asset);
            let env = crate::ui::ViewCtx {
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
                cursor: self.review.as_ref().map(|r| crate::ui::ReviewCursor {
                    from_ms: r.from_ms,
                    to_ms: r.to_ms,
                    at_ms: r.at_ms,
                }),
                reviewing,
                horn: &horn,
                horn_now_ms: self.annunciator.now_ms(),
                kiosk: self.windows.kiosk(),
                notes_written: self.desk.store.as_ref().map_or(0, |s| s.status().notes_written),
                notes_writable: self.desk.store.is_some(),
                console: &self.console,
                area_of: &area_of,
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
                            out.commands.push(UiCommand::BringBack(main_view));
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
