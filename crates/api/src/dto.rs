//! JSON bodies of the central API.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An error answer. `message` is short Japanese for reception staff; `detail` is English for the
/// vendor; `code` is stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub detail: String,
    /// The request field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// An eligibility check by insurance numbers (照会区分 2, like `OQSsiquc01req`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EligibilityCheckRequest {
    /// 保険者番号: 8 digits, or 6 for 国保 (space- or zero-padded to 8 accepted).
    #[schema(example = "06139992")]
    pub insurer_number: String,
    /// 被保険者証記号, omitted when the card has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// 被保険者証番号.
    pub number: String,
    /// 被保険者証枝番 (2 digits). When omitted, every family member with the birth date matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// 生年月日 `yyyyMMdd`.
    #[schema(example = "19800101")]
    pub birthdate: String,
    /// 資格確認日 `yyyyMMdd`; default today in Japan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification_confirmation_date: Option<String>,
    /// 限度額適用認定証提供同意フラグ: `1` consent, `0` (default) none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_application_certificate_related_cons_flg: Option<String>,
}

/// The answer to an eligibility check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EligibilityCheckResponse {
    /// 資格有効性: `1` 有効, `2` 無効, `3` 無効（新しい資格あり）, `4` 該当資格なし, `5` 複数該当.
    pub validity: String,
    /// Japanese label of `validity`.
    pub validity_label: String,
    /// 照会区分: `1` マイナンバーカード, `2` 被保険者証情報.
    pub reference_classification: String,
    /// 資格確認日 `yyyyMMdd` the answer is for.
    pub qualification_confirmation_date: String,
    /// 処理実行日時 `yyyyMMddHHmmss` (JST).
    pub process_execution_time: String,
    pub results: Vec<QualificationResult>,
    pub processing_result: ProcessingResult,
    /// Card checks only: the user-auth certificate expires soon or expired (still usable for 3
    /// months); show the message to the patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_notice: Option<CertificateNotice>,
    /// Card checks only: a fresh nonce for this institution's next card check (like HTTP
    /// Digest's `nextnonce`), so a busy terminal needs one round trip per check. Single use and
    /// short-lived like any other nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_nonce: Option<CardNonce>,
    /// Card checks only: every consent category with its state for this institution.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consents: Vec<ConsentFlag>,
}

/// A renewal alert about the card's certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificateNotice {
    /// `certificate_expires_soon` or `certificate_expired_in_grace`.
    pub code: String,
    /// For the patient, Japanese.
    pub message: String,
    /// The certificate's last valid day, `yyyyMMdd`.
    pub not_after: String,
}

/// `POST /v1/card-checks/nonce`: a single-use challenge bound to the calling institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CardNonce {
    pub nonce: String,
    /// RFC 3339 (JST); after this the nonce is refused.
    pub expires_at: String,
}

/// How the person at the reader proved they hold the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum CardProof {
    /// 暗証番号: the card signed the challenge (`card_challenge`) with its user-auth key after
    /// the PIN was verified. Base64 of the 256-byte RSA signature.
    Pin { signature: String },
    /// 顔認証 on the terminal: the terminal's device key signed `attestation_message`.
    Face {
        /// Base64 DER of the terminal's device certificate (kakunin CA, role `terminal`).
        device_certificate: String,
        /// Base64 ECDSA P-256 SHA-256 signature (ASN.1 DER).
        signature: String,
    },
    /// 目視確認 by reception staff, attested the same way.
    Visual {
        device_certificate: String,
        signature: String,
    },
}

impl CardProof {
    pub fn method(&self) -> &'static str {
        match self {
            Self::Pin { .. } => "pin",
            Self::Face { .. } => "face",
            Self::Visual { .. } => "visual",
        }
    }
}

/// `POST /v1/card-checks`: an eligibility check with the My Number card (照会区分 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardCheckRequest {
    /// Base64 DER of the card's 利用者証明用電子証明書 (read from the card without a PIN).
    pub certificate: String,
    /// From `POST /v1/card-checks/nonce`, unused.
    pub nonce: String,
    pub proof: CardProof,
    /// 限度額適用認定証提供同意フラグ: `1` consent, `0` (default) none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_application_certificate_related_cons_flg: Option<String>,
    /// Categories the patient consented to on the reader's screen just now (画面④⑥):
    /// `medications`, `treatments`, `surgeries`, `checkups` (offered from age 40), `limit`.
    /// Each is recorded for this institution, valid 24 hours.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consents: Vec<String>,
}

/// `POST /v1/card-checks/offline`: the later check of a card visit the terminal recorded while
/// the central could not be reached. At the visit the card signed
/// `card_challenge(offline_nonce(医療機関コード, visited_at, visit_id))` after its PIN (or the
/// terminal attested a 目視確認 over that challenge). Accepted once per visit, within 7 days;
/// answered as of the visit's date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfflineCardCheckRequest {
    /// Base64 DER of the card's 利用者証明用電子証明書, as read at the visit.
    pub certificate: String,
    /// The terminal's id of the visit: 16–64 letters, digits or hyphens.
    pub visit_id: String,
    /// 受付日時 `yyyyMMddHHmmss` (JST).
    pub visited_at: String,
    pub proof: CardProof,
}

/// One category's consent as the result carries it (like the `…ConsFlg` / `…ConsTime` /
/// `…AvailableTime` elements of `ResultOfQualificationConfirmation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsentFlag {
    /// `medications`, `treatments`, `surgeries`, `checkups` or `limit`.
    pub category: String,
    /// The OQS element, e.g. `PharmacistsInfoConsFlg`.
    pub element: String,
    /// `0` 同意なし, `1` 同意あり, `2` 同意有効期限切れ.
    pub flag: String,
    /// 同意日時 `yyyyMMddHHmmss` (JST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consented_at: Option<String>,
    /// 有効期限 `yyyyMMddHHmmss` (JST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_until: Option<String>,
}

/// `POST /v1/card-consents`: the consents a patient gave on the reader's screens (④ 診療・薬剤,
/// 特定健診 from age 40; ⑥ 限度額) after the card check, proven again with the card over a
/// fresh nonce (the check answer's `next_nonce`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardConsentRequest {
    pub certificate: String,
    pub nonce: String,
    pub proof: CardProof,
    /// `medications`, `treatments`, `surgeries`, `checkups`, `limit`; each valid 24 hours.
    pub consents: Vec<String>,
}

/// The answer to `POST /v1/card-consents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CardConsentResponse {
    /// Every category's flag after this registration.
    pub consents: Vec<ConsentFlag>,
    /// A nonce for the next card request of this institution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_nonce: Option<CardNonce>,
}

/// `POST /v1/card-registrations`: 利用登録 (PIN proof only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardRegistrationRequest {
    pub certificate: String,
    pub nonce: String,
    pub proof: CardProof,
}

/// The answer to a 利用登録.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CardRegistrationResponse {
    /// True when this request registered the card; false when it was registered before.
    pub newly_registered: bool,
    /// For the patient, Japanese.
    pub message: String,
}

/// One link review as operators see it: ids, the attributes that differed, the last 4 digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LinkReviewRecord {
    pub id: i64,
    pub qualification_id: i64,
    pub insurer_number: String,
    pub import_id: i64,
    /// RFC 3339, JST.
    pub created_at: String,
    /// Attribute codes that did not match: `individual_number`, `name`, `name_kana`,
    /// `birthdate`, `sex`, `address`.
    pub mismatched: Vec<String>,
    /// Japanese labels of the same.
    pub mismatched_labels: Vec<String>,
    pub number_last4: String,
    /// `open`, `resolved_by_import` or `dismissed`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `POST /v1/admin/link-reviews/dismiss`: close a review without linking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DismissLinkReviewRequest {
    pub id: i64,
    /// Why (kept with the review).
    pub note: String,
}

/// 処理結果: status `1` 正常終了 / `2` エラー, a stable code and the two messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProcessingResult {
    pub status: String,
    pub code: String,
    pub message: String,
    pub detail: String,
}

/// One `ResultOfQualificationConfirmation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QualificationResult {
    /// 被保険者証区分 `01`–`07`.
    pub card_classification: String,
    pub insurer_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// 本人・家族の別: `1` 本人, `2` 家族.
    pub relationship: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_name: Option<String>,
    /// Full-width name.
    pub name: String,
    /// Half-width katakana.
    pub name_kana: String,
    /// `1` 男, `2` 女, `3` 未設定.
    pub sex: String,
    pub birthdate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_number: Option<String>,
    pub qualification_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disqualification_date: Option<String>,
    /// 資格喪失事由 `01`, `02`, `03`, `99`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disqualification_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_issue_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_valid_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_valid_until: Option<String>,
    /// 一部負担金割合, 3-digit percent (`030` = 3割), on the confirmation date.
    pub copay_ratio: String,
    /// 未就学区分 `1` when the person is preschool on the confirmation date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preschool: Option<String>,
    pub insurer_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elderly_certificate: Option<ElderlyCertificateInfo>,
    /// 限度額適用認定証提供同意フラグ as given in the request (`0`/`1`).
    pub limit_consent_flag: String,
    /// Only with consent, and only when valid on the confirmation date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_certificate: Option<LimitCertificateInfo>,
    /// Only with consent; those valid on the confirmation date.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub specific_disease_certificates: Vec<SpecificDiseaseCertificateInfo>,
    /// 照会番号: the calling institution's own id for this person, when it registered one
    /// (`POST /v1/reference-numbers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
}

/// 高齢受給者証情報.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ElderlyCertificateInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_date: Option<String>,
    pub valid_from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    pub copay_ratio: String,
}

/// 限度額適用認定証関連情報.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LimitCertificateInfo {
    /// `01`–`03`.
    pub classification: String,
    /// 適用区分 `A01`–`A06`, `B01`–`B10`.
    pub bracket: String,
    pub bracket_label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_date: Option<String>,
    pub valid_from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_term_date: Option<String>,
}

/// 特定疾病療養受療証情報.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SpecificDiseaseCertificateInfo {
    /// 特定疾病区分 `1`–`3`.
    pub disease_category: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_date: Option<String>,
    pub valid_from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// 自己負担限度額 (yen per month).
    pub self_pay: String,
}

/// The report of a roster import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RosterImportReport {
    /// True when the roster was written.
    pub accepted: bool,
    /// `UTF-8` or `Shift_JIS`, when the file could be decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Data rows read (valid or not).
    pub rows: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Rows left out (partial mode only).
    pub skipped: u64,
    /// Rows linked to a person (the authority confirmed the 個人番号's 4 attributes).
    #[serde(default)]
    pub linked: u64,
    /// Rows whose 個人番号 did not match: sent to the link review queue, not shown by card.
    #[serde(default)]
    pub link_reviews: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_id: Option<i64>,
    pub errors: Vec<RosterLineError>,
}

/// One problem in a roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RosterLineError {
    /// 1-based line (the header is line 1); 0 for the whole file.
    pub line: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

/// One access-log entry as operators see it (no names: ids only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccessLogRecord {
    pub id: i64,
    /// RFC 3339, JST.
    pub at: String,
    pub institution_code: String,
    pub purpose: String,
    pub qualification_ids: Vec<i64>,
    pub result: String,
    pub processing_code: String,
    /// For information reads: `medications`, `treatments`, `surgeries` or `checkups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// For information reads: the period asked for, `yyyyMMdd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_to: Option<String>,
    /// For information reads: `consent`, `emergency` or `visual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
}

/// The store as operators see it: backend and nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoreStatusInfo {
    /// `sqlite` or `postgres`.
    pub backend: String,
    pub nodes: Vec<StoreNodeInfo>,
}

/// One database node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoreNodeInfo {
    /// `host:port/db` (never credentials) or the SQLite file.
    pub name: String,
    /// `primary`, `replica` or `unreachable`.
    pub role: String,
    pub lag_ms: u64,
    /// Eligibility reads served.
    pub reads: u64,
}
