//! What a report says about each vehicle over a range, from the history cache: distance, battery used and its
//! lowest level, time charging, time stale, and geofence crossings with time in each zone.
//!
//! A vehicle is a signal-id prefix with `Position/Latitude` or `Battery/SoC` under it (DOMAIN §2); its `id` in the
//! report is that prefix. Positions come from the `fix` table, values from raw samples; the value in force when
//! the range starts (the last one before it) counts from the start. Time the vehicle's signals were stale (the
//! cache's `gap` rows) is reported as such and counted neither as charging nor as anything else.

use std::collections::BTreeMap;

use serde::Serialize;

use super::geofence::{Geofences, Transition, VehicleZones};
use crate::model::history::{HistoryRead, HistoryResult, StoredSignal};
use crate::model::vehicle::metric;

/// Positions further apart than this speed implies (km/h) are a bad fix, not a journey: left out of the distance.
pub const MAX_PLAUSIBLE_KMH: f64 = 250.0;

/// One geofence crossing.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZoneEvent {
    /// RFC 3339, UTC.
    pub ts: String,
    pub ts_ms: i64,
    pub zone: String,
    /// `enter` or `exit`.
    pub event: &'static str,
}

/// One vehicle's row of the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VehicleRow {
    pub id: String,
    pub kind: Option<String>,
    pub distance_km: f64,
    /// The sum of every drop in state of charge (charging does not pay it back).
    pub soc_used_percent: Option<f64>,
    pub min_soc_percent: Option<f64>,
    pub charging_secs: f64,
    pub stale_secs: f64,
    /// Time in each zone the vehicle was in, in seconds.
    pub zone_secs: BTreeMap<String, f64>,
    pub geofence_events: Vec<ZoneEvent>,
}

/// Great-circle distance in km.
pub fn haversine_km(a: [f64; 2], b: [f64; 2]) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6_371.008_8;
    let (la1, la2) = (a[0].to_radians(), b[0].to_radians());
    let dlat = la2 - la1;
    let dlon = (b[1] - a[1]).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

#[expect(clippy::cast_precision_loss, reason = "milliseconds of a report range")]
fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The stored signals by name (ordered, so a vehicle's signals are one range).
type ByName = BTreeMap<String, StoredSignal>;

/// The vehicles' prefixes among the stored signals, in the order first stored.
fn vehicle_ids(signals: &[StoredSignal]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for signal in signals {
        let name = &signal.name;
        let prefix = name
            .strip_suffix(metric::LATITUDE)
            .or_else(|| name.strip_suffix(metric::SOC))
            .and_then(|p| p.strip_suffix('/'))
            .map(str::to_owned);
        if let Some(p) = prefix
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    out
}

/// Positions of a vehicle in `[from_ms, to_ms)`, oldest first, as `(ts_ms, [lat, lon])`.
pub fn fixes(
    history: &dyn HistoryRead,
    vehicle: &str,
    from_ms: i64,
    to_ms: i64,
) -> HistoryResult<Vec<(i64, [f64; 2])>> {
    history.fixes(vehicle, from_ms, to_ms)
}

/// Good numeric values of one signal in `[from_ms, to_ms)`, preceded by the one in force at `from_ms` (dated
/// `from_ms`) when there is one.
fn numbers(
    history: &dyn HistoryRead,
    signals: &ByName,
    name: &str,
    from_ms: i64,
    to_ms: i64,
) -> HistoryResult<Vec<(i64, f64)>> {
    let Some(signal) = signals.get(name) else { return Ok(Vec::new()) };
    let mut out: Vec<(i64, f64)> = Vec::new();
    if let Some(v) = history.last_before(signal.key, signal.kind, from_ms, true)?.and_then(|s| s.value.as_f64()) {
        out.push((from_ms, v));
    }
    for s in history.raw(signal.key, signal.kind, (from_ms, to_ms), usize::MAX, true)? {
        if let Some(v) = s.value.as_f64().filter(|v| v.is_finite()) {
            out.push((s.ts_ms, v));
        }
    }
    Ok(out)
}

/// The vehicle's signals' gaps, clipped to `[from_ms, end_ms)`.
fn gap_spans(
    history: &dyn HistoryRead,
    signals: &ByName,
    vehicle: &str,
    from_ms: i64,
    end_ms: i64,
) -> HistoryResult<Vec<(i64, i64)>> {
    let prefix = format!("{vehicle}/");
    let mut spans = Vec::new();
    for signal in signals.range(prefix.clone()..).map(|(_, s)| s).take_while(|s| s.name.starts_with(&prefix)) {
        for gap in history.gaps(signal.key, from_ms, end_ms)? {
            spans.push((gap.start_ms.max(from_ms), gap.end_ms.unwrap_or(end_ms).min(end_ms)));
        }
    }
    Ok(spans)
}

/// Sorts spans and merges the overlapping ones; empty spans are dropped.
fn merged(mut spans: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    spans.retain(|(s, e)| s < e);
    spans.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// How much of `[a, b)` the spans cover.
fn covered(spans: &[(i64, i64)], a: i64, b: i64) -> i64 {
    spans.iter().map(|&(s, e)| (e.min(b) - s.max(a)).max(0)).sum()
}

/// How the rows are computed.
#[derive(Clone, Debug, Default)]
pub struct FleetParams {
    pub geofences: Geofences,
    /// A vehicle silent for longer than this is stale (the config's `fleet.stale_after`).
    pub stale_after_ms: i64,
}

/// The vehicles' rows for `[from_ms, to_ms)`.
pub fn vehicles(
    history: &dyn HistoryRead,
    params: &FleetParams,
    from_ms: i64,
    to_ms: i64,
) -> HistoryResult<Vec<VehicleRow>> {
    // The cache ends where the recording ended: later time is not "stale", just not recorded yet.
    let cache_end = history.newest_ms()?;
    let end_ms = to_ms.min(cache_end.map_or(from_ms, |t| t + 1));
    let signals = history.signals()?;
    let ids = vehicle_ids(&signals);
    let by_name: ByName = signals.into_iter().map(|s| (s.name.clone(), s)).collect();
    ids.into_iter().map(|id| vehicle(history, &by_name, params, &id, (from_ms, to_ms), end_ms)).collect()
}

/// One vehicle's row for `[from_ms, to_ms)`; the cache holds data up to `end_ms`.
fn vehicle(
    history: &dyn HistoryRead,
    signals: &ByName,
    params: &FleetParams,
    id: &str,
    (from_ms, to_ms): (i64, i64),
    end_ms: i64,
) -> HistoryResult<VehicleRow> {
    let geofences = &params.geofences;
    let signal = |m: &str| format!("{id}/{m}");
    let track = history.fixes(id, from_ms, to_ms)?;
    let soc = numbers(history, signals, &signal(metric::SOC), from_ms, to_ms)?;
    let charging = numbers(history, signals, &signal(metric::CHARGING), from_ms, to_ms)?;
    // Stale: the cache's gaps, and every silence between positions longer than the stale limit (from the
    // moment the limit passed), up to where the cache ends.
    let before = history.last_fix_before(id, from_ms)?;
    let mut spans = gap_spans(history, signals, id, from_ms, end_ms)?;
    let mut prev = before;
    for t in track.iter().map(|f| f.0).chain(std::iter::once(end_ms)) {
        if let Some(p) = prev {
            spans.push(((p + params.stale_after_ms).max(from_ms), t.min(end_ms)));
        }
        prev = Some(t);
    }
    let stale = merged(spans);

    let mut distance_km = 0.0;
    for pair in track.windows(2) {
        let ((t0, a), (t1, b)) = (pair[0], pair[1]);
        let km = haversine_km(a, b);
        #[expect(clippy::cast_precision_loss, reason = "milliseconds between two fixes")]
        let hours = (t1 - t0) as f64 / 3_600_000.0;
        if km.is_finite() && km <= MAX_PLAUSIBLE_KMH * hours.max(1.0 / 3_600.0) {
            distance_km += km;
        }
    }

    let soc_used = soc.windows(2).map(|w| (w[0].1 - w[1].1).max(0.0)).sum::<f64>();
    let min_soc = soc.iter().map(|s| s.1).min_by(f64::total_cmp);

    let mut charging_ms = 0;
    for (i, &(ts, v)) in charging.iter().enumerate() {
        let next = charging.get(i + 1).map_or(end_ms, |n| n.0).min(end_ms);
        if v > 0.5 && next > ts {
            charging_ms += (next - ts) - covered(&stale, ts, next);
        }
    }

    let mut zones = VehicleZones::default();
    let mut crossings: Vec<Transition> = Vec::new();
    for &(ts, [lat, lon]) in &track {
        zones.push(geofences, ts, lat, lon, &mut crossings);
    }
    let zone_secs = geofences
        .fences
        .iter()
        .enumerate()
        .filter(|(i, _)| zones.time_in_ms(*i) > 0)
        .map(|(i, f)| (f.name.to_string(), secs(zones.time_in_ms(i))))
        .collect();
    let geofence_events = crossings
        .iter()
        .map(|t| ZoneEvent {
            ts: crate::model::time::rfc3339(t.ts_ms),
            ts_ms: t.ts_ms,
            zone: geofences.fences[t.zone].name.to_string(),
            event: t.crossing.as_str(),
        })
        .collect();

    let kind = match signals.get(&signal(metric::KIND)) {
        Some(k) => history.latest(k.key, k.kind)?.and_then(|l| l.value.as_str().map(str::to_owned)),
        None => None,
    };

    Ok(VehicleRow {
        id: id.to_owned(),
        kind,
        distance_km,
        soc_used_percent: (soc.len() > 1).then_some(soc_used),
        min_soc_percent: min_soc,
        charging_secs: secs(charging_ms),
        stale_secs: secs(covered(&stale, from_ms, end_ms)),
        zone_secs,
        geofence_events,
    })
}

/// The CSV form of the vehicles' rows (zones and crossings as counts; the JSON has them in full).
pub fn write_csv(rows: &[VehicleRow], out: &mut dyn std::io::Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "id",
        "kind",
        "distance_km",
        "soc_used_percent",
        "min_soc_percent",
        "charging_secs",
        "stale_secs",
        "zones",
        "geofence_events",
    ])?;
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
    for r in rows {
        let zones: Vec<String> = r.zone_secs.iter().map(|(z, s)| format!("{z}={s:.0}s")).collect();
        w.write_record([
            r.id.clone(),
            r.kind.clone().unwrap_or_default(),
            format!("{:.3}", r.distance_km),
            opt(r.soc_used_percent),
            opt(r.min_soc_percent),
            format!("{:.3}", r.charging_secs),
            format!("{:.3}", r.stale_secs),
            zones.join(";"),
            r.geofence_events.len().to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_matches_a_known_distance() {
        // Helsinki cathedral to Tallinn old town: about 81 km.
        let km = haversine_km([60.1704, 24.9522], [59.4372, 24.7453]);
        assert!((km - 82.0).abs() < 1.5, "{km}");
        assert!(haversine_km([60.0, 25.0], [60.0, 25.0]).abs() < 1e-12);
    }

    #[test]
    fn spans_merge_when_they_overlap() {
        assert_eq!(merged(vec![(30, 40), (10, 20), (15, 25), (50, 50)]), vec![(10, 25), (30, 40)]);
    }

    #[test]
    fn covered_time_is_clipped_to_the_interval() {
        let spans = [(10, 20), (30, 40)];
        assert_eq!(covered(&spans, 0, 100), 20);
        assert_eq!(covered(&spans, 15, 35), 10);
        assert_eq!(covered(&spans, 40, 50), 0);
    }
}
