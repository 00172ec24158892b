//! Typed requests, one per family (research §2.3, §2.6–§2.8). Every value is the string
//! written, trimmed, leading zeros kept; shapes are checked (digits, lengths), meanings are not.

use super::{label, Document, Element, Family, OqsError};

/// Most items in one bulk upload (`OQSmuquc01req`, `OQSmuimm01req`).
pub const MAX_ITEMS: usize = 5_000;

/// The shape a value must have.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Exactly n half-width digits.
    Digits(usize),
    /// One to n half-width digits.
    DigitsUpTo(usize),
    /// At most n characters.
    Text(usize),
    /// At most n ASCII letters, digits, `-` or `_`.
    Token(usize),
}

const DATE: Shape = Shape::Digits(8);
const INSTITUTION: Shape = Shape::Digits(10);
const SYMBOL: Shape = Shape::Text(20);
const NUMBER: Shape = Shape::Text(20);
const BRANCH: Shape = Shape::DigitsUpTo(2);
const FLAG: Shape = Shape::Digits(1);
const IDENTIFIER: Shape = Shape::Text(100);
const REFERENCE: Shape = Shape::Text(50);
const RECEPTION: Shape = Shape::Token(50);
/// 保険者番号 as written, padding included.
const INSURER_MAX_CHARS: usize = 8;

/// A 保険者番号 as written and normalised: 8 digits, or a 6-digit 国保 number bare or padded
/// to 8 with leading spaces (`␣␣138230`) or zeros (`00138230`; 法別 `00` does not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsurerNumberField {
    raw: String,
    normalised: String,
}

impl InsurerNumberField {
    /// Checks the shape of an `InsurerNumber` text (not its check digit).
    pub fn parse(text: &str) -> Result<Self, OqsError> {
        Self::parse_at(text, "InsurerNumber")
    }

    fn parse_at(text: &str, path: &str) -> Result<Self, OqsError> {
        // Leading spaces are padding and kept; line breaks around the value are not.
        let raw = text.trim_end().trim_start_matches(['\r', '\n', '\t']);
        let digits = raw.trim_start_matches(' ');
        if digits.is_empty() {
            return Err(missing(path, "InsurerNumber"));
        }
        let chars = raw.chars().count();
        if chars > INSURER_MAX_CHARS {
            return Err(OqsError::at(
                "too_long",
                path,
                format!("「保険者番号」は{INSURER_MAX_CHARS}文字までです（{chars}文字あります）"),
            ));
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_digits(path, "InsurerNumber"));
        }
        if digits.len() != 6 && digits.len() != 8 {
            return Err(OqsError::at(
                "wrong_length",
                path,
                format!(
                    "「保険者番号」は8桁（国保は6桁）です（{}桁あります）",
                    digits.len()
                ),
            ));
        }
        let normalised = match digits.strip_prefix("00") {
            Some(six) if digits.len() == 8 => six,
            _ => digits,
        };
        Ok(Self {
            raw: raw.to_string(),
            normalised: normalised.to_string(),
        })
    }

    /// As written, padding included (`␣␣138230`).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The 6-digit 国保 number when padded or bare, else the 8 digits.
    pub fn normalised(&self) -> &str {
        &self.normalised
    }

    /// True when a 6-digit number was padded to 8 (with spaces or `00`).
    pub fn is_padded(&self) -> bool {
        self.raw.len() != self.normalised.len()
    }
}

/// The common `MessageHeader` of the OQS requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `QualificationConfirmationDate` 資格確認日, `yyyyMMdd`.
    pub confirmation_date: Option<String>,
    /// `MedicalInstitutionCode` 医療機関コード, 10 digits.
    pub institution_code: String,
    /// `ArbitraryFileIdentifier` 任意のファイル識別子, echoed in the answer.
    pub file_identifier: Option<String>,
}

/// `QualificationConfirmSearchInfo` 資格確認照会用情報.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchInfo {
    /// `InsurerNumber` 保険者番号.
    pub insurer_number: InsurerNumberField,
    /// `InsuredCardSymbol` 被保険者証記号 (≤ 20 characters; absent when the card has none).
    pub symbol: Option<String>,
    /// `InsuredIdentificationNumber` 被保険者証番号 (≤ 20 characters).
    pub number: String,
    /// `InsuredBranchNumber` 被保険者証枝番 (1–2 digits).
    pub branch: Option<String>,
    /// `Birthdate` 生年月日, `yyyyMMdd`.
    pub birthdate: String,
    /// `LimitApplicationCertificateRelatedConsFlg` 限度額適用認定証提供同意フラグ (`0`/`1`).
    pub limit_consent: Option<String>,
    /// `ArbitraryIdentifier` 任意の識別子, echoed.
    pub identifier: Option<String>,
}

/// `OQSsiquc01req`: one 資格確認.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EligibilityRequest {
    pub header: Header,
    pub search: SearchInfo,
}

/// `OQSmuquc01req`: 資格確認一括照会 upload, 1–[`MAX_ITEMS`] searches (layout assumed, see the
/// module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkEligibilityRequest {
    pub header: Header,
    pub items: Vec<SearchInfo>,
}

/// `OQSmuquc02req` / `OQSmuimm02req`: the results of a bulk upload, by 受付番号.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceptionRequest {
    pub header: Header,
    /// `ReceptionNumber` 受付番号 (≤ 50 ASCII letters, digits, `-`, `_`).
    pub reception_number: String,
}

/// `ReferenceNumberRegistrationInfo`: one 照会番号 registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// `ReferenceNumber` 照会番号 (≤ 50 characters).
    pub reference_number: String,
    pub insurer_number: InsurerNumberField,
    pub symbol: Option<String>,
    pub number: String,
    pub branch: Option<String>,
    /// `Birthdate`: our extension (the real message has none); the central requires it.
    pub birthdate: Option<String>,
}

/// `OQSsiimm01req`: 照会番号 registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceNumberRequest {
    pub header: Header,
    pub registration: Registration,
}

/// `OQSmuimm01req`: bulk 照会番号 registration, 1–[`MAX_ITEMS`] items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkReferenceNumberRequest {
    pub header: Header,
    pub items: Vec<Registration>,
}

/// `YZKsiquc01req` (薬剤情報) and `TKKsiquc01req` (特定健診情報). Note the element names differ
/// from the eligibility messages (`InsuranceCardSymbol`, `InsuredPersonIdentificationNumber`,
/// `BranchNumber`, all in the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InformationRequest {
    pub institution_code: String,
    pub insurer_number: InsurerNumberField,
    /// `InsuranceCardSymbol`.
    pub symbol: Option<String>,
    /// `InsuredPersonIdentificationNumber`.
    pub number: String,
    /// `BranchNumber`.
    pub branch: Option<String>,
    pub file_identifier: Option<String>,
    /// `MessageHeader/Birthdate`: our extension; the central requires it so that numbers alone
    /// open nothing.
    pub birthdate: Option<String>,
    /// `StartDate` `yyyyMMdd`: always present for YZK.
    pub start_date: Option<String>,
    /// `EndDate` `yyyyMMdd`: always present for YZK.
    pub end_date: Option<String>,
    /// `FileCategory`: YZK `1` PDF, `2` XML, `3` 薬剤+診療 PDF, `4` 薬剤+診療 XML; TKK `1` PDF,
    /// `2` XML.
    pub file_category: String,
    /// `PrDiInfClassification` (`1` in the wild).
    pub classification: Option<String>,
    /// `MedicalTreatmentFlag` (`1` in the wild).
    pub treatment_flag: Option<String>,
}

/// A request file's content, by family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Eligibility(EligibilityRequest),
    BulkEligibility(BulkEligibilityRequest),
    BulkEligibilityResult(ReceptionRequest),
    ReferenceNumber(ReferenceNumberRequest),
    BulkReferenceNumber(BulkReferenceNumberRequest),
    BulkReferenceNumberResult(ReceptionRequest),
    Medication(InformationRequest),
    Checkup(InformationRequest),
}

impl Request {
    /// Reads a decoded document as a request of `family` (from its file name). The first
    /// problem, header before body, is the error. Elements not listed for the family are
    /// ignored.
    pub fn parse(doc: &Document, family: Family) -> Result<Self, OqsError> {
        let header = Node::new(doc.header(), "MessageHeader");
        let body = Node::new(doc.body(), "MessageBody");
        Ok(match family {
            Family::Eligibility => Request::Eligibility(EligibilityRequest {
                header: Header::read(&header)?,
                search: SearchInfo::read(&body.section("QualificationConfirmSearchInfo")?)?,
            }),
            Family::BulkEligibility => Request::BulkEligibility(BulkEligibilityRequest {
                header: Header::read(&header)?,
                items: body
                    .items("QualificationConfirmSearchInfo")?
                    .iter()
                    .map(SearchInfo::read)
                    .collect::<Result<_, _>>()?,
            }),
            Family::BulkEligibilityResult => {
                Request::BulkEligibilityResult(ReceptionRequest::read(&header, &body)?)
            }
            Family::BulkReferenceNumberResult => {
                Request::BulkReferenceNumberResult(ReceptionRequest::read(&header, &body)?)
            }
            Family::ReferenceNumber => Request::ReferenceNumber(ReferenceNumberRequest {
                header: Header::read(&header)?,
                registration: Registration::read(
                    &body.section("ReferenceNumberRegistrationInfo")?,
                )?,
            }),
            Family::BulkReferenceNumber => {
                Request::BulkReferenceNumber(BulkReferenceNumberRequest {
                    header: Header::read(&header)?,
                    items: body
                        .items("ReferenceNumberRegistrationInfo")?
                        .iter()
                        .map(Registration::read)
                        .collect::<Result<_, _>>()?,
                })
            }
            Family::Medication => {
                Request::Medication(InformationRequest::read(&header, &body, true)?)
            }
            Family::Checkup => Request::Checkup(InformationRequest::read(&header, &body, false)?),
        })
    }

    pub fn family(&self) -> Family {
        match self {
            Request::Eligibility(_) => Family::Eligibility,
            Request::BulkEligibility(_) => Family::BulkEligibility,
            Request::BulkEligibilityResult(_) => Family::BulkEligibilityResult,
            Request::ReferenceNumber(_) => Family::ReferenceNumber,
            Request::BulkReferenceNumber(_) => Family::BulkReferenceNumber,
            Request::BulkReferenceNumberResult(_) => Family::BulkReferenceNumberResult,
            Request::Medication(_) => Family::Medication,
            Request::Checkup(_) => Family::Checkup,
        }
    }

    /// `MedicalInstitutionCode`.
    pub fn institution_code(&self) -> &str {
        match self {
            Request::Eligibility(r) => &r.header.institution_code,
            Request::BulkEligibility(r) => &r.header.institution_code,
            Request::BulkEligibilityResult(r) | Request::BulkReferenceNumberResult(r) => {
                &r.header.institution_code
            }
            Request::ReferenceNumber(r) => &r.header.institution_code,
            Request::BulkReferenceNumber(r) => &r.header.institution_code,
            Request::Medication(r) | Request::Checkup(r) => &r.institution_code,
        }
    }

    /// `ArbitraryFileIdentifier`, to echo in the answer.
    pub fn file_identifier(&self) -> Option<&str> {
        match self {
            Request::Eligibility(r) => r.header.file_identifier.as_deref(),
            Request::BulkEligibility(r) => r.header.file_identifier.as_deref(),
            Request::BulkEligibilityResult(r) | Request::BulkReferenceNumberResult(r) => {
                r.header.file_identifier.as_deref()
            }
            Request::ReferenceNumber(r) => r.header.file_identifier.as_deref(),
            Request::BulkReferenceNumber(r) => r.header.file_identifier.as_deref(),
            Request::Medication(r) | Request::Checkup(r) => r.file_identifier.as_deref(),
        }
    }

    /// The request as a message (`XmlMsg`), as a レセコン would write it: for the model client
    /// and tests. Reading it back gives the same request.
    pub fn to_element(&self) -> Element {
        let (header, body) = match self {
            Request::Eligibility(r) => (
                r.header.to_element(),
                Element::new("MessageBody").push(r.search.to_element()),
            ),
            Request::BulkEligibility(r) => (
                r.header.to_element(),
                Element::new("MessageBody").push_all(r.items.iter().map(SearchInfo::to_element)),
            ),
            Request::BulkEligibilityResult(r) | Request::BulkReferenceNumberResult(r) => (
                r.header.to_element(),
                Element::new("MessageBody").child("ReceptionNumber", &r.reception_number),
            ),
            Request::ReferenceNumber(r) => (
                r.header.to_element(),
                Element::new("MessageBody").push(r.registration.to_element()),
            ),
            Request::BulkReferenceNumber(r) => (
                r.header.to_element(),
                Element::new("MessageBody").push_all(r.items.iter().map(Registration::to_element)),
            ),
            Request::Medication(r) | Request::Checkup(r) => r.to_elements(),
        };
        Element::new("XmlMsg").push(header).push(body)
    }
}

impl Header {
    fn read(n: &Node) -> Result<Self, OqsError> {
        Ok(Self {
            confirmation_date: n.optional("QualificationConfirmationDate", DATE)?,
            institution_code: n.required("MedicalInstitutionCode", INSTITUTION)?,
            file_identifier: n.optional("ArbitraryFileIdentifier", IDENTIFIER)?,
        })
    }

    fn to_element(&self) -> Element {
        Element::new("MessageHeader")
            .child("QualificationConfirmationDate", &self.confirmation_date)
            .child("MedicalInstitutionCode", &self.institution_code)
            .child("ArbitraryFileIdentifier", &self.file_identifier)
    }
}

impl SearchInfo {
    fn read(n: &Node) -> Result<Self, OqsError> {
        Ok(Self {
            insurer_number: n.insurer("InsurerNumber")?,
            symbol: n.optional("InsuredCardSymbol", SYMBOL)?,
            number: n.required("InsuredIdentificationNumber", NUMBER)?,
            branch: n.optional("InsuredBranchNumber", BRANCH)?,
            birthdate: n.required("Birthdate", DATE)?,
            limit_consent: n.optional("LimitApplicationCertificateRelatedConsFlg", FLAG)?,
            identifier: n.optional("ArbitraryIdentifier", IDENTIFIER)?,
        })
    }

    /// `QualificationConfirmSearchInfo`, in the layout's order (also the echo in a result).
    pub fn to_element(&self) -> Element {
        Element::new("QualificationConfirmSearchInfo")
            .child("InsurerNumber", self.insurer_number.raw())
            .child("InsuredCardSymbol", &self.symbol)
            .child("InsuredIdentificationNumber", &self.number)
            .child("InsuredBranchNumber", &self.branch)
            .child("Birthdate", &self.birthdate)
            .child(
                "LimitApplicationCertificateRelatedConsFlg",
                &self.limit_consent,
            )
            .child("ArbitraryIdentifier", &self.identifier)
    }
}

impl ReceptionRequest {
    fn read(header: &Node, body: &Node) -> Result<Self, OqsError> {
        Ok(Self {
            header: Header::read(header)?,
            reception_number: body.required("ReceptionNumber", RECEPTION)?,
        })
    }
}

impl Registration {
    fn read(n: &Node) -> Result<Self, OqsError> {
        Ok(Self {
            reference_number: n.required("ReferenceNumber", REFERENCE)?,
            insurer_number: n.insurer("InsurerNumber")?,
            symbol: n.optional("InsuredCardSymbol", SYMBOL)?,
            number: n.required("InsuredIdentificationNumber", NUMBER)?,
            branch: n.optional("InsuredBranchNumber", BRANCH)?,
            birthdate: n.optional("Birthdate", DATE)?,
        })
    }

    /// `ReferenceNumberRegistrationInfo`.
    pub fn to_element(&self) -> Element {
        Element::new("ReferenceNumberRegistrationInfo")
            .child("ReferenceNumber", &self.reference_number)
            .child("InsurerNumber", self.insurer_number.raw())
            .child("InsuredCardSymbol", &self.symbol)
            .child("InsuredIdentificationNumber", &self.number)
            .child("InsuredBranchNumber", &self.branch)
            .child("Birthdate", &self.birthdate)
    }
}

impl InformationRequest {
    fn read(header: &Node, body: &Node, medication: bool) -> Result<Self, OqsError> {
        let date = |name: &str| {
            if medication {
                body.required(name, DATE).map(Some)
            } else {
                body.optional(name, DATE)
            }
        };
        Ok(Self {
            institution_code: header.required("MedicalInstitutionCode", INSTITUTION)?,
            insurer_number: header.insurer("InsurerNumber")?,
            symbol: header.optional("InsuranceCardSymbol", SYMBOL)?,
            number: header.required("InsuredPersonIdentificationNumber", NUMBER)?,
            branch: header.optional("BranchNumber", BRANCH)?,
            file_identifier: header.optional("ArbitraryFileIdentifier", IDENTIFIER)?,
            birthdate: header.optional("Birthdate", DATE)?,
            start_date: date("StartDate")?,
            end_date: date("EndDate")?,
            file_category: body.required("FileCategory", FLAG)?,
            classification: body.optional("PrDiInfClassification", FLAG)?,
            treatment_flag: body.optional("MedicalTreatmentFlag", FLAG)?,
        })
    }

    fn to_elements(&self) -> (Element, Element) {
        (
            Element::new("MessageHeader")
                .child("MedicalInstitutionCode", &self.institution_code)
                .child("InsurerNumber", self.insurer_number.raw())
                .child("InsuranceCardSymbol", &self.symbol)
                .child("InsuredPersonIdentificationNumber", &self.number)
                .child("BranchNumber", &self.branch)
                .child("ArbitraryFileIdentifier", &self.file_identifier)
                .child("Birthdate", &self.birthdate),
            Element::new("MessageBody")
                .child("StartDate", &self.start_date)
                .child("EndDate", &self.end_date)
                .child("FileCategory", &self.file_category)
                .child("PrDiInfClassification", &self.classification)
                .child("MedicalTreatmentFlag", &self.treatment_flag),
        )
    }
}

/// An element being read, with its path for errors.
struct Node<'e> {
    element: &'e Element,
    path: String,
}

impl<'e> Node<'e> {
    fn new(element: &'e Element, path: impl Into<String>) -> Self {
        Self {
            element,
            path: path.into(),
        }
    }

    fn path_of(&self, name: &str) -> String {
        format!("{}/{name}", self.path)
    }

    /// The child of this name, if any; twice is an error.
    fn only(&self, name: &str) -> Result<Option<&'e Element>, OqsError> {
        let mut found = self.element.children().iter().filter(|c| c.name() == name);
        let first = found.next();
        if found.next().is_some() {
            let l = label(name);
            return Err(OqsError::at(
                "duplicate_element",
                self.path_of(name),
                format!("「{l}」（{name}）が2つ以上あります"),
            ));
        }
        Ok(first)
    }

    /// A required container element.
    fn section(&self, name: &str) -> Result<Node<'e>, OqsError> {
        match self.only(name)? {
            Some(e) => Ok(Node::new(e, self.path_of(name))),
            None => Err(missing(&self.path_of(name), name)),
        }
    }

    /// A repeated container element: 1–[`MAX_ITEMS`] of them.
    fn items(&self, name: &str) -> Result<Vec<Node<'e>>, OqsError> {
        let found: Vec<&Element> = self
            .element
            .children()
            .iter()
            .filter(|c| c.name() == name)
            .collect();
        if found.is_empty() {
            return Err(missing(&self.path_of(name), name));
        }
        if found.len() > MAX_ITEMS {
            return Err(OqsError::at(
                "too_many_items",
                self.path.clone(),
                format!(
                    "一度に送れるのは{}件までです（{}件あります）",
                    thousands(MAX_ITEMS),
                    thousands(found.len())
                ),
            ));
        }
        Ok(found
            .into_iter()
            .enumerate()
            .map(|(i, e)| Node::new(e, format!("{}/{name}[{}]", self.path, i + 1)))
            .collect())
    }

    /// The trimmed text of a leaf child, `None` when absent or blank.
    fn text(&self, name: &str) -> Result<Option<&'e str>, OqsError> {
        let Some(e) = self.only(name)? else {
            return Ok(None);
        };
        if !e.children().is_empty() {
            let l = label(name);
            return Err(OqsError::at(
                "malformed",
                self.path_of(name),
                format!("「{l}」（{name}）には値を書いてください（要素が入っています）"),
            ));
        }
        let t = e.text().trim();
        Ok((!t.is_empty()).then_some(t))
    }

    fn optional(&self, name: &str, shape: Shape) -> Result<Option<String>, OqsError> {
        match self.text(name)? {
            None => Ok(None),
            Some(v) => {
                check(v, shape, name, &self.path_of(name))?;
                Ok(Some(v.to_string()))
            }
        }
    }

    fn required(&self, name: &str, shape: Shape) -> Result<String, OqsError> {
        self.optional(name, shape)?
            .ok_or_else(|| missing(&self.path_of(name), name))
    }

    fn insurer(&self, name: &str) -> Result<InsurerNumberField, OqsError> {
        let path = self.path_of(name);
        // Through `text` for the duplicate and leaf checks; the padding is read from the
        // element itself.
        match self.text(name)? {
            None => Err(missing(&path, name)),
            Some(_) => {
                let text = self.only(name)?.map(Element::text).unwrap_or_default();
                InsurerNumberField::parse_at(text, &path)
            }
        }
    }
}

fn missing(path: &str, name: &str) -> OqsError {
    let l = label(name);
    let message = if l == name {
        format!("{name}がありません")
    } else {
        format!("「{l}」（{name}）がありません")
    };
    OqsError::at("missing_element", path, message)
}

fn not_digits(path: &str, name: &str) -> OqsError {
    OqsError::at(
        "not_digits",
        path,
        format!("「{}」は半角数字で書いてください", label(name)),
    )
}

fn check(value: &str, shape: Shape, name: &str, path: &str) -> Result<(), OqsError> {
    let l = label(name);
    let chars = value.chars().count();
    let digits = || value.bytes().all(|b| b.is_ascii_digit());
    match shape {
        Shape::Digits(n) => {
            if !digits() {
                return Err(not_digits(path, name));
            }
            if chars != n {
                return Err(OqsError::at(
                    "wrong_length",
                    path,
                    format!("「{l}」は{n}桁です（{chars}桁あります）"),
                ));
            }
        }
        Shape::DigitsUpTo(n) => {
            if !digits() {
                return Err(not_digits(path, name));
            }
            if chars > n {
                return Err(OqsError::at(
                    "too_long",
                    path,
                    format!("「{l}」は{n}桁までです（{chars}桁あります）"),
                ));
            }
        }
        Shape::Text(n) | Shape::Token(n) if chars > n => {
            return Err(OqsError::at(
                "too_long",
                path,
                format!("「{l}」は{n}文字までです（{chars}文字あります）"),
            ));
        }
        Shape::Token(_)
            if !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            return Err(OqsError::at(
                "bad_characters",
                path,
                format!("「{l}」に使えるのは半角英数字と「-」「_」だけです"),
            ));
        }
        Shape::Text(_) | Shape::Token(_) => {}
    }
    Ok(())
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
