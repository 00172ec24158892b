//! Operators' bodies: monthly usage in the form MHLW publishes it, data freshness per insurer,
//! and the institution registry.

use crate::dto::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One month's (or one institution type's) usage.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct UsageFigures {
    /// オンライン資格確認の件数: eligibility answers by card and by insurance numbers.
    pub checks: u64,
    /// マイナ保険証 (My Number card) checks, offline card visits checked later included.
    pub by_card: u64,
    /// 保険証等 (insurance numbers) checks, 一括照会 items included.
    pub by_numbers: u64,
    /// Of `by_numbers`, 一括照会 items.
    pub batch: u64,
    /// マイナ保険証利用率: `by_card` / `checks` in percent with two decimals (`"37.14"`),
    /// rounded half up; absent without checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_share_percent: Option<String>,
    /// Checks refused (by card or numbers): not counted in `checks`.
    pub refused_checks: u64,
    /// 災害時 checks without a card: not counted in `checks`.
    pub emergency_checks: u64,
    /// 薬剤情報 views (shown, even when there was nothing to show; 災害時 views included).
    pub medications: u64,
    /// 診療情報 views, 手術情報 views included (MHLW counts 手術 under 診療情報).
    pub treatments: u64,
    /// Of `treatments`, 手術情報 views.
    pub surgeries: u64,
    /// 特定健診情報 views.
    pub checkups: u64,
    /// Information views refused (no consent, blocked, no check today, …).
    pub refused_views: u64,
    /// マイナ保険証の利用登録 made at institutions.
    pub card_registrations: u64,
}

/// The usage of one institution type (MHLW's 病院 / 医科診療所 / 歯科 / 薬局).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KindUsage {
    /// `hospital`, `medical_clinic`, `dental` or `pharmacy`.
    pub kind: String,
    /// 病院, 医科診療所, 歯科, 薬局.
    pub label: String,
    /// Institutions of this type with at least one entry in the month.
    pub institutions: u64,
    pub figures: UsageFigures,
}

/// One month's totals, for the trend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MonthTotals {
    /// `yyyyMM`.
    pub month: String,
    pub checks: u64,
    pub by_card: u64,
    pub by_numbers: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_share_percent: Option<String>,
}

/// `GET /v1/admin/statistics?month=yyyyMM`: a month's usage, as MHLW publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageStatistics {
    /// `yyyyMM` (JST).
    pub month: String,
    /// The month is `[from, to)`, RFC 3339 in JST.
    pub from: String,
    pub to: String,
    /// Whether the month is over (else the figures are so far).
    pub complete: bool,
    pub total: UsageFigures,
    /// Always the four types, in MHLW's order. An institution's type is the registry's when it
    /// is registered, else what its 医療機関コード says (医科 codes count as 医科診療所).
    pub by_kind: Vec<KindUsage>,
    /// The 12 months before `month` and `month` itself, oldest first.
    pub trend: Vec<MonthTotals>,
}

/// A lag summary in days (nearest-rank percentiles of the newest rows, at most 1,000).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LagRecord {
    /// Rows measured.
    pub sampled: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90_days: Option<i64>,
}

/// How fresh one insurer's data is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InsurerFreshnessRecord {
    pub insurer_number: String,
    /// The newest roster import that carried the insurer's rows, RFC 3339 JST; absent when
    /// the insurer never sent one itself and no other import wrote its rows in the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_import_at: Option<String>,
    /// Whole days from `last_import_at` to now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_since_import: Option<i64>,
    /// Imports in the period that carried the insurer's rows.
    pub imports: u64,
    /// Qualification versions written in the period (new qualifications and changes).
    pub rows: u64,
    /// From 資格取得日 to the import that brought the new qualification (0 when sent ahead).
    pub acquired: LagRecord,
    /// From 資格喪失日 to the import that first carried it.
    pub lost: LagRecord,
}

/// `GET /v1/admin/freshness?days=N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FreshnessReport {
    /// The period: the last `days` days, from `since` (RFC 3339 JST).
    pub days: u32,
    pub since: String,
    /// Every insurer with qualifications, by number.
    pub insurers: Vec<InsurerFreshnessRecord>,
}

/// `POST /v1/admin/institutions`: register an institution or replace its registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstitutionRequest {
    /// 医療機関コード (10 digits with the check digit).
    #[schema(example = "1310000010")]
    pub code: String,
    /// 医療機関名 as patients will read it in their access log (1–100 characters).
    pub name: String,
    /// `hospital` (病院), `medical_clinic` (医科診療所), `dental` (歯科) or `pharmacy` (薬局);
    /// it must fit the code's 点数表 digit (1 医科, 3 歯科, 4 調剤).
    pub kind: String,
    /// 市区町村コード (5 digits) in the code's prefecture, when known (災害時 areas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub municipality: Option<String>,
}

/// A registered institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InstitutionRecord {
    pub code: String,
    pub name: String,
    pub kind: String,
    /// 病院, 医科診療所, 歯科 or 薬局.
    pub kind_label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub municipality: Option<String>,
    /// 都道府県番号 (the code's first two digits).
    pub prefecture: String,
}

/// The record of a registered institution.
pub fn institution_record(i: &kakunin_domain::Institution) -> InstitutionRecord {
    InstitutionRecord {
        code: i.code.as_str().to_string(),
        name: i.name.clone(),
        kind: i.kind.code().to_string(),
        kind_label: i.kind.label().to_string(),
        municipality: i.municipality.clone(),
        prefecture: i.prefecture().to_string(),
    }
}

/// Longest institution name (characters).
pub const INSTITUTION_NAME_MAX_CHARS: usize = 100;

/// A validated registration: the code's check digit, a name, a kind that fits the code's
/// 点数表 digit, and a municipality in the code's prefecture. Full-width digits are accepted.
pub fn institution_input(r: &InstitutionRequest) -> Result<kakunin_domain::Institution, ApiError> {
    use kakunin_domain::text::half_width_trimmed as digits;
    use kakunin_domain::{InstitutionCode, InstitutionKind};
    let code = InstitutionCode::parse(&digits(&r.code)).map_err(|e| {
        ApiError::new(
            "invalid_institution_code",
            "医療機関コードが正しくありません（10桁、検証番号を含む）。",
            format!("code: {e}"),
        )
        .with_field("code")
    })?;
    let name = r.name.trim();
    if name.is_empty()
        || name.chars().count() > INSTITUTION_NAME_MAX_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::new(
            "invalid_name",
            "医療機関名を100文字以内で入力してください。",
            "name must be 1-100 characters without control characters",
        )
        .with_field("name"));
    }
    let kind = InstitutionKind::parse(r.kind.trim()).ok_or_else(|| {
        ApiError::new(
            "invalid_kind",
            "種別は病院・医科診療所・歯科・薬局のいずれかを選んでください。",
            "kind must be hospital, medical_clinic, dental or pharmacy",
        )
        .with_field("kind")
    })?;
    let by_code = InstitutionKind::from_code(&code);
    let fits = match by_code {
        InstitutionKind::Dental | InstitutionKind::Pharmacy => kind == by_code,
        _ => matches!(
            kind,
            InstitutionKind::Hospital | InstitutionKind::MedicalClinic
        ),
    };
    if !fits {
        return Err(ApiError::new(
            "kind_mismatch",
            "種別が医療機関コードの点数表番号（3桁目: 1 医科、3 歯科、4 調剤）と合いません。",
            format!(
                "kind {} does not fit the code's 点数表 digit (it says {})",
                kind.code(),
                by_code.code()
            ),
        )
        .with_field("kind"));
    }
    let municipality = r
        .municipality
        .as_deref()
        .map(digits)
        .filter(|m| !m.is_empty());
    if let Some(m) = &municipality {
        if m.len() != 5 || !m.bytes().all(|b| b.is_ascii_digit()) || m[..2] != code.as_str()[..2] {
            return Err(ApiError::new(
                "invalid_municipality",
                "市区町村コードは医療機関コードと同じ都道府県の5桁で入力してください。",
                "municipality must be 5 digits starting with the code's 2-digit prefecture",
            )
            .with_field("municipality"));
        }
    }
    Ok(kakunin_domain::Institution {
        code,
        name: name.to_string(),
        kind,
        municipality,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        code: &str,
        name: &str,
        kind: &str,
        municipality: Option<&str>,
    ) -> InstitutionRequest {
        InstitutionRequest {
            code: code.into(),
            name: name.into(),
            kind: kind.into(),
            municipality: municipality.map(str::to_string),
        }
    }

    #[test]
    fn institution_registrations_are_checked() {
        let code = |body: &str| kakunin_domain::check_digit::complete(body).unwrap();
        let clinic = code("131000001");
        let dental = code("133000001");
        let pharmacy = code("134000001");
        let ok = |r: InstitutionRequest| institution_input(&r).map(|i| institution_record(&i));
        let record = ok(request(
            &clinic,
            " かくにん病院 ",
            "hospital",
            Some("13101"),
        ))
        .unwrap();
        assert_eq!(
            (
                record.name.as_str(),
                record.kind_label.as_str(),
                record.prefecture.as_str()
            ),
            ("かくにん病院", "病院", "13")
        );
        // Full-width digits are folded; an empty municipality is none.
        let wide: String = clinic
            .chars()
            .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap())
            .collect();
        let record = ok(request(&wide, "医院", "medical_clinic", Some(""))).unwrap();
        assert_eq!((record.code, record.municipality), (clinic.clone(), None));
        assert!(ok(request(&dental, "歯科", "dental", None)).is_ok());
        assert!(ok(request(&pharmacy, "薬局", "pharmacy", Some("13999"))).is_ok());
        let refused = |r: InstitutionRequest| institution_input(&r).unwrap_err();
        let last = clinic.as_bytes()[9] - b'0';
        let bad_digit = format!("{}{}", &clinic[..9], (last + 1) % 10);
        for (r, code, field) in [
            (
                request(&bad_digit, "x", "hospital", None),
                "invalid_institution_code",
                "code",
            ),
            (
                request("", "x", "hospital", None),
                "invalid_institution_code",
                "code",
            ),
            (
                request(&clinic, " ", "hospital", None),
                "invalid_name",
                "name",
            ),
            (
                request(&clinic, &"あ".repeat(101), "hospital", None),
                "invalid_name",
                "name",
            ),
            (
                request(&clinic, "a\u{7}b", "hospital", None),
                "invalid_name",
                "name",
            ),
            (
                request(&clinic, "x", "clinic", None),
                "invalid_kind",
                "kind",
            ),
            (
                request(&clinic, "x", "pharmacy", None),
                "kind_mismatch",
                "kind",
            ),
            (
                request(&dental, "x", "medical_clinic", None),
                "kind_mismatch",
                "kind",
            ),
            (
                request(&pharmacy, "x", "hospital", None),
                "kind_mismatch",
                "kind",
            ),
            (
                request(&clinic, "x", "hospital", Some("27100")),
                "invalid_municipality",
                "municipality",
            ),
            (
                request(&clinic, "x", "hospital", Some("1310")),
                "invalid_municipality",
                "municipality",
            ),
            (
                request(&clinic, "x", "hospital", Some("13a01")),
                "invalid_municipality",
                "municipality",
            ),
        ] {
            let e = refused(r);
            assert_eq!((e.code.as_str(), e.field.as_deref()), (code, Some(field)));
            assert!(!e.message.is_ascii(), "a Japanese message: {}", e.message);
        }
    }
}

/// Why a client certificate is revoked: RFC 5280's reasons that apply to ours (code, label).
pub const REVOCATION_REASONS: &[(&str, &str)] = &[
    ("key_compromise", "秘密鍵の漏えい・紛失"),
    ("affiliation_changed", "廃止・移転（所属の変更）"),
    ("superseded", "再発行による置き換え"),
    ("cessation_of_operation", "業務の終了"),
    ("unspecified", "その他"),
];

/// The kinds of client certificate (the role in the subject's OU) and their labels.
pub const CERTIFICATE_KINDS: &[(&str, &str)] = &[
    ("institution", "医療機関"),
    ("insurer", "保険者"),
    ("terminal", "資格確認端末"),
    ("admin", "運用者"),
];

/// A client certificate in the registry (admin): issued through the API, or issued elsewhere
/// and recorded when first used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificateRecord {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// `institution`, `insurer`, `terminal` or `admin`.
    pub kind: String,
    /// 医療機関, 保険者, 資格確認端末 or 運用者.
    pub kind_label: String,
    /// 医療機関コード, 保険者番号 or the operator's id.
    pub subject: String,
    /// RFC 3339, JST.
    pub not_before: String,
    pub not_after: String,
    /// When the registry recorded it.
    pub recorded_at: String,
    /// `admin:<id>` when issued through the API; absent when recorded on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_by: Option<String>,
    /// `valid`, `expired` or `revoked`.
    pub status: String,
    /// 有効, 期限切れ or 失効.
    pub status_label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<RevocationRecord>,
}

/// When, why and by whom a certificate was revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevocationRecord {
    pub revoked_at: String,
    /// `key_compromise`, `affiliation_changed`, `superseded`, `cessation_of_operation` or
    /// `unspecified`.
    pub reason: String,
    pub reason_label: String,
    pub revoked_by: String,
}

/// A certificate to issue (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateRequest {
    /// `institution`, `insurer`, `terminal` or `admin`.
    pub kind: String,
    /// 医療機関コード (institution, terminal), 保険者番号 (insurer) or an operator id (admin).
    pub subject: String,
}

/// A certificate just issued: its record, and the PEM to hand over (the certificate, then its
/// private key; the central keeps no copy of the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuedCertificate {
    pub certificate: CertificateRecord,
    pub pem: String,
}

/// Why a certificate is revoked (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationRequest {
    pub reason: String,
}
