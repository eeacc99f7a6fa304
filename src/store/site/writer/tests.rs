use super::*;

#[test]
fn ranges_left_to_the_cache_merge_when_they_touch_and_survive_a_restart() {
    let mut ranges = Vec::new();
    add_range(&mut ranges, (100, 200));
    add_range(&mut ranges, (300, 400));
    add_range(&mut ranges, (200, 250));
    assert_eq!(ranges, vec![(100, 250), (300, 400)]);
    add_range(&mut ranges, (50, 350));
    assert_eq!(ranges, vec![(50, 400)]);
    let dir = tempfile::tempdir().expect("dir");
    let cache = dir.path().join("h.sqlite");
    save_spilled(&cache, &[(1, 5), (9, 12)]);
    assert_eq!(load_spilled(&cache), vec![(1, 5), (9, 12)]);
    save_spilled(&cache, &[]);
    assert!(!spill_file(&cache).exists());
    assert!(load_spilled(&cache).is_empty());
}

#[test]
fn buckets_hold_min_max_sum_count_and_the_first_and_last_value_of_good_numbers() {
    let rows: Vec<SampleRow> = vec![
        (1, 61_000, Some(5.0), None, 0, true),
        (1, 60_500, Some(7.0), None, 0, true),
        (1, 119_999, Some(1.0), None, 1, true),
        (1, 90_000, Some(100.0), None, 2, true),
        (1, 120_000, Some(3.0), None, 0, true),
        (2, 60_000, None, Some("running".into()), 0, true),
    ];
    let b = Buckets::of(&rows, 60_000);
    assert_eq!((b.signal.clone(), b.start.clone()), (vec![1, 1], vec![60_000, 120_000]));
    assert_eq!((b.min[0], b.max[0], b.sum[0], b.count[0]), (1.0, 7.0, 13.0, 3), "bad values left out");
    assert_eq!((b.first_ms[0], b.first[0], b.last_ms[0], b.last[0]), (60_500, 7.0, 119_999, 1.0));
}
