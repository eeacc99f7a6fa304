//! The Alarms view's history and KPI tabs: the journal of a range and its ISA-18.2 / EEMUA 191 figures, read on the
//! history reader's thread (the range picked by shift, day or week).

use super::*;

/// The range the history and the KPIs read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JournalRange {
    #[default]
    ThisShift,
    LastShift,
    Last24h,
    Last7d,
}
impl JournalRange {
    const ALL: [Self; 4] = [Self::ThisShift, Self::LastShift, Self::Last24h, Self::Last7d];

    pub(super) fn label(self) -> &'static str {
        match self {
            Self::ThisShift => "This shift",
            Self::LastShift => "Last shift",
            Self::Last24h => "Last 24 h",
            Self::Last7d => "Last 7 days",
        }
    }

    /// `[from, to)` at `now_ms`.
    pub fn bounds(self, calendar: &ShiftCalendar, now_ms: i64) -> (i64, i64) {
        match self {
            Self::ThisShift => (Period::at(calendar, now_ms).start_ms, now_ms),
            Self::LastShift => {
                let this = Period::at(calendar, now_ms);
                let last = Period::at(calendar, this.start_ms - 1);
                (last.start_ms, last.end_ms)
            }
            Self::Last24h => (now_ms - 86_400_000, now_ms),
            Self::Last7d => (now_ms - 7 * 86_400_000, now_ms),
        }
    }
}
/// The journal read for the history view at most.
pub(super) const HISTORY_ROWS: usize = 5_000;
/// How often an open history or KPI view is read again.
pub(super) const RELOAD_EVERY: Duration = Duration::from_secs(10);
pub(super) struct Loaded {
    pub(super) range: (i64, i64),
    pub(super) entries: Vec<JournalEntry>,
    pub(super) kpis: Kpis,
    /// Read from the site database, or this machine's cache (and why not the site's).
    pub(super) source: HistorySource,
}
/// One KPI: name, figure, target; amber when past the target.
pub(super) fn figure_ui(ui: &mut Ui, theme: &Theme, name: &str, value: &str, target: &str, bad: bool) {
    egui::Frame::new().fill(theme.tile).stroke(Stroke::new(1.0, theme.tile_border)).inner_margin(8.0).show(ui, |ui| {
        ui.set_min_width(130.0);
        ui.vertical(|ui| {
            ui.label(RichText::new(name).color(theme.text_dim));
            let colour = if bad { theme.attention } else { theme.text_strong };
            ui.label(RichText::new(value).size(24.0).color(colour));
            if !target.is_empty() {
                ui.label(RichText::new(target).small().color(theme.text_dim));
            }
        });
    });
}
/// Bars of alarms per 10 minutes, the flood level marked; bars above it in the alarm colour.
pub(super) fn rate_chart_ui(ui: &mut Ui, theme: &Theme, buckets: &[usize]) {
    let width = ui.available_width().min(900.0);
    let (rect, response) = ui.allocate_exact_size(vec2(width, 120.0), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, theme.tile);
    if buckets.is_empty() {
        return;
    }
    let top = buckets.iter().copied().max().unwrap_or(0).max(FLOOD_START_PER_10_MIN + 2);
    #[expect(clippy::cast_precision_loss, reason = "bucket counts and indices are small")]
    let (y_of, bar_w) =
        (|n: usize| rect.bottom() - rect.height() * (n as f32 / top as f32), rect.width() / buckets.len() as f32);
    for (i, n) in buckets.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "bucket indices are small")]
        let x = rect.left() + i as f32 * bar_w;
        let colour = if *n >= FLOOD_START_PER_10_MIN { theme.alarm } else { theme.bar_normal };
        let bar = egui::Rect::from_min_max(egui::pos2(x + 0.5, y_of(*n)), egui::pos2(x + bar_w - 0.5, rect.bottom()));
        painter.rect_filled(bar, 0.0, colour);
    }
    let flood_y = y_of(FLOOD_START_PER_10_MIN - 1);
    painter.hline(rect.x_range(), flood_y, Stroke::new(1.0, theme.limit_mark));
    painter.text(
        egui::pos2(rect.right() - 4.0, flood_y - 2.0),
        Align2::RIGHT_BOTTOM,
        "flood",
        FontId::proportional(11.0),
        theme.text_dim,
    );
    if let Some(p) = response.hover_pos() {
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a bar index on screen")]
        let i = ((p.x - rect.left()) / bar_w) as usize;
        if let Some(n) = buckets.get(i) {
            response.on_hover_text(format!("{n} alarms in 10 minutes #{}", i + 1));
        }
    }
}

impl AlarmsPanel {
    /// Reads the journal and KPIs of the range on the reader thread when the range changed or they are old.
    pub(super) fn load(&mut self, env: &ViewCtx<'_>) {
        if let Some((range, pending)) = &mut self.loading {
            match pending.poll() {
                Some(Ok((loaded, source))) => {
                    self.loaded = Some((*range, Loaded { source, ..loaded }));
                    self.loading = None;
                    self.problem = None;
                }
                Some(Err(err)) => {
                    self.problem = Some(format!("The alarm journal cannot be read: {err}"));
                    self.loading = None;
                }
                None => return,
            }
        }
        // Asked again when the range changes, and every RELOAD_EVERY (also after a failure, not every frame).
        let recent = self.asked.is_some_and(|(r, at)| r == self.range && at.elapsed() < RELOAD_EVERY);
        if recent {
            return;
        }
        let Some(history) = env.history else { return };
        let (from, to) = self.range.bounds(env.calendar(), env.now_ms);
        // A console reads the site's journal (every console's actions), its own cache while the site is away.
        let pending = history.run_history(move |h| {
            let entries = h.journal(from, to, HISTORY_ROWS)?;
            let kpis = crate::analytics::alarm_kpi::kpis(h, from, to)?;
            Ok(Loaded { range: (from, to), entries, kpis, source: HistorySource::Site })
        });
        if let Some(p) = pending {
            self.loading = Some((self.range, p));
            self.asked = Some((self.range, Instant::now()));
        }
    }
    pub(super) fn range_ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>) {
        egui::ComboBox::new("alarm_range", "Range").selected_text(self.range.label()).show_ui(ui, |ui| {
            for r in JournalRange::ALL {
                ui.selectable_value(&mut self.range, r, r.label());
            }
        });
        if let Some((_, l)) = &self.loaded {
            ui.label(
                RichText::new(format!("{} – {}", clock(l.range.0, env.timezone), clock(l.range.1, env.timezone)))
                    .color(env.theme.text_dim),
            );
            match &l.source {
                HistorySource::Site => {
                    ui.label(RichText::new("from the site database").color(env.theme.text_dim));
                }
                HistorySource::Cache { site_problem: Some(why) } => {
                    ui.label(
                        RichText::new("from this console's cache: the site database cannot be read")
                            .color(env.theme.attention),
                    )
                    .on_hover_text(why);
                }
                HistorySource::Cache { site_problem: None } => {}
            }
        }
        if self.loading.is_some() {
            ui.spinner();
        }
        if env.history.is_none() {
            ui.label(RichText::new("No history cache: the journal is not available.").color(env.theme.text_dim));
        }
        if let Some(p) = &self.problem {
            ui.label(RichText::new(p).color(env.theme.alarm));
        }
    }
    pub(super) fn history_ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>) {
        let theme = env.theme;
        ui.horizontal_wrapped(|ui| {
            self.range_ui(ui, env);
            let label = ui.label("Find");
            ui.add(egui::TextEdit::singleline(&mut self.search).hint_text("alarm, asset, user…").desired_width(160.0))
                .labelled_by(label.id);
        });
        let Some((_, loaded)) = &self.loaded else {
            return;
        };
        let needle = self.search.trim().to_lowercase();
        let rows: Vec<&JournalEntry> = loaded
            .entries
            .iter()
            .rev()
            .filter(|e| {
                needle.is_empty()
                    || [&e.rule, &e.asset, &e.source, &e.user, &e.comment, &e.message]
                        .iter()
                        .any(|s| s.to_lowercase().contains(&needle))
            })
            .collect();
        ui.label(RichText::new(format!("{} journal entries, newest first", rows.len())).color(theme.text_dim));
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
        TableBuilder::new(ui)
            .id_salt("alarm_history")
            .striped(true)
            .column(Column::auto().at_least(90.0))
            .column(Column::auto().at_least(80.0))
            .column(Column::auto().at_least(140.0))
            .column(Column::auto().at_least(140.0))
            .column(Column::auto().at_least(300.0))
            .column(Column::auto().at_least(70.0))
            .column(Column::remainder().at_least(160.0))
            .header(row_height, |mut header| {
                for title in ["Time", "Priority", "Alarm", "Asset", "Change", "User", "Comment / message"] {
                    header.col(|ui| {
                        ui.strong(title);
                    });
                }
            })
            .body(|body| {
                body.rows(row_height, rows.len(), |mut row| {
                    let e = rows[row.index()];
                    row.col(|ui| {
                        ui.label(clock(e.ts_ms, env.timezone));
                    });
                    row.col(|ui| {
                        ui.horizontal(|ui| {
                            priority_mark_ui(ui, theme, e.priority, true);
                            ui.label(e.priority.label());
                        });
                    });
                    row.col(|ui| {
                        ui.label(&e.rule);
                    });
                    row.col(|ui| {
                        ui.label(&e.asset).on_hover_text(&e.source);
                    });
                    row.col(|ui| {
                        let change = if e.from == e.to {
                            format!("{} ({})", e.to.label(), e.comment)
                        } else {
                            format!("{} (was {})", e.to.label(), e.from.label())
                        };
                        ui.label(change);
                    });
                    row.col(|ui| {
                        ui.label(if e.user.is_empty() { "system" } else { &e.user });
                    });
                    row.col(|ui| {
                        let text = match (e.comment.is_empty() || e.from == e.to, e.message.is_empty()) {
                            (false, false) => format!("\"{}\" · {}", e.comment, e.message),
                            (false, true) => format!("\"{}\"", e.comment),
                            (true, _) => e.message.clone(),
                        };
                        ui.label(text);
                    });
                });
            });
    }
    pub(super) fn kpis_ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>) {
        let theme = env.theme;
        ui.horizontal_wrapped(|ui| self.range_ui(ui, env));
        let Some((_, loaded)) = &self.loaded else {
            return;
        };
        let k = &loaded.kpis;
        egui::ScrollArea::vertical().id_salt("alarm_kpis").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                let flood_pct = k.flood_fraction * 100.0;
                figure_ui(ui, theme, "Alarms", &k.activations.to_string(), "", false);
                figure_ui(
                    ui,
                    theme,
                    "Per 10 min (mean)",
                    &format!("{:.1}", k.mean_per_10_min),
                    "target: 1 to 2",
                    k.mean_per_10_min > 2.0,
                );
                figure_ui(
                    ui,
                    theme,
                    "Per 10 min (peak)",
                    &k.max_per_10_min.to_string(),
                    "flood > 10",
                    k.max_per_10_min >= FLOOD_START_PER_10_MIN,
                );
                figure_ui(
                    ui,
                    theme,
                    "Time in flood",
                    &format!("{flood_pct:.1} %"),
                    &format!("{} floods · target < 1 %", k.floods.len()),
                    flood_pct >= 1.0,
                );
                figure_ui(
                    ui,
                    theme,
                    "Chattering",
                    &k.chattering.len().to_string(),
                    "3+ in 1 min",
                    !k.chattering.is_empty(),
                );
                figure_ui(ui, theme, "Stale", &k.stale.len().to_string(), "active > 24 h", !k.stale.is_empty());
            });
            ui.add_space(8.0);
            ui.label(RichText::new("Alarms per 10 minutes").strong());
            rate_chart_ui(ui, theme, &k.per_10_min);
            ui.label(
                RichText::new(format!(
                    "A flood starts above {} alarms in 10 minutes and ends below {}.",
                    FLOOD_START_PER_10_MIN - 1,
                    FLOOD_END_PER_10_MIN
                ))
                .color(theme.text_dim),
            );
            ui.add_space(8.0);
            ui.columns(2, |cols| {
                cols[0].label(RichText::new("Top 10 bad actors").strong());
                if k.bad_actors.is_empty() {
                    cols[0].label(RichText::new("No alarms in this range.").color(theme.text_dim));
                }
                egui::Grid::new("bad_actors").striped(true).show(&mut cols[0], |ui| {
                    for b in &k.bad_actors {
                        ui.horizontal(|ui| {
                            priority_mark_ui(ui, theme, b.priority, true);
                            ui.label(&b.rule);
                        });
                        ui.label(&b.source);
                        ui.label(format!("{} ({:.0} %)", b.activations, b.share * 100.0));
                        ui.end_row();
                    }
                });
                cols[1].label(RichText::new("Priority mix").strong());
                let total = k.activations.max(1);
                for (p, n) in &k.priority_mix {
                    cols[1].horizontal(|ui| {
                        priority_mark_ui(ui, theme, *p, true);
                        #[expect(clippy::cast_precision_loss, reason = "alarm counts are far below 2^53")]
                        let share = *n as f64 / total as f64 * 100.0;
                        ui.label(format!("{}: {n} ({share:.0} %)", p.label()));
                    });
                }
                cols[1].label(RichText::new("Healthy: about 80 % low, 15 % medium, 5 % high.").color(theme.text_dim));
                cols[1].add_space(6.0);
                cols[1].label(RichText::new("Chattering alarms").strong());
                if k.chattering.is_empty() {
                    cols[1].label(RichText::new("None.").color(theme.text_dim));
                }
                for c in &k.chattering {
                    cols[1].label(format!(
                        "{} on {}: {} in a minute, {} in all",
                        c.rule, c.source, c.max_in_window, c.activations
                    ));
                }
                cols[1].add_space(6.0);
                cols[1].label(RichText::new("Stale alarms").strong());
                if k.stale.is_empty() {
                    cols[1].label(RichText::new("None.").color(theme.text_dim));
                }
                for s in &k.stale {
                    cols[1].label(format!(
                        "{} on {}: active since {}",
                        s.rule,
                        s.source,
                        clock(s.active_since_ms, env.timezone)
                    ));
                }
            });
        });
    }
}
