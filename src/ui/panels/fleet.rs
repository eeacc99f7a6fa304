//! The fleet overview: a row per vehicle with kind, status, speed, battery and last seen.

use std::collections::HashSet;
use std::sync::Arc;

use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};

use crate::command::Command;
use crate::live::{LiveState, VehicleLive};
use crate::model::VehicleStatus;
use crate::sim::Fault;
use crate::ui::fmt_ago;
use crate::ui::theme::{Severity, Theme};
use crate::ui::widgets::{battery_bar_ui, status_badge_ui};

fn status_severity(status: VehicleStatus) -> Severity {
    match status {
        VehicleStatus::Moving | VehicleStatus::Idle => Severity::Normal,
        VehicleStatus::Charging => Severity::Info,
        VehicleStatus::Offline => Severity::Stale,
    }
}

/// Draws the fleet table; returns commands from the rows' context menus.
pub fn fleet_table_ui(
    ui: &mut Ui,
    theme: &Theme,
    live: &LiveState,
    now_ms: i64,
    sim_gateways: &HashSet<Arc<str>>,
) -> Vec<Command> {
    let mut commands = Vec::new();
    let vehicles = live.vehicles_in_order();
    if vehicles.is_empty() {
        ui.label(RichText::new("No vehicles yet: waiting for a gateway to announce them.").color(theme.text_dim));
        return commands;
    }
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 8.0;
    TableBuilder::new(ui)
        .id_salt("fleet")
        .striped(true)
        .column(Column::auto().at_least(80.0))
        .column(Column::auto().at_least(70.0))
        .column(Column::auto().at_least(95.0))
        .column(Column::auto().at_least(70.0))
        .column(Column::auto().at_least(190.0))
        .column(Column::remainder().at_least(90.0))
        .header(row_height, |mut header| {
            for title in ["Vehicle", "Kind", "State", "Speed", "Battery", "Last seen"] {
                header.col(|ui| {
                    ui.label(RichText::new(title).strong());
                });
            }
        })
        .body(|body| {
            body.rows(row_height, vehicles.len(), |mut row| {
                let v = vehicles[row.index()];
                let status = live.vehicle_status(v, now_ms);
                let stale = status == VehicleStatus::Offline;
                let dim = |text: String| {
                    if stale { RichText::new(text).color(theme.stale) } else { RichText::new(text) }
                };
                row.col(|ui| {
                    let response =
                        ui.add(egui::Label::new(dim(v.path.vehicle.clone()).strong()).sense(egui::Sense::click()));
                    if sim_gateways.contains(&v.gateway) {
                        vehicle_demo_menu(&response, v, &mut commands);
                    }
                });
                row.col(|ui| {
                    ui.label(dim(v.kind.label().to_owned()));
                });
                row.col(|ui| {
                    status_badge_ui(ui, theme, status_severity(status), status.label());
                });
                row.col(|ui| {
                    ui.label(dim(v.speed_kmh.map_or("—".to_owned(), |s| format!("{s:.0} km/h"))));
                });
                row.col(|ui| {
                    battery_bar_ui(ui, theme, v.soc_percent, live.thresholds(v.kind), v.charging, stale);
                });
                row.col(|ui| {
                    let text = fmt_ago(now_ms, v.last_seen_ms);
                    if stale {
                        status_badge_ui(ui, theme, Severity::Stale, &text);
                    } else {
                        ui.label(RichText::new(text).color(theme.text_dim));
                    }
                });
            });
        });
    commands
}

fn vehicle_demo_menu(response: &egui::Response, v: &VehicleLive, commands: &mut Vec<Command>) {
    response.context_menu(|ui| {
        let fault = if ui.button("Cut comms for 2 min (demo)").clicked() {
            Some(Fault::CutComms { vehicle: v.path.vehicle.clone(), secs: 120 })
        } else if ui.button("Drain battery to 8 % (demo)").clicked() {
            Some(Fault::DrainBattery { vehicle: v.path.vehicle.clone(), soc_percent: 8.0 })
        } else {
            None
        };
        if let Some(fault) = fault {
            commands.push(Command::InjectFault { gateway: Arc::clone(&v.gateway), fault });
            ui.close();
        }
    });
}
