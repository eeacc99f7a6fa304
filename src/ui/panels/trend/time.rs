//! Times in the site's zone: the window, spans and grid labels written, and times typed by a person read.

use super::*;

pub(super) fn fmt_site(ms: i64, tz: &TimeZone, format: &str) -> String {
    Timestamp::from_millisecond(ms)
        .map_or_else(|_| "—".to_owned(), |t| t.to_zoned(tz.clone()).strftime(format).to_string())
}

/// `Fri 20 Nov 08:00 – 09:00 EET`, with the end's date when it is another day.
pub(super) fn fmt_window((from, to): (i64, i64), tz: &TimeZone) -> String {
    let (Ok(a), Ok(b)) = (Timestamp::from_millisecond(from), Timestamp::from_millisecond(to)) else {
        return "—".to_owned();
    };
    let (a, b) = (a.to_zoned(tz.clone()), b.to_zoned(tz.clone()));
    let seconds = (to - from) < HOUR_MS;
    let time = if seconds { "%H:%M:%S" } else { "%H:%M" };
    let start = a.strftime(&format!("%a %d %b {time}")).to_string();
    let end = if a.date() == b.date() {
        b.strftime(&format!("{time} %Z")).to_string()
    } else {
        b.strftime(&format!("%a %d %b {time} %Z")).to_string()
    };
    format!("{start} – {end}")
}

/// A window width: `15 min`, `1 h 30 min`, `7 d`, `2 d 6 h`.
pub(super) fn fmt_span(span_ms: i64) -> String {
    let secs = span_ms / SECOND_MS;
    if (3_600..86_400).contains(&secs) && secs % 3_600 == 0 {
        return format!("{} h", secs / 3_600);
    }
    if secs < 86_400 {
        return fmt_duration_secs(secs);
    }
    let (days, hours) = (secs / 86_400, secs % 86_400 / 3_600);
    if hours == 0 { format!("{days} d") } else { format!("{days} d {hours} h") }
}

/// A bucket width: `500 ms`, `10 s`, `5 min`, `1 h`.
pub(super) fn fmt_duration_ms(ms: i64) -> String {
    if ms < SECOND_MS { format!("{ms} ms") } else { fmt_span(ms) }
}

/// A grid label in site time: the date at midnight and for steps of a day or more, seconds for steps under a minute.
pub(super) fn fmt_grid_time(ms: i64, step_secs: f64, tz: &TimeZone) -> String {
    let Ok(t) = Timestamp::from_millisecond(ms) else { return String::new() };
    let z = t.to_zoned(tz.clone());
    let midnight = z.hour() == 0 && z.minute() == 0 && z.second() == 0;
    let format = if step_secs >= 86_400.0 || midnight {
        "%a %d %b"
    } else if step_secs < 60.0 {
        "%H:%M:%S"
    } else {
        "%H:%M"
    };
    z.strftime(format).to_string()
}

/// Grid lines on round site times (offset `offset_ms` from UTC), three levels: the finest step that is not too dense,
/// and two coarser ones that it divides.
pub(super) fn time_grid_marks(input: &GridInput, origin_ms: i64, offset_ms: i64) -> Vec<GridMark> {
    let (min_x, max_x) = input.bounds;
    if !(input.base_step_size > 0.0 && min_x.is_finite() && max_x.is_finite() && min_x < max_x) {
        return Vec::new();
    }
    let last = GRID_STEPS_SECS.len() - 1;
    let finest = GRID_STEPS_SECS.iter().position(|&s| s as f64 >= input.base_step_size).unwrap_or(last);
    let from_ms = origin_ms + (min_x * 1_000.0).floor() as i64;
    let to_ms = origin_ms + (max_x * 1_000.0).ceil() as i64;
    let mut marks: BTreeMap<i64, i64> = BTreeMap::new();
    for level in [finest, (finest + 2).min(last), (finest + 4).min(last)] {
        let step_ms = GRID_STEPS_SECS[level] * SECOND_MS;
        let first = (from_ms + offset_ms + step_ms - 1).div_euclid(step_ms);
        // Bounded: at most a few hundred lines fit on a screen anyway.
        for k in first..first + 2_000 {
            let t = k * step_ms - offset_ms;
            if t > to_ms {
                break;
            }
            let step = marks.entry(t).or_insert(0);
            *step = (*step).max(GRID_STEPS_SECS[level]);
        }
    }
    marks
        .into_iter()
        .map(|(t, step_secs)| GridMark { value: (t - origin_ms) as f64 / 1_000.0, step_size: step_secs as f64 })
        .collect()
}

/// A time typed by an operator, in site time: `2026-11-20 08:00[:00]`, `2026-11-20T08:00`, `2026-11-20` (midnight),
/// `08:00` (today), `now`, or an RFC 3339 time with an offset.
pub(super) fn parse_site_time(text: &str, tz: &TimeZone, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    let fail = || format!("Cannot read \"{text}\" as a site time: write e.g. 2026-11-20 08:00");
    if text.eq_ignore_ascii_case("now") {
        return Ok(now_ms);
    }
    let zoned_ms = |dt: jiff::civil::DateTime| dt.to_zoned(tz.clone()).map(|z| z.timestamp().as_millisecond());
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t.as_millisecond());
    }
    if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        return zoned_ms(dt).map_err(|e| format!("{}: {e}", fail()));
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return zoned_ms(date.to_datetime(jiff::civil::Time::midnight())).map_err(|e| format!("{}: {e}", fail()));
    }
    if let Ok(time) = text.parse::<jiff::civil::Time>() {
        let today =
            Timestamp::from_millisecond(now_ms).map_err(|e| format!("{}: {e}", fail()))?.to_zoned(tz.clone()).date();
        return zoned_ms(today.to_datetime(time)).map_err(|e| format!("{}: {e}", fail()));
    }
    Err(fail())
}
