//! The demo site's geometry: a local metric frame around a real-looking location, the routes vehicles drive, the
//! chargers, and the bounds every simulated position stays inside.

use crate::model::siteplan::{PlanFeature, PlanKind, PlanShape, SitePlan};

/// Metres east and north of the site origin.
pub type Point = [f64; 2];

const METRES_PER_DEG_LAT: f64 = 111_320.0;

/// An equirectangular frame around one origin: exact enough over the few kilometres of a site.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LocalFrame {
    pub origin_lat_deg: f64,
    pub origin_lon_deg: f64,
}

impl LocalFrame {
    fn metres_per_deg_lon(&self) -> f64 {
        METRES_PER_DEG_LAT * self.origin_lat_deg.to_radians().cos()
    }

    /// `(lat, lon)` in degrees of a local point.
    pub fn to_wgs84(&self, p: Point) -> (f64, f64) {
        (self.origin_lat_deg + p[1] / METRES_PER_DEG_LAT, self.origin_lon_deg + p[0] / self.metres_per_deg_lon())
    }
}

/// A latitude/longitude box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    pub min_lat_deg: f64,
    pub max_lat_deg: f64,
    pub min_lon_deg: f64,
    pub max_lon_deg: f64,
}

impl Bounds {
    pub fn contains(&self, lat_deg: f64, lon_deg: f64) -> bool {
        (self.min_lat_deg..=self.max_lat_deg).contains(&lat_deg)
            && (self.min_lon_deg..=self.max_lon_deg).contains(&lon_deg)
    }
}

/// A stop on a route: where, how long to stay (seconds, min..max), and whether the vehicle leaves loaded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Waypoint {
    pub at: Point,
    pub dwell_secs: (f64, f64),
    pub load_after: Option<bool>,
}

const fn pass(x: f64, y: f64) -> Waypoint {
    Waypoint { at: [x, y], dwell_secs: (0.0, 0.0), load_after: None }
}

const fn stop(x: f64, y: f64, dwell_secs: (f64, f64), load_after: Option<bool>) -> Waypoint {
    Waypoint { at: [x, y], dwell_secs, load_after }
}

/// Where things are on the demo site. The plant hall spans x −220..100 m, the warehouse 150..350 m, the loading
/// docks at x ≈ 370 m; vans leave the depot west of the hall for road loops of 8–14 km.
#[derive(Clone, Debug)]
pub struct SiteLayout {
    pub frame: LocalFrame,
    pub agv_loops: Vec<Vec<Waypoint>>,
    pub forklift_spots: Vec<Waypoint>,
    pub van_routes: Vec<Vec<Waypoint>>,
    pub agv_chargers: Vec<Point>,
    pub forklift_chargers: Vec<Point>,
    pub van_chargers: Vec<Point>,
}

impl SiteLayout {
    /// The demo site, on an industrial estate in Tampere (Finland).
    pub fn demo() -> Self {
        let frame = LocalFrame { origin_lat_deg: 61.4551, origin_lon_deg: 23.8437 };
        // One AGV loop per line: pick at the warehouse, drop at the line's infeed, back along the south aisle.
        let agv_loops = (0..4)
            .map(|k| {
                let y = 60.0 - 45.0 * f64::from(k);
                vec![
                    stop(210.0, 30.0, (25.0, 60.0), Some(true)),
                    pass(130.0, 30.0),
                    pass(90.0, y),
                    stop(-160.0, y, (20.0, 45.0), Some(false)),
                    pass(-180.0, y - 15.0),
                    pass(-180.0, -120.0),
                    pass(130.0, -120.0),
                    pass(210.0, -40.0),
                ]
            })
            .collect();
        let mut forklift_spots = Vec::new();
        for i in 0..5 {
            for j in 0..4 {
                forklift_spots.push(stop(170.0 + 40.0 * f64::from(i), -60.0 + 45.0 * f64::from(j), (20.0, 90.0), None));
            }
        }
        for j in 0..4 {
            forklift_spots.push(stop(372.0, -50.0 + 35.0 * f64::from(j), (40.0, 120.0), None));
        }
        let depot = stop(-300.0, 200.0, (300.0, 900.0), None);
        let delivery = (120.0, 420.0);
        let van_routes = vec![
            vec![
                depot,
                pass(-600.0, 420.0),
                pass(-1500.0, 900.0),
                stop(-2600.0, 1300.0, delivery, None),
                pass(-3400.0, 2400.0),
                stop(-2200.0, 3300.0, delivery, None),
                pass(-900.0, 1800.0),
                pass(-420.0, 520.0),
            ],
            vec![
                depot,
                pass(-300.0, 900.0),
                pass(400.0, 1800.0),
                stop(1500.0, 2600.0, delivery, None),
                pass(2600.0, 2100.0),
                stop(3100.0, 800.0, delivery, None),
                pass(1800.0, 350.0),
                pass(500.0, 300.0),
            ],
            vec![
                depot,
                pass(-500.0, -300.0),
                pass(-900.0, -1400.0),
                stop(-300.0, -2500.0, delivery, None),
                pass(1200.0, -2900.0),
                stop(2400.0, -1600.0, delivery, None),
                pass(1300.0, -600.0),
                pass(400.0, -250.0),
            ],
        ];
        Self {
            frame,
            agv_loops,
            forklift_spots,
            van_routes,
            agv_chargers: vec![[110.0, -95.0], [110.0, -80.0], [110.0, -65.0]],
            forklift_chargers: vec![[180.0, -100.0], [200.0, -100.0], [220.0, -100.0]],
            van_chargers: vec![[-320.0, 170.0], [-300.0, 170.0], [-280.0, 170.0], [-260.0, 170.0]],
        }
    }

    /// Every point vehicles aim for, plus a 300 m margin (more than GPS jitter and any overshoot).
    pub fn bounds(&self) -> Bounds {
        let points = self
            .agv_loops
            .iter()
            .chain(&self.van_routes)
            .flatten()
            .chain(&self.forklift_spots)
            .map(|w| w.at)
            .chain(self.agv_chargers.iter().copied())
            .chain(self.forklift_chargers.iter().copied())
            .chain(self.van_chargers.iter().copied());
        let (mut min, mut max) = ([f64::MAX; 2], [f64::MIN; 2]);
        for p in points {
            for k in 0..2 {
                min[k] = min[k].min(p[k]);
                max[k] = max[k].max(p[k]);
            }
        }
        let margin = 300.0;
        let (min_lat_deg, min_lon_deg) = self.frame.to_wgs84([min[0] - margin, min[1] - margin]);
        let (max_lat_deg, max_lon_deg) = self.frame.to_wgs84([max[0] + margin, max[1] + margin]);
        Bounds { min_lat_deg, max_lat_deg, min_lon_deg, max_lon_deg }
    }
}

impl SiteLayout {
    /// The site plan of the demo (what `assets/site-plan.geojson` holds): the plant hall, the warehouse, the
    /// docks, the van depot and the AGV charging bay, the AGV loops and van routes, and every charger.
    pub fn site_plan(&self) -> SitePlan {
        let rect = |x0: f64, y0: f64, x1: f64, y1: f64| -> Vec<[f64; 2]> {
            [[x0, y0], [x1, y0], [x1, y1], [x0, y1]].into_iter().map(|p| self.lat_lon(p)).collect()
        };
        let mut features = vec![
            feature(PlanKind::Building, "Plant hall", PlanShape::Polygon(rect(-230.0, -105.0, 95.0, 85.0))),
            feature(PlanKind::Building, "Warehouse", PlanShape::Polygon(rect(150.0, -85.0, 350.0, 100.0))),
            feature(PlanKind::Zone, "Loading docks", PlanShape::Polygon(rect(358.0, -68.0, 388.0, 72.0))),
            feature(PlanKind::Zone, "Van depot", PlanShape::Polygon(rect(-345.0, 150.0, -235.0, 235.0))),
            feature(PlanKind::Zone, "AGV charging", PlanShape::Polygon(rect(100.0, -106.0, 122.0, -54.0))),
        ];
        for (i, route) in self.agv_loops.iter().enumerate() {
            let mut line: Vec<[f64; 2]> = route.iter().map(|w| self.lat_lon(w.at)).collect();
            line.extend(line.first().copied());
            features.push(feature(PlanKind::Road, &format!("AGV loop {}", i + 1), PlanShape::Line(line)));
        }
        for (i, route) in self.van_routes.iter().enumerate() {
            let mut line: Vec<[f64; 2]> = route.iter().map(|w| self.lat_lon(w.at)).collect();
            line.extend(line.first().copied());
            features.push(feature(PlanKind::Road, &format!("Van route {}", i + 1), PlanShape::Line(line)));
        }
        for (kind, chargers) in
            [("AGV", &self.agv_chargers), ("Forklift", &self.forklift_chargers), ("Van", &self.van_chargers)]
        {
            for (i, p) in chargers.iter().enumerate() {
                let name = format!("{kind} charger {}", i + 1);
                features.push(feature(PlanKind::Charger, &name, PlanShape::Point(self.lat_lon(*p))));
            }
        }
        SitePlan { features, skipped: 0 }
    }

    fn lat_lon(&self, p: Point) -> [f64; 2] {
        let (lat, lon) = self.frame.to_wgs84(p);
        [lat, lon]
    }
}

fn feature(kind: PlanKind, name: &str, shape: PlanShape) -> PlanFeature {
    PlanFeature { kind, name: name.to_owned(), shape, alarm: None }
}

pub fn distance_m(a: Point, b: Point) -> f64 {
    (b[0] - a[0]).hypot(b[1] - a[1])
}

/// Compass heading from `a` to `b`: degrees clockwise from north.
pub fn heading_deg(a: Point, b: Point) -> f64 {
    (b[0] - a[0]).atan2(b[1] - a[1]).to_degrees().rem_euclid(360.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_are_compass_bearings() {
        assert!((heading_deg([0.0, 0.0], [0.0, 10.0]) - 0.0).abs() < 1e-9);
        assert!((heading_deg([0.0, 0.0], [10.0, 0.0]) - 90.0).abs() < 1e-9);
        assert!((heading_deg([0.0, 0.0], [-10.0, 0.0]) - 270.0).abs() < 1e-9);
    }

    /// `assets/site-plan.geojson` is the demo's plan written out; `WATCHFLOOR_WRITE_ASSETS=1 cargo test` rewrites it.
    #[test]
    fn the_demo_site_plan_asset_is_current() {
        let written = SiteLayout::demo().site_plan().to_geojson();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/site-plan.geojson");
        if std::env::var_os("WATCHFLOOR_WRITE_ASSETS").is_some() {
            std::fs::write(&path, &written).expect("write the asset");
        }
        let stored = std::fs::read_to_string(&path).expect("assets/site-plan.geojson");
        assert_eq!(stored, written, "assets/site-plan.geojson is stale: run WATCHFLOOR_WRITE_ASSETS=1 cargo test");
        let plan = SitePlan::parse(&stored).expect("valid");
        assert_eq!(plan.skipped, 0);
        assert_eq!(plan.features.iter().filter(|f| f.kind == PlanKind::Charger).count(), 10);
    }

    #[test]
    fn frame_round_numbers() {
        let f = LocalFrame { origin_lat_deg: 60.0, origin_lon_deg: 24.0 };
        let (lat, lon) = f.to_wgs84([0.0, 111_320.0]);
        assert!((lat - 61.0).abs() < 1e-9 && (lon - 24.0).abs() < 1e-9);
        let (_, lon) = f.to_wgs84([55_660.0, 0.0]);
        assert!((lon - 25.0).abs() < 1e-3, "1° of longitude at 60° N is half of one at the equator");
    }
}
