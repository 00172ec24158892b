//! 照会番号 registration and 一括照会 (batch inquiry) bodies.

use crate::dto::{ApiError, EligibilityCheckRequest, EligibilityCheckResponse, ProcessingResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest 照会番号 (characters), as in `OQSsiimm01req`'s `ReferenceNumber`.
pub const REFERENCE_NUMBER_MAX_CHARS: usize = 50;

/// Most checks in one batch inquiry.
pub const BATCH_MAX_ITEMS: usize = 5_000;

/// `POST /v1/reference-numbers`: 照会番号 registration (like `OQSsiimm01req`). The numbers and
/// the birth date must name exactly one qualification; the 照会番号 is then returned in this
/// institution's later results for that person (`results[].reference_number`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferenceNumberRequest {
    /// 保険者番号: 8 digits, or 6 for 国保 (space- or zero-padded to 8 accepted).
    pub insurer_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// 生年月日 `yyyyMMdd` (numbers alone never identify anyone here).
    pub birthdate: String,
    /// 照会番号: the institution's own patient id (e.g. 診察券番号), 1–50 characters, no
    /// control characters.
    #[schema(example = "0001234")]
    pub reference_number: String,
}

/// The answer to a 照会番号 registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReferenceNumberResponse {
    /// The 照会番号 now registered.
    pub reference_number: String,
    /// The number it replaced (this institution's earlier 照会番号 for the same person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<String>,
    pub processing_result: ProcessingResult,
}

/// `POST /v1/batch-inquiries`: 一括照会 (like `OQSmuquc01req`), e.g. tomorrow's appointments.
/// Answered at once with a 受付番号; the results are fetched later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchInquiryRequest {
    /// 資格確認日 `yyyyMMdd` for every item without its own (default: the day of submission
    /// in Japan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification_confirmation_date: Option<String>,
    /// The checks, 1–5,000.
    pub items: Vec<EligibilityCheckRequest>,
}

/// The answer to an upload (like `OQSmuquc01res`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchInquiryAccepted {
    /// 受付番号 (ReceptionNumber): ask for the results with it.
    pub reception_number: String,
    /// `processing`.
    pub status: String,
    pub items: u32,
    /// RFC 3339 (JST).
    pub submitted_at: String,
}

/// A batch inquiry without its results (the list of an institution's recent batches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchInquirySummary {
    pub reception_number: String,
    /// `processing` (SegmentOfResult 2) or `done` (1).
    pub status: String,
    /// RFC 3339 (JST).
    pub submitted_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// NumberOfProcessingResult.
    pub items: u32,
    /// NumberOfNormalProcessing (0 while processing).
    pub normal: u32,
    /// NumberOfError (0 while processing).
    pub errors: u32,
}

/// `GET /v1/batch-inquiries/{reception_number}` (like `OQSmuquc02res`): the summary and, once
/// done, one unit per item in the order submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchInquiryResponse {
    #[serde(flatten)]
    pub summary: BatchInquirySummary,
    /// Empty while processing.
    pub units: Vec<BatchConfirmUnit>,
}

/// One `BatchConfirmUnit`: the item as submitted and its answer or its error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchConfirmUnit {
    /// 1-based position in the request.
    pub index: u32,
    /// QualificationConfirmSearchInfo: the item as submitted (with the batch's date applied).
    pub request: EligibilityCheckRequest,
    /// ProcessingResultStatus/Code/Message: `1` when answered (any validity), `2` when the item
    /// was refused (then `error` says why).
    pub processing_result: ProcessingResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<EligibilityCheckResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}
