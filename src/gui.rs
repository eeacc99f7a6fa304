//! Glue that opens the window: data dir, logging, config, runtime, feeds, then eframe.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};

use crate::app::{AppParts, WatchfloorApp};
use crate::backend::Backend;
use crate::config::{Config, SimGateway};
use crate::feeds::EventBus;
use crate::live::LiveSettings;
use crate::startup::{LIVE_CHANNEL_CAPACITY, STORE_CHANNEL_CAPACITY, load_config, resolve_data_dir};
use crate::store::{CACHE_FILE_NAME, History, Store, StoreOptions};

/// What the GUI is started with (from the command line).
#[derive(Clone, Debug)]
pub struct GuiOptions {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    /// Open this history cache read-only instead of recording into `<data dir>/history.sqlite`.
    pub db: Option<PathBuf>,
    /// The built-in demo's simulator, used when there is no config.
    pub demo: SimGateway,
    /// Who acts on alarms; the OS user when `None`.
    pub operator: Option<String>,
    /// `--kiosk LAYOUT`: fullscreen on a saved layout, not to be closed from the window.
    pub kiosk: Option<String>,
}

/// A cache or recording opened read-only (`--db`, `open`), read once at start: what a recording carries, and the
/// range to review (a recording's own range, else the last 8 h it holds); or why it cannot be read.
struct Reviewed {
    recording: Option<crate::store::export::RecordingInfo>,
    range: Option<(i64, i64, String)>,
}

impl Reviewed {
    fn open(db: &std::path::Path) -> Result<Self, crate::store::Error> {
        // One open: a file of an older schema is read through an upgraded copy, made once.
        let conn = crate::store::open_reader(db)?;
        let name = db.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let range = crate::store::export::review_extent(&conn).ok().flatten().map(|(from, to, recording)| {
            (from, to, format!("{} {name}", if recording { "Recording" } else { "Cache" }))
        });
        Ok(Self { recording: crate::store::export::recording_info(&conn).ok().flatten(), range })
    }
}

/// Starts the workstation's horn on the alarms this window follows (the site's on a console, else the history
/// writer's), with the configured sounds and the mute this workstation kept.
fn start_annunciator(
    config: &Config,
    data_dir: &std::path::Path,
    store: Option<&Store>,
    site: Option<&crate::store::site::SiteConsole>,
    problems: &mut Vec<String>,
) -> anyhow::Result<crate::workstation::annunciator::AnnunciatorHandle> {
    use crate::workstation::sound::Sounds;
    let (sounds, sound_problems) = Sounds::with_files(&config.horn.sounds);
    for problem in sound_problems {
        tracing::warn!("{problem}");
        problems.push(problem);
    }
    // Read here so the horn starts with this workstation's mute. A broken file is kept aside by this read, so the
    // window's own read finds none: the problem is reported from here.
    let (saved, problem) =
        crate::workstation::layout::Workstation::load(&data_dir.join(crate::workstation::layout::FILE_NAME));
    problems.extend(problem);
    let horn = crate::analytics::annunciation::Annunciator::new(config.horn.silence_ms, saved.muted);
    let store = store.map(Store::link);
    let site = site.map(crate::store::site::SiteConsole::watch);
    let source: crate::workstation::annunciator::AlarmSource = Box::new(move || {
        let status = site.as_ref().map(|w| w.borrow().clone());
        crate::app::alarms_of(status.as_ref(), store.as_ref())
    });
    crate::workstation::annunciator::AnnunciatorHandle::start(horn, Arc::new(crate::clock::SystemClock), sounds, source)
        .context("cannot start the alarm horn")
}

#[expect(
    clippy::too_many_lines,
    reason = "the window's start-up in the order it must happen; the steps share what the earlier ones made"
)]
/// Opens the window and runs it until it closes; feeds and other I/O run on `runtime` (owned by `main`).
pub fn run_gui(options: GuiOptions, runtime: &tokio::runtime::Handle) -> anyhow::Result<()> {
    let data_dir = resolve_data_dir(options.data_dir)?;
    let (_log_guard, log_problem) = crate::logging::init(&data_dir);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), data_dir = %data_dir.display(), "Watchfloor starting");
    let (mut config, mut problems) = load_config(options.config.as_deref(), options.demo);
    problems.extend(log_problem);
    let reviewed = options.db.as_deref().map(Reviewed::open);
    let carried = reviewed.as_ref().and_then(|r| r.as_ref().ok()).and_then(|r| r.recording.clone());
    if let (Some(db), None) = (&options.db, &options.config)
        && let Some(recording) = carried.clone()
    {
        // A recording carries its config and plan: its shifts, time zone, targets, zones and rules.
        tracing::info!(db = %db.display(), source = %recording.source, "opening a recording");
        if let Some(text) = &recording.config {
            match Config::parse(text, db) {
                Ok(carried) => config = carried,
                Err(err) => problems.push(format!("the recording's config is not used: {err}")),
            }
        }
        if let Some(plan) = recording.site_plan {
            config.site_plan = crate::config::SitePlanSource::Embedded(std::sync::Arc::from(plan));
            config.geofence_file = None;
        }
    }
    if options.db.is_some() && options.config.is_none() {
        // Reviewing a cache: the demo would mix simulated live values into someone else's recording.
        config.gateways.clear();
    }

    // OPC UA gateways keep their certificate and trust list in the data dir.
    for g in &mut config.gateways {
        if let crate::config::GatewayKind::OpcUa(opcua) = &mut g.kind {
            opcua.pki_dir.get_or_insert_with(|| data_dir.join("opcua-pki"));
        }
    }

    let mut bus = EventBus::builder();
    let inbox = bus.live(LIVE_CHANNEL_CAPACITY);
    let (site_plan, plan_problem) = config.site_plan.load();
    if let Some(problem) = plan_problem {
        tracing::warn!("{problem}");
        problems.push(problem);
    }
    // A PMTiles file that is not there is a mistake to show; the map goes on with what else it has.
    let pmtiles = config.pmtiles.clone().filter(|path| {
        let ok = path.is_file();
        if !ok {
            let problem =
                format!("map.pmtiles: {} is not a readable file; the map is drawn without it", path.display());
            tracing::warn!("{problem}");
            problems.push(problem);
        }
        ok
    });
    let (geofences, fence_problems) = config.geofences_on(&site_plan);
    for problem in fence_problems {
        tracing::warn!("{problem}");
        problems.push(problem);
    }
    // The writers judge alarms on the app's clock (a sped-up demo's alarms run on simulated time).
    let clock = Backend::clock_for(&config);
    let (cache_path, store) = match &options.db {
        Some(db) => {
            tracing::info!(db = %db.display(), "reviewing a history cache read-only; nothing is recorded");
            if let Some(Err(err)) = &reviewed {
                tracing::error!("{err}");
                problems.push(err.to_string());
            }
            (db.clone(), None)
        }
        None => {
            let path = data_dir.join(CACHE_FILE_NAME);
            let mut store_options = StoreOptions::new(&path);
            store_options.retention = config.history;
            store_options.clock = Arc::clone(&clock);
            store_options.evaluator = crate::analytics::recording::SiteEvaluator::boxed(
                config.alarm_rules(&site_plan),
                geofences.clone(),
                Some((config.calendar.clone(), Arc::new(config.assets.clone()))),
            );
            let store = Store::start(store_options, bus.lossless(STORE_CHANNEL_CAPACITY))
                .context("cannot start the history writer")?;
            (path, Some(store))
        }
    };
    // What a recording exported from the window carries: a recording's own config and plan, else this config's.
    let recording_info = carried.unwrap_or_else(|| crate::store::export::RecordingInfo {
        config: options.config.as_deref().and_then(|p| std::fs::read_to_string(p).ok()),
        site_plan: Some(crate::startup::recording_plan(&config)),
        ..Default::default()
    });
    let recording_info =
        crate::store::export::RecordingInfo { source: cache_path.display().to_string(), ..recording_info };
    // A cache opened read-only (a recording, `--db`) starts in review over what it holds.
    let review_range = reviewed.and_then(Result::ok).and_then(|r| r.range);
    // With a site database, the window is a control-room console: alarm state and the alarm journal come from the
    // site (this cache stays the offline copy).
    let site_target = match (&config.site_db, &options.db) {
        (Some(db), None) => match crate::startup::site_target(db, None) {
            Ok(target) => Some(target),
            Err(err) => {
                let problem = format!("[site_db]: {err:#}; alarms are this window's own");
                tracing::error!("{problem}");
                problems.push(problem);
                None
            }
        },
        _ => None,
    };
    let history = match &store {
        // A cache under review is nobody's to upgrade: an older one is read through an upgraded copy.
        None => History::start_reviewing(cache_path),
        Some(_) => History::start_with_site(cache_path, site_target.clone()),
    }
    .context("cannot start the history reader")?;
    let bus = bus.build();
    let backend = Backend::start_with_clock(runtime, &config, &bus, clock);
    let clock = backend.clock();
    let diagnostics = backend.diagnostics().to_vec();
    let mut live_settings = LiveSettings {
        stale_after_ms: config.stale_after_ms,
        default_site: config.site.name.clone(),
        calendar: config.calendar.clone(),
        assets: std::sync::Arc::new(config.assets.clone()),
        geofences: std::sync::Arc::new(geofences),
        ..LiveSettings::default()
    };
    live_settings.battery.extend(config.battery.iter().map(|(k, v)| (*k, *v)));

    let site = match site_target {
        Some(target) => {
            let console = crate::store::site::console_name();
            tracing::info!(url = %target.display_url(), %console, "alarms from the site database");
            let queue = Some(data_dir.join("site-actions.jsonl"));
            let site = crate::store::site::SiteConsole::start_with_queue(target, console, queue);
            Some(site.context("cannot start the site alarms")?)
        }
        None => None,
    };
    let annunciator = start_annunciator(&config, &data_dir, store.as_ref(), site.as_ref(), &mut problems)?;
    let parts = AppParts {
        inbox,
        bus,
        clock,
        backend: Some(backend),
        site_name: config.site.name.clone(),
        timezone: config.site.timezone.clone(),
        live_settings,
        problems,
        history: Some(history),
        store: store.as_ref().map(Store::link),
        diagnostics,
        site_plan: std::sync::Arc::new(site_plan),
        tiles: config.tiles.clone().map(|mut t| {
            t.cache_dir = Some(data_dir.join("tiles"));
            t
        }),
        pmtiles,
        operator: options.operator.clone(),
        review: review_range,
        reports_dir: Some(data_dir.join("reports")),
        recordings: Some((data_dir.join("recordings"), recording_info)),
        workstation: Some(data_dir.join(crate::workstation::layout::FILE_NAME)),
        kiosk: options.kiosk.clone(),
        annunciator: Some(annunciator),
        browsing: Some(crate::ui::panels::opcua_browse::Browsing::new(
            runtime.clone(),
            config.gateways.iter().filter_map(|g| match &g.kind {
                crate::config::GatewayKind::OpcUa(o) => Some((std::sync::Arc::from(g.name.as_str()), o.clone())),
                _ => None,
            }),
            options.config.clone(),
        )),
    };

    let icon = eframe::icon_data::from_png_bytes(include_bytes!("../icons/watchfloor.png"))
        .context("the built-in icon is not a valid PNG")?;
    let native_options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Watchfloor")
            .with_app_id("watchfloor")
            .with_inner_size([1440.0, 900.0])
            .with_min_inner_size([800.0, 500.0])
            .with_icon(Arc::new(icon)),
        persistence_path: Some(data_dir.join("ui-state.ron")),
        ..Default::default()
    };
    // Ctrl-C or SIGTERM (a service manager, a logout) closes the window the normal way, so history is flushed.
    let (ctx_tx, ctx_rx) = tokio::sync::oneshot::channel::<egui::Context>();
    runtime.spawn(async move {
        let Ok(ctx) = ctx_rx.await else { return };
        let signal = crate::startup::wait_for_stop(None).await;
        tracing::info!("{signal}: closing the window");
        crate::app::request_stop();
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        ctx.request_repaint();
    });
    let create = move |cc: &eframe::CreationContext<'_>| {
        // The app is created once; if the receiver is gone the signal task has ended and closing still works.
        let _ = ctx_tx.send(cc.egui_ctx.clone());
        let app = WatchfloorApp::new(cc, parts);
        let app = match site {
            Some(site) => app.with_site(site, &cc.egui_ctx),
            None => app,
        };
        Ok(Box::new(app) as Box<dyn eframe::App>)
    };
    eframe::run_native("Watchfloor", native_options, Box::new(create))
        .map_err(|err| anyhow!("the window could not be opened: {err}"))?;
    // The app, and with it every feed, is gone now (a feed's handle stops it when dropped).
    tracing::info!("window closed");
    if let Some(store) = store {
        // Every feed and the bus are gone now, so the writer commits what it holds and ends.
        let status = store.finish();
        tracing::info!(stored = status.stored_samples, lost = status.lost_samples, "history closed");
    }
    Ok(())
}
