//! SQL of the PostgreSQL backend. Imports and access-log batches use array parameters
//! (`UNNEST`) and pre-allocated ids, so a batch costs a handful of round trips, not one per row.

use super::{pg_err, Conn};
use crate::links::{self, OpenReview};
use crate::mapping::{
    access_from, card_query_from, information_fields, key_of, opt_date, qualification_from,
    specific_disease_from, version_cols, version_fields, CardKey, Field, RowRead, VERSION_COLS,
};
use crate::{
    content_hash, CardQuery, CardRegistration, ImportOutcome, ImportRecord, LinkDecision,
    LinkReview, NonceUse, QualificationVersion, ReviewStatus, RosterImport, StoreCounts,
    StoreError, StoredAccess, StoredQualification,
};
use kakunin_domain::{
    AccessLogEntry, Consent, ConsentCategory, InstitutionCode, InsurerNumber,
    SpecificDiseaseCertificate, Timestamp,
};
use std::collections::HashMap;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{GenericClient, Row};

const CHUNK: usize = 5000;

impl RowRead for Row {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.try_get(i)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.try_get(i)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

macro_rules! q {
    ($e:expr) => {
        $e.await.map_err(|e| pg_err(&e))?
    };
}

pub(super) async fn next_ids(
    c: &impl GenericClient,
    sequence: &str,
    n: usize,
) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let rows = q!(c.query(
        &format!("SELECT nextval('{sequence}') FROM generate_series(1, $1::bigint) ORDER BY 1"),
        &[&(n as i64)]
    ));
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

struct NewVersion<'a> {
    id: i64,
    qualification_id: i64,
    version_no: i64,
    hash: [u8; 32],
    q: &'a kakunin_domain::Qualification,
}

pub(super) async fn import(
    conn: &mut Conn,
    import: &RosterImport,
) -> Result<ImportOutcome, StoreError> {
    let mut keys = std::collections::HashSet::with_capacity(import.qualifications.len());
    if !import.qualifications.iter().all(|q| keys.insert(key_of(q))) {
        return Err(StoreError::DuplicateKey);
    }
    drop(keys);
    if !import.links.is_empty() && import.links.len() != import.qualifications.len() {
        return Err(StoreError::Corrupt(
            "link decisions do not line up with the roster rows".into(),
        ));
    }
    let tx = q!(conn.transaction());
    let import_id: i64 = q!(tx.query_one(
        "INSERT INTO imports (received_at_ms, actor, source_sha256, rows_total, inserted, updated, unchanged)
         VALUES ($1, $2, $3, $4, 0, 0, 0) RETURNING id",
        &[&import.received_at.unix_millis(), &import.actor, &import.source_sha256, &(import.qualifications.len() as i64)]
    ))
    .get(0);

    // What is registered now for the insurers in this roster.
    let mut insurers: Vec<String> = import
        .qualifications
        .iter()
        .map(|q| q.card.insurer.as_str().to_string())
        .collect();
    insurers.sort_unstable();
    insurers.dedup();
    // In a bulk load the store held no qualification when it began and the card keys are
    // checked when it finishes: nothing to compare with.
    let bulk: bool = q!(tx.query_one("SELECT EXISTS (SELECT 1 FROM bulk_loads)", &[])).get(0);
    let existing_rows = if bulk {
        Vec::new()
    } else {
        q!(tx.query(
            "SELECT q.insurer_number, q.symbol_key, q.number_key, q.branch, q.id, v.version_no, v.content_sha256
             FROM qualifications q JOIN qualification_versions v ON v.id = q.current_version_id
             WHERE q.insurer_number = ANY($1)",
            &[&insurers]
        ))
    };
    let mut existing: HashMap<CardKey, (i64, i64, Vec<u8>)> = existing_rows
        .into_iter()
        .map(|r| {
            (
                (r.get(0), r.get(1), r.get(2), r.get(3)),
                (r.get(4), r.get(5), r.get(6)),
            )
        })
        .collect();

    let mut out = ImportOutcome {
        import_id,
        ..Default::default()
    };
    let mut new_keys = Vec::new();
    let mut changed: Vec<(i64, i64, [u8; 32], &kakunin_domain::Qualification)> = Vec::new();
    let mut fresh: Vec<([u8; 32], &kakunin_domain::Qualification)> = Vec::new();
    // Link decisions of existing rows, and of new rows by their index in `fresh`.
    let mut decisions: Vec<(i64, &LinkDecision)> = Vec::new();
    let mut fresh_decisions: Vec<(usize, &LinkDecision)> = Vec::new();
    for (i, q) in import.qualifications.iter().enumerate() {
        let hash = content_hash(q);
        let link = import.links.get(i).and_then(Option::as_ref);
        match existing.remove(&key_of(q)) {
            Some((qid, _, h)) if h == hash => {
                out.unchanged += 1;
                decisions.extend(link.map(|d| (qid, d)));
            }
            Some((qid, v, _)) => {
                changed.push((qid, v + 1, hash, q));
                decisions.extend(link.map(|d| (qid, d)));
            }
            None => {
                fresh_decisions.extend(link.map(|d| (fresh.len(), d)));
                new_keys.push(key_of(q));
                fresh.push((hash, q));
            }
        }
    }
    out.inserted = fresh.len() as u64;
    out.updated = changed.len() as u64;
    let qids = next_ids(&tx, "qualifications_id_seq", fresh.len()).await?;
    decisions.extend(fresh_decisions.iter().map(|&(i, d)| (qids[i], d)));
    let vids = next_ids(
        &tx,
        "qualification_versions_id_seq",
        fresh.len() + changed.len(),
    )
    .await?;
    let mut versions: Vec<NewVersion<'_>> = Vec::with_capacity(vids.len());
    for (i, (hash, q)) in fresh.iter().enumerate() {
        versions.push(NewVersion {
            id: vids[i],
            qualification_id: qids[i],
            version_no: 1,
            hash: *hash,
            q,
        });
    }
    for (i, (qid, v, hash, q)) in changed.iter().enumerate() {
        versions.push(NewVersion {
            id: vids[fresh.len() + i],
            qualification_id: *qid,
            version_no: *v,
            hash: *hash,
            q,
        });
    }

    // New rows go in by binary COPY: no statement per chunk to plan, no arrays to unpack.
    if !new_keys.is_empty() {
        let sink = q!(tx.copy_in(
            "COPY qualifications (id, insurer_number, symbol_key, number_key, branch, current_version_id, created_import_id)
             FROM STDIN (FORMAT binary)"
        ));
        let mut writer = std::pin::pin!(BinaryCopyInWriter::new(
            sink,
            &[
                Type::INT8,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::INT8,
                Type::INT8
            ],
        ));
        for ((k, id), current) in new_keys.iter().zip(&qids).zip(&vids) {
            q!(writer
                .as_mut()
                .write(&[id, &k.0, &k.1, &k.2, &k.3, current, &import_id]));
        }
        q!(writer.finish());
    }
    let now = crate::now_ms();
    if let Some(first) = versions.first() {
        let mut types = vec![Type::INT8, Type::INT8, Type::INT8, Type::BYTEA];
        types.extend(version_fields(first.q).iter().map(|f| match f {
            Field::Text(_) => Type::TEXT,
            Field::Int(_) => Type::INT8,
        }));
        types.extend([Type::INT8, Type::INT8]);
        let sink = q!(tx.copy_in(
            format!(
                "COPY qualification_versions (id, qualification_id, version_no, content_sha256, {cols}, import_id, recorded_at_ms)
                 FROM STDIN (FORMAT binary)",
                cols = VERSION_COLS.join(", ")
            )
            .as_str()
        ));
        let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
        for v in &versions {
            let fields = version_fields(v.q);
            let hash: &[u8] = &v.hash;
            let mut row: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(types.len());
            row.extend([
                &v.id as &(dyn ToSql + Sync),
                &v.qualification_id,
                &v.version_no,
                &hash,
            ]);
            row.extend(fields.iter().map(|f| match f {
                Field::Text(t) => t as &(dyn ToSql + Sync),
                Field::Int(i) => i,
            }));
            row.extend([&import_id as &(dyn ToSql + Sync), &now]);
            q!(writer.as_mut().write(&row));
        }
        q!(writer.finish());
    }
    for chunk in versions.chunks(CHUNK) {
        let (mut vid, mut seq, mut disease, mut issued, mut from, mut until, mut pay) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for v in chunk {
            for (i, s) in v.q.specific_diseases.iter().enumerate() {
                vid.push(v.id);
                seq.push(i as i64);
                disease.push(s.disease.code().to_string());
                issued.push(opt_date(s.issued));
                from.push(s.valid_from.compact());
                until.push(opt_date(s.valid_until));
                pay.push(i64::from(s.self_pay_yen));
            }
        }
        if !vid.is_empty() {
            q!(tx.execute(
                "INSERT INTO specific_disease_certificates (version_id, seq, disease, issue_date, valid_from, valid_until, self_pay_yen)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])",
                &[&vid, &seq, &disease, &issued, &from, &until, &pay]
            ));
        }
    }
    for chunk in versions[fresh.len()..].chunks(CHUNK) {
        let qids: Vec<i64> = chunk.iter().map(|v| v.qualification_id).collect();
        let vids: Vec<i64> = chunk.iter().map(|v| v.id).collect();
        q!(tx.execute(
            "UPDATE qualifications q SET current_version_id = u.v FROM UNNEST($1::bigint[], $2::bigint[]) AS u(id, v) WHERE q.id = u.id",
            &[&qids, &vids]
        ));
    }
    if !decisions.is_empty() {
        let plan = plan_links(&tx, &decisions).await?;
        apply_links(&tx, &plan, import_id, now).await?;
        out.linked = plan.linked;
        out.link_reviews = plan.reviews;
    }
    q!(tx.execute(
        "UPDATE imports SET inserted = $1, updated = $2, unchanged = $3 WHERE id = $4",
        &[
            &(out.inserted as i64),
            &(out.updated as i64),
            &(out.unchanged as i64),
            &import_id
        ]
    ));
    q!(tx.commit());
    Ok(out)
}

async fn plan_links(
    tx: &impl GenericClient,
    decisions: &[(i64, &LinkDecision)],
) -> Result<links::LinkPlan, StoreError> {
    let ids: Vec<i64> = decisions.iter().map(|d| d.0).collect();
    let current: HashMap<i64, String> = q!(tx.query(
        "SELECT qualification_id, pseudonym FROM person_links WHERE qualification_id = ANY($1)",
        &[&ids]
    ))
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let mut open: HashMap<i64, Vec<OpenReview>> = HashMap::new();
    for r in q!(tx.query(
        "SELECT qualification_id, id, attributes, number_last4 FROM link_reviews
         WHERE qualification_id = ANY($1) AND status = 'open'",
        &[&ids]
    )) {
        open.entry(r.get(0)).or_default().push(OpenReview {
            id: r.get(1),
            attributes: r.get(2),
            number_last4: r.get(3),
        });
    }
    Ok(links::plan(&current, &open, decisions))
}

async fn apply_links(
    tx: &impl GenericClient,
    plan: &links::LinkPlan,
    import_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    let (qids, pseudonyms): (Vec<i64>, Vec<&str>) =
        plan.upserts.iter().map(|(q, p)| (*q, p.as_str())).unzip();
    q!(tx.execute(
        "INSERT INTO person_links (qualification_id, pseudonym, import_id, linked_at_ms)
         SELECT u.q, u.p, $3, $4 FROM UNNEST($1::bigint[], $2::text[]) AS u(q, p)
         ON CONFLICT (qualification_id) DO UPDATE SET pseudonym = EXCLUDED.pseudonym,
             import_id = EXCLUDED.import_id, linked_at_ms = EXCLUDED.linked_at_ms",
        &[&qids, &pseudonyms, &import_id, &now]
    ));
    q!(tx.execute(
        "DELETE FROM person_links WHERE qualification_id = ANY($1)",
        &[&plan.deletes]
    ));
    let (eq, (ea, ep)): (Vec<i64>, (Vec<&str>, Vec<&str>)) = plan
        .events
        .iter()
        .map(|(q, a, p)| (*q, (*a, p.as_str())))
        .unzip();
    q!(tx.execute(
        "INSERT INTO person_link_events (qualification_id, import_id, at_ms, action, pseudonym)
         SELECT u.q, $4, $5, u.a, u.p FROM UNNEST($1::bigint[], $2::text[], $3::text[]) AS u(q, a, p)",
        &[&eq, &ea, &ep, &import_id, &now]
    ));
    q!(tx.execute(
        "UPDATE link_reviews SET status = 'resolved_by_import', resolved_at_ms = $2, resolved_by = $3
         WHERE id = ANY($1) AND status = 'open'",
        &[&plan.close_reviews, &now, &format!("import:{import_id}")]
    ));
    let (rq, (ra, rl)): (Vec<i64>, (Vec<&str>, Vec<&str>)) = plan
        .new_reviews
        .iter()
        .map(|(q, a, l)| (*q, (a.as_str(), l.as_str())))
        .unzip();
    q!(tx.execute(
        "INSERT INTO link_reviews (qualification_id, import_id, created_at_ms, attributes, number_last4, status)
         SELECT u.q, $4, $5, u.a, u.l, 'open' FROM UNNEST($1::bigint[], $2::text[], $3::text[]) AS u(q, a, l)",
        &[&rq, &ra, &rl, &import_id, &now]
    ));
    Ok(())
}

pub(super) async fn find(
    c: &mut Conn,
    query: &CardQuery,
) -> Result<Vec<StoredQualification>, StoreError> {
    let stmt = c.prepared(|p| &mut p.find, find_sql).await?;
    let branch = query.branch.map(|b| b.as_str().to_string());
    let rows = q!(c.query(
        &stmt,
        &[
            &query.insurer.as_str(),
            &query.symbol_key,
            &query.number_key,
            &branch,
            &query.birthdate.compact()
        ]
    ));
    found_from(&rows)
}

pub(super) fn found_from(rows: &[Row]) -> Result<Vec<StoredQualification>, StoreError> {
    let sd_at = 5 + VERSION_COLS.len();
    let mut found = Vec::with_capacity(rows.len());
    for r in rows {
        let mut q = qualification_from(r, 3)?;
        q.specific_diseases = specific_diseases_from_arrays(r, sd_at)?;
        found.push(StoredQualification {
            id: r.get(0),
            version: r.get(1),
            person: r.get(2),
            qualification: q,
        });
    }
    Ok(found)
}

pub(super) async fn find_by_person(
    c: &mut Conn,
    pseudonym: &str,
) -> Result<Vec<StoredQualification>, StoreError> {
    let stmt = find_by_person_statement(c).await?;
    let rows = q!(c.query(&stmt, &[&pseudonym]));
    found_from(&rows)
}

const LATEST_CONSENTS_SQL: &str =
    "SELECT DISTINCT ON (category) category, given_at_ms, expires_at_ms FROM consents
     WHERE pseudonym = $1 AND institution_code = $2
     ORDER BY category, given_at_ms DESC, id DESC";

/// The person lookup and their consents, pipelined on one connection: one round trip.
pub(super) async fn person_with_consents(
    c: &mut Conn,
    pseudonym: &str,
    institution: &InstitutionCode,
) -> Result<(Vec<StoredQualification>, Vec<Consent>), StoreError> {
    let find = find_by_person_statement(c).await?;
    let consents = c.cached(LATEST_CONSENTS_SQL).await?;
    let client: &tokio_postgres::Client = c;
    let inst = institution.as_str();
    let find_params: [&(dyn ToSql + Sync); 1] = [&pseudonym];
    let consent_params: [&(dyn ToSql + Sync); 2] = [&pseudonym, &inst];
    let (found, given) = tokio::join!(
        client.query(&find, &find_params),
        client.query(&consents, &consent_params)
    );
    let found = found_from(&found.map_err(|e| pg_err(&e))?)?;
    let given = consents_from(&given.map_err(|e| pg_err(&e))?, pseudonym, institution)?;
    Ok((found, given))
}

async fn find_by_person_statement(c: &mut Conn) -> Result<tokio_postgres::Statement, StoreError> {
    c.prepared(
        |p| &mut p.find_by_person,
        || {
            format!(
                "SELECT q.id, v.version_no, l.pseudonym, q.insurer_number, q.branch, {cols}
                 FROM person_links l JOIN qualifications q ON q.id = l.qualification_id
                 JOIN qualification_versions v ON v.id = q.current_version_id
                 WHERE l.pseudonym = $1
                 ORDER BY v.qualification_date, q.id",
                cols = version_cols("v") + &specific_disease_arrays("v")
            )
        },
    )
    .await
}

fn find_sql() -> String {
    format!(
        "SELECT q.id, v.version_no, l.pseudonym, q.insurer_number, q.branch, {cols}
         FROM qualifications q JOIN qualification_versions v ON v.id = q.current_version_id
         LEFT JOIN person_links l ON l.qualification_id = q.id
         WHERE q.insurer_number = $1 AND q.symbol_key = $2 AND q.number_key = $3
           AND ($4::text IS NULL OR q.branch = $4 OR q.branch = '') AND v.birthdate = $5
         ORDER BY q.branch, q.id",
        cols = version_cols("v") + &specific_disease_arrays("v")
    )
}

/// The specific-disease certificates of version `v` as five array columns, so a lookup is one
/// round trip.
pub(super) fn specific_disease_arrays(v: &str) -> String {
    ["disease", "issue_date", "valid_from", "valid_until", "self_pay_yen"]
        .iter()
        .map(|c| format!(", ARRAY(SELECT s.{c} FROM specific_disease_certificates s WHERE s.version_id = {v}.id ORDER BY s.seq)"))
        .collect()
}

/// One element of those arrays, read like a row.
struct ArrayElement<'a> {
    texts: [Option<&'a str>; 4],
    pay: i64,
}

impl RowRead for ArrayElement<'_> {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.texts.get(i).copied().flatten().map(str::to_string))
    }
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok((i == 4).then_some(self.pay))
    }
}

fn specific_diseases_from_arrays(
    r: &Row,
    at: usize,
) -> Result<Vec<SpecificDiseaseCertificate>, StoreError> {
    let bad = |e: tokio_postgres::Error| StoreError::Corrupt(e.to_string());
    let disease: Vec<String> = r.try_get(at).map_err(bad)?;
    let issued: Vec<Option<String>> = r.try_get(at + 1).map_err(bad)?;
    let from: Vec<String> = r.try_get(at + 2).map_err(bad)?;
    let until: Vec<Option<String>> = r.try_get(at + 3).map_err(bad)?;
    let pay: Vec<i64> = r.try_get(at + 4).map_err(bad)?;
    let n = disease.len();
    if [issued.len(), from.len(), until.len(), pay.len()]
        .iter()
        .any(|&l| l != n)
    {
        return Err(StoreError::Corrupt(
            "specific-disease arrays differ in length".into(),
        ));
    }
    (0..n)
        .map(|i| {
            let e = ArrayElement {
                texts: [
                    Some(disease[i].as_str()),
                    issued[i].as_deref(),
                    Some(from[i].as_str()),
                    until[i].as_deref(),
                ],
                pay: pay[i],
            };
            specific_disease_from(&e, 0)
        })
        .collect()
}

pub(super) async fn history(
    c: &Conn,
    qualification_id: i64,
) -> Result<Vec<QualificationVersion>, StoreError> {
    let sql = format!(
        "SELECT v.version_no, v.import_id, v.recorded_at_ms, q.insurer_number, q.branch, {cols}
         FROM qualification_versions v JOIN qualifications q ON q.id = v.qualification_id
         WHERE v.qualification_id = $1 ORDER BY v.version_no",
        cols = version_cols("v") + &specific_disease_arrays("v")
    );
    let rows = q!(c.query(sql.as_str(), &[&qualification_id]));
    let sd_at = 5 + VERSION_COLS.len();
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut q = qualification_from(r, 3)?;
        q.specific_diseases = specific_diseases_from_arrays(r, sd_at)?;
        out.push(QualificationVersion {
            version: r.get(0),
            import_id: r.get(1),
            recorded_at: Timestamp::from_unix_millis(r.get(2)),
            qualification: q,
        });
    }
    Ok(out)
}

/// The statements of an access-log group commit, in the order [`append_access`] uses them.
const ACCESS_GROUP: [&str; 6] = [
    "INSERT INTO used_nonces (nonce, expires_at_ms) SELECT * FROM UNNEST($1::text[], $2::bigint[])
     ON CONFLICT (nonce) DO NOTHING RETURNING nonce",
    "SELECT chain_hash FROM audit_heads WHERE chain = 'access' FOR UPDATE",
    "SELECT nextval('access_log_id_seq') FROM generate_series(1, $1::bigint) ORDER BY 1",
    "INSERT INTO access_log (id, at_ms, institution_code, purpose, result, processing_code,
                             category, period_from, period_to, basis, chain_hash)
     SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
                          $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])",
    "UPDATE audit_heads SET entry_id = $1, chain_hash = $2 WHERE chain = 'access'",
    "INSERT INTO access_log_subjects (access_id, access_at_ms, qualification_id)
     SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[])",
];

/// Appends a batch; an entry whose nonce was spent before is skipped (`None`).
///
/// Four round trips whatever the batch holds, with statements prepared once per connection:
/// the `BEGIN`; the nonces, the chain's head and the ids, asked for together; the rows and the
/// new head, written together; the commit.
/// PostgreSQL runs a connection's statements in order, so the ids are drawn under the head
/// row's lock, which orders appends across nodes: ids grow along the chain.
pub(super) async fn append_access(
    conn: &mut Conn,
    batch: &[(&AccessLogEntry, Option<&NonceUse>)],
) -> Result<Vec<Option<i64>>, StoreError> {
    let [spend_nonces, lock_head, draw_ids, insert_entries, advance_head, insert_subjects] =
        conn.prepared_all(ACCESS_GROUP).await?;
    let tx = q!(conn.transaction());
    let (nonces, expiries): (Vec<&str>, Vec<i64>) = batch
        .iter()
        .filter_map(|(_, n)| n.map(|n| (n.nonce.as_str(), n.expires_at.unix_millis())))
        .unzip();
    let spend = async {
        if nonces.is_empty() {
            return Ok(Vec::new());
        }
        tx.query(&spend_nonces, &[&nonces, &expiries]).await
    };
    let head = tx.query_one(&lock_head, &[]);
    // One id for every entry of the batch; those of entries skipped for a spent nonce stay
    // unused (the chain follows the order of ids, not their continuity).
    let wanted = batch.len() as i64;
    let draw_params: [&(dyn ToSql + Sync); 1] = [&wanted];
    let draw = tx.query(&draw_ids, &draw_params);
    let (spent, head, drawn) = tokio::try_join!(spend, head, draw).map_err(|e| pg_err(&e))?;
    let spent_now: std::collections::HashSet<String> =
        spent.iter().map(|r| r.get::<_, String>(0)).collect();
    // A nonce twice in one batch: only its first entry gets it.
    let mut claimed = std::collections::HashSet::new();
    let keep: Vec<bool> = batch
        .iter()
        .map(|(_, n)| match n {
            None => true,
            Some(n) => spent_now.contains(&n.nonce) && claimed.insert(n.nonce.as_str()),
        })
        .collect();
    let entries: Vec<&AccessLogEntry> = batch
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|((e, _), _)| *e)
        .collect();
    if entries.is_empty() {
        q!(tx.commit());
        return Ok(keep.into_iter().map(|_| None).collect());
    }
    let mut prev: String = head.get(0);
    let ids: Vec<i64> = drawn.iter().take(entries.len()).map(|r| r.get(0)).collect();
    let at: Vec<i64> = entries.iter().map(|e| e.at.unix_millis()).collect();
    let inst: Vec<&str> = entries.iter().map(|e| e.institution.as_str()).collect();
    let purpose: Vec<&str> = entries.iter().map(|e| e.purpose.code()).collect();
    let result: Vec<String> = entries.iter().map(|e| e.result.code()).collect();
    let code: Vec<&str> = entries.iter().map(|e| e.processing_code.as_str()).collect();
    let (mut category, mut from, mut to, mut basis) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for e in &entries {
        let (c, f, t, b) = information_fields(e);
        category.push(c);
        from.push(f);
        to.push(t);
        basis.push(b);
    }
    let mut chain = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let entry_hash = crate::audit::access_hash(&crate::audit::AccessFields {
            id: ids[i],
            at_ms: at[i],
            institution: inst[i],
            purpose: purpose[i],
            result: &result[i],
            processing_code: code[i],
            category: category[i],
            period_from: from[i].as_deref(),
            period_to: to[i].as_deref(),
            basis: basis[i],
            subjects: &e.qualification_ids,
        });
        prev = crate::audit::link(Some(&prev), &entry_hash);
        chain.push(prev.clone());
    }
    let (mut sid, mut sat, mut sq) = (Vec::new(), Vec::new(), Vec::new());
    for (e, id) in entries.iter().zip(&ids) {
        for q in &e.qualification_ids {
            sid.push(*id);
            sat.push(e.at.unix_millis());
            sq.push(*q);
        }
    }
    let last = ids[ids.len() - 1];
    let entry_params: [&(dyn ToSql + Sync); 11] = [
        &ids, &at, &inst, &purpose, &result, &code, &category, &from, &to, &basis, &chain,
    ];
    let log = tx.execute(&insert_entries, &entry_params);
    let head_params: [&(dyn ToSql + Sync); 2] = [&last, &prev];
    let advance = tx.execute(&advance_head, &head_params);
    let subjects = async {
        if sid.is_empty() {
            return Ok(0);
        }
        tx.execute(&insert_subjects, &[&sid, &sat, &sq]).await
    };
    tokio::try_join!(log, advance, subjects).map_err(|e| pg_err(&e))?;
    q!(tx.commit());
    let mut ids = ids.into_iter();
    Ok(keep
        .into_iter()
        .map(|k| if k { ids.next() } else { None })
        .collect())
}

/// Forgets spent nonces that expired before `before_ms`.
pub(super) async fn purge_nonces(c: &Conn, before_ms: i64) -> Result<u64, StoreError> {
    Ok(q!(c.execute(
        "DELETE FROM used_nonces WHERE expires_at_ms < $1",
        &[&before_ms]
    )))
}

pub(super) async fn register_card(c: &Conn, reg: &CardRegistration) -> Result<bool, StoreError> {
    Ok(q!(c.execute(
        "INSERT INTO card_registrations (pseudonym, registered_at_ms, certificate_serial, institution_code)
         VALUES ($1, $2, $3, $4) ON CONFLICT (pseudonym) DO NOTHING",
        &[
            &reg.pseudonym,
            &reg.registered_at.unix_millis(),
            &reg.certificate_serial,
            &reg.institution.as_str()
        ]
    )) == 1)
}

pub(super) async fn card_registration(
    c: &mut Conn,
    pseudonym: &str,
) -> Result<Option<CardRegistration>, StoreError> {
    let st = c
        .cached("SELECT registered_at_ms, certificate_serial, institution_code FROM card_registrations WHERE pseudonym = $1")
        .await?;
    let row = q!(c.query_opt(&st, &[&pseudonym]));
    row.map(|r| {
        Ok(CardRegistration {
            pseudonym: pseudonym.to_string(),
            registered_at: Timestamp::from_unix_millis(r.get(0)),
            certificate_serial: r.get(1),
            institution: InstitutionCode::parse(r.get::<_, &str>(2))
                .map_err(|e| StoreError::Corrupt(format!("institution_code: {e}")))?,
        })
    })
    .transpose()
}

pub(super) async fn link_reviews(
    c: &Conn,
    open_only: bool,
    limit: u32,
) -> Result<Vec<LinkReview>, StoreError> {
    let rows = q!(c.query(
        "SELECT r.id, r.qualification_id, q.insurer_number, r.import_id, r.created_at_ms, r.attributes,
                r.number_last4, r.status, r.resolved_at_ms, r.resolved_by, r.note
         FROM link_reviews r JOIN qualifications q ON q.id = r.qualification_id
         WHERE (NOT $1 OR r.status = 'open') ORDER BY r.id DESC LIMIT $2",
        &[&open_only, &i64::from(limit)]
    ));
    rows.iter()
        .map(|r| {
            Ok(LinkReview {
                id: r.get(0),
                qualification_id: r.get(1),
                insurer: InsurerNumber::parse(r.get::<_, &str>(2))
                    .map_err(|e| StoreError::Corrupt(format!("insurer_number: {e}")))?,
                import_id: r.get(3),
                created_at: Timestamp::from_unix_millis(r.get(4)),
                attributes: links::parse_attribute_codes(r.get::<_, &str>(5)),
                number_last4: r.get(6),
                status: ReviewStatus::parse(r.get::<_, &str>(7))
                    .ok_or_else(|| StoreError::Corrupt("link review status".into()))?,
                resolved_at: r.get::<_, Option<i64>>(8).map(Timestamp::from_unix_millis),
                resolved_by: r.get(9),
                note: r.get(10),
            })
        })
        .collect()
}

pub(super) async fn dismiss_link_review(
    c: &Conn,
    id: i64,
    by: &str,
    note: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    Ok(q!(c.execute(
        "UPDATE link_reviews SET status = 'dismissed', resolved_at_ms = $2, resolved_by = $3, note = $4
         WHERE id = $1 AND status = 'open'",
        &[&id, &at.unix_millis(), &by, &note]
    )) == 1)
}

/// The access-log columns of `StoredAccess`, for the alias `a`: the id, then what
/// [`access_from`] reads.
pub(super) const ACCESS_COLS: &str =
    "a.id, a.at_ms, a.institution_code, a.purpose, a.result, a.processing_code,
     a.category, a.period_from, a.period_to, a.basis";

pub(super) async fn access(
    c: &Conn,
    qualification_id: Option<i64>,
    limit: u32,
) -> Result<Vec<StoredAccess>, StoreError> {
    let limit = i64::from(limit);
    let rows = match qualification_id {
        Some(qid) => q!(c.query(
            &format!(
                "SELECT {ACCESS_COLS}
                 FROM access_log a JOIN access_log_subjects s ON s.access_id = a.id AND s.access_at_ms = a.at_ms
                 WHERE s.qualification_id = $1 ORDER BY a.id DESC LIMIT $2"
            ),
            &[&qid, &limit]
        )),
        None => q!(c.query(
            &format!("SELECT {ACCESS_COLS} FROM access_log a ORDER BY a.id DESC LIMIT $1"),
            &[&limit]
        )),
    };
    let mut out = accesses_from(&rows)?;
    load_subjects(c, &mut out).await?;
    Ok(out)
}

/// Entries from rows of [`ACCESS_COLS`] (their subjects not loaded yet).
pub(super) fn accesses_from(rows: &[Row]) -> Result<Vec<StoredAccess>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(StoredAccess {
                id: r.get(0),
                entry: access_from(r, 1)?,
            })
        })
        .collect()
}

/// Loads every qualification each entry touched, in one round trip.
pub(super) async fn load_subjects(c: &Conn, out: &mut [StoredAccess]) -> Result<(), StoreError> {
    if out.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = out.iter().map(|a| a.id).collect();
    let subjects = q!(c.query(
        "SELECT access_id, qualification_id FROM access_log_subjects WHERE access_id = ANY($1) ORDER BY qualification_id",
        &[&ids]
    ));
    let mut by_access: HashMap<i64, Vec<i64>> = HashMap::new();
    for r in &subjects {
        by_access.entry(r.get(0)).or_default().push(r.get(1));
    }
    for a in out {
        a.entry.qualification_ids = by_access.remove(&a.id).unwrap_or_default();
    }
    Ok(())
}

/// The foreign keys a bulk load leaves out (table, name, definition): PostgreSQL checks each
/// appended row against them with a query of its own, while adding them back at the end checks
/// every row in one join. The names are the ones migration 0001 gave them.
const BULK_FOREIGN_KEYS: [(&str, &str, &str); 4] = [
    (
        "qualifications",
        "qualifications_created_import_id_fkey",
        "FOREIGN KEY (created_import_id) REFERENCES imports(id)",
    ),
    (
        "qualification_versions",
        "qualification_versions_qualification_id_fkey",
        "FOREIGN KEY (qualification_id) REFERENCES qualifications(id)",
    ),
    (
        "qualification_versions",
        "qualification_versions_import_id_fkey",
        "FOREIGN KEY (import_id) REFERENCES imports(id)",
    ),
    (
        "specific_disease_certificates",
        "specific_disease_certificates_version_id_fkey",
        "FOREIGN KEY (version_id) REFERENCES qualification_versions(id)",
    ),
];

/// Starts a bulk load if the store holds no qualification (see [`crate::Store::begin_bulk_load`]).
pub(super) async fn begin_bulk_load(c: &mut Conn) -> Result<bool, StoreError> {
    let tx = q!(c.transaction());
    // One bulk load at a time, and no import slipping in between the check and the drop.
    q!(tx.execute("LOCK TABLE qualifications IN EXCLUSIVE MODE", &[]));
    let empty: bool =
        q!(tx.query_one("SELECT NOT EXISTS (SELECT 1 FROM qualifications)", &[])).get(0);
    if !empty {
        return Ok(false);
    }
    let open: bool = q!(tx.query_one("SELECT EXISTS (SELECT 1 FROM bulk_loads)", &[])).get(0);
    if !open {
        for (name, _) in crate::BULK_INDEXES {
            q!(tx.batch_execute(&format!("DROP INDEX IF EXISTS {name}")));
        }
        for (table, name, _) in BULK_FOREIGN_KEYS {
            q!(tx.batch_execute(&format!(
                "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}"
            )));
        }
        q!(tx.execute(
            "INSERT INTO bulk_loads (id, started_at_ms) VALUES (1, $1)",
            &[&crate::now_ms()]
        ));
    }
    q!(tx.commit());
    Ok(true)
}

/// Builds the indexes a bulk load left out and ends it; nothing to do when none is open.
pub(super) async fn finish_bulk_load(c: &mut Conn) -> Result<(), StoreError> {
    let tx = q!(c.transaction());
    let open: bool = q!(tx.query_one("SELECT EXISTS (SELECT 1 FROM bulk_loads)", &[])).get(0);
    if !open {
        return Ok(());
    }
    q!(tx.batch_execute("SET LOCAL maintenance_work_mem = '1GB'; SET LOCAL work_mem = '256MB'"));
    for (_, create) in crate::BULK_INDEXES {
        tx.batch_execute(create).await.map_err(|e| {
            if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                StoreError::DuplicateKey
            } else {
                pg_err(&e)
            }
        })?;
    }
    for (table, name, definition) in BULK_FOREIGN_KEYS {
        let present: bool = q!(tx.query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = $1)",
            &[&name]
        ))
        .get(0);
        if !present {
            q!(tx.batch_execute(&format!(
                "ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"
            )));
        }
    }
    q!(tx.execute("DELETE FROM bulk_loads", &[]));
    q!(tx.commit());
    Ok(())
}

pub(super) async fn imports(c: &Conn, limit: u32) -> Result<Vec<ImportRecord>, StoreError> {
    let rows = q!(c.query(
        "SELECT id, actor, received_at_ms, source_sha256, rows_total, inserted, updated, unchanged
         FROM imports ORDER BY id DESC LIMIT $1",
        &[&i64::from(limit)]
    ));
    Ok(rows
        .iter()
        .map(|r| ImportRecord {
            id: r.get(0),
            actor: r.get(1),
            received_at: Timestamp::from_unix_millis(r.get(2)),
            source_sha256: r.get(3),
            rows: r.get::<_, i64>(4) as u64,
            outcome: ImportOutcome {
                import_id: r.get(0),
                inserted: r.get::<_, i64>(5) as u64,
                updated: r.get::<_, i64>(6) as u64,
                unchanged: r.get::<_, i64>(7) as u64,
                ..Default::default()
            },
        })
        .collect())
}

pub(super) async fn counts(c: &Conn) -> Result<StoreCounts, StoreError> {
    let r = q!(c.query_one(
        "SELECT (SELECT count(*) FROM qualifications), (SELECT count(*) FROM qualification_versions),
                (SELECT count(*) FROM imports), (SELECT count(*) FROM access_log)",
        &[]
    ));
    let n = |i: usize| r.get::<_, i64>(i) as u64;
    Ok(StoreCounts {
        qualifications: n(0),
        versions: n(1),
        imports: n(2),
        access_log: n(3),
    })
}

pub(super) async fn sample(c: &Conn, limit: u32) -> Result<Vec<CardQuery>, StoreError> {
    // Every stride-th id, read by id: no scan of the table, whatever its size.
    let n: i64 = q!(c.query_one(
        "SELECT coalesce(max(id), 0)::bigint FROM qualifications",
        &[]
    ))
    .get(0);
    let stride = (n / i64::from(limit.max(1))).max(1);
    let ids: Vec<i64> = (1..=i64::from(limit))
        .map(|k| k * stride)
        .take_while(|id| *id <= n)
        .collect();
    let rows = q!(c.query(
        "SELECT q.insurer_number, q.symbol_key, q.number_key, q.branch, v.birthdate
         FROM qualifications q JOIN qualification_versions v ON v.id = q.current_version_id
         WHERE q.id = ANY($1) ORDER BY q.id",
        &[&ids]
    ));
    rows.iter().map(card_query_from).collect()
}

pub(super) async fn record_consents(c: &mut Conn, consents: &[Consent]) -> Result<(), StoreError> {
    let person: Vec<&str> = consents.iter().map(|c| c.person.as_str()).collect();
    let inst: Vec<&str> = consents.iter().map(|c| c.institution.as_str()).collect();
    let cat: Vec<&str> = consents.iter().map(|c| c.category.code()).collect();
    let given: Vec<i64> = consents.iter().map(|c| c.given_at.unix_millis()).collect();
    let expires: Vec<i64> = consents
        .iter()
        .map(|c| c.expires_at.unix_millis())
        .collect();
    q!(c.execute(
        "INSERT INTO consents (pseudonym, institution_code, category, given_at_ms, expires_at_ms)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])",
        &[&person, &inst, &cat, &given, &expires]
    ));
    Ok(())
}

pub(super) async fn latest_consents(
    c: &Conn,
    pseudonym: &str,
    institution: &InstitutionCode,
) -> Result<Vec<Consent>, StoreError> {
    let rows = q!(c.query(LATEST_CONSENTS_SQL, &[&pseudonym, &institution.as_str()]));
    consents_from(&rows, pseudonym, institution)
}

fn consents_from(
    rows: &[Row],
    pseudonym: &str,
    institution: &InstitutionCode,
) -> Result<Vec<Consent>, StoreError> {
    rows.iter()
        .map(|r| {
            let category: &str = r.get(0);
            Ok(Consent {
                person: pseudonym.to_string(),
                institution: institution.clone(),
                category: ConsentCategory::parse(category)
                    .ok_or_else(|| StoreError::Corrupt(format!("consent category {category:?}")))?,
                given_at: Timestamp::from_unix_millis(r.get(1)),
                expires_at: Timestamp::from_unix_millis(r.get(2)),
            })
        })
        .collect()
}
