//! Logging with `tracing`: to stderr, and to a daily file under `<data dir>/logs/`.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Default filter: our own info, other crates' warnings. `RUST_LOG` overrides it.
const DEFAULT_FILTER: &str = "warn,watchfloor=info";

/// Starts logging. Keep the returned guard alive until exit so the file gets flushed. If the log directory cannot
/// be created, logs go to stderr only and the reason is returned alongside.
pub fn init(data_dir: &Path) -> (Option<WorkerGuard>, Option<String>) {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter());
    let log_dir = data_dir.join("logs");
    let file = std::fs::create_dir_all(&log_dir).map_err(|e| e.to_string()).and_then(|()| {
        tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("watchfloor")
            .filename_suffix("log")
            .max_log_files(14)
            .build(&log_dir)
            .map_err(|e| e.to_string())
    });
    match file {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let file_layer =
                tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(false).with_filter(filter());
            let _ = tracing_subscriber::registry().with(stderr).with(file_layer).try_init();
            (Some(guard), None)
        }
        Err(reason) => {
            let _ = tracing_subscriber::registry().with(stderr).try_init();
            (None, Some(format!("cannot write logs to {}: {reason}", log_dir.display())))
        }
    }
}

/// Logging for the command-line tools (`record`, `query`, `bench`): stderr only, so stdout stays data.
pub fn init_stderr() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter);
    let _ = tracing_subscriber::registry().with(stderr).try_init();
}
