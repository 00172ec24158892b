//! SQL of the SQLite backend for the institution registry, the patient's choices and 災害時
//! access (migration 0006).

use super::rows::{
    accesses_from, collect_found, load_subjects, with_specific_diseases, ACCESS_COLS,
};
use crate::mapping::version_cols;
use crate::people::{
    active_condition, attributes_match, block_from, consent_from, declaration_from,
    institution_from, CONSENT_COLS, DECLARATION_COLS, INSTITUTION_COLS,
};
use crate::{
    AttributeQuery, BlockState, EmergencyDeclaration, NewEmergencyDeclaration, StoreError,
    StoredAccess, StoredQualification,
};
use kakunin_domain::{Consent, Institution, InstitutionCode, Timestamp};
use rusqlite::{params, Connection, OptionalExtension};

/// A list of ids as the JSON array `json_each` reads (one statement for any number of ids).
fn json_ids(ids: &[i64]) -> String {
    let items: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(","))
}

pub(super) fn upsert_institution(conn: &Connection, i: &Institution) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO institutions (code, name, kind, municipality, registered_at_ms, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind,
             municipality = excluded.municipality, updated_at_ms = excluded.updated_at_ms",
        params![
            i.code.as_str(),
            i.name,
            i.kind.code(),
            i.municipality,
            crate::now_ms()
        ],
    )?;
    Ok(())
}

pub(super) fn institutions(
    conn: &Connection,
    codes: &[InstitutionCode],
) -> Result<Vec<Institution>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {INSTITUTION_COLS} FROM institutions WHERE code = ?1"
    ))?;
    let mut out = Vec::new();
    for code in codes {
        let mut rows = st.query([code.as_str()])?;
        if let Some(r) = rows.next()? {
            out.push(institution_from(r)?);
        }
    }
    out.sort_by(|a, b| a.code.as_str().cmp(b.code.as_str()));
    out.dedup_by(|a, b| a.code == b.code);
    Ok(out)
}

pub(super) fn all_institutions(conn: &Connection) -> Result<Vec<Institution>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {INSTITUTION_COLS} FROM institutions ORDER BY code"
    ))?;
    let mut rows = st.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(institution_from(r)?);
    }
    Ok(out)
}

pub(super) fn institution_blocks(
    conn: &Connection,
    pseudonym: &str,
) -> Result<Vec<BlockState>, StoreError> {
    // SQLite takes the bare columns from the row holding max(id): the newest decision.
    let mut st = conn.prepare_cached(
        "SELECT institution_code, blocked, at_ms, max(id) FROM institution_blocks
         WHERE pseudonym = ?1 GROUP BY institution_code ORDER BY institution_code",
    )?;
    let mut rows = st.query([pseudonym])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(block_from(r)?);
    }
    Ok(out)
}

pub(super) fn set_sharing_opt_out(
    conn: &Connection,
    pseudonym: &str,
    opted_out: bool,
    at: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sharing_choices (pseudonym, opted_out, at_ms) VALUES (?1, ?2, ?3)",
        params![pseudonym, i64::from(opted_out), at.unix_millis()],
    )?;
    Ok(())
}

pub(super) fn sharing_opted_out(conn: &Connection, pseudonym: &str) -> Result<bool, StoreError> {
    let newest: Option<i64> = conn
        .prepare_cached(
            "SELECT opted_out FROM sharing_choices WHERE pseudonym = ?1 ORDER BY id DESC LIMIT 1",
        )?
        .query_row([pseudonym], |r| r.get(0))
        .optional()?;
    Ok(newest.is_some_and(|o| o != 0))
}

pub(super) fn consent_history(
    conn: &Connection,
    pseudonym: &str,
    limit: u32,
) -> Result<Vec<Consent>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {CONSENT_COLS} FROM consents WHERE pseudonym = ?1
         ORDER BY given_at_ms DESC, id DESC LIMIT ?2"
    ))?;
    let mut rows = st.query(params![pseudonym, i64::from(limit)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(consent_from(r, pseudonym)?);
    }
    Ok(out)
}

pub(super) fn access_for_qualifications(
    conn: &Connection,
    ids: &[i64],
    limit: u32,
) -> Result<Vec<StoredAccess>, StoreError> {
    // access_log.id is the rowid: the IN list is walked backwards, newest first, each once.
    let mut st = conn.prepare_cached(&format!(
        "SELECT {ACCESS_COLS} FROM access_log a
         WHERE a.id IN (SELECT s.access_id FROM access_log_subjects s
                        WHERE s.qualification_id IN (SELECT value FROM json_each(?1)))
         ORDER BY a.id DESC LIMIT ?2"
    ))?;
    let rows = st.query(params![json_ids(ids), i64::from(limit)])?;
    let mut out = accesses_from(rows)?;
    load_subjects(conn, &mut out)?;
    Ok(out)
}

pub(super) fn declare_emergency(
    conn: &mut Connection,
    d: &NewEmergencyDeclaration,
) -> Result<i64, StoreError> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO emergency_declarations (starts_at_ms, ends_at_ms, reason, declared_by, declared_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            d.starts_at.unix_millis(),
            d.ends_at.unix_millis(),
            d.reason,
            d.declared_by,
            d.declared_at.unix_millis()
        ],
    )?;
    let id = tx.last_insert_rowid();
    {
        let mut area = tx.prepare_cached(
            "INSERT INTO emergency_areas (declaration_id, seq, area) VALUES (?1, ?2, ?3)",
        )?;
        for (seq, a) in d.areas.iter().enumerate() {
            area.execute(params![id, seq as i64, a])?;
        }
    }
    tx.commit()?;
    Ok(id)
}

pub(super) fn end_emergency(conn: &Connection, id: i64, at: Timestamp) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE emergency_declarations SET ended_at_ms = ?2
         WHERE id = ?1 AND ended_at_ms IS NULL AND ends_at_ms > ?2",
        params![id, at.unix_millis()],
    )? == 1)
}

pub(super) fn active_emergencies(
    conn: &Connection,
    at: Timestamp,
) -> Result<Vec<EmergencyDeclaration>, StoreError> {
    let sql = format!(
        "SELECT {DECLARATION_COLS} FROM emergency_declarations WHERE {} ORDER BY id",
        active_condition("?1")
    );
    declarations(conn, &sql, params![at.unix_millis()])
}

pub(super) fn emergencies(
    conn: &Connection,
    limit: u32,
) -> Result<Vec<EmergencyDeclaration>, StoreError> {
    let sql =
        format!("SELECT {DECLARATION_COLS} FROM emergency_declarations ORDER BY id DESC LIMIT ?1");
    declarations(conn, &sql, params![i64::from(limit)])
}

fn declarations(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<EmergencyDeclaration>, StoreError> {
    let mut st = conn.prepare_cached(sql)?;
    let mut areas = conn.prepare_cached(
        "SELECT area FROM emergency_areas WHERE declaration_id = ?1 ORDER BY seq",
    )?;
    let mut rows = st.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let a = areas
            .query_map([id], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        out.push(declaration_from(r, a)?);
    }
    Ok(out)
}

pub(super) fn find_by_attributes(
    conn: &Connection,
    query: &AttributeQuery,
    limit: u32,
) -> Result<Vec<StoredQualification>, StoreError> {
    // Candidates by birth date and sex (indexed), current versions only; the names and
    // addresses are compared folded, here, so the folding has one definition.
    let mut candidates = conn.prepare_cached(
        "SELECT v.id, v.name, v.address FROM qualification_versions v
         JOIN qualifications q ON q.id = v.qualification_id AND q.current_version_id = v.id
         WHERE v.birthdate = ?1 AND v.sex = ?2 ORDER BY q.id",
    )?;
    let mut rows = candidates.query(params![query.birthdate.compact(), query.sex.code()])?;
    let mut matched = Vec::new();
    while let Some(r) = rows.next()? {
        if matched.len() >= limit as usize {
            break;
        }
        let (name, address): (String, Option<String>) = (r.get(1)?, r.get(2)?);
        if attributes_match(query, &name, address.as_deref()) {
            matched.push(r.get::<_, i64>(0)?);
        }
    }
    drop(rows);
    let mut full = conn.prepare_cached(&format!(
        "SELECT q.id, v.version_no, v.id, l.pseudonym, q.insurer_number, q.branch, {cols}
         FROM qualification_versions v JOIN qualifications q ON q.id = v.qualification_id
         LEFT JOIN person_links l ON l.qualification_id = q.id
         WHERE v.id = ?1",
        cols = version_cols("v")
    ))?;
    let mut found = Vec::with_capacity(matched.len());
    for vid in matched {
        found.extend(collect_found(full.query([vid])?)?);
    }
    with_specific_diseases(conn, found)
}
