//! UKE reader: the receiptisan golden sample, our own 調剤 fixture, a table of bad inputs, and a
//! property test that arbitrary bytes never panic.

use kakunin_domain::{Date, Sex};
use kakunin_formats::uke::{
    self, FileKind, LineKind, PartialDate, Record, UkeError, UkeFile, YearMonth,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

const GOLDEN: &[u8] = include_bytes!("fixtures/uke/RECEIPTC_GAIRAI_SAMPLE.UKE");
const CHOZAI: &[u8] = include_bytes!("fixtures/uke/CHOZAI_SAMPLE.UKE");

fn sjis(s: &str) -> Vec<u8> {
    kakunin_formats::encoding::encode_shift_jis(s).expect("test text is Shift_JIS")
}

/// Counts records per id straight from the bytes, independently of the parser.
fn count_ids(bytes: &[u8]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in bytes.split(|&b| b == b'\n').filter(|l| l.len() > 1) {
        let id = line.split(|&b| b == b',').next().unwrap();
        *counts
            .entry(String::from_utf8_lossy(id).into_owned())
            .or_default() += 1;
    }
    counts
}

fn parsed_ids(file: &UkeFile) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in file.records() {
        *counts.entry(r.id().to_owned()).or_default() += 1;
    }
    counts
}

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

#[test]
fn golden_sample() {
    let file = uke::parse(GOLDEN).unwrap();
    assert_eq!(file.problems, vec![], "problems in the golden sample");
    assert_eq!(file.kind, FileKind::Medical);
    assert_eq!(file.receipts.len(), 75);
    assert_eq!(file.unknown_records, 0);
    assert!(file.preamble.is_empty() && file.trailing.is_empty());
    assert!(!file.eof_marker);

    let expected = count_ids(GOLDEN);
    assert_eq!(parsed_ids(&file), expected);
    let want: BTreeMap<String, usize> = [
        ("CO", 56),
        ("GO", 1),
        ("HO", 69),
        ("IR", 1),
        ("IY", 32),
        ("KO", 71),
        ("RE", 75),
        ("SI", 320),
        ("SN", 2),
        ("SY", 9),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(expected, want);
    assert_eq!(file.records_total, 636);
    // Every record is typed: none fell through to Raw or Unknown.
    assert!(file
        .receipts
        .iter()
        .flat_map(|r| &r.records)
        .all(|r| !matches!(r, Record::Raw { .. } | Record::Unknown { .. })));

    // Round trip, byte for byte.
    assert_eq!(file.to_bytes(), GOLDEN);

    // Header and trailer.
    assert_eq!(file.header.institution_code(), "0000000");
    assert_eq!(file.header.prefecture(), "12");
    assert_eq!(file.header.billing_month(), YearMonth::new(2021, 11));
    let go = file.trailer.as_ref().unwrap();
    assert_eq!(
        (go.total_claims, go.total_points, go.volume.as_str()),
        (Some(140), Some(86392), "99")
    );

    // The first receipt, field by field.
    let r = &file.receipts[0];
    assert_eq!(r.re.receipt_number, Some(1));
    assert_eq!(r.re.receipt_type, "1122");
    assert_eq!(r.month(), YearMonth::new(2021, 10));
    assert_eq!(r.patient_name(), "テスト　汎用");
    assert_eq!(r.patient_name_kana(), Some("テストハンヨウ"));
    assert_eq!(r.sex(), Some(Sex::Male));
    assert_eq!(r.birth_date(), Some(d("19911121")));
    assert_eq!(r.re.special_notes.as_deref(), Some("28"));
    assert_eq!(r.re.record_number.as_deref(), Some("00697"));
    assert_eq!(r.insurer_number(), Some("01010016"));
    assert_eq!((r.symbol(), r.number()), (Some("１"), Some("１")));
    assert_eq!(r.branch(), None);
    let ho = r.insurance().unwrap();
    assert_eq!((ho.days, ho.total_points), (Some(1), Some(13642)));
    let ko: Vec<_> = r.public_expenses().collect();
    assert_eq!(ko.len(), 1);
    assert_eq!(
        (
            ko[0].payer_number.as_str(),
            ko[0].recipient_number.as_deref()
        ),
        ("83136019", Some("1111111"))
    );
    assert_eq!((ko[0].total_points, ko[0].copay), (Some(677), Some(1354)));
    let sy: Vec<_> = r.diagnoses().collect();
    assert_eq!(sy.len(), 3);
    assert_eq!(
        (sy[0].code.as_str(), sy[0].start_date, sy[0].main),
        ("2500013", Some(d("20210801")), true)
    );
    assert_eq!(sy[1].name.as_deref(), Some("テスト"));

    let items = r.line_items();
    let si = &items[0];
    assert_eq!(si.kind, LineKind::Procedure);
    assert_eq!(
        (si.category, si.burden, si.code),
        (Some("11"), Some("2"), Some("111000110"))
    );
    assert_eq!((si.points, si.count), (Some(288), Some(1)));
    assert_eq!(si.days.len(), 1);
    assert_eq!((si.days[0].day, si.days[0].count), (1, 1));
    // CO 22 then IY with an empty 診療識別: the IY inherits 22.
    let co = items.iter().find(|i| i.kind == LineKind::Comment).unwrap();
    assert_eq!(
        (co.category, co.code, co.text),
        (Some("22"), Some("810000001"), Some("疼痛時"))
    );
    let iy = items.iter().find(|i| i.kind == LineKind::Drug).unwrap();
    assert_eq!(
        (iy.category, iy.code, iy.quantity.map(|q| q.as_str())),
        (Some("22"), Some("620098801"), Some("1"))
    );
    assert_eq!((iy.points, iy.count), (Some(1), Some(2)));
    assert_eq!(iy.days[0].day, 1);
    assert_eq!(iy.days[0].count, 2);

    // SN carries the 枝番.
    let with_branch: Vec<_> = file.receipts.iter().filter_map(|r| r.branch()).collect();
    assert_eq!(with_branch, ["00", "03"]);

    // GO's 総件数 counts the 医保 claim and each 公費 claim separately (research §1.3). (Its
    // 総合計点数, 86392, is not the plain sum of HO and KO points, 139503; how it is summed is
    // not in the research, so it is not checked.)
    let claims: usize = file
        .receipts
        .iter()
        .map(|r| usize::from(r.insurance().is_some()) + r.public_expenses().count())
        .sum();
    assert_eq!(claims, 140);
}

#[test]
fn chozai_fixture() {
    let file = uke::parse(CHOZAI).unwrap();
    assert_eq!(file.problems, vec![]);
    assert_eq!(file.kind, FileKind::Pharmacy);
    assert!(file.eof_marker);
    assert_eq!(file.to_bytes(), CHOZAI);
    assert_eq!(parsed_ids(&file), count_ids(&CHOZAI[..CHOZAI.len() - 1]));
    assert_eq!(file.header.institution_code(), "1234567");
    assert_eq!(file.header.institution_name(), Some("テスト薬局"));
    assert_eq!(file.header.billing_month(), YearMonth::new(2024, 6));
    assert_eq!(file.receipts.len(), 2);

    let r = &file.receipts[0];
    assert_eq!(r.month(), YearMonth::new(2024, 5));
    assert_eq!(r.patient_name(), "調剤　花子");
    assert_eq!(r.patient_name_kana(), Some("チョウザイハナコ"));
    assert_eq!(r.sex(), Some(Sex::Female));
    assert_eq!(r.birth_date(), Some(d("19800315")));
    assert_eq!(r.re.record_number.as_deref(), Some("00012"));
    let p = r.re.prescriber.as_ref().unwrap();
    assert_eq!(
        (
            p.prefecture.as_str(),
            p.institution_code.as_str(),
            p.name.as_deref()
        ),
        ("13", "7654321", Some("テスト医院"))
    );
    assert_eq!(r.insurer_number(), Some("06139999"));
    assert_eq!(
        (r.symbol(), r.number(), r.branch()),
        (Some("１２"), Some("３４５"), Some("01"))
    );
    let ho = r.insurance().unwrap();
    assert_eq!(
        (ho.days, ho.total_points, ho.copay),
        (Some(2), Some(450), Some(1350))
    );

    let items = r.line_items();
    let kinds: Vec<_> = items.iter().map(|i| i.kind).collect();
    use LineKind::*;
    assert_eq!(
        kinds,
        [
            Prescription,
            Dispensing,
            Drug,
            Drug,
            Prescription,
            Dispensing,
            Device,
            Comment,
            Remark
        ]
    );
    assert_eq!(
        (items[0].rp, items[0].code, items[0].text, items[0].points),
        (Some(1), Some("1"), Some("1013044400000000"), Some(12))
    );
    let Record::Cz(cz) = items[1].record else {
        panic!("CZ")
    };
    assert_eq!(cz.doctor_number.as_deref(), Some("1"));
    assert_eq!(
        cz.prescribed_on,
        Some(PartialDate::MonthDay { month: 5, day: 10 })
    );
    assert_eq!(
        cz.dispensed_on.unwrap().resolve(r.month().unwrap()),
        Some(d("20240512"))
    );
    assert_eq!((cz.reception_count, cz.quantity), (Some(1), Some(14)));
    assert_eq!(
        (cz.fee_code.as_deref(), cz.fee_points),
        (Some("420000110"), Some(24))
    );
    assert_eq!(cz.drug_points, Some(168));
    assert_eq!(cz.additions, vec![("420001110".to_owned(), Some(10))]);
    assert_eq!((items[1].count, items[1].rp), (Some(14), Some(1)));
    let Record::Iy(iy) = items[3].record else {
        panic!("IY")
    };
    assert_eq!(
        (
            iy.burden.as_deref(),
            iy.code.as_str(),
            iy.quantity.as_ref().map(|q| q.as_str()),
            iy.single_dose.as_ref().map(|q| q.to_f64())
        ),
        (Some("1"), "611170005", Some("1.5"), Some(0.5))
    );
    assert_eq!(items[3].category, None);
    assert_eq!(items[6].code, Some("710010000"));
    assert_eq!(items[6].rp, Some(2));
    assert_eq!(
        (items[7].code, items[7].text),
        (Some("810000001"), Some("残薬調整あり"))
    );
    assert_eq!(
        (items[8].code, items[8].text),
        (Some("830000001"), Some("受付回数１回"))
    );

    // The second receipt: 和暦 dates, a space-padded 国保 insurer number, a 公費.
    let r = &file.receipts[1];
    assert_eq!(r.month(), YearMonth::new(2024, 5)); // 50605 = 令和6年5月
    assert_eq!(r.birth_date(), Some(d("19700101")));
    assert_eq!(r.patient_name(), "ﾔｸﾀﾞ ｼﾞﾛｳ");
    assert_eq!(r.insurer_number(), Some("138057"));
    assert_eq!(&r.insurance().unwrap().fields[1], "  138057");
    assert_eq!(
        (r.symbol(), r.number(), r.branch()),
        (None, Some("1234567"), None)
    );
    let ko: Vec<_> = r.public_expenses().collect();
    assert_eq!(
        (ko[0].payer_number.as_str(), ko[0].copay),
        ("54136015", Some(0))
    );
    let Record::Cz(cz) = r.line_items()[1].record else {
        panic!("CZ")
    };
    // 処方 in December, 調剤 in May: resolved against 調剤年月 the December is the year before.
    assert_eq!(
        cz.prescribed_on.unwrap().resolve(r.month().unwrap()),
        Some(d("20231230"))
    );
    let go = file.trailer.as_ref().unwrap();
    assert_eq!((go.total_claims, go.total_points), (Some(3), Some(548)));
}

/// Parses `input` and checks the file-level error, or the problem codes (in order).
fn check(input: &[u8], expected: Result<&[&str], &str>) {
    match (uke::parse(input), expected) {
        (Ok(file), Ok(codes)) => {
            let got: Vec<_> = file.problems.iter().map(|p| p.code).collect();
            assert_eq!(got, codes, "{:?}", file.problems);
            for p in &file.problems {
                assert!(
                    p.message.chars().any(|c| c > '\u{3000}'),
                    "message is Japanese: {p}"
                );
            }
            assert_eq!(
                uke::parse(&file.to_bytes()).unwrap().records_total,
                file.records_total
            );
        }
        (Err(e), Err(code)) => {
            assert_eq!(e.code(), code, "{e}");
            assert!(e.to_string().chars().any(|c| c > '\u{3000}'));
        }
        (got, want) => panic!("got {got:?}, want {want:?}"),
    }
}

const IR: &str = "IR,1,12,1,0000000,,,202111,00,";
const RE: &str = "RE,1,1122,202110,テスト,1,19911121,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,";
const GO: &str = "GO,1,10,99";

fn lines(ls: &[&str]) -> Vec<u8> {
    sjis(&ls.iter().map(|l| format!("{l}\r\n")).collect::<String>())
}

#[test]
fn bad_inputs() {
    let ok = lines(&[IR, RE, GO]);
    check(&ok, Ok(&[]));
    // Bare LF and a trailing 0x1A are fine.
    check(&sjis(&format!("{IR}\n{RE}\n{GO}\n\x1A")), Ok(&[]));
    // Truncated: the last record has no CRLF, and there is no GO.
    check(&ok[..ok.len() - 3], Ok(&["missing_line_end"]));
    check(
        &ok[..ok.len() - 16],
        Ok(&["missing_line_end", "too_few_fields", "missing_trailer"]),
    );
    // Truncated in the middle of a two-byte character.
    let mut cut = lines(&[IR, RE]);
    cut.extend(sjis("CO,,,810000001,あ"));
    cut.pop();
    check(
        &cut,
        Ok(&["truncated_character", "missing_line_end", "missing_trailer"]),
    );
    // A record with too few fields.
    check(
        &lines(&[IR, RE, "HO,01010016", GO]),
        Ok(&["too_few_fields"]),
    );
    // Impossible dates and months, 西暦 and 和暦.
    check(
        &lines(&[
            IR,
            "RE,1,1122,202113,テスト,1,20230229,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,",
            "SY,2500013,4310501,1,,,01,",
            GO,
        ]),
        Ok(&["invalid_year_month", "invalid_date", "invalid_date"]),
    );
    // Not numbers, an unknown sex, a missing code.
    check(
        &lines(&[
            IR,
            "RE,x,1122,202110,テスト,3,19911121,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,",
            "SI,11,2,,1.,２,1,,,,,,,1,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,",
            GO,
        ]),
        Ok(&[
            "not_a_number",
            "invalid_code",
            "missing_field",
            "not_a_number",
            "not_a_number",
        ]),
    );
    // Unknown records are kept and reported once per id; known payer-side ids are not.
    let f = uke::parse(&lines(&[IR, "ZZ,1", RE, "ZZ,2", "XX", "RC,1,2", GO])).unwrap();
    assert_eq!(f.unknown_records, 3);
    assert_eq!(
        f.problems.iter().map(|p| p.code).collect::<Vec<_>>(),
        ["unknown_record", "unknown_record"]
    );
    assert_eq!(f.preamble.len(), 1);
    assert_eq!(f.receipts[0].records.len(), 3);
    // A layout version we do not know: reported once, parsed by position.
    let re_v = "RE,1,1122,202110,テスト,1,19911121,,,,,,,,,,,,,209901,,,,,,,,,,,,,,,,,,";
    check(
        &lines(&[IR, re_v, re_v, GO]),
        Ok(&["unknown_layout_version"]),
    );
    let re_known = "RE,1,1122,202110,テスト,1,19911121,,,,,,,,,,,,,202406,,,,,,,,,,,,,,,,,,";
    check(&lines(&[IR, re_known, GO]), Ok(&[]));
    // Records after GO, a second header, blank lines.
    check(
        &lines(&[IR, RE, IR, GO, "GO,1,1,99"]),
        Ok(&["unexpected_header", "record_after_trailer"]),
    );
    check(&lines(&[IR, "", RE, GO]), Ok(&["blank_line"]));
    // A non-canonical CP932 code (NEC selected IBM extension 0xED40 for 纊).
    let mut nec = lines(&[IR, RE]);
    nec.extend(b"CO,,,810000001,\xED\x40\r\n");
    nec.extend(lines(&[GO]));
    check(&nec, Ok(&["non_canonical_encoding"]));

    // File-level errors.
    check(b"", Err("empty"));
    check(b"\r\n\x1A", Err("empty"));
    check(b"IR,1\r\n\xFF\xFF\r\n", Err("encoding"));
    check(&sjis("RE,1\r\nGO,1,1,99\r\n"), Err("no_header"));
    // A UTF-8 file (with BOM) is not a UKE file.
    check("\u{FEFF}IR,1,テスト\r\n".as_bytes(), Err("encoding"));
    assert_eq!(
        uke::parse(b"IR\r\n\x82").unwrap_err(),
        UkeError::Encoding { line: 2 }
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        uke::fuzz_one(&bytes);
    }

    #[test]
    fn arbitrary_records_never_panic(
        ids in proptest::collection::vec(
            prop_oneof![
                Just("RE"), Just("HO"), Just("KO"), Just("SN"), Just("JD"), Just("MF"), Just("SY"),
                Just("SI"), Just("IY"), Just("TO"), Just("CO"), Just("SH"), Just("CZ"), Just("TK"),
                Just("GO"), Just("IR"), Just("YK"), Just("MN"), Just("KI"), Just("??"),
            ],
            0..12,
        ),
        header in prop_oneof![Just("IR"), Just("YK")],
        fields in proptest::collection::vec("[0-9０-９ア.  ]{0,9}", 0..60),
    ) {
        let mut text = format!("{header},{}\r\n", fields.join(","));
        for (i, id) in ids.iter().enumerate() {
            let n = fields.len().saturating_sub(i);
            text.push_str(&format!("{id},{}\r\n", fields[..n].join(",")));
        }
        uke::fuzz_one(&sjis(&text));
    }
}
