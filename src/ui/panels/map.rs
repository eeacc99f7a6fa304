//! The fleet map: vehicles on a walkers slippy map, over the site plan (and tiles, when configured). Markers take
//! shape and colour from status (ISA-101: grey moving/idle/charging, amber low battery, red critical, dim and
//! hollow when offline), carry a heading arrow while moving and a kind letter and name when zoomed in; markers
//! that would overlap are drawn as one cluster with a count. Click selects (a cluster zooms in); the selected
//! vehicle shows its trail and can be followed; *Fit fleet* frames every vehicle.

use std::collections::HashMap;
use std::sync::Arc;

use egui::{Align2, Color32, FontId, Pos2, Rect, RichText, Shape, Stroke, Ui, pos2, vec2};
use walkers::{MapMemory, Position, Projector, lon_lat};

use crate::live::{LiveState, VehicleLive};
use crate::model::siteplan::{PlanKind, PlanShape, SitePlan};
use crate::model::vehicle::metric as vm;
use crate::model::{BatteryLevel, VehicleKind, VehicleStatus};
use crate::store::{History, Pending};
use crate::ui::ViewCtx;
use crate::ui::theme::{Severity, Theme};

/// Markers closer than this (pixels) are drawn as one cluster.
const CLUSTER_PX: f32 = 34.0;
/// From this zoom on, markers are never clustered.
const NO_CLUSTER_ZOOM: f64 = 18.0;
const LABEL_ZOOM: f64 = 17.0;
const MARKER_R: f32 = 7.0;

/// What the map view keeps between frames.
pub struct MapPanel {
    memory: MapMemory,
    plan: Arc<SitePlan>,
    pub selected: Option<Arc<str>>,
    pub follow: bool,
    /// Frame the fleet on the next frame (first frame, or the button).
    fit_pending: bool,
    /// The selected vehicle's older trail and its battery over the shift, from the cache.
    stored: Stored,
    /// The tile server from the config; its tiles are made on the first frame (they need the egui context).
    server: Option<crate::ui::tiles::TileServer>,
    basemap: Option<crate::ui::tiles::Basemap>,
    /// An offline basemap file, and its tiles once made; under the server's tiles, which cover it where they load.
    pmtiles_path: Option<std::path::PathBuf>,
    pmtiles: Option<walkers::PmTiles>,
    /// Vehicles (signal-id prefixes) with an alarm that is active or waits for an acknowledgement (and is not
    /// shelved or suppressed): drawn in the alarm style whatever their battery. Set by the app each frame.
    pub alarmed: std::collections::HashSet<String>,
}

/// How far back the trail from the cache reaches.
const STORED_TRAIL_MS: i64 = 30 * crate::model::time::MINUTE_MS;
/// How often the selected vehicle's stored trail and battery trend are read again.
const STORED_REFRESH_MS: i64 = 30_000;

/// What the cache holds for the selected vehicle.
#[derive(Default)]
struct StoredData {
    /// Positions of the last [`STORED_TRAIL_MS`], `[lat, lon]`.
    trail: Vec<[f64; 2]>,
    /// State of charge over the shift so far: (bucket start, mean).
    soc: Vec<(i64, f64)>,
    from_ms: i64,
    to_ms: i64,
}

#[derive(Default)]
struct Stored {
    vehicle: Option<Arc<str>>,
    asked_ms: i64,
    pending: Option<Pending<StoredData>>,
    data: StoredData,
}

impl Stored {
    /// Asks the reader again when the selection changed or the last answer is old; takes an answer that arrived.
    fn refresh(&mut self, history: Option<&History>, selected: Option<&Arc<str>>, shift_start_ms: i64, now_ms: i64) {
        if let Some(pending) = &mut self.pending
            && let Some(result) = pending.poll()
        {
            self.pending = None;
            match result {
                Ok(data) => self.data = data,
                Err(err) => tracing::warn!("fleet map: cannot read the selected vehicle's history: {err}"),
            }
        }
        if self.vehicle.as_ref() != selected {
            self.vehicle = selected.cloned();
            self.data = StoredData::default();
            self.pending = None;
            self.asked_ms = i64::MIN;
        }
        let (Some(history), Some(id)) = (history, selected) else { return };
        if self.pending.is_some() || now_ms.saturating_sub(self.asked_ms) < STORED_REFRESH_MS {
            return;
        }
        self.asked_ms = now_ms;
        let id = id.to_string();
        self.pending = history.run(move |conn| {
            let sqlite = crate::store::query::history_error(conn);
            let trail = crate::analytics::fleet::fixes(conn, &id, now_ms - STORED_TRAIL_MS, now_ms + 1)
                .map_err(sqlite)?
                .into_iter()
                .map(|(_, p)| p)
                .collect();
            // A vehicle without a stored battery has no trend; that is not an error.
            let soc = crate::store::query::series(conn, &format!("{id}/{}", vm::SOC), shift_start_ms, now_ms + 1, 240)
                .map(|s| s.buckets.iter().filter(|b| b.count > 0).map(|b| (b.ts_ms, b.mean)).collect())
                .unwrap_or_default();
            Ok(StoredData { trail, soc, from_ms: shift_start_ms, to_ms: now_ms })
        });
    }
}

/// How a vehicle is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkerStyle {
    pub severity: Severity,
    pub status: VehicleStatus,
}

impl MarkerStyle {
    pub fn of(live: &LiveState, v: &VehicleLive, now_ms: i64) -> Self {
        let status = live.vehicle_status(v, now_ms);
        let level = v.soc_percent.map(|soc| live.thresholds(v.kind).level(soc));
        let severity = match (status, level) {
            (VehicleStatus::Offline, _) => Severity::Stale,
            (_, Some(BatteryLevel::Critical)) => Severity::Alarm,
            (_, Some(BatteryLevel::Low)) if status != VehicleStatus::Charging => Severity::Attention,
            (VehicleStatus::Charging, _) => Severity::Info,
            _ => Severity::Normal,
        };
        Self { severity, status }
    }

    /// An alarm on the vehicle (from the alarm engine) draws it as an alarm, unless it is offline (stale wins: its
    /// position is old).
    pub fn with_alarm(mut self, alarmed: bool) -> Self {
        if alarmed && self.severity != Severity::Stale {
            self.severity = Severity::Alarm;
        }
        self
    }

    /// Worse first: what a cluster shows.
    fn rank(self) -> u8 {
        match self.severity {
            Severity::Alarm => 4,
            Severity::Attention => 3,
            Severity::Stale => 2,
            Severity::Info => 1,
            Severity::Normal => 0,
        }
    }
}

fn kind_letter(kind: VehicleKind) -> &'static str {
    match kind {
        VehicleKind::Agv => "A",
        VehicleKind::Forklift => "F",
        VehicleKind::Van => "V",
        VehicleKind::Other => "",
    }
}

/// A vehicle on screen this frame.
struct Placed<'a> {
    v: &'a VehicleLive,
    at: Pos2,
    style: MarkerStyle,
}

/// The Mercator zoom at which the `[lat, lon]` box fills `size` (with a margin).
pub fn zoom_to_fit(lo: [f64; 2], hi: [f64; 2], size: egui::Vec2) -> f64 {
    let y = |lat: f64| {
        let phi = lat.clamp(-85.0, 85.0).to_radians();
        (1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / std::f64::consts::PI) / 2.0
    };
    let dx = ((hi[1] - lo[1]) / 360.0).max(1e-9);
    let dy = (y(lo[0]) - y(hi[0])).abs().max(1e-9);
    let fit = (f64::from(size.x) / (256.0 * dx)).min(f64::from(size.y) / (256.0 * dy)) * 0.85;
    fit.log2().clamp(2.0, 19.0)
}

impl MapPanel {
    pub fn new(plan: Arc<SitePlan>) -> Self {
        Self {
            memory: MapMemory::default(),
            plan,
            selected: None,
            follow: false,
            fit_pending: true,
            stored: Stored::default(),
            server: None,
            basemap: None,
            pmtiles_path: None,
            pmtiles: None,
            alarmed: std::collections::HashSet::new(),
        }
    }

    /// Draws tiles under the site plan: from this server, over those of this `PMTiles` file (used alone offline).
    pub fn with_tiles(
        mut self,
        server: Option<crate::ui::tiles::TileServer>,
        pmtiles: Option<std::path::PathBuf>,
    ) -> Self {
        self.server = server;
        self.pmtiles_path = pmtiles;
        self
    }

    /// What the map is drawn on, for the toolbar and tests.
    pub fn basemap_label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(b) = &self.basemap {
            parts.push(format!("tiles from {}", b.server.url.split('/').nth(2).unwrap_or("the tile server")));
        }
        if let Some(p) = &self.pmtiles_path {
            parts
                .push(format!("offline tiles {}", p.file_name().map_or(String::new(), |n| n.to_string_lossy().into())));
        }
        if parts.is_empty() {
            "Basemap: site plan only".to_owned()
        } else {
            format!("Basemap: {}", parts.join(" over "))
        }
    }

    fn fleet_bounds(&self, live: &LiveState) -> Option<([f64; 2], [f64; 2])> {
        let mut fixes = live.vehicles().filter_map(|v| v.fix);
        let first = fixes.next().map(|f| [f.lat_deg, f.lon_deg]);
        match first {
            Some(first) => Some(fixes.fold((first, first), |(lo, hi), f| {
                ([lo[0].min(f.lat_deg), lo[1].min(f.lon_deg)], [hi[0].max(f.lat_deg), hi[1].max(f.lon_deg)])
            })),
            None => self.plan.bounds(),
        }
    }

    /// The toolbar and the map. Returns nothing; selection is kept here. With the history cache, the selected
    /// vehicle shows its trail of the last half hour and its battery over the shift.
    #[expect(
        clippy::too_many_lines,
        reason = "toolbar, map and trail in the order they are drawn, sharing the frame's state"
    )]
    pub fn ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>) {
        let (theme, live, now_ms, history) = (env.theme, env.live, env.now_ms, env.history);
        let shift_start = crate::analytics::Period::at(&live.settings.calendar, now_ms).start_ms;
        self.stored.refresh(history, self.selected.as_ref(), shift_start, now_ms);
        // Wrapped: in a narrow window (a popped-out map) nothing of the toolbar is cut off.
        ui.horizontal_wrapped(|ui| {
            if ui.button("Fit fleet").on_hover_text("Zoom and pan to show every vehicle").clicked() {
                self.fit_pending = true;
                self.follow = false;
            }
            if ui.button("+").on_hover_text("Zoom in").clicked() {
                let _ = self.memory.zoom_in();
            }
            if ui.button("−").on_hover_text("Zoom out").clicked() {
                let _ = self.memory.zoom_out();
            }
            let can_follow = self.selected.is_some();
            ui.add_enabled(can_follow, egui::Checkbox::new(&mut self.follow, "Follow selected"));
            if let Some(id) = &self.selected {
                let name = live.vehicles.get(id).map_or(&**id, |v| v.path.vehicle.as_str());
                ui.label(RichText::new(format!("Selected: {name}")).color(theme.text_strong));
                if ui.button("Clear").clicked() {
                    self.selected = None;
                    self.follow = false;
                }
            }
            if let Some(basemap) = &self.basemap
                && basemap.server.cache_dir.is_some()
                && basemap.server.cache_mb > 0
            {
                let bytes = basemap.cache_bytes.load(std::sync::atomic::Ordering::Relaxed);
                #[expect(clippy::cast_precision_loss, reason = "megabytes for display")]
                let used =
                    if bytes == u64::MAX { "…".to_owned() } else { format!("{:.0}", bytes as f64 / 1_048_576.0) };
                ui.label(
                    RichText::new(format!("Tile cache {used} of {} MB", basemap.server.cache_mb)).color(theme.text_dim),
                );
                if ui.button("Clear tile cache").on_hover_text("Delete every tile kept on disk").clicked() {
                    basemap.clear();
                }
            }
            ui.label(RichText::new(self.basemap_label()).small().color(theme.text_dim));
            ui.label(
                RichText::new("Scroll to zoom, drag to pan, click a vehicle to select it")
                    .small()
                    .color(theme.text_dim),
            );
        });
        if let Some(v) = self.selected.as_ref().and_then(|id| live.vehicles.get(id)) {
            vehicle_detail_ui(ui, theme, live, v, now_ms, &self.stored.data);
        }
        let size = ui.available_size();
        if self.fit_pending
            && let Some((lo, hi)) = self.fleet_bounds(live)
        {
            self.memory.center_at(lon_lat((lo[1] + hi[1]) / 2.0, (lo[0] + hi[0]) / 2.0));
            let _ = self.memory.set_zoom(zoom_to_fit(lo, hi, size));
            self.fit_pending = false;
        }
        if self.follow
            && let Some(fix) = self.selected.as_ref().and_then(|id| live.vehicles.get(id)).and_then(|v| v.fix)
        {
            self.memory.center_at(lon_lat(fix.lon_deg, fix.lat_deg));
        }
        let home = self
            .plan
            .bounds()
            .map_or(lon_lat(0.0, 0.0), |(lo, hi)| lon_lat((lo[1] + hi[1]) / 2.0, (lo[0] + hi[0]) / 2.0));
        if self.basemap.is_none()
            && let Some(server) = self.server.take()
        {
            self.basemap = Some(crate::ui::tiles::Basemap::new(server, ui.ctx().clone()));
        }
        if self.pmtiles.is_none()
            && let Some(path) = &self.pmtiles_path
        {
            self.pmtiles = Some(walkers::PmTiles::new(path, ui.ctx().clone()));
        }
        let plan = Arc::clone(&self.plan);
        let selected = self.selected.clone();
        let stored_trail = &self.stored.data.trail;
        let alarmed = &self.alarmed;
        let attribution = match (&self.basemap, &self.pmtiles) {
            (Some(b), _) => Some(b.server.attribution.clone()),
            (None, Some(_)) => Some(String::new()),
            (None, None) => None,
        };
        // The offline file is the base; the server's tiles are drawn over it where they have loaded.
        let (base, over): (Option<&mut dyn walkers::Tiles>, Option<&mut dyn walkers::Tiles>) =
            match (self.pmtiles.as_mut(), self.basemap.as_mut()) {
                (Some(pm), Some(b)) => (Some(pm), Some(&mut b.tiles)),
                (Some(pm), None) => (Some(pm), None),
                (None, Some(b)) => (Some(&mut b.tiles), None),
                (None, None) => (None, None),
            };
        let mut map = walkers::Map::new(base, &mut self.memory, home);
        if let Some(over) = over {
            map = map.with_layer(over, 1.0);
        }
        let clicked = map
            .zoom_with_ctrl(false)
            .show(ui, |ui, response, projector, _memory| {
                let painter = ui.painter_at(response.rect);
                if attribution.is_none() {
                    // No tile server: a neutral ground under the plan, so the map is never blank.
                    painter.rect_filled(response.rect, 0.0, theme.background);
                }
                draw_plan(&painter, theme, &plan, projector);
                let placed: Vec<Placed<'_>> = live
                    .vehicles_in_order()
                    .into_iter()
                    .filter_map(|v| {
                        let fix = v.fix?;
                        let at = projector.project(lon_lat(fix.lon_deg, fix.lat_deg)).to_pos2();
                        response.rect.expand(20.0).contains(at).then(|| Placed {
                            v,
                            at,
                            style: MarkerStyle::of(live, v, now_ms).with_alarm(alarmed.contains(&*v.id)),
                        })
                    })
                    .collect();
                if let Some(v) = selected.as_ref().and_then(|id| live.vehicles.get(id)) {
                    let older: Vec<Pos2> =
                        stored_trail.iter().map(|p| projector.project(lon_lat(p[1], p[0])).to_pos2()).collect();
                    painter.add(Shape::line(older, Stroke::new(1.5, theme.selection.gamma_multiply(0.6))));
                    let trail: Vec<Pos2> =
                        v.trail.iter().map(|f| projector.project(lon_lat(f.lon_deg, f.lat_deg)).to_pos2()).collect();
                    painter.add(Shape::line(trail, Stroke::new(2.0, theme.selection)));
                }
                let (hit, clusters) = draw_vehicles(&painter, theme, &placed, projector.zoom(), selected.as_deref());
                let summary = format!("Fleet map: {} vehicles in view, {clusters} clusters", placed.len());
                response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &summary));
                scale_bar(&painter, theme, projector, response.rect);
                if let Some(text) = attribution.as_deref().filter(|t| !t.is_empty()) {
                    painter.text(
                        response.rect.right_bottom() - vec2(6.0, 4.0),
                        Align2::RIGHT_BOTTOM,
                        text,
                        FontId::proportional(11.0),
                        theme.text_dim,
                    );
                }
                response.clicked().then(|| response.interact_pointer_pos()).flatten().and_then(hit)
            })
            .inner;
        match clicked {
            Some(Hit::Vehicle(id)) => {
                self.selected = Some(id);
            }
            Some(Hit::Cluster(at)) => {
                self.memory.center_at(at);
                let _ = self.memory.set_zoom((self.memory.zoom() + 2.0).min(19.0));
                self.follow = false;
            }
            None => {}
        }
    }
}

/// What a click landed on.
enum Hit {
    Vehicle(Arc<str>),
    Cluster(Position),
}

fn draw_plan(painter: &egui::Painter, theme: &Theme, plan: &SitePlan, projector: &Projector) {
    let to_screen = |p: &[f64; 2]| projector.project(lon_lat(p[1], p[0])).to_pos2();
    let show_labels = projector.zoom() >= 15.0;
    for f in &plan.features {
        match &f.shape {
            PlanShape::Polygon(ring) => {
                let points: Vec<Pos2> = ring.iter().map(to_screen).collect();
                let (fill, stroke) = match f.kind {
                    PlanKind::Building => (theme.tile, Stroke::new(1.0, theme.tile_border)),
                    PlanKind::Zone => (Color32::TRANSPARENT, Stroke::new(1.0, theme.text_dim)),
                    _ => (Color32::TRANSPARENT, Stroke::new(1.0, theme.tile_border)),
                };
                if fill != Color32::TRANSPARENT {
                    painter.add(Shape::convex_polygon(points.clone(), fill, Stroke::NONE));
                }
                let mut closed = points.clone();
                closed.extend(points.first().copied());
                if f.kind == PlanKind::Zone {
                    painter.extend(Shape::dashed_line(&closed, stroke, 6.0, 4.0));
                } else {
                    painter.add(Shape::line(closed, stroke));
                }
                if show_labels && !f.name.is_empty() {
                    let centre =
                        points.iter().fold(egui::Vec2::ZERO, |s, p| s + p.to_vec2()) / points.len().max(1) as f32;
                    painter.text(
                        centre.to_pos2(),
                        Align2::CENTER_CENTER,
                        &f.name,
                        FontId::proportional(12.0),
                        theme.text_dim,
                    );
                }
            }
            PlanShape::Line(line) => {
                let points: Vec<Pos2> = line.iter().map(to_screen).collect();
                painter.add(Shape::line(points, Stroke::new(3.0, theme.bar_track)));
            }
            PlanShape::Point(p) => {
                let at = to_screen(p);
                if f.kind == PlanKind::Charger {
                    let r = Rect::from_center_size(at, vec2(7.0, 7.0));
                    painter.rect_stroke(r, 1.0, Stroke::new(1.5, theme.limit_mark), egui::StrokeKind::Inside);
                } else {
                    painter.circle_stroke(at, 3.0, Stroke::new(1.0, theme.text_dim));
                }
            }
        }
    }
}

/// Draws markers and clusters; returns what a click at a point hits, and how many clusters were drawn.
fn draw_vehicles<'a>(
    painter: &egui::Painter,
    theme: &Theme,
    placed: &'a [Placed<'a>],
    zoom: f64,
    selected: Option<&str>,
) -> (impl Fn(Pos2) -> Option<Hit> + 'a, usize) {
    let mut cells: HashMap<(i32, i32), Vec<usize>> = HashMap::new();
    let cluster = zoom < NO_CLUSTER_ZOOM;
    let mut singles: Vec<usize> = Vec::new();
    for (i, p) in placed.iter().enumerate() {
        // The selected vehicle always stands alone, so its ring and name show.
        if selected == Some(&*p.v.id) {
            singles.push(i);
            continue;
        }
        #[expect(clippy::cast_possible_truncation, reason = "screen pixels to grid cells")]
        let cell = if cluster {
            ((p.at.x / CLUSTER_PX).floor() as i32, (p.at.y / CLUSTER_PX).floor() as i32)
        } else {
            (i as i32, 0)
        };
        cells.entry(cell).or_default().push(i);
    }
    let mut clusters: Vec<(Pos2, Vec<usize>)> = Vec::new();
    for members in cells.into_values() {
        if members.len() == 1 {
            singles.extend(members);
        } else {
            #[expect(clippy::cast_precision_loss, reason = "a small count")]
            let centre =
                members.iter().fold(egui::Vec2::ZERO, |s, &i| s + placed[i].at.to_vec2()) / members.len() as f32;
            clusters.push((centre.to_pos2(), members));
        }
    }
    for (at, members) in &clusters {
        let worst =
            members.iter().map(|&i| placed[i].style).max_by_key(|s| s.rank()).map_or(Severity::Normal, |s| s.severity);
        let ring = match worst {
            Severity::Alarm => theme.alarm,
            Severity::Attention => theme.attention,
            _ => theme.limit_mark,
        };
        let r = 11.0 + (members.len() as f32).log10() * 4.0;
        painter.circle(
            *at,
            r,
            theme.tile,
            Stroke::new(if matches!(worst, Severity::Alarm | Severity::Attention) { 3.0 } else { 1.5 }, ring),
        );
        painter.text(
            *at,
            Align2::CENTER_CENTER,
            members.len().to_string(),
            FontId::proportional(12.0),
            theme.text_strong,
        );
    }
    for &i in &singles {
        let p = &placed[i];
        marker(painter, theme, p, zoom, selected == Some(&*p.v.id));
    }
    let drawn_clusters = clusters.len();
    let hit = move |click: Pos2| {
        let near = |at: Pos2, r: f32| at.distance(click) <= r;
        if let Some(&i) = singles
            .iter()
            .filter(|&&i| near(placed[i].at, MARKER_R + 6.0))
            .min_by(|&&a, &&b| placed[a].at.distance(click).total_cmp(&placed[b].at.distance(click)))
        {
            return Some(Hit::Vehicle(Arc::clone(&placed[i].v.id)));
        }
        clusters.iter().find(|(at, _)| near(*at, 16.0)).map(|(_, members)| {
            let n = members.len() as f64;
            let (lat, lon) = members
                .iter()
                .filter_map(|&i| placed[i].v.fix)
                .fold((0.0, 0.0), |(a, b), f| (a + f.lat_deg / n, b + f.lon_deg / n));
            Hit::Cluster(lon_lat(lon, lat))
        })
    };
    (hit, drawn_clusters)
}

fn marker(painter: &egui::Painter, theme: &Theme, p: &Placed<'_>, zoom: f64, selected: bool) {
    let (at, r) = (p.at, MARKER_R);
    let grey = theme.bar_normal;
    match p.style.severity {
        Severity::Alarm => {
            let pts = vec![
                at + vec2(0.0, -r - 2.0),
                at + vec2(r + 2.0, 0.0),
                at + vec2(0.0, r + 2.0),
                at + vec2(-r - 2.0, 0.0),
            ];
            painter.add(Shape::convex_polygon(pts, theme.alarm, Stroke::new(1.0, theme.on_colour)));
        }
        Severity::Attention => {
            let pts = vec![at + vec2(0.0, -r - 2.0), at + vec2(r + 1.0, r), at + vec2(-r - 1.0, r)];
            painter.add(Shape::convex_polygon(pts, theme.attention, Stroke::new(1.0, theme.on_colour)));
        }
        Severity::Stale => {
            let circle: Vec<Pos2> = (0..=16)
                .map(|k| {
                    at + r * vec2(
                        (k as f32 / 16.0 * std::f32::consts::TAU).cos(),
                        (k as f32 / 16.0 * std::f32::consts::TAU).sin(),
                    )
                })
                .collect();
            painter.extend(Shape::dashed_line(&circle, Stroke::new(1.5, theme.stale), 3.0, 3.0));
        }
        Severity::Info => {
            let square = Rect::from_center_size(at, vec2(2.0 * r, 2.0 * r));
            painter.rect(square, 2.0, theme.tile, Stroke::new(2.0, grey), egui::StrokeKind::Inside);
        }
        Severity::Normal if p.style.status == VehicleStatus::Moving => {
            painter.circle(at, r, grey, Stroke::new(1.0, theme.tile));
        }
        Severity::Normal => {
            painter.circle(at, r, theme.tile, Stroke::new(2.0, grey));
        }
    }
    if p.style.status == VehicleStatus::Moving {
        let h = p.v.fix.map_or(0.0, |f| f.heading_deg).to_radians() as f32;
        let dir = vec2(h.sin(), -h.cos());
        painter.arrow(at + dir * r, dir * 9.0, Stroke::new(2.0, theme.text_strong));
    }
    if selected {
        painter.circle_stroke(at, r + 5.0, Stroke::new(2.0, theme.selection));
    }
    if zoom >= LABEL_ZOOM - 1.0 {
        painter.text(at, Align2::CENTER_CENTER, kind_letter(p.v.kind), FontId::proportional(9.0), theme.text_strong);
    }
    if zoom >= LABEL_ZOOM || selected {
        painter.text(
            at + vec2(r + 4.0, 0.0),
            Align2::LEFT_CENTER,
            &p.v.path.vehicle,
            FontId::proportional(12.0),
            theme.text,
        );
    }
}

/// "2 h 50 min".
fn fmt_hours(hours: f64) -> String {
    if !hours.is_finite() {
        return "—".to_owned();
    }
    #[expect(clippy::cast_possible_truncation, reason = "hours to seconds")]
    let secs = (hours * 3_600.0).round() as i64;
    crate::ui::fmt_duration_secs(secs)
}

/// The selected vehicle: battery (with time to empty or full), electrical values, motion, odometer, last seen.
fn vehicle_detail_ui(ui: &mut Ui, theme: &Theme, live: &LiveState, v: &VehicleLive, now_ms: i64, stored: &StoredData) {
    let style = MarkerStyle::of(live, v, now_ms);
    egui::Frame::new().fill(theme.tile).stroke(Stroke::new(1.0, theme.tile_border)).inner_margin(6.0).show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(&v.path.vehicle).strong().size(16.0).color(theme.text_strong));
            ui.label(RichText::new(v.kind.label()).color(theme.text_dim));
            crate::ui::widgets::status_badge_ui(ui, theme, style.severity, style.status.label());
            crate::ui::widgets::battery_bar_ui(
                ui,
                theme,
                v.soc_percent,
                live.thresholds(v.kind),
                v.charging,
                style.severity == Severity::Stale,
            );
            let readings: Vec<(i64, f64)> = v.soc_history.iter().copied().collect();
            let estimate = crate::analytics::battery::estimate(&readings);
            let tte = match estimate {
                Some(e) => format!(
                    "{} ≈ {} ({}–{}), {:+.0} %/h",
                    if e.to_full { "full in" } else { "empty in" },
                    fmt_hours(e.hours),
                    fmt_hours(e.hours_min),
                    fmt_hours(e.hours_max),
                    e.rate_per_hour
                ),
                None => "time to empty: not enough steady data".to_owned(),
            };
            ui.label(RichText::new(tte).color(theme.text));
            let mut extra = Vec::new();
            if let Some(volts) = v.voltage {
                extra.push(format!("{volts:.1} V"));
            }
            if let Some(t) = v.battery_temp_c {
                extra.push(format!("battery {t:.0} °C"));
            }
            if let Some(speed) = v.speed_kmh {
                extra.push(format!("{speed:.0} km/h"));
            }
            if let Some(fix) = v.fix {
                extra.push(format!("heading {:.0}°", fix.heading_deg));
            }
            if let Some(km) = v.odometer_km {
                extra.push(format!("odometer {km:.1} km"));
            }
            let zones = crate::ui::panels::fleet::zone_names(live, v);
            if !zones.is_empty() {
                extra.push(format!("in {zones}"));
            }
            extra.push(format!("seen {}", crate::ui::fmt_ago(now_ms, v.last_seen_ms)));
            ui.label(RichText::new(extra.join(" · ")).color(theme.text_dim));
            if !stored.soc.is_empty() {
                ui.label(RichText::new("Battery this shift").small().color(theme.text_dim));
                soc_trend_ui(ui, theme, stored, live.thresholds(v.kind));
            }
        });
    });
}

/// The state of charge over the shift so far: a line of minute means on a 0–100 % scale, with the low and
/// critical thresholds; a gap in the data breaks the line.
fn soc_trend_ui(ui: &mut Ui, theme: &Theme, stored: &StoredData, thresholds: crate::model::BatteryThresholds) {
    let (rect, response) = ui.allocate_exact_size(vec2(240.0, 44.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_stroke(rect, 2.0, Stroke::new(1.0, theme.tile_border), egui::StrokeKind::Inside);
    let span = (stored.to_ms - stored.from_ms).max(1);
    #[expect(clippy::cast_precision_loss, reason = "milliseconds of a shift")]
    let x = |t: i64| rect.left() + rect.width() * ((t - stored.from_ms) as f32 / span as f32);
    #[expect(clippy::cast_possible_truncation, reason = "a percentage")]
    let y = |soc: f64| rect.bottom() - rect.height() * (soc.clamp(0.0, 100.0) / 100.0) as f32;
    for (level, colour) in [(thresholds.low_percent, theme.attention), (thresholds.critical_percent, theme.alarm)] {
        painter.hline(rect.x_range(), y(level), Stroke::new(1.0, colour.gamma_multiply(0.5)));
    }
    // Buckets further apart than a few widths are a gap, not a straight line.
    let step = stored.soc.windows(2).map(|w| w[1].0 - w[0].0).min().unwrap_or(60_000).max(1);
    let mut run: Vec<Pos2> = Vec::new();
    let mut last_t = None;
    for &(t, soc) in &stored.soc {
        if last_t.is_some_and(|l| t - l > 3 * step) && run.len() > 1 {
            painter.add(Shape::line(std::mem::take(&mut run), Stroke::new(1.5, theme.text)));
        } else if last_t.is_some_and(|l| t - l > 3 * step) {
            run.clear();
        }
        run.push(pos2(x(t), y(soc)));
        last_t = Some(t);
    }
    if run.len() > 1 {
        painter.add(Shape::line(run, Stroke::new(1.5, theme.text)));
    }
    let (lo, hi) = stored.soc.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| (lo.min(s.1), hi.max(s.1)));
    let summary = format!("Battery this shift: {lo:.0}–{hi:.0} %");
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &summary));
    response.on_hover_text(summary);
}

/// A scale bar of a round length (1, 2 or 5 × 10ⁿ m) at most 120 px long, bottom left.
fn scale_bar(painter: &egui::Painter, theme: &Theme, projector: &Projector, rect: Rect) {
    let centre = projector.unproject(rect.center().to_vec2());
    let px_per_m = f64::from(projector.scale_pixel_per_meter(centre));
    if px_per_m.is_nan() || px_per_m <= 0.0 {
        return;
    }
    let max_m = 120.0 / px_per_m;
    let base = 10f64.powf(max_m.log10().floor());
    let metres = [5.0, 2.0, 1.0].into_iter().map(|k| k * base).find(|m| *m <= max_m).unwrap_or(base);
    #[expect(clippy::cast_possible_truncation, reason = "to pixels")]
    let len = (metres * px_per_m) as f32;
    let a = pos2(rect.left() + 14.0, rect.bottom() - 16.0);
    let b = a + vec2(len, 0.0);
    let stroke = Stroke::new(2.0, theme.text);
    painter.line_segment([a, b], stroke);
    painter.line_segment([a, a - vec2(0.0, 6.0)], stroke);
    painter.line_segment([b, b - vec2(0.0, 6.0)], stroke);
    let text = if metres >= 1000.0 { format!("{} km", metres / 1000.0) } else { format!("{metres} m") };
    painter.text(a + vec2(len / 2.0, -4.0), Align2::CENTER_BOTTOM, text, FontId::proportional(11.0), theme.text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vehicle_with_an_alarm_is_drawn_as_one_unless_it_is_offline() {
        let moving = MarkerStyle { severity: Severity::Normal, status: VehicleStatus::Moving };
        assert_eq!(moving.with_alarm(true).severity, Severity::Alarm);
        assert_eq!(moving.with_alarm(false).severity, Severity::Normal);
        let offline = MarkerStyle { severity: Severity::Stale, status: VehicleStatus::Offline };
        assert_eq!(offline.with_alarm(true).severity, Severity::Stale);
        assert!(moving.with_alarm(true).rank() > offline.rank(), "a cluster shows the alarm first");
    }

    #[test]
    fn zoom_to_fit_frames_the_box() {
        // A site of about 700 m × 350 m in a 1000 × 700 px map: street level (zoom 16–17).
        let z = zoom_to_fit([61.454, 23.838], [61.457, 23.851], vec2(1000.0, 700.0));
        assert!((15.5..17.5).contains(&z), "{z}");
        // Twice the width: one zoom level less.
        let wide = zoom_to_fit([61.454, 23.825], [61.457, 23.851], vec2(1000.0, 700.0));
        assert!((z - wide - 1.0).abs() < 0.05, "{z} vs {wide}");
        // A single point does not zoom in forever.
        assert_eq!(zoom_to_fit([61.45, 23.84], [61.45, 23.84], vec2(800.0, 600.0)), 19.0);
    }
}
