//! 照会番号 registration and 一括照会 (batch inquiries).
//!
//! A 照会番号 is an institution's own id for a patient (its 診察券番号, say). It is registered
//! against the qualification the numbers and birth date name, and returned in that
//! institution's later results for the person, by numbers, by card or in a batch. Where the real
//! system keys it on the qualification alone, we also follow the person's authority-confirmed
//! link, so a patient who changes insurer keeps the clinic's id; another institution never
//! sees it.
//!
//! A 一括照会 is answered at once with a 受付番号 and processed in the background: each item is
//! an ordinary check by numbers (one access-log entry each, purpose `eligibility_batch`), and
//! the results are stored with the batch until it is purged. Unfinished batches are resumed
//! when a central starts, and by any node once they have waited [`STALE_AFTER`].

use crate::service::{self, CheckError};
use kakunin_api::{
    check_input, date_input, ApiError, BatchConfirmUnit, BatchInquiryAccepted, BatchInquiryRequest,
    BatchInquiryResponse, BatchInquirySummary, EligibilityCheckRequest, ProcessingResult,
    QualificationResult, ReferenceNumberRequest, ReferenceNumberResponse, BATCH_MAX_ITEMS,
    REFERENCE_NUMBER_MAX_CHARS,
};
use kakunin_domain::{AccessLogEntry, AccessPurpose, AccessResult, InstitutionCode, Timestamp};
use kakunin_store::{
    BatchInquiryResult, NewBatchInquiry, ReferenceNumberRegistration, Store, StoreError,
    StoredBatchInquiry,
};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long batch results are kept (they hold personal data).
pub const BATCH_RETENTION_DAYS: i64 = 7;
/// An unfinished batch older than this is taken over by whichever node sweeps first (its node
/// may have stopped).
pub const STALE_AFTER: Duration = Duration::from_secs(10 * 60);
/// How often a node looks for stale batches.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Items of one batch checked at the same time: their access-log entries share commits.
const CONCURRENT_ITEMS: usize = 32;

/// Why a request about 照会番号 or batches was not done.
#[derive(Debug)]
pub enum ReceptionError {
    /// A field is malformed (400).
    Invalid(ApiError),
    /// Refused (`qualification_not_found` 404, `multiple_matches` 409, `batch_not_found` 404).
    Refused(ApiError),
    Store(StoreError),
}

impl From<StoreError> for ReceptionError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Fills `results[i].reference_number` with the institution's 照会番号 for `ids[i]`.
pub async fn attach_reference_numbers(
    store: &dyn Store,
    institution: &InstitutionCode,
    ids: &[i64],
    results: &mut [QualificationResult],
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let numbers = store.reference_numbers(institution, ids.to_vec()).await?;
    for (result, number) in results.iter_mut().zip(numbers) {
        result.reference_number = number;
    }
    Ok(())
}

/// A 照会番号 as the institution sent it, trimmed; 1–50 characters, no control characters.
pub fn parse_reference_number(raw: &str) -> Result<String, ApiError> {
    let value = raw.trim();
    let bad = |detail: &str| {
        ApiError::new(
            "invalid_reference_number",
            "照会番号は1〜50文字で入力してください（改行・制御文字は使えません）。",
            detail.to_string(),
        )
        .with_field("reference_number")
    };
    if value.is_empty() {
        return Err(bad("reference_number is empty"));
    }
    if value.chars().count() > REFERENCE_NUMBER_MAX_CHARS {
        return Err(bad("reference_number is longer than 50 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(bad("reference_number contains a control character"));
    }
    Ok(value.to_string())
}

/// Registers a 照会番号. The numbers and birth date must name exactly one qualification.
/// Every outcome, refusals included, is one access-log entry (a registration tells the caller
/// whether the person exists, as a check does).
pub async fn register_reference_number(
    store: &dyn Store,
    institution: &InstitutionCode,
    request: &ReferenceNumberRequest,
    at: Timestamp,
) -> Result<ReferenceNumberResponse, ReceptionError> {
    let reference =
        parse_reference_number(&request.reference_number).map_err(ReceptionError::Invalid)?;
    let input = check_input(&EligibilityCheckRequest {
        insurer_number: request.insurer_number.clone(),
        symbol: request.symbol.clone(),
        number: request.number.clone(),
        branch: request.branch.clone(),
        birthdate: request.birthdate.clone(),
        qualification_confirmation_date: None,
        limit_application_certificate_related_cons_flg: None,
    })
    .map_err(ReceptionError::Invalid)?;
    let found = store
        .find_qualifications(&service::card_query(&input))
        .await?;
    let ids: Vec<i64> = found.iter().map(|f| f.id).collect();
    let entry = |result: AccessResult, code: &str| AccessLogEntry {
        at,
        institution: institution.clone(),
        purpose: AccessPurpose::ReferenceRegistration,
        qualification_ids: ids.clone(),
        result,
        processing_code: code.to_string(),
        information: None,
    };
    let refuse = |(code, message): (&str, &str), detail: &str| {
        ReceptionError::Refused(ApiError::new(code, message, detail.to_string()))
    };
    let target = match found.as_slice() {
        [one] => one,
        [] => {
            let r = crate::medical::refusal::NOT_FOUND;
            store
                .append_access(entry(AccessResult::Refused(r.0.into()), r.0))
                .await?;
            return Err(refuse(
                r,
                "no qualification matches the numbers and birth date",
            ));
        }
        _ => {
            let r = crate::medical::refusal::AMBIGUOUS;
            store
                .append_access(entry(AccessResult::Refused(r.0.into()), r.0))
                .await?;
            return Err(refuse(
                r,
                "several qualifications match; give the branch number",
            ));
        }
    };
    let replaced = store
        .register_reference_number(ReferenceNumberRegistration {
            institution: institution.clone(),
            qualification_id: target.id,
            reference_number: reference.clone(),
            registered_at: at,
        })
        .await?;
    const CODE: &str = "reference_registered";
    store
        .append_access(entry(AccessResult::Registered, CODE))
        .await?;
    Ok(ReferenceNumberResponse {
        reference_number: reference,
        replaced: replaced.filter(|old| *old != request.reference_number.trim()),
        processing_result: ProcessingResult {
            status: "1".into(),
            code: CODE.into(),
            message: "照会番号を登録しました。".into(),
            detail: "The reference number is returned in this institution's later results.".into(),
        },
    })
}

/// The 受付番号 of a stored batch.
pub fn reception_number(id: i64) -> String {
    format!("{id:010}")
}

/// The store id of a 受付番号 (digits only).
pub fn batch_id(reception_number: &str) -> Option<i64> {
    if reception_number.is_empty()
        || reception_number.len() > 18
        || !reception_number.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    reception_number.parse().ok()
}

fn batch_invalid(code: &str, message: &str, detail: String) -> ReceptionError {
    ReceptionError::Invalid(ApiError::new(code, message, detail).with_field("items"))
}

/// Checks a batch upload as a whole; items are checked one by one when processed (a bad item
/// gets its own error in the results, like a `BatchConfirmUnit` with status 2).
fn validate_batch(request: &BatchInquiryRequest) -> Result<(), ReceptionError> {
    if request.items.is_empty() {
        return Err(batch_invalid(
            "batch_empty",
            "照会する患者が1件もありません。",
            "items is empty".into(),
        ));
    }
    if request.items.len() > BATCH_MAX_ITEMS {
        return Err(batch_invalid(
            "batch_too_large",
            "一度に照会できるのは5,000件までです。分けて送信してください。",
            format!(
                "items has {} entries; at most {BATCH_MAX_ITEMS}",
                request.items.len()
            ),
        ));
    }
    if let Some(d) = &request.qualification_confirmation_date {
        date_input(d, "qualification_confirmation_date", "資格確認日")
            .map_err(ReceptionError::Invalid)?;
    }
    Ok(())
}

/// Stores a batch and hands it to the worker.
pub async fn submit_batch(
    store: &dyn Store,
    queue: &BatchQueue,
    institution: &InstitutionCode,
    request: &BatchInquiryRequest,
    at: Timestamp,
) -> Result<BatchInquiryAccepted, ReceptionError> {
    validate_batch(request)?;
    let request_json = serde_json::to_string(request)
        .map_err(|e| ReceptionError::Store(StoreError::Corrupt(e.to_string())))?;
    let items = request.items.len() as u32;
    let id = store
        .create_batch_inquiry(NewBatchInquiry {
            institution: institution.clone(),
            submitted_at: at,
            items,
            request_json,
        })
        .await?;
    queue.push(institution.clone(), id);
    Ok(BatchInquiryAccepted {
        reception_number: reception_number(id),
        status: "processing".into(),
        items,
        submitted_at: at.jst_rfc3339(),
    })
}

fn summary(b: &StoredBatchInquiry) -> BatchInquirySummary {
    BatchInquirySummary {
        reception_number: reception_number(b.id),
        status: if b.finished_at.is_some() {
            "done"
        } else {
            "processing"
        }
        .into(),
        submitted_at: b.submitted_at.jst_rfc3339(),
        finished_at: b.finished_at.map(|t| t.jst_rfc3339()),
        items: b.items,
        normal: b.normal,
        errors: b.errors,
    }
}

/// The start of the period whose batches are still kept.
fn retention_start(at: Timestamp) -> Timestamp {
    Timestamp::from_unix_millis(at.unix_millis() - BATCH_RETENTION_DAYS * 86_400_000)
}

/// The institution's batches still kept, newest first.
pub async fn list_batches(
    store: &dyn Store,
    institution: &InstitutionCode,
    at: Timestamp,
) -> Result<Vec<BatchInquirySummary>, ReceptionError> {
    let batches = store
        .batch_inquiries(institution, retention_start(at))
        .await?;
    Ok(batches.iter().map(summary).collect())
}

/// One batch of the institution, with its units once done.
pub async fn get_batch(
    store: &dyn Store,
    institution: &InstitutionCode,
    reception: &str,
) -> Result<BatchInquiryResponse, ReceptionError> {
    let not_found = || {
        ReceptionError::Refused(ApiError::new(
            "batch_not_found",
            "この受付番号の一括照会はありません（結果の保存期間は7日間です）。",
            "no batch inquiry of this institution has this reception number",
        ))
    };
    let id = batch_id(reception).ok_or_else(not_found)?;
    let batch = store
        .batch_inquiry(institution, id)
        .await?
        .ok_or_else(not_found)?;
    let units = match &batch.result_json {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| ReceptionError::Store(StoreError::Corrupt(format!("batch {id}: {e}"))))?,
        None => vec![],
    };
    Ok(BatchInquiryResponse {
        summary: summary(&batch),
        units,
    })
}

/// Answers every item of a batch (in order) and stores the results. A store failure leaves
/// the batch unfinished, to be tried again.
pub async fn process_batch(
    store: &dyn Store,
    batch: &StoredBatchInquiry,
) -> Result<(), StoreError> {
    use futures_util::StreamExt;
    let request: BatchInquiryRequest = serde_json::from_str(&batch.request_json)
        .map_err(|e| StoreError::Corrupt(format!("batch {}: {e}", batch.id)))?;
    let date = request.qualification_confirmation_date.clone();
    let institution = &batch.institution;
    let units: Vec<Result<BatchConfirmUnit, StoreError>> =
        futures_util::stream::iter(request.items.into_iter().enumerate())
            .map(|(i, mut item)| {
                if item.qualification_confirmation_date.is_none() {
                    item.qualification_confirmation_date = date.clone();
                }
                async move {
                    let answer = service::check_for(
                        store,
                        institution,
                        &item,
                        service::now(),
                        AccessPurpose::EligibilityBatch,
                    )
                    .await;
                    let index = i as u32 + 1;
                    match answer {
                        Ok(response) => Ok(BatchConfirmUnit {
                            index,
                            request: item,
                            processing_result: ProcessingResult {
                                status: "1".into(),
                                ..response.processing_result.clone()
                            },
                            response: Some(response),
                            error: None,
                        }),
                        Err(CheckError::Invalid(error)) => Ok(BatchConfirmUnit {
                            index,
                            request: item,
                            processing_result: ProcessingResult {
                                status: "2".into(),
                                code: error.code.clone(),
                                message: error.message.clone(),
                                detail: error.detail.clone(),
                            },
                            response: None,
                            error: Some(error),
                        }),
                        Err(CheckError::Store(e)) => Err(e),
                    }
                }
            })
            .buffered(CONCURRENT_ITEMS)
            .collect()
            .await;
    let units = units.into_iter().collect::<Result<Vec<_>, _>>()?;
    let errors = units.iter().filter(|u| u.error.is_some()).count() as u32;
    let result_json =
        serde_json::to_string(&units).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let finished = store
        .finish_batch_inquiry(
            batch.id,
            BatchInquiryResult {
                finished_at: service::now(),
                normal: units.len() as u32 - errors,
                errors,
                result_json,
            },
        )
        .await?;
    if !finished {
        tracing::info!(
            batch = batch.id,
            "batch inquiry was finished by another node or purged"
        );
    }
    Ok(())
}

/// Hands batches to this node's worker. Cloned into the HTTP state.
#[derive(Clone, Debug)]
pub struct BatchQueue {
    tx: mpsc::UnboundedSender<(InstitutionCode, i64)>,
    /// Batches this node is working on or has queued (a sweep does not queue them again).
    active: Arc<Mutex<HashSet<i64>>>,
}

impl BatchQueue {
    /// Queues a batch unless this node already has it.
    pub fn push(&self, institution: InstitutionCode, id: i64) {
        let fresh = self
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        if fresh && self.tx.send((institution, id)).is_err() {
            tracing::warn!(
                batch = id,
                "batch worker stopped; the batch waits for a restart"
            );
        }
    }

    fn done(&self, id: i64) {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}

/// This node's batch worker and its sweep; stops when dropped.
#[derive(Debug)]
pub struct BatchWorker {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for BatchWorker {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the batch worker: it processes queued batches one at a time, resumes the store's
/// unfinished ones now, and every minute takes over those left waiting longer than
/// [`STALE_AFTER`].
pub fn start_worker(store: Arc<dyn Store>) -> (BatchQueue, BatchWorker) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(InstitutionCode, i64)>();
    let queue = BatchQueue {
        tx,
        active: Arc::new(Mutex::new(HashSet::new())),
    };
    let sweeper = {
        let store = store.clone();
        let q = queue.clone();
        tokio::spawn(async move {
            let mut first = true;
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // At start every unfinished batch is taken (this node may be the one that
                // stopped); later only those waiting too long.
                let cutoff = service::now().unix_millis() - STALE_AFTER.as_millis() as i64;
                match store.unfinished_batch_inquiries().await {
                    Ok(batches) => {
                        for b in batches {
                            if first || b.submitted_at.unix_millis() < cutoff {
                                q.push(b.institution, b.id);
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot list unfinished batches"),
                }
                first = false;
            }
        })
    };
    let q = queue.clone();
    let worker = tokio::spawn(async move {
        while let Some((institution, id)) = rx.recv().await {
            let outcome = match store.batch_inquiry(&institution, id).await {
                Ok(Some(batch)) if batch.finished_at.is_none() => {
                    process_batch(&*store, &batch).await
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            q.done(id);
            if let Err(e) = outcome {
                // Left unfinished: the sweep takes it again later.
                tracing::warn!(batch = id, error = %e, "batch inquiry not finished; will retry");
            }
        }
    });
    (
        queue,
        BatchWorker {
            tasks: vec![sweeper, worker],
        },
    )
}

/// Deletes batches past their retention.
pub async fn purge_batches(store: &dyn Store, at: Timestamp) -> Result<u64, StoreError> {
    store.purge_batch_inquiries(retention_start(at)).await
}
