//! The central's use cases, independent of HTTP: roster imports and eligibility checks.

use kakunin_api::{
    check_input, processing_result, qualification_result, CheckInput, EligibilityCheckRequest,
    EligibilityCheckResponse, RosterImportReport, RosterLineError,
};
use kakunin_authority::{AuthorityApi, MatchOutcome, MatchQuery};
use kakunin_domain::{
    evaluate, AccessLogEntry, AccessPurpose, AccessResult, Candidate, InstitutionCode,
    InsurerNumber, Timestamp,
};
use kakunin_formats::roster::{self, RosterRow};
use kakunin_store::{CardQuery, LinkDecision, RosterImport, Store, StoreError};
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
    pub(crate) fn allows(&self, n: &InsurerNumber) -> bool {
        match self {
            Self::Only(ns) => ns.contains(n),
            Self::Any => true,
        }
    }
}

/// Why an import could not be done (a refused roster is not an error: see the report).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Rows carry 個人番号 and the authority could not be asked; nothing was written.
    #[error("the authority's match service is unavailable: {0}")]
    Authority(String),
}

/// Largest match batch sent to the authority in one call.
const MATCH_BATCH: usize = 10_000;

/// Asks the authority about every row that carries a 個人番号. Rows without one get `None`
/// (their links stay as they are); when no row has one, the result is empty.
pub async fn link_decisions(
    authority: Option<&dyn AuthorityApi>,
    rows: &[RosterRow],
) -> Result<Vec<Option<LinkDecision>>, ImportError> {
    let asked: Vec<(usize, MatchQuery)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let q = &r.qualification;
            r.individual_number.as_ref().map(|n| {
                (
                    i,
                    MatchQuery {
                        individual_number: n.clone(),
                        name: q.name.clone(),
                        name_kana: Some(q.name_kana.clone()),
                        birthdate: q.birthdate,
                        sex: q.sex,
                        address: q.address.clone(),
                    },
                )
            })
        })
        .collect();
    if asked.is_empty() {
        return Ok(vec![]);
    }
    let authority = authority
        .ok_or_else(|| ImportError::Authority("this central has no authority configured".into()))?;
    let mut decisions: Vec<Option<LinkDecision>> = vec![None; rows.len()];
    for chunk in asked.chunks(MATCH_BATCH) {
        let outcomes = authority
            .match_residents(chunk.iter().map(|(_, q)| q.clone()).collect())
            .await
            .map_err(|e| ImportError::Authority(e.to_string()))?;
        if outcomes.len() != chunk.len() {
            return Err(ImportError::Authority(
                "the authority answered a different number of matches".into(),
            ));
        }
        for ((i, q), outcome) in chunk.iter().zip(outcomes) {
            decisions[*i] = Some(match outcome {
                MatchOutcome::Matched { pseudonym } => LinkDecision::Linked { pseudonym },
                MatchOutcome::Mismatch { attributes } => LinkDecision::Mismatch {
                    attributes,
                    number_last4: q.individual_number.last4().to_string(),
                },
            });
        }
    }
    Ok(decisions)
}

/// Parses and imports a roster. All-or-nothing unless `partial`, in which case valid rows are
/// written and the others reported. Rows with a 個人番号 are linked only when the authority
/// confirms the 4 attributes; the others go to the review queue. Returns the report; store and
/// authority failures are errors (and nothing is written).
pub async fn import_roster(
    store: &dyn Store,
    authority: Option<&dyn AuthorityApi>,
    scope: &Scope,
    actor: &str,
    bytes: &[u8],
    partial: bool,
    at: Timestamp,
) -> Result<RosterImportReport, ImportError> {
    match check_roster(scope, bytes, partial) {
        Ok(checked) => import_checked(store, authority, actor, checked, at).await,
        Err(refused) => {
            tracing::info!(
                actor_kind = actor.split(':').next().unwrap_or(""),
                rows = refused.rows,
                errors = refused.errors.len(),
                "roster refused"
            );
            Ok(*refused)
        }
    }
}

/// A roster parsed and checked, ready for [`import_checked`].
pub struct CheckedRoster {
    report: RosterImportReport,
    rows: Vec<RosterRow>,
    source_sha256: String,
}

/// The CPU-bound half of [`import_roster`]: parses the file and checks every row against the
/// scope. Err is the report of a refused roster (nothing to write).
pub fn check_roster(
    scope: &Scope,
    bytes: &[u8],
    partial: bool,
) -> Result<CheckedRoster, Box<RosterImportReport>> {
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
    let mut rows = Vec::with_capacity(parsed.rows.len());
    for row in parsed.rows {
        if scope.allows(&row.qualification.card.insurer) {
            rows.push(row);
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
        rows: (rows.len() + bad_lines.len()) as u64,
        inserted: 0,
        updated: 0,
        unchanged: 0,
        skipped: bad_lines.len() as u64,
        linked: 0,
        link_reviews: 0,
        import_id: None,
        errors,
    };
    let file_level = report.errors.iter().any(|e| e.line <= 1);
    if rows.is_empty() || file_level || (!partial && !report.errors.is_empty()) {
        report.skipped = report.rows;
        return Err(Box::new(report));
    }
    Ok(CheckedRoster {
        report,
        rows,
        source_sha256: crate::cards::hex(&Sha256::digest(bytes)),
    })
}

/// The writing half of [`import_roster`].
pub async fn import_checked(
    store: &dyn Store,
    authority: Option<&dyn AuthorityApi>,
    actor: &str,
    checked: CheckedRoster,
    at: Timestamp,
) -> Result<RosterImportReport, ImportError> {
    let CheckedRoster {
        mut report,
        rows,
        source_sha256,
    } = checked;
    let outcome = import_rows(store, authority, actor, source_sha256, rows, at).await?;
    report.accepted = true;
    report.inserted = outcome.inserted;
    report.updated = outcome.updated;
    report.unchanged = outcome.unchanged;
    report.import_id = Some(outcome.import_id);
    report.linked = outcome.linked;
    report.link_reviews = outcome.link_reviews;
    tracing::info!(
        import_id = outcome.import_id,
        inserted = outcome.inserted,
        updated = outcome.updated,
        unchanged = outcome.unchanged,
        linked = outcome.linked,
        link_reviews = outcome.link_reviews,
        "roster imported"
    );
    Ok(report)
}

/// Imports parsed rows in one transaction, with the authority's verdict on their 個人番号.
pub async fn import_rows(
    store: &dyn Store,
    authority: Option<&dyn AuthorityApi>,
    actor: &str,
    source_sha256: String,
    rows: Vec<RosterRow>,
    at: Timestamp,
) -> Result<kakunin_store::ImportOutcome, ImportError> {
    let links = link_decisions(authority, &rows).await?;
    let insurers: Vec<String> = rows
        .iter()
        .map(|r| r.qualification.card.insurer.as_str().to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let outcome = store
        .import_roster(RosterImport {
            actor: actor.to_string(),
            received_at: at,
            source_sha256,
            qualifications: rows.into_iter().map(|r| r.qualification).collect(),
            links,
        })
        .await?;
    // Receipts and checkups that arrived before their person's roster row are matched now.
    if outcome.inserted + outcome.updated > 0 {
        let matched = store.match_pending(insurers).await?;
        if matched.receipts + matched.checkups > 0 {
            tracing::info!(
                receipts = matched.receipts,
                checkups = matched.checkups,
                "waiting medical records matched after a roster import"
            );
        }
    }
    Ok(outcome)
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
    check_for(
        store,
        institution,
        request,
        at,
        AccessPurpose::EligibilityByNumbers,
    )
    .await
}

/// The store query of checked numbers and birth date.
pub(crate) fn card_query(input: &CheckInput) -> CardQuery {
    CardQuery {
        symbol_key: input.card.symbol_key().to_string(),
        number_key: input.card.number.key().to_string(),
        insurer: input.card.insurer.clone(),
        branch: input.card.branch,
        birthdate: input.birthdate,
    }
}

/// [`check`], logged under `purpose` (a single check, or one item of a 一括照会).
pub(crate) async fn check_for(
    store: &dyn Store,
    institution: &InstitutionCode,
    request: &EligibilityCheckRequest,
    at: Timestamp,
    purpose: AccessPurpose,
) -> Result<EligibilityCheckResponse, CheckError> {
    let input = check_input(request).map_err(CheckError::Invalid)?;
    let query = card_query(&input);
    let CheckInput {
        date,
        limit_consent,
        ..
    } = input;
    let on = date.unwrap_or_else(|| at.jst_date());
    let found = store
        .find_qualifications(&query)
        .await
        .map_err(CheckError::Store)?;
    // 3 無効（新しい資格あり）: a lost qualification whose person (confirmed by the authority)
    // holds one acquired later.
    let mut newer = vec![false; found.len()];
    if let [one] = found.as_slice() {
        if let (false, Some(person)) = (one.qualification.is_in_effect(on), &one.person) {
            let theirs = store
                .find_by_person(person)
                .await
                .map_err(CheckError::Store)?;
            newer[0] = theirs.iter().any(|f| {
                f.id != one.id
                    && f.qualification.qualification_date > one.qualification.qualification_date
            });
        }
    }
    let candidates: Vec<Candidate<'_>> = found
        .iter()
        .zip(&newer)
        .map(|(f, &newer_exists)| Candidate {
            qualification: &f.qualification,
            newer_exists,
        })
        .collect();
    let validity = evaluate(&candidates, on);
    let mut results: Vec<_> = found
        .iter()
        .map(|f| qualification_result(&f.qualification, on, limit_consent))
        .collect();
    let ids: Vec<i64> = found.iter().map(|f| f.id).collect();
    crate::reception::attach_reference_numbers(store, institution, &ids, &mut results)
        .await
        .map_err(CheckError::Store)?;
    let processing = processing_result(validity, &results, on);
    let logging = std::time::Instant::now();
    store
        .append_access(AccessLogEntry {
            at,
            institution: institution.clone(),
            purpose,
            qualification_ids: ids,
            result: AccessResult::Answered(validity),
            processing_code: processing.code.clone(),
            information: None,
        })
        .await
        .map_err(CheckError::Store)?;
    crate::metrics::access_log_write(logging.elapsed());
    Ok(EligibilityCheckResponse {
        validity: validity.code().into(),
        validity_label: validity.label().into(),
        reference_classification: "2".into(),
        qualification_confirmation_date: on.compact(),
        process_execution_time: at.jst_compact(),
        results,
        processing_result: processing,
        certificate_notice: None,
        next_nonce: None,
        consents: vec![],
    })
}
