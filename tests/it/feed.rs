//! The simulator as a live feed on a real tokio runtime, through the backend, the bus and its consumers.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use watchfloor::backend::Backend;
use watchfloor::config::{Config, SimGateway};
use watchfloor::feeds::Command;
use watchfloor::feeds::EventBus;
use watchfloor::model::Value;
use watchfloor::model::{FeedEvent, FeedEventBody, FeedState};
use watchfloor::sim::Fault;

/// Receives until `done` says so, or fails after `limit` of wall time.
async fn until(rx: &mut mpsc::Receiver<Arc<FeedEvent>>, limit: Duration, mut done: impl FnMut(&FeedEvent) -> bool) {
    tokio::time::timeout(limit, async {
        while let Some(event) = rx.recv().await {
            if done(&event) {
                return;
            }
        }
        panic!("the bus closed first");
    })
    .await
    .expect("condition not reached in time");
}

/// The demo at ×1000 on a real runtime, with a lossless consumer standing in for the store.
fn start_fast_demo() -> (tokio::runtime::Runtime, Backend, mpsc::Receiver<Arc<FeedEvent>>) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut builder = EventBus::builder();
    let store = builder.lossless(256);
    let bus = builder.build();
    let config = Config::demo(SimGateway { speed: 1_000.0, ..SimGateway::default() });
    let backend = Backend::start(runtime.handle(), &config, &bus);
    (runtime, backend, store)
}

#[test]
fn the_demo_feed_goes_live_and_takes_faults_through_the_backend() {
    let (runtime, backend, mut store) = start_fast_demo();
    assert!(backend.sim_gateways().contains("demo"));

    runtime.block_on(async {
        let mut states = Vec::new();
        let mut births = 0;
        until(&mut store, Duration::from_secs(20), |e| {
            match &e.body {
                FeedEventBody::Status(s) => states.push(s.state),
                FeedEventBody::Birth(meta) => births += meta.len(),
                _ => {}
            }
            states.contains(&FeedState::Live)
        })
        .await;
        assert_eq!(states, vec![FeedState::Connecting, FeedState::Live]);
        assert!(births >= 12 * 7 + 42 * 10, "every machine and vehicle signal is announced: {births}");

        backend.send(Command::InjectFault {
            gateway: Arc::from("demo"),
            fault: Fault::StopMachine { machine: "Capper".into(), secs: 3_600, reason: "FROM_TEST".into() },
        });
        until(&mut store, Duration::from_secs(20), |e| {
            let FeedEventBody::Samples(samples) = &e.body else { return false };
            samples
                .iter()
                .any(|s| s.signal.as_str() == "PlantA/Line1/Capper/Reason" && s.value == Value::str("FROM_TEST"))
        })
        .await;
    });

    // Stopping the backend stops the feed, which says so.
    runtime.block_on(backend.shutdown());
    runtime.block_on(until(
        &mut store,
        Duration::from_secs(5),
        |e| matches!(&e.body, FeedEventBody::Status(s) if s.state == FeedState::Offline),
    ));
}

#[test]
fn sim_time_runs_at_the_configured_speed() {
    let (runtime, backend, mut store) = start_fast_demo();
    let clock = backend.clock();
    let start = clock.now_ms();
    // At ×1000 the simulator covers ten minutes of plant time in well under a few seconds of wall time.
    runtime.block_on(until(&mut store, Duration::from_secs(30), |e| {
        let FeedEventBody::Samples(samples) = &e.body else { return false };
        samples.iter().any(|s| s.ts_ms >= start + 600_000)
    }));
    drop(backend);
}
