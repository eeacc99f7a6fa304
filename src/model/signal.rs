//! Signals, samples, values, quality and time: the one shape every feed delivers.

use std::fmt;
use std::sync::Arc;

/// A signal's id, exactly as the contract in DOMAIN §1 spells it (e.g. `PlantA/Line1/Filler/Count/Total`).
///
/// Cheap to clone: the string is shared.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignalId(Arc<str>);

impl SignalId {
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Splits the id into the source (machine or vehicle) and the metric name, if the metric is one of
    /// `known` (matched with `/` or `.` as the separator, so Kepware ids like `Line2.Capper.State` work too).
    pub fn split_known_metric<'a>(&'a self, known: &[&'static str]) -> Option<(&'a str, &'static str)> {
        let id = self.as_str();
        known.iter().find_map(|metric| {
            let source = strip_metric(id, metric)?;
            (!source.is_empty()).then_some((source, *metric))
        })
    }
}

/// `id` without its trailing `metric` and separator; the metric's own `/` may be written as `.`.
fn strip_metric<'a>(id: &'a str, metric: &str) -> Option<&'a str> {
    let n = metric.len();
    if id.len() <= n {
        return None;
    }
    let (head, tail) = id.split_at(id.len() - n);
    let sep = head.as_bytes()[head.len() - 1];
    if sep != b'/' && sep != b'.' {
        return None;
    }
    let matches = tail.bytes().zip(metric.bytes()).all(|(a, b)| a == b || (b == b'/' && a == sep));
    matches.then(|| &head[..head.len() - 1])
}

impl fmt::Display for SignalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SignalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl From<&str> for SignalId {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for SignalId {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

/// A sample's value. Sparkplug arrays and data sets arrive as [`Value::Raw`]: kept and shown, not interpreted.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    F64(f64),
    I64(i64),
    Bool(bool),
    Str(Arc<str>),
    Raw(Arc<str>),
}

impl Value {
    /// The value as a number, when it has one (bools as 0/1).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::F64(v) => Some(*v),
            #[expect(clippy::cast_precision_loss, reason = "counters beyond 2^53 are not expected")]
            Self::I64(v) => Some(*v as f64),
            Self::Bool(b) => Some(f64::from(u8::from(*b))),
            Self::Str(_) | Self::Raw(_) => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::I64(v) => Some(*v),
            #[expect(clippy::cast_possible_truncation, reason = "checked finite and rounded")]
            Self::F64(v) if v.is_finite() => Some(v.round() as i64),
            Self::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            Self::I64(v) => Some(*v != 0),
            Self::Str(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "on" | "1" => Some(true),
                "false" | "off" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) | Self::Raw(s) => Some(s),
            _ => None,
        }
    }

    pub fn kind(&self) -> ValueKind {
        match self {
            Self::F64(_) => ValueKind::Float,
            Self::I64(_) => ValueKind::Int,
            Self::Bool(_) => ValueKind::Bool,
            Self::Str(_) => ValueKind::String,
            Self::Raw(_) => ValueKind::Raw,
        }
    }

    /// NaN and ±Inf are not values a plant produces; feeds reject them (and count them).
    pub fn is_finite(&self) -> bool {
        match self {
            Self::F64(v) => v.is_finite(),
            _ => true,
        }
    }

    pub fn str(s: &str) -> Self {
        Self::Str(Arc::from(s))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::F64(v) => write!(f, "{v:.2}"),
            Self::I64(v) => write!(f, "{v}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Str(s) | Self::Raw(s) => f.write_str(s),
        }
    }
}

/// The kind of value a signal carries, declared at birth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueKind {
    Float,
    Int,
    Bool,
    String,
    Raw,
}

/// OPC UA's three quality classes (DOMAIN §1). A `Bad` sample is kept and shown as bad, never dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quality {
    #[default]
    Good,
    Uncertain,
    Bad,
}

/// Where a sample's timestamp came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TimeSource {
    /// The payload carried the time the value was measured.
    #[default]
    Source,
    /// The payload had no time; the sample is stamped with its arrival.
    Arrival,
}

/// One value of one signal at one time.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub signal: SignalId,
    /// UTC milliseconds since the Unix epoch.
    pub ts_ms: i64,
    pub value: Value,
    pub quality: Quality,
    pub time_source: TimeSource,
    /// Historical samples (Sparkplug `is_historical`, backfill) go to history but do not change live values.
    pub historical: bool,
}

impl Sample {
    /// A good, live sample stamped at the source.
    pub fn new(signal: SignalId, ts_ms: i64, value: Value) -> Self {
        Self { signal, ts_ms, value, quality: Quality::Good, time_source: TimeSource::Source, historical: false }
    }
}

/// What a feed knows about a signal when it is born: unit and kind. The gateway name travels with the event.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalMeta {
    pub id: SignalId,
    pub kind: ValueKind,
    pub unit: Option<Arc<str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["Count/Total", "State", "Position/Latitude"];

    #[test]
    fn splits_sparkplug_and_kepware_ids() {
        let id = SignalId::from("PlantA/Line1/Filler/Count/Total");
        assert_eq!(id.split_known_metric(KNOWN), Some(("PlantA/Line1/Filler", "Count/Total")));
        let id = SignalId::from("Line2.Capper.State");
        assert_eq!(id.split_known_metric(KNOWN), Some(("Line2.Capper", "State")));
        let id = SignalId::from("Line2.Capper.Count.Total");
        assert_eq!(id.split_known_metric(KNOWN), Some(("Line2.Capper", "Count/Total")));
    }

    #[test]
    fn does_not_split_lookalikes() {
        assert_eq!(SignalId::from("PlantA/Line1/FillerState").split_known_metric(KNOWN), None);
        assert_eq!(SignalId::from("State").split_known_metric(KNOWN), None);
        assert_eq!(SignalId::from("/State").split_known_metric(KNOWN), None);
        // A mixed separator is not the same metric.
        assert_eq!(SignalId::from("a/b.Count.Total").split_known_metric(KNOWN), Some(("a/b", "Count/Total")));
        assert_eq!(SignalId::from("a/b/Count.Total").split_known_metric(KNOWN), None);
    }

    #[test]
    fn value_conversions() {
        assert_eq!(Value::I64(3).as_f64(), Some(3.0));
        assert_eq!(Value::str("on").as_bool(), Some(true));
        assert!(!Value::F64(f64::NAN).is_finite());
        assert_eq!(Value::F64(2.6).as_i64(), Some(3));
        assert_eq!(Value::F64(f64::INFINITY).as_i64(), None);
    }
}
