//! The central's use cases, independent of HTTP: roster imports and eligibility checks.

use kakunin_api::{
    check_input, processing_result, qualification_result, CheckInput, EligibilityCheckRequest,
    EligibilityCheckResponse, RosterImportReport, RosterLineError,
};
use kakunin_domain::{
    evaluate, AccessLogEntry, AccessPurpose, AccessResult, Candidate, InstitutionCode,
    InsurerNumber, Timestamp,
};
use kakunin_formats::roster;
use kakunin_store::{CardQuery, RosterImport, Store, StoreError};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// The current instant.
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Timestamp::from_unix_millis(ms)
}

/// Which insurer numbers an import may touch.
#[derive(Debug, Clone)]
pub enum Scope {
    /// An insurer: only its own numbers.
    Only(Vec<InsurerNumber>),
    /// The synthetic-population seeder and operators' bulk loads.
    Any,
}

impl Scope {
    fn allows(&self, n: &InsurerNumber) -> bool {
        match self {
            Self::Only(ns) => ns.contains(n),
            Self::Any => true,
        }
    }
}

/// Parses and imports a roster. All-or-nothing unless `partial`, in which case valid rows are
/// written and the others reported. Returns the report; store failures are errors.
pub async fn import_roster(
    store: &dyn Store,
    scope: &Scope,
    actor: &str,
    bytes: &[u8],
    partial: bool,
    at: Timestamp,
) -> Result<RosterImportReport, StoreError> {
    let parsed = roster::parse_lenient(bytes);
    let mut errors: Vec<RosterLineError> = parsed
        .errors
        .iter()
        .map(|e| RosterLineError {
            line: e.line as u64,
            field: e.field.map(str::to_string),
            code: e.code.to_string(),
            message: e.message.clone(),
        })
        .collect();
    let mut qualifications = Vec::with_capacity(parsed.rows.len());
    for row in parsed.rows {
        if scope.allows(&row.qualification.card.insurer) {
            qualifications.push(row.qualification);
        } else {
            errors.push(RosterLineError {
                line: row.line as u64,
                field: Some("insurer_number".into()),
                code: "not_your_insurer".into(),
                message: format!(
                    "保険者番号{}はこの証明書の保険者のものではありません",
                    row.qualification.card.insurer
                ),
            });
        }
    }
    errors.sort_by_key(|e| e.line);
    let bad_lines: BTreeSet<u64> = errors
        .iter()
        .filter(|e| e.line > 1)
        .map(|e| e.line)
        .collect();
    let mut report = RosterImportReport {
        accepted: false,
        encoding: parsed.encoding.map(|e| e.name().to_string()),
        rows: (qualifications.len() + bad_lines.len()) as u64,
        inserted: 0,
        updated: 0,
        unchanged: 0,
        skipped: bad_lines.len() as u64,
        import_id: None,
        errors,
    };
    let file_level = report.errors.iter().any(|e| e.line <= 1);
    if qualifications.is_empty() || file_level || (!partial && !report.errors.is_empty()) {
        report.skipped = report.rows;
        tracing::info!(
            actor_kind = actor.split(':').next().unwrap_or(""),
            rows = report.rows,
            errors = report.errors.len(),
            "roster refused"
        );
        return Ok(report);
    }
    let outcome = store
        .import_roster(RosterImport {
            actor: actor.to_string(),
            received_at: at,
            source_sha256: Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            qualifications,
            links: vec![],
        })
        .await?;
    report.accepted = true;
    report.inserted = outcome.inserted;
    report.updated = outcome.updated;
    report.unchanged = outcome.unchanged;
    report.import_id = Some(outcome.import_id);
    tracing::info!(
        import_id = outcome.import_id,
        inserted = outcome.inserted,
        updated = outcome.updated,
        unchanged = outcome.unchanged,
        "roster imported"
    );
    Ok(report)
}

/// Why a check could not be answered.
#[derive(Debug)]
pub enum CheckError {
    Invalid(kakunin_api::ApiError),
    Store(StoreError),
}

/// An eligibility check by insurance numbers. The access-log entry is durable before this
/// returns the answer; without it there is no answer.
pub async fn check(
    store: &dyn Store,
    institution: &InstitutionCode,
    request: &EligibilityCheckRequest,
    at: Timestamp,
) -> Result<EligibilityCheckResponse, CheckError> {
    let CheckInput {
        card,
        birthdate,
        date,
        limit_consent,
    } = check_input(request).map_err(CheckError::Invalid)?;
    let on = date.unwrap_or_else(|| at.jst_date());
    let query = CardQuery {
        symbol_key: card.symbol_key().to_string(),
        number_key: card.number.key().to_string(),
        insurer: card.insurer,
        branch: card.branch,
        birthdate,
    };
    let found = store
        .find_qualifications(&query)
        .await
        .map_err(CheckError::Store)?;
    let candidates: Vec<Candidate<'_>> = found
        .iter()
        .map(|f| Candidate {
            qualification: &f.qualification,
            newer_exists: false,
        })
        .collect();
    let validity = evaluate(&candidates, on);
    let results: Vec<_> = found
        .iter()
        .map(|f| qualification_result(&f.qualification, on, limit_consent))
        .collect();
    let processing = processing_result(validity, &results, on);
    store
        .append_access(AccessLogEntry {
            at,
            institution: institution.clone(),
            purpose: AccessPurpose::EligibilityByNumbers,
            qualification_ids: found.iter().map(|f| f.id).collect(),
            result: AccessResult::Answered(validity),
            processing_code: processing.code.clone(),
        })
        .await
        .map_err(CheckError::Store)?;
    Ok(EligibilityCheckResponse {
        validity: validity.code().into(),
        validity_label: validity.label().into(),
        reference_classification: "2".into(),
        qualification_confirmation_date: on.compact(),
        process_execution_time: at.jst_compact(),
        results,
        processing_result: processing,
    })
}
