use super::*;

#[test]
fn range_fields_take_site_time_or_rfc_3339_and_say_what_is_wrong() {
    let helsinki = TimeZone::get("Europe/Helsinki").expect("tzdb");
    // 06:00 in Helsinki in November is 04:00 UTC.
    let t = parse_local("2026-11-20 06:00", &helsinki).expect("site time");
    assert_eq!(t, "2026-11-20T04:00:00Z".parse::<jiff::Timestamp>().expect("ts").as_millisecond());
    assert_eq!(parse_local(" 2026-11-20T06:00 ", &helsinki), Ok(t));
    assert_eq!(parse_local("2026-11-20T04:00:00Z", &helsinki), Ok(t));
    let err = parse_local("20.11. 6 Uhr", &helsinki).expect_err("not a time");
    assert!(err.contains("2026-11-20 06:00"), "{err}");
}

#[test]
fn a_new_range_starts_the_review_again_at_its_start() {
    let mut review = Review::new(LiveSettings::default(), (0, 3_600_000), 1_800_000, "first".into());
    review.timeline_read = true;
    review.shown_ms = Some(1_800_000);
    review.playing = true;
    review.set_range((7_200_000, 7_100_000), "second".into());
    assert_eq!((review.from_ms, review.to_ms, review.at_ms), (7_200_000, 7_200_001, 7_200_000));
    assert!(!review.timeline_read && review.shown_ms.is_none() && !review.playing);
    assert_eq!(review.title, "second");
}

#[test]
fn the_shifts_offered_are_those_holding_data_newest_first() {
    let mut review = Review::new(LiveSettings::default(), (0, 1), 0, "t".into());
    assert!(review.shifts().is_empty(), "nothing before the extent is read");
    // The default calendar (UTC): A 06–14, B 14–22, C 22–06. Data from 2026-11-20 10:00 to 2026-11-21 07:00 UTC.
    let at = |s: &str| s.parse::<jiff::Timestamp>().expect("ts").as_millisecond();
    review.picker.extent = Some((at("2026-11-20T10:00:00Z"), at("2026-11-21T07:00:00Z")));
    let names: Vec<String> = review.shifts().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["A", "C", "B", "A"]);
    let newest = review.shifts().remove(0);
    review.pick_shift(&newest, &TimeZone::UTC);
    assert_eq!((review.from_ms, review.to_ms), (at("2026-11-21T06:00:00Z"), at("2026-11-21T07:00:00Z")));
    assert!(review.title.starts_with("Shift A"), "{}", review.title);
}
