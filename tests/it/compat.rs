//! Compatibility: a recording written by an older Watchfloor opens in this one. The fixture
//! `tests/fixtures/schema4.wfrec.gz` is a real recording of the demo (2 min 10 s, 504 signals, 6 alarm journal
//! entries) written by the build of 2026-12-05 with cache schema 4, before the logbook (5) and journaled shelves (6).
//! Read-only opens read an upgraded copy and leave the file as it was; a writer upgrades the file in place.

use std::io::Read as _;
use std::process::Command;

use watchfloor::model::history::HistoryRead as _;

/// The fixture, unpacked into `dir`, read-only like a recording on a share.
fn fixture(dir: &std::path::Path) -> std::path::PathBuf {
    let packed = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema4.wfrec.gz"))
        .expect("the fixture");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(packed).read_to_end(&mut bytes).expect("gunzip");
    let path = dir.join("schema4.wfrec");
    std::fs::write(&path, &bytes).expect("write");
    let mut perms = std::fs::metadata(&path).expect("meta").permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&path, perms).expect("read-only");
    path
}

fn version(conn: &rusqlite::Connection) -> i64 {
    conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("version")
}

#[test]
fn an_older_recording_is_read_through_an_upgraded_copy_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = fixture(dir.path());
    let before = std::fs::read(&path).expect("read");
    {
        let raw =
            rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
        assert_eq!(version(&raw), 4, "the fixture is of schema 4");
    }
    let conn = watchfloor::store::open_reader(&path).expect("an older recording opens");
    assert_eq!(usize::try_from(version(&conn)).ok(), Some(watchfloor::store::schema_version()));
    assert_eq!(conn.signals().expect("signals").len(), 504);
    let info = watchfloor::store::export::recording_info(&conn).expect("info").expect("a recording");
    let journal = conn.journal(0, info.to_ms, 100).expect("journal");
    assert_eq!(journal.len(), 6, "4 in the range, and the last before it of 2 alarms: {journal:#?}");
    assert!(journal.iter().all(|e| e.rule == "Vehicle not reporting"), "{journal:#?}");
    assert!(conn.notes(info.from_ms, info.to_ms).expect("notes").is_empty(), "no logbook then");
    drop(conn);
    assert_eq!(std::fs::read(&path).expect("read"), before, "the recording is not changed");
    // A live reader (the writer's companion) refuses it instead, with the reason.
    let err = watchfloor::store::open_live_reader(&path).expect_err("a live reader does not copy");
    assert!(err.to_string().contains("older schema (4)"), "{err}");
}

#[test]
fn the_commands_report_on_an_older_recording() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = fixture(dir.path());
    // The commands' own temp dir, to see that the upgraded copy is not left behind.
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .env("TMPDIR", tmp.path())
        .args(["report", "--format", "json", "--from", "2026-12-05T04:33:40Z", "--to", "2026-12-05T04:35:50Z", "--db"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let machines = report["machines"].as_array().expect("machines");
    assert_eq!(machines.len(), 12, "the demo's 12 machines");
    assert!(machines.iter().any(|m| m["total_count"].as_i64().unwrap_or(0) > 0), "{machines:#?}");
    assert_eq!(report["vehicles"].as_array().map(Vec::len), Some(42));
    let out = Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(["alarms", "--format", "csv", "--from", "2026-12-05T04:33:40Z", "--to", "2026-12-05T04:35:50Z", "--db"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8_lossy(&out.stdout);
    assert_eq!(csv.lines().filter(|l| l.contains("Vehicle not reporting")).count(), 4, "the range's entries: {csv}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("temp dir").filter_map(Result::ok).collect();
    assert!(left.is_empty(), "the upgraded copies are not left behind: {left:?}");
}

#[test]
fn a_writer_upgrades_an_older_file_in_place_and_keeps_its_history() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = fixture(dir.path());
    let mut perms = std::fs::metadata(&path).expect("meta").permissions();
    #[expect(clippy::permissions_set_readonly_false, reason = "a test file of our own")]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).expect("writable");
    let conn = watchfloor::store::open_writer(&path).expect("upgraded");
    assert_eq!(usize::try_from(version(&conn)).ok(), Some(watchfloor::store::schema_version()));
    let samples: i64 = conn.query_row("SELECT count(*) FROM sample", [], |r| r.get(0)).expect("count");
    assert_eq!(samples, 23_092, "every sample kept");
    let shelves: i64 = conn
        .query_row("SELECT count(*) FROM alarm_journal WHERE shelved_until_ms IS NULL", [], |r| r.get(0))
        .expect("new column");
    assert_eq!(shelves, 6);
    let mut note = watchfloor::model::logbook::Note::new("t-1-a".into(), 1, "ana", 2, "written after the upgrade");
    note.to_ms = Some(3);
    assert!(watchfloor::store::logbook::insert(&conn, &note).expect("the logbook exists"));
}
