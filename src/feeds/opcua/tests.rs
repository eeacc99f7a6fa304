use super::*;

#[test]
fn statuses_map_to_quality_and_bad_values_are_kept() {
    let signal: Arc<str> = Arc::from("PlantA/Line1/Filler/Temperature");
    let t = ua_time(1_767_225_600_000);
    let good = DataValue { value: Some(Variant::Double(71.5)), source_timestamp: Some(t), ..DataValue::default() };
    let s = sample(&signal, &good, 5);
    assert_eq!(
        (s.value, s.quality, s.ts_ms, s.time_source),
        (Value::F64(71.5), Quality::Good, 1_767_225_600_000, TimeSource::Source)
    );
    let uncertain = DataValue { status: Some(StatusCode::UncertainLastUsableValue), ..good.clone() };
    assert_eq!(sample(&signal, &uncertain, 5).quality, Quality::Uncertain);
    let bad = DataValue { value: None, status: Some(StatusCode::BadSensorFailure), source_timestamp: None, ..good };
    let s = sample(&signal, &bad, 5);
    assert_eq!((s.quality, s.ts_ms, s.time_source), (Quality::Bad, 5, TimeSource::Arrival));
    assert!(matches!(s.value, Value::Raw(ref r) if r.contains("BadSensorFailure")), "{:?}", s.value);
    assert_eq!(value(&Variant::UInt64(u64::MAX)), Value::F64(u64::MAX as f64));
    assert_eq!(value(&Variant::from("Running")), Value::Str(Arc::from("Running")));
}

#[test]
fn an_encoded_data_value_decodes_and_garbage_does_not() {
    use opcua::types::BinaryEncodable as _;
    let signal: Arc<str> = Arc::from("a/b");
    let value = DataValue { value: Some(Variant::Int32(7)), status: Some(StatusCode::Good), ..DataValue::default() };
    let context = opcua::types::ContextOwned::default();
    let mut bytes = Vec::new();
    value.encode(&mut bytes, &context.context()).expect("encode");
    let s = decode_sample(&signal, &bytes, 3).expect("a sample");
    assert_eq!((s.value, s.quality, s.ts_ms), (Value::I64(7), Quality::Good, 3));
    assert!(decode_sample(&signal, &[0xFF, 0x01], 3).is_none());
}

#[test]
fn refusals_say_what_to_do() {
    let pki = std::path::Path::new("/data/opcua-pki");
    let text = explain(StatusCode::BadCertificateUntrusted, pki);
    assert!(text.contains("not trusted") && text.contains("/data/opcua-pki/rejected"), "{text}");
    assert!(is_refusal(StatusCode::BadIdentityTokenRejected));
    assert!(!is_refusal(StatusCode::BadCommunicationError));
}
