//! The host rules on hand-built payloads.

use prost::Message as _;

use super::proto::{Metric, MetricValue, Payload, PropertySet, PropertyValue, PropertyValueKind, datatype as dt};
use super::*;

const T: i64 = 1_795_158_000_000;

fn metric(name: Option<&str>, alias: Option<u64>, datatype: Option<u32>, value: MetricValue) -> Metric {
    Metric {
        name: name.map(str::to_owned),
        alias,
        datatype,
        timestamp: Some(u64::try_from(T).expect("positive")),
        value: Some(value),
        ..Metric::default()
    }
}

fn payload(seq: u64, metrics: Vec<Metric>) -> Vec<u8> {
    Payload { timestamp: Some(u64::try_from(T).expect("positive")), seq: Some(seq), metrics, ..Payload::default() }
        .encode_to_vec()
}

fn nbirth(bd: u64) -> Vec<u8> {
    payload(
        0,
        vec![
            metric(Some("bdSeq"), None, Some(dt::INT64), MetricValue::Long(bd)),
            metric(Some("Node Control/Rebirth"), None, Some(dt::BOOLEAN), MetricValue::Boolean(false)),
        ],
    )
}

fn dbirth(seq: u64) -> Vec<u8> {
    let mut speed = metric(Some("Speed"), Some(2), Some(dt::DOUBLE), MetricValue::Double(10.0));
    speed.properties = Some(PropertySet {
        keys: vec!["engUnit".to_owned()],
        values: vec![PropertyValue {
            r#type: Some(dt::STRING),
            value: Some(PropertyValueKind::String("m/min".to_owned())),
            ..PropertyValue::default()
        }],
    });
    payload(seq, vec![metric(Some("State"), Some(1), Some(dt::INT32), MetricValue::Int(3)), speed])
}

fn samples(h: &Handled) -> Vec<&Sample> {
    h.events
        .iter()
        .filter_map(|e| match e {
            FeedEventBody::Samples(s) => Some(s),
            _ => None,
        })
        .flatten()
        .collect()
}

fn rejects(h: &Handled) -> Vec<&str> {
    h.events
        .iter()
        .filter_map(|e| match e {
            FeedEventBody::Rejected { reason } => Some(reason.as_str()),
            _ => None,
        })
        .collect()
}

fn born_host() -> Host {
    let mut host = Host::new(None);
    assert_eq!(host.handle("spBv1.0/PlantA/NBIRTH/Line1", &nbirth(7), T), Handled::default());
    let h = host.handle("spBv1.0/PlantA/DBIRTH/Line1/Filler", &dbirth(1), T);
    assert!(rejects(&h).is_empty(), "{h:?}");
    host
}

#[test]
fn topics_parse_and_bad_ones_say_why() {
    assert_eq!(
        parse_topic("spBv1.0/PlantA/DDATA/Line1/Filler"),
        Ok(Topic::Node {
            group: "PlantA".into(),
            kind: MessageType::DData,
            node: "Line1".into(),
            device: Some("Filler".into())
        })
    );
    assert_eq!(parse_topic("spBv1.0/STATE/ops1"), Ok(Topic::State { host_id: "ops1".into() }));
    assert!(parse_topic("spBv1.0/PlantA/NDATA/Line1/Filler").expect_err("no device on N").contains("must not have"));
    assert!(parse_topic("spBv1.0/PlantA/DDATA/Line1").expect_err("device needed").contains("needs"));
    assert!(parse_topic("spBv1.0/PlantA/XDATA/Line1").expect_err("type").contains("unknown Sparkplug message type"));
    assert!(parse_topic("other/PlantA/NDATA/Line1").expect_err("namespace").contains("namespace"));
}

#[test]
fn a_birth_announces_signals_with_units_and_values_at_source_time() {
    let mut host = Host::new(None);
    host.handle("spBv1.0/PlantA/NBIRTH/Line1", &nbirth(7), T);
    let h = host.handle("spBv1.0/PlantA/DBIRTH/Line1/Filler", &dbirth(1), T + 500);
    let FeedEventBody::Birth(metas) = &h.events[0] else { panic!("{h:?}") };
    assert_eq!(metas.len(), 2);
    assert_eq!(metas[1].id.as_str(), "PlantA/Line1/Filler/Speed");
    assert_eq!(metas[1].unit.as_deref(), Some("m/min"));
    assert_eq!(metas[0].kind, ValueKind::Int);
    let s = samples(&h);
    assert_eq!(s[0].value, Value::I64(3));
    assert_eq!((s[0].ts_ms, s[0].time_source), (T, TimeSource::Source));
}

#[test]
fn data_by_alias_resolves_and_an_unknown_alias_asks_for_a_rebirth() {
    let mut host = born_host();
    let h = host.handle(
        "spBv1.0/PlantA/DDATA/Line1/Filler",
        &payload(2, vec![metric(None, Some(2), None, MetricValue::Double(12.5))]),
        T + 1_000,
    );
    assert_eq!(samples(&h)[0].signal.as_str(), "PlantA/Line1/Filler/Speed");
    assert_eq!(samples(&h)[0].value, Value::F64(12.5));
    assert_eq!(h.rebirth, None);

    let h = host.handle(
        "spBv1.0/PlantA/DDATA/Line1/Filler",
        &payload(3, vec![metric(None, Some(99), None, MetricValue::Double(1.0))]),
        T + 2_000,
    );
    assert!(samples(&h).is_empty(), "never guess");
    assert!(rejects(&h)[0].contains("unknown alias 99"));
    assert_eq!(h.rebirth.as_deref(), Some("spBv1.0/PlantA/NCMD/Line1"));
}

#[test]
fn a_seq_gap_asks_for_a_rebirth_once_within_the_hold_off() {
    let mut host = born_host();
    let data = |seq| payload(seq, vec![metric(None, Some(1), None, MetricValue::Int(2))]);
    let h = host.handle("spBv1.0/PlantA/DDATA/Line1/Filler", &data(5), T + 1_000);
    assert!(rejects(&h)[0].contains("seq 5 after 1"));
    assert_eq!(samples(&h).len(), 1, "the data itself is good");
    assert!(h.rebirth.is_some());
    let h = host.handle("spBv1.0/PlantA/DDATA/Line1/Filler", &data(9), T + 2_000);
    assert!(h.rebirth.is_none(), "held off for {REBIRTH_HOLD_OFF_MS} ms");
    let h = host.handle("spBv1.0/PlantA/DDATA/Line1/Filler", &data(20), T + 2_000 + REBIRTH_HOLD_OFF_MS);
    assert!(h.rebirth.is_some());
}

#[test]
fn seq_wraps_at_255() {
    let mut host = born_host();
    let data = |seq| payload(seq, vec![metric(None, Some(1), None, MetricValue::Int(2))]);
    for seq in 2..=255 {
        assert!(rejects(&host.handle("spBv1.0/PlantA/NDATA/Line1", &data(seq), T)).is_empty());
    }
    let h = host.handle("spBv1.0/PlantA/NDATA/Line1", &data(0), T);
    assert!(rejects(&h).is_empty() && h.rebirth.is_none(), "{h:?}");
}

#[test]
fn death_marks_stale_and_a_late_death_of_an_old_session_is_ignored() {
    let mut host = born_host();
    let old_death = payload(0, vec![metric(Some("bdSeq"), None, Some(dt::INT64), MetricValue::Long(6))]);
    assert_eq!(host.handle("spBv1.0/PlantA/NDEATH/Line1", &old_death, T), Handled::default());
    let death = payload(0, vec![metric(Some("bdSeq"), None, Some(dt::INT64), MetricValue::Long(7))]);
    let h = host.handle("spBv1.0/PlantA/NDEATH/Line1", &death, T);
    assert_eq!(h.events, vec![FeedEventBody::Stale { prefix: "PlantA/Line1/".to_owned() }]);
    // Data after death: not applied, and a rebirth is requested.
    let h = host.handle(
        "spBv1.0/PlantA/DDATA/Line1/Filler",
        &payload(2, vec![metric(None, Some(1), None, MetricValue::Int(2))]),
        T,
    );
    assert!(samples(&h).is_empty());
    assert!(h.rebirth.is_some());
    let h = host.handle("spBv1.0/PlantA/DDEATH/Line1/Filler", &payload(3, vec![]), T);
    assert!(h.events.iter().all(|e| !matches!(e, FeedEventBody::Stale { .. })), "the node is already dead");
}

#[test]
fn a_lost_broker_connection_marks_every_born_node_stale() {
    let mut host = born_host();
    assert_eq!(host.connection_lost(), vec![FeedEventBody::Stale { prefix: "PlantA/Line1/".to_owned() }]);
    assert!(host.connection_lost().is_empty());
}

#[test]
fn historical_null_and_bad_quality_metrics_are_marked() {
    let mut host = born_host();
    let mut hist = metric(None, Some(2), None, MetricValue::Double(1.0));
    hist.is_historical = Some(true);
    hist.timestamp = Some(u64::try_from(T - 60_000).expect("positive"));
    let mut null = metric(None, Some(1), None, MetricValue::Int(0));
    null.is_null = Some(true);
    null.value = None;
    let mut bad = metric(None, Some(2), None, MetricValue::Double(2.0));
    bad.properties = Some(PropertySet {
        keys: vec!["Quality".to_owned()],
        values: vec![PropertyValue { value: Some(PropertyValueKind::Int(0)), ..PropertyValue::default() }],
    });
    let h = host.handle("spBv1.0/PlantA/DDATA/Line1/Filler", &payload(2, vec![hist, null, bad]), T);
    let s = samples(&h);
    assert!(s[0].historical && s[0].ts_ms == T - 60_000);
    assert_eq!((s[1].quality, &s[1].value), (Quality::Bad, &Value::Raw(Arc::from("null"))));
    assert_eq!(s[2].quality, Quality::Bad);
}

#[test]
fn every_scalar_datatype_decodes() {
    let cases = [
        (dt::INT8, MetricValue::Int(0xFF), Value::I64(-1)),
        (dt::INT16, MetricValue::Int(0xFFFE), Value::I64(-2)),
        (dt::INT32, MetricValue::Int(u32::MAX), Value::I64(-1)),
        (dt::INT64, MetricValue::Long(u64::MAX), Value::I64(-1)),
        (dt::UINT8, MetricValue::Int(200), Value::I64(200)),
        (dt::UINT16, MetricValue::Int(60_000), Value::I64(60_000)),
        (dt::UINT32, MetricValue::Int(u32::MAX), Value::I64(i64::from(u32::MAX))),
        (dt::UINT64, MetricValue::Long(5), Value::I64(5)),
        (dt::FLOAT, MetricValue::Float(1.5), Value::F64(1.5)),
        (dt::DOUBLE, MetricValue::Double(-2.25), Value::F64(-2.25)),
        (dt::BOOLEAN, MetricValue::Boolean(true), Value::Bool(true)),
        (dt::STRING, MetricValue::String("jam".into()), Value::str("jam")),
        (dt::TEXT, MetricValue::String("long".into()), Value::str("long")),
        (dt::UUID, MetricValue::String("u-1".into()), Value::str("u-1")),
        (dt::DATETIME, MetricValue::Long(1_700_000_000_000), Value::I64(1_700_000_000_000)),
        (dt::BYTES, MetricValue::Bytes(vec![1, 0xab]), Value::Raw(Arc::from("2 bytes: 01ab"))),
    ];
    for (datatype, wire, expected) in cases {
        assert_eq!(decode_value(datatype, &wire), Ok(expected), "datatype {datatype}");
    }
    assert!(
        decode_value(dt::DOUBLE, &MetricValue::String("x".into())).expect_err("mismatch").contains("does not match")
    );
}

#[test]
fn arrays_datasets_and_templates_decode_to_readable_text() {
    let raw = |datatype, bytes: Vec<u8>| decode_value(datatype, &MetricValue::Bytes(bytes));
    assert_eq!(raw(dt::INT16_ARRAY, vec![0xff, 0xff, 2, 0]), Ok(Value::Raw(Arc::from("[-1, 2]"))));
    assert_eq!(raw(dt::DOUBLE_ARRAY, 1.5_f64.to_le_bytes().to_vec()), Ok(Value::Raw(Arc::from("[1.5]"))));
    // The specification's example: [false, false, true, true, false, true, false, false] packs to 0x34.
    assert_eq!(
        raw(dt::BOOLEAN_ARRAY, vec![8, 0, 0, 0, 0x34]),
        Ok(Value::Raw(Arc::from("[false, false, true, true, false, true, false, false]")))
    );
    assert_eq!(raw(dt::STRING_ARRAY, b"ab\0c\0".to_vec()), Ok(Value::Raw(Arc::from(r#"["ab", "c"]"#))));
    assert!(raw(dt::INT32_ARRAY, vec![1, 2, 3]).is_err(), "a partial element is an error, not a panic");
    assert!(raw(dt::BOOLEAN_ARRAY, vec![9, 0, 0, 0, 0xff]).is_err());
    let ds = proto::DataSet { num_of_columns: Some(2), columns: vec!["a".into(), "b".into()], ..Default::default() };
    assert_eq!(
        decode_value(dt::DATASET, &MetricValue::DataSet(ds)),
        Ok(Value::Raw(Arc::from("DataSet 0 rows × 2 columns (a, b)")))
    );
}

#[test]
fn garbage_and_nan_are_rejected_not_panics() {
    let mut host = born_host();
    let h = host.handle("spBv1.0/PlantA/DDATA/Line1/Filler", &[0xff, 0xff, 0xff, 0x01], T);
    assert!(rejects(&h)[0].contains("not a Sparkplug B payload"));
    let h = host.handle(
        "spBv1.0/PlantA/DDATA/Line1/Filler",
        &payload(2, vec![metric(None, Some(2), None, MetricValue::Double(f64::NAN))]),
        T,
    );
    assert!(samples(&h).is_empty());
    assert!(rejects(&h)[0].contains("not a finite number"));
}

#[test]
fn the_rebirth_command_and_state_messages_are_well_formed() {
    let p = Payload::decode(rebirth_payload(T).as_slice()).expect("decodes");
    assert_eq!(p.metrics[0].name.as_deref(), Some(REBIRTH_METRIC));
    assert_eq!(p.metrics[0].value, Some(MetricValue::Boolean(true)));
    assert_eq!(state_payload(true, 5), br#"{"online":true,"timestamp":5}"#);
}

#[test]
fn another_group_is_ignored_when_filtered() {
    let mut host = Host::new(Some("PlantB".to_owned()));
    assert_eq!(host.handle("spBv1.0/PlantA/NBIRTH/Line1", &nbirth(1), T), Handled::default());
}

#[test]
fn data_before_a_birth_asks_for_one_and_only_an_unanswered_request_counts_as_a_problem() {
    let mut host = Host::new(None);
    let data = |seq| payload(seq, vec![metric(None, Some(1), None, MetricValue::Int(1))]);
    let h = host.handle("spBv1.0/PlantA/DDATA/Line1/Filler", &data(5), T);
    assert!(rejects(&h).is_empty(), "joining mid-stream is normal: {h:?}");
    assert!(samples(&h).is_empty(), "no guessing without a birth");
    assert_eq!(h.rebirth.as_deref(), Some("spBv1.0/PlantA/NCMD/Line1"));
    let h = host.handle("spBv1.0/PlantA/DDATA/Line1/Filler", &data(6), T + 1_000);
    assert_eq!((rejects(&h).len(), h.rebirth.as_deref()), (0, None), "waiting for the birth: {h:?}");
    let h = host.handle("spBv1.0/PlantA/DDATA/Line1/Filler", &data(7), T + REBIRTH_HOLD_OFF_MS);
    assert!(rejects(&h)[0].contains("did not answer a rebirth request"), "{h:?}");
    assert!(h.rebirth.is_some(), "asked again");
}
