//! 災害時モード bodies: declarations (operators) and searches without a card (institutions).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/admin/emergencies`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclarationRequest {
    /// 都道府県番号 (`13`) or 市区町村コード (5 digits, `13101`), one or more.
    pub areas: Vec<String>,
    /// Start `yyyyMMddHHmmss` (JST); default now.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// End `yyyyMMddHHmmss` (JST), at most 30 days after the start.
    pub ends_at: String,
    /// The disaster, as patients will read it (e.g. 「令和8年〇〇地震」).
    pub reason: String,
}

/// A declaration as operators and institutions see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeclarationRecord {
    pub id: i64,
    pub areas: Vec<String>,
    /// RFC 3339, JST.
    pub starts_at: String,
    pub ends_at: String,
    pub reason: String,
    pub declared_by: String,
    pub declared_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// In force now.
    pub active: bool,
}

/// Whom an emergency request is about: the 4 attributes, or insurance numbers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyPerson {
    /// 氏名 (full-width or half-width; spaces ignored).
    #[serde(default)]
    pub name: Option<String>,
    /// `1` 男, `2` 女, `3` 未設定.
    #[serde(default)]
    pub sex: Option<String>,
    /// 生年月日 `yyyyMMdd` (always required).
    pub birthdate: String,
    /// 住所 (the beginning is enough; it narrows the search).
    #[serde(default)]
    pub address: Option<String>,
    /// Or the insurance numbers.
    #[serde(default)]
    pub insurer_number: Option<String>,
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
}

/// `POST /v1/emergency/check` and `/v1/emergency/medical/{category}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyRequest {
    pub person: EmergencyPerson,
    /// `verbal` (the patient agreed orally) or `life_protection` (同意なし（生命保護）: the
    /// patient cannot answer and the information is needed to protect their life).
    pub consent: String,
}
