//! The headless commands: `record`, `query` and `signals`. `main.rs` parses the arguments; these do the work.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde::Serialize;

use crate::backend::Backend;
use crate::clock::wall_now_ms;
use crate::config::SimGateway;
use crate::feeds::EventBus;
use crate::model::{Quality, Value};
use crate::startup::{STORE_CHANNEL_CAPACITY, load_config, recording_plan, site_target, wait_for_stop};
use crate::store::query::{self, Bucket, StoredSample};
use crate::store::{Store, StoreOptions, StoreStatus, open_reader};

/// What `record` is asked to do.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    pub config: Option<PathBuf>,
    pub db: PathBuf,
    /// Stop after this long (wall time); `None` runs until Ctrl-C or SIGTERM.
    pub duration: Option<Duration>,
    /// The demo's simulator, used when there is no config.
    pub demo: SimGateway,
}

/// `record` was given a config it cannot record with: missing, with mistakes, or with no gateway. `main` exits with
/// status [`ConfigError::EXIT_STATUS`] for it, so that the recorder's service does not restart until the file is
/// fixed (a site recorder with no gateway would record nothing; it must not fall back to the demo either).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    /// `EX_CONFIG` of BSD's sysexits.h; `RestartPreventExitStatus=` in packaging/debian/watchfloor-recorder.service.
    pub const EXIT_STATUS: u8 = 78;
}

/// Records every configured gateway into `db` with no window, until the duration is over or the process is
/// asked to stop; everything received is committed before it returns.
/// Feeds and the notifier run on `runtime` (owned by `main`).
pub fn record(options: &RecordOptions, runtime: &tokio::runtime::Handle) -> anyhow::Result<StoreStatus> {
    let (config, problems) = load_config(options.config.as_deref(), options.demo.clone());
    if !problems.is_empty() {
        return Err(ConfigError(problems.join("\n")).into());
    }
    if let (Some(path), true) = (&options.config, config.gateways.is_empty()) {
        return Err(ConfigError(format!(
            "{} has no [[gateway]]: there is nothing to record; add the site's gateways (README, \"Connecting real \
             gateways\")",
            path.display()
        ))
        .into());
    }
    let mut bus = EventBus::builder();
    let events = bus.lossless(STORE_CHANNEL_CAPACITY);
    let clock = Backend::clock_for(&config);
    // The site plan is read once: the alarm rules and the geofences of every writer and the notifier come from it.
    let (site_plan, plan_note) = config.site_plan.load();
    let rules = config.alarm_rules(&site_plan);
    let (geofences, fence_notes) = config.geofences_on(&site_plan);
    for note in plan_note.into_iter().chain(fence_notes) {
        tracing::warn!("{note}");
    }
    let evaluator = || {
        crate::analytics::recording::SiteEvaluator::boxed(
            rules.clone(),
            geofences.clone(),
            Some((config.calendar.clone(), Arc::new(config.assets.clone()))),
        )
    };
    // The site database, when configured, is a second lossless consumer with its own alarm evaluation (only the
    // leader's is journaled there); the local cache stays the offline copy.
    let site = match &config.site_db {
        Some(db) => {
            let target = site_target(db, None)?;
            let mut site_options = crate::store::site::SiteOptions::new(target, config.site.name.clone());
            site_options.raw_days = db.raw_days;
            site_options.clock = Arc::clone(&clock);
            // What overflows the buffer while the database is away is read back from this recorder's cache.
            site_options.cache = Some(options.db.clone());
            site_options.evaluator = evaluator();
            let writer = crate::store::site::SiteWriter::start(site_options, bus.lossless(STORE_CHANNEL_CAPACITY))
                .context("cannot start the site writer")?;
            Some(writer)
        }
        None => None,
    };
    let bus = bus.build();
    let mut store_options = StoreOptions::new(&options.db);
    store_options.retention = config.history;
    store_options.clock = Arc::clone(&clock);
    store_options.evaluator = evaluator();
    let store = Store::start(store_options, events).context("cannot start the history writer")?;
    let started = Instant::now();
    if config.reports.is_some() || config.notify.is_some() {
        // The cache exists, migrated, once the writer answers: the scheduled work reads it from the start.
        let _ = store.flush_blocking();
    }
    let leads = site.as_ref().map(crate::store::site::SiteWriter::watch);
    let scheduled = start_scheduled(&config, options, (&rules, &geofences), &clock, runtime, leads)?;
    let backend = Backend::start_with_clock(runtime, &config, &bus, clock);
    drop(bus);
    let gateways: Vec<&str> = config.gateways.iter().map(|g| g.name.as_str()).collect();
    tracing::info!(db = %options.db.display(), ?gateways, "recording");
    let reason = runtime.block_on(async {
        let stop = wait_for_stop(options.duration).await;
        backend.shutdown().await;
        stop
    });
    // The notifier delivers on the runtime: stopped while it runs (main shuts the runtime down after this).
    let (notify_status, report_files) = scheduled.finish();
    if let Some(site) = site {
        let s = site.finish();
        eprintln!(
            "site database {}: {} samples written ({} already there, {} unwritten, {} dropped); led {} time(s)",
            s.url, s.stored_samples, s.duplicate_samples, s.buffered_samples, s.dropped_samples, s.takeovers
        );
    }
    let status = store.finish();
    let mut scheduled_summary = String::new();
    if let Some(files) = report_files {
        scheduled_summary.push_str(&format!("; {files} shift report file(s) written"));
    }
    if let Some(n) = notify_status {
        scheduled_summary.push_str(&format!("; notifications: {n}"));
    }
    eprintln!(
        "recorded {} samples ({} duplicates skipped, {} not stored) into {} in {:.1} s{scheduled_summary}; stopped by {reason}",
        status.stored_samples,
        status.duplicate_samples,
        status.lost_samples,
        options.db.display(),
        started.elapsed().as_secs_f64()
    );
    if let Some(message) = &status.message {
        bail!("{message}");
    }
    Ok(status)
}

/// The recorder's scheduled work, when configured: shift reports and notifications.
struct Scheduled {
    reports: Option<crate::scheduled::reports::ReportThread>,
    notifier: Option<crate::scheduled::notifier::NotifierThread>,
}

impl Scheduled {
    /// Stops both; what the notifier counted and how many report files were written (`None`: not configured).
    fn finish(self) -> (Option<crate::scheduled::notifier::NotifyStatus>, Option<usize>) {
        (self.notifier.map(|n| n.finish()), self.reports.map(|r| r.finish()))
    }
}

/// Starts `[reports]` and `[notify]`, reading the site database when there is one (its journal has the consoles'
/// acknowledgements; its history is what every console reports from), else the cache being recorded.
fn start_scheduled(
    config: &crate::config::Config,
    options: &RecordOptions,
    (rules, geofences): (&[crate::analytics::alarm::Rule], &crate::analytics::geofence::Geofences),
    clock: &Arc<dyn crate::clock::Clock>,
    runtime: &tokio::runtime::Handle,
    leads: Option<tokio::sync::watch::Receiver<crate::store::site::SiteStatus>>,
) -> anyhow::Result<Scheduled> {
    use crate::scheduled::HistorySource;
    if config.reports.is_none() && config.notify.is_none() {
        return Ok(Scheduled { reports: None, notifier: None });
    }
    let source = match &config.site_db {
        Some(db) => HistorySource::Site(site_target(db, None)?),
        None => HistorySource::Cache(options.db.clone()),
    };
    let reports = match &config.reports {
        Some(reports) => {
            let geofences = geofences.clone();
            let ctx = crate::scheduled::reports::ReportContext {
                reports: reports.clone(),
                site: config.site.name.clone(),
                assets: config.assets.clone(),
                calendar: config.calendar.clone(),
                fleet: crate::analytics::fleet::FleetParams { geofences, stale_after_ms: config.stale_after_ms },
            };
            tracing::info!(folder = %reports.folder.display(), from = %source.name(), "shift reports");
            let tick = Duration::from_secs(2);
            Some(
                crate::scheduled::reports::ReportThread::start(ctx, source.clone(), Arc::clone(clock), tick)
                    .context("cannot start the reports thread")?,
            )
        }
        None => None,
    };
    let notifier = match &config.notify {
        Some(notify) => {
            let gateway_rules = rules
                .iter()
                .filter(|r| matches!(r.watch, crate::analytics::alarm::Watch::Gateway(_)))
                .map(|r| r.name.clone())
                .collect();
            let notifier_options = crate::scheduled::notifier::NotifierOptions {
                notify: notify.clone(),
                site: config.site.name.clone(),
                gateway_rules,
                outbox: crate::scheduled::outbox::path_for(&options.db),
                journal: source.name(),
                overlap_ids: if matches!(source, HistorySource::Site(_)) { 200 } else { 0 },
                clock: Arc::clone(clock),
            };
            let channels = notify.webhooks.len() + notify.emails.len();
            tracing::info!(channels, journal = %source.name(), "notifications");
            Some(
                crate::scheduled::notifier::NotifierThread::start(notifier_options, source, runtime.clone(), leads)
                    .context("cannot start the notifier")?,
            )
        }
        None => None,
    };
    Ok(Scheduled { reports, notifier })
}

/// A `--db`: a cache file or recording, or the site database (`postgres://…`).
pub enum Db {
    File(rusqlite::Connection),
    Site(Box<crate::store::site::PgHistory>),
}

impl Db {
    /// Opens `db` for reading. A site database's password comes from `PGPASSWORD` (as with `psql`) when the URL
    /// has none; TLS is used when the server offers it.
    pub fn open(db: &Path) -> anyhow::Result<Self> {
        let text = db.to_string_lossy();
        if crate::config::SiteDb::is_url(&text) {
            let target = site_target(&crate::config::SiteDb::new(text.as_ref()), std::env::var("PGPASSWORD").ok())?;
            return Ok(Self::Site(Box::new(crate::store::site::PgHistory::open(&target)?)));
        }
        Ok(Self::File(open_reader(db)?))
    }

    pub fn history(&self) -> &dyn crate::model::history::HistoryRead {
        match self {
            Self::File(conn) => conn,
            Self::Site(pg) => pg.as_ref(),
        }
    }
}

/// Output format of `query`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Csv,
    Json,
}

/// What `query` is asked to do.
#[derive(Clone, Debug)]
pub struct QueryOptions {
    pub db: PathBuf,
    pub signal: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub buckets: Option<usize>,
    pub format: Format,
}

/// Parses a time: RFC 3339 (`2026-11-20T07:00:00Z`), `now`, or relative to now (`-1h`, `-30m`, `-2d`, `-1h 30m`).
pub fn parse_time(s: &str, now_ms: i64) -> anyhow::Result<i64> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(now_ms);
    }
    if let Some(rest) = s.strip_prefix('-') {
        let rest = rest.trim();
        let ms = if let Some(days) = rest.strip_suffix('d').and_then(|d| d.trim().parse::<i64>().ok()) {
            days.checked_mul(86_400_000)
        } else {
            rest.parse::<jiff::SignedDuration>().ok().and_then(|d| i64::try_from(d.as_millis()).ok())
        };
        let ms = ms.ok_or_else(|| anyhow!("{s:?} is not a relative time; expected e.g. -1h, -30m, -2d or -1h 30m"))?;
        return Ok(now_ms - ms);
    }
    let ts: jiff::Timestamp = s
        .parse()
        .map_err(|err| anyhow!("{s:?} is not a time ({err}); expected RFC 3339 (2026-11-20T07:00:00Z), now, or -1h"))?;
    Ok(ts.as_millisecond())
}

pub use crate::model::time::rfc3339;

fn quality_name(q: Quality) -> &'static str {
    match q {
        Quality::Good => "good",
        Quality::Uncertain => "uncertain",
        Quality::Bad => "bad",
    }
}

#[derive(Serialize)]
struct RawRow<'a> {
    ts: String,
    value: JsonValue<'a>,
    quality: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum JsonValue<'a> {
    Number(f64),
    Int(i64),
    Bool(bool),
    Text(&'a str),
}

impl<'a> JsonValue<'a> {
    fn of(v: &'a Value) -> Self {
        match v {
            Value::F64(f) => Self::Number(*f),
            Value::I64(i) => Self::Int(*i),
            Value::Bool(b) => Self::Bool(*b),
            Value::Str(s) | Value::Raw(s) => Self::Text(s),
        }
    }
}

#[derive(Serialize)]
struct BucketRow {
    ts: String,
    min: f64,
    max: f64,
    mean: f64,
    count: u64,
}

impl From<&Bucket> for BucketRow {
    fn from(b: &Bucket) -> Self {
        Self { ts: rfc3339(b.ts_ms), min: b.min, max: b.max, mean: b.mean, count: b.count }
    }
}

/// Writes the values (or buckets) of one signal to `out`.
pub fn query(options: &QueryOptions, out: &mut dyn Write) -> anyhow::Result<()> {
    let db = Db::open(&options.db)?;
    let history = db.history();
    let signal = history.signals()?.into_iter().find(|s| s.name == options.signal).ok_or_else(|| {
        anyhow!("no signal {:?} in {}; `watchfloor signals --db …` lists them", options.signal, options.db.display())
    })?;
    let now = wall_now_ms();
    let to = match &options.to {
        Some(t) => parse_time(t, now)?,
        None => {
            // Up to now, or past it when the cache holds later data (a sped-up demo's recording).
            let newest = history.latest(signal.key, signal.kind)?.map(|s| s.ts_ms);
            newest.map_or(now, |t| now.max(t + 1))
        }
    };
    let from = match &options.from {
        Some(t) => parse_time(t, now)?,
        None => to - 3_600_000,
    };
    if from >= to {
        bail!("--from ({}) must be before --to ({})", rfc3339(from), rfc3339(to));
    }
    match options.buckets {
        Some(n) => {
            if n == 0 {
                bail!("--buckets must be at least 1");
            }
            let buckets = match &db {
                Db::File(conn) => query::series(conn, &options.signal, from, to, n)?.buckets,
                Db::Site(_) => {
                    // The site database answers from raw values, bucketed here.
                    let width = query::bucket_width(from, to, i64::try_from(n).unwrap_or(i64::MAX), 1);
                    let raw = history.raw(signal.key, signal.kind, (from, to), usize::MAX, true)?;
                    query::buckets_of(raw.iter().filter_map(|s| Some((s.ts_ms, s.value.as_f64()?))), width)
                }
            };
            let rows: Vec<BucketRow> = buckets.iter().map(BucketRow::from).collect();
            write_rows(&rows, &["ts", "min", "max", "mean", "count"], options.format, out)
        }
        None => {
            let samples: Vec<StoredSample> = history.raw(signal.key, signal.kind, (from, to), usize::MAX, false)?;
            let rows: Vec<RawRow<'_>> = samples
                .iter()
                .map(|s| RawRow {
                    ts: rfc3339(s.ts_ms),
                    value: JsonValue::of(&s.value),
                    quality: quality_name(s.quality),
                })
                .collect();
            write_rows(&rows, &["ts", "value", "quality"], options.format, out)
        }
    }
}

fn write_rows<T: Serialize>(rows: &[T], header: &[&str], format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer(&mut *out, rows)?;
            writeln!(out)?;
        }
        Format::Csv => {
            // The header is written by hand so an empty result still has one.
            let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(out);
            w.write_record(header)?;
            for row in rows {
                w.serialize(row)?;
            }
            w.flush()?;
        }
    }
    Ok(())
}

/// What `alarms` is asked to do.
#[derive(Clone, Debug)]
pub struct AlarmsOptions {
    pub db: PathBuf,
    /// Default: the whole journal (the last 24 h for `kpis`).
    pub from: Option<String>,
    pub to: Option<String>,
    pub format: Format,
    /// The KPIs of the range instead of the entries (JSON).
    pub kpis: bool,
}

/// One journal entry as `alarms` prints it.
#[derive(Serialize)]
struct AlarmRow {
    ts: String,
    rule: String,
    source: String,
    asset: String,
    priority: String,
    state: String,
    from_state: String,
    user: String,
    comment: String,
    value: Option<f64>,
    limit: Option<String>,
    message: String,
}

/// The alarm journal in time order: every transition with time, user, comment and value; or the KPIs of a range.
pub fn alarms(options: &AlarmsOptions, out: &mut dyn Write) -> anyhow::Result<()> {
    let now = wall_now_ms();
    let to = options.to.as_deref().map(|t| parse_time(t, now)).transpose()?.unwrap_or(i64::MAX);
    let default_from = if options.kpis { to.min(now) - 86_400_000 } else { i64::MIN };
    let from = options.from.as_deref().map(|t| parse_time(t, now)).transpose()?.unwrap_or(default_from);
    let db = Db::open(&options.db)?;
    let history = db.history();
    let context = || format!("cannot read the alarm journal of {}", options.db.display());
    if options.kpis {
        let kpis = crate::analytics::alarm_kpi::kpis(history, from, to.min(now.max(from + 1))).with_context(context)?;
        serde_json::to_writer_pretty(&mut *out, &kpis)?;
        writeln!(out)?;
        return Ok(());
    }
    let entries = history.journal(from, to, usize::MAX).with_context(context)?;
    let rows: Vec<AlarmRow> = entries
        .into_iter()
        .map(|e| AlarmRow {
            ts: rfc3339(e.ts_ms),
            rule: e.rule,
            source: e.source,
            asset: e.asset,
            priority: e.priority.label().to_owned(),
            state: e.to.label().to_owned(),
            from_state: e.from.label().to_owned(),
            user: e.user,
            comment: e.comment,
            value: e.value,
            limit: e.limit,
            message: e.message,
        })
        .collect();
    let header = [
        "ts",
        "rule",
        "source",
        "asset",
        "priority",
        "state",
        "from_state",
        "user",
        "comment",
        "value",
        "limit",
        "message",
    ];
    write_rows(&rows, &header, options.format, out)
}

/// What `report` is asked to do.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    pub db: PathBuf,
    pub config: Option<PathBuf>,
    /// The range, or a shift ("2026-11-20 A": that day's instance of shift A in the site's calendar).
    pub from: Option<String>,
    pub to: String,
    pub shift: Option<String>,
    pub format: ReportFormat,
    /// What the CSV form holds (the JSON holds both).
    pub section: Section,
}

/// How `report` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    #[default]
    Json,
    Csv,
    /// A printable document with the gauges and charts drawn.
    Html,
    /// One Excel workbook: summary, OEE, losses, stops, alarm KPIs, vehicles (numbers with their formats).
    Xlsx,
}

/// A part of the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// OEE per machine, line and site.
    #[default]
    Oee,
    /// Per vehicle: distance, battery, charging, stale time and geofence crossings.
    Vehicles,
    /// The alarm KPIs: the range's figures, bad actors, chattering and stale alarms.
    Alarms,
}

/// OEE per machine, line and site over a range, with the six big losses, from a history cache. Planned time comes
/// from the config's shift calendar (or the default three shifts).
pub fn report(options: &ReportOptions, out: &mut dyn Write) -> anyhow::Result<()> {
    let db = Db::open(&options.db)?;
    let config = match (&options.config, &db) {
        (Some(path), _) => crate::config::Config::load(path)?,
        (None, Db::File(conn)) => recording_config(conn, &options.db)?,
        (None, Db::Site(_)) => crate::config::Config::demo(crate::config::SimGateway::default()),
    };
    let now = wall_now_ms();
    let (from, to, title) = match &options.shift {
        Some(shift) => {
            let s = find_shift(&config.calendar, shift)?;
            (s.start_ms, s.end_ms, format!("Shift report: {shift}"))
        }
        None => {
            let from = parse_time(options.from.as_deref().unwrap_or("-8h"), now)?;
            (from, parse_time(&options.to, now)?, "Report".to_owned())
        }
    };
    if from >= to {
        bail!("--from ({}) must be before --to ({})", rfc3339(from), rfc3339(to));
    }
    let (geofences, notes) = config.geofences();
    for note in notes {
        eprintln!("warning: {note}");
    }
    let params = crate::analytics::fleet::FleetParams { geofences, stale_after_ms: config.stale_after_ms };
    let read = || format!("cannot read {}", options.db.display());
    // A progress bar on the terminal (hidden when stderr is not one); Ctrl-C stops the command as usual.
    let bar = progress_bar("reporting [{bar:40}] {pos}/{len} {elapsed}");
    let mut step = |done: u64, of: u64| {
        set_progress(&bar, done, of);
        true
    };
    let (assets, calendar, site) = (&config.assets, &config.calendar, &config.site.name);
    let report = crate::analytics::report::full(db.history(), assets, calendar, site, &params, (from, to), &mut step)
        .with_context(read)?;
    bar.finish_and_clear();
    let report = report.context("the report was stopped")?;
    match (options.format, options.section) {
        (ReportFormat::Json, _) => {
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)?;
        }
        (ReportFormat::Csv, Section::Oee) => crate::analytics::report::write_csv(&report, out)?,
        (ReportFormat::Csv, Section::Vehicles) => crate::analytics::fleet::write_csv(&report.vehicles, out)?,
        (ReportFormat::Csv, Section::Alarms) => {
            let kpis = report.alarms.as_ref().context("no alarm KPIs in this report")?;
            crate::analytics::alarm_kpi::write_csv(kpis, out)?;
        }
        (ReportFormat::Html, _) => {
            let html = crate::analytics::report_html::render(&report, &title, report.alarms.as_ref());
            out.write_all(html.as_bytes())?;
        }
        (ReportFormat::Xlsx, _) => {
            let bytes = crate::analytics::report_xlsx::render(&report, &title).context("cannot make the workbook")?;
            out.write_all(&bytes)?;
        }
    }
    Ok(())
}

/// Writes the stored signal ids, one per line.
pub fn signals(db: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    match Db::open(db)? {
        Db::File(conn) => {
            for s in query::signals(&conn)? {
                writeln!(out, "{}", s.id)?;
            }
        }
        Db::Site(pg) => {
            for s in pg.signal_list()? {
                writeln!(out, "{}", s.name)?;
            }
        }
    }
    Ok(())
}

/// What `export` is asked to do.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub db: PathBuf,
    pub from: String,
    pub to: String,
    pub out: PathBuf,
    /// The config carried in the recording (its site plan and geofences too); the demo's plan without one.
    pub config: Option<PathBuf>,
}

/// Writes a portable recording of a range: a progress bar on the terminal; Ctrl-C cancels it and leaves nothing.
/// Ctrl-C is watched for on `runtime` (owned by `main`).
pub fn export(options: &ExportOptions, out: &mut dyn Write, runtime: &tokio::runtime::Handle) -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let now = wall_now_ms();
    let (from, to) = (parse_time(&options.from, now)?, parse_time(&options.to, now)?);
    anyhow::ensure!(from < to, "--from must be before --to");
    let (config_text, config) = match &options.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let config = crate::config::Config::parse(&text, path).map_err(|e| anyhow::anyhow!("{e}"))?;
            (Some(text), config)
        }
        None => (None, crate::config::Config::demo(crate::config::SimGateway::default())),
    };
    let site_plan = recording_plan(&config);
    let info = crate::store::export::RecordingInfo {
        source: options.db.display().to_string(),
        config: config_text,
        site_plan: Some(site_plan),
        ..Default::default()
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    // Ctrl-C sets the flag; the export stops within one hour of data and removes its partial file.
    let watcher = runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::Relaxed);
        }
    });
    let bar = progress_bar("exporting [{bar:40}] {percent:>3}% {elapsed} (Ctrl-C cancels)");
    let mut progress = |done: u64, total: u64| set_progress(&bar, done, total);
    let text = options.db.to_string_lossy();
    let result = if crate::config::SiteDb::is_url(&text) {
        let target = site_target(&crate::config::SiteDb::new(text.as_ref()), std::env::var("PGPASSWORD").ok())?;
        // Checks the schema is this build's before reading.
        drop(crate::store::site::PgHistory::open(&target)?);
        let mut client = target.connect_blocking("watchfloor-export")?;
        let info = crate::store::export::RecordingInfo { source: target.display_url(), ..info };
        crate::store::export::export_from(&mut client, &options.out, (from, to), &info, &mut progress, &cancel)
    } else {
        crate::store::export::export(&options.db, &options.out, (from, to), &info, &mut progress, &cancel)
    };
    bar.finish_and_clear();
    // The watch ends with the export.
    watcher.abort();
    let summary = result?;
    serde_json::to_writer(&mut *out, &summary)?;
    writeln!(out)?;
    Ok(())
}

/// A terminal progress bar drawn with `template` (indicatif hides it when stderr is not a terminal).
fn progress_bar(template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(1);
    bar.set_style(
        indicatif::ProgressStyle::with_template(template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn set_progress(bar: &indicatif::ProgressBar, done: u64, of: u64) {
    bar.set_length(of);
    bar.set_position(done);
}

/// The config a recording carries, else the demo's.
fn recording_config(conn: &rusqlite::Connection, db: &Path) -> anyhow::Result<crate::config::Config> {
    let carried = crate::store::export::recording_info(conn).ok().flatten().and_then(|info| info.config);
    match carried {
        Some(text) => crate::config::Config::parse(&text, db).map_err(|e| anyhow::anyhow!("{e}")),
        None => Ok(crate::config::Config::demo(crate::config::SimGateway::default())),
    }
}

/// "2026-11-20 A": that day's instance of shift A (the day it starts, in the site's time zone).
pub fn find_shift(calendar: &crate::model::ShiftCalendar, text: &str) -> anyhow::Result<crate::model::ShiftInstance> {
    let (date, name) = text.trim().split_once(' ').context("a shift is written as \"2026-11-20 A\" (date, name)")?;
    let date: jiff::civil::Date = date.parse().with_context(|| format!("{date:?} is not a date (YYYY-MM-DD)"))?;
    calendar.instance_on(date, name.trim()).with_context(|| {
        let names: Vec<&str> = calendar.shifts.iter().map(|s| s.name.as_str()).collect();
        format!("no shift {:?} in the calendar (shifts: {})", name.trim(), names.join(", "))
    })
}
