//! Watchfloor: a native desktop monitor for plant and fleet.
//!
//! Gateway feeds publish [`model::FeedEvent`]s on a [`feeds::EventBus`]; the app drains them into one
//! [`live::LiveState`] under a time budget and draws it. The history recorder ([`store::recorder`]) is a second,
//! lossless consumer of the same bus: one batching loop writing through a sink, the SQLite cache's or the site
//! database's, which the trend view, review and the CLI read back.
//!
//! ```text
//!  gateways ──► feeds/ (tokio tasks) ──► FeedEvent ──┬──► App::logic() ──► LiveState ──► ui/ (reads, sends commands)
//!  (sim/, MQTT, HTTP, OPC UA)          bounded       │                                   │ history queries
//!                                      channels      └──► store/ recorder ──► SQLite ◄── store/ reader ◄─┘ (promises)
//!                                                                         └─► PostgreSQL (site)
//! ```
//!
//! # Layout
//!
//! `docs/architecture.md` is the map: the data flow, the layers and the order they import in (checked by
//! `tests/it/layering.rs`), where each kind of change goes, and the invariants. In short, lowest layer first:
//!
//! - [`clock`], [`logging`] — injectable clocks; `tracing` to stderr and a daily file.
//! - [`model`] — domain types, the events and faults that cross channels, time constants. No I/O.
//! - [`analytics`] — OEE, the alarm engine, KPIs, geofences, battery estimates, reports. Pure.
//! - [`store`], [`live`], [`feeds`] — the history cache and site database (one recorder, two sinks; readers;
//!   recordings), the live state, the gateway feeds with their settings and pure decoders.
//! - [`sim`] — the deterministic simulator, served as a feed.
//! - [`config`] — the TOML file read and checked into the settings of the parts above.
//! - [`startup`], [`backend`], [`workstation`], [`scheduled`] — what the window and the commands start alike; the
//!   feeds started and commanded; the operator's machine (horn, layouts); the recorder's reports and notifications.
//! - [`ui`], then [`app`] — views, widgets and theme; the eframe `App`.
//! - [`gui`], [`cli`], [`gateway`], [`bench`](mod@bench) — the window, the headless commands, the simulator served
//!   as a real gateway, the benchmarks behind `docs/benchmarks.md`.
//!
//! Outside `src/`: `tests/` (integration tests on real SQLite files, PostgreSQL, MQTT brokers, HTTP, OPC UA and
//! SMTP servers, the UI with `egui_kittest`, the layering; `tests/smoke.sh`, the release binary in a real window),
//! `assets/`, `icons/`, `packaging/` (the .deb, the tarball, the systemd unit), `.ci/run` (what CI runs), `docs/`,
//! `fuzz/` (cargo-fuzz targets for the payload decoders).

pub mod analytics;
pub mod app;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod feeds;
pub mod gateway;
pub mod gui;
pub mod live;
pub mod logging;
pub mod model;
pub mod scheduled;
pub mod sim;
pub mod startup;
pub mod store;
pub mod ui;
pub mod workstation;
