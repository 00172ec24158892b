//! The file interface without a central: golden result files for every family in both
//! encodings (from canned central answers and a fixed clock), and the folder watcher under a
//! model レセコン (half-written files, files that vanish, names reused, bad names, hundreds of
//! files at once, requests left by a stop).
//!
//! Golden files are in `tests/fixtures/files/`; `KAKUNIN_BLESS=1 cargo test -p
//! kakunin-terminal --test files` rewrites them. `ProcessExecutionTime` is normalised before
//! comparing.

use kakunin_api::client::ClientError;
use kakunin_api::*;
use kakunin_domain::Timestamp;
use kakunin_formats::oqs::{decode, write, CharacterCode, Element, Family};
use kakunin_terminal::files::backend::{Backend, Call, CheckOutcome};
use kakunin_terminal::files::client::Recekon;
use kakunin_terminal::files::face::face_result;
use kakunin_terminal::files::process::{Processor, Registrar};
use kakunin_terminal::files::store::FileStore;
use kakunin_terminal::files::watch::{Folders, WatchConfig, Watcher};
use kakunin_terminal::offline::{
    FileOrigin, NewVisit, PatientNote, Queue, VisitProof, VisitStatus,
};
use kakunin_terminal::visit::{OfflineOutcome, Reception};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const INSTITUTION: &str = "1310000003";

fn fixed() -> Timestamp {
    Timestamp::parse_jst_compact("20261203091500").unwrap()
}

fn api(code: &str, message: &str, status: u16) -> ClientError {
    ClientError::Api(ApiError::new(code, message, "test"), status)
}

fn qualification() -> QualificationResult {
    QualificationResult {
        card_classification: "01".into(),
        insurer_number: "138230".into(),
        symbol: Some("記号１".into()),
        number: "1001".into(),
        branch: Some("01".into()),
        relationship: "1".into(),
        insured_name: Some("試験　太郎".into()),
        name: "試験　太郎".into(),
        name_kana: "ｼｹﾝ ﾀﾛｳ".into(),
        sex: "1".into(),
        birthdate: "19500101".into(),
        address: Some("東京都千代田区千代田１－１".into()),
        post_number: Some("1000001".into()),
        qualification_date: "20200401".into(),
        disqualification_date: None,
        disqualification_reason: None,
        card_issue_date: Some("20200401".into()),
        card_valid_from: Some("20200401".into()),
        card_valid_until: Some("20270731".into()),
        copay_ratio: "020".into(),
        preschool: None,
        insurer_name: "架空市国民健康保険".into(),
        elderly_certificate: Some(ElderlyCertificateInfo {
            issue_date: Some("20250801".into()),
            valid_from: "20250801".into(),
            valid_until: Some("20260731".into()),
            copay_ratio: "020".into(),
        }),
        limit_consent_flag: "1".into(),
        limit_certificate: Some(LimitCertificateInfo {
            classification: "01".into(),
            bracket: "A03".into(),
            bracket_label: "区分ウ".into(),
            issue_date: Some("20250401".into()),
            valid_from: "20250401".into(),
            valid_until: Some("20260331".into()),
            long_term_date: None,
        }),
        specific_disease_certificates: vec![SpecificDiseaseCertificateInfo {
            disease_category: "1".into(),
            issue_date: Some("20240101".into()),
            valid_from: "20240101".into(),
            valid_until: None,
            self_pay: "10000".into(),
        }],
        reference_number: Some("P-0001".into()),
    }
}

fn check_answer(validity: &str, code: &str, message: &str) -> EligibilityCheckResponse {
    EligibilityCheckResponse {
        validity: validity.into(),
        validity_label: String::new(),
        reference_classification: "2".into(),
        qualification_confirmation_date: "20261203".into(),
        process_execution_time: "20261203091500".into(),
        results: if validity == "4" {
            vec![]
        } else {
            vec![qualification()]
        },
        processing_result: ProcessingResult {
            status: "1".into(),
            code: code.into(),
            message: message.into(),
            detail: String::new(),
        },
        certificate_notice: None,
        next_nonce: None,
        consents: vec![],
    }
}

fn patient() -> PatientHeader {
    PatientHeader {
        name: "試験　太郎".into(),
        name_kana: "ｼｹﾝ ﾀﾛｳ".into(),
        birthdate: "19500101".into(),
        sex: "1".into(),
    }
}

fn consent_flag(category: &str, element: &str) -> ConsentFlag {
    ConsentFlag {
        category: category.into(),
        element: element.into(),
        flag: "1".into(),
        consented_at: Some("20261203090000".into()),
        available_until: Some("20261204090000".into()),
    }
}

/// Canned answers by 被保険者証番号.
#[derive(Default)]
struct Fake {
    checks: AtomicUsize,
    running: AtomicUsize,
    most: AtomicUsize,
}

impl Backend for Fake {
    fn check(
        &self,
        request: EligibilityCheckRequest,
        _origin: FileOrigin,
    ) -> Call<'_, CheckOutcome> {
        Box::pin(async move {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.checks.fetch_add(1, Ordering::SeqCst);
            let pause = match request.number.as_str() {
                "1005" => 400,
                _ => 2,
            };
            tokio::time::sleep(Duration::from_millis(pause)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            match request.number.as_str() {
                "1002" => Ok(CheckOutcome::Recorded {
                    visit_id: "v".into(),
                }),
                "1003" => Err(api(
                    "invalid_insurer_number",
                    "保険者番号の検証番号が正しくありません。",
                    400,
                )),
                "1004" | "1005" => Ok(CheckOutcome::Answered(Box::new(check_answer(
                    "4",
                    "not_found",
                    "該当する資格がありません。保険者番号・記号・番号・枝番・生年月日をご確認ください。",
                )))),
                _ => Ok(CheckOutcome::Answered(Box::new(check_answer(
                    "1",
                    "ok",
                    "資格は有効です。",
                )))),
            }
        })
    }

    fn submit_batch(&self, request: BatchInquiryRequest) -> Call<'_, BatchInquiryAccepted> {
        Box::pin(async move {
            Ok(BatchInquiryAccepted {
                reception_number: "900001".into(),
                status: "processing".into(),
                items: request.items.len() as u32,
                submitted_at: "2026-12-03T09:15:00.000+09:00".into(),
            })
        })
    }

    fn batch(&self, reception_number: String) -> Call<'_, BatchInquiryResponse> {
        Box::pin(async move {
            let summary = |status: &str| BatchInquirySummary {
                reception_number: reception_number.clone(),
                status: status.into(),
                submitted_at: "2026-12-03T09:15:00.000+09:00".into(),
                finished_at: None,
                items: 2,
                normal: 1,
                errors: 1,
            };
            let item = |number: &str| EligibilityCheckRequest {
                insurer_number: "138230".into(),
                symbol: Some("記号１".into()),
                number: number.into(),
                branch: Some("01".into()),
                birthdate: "19500101".into(),
                qualification_confirmation_date: Some("20261204".into()),
                limit_application_certificate_related_cons_flg: None,
            };
            match reception_number.as_str() {
                "900001" => Ok(BatchInquiryResponse {
                    summary: summary("done"),
                    units: vec![
                        BatchConfirmUnit {
                            index: 1,
                            request: item("1001"),
                            processing_result: ProcessingResult {
                                status: "1".into(),
                                code: "ok".into(),
                                message: "資格は有効です。".into(),
                                detail: String::new(),
                            },
                            response: Some(check_answer("1", "ok", "資格は有効です。")),
                            error: None,
                        },
                        BatchConfirmUnit {
                            index: 2,
                            request: item("x"),
                            processing_result: ProcessingResult {
                                status: "2".into(),
                                code: "invalid_number".into(),
                                message: "番号が正しくありません。".into(),
                                detail: String::new(),
                            },
                            response: None,
                            error: Some(ApiError::new(
                                "invalid_number",
                                "番号が正しくありません。",
                                "test",
                            )),
                        },
                    ],
                }),
                "900002" => Ok(BatchInquiryResponse {
                    summary: summary("processing"),
                    units: vec![],
                }),
                _ => Err(api(
                    "batch_not_found",
                    "この受付番号の一括照会はありません。",
                    404,
                )),
            }
        })
    }

    fn register(&self, request: ReferenceNumberRequest) -> Call<'_, ReferenceNumberResponse> {
        Box::pin(async move {
            if request.number == "2002" {
                return Err(api(
                    "qualification_not_found",
                    "該当する資格がありません。保険者番号・記号・番号・生年月日を確認してください。",
                    404,
                ));
            }
            Ok(ReferenceNumberResponse {
                reference_number: request.reference_number,
                replaced: None,
                processing_result: ProcessingResult {
                    status: "1".into(),
                    code: "reference_registered".into(),
                    message: "照会番号を登録しました。".into(),
                    detail: String::new(),
                },
            })
        })
    }

    fn medical(
        &self,
        category: &'static str,
        request: MedicalInformationRequest,
    ) -> Call<'_, MedicalInformationResponse> {
        Box::pin(async move {
            if request.number == "3002" {
                return Err(api(
                    "consent_missing",
                    "患者の閲覧同意がありません。カードリーダーで同意を確認してください。",
                    403,
                ));
            }
            let mut answer = MedicalInformationResponse {
                category: category.into(),
                category_label: String::new(),
                start_date: "20211203".into(),
                end_date: "20261203".into(),
                patient: patient(),
                consent: consent_flag("medications", "PharmacistsInfoConsFlg"),
                medications: vec![],
                treatments: vec![],
                checkups: vec![],
            };
            match category {
                "medications" => {
                    answer.medications = vec![
                        MedicationRecord {
                            month: "202611".into(),
                            dispensed_on: Some("20261110".into()),
                            prescribed_on: Some("20261110".into()),
                            institution_code: "1340000001".into(),
                            institution_name: Some("架空薬局".into()),
                            care_kind: "pharmacy".into(),
                            prescriber_code: Some(INSTITUTION.into()),
                            drug_code: "690000001".into(),
                            drug_name: "架空錠10mg".into(),
                            known: true,
                            quantity: Some("1".into()),
                            unit: Some("錠".into()),
                            days_or_times: Some(14),
                            category: Some("1".into()),
                            usage_code: None,
                        },
                        MedicationRecord {
                            month: "202610".into(),
                            dispensed_on: Some("20261001".into()),
                            prescribed_on: None,
                            institution_code: "1320000001".into(),
                            institution_name: None,
                            care_kind: "outpatient".into(),
                            prescriber_code: None,
                            drug_code: "690000099".into(),
                            drug_name: "名称不明（690000099）".into(),
                            known: false,
                            quantity: Some("2".into()),
                            unit: None,
                            days_or_times: Some(1),
                            category: Some("21".into()),
                            usage_code: None,
                        },
                    ]
                }
                "treatments" => {
                    answer.treatments = vec![TreatmentInfo {
                        month: "202610".into(),
                        dates: vec!["20261001".into()],
                        institution_code: "1320000001".into(),
                        institution_name: None,
                        kind: "examination".into(),
                        kind_label: "検査・病理".into(),
                        code: "160000001".into(),
                        name: "架空検査".into(),
                        known: true,
                        count: Some(1),
                    }]
                }
                _ => {
                    answer.checkups = vec![CheckupRecord {
                        date: "20260610".into(),
                        institution_id: None,
                        institution_name: None,
                        items: vec![
                            CheckupItemInfo {
                                code: "9N001000000000001".into(),
                                name: "身長".into(),
                                value: Some("170.1".into()),
                                unit: Some("cm".into()),
                                interpretation: None,
                            },
                            CheckupItemInfo {
                                code: "9N056000000000011".into(),
                                name: "既往歴".into(),
                                value: Some("特記すべきことなし".into()),
                                unit: None,
                                interpretation: None,
                            },
                        ],
                    }]
                }
            }
            Ok(answer)
        })
    }

    fn birthdate_of(
        &self,
        _insurer: &str,
        _symbol: Option<&str>,
        number: &str,
        _branch: Option<&str>,
    ) -> Option<String> {
        (number == "2001").then(|| "19800101".to_string())
    }
}

fn header(extra: &str) -> String {
    format!("<MessageHeader><QualificationConfirmationDate>20261203</QualificationConfirmationDate><MedicalInstitutionCode>{INSTITUTION}</MedicalInstitutionCode><ArbitraryFileIdentifier>ファイル0001</ArbitraryFileIdentifier>{extra}</MessageHeader>")
}

fn search(number: &str) -> String {
    format!("<QualificationConfirmSearchInfo><InsurerNumber>  138230</InsurerNumber><InsuredCardSymbol>記号１</InsuredCardSymbol><InsuredIdentificationNumber>{number}</InsuredIdentificationNumber><InsuredBranchNumber>01</InsuredBranchNumber><Birthdate>19500101</Birthdate><LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg><ArbitraryIdentifier>患者{number}</ArbitraryIdentifier></QualificationConfirmSearchInfo>")
}

fn msg(header: &str, body: &str) -> String {
    format!("<XmlMsg>{header}<MessageBody>{body}</MessageBody></XmlMsg>")
}

fn registration(number: &str, birthdate: bool) -> String {
    format!(
        "<ReferenceNumberRegistrationInfo><ReferenceNumber>P-{number}</ReferenceNumber><InsurerNumber>06139992</InsurerNumber><InsuredCardSymbol>123</InsuredCardSymbol><InsuredIdentificationNumber>{number}</InsuredIdentificationNumber><InsuredBranchNumber>00</InsuredBranchNumber>{}</ReferenceNumberRegistrationInfo>",
        if birthdate { "<Birthdate>19800101</Birthdate>" } else { "" }
    )
}

fn information(number: &str, category: &str, birthdate: bool) -> String {
    format!(
        "<XmlMsg><MessageHeader><MedicalInstitutionCode>{INSTITUTION}</MedicalInstitutionCode><InsurerNumber>  138230</InsurerNumber><InsuranceCardSymbol>記号１</InsuranceCardSymbol><InsuredPersonIdentificationNumber>{number}</InsuredPersonIdentificationNumber><BranchNumber>01</BranchNumber><ArbitraryFileIdentifier>薬剤0001</ArbitraryFileIdentifier>{}</MessageHeader><MessageBody><StartDate>20211203</StartDate><EndDate>20261203</EndDate><FileCategory>{category}</FileCategory><PrDiInfClassification>1</PrDiInfClassification><MedicalTreatmentFlag>1</MedicalTreatmentFlag></MessageBody></XmlMsg>",
        if birthdate { "<Birthdate>19500101</Birthdate>" } else { "" }
    )
}

/// The request bytes in an encoding: the UTF-8 text as a document, written again.
fn encoded(text: &str, code: CharacterCode) -> Vec<u8> {
    let doc = decode(text.as_bytes()).expect("a test request decodes");
    write(doc.root(), code)
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/files")
}

/// `<ProcessExecutionTime>…</ProcessExecutionTime>` → `…>X<…` (ASCII in both encodings).
fn normalised(bytes: &[u8]) -> Vec<u8> {
    let (open, close) = (
        b"<ProcessExecutionTime>".as_slice(),
        b"</ProcessExecutionTime>".as_slice(),
    );
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = rest.windows(open.len()).position(|w| w == open) {
        out.extend_from_slice(&rest[..at + open.len()]);
        rest = &rest[at + open.len()..];
        let end = rest
            .windows(close.len())
            .position(|w| w == close)
            .unwrap_or(0);
        out.push(b'X');
        rest = &rest[end..];
    }
    out.extend_from_slice(rest);
    out
}

/// Compares with (or, under `KAKUNIN_BLESS=1`, writes) a golden file.
fn golden(name: &str, bytes: &[u8]) {
    let path = fixtures().join(name);
    if std::env::var("KAKUNIN_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(fixtures()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let expected =
        std::fs::read(&path).unwrap_or_else(|_| panic!("{name} missing: run with KAKUNIN_BLESS=1"));
    if normalised(&expected) != normalised(bytes) {
        let shown = |b: &[u8]| match decode(b) {
            Ok(d) => format!("{:#?}", d.root()),
            Err(_) => String::from_utf8_lossy(b).into_owned(),
        };
        panic!(
            "{name} differs (KAKUNIN_BLESS=1 to accept)\n--- expected\n{}\n--- got\n{}",
            shown(&expected),
            shown(bytes)
        );
    }
}

fn suffix(code: CharacterCode) -> &'static str {
    match code {
        CharacterCode::Utf8 => "utf8",
        CharacterCode::ShiftJis => "sjis",
    }
}

#[tokio::test]
async fn golden_results_of_every_family() {
    let backend = Arc::new(Fake::default());
    let store = Arc::new(FileStore::in_memory().unwrap());
    let processor = Processor::new(backend.clone(), store.clone(), INSTITUTION, fixed);
    let registrar = Registrar::new(backend.clone(), store.clone(), fixed);
    for code in [CharacterCode::Utf8, CharacterCode::ShiftJis] {
        let enc = suffix(code);
        let bulk_reg_number = format!(
            "20261203{:06}",
            if code == CharacterCode::Utf8 { 1 } else { 2 }
        );
        // (case, request file name, request bytes, expected SegmentOfResult).
        let mut cases: Vec<(&str, String, Vec<u8>, &str)> = vec![
            (
                "siquc01_ok",
                "OQSsiquc01req_0001.xml".into(),
                encoded(&msg(&header(""), &search("1001")), code),
                "1",
            ),
            (
                "siquc01_offline",
                "OQSsiquc01req_0002.xml".into(),
                encoded(&msg(&header(""), &search("1002")), code),
                "1",
            ),
            (
                "siquc01_refused",
                "OQSsiquc01req_0003.xml".into(),
                encoded(&msg(&header(""), &search("1003")), code),
                "1",
            ),
            (
                "siquc01_not_found",
                "OQSsiquc01req_0004.xml".into(),
                encoded(&msg(&header(""), &search("1004")), code),
                "1",
            ),
            (
                "muquc01",
                "OQSmuquc01req_0001.xml".into(),
                encoded(
                    &msg(&header(""), &format!("{}{}", search("1001"), search("x"))),
                    code,
                ),
                "1",
            ),
            (
                "muquc02_processing",
                "OQSmuquc02req_0001.xml".into(),
                encoded(
                    &msg(&header(""), "<ReceptionNumber>900002</ReceptionNumber>"),
                    code,
                ),
                "2",
            ),
            (
                "muquc02_done",
                "OQSmuquc02req_0002.xml".into(),
                encoded(
                    &msg(&header(""), "<ReceptionNumber>900001</ReceptionNumber>"),
                    code,
                ),
                "1",
            ),
            (
                "muquc02_unknown",
                "OQSmuquc02req_0003.xml".into(),
                encoded(
                    &msg(&header(""), "<ReceptionNumber>999999</ReceptionNumber>"),
                    code,
                ),
                "9",
            ),
            (
                "siimm01_ok",
                "OQSsiimm01req_0001.xml".into(),
                encoded(&msg(&header(""), &registration("2000", true)), code),
                "1",
            ),
            (
                "siimm01_from_today",
                "OQSsiimm01req_0002.xml".into(),
                encoded(&msg(&header(""), &registration("2001", false)), code),
                "1",
            ),
            (
                "siimm01_no_birthdate",
                "OQSsiimm01req_0003.xml".into(),
                encoded(&msg(&header(""), &registration("2003", false)), code),
                "1",
            ),
            (
                "siimm01_not_found",
                "OQSsiimm01req_0004.xml".into(),
                encoded(&msg(&header(""), &registration("2002", true)), code),
                "1",
            ),
            (
                "muimm01",
                "OQSmuimm01req_0001.xml".into(),
                encoded(
                    &msg(
                        &header(""),
                        &format!(
                            "{}{}{}",
                            registration("2000", true),
                            registration("2002", true),
                            registration("2003", false)
                        ),
                    ),
                    code,
                ),
                "1",
            ),
            (
                "muimm02_processing",
                "OQSmuimm02req_0001.xml".into(),
                encoded(
                    &msg(
                        &header(""),
                        &format!("<ReceptionNumber>{bulk_reg_number}</ReceptionNumber>"),
                    ),
                    code,
                ),
                "2",
            ),
            (
                "yzk_ok",
                "YZKsiquc01req_0001.xml".into(),
                encoded(&information("3001", "4", true), code),
                "1",
            ),
            (
                "yzk_refused",
                "YZKsiquc01req_0002.xml".into(),
                encoded(&information("3002", "2", true), code),
                "1",
            ),
            (
                "yzk_no_birthdate",
                "YZKsiquc01req_0003.xml".into(),
                encoded(&information("3001", "2", false), code),
                "1",
            ),
            (
                "yzk_pdf",
                "YZKsiquc01req_0004.xml".into(),
                encoded(&information("3001", "1", true), code),
                "9",
            ),
            (
                "tkk_ok",
                "TKKsiquc01req_0001.xml".into(),
                encoded(
                    &information("3001", "2", true).replace(
                        "<StartDate>20211203</StartDate><EndDate>20261203</EndDate>",
                        "",
                    ),
                    code,
                ),
                "1",
            ),
            (
                "unknown_family",
                "OQSmutic01req_0001.xml".into(),
                encoded(&msg(&header(""), "<X/>"), code),
                "9",
            ),
            (
                "missing_element",
                "OQSsiquc01req_0005.xml".into(),
                encoded(
                    &msg(
                        &header(""),
                        &search("1001").replace(
                            "<InsuredIdentificationNumber>1001</InsuredIdentificationNumber>",
                            "",
                        ),
                    ),
                    code,
                ),
                "9",
            ),
            (
                "too_long",
                "OQSsiquc01req_0006.xml".into(),
                encoded(
                    &msg(
                        &header(""),
                        &search("1001").replace("記号１", &"記".repeat(21)),
                    ),
                    code,
                ),
                "9",
            ),
            (
                "other_institution",
                "OQSsiquc01req_0007.xml".into(),
                encoded(
                    &msg(
                        &header("").replace(INSTITUTION, "1320000002"),
                        &search("1001"),
                    ),
                    code,
                ),
                "9",
            ),
        ];
        // Not well-formed: cut short.
        let whole = encoded(&msg(&header(""), &search("1001")), code);
        cases.push((
            "malformed",
            "OQSsiquc01req_0008.xml".into(),
            whole[..whole.len() - 30].to_vec(),
            "9",
        ));
        // Bytes that are not in the declared encoding.
        let wrong = match code {
            CharacterCode::Utf8 => {
                let mut b = whole.clone();
                b.extend(b"<!-- \x82\xa0 -->");
                b
            }
            CharacterCode::ShiftJis => {
                let mut b = whole.clone();
                b.extend(b"<!-- \x82\xff -->");
                b
            }
        };
        cases.push((
            "wrong_encoding",
            "OQSsiquc01req_0009.xml".into(),
            wrong,
            "9",
        ));
        for (case, name, bytes, segment) in cases {
            let answer = processor
                .answer(&name, &bytes)
                .await
                .unwrap_or_else(|| panic!("{case}: no answer"));
            assert_eq!(answer.name, name.replacen("req_", "res_", 1), "{case}");
            let doc = decode(&answer.bytes).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(doc.character_code(), code, "{case}");
            assert_eq!(
                doc.value("MessageHeader/CharacterCodeIdentifier"),
                Some(code.identifier()),
                "{case}"
            );
            assert_eq!(
                doc.value("MessageHeader/SegmentOfResult"),
                Some(segment),
                "{case}"
            );
            assert!(
                doc.value("MessageHeader/MedicalInstitutionCode").is_some(),
                "{case}"
            );
            golden(&format!("{case}.{enc}.xml"), &answer.bytes);
        }
        // The bulk registration, once the terminal has carried it out.
        assert!(registrar.run_once().await);
        let name = "OQSmuimm02req_0002.xml";
        let request = encoded(
            &msg(
                &header(""),
                &format!("<ReceptionNumber>{bulk_reg_number}</ReceptionNumber>"),
            ),
            code,
        );
        let answer = processor.answer(name, &request).await.unwrap();
        let doc = decode(&answer.bytes).unwrap();
        assert_eq!(
            doc.value("MessageHeader/NumberOfProcessingResult"),
            Some("3")
        );
        assert_eq!(
            doc.value("MessageHeader/NumberOfNormalProcessing"),
            Some("1")
        );
        golden(&format!("muimm02_done.{enc}.xml"), &answer.bytes);
    }
    // Names that cannot be answered at all.
    for name in ["notes.txt", "OQSsiquc01res_1.xml", "OQSsiquc01req_a:b.xml"] {
        assert!(
            processor.answer(name, b"<XmlMsg/>").await.is_none(),
            "{name}"
        );
    }
}

fn reception(source: &'static str, offline: Option<OfflineOutcome>) -> Reception {
    let mut answer = check_answer("1", "ok", "資格は有効です。");
    if source == "kiosk" {
        answer.reference_classification = "1".into();
        answer.results[0].limit_consent_flag = "0".into();
        answer.consents = vec![
            consent_flag("medications", "PharmacistsInfoConsFlg"),
            consent_flag("treatments", "DiagnosisInfoConsFlg"),
            consent_flag("surgeries", "OperationInfoConsFlg"),
            ConsentFlag {
                category: "checkups".into(),
                element: "SpecificHealthCheckupsInfoConsFlg".into(),
                flag: "0".into(),
                consented_at: None,
                available_until: None,
            },
            consent_flag("limit", "LimitApplicationCertificateRelatedConsFlg"),
        ];
    }
    Reception {
        id: 1,
        at: "2026-12-03T09:15:00.000+09:00".into(),
        source,
        method: if source == "kiosk" { "pin" } else { "numbers" },
        answer,
        offline,
    }
}

#[test]
fn golden_face_files() {
    for code in [CharacterCode::Utf8, CharacterCode::ShiftJis] {
        let enc = suffix(code);
        let (e, c) = face_result(&reception("kiosk", None), None, INSTITUTION, code).unwrap();
        assert_eq!(c, code);
        assert_eq!(e.value("MessageHeader/ReferenceClassification"), Some("1"));
        golden(&format!("face_kiosk.{enc}.xml"), &write(&e, c));

        // A check recorded offline from a request file, found different afterwards: written in
        // the request's encoding whatever the default, echoing its identifier.
        let request = EligibilityCheckRequest {
            insurer_number: "138230".into(),
            symbol: Some("記号１".into()),
            number: "1001".into(),
            branch: Some("01".into()),
            birthdate: "19500101".into(),
            qualification_confirmation_date: None,
            limit_application_certificate_related_cons_flg: None,
        };
        let file = FileOrigin {
            request_name: "OQSsiquc01req_0002.xml".into(),
            arbitrary_file_identifier: Some("ファイル0002".into()),
            encoding: code.name().into(),
        };
        let outcome = OfflineOutcome {
            visit_id: "0123456789abcdef0123456789abcdef".into(),
            visited_at: "20261203091500".into(),
            status: VisitStatus::Discrepancy,
            status_label: VisitStatus::Discrepancy.label(),
            problem: Some("負担割合が異なります（申告 3割、資格情報 2割）".into()),
            file: Some(file.clone()),
            declared_copay: Some("030".into()),
        };
        // The visit as the terminal's queue holds it.
        let visit = Queue::in_memory()
            .unwrap()
            .record(NewVisit {
                id: outcome.visit_id.clone(),
                visited_at: outcome.visited_at.clone(),
                source: "files",
                method: "numbers",
                proof: VisitProof::Numbers { request },
                note: PatientNote::default(),
                file: Some(file),
            })
            .unwrap();
        let other = match code {
            CharacterCode::Utf8 => CharacterCode::ShiftJis,
            CharacterCode::ShiftJis => CharacterCode::Utf8,
        };
        let (e, c) = face_result(
            &reception("files", Some(outcome)),
            Some(&visit),
            INSTITUTION,
            other,
        )
        .unwrap();
        assert_eq!(c, code, "the request's encoding");
        assert_eq!(e.value("MessageBody/ProcessingResultCode"), Some("KKO003"));
        assert_eq!(
            e.value("MessageHeader/ArbitraryFileIdentifier"),
            Some("ファイル0002")
        );
        golden(&format!("face_later_discrepancy.{enc}.xml"), &write(&e, c));
    }
    // A console or file check answered at once gets no face file.
    assert!(face_result(
        &reception("console", None),
        None,
        INSTITUTION,
        CharacterCode::Utf8
    )
    .is_none());
}

/// A watcher on a temporary folder with the fake central, in its own runtime.
struct Running {
    _rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    backend: Arc<Fake>,
}

fn running(prepare: impl FnOnce(&Folders)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let folders = Folders::new(dir.path());
    folders.create().unwrap();
    prepare(&folders);
    let backend = Arc::new(Fake::default());
    let store = Arc::new(FileStore::in_memory().unwrap());
    let processor = Arc::new(Processor::new(
        backend.clone(),
        store,
        INSTITUTION,
        kakunin_terminal::files::process::system_clock,
    ));
    let config = WatchConfig {
        settle_unknown: Duration::from_millis(400),
        ..WatchConfig::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.spawn(Watcher::new(folders, config, processor).run());
    Running {
        _rt: rt,
        dir,
        backend,
    }
}

const WAIT: Duration = Duration::from_secs(20);

fn check_request(number: &str) -> Element {
    decode(msg(&header(""), &search(number)).as_bytes())
        .unwrap()
        .into_root()
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn the_watcher_answers_under_a_model_recekon() {
    let r = running(|f| {
        // A request left in work/ by a terminal that stopped mid-answer.
        std::fs::write(
            f.work.join("7-OQSsiquc01req_left.xml"),
            msg(&header(""), &search("1001")),
        )
        .unwrap();
    });
    let root = r.dir.path();
    let client = Recekon::new(root).unwrap();

    // The interrupted request is answered after the restart.
    let left = client.wait("OQSsiquc01req_left.xml", WAIT).unwrap();
    assert_eq!(left.value("MessageBody/QualificationValidity"), Some("1"));

    // A round trip in each encoding; picked up within a second (the best of three, so a
    // loaded machine does not fail the test).
    for code in [CharacterCode::Utf8, CharacterCode::ShiftJis] {
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            let reply = client
                .call(Family::Eligibility, &check_request("1001"), code, WAIT)
                .unwrap();
            best = best.min(t.elapsed());
            assert_eq!(reply.doc.character_code(), code);
            assert_eq!(reply.segment(), Some("1"));
            assert_eq!(
                reply.value("MessageBody/ResultList/ResultOfQualificationConfirmation/Name"),
                Some("試験　太郎")
            );
        }
        assert!(best < Duration::from_secs(1), "{best:?}");
    }
    assert!(
        files_in(&root.join("req")).is_empty(),
        "answered requests are removed"
    );

    // Half-written: a file written straight into req/ in pieces is read only when whole.
    let whole = msg(&header(""), &search("1001")).into_bytes();
    let name = "OQSsiquc01req_slow.xml";
    {
        use std::io::Write;
        let mut f = std::fs::File::create(root.join("req").join(name)).unwrap();
        for chunk in whole.chunks(whole.len() / 8 + 1) {
            f.write_all(chunk).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(40));
        }
    }
    let reply = client.wait(name, WAIT).unwrap();
    assert_eq!(reply.segment(), Some("1"), "read whole, not half-written");

    // A file that disappears before it is read: nothing is answered, nothing breaks.
    let gone = root.join("req").join("OQSsiquc01req_gone.xml");
    std::fs::write(&gone, &whole).unwrap();
    std::fs::remove_file(&gone).unwrap();

    // A name reused while its first request is being answered: both are answered, in order,
    // and the second result replaces the first.
    let reused = "OQSsiquc01req_reused.xml";
    client
        .send_bytes(reused, &write(&check_request("1005"), CharacterCode::Utf8))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    client
        .send_bytes(reused, &write(&check_request("1001"), CharacterCode::Utf8))
        .unwrap();
    let res = root.join("res").join("OQSsiquc01res_reused.xml");
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        if let Ok(bytes) = std::fs::read(&res) {
            // Always whole.
            let doc = decode(&bytes).expect("a result file is never partial");
            let v = doc
                .value("MessageBody/QualificationValidity")
                .unwrap()
                .to_string();
            if seen.last() != Some(&v) {
                seen.push(v.clone());
            }
            if v == "1" {
                break;
            }
        }
        assert!(
            started.elapsed() < WAIT,
            "the second request was not answered"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(seen.last().map(String::as_str), Some("1"));
    assert!(r.backend.checks.load(Ordering::SeqCst) >= 5);

    // Files without a request name go to error/ once unchanged; temporary names are ignored.
    std::fs::write(root.join("req").join("notes.txt"), b"hello").unwrap();
    std::fs::write(root.join("req").join("OQSsiquc01res_odd.xml"), b"<XmlMsg/>").unwrap();
    std::fs::write(root.join("req").join("OQSsiquc01req_9.xml.tmp"), b"partial").unwrap();
    let started = Instant::now();
    while files_in(&root.join("error")).len() < 2 {
        assert!(
            started.elapsed() < WAIT,
            "{:?}",
            files_in(&root.join("error"))
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        files_in(&root.join("error")),
        ["OQSsiquc01res_odd.xml", "notes.txt"]
    );
    assert_eq!(files_in(&root.join("req")), ["OQSsiquc01req_9.xml.tmp"]);

    // Malformed content under a good name is answered, and the watcher goes on.
    client
        .send_bytes("OQSsiquc01req_bad.xml", b"<XmlMsg><MessageHeader>")
        .unwrap();
    let bad = client.wait("OQSsiquc01req_bad.xml", WAIT).unwrap();
    assert_eq!(bad.error_code(), Some("KKE002"));
    let after = client
        .call(
            Family::Eligibility,
            &check_request("1001"),
            CharacterCode::Utf8,
            WAIT,
        )
        .unwrap();
    assert_eq!(after.segment(), Some("1"));
}

#[test]
fn hundreds_of_files_at_once_are_all_answered_with_bounded_concurrency() {
    let r = running(|_| {});
    let root = r.dir.path();
    let client = Recekon::new(root).unwrap();
    let n = 600;
    let names: Vec<String> = (0..n)
        .map(|i| {
            let code = if i % 2 == 0 {
                CharacterCode::Utf8
            } else {
                CharacterCode::ShiftJis
            };
            client
                .send(Family::Eligibility, &check_request("1001"), code)
                .unwrap()
        })
        .collect();
    for name in &names {
        let reply = client.wait(name, Duration::from_secs(60)).unwrap();
        assert_eq!(reply.segment(), Some("1"));
    }
    let most = r.backend.most.load(Ordering::SeqCst);
    assert!(most <= WatchConfig::default().concurrency, "{most} at once");
    assert!(most > 1, "answered concurrently");
    assert!(files_in(&root.join("req")).is_empty());
    assert!(files_in(&root.join("work")).is_empty());
    assert!(files_in(&root.join("error")).is_empty());
}
