//! The horn: one output stream on the default audio device (cpal), looping the sound of the priority asked for.
//!
//! The stream runs from start to stop and plays silence when nothing sounds, so a horn starts within one buffer
//! and a device that goes away is noticed. A sink that does not keep time (ALSA's `null` or `file` plugins, as
//! the tests use) would otherwise be fed as fast as the CPU goes: [`Pacer`] notices that and holds the callback
//! to the wall clock, so such a sink records in real time and no core spins.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use crate::model::alarm::Priority;

/// A mono sound, looped while its priority sounds.
#[derive(Clone, Debug)]
pub struct Clip {
    samples: Arc<[f32]>,
    rate: u32,
}

impl Clip {
    /// Reads a WAV file's bytes (PCM 8–32 bit or float; channels mixed to mono).
    pub fn from_wav(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|err| err.to_string())?;
        let spec = reader.spec();
        let channels = usize::from(spec.channels.max(1));
        let interleaved: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>(),
            hound::SampleFormat::Int => {
                let scale = 2f32.powi(i32::from(spec.bits_per_sample.clamp(1, 32)) - 1);
                reader.samples::<i32>().map(|s| s.map(|v| v as f32 / scale)).collect::<Result<_, _>>()
            }
        }
        .map_err(|err| err.to_string())?;
        let samples: Vec<f32> = interleaved
            .chunks(channels)
            .map(|frame| (frame.iter().sum::<f32>() / frame.len() as f32).clamp(-1.0, 1.0))
            .collect();
        if samples.is_empty() || spec.sample_rate == 0 {
            return Err("it holds no sound".to_owned());
        }
        Ok(Self { samples: samples.into(), rate: spec.sample_rate })
    }

    /// Reads a WAV file.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        Self::from_wav(&bytes).map_err(|err| format!("{} is not a usable WAV file: {err}", path.display()))
    }

    /// The sound shipped for a priority (`assets/sounds/`, built into the binary).
    pub fn builtin(priority: Priority) -> Self {
        let bytes: &[u8] = match priority {
            Priority::Urgent => include_bytes!("../../assets/sounds/urgent.wav"),
            Priority::High => include_bytes!("../../assets/sounds/high.wav"),
            Priority::Medium => include_bytes!("../../assets/sounds/medium.wav"),
            Priority::Low => include_bytes!("../../assets/sounds/low.wav"),
        };
        Self::from_wav(bytes).unwrap_or_else(|err| {
            tracing::error!("the built-in {} sound is broken: {err}", priority.label());
            Self { samples: Arc::from(vec![0.0; 1]), rate: 22_050 }
        })
    }

    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate)
    }
}

/// One sound per priority, most urgent first.
#[derive(Clone, Debug)]
pub struct Sounds(pub [Clip; 4]);

impl Default for Sounds {
    fn default() -> Self {
        Self(Priority::ALL.map(Clip::builtin))
    }
}

impl Sounds {
    /// The built-in sounds with the configured files in their place; a file that cannot be used keeps the
    /// built-in sound and gives the reason.
    pub fn with_files(files: &[(Priority, std::path::PathBuf)]) -> (Self, Vec<String>) {
        let mut sounds = Self::default();
        let mut problems = Vec::new();
        for (priority, path) in files {
            match Clip::load(path) {
                Ok(clip) => sounds.0[slot(*priority)] = clip,
                Err(err) => {
                    let key = priority.label().to_ascii_lowercase();
                    problems.push(format!("alarms.sound.{key}: {err}; the built-in sound is used"));
                }
            }
        }
        (sounds, problems)
    }

    pub fn clip(&self, priority: Priority) -> &Clip {
        &self.0[slot(priority)]
    }
}

fn slot(priority: Priority) -> usize {
    Priority::ALL.iter().position(|p| *p == priority).unwrap_or(0)
}

/// What the stream plays: 0 silence, else 1 + the priority's slot. Written by the annunciator, read per buffer.
#[derive(Clone, Debug, Default)]
pub struct Wanted(Arc<AtomicU8>);

impl Wanted {
    pub fn set(&self, sound: Option<Priority>) {
        let v = sound.map_or(0, |p| 1 + slot(p) as u8);
        self.0.store(v, Ordering::Relaxed);
    }

    pub fn get(&self) -> Option<Priority> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            v => Priority::ALL.get(usize::from(v - 1)).copied(),
        }
    }
}

/// Holds a callback to the wall clock when its sink takes samples far faster than real time.
///
/// A real device takes samples at its rate, plus at most its buffer at the start (well under 4 s). A sink that
/// takes more than 4 s ahead of the wall clock within its first 5 s, or more than 1.5× real time over any 2 s
/// later, keeps no time: from then on the callback sleeps whatever it is more than 50 ms ahead. A real device's
/// clock drifting from the wall clock (parts per million) never comes near either rule.
#[derive(Debug)]
pub struct Pacer {
    rate: f64,
    start: Option<Instant>,
    frames: u64,
    window: Option<(Instant, u64)>,
    /// Since when (and from which frame) the sink is held to the wall clock.
    paced: Option<(Instant, u64)>,
}

impl Pacer {
    pub fn new(rate: u32) -> Self {
        Self { rate: f64::from(rate.max(1)), start: None, frames: 0, window: None, paced: None }
    }

    /// Whether the sink was found to keep no time.
    pub fn pacing(&self) -> bool {
        self.paced.is_some()
    }

    /// After `frames` more were written at `now`: how long the callback should sleep.
    pub fn wrote(&mut self, frames: usize, now: Instant) -> Duration {
        let start = *self.start.get_or_insert(now);
        self.frames += frames as u64;
        let seconds = |frames: u64| frames as f64 / self.rate;
        if let Some((since, from)) = self.paced {
            let ahead = seconds(self.frames - from) - now.duration_since(since).as_secs_f64();
            return Duration::from_secs_f64((ahead - 0.05).max(0.0));
        }
        let elapsed = now.duration_since(start).as_secs_f64();
        let (w_start, w_frames) = *self.window.get_or_insert((now, self.frames));
        let w_elapsed = now.duration_since(w_start).as_secs_f64();
        let early_flood = elapsed < 5.0 && seconds(self.frames) - elapsed > 4.0;
        let late_flood = elapsed >= 5.0 && seconds(self.frames - w_frames) > 1.5 * 2.0f64.max(w_elapsed);
        if early_flood || late_flood {
            tracing::info!("the audio sink takes sound faster than it plays it (a file or null device): pacing it");
            self.paced = Some((now, self.frames));
            return Duration::ZERO;
        }
        if w_elapsed >= 2.0 {
            self.window = Some((now, self.frames));
        }
        Duration::ZERO
    }
}

/// The state of the audio output, for the status bar.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AudioState {
    #[default]
    Starting,
    /// Playing into this device.
    Ready(String),
    /// No sound can be made: why (shown once in the log, standing in the status bar).
    Unavailable(String),
}

/// The open output. Dropping it stops the stream.
pub struct Speaker {
    _stream: cpal::Stream,
    pub device: String,
    failed: Arc<Mutex<Option<String>>>,
}

impl Speaker {
    /// Opens the default output device and starts playing what `wanted` says, counting the frames it gives the
    /// device in `frames`.
    pub fn open(sounds: Arc<Sounds>, wanted: Wanted, frames: Arc<AtomicU64>) -> Result<Self, String> {
        let host = cpal::default_host();
        let device = host.default_output_device().ok_or_else(|| "no audio output device".to_owned())?;
        let name = device.id().map_or_else(|_| "default".to_owned(), |id| id.to_string());
        let supported = device.default_output_config().map_err(|err| format!("{name}: {err}"))?;
        let format = supported.sample_format();
        let config: cpal::StreamConfig = supported.into();
        let failed: Arc<Mutex<Option<String>>> = Arc::default();
        let on_error = {
            let failed = Arc::clone(&failed);
            move |err: cpal::Error| {
                if let Ok(mut f) = failed.lock() {
                    f.get_or_insert_with(|| err.to_string());
                }
            }
        };
        let mut player = Player::new(sounds, wanted, config.sample_rate, usize::from(config.channels));
        player.frames = frames;
        let stream = match format {
            cpal::SampleFormat::F32 => device.build_output_stream(
                config,
                move |data: &mut [f32], _: &cpal::OutputCallbackInfo| player.fill(data, |v| v),
                on_error,
                None,
            ),
            cpal::SampleFormat::I16 => device.build_output_stream(
                config,
                move |data: &mut [i16], _: &cpal::OutputCallbackInfo| {
                    player.fill(data, |v| (v * f32::from(i16::MAX)) as i16);
                },
                on_error,
                None,
            ),
            cpal::SampleFormat::I32 => device.build_output_stream(
                config,
                move |data: &mut [i32], _: &cpal::OutputCallbackInfo| {
                    player.fill(data, |v| (f64::from(v) * f64::from(i32::MAX)) as i32);
                },
                on_error,
                None,
            ),
            other => return Err(format!("{name}: sample format {other} is not supported")),
        }
        .map_err(|err| format!("{name}: {err}"))?;
        stream.play().map_err(|err| format!("{name}: {err}"))?;
        Ok(Self { _stream: stream, device: name, failed })
    }

    /// Why the stream stopped, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().ok().and_then(|f| f.clone())
    }
}

/// The callback's state: which sound, where in it, and the pacer.
struct Player {
    sounds: Arc<Sounds>,
    wanted: Wanted,
    playing: Option<Priority>,
    /// Position in the clip, in the clip's own samples (fractional: the device's rate is rarely the clip's).
    pos: f64,
    rate: u32,
    channels: usize,
    pacer: Pacer,
    /// Frames given to the device since the stream opened.
    frames: Arc<AtomicU64>,
}

impl Player {
    fn new(sounds: Arc<Sounds>, wanted: Wanted, rate: u32, channels: usize) -> Self {
        let pacer = Pacer::new(rate);
        let frames = Arc::default();
        Self { sounds, wanted, playing: None, pos: 0.0, rate, channels: channels.max(1), pacer, frames }
    }

    fn fill<T: Copy>(&mut self, data: &mut [T], convert: impl Fn(f32) -> T) {
        let wanted = self.wanted.get();
        if wanted != self.playing {
            self.playing = wanted;
            self.pos = 0.0;
        }
        let frames = data.len() / self.channels;
        match self.playing {
            None => data.fill(convert(0.0)),
            Some(priority) => {
                let clip = self.sounds.clip(priority);
                let step = f64::from(clip.rate) / f64::from(self.rate);
                let len = clip.samples.len();
                for frame in data.chunks_mut(self.channels) {
                    // Linear interpolation between the clip's samples, looping.
                    let i = self.pos as usize % len;
                    let frac = (self.pos - self.pos.floor()) as f32;
                    let v = clip.samples[i] * (1.0 - frac) + clip.samples[(i + 1) % len] * frac;
                    frame.fill(convert(v));
                    self.pos = (self.pos + step) % len as f64;
                }
            }
        }
        self.frames.fetch_add(frames as u64, Ordering::Relaxed);
        let sleep = self.pacer.wrote(frames, Instant::now());
        if !sleep.is_zero() {
            std::thread::sleep(sleep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_sounds_load_and_differ() {
        let sounds = Sounds::default();
        let lengths: Vec<f64> = Priority::ALL.iter().map(|p| sounds.clip(*p).seconds()).collect();
        assert_eq!(lengths, vec![1.0, 1.5, 2.5, 4.0]);
    }

    #[test]
    fn a_configured_file_that_is_no_wav_keeps_the_built_in_sound() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("horn.wav");
        std::fs::write(&path, b"not a wav").expect("write");
        let (sounds, problems) = Sounds::with_files(&[(Priority::High, path)]);
        assert_eq!(sounds.clip(Priority::High).seconds(), 1.5);
        assert!(problems[0].starts_with("alarms.sound.high: ") && problems[0].contains("not a usable WAV"));
    }

    #[test]
    fn the_player_loops_the_wanted_clip_and_is_silent_otherwise() {
        let wanted = Wanted::default();
        let mut player = Player::new(Arc::new(Sounds::default()), wanted.clone(), 22_050, 2);
        let mut buf = vec![1.0f32; 2 * 22_050];
        player.fill(&mut buf, |v| v);
        assert!(buf.iter().all(|v| *v == 0.0));
        wanted.set(Some(Priority::Urgent));
        player.fill(&mut buf, |v| v);
        // Stereo frames carry the same sample; a second of the urgent horn is loud.
        assert!(buf.chunks(2).all(|f| f[0] == f[1]));
        let rms = (buf.iter().map(|v| v * v).sum::<f32>() / buf.len() as f32).sqrt();
        assert!(rms > 0.3, "rms {rms}");
    }

    #[test]
    fn a_sink_that_keeps_time_is_never_held_one_that_floods_is() {
        let t0 = Instant::now();
        let mut device = Pacer::new(48_000);
        // A device with a 200 ms buffer, then 10 ms periods for a minute: never held.
        assert!(device.wrote(9_600, t0).is_zero());
        for i in 1..6_000u64 {
            let now = t0 + Duration::from_millis(10 * i);
            assert!(device.wrote(480, now).is_zero(), "held at {i}");
        }
        assert!(!device.pacing());
        let mut null = Pacer::new(48_000);
        let mut slept = Duration::ZERO;
        for _ in 0..1_000 {
            slept += null.wrote(4_800, t0 + slept);
        }
        assert!(null.pacing());
        // 100 s of sound written: held to within the first flood (≤ 4 s) and the 50 ms margin of real time.
        assert!(slept.as_secs_f64() > 95.0, "slept {slept:?}");
    }
}
