//! The Connections view: a row per gateway (state, uptime, rates, last message, errors) and an inspector with its
//! last messages, raw and decoded, and the quarantine of messages that could not be used.

use std::sync::Arc;

use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};
use jiff::tz::TimeZone;

use crate::feeds::diag::{GatewayDiag, Message, Rates};
use crate::feeds::{DiagHandle, inspect};
use crate::live::LiveState;
use crate::model::FeedState;
use crate::ui::panels::status_bar::feed_severity;
use crate::ui::theme::Theme;
use crate::ui::widgets::status_badge_ui;
use crate::ui::{UiCommand, ViewCtx, fmt_ago, fmt_count, fmt_duration_secs};

/// Bytes of a payload shown raw, and searched by the filter.
const RAW_SHOWN: usize = 4 * 1024;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InspectorTab {
    #[default]
    Messages,
    Quarantine,
    /// An OPC UA server's address space.
    Browse,
}

/// What the view remembers between frames (not between runs).
#[derive(Default)]
pub struct ConnectionsPanel {
    pub selected: Option<Arc<str>>,
    pub tab: InspectorTab,
    pub filter: String,
    /// The message shown in detail: (arrival, topic).
    pub message: Option<(i64, String)>,
    /// That message decoded and as raw text, made once rather than every frame.
    shown: Option<Shown>,
    /// Browsing OPC UA servers; `None` when the app has no gateways to browse (tests, review).
    browsing: Option<super::opcua_browse::Browsing>,
}

struct Shown {
    key: (i64, String),
    decoded: String,
    raw: String,
}

/// What one row shows, copied out of the lock.
struct Row {
    diag: GatewayDiag,
    rates: Rates,
}

fn copy_rows(diags: &[DiagHandle], now_ms: i64, with_messages: Option<&str>) -> Vec<Row> {
    diags
        .iter()
        .map(|d| {
            let g = d.lock();
            let rates = g.rates(now_ms);
            // Only the selected gateway's messages are copied (cheap: the payloads are reference-counted).
            let mut diag = GatewayDiag::new(Arc::clone(&g.name), g.kind, g.endpoint.clone());
            diag.messages = g.messages;
            diag.bytes = g.bytes;
            diag.samples = g.samples;
            diag.rejected = g.rejected;
            diag.reconnects = g.reconnects;
            diag.rebirths = g.rebirths;
            diag.connected_since_ms = g.connected_since_ms;
            diag.last_message_ms = g.last_message_ms;
            diag.last_error.clone_from(&g.last_error);
            if with_messages == Some(&*g.name) {
                diag.recent.clone_from(&g.recent);
                diag.quarantine.clone_from(&g.quarantine);
            }
            Row { diag, rates }
        })
        .collect()
}

fn fmt_rate(r: f64) -> String {
    if r >= 100.0 { format!("{r:.0}/s") } else { format!("{r:.1}/s") }
}

fn fmt_time(ms: i64, tz: &TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz.clone()).strftime("%H:%M:%S%.3f").to_string())
        .unwrap_or_else(|_| "—".to_owned())
}

fn matches(m: &Message, filter: &str) -> bool {
    if filter.is_empty() {
        return true;
    }
    let f = filter.to_lowercase();
    m.topic.to_lowercase().contains(&f)
        || m.problem.as_deref().is_some_and(|p| p.to_lowercase().contains(&f))
        || String::from_utf8_lossy(&m.payload[..m.payload.len().min(RAW_SHOWN)]).to_lowercase().contains(&f)
}

impl ConnectionsPanel {
    pub fn with_browsing(browsing: Option<super::opcua_browse::Browsing>) -> Self {
        Self { browsing, ..Self::default() }
    }

    /// Returns what the OPC UA browser asked to add.
    pub fn ui(&mut self, ui: &mut Ui, env: &ViewCtx<'_>) -> Vec<UiCommand> {
        let mut commands = Vec::new();
        let (theme, live, diags, now_ms, tz) = (env.theme, env.live, env.diagnostics, env.now_ms, env.timezone);
        if diags.is_empty() {
            ui.label(RichText::new("No gateways are configured.").color(theme.text_dim));
            return commands;
        }
        if self.selected.is_none() {
            self.selected = diags.first().map(|d| Arc::clone(&d.lock().name));
        }
        for d in diags {
            untrusted_ui(ui, theme, d);
        }
        let rows = copy_rows(diags, now_ms, self.selected.as_deref());
        ui.heading("Gateways");
        self.table_ui(ui, theme, live, &rows, now_ms);
        ui.separator();
        if let Some(row) = rows.iter().find(|r| Some(&r.diag.name) == self.selected.as_ref()) {
            self.inspector_ui(ui, theme, &row.diag, tz, &mut commands);
        }
        commands
    }

    fn table_ui(&mut self, ui: &mut Ui, theme: &Theme, live: &LiveState, rows: &[Row], now_ms: i64) {
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 8.0;
        let titles = [
            "Gateway",
            "Kind",
            "State",
            "Up",
            "Messages",
            "Samples",
            "Last message",
            "Rejected",
            "Reconnects",
            "Last error",
        ];
        TableBuilder::new(ui)
            .id_salt("connections")
            .striped(true)
            .sense(egui::Sense::click())
            .column(Column::auto().at_least(90.0))
            .column(Column::auto().at_least(70.0))
            .column(Column::auto().at_least(110.0))
            .column(Column::auto().at_least(70.0))
            .column(Column::auto().at_least(70.0))
            .column(Column::auto().at_least(70.0))
            .column(Column::auto().at_least(90.0))
            .column(Column::auto().at_least(60.0))
            .column(Column::auto().at_least(60.0))
            .column(Column::remainder().at_least(160.0))
            .header(row_height, |mut header| {
                for title in titles {
                    header.col(|ui| {
                        ui.label(RichText::new(title).strong());
                    });
                }
            })
            .body(|body| {
                body.rows(row_height, rows.len(), |mut row| {
                    let r = &rows[row.index()];
                    let d = &r.diag;
                    let selected = self.selected.as_ref() == Some(&d.name);
                    row.set_selected(selected);
                    let status = live.gateways.get(&d.name).map(|g| g.status.clone());
                    let state = status.as_ref().map_or(FeedState::Connecting, |s| s.state);
                    row.col(|ui| {
                        ui.label(RichText::new(&*d.name).strong()).on_hover_text(&d.endpoint);
                    });
                    row.col(|ui| {
                        ui.label(d.kind);
                    });
                    row.col(|ui| {
                        let text = state.label();
                        let resp = status_badge_ui(ui, theme, feed_severity(state), text);
                        if let Some(m) = status.as_ref().and_then(|s| s.message.as_deref()) {
                            resp.on_hover_text(m);
                        }
                    });
                    row.col(|ui| {
                        let up =
                            d.connected_since_ms.map_or("—".to_owned(), |t| fmt_duration_secs((now_ms - t) / 1000));
                        ui.label(up);
                    });
                    row.col(|ui| {
                        ui.label(fmt_rate(r.rates.messages_per_sec)).on_hover_text(format!(
                            "{} messages, {} bytes in all",
                            fmt_count(d.messages as i64),
                            fmt_count(d.bytes as i64)
                        ));
                    });
                    row.col(|ui| {
                        ui.label(fmt_rate(r.rates.samples_per_sec))
                            .on_hover_text(format!("{} samples in all", fmt_count(d.samples as i64)));
                    });
                    row.col(|ui| {
                        ui.label(d.last_message_ms.map_or("never".to_owned(), |t| fmt_ago(now_ms, t)));
                    });
                    row.col(|ui| {
                        let text = RichText::new(fmt_count(d.rejected as i64));
                        ui.label(if d.rejected > 0 { text.color(theme.attention) } else { text });
                    });
                    row.col(|ui| {
                        ui.label(d.reconnects.to_string()).on_hover_text(format!("{} rebirth requests", d.rebirths));
                    });
                    row.col(|ui| match &d.last_error {
                        Some((t, e)) => {
                            ui.label(format!("{} ({})", e, fmt_ago(now_ms, *t)));
                        }
                        None => {
                            ui.label(RichText::new("none").color(theme.text_dim));
                        }
                    });
                    if row.response().clicked() {
                        self.selected = Some(Arc::clone(&d.name));
                        self.message = None;
                    }
                });
            });
    }

    fn inspector_ui(
        &mut self,
        ui: &mut Ui,
        theme: &Theme,
        d: &GatewayDiag,
        tz: &TimeZone,
        commands: &mut Vec<UiCommand>,
    ) {
        let browsable = self.browsing.as_ref().is_some_and(|b| b.has(&d.name));
        if !browsable && self.tab == InspectorTab::Browse {
            self.tab = InspectorTab::Messages;
        }
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("Inspector: {}", d.name)).strong());
            ui.separator();
            let messages = format!("Messages ({})", d.recent.len());
            let quarantine = format!("Quarantine ({})", d.quarantine.len());
            ui.selectable_value(&mut self.tab, InspectorTab::Messages, messages);
            ui.selectable_value(&mut self.tab, InspectorTab::Quarantine, quarantine);
            if browsable {
                ui.selectable_value(&mut self.tab, InspectorTab::Browse, "Browse")
                    .on_hover_text("The server's address space: values, data types, status; add nodes to the config");
            }
            if self.tab == InspectorTab::Browse {
                return;
            }
            ui.separator();
            let label = ui.label("Filter messages");
            ui.add(
                egui::TextEdit::singleline(&mut self.filter).hint_text("topic, signal, reason…").desired_width(220.0),
            )
            .labelled_by(label.id);
            if !self.filter.is_empty() && ui.button("Clear").clicked() {
                self.filter.clear();
            }
        });
        let list = match self.tab {
            InspectorTab::Messages => &d.recent,
            InspectorTab::Quarantine => &d.quarantine,
            InspectorTab::Browse => {
                if let Some(browsing) = &mut self.browsing {
                    browsing.ui(ui, theme, &d.name, commands);
                }
                return;
            }
        };
        let shown: Vec<&Message> = list.iter().rev().filter(|m| matches(m, &self.filter)).collect();
        if shown.is_empty() {
            let empty = if list.is_empty() { "Nothing yet." } else { "Nothing matches the filter." };
            ui.label(RichText::new(empty).color(theme.text_dim));
            return;
        }
        let selected = self
            .message
            .as_ref()
            .and_then(|(t, topic)| shown.iter().find(|m| m.received_ms == *t && m.topic == *topic))
            .copied();
        let wide = ui.available_width() > 900.0;
        let list_width = if wide { (ui.available_width() * 0.45).max(380.0) } else { ui.available_width() };
        let list_ui = |ui: &mut Ui, this: &mut Self| {
            egui::ScrollArea::vertical()
                .id_salt("inspector_list")
                .auto_shrink([false, false])
                .max_height(if wide { f32::INFINITY } else { ui.available_height() * 0.45 })
                .show(ui, |ui| {
                    for m in &shown {
                        let mut text = format!("{}  {}  {} B", fmt_time(m.received_ms, tz), m.topic, m.size);
                        if m.samples > 0 {
                            text.push_str(&format!("  {} samples", m.samples));
                        }
                        let mut rich = RichText::new(text).monospace();
                        if m.problem.is_some() {
                            rich = rich.color(theme.attention);
                        }
                        let is_selected = selected.is_some_and(|s| std::ptr::eq(s, *m));
                        let resp = ui.selectable_label(is_selected, rich);
                        let resp = match &m.problem {
                            Some(p) => resp.on_hover_text(p),
                            None => resp,
                        };
                        if resp.clicked() {
                            this.message = Some((m.received_ms, m.topic.clone()));
                        }
                    }
                });
        };
        if let Some(m) = selected {
            let key = (m.received_ms, m.topic.clone());
            if self.shown.as_ref().is_none_or(|s| s.key != key) {
                let decoded = inspect::describe(m.format, &m.topic, &m.payload);
                let raw = inspect::raw_text(&m.payload, RAW_SHOWN);
                self.shown = Some(Shown { key, decoded, raw });
            }
        }
        let text = self.shown.as_ref().map(|s| (s.decoded.clone(), s.raw.clone()));
        let detail = selected.zip(text);
        if wide {
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.set_width(list_width);
                    list_ui(ui, self);
                });
                ui.separator();
                ui.vertical(|ui| detail_ui(ui, theme, detail));
            });
        } else {
            list_ui(ui, self);
            ui.separator();
            detail_ui(ui, theme, detail);
        }
    }
}

fn detail_ui(ui: &mut Ui, theme: &Theme, detail: Option<(&Message, (String, String))>) {
    let Some((m, (decoded, raw))) = detail else {
        ui.label(RichText::new("Select a message to see it raw and decoded.").color(theme.text_dim));
        return;
    };
    egui::ScrollArea::vertical().id_salt("inspector_detail").auto_shrink([false, false]).show(ui, |ui| {
        if let Some(p) = &m.problem {
            ui.label(RichText::new(format!("Problem: {p}")).color(theme.attention));
        }
        ui.label(RichText::new("Decoded").strong());
        ui.label(RichText::new(decoded).monospace());
        ui.add_space(6.0);
        let mut heading = format!("Raw ({} bytes", m.size);
        if m.size > RAW_SHOWN {
            heading.push_str(&format!(", first {RAW_SHOWN} shown"));
        }
        heading.push(')');
        ui.label(RichText::new(heading).strong());
        ui.label(RichText::new(raw).monospace().color(theme.text_dim));
    });
}

/// A server certificate not yet trusted: whom it names and its fingerprint, and *Trust*.
fn untrusted_ui(ui: &mut Ui, theme: &Theme, diag: &DiagHandle) {
    let (name, cert) = {
        let g = diag.lock();
        (Arc::clone(&g.name), g.untrusted.clone())
    };
    let Some(cert) = cert else { return };
    egui::Frame::new().stroke(egui::Stroke::new(2.0, theme.alarm)).inner_margin(8.0).show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            crate::ui::widgets::status_badge_ui(
                ui,
                theme,
                crate::ui::theme::Severity::Alarm,
                "Untrusted server certificate",
            );
            ui.label(RichText::new(name.as_ref()).strong());
            ui.label(format!("presents {}", cert.subject));
            ui.label(RichText::new(format!("SHA-1 {}", fingerprint(&cert.thumbprint))).monospace());
        });
        ui.horizontal_wrapped(|ui| {
            ui.label(
                RichText::new(
                    "Trust it only if this fingerprint is the server's (its administrator or its own screen shows it).",
                )
                .color(theme.text_dim),
            );
            if ui
                .button("Trust")
                .on_hover_text("Add this certificate to the trust list; the gateway connects at its next try")
                .clicked()
            {
                match crate::feeds::opcua::trust(&cert) {
                    Ok(()) => diag.lock().untrusted = None,
                    Err(err) => {
                        let now = crate::clock::wall_now_ms();
                        diag.lock().last_error = Some((now, format!("the certificate could not be trusted: {err}")));
                    }
                }
            }
        });
    });
}

/// A thumbprint as pairs of hex digits: `36:51:8C:…`.
fn fingerprint(hex: &str) -> String {
    let upper = hex.to_ascii_uppercase();
    let pairs: Vec<&str> = upper.as_bytes().chunks(2).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    pairs.join(":")
}
