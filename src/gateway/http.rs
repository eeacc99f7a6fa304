//! The HTTP gateway feed server (docs/gateway-http.md). Being built: see issue "Live gateway feeds".

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use super::Update;

/// Serves the HTTP gateway feed on `listener` until `shutdown` turns true.
pub async fn serve(
    _listener: tokio::net::TcpListener,
    _updates: broadcast::Receiver<Arc<Update>>,
    _token: Option<String>,
    _shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    anyhow::bail!("the HTTP gateway feed server is not built yet")
}
