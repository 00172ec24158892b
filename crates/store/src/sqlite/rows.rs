//! SQL of the SQLite backend.

use crate::links::{self, OpenReview};
use crate::mapping::{
    access_from, card_query_from, information_fields, key_of, opt_date, qualification_from,
    req_int, specific_disease_from, version_cols, version_fields, Field, RowRead, VERSION_COLS,
};
use crate::{
    content_hash, CardQuery, CardRegistration, ImportOutcome, LinkReview, NonceUse,
    QualificationVersion, ReviewStatus, RosterImport, StoreError, StoredAccess,
    StoredQualification,
};
use kakunin_domain::{
    AccessLogEntry, Consent, ConsentCategory, InstitutionCode, InsurerNumber,
    SpecificDiseaseCertificate, Timestamp,
};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::HashMap;

impl RowRead for Row<'_> {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(i)?)
    }
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.get(i)?)
    }
}

fn value(f: Field) -> Value {
    match f {
        Field::Text(Some(s)) => Value::Text(s),
        Field::Int(Some(i)) => Value::Integer(i),
        Field::Text(None) | Field::Int(None) => Value::Null,
    }
}

/// A roster row ready for the writer: its key, content hash and column values, computed on
/// another thread so that the single writer only writes.
pub(super) struct PreparedRow {
    key: crate::mapping::CardKey,
    hash: [u8; 32],
    fields: Vec<Value>,
}

/// A roster checked and turned into rows (see [`PreparedRow`]).
pub(super) struct PreparedImport {
    import: RosterImport,
    rows: Vec<PreparedRow>,
}

impl PreparedImport {
    /// Refuses a roster that carries a card key twice or links that do not line up.
    pub(super) fn new(import: RosterImport) -> Result<Self, StoreError> {
        let mut keys = std::collections::HashSet::with_capacity(import.qualifications.len());
        let rows: Vec<PreparedRow> = import
            .qualifications
            .iter()
            .map(|q| PreparedRow {
                key: key_of(q),
                hash: content_hash(q),
                fields: version_fields(q).into_iter().map(value).collect(),
            })
            .collect();
        if !rows.iter().all(|r| keys.insert(&r.key)) {
            return Err(StoreError::DuplicateKey);
        }
        drop(keys);
        if !import.links.is_empty() && import.links.len() != import.qualifications.len() {
            return Err(StoreError::Corrupt(
                "link decisions do not line up with the roster rows".into(),
            ));
        }
        Ok(Self { import, rows })
    }
}

pub(super) fn import(
    conn: &mut Connection,
    prepared: PreparedImport,
) -> Result<ImportOutcome, StoreError> {
    let PreparedImport { import, rows } = prepared;
    let tx = conn.transaction()?;
    let now = crate::now_ms();
    tx.execute(
        "INSERT INTO imports (received_at_ms, actor, source_sha256, rows_total, inserted, updated, unchanged)
         VALUES (?1, ?2, ?3, ?4, 0, 0, 0)",
        params![import.received_at.unix_millis(), import.actor, import.source_sha256, import.qualifications.len() as i64],
    )?;
    let import_id = tx.last_insert_rowid();
    let mut out = ImportOutcome {
        import_id,
        ..Default::default()
    };
    // In a bulk load the store held no qualification when it began and the card keys are
    // checked when it finishes, so rows are appended with the next ids and nothing is looked up.
    let bulk = bulk_load_active(&tx)?;
    let (mut last_qid, mut last_vid) = if bulk {
        tx.query_row(
            "SELECT (SELECT coalesce(max(id), 0) FROM qualifications),
                    (SELECT coalesce(max(id), 0) FROM qualification_versions)",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )?
    } else {
        (0, 0)
    };
    {
        let mut find = tx.prepare_cached(
            "SELECT q.id, v.version_no, v.content_sha256 FROM qualifications q
             JOIN qualification_versions v ON v.id = q.current_version_id
             WHERE q.insurer_number = ?1 AND q.symbol_key = ?2 AND q.number_key = ?3 AND q.branch = ?4",
        )?;
        let mut new_q = tx.prepare_cached(
            "INSERT INTO qualifications (id, insurer_number, symbol_key, number_key, branch, current_version_id, created_import_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let placeholders = vec!["?"; VERSION_COLS.len() + 6].join(", ");
        let mut new_v = tx.prepare_cached(&format!(
            "INSERT INTO qualification_versions (id, qualification_id, version_no, import_id, recorded_at_ms, content_sha256, {})
             VALUES ({placeholders})",
            VERSION_COLS.join(", ")
        ))?;
        let mut set_current =
            tx.prepare_cached("UPDATE qualifications SET current_version_id = ?1 WHERE id = ?2")?;
        let mut new_sd = tx.prepare_cached(
            "INSERT INTO specific_disease_certificates (version_id, seq, disease, issue_date, valid_from, valid_until, self_pay_yen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut decisions = Vec::new();
        for (i, (q, row)) in import.qualifications.iter().zip(rows).enumerate() {
            let PreparedRow { key, hash, fields } = row;
            let link = import.links.get(i).and_then(Option::as_ref);
            // The version's id when it is chosen here (bulk), else SQLite's next rowid.
            let (qid, version_no, vid) = if bulk {
                last_qid += 1;
                last_vid += 1;
                new_q.execute(params![
                    last_qid, key.0, key.1, key.2, key.3, last_vid, import_id
                ])?;
                out.inserted += 1;
                (last_qid, 1, Some(last_vid))
            } else {
                let existing: Option<(i64, i64, Vec<u8>)> = find
                    .query_row(params![key.0, key.1, key.2, key.3], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()?;
                match existing {
                    Some((qid, _, h)) if h == hash => {
                        out.unchanged += 1;
                        if let Some(d) = link {
                            decisions.push((qid, d));
                        }
                        continue;
                    }
                    Some((qid, v, _)) => {
                        out.updated += 1;
                        (qid, v + 1, None)
                    }
                    None => {
                        new_q.execute(params![
                            Value::Null,
                            key.0,
                            key.1,
                            key.2,
                            key.3,
                            0,
                            import_id
                        ])?;
                        out.inserted += 1;
                        (tx.last_insert_rowid(), 1, None)
                    }
                }
            };
            if let Some(d) = link {
                decisions.push((qid, d));
            }
            let mut values: Vec<Value> = vec![
                vid.map_or(Value::Null, Value::Integer),
                Value::Integer(qid),
                Value::Integer(version_no),
                Value::Integer(import_id),
                Value::Integer(now),
                Value::Blob(hash.to_vec()),
            ];
            values.extend(fields);
            new_v.execute(rusqlite::params_from_iter(values))?;
            let vid = tx.last_insert_rowid();
            if !bulk {
                set_current.execute(params![vid, qid])?;
            }
            for (seq, s) in q.specific_diseases.iter().enumerate() {
                new_sd.execute(params![
                    vid,
                    seq as i64,
                    s.disease.code(),
                    opt_date(s.issued),
                    s.valid_from.compact(),
                    opt_date(s.valid_until),
                    i64::from(s.self_pay_yen)
                ])?;
            }
        }
        let plan = plan_links(&tx, &decisions)?;
        apply_links(&tx, &plan, import_id, now)?;
        out.linked = plan.linked;
        out.link_reviews = plan.reviews;
    }
    tx.execute(
        "UPDATE imports SET inserted = ?1, updated = ?2, unchanged = ?3 WHERE id = ?4",
        params![
            out.inserted as i64,
            out.updated as i64,
            out.unchanged as i64,
            import_id
        ],
    )?;
    tx.commit()?;
    Ok(out)
}

fn bulk_load_active(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM bulk_loads)", [], |r| r.get(0))?)
}

/// Starts a bulk load if the store holds no qualification (see [`crate::Store::begin_bulk_load`]).
pub(super) fn begin_bulk_load(conn: &mut Connection) -> Result<bool, StoreError> {
    let tx = conn.transaction()?;
    let empty: bool = tx.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM qualifications)",
        [],
        |r| r.get(0),
    )?;
    if !empty {
        return Ok(false);
    }
    if !bulk_load_active(&tx)? {
        for (name, _) in crate::BULK_INDEXES {
            tx.execute_batch(&format!("DROP INDEX IF EXISTS {name}"))?;
        }
        tx.execute(
            "INSERT INTO bulk_loads (id, started_at_ms) VALUES (1, ?1)",
            [crate::now_ms()],
        )?;
    }
    tx.commit()?;
    Ok(true)
}

/// Builds the indexes a bulk load left out and ends it; nothing to do when none is open.
pub(super) fn finish_bulk_load(conn: &mut Connection) -> Result<(), StoreError> {
    if !bulk_load_active(conn)? {
        return Ok(());
    }
    // One transaction per index, so that the log holds one index at a time (a national index
    // is gigabytes); an interruption in between leaves the load open, to be finished again.
    for (_, create) in crate::BULK_INDEXES {
        conn.execute_batch(create)
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::DuplicateKey,
                _ => e.into(),
            })?;
    }
    conn.execute("DELETE FROM bulk_loads", [])?;
    Ok(())
}

fn plan_links(
    tx: &rusqlite::Transaction<'_>,
    decisions: &[(i64, &crate::LinkDecision)],
) -> Result<links::LinkPlan, StoreError> {
    let mut current = HashMap::new();
    let mut open: HashMap<i64, Vec<OpenReview>> = HashMap::new();
    let mut cur =
        tx.prepare_cached("SELECT pseudonym FROM person_links WHERE qualification_id = ?1")?;
    let mut rev = tx.prepare_cached(
        "SELECT id, attributes, number_last4 FROM link_reviews WHERE qualification_id = ?1 AND status = 'open'",
    )?;
    for &(qid, _) in decisions {
        if let Some(p) = cur.query_row([qid], |r| r.get::<_, String>(0)).optional()? {
            current.insert(qid, p);
        }
        let reviews = rev
            .query_map([qid], |r| {
                Ok(OpenReview {
                    id: r.get(0)?,
                    attributes: r.get(1)?,
                    number_last4: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if !reviews.is_empty() {
            open.insert(qid, reviews);
        }
    }
    Ok(links::plan(&current, &open, decisions))
}

fn apply_links(
    tx: &rusqlite::Transaction<'_>,
    plan: &links::LinkPlan,
    import_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    let mut up = tx.prepare_cached(
        "INSERT INTO person_links (qualification_id, pseudonym, import_id, linked_at_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (qualification_id) DO UPDATE SET pseudonym = excluded.pseudonym,
             import_id = excluded.import_id, linked_at_ms = excluded.linked_at_ms",
    )?;
    for (qid, p) in &plan.upserts {
        up.execute(params![qid, p, import_id, now])?;
    }
    let mut del = tx.prepare_cached("DELETE FROM person_links WHERE qualification_id = ?1")?;
    for qid in &plan.deletes {
        del.execute([qid])?;
    }
    let mut ev = tx.prepare_cached(
        "INSERT INTO person_link_events (qualification_id, import_id, at_ms, action, pseudonym) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (qid, action, p) in &plan.events {
        ev.execute(params![qid, import_id, now, action, p])?;
    }
    let mut close = tx.prepare_cached(
        "UPDATE link_reviews SET status = 'resolved_by_import', resolved_at_ms = ?2, resolved_by = ?3
         WHERE id = ?1 AND status = 'open'",
    )?;
    for id in &plan.close_reviews {
        close.execute(params![id, now, format!("import:{import_id}")])?;
    }
    let mut open = tx.prepare_cached(
        "INSERT INTO link_reviews (qualification_id, import_id, created_at_ms, attributes, number_last4, status)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open')",
    )?;
    for (qid, attributes, last4) in &plan.new_reviews {
        open.execute(params![qid, import_id, now, attributes, last4])?;
    }
    Ok(())
}

fn load_specific_diseases(
    conn: &Connection,
    version_id: i64,
) -> Result<Vec<SpecificDiseaseCertificate>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT disease, issue_date, valid_from, valid_until, self_pay_yen
         FROM specific_disease_certificates WHERE version_id = ?1 ORDER BY seq",
    )?;
    let mut rows = st.query([version_id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(specific_disease_from(r, 0)?);
    }
    Ok(out)
}

pub(super) fn find(
    conn: &Connection,
    query: &CardQuery,
) -> Result<Vec<StoredQualification>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT q.id, v.version_no, v.id, l.pseudonym, q.insurer_number, q.branch, {cols}
         FROM qualifications q JOIN qualification_versions v ON v.id = q.current_version_id
         LEFT JOIN person_links l ON l.qualification_id = q.id
         WHERE q.insurer_number = ?1 AND q.symbol_key = ?2 AND q.number_key = ?3
           AND (?4 IS NULL OR q.branch = ?4 OR q.branch = '') AND v.birthdate = ?5
         ORDER BY q.branch, q.id",
        cols = version_cols("v")
    ))?;
    let branch = query.branch.map(|b| b.as_str().to_string());
    let rows = st.query(params![
        query.insurer.as_str(),
        query.symbol_key,
        query.number_key,
        branch,
        query.birthdate.compact()
    ])?;
    let out = collect_found(rows)?;
    with_specific_diseases(conn, out)
}

pub(super) fn collect_found(
    mut rows: rusqlite::Rows<'_>,
) -> Result<Vec<(i64, StoredQualification)>, StoreError> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let found = StoredQualification {
            id: r.get(0)?,
            version: r.get(1)?,
            person: r.get(3)?,
            qualification: qualification_from(r, 4)?,
        };
        out.push((r.get::<_, i64>(2)?, found));
    }
    Ok(out)
}

pub(super) fn with_specific_diseases(
    conn: &Connection,
    out: Vec<(i64, StoredQualification)>,
) -> Result<Vec<StoredQualification>, StoreError> {
    out.into_iter()
        .map(|(vid, mut found)| {
            found.qualification.specific_diseases = load_specific_diseases(conn, vid)?;
            Ok(found)
        })
        .collect()
}

pub(super) fn find_by_person(
    conn: &Connection,
    pseudonym: &str,
) -> Result<Vec<StoredQualification>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT q.id, v.version_no, v.id, l.pseudonym, q.insurer_number, q.branch, {cols}
         FROM person_links l JOIN qualifications q ON q.id = l.qualification_id
         JOIN qualification_versions v ON v.id = q.current_version_id
         WHERE l.pseudonym = ?1
         ORDER BY v.qualification_date, q.id",
        cols = version_cols("v")
    ))?;
    let rows = st.query([pseudonym])?;
    let out = collect_found(rows)?;
    with_specific_diseases(conn, out)
}

pub(super) fn history(
    conn: &Connection,
    qualification_id: i64,
) -> Result<Vec<QualificationVersion>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT v.version_no, v.import_id, v.recorded_at_ms, v.id, q.insurer_number, q.branch, {cols}
         FROM qualification_versions v JOIN qualifications q ON q.id = v.qualification_id
         WHERE v.qualification_id = ?1 ORDER BY v.version_no",
        cols = version_cols("v")
    ))?;
    let mut rows = st.query([qualification_id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let version = QualificationVersion {
            version: r.get(0)?,
            import_id: r.get(1)?,
            recorded_at: Timestamp::from_unix_millis(r.get(2)?),
            qualification: qualification_from(r, 4)?,
        };
        out.push((r.get::<_, i64>(3)?, version));
    }
    drop(rows);
    out.into_iter()
        .map(|(vid, mut v)| {
            v.qualification.specific_diseases = load_specific_diseases(conn, vid)?;
            Ok(v)
        })
        .collect()
}

/// Appends a batch; an entry whose nonce was spent before is skipped (`None`).
pub(super) fn append_access(
    conn: &mut Connection,
    entries: &[(&AccessLogEntry, Option<&NonceUse>)],
) -> Result<Vec<Option<i64>>, StoreError> {
    let tx = conn.transaction()?;
    let mut ids = Vec::with_capacity(entries.len());
    {
        // The chain: ids are given here (one writer), so each entry's hash covers its id.
        let (mut last_id, mut prev) = super::audit::head(&tx, crate::AuditChain::Access)?;
        let mut next_id: i64 =
            tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM access_log", [], |r| {
                r.get(0)
            })?;
        let mut spend = tx.prepare_cached(
            "INSERT INTO used_nonces (nonce, expires_at_ms) VALUES (?1, ?2) ON CONFLICT (nonce) DO NOTHING",
        )?;
        let mut ins = tx.prepare_cached(
            "INSERT INTO access_log (id, at_ms, institution_code, purpose, result, processing_code, category, period_from, period_to, basis, chain_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let mut subj = tx.prepare_cached(
            "INSERT INTO access_log_subjects (access_id, access_at_ms, qualification_id) VALUES (?1, ?2, ?3)",
        )?;
        for (e, nonce) in entries {
            if let Some(n) = nonce {
                if spend.execute(params![n.nonce, n.expires_at.unix_millis()])? == 0 {
                    ids.push(None);
                    continue;
                }
            }
            let (category, from, to, basis) = information_fields(e);
            let id = next_id;
            next_id += 1;
            let result = e.result.code();
            let entry_hash = crate::audit::access_hash(&crate::audit::AccessFields {
                id,
                at_ms: e.at.unix_millis(),
                institution: e.institution.as_str(),
                purpose: e.purpose.code(),
                result: &result,
                processing_code: &e.processing_code,
                category,
                period_from: from.as_deref(),
                period_to: to.as_deref(),
                basis,
                subjects: &e.qualification_ids,
            });
            let chain_hash = crate::audit::link(Some(&prev), &entry_hash);
            ins.execute(params![
                id,
                e.at.unix_millis(),
                e.institution.as_str(),
                e.purpose.code(),
                result,
                e.processing_code,
                category,
                from,
                to,
                basis,
                chain_hash,
            ])?;
            for q in &e.qualification_ids {
                subj.execute(params![id, e.at.unix_millis(), q])?;
            }
            (last_id, prev) = (id, chain_hash);
            ids.push(Some(id));
        }
        super::audit::set_head(&tx, crate::AuditChain::Access, last_id, &prev)?;
    }
    tx.commit()?;
    Ok(ids)
}

/// Forgets spent nonces that expired before `before_ms` (they are refused by age anyway).
pub(super) fn purge_nonces(conn: &Connection, before_ms: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM used_nonces WHERE expires_at_ms < ?1",
        [before_ms],
    )?)
}

pub(super) fn register_card(conn: &Connection, reg: &CardRegistration) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "INSERT INTO card_registrations (pseudonym, registered_at_ms, certificate_serial, institution_code)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (pseudonym) DO NOTHING",
        params![
            reg.pseudonym,
            reg.registered_at.unix_millis(),
            reg.certificate_serial,
            reg.institution.as_str()
        ],
    )? == 1)
}

pub(super) fn card_registration(
    conn: &Connection,
    pseudonym: &str,
) -> Result<Option<CardRegistration>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT registered_at_ms, certificate_serial, institution_code FROM card_registrations WHERE pseudonym = ?1",
    )?;
    let row: Option<(i64, String, String)> = st
        .query_row([pseudonym], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(at, serial, inst)| {
        Ok(CardRegistration {
            pseudonym: pseudonym.to_string(),
            registered_at: Timestamp::from_unix_millis(at),
            certificate_serial: serial,
            institution: InstitutionCode::parse(&inst)
                .map_err(|e| StoreError::Corrupt(format!("institution_code: {e}")))?,
        })
    })
    .transpose()
}

pub(super) fn link_reviews(
    conn: &Connection,
    open_only: bool,
    limit: u32,
) -> Result<Vec<LinkReview>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT r.id, r.qualification_id, q.insurer_number, r.import_id, r.created_at_ms, r.attributes,
                r.number_last4, r.status, r.resolved_at_ms, r.resolved_by, r.note
         FROM link_reviews r JOIN qualifications q ON q.id = r.qualification_id
         WHERE (?1 = 0 OR r.status = 'open') ORDER BY r.id DESC LIMIT ?2",
    )?;
    let mut rows = st.query(params![i64::from(open_only), i64::from(limit)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(LinkReview {
            id: r.get(0)?,
            qualification_id: r.get(1)?,
            insurer: InsurerNumber::parse(&r.get::<_, String>(2)?)
                .map_err(|e| StoreError::Corrupt(format!("insurer_number: {e}")))?,
            import_id: r.get(3)?,
            created_at: Timestamp::from_unix_millis(r.get(4)?),
            attributes: links::parse_attribute_codes(&r.get::<_, String>(5)?),
            number_last4: r.get(6)?,
            status: ReviewStatus::parse(&r.get::<_, String>(7)?)
                .ok_or_else(|| StoreError::Corrupt("link review status".into()))?,
            resolved_at: r.get::<_, Option<i64>>(8)?.map(Timestamp::from_unix_millis),
            resolved_by: r.get(9)?,
            note: r.get(10)?,
        });
    }
    Ok(out)
}

pub(super) fn dismiss_link_review(
    conn: &Connection,
    id: i64,
    by: &str,
    note: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE link_reviews SET status = 'dismissed', resolved_at_ms = ?2, resolved_by = ?3, note = ?4
         WHERE id = ?1 AND status = 'open'",
        params![id, at.unix_millis(), by, note],
    )? == 1)
}

/// The access-log columns of `StoredAccess`, for the alias `a`: the id, then what
/// [`access_from`] reads.
pub(super) const ACCESS_COLS: &str =
    "a.id, a.at_ms, a.institution_code, a.purpose, a.result, a.processing_code,
     a.category, a.period_from, a.period_to, a.basis";

pub(super) fn access(
    conn: &Connection,
    qualification_id: Option<i64>,
    limit: u32,
) -> Result<Vec<StoredAccess>, StoreError> {
    let sql = match qualification_id {
        Some(_) => format!(
            "SELECT {ACCESS_COLS}
             FROM access_log a JOIN access_log_subjects s ON s.access_id = a.id AND s.access_at_ms = a.at_ms
             WHERE s.qualification_id = ?1 ORDER BY a.id DESC LIMIT ?2"
        ),
        None => format!(
            "SELECT {ACCESS_COLS} FROM access_log a WHERE ?1 IS NULL ORDER BY a.id DESC LIMIT ?2"
        ),
    };
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query(params![qualification_id, i64::from(limit)])?;
    let mut out = accesses_from(rows)?;
    load_subjects(conn, &mut out)?;
    Ok(out)
}

/// Entries from rows of [`ACCESS_COLS`] (their subjects not loaded yet).
pub(super) fn accesses_from(mut rows: rusqlite::Rows<'_>) -> Result<Vec<StoredAccess>, StoreError> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(StoredAccess {
            id: req_int(r, 0, "id")?,
            entry: access_from(r, 1)?,
        });
    }
    Ok(out)
}

/// Loads every qualification each entry touched.
pub(super) fn load_subjects(conn: &Connection, out: &mut [StoredAccess]) -> Result<(), StoreError> {
    let mut subj = conn.prepare_cached(
        "SELECT qualification_id FROM access_log_subjects WHERE access_id = ?1 AND access_at_ms = ?2 ORDER BY qualification_id",
    )?;
    for a in out {
        a.entry.qualification_ids = subj
            .query_map(params![a.id, a.entry.at.unix_millis()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
    }
    Ok(())
}

/// Every `stride`-th qualification by id, at most `limit`: point reads by id, so drawing
/// samples from 126 M people reads `limit` rows instead of scanning the table.
pub(super) fn sample(conn: &Connection, limit: u32) -> Result<Vec<CardQuery>, StoreError> {
    let n: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM qualifications", [], |r| {
        r.get(0)
    })?;
    let stride = (n / i64::from(limit.max(1))).max(1);
    let mut st = conn.prepare_cached(
        "SELECT q.insurer_number, q.symbol_key, q.number_key, q.branch, v.birthdate
         FROM qualifications q JOIN qualification_versions v ON v.id = q.current_version_id
         WHERE q.id = ?1",
    )?;
    let mut out = Vec::new();
    for k in 1..=i64::from(limit) {
        let id = k * stride;
        if id > n {
            break;
        }
        if let Some(q) = st.query_row([id], |r| Ok(card_query_from(r))).optional()? {
            out.push(q?);
        }
    }
    Ok(out)
}

pub(super) fn record_consents(
    conn: &mut Connection,
    consents: &[Consent],
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    {
        let mut ins = tx.prepare_cached(
            "INSERT INTO consents (pseudonym, institution_code, category, given_at_ms, expires_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for c in consents {
            ins.execute(params![
                c.person,
                c.institution.as_str(),
                c.category.code(),
                c.given_at.unix_millis(),
                c.expires_at.unix_millis()
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn latest_consents(
    conn: &Connection,
    pseudonym: &str,
    institution: &InstitutionCode,
) -> Result<Vec<Consent>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT category, max(given_at_ms), expires_at_ms FROM consents
         WHERE pseudonym = ?1 AND institution_code = ?2 GROUP BY category ORDER BY category",
    )?;
    let rows = st.query_map(params![pseudonym, institution.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (category, given, expires) = row?;
        out.push(Consent {
            person: pseudonym.to_string(),
            institution: institution.clone(),
            category: ConsentCategory::parse(&category)
                .ok_or_else(|| StoreError::Corrupt(format!("consent category {category:?}")))?,
            given_at: Timestamp::from_unix_millis(given),
            expires_at: Timestamp::from_unix_millis(expires),
        });
    }
    Ok(out)
}
