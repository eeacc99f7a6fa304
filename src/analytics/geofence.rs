//! Geofences: named polygons (the site plan's zones and any configured), which vehicle positions enter and leave.
//!
//! A vehicle's membership of a zone changes only after its positions have said so for the *debounce* time
//! (10 s by default): GPS jitter at an edge does not chatter. The crossing is dated at the first position that
//! said so, so time in zone is not shortened by the debounce. The same [`VehicleZones`] runs on the writer
//! thread (crossings stored as events), in the live state (the zone each vehicle is in) and in the report (time
//! in zone, recomputed from stored positions), so all three agree.

use std::sync::Arc;

use crate::model::siteplan::{PlanKind, PlanShape, SitePlan};

/// The default debounce of zone crossings.
pub const DEFAULT_DEBOUNCE_MS: i64 = 10_000;
/// Time between two positions longer than this (a lost feed, a vehicle switched off) is not counted in a zone.
pub const MAX_STEP_MS: i64 = 120_000;

/// One zone: its name and outer ring, points `[lat, lon]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Geofence {
    pub name: Arc<str>,
    ring: Vec<[f64; 2]>,
    /// `[min_lat, min_lon, max_lat, max_lon]`, to skip the ring test for far positions.
    bbox: [f64; 4],
}

impl Geofence {
    /// `None` for a ring with fewer than three points.
    pub fn new(name: &str, ring: Vec<[f64; 2]>) -> Option<Self> {
        if ring.len() < 3 || ring.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
            return None;
        }
        let mut bbox = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for p in &ring {
            bbox = [bbox[0].min(p[0]), bbox[1].min(p[1]), bbox[2].max(p[0]), bbox[3].max(p[1])];
        }
        Some(Self { name: Arc::from(name), ring, bbox })
    }

    pub fn ring(&self) -> &[[f64; 2]] {
        &self.ring
    }

    /// Whether the point is inside the ring (even-odd rule; a zone is small enough to treat degrees as planar).
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        if !(lat >= self.bbox[0] && lat <= self.bbox[2] && lon >= self.bbox[1] && lon <= self.bbox[3]) {
            return false;
        }
        let mut inside = false;
        let mut j = self.ring.len() - 1;
        for i in 0..self.ring.len() {
            let ([ai, oi], [aj, oj]) = (self.ring[i], self.ring[j]);
            if (ai > lat) != (aj > lat) && lon < (oj - oi) * (lat - ai) / (aj - ai) + oi {
                inside = !inside;
            }
            j = i;
        }
        inside
    }
}

/// Every zone, with the debounce that applies to all.
#[derive(Clone, Debug, PartialEq)]
pub struct Geofences {
    pub fences: Vec<Geofence>,
    pub debounce_ms: i64,
}

impl Default for Geofences {
    fn default() -> Self {
        Self { fences: Vec::new(), debounce_ms: DEFAULT_DEBOUNCE_MS }
    }
}

impl Geofences {
    /// The site plan's zones (features of kind `zone`), then every polygon of `extra` (a configured geofence file),
    /// whatever its kind. A name used twice keeps its first zone.
    pub fn from_plans(site: Option<&SitePlan>, extra: Option<&SitePlan>, debounce_ms: i64) -> Self {
        let mut fences: Vec<Geofence> = Vec::new();
        let zones = site.into_iter().flat_map(|p| p.features.iter().filter(|f| f.kind == PlanKind::Zone));
        let polygons = extra.into_iter().flat_map(|p| p.features.iter());
        for f in zones.chain(polygons) {
            if let PlanShape::Polygon(ring) = &f.shape
                && !fences.iter().any(|g| *g.name == *f.name)
                && let Some(fence) = Geofence::new(&f.name, ring.clone())
            {
                fences.push(fence);
            }
        }
        Self { fences, debounce_ms: debounce_ms.max(0) }
    }

    pub fn is_empty(&self) -> bool {
        self.fences.is_empty()
    }

    pub fn len(&self) -> usize {
        self.fences.len()
    }
}

/// Into or out of a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Crossing {
    Enter,
    Exit,
}

impl Crossing {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enter => "enter",
            Self::Exit => "exit",
        }
    }
}

/// A debounced crossing: `zone` is the index in [`Geofences::fences`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub ts_ms: i64,
    pub zone: usize,
    pub crossing: Crossing,
}

/// One vehicle's zones, fed with its positions in time order (older positions are ignored).
#[derive(Clone, Debug, Default)]
pub struct VehicleZones {
    /// Confirmed membership, per zone.
    inside: Vec<bool>,
    /// Since when the positions have said otherwise, per zone.
    pending: Vec<Option<i64>>,
    last_ts: Option<i64>,
    /// Time counted inside each zone (confirmed membership between positions no more than [`MAX_STEP_MS`] apart).
    time_in_ms: Vec<i64>,
}

impl VehicleZones {
    /// Takes a position; crossings it confirms go to `out`. The first position sets the membership without a
    /// crossing (where the vehicle was when Watchfloor first saw it is not an event).
    pub fn push(&mut self, fences: &Geofences, ts_ms: i64, lat: f64, lon: f64, out: &mut Vec<Transition>) {
        if !lat.is_finite() || !lon.is_finite() || self.last_ts.is_some_and(|t| ts_ms <= t) {
            return;
        }
        let n = fences.fences.len();
        let first = self.last_ts.is_none();
        if self.inside.len() != n {
            self.inside.resize(n, false);
            self.pending.resize(n, None);
            self.time_in_ms.resize(n, 0);
        }
        let step = self.last_ts.map(|t| ts_ms - t).filter(|d| *d <= MAX_STEP_MS);
        for (i, fence) in fences.fences.iter().enumerate() {
            if let Some(step) = step
                && self.inside[i]
            {
                self.time_in_ms[i] += step;
            }
            let raw = fence.contains(lat, lon);
            if first {
                self.inside[i] = raw;
                continue;
            }
            if raw == self.inside[i] {
                self.pending[i] = None;
                continue;
            }
            let since = *self.pending[i].get_or_insert(ts_ms);
            if ts_ms - since >= fences.debounce_ms {
                self.inside[i] = raw;
                self.pending[i] = None;
                let crossing = if raw { Crossing::Enter } else { Crossing::Exit };
                out.push(Transition { ts_ms: since, zone: i, crossing });
                // The time between the crossing and now was spent on the new side.
                let moved = ts_ms - since;
                if raw {
                    self.time_in_ms[i] += moved;
                } else {
                    self.time_in_ms[i] -= moved.min(self.time_in_ms[i]);
                }
            }
        }
        self.last_ts = Some(ts_ms);
    }

    /// The zones the vehicle is in (confirmed), by index.
    pub fn inside(&self) -> impl Iterator<Item = usize> + '_ {
        self.inside.iter().enumerate().filter(|&(_, &b)| b).map(|(i, _)| i)
    }

    /// Time counted inside zone `i`.
    pub fn time_in_ms(&self, i: usize) -> i64 {
        self.time_in_ms.get(i).copied().unwrap_or(0)
    }

    pub fn last_ts(&self) -> Option<i64> {
        self.last_ts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Geofences {
        let ring = vec![[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]];
        Geofences { fences: vec![Geofence::new("Dock", ring).expect("fence")], debounce_ms: 10_000 }
    }

    #[test]
    fn a_point_is_inside_a_ring_by_the_even_odd_rule() {
        let f = &square().fences[0];
        assert!(f.contains(0.5, 0.5));
        assert!(!f.contains(1.5, 0.5));
        assert!(!f.contains(0.5, -0.1));
        // A concave ring (a U): the notch is outside.
        let u = Geofence::new(
            "U",
            vec![[0.0, 0.0], [0.0, 3.0], [3.0, 3.0], [3.0, 2.0], [1.0, 2.0], [1.0, 1.0], [3.0, 1.0], [3.0, 0.0]],
        )
        .expect("U");
        assert!(u.contains(0.5, 1.5));
        assert!(!u.contains(2.0, 1.5), "the notch");
        assert!(u.contains(2.0, 0.5));
        assert!(Geofence::new("line", vec![[0.0, 0.0], [1.0, 1.0]]).is_none());
        assert!(Geofence::new("nan", vec![[0.0, 0.0], [1.0, f64::NAN], [1.0, 0.0]]).is_none());
    }

    #[test]
    fn jitter_at_the_edge_does_not_chatter_and_a_crossing_is_dated_at_its_first_position() {
        let fences = square();
        let mut z = VehicleZones::default();
        let mut out = Vec::new();
        z.push(&fences, 0, 1.5, 0.5, &mut out);
        // In, out, in, out every 2 s for 20 s: never 10 s on one side.
        for k in 1..=10 {
            let lat = if k % 2 == 1 { 0.99 } else { 1.01 };
            z.push(&fences, k * 2_000, lat, 0.5, &mut out);
        }
        assert!(out.is_empty(), "{out:?}");
        // Then inside for good from 22 s: entered at 22 s, confirmed at 32 s.
        for t in (22_000..=40_000).step_by(2_000) {
            z.push(&fences, t, 0.5, 0.5, &mut out);
        }
        assert_eq!(out, vec![Transition { ts_ms: 22_000, zone: 0, crossing: Crossing::Enter }]);
        assert_eq!(z.inside().collect::<Vec<_>>(), vec![0]);
        assert_eq!(z.time_in_ms(0), 18_000, "from 22 s to 40 s");
        // Out at 50 s; 12 s later the exit is confirmed, dated 50 s.
        out.clear();
        for t in (50_000..=62_000).step_by(2_000) {
            z.push(&fences, t, 2.0, 2.0, &mut out);
        }
        assert_eq!(out, vec![Transition { ts_ms: 50_000, zone: 0, crossing: Crossing::Exit }]);
        assert_eq!(z.time_in_ms(0), 28_000, "from 22 s to 50 s");
    }

    #[test]
    fn the_first_position_is_not_a_crossing_and_old_or_bad_positions_are_ignored() {
        let fences = square();
        let mut z = VehicleZones::default();
        let mut out = Vec::new();
        z.push(&fences, 1_000, 0.5, 0.5, &mut out);
        assert!(out.is_empty());
        assert_eq!(z.inside().count(), 1);
        z.push(&fences, 500, 5.0, 5.0, &mut out);
        z.push(&fences, 2_000, f64::NAN, 5.0, &mut out);
        assert_eq!(z.last_ts(), Some(1_000));
        // A long silence is not time in the zone.
        z.push(&fences, 1_000 + MAX_STEP_MS + 1, 0.5, 0.5, &mut out);
        assert_eq!(z.time_in_ms(0), 0);
    }

    #[test]
    fn zones_come_from_the_plan_and_the_configured_file_without_duplicates() {
        let plan = SitePlan::parse(include_str!("../../assets/site-plan.geojson")).expect("demo plan");
        let fences = Geofences::from_plans(Some(&plan), Some(&plan), DEFAULT_DEBOUNCE_MS);
        let names: Vec<&str> = fences.fences.iter().map(|f| &*f.name).collect();
        assert!(names.contains(&"Loading docks") && names.contains(&"AGV charging"), "{names:?}");
        // The second copy adds the buildings (any polygon of a geofence file) but no zone twice.
        assert_eq!(names.iter().filter(|n| **n == "Loading docks").count(), 1);
        assert!(names.contains(&"Warehouse"));
    }
}
