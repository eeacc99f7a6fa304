//! One batch in one transaction: the signals it names, binary COPY of its samples (the idempotent staged insert
//! when some are stored already), their rollups, latest values, gaps, fixes and crossings, events; then the journal.

use super::*;

/// The writer's signal ids, and the ones made in the batch being written (forgotten if it rolls back).
pub(super) struct Signals<'a> {
    pub(super) ids: &'a mut HashMap<Arc<str>, i64>,
    pub(super) by_gateway: &'a mut HashMap<Arc<str>, Vec<i64>>,
    pub(super) new: Vec<(Arc<str>, Arc<str>, i64)>,
    /// Prepared on the first signal the batch stores.
    pub(super) upsert: Option<tokio_postgres::Statement>,
}

impl Signals<'_> {
    /// The id of `name`; stored when unknown, and its kind, unit and gateway updated on a birth.
    pub(super) async fn id(
        &mut self,
        tx: &Transaction<'_>,
        (name, kind, unit): (&str, ValueKind, Option<&str>),
        gateway: &Arc<str>,
        birth: bool,
    ) -> Result<i64, SiteError> {
        if let Some(id) = self.ids.get(name).filter(|_| !birth) {
            return Ok(*id);
        }
        let upsert = match &self.upsert {
            Some(stmt) => stmt.clone(),
            None => {
                let stmt = tx
                    .prepare(
                        "INSERT INTO signal (name, kind, unit, gateway) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind,
                             unit = coalesce(excluded.unit, signal.unit), gateway = excluded.gateway
                         RETURNING id",
                    )
                    .await?;
                self.upsert.insert(stmt).clone()
            }
        };
        let kind = crate::store::writer::kind_name(kind);
        let id: i64 = tx.query_one(&upsert, &[&name, &kind, &unit, &gateway.as_ref()]).await?.get(0);
        if self.ids.insert(Arc::from(name), id).is_none() {
            self.by_gateway.entry(Arc::clone(gateway)).or_default().push(id);
            self.new.push((Arc::from(name), Arc::clone(gateway), id));
        }
        Ok(id)
    }
}

/// The rows a batch of events makes (the signals they name are stored on the way).
pub(super) async fn rows_of(
    tx: &Transaction<'_>,
    events: &[Arc<FeedEvent>],
    signals: &mut Signals<'_>,
) -> Result<Rows, SiteError> {
    let mut rows = Rows::default();
    for event in events {
        let gateway = &event.gateway;
        match &event.body {
            FeedEventBody::Birth(metas) => {
                for meta in metas {
                    signals.id(tx, (meta.id.as_str(), meta.kind, meta.unit.as_deref()), gateway, true).await?;
                }
            }
            FeedEventBody::Samples(samples) => {
                for s in samples {
                    // A signal never announced: stored with the kind of its first value and no unit.
                    let id = signals.id(tx, (s.signal.as_str(), s.value.kind(), None), gateway, false).await?;
                    rows.sample(id, s);
                }
            }
            FeedEventBody::Stale { prefix } => {
                for (name, id) in signals.ids.iter() {
                    if name.starts_with(prefix.as_str()) {
                        rows.gaps.push((*id, event.received_ms));
                    }
                }
                rows.event(event.received_ms, "feed.stale", gateway, prefix.as_str());
            }
            FeedEventBody::Status(status) => {
                let message = match &status.message {
                    Some(m) => format!("{}: {m}", status.state.label()),
                    None => status.state.label().to_owned(),
                };
                rows.event(event.received_ms, "feed.status", gateway, &message);
                if matches!(status.state, FeedState::Offline | FeedState::Error) {
                    for id in signals.by_gateway.get(gateway).map(Vec::as_slice).unwrap_or_default() {
                        rows.gaps.push((*id, event.received_ms));
                    }
                }
            }
            FeedEventBody::Rejected { reason } => rows.event(event.received_ms, "feed.rejected", gateway, reason),
        }
    }
    Ok(rows)
}

/// The batch's rows in its transaction: partitions, samples and rollups, gaps, fixes and their crossings, events,
/// the journal; then the commit.
pub(super) async fn write_rows(
    tx: Transaction<'_>,
    mut rows: Rows,
    partitions: &mut HashSet<(&'static str, i64)>,
    alarms: AlarmWrite<'_>,
    unjournaled: &mut Vec<AlarmEntry>,
) -> Result<(u64, u64), SiteError> {
    let AlarmWrite { evaluator, seq: alarm_seq, now_ms } = alarms;
    // Day partitions for everything this batch holds.
    let mut days: Vec<(&'static str, i64)> = Vec::new();
    for &(_, ts, ..) in &rows.samples {
        days.push(("sample", ts.div_euclid(DAY_MS)));
        days.push(("rollup_1m", ts.div_euclid(DAY_MS)));
    }
    for (_, ts, ..) in rows.half_fixes.whole() {
        days.push(("fix", ts.div_euclid(DAY_MS)));
    }
    days.sort_unstable();
    days.dedup();
    let mut made = Vec::new();
    for d in days.into_iter().filter(|d| !partitions.contains(d)) {
        tx.batch_execute(&schema::partition_sql(d.0, d.1)).await?;
        made.push(d);
    }

    let staged = rows.samples.len() as u64;
    // Each signal's first value in the batch, which ends its open gap (after the batch's own gaps are opened).
    let mut first_values: (Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new());
    let stored = if rows.samples.is_empty() {
        0
    } else {
        // The usual batch is all new: COPY it straight into `sample` (several times faster than an INSERT …
        // SELECT) and merge its rollups, computed here, into the rollup tables. A batch with a row already stored (a
        // replay, the overlap after a takeover) fails that COPY on the key: it is rolled back to the savepoint,
        // staged, and goes through the idempotent insert, whose rollups count only what it inserted.
        tx.batch_execute("SAVEPOINT wf_new_rows").await?;
        let stored: i64 = match copy_new_samples(&tx, &rows.samples).await {
            Ok(()) => {
                tx.batch_execute("RELEASE SAVEPOINT wf_new_rows").await?;
                for (table, tier) in gather(&rows.samples, MINUTE_MS).tiers() {
                    tx.execute(&merge_buckets_sql(table), &Buckets::columns(&tier).params()).await?;
                }
                i64::try_from(rows.samples.len()).unwrap_or(i64::MAX)
            }
            Err(err) if err.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT wf_new_rows").await?;
                let sink = tx
                    .copy_in("COPY wf_stage_sample (signal, ts_ms, num, text, quality, live) FROM STDIN BINARY")
                    .await?;
                let types = [Type::INT8, Type::INT8, Type::FLOAT8, Type::TEXT, Type::INT2, Type::BOOL];
                let writer = BinaryCopyInWriter::new(sink, &types);
                let mut writer = std::pin::pin!(writer);
                for (id, ts, num, text, quality, live) in &rows.samples {
                    writer.as_mut().write(&[id, ts, num, text, quality, live]).await?;
                }
                writer.finish().await?;
                tx.query_one(INSERT_SAMPLES.as_str(), &[]).await?.get(0)
            }
            Err(err) => return Err(err.into()),
        };
        // Each live signal's newest value becomes its latest (unless the stored one is newer); an open gap of a
        // signal that has values again ends at its first.
        let (mut latest, mut first): (HashMap<i64, &SampleRow>, HashMap<i64, i64>) = (HashMap::new(), HashMap::new());
        for row in &rows.samples {
            let f = first.entry(row.0).or_insert(row.1);
            *f = (*f).min(row.1);
            if row.5 && latest.get(&row.0).is_none_or(|l| l.1 <= row.1) {
                latest.insert(row.0, row);
            }
        }
        let latest: Vec<&SampleRow> = latest.into_values().collect();
        let ids: Vec<i64> = latest.iter().map(|r| r.0).collect();
        let ts: Vec<i64> = latest.iter().map(|r| r.1).collect();
        let nums: Vec<Option<f64>> = latest.iter().map(|r| r.2).collect();
        let texts: Vec<Option<&str>> = latest.iter().map(|r| r.3.as_deref()).collect();
        let qualities: Vec<i16> = latest.iter().map(|r| r.4).collect();
        tx.execute(UPSERT_LATEST, &[&ids, &ts, &nums, &texts, &qualities]).await?;
        first_values = first.into_iter().unzip();
        u64::try_from(stored).unwrap_or(0)
    };
    for (id, start) in &rows.gaps {
        // Only one open gap per signal.
        tx.execute(
            "INSERT INTO gap (signal, start_ms, end_ms) SELECT $1, $2, NULL
             WHERE NOT EXISTS (SELECT 1 FROM gap WHERE signal = $1 AND end_ms IS NULL)",
            &[id, start],
        )
        .await?;
    }

    if !first_values.0.is_empty() {
        tx.execute(
            "UPDATE gap g SET end_ms = s.first FROM unnest($1::int8[], $2::int8[]) AS s(signal, first)
             WHERE g.signal = s.signal AND g.end_ms IS NULL AND g.start_ms <= s.first",
            &[&first_values.0, &first_values.1],
        )
        .await?;
    }

    // Fixes: only the new ones count for the geofences.
    let fixes = rows.fixes();
    if !fixes.is_empty() {
        let sink = tx.copy_in("COPY wf_stage_fix (vehicle, ts_ms, lat_deg, lon_deg) FROM STDIN BINARY").await?;
        let writer = BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::INT8, Type::FLOAT8, Type::FLOAT8]);
        let mut writer = std::pin::pin!(writer);
        for (vehicle, ts, lat, lon) in &fixes {
            writer.as_mut().write(&[&vehicle.as_ref(), ts, lat, lon]).await?;
        }
        writer.finish().await?;
        let new = tx
            .query(
                "INSERT INTO fix (vehicle, ts_ms, lat_deg, lon_deg) SELECT DISTINCT ON (vehicle, ts_ms) * FROM wf_stage_fix
                 ON CONFLICT DO NOTHING RETURNING vehicle, ts_ms, lat_deg, lon_deg",
                &[],
            )
            .await?;
        if evaluator.has_geofences() {
            let mut new: Vec<(String, i64, f64, f64)> =
                new.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
            new.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut crossings: Vec<ZoneCrossing> = Vec::new();
            for (vehicle, ts, lat, lon) in new {
                evaluator.position(&vehicle, (ts, lat, lon), &mut crossings, unjournaled);
                for c in crossings.drain(..) {
                    let kind = if c.enter { "geofence.enter" } else { "geofence.exit" };
                    rows.events.push((c.ts_ms, kind, vehicle.clone(), c.zone.to_string()));
                }
            }
        }
    }

    let mut event_days: Vec<i64> = rows.events.iter().map(|e| e.0.div_euclid(DAY_MS)).collect();
    event_days.sort_unstable();
    event_days.dedup();
    for day in event_days.into_iter().filter(|d| !partitions.contains(&("event", *d))) {
        tx.batch_execute(&schema::partition_sql("event", day)).await?;
        made.push(("event", day));
    }
    if !rows.events.is_empty() {
        let insert = tx
            .prepare("INSERT INTO event (ts_ms, kind, source, message) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
            .await?;
        for (ts, kind, source, message) in &rows.events {
            tx.execute(&insert, &[ts, kind, source, message]).await?;
        }
    }
    let seq = journal_and_states(&tx, unjournaled, evaluator, *alarm_seq, now_ms).await?;
    tx.commit().await?;
    *alarm_seq = seq;
    partitions.extend(made);
    Ok((stored, staged.saturating_sub(stored)))
}

/// Sample rows staged for COPY: (signal, ts, num, text, quality, live).
pub(super) type SampleRow = (i64, i64, Option<f64>, Option<String>, i16, bool);

#[derive(Default)]
pub(super) struct Rows {
    pub(super) samples: Vec<SampleRow>,
    /// Latitude and longitude seen per vehicle and time; a fix is stored once both are there.
    pub(super) half_fixes: Fixes,
    pub(super) gaps: Vec<(i64, i64)>,
    pub(super) events: Vec<EventRow>,
}

/// (time, kind, source, message)
pub(super) type EventRow = (i64, &'static str, String, String);

impl Rows {
    pub(super) fn sample(&mut self, id: i64, s: &crate::model::Sample) {
        let (num, text) = crate::store::writer::columns(&s.value);
        let text = text.map(str::to_owned);
        // 0 good, 1 uncertain, 2 bad: always fits.
        let quality = i16::try_from(crate::store::writer::quality_code(s.quality)).unwrap_or(2);
        self.half_fixes.note(s, num);
        self.samples.push((id, s.ts_ms, num, text, quality, !s.historical));
    }

    pub(super) fn event(&mut self, ts_ms: i64, kind: &'static str, source: &str, message: &str) {
        self.events.push((ts_ms, kind, source.to_owned(), message.to_owned()));
    }

    pub(super) fn fixes(&self) -> Vec<(Arc<str>, i64, f64, f64)> {
        self.half_fixes.whole().map(|(v, ts, lat, lon)| (Arc::clone(v), ts, lat, lon)).collect()
    }
}

/// Moves the staged samples into `sample` (a row already there is skipped) and merges the ones actually inserted
/// into the minute and hour rollups, in one statement; returns how many were inserted. (Data-modifying `WITH`
/// parts run to completion whether or not the final `SELECT` reads them.)
pub(super) static INSERT_SAMPLES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH ins AS (
            INSERT INTO sample (signal, ts_ms, num, text, quality)
            SELECT signal, ts_ms, num, text, quality FROM wf_stage_sample
            ON CONFLICT DO NOTHING
            RETURNING signal, ts_ms, num, quality
        ), good AS (
            SELECT signal, ts_ms, num FROM ins WHERE num IS NOT NULL AND quality < 2
        ), m AS ({}), h AS ({})
        SELECT count(*) FROM ins",
        merge_rollup(rollup::TIERS[0].0, rollup::TIERS[0].1),
        merge_rollup(rollup::TIERS[1].0, rollup::TIERS[1].1)
    )
});

/// A batch's good values (numbers that are not bad) in buckets `width_ms` wide.
pub(super) fn gather(samples: &[SampleRow], width_ms: i64) -> rollup::Buckets {
    let mut gathered = rollup::Buckets::new(width_ms);
    for (id, ts, num, _, quality, _) in samples {
        if let (Some(v), true) = (num, *quality < 2) {
            gathered.add(*id, *ts, *v);
        }
    }
    gathered
}

/// A batch's good values gathered into rollup buckets (the same figures the SQL merge computes).
#[derive(Default)]
pub(super) struct Buckets {
    pub(super) signal: Vec<i64>,
    pub(super) start: Vec<i64>,
    pub(super) min: Vec<f64>,
    pub(super) max: Vec<f64>,
    pub(super) sum: Vec<f64>,
    pub(super) count: Vec<i64>,
    pub(super) first_ms: Vec<i64>,
    pub(super) first: Vec<f64>,
    pub(super) last_ms: Vec<i64>,
    pub(super) last: Vec<f64>,
}

impl Buckets {
    /// The batch's good values in buckets `width_ms` wide, as columns.
    #[cfg(test)]
    pub(super) fn of(samples: &[SampleRow], width_ms: i64) -> Self {
        Self::columns(&gather(samples, width_ms))
    }

    pub(super) fn columns(gathered: &rollup::Buckets) -> Self {
        let mut b = Self::default();
        for (&(signal, start), a) in &gathered.by_key {
            b.signal.push(signal);
            b.start.push(start);
            b.min.push(a.min);
            b.max.push(a.max);
            b.sum.push(a.sum);
            b.count.push(a.count);
            b.first_ms.push(a.first_ms);
            b.first.push(a.first);
            b.last_ms.push(a.last_ms);
            b.last.push(a.last);
        }
        b
    }

    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 10] {
        [
            &self.signal,
            &self.start,
            &self.min,
            &self.max,
            &self.sum,
            &self.count,
            &self.first_ms,
            &self.first,
            &self.last_ms,
            &self.last,
        ]
    }
}

/// Merges [`Buckets`] (as arrays) into `table`, as [`merge_rollup`] merges rows.
pub(super) fn merge_buckets_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} AS r ({})
        SELECT * FROM unnest($1::int8[], $2::int8[], $3::float8[], $4::float8[], $5::float8[], $6::int8[],
            $7::int8[], $8::float8[], $9::int8[], $10::float8[])
        {}",
        rollup::COLUMNS,
        rollup::merge_on_conflict(Dialect::Postgres, "r")
    )
}

/// COPYs a batch's samples straight into `sample`; fails on the first one already stored.
pub(super) async fn copy_new_samples(tx: &Transaction<'_>, samples: &[SampleRow]) -> Result<(), tokio_postgres::Error> {
    let sink = tx.copy_in("COPY sample (signal, ts_ms, num, text, quality) FROM STDIN BINARY").await?;
    let writer = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::INT8, Type::FLOAT8, Type::TEXT, Type::INT2]);
    let mut writer = std::pin::pin!(writer);
    for (id, ts, num, text, quality, _) in samples {
        writer.as_mut().write(&[id, ts, num, text, quality]).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// Merges the `good` rows into `table`'s buckets `width_ms` wide (as the cache's writer merges its rollups).
pub(super) fn merge_rollup(table: &str, width_ms: i64) -> String {
    format!(
        "INSERT INTO {table} AS r ({})
        SELECT signal, ts_ms - (((ts_ms % {width_ms}) + {width_ms}) % {width_ms}), min(num), max(num), sum(num),
            count(*), min(ts_ms), (array_agg(num ORDER BY ts_ms))[1], max(ts_ms), (array_agg(num ORDER BY ts_ms DESC))[1]
        FROM good GROUP BY 1, 2
        {}",
        rollup::COLUMNS,
        rollup::merge_on_conflict(Dialect::Postgres, "r")
    )
}

/// Each live signal's newest value of the batch (as arrays) becomes its latest, unless the stored one is newer.
pub(super) const UPSERT_LATEST: &str = "
INSERT INTO latest AS l (signal, ts_ms, num, text, quality)
SELECT * FROM unnest($1::int8[], $2::int8[], $3::float8[], $4::text[], $5::int2[])
ON CONFLICT (signal) DO UPDATE SET ts_ms = excluded.ts_ms, num = excluded.num, text = excluded.text,
    quality = excluded.quality
WHERE excluded.ts_ms >= l.ts_ms";
