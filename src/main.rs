//! The `watchfloor` binary: parses the command line and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use watchfloor::config::{MAX_SIM_SPEED, SimGateway};
use watchfloor::gui::{GuiOptions, run_gui};

/// Watchfloor — a desktop monitor for plant and fleet: machine states and counts, vehicles and batteries,
/// live from gateway feeds. With no config it runs a built-in demo plant and fleet.
#[derive(Parser, Debug)]
#[command(name = "watchfloor", version, about, long_about = None)]
struct Cli {
    /// Config file (TOML): site, gateways, shifts, battery thresholds.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where logs and window state are kept (default: the platform's data dir, e.g. ~/.local/share/watchfloor).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Seed of the built-in demo (used when there is no config).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Speed of the built-in demo, 1 to 1000 times real time.
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    speed: f64,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|err| format!("{s:?} is not a number: {err}"))?;
    if (1.0..=MAX_SIM_SPEED).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is out of range; expected 1 to {MAX_SIM_SPEED}"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = GuiOptions {
        config: cli.config,
        data_dir: cli.data_dir,
        db: None,
        demo: SimGateway { seed: cli.seed, speed: cli.speed, ..SimGateway::default() },
    };
    match run_gui(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("watchfloor: {err:#}");
            ExitCode::FAILURE
        }
    }
}
