//! The HTTP gateway feed client (docs/gateway-http.md). Being built: see issue "Live gateway feeds".

use crate::config::HttpGateway;
use crate::feeds::{Error, Feed, FeedContext};

pub struct HttpFeed {
    config: HttpGateway,
}

impl HttpFeed {
    pub fn new(config: HttpGateway) -> Self {
        Self { config }
    }
}

impl Feed for HttpFeed {
    async fn run_impl(self, _ctx: &mut FeedContext) -> Result<(), Error> {
        Err(Error::Other(format!("the HTTP feed for {} is not built yet", self.config.link.url)))
    }
}
