//! The plot: pens drawn as lines and min/max bands over gaps and notes, the hover text, and the readout of each pen
//! at the pointer or the review's cursor.

use super::*;

/// What the plot reported back.
pub(super) struct PlotOutcome {
    /// The x range after the user's drag or zoom, UTC ms.
    pub(super) window: (i64, i64),
    pub(super) hover_ms: Option<i64>,
    pub(super) double_clicked: bool,
    /// Where a single click landed (review moves its cursor there).
    pub(super) clicked_ms: Option<i64>,
    pub(super) size_px: egui::Vec2,
}

/// What a pen's readout shows at a time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Reading<'a> {
    /// `held`: after the last bucket, where the last value still holds (signals report by exception).
    Bucket {
        bucket: &'a Bucket,
        exact: bool,
        held: bool,
    },
    /// No bucket in the range, but the last value before it still holds.
    Held {
        since_ms: i64,
        value: f64,
    },
    NoData {
        interpolated: Option<f64>,
    },
    Nothing,
}
/// A pen as its hover text needs it.
pub(super) struct HoverPen {
    pub(super) number: usize,
    pub(super) signal: String,
    pub(super) unit: Option<String>,
    pub(super) scale: Option<Scale>,
    pub(super) gaps: Vec<(i64, i64)>,
}

/// The plot's hover text: the pen and its value near a point (saying when it is interpolated), and the time
/// elsewhere, with the pens that have no data there.
pub(super) fn hover_text(
    position: &HoverPosition<'_>,
    pens: &[HoverPen],
    ms_of: impl Fn(f64) -> i64,
    tz: &TimeZone,
) -> Option<String> {
    match position {
        HoverPosition::NearDataPoint { plot_name, position, .. } => {
            let (name, interpolated) = match plot_name.strip_suffix(INTERPOLATED_SUFFIX) {
                Some(name) => (name, true),
                None => (*plot_name, false),
            };
            let pen = pens.iter().find(|p| p.signal == name)?;
            let scale = pen.scale?;
            let ms = ms_of(position.x);
            let value = fmt_value(scale.value_from_y(position.y), (scale.decimals + 1).min(9));
            let unit = pen.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
            let note = if interpolated { "\ninterpolated: no data here" } else { "" };
            Some(format!(
                "{} {}\n{}\n{value}{unit}{note}",
                pen.number,
                pen.signal,
                fmt_site(ms, tz, "%a %d %b %H:%M:%S")
            ))
        }
        HoverPosition::Elsewhere { position } => {
            let ms = ms_of(position.x);
            let time = fmt_site(ms, tz, "%a %d %b %H:%M:%S");
            let missing: Vec<String> = pens
                .iter()
                .filter(|p| p.gaps.iter().any(|&(from, to)| from <= ms && ms < to))
                .map(|p| format!("{} {}", p.number, short_name(&p.signal)))
                .collect();
            if missing.is_empty() { Some(time) } else { Some(format!("{time}\nno data: {}", missing.join(", "))) }
        }
    }
}

/// Bands, lines and single points of one pen.
pub(super) fn pen_items(plot_ui: &mut PlotUi<'_>, pen: &PenDrawing<'_>, interpolate: bool, x_of: impl Fn(i64) -> f64) {
    let PenDrawing { series, scale, colour, name, held_until_ms } = *pen;
    let band_fill = colour.gamma_multiply(0.22);
    for run in band_runs(series) {
        let mut xs = Vec::with_capacity(run.len() * 2);
        let mut mins = Vec::with_capacity(run.len() * 2);
        let mut maxs = Vec::with_capacity(run.len() * 2);
        for b in run {
            for t in [b.ts_ms, b.ts_ms + series.bucket_ms] {
                xs.push(x_of(t));
                mins.push(scale.y_from_value(b.min));
                maxs.push(scale.y_from_value(b.max));
            }
        }
        plot_ui.add(
            FilledArea::new(format!("{name} min–max"), &xs, &mins, &maxs).fill_color(band_fill).allow_hover(false),
        );
    }
    let runs = display_runs(series, interpolate);
    let last_run = runs.len().saturating_sub(1);
    for (i, run) in runs.into_iter().enumerate() {
        let interpolated = run.first().is_some_and(|p| p.interpolated);
        let mut points: Vec<[f64; 2]> = run.iter().map(|p| [x_of(p.ts_ms), scale.y_from_value(p.value)]).collect();
        // The last value holds on (report by exception) up to now, unless a gap follows it.
        if i == last_run
            && !interpolated
            && let (Some(end), Some(last)) = (held_until_ms, run.last())
            && end > last.ts_ms
        {
            points.push([x_of(end), scale.y_from_value(last.value)]);
        }
        if points.len() == 1 {
            plot_ui.points(Points::new(name, points).color(colour).radius(2.5));
        } else if interpolated {
            let line = Line::new(format!("{name}{INTERPOLATED_SUFFIX}"), points);
            plot_ui.line(line.color(colour).width(1.5).style(LineStyle::dashed_loose()));
        } else {
            plot_ui.line(Line::new(name, points).color(colour).width(2.0));
        }
    }
}

/// What drawing one pen needs.
#[derive(Clone, Copy)]
pub(super) struct PenDrawing<'a> {
    pub(super) series: &'a Series,
    pub(super) scale: Scale,
    pub(super) colour: Color32,
    pub(super) name: &'a str,
    /// See [`held_until`].
    pub(super) held_until_ms: Option<i64>,
}

/// Runs of buckets that follow each other without a hole.
pub(super) fn band_runs(series: &Series) -> Vec<&[Bucket]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=series.buckets.len() {
        let breaks = series.buckets.get(i).is_none_or(|b| b.ts_ms != series.buckets[i - 1].ts_ms + series.bucket_ms);
        if breaks {
            runs.push(&series.buckets[start..i]);
            start = i;
        }
    }
    runs
}

/// A pen's range over the buckets in the window (and the value the line starts with).
pub(super) fn pen_scale(series: &Series, window: (i64, i64), divisions: u32) -> Option<Scale> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for b in series.buckets.iter().filter(|b| b.ts_ms + series.bucket_ms > window.0 && b.ts_ms < window.1) {
        lo = lo.min(b.min);
        hi = hi.max(b.max);
    }
    if let Some((_, v)) = series.before {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo.is_finite() && hi.is_finite()).then(|| Scale::nice(lo, hi, divisions))
}

/// The series' gaps clipped to the window; an open gap lasts until now.
pub(super) fn visible_gaps(series: &Series, window: (i64, i64), now_ms: i64) -> Vec<(i64, i64)> {
    series
        .gaps
        .iter()
        .map(|g| (g.start_ms.max(window.0), g.end_ms.unwrap_or(now_ms).min(window.1)))
        .filter(|(from, to)| from < to)
        .collect()
}

/// Overlapping gaps of all pens as one stretch each, with the numbers of the pens they concern.
pub(super) fn merge_gaps(mut gaps: Vec<(i64, i64, usize)>) -> Vec<(i64, i64, Vec<usize>)> {
    gaps.sort_unstable();
    let mut merged: Vec<(i64, i64, Vec<usize>)> = Vec::new();
    for (from, to, number) in gaps {
        match merged.last_mut() {
            Some(last) if from <= last.1 => {
                last.1 = last.1.max(to);
                if !last.2.contains(&number) {
                    last.2.push(number);
                }
            }
            _ => merged.push((from, to, vec![number])),
        }
    }
    for m in &mut merged {
        m.2.sort_unstable();
    }
    merged
}

/// What a pen's readout shows at `at_ms` (or for the latest bucket when `None`); after the last bucket the last value
/// holds until `held_until_ms` (see [`held_until`]).
pub(super) fn reading_at(
    series: &Series,
    at_ms: Option<i64>,
    interpolate: bool,
    held_until_ms: Option<i64>,
) -> Reading<'_> {
    let exact = |b: &Bucket| series.tier == Tier::Raw && b.count == 1;
    if series.buckets.is_empty() {
        // Only the value from before the range, if it still holds.
        let holds = at_ms.is_none_or(|ms| held_until_ms.is_some_and(|end| ms <= end));
        return match series.before {
            Some((since_ms, value)) if holds => Reading::Held { since_ms, value },
            _ => Reading::Nothing,
        };
    }
    let Some(ms) = at_ms else {
        return series.buckets.last().map_or(Reading::Nothing, |b| Reading::Bucket {
            bucket: b,
            exact: exact(b),
            held: false,
        });
    };
    if let Some(gap) = series.gaps.iter().find(|g| g.start_ms <= ms && g.end_ms.is_none_or(|e| ms < e)) {
        let interpolated = (interpolate && gap.end_ms.is_some())
            .then(|| {
                display_runs(series, true).into_iter().filter(|r| r.len() == 2 && r[0].interpolated).find_map(|r| {
                    let (a, b) = (r[0], r[1]);
                    (a.ts_ms <= ms && ms <= b.ts_ms && b.ts_ms > a.ts_ms)
                        .then(|| a.value + (b.value - a.value) * (ms - a.ts_ms) as f64 / (b.ts_ms - a.ts_ms) as f64)
                })
            })
            .flatten();
        return Reading::NoData { interpolated };
    }
    let centre = |b: &Bucket| b.ts_ms + series.bucket_ms / 2;
    let i = series.buckets.partition_point(|b| centre(b) < ms);
    let nearest = [i.checked_sub(1), Some(i)]
        .into_iter()
        .flatten()
        .filter_map(|i| series.buckets.get(i))
        .min_by_key(|b| (centre(b) - ms).abs());
    if let Some(last) = series.buckets.last()
        && ms >= last.ts_ms + series.bucket_ms
        && held_until_ms.is_some_and(|end| ms <= end)
    {
        return Reading::Bucket { bucket: last, exact: exact(last), held: true };
    }
    match nearest {
        // Further than two buckets away is not "under the pointer".
        Some(b) if (centre(b) - ms).abs() <= 2 * series.bucket_ms => {
            Reading::Bucket { bucket: b, exact: exact(b), held: false }
        }
        _ => Reading::Nothing,
    }
}

/// Until when the last value of a series holds: sources report by exception, so without a gap after it the last
/// value stands until now (or the window's end). `None` when a gap follows it or there is no data.
pub(super) fn held_until(series: &Series, window: (i64, i64), now_ms: i64) -> Option<i64> {
    // The last data and where its line ends: the last bucket's centre, or the left edge when the only value in
    // sight is the one from before the range.
    let (last_ts, line_end) = match series.buckets.last() {
        Some(b) => (b.ts_ms, b.ts_ms + series.bucket_ms / 2),
        None => (series.before?.0, series.from_ms),
    };
    if series.gaps.iter().any(|g| g.start_ms >= last_ts || g.end_ms.is_none()) {
        return None;
    }
    let end = now_ms.min(window.1);
    (end > line_end).then_some(end)
}

/// The readout columns of one pen: time, mean, min, max, count.
pub(super) fn readout_cells_ui(
    ui: &mut Ui,
    theme: &Theme,
    series: Option<&Series>,
    reading: Reading<'_>,
    at_ms: Option<i64>,
    decimals: usize,
    tz: &TimeZone,
) {
    match (series, reading) {
        (Some(series), Reading::Bucket { bucket, exact, held }) => {
            let width = fmt_duration_ms(series.bucket_ms);
            let held = if held { "held since " } else { "" };
            let time = fmt_site(bucket.ts_ms, tz, "%H:%M:%S");
            ui.label(format!("{held}{time} ({width} · {})", series.tier.label()))
                .on_hover_text(format!("Bucket from {}", fmt_site(bucket.ts_ms, tz, "%a %d %b %Y %H:%M:%S %Z")));
            if exact {
                ui.label(RichText::new(format!("{} (exact)", bucket.mean)).strong());
                ui.label("");
                ui.label("");
            } else {
                ui.label(RichText::new(fmt_value(bucket.mean, decimals)).strong());
                ui.label(fmt_value(bucket.min, decimals));
                ui.label(fmt_value(bucket.max, decimals));
            }
            ui.label(fmt_count(i64::try_from(bucket.count).unwrap_or(i64::MAX)));
        }
        (_, Reading::Held { since_ms, value }) => {
            ui.label(format!("held since {}", fmt_site(since_ms, tz, "%a %d %b %H:%M:%S")));
            ui.label(RichText::new(format!("{value} (exact)")).strong());
            for _ in 0..3 {
                ui.label("");
            }
        }
        (_, Reading::NoData { interpolated }) => {
            ui.label(at_ms.map_or_else(String::new, |ms| fmt_site(ms, tz, "%H:%M:%S")));
            ui.colored_label(theme.text_dim, "no data");
            match interpolated {
                Some(v) => ui.colored_label(theme.text_dim, format!("interpolated {}", fmt_value(v, decimals))),
                None => ui.label(""),
            };
            ui.label("");
            ui.label("");
        }
        _ => {
            for _ in 0..5 {
                ui.colored_label(theme.text_dim, "—");
            }
        }
    }
}

/// `861 buckets · raw · 1 gap`, and `updating` while the next range loads.
pub(super) fn series_status(series: &Series, loading: bool) -> String {
    let mut text =
        format!("{} buckets · {}", fmt_count(i64::try_from(series.buckets.len()).unwrap_or(0)), series.tier.label());
    match series.gaps.len() {
        0 => {}
        1 => text.push_str(" · 1 gap"),
        n => text.push_str(&format!(" · {n} gaps")),
    }
    if loading {
        text.push_str(" · updating");
    }
    text
}

impl TrendPanel {
    /// The chart: gaps, min–max bands and mean lines of every pen, one y axis per pen, site time on x.
    pub(super) fn plot_ui(
        &self,
        ui: &mut Ui,
        env: &ViewCtx<'_>,
        window: (i64, i64),
        scales: &[Option<Scale>],
        divisions: u32,
    ) -> PlotOutcome {
        let theme = env.theme;
        let tz = env.timezone;
        let origin_ms = window.0.div_euclid(DAY_MS) * DAY_MS;
        let x_of = move |ms: i64| (ms - origin_ms) as f64 / 1_000.0;
        let ms_of = move |x: f64| origin_ms + (x * 1_000.0).round() as i64;
        let offset_ms = Timestamp::from_millisecond(window.0 + (window.1 - window.0) / 2)
            .map_or(0, |t| i64::from(tz.to_offset(t).seconds()) * SECOND_MS);

        let mut y_axes = Vec::new();
        let mut hover_pens = Vec::new();
        let mut all_gaps = Vec::new();
        for ((i, pen), scale) in self.pens.iter().enumerate().zip(scales) {
            let colour = pen.colour(theme);
            let unit = self.unit_of(pen).map(str::to_owned);
            let title = match &unit {
                Some(u) => format!("{} {} ({u})", i + 1, short_name(&pen.signal)),
                None => format!("{} {}", i + 1, short_name(&pen.signal)),
            };
            let scale = *scale;
            y_axes.push(
                AxisHints::new_y()
                    .label(RichText::new(title).color(colour))
                    .tick_label_color(colour)
                    .placement(if i % 2 == 0 { HPlacement::Left } else { HPlacement::Right })
                    .formatter(move |mark, _| {
                        scale.map_or_else(String::new, |s| fmt_value(s.value_from_y(mark.value), s.decimals))
                    }),
            );
            let gaps = pen.series().map(|s| visible_gaps(s, window, env.now_ms)).unwrap_or_default();
            all_gaps.extend(gaps.iter().map(|&(from, to)| (from, to, i + 1)));
            hover_pens.push(HoverPen { number: i + 1, signal: pen.signal.clone(), unit, scale, gaps });
        }
        let gap_spans = merge_gaps(all_gaps);

        let x_tz = tz.clone();
        let x_axis = AxisHints::new_x()
            .label(format!("Site time ({})", tz.iana_name().unwrap_or("fixed offset")))
            .formatter(move |mark, _| fmt_grid_time(ms_of(mark.value), mark.step_size, &x_tz));
        let hover_tz = tz.clone();
        let pens = &self.pens;
        let interpolate = self.interpolate;
        let now_ms = env.now_ms;
        let cursor = env.cursor.map(|r| r.at_ms);
        let notes: Vec<&crate::model::logbook::Note> =
            self.rt.notes.iter().filter(|n| n.overlaps(window.0, window.1)).collect();
        let response = Plot::new("trend_plot")
            .allow_drag(Vec2b::new(true, false))
            .allow_zoom(Vec2b::new(true, false))
            .allow_axis_zoom_drag(Vec2b::new(true, false))
            .allow_scroll(false)
            .allow_boxed_zoom(false)
            .allow_double_click_reset(false)
            .auto_bounds(Vec2b::FALSE)
            .cursor_color(theme.text_dim)
            .custom_x_axes(vec![x_axis])
            .custom_y_axes(y_axes)
            .grid_spacing(egui::Rangef::new(16.0, 240.0))
            .x_grid_spacer(move |input| time_grid_marks(&input, origin_ms, offset_ms))
            .y_grid_spacer(move |_| {
                (0..=divisions)
                    .map(|k| GridMark {
                        value: f64::from(k) / f64::from(divisions),
                        step_size: 1.0 / f64::from(divisions),
                    })
                    .collect()
            })
            .label_formatter(move |position| hover_text(position, &hover_pens, ms_of, &hover_tz))
            .show(ui, |plot_ui| {
                plot_ui.set_plot_bounds(PlotBounds::from_min_max([x_of(window.0), Y_MIN], [x_of(window.1), Y_MAX]));
                for (from, to, numbers) in gap_spans {
                    let numbers: Vec<String> = numbers.iter().map(ToString::to_string).collect();
                    plot_ui.span(
                        Span::new(format!("no data · pen {}", numbers.join(", ")), x_of(from)..=x_of(to))
                            .fill(theme.trend_gap)
                            .border(Stroke::new(1.0, theme.text_dim))
                            .border_style(LineStyle::dashed_dense()),
                    );
                }
                for (pen, scale) in pens.iter().zip(scales) {
                    if let (Some(series), Some(scale)) = (pen.series(), scale) {
                        let drawing = PenDrawing {
                            series,
                            scale: *scale,
                            colour: pen.colour(theme),
                            name: &pen.signal,
                            held_until_ms: held_until(series, window, now_ms),
                        };
                        pen_items(plot_ui, &drawing, interpolate, x_of);
                    }
                }
                if let Some(at) = cursor {
                    plot_ui.vline(
                        egui_plot::VLine::new("Review cursor", x_of(at)).stroke(Stroke::new(2.0, theme.attention)),
                    );
                }
                // The logbook: a dashed line at each note (a range shaded), its author and first words at the top.
                for note in &notes {
                    let at = note.from_ms.max(window.0);
                    if let Some(to) = note.to_ms.filter(|to| *to > note.from_ms) {
                        plot_ui.span(
                            Span::new(format!("note by {}", note.author), x_of(at)..=x_of(to.min(window.1)))
                                .fill(theme.text_dim.gamma_multiply(0.08))
                                .border(Stroke::NONE),
                        );
                    }
                    plot_ui.vline(
                        egui_plot::VLine::new(format!("note by {}", note.author), x_of(at))
                            .stroke(Stroke::new(1.0, theme.text))
                            .style(LineStyle::dashed_loose()),
                    );
                    let words: String = note.text.chars().take(48).collect();
                    let more = if note.text.chars().count() > 48 { "…" } else { "" };
                    plot_ui.text(
                        egui_plot::Text::new(
                            "note",
                            egui_plot::PlotPoint::new(x_of(at), Y_MAX - (Y_MAX - Y_MIN) * 0.05),
                            RichText::new(format!(" {}: {words}{more}", note.author)).size(11.0).color(theme.text),
                        )
                        .anchor(egui::Align2::LEFT_TOP),
                    );
                }
            });
        let response_rect = *response.transform.frame();
        let bounds = response.transform.bounds();
        let hover_ms = response.response.hover_pos().map(|p| ms_of(response.transform.value_from_position(p).x));
        let double_clicked = response.response.double_clicked();
        let clicked_ms = response
            .response
            .interact_pointer_pos()
            .filter(|_| response.response.clicked())
            .map(|p| ms_of(response.transform.value_from_position(p).x));
        let _ = response.response.accessible_name("Trend plot");
        PlotOutcome {
            window: (ms_of(bounds.min()[0]), ms_of(bounds.max()[0])),
            hover_ms,
            double_clicked,
            clicked_ms,
            size_px: response_rect.size(),
        }
    }
}
