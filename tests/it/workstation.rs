//! The operator's workstation: the horn from the alarm state (silence, priority, acknowledge and mute in the
//! window, and for real into a WAV file through ALSA), views popped out into their own windows with the banner,
//! and layouts kept across a restart.

use std::sync::{Arc, Mutex};

use egui_kittest::kittest::Queryable as _;
use watchfloor::analytics::alarm::Rule;
use watchfloor::analytics::annunciation::Annunciator;
use watchfloor::clock::{Clock, ManualClock};
use watchfloor::model::alarm::{AlarmState, AlarmView, Priority};
use watchfloor::model::{FeedEvent, FeedEventBody};
use watchfloor::model::{Sample, SignalId, Value};
use watchfloor::store::{Store, StoreOptions};
use watchfloor::workstation::annunciator::AnnunciatorHandle;

use crate::START_MS;

use crate::alarms::{LEVEL, TEMP};

/// A high alarm on the filler's temperature, a medium one on the tank's level.
fn rules() -> Vec<Rule> {
    crate::alarms::two_rules_with(Priority::Medium)
}

type AppHarness = egui_kittest::Harness<'static, watchfloor::app::WatchfloorApp>;

struct Rig {
    harness: AppHarness,
    bus: watchfloor::feeds::EventBus,
    store: Store,
    clock: Arc<ManualClock>,
}

/// The window on a history writer with [`rules`], its horn on a manual clock (silence lasts 60 s), keeping its
/// workstation file at `workstation`.
fn rig(dir: &std::path::Path, workstation: Option<std::path::PathBuf>) -> Rig {
    rig_with(dir, workstation, None)
}

/// [`rig`], in kiosk mode on a layout.
fn rig_with(dir: &std::path::Path, workstation: Option<std::path::PathBuf>, kiosk: Option<&str>) -> Rig {
    let path = dir.join("history.sqlite");
    let mut builder = watchfloor::feeds::EventBus::builder();
    let inbox = builder.live(256);
    let stored = builder.lossless(1_024);
    let bus = builder.build();
    let mut options = StoreOptions::new(&path);
    options.evaluator = watchfloor::analytics::recording::SiteEvaluator::boxed(rules(), Default::default(), None);
    let store = Store::start(options, stored).expect("writer");
    let clock = Arc::new(ManualClock::new(START_MS + 10_000));
    let horn = AnnunciatorHandle::silent(Annunciator::new(60_000, false), Arc::clone(&clock) as Arc<dyn Clock>);
    let parts = watchfloor::app::AppParts {
        store: Some(store.link()),
        history: Some(watchfloor::store::History::start(path).expect("reader")),
        operator: Some("anna".to_owned()),
        workstation,
        kiosk: kiosk.map(str::to_owned),
        annunciator: Some(horn),
        browsing: None,
        ..crate::app_parts(inbox, bus.clone(), Arc::clone(&clock) as Arc<dyn Clock>)
    };
    let harness = egui_kittest::Harness::builder()
        .with_size([1600.0, 1000.0])
        .build_eframe(move |cc| watchfloor::app::WatchfloorApp::new(cc, parts));
    Rig { harness, bus, store, clock }
}

impl Rig {
    fn publish(&self, signal: &str, value: f64) {
        let t = self.clock.now_ms();
        let sample = Sample::new(SignalId::new(signal), t, Value::F64(value));
        assert!(self.bus.publish_now(FeedEvent::new(Arc::from("gw"), t, FeedEventBody::Samples(vec![sample]))));
    }

    /// Runs frames until `label` shows (or is gone, with `shown` false).
    fn wait(&mut self, label: &str, shown: bool) {
        for _ in 0..400 {
            self.harness.run_steps(1);
            if self.harness.query_all_by_label_contains(label).next().is_some() == shown {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{label:?} never {}", if shown { "shown" } else { "gone" });
    }

    /// *Layout* → the name → *Save layout*.
    fn save_layout(&mut self, name: &str) {
        self.harness.get_by_label_contains("Layout").click();
        self.harness.run_steps(2);
        self.harness.get_by_label("Layout name").click();
        self.harness.run_steps(1);
        self.harness.get_by_label("Layout name").type_text(name);
        self.harness.run_steps(2);
        self.harness.get_by_label("Save layout").click();
        self.harness.run_steps(2);
    }

    fn sounding(&self) -> Option<Priority> {
        self.harness.state().annunciator().now().sounding
    }

    fn finish(self) {
        drop(self.harness);
        drop(self.bus);
        self.store.finish();
    }
}

/// The horn in the window: the most urgent waiting alarm sounds; *Silence* (F9) stops it without acknowledging;
/// a less urgent new alarm waits out the silence, a more urgent one sounds at once; the silence ends on time;
/// F10 acknowledges the oldest waiting alarm; nothing waiting, nothing sounds; mute is kept in the workstation
/// file.
#[test]
fn silence_priority_and_acknowledge_drive_the_horn() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("workstation.toml");
    let mut rig = rig(dir.path(), Some(file.clone()));
    rig.harness.run_steps(2);
    assert_eq!(rig.sounding(), None);
    rig.publish(LEVEL, 4.0);
    rig.wait("Horn: medium", true);
    assert_eq!(rig.sounding(), Some(Priority::Medium));

    rig.harness.key_press(egui::Key::F9);
    rig.wait("Horn silenced 1:00", true);
    assert_eq!(rig.sounding(), None);
    rig.harness.get_by_label("1 to acknowledge");

    // More urgent than what was silenced: sounds at once.
    rig.clock.advance_ms(1_000);
    rig.publish(TEMP, 91.0);
    rig.wait("Horn: high", true);
    assert_eq!(rig.sounding(), Some(Priority::High));
    rig.harness.get_by_label("2 to acknowledge");

    // The toolbar's Silence; the time runs out with both still waiting: the horn comes back.
    rig.harness.get_by_label("Silence").click();
    rig.wait("Horn silenced", true);
    rig.clock.advance_ms(30_000);
    rig.wait("Horn silenced 0:30", true);
    rig.clock.advance_ms(30_001);
    rig.wait("Horn: high", true);

    // F10: the oldest waiting alarm (the tank) is acknowledged, then the other one.
    rig.harness.key_press(egui::Key::F10);
    rig.wait("1 to acknowledge", true);
    assert_eq!(rig.sounding(), Some(Priority::High), "the filler still waits");
    rig.harness.key_press(egui::Key::F10);
    rig.wait("to acknowledge", false);
    rig.wait("Horn:", false);
    assert_eq!(rig.sounding(), None);

    // A new alarm sounds; muted, it does not, and the mute is kept for the next start.
    rig.publish(LEVEL, 12.0);
    rig.publish(LEVEL, 3.0);
    rig.publish(TEMP, 70.0);
    rig.clock.advance_ms(1_000);
    rig.publish(TEMP, 95.0);
    rig.wait("Horn: high", true);
    rig.harness.get_by_label("Mute").click();
    rig.wait("Horn muted", true);
    assert_eq!(rig.sounding(), None);
    rig.finish();
    let kept = std::fs::read_to_string(&file).expect("workstation file");
    assert!(kept.contains("muted = true"), "{kept}");
    let rows: Vec<(String, String)> = watchfloor::store::open_reader(&dir.path().join("history.sqlite"))
        .expect("reader")
        .prepare("SELECT rule, user FROM alarm_journal WHERE state = 'Acknowledged' ORDER BY id")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let own = |a: &str| (a.to_owned(), "anna".to_owned());
    assert_eq!(rows, [own("Tank low"), own("Filler hot")]);
}

/// A view popped out into its own window shows the banner too; an acknowledgement in that window is seen in
/// both at once; the layout saved with it comes back at the next start.
#[test]
fn a_popped_out_view_has_the_banner_and_its_layout_comes_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("workstation.toml");
    let mut rig = rig(dir.path(), Some(file.clone()));
    rig.harness.state_mut().set_view(watchfloor::app::View::Fleet);
    rig.harness.run_steps(2);
    rig.harness.get_by_label("Pop out").click();
    rig.wait("Back to main window", true);
    assert_eq!(rig.harness.state().popped_out(), vec![watchfloor::app::View::Fleet]);
    // The main window moved on to a view of its own; the tab says where the Fleet view is.
    rig.harness.run_steps(2);
    rig.harness.get_by_label("Fleet (window)");
    assert_eq!(rig.harness.state().settings().view, watchfloor::app::View::Overview);

    rig.publish(TEMP, 91.0);
    rig.wait("1 to acknowledge", true);
    assert_eq!(rig.harness.query_all_by_label("1 to acknowledge").count(), 2, "a banner in each window");
    // The popped-out window is drawn after the main one: its Acknowledge is the last.
    let last = rig.harness.query_all_by_label("Acknowledge").last().expect("the pop-out's Acknowledge");
    last.click();
    rig.wait("to acknowledge", false);
    assert_eq!(rig.harness.query_all_by_label_contains("Acknowledged · since").count(), 2, "seen in both");

    // Saved as a layout; the next start puts the Fleet view back in its own window.
    rig.save_layout("control");
    rig.finish();
    let kept = std::fs::read_to_string(&file).expect("workstation file");
    assert!(kept.contains("layout = \"control\"") && kept.contains("view = \"Fleet\""), "{kept}");

    let mut again = rig_again(dir.path(), file);
    again.harness.run_steps(3);
    assert_eq!(again.harness.state().popped_out(), vec![watchfloor::app::View::Fleet]);
    again.harness.get_by_label("Back to main window").click();
    again.harness.run_steps(2);
    assert!(again.harness.state().popped_out().is_empty());
    assert_eq!(again.harness.state().settings().view, watchfloor::app::View::Fleet);
    again.finish();
}

fn rig_again(dir: &std::path::Path, file: std::path::PathBuf) -> Rig {
    let second = dir.join("again");
    std::fs::create_dir_all(&second).expect("dir");
    rig(&second, Some(file))
}

/// The alarms a child process's horn follows, changed by its script.
type Shown = Arc<Mutex<Arc<Vec<AlarmView>>>>;

fn alarm(rule: &str, priority: Priority, state: AlarmState) -> AlarmView {
    AlarmView { active_since_ms: Some(1), ..AlarmView::new(rule, "m1", priority, state) }
}

/// The horn for real: a child process plays through ALSA's default device, routed by an `asound.conf` with a
/// `file` plugin into a WAV file. Its script: quiet; a medium alarm; *Silence*; a high alarm; both acknowledged.
/// The WAV holds silence, the medium sound (659 Hz), silence after *Silence*, the high sound (880 Hz) and
/// silence again — each checked between the stream positions the child noted at each step.
#[test]
fn the_horn_plays_into_alsa_and_silence_stops_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = dir.path().join("horn.wav");
    let conf = dir.path().join("asound.conf");
    let marks = dir.path().join("marks.txt");
    let alsa = std::path::Path::new("/usr/share/alsa/alsa.conf");
    assert!(alsa.exists(), "ALSA's configuration is missing (libasound2-data)");
    std::fs::write(
        &conf,
        format!(
            "<{}>\npcm.!default {{\n  type file\n  slave.pcm \"null\"\n  file \"{}\"\n  format \"wav\"\n}}\n",
            alsa.display(),
            wav.display()
        ),
    )
    .expect("asound.conf");
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["workstation::horn_script_in_a_child_process", "--exact", "--nocapture", "--test-threads=1"])
        .env("ALSA_CONFIG_PATH", &conf)
        .env("WATCHFLOOR_HORN_MARKS", &marks)
        .status()
        .expect("child");
    assert!(status.success(), "the child failed: {status}");
    let marks: Vec<u64> = std::fs::read_to_string(&marks)
        .expect("marks")
        .split_whitespace()
        .map(|m| m.parse().expect("a frame count"))
        .collect();
    let [raise_medium, silence, raise_high, ack, end] = marks[..] else { panic!("marks {marks:?}") };
    let (rate, samples) = read_wav(&wav);
    assert!(samples.len() as u64 >= end, "the file holds {} frames, the child played {end}", samples.len());
    // A change lands within one device period after the position noted; a tenth of a second is plenty.
    let margin = u64::from(rate) / 10;
    let part = |from: u64, to: u64| &samples[(from + margin) as usize..to as usize];
    let quiet = |s: &[f32]| s.iter().all(|v| v.abs() < 1e-4);
    assert!(quiet(part(0, raise_medium)), "silence before any alarm");
    let medium = part(raise_medium, silence);
    assert!(tone(medium, rate, 659.0) > 5.0 * tone(medium, rate, 880.0), "the medium sound");
    assert!(quiet(part(silence, raise_high)), "silence after Silence");
    let high = part(raise_high, ack);
    assert!(tone(high, rate, 880.0) > 5.0 * tone(high, rate, 659.0), "the high sound");
    assert!(quiet(part(ack, end)), "silence once acknowledged");
}

/// Run by the test above in a process of its own (ALSA reads `ALSA_CONFIG_PATH` once per process): plays the
/// script and notes the output's position at each step. Without `WATCHFLOOR_HORN_MARKS` it does nothing.
#[test]
fn horn_script_in_a_child_process() {
    let Some(marks) = std::env::var_os("WATCHFLOOR_HORN_MARKS") else { return };
    let shown: Shown = Arc::default();
    let source = {
        let shown = Arc::clone(&shown);
        Box::new(move || shown.lock().map(|s| Arc::clone(&s)).unwrap_or_default())
    };
    let clock: Arc<dyn Clock> = Arc::new(watchfloor::clock::SystemClock);
    let horn = AnnunciatorHandle::start(
        Annunciator::new(60_000, false),
        clock,
        watchfloor::workstation::sound::Sounds::default(),
        source,
    )
    .expect("annunciator");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while horn.frames_played() == 0 {
        assert!(std::time::Instant::now() < deadline, "the output never started: {:?}", horn.audio());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut noted = Vec::new();
    let set = |alarms: Vec<AlarmView>| {
        let alarms = Arc::new(alarms);
        *shown.lock().expect("lock") = Arc::clone(&alarms);
        horn.evaluate(&alarms);
    };
    let wait = |seconds: f64| std::thread::sleep(std::time::Duration::from_secs_f64(seconds));
    wait(1.0);
    let medium = alarm("Tank low", Priority::Medium, AlarmState::Unacknowledged);
    set(vec![medium.clone()]);
    noted.push(horn.frames_played());
    wait(2.0);
    horn.silence(std::slice::from_ref(&medium));
    noted.push(horn.frames_played());
    wait(1.5);
    let high = alarm("Filler hot", Priority::High, AlarmState::Unacknowledged);
    set(vec![medium.clone(), high.clone()]);
    noted.push(horn.frames_played());
    wait(2.0);
    let acked = |a: &AlarmView| AlarmView { state: AlarmState::Acknowledged, ..a.clone() };
    set(vec![acked(&medium), acked(&high)]);
    noted.push(horn.frames_played());
    wait(1.0);
    noted.push(horn.frames_played());
    drop(horn);
    // Let the thread close the stream, so the file is complete.
    wait(0.5);
    let text: Vec<String> = noted.iter().map(u64::to_string).collect();
    std::fs::write(marks, text.join(" ")).expect("marks");
}

/// The first channel of a WAV file the ALSA `file` plugin wrote (its header's sizes may be unset): rate, samples.
fn read_wav(path: &std::path::Path) -> (u32, Vec<f32>) {
    let bytes = std::fs::read(path).expect("the WAV file");
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    assert_eq!(&bytes[0..4], b"RIFF");
    let (format, channels, rate, bits) = (u16_at(20), usize::from(u16_at(22)), u32_at(24), u16_at(34));
    let data = bytes.windows(4).position(|w| w == b"data").expect("a data chunk") + 8;
    let width = usize::from(bits / 8);
    let samples = bytes[data..]
        .chunks_exact(width * channels)
        .map(|frame| match (format, bits) {
            (3, 32) => f32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]),
            (1, 32) => i32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as f32 / 2f32.powi(31),
            (1, 16) => f32::from(i16::from_le_bytes([frame[0], frame[1]])) / 32_768.0,
            other => panic!("unexpected WAV format {other:?}"),
        })
        .collect();
    (rate, samples)
}

/// The strength of one frequency in `samples` (Goertzel), per sample.
fn tone(samples: &[f32], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for x in samples {
        let s = f64::from(*x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2).sqrt() / samples.len().max(1) as f64
}

/// Kiosk mode: nothing in the window rearranges or leaves it; Ctrl+Shift+Q asks for the layout's name, and only
/// that name enables *Leave*.
#[test]
fn kiosk_mode_is_left_only_by_typing_the_layouts_name() {
    use egui_kittest::kittest::NodeT as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("workstation.toml");
    let mut first = rig(dir.path(), Some(file.clone()));
    first.harness.run_steps(2);
    first.save_layout("wall");
    first.finish();

    let second = dir.path().join("kiosk");
    std::fs::create_dir_all(&second).expect("dir");
    let mut rig = rig_with(&second, Some(file), Some("wall"));
    rig.harness.run_steps(3);
    for absent in ["Pop out", "Layout"] {
        assert!(rig.harness.query_all_by_label_contains(absent).next().is_none(), "{absent:?} in kiosk mode");
    }
    rig.harness.key_press_modifiers(egui::Modifiers::CTRL | egui::Modifiers::SHIFT, egui::Key::Q);
    rig.wait("Leave kiosk mode", true);
    assert!(rig.harness.get_by_label("Leave").accesskit_node().is_disabled());
    rig.harness.get_by_label("Layout name").type_text("wal");
    rig.harness.run_steps(2);
    assert!(rig.harness.get_by_label("Leave").accesskit_node().is_disabled(), "not the name");
    rig.harness.get_by_label("Layout name").type_text("l");
    rig.harness.run_steps(2);
    assert!(!rig.harness.get_by_label("Leave").accesskit_node().is_disabled());
    rig.harness.get_by_label("Stay").click();
    rig.wait("Leave kiosk mode", false);
    rig.finish();
}

/// With no sound device (ALSA's default pointing at a card that is not there), nothing stops: the horn says why
/// it cannot play, and still decides what would sound.
#[test]
fn with_no_sound_device_the_horn_says_so_and_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("asound.conf");
    let out = dir.path().join("out.txt");
    std::fs::write(&conf, "</usr/share/alsa/alsa.conf>\npcm.!default {\n  type hw\n  card 7\n}\n").expect("conf");
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["workstation::no_device_in_a_child_process", "--exact", "--nocapture", "--test-threads=1"])
        .env("ALSA_CONFIG_PATH", &conf)
        .env("WATCHFLOOR_HORN_NO_DEVICE", &out)
        .status()
        .expect("child");
    assert!(status.success(), "the child failed: {status}");
    let said = std::fs::read_to_string(&out).expect("the child's report");
    assert!(said.starts_with("unavailable: ") && said.ends_with("sounding: Some(High)"), "{said}");
}

/// Run by the test above in a process of its own; without `WATCHFLOOR_HORN_NO_DEVICE` it does nothing.
#[test]
fn no_device_in_a_child_process() {
    use watchfloor::workstation::sound::AudioState;
    let Some(out) = std::env::var_os("WATCHFLOOR_HORN_NO_DEVICE") else { return };
    let horn = AnnunciatorHandle::start(
        Annunciator::new(60_000, false),
        Arc::new(watchfloor::clock::SystemClock),
        watchfloor::workstation::sound::Sounds::default(),
        Box::new(|| Arc::new(vec![alarm("Filler hot", Priority::High, AlarmState::Unacknowledged)])),
    )
    .expect("annunciator");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while horn.audio() == AudioState::Starting {
        assert!(std::time::Instant::now() < deadline, "the output never said");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let report = match horn.audio() {
        AudioState::Unavailable(why) => format!("unavailable: {why}; sounding: {:?}", horn.now().sounding),
        other => format!("{other:?}"),
    };
    std::fs::write(out, report).expect("report");
}
