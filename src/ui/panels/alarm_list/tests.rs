use super::*;

fn view(index: usize, priority: Priority, state: AlarmState, since: i64, asset: &str) -> AlarmView {
    AlarmView {
        index,
        asset: asset.to_owned(),
        active: state != AlarmState::ReturnedUnacknowledged,
        active_since_ms: Some(since),
        ..AlarmView::new(&format!("Rule {index}"), &format!("{asset}/x"), priority, state)
    }
}

#[test]
fn the_summary_puts_what_needs_the_operator_first_and_filters() {
    let alarms = vec![
        view(0, Priority::Low, AlarmState::Unacknowledged, 10, "PlantA/Line1/Filler"),
        view(1, Priority::Urgent, AlarmState::Acknowledged, 20, "PlantA/Line1/Capper"),
        view(2, Priority::High, AlarmState::Unacknowledged, 5, "Fleet/AGV-01"),
        view(3, Priority::High, AlarmState::Shelved, 30, "Fleet/AGV-02"),
    ];
    let area_of = |asset: &str| if asset.starts_with("Fleet") { "Fleet".to_owned() } else { "Plant".to_owned() };
    let mut panel = AlarmsPanel::default();
    let order: Vec<usize> = panel.rows(&alarms, &area_of).iter().map(|a| a.index).collect();
    assert_eq!(order, [2, 0, 1, 3], "unacknowledged first, then by priority");
    panel.area = Some("Fleet".into());
    panel.state = StateFilter::ToAcknowledge;
    assert_eq!(panel.rows(&alarms, &area_of).iter().map(|a| a.index).collect::<Vec<_>>(), [2]);
    panel.area = None;
    panel.state = StateFilter::All;
    panel.sort = AlarmSort::Time;
    assert_eq!(panel.rows(&alarms, &area_of).iter().map(|a| a.index).collect::<Vec<_>>(), [3, 1, 0, 2]);
    panel.descending = true;
    assert_eq!(panel.rows(&alarms, &area_of).iter().map(|a| a.index).collect::<Vec<_>>(), [2, 0, 1, 3]);
    panel.priority = Some(Priority::High);
    panel.descending = false;
    assert_eq!(panel.rows(&alarms, &area_of).iter().map(|a| a.index).collect::<Vec<_>>(), [3, 2]);
}

/// In review the banner shows the alarms as they stood, without Acknowledge or Shelve.
#[test]
fn the_banner_offers_no_actions_in_review() {
    use egui_kittest::kittest::Queryable as _;
    let alarms = vec![view(0, Priority::High, AlarmState::Unacknowledged, 10, "PlantA/Line1/Filler")];
    for reviewing in [false, true] {
        let theme = Theme::for_choice(crate::ui::theme::ThemeChoice::Dark);
        let alarms = alarms.clone();
        let harness = egui_kittest::Harness::new_ui(move |ui| {
            let _ = crate::ui::panels::alarms::alarms_banner_ui(ui, &theme, &alarms, 20, "anna", reviewing);
        });
        harness.get_by_label("Rule 0");
        assert_eq!(harness.query_by_label("Acknowledge").is_some(), !reviewing, "reviewing: {reviewing}");
        assert_eq!(harness.query_by_label("Shelve 1 h").is_some(), !reviewing, "reviewing: {reviewing}");
    }
}
