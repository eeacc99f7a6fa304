//! The recorder's scheduled work on loopback: alarms from a real cache's journal sent to a local webhook (axum)
//! and a local SMTP server (python aiosmtpd), exactly once across failures, restarts and re-reads; the delay and
//! the escalation per priority; and the shift report written by `watchfloor record` at a shift's end.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::{HeaderMap, StatusCode};
use tokio::sync::mpsc;
use watchfloor::analytics::alarm::{Condition, Limits, Rule, Watch};
use watchfloor::clock::{Clock, ManualClock};
use watchfloor::model::alarm::Priority;
use watchfloor::model::history::OperatorAction;
use watchfloor::model::{FeedEvent, FeedEventBody};
use watchfloor::model::{Sample, SignalId, Value};
use watchfloor::scheduled::notifier::{Notifier, NotifierOptions};
use watchfloor::store::{Store, StoreCommand, StoreOptions, open_reader};

use crate::START_MS;

const TEMP: &str = "PlantA/Line1/Filler/Temperature";
const MIN: i64 = 60_000;

/// A writer on a new cache with one rule, "Filler hot" (high) above 80 on [`TEMP`].
struct Plant {
    _dir: tempfile::TempDir,
    cache: std::path::PathBuf,
    outbox: std::path::PathBuf,
    store: Store,
    tx: mpsc::Sender<Arc<FeedEvent>>,
}

impl Plant {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = dir.path().join("history.sqlite");
        let rules = vec![Rule {
            name: "Filler hot".into(),
            watch: Watch::Signal(TEMP.into()),
            condition: Condition::Limit(Limits { hi: Some(80.0), ..Limits::default() }),
            priority: Priority::High,
        }];
        let (tx, rx) = mpsc::channel(64);
        let mut options = StoreOptions::new(&cache);
        options.evaluator = watchfloor::analytics::recording::SiteEvaluator::boxed(rules, Default::default(), None);
        let store = Store::start(options, rx).expect("writer");
        // The cache exists, migrated, once the writer answers.
        store.flush_blocking().expect("flushed");
        let outbox = watchfloor::scheduled::outbox::path_for(&cache);
        Self { _dir: dir, cache, outbox, store, tx }
    }

    /// The filler's temperature at `ts_ms`, committed.
    fn temp(&self, ts_ms: i64, value: f64) {
        let sample = Sample::new(SignalId::new(TEMP), ts_ms, Value::F64(value));
        let event = FeedEvent::new(Arc::from("gw"), ts_ms, FeedEventBody::Samples(vec![sample]));
        self.tx.blocking_send(Arc::new(event)).expect("send");
        self.store.flush_blocking().expect("flushed");
    }

    /// An operator acknowledges the alarm, committed.
    fn ack(&self) {
        let action = OperatorAction::Acknowledge { indices: vec![0], user: "anna".into(), comment: String::new() };
        assert!(self.store.send(StoreCommand::Alarm(action)));
        self.store.flush_blocking().expect("flushed");
    }

    /// A notifier on this cache's journal; `overlap_ids` as for a site database (read again each pass).
    fn notifier(&self, config: &str, clock: &Arc<ManualClock>, journal: &str, overlap_ids: i64) -> Notifier {
        let config = watchfloor::config::Config::parse(config, std::path::Path::new("notify.toml")).expect("config");
        let clock: Arc<dyn Clock> = Arc::clone(clock) as Arc<dyn Clock>;
        Notifier::open(NotifierOptions {
            notify: config.notify.expect("[notify]"),
            site: "Plant A".into(),
            gateway_rules: HashSet::new(),
            outbox: self.outbox.clone(),
            journal: journal.into(),
            overlap_ids,
            clock,
        })
        .expect("notifier")
    }

    fn outbox_rows(&self) -> Vec<(String, String, i64)> {
        let conn = rusqlite::Connection::open(&self.outbox).expect("outbox");
        let mut stmt = conn.prepare("SELECT channel, status, attempts FROM outbox ORDER BY id").expect("query");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows")
    }
}

/// What the local webhook server received: (path, `Idempotency-Key`, JSON body) of each request it answered 2xx,
/// and how many requests came in all.
#[derive(Default)]
struct Received {
    delivered: Vec<(String, String, serde_json::Value)>,
    requests: usize,
    keys: Vec<String>,
}

type Shared = Arc<Mutex<Received>>;

/// A webhook server on `listener` that answers 503 to the first `failures` requests, then 200.
fn webhook_server(rt: &tokio::runtime::Runtime, listener: std::net::TcpListener, failures: usize) -> Shared {
    let received: Shared = Arc::default();
    let state = Arc::clone(&received);
    let handler = move |uri: axum::http::Uri, headers: HeaderMap, body: axum::Json<serde_json::Value>| {
        let state = Arc::clone(&state);
        async move {
            let mut r = state.lock().unwrap_or_else(PoisonError::into_inner);
            r.requests += 1;
            let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            r.keys.push(key.clone());
            if r.requests <= failures {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            r.delivered.push((uri.path().to_owned(), key, body.0));
            StatusCode::OK
        }
    };
    listener.set_nonblocking(true).expect("nonblocking");
    rt.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        let app = axum::Router::new().fallback(axum::routing::post(handler));
        axum::serve(listener, app).await.expect("serve");
    });
    received
}

fn loopback() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind")
}

fn hook_config(port: u16, extra: &str) -> String {
    format!(
        "[notify]\n\
         high = {{ delay = \"1m\", escalate_after = \"10m\" }}\n\
         [[notify.webhook]]\n\
         name = \"ops\"\n\
         url = \"http://127.0.0.1:{port}/ops\"\n\
         headers = {{ \"X-Site\" = \"plant-a\" }}\n\
         {extra}"
    )
}

fn delivered(r: &Shared) -> Vec<(String, String, serde_json::Value)> {
    r.lock().unwrap_or_else(PoisonError::into_inner).delivered.clone()
}

#[test]
fn an_alarm_reaches_a_webhook_exactly_once_after_two_503s() {
    let plant = Plant::new();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listener = loopback();
    let port = listener.local_addr().expect("addr").port();
    let received = webhook_server(&rt, listener, 2);
    let clock = Arc::new(ManualClock::new(START_MS));
    let mut notifier = plant.notifier(&hook_config(port, ""), &clock, "cache", 0);

    plant.temp(START_MS, 91.5);
    let history = open_reader(&plant.cache).expect("reader");
    assert_eq!(notifier.read_journal(&history).expect("read"), 0, "within the delay");
    clock.set(START_MS + MIN);
    assert_eq!(notifier.read_journal(&history).expect("read"), 1);
    // 503, 503, then 200: each retry after its back-off (5 s, then 10 s, ±20 %).
    assert_eq!(notifier.deliver(rt.handle()).expect("deliver"), 0);
    assert_eq!(notifier.deliver(rt.handle()).expect("deliver"), 0, "backing off: not tried again yet");
    clock.set(START_MS + MIN + 7_000);
    assert_eq!(notifier.deliver(rt.handle()).expect("deliver"), 0);
    assert_eq!(notifier.status().retrying, 1);
    clock.set(START_MS + MIN + 20_000);
    assert_eq!(notifier.deliver(rt.handle()).expect("deliver"), 1);
    clock.set(START_MS + 5 * MIN);
    assert_eq!(notifier.read_journal(&history).expect("read"), 0, "nothing new");
    assert_eq!(notifier.deliver(rt.handle()).expect("deliver"), 0);

    let got = delivered(&received);
    assert_eq!(got.len(), 1, "exactly once");
    let (path, key, body) = &got[0];
    assert_eq!(path, "/ops");
    assert_eq!(key, &format!("ops|Filler hot|{TEMP}|{START_MS}|first"));
    let keys = received.lock().unwrap_or_else(PoisonError::into_inner).keys.clone();
    assert_eq!(keys, vec![key.clone(); 3], "every attempt carries the same key");
    assert_eq!(body["site"], "Plant A");
    assert_eq!(body["rule"], "Filler hot");
    assert_eq!(body["source"], TEMP);
    assert_eq!(body["asset"], "PlantA/Line1/Filler");
    assert_eq!(body["priority"], "High");
    assert_eq!(body["state"], "Unacknowledged");
    assert_eq!(body["message"], "91.5 above HI 80");
    assert_eq!(body["value"], 91.5);
    assert_eq!(body["limit"], "HI");
    assert_eq!(body["occurred_at"], "2026-11-20T07:00:00.000Z");
    assert_eq!(body["stage"], "first");
    assert_eq!(plant.outbox_rows(), [("ops".to_owned(), "sent".to_owned(), 3)]);
    let status = notifier.status();
    assert_eq!((status.queued, status.sent, status.failed, status.retrying), (1, 1, 0, 0));
}

#[test]
fn a_pending_delivery_survives_a_restart_and_goes_out_once() {
    let plant = Plant::new();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // A port with nothing listening: the webhook is down.
    let port = loopback().local_addr().expect("addr").port();
    let clock = Arc::new(ManualClock::new(START_MS + 2 * MIN));
    plant.temp(START_MS, 95.0);
    let history = open_reader(&plant.cache).expect("reader");
    {
        let mut notifier = plant.notifier(&hook_config(port, ""), &clock, "cache", 0);
        assert_eq!(notifier.read_journal(&history).expect("read"), 1);
        assert_eq!(notifier.deliver(rt.handle()).expect("deliver"), 0, "connection refused");
        assert_eq!(notifier.status().retrying, 1);
    }
    // Started again with the server up: the same journal gives nothing new, the pending row goes out.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("the same port");
    let received = webhook_server(&rt, listener, 0);
    let mut notifier = plant.notifier(&hook_config(port, ""), &clock, "cache", 0);
    assert_eq!(notifier.read_journal(&history).expect("read"), 0);
    clock.set(START_MS + 3 * MIN);
    assert_eq!(notifier.deliver(rt.handle()).expect("deliver"), 1);
    // A notifier that lost its place (another journal name: a fresh cursor) reads the same entries again:
    // nothing is queued twice.
    let mut lost = plant.notifier(&hook_config(port, ""), &clock, "cache, read again", 0);
    assert_eq!(lost.read_journal(&history).expect("read"), 0);
    assert_eq!(lost.deliver(rt.handle()).expect("deliver"), 0);
    assert_eq!(delivered(&received).len(), 1);
    assert_eq!(plant.outbox_rows(), [("ops".to_owned(), "sent".to_owned(), 2)]);
}

#[test]
fn the_delay_spares_an_acknowledged_alarm_and_the_escalation_an_acknowledged_one() {
    let plant = Plant::new();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listener = loopback();
    let port = listener.local_addr().expect("addr").port();
    let received = webhook_server(&rt, listener, 0);
    let lead = format!(
        "[[notify.webhook]]\nname = \"lead\"\nurl = \"http://127.0.0.1:{port}/lead\"\nescalation = true\n\
         min_priority = \"medium\"\n"
    );
    let clock = Arc::new(ManualClock::new(START_MS));
    // Each pass reads the last 50 entries again, as on a site database: nothing is sent twice for it.
    let mut notifier = plant.notifier(&hook_config(port, &lead), &clock, "cache", 50);
    let history = open_reader(&plant.cache).expect("reader");
    let mut pass = |at_ms: i64| {
        clock.set(at_ms);
        notifier.read_journal(&history).expect("read");
        notifier.deliver(rt.handle()).expect("deliver");
    };

    // Raised, and acknowledged 30 s later, within the minute's delay: nothing at all.
    plant.temp(START_MS, 91.0);
    pass(START_MS + 10_000);
    plant.ack();
    pass(START_MS + 30 * MIN);
    assert!(delivered(&received).is_empty(), "{:?}", delivered(&received));

    // Cleared and raised again: a new occurrence, sent after its delay and escalated 10 min after it came.
    plant.temp(START_MS + 31 * MIN, 70.0);
    plant.temp(START_MS + 32 * MIN, 93.0);
    pass(START_MS + 32 * MIN + 30_000);
    assert!(delivered(&received).is_empty(), "within the delay");
    pass(START_MS + 33 * MIN);
    pass(START_MS + 42 * MIN);
    let got: Vec<(String, String)> = delivered(&received)
        .iter()
        .map(|(p, _, b)| (p.clone(), b["stage"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert_eq!(got, [("/ops".to_owned(), "first".to_owned()), ("/lead".to_owned(), "escalation".to_owned())]);

    // Once more, acknowledged after the first notification: no escalation, and nothing repeated.
    plant.ack();
    plant.temp(START_MS + 50 * MIN, 70.0);
    plant.temp(START_MS + 51 * MIN, 94.0);
    pass(START_MS + 53 * MIN);
    plant.ack();
    pass(START_MS + 80 * MIN);
    pass(START_MS + 90 * MIN);
    let stages: Vec<String> =
        delivered(&received).iter().map(|(_, _, b)| b["stage"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(stages, ["first", "escalation", "first"]);
}

/// Python with aiosmtpd: the venv `.ci/run` makes in `target/asyncua-venv` (or `WATCHFLOOR_ASYNCUA_PYTHON`). In CI
/// it must be there; elsewhere the test says so and does not run.
fn smtp_python() -> Option<std::path::PathBuf> {
    let python = std::env::var_os("WATCHFLOOR_ASYNCUA_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/asyncua-venv/bin/python"));
    let works = std::process::Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        assert!(std::env::var_os("CI").is_none(), "CI must put aiosmtpd in the venv (.ci/run does)");
        eprintln!("skipped: no python with aiosmtpd at {} (see .ci/run)", python.display());
        return None;
    }
    Some(python)
}

#[test]
fn an_alarm_reaches_a_local_mailbox_exactly_once() {
    use std::io::BufRead as _;
    let Some(python) = smtp_python() else { return };
    let port = loopback().local_addr().expect("addr").port();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/notify/smtp_sink.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the SMTP server");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("ready"));
    let (mail_tx, mail_rx) = std::sync::mpsc::sync_channel::<String>(16);
    let reader = std::thread::Builder::new()
        .name("smtp-lines".into())
        .spawn(move || {
            for line in lines.map_while(Result::ok) {
                if mail_tx.send(line).is_err() {
                    break;
                }
            }
        })
        .expect("thread");

    let plant = Plant::new();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let config = format!(
        "[notify]\nhigh = {{ delay = \"0s\" }}\n[[notify.email]]\nserver = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
         from = \"Watchfloor <watchfloor@plant.example>\"\nto = [\"shift-lead@plant.example\"]\n"
    );
    let clock = Arc::new(ManualClock::new(START_MS + 5_000));
    let mut notifier = plant.notifier(&config, &clock, "cache", 0);
    plant.temp(START_MS, 88.0);
    let history = open_reader(&plant.cache).expect("reader");
    assert_eq!(notifier.read_journal(&history).expect("read"), 1);
    assert_eq!(notifier.deliver(rt.handle()).expect("deliver"), 1);
    assert_eq!(notifier.read_journal(&history).expect("read"), 0);
    assert_eq!(notifier.deliver(rt.handle()).expect("deliver"), 0);

    let mail = mail_rx.recv_timeout(std::time::Duration::from_secs(10)).expect("a mail");
    let mail: serde_json::Value = serde_json::from_str(&mail).expect("JSON line");
    assert_eq!(mail["from"], "watchfloor@plant.example");
    assert_eq!(mail["to"], serde_json::json!(["shift-lead@plant.example"]));
    let data = mail["data"].as_str().expect("text");
    // The subject is encoded (it has a dash outside ASCII): decoded by an independent parser below.
    let subject = decoded_subject(data);
    assert_eq!(subject, "[HIGH] Filler hot — PlantA/Line1/Filler", "{data}");
    assert!(data.contains("88 above HI 80") && data.contains("Plant A"), "{data}");
    assert!(mail_rx.recv_timeout(std::time::Duration::from_millis(500)).is_err(), "exactly once");
    assert_eq!(plant.outbox_rows(), [("email shift-lead@plant.example".to_owned(), "sent".to_owned(), 1)]);

    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
}

/// The `Subject:` header of a raw mail, with RFC 2047 encoded words decoded (by python's email package, not ours).
fn decoded_subject(raw: &str) -> String {
    let python = std::env::var_os("WATCHFLOOR_ASYNCUA_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/asyncua-venv/bin/python"));
    let mut child = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, email, email.policy; m = email.message_from_string(sys.stdin.read(), policy=email.policy.default); print(m['subject'])",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), raw.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("output");
    String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
}

/// `watchfloor record` over a sped-up simulator with hour-long shifts: a shift ends while it records, and its
/// report is in the folder as HTML, a workbook and JSON, with the same OEE in the workbook as in the JSON. Its
/// alarms (one per vehicle, standing all along) reach a local webhook once each, also across a second run.
#[test]
fn the_recorder_writes_the_shift_report_at_a_shift_end_and_sends_its_alarms() {
    use calamine::Reader as _;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listener = loopback();
    let port = listener.local_addr().expect("addr").port();
    let received = webhook_server(&rt, listener, 0);
    let dir = tempfile::tempdir().expect("temp dir");
    let reports = dir.path().join("reports");
    std::fs::create_dir(&reports).expect("folder");
    let mut config = String::from(
        "[site]\nname = \"Plant A\"\ntimezone = \"UTC\"\n\n[[gateway]]\nname = \"demo\"\nkind = \"sim\"\nseed = 7\n\
         speed = 1000\nlines = 1\nvehicles = 2\n\n[reports]\nfolder = \"reports\"\nafter = \"1m\"\n\n",
    );
    config.push_str(&format!(
        "[alarms]\ndefaults = false\n\n[[alarm]]\nname = \"Battery seen\"\nsignal = \"PlantA/Fleet/*/Battery/SoC\"\nlo = 200.0\npriority = \"high\"\n\n\
         [notify]\nhigh = {{ delay = \"0s\" }}\n[[notify.webhook]]\nurl = \"http://127.0.0.1:{port}/hook\"\n\n"
    ));
    for hour in 0..24 {
        config.push_str(&format!("[[shift]]\nname = \"H{hour:02}\"\nstart = \"{hour:02}:00\"\nduration = \"1h\"\n\n"));
    }
    let config_path = dir.path().join("site.toml");
    std::fs::write(&config_path, config).expect("config");
    let cache = dir.path().join("history.sqlite");
    // At ×1000 an hour is 3.6 s: 12 s hold at least two shift ends.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(["record", "--config", config_path.to_str().expect("utf-8"), "--db", cache.to_str().expect("utf-8")])
        .args(["--duration", "12s"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("shift report file(s) written"), "the summary says so: {stderr}");
    assert!(stderr.contains("notifications: 2 queued, 2 sent, 0 retrying, 0 failed"), "{stderr}");
    let sources = |r: &Shared| -> Vec<String> {
        let mut s: Vec<String> =
            delivered(r).iter().map(|(_, _, b)| b["source"].as_str().unwrap_or("").to_owned()).collect();
        s.sort();
        s
    };
    let first = sources(&received);
    assert_eq!(first.len(), 2, "one per vehicle: {first:?}");
    assert!(first[0] != first[1] && first.iter().all(|s| s.ends_with("/Battery/SoC")), "{first:?}");
    let mut names: Vec<String> = std::fs::read_dir(&reports)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let stems: std::collections::BTreeSet<&str> =
        names.iter().filter_map(|n| n.rsplit_once('.').map(|x| x.0)).collect();
    assert!(!stems.is_empty(), "no report in {names:?}\n{stderr}");
    for stem in &stems {
        for ext in ["html", "xlsx", "json"] {
            assert!(names.contains(&format!("{stem}.{ext}")), "{stem}.{ext} in {names:?}");
        }
    }
    assert!(names.iter().all(|n| !n.starts_with('.')), "no temporary file left: {names:?}");
    let stem = stems.iter().next().expect("a report");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join(format!("{stem}.json"))).expect("read")).expect("JSON");
    let oee = json["oee"].as_f64().expect("the site's OEE");
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook(reports.join(format!("{stem}.xlsx"))).expect("the workbook opens");
    let sheet = book.worksheet_range("OEE").expect("OEE sheet");
    assert_eq!(sheet.get_value((1, 0)), Some(&calamine::Data::String("site".into())));
    match sheet.get_value((1, 7)) {
        Some(calamine::Data::Float(x)) => assert!((x - oee).abs() < 1e-9, "workbook {x} vs JSON {oee}"),
        other => panic!("the site's OEE in the workbook: {other:?}"),
    }
    let html = std::fs::read_to_string(reports.join(format!("{stem}.html"))).expect("read");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Shift report"), "{html:.200}");

    // Run again: nothing is written over (the files keep their contents), the catch-up finds them there.
    let before = std::fs::read(reports.join(format!("{stem}.json"))).expect("read");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(["record", "--config", config_path.to_str().expect("utf-8"), "--db", cache.to_str().expect("utf-8")])
        .args(["--duration", "1s"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(reports.join(format!("{stem}.json"))).expect("read"), before);
    assert_eq!(sources(&received), first, "the standing alarms are not sent again");
}
