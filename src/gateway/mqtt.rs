//! Publishes the simulator as Sparkplug B edge nodes (and optionally Kepware JSON). Being built.

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use super::Update;
use crate::clock::Clock;

pub struct Publisher {
    url: url::Url,
    json: bool,
}

impl Publisher {
    pub fn new(url: url::Url, json: bool) -> anyhow::Result<Self> {
        Ok(Self { url, json })
    }

    pub async fn run(
        self,
        _updates: broadcast::Receiver<Arc<Update>>,
        _clock: Arc<dyn Clock>,
        _shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        anyhow::bail!("publishing to {} (json: {}) is not built yet", self.url, self.json)
    }
}
