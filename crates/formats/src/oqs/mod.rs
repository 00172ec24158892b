//! The OQS XML file messages between a レセコン / 電子カルテ and the 資格確認端末 (research
//! `jp-system.md` §2): file names, decoding in the declared encoding, typed requests, a small
//! element tree with a writer for the answers, and a read-only view for reading results.
//!
//! The clinic software drops a request into `req/`, the terminal answers in `res/` under the
//! same name with `req` → `res` ([`FileName::response_name`]), and pushes unsolicited results of
//! kiosk checks into `face/` ([`face_name`]).
//!
//! Invariant: pure. Bytes in, typed values or an [`OqsError`] out (stable code, element path,
//! Japanese message for staff); no I/O; never panics on any input. Values are kept as the strings
//! written (trimmed, leading zeros kept); the shape of each value is checked here (digits,
//! lengths), its meaning (check digits, dates that exist, who may see what) by the central.
//!
//! # Assumptions (where the research leaves a gap)
//!
//! - **`OQSmuquc01req` body.** Its layout was not found; by analogy with `OQSmuimm01req` (which
//!   repeats `ReferenceNumberRegistrationInfo`) we read `MessageBody` as 1–5,000 repeated
//!   `QualificationConfirmSearchInfo` elements. `OQSmuimm01req` has the same bound.
//! - **Birth date extensions.** The real `OQSsiimm01req` carries no birth date, nor do
//!   `YZKsiquc01req` / `TKKsiquc01req`. We accept an optional `Birthdate` (`yyyyMMdd`) in
//!   `ReferenceNumberRegistrationInfo` and in the `MessageHeader` of the YZK/TKK requests: the
//!   central requires a birth date for these so that card numbers alone never open anything
//!   (the terminal refuses a request without one, or supplies it from its own check).
//! - **YZK/TKK body.** `YZKsiquc01req` requires `StartDate` and `EndDate`; `TKKsiquc01req`
//!   accepts them when present (OQSDrug sends neither for 特定健診). `FileCategory` is required;
//!   `PrDiInfClassification` and `MedicalTreatmentFlag` are optional (always `1` in the wild).
//! - **Bounds not given by §2**: `ArbitraryFileIdentifier` and `ArbitraryIdentifier` ≤ 100
//!   characters; `ReceptionNumber` ≤ 50 ASCII letters, digits, `-` or `_` (it goes into a URL);
//!   flags and `FileCategory` one digit; 枝番 one or two digits.
//! - **Insurer numbers** are half-width digits: 8, or 6 (国保) written bare, padded with leading
//!   spaces or with `00` to 8. Both paddings are accepted ([`InsurerNumberField`]).
//! - **Unknown elements are ignored**, as are attributes, comments, processing instructions and
//!   namespace prefixes: the real layout has grown over versions (別紙 Ver8.07) and a newer
//!   sender must still be answered. Duplicated known elements are refused.
//! - **Face file 処理コード.** [`face_name`] writes `0`, the value OQSDrug2's imitation uses for
//!   ordinary 資格確認 (it writes `400` 医療扶助, `600` 訪問診療, `800` オンライン診療); the real
//!   terminal's table is unknown.
//! - **File names**: the prefix and the `req`/`res` marker are matched case-sensitively as in
//!   the specification; the `.xml` extension in any case.
//! - **Output**: CRLF line ends and two-space indentation (what .NET's `XmlWriter` writes on the
//!   real, Windows, terminal). "Shift_JIS" means Windows-31J (CP932), as Windows software writes
//!   it.

mod name;
mod request;
mod xml;

pub use name::{face_name, Direction, Family, FileName, MAX_SUFFIX_CHARS};
pub use request::{
    BulkEligibilityRequest, BulkReferenceNumberRequest, EligibilityRequest, Header,
    InformationRequest, InsurerNumberField, ReceptionRequest, ReferenceNumberRequest, Registration,
    Request, SearchInfo, MAX_ITEMS,
};
pub use xml::{decode, write, CharacterCode, Document, Element, TextValue, MAX_BYTES};

use std::fmt;

/// Every error code an [`OqsError`] can carry.
pub const ERROR_CODES: &[&str] = &[
    "too_large",
    "encoding",
    "malformed",
    "wrong_root",
    "missing_element",
    "duplicate_element",
    "not_digits",
    "wrong_length",
    "too_long",
    "bad_characters",
    "too_many_items",
    "unknown_family",
    "bad_name",
    "unsafe_name",
];

/// A file name, document or request that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OqsError {
    /// Stable machine-readable code, one of [`ERROR_CODES`].
    pub code: &'static str,
    /// The element at fault, relative to `XmlMsg`, with a 1-based index for repeated items
    /// (`MessageBody/QualificationConfirmSearchInfo[2]/InsurerNumber`); `None` for the file
    /// as a whole.
    pub path: Option<String>,
    /// Japanese, for the clinic's staff.
    pub message: String,
}

impl OqsError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            path: None,
            message: message.into(),
        }
    }

    pub(crate) fn at(
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            path: Some(path.into()),
            message: message.into(),
        }
    }
}

impl fmt::Display for OqsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{p}: {} ({})", self.message, self.code),
            None => write!(f, "{} ({})", self.message, self.code),
        }
    }
}

impl std::error::Error for OqsError {}

/// The Japanese item name of an element, for messages (the element name itself when unknown).
pub fn label(element: &str) -> &str {
    match element {
        "XmlMsg" => "XmlMsg",
        "MessageHeader" => "メッセージヘッダ",
        "MessageBody" => "メッセージボディ",
        "QualificationConfirmationDate" => "資格確認日",
        "MedicalInstitutionCode" => "医療機関コード",
        "ArbitraryFileIdentifier" => "任意のファイル識別子",
        "QualificationConfirmSearchInfo" => "資格確認照会用情報",
        "InsurerNumber" => "保険者番号",
        "InsuredCardSymbol" | "InsuranceCardSymbol" => "被保険者証記号",
        "InsuredIdentificationNumber" | "InsuredPersonIdentificationNumber" => "被保険者証番号",
        "InsuredBranchNumber" | "BranchNumber" => "被保険者証枝番",
        "Birthdate" => "生年月日",
        "LimitApplicationCertificateRelatedConsFlg" => "限度額適用認定証提供同意フラグ",
        "ArbitraryIdentifier" => "任意の識別子",
        "ReceptionNumber" => "受付番号",
        "ReferenceNumberRegistrationInfo" => "照会番号登録情報",
        "ReferenceNumber" => "照会番号",
        "StartDate" => "開始年月日",
        "EndDate" => "終了年月日",
        "FileCategory" => "ファイル区分",
        "PrDiInfClassification" => "情報区分",
        "MedicalTreatmentFlag" => "診療区分",
        other => other,
    }
}

/// Runs every reader on arbitrary bytes, for fuzzing: the first lines as file names, the bytes
/// as a document and as a request of every family. Panics only when an invariant breaks: a
/// parsed file name's response name parses as a response with the same prefix; a parsed
/// request, written and decoded again, parses to itself; a decoded document, written in either
/// encoding (Shift_JIS only when its element names are ASCII) and decoded again, is the same
/// tree.
pub fn fuzz_one(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines().take(4) {
        if let Ok(name) = FileName::parse(line) {
            let response =
                FileName::parse(&name.response_name()).expect("a response name parses again");
            assert_eq!(response.direction(), Direction::Response);
            assert_eq!(response.prefix(), name.prefix());
            let _ = name.family();
        }
    }
    let Ok(doc) = decode(bytes) else { return };
    for family in Family::ALL {
        if let Ok(request) = Request::parse(&doc, *family) {
            assert_eq!(request.family(), *family);
            let again = decode(&write(&request.to_element(), doc.character_code()))
                .expect("a written request decodes");
            assert_eq!(
                Request::parse(&again, *family).as_ref(),
                Ok(&request),
                "a written request parses to itself"
            );
        }
    }
    // A non-ASCII element name may have no Shift_JIS form (OQS names are ASCII).
    let codes: &[CharacterCode] = if ascii_names(doc.root()) {
        &[CharacterCode::Utf8, CharacterCode::ShiftJis]
    } else {
        &[CharacterCode::Utf8]
    };
    for &code in codes {
        let written = write(doc.root(), code);
        let again = decode(&written).expect("a written document decodes");
        assert_eq!(again.character_code(), code);
        assert_eq!(again.root(), doc.root(), "write → decode keeps the tree");
    }
}

fn ascii_names(e: &Element) -> bool {
    e.name().is_ascii() && e.children().iter().all(ascii_names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// One input per error code: every code can happen, and the list is complete.
    #[test]
    fn every_error_code() {
        let name = |n: &str| FileName::parse(n).and_then(|f| f.family().map(|_| ()));
        let doc = |x: &str| decode(x.as_bytes()).map(|_| ());
        let request = |family, x: &str| {
            decode(x.as_bytes()).and_then(|d| Request::parse(&d, family).map(|_| ()))
        };
        let eligibility = |search: &str| {
            format!("<XmlMsg><MessageHeader><MedicalInstitutionCode>1310000003</MedicalInstitutionCode></MessageHeader><MessageBody><QualificationConfirmSearchInfo>{search}</QualificationConfirmSearchInfo></MessageBody></XmlMsg>")
        };
        let ok = "<InsurerNumber>06139992</InsurerNumber><InsuredIdentificationNumber>1</InsuredIdentificationNumber><Birthdate>19800101</Birthdate>";
        let many = eligibility(ok).replace(
            &format!("<QualificationConfirmSearchInfo>{ok}</QualificationConfirmSearchInfo>"),
            &format!("<QualificationConfirmSearchInfo>{ok}</QualificationConfirmSearchInfo>")
                .repeat(MAX_ITEMS + 1),
        );
        let cases: Vec<(&str, Result<(), OqsError>)> = vec![
            ("too_large", decode(&vec![b'<'; MAX_BYTES + 1]).map(|_| ())),
            ("encoding", decode(b"<XmlMsg>\x82\xA0</XmlMsg>").map(|_| ())),
            ("malformed", doc("<XmlMsg>")),
            ("wrong_root", doc("<xmlmsg/>")),
            ("missing_element", doc("<XmlMsg><MessageBody/></XmlMsg>")),
            ("duplicate_element", doc("<XmlMsg><MessageHeader/><MessageHeader/><MessageBody/></XmlMsg>")),
            ("not_digits", request(Family::Eligibility, &eligibility(&ok.replace("19800101", "S55.1.1")))),
            ("wrong_length", request(Family::Eligibility, &eligibility(&ok.replace("19800101", "198011")))),
            ("too_long", request(Family::Eligibility, &eligibility(&ok.replace("06139992", "061399920")))),
            ("bad_characters", request(Family::BulkEligibilityResult, "<XmlMsg><MessageHeader><MedicalInstitutionCode>1310000003</MedicalInstitutionCode></MessageHeader><MessageBody><ReceptionNumber>../1</ReceptionNumber></MessageBody></XmlMsg>")),
            ("too_many_items", request(Family::BulkEligibility, &many)),
            ("unknown_family", name("OQSmutic01req_1.xml")),
            ("bad_name", name("OQSsiquc01.xml")),
            ("unsafe_name", name("OQSsiquc01req_...xml")),
        ];
        let mut seen = BTreeSet::new();
        for (code, result) in cases {
            let e = result.expect_err(code);
            assert_eq!(e.code, code, "{e}");
            assert!(e.to_string().contains(code));
            seen.insert(code);
        }
        assert_eq!(seen, ERROR_CODES.iter().copied().collect());
        assert!(request(Family::Eligibility, &eligibility(ok)).is_ok());
    }

    #[test]
    fn display_names_the_path() {
        let e = OqsError::at("too_long", "MessageBody/X", "長すぎます");
        assert_eq!(e.to_string(), "MessageBody/X: 長すぎます (too_long)");
        assert_eq!(label("InsurerNumber"), "保険者番号");
        assert_eq!(label("Unknown"), "Unknown");
    }

    #[test]
    fn fuzz_one_accepts_its_own_output() {
        let request = decode(
            "<XmlMsg><MessageHeader><MedicalInstitutionCode>1310000003</MedicalInstitutionCode></MessageHeader><MessageBody><ReceptionNumber>1</ReceptionNumber></MessageBody></XmlMsg>".as_bytes(),
        )
        .unwrap();
        for code in [CharacterCode::Utf8, CharacterCode::ShiftJis] {
            fuzz_one(&write(request.root(), code));
        }
        fuzz_one(b"OQSsiquc01req_1.xml\n<XmlMsg/>");
        fuzz_one(
            "<XmlMsg><MessageHeader/><MessageBody><\u{20BB7}>1</\u{20BB7}></MessageBody></XmlMsg>"
                .as_bytes(),
        );
    }
}
