//! SQL of the SQLite backend for the operators' statistics (migration 0007's indexes).

use crate::stats::{
    access_count_from, lag_sample_sql, own_since_sql, sort_counts, written_since_sql, AccessCount,
    FreshnessParts, InsurerFreshness, INSURERS_SQL, LAG_SAMPLE, OWN_LAST_SQL,
};
use crate::StoreError;
use kakunin_domain::Timestamp;
use rusqlite::{params, Connection};

pub(super) fn access_counts(
    conn: &Connection,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<AccessCount>, StoreError> {
    // One pass over the period through access_log_by_time; the result's prefix is its kind.
    let mut st = conn.prepare_cached(
        "SELECT institution_code, purpose, category,
                substr(result, 1, instr(result || ':', ':') - 1), count(*)
         FROM access_log WHERE at_ms >= ?1 AND at_ms < ?2
         GROUP BY 1, 2, 3, 4",
    )?;
    let mut rows = st.query(params![from.unix_millis(), to.unix_millis()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(access_count_from(r)?);
    }
    sort_counts(&mut out);
    Ok(out)
}

pub(super) fn insurer_freshness(
    conn: &Connection,
    since: Timestamp,
) -> Result<Vec<InsurerFreshness>, StoreError> {
    let since = since.unix_millis();
    let mut parts = FreshnessParts::default();
    let mut st = conn.prepare_cached(INSURERS_SQL)?;
    parts.insurers = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let mut st = conn.prepare_cached(OWN_LAST_SQL)?;
    parts.own_last = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut st = conn.prepare_cached(&own_since_sql("?1"))?;
    parts.own_since = st
        .query_map([since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut st = conn.prepare_cached(&written_since_sql("?1"))?;
    parts.written_since = st
        .query_map([since], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut st = conn.prepare_cached(&lag_sample_sql("?1", &LAG_SAMPLE.to_string()))?;
    parts.lag_sample = st
        .query_map([since], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    parts.assemble()
}
