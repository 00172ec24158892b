//! SQL of the SQLite backend and the mapping between rows and domain values.

use crate::{
    content_hash, CardQuery, ImportOutcome, QualificationVersion, RosterImport, StoreError,
    StoredAccess, StoredQualification,
};
use kakunin_domain::{
    AccessLogEntry, AccessPurpose, AccessResult, Branch, CardClassification, CardIdentity,
    CardNumber, CardSymbol, CopayRatio, Date, ElderlyCertificate, InstitutionCode, InsurerNumber,
    LimitBracket, LimitCertificate, LimitCertificateClassification, LossReason, Qualification,
    Relationship, Sex, SpecificDisease, SpecificDiseaseCertificate, Timestamp, Validity,
};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Row};

const VERSION_COLS: &str = "symbol_raw, number_raw, card_classification, relationship, insured_name, name, name_kana, sex, \
    birthdate, address, post_number, qualification_date, disqualification_date, loss_reason, card_issue_date, \
    card_valid_from, card_valid_until, copay_ratio, insurer_name, elderly_issue_date, elderly_valid_from, \
    elderly_valid_until, elderly_copay_ratio, limit_classification, limit_bracket, limit_issue_date, \
    limit_valid_from, limit_valid_until, limit_long_term_date";
const N_VERSION_COLS: usize = 29;

fn d(x: Option<Date>) -> Value {
    x.map_or(Value::Null, |d| Value::Text(d.compact()))
}
fn t(x: Option<&str>) -> Value {
    x.map_or(Value::Null, |s| Value::Text(s.to_string()))
}

fn version_values(q: &Qualification) -> [Value; N_VERSION_COLS] {
    let e = q.elderly.as_ref();
    let l = q.limit.as_ref();
    [
        t(q.card.symbol.as_ref().map(CardSymbol::raw)),
        Value::Text(q.card.number.raw().to_string()),
        Value::Text(q.card_classification.code().into()),
        Value::Text(q.relationship.code().into()),
        t(q.insured_name.as_deref()),
        Value::Text(q.name.clone()),
        Value::Text(q.name_kana.clone()),
        Value::Text(q.sex.code().into()),
        Value::Text(q.birthdate.compact()),
        t(q.address.as_deref()),
        t(q.post_number.as_deref()),
        Value::Text(q.qualification_date.compact()),
        d(q.disqualification_date),
        t(q.loss_reason.map(LossReason::code)),
        d(q.card_issue_date),
        d(q.card_valid_from),
        d(q.card_valid_until),
        q.copay_ratio
            .map_or(Value::Null, |c| Value::Integer(c.percent().into())),
        Value::Text(q.insurer_name.clone()),
        d(e.and_then(|e| e.issued)),
        d(e.map(|e| e.valid_from)),
        d(e.and_then(|e| e.valid_until)),
        e.map_or(Value::Null, |e| {
            Value::Integer(e.copay_ratio.percent().into())
        }),
        t(l.map(|l| l.classification.code())),
        t(l.map(|l| l.bracket.code())),
        d(l.and_then(|l| l.issued)),
        d(l.map(|l| l.valid_from)),
        d(l.and_then(|l| l.valid_until)),
        d(l.and_then(|l| l.long_term_date)),
    ]
}

fn key_of(q: &Qualification) -> (String, String, String, String) {
    (
        q.card.insurer.as_str().to_string(),
        q.card.symbol_key().to_string(),
        q.card.number.key().to_string(),
        q.card
            .branch
            .map(|b| b.as_str().to_string())
            .unwrap_or_default(),
    )
}

pub(super) fn import(
    conn: &mut Connection,
    import: &RosterImport,
) -> Result<ImportOutcome, StoreError> {
    let mut keys = std::collections::HashSet::with_capacity(import.qualifications.len());
    if !import.qualifications.iter().all(|q| keys.insert(key_of(q))) {
        return Err(StoreError::DuplicateKey);
    }
    drop(keys);
    let tx = conn.transaction()?;
    let now = super::now_ms();
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
    {
        let mut find = tx.prepare_cached(
            "SELECT q.id, v.version_no, v.content_sha256 FROM qualifications q
             JOIN qualification_versions v ON v.id = q.current_version_id
             WHERE q.insurer_number = ?1 AND q.symbol_key = ?2 AND q.number_key = ?3 AND q.branch = ?4",
        )?;
        let mut new_q = tx.prepare_cached(
            "INSERT INTO qualifications (insurer_number, symbol_key, number_key, branch, current_version_id, created_import_id)
             VALUES (?1, ?2, ?3, ?4, 0, ?5)",
        )?;
        let placeholders = vec!["?"; N_VERSION_COLS + 5].join(", ");
        let mut new_v = tx.prepare_cached(&format!(
            "INSERT INTO qualification_versions (qualification_id, version_no, import_id, recorded_at_ms, content_sha256, {VERSION_COLS})
             VALUES ({placeholders})"
        ))?;
        let mut set_current =
            tx.prepare_cached("UPDATE qualifications SET current_version_id = ?1 WHERE id = ?2")?;
        let mut new_sd = tx.prepare_cached(
            "INSERT INTO specific_disease_certificates (version_id, seq, disease, issue_date, valid_from, valid_until, self_pay_yen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for q in &import.qualifications {
            let key = key_of(q);
            let hash = content_hash(q);
            let existing: Option<(i64, i64, Vec<u8>)> = find
                .query_row(params![key.0, key.1, key.2, key.3], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let (qid, version_no) = match existing {
                Some((_, _, h)) if h == hash => {
                    out.unchanged += 1;
                    continue;
                }
                Some((qid, v, _)) => {
                    out.updated += 1;
                    (qid, v + 1)
                }
                None => {
                    new_q.execute(params![key.0, key.1, key.2, key.3, import_id])?;
                    out.inserted += 1;
                    (tx.last_insert_rowid(), 1)
                }
            };
            let mut values: Vec<Value> = vec![
                Value::Integer(qid),
                Value::Integer(version_no),
                Value::Integer(import_id),
                Value::Integer(now),
                Value::Blob(hash.to_vec()),
            ];
            values.extend(version_values(q));
            new_v.execute(rusqlite::params_from_iter(values))?;
            let vid = tx.last_insert_rowid();
            set_current.execute(params![vid, qid])?;
            for (seq, s) in q.specific_diseases.iter().enumerate() {
                new_sd.execute(params![
                    vid,
                    seq as i64,
                    s.disease.code(),
                    d(s.issued),
                    s.valid_from.compact(),
                    d(s.valid_until),
                    i64::from(s.self_pay_yen)
                ])?;
            }
        }
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

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("bad stored value in {what}"))
}

fn get_date(r: &Row<'_>, i: usize, what: &str) -> Result<Date, StoreError> {
    let s: String = r.get(i)?;
    Date::parse(&s).map_err(|_| corrupt(what))
}
fn get_opt_date(r: &Row<'_>, i: usize, what: &str) -> Result<Option<Date>, StoreError> {
    let s: Option<String> = r.get(i)?;
    s.map(|s| Date::parse(&s).map_err(|_| corrupt(what)))
        .transpose()
}
fn get_code<T>(
    r: &Row<'_>,
    i: usize,
    what: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let s: String = r.get(i)?;
    parse(&s).ok_or_else(|| corrupt(what))
}
fn get_opt_code<T>(
    r: &Row<'_>,
    i: usize,
    what: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, StoreError> {
    let s: Option<String> = r.get(i)?;
    s.map(|s| parse(&s).ok_or_else(|| corrupt(what)))
        .transpose()
}
fn ratio(v: Option<i64>) -> Result<Option<CopayRatio>, StoreError> {
    v.map(|p| CopayRatio::parse(&p.to_string()).ok_or_else(|| corrupt("copay_ratio")))
        .transpose()
}

/// Reads a qualification from a row: `insurer_number, branch, <VERSION_COLS>` starting at `at`.
fn qualification_from(r: &Row<'_>, at: usize) -> Result<Qualification, StoreError> {
    let insurer =
        InsurerNumber::parse(&r.get::<_, String>(at)?).map_err(|_| corrupt("insurer_number"))?;
    let branch: String = r.get(at + 1)?;
    let branch = (!branch.is_empty())
        .then(|| Branch::parse(&branch))
        .transpose()
        .map_err(|_| corrupt("branch"))?;
    let c = at + 2;
    let symbol: Option<String> = r.get(c)?;
    let symbol = symbol
        .map(|s| CardSymbol::parse(&s))
        .transpose()
        .map_err(|_| corrupt("symbol"))?;
    let number = CardNumber::parse(&r.get::<_, String>(c + 1)?).map_err(|_| corrupt("number"))?;
    let card = CardIdentity::new(insurer, symbol, number, branch).map_err(|_| corrupt("card"))?;
    let elderly = match get_opt_date(r, c + 20, "elderly_valid_from")? {
        Some(valid_from) => Some(ElderlyCertificate {
            issued: get_opt_date(r, c + 19, "elderly_issue_date")?,
            valid_from,
            valid_until: get_opt_date(r, c + 21, "elderly_valid_until")?,
            copay_ratio: ratio(r.get(c + 22)?)?.ok_or_else(|| corrupt("elderly_copay_ratio"))?,
        }),
        None => None,
    };
    let limit = match get_opt_code(
        r,
        c + 23,
        "limit_classification",
        LimitCertificateClassification::parse,
    )? {
        Some(classification) => Some(LimitCertificate {
            classification,
            bracket: get_code(r, c + 24, "limit_bracket", LimitBracket::parse)?,
            issued: get_opt_date(r, c + 25, "limit_issue_date")?,
            valid_from: get_date(r, c + 26, "limit_valid_from")?,
            valid_until: get_opt_date(r, c + 27, "limit_valid_until")?,
            long_term_date: get_opt_date(r, c + 28, "limit_long_term_date")?,
        }),
        None => None,
    };
    Ok(Qualification {
        card,
        card_classification: get_code(r, c + 2, "card_classification", CardClassification::parse)?,
        relationship: get_code(r, c + 3, "relationship", Relationship::parse)?,
        insured_name: r.get(c + 4)?,
        name: r.get(c + 5)?,
        name_kana: r.get(c + 6)?,
        sex: get_code(r, c + 7, "sex", Sex::parse)?,
        birthdate: get_date(r, c + 8, "birthdate")?,
        address: r.get(c + 9)?,
        post_number: r.get(c + 10)?,
        qualification_date: get_date(r, c + 11, "qualification_date")?,
        disqualification_date: get_opt_date(r, c + 12, "disqualification_date")?,
        loss_reason: get_opt_code(r, c + 13, "loss_reason", LossReason::parse)?,
        card_issue_date: get_opt_date(r, c + 14, "card_issue_date")?,
        card_valid_from: get_opt_date(r, c + 15, "card_valid_from")?,
        card_valid_until: get_opt_date(r, c + 16, "card_valid_until")?,
        copay_ratio: ratio(r.get(c + 17)?)?,
        insurer_name: r.get(c + 18)?,
        elderly,
        limit,
        specific_diseases: Vec::new(),
    })
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
        out.push(SpecificDiseaseCertificate {
            disease: get_code(r, 0, "disease", SpecificDisease::parse)?,
            issued: get_opt_date(r, 1, "issue_date")?,
            valid_from: get_date(r, 2, "valid_from")?,
            valid_until: get_opt_date(r, 3, "valid_until")?,
            self_pay_yen: u32::try_from(r.get::<_, i64>(4)?)
                .map_err(|_| corrupt("self_pay_yen"))?,
        });
    }
    Ok(out)
}

pub(super) fn find(
    conn: &Connection,
    query: &CardQuery,
) -> Result<Vec<StoredQualification>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT q.id, v.version_no, v.id, q.insurer_number, q.branch, {cols}
         FROM qualifications q JOIN qualification_versions v ON v.id = q.current_version_id
         WHERE q.insurer_number = ?1 AND q.symbol_key = ?2 AND q.number_key = ?3
           AND (?4 IS NULL OR q.branch = ?4 OR q.branch = '') AND v.birthdate = ?5
         ORDER BY q.branch, q.id",
        cols = prefixed_cols("v")
    ))?;
    let branch = query.branch.map(|b| b.as_str().to_string());
    let mut rows = st.query(params![
        query.insurer.as_str(),
        query.symbol_key,
        query.number_key,
        branch,
        query.birthdate.compact()
    ])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let found = StoredQualification {
            id: r.get(0)?,
            version: r.get(1)?,
            qualification: qualification_from(r, 3)?,
        };
        out.push((r.get::<_, i64>(2)?, found));
    }
    drop(rows);
    out.into_iter()
        .map(|(vid, mut found)| {
            found.qualification.specific_diseases = load_specific_diseases(conn, vid)?;
            Ok(found)
        })
        .collect()
}

fn prefixed_cols(p: &str) -> String {
    VERSION_COLS
        .split(", ")
        .map(|c| format!("{p}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn history(
    conn: &Connection,
    qualification_id: i64,
) -> Result<Vec<QualificationVersion>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT v.version_no, v.import_id, v.recorded_at_ms, v.id, q.insurer_number, q.branch, {cols}
         FROM qualification_versions v JOIN qualifications q ON q.id = v.qualification_id
         WHERE v.qualification_id = ?1 ORDER BY v.version_no",
        cols = prefixed_cols("v")
    ))?;
    let mut rows = st.query([qualification_id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let q = qualification_from(r, 4)?;
        out.push((
            r.get::<_, i64>(3)?,
            QualificationVersion {
                version: r.get(0)?,
                import_id: r.get(1)?,
                recorded_at: Timestamp::from_unix_millis(r.get(2)?),
                qualification: q,
            },
        ));
    }
    drop(rows);
    out.into_iter()
        .map(|(vid, mut v)| {
            v.qualification.specific_diseases = load_specific_diseases(conn, vid)?;
            Ok(v)
        })
        .collect()
}

pub(super) fn append_access(
    conn: &mut Connection,
    entries: &[&AccessLogEntry],
) -> Result<Vec<i64>, StoreError> {
    let tx = conn.transaction()?;
    let mut ids = Vec::with_capacity(entries.len());
    {
        let mut ins = tx.prepare_cached(
            "INSERT INTO access_log (at_ms, institution_code, purpose, result, processing_code) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut subj = tx.prepare_cached(
            "INSERT INTO access_log_subjects (access_id, qualification_id) VALUES (?1, ?2)",
        )?;
        for e in entries {
            ins.execute(params![
                e.at.unix_millis(),
                e.institution.as_str(),
                e.purpose.code(),
                e.result.code(),
                e.processing_code
            ])?;
            let id = tx.last_insert_rowid();
            for q in &e.qualification_ids {
                subj.execute(params![id, q])?;
            }
            ids.push(id);
        }
    }
    tx.commit()?;
    Ok(ids)
}

fn parse_result(s: &str) -> Option<AccessResult> {
    let v = s.strip_prefix("validity:")?;
    Validity::parse(v).map(AccessResult::Answered)
}

pub(super) fn access(
    conn: &Connection,
    qualification_id: Option<i64>,
    limit: u32,
) -> Result<Vec<StoredAccess>, StoreError> {
    let sql = match qualification_id {
        Some(_) => {
            "SELECT a.id, a.at_ms, a.institution_code, a.purpose, a.result, a.processing_code
                    FROM access_log a JOIN access_log_subjects s ON s.access_id = a.id
                    WHERE s.qualification_id = ?1 ORDER BY a.id DESC LIMIT ?2"
        }
        None => {
            "SELECT a.id, a.at_ms, a.institution_code, a.purpose, a.result, a.processing_code
                 FROM access_log a WHERE ?1 IS NULL ORDER BY a.id DESC LIMIT ?2"
        }
    };
    let mut st = conn.prepare_cached(sql)?;
    let mut rows = st.query(params![qualification_id, i64::from(limit)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        out.push(StoredAccess {
            id,
            entry: AccessLogEntry {
                at: Timestamp::from_unix_millis(r.get(1)?),
                institution: InstitutionCode::parse(&r.get::<_, String>(2)?)
                    .map_err(|_| corrupt("institution_code"))?,
                purpose: get_code(r, 3, "purpose", AccessPurpose::parse)?,
                result: get_code(r, 4, "result", parse_result)?,
                processing_code: r.get(5)?,
                qualification_ids: Vec::new(),
            },
        });
    }
    drop(rows);
    let mut subj = conn.prepare_cached("SELECT qualification_id FROM access_log_subjects WHERE access_id = ?1 ORDER BY qualification_id")?;
    for a in &mut out {
        a.entry.qualification_ids = subj
            .query_map([a.id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
    }
    Ok(out)
}

pub(super) fn sample(conn: &Connection, limit: u32) -> Result<Vec<CardQuery>, StoreError> {
    let n: i64 = conn.query_row("SELECT count(*) FROM qualifications", [], |r| r.get(0))?;
    let stride = (n / i64::from(limit.max(1))).max(1);
    let mut st = conn.prepare_cached(
        "SELECT q.insurer_number, q.symbol_key, q.number_key, q.branch, v.birthdate
         FROM qualifications q JOIN qualification_versions v ON v.id = q.current_version_id
         WHERE q.id % ?1 = 0 ORDER BY q.id LIMIT ?2",
    )?;
    let mut rows = st.query(params![stride, i64::from(limit)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let branch: String = r.get(3)?;
        out.push(CardQuery {
            insurer: InsurerNumber::parse(&r.get::<_, String>(0)?)
                .map_err(|_| corrupt("insurer_number"))?,
            symbol_key: r.get(1)?,
            number_key: r.get(2)?,
            branch: (!branch.is_empty())
                .then(|| Branch::parse(&branch))
                .transpose()
                .map_err(|_| corrupt("branch"))?,
            birthdate: get_date(r, 4, "birthdate")?,
        });
    }
    Ok(out)
}
