//! What a report says about each vehicle over a range, from the history cache: distance, battery used and its
//! lowest level, time charging, time stale, and geofence crossings with time in each zone.
//!
//! A vehicle is a signal-id prefix with `Position/Latitude` or `Battery/SoC` under it (DOMAIN §2); its `id` in the
//! report is that prefix. Positions come from the `fix` table, values from raw samples; the value in force when
//! the range starts (the last one before it) counts from the start. Time the vehicle's signals were stale (the
//! cache's `gap` rows) is reported as such and counted neither as charging nor as anything else.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use serde::Serialize;

use super::geofence::{Geofences, Transition, VehicleZones};
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

/// The vehicles' prefixes in the cache, in the order first stored.
pub fn vehicle_ids(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT name FROM signal WHERE name LIKE ?1 OR name LIKE ?2 ORDER BY id")?;
    let names = stmt.query_map(params![format!("%/{}", metric::LATITUDE), format!("%/{}", metric::SOC)], |r| {
        r.get::<_, String>(0)
    })?;
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = name?;
        let prefix = name
            .strip_suffix(metric::LATITUDE)
            .or_else(|| name.strip_suffix(metric::SOC))
            .map(|p| p.trim_end_matches('/').to_owned());
        if let Some(p) = prefix
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    Ok(out)
}

/// Positions of a vehicle in `[from_ms, to_ms)`, oldest first, as `(ts_ms, [lat, lon])`.
pub fn fixes(conn: &Connection, vehicle: &str, from_ms: i64, to_ms: i64) -> rusqlite::Result<Vec<(i64, [f64; 2])>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ts_ms, lat_deg, lon_deg FROM fix WHERE vehicle = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 ORDER BY ts_ms",
    )?;
    stmt.query_map(params![vehicle, from_ms, to_ms], |r| Ok((r.get(0)?, [r.get(1)?, r.get(2)?])))?.collect()
}

/// Good numeric values of one signal in `[from_ms, to_ms)`, preceded by the one in force at `from_ms` (dated
/// `from_ms`) when there is one.
fn numbers(conn: &Connection, name: &str, from_ms: i64, to_ms: i64) -> rusqlite::Result<Vec<(i64, f64)>> {
    let bad = crate::store::quality_code(crate::model::Quality::Bad);
    let mut before = conn.prepare_cached(
        "SELECT s.num FROM sample s JOIN signal g ON g.id = s.signal
         WHERE g.name = ?1 AND s.ts_ms < ?2 AND s.num IS NOT NULL AND s.quality != ?3 ORDER BY s.ts_ms DESC LIMIT 1",
    )?;
    let mut out: Vec<(i64, f64)> = Vec::new();
    if let Some(v) = before.query_map(params![name, from_ms, bad], |r| r.get::<_, f64>(0))?.next().transpose()? {
        out.push((from_ms, v));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT s.ts_ms, s.num FROM sample s JOIN signal g ON g.id = s.signal
         WHERE g.name = ?1 AND s.ts_ms >= ?2 AND s.ts_ms < ?3 AND s.num IS NOT NULL AND s.quality != ?4
         ORDER BY s.ts_ms",
    )?;
    for row in stmt.query_map(params![name, from_ms, to_ms, bad], |r| Ok((r.get(0)?, r.get(1)?)))? {
        let (ts, v): (i64, f64) = row?;
        if v.is_finite() {
            out.push((ts, v));
        }
    }
    Ok(out)
}

/// The vehicle's signals' gaps (the cache's `gap` rows), clipped to `[from_ms, end_ms)`.
fn gap_spans(conn: &Connection, vehicle: &str, from_ms: i64, end_ms: i64) -> rusqlite::Result<Vec<(i64, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT gap.start_ms, gap.end_ms FROM gap JOIN signal g ON g.id = gap.signal
         WHERE g.name LIKE ?1 ESCAPE '\\' AND gap.start_ms < ?3 AND (gap.end_ms IS NULL OR gap.end_ms > ?2)",
    )?;
    let like = format!("{}/%", vehicle.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let rows = stmt.query_map(params![like, from_ms, end_ms], |r| Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?)))?;
    let mut spans = Vec::new();
    for row in rows {
        let (start, end): (i64, Option<i64>) = row?;
        spans.push((start.max(from_ms), end.unwrap_or(end_ms).min(end_ms)));
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
    conn: &Connection,
    params: &FleetParams,
    from_ms: i64,
    to_ms: i64,
) -> rusqlite::Result<Vec<VehicleRow>> {
    // The cache ends where the recording ended: later time is not "stale", just not recorded yet.
    let cache_end: Option<i64> = conn.query_row("SELECT max(ts_ms) FROM latest", [], |r| r.get(0))?;
    let end_ms = to_ms.min(cache_end.map_or(from_ms, |t| t + 1));
    vehicle_ids(conn)?.into_iter().map(|id| vehicle(conn, params, &id, from_ms, to_ms, end_ms)).collect()
}

/// One vehicle's row for `[from_ms, to_ms)`; the cache holds data up to `end_ms`.
pub fn vehicle(
    conn: &Connection,
    params: &FleetParams,
    id: &str,
    from_ms: i64,
    to_ms: i64,
    end_ms: i64,
) -> rusqlite::Result<VehicleRow> {
    let geofences = &params.geofences;
    let signal = |m: &str| format!("{id}/{m}");
    let track = fixes(conn, id, from_ms, to_ms)?;
    let soc = numbers(conn, &signal(metric::SOC), from_ms, to_ms)?;
    let charging = numbers(conn, &signal(metric::CHARGING), from_ms, to_ms)?;
    // Stale: the cache's gaps, and every silence between positions longer than the stale limit (from the
    // moment the limit passed), up to where the cache ends.
    let before: Option<i64> = conn
        .prepare_cached("SELECT max(ts_ms) FROM fix WHERE vehicle = ?1 AND ts_ms < ?2")?
        .query_row(params![id, from_ms], |r| r.get(0))?;
    let mut spans = gap_spans(conn, id, from_ms, end_ms)?;
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
            ts: crate::cli::rfc3339(t.ts_ms),
            ts_ms: t.ts_ms,
            zone: geofences.fences[t.zone].name.to_string(),
            event: t.crossing.as_str(),
        })
        .collect();

    let kind: Option<String> = conn
        .prepare_cached(
            "SELECT l.text FROM latest l JOIN signal g ON g.id = l.signal WHERE g.name = ?1 AND l.text IS NOT NULL",
        )?
        .query_map([signal(metric::KIND)], |r| r.get(0))?
        .next()
        .transpose()?;

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
