//! Pure decoding, like `feeds/sparkplug/`: OPC UA data values to samples (status codes to quality, source or
//! server time), variants to values, UA date-times to UTC milliseconds. No session, no I/O.

use super::*;

/// A value as the inspector shows it: value, status, source time.
pub(super) fn describe(v: &DataValue) -> String {
    let value = v.value.as_ref().map_or_else(|| "(no value)".to_owned(), |x| format!("{x:?}"));
    let ts = v.source_timestamp.as_ref().map(|t| t.to_rfc3339()).unwrap_or_default();
    format!("{value} {} {ts}", v.status())
}

/// Where the Unix epoch falls on OPC UA's clock (milliseconds since 1601-01-01).
pub(super) const UNIX_EPOCH_IN_UA_MS: i64 = 11_644_473_600_000;

/// OPC UA time (100 ns ticks since 1601) as UTC milliseconds.
pub fn unix_ms(t: &opcua::types::DateTime) -> i64 {
    t.checked_ticks() / 10_000 - UNIX_EPOCH_IN_UA_MS
}

/// UTC milliseconds as an OPC UA time.
pub fn ua_time(ms: i64) -> opcua::types::DateTime {
    opcua::types::DateTime::from(ms.saturating_add(UNIX_EPOCH_IN_UA_MS).saturating_mul(10_000))
}

/// An arrived value as a sample: its source time (else the server's, else arrival) and quality from its status.
pub fn sample(signal: &Arc<str>, v: &DataValue, arrival_ms: i64) -> Sample {
    let status = v.status();
    let quality = if status.is_good() {
        Quality::Good
    } else if status.is_uncertain() {
        Quality::Uncertain
    } else {
        Quality::Bad
    };
    let value = match &v.value {
        Some(x) => value(x),
        None => Value::Raw(Arc::from(status.to_string())),
    };
    let (ts_ms, time_source) = match v.source_timestamp.as_ref().or(v.server_timestamp.as_ref()) {
        Some(t) if !t.is_null() => (unix_ms(t), TimeSource::Source),
        _ => (arrival_ms, TimeSource::Arrival),
    };
    Sample { signal: SignalId::new(Arc::clone(signal)), ts_ms, value, quality, time_source, historical: false }
}

/// A data value in OPC UA binary encoding, as a sample (what a data change notification carries): `None` when the
/// bytes are no data value. The fuzz target `opcua_value` feeds it any bytes.
pub fn decode_sample(signal: &Arc<str>, bytes: &[u8], arrival_ms: i64) -> Option<Sample> {
    use opcua::types::BinaryDecodable as _;
    let context = opcua::types::ContextOwned::default();
    let value = DataValue::decode(&mut std::io::Cursor::new(bytes), &context.context()).ok()?;
    Some(sample(signal, &value, arrival_ms))
}

/// An OPC UA variant as a value: numbers as numbers, booleans, text; anything else as its text.
pub fn value(x: &Variant) -> Value {
    match x {
        Variant::Double(v) => Value::F64(*v),
        Variant::Float(v) => Value::F64(f64::from(*v)),
        Variant::Boolean(v) => Value::Bool(*v),
        Variant::SByte(v) => Value::I64(i64::from(*v)),
        Variant::Byte(v) => Value::I64(i64::from(*v)),
        Variant::Int16(v) => Value::I64(i64::from(*v)),
        Variant::UInt16(v) => Value::I64(i64::from(*v)),
        Variant::Int32(v) => Value::I64(i64::from(*v)),
        Variant::UInt32(v) => Value::I64(i64::from(*v)),
        Variant::Int64(v) => Value::I64(*v),
        Variant::UInt64(v) => i64::try_from(*v).map_or(Value::F64(*v as f64), Value::I64),
        Variant::String(s) => Value::Str(Arc::from(s.as_ref())),
        Variant::LocalizedText(t) => Value::Str(Arc::from(t.text.as_ref())),
        other => Value::Raw(Arc::from(format!("{other:?}"))),
    }
}
