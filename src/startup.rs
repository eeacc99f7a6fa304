//! What the window and the headless commands start alike: the I/O runtime, the data dir, the config (or the
//! demo), the channels' capacities, the site database target, the recording's plan and the stop signal. Both
//! [`crate::gui`] and [`crate::cli`] build on this; neither imports the other.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow};

use crate::config::{Config, SimGateway};

/// Events the live view buffers before it starts coalescing (each event is a batch of samples).
pub const LIVE_CHANNEL_CAPACITY: usize = 1_024;
/// Events the history writer buffers before feeds wait for it.
pub const STORE_CHANNEL_CAPACITY: usize = 4_096;

/// The tokio runtime for feeds and other I/O: two named worker threads (the UI and the store have their own).
pub fn io_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("wf-io")
        .enable_all()
        .build()
        .context("cannot start the I/O runtime")
}

/// The data directory: `--data-dir`, else the platform's (e.g. `~/.local/share/watchfloor`).
pub fn resolve_data_dir(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = match explicit {
        Some(dir) => dir,
        None => directories::ProjectDirs::from("", "", "watchfloor")
            .map(|d| d.data_dir().to_owned())
            .ok_or_else(|| anyhow!("no home directory to keep data in; pass --data-dir DIR"))?,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    Ok(dir)
}

/// Loads the config, or the demo when there is none. A config with mistakes is not fatal: the window opens with
/// no gateways and lists the problems (they are logged too).
pub fn load_config(path: Option<&std::path::Path>, demo: SimGateway) -> (Config, Vec<String>) {
    let Some(path) = path else {
        return (Config::demo(demo), Vec::new());
    };
    match Config::load(path) {
        Ok(config) => (config, Vec::new()),
        Err(err) => {
            tracing::error!("config not used:\n{err}");
            let mut config = Config::demo(demo);
            config.gateways.clear();
            let mut problems: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
            problems.push("No gateway was started. Fix the config and restart Watchfloor.".to_owned());
            (config, problems)
        }
    }
}

/// The site database as the writer and readers reach it: the password (the config's, else `fallback_password`)
/// and TLS as `sslmode` says (the system's roots, or the configured CA).
pub fn site_target(
    db: &crate::config::SiteDb,
    fallback_password: Option<String>,
) -> anyhow::Result<crate::store::site::SiteTarget> {
    use crate::config::SslMode;
    use crate::store::site::{SiteTarget, SiteTls};
    let password = db.password().map_err(|e| anyhow!(e))?.or(fallback_password);
    let files = crate::config::TlsFiles { ca_file: db.ca_file.clone(), cert_file: None, key_file: None };
    let tls = match db.sslmode {
        SslMode::Disable => SiteTls::Disable,
        SslMode::Prefer => match crate::feeds::tls::client_config(&files) {
            Ok(config) => SiteTls::Prefer(config),
            // No roots to check a server with: plain, as libpq's `prefer` ends up without a usable certificate.
            Err(_) => SiteTls::Disable,
        },
        SslMode::Require => {
            SiteTls::Require(crate::feeds::tls::client_config(&files).map_err(|e| anyhow!("site_db TLS: {e}"))?)
        }
    };
    Ok(SiteTarget { url: db.url.clone(), password, tls })
}

/// Resolves when the duration is over (if any), on Ctrl-C or on SIGTERM, saying which.
pub(crate) async fn wait_for_stop(duration: Option<Duration>) -> &'static str {
    let timer = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = timer => "the duration",
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        () = term => "SIGTERM",
    }
}

/// The site plan and the geofence file's polygons (as zones) as one `GeoJSON` text, for a recording.
pub fn recording_plan(config: &crate::config::Config) -> String {
    use crate::model::siteplan::PlanKind;
    let (mut plan, _) = config.site_plan.load();
    if let Some(path) = &config.geofence_file {
        let (fences, _) = crate::config::SitePlanSource::File(path.clone()).load();
        plan.features.extend(fences.features.into_iter().map(|mut f| {
            f.kind = PlanKind::Zone;
            f
        }));
    }
    plan.to_geojson()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_with_mistakes_starts_no_gateway_and_lists_the_problems() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[[gateway]]\nname = \"x\"\nkind = \"sim\"\nspeed = 0\n").expect("write");
        let (config, problems) = load_config(Some(&path), SimGateway::default());
        assert!(config.gateways.is_empty());
        assert!(problems[0].ends_with("bad.toml:4:9: speed = 0 is out of range; expected 1 to 1000"), "{problems:?}");
        assert!(problems.last().is_some_and(|p| p.contains("No gateway was started")));
    }

    #[test]
    fn a_missing_config_file_is_a_problem_not_a_crash() {
        let (config, problems) =
            load_config(Some(std::path::Path::new("/nonexistent/watchfloor.toml")), SimGateway::default());
        assert!(config.gateways.is_empty());
        assert!(problems[0].contains("cannot read the config file"), "{problems:?}");
    }

    #[test]
    fn no_config_is_the_demo() {
        let (config, problems) = load_config(None, SimGateway::default());
        assert_eq!(config.gateways.len(), 1);
        assert!(problems.is_empty());
    }
}
