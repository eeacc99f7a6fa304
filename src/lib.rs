//! Watchfloor: a native desktop monitor for plant and fleet.
//!
//! Gateway feeds publish [`command::FeedEvent`]s on an [`feeds::EventBus`]; the app drains them into one
//! [`live::LiveState`] under a time budget and draws it. The history store is a second, lossless consumer of the
//! same bus: it writes every event into a local SQLite cache, which the trend view and the CLI read back.
//!
//! ```text
//!  gateways ──► feeds/ (tokio tasks) ──► FeedEvent ──┬──► App::logic() ──► LiveState ──► ui/ (reads, sends Command)
//!  (sim/, MQTT, HTTP, OPC UA)          bounded       │                                   │ history queries
//!                                      channels      └──► store/ writer ──► SQLite ◄── store/ reader ◄─┘ (promises)
//! ```
//!
//! # Layout
//!
//! - `main.rs` — the `watchfloor` binary: CLI parsing (clap), then [`gui::run_gui`] or a headless command
//!   (`record`, `query`, `signals`, `report`, `alarms`, `export`, `gateway`, `bench`) or `open` (the window on a
//!   recording). Errors printed once.
//! - [`cli`] — the headless commands: record gateways into a cache, print a signal's history as CSV/JSON, list
//!   signals, print the report of a range or a shift (JSON, CSV, printable HTML), list the alarm journal or its
//!   KPIs, export a range as a portable recording.
//! - [`scheduled`] — what `record` does on a schedule (`[reports]`, `[notify]`), reading the site database when
//!   there is one, else the cache: [`scheduled::reports`] the shift report (HTML, XLSX, JSON) written into a folder
//!   at each shift end (temp file and rename, never over an existing file, catch-up at start);
//!   [`scheduled::notifier`] follows the alarm journal by id and sends what [`scheduled::policy`] says is due (a
//!   delay and an escalation per priority, nothing while acknowledged; pure) through [`scheduled::outbox`] (its own
//!   SQLite file: idempotency keys, back-off with jitter, the journal cursor) over [`scheduled::deliver`] (webhook
//!   JSON POST, SMTP mail with `lettre`). Used by [`cli`] only.
//! - [`analytics`] — OEE (DOMAIN §3): [`analytics::oee`] the pure engine (one accumulator per machine and range:
//!   times, counts, six big losses, stops, state timeline, hourly figures), [`analytics::OeeTracker`] the live shift
//!   (O(1) per input, carried over at shift changes), [`analytics::history`] the recompute of any range from the
//!   cache (minute rollups for counters), the seed of the live shift at start, and [`analytics::history::ShiftReplay`]
//!   (a shift's inputs read once with accumulator checkpoints, so review reads the OEE at any instant in
//!   milliseconds), [`analytics::report`] the report
//!   per machine, line and site (JSON/CSV) and [`analytics::report_html`] the printable shift report and [`analytics::report_xlsx`] the Excel workbook; [`analytics::battery`] time to empty or to full from the state-of-charge slope;
//!   [`analytics::geofence`] debounced zone crossings and time in zone (the same tracker on the writer thread, in
//!   the live state and in the report); [`analytics::fleet`] the report's vehicles section from the cache;
//!   [`analytics::recording`] what the history writers evaluate as they store (the alarm engine, the OEE alarms'
//!   tracker, geofence membership) behind the store's [`model::history::Evaluator`];
//!   [`analytics::alarm`] the alarm engine (rules from config and defaults from the asset model, one instance per
//!   rule and source; [`analytics::alarm::limit`] hi/hihi/lo/lolo with deadband and delays, which every condition
//!   ends in; planned stops suppress by design); [`analytics::alarm_kpi`] ISA-18.2 KPIs of a journal range (rate per
//!   10 min, floods, chattering, bad actors, stale alarms); [`analytics::annunciation`] what the horn says from the
//!   alarm list (the most urgent waiting alarm; silence, broken by a new alarm as urgent; mute).
//! - [`bench`](mod@bench) — `watchfloor bench store|feeds|opcua|oee|alarms|review|site|ui`: the measurements behind
//!   `docs/benchmarks.md` (`ui` drives the whole app headless on the Fleet and Plant views; `site` the site
//!   recorder's ingest against a bare COPY, an ack on one console seen on another, and a leader killed; `opcua`
//!   10,000 items from a `gateway --opcua --load` child process against a bare async-opcua client);
//!   [`bench::mqtt`] also runs a private Mosquitto (the end-to-end benchmark and the interop tests use it), and
//!   [`bench::pgserver`] a private PostgreSQL on loopback (the site database tests).
//! - [`gateway`] — `watchfloor gateway`: the simulator served as a real gateway (the HTTP gateway feed, Sparkplug B
//!   edge nodes and Kepware JSON over MQTT, and [`gateway::opcua`], an OPC UA server with history), one driver
//!   broadcasting to each output.
//! - [`store`] — the history cache: one writer thread (batched transactions, idempotent inserts, 1 min / 1 h rollups,
//!   gaps, last values, vehicle fixes, an event journal, geofence crossings, the alarm engine run on every event and
//!   on a 1 s clock, with its journal, retention and a size cap), migrations, a reader thread
//!   whose results come back as [`store::Pending`], and the query functions (decimation with min/max per bucket,
//!   tier choice, time-weighted mean, gaps and interpolation for display, every signal's value at an instant);
//!   each reader job runs in one read transaction ([`store::in_snapshot`]); [`store::journal`] reads the alarm
//!   journal (entries of a range, alarms standing at a time, KPIs); [`store::logbook`] writes and reads the
//!   logbook (never changed or removed, triggers hold it); a file of an older schema is read through an upgraded
//!   copy ([`store::open_reader`]), a writer upgrades it in place; [`store::export`] writes portable recordings
//!   (`.wfrec`: the same schema plus the config and site plan, from a cache or the site database);
//!   [`store::site`] the site database on PostgreSQL (the recorder's writer: binary COPY, idempotent inserts, day
//!   partitions, versioned migrations, leader and standby on an advisory lock, what overflows its buffer left to
//!   its cache and written from there later; [`store::site::PgHistory`], the same reads as the cache;
//!   [`store::site::alarms`], the alarm state every console shares: the leader's writes and the consoles'
//!   compare-and-set actions under one lock; [`store::site::SiteConsole`], a console's thread that `LISTEN`s,
//!   re-reads by seq and queues actions while the database is away). The reader thread answers a console's
//!   alarm history, trends and review from the site database ([`store::History::run_history`],
//!   [`store::History::run_backend`] over [`store::HistoryBackend`]), from the cache while it cannot.
//! - [`gui`] — glue that opens the window: data dir, logging, config, tokio runtime, feeds, eframe.
//! - [`app`] — the eframe `App`: `logic()` drains events into `LiveState`; `ui()` draws views; persisted settings;
//!   with a site database ([`app::WatchfloorApp::with_site`]) the window is a console whose alarms are the site's;
//!   [`app::windows`] the workstation in the window: views popped out into native windows (egui immediate
//!   viewports, each with the banner), layouts put in place, kiosk mode and its leave dialog, the horn's controls,
//!   the shortcut keys.
//! - [`workstation`] — what belongs to the operator's machine: [`workstation::annunciator`] (the horn's thread, on
//!   the alarm state itself, never the window), [`workstation::sound`] (cpal output looping the priority's sound,
//!   held to the wall clock when the sink keeps no time), [`workstation::layout`] (`workstation.toml`: layouts,
//!   mute, monitors; a window whose monitor is gone placed on one that exists; the X server's monitors by `RandR`).
//! - [`command`] — [`command::FeedEvent`] (backend → consumers) and [`command::Command`] (UI → backend).
//! - [`backend`] — starts the configured feeds and routes commands to them; dropping it stops them.
//! - [`feeds`] — the `Feed` trait, the supervisor that reports a feed's state, and the [`feeds::EventBus`] fan-out
//!   (lossless consumers wait, the live view coalesces); [`feeds::FeedContext::ingest`] applies the limits, counts
//!   and quarantines what is bad and records each message in [`feeds::diag`] (counters, rates, the inspector's last
//!   messages). Connections: [`feeds::mqtt`] (one rumqttc connection: the Sparkplug B host with STATE, or MQTT
//!   JSON; reconnect with back-off from [`feeds::link`]) and [`feeds::http`] (the HTTP gateway feed: snapshot, SSE
//!   with `Last-Event-ID`, backfill); [`feeds::opcua`] (an OPC UA session on async-opcua: folders by browse
//!   names and `nsu=` node ids, monitored items in the server's batch size, status codes to quality, reconnect and
//!   a `HistoryRead` backfill of the gap, a watchdog for silent stalls, refusals in plain words, mappings added while
//!   it runs; [`feeds::opcua::browse`], the browsing session behind the Connections view's tree); [`feeds::tls`] (rustls with *ring*). Pure decoders: [`feeds::sparkplug`]
//!   (prost types of the Tahu payload, the host rules, and [`feeds::sparkplug::edge`], the edge-node encoder),
//!   [`feeds::mqtt_json`] (Kepware template and flat JSON).
//! - [`sim`] — the deterministic plant and fleet simulator (seed + caller's clock), and [`sim::SimFeed`] that
//!   serves it as a gateway; fault injection.
//! - [`model`] — pure domain types: signals, samples, quality, machine states, vehicles, the asset model and its
//!   config overrides, [`model::history`] (the history seam: [`model::history::HistoryRead`], which the cache and
//!   the site database answer and analytics reads through, and the writers' [`model::history::Evaluator`]), the
//!   shift calendar (shifts, breaks, scheduled windows of a range, DST), [`model::time`] (RFC 3339), the site plan
//!   (`GeoJSON` buildings, roads, zones, chargers), and [`model::alarm`]: the ISA-18.2 lifecycle of one alarm
//!   (acknowledge, shelve, suppress, out of service), each change a journal entry; [`model::logbook`]: the shift
//!   logbook's notes and handovers (immutable, corrections as new notes, one `uid` in every store).
//! - [`live`] — [`live::LiveState`]: latest values, machines and vehicles folded from their metrics, gateways, and
//!   the OEE tracker fed with every machine value.
//! - [`config`] — the TOML config, validated into typed settings with located error messages.
//! - [`clock`] — injectable clocks: wall, scaled (simulation speed), manual (tests).
//! - [`logging`] — `tracing` to stderr and a daily file in the data dir.
//! - [`ui`] — [`ui::theme`] (all colours as named tokens, dark and light), [`ui::widgets`] (status badge, battery bar,
//!   OEE gauge), [`ui::panels`] (status bar, plant overview tiles, the Plant view's OEE gauges and machine detail,
//!   fleet table, the fleet map on walkers, trends, connections with the OPC UA browser, the alarm banner, and the
//!   Alarms view: summary, history, KPIs; the Logbook view: notes, corrections and the handover with what is standing;
//!   review mode: the site at a past instant on a timeline, any shift or range, playback, shift report and recording
//!   export with progress; the trend follows the review's range and cursor).
//!
//! Outside `src/`: `tests/` (integration tests: the UI on the simulator with `egui_kittest`, the feed on a real
//! runtime, the MQTT feeds on rumqttd and Mosquitto (restart, TLS), the HTTP feed against its server, the OPC UA
//! feed against the built-in server (secure, an untrusted certificate, a wrong password, a 30 s cut filled from
//! history) and python asyncua's, the history cache through the binary including a kill -9, the trend view on a real cache, OEE live against the cache recompute and the `report` command, fleet reports and basemaps, alarms through the
//! writer, the Alarms view and `alarms --kpis`, review (replayed state = live state, the review bar, reports and
//! exports from the window), recordings, the site database on a real PostgreSQL (idempotent replays, reports equal to a cache's, a newer
//! schema refused, leader killed and the standby carrying on, consoles sharing alarm state with compare-and-set
//! actions and an offline queue, two windows where an ack in one shows in the other, exports, a recorder away from
//! the database writing from its cache later), scheduled work (an alarm to a local webhook after two 503s and to
//! python aiosmtpd's mailbox exactly once, a restart with a delivery pending, delay and escalation, the shift
//! report written by `record` at a shift end and read back with calamine), the workstation (the horn's silence, priority, keys and mute in the
//! window; the horn played through ALSA into a WAV file and read back; a popped-out view's banner and a layout back
//! after a restart), the layering (which module may import which), the
//! smoke test
//! script; `tests/opcua/`, the python asyncua server of the interop test; `tests/notify/`, the aiosmtpd SMTP server
//! of the mail test), `assets/`, `icons/` (the app icon), `packaging/` (Linux `.desktop` file),
//! `assets/sounds/` (the horn's sound per priority and the script that made them), `.ci/run` (what CI runs), `docs/` (benchmarks, the HTTP gateway protocol), `fuzz/` (cargo-fuzz targets for the
//! payload decoders).

pub mod analytics;
pub mod app;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod command;
pub mod config;
pub mod feeds;
pub mod gateway;
pub mod gui;
pub mod live;
pub mod logging;
pub mod model;
pub mod scheduled;
pub mod sim;
pub mod store;
pub mod ui;
pub mod workstation;
