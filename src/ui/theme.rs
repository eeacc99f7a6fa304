//! The ISA-101 style theme (DOMAIN §5): grey, low-saturation surfaces; colour only for abnormal states and alarms,
//! always paired with a shape and text. Every colour the UI uses is a named token here, in a dark and a light
//! variant that follow the same rules.

#![expect(clippy::disallowed_methods, reason = "this module is where raw colours are allowed")]

use egui::Color32;
use serde::{Deserialize, Serialize};

/// Which variant the operator chose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThemeChoice {
    #[default]
    Dark,
    Light,
}

impl ThemeChoice {
    pub fn label(self) -> &'static str {
        match self {
            Self::Dark => "Dark",
            Self::Light => "Light",
        }
    }

    pub fn toggled(self) -> Self {
        match self {
            Self::Dark => Self::Light,
            Self::Light => Self::Dark,
        }
    }
}

/// How much a state needs an operator's eye; decides colour and shape together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Normal: grey, no colour.
    Normal,
    /// Not normal but expected (planned stop, setup, charging): grey, with its own shape.
    Info,
    /// Abnormal, needs attention (starved, blocked, low battery): amber triangle.
    Attention,
    /// Abnormal, needs action (down, critical battery, gateway error): red diamond.
    Alarm,
    /// The value is old (source lost): dim, dashed.
    Stale,
}

/// The named colour tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub choice: ThemeChoice,
    pub background: Color32,
    pub panel: Color32,
    pub tile: Color32,
    pub tile_border: Color32,
    pub text: Color32,
    pub text_dim: Color32,
    pub text_strong: Color32,
    /// Fill of analog bars in their normal range.
    pub bar_normal: Color32,
    /// The track an analog bar runs in.
    pub bar_track: Color32,
    /// Marks for range limits (battery thresholds, ideal rate).
    pub limit_mark: Color32,
    pub attention: Color32,
    pub alarm: Color32,
    /// Text drawn on an attention or alarm fill.
    pub on_colour: Color32,
    pub stale: Color32,
    pub selection: Color32,
    /// Trend pen colours, in the order pens take them. Kept apart from the alarm and attention hues (no red, orange
    /// or yellow) and spread over lightness as well as hue, so neighbours stay apart for colour-blind eyes too; pens
    /// are also numbered wherever they are shown.
    pub trend_pens: [Color32; 8],
    /// Shading over a stretch where a trended signal had no data (translucent, drawn over the plot).
    pub trend_gap: Color32,
}

impl Theme {
    pub fn for_choice(choice: ThemeChoice) -> Self {
        match choice {
            ThemeChoice::Dark => Self::dark(),
            ThemeChoice::Light => Self::light(),
        }
    }

    pub fn dark() -> Self {
        Self {
            choice: ThemeChoice::Dark,
            background: Color32::from_rgb(0x1f, 0x21, 0x24),
            panel: Color32::from_rgb(0x27, 0x2a, 0x2e),
            tile: Color32::from_rgb(0x30, 0x33, 0x38),
            tile_border: Color32::from_rgb(0x47, 0x4b, 0x52),
            text: Color32::from_rgb(0xc9, 0xcc, 0xd0),
            text_dim: Color32::from_rgb(0x8a, 0x90, 0x97),
            text_strong: Color32::from_rgb(0xee, 0xef, 0xf1),
            bar_normal: Color32::from_rgb(0x8c, 0x92, 0x99),
            bar_track: Color32::from_rgb(0x3c, 0x40, 0x45),
            limit_mark: Color32::from_rgb(0xb4, 0xb8, 0xbd),
            attention: Color32::from_rgb(0xe0, 0xa9, 0x2e),
            alarm: Color32::from_rgb(0xe5, 0x48, 0x3b),
            on_colour: Color32::from_rgb(0x14, 0x14, 0x14),
            stale: Color32::from_rgb(0x6a, 0x6f, 0x75),
            selection: Color32::from_rgb(0x4d, 0x6f, 0x99),
            trend_pens: [
                Color32::from_rgb(0x59, 0xaa, 0xf8),
                Color32::from_rgb(0x50, 0xd4, 0x92),
                Color32::from_rgb(0xf3, 0xb5, 0xf6),
                Color32::from_rgb(0x9a, 0xeb, 0xf4),
                Color32::from_rgb(0x84, 0x7a, 0xe8),
                Color32::from_rgb(0xc2, 0xed, 0xaa),
                Color32::from_rgb(0xcd, 0x6a, 0xaf),
                Color32::from_rgb(0x20, 0x99, 0x93),
            ],
            trend_gap: Color32::from_rgba_unmultiplied(0x8a, 0x90, 0x97, 0x30),
        }
    }

    pub fn light() -> Self {
        Self {
            choice: ThemeChoice::Light,
            background: Color32::from_rgb(0xdd, 0xde, 0xe0),
            panel: Color32::from_rgb(0xd2, 0xd4, 0xd7),
            tile: Color32::from_rgb(0xec, 0xed, 0xee),
            tile_border: Color32::from_rgb(0xa9, 0xad, 0xb2),
            text: Color32::from_rgb(0x2a, 0x2d, 0x31),
            text_dim: Color32::from_rgb(0x5f, 0x64, 0x6a),
            text_strong: Color32::from_rgb(0x0f, 0x10, 0x12),
            bar_normal: Color32::from_rgb(0x6e, 0x74, 0x7b),
            bar_track: Color32::from_rgb(0xc3, 0xc6, 0xca),
            limit_mark: Color32::from_rgb(0x3a, 0x3e, 0x43),
            attention: Color32::from_rgb(0xc9, 0x8b, 0x00),
            alarm: Color32::from_rgb(0xcc, 0x2a, 0x1e),
            on_colour: Color32::from_rgb(0x10, 0x10, 0x10),
            stale: Color32::from_rgb(0x8e, 0x93, 0x99),
            selection: Color32::from_rgb(0x5a, 0x7f, 0xad),
            trend_pens: [
                Color32::from_rgb(0x0e, 0x5c, 0xaf),
                Color32::from_rgb(0x0b, 0x76, 0x43),
                Color32::from_rgb(0xaf, 0x4d, 0xa9),
                Color32::from_rgb(0x00, 0x46, 0x54),
                Color32::from_rgb(0x49, 0x34, 0xa3),
                Color32::from_rgb(0x35, 0x52, 0x0b),
                Color32::from_rgb(0x78, 0x1d, 0x59),
                Color32::from_rgb(0x13, 0x82, 0x82),
            ],
            trend_gap: Color32::from_rgba_unmultiplied(0x5f, 0x64, 0x6a, 0x30),
        }
    }

    /// The colour of a severity's mark (grey for normal and info: colour is kept for what is abnormal).
    pub fn severity_colour(&self, severity: Severity) -> Color32 {
        match severity {
            Severity::Normal | Severity::Info => self.text_dim,
            Severity::Attention => self.attention,
            Severity::Alarm => self.alarm,
            Severity::Stale => self.stale,
        }
    }

    /// egui's own widgets in this theme's greys.
    pub fn visuals(&self) -> egui::Visuals {
        let mut v = match self.choice {
            ThemeChoice::Dark => egui::Visuals::dark(),
            ThemeChoice::Light => egui::Visuals::light(),
        };
        v.panel_fill = self.panel;
        v.window_fill = self.panel;
        v.faint_bg_color = self.tile;
        v.extreme_bg_color = self.background;
        v.override_text_color = Some(self.text);
        v.selection.bg_fill = self.selection;
        v.hyperlink_color = self.selection;
        v
    }

    pub fn apply(&self, ctx: &egui::Context) {
        ctx.set_visuals(self.visuals());
    }
}
