//! Any bytes as Kepware template or flat JSON: never a panic; flat JSON gives exactly one sample or one reason.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchfloor::feeds::mqtt_json::{decode_flat, decode_kepware};

fuzz_target!(|data: &[u8]| {
    let d = decode_kepware(data, 1_795_158_000_000);
    assert!(d.samples.iter().all(|s| !s.signal.as_str().is_empty()), "a sample without an id");
    let d = decode_flat("site/line/machine/metric", data, 1_795_158_000_000);
    assert_eq!(d.samples.len() + d.rejected.len(), 1, "exactly one sample or one reason");
});
