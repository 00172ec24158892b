//! Explicit conversions between wire types and domain types.

use crate::dto::*;
use kakunin_domain::text::half_width_trimmed;
use kakunin_domain::*;

impl ApiError {
    pub fn new(code: &str, message: &str, detail: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            detail: detail.into(),
            field: None,
        }
    }
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.into());
        self
    }
}

/// A validated eligibility check.
#[derive(Debug, Clone)]
pub struct CheckInput {
    pub card: CardIdentity,
    pub birthdate: Date,
    pub date: Option<Date>,
    pub limit_consent: bool,
}

fn id_error(field: &str, label: &str, e: &IdError) -> ApiError {
    ApiError::new(
        &format!("invalid_{field}"),
        &format!("{label}が正しくありません"),
        format!("{field}: {e}"),
    )
    .with_field(field)
}

fn date_error(field: &str, label: &str, e: &DateError) -> ApiError {
    ApiError::new(
        &format!("invalid_{field}"),
        &format!("{label}が正しくありません（YYYYMMDD）"),
        format!("{field}: {e}"),
    )
    .with_field(field)
}

/// Validates a check request into domain values; the error names the field.
/// The card identity of a request's insurer number, 記号, 番号 and 枝番, or the error for the
/// first field at fault.
pub fn card_input(
    insurer_number: &str,
    symbol: Option<&str>,
    number: &str,
    branch: Option<&str>,
) -> Result<CardIdentity, ApiError> {
    let insurer = InsurerNumber::parse(insurer_number)
        .map_err(|e| id_error("insurer_number", "保険者番号", &e))?;
    let symbol = symbol
        .filter(|s| !s.trim().is_empty())
        .map(CardSymbol::parse)
        .transpose()
        .map_err(|e| id_error("symbol", "記号", &e))?;
    let number = CardNumber::parse(number).map_err(|e| id_error("number", "番号", &e))?;
    let branch = branch
        .filter(|s| !s.trim().is_empty())
        .map(Branch::parse)
        .transpose()
        .map_err(|e| id_error("branch", "枝番", &e))?;
    CardIdentity::new(insurer, symbol, number, branch).map_err(|e| match e {
        IdError::SymbolNotAllowed => id_error("symbol", "記号", &e),
        e => id_error("number", "番号", &e),
    })
}

/// A `yyyyMMdd` request field (full-width digits and spaces tolerated).
pub fn date_input(value: &str, field: &str, label: &str) -> Result<Date, ApiError> {
    Date::parse(&half_width_trimmed(value)).map_err(|e| date_error(field, label, &e))
}

/// The instant of a JST `yyyyMMddHHmmss`.
pub fn timestamp_input(value: &str) -> Option<kakunin_domain::Timestamp> {
    kakunin_domain::Timestamp::parse_jst_compact(value.trim())
}

pub fn check_input(r: &EligibilityCheckRequest) -> Result<CheckInput, ApiError> {
    let card = card_input(
        &r.insurer_number,
        r.symbol.as_deref(),
        &r.number,
        r.branch.as_deref(),
    )?;
    let birthdate = date_input(&r.birthdate, "birthdate", "生年月日")?;
    let date = r
        .qualification_confirmation_date
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| Date::parse(&half_width_trimmed(s)))
        .transpose()
        .map_err(|e| date_error("qualification_confirmation_date", "資格確認日", &e))?;
    let limit_consent = match r
        .limit_application_certificate_related_cons_flg
        .as_deref()
        .map(str::trim)
    {
        None | Some("") | Some("0") => false,
        Some("1") => true,
        Some(other) => {
            return Err(ApiError::new(
                "invalid_limit_application_certificate_related_cons_flg",
                "限度額適用認定証提供同意フラグが正しくありません",
                format!(
                    "limit_application_certificate_related_cons_flg must be 0 or 1, got {other:?}"
                ),
            )
            .with_field("limit_application_certificate_related_cons_flg"))
        }
    };
    Ok(CheckInput {
        card,
        birthdate,
        date,
        limit_consent,
    })
}

fn opt(d: Option<Date>) -> Option<String> {
    d.map(Date::compact)
}

/// The result record for one qualification, as of `on`. 限度額 and 特定疾病 information is
/// included only with the patient's consent, and only certificates valid on `on`.
pub fn qualification_result(
    q: &Qualification,
    on: Date,
    limit_consent: bool,
) -> QualificationResult {
    QualificationResult {
        card_classification: q.card_classification.code().into(),
        insurer_number: q.card.insurer.as_str().into(),
        symbol: q.card.symbol.as_ref().map(|s| s.raw().into()),
        number: q.card.number.raw().into(),
        branch: q.card.branch.map(|b| b.as_str().into()),
        relationship: q.relationship.code().into(),
        insured_name: q.insured_name.clone(),
        name: q.name.clone(),
        name_kana: q.name_kana.clone(),
        sex: q.sex.code().into(),
        birthdate: q.birthdate.compact(),
        address: q.address.clone(),
        post_number: q.post_number.clone(),
        qualification_date: q.qualification_date.compact(),
        disqualification_date: opt(q.disqualification_date),
        disqualification_reason: q.loss_reason.map(|r| r.code().into()),
        card_issue_date: opt(q.card_issue_date),
        card_valid_from: opt(q.card_valid_from),
        card_valid_until: opt(q.card_valid_until),
        copay_ratio: q.copay_on(on).code(),
        preschool: q.is_preschool_on(on).then(|| "1".into()),
        insurer_name: q.insurer_name.clone(),
        elderly_certificate: q.elderly.as_ref().filter(|e| e.is_valid_on(on)).map(|e| {
            ElderlyCertificateInfo {
                issue_date: opt(e.issued),
                valid_from: e.valid_from.compact(),
                valid_until: opt(e.valid_until),
                copay_ratio: e.copay_ratio.code(),
            }
        }),
        limit_consent_flag: if limit_consent { "1" } else { "0" }.into(),
        limit_certificate: q
            .limit
            .as_ref()
            .filter(|l| limit_consent && l.is_valid_on(on))
            .map(|l| LimitCertificateInfo {
                classification: l.classification.code().into(),
                bracket: l.bracket.code().into(),
                bracket_label: l.bracket.label().into(),
                issue_date: opt(l.issued),
                valid_from: l.valid_from.compact(),
                valid_until: opt(l.valid_until),
                long_term_date: opt(l.long_term_date),
            }),
        specific_disease_certificates: q
            .specific_diseases
            .iter()
            .filter(|s| limit_consent && s.is_valid_on(on))
            .map(|s| SpecificDiseaseCertificateInfo {
                disease_category: s.disease.code().into(),
                issue_date: opt(s.issued),
                valid_from: s.valid_from.compact(),
                valid_until: opt(s.valid_until),
                self_pay: s.self_pay_yen.to_string(),
            })
            .collect(),
        reference_number: None,
    }
}

/// The processing result for a validity outcome: stable code, Japanese message, English detail.
pub fn processing_result(
    validity: Validity,
    results: &[QualificationResult],
    on: Date,
) -> ProcessingResult {
    let (code, message, detail) = match validity {
        Validity::Valid => (
            "ok",
            "資格は有効です。",
            "One qualification matched and is in effect on the confirmation date.",
        ),
        Validity::Invalid => {
            let lost = results
                .first()
                .and_then(|r| r.disqualification_date.as_deref())
                .is_some_and(|d| d <= on.compact().as_str());
            if lost {
                (
                    "disqualified",
                    "資格を喪失しています。新しい保険証・資格確認書をご確認ください。",
                    "The qualification matched but was lost before the confirmation date.",
                )
            } else {
                (
                    "not_yet_qualified",
                    "資格取得日より前の日付です。資格確認日をご確認ください。",
                    "The qualification matched but starts after the confirmation date.",
                )
            }
        }
        Validity::InvalidNewerExists => (
            "newer_qualification",
            "資格を喪失しています（新しい資格があります）。",
            "The qualification was lost and the person holds a newer one.",
        ),
        Validity::NotFound => (
            "not_found",
            "該当する資格がありません。保険者番号・記号・番号・枝番・生年月日をご確認ください。",
            "No qualification matches the card numbers and birth date.",
        ),
        Validity::Multiple => (
            "multiple",
            "複数の資格が該当しました。枝番を入力して再度照会してください。",
            "Several people match; give the branch number to tell them apart.",
        ),
    };
    ProcessingResult {
        status: "1".into(),
        code: code.into(),
        message: message.into(),
        detail: detail.into(),
    }
}

/// One category's consent as a result carries it.
pub fn consent_flag(category: ConsentCategory, state: ConsentState) -> ConsentFlag {
    let (consented_at, available_until) = match state {
        ConsentState::None => (None, None),
        ConsentState::Valid {
            given_at,
            expires_at,
        }
        | ConsentState::Expired {
            given_at,
            expires_at,
        } => (Some(given_at.jst_compact()), Some(expires_at.jst_compact())),
    };
    ConsentFlag {
        category: category.code().into(),
        element: category.oqs_flag_element().into(),
        flag: state.flag().into(),
        consented_at,
        available_until,
    }
}

/// An access-log entry for operators.
pub fn access_record(id: i64, e: &AccessLogEntry) -> AccessLogRecord {
    AccessLogRecord {
        id,
        at: e.at.jst_rfc3339(),
        institution_code: e.institution.as_str().into(),
        purpose: e.purpose.code().into(),
        qualification_ids: e.qualification_ids.clone(),
        result: e.result.code(),
        processing_code: e.processing_code.clone(),
        category: e.information.map(|i| i.category.code().into()),
        period_from: e.information.map(|i| i.from.compact()),
        period_to: e.information.map(|i| i.to.compact()),
        basis: e.information.map(|i| i.basis.code().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> EligibilityCheckRequest {
        EligibilityCheckRequest {
            insurer_number: "06139992".into(),
            symbol: Some("１２３".into()),
            number: "4567".into(),
            branch: Some("01".into()),
            birthdate: "19800101".into(),
            qualification_confirmation_date: None,
            limit_application_certificate_related_cons_flg: None,
        }
    }

    #[test]
    fn bad_requests_name_their_field() {
        type Change = fn(&mut EligibilityCheckRequest);
        let cases: Vec<(Change, &str)> = vec![
            (|r| r.insurer_number = "06139993".into(), "insurer_number"),
            (|r| r.number = "".into(), "number"),
            (|r| r.branch = Some("123".into()), "branch"),
            (|r| r.birthdate = "19800230".into(), "birthdate"),
            (
                |r| r.qualification_confirmation_date = Some("2026".into()),
                "qualification_confirmation_date",
            ),
            (
                |r| r.limit_application_certificate_related_cons_flg = Some("2".into()),
                "limit_application_certificate_related_cons_flg",
            ),
        ];
        for (change, field) in cases {
            let mut r = req();
            change(&mut r);
            let e = check_input(&r).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field));
            assert!(!e.message.is_ascii(), "message is Japanese");
        }
        assert!(check_input(&req()).is_ok());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = serde_json::from_str::<EligibilityCheckRequest>(
            r#"{"insurer_number":"06139992","number":"1","birthdate":"19800101","name":"x"}"#,
        );
        assert!(e.is_err());
    }
}
