//! What the patient portal, the operators and 災害時 access need: the institution registry,
//! each person's sharing choices and consent history, their access log across qualifications,
//! emergency declarations, and the search by the 4 attributes used only under one.

use crate::mapping::{req_int, req_text, RowRead};
use crate::StoreError;
use kakunin_domain::text::match_key;
use kakunin_domain::{
    Consent, ConsentCategory, Date, InstitutionCode, InstitutionKind, Sex, Timestamp,
};

/// A person's current block decision about one institution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockState {
    pub institution: kakunin_domain::InstitutionCode,
    pub blocked: bool,
    pub at: Timestamp,
}

/// A 災害時 declaration: for these areas and this period, institutions there may find people
/// without a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyDeclaration {
    pub id: i64,
    /// 都道府県番号 (2 digits) or 市区町村コード (5 digits, the prefecture's 2 first).
    pub areas: Vec<String>,
    pub starts_at: Timestamp,
    /// Declarations end by themselves at this instant.
    pub ends_at: Timestamp,
    /// Why (e.g. the disaster's name), shown in the patients' access logs.
    pub reason: String,
    /// `admin:<id>`.
    pub declared_by: String,
    pub declared_at: Timestamp,
    /// Set when an operator ended it early.
    pub ended_at: Option<Timestamp>,
}

/// A new declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmergencyDeclaration {
    pub areas: Vec<String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub reason: String,
    pub declared_by: String,
    pub declared_at: Timestamp,
}

/// The 4 attributes searched in an emergency (and only then). Name and address are compared
/// after the same folding as 記号・番号 (full-width to half-width, spaces removed); the birth
/// date and sex exactly; the address by prefix when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeQuery {
    /// Folded name (see `kakunin_domain::text`).
    pub name_key: String,
    pub birthdate: Date,
    pub sex: Sex,
    /// Folded address prefix, when given.
    pub address_key: Option<String>,
}

/// The columns of `institutions` read by [`institution_from`], in this order everywhere.
pub(crate) const INSTITUTION_COLS: &str = "code, name, kind, municipality";

/// An institution from [`INSTITUTION_COLS`] at column 0.
pub(crate) fn institution_from(
    r: &impl RowRead,
) -> Result<kakunin_domain::Institution, StoreError> {
    Ok(kakunin_domain::Institution {
        code: institution_code(r, 0)?,
        name: req_text(r, 1, "name")?,
        kind: InstitutionKind::parse(&req_text(r, 2, "kind")?)
            .ok_or_else(|| corrupt("institution kind"))?,
        municipality: r.text(3)?,
    })
}

/// `institution_code, blocked, at_ms` from column 0.
pub(crate) fn block_from(r: &impl RowRead) -> Result<BlockState, StoreError> {
    Ok(BlockState {
        institution: institution_code(r, 0)?,
        blocked: req_int(r, 1, "blocked")? != 0,
        at: Timestamp::from_unix_millis(req_int(r, 2, "at_ms")?),
    })
}

/// The columns of `consents` read by [`consent_from`].
pub(crate) const CONSENT_COLS: &str = "institution_code, category, given_at_ms, expires_at_ms";

/// A consent of `pseudonym` from [`CONSENT_COLS`] at column 0.
pub(crate) fn consent_from(r: &impl RowRead, pseudonym: &str) -> Result<Consent, StoreError> {
    let category = req_text(r, 1, "category")?;
    Ok(Consent {
        person: pseudonym.to_string(),
        institution: institution_code(r, 0)?,
        category: ConsentCategory::parse(&category)
            .ok_or_else(|| corrupt(&format!("consent category {category:?}")))?,
        given_at: Timestamp::from_unix_millis(req_int(r, 2, "given_at_ms")?),
        expires_at: Timestamp::from_unix_millis(req_int(r, 3, "expires_at_ms")?),
    })
}

/// The columns of `emergency_declarations` read by [`declaration_from`], in this order
/// everywhere (the areas come from `emergency_areas`).
pub(crate) const DECLARATION_COLS: &str =
    "id, starts_at_ms, ends_at_ms, reason, declared_by, declared_at_ms, ended_at_ms";

/// A declaration from [`DECLARATION_COLS`] at column 0, with its areas.
pub(crate) fn declaration_from(
    r: &impl RowRead,
    areas: Vec<String>,
) -> Result<EmergencyDeclaration, StoreError> {
    let at = |i: usize, what: &str| req_int(r, i, what).map(Timestamp::from_unix_millis);
    Ok(EmergencyDeclaration {
        id: req_int(r, 0, "id")?,
        areas,
        starts_at: at(1, "starts_at_ms")?,
        ends_at: at(2, "ends_at_ms")?,
        reason: req_text(r, 3, "reason")?,
        declared_by: req_text(r, 4, "declared_by")?,
        declared_at: at(5, "declared_at_ms")?,
        ended_at: r.int(6)?.map(Timestamp::from_unix_millis),
    })
}

/// The WHERE condition of the declarations in force at the parameter `at` (`?1`, `$1`):
/// started, `ends_at` not reached, not ended early (a declaration is in force on
/// `[starts_at, min(ends_at, ended_at))`).
pub(crate) fn active_condition(at: &str) -> String {
    format!(
        "starts_at_ms <= {at} AND ends_at_ms > {at} AND (ended_at_ms IS NULL OR ended_at_ms > {at})"
    )
}

/// Whether a current version's stored name and address match the query (names equal after
/// folding; the address, when asked for, starts with the folded prefix). An empty name matches
/// nothing.
pub(crate) fn attributes_match(query: &AttributeQuery, name: &str, address: Option<&str>) -> bool {
    !query.name_key.is_empty()
        && match_key(name) == query.name_key
        && query
            .address_key
            .as_deref()
            .is_none_or(|prefix| address.is_some_and(|a| match_key(a).starts_with(prefix)))
}

fn institution_code(r: &impl RowRead, i: usize) -> Result<InstitutionCode, StoreError> {
    InstitutionCode::parse(&req_text(r, i, "institution_code")?)
        .map_err(|_| corrupt("institution_code"))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("bad stored value in {what}"))
}
