//! The mapping between stored columns and domain values, shared by every backend so that both
//! read and write the same representation (dates `yyyyMMdd`, codes as text, ratios in percent).

use crate::{CardQuery, StoreError};
use kakunin_domain::{
    AccessBasis, AccessLogEntry, AccessPurpose, AccessResult, Branch, CardClassification,
    CardIdentity, CardNumber, CardSymbol, ConsentCategory, CopayRatio, Date, ElderlyCertificate,
    InformationAccess, InstitutionCode, InsurerNumber, LimitBracket, LimitCertificate,
    LimitCertificateClassification, LossReason, Qualification, Relationship, Sex, SpecificDisease,
    SpecificDiseaseCertificate, Timestamp,
};

/// The columns of `qualification_versions` that hold the record, in this order everywhere.
pub(crate) const VERSION_COLS: [&str; 29] = [
    "symbol_raw",
    "number_raw",
    "card_classification",
    "relationship",
    "insured_name",
    "name",
    "name_kana",
    "sex",
    "birthdate",
    "address",
    "post_number",
    "qualification_date",
    "disqualification_date",
    "loss_reason",
    "card_issue_date",
    "card_valid_from",
    "card_valid_until",
    "copay_ratio",
    "insurer_name",
    "elderly_issue_date",
    "elderly_valid_from",
    "elderly_valid_until",
    "elderly_copay_ratio",
    "limit_classification",
    "limit_bracket",
    "limit_issue_date",
    "limit_valid_from",
    "limit_valid_until",
    "limit_long_term_date",
];

/// `p.col, p.col, …` for a SELECT.
pub(crate) fn version_cols(prefix: &str) -> String {
    VERSION_COLS
        .iter()
        .map(|c| format!("{prefix}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A stored value.
#[derive(Debug, Clone)]
pub(crate) enum Field {
    Text(Option<String>),
    Int(Option<i64>),
}

fn text(s: &str) -> Field {
    Field::Text(Some(s.to_string()))
}
fn opt_text(s: Option<&str>) -> Field {
    Field::Text(s.map(str::to_string))
}
pub(crate) fn opt_date(d: Option<Date>) -> Option<String> {
    d.map(Date::compact)
}
fn date_field(d: Option<Date>) -> Field {
    Field::Text(opt_date(d))
}
fn ratio(c: Option<CopayRatio>) -> Field {
    Field::Int(c.map(|c| i64::from(c.percent())))
}

/// The record's values in [`VERSION_COLS`] order.
pub(crate) fn version_fields(q: &Qualification) -> [Field; 29] {
    let e = q.elderly.as_ref();
    let l = q.limit.as_ref();
    [
        opt_text(q.card.symbol.as_ref().map(CardSymbol::raw)),
        text(q.card.number.raw()),
        text(q.card_classification.code()),
        text(q.relationship.code()),
        opt_text(q.insured_name.as_deref()),
        text(&q.name),
        text(&q.name_kana),
        text(q.sex.code()),
        text(&q.birthdate.compact()),
        opt_text(q.address.as_deref()),
        opt_text(q.post_number.as_deref()),
        text(&q.qualification_date.compact()),
        date_field(q.disqualification_date),
        opt_text(q.loss_reason.map(LossReason::code)),
        date_field(q.card_issue_date),
        date_field(q.card_valid_from),
        date_field(q.card_valid_until),
        ratio(q.copay_ratio),
        text(&q.insurer_name),
        date_field(e.and_then(|e| e.issued)),
        date_field(e.map(|e| e.valid_from)),
        date_field(e.and_then(|e| e.valid_until)),
        ratio(e.map(|e| e.copay_ratio)),
        opt_text(l.map(|l| l.classification.code())),
        opt_text(l.map(|l| l.bracket.code())),
        date_field(l.and_then(|l| l.issued)),
        date_field(l.map(|l| l.valid_from)),
        date_field(l.and_then(|l| l.valid_until)),
        date_field(l.and_then(|l| l.long_term_date)),
    ]
}

/// The matching key of a qualification: (insurer, symbol key, number key, branch or "").
pub(crate) type CardKey = (String, String, String, String);

/// The matching key of a qualification.
pub(crate) fn key_of(q: &Qualification) -> CardKey {
    (
        q.card.insurer.as_str().to_string(),
        q.card.symbol_key().to_string(),
        q.card.number.key().to_string(),
        q.card
            .branch
            .map(|b| b.as_str().to_string())
            .unwrap_or_default(),
    )
}

/// Reads typed columns from a backend's row.
pub(crate) trait RowRead {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError>;
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("bad stored value in {what}"))
}

pub(crate) fn req_text(r: &impl RowRead, i: usize, what: &str) -> Result<String, StoreError> {
    r.text(i)?.ok_or_else(|| corrupt(what))
}
pub(crate) fn req_int(r: &impl RowRead, i: usize, what: &str) -> Result<i64, StoreError> {
    r.int(i)?.ok_or_else(|| corrupt(what))
}
pub(crate) fn req_date(r: &impl RowRead, i: usize, what: &str) -> Result<Date, StoreError> {
    Date::parse(&req_text(r, i, what)?).map_err(|_| corrupt(what))
}
pub(crate) fn get_opt_date(
    r: &impl RowRead,
    i: usize,
    what: &str,
) -> Result<Option<Date>, StoreError> {
    r.text(i)?
        .map(|s| Date::parse(&s).map_err(|_| corrupt(what)))
        .transpose()
}
fn req_code<T>(
    r: &impl RowRead,
    i: usize,
    what: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(&req_text(r, i, what)?).ok_or_else(|| corrupt(what))
}
fn get_opt_code<T>(
    r: &impl RowRead,
    i: usize,
    what: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, StoreError> {
    r.text(i)?
        .map(|s| parse(&s).ok_or_else(|| corrupt(what)))
        .transpose()
}
fn get_ratio(r: &impl RowRead, i: usize, what: &str) -> Result<Option<CopayRatio>, StoreError> {
    r.int(i)?
        .map(|p| CopayRatio::parse(&p.to_string()).ok_or_else(|| corrupt(what)))
        .transpose()
}
fn get_branch(r: &impl RowRead, i: usize) -> Result<Option<Branch>, StoreError> {
    let b = req_text(r, i, "branch")?;
    (!b.is_empty())
        .then(|| Branch::parse(&b))
        .transpose()
        .map_err(|_| corrupt("branch"))
}
fn get_insurer(r: &impl RowRead, i: usize) -> Result<InsurerNumber, StoreError> {
    InsurerNumber::parse(&req_text(r, i, "insurer_number")?).map_err(|_| corrupt("insurer_number"))
}

/// A qualification from `insurer_number, branch, <VERSION_COLS>` starting at column `at`
/// (specific-disease certificates are loaded separately).
pub(crate) fn qualification_from(r: &impl RowRead, at: usize) -> Result<Qualification, StoreError> {
    let insurer = get_insurer(r, at)?;
    let branch = get_branch(r, at + 1)?;
    let c = at + 2;
    let symbol = r
        .text(c)?
        .map(|s| CardSymbol::parse(&s))
        .transpose()
        .map_err(|_| corrupt("symbol"))?;
    let number =
        CardNumber::parse(&req_text(r, c + 1, "number")?).map_err(|_| corrupt("number"))?;
    let card = CardIdentity::new(insurer, symbol, number, branch).map_err(|_| corrupt("card"))?;
    let elderly = match get_opt_date(r, c + 20, "elderly_valid_from")? {
        Some(valid_from) => Some(ElderlyCertificate {
            issued: get_opt_date(r, c + 19, "elderly_issue_date")?,
            valid_from,
            valid_until: get_opt_date(r, c + 21, "elderly_valid_until")?,
            copay_ratio: get_ratio(r, c + 22, "elderly_copay_ratio")?
                .ok_or_else(|| corrupt("elderly_copay_ratio"))?,
        }),
        None => None,
    };
    let limit = match get_opt_code(
        r,
        c + 23,
        "limit_classification",
        LimitCertificateClassification::parse,
    )? {
        Some(classification) => Some(LimitCertificate {
            classification,
            bracket: req_code(r, c + 24, "limit_bracket", LimitBracket::parse)?,
            issued: get_opt_date(r, c + 25, "limit_issue_date")?,
            valid_from: req_date(r, c + 26, "limit_valid_from")?,
            valid_until: get_opt_date(r, c + 27, "limit_valid_until")?,
            long_term_date: get_opt_date(r, c + 28, "limit_long_term_date")?,
        }),
        None => None,
    };
    Ok(Qualification {
        card,
        card_classification: req_code(r, c + 2, "card_classification", CardClassification::parse)?,
        relationship: req_code(r, c + 3, "relationship", Relationship::parse)?,
        insured_name: r.text(c + 4)?,
        name: req_text(r, c + 5, "name")?,
        name_kana: req_text(r, c + 6, "name_kana")?,
        sex: req_code(r, c + 7, "sex", Sex::parse)?,
        birthdate: req_date(r, c + 8, "birthdate")?,
        address: r.text(c + 9)?,
        post_number: r.text(c + 10)?,
        qualification_date: req_date(r, c + 11, "qualification_date")?,
        disqualification_date: get_opt_date(r, c + 12, "disqualification_date")?,
        loss_reason: get_opt_code(r, c + 13, "loss_reason", LossReason::parse)?,
        card_issue_date: get_opt_date(r, c + 14, "card_issue_date")?,
        card_valid_from: get_opt_date(r, c + 15, "card_valid_from")?,
        card_valid_until: get_opt_date(r, c + 16, "card_valid_until")?,
        copay_ratio: get_ratio(r, c + 17, "copay_ratio")?,
        insurer_name: req_text(r, c + 18, "insurer_name")?,
        elderly,
        limit,
        specific_diseases: Vec::new(),
    })
}

/// `disease, issue_date, valid_from, valid_until, self_pay_yen` from column `at`.
pub(crate) fn specific_disease_from(
    r: &impl RowRead,
    at: usize,
) -> Result<SpecificDiseaseCertificate, StoreError> {
    Ok(SpecificDiseaseCertificate {
        disease: req_code(r, at, "disease", SpecificDisease::parse)?,
        issued: get_opt_date(r, at + 1, "issue_date")?,
        valid_from: req_date(r, at + 2, "valid_from")?,
        valid_until: get_opt_date(r, at + 3, "valid_until")?,
        self_pay_yen: u32::try_from(req_int(r, at + 4, "self_pay_yen")?)
            .map_err(|_| corrupt("self_pay_yen"))?,
    })
}

fn parse_result(s: &str) -> Option<AccessResult> {
    AccessResult::parse(s)
}

/// The information columns of an entry (`category, period_from, period_to, basis`).
pub(crate) fn information_fields(
    e: &AccessLogEntry,
) -> (
    Option<&'static str>,
    Option<String>,
    Option<String>,
    Option<&'static str>,
) {
    match &e.information {
        Some(i) => (
            Some(i.category.code()),
            Some(i.from.compact()),
            Some(i.to.compact()),
            Some(i.basis.code()),
        ),
        None => (None, None, None, None),
    }
}

/// `at_ms, institution_code, purpose, result, processing_code, category, period_from,
/// period_to, basis` from column `at` (subjects are loaded separately).
pub(crate) fn access_from(r: &impl RowRead, at: usize) -> Result<AccessLogEntry, StoreError> {
    Ok(AccessLogEntry {
        at: Timestamp::from_unix_millis(req_int(r, at, "at_ms")?),
        institution: InstitutionCode::parse(&req_text(r, at + 1, "institution_code")?)
            .map_err(|_| corrupt("institution_code"))?,
        purpose: req_code(r, at + 2, "purpose", AccessPurpose::parse)?,
        result: req_code(r, at + 3, "result", parse_result)?,
        processing_code: req_text(r, at + 4, "processing_code")?,
        qualification_ids: Vec::new(),
        information: match r.text(at + 5)? {
            None => None,
            Some(category) => Some(InformationAccess {
                category: ConsentCategory::parse(&category).ok_or_else(|| corrupt("category"))?,
                from: req_date(r, at + 6, "period_from")?,
                to: req_date(r, at + 7, "period_to")?,
                basis: req_code(r, at + 8, "basis", AccessBasis::parse)?,
            }),
        },
    })
}

/// `insurer_number, symbol_key, number_key, branch, birthdate` from column 0.
pub(crate) fn card_query_from(r: &impl RowRead) -> Result<CardQuery, StoreError> {
    Ok(CardQuery {
        insurer: get_insurer(r, 0)?,
        symbol_key: req_text(r, 1, "symbol_key")?,
        number_key: req_text(r, 2, "number_key")?,
        branch: get_branch(r, 3)?,
        birthdate: req_date(r, 4, "birthdate")?,
    })
}
