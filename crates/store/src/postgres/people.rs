//! SQL of the PostgreSQL backend for the institution registry, the patient's choices and 災害時
//! access (migration 0006). Every statement is one round trip, whatever the number of ids.

use super::rows::{accesses_from, found_from, load_subjects, specific_disease_arrays, ACCESS_COLS};
use super::{pg_err, Conn};
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
use tokio_postgres::types::ToSql;

macro_rules! q {
    ($e:expr) => {
        $e.await.map_err(|e| pg_err(&e))?
    };
}

pub(super) async fn upsert_institution(c: &Conn, i: &Institution) -> Result<(), StoreError> {
    q!(c.execute(
        "INSERT INTO institutions (code, name, kind, municipality, registered_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
             municipality = EXCLUDED.municipality, updated_at_ms = EXCLUDED.updated_at_ms",
        &[
            &i.code.as_str(),
            &i.name,
            &i.kind.code(),
            &i.municipality,
            &crate::now_ms()
        ]
    ));
    Ok(())
}

pub(super) async fn institutions(
    c: &Conn,
    codes: &[InstitutionCode],
) -> Result<Vec<Institution>, StoreError> {
    let codes: Vec<&str> = codes.iter().map(InstitutionCode::as_str).collect();
    let rows = q!(c.query(
        &format!("SELECT {INSTITUTION_COLS} FROM institutions WHERE code = ANY($1) ORDER BY code"),
        &[&codes]
    ));
    rows.iter().map(institution_from).collect()
}

pub(super) async fn all_institutions(c: &Conn) -> Result<Vec<Institution>, StoreError> {
    let rows = q!(c.query(
        &format!("SELECT {INSTITUTION_COLS} FROM institutions ORDER BY code"),
        &[]
    ));
    rows.iter().map(institution_from).collect()
}

pub(super) async fn institution_blocks(
    c: &Conn,
    pseudonym: &str,
) -> Result<Vec<BlockState>, StoreError> {
    let rows = q!(c.query(
        "SELECT DISTINCT ON (institution_code) institution_code, blocked, at_ms
         FROM institution_blocks WHERE pseudonym = $1
         ORDER BY institution_code, id DESC",
        &[&pseudonym]
    ));
    rows.iter().map(block_from).collect()
}

pub(super) async fn set_sharing_opt_out(
    c: &Conn,
    pseudonym: &str,
    opted_out: bool,
    at: Timestamp,
) -> Result<(), StoreError> {
    q!(c.execute(
        "INSERT INTO sharing_choices (pseudonym, opted_out, at_ms) VALUES ($1, $2, $3)",
        &[&pseudonym, &i64::from(opted_out), &at.unix_millis()]
    ));
    Ok(())
}

pub(super) async fn sharing_opted_out(c: &mut Conn, pseudonym: &str) -> Result<bool, StoreError> {
    let st = c
        .cached(
            "SELECT opted_out FROM sharing_choices WHERE pseudonym = $1 ORDER BY id DESC LIMIT 1",
        )
        .await?;
    let r = q!(c.query_opt(&st, &[&pseudonym]));
    Ok(r.is_some_and(|r| r.get::<_, i64>(0) != 0))
}

pub(super) async fn consent_history(
    c: &Conn,
    pseudonym: &str,
    limit: u32,
) -> Result<Vec<Consent>, StoreError> {
    let rows = q!(c.query(
        &format!(
            "SELECT {CONSENT_COLS} FROM consents WHERE pseudonym = $1
             ORDER BY given_at_ms DESC, id DESC LIMIT $2"
        ),
        &[&pseudonym, &i64::from(limit)]
    ));
    rows.iter().map(|r| consent_from(r, pseudonym)).collect()
}

pub(super) async fn access_for_qualifications(
    c: &Conn,
    ids: &[i64],
    limit: u32,
) -> Result<Vec<StoredAccess>, StoreError> {
    // The subjects (by their qualification index) pick the entries, each once, before the
    // log is touched: the person's entries are few, the log is huge, and a planner that walked
    // the log backwards hoping to fill the LIMIT early would read all of it.
    let rows = q!(c.query(
        &format!(
            "WITH s AS MATERIALIZED (
                 SELECT DISTINCT access_id, access_at_ms FROM access_log_subjects
                 WHERE qualification_id = ANY($1))
             SELECT {ACCESS_COLS} FROM s
             JOIN access_log a ON a.id = s.access_id AND a.at_ms = s.access_at_ms
             ORDER BY a.id DESC LIMIT $2"
        ),
        &[&ids, &i64::from(limit)]
    ));
    let mut out = accesses_from(&rows)?;
    load_subjects(c, &mut out).await?;
    Ok(out)
}

pub(super) async fn declare_emergency(
    c: &mut Conn,
    d: &NewEmergencyDeclaration,
) -> Result<i64, StoreError> {
    let tx = q!(c.transaction());
    let id: i64 = q!(tx.query_one(
        "INSERT INTO emergency_declarations (starts_at_ms, ends_at_ms, reason, declared_by, declared_at_ms)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        &[
            &d.starts_at.unix_millis(),
            &d.ends_at.unix_millis(),
            &d.reason,
            &d.declared_by,
            &d.declared_at.unix_millis()
        ]
    ))
    .get(0);
    q!(tx.execute(
        "INSERT INTO emergency_areas (declaration_id, seq, area)
         SELECT $1, a.n - 1, a.area FROM unnest($2::text[]) WITH ORDINALITY AS a(area, n)",
        &[&id, &d.areas]
    ));
    q!(tx.commit());
    Ok(id)
}

pub(super) async fn end_emergency(c: &Conn, id: i64, at: Timestamp) -> Result<bool, StoreError> {
    Ok(q!(c.execute(
        "UPDATE emergency_declarations SET ended_at_ms = $2
         WHERE id = $1 AND ended_at_ms IS NULL AND ends_at_ms > $2",
        &[&id, &at.unix_millis()]
    )) == 1)
}

pub(super) async fn active_emergencies(
    c: &Conn,
    at: Timestamp,
) -> Result<Vec<EmergencyDeclaration>, StoreError> {
    let sql = format!(
        "SELECT {DECLARATION_COLS}{AREAS} FROM emergency_declarations d WHERE {} ORDER BY id",
        active_condition("$1")
    );
    declarations(c, &sql, &[&at.unix_millis()]).await
}

pub(super) async fn emergencies(
    c: &Conn,
    limit: u32,
) -> Result<Vec<EmergencyDeclaration>, StoreError> {
    let sql = format!(
        "SELECT {DECLARATION_COLS}{AREAS} FROM emergency_declarations d ORDER BY id DESC LIMIT $1"
    );
    declarations(c, &sql, &[&i64::from(limit)]).await
}

/// The areas of declaration `d`, in order, as one array column after [`DECLARATION_COLS`].
const AREAS: &str =
    ", ARRAY(SELECT a.area FROM emergency_areas a WHERE a.declaration_id = d.id ORDER BY a.seq)";

async fn declarations(
    c: &Conn,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<EmergencyDeclaration>, StoreError> {
    let rows = q!(c.query(sql, params));
    let at = DECLARATION_COLS.split(", ").count();
    rows.iter()
        .map(|r| {
            let areas: Vec<String> = r
                .try_get(at)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            declaration_from(r, areas)
        })
        .collect()
}

pub(super) async fn find_by_attributes(
    c: &Conn,
    query: &AttributeQuery,
    limit: u32,
) -> Result<Vec<StoredQualification>, StoreError> {
    // Candidates by birth date and sex (indexed), current versions only; the names and
    // addresses are compared folded, here, so the folding has one definition. Then the
    // matches in full: two round trips, the second only for the few that matched.
    let candidates = q!(c.query(
        "SELECT v.id, v.name, v.address FROM qualification_versions v
         JOIN qualifications q ON q.id = v.qualification_id AND q.current_version_id = v.id
         WHERE v.birthdate = $1 AND v.sex = $2 ORDER BY q.id",
        &[&query.birthdate.compact(), &query.sex.code()]
    ));
    let matched: Vec<i64> = candidates
        .iter()
        .filter(|r| attributes_match(query, r.get(1), r.get(2)))
        .map(|r| r.get(0))
        .take(limit as usize)
        .collect();
    if matched.is_empty() {
        return Ok(Vec::new());
    }
    let rows = q!(c.query(
        &format!(
            "SELECT q.id, v.version_no, l.pseudonym, q.insurer_number, q.branch, {cols}
             FROM qualification_versions v JOIN qualifications q ON q.id = v.qualification_id
             LEFT JOIN person_links l ON l.qualification_id = q.id
             WHERE v.id = ANY($1) ORDER BY q.id",
            cols = version_cols("v") + &specific_disease_arrays("v")
        ),
        &[&matched]
    ));
    found_from(&rows)
}
