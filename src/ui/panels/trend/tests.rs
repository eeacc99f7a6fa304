use super::*;
use crate::model::SignalId;
use crate::store::query::Gap;

const T0: i64 = 1_795_158_000_000;

fn helsinki() -> TimeZone {
    TimeZone::get("Europe/Helsinki").expect("bundled")
}

fn series(buckets: &[(i64, f64)], bucket_ms: i64, gaps: Vec<Gap>) -> Series {
    Series {
        signal: SignalInfo { id: SignalId::from("a/b"), kind: ValueKind::Float, unit: None, gateway: "g".to_owned() },
        from_ms: 0,
        to_ms: 1_000,
        bucket_ms,
        tier: Tier::Raw,
        buckets: buckets
            .iter()
            .map(|&(ts_ms, v)| Bucket { ts_ms, min: v - 1.0, max: v + 1.0, mean: v, count: 1 })
            .collect(),
        gaps,
        before: None,
    }
}

#[test]
fn scales_are_round_and_cover_the_data() {
    let s = Scale::nice(12.3, 87.1, 5);
    assert_eq!((s.lo, s.hi, s.decimals), (0.0, 100.0, 0));
    let s = Scale::nice(0.0, 1.0, 5);
    assert_eq!((s.lo, s.hi, s.decimals), (0.0, 1.0, 1));
    let s = Scale::nice(20.0, 20.0, 4);
    assert!(s.lo < 20.0 && s.hi > 20.0, "{s:?}");
    let s = Scale::nice(-0.013, 0.011, 4);
    assert!(s.lo <= -0.013 && s.hi >= 0.011 && s.decimals >= 2, "{s:?}");
    let s = Scale::nice(101.0, 109.0, 4);
    assert_eq!((s.lo, s.hi), (100.0, 110.0));
    assert!((s.value_from_y(s.y_from_value(104.0)) - 104.0).abs() < 1e-9);
    assert_eq!(fmt_value(-0.0001, 2), "0.00");
    assert_eq!(decimals_for(2.5), 1);
    assert_eq!(decimals_for(0.25), 2);
}

#[test]
fn queries_use_round_aligned_buckets() {
    let key = QueryKey::for_window((T0 - HOUR_MS + 123, T0 + 123), 1_200.0);
    assert_eq!((key.to_ms - key.from_ms) % (10 * SECOND_MS), 0);
    assert_eq!(key.span_ms() / i64::try_from(key.buckets).expect("small"), 10 * SECOND_MS);
    assert!(key.from_ms <= T0 - HOUR_MS + 123 && key.to_ms >= T0 + 123);
    assert_eq!(bucket_width_ms(8 * HOUR_MS, 600), MINUTE_MS);
    assert_eq!(bucket_width_ms(15 * MINUTE_MS, 2_000), 500);
    // Moving the window by less than a bucket keeps the key: live follow does not reshuffle buckets.
    assert_eq!(QueryKey::for_window((T0 - HOUR_MS + 1_000, T0 + 1_000), 1_200.0).from_ms, key.from_ms);
}

#[test]
fn site_times_are_read_in_the_site_zone() {
    let tz = helsinki();
    // T0 is 09:00 in Helsinki.
    assert_eq!(parse_site_time("2026-11-20 09:00", &tz, 0), Ok(T0));
    assert_eq!(parse_site_time(" 2026-11-20T09:00:30 ", &tz, 0), Ok(T0 + 30_000));
    assert_eq!(parse_site_time("2026-11-20T07:00:00Z", &tz, 0), Ok(T0));
    assert_eq!(parse_site_time("2026-11-20", &tz, 0), Ok(T0 - 9 * HOUR_MS));
    assert_eq!(parse_site_time("08:00", &tz, T0), Ok(T0 - HOUR_MS));
    assert_eq!(parse_site_time("now", &tz, T0), Ok(T0));
    let err = parse_site_time("yesterday-ish", &tz, T0).expect_err("not a time");
    assert!(err.contains("\"yesterday-ish\""), "{err}");
}

#[test]
fn time_labels_and_grid_follow_site_time() {
    let tz = helsinki();
    assert_eq!(fmt_window((T0 - HOUR_MS, T0), &tz), "Fri 20 Nov 08:00 – 09:00 EET");
    assert_eq!(fmt_span(7 * DAY_MS), "7 d");
    assert_eq!(fmt_span(90 * MINUTE_MS), "1 h 30 min");
    assert_eq!(fmt_span(8 * HOUR_MS), "8 h");
    assert_eq!(fmt_grid_time(T0, 600.0, &tz), "09:00");
    assert_eq!(fmt_grid_time(T0 - 9 * HOUR_MS, 3_600.0, &tz), "Fri 20 Nov");
    assert_eq!(short_name("PlantA/Line1/Filler/Temperature"), "Filler/Temperature");
    assert_eq!(short_name("Temperature"), "Temperature");
    // Helsinki is UTC+2 in November: at 50 min per 8 px the levels are 1 h, 3 h and 12 h, on whole local hours; the
    // 12 h lines fall on local noon and midnight, 10:00 and 22:00 UTC.
    let origin = T0 - 7 * HOUR_MS;
    let input = GridInput { bounds: (0.0, 86_400.0), base_step_size: 3_000.0 };
    let marks = time_grid_marks(&input, origin, 2 * HOUR_MS);
    let hours = |min_step: f64| -> Vec<f64> {
        marks.iter().filter(|m| m.step_size >= min_step).map(|m| m.value / 3_600.0).collect()
    };
    assert_eq!(hours(43_200.0), vec![10.0, 22.0]);
    assert_eq!(hours(10_800.0), vec![1.0, 4.0, 7.0, 10.0, 13.0, 16.0, 19.0, 22.0]);
    assert_eq!(hours(0.0).len(), 25, "both ends included");
}

#[test]
fn readings_find_the_bucket_under_the_pointer_and_say_no_data_in_gaps() {
    let s = series(&[(0, 1.0), (10, 2.0), (40, 5.0)], 10, vec![Gap { start_ms: 20, end_ms: Some(40) }]);
    assert!(
        matches!(reading_at(&s, Some(12), false, None), Reading::Bucket { bucket, exact: true, .. } if bucket.mean == 2.0)
    );
    assert!(matches!(reading_at(&s, None, false, None), Reading::Bucket { bucket, .. } if bucket.mean == 5.0));
    assert_eq!(reading_at(&s, Some(25), false, None), Reading::NoData { interpolated: None });
    // Bridged from the centre of the bucket before (15, 2.0) to the one after (45, 5.0).
    assert_eq!(reading_at(&s, Some(25), true, None), Reading::NoData { interpolated: Some(3.0) });
    assert_eq!(reading_at(&s, Some(500), false, None), Reading::Nothing);
    // After the last bucket its value holds, until now or the window's end, unless a gap follows.
    assert_eq!(held_until(&s, (0, 1_000), 600), Some(600));
    assert!(
        matches!(reading_at(&s, Some(500), false, Some(600)), Reading::Bucket { held: true, bucket, .. } if bucket.mean == 5.0)
    );
    let open = series(&[(0, 1.0)], 10, vec![Gap { start_ms: 30, end_ms: None }]);
    assert_eq!(held_until(&open, (0, 1_000), 600), None);
    // Nothing changed in the range: the value from before it holds.
    let mut quiet = series(&[], 10, Vec::new());
    quiet.before = Some((-50, 7.0));
    assert_eq!(held_until(&quiet, (0, 1_000), 600), Some(600));
    assert_eq!(reading_at(&quiet, Some(300), false, Some(600)), Reading::Held { since_ms: -50, value: 7.0 });
    assert_eq!(reading_at(&quiet, Some(700), false, Some(600)), Reading::Nothing);
    let runs = band_runs(&s);
    assert_eq!(runs.iter().map(|r| r.len()).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(merge_gaps(vec![(5, 10, 2), (0, 6, 1), (20, 30, 1)]), vec![(0, 10, vec![1, 2]), (20, 30, vec![1])]);
}

#[test]
fn pens_take_the_first_free_colour_and_stop_at_the_limit() {
    let mut panel = TrendPanel::default();
    for i in 0..MAX_PENS {
        assert!(panel.add_pen(&format!("s{i}")));
    }
    assert!(!panel.add_pen("one too many"));
    assert!(!panel.add_pen("s0"), "no duplicates");
    panel.remove_pen("s2");
    assert!(panel.add_pen("new"));
    assert_eq!(panel.pens.last().map(|p| p.colour), Some(2));
}
