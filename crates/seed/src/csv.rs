//! Writing roster rows by hand into a byte buffer.
//!
//! No value the generator produces contains a comma, a double quote or a line break, so no
//! value needs quoting (debug builds check this).

use kakunin_domain::Date;

/// The columns written, in order (docs/roster-format.md names).
pub const COLUMNS: &[&str] = &[
    "insurer_number",
    "symbol",
    "number",
    "branch",
    "relationship",
    "name",
    "name_kana",
    "sex",
    "birthdate",
    "qualification_date",
    "disqualification_date",
    "disqualification_reason",
    "card_classification",
    "copay_ratio",
    "insurer_name",
    "insured_name",
    "card_issue_date",
    "card_valid_from",
    "card_valid_until",
    "elderly_issue_date",
    "elderly_valid_from",
    "elderly_valid_until",
    "elderly_copay_ratio",
    "limit_classification",
    "limit_bracket",
    "limit_issue_date",
    "limit_valid_from",
    "limit_valid_until",
    "specific_disease",
    "specific_disease_issue_date",
    "specific_disease_valid_from",
    "specific_disease_valid_until",
    "specific_disease_self_pay",
];

/// The header line, with its line end.
pub fn header() -> String {
    let mut h = COLUMNS.join(",");
    h.push('\n');
    h
}

/// 高齢受給者証.
#[derive(Debug, Clone, Copy)]
pub struct Elderly {
    pub issued: Date,
    pub from: Date,
    pub until: Date,
    pub ratio: &'static str,
}

/// 限度額適用認定証.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub classification: &'static str,
    pub bracket: &'static str,
    pub issued: Date,
    pub from: Date,
    pub until: Date,
}

/// 特定疾病療養受療証.
#[derive(Debug, Clone, Copy)]
pub struct Specific {
    pub disease: &'static str,
    pub issued: Date,
    pub from: Date,
    pub until: Option<Date>,
    pub self_pay: u32,
}

/// One roster row; names are given as (kanji, half-width kana) parts.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub symbol: &'a str,
    pub number: &'a str,
    pub branch: Option<u8>,
    pub relationship: u8,
    pub family: (&'a str, &'a str),
    pub given: (&'a str, &'a str),
    pub sex: u8,
    pub birth: Date,
    pub qualified: Date,
    pub lost: Option<Date>,
    pub loss_reason: Option<&'static str>,
    pub card_classification: &'static str,
    pub copay: Option<&'static str>,
    /// 被保険者氏名 (family, given) for dependents and 国保 members other than the head.
    pub insured: Option<(&'a str, &'a str)>,
    pub card_issued: Date,
    pub card_from: Date,
    pub card_until: Option<Date>,
    pub elderly: Option<Elderly>,
    pub limit: Option<Limit>,
    pub specific: Option<Specific>,
}

fn push_text(buf: &mut Vec<u8>, s: &str) {
    debug_assert!(
        !s.contains([',', '"', '\n', '\r']),
        "value needs quoting: {s:?}"
    );
    buf.extend_from_slice(s.as_bytes());
}

fn push_date(buf: &mut Vec<u8>, d: Date) {
    let (y, m, day) = (d.year(), d.month(), d.day());
    buf.extend_from_slice(&[
        b'0' + (y / 1000 % 10) as u8,
        b'0' + (y / 100 % 10) as u8,
        b'0' + (y / 10 % 10) as u8,
        b'0' + (y % 10) as u8,
        b'0' + (m / 10) as u8,
        b'0' + (m % 10) as u8,
        b'0' + (day / 10) as u8,
        b'0' + (day % 10) as u8,
    ]);
}

fn push_opt_date(buf: &mut Vec<u8>, d: Option<Date>) {
    if let Some(d) = d {
        push_date(buf, d);
    }
}

fn push_u32(buf: &mut Vec<u8>, mut v: u32) {
    let mut tmp = [0u8; 10];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends one row, in [`COLUMNS`] order, ending with a line feed.
pub fn write_row(buf: &mut Vec<u8>, insurer_number: &str, insurer_name: &str, r: &Row<'_>) {
    let c = |buf: &mut Vec<u8>| buf.push(b',');
    push_text(buf, insurer_number);
    c(buf);
    push_text(buf, r.symbol);
    c(buf);
    push_text(buf, r.number);
    c(buf);
    if let Some(b) = r.branch {
        buf.extend_from_slice(&[b'0' + b / 10, b'0' + b % 10]);
    }
    c(buf);
    buf.push(b'0' + r.relationship);
    c(buf);
    push_text(buf, r.family.0);
    push_text(buf, "\u{3000}");
    push_text(buf, r.given.0);
    c(buf);
    push_text(buf, r.family.1);
    buf.push(b' ');
    push_text(buf, r.given.1);
    c(buf);
    buf.push(b'0' + r.sex);
    c(buf);
    push_date(buf, r.birth);
    c(buf);
    push_date(buf, r.qualified);
    c(buf);
    push_opt_date(buf, r.lost);
    c(buf);
    push_text(buf, r.loss_reason.unwrap_or(""));
    c(buf);
    push_text(buf, r.card_classification);
    c(buf);
    push_text(buf, r.copay.unwrap_or(""));
    c(buf);
    push_text(buf, insurer_name);
    c(buf);
    if let Some((family, given)) = r.insured {
        push_text(buf, family);
        push_text(buf, "\u{3000}");
        push_text(buf, given);
    }
    c(buf);
    push_date(buf, r.card_issued);
    c(buf);
    push_date(buf, r.card_from);
    c(buf);
    push_opt_date(buf, r.card_until);
    c(buf);
    match &r.elderly {
        Some(e) => {
            push_date(buf, e.issued);
            c(buf);
            push_date(buf, e.from);
            c(buf);
            push_date(buf, e.until);
            c(buf);
            push_text(buf, e.ratio);
        }
        None => buf.extend_from_slice(b",,,"),
    }
    c(buf);
    match &r.limit {
        Some(l) => {
            push_text(buf, l.classification);
            c(buf);
            push_text(buf, l.bracket);
            c(buf);
            push_date(buf, l.issued);
            c(buf);
            push_date(buf, l.from);
            c(buf);
            push_date(buf, l.until);
        }
        None => buf.extend_from_slice(b",,,,"),
    }
    c(buf);
    match &r.specific {
        Some(s) => {
            push_text(buf, s.disease);
            c(buf);
            push_date(buf, s.issued);
            c(buf);
            push_date(buf, s.from);
            c(buf);
            push_opt_date(buf, s.until);
            c(buf);
            push_u32(buf, s.self_pay);
        }
        None => buf.extend_from_slice(b",,,,"),
    }
    buf.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_dates() {
        let mut b = Vec::new();
        push_u32(&mut b, 0);
        b.push(b' ');
        push_u32(&mut b, 20_000);
        b.push(b' ');
        push_date(&mut b, Date::parse("20260401").unwrap());
        assert_eq!(String::from_utf8(b).unwrap(), "0 20000 20260401");
    }
}
