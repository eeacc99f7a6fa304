//! The site plan: buildings, roads, zones and chargers, read from `GeoJSON` (RFC 7946). The map draws it under the
//! vehicles, so the map is never blank without a tile server; zones are also what geofences are drawn from.
//!
//! Each feature's `kind` property says what it is (`building`, `road`, `zone`, `charger`; anything else is drawn
//! as a plain outline) and `name` labels it. Points, line strings and polygons (their outer ring) are read;
//! multi-geometries are split; other features are skipped and counted.

use geojson::{GeoJson, GeometryValue};

/// What a plan feature is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlanKind {
    Building,
    Road,
    Zone,
    Charger,
    Other,
}

impl PlanKind {
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "building" => Self::Building,
            "road" | "aisle" | "route" => Self::Road,
            "zone" | "area" | "geofence" => Self::Zone,
            "charger" | "charging" => Self::Charger,
            _ => Self::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Building => "building",
            Self::Road => "road",
            Self::Zone => "zone",
            Self::Charger => "charger",
            Self::Other => "other",
        }
    }
}

/// A shape in degrees, each point `[lat, lon]`.
#[derive(Clone, Debug, PartialEq)]
pub enum PlanShape {
    Point([f64; 2]),
    Line(Vec<[f64; 2]>),
    /// The outer ring, not repeating its first point.
    Polygon(Vec<[f64; 2]>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlanFeature {
    pub kind: PlanKind,
    pub name: String,
    pub shape: PlanShape,
    /// A zone's `alarm` property: `enter` or `exit` raises an alarm when a vehicle is inside / leaves it.
    pub alarm: Option<String>,
}

/// A site plan and what could not be read from it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SitePlan {
    pub features: Vec<PlanFeature>,
    /// Features left out (unsupported or invalid geometry, coordinates out of range).
    pub skipped: usize,
}

fn lat_lon(position: &geojson::Position) -> Option<[f64; 2]> {
    let (lon, lat) = (*position.as_slice().first()?, *position.as_slice().get(1)?);
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some([lat, lon])
}

fn ring(points: &[geojson::Position]) -> Option<Vec<[f64; 2]>> {
    let mut out: Vec<[f64; 2]> = points.iter().map(lat_lon).collect::<Option<_>>()?;
    if out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    Some(out)
}

impl SitePlan {
    /// Reads a `GeoJSON` text: a feature collection, one feature or one geometry.
    pub fn parse(text: &str) -> Result<Self, String> {
        let geojson: GeoJson = text.parse().map_err(|err| format!("not GeoJSON: {err}"))?;
        let features = match geojson {
            GeoJson::FeatureCollection(c) => c.features,
            GeoJson::Feature(f) => vec![f],
            GeoJson::Geometry(g) => vec![geojson::Feature { geometry: Some(g), ..geojson::Feature::default() }],
        };
        let mut plan = Self::default();
        for f in features {
            let text_prop = |key: &str| f.property(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let kind = PlanKind::parse(&text_prop("kind"));
            let name = text_prop("name");
            let alarm = Some(text_prop("alarm")).filter(|a| !a.is_empty());
            let Some(geometry) = &f.geometry else {
                plan.skipped += 1;
                continue;
            };
            let shapes: Option<Vec<PlanShape>> = match &geometry.value {
                GeometryValue::Point { coordinates } => lat_lon(coordinates).map(|p| vec![PlanShape::Point(p)]),
                GeometryValue::MultiPoint { coordinates } => {
                    coordinates.iter().map(|c| lat_lon(c).map(PlanShape::Point)).collect()
                }
                GeometryValue::LineString { coordinates } => ring(coordinates).map(|l| vec![PlanShape::Line(l)]),
                GeometryValue::MultiLineString { coordinates } => {
                    coordinates.iter().map(|c| ring(c).map(PlanShape::Line)).collect()
                }
                GeometryValue::Polygon { coordinates } => {
                    coordinates.first().and_then(|outer| ring(outer)).map(|p| vec![PlanShape::Polygon(p)])
                }
                GeometryValue::MultiPolygon { coordinates } => coordinates
                    .iter()
                    .map(|poly| poly.first().and_then(|outer| ring(outer)).map(PlanShape::Polygon))
                    .collect(),
                GeometryValue::GeometryCollection { .. } => None,
            };
            match shapes {
                Some(shapes) => plan.features.extend(shapes.into_iter().map(|shape| PlanFeature {
                    kind,
                    name: name.clone(),
                    shape,
                    alarm: alarm.clone(),
                })),
                None => plan.skipped += 1,
            }
        }
        Ok(plan)
    }

    /// The plan as a `GeoJSON` feature collection (what `assets/site-plan.geojson` holds for the demo).
    pub fn to_geojson(&self) -> String {
        let lon_lat = |p: &[f64; 2]| vec![round(p[1]), round(p[0])];
        let features: Vec<serde_json::Value> = self
            .features
            .iter()
            .map(|f| {
                let geometry = match &f.shape {
                    PlanShape::Point(p) => serde_json::json!({ "type": "Point", "coordinates": lon_lat(p) }),
                    PlanShape::Line(l) => {
                        serde_json::json!({ "type": "LineString", "coordinates": l.iter().map(lon_lat).collect::<Vec<_>>() })
                    }
                    PlanShape::Polygon(ring) => {
                        let mut closed: Vec<Vec<f64>> = ring.iter().map(lon_lat).collect();
                        closed.extend(closed.first().cloned());
                        serde_json::json!({ "type": "Polygon", "coordinates": [closed] })
                    }
                };
                let mut properties = serde_json::json!({ "kind": f.kind.as_str(), "name": f.name });
                if let (Some(alarm), Some(map)) = (&f.alarm, properties.as_object_mut()) {
                    map.insert("alarm".to_owned(), serde_json::Value::from(alarm.as_str()));
                }
                serde_json::json!({ "type": "Feature", "properties": properties, "geometry": geometry })
            })
            .collect();
        // One feature per line: small, and a diff shows which feature changed.
        let lines: Vec<String> = features.iter().map(|f| serde_json::to_string(f).unwrap_or_default()).collect();
        format!("{{\"type\": \"FeatureCollection\", \"features\": [\n{}\n]}}\n", lines.join(",\n"))
    }

    /// `(min [lat, lon], max [lat, lon])` of every point, if there are any.
    pub fn bounds(&self) -> Option<([f64; 2], [f64; 2])> {
        let mut points = self.features.iter().flat_map(|f| match &f.shape {
            PlanShape::Point(p) => std::slice::from_ref(p).iter(),
            PlanShape::Line(l) | PlanShape::Polygon(l) => l.iter(),
        });
        let first = *points.next()?;
        Some(points.fold((first, first), |(lo, hi), p| {
            ([lo[0].min(p[0]), lo[1].min(p[1])], [hi[0].max(p[0]), hi[1].max(p[1])])
        }))
    }
}

/// Seven decimals of a degree: about a centimetre, and a stable text.
fn round(v: f64) -> f64 {
    (v * 1e7).round() / 1e7
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kinds_shapes_and_skips_what_it_cannot_use() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"kind":"building","name":"Hall"},
             "geometry":{"type":"Polygon","coordinates":[[[23.84,61.45],[23.85,61.45],[23.85,61.46],[23.84,61.45]]]}},
            {"type":"Feature","properties":{"kind":"charger","name":"C1"},
             "geometry":{"type":"MultiPoint","coordinates":[[23.841,61.451],[23.842,61.451]]}},
            {"type":"Feature","properties":{"kind":"road"},"geometry":{"type":"LineString","coordinates":[[23.84,61.45],[200.0,61.45]]}},
            {"type":"Feature","properties":{},"geometry":null}
        ]}"#;
        let plan = SitePlan::parse(text).expect("valid GeoJSON");
        assert_eq!(plan.features.len(), 3);
        assert_eq!(plan.skipped, 2, "a longitude of 200 and a feature without geometry");
        assert_eq!(plan.features[0].kind, PlanKind::Building);
        assert_eq!(plan.features[0].shape, PlanShape::Polygon(vec![[61.45, 23.84], [61.45, 23.85], [61.46, 23.85]]));
        assert_eq!(plan.features[1].shape, PlanShape::Point([61.451, 23.841]));
        assert!(SitePlan::parse("{nope").expect_err("not JSON").starts_with("not GeoJSON"));
        // Written back and read again, the same plan.
        assert_eq!(SitePlan::parse(&plan.to_geojson()).expect("round trip").features, plan.features);
        let (lo, hi) = plan.bounds().expect("bounds");
        assert_eq!((lo, hi), ([61.45, 23.84], [61.46, 23.85]));
    }
}
