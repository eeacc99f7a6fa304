//! What crosses the channels from gateways to every consumer (live state, history writers): [`FeedEvent`].
//!
//! A feed publishes each event once on the bus (`feeds::EventBus`); every consumer gets its own copy. The live
//! view may coalesce when it falls behind; the history writers never drop.

use std::sync::Arc;

use crate::model::{Sample, SignalMeta};

/// One thing a gateway told us, stamped with the gateway's name and the time it arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedEvent {
    pub gateway: Arc<str>,
    /// Arrival time at Watchfloor, UTC milliseconds, from the feed's clock.
    pub received_ms: i64,
    pub body: FeedEventBody,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FeedEventBody {
    /// The connection changed state.
    Status(FeedStatus),
    /// Signals announced with their kind and unit (a Sparkplug birth, a snapshot, the simulator's start).
    Birth(Vec<SignalMeta>),
    /// Values. May be live or historical (backfill), in any order, with duplicates.
    Samples(Vec<Sample>),
    /// Every signal whose id starts with `prefix` lost its source (node death, link loss): keep the last values
    /// and show them as stale until new values arrive.
    Stale { prefix: String },
    /// A message or value that could not be used, with the reason; counted and listed, never fatal.
    Rejected { reason: String },
}

/// The state of one gateway connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeedState {
    Connecting,
    Live,
    /// Connected, but nothing arrived within the expected interval.
    Stale,
    Offline,
    Error,
}

impl FeedState {
    pub fn label(self) -> &'static str {
        match self {
            Self::Connecting => "Connecting",
            Self::Live => "Live",
            Self::Stale => "Stale",
            Self::Offline => "Offline",
            Self::Error => "Error",
        }
    }
}

/// A gateway's state with an optional human-readable reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedStatus {
    pub state: FeedState,
    pub message: Option<String>,
}

impl FeedStatus {
    pub fn new(state: FeedState) -> Self {
        Self { state, message: None }
    }

    pub fn with_message(state: FeedState, message: impl Into<String>) -> Self {
        Self { state, message: Some(message.into()) }
    }
}

impl FeedEvent {
    pub fn new(gateway: Arc<str>, received_ms: i64, body: FeedEventBody) -> Self {
        Self { gateway, received_ms, body }
    }
}
