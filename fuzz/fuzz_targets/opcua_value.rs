//! Any bytes as an OPC UA data value (binary encoding), as a data change notification carries it: never a panic,
//! and a decoded value always becomes a sample of the signal it was asked for.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use watchfloor::feeds::opcua::decode_sample;

fuzz_target!(|data: &[u8]| {
    let signal: Arc<str> = Arc::from("PlantA/Line1/Filler/Temperature");
    if let Some(sample) = decode_sample(&signal, data, 1_795_158_000_000) {
        assert_eq!(sample.signal.as_str(), signal.as_ref());
    }
});
