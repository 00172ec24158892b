//! 特定健診 CDA reader against the hand-written fixtures in `fixtures/checkup/` (see its README).

use kakunin_domain::{Date, Sex};
use kakunin_formats::checkup::{parse_document, parse_package, CheckupDocument, CheckupValue};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

const PERSON_1: &str = "DATA/h13123456782024041500000001.xml";
const PERSON_2: &str = "DATA/h13123456782024041600000002.xml";

fn dir() -> String {
    format!("{}/tests/fixtures/checkup", env!("CARGO_MANIFEST_DIR"))
}

fn fixture(rel: &str) -> Vec<u8> {
    let path = format!("{}/{rel}", dir());
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The package folder as path → bytes, as an unpacked ZIP would give it.
fn package() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let root = format!("{}/package", dir());
    for rel in ["index.xml", "summary.xml", PERSON_1, PERSON_2] {
        assert!(Path::new(&format!("{root}/{rel}")).exists());
        files.insert(rel.to_string(), fixture(&format!("package/{rel}")));
    }
    files
}

/// One line per result: `code name = value [interpretation]`.
fn render(doc: &CheckupDocument) -> String {
    let mut out = String::new();
    for r in &doc.results {
        let value = match &r.value {
            CheckupValue::Quantity { value, unit } => format!("{value} {unit}"),
            CheckupValue::Coded { code, display } => {
                format!("#{code} {}", display.as_deref().unwrap_or("-"))
            }
            CheckupValue::Text(t) => format!("\"{t}\""),
            CheckupValue::Absent { null_flavor } => {
                format!("absent({})", null_flavor.as_deref().unwrap_or("-"))
            }
            CheckupValue::NotPerformed => "not performed".into(),
        };
        let interp = r
            .interpretation
            .as_deref()
            .map(|i| format!(" [{i}]"))
            .unwrap_or_default();
        let unknown = if r.known { "" } else { " (unknown)" };
        out.push_str(&format!(
            "{} {} = {value}{interp}{unknown}\n",
            r.code, r.name
        ));
    }
    out
}

fn date(s: &str) -> Option<Date> {
    Some(Date::parse(s).unwrap())
}

#[test]
fn person_1() {
    let doc = parse_document(&fixture(&format!("package/{PERSON_1}"))).unwrap();
    assert_eq!(doc.problems, vec![]);
    assert_eq!(doc.document_code.as_deref(), Some("10"));
    assert_eq!(doc.person.insurer_number.as_deref(), Some("06139999"));
    assert_eq!(doc.person.symbol.as_deref(), Some("１２３"));
    assert_eq!(doc.person.number.as_deref(), Some("４５６７"));
    assert_eq!(doc.person.branch.as_deref(), Some("01"));
    assert_eq!(doc.name.as_deref(), Some("ケンシン　タロウ"));
    assert_eq!(doc.sex, Some(Sex::Male));
    assert_eq!(doc.birth_date, date("19700615"));
    assert_eq!(doc.postal_code.as_deref(), Some("100-0001"));
    assert_eq!(doc.checkup_date, date("20240415"));
    assert_eq!(doc.issued_on, date("20240520"));
    assert_eq!(doc.institution_id.as_deref(), Some("1312345678"));
    assert_eq!(
        doc.institution_name.as_deref(),
        Some("かくにん健診センター")
    );
    assert_eq!(doc.voucher_number.as_deref(), Some("24000000001"));
    assert_eq!(
        render(&doc),
        "\
9N001000000000001 身長 = 170.2 cm
9N006000000000001 体重 = 72.4 kg
9N011000000000001 BMI = 25.0 kg/m2 [H]
9N016160100000001 腹囲（実測） = 88.5 cm [H]
9A751000000000001 収縮期血圧（1回目） = 132 mm[Hg]
9A761000000000001 拡張期血圧（1回目） = 84 mm[Hg]
9A752000000000001 収縮期血圧（2回目） = 128 mm[Hg]
9A762000000000001 拡張期血圧（2回目） = 82 mm[Hg]
9N141000000000011 採血時間（食後） = #1 食後10時間以上
3F015000002327101 中性脂肪（トリグリセリド）（可視吸光光度法） = 142 mg/dL
3F070000002327101 HDLコレステロール（可視吸光光度法） = 48 mg/dL
3F077000002327101 LDLコレステロール（可視吸光光度法） = 146 mg/dL [H]
3D046000001906202 HbA1c（NGSP値）（免疫学的方法） = 5.8 % [H]
1A020000000191111 尿糖（機械読み取り） = #1 －
9N506000000000011 保健指導レベル = #2 動機付け支援
9N511000000000049 医師の診断（判定） = \"脂質異常の疑い。生活習慣の改善を指導。\"
"
    );
}

#[test]
fn person_2() {
    let doc = parse_document(&fixture(&format!("package/{PERSON_2}"))).unwrap();
    assert_eq!(doc.problems, vec![]);
    assert_eq!(doc.person.branch, None);
    assert_eq!(doc.sex, Some(Sex::Female));
    assert_eq!(
        render(&doc),
        "\
9N001000000000001 身長 = 158.0 cm
9N006000000000001 体重 = 51.3 kg
9N011000000000001 BMI = 20.5 kg/m2
9N016160100000001 腹囲（実測） = 72.0 cm
9A751000000000001 収縮期血圧（1回目） = 118 mm[Hg]
9A761000000000001 拡張期血圧（1回目） = 72 mm[Hg]
3F077000002391901 LDLコレステロール（計算法） = 112 mg/dL
3D046000001920402 HbA1c（NGSP値）（HPLC） = 5.4 %
9N021000000000001 内臓脂肪面積 = not performed
3F015000002327101 中性脂肪（トリグリセリド）（可視吸光光度法） = absent(NI)
5C070000002306201 （表にない項目） = 0.8 mg/dL (unknown)
9N701000000000011 服薬1（血圧） = #2 いいえ
"
    );
}

#[test]
fn the_package() {
    let p = parse_package(&package()).unwrap();
    assert_eq!(p.problems, vec![]);
    assert!(p.has_summary);
    assert_eq!(p.index.total_records, Some(2));
    assert_eq!(p.index.creation_date, date("20240520"));
    assert_eq!(p.index.sender_id.as_deref(), Some("1312345678"));
    assert_eq!(p.index.receiver_id.as_deref(), Some("06139999"));
    let paths: Vec<_> = p.documents.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, [PERSON_1, PERSON_2]);
    assert_eq!(p.documents[1].document.results.len(), 12);

    // Wrapped in one folder, with Windows separators.
    let wrapped: BTreeMap<_, _> = package()
        .into_iter()
        .map(|(k, v)| (format!("SUBMISSION\\{}", k.replace('/', "\\")), v))
        .collect();
    let p = parse_package(&wrapped).unwrap();
    assert_eq!((p.documents.len(), p.problems.len()), (2, 0));
}

/// Package variants: (what changes, the error code or the package problems' codes).
#[test]
fn package_variants() {
    type Edit = fn(&mut BTreeMap<String, Vec<u8>>);
    /// The package problems' codes, or the error's code.
    type Want = Result<&'static [&'static str], &'static str>;
    let cases: &[(&str, Edit, Want)] = &[
        (
            "no index",
            |f| {
                f.remove("index.xml");
            },
            Err("missing_index"),
        ),
        (
            "index not XML",
            |f| {
                f.insert("index.xml".into(), b"<index".to_vec());
            },
            Err("xml"),
        ),
        (
            "index is a CDA",
            |f| {
                let d = f[PERSON_1].clone();
                f.insert("index.xml".into(), d);
            },
            Err("index_root"),
        ),
        (
            "no DATA",
            |f| {
                f.remove(PERSON_1);
                f.remove(PERSON_2);
            },
            Err("no_documents"),
        ),
        (
            "no summary",
            |f| {
                f.remove("summary.xml");
            },
            Ok(&["missing_summary"]),
        ),
        (
            "one person missing",
            |f| {
                f.remove(PERSON_2);
            },
            Ok(&["record_count"]),
        ),
        (
            "one person truncated",
            |f| {
                let d = f[PERSON_2][..500].to_vec();
                f.insert(PERSON_2.into(), d);
            },
            Ok(&["xml"]),
        ),
        (
            "CLAIMS and XSD ignored",
            |f| {
                f.insert("CLAIMS/c1.xml".into(), b"junk".to_vec());
                f.insert("XSD/hc08_V08.xsd".into(), b"junk".to_vec());
                f.insert("DATA/readme.txt".into(), b"junk".to_vec());
            },
            Ok(&[]),
        ),
    ];
    for (what, edit, want) in cases {
        let mut files = package();
        edit(&mut files);
        let got = parse_package(&files);
        match (got, want) {
            (Err(e), Err(code)) => {
                assert_eq!(e.code, *code, "{what}");
                assert!(!e.message.is_empty());
            }
            (Ok(p), Ok(codes)) => {
                let got: Vec<_> = p.problems.iter().map(|p| p.code).collect();
                assert_eq!(&got, codes, "{what}");
            }
            (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn broken_documents() {
    for (file, code) in [
        ("truncated.xml", "xml"),
        ("shift_jis.xml", "encoding"),
        ("wrong_root.xml", "root"),
        ("wrong_namespace.xml", "root"),
        ("dtd_entity.xml", "xml"),
    ] {
        let e = parse_document(&fixture(&format!("broken/{file}"))).unwrap_err();
        assert_eq!(e.code, code, "{file}: {e}");
    }
    let mut cut = fixture(&format!("package/{PERSON_1}"));
    let at = cut.iter().rposition(|&b| b >= 0x80).unwrap();
    cut.truncate(at);
    assert_eq!(parse_document(&cut).unwrap_err().code, "truncated");
    assert_eq!(parse_document(b"").unwrap_err().code, "empty");
    assert_eq!(parse_document(b"  \n").unwrap_err().code, "empty");
}

#[test]
fn bad_values_are_problems() {
    let doc = parse_document(&fixture("broken/bad_values.xml")).unwrap();
    let got: Vec<_> = doc
        .problems
        .iter()
        .map(|p| (p.item.as_deref().unwrap_or("header"), p.code))
        .collect();
    assert_eq!(
        got,
        [
            ("header", "document_code"),
            ("header", "date"),
            ("header", "sex"),
            ("9N011000000000001", "not_a_number"),
            ("9N016160100000001", "unit"),
            ("3D046000001906202", "value_type"),
            ("1A020000000191111", "no_code"),
        ]
    );
    assert!(doc.problems.iter().all(|p| !p.message.is_empty()));
    // Nothing is dropped: the bad values are kept as well as they can be.
    assert_eq!(doc.results.len(), 16);
    let value = |code: &str| {
        doc.results
            .iter()
            .find(|r| r.code == code)
            .map(|r| r.value.clone())
            .unwrap()
    };
    assert_eq!(value("9N011000000000001"), CheckupValue::Text("abc".into()));
    assert_eq!(
        value("9N016160100000001"),
        CheckupValue::Quantity {
            value: "88.5".into(),
            unit: "mm".into()
        }
    );
    assert_eq!(value("3D046000001906202"), CheckupValue::Text("5.8".into()));
    assert_eq!(doc.birth_date, None);
    assert_eq!(doc.sex, None);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        kakunin_formats::checkup::fuzz_one(&bytes);
    }

    #[test]
    fn xml_ish_text_never_panics(s in "(<[a-zA-Z:]{0,12}( [a-z:]{1,8}=\"[^\"<]{0,8}\")?/?>|</[a-zA-Z]{0,8}>|[^<]{0,8}){0,40}") {
        kakunin_formats::checkup::fuzz_one(s.as_bytes());
        let cda = format!("<ClinicalDocument xmlns=\"urn:hl7-org:v3\">{s}</ClinicalDocument>");
        kakunin_formats::checkup::fuzz_one(cda.as_bytes());
    }
}
