//! What every network feed shares: how to reach its gateway (URL, TLS files, credentials from the environment or
//! files), the limits a message and its samples must keep, reconnect back-off, and the
//! watchdog that tells a quiet link from a live one.

use std::time::Duration;

use rand::Rng as _;
use rand::SeedableRng as _;

use std::path::{Path, PathBuf};

use crate::model::Sample;

/// How to reach a network gateway and what to accept from it.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// `mqtt://`, `mqtts://`, `http://` or `https://`; credentials are never part of it.
    pub url: url::Url,
    pub tls: TlsFiles,
    pub credentials: Credentials,
    /// The link shows as stale when nothing arrived for this long.
    pub stale_after_ms: i64,
    pub limits: Limits,
}

impl Link {
    pub fn new(url: url::Url) -> Self {
        Self {
            url,
            tls: TlsFiles::default(),
            credentials: Credentials::default(),
            stale_after_ms: DEFAULT_LINK_STALE_AFTER_MS,
            limits: Limits::default(),
        }
    }

    /// Whether the scheme asks for TLS (`mqtts`, `https`).
    pub fn uses_tls(&self) -> bool {
        matches!(self.url.scheme(), "mqtts" | "https")
    }
}

/// The link is stale after this long without a message, unless the gateway sets `stale_after`.
pub const DEFAULT_LINK_STALE_AFTER_MS: i64 = 60_000;

/// PEM files for TLS: a CA to trust instead of the system roots, and a client certificate for mutual TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// Where secrets come from: environment variables or files, never the config itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

impl Credentials {
    /// The MQTT password, read now; `Ok(None)` when none is configured.
    pub fn password(&self) -> Result<Option<String>, SecretError> {
        read_secret(self.password_env.as_deref(), self.password_file.as_deref(), "password")
    }

    /// The HTTP bearer token, read now; `Ok(None)` when none is configured.
    pub fn token(&self) -> Result<Option<String>, SecretError> {
        read_secret(self.token_env.as_deref(), self.token_file.as_deref(), "token")
    }
}

/// Why a secret (a password, a token) the config names could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the {what} environment variable {var} is not set")]
    Unset { what: String, var: String },
    #[error("the {what} file {} is empty", path.display())]
    Empty { what: String, path: PathBuf },
    #[error("cannot read the {what} file {}: {reason}", path.display())]
    Unreadable { what: String, path: PathBuf, reason: String },
}

/// A secret from the environment variable `env` or the file `file` (trimmed); `Ok(None)` when neither is named.
pub fn read_secret(env: Option<&str>, file: Option<&Path>, what: &str) -> Result<Option<String>, SecretError> {
    if let Some(var) = env {
        return match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_owned())),
            _ => Err(SecretError::Unset { what: what.to_owned(), var: var.to_owned() }),
        };
    }
    if let Some(path) = file {
        return match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_owned())),
            Ok(_) => Err(SecretError::Empty { what: what.to_owned(), path: path.to_owned() }),
            Err(err) => {
                Err(SecretError::Unreadable { what: what.to_owned(), path: path.to_owned(), reason: err.to_string() })
            }
        };
    }
    Ok(None)
}

/// Limits on what a gateway may send (per-gateway config, these defaults otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A larger message is rejected whole.
    pub max_payload_bytes: usize,
    /// A sample stamped further ahead of its arrival is rejected (clock skew).
    pub max_future_ms: i64,
    /// A sample stamped further back is rejected (a zero or garbage clock).
    pub max_past_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_payload_bytes: 1024 * 1024, max_future_ms: 5 * 60_000, max_past_ms: 365 * 86_400_000 }
    }
}

impl Limits {
    /// `Some(reason)` when a payload of `len` bytes is over the limit.
    pub fn check_size(&self, len: usize) -> Option<String> {
        (len > self.max_payload_bytes)
            .then(|| format!("message of {len} bytes is larger than the limit of {} bytes", self.max_payload_bytes))
    }

    /// Removes samples that are not finite or stamped too far from `received_ms`, returning one reason for each.
    pub fn retain_valid(&self, samples: &mut Vec<Sample>, received_ms: i64) -> Vec<String> {
        let mut rejected = Vec::new();
        samples.retain(|s| {
            let reason = if !s.value.is_finite() {
                Some(format!("{}: value is not a finite number", s.signal))
            } else if s.ts_ms - received_ms > self.max_future_ms {
                Some(format!(
                    "{}: timestamp {} s ahead of arrival (limit {} s; clock skew?)",
                    s.signal,
                    (s.ts_ms - received_ms) / 1000,
                    self.max_future_ms / 1000
                ))
            } else if received_ms - s.ts_ms > self.max_past_ms {
                Some(format!(
                    "{}: timestamp {} days before arrival (limit {} days)",
                    s.signal,
                    (received_ms - s.ts_ms) / 86_400_000,
                    self.max_past_ms / 86_400_000
                ))
            } else {
                None
            };
            match reason {
                Some(r) => {
                    rejected.push(r);
                    false
                }
                None => true,
            }
        });
        rejected
    }
}

/// Exponential reconnect back-off: from `base`, doubling, capped, each delay with ±20 % jitter so a fleet of
/// clients does not reconnect in step after a broker restart.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    rng: rand_chacha::ChaCha8Rng,
}

/// The first retry delay.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The longest delay between attempts (before jitter).
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// A connection that stayed up this long resets the back-off.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(60);

impl Default for Backoff {
    fn default() -> Self {
        Self::new(BACKOFF_BASE, BACKOFF_CAP, entropy())
    }
}

/// A different number in every process and call (std's per-process random hash keys): enough for jitter and
/// client ids, without a dependency on the OS random source.
pub fn entropy() -> u64 {
    use std::hash::BuildHasher as _;
    std::hash::RandomState::new().hash_one(std::time::SystemTime::now())
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Self { base, cap, attempt: 0, rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed) }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(16)).unwrap_or(u32::MAX);
        let plain = self.base.saturating_mul(factor).min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        plain.mul_f64(self.rng.random_range(0.8..=1.2))
    }

    /// After a healthy connection: start again from the base delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SignalId, Value};

    #[test]
    fn backoff_doubles_with_jitter_and_stays_near_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 7);
        let delays: Vec<f64> = (0..10).map(|_| b.next_delay().as_secs_f64()).collect();
        for (i, d) in delays.iter().enumerate() {
            let plain = (1u64 << i).min(30) as f64;
            assert!(*d >= plain * 0.8 - 1e-9 && *d <= plain * 1.2 + 1e-9, "attempt {i}: {d} s vs {plain} s");
        }
        assert!(delays.iter().all(|d| *d <= 36.0));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(1200));
    }

    #[test]
    fn jitter_differs_between_clients() {
        let mut a = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 1);
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 2);
        let same = (0..8).filter(|_| a.next_delay() == b.next_delay()).count();
        assert!(same < 8);
    }

    #[test]
    fn samples_outside_the_limits_are_removed_with_a_reason() {
        let limits = Limits::default();
        let now = 1_800_000_000_000;
        let mut samples = vec![
            Sample::new(SignalId::from("ok"), now - 1000, Value::F64(1.0)),
            Sample::new(SignalId::from("nan"), now, Value::F64(f64::NAN)),
            Sample::new(SignalId::from("inf"), now, Value::F64(f64::INFINITY)),
            Sample::new(SignalId::from("future"), now + 6 * 60_000, Value::I64(1)),
            Sample::new(SignalId::from("past"), now - 400 * 86_400_000, Value::I64(1)),
            Sample::new(SignalId::from("late-but-fine"), now - 300 * 86_400_000, Value::I64(1)),
        ];
        let rejected = limits.retain_valid(&mut samples, now);
        let kept: Vec<&str> = samples.iter().map(|s| s.signal.as_str()).collect();
        assert_eq!(kept, vec!["ok", "late-but-fine"]);
        assert_eq!(rejected.len(), 4);
        assert!(rejected[2].contains("ahead of arrival"), "{rejected:?}");
        assert!(rejected[3].contains("400 days"), "{rejected:?}");
        assert!(limits.check_size(2 * 1024 * 1024).is_some());
        assert!(limits.check_size(1000).is_none());
    }
}
