//! What an institution keeps at the central besides checks: its 照会番号 (its own patient ids,
//! returned in later results) and its 一括照会 (batch inquiries, answered asynchronously).

use crate::mapping::{req_int, req_text, RowRead};
use crate::StoreError;
use kakunin_domain::{InstitutionCode, Timestamp};

/// A 照会番号 registration: the institution's own id for the person of a qualification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceNumberRegistration {
    pub institution: InstitutionCode,
    /// Store id of the qualification the numbers named.
    pub qualification_id: i64,
    /// 照会番号 (e.g. the 診察券番号), 1–50 characters, already validated.
    pub reference_number: String,
    pub registered_at: Timestamp,
}

/// A batch inquiry as submitted: its items in the API's JSON (the store keeps the document
/// and does not read it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBatchInquiry {
    pub institution: InstitutionCode,
    pub submitted_at: Timestamp,
    /// Number of items (checks) in the request.
    pub items: u32,
    pub request_json: String,
}

/// A stored batch inquiry. `finished_at` and `result_json` are set together when every item
/// was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatchInquiry {
    /// The store's id; the API's 受付番号 (ReceptionNumber) is derived from it.
    pub id: i64,
    pub institution: InstitutionCode,
    pub submitted_at: Timestamp,
    pub items: u32,
    pub request_json: String,
    pub finished_at: Option<Timestamp>,
    /// Items answered normally / with an error (0 while processing).
    pub normal: u32,
    pub errors: u32,
    pub result_json: Option<String>,
}

/// The answer of a finished batch inquiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInquiryResult {
    pub finished_at: Timestamp,
    pub normal: u32,
    pub errors: u32,
    pub result_json: String,
}

/// The columns of `batch_inquiries` read by [`batch_from`], in this order everywhere; a listing
/// selects only the first [`BATCH_SUMMARY_COLS`] (never the JSON documents).
pub(crate) const BATCH_COLS: &str =
    "id, institution_code, submitted_at_ms, items, finished_at_ms, normal, errors, request_json, result_json";
/// How many of [`BATCH_COLS`] a summary reads.
pub(crate) const BATCH_SUMMARY_COLS: usize = 7;

/// The first [`BATCH_SUMMARY_COLS`] of [`BATCH_COLS`], for a listing's SELECT.
pub(crate) fn batch_summary_cols() -> String {
    BATCH_COLS
        .split(", ")
        .take(BATCH_SUMMARY_COLS)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A batch from [`BATCH_COLS`] at column 0; with `documents` false only the summary columns
/// are read and the documents come back empty (`""` and `None`).
pub(crate) fn batch_from(
    r: &impl RowRead,
    documents: bool,
) -> Result<StoredBatchInquiry, StoreError> {
    let count = |i: usize, what: &str| -> Result<u32, StoreError> {
        u32::try_from(req_int(r, i, what)?)
            .map_err(|_| StoreError::Corrupt(format!("bad stored value in {what}")))
    };
    Ok(StoredBatchInquiry {
        id: req_int(r, 0, "id")?,
        institution: InstitutionCode::parse(&req_text(r, 1, "institution_code")?)
            .map_err(|_| StoreError::Corrupt("bad stored value in institution_code".into()))?,
        submitted_at: Timestamp::from_unix_millis(req_int(r, 2, "submitted_at_ms")?),
        items: count(3, "items")?,
        finished_at: r.int(4)?.map(Timestamp::from_unix_millis),
        normal: count(5, "normal")?,
        errors: count(6, "errors")?,
        request_json: if documents {
            req_text(r, 7, "request_json")?
        } else {
            String::new()
        },
        result_json: if documents { r.text(8)? } else { None },
    })
}
