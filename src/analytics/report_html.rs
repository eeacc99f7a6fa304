//! The shift report as a printable HTML document (`watchfloor report --format html`): OEE of the site, each line
//! and machine with its losses and top stop reasons, the alarms and their KPIs, the fleet — with the gauges and
//! charts drawn as inline SVG, so the one file prints, mails and opens offline. Same numbers as the JSON report
//! (it is drawn from the same [`Report`]).

use std::fmt::Write as _;

use super::alarm_kpi::Kpis;
use super::report::{Figures, Report};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{:.1} %", v * 100.0))
}

/// A 240° dial from 0 to 100 % with the target marked, the value in the middle.
fn gauge_svg(value: Option<f64>, target: f64, size: f64, label: &str) -> String {
    let (cx, cy, r) = (size / 2.0, size / 2.0, size * 0.38);
    let start = 150.0_f64; // degrees, clockwise from +x; the dial spans 240°
    let point = |frac: f64| {
        let a = (start + 240.0 * frac.clamp(0.0, 1.0)).to_radians();
        (cx + r * a.cos(), cy + r * a.sin())
    };
    let arc = |from: f64, to: f64, colour: &str, width: f64| {
        let (x0, y0) = point(from);
        let (x1, y1) = point(to);
        let large = i32::from((to - from) * 240.0 > 180.0);
        format!(
            "<path d=\"M {x0:.1} {y0:.1} A {r:.1} {r:.1} 0 {large} 1 {x1:.1} {y1:.1}\" stroke=\"{colour}\" \
             stroke-width=\"{width}\" fill=\"none\"/>"
        )
    };
    let mut svg = format!("<svg width=\"{size}\" height=\"{size}\" viewBox=\"0 0 {size} {size}\" role=\"img\">");
    svg.push_str(&arc(0.0, 1.0, "#d8d8d8", size * 0.07));
    if let Some(v) = value {
        let colour = if v >= target * 0.75 { "#6b6b6b" } else { "#d08a00" };
        svg.push_str(&arc(0.0, v.min(1.0), colour, size * 0.07));
    }
    let (tx, ty) = point(target);
    let (ix, iy) = (cx + (tx - cx) * 0.8, cy + (ty - cy) * 0.8);
    let _ = write!(
        svg,
        "<line x1=\"{ix:.1}\" y1=\"{iy:.1}\" x2=\"{tx:.1}\" y2=\"{ty:.1}\" stroke=\"#000\" stroke-width=\"2\"/>"
    );
    let _ = write!(
        svg,
        "<text x=\"{cx}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"{:.0}\" font-weight=\"600\">{}</text>",
        cy + size * 0.06,
        size * 0.17,
        value.map_or_else(|| "—".to_owned(), |v| format!("{:.0}%", v * 100.0))
    );
    let _ = write!(
        svg,
        "<text x=\"{cx}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"{:.0}\">{}</text></svg>",
        cy + size * 0.3,
        size * 0.08,
        esc(label)
    );
    svg
}

/// Horizontal bars: (label, value) scaled to the largest.
fn bars_svg(rows: &[(String, f64)], unit: &str) -> String {
    let top = rows.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max).max(1e-9);
    let (w, row_h) = (520.0, 20.0);
    #[expect(clippy::cast_precision_loss, reason = "a handful of rows")]
    let h = rows.len() as f64 * row_h + 4.0;
    let mut svg = format!("<svg width=\"{w}\" height=\"{h}\" role=\"img\">");
    for (i, (label, v)) in rows.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "a handful of rows")]
        let y = i as f64 * row_h + 2.0;
        let len = 260.0 * v / top;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.1}\" font-size=\"12\">{}</text><rect x=\"190\" y=\"{y:.1}\" width=\"{len:.1}\" \
             height=\"14\" fill=\"#8a8a8a\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{v:.1} {unit}</text>",
            y + 12.0,
            esc(label),
            195.0 + len,
            y + 12.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Alarms per 10 minutes as columns, the flood level marked.
fn rate_svg(buckets: &[usize]) -> String {
    let (w, h) = (640.0, 120.0);
    let top = buckets.iter().copied().max().unwrap_or(0).max(13);
    #[expect(clippy::cast_precision_loss, reason = "small counts")]
    let (bar_w, y_of) = (w / buckets.len().max(1) as f64, |n: usize| h - h * n as f64 / top as f64);
    let mut svg =
        format!("<svg width=\"{w}\" height=\"{h}\" role=\"img\"><rect width=\"{w}\" height=\"{h}\" fill=\"#f2f2f2\"/>");
    for (i, n) in buckets.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "bucket index")]
        let x = i as f64 * bar_w;
        let colour = if *n > 10 { "#c62828" } else { "#8a8a8a" };
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"/>",
            x + 0.5,
            y_of(*n),
            (bar_w - 1.0).max(0.5),
            h - y_of(*n)
        );
    }
    let fy = y_of(10);
    let _ = write!(
        svg,
        "<line x1=\"0\" y1=\"{fy:.1}\" x2=\"{w}\" y2=\"{fy:.1}\" stroke=\"#000\" stroke-dasharray=\"4 3\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">flood (&gt; 10)</text></svg>",
        w - 4.0,
        fy - 3.0
    );
    svg
}

fn figures_cells(f: &Figures) -> String {
    format!(
        "<td>{}</td><td>{}</td><td>{}</td><td><b>{}</b></td><td>{:.0}</td><td>{:.0}</td><td>{}</td><td>{}</td>",
        pct(f.availability),
        pct(f.performance),
        pct(f.quality),
        pct(f.oee),
        f.planned_secs / 60.0,
        f.run_secs / 60.0,
        f.good_count,
        f.reject_count
    )
}

fn losses(f: &Figures) -> Vec<(String, f64)> {
    let l = &f.losses_min;
    vec![
        ("Equipment failure".into(), l.equipment_failure),
        ("Setup and adjustment".into(), l.setup_adjustment),
        ("Small stops".into(), l.small_stops),
        ("Reduced speed".into(), l.reduced_speed),
        ("Process defects".into(), l.process_defects),
        ("Startup rejects".into(), l.startup_rejects),
    ]
}

/// The whole document.
pub fn render(report: &Report, title: &str, kpis: Option<&Kpis>) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:sans-serif;color:#222;margin:24px;max-width:1000px}}\
         h1{{font-size:22px}} h2{{font-size:18px;border-bottom:1px solid #999;margin-top:28px}}\
         table{{border-collapse:collapse;font-size:13px;margin:8px 0}} th,td{{border:1px solid #ccc;padding:3px 7px;text-align:right}}\
         th:first-child,td:first-child{{text-align:left}} .gauges{{display:flex;flex-wrap:wrap;gap:8px}}\
         .note{{color:#666;font-size:12px}} section{{page-break-inside:avoid}}\
         @media print{{body{{margin:0}} h2{{page-break-after:avoid}}}}</style></head><body>\
         <h1>{t}</h1><p>{site} · {from} to {to} (UTC) · target OEE {target:.0} %</p>",
        t = esc(title),
        site = esc(&report.site),
        from = esc(&report.from),
        to = esc(&report.to),
        target = report.target_oee * 100.0
    );
    // OEE
    h.push_str("<section><h2>OEE</h2><div class=\"gauges\">");
    h.push_str(&gauge_svg(report.figures.oee, report.target_oee, 180.0, "Site"));
    for line in &report.lines {
        h.push_str(&gauge_svg(line.figures.oee, line.target_oee, 150.0, &line.name));
    }
    h.push_str("</div>");
    h.push_str(
        "<table><tr><th>Line / machine</th><th>Availability</th><th>Performance</th><th>Quality</th><th>OEE</th>\
         <th>Planned min</th><th>Run min</th><th>Good</th><th>Rejects</th><th>Top stop reasons</th></tr>",
    );
    let _ = write!(h, "<tr><td><b>Site</b></td>{}<td></td></tr>", figures_cells(&report.figures));
    for line in &report.lines {
        let bottleneck = line.bottleneck.as_deref().map(|b| format!(" (bottleneck: {})", esc(b))).unwrap_or_default();
        let _ = write!(
            h,
            "<tr><td><b>{}</b>{bottleneck}</td>{}<td></td></tr>",
            esc(&line.name),
            figures_cells(&line.figures)
        );
        for m in report.machines.iter().filter(|m| m.line == line.id) {
            let stops: Vec<String> =
                m.top_stops.iter().take(3).map(|c| format!("{} ({:.0} min)", esc(&c.reason), c.minutes)).collect();
            let _ = write!(
                h,
                "<tr><td>&nbsp;&nbsp;{}</td>{}<td>{}</td></tr>",
                esc(&m.name),
                figures_cells(&m.figures),
                stops.join(", ")
            );
        }
    }
    h.push_str("</table><h3>Six big losses (site, minutes)</h3>");
    h.push_str(&bars_svg(&losses(&report.figures), "min"));
    h.push_str("</section>");
    // Alarms
    if let Some(k) = kpis {
        let _ = write!(
            h,
            "<section><h2>Alarms</h2><p>{} alarms · {:.1} per 10 min on average (target 1 to 2) · peak {} in 10 min · \
             {:.1} % of the time in flood ({} floods) · {} chattering · {} stale (active over 24 h)</p>",
            k.activations,
            k.mean_per_10_min,
            k.max_per_10_min,
            k.flood_fraction * 100.0,
            k.floods.len(),
            k.chattering.len(),
            k.stale.len()
        );
        h.push_str(&rate_svg(&k.per_10_min));
        h.push_str("<h3>Top 10 bad actors</h3><table><tr><th>Alarm</th><th>Source</th><th>Priority</th><th>Count</th><th>Share</th></tr>");
        for b in &k.bad_actors {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0} %</td></tr>",
                esc(&b.rule),
                esc(&b.source),
                b.priority.label(),
                b.activations,
                b.share * 100.0
            );
        }
        h.push_str("</table><p class=\"note\">Priority mix: ");
        let mix: Vec<String> = k.priority_mix.iter().map(|(p, n)| format!("{} {n}", p.label())).collect();
        h.push_str(&mix.join(", "));
        h.push_str("</p></section>");
    }
    // Fleet
    h.push_str(
        "<section><h2>Fleet</h2><table><tr><th>Vehicle</th><th>Kind</th><th>Distance km</th><th>Battery used %</th>\
         <th>Min SoC %</th><th>Charging min</th><th>Not reporting min</th><th>Geofence events</th></tr>",
    );
    for v in &report.vehicles {
        let opt = |x: Option<f64>| x.map_or_else(|| "—".to_owned(), |x| format!("{x:.0}"));
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{}</td></tr>",
            esc(&v.id),
            esc(v.kind.as_deref().unwrap_or("")),
            v.distance_km,
            opt(v.soc_used_percent),
            opt(v.min_soc_percent),
            v.charging_secs / 60.0,
            v.stale_secs / 60.0,
            v.geofence_events.len()
        );
    }
    h.push_str("</table></section>");
    notes_html(&mut h, &report.notes);
    h.push_str(
        "<p class=\"note\">Made by Watchfloor from the history cache; the same figures as \
                `watchfloor report --format json`.</p></body></html>\n",
    );
    h
}

/// The logbook section: each note with its time (UTC), subject, author and text; a corrected note struck through
/// with who corrected it, a handover with who took over.
fn notes_html(h: &mut String, notes: &[crate::model::logbook::Note]) {
    use crate::model::time::rfc3339;
    if notes.is_empty() {
        h.push_str("<section><h2>Logbook</h2><p class=\"note\">No notes about this range.</p></section>");
        return;
    }
    let corrected = crate::model::logbook::corrected_by(notes);
    h.push_str(
        "<section><h2>Logbook</h2><table><tr><th>About (UTC)</th><th>Subject</th><th>Author</th><th>Note</th>\
         <th>Written (UTC)</th></tr>",
    );
    for n in notes {
        let when = match n.to_ms {
            Some(to) => format!("{} – {}", rfc3339(n.from_ms), rfc3339(to)),
            None => rfc3339(n.from_ms),
        };
        let mut text = esc(&n.text);
        if let Some(handover) = &n.handover {
            text = format!("<b>Handover of {}</b> to {}. {text}", esc(&handover.shift), esc(&handover.taken_over_by));
        }
        if let Some(by) = corrected.get(n.uid.as_str()) {
            text = format!("<s>{text}</s> <i>(corrected by {} at {})</i>", esc(&by.author), rfc3339(by.written_ms));
        }
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{text}</td><td>{}</td></tr>",
            esc(&when),
            esc(&n.subject.label()),
            esc(&n.author),
            rfc3339(n.written_ms)
        );
    }
    h.push_str("</table></section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_escapes_names_and_draws_its_gauges() {
        let report = Report {
            from: "2026-11-20T04:00:00Z".into(),
            to: "2026-11-20T12:00:00Z".into(),
            site: "Plant <A>".into(),
            target_oee: 0.65,
            figures: Figures { oee: Some(0.5), ..Figures::default() },
            machines: Vec::new(),
            lines: Vec::new(),
            vehicles: Vec::new(),
            alarms: None,
            notes: Vec::new(),
        };
        let html = render(&report, "Shift A", Some(&Kpis { per_10_min: vec![1, 12, 3], ..Kpis::default() }));
        assert!(html.contains("Plant &lt;A&gt;"));
        assert!(!html.contains("Plant <A>"));
        assert!(html.contains(">50%</text>"), "the site gauge's value");
        assert_eq!(html.matches("fill=\"#c62828\"").count(), 1, "one bucket above the flood level");
        assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    }
}
