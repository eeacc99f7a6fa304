//! The report as one Excel workbook (`rust_xlsxwriter`): a summary, then OEE per site, line and machine, the six big
//! losses, stop causes, alarm KPIs, vehicles and the logbook's notes, each sheet a table with a frozen, filtered
//! header. Numbers stay numbers, with real formats: fractions as percent, durations as `[h]:mm:ss` (Excel's days),
//! counts as integers.

use rust_xlsxwriter::{ExcelDateTime, Format, FormatAlign, Workbook, Worksheet, XlsxError};

use super::report::{Figures, Report};

const SECS_PER_DAY: f64 = 86_400.0;

/// The cell formats of the workbook.
struct Formats {
    header: Format,
    percent: Format,
    duration: Format,
    count: Format,
    decimal: Format,
    time: Format,
    title: Format,
}

impl Formats {
    fn new() -> Self {
        Self {
            header: Format::new().set_bold().set_align(FormatAlign::Center).set_background_color(0x00DD_E3EA),
            percent: Format::new().set_num_format("0.0%"),
            duration: Format::new().set_num_format("[h]:mm:ss"),
            count: Format::new().set_num_format("#,##0"),
            decimal: Format::new().set_num_format("#,##0.0"),
            time: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            title: Format::new().set_bold().set_font_size(14),
        }
    }
}

/// One cell of a table row.
enum Cell<'a> {
    Text(&'a str),
    Percent(Option<f64>),
    /// Seconds.
    Duration(f64),
    Count(i64),
    Decimal(Option<f64>),
    /// A time, UTC ms, as an Excel date and time.
    Time(Option<i64>),
}

/// One cell with its format; an unknown figure stays empty.
fn write_cell(ws: &mut Worksheet, f: &Formats, (r, col): (u32, u16), cell: &Cell<'_>) -> Result<(), XlsxError> {
    match cell {
        Cell::Text(t) => ws.write_string(r, col, *t).map(|_| ()),
        Cell::Percent(Some(v)) => ws.write_number_with_format(r, col, *v, &f.percent).map(|_| ()),
        Cell::Duration(secs) => ws.write_number_with_format(r, col, secs / SECS_PER_DAY, &f.duration).map(|_| ()),
        #[expect(clippy::cast_precision_loss, reason = "part counts")]
        Cell::Count(n) => ws.write_number_with_format(r, col, *n as f64, &f.count).map(|_| ()),
        Cell::Decimal(Some(v)) => ws.write_number_with_format(r, col, *v, &f.decimal).map(|_| ()),
        Cell::Time(Some(ms)) => {
            let at = ExcelDateTime::from_timestamp(ms.div_euclid(1_000))?;
            ws.write_datetime_with_format(r, col, &at, &f.time).map(|_| ())
        }
        Cell::Percent(None) | Cell::Decimal(None) | Cell::Time(None) => Ok(()),
    }
}

/// A sheet holding one table: the header frozen and filtered, the columns as wide as their titles or `widths`.
fn table(ws: &mut Worksheet, f: &Formats, headers: &[(&str, f64)], rows: &[Vec<Cell<'_>>]) -> Result<(), XlsxError> {
    for (col, (title, width)) in (0u16..).zip(headers) {
        ws.write_string_with_format(0, col, *title, &f.header)?;
        ws.set_column_width(col, *width)?;
    }
    for (r, row) in (1u32..).zip(rows) {
        for (col, cell) in (0u16..).zip(row) {
            write_cell(ws, f, (r, col), cell)?;
        }
    }
    ws.set_freeze_panes(1, 0)?;
    let last_row = u32::try_from(rows.len()).unwrap_or(u32::MAX);
    let last_col = u16::try_from(headers.len().saturating_sub(1)).unwrap_or(0);
    ws.autofilter(0, 0, last_row.max(1), last_col)?;
    Ok(())
}

fn oee_cells<'a>(level: &'a str, id: &'a str, name: &'a str, line: &'a str, target: f64, f: &Figures) -> Vec<Cell<'a>> {
    vec![
        Cell::Text(level),
        Cell::Text(id),
        Cell::Text(name),
        Cell::Text(line),
        Cell::Percent(f.availability),
        Cell::Percent(f.performance),
        Cell::Percent(f.quality),
        Cell::Percent(f.oee),
        Cell::Percent(Some(target)),
        Cell::Duration(f.planned_secs),
        Cell::Duration(f.run_secs),
        Cell::Count(f.total_count),
        Cell::Count(f.good_count),
        Cell::Count(f.reject_count),
        Cell::Duration(f.no_data_secs),
    ]
}

fn loss_cells<'a>(level: &'a str, id: &'a str, f: &Figures) -> Vec<Cell<'a>> {
    let l = &f.losses_min;
    let mut row = vec![Cell::Text(level), Cell::Text(id)];
    row.extend(
        [l.equipment_failure, l.setup_adjustment, l.small_stops, l.reduced_speed, l.process_defects, l.startup_rejects]
            .map(|min| Cell::Duration(min * 60.0)),
    );
    row
}

/// The workbook's bytes.
#[expect(
    clippy::too_many_lines,
    reason = "one sheet after another, each a few lines; split, each part would take the whole workbook and its formats"
)]
pub fn render(report: &Report, title: &str) -> Result<Vec<u8>, XlsxError> {
    let f = Formats::new();
    let mut wb = Workbook::new();

    let ws = wb.add_worksheet().set_name("Summary")?;
    ws.write_string_with_format(0, 0, title, &f.title)?;
    let summary: [(&str, Cell<'_>); 9] = [
        ("Site", Cell::Text(&report.site)),
        ("From", Cell::Text(&report.from)),
        ("To", Cell::Text(&report.to)),
        ("OEE", Cell::Percent(report.figures.oee)),
        ("Target OEE", Cell::Percent(Some(report.target_oee))),
        ("Availability", Cell::Percent(report.figures.availability)),
        ("Performance", Cell::Percent(report.figures.performance)),
        ("Quality", Cell::Percent(report.figures.quality)),
        ("Good parts", Cell::Count(report.figures.good_count)),
    ];
    ws.set_column_width(0, 16)?;
    ws.set_column_width(1, 28)?;
    for (r, (key, cell)) in (2u32..).zip(summary) {
        ws.write_string_with_format(r, 0, key, &f.header)?;
        write_cell(ws, &f, (r, 1), &cell)?;
    }

    let mut oee = vec![oee_cells("site", &report.site, &report.site, "", report.target_oee, &report.figures)];
    oee.extend(report.lines.iter().map(|l| oee_cells("line", &l.id, &l.name, &l.name, l.target_oee, &l.figures)));
    oee.extend(report.machines.iter().map(|m| oee_cells("machine", &m.id, &m.name, &m.line, m.target_oee, &m.figures)));
    let ws = wb.add_worksheet().set_name("OEE")?;
    table(
        ws,
        &f,
        &[
            ("Level", 9.0),
            ("Id", 28.0),
            ("Name", 16.0),
            ("Line", 10.0),
            ("Availability", 13.0),
            ("Performance", 13.0),
            ("Quality", 10.0),
            ("OEE", 9.0),
            ("Target OEE", 12.0),
            ("Planned", 11.0),
            ("Run", 11.0),
            ("Total parts", 12.0),
            ("Good parts", 12.0),
            ("Rejects", 10.0),
            ("No data", 11.0),
        ],
        &oee,
    )?;

    let mut losses = vec![loss_cells("site", &report.site, &report.figures)];
    losses.extend(report.lines.iter().map(|l| loss_cells("line", &l.id, &l.figures)));
    losses.extend(report.machines.iter().map(|m| loss_cells("machine", &m.id, &m.figures)));
    let ws = wb.add_worksheet().set_name("Losses")?;
    table(
        ws,
        &f,
        &[
            ("Level", 9.0),
            ("Id", 28.0),
            ("Equipment failure", 18.0),
            ("Setup and adjustment", 20.0),
            ("Small stops", 12.0),
            ("Reduced speed", 14.0),
            ("Process defects", 15.0),
            ("Start-up rejects", 16.0),
        ],
        &losses,
    )?;

    let stops: Vec<Vec<Cell<'_>>> = report
        .machines
        .iter()
        .flat_map(|m| {
            m.top_stops.iter().map(|c| {
                #[expect(clippy::cast_possible_wrap, reason = "stop counts")]
                let count = c.stops as i64;
                vec![Cell::Text(&m.id), Cell::Text(&c.reason), Cell::Count(count), Cell::Duration(c.minutes * 60.0)]
            })
        })
        .collect();
    let ws = wb.add_worksheet().set_name("Stops")?;
    table(ws, &f, &[("Machine", 28.0), ("Reason", 22.0), ("Stops", 8.0), ("Time", 11.0)], &stops)?;

    let ws = wb.add_worksheet().set_name("Alarms")?;
    match &report.alarms {
        Some(k) => {
            #[expect(clippy::cast_possible_wrap, reason = "alarm counts")]
            let n = |x: usize| x as i64;
            #[expect(clippy::cast_precision_loss, reason = "milliseconds of a report range")]
            let flood_secs = k.flood_ms as f64 / 1000.0;
            let mut rows: Vec<Vec<Cell<'_>>> = vec![
                vec![Cell::Text("Activations"), Cell::Count(n(k.activations))],
                vec![Cell::Text("Mean per 10 min"), Cell::Decimal(Some(k.mean_per_10_min))],
                vec![Cell::Text("Most in 10 min"), Cell::Count(n(k.max_per_10_min))],
                vec![Cell::Text("Peak, any 10 min"), Cell::Count(n(k.peak_10_min))],
                vec![Cell::Text("Time in flood"), Cell::Duration(flood_secs)],
                vec![Cell::Text("Share of time in flood"), Cell::Percent(Some(k.flood_fraction))],
            ];
            rows.extend(k.priority_mix.iter().map(|(p, count)| vec![Cell::Text(p.label()), Cell::Count(n(*count))]));
            table(ws, &f, &[("KPI", 24.0), ("Value", 12.0)], &rows)?;
            let actors: Vec<Vec<Cell<'_>>> = k
                .bad_actors
                .iter()
                .map(|b| {
                    vec![
                        Cell::Text(&b.rule),
                        Cell::Text(&b.source),
                        Cell::Text(b.priority.label()),
                        Cell::Count(n(b.activations)),
                        Cell::Percent(Some(b.share)),
                    ]
                })
                .collect();
            let ws = wb.add_worksheet().set_name("Bad actors")?;
            table(
                ws,
                &f,
                &[("Rule", 22.0), ("Source", 30.0), ("Priority", 10.0), ("Activations", 12.0), ("Share", 9.0)],
                &actors,
            )?;
        }
        None => {
            ws.write_string(0, 0, "No alarm journal in this range.")?;
        }
    }

    let vehicles: Vec<Vec<Cell<'_>>> = report
        .vehicles
        .iter()
        .map(|v| {
            vec![
                Cell::Text(&v.id),
                Cell::Text(v.kind.as_deref().unwrap_or("")),
                Cell::Decimal(Some(v.distance_km)),
                Cell::Percent(v.soc_used_percent.map(|p| p / 100.0)),
                Cell::Percent(v.min_soc_percent.map(|p| p / 100.0)),
                Cell::Duration(v.charging_secs),
                Cell::Duration(v.stale_secs),
            ]
        })
        .collect();
    let ws = wb.add_worksheet().set_name("Vehicles")?;
    table(
        ws,
        &f,
        &[
            ("Vehicle", 26.0),
            ("Kind", 10.0),
            ("Distance km", 12.0),
            ("Charge used", 12.0),
            ("Lowest charge", 14.0),
            ("Charging", 11.0),
            ("No data", 11.0),
        ],
        &vehicles,
    )?;
    let corrected = crate::model::logbook::corrected_by(&report.notes);
    let subjects: Vec<String> = report.notes.iter().map(|n| n.subject.label()).collect();
    let notes: Vec<Vec<Cell<'_>>> = report
        .notes
        .iter()
        .zip(&subjects)
        .map(|(n, subject)| {
            let handover = n.handover.as_ref();
            vec![
                Cell::Time(Some(n.from_ms)),
                Cell::Time(n.to_ms),
                Cell::Text(subject),
                Cell::Text(&n.author),
                Cell::Text(&n.text),
                Cell::Text(handover.map_or("", |h| h.shift.as_str())),
                Cell::Text(handover.map_or("", |h| h.taken_over_by.as_str())),
                Cell::Text(corrected.get(n.uid.as_str()).map_or("", |by| by.text.as_str())),
                Cell::Time(Some(n.written_ms)),
            ]
        })
        .collect();
    let ws = wb.add_worksheet().set_name("Notes")?;
    table(
        ws,
        &f,
        &[
            ("From (UTC)", 18.0),
            ("To (UTC)", 18.0),
            ("Subject", 28.0),
            ("Author", 14.0),
            ("Note", 60.0),
            ("Handover of", 18.0),
            ("Taken over by", 14.0),
            ("Corrected to", 40.0),
            ("Written (UTC)", 18.0),
        ],
        &notes,
    )?;
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use calamine::{Data, Reader as _, Xlsx};

    use super::*;
    use crate::analytics::report::{Cause, MachineRow};

    fn report() -> Report {
        let figures = Figures {
            availability: Some(0.9),
            performance: Some(0.8),
            quality: Some(0.95),
            oee: Some(0.684),
            planned_secs: 8.0 * 3600.0,
            run_secs: 7.2 * 3600.0,
            total_count: 1_000,
            good_count: 950,
            reject_count: 50,
            ..Figures::default()
        };
        Report {
            from: "2026-12-05T06:00:00+02:00".into(),
            to: "2026-12-05T14:00:00+02:00".into(),
            site: "Plant A".into(),
            target_oee: 0.85,
            figures: figures.clone(),
            machines: vec![MachineRow {
                id: "PlantA/Line1/Filler".into(),
                name: "Filler".into(),
                line: "Line1".into(),
                area: String::new(),
                target_oee: 0.85,
                figures,
                stops: 3,
                top_stops: vec![Cause { reason: "jam".into(), stops: 3, minutes: 12.5 }],
                totals: crate::analytics::oee::Totals::default(),
                ideal_cycle_secs: None,
            }],
            lines: Vec::new(),
            vehicles: Vec::new(),
            alarms: None,
            notes: notes(),
        }
    }

    /// A note about the filler's jam, corrected by a second one.
    fn notes() -> Vec<crate::model::logbook::Note> {
        use crate::model::logbook::{Note, Subject};
        // 2026-12-05 08:00:00 UTC.
        let at = 1_796_457_600_000;
        let mut first = Note::new("c-1-a".into(), at + 60_000, "ana", at, "Filler jammed");
        first.subject = Subject::Asset { asset: "PlantA/Line1/Filler".into() };
        let mut fix = Note::new("c-2-b".into(), at + 120_000, "ana", at, "Capper jammed, not the filler");
        fix.corrects = Some("c-1-a".into());
        vec![first, fix]
    }

    #[test]
    fn the_workbook_reads_back_with_numbers_as_numbers() {
        let bytes = render(&report(), "Shift report").expect("workbook");
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).expect("an xlsx an independent reader opens");
        assert_eq!(book.sheet_names(), ["Summary", "OEE", "Losses", "Stops", "Alarms", "Vehicles", "Notes"]);
        let oee = book.worksheet_range("OEE").expect("OEE sheet");
        assert_eq!(oee.get_value((0, 7)), Some(&Data::String("OEE".into())));
        assert_eq!(oee.get_value((2, 1)), Some(&Data::String("PlantA/Line1/Filler".into())));
        assert_eq!(oee.get_value((2, 7)), Some(&Data::Float(0.684)), "a fraction, shown as percent");
        let duration = |v: Option<&Data>, days: f64| matches!(v, Some(Data::DateTime(d)) if d.is_duration() && (d.as_f64() - days).abs() < 1e-9);
        assert!(duration(oee.get_value((2, 9)), 8.0 / 24.0), "8 h as a duration: {:?}", oee.get_value((2, 9)));
        assert_eq!(oee.get_value((2, 12)), Some(&Data::Float(950.0)));
        let stops = book.worksheet_range("Stops").expect("Stops sheet");
        assert_eq!(stops.get_value((1, 1)), Some(&Data::String("jam".into())));
        assert!(duration(stops.get_value((1, 3)), 12.5 * 60.0 / 86_400.0), "{:?}", stops.get_value((1, 3)));
        let notes = book.worksheet_range("Notes").expect("Notes sheet");
        let time = notes.get_value((1, 0));
        assert!(
            // 2026-12-05 08:00 is Excel's day 46,361 and a third.
            matches!(time, Some(Data::DateTime(d)) if !d.is_duration() && (d.as_f64() - (46_361.0 + 1.0 / 3.0)).abs() < 1e-6),
            "a date and time: {time:?}"
        );
        assert_eq!(notes.get_value((1, 2)), Some(&Data::String("Filler".into())));
        assert_eq!(notes.get_value((1, 7)), Some(&Data::String("Capper jammed, not the filler".into())), "corrected");
        assert_eq!(notes.get_value((2, 1)), Some(&Data::Empty), "an instant has no end");
    }
}
