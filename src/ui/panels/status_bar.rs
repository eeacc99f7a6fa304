//! The status bar: each gateway's state, machines running and down, vehicles moving, charging and offline, and the
//! site clock and the history cache.

use egui::{RichText, Ui};
use jiff::tz::TimeZone;

use crate::live::LiveState;
use crate::model::FeedState;
use crate::store::{StoreState, StoreStatus};
use crate::ui::theme::{Severity, Theme};
use crate::ui::widgets::status_badge_ui;
use crate::ui::{fmt_ago, fmt_count, fmt_site_clock};

pub fn feed_severity(state: FeedState) -> Severity {
    match state {
        FeedState::Live => Severity::Normal,
        FeedState::Connecting => Severity::Info,
        FeedState::Stale => Severity::Attention,
        FeedState::Offline | FeedState::Error => Severity::Alarm,
    }
}

/// What the status bar says about the history cache.
#[derive(Clone, Debug)]
pub enum HistoryIndicator {
    None,
    /// Recording into the cache, with the writer's status.
    Recording(StoreStatus),
    /// Reviewing another cache read-only (`--db`).
    Reviewing(std::path::PathBuf),
}

/// A console's link to the site database: connected (alarms are the site's), or not (and for how long).
fn site_ui(ui: &mut Ui, theme: &Theme, site: &crate::store::site::ConsoleStatus) {
    let (severity, text) = match (site.connected, site.error) {
        (true, _) if site.leader.is_none() => (Severity::Attention, "Site: no recorder leads".to_owned()),
        (true, _) => (Severity::Normal, "Site: connected".to_owned()),
        (false, true) => (Severity::Alarm, "Site: error".to_owned()),
        (false, false) => (Severity::Attention, "Site: unreachable".to_owned()),
    };
    let mut tip = format!("Alarm state and the alarm journal from the site database\n{}", site.url);
    if let Some(message) = &site.message {
        tip.push_str(&format!("\n{message}"));
    }
    if let Some((host, _)) = &site.leader {
        tip.push_str(&format!("\nAlarms judged by the recorder on {host}"));
    }
    if !site.pending.is_empty() {
        tip.push_str(&format!("\n{} action(s) pending", site.pending.len()));
    }
    status_badge_ui(ui, theme, severity, &text).on_hover_text(tip);
}

fn history_ui(ui: &mut Ui, theme: &Theme, history: &HistoryIndicator) {
    match history {
        HistoryIndicator::None => {}
        HistoryIndicator::Reviewing(path) => {
            let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into());
            status_badge_ui(ui, theme, Severity::Info, &format!("Reviewing {name}"))
                .on_hover_text(format!("{}\nRead-only: nothing is recorded into it.", path.display()));
        }
        HistoryIndicator::Recording(status) => {
            let severity = match status.state {
                StoreState::Recording | StoreState::Opening | StoreState::Stopped => Severity::Info,
                StoreState::Refused | StoreState::Failing => Severity::Alarm,
            };
            #[expect(clippy::cast_precision_loss)]
            let mb = status.size_bytes as f64 / 1_048_576.0;
            let text = format!("History: {} · {mb:.1} MB", status.state.label());
            let mut tip = format!(
                "{}\n{} samples stored, {} duplicates skipped, {} not stored\n{} batches, {} rows removed by retention",
                status.path.display(),
                fmt_count(i64::try_from(status.stored_samples).unwrap_or(i64::MAX)),
                status.duplicate_samples,
                status.lost_samples,
                status.batches,
                status.pruned_rows
            );
            if let Some(m) = &status.message {
                tip.push_str(&format!("\n{m}"));
            }
            status_badge_ui(ui, theme, severity, &text).on_hover_text(tip);
        }
    }
}

/// Where the window's data comes from, for the right of the status bar.
pub struct StatusSources<'a> {
    pub history: &'a HistoryIndicator,
    /// The site database, on a console.
    pub site: Option<&'a crate::store::site::ConsoleStatus>,
    /// Why alarm sounds cannot play, if they cannot.
    pub no_sound: Option<&'a str>,
}

pub fn status_bar_ui(
    ui: &mut Ui,
    theme: &Theme,
    live: &LiveState,
    now_ms: i64,
    (site_name, tz): (&str, &TimeZone),
    sources: &StatusSources<'_>,
) -> bool {
    let (history, site) = (sources.history, sources.site);
    let mut open_connections = false;
    ui.horizontal(|ui| {
        if live.gateways.is_empty() {
            status_badge_ui(ui, theme, Severity::Info, "No gateways");
        }
        for (name, gw) in &live.gateways {
            let text = format!("{name}: {}", gw.status.state.label());
            let badge = status_badge_ui(ui, theme, feed_severity(gw.status.state), &text);
            let mut tip = format!(
                "{} since {}\n{} messages, {} samples, {} rejected",
                gw.status.state.label(),
                fmt_ago(now_ms, gw.since_ms),
                gw.messages,
                gw.samples,
                gw.rejected
            );
            if let Some(msg) = &gw.status.message {
                tip.push_str(&format!("\n{msg}"));
            }
            if let Some((_, reason)) = gw.recent_rejects.back() {
                tip.push_str(&format!("\nlast rejected: {reason}"));
            }
            tip.push_str("\nClick for the Connections view.");
            if badge.interact(egui::Sense::click()).on_hover_text(tip).clicked() {
                open_connections = true;
            }
        }
        ui.separator();

        let s = live.summary(now_ms);
        ui.label("Machines");
        ui.label(RichText::new(format!("{} running", s.machines_running)).strong());
        let down = format!("{} down", s.machines_down);
        if s.machines_down > 0 {
            status_badge_ui(ui, theme, Severity::Alarm, &down);
        } else {
            ui.label(down);
        }
        ui.label(RichText::new(format!("of {}", s.machines)).color(theme.text_dim));
        ui.separator();

        ui.label("Vehicles");
        ui.label(RichText::new(format!("{} moving", s.vehicles_moving)).strong());
        ui.label(format!("{} charging", s.vehicles_charging));
        let offline = format!("{} offline", s.vehicles_offline);
        if s.vehicles_offline > 0 {
            status_badge_ui(ui, theme, Severity::Stale, &offline);
        } else {
            ui.label(offline);
        }
        ui.label(RichText::new(format!("of {}", s.vehicles)).color(theme.text_dim));

        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            ui.label(RichText::new(fmt_site_clock(now_ms, tz)).monospace().strong());
            ui.label(RichText::new(site_name).color(theme.text_dim));
            history_ui(ui, theme, history);
            if let Some(site) = site {
                site_ui(ui, theme, site);
            }
            if let Some(why) = sources.no_sound {
                status_badge_ui(ui, theme, Severity::Attention, "No alarm sound")
                    .on_hover_text(format!("Alarm sounds cannot play: {why}
Alarms still show in every window."));
            }
            if live.stats.rejected > 0 || live.stats.coalesced > 0 {
                ui.label(
                    RichText::new(format!("{} rejected · {} coalesced", live.stats.rejected, live.stats.coalesced))
                        .small()
                        .color(theme.text_dim),
                )
                .on_hover_text("Rejected: values that could not be used (see the gateway's tooltip).\nCoalesced: values replaced by newer ones before the screen showed them.");
            }
        });
    });
    open_connections
}
