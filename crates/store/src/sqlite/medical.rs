//! SQL of the SQLite backend for medical information (migration 0004).

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
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::collections::HashMap;

pub(super) fn import_masters(
    conn: &mut Connection,
    imp: &MasterImport,
) -> Result<MasterImportOutcome, StoreError> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO master_imports (kind, received_at_ms, actor, source_sha256, entries, inserted, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, 0)",
        params![
            imp.kind.code(),
            imp.received_at.unix_millis(),
            imp.actor,
            imp.source_sha256,
            imp.entries.len() as i64
        ],
    )?;
    let import_id = tx.last_insert_rowid();
    let mut out = MasterImportOutcome {
        import_id,
        ..Default::default()
    };
    {
        let mut get = tx.prepare_cached(
            "SELECT valid_until, name, unit FROM master_entries WHERE kind = ?1 AND code = ?2 AND valid_from = ?3",
        )?;
        let mut put = tx.prepare_cached(
            "INSERT INTO master_entries (kind, code, valid_from, valid_until, name, unit, import_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (kind, code, valid_from) DO UPDATE
             SET valid_until = excluded.valid_until, name = excluded.name, unit = excluded.unit,
                 import_id = excluded.import_id",
        )?;
        for e in &imp.entries {
            let from = opt_date(e.valid_from).unwrap_or_else(|| OPEN_START.into());
            let until = opt_date(e.valid_until);
            let old: Option<(Option<String>, String, Option<String>)> = get
                .query_row(params![imp.kind.code(), e.code, from], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            match old {
                Some((u, n, unit)) if u == until && n == e.name && unit == e.unit => continue,
                Some(_) => out.updated += 1,
                None => out.inserted += 1,
            }
            put.execute(params![
                imp.kind.code(),
                e.code,
                from,
                until,
                e.name,
                e.unit,
                import_id
            ])?;
        }
    }
    tx.execute(
        "UPDATE master_imports SET inserted = ?1, updated = ?2 WHERE id = ?3",
        params![out.inserted as i64, out.updated as i64, import_id],
    )?;
    tx.commit()?;
    Ok(out)
}

pub(super) fn master_entries(
    conn: &Connection,
    kind: MasterKind,
    codes: &[String],
) -> Result<Vec<MasterEntry>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT code, valid_from, valid_until, name, unit FROM master_entries WHERE kind = ?1 AND code = ?2",
    )?;
    let mut out = Vec::new();
    for code in codes {
        let mut rows = st.query(params![kind.code(), code])?;
        while let Some(r) = rows.next()? {
            out.push(master_from(r, kind)?);
        }
    }
    Ok(out)
}

/// Finds the qualifications a key could belong to, caching by card.
struct Matcher<'a> {
    cache: HashMap<(String, String, String), Vec<MatchCandidate>>,
    tx: &'a Transaction<'a>,
}

impl Matcher<'_> {
    fn find(&mut self, key: &PatientKey) -> Result<Option<i64>, StoreError> {
        let card = (
            key.insurer.clone(),
            key.symbol_key.clone(),
            key.number_key.clone(),
        );
        if !self.cache.contains_key(&card) {
            let mut st = self.tx.prepare_cached(
                "SELECT q.id, q.branch, v.birthdate FROM qualifications q
                 JOIN qualification_versions v ON v.id = q.current_version_id
                 WHERE q.insurer_number = ?1 AND q.symbol_key = ?2 AND q.number_key = ?3",
            )?;
            let mut rows = st.query(params![card.0, card.1, card.2])?;
            let mut found = Vec::new();
            while let Some(r) = rows.next()? {
                found.push(MatchCandidate {
                    qualification_id: req_int(r, 0, "id")?,
                    branch: req_text(r, 1, "branch")?,
                    birthdate: req_date(r, 2, "birthdate")?,
                });
            }
            if self.cache.len() > 100_000 {
                self.cache.clear();
            }
            self.cache.insert(card.clone(), found);
        }
        Ok(match_candidate(key, &self.cache[&card]))
    }
}

pub(super) fn import_receipts(
    conn: &mut Connection,
    imp: &ReceiptImport,
) -> Result<ReceiptImportOutcome, StoreError> {
    let tx = conn.transaction()?;
    let before: Option<(i64, i64, i64)> = tx
        .query_row(
            "SELECT id, receipts, matched FROM receipt_files WHERE source_sha256 = ?1",
            [&imp.source_sha256],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if let Some((id, n, m)) = before {
        return Ok(ReceiptImportOutcome {
            file_id: id,
            receipts: n as u64,
            matched: m as u64,
            unmatched: (n - m) as u64,
            duplicate: true,
        });
    }
    tx.execute(
        "INSERT INTO receipt_files (received_at_ms, actor, source_sha256, pharmacy, institution_code,
                                    institution_name, receipts, matched, unknown_records)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8)",
        params![
            imp.received_at.unix_millis(),
            imp.actor,
            imp.source_sha256,
            i64::from(imp.pharmacy),
            imp.institution_code,
            imp.institution_name,
            imp.receipts.len() as i64,
            imp.unknown_records as i64
        ],
    )?;
    let file_id = tx.last_insert_rowid();
    let mut matched = 0u64;
    {
        let mut matcher = Matcher {
            cache: HashMap::new(),
            tx: &tx,
        };
        let mut ins = tx.prepare_cached(
            "INSERT INTO receipts (file_id, receipt_number, qualification_id, insurer_number, symbol_key,
                                   number_key, branch, birthdate, care_month, care_kind, prescriber_code,
                                   days, total_yen, patient_share_yen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?;
        let mut drug = tx.prepare_cached(
            "INSERT INTO receipt_drugs (receipt_id, seq, dispensed_on, prescribed_on, code, quantity,
                                        days_or_times, category, usage_code, rp)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut treat = tx.prepare_cached(
            "INSERT INTO receipt_treatments (receipt_id, seq, kind, code, dates, count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for r in &imp.receipts {
            let qid = matcher.find(&r.key)?;
            matched += u64::from(qid.is_some());
            ins.execute(params![
                file_id,
                r.receipt_number,
                qid,
                r.key.insurer,
                r.key.symbol_key,
                r.key.number_key,
                r.key.branch,
                opt_date(r.key.birthdate),
                month_text(r.month),
                r.care_kind,
                r.prescriber,
                r.days,
                r.total_yen.map(|v| v as i64),
                r.patient_share_yen.map(|v| v as i64)
            ])?;
            let rid = tx.last_insert_rowid();
            for (i, d) in r.drugs.iter().enumerate() {
                drug.execute(params![
                    rid,
                    i as i64,
                    opt_date(d.date),
                    opt_date(d.prescribed_on),
                    d.code,
                    d.quantity,
                    d.days_or_times,
                    d.category,
                    d.usage_code,
                    d.rp
                ])?;
            }
            for (i, t) in r.treatments.iter().enumerate() {
                treat.execute(params![
                    rid,
                    i as i64,
                    t.kind,
                    t.code,
                    dates_text(&t.dates),
                    t.count
                ])?;
            }
        }
    }
    tx.execute(
        "UPDATE receipt_files SET matched = ?1 WHERE id = ?2",
        params![matched as i64, file_id],
    )?;
    tx.commit()?;
    Ok(ReceiptImportOutcome {
        file_id,
        receipts: imp.receipts.len() as u64,
        matched,
        unmatched: imp.receipts.len() as u64 - matched,
        duplicate: false,
    })
}

pub(super) fn import_checkups(
    conn: &mut Connection,
    imp: &CheckupImport,
) -> Result<CheckupImportOutcome, StoreError> {
    let tx = conn.transaction()?;
    let before: Option<(i64, i64, i64)> = tx
        .query_row(
            "SELECT id, documents, matched FROM checkup_files WHERE source_sha256 = ?1",
            [&imp.source_sha256],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if let Some((id, n, m)) = before {
        return Ok(CheckupImportOutcome {
            file_id: id,
            checkups: n as u64,
            matched: m as u64,
            unmatched: (n - m) as u64,
            duplicate: true,
        });
    }
    tx.execute(
        "INSERT INTO checkup_files (received_at_ms, actor, source_sha256, documents, matched)
         VALUES (?1, ?2, ?3, ?4, 0)",
        params![
            imp.received_at.unix_millis(),
            imp.actor,
            imp.source_sha256,
            imp.checkups.len() as i64
        ],
    )?;
    let file_id = tx.last_insert_rowid();
    let mut matched = 0u64;
    {
        let mut matcher = Matcher {
            cache: HashMap::new(),
            tx: &tx,
        };
        let mut ins = tx.prepare_cached(
            "INSERT INTO checkups (file_id, qualification_id, insurer_number, symbol_key, number_key, branch,
                                   birthdate, checkup_date, institution_id, institution_name)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut item = tx.prepare_cached(
            "INSERT INTO checkup_results (checkup_id, seq, item_code, item_name, value, unit, interpretation)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for c in &imp.checkups {
            let qid = matcher.find(&c.key)?;
            matched += u64::from(qid.is_some());
            ins.execute(params![
                file_id,
                qid,
                c.key.insurer,
                c.key.symbol_key,
                c.key.number_key,
                c.key.branch,
                opt_date(c.key.birthdate),
                c.date.compact(),
                c.institution_id,
                c.institution_name
            ])?;
            let cid = tx.last_insert_rowid();
            for (i, it) in c.items.iter().enumerate() {
                item.execute(params![
                    cid,
                    i as i64,
                    it.code,
                    it.name,
                    it.value,
                    it.unit,
                    it.interpretation
                ])?;
            }
        }
    }
    tx.execute(
        "UPDATE checkup_files SET matched = ?1 WHERE id = ?2",
        params![matched as i64, file_id],
    )?;
    tx.commit()?;
    Ok(CheckupImportOutcome {
        file_id,
        checkups: imp.checkups.len() as u64,
        matched,
        unmatched: imp.checkups.len() as u64 - matched,
        duplicate: false,
    })
}

fn key_from(r: &rusqlite::Row<'_>, at: usize) -> Result<PatientKey, StoreError> {
    Ok(PatientKey {
        insurer: req_text(r, at, "insurer_number")?,
        symbol_key: req_text(r, at + 1, "symbol_key")?,
        number_key: req_text(r, at + 2, "number_key")?,
        branch: req_text(r, at + 3, "branch")?,
        birthdate: get_opt_date(r, at + 4, "birthdate")?,
    })
}

pub(super) fn match_pending(
    conn: &mut Connection,
    insurers: &[String],
) -> Result<MatchOutcome, StoreError> {
    let tx = conn.transaction()?;
    let mut out = MatchOutcome::default();
    for (table, count) in [
        ("receipts", &mut out.receipts),
        ("checkups", &mut out.checkups),
    ] {
        let pending: Vec<(i64, PatientKey)> = {
            let mut st = tx.prepare(&format!(
                "SELECT id, insurer_number, symbol_key, number_key, branch, birthdate
                 FROM {table} WHERE qualification_id IS NULL AND (?1 = 0 OR insurer_number = ?2)"
            ))?;
            let every = [String::new()];
            let scope: &[String] = if insurers.is_empty() {
                &every
            } else {
                insurers
            };
            let mut v = Vec::new();
            for insurer in scope {
                let mut rows = st.query(params![i64::from(!insurers.is_empty()), insurer])?;
                while let Some(r) = rows.next()? {
                    v.push((req_int(r, 0, "id")?, key_from(r, 1)?));
                }
            }
            v
        };
        let mut matcher = Matcher {
            cache: HashMap::new(),
            tx: &tx,
        };
        let mut set = tx.prepare(&format!(
            "UPDATE {table} SET qualification_id = ?1 WHERE id = ?2"
        ))?;
        for (id, key) in &pending {
            if let Some(qid) = matcher.find(key)? {
                set.execute(params![qid, id])?;
                *count += 1;
            }
        }
    }
    tx.execute(
        "UPDATE receipt_files SET matched = (SELECT count(*) FROM receipts r
             WHERE r.file_id = receipt_files.id AND r.qualification_id IS NOT NULL)
         WHERE matched < receipts",
        [],
    )?;
    tx.execute(
        "UPDATE checkup_files SET matched = (SELECT count(*) FROM checkups c
             WHERE c.file_id = checkup_files.id AND c.qualification_id IS NOT NULL)
         WHERE matched < documents",
        [],
    )?;
    tx.commit()?;
    Ok(out)
}

pub(super) fn receipts_for(
    conn: &Connection,
    ids: &[i64],
    from: Date,
    to: Date,
) -> Result<Vec<StoredReceipt>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT r.id, r.qualification_id, f.pharmacy, f.institution_code, f.institution_name, r.care_month,
                r.care_kind, r.prescriber_code, r.days, r.total_yen, r.patient_share_yen
         FROM receipts r JOIN receipt_files f ON f.id = r.file_id
         WHERE r.qualification_id = ?1 AND r.care_month BETWEEN ?2 AND ?3",
    )?;
    let mut out = Vec::new();
    for qid in ids {
        let mut rows = st.query(params![qid, month_text(from), month_text(to)])?;
        while let Some(r) = rows.next()? {
            out.push(StoredReceipt {
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
            });
        }
    }
    // The lines of all those receipts: two queries per qualification (drugs, treatments)
    // rather than two per receipt.
    let at: HashMap<i64, usize> = out.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    let mut drugs = conn.prepare_cached(
        "SELECT d.dispensed_on, d.prescribed_on, d.code, d.quantity, d.days_or_times, d.category,
                d.usage_code, d.rp, d.receipt_id
         FROM receipts r JOIN receipt_drugs d ON d.receipt_id = r.id
         WHERE r.qualification_id = ?1 AND r.care_month BETWEEN ?2 AND ?3
         ORDER BY d.receipt_id, d.seq",
    )?;
    let mut treats = conn.prepare_cached(
        "SELECT t.kind, t.code, t.dates, t.count, t.receipt_id
         FROM receipts r JOIN receipt_treatments t ON t.receipt_id = r.id
         WHERE r.qualification_id = ?1 AND r.care_month BETWEEN ?2 AND ?3
         ORDER BY t.receipt_id, t.seq",
    )?;
    for qid in ids {
        let range = params![qid, month_text(from), month_text(to)];
        let mut rows = drugs.query(range)?;
        while let Some(r) = rows.next()? {
            if let Some(&i) = at.get(&req_int(r, 8, "receipt_id")?) {
                out[i].drugs.push(drug_from(r)?);
            }
        }
        let mut rows = treats.query(range)?;
        while let Some(r) = rows.next()? {
            if let Some(&i) = at.get(&req_int(r, 4, "receipt_id")?) {
                out[i].treatments.push(treatment_from(r)?);
            }
        }
    }
    out.sort_by(|a, b| b.month.cmp(&a.month).then(a.id.cmp(&b.id)));
    Ok(out)
}

pub(super) fn checkups_for(
    conn: &Connection,
    ids: &[i64],
    from: Date,
    to: Date,
) -> Result<Vec<StoredCheckup>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT id, qualification_id, checkup_date, institution_id, institution_name FROM checkups
         WHERE qualification_id = ?1 AND checkup_date BETWEEN ?2 AND ?3",
    )?;
    let mut out = Vec::new();
    for qid in ids {
        let mut rows = st.query(params![qid, from.compact(), to.compact()])?;
        while let Some(r) = rows.next()? {
            out.push(StoredCheckup {
                id: req_int(r, 0, "id")?,
                qualification_id: req_int(r, 1, "qualification_id")?,
                date: req_date(r, 2, "checkup_date")?,
                institution_id: r.text(3)?,
                institution_name: r.text(4)?,
                items: Vec::new(),
            });
        }
    }
    let mut items = conn.prepare_cached(
        "SELECT item_code, item_name, value, unit, interpretation FROM checkup_results
         WHERE checkup_id = ?1 ORDER BY seq",
    )?;
    for c in &mut out {
        let mut rows = items.query([c.id])?;
        while let Some(r) = rows.next()? {
            c.items.push(checkup_item_from(r)?);
        }
    }
    out.sort_by(|a, b| b.date.cmp(&a.date).then(a.id.cmp(&b.id)));
    Ok(out)
}

pub(super) fn purge(conn: &mut Connection, before: Date) -> Result<PurgeOutcome, StoreError> {
    let tx = conn.transaction()?;
    let receipts = tx.execute(
        "DELETE FROM receipts WHERE care_month < ?1",
        [month_text(before)],
    )? as u64;
    let checkups = tx.execute(
        "DELETE FROM checkups WHERE checkup_date < ?1",
        [before.compact()],
    )? as u64;
    tx.commit()?;
    Ok(PurgeOutcome { receipts, checkups })
}

pub(super) fn counts(conn: &Connection) -> Result<MedicalCounts, StoreError> {
    let n = |sql: &str| -> Result<u64, StoreError> {
        Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
    };
    Ok(MedicalCounts {
        receipts: n("SELECT count(*) FROM receipts")?,
        unmatched_receipts: n("SELECT count(*) FROM receipts WHERE qualification_id IS NULL")?,
        checkups: n("SELECT count(*) FROM checkups")?,
        unmatched_checkups: n("SELECT count(*) FROM checkups WHERE qualification_id IS NULL")?,
        master_entries: n("SELECT count(*) FROM master_entries")?,
    })
}

pub(super) fn checked_since(
    conn: &Connection,
    institution: &InstitutionCode,
    ids: &[i64],
    since: Timestamp,
) -> Result<bool, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT 1 FROM access_log_subjects s
         JOIN access_log a ON a.id = s.access_id AND a.at_ms = s.access_at_ms
         WHERE s.qualification_id = ?1 AND s.access_at_ms >= ?2 AND a.institution_code = ?3
           AND a.purpose IN ('eligibility_by_numbers', 'eligibility_by_card')
           AND a.result LIKE 'validity:%'
         LIMIT 1",
    )?;
    for qid in ids {
        if st
            .query_row(
                params![qid, since.unix_millis(), institution.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(super) fn set_block(
    conn: &Connection,
    pseudonym: &str,
    institution: &InstitutionCode,
    blocked: bool,
    at: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO institution_blocks (pseudonym, institution_code, blocked, at_ms) VALUES (?1, ?2, ?3, ?4)",
        params![pseudonym, institution.as_str(), i64::from(blocked), at.unix_millis()],
    )?;
    Ok(())
}

pub(super) fn blocked(
    conn: &Connection,
    pseudonym: &str,
    institution: &InstitutionCode,
) -> Result<bool, StoreError> {
    let b: Option<i64> = conn
        .query_row(
            "SELECT blocked FROM institution_blocks WHERE pseudonym = ?1 AND institution_code = ?2
             ORDER BY id DESC LIMIT 1",
            params![pseudonym, institution.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(b == Some(1))
}
