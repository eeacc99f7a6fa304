//! The fleet table: a row per vehicle with kind, status, speed, battery, zone and last seen; worst first by
//! default, sortable by any column, filtered by kind, status and zone.

use std::collections::HashMap;
use std::sync::Arc;

use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};

use crate::feeds::Command;
use crate::live::{LiveState, VehicleLive};
use crate::model::Fault;
use crate::model::asset::natural_cmp;
use crate::model::vehicle::BatteryLevel;
use crate::model::{VehicleKind, VehicleStatus};
use crate::ui::theme::Severity;
use crate::ui::widgets::{battery_bar_ui, status_badge_ui};
use crate::ui::{UiCommand, ViewCtx, fmt_ago};

fn status_severity(status: VehicleStatus) -> Severity {
    match status {
        VehicleStatus::Moving | VehicleStatus::Idle => Severity::Normal,
        VehicleStatus::Charging => Severity::Info,
        VehicleStatus::Offline => Severity::Stale,
    }
}

/// What needs attention first: the fleet table's default order, and its status filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Attention {
    /// Nothing heard for longer than the stale limit.
    Stale,
    CriticalBattery,
    LowBattery,
    Idle,
    Charging,
    Moving,
}

impl Attention {
    pub const ALL: [Self; 6] =
        [Self::Stale, Self::CriticalBattery, Self::LowBattery, Self::Idle, Self::Charging, Self::Moving];

    pub fn of(live: &LiveState, v: &VehicleLive, now_ms: i64) -> Self {
        let status = live.vehicle_status(v, now_ms);
        let level = v.soc_percent.map(|soc| live.thresholds(v.kind).level(soc));
        match (status, level) {
            (VehicleStatus::Offline, _) => Self::Stale,
            (_, Some(BatteryLevel::Critical)) => Self::CriticalBattery,
            (_, Some(BatteryLevel::Low)) => Self::LowBattery,
            (VehicleStatus::Charging, _) => Self::Charging,
            (VehicleStatus::Moving, _) => Self::Moving,
            (VehicleStatus::Idle, _) => Self::Idle,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Stale => "Stale",
            Self::CriticalBattery => "Critical battery",
            Self::LowBattery => "Low battery",
            Self::Idle => "Idle",
            Self::Charging => "Charging",
            Self::Moving => "Moving",
        }
    }
}

/// A column the table sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortBy {
    /// Worst first: stale, critical battery, low battery, idle, charging, moving; then lowest battery.
    Attention,
    Name,
    Kind,
    Speed,
    Battery,
    Zone,
    LastSeen,
}

/// Which zone the table shows.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ZoneFilter {
    #[default]
    Any,
    /// Vehicles in no zone.
    None,
    In(Arc<str>),
}

/// The fleet table's order and filters.
#[derive(Clone, Debug)]
pub struct FleetTable {
    pub sort: SortBy,
    pub descending: bool,
    pub kind: Option<VehicleKind>,
    pub attention: Option<Attention>,
    pub zone: ZoneFilter,
}

impl Default for FleetTable {
    fn default() -> Self {
        Self { sort: SortBy::Attention, descending: false, kind: None, attention: None, zone: ZoneFilter::Any }
    }
}

/// The names of the zones a vehicle is in, joined.
pub fn zone_names(live: &LiveState, v: &VehicleLive) -> String {
    let fences = &live.settings.geofences.fences;
    v.zones.inside().filter_map(|i| fences.get(i)).map(|f| &*f.name).collect::<Vec<_>>().join(", ")
}

impl FleetTable {
    /// Whether the filters let `v` through.
    pub fn shows(&self, live: &LiveState, v: &VehicleLive, now_ms: i64) -> bool {
        let zone_ok = match &self.zone {
            ZoneFilter::Any => true,
            ZoneFilter::None => v.zones.inside().next().is_none(),
            ZoneFilter::In(name) => {
                let fences = &live.settings.geofences.fences;
                v.zones.inside().any(|i| fences.get(i).is_some_and(|f| f.name == *name))
            }
        };
        zone_ok
            && self.kind.is_none_or(|k| v.kind == k)
            && self.attention.is_none_or(|a| Attention::of(live, v, now_ms) == a)
    }

    /// The vehicles the filters let through, in the table's order.
    pub fn rows<'a>(&self, live: &'a LiveState, now_ms: i64) -> Vec<&'a VehicleLive> {
        // Each row's attention is worked out once, not in every comparison (thousands of vehicles, every frame).
        let mut rows: Vec<(Attention, &VehicleLive)> = live
            .vehicles()
            .filter(|v| self.shows(live, v, now_ms))
            .map(|v| (Attention::of(live, v, now_ms), v))
            .collect();
        let soc = |v: &VehicleLive| v.soc_percent.unwrap_or(f64::INFINITY);
        let zones: HashMap<&str, String> = if self.sort == SortBy::Zone {
            rows.iter().map(|(_, v)| (&*v.id, zone_names(live, v))).collect()
        } else {
            HashMap::new()
        };
        let key = |(ra, a): &(Attention, &VehicleLive), (rb, b): &(Attention, &VehicleLive)| -> std::cmp::Ordering {
            match self.sort {
                SortBy::Attention => ra.cmp(rb).then_with(|| soc(a).total_cmp(&soc(b))),
                SortBy::Name => natural_cmp(&a.path.vehicle, &b.path.vehicle),
                SortBy::Kind => a.kind.label().cmp(b.kind.label()),
                SortBy::Speed => a.speed_kmh.unwrap_or(-1.0).total_cmp(&b.speed_kmh.unwrap_or(-1.0)),
                SortBy::Battery => soc(a).total_cmp(&soc(b)),
                SortBy::Zone => zones.get(&*a.id).cmp(&zones.get(&*b.id)),
                SortBy::LastSeen => b.last_seen_ms.cmp(&a.last_seen_ms),
            }
        };
        rows.sort_unstable_by(|a, b| {
            let k = key(a, b);
            let k = if self.descending { k.reverse() } else { k };
            k.then_with(|| a.1.order.cmp(&b.1.order))
        });
        rows.into_iter().map(|(_, v)| v).collect()
    }

    /// The filter bar: kind, status and zone.
    fn filters_ui(&mut self, ui: &mut Ui, live: &LiveState, shown: usize, total: usize) {
        ui.horizontal_wrapped(|ui| {
            egui::ComboBox::new("fleet_kind", "Kind")
                .selected_text(self.kind.map_or("All kinds", VehicleKind::label))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.kind, None, "All kinds");
                    for k in VehicleKind::ALL {
                        ui.selectable_value(&mut self.kind, Some(k), k.label());
                    }
                });
            egui::ComboBox::new("fleet_status", "State")
                .selected_text(self.attention.map_or("All states", Attention::label))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.attention, None, "All states");
                    for a in Attention::ALL {
                        ui.selectable_value(&mut self.attention, Some(a), a.label());
                    }
                });
            let fences = &live.settings.geofences.fences;
            if !fences.is_empty() {
                let text = match &self.zone {
                    ZoneFilter::Any => "All zones".to_owned(),
                    ZoneFilter::None => "In no zone".to_owned(),
                    ZoneFilter::In(name) => name.to_string(),
                };
                egui::ComboBox::new("fleet_zone", "Zone").selected_text(text).show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.zone, ZoneFilter::Any, "All zones");
                    for f in fences {
                        ui.selectable_value(&mut self.zone, ZoneFilter::In(Arc::clone(&f.name)), &*f.name);
                    }
                    ui.selectable_value(&mut self.zone, ZoneFilter::None, "In no zone");
                });
            }
            let filtered = self.kind.is_some() || self.attention.is_some() || self.zone != ZoneFilter::Any;
            if filtered && ui.button("Clear filters").clicked() {
                self.kind = None;
                self.attention = None;
                self.zone = ZoneFilter::Any;
            }
            ui.label(format!("{shown} of {total} vehicles"));
        });
    }

    /// A sortable column title (the worst-first column says what worst means).
    fn header_ui(&mut self, ui: &mut Ui, title: &str, by: SortBy) {
        let response = crate::ui::widgets::sort_header_ui(ui, title, by, &mut self.sort, &mut self.descending);
        response.on_hover_text(match by {
            SortBy::Attention => "Sort worst first: stale, critical battery, low battery, idle, charging, moving",
            _ => "Sort by this column; click again to reverse",
        });
    }

    /// Draws the filters and the table; returns commands from the rows' context menus. With `selected`, a click
    /// on a vehicle's name selects it (the map shows and can follow it).
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        env: &ViewCtx<'_>,
        mut selected: Option<&mut Option<Arc<str>>>,
    ) -> Vec<UiCommand> {
        let (theme, live, now_ms, sim_gateways) = (env.theme, env.live, env.now_ms, env.sims);
        let mut commands = Vec::new();
        let total = live.vehicles.len();
        if total == 0 {
            ui.label(RichText::new("No vehicles yet: waiting for a gateway to announce them.").color(theme.text_dim));
            return commands;
        }
        let vehicles = self.rows(live, now_ms);
        self.filters_ui(ui, live, vehicles.len(), total);
        let zones = !live.settings.geofences.is_empty();
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 8.0;
        let mut table = TableBuilder::new(ui)
            .id_salt("fleet")
            .striped(true)
            .column(Column::auto().at_least(80.0))
            .column(Column::auto().at_least(70.0))
            .column(Column::auto().at_least(95.0))
            .column(Column::auto().at_least(70.0))
            .column(Column::auto().at_least(190.0));
        if zones {
            table = table.column(Column::auto().at_least(90.0));
        }
        let mut columns = vec![
            ("Vehicle", SortBy::Name),
            ("Kind", SortBy::Kind),
            ("State", SortBy::Attention),
            ("Speed", SortBy::Speed),
            ("Battery", SortBy::Battery),
        ];
        if zones {
            columns.push(("Zone", SortBy::Zone));
        }
        columns.push(("Last seen", SortBy::LastSeen));
        table
            .column(Column::remainder().at_least(90.0))
            .header(row_height, |mut header| {
                for (title, by) in columns {
                    header.col(|ui| {
                        ui.horizontal(|ui| self.header_ui(ui, title, by));
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
                        let is_selected = selected.as_deref().is_some_and(|s| s.as_deref() == Some(&*v.id));
                        let mut name = dim(v.path.vehicle.clone()).strong();
                        if is_selected {
                            name = name.background_color(theme.selection);
                        }
                        let response = ui.add(egui::Label::new(name).sense(egui::Sense::click()));
                        if response.clicked()
                            && let Some(selected) = selected.as_deref_mut()
                        {
                            *selected = Some(Arc::clone(&v.id));
                        }
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
                    if zones {
                        row.col(|ui| {
                            ui.label(dim(zone_names(live, v)));
                        });
                    }
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
}

fn vehicle_demo_menu(response: &egui::Response, v: &VehicleLive, commands: &mut Vec<UiCommand>) {
    response.context_menu(|ui| {
        let fault = if ui.button("Cut comms for 2 min (demo)").clicked() {
            Some(Fault::CutComms { vehicle: v.path.vehicle.clone(), secs: 120 })
        } else if ui.button("Drain battery to 8 % (demo)").clicked() {
            Some(Fault::DrainBattery { vehicle: v.path.vehicle.clone(), soc_percent: 8.0 })
        } else {
            None
        };
        if let Some(fault) = fault {
            commands.push(UiCommand::Feed(Command::InjectFault { gateway: Arc::clone(&v.gateway), fault }));
            ui.close();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::geofence::{Geofence, Geofences};
    use crate::live::LiveSettings;
    use crate::model::{FeedEvent, FeedEventBody};
    use crate::model::{Sample, SignalId, Value};

    /// Two vans, one parked in the depot zone for a minute, one outside it.
    fn live_with_zone() -> LiveState {
        let depot = Geofence::new("Depot", vec![[60.0, 24.0], [60.0, 24.01], [60.01, 24.01], [60.01, 24.0]]);
        let settings = LiveSettings {
            geofences: Arc::new(Geofences { fences: depot.into_iter().collect(), debounce_ms: 10_000 }),
            ..LiveSettings::default()
        };
        let mut live = LiveState::new(settings);
        for t in 0..6 {
            let ts = 1_000_000 + t * 10_000;
            let mut samples = Vec::new();
            for (name, lat) in [("VAN-01", 60.005), ("VAN-02", 60.5)] {
                let id = |m: &str| SignalId::new(format!("Site/Fleet/{name}/{m}"));
                samples.push(Sample::new(id("Position/Latitude"), ts, Value::F64(lat)));
                samples.push(Sample::new(id("Position/Longitude"), ts, Value::F64(24.005)));
                samples.push(Sample::new(id("Battery/SoC"), ts, Value::F64(80.0)));
            }
            live.apply(&FeedEvent::new(Arc::from("gw"), ts, FeedEventBody::Samples(samples)));
        }
        live
    }

    #[test]
    fn the_zone_filter_shows_the_vehicles_in_a_zone_or_in_none() {
        let live = live_with_zone();
        let now = 1_060_000;
        let names = |t: &FleetTable| t.rows(&live, now).iter().map(|v| v.path.vehicle.clone()).collect::<Vec<_>>();
        let mut table = FleetTable::default();
        assert_eq!(names(&table).len(), 2);
        table.zone = ZoneFilter::In(Arc::from("Depot"));
        assert_eq!(names(&table), ["VAN-01"]);
        table.zone = ZoneFilter::None;
        assert_eq!(names(&table), ["VAN-02"]);
        let v = live.vehicles().find(|v| v.path.vehicle == "VAN-01").expect("VAN-01");
        assert_eq!(zone_names(&live, v), "Depot");
    }
}
