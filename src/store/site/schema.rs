//! The site database's schema and its versioned migrations.
//!
//! Each migration is plain SQL with a comment saying why, applied in order in its own transaction and recorded in
//! `watchfloor_schema`; two recorders starting at once take turns on an advisory lock. A database whose schema is
//! newer than this build is refused and left unchanged.
//!
//! The big tables (`sample`, `rollup_1m`, `fix`, `event`) are partitioned by day on their time column, so
//! retention drops whole partitions instead of deleting rows. Partitions are made as data for a day first arrives
//! ([`partition_sql`]).

/// The advisory lock key migrations take (`'WFmg'`).
pub const MIGRATION_LOCK: i64 = 0x5746_6d67;

/// The migrations, in order: (version, why, SQL).
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "the first site schema: the cache's tables, partitioned by day",
        // Signals get a small integer key so sample rows stay small. Natural keys (signal, time) make every insert
        // idempotent (`ON CONFLICT DO NOTHING`): a replayed batch or the overlap after a failover adds nothing.
        // Quality: 0 good, 1 uncertain, 2 bad. Rollups hold the good numeric values of each minute / hour.
        "CREATE TABLE signal (
        id       bigserial PRIMARY KEY,
        name     text NOT NULL UNIQUE,
        kind     text NOT NULL,
        unit     text,
        gateway  text NOT NULL
    );
    CREATE TABLE sample (
        signal   bigint NOT NULL,
        ts_ms    bigint NOT NULL,
        num      double precision,
        text     text,
        quality  smallint NOT NULL,
        PRIMARY KEY (signal, ts_ms)
    ) PARTITION BY RANGE (ts_ms);
    CREATE TABLE rollup_1m (
        signal   bigint NOT NULL,
        start_ms bigint NOT NULL,
        min_value double precision NOT NULL,
        max_value double precision NOT NULL,
        sum_value double precision NOT NULL,
        count    bigint NOT NULL,
        first_ms bigint NOT NULL,
        first_value double precision NOT NULL,
        last_ms  bigint NOT NULL,
        last_value double precision NOT NULL,
        PRIMARY KEY (signal, start_ms)
    ) PARTITION BY RANGE (start_ms);
    CREATE TABLE rollup_1h (
        signal   bigint NOT NULL,
        start_ms bigint NOT NULL,
        min_value double precision NOT NULL,
        max_value double precision NOT NULL,
        sum_value double precision NOT NULL,
        count    bigint NOT NULL,
        first_ms bigint NOT NULL,
        first_value double precision NOT NULL,
        last_ms  bigint NOT NULL,
        last_value double precision NOT NULL,
        PRIMARY KEY (signal, start_ms)
    );
    -- Stretches with no data from a signal's source; end_ms is NULL while the gap is open.
    CREATE TABLE gap (
        signal   bigint NOT NULL,
        start_ms bigint NOT NULL,
        end_ms   bigint,
        PRIMARY KEY (signal, start_ms)
    );
    CREATE TABLE latest (
        signal   bigint PRIMARY KEY,
        ts_ms    bigint NOT NULL,
        num      double precision,
        text     text,
        quality  smallint NOT NULL
    );
    CREATE TABLE fix (
        vehicle  text NOT NULL,
        ts_ms    bigint NOT NULL,
        lat_deg  double precision NOT NULL,
        lon_deg  double precision NOT NULL,
        PRIMARY KEY (vehicle, ts_ms)
    ) PARTITION BY RANGE (ts_ms);
    CREATE TABLE event (
        ts_ms    bigint NOT NULL,
        kind     text NOT NULL,
        source   text NOT NULL,
        message  text NOT NULL,
        PRIMARY KEY (kind, source, ts_ms, message)
    ) PARTITION BY RANGE (ts_ms);
    -- The ISA-18.2 journal: every transition of every alarm, with the alarm's state after it.
    CREATE TABLE alarm_journal (
        id        bigserial PRIMARY KEY,
        ts_ms     bigint NOT NULL,
        rule      text NOT NULL,
        source    text NOT NULL,
        priority  text NOT NULL,
        from_state text NOT NULL,
        state     text NOT NULL,
        \"user\"  text NOT NULL,
        comment   text NOT NULL,
        value     double precision,
        active    boolean NOT NULL,
        acked     boolean NOT NULL,
        lim       text,
        asset     text NOT NULL DEFAULT '',
        message   text NOT NULL DEFAULT '',
        UNIQUE (rule, source, ts_ms, state, comment)
    );
    CREATE INDEX alarm_journal_by_time ON alarm_journal (ts_ms);
    CREATE INDEX alarm_journal_by_key ON alarm_journal (rule, source, id);",
    ),
    (
        2,
        "alarm state shared by every console: current state, operator actions, the console in the journal",
        // One row per alarm with its whole state. The leader recorder writes the condition's side as it judges
        // values, consoles the operator's side (acknowledge, shelve, out of service) as compare-and-set
        // transactions; both under the site's alarm lock (`ALARM_LOCK`), so they take turns. Every change takes
        // the next `alarm_seq`: a console that reconnects re-reads what changed after the last seq it saw
        // (notifications are not replayed). `occurrence_ms` is when the alarm last became active: an
        // acknowledgement names the occurrence the operator saw, and one of an older occurrence is refused.
        "CREATE SEQUENCE alarm_seq;
    CREATE TABLE alarm_state (
        rule      text NOT NULL,
        source    text NOT NULL,
        asset     text NOT NULL,
        priority  text NOT NULL,
        state     text NOT NULL,
        active    boolean NOT NULL,
        acked     boolean NOT NULL,
        suppressed boolean NOT NULL,
        out_of_service boolean NOT NULL,
        shelved_until_ms bigint,
        shelve_reason text,
        occurrence_ms bigint,
        value     double precision,
        lim       text,
        message   text NOT NULL,
        seq       bigint NOT NULL,
        changed_ms bigint NOT NULL,
        -- Who made the last change: empty for the recorder (the condition, a timer), else 'user@console'.
        changed_by text NOT NULL,
        PRIMARY KEY (rule, source)
    );
    CREATE INDEX alarm_state_by_seq ON alarm_state (seq);
    -- Each operator action once, by the id its console gave it: a queued action sent again after a reconnect
    -- finds its row and changes nothing.
    CREATE TABLE alarm_action (
        id        text PRIMARY KEY,
        ts_ms     bigint NOT NULL,
        console   text NOT NULL,
        \"user\"  text NOT NULL,
        action    text NOT NULL,
        rule      text NOT NULL,
        source    text NOT NULL,
        outcome   text NOT NULL DEFAULT ''
    );
    ALTER TABLE alarm_journal ADD COLUMN console text NOT NULL DEFAULT '';",
    ),
    (
        3,
        "the leader's heartbeat, so consoles know whether anything judges the alarms",
        // The recorder holding the site's lock beats here every few seconds, in the database server's time (the
        // machines' clocks may differ). A console that sees no fresh beat says nobody judges the site's alarms
        // and shows its own; a recorder that stops cleanly removes its row.
        "CREATE TABLE site_leader (
        site      text PRIMARY KEY,
        host      text NOT NULL,
        since_ms  bigint NOT NULL,
        beat_ms   bigint NOT NULL
    );",
    ),
    (
        4,
        "the shift logbook shared by every console, never changed once written",
        // The same entries as the cache's `logbook` (`model::logbook`): a console writes its notes here as well as
        // in its cache, by `uid`, so a note sent again after a reconnect goes in once. Corrections are new rows;
        // the trigger refuses changes and deletions from anyone.
        "CREATE TABLE logbook (
        id         bigserial PRIMARY KEY,
        uid        text NOT NULL UNIQUE,
        written_ms bigint NOT NULL,
        author     text NOT NULL,
        from_ms    bigint NOT NULL,
        to_ms      bigint,
        asset      text NOT NULL DEFAULT '',
        alarm_rule text,
        alarm_source text,
        text       text NOT NULL,
        corrects   text,
        handover_shift text,
        taken_over_by  text,
        console    text NOT NULL DEFAULT ''
    );
    CREATE INDEX logbook_by_time ON logbook (from_ms);
    CREATE FUNCTION logbook_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'logbook entries are never changed or removed: write a correction'; END $$;
    CREATE TRIGGER logbook_immutable BEFORE UPDATE OR DELETE ON logbook
        FOR EACH ROW EXECUTE FUNCTION logbook_immutable();",
    ),
];

/// The newest schema this build knows.
pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// The tables partitioned by day, with their time column.
pub const PARTITIONED: [&str; 4] = ["sample", "rollup_1m", "fix", "event"];

pub use crate::model::time::DAY_MS;

/// The name of `table`'s partition for day `day` (days since 1970-01-01 UTC): `sample_20261203`.
pub fn partition_name(table: &str, day: i64) -> String {
    let date = jiff::Timestamp::from_millisecond(day.saturating_mul(DAY_MS))
        .ok()
        .map(|t| t.strftime("%Y%m%d").to_string())
        .filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()));
    match date {
        Some(d) => format!("{table}_{d}"),
        None => format!("{table}_d{}", day.to_string().replace('-', "m")),
    }
}

/// The day a partition name holds, if it is one of ours.
pub fn partition_day(table: &str, name: &str) -> Option<i64> {
    let rest = name.strip_prefix(table)?.strip_prefix('_')?;
    if rest.len() == 8 && rest.bytes().all(|b| b.is_ascii_digit()) {
        let date: jiff::civil::Date = jiff::civil::Date::strptime("%Y%m%d", rest).ok()?;
        let ts = date.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
        return Some(ts.as_millisecond().div_euclid(DAY_MS));
    }
    let n = rest.strip_prefix('d')?.replace('m', "-");
    n.parse().ok()
}

/// `CREATE TABLE IF NOT EXISTS` for `table`'s partition of day `day`.
pub fn partition_sql(table: &str, day: i64) -> String {
    let from = day.saturating_mul(DAY_MS);
    let to = day.saturating_add(1).saturating_mul(DAY_MS);
    format!(
        "CREATE TABLE IF NOT EXISTS {} PARTITION OF {table} FOR VALUES FROM ({from}) TO ({to})",
        partition_name(table, day)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip() {
        let day = 1_764_720_000_000 / DAY_MS;
        assert_eq!(partition_name("sample", day), "sample_20251203");
        assert_eq!(partition_day("sample", "sample_20251203"), Some(day));
        assert_eq!(partition_day("sample", &partition_name("sample", -3)), Some(-3));
        assert_eq!(partition_day("sample", "sample_1m_x"), None);
        assert!(partition_sql("fix", day).contains("FROM (1764720000000) TO (1764806400000)"));
    }

    #[test]
    fn versions_increase() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(latest_version(), MIGRATIONS.len().try_into().unwrap_or(0));
    }
}
