//! SQL of the SQLite backend for 照会番号 and 一括照会 (migration 0005).

use crate::reception::{batch_from, batch_summary_cols, BATCH_COLS};
use crate::{
    BatchInquiryResult, NewBatchInquiry, ReferenceNumberRegistration, StoreError,
    StoredBatchInquiry,
};
use kakunin_domain::{InstitutionCode, Timestamp};
use rusqlite::{params, Connection, OptionalExtension};

/// Upserts a registration in one transaction; returns the number it replaced.
pub(super) fn register_reference_number(
    conn: &mut Connection,
    reg: &ReferenceNumberRegistration,
) -> Result<Option<String>, StoreError> {
    let tx = conn.transaction()?;
    let known = tx
        .query_row(
            "SELECT 1 FROM qualifications WHERE id = ?1",
            [reg.qualification_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !known {
        return Err(StoreError::UnknownQualification(reg.qualification_id));
    }
    let institution = reg.institution.as_str();
    // The single writer makes the read and the upsert one step.
    let old: Option<String> = tx
        .query_row(
            "SELECT reference_number FROM reference_numbers
             WHERE institution_code = ?1 AND qualification_id = ?2",
            params![institution, reg.qualification_id],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute(
        "INSERT INTO reference_numbers (institution_code, qualification_id, reference_number, registered_at_ms)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (institution_code, qualification_id) DO UPDATE
         SET reference_number = excluded.reference_number, registered_at_ms = excluded.registered_at_ms",
        params![
            institution,
            reg.qualification_id,
            reg.reference_number,
            reg.registered_at.unix_millis()
        ],
    )?;
    tx.commit()?;
    Ok(old)
}

/// The qualification's own 照会番号, else the newest on another qualification of its person.
pub(super) fn reference_numbers(
    conn: &Connection,
    institution: &InstitutionCode,
    ids: &[i64],
) -> Result<Vec<Option<String>>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT coalesce(
             (SELECT reference_number FROM reference_numbers
              WHERE institution_code = ?1 AND qualification_id = ?2),
             (SELECT r.reference_number FROM person_links l
              JOIN person_links o ON o.pseudonym = l.pseudonym AND o.qualification_id <> l.qualification_id
              JOIN reference_numbers r ON r.institution_code = ?1 AND r.qualification_id = o.qualification_id
              WHERE l.qualification_id = ?2
              ORDER BY r.registered_at_ms DESC, r.qualification_id DESC LIMIT 1))",
    )?;
    ids.iter()
        .map(|id| Ok(st.query_row(params![institution.as_str(), id], |r| r.get(0))?))
        .collect()
}

pub(super) fn create_batch(conn: &Connection, batch: &NewBatchInquiry) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO batch_inquiries (institution_code, submitted_at_ms, items, normal, errors, request_json)
         VALUES (?1, ?2, ?3, 0, 0, ?4)",
        params![
            batch.institution.as_str(),
            batch.submitted_at.unix_millis(),
            i64::from(batch.items),
            batch.request_json
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub(super) fn finish_batch(
    conn: &Connection,
    id: i64,
    result: &BatchInquiryResult,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE batch_inquiries SET finished_at_ms = ?2, normal = ?3, errors = ?4, result_json = ?5
         WHERE id = ?1 AND finished_at_ms IS NULL",
        params![
            id,
            result.finished_at.unix_millis(),
            i64::from(result.normal),
            i64::from(result.errors),
            result.result_json
        ],
    )? == 1)
}

pub(super) fn batch(
    conn: &Connection,
    institution: &InstitutionCode,
    id: i64,
) -> Result<Option<StoredBatchInquiry>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {BATCH_COLS} FROM batch_inquiries WHERE id = ?1 AND institution_code = ?2"
    ))?;
    let mut rows = st.query(params![id, institution.as_str()])?;
    rows.next()?.map(|r| batch_from(r, true)).transpose()
}

pub(super) fn batches(
    conn: &Connection,
    institution: &InstitutionCode,
    since: Timestamp,
) -> Result<Vec<StoredBatchInquiry>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {} FROM batch_inquiries WHERE institution_code = ?1 AND submitted_at_ms >= ?2
         ORDER BY submitted_at_ms DESC, id DESC",
        batch_summary_cols()
    ))?;
    let mut rows = st.query(params![institution.as_str(), since.unix_millis()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(batch_from(r, false)?);
    }
    Ok(out)
}

pub(super) fn unfinished_batches(conn: &Connection) -> Result<Vec<StoredBatchInquiry>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {BATCH_COLS} FROM batch_inquiries WHERE finished_at_ms IS NULL
         ORDER BY submitted_at_ms, id"
    ))?;
    let mut rows = st.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(batch_from(r, true)?);
    }
    Ok(out)
}

pub(super) fn purge_batches(conn: &Connection, before: Timestamp) -> Result<u64, StoreError> {
    Ok(conn.execute(
        "DELETE FROM batch_inquiries WHERE submitted_at_ms < ?1",
        [before.unix_millis()],
    )? as u64)
}
