//! MQTT with JSON payloads (DOMAIN.md §7), as pure decoders: the Kepware standard template and flat
//! JSON per topic. A bad entry is rejected with its reason; the good ones in the same message still flow.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{Quality, Sample, SignalId, TimeSource, Value};

/// What one message decoded into.
#[derive(Debug, Default, PartialEq)]
pub struct Decoded {
    pub samples: Vec<Sample>,
    /// One reason per entry (or message) that could not be used.
    pub rejected: Vec<String>,
}

#[derive(Deserialize)]
struct KepwareMessage<'a> {
    timestamp: Option<i64>,
    #[serde(borrow)]
    values: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct KepwareValue<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    v: Scalar<'a>,
    q: Option<bool>,
    t: Option<i64>,
}

/// A JSON scalar as a sample value. Integers stay integers; `null` is a value that is not there.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar<'a> {
    Bool(bool),
    Int(i64),
    Float(f64),
    #[serde(borrow)]
    Str(Cow<'a, str>),
    Null(()),
    /// Arrays and objects (array tags, structures): kept and shown as their JSON text.
    Other(serde_json::Value),
}

impl Scalar<'_> {
    fn into_value(self) -> Option<Value> {
        match self {
            Self::Bool(b) => Some(Value::Bool(b)),
            Self::Int(i) => Some(Value::I64(i)),
            Self::Float(f) => Some(Value::F64(f)),
            Self::Str(s) => Some(Value::Str(Arc::from(s.as_ref()))),
            Self::Null(()) => None,
            Self::Other(v) => Some(Value::Raw(Arc::from(v.to_string().as_str()))),
        }
    }
}

/// Kepware standard template: `{"timestamp": ms, "values": [{"id": .., "v": .., "q": bool, "t": ms}]}`.
/// The signal id is the tag `id` as sent; `t` (else the message `timestamp`, else arrival) is the sample time.
pub fn decode_kepware(payload: &[u8], received_ms: i64) -> Decoded {
    let mut out = Decoded::default();
    let message: KepwareMessage<'_> = match serde_json::from_slice(payload) {
        Ok(m) => m,
        Err(err) => {
            out.rejected.push(format!("not a Kepware template message: {err}"));
            return out;
        }
    };
    out.samples.reserve(message.values.len());
    for (i, raw) in message.values.iter().enumerate() {
        let entry: KepwareValue<'_> = match serde_json::from_str(raw.get()) {
            Ok(e) => e,
            Err(err) => {
                out.rejected.push(format!("values[{i}]: {err}"));
                continue;
            }
        };
        if entry.id.is_empty() {
            out.rejected.push(format!("values[{i}]: empty id"));
            continue;
        }
        let (ts_ms, time_source) = match entry.t.or(message.timestamp) {
            Some(t) => (t, TimeSource::Source),
            None => (received_ms, TimeSource::Arrival),
        };
        let quality = if entry.q.unwrap_or(true) { Quality::Good } else { Quality::Bad };
        let (value, quality) = match entry.v.into_value() {
            Some(v) => (v, quality),
            None => (Value::Raw(Arc::from("null")), Quality::Bad),
        };
        out.samples.push(Sample {
            signal: SignalId::new(entry.id.as_ref()),
            ts_ms,
            value,
            quality,
            time_source,
            historical: false,
        });
    }
    out
}

#[derive(Deserialize)]
struct FlatMessage<'a> {
    #[serde(borrow)]
    ts: Option<Time<'a>>,
    #[serde(borrow)]
    value: Scalar<'a>,
    #[serde(borrow)]
    quality: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Time<'a> {
    Int(i64),
    Float(f64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

/// Epoch numbers below this are seconds, above it milliseconds (1e11 ms is 1973; 1e11 s is the year 5138).
const SECONDS_BELOW: f64 = 1e11;

fn time_ms(t: &Time<'_>) -> Result<i64, String> {
    #[expect(clippy::cast_possible_truncation)]
    let ms = |x: f64| if x.abs() < SECONDS_BELOW { (x * 1000.0).round() as i64 } else { x.round() as i64 };
    match t {
        #[expect(clippy::cast_precision_loss)]
        Time::Int(i) => Ok(ms(*i as f64)),
        Time::Float(f) if f.is_finite() => Ok(ms(*f)),
        Time::Float(f) => Err(format!("ts {f} is not a time")),
        Time::Text(s) => s
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|err| format!("ts {s:?} is not an RFC 3339 time: {err}")),
    }
}

fn quality_from(s: &str) -> Result<Quality, String> {
    match s.to_ascii_lowercase().as_str() {
        "good" | "ok" => Ok(Quality::Good),
        "uncertain" => Ok(Quality::Uncertain),
        "bad" => Ok(Quality::Bad),
        other => Err(format!("quality {other:?} is not good, uncertain or bad")),
    }
}

/// Flat JSON per topic: `{"ts": .., "value": .., "quality": ".."}` or a bare JSON value. The signal id is the topic.
/// `ts` may be epoch ms, epoch seconds or RFC 3339; without it the sample is stamped on arrival.
pub fn decode_flat(topic: &str, payload: &[u8], received_ms: i64) -> Decoded {
    let mut out = Decoded::default();
    if topic.is_empty() {
        out.rejected.push("empty topic".to_owned());
        return out;
    }
    let text = String::from_utf8_lossy(payload);
    let trimmed = text.trim();
    let sample = if trimmed.starts_with('{') {
        serde_json::from_str::<FlatMessage<'_>>(trimmed).map_err(|err| format!("{topic}: {err}")).and_then(|m| {
            let (ts_ms, time_source) = match &m.ts {
                Some(t) => (time_ms(t).map_err(|e| format!("{topic}: {e}"))?, TimeSource::Source),
                None => (received_ms, TimeSource::Arrival),
            };
            let quality = match &m.quality {
                Some(q) => quality_from(q).map_err(|e| format!("{topic}: {e}"))?,
                None => Quality::Good,
            };
            let (value, quality) = match m.value.into_value() {
                Some(v) => (v, quality),
                None => (Value::Raw(Arc::from("null")), Quality::Bad),
            };
            Ok(Sample { signal: SignalId::new(topic), ts_ms, value, quality, time_source, historical: false })
        })
    } else {
        serde_json::from_str::<Scalar<'_>>(trimmed)
            .map_err(|err| format!("{topic}: not JSON: {err}"))
            .and_then(|s| s.into_value().ok_or_else(|| format!("{topic}: null")))
            .map(|value| Sample {
                signal: SignalId::new(topic),
                ts_ms: received_ms,
                value,
                quality: Quality::Good,
                time_source: TimeSource::Arrival,
                historical: false,
            })
    };
    match sample {
        Ok(s) => out.samples.push(s),
        Err(reason) => out.rejected.push(reason),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000_000;

    #[test]
    fn kepware_template_decodes_with_tag_times_and_quality() {
        let msg = br#"{"timestamp": 1700000000000, "values": [
            {"id": "Line2.Capper.State", "v": "running", "q": true, "t": 1699999999500},
            {"id": "Line2.Capper.Count.Total", "v": 1234, "q": true},
            {"id": "Line2.Capper.Temperature", "v": 41.5, "q": false, "t": 1699999999000, "extra": 1}
        ]}"#;
        let d = decode_kepware(msg, T + 5);
        assert!(d.rejected.is_empty(), "{:?}", d.rejected);
        assert_eq!(d.samples[0].signal.as_str(), "Line2.Capper.State");
        assert_eq!((d.samples[0].ts_ms, &d.samples[0].value), (T - 500, &Value::str("running")));
        assert_eq!((d.samples[1].ts_ms, &d.samples[1].value), (T, &Value::I64(1234)));
        assert_eq!((d.samples[2].value.as_f64(), d.samples[2].quality), (Some(41.5), Quality::Bad));
    }

    #[test]
    fn a_bad_entry_is_rejected_and_the_rest_flow() {
        let msg = br#"{"values": [{"id": "a", "v": 1}, {"v": 2}, {"id": "c", "v": [1,2]}, {"id": "d", "v": true},
            {"id": "", "v": 1}]}"#;
        let d = decode_kepware(msg, T);
        assert_eq!(d.samples.len(), 3);
        assert_eq!(d.rejected.len(), 2, "{:?}", d.rejected);
        assert_eq!(d.samples[1].value, Value::Raw(Arc::from("[1,2]")), "an array tag is kept as its JSON");
        assert!(d.rejected[0].starts_with("values[1]"));
        assert_eq!((d.samples[0].ts_ms, d.samples[0].time_source), (T, TimeSource::Arrival));
        for junk in [&b"{"[..], b"[]", b"{\"values\": 3}", b"\xff\xfe", b""] {
            let d = decode_kepware(junk, T);
            assert!(d.samples.is_empty() && d.rejected.len() == 1, "{junk:?}");
        }
    }

    #[test]
    fn flat_json_takes_ms_seconds_rfc3339_or_nothing() {
        let d = decode_flat(
            "site/line3/labeler/temperature",
            br#"{"ts": 1700000000000, "value": 42.5, "quality": "good"}"#,
            0,
        );
        assert_eq!((d.samples[0].ts_ms, d.samples[0].value.as_f64()), (T, Some(42.5)));
        assert_eq!(d.samples[0].signal.as_str(), "site/line3/labeler/temperature");
        let d = decode_flat("t", br#"{"ts": 1700000000.25, "value": 1}"#, 0);
        assert_eq!(d.samples[0].ts_ms, T + 250);
        let d = decode_flat("t", br#"{"ts": "2023-11-14T22:13:20Z", "value": true, "quality": "Uncertain"}"#, 0);
        assert_eq!((d.samples[0].ts_ms, d.samples[0].quality), (T, Quality::Uncertain));
        let d = decode_flat("t", b" 17.5 ", T);
        assert_eq!((d.samples[0].ts_ms, d.samples[0].time_source), (T, TimeSource::Arrival));
        assert_eq!(d.samples[0].value, Value::F64(17.5));
    }

    #[test]
    fn flat_json_mistakes_say_what_is_wrong() {
        for (payload, says) in [
            (&br#"{"ts": "yesterday", "value": 1}"#[..], "not an RFC 3339 time"),
            (br#"{"ts": 1, "value": 1, "quality": "meh"}"#, "not good, uncertain or bad"),
            (br#"{"ts": 1}"#, "missing field `value`"),
            (b"not json", "not JSON"),
            (b"null", "null"),
        ] {
            let d = decode_flat("t", payload, T);
            assert!(d.samples.is_empty());
            assert!(d.rejected[0].contains(says), "{:?} should say {says:?}", d.rejected);
        }
    }
}
