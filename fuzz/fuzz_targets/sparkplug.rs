//! Any bytes on any Sparkplug topic: the host must never panic, and whatever it emits must be usable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchfloor::command::FeedEventBody;
use watchfloor::feeds::sparkplug::Host;

const TOPICS: [&str; 6] = [
    "spBv1.0/G/NBIRTH/N",
    "spBv1.0/G/NDATA/N",
    "spBv1.0/G/DBIRTH/N/D",
    "spBv1.0/G/DDATA/N/D",
    "spBv1.0/G/NDEATH/N",
    "spBv1.0/G/DDEATH/N/D",
];

fuzz_target!(|data: &[u8]| {
    // The first byte picks topics for a short session; the rest is split into payloads.
    let Some((&pick, rest)) = data.split_first() else { return };
    let mut host = Host::new(None);
    for (i, payload) in rest.split(|b| *b == 0xF7).enumerate().take(8) {
        let topic = TOPICS[(usize::from(pick) + i) % TOPICS.len()];
        let handled = host.handle(topic, payload, 1_795_158_000_000);
        for event in &handled.events {
            if let FeedEventBody::Samples(samples) = event {
                for s in samples {
                    assert!(s.value.is_finite(), "a non-finite value got through");
                    assert!(s.signal.as_str().starts_with("G/N/"));
                }
            }
        }
    }
    let _ = host.connection_lost();
});
