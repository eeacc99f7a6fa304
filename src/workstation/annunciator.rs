//! The workstation's annunciator: a thread that reads the alarm state (the history writer's or the site's, never
//! the window's), decides what sounds ([`Annunciator`]) and drives the [`Speaker`]. It runs whichever view is
//! shown, and while the window is minimised or not drawn at all.
//!
//! The window shares the same state through [`AnnunciatorHandle`]: it shows what sounds, and *Silence* and
//! *Mute* act on it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::analytics::annunciation::{Annunciation, Annunciator};
use crate::clock::Clock;
use crate::model::alarm::AlarmView;
use crate::workstation::sound::{AudioState, Sounds, Speaker, Wanted};

/// Where the annunciator reads the alarms from.
pub type AlarmSource = Box<dyn Fn() -> Arc<Vec<AlarmView>> + Send>;

/// How often the thread looks at the alarms.
pub const TICK: Duration = Duration::from_millis(100);
/// How long after a failed device the thread first tries to open it again (then twice as long each time, up to
/// [`REOPEN_AT_MOST`]; ALSA itself writes a few lines to stderr at each try).
const REOPEN_AFTER: Duration = Duration::from_secs(30);
const REOPEN_AT_MOST: Duration = Duration::from_secs(300);

struct Shared {
    annunciator: Mutex<Annunciator>,
    last: Mutex<Annunciation>,
    audio: Mutex<AudioState>,
    wanted: Wanted,
    /// Frames the output took since it last opened.
    frames: Arc<AtomicU64>,
    stop: AtomicBool,
    clock: Arc<dyn Clock>,
}

/// The window's side of the annunciator. Dropping the last handle stops the thread.
#[derive(Clone)]
pub struct AnnunciatorHandle {
    shared: Arc<Shared>,
    _thread: Option<Arc<StopOnDrop>>,
}

struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

impl AnnunciatorHandle {
    /// An annunciator with no thread and no sound (tests, headless use): the window drives it each frame.
    pub fn silent(annunciator: Annunciator, clock: Arc<dyn Clock>) -> Self {
        let shared = Arc::new(Shared {
            annunciator: Mutex::new(annunciator),
            last: Mutex::default(),
            audio: Mutex::new(AudioState::Unavailable("sound is off in this window".to_owned())),
            wanted: Wanted::default(),
            frames: Arc::default(),
            stop: AtomicBool::new(false),
            clock,
        });
        Self { shared, _thread: None }
    }

    /// Starts the thread: it opens the default audio device (no device: said once in the log, shown in the
    /// status bar, and tried again now and then) and plays what `source`'s alarms ask for.
    pub fn start(
        annunciator: Annunciator,
        clock: Arc<dyn Clock>,
        sounds: Sounds,
        source: AlarmSource,
    ) -> std::io::Result<Self> {
        let mut handle = Self::silent(annunciator, clock);
        if let Ok(mut audio) = handle.shared.audio.lock() {
            *audio = AudioState::Starting;
        }
        let shared = Arc::clone(&handle.shared);
        let sounds = Arc::new(sounds);
        std::thread::Builder::new().name("wf-annunciator".to_owned()).spawn(move || run(&shared, &sounds, &source))?;
        handle._thread = Some(Arc::new(StopOnDrop(Arc::clone(&handle.shared))));
        Ok(handle)
    }

    /// Re-evaluates with these alarms (the window does this each frame, so what it shows is never a tick late).
    pub fn evaluate(&self, alarms: &[AlarmView]) -> Annunciation {
        let now = self.shared.clock.now_ms();
        let out = match self.shared.annunciator.lock() {
            Ok(mut a) => a.evaluate(alarms, now),
            Err(_) => return Annunciation::default(),
        };
        self.publish(&out);
        out
    }

    fn publish(&self, out: &Annunciation) {
        self.shared.wanted.set(out.sounding);
        if let Ok(mut last) = self.shared.last.lock() {
            last.clone_from(out);
        }
    }

    /// The annunciator's clock (the silence's time left is counted on it).
    pub fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    /// What sounds now, as last evaluated.
    pub fn now(&self) -> Annunciation {
        self.shared.last.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// How many frames the audio output took since it opened: where in the device's stream a change lands.
    pub fn frames_played(&self) -> u64 {
        self.shared.frames.load(Ordering::Relaxed)
    }

    /// What the audio output is doing.
    pub fn audio(&self) -> AudioState {
        self.shared.audio.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// *Silence*: the horn stops for the silence time; nothing is acknowledged.
    pub fn silence(&self, alarms: &[AlarmView]) {
        let now = self.shared.clock.now_ms();
        if let Ok(mut a) = self.shared.annunciator.lock() {
            a.silence(alarms, now);
            tracing::info!(seconds = a.silence_ms() / 1000, "horn silenced");
        }
        self.evaluate(alarms);
    }

    pub fn muted(&self) -> bool {
        self.shared.annunciator.lock().is_ok_and(|a| a.muted())
    }

    /// Mutes or unmutes this workstation's horn.
    pub fn set_muted(&self, muted: bool, alarms: &[AlarmView]) {
        if let Ok(mut a) = self.shared.annunciator.lock() {
            a.set_muted(muted);
        }
        tracing::info!(muted, "horn {}", if muted { "muted" } else { "unmuted" });
        self.evaluate(alarms);
    }

    /// How long *Silence* lasts.
    pub fn silence_ms(&self) -> i64 {
        self.shared.annunciator.lock().map_or(0, |a| a.silence_ms())
    }
}

fn run(shared: &Arc<Shared>, sounds: &Arc<Sounds>, source: &AlarmSource) {
    let handle = AnnunciatorHandle { shared: Arc::clone(shared), _thread: None };
    let mut speaker: Option<Speaker> = None;
    let mut next_try = std::time::Instant::now();
    let mut said: Option<String> = None;
    let mut backoff = REOPEN_AFTER;
    while !shared.stop.load(Ordering::Relaxed) {
        if let Some(failure) = speaker.as_ref().and_then(Speaker::failure) {
            speaker = None;
            next_try = std::time::Instant::now() + backoff;
            set_audio(shared, AudioState::Unavailable(failure.clone()), &mut said);
        }
        if speaker.is_none() && std::time::Instant::now() >= next_try {
            shared.frames.store(0, Ordering::Relaxed);
            match Speaker::open(Arc::clone(sounds), shared.wanted.clone(), Arc::clone(&shared.frames)) {
                Ok(s) => {
                    tracing::info!(device = %s.device, "alarm sounds play on {}", s.device);
                    set_audio(shared, AudioState::Ready(s.device.clone()), &mut said);
                    speaker = Some(s);
                    backoff = REOPEN_AFTER;
                }
                Err(err) => {
                    next_try = std::time::Instant::now() + backoff;
                    backoff = (backoff * 2).min(REOPEN_AT_MOST);
                    set_audio(shared, AudioState::Unavailable(err), &mut said);
                }
            }
        }
        handle.evaluate(&source());
        std::thread::sleep(TICK);
    }
}

/// Records the audio state; a reason it cannot play is logged once, not at every retry.
fn set_audio(shared: &Shared, state: AudioState, said: &mut Option<String>) {
    if let AudioState::Unavailable(why) = &state
        && said.as_deref() != Some(why)
    {
        tracing::warn!("alarm sounds cannot play: {why}; alarms still show in every window");
        *said = Some(why.clone());
    }
    if let AudioState::Ready(_) = &state {
        *said = None;
    }
    if let Ok(mut audio) = shared.audio.lock() {
        *audio = state;
    }
}
