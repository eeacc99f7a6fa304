//! The shift logbook in the cache: writing a note (by the history writer, the only writer) and reading a range's
//! notes. Entries are never changed or removed; the schema's triggers refuse it (migration 5).

use rusqlite::{Connection, params};

use crate::model::logbook::{Handover, Note, Subject};

/// The columns a note is written and read with, in [`note_from`]'s order (exports copy them as they are).
pub const COLUMNS: &str = "uid, written_ms, author, from_ms, to_ms, asset, alarm_rule, alarm_source, text, corrects, \
                       handover_shift, taken_over_by";

/// Stores `note`; `false` when a note with its uid is already there (a copy, a retry).
pub fn insert(conn: &Connection, note: &Note) -> rusqlite::Result<bool> {
    let (rule, source) = match &note.subject {
        Subject::Alarm { rule, source, .. } => (Some(rule.as_str()), Some(source.as_str())),
        Subject::General | Subject::Asset { .. } => (None, None),
    };
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT OR IGNORE INTO logbook ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?;
    let added = stmt.execute(params![
        note.uid,
        note.written_ms,
        note.author,
        note.from_ms,
        note.to_ms,
        note.subject.asset(),
        rule,
        source,
        note.text,
        note.corrects,
        note.handover.as_ref().map(|h| h.shift.as_str()),
        note.handover.as_ref().map(|h| h.taken_over_by.as_str()),
    ])?;
    Ok(added > 0)
}

/// Makes a note of a row in [`COLUMNS`] order (the site database's rows too).
pub fn note_from(
    (uid, written_ms, author): (String, i64, String),
    (from_ms, to_ms): (i64, Option<i64>),
    (asset, rule, source): (String, Option<String>, Option<String>),
    (text, corrects): (String, Option<String>),
    (shift, taken_over_by): (Option<String>, Option<String>),
) -> Note {
    let subject = match (rule, source) {
        (Some(rule), Some(source)) => Subject::Alarm { rule, source, asset },
        _ if asset.is_empty() => Subject::General,
        _ => Subject::Asset { asset },
    };
    let handover = match (shift, taken_over_by) {
        (Some(shift), Some(taken_over_by)) => Some(Handover { shift, taken_over_by }),
        _ => None,
    };
    Note { uid, written_ms, author, from_ms, to_ms, subject, text, corrects, handover }
}

/// The notes about any of `[from_ms, to_ms)`, in the order of what they are about (then as written).
pub fn notes(conn: &Connection, from_ms: i64, to_ms: i64) -> rusqlite::Result<Vec<Note>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM logbook WHERE from_ms < ?2 AND coalesce(to_ms, from_ms) >= ?1
         ORDER BY from_ms, written_ms, id"
    ))?;
    stmt.query_map(params![from_ms, to_ms], |r| {
        Ok(note_from(
            (r.get(0)?, r.get(1)?, r.get(2)?),
            (r.get(3)?, r.get(4)?),
            (r.get(5)?, r.get(6)?, r.get(7)?),
            (r.get(8)?, r.get(9)?),
            (r.get(10)?, r.get(11)?),
        ))
    })?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = super::super::open_writer(&dir.path().join("h.sqlite")).expect("cache");
        (dir, conn)
    }

    #[test]
    fn notes_go_in_once_come_back_whole_and_are_never_changed() {
        let (_dir, conn) = cache();
        let mut jam = Note::new("c-1-a".into(), 1_000, "ana", 500, "Filler jammed on a bottle");
        jam.subject = Subject::Asset { asset: "PlantA/Line1/Filler".into() };
        jam.to_ms = Some(900);
        let mut alarm = Note::new("c-2-b".into(), 2_000, "ana", 1_500, "Called maintenance");
        alarm.subject =
            Subject::Alarm { rule: "temp_high".into(), source: "PlantA/Line1/Filler/Temp".into(), asset: "x".into() };
        let mut handover = Note::new("c-3-c".into(), 3_000, "ana", 0, "Line 2 slow");
        handover.to_ms = Some(2_800);
        handover.handover = Some(Handover { shift: "Morning".into(), taken_over_by: "ben".into() });
        for n in [&jam, &alarm, &handover] {
            assert!(insert(&conn, n).expect("insert"));
        }
        assert!(!insert(&conn, &jam).expect("again"), "the same uid goes in once");
        assert_eq!(notes(&conn, 0, 10_000).expect("read"), vec![handover.clone(), jam.clone(), alarm.clone()]);
        assert_eq!(notes(&conn, 901, 1_400).expect("read"), vec![handover.clone()], "only what touches the range");
        assert_eq!(notes(&conn, 900, 901).expect("read"), vec![handover, jam], "a range includes its end");
        let err = conn.execute("UPDATE logbook SET text = 'nothing happened'", []).expect_err("immutable");
        assert!(err.to_string().contains("never changed"), "{err}");
        let err = conn.execute("DELETE FROM logbook", []).expect_err("immutable");
        assert!(err.to_string().contains("never removed"), "{err}");
    }
}
