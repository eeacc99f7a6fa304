//! The `watchfloor` binary: parses the command line and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use watchfloor::cli::{Format, QueryOptions, RecordOptions};
use watchfloor::config::{MAX_SIM_SPEED, SimGateway};
use watchfloor::gui::{GuiOptions, run_gui};

/// Watchfloor — a desktop monitor for plant and fleet: machine states and counts, vehicles and batteries,
/// live from gateway feeds, with a local history. With no config it runs a built-in demo plant and fleet.
#[derive(Parser, Debug)]
#[command(name = "watchfloor", version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    /// Config file (TOML): site, gateways, shifts, battery thresholds, history retention.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where logs, window state and the history cache are kept (default: the platform's data dir, e.g.
    /// ~/.local/share/watchfloor).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Review another history cache, read-only (nothing is recorded; no demo runs unless --config is given).
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// Your name, journaled with every alarm action (default: the OS user; it can be changed in the toolbar).
    #[arg(long, value_name = "NAME")]
    operator: Option<String>,
    /// Kiosk mode on a saved layout: every window fullscreen, none can be closed from the desktop; Ctrl+Shift+Q
    /// asks for the layout's name to leave.
    #[arg(long, value_name = "LAYOUT")]
    kiosk: Option<String>,
    #[command(flatten)]
    demo: DemoArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Args, Debug, Clone, Copy)]
struct DemoArgs {
    /// Seed of the built-in demo (used when there is no config).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Speed of the built-in demo, 1 to 1000 times real time.
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    speed: f64,
}

impl DemoArgs {
    fn gateway(self) -> SimGateway {
        SimGateway { seed: self.seed, speed: self.speed, ..SimGateway::default() }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Record every configured gateway (the demo when there is no config) into a history cache, with no window.
    /// Ends on --duration, Ctrl-C or SIGTERM, with everything received committed.
    Record {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The cache file (created if missing).
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
        /// How long to record, e.g. 30s, 15m, 2h (default: until stopped).
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        #[command(flatten)]
        demo: DemoArgs,
    },
    /// Print one signal's history as CSV or JSON.
    Query {
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
        /// Signal id, e.g. PlantA/Line1/Filler/Count/Total.
        #[arg(long, value_name = "ID")]
        signal: String,
        /// Start: RFC 3339 (2026-11-20T07:00:00Z), now, or relative (-1h, -30m, -2d). Default: an hour before --to.
        #[arg(long, value_name = "T", allow_hyphen_values = true)]
        from: Option<String>,
        /// End (exclusive), same forms. Default: now, or the newest value if later.
        #[arg(long, value_name = "T", allow_hyphen_values = true)]
        to: Option<String>,
        /// Decimate into N buckets with min, max, mean and count each.
        #[arg(long, value_name = "N")]
        buckets: Option<usize>,
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
    },
    /// OEE per machine, line and site over a range (availability, performance, quality as fractions, times,
    /// counts and the six big losses), recomputed from a history cache with the config's shift calendar; and per
    /// vehicle distance, battery used, charging and stale time, and geofence crossings.
    Report {
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
        /// Start: RFC 3339 (2026-11-20T04:00:00Z), now, or relative (-8h).
        #[arg(long, value_name = "T", allow_hyphen_values = true, required_unless_present = "shift")]
        from: Option<String>,
        /// End (exclusive), same forms.
        #[arg(long, value_name = "T", allow_hyphen_values = true, default_value = "now")]
        to: String,
        /// A shift instead of a range: "2026-11-20 A" (the day it starts, the shift's name in the calendar).
        #[arg(long, value_name = "DATE NAME", conflicts_with = "from")]
        shift: Option<String>,
        /// Site, shifts and asset overrides (default: the config a recording carries, else three 8 h shifts from
        /// 06:00, Europe/Helsinki).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// json, csv, html (a printable document with the gauges and charts drawn), or xlsx (one Excel workbook;
        /// redirect it into a file).
        #[arg(long, value_enum, default_value_t = watchfloor::cli::ReportFormat::Json)]
        format: watchfloor::cli::ReportFormat,
        /// Which table the CSV form prints (JSON has both).
        #[arg(long, value_enum, default_value_t = watchfloor::cli::Section::Oee)]
        section: watchfloor::cli::Section,
    },
    /// The alarm journal of a history cache: every transition with `ts`, `rule`, `source`, `priority`, `state`,
    /// `user`, `comment` and `value`, oldest first.
    Alarms {
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
        /// Start: RFC 3339, now, or relative (-8h); default: the whole journal.
        #[arg(long, value_name = "T", allow_hyphen_values = true)]
        from: Option<String>,
        /// End (exclusive), same forms.
        #[arg(long, value_name = "T", allow_hyphen_values = true)]
        to: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// Print the alarm KPIs of the range (default: the last 24 h) as JSON: alarms per 10 min, floods,
        /// chattering, top 10 bad actors, stale alarms, priority mix.
        #[arg(long)]
        kpis: bool,
    },
    /// Write a portable recording (.wfrec) of a range: the same schema, with the config and the site plan inside,
    /// for another laptop, offline. `report`, `query` and `alarms` take it as --db; `open` shows it.
    Export {
        /// A cache or recording, or the site database (`postgres://…`, the password from PGPASSWORD).
        #[arg(long, value_name = "FILE|URL")]
        db: PathBuf,
        /// Start: RFC 3339, now, or relative (-8h).
        #[arg(long, value_name = "T", allow_hyphen_values = true)]
        from: String,
        /// End (exclusive), same forms.
        #[arg(long, value_name = "T", allow_hyphen_values = true)]
        to: String,
        /// The recording to write (refused if it exists).
        #[arg(long, value_name = "FILE.wfrec")]
        out: PathBuf,
        /// The config to carry along (its site plan and geofences too); default: the demo's.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Open a recording (or any history cache) read-only in the window, with the config and site plan it carries.
    Open {
        #[arg(value_name = "FILE.wfrec")]
        file: PathBuf,
    },
    /// List the signal ids stored in a history cache.
    Signals {
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
    },
    /// Serve the built-in simulator as a real gateway: the HTTP gateway feed, and/or Sparkplug B (plus Kepware
    /// JSON) published to an MQTT broker. Runs until Ctrl-C or SIGTERM.
    Gateway {
        /// Serve the HTTP gateway feed on this address, e.g. 127.0.0.1:8080.
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
        /// Publish Sparkplug B edge nodes to this broker, e.g. `mqtt://127.0.0.1:1883`.
        #[arg(long, value_name = "URL")]
        mqtt: Option<url::Url>,
        /// Also publish Kepware-template JSON (under watchfloor/<group>/<edge node>).
        #[arg(long)]
        json: bool,
        /// HTTP clients must send the bearer token held in this environment variable.
        #[arg(long, value_name = "VAR")]
        token_env: Option<String>,
        /// Serve OPC UA on this address, e.g. 127.0.0.1:4840 (security None, `Basic256Sha256`, Aes128 and Aes256 endpoints).
        #[arg(long, value_name = "ADDR")]
        opcua: Option<std::net::SocketAddr>,
        /// A user the OPC UA server accepts besides anonymous; its password is read from --opcua-password-env.
        #[arg(long, value_name = "NAME", requires = "opcua_password_env")]
        opcua_user: Option<String>,
        #[arg(long, value_name = "VAR")]
        opcua_password_env: Option<String>,
        /// The OPC UA server's certificates (default: `opcua-server-pki` in the data dir).
        #[arg(long, value_name = "DIR")]
        opcua_pki: Option<PathBuf>,
        /// Production lines to simulate.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=500))]
        lines: u16,
        /// Vehicles to simulate.
        #[arg(long, default_value_t = 42, value_parser = clap::value_parser!(u32).range(0..=20_000))]
        vehicles: u32,
        /// Instead of the simulator, a synthetic load of this many float signals `Load/<n>`, each changing every
        /// --load-every-ms (what `bench opcua` serves).
        #[arg(long, value_name = "ITEMS", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        load: Option<u32>,
        #[arg(long, value_name = "MS", default_value_t = 100, requires = "load",
              value_parser = clap::value_parser!(u64).range(10..=60_000))]
        load_every_ms: u64,
        #[command(flatten)]
        demo: DemoArgs,
    },
    /// Benchmarks; results go to stdout (see docs/benchmarks.md).
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// The history store: ingest, decimated queries, bytes on disk, start-up on a large cache.
    Store {
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        /// Size of the large cache for the start-up measurement, in MB (default 1024).
        #[arg(long, default_value_t = 1024)]
        startup_cache_mb: u64,
        /// Where to build the benchmark's files (default: a temporary directory, removed afterwards).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Gateway feeds: Sparkplug B and Kepware JSON decoding on one thread, then Sparkplug messages through a local
    /// Mosquitto into the live state and the store, against a bare MQTT client draining the same messages.
    Feeds {
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        /// Messages for the end-to-end run (0 skips it).
        #[arg(long, default_value_t = 100_000)]
        e2e_messages: usize,
    },
    /// OPC UA: monitored items from the built-in server (a child process) into the live state and the store,
    /// against a bare async-opcua client subscribing to the same items: values per second, CPU, latency.
    Opcua {
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        #[arg(long, default_value_t = 10_000)]
        items: usize,
        /// Every item changes and is sampled this often.
        #[arg(long, default_value_t = 100)]
        every_ms: u64,
        /// Measured seconds per run.
        #[arg(long, default_value_t = 10)]
        secs: u64,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// The alarm engine as the history writer runs it: 10,000 rules against 50,000 samples a second; the share
    /// of one core it takes.
    Alarms {
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
    },
    /// Review mode: an 8 h shift of 200 machines and 500 vehicles recorded, then random seeks timed (target p95
    /// under 50 ms).
    Review {
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        #[arg(long, default_value_t = 8)]
        hours: i64,
        /// Lines of 4 machines.
        #[arg(long, default_value_t = 50)]
        lines: usize,
        #[arg(long, default_value_t = 500)]
        vehicles: usize,
        /// Keep the recorded cache in this file, and reuse it when it already exists (recording takes minutes).
        #[arg(long)]
        keep: Option<std::path::PathBuf>,
    },
    /// The site database on a private PostgreSQL: recorder ingest against a bare binary COPY, an ack on one
    /// console seen on another (1,000 acks), and leader failover with two recorder processes.
    Site {
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        /// Failover runs (each starts a gateway and two recorders; 0 skips them).
        #[arg(long, default_value_t = 3)]
        failover_runs: usize,
    },
    /// The OEE engine: the live tracker's update for 200 machines at 1 Hz, and an 8 h shift of them recomputed
    /// from a history cache.
    Oee {
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
    },
    /// The whole app headless (egui pass and tessellation, no GPU) with every vehicle moving at 1 Hz, on the Fleet
    /// and Plant views: CPU ms per frame and peak memory.
    Ui {
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        #[arg(long, default_value_t = 5_000)]
        vehicles: usize,
        #[arg(long, default_value_t = 200)]
        machines: usize,
        /// Measured frames per view.
        #[arg(long, default_value_t = 300)]
        frames: usize,
    },
}

fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|err| format!("{s:?} is not a number: {err}"))?;
    if (1.0..=MAX_SIM_SPEED).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is out of range; expected 1 to {MAX_SIM_SPEED}"))
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration =
        s.trim().parse().map_err(|err| format!("{s:?} is not a duration ({err}); expected e.g. 30s, 15m or 2h"))?;
    Duration::try_from(d).ok().filter(|d| !d.is_zero()).ok_or_else(|| format!("{s:?} must be longer than zero"))
}

/// The OPC UA server's settings: its PKI directory (the data dir's by default) and the user, if any.
fn opcua_serve(
    addr: std::net::SocketAddr,
    user: Option<String>,
    password_env: Option<&str>,
    pki: Option<PathBuf>,
) -> anyhow::Result<watchfloor::gateway::opcua::OpcUaServe> {
    use anyhow::Context as _;
    let pki_dir = match pki {
        Some(dir) => dir,
        None => watchfloor::startup::resolve_data_dir(None)?.join("opcua-server-pki"),
    };
    let user = match (user, password_env) {
        (Some(name), Some(var)) => {
            let password = std::env::var(var).with_context(|| format!("the password variable {var} is not set"))?;
            Some((name, password))
        }
        _ => None,
    };
    Ok(watchfloor::gateway::opcua::OpcUaServe { addr, pki_dir, user })
}

fn main() -> ExitCode {
    let _ = watchfloor::app::PROCESS_START.set(std::time::Instant::now());
    let cli = Cli::parse();
    // The one I/O runtime of the process: the window, `record` and `gateway` get a handle to it; it is shut down
    // here, after them.
    let runtime = match watchfloor::startup::io_runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("watchfloor: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let io = runtime.handle();
    let result = match cli.command {
        None => run_gui(
            GuiOptions {
                config: cli.config,
                data_dir: cli.data_dir,
                db: cli.db,
                demo: cli.demo.gateway(),
                operator: cli.operator,
                kiosk: cli.kiosk,
            },
            io,
        ),
        Some(Command::Open { file }) => run_gui(
            GuiOptions {
                config: None,
                data_dir: cli.data_dir,
                db: Some(file),
                demo: cli.demo.gateway(),
                operator: cli.operator,
                kiosk: cli.kiosk,
            },
            io,
        ),
        Some(command) => {
            watchfloor::logging::init_stderr();
            run_command(command, io)
        }
    };
    // Whatever still runs on it (a task waiting for a signal) is given two seconds.
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `watchfloor query … | head`: the reader has what it wanted.
        Err(err) if err.chain().any(|e| e.downcast_ref::<std::io::Error>().is_some_and(is_broken_pipe)) => {
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("watchfloor: {err:#}");
            if err.downcast_ref::<watchfloor::cli::ConfigError>().is_some() {
                ExitCode::from(watchfloor::cli::ConfigError::EXIT_STATUS)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn is_broken_pipe(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::BrokenPipe
}

fn run_command(command: Command, io: &tokio::runtime::Handle) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    match command {
        Command::Record { config, db, duration, demo } => {
            watchfloor::cli::record(&RecordOptions { config, db, duration, demo: demo.gateway() }, io).map(|_| ())
        }
        Command::Query { db, signal, from, to, buckets, format } => watchfloor::cli::query(
            &QueryOptions { db, signal, from, to, buckets, format },
            &mut std::io::BufWriter::new(stdout.lock()),
        ),
        Command::Gateway {
            http,
            mqtt,
            json,
            token_env,
            opcua,
            opcua_user,
            opcua_password_env,
            opcua_pki,
            lines,
            vehicles,
            load,
            load_every_ms,
            demo,
        } => {
            let opcua = match opcua {
                Some(addr) => Some(opcua_serve(addr, opcua_user, opcua_password_env.as_deref(), opcua_pki)?),
                None => None,
            };
            watchfloor::gateway::run(
                &watchfloor::gateway::GatewayOptions {
                    http,
                    mqtt,
                    json,
                    opcua,
                    token_env,
                    seed: demo.seed,
                    speed: demo.speed,
                    lines: usize::from(lines),
                    vehicles: vehicles as usize,
                    load: load.map(|items| watchfloor::gateway::Load {
                        items: items as usize,
                        every: Duration::from_millis(load_every_ms),
                    }),
                },
                io,
            )
        }
        Command::Report { db, from, to, shift, config, format, section } => watchfloor::cli::report(
            &watchfloor::cli::ReportOptions { db, config, from, to, shift, format, section },
            &mut std::io::BufWriter::new(stdout.lock()),
        ),
        Command::Alarms { db, from, to, format, kpis } => watchfloor::cli::alarms(
            &watchfloor::cli::AlarmsOptions { db, from, to, format, kpis },
            &mut std::io::BufWriter::new(stdout.lock()),
        ),
        Command::Export { db, from, to, out, config } => watchfloor::cli::export(
            &watchfloor::cli::ExportOptions { db, from, to, out, config },
            &mut std::io::BufWriter::new(stdout.lock()),
            io,
        ),
        Command::Open { .. } => anyhow::bail!("`open` runs the window"),
        Command::Signals { db } => watchfloor::cli::signals(&db, &mut std::io::BufWriter::new(stdout.lock())),
        Command::Bench { which: BenchCommand::Store { format, startup_cache_mb, dir } } => {
            watchfloor::bench::store(&watchfloor::bench::StoreBenchOptions { format, startup_cache_mb, dir })
        }
        Command::Bench { which: BenchCommand::Oee { format } } => watchfloor::bench::oee(format),
        Command::Bench { which: BenchCommand::Site { format, failover_runs } } => {
            watchfloor::bench::site(format, failover_runs)
        }
        Command::Bench { which: BenchCommand::Opcua { format, items, every_ms, secs, runs } } => {
            watchfloor::bench::opcua(watchfloor::bench::OpcUaBenchOptions { format, items, every_ms, secs, runs })
        }
        Command::Bench { which: BenchCommand::Alarms { format } } => watchfloor::bench::alarms(format),
        Command::Bench { which: BenchCommand::Review { format, hours, lines, vehicles, keep } } => {
            watchfloor::bench::review(format, hours, lines, vehicles, keep)
        }
        Command::Bench { which: BenchCommand::Ui { format, vehicles, machines, frames } } => {
            watchfloor::bench::ui(watchfloor::bench::UiBenchOptions { format, vehicles, machines, frames })
        }
        Command::Bench { which: BenchCommand::Feeds { format, e2e_messages } } => {
            watchfloor::bench::feeds(format, e2e_messages)
        }
    }
}
