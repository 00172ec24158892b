//! OQS requests against the hand-written fixtures in `fixtures/oqs/` (see its README): every
//! family in UTF-8 and in Shift_JIS (generated from the UTF-8 sources and checked for drift).

use kakunin_formats::oqs::{
    decode, write, CharacterCode, Direction, Element, Family, FileName, Header, InformationRequest,
    Registration, Request, SearchInfo,
};
use std::path::{Path, PathBuf};

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/oqs")
        .join(sub)
}

/// The UTF-8 sources: (file name, bytes), sorted by name.
fn sources() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir("utf8"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// A UTF-8 source as the same message in Shift_JIS: declaration changed, text encoded.
fn to_shift_jis(name: &str, utf8: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(utf8).unwrap();
    assert!(
        text.contains("encoding=\"UTF-8\""),
        "{name}: declares UTF-8"
    );
    let text = text.replacen("encoding=\"UTF-8\"", "encoding=\"Shift_JIS\"", 1);
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(!unmappable, "{name}: every character has a Shift_JIS form");
    bytes.into_owned()
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

fn header(h: &Header) -> String {
    format!(
        "header date={} institution={} file={}",
        opt(&h.confirmation_date),
        h.institution_code,
        opt(&h.file_identifier)
    )
}

fn search(s: &SearchInfo) -> String {
    format!(
        "search insurer={:?}→{} symbol={} number={} branch={} birth={} limit={} id={}",
        s.insurer_number.raw(),
        s.insurer_number.normalised(),
        opt(&s.symbol),
        s.number,
        opt(&s.branch),
        s.birthdate,
        opt(&s.limit_consent),
        opt(&s.identifier)
    )
}

fn registration(r: &Registration) -> String {
    format!(
        "register ref={} insurer={:?}→{} symbol={} number={} branch={} birth={}",
        r.reference_number,
        r.insurer_number.raw(),
        r.insurer_number.normalised(),
        opt(&r.symbol),
        r.number,
        opt(&r.branch),
        opt(&r.birthdate)
    )
}

fn information(i: &InformationRequest) -> String {
    format!(
        "info institution={} insurer={:?}→{} symbol={} number={} branch={} file={} birth={} \
         from={} to={} category={} class={} flag={}",
        i.institution_code,
        i.insurer_number.raw(),
        i.insurer_number.normalised(),
        opt(&i.symbol),
        i.number,
        opt(&i.branch),
        opt(&i.file_identifier),
        opt(&i.birthdate),
        opt(&i.start_date),
        opt(&i.end_date),
        i.file_category,
        opt(&i.classification),
        opt(&i.treatment_flag)
    )
}

/// One line per part of the request.
fn render(r: &Request) -> String {
    let lines: Vec<String> = match r {
        Request::Eligibility(r) => vec![header(&r.header), search(&r.search)],
        Request::BulkEligibility(r) => std::iter::once(header(&r.header))
            .chain(r.items.iter().map(search))
            .collect(),
        Request::BulkEligibilityResult(r) | Request::BulkReferenceNumberResult(r) => vec![
            header(&r.header),
            format!("reception {}", r.reception_number),
        ],
        Request::ReferenceNumber(r) => vec![header(&r.header), registration(&r.registration)],
        Request::BulkReferenceNumber(r) => std::iter::once(header(&r.header))
            .chain(r.items.iter().map(registration))
            .collect(),
        Request::Medication(i) | Request::Checkup(i) => vec![information(i)],
    };
    lines.join("\n")
}

const EXPECTED: &[(&str, Family, &str)] = &[
    (
        "OQSmuimm01req_202504010005.xml",
        Family::BulkReferenceNumber,
        "header date=- institution=1310000003 file=202504010005
register ref=0000456 insurer=\"  138230\"→138230 symbol=北１２３ number=４５６７８ branch=02 birth=20150505
register ref=0000789 insurer=\"39130125\"→39130125 symbol=- number=00012345 branch=- birth=-",
    ),
    (
        "OQSmuimm02req_202504020002.xml",
        Family::BulkReferenceNumberResult,
        "header date=- institution=1310000003 file=-
reception 000000000000000043",
    ),
    (
        "OQSmuquc01req_202504010003.xml",
        Family::BulkEligibility,
        "header date=20250402 institution=1310000003 file=202504010003
search insurer=\"06139992\"→06139992 symbol=123 number=4567 branch=01 birth=19800101 limit=- id=0000123
search insurer=\"00138230\"→138230 symbol=北１２３ number=４５６７８ branch=02 birth=20150505 limit=- id=0000456
search insurer=\"39130125\"→39130125 symbol=- number=00012345 branch=- birth=19400229 limit=1 id=0000789",
    ),
    (
        "OQSmuquc02req_202504020001.xml",
        Family::BulkEligibilityResult,
        "header date=- institution=1310000003 file=-
reception 000000000000000042",
    ),
    (
        "OQSsiimm01req_202504010004.xml",
        Family::ReferenceNumber,
        "header date=- institution=1310000003 file=202504010004
register ref=診察券0000123 insurer=\"06139992\"→06139992 symbol=123 number=4567 branch=01 birth=19800101",
    ),
    (
        "OQSsiquc01req_202504010001.xml",
        Family::Eligibility,
        "header date=20250401 institution=1310000003 file=202504010001
search insurer=\"06139992\"→06139992 symbol=123 number=4567 branch=01 birth=19800101 limit=1 id=0000123",
    ),
    (
        "OQSsiquc01req_202504010002.xml",
        Family::Eligibility,
        "header date=20250401 institution=1310000003 file=-
search insurer=\"  138230\"→138230 symbol=北１２３ number=００４５６７ branch=- birth=19521130 limit=0 id=カルテ0002 髙橋　花子",
    ),
    (
        "TKKsiquc01req_202504010007.xml",
        Family::Checkup,
        "info institution=1310000003 insurer=\"  138230\"→138230 symbol=北１２３ number=００４５６７ branch=00 \
         file=202504010007 birth=19521130 from=- to=- category=2 class=1 flag=1",
    ),
    (
        "YZKsiquc01req_202504010006.xml",
        Family::Medication,
        "info institution=1310000003 insurer=\"06139992\"→06139992 symbol=123 number=4567 branch=01 \
         file=202504010006 birth=19800101 from=20240401 to=20250331 category=4 class=1 flag=1",
    ),
];

#[test]
fn every_family_has_a_fixture() {
    let names: Vec<String> = sources().into_iter().map(|(n, _)| n).collect();
    let expected: Vec<&str> = EXPECTED.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(names, expected);
    for family in Family::ALL {
        assert!(
            EXPECTED.iter().any(|(_, f, _)| f == family),
            "{family} has no fixture"
        );
    }
}

#[test]
fn fixtures_parse_in_both_encodings() {
    for (name, expected_family, expected) in EXPECTED {
        let file = FileName::parse(name).unwrap();
        assert_eq!(file.direction(), Direction::Request);
        let family = file.family().unwrap();
        assert_eq!(family, *expected_family, "{name}");
        let mut parsed = Vec::new();
        for (sub, code) in [
            ("utf8", CharacterCode::Utf8),
            ("shift_jis", CharacterCode::ShiftJis),
        ] {
            let bytes = std::fs::read(dir(sub).join(name)).unwrap();
            let doc = decode(&bytes).unwrap_or_else(|e| panic!("{sub}/{name}: {e}"));
            assert_eq!(doc.character_code(), code, "{sub}/{name}");
            let request =
                Request::parse(&doc, family).unwrap_or_else(|e| panic!("{sub}/{name}: {e}"));
            assert_eq!(render(&request), *expected, "{sub}/{name}");
            parsed.push(request);
        }
        assert_eq!(parsed[0], parsed[1], "{name}: both encodings read alike");
    }
}

#[test]
fn shift_jis_fixtures_match_their_sources() {
    let bless = std::env::var_os("KAKUNIN_BLESS").is_some();
    for (name, utf8) in sources() {
        let expected = to_shift_jis(&name, &utf8);
        let path = dir("shift_jis").join(&name);
        if bless {
            std::fs::create_dir_all(dir("shift_jis")).unwrap();
            std::fs::write(&path, &expected).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == expected,
            "shift_jis/{name} is stale: run `KAKUNIN_BLESS=1 cargo test -p kakunin-formats --test oqs`"
        );
    }
}

#[test]
fn requests_written_back_read_the_same() {
    for (name, _) in sources() {
        let family = FileName::parse(&name).unwrap().family().unwrap();
        for sub in ["utf8", "shift_jis"] {
            let doc = decode(&std::fs::read(dir(sub).join(&name)).unwrap()).unwrap();
            let request = Request::parse(&doc, family).unwrap();
            let written = write(&request.to_element(), doc.character_code());
            let again = decode(&written).unwrap();
            assert_eq!(again.character_code(), doc.character_code());
            assert_eq!(
                Request::parse(&again, family).unwrap(),
                request,
                "{sub}/{name}"
            );
        }
    }
}

/// What the terminal does with a request and what the model レセコン reads back: the answer
/// goes under the response name, in the request's encoding, and is read with paths.
#[test]
fn an_answer_in_the_request_encoding() {
    let name = "OQSsiquc01req_202504010002.xml";
    let file = FileName::parse(name).unwrap();
    let doc = decode(&std::fs::read(dir("shift_jis").join(name)).unwrap()).unwrap();
    let Request::Eligibility(request) = Request::parse(&doc, file.family().unwrap()).unwrap()
    else {
        panic!("an eligibility request")
    };
    let code = doc.character_code();
    let error_code: Option<&str> = None;
    let answer = Element::new("XmlMsg")
        .push(
            Element::new("MessageHeader")
                .child("ProcessExecutionTime", "20250401093015")
                .child(
                    "QualificationConfirmationDate",
                    &request.header.confirmation_date,
                )
                .child("MedicalInstitutionCode", &request.header.institution_code)
                .child("ArbitraryFileIdentifier", &request.header.file_identifier)
                .child("ReferenceClassification", "2")
                .child("SegmentOfResult", "1")
                .child("ErrorCode", error_code)
                .child("CharacterCodeIdentifier", code.identifier()),
        )
        .push(
            Element::new("MessageBody")
                .push(request.search.to_element())
                .child("ProcessingResultStatus", "1")
                .child("QualificationValidity", "1")
                .push(
                    Element::new("ResultList").push(
                        Element::new("ResultOfQualificationConfirmation")
                            .child("InsuredCardClassification", "01")
                            .child("InsurerNumber", request.search.insurer_number.raw())
                            .child("Name", "髙橋　花子")
                            .child("NameOfOther", "𠮷田　はな")
                            .child("NameKana", "ﾀｶﾊｼ ﾊﾅｺ")
                            .child("InsuredPartialContributionRatio", "030"),
                    ),
                ),
        );
    let bytes = write(&answer, code);
    assert_eq!(file.response_name(), "OQSsiquc01res_202504010002.xml");

    let result = decode(&bytes).unwrap();
    assert_eq!(result.character_code(), CharacterCode::ShiftJis);
    assert_eq!(
        result
            .value("MessageHeader/CharacterCodeIdentifier")
            .and_then(CharacterCode::from_identifier),
        Some(CharacterCode::ShiftJis)
    );
    assert_eq!(result.value("MessageHeader/SegmentOfResult"), Some("1"));
    assert_eq!(result.find("MessageHeader/ErrorCode"), None);
    assert_eq!(result.value("MessageHeader/ArbitraryFileIdentifier"), None);
    assert_eq!(
        result.value("MessageBody/QualificationConfirmSearchInfo/InsuredCardSymbol"),
        Some("北１２３")
    );
    let people = result.all("MessageBody/ResultList/ResultOfQualificationConfirmation");
    assert_eq!(people.len(), 1);
    let person = people[0];
    assert_eq!(person.value("Name"), Some("髙橋　花子"));
    assert_eq!(person.value("NameOfOther"), Some("𠮷田　はな"));
    assert_eq!(person.value("NameKana"), Some("ﾀｶﾊｼ ﾊﾅｺ"));
    assert_eq!(person.value("InsuredPartialContributionRatio"), Some("030"));
    assert_eq!(
        person.find("InsurerNumber").map(Element::text),
        Some("  138230")
    );
    // 𠮷 has no Shift_JIS form: a character reference, not a lost character.
    let raw = encoding_rs::SHIFT_JIS.decode(&bytes).0;
    assert!(raw.contains("<NameOfOther>&#x20BB7;田　はな</NameOfOther>"));
}
