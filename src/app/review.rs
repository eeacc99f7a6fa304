//! Review in the window: started from the top bar, from a recording dropped onto the window (read through its own
//! reader), or at start on a cache opened read-only; left with *Back to live*.

use super::*;

/// A dropped file being opened: its reader, name, and its review range and what it carries as a recording.
pub(super) type Opening =
    (History, String, Pending<(Option<(i64, i64, bool)>, Option<crate::store::export::RecordingInfo>)>);

impl WatchfloorApp {
    /// The review, when one is open.
    pub fn review(&self) -> Option<&crate::ui::panels::review::Review> {
        self.review.as_ref()
    }
    /// Leaves the review: every view shows the present again (*Back to live*).
    pub fn back_to_live(&mut self) {
        self.review = None;
    }
    /// Opens a review of `[from, to]` at `at` (the *Review* button does this for the current shift).
    pub fn start_review(&mut self, range: (i64, i64), at_ms: i64, title: String) {
        self.review = Some(self.new_review(range, at_ms, title));
    }
    pub(super) fn new_review(&self, range: (i64, i64), at_ms: i64, title: String) -> crate::ui::panels::review::Review {
        let mut review = crate::ui::panels::review::Review::new(self.live.settings.clone(), range, at_ms, title);
        if let Some(dir) = &self.reports_dir {
            review = review.with_reports(dir.clone(), self.site_name.clone());
        }
        if let Some((dir, info)) = &self.recordings {
            review = review.with_export(dir.clone(), info.clone());
        }
        if let Some(site) = &self.desk.site {
            review = review.with_site(site.target().clone());
        }
        review
    }
    /// Opens a recording (or another cache) dropped onto the window, in review, through its own reader.
    pub fn open_file(&mut self, path: std::path::PathBuf, ctx: &egui::Context) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match History::start_reviewing(path) {
            Ok(history) => {
                let ctx = ctx.clone();
                history.set_waker(Arc::new(move || ctx.request_repaint()));
                let extent = history.run(|conn| {
                    let sql = crate::store::query::sqlite_error(conn);
                    let extent = crate::store::export::review_extent(conn).map_err(sql)?;
                    let info =
                        crate::store::export::recording_info(conn).map_err(crate::store::query::sqlite_error(conn))?;
                    Ok((extent, info))
                });
                if let Some(extent) = extent {
                    self.opening = Some((history, name, extent));
                }
            }
            Err(err) => self.problems.push(format!("{name} cannot be opened: {err}")),
        }
    }
    /// Finishes opening a dropped file once its range is known.
    pub(super) fn poll_opening(&mut self) {
        let Some((_, _, pending)) = &mut self.opening else { return };
        let Some(result) = pending.poll() else { return };
        let Some((history, name, _)) = self.opening.take() else { return };
        match result {
            Ok((Some((from, to, recording)), info)) => {
                let title = format!("{} {name}", if recording { "Recording" } else { "Cache" });
                let mut review = self.new_review((from, to), from, title).with_source(history.clone());
                if let Some((dir, own)) = &self.recordings {
                    // A part of a dropped recording carries its config and plan; of a dropped cache, this window's.
                    let source = history.path().display().to_string();
                    let info = RecordingInfo { source, ..info.unwrap_or_else(|| own.clone()) };
                    review = review.with_export(dir.clone(), info);
                }
                self.review = Some(review);
            }
            Ok((None, _)) => self.problems.push(format!("{name} holds no data to review")),
            Err(err) => self.problems.push(format!("{name} cannot be opened: {err}")),
        }
    }
}
