//! The site database on a real PostgreSQL (started on loopback by `bench::pgserver`): the recorder's writer
//! (binary COPY, idempotent replays, rollups equal to the raw data), the schema's versions, reports read from it
//! equal to reports read from a cache of the same data, and leader/standby.

use std::sync::Arc;

use watchfloor::bench::pgserver::PgServer;
use watchfloor::model::history::HistoryRead;
use watchfloor::model::{FeedEvent, FeedEventBody};
use watchfloor::sim::{Fault, SimConfig};
use watchfloor::store::site::{PgHistory, SiteOptions, SiteRole, SiteTarget, SiteWriter};
use watchfloor::store::{Store, StoreOptions};

use super::{START_MS, sim_events};

/// Whether Debian's PostgreSQL server is installed; without it (and not under CI, which installs it) a site test
/// says so and does not run, as the Mosquitto tests do.
fn postgres_installed() -> bool {
    if watchfloor::bench::pgserver::postgres_bin_dir().is_some() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "CI must install PostgreSQL (apt-get install postgresql-15)");
    eprintln!("PostgreSQL is not installed: this test did not run (apt-get install postgresql-15)");
    false
}

fn server() -> &'static PgServer {
    PgServer::shared().expect("a PostgreSQL server on loopback (Debian's postgresql-15)")
}

fn evaluator() -> Box<dyn watchfloor::model::history::Evaluator> {
    let config = watchfloor::config::Config::demo(watchfloor::config::SimGateway::default());
    let (geofences, _) = config.geofences();
    watchfloor::analytics::recording::SiteEvaluator::boxed(
        config.alarm_rules(&config.site_plan.load().0),
        geofences,
        Some((config.calendar.clone(), Arc::new(config.assets.clone()))),
    )
}

/// The writers' clock stays at the start of the simulated data: their alarms are judged on the data's own times
/// (a wall clock weeks after the data would find every vehicle silent, at whichever batch its tick fell).
fn data_clock() -> Arc<dyn watchfloor::clock::Clock> {
    Arc::new(watchfloor::clock::ManualClock::new(START_MS))
}

fn site_options(url: &str) -> SiteOptions {
    let mut options = SiteOptions::new(SiteTarget::plain(url), "Plant A");
    options.raw_days = 0;
    options.evaluator = evaluator();
    options.clock = data_clock();
    options
}

/// Writes `events` through a site writer and returns its final status.
fn write_site(url: &str, events: &[Arc<FeedEvent>]) -> watchfloor::store::site::SiteStatus {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let writer = SiteWriter::start(site_options(url), rx).expect("site writer");
    wait_role(&writer, SiteRole::Leader);
    for e in events {
        tx.blocking_send(Arc::clone(e)).expect("send");
    }
    drop(tx);
    writer.finish()
}

fn write_cache(path: &std::path::Path, events: &[Arc<FeedEvent>]) {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let mut options = StoreOptions::new(path);
    options.evaluator = evaluator();
    options.clock = data_clock();
    let store = Store::start(options, rx).expect("writer");
    for e in events {
        tx.blocking_send(Arc::clone(e)).expect("send");
    }
    drop(tx);
    store.finish();
}

fn wait_role(writer: &SiteWriter, role: SiteRole) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while writer.status().role != role {
        assert!(std::time::Instant::now() < deadline, "never {role:?}: {:?}", writer.status());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn count(db: &str, sql: &str) -> i64 {
    let out = server().psql(db, sql).expect("psql");
    out.trim().parse().unwrap_or_else(|_| panic!("{sql}: {out:?}"))
}

fn sqlite_count(path: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

#[test]
fn the_recorder_writes_everything_once_and_a_replay_adds_nothing() {
    if !postgres_installed() {
        return;
    }
    let url = server().create_database("site_idempotent").expect("database");
    let sim = SimConfig { lines: 2, vehicles: 4, ..SimConfig::demo(5, START_MS) };
    let events = sim_events(sim, 10, &[]);
    let first = write_site(&url, &events);
    assert!(first.stored_samples > 10_000, "{first:?}");
    assert_eq!(first.dropped_samples, 0, "{first:?}");

    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("h.sqlite");
    write_cache(&cache, &events);
    let db = "site_idempotent";
    for table in ["sample", "fix", "rollup_1m", "rollup_1h", "latest", "signal"] {
        let sql = format!("SELECT count(*) FROM {table}");
        assert_eq!(count(db, &sql), sqlite_count(&cache, &sql), "{table}: site database and cache differ");
    }
    let rollups = "SELECT coalesce(sum(count), 0) FROM rollup_1m";
    let good = "SELECT count(*) FROM sample WHERE num IS NOT NULL AND quality < 2";
    assert_eq!(count(db, rollups), count(db, good), "minute rollups count every good value once");
    let sums = "SELECT round(sum(sum_value)::numeric, 3) FROM rollup_1h";
    let raw = "SELECT round(sum(num)::numeric, 3) FROM sample WHERE num IS NOT NULL AND quality < 2";
    assert_eq!(server().psql(db, sums).expect("psql"), server().psql(db, raw).expect("psql"));

    // The same batches again (a replay, or the overlap after a failover): nothing new, rollups unchanged.
    let before =
        (count(db, "SELECT count(*) FROM sample"), count(db, rollups), count(db, "SELECT count(*) FROM alarm_journal"));
    let again = write_site(&url, &events);
    assert_eq!(again.stored_samples, 0, "{again:?}");
    assert_eq!(again.duplicate_samples, first.stored_samples, "{again:?}");
    let after =
        (count(db, "SELECT count(*) FROM sample"), count(db, rollups), count(db, "SELECT count(*) FROM alarm_journal"));
    assert_eq!(before, after);
    // One partition per day of data.
    assert!(count(db, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'sample'::regclass") >= 1);
}

#[test]
fn a_report_from_the_site_database_equals_the_report_from_a_cache() {
    if !postgres_installed() {
        return;
    }
    let url = server().create_database("site_report").expect("database");
    let sim = SimConfig { lines: 2, vehicles: 6, ..SimConfig::demo(9, START_MS) };
    let events =
        sim_events(sim, 30, &[(5, Fault::StopMachine { machine: "Capper".into(), secs: 1200, reason: "JAM".into() })]);
    write_site(&url, &events);
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("h.sqlite");
    write_cache(&cache, &events);

    let config = watchfloor::config::Config::demo(watchfloor::config::SimGateway::default());
    let (geofences, _) = config.geofences();
    let fleet = watchfloor::analytics::fleet::FleetParams { geofences, stale_after_ms: config.stale_after_ms };
    let range = (START_MS, START_MS + 30 * 60_000);
    let report = |history: &dyn HistoryRead| {
        let r = watchfloor::analytics::report::full(
            history,
            &config.assets,
            &config.calendar,
            "Plant A",
            &fleet,
            range,
            &mut |_, _| true,
        )
        .expect("report")
        .expect("not cancelled");
        serde_json::to_value(&r).expect("json")
    };
    let pg = PgHistory::open(&SiteTarget::plain(&url)).expect("open the site database");
    let conn = watchfloor::store::open_reader(&cache).expect("open the cache");
    let (from_pg, from_cache) = (report(&pg), report(&conn));
    assert!(from_pg["machines"].as_array().is_some_and(|m| !m.is_empty()), "{from_pg}");
    assert_eq!(from_pg, from_cache);
    // The down machine's alarm reached the site journal as it reached the cache's.
    let brief = |history: &dyn HistoryRead| -> Vec<(i64, String, String, String)> {
        let journal = history.journal(i64::MIN, i64::MAX, usize::MAX).expect("journal");
        journal.into_iter().map(|e| (e.ts_ms, e.rule, e.source, e.to.label().to_owned())).collect()
    };
    let (site_journal, cache_journal) = (brief(&pg), brief(&conn));
    assert!(site_journal.iter().any(|e| e.1 == "Machine down"), "{site_journal:?}");
    assert_eq!(site_journal, cache_journal);
}

#[test]
fn a_newer_schema_is_refused_and_left_unchanged() {
    if !postgres_installed() {
        return;
    }
    let url = server().create_database("site_newer").expect("database");
    write_site(&url, &sim_events(SimConfig { lines: 1, vehicles: 1, ..SimConfig::demo(1, START_MS) }, 1, &[]));
    let db = "site_newer";
    server().psql(db, "INSERT INTO watchfloor_schema VALUES (99, 0, 'from the future')").expect("psql");
    let tables = count(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'");
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let writer = SiteWriter::start(site_options(&url), rx).expect("writer");
    wait_role(&writer, SiteRole::Error);
    let message = writer.status().message.unwrap_or_default();
    assert!(message.contains("newer than this build"), "{message}");
    drop(tx);
    writer.finish();
    assert_eq!(count(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), tables);
    assert_eq!(count(db, "SELECT max(version) FROM watchfloor_schema"), 99);
    let err = PgHistory::open(&SiteTarget::plain(&url)).err().expect("refused");
    assert!(err.to_string().contains("newer"), "{err}");
}

#[test]
fn a_foreign_database_is_refused() {
    if !postgres_installed() {
        return;
    }
    let url = server().create_database("site_foreign").expect("database");
    server().psql("site_foreign", "CREATE TABLE notes (body text)").expect("psql");
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let writer = SiteWriter::start(site_options(&url), rx).expect("writer");
    wait_role(&writer, SiteRole::Error);
    assert!(writer.status().message.unwrap_or_default().contains("not a Watchfloor site database"));
    drop(tx);
    writer.finish();
    assert_eq!(count("site_foreign", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), 1);
}

#[test]
fn a_standby_takes_over_and_writes_what_the_leader_had_not() {
    if !postgres_installed() {
        return;
    }
    let url = server().create_database("site_standby").expect("database");
    let events = sim_events(SimConfig { lines: 1, vehicles: 2, ..SimConfig::demo(3, START_MS) }, 4, &[]);
    let (half_a, half_b) = events.split_at(events.len() / 2);
    let (leader_tx, leader_rx) = tokio::sync::mpsc::channel(64);
    let leader = SiteWriter::start(site_options(&url), leader_rx).expect("leader");
    wait_role(&leader, SiteRole::Leader);
    let (standby_tx, standby_rx) = tokio::sync::mpsc::channel(64);
    let standby = SiteWriter::start(site_options(&url), standby_rx).expect("standby");
    wait_role(&standby, SiteRole::Standby);
    // Both see the first half; the leader writes it. The standby keeps it.
    for e in half_a {
        leader_tx.blocking_send(Arc::clone(e)).expect("send");
        standby_tx.blocking_send(Arc::clone(e)).expect("send");
    }
    leader.flush_blocking().expect("flush");
    standby.flush_blocking().expect("flush");
    assert_eq!(standby.status().stored_samples, 0, "a standby writes nothing");
    // The leader goes (its session ends, so its lock frees); the standby sees the second half too.
    drop(leader_tx);
    let led = leader.finish();
    for e in half_b {
        standby_tx.blocking_send(Arc::clone(e)).expect("send");
    }
    wait_role(&standby, SiteRole::Leader);
    let took = standby.flush_blocking().expect("flush");
    assert_eq!(took.takeovers, 1, "{took:?}");
    drop(standby_tx);
    let done = standby.finish();
    let published: u64 = events
        .iter()
        .map(|e| match &e.body {
            FeedEventBody::Samples(s) => s.len() as u64,
            _ => 0,
        })
        .sum();
    let stored = count("site_standby", "SELECT count(*) FROM sample");
    assert_eq!(u64::try_from(stored).unwrap_or(0), led.stored_samples + done.stored_samples);
    // Everything is there once: what the standby kept of the first half was skipped as already written.
    let distinct: std::collections::HashSet<(String, i64)> = events
        .iter()
        .flat_map(|e| match &e.body {
            FeedEventBody::Samples(s) => s.iter().map(|s| (s.signal.as_str().to_owned(), s.ts_ms)).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert!(published >= distinct.len() as u64);
    assert_eq!(stored, i64::try_from(distinct.len()).unwrap_or(0), "every distinct sample once");
}

/// Every (signal, time) a cache holds.
fn cache_keys(path: &std::path::Path) -> std::collections::HashSet<(String, i64)> {
    let conn = rusqlite::Connection::open(path).expect("open");
    let mut stmt = conn.prepare("SELECT s.name, x.ts_ms FROM sample x JOIN signal s ON s.id = x.signal").expect("sql");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").collect::<Result<_, _>>().expect("rows")
}

fn site_keys(url: &str) -> Vec<(String, i64)> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    client
        .query("SELECT s.name, x.ts_ms FROM sample x JOIN signal s ON s.id = x.signal", &[])
        .expect("query")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Two `watchfloor record` processes on one site database fed by `gateway` (a `watchfloor gateway` command line;
/// `{port}` is a free port) through the config's `[[gateway]]` table: the leader killed with kill -9, the standby
/// carries on, and every sample either received is in the site database once.
fn failover(db: &str, gateway: &[&str], gateway_toml: &str, port: u16) {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let url = server().create_database(db).expect("database");
    let dir = tempfile::tempdir().expect("dir");
    let mut gateway = Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(gateway.iter().map(|a| a.replace("{port}", &port.to_string())))
        .stderr(Stdio::null())
        .spawn()
        .expect("start watchfloor gateway");
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "[site]\nname = \"Failover plant\"\n\n[site_db]\nurl = \"{url}\"\nsslmode = \"disable\"\n\n{}\n",
            gateway_toml.replace("{port}", &port.to_string())
        ),
    )
    .expect("config");
    let recorder = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_watchfloor"))
            .args(["record", "--config"])
            .arg(&config)
            .arg("--db")
            .arg(dir.path().join(format!("{name}.sqlite")))
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(dir.path().join(format!("{name}.log"))).expect("log"))
            .spawn()
            .expect("start a recorder")
    };
    // Before the first recorder has migrated the database there is no table yet: no rows.
    let rows = || {
        let out = server().psql(db, "SELECT count(*) FROM sample").unwrap_or_default();
        out.trim().parse::<i64>().unwrap_or(0)
    };
    let wait_for = |what: &str, limit: Duration, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + limit;
        while !done() {
            assert!(Instant::now() < deadline, "{what} within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut leader = recorder("a");
    wait_for("the first recorder writing", Duration::from_secs(30), &|| rows() > 100);
    let mut standby = recorder("b");
    // The standby is connected when it holds the stream too (its own cache fills).
    let b_cache = dir.path().join("b.sqlite");
    wait_for("the standby receiving", Duration::from_secs(30), &|| {
        // The file appears before its tables do: until then it holds nothing.
        b_cache.exists()
            && rusqlite::Connection::open_with_flags(&b_cache, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .and_then(|c| c.query_row("SELECT EXISTS (SELECT 1 FROM sample)", [], |r| r.get::<_, bool>(0)))
                .unwrap_or(false)
    });
    std::thread::sleep(Duration::from_secs(2));
    leader.kill().expect("kill -9 the leader");
    let _ = leader.wait();
    let killed = Instant::now();
    let at_kill = rows();
    wait_for("the standby writing after the kill", Duration::from_secs(5), &|| rows() > at_kill);
    let takeover = killed.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    // SIGTERM: the standby (now leader) writes what it holds and stops.
    let _ = Command::new("kill").arg("-TERM").arg(standby.id().to_string()).status();
    let status = standby.wait().expect("standby exit");
    let _ = gateway.kill();
    let _ = gateway.wait();
    let log = std::fs::read_to_string(dir.path().join("b.log")).unwrap_or_default();
    assert!(status.success(), "{log}");
    assert!(log.contains("site database: Leader"), "the standby took the lead: {log}");

    let site = site_keys(&url);
    let unique: std::collections::HashSet<(String, i64)> = site.iter().cloned().collect();
    assert_eq!(unique.len(), site.len(), "no sample twice");
    let mut seen = cache_keys(&dir.path().join("a.sqlite"));
    seen.extend(cache_keys(&b_cache));
    let missing: Vec<&(String, i64)> = seen.iter().filter(|k| !unique.contains(k)).take(5).collect();
    assert!(missing.is_empty(), "every sample either recorder received is in the site database: {missing:?}");
    eprintln!("takeover after kill -9: {} ms; {} samples", takeover.as_millis(), site.len());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port()
}

#[test]
fn two_recorders_on_one_site_the_leader_killed_the_standby_carries_on_and_nothing_is_lost() {
    if !postgres_installed() {
        return;
    }
    failover(
        "site_failover",
        &["gateway", "--http", "127.0.0.1:{port}", "--lines", "1", "--vehicles", "3"],
        "[[gateway]]\nname = \"plant\"\nkind = \"http\"\nurl = \"http://127.0.0.1:{port}\"",
        free_port(),
    );
}

/// The same over Sparkplug B: both recorders are host applications with the site's one host id on one broker
/// (Mosquitto); the standby stays connected beside the leader, so it holds the stream when the leader dies.
#[test]
fn two_sparkplug_recorders_with_one_host_id_the_leader_killed_the_standby_carries_on() {
    if !postgres_installed() {
        return;
    }
    if watchfloor::bench::mqtt::mosquitto_binary().is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must install mosquitto (apt-get install mosquitto)");
        eprintln!("mosquitto is not installed: this test did not run (apt-get install mosquitto)");
        return;
    }
    let broker = watchfloor::bench::mqtt::Mosquitto::start(None).expect("mosquitto");
    let port = broker.url("mqtt").port().expect("port");
    failover(
        "site_failover_sparkplug",
        &["gateway", "--mqtt", "mqtt://127.0.0.1:{port}", "--lines", "1", "--vehicles", "3"],
        "[[gateway]]\nname = \"plant\"\nkind = \"sparkplug\"\nurl = \"mqtt://127.0.0.1:{port}\"\n\
         group = \"PlantA\"\nhost_id = \"site-host\"",
        port,
    );
}

fn wait_console(
    console: &watchfloor::store::site::SiteConsole,
    what: &str,
    done: impl Fn(&watchfloor::store::site::ConsoleStatus) -> bool,
) -> watchfloor::store::site::ConsoleStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = console.status();
        if done(&status) {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {status:?}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn machine_down(status: &watchfloor::store::site::ConsoleStatus) -> Option<watchfloor::model::alarm::AlarmView> {
    status.alarms.iter().find(|a| a.rule == "Machine down" && a.source.contains("Capper")).cloned()
}

#[test]
fn consoles_share_one_alarm_state_acks_are_compare_and_set_and_queued_while_offline() {
    if !postgres_installed() {
        return;
    }
    use watchfloor::model::alarm::AlarmState;
    use watchfloor::store::site::SiteConsole;
    use watchfloor::store::site::alarms::{ActionKind, Outcome};
    let db = "site_consoles";
    let url = server().create_database(db).expect("database");
    let sim = SimConfig { lines: 1, vehicles: 1, ..SimConfig::demo(4, START_MS) };
    // The capper stops from minute 2 to minute 22: "Machine down" (10 min) is raised at 12:00 (the leader has the
    // data up to 12:30 first), then clears.
    let events =
        sim_events(sim, 26, &[(2, Fault::StopMachine { machine: "Capper".into(), secs: 1200, reason: "JAM".into() })]);
    let split =
        events.iter().position(|e| e.received_ms >= START_MS + 12 * 60_000 + 30_000).expect("events past 12:30");
    // The leader's clock follows the data sent to it, so delays complete as they would live.
    let clock = Arc::new(watchfloor::clock::ManualClock::new(START_MS));
    let mut options = site_options(&url);
    options.clock = Arc::clone(&clock) as Arc<dyn watchfloor::clock::Clock>;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let leader = SiteWriter::start(options, rx).expect("leader");
    wait_role(&leader, SiteRole::Leader);
    for e in &events[..split] {
        tx.blocking_send(Arc::clone(e)).expect("send");
    }
    clock.set(events[split - 1].received_ms);
    leader.flush_blocking().expect("flush");

    let a = SiteConsole::start(SiteTarget::plain(&url), "console-a").expect("console a");
    let b = SiteConsole::start(SiteTarget::plain(&url), "console-b").expect("console b");
    let seen_a = wait_console(&a, "A shows the alarm", |s| machine_down(s).is_some());
    let seen_b = wait_console(&b, "B shows the alarm", |s| machine_down(s).is_some());
    let view = machine_down(&seen_a).expect("alarm");
    assert_eq!(view.state, AlarmState::Unacknowledged);

    // Acknowledged on A: B sees it.
    assert!(a.send(a.action(ActionKind::Acknowledge, &view, "anna", "checking the capper", START_MS + 16 * 60_000)));
    wait_console(&b, "B sees the ack", |s| machine_down(s).is_some_and(|v| v.state == AlarmState::Acknowledged));
    let done = wait_console(&a, "A's outcome", |s| s.last_outcome.is_some());
    assert!(matches!(done.last_outcome.as_ref().map(|o| &o.1), Some(Outcome::Done { .. })), "{done:?}");

    // B acknowledges what it saw before: refused (already acknowledged by anna on A), and journaled as refused.
    let stale = machine_down(&seen_b).expect("alarm");
    let late = b.action(ActionKind::Acknowledge, &stale, "ben", "", START_MS + 16 * 60_000 + 500);
    assert!(b.send(late.clone()));
    let refused = wait_console(&b, "B's outcome", |s| s.last_outcome.is_some());
    let why = match refused.last_outcome.as_ref().map(|o| &o.1) {
        Some(Outcome::Refused(why)) => why.clone(),
        other => panic!("not refused: {other:?}"),
    };
    assert!(why.contains("anna@console-a"), "{why}");
    assert_eq!(
        count(db, "SELECT count(*) FROM alarm_journal WHERE console = 'console-b' AND comment LIKE '%refused%'"),
        1
    );
    // An ack naming another occurrence is refused too; the same action sent again changes nothing.
    let mut other = stale.clone();
    other.active_since_ms = Some(START_MS);
    assert!(b.send(b.action(ActionKind::Acknowledge, &other, "ben", "", START_MS + 16 * 60_000 + 600)));
    wait_console(
        &b,
        "refused as another occurrence",
        |s| matches!(s.last_outcome.as_ref().map(|o| &o.1), Some(Outcome::Refused(w)) if w.contains("newer occurrence")),
    );
    assert!(b.send(late));
    wait_console(&b, "a replay", |s| matches!(s.last_outcome.as_ref().map(|o| &o.1), Some(Outcome::Replayed)));
    assert_eq!(count(db, "SELECT count(*) FROM alarm_journal WHERE console = 'console-b'"), 2);

    // The database unreachable for A: it says so, keeps what it showed, queues an action and applies it once
    // on reconnect.
    let acked = machine_down(&a.status()).expect("alarm");
    let journal_before = count(db, "SELECT count(*) FROM alarm_journal");
    server().psql("postgres", &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false")).expect("psql");
    server()
        .psql(
            "postgres",
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' \
                 AND application_name = 'watchfloor-console'"
            ),
        )
        .expect("psql");
    let offline = wait_console(&a, "A offline", |s| !s.connected);
    assert!(offline.message.is_some() && machine_down(&offline).is_some(), "{offline:?}");
    let shelve = ActionKind::Shelve { until_ms: START_MS + 60 * 60_000, reason: "sensor swap".into() };
    assert!(a.send(a.action(shelve, &acked, "anna", "", START_MS + 12 * 60_000 + 40_000)));
    wait_console(&a, "the action pending", |s| s.pending.len() == 1 && !s.connected);
    server().psql("postgres", &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")).expect("psql");
    let back = wait_console(&a, "A back with nothing pending", |s| s.connected && s.pending.is_empty());
    assert!(matches!(back.last_outcome.as_ref().map(|o| &o.1), Some(Outcome::Done { .. })), "{back:?}");
    wait_console(&b, "B sees the shelf", |s| machine_down(s).is_some_and(|v| v.state == AlarmState::Shelved));
    assert_eq!(count(db, "SELECT count(*) FROM alarm_journal"), journal_before + 1);

    // The leader took the consoles' changes over: when the capper runs again the alarm clears behind its shelf,
    // still acknowledged (the leader's own state would have said "Returned, unacknowledged").
    for e in &events[split..] {
        tx.blocking_send(Arc::clone(e)).expect("send");
    }
    clock.set(events.last().map_or(START_MS, |e| e.received_ms));
    leader.flush_blocking().expect("flush");
    let row = "SELECT state || ' ' || active || ' ' || acked FROM alarm_state \
               WHERE rule = 'Machine down' AND source LIKE '%Capper%'";
    assert_eq!(server().psql(db, row).expect("psql").trim(), "Shelved false true");
    // The consoles know who judges the alarms, and that nobody does once the leader stops.
    assert!(a.status().leader.is_some_and(|(host, _)| host.contains("pid")), "{:?}", a.status().leader);
    drop(tx);
    leader.finish();
    wait_console(&b, "no leader", |s| s.leader.is_none());
}

/// A site database made by a recorder, holding one unacknowledged alarm as a leader would write it.
fn site_with_one_alarm(url: &str, db: &str) {
    write_site(url, &sim_events(SimConfig { lines: 1, vehicles: 1, ..SimConfig::demo(2, START_MS) }, 1, &[]));
    server()
        .psql(
            db,
            &format!(
                "INSERT INTO alarm_state (rule, source, asset, priority, state, active, acked, suppressed,
                     out_of_service, occurrence_ms, value, lim, message, seq, changed_ms, changed_by)
                 VALUES ('Filler overtemp', 'PlantA/Line1/Filler/Temperature', 'PlantA/Line1/Filler', 'High',
                     'Unacknowledged', true, false, false, false, {START_MS}, 91.5, 'HI', '91.5 above HI 85',
                     nextval('alarm_seq'), {START_MS}, '')"
            ),
        )
        .expect("psql");
}

type Window = egui_kittest::Harness<'static, watchfloor::app::WatchfloorApp>;

/// A window that is a console of the site database at `url`, acting as `operator` on `console`.
fn console_window(
    url: &str,
    console: &str,
    operator: &str,
    cache: &std::path::Path,
    clock: &Arc<watchfloor::clock::ManualClock>,
) -> Window {
    let mut builder = watchfloor::feeds::EventBus::builder();
    let inbox = builder.live(256);
    let bus = builder.build();
    let history =
        watchfloor::store::History::start_with_site(cache.to_owned(), Some(SiteTarget::plain(url))).expect("reader");
    let parts = watchfloor::app::AppParts {
        operator: Some(operator.to_owned()),
        history: Some(history),
        ..crate::app_parts(inbox, bus, Arc::clone(clock) as Arc<dyn watchfloor::clock::Clock>)
    };
    let site = watchfloor::store::site::SiteConsole::start(SiteTarget::plain(url), console).expect("console");
    egui_kittest::Harness::builder()
        .with_size([1400.0, 900.0])
        .build_eframe(move |cc| watchfloor::app::WatchfloorApp::new(cc, parts).with_site(site, &cc.egui_ctx))
}

fn wait_label(window: &mut Window, label: &str) {
    use egui_kittest::kittest::Queryable as _;
    for _ in 0..1_000 {
        window.run_steps(1);
        if window.query_all_by_label_contains(label).next().is_some() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{label:?} never shown");
}

#[test]
fn an_acknowledgement_in_one_window_shows_in_the_other() {
    if !postgres_installed() {
        return;
    }
    use egui_kittest::kittest::Queryable as _;
    let db = "site_windows";
    let url = server().create_database(db).expect("database");
    // A recorder made the schema; its alarm is put in as a leader would write it.
    site_with_one_alarm(&url, db);
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(watchfloor::clock::ManualClock::new(START_MS + 60_000));
    let mut a = console_window(&url, "console-a", "anna", &dir.path().join("a.sqlite"), &clock);
    // No recorder leads: nothing judges the site's alarms, and the console says so (and shows its own: none).
    wait_label(&mut a, "No recorder leads the site");
    assert!(a.query_all_by_label_contains("to acknowledge").next().is_none());
    let (leader_tx, leader_rx) = tokio::sync::mpsc::channel(64);
    let leader = SiteWriter::start(site_options(&url), leader_rx).expect("leader");
    wait_role(&leader, SiteRole::Leader);
    let mut b = console_window(&url, "console-b", "ben", &dir.path().join("b.sqlite"), &clock);
    wait_label(&mut a, "Site: connected");
    wait_label(&mut a, "1 to acknowledge");
    wait_label(&mut b, "1 to acknowledge");
    a.get_by_label("Acknowledge").click();
    // A takes the click on its next frame; its console sends the ack.
    a.run_steps(2);
    // B's banner: the alarm acknowledged, nothing left to acknowledge.
    wait_label(&mut b, "Acknowledged");
    assert!(b.query_by_label_contains("to acknowledge").is_none());
    wait_label(&mut a, "Acknowledged");
    let journal = server()
        .psql(db, "SELECT \"user\" || ' ' || console || ' ' || state FROM alarm_journal WHERE rule = 'Filler overtemp'")
        .expect("psql");
    assert_eq!(journal.trim(), "anna console-a Acknowledged");
    // B's alarm history is the site's journal: A's acknowledgement is in it.
    clock.advance_ms(1_000);
    b.state_mut().set_view(watchfloor::app::View::Alarms);
    b.run_steps(2);
    b.get_by_label("History").click();
    wait_label(&mut b, "from the site database");
    wait_label(&mut b, "anna");

    // The database away: A says so, shows the alarm as last read, and its shelf waits as pending until it is back.
    server().psql("postgres", &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false")).expect("psql");
    server()
        .psql("postgres", &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"))
        .expect("psql");
    wait_label(&mut a, "Site database unreachable");
    wait_label(&mut a, "Site: unreachable");
    a.get_by_label("Shelve 1 h").click();
    a.run_steps(2);
    wait_label(&mut a, "Shelve pending");
    wait_label(&mut a, "1 action(s) pending");
    server().psql("postgres", &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")).expect("psql");
    wait_label(&mut a, "Site: connected");
    let pending = |w: &Window| w.query_all_by_label_contains("pending").next().is_some();
    for _ in 0..500 {
        a.run_steps(1);
        if !pending(&a) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!pending(&a), "the shelf still pending");
    let state = server()
        .psql(db, "SELECT state || ' ' || changed_by FROM alarm_state WHERE rule = 'Filler overtemp'")
        .expect("psql");
    assert_eq!(state.trim(), "Shelved anna@console-a");
    drop(leader_tx);
    leader.finish();
}

#[test]
fn a_range_exported_from_the_site_database_is_the_recording_a_cache_export_makes() {
    if !postgres_installed() {
        return;
    }
    use std::sync::atomic::AtomicBool;
    use watchfloor::store::export::{RecordingInfo, export, export_from};
    let url = server().create_database("site_export").expect("database");
    let sim = SimConfig { lines: 1, vehicles: 3, ..SimConfig::demo(6, START_MS) };
    let events =
        sim_events(sim, 20, &[(2, Fault::StopMachine { machine: "Capper".into(), secs: 900, reason: "JAM".into() })]);
    write_site(&url, &events);
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("h.sqlite");
    write_cache(&cache, &events);
    let range = (START_MS + 5 * 60_000, START_MS + 15 * 60_000 + 500);
    let (site_rec, cache_rec) = (dir.path().join("site.wfrec"), dir.path().join("cache.wfrec"));
    let cancel = AtomicBool::new(false);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let from_site = export_from(&mut client, &site_rec, range, &RecordingInfo::default(), &mut |_, _| {}, &cancel)
        .expect("export from the site database");
    let from_cache =
        export(&cache, &cache_rec, range, &RecordingInfo::default(), &mut |_, _| {}, &cancel).expect("export");
    assert!(from_site.samples > 1_000 && from_site.journal > 0, "{from_site:?}");
    assert_eq!(
        (from_site.signals, from_site.samples, from_site.fixes, from_site.journal),
        (from_cache.signals, from_cache.samples, from_cache.fixes, from_cache.journal)
    );
    for table in ["sample", "fix", "rollup_1m", "rollup_1h", "latest", "gap", "alarm_journal"] {
        let sql = format!("SELECT count(*) FROM {table}");
        assert_eq!(sqlite_count(&site_rec, &sql), sqlite_count(&cache_rec, &sql), "{table}");
    }
    // Both recordings open as caches and hold the same values.
    let sum = "SELECT round(sum(num), 3) FROM sample";
    let read = |p: &std::path::Path| -> f64 {
        rusqlite::Connection::open(p).expect("open").query_row(sum, [], |r| r.get(0)).expect(sum)
    };
    assert!((read(&site_rec) - read(&cache_rec)).abs() < 1e-6);
    assert!(watchfloor::store::open_reader(&site_rec).is_ok());
}

#[test]
fn a_recorder_away_from_the_database_leaves_what_it_cannot_hold_to_its_cache_and_writes_it_later() {
    if !postgres_installed() {
        return;
    }
    let db = "site_spill";
    let url = server().create_database(db).expect("database");
    server().psql("postgres", &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false")).expect("psql");
    let events = sim_events(SimConfig { lines: 1, vehicles: 2, ..SimConfig::demo(8, START_MS) }, 6, &[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("recorder.sqlite");
    write_cache(&cache, &events);
    // The first run never reaches the database: it holds 2,000 samples, leaves the rest to the cache, and
    // everything it still holds when it stops.
    let mut options = site_options(&url);
    options.buffer_max_samples = 2_000;
    options.cache = Some(cache.clone());
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let away = SiteWriter::start(options, rx).expect("writer");
    for e in &events {
        tx.blocking_send(Arc::clone(e)).expect("send");
    }
    let held = away.flush_blocking().expect("flush");
    assert!(held.spilled_samples > 0 && held.buffered_samples <= 2_000 + 500, "{held:?}");
    assert_eq!((held.stored_samples, held.dropped_samples), (0, 0), "{held:?}");
    drop(tx);
    away.finish();
    let pending = std::fs::read_to_string(dir.path().join("recorder.sqlite.site-pending")).expect("ranges kept");
    assert!(!pending.trim().is_empty());

    // The next run, with the database back, writes it all from the cache.
    server().psql("postgres", &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")).expect("psql");
    let mut options = site_options(&url);
    options.cache = Some(cache.clone());
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let back = SiteWriter::start(options, rx).expect("writer");
    wait_role(&back, SiteRole::Leader);
    let in_cache = sqlite_count(&cache, "SELECT count(*) FROM sample");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while count(db, "SELECT count(*) FROM sample") < in_cache {
        assert!(std::time::Instant::now() < deadline, "{:?}", back.status());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(tx);
    let done = back.finish();
    assert_eq!(i64::try_from(done.caught_up_samples).unwrap_or(0), in_cache, "{done:?}");
    assert!(!dir.path().join("recorder.sqlite.site-pending").exists(), "nothing left to write");
    for table in ["sample", "fix", "rollup_1m"] {
        let sql = format!("SELECT count(*) FROM {table}");
        assert_eq!(count(db, &sql), sqlite_count(&cache, &sql), "{table}");
    }
    let sums = "SELECT round(sum(sum_value)::numeric, 3) FROM rollup_1h";
    let raw = "SELECT round(sum(num)::numeric, 3) FROM sample WHERE num IS NOT NULL AND quality < 2";
    assert_eq!(server().psql(db, sums).expect("psql"), server().psql(db, raw).expect("psql"));
}

fn sqlite_names(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).expect("open");
    let mut stmt = conn.prepare("SELECT name FROM signal ORDER BY name").expect("sql");
    stmt.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows")
}

#[test]
fn a_console_trends_the_site_database_with_the_same_buckets_as_a_cache() {
    if !postgres_installed() {
        return;
    }
    use watchfloor::store::query::{Tier, series};
    let url = server().create_database("site_trends").expect("database");
    let events = sim_events(SimConfig { lines: 1, vehicles: 2, ..SimConfig::demo(11, START_MS) }, 90, &[]);
    write_site(&url, &events);
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("h.sqlite");
    write_cache(&cache, &events);
    let pg = PgHistory::open(&SiteTarget::plain(&url)).expect("open the site database");
    let conn = watchfloor::store::open_reader(&cache).expect("open the cache");
    let names = sqlite_names(&cache);
    let signal = names.iter().find(|n| n.ends_with("Battery/SoC")).expect("a battery signal").as_str();
    for (minutes, buckets, tier) in [(10, 600, Tier::Raw), (90, 60, Tier::Minute), (90, 7, Tier::Minute)] {
        let range = (START_MS + 60_000, START_MS + minutes * 60_000);
        let from_site = series(&pg, signal, range.0, range.1, buckets).expect("site series");
        let from_cache = series(&conn, signal, range.0, range.1, buckets).expect("cache series");
        assert_eq!(from_site.tier, tier);
        assert!(!from_site.buckets.is_empty());
        assert_eq!(
            (&from_site.buckets, from_site.before, from_site.bucket_ms),
            (&from_cache.buckets, from_cache.before, from_cache.bucket_ms)
        );
    }
    // A console with an empty cache of its own reads its trends from the site database.
    let history =
        watchfloor::store::History::start_with_site(dir.path().join("console.sqlite"), Some(SiteTarget::plain(&url)))
            .expect("reader");
    let trend = history.series(signal, START_MS, START_MS + 90 * 60_000, 100).expect("queued").wait().expect("series");
    assert!(trend.buckets.len() > 50, "{:?}", trend.buckets.len());
    let signals = history.signals().expect("queued").wait().expect("signals");
    assert!(signals.iter().any(|s| s.id.as_str() == signal));
}

#[test]
fn a_wrong_password_is_an_error_with_the_reason_and_the_right_one_leads() {
    if !postgres_installed() {
        return;
    }
    let db = "site_auth";
    let url = server().create_database(db).expect("database");
    // A role that must give its password over TCP (everyone else on this test server is trusted).
    server().psql("postgres", "CREATE ROLE wf_secure LOGIN SUPERUSER PASSWORD 'right horse'").expect("psql");
    let hba = server().data_dir().join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).expect("pg_hba.conf");
    std::fs::write(&hba, format!("host all wf_secure 127.0.0.1/32 scram-sha-256\n{rules}")).expect("pg_hba.conf");
    server().psql("postgres", "SELECT pg_reload_conf()").expect("psql");
    let secure_url = url.replace("postgres@", "wf_secure@");
    let target = |password: &str| SiteTarget { password: Some(password.to_owned()), ..SiteTarget::plain(&secure_url) };

    let mut options = site_options(&secure_url);
    options.target = target("wrong");
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let writer = SiteWriter::start(options, rx).expect("writer");
    wait_role(&writer, SiteRole::Error);
    let message = writer.status().message.unwrap_or_default();
    assert!(message.contains("wrong user name or password") && message.contains("wf_secure"), "{message}");
    assert!(!message.contains("horse") && !message.contains("wrong\""), "no password in the message: {message}");
    drop(tx);
    writer.finish();
    let console = watchfloor::store::site::SiteConsole::start(target("wrong"), "console-x").expect("console");
    let status = wait_console(&console, "the console's error", |s| s.error);
    assert!(!status.connected && status.message.as_deref().is_some_and(|m| m.contains("password")), "{status:?}");

    let mut options = site_options(&secure_url);
    options.target = target("right horse");
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let writer = SiteWriter::start(options, rx).expect("writer");
    wait_role(&writer, SiteRole::Leader);
    drop(tx);
    writer.finish();
}

#[test]
fn a_console_closed_while_the_database_is_away_applies_its_queued_actions_when_it_next_runs() {
    if !postgres_installed() {
        return;
    }
    use watchfloor::model::alarm::AlarmState;
    use watchfloor::store::site::SiteConsole;
    use watchfloor::store::site::alarms::{ActionKind, Outcome};
    let db = "site_queue";
    let url = server().create_database(db).expect("database");
    site_with_one_alarm(&url, db);
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = dir.path().join("site-actions.jsonl");
    let first =
        SiteConsole::start_with_queue(SiteTarget::plain(&url), "console-q", Some(queue.clone())).expect("console");
    let seen = wait_console(&first, "the alarm", |s| !s.alarms.is_empty());
    let view = seen.alarms[0].clone();
    server().psql("postgres", &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false")).expect("psql");
    server()
        .psql("postgres", &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"))
        .expect("psql");
    wait_console(&first, "offline", |s| !s.connected);
    assert!(first.send(first.action(ActionKind::Acknowledge, &view, "anna", "on my way", START_MS + 1_000)));
    wait_console(&first, "queued", |s| s.pending.len() == 1);
    drop(first);
    assert!(std::fs::read_to_string(&queue).expect("the queue is kept").contains("on my way"));

    server().psql("postgres", &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")).expect("psql");
    let next =
        SiteConsole::start_with_queue(SiteTarget::plain(&url), "console-q", Some(queue.clone())).expect("console");
    let done = wait_console(&next, "applied", |s| s.connected && s.pending.is_empty() && s.last_outcome.is_some());
    assert!(matches!(done.last_outcome.as_ref().map(|o| &o.1), Some(Outcome::Done { .. })), "{done:?}");
    wait_console(&next, "acknowledged", |s| s.alarms.iter().any(|a| a.state == AlarmState::Acknowledged));
    assert!(!queue.exists(), "nothing left queued");
    assert_eq!(count(db, "SELECT count(*) FROM alarm_journal WHERE comment = 'on my way'"), 1);
}

#[test]
fn a_console_reviews_the_site_database_as_it_would_a_cache_of_the_same_data() {
    if !postgres_installed() {
        return;
    }
    use watchfloor::ui::panels::review::{Replays, frame_from, load_frame};
    let url = server().create_database("site_review").expect("database");
    let sim = SimConfig { lines: 1, vehicles: 3, ..SimConfig::demo(12, START_MS) };
    let events =
        sim_events(sim, 20, &[(4, Fault::StopMachine { machine: "Filler".into(), secs: 900, reason: "JAM".into() })]);
    write_site(&url, &events);
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("h.sqlite");
    write_cache(&cache, &events);
    let pg = PgHistory::open(&SiteTarget::plain(&url)).expect("open the site database");
    let conn = watchfloor::store::open_reader(&cache).expect("open the cache");
    let config = watchfloor::config::Config::demo(watchfloor::config::SimGateway::default());
    let settings = watchfloor::live::LiveSettings {
        calendar: config.calendar.clone(),
        assets: Arc::new(config.assets.clone()),
        ..watchfloor::live::LiveSettings::default()
    };
    for at in [START_MS + 3 * 60_000 + 500, START_MS + 17 * 60_000] {
        let from_site = frame_from(&pg, &settings, &Replays::new(START_MS + 20 * 60_000), at).expect("site frame");
        let from_cache = load_frame(&conn, &settings, &Replays::new(START_MS + 20 * 60_000), at).expect("frame");
        assert!(from_site.values.len() > 20, "{}", from_site.values.len());
        assert_eq!(from_site.values, from_cache.values);
        assert_eq!(from_site.alarms, from_cache.alarms);
        let oee = |f: &watchfloor::ui::panels::review::Frame| format!("{:?}", f.oee);
        assert_eq!(oee(&from_site), oee(&from_cache));
    }
    let down_site =
        watchfloor::store::HistoryBackend::down_spans(&pg, START_MS, START_MS + 20 * 60_000).expect("spans");
    let down_cache =
        watchfloor::store::HistoryBackend::down_spans(&conn, START_MS, START_MS + 20 * 60_000).expect("spans");
    assert!(down_site.iter().any(|(m, ..)| m.contains("Filler")), "{down_site:?}");
    assert_eq!(down_site, down_cache);
}

#[test]
fn a_consoles_notes_go_to_the_site_logbook_once_and_are_never_changed() {
    if !postgres_installed() {
        return;
    }
    use watchfloor::model::logbook::{Note, Subject};
    use watchfloor::store::site::SiteConsole;
    use watchfloor::store::site::alarms::Outcome;
    let db = "site_logbook";
    let url = server().create_database(db).expect("database");
    // The recorder makes the schema; consoles only use it.
    write_site(&url, &sim_events(SimConfig { lines: 1, vehicles: 1, ..SimConfig::demo(5, START_MS) }, 1, &[]));
    let console = SiteConsole::start(SiteTarget::plain(&url), "console-a").expect("console");
    let mut note = Note::new("console-a-1-x".into(), START_MS + 60_000, "ana", START_MS + 30_000, "Capper jammed");
    note.subject = Subject::Asset { asset: "PlantA/Line1/Capper".into() };
    note.to_ms = Some(START_MS + 45_000);
    assert!(console.send_note(note.clone()));
    let written = |s: &watchfloor::store::site::ConsoleStatus, outcome: &Outcome| {
        s.last_outcome.as_ref().is_some_and(|(a, o, _)| a.id == "note:console-a-1-x" && o == outcome)
    };
    wait_console(&console, "the note is written", |s| written(s, &Outcome::Written));
    // Sent again (a queue replayed after a reconnect): the same uid goes in once.
    let again = Note { written_ms: START_MS + 61_000, ..note.clone() };
    assert!(console.send_note(again));
    wait_console(&console, "the copy is recognised", |s| written(s, &Outcome::Replayed));
    let site = PgHistory::open(&SiteTarget::plain(&url)).expect("site");
    assert_eq!(site.notes(START_MS, START_MS + 3_600_000).expect("notes"), vec![note]);
    assert_eq!(count(db, "SELECT count(*) FROM logbook WHERE console = 'console-a'"), 1);
    let refused = server().psql(db, "UPDATE logbook SET text = 'nothing happened'").expect_err("no changes");
    assert!(format!("{refused:#}").contains("never changed"), "{refused:#}");
    let refused = server().psql(db, "DELETE FROM logbook").expect_err("no deletions");
    assert!(format!("{refused:#}").contains("never changed or removed"), "{refused:#}");
    assert_eq!(count(db, "SELECT count(*) FROM logbook WHERE text = 'Capper jammed'"), 1);
}
