use super::*;

#[test]
fn asset_overrides_and_oee_settings() {
    let cfg = parse(
        r#"[oee]
target = 0.7
small_stop = "3m"

[[machine]]
id = "PlantA/Line1/Filler"
name = "Filler 1"
line = "Bottling"
ideal_cycle_time = 2.5
target_oee = 0.8
state = "PlantA/Line1/Filler/Status"

[[line]]
id = "Bottling"
name = "Bottling line"
order = 1
target_oee = 0.75
"#,
    )
    .expect("valid");
    let a = &cfg.assets;
    assert_eq!((a.target_oee, a.small_stop_ms), (0.7, 180_000));
    let p = a.machine_path("PlantA/Line1/Filler", "Site");
    assert_eq!((p.line.as_str(), p.machine.as_str()), ("Bottling", "Filler 1"));
    assert_eq!(a.params("PlantA/Line1/Filler").ideal_cycle_secs, Some(2.5));
    assert_eq!(a.machine_target("PlantA/Line1/Capper", "Bottling"), 0.75);
    assert_eq!(a.signal_route("PlantA/Line1/Filler/Status"), Some(("PlantA/Line1/Filler", "State")));
    let err = parse("[oee]\ntarget = 85\n").expect_err("a percentage is not a fraction");
    assert!(err.to_string().contains("site.toml:2:10: oee.target = 85 is not a fraction"), "{err}");
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("site.toml"))
}

#[test]
fn alarm_rules_are_read_and_their_mistakes_located() {
    let cfg = parse(
        "[[alarm]]\nname = \"Filler overtemp\"\nsignal = \"PlantA/Line1/Filler/Temperature\"\nhi = 85.0\n\
         hihi = 95.0\ndeadband = 1.5\non_delay = \"10s\"\noff_delay = \"5s\"\npriority = \"high\"\n",
    )
    .expect("valid");
    let rule = &cfg.alarms[0];
    assert_eq!((rule.name.as_str(), rule.priority), ("Filler overtemp", crate::model::alarm::Priority::High));
    let crate::analytics::alarm::Condition::Limit(l) = rule.condition else { panic!("a limit rule") };
    assert_eq!((l.hi, l.hihi, l.deadband, l.on_delay_ms, l.off_delay_ms), (Some(85.0), Some(95.0), 1.5, 10_000, 5_000));
    let err = parse("[[alarm]]\nname = \"x\"\nsignal = \"a/b\"\n").expect_err("no limit");
    assert!(err.to_string().contains("site.toml:2:8: alarm \"x\" has no condition"), "{err}");
    let err = parse("[[alarm]]\nname = \"x\"\nsignal = \"a/b\"\nhi = 1.0\nstale = \"1m\"\n").expect_err("two");
    assert!(err.to_string().contains("more than one kind of condition"), "{err}");
    let err = parse("[[alarm]]\nname = \"x\"\nhi = 1.0\n").expect_err("no signal");
    assert!(err.to_string().contains("needs the signal"), "{err}");
    let err = parse("[[alarm]]\nname = \"x\"\nzone = \"Dock\"\n[[alarm]]\nname = \"x\"\nzone = \"Dock\"\n")
        .expect_err("twice");
    assert!(err.to_string().contains("site.toml:5:8: alarm name \"x\" is used twice"), "{err}");
    let err = parse("[[alarm]]\nname = \"x\"\nsignal = \"a/b\"\nhi = 1.0\nhihi = 0.5\n").expect_err("order");
    assert!(err.to_string().contains("in order"), "{err}");
    let err =
        parse("[[alarm]]\nname = \"x\"\nsignal = \"a/b\"\nhi = 1.0\npriority = \"severe\"\n").expect_err("priority");
    assert!(err.to_string().contains("site.toml:5:12: alarm priority \"severe\""), "{err}");
}

#[test]
fn the_horn_settings_are_read_with_files_next_to_the_config() {
    use crate::model::alarm::Priority;
    let cfg = parse("[alarms]\nsilence = \"5m\"\n[alarms.sound]\nurgent = \"klaxon.wav\"\n").expect("valid");
    assert_eq!(cfg.horn.silence_ms, 300_000);
    assert_eq!(cfg.horn.sounds, vec![(Priority::Urgent, PathBuf::from("klaxon.wav"))]);
    assert_eq!(parse("").expect("empty").horn, Horn::default());
    let err = parse("[alarms]\nsilence = \"500ms\"\n").expect_err("too short");
    assert!(err.to_string().contains("site.toml:2:11: alarms.silence must be at least 1s"), "{err}");
    let err = parse("[alarms.sound]\nsiren = \"x.wav\"\n").expect_err("no such priority");
    assert!(err.to_string().contains("siren"), "{err}");
}

#[test]
fn other_alarm_conditions_and_the_defaults_are_read() {
    use crate::analytics::alarm::{Condition, Watch};
    let cfg = parse(
        "[alarms]\nmachine_down = \"5m\"\n\
         [[alarm]]\nname = \"Tank rising\"\nsignal = \"Site/*/Level\"\nrate = 5.0\nrate_window = \"2m\"\n\
         [[alarm]]\nname = \"Dock\"\nzone = \"Loading docks\"\nwhen = \"exit\"\n\
         [[alarm]]\nname = \"Mixer silent\"\nsignal = \"Site/Mixer/Speed\"\nstale = \"5m\"\n\
         [[alarm]]\nname = \"Battery low\"\nsignal = \"*/Battery/SoC\"\nlo = 50.0\npriority = \"low\"\n",
    )
    .expect("valid");
    let c: Vec<&Condition> = cfg.alarms.iter().map(|r| &r.condition).collect();
    assert!(matches!(c[0], Condition::Rate { per_min, window_ms: 120_000, .. } if *per_min == 5.0));
    assert!(matches!(c[1], Condition::Zone { inside: false, .. }));
    assert!(matches!(c[2], Condition::Stale { after_ms: 300_000 }));
    assert_eq!(cfg.alarms[1].watch, Watch::Zone("Loading docks".into()));
    let rules = cfg.alarm_rules(&crate::model::siteplan::SitePlan::default());
    let down = rules.iter().find(|r| r.name == "Machine down").expect("default");
    assert!(matches!(down.condition, Condition::State { on_delay_ms: 300_000, .. }));
    let low: Vec<_> = rules.iter().filter(|r| r.name == "Battery low").collect();
    assert_eq!(low.len(), 1, "the configured rule replaces the default");
    assert!(matches!(low[0].condition, Condition::Limit(_)));
    let off = parse("[alarms]\ndefaults = false\n").expect("valid");
    assert!(off.alarm_rules(&crate::model::siteplan::SitePlan::default()).is_empty());
    let err = parse("[alarms]\nmachine_down = \"soon\"\n").expect_err("bad");
    assert!(err.to_string().contains("site.toml:2:16"), "{err}");
}

#[test]
fn the_map_takes_a_tile_server_geofences_and_a_debounce() {
    let cfg = parse(
        "[map]\ntiles = \"https://tile.example/{z}/{x}/{y}.png\"\ntiles_attribution = \"© Example\"\n\
         tile_cache_mb = 100\ngeofences = \"fences.geojson\"\ngeofence_debounce = \"5s\"\n",
    )
    .expect("valid");
    let tiles = cfg.tiles.expect("tiles");
    assert_eq!((tiles.attribution.as_str(), tiles.cache_mb), ("© Example", 100));
    assert_eq!(cfg.geofence_debounce_ms, 5_000);
    assert!(cfg.geofence_file.is_some_and(|p| p.ends_with("fences.geojson")));
    let err = parse("[map]\ntiles = \"https://tile.example/{z}/{x}.png\"\n").expect_err("no {y}");
    assert!(err.to_string().contains("site.toml:2:9: map.tiles"), "{err}");
    let err = parse("[map]\ngeofence_debounce = \"soon\"\n").expect_err("not a duration");
    assert!(err.to_string().contains("map.geofence_debounce"), "{err}");
}

#[test]
fn a_full_config_parses() {
    let cfg = parse(
        r#"
[site]
name = "Plant B"
timezone = "Europe/Berlin"

[fleet]
stale_after = "45s"

[battery.agv]
low = 30
critical = 12

[[gateway]]
name = "sim1"
kind = "sim"
seed = 7
speed = 60
lines = 5
vehicles = 100

[[shift]]
name = "Day"
start = "07:00"
duration = "12h"
breaks = [{ start = "12:00", duration = "45m" }]
"#,
    )
    .expect("valid config");
    assert_eq!(cfg.site.name, "Plant B");
    assert_eq!(cfg.stale_after_ms, 45_000);
    assert_eq!(cfg.battery[&VehicleKind::Agv].low_percent, 30.0);
    assert_eq!(cfg.gateways[0].kind, GatewayKind::Sim(SimGateway { seed: 7, speed: 60.0, lines: 5, vehicles: 100 }));
    assert_eq!(cfg.calendar.shifts.len(), 1);
    assert_eq!(cfg.calendar.shifts[0].duration, SignedDuration::from_hours(12));
    assert_eq!(cfg.calendar.shifts[0].breaks[0].duration, SignedDuration::from_mins(45));
}

#[test]
fn an_unknown_field_names_the_line_and_what_was_expected() {
    let err = parse("[[gateway]]\nname = \"a\"\nkidn = \"sim\"\n").expect_err("typo");
    let text = err.to_string();
    assert!(text.starts_with("site.toml:3:1: unknown field `kidn`"), "{text}");
    assert!(text.contains("expected one of"), "{text}");
}

#[test]
fn every_semantic_mistake_is_reported_with_its_line() {
    let err = parse(
        r#"[site]
timezone = "Mars/Olympus"

[[gateway]]
name = "a"
kind = "sim"
speed = 5000

[[gateway]]
name = "a"
kind = "sim"

[[gateway]]
name = "b"
kind = "modbus"

[[shift]]
name = "A"
start = "25:00"
duration = "eight hours"
"#,
    )
    .expect_err("mistakes");
    let lines: Vec<_> = err.problems.iter().map(|p| p.line.expect("line")).collect();
    assert_eq!(lines, vec![2, 7, 10, 15, 19, 20], "{err}");
    let text = err.to_string();
    assert!(text.contains("unknown time zone \"Mars/Olympus\""), "{text}");
    assert!(text.contains("speed = 5000 is out of range"), "{text}");
    assert!(text.contains("used twice"), "{text}");
    assert!(text.contains("unknown gateway kind \"modbus\""), "{text}");
    assert!(text.contains("not a time of day"), "{text}");
    assert!(text.contains("not a duration"), "{text}");
}

#[test]
fn a_syntax_error_is_located() {
    let err = parse("[site]\nname = \"unterminated\n").expect_err("syntax");
    assert_eq!(err.problems[0].line, Some(2), "{err}");
}

#[test]
fn an_empty_file_is_a_valid_config_with_defaults() {
    let cfg = parse("").expect("empty is fine");
    assert!(cfg.gateways.is_empty());
    assert_eq!(cfg.calendar.shifts.len(), 3);
}

#[test]
fn network_gateways_parse_with_their_links() {
    let cfg = parse(
        r#"
[[gateway]]
name = "plant"
kind = "sparkplug"
url = "mqtt://127.0.0.1:1883"
group = "PlantA"
host_id = "watchfloor-ops1"
stale_after = "20s"
max_payload_kb = 512

[[gateway]]
name = "line3"
kind = "mqtt-json"
url = "mqtts://broker.example:8883"
topics = ["site/line3/#"]
format = "flat"
map = { "site/line3/#" = "PlantA/Line3/", "site/oven" = "PlantA/Line3/Oven/Temperature" }
username = "ops"
password_env = "WF_MQTT_PASSWORD"

[[gateway]]
name = "yard"
kind = "http"
url = "http://10.0.0.5:8080/watchfloor"
token_env = "WF_GATEWAY_TOKEN"
max_future = "1m"
max_past_days = 7
"#,
    )
    .expect("valid config");
    let GatewayKind::Sparkplug(sp) = &cfg.gateways[0].kind else { panic!("sparkplug") };
    assert_eq!(sp.group.as_deref(), Some("PlantA"));
    assert_eq!(sp.host_id, "watchfloor-ops1");
    assert_eq!(sp.link.stale_after_ms, 20_000);
    assert_eq!(sp.link.limits.max_payload_bytes, 512 * 1024);
    let GatewayKind::MqttJson(json) = &cfg.gateways[1].kind else { panic!("mqtt-json") };
    assert!(json.link.uses_tls());
    assert_eq!(json.format, JsonFormat::Flat);
    assert_eq!(json.signal_for_topic("site/line3/labeler/temp"), "PlantA/Line3/labeler/temp");
    assert_eq!(json.signal_for_topic("site/oven"), "PlantA/Line3/Oven/Temperature");
    assert_eq!(json.signal_for_topic("other/x"), "other/x");
    let GatewayKind::Http(http) = &cfg.gateways[2].kind else { panic!("http") };
    assert_eq!(http.link.credentials.token_env.as_deref(), Some("WF_GATEWAY_TOKEN"));
    assert_eq!(http.link.limits.max_future_ms, 60_000);
    assert_eq!(http.link.limits.max_past_ms, 7 * 86_400_000);
}

#[test]
fn network_gateway_mistakes_are_located() {
    let err = parse(
        r#"[[gateway]]
name = "a"
kind = "sparkplug"
url = "http://127.0.0.1:1883"

[[gateway]]
name = "b"
kind = "http"
url = "http://user:secret@gw:80/"

[[gateway]]
name = "c"
kind = "mqtt-json"
url = "mqtt://127.0.0.1"
topics = ["a/#/b"]

[[gateway]]
name = "d"
kind = "sparkplug"
url = "mqtt://127.0.0.1"
host_id = "a/b"
ca_file = "missing-ca.pem"
"#,
    )
    .expect_err("mistakes");
    let lines: Vec<_> = err.problems.iter().map(|p| p.line.expect("line")).collect();
    assert_eq!(lines, vec![4, 9, 15, 22, 20, 21], "{err}");
    let text = err.to_string();
    assert!(text.contains("does not fit kind \"sparkplug\""), "{text}");
    assert!(text.contains("credentials do not belong in the url"), "{text}");
    assert!(!text.contains("secret"), "a password must not be echoed: {text}");
    assert!(text.contains("not an MQTT topic filter"), "{text}");
    assert!(text.contains("missing-ca.pem does not exist"), "{text}");
    assert!(text.contains("one MQTT topic level"), "{text}");
}

#[test]
fn secrets_come_from_the_environment_or_a_file() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("token");
    std::fs::write(&file, "s3cret\n").expect("write");
    let c = Credentials { token_file: Some(file), ..Credentials::default() };
    assert_eq!(c.token(), Ok(Some("s3cret".to_owned())));
    let c = Credentials { token_env: Some("WF_TEST_SURELY_UNSET_VAR".into()), ..Credentials::default() };
    assert!(c.token().expect_err("unset").to_string().contains("WF_TEST_SURELY_UNSET_VAR is not set"));
    assert_eq!(Credentials::default().password(), Ok(None));
}

#[test]
fn topic_filters_are_checked() {
    for ok in ["a/b", "a/+/c", "a/#", "#", "+"] {
        assert!(valid_topic_filter(ok), "{ok}");
    }
    for bad in ["", "a/#/b", "a+/b", "a/b#"] {
        assert!(!valid_topic_filter(bad), "{bad}");
    }
}
