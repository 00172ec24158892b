//! 基本マスター parsers against the receiptisan sample masters (MIT, see
//! `fixtures/masters/LICENSE-receiptisan.txt`) and hand-made bad rows.

use kakunin_domain::Date;
use kakunin_formats::encoding::encode_shift_jis;
use kakunin_formats::masters::{
    display_name, parse_devices, parse_drugs, parse_procedures, MasterEntry, MasterError,
};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/masters/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An independent count: non-blank lines (every sample row sits on one line).
fn line_count(bytes: &[u8]) -> usize {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
        .count()
}

fn date(s: &str) -> Option<Date> {
    Some(Date::parse(s).unwrap())
}

#[test]
fn drug_sample() {
    let bytes = fixture("y_ALL00000000.csv");
    let m = parse_drugs(&bytes).unwrap();
    assert_eq!(m.problems, vec![]);
    assert_eq!(m.entries.len(), line_count(&bytes));
    assert_eq!(m.entries.len(), 4);
    let g = m.get("610406079", None).unwrap();
    assert_eq!(g.name, "ガスター散２％");
    assert_eq!(g.kana.as_deref(), Some("ｶﾞｽﾀｰｻﾝ2%"));
    assert_eq!(g.unit.as_deref(), Some("ｇ"));
    assert_eq!(g.price.unwrap().to_string(), "26.00");
    assert_eq!(g.price_list_code.as_deref(), Some("2325003B2029"));
    assert_eq!(g.dosage_form.as_deref(), Some("1"));
    assert_eq!(g.base_name.as_deref(), Some("ガスター散２％"));
    assert_eq!(g.generic_name_code, None); // a 35-column file
    assert_eq!((g.valid_from, g.valid_until), (date("20220401"), None));
    assert_eq!(g.raw.len(), 35);
    assert_eq!(m.name_of("620008965", None), "アンテベート軟膏０．０５％");
    assert_eq!(
        m.name_of("630010002", None),
        "薬剤料逓減（９０／１００）（内服薬）"
    );
    assert_eq!(m.name_of("620000237", None), "生理食塩液　１．３Ｌ");
    assert_eq!(m.name_of("699999999", None), "699999999（名称不明）");
    // 630010002 has no 薬価基準収載医薬品コード.
    assert_eq!(m.get("630010002", None).unwrap().price_list_code, None);
}

#[test]
fn procedure_sample() {
    let bytes = fixture("s_ALL00000000.csv");
    let m = parse_procedures(&bytes).unwrap();
    assert_eq!(m.problems, vec![]);
    assert_eq!(m.entries.len(), line_count(&bytes));
    assert_eq!(m.entries.len(), 5);
    let first = &m.entries[0];
    assert_eq!(
        (first.code.as_str(), first.name.as_str()),
        ("111000110", "初診料")
    );
    assert_eq!(first.points.unwrap().to_string(), "282.00");
    assert_eq!(first.point_kind.as_deref(), Some("3"));
    assert_eq!(
        (first.valid_from, first.valid_until),
        (date("20180401"), None)
    );
    let x = m.get("170000410", None).unwrap();
    assert_eq!(x.unit.as_deref(), Some("枚"));
    assert_eq!(
        x.base_name.as_deref(),
        Some("単純撮影（頭部、胸部、腹部又は脊椎）の写真診断")
    );
    assert_eq!(m.name_of("140009310", None), "人工呼吸");
    // The 2022 row has 150 columns, the others 122.
    assert_eq!(m.get("120002910", None).unwrap().raw.len(), 150);
    assert_eq!(
        m.get("120002910", None).unwrap().valid_from,
        date("20220401")
    );
}

#[test]
fn device_sample() {
    let bytes = fixture("t_ALL00000000.csv");
    let m = parse_devices(&bytes).unwrap();
    assert_eq!(m.problems, vec![]);
    assert_eq!(m.entries.len(), line_count(&bytes));
    assert_eq!(m.entries.len(), 6);
    assert_eq!(
        m.entries.iter().map(|e| e.line).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    let o2 = m.get("739200000", None).unwrap();
    assert_eq!(o2.name, "液体酸素・定置式液化酸素貯槽（ＣＥ）");
    assert_eq!(o2.unit.as_deref(), Some("Ｌ"));
    assert_eq!(o2.price.unwrap().to_string(), "0.19");
    assert_eq!((o2.valid_from, o2.valid_until), (date("20220401"), None));
    assert_eq!(m.name_of("700010000", None), "半切");
    assert_eq!(
        m.get("710010001", None).unwrap().base_name.as_deref(),
        Some("血管造影用シースイントロデューサーセット・選択的導入用（ガイディングカテーテルを兼ねるもの）")
    );
}

/// A valid 35-column y row with some fields replaced (1-based column → value).
fn drug_row(changes: &[(usize, &str)]) -> String {
    let mut f: Vec<String> = [
        "0",
        "Y",
        "610406079",
        "7",
        "ガスター散２％",
        "09",
        "ｶﾞｽﾀｰｻﾝ2%",
        "33",
        "1",
        "ｇ",
        "1",
        "26.00",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "1",
        "0",
        "1",
        "34.90",
        "0",
        "0",
        "1",
        "",
        "20220401",
        "99999999",
        "2325003B2029",
        "002908000",
        "0",
        "ガスター散２％",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for &(i, v) in changes {
        f[i - 1] = v.to_string();
    }
    f.iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(",")
}

fn sjis(rows: &[String]) -> Vec<u8> {
    encode_shift_jis(&(rows.join("\r\n") + "\r\n")).unwrap()
}

/// Parses a good row followed by `bad` and returns the problems' (line, code).
fn problems_of(bad: String) -> Vec<(usize, &'static str)> {
    let m = parse_drugs(&sjis(&[drug_row(&[]), bad])).unwrap();
    assert_eq!(m.entries.len(), 1, "only the good row is kept");
    m.problems.iter().map(|p| (p.line, p.code)).collect()
}

#[test]
fn bad_drug_rows() {
    let short = drug_row(&[]).rsplitn(3, ',').last().unwrap().to_string();
    let cases: Vec<(String, Vec<(usize, &str)>)> = vec![
        (short, vec![(2, "field_count")]),
        (drug_row(&[(3, "61040607")]), vec![(2, "code")]),
        (drug_row(&[(3, "710406079")]), vec![(2, "code")]),
        (drug_row(&[(3, "61040607X")]), vec![(2, "code")]),
        (drug_row(&[(5, " ")]), vec![(2, "name")]),
        (drug_row(&[(12, "26,00")]), vec![(2, "amount")]),
        (drug_row(&[(30, "20220231")]), vec![(2, "date")]),
        (drug_row(&[(31, "2022040")]), vec![(2, "date")]),
        (
            drug_row(&[(30, "20220401"), (31, "20200331")]),
            vec![(2, "date_order")],
        ),
        (drug_row(&[(2, "S")]), vec![(2, "master_kind")]),
        (
            drug_row(&[(3, "1"), (30, "x")]),
            vec![(2, "code"), (2, "date")],
        ),
    ];
    for (row, want) in cases {
        assert_eq!(problems_of(row.clone()), want, "{row}");
    }
}

#[test]
fn validity_versions() {
    let rows = [
        drug_row(&[(30, "20220401"), (31, "20240331"), (12, "26.00")]),
        drug_row(&[(30, "20240401"), (12, "24.10")]),
    ];
    let m = parse_drugs(&sjis(&rows)).unwrap();
    assert_eq!(m.problems, vec![]);
    // Line numbers with CRLF line ends (the csv crate's own count is one short there).
    assert_eq!(m.entries.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 2]);
    let old = &m.entries[0];
    assert_eq!(old.valid_until, date("20240331"));
    assert!(old.valid_on(Date::parse("20240331").unwrap()));
    assert!(!old.valid_on(Date::parse("20240401").unwrap()));
    let price = |d: &str| {
        m.get("610406079", date(d))
            .unwrap()
            .price
            .unwrap()
            .to_string()
    };
    assert_eq!(price("20230101"), "26.00");
    assert_eq!(price("20250101"), "24.10");
    assert_eq!(
        m.get("610406079", None).unwrap().price.unwrap().to_string(),
        "24.10"
    );
    assert_eq!(m.find("610406079").count(), 2);
}

#[test]
fn file_errors() {
    fn code<T: std::fmt::Debug>(r: Result<T, MasterError>) -> &'static str {
        r.unwrap_err().code()
    }
    assert_eq!(code(parse_drugs(b"")), "empty");
    assert_eq!(code(parse_drugs(b"\r\n\r\n")), "empty");
    assert_eq!(code(parse_drugs(b"\x00\x01PK")), "binary");
    assert_eq!(code(parse_drugs(&[0x82, 0xA0, 0xFF, 0xFE])), "encoding");
    // A UTF-8 conversion of the master is refused, not guessed at.
    assert_eq!(
        code(parse_drugs((drug_row(&[]) + "\n").as_bytes())),
        "encoding"
    );
    assert_eq!(
        code(parse_drugs(b"\"a\",\"b\"\r\n\"c\"\r\n")),
        "column_count"
    );
    // Another master kind, or the wrong parser for a file.
    assert_eq!(
        code(parse_drugs(&fixture("s_ALL00000000.csv"))),
        "master_kind"
    );
    assert_eq!(
        code(parse_devices(&fixture("y_ALL00000000.csv"))),
        "column_count"
    );
    assert_eq!(
        code(parse_procedures(&fixture("t_ALL00000000.csv"))),
        "column_count"
    );
    let e = parse_drugs(b"").unwrap_err();
    assert!(e.to_string().contains("空"), "{e}");
}

#[test]
fn unclosed_quote_is_a_problem() {
    let rows = [drug_row(&[]), "\"0\",\"Y\",\"6104".to_string()];
    let m = parse_drugs(&sjis(&rows)).unwrap();
    assert_eq!(m.entries.len(), 1);
    assert!(m
        .problems
        .iter()
        .any(|p| p.code == "csv" || p.code == "field_count"));
}

#[test]
fn display_names() {
    assert_eq!(display_name("111000110", Some("初診料")), "初診料");
    assert_eq!(display_name("111000110", None), "111000110（名称不明）");
}

proptest! {
    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = parse_drugs(&bytes);
        let _ = parse_procedures(&bytes);
        let _ = parse_devices(&bytes);
    }

    #[test]
    fn mutated_rows_never_panic(
        changes in proptest::collection::vec((1usize..=35, "[0-9A-Za-z\",. ]{0,10}"), 0..6),
        cut in 0usize..400,
    ) {
        let changes: Vec<(usize, &str)> = changes.iter().map(|(i, s)| (*i, s.as_str())).collect();
        let mut row = drug_row(&changes);
        row.truncate(row.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(row.len()));
        let bytes = sjis(&[drug_row(&[]), row]);
        let m = parse_drugs(&bytes).unwrap();
        prop_assert!(!m.entries.is_empty());
    }
}
