//! Named layouts: which view in which window, where, how big, on which monitor, fullscreen or not. Kept per
//! workstation in the data dir's `workstation.toml` with the horn's mute; the layout last saved or applied is
//! put back at the next start. A window whose monitor is gone goes to one that exists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The views: tabs of the main window, or each in a window of its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum View {
    #[default]
    Overview,
    Plant,
    Fleet,
    Alarms,
    Trends,
    Connections,
    Logbook,
}

impl View {
    pub const ALL: [Self; 7] =
        [Self::Overview, Self::Plant, Self::Fleet, Self::Alarms, Self::Trends, Self::Logbook, Self::Connections];

    pub fn label(self) -> &'static str {
        match self {
            Self::Overview => "Overview",
            Self::Plant => "Plant",
            Self::Fleet => "Fleet",
            Self::Alarms => "Alarms",
            Self::Trends => "Trends",
            Self::Connections => "Connections",
            Self::Logbook => "Logbook",
        }
    }
}

/// One window of a layout. Positions and sizes in points (egui's logical pixels), on the virtual desktop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Place {
    pub view: View,
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    /// The monitor the window was on (its name, and where it was then), so it follows the monitor if the desktop
    /// is rearranged.
    #[serde(default)]
    pub monitor: Option<MonitorRef>,
    #[serde(default)]
    pub fullscreen: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorRef {
    pub name: String,
    pub x: f32,
    pub y: f32,
}

/// The main window, then each popped-out window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    pub main: Place,
    #[serde(default)]
    pub windows: Vec<Place>,
}

/// What one workstation keeps: the horn's mute and its layouts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Workstation {
    pub muted: bool,
    /// The layout put back at start.
    pub layout: Option<String>,
    pub layouts: BTreeMap<String, Layout>,
    /// The monitors, when the display system reports one large screen for several panels (a video wall, a
    /// virtual machine): used instead of what the X server says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitors: Vec<Monitor>,
}

/// The file next to the cache: `workstation.toml`.
pub const FILE_NAME: &str = "workstation.toml";

impl Workstation {
    /// Reads the file; a missing one is the default, a broken one too (with the reason, and it is kept aside as
    /// `workstation.toml.broken` so nothing the operator saved is lost).
    pub fn load(path: &Path) -> (Self, Option<String>) {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return (Self::default(), None),
            Err(err) => return (Self::default(), Some(format!("{}: {err}", path.display()))),
        };
        match toml::from_str(&text) {
            Ok(w) => (w, None),
            Err(err) => {
                let aside = path.with_extension("toml.broken");
                let kept = std::fs::rename(path, &aside).map_or_else(
                    |e| format!("could not be kept aside: {e}"),
                    |()| format!("kept as {}", aside.display()),
                );
                (Self::default(), Some(format!("{}: {err}; layouts and mute start afresh ({kept})", path.display())))
            }
        }
    }

    /// Writes the file (through a temporary file, so a crash never leaves half of it).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = toml::to_string_pretty(self).map_err(|err| err.to_string())?;
        let tmp: PathBuf = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|err| format!("cannot write {}: {err}", path.display()))
    }
}

/// A monitor of the desktop, in points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    pub name: String,
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    #[serde(default)]
    pub primary: bool,
}

impl Monitor {
    pub fn contains(&self, x: f32, y: f32) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.width && y < self.y + self.height
    }
}

/// The monitor a window of this rectangle is on (the one holding its centre), to save with it.
pub fn monitor_of(x: f32, y: f32, width: f32, height: f32, monitors: &[Monitor]) -> Option<MonitorRef> {
    let (cx, cy) = (x + width / 2.0, y + height / 2.0);
    let m = monitors.iter().find(|m| m.contains(cx, cy))?;
    Some(MonitorRef { name: m.name.clone(), x: m.x, y: m.y })
}

/// Where a saved window goes now: on its monitor if that still exists (following it if it moved), else where
/// it was if a monitor is there, else on the primary monitor at the same offset; always kept inside the monitor
/// it lands on, shrunk if the monitor is smaller. With no monitor list (Wayland), as saved.
pub fn restore(place: &Place, monitors: &[Monitor]) -> Place {
    let Some(first) = monitors.first() else { return place.clone() };
    let saved = place.monitor.as_ref();
    let (target, dx, dy) = match saved.and_then(|s| monitors.iter().find(|m| m.name == s.name).map(|m| (m, s))) {
        Some((m, s)) => (m, place.x - s.x, place.y - s.y),
        None => {
            let (cx, cy) = (place.x + place.width / 2.0, place.y + place.height / 2.0);
            match monitors.iter().find(|m| m.contains(cx, cy)) {
                Some(m) => (m, place.x - m.x, place.y - m.y),
                None => {
                    let m = monitors.iter().find(|m| m.primary).unwrap_or(first);
                    let (ox, oy) = saved.map_or((0.0, 0.0), |s| (s.x, s.y));
                    (m, place.x - ox, place.y - oy)
                }
            }
        }
    };
    let width = place.width.min(target.width).max(200.0);
    let height = place.height.min(target.height).max(150.0);
    let x = target.x + dx.clamp(0.0, (target.width - width).max(0.0));
    let y = target.y + dy.clamp(0.0, (target.height - height).max(0.0));
    Place {
        x,
        y,
        width,
        height,
        monitor: Some(MonitorRef { name: target.name.clone(), x: target.x, y: target.y }),
        ..place.clone()
    }
}

impl Workstation {
    /// The monitors windows are placed on: the ones this file names, else the X server's.
    pub fn monitors(&self, pixels_per_point: f32) -> Vec<Monitor> {
        if self.monitors.is_empty() { monitors(pixels_per_point) } else { self.monitors.clone() }
    }
}

/// A kiosk window: exactly covering its monitor, borderless (so each window stays on its own monitor, also on a
/// video wall whose panels the workstation file names); fullscreen where the monitors are not known.
pub fn fill_monitor(place: &Place, monitors: &[Monitor]) -> Place {
    let on = place.monitor.as_ref().and_then(|r| monitors.iter().find(|m| m.name == r.name));
    match on {
        Some(m) => Place { x: m.x, y: m.y, width: m.width, height: m.height, fullscreen: false, ..place.clone() },
        None => Place { fullscreen: true, ..place.clone() },
    }
}

/// The desktop's monitors from the X server (`RandR` monitors, which `xrandr --setmonitor` can define), in
/// points at `pixels_per_point`. Empty where there is no X server (Wayland) or it does not say.
pub fn monitors(pixels_per_point: f32) -> Vec<Monitor> {
    use x11rb::connection::Connection as _;
    use x11rb::protocol::randr::ConnectionExt as _;
    use x11rb::protocol::xproto::ConnectionExt as _;
    if std::env::var_os("DISPLAY").is_none() {
        return Vec::new();
    }
    let Ok((conn, screen)) = x11rb::rust_connection::RustConnection::connect(None) else { return Vec::new() };
    let Some(root) = conn.setup().roots.get(screen).map(|s| s.root) else { return Vec::new() };
    let Some(reply) = conn.randr_get_monitors(root, true).ok().and_then(|c| c.reply().ok()) else {
        return Vec::new();
    };
    let ppp = pixels_per_point.max(0.1);
    reply
        .monitors
        .iter()
        .map(|m| {
            let name = conn
                .get_atom_name(m.name)
                .ok()
                .and_then(|c| c.reply().ok())
                .map_or_else(|| format!("monitor-{}", m.name), |r| String::from_utf8_lossy(&r.name).into_owned());
            Monitor {
                name,
                x: f32::from(m.x) / ppp,
                y: f32::from(m.y) / ppp,
                width: f32::from(m.width) / ppp,
                height: f32::from(m.height) / ppp,
                primary: m.primary,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(name: &str, x: f32, primary: bool) -> Monitor {
        Monitor { name: name.to_owned(), x, y: 0.0, width: 1920.0, height: 1080.0, primary }
    }

    fn place(x: f32, on: Option<(&str, f32)>) -> Place {
        Place {
            view: View::Fleet,
            x,
            y: 100.0,
            width: 800.0,
            height: 600.0,
            monitor: on.map(|(name, x)| MonitorRef { name: name.to_owned(), x, y: 0.0 }),
            fullscreen: false,
        }
    }

    #[test]
    fn a_window_stays_on_its_monitor_and_follows_it_when_the_desktop_is_rearranged() {
        let two = [monitor("left", 0.0, true), monitor("right", 1920.0, false)];
        let saved = place(2020.0, Some(("right", 1920.0)));
        assert_eq!(restore(&saved, &two).x, 2020.0);
        // The right monitor is now on the left of the primary.
        let swapped = [monitor("left", 1920.0, true), monitor("right", 0.0, false)];
        let back = restore(&saved, &swapped);
        assert_eq!((back.x, back.y), (100.0, 100.0));
    }

    #[test]
    fn a_window_whose_monitor_is_gone_goes_to_the_primary_at_the_same_offset() {
        let one = [monitor("left", 0.0, true)];
        let saved = place(2020.0, Some(("right", 1920.0)));
        let moved = restore(&saved, &one);
        assert_eq!((moved.x, moved.y, moved.monitor.map(|m| m.name)), (100.0, 100.0, Some("left".to_owned())));
        // Too big for the monitor it lands on: shrunk to fit, kept inside.
        let big = Place { width: 3000.0, height: 2000.0, ..place(1700.0, None) };
        let fitted = restore(&big, &one);
        assert_eq!((fitted.x, fitted.y, fitted.width, fitted.height), (0.0, 0.0, 1920.0, 1080.0));
        // No monitor list (Wayland): as saved.
        assert_eq!(restore(&saved, &[]), saved);
    }

    #[test]
    fn a_kiosk_window_covers_its_monitor_or_goes_fullscreen() {
        let two = [monitor("left", 0.0, true), monitor("right", 1920.0, false)];
        let on_right = restore(&place(2020.0, Some(("right", 1920.0))), &two);
        let filled = fill_monitor(&on_right, &two);
        assert_eq!(
            (filled.x, filled.y, filled.width, filled.height, filled.fullscreen),
            (1920.0, 0.0, 1920.0, 1080.0, false)
        );
        assert!(fill_monitor(&place(0.0, None), &[]).fullscreen);
    }

    #[test]
    fn the_file_round_trips_and_a_broken_one_is_kept_aside() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(FILE_NAME);
        let mut w = Workstation { muted: true, layout: Some("control".to_owned()), ..Workstation::default() };
        w.layouts.insert(
            "control".to_owned(),
            Layout { main: place(0.0, None), windows: vec![place(2000.0, Some(("right", 1920.0)))] },
        );
        w.save(&path).expect("save");
        assert_eq!(Workstation::load(&path), (w, None));
        std::fs::write(&path, "muted = 3").expect("write");
        let (fresh, problem) = Workstation::load(&path);
        assert_eq!(fresh, Workstation::default());
        assert!(problem.is_some_and(|p| p.contains("start afresh")));
        assert!(dir.path().join("workstation.toml.broken").exists());
    }
}
