//! Integration tests, in one binary (faster to build than many).

mod cli;
mod feed;
mod store;
mod trend;
mod ui;

/// 2026-11-20 07:00 UTC, 09:00 in Helsinki: an hour into shift A.
pub const START_MS: i64 = 1_795_158_000_000;
