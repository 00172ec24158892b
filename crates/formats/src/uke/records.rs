//! Typed UKE records. Every record keeps its raw fields (`fields[0]` is the record id), so the
//! typed values are a view and nothing is lost; field indexes below are 0-based with the id at 0,
//! as in `shared/research/data-formats.md` §1.3–1.4.

use super::date::{parse_date, parse_partial_date, parse_year_month, PartialDate, YearMonth};
use super::{FileKind, UkeProblem};
use kakunin_domain::{Date, Sex};

/// A decimal quantity as written (`1`, `0.5`, `12.25`): half-width digits with at most one `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Quantity(String);

impl Quantity {
    fn parse(s: &str) -> Option<Self> {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let ok = !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
            && !(s.contains('.') && frac.is_empty());
        ok.then(|| Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The value as a float (for display; keep [`Quantity::as_str`] for exact arithmetic).
    pub fn to_f64(&self) -> f64 {
        self.0.parse().unwrap_or(0.0)
    }
}

/// A 算定日 column: on `day` of the receipt month the item was counted `count` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DayCount {
    pub day: u8,
    pub count: u32,
}

/// A comment pair on SI/IY/TO (コメントコード, 文字データ).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommentPair {
    pub code: String,
    pub text: String,
}

/// A record's fields exactly as written: the line's text, one allocation per record, split on
/// commas when read (`fields[0]` is the record id).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fields(String);

impl Fields {
    /// The fields of a line of text (no line end).
    pub fn new(line: impl Into<String>) -> Self {
        Self(line.into())
    }
    /// The record as written, fields joined by commas.
    pub fn as_line(&self) -> &str {
        &self.0
    }
    pub fn get(&self, i: usize) -> Option<&str> {
        self.0.split(',').nth(i)
    }
    /// The number of fields (an empty line has one, empty).
    pub fn len(&self) -> usize {
        self.0.bytes().filter(|&b| b == b',').count() + 1
    }
    /// Whether the line is empty (it then has one empty field).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> std::str::Split<'_, char> {
        self.0.split(',')
    }
    /// The record id.
    pub fn first(&self) -> &str {
        self.iter().next().unwrap_or("")
    }
}

impl std::ops::Index<usize> for Fields {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        match self.get(i) {
            Some(f) => f,
            None => panic!("field {i} of a {}-field record", self.len()),
        }
    }
}

/// Reads fields by position and records problems; a missing field reads as empty.
pub(crate) struct Ctx<'a> {
    pub(crate) line: usize,
    pub(crate) fields: &'a [&'a str],
    pub(crate) problems: &'a mut Vec<UkeProblem>,
}

impl<'a> Ctx<'a> {
    fn id(&self) -> String {
        self.fields
            .first()
            .map_or_else(String::new, |s| (*s).to_owned())
    }
    fn problem(&mut self, index: Option<usize>, code: &'static str, message: String) {
        let record_id = self.id();
        self.problems.push(UkeProblem {
            line: self.line,
            record_id,
            field_index: index,
            code,
            message,
        });
    }
    /// Reports `too_few_fields` when the record is shorter than its layout.
    fn expect_len(&mut self, n: usize) {
        if self.fields.len() < n {
            let (id, got) = (self.id(), self.fields.len());
            self.problem(
                None,
                "too_few_fields",
                format!("{id}レコードの項目数が足りません（{n}項目必要、{got}項目）"),
            );
        }
    }
    /// The record's fields as kept in the typed record (for writing it back).
    fn owned_fields(&self) -> Fields {
        Fields(self.fields.join(","))
    }
    fn raw(&self, i: usize) -> &'a str {
        self.fields.get(i).copied().unwrap_or("")
    }
    fn text(&self, i: usize) -> String {
        self.raw(i).to_owned()
    }
    fn opt(&self, i: usize) -> Option<String> {
        let s = self.raw(i);
        (!s.is_empty()).then(|| s.to_owned())
    }
    /// Reads field `i` with `parse`; a non-empty value that does not parse is reported under
    /// `code` with the message `describe(value)`.
    fn parsed<T>(
        &mut self,
        i: usize,
        parse: impl FnOnce(&str) -> Option<T>,
        code: &'static str,
        describe: impl FnOnce(&str) -> String,
    ) -> Option<T> {
        let s = self.raw(i);
        if s.is_empty() {
            return None;
        }
        let v = parse(s);
        if v.is_none() {
            self.problem(Some(i), code, describe(s));
        }
        v
    }
    /// Digits only (no sign, no spaces).
    fn digits<T: std::str::FromStr>(&mut self, i: usize, name: &str) -> Option<T> {
        self.parsed(
            i,
            |s| {
                s.bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| s.parse().ok())
                    .flatten()
            },
            "not_a_number",
            |s| format!("{name}「{s}」が数字ではありません"),
        )
    }
    fn uint(&mut self, i: usize, name: &str) -> Option<u32> {
        self.digits(i, name)
    }
    fn u64(&mut self, i: usize, name: &str) -> Option<u64> {
        self.digits(i, name)
    }
    fn quantity(&mut self, i: usize, name: &str) -> Option<Quantity> {
        self.parsed(i, Quantity::parse, "not_a_number", |s| {
            format!("{name}「{s}」が数値ではありません")
        })
    }
    fn date(&mut self, i: usize, name: &str) -> Option<Date> {
        self.parsed(i, parse_date, "invalid_date", |s| {
            format!("{name}「{s}」は正しい日付ではありません（YYYYMMDD または GYYMMDD）")
        })
    }
    fn partial_date(&mut self, i: usize, name: &str) -> Option<PartialDate> {
        self.parsed(i, parse_partial_date, "invalid_date", |s| {
            format!("{name}「{s}」は正しい日付ではありません（MMDD、YYYYMMDD または GYYMMDD）")
        })
    }
    fn year_month(&mut self, i: usize, name: &str) -> Option<YearMonth> {
        self.parsed(i, parse_year_month, "invalid_year_month", |s| {
            format!("{name}「{s}」は正しい年月ではありません（YYYYMM または GYYMM）")
        })
    }
    fn required(&mut self, i: usize, name: &str) {
        // A field past the end is already reported as too_few_fields.
        if self.raw(i).is_empty() && self.fields.len() > i {
            self.problem(Some(i), "missing_field", format!("{name}がありません"));
        }
    }
    fn sex(&mut self, i: usize) -> Option<Sex> {
        let s = self.raw(i);
        match s {
            "" => None,
            "1" => Some(Sex::Male),
            "2" => Some(Sex::Female),
            _ => {
                self.problem(
                    Some(i),
                    "invalid_code",
                    format!("男女区分「{s}」は 1（男）または 2（女）ではありません"),
                );
                None
            }
        }
    }
    fn comments(&self, start: usize) -> Vec<CommentPair> {
        (0..3)
            .filter_map(|k| {
                let (code, text) = (self.raw(start + 2 * k), self.raw(start + 2 * k + 1));
                (!code.is_empty() || !text.is_empty()).then(|| CommentPair {
                    code: code.to_owned(),
                    text: text.to_owned(),
                })
            })
            .collect()
    }
    fn days(&mut self, start: usize) -> Vec<DayCount> {
        let mut out = Vec::new();
        for day in 1..=31u8 {
            let i = start + usize::from(day) - 1;
            if let Some(count) = self.uint(i, &format!("算定日（{day}日）")) {
                out.push(DayCount { day, count });
            }
        }
        out
    }
}

/// IR 医療機関情報 (医科 header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ir {
    pub line: usize,
    pub fields: Fields,
    /// 審査支払機関: 1 社保 (支払基金), 2 国保連.
    pub payer: String,
    pub prefecture: String,
    /// 点数表: 1 医科, 3 歯科.
    pub fee_table: String,
    /// 医療機関コード (7 digits).
    pub institution_code: String,
    pub institution_name: Option<String>,
    pub billing_month: Option<YearMonth>,
    /// マルチボリューム識別情報.
    pub volume: String,
    pub phone: Option<String>,
}

impl Ir {
    pub(crate) const LEN: usize = 10;
    pub(crate) fn parse(c: &mut Ctx<'_>) -> Self {
        c.expect_len(Self::LEN);
        c.required(4, "医療機関コード");
        c.required(7, "請求年月");
        Self {
            line: c.line,
            fields: c.owned_fields(),
            payer: c.text(1),
            prefecture: c.text(2),
            fee_table: c.text(3),
            institution_code: c.text(4),
            institution_name: c.opt(6),
            billing_month: c.year_month(7, "請求年月"),
            volume: c.text(8),
            phone: c.opt(9),
        }
    }
}

/// YK 薬局情報 (調剤 header). 点数表 `4` for 調剤 is unverified in the research.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Yk {
    pub line: usize,
    pub fields: Fields,
    pub payer: String,
    pub prefecture: String,
    pub fee_table: String,
    /// 薬局コード (7 digits).
    pub pharmacy_code: String,
    pub pharmacy_name: Option<String>,
    pub billing_month: Option<YearMonth>,
    pub volume: String,
    pub phone: Option<String>,
}

impl Yk {
    pub(crate) const LEN: usize = 9;
    pub(crate) fn parse(c: &mut Ctx<'_>) -> Self {
        c.expect_len(Self::LEN);
        c.required(4, "薬局コード");
        c.required(6, "請求年月");
        Self {
            line: c.line,
            fields: c.owned_fields(),
            payer: c.text(1),
            prefecture: c.text(2),
            fee_table: c.text(3),
            pharmacy_code: c.text(4),
            pharmacy_name: c.opt(5),
            billing_month: c.year_month(6, "請求年月"),
            volume: c.text(7),
            phone: c.opt(8),
        }
    }
}

/// The prescribing institution on a 調剤 RE (fields 9–13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrescribingInstitution {
    pub prefecture: String,
    pub fee_table: String,
    pub institution_code: String,
    pub name: Option<String>,
    pub address: Option<String>,
}

/// RE レセプト共通. 医科 and 調剤 differ after field 6; the typed fields are the common ones
/// plus, for 調剤, the prescribing institution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Re {
    pub line: usize,
    pub fields: Fields,
    pub receipt_number: Option<u32>,
    /// レセプト種別 (4 digits, 別表).
    pub receipt_type: String,
    /// 診療年月 (医科) or 調剤年月 (調剤).
    pub month: Option<YearMonth>,
    pub name: String,
    pub sex: Option<Sex>,
    pub birth_date: Option<Date>,
    /// 給付割合.
    pub benefit_ratio: Option<String>,
    /// レセプト特記事項 (2-digit codes run together).
    pub special_notes: Option<String>,
    /// 入院年月日 (医科 only).
    pub admission_date: Option<Date>,
    /// カルテ番号等 (医科 13) or 調剤録番号等 (調剤 35).
    pub record_number: Option<String>,
    /// 記録条件仕様年月情報 (医科 19, 調剤 38), raw.
    pub layout_version: String,
    /// カタカナ氏名 (医科 36, 調剤 41).
    pub name_kana: Option<String>,
    /// 処方医療機関 (調剤 only).
    pub prescriber: Option<PrescribingInstitution>,
}

impl Re {
    pub(crate) const LEN_MEDICAL: usize = 38;
    pub(crate) const LEN_PHARMACY: usize = 42;
    pub(crate) fn parse(c: &mut Ctx<'_>, kind: FileKind) -> Self {
        let (len, version, kana, record) = match kind {
            FileKind::Medical => (Self::LEN_MEDICAL, 19, 36, 13),
            FileKind::Pharmacy => (Self::LEN_PHARMACY, 38, 41, 35),
        };
        c.expect_len(len);
        c.required(1, "レセプト番号");
        c.required(2, "レセプト種別");
        c.required(3, "診療年月");
        c.required(6, "生年月日");
        let medical = kind == FileKind::Medical;
        Self {
            line: c.line,
            fields: c.owned_fields(),
            receipt_number: c.uint(1, "レセプト番号"),
            receipt_type: c.text(2),
            month: c.year_month(3, "診療年月"),
            name: c.text(4),
            sex: c.sex(5),
            birth_date: c.date(6, "生年月日"),
            benefit_ratio: c.opt(7),
            special_notes: c.opt(if medical { 11 } else { 8 }),
            admission_date: if medical {
                c.date(8, "入院年月日")
            } else {
                None
            },
            record_number: c.opt(record),
            layout_version: c.text(version),
            name_kana: c.opt(kana),
            prescriber: (!medical).then(|| PrescribingInstitution {
                prefecture: c.text(9),
                fee_table: c.text(10),
                institution_code: c.text(11),
                name: c.opt(12),
                address: c.opt(13),
            }),
        }
    }
}

/// HO 保険者.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ho {
    pub line: usize,
    pub fields: Fields,
    /// 保険者番号 without the leading spaces that pad 6-digit 国保 numbers.
    pub insurer_number: String,
    /// 記号 (may be full-width, as written).
    pub symbol: Option<String>,
    /// 番号 (may be full-width, as written).
    pub number: Option<String>,
    /// 診療実日数 (医科) or 処方箋受付回数 (調剤).
    pub days: Option<u32>,
    pub total_points: Option<u32>,
    /// 負担金額（医療保険） (医科 11) / 一部負担金 (調剤 9).
    pub copay: Option<u32>,
}

impl Ho {
    pub(crate) const LEN_MEDICAL: usize = 15;
    pub(crate) const LEN_PHARMACY: usize = 14;
    pub(crate) fn parse(c: &mut Ctx<'_>, kind: FileKind) -> Self {
        let (len, copay) = match kind {
            FileKind::Medical => (Self::LEN_MEDICAL, 11),
            FileKind::Pharmacy => (Self::LEN_PHARMACY, 9),
        };
        c.expect_len(len);
        c.required(1, "保険者番号");
        Self {
            line: c.line,
            fields: c.owned_fields(),
            insurer_number: c.raw(1).trim_start_matches(' ').to_owned(),
            symbol: c.opt(2),
            number: c.opt(3),
            days: c.uint(4, "実日数"),
            total_points: c.uint(5, "合計点数"),
            copay: c.uint(copay, "負担金額"),
        }
    }
}

/// KO 公費.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ko {
    pub line: usize,
    pub fields: Fields,
    /// 公費負担者番号 (8).
    pub payer_number: String,
    /// 公費受給者番号 (7).
    pub recipient_number: Option<String>,
    /// 診療実日数 (医科) or 処方箋受付回数 (調剤).
    pub days: Option<u32>,
    pub total_points: Option<u32>,
    /// 負担金額（公費） (医科 6) / 一部負担金額 (調剤 7).
    pub copay: Option<u32>,
}

impl Ko {
    pub(crate) const LEN_MEDICAL: usize = 12;
    pub(crate) const LEN_PHARMACY: usize = 10;
    pub(crate) fn parse(c: &mut Ctx<'_>, kind: FileKind) -> Self {
        let (len, copay) = match kind {
            FileKind::Medical => (Self::LEN_MEDICAL, 6),
            FileKind::Pharmacy => (Self::LEN_PHARMACY, 7),
        };
        c.expect_len(len);
        c.required(1, "公費負担者番号");
        Self {
            line: c.line,
            fields: c.owned_fields(),
            payer_number: c.text(1),
            recipient_number: c.opt(2),
            days: c.uint(4, "実日数"),
            total_points: c.uint(5, "合計点数"),
            copay: c.uint(copay, "負担金額"),
        }
    }
}

/// SN 資格確認. Fields 3–7 are empty when they equal the HO/KO values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sn {
    pub line: usize,
    pub fields: Fields,
    /// 負担者種別: 1 医療保険, 2–5 第1–第4公費.
    pub payer_kind: String,
    /// 確認区分 (2 digits; the code table was not found).
    pub confirmation: String,
    pub insurer_number: Option<String>,
    pub symbol: Option<String>,
    pub number: Option<String>,
    /// 枝番 (2 digits).
    pub branch: Option<String>,
    pub recipient_number: Option<String>,
}

impl Sn {
    pub(crate) const LEN: usize = 9;
    pub(crate) fn parse(c: &mut Ctx<'_>) -> Self {
        c.expect_len(Self::LEN);
        c.required(1, "負担者種別");
        Self {
            line: c.line,
            fields: c.owned_fields(),
            payer_kind: c.text(1),
            confirmation: c.text(2),
            insurer_number: c.opt(3).map(|s| s.trim_start_matches(' ').to_owned()),
            symbol: c.opt(4),
            number: c.opt(5),
            branch: c.opt(6),
            recipient_number: c.opt(7),
        }
    }
}

/// JD 受診日等 / MF 窓口負担額: a code then 31 day columns. The meaning of the JD day values was
/// not found in the research, so the columns stay as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFlags {
    pub line: usize,
    pub fields: Fields,
    /// JD: 負担者種別; MF: 窓口負担額区分.
    pub code: String,
    /// The non-empty day columns as (day, raw value).
    pub days: Vec<(u8, String)>,
}

impl DayFlags {
    pub(crate) const LEN: usize = 33;
    pub(crate) fn parse(c: &mut Ctx<'_>) -> Self {
        c.expect_len(Self::LEN);
        Self {
            line: c.line,
            fields: c.owned_fields(),
            code: c.text(1),
            days: (1..=31u8)
                .filter_map(|d| c.opt(usize::from(d) + 1).map(|v| (d, v)))
                .collect(),
        }
    }
}

/// SY 傷病名 (医科).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sy {
    pub line: usize,
    pub fields: Fields,
    /// 傷病名コード (7; `0000999` = uncoded, then [`Sy::name`] holds the text).
    pub code: String,
    pub start_date: Option<Date>,
    /// 転帰区分: 1 継続, 2 治ゆ, 3 死亡, 4 中止・転医.
    pub outcome: String,
    /// 修飾語コード (4-digit codes run together).
    pub modifiers: Option<String>,
    pub name: Option<String>,
    /// 主傷病 (`01`).
    pub main: bool,
    pub comment: Option<String>,
}

impl Sy {
    pub(crate) const LEN: usize = 8;
    pub(crate) fn parse(c: &mut Ctx<'_>) -> Self {
        c.expect_len(Self::LEN);
        c.required(1, "傷病名コード");
        Self {
            line: c.line,
            fields: c.owned_fields(),
            code: c.text(1),
            start_date: c.date(2, "診療開始日"),
            outcome: c.text(3),
            modifiers: c.opt(4),
            name: c.opt(5),
            main: c.raw(6) == "01",
            comment: c.opt(7),
        }
    }
}

/// A billable line: SI 診療行為, IY 医薬品 and TO 特定器材, in the 医科 or 調剤 layout.
/// Fields a layout lacks are `None` / empty (調剤 IY/TO have no 診療識別, 点数, 回数 or 算定日).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub line: usize,
    pub fields: Fields,
    /// 診療識別 (医科; only on the first record of a 点数・回数算定単位).
    pub category: Option<String>,
    /// 負担区分.
    pub burden: Option<String>,
    /// 診療行為コード / 医薬品コード / 特定器材コード (9 digits).
    pub code: String,
    /// 数量データ (SI) / 使用量 (IY, TO).
    pub quantity: Option<Quantity>,
    /// 点数 (医科; only on the last record of a unit).
    pub points: Option<u32>,
    /// 回数 (医科).
    pub times: Option<u32>,
    /// 単位コード (TO).
    pub unit_code: Option<String>,
    /// 単価 (TO).
    pub unit_price: Option<Quantity>,
    /// 商品名及び規格又はサイズ (医科 TO).
    pub product_name: Option<String>,
    /// コメント×3 (医科).
    pub comments: Vec<CommentPair>,
    /// 算定日 (医科).
    pub days: Vec<DayCount>,
    /// １回用量 (調剤 IY 9).
    pub single_dose: Option<Quantity>,
}

impl Item {
    pub(crate) const LEN_SI_IY: usize = 44;
    pub(crate) const LEN_TO: usize = 48;
    pub(crate) const LEN_PHARMACY_IY: usize = 10;
    pub(crate) const LEN_PHARMACY_TO: usize = 7;

    fn empty(c: &Ctx<'_>) -> Self {
        Self {
            line: c.line,
            fields: c.owned_fields(),
            category: None,
            burden: None,
            code: String::new(),
            quantity: None,
            points: None,
            times: None,
            unit_code: None,
            unit_price: None,
            product_name: None,
            comments: Vec::new(),
            days: Vec::new(),
            single_dose: None,
        }
    }

    /// 医科 SI / IY: 1 診療識別 · 2 負担区分 · 3 code · 4 quantity · 5 点数 · 6 回数 · 7–12 comments
    /// · 13–43 算定日.
    pub(crate) fn parse_medical_si_iy(c: &mut Ctx<'_>) -> Self {
        c.expect_len(Self::LEN_SI_IY);
        c.required(3, "コード");
        Self {
            category: c.opt(1),
            burden: c.opt(2),
            code: c.text(3),
            quantity: c.quantity(4, "数量"),
            points: c.uint(5, "点数"),
            times: c.uint(6, "回数"),
            comments: c.comments(7),
            days: c.days(13),
            ..Self::empty(c)
        }
    }

    /// 医科 TO: 1 診療識別 · 2 負担区分 · 3 特定器材コード · 4 使用量 · 5 点数 · 6 回数 · 7 単位コード
    /// · 8 単価 · 9 予備 · 10 商品名 · 11–16 comments · 17–47 算定日.
    pub(crate) fn parse_medical_to(c: &mut Ctx<'_>) -> Self {
        c.expect_len(Self::LEN_TO);
        c.required(3, "特定器材コード");
        Self {
            category: c.opt(1),
            burden: c.opt(2),
            code: c.text(3),
            quantity: c.quantity(4, "使用量"),
            points: c.uint(5, "点数"),
            times: c.uint(6, "回数"),
            unit_code: c.opt(7),
            unit_price: c.quantity(8, "単価"),
            product_name: c.opt(10),
            comments: c.comments(11),
            days: c.days(17),
            ..Self::empty(c)
        }
    }

    /// 調剤 IY: 1 負担区分 · 2 医薬品コード · 3 使用量 · 4–5 予備 · 6–7 混合区分 · 8 配合不適区分
    /// · 9 １回用量 (6–8 stay raw).
    pub(crate) fn parse_pharmacy_iy(c: &mut Ctx<'_>) -> Self {
        c.expect_len(Self::LEN_PHARMACY_IY);
        c.required(2, "医薬品コード");
        Self {
            burden: c.opt(1),
            code: c.text(2),
            quantity: c.quantity(3, "使用量"),
            single_dose: c.quantity(9, "１回用量"),
            ..Self::empty(c)
        }
    }

    /// 調剤 TO: 1 負担区分 · 2 特定器材コード · 3 使用量 · 4 単位コード · 5 単価 · 6 予備.
    pub(crate) fn parse_pharmacy_to(c: &mut Ctx<'_>) -> Self {
        c.expect_len(Self::LEN_PHARMACY_TO);
        c.required(2, "特定器材コード");
        Self {
            burden: c.opt(1),
            code: c.text(2),
            quantity: c.quantity(3, "使用量"),
            unit_code: c.opt(4),
            unit_price: c.quantity(5, "単価"),
            ..Self::empty(c)
        }
    }
}

/// CO コメント (医科: 1 診療識別 · 2 負担区分 · 3 コード · 4 文字データ; 調剤: 1 コード · 2 文字データ)
/// and TK 摘要欄 (調剤, same shape as 調剤 CO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub line: usize,
    pub fields: Fields,
    pub category: Option<String>,
    pub burden: Option<String>,
    /// コメントコード (9; 81… free text, 82… fixed text, 83–85… with embedded values).
    pub code: String,
    pub text: Option<String>,
}

impl Comment {
    pub(crate) const LEN_MEDICAL: usize = 5;
    pub(crate) const LEN_PHARMACY: usize = 3;
    pub(crate) fn parse(c: &mut Ctx<'_>, kind: FileKind) -> Self {
        let (category, burden, code, text) = match kind {
            FileKind::Medical => {
                c.expect_len(Self::LEN_MEDICAL);
                c.required(3, "コメントコード");
                (c.opt(1), c.opt(2), c.text(3), c.opt(4))
            }
            FileKind::Pharmacy => {
                c.expect_len(Self::LEN_PHARMACY);
                (None, None, c.text(1), c.opt(2))
            }
        };
        Self {
            line: c.line,
            fields: c.owned_fields(),
            category,
            burden,
            code,
            text,
        }
    }
}

/// SJ 症状詳記 (医科): 1 症状詳記区分 · 2 症状詳記データ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sj {
    pub line: usize,
    pub fields: Fields,
    pub kind: String,
    pub text: Option<String>,
}

impl Sj {
    pub(crate) const LEN: usize = 3;
    pub(crate) fn parse(c: &mut Ctx<'_>) -> Self {
        c.expect_len(Self::LEN);
        Self {
            line: c.line,
            fields: c.owned_fields(),
            kind: c.text(1),
            text: c.opt(2),
        }
    }
}

/// SH 処方基本 (調剤, one per RP): 1 No · 2 剤形コード · 3 用法コード · 4 特別指示 · 5 単位薬剤料
/// · 6–9 単位薬剤料 第1–第4公費 (raw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sh {
    pub line: usize,
    pub fields: Fields,
    pub rp_number: Option<u32>,
    pub dosage_form: Option<String>,
    pub usage_code: Option<String>,
    pub special_instruction: Option<String>,
    pub unit_drug_points: Option<u32>,
}

impl Sh {
    pub(crate) const LEN: usize = 10;
    pub(crate) fn parse(c: &mut Ctx<'_>) -> Self {
        c.expect_len(Self::LEN);
        c.required(1, "RP番号");
        Self {
            line: c.line,
            fields: c.owned_fields(),
            rp_number: c.uint(1, "RP番号"),
            dosage_form: c.opt(2),
            usage_code: c.opt(3),
            special_instruction: c.opt(4),
            unit_drug_points: c.uint(5, "単位薬剤料"),
        }
    }
}

/// CZ 調剤情報 (調剤): 1 医師番号 · 2 処方月日 · 3 調剤月日 · 4 処方箋受付回 · 5 調剤数量 · 6–10 調剤料
/// (負担区分, 算定区分, 算定先No, コード, 点数) · 11–12 分割調剤 · 13 点数（薬剤料） · 14 予備 · 15–44 加算料
/// · 45–53 (raw). The research does not say how 処方月日/調剤月日 are written; we accept `MMDD`,
/// `YYYYMMDD` and `GYYMMDD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cz {
    pub line: usize,
    pub fields: Fields,
    pub doctor_number: Option<String>,
    pub prescribed_on: Option<PartialDate>,
    pub dispensed_on: Option<PartialDate>,
    pub reception_count: Option<u32>,
    /// 調剤数量 (days or times).
    pub quantity: Option<u32>,
    pub fee_burden: Option<String>,
    /// 調剤料コード.
    pub fee_code: Option<String>,
    pub fee_points: Option<u32>,
    /// 点数（薬剤料）.
    pub drug_points: Option<u32>,
    /// 加算料: (コード, 点数) pairs that are present.
    pub additions: Vec<(String, Option<u32>)>,
}

impl Cz {
    pub(crate) const LEN: usize = 54;
    pub(crate) fn parse(c: &mut Ctx<'_>) -> Self {
        c.expect_len(Self::LEN);
        let mut additions = Vec::new();
        for k in 0..10 {
            let i = 16 + 2 * k;
            if let Some(code) = c.opt(i) {
                let points = c.uint(i + 1, "加算料点数");
                additions.push((code, points));
            }
        }
        Self {
            line: c.line,
            fields: c.owned_fields(),
            doctor_number: c.opt(1),
            prescribed_on: c.partial_date(2, "処方月日"),
            dispensed_on: c.partial_date(3, "調剤月日"),
            reception_count: c.uint(4, "処方箋受付回"),
            quantity: c.uint(5, "調剤数量"),
            fee_burden: c.opt(6),
            fee_code: c.opt(9),
            fee_points: c.uint(10, "調剤料点数"),
            drug_points: c.uint(13, "薬剤料点数"),
            additions,
        }
    }
}

/// MN レセプト管理 (payer side): 1 レセプト管理番号 · 2 医療機関所在地 (positions **inferred** from
/// the order the research gives; kept raw as well).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mn {
    pub line: usize,
    pub fields: Fields,
    pub management_number: Option<String>,
    pub address: Option<String>,
}

/// GO 診療報酬請求書 (trailer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Go {
    pub line: usize,
    pub fields: Fields,
    /// 総件数 (医保 and each 公費 claim counted separately).
    pub total_claims: Option<u32>,
    pub total_points: Option<u64>,
    /// マルチボリューム識別情報 (`99` = last volume).
    pub volume: String,
}

impl Go {
    pub(crate) const LEN: usize = 4;
    pub(crate) fn parse(c: &mut Ctx<'_>) -> Self {
        c.expect_len(Self::LEN);
        Self {
            line: c.line,
            fields: c.owned_fields(),
            total_claims: c.uint(1, "総件数"),
            total_points: c.u64(2, "総合計点数"),
            volume: c.text(3),
        }
    }
}

/// Record ids whose layout the research names but does not give: kept raw, counted as known.
/// 医科/DPC: GR NI KH TI TR TS BU SB KK SK GA HH GT CD; 調剤: KI ST ON; payer side: HI HR HG RC JY
/// EX MD RT JR MK.
pub const RAW_KNOWN_IDS: &[&str] = &[
    "GR", "NI", "KH", "TI", "TR", "TS", "BU", "SB", "KK", "SK", "GA", "HH", "GT", "CD", "KI", "ST",
    "ON", "HI", "HR", "HG", "RC", "JY", "EX", "MD", "RT", "JR", "MK",
];

/// One record, typed by its id and the file kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Ir(Ir),
    Yk(Yk),
    Re(Re),
    Ho(Ho),
    Ko(Ko),
    Sn(Sn),
    Jd(DayFlags),
    Mf(DayFlags),
    Sy(Sy),
    Si(Item),
    Iy(Item),
    To(Item),
    Co(Comment),
    Tk(Comment),
    Sj(Sj),
    Sh(Sh),
    Cz(Cz),
    Mn(Mn),
    Go(Go),
    /// A known record id whose layout we do not type (see [`RAW_KNOWN_IDS`]).
    Raw {
        line: usize,
        fields: Fields,
    },
    /// An id we do not know; kept and counted, never fatal.
    Unknown {
        line: usize,
        id: String,
        fields: Fields,
    },
}

impl Record {
    pub(crate) fn parse(c: &mut Ctx<'_>, kind: FileKind) -> Self {
        let id = c.raw(0);
        let medical = kind == FileKind::Medical;
        match id {
            "IR" => Self::Ir(Ir::parse(c)),
            "YK" => Self::Yk(Yk::parse(c)),
            "RE" => Self::Re(Re::parse(c, kind)),
            "HO" => Self::Ho(Ho::parse(c, kind)),
            "KO" => Self::Ko(Ko::parse(c, kind)),
            "SN" => Self::Sn(Sn::parse(c)),
            "JD" => Self::Jd(DayFlags::parse(c)),
            "MF" => Self::Mf(DayFlags::parse(c)),
            "SY" => Self::Sy(Sy::parse(c)),
            "SI" => Self::Si(Item::parse_medical_si_iy(c)),
            "IY" if medical => Self::Iy(Item::parse_medical_si_iy(c)),
            "IY" => Self::Iy(Item::parse_pharmacy_iy(c)),
            "TO" if medical => Self::To(Item::parse_medical_to(c)),
            "TO" => Self::To(Item::parse_pharmacy_to(c)),
            "CO" => Self::Co(Comment::parse(c, kind)),
            "TK" => Self::Tk(Comment::parse(c, FileKind::Pharmacy)),
            "SJ" => Self::Sj(Sj::parse(c)),
            "SH" => Self::Sh(Sh::parse(c)),
            "CZ" => Self::Cz(Cz::parse(c)),
            "MN" => Self::Mn(Mn {
                line: c.line,
                fields: c.owned_fields(),
                management_number: c.opt(1),
                address: c.opt(2),
            }),
            "GO" => Self::Go(Go::parse(c)),
            _ if RAW_KNOWN_IDS.contains(&id) => Self::Raw {
                line: c.line,
                fields: c.owned_fields(),
            },
            _ => Self::Unknown {
                line: c.line,
                id: id.to_owned(),
                fields: c.owned_fields(),
            },
        }
    }

    /// The raw fields, the record id first.
    pub fn fields(&self) -> &Fields {
        match self {
            Self::Ir(r) => &r.fields,
            Self::Yk(r) => &r.fields,
            Self::Re(r) => &r.fields,
            Self::Ho(r) => &r.fields,
            Self::Ko(r) => &r.fields,
            Self::Sn(r) => &r.fields,
            Self::Jd(r) | Self::Mf(r) => &r.fields,
            Self::Sy(r) => &r.fields,
            Self::Si(r) | Self::Iy(r) | Self::To(r) => &r.fields,
            Self::Co(r) | Self::Tk(r) => &r.fields,
            Self::Sj(r) => &r.fields,
            Self::Sh(r) => &r.fields,
            Self::Cz(r) => &r.fields,
            Self::Mn(r) => &r.fields,
            Self::Go(r) => &r.fields,
            Self::Raw { fields, .. } | Self::Unknown { fields, .. } => fields,
        }
    }

    /// The record id (first field) as written.
    pub fn id(&self) -> &str {
        self.fields().first()
    }

    /// The 1-based line the record was read from.
    pub fn line(&self) -> usize {
        match self {
            Self::Ir(r) => r.line,
            Self::Yk(r) => r.line,
            Self::Re(r) => r.line,
            Self::Ho(r) => r.line,
            Self::Ko(r) => r.line,
            Self::Sn(r) => r.line,
            Self::Jd(r) | Self::Mf(r) => r.line,
            Self::Sy(r) => r.line,
            Self::Si(r) | Self::Iy(r) | Self::To(r) => r.line,
            Self::Co(r) | Self::Tk(r) => r.line,
            Self::Sj(r) => r.line,
            Self::Sh(r) => r.line,
            Self::Cz(r) => r.line,
            Self::Mn(r) => r.line,
            Self::Go(r) => r.line,
            Self::Raw { line, .. } | Self::Unknown { line, .. } => *line,
        }
    }
}
