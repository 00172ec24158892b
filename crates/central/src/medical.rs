//! Medical information, independent of HTTP: receipt (UKE), master and 特定健診 imports, the
//! retention purge, and the consent-gated retrieval for institutions.
//!
//! Invariant: an import is all or nothing per file (a file with an error writes nothing, and
//! says where the error is); a retrieval shows data only to an institution that checked the
//! person today and holds their valid consent for the category, and every retrieval, shown or
//! refused, leaves exactly one access-log entry before the answer.

use crate::service::Scope;
use kakunin_api::{
    card_input, consent_flag, date_input, ApiError, CheckupImportReport, CheckupItemInfo,
    CheckupRecord, FileProblem, MasterImportReport, MedicalInformationRequest,
    MedicalInformationResponse, MedicationRecord, PatientHeader, ReceiptImportReport,
    TreatmentInfo,
};
use kakunin_domain::{
    AccessBasis, AccessLogEntry, AccessPurpose, AccessResult, Branch, CardNumber, CardSymbol,
    ConsentCategory, ConsentState, Date, InformationAccess, InstitutionCode, InsurerNumber,
    Timestamp,
};
use kakunin_formats::checkup::{self, CheckupValue};
use kakunin_formats::masters::{self, display_name};
use kakunin_formats::uke::{self, derive, FileKind, Header, Receipt};
use kakunin_store::{
    master_edition, CardQuery, CheckupImport, CheckupItem, DrugRecord, MasterEntry, MasterImport,
    MasterKind, NewCheckup, NewReceipt, PatientKey, PurgeOutcome, ReceiptImport, Store, StoreError,
    StoredQualification, StoredReceipt, TreatmentRecord,
};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// How long receipts and checkups are kept (jp-system.md, data-formats.md §4.1–4.3).
pub const RETENTION_YEARS: u32 = 5;

/// Problems that leave a UKE file importable: everything is kept as written.
const UKE_WARNINGS: [&str; 4] = [
    "unknown_record",
    "unknown_layout_version",
    "non_canonical_encoding",
    "blank_line",
];

fn sha256_hex(bytes: &[u8]) -> String {
    crate::cards::hex(&Sha256::digest(bytes))
}

fn uke_problem(p: &uke::UkeProblem) -> FileProblem {
    FileProblem {
        line: p.line as u64,
        record: (!p.record_id.is_empty()).then(|| p.record_id.clone()),
        field: p.field_index.map(|i| (i + 1).to_string()),
        code: p.code.into(),
        message: p.message.clone(),
    }
}

fn file_error(code: &str, message: String) -> FileProblem {
    FileProblem {
        line: 0,
        record: None,
        field: None,
        code: code.into(),
        message,
    }
}

/// `prefecture + 点数表 + code`: the 10-digit institution code of a UKE header.
fn institution_code(header: &Header) -> String {
    match header {
        Header::Medical(ir) => format!("{}{}{}", ir.prefecture, ir.fee_table, ir.institution_code),
        Header::Pharmacy(yk) => {
            format!("{}{}{}", yk.prefecture, yk.fee_table, yk.pharmacy_code)
        }
    }
}

/// The card keys of a source's insurance numbers, normalised as the roster stores them (a
/// value that does not parse is kept as written and will simply never match).
fn patient_key(
    insurer: Option<&str>,
    symbol: Option<&str>,
    number: Option<&str>,
    branch: Option<&str>,
    birthdate: Option<Date>,
) -> PatientKey {
    let insurer = insurer.unwrap_or_default().trim();
    let symbol = symbol.map(str::trim).filter(|s| !s.is_empty());
    let number = number.unwrap_or_default().trim();
    PatientKey {
        insurer: InsurerNumber::parse(insurer)
            .map_or_else(|_| insurer.to_string(), |n| n.as_str().to_string()),
        symbol_key: symbol.map_or_else(String::new, |s| {
            CardSymbol::parse(s).map_or_else(|_| s.to_string(), |c| c.key().to_string())
        }),
        number_key: CardNumber::parse(number)
            .map_or_else(|_| number.to_string(), |n| n.key().to_string()),
        branch: branch
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map_or_else(String::new, |b| {
                Branch::parse(b).map_or_else(|_| b.to_string(), |b| b.as_str().to_string())
            }),
        birthdate,
    }
}

fn new_receipt(kind: FileKind, r: &Receipt) -> Option<NewReceipt> {
    let month = r.month()?.first_day();
    let d = derive::derive(kind, r);
    Some(NewReceipt {
        key: patient_key(
            r.insurer_number(),
            r.symbol(),
            r.number(),
            r.branch(),
            r.birth_date(),
        ),
        receipt_number: r.re.receipt_number,
        month,
        care_kind: match d.expense.kind {
            derive::CareKind::Inpatient => "inpatient",
            derive::CareKind::Outpatient => "outpatient",
            derive::CareKind::Dental => "dental",
            derive::CareKind::Pharmacy => "pharmacy",
        }
        .into(),
        prescriber: r
            .re
            .prescriber
            .as_ref()
            .map(|p| format!("{}{}{}", p.prefecture, p.fee_table, p.institution_code)),
        days: d.expense.days,
        total_yen: d.expense.total_yen,
        patient_share_yen: d.expense.patient_share_yen,
        drugs: d
            .drugs
            .into_iter()
            .map(|l| DrugRecord {
                date: l.date,
                prescribed_on: l.prescribed_on,
                code: l.code,
                quantity: l.quantity,
                days_or_times: l.days_or_times,
                category: l.category,
                usage_code: l.usage_code,
                rp: l.rp,
            })
            .collect(),
        treatments: d
            .treatments
            .into_iter()
            .map(|t| TreatmentRecord {
                kind: t.kind.code().into(),
                code: t.code,
                dates: t.dates,
                count: t.count,
            })
            .collect(),
    })
}

/// Reads a UKE file and stores its receipts in one transaction. A file with an error (it
/// cannot be decoded, is cut short, has a record with too few fields or an impossible date, …)
/// is refused whole: `accepted: false` and the errors, nothing written.
pub async fn import_receipts(
    store: &dyn Store,
    actor: &str,
    bytes: &[u8],
    at: Timestamp,
) -> Result<ReceiptImportReport, StoreError> {
    let mut report = ReceiptImportReport {
        accepted: false,
        file_kind: None,
        institution_code: None,
        receipts: 0,
        matched: 0,
        unmatched: 0,
        unknown_records: 0,
        records: 0,
        duplicate: false,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let mut file = match uke::parse(bytes) {
        Ok(f) => f,
        Err(e) => {
            report.errors.push(FileProblem {
                line: match &e {
                    uke::UkeError::Encoding { line } | uke::UkeError::NoHeader { line, .. } => {
                        *line as u64
                    }
                    uke::UkeError::Empty => 0,
                },
                record: None,
                field: None,
                code: e.code().into(),
                message: e.to_string(),
            });
            return Ok(report);
        }
    };
    report.file_kind = Some(
        match file.kind {
            FileKind::Medical => "medical",
            FileKind::Pharmacy => "pharmacy",
        }
        .into(),
    );
    let institution = institution_code(&file.header);
    report.institution_code = Some(institution.clone());
    report.receipts = file.receipts.len() as u64;
    report.unknown_records = file.unknown_records as u64;
    report.records = file.records_total as u64;
    for p in &file.problems {
        if UKE_WARNINGS.contains(&p.code) {
            report.warnings.push(uke_problem(p));
        } else {
            report.errors.push(uke_problem(p));
        }
    }
    if file.receipts.is_empty() {
        report.errors.push(file_error(
            "no_receipts",
            "レセプト（RE レコード）がありません".into(),
        ));
    }
    let institution_name = file.header.institution_name().map(str::to_string);
    let mut receipts = Vec::with_capacity(file.receipts.len());
    // Each parsed receipt is dropped once converted: the file is not held twice.
    for r in std::mem::take(&mut file.receipts) {
        match new_receipt(file.kind, &r) {
            Some(n) => receipts.push(n),
            // The RE problem (診療年月) is in the errors already; say which receipt too.
            None => report.errors.push(FileProblem {
                line: r.re.line as u64,
                record: Some("RE".into()),
                field: Some("4".into()),
                code: "receipt_without_month".into(),
                message: "診療年月が読めないため、このレセプトを取り込めません".into(),
            }),
        }
    }
    if !report.errors.is_empty() {
        return Ok(report);
    }
    let out = store
        .import_receipts(ReceiptImport {
            actor: actor.to_string(),
            received_at: at,
            source_sha256: sha256_hex(bytes),
            pharmacy: file.kind == FileKind::Pharmacy,
            institution_code: institution,
            institution_name,
            unknown_records: file.unknown_records as u64,
            receipts,
        })
        .await?;
    report.accepted = true;
    report.matched = out.matched;
    report.unmatched = out.unmatched;
    report.duplicate = out.duplicate;
    tracing::info!(
        receipts = out.receipts,
        matched = out.matched,
        unmatched = out.unmatched,
        duplicate = out.duplicate,
        "receipt file imported"
    );
    Ok(report)
}

/// Reads an official master file (`y_ALL*.csv`, `s_ALL*.csv`, `t_ALL*.csv`) and stores its
/// code editions in one transaction; a file with a bad row is refused whole.
pub async fn import_masters(
    store: &dyn Store,
    actor: &str,
    kind: MasterKind,
    bytes: &[u8],
    at: Timestamp,
) -> Result<MasterImportReport, StoreError> {
    let mut report = MasterImportReport {
        accepted: false,
        kind: kind.code().into(),
        entries: 0,
        inserted: 0,
        updated: 0,
        errors: Vec::new(),
    };
    type Row = (String, String, Option<String>, Option<Date>, Option<Date>);
    let parsed: Result<(Vec<Row>, Vec<masters::MasterProblem>), masters::MasterError> = match kind {
        MasterKind::Drug => masters::parse_drugs(bytes).map(|m| {
            let rows = m
                .entries
                .into_iter()
                .map(|e| (e.code, e.name, e.unit, e.valid_from, e.valid_until))
                .collect();
            (rows, m.problems)
        }),
        MasterKind::Procedure => masters::parse_procedures(bytes).map(|m| {
            let rows = m
                .entries
                .into_iter()
                .map(|e| (e.code, e.name, e.unit, e.valid_from, e.valid_until))
                .collect();
            (rows, m.problems)
        }),
        MasterKind::Device => masters::parse_devices(bytes).map(|m| {
            let rows = m
                .entries
                .into_iter()
                .map(|e| (e.code, e.name, e.unit, e.valid_from, e.valid_until))
                .collect();
            (rows, m.problems)
        }),
    };
    let (rows, problems) = match parsed {
        Ok(p) => p,
        Err(e) => {
            report.errors.push(file_error(e.code(), e.to_string()));
            return Ok(report);
        }
    };
    report.entries = rows.len() as u64;
    report.errors = problems
        .iter()
        .map(|p| FileProblem {
            line: p.line as u64,
            record: None,
            field: p.field.map(str::to_string),
            code: p.code.into(),
            message: p.message.clone(),
        })
        .collect();
    if !report.errors.is_empty() {
        return Ok(report);
    }
    let out = store
        .import_masters(MasterImport {
            kind,
            actor: actor.to_string(),
            received_at: at,
            source_sha256: sha256_hex(bytes),
            entries: rows
                .into_iter()
                .map(|(code, name, unit, valid_from, valid_until)| MasterEntry {
                    kind,
                    code,
                    valid_from,
                    valid_until,
                    name,
                    unit,
                })
                .collect(),
        })
        .await?;
    report.accepted = true;
    report.inserted = out.inserted;
    report.updated = out.updated;
    Ok(report)
}

/// A package's digest: over every path and its bytes, in path order.
fn package_digest(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut h = Sha256::new();
    for (path, bytes) in files {
        h.update((path.len() as u64).to_be_bytes());
        h.update(path.as_bytes());
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    }
    crate::cards::hex(&h.finalize())
}

fn checkup_value(v: &CheckupValue) -> (Option<String>, Option<String>) {
    match v {
        CheckupValue::Quantity { value, unit } => (
            Some(value.clone()),
            (!unit.is_empty()).then(|| unit.clone()),
        ),
        CheckupValue::Coded { code, display } => {
            (Some(display.clone().unwrap_or(code.clone())), None)
        }
        CheckupValue::Text(t) => (Some(t.clone()), None),
        CheckupValue::Absent { .. } | CheckupValue::NotPerformed => (None, None),
    }
}

/// Reads a 特定健診 package and stores its checkups in one transaction. A missing or broken
/// file, a document without a checkup date or insurance numbers, or (for an insurer) a
/// document of another insurer refuses the package whole.
pub async fn import_checkups(
    store: &dyn Store,
    scope: &Scope,
    actor: &str,
    files: &BTreeMap<String, Vec<u8>>,
    at: Timestamp,
) -> Result<CheckupImportReport, StoreError> {
    let mut report = CheckupImportReport {
        accepted: false,
        documents: 0,
        matched: 0,
        unmatched: 0,
        duplicate: false,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let package = match checkup::parse_package(files) {
        Ok(p) => p,
        Err(e) => {
            report.errors.push(file_error(e.code, e.message));
            return Ok(report);
        }
    };
    report.documents = package.documents.len() as u64;
    for p in &package.problems {
        report.errors.push(FileProblem {
            line: 0,
            record: Some(p.path.clone()),
            field: None,
            code: p.code.into(),
            message: p.message.clone(),
        });
    }
    if package.documents.is_empty() && report.errors.is_empty() {
        report.errors.push(file_error(
            "no_documents",
            "DATA フォルダに健診結果の文書がありません".into(),
        ));
    }
    let mut checkups = Vec::with_capacity(package.documents.len());
    for d in &package.documents {
        let doc = &d.document;
        let problem = |code: &str, message: &str| FileProblem {
            line: 0,
            record: Some(d.path.clone()),
            field: None,
            code: code.into(),
            message: message.into(),
        };
        for p in &doc.problems {
            report.warnings.push(FileProblem {
                line: 0,
                record: Some(d.path.clone()),
                field: Some(p.field.into()),
                code: p.code.into(),
                message: p.message.clone(),
            });
        }
        let Some(date) = doc.checkup_date else {
            report
                .errors
                .push(problem("missing_checkup_date", "健診実施日がありません"));
            continue;
        };
        let (Some(insurer), Some(_)) = (&doc.person.insurer_number, &doc.person.number) else {
            report.errors.push(problem(
                "missing_insurance_numbers",
                "保険者番号または被保険者証番号がありません",
            ));
            continue;
        };
        let allowed = match (InsurerNumber::parse(insurer), scope) {
            (Ok(n), _) => scope.allows(&n),
            // Operators may load what no roster can match yet; an insurer only its own.
            (Err(_), Scope::Any) => true,
            (Err(_), Scope::Only(_)) => false,
        };
        if !allowed {
            report.errors.push(problem(
                "insurer_not_allowed",
                "この保険者の健診結果は登録できません",
            ));
            continue;
        }
        checkups.push(NewCheckup {
            key: patient_key(
                doc.person.insurer_number.as_deref(),
                doc.person.symbol.as_deref(),
                doc.person.number.as_deref(),
                doc.person.branch.as_deref(),
                doc.birth_date,
            ),
            date,
            institution_id: doc.institution_id.clone(),
            institution_name: doc.institution_name.clone(),
            items: doc
                .results
                .iter()
                .map(|r| {
                    let (value, unit) = checkup_value(&r.value);
                    CheckupItem {
                        code: r.code.clone(),
                        name: r.name.clone(),
                        value,
                        unit,
                        interpretation: r.interpretation.clone(),
                    }
                })
                .collect(),
        });
    }
    if !report.errors.is_empty() {
        return Ok(report);
    }
    let out = store
        .import_checkups(CheckupImport {
            actor: actor.to_string(),
            received_at: at,
            source_sha256: package_digest(files),
            checkups,
        })
        .await?;
    report.accepted = true;
    report.matched = out.matched;
    report.unmatched = out.unmatched;
    report.duplicate = out.duplicate;
    Ok(report)
}

/// The first day still kept on `today`.
pub fn retention_start(today: Date) -> Date {
    today
        .add_months(-(RETENTION_YEARS as i32) * 12)
        .unwrap_or(today)
}

/// Deletes receipts and checkups older than the retention period.
pub async fn purge(store: &dyn Store, today: Date) -> Result<PurgeOutcome, StoreError> {
    let out = store.purge_medical(retention_start(today)).await?;
    if out.receipts + out.checkups > 0 {
        tracing::info!(
            receipts = out.receipts,
            checkups = out.checkups,
            "medical information past retention purged"
        );
    }
    Ok(out)
}

/// Why information was not shown.
#[derive(Debug)]
pub enum InfoError {
    /// A malformed request (HTTP 400); not logged (nobody's data was looked at).
    Invalid(ApiError),
    /// Refused (HTTP 403, or 404 for `qualification_not_found`); logged.
    Refused(ApiError),
    Store(StoreError),
}

impl From<StoreError> for InfoError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// The refusal codes of a retrieval, with their Japanese messages.
pub mod refusal {
    pub const NOT_FOUND: (&str, &str) = (
        "qualification_not_found",
        "該当する資格がありません。保険者番号・記号・番号・生年月日を確認してください。",
    );
    pub const AMBIGUOUS: (&str, &str) = (
        "multiple_matches",
        "該当者が複数います。枝番を指定してください。",
    );
    pub const NOT_CHECKED_TODAY: (&str, &str) = (
        "not_checked_today",
        "本日この患者の資格確認が行われていません。先に資格確認を行ってください。",
    );
    pub const WITHDRAWN: (&str, &str) = ("consent_withdrawn", "患者が閲覧同意を撤回しています。");
    pub const OPTED_OUT: (&str, &str) = (
        "sharing_opted_out",
        "患者の設定により、診療・薬剤・健診情報は提供されません。",
    );
    pub const BLOCKED: (&str, &str) = (
        "institution_blocked",
        "患者の設定により、この医療機関には情報を提供できません。",
    );
    pub const NO_CONSENT: (&str, &str) = (
        "consent_missing",
        "患者の閲覧同意がありません。カードリーダーで同意を確認してください。",
    );
    pub const NOT_CONSENTED: (&str, &str) = (
        "category_not_consented",
        "この情報の閲覧には同意がありません。",
    );
    pub const EXPIRED: (&str, &str) = (
        "consent_expired",
        "閲覧同意の有効期限（24時間）が切れています。カードリーダーで再度同意を確認してください。",
    );
}

/// The start of `at`'s day in Japan.
fn jst_day_start(at: Timestamp) -> Timestamp {
    const JST_OFFSET_MS: i64 = 9 * 3_600_000;
    Timestamp::from_unix_millis(at.jst_date().to_days() * 86_400_000 - JST_OFFSET_MS)
}

/// The person's receipts of the period and every master edition of the codes `codes_of`
/// picks from them.
async fn receipts_named(
    store: &dyn Store,
    ids: &[i64],
    input: &Period,
    kind: MasterKind,
    codes_of: impl Fn(&StoredReceipt) -> Vec<String>,
) -> Result<(Vec<StoredReceipt>, Vec<MasterEntry>), StoreError> {
    let receipts = store
        .receipts_for(ids.to_vec(), input.from, input.to)
        .await?;
    let codes: BTreeSet<String> = receipts.iter().flat_map(&codes_of).collect();
    let master = store
        .master_entries(kind, codes.into_iter().collect())
        .await?;
    Ok((receipts, master))
}

/// The period of a retrieval.
struct Period {
    from: Date,
    to: Date,
}

/// What a retrieval asked for, validated.
struct InfoInput {
    query: CardQuery,
    from: Date,
    to: Date,
}

fn info_input(r: &MedicalInformationRequest, today: Date) -> Result<InfoInput, ApiError> {
    let card = card_input(
        &r.insurer_number,
        r.symbol.as_deref(),
        &r.number,
        r.branch.as_deref(),
    )?;
    let birthdate = date_input(&r.birthdate, "birthdate", "生年月日")?;
    let optional = |v: &Option<String>, field, label| {
        v.as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| date_input(s, field, label))
            .transpose()
    };
    let to = optional(&r.end_date, "end_date", "終了日")?.unwrap_or(today);
    let from =
        optional(&r.start_date, "start_date", "開始日")?.unwrap_or_else(|| retention_start(to));
    if from > to {
        return Err(ApiError::new(
            "invalid_period",
            "開始日が終了日より後になっています。",
            format!("start_date {from} is after end_date {to}"),
        )
        .with_field("start_date"));
    }
    Ok(InfoInput {
        query: CardQuery {
            symbol_key: card.symbol_key().to_string(),
            number_key: card.number.key().to_string(),
            insurer: card.insurer,
            branch: card.branch,
            birthdate,
        },
        from,
        to,
    })
}

/// A person's information of one category for an institution (`POST /v1/medical/{category}`).
/// `Limit` is not a category of this API (限度額 information comes with the eligibility
/// result).
pub async fn information(
    store: &dyn Store,
    institution: &InstitutionCode,
    category: ConsentCategory,
    request: &MedicalInformationRequest,
    at: Timestamp,
) -> Result<MedicalInformationResponse, InfoError> {
    let today = at.jst_date();
    let input = info_input(request, today).map_err(InfoError::Invalid)?;
    let asked = InformationAccess {
        category,
        from: input.from,
        to: input.to,
        basis: AccessBasis::Consent,
    };
    let entry = |ids: Vec<i64>, result: AccessResult, code: &str| AccessLogEntry {
        at,
        institution: institution.clone(),
        purpose: AccessPurpose::MedicalInformation,
        qualification_ids: ids,
        result,
        processing_code: code.to_string(),
        information: Some(asked),
    };
    let refuse = async |ids: Vec<i64>, (code, message): (&str, &str), detail: String| {
        store
            .append_access(entry(ids, AccessResult::Refused(code.into()), code))
            .await?;
        Err::<MedicalInformationResponse, _>(InfoError::Refused(ApiError::new(
            code, message, detail,
        )))
    };
    let found = store.find_qualifications(&input.query).await?;
    let target: StoredQualification = match found.len() {
        0 => {
            return refuse(
                vec![],
                refusal::NOT_FOUND,
                "no qualification matches the numbers and birth date".into(),
            )
            .await
        }
        1 => found.into_iter().next().expect("one"),
        _ => {
            let ids = found.iter().map(|q| q.id).collect();
            return refuse(
                ids,
                refusal::AMBIGUOUS,
                "several family members match; give branch".into(),
            )
            .await;
        }
    };
    let Some(person) = target.person.clone() else {
        return refuse(
            vec![target.id],
            refusal::NO_CONSENT,
            "the qualification is not linked to a card holder, so no consent can exist".into(),
        )
        .await;
    };
    // Every qualification of the person: history stays with them across insurers.
    let mut ids: BTreeSet<i64> = store
        .find_by_person(&person)
        .await?
        .iter()
        .map(|q| q.id)
        .collect();
    ids.insert(target.id);
    let ids: Vec<i64> = ids.into_iter().collect();
    if store.sharing_opted_out(&person).await? {
        return refuse(
            ids,
            refusal::OPTED_OUT,
            "the patient opted out of sharing medical information".into(),
        )
        .await;
    }
    if store.institution_blocked(&person, institution).await? {
        return refuse(
            ids,
            refusal::BLOCKED,
            "the patient blocked this institution".into(),
        )
        .await;
    }
    if !store
        .checked_since(institution, ids.clone(), jst_day_start(at))
        .await?
    {
        return refuse(
            ids,
            refusal::NOT_CHECKED_TODAY,
            "no eligibility answer for this person to this institution today (JST)".into(),
        )
        .await;
    }
    let consents = store.latest_consents(&person, institution).await?;
    let latest = consents.iter().find(|c| c.category == category);
    if latest.is_some_and(|c| c.given_at == c.expires_at) {
        return refuse(
            ids,
            refusal::WITHDRAWN,
            format!("the patient withdrew the {} consent", category.code()),
        )
        .await;
    }
    let state = ConsentState::of(latest, at);
    match state {
        ConsentState::Valid { .. } => {}
        ConsentState::Expired { expires_at, .. } => {
            return refuse(
                ids,
                refusal::EXPIRED,
                format!(
                    "the {} consent expired at {}",
                    category.code(),
                    expires_at.jst_rfc3339()
                ),
            )
            .await
        }
        ConsentState::None
            if consents
                .iter()
                .any(|c| ConsentState::of(Some(c), at).is_valid()) =>
        {
            return refuse(
                ids,
                refusal::NOT_CONSENTED,
                format!(
                    "the patient consented to other categories, not {}",
                    category.code()
                ),
            )
            .await
        }
        ConsentState::None => {
            return refuse(
                ids,
                refusal::NO_CONSENT,
                "no consent from this patient to this institution".into(),
            )
            .await
        }
    }
    let response = match records(
        store,
        &ids,
        category,
        (input.from, input.to),
        &target.qualification,
        consent_flag(category, state),
    )
    .await?
    {
        Some(r) => r,
        None => {
            return Err(InfoError::Invalid(ApiError::new(
                "invalid_category",
                "情報の種類が正しくありません。",
                "limit information comes with the eligibility result, not from /v1/medical",
            )))
        }
    };
    let shown =
        (response.medications.len() + response.treatments.len() + response.checkups.len()) as u32;
    store
        .append_access(entry(ids, AccessResult::Disclosed(shown), "OK"))
        .await?;
    Ok(response)
}

/// A person's records of one category in a period, newest first, with names from the masters
/// in force on each line's date (`None` for `Limit`, which has no records). Nothing is logged
/// here: callers log the disclosure.
pub(crate) async fn records(
    store: &dyn Store,
    ids: &[i64],
    category: ConsentCategory,
    (from, to): (Date, Date),
    q: &kakunin_domain::Qualification,
    consent: kakunin_api::ConsentFlag,
) -> Result<Option<MedicalInformationResponse>, StoreError> {
    let input = Period { from, to };
    let mut response = MedicalInformationResponse {
        category: category.code().into(),
        category_label: category.label().into(),
        start_date: input.from.compact(),
        end_date: input.to.compact(),
        patient: PatientHeader {
            name: q.name.clone(),
            name_kana: q.name_kana.clone(),
            birthdate: q.birthdate.compact(),
            sex: q.sex.code().into(),
        },
        consent,
        medications: Vec::new(),
        treatments: Vec::new(),
        checkups: Vec::new(),
    };
    let in_period = |d: Date| input.from <= d && d <= input.to;
    match category {
        ConsentCategory::Medications => {
            let (receipts, master) = receipts_named(store, ids, &input, MasterKind::Drug, |r| {
                r.drugs.iter().map(|d| d.code.clone()).collect()
            })
            .await?;
            for r in &receipts {
                for d in &r.drugs {
                    let day = d.date.unwrap_or(r.month);
                    if !in_period(day) && d.date.is_some() {
                        continue;
                    }
                    let edition = master_edition(&master, MasterKind::Drug, &d.code, Some(day));
                    response.medications.push(MedicationRecord {
                        month: format!("{:04}{:02}", r.month.year(), r.month.month()),
                        dispensed_on: d.date.map(Date::compact),
                        prescribed_on: d.prescribed_on.map(Date::compact),
                        institution_code: r.institution_code.clone(),
                        institution_name: r.institution_name.clone(),
                        care_kind: r.care_kind.clone(),
                        prescriber_code: r.prescriber.clone(),
                        drug_code: d.code.clone(),
                        drug_name: display_name(&d.code, edition.map(|e| e.name.as_str())),
                        known: edition.is_some(),
                        quantity: d.quantity.clone(),
                        unit: edition.and_then(|e| e.unit.clone()),
                        days_or_times: d.days_or_times,
                        category: d.category.clone(),
                        usage_code: d.usage_code.clone(),
                    });
                }
            }
            response.medications.sort_by(|a, b| {
                b.dispensed_on
                    .cmp(&a.dispensed_on)
                    .then(b.month.cmp(&a.month))
            });
        }
        ConsentCategory::Treatments | ConsentCategory::Surgeries => {
            let surgeries = category == ConsentCategory::Surgeries;
            let (receipts, master) =
                receipts_named(store, ids, &input, MasterKind::Procedure, |r| {
                    r.treatments.iter().map(|t| t.code.clone()).collect()
                })
                .await?;
            for r in &receipts {
                for t in &r.treatments {
                    if (t.kind == "surgery") != surgeries {
                        continue;
                    }
                    let dates: Vec<Date> =
                        t.dates.iter().copied().filter(|d| in_period(*d)).collect();
                    if dates.is_empty() && !t.dates.is_empty() {
                        continue;
                    }
                    let day = dates.first().copied().unwrap_or(r.month);
                    let edition =
                        master_edition(&master, MasterKind::Procedure, &t.code, Some(day));
                    response.treatments.push(TreatmentInfo {
                        month: format!("{:04}{:02}", r.month.year(), r.month.month()),
                        dates: dates.iter().map(|d| d.compact()).collect(),
                        institution_code: r.institution_code.clone(),
                        institution_name: r.institution_name.clone(),
                        kind: t.kind.clone(),
                        kind_label: derive::TreatmentKind::parse(&t.kind)
                            .map_or("その他", derive::TreatmentKind::label)
                            .into(),
                        code: t.code.clone(),
                        name: display_name(&t.code, edition.map(|e| e.name.as_str())),
                        known: edition.is_some(),
                        count: t.count,
                    });
                }
            }
            response.treatments.sort_by(|a, b| {
                b.month
                    .cmp(&a.month)
                    .then(b.dates.first().cmp(&a.dates.first()))
            });
        }
        ConsentCategory::Checkups => {
            for c in store
                .checkups_for(ids.to_vec(), input.from, input.to)
                .await?
            {
                response.checkups.push(CheckupRecord {
                    date: c.date.compact(),
                    institution_id: c.institution_id,
                    institution_name: c.institution_name,
                    items: c
                        .items
                        .into_iter()
                        .map(|i| CheckupItemInfo {
                            code: i.code,
                            name: i.name,
                            value: i.value,
                            unit: i.unit,
                            interpretation: i.interpretation,
                        })
                        .collect(),
                });
            }
        }
        ConsentCategory::Limit => return Ok(None),
    }
    Ok(Some(response))
}

/// The category of a `/v1/medical/{category}` path.
pub fn category_of(path: &str) -> Option<ConsentCategory> {
    ConsentCategory::parse(path).filter(|c| *c != ConsentCategory::Limit)
}
