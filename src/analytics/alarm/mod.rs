//! The alarm engine: rules ([`rule`]) judged on every value, gateway status, node death, geofence crossing and
//! OEE figure, with the ISA-18.2 lifecycle of [`crate::model::alarm::Alarm`] per (rule, source) — one instance
//! each, so a reconnect or a backfill never makes a second alarm. Pure: the history writer feeds it (so alarms
//! are judged with the window closed, and in `watchfloor record`) and journals what comes out as [`Entry`]s.
//!
//! Every condition ends in a [`LimitCheck`] (a boolean one as the value 1 against a `hi` of 0.5), so deadband and
//! on/off delays work the same everywhere and a delay completes with the clock ([`Engine::tick`]). Alarms of a
//! machine in a planned stop are suppressed by design while it lasts.

pub mod limit;
pub mod rule;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

pub use limit::{Change, Limit, LimitCheck, Limits};
pub use rule::{Condition, Defaults, Rule, Watch, glob};

use crate::model::alarm::{Alarm, OperatorState, Transition};
pub use crate::model::alarm::{Entry, Restored};
use crate::model::machine::metric as mm;
use crate::model::vehicle::metric as vm;
use crate::model::{MachineState, Sample, SignalId, Value, VehicleKind};

struct Instance {
    rule: usize,
    source: Arc<str>,
    asset: Arc<str>,
    check: LimitCheck,
    alarm: Alarm,
    /// Rate rules: the values within the window.
    window: VecDeque<(i64, f64)>,
    /// Stale rules: when a value last arrived (arrival time).
    seen_ms: i64,
}

/// What the engine keeps per signal id, found once.
struct SignalRoute {
    instances: Vec<usize>,
    asset: Arc<str>,
    metric: Option<&'static str>,
}

#[derive(Default)]
struct Asset {
    kind: Option<VehicleKind>,
    planned_stop: bool,
    instances: Vec<usize>,
}

/// Every rule's alarms, evaluated as inputs arrive and as time passes.
pub struct Engine {
    rules: Vec<Rule>,
    by_name: HashMap<String, usize>,
    exact: HashMap<String, Vec<usize>>,
    /// Signal rules with a pattern, and metric rules.
    scanned: Vec<usize>,
    instances: Vec<Instance>,
    keys: HashMap<(usize, Arc<str>), usize>,
    signals: HashMap<Arc<str>, SignalRoute>,
    assets: HashMap<Arc<str>, Asset>,
    /// Node-death alarms that are active, cleared by the next value under their prefix.
    dead: Vec<usize>,
    stale: Vec<usize>,
    now_ms: i64,
}

impl Engine {
    pub fn new(rules: Vec<Rule>) -> Self {
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut scanned = Vec::new();
        let mut by_name = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            by_name.entry(r.name.clone()).or_insert(i);
            match &r.watch {
                Watch::Signal(s) if !s.contains('*') => exact.entry(s.clone()).or_default().push(i),
                Watch::Signal(_) | Watch::Metric(_) => scanned.push(i),
                _ => {}
            }
        }
        Self {
            rules,
            by_name,
            exact,
            scanned,
            instances: Vec::new(),
            keys: HashMap::new(),
            signals: HashMap::new(),
            assets: HashMap::new(),
            dead: Vec::new(),
            stale: Vec::new(),
            now_ms: i64::MIN,
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How many alarm instances there are (rule × source seen so far).
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Whether any rule wants machines' OEE figures ([`Engine::oee`]).
    pub fn wants_oee(&self) -> bool {
        self.rules.iter().any(|r| matches!(r.watch, Watch::Machines))
    }

    /// Instance `i`: its rule, source and asset.
    pub fn instance(&self, i: usize) -> Option<(&Rule, &str, &str)> {
        let x = self.instances.get(i)?;
        Some((&self.rules[x.rule], &x.source, &x.asset))
    }

    /// Instance `i`'s alarm.
    pub fn alarm(&self, i: usize) -> Option<&Alarm> {
        self.instances.get(i).map(|x| &x.alarm)
    }

    /// Instance `i`'s limit in force.
    pub fn limit(&self, i: usize) -> Option<Limit> {
        self.instances.get(i).and_then(|x| x.check.level())
    }

    /// The instance of `rule` on `source`, made if it is new.
    fn instance_for(&mut self, rule: usize, source: &Arc<str>, asset: &Arc<str>) -> usize {
        if let Some(i) = self.keys.get(&(rule, Arc::clone(source))) {
            return *i;
        }
        let i = self.instances.len();
        let a = self.assets.entry(Arc::clone(asset)).or_default();
        a.instances.push(i);
        let kind = a.kind.unwrap_or(VehicleKind::Other);
        let alarm = Alarm { suppressed: a.planned_stop, ..Alarm::default() };
        let condition = &self.rules[rule].condition;
        if matches!(condition, Condition::Stale { .. }) {
            self.stale.push(i);
        }
        self.instances.push(Instance {
            rule,
            source: Arc::clone(source),
            asset: Arc::clone(asset),
            check: LimitCheck::new(condition.limits(kind)),
            alarm,
            window: VecDeque::new(),
            seen_ms: self.now_ms,
        });
        self.keys.insert((rule, Arc::clone(source)), i);
        i
    }

    /// The rules watching a signal, found the first time it is seen.
    fn route(&mut self, id: &str) -> &SignalRoute {
        if !self.signals.contains_key(id) {
            let (asset, metric) = asset_of(id);
            let source: Arc<str> = Arc::from(id);
            let mut rules: Vec<usize> = self.exact.get(id).cloned().unwrap_or_default();
            rules.extend(self.scanned.iter().copied().filter(|r| self.rules[*r].watch.matches_signal(id, metric)));
            let instances = rules.into_iter().map(|r| self.instance_for(r, &source, &asset)).collect();
            self.signals.insert(Arc::clone(&source), SignalRoute { instances, asset, metric });
        }
        &self.signals[id]
    }

    /// Puts the alarm of `rule` on `source` back as its last journal entry left it (after a restart); `last` is
    /// the newest value already judged, so replayed older data changes nothing. `false` if the rule is gone.
    pub fn restore(
        &mut self,
        rule: &str,
        source: &str,
        asset: &str,
        state: Restored,
        last: Option<(i64, f64)>,
    ) -> bool {
        let Some(i) = self.find(rule, source, asset) else { return false };
        let r = self.instances[i].rule;
        let Restored { active, acked, limit, out_of_service, shelved } = state;
        let x = &mut self.instances[i];
        x.alarm.active = active;
        x.alarm.acked = acked;
        x.alarm.out_of_service = out_of_service;
        x.alarm.shelved = shelved;
        x.check.restore(if active { limit } else { None }, last);
        if active && matches!(self.rules[r].condition, Condition::NodeDeath) {
            self.dead.push(i);
        }
        true
    }

    /// The instance of the rule named `rule` on `source` (made if the rule watches assets, gateways or zones).
    fn find(&mut self, rule: &str, source: &str, asset: &str) -> Option<usize> {
        let &r = self.by_name.get(rule)?;
        let source: Arc<str> = Arc::from(source);
        if matches!(self.rules[r].watch, Watch::Signal(_) | Watch::Metric(_)) {
            let candidates = self.route(&source).instances.clone();
            candidates.into_iter().find(|i| self.instances[*i].rule == r)
        } else {
            Some(self.instance_for(r, &source, &Arc::from(asset)))
        }
    }

    /// Takes the operator's side of an alarm as a console left it in the site database: its acknowledgement
    /// (only of the occurrence this engine knows: an older one's does not count), shelf and out of service.
    /// Nothing is journaled. `false` if the rule is gone.
    pub fn operator_state(&mut self, rule: &str, source: &str, asset: &str, state: &OperatorState) -> bool {
        let Some(i) = self.find(rule, source, asset) else { return false };
        let alarm = &mut self.instances[i].alarm;
        if alarm.active_since_ms.is_none() {
            // Restored after a takeover: the occurrence is the site's.
            alarm.active_since_ms = state.occurrence_ms;
        }
        if alarm.active_since_ms == state.occurrence_ms {
            alarm.acked = state.acked;
        }
        alarm.shelved.clone_from(&state.shelved);
        alarm.out_of_service = state.out_of_service;
        true
    }

    fn entry(&self, i: usize, transition: Transition) -> Entry {
        let x = &self.instances[i];
        let rule = &self.rules[x.rule];
        Entry {
            index: i,
            rule: rule.name.clone(),
            source: x.source.to_string(),
            asset: x.asset.to_string(),
            priority: rule.priority,
            limit: x.check.level(),
            active: x.alarm.active,
            acked: x.alarm.acked,
            shelved_until_ms: x.alarm.shelved.as_ref().map(|(until, _)| *until),
            message: self.message(i),
            transition,
        }
    }

    /// What the alarm says, with its live value: "87.2 above HI 85", "down for over 10 min".
    pub fn message(&self, i: usize) -> String {
        let Some(x) = self.instances.get(i) else { return String::new() };
        let rule = &self.rules[x.rule];
        let value = x.alarm.value;
        let level = x.check.level();
        let limits = x.check.limits;
        match &rule.condition {
            Condition::Limit(_) | Condition::Rate { .. } => {
                let unit = if matches!(rule.condition, Condition::Rate { .. }) { " /min" } else { "" };
                let v = value.map_or_else(|| "no value".to_owned(), |v| format!("{}{unit}", number(v)));
                match level {
                    Some(l) => {
                        let (word, at) = match l {
                            Limit::HiHi => ("above", limits.hihi),
                            Limit::Hi => ("above", limits.hi),
                            Limit::Lo => ("below", limits.lo),
                            Limit::LoLo => ("below", limits.lolo),
                        };
                        let at = at.map(number).unwrap_or_default();
                        format!("{v} {word} {} {at}", l.label())
                    }
                    None => v,
                }
            }
            Condition::Stale { after_ms } => format!("no value for over {}", duration(*after_ms)),
            Condition::State { states, on_delay_ms } => {
                format!("{} for over {}", states.join(" or "), duration(*on_delay_ms))
            }
            Condition::Battery { .. } => {
                let kind = self.assets.get(&x.asset).and_then(|a| a.kind).unwrap_or(VehicleKind::Other);
                let soc = value.map_or_else(|| "no value".to_owned(), |v| format!("{v:.0} %"));
                format!("SoC {soc}, limit {} % ({kind})", number(limits.lo.unwrap_or_default()))
            }
            Condition::Offline { on_delay_ms } => format!("offline for over {}", duration(*on_delay_ms)),
            Condition::NodeDeath => "node offline: its values are stale".to_owned(),
            Condition::Zone { inside, .. } => {
                let Watch::Zone(zone) = &rule.watch else { return String::new() };
                format!("{} {zone}", if *inside { "inside" } else { "outside" })
            }
            Condition::OeeBelow { .. } => {
                let oee = value.map_or_else(|| "no value".to_owned(), |v| format!("{:.0} %", v * 100.0));
                format!("OEE {oee}, target {:.0} %", limits.lo.unwrap_or_default() * 100.0)
            }
        }
    }

    fn apply_all(&mut self, i: usize, changes: [Option<Change>; 2], out: &mut Vec<Entry>) {
        for change in changes {
            self.apply(i, change, out);
        }
    }

    fn apply(&mut self, i: usize, change: Option<Change>, out: &mut Vec<Entry>) {
        let Some(change) = change else { return };
        let boolean = self.rules[self.instances[i].rule].condition.is_boolean();
        let shown = |v: f64| (!boolean).then_some(v);
        let alarm = &mut self.instances[i].alarm;
        let transition = match change {
            Change::Active { ts_ms, limit, value } => {
                let was_active = alarm.active;
                alarm.activate(ts_ms, shown(value)).or_else(|| {
                    // Already active, at another limit: the escalation or its easing is journaled too.
                    was_active.then(|| {
                        let state = alarm.state();
                        Transition {
                            ts_ms,
                            from: state,
                            to: state,
                            user: String::new(),
                            comment: limit.label().to_owned(),
                            value: shown(value),
                        }
                    })
                })
            }
            Change::Cleared { ts_ms, value } => alarm.clear(ts_ms, shown(value)),
        };
        if let Some(t) = transition {
            out.push(self.entry(i, t));
        }
    }

    /// One value (`received_ms`: when it arrived, for staleness); changes go to `out`.
    pub fn sample(&mut self, sample: &Sample, received_ms: i64, out: &mut Vec<Entry>) {
        let id = sample.signal.as_str();
        if !self.dead.is_empty() {
            self.revive(id, received_ms.max(self.now_ms), out);
        }
        let route = self.route(id);
        let (asset, metric) = (Arc::clone(&route.asset), route.metric);
        let instances = route.instances.clone();
        if metric == Some(vm::KIND)
            && let Some(k) = sample.value.as_str().map(VehicleKind::parse)
        {
            self.set_kind(&asset, k);
        }
        // A vehicle or machine is "reporting" while any of its signals arrives (a parked vehicle sends no new
        // position): asset-wide stale rules hear from every signal of the asset.
        if let Some(a) = self.assets.get(&asset) {
            let heard: Vec<usize> = a
                .instances
                .iter()
                .copied()
                .filter(|i| {
                    let rule = &self.rules[self.instances[*i].rule];
                    matches!(rule.condition, Condition::Stale { .. })
                        && matches!(rule.watch, Watch::Metric(_))
                        && !instances.contains(i)
                })
                .collect();
            for i in heard {
                let now = self.now_ms;
                let x = &mut self.instances[i];
                x.seen_ms = x.seen_ms.max(received_ms);
                if x.check.level().is_some() {
                    let changes = x.check.push(x.seen_ms.max(now), 0.0);
                    self.apply_all(i, changes, out);
                }
            }
        }
        for i in instances {
            let x = &mut self.instances[i];
            let changes = match &self.rules[x.rule].condition {
                Condition::Limit(_) | Condition::Battery { .. } => {
                    sample.value.as_f64().map_or([None, None], |v| x.check.push(sample.ts_ms, v))
                }
                Condition::Rate { window_ms, .. } => sample
                    .value
                    .as_f64()
                    .filter(|v| v.is_finite())
                    .map_or([None, None], |v| rate(x, *window_ms, sample.ts_ms, v)),
                Condition::Stale { .. } => {
                    x.seen_ms = x.seen_ms.max(received_ms);
                    if x.check.level().is_some() { x.check.push(x.seen_ms.max(self.now_ms), 0.0) } else { [None, None] }
                }
                Condition::State { states, .. } => {
                    let name = state_name(&sample.value);
                    let on = name.is_some_and(|n| states.iter().any(|s| s == n));
                    x.check.push(sample.ts_ms, f64::from(u8::from(on)))
                }
                _ => [None, None],
            };
            self.apply_all(i, changes, out);
        }
        // After the conditions (a delay the old state completed is dated before the planned stop began).
        if metric == Some(mm::STATE) {
            self.machine_state(&asset, sample.ts_ms, &sample.value, out);
        }
    }

    /// A machine's state: a planned stop suppresses its alarms by design while it lasts.
    fn machine_state(&mut self, asset: &Arc<str>, ts_ms: i64, value: &Value, out: &mut Vec<Entry>) {
        let Some(state) = state_name(value).and_then(MachineState::parse) else { return };
        let planned = state == MachineState::PlannedStop;
        let a = self.assets.entry(Arc::clone(asset)).or_default();
        if a.planned_stop == planned {
            return;
        }
        a.planned_stop = planned;
        let why = if planned { "planned stop" } else { "planned stop over" };
        for i in a.instances.clone() {
            if let Some(t) = self.instances[i].alarm.set_suppressed(ts_ms, planned, why) {
                out.push(self.entry(i, t));
            }
        }
    }

    fn set_kind(&mut self, asset: &Arc<str>, kind: VehicleKind) {
        let a = self.assets.entry(Arc::clone(asset)).or_default();
        if a.kind == Some(kind) {
            return;
        }
        a.kind = Some(kind);
        for i in a.instances.clone() {
            let x = &mut self.instances[i];
            if let Condition::Battery { .. } = &self.rules[x.rule].condition {
                x.check.limits = self.rules[x.rule].condition.limits(kind);
            }
        }
    }

    /// A value under a dead node's prefix: the node is back.
    fn revive(&mut self, id: &str, ts_ms: i64, out: &mut Vec<Entry>) {
        let mut k = 0;
        while k < self.dead.len() {
            let i = self.dead[k];
            let under = id.strip_prefix(&*self.instances[i].source).is_some_and(|r| r.starts_with(['/', '.']));
            if under {
                self.dead.swap_remove(k);
                let changes = self.instances[i].check.push(ts_ms, 0.0);
                self.apply_all(i, changes, out);
            } else {
                k += 1;
            }
        }
    }

    /// A gateway's connection state: `offline` when it is offline or in error.
    pub fn gateway(&mut self, gateway: &str, offline: bool, ts_ms: i64, out: &mut Vec<Entry>) {
        let rules: Vec<usize> = (0..self.rules.len())
            .filter(|r| matches!(&self.rules[*r].watch, Watch::Gateway(g) if g == "*" || g == gateway))
            .collect();
        let source: Arc<str> = Arc::from(gateway);
        for r in rules {
            let i = self.instance_for(r, &source, &source);
            let changes = self.instances[i].check.push(ts_ms, f64::from(u8::from(offline)));
            self.apply_all(i, changes, out);
        }
    }

    /// Every signal under `prefix` lost its source (Sparkplug node death, a lost link).
    pub fn node_death(&mut self, prefix: &str, ts_ms: i64, out: &mut Vec<Entry>) {
        let rules: Vec<usize> = (0..self.rules.len()).filter(|r| self.rules[*r].watch == Watch::Node).collect();
        let source: Arc<str> = Arc::from(prefix.trim_end_matches(['/', '.']));
        for r in rules {
            let i = self.instance_for(r, &source, &source);
            let changes = self.instances[i].check.push(ts_ms, 1.0);
            if self.instances[i].check.level().is_some() && !self.dead.contains(&i) {
                self.dead.push(i);
            }
            self.apply_all(i, changes, out);
        }
    }

    /// A vehicle is now inside (or outside) a zone, from its debounced geofence crossing.
    pub fn zone(&mut self, vehicle: &str, zone: &str, inside: bool, ts_ms: i64, out: &mut Vec<Entry>) {
        let rules: Vec<(usize, bool)> = (0..self.rules.len())
            .filter_map(|r| match (&self.rules[r].watch, &self.rules[r].condition) {
                (Watch::Zone(z), Condition::Zone { inside: on_inside, .. }) if z == zone => Some((r, *on_inside)),
                _ => None,
            })
            .collect();
        let source: Arc<str> = Arc::from(vehicle);
        for (r, on_inside) in rules {
            let i = self.instance_for(r, &source, &source);
            let changes = self.instances[i].check.push(ts_ms, f64::from(u8::from(inside == on_inside)));
            self.apply_all(i, changes, out);
        }
    }

    /// A machine's OEE over the shift so far (`oee` a fraction), its target, and how much planned time is in.
    pub fn oee(&mut self, machine: &str, ts_ms: i64, reading: (f64, f64, i64), out: &mut Vec<Entry>) {
        let (oee, target, planned_ms) = reading;
        let rules: Vec<usize> = (0..self.rules.len())
            .filter(|r| match &self.rules[*r].condition {
                Condition::OeeBelow { min_planned_ms, .. } => planned_ms >= *min_planned_ms,
                _ => false,
            })
            .collect();
        let source: Arc<str> = Arc::from(machine);
        for r in rules {
            let i = self.instance_for(r, &source, &source);
            if let Condition::OeeBelow { target: None, .. } = self.rules[r].condition {
                self.instances[i].check.limits.lo = Some(target);
            }
            let changes = self.instances[i].check.push(ts_ms, oee);
            self.apply_all(i, changes, out);
        }
    }

    /// Time passes: delays complete, silent signals go stale, shelves end.
    pub fn tick(&mut self, now_ms: i64, out: &mut Vec<Entry>) {
        self.now_ms = self.now_ms.max(now_ms);
        for k in 0..self.stale.len() {
            let i = self.stale[k];
            let x = &mut self.instances[i];
            let Condition::Stale { after_ms } = self.rules[x.rule].condition else { continue };
            if x.seen_ms == i64::MIN {
                // Made before the clock first ticked (restored at start): its silence counts from now.
                x.seen_ms = now_ms;
                continue;
            }
            if x.check.level().is_none() && now_ms.saturating_sub(x.seen_ms) >= after_ms {
                let changes = x.check.push(x.seen_ms + after_ms, 1.0);
                self.apply_all(i, changes, out);
            }
        }
        for i in 0..self.instances.len() {
            let change = self.instances[i].check.tick_clock(now_ms, CLOCK_SLACK_MS);
            self.apply(i, change, out);
            if let Some(t) = self.instances[i].alarm.tick(now_ms) {
                out.push(self.entry(i, t));
            }
        }
    }

    /// The operator acknowledges instance `i`'s alarm.
    pub fn acknowledge(&mut self, i: usize, ts_ms: i64, user: &str, comment: &str, out: &mut Vec<Entry>) {
        if let Some(t) = self.instances.get_mut(i).and_then(|x| x.alarm.acknowledge(ts_ms, user, comment)) {
            out.push(self.entry(i, t));
        }
    }

    /// The operator shelves instance `i`'s alarm until `until_ms`, saying why.
    pub fn shelve(&mut self, i: usize, ts_ms: i64, until_ms: i64, user: &str, reason: &str, out: &mut Vec<Entry>) {
        if let Some(t) = self.instances.get_mut(i).and_then(|x| x.alarm.shelve(ts_ms, until_ms, user, reason)) {
            out.push(self.entry(i, t));
        }
    }

    /// Maintenance takes instance `i`'s alarm out of service (or returns it).
    pub fn set_out_of_service(
        &mut self,
        i: usize,
        ts_ms: i64,
        out_of_service: bool,
        user: &str,
        comment: &str,
        out: &mut Vec<Entry>,
    ) {
        if let Some(t) =
            self.instances.get_mut(i).and_then(|x| x.alarm.set_out_of_service(ts_ms, out_of_service, user, comment))
        {
            out.push(self.entry(i, t));
        }
    }

    /// The operator takes instance `i`'s alarm off the shelf before its time.
    pub fn unshelve(&mut self, i: usize, ts_ms: i64, user: &str, out: &mut Vec<Entry>) {
        if let Some(t) = self.instances.get_mut(i).and_then(|x| x.alarm.unshelve(ts_ms, user, "unshelved")) {
            out.push(self.entry(i, t));
        }
    }
}

/// How far behind the clock a held value may be for the clock to complete its delay: older values are backfill
/// or a replay, and their delays are completed by the values that follow.
const CLOCK_SLACK_MS: i64 = 60_000;

/// The rate of change over the window, in units per minute, once the window is half full.
fn rate(x: &mut Instance, window_ms: i64, ts_ms: i64, v: f64) -> [Option<Change>; 2] {
    if x.window.back().is_some_and(|(t, _)| ts_ms <= *t) {
        return [None, None];
    }
    x.window.push_back((ts_ms, v));
    while x.window.front().is_some_and(|(t, _)| *t < ts_ms - window_ms) {
        x.window.pop_front();
    }
    let Some(&(t0, v0)) = x.window.front() else { return [None, None] };
    if ts_ms - t0 < window_ms / 2 {
        return [None, None];
    }
    #[expect(clippy::cast_precision_loss, reason = "a window in milliseconds is far below 2^53")]
    let per_min = (v - v0) / ((ts_ms - t0) as f64) * 60_000.0;
    x.check.push(ts_ms, per_min)
}

/// A machine state's wire name from a string or an integer code.
fn state_name(value: &Value) -> Option<&'static str> {
    match value {
        Value::I64(code) => MachineState::from_code(*code).map(MachineState::as_str),
        other => other.as_str().and_then(MachineState::parse).map(MachineState::as_str),
    }
}

/// The asset a signal belongs to (a vehicle's or machine's prefix, else the id without its last segment) and
/// the known metric it carries.
pub fn asset_of(id: &str) -> (Arc<str>, Option<&'static str>) {
    let sid = SignalId::from(id);
    if let Some((prefix, metric)) = sid.split_known_metric(vm::ALL).or_else(|| sid.split_known_metric(mm::ALL)) {
        return (Arc::from(prefix), Some(metric));
    }
    let prefix = id.rfind(['/', '.']).map_or(id, |at| &id[..at]);
    (Arc::from(prefix), None)
}

/// A number as people read it: no trailing zeros, at most two decimals.
fn number(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A delay as people say it: "30 s", "10 min", "2 h".
pub fn duration(ms: i64) -> String {
    match ms {
        ms if ms % 3_600_000 == 0 && ms > 0 => format!("{} h", ms / 3_600_000),
        ms if ms % 60_000 == 0 && ms > 0 => format!("{} min", ms / 60_000),
        #[expect(clippy::cast_precision_loss, reason = "a delay in milliseconds is far below 2^53")]
        ms => format!("{} s", number(ms as f64 / 1000.0)),
    }
}

#[cfg(test)]
mod tests;
