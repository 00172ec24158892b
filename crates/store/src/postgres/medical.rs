//! SQL of the PostgreSQL backend for medical information (migration 0004). Bulk writes go
//! through `UNNEST` arrays in chunks, so a 100,000-receipt file is a few dozen statements.

use super::rows::next_ids;
use super::{pg_err, Conn};
use crate::mapping::{get_opt_date, opt_date, req_date, req_int, req_text, RowRead};
use crate::medical::{
    checkup_item_from, dates_text, drug_from, master_from, match_candidate, month_parse,
    month_text, treatment_from, MatchCandidate, OPEN_START,
};
use crate::{
    CheckupImport, CheckupImportOutcome, MasterEntry, MasterImport, MasterImportOutcome,
    MasterKind, MatchOutcome, MedicalCounts, PatientKey, PurgeOutcome, ReceiptImport,
    ReceiptImportOutcome, StoreError, StoredCheckup, StoredReceipt,
};
use kakunin_domain::{Date, InstitutionCode, Timestamp};
use std::collections::{HashMap, HashSet};
use tokio_postgres::GenericClient;

macro_rules! q {
    ($e:expr) => {
        $e.await.map_err(|e| pg_err(&e))?
    };
}

const CHUNK: usize = 5000;

pub(super) async fn import_masters(
    c: &mut Conn,
    imp: &MasterImport,
) -> Result<MasterImportOutcome, StoreError> {
    let tx = q!(c.transaction());
    let import_id: i64 = q!(tx.query_one(
        "INSERT INTO master_imports (kind, received_at_ms, actor, source_sha256, entries, inserted, updated)
         VALUES ($1, $2, $3, $4, $5, 0, 0) RETURNING id",
        &[
            &imp.kind.code(),
            &imp.received_at.unix_millis(),
            &imp.actor,
            &imp.source_sha256,
            &(imp.entries.len() as i64)
        ]
    ))
    .get(0);
    let mut out = MasterImportOutcome {
        import_id,
        ..Default::default()
    };
    // What is there now, for the codes of this file.
    let codes: Vec<&str> = imp.entries.iter().map(|e| e.code.as_str()).collect();
    // (code, start) → (end, name, unit) as stored.
    type Edition = (Option<String>, String, Option<String>);
    let mut existing: HashMap<(String, String), Edition> = HashMap::new();
    for chunk in codes.chunks(CHUNK) {
        for r in q!(tx.query(
            "SELECT code, valid_from, valid_until, name, unit FROM master_entries
             WHERE kind = $1 AND code = ANY($2)",
            &[&imp.kind.code(), &chunk]
        )) {
            existing.insert((r.get(0), r.get(1)), (r.get(2), r.get(3), r.get(4)));
        }
    }
    let (mut code, mut from, mut until, mut name, mut unit) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    for e in &imp.entries {
        let f = opt_date(e.valid_from).unwrap_or_else(|| OPEN_START.into());
        let u = opt_date(e.valid_until);
        // The last row of the file for a (code, start) wins, as in SQLite's upsert order.
        if !seen.insert((e.code.clone(), f.clone())) {
            if let Some(i) = code
                .iter()
                .zip(&from)
                .position(|(c, s)| *c == e.code && *s == f)
            {
                until[i] = u;
                name[i] = e.name.clone();
                unit[i] = e.unit.clone();
            }
            continue;
        }
        match existing.get(&(e.code.clone(), f.clone())) {
            Some((eu, en, eunit)) if *eu == u && *en == e.name && *eunit == e.unit => continue,
            Some(_) => out.updated += 1,
            None => out.inserted += 1,
        }
        code.push(e.code.clone());
        from.push(f);
        until.push(u);
        name.push(e.name.clone());
        unit.push(e.unit.clone());
    }
    for start in (0..code.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(code.len());
        q!(tx.execute(
            "INSERT INTO master_entries (kind, code, valid_from, valid_until, name, unit, import_id)
             SELECT $1, * , $7 FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
             ON CONFLICT (kind, code, valid_from) DO UPDATE
             SET valid_until = excluded.valid_until, name = excluded.name, unit = excluded.unit,
                 import_id = excluded.import_id",
            &[
                &imp.kind.code(),
                &&code[start..end],
                &&from[start..end],
                &&until[start..end],
                &&name[start..end],
                &&unit[start..end],
                &import_id
            ]
        ));
    }
    q!(tx.execute(
        "UPDATE master_imports SET inserted = $1, updated = $2 WHERE id = $3",
        &[&(out.inserted as i64), &(out.updated as i64), &import_id]
    ));
    q!(tx.commit());
    Ok(out)
}

pub(super) async fn master_entries(
    c: &mut Conn,
    kind: MasterKind,
    codes: &[String],
) -> Result<Vec<MasterEntry>, StoreError> {
    let st = c
        .cached(
            "SELECT code, valid_from, valid_until, name, unit FROM master_entries
             WHERE kind = $1 AND code = ANY($2)",
        )
        .await?;
    let rows = q!(c.query(&st, &[&kind.code(), &codes]));
    rows.iter().map(|r| master_from(r, kind)).collect()
}

/// The qualifications each key could belong to, in bulk.
async fn candidates(
    c: &impl GenericClient,
    keys: &[&PatientKey],
) -> Result<HashMap<(String, String, String), Vec<MatchCandidate>>, StoreError> {
    let mut cards: Vec<(String, String, String)> = keys
        .iter()
        .map(|k| {
            (
                k.insurer.clone(),
                k.symbol_key.clone(),
                k.number_key.clone(),
            )
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    cards.sort();
    let mut out: HashMap<_, Vec<MatchCandidate>> =
        cards.iter().map(|k| (k.clone(), Vec::new())).collect();
    for chunk in cards.chunks(CHUNK) {
        let ins: Vec<&str> = chunk.iter().map(|k| k.0.as_str()).collect();
        let sym: Vec<&str> = chunk.iter().map(|k| k.1.as_str()).collect();
        let num: Vec<&str> = chunk.iter().map(|k| k.2.as_str()).collect();
        for r in q!(c.query(
            "SELECT q.insurer_number, q.symbol_key, q.number_key, q.id, q.branch, v.birthdate
             FROM UNNEST($1::text[], $2::text[], $3::text[]) AS k(i, s, n)
             JOIN qualifications q ON q.insurer_number = k.i AND q.symbol_key = k.s AND q.number_key = k.n
             JOIN qualification_versions v ON v.id = q.current_version_id",
            &[&ins, &sym, &num]
        )) {
            let card = (r.get(0), r.get(1), r.get(2));
            let cand = MatchCandidate {
                qualification_id: r.get(3),
                branch: r.get(4),
                birthdate: req_date(&r, 5, "birthdate")?,
            };
            out.entry(card).or_default().push(cand);
        }
    }
    Ok(out)
}

fn matched(
    cands: &HashMap<(String, String, String), Vec<MatchCandidate>>,
    key: &PatientKey,
) -> Option<i64> {
    let card = (
        key.insurer.clone(),
        key.symbol_key.clone(),
        key.number_key.clone(),
    );
    cands.get(&card).and_then(|c| match_candidate(key, c))
}

fn u32_col(v: Option<u32>) -> Option<i64> {
    v.map(i64::from)
}

pub(super) async fn import_receipts(
    c: &mut Conn,
    imp: &ReceiptImport,
) -> Result<ReceiptImportOutcome, StoreError> {
    let tx = q!(c.transaction());
    // Serialise imports of the same file: the unique digest makes the loser fail, so look first.
    if let Some(r) = q!(tx.query_opt(
        "SELECT id, receipts, matched FROM receipt_files WHERE source_sha256 = $1",
        &[&imp.source_sha256]
    )) {
        let (n, m): (i64, i64) = (r.get(1), r.get(2));
        return Ok(ReceiptImportOutcome {
            file_id: r.get(0),
            receipts: n as u64,
            matched: m as u64,
            unmatched: (n - m) as u64,
            duplicate: true,
        });
    }
    let keys: Vec<&PatientKey> = imp.receipts.iter().map(|r| &r.key).collect();
    let cands = candidates(&tx, &keys).await?;
    let qids: Vec<Option<i64>> = keys.iter().map(|k| matched(&cands, k)).collect();
    let matched_n = qids.iter().filter(|q| q.is_some()).count() as u64;
    let file_id: i64 = q!(tx.query_one(
        "INSERT INTO receipt_files (received_at_ms, actor, source_sha256, pharmacy, institution_code,
                                    institution_name, receipts, matched, unknown_records)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        &[
            &imp.received_at.unix_millis(),
            &imp.actor,
            &imp.source_sha256,
            &i64::from(imp.pharmacy),
            &imp.institution_code,
            &imp.institution_name,
            &(imp.receipts.len() as i64),
            &(matched_n as i64),
            &(imp.unknown_records as i64)
        ]
    ))
    .get(0);
    let ids = next_ids(&tx, "receipts_id_seq", imp.receipts.len()).await?;
    for start in (0..imp.receipts.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(imp.receipts.len());
        let rs = &imp.receipts[start..end];
        let id = &ids[start..end];
        let file: Vec<i64> = vec![file_id; rs.len()];
        let number: Vec<Option<i64>> = rs.iter().map(|r| u32_col(r.receipt_number)).collect();
        let qid = &qids[start..end];
        let ins: Vec<&str> = rs.iter().map(|r| r.key.insurer.as_str()).collect();
        let sym: Vec<&str> = rs.iter().map(|r| r.key.symbol_key.as_str()).collect();
        let num: Vec<&str> = rs.iter().map(|r| r.key.number_key.as_str()).collect();
        let br: Vec<&str> = rs.iter().map(|r| r.key.branch.as_str()).collect();
        let birth: Vec<Option<String>> = rs.iter().map(|r| opt_date(r.key.birthdate)).collect();
        let month: Vec<String> = rs.iter().map(|r| month_text(r.month)).collect();
        let kind: Vec<&str> = rs.iter().map(|r| r.care_kind.as_str()).collect();
        let pres: Vec<Option<&str>> = rs.iter().map(|r| r.prescriber.as_deref()).collect();
        let days: Vec<Option<i64>> = rs.iter().map(|r| u32_col(r.days)).collect();
        let total: Vec<Option<i64>> = rs.iter().map(|r| r.total_yen.map(|v| v as i64)).collect();
        let share: Vec<Option<i64>> = rs
            .iter()
            .map(|r| r.patient_share_yen.map(|v| v as i64))
            .collect();
        q!(tx.execute(
            "INSERT INTO receipts (id, file_id, receipt_number, qualification_id, insurer_number, symbol_key,
                                   number_key, branch, birthdate, care_month, care_kind, prescriber_code,
                                   days, total_yen, patient_share_yen)
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[],
                                  $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                                  $13::bigint[], $14::bigint[], $15::bigint[])",
            &[
                &id, &file, &number, &qid, &ins, &sym, &num, &br, &birth, &month, &kind, &pres,
                &days, &total, &share
            ]
        ));
        // Lines of this chunk.
        let (mut d_rid, mut d_seq, mut d_on, mut d_pr, mut d_code, mut d_qty) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        let (mut d_days, mut d_cat, mut d_use, mut d_rp) = (vec![], vec![], vec![], vec![]);
        let (mut t_rid, mut t_seq, mut t_kind, mut t_code, mut t_dates, mut t_count) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for (r, rid) in rs.iter().zip(id) {
            for (i, d) in r.drugs.iter().enumerate() {
                d_rid.push(*rid);
                d_seq.push(i as i64);
                d_on.push(opt_date(d.date));
                d_pr.push(opt_date(d.prescribed_on));
                d_code.push(d.code.as_str());
                d_qty.push(d.quantity.as_deref());
                d_days.push(u32_col(d.days_or_times));
                d_cat.push(d.category.as_deref());
                d_use.push(d.usage_code.as_deref());
                d_rp.push(u32_col(d.rp));
            }
            for (i, t) in r.treatments.iter().enumerate() {
                t_rid.push(*rid);
                t_seq.push(i as i64);
                t_kind.push(t.kind.as_str());
                t_code.push(t.code.as_str());
                t_dates.push(dates_text(&t.dates));
                t_count.push(u32_col(t.count));
            }
        }
        if !d_rid.is_empty() {
            q!(tx.execute(
                "INSERT INTO receipt_drugs (receipt_id, seq, dispensed_on, prescribed_on, code, quantity,
                                            days_or_times, category, usage_code, rp)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
                                      $7::bigint[], $8::text[], $9::text[], $10::bigint[])",
                &[
                    &d_rid, &d_seq, &d_on, &d_pr, &d_code, &d_qty, &d_days, &d_cat, &d_use,
                    &d_rp
                ]
            ));
        }
        if !t_rid.is_empty() {
            q!(tx.execute(
                "INSERT INTO receipt_treatments (receipt_id, seq, kind, code, dates, count)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[])",
                &[&t_rid, &t_seq, &t_kind, &t_code, &t_dates, &t_count]
            ));
        }
    }
    q!(tx.commit());
    Ok(ReceiptImportOutcome {
        file_id,
        receipts: imp.receipts.len() as u64,
        matched: matched_n,
        unmatched: imp.receipts.len() as u64 - matched_n,
        duplicate: false,
    })
}

pub(super) async fn import_checkups(
    c: &mut Conn,
    imp: &CheckupImport,
) -> Result<CheckupImportOutcome, StoreError> {
    let tx = q!(c.transaction());
    if let Some(r) = q!(tx.query_opt(
        "SELECT id, documents, matched FROM checkup_files WHERE source_sha256 = $1",
        &[&imp.source_sha256]
    )) {
        let (n, m): (i64, i64) = (r.get(1), r.get(2));
        return Ok(CheckupImportOutcome {
            file_id: r.get(0),
            checkups: n as u64,
            matched: m as u64,
            unmatched: (n - m) as u64,
            duplicate: true,
        });
    }
    let keys: Vec<&PatientKey> = imp.checkups.iter().map(|c| &c.key).collect();
    let cands = candidates(&tx, &keys).await?;
    let qids: Vec<Option<i64>> = keys.iter().map(|k| matched(&cands, k)).collect();
    let matched_n = qids.iter().filter(|q| q.is_some()).count() as u64;
    let file_id: i64 = q!(tx.query_one(
        "INSERT INTO checkup_files (received_at_ms, actor, source_sha256, documents, matched)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        &[
            &imp.received_at.unix_millis(),
            &imp.actor,
            &imp.source_sha256,
            &(imp.checkups.len() as i64),
            &(matched_n as i64)
        ]
    ))
    .get(0);
    for (ck, qid) in imp.checkups.iter().zip(&qids) {
        let cid: i64 = q!(tx.query_one(
            "INSERT INTO checkups (file_id, qualification_id, insurer_number, symbol_key, number_key, branch,
                                   birthdate, checkup_date, institution_id, institution_name)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            &[
                &file_id,
                qid,
                &ck.key.insurer,
                &ck.key.symbol_key,
                &ck.key.number_key,
                &ck.key.branch,
                &opt_date(ck.key.birthdate),
                &ck.date.compact(),
                &ck.institution_id,
                &ck.institution_name
            ]
        ))
        .get(0);
        let cids: Vec<i64> = vec![cid; ck.items.len()];
        let seq: Vec<i64> = (0..ck.items.len() as i64).collect();
        let code: Vec<&str> = ck.items.iter().map(|i| i.code.as_str()).collect();
        let name: Vec<&str> = ck.items.iter().map(|i| i.name.as_str()).collect();
        let value: Vec<Option<&str>> = ck.items.iter().map(|i| i.value.as_deref()).collect();
        let unit: Vec<Option<&str>> = ck.items.iter().map(|i| i.unit.as_deref()).collect();
        let interp: Vec<Option<&str>> = ck
            .items
            .iter()
            .map(|i| i.interpretation.as_deref())
            .collect();
        q!(tx.execute(
            "INSERT INTO checkup_results (checkup_id, seq, item_code, item_name, value, unit, interpretation)
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])",
            &[&cids, &seq, &code, &name, &value, &unit, &interp]
        ));
    }
    q!(tx.commit());
    Ok(CheckupImportOutcome {
        file_id,
        checkups: imp.checkups.len() as u64,
        matched: matched_n,
        unmatched: imp.checkups.len() as u64 - matched_n,
        duplicate: false,
    })
}

pub(super) async fn match_pending(
    c: &mut Conn,
    insurers: &[String],
) -> Result<MatchOutcome, StoreError> {
    let tx = q!(c.transaction());
    let mut out = MatchOutcome::default();
    for (table, count) in [
        ("receipts", &mut out.receipts),
        ("checkups", &mut out.checkups),
    ] {
        let rows = q!(tx.query(
            &format!(
                "SELECT id, insurer_number, symbol_key, number_key, branch, birthdate
                 FROM {table} WHERE qualification_id IS NULL
                   AND (cardinality($1::text[]) = 0 OR insurer_number = ANY($1))"
            ),
            &[&insurers]
        ));
        let mut pending = Vec::with_capacity(rows.len());
        for r in &rows {
            pending.push((
                req_int(r, 0, "id")?,
                PatientKey {
                    insurer: req_text(r, 1, "insurer_number")?,
                    symbol_key: req_text(r, 2, "symbol_key")?,
                    number_key: req_text(r, 3, "number_key")?,
                    branch: req_text(r, 4, "branch")?,
                    birthdate: get_opt_date(r, 5, "birthdate")?,
                },
            ));
        }
        let keys: Vec<&PatientKey> = pending.iter().map(|(_, k)| k).collect();
        let cands = candidates(&tx, &keys).await?;
        let (mut ids, mut qids) = (Vec::new(), Vec::new());
        for (id, key) in &pending {
            if let Some(q) = matched(&cands, key) {
                ids.push(*id);
                qids.push(q);
            }
        }
        *count = ids.len() as u64;
        if !ids.is_empty() {
            q!(tx.execute(
                &format!(
                    "UPDATE {table} t SET qualification_id = m.q
                     FROM UNNEST($1::bigint[], $2::bigint[]) AS m(id, q) WHERE t.id = m.id"
                ),
                &[&ids, &qids]
            ));
        }
    }
    q!(tx.execute(
        "UPDATE receipt_files f SET matched = (SELECT count(*) FROM receipts r
             WHERE r.file_id = f.id AND r.qualification_id IS NOT NULL)
         WHERE matched < receipts",
        &[]
    ));
    q!(tx.execute(
        "UPDATE checkup_files f SET matched = (SELECT count(*) FROM checkups c
             WHERE c.file_id = f.id AND c.qualification_id IS NOT NULL)
         WHERE matched < documents",
        &[]
    ));
    q!(tx.commit());
    Ok(out)
}

pub(super) async fn receipts_for(
    c: &mut Conn,
    ids: &[i64],
    from: Date,
    to: Date,
) -> Result<Vec<StoredReceipt>, StoreError> {
    let [receipts, drugs, treatments] = c.prepared_all(RECEIPT_SQL).await?;
    let rows = q!(c.query(&receipts, &[&ids, &month_text(from), &month_text(to)]));
    let mut out = Vec::with_capacity(rows.len());
    let mut at = HashMap::new();
    for r in &rows {
        let rec = StoredReceipt {
            id: req_int(r, 0, "id")?,
            qualification_id: req_int(r, 1, "qualification_id")?,
            pharmacy: req_int(r, 2, "pharmacy")? != 0,
            institution_code: req_text(r, 3, "institution_code")?,
            institution_name: r.text(4)?,
            month: month_parse(&req_text(r, 5, "care_month")?)
                .ok_or_else(|| StoreError::Corrupt("care_month".into()))?,
            care_kind: req_text(r, 6, "care_kind")?,
            prescriber: r.text(7)?,
            days: r.int(8)?.map(|v| v as u32),
            total_yen: r.int(9)?.map(|v| v as u64),
            patient_share_yen: r.int(10)?.map(|v| v as u64),
            drugs: Vec::new(),
            treatments: Vec::new(),
        };
        at.insert(rec.id, out.len());
        out.push(rec);
    }
    let rids: Vec<i64> = out.iter().map(|r| r.id).collect();
    // The lines of both kinds, asked for together (one round trip).
    let by_receipt: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&rids];
    let (drug_rows, treatment_rows) = q!(async {
        tokio::try_join!(
            c.query(&drugs, &by_receipt),
            c.query(&treatments, &by_receipt)
        )
    });
    for r in drug_rows {
        let i = at[&req_int(&r, 8, "receipt_id")?];
        out[i].drugs.push(drug_from(&r)?);
    }
    for r in treatment_rows {
        let i = at[&req_int(&r, 4, "receipt_id")?];
        out[i].treatments.push(treatment_from(&r)?);
    }
    Ok(out)
}

/// A drug-history view's statements: the receipts of the period, then their drug and
/// treatment lines (prepared once per connection).
const RECEIPT_SQL: [&str; 3] = [
    "SELECT r.id, r.qualification_id, f.pharmacy, f.institution_code, f.institution_name, r.care_month,
            r.care_kind, r.prescriber_code, r.days, r.total_yen, r.patient_share_yen
     FROM receipts r JOIN receipt_files f ON f.id = r.file_id
     WHERE r.qualification_id = ANY($1) AND r.care_month BETWEEN $2 AND $3
     ORDER BY r.care_month DESC, r.id",
    "SELECT dispensed_on, prescribed_on, code, quantity, days_or_times, category, usage_code, rp, receipt_id
     FROM receipt_drugs WHERE receipt_id = ANY($1) ORDER BY receipt_id, seq",
    "SELECT kind, code, dates, count, receipt_id FROM receipt_treatments
     WHERE receipt_id = ANY($1) ORDER BY receipt_id, seq",
];

pub(super) async fn checkups_for(
    c: &Conn,
    ids: &[i64],
    from: Date,
    to: Date,
) -> Result<Vec<StoredCheckup>, StoreError> {
    let rows = q!(c.query(
        "SELECT id, qualification_id, checkup_date, institution_id, institution_name FROM checkups
         WHERE qualification_id = ANY($1) AND checkup_date BETWEEN $2 AND $3
         ORDER BY checkup_date DESC, id",
        &[&ids, &from.compact(), &to.compact()]
    ));
    let mut out = Vec::with_capacity(rows.len());
    let mut at = HashMap::new();
    for r in &rows {
        at.insert(req_int(r, 0, "id")?, out.len());
        out.push(StoredCheckup {
            id: req_int(r, 0, "id")?,
            qualification_id: req_int(r, 1, "qualification_id")?,
            date: req_date(r, 2, "checkup_date")?,
            institution_id: r.text(3)?,
            institution_name: r.text(4)?,
            items: Vec::new(),
        });
    }
    let cids: Vec<i64> = out.iter().map(|c| c.id).collect();
    for r in q!(c.query(
        "SELECT item_code, item_name, value, unit, interpretation, checkup_id FROM checkup_results
         WHERE checkup_id = ANY($1) ORDER BY checkup_id, seq",
        &[&cids]
    )) {
        let i = at[&req_int(&r, 5, "checkup_id")?];
        out[i].items.push(checkup_item_from(&r)?);
    }
    Ok(out)
}

pub(super) async fn purge(c: &mut Conn, before: Date) -> Result<PurgeOutcome, StoreError> {
    let tx = q!(c.transaction());
    let receipts = q!(tx.execute(
        "DELETE FROM receipts WHERE care_month < $1",
        &[&month_text(before)]
    ));
    let checkups = q!(tx.execute(
        "DELETE FROM checkups WHERE checkup_date < $1",
        &[&before.compact()]
    ));
    q!(tx.commit());
    Ok(PurgeOutcome { receipts, checkups })
}

pub(super) async fn counts(c: &Conn) -> Result<MedicalCounts, StoreError> {
    let r = q!(c.query_one(
        "SELECT (SELECT count(*) FROM receipts),
                (SELECT count(*) FROM receipts WHERE qualification_id IS NULL),
                (SELECT count(*) FROM checkups),
                (SELECT count(*) FROM checkups WHERE qualification_id IS NULL),
                (SELECT count(*) FROM master_entries)",
        &[]
    ));
    let n = |i: usize| r.get::<_, i64>(i) as u64;
    Ok(MedicalCounts {
        receipts: n(0),
        unmatched_receipts: n(1),
        checkups: n(2),
        unmatched_checkups: n(3),
        master_entries: n(4),
    })
}

pub(super) async fn checked_since(
    c: &mut Conn,
    institution: &InstitutionCode,
    ids: &[i64],
    since: Timestamp,
) -> Result<bool, StoreError> {
    // Planned as text at every view, this statement (over the partitioned access log) took
    // 0.6 ms of PostgreSQL's CPU to plan against 0.07 ms to run; prepared, it keeps a generic
    // plan, and the partitions before `since` are pruned when it starts.
    let st = c
        .cached(
            "SELECT 1 FROM access_log_subjects s
             JOIN access_log a ON a.id = s.access_id AND a.at_ms = s.access_at_ms
             WHERE s.qualification_id = ANY($1) AND s.access_at_ms >= $2 AND a.at_ms >= $2
               AND a.institution_code = $3
               AND a.purpose IN ('eligibility_by_numbers', 'eligibility_by_card')
               AND a.result LIKE 'validity:%'
             LIMIT 1",
        )
        .await?;
    Ok(q!(c.query_opt(&st, &[&ids, &since.unix_millis(), &institution.as_str()])).is_some())
}

pub(super) async fn set_block(
    c: &Conn,
    pseudonym: &str,
    institution: &InstitutionCode,
    blocked: bool,
    at: Timestamp,
) -> Result<(), StoreError> {
    q!(c.execute(
        "INSERT INTO institution_blocks (pseudonym, institution_code, blocked, at_ms) VALUES ($1, $2, $3, $4)",
        &[&pseudonym, &institution.as_str(), &i64::from(blocked), &at.unix_millis()]
    ));
    Ok(())
}

pub(super) async fn blocked(
    c: &mut Conn,
    pseudonym: &str,
    institution: &InstitutionCode,
) -> Result<bool, StoreError> {
    let st = c
        .cached(
            "SELECT blocked FROM institution_blocks WHERE pseudonym = $1 AND institution_code = $2
             ORDER BY id DESC LIMIT 1",
        )
        .await?;
    let r = q!(c.query_opt(&st, &[&pseudonym, &institution.as_str()]));
    Ok(r.is_some_and(|r| r.get::<_, i64>(0) == 1))
}
