//! Identifiers of the insurance system, each a newtype that can only hold a valid value.
//!
//! Every code is a string: leading zeros matter (`01` 協会けんぽ, branch `00`).

use crate::check_digit;
use crate::text::{fold_width, match_key};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("empty")]
    Empty,
    #[error("must be {expected} digits, got {got} characters")]
    Length { expected: &'static str, got: usize },
    #[error("must contain only digits")]
    NotDigits,
    #[error("check digit is wrong")]
    CheckDigit,
    #[error("prefecture code {0} is not 01–47")]
    Prefecture(String),
    #[error("point-table digit {0} is not 1 (医科), 3 (歯科) or 4 (調剤)")]
    PointTable(char),
    #[error("longer than {0} characters")]
    TooLong(usize),
    #[error("contains a control character")]
    Control,
    #[error("後期高齢者医療 (法別39) cards have no 記号")]
    SymbolNotAllowed,
    #[error("後期高齢者医療 (法別39) numbers are 8 digits with a check digit")]
    LateElderlyNumber,
}

/// Half-width digits of `raw` after folding full-width characters and trimming spaces.
fn digits(raw: &str, expected: &'static str, lens: &[usize]) -> Result<String, IdError> {
    let s: String = raw
        .chars()
        .map(fold_width)
        .collect::<String>()
        .trim()
        .to_string();
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::NotDigits);
    }
    if !lens.contains(&s.len()) {
        return Err(IdError::Length {
            expected,
            got: s.chars().count(),
        });
    }
    Ok(s)
}

fn prefecture_ok(two: &str) -> Result<(), IdError> {
    match two.parse::<u8>() {
        Ok(1..=47) => Ok(()),
        _ => Err(IdError::Prefecture(two.to_string())),
    }
}

/// What kind of insurer a 保険者番号 belongs to, from its 法別番号 (or its length for 国保).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InsurerKind {
    /// 市町村国保 (6 digits).
    MunicipalNhi,
    /// 国民健康保険組合 (6 digits, insurer part 3xx).
    NhiSociety,
    /// 01 全国健康保険協会 (協会けんぽ).
    Kyokai,
    /// 02 船員保険.
    Seamen,
    /// 03/04 日雇特例.
    DayLabourer,
    /// 06 健康保険組合.
    HealthInsuranceSociety,
    /// 07 自衛官等.
    SelfDefense,
    /// 31 国家公務員共済組合.
    NationalPublicServants,
    /// 32 地方公務員等共済組合.
    LocalPublicServants,
    /// 33 警察共済組合.
    Police,
    /// 34 日本私立学校振興・共済事業団.
    PrivateSchools,
    /// 39 後期高齢者医療広域連合.
    LateElderly,
    /// 63 特例退職.
    SpecialRetired,
    /// Any other 法別番号.
    Other(u8),
}

impl InsurerKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::MunicipalNhi => "市町村国保",
            Self::NhiSociety => "国保組合",
            Self::Kyokai => "協会けんぽ",
            Self::Seamen => "船員保険",
            Self::DayLabourer => "日雇特例",
            Self::HealthInsuranceSociety => "健康保険組合",
            Self::SelfDefense => "自衛官等",
            Self::NationalPublicServants => "国家公務員共済",
            Self::LocalPublicServants => "地方公務員共済",
            Self::Police => "警察共済",
            Self::PrivateSchools => "私学共済",
            Self::LateElderly => "後期高齢者医療",
            Self::SpecialRetired => "特例退職",
            Self::Other(_) => "その他",
        }
    }
}

/// 保険者番号: 法別 (2) + 都道府県 (2) + 保険者別 (3) + 検証 (1), or 6 digits for 国保.
/// Input may be full-width, space-padded or zero-padded to 8 (`  123455`, `00123455`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InsurerNumber(String);

impl InsurerNumber {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let mut s = digits(raw, "6 or 8", &[6, 8])?;
        if s.len() == 8 && s.starts_with("00") {
            // 国保 numbers zero-padded to 8; 法別 00 does not exist.
            s.drain(..2);
        }
        let pref = if s.len() == 6 { &s[0..2] } else { &s[2..4] };
        prefecture_ok(pref)?;
        if !check_digit::is_valid(&s) {
            return Err(IdError::CheckDigit);
        }
        Ok(Self(s))
    }

    /// The canonical digits (6 or 8).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Padded to 8 with leading spaces, as the OQS XML interface emits it.
    pub fn space_padded(&self) -> String {
        format!("{:>8}", self.0)
    }

    /// The 法別番号, absent for 国保.
    pub fn law_code(&self) -> Option<&str> {
        (self.0.len() == 8).then(|| &self.0[0..2])
    }

    /// 都道府県番号.
    pub fn prefecture(&self) -> u8 {
        let p = if self.0.len() == 6 {
            &self.0[0..2]
        } else {
            &self.0[2..4]
        };
        p.parse().unwrap_or(0)
    }

    pub fn kind(&self) -> InsurerKind {
        match self.law_code() {
            None if self.0.as_bytes()[2] == b'3' => InsurerKind::NhiSociety,
            None => InsurerKind::MunicipalNhi,
            Some(law) => match law {
                "01" => InsurerKind::Kyokai,
                "02" => InsurerKind::Seamen,
                "03" | "04" => InsurerKind::DayLabourer,
                "06" => InsurerKind::HealthInsuranceSociety,
                "07" => InsurerKind::SelfDefense,
                "31" => InsurerKind::NationalPublicServants,
                "32" => InsurerKind::LocalPublicServants,
                "33" => InsurerKind::Police,
                "34" => InsurerKind::PrivateSchools,
                "39" => InsurerKind::LateElderly,
                "63" => InsurerKind::SpecialRetired,
                other => InsurerKind::Other(other.parse().unwrap_or(0)),
            },
        }
    }
}

/// 公費負担者番号: 法別 (2) + 都道府県 (2) + 実施機関 (3) + 検証 (1).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicExpenseNumber(String);

impl PublicExpenseNumber {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s = digits(raw, "8", &[8])?;
        prefecture_ok(&s[2..4])?;
        if !check_digit::is_valid(&s) {
            return Err(IdError::CheckDigit);
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn law_code(&self) -> &str {
        &self.0[0..2]
    }
}

/// 公費負担医療の受給者番号: 6 digits + 検証 (1).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecipientNumber(String);

impl RecipientNumber {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s = digits(raw, "7", &[7])?;
        if !check_digit::is_valid(&s) {
            return Err(IdError::CheckDigit);
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 点数表番号 of an institution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PointTable {
    /// 1 医科.
    Medical,
    /// 3 歯科.
    Dental,
    /// 4 調剤 (pharmacy).
    Pharmacy,
}

impl PointTable {
    pub fn code(self) -> char {
        match self {
            Self::Medical => '1',
            Self::Dental => '3',
            Self::Pharmacy => '4',
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Medical => "医科",
            Self::Dental => "歯科",
            Self::Pharmacy => "調剤",
        }
    }
}

/// 医療機関コード (10 digits): 都道府県 (2) + 点数表 (1) + 郡市区・機関番号 (6) + 検証 (1).
/// The check digit covers the nine digits before it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstitutionCode(String);

impl InstitutionCode {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s = digits(raw, "10", &[10])?;
        prefecture_ok(&s[0..2])?;
        let t = s.as_bytes()[2] as char;
        if !matches!(t, '1' | '3' | '4') {
            return Err(IdError::PointTable(t));
        }
        if !check_digit::is_valid(&s) {
            return Err(IdError::CheckDigit);
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn prefecture(&self) -> u8 {
        self.0[0..2].parse().unwrap_or(0)
    }
    pub fn point_table(&self) -> PointTable {
        match self.0.as_bytes()[2] {
            b'3' => PointTable::Dental,
            b'4' => PointTable::Pharmacy,
            _ => PointTable::Medical,
        }
    }
}

/// Free text of a card field: trimmed raw text for display plus the key used for matching.
fn card_text(raw: &str, max: usize) -> Result<(String, String), IdError> {
    let trimmed = raw.trim_matches(|c: char| c.is_whitespace()).to_string();
    if trimmed.is_empty() {
        return Err(IdError::Empty);
    }
    if trimmed.chars().any(char::is_control) {
        return Err(IdError::Control);
    }
    if trimmed.chars().count() > max {
        return Err(IdError::TooLong(max));
    }
    let key = match_key(&trimmed);
    Ok((trimmed, key))
}

/// 被保険者証記号 (≤ 20 characters, may be full-width or contain kanji).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CardSymbol {
    raw: String,
    key: String,
}

impl CardSymbol {
    pub const MAX_CHARS: usize = 20;
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let (raw, key) = card_text(raw, Self::MAX_CHARS)?;
        Ok(Self { raw, key })
    }
    /// As the insurer wrote it.
    pub fn raw(&self) -> &str {
        &self.raw
    }
    /// Normalised for matching (half-width, upper-case, no spaces).
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// 被保険者証番号 (≤ 20 characters).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CardNumber {
    raw: String,
    key: String,
}

impl CardNumber {
    pub const MAX_CHARS: usize = 20;
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let (raw, key) = card_text(raw, Self::MAX_CHARS)?;
        Ok(Self { raw, key })
    }
    pub fn raw(&self) -> &str {
        &self.raw
    }
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// 被保険者証枝番: two digits. A single digit (as spreadsheets leave `01`) is zero-padded.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Branch([u8; 2]);

impl Branch {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s = digits(raw, "2", &[1, 2])?;
        let b = s.as_bytes();
        Ok(if b.len() == 1 {
            Self([b'0', b[0]])
        } else {
            Self([b[0], b[1]])
        })
    }
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("00")
    }
}

/// What identifies an insurance card: 保険者番号 + 記号 + 番号 + 枝番.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CardIdentity {
    pub insurer: InsurerNumber,
    pub symbol: Option<CardSymbol>,
    pub number: CardNumber,
    pub branch: Option<Branch>,
}

impl CardIdentity {
    /// Checks the rules that tie the parts together (後期高齢: no 記号, 8-digit checked 番号).
    pub fn new(
        insurer: InsurerNumber,
        symbol: Option<CardSymbol>,
        number: CardNumber,
        branch: Option<Branch>,
    ) -> Result<Self, IdError> {
        if insurer.kind() == InsurerKind::LateElderly {
            if symbol.is_some() {
                return Err(IdError::SymbolNotAllowed);
            }
            let k = number.key();
            if k.len() != 8 || !k.bytes().all(|b| b.is_ascii_digit()) || !check_digit::is_valid(k) {
                return Err(IdError::LateElderlyNumber);
            }
        }
        Ok(Self {
            insurer,
            symbol,
            number,
            branch,
        })
    }

    /// The symbol's matching key, or "" when the card has none.
    pub fn symbol_key(&self) -> &str {
        self.symbol.as_ref().map_or("", CardSymbol::key)
    }
}

macro_rules! debug_display {
    ($($t:ty => $m:ident),* $(,)?) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.$m())
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($t), "({})"), self)
            }
        }
    )*};
}

debug_display! {
    InsurerNumber => as_str,
    PublicExpenseNumber => as_str,
    RecipientNumber => as_str,
    InstitutionCode => as_str,
    Branch => as_str,
    CardSymbol => raw,
    CardNumber => raw,
}

impl fmt::Debug for CardIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Card numbers are personal data: debug output names the insurer only.
        write!(f, "CardIdentity({}, …)", self.insurer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn insurer_numbers() {
        for (raw, want) in [
            ("33120015", Ok("33120015")),
            ("54016027", Ok("54016027")),
            ("123455", Ok("123455")),
            ("  123455", Ok("123455")),
            ("00123455", Ok("123455")),
            ("１２３４５５", Ok("123455")),
            ("123456", Err(IdError::CheckDigit)),
            (
                "1234",
                Err(IdError::Length {
                    expected: "6 or 8",
                    got: 4,
                }),
            ),
            ("", Err(IdError::Empty)),
            ("12a455", Err(IdError::NotDigits)),
            ("33990010", Err(IdError::Prefecture("99".into()))),
        ] {
            assert_eq!(
                InsurerNumber::parse(raw)
                    .as_ref()
                    .map(InsurerNumber::as_str),
                want.as_ref().map(|s| *s),
                "{raw:?}"
            );
        }
        let n = InsurerNumber::parse("123455").unwrap();
        assert_eq!(n.space_padded(), "  123455");
        assert_eq!(n.kind(), InsurerKind::NhiSociety);
        let city = InsurerNumber::parse(&check_digit::complete("13101").unwrap()).unwrap();
        assert_eq!(city.kind(), InsurerKind::MunicipalNhi);
        assert_eq!(
            InsurerNumber::parse("33120015").unwrap().kind(),
            InsurerKind::Police
        );
    }

    #[test]
    fn institution_codes() {
        let c = InstitutionCode::parse("0110113719").unwrap();
        assert_eq!(c.prefecture(), 1);
        assert_eq!(c.point_table(), PointTable::Medical);
        assert_eq!(
            InstitutionCode::parse("0110113710"),
            Err(IdError::CheckDigit)
        );
        assert_eq!(
            InstitutionCode::parse("0120113719"),
            Err(IdError::PointTable('2'))
        );
    }

    #[test]
    fn late_elderly_rules() {
        let ins = InsurerNumber::parse(&check_digit::complete("3913001").unwrap()).unwrap();
        assert_eq!(ins.kind(), InsurerKind::LateElderly);
        let num = CardNumber::parse(&check_digit::complete("1234567").unwrap()).unwrap();
        assert!(CardIdentity::new(ins.clone(), None, num.clone(), None).is_ok());
        let sym = CardSymbol::parse("1").unwrap();
        assert_eq!(
            CardIdentity::new(ins.clone(), Some(sym), num, None),
            Err(IdError::SymbolNotAllowed)
        );
        let bad = CardNumber::parse("12345678").unwrap();
        assert_eq!(
            CardIdentity::new(ins, None, bad, None),
            Err(IdError::LateElderlyNumber)
        );
    }

    #[test]
    fn branches() {
        assert_eq!(Branch::parse("01").unwrap().as_str(), "01");
        assert_eq!(Branch::parse("1").unwrap().as_str(), "01");
        assert_eq!(Branch::parse("０２").unwrap().as_str(), "02");
        assert!(Branch::parse("123").is_err());
    }

    fn body(len: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(0u8..10, len)
            .prop_map(|v| v.iter().map(|d| char::from(b'0' + d)).collect())
    }

    proptest! {
        #[test]
        fn insurer_round_trip(pref in 1u8..=47, law in 1u8..=99, rest in body(3)) {
            let b = format!("{law:02}{pref:02}{rest}");
            let full = check_digit::complete(&b).unwrap();
            let n = InsurerNumber::parse(&full).unwrap();
            prop_assert_eq!(n.as_str(), full.as_str());
            prop_assert_eq!(InsurerNumber::parse(&n.space_padded()).unwrap(), n.clone());
            // Every wrong check digit is refused.
            for wrong in (0..10).filter(|d| Some(*d) != check_digit::compute(&b)) {
                let candidate = format!("{}{}", b, wrong);
                prop_assert!(InsurerNumber::parse(&candidate).is_err());
            }
        }

        #[test]
        fn nhi_round_trip(pref in 1u8..=47, rest in body(3)) {
            let full = check_digit::complete(&format!("{pref:02}{rest}")).unwrap();
            let n = InsurerNumber::parse(&full).unwrap();
            prop_assert_eq!(InsurerNumber::parse(&format!("00{full}")).unwrap(), n.clone());
            prop_assert_eq!(InsurerNumber::parse(&n.space_padded()).unwrap(), n);
        }

        #[test]
        fn single_digit_errors_are_caught(pref in 1u8..=47, rest in body(4), pos in 0usize..7, delta in 1u8..10) {
            let full = check_digit::complete(&format!("{pref:02}{rest}")).unwrap();
            let mut bytes = full.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(!check_digit::is_valid(&changed));
        }

        #[test]
        fn public_expense_round_trip(law in 10u8..=99, pref in 1u8..=47, rest in body(3)) {
            let full = check_digit::complete(&format!("{law:02}{pref:02}{rest}")).unwrap();
            let n = PublicExpenseNumber::parse(&full).unwrap();
            prop_assert_eq!(n.as_str(), full.as_str());
        }

        #[test]
        fn recipient_round_trip(rest in body(6)) {
            let full = check_digit::complete(&rest).unwrap();
            let n = RecipientNumber::parse(&full).unwrap();
            prop_assert_eq!(n.as_str(), full.as_str());
        }

        #[test]
        fn institution_round_trip(pref in 1u8..=47, t in prop::sample::select(vec!['1', '3', '4']), rest in body(6)) {
            let full = check_digit::complete(&format!("{pref:02}{t}{rest}")).unwrap();
            let c = InstitutionCode::parse(&full).unwrap();
            prop_assert_eq!(c.as_str(), full.as_str());
            prop_assert_eq!(c.point_table().code(), t);
        }

        #[test]
        fn card_text_keys_ignore_width(s in "[0-9A-Z]{1,10}") {
            let wide: String = s.chars().map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap()).collect();
            let n = CardNumber::parse(&wide).unwrap();
            prop_assert_eq!(n.key(), s.as_str());
            prop_assert_eq!(n.raw(), wide.as_str());
        }
    }
}
