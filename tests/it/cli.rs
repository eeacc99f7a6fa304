//! The binary's command line, without opening a window.

use std::process::Command;

fn watchfloor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_watchfloor"))
}

#[test]
fn version_and_help() {
    let out = watchfloor().arg("--version").output().expect("runs");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("watchfloor {}", env!("CARGO_PKG_VERSION")));
    let out = watchfloor().arg("--help").output().expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--config", "--data-dir", "--speed", "--seed"] {
        assert!(help.contains(flag), "{flag} missing from help:\n{help}");
    }
}

#[test]
fn a_bad_speed_is_refused_with_a_reason() {
    let out = watchfloor().args(["--speed", "5000"]).output().expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expected 1 to 1000"), "{err}");
}

#[test]
fn the_example_config_is_the_built_in_demo_written_out() {
    use watchfloor::config::{Config, SimGateway};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/example-config.toml");
    let example = Config::load(&path).unwrap_or_else(|err| panic!("{err}"));
    let demo = Config::demo(SimGateway::default());
    assert_eq!(example.gateways, demo.gateways);
    assert_eq!(example.site.name, demo.site.name);
    assert_eq!(example.stale_after_ms, demo.stale_after_ms);
    assert_eq!(example.history, demo.history);
    assert_eq!(example.calendar.shifts, demo.calendar.shifts);
    for (kind, t) in &example.battery {
        assert_eq!(*t, watchfloor::model::BatteryThresholds::default_for(*kind), "{kind:?}");
    }
}
