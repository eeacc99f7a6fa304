//! Messages as text for the Connections inspector: decoded only when someone looks, from the raw bytes kept in
//! [`super::diag`]. Pure and bounded.

use std::fmt::Write as _;

use prost::Message as _;

use super::diag::PayloadFormat;
use super::mqtt_json::{Decoded, decode_flat, decode_kepware};
use super::sparkplug::decode_value;
use super::sparkplug::proto::{MetricValue, Payload, datatype as dt};
use crate::model::{Quality, Sample};

/// Lines of decoded text at most; the rest is counted.
pub const MAX_LINES: usize = 500;

/// The payload as text: raw UTF-8 when it is text, else a hex dump with offsets (first `max_bytes`).
pub fn raw_text(payload: &[u8], max_bytes: usize) -> String {
    let shown = &payload[..payload.len().min(max_bytes)];
    if let Ok(text) = std::str::from_utf8(shown)
        && !text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return text.to_owned();
    }
    let mut out = String::new();
    for (i, chunk) in shown.chunks(16).enumerate() {
        let _ = write!(out, "{:06x}  ", i * 16);
        for b in chunk {
            let _ = write!(out, "{b:02x} ");
        }
        for _ in chunk.len()..16 {
            out.push_str("   ");
        }
        out.push(' ');
        out.extend(chunk.iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }));
        out.push('\n');
    }
    out
}

/// What the message says, decoded the way its gateway decodes it.
pub fn describe(format: PayloadFormat, topic: &str, payload: &[u8]) -> String {
    let mut lines = Vec::new();
    match format {
        PayloadFormat::Sparkplug => sparkplug(payload, &mut lines),
        PayloadFormat::Kepware => decoded(&decode_kepware(payload, 0), &mut lines),
        PayloadFormat::FlatJson => decoded(&decode_flat(topic, payload, 0), &mut lines),
        PayloadFormat::HttpJson => match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(v) => lines.extend(serde_json::to_string_pretty(&v).unwrap_or_default().lines().map(str::to_owned)),
            Err(err) => lines.push(format!("not JSON: {err}")),
        },
        PayloadFormat::Simulator => lines.push("A batch from the built-in simulator (no wire format).".to_owned()),
        PayloadFormat::OpcUa => lines.extend(String::from_utf8_lossy(payload).lines().map(str::to_owned)),
    }
    let extra = lines.len().saturating_sub(MAX_LINES);
    lines.truncate(MAX_LINES);
    if extra > 0 {
        lines.push(format!("... {extra} more lines"));
    }
    lines.join("\n")
}

fn sample_line(s: &Sample) -> String {
    let quality = match s.quality {
        Quality::Good => "",
        Quality::Uncertain => "  [uncertain]",
        Quality::Bad => "  [bad]",
    };
    let when = if s.ts_ms > 0 { format!("  @{}", fmt_ms(s.ts_ms)) } else { "  (no time: arrival)".to_owned() };
    format!("{} = {}{quality}{when}", s.signal, exact(&s.value))
}

fn decoded(d: &Decoded, lines: &mut Vec<String>) {
    lines.push(format!("{} samples, {} rejected", d.samples.len(), d.rejected.len()));
    lines.extend(d.samples.iter().map(sample_line));
    lines.extend(d.rejected.iter().map(|r| format!("rejected: {r}")));
}

fn fmt_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| format!("{ms} ms"), |t| t.to_string())
}

fn datatype_name(t: u32) -> String {
    let name = match t {
        dt::INT8 => "Int8",
        dt::INT16 => "Int16",
        dt::INT32 => "Int32",
        dt::INT64 => "Int64",
        dt::UINT8 => "UInt8",
        dt::UINT16 => "UInt16",
        dt::UINT32 => "UInt32",
        dt::UINT64 => "UInt64",
        dt::FLOAT => "Float",
        dt::DOUBLE => "Double",
        dt::BOOLEAN => "Boolean",
        dt::STRING => "String",
        dt::DATETIME => "DateTime",
        dt::TEXT => "Text",
        dt::UUID => "UUID",
        dt::DATASET => "DataSet",
        dt::BYTES => "Bytes",
        dt::FILE => "File",
        dt::TEMPLATE => "Template",
        other => return format!("type {other}"),
    };
    name.to_owned()
}

fn sparkplug(payload: &[u8], lines: &mut Vec<String>) {
    let p = match Payload::decode(payload) {
        Ok(p) => p,
        Err(err) => {
            lines.push(format!("not a Sparkplug B payload: {err}"));
            return;
        }
    };
    let ts = p.timestamp.and_then(|t| i64::try_from(t).ok()).map_or_else(|| "none".to_owned(), fmt_ms);
    let seq = p.seq.map_or_else(|| "none".to_owned(), |s| s.to_string());
    lines.push(format!("timestamp {ts}, seq {seq}, {} metrics", p.metrics.len()));
    for m in &p.metrics {
        let who = match (&m.name, m.alias) {
            (Some(n), Some(a)) => format!("{n} (alias {a})"),
            (Some(n), None) => n.clone(),
            (None, Some(a)) => format!("alias {a}"),
            (None, None) => "(no name, no alias)".to_owned(),
        };
        let value = match (&m.value, m.datatype) {
            _ if m.is_null == Some(true) => "null".to_owned(),
            // With its data type (births), the value reads as the host reads it: signed, scaled, arrays.
            (Some(v), Some(t)) => decode_value(t, v).map_or_else(|_| raw_value(Some(v)), |v| exact(&v)),
            (v, _) => raw_value(v.as_ref()),
        };
        let mut line = format!("{who} = {value}");
        if let Some(t) = m.datatype {
            let _ = write!(line, "  ({})", datatype_name(t));
        }
        if m.is_historical == Some(true) {
            line.push_str("  [historical]");
        }
        if let Some(t) = m.timestamp.and_then(|t| i64::try_from(t).ok()) {
            let _ = write!(line, "  @{}", fmt_ms(t));
        }
        lines.push(line);
    }
}

/// Every digit of a float (the app's display rounds; an inspector must not).
fn exact(v: &crate::model::Value) -> String {
    match v {
        crate::model::Value::F64(f) => f.to_string(),
        other => other.to_string(),
    }
}

/// A metric value without its data type (DATA by alias): as the wire has it.
fn raw_value(value: Option<&MetricValue>) -> String {
    match value {
        Some(MetricValue::Int(v)) => v.to_string(),
        Some(MetricValue::Long(v)) => v.to_string(),
        Some(MetricValue::Float(v)) => v.to_string(),
        Some(MetricValue::Double(v)) => v.to_string(),
        Some(MetricValue::Boolean(v)) => v.to_string(),
        Some(MetricValue::String(v)) => format!("{v:?}"),
        Some(MetricValue::Bytes(v)) => format!("{} bytes", v.len()),
        Some(MetricValue::DataSet(d)) => format!("DataSet of {} rows", d.rows.len()),
        Some(MetricValue::Template(t)) => format!("Template of {} metrics", t.metrics.len()),
        Some(MetricValue::Extension(_)) => "extension".to_owned(),
        None => "no value".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::sparkplug::edge::EdgeNode;
    use crate::model::{SignalId, SignalMeta, Value, ValueKind};

    #[test]
    fn sparkplug_births_list_names_aliases_types_and_values() {
        let mut node = EdgeNode::new("PlantA", "Line1");
        node.add(&SignalMeta { id: SignalId::from("PlantA/Line1/Filler/Speed"), kind: ValueKind::Float, unit: None });
        node.set(&Sample::new(SignalId::from("PlantA/Line1/Filler/Speed"), 1_795_158_000_000, Value::F64(12.5)));
        let births = node.births(1_795_158_000_000);
        let text = describe(PayloadFormat::Sparkplug, &births[1].0, &births[1].1);
        assert!(text.contains("seq 1, 1 metrics"), "{text}");
        assert!(text.contains("Speed (alias 1) = 12.5  (Double)  @2026-11-20T07:00:00Z"), "{text}");
        assert!(describe(PayloadFormat::Sparkplug, "t", b"\xff\xff\xff").starts_with("not a Sparkplug B payload"));
        let signed = Payload {
            metrics: vec![crate::feeds::sparkplug::proto::Metric {
                name: Some("Offset".into()),
                datatype: Some(dt::INT16),
                value: Some(MetricValue::Int(0xffff_fffe)),
                ..Default::default()
            }],
            ..Payload::default()
        };
        let text = describe(PayloadFormat::Sparkplug, "t", &signed.encode_to_vec());
        assert!(text.contains("Offset = -2  (Int16)"), "signed as the host reads it: {text}");
    }

    #[test]
    fn kepware_lists_samples_and_says_what_was_rejected() {
        let text = describe(
            PayloadFormat::Kepware,
            "t",
            br#"{"timestamp": 1, "values": [{"id": "L.M.State", "v": "running", "q": true, "t": 1795158000000}, {"v": 1}]}"#,
        );
        assert!(text.starts_with("1 samples, 1 rejected"), "{text}");
        assert!(text.contains("L.M.State = running"), "{text}");
        assert!(text.contains("rejected: "), "{text}");
    }

    #[test]
    fn text_stays_text_and_binary_becomes_a_hex_dump() {
        assert_eq!(raw_text(b"{\"a\": 1}", 100), "{\"a\": 1}");
        let dump = raw_text(&[0, 1, 2, b'A', 0xff], 100);
        assert!(dump.starts_with("000000  00 01 02 41 ff"), "{dump}");
        assert!(dump.trim_end().ends_with("...A."), "{dump}");
        assert!(describe(PayloadFormat::HttpJson, "t", b"nope").starts_with("not JSON"));
    }
}
