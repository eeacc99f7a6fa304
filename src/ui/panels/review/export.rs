//! What review writes: the shift report (HTML, workbook, JSON) and a recording of the range, with progress.

use super::*;

/// A recording of the reviewed range being written, on its own thread.
pub(super) struct Exporting {
    /// (steps done, steps in all)
    pub(super) progress: Arc<(AtomicU64, AtomicU64)>,
    pub(super) cancel: Arc<AtomicBool>,
    pub(super) result: std::sync::mpsc::Receiver<Result<(PathBuf, ExportSummary), String>>,
}
/// A short "written" link (the bar keeps its layout); the path on hover, copied on a click.
pub(super) fn written_ui(ui: &mut Ui, label: &str, path: &std::path::Path, what: &str) {
    let response = ui.link(label).on_hover_text(format!("{}\n{what}\nClick to copy the path", path.display()));
    if response.clicked() {
        ui.ctx().copy_text(path.display().to_string());
    }
}
/// A small progress bar for `done` of `total` steps, with its percentage.
pub(super) fn progress_bar_ui(ui: &mut Ui, done: u64, total: u64) -> egui::Response {
    #[expect(clippy::cast_precision_loss, reason = "a fraction for a progress bar")]
    let fraction = if total == 0 { 0.0 } else { done as f32 / total as f32 };
    ui.add(egui::ProgressBar::new(fraction).desired_width(120.0).show_percentage())
}

impl Review {
    /// Starts writing a recording of the reviewed range from the cache at `db`.
    pub(super) fn start_export(&mut self, db: PathBuf, out: PathBuf, ctx: &egui::Context) {
        let Some((_, info)) = self.export_to.clone() else { return };
        // A console reviewing the site exports the site's rows; a dropped file is exported from itself.
        let site = self.site.clone().filter(|_| self.source.is_none());
        let progress: Arc<(AtomicU64, AtomicU64)> = Arc::default();
        let cancel: Arc<AtomicBool> = Arc::default();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let (p, c, ctx, range) = (Arc::clone(&progress), Arc::clone(&cancel), ctx.clone(), (self.from_ms, self.to_ms));
        let spawned = std::thread::Builder::new().name("wf-export".to_owned()).spawn(move || {
            let mut report = |done: u64, total: u64| {
                p.0.store(done, Ordering::Relaxed);
                p.1.store(total, Ordering::Relaxed);
                ctx.request_repaint();
            };
            let result = out
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .map_err(|e| format!("{}: {e}", out.display()))
                .and_then(|()| match &site {
                    Some(target) => {
                        let mut client = target.connect_blocking("watchfloor-export").map_err(|e| e.to_string())?;
                        let info = RecordingInfo { source: target.display_url(), ..info };
                        crate::store::export::export_from(&mut client, &out, range, &info, &mut report, &c)
                            .map_err(|e| e.to_string())
                    }
                    None => crate::store::export::export(&db, &out, range, &info, &mut report, &c)
                        .map_err(|e| e.to_string()),
                });
            let _ = tx.send(result.map(|summary| (out, summary)));
            ctx.request_repaint();
        });
        match spawned {
            Ok(_) => self.exporting = Some(Exporting { progress, cancel, result: rx }),
            Err(e) => self.export_written = Some(Err(format!("the export could not start: {e}"))),
        }
    }
    /// `<what>-<from>-to-<to>` in site time, for the files written of the reviewed range.
    pub(super) fn file_stem(&self, what: &str, tz: &TimeZone) -> String {
        let stamp = |ms: i64| crate::ui::fmt_local(ms, tz, "%Y%m%d-%H%M");
        format!("{what}-{}-to-{}", stamp(self.from_ms), stamp(self.to_ms))
    }
    /// A file name for a recording of the reviewed range, not yet taken, in `dir`.
    pub(super) fn export_path(&self, dir: &std::path::Path, tz: &TimeZone) -> PathBuf {
        let stem = self.file_stem("recording", tz);
        let mut path = dir.join(format!("{stem}.wfrec"));
        for n in 2..1000 {
            if !path.exists() {
                break;
            }
            path = dir.join(format!("{stem}-{n}.wfrec"));
        }
        path
    }
    /// Writes the report of the reviewed range on the reader thread.
    pub(super) fn request_report(&mut self, history: &History, name: String) {
        let Some((dir, site)) = self.reports.clone() else { return };
        let (settings, range, title) = (self.settings.clone(), (self.from_ms, self.to_ms), self.title.clone());
        self.report_cancel = Arc::default();
        self.report_progress = Arc::default();
        let (cancel, progress) = (Arc::clone(&self.report_cancel), Arc::clone(&self.report_progress));
        // A console's report reads the site database, as its review does.
        self.report = history.run_backend(move |conn| {
            let fleet = crate::analytics::fleet::FleetParams {
                geofences: (*settings.geofences).clone(),
                stale_after_ms: settings.stale_after_ms,
            };
            let mut step = |done: u64, of: u64| {
                progress.0.store(done, Ordering::Relaxed);
                progress.1.store(of, Ordering::Relaxed);
                !cancel.load(Ordering::Relaxed)
            };
            let (assets, calendar) = (&settings.assets, &settings.calendar);
            let history = conn.as_history();
            let report = crate::analytics::report::full(history, assets, calendar, &site, &fleet, range, &mut step)
                .map_err(|source| crate::store::Error::History { path: "history".into(), source })?;
            let Some(report) = report.filter(|_| !cancel.load(Ordering::Relaxed)) else {
                return Err(crate::store::Error::NotWritable { path: dir.clone(), reason: "cancelled".to_owned() });
            };
            let html =
                crate::analytics::report_html::render(&report, &format!("Report: {title}"), report.alarms.as_ref());
            let write = |path: &std::path::Path, bytes: &[u8]| {
                std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(path, bytes))
                    .map_err(|e| crate::store::Error::NotWritable { path: path.to_owned(), reason: e.to_string() })
            };
            let stem = dir.join(&name);
            let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
            write(&stem.with_extension("json"), &json)?;
            // The CSV forms, as `watchfloor report --format csv --section oee|vehicles|alarms` prints them.
            let mut csvs: Vec<(&str, Vec<u8>)> = vec![("oee", Vec::new()), ("vehicles", Vec::new())];
            let _ = crate::analytics::report::write_csv(&report, &mut csvs[0].1);
            let _ = crate::analytics::fleet::write_csv(&report.vehicles, &mut csvs[1].1);
            if let Some(kpis) = &report.alarms {
                let mut bytes = Vec::new();
                let _ = crate::analytics::alarm_kpi::write_csv(kpis, &mut bytes);
                csvs.push(("alarms", bytes));
            }
            for (section, bytes) in csvs {
                let name = format!("{}-{section}.csv", stem.file_name().unwrap_or_default().to_string_lossy());
                write(&dir.join(name), &bytes)?;
            }
            // The workbook, as `watchfloor report --format xlsx` writes it.
            match crate::analytics::report_xlsx::render(&report, &format!("Report: {title}")) {
                Ok(bytes) => write(&stem.with_extension("xlsx"), &bytes)?,
                Err(err) => tracing::warn!("the report's workbook was not made: {err}"),
            }
            let html_path = stem.with_extension("html");
            write(&html_path, html.as_bytes())?;
            Ok(html_path)
        });
    }
    /// *Export recording*: progress and *Cancel* while it runs, then the file written.
    pub(super) fn export_ui(&mut self, ui: &mut Ui, theme: &Theme, tz: &TimeZone) {
        let Some((dir, _)) = &self.export_to else { return };
        if let Some(job) = &self.exporting {
            let (done, total) = (job.progress.0.load(Ordering::Relaxed), job.progress.1.load(Ordering::Relaxed));
            progress_bar_ui(ui, done, total).on_hover_text("Writing the recording");
            if ui.button("Cancel export").clicked() {
                job.cancel.store(true, Ordering::Relaxed);
            }
        } else if ui
            .button("Export recording")
            .on_hover_text("Write this range, with the config and site plan, to a .wfrec file to open elsewhere")
            .clicked()
        {
            self.export_asked = Some(self.export_path(&dir.clone(), tz));
        }
        match &self.export_written {
            Some(Ok((path, summary))) => {
                let what = format!("{} samples, {} MB", summary.samples, summary.bytes / 1_000_000);
                written_ui(ui, "Recording written", path, &what);
            }
            Some(Err(e)) => {
                ui.label(RichText::new(format!("No recording: {e}")).color(theme.alarm));
            }
            None => {}
        }
        ui.separator();
    }
}
