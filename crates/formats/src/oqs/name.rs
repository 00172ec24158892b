//! File names: `<prefix>req_<suffix>.xml` and `<prefix>res_<suffix>.xml` (research §2.2).

use super::OqsError;
use kakunin_domain::{InstitutionCode, Timestamp};
use std::fmt;

/// Longest suffix (the free part between `req_` and `.xml`), in characters.
pub const MAX_SUFFIX_CHARS: usize = 100;
/// Longest prefix accepted for a family we do not know.
const MAX_PREFIX_CHARS: usize = 16;
/// Characters a suffix may not hold: path separators, and what Windows refuses in a name.
const FORBIDDEN: &[char] = &['/', '\\', ':', '*', '?', '"', '<', '>', '|'];

/// The message families the terminal answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `OQSsiquc01`: single 資格確認.
    Eligibility,
    /// `OQSmuquc01`: 資格確認一括照会 upload (answered with a 受付番号).
    BulkEligibility,
    /// `OQSmuquc02`: 資格確認一括照会 result download (by 受付番号).
    BulkEligibilityResult,
    /// `OQSsiimm01`: 照会番号 registration, single.
    ReferenceNumber,
    /// `OQSmuimm01`: 照会番号 registration, bulk upload.
    BulkReferenceNumber,
    /// `OQSmuimm02`: 照会番号 registration, bulk result download.
    BulkReferenceNumberResult,
    /// `YZKsiquc01`: 薬剤情報 (+ 診療情報).
    Medication,
    /// `TKKsiquc01`: 特定健診情報.
    Checkup,
}

impl Family {
    pub const ALL: &'static [Family] = &[
        Family::Eligibility,
        Family::BulkEligibility,
        Family::BulkEligibilityResult,
        Family::ReferenceNumber,
        Family::BulkReferenceNumber,
        Family::BulkReferenceNumberResult,
        Family::Medication,
        Family::Checkup,
    ];

    /// The file-name prefix, e.g. `OQSsiquc01`.
    pub fn prefix(self) -> &'static str {
        match self {
            Family::Eligibility => "OQSsiquc01",
            Family::BulkEligibility => "OQSmuquc01",
            Family::BulkEligibilityResult => "OQSmuquc02",
            Family::ReferenceNumber => "OQSsiimm01",
            Family::BulkReferenceNumber => "OQSmuimm01",
            Family::BulkReferenceNumberResult => "OQSmuimm02",
            Family::Medication => "YZKsiquc01",
            Family::Checkup => "TKKsiquc01",
        }
    }

    pub fn from_prefix(prefix: &str) -> Option<Family> {
        Family::ALL.iter().copied().find(|f| f.prefix() == prefix)
    }

    /// What the family is, in Japanese (for staff).
    pub fn label(self) -> &'static str {
        match self {
            Family::Eligibility => "資格確認",
            Family::BulkEligibility => "資格確認一括照会",
            Family::BulkEligibilityResult => "資格確認一括照会結果取得",
            Family::ReferenceNumber => "照会番号登録",
            Family::BulkReferenceNumber => "照会番号一括登録",
            Family::BulkReferenceNumberResult => "照会番号一括登録結果取得",
            Family::Medication => "薬剤情報取得",
            Family::Checkup => "特定健診情報取得",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

/// Whether a file is a request (`req`) or a result (`res`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Request,
    Response,
}

impl Direction {
    fn marker(self) -> &'static str {
        match self {
            Direction::Request => "req",
            Direction::Response => "res",
        }
    }
}

/// A checked OQS file name: `<prefix><req|res>_<suffix>.xml`.
///
/// Parsing checks the shape only; a prefix of no family we know still parses (so the terminal
/// can answer it) and [`FileName::family`] reports it as `unknown_family`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileName {
    prefix: String,
    direction: Direction,
    suffix: String,
    /// As written (`xml`, `XML`, …), so the answer keeps it.
    extension: String,
}

impl FileName {
    /// Parses a bare file name (no directory).
    pub fn parse(name: &str) -> Result<Self, OqsError> {
        let bad = || {
            OqsError::new(
                "bad_name",
                "ファイル名が「<種別>req_<任意>.xml」の形ではありません",
            )
        };
        if name.contains(['/', '\\']) {
            return Err(OqsError::new(
                "unsafe_name",
                "ファイル名にフォルダの区切り文字があります",
            ));
        }
        let dot = name.rfind('.').ok_or_else(bad)?;
        let (stem, extension) = (&name[..dot], &name[dot + 1..]);
        if !extension.eq_ignore_ascii_case("xml") {
            return Err(bad());
        }
        let at = [stem.find("req_"), stem.find("res_")]
            .into_iter()
            .flatten()
            .min()
            .ok_or_else(bad)?;
        let prefix = &stem[..at];
        let direction = if stem[at..].starts_with("req_") {
            Direction::Request
        } else {
            Direction::Response
        };
        if prefix.is_empty()
            || prefix.len() > MAX_PREFIX_CHARS
            || !prefix.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(bad());
        }
        let suffix = &stem[at + 4..];
        check_suffix(suffix)?;
        Ok(Self {
            prefix: prefix.to_string(),
            direction,
            suffix: suffix.to_string(),
            extension: extension.to_string(),
        })
    }

    /// A name of a known family, e.g. `FileName::new(Family::Eligibility, Direction::Request,
    /// "202504010001")` → `OQSsiquc01req_202504010001.xml`. The suffix is checked as in
    /// [`FileName::parse`].
    pub fn new(family: Family, direction: Direction, suffix: &str) -> Result<Self, OqsError> {
        check_suffix(suffix)?;
        Ok(Self {
            prefix: family.prefix().to_string(),
            direction,
            suffix: suffix.to_string(),
            extension: "xml".to_string(),
        })
    }

    /// The family; `unknown_family` for a prefix we do not answer.
    pub fn family(&self) -> Result<Family, OqsError> {
        Family::from_prefix(&self.prefix).ok_or_else(|| {
            OqsError::new(
                "unknown_family",
                format!("対応していない種別のファイルです（{}）", self.prefix),
            )
        })
    }

    /// The prefix as written (`OQSsiquc01`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The free part between `req_`/`res_` and `.xml`.
    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    /// True for an unsolicited result of a kiosk check (`…res_face_…`).
    pub fn is_face(&self) -> bool {
        self.direction == Direction::Response && self.suffix.starts_with("face_")
    }

    /// The name of the answer: this name with the `req` after the prefix turned into `res`
    /// (a `req` inside the suffix stays). A response name is returned unchanged.
    pub fn response_name(&self) -> String {
        self.with_direction(Direction::Response)
    }

    /// The name of the request this result answers.
    pub fn request_name(&self) -> String {
        self.with_direction(Direction::Request)
    }

    fn with_direction(&self, direction: Direction) -> String {
        format!(
            "{}{}_{}.{}",
            self.prefix,
            direction.marker(),
            self.suffix,
            self.extension
        )
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_direction(self.direction))
    }
}

fn check_suffix(suffix: &str) -> Result<(), OqsError> {
    if suffix.is_empty() {
        return Err(OqsError::new(
            "bad_name",
            "ファイル名の「req_」の後ろが空です",
        ));
    }
    let chars = suffix.chars().count();
    if chars > MAX_SUFFIX_CHARS {
        return Err(OqsError::new(
            "too_long",
            format!("ファイル名が長すぎます（識別部分は{MAX_SUFFIX_CHARS}文字まで、{chars}文字あります）"),
        ));
    }
    if suffix.contains("..")
        || suffix.contains(FORBIDDEN)
        || suffix.chars().any(char::is_control)
        || suffix.starts_with(char::is_whitespace)
        || suffix.ends_with(char::is_whitespace)
    {
        return Err(OqsError::new(
            "unsafe_name",
            "ファイル名に使えない文字（..、/、\\、:、制御文字など）があります",
        ));
    }
    Ok(())
}

/// The name of an unsolicited result written into `face/` after a kiosk check:
/// `OQSsiquc01res_face_<医療機関コード><処理コード><counter, 17 digits>_<yyyyMMddHHmmss>.xml`,
/// with 処理コード `0` (ordinary 資格確認; see the module documentation) and the time in JST.
/// The counter wraps at 10^17 so it always has 17 digits.
pub fn face_name(institution: &InstitutionCode, counter: u64, at: Timestamp) -> FileName {
    FileName {
        prefix: Family::Eligibility.prefix().to_string(),
        direction: Direction::Response,
        suffix: format!(
            "face_{}0{:017}_{}",
            institution.as_str(),
            counter % 100_000_000_000_000_000,
            at.jst_compact()
        ),
        extension: "xml".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, Ok((prefix, direction, suffix, family known)) or Err(code)).
    #[allow(clippy::type_complexity)]
    const CASES: &[(&str, Result<(&str, Direction, &str, bool), &str>)] = &[
        (
            "OQSsiquc01req_202504010001.xml",
            Ok(("OQSsiquc01", Direction::Request, "202504010001", true)),
        ),
        (
            "OQSmuquc02res_20250401_0002.XML",
            Ok(("OQSmuquc02", Direction::Response, "20250401_0002", true)),
        ),
        (
            "OQSsiquc01req_req_res_1.xml",
            Ok(("OQSsiquc01", Direction::Request, "req_res_1", true)),
        ),
        (
            "YZKsiquc01req_2025.04.01.xml",
            Ok(("YZKsiquc01", Direction::Request, "2025.04.01", true)),
        ),
        (
            "TKKsiquc01req_患者0001.xml",
            Ok(("TKKsiquc01", Direction::Request, "患者0001", true)),
        ),
        (
            "OQSmuonq01req_202504010001.xml",
            Ok(("OQSmuonq01", Direction::Request, "202504010001", false)),
        ),
        ("OQSsiquc01req_...xml", Err("unsafe_name")),
        (
            "OQSsiquc01req_..xml",
            Ok(("OQSsiquc01", Direction::Request, ".", true)),
        ),
        ("OQSsiquc01req_a..b.xml", Err("unsafe_name")),
        ("OQSsiquc01req_../x.xml", Err("unsafe_name")),
        ("..\\OQSsiquc01req_1.xml", Err("unsafe_name")),
        ("OQSsiquc01req_a:b.xml", Err("unsafe_name")),
        ("OQSsiquc01req_a\tb.xml", Err("unsafe_name")),
        ("OQSsiquc01req_ a.xml", Err("unsafe_name")),
        ("OQSsiquc01req_.xml", Err("bad_name")),
        ("OQSsiquc01req_1.txt", Err("bad_name")),
        ("OQSsiquc01req_1", Err("bad_name")),
        ("OQSsiquc01req1.xml", Err("bad_name")),
        ("req_1.xml", Err("bad_name")),
        ("OQS-siquc01req_1.xml", Err("bad_name")),
        ("", Err("bad_name")),
    ];

    #[test]
    fn names() {
        for (name, expected) in CASES {
            let got = FileName::parse(name);
            match (expected, &got) {
                (Ok((prefix, direction, suffix, known)), Ok(n)) => {
                    assert_eq!(n.prefix(), *prefix, "{name}");
                    assert_eq!(n.direction(), *direction, "{name}");
                    assert_eq!(n.suffix(), *suffix, "{name}");
                    assert_eq!(n.family().is_ok(), *known, "{name}");
                    assert_eq!(n.to_string(), *name, "{name}");
                }
                (Err(code), Err(e)) => assert_eq!(e.code, *code, "{name}: {e}"),
                _ => panic!("{name}: expected {expected:?}, got {got:?}"),
            }
        }
        let long = format!("OQSsiquc01req_{}.xml", "1".repeat(MAX_SUFFIX_CHARS + 1));
        assert_eq!(FileName::parse(&long).unwrap_err().code, "too_long");
        let unknown = FileName::parse("OQSmuonq01req_1.xml").unwrap();
        assert_eq!(unknown.family().unwrap_err().code, "unknown_family");
        assert_eq!(unknown.response_name(), "OQSmuonq01res_1.xml");
    }

    #[test]
    fn response_names_turn_only_the_marker() {
        for (request, response) in [
            (
                "OQSsiquc01req_202504010001.xml",
                "OQSsiquc01res_202504010001.xml",
            ),
            ("OQSsiquc01req_req_1.xml", "OQSsiquc01res_req_1.xml"),
            ("OQSmuimm01req_x.XML", "OQSmuimm01res_x.XML"),
            ("OQSmuimm02res_1.xml", "OQSmuimm02res_1.xml"),
        ] {
            let name = FileName::parse(request).unwrap();
            assert_eq!(name.response_name(), response);
            let back = FileName::parse(response).unwrap();
            assert_eq!(back.request_name(), request.replace("02res_", "02req_"));
        }
        let built = FileName::new(Family::Medication, Direction::Request, "20250401").unwrap();
        assert_eq!(built.to_string(), "YZKsiquc01req_20250401.xml");
        assert_eq!(
            FileName::new(Family::Checkup, Direction::Request, "a/..")
                .unwrap_err()
                .code,
            "unsafe_name"
        );
    }

    #[test]
    fn face_names() {
        let code = InstitutionCode::parse("1310000003").unwrap();
        // 2025-04-01 09:30:15 JST.
        let at = Timestamp::from_unix_millis(1_743_467_415_000);
        let name = face_name(&code, 42, at);
        assert_eq!(
            name.to_string(),
            "OQSsiquc01res_face_1310000003000000000000000042_20250401093015.xml"
        );
        assert!(name.is_face());
        assert_eq!(name.family(), Ok(Family::Eligibility));
        assert_eq!(FileName::parse(&name.to_string()), Ok(name.clone()));
        let wrapped = face_name(&code, u64::MAX, at).to_string();
        assert_eq!(wrapped.len(), name.to_string().len());
    }
}
