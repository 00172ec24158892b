//! A qualification (資格): one insured person's coverage under one card, with the fields of
//! `ResultOfQualificationConfirmation` that apply to health insurance.

use crate::copay::{standard_copay, CopayRatio};
use crate::date::Date;
use crate::ids::CardIdentity;

macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $code:literal, $label:literal;)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $v,)* }
        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$v),*];
            /// The code as written in the XML interface.
            pub fn code(self) -> &'static str { match self { $(Self::$v => $code,)* } }
            /// The Japanese label shown to staff.
            pub fn label(self) -> &'static str { match self { $(Self::$v => $label,)* } }
            /// Parses the code (half-width; callers fold full-width first).
            pub fn parse(code: &str) -> Option<Self> { match code { $($code => Some(Self::$v),)* _ => None } }
        }
    };
}

code_enum! {
    /// 被保険者証区分 (`InsuredCardClassification`).
    CardClassification {
        General = "01", "被保険者証（一般）";
        Retired = "02", "被保険者証（退職）";
        ShortTermGeneral = "03", "短期被保険者証（一般）";
        ShortTermRetired = "04", "短期被保険者証（退職）";
        QualificationCertificate = "05", "被保険者資格証明書";
        SpecialRetired = "06", "特例退職被保険者証";
        SelfDefense = "07", "自衛官診療証";
    }
}

code_enum! {
    /// 本人・家族の別 (`PersonalFamilyClassification`).
    Relationship {
        Insured = "1", "本人";
        Dependent = "2", "家族";
    }
}

code_enum! {
    /// 性別 (`Sex1`, OQSCD007).
    Sex {
        Male = "1", "男";
        Female = "2", "女";
        Unset = "3", "未設定";
    }
}

code_enum! {
    /// 資格喪失事由 (`ReasonOfLoss`).
    LossReason {
        Death = "01", "死亡";
        WelfareStart = "02", "生活保護受給開始";
        OtherInsurance = "03", "医療保険等の資格取得";
        Other = "99", "その他";
    }
}

code_enum! {
    /// 限度額適用認定証区分 (`LimitApplicationCertificateClassification`).
    LimitCertificateClassification {
        Limit = "01", "限度額適用認定証";
        LimitAndReduction = "02", "限度額適用・標準負担額減額認定証";
        Reduction = "03", "標準負担額減額認定証";
    }
}

code_enum! {
    /// 適用区分 (`LimitApplicationCertificateClassificationFlag`): A* under 70, B* 70 and over.
    LimitBracket {
        A01 = "A01", "ア";
        A02 = "A02", "イ";
        A03 = "A03", "ウ";
        A04 = "A04", "エ";
        A05 = "A05", "オ";
        A06 = "A06", "オ（境）";
        B01 = "B01", "現役並みⅢ";
        B02 = "B02", "現役並みⅡ";
        B03 = "B03", "現役並みⅠ";
        B04 = "B04", "一般";
        B05 = "B05", "低所得Ⅱ";
        B06 = "B06", "低所得Ⅰ";
        B07 = "B07", "低所得Ⅰ（老福）";
        B08 = "B08", "低所得Ⅰ（境）";
        B09 = "B09", "一般Ⅱ";
        B10 = "B10", "一般Ⅰ";
    }
}

impl LimitBracket {
    /// True for the brackets of people aged 70 and over (B01–B10).
    pub fn is_elderly(self) -> bool {
        self.code().starts_with('B')
    }
}

code_enum! {
    /// 特定疾病区分 (OQSCD013).
    SpecificDisease {
        Dialysis = "1", "人工透析を必要とする慢性腎不全";
        Hemophilia = "2", "先天性血液凝固因子障害（第VIII因子、第IX因子）";
        HivFromBloodProducts = "3", "血液凝固因子製剤の投与に起因するHIV感染症";
    }
}

/// 高齢受給者証 (people aged 70–74 outside 後期高齢).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElderlyCertificate {
    pub issued: Option<Date>,
    pub valid_from: Date,
    pub valid_until: Option<Date>,
    pub copay_ratio: CopayRatio,
}

/// 限度額適用認定証 (and the reduction certificates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitCertificate {
    pub classification: LimitCertificateClassification,
    pub bracket: LimitBracket,
    pub issued: Option<Date>,
    pub valid_from: Date,
    pub valid_until: Option<Date>,
    /// 長期入院該当年月日.
    pub long_term_date: Option<Date>,
}

/// 特定疾病療養受療証.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecificDiseaseCertificate {
    pub disease: SpecificDisease,
    pub issued: Option<Date>,
    pub valid_from: Date,
    pub valid_until: Option<Date>,
    /// 自己負担限度額 (yen per month).
    pub self_pay_yen: u32,
}

fn within(on: Date, from: Date, until: Option<Date>) -> bool {
    from <= on && until.is_none_or(|u| on <= u)
}

impl ElderlyCertificate {
    pub fn is_valid_on(&self, on: Date) -> bool {
        within(on, self.valid_from, self.valid_until)
    }
}
impl LimitCertificate {
    pub fn is_valid_on(&self, on: Date) -> bool {
        within(on, self.valid_from, self.valid_until)
    }
}
impl SpecificDiseaseCertificate {
    pub fn is_valid_on(&self, on: Date) -> bool {
        within(on, self.valid_from, self.valid_until)
    }
}

/// One qualification as registered by the insurer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qualification {
    pub card: CardIdentity,
    pub card_classification: CardClassification,
    pub relationship: Relationship,
    /// 被保険者氏名（世帯主氏名）, for dependents and 国保 households.
    pub insured_name: Option<String>,
    /// Full-width, family and given name separated by a full-width space.
    pub name: String,
    /// Half-width katakana.
    pub name_kana: String,
    pub sex: Sex,
    pub birthdate: Date,
    pub address: Option<String>,
    pub post_number: Option<String>,
    pub qualification_date: Date,
    /// 資格喪失年月日: the first day without coverage.
    pub disqualification_date: Option<Date>,
    pub loss_reason: Option<LossReason>,
    pub card_issue_date: Option<Date>,
    pub card_valid_from: Option<Date>,
    pub card_valid_until: Option<Date>,
    /// As registered; `None` means "derive from the rules" (see [`Qualification::copay_on`]).
    pub copay_ratio: Option<CopayRatio>,
    pub insurer_name: String,
    pub elderly: Option<ElderlyCertificate>,
    pub limit: Option<LimitCertificate>,
    pub specific_diseases: Vec<SpecificDiseaseCertificate>,
}

/// A rule a qualification breaks, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct QualificationError {
    pub field: &'static str,
    pub reason: &'static str,
}

impl Qualification {
    /// True when coverage holds on `on`: acquired on or before, and not yet lost.
    pub fn is_in_effect(&self, on: Date) -> bool {
        self.qualification_date <= on && self.disqualification_date.is_none_or(|d| on < d)
    }

    /// The co-pay ratio that applies on `on`: a valid 高齢受給者証's ratio first, then the
    /// registered ratio, then the statutory default for the person's age (DESIGN.md §4).
    pub fn copay_on(&self, on: Date) -> CopayRatio {
        if let Some(e) = self.elderly.as_ref().filter(|e| e.is_valid_on(on)) {
            return e.copay_ratio;
        }
        self.copay_ratio
            .unwrap_or_else(|| standard_copay(self.birthdate, on, self.card.insurer.kind()).default)
    }

    /// 未就学: on or before the 31 March after the person reaches 6.
    pub fn is_preschool_on(&self, on: Date) -> bool {
        crate::copay::is_preschool(self.birthdate, on)
    }

    /// Cross-field rules, checked on import. Returns every broken rule.
    pub fn check(&self) -> Vec<QualificationError> {
        let mut errs = Vec::new();
        let mut bad = |field, reason| errs.push(QualificationError { field, reason });
        if self.qualification_date < self.birthdate {
            bad("qualification_date", "資格取得日が生年月日より前です");
        }
        if let Some(d) = self.disqualification_date {
            if d < self.qualification_date {
                bad("disqualification_date", "資格喪失日が資格取得日より前です");
            }
        }
        if self.loss_reason.is_some() && self.disqualification_date.is_none() {
            bad(
                "disqualification_reason",
                "資格喪失日がないのに喪失事由があります",
            );
        }
        if let (Some(f), Some(u)) = (self.card_valid_from, self.card_valid_until) {
            if u < f {
                bad("card_valid_until", "証の有効終了日が開始日より前です");
            }
        }
        if let Some(c) = self.copay_ratio {
            let rule = standard_copay(
                self.birthdate,
                self.qualification_date.max(self.birthdate),
                self.card.insurer.kind(),
            );
            if !rule.allowed.contains(&c) && !rule.any_age_allowed(c) {
                bad("copay_ratio", "一部負担金割合が年齢区分に合いません");
            }
        }
        if self.name.trim().is_empty() {
            bad("name", "氏名が空です");
        }
        if self.insurer_name.trim().is_empty() {
            bad("insurer_name", "保険者名称が空です");
        }
        errs
    }
}
