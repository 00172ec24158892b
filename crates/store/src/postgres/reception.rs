//! SQL of the PostgreSQL backend for 照会番号 and 一括照会 (migration 0005).

use super::{pg_err, Conn};
use crate::reception::{batch_from, batch_summary_cols, BATCH_COLS};
use crate::{
    BatchInquiryResult, NewBatchInquiry, ReferenceNumberRegistration, StoreError,
    StoredBatchInquiry,
};
use kakunin_domain::{InstitutionCode, Timestamp};

macro_rules! q {
    ($e:expr) => {
        $e.await.map_err(|e| pg_err(&e))?
    };
}

/// Upserts a registration in one transaction; returns the number it replaced.
///
/// The old number is read under a row lock, so concurrent registrations for one qualification
/// each report the number they really replaced. When two first registrations race, the loser's
/// insert does nothing and its next round locks and replaces the winner's row.
pub(super) async fn register_reference_number(
    c: &mut Conn,
    reg: &ReferenceNumberRegistration,
) -> Result<Option<String>, StoreError> {
    let tx = q!(c.transaction());
    if q!(tx.query_opt(
        "SELECT 1 FROM qualifications WHERE id = $1",
        &[&reg.qualification_id]
    ))
    .is_none()
    {
        return Err(StoreError::UnknownQualification(reg.qualification_id));
    }
    let (institution, at) = (reg.institution.as_str(), reg.registered_at.unix_millis());
    // Rows are never deleted, so a locked row stays: two rounds always suffice.
    for _ in 0..2 {
        let old: Option<String> = q!(tx.query_opt(
            "SELECT reference_number FROM reference_numbers
             WHERE institution_code = $1 AND qualification_id = $2 FOR UPDATE",
            &[&institution, &reg.qualification_id]
        ))
        .map(|r| r.get(0));
        let written = if old.is_some() {
            q!(tx.execute(
                "UPDATE reference_numbers SET reference_number = $3, registered_at_ms = $4
                 WHERE institution_code = $1 AND qualification_id = $2",
                &[
                    &institution,
                    &reg.qualification_id,
                    &reg.reference_number,
                    &at
                ]
            ))
        } else {
            q!(tx.execute(
                "INSERT INTO reference_numbers (institution_code, qualification_id, reference_number, registered_at_ms)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (institution_code, qualification_id) DO NOTHING",
                &[&institution, &reg.qualification_id, &reg.reference_number, &at]
            ))
        };
        if written == 1 {
            q!(tx.commit());
            return Ok(old);
        }
    }
    Err(StoreError::Backend(
        "a 照会番号 registration kept conflicting with another".into(),
    ))
}

/// The qualification's own 照会番号, else the newest on another qualification of its person.
///
/// One qualification per statement, with a scalar parameter, so that PostgreSQL keeps one
/// generic plan for it. Written over `unnest($2::bigint[])`, the generic plan was costed for
/// the hundred rows PostgreSQL assumes of an array parameter, every custom plan for the one id
/// a check has, and so the statement was planned again at every check: 239 µs of the
/// primary's CPU per check, half of all it spent (`pg_stat_statements` with
/// `track_planning`, 2026-12-04).
const REFERENCE_NUMBER_SQL: &str = "SELECT coalesce(
             (SELECT reference_number FROM reference_numbers
              WHERE institution_code = $1 AND qualification_id = $2),
             (SELECT r.reference_number FROM person_links l
              JOIN person_links o ON o.pseudonym = l.pseudonym AND o.qualification_id <> l.qualification_id
              JOIN reference_numbers r ON r.institution_code = $1 AND r.qualification_id = o.qualification_id
              WHERE l.qualification_id = $2
              ORDER BY r.registered_at_ms DESC, r.qualification_id DESC LIMIT 1))";

/// The 照会番号 of each qualification for the institution (its own, or the one it gave the
/// same person under another qualification). Every check asks, so the statement is prepared
/// once per connection; the ids' queries are pipelined, one round trip for any number of them.
pub(super) async fn reference_numbers(
    c: &mut Conn,
    institution: &InstitutionCode,
    ids: &[i64],
) -> Result<Vec<Option<String>>, StoreError> {
    let stmt = c.cached(REFERENCE_NUMBER_SQL).await?;
    let institution = institution.as_str();
    let params: Vec<[&(dyn tokio_postgres::types::ToSql + Sync); 2]> =
        ids.iter().map(|id| [&institution as _, id as _]).collect();
    let client: &tokio_postgres::Client = c;
    let rows = q!(futures_util::future::try_join_all(
        params.iter().map(|p| client.query_one(&stmt, p))
    ));
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(super) async fn create_batch(c: &Conn, batch: &NewBatchInquiry) -> Result<i64, StoreError> {
    Ok(q!(c.query_one(
        "INSERT INTO batch_inquiries (institution_code, submitted_at_ms, items, normal, errors, request_json)
         VALUES ($1, $2, $3, 0, 0, $4) RETURNING id",
        &[
            &batch.institution.as_str(),
            &batch.submitted_at.unix_millis(),
            &i64::from(batch.items),
            &batch.request_json
        ]
    ))
    .get(0))
}

pub(super) async fn finish_batch(
    c: &Conn,
    id: i64,
    result: &BatchInquiryResult,
) -> Result<bool, StoreError> {
    Ok(q!(c.execute(
        "UPDATE batch_inquiries SET finished_at_ms = $2, normal = $3, errors = $4, result_json = $5
         WHERE id = $1 AND finished_at_ms IS NULL",
        &[
            &id,
            &result.finished_at.unix_millis(),
            &i64::from(result.normal),
            &i64::from(result.errors),
            &result.result_json
        ]
    )) == 1)
}

pub(super) async fn batch(
    c: &Conn,
    institution: &InstitutionCode,
    id: i64,
) -> Result<Option<StoredBatchInquiry>, StoreError> {
    q!(c.query_opt(
        &format!(
            "SELECT {BATCH_COLS} FROM batch_inquiries WHERE id = $1 AND institution_code = $2"
        ),
        &[&id, &institution.as_str()]
    ))
    .map(|r| batch_from(&r, true))
    .transpose()
}

pub(super) async fn batches(
    c: &Conn,
    institution: &InstitutionCode,
    since: Timestamp,
) -> Result<Vec<StoredBatchInquiry>, StoreError> {
    let rows = q!(c.query(
        &format!(
            "SELECT {} FROM batch_inquiries WHERE institution_code = $1 AND submitted_at_ms >= $2
             ORDER BY submitted_at_ms DESC, id DESC",
            batch_summary_cols()
        ),
        &[&institution.as_str(), &since.unix_millis()]
    ));
    rows.iter().map(|r| batch_from(r, false)).collect()
}

pub(super) async fn unfinished_batches(c: &Conn) -> Result<Vec<StoredBatchInquiry>, StoreError> {
    let rows = q!(c.query(
        &format!(
            "SELECT {BATCH_COLS} FROM batch_inquiries WHERE finished_at_ms IS NULL
             ORDER BY submitted_at_ms, id"
        ),
        &[]
    ));
    rows.iter().map(|r| batch_from(r, true)).collect()
}

pub(super) async fn purge_batches(c: &Conn, before: Timestamp) -> Result<u64, StoreError> {
    Ok(q!(c.execute(
        "DELETE FROM batch_inquiries WHERE submitted_at_ms < $1",
        &[&before.unix_millis()]
    )))
}
