//! The trend panel: pens from the history cache, drawn with egui_plot.

use egui::Ui;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::live::LiveState;
use crate::store::History;
use crate::ui::theme::Theme;

/// What the trend panel reads each frame.
pub struct TrendEnv<'a> {
    pub theme: &'a Theme,
    /// `None` when there is no history cache at all.
    pub history: Option<&'a History>,
    pub live: &'a LiveState,
    pub now_ms: i64,
    pub timezone: &'a TimeZone,
}

/// The panel's state: persisted settings plus runtime state (pending queries, loaded series).
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TrendPanel {
    pub pens: Vec<String>,
}

impl TrendPanel {
    pub fn ui(&mut self, ui: &mut Ui, env: &TrendEnv<'_>) {
        let _ = env;
        ui.label(format!("{} pens", self.pens.len()));
    }
}
