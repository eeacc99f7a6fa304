//! `watchfloor bench ui`: the whole app, headless (egui pass and tessellation, no GPU), on a simulated site with
//! every vehicle moving and reporting at 1 Hz. The app repaints at most every [`DATA_REPAINT_AFTER`] when data
//! arrives, so a frame here is 100 ms: it takes in a tenth of a second's values (vehicles report spread over the
//! second) and draws. Measured on the Fleet view (map and table) and the Plant view, against the same app with
//! no data as the baseline.
//!
//! [`DATA_REPAINT_AFTER`]: crate::app::DATA_REPAINT_AFTER

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::app::{AppParts, View, WatchfloorApp};
use crate::cli::Format;
use crate::clock::{Clock as _, ManualClock};
use crate::feeds::EventBus;
use crate::live::LiveSettings;
use crate::model::{FeedEvent, FeedEventBody, FeedState, FeedStatus};
use crate::sim::{SimConfig, Simulator};

/// 2026-11-20T06:05:00Z: inside the morning shift.
const START_MS: i64 = 1_795_154_700_000;
const FRAME_MS: i64 = 100;
const SCREEN: [f32; 2] = [1920.0, 1080.0];

/// What `bench ui` is asked to do.
#[derive(Clone, Copy, Debug)]
pub struct UiBenchOptions {
    pub format: Format,
    pub vehicles: usize,
    pub machines: usize,
    /// Measured frames per view (after a warm-up of 20).
    pub frames: usize,
}

/// The results, with the JSON keys docs/benchmarks.md refers to.
#[derive(Debug, Serialize)]
pub struct UiBenchResult {
    pub vehicles: usize,
    pub machines: usize,
    pub frames_per_view: usize,
    /// The Fleet view (map with every vehicle, the table) and the Plant view, together.
    pub frame_ms_median: f64,
    pub frame_ms_p95: f64,
    pub map_frame_ms_median: f64,
    pub map_frame_ms_p95: f64,
    pub plant_frame_ms_median: f64,
    pub plant_frame_ms_p95: f64,
    /// The same app and views with no gateway data.
    pub baseline_frame_ms_median: f64,
    pub ratio_vs_baseline: f64,
    /// Feed samples taken in per frame (a tenth of a second's).
    pub samples_per_frame: f64,
    /// Peak resident memory of the process (`VmHWM`).
    pub rss_mb: f64,
}

fn percentile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = ((v.len().saturating_sub(1)) as f64 * q).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

/// Peak resident set size in MB, from `/proc/self/status` (Linux).
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The app, driven frame by frame without a window.
struct Headless {
    ctx: egui::Context,
    app: WatchfloorApp,
    frame: eframe::Frame,
    bus: EventBus,
    clock: Arc<ManualClock>,
    sim: Option<Simulator>,
    /// This second's values, handed out a tenth per frame.
    second: Vec<crate::model::Sample>,
    samples: usize,
}

impl Headless {
    fn new(vehicles: usize, machines: usize, with_data: bool) -> Self {
        let ctx = egui::Context::default();
        let clock = Arc::new(ManualClock::new(START_MS));
        let mut builder = EventBus::builder();
        let inbox = builder.live(1 << 16);
        let bus = builder.build();
        let config = SimConfig { lines: machines.div_ceil(4), vehicles, ..SimConfig::demo(5, START_MS) };
        let plan = crate::config::SitePlanSource::Demo.load().0;
        let (geofences, _) = crate::config::Config::demo(crate::config::SimGateway::default()).geofences_on(&plan);
        let parts = AppParts {
            inbox,
            bus: bus.clone(),
            clock: clock.clone(),
            backend: None,
            site_name: "Plant A".to_owned(),
            timezone: jiff::tz::TimeZone::UTC,
            live_settings: LiveSettings {
                calendar: config.calendar.clone(),
                geofences: Arc::new(geofences),
                ..LiveSettings::default()
            },
            problems: Vec::new(),
            history: None,
            store: None,
            diagnostics: Vec::new(),
            site_plan: Arc::new(plan),
            tiles: None,
            pmtiles: None,
            operator: None,
            review: None,
            reports_dir: None,
            recordings: None,
            workstation: None,
            kiosk: None,
            annunciator: None,
            browsing: None,
        };
        let cc = eframe::CreationContext::_new_kittest(ctx.clone());
        let app = WatchfloorApp::new(&cc, parts);
        let mut me = Self {
            ctx,
            app,
            frame: eframe::Frame::_new_kittest(),
            bus,
            clock,
            sim: None,
            second: Vec::new(),
            samples: 0,
        };
        if with_data {
            let mut sim = Simulator::new(config);
            let (meta, values) = sim.birth();
            me.publish(FeedEventBody::Status(FeedStatus::new(FeedState::Live)));
            me.publish(FeedEventBody::Birth(meta));
            me.publish(FeedEventBody::Samples(values));
            me.sim = Some(sim);
        }
        me
    }

    fn publish(&self, body: FeedEventBody) {
        // The live inbox drops the oldest when full, as it does for a slow UI; it is sized not to here.
        let _ = self.bus.publish_now(FeedEvent::new(Arc::from("demo"), self.clock.now_ms(), body));
    }

    /// One frame: 100 ms of data in, one egui pass and tessellation. Returns the CPU time of the frame (the
    /// simulator's own work is outside it).
    fn frame(&mut self) -> f64 {
        let now = self.clock.advance_ms(FRAME_MS);
        if let Some(sim) = &mut self.sim {
            let tenth = usize::try_from((now / FRAME_MS).rem_euclid(10)).unwrap_or(0);
            if tenth == 0 || self.second.is_empty() {
                self.second.clear();
                sim.step_to(now.div_euclid(1_000) * 1_000 + 1_000, &mut self.second);
            }
            let chunk = self.second.len().div_ceil(10);
            let part: Vec<_> = self.second.iter().skip(tenth * chunk).take(chunk).cloned().collect();
            self.samples += part.len();
            if !part.is_empty() {
                self.publish(FeedEventBody::Samples(part));
            }
        }
        #[expect(clippy::cast_precision_loss, reason = "seconds since start")]
        let time = (now - START_MS) as f64 / 1000.0;
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, SCREEN.into())),
            time: Some(time),
            ..Default::default()
        };
        let start = Instant::now();
        let (app, frame) = (&mut self.app, &mut self.frame);
        let output = self.ctx.run_ui(input, |ui| {
            eframe::App::logic(app, ui.ctx(), frame);
            eframe::App::ui(app, ui, frame);
        });
        let primitives = self.ctx.tessellate(output.shapes, output.pixels_per_point);
        std::hint::black_box(primitives);
        start.elapsed().as_secs_f64() * 1000.0
    }

    /// Frames on a view: `warm` unmeasured, then `n` measured.
    fn run(&mut self, view: View, warm: usize, n: usize) -> Vec<f64> {
        self.app.set_view(view);
        for _ in 0..warm {
            self.frame();
        }
        (0..n).map(|_| self.frame()).collect()
    }
}

pub fn ui(options: UiBenchOptions) -> anyhow::Result<()> {
    const WARM: usize = 20;
    let n = options.frames.max(10);
    eprintln!(
        "bench ui: {} vehicles at 1 Hz, {} machines; {n} frames per view on Fleet and Plant",
        options.vehicles, options.machines
    );
    let mut baseline = Headless::new(options.vehicles, options.machines, false);
    let mut base = baseline.run(View::Fleet, WARM, n);
    base.extend(baseline.run(View::Plant, WARM, n));
    drop(baseline);
    let mut app = Headless::new(options.vehicles, options.machines, true);
    let map = app.run(View::Fleet, WARM, n);
    let plant = app.run(View::Plant, WARM, n);
    #[expect(clippy::cast_precision_loss, reason = "counts")]
    let samples_per_frame = app.samples as f64 / (4 * WARM + 2 * n).max(1) as f64;
    let all: Vec<f64> = map.iter().chain(&plant).copied().collect();
    let median = |v: &[f64]| percentile(v, 0.5);
    let result = UiBenchResult {
        vehicles: app.app.live().vehicles().count(),
        machines: app.app.live().machines().count(),
        frames_per_view: n,
        frame_ms_median: median(&all),
        frame_ms_p95: percentile(&all, 0.95),
        map_frame_ms_median: median(&map),
        map_frame_ms_p95: percentile(&map, 0.95),
        plant_frame_ms_median: median(&plant),
        plant_frame_ms_p95: percentile(&plant, 0.95),
        baseline_frame_ms_median: median(&base),
        ratio_vs_baseline: median(&all) / median(&base),
        samples_per_frame,
        rss_mb: peak_rss_mb(),
    };
    super::print_result(options.format, &result)
}
