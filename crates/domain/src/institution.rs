//! Institutions as operators register them: name (shown to patients in their access log), kind
//! (MHLW's statistics split), and where they are (災害時 areas).

use crate::ids::InstitutionCode;

/// The kinds MHLW's monthly statistics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstitutionKind {
    /// 病院 (20 beds or more).
    Hospital,
    /// 医科診療所.
    MedicalClinic,
    /// 歯科.
    Dental,
    /// 薬局.
    Pharmacy,
}

impl InstitutionKind {
    pub const ALL: [Self; 4] = [
        Self::Hospital,
        Self::MedicalClinic,
        Self::Dental,
        Self::Pharmacy,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Self::Hospital => "hospital",
            Self::MedicalClinic => "medical_clinic",
            Self::Dental => "dental",
            Self::Pharmacy => "pharmacy",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Hospital => "病院",
            Self::MedicalClinic => "医科診療所",
            Self::Dental => "歯科",
            Self::Pharmacy => "薬局",
        }
    }
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
    /// What the 医療機関コード's 点数表 digit allows: `1` 医科 (病院 or 診療所), `3` 歯科,
    /// `4` 調剤 (薬局). The code alone cannot tell a hospital from a clinic.
    pub fn from_code(code: &InstitutionCode) -> Self {
        match code.as_str().as_bytes().get(2) {
            Some(b'3') => Self::Dental,
            Some(b'4') => Self::Pharmacy,
            _ => Self::MedicalClinic,
        }
    }
}

/// A registered institution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Institution {
    pub code: InstitutionCode,
    /// 医療機関名 as registered (shown to patients).
    pub name: String,
    pub kind: InstitutionKind,
    /// 市区町村コード (地方公共団体コード without its check digit, 5 digits), when known; the
    /// prefecture is the code's first two digits and also the 医療機関コード's.
    pub municipality: Option<String>,
}

impl Institution {
    /// 都道府県番号 (2 digits) from the 医療機関コード.
    pub fn prefecture(&self) -> &str {
        &self.code.as_str()[..2]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_codes_and_back() {
        let code =
            |n: &str| InstitutionCode::parse(&crate::check_digit::complete(n).unwrap()).unwrap();
        assert_eq!(
            InstitutionKind::from_code(&code("131000001")),
            InstitutionKind::MedicalClinic
        );
        assert_eq!(
            InstitutionKind::from_code(&code("133000001")),
            InstitutionKind::Dental
        );
        assert_eq!(
            InstitutionKind::from_code(&code("134000001")),
            InstitutionKind::Pharmacy
        );
        for k in InstitutionKind::ALL {
            assert_eq!(InstitutionKind::parse(k.code()), Some(k));
        }
    }
}
