//! Fleet end to end: a simulated hour of vehicles recorded into a real cache with the demo site's geofences; the
//! writer's stored crossings, the report's vehicles section and what was sent agree.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use watchfloor::analytics::fleet::{self, FleetParams};
use watchfloor::analytics::geofence::{DEFAULT_DEBOUNCE_MS, Geofences};
use watchfloor::model::Value;
use watchfloor::model::siteplan::SitePlan;
use watchfloor::model::{FeedEvent, FeedEventBody};
use watchfloor::sim::{Fault, SimConfig, Simulator};
use watchfloor::store::{Store, StoreOptions, open_reader};

use crate::START_MS;

const HOUR_MS: i64 = 3_600_000;

fn demo_fences() -> Geofences {
    let plan = SitePlan::parse(watchfloor::config::DEMO_SITE_PLAN).expect("demo plan");
    Geofences::from_plans(Some(&plan), None, DEFAULT_DEBOUNCE_MS)
}

/// What the test saw go into the cache, per vehicle prefix.
#[derive(Default)]
struct Sent {
    /// Times of the positions sent.
    fixes: Vec<i64>,
    soc: Vec<(i64, f64)>,
    charging: Vec<(i64, bool)>,
}

/// Records `vehicles` simulated vehicles (no machines) for `hours` from `START_MS`, a batch a second, with faults.
fn record_fleet(path: &std::path::Path, hours: i64, faults: &[(i64, Fault)]) -> (Vec<String>, HashMap<String, Sent>) {
    let (tx, rx) = mpsc::channel(64);
    let mut options = StoreOptions::new(path);
    options.evaluator = watchfloor::analytics::recording::SiteEvaluator::boxed(Vec::new(), demo_fences(), None);
    let store = Store::start(options, rx).expect("writer");
    let mut sim = Simulator::new(SimConfig { lines: 0, vehicles: 12, ..SimConfig::demo(11, START_MS) });
    let prefixes = sim.vehicle_prefixes();
    let gw: Arc<str> = Arc::from("demo");
    let (meta, values) = sim.birth();
    let mut sent: HashMap<String, Sent> = HashMap::new();
    let mut note = |samples: &[watchfloor::model::Sample]| {
        for s in samples {
            if let Some(prefix) = s.signal.as_str().strip_suffix("/Position/Latitude") {
                sent.entry(prefix.to_owned()).or_default().fixes.push(s.ts_ms);
            }
            let (prefix, metric) = s.signal.as_str().split_once("/Battery/").unwrap_or(("", ""));
            let entry = sent.entry(prefix.to_owned()).or_default();
            match (metric, &s.value) {
                ("SoC", v) => entry.soc.extend(v.as_f64().map(|soc| (s.ts_ms, soc))),
                ("Charging", Value::Bool(b)) => entry.charging.push((s.ts_ms, *b)),
                _ => {}
            }
        }
    };
    note(&values);
    tx.blocking_send(Arc::new(FeedEvent::new(gw.clone(), START_MS, FeedEventBody::Birth(meta)))).expect("send");
    tx.blocking_send(Arc::new(FeedEvent::new(gw.clone(), START_MS, FeedEventBody::Samples(values)))).expect("send");
    let mut t = START_MS;
    while t < START_MS + hours * HOUR_MS {
        for (_, fault) in faults.iter().filter(|(at, _)| (t..t + 1_000).contains(at)) {
            sim.inject(fault).expect("a known vehicle");
        }
        t += 1_000;
        let mut batch = Vec::new();
        sim.step_to(t, &mut batch);
        note(&batch);
        tx.blocking_send(Arc::new(FeedEvent::new(gw.clone(), t, FeedEventBody::Samples(batch)))).expect("send");
    }
    drop(tx);
    store.finish();
    (prefixes, sent)
}

#[test]
fn the_vehicles_report_and_the_stored_geofence_events_agree_with_what_was_recorded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fleet.sqlite");
    let (cut_at, drain_at) = (START_MS + 10 * 60_000, START_MS + 20 * 60_000);
    let probe = SimConfig { lines: 0, vehicles: 12, ..SimConfig::demo(11, START_MS) };
    let prefixes = Simulator::new(probe).vehicle_prefixes();
    let (cut, drained) = (prefixes[0].clone(), prefixes[1].clone());
    let faults = [
        (cut_at, Fault::CutComms { vehicle: cut.clone(), secs: 300 }),
        (drain_at, Fault::DrainBattery { vehicle: drained.clone(), soc_percent: 8.0 }),
    ];
    let (recorded, sent) = record_fleet(&path, 1, &faults);
    assert_eq!(recorded, prefixes);

    let conn = open_reader(&path).expect("reader");
    let params = FleetParams { geofences: demo_fences(), stale_after_ms: 30_000 };
    let (from, to) = (START_MS, START_MS + HOUR_MS);
    let rows = fleet::vehicles(&conn, &params, from, to).expect("vehicles");
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, prefixes.iter().map(String::as_str).collect::<Vec<_>>(), "every vehicle, by its prefix");

    for row in &rows {
        let s = &sent[&row.id];
        // Battery: the lowest level and the sum of every drop, from what was sent.
        let min = s.soc.iter().filter(|(t, _)| *t < to).map(|x| x.1).fold(f64::INFINITY, f64::min);
        assert!((row.min_soc_percent.expect("SoC") - min).abs() < 1e-9, "{}: min SoC", row.id);
        let used: f64 = s.soc.windows(2).filter(|w| w[1].0 < to).map(|w| (w[0].1 - w[1].1).max(0.0)).sum();
        assert!((row.soc_used_percent.expect("SoC") - used).abs() < 1e-6, "{}: SoC used {used}", row.id);
        // Charging: the time the last charging value sent was true.
        let mut charging_ms = 0;
        let charging: Vec<&(i64, bool)> = s.charging.iter().filter(|(t, _)| *t < to).collect();
        for (i, (t, on)) in charging.iter().enumerate() {
            let next = charging.get(i + 1).map_or(to, |n| n.0);
            if *on {
                charging_ms += next - t;
            }
        }
        #[expect(clippy::cast_precision_loss)]
        let charging_secs = charging_ms as f64 / 1000.0;
        // Allowed: up to the stale time (charging during a silence is not counted).
        assert!(
            row.charging_secs <= charging_secs + 1e-6 && row.charging_secs >= charging_secs - row.stale_secs - 1.0,
            "{}: charging {} s, sent {charging_secs} s",
            row.id,
            row.charging_secs
        );
        assert!(row.distance_km >= 0.0 && row.distance_km < 60.0, "{}: {} km in an hour", row.id, row.distance_km);
        for secs in row.zone_secs.values() {
            assert!(*secs > 0.0 && *secs <= 3_600.0, "{}: {secs} s in a zone", row.id);
        }
    }
    assert!(rows.iter().filter(|r| r.distance_km > 0.1).count() >= 6, "most vehicles moved");

    // Stale: from 30 s after a position until the next one, for every silence longer than that.
    for row in &rows {
        let fixes: Vec<i64> = sent[&row.id].fixes.iter().copied().filter(|t| *t < to).collect();
        let stale_ms: i64 = fixes.windows(2).map(|w| (w[1] - w[0] - 30_000).max(0)).sum::<i64>()
            + (to - fixes.last().copied().unwrap_or(to) - 30_000).max(0);
        #[expect(clippy::cast_precision_loss)]
        let expected = stale_ms as f64 / 1000.0;
        assert!(
            (row.stale_secs - expected).abs() < 1e-6,
            "{}: stale {} s, expected {expected}",
            row.id,
            row.stale_secs
        );
    }
    // The cut vehicle was silent 300 s at least: stale for 270 s of them.
    let cut_row = rows.iter().find(|r| r.id == cut).expect("cut vehicle");
    assert!(cut_row.stale_secs >= 270.0, "stale {} s", cut_row.stale_secs);
    let quiet: Vec<&str> = rows.iter().filter(|r| r.stale_secs == 0.0).map(|r| r.id.as_str()).collect();
    assert!(!quiet.is_empty(), "vehicles never silent are never stale");
    let drained_row = rows.iter().find(|r| r.id == drained).expect("drained vehicle");
    assert!(drained_row.min_soc_percent.expect("SoC") <= 8.0 + 1e-9);

    // Crossings: the writer stored them as events as positions arrived; the report recomputes the same ones.
    let mut stored: Vec<(String, i64, String, String)> = conn
        .prepare("SELECT source, ts_ms, kind, message FROM event WHERE kind LIKE 'geofence.%' ORDER BY source, ts_ms")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("events");
    stored.sort();
    let mut reported: Vec<(String, i64, String, String)> = rows
        .iter()
        .flat_map(|r| {
            r.geofence_events.iter().map(|e| (r.id.clone(), e.ts_ms, format!("geofence.{}", e.event), e.zone.clone()))
        })
        .collect();
    reported.sort();
    assert!(!stored.is_empty(), "an hour of AGVs and vans crosses some zone");
    assert_eq!(stored, reported);
    // Enter and exit alternate per vehicle and zone.
    let mut last: HashMap<(&str, &str), &str> = HashMap::new();
    for (vehicle, _, kind, zone) in &stored {
        if let Some(prev) = last.insert((vehicle, zone), kind) {
            assert_ne!(prev, kind, "{vehicle} {zone}: {kind} twice in a row");
        }
    }
}

/// On a recorded cache, the selected vehicle shows its battery over the shift so far, read from the cache.
#[test]
fn the_selected_vehicle_shows_its_battery_over_the_shift_from_the_cache() {
    use egui_kittest::kittest::Queryable as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fleet.sqlite");
    record_fleet(&path, 1, &[]);
    let mut builder = watchfloor::feeds::EventBus::builder();
    let inbox = builder.live(8);
    let bus = builder.build();
    let plan = watchfloor::config::SitePlanSource::Demo.load().0;
    let parts = watchfloor::app::AppParts {
        history: Some(watchfloor::store::History::start(path).expect("reader")),
        site_plan: Arc::new(plan),
        ..crate::app_parts(inbox, bus, Arc::new(watchfloor::clock::ManualClock::new(START_MS + HOUR_MS)))
    };
    let mut harness = egui_kittest::Harness::builder()
        .with_size([1600.0, 1000.0])
        .build_eframe(move |cc| watchfloor::app::WatchfloorApp::new(cc, parts));
    let wait = |harness: &mut egui_kittest::Harness<'_, watchfloor::app::WatchfloorApp>, label: &str| {
        for _ in 0..400 {
            harness.run_steps(1);
            if harness.query_by_label_contains(label).is_some() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{label:?} never shown");
    };
    harness.get_by_label("Fleet").click();
    wait(&mut harness, "12 of 12 vehicles");
    harness.get_by_label("Vehicle").click();
    harness.run_steps(2);
    harness.get_by_label("AGV-01").click();
    wait(&mut harness, "Battery this shift: ");
    let label = harness.get_by_label_contains("Battery this shift: ");
    let text = format!("{label:?}");
    assert!(text.contains('%'), "{text}");
}

/// With a tile server in the config, the map fetches its tiles (here from a local server: tests use no internet)
/// and keeps them in the disk cache; the toolbar shows the cache and clears it.
#[test]
fn the_map_draws_tiles_from_the_configured_server_and_caches_them_on_disk() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use egui_kittest::kittest::Queryable as _;
    let served = Arc::new(AtomicUsize::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let counter = Arc::clone(&served);
    let app = axum::Router::new().route(
        "/{z}/{x}/{y}",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                (
                    [("content-type", "image/png"), ("cache-control", "max-age=86400")],
                    include_bytes!("../../icons/watchfloor.png").as_slice(),
                )
            }
        }),
    );
    runtime.spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("tiles");
    let server = watchfloor::ui::tiles::TileServer {
        url: format!("http://{addr}/{{z}}/{{x}}/{{y}}"),
        attribution: "© test tiles".to_owned(),
        cache_mb: 64,
        cache_dir: Some(cache.clone()),
    };
    let mut harness = map_app(Some(server), None);
    harness.get_by_label("Fleet").click();
    for _ in 0..500 {
        harness.run_steps(1);
        if served.load(Ordering::SeqCst) >= 4 && watchfloor::ui::tiles::cache_size(&cache) > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(served.load(Ordering::SeqCst) >= 4, "tiles requested: {}", served.load(Ordering::SeqCst));
    assert!(watchfloor::ui::tiles::cache_size(&cache) > 0, "tiles kept on disk");
    harness.get_by_label_contains("Fleet map: 12 vehicles in view");
    harness.get_by_label_contains("Tile cache ");
    // Let every tile of the view arrive before clearing (a tile still on its way is cached when it lands).
    let mut last = (served.load(Ordering::SeqCst), 0);
    while last.1 < 50 {
        harness.run_steps(1);
        std::thread::sleep(std::time::Duration::from_millis(10));
        let now = served.load(Ordering::SeqCst);
        last = if now == last.0 { (now, last.1 + 1) } else { (now, 0) };
    }
    harness.get_by_label("Clear tile cache").click();
    harness.run_steps(1);
    for _ in 0..200 {
        if watchfloor::ui::tiles::cache_size(&cache) == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(watchfloor::ui::tiles::cache_size(&cache), 0, "cleared");
}

/// The app with the demo site plan and 12 simulated vehicles, on the given basemap, not yet on the Fleet view.
fn map_app(
    tiles: Option<watchfloor::ui::tiles::TileServer>,
    pmtiles: Option<std::path::PathBuf>,
) -> egui_kittest::Harness<'static, watchfloor::app::WatchfloorApp> {
    let mut builder = watchfloor::feeds::EventBus::builder();
    let inbox = builder.live(64);
    let bus = builder.build();
    let plan = watchfloor::config::SitePlanSource::Demo.load().0;
    let parts = watchfloor::app::AppParts {
        site_plan: Arc::new(plan),
        tiles,
        pmtiles,
        ..crate::app_parts(inbox, bus.clone(), Arc::new(watchfloor::clock::ManualClock::new(START_MS)))
    };
    let mut harness = egui_kittest::Harness::builder()
        .with_size([1600.0, 1000.0])
        .build_eframe(move |cc| watchfloor::app::WatchfloorApp::new(cc, parts));
    let mut sim = Simulator::new(SimConfig { lines: 0, vehicles: 12, ..SimConfig::demo(3, START_MS) });
    let (meta, values) = sim.birth();
    assert!(bus.publish_now(FeedEvent::new(Arc::from("demo"), START_MS, FeedEventBody::Birth(meta))));
    assert!(bus.publish_now(FeedEvent::new(Arc::from("demo"), START_MS, FeedEventBody::Samples(values))));
    harness.run_steps(2);
    harness
}

/// Textures the app's egui context holds (fonts, and every map tile decoded).
fn textures(harness: &egui_kittest::Harness<'_, watchfloor::app::WatchfloorApp>) -> usize {
    harness.ctx.tex_manager().read().num_allocated()
}

/// Writes a raster `PMTiles` file covering the demo site at every zoom up to 15, each tile the app icon.
fn write_site_pmtiles(path: &std::path::Path) {
    let plan = watchfloor::config::SitePlanSource::Demo.load().0;
    let (lo, hi) = plan.bounds().expect("the plan has bounds");
    let tile = include_bytes!("../../icons/watchfloor.png");
    let file = std::fs::File::create(path).expect("create");
    let mut writer = pmtiles::PmTilesWriter::new(pmtiles::TileType::Png)
        .tile_compression(pmtiles::Compression::None)
        .max_zoom(15)
        .bounds(lo[1], lo[0], hi[1], hi[0])
        .create(file)
        .expect("writer");
    let xy = |lat: f64, lon: f64, z: u8| {
        let n = f64::from(1u32 << z);
        let x = (lon + 180.0) / 360.0 * n;
        let y = (1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n;
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (x.floor() as u32, y.floor() as u32)
    };
    for z in 0..=15u8 {
        let (x0, y0) = xy(hi[0] + 0.05, lo[1] - 0.1, z);
        let (x1, y1) = xy(lo[0] - 0.05, hi[1] + 0.1, z);
        for x in x0..=x1 {
            for y in y0..=y1 {
                writer.add_tile(pmtiles::TileCoord::new(z, x, y).expect("coord"), tile).expect("tile");
            }
        }
    }
    writer.finalize().expect("finalize");
}

/// With a `PMTiles` file and no network, the map draws its tiles: the basemap works offline.
#[test]
fn the_map_draws_an_offline_pmtiles_basemap() {
    use egui_kittest::kittest::Queryable as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("site.pmtiles");
    write_site_pmtiles(&file);
    let mut harness = map_app(None, Some(file));
    let before = textures(&harness);
    harness.get_by_label("Fleet").click();
    for _ in 0..500 {
        harness.run_steps(1);
        if textures(&harness) > before + 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(textures(&harness) > before + 2, "tiles decoded into textures: {} → {}", before, textures(&harness));
    harness.get_by_label("Basemap: offline tiles site.pmtiles");
    harness.get_by_label_contains("Fleet map: 12 vehicles in view");
}
