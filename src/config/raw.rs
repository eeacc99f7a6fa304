//! The config file as written: serde's view of the TOML, with spans for messages. [`super::check`] turns it
//! into the validated [`super::Config`].

use super::*;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub(super) site: RawSite,
    pub(super) fleet: RawFleet,
    pub(super) history: RawHistory,
    pub(super) site_db: Option<RawSiteDb>,
    pub(super) battery: BTreeMap<Spanned<String>, RawBattery>,
    pub(super) gateway: Vec<RawGateway>,
    pub(super) shift: Vec<RawShift>,
    pub(super) oee: RawOee,
    pub(super) machine: Vec<RawMachine>,
    pub(super) line: Vec<RawLine>,
    pub(super) map: RawMap,
    pub(super) alarm: Vec<RawAlarm>,
    pub(super) alarms: RawAlarms,
    pub(super) reports: Option<scheduled::RawReports>,
    pub(super) notify: Option<scheduled::RawNotify>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAlarms {
    pub(super) defaults: Option<bool>,
    pub(super) machine_down: Option<Spanned<String>>,
    pub(super) gateway_offline: Option<Spanned<String>>,
    pub(super) oee_window: Option<Spanned<String>>,
    /// How long *Silence* stops the horn.
    pub(super) silence: Option<Spanned<String>>,
    /// A WAV file per priority in place of the built-in sound.
    pub(super) sound: RawSounds,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSounds {
    pub(super) urgent: Option<String>,
    pub(super) high: Option<String>,
    pub(super) medium: Option<String>,
    pub(super) low: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlarm {
    pub(super) name: Spanned<String>,
    pub(super) signal: Option<String>,
    pub(super) rate: Option<Spanned<f64>>,
    pub(super) rate_window: Option<Spanned<String>>,
    pub(super) stale: Option<Spanned<String>>,
    pub(super) state: Option<Spanned<String>>,
    pub(super) zone: Option<String>,
    pub(super) when: Option<Spanned<String>>,
    pub(super) gateway: Option<String>,
    pub(super) hi: Option<f64>,
    pub(super) hihi: Option<f64>,
    pub(super) lo: Option<f64>,
    pub(super) lolo: Option<f64>,
    pub(super) deadband: Option<Spanned<f64>>,
    pub(super) on_delay: Option<Spanned<String>>,
    pub(super) off_delay: Option<Spanned<String>>,
    pub(super) priority: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMap {
    pub(super) site_plan: Option<Spanned<String>>,
    pub(super) geofences: Option<Spanned<String>>,
    pub(super) geofence_debounce: Option<Spanned<String>>,
    pub(super) tiles: Option<Spanned<String>>,
    pub(super) tiles_attribution: Option<String>,
    pub(super) tile_cache_mb: Option<u64>,
    pub(super) pmtiles: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawOee {
    pub(super) target: Option<Spanned<f64>>,
    pub(super) small_stop: Option<Spanned<String>>,
    pub(super) startup_window: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMachine {
    pub(super) id: Spanned<String>,
    pub(super) name: Option<String>,
    pub(super) line: Option<String>,
    pub(super) area: Option<String>,
    pub(super) order: Option<i64>,
    pub(super) ideal_cycle_time: Option<Spanned<f64>>,
    pub(super) target_oee: Option<Spanned<f64>>,
    pub(super) small_stop: Option<Spanned<String>>,
    pub(super) state: Option<String>,
    pub(super) reason: Option<String>,
    pub(super) total: Option<String>,
    pub(super) good: Option<String>,
    pub(super) reject: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLine {
    pub(super) id: Spanned<String>,
    pub(super) name: Option<String>,
    pub(super) area: Option<String>,
    pub(super) order: Option<i64>,
    pub(super) target_oee: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSite {
    pub(super) name: Option<String>,
    pub(super) timezone: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawFleet {
    pub(super) stale_after: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHistory {
    pub(super) raw_days: Option<u32>,
    pub(super) rollup_1m_days: Option<u32>,
    pub(super) rollup_1h_days: Option<u32>,
    pub(super) max_size_mb: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSiteDb {
    pub(super) url: Spanned<String>,
    pub(super) password_env: Option<String>,
    pub(super) password_file: Option<String>,
    pub(super) sslmode: Option<Spanned<String>>,
    pub(super) ca_file: Option<String>,
    pub(super) raw_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBattery {
    pub(super) low: Spanned<f64>,
    pub(super) critical: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGateway {
    pub(super) name: Spanned<String>,
    pub(super) kind: Spanned<String>,
    pub(super) seed: Option<u64>,
    pub(super) speed: Option<Spanned<f64>>,
    pub(super) lines: Option<Spanned<usize>>,
    pub(super) vehicles: Option<Spanned<usize>>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) group: Option<String>,
    pub(super) host_id: Option<Spanned<String>>,
    pub(super) topics: Option<Spanned<Vec<String>>>,
    pub(super) format: Option<Spanned<String>>,
    pub(super) map: Option<BTreeMap<String, String>>,
    pub(super) username: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) password_file: Option<String>,
    pub(super) token_env: Option<String>,
    pub(super) token_file: Option<String>,
    pub(super) ca_file: Option<Spanned<String>>,
    pub(super) cert_file: Option<Spanned<String>>,
    pub(super) key_file: Option<Spanned<String>>,
    pub(super) stale_after: Option<Spanned<String>>,
    pub(super) max_payload_kb: Option<Spanned<usize>>,
    pub(super) max_future: Option<Spanned<String>>,
    pub(super) max_past_days: Option<Spanned<u32>>,
    /// OPC UA: the security policy and mode.
    pub(super) security: Option<Spanned<String>>,
    pub(super) mode: Option<Spanned<String>>,
    /// OPC UA: folders whose variables are mapped by their browse names.
    pub(super) folders: Option<Vec<String>>,
    /// OPC UA: signal id → node id.
    pub(super) nodes: Option<BTreeMap<String, String>>,
    /// OPC UA: the monitored items' sampling interval, queue size, absolute deadband, and percent deadband (of
    /// the node's `EURange`, for the nodes that have one).
    pub(super) sampling: Option<Spanned<String>>,
    pub(super) queue_size: Option<Spanned<u32>>,
    pub(super) deadband: Option<Spanned<f64>>,
    pub(super) deadband_percent: Option<Spanned<f64>>,
    /// OPC UA: an item silent this long is shown stale while the others flow.
    pub(super) item_stale_after: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShift {
    pub(super) name: Spanned<String>,
    pub(super) start: Spanned<String>,
    pub(super) duration: Spanned<String>,
    #[serde(default)]
    pub(super) breaks: Vec<RawBreak>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBreak {
    pub(super) start: Spanned<String>,
    pub(super) duration: Spanned<String>,
}
