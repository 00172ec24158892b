//! SQL of the PostgreSQL backend for the operators' statistics. A month of the access log is
//! one partition, so its count reads that partition only.

use super::{pg_err, Conn};
use crate::stats::{
    access_count_from, lag_sample_sql, own_since_sql, sort_counts, written_since_sql, AccessCount,
    FreshnessParts, InsurerFreshness, INSURERS_SQL, LAG_SAMPLE, OWN_LAST_SQL,
};
use crate::StoreError;
use kakunin_domain::Timestamp;

macro_rules! q {
    ($e:expr) => {
        $e.await.map_err(|e| pg_err(&e))?
    };
}

pub(super) async fn access_counts(
    c: &Conn,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<AccessCount>, StoreError> {
    let rows = q!(c.query(
        "SELECT institution_code, purpose, category, split_part(result, ':', 1), count(*)
         FROM access_log WHERE at_ms >= $1 AND at_ms < $2
         GROUP BY 1, 2, 3, 4",
        &[&from.unix_millis(), &to.unix_millis()]
    ));
    let mut out = rows
        .iter()
        .map(access_count_from)
        .collect::<Result<Vec<_>, _>>()?;
    sort_counts(&mut out);
    Ok(out)
}

pub(super) async fn insurer_freshness(
    c: &Conn,
    since: Timestamp,
) -> Result<Vec<InsurerFreshness>, StoreError> {
    let since = since.unix_millis();
    let insurers = q!(c.query(INSURERS_SQL, &[]));
    let own_last = q!(c.query(OWN_LAST_SQL, &[]));
    let own_since = q!(c.query(&own_since_sql("$1"), &[&since]));
    let written = q!(c.query(&written_since_sql("$1"), &[&since]));
    let lags = q!(c.query(&lag_sample_sql("$1", &LAG_SAMPLE.to_string()), &[&since]));
    let get = |e: tokio_postgres::Error| StoreError::Corrupt(e.to_string());
    let mut parts = FreshnessParts::default();
    for r in &insurers {
        parts.insurers.push(r.try_get(0).map_err(get)?);
    }
    for r in &own_last {
        parts
            .own_last
            .push((r.try_get(0).map_err(get)?, r.try_get(1).map_err(get)?));
    }
    for r in &own_since {
        parts.own_since.push((
            r.try_get(0).map_err(get)?,
            r.try_get(1).map_err(get)?,
            r.try_get(2).map_err(get)?,
        ));
    }
    for r in &written {
        parts.written_since.push((
            r.try_get(0).map_err(get)?,
            r.try_get(1).map_err(get)?,
            r.try_get(2).map_err(get)?,
            r.try_get(3).map_err(get)?,
        ));
    }
    for r in &lags {
        parts.lag_sample.push((
            r.try_get(0).map_err(get)?,
            r.try_get(1).map_err(get)?,
            r.try_get(2).map_err(get)?,
            r.try_get(3).map_err(get)?,
        ));
    }
    parts.assemble()
}
