//! Any bytes as an HTTP gateway feed event, snapshot or history page: never a panic, and every sample that comes
//! out has an id the protocol allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchfloor::command::FeedEventBody;
use watchfloor::feeds::http::{MAX_ID_BYTES, decode_event, decode_history, decode_snapshot};

fn check(events: &[FeedEventBody]) {
    for e in events {
        if let FeedEventBody::Samples(samples) = e {
            assert!(samples.iter().all(|s| !s.signal.as_str().is_empty() && s.signal.as_str().len() <= MAX_ID_BYTES));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let now = 1_795_158_000_000;
    let text = String::from_utf8_lossy(data);
    for kind in ["samples", "birth", "stale"] {
        if let Ok(events) = decode_event(kind, &text, now) {
            check(&events);
        }
    }
    if let Ok((events, _)) = decode_snapshot(data, now) {
        check(&events);
    }
    if let Ok((events, _)) = decode_history(data, now) {
        check(&events);
    }
});
