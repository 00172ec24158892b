//! Roster parsing: the documented example, and a table of bad inputs with the error each gets.

use kakunin_formats::encoding::encode_shift_jis;
use kakunin_formats::roster::{parse, required_header};

const EXAMPLE: &str = include_str!("../../../docs/examples/roster-example.csv");

fn with_rows(rows: &[&str]) -> String {
    let mut s = required_header();
    for r in rows {
        s.push('\n');
        s.push_str(r);
    }
    s
}

const GOOD: &str =
    "06139992,123,4567,01,1,試験 花子,シケン ハナコ,2,19800101,20200401,,,01,030,架空健康保険組合";

#[test]
fn documented_example_parses() {
    let r = parse(EXAMPLE.as_bytes()).expect("example parses");
    assert_eq!(r.rows.len(), 4);
    let q = &r.rows[1].qualification;
    assert_eq!(q.name, "試験\u{3000}花子");
    assert_eq!(q.name_kana, "ｼｹﾝ ﾊﾅｺ");
    assert_eq!(q.card.symbol.as_ref().unwrap().raw(), "１２３");
    assert_eq!(q.card.symbol_key(), "123");
    assert_eq!(q.copay_ratio, None);
    assert_eq!(r.rows[0].line, 2);
}

#[test]
fn shift_jis_and_bom_parse_alike() {
    let utf8 = with_rows(&[GOOD]);
    let sjis = encode_shift_jis(&utf8).unwrap();
    let bom = format!("\u{FEFF}{utf8}");
    let a = parse(utf8.as_bytes()).unwrap().rows;
    let b = parse(&sjis).unwrap().rows;
    let c = parse(bom.as_bytes()).unwrap().rows;
    assert_eq!(a[0].qualification, b[0].qualification);
    assert_eq!(a[0].qualification, c[0].qualification);
}

#[test]
fn padded_and_full_width_insurer_numbers() {
    let rows = [
        "  123455,A,1,00,1,国保 一,ｺｸﾎ ｲﾁ,1,19800101,20200401,,,01,,架空村国保",
        "00123455,A,2,00,1,国保 二,ｺｸﾎ ﾆ,1,19800101,20200401,,,01,,架空村国保",
        "１２３４５５,A,3,00,1,国保 三,ｺｸﾎ ｻﾝ,1,19800101,20200401,,,01,,架空村国保",
    ];
    let r = parse(with_rows(&rows).as_bytes()).unwrap();
    assert!(r
        .rows
        .iter()
        .all(|r| r.qualification.card.insurer.as_str() == "123455"));
}

/// (what, file, line, field, code)
type BadCase = (
    &'static str,
    Vec<u8>,
    usize,
    Option<&'static str>,
    &'static str,
);

fn bad_cases() -> Vec<BadCase> {
    let row = |r: &str| with_rows(&[r]).into_bytes();
    let good_replaced = |from: &str, to: &str| row(&GOOD.replacen(from, to, 1));
    vec![
        ("empty", vec![], 0, None, "empty"),
        (
            "binary",
            b"\x00\x01\x02PK\x03\x04".to_vec(),
            0,
            None,
            "binary",
        ),
        (
            "unknown encoding",
            vec![b'a', b',', 0xFF, 0xFE, 0xFD],
            0,
            None,
            "encoding",
        ),
        (
            "header only",
            required_header().into_bytes(),
            0,
            None,
            "no_rows",
        ),
        (
            "missing column",
            GOOD.replace("name_kana,", "").into_bytes(),
            1,
            Some("name"),
            "missing_column",
        ),
        (
            "missing column 2",
            required_header().replace(",copay_ratio", "").into_bytes(),
            1,
            Some("copay_ratio"),
            "missing_column",
        ),
        (
            "unknown column",
            format!("{},colour\n{GOOD},red", required_header()).into_bytes(),
            1,
            None,
            "unknown_column",
        ),
        (
            "truncated row",
            row("06139992,123,4567,01,1,試験"),
            2,
            None,
            "field_count",
        ),
        (
            "check digit",
            good_replaced("06139992", "06139993"),
            2,
            Some("insurer_number"),
            "check_digit",
        ),
        (
            "short insurer",
            good_replaced("06139992", "0613999"),
            2,
            Some("insurer_number"),
            "length",
        ),
        (
            "impossible date",
            good_replaced("19800101", "19800230"),
            2,
            Some("birthdate"),
            "date",
        ),
        (
            "bad relationship",
            good_replaced(",01,1,", ",01,3,"),
            2,
            Some("relationship"),
            "code",
        ),
        (
            "bad sex",
            good_replaced(",2,19800101", ",9,19800101"),
            2,
            Some("sex"),
            "code",
        ),
        (
            "kanji in kana",
            good_replaced("シケン ハナコ", "試験"),
            2,
            Some("name_kana"),
            "not_kana",
        ),
        (
            "bad copay",
            good_replaced(",030,", ",040,"),
            2,
            Some("copay_ratio"),
            "code",
        ),
        (
            "copay for age",
            good_replaced(",030,", ",010,"),
            2,
            Some("copay_ratio"),
            "inconsistent",
        ),
        (
            "lost before acquired",
            good_replaced("20200401,,", "20200401,20190101,"),
            2,
            Some("disqualification_date"),
            "inconsistent",
        ),
        (
            "no number",
            good_replaced(",4567,", ",,"),
            2,
            Some("number"),
            "required",
        ),
        (
            "late elderly symbol",
            row(&format!(
                "{},1,{},,1,後期 一,ｺｳｷ ｲﾁ,1,19400101,20150101,,,01,,広域連合",
                late(),
                late_number()
            )),
            2,
            Some("symbol"),
            "symbol_not_allowed",
        ),
        (
            "duplicate key",
            with_rows(&[GOOD, &GOOD.replace("試験 花子", "試験 花江")]).into_bytes(),
            3,
            Some("number"),
            "duplicate_key",
        ),
        (
            "duplicate key full-width",
            with_rows(&[GOOD, &GOOD.replacen(",123,", ",１２３,", 1)]).into_bytes(),
            3,
            Some("number"),
            "duplicate_key",
        ),
        (
            "unclosed quote",
            row("06139992,\"123,4567"),
            2,
            None,
            "field_count",
        ),
        (
            "half limit group",
            with_limit("01", ""),
            2,
            Some("limit_bracket"),
            "required",
        ),
    ]
}

fn late() -> String {
    kakunin_domain::check_digit::complete("3913001").unwrap()
}
fn late_number() -> String {
    kakunin_domain::check_digit::complete("1234567").unwrap()
}

fn with_limit(class: &str, bracket: &str) -> Vec<u8> {
    format!(
        "{},limit_classification,limit_bracket,limit_valid_from\n{GOOD},{class},{bracket},20260101",
        required_header()
    )
    .into_bytes()
}

#[test]
fn bad_inputs_name_line_field_and_reason() {
    for (what, bytes, line, field, code) in bad_cases() {
        let errors = parse(&bytes)
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(
            errors
                .iter()
                .any(|e| e.line == line && e.field == field && e.code == code),
            "{what}: want line {line} {field:?} {code}, got {errors:?}"
        );
        assert!(errors.iter().all(|e| !e.message.is_empty()));
    }
}

#[test]
fn certificates_parse() {
    let csv = format!(
        "{},elderly_valid_from,elderly_copay_ratio,limit_classification,limit_bracket,limit_valid_from,specific_disease,specific_disease_valid_from,specific_disease_self_pay\n{},20261101,020,01,b04,20260801,1,20200101,10000",
        required_header(),
        "06139992,123,4567,01,1,試験 花子,ｼｹﾝ ﾊﾅｺ,2,19561015,20200401,,,01,,架空健康保険組合"
    );
    let r = parse(csv.as_bytes()).unwrap();
    let q = &r.rows[0].qualification;
    assert_eq!(q.elderly.as_ref().unwrap().copay_ratio.code(), "020");
    assert_eq!(q.limit.as_ref().unwrap().bracket.code(), "B04");
    assert_eq!(q.specific_diseases[0].self_pay_yen, 10000);
}

mod never_panics {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = kakunin_formats::roster::parse(&bytes);
        }

        #[test]
        fn header_then_arbitrary_text(body in "[0-9０-９a-zA-Z,\"\\n\\r ｱ-ﾝ山田-]{0,300}") {
            let text = format!("{}\n{body}", kakunin_formats::roster::required_header());
            if let Ok(r) = kakunin_formats::roster::parse(text.as_bytes()) {
                prop_assert!(!r.rows.is_empty());
            }
        }
    }
}
