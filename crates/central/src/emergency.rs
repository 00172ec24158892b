//! 災害時モード (緊急時医療情報・資格確認機能): an operator declares it for prefectures or
//! municipalities and a period; institutions located there may then find a person without a
//! card, by the 4 attributes or by insurance numbers, with the patient's verbal consent or, when
//! the patient cannot give it, 同意なし（生命保護）, and see their eligibility and medical
//! information.
//!
//! Invariants (how it stays no back door): outside a declaration in force for the
//! institution's area every request is refused and logged; a search must name exactly one
//! person (several matches are refused without a list, so nothing about candidates leaks);
//! every answer and refusal is one access-log entry with the `emergency` basis and the consent
//! ground, which the person sees flagged in the portal; declarations end by themselves.

use crate::medical::{self, refusal};
use crate::service;
use kakunin_api::{
    card_input, date_input, processing_result, qualification_result, ApiError, DeclarationRecord,
    DeclarationRequest, EligibilityCheckResponse, EmergencyPerson, EmergencyRequest,
    MedicalInformationResponse,
};
use kakunin_domain::{
    AccessBasis, AccessLogEntry, AccessPurpose, AccessResult, ConsentCategory, ConsentState,
    InformationAccess, InstitutionCode, Sex, Timestamp,
};
use kakunin_store::{
    AttributeQuery, CardQuery, EmergencyDeclaration, NewEmergencyDeclaration, Store, StoreError,
    StoredQualification,
};
use std::collections::BTreeMap;

/// The longest declaration (a declaration ends by itself; extend by declaring again).
pub const MAX_DECLARATION_DAYS: i64 = 30;

/// Why an emergency request got no answer.
#[derive(Debug)]
pub enum EmergencyError {
    Invalid(ApiError),
    /// Refused (403) and logged.
    Refused(ApiError),
    /// No one, or several, match (404 / 409) and logged.
    NotIdentified(ApiError, u16),
    Store(StoreError),
}

impl From<StoreError> for EmergencyError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

fn invalid(code: &str, message: &str, detail: &str, field: &str) -> EmergencyError {
    EmergencyError::Invalid(ApiError::new(code, message, detail).with_field(field))
}

fn area_ok(a: &str) -> bool {
    (a.len() == 2 || a.len() == 5)
        && a.bytes().all(|b| b.is_ascii_digit())
        && matches!(a[..2].parse::<u8>(), Ok(1..=47))
}

/// The record of a stored declaration at `at`.
pub fn record(d: &EmergencyDeclaration, at: Timestamp) -> DeclarationRecord {
    DeclarationRecord {
        id: d.id,
        areas: d.areas.clone(),
        starts_at: d.starts_at.jst_rfc3339(),
        ends_at: d.ends_at.jst_rfc3339(),
        reason: d.reason.clone(),
        declared_by: d.declared_by.clone(),
        declared_at: d.declared_at.jst_rfc3339(),
        ended_at: d.ended_at.map(|t| t.jst_rfc3339()),
        active: d.ended_at.is_none() && d.starts_at <= at && at < d.ends_at,
    }
}

/// Declares 災害時モード (admin).
pub async fn declare(
    store: &dyn Store,
    by: &str,
    request: &DeclarationRequest,
    at: Timestamp,
) -> Result<DeclarationRecord, EmergencyError> {
    if request.areas.is_empty() || !request.areas.iter().all(|a| area_ok(a)) {
        return Err(invalid(
            "invalid_areas",
            "対象地域は都道府県番号（2桁）または市区町村コード（5桁）で指定してください。",
            "areas must be 2-digit prefecture numbers (01-47) or 5-digit municipality codes",
            "areas",
        ));
    }
    let reason = request.reason.trim();
    if reason.is_empty() || reason.chars().count() > 100 || reason.chars().any(char::is_control) {
        return Err(invalid(
            "invalid_reason",
            "災害名などの理由を100文字以内で入力してください。",
            "reason must be 1-100 characters without control characters",
            "reason",
        ));
    }
    let time = |v: &str, field: &str| {
        kakunin_api::timestamp_input(v).ok_or_else(|| {
            invalid(
                &format!("invalid_{field}"),
                "日時が正しくありません（yyyyMMddHHmmss）。",
                &format!("{field} must be yyyyMMddHHmmss (JST)"),
                field,
            )
        })
    };
    let starts_at = match &request.starts_at {
        Some(s) => time(s, "starts_at")?,
        None => at,
    };
    let ends_at = time(&request.ends_at, "ends_at")?;
    if ends_at <= starts_at
        || ends_at.unix_millis() - starts_at.unix_millis() > MAX_DECLARATION_DAYS * 86_400_000
        || ends_at <= at
    {
        return Err(invalid(
            "invalid_period",
            "期間が正しくありません（終了は開始より後、現在より後、最長30日）。",
            "ends_at must be after starts_at and now, within 30 days of the start",
            "ends_at",
        ));
    }
    let id = store
        .declare_emergency(NewEmergencyDeclaration {
            areas: request.areas.clone(),
            starts_at,
            ends_at,
            reason: reason.to_string(),
            declared_by: by.to_string(),
            declared_at: at,
        })
        .await?;
    tracing::info!(id, by, "emergency declared");
    let all = store.emergencies(1_000).await?;
    let d = all
        .iter()
        .find(|d| d.id == id)
        .ok_or_else(|| StoreError::Corrupt(format!("declaration {id} is missing")))?;
    Ok(record(d, at))
}

/// The declaration in force for an institution, if any: its prefecture (the 医療機関コード's
/// first two digits) or its registered municipality is in the declaration's areas.
async fn declaration_for(
    store: &dyn Store,
    institution: &InstitutionCode,
    at: Timestamp,
) -> Result<Option<EmergencyDeclaration>, StoreError> {
    let active = store.active_emergencies(at).await?;
    if active.is_empty() {
        return Ok(None);
    }
    let prefecture = &institution.as_str()[..2];
    let municipality = store
        .institutions(vec![institution.clone()])
        .await?
        .into_iter()
        .next()
        .and_then(|i| i.municipality);
    Ok(active.into_iter().find(|d| {
        d.areas.iter().any(|a| {
            a == prefecture || (a.len() == 5 && municipality.as_deref() == Some(a.as_str()))
        })
    }))
}

/// The qualifications of exactly one person named by the request, or why not.
async fn identify(
    store: &dyn Store,
    p: &EmergencyPerson,
) -> Result<Result<Vec<StoredQualification>, (&'static str, &'static str, u16)>, EmergencyError> {
    let birthdate =
        date_input(&p.birthdate, "birthdate", "生年月日").map_err(EmergencyError::Invalid)?;
    let found = if let (Some(insurer), Some(number)) = (&p.insurer_number, &p.number) {
        let card = card_input(insurer, p.symbol.as_deref(), number, p.branch.as_deref())
            .map_err(EmergencyError::Invalid)?;
        store
            .find_qualifications(&CardQuery {
                symbol_key: card.symbol_key().to_string(),
                number_key: card.number.key().to_string(),
                insurer: card.insurer,
                branch: card.branch,
                birthdate,
            })
            .await?
    } else {
        let name = p
            .name
            .as_deref()
            .map(kakunin_domain::text::match_key)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                invalid(
                    "attributes_required",
                    "氏名・性別・生年月日（できれば住所も）、または保険者番号・記号・番号を入力してください。",
                    "give name, sex and birthdate (and address), or the insurance numbers",
                    "person.name",
                )
            })?;
        let sex = p.sex.as_deref().and_then(Sex::parse).ok_or_else(|| {
            invalid(
                "attributes_required",
                "性別を選んでください。",
                "sex must be 1, 2 or 3",
                "person.sex",
            )
        })?;
        store
            .find_by_attributes(
                &AttributeQuery {
                    name_key: name,
                    birthdate,
                    sex,
                    address_key: p
                        .address
                        .as_deref()
                        .map(kakunin_domain::text::match_key)
                        .filter(|a| !a.is_empty()),
                },
                50,
            )
            .await?
    };
    // One person: every qualification linked to the same pseudonym, or a single unlinked one.
    let mut people: BTreeMap<String, Vec<StoredQualification>> = BTreeMap::new();
    for f in found {
        let key = f.person.clone().unwrap_or_else(|| format!("q{}", f.id));
        people.entry(key).or_default().push(f);
    }
    Ok(match people.len() {
        0 => Err((
            refusal::NOT_FOUND.0,
            "該当する方が見つかりません。入力内容を確認してください。",
            404,
        )),
        1 => {
            let (key, mut quals) = people.into_iter().next().expect("one");
            if !key.starts_with('q') {
                // Everything linked to the person, not only what matched.
                quals = store.find_by_person(&key).await?;
            }
            Ok(quals)
        }
        _ => Err((
            refusal::AMBIGUOUS.0,
            "該当する方が複数います。住所や保険者番号など、ほかの情報も入力してください。",
            409,
        )),
    })
}

fn consent_code(consent: &str) -> Result<&'static str, EmergencyError> {
    match consent {
        "verbal" => Ok("emergency_verbal"),
        "life_protection" => Ok("emergency_life_protection"),
        _ => Err(invalid(
            "invalid_consent",
            "同意の種類を選んでください（口頭で同意／同意なし（生命保護））。",
            "consent must be verbal or life_protection",
            "consent",
        )),
    }
}

/// The checks every emergency request shares: the consent ground, a declaration in force for
/// the institution, exactly one person. Refusals are logged before they are returned.
async fn admit(
    store: &dyn Store,
    institution: &InstitutionCode,
    request: &EmergencyRequest,
    information: Option<InformationAccess>,
    at: Timestamp,
) -> Result<(Vec<StoredQualification>, &'static str, EmergencyDeclaration), EmergencyError> {
    let ground = consent_code(&request.consent)?;
    let purpose = if information.is_some() {
        AccessPurpose::MedicalInformation
    } else {
        AccessPurpose::EmergencyCheck
    };
    let entry = |ids: Vec<i64>, result: AccessResult, code: &str| AccessLogEntry {
        at,
        institution: institution.clone(),
        purpose,
        qualification_ids: ids,
        result,
        processing_code: code.to_string(),
        information,
    };
    let Some(declaration) = declaration_for(store, institution, at).await? else {
        const CODE: &str = "emergency_not_declared";
        store
            .append_access(entry(vec![], AccessResult::Refused(CODE.into()), CODE))
            .await?;
        return Err(EmergencyError::Refused(ApiError::new(
            CODE,
            "この地域・期間には災害時モードが宣言されていません。マイナンバーカードまたは保険証等で確認してください。",
            "no emergency declaration is in force for this institution's area now",
        )));
    };
    match identify(store, &request.person).await? {
        Ok(quals) => Ok((quals, ground, declaration)),
        Err((code, message, status)) => {
            store
                .append_access(entry(vec![], AccessResult::Refused(code.into()), code))
                .await?;
            Err(EmergencyError::NotIdentified(
                ApiError::new(
                    code,
                    message,
                    "the attributes do not name exactly one person",
                ),
                status,
            ))
        }
    }
}

/// Eligibility of a person found without a card (`POST /v1/emergency/check`).
pub async fn check(
    store: &dyn Store,
    institution: &InstitutionCode,
    request: &EmergencyRequest,
    at: Timestamp,
) -> Result<EligibilityCheckResponse, EmergencyError> {
    let (quals, ground, _) = admit(store, institution, request, None, at).await?;
    let on = at.jst_date();
    let (validity, answered) = crate::cardcheck::card_validity(&quals, on);
    let results: Vec<_> = answered
        .iter()
        .map(|f| qualification_result(&f.qualification, on, true))
        .collect();
    let processing = processing_result(validity, &results, on);
    store
        .append_access(AccessLogEntry {
            at,
            institution: institution.clone(),
            purpose: AccessPurpose::EmergencyCheck,
            qualification_ids: quals.iter().map(|f| f.id).collect(),
            result: AccessResult::Answered(validity),
            processing_code: ground.to_string(),
            information: None,
        })
        .await?;
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

/// Medical information of a person found without a card, in a declared emergency
/// (`POST /v1/emergency/medical/{category}`): the last 5 years, no consent screen needed.
pub async fn information(
    store: &dyn Store,
    institution: &InstitutionCode,
    category: ConsentCategory,
    request: &EmergencyRequest,
    at: Timestamp,
) -> Result<MedicalInformationResponse, EmergencyError> {
    let today = at.jst_date();
    let asked = InformationAccess {
        category,
        from: medical::retention_start(today),
        to: today,
        basis: AccessBasis::Emergency,
    };
    let (quals, ground, _) = admit(store, institution, request, Some(asked), at).await?;
    let ids: Vec<i64> = quals.iter().map(|f| f.id).collect();
    let Some(newest) = quals
        .iter()
        .max_by_key(|f| f.qualification.qualification_date)
    else {
        return Err(EmergencyError::Store(StoreError::Corrupt(
            "an identified person has no qualification".into(),
        )));
    };
    let response = medical::records(
        store,
        &ids,
        category,
        (asked.from, asked.to),
        &newest.qualification,
        kakunin_api::consent_flag(category, ConsentState::None),
    )
    .await?
    .ok_or_else(|| {
        invalid(
            "invalid_category",
            "情報の種類が正しくありません。",
            "category must be medications, treatments, surgeries or checkups",
            "category",
        )
    })?;
    let shown =
        (response.medications.len() + response.treatments.len() + response.checkups.len()) as u32;
    store
        .append_access(AccessLogEntry {
            at,
            institution: institution.clone(),
            purpose: AccessPurpose::MedicalInformation,
            qualification_ids: ids,
            result: AccessResult::Disclosed(shown),
            processing_code: ground.to_string(),
            information: Some(asked),
        })
        .await?;
    Ok(response)
}

/// The declarations, newest first (admin), and whether each is in force.
pub async fn list(store: &dyn Store, at: Timestamp) -> Result<Vec<DeclarationRecord>, StoreError> {
    Ok(store
        .emergencies(1_000)
        .await?
        .iter()
        .map(|d| record(d, at))
        .collect())
}

/// Ends a declaration early (admin). `false` when none such is running.
pub async fn end(store: &dyn Store, id: i64, at: Timestamp) -> Result<bool, StoreError> {
    let ended = store.end_emergency(id, at).await?;
    if ended {
        tracing::info!(id, "emergency ended early");
    }
    Ok(ended)
}

/// The declarations in force for the calling institution (so its terminal can offer the
/// emergency search).
pub async fn for_institution(
    store: &dyn Store,
    institution: &InstitutionCode,
) -> Result<Vec<DeclarationRecord>, StoreError> {
    let at = service::now();
    Ok(declaration_for(store, institution, at)
        .await?
        .iter()
        .map(|d| record(d, at))
        .collect())
}
