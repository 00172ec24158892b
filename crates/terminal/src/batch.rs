//! 一括照会 uploads: the lines staff upload or paste on the console (保険者番号, 記号, 番号,
//! 枝番, 生年月日), read into the checks of one batch inquiry.
//!
//! Invariant: pure, and all or nothing. A text with any bad line gives every line's error (line,
//! column, what to fix, in Japanese) and no checks at all, so a batch is never sent half-read.
//! Values are accepted as the central accepts them (full-width digits, 6-digit 国保 numbers,
//! zero- or space-padded to 8, a one-digit 枝番) and sent in their canonical form.

use kakunin_api::{EligibilityCheckRequest, BATCH_MAX_ITEMS};
use kakunin_domain::text::{fold_width, half_width_trimmed};
use kakunin_domain::{
    Branch, CardIdentity, CardNumber, CardSymbol, Date, DateError, IdError, InsurerNumber,
};
use serde::Serialize;

/// The columns, in order: (request field, Japanese label).
pub const COLUMNS: [(&str, &str); 5] = [
    ("insurer_number", "保険者番号"),
    ("symbol", "記号"),
    ("number", "番号"),
    ("branch", "枝番"),
    ("birthdate", "生年月日"),
];

const INSURER: usize = 0;
const SYMBOL: usize = 1;
const NUMBER: usize = 2;
const BRANCH: usize = 3;
const BIRTHDATE: usize = 4;

/// One problem of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    /// 1-based line of the text (a header counts); 0 for the upload as a whole.
    pub line: usize,
    /// 1-based column, when one column is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// The request field of that column (`insurer_number`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// The column's Japanese label (`保険者番号`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<&'static str>,
    /// Stable code (`required`, `not_digits`, `length`, `check_digit`, …).
    pub code: &'static str,
    /// What to fix, for staff.
    pub message: String,
}

impl LineError {
    fn whole(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            line: 0,
            column: None,
            field: None,
            label: None,
            code,
            message: message.into(),
        }
    }

    fn line(line: usize, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            line,
            ..Self::whole(code, message)
        }
    }

    fn cell(line: usize, column: usize, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            line,
            column: Some(column + 1),
            field: Some(COLUMNS[column].0),
            label: Some(COLUMNS[column].1),
            code,
            message: message.into(),
        }
    }
}

/// Reads an upload into checks (without their own 資格確認日: the batch carries it).
/// `date` is the batch's 資格確認日, when given: a birth date after it is an error.
pub fn parse(
    text: &str,
    date: Option<Date>,
) -> Result<Vec<EligibilityCheckRequest>, Vec<LineError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let mut lines_with_data = 0usize;
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let cells = match split(raw) {
            Ok(cells) => cells,
            Err(()) => {
                lines_with_data += 1;
                first = false;
                errors.push(LineError::line(
                    line,
                    "quote",
                    "引用符（\"）の使い方が正しくありません（閉じていない、閉じた後に文字がある等）。引用符を取り除くか、正しく閉じてください。",
                ));
                continue;
            }
        };
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if std::mem::take(&mut first) && is_header(&cells) {
            continue;
        }
        lines_with_data += 1;
        match row(line, &cells, date) {
            Ok(item) => items.push(item),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if lines_with_data > BATCH_MAX_ITEMS {
        return Err(vec![LineError::whole(
            "too_many_lines",
            format!(
                "一度に照会できるのは{}件までです（{lines_with_data}件あります）。ファイルを分けて送信してください。",
                thousands(BATCH_MAX_ITEMS)
            ),
        )]);
    }
    if lines_with_data == 0 {
        return Err(vec![LineError::whole(
            "empty",
            "照会する行がありません。1行に1人、保険者番号,記号,番号,枝番,生年月日 を入力してください。",
        )]);
    }
    if errors.is_empty() {
        Ok(items)
    } else {
        Err(errors)
    }
}

/// `5000` → `5,000`.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The cells of a line: comma-separated (a full-width comma counts), or tab-separated when the
/// line has tabs and no comma (lines copied from a spreadsheet). A cell may be quoted with `"`
/// (`""` inside is one quote). `Err` when a quote is not closed or text follows it.
fn split(line: &str) -> Result<Vec<String>, ()> {
    let comma = |c: char| c == ',' || c == '，';
    let tabs = line.contains('\t') && !line.contains(comma);
    let is_sep = |c: char| if tabs { c == '\t' } else { comma(c) };
    let mut cells = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut cell = String::new();
        // Spaces before an opening quote are ignored.
        let lead: String = std::iter::from_fn(|| chars.next_if(|c| *c == ' ')).collect();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        cell.push('"');
                    }
                    Some('"') => break,
                    Some(c) => cell.push(c),
                }
            }
            // Only spaces may follow the closing quote.
            loop {
                match chars.peek() {
                    None => break,
                    Some(c) if is_sep(*c) => break,
                    Some(' ') => {
                        chars.next();
                    }
                    Some(_) => return Err(()),
                }
            }
        } else {
            cell.push_str(&lead);
            while let Some(c) = chars.next_if(|c| !is_sep(*c)) {
                cell.push(c);
            }
        }
        cells.push(cell);
        if chars.next().is_none() {
            return Ok(cells);
        }
    }
}

/// A first line naming the columns rather than holding numbers.
fn is_header(cells: &[String]) -> bool {
    let first = half_width_trimmed(&cells[0]).to_ascii_lowercase();
    first.contains("保険者") || first == "insurer_number" || first == "insurer"
}

/// One data line as a check, or its errors.
fn row(
    line: usize,
    cells: &[String],
    date: Option<Date>,
) -> Result<EligibilityCheckRequest, Vec<LineError>> {
    let filled = cells
        .iter()
        .rposition(|c| !c.trim().is_empty())
        .map_or(0, |i| i + 1);
    if cells.len() < COLUMNS.len() || filled > COLUMNS.len() {
        let (code, what) = if cells.len() < COLUMNS.len() {
            ("too_few_columns", "足りません")
        } else {
            ("too_many_columns", "多すぎます")
        };
        return Err(vec![LineError::line(
            line,
            code,
            format!(
                "列が{what}（{}列あります）。保険者番号,記号,番号,枝番,生年月日 の5列にしてください。記号・枝番がないときも、その列は空にしてカンマを残してください。",
                cells.len().max(filled)
            ),
        )]);
    }
    let mut errors = Vec::new();
    let cell = |i: usize| cells[i].as_str();
    let present = |i: usize| !half_width_trimmed(cell(i)).is_empty();

    let insurer = InsurerNumber::parse(cell(INSURER))
        .map_err(|e| errors.push(id_error(line, INSURER, cell(INSURER), &e)))
        .ok();
    let symbol = if present(SYMBOL) {
        CardSymbol::parse(cell(SYMBOL))
            .map(Some)
            .map_err(|e| errors.push(id_error(line, SYMBOL, cell(SYMBOL), &e)))
            .ok()
    } else {
        Some(None)
    };
    let number = CardNumber::parse(cell(NUMBER))
        .map_err(|e| errors.push(id_error(line, NUMBER, cell(NUMBER), &e)))
        .ok();
    let branch = if present(BRANCH) {
        Branch::parse(cell(BRANCH))
            .map(Some)
            .map_err(|e| errors.push(id_error(line, BRANCH, cell(BRANCH), &e)))
            .ok()
    } else {
        Some(None)
    };
    let birthdate = birthdate(cell(BIRTHDATE))
        .map_err(|m| errors.push(LineError::cell(line, BIRTHDATE, m.0, m.1)))
        .ok();
    if let (Some(b), Some(d)) = (birthdate, date) {
        if b > d {
            errors.push(LineError::cell(
                line,
                BIRTHDATE,
                "after_confirmation_date",
                format!(
                    "生年月日（{}）が資格確認日（{}）より後です。生年月日を確認してください。",
                    slashed(b),
                    slashed(d)
                ),
            ));
        }
    }
    let (Some(insurer), Some(symbol), Some(number), Some(branch), Some(birthdate)) =
        (insurer, symbol, number, branch, birthdate)
    else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let card = CardIdentity::new(insurer, symbol, number, branch).map_err(|e| {
        let column = if e == IdError::SymbolNotAllowed {
            SYMBOL
        } else {
            NUMBER
        };
        vec![id_error(line, column, cell(column), &e)]
    })?;
    Ok(EligibilityCheckRequest {
        insurer_number: card.insurer.as_str().to_string(),
        symbol: card.symbol.as_ref().map(|s| s.raw().to_string()),
        number: card.number.raw().to_string(),
        branch: card.branch.as_ref().map(|b| b.as_str().to_string()),
        birthdate: birthdate.compact(),
        qualification_confirmation_date: None,
        limit_application_certificate_related_cons_flg: None,
    })
}

fn slashed(d: Date) -> String {
    format!("{}/{:02}/{:02}", d.year(), d.month(), d.day())
}

/// What to fix in a column, from the identifier's own error.
fn id_error(line: usize, column: usize, raw: &str, e: &IdError) -> LineError {
    let label = COLUMNS[column].1;
    let got = half_width_trimmed(raw).chars().count();
    let (code, message) = match e {
        IdError::Empty => ("required", format!("{label}がありません。{label}を入力してください。")),
        IdError::Length { .. } if column == INSURER => (
            "length",
            if got == 5 || got == 7 {
                format!("保険者番号は6桁または8桁の数字です（{got}桁です）。表計算ソフトで先頭の0が消えていないか確認してください。")
            } else {
                format!("保険者番号は6桁または8桁の数字です（{got}桁です）。")
            },
        ),
        IdError::Length { expected, .. } => (
            "length",
            format!("{label}は{expected}桁の数字です（{got}桁です）。"),
        ),
        IdError::NotDigits => (
            "not_digits",
            format!("{label}は数字だけで入力してください（「{}」）。", half_width_trimmed(raw)),
        ),
        IdError::CheckDigit => (
            "check_digit",
            "保険者番号の検証番号（最後の1桁）が合いません。保険証・資格確認書の番号を確認してください。".into(),
        ),
        IdError::Prefecture(p) => (
            "prefecture",
            format!("保険者番号の都道府県番号「{p}」は01〜47ではありません。番号を確認してください。"),
        ),
        IdError::PointTable(_) => ("point_table", format!("{label}が正しくありません。")),
        IdError::TooLong(n) => (
            "too_long",
            format!("{label}は{n}文字以内です（{got}文字あります）。"),
        ),
        IdError::Control => (
            "control_character",
            format!("{label}に使えない文字（タブ・改行などの制御文字）が含まれています。取り除いてください。"),
        ),
        IdError::SymbolNotAllowed => (
            "symbol_not_allowed",
            "後期高齢者医療（法別39）の保険証には記号がありません。記号の列を空にしてください。".into(),
        ),
        IdError::LateElderlyNumber => (
            "late_elderly_number",
            "後期高齢者医療の番号は検証番号付きの8桁の数字です。番号を確認してください。".into(),
        ),
    };
    LineError::cell(line, column, code, message)
}

/// A birth date as `yyyyMMdd`, or as a spreadsheet rewrites it (`1980/1/1`, `1980-01-01`,
/// `1980年1月1日`); full-width digits accepted.
fn birthdate(raw: &str) -> Result<Date, (&'static str, String)> {
    let s: String = raw
        .chars()
        .map(fold_width)
        .collect::<String>()
        .trim()
        .to_string();
    if s.is_empty() {
        return Err((
            "required",
            "生年月日がありません。生年月日を入力してください（例 19800101）。".into(),
        ));
    }
    let parts: Vec<&str> = s
        .split(['/', '-', '.', '年', '月', '日'])
        .filter(|p| !p.is_empty())
        .collect();
    let compact = match parts.as_slice() {
        [y, m, d]
            if y.len() == 4
                && (1..=2).contains(&m.len())
                && (1..=2).contains(&d.len())
                && [y, m, d]
                    .iter()
                    .all(|p| p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            format!("{y}{m:0>2}{d:0>2}")
        }
        _ => s.clone(),
    };
    Date::parse(&compact).map_err(|e| match e {
        DateError::Length(_) | DateError::NotDigits => (
            "date_format",
            format!("生年月日「{s}」を読めません。8桁の数字（例 19800101）で入力してください。"),
        ),
        DateError::Impossible => (
            "impossible_date",
            format!("生年月日「{s}」は存在しない日付です。確認してください。"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checks of `text` as `insurer|symbol|number|branch|birthdate` lines, or its errors as
    /// `line:column code` lines.
    fn check(text: &str, expected: &[&str]) {
        let date = Date::parse("20260401").ok();
        let got: Vec<String> = match parse(text, date) {
            Ok(items) => items
                .iter()
                .map(|i| {
                    format!(
                        "{}|{}|{}|{}|{}",
                        i.insurer_number,
                        i.symbol.as_deref().unwrap_or(""),
                        i.number,
                        i.branch.as_deref().unwrap_or(""),
                        i.birthdate
                    )
                })
                .collect(),
            Err(errors) => errors
                .iter()
                .map(|e| {
                    assert!(!e.message.is_empty());
                    match e.column {
                        Some(c) => format!("{}:{c} {}", e.line, e.code),
                        None => format!("{}: {}", e.line, e.code),
                    }
                })
                .collect(),
        };
        assert_eq!(got, expected, "for {text:?}");
    }

    #[test]
    fn lines_read_into_checks() {
        let cases: &[(&str, &[&str])] = &[
            // Plain, with and without 記号 and 枝番.
            (
                "06139992,12,345,01,19800101",
                &["06139992|12|345|01|19800101"],
            ),
            ("06139992,,345,,19800101", &["06139992||345||19800101"]),
            // A header line, CRLF, a BOM, blank lines and empty spreadsheet rows are skipped.
            (
                "\u{feff}保険者番号,記号,番号,枝番,生年月日\r\n06139992,12,345,01,19800101\r\n\r\n,,,,\r\n",
                &["06139992|12|345|01|19800101"],
            ),
            (
                "insurer_number,symbol,number,branch,birthdate\n06139992,,1,,19800101",
                &["06139992||1||19800101"],
            ),
            // Full-width digits, a 6-digit 国保 number, zero- and space-padded to 8.
            (
                "０６１３９９９２,１２,３４５,０１,１９８００１０１",
                &["06139992|１２|３４５|01|19800101"],
            ),
            ("138057,,123,,19800101", &["138057||123||19800101"]),
            ("00138057,,123,,19800101", &["138057||123||19800101"]),
            // A one-digit 枝番, spreadsheet dates, spaces around cells.
            (
                " 06139992 , 12 , 345 , 1 , 1980/1/2 ",
                &["06139992|12|345|01|19800102"],
            ),
            ("06139992,,345,,1980-01-02", &["06139992||345||19800102"]),
            ("06139992,,345,,1980年1月2日", &["06139992||345||19800102"]),
            // Quoted cells, a full-width comma, tabs from a spreadsheet, empty trailing cells.
            (
                "\"06139992\",\"1,2\",\"34\"\"5\",\"01\",\"19800101\"",
                &["06139992|1,2|34\"5|01|19800101"],
            ),
            ("06139992，12，345，01，19800101", &["06139992|12|345|01|19800101"]),
            ("06139992\t12\t345\t01\t19800101", &["06139992|12|345|01|19800101"]),
            ("06139992,,345,,19800101,,", &["06139992||345||19800101"]),
            // 後期高齢者医療: no 記号, an 8-digit checked 番号.
            ("39131008,,12345674,,19400101", &["39131008||12345674||19400101"]),
        ];
        for (text, expected) in cases {
            check(text, expected);
        }
    }

    #[test]
    fn every_bad_line_is_reported() {
        let cases: &[(&str, &[&str])] = &[
            ("", &["0: empty"]),
            ("保険者番号,記号,番号,枝番,生年月日\n\n", &["0: empty"]),
            // Each column's problems, with the column.
            ("06139993,,1,,19800101", &["1:1 check_digit"]),
            ("6139992,,1,,19800101", &["1:1 length"]),
            ("0613999A,,1,,19800101", &["1:1 not_digits"]),
            ("06999999,,1,,19800101", &["1:1 prefecture"]),
            (",,1,,19800101", &["1:1 required"]),
            ("06139992,,,,19800101", &["1:3 required"]),
            ("06139992,,123456789012345678901,,19800101", &["1:3 too_long"]),
            ("06139992,123456789012345678901,1,,19800101", &["1:2 too_long"]),
            ("06139992,,1,123,19800101", &["1:4 length"]),
            ("06139992,,1,ab,19800101", &["1:4 not_digits"]),
            ("06139992,,1,,", &["1:5 required"]),
            ("06139992,,1,,1980011", &["1:5 date_format"]),
            ("06139992,,1,,19800231", &["1:5 impossible_date"]),
            ("06139992,,1,,20260402", &["1:5 after_confirmation_date"]),
            ("39131008,1,12345674,,19400101", &["1:2 symbol_not_allowed"]),
            ("39131008,,12345675,,19400101", &["1:3 late_elderly_number"]),
            // Several problems on one line, each reported.
            ("6139992,,,x,1980", &["1:1 length", "1:3 required", "1:4 not_digits", "1:5 date_format"]),
            // Wrong shapes.
            ("06139992,345,19800101", &["1: too_few_columns"]),
            ("06139992,,345,,19800101,x", &["1: too_many_columns"]),
            ("06139992,\"12,345,,19800101", &["1: quote"]),
            ("06139992,\"12\"3,345,,19800101", &["1: quote"]),
            // Every bad line of a file, good lines notwithstanding; the header counts as line 1.
            (
                "保険者番号,記号,番号,枝番,生年月日\n06139992,,1,,19800101\n06139993,,1,,19800101\n06139992,,1,,19800101\n06139992,,,,19800101",
                &["3:1 check_digit", "5:3 required"],
            ),
        ];
        for (text, expected) in cases {
            check(text, expected);
        }
    }

    #[test]
    fn a_header_only_counts_on_the_first_line() {
        check(
            "06139992,,1,,19800101\n保険者番号,記号,番号,枝番,生年月日",
            &["2:1 not_digits", "2:4 not_digits", "2:5 date_format"],
        );
    }

    #[test]
    fn at_most_the_batch_limit() {
        let line = "06139992,,1,,19800101\n";
        assert_eq!(
            parse(&line.repeat(BATCH_MAX_ITEMS), None).unwrap().len(),
            BATCH_MAX_ITEMS
        );
        check(&line.repeat(BATCH_MAX_ITEMS + 1), &["0: too_many_lines"]);
        let e = parse(&line.repeat(BATCH_MAX_ITEMS + 1), None).unwrap_err();
        assert!(e[0].message.contains("5,000件"), "{}", e[0].message);
    }

    #[test]
    fn messages_say_where_and_what_to_fix() {
        let e = parse("06139992,,1,,19800101\n6139992,,1,,19800101", None).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].line, e[0].column), (2, Some(1)));
        assert_eq!(e[0].label, Some("保険者番号"));
        assert_eq!(e[0].field, Some("insurer_number"));
        assert!(e[0].message.contains("先頭の0"), "{}", e[0].message);
        let json = serde_json::to_value(&e[0]).unwrap();
        assert_eq!(json["label"], "保険者番号");
    }
}
