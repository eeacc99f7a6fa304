//! What the history writers derive from the stream as they store it: the alarm engine, the OEE tracker behind the
//! "OEE below target" rules, and each vehicle's geofence membership — one [`SiteEvaluator`] per writer, behind the
//! store's [`Evaluator`] seam (so `store/` persists what comes out without knowing the analytics).

use std::collections::HashMap;
use std::sync::Arc;

use super::OeeTracker;
use super::alarm::{Engine, Rule};
use super::geofence::{Crossing, Geofences, VehicleZones};
use crate::model::alarm::{Alarm, AlarmState, AlarmView, Entry, OperatorState, Restored};
use crate::model::asset::AssetModel;
use crate::model::history::{Evaluator, OperatorAction, ZoneCrossing};
use crate::model::{Sample, ShiftCalendar};

/// The alarm engine, its OEE tracker and the geofences, fed by a history writer.
pub struct SiteEvaluator {
    alarms: Engine,
    /// Machines' OEE for the shift so far, for the "OEE below target" rules (only when one is configured).
    oee: Option<OeeTracker>,
    last_oee_check_ms: i64,
    geofences: Geofences,
    zones: HashMap<Arc<str>, VehicleZones>,
}

impl SiteEvaluator {
    /// The rules evaluated on every value, the zones whose crossings are journaled, and the shift calendar and
    /// asset model the OEE rules need.
    pub fn new(rules: Vec<Rule>, geofences: Geofences, oee: Option<(ShiftCalendar, Arc<AssetModel>)>) -> Self {
        let alarms = Engine::new(rules);
        let oee = oee.filter(|_| alarms.wants_oee()).map(|(calendar, assets)| OeeTracker::new(calendar, assets));
        Self { alarms, oee, last_oee_check_ms: 0, geofences, zones: HashMap::new() }
    }

    /// Boxed for a store's options.
    pub fn boxed(
        rules: Vec<Rule>,
        geofences: Geofences,
        oee: Option<(ShiftCalendar, Arc<AssetModel>)>,
    ) -> Box<dyn Evaluator> {
        Box::new(Self::new(rules, geofences, oee))
    }

    /// Every minute, each machine's OEE for the shift so far goes to the "OEE below target" rules.
    fn check_oee(&mut self, now: i64, out: &mut Vec<Entry>) {
        let Some(tracker) = &mut self.oee else { return };
        if now - self.last_oee_check_ms < 60_000 {
            return;
        }
        self.last_oee_check_ms = now;
        tracker.tick(now);
        let assets = tracker.assets();
        let machines: Vec<(String, f64, f64, i64)> = tracker
            .machines()
            .filter_map(|id| {
                let read = tracker.machine(id, now)?;
                let oee = read.totals.oee().oee?;
                let path = assets.machine_path(id, "");
                Some((id.to_owned(), oee, assets.machine_target(id, &path.line), read.totals.planned_ms))
            })
            .collect();
        for (id, oee, target, planned) in machines {
            self.alarms.oee(&id, now, (oee, target, planned), out);
        }
    }
}

impl Evaluator for SiteEvaluator {
    fn has_rules(&self) -> bool {
        !self.alarms.rules().is_empty()
    }

    fn restore(&mut self, rule: &str, source: &str, asset: &str, restored: Restored, seen: Option<(i64, f64)>) {
        self.alarms.restore(rule, source, asset, restored, seen);
    }

    fn sample(&mut self, sample: &Sample, received_ms: i64, out: &mut Vec<Entry>) {
        if let Some(tracker) = &mut self.oee
            && let Some((prefix, metric)) = tracker.assets().machine_metric(&sample.signal)
            && let Some(input) = super::history::input_of(metric, &sample.value)
        {
            let prefix: Arc<str> = Arc::from(prefix);
            tracker.push(&prefix, sample.ts_ms, input);
        }
        if self.has_rules() {
            self.alarms.sample(sample, received_ms, out);
        }
    }

    fn gateway(&mut self, gateway: &str, lost: bool, ts_ms: i64, out: &mut Vec<Entry>) {
        if self.has_rules() {
            self.alarms.gateway(gateway, lost, ts_ms, out);
        }
    }

    fn node_death(&mut self, prefix: &str, ts_ms: i64, out: &mut Vec<Entry>) {
        if let Some(tracker) = &mut self.oee {
            let machines: Vec<Arc<str>> = tracker.machines().filter(|m| m.starts_with(prefix)).map(Arc::from).collect();
            for m in machines {
                tracker.push(&m, ts_ms, super::Input::NoData);
            }
        }
        if self.has_rules() {
            self.alarms.node_death(prefix, ts_ms, out);
        }
    }

    fn has_geofences(&self) -> bool {
        !self.geofences.is_empty()
    }

    fn position(
        &mut self,
        vehicle: &str,
        (ts_ms, lat, lon): (i64, f64, f64),
        crossings: &mut Vec<ZoneCrossing>,
        out: &mut Vec<Entry>,
    ) {
        let mut found = Vec::new();
        let state = match self.zones.get_mut(vehicle) {
            Some(state) => state,
            None => self.zones.entry(Arc::from(vehicle)).or_default(),
        };
        state.push(&self.geofences, ts_ms, lat, lon, &mut found);
        for c in found {
            let zone = Arc::clone(&self.geofences.fences[c.zone].name);
            let enter = c.crossing == Crossing::Enter;
            if self.has_rules() {
                self.alarms.zone(vehicle, &zone, enter, c.ts_ms, out);
            }
            crossings.push(ZoneCrossing { ts_ms: c.ts_ms, zone, enter });
        }
    }

    fn tick(&mut self, now_ms: i64, out: &mut Vec<Entry>) {
        if !self.has_rules() {
            return;
        }
        self.check_oee(now_ms, out);
        self.alarms.tick(now_ms, out);
    }

    fn operator(&mut self, action: &OperatorAction, now: i64, out: &mut Vec<Entry>) {
        match action {
            OperatorAction::Acknowledge { indices, user, comment } => {
                for &i in indices {
                    self.alarms.acknowledge(i, now, user, comment, out);
                }
            }
            OperatorAction::Shelve { indices, for_ms, user, reason } => {
                for &i in indices {
                    self.alarms.shelve(i, now, now + for_ms, user, reason, out);
                }
            }
            OperatorAction::Unshelve { indices, user } => {
                for &i in indices {
                    self.alarms.unshelve(i, now, user, out);
                }
            }
            OperatorAction::OutOfService { indices, out: taken_out, user, comment } => {
                for &i in indices {
                    self.alarms.set_out_of_service(i, now, *taken_out, user, comment, out);
                }
            }
        }
    }

    fn views(&self) -> Vec<AlarmView> {
        (0..self.alarms.len())
            .filter_map(|i| self.alarm_at(i))
            .filter(|(view, _)| view.state != AlarmState::Normal)
            .map(|(view, _)| view)
            .collect()
    }

    fn alarm_at(&self, i: usize) -> Option<(AlarmView, Alarm)> {
        let alarm = self.alarms.alarm(i)?;
        let (rule, source, asset) = self.alarms.instance(i)?;
        let view = AlarmView {
            index: i,
            rule: rule.name.clone(),
            source: source.to_owned(),
            asset: asset.to_owned(),
            priority: rule.priority,
            state: alarm.state(),
            active: alarm.active,
            active_since_ms: alarm.active_since_ms,
            shelved_until_ms: alarm.shelved.as_ref().map(|(until, _)| *until),
            value: alarm.value,
            limit: self.alarms.limit(i),
            message: self.alarms.message(i),
        };
        Some((view, alarm.clone()))
    }

    fn operator_state(&mut self, rule: &str, source: &str, asset: &str, state: &OperatorState) {
        self.alarms.operator_state(rule, source, asset, state);
    }
}
