//! Insurer roster CSV (docs/roster-format.md) → qualifications.
//!
//! The parser collects every error (line, column, stable code, Japanese message) instead of
//! stopping at the first, so an insurer fixes a file in one round.

use crate::encoding::{decode_text, DecodeError, TextEncoding};
use kakunin_domain::text::{display_name, half_width_kana, half_width_trimmed};
use kakunin_domain::{
    Branch, CardClassification, CardIdentity, CardNumber, CardSymbol, CopayRatio, Date,
    ElderlyCertificate, IdError, IndividualNumber, InsurerNumber, LimitBracket, LimitCertificate,
    LimitCertificateClassification, LossReason, Qualification, Relationship, Sex, SpecificDisease,
    SpecificDiseaseCertificate,
};
use std::collections::HashMap;
use std::fmt;

macro_rules! columns {
    ($($v:ident = $name:literal, $required:literal;)*) => {
        /// A roster column.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Column { $($v,)* }
        impl Column {
            pub const ALL: &'static [Column] = &[$(Column::$v),*];
            pub fn name(self) -> &'static str { match self { $(Column::$v => $name,)* } }
            /// Whether the header must name this column.
            pub fn required(self) -> bool { match self { $(Column::$v => $required,)* } }
            pub fn from_name(n: &str) -> Option<Self> {
                let n = n.trim().to_ascii_lowercase();
                match n.as_str() { $($name => Some(Column::$v),)* _ => None }
            }
        }
    };
}

columns! {
    InsurerNumber = "insurer_number", true;
    Symbol = "symbol", true;
    Number = "number", true;
    Branch = "branch", true;
    Relationship = "relationship", true;
    Name = "name", true;
    NameKana = "name_kana", true;
    Sex = "sex", true;
    Birthdate = "birthdate", true;
    QualificationDate = "qualification_date", true;
    DisqualificationDate = "disqualification_date", true;
    DisqualificationReason = "disqualification_reason", true;
    CardClassification = "card_classification", true;
    CopayRatio = "copay_ratio", true;
    InsurerName = "insurer_name", true;
    InsuredName = "insured_name", false;
    Address = "address", false;
    PostNumber = "post_number", false;
    CardIssueDate = "card_issue_date", false;
    CardValidFrom = "card_valid_from", false;
    CardValidUntil = "card_valid_until", false;
    ElderlyIssueDate = "elderly_issue_date", false;
    ElderlyValidFrom = "elderly_valid_from", false;
    ElderlyValidUntil = "elderly_valid_until", false;
    ElderlyCopayRatio = "elderly_copay_ratio", false;
    LimitClassification = "limit_classification", false;
    LimitBracket = "limit_bracket", false;
    LimitIssueDate = "limit_issue_date", false;
    LimitValidFrom = "limit_valid_from", false;
    LimitValidUntil = "limit_valid_until", false;
    LimitLongTermDate = "limit_long_term_date", false;
    SpecificDisease = "specific_disease", false;
    SpecificDiseaseIssueDate = "specific_disease_issue_date", false;
    SpecificDiseaseValidFrom = "specific_disease_valid_from", false;
    SpecificDiseaseValidUntil = "specific_disease_valid_until", false;
    SpecificDiseaseSelfPay = "specific_disease_self_pay", false;
    IndividualNumber = "individual_number", false;
}

/// One problem in a roster. `line` is 1-based (the header is line 1); 0 means the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterError {
    pub line: usize,
    pub field: Option<&'static str>,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Japanese, for the insurer's staff.
    pub message: String,
}

impl fmt::Display for RosterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.field) {
            (0, _) => write!(f, "{} ({})", self.message, self.code),
            (l, Some(c)) => write!(f, "{l}行目 {c}: {} ({})", self.message, self.code),
            (l, None) => write!(f, "{l}行目: {} ({})", self.message, self.code),
        }
    }
}

fn file_error(code: &'static str, message: impl Into<String>) -> RosterError {
    RosterError {
        line: 0,
        field: None,
        code,
        message: message.into(),
    }
}

/// A parsed row.
#[derive(Debug, Clone)]
pub struct RosterRow {
    pub line: usize,
    pub qualification: Qualification,
    /// The 個人番号 the insurer registered for this person, if the roster has the column. It
    /// goes to the authority's match service and is never stored.
    pub individual_number: Option<IndividualNumber>,
}

/// The valid rows of a roster and the errors of the others. A file-level error (encoding,
/// header) leaves no rows.
#[derive(Debug)]
pub struct ParsedRoster {
    pub rows: Vec<RosterRow>,
    pub errors: Vec<RosterError>,
    pub encoding: Option<TextEncoding>,
}

/// Parses a whole roster file: `Ok` only when every row is valid.
pub fn parse(bytes: &[u8]) -> Result<ParsedRoster, Vec<RosterError>> {
    let parsed = parse_lenient(bytes);
    if parsed.errors.is_empty() {
        Ok(parsed)
    } else {
        Err(parsed.errors)
    }
}

/// Parses a roster, keeping the valid rows beside the errors (for partial imports).
/// Rows whose key repeats an earlier row are errors and are not kept.
pub fn parse_lenient(bytes: &[u8]) -> ParsedRoster {
    match parse_inner(bytes) {
        Ok(p) => p,
        Err(errors) => ParsedRoster {
            rows: Vec::new(),
            errors,
            encoding: None,
        },
    }
}

fn parse_inner(bytes: &[u8]) -> Result<ParsedRoster, Vec<RosterError>> {
    let (text, encoding) = decode_text(bytes).map_err(|e| {
        vec![match e {
            DecodeError::Empty => file_error("empty", "ファイルが空です"),
            DecodeError::Binary => file_error("binary", "CSVではなくバイナリファイルです"),
            DecodeError::Truncated => file_error("truncated", "ファイルが途中で切れています"),
            DecodeError::UnknownEncoding => {
                file_error("encoding", "文字コードがUTF-8でもShift_JISでもありません")
            }
        }]
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => {
            return Err(vec![file_error(
                "csv",
                format!("ヘッダ行を読めません: {e}"),
            )])
        }
        None => return Err(vec![file_error("empty", "ファイルが空です")]),
    };
    let mut errors = Vec::new();
    let mut positions: HashMap<Column, usize> = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim_start_matches('\u{FEFF}');
        match Column::from_name(name) {
            Some(c) if positions.contains_key(&c) => errors.push(RosterError {
                line: 1,
                field: Some(c.name()),
                code: "duplicate_column",
                message: format!("列「{}」が2回あります", c.name()),
            }),
            Some(c) => {
                positions.insert(c, i);
            }
            None => errors.push(RosterError {
                line: 1,
                field: None,
                code: "unknown_column",
                message: format!("不明な列「{name}」があります"),
            }),
        }
    }
    for c in Column::ALL
        .iter()
        .filter(|c| c.required() && !positions.contains_key(c))
    {
        errors.push(RosterError {
            line: 1,
            field: Some(c.name()),
            code: "missing_column",
            message: format!("必須の列「{}」がありません", c.name()),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let width = header.len();
    let mut rows = Vec::new();
    let mut seen: HashMap<(String, String, String, String), usize> = HashMap::new();
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                errors.push(RosterError {
                    line,
                    field: None,
                    code: "csv",
                    message: "CSVの形式が正しくありません（引用符が閉じていない等）".into(),
                });
                break;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if record.len() != width {
            errors.push(RosterError {
                line,
                field: None,
                code: "field_count",
                message: format!(
                    "列の数が{}ですがヘッダは{}列です（行が途中で切れている可能性があります）",
                    record.len(),
                    width
                ),
            });
            continue;
        }
        let cell = |c: Column| positions.get(&c).and_then(|&i| record.get(i)).unwrap_or("");
        let mut row = RowParser {
            line,
            errors: &mut errors,
            cell: &cell,
        };
        if let Some((q, individual_number)) = row.qualification() {
            let key = (
                q.card.insurer.as_str().to_string(),
                q.card.symbol_key().to_string(),
                q.card.number.key().to_string(),
                q.card
                    .branch
                    .map(|b| b.as_str().to_string())
                    .unwrap_or_default(),
            );
            if let Some(&first) = seen.get(&key) {
                errors.push(RosterError {
                    line,
                    field: Some("number"),
                    code: "duplicate_key",
                    message: format!("{first}行目と同じ保険者番号・記号・番号・枝番です"),
                });
            } else {
                seen.insert(key, line);
                rows.push(RosterRow {
                    line,
                    qualification: q,
                    individual_number,
                });
            }
        }
    }
    if errors.is_empty() && rows.is_empty() {
        errors.push(file_error("no_rows", "データ行がありません"));
    }
    Ok(ParsedRoster {
        rows,
        errors,
        encoding: Some(encoding),
    })
}

struct RowParser<'a, F: Fn(Column) -> &'a str> {
    line: usize,
    errors: &'a mut Vec<RosterError>,
    cell: &'a F,
}

fn id_message(e: &IdError) -> (&'static str, String) {
    match e {
        IdError::Empty => ("required", "値がありません".into()),
        IdError::Length { expected, got } => (
            "length",
            format!("{expected}桁で入力してください（{got}桁）"),
        ),
        IdError::NotDigits => ("not_digits", "数字で入力してください".into()),
        IdError::CheckDigit => (
            "check_digit",
            "検証番号（チェックデジット）が正しくありません".into(),
        ),
        IdError::Prefecture(p) => (
            "prefecture",
            format!("都道府県番号{p}は01〜47ではありません"),
        ),
        IdError::PointTable(t) => (
            "point_table",
            format!("点数表番号{t}は1・3・4ではありません"),
        ),
        IdError::TooLong(n) => ("too_long", format!("{n}文字以内で入力してください")),
        IdError::Control => ("control_character", "制御文字が含まれています".into()),
        IdError::SymbolNotAllowed => (
            "symbol_not_allowed",
            "後期高齢者医療（法別39）には記号がありません".into(),
        ),
        IdError::LateElderlyNumber => (
            "late_elderly_number",
            "後期高齢者医療の番号は検証番号付きの8桁です".into(),
        ),
    }
}

impl<'a, F: Fn(Column) -> &'a str> RowParser<'a, F> {
    fn err(&mut self, c: Column, code: &'static str, message: impl Into<String>) {
        self.errors.push(RosterError {
            line: self.line,
            field: Some(c.name()),
            code,
            message: message.into(),
        });
    }

    fn raw(&self, c: Column) -> Option<&'a str> {
        let v = (self.cell)(c);
        (!v.trim().is_empty()).then_some(v)
    }

    fn required<T>(
        &mut self,
        c: Column,
        parse: impl FnOnce(&mut Self, &str) -> Option<T>,
    ) -> Option<T> {
        match self.raw(c) {
            Some(v) => parse(self, v),
            None => {
                self.err(c, "required", "値がありません");
                None
            }
        }
    }

    fn optional<T>(
        &mut self,
        c: Column,
        parse: impl FnOnce(&mut Self, &str) -> Option<T>,
    ) -> Result<Option<T>, ()> {
        match self.raw(c) {
            Some(v) => parse(self, v).map(Some).ok_or(()),
            None => Ok(None),
        }
    }

    fn date(&mut self, c: Column, v: &str) -> Option<Date> {
        match Date::parse(&half_width_trimmed(v)) {
            Ok(d) => Some(d),
            Err(_) => {
                self.err(
                    c,
                    "date",
                    format!("日付「{}」が正しくありません（YYYYMMDD）", v.trim()),
                );
                None
            }
        }
    }

    fn code<T>(
        &mut self,
        c: Column,
        v: &str,
        parse: fn(&str) -> Option<T>,
        allowed: &str,
    ) -> Option<T> {
        let r = parse(&half_width_trimmed(v));
        if r.is_none() {
            self.err(
                c,
                "code",
                format!("「{}」は使えない値です（{allowed}）", v.trim()),
            );
        }
        r
    }

    fn id<T>(&mut self, c: Column, v: &str, parse: fn(&str) -> Result<T, IdError>) -> Option<T> {
        match parse(v) {
            Ok(t) => Some(t),
            Err(e) => {
                let (code, msg) = id_message(&e);
                self.err(c, code, msg);
                None
            }
        }
    }

    fn opt_date(&mut self, c: Column) -> Result<Option<Date>, ()> {
        self.optional(c, |s, v| s.date(c, v))
    }

    fn text(&mut self, c: Column, v: &str, max: usize) -> Option<String> {
        let t = v.trim();
        if t.chars().any(char::is_control) {
            self.err(c, "control_character", "制御文字が含まれています");
            return None;
        }
        if t.chars().count() > max {
            self.err(c, "too_long", format!("{max}文字以内で入力してください"));
            return None;
        }
        Some(t.to_string())
    }

    fn qualification(&mut self) -> Option<(Qualification, Option<IndividualNumber>)> {
        use Column as C;
        let start = self.errors.len();
        let insurer = self.required(C::InsurerNumber, |s, v| {
            s.id(C::InsurerNumber, v, InsurerNumber::parse)
        });
        let symbol = self.optional(C::Symbol, |s, v| s.id(C::Symbol, v, CardSymbol::parse));
        let number = self.required(C::Number, |s, v| s.id(C::Number, v, CardNumber::parse));
        let branch = self.optional(C::Branch, |s, v| s.id(C::Branch, v, Branch::parse));
        let relationship = self.required(C::Relationship, |s, v| {
            s.code(C::Relationship, v, Relationship::parse, "1 本人 / 2 家族")
        });
        let name = self.required(C::Name, |s, v| {
            s.text(C::Name, v, 100).map(|t| display_name(&t))
        });
        let name_kana = self.required(C::NameKana, |s, v| match half_width_kana(v) {
            Ok(k) if k.chars().count() <= 100 => Some(k),
            Ok(_) => {
                s.err(C::NameKana, "too_long", "100文字以内で入力してください");
                None
            }
            Err(e) => {
                s.err(
                    C::NameKana,
                    "not_kana",
                    format!("カナ以外の文字「{}」があります", e.0),
                );
                None
            }
        });
        let sex = self.required(C::Sex, |s, v| {
            s.code(C::Sex, v, Sex::parse, "1 男 / 2 女 / 3 未設定")
        });
        let birthdate = self.required(C::Birthdate, |s, v| s.date(C::Birthdate, v));
        let qualification_date =
            self.required(C::QualificationDate, |s, v| s.date(C::QualificationDate, v));
        let disqualification_date = self.opt_date(C::DisqualificationDate);
        let loss_reason = self.optional(C::DisqualificationReason, |s, v| {
            s.code(
                C::DisqualificationReason,
                v,
                LossReason::parse,
                "01 / 02 / 03 / 99",
            )
        });
        let card_classification = self
            .optional(C::CardClassification, |s, v| {
                s.code(
                    C::CardClassification,
                    v,
                    CardClassification::parse,
                    "01〜07",
                )
            })
            .map(|c| c.unwrap_or(CardClassification::General));
        let copay_ratio = self.optional(C::CopayRatio, |s, v| {
            s.code(C::CopayRatio, v, CopayRatio::parse, "010 / 020 / 030")
        });
        let insurer_name = self.required(C::InsurerName, |s, v| s.text(C::InsurerName, v, 100));
        let insured_name = self.optional(C::InsuredName, |s, v| {
            s.text(C::InsuredName, v, 100).map(|t| display_name(&t))
        });
        let address = self.optional(C::Address, |s, v| s.text(C::Address, v, 200));
        let post_number = self.optional(C::PostNumber, |s, v| {
            let p: String = half_width_trimmed(v)
                .chars()
                .filter(|&c| c != '-')
                .collect();
            if p.len() == 7 && p.bytes().all(|b| b.is_ascii_digit()) {
                Some(p)
            } else {
                s.err(C::PostNumber, "post_number", "郵便番号は7桁の数字です");
                None
            }
        });
        let card_issue_date = self.opt_date(C::CardIssueDate);
        let card_valid_from = self.opt_date(C::CardValidFrom);
        let card_valid_until = self.opt_date(C::CardValidUntil);
        let elderly = self.elderly();
        let limit = self.limit();
        let disease = self.specific_disease();
        let individual_number = self.optional(C::IndividualNumber, |s, v| {
            s.id(C::IndividualNumber, v, IndividualNumber::parse)
        });

        let (Some(insurer), Ok(symbol), Some(number), Ok(branch)) =
            (insurer, symbol, number, branch)
        else {
            return None;
        };
        let card = match CardIdentity::new(insurer, symbol, number, branch) {
            Ok(c) => c,
            Err(e) => {
                let field = if e == IdError::SymbolNotAllowed {
                    C::Symbol
                } else {
                    C::Number
                };
                let (code, msg) = id_message(&e);
                self.err(field, code, msg);
                return None;
            }
        };
        if self.errors.len() > start {
            return None;
        }
        let q = Qualification {
            card,
            card_classification: card_classification.ok()?,
            relationship: relationship?,
            insured_name: insured_name.ok()?,
            name: name?,
            name_kana: name_kana?,
            sex: sex?,
            birthdate: birthdate?,
            address: address.ok()?,
            post_number: post_number.ok()?,
            qualification_date: qualification_date?,
            disqualification_date: disqualification_date.ok()?,
            loss_reason: loss_reason.ok()?,
            card_issue_date: card_issue_date.ok()?,
            card_valid_from: card_valid_from.ok()?,
            card_valid_until: card_valid_until.ok()?,
            copay_ratio: copay_ratio.ok()?,
            insurer_name: insurer_name?,
            elderly: elderly.ok()?,
            limit: limit.ok()?,
            specific_diseases: disease.ok()?.into_iter().collect(),
        };
        let broken = q.check();
        for e in &broken {
            self.errors.push(RosterError {
                line: self.line,
                field: Some(e.field),
                code: "inconsistent",
                message: e.reason.to_string(),
            });
        }
        if !broken.is_empty() {
            return None;
        }
        Some((q, individual_number.ok()?))
    }

    /// A certificate group: all empty is `Ok(None)`; otherwise `required` columns must be set.
    fn group_present(&mut self, cols: &[Column], required: &[Column]) -> Result<bool, ()> {
        if cols.iter().all(|&c| self.raw(c).is_none()) {
            return Ok(false);
        }
        let mut ok = true;
        for &c in required {
            if self.raw(c).is_none() {
                self.err(c, "required", "証明書の他の列があるので、この列も必要です");
                ok = false;
            }
        }
        if ok {
            Ok(true)
        } else {
            Err(())
        }
    }

    fn elderly(&mut self) -> Result<Option<ElderlyCertificate>, ()> {
        use Column as C;
        let cols = [
            C::ElderlyIssueDate,
            C::ElderlyValidFrom,
            C::ElderlyValidUntil,
            C::ElderlyCopayRatio,
        ];
        if !self.group_present(&cols, &[C::ElderlyValidFrom, C::ElderlyCopayRatio])? {
            return Ok(None);
        }
        let issued = self.opt_date(C::ElderlyIssueDate);
        let from = self.opt_date(C::ElderlyValidFrom);
        let until = self.opt_date(C::ElderlyValidUntil);
        let ratio = self.optional(C::ElderlyCopayRatio, |s, v| {
            s.code(C::ElderlyCopayRatio, v, CopayRatio::parse, "020 / 030")
        });
        Ok(Some(ElderlyCertificate {
            issued: issued?,
            valid_from: from?.ok_or(())?,
            valid_until: until?,
            copay_ratio: ratio?.ok_or(())?,
        }))
    }

    fn limit(&mut self) -> Result<Option<LimitCertificate>, ()> {
        use Column as C;
        let cols = [
            C::LimitClassification,
            C::LimitBracket,
            C::LimitIssueDate,
            C::LimitValidFrom,
            C::LimitValidUntil,
            C::LimitLongTermDate,
        ];
        if !self.group_present(
            &cols,
            &[C::LimitClassification, C::LimitBracket, C::LimitValidFrom],
        )? {
            return Ok(None);
        }
        let class = self.optional(C::LimitClassification, |s, v| {
            s.code(
                C::LimitClassification,
                v,
                LimitCertificateClassification::parse,
                "01 / 02 / 03",
            )
        });
        let bracket = self.optional(C::LimitBracket, |s, v| {
            s.code(
                C::LimitBracket,
                &v.to_ascii_uppercase(),
                LimitBracket::parse,
                "A01〜A06 / B01〜B10",
            )
        });
        let issued = self.opt_date(C::LimitIssueDate);
        let from = self.opt_date(C::LimitValidFrom);
        let until = self.opt_date(C::LimitValidUntil);
        let long = self.opt_date(C::LimitLongTermDate);
        Ok(Some(LimitCertificate {
            classification: class?.ok_or(())?,
            bracket: bracket?.ok_or(())?,
            issued: issued?,
            valid_from: from?.ok_or(())?,
            valid_until: until?,
            long_term_date: long?,
        }))
    }

    fn specific_disease(&mut self) -> Result<Option<SpecificDiseaseCertificate>, ()> {
        use Column as C;
        let cols = [
            C::SpecificDisease,
            C::SpecificDiseaseIssueDate,
            C::SpecificDiseaseValidFrom,
            C::SpecificDiseaseValidUntil,
            C::SpecificDiseaseSelfPay,
        ];
        if !self.group_present(&cols, &[C::SpecificDisease, C::SpecificDiseaseValidFrom])? {
            return Ok(None);
        }
        let disease = self.optional(C::SpecificDisease, |s, v| {
            s.code(C::SpecificDisease, v, SpecificDisease::parse, "1 / 2 / 3")
        });
        let issued = self.opt_date(C::SpecificDiseaseIssueDate);
        let from = self.opt_date(C::SpecificDiseaseValidFrom);
        let until = self.opt_date(C::SpecificDiseaseValidUntil);
        let pay = self.optional(
            C::SpecificDiseaseSelfPay,
            |s, v| match half_width_trimmed(v).parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    s.err(
                        C::SpecificDiseaseSelfPay,
                        "not_digits",
                        "金額は円単位の数字で入力してください",
                    );
                    None
                }
            },
        );
        Ok(Some(SpecificDiseaseCertificate {
            disease: disease?.ok_or(())?,
            issued: issued?,
            valid_from: from?.ok_or(())?,
            valid_until: until?,
            self_pay_yen: pay?.unwrap_or(0),
        }))
    }
}

/// The header line of a roster with every required column, in documentation order.
pub fn required_header() -> String {
    Column::ALL
        .iter()
        .filter(|c| c.required())
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(",")
}
