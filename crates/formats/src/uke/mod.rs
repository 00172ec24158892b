//! UKE receipt files (レセプト電算処理システム, `RECEIPTC.UKE` for 医科, the 調剤 file with a YK
//! header) → typed records grouped into receipts.
//!
//! Invariant: bytes in, typed records or problems out. No I/O. [`parse`] never panics on any
//! input, and nothing is dropped: every record keeps its raw fields, unknown record types are
//! kept as [`Record::Unknown`], and [`UkeFile::to_bytes`] writes every record back, in order, so a
//! well-formed file round-trips byte for byte. Only an undecodable, empty or headerless file is an
//! error ([`UkeError`]); everything else is a [`UkeProblem`] (line, field, stable code, Japanese
//! message) beside the parsed records.
//!
//! Physical format (`shared/research/data-formats.md` §1.1): CP932, one record per line, CRLF (a
//! bare LF is accepted), comma-separated with no quoting, an optional 0x1A after the last line.
//!
//! Layouts: 医科 as in receiptisan's `record.rb` (the 令和6年 era layout, checked against the
//! golden sample); 調剤 as in uke-parser's `uke_parser_chozai.rb` (jiki_t01, before 令和6年). The
//! RE field 記録条件仕様年月情報 selects nothing yet: both known layouts are positional, so an empty
//! value or a year-month up to [`NEWEST_KNOWN_LAYOUT`] is accepted silently; anything else is
//! parsed by position all the same and reported once as `unknown_layout_version`.

mod date;
pub mod derive;
mod records;

pub use date::{parse_date, parse_partial_date, parse_year_month, PartialDate, YearMonth};
pub use records::{
    Comment, CommentPair, Cz, DayCount, DayFlags, Fields, Go, Ho, Ir, Item, Ko, Mn,
    PrescribingInstitution, Quantity, Re, Record, Sh, Sj, Sn, Sy, Yk, RAW_KNOWN_IDS,
};

use kakunin_domain::{Date, Sex};
use records::Ctx;
use std::fmt;

/// The newest 記録条件仕様 edition the research names (医科 令和8年8月版); later values in RE's
/// 記録条件仕様年月情報 are reported as `unknown_layout_version`.
pub const NEWEST_KNOWN_LAYOUT: (u32, u32) = (2026, 8);

/// 医科 (IR header) or 調剤 (YK header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Medical,
    Pharmacy,
}

/// The first record of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    Medical(Ir),
    Pharmacy(Yk),
}

impl Header {
    /// 医療機関コード (IR) or 薬局コード (YK).
    pub fn institution_code(&self) -> &str {
        match self {
            Self::Medical(r) => &r.institution_code,
            Self::Pharmacy(r) => &r.pharmacy_code,
        }
    }
    pub fn institution_name(&self) -> Option<&str> {
        match self {
            Self::Medical(r) => r.institution_name.as_deref(),
            Self::Pharmacy(r) => r.pharmacy_name.as_deref(),
        }
    }
    /// 都道府県 (2 digits).
    pub fn prefecture(&self) -> &str {
        match self {
            Self::Medical(r) => &r.prefecture,
            Self::Pharmacy(r) => &r.prefecture,
        }
    }
    pub fn billing_month(&self) -> Option<YearMonth> {
        match self {
            Self::Medical(r) => r.billing_month,
            Self::Pharmacy(r) => r.billing_month,
        }
    }
    pub fn fields(&self) -> &Fields {
        match self {
            Self::Medical(r) => &r.fields,
            Self::Pharmacy(r) => &r.fields,
        }
    }
}

/// A file-level error: no records can be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UkeError {
    #[error("ファイルが空です (empty)")]
    Empty,
    #[error("{line}行目: 文字コードがShift_JIS（CP932）ではありません (encoding)")]
    Encoding { line: usize },
    #[error("{line}行目: 先頭のレコードが IR（医療機関情報）でも YK（薬局情報）でもありません（「{found}」） (no_header)")]
    NoHeader { line: usize, found: String },
}

impl UkeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Encoding { .. } => "encoding",
            Self::NoHeader { .. } => "no_header",
        }
    }
}

/// A problem in one record (or, with `line` 0, in the file as a whole). The record is still
/// kept; a field that could not be read is `None` in the typed view and intact in the raw fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UkeProblem {
    /// 1-based line; 0 for the whole file.
    pub line: usize,
    /// The record id as written (may be empty).
    pub record_id: String,
    /// 0-based field index (the record id is 0).
    pub field_index: Option<usize>,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Japanese, for the people who fix the file.
    pub message: String,
}

impl fmt::Display for UkeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.field_index) {
            (0, _) => write!(f, "{} ({})", self.message, self.code),
            (l, Some(i)) => write!(
                f,
                "{l}行目 {}レコード {}項目目: {} ({})",
                self.record_id,
                i + 1,
                self.message,
                self.code
            ),
            (l, None) => write!(
                f,
                "{l}行目 {}レコード: {} ({})",
                self.record_id, self.message, self.code
            ),
        }
    }
}

/// One receipt: its RE record and every record after it until the next RE or GO, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub re: Re,
    pub records: Vec<Record>,
}

/// What a [`LineItem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineKind {
    /// SI 診療行為.
    Procedure,
    /// IY 医薬品.
    Drug,
    /// TO 特定器材.
    Device,
    /// CO コメント.
    Comment,
    /// SH 処方基本 (調剤; opens an RP).
    Prescription,
    /// CZ 調剤情報 (調剤; 調剤料 and dates).
    Dispensing,
    /// TK 摘要欄 (調剤).
    Remark,
}

/// A flattened view of a billable or descriptive line of a receipt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineItem<'a> {
    pub kind: LineKind,
    pub line: usize,
    /// 診療識別 (医科), carried forward from the first record of a 算定単位 to the records after
    /// it that leave it empty. `None` in 調剤.
    pub category: Option<&'a str>,
    /// 負担区分.
    pub burden: Option<&'a str>,
    /// 診療行為コード / 医薬品コード / 特定器材コード / コメントコード / 調剤料コード / 剤形コード (SH).
    pub code: Option<&'a str>,
    /// 数量データ / 使用量.
    pub quantity: Option<&'a Quantity>,
    /// 単位コード (TO).
    pub unit_code: Option<&'a str>,
    /// 点数 (SI/IY/TO 医科; 調剤料 on CZ; 単位薬剤料 on SH).
    pub points: Option<u32>,
    /// 回数 (医科) or 調剤数量 (CZ).
    pub count: Option<u32>,
    /// 算定日 (医科).
    pub days: &'a [DayCount],
    /// Comment or remark text (CO, TK, 商品名 on TO).
    pub text: Option<&'a str>,
    /// The RP number of the last SH before this line (調剤).
    pub rp: Option<u32>,
    pub record: &'a Record,
}

impl Receipt {
    /// 診療年月 (医科) or 調剤年月 (調剤).
    pub fn month(&self) -> Option<YearMonth> {
        self.re.month
    }
    pub fn patient_name(&self) -> &str {
        &self.re.name
    }
    pub fn patient_name_kana(&self) -> Option<&str> {
        self.re.name_kana.as_deref()
    }
    pub fn sex(&self) -> Option<Sex> {
        self.re.sex
    }
    pub fn birth_date(&self) -> Option<Date> {
        self.re.birth_date
    }
    /// The HO record (医療保険), if any.
    pub fn insurance(&self) -> Option<&Ho> {
        self.records.iter().find_map(|r| match r {
            Record::Ho(h) => Some(h),
            _ => None,
        })
    }
    /// The SN record for 医療保険 (負担者種別 1), if any.
    pub fn insurance_confirmation(&self) -> Option<&Sn> {
        self.confirmations().find(|s| s.payer_kind == "1")
    }
    pub fn confirmations(&self) -> impl Iterator<Item = &Sn> {
        self.records.iter().filter_map(|r| match r {
            Record::Sn(s) => Some(s),
            _ => None,
        })
    }
    /// KO records, 第1公費 first.
    pub fn public_expenses(&self) -> impl Iterator<Item = &Ko> {
        self.records.iter().filter_map(|r| match r {
            Record::Ko(k) => Some(k),
            _ => None,
        })
    }
    /// SY records (医科).
    pub fn diagnoses(&self) -> impl Iterator<Item = &Sy> {
        self.records.iter().filter_map(|r| match r {
            Record::Sy(s) => Some(s),
            _ => None,
        })
    }
    /// 保険者番号: HO's, or SN's (医療保険) when the receipt has no HO.
    pub fn insurer_number(&self) -> Option<&str> {
        self.insurance()
            .map(|h| h.insurer_number.as_str())
            .filter(|s| !s.is_empty())
            .or_else(|| self.insurance_confirmation()?.insurer_number.as_deref())
    }
    /// 記号: SN's (医療保険) when it differs from HO (SN leaves it empty when equal), else HO's.
    pub fn symbol(&self) -> Option<&str> {
        self.insurance_confirmation()
            .and_then(|s| s.symbol.as_deref())
            .or_else(|| self.insurance()?.symbol.as_deref())
    }
    /// 番号: SN's (医療保険) when given, else HO's.
    pub fn number(&self) -> Option<&str> {
        self.insurance_confirmation()
            .and_then(|s| s.number.as_deref())
            .or_else(|| self.insurance()?.number.as_deref())
    }
    /// 枝番: only SN carries it.
    pub fn branch(&self) -> Option<&str> {
        self.insurance_confirmation()?.branch.as_deref()
    }

    /// SI/IY/TO/CO (医科) and SH/CZ/IY/TO/CO/TK (調剤) lines, in file order.
    pub fn line_items(&self) -> Vec<LineItem<'_>> {
        let mut out = Vec::new();
        let mut category: Option<&str> = None;
        let mut rp = None;
        for r in &self.records {
            let base = LineItem {
                kind: LineKind::Comment,
                line: r.line(),
                category: None,
                burden: None,
                code: None,
                quantity: None,
                unit_code: None,
                points: None,
                count: None,
                days: &[],
                text: None,
                rp,
                record: r,
            };
            let item = match r {
                Record::Si(i) | Record::Iy(i) | Record::To(i) => {
                    if i.category.is_some() {
                        category = i.category.as_deref();
                    }
                    LineItem {
                        kind: match r {
                            Record::Si(_) => LineKind::Procedure,
                            Record::Iy(_) => LineKind::Drug,
                            _ => LineKind::Device,
                        },
                        category,
                        burden: i.burden.as_deref(),
                        code: Some(i.code.as_str()),
                        quantity: i.quantity.as_ref(),
                        unit_code: i.unit_code.as_deref(),
                        points: i.points,
                        count: i.times,
                        days: &i.days,
                        text: i.product_name.as_deref(),
                        ..base
                    }
                }
                Record::Co(c) | Record::Tk(c) => {
                    if c.category.is_some() {
                        category = c.category.as_deref();
                    }
                    LineItem {
                        kind: if matches!(r, Record::Co(_)) {
                            LineKind::Comment
                        } else {
                            LineKind::Remark
                        },
                        category: category.filter(|_| matches!(r, Record::Co(_))),
                        burden: c.burden.as_deref(),
                        code: Some(c.code.as_str()),
                        text: c.text.as_deref(),
                        ..base
                    }
                }
                Record::Sh(s) => {
                    rp = s.rp_number;
                    LineItem {
                        kind: LineKind::Prescription,
                        code: s.dosage_form.as_deref(),
                        points: s.unit_drug_points,
                        text: s.usage_code.as_deref(),
                        rp,
                        ..base
                    }
                }
                Record::Cz(c) => LineItem {
                    kind: LineKind::Dispensing,
                    burden: c.fee_burden.as_deref(),
                    code: c.fee_code.as_deref(),
                    points: c.fee_points,
                    count: c.quantity,
                    ..base
                },
                _ => continue,
            };
            out.push(item);
        }
        out
    }
}

/// A parsed UKE file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UkeFile {
    pub kind: FileKind,
    pub header: Header,
    /// Records between the header and the first RE (none in a well-formed file).
    pub preamble: Vec<Record>,
    pub receipts: Vec<Receipt>,
    pub trailer: Option<Go>,
    /// Records after GO (none in a single-unit file; reported as `record_after_trailer`).
    pub trailing: Vec<Record>,
    /// How many records had an id we do not know.
    pub unknown_records: usize,
    pub problems: Vec<UkeProblem>,
    /// All records, header and trailer included.
    pub records_total: usize,
    /// Whether the file ended with the 0x1A end-of-file code.
    pub eof_marker: bool,
}

impl UkeFile {
    /// Every record in file order (header, preamble, receipts, trailer, trailing).
    pub fn records(&self) -> Vec<RecordRef<'_>> {
        let mut out = vec![RecordRef::Header(&self.header)];
        out.extend(self.preamble.iter().map(RecordRef::Record));
        for r in &self.receipts {
            out.push(RecordRef::Re(&r.re));
            out.extend(r.records.iter().map(RecordRef::Record));
        }
        out.extend(self.trailer.iter().map(RecordRef::Go));
        out.extend(self.trailing.iter().map(RecordRef::Record));
        out
    }

    /// Writes every record back, in order, as CP932 with CRLF, and the 0x1A end code when the
    /// input had one.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = String::new();
        for r in self.records() {
            text.push_str(r.fields().as_line());
            text.push_str("\r\n");
        }
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(&text);
        let mut bytes = bytes.into_owned();
        if self.eof_marker {
            bytes.push(0x1A);
        }
        bytes
    }
}

/// A borrowed record of any position in the file.
#[derive(Debug, Clone, Copy)]
pub enum RecordRef<'a> {
    Header(&'a Header),
    Re(&'a Re),
    Go(&'a Go),
    Record(&'a Record),
}

impl RecordRef<'_> {
    pub fn fields(&self) -> &Fields {
        match self {
            Self::Header(h) => h.fields(),
            Self::Re(r) => &r.fields,
            Self::Go(g) => &g.fields,
            Self::Record(r) => r.fields(),
        }
    }
    pub fn id(&self) -> &str {
        self.fields().first()
    }
}

fn file_problem(
    problems: &mut Vec<UkeProblem>,
    line: usize,
    id: &str,
    code: &'static str,
    message: String,
) {
    problems.push(UkeProblem {
        line,
        record_id: id.to_owned(),
        field_index: None,
        code,
        message,
    });
}

/// Splits and decodes the lines. Returns (line number, text) pairs, skipping blank lines.
fn decode_lines(
    bytes: &[u8],
    problems: &mut Vec<UkeProblem>,
) -> Result<Vec<(usize, String)>, UkeError> {
    let mut out = Vec::new();
    let segments: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        let line = i + 1;
        if i == last && seg.is_empty() {
            break; // the file ended with a line end
        }
        let mut seg = seg.strip_suffix(b"\r").unwrap_or(seg);
        if seg.is_ascii() && i != last && !seg.trim_ascii().is_empty() {
            // Most records are all ASCII: decoding is the identity and always canonical.
            out.push((line, String::from_utf8_lossy(seg).into_owned()));
            continue;
        }
        let (mut text, mut bad) = decode(seg);
        if bad && i == last && seg.len() > 1 {
            // A file cut in the middle of a two-byte character.
            let (t, b) = decode(&seg[..seg.len() - 1]);
            if !b {
                file_problem(
                    problems,
                    line,
                    "",
                    "truncated_character",
                    "ファイルが文字の途中で切れています（最後の1バイトを無視しました）".into(),
                );
                seg = &seg[..seg.len() - 1];
                (text, bad) = (t, b);
            }
        }
        if bad {
            return Err(UkeError::Encoding { line });
        }
        if i == last {
            file_problem(
                problems,
                line,
                text.split(',').next().unwrap_or(""),
                "missing_line_end",
                "最後のレコードに改行（CR+LF）がありません。ファイルが途中で切れている可能性があります"
                    .into(),
            );
        }
        if text.trim().is_empty() {
            file_problem(
                problems,
                line,
                "",
                "blank_line",
                "空行があります（無視しました）".into(),
            );
            continue;
        }
        let (canonical, _, _) = encoding_rs::SHIFT_JIS.encode(&text);
        if *canonical != *seg {
            file_problem(
                problems,
                line,
                text.split(',').next().unwrap_or(""),
                "non_canonical_encoding",
                "同じ文字に複数ある文字コード（NEC選定IBM拡張文字など）が使われています。書き戻すと別のバイト列になります"
                    .into(),
            );
        }
        out.push((line, text));
    }
    Ok(out)
}

fn decode(bytes: &[u8]) -> (String, bool) {
    let (text, bad) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(bytes);
    (text.into_owned(), bad)
}

fn known_layout(version: &str) -> bool {
    version.is_empty()
        || parse_year_month(version).is_some_and(|m| (m.year(), m.month()) <= NEWEST_KNOWN_LAYOUT)
}

/// Parses a whole UKE file. See the module docs for what is an error and what is a problem.
pub fn parse(bytes: &[u8]) -> Result<UkeFile, UkeError> {
    let (bytes, eof_marker) = match bytes.strip_suffix(&[0x1A]) {
        Some(b) => (b, true),
        None => (bytes, false),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(UkeError::Empty);
    }
    let mut problems = Vec::new();
    let lines = decode_lines(bytes, &mut problems)?;
    let mut lines = lines.into_iter();
    let Some((line, text)) = lines.next() else {
        return Err(UkeError::Empty);
    };
    let fields: Vec<&str> = text.split(',').collect();
    let mut ctx = Ctx {
        line,
        fields: &fields,
        problems: &mut problems,
    };
    let (kind, header) = match fields[0] {
        "IR" => (FileKind::Medical, Header::Medical(Ir::parse(&mut ctx))),
        "YK" => (FileKind::Pharmacy, Header::Pharmacy(Yk::parse(&mut ctx))),
        other => {
            return Err(UkeError::NoHeader {
                line,
                found: other.chars().take(20).collect(),
            })
        }
    };
    let mut file = UkeFile {
        kind,
        header,
        preamble: Vec::new(),
        receipts: Vec::new(),
        trailer: None,
        trailing: Vec::new(),
        unknown_records: 0,
        problems: Vec::new(),
        records_total: 1,
        eof_marker,
    };
    let mut unknown_ids: Vec<String> = Vec::new();
    let mut version_reported = false;
    for (line, text) in lines {
        file.records_total += 1;
        let fields: Vec<&str> = text.split(',').collect();
        let mut ctx = Ctx {
            line,
            fields: &fields,
            problems: &mut problems,
        };
        let record = Record::parse(&mut ctx, kind);
        let id = record.id().to_owned();
        if file.trailer.is_some() {
            file_problem(
                &mut problems,
                line,
                &id,
                "record_after_trailer",
                "GO（診療報酬請求書）レコードの後にレコードがあります".into(),
            );
            file.trailing.push(record);
            continue;
        }
        match record {
            Record::Re(re) => {
                if !version_reported && !known_layout(&re.layout_version) {
                    version_reported = true;
                    problems.push(UkeProblem {
                        line,
                        record_id: id,
                        field_index: Some(match kind {
                            FileKind::Medical => 19,
                            FileKind::Pharmacy => 38,
                        }),
                        code: "unknown_layout_version",
                        message: format!(
                            "記録条件仕様年月情報「{}」は対応していない版です。項目の位置で読み取りました",
                            re.layout_version
                        ),
                    });
                }
                file.receipts.push(Receipt {
                    re,
                    records: Vec::new(),
                });
            }
            Record::Go(go) => file.trailer = Some(go),
            other => {
                match &other {
                    Record::Ir(_) | Record::Yk(_) => file_problem(
                        &mut problems,
                        line,
                        &id,
                        "unexpected_header",
                        "ファイルの途中に IR/YK レコードがあります".into(),
                    ),
                    Record::Unknown { .. } => {
                        file.unknown_records += 1;
                        if !unknown_ids.contains(&id) {
                            file_problem(
                                &mut problems,
                                line,
                                &id,
                                "unknown_record",
                                format!("不明なレコード識別情報「{id}」です（読み飛ばさずに保持しました）"),
                            );
                            unknown_ids.push(id);
                        }
                    }
                    _ => {}
                }
                match file.receipts.last_mut() {
                    Some(r) => r.records.push(other),
                    None => file.preamble.push(other),
                }
            }
        }
    }
    if file.trailer.is_none() {
        file_problem(
            &mut problems,
            0,
            "",
            "missing_trailer",
            "GO（診療報酬請求書）レコードがありません".into(),
        );
    }
    file.problems = problems;
    Ok(file)
}

/// Fuzz entry point: parses `bytes` and checks the round-trip invariant (writing a parsed file
/// and parsing it again yields the same bytes). Panics only if an invariant breaks.
pub fn fuzz_one(bytes: &[u8]) {
    let Ok(file) = parse(bytes) else { return };
    for r in &file.receipts {
        let _ = r.line_items();
        let _ = (r.insurer_number(), r.symbol(), r.number(), r.branch());
    }
    for p in &file.problems {
        let _ = p.to_string();
    }
    let written = file.to_bytes();
    let again = parse(&written).expect("a written file parses again");
    assert_eq!(
        again.to_bytes(),
        written,
        "writing is idempotent after one parse"
    );
    assert_eq!(again.records_total, file.records_total);
}
