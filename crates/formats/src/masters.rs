//! 基本マスター (支払基金 / MHLW 診療報酬情報提供サービス) CSV files → typed master entries.
//!
//! Invariant: bytes in, typed entries or problems out; no I/O; never panics. A bad row becomes a
//! [`MasterProblem`] (line, field, stable code, Japanese message) and the other rows still
//! parse; only a file that cannot be a master at all (empty, binary, not CP932, no row with the
//! layout's column count, every row of another master kind) is a [`MasterError`].
//!
//! Layouts (research `data-formats.md` §2.2; receiptisan's `master/treatment/*.rb` column
//! constants for s and t): no header, every field double-quoted, CRLF, CP932.
//!
//! | master | kind | code | name | kana | unit | price / points | 変更年月日 | 廃止年月日 |
//! |---|---|---|---|---|---|---|---|---|
//! | 医薬品 `y_ALL*.csv` (35–42 columns) | 2 | 3 | 5 | 7 | 10 | 12 | 30 | 31 |
//! | 診療行為 `s_ALL*.csv` (≥ 88 columns; 122 in 2020–22, 150 later) | 2 | 3 | 5 | 7 | 10 | 12 | 87 | 88 |
//! | 特定器材 `t_ALL*.csv` (37 columns) | 2 | 3 | 5 | 7 | 10 | 12 | 28 | 30 |
//!
//! (1-based.) Every entry keeps the row's raw fields beside the typed ones, so a column this
//! module does not name yet is still at hand.
//!
//! Validity: `valid_from` is the 変更年月日 (the day this version of the row applies from);
//! `valid_until` is the 廃止年月日, read as the last day the code may be used, with `99999999`
//! (and `00000000` or empty) meaning "not abolished".

use crate::encoding::{decode_text, DecodeError, TextEncoding};
use kakunin_domain::Date;
use std::fmt;

/// A fixed-point decimal with two places, as the masters write prices and points (`"26.00"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount {
    hundredths: i64,
}

impl Amount {
    /// Parses `"282"`, `"282.5"`, `"282.00"` (at most two decimals, no sign, no exponent).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty()
            || int.len() > 15
            || frac.len() > 2
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let int: i64 = int.parse().ok()?;
        let frac: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().ok()? * 10,
            _ => frac.parse().ok()?,
        };
        Some(Self {
            hundredths: int.checked_mul(100)?.checked_add(frac)?,
        })
    }

    pub fn from_hundredths(hundredths: i64) -> Self {
        Self { hundredths }
    }

    pub fn hundredths(self) -> i64 {
        self.hundredths
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.hundredths < 0 { "-" } else { "" };
        let abs = self.hundredths.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// 医薬品マスター row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrugEntry {
    /// 1-based line in the file.
    pub line: usize,
    /// 変更区分 (column 1) as written; its values are not verified yet (research §2.2).
    pub change: String,
    /// レセプト電算処理システム用医薬品コード, 9 digits starting with 6.
    pub code: String,
    /// 医薬品名・規格名 漢字名称.
    pub name: String,
    /// カナ名称 (half-width).
    pub kana: Option<String>,
    /// 単位漢字名称.
    pub unit: Option<String>,
    /// 新又は現金額 (薬価, yen).
    pub price: Option<Amount>,
    /// 後発品 (column 17): `"1"` for a generic.
    pub generic: bool,
    /// 剤形 (column 28): 1 内用, 3 …, 4 注射, 6 外用.
    pub dosage_form: Option<String>,
    /// 薬価基準収載医薬品コード (12 characters, column 32), the YJ-like code.
    pub price_list_code: Option<String>,
    /// 基本漢字名称 (column 35).
    pub base_name: Option<String>,
    /// 一般名コード (column 37, newer files only).
    pub generic_name_code: Option<String>,
    /// 変更年月日.
    pub valid_from: Option<Date>,
    /// 廃止年月日 (`None` when not abolished).
    pub valid_until: Option<Date>,
    /// Every field of the row, unquoted.
    pub raw: Vec<String>,
}

/// 診療行為マスター row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcedureEntry {
    pub line: usize,
    pub change: String,
    /// 診療行為コード, 9 digits starting with 1.
    pub code: String,
    /// 省略名称 漢字名称.
    pub name: String,
    pub kana: Option<String>,
    /// データ規格名 漢字名称 (the unit of a quantity, e.g. 分, 枚).
    pub unit: Option<String>,
    /// 点数識別 (column 11): 1 金額, 3 点数(プラス), 4 購入価格(点数), 5 %加算, 6 減算, 7 減点診療行為, 8 点数(マイナス).
    pub point_kind: Option<String>,
    /// 新又は現点数.
    pub points: Option<Amount>,
    /// 基本漢字名称 (column 113), when the row has it.
    pub base_name: Option<String>,
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
    pub raw: Vec<String>,
}

/// 特定器材マスター row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEntry {
    pub line: usize,
    pub change: String,
    /// 特定器材コード, 9 digits starting with 7.
    pub code: String,
    /// 特定器材名・規格名 漢字名称.
    pub name: String,
    pub kana: Option<String>,
    /// 単位 漢字名称.
    pub unit: Option<String>,
    /// 金額種別 (column 11): 1 金額, 3 購入価格, 5 %加算, 9 乗算割合.
    pub price_kind: Option<String>,
    /// 新又は現金額.
    pub price: Option<Amount>,
    /// 基本漢字名称 (column 37).
    pub base_name: Option<String>,
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
    pub raw: Vec<String>,
}

/// What every master entry offers, for lookups that do not care about the kind.
pub trait MasterEntry {
    fn code(&self) -> &str;
    fn name(&self) -> &str;
    fn valid_from(&self) -> Option<Date>;
    fn valid_until(&self) -> Option<Date>;

    /// Whether the entry applies on `day` (open ends count as valid).
    fn valid_on(&self, day: Date) -> bool {
        self.valid_from().is_none_or(|f| f <= day) && self.valid_until().is_none_or(|u| day <= u)
    }
}

macro_rules! entry_impl {
    ($($t:ty),*) => {$(
        impl MasterEntry for $t {
            fn code(&self) -> &str { &self.code }
            fn name(&self) -> &str { &self.name }
            fn valid_from(&self) -> Option<Date> { self.valid_from }
            fn valid_until(&self) -> Option<Date> { self.valid_until }
        }
    )*};
}
entry_impl!(DrugEntry, ProcedureEntry, DeviceEntry);

/// One bad row. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterProblem {
    pub line: usize,
    /// The column's Japanese name, when one column is at fault.
    pub field: Option<&'static str>,
    /// Stable machine-readable code: `csv`, `field_count`, `master_kind`, `code`, `name`,
    /// `amount`, `date`, `date_order`.
    pub code: &'static str,
    /// Japanese, for the operator loading the master.
    pub message: String,
}

impl fmt::Display for MasterProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(c) => write!(f, "{}行目 {c}: {} ({})", self.line, self.message, self.code),
            None => write!(f, "{}行目: {} ({})", self.line, self.message, self.code),
        }
    }
}

/// The valid entries of a master file and the problems of the other rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master<T> {
    pub entries: Vec<T>,
    pub problems: Vec<MasterProblem>,
}

impl<T: MasterEntry> Master<T> {
    /// The entries with this code, in file order (a code can have several validity versions).
    pub fn find<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a T> + 'a {
        self.entries.iter().filter(move |e| e.code() == code)
    }

    /// The entry with this code valid on `day`, or else the code's last entry in the file.
    pub fn get(&self, code: &str, day: Option<Date>) -> Option<&T> {
        let mut matching = self.entries.iter().filter(|e| e.code() == code);
        day.and_then(|d| matching.clone().find(|e| e.valid_on(d)))
            .or_else(|| matching.next_back())
    }

    /// The display name of `code` (see [`display_name`]).
    pub fn name_of(&self, code: &str, day: Option<Date>) -> String {
        display_name(code, self.get(code, day).map(MasterEntry::name))
    }
}

/// The name to show for a code: the master's name, or `"{code}（名称不明）"` when the code is
/// missing from the master (or its name is blank).
pub fn display_name(code: &str, name: Option<&str>) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => format!("{code}（名称不明）"),
    }
}

/// A file that cannot be read as the master asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterError {
    #[error("ファイルが空です (empty)")]
    Empty,
    #[error("CSVではなくバイナリファイルです (binary)")]
    Binary,
    #[error("文字コードがShift_JIS（CP932）ではありません (encoding)")]
    Encoding,
    #[error(
        "{kind}マスターの列数（{min}列以上）の行が1行もありません（最多{found}列） (column_count)"
    )]
    ColumnCount {
        kind: &'static str,
        min: usize,
        found: usize,
    },
    #[error("{kind}マスター（種別{expected}）ではありません（種別「{found}」） (master_kind)")]
    MasterKind {
        kind: &'static str,
        expected: &'static str,
        found: String,
    },
}

impl MasterError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Binary => "binary",
            Self::Encoding => "encoding",
            Self::ColumnCount { .. } => "column_count",
            Self::MasterKind { .. } => "master_kind",
        }
    }
}

/// Where a master kind keeps its fields (0-based) and what its codes look like.
struct Layout {
    kind_name: &'static str,
    kind: &'static str,
    code_first_digit: u8,
    min_columns: usize,
    changed: usize,
    abolished: usize,
}

const CHANGE: usize = 0;
const KIND: usize = 1;
const CODE: usize = 2;
const NAME: usize = 4;
const KANA: usize = 6;
const UNIT: usize = 9;
const AMOUNT_KIND: usize = 10;
const AMOUNT: usize = 11;

const DRUG: Layout = Layout {
    kind_name: "医薬品",
    kind: "Y",
    code_first_digit: b'6',
    min_columns: 35,
    changed: 29,
    abolished: 30,
};
const PROCEDURE: Layout = Layout {
    kind_name: "診療行為",
    kind: "S",
    code_first_digit: b'1',
    min_columns: 88,
    changed: 86,
    abolished: 87,
};
const DEVICE: Layout = Layout {
    kind_name: "特定器材",
    kind: "T",
    code_first_digit: b'7',
    min_columns: 37,
    changed: 27,
    abolished: 29,
};

/// The fields every kind shares, checked.
struct Common {
    line: usize,
    change: String,
    code: String,
    name: String,
    kana: Option<String>,
    unit: Option<String>,
    amount_kind: Option<String>,
    amount: Option<Amount>,
    valid_from: Option<Date>,
    valid_until: Option<Date>,
    raw: Vec<String>,
}

impl Common {
    fn opt(&self, i: usize) -> Option<String> {
        self.raw
            .get(i)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }
}

/// Parses a 医薬品マスター (`y_ALL*.csv`).
pub fn parse_drugs(bytes: &[u8]) -> Result<Master<DrugEntry>, MasterError> {
    parse_with(bytes, &DRUG, |c| DrugEntry {
        generic: c.opt(16).as_deref() == Some("1"),
        dosage_form: c.opt(27),
        price_list_code: c.opt(31),
        base_name: c.opt(34),
        generic_name_code: c.opt(36),
        line: c.line,
        change: c.change,
        code: c.code,
        name: c.name,
        kana: c.kana,
        unit: c.unit,
        price: c.amount,
        valid_from: c.valid_from,
        valid_until: c.valid_until,
        raw: c.raw,
    })
}

/// Parses a 診療行為マスター (`s_ALL*.csv`).
pub fn parse_procedures(bytes: &[u8]) -> Result<Master<ProcedureEntry>, MasterError> {
    parse_with(bytes, &PROCEDURE, |c| ProcedureEntry {
        base_name: c.opt(112),
        line: c.line,
        change: c.change,
        code: c.code,
        name: c.name,
        kana: c.kana,
        unit: c.unit,
        point_kind: c.amount_kind,
        points: c.amount,
        valid_from: c.valid_from,
        valid_until: c.valid_until,
        raw: c.raw,
    })
}

/// Parses a 特定器材マスター (`t_ALL*.csv`).
pub fn parse_devices(bytes: &[u8]) -> Result<Master<DeviceEntry>, MasterError> {
    parse_with(bytes, &DEVICE, |c| DeviceEntry {
        base_name: c.opt(36),
        line: c.line,
        change: c.change,
        code: c.code,
        name: c.name,
        kana: c.kana,
        unit: c.unit,
        price_kind: c.amount_kind,
        price: c.amount,
        valid_from: c.valid_from,
        valid_until: c.valid_until,
        raw: c.raw,
    })
}

fn parse_with<T>(
    bytes: &[u8],
    layout: &Layout,
    build: impl Fn(Common) -> T,
) -> Result<Master<T>, MasterError> {
    let (text, encoding) = decode_text(bytes).map_err(|e| match e {
        DecodeError::Empty => MasterError::Empty,
        DecodeError::Binary => MasterError::Binary,
        DecodeError::Truncated | DecodeError::UnknownEncoding => MasterError::Encoding,
    })?;
    // The official files are CP932; valid UTF-8 with non-ASCII text is some conversion of
    // them, which we refuse rather than guess at (ASCII is both).
    if encoding == TextEncoding::Utf8 && !text.is_ascii() {
        return Err(MasterError::Encoding);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut lines = LineCounter::new(&text);
    for record in reader.records() {
        match record {
            Ok(r) => {
                let line = r.position().map_or(0, |p| lines.line_at(p.byte()));
                if r.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                rows.push((line, r.iter().map(str::to_string).collect::<Vec<_>>()));
            }
            Err(e) => {
                problems.push(MasterProblem {
                    line: e.position().map_or(0, |p| lines.line_at(p.byte())),
                    field: None,
                    code: "csv",
                    message: "CSVの形式が正しくありません（引用符が閉じていない等）".into(),
                });
                break;
            }
        }
    }
    if rows.is_empty() && problems.is_empty() {
        return Err(MasterError::Empty);
    }
    let widest = rows.iter().map(|(_, r)| r.len()).max().unwrap_or(0);
    if widest < layout.min_columns {
        return Err(MasterError::ColumnCount {
            kind: layout.kind_name,
            min: layout.min_columns,
            found: widest,
        });
    }
    let kind_of = |r: &[String]| {
        r.get(KIND)
            .map(|k| k.trim().to_string())
            .unwrap_or_default()
    };
    if let Some((_, first)) = rows.first() {
        if rows.iter().all(|(_, r)| kind_of(r) != layout.kind) {
            return Err(MasterError::MasterKind {
                kind: layout.kind_name,
                expected: layout.kind,
                found: kind_of(first),
            });
        }
    }
    let mut entries = Vec::with_capacity(rows.len());
    for (line, raw) in rows {
        if let Some(c) = check_row(line, raw, layout, &mut problems) {
            entries.push(build(c));
        }
    }
    Ok(Master { entries, problems })
}

/// 1-based line numbers from byte offsets, counted incrementally (offsets only grow). The csv
/// crate's own line count is one short after a CRLF, and a record's offset may point at the
/// line end before it, so leading line ends are skipped first.
struct LineCounter<'a> {
    text: &'a [u8],
    offset: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            offset: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, byte: u64) -> usize {
        let mut target = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while matches!(self.text.get(target), Some(b'\r' | b'\n')) {
            target += 1;
        }
        if target >= self.offset {
            self.line += self.text[self.offset..target]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.offset = target;
        }
        self.line
    }
}

fn check_row(
    line: usize,
    raw: Vec<String>,
    layout: &Layout,
    problems: &mut Vec<MasterProblem>,
) -> Option<Common> {
    let before = problems.len();
    let mut problem = |field: Option<&'static str>, code: &'static str, message: String| {
        problems.push(MasterProblem {
            line,
            field,
            code,
            message,
        });
    };
    if raw.len() < layout.min_columns {
        problem(
            None,
            "field_count",
            format!(
                "列の数が{}です（{}マスターは{}列以上）",
                raw.len(),
                layout.kind_name,
                layout.min_columns
            ),
        );
        return None;
    }
    let field = |i: usize| raw[i].trim();
    if field(KIND) != layout.kind {
        problem(
            Some("マスター種別"),
            "master_kind",
            format!(
                "マスター種別「{}」は{}ではありません",
                field(KIND),
                layout.kind
            ),
        );
        return None;
    }
    let code = field(CODE);
    if code.len() != 9
        || !code.bytes().all(|b| b.is_ascii_digit())
        || code.as_bytes()[0] != layout.code_first_digit
    {
        problem(
            Some("コード"),
            "code",
            format!(
                "コード「{code}」は{}で始まる9桁の数字ではありません",
                char::from(layout.code_first_digit)
            ),
        );
    }
    if field(NAME).is_empty() {
        problem(Some("漢字名称"), "name", "名称がありません".into());
    }
    let amount = match field(AMOUNT) {
        "" => None,
        a => {
            let parsed = Amount::parse(a);
            if parsed.is_none() {
                problem(
                    Some("新又は現金額"),
                    "amount",
                    format!("金額・点数「{a}」が数値ではありません"),
                );
            }
            parsed
        }
    };
    let mut date = |i: usize, name: &'static str| -> Option<Date> {
        match field(i) {
            "" | "00000000" | "99999999" => None,
            d => match Date::parse(d) {
                Ok(d) => Some(d),
                Err(_) => {
                    problem(
                        Some(name),
                        "date",
                        format!("日付「{d}」が正しくありません（YYYYMMDD）"),
                    );
                    None
                }
            },
        }
    };
    let valid_from = date(layout.changed, "変更年月日");
    let valid_until = date(layout.abolished, "廃止年月日");
    if let (Some(f), Some(u)) = (valid_from, valid_until) {
        if u < f {
            problem(
                Some("廃止年月日"),
                "date_order",
                format!("廃止年月日{u}が変更年月日{f}より前です"),
            );
        }
    }
    if problems.len() > before {
        return None;
    }
    let opt = |i: usize| Some(field(i)).filter(|s| !s.is_empty()).map(str::to_string);
    Some(Common {
        line,
        change: field(CHANGE).to_string(),
        code: code.to_string(),
        name: field(NAME).to_string(),
        kana: opt(KANA),
        unit: opt(UNIT),
        amount_kind: opt(AMOUNT_KIND),
        amount,
        valid_from,
        valid_until,
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        for (s, want) in [
            ("26.00", Some(2600)),
            ("0.19", Some(19)),
            ("282", Some(28200)),
            ("1.5", Some(150)),
            ("", None),
            ("1.234", None),
            ("-1", None),
            ("1e3", None),
            (".5", None),
            ("99999999999999999999", None),
        ] {
            assert_eq!(Amount::parse(s).map(Amount::hundredths), want, "{s:?}");
        }
        assert_eq!(Amount::from_hundredths(19).to_string(), "0.19");
        assert_eq!(Amount::from_hundredths(-150).to_string(), "-1.50");
    }

    #[test]
    fn names() {
        assert_eq!(
            display_name("610406079", Some("ガスター散２％")),
            "ガスター散２％"
        );
        assert_eq!(display_name("610406079", None), "610406079（名称不明）");
        assert_eq!(
            display_name("610406079", Some(" ")),
            "610406079（名称不明）"
        );
    }
}
