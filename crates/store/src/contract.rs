//! The contract every [`Store`] backend passes. Backends instantiate it with
//! [`store_contract_tests!`](crate::store_contract_tests), giving a fresh, empty store per test.

use crate::{
    AttributeQuery, BatchInquiryResult, BlockState, CardQuery, CardRegistration, CheckupImport,
    CheckupItem, DrugRecord, EmergencyDeclaration, LinkDecision, MasterEntry, MasterImport,
    MasterKind, NewBatchInquiry, NewCheckup, NewEmergencyDeclaration, NewReceipt, NonceUse,
    PatientKey, ReceiptImport, ReferenceNumberRegistration, ReviewStatus, RosterImport, Store,
    StoreError, StoredBatchInquiry, TreatmentRecord,
};
use kakunin_domain::*;

/// Builds a valid qualification for tests: 06139992 / 記号 `symbol` / 番号 `number` / 枝番 `branch`.
pub fn qualification(
    symbol: &str,
    number: &str,
    branch: Option<&str>,
    birthdate: &str,
) -> Qualification {
    let d = |s: &str| Date::parse(s).expect("test date");
    Qualification {
        card: CardIdentity::new(
            InsurerNumber::parse("06139992").expect("valid"),
            (!symbol.is_empty()).then(|| CardSymbol::parse(symbol).expect("symbol")),
            CardNumber::parse(number).expect("number"),
            branch.map(|b| Branch::parse(b).expect("branch")),
        )
        .expect("card"),
        card_classification: CardClassification::General,
        relationship: Relationship::Insured,
        insured_name: None,
        name: "試験\u{3000}花子".into(),
        name_kana: "ｼｹﾝ ﾊﾅｺ".into(),
        sex: Sex::Female,
        birthdate: d(birthdate),
        address: None,
        post_number: None,
        qualification_date: d("20200401"),
        disqualification_date: None,
        loss_reason: None,
        card_issue_date: None,
        card_valid_from: None,
        card_valid_until: None,
        copay_ratio: Some(CopayRatio::THIRTY),
        insurer_name: "架空健康保険組合".into(),
        elderly: None,
        limit: None,
        specific_diseases: vec![],
    }
}

pub fn roster(qs: Vec<Qualification>) -> RosterImport {
    RosterImport {
        actor: "insurer:06139992".into(),
        received_at: Timestamp::from_unix_millis(1_795_480_200_000),
        source_sha256: "00".repeat(32),
        qualifications: qs,
        links: vec![],
    }
}

fn linked(p: &str) -> Option<LinkDecision> {
    Some(LinkDecision::Linked {
        pseudonym: p.into(),
    })
}

pub fn query(
    symbol_key: &str,
    number_key: &str,
    branch: Option<&str>,
    birthdate: &str,
) -> CardQuery {
    CardQuery {
        insurer: InsurerNumber::parse("06139992").expect("valid"),
        symbol_key: symbol_key.into(),
        number_key: number_key.into(),
        branch: branch.map(|b| Branch::parse(b).expect("branch")),
        birthdate: Date::parse(birthdate).expect("date"),
    }
}

pub fn access(ids: Vec<i64>, at_ms: i64) -> AccessLogEntry {
    AccessLogEntry {
        at: Timestamp::from_unix_millis(at_ms),
        institution: InstitutionCode::parse("0110113719").expect("valid"),
        purpose: AccessPurpose::EligibilityByNumbers,
        qualification_ids: ids,
        result: AccessResult::Answered(Validity::Valid),
        processing_code: "OK".into(),
        information: None,
    }
}

pub async fn import_is_idempotent(s: &dyn Store) {
    let qs = vec![
        qualification("123", "4567", Some("00"), "19800101"),
        qualification("123", "4567", Some("01"), "19820315"),
    ];
    let first = s.import_roster(roster(qs.clone())).await.unwrap();
    assert_eq!((first.inserted, first.updated, first.unchanged), (2, 0, 0));
    let again = s.import_roster(roster(qs)).await.unwrap();
    assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 2));
    let c = s.counts().await.unwrap();
    assert_eq!((c.qualifications, c.versions, c.imports), (2, 2, 2));
    let imports = s.recent_imports(10).await.unwrap();
    assert_eq!(imports[0].outcome.unchanged, 2);
    assert_eq!(imports[1].outcome.inserted, 2);
}

pub async fn change_keeps_history(s: &dyn Store) {
    let mut q = qualification("123", "4567", Some("00"), "19800101");
    s.import_roster(roster(vec![q.clone()])).await.unwrap();
    q.disqualification_date = Some(Date::parse("20250401").unwrap());
    q.loss_reason = Some(LossReason::OtherInsurance);
    let out = s.import_roster(roster(vec![q.clone()])).await.unwrap();
    assert_eq!(out.updated, 1);
    let found = s
        .find_qualifications(&query("123", "4567", Some("00"), "19800101"))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].version, 2);
    assert_eq!(found[0].qualification, q);
    let history = s.qualification_history(found[0].id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].qualification.disqualification_date, None);
    assert_eq!(history[1].qualification, q);
}

pub async fn find_matches_card_and_birthdate(s: &dyn Store) {
    let parent = qualification("１２３", "4567", Some("00"), "19800101");
    let twin_a = qualification("１２３", "4567", Some("01"), "20100505");
    let twin_b = qualification("１２３", "4567", Some("02"), "20100505");
    let old_card = qualification("9", "1", None, "19700101");
    s.import_roster(roster(vec![parent.clone(), twin_a, twin_b, old_card]))
        .await
        .unwrap();
    let n = |v: Vec<crate::StoredQualification>| v.len();
    assert_eq!(
        n(
            s.find_qualifications(&query("123", "4567", Some("00"), "19800101"))
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(
        n(
            s.find_qualifications(&query("123", "4567", None, "19800101"))
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(
        n(
            s.find_qualifications(&query("123", "4567", None, "20100505"))
                .await
                .unwrap()
        ),
        2
    );
    assert_eq!(
        n(
            s.find_qualifications(&query("123", "4567", Some("01"), "20100505"))
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(
        n(
            s.find_qualifications(&query("123", "4567", Some("00"), "19800102"))
                .await
                .unwrap()
        ),
        0
    );
    assert_eq!(
        n(
            s.find_qualifications(&query("124", "4567", Some("00"), "19800101"))
                .await
                .unwrap()
        ),
        0
    );
    // A card registered without 枝番 matches a query that gives one.
    assert_eq!(
        n(
            s.find_qualifications(&query("9", "1", Some("00"), "19700101"))
                .await
                .unwrap()
        ),
        1
    );
    let found = s
        .find_qualifications(&query("123", "4567", Some("00"), "19800101"))
        .await
        .unwrap();
    assert_eq!(found[0].qualification, parent, "raw full-width symbol kept");
}

pub async fn certificates_round_trip(s: &dyn Store) {
    let d = |x: &str| Date::parse(x).unwrap();
    let mut q = qualification("1", "2", Some("00"), "19561015");
    q.copay_ratio = None;
    q.insured_name = Some("試験\u{3000}一郎".into());
    q.address = Some("東京都千代田区霞が関1-2-2".into());
    q.post_number = Some("1008916".into());
    q.card_issue_date = Some(d("20200401"));
    q.card_valid_from = Some(d("20200401"));
    q.card_valid_until = Some(d("20300331"));
    q.elderly = Some(ElderlyCertificate {
        issued: Some(d("20261001")),
        valid_from: d("20261101"),
        valid_until: None,
        copay_ratio: CopayRatio::TWENTY,
    });
    q.limit = Some(LimitCertificate {
        classification: LimitCertificateClassification::Limit,
        bracket: LimitBracket::B04,
        issued: None,
        valid_from: d("20260801"),
        valid_until: Some(d("20270731")),
        long_term_date: Some(d("20261001")),
    });
    q.specific_diseases = vec![
        SpecificDiseaseCertificate {
            disease: SpecificDisease::Dialysis,
            issued: None,
            valid_from: d("20200101"),
            valid_until: None,
            self_pay_yen: 10_000,
        },
        SpecificDiseaseCertificate {
            disease: SpecificDisease::Hemophilia,
            issued: Some(d("20200101")),
            valid_from: d("20200101"),
            valid_until: Some(d("20301231")),
            self_pay_yen: 20_000,
        },
    ];
    s.import_roster(roster(vec![q.clone()])).await.unwrap();
    let found = s
        .find_qualifications(&query("1", "2", Some("00"), "19561015"))
        .await
        .unwrap();
    assert_eq!(found[0].qualification, q);
    let again = s.import_roster(roster(vec![q])).await.unwrap();
    assert_eq!(again.unchanged, 1);
}

pub async fn duplicate_keys_write_nothing(s: &dyn Store) {
    let a = qualification("1", "2", Some("00"), "19800101");
    let mut b = a.clone();
    b.name = "別人\u{3000}太郎".into();
    let err = s.import_roster(roster(vec![a, b])).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateKey));
    let c = s.counts().await.unwrap();
    assert_eq!((c.qualifications, c.versions, c.imports), (0, 0, 0));
}

pub async fn bulk_load_appends_then_builds_indexes(s: &dyn Store) {
    assert!(
        s.begin_bulk_load().await.unwrap(),
        "an empty store loads in bulk"
    );
    assert!(
        s.begin_bulk_load().await.unwrap(),
        "beginning twice is harmless"
    );
    let first = vec![
        qualification("123", "4567", Some("00"), "19800101"),
        qualification("123", "4567", Some("01"), "19820315"),
    ];
    let out = s.import_roster(roster(first.clone())).await.unwrap();
    assert_eq!((out.inserted, out.updated, out.unchanged), (2, 0, 0));
    let out = s
        .import_roster(roster(vec![qualification("9", "1", None, "19700101")]))
        .await
        .unwrap();
    assert_eq!(out.inserted, 1);
    s.finish_bulk_load().await.unwrap();
    s.finish_bulk_load().await.unwrap();
    for (symbol, number, branch, birth, q) in [
        ("123", "4567", Some("00"), "19800101", &first[0]),
        ("123", "4567", Some("01"), "19820315", &first[1]),
    ] {
        let found = s
            .find_qualifications(&query(symbol, number, branch, birth))
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!((&found[0].qualification, found[0].version), (q, 1));
        assert_eq!(s.qualification_history(found[0].id).await.unwrap().len(), 1);
    }
    assert_eq!(
        s.find_qualifications(&query("9", "1", None, "19700101"))
            .await
            .unwrap()
            .len(),
        1
    );
    // After the load, imports compare with what is registered again.
    let mut changed = first.clone();
    changed[1].address = Some("東京都千代田区".into());
    let out = s.import_roster(roster(changed)).await.unwrap();
    assert_eq!((out.inserted, out.updated, out.unchanged), (0, 1, 1));
    assert!(
        !s.begin_bulk_load().await.unwrap(),
        "a store with people is not bulk loaded"
    );
    let out = s
        .import_roster(roster(vec![qualification("9", "2", None, "19700101")]))
        .await
        .unwrap();
    assert_eq!(out.inserted, 1);
    let c = s.counts().await.unwrap();
    assert_eq!((c.qualifications, c.versions, c.imports), (4, 5, 4));
}

pub async fn bulk_load_refuses_a_key_twice(s: &dyn Store) {
    assert!(s.begin_bulk_load().await.unwrap());
    let a = qualification("1", "2", Some("00"), "19800101");
    let mut b = a.clone();
    b.name = "別人\u{3000}太郎".into();
    s.import_roster(roster(vec![a])).await.unwrap();
    s.import_roster(roster(vec![b])).await.unwrap();
    let err = s.finish_bulk_load().await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateKey), "{err:?}");
}

pub async fn access_log_appends_and_reads(s: &dyn Store) {
    s.import_roster(roster(vec![
        qualification("1", "2", Some("00"), "19800101"),
        qualification("1", "2", Some("01"), "19800101"),
    ]))
    .await
    .unwrap();
    let ids: Vec<i64> = s
        .find_qualifications(&query("1", "2", None, "19800101"))
        .await
        .unwrap()
        .iter()
        .map(|q| q.id)
        .collect();
    let a = s.append_access(access(vec![ids[0]], 1_000)).await.unwrap();
    let b = s.append_access(access(ids.clone(), 2_000)).await.unwrap();
    let c = s.append_access(access(vec![], 3_000)).await.unwrap();
    assert!(a < b && b < c);
    let recent = s.recent_access(10).await.unwrap();
    assert_eq!(
        recent.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![c, b, a]
    );
    assert_eq!(recent[1].entry, access(ids.clone(), 2_000));
    let mine = s.access_for_qualification(ids[0]).await.unwrap();
    assert_eq!(mine.iter().map(|r| r.id).collect::<Vec<_>>(), vec![b, a]);
    let other = s.access_for_qualification(ids[1]).await.unwrap();
    assert_eq!(other.len(), 1);
}

pub async fn concurrent_appends_all_land(s: std::sync::Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.append_access(access(vec![], i)).await.unwrap()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 200);
    assert_eq!(s.counts().await.unwrap().access_log, 200);
    assert_eq!(s.access_log_len().await.unwrap(), 200);
}

pub async fn samples_are_real_queries(s: &dyn Store) {
    let qs: Vec<Qualification> = (0..50)
        .map(|i| qualification("7", &format!("{i}"), Some("00"), "19800101"))
        .collect();
    s.import_roster(roster(qs)).await.unwrap();
    let samples = s.sample_queries(10).await.unwrap();
    assert!(!samples.is_empty() && samples.len() <= 10);
    for q in samples {
        assert_eq!(s.find_qualifications(&q).await.unwrap().len(), 1);
    }
}

pub async fn links_follow_the_authority(s: &dyn Store) {
    let mut old = qualification("1", "100", Some("00"), "19800101");
    old.disqualification_date = Some(Date::parse("20240401").unwrap());
    let new = {
        let mut q = qualification("2", "200", Some("00"), "19800101");
        q.qualification_date = Date::parse("20240401").unwrap();
        q
    };
    let other = qualification("3", "300", Some("00"), "19900101");
    let mut import = roster(vec![old.clone(), new.clone(), other.clone()]);
    import.links = vec![
        linked("person-a"),
        linked("person-a"),
        Some(LinkDecision::Mismatch {
            attributes: vec![Attribute::Birthdate, Attribute::Name],
            number_last4: "0018".into(),
        }),
    ];
    let out = s.import_roster(import).await.unwrap();
    assert_eq!((out.inserted, out.linked, out.link_reviews), (3, 2, 1));

    // The person's qualifications, oldest acquisition first; the mismatched row is not there.
    let mine = s.find_by_person("person-a").await.unwrap();
    assert_eq!(
        mine.iter().map(|f| &f.qualification).collect::<Vec<_>>(),
        vec![&old, &new]
    );
    assert!(mine.iter().all(|f| f.person.as_deref() == Some("person-a")));
    let by_number = s
        .find_qualifications(&query("1", "100", Some("00"), "19800101"))
        .await
        .unwrap();
    assert_eq!(by_number[0].person.as_deref(), Some("person-a"));
    let unlinked = s
        .find_qualifications(&query("3", "300", Some("00"), "19900101"))
        .await
        .unwrap();
    assert_eq!(unlinked[0].person, None);

    let reviews = s.link_reviews(true, 10).await.unwrap();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].qualification_id, unlinked[0].id);
    assert_eq!(
        reviews[0].attributes,
        vec![Attribute::Name, Attribute::Birthdate]
    );
    assert_eq!(reviews[0].number_last4, "0018");
    assert_eq!(reviews[0].status, ReviewStatus::Open);
    assert_eq!(reviews[0].insurer.as_str(), "06139992");

    // The same mismatch again opens nothing new; a roster without numbers changes no link.
    let mut again = roster(vec![other.clone()]);
    again.links = vec![Some(LinkDecision::Mismatch {
        attributes: vec![Attribute::Name, Attribute::Birthdate],
        number_last4: "0018".into(),
    })];
    s.import_roster(again).await.unwrap();
    s.import_roster(roster(vec![old.clone(), new.clone(), other.clone()]))
        .await
        .unwrap();
    assert_eq!(s.link_reviews(true, 10).await.unwrap().len(), 1);
    assert_eq!(s.find_by_person("person-a").await.unwrap().len(), 2);

    // The insurer corrects the number: linked, review closed by the import.
    let mut fixed = roster(vec![other.clone()]);
    fixed.links = vec![linked("person-b")];
    let out = s.import_roster(fixed).await.unwrap();
    assert_eq!((out.unchanged, out.linked, out.link_reviews), (1, 1, 0));
    assert_eq!(s.find_by_person("person-b").await.unwrap().len(), 1);
    assert!(s.link_reviews(true, 10).await.unwrap().is_empty());
    let all = s.link_reviews(false, 10).await.unwrap();
    assert_eq!(all[0].status, ReviewStatus::ResolvedByImport);

    // A later wrong number unlinks at once; an operator may dismiss the review.
    let mut wrong = roster(vec![old.clone()]);
    wrong.links = vec![Some(LinkDecision::Mismatch {
        attributes: vec![Attribute::IndividualNumber],
        number_last4: "1234".into(),
    })];
    s.import_roster(wrong).await.unwrap();
    assert_eq!(s.find_by_person("person-a").await.unwrap().len(), 1);
    let open = s.link_reviews(true, 10).await.unwrap();
    assert_eq!(open.len(), 1);
    let at = Timestamp::from_unix_millis(1_795_480_300_000);
    assert!(s
        .dismiss_link_review(open[0].id, "admin:ops", "本人確認済み", at)
        .await
        .unwrap());
    assert!(!s
        .dismiss_link_review(open[0].id, "admin:ops", "again", at)
        .await
        .unwrap());
    let done = &s.link_reviews(false, 1).await.unwrap()[0];
    assert_eq!(done.status, ReviewStatus::Dismissed);
    assert_eq!(done.resolved_by.as_deref(), Some("admin:ops"));
    assert_eq!(done.resolved_at, Some(at));

    // Misaligned link decisions are refused and change nothing.
    let mut bad = roster(vec![qualification("9", "900", None, "20000101")]);
    bad.links = vec![None, None];
    assert!(s.import_roster(bad).await.is_err());
    assert_eq!(s.counts().await.unwrap().qualifications, 3);
}

pub async fn nonces_are_spent_once(s: &dyn Store) {
    let nonce = |n: &str| NonceUse {
        nonce: n.into(),
        expires_at: Timestamp::from_unix_millis(4_000_000_000_000),
    };
    let first = s
        .append_access_once(nonce("n1"), access(vec![], 1_795_480_200_000))
        .await
        .unwrap();
    assert!(first.is_some());
    let replay = s
        .append_access_once(nonce("n1"), access(vec![], 1_795_480_200_001))
        .await
        .unwrap();
    assert_eq!(replay, None);
    assert_eq!(s.counts().await.unwrap().access_log, 1);
    // Concurrent spends of one nonce: exactly one wins.
    let results = futures_util::future::join_all(
        (0..16).map(|i| s.append_access_once(nonce("n2"), access(vec![], 1_795_480_200_100 + i))),
    )
    .await;
    let won = results
        .into_iter()
        .map(Result::unwrap)
        .filter(Option::is_some)
        .count();
    assert_eq!(won, 1);
    assert_eq!(s.counts().await.unwrap().access_log, 2);
}

pub async fn card_registration_is_kept_once(s: &dyn Store) {
    let reg = |serial: &str| CardRegistration {
        pseudonym: "person-a".into(),
        registered_at: Timestamp::from_unix_millis(1_795_480_200_000),
        certificate_serial: serial.into(),
        institution: InstitutionCode::parse("0110113719").unwrap(),
    };
    assert_eq!(s.card_registration("person-a").await.unwrap(), None);
    assert!(s.register_card(reg("01")).await.unwrap());
    assert!(!s.register_card(reg("02")).await.unwrap());
    assert_eq!(
        s.card_registration("person-a").await.unwrap(),
        Some(reg("01"))
    );
}

pub async fn consents_newest_per_category(s: &dyn Store) {
    let here = InstitutionCode::parse("0110113719").unwrap();
    let there = (0..10)
        .find_map(|d| InstitutionCode::parse(&format!("131000000{d}")).ok())
        .unwrap();
    let at = |ms: i64| Timestamp::from_unix_millis(1_795_480_200_000 + ms);
    assert!(s.latest_consents("p", &here).await.unwrap().is_empty());
    s.record_consents(vec![
        Consent::given("p", &here, ConsentCategory::Medications, at(0)),
        Consent::given("p", &here, ConsentCategory::Checkups, at(0)),
        Consent::given("p", &there, ConsentCategory::Surgeries, at(0)),
        Consent::given("q", &here, ConsentCategory::Treatments, at(0)),
    ])
    .await
    .unwrap();
    s.record_consents(vec![Consent::given(
        "p",
        &here,
        ConsentCategory::Medications,
        at(60_000),
    )])
    .await
    .unwrap();
    let mine = s.latest_consents("p", &here).await.unwrap();
    assert_eq!(
        mine.iter().map(|c| c.category).collect::<Vec<_>>(),
        vec![ConsentCategory::Checkups, ConsentCategory::Medications]
    );
    let meds = mine
        .iter()
        .find(|c| c.category == ConsentCategory::Medications)
        .unwrap();
    assert_eq!(meds.given_at, at(60_000));
    assert_eq!(
        meds.expires_at.unix_millis() - meds.given_at.unix_millis(),
        CONSENT_VALIDITY_MS
    );
    assert!(mine
        .iter()
        .all(|c| c.person == "p" && c.institution == here));
    let (found, together) = s.person_with_consents("p", &here).await.unwrap();
    assert!(found.is_empty());
    assert_eq!(together, mine);
    assert_eq!(s.latest_consents("p", &there).await.unwrap().len(), 1);
}

fn day(s: &str) -> Date {
    Date::parse(s).expect("test date")
}

/// A receipt billed for 06139992 / 記号 `symbol` / 番号 `number`.
pub fn receipt(symbol: &str, number: &str, branch: &str, birth: &str, month: &str) -> NewReceipt {
    NewReceipt {
        key: PatientKey {
            insurer: "06139992".into(),
            symbol_key: symbol.into(),
            number_key: number.into(),
            branch: branch.into(),
            birthdate: Some(day(birth)),
        },
        receipt_number: Some(1),
        month: day(&format!("{month}01")),
        care_kind: "outpatient".into(),
        prescriber: None,
        days: Some(2),
        total_yen: Some(12_340),
        patient_share_yen: Some(3_700),
        drugs: vec![DrugRecord {
            date: Some(day(&format!("{month}03"))),
            prescribed_on: None,
            code: "610406079".into(),
            quantity: Some("1.5".into()),
            days_or_times: Some(14),
            category: Some("21".into()),
            usage_code: None,
            rp: None,
        }],
        treatments: vec![
            TreatmentRecord {
                kind: "examination".into(),
                code: "160000310".into(),
                dates: vec![day(&format!("{month}03")), day(&format!("{month}17"))],
                count: Some(2),
            },
            TreatmentRecord {
                kind: "surgery".into(),
                code: "150000110".into(),
                dates: vec![day(&format!("{month}17"))],
                count: Some(1),
            },
        ],
    }
}

pub fn receipt_file(sha: &str, receipts: Vec<NewReceipt>) -> ReceiptImport {
    ReceiptImport {
        actor: "payer:test".into(),
        received_at: Timestamp::from_unix_millis(1_795_480_200_000),
        source_sha256: sha.into(),
        pharmacy: false,
        institution_code: "0110113719".into(),
        institution_name: Some("架空クリニック".into()),
        unknown_records: 1,
        receipts,
    }
}

pub async fn receipts_match_wait_and_purge(s: &dyn Store) {
    // A household on one card: the insured (枝番 00) and a child (枝番 01).
    s.import_roster(roster(vec![
        qualification("12", "345", Some("00"), "19800101"),
        qualification("12", "345", Some("01"), "20100505"),
    ]))
    .await
    .unwrap();
    let ids: Vec<i64> = s
        .find_qualifications(&query("12", "345", Some("01"), "20100505"))
        .await
        .unwrap()
        .iter()
        .map(|q| q.id)
        .collect();
    let child = ids[0];
    let file = receipt_file(
        &"a1".repeat(32),
        vec![
            receipt("12", "345", "01", "20100505", "202405"),
            // No 枝番 on the receipt: the birth date decides.
            receipt("12", "345", "", "20100505", "202406"),
            // The 枝番 and the birth date disagree: kept unmatched, never guessed.
            receipt("12", "345", "00", "20100505", "202406"),
            // Nobody on the roster yet.
            receipt("77", "888", "", "19700707", "202406"),
        ],
    );
    let out = s.import_receipts(file.clone()).await.unwrap();
    assert_eq!(
        (out.receipts, out.matched, out.unmatched, out.duplicate),
        (4, 2, 2, false)
    );
    let again = s.import_receipts(file).await.unwrap();
    assert!(again.duplicate, "the same file twice writes nothing");
    assert_eq!((again.receipts, again.matched), (4, 2));
    let counts = s.medical_counts().await.unwrap();
    assert_eq!((counts.receipts, counts.unmatched_receipts), (4, 2));

    let got = s
        .receipts_for(vec![child], day("20240101"), day("20241231"))
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].month, day("20240601"), "newest month first");
    assert_eq!(
        got[1].drugs,
        receipt("12", "345", "01", "20100505", "202405").drugs
    );
    assert_eq!(got[1].treatments.len(), 2);
    assert_eq!(got[1].treatments[0].dates.len(), 2);
    assert_eq!(got[1].institution_name.as_deref(), Some("架空クリニック"));
    assert_eq!(
        (got[1].total_yen, got[1].patient_share_yen),
        (Some(12_340), Some(3_700))
    );
    let may = s
        .receipts_for(vec![child], day("20240501"), day("20240531"))
        .await
        .unwrap();
    assert_eq!(may.len(), 1, "the period selects months");

    // The missing person arrives with a later roster: their receipt is matched then.
    s.import_roster(roster(vec![qualification(
        "77",
        "888",
        Some("00"),
        "19700707",
    )]))
    .await
    .unwrap();
    let other = s.match_pending(vec!["01130012".into()]).await.unwrap();
    assert_eq!(
        other.receipts, 0,
        "only the named insurers' receipts are tried"
    );
    let m = s.match_pending(vec!["06139992".into()]).await.unwrap();
    assert_eq!(m.receipts, 1);
    assert_eq!(s.medical_counts().await.unwrap().unmatched_receipts, 1);
    assert_eq!(
        s.match_pending(vec![]).await.unwrap().receipts,
        0,
        "nothing left to match"
    );

    // Retention: months before the cut are deleted, matched or not.
    let p = s.purge_medical(day("20240601")).await.unwrap();
    assert_eq!(p.receipts, 1);
    let left = s
        .receipts_for(vec![child], day("20000101"), day("20301231"))
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].month, day("20240601"));
}

pub async fn masters_keep_editions(s: &dyn Store) {
    let e = |from: &str, name: &str| MasterEntry {
        kind: MasterKind::Drug,
        code: "610406079".into(),
        valid_from: Some(day(from)),
        valid_until: None,
        name: name.into(),
        unit: Some("ｇ".into()),
    };
    let import = |entries: Vec<MasterEntry>| MasterImport {
        kind: MasterKind::Drug,
        actor: "admin".into(),
        received_at: Timestamp::from_unix_millis(1_795_480_200_000),
        source_sha256: "00".repeat(32),
        entries,
    };
    let out = s
        .import_masters(import(vec![e("20220401", "ガスター散２％")]))
        .await
        .unwrap();
    assert_eq!((out.inserted, out.updated), (1, 0));
    let same = s
        .import_masters(import(vec![e("20220401", "ガスター散２％")]))
        .await
        .unwrap();
    assert_eq!((same.inserted, same.updated), (0, 0));
    let next = s
        .import_masters(import(vec![
            e("20220401", "ガスター散２％（旧）"),
            e("20240401", "ファモチジン散２％"),
            MasterEntry {
                valid_from: None,
                ..e("20240401", "始期なし")
            },
        ]))
        .await
        .unwrap();
    assert_eq!((next.inserted, next.updated), (2, 1));
    let mut got = s
        .master_entries(
            MasterKind::Drug,
            vec!["610406079".into(), "699999999".into()],
        )
        .await
        .unwrap();
    got.sort_by_key(|e| e.valid_from);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].valid_from, None);
    assert_eq!(got[1].name, "ガスター散２％（旧）");
    assert_eq!(got[2].unit.as_deref(), Some("ｇ"));
    assert!(s
        .master_entries(MasterKind::Procedure, vec!["610406079".into()])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.medical_counts().await.unwrap().master_entries, 3);
}

pub async fn checkups_match_and_read(s: &dyn Store) {
    s.import_roster(roster(vec![qualification(
        "12",
        "345",
        Some("00"),
        "19700101",
    )]))
    .await
    .unwrap();
    let qid = s
        .find_qualifications(&query("12", "345", None, "19700101"))
        .await
        .unwrap()[0]
        .id;
    let checkup = |birth: &str, date: &str| NewCheckup {
        key: PatientKey {
            insurer: "06139992".into(),
            symbol_key: "12".into(),
            number_key: "345".into(),
            branch: "00".into(),
            birthdate: Some(day(birth)),
        },
        date: day(date),
        institution_id: Some("1311234567".into()),
        institution_name: Some("架空健診センター".into()),
        items: vec![
            CheckupItem {
                code: "9N001000000000001".into(),
                name: "身長".into(),
                value: Some("170.2".into()),
                unit: Some("cm".into()),
                interpretation: None,
            },
            CheckupItem {
                code: "3D045000001906202".into(),
                name: "HbA1c".into(),
                value: None,
                unit: None,
                interpretation: Some("H".into()),
            },
        ],
    };
    let out = s
        .import_checkups(CheckupImport {
            actor: "insurer:06139992".into(),
            received_at: Timestamp::from_unix_millis(1_795_480_200_000),
            source_sha256: "c4".repeat(32),
            checkups: vec![
                checkup("19700101", "20230610"),
                checkup("19700101", "20240612"),
                checkup("19710101", "20240612"),
            ],
        })
        .await
        .unwrap();
    assert_eq!((out.checkups, out.matched, out.unmatched), (3, 2, 1));
    let got = s
        .checkups_for(vec![qid], day("20240101"), day("20241231"))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].date, day("20240612"));
    assert_eq!(got[0].items, checkup("19700101", "20240612").items);
    let all = s
        .checkups_for(vec![qid], day("20000101"), day("20301231"))
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|c| c.date).collect::<Vec<_>>(),
        vec![day("20240612"), day("20230610")]
    );
    assert_eq!(s.purge_medical(day("20240101")).await.unwrap().checkups, 1);
}

pub async fn information_reads_are_logged(s: &dyn Store) {
    s.import_roster(roster(vec![qualification(
        "12",
        "345",
        Some("00"),
        "19700101",
    )]))
    .await
    .unwrap();
    let qid = s
        .find_qualifications(&query("12", "345", None, "19700101"))
        .await
        .unwrap()[0]
        .id;
    let here = InstitutionCode::parse("0110113719").unwrap();
    let there = (0..10)
        .find_map(|d| InstitutionCode::parse(&format!("131000000{d}")).ok())
        .unwrap();
    let t0 = 1_795_480_200_000;
    let since = Timestamp::from_unix_millis(t0);
    assert!(!s.checked_since(&here, vec![qid], since).await.unwrap());
    // A refused check does not count; an answered one does, from then on.
    let mut refused = access(vec![qid], t0 + 1000);
    refused.result = AccessResult::Refused("card_invalid".into());
    s.append_access(refused).await.unwrap();
    assert!(!s.checked_since(&here, vec![qid], since).await.unwrap());
    s.append_access(access(vec![qid], t0 + 2000)).await.unwrap();
    assert!(s.checked_since(&here, vec![qid], since).await.unwrap());
    assert!(!s.checked_since(&there, vec![qid], since).await.unwrap());
    assert!(!s
        .checked_since(&here, vec![qid], Timestamp::from_unix_millis(t0 + 3000))
        .await
        .unwrap());

    let view = AccessLogEntry {
        purpose: AccessPurpose::MedicalInformation,
        result: AccessResult::Disclosed(12),
        processing_code: "OK".into(),
        information: Some(InformationAccess {
            category: ConsentCategory::Medications,
            from: day("20211101"),
            to: day("20261124"),
            basis: AccessBasis::Consent,
        }),
        ..access(vec![qid], t0 + 4000)
    };
    s.append_access(view.clone()).await.unwrap();
    let log = s.access_for_qualification(qid).await.unwrap();
    assert_eq!(log[0].entry, view, "category, period and basis round-trip");
    assert_eq!(log[1].entry.information, None);
    // An information read is not an eligibility check.
    assert!(!s
        .checked_since(&here, vec![qid], Timestamp::from_unix_millis(t0 + 3000))
        .await
        .unwrap());
}

pub async fn institution_blocks_newest_wins(s: &dyn Store) {
    let here = InstitutionCode::parse("0110113719").unwrap();
    let at = |ms: i64| Timestamp::from_unix_millis(1_795_480_200_000 + ms);
    assert!(!s.institution_blocked("p", &here).await.unwrap());
    s.set_institution_block("p", &here, true, at(0))
        .await
        .unwrap();
    assert!(s.institution_blocked("p", &here).await.unwrap());
    assert!(!s.institution_blocked("q", &here).await.unwrap());
    s.set_institution_block("p", &here, false, at(1))
        .await
        .unwrap();
    assert!(!s.institution_blocked("p", &here).await.unwrap());
}

/// The institution every contract check acts as, and a second one that must see nothing of it.
fn here_and_there() -> (InstitutionCode, InstitutionCode) {
    let here = InstitutionCode::parse("0110113719").unwrap();
    let there = (0..10)
        .find_map(|d| InstitutionCode::parse(&format!("131000000{d}")).ok())
        .unwrap();
    (here, there)
}

fn reference(
    institution: &InstitutionCode,
    qualification_id: i64,
    number: &str,
    at_ms: i64,
) -> ReferenceNumberRegistration {
    ReferenceNumberRegistration {
        institution: institution.clone(),
        qualification_id,
        reference_number: number.into(),
        registered_at: Timestamp::from_unix_millis(1_795_480_200_000 + at_ms),
    }
}

/// Store ids of the roster's qualifications for 記号 1 / the given 番号s (born 1980-01-01).
async fn ids_of(s: &dyn Store, numbers: &[&str]) -> Vec<i64> {
    let mut out = Vec::new();
    for n in numbers {
        let found = s
            .find_qualifications(&query("1", n, None, "19800101"))
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "one qualification for 番号 {n}");
        out.push(found[0].id);
    }
    out
}

pub async fn reference_numbers_replace_and_align(s: &dyn Store) {
    s.import_roster(roster(vec![
        qualification("1", "10", Some("00"), "19800101"),
        qualification("1", "20", Some("00"), "19800101"),
    ]))
    .await
    .unwrap();
    let ids = ids_of(s, &["10", "20"]).await;
    let (here, there) = here_and_there();
    assert_eq!(
        s.register_reference_number(reference(&here, ids[0], "0001234", 0))
            .await
            .unwrap(),
        None,
        "a first registration replaces nothing"
    );
    assert_eq!(
        s.register_reference_number(reference(&here, ids[0], "0005678", 1))
            .await
            .unwrap()
            .as_deref(),
        Some("0001234"),
        "a second one returns the number it replaced"
    );
    s.register_reference_number(reference(&there, ids[1], "B-1", 2))
        .await
        .unwrap();
    // Aligned with the input (repeats and unknown ids included).
    let unknown = ids[0].max(ids[1]) + 1_000;
    assert_eq!(
        s.reference_numbers(&here, vec![ids[1], ids[0], unknown, ids[0]])
            .await
            .unwrap(),
        vec![None, Some("0005678".into()), None, Some("0005678".into())]
    );
    assert!(s.reference_numbers(&here, vec![]).await.unwrap().is_empty());
    // Each institution sees only its own numbers.
    assert_eq!(
        s.reference_numbers(&there, vec![ids[0], ids[1]])
            .await
            .unwrap(),
        vec![None, Some("B-1".into())]
    );
    // Concurrent registrations for one qualification: each replaced exactly one other's
    // number, so the replaced numbers and the one left are every number once.
    let numbers: Vec<String> = (0..8).map(|i| format!("C-{i}")).collect();
    let results = futures_util::future::join_all(
        numbers
            .iter()
            .map(|n| s.register_reference_number(reference(&here, ids[1], n, 3))),
    )
    .await;
    let replaced: Vec<Option<String>> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(replaced.iter().filter(|r| r.is_none()).count(), 1);
    let left = s.reference_numbers(&here, vec![ids[1]]).await.unwrap()[0]
        .clone()
        .unwrap();
    let mut seen: Vec<String> = replaced.into_iter().flatten().chain([left]).collect();
    seen.sort();
    assert_eq!(seen, numbers);
}

pub async fn reference_numbers_follow_the_person(s: &dyn Store) {
    // One person on three qualifications (e.g. after changes of insurer), another unlinked.
    let mut import = roster(vec![
        qualification("1", "10", Some("00"), "19800101"),
        qualification("1", "20", Some("00"), "19800101"),
        qualification("1", "30", Some("00"), "19800101"),
        qualification("1", "40", Some("00"), "19800101"),
    ]);
    import.links = vec![
        linked("person-a"),
        linked("person-a"),
        linked("person-a"),
        None,
    ];
    assert_eq!(s.import_roster(import).await.unwrap().linked, 3);
    let ids = ids_of(s, &["10", "20", "30", "40"]).await;
    let (old, mid, new, unlinked) = (ids[0], ids[1], ids[2], ids[3]);
    let (here, there) = here_and_there();
    s.register_reference_number(reference(&here, old, "A-1", 0))
        .await
        .unwrap();
    s.register_reference_number(reference(&here, mid, "A-2", 10))
        .await
        .unwrap();
    // A qualification without its own number gets the newest of its person's others; one with
    // its own keeps it, however old; an unlinked one gets nothing.
    assert_eq!(
        s.reference_numbers(&here, vec![new, old, mid, unlinked])
            .await
            .unwrap(),
        vec![
            Some("A-2".into()),
            Some("A-1".into()),
            Some("A-2".into()),
            None
        ]
    );
    assert_eq!(
        s.reference_numbers(&there, vec![new, old]).await.unwrap(),
        vec![None, None],
        "another institution's numbers never leak through the person"
    );
    // Registering on the new qualification replaces nothing on it, and wins from then on.
    assert_eq!(
        s.register_reference_number(reference(&here, new, "A-3", 20))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.reference_numbers(&here, vec![new, old, unlinked])
            .await
            .unwrap(),
        vec![Some("A-3".into()), Some("A-1".into()), None]
    );
}

pub async fn reference_number_needs_a_known_qualification(s: &dyn Store) {
    let (here, _) = here_and_there();
    let err = s
        .register_reference_number(reference(&here, 424_242, "X-1", 0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownQualification(424_242)),
        "{err}"
    );
    assert_eq!(
        s.reference_numbers(&here, vec![424_242]).await.unwrap(),
        vec![None],
        "nothing was written"
    );
}

pub async fn batch_inquiries_lifecycle(s: &dyn Store) {
    let (here, there) = here_and_there();
    let at = |ms: i64| Timestamp::from_unix_millis(1_795_480_200_000 + ms);
    let new = |institution: &InstitutionCode, ms: i64, items: u32| NewBatchInquiry {
        institution: institution.clone(),
        submitted_at: at(ms),
        items,
        request_json: format!(r#"{{"items":{items}}}"#),
    };
    let ids = |v: Vec<StoredBatchInquiry>| v.iter().map(|b| b.id).collect::<Vec<_>>();
    let a = s.create_batch_inquiry(new(&here, 0, 2)).await.unwrap();
    let b = s.create_batch_inquiry(new(&here, 1_000, 3)).await.unwrap();
    let c = s.create_batch_inquiry(new(&there, 500, 1)).await.unwrap();
    assert!(a != b && b != c && a != c);

    // Unfinished, oldest first, with the request to resume from.
    let open = s.unfinished_batch_inquiries().await.unwrap();
    assert_eq!(ids(open.clone()), vec![a, c, b]);
    let submitted = StoredBatchInquiry {
        id: a,
        institution: here.clone(),
        submitted_at: at(0),
        items: 2,
        request_json: r#"{"items":2}"#.into(),
        finished_at: None,
        normal: 0,
        errors: 0,
        result_json: None,
    };
    assert_eq!(open[0], submitted);

    // Finished once; a second answer (or one for no such batch) changes nothing.
    let result = BatchInquiryResult {
        finished_at: at(2_000),
        normal: 1,
        errors: 1,
        result_json: r#"{"results":[1,2]}"#.into(),
    };
    assert!(s.finish_batch_inquiry(a, result.clone()).await.unwrap());
    let late = BatchInquiryResult {
        finished_at: at(3_000),
        normal: 2,
        errors: 0,
        result_json: "{}".into(),
    };
    assert!(!s.finish_batch_inquiry(a, late.clone()).await.unwrap());
    assert!(!s
        .finish_batch_inquiry(a.max(b).max(c) + 1_000, late)
        .await
        .unwrap());
    let finished = StoredBatchInquiry {
        finished_at: Some(at(2_000)),
        normal: 1,
        errors: 1,
        result_json: Some(r#"{"results":[1,2]}"#.into()),
        ..submitted
    };
    assert_eq!(
        s.batch_inquiry(&here, a).await.unwrap(),
        Some(finished.clone())
    );
    assert_eq!(
        ids(s.unfinished_batch_inquiries().await.unwrap()),
        vec![c, b]
    );

    // The listing: newest first, from `since` on, without the documents.
    let list = s.batch_inquiries(&here, at(0)).await.unwrap();
    assert_eq!(ids(list.clone()), vec![b, a]);
    assert_eq!(
        list[1],
        StoredBatchInquiry {
            request_json: String::new(),
            result_json: None,
            ..finished
        }
    );
    assert!(list[0].request_json.is_empty() && list[0].finished_at.is_none());
    assert_eq!(ids(s.batch_inquiries(&here, at(1)).await.unwrap()), vec![b]);

    // Another institution sees none of it.
    assert_eq!(s.batch_inquiry(&there, a).await.unwrap(), None);
    assert_eq!(s.batch_inquiry(&here, c).await.unwrap(), None);
    assert_eq!(
        ids(s.batch_inquiries(&there, at(0)).await.unwrap()),
        vec![c]
    );

    // Retention: everything submitted before the cut goes, finished or not.
    assert_eq!(s.purge_batch_inquiries(at(1_000)).await.unwrap(), 2);
    assert_eq!(s.batch_inquiry(&here, a).await.unwrap(), None);
    assert_eq!(ids(s.batch_inquiries(&here, at(0)).await.unwrap()), vec![b]);
    assert_eq!(ids(s.unfinished_batch_inquiries().await.unwrap()), vec![b]);
    assert_eq!(s.purge_batch_inquiries(at(1_000)).await.unwrap(), 0);
    // Ids (the 受付番号) are never reused, even once every batch is gone.
    assert_eq!(s.purge_batch_inquiries(at(10_000)).await.unwrap(), 1);
    let d = s.create_batch_inquiry(new(&here, 20_000, 1)).await.unwrap();
    assert!(d > a.max(b).max(c), "{d} reuses an id");
}

/// A valid 医療機関コード from its first 9 digits.
fn institution_code(body: &str) -> InstitutionCode {
    InstitutionCode::parse(&check_digit::complete(body).expect("digits")).expect("valid")
}

fn institution(
    body: &str,
    name: &str,
    kind: InstitutionKind,
    municipality: Option<&str>,
) -> Institution {
    Institution {
        code: institution_code(body),
        name: name.into(),
        kind,
        municipality: municipality.map(str::to_string),
    }
}

pub async fn institutions_upsert_and_look_up(s: &dyn Store) {
    assert!(s.all_institutions().await.unwrap().is_empty());
    let hospital = institution(
        "131000001",
        "架空総合病院",
        InstitutionKind::Hospital,
        Some("13101"),
    );
    let pharmacy = institution("014000002", "架空薬局", InstitutionKind::Pharmacy, None);
    s.upsert_institution(hospital.clone()).await.unwrap();
    s.upsert_institution(pharmacy.clone()).await.unwrap();
    let unknown = institution_code("273000003");
    let mut some = s
        .institutions(vec![
            hospital.code.clone(),
            unknown.clone(),
            pharmacy.code.clone(),
            hospital.code.clone(),
        ])
        .await
        .unwrap();
    some.sort_by(|a, b| a.code.as_str().cmp(b.code.as_str()));
    assert_eq!(
        some,
        vec![pharmacy.clone(), hospital.clone()],
        "unknown codes left out, each once"
    );
    assert!(s.institutions(vec![unknown]).await.unwrap().is_empty());
    assert!(s.institutions(vec![]).await.unwrap().is_empty());

    // A new registration replaces every field, the municipality included.
    let renamed = Institution {
        name: "架空クリニック".into(),
        kind: InstitutionKind::MedicalClinic,
        municipality: None,
        ..hospital.clone()
    };
    s.upsert_institution(renamed.clone()).await.unwrap();
    assert_eq!(
        s.institutions(vec![hospital.code.clone()]).await.unwrap(),
        vec![renamed.clone()]
    );
    assert_eq!(
        s.all_institutions().await.unwrap(),
        vec![pharmacy, renamed],
        "every institution, by code"
    );
}

pub async fn institution_blocks_newest_per_institution(s: &dyn Store) {
    let (here, there) = here_and_there();
    let at = |ms: i64| Timestamp::from_unix_millis(1_795_480_200_000 + ms);
    assert!(s.institution_blocks("p").await.unwrap().is_empty());
    s.set_institution_block("p", &here, true, at(0))
        .await
        .unwrap();
    s.set_institution_block("p", &there, true, at(1))
        .await
        .unwrap();
    s.set_institution_block("p", &here, false, at(2))
        .await
        .unwrap();
    s.set_institution_block("q", &here, true, at(3))
        .await
        .unwrap();
    let state = |institution: &InstitutionCode, blocked: bool, ms: i64| BlockState {
        institution: institution.clone(),
        blocked,
        at: at(ms),
    };
    assert_eq!(
        s.institution_blocks("p").await.unwrap(),
        vec![state(&here, false, 2), state(&there, true, 1)],
        "the newest decision of each institution, by code"
    );
    assert_eq!(
        s.institution_blocks("q").await.unwrap(),
        vec![state(&here, true, 3)]
    );
    s.set_institution_block("p", &here, true, at(4))
        .await
        .unwrap();
    assert_eq!(
        s.institution_blocks("p").await.unwrap()[0],
        state(&here, true, 4)
    );
}

pub async fn sharing_opt_out_newest_wins(s: &dyn Store) {
    let at = |ms: i64| Timestamp::from_unix_millis(1_795_480_200_000 + ms);
    assert!(!s.sharing_opted_out("p").await.unwrap(), "none: sharing");
    s.set_sharing_opt_out("p", true, at(0)).await.unwrap();
    assert!(s.sharing_opted_out("p").await.unwrap());
    assert!(!s.sharing_opted_out("q").await.unwrap());
    s.set_sharing_opt_out("p", false, at(1)).await.unwrap();
    assert!(!s.sharing_opted_out("p").await.unwrap());
    s.set_sharing_opt_out("p", true, at(2)).await.unwrap();
    assert!(s.sharing_opted_out("p").await.unwrap());
}

pub async fn consent_history_newest_first(s: &dyn Store) {
    let (here, there) = here_and_there();
    let at = |ms: i64| Timestamp::from_unix_millis(1_795_480_200_000 + ms);
    assert!(s.consent_history("p", 10).await.unwrap().is_empty());
    let meds = Consent::given("p", &here, ConsentCategory::Medications, at(0));
    let surgeries = Consent::given("p", &there, ConsentCategory::Surgeries, at(10));
    let others = Consent::given("q", &here, ConsentCategory::Medications, at(15));
    // A withdrawal: a consent that expires when it is given.
    let withdrawn = Consent {
        expires_at: at(20),
        ..Consent::given("p", &here, ConsentCategory::Medications, at(20))
    };
    let checkups = Consent::given("p", &here, ConsentCategory::Checkups, at(30));
    s.record_consents(vec![meds.clone(), surgeries.clone(), others.clone()])
        .await
        .unwrap();
    s.record_consents(vec![withdrawn.clone()]).await.unwrap();
    s.record_consents(vec![checkups.clone()]).await.unwrap();
    assert_eq!(
        s.consent_history("p", 10).await.unwrap(),
        vec![checkups.clone(), withdrawn.clone(), surgeries, meds]
    );
    assert_eq!(
        s.consent_history("p", 2).await.unwrap(),
        vec![checkups, withdrawn]
    );
    assert_eq!(s.consent_history("q", 10).await.unwrap(), vec![others]);
}

pub async fn access_for_several_qualifications(s: &dyn Store) {
    s.import_roster(roster(vec![
        qualification("1", "10", Some("00"), "19800101"),
        qualification("1", "20", Some("00"), "19800101"),
        qualification("1", "30", Some("00"), "19800101"),
    ]))
    .await
    .unwrap();
    let ids = ids_of(s, &["10", "20", "30"]).await;
    let (q1, q2, q3) = (ids[0], ids[1], ids[2]);
    let mut both = vec![q1, q2];
    both.sort_unstable();
    let t0 = 1_795_480_200_000;
    let a = s.append_access(access(vec![q1], t0)).await.unwrap();
    let b = s
        .append_access(access(both.clone(), t0 + 1_000))
        .await
        .unwrap();
    let c = s.append_access(access(vec![q3], t0 + 2_000)).await.unwrap();
    let emergency = AccessLogEntry {
        purpose: AccessPurpose::MedicalInformation,
        result: AccessResult::Disclosed(3),
        information: Some(InformationAccess {
            category: ConsentCategory::Medications,
            from: day("20231101"),
            to: day("20261124"),
            basis: AccessBasis::Emergency,
        }),
        ..access(vec![q2], t0 + 3_000)
    };
    let d = s.append_access(emergency.clone()).await.unwrap();
    s.append_access(access(vec![], t0 + 4_000)).await.unwrap();
    let ids_of_log = |v: Vec<crate::StoredAccess>| v.iter().map(|a| a.id).collect::<Vec<_>>();

    // Each entry once (b touched both), newest first, whole.
    let log = s.access_for_qualifications(vec![q1, q2], 10).await.unwrap();
    assert_eq!(ids_of_log(log.clone()), vec![d, b, a]);
    assert_eq!(log[0].entry, emergency, "information columns round-trip");
    assert_eq!(
        log[1].entry,
        access(both.clone(), t0 + 1_000),
        "every qualification the entry touched"
    );
    assert_eq!(
        ids_of_log(s.access_for_qualifications(vec![q2, q1], 2).await.unwrap()),
        vec![d, b],
        "at most the limit, the newest"
    );
    assert_eq!(
        ids_of_log(
            s.access_for_qualifications(vec![q3, q1, q3], 10)
                .await
                .unwrap()
        ),
        vec![c, b, a]
    );
    assert_eq!(
        ids_of_log(s.access_for_qualifications(vec![q3], 10).await.unwrap()),
        vec![c]
    );
    assert!(s
        .access_for_qualifications(vec![], 10)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .access_for_qualifications(vec![q3.max(q2).max(q1) + 1_000], 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn emergency_declarations_window(s: &dyn Store) {
    let t0 = 1_795_480_200_000;
    let at = |ms: i64| Timestamp::from_unix_millis(t0 + ms);
    let new = |areas: &[&str], from: i64, to: i64, declared: i64| NewEmergencyDeclaration {
        areas: areas.iter().map(|a| a.to_string()).collect(),
        starts_at: at(from),
        ends_at: at(to),
        reason: "令和X年架空地震".into(),
        declared_by: "admin:ops".into(),
        declared_at: at(declared),
    };
    let stored = |id: i64, n: &NewEmergencyDeclaration, ended: Option<i64>| EmergencyDeclaration {
        id,
        areas: n.areas.clone(),
        starts_at: n.starts_at,
        ends_at: n.ends_at,
        reason: n.reason.clone(),
        declared_by: n.declared_by.clone(),
        declared_at: n.declared_at,
        ended_at: ended.map(at),
    };
    let ids = |v: Vec<EmergencyDeclaration>| v.iter().map(|d| d.id).collect::<Vec<_>>();
    assert!(s.active_emergencies(at(0)).await.unwrap().is_empty());
    assert!(s.emergencies(10).await.unwrap().is_empty());

    let first = new(&["13", "27100"], 1_000, 5_000, 0);
    let a = s.declare_emergency(first.clone()).await.unwrap();
    // In force on [starts_at, ends_at).
    for (ms, active) in [(999, false), (1_000, true), (4_999, true), (5_000, false)] {
        assert_eq!(
            ids(s.active_emergencies(at(ms)).await.unwrap()),
            if active { vec![a] } else { vec![] },
            "at +{ms} ms"
        );
    }
    assert_eq!(
        s.active_emergencies(at(1_000)).await.unwrap(),
        vec![stored(a, &first, None)],
        "areas in the order given"
    );

    // Ended early: in force until then; ending again, or one already over, does nothing.
    let second = new(&["01"], 0, 10_000, 100);
    let b = s.declare_emergency(second.clone()).await.unwrap();
    assert_ne!(a, b);
    assert!(s.end_emergency(b, at(3_000)).await.unwrap());
    assert!(!s.end_emergency(b, at(3_500)).await.unwrap(), "ended twice");
    assert!(
        !s.end_emergency(a, at(5_000)).await.unwrap(),
        "already over"
    );
    assert!(!s.end_emergency(a.max(b) + 1_000, at(0)).await.unwrap());
    assert_eq!(
        ids(s.active_emergencies(at(2_999)).await.unwrap()),
        vec![a, b]
    );
    assert_eq!(ids(s.active_emergencies(at(3_000)).await.unwrap()), vec![a]);
    assert!(s.active_emergencies(at(6_000)).await.unwrap().is_empty());

    // Every declaration, newest first, ended or not.
    assert_eq!(
        s.emergencies(10).await.unwrap(),
        vec![stored(b, &second, Some(3_000)), stored(a, &first, None)]
    );
    assert_eq!(ids(s.emergencies(1).await.unwrap()), vec![b]);
}

pub async fn find_by_attributes_folds_and_narrows(s: &dyn Store) {
    let person = |number: &str, name: &str, sex: Sex, birth: &str, address: Option<&str>| {
        let mut q = qualification("1", number, Some("00"), birth);
        q.name = name.into();
        q.sex = sex;
        q.address = address.map(str::to_string);
        q
    };
    let hanako = "試験\u{3000}花子";
    let smith = person(
        "10",
        "ＳＭＩＴＨ\u{3000}ＪＯＨＮ",
        Sex::Male,
        "19800101",
        Some("東京都千代田区霞が関１－２－２"),
    );
    let osaka = person(
        "20",
        hanako,
        Sex::Female,
        "19800101",
        Some("大阪府大阪市北区"),
    );
    let tokyo = person(
        "30",
        hanako,
        Sex::Female,
        "19800101",
        Some("東京都港区芝公園"),
    );
    let nowhere = person("40", hanako, Sex::Female, "19800101", None);
    let younger = person(
        "50",
        hanako,
        Sex::Female,
        "19900101",
        Some("東京都港区芝公園"),
    );
    let renamed_before = person("60", "旧姓\u{3000}花子", Sex::Female, "19800101", None);
    let renamed = Qualification {
        name: "新姓\u{3000}花子".into(),
        ..renamed_before.clone()
    };
    let mut import = roster(vec![
        smith.clone(),
        osaka.clone(),
        tokyo.clone(),
        nowhere.clone(),
        younger,
        renamed_before,
    ]);
    import.links = vec![None, linked("person-osaka"), None, None, None, None];
    s.import_roster(import).await.unwrap();
    s.import_roster(roster(vec![renamed.clone()]))
        .await
        .unwrap();

    let query = |name: &str, sex: Sex, birth: &str, address: Option<&str>| AttributeQuery {
        name_key: text::match_key(name),
        birthdate: day(birth),
        sex,
        address_key: address.map(text::match_key),
    };
    let find = |q: AttributeQuery, limit: u32| async move {
        let mut found: Vec<Qualification> = s
            .find_by_attributes(&q, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.qualification)
            .collect();
        found.sort_by(|a, b| a.card.number.key().cmp(b.card.number.key()));
        found
    };
    let m = Sex::Male;
    let f = Sex::Female;
    let cases: Vec<(AttributeQuery, Vec<&Qualification>)> = vec![
        // Full-width stored, half-width asked (and the other way round), spaces ignored.
        (query("Smith John", m, "19800101", None), vec![&smith]),
        (
            query("ｓｍｉｔｈｊｏｈｎ", m, "19800101", None),
            vec![&smith],
        ),
        (query("SMITH  JOHN ", m, "19800101", None), vec![&smith]),
        (query("Smith John", f, "19800101", None), vec![]),
        (query("Smith John", m, "19800102", None), vec![]),
        (query("Smith Jon", m, "19800101", None), vec![]),
        (query(" \u{3000}", m, "19800101", None), vec![]),
        // The address narrows by its folded prefix.
        (
            query("Smith John", m, "19800101", Some("東京都千代田区")),
            vec![&smith],
        ),
        (
            query("Smith John", m, "19800101", Some("東京都千代田区霞が関1-2")),
            vec![&smith],
        ),
        (
            query("Smith John", m, "19800101", Some("東京都港区")),
            vec![],
        ),
        // Several people with the same name and birth date are all returned.
        (
            query("試験 花子", f, "19800101", None),
            vec![&osaka, &tokyo, &nowhere],
        ),
        (
            query("試験花子", f, "19800101", Some("東京都")),
            vec![&tokyo],
        ),
        (
            query("試験　花子", f, "19800101", Some("大阪府")),
            vec![&osaka],
        ),
        // Only the current version's name counts.
        (query("旧姓花子", f, "19800101", None), vec![]),
        (query("新姓 花子", f, "19800101", None), vec![&renamed]),
    ];
    for (q, expected) in cases {
        let what = format!("{q:?}");
        let expected: Vec<Qualification> = expected.into_iter().cloned().collect();
        assert_eq!(find(q, 10).await, expected, "{what}");
    }
    assert_eq!(
        find(query("試験花子", f, "19800101", None), 2).await.len(),
        2,
        "at most the limit"
    );

    // The person link and the current version come along, as with a card query.
    let found = s
        .find_by_attributes(&query("試験花子", f, "19800101", Some("大阪")), 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].person.as_deref(), Some("person-osaka"));
    let by_card = s.find_qualifications(&query_card("20")).await.unwrap();
    assert_eq!(found, by_card);
    let found = s
        .find_by_attributes(&query("新姓花子", f, "19800101", None), 10)
        .await
        .unwrap();
    assert_eq!((found[0].version, found[0].person.as_deref()), (2, None));
}

fn query_card(number: &str) -> CardQuery {
    query("1", number, None, "19800101")
}

pub async fn access_counts_group_one_period(s: &dyn Store) {
    use crate::{AccessCount, ResultKind};
    s.import_roster(roster(vec![qualification(
        "12",
        "345",
        Some("00"),
        "19700101",
    )]))
    .await
    .unwrap();
    let qid = s
        .find_qualifications(&query("12", "345", None, "19700101"))
        .await
        .unwrap()[0]
        .id;
    let clinic = InstitutionCode::parse("0110113719").unwrap();
    let pharmacy = InstitutionCode::parse(&check_digit::complete("134000001").unwrap()).unwrap();
    // 2026-03-01 00:00 JST to 2026-04-01 00:00 JST.
    let from = Timestamp::parse_jst_compact("20260301000000").unwrap();
    let to = Timestamp::parse_jst_compact("20260401000000").unwrap();
    let t = |offset: i64| from.unix_millis() + offset;
    let at = |institution: &InstitutionCode,
              purpose: AccessPurpose,
              result: AccessResult,
              category: Option<ConsentCategory>,
              ms: i64| AccessLogEntry {
        institution: institution.clone(),
        purpose,
        result,
        information: category.map(|category| InformationAccess {
            category,
            from: day("20210301"),
            to: day("20260301"),
            basis: AccessBasis::Consent,
        }),
        ..access(vec![qid], ms)
    };
    use AccessPurpose::*;
    let refused = |code: &str| AccessResult::Refused(code.into());
    let entries = [
        // Outside the period: the instant before it, and its end.
        at(
            &clinic,
            EligibilityByNumbers,
            AccessResult::Answered(Validity::Valid),
            None,
            t(-1),
        ),
        at(
            &clinic,
            EligibilityByNumbers,
            AccessResult::Answered(Validity::Valid),
            None,
            to.unix_millis(),
        ),
        // Every validity is an answer; the first instant counts.
        at(
            &clinic,
            EligibilityByNumbers,
            AccessResult::Answered(Validity::Valid),
            None,
            t(0),
        ),
        at(
            &clinic,
            EligibilityByNumbers,
            AccessResult::Answered(Validity::NotFound),
            None,
            t(10),
        ),
        at(
            &clinic,
            EligibilityBatch,
            AccessResult::Answered(Validity::Invalid),
            None,
            t(20),
        ),
        at(
            &pharmacy,
            EligibilityByCard,
            AccessResult::Answered(Validity::Valid),
            None,
            t(30),
        ),
        at(
            &pharmacy,
            EligibilityByCard,
            refused("pin_signature_invalid"),
            None,
            t(40),
        ),
        at(
            &pharmacy,
            EligibilityByCard,
            refused("certificate_revoked"),
            None,
            t(50),
        ),
        at(
            &pharmacy,
            CardRegistration,
            AccessResult::Registered,
            None,
            t(60),
        ),
        // Shown with nothing in it is still a view.
        at(
            &pharmacy,
            MedicalInformation,
            AccessResult::Disclosed(3),
            Some(ConsentCategory::Medications),
            t(70),
        ),
        at(
            &pharmacy,
            MedicalInformation,
            AccessResult::Disclosed(0),
            Some(ConsentCategory::Medications),
            t(80),
        ),
        at(
            &pharmacy,
            MedicalInformation,
            refused("consent_required"),
            Some(ConsentCategory::Checkups),
            t(90),
        ),
        at(
            &pharmacy,
            MedicalInformation,
            AccessResult::Disclosed(1),
            Some(ConsentCategory::Surgeries),
            to.unix_millis() - 1,
        ),
    ];
    for e in entries {
        s.append_access(e).await.unwrap();
    }
    let count = |institution: &InstitutionCode,
                 purpose: AccessPurpose,
                 category: Option<ConsentCategory>,
                 result: ResultKind,
                 count: u64| AccessCount {
        institution: institution.clone(),
        purpose,
        category,
        result,
        count,
    };
    use ConsentCategory::{Checkups, Medications, Surgeries};
    // Sorted by institution, purpose code, category (none first) and result kind.
    assert_eq!(
        s.access_counts(from, to).await.unwrap(),
        vec![
            count(&clinic, EligibilityBatch, None, ResultKind::Answered, 1),
            count(&clinic, EligibilityByNumbers, None, ResultKind::Answered, 2),
            count(&pharmacy, CardRegistration, None, ResultKind::Registered, 1),
            count(&pharmacy, EligibilityByCard, None, ResultKind::Answered, 1),
            count(&pharmacy, EligibilityByCard, None, ResultKind::Refused, 2),
            count(
                &pharmacy,
                MedicalInformation,
                Some(Checkups),
                ResultKind::Refused,
                1
            ),
            count(
                &pharmacy,
                MedicalInformation,
                Some(Medications),
                ResultKind::Disclosed,
                2
            ),
            count(
                &pharmacy,
                MedicalInformation,
                Some(Surgeries),
                ResultKind::Disclosed,
                1
            ),
        ]
    );
    // Periods are half-open: the end instant is the next period's.
    assert_eq!(
        s.access_counts(to, Timestamp::from_unix_millis(to.unix_millis() + 1))
            .await
            .unwrap(),
        vec![count(
            &clinic,
            EligibilityByNumbers,
            None,
            ResultKind::Answered,
            1
        )]
    );
    assert!(s.access_counts(from, from).await.unwrap().is_empty());
}

pub async fn insurer_freshness_counts_and_lags(s: &dyn Store) {
    use crate::{InsurerFreshness, LagSummary};
    let kenpo = "06139992";
    let kyokai = check_digit::complete("0113001").unwrap();
    let other = check_digit::complete("0627001").unwrap();
    let of = |insurer: &str, number: &str, acquired: Date| {
        let mut q = qualification("1", number, Some("00"), "19800101");
        q.card = CardIdentity::new(
            InsurerNumber::parse(insurer).unwrap(),
            q.card.symbol.clone(),
            q.card.number.clone(),
            q.card.branch,
        )
        .unwrap();
        q.qualification_date = acquired;
        q
    };
    let since = Timestamp::parse_jst_compact("20260301000000").unwrap();
    let when = |day: u32| Timestamp::parse_jst_compact(&format!("202603{day:02}100000")).unwrap();
    let import = |actor: &str, at: Timestamp, qs: Vec<Qualification>| RosterImport {
        actor: actor.into(),
        received_at: at,
        ..roster(qs)
    };
    let before = |at: Timestamp, days: i64| at.jst_date().add_days(-days).unwrap();
    // Before the period: a seed load of kenpo and of an insurer nobody has sent since.
    let q1 = of(kenpo, "1", day("20200401"));
    let forgotten = of(&other, "9", day("20200401"));
    s.import_roster(import(
        "seed",
        Timestamp::from_unix_millis(since.unix_millis() - 86_400_000),
        vec![q1.clone(), forgotten],
    ))
    .await
    .unwrap();
    // Kenpo's own uploads: two new people 3 and 10 days late; then q1 lost 5 days ago (q2
    // unchanged); then nothing changed at all (still an import).
    let q2 = of(kenpo, "2", before(when(2), 3));
    let q3 = of(kenpo, "3", before(when(2), 10));
    s.import_roster(import("insurer:06139992", when(2), vec![q2.clone(), q3]))
        .await
        .unwrap();
    let mut q1_lost = q1.clone();
    q1_lost.disqualification_date = Some(before(when(3), 5));
    q1_lost.loss_reason = Some(LossReason::OtherInsurance);
    s.import_roster(import(
        "insurer:06139992",
        when(3),
        vec![q1_lost.clone(), q2.clone()],
    ))
    .await
    .unwrap();
    let unchanged = s
        .import_roster(import("insurer:06139992", when(4), vec![q1_lost, q2]))
        .await
        .unwrap();
    assert_eq!(unchanged.unchanged, 2);
    // Another insurer's row brought by the seed, ahead of its date.
    let ahead = of(&kyokai, "4", when(5).jst_date().add_days(10).unwrap());
    s.import_roster(import("seed", when(5), vec![ahead]))
        .await
        .unwrap();

    let lag = |sampled: u64, median: Option<i64>, p90: Option<i64>| LagSummary {
        sampled,
        median_days: median,
        p90_days: p90,
    };
    let fresh =
        |insurer: &str, last: Option<Timestamp>, imports, rows, acquired, lost| InsurerFreshness {
            insurer: InsurerNumber::parse(insurer).unwrap(),
            last_import_at: last,
            imports,
            rows,
            acquired,
            lost,
        };
    let mut expected = vec![
        fresh(
            &kyokai,
            Some(when(5)),
            1,
            1,
            lag(1, Some(0), Some(0)),
            lag(0, None, None),
        ),
        fresh(&other, None, 0, 0, lag(0, None, None), lag(0, None, None)),
        fresh(
            kenpo,
            Some(when(4)),
            3,
            3,
            lag(2, Some(3), Some(10)),
            lag(1, Some(5), Some(5)),
        ),
    ];
    expected.sort_by(|a, b| a.insurer.as_str().cmp(b.insurer.as_str()));
    assert_eq!(s.insurer_freshness(since).await.unwrap(), expected);

    // From a later instant only the later imports count; kenpo's own last upload stays known.
    let later = s.insurer_freshness(when(5)).await.unwrap();
    let kenpo_later = later.iter().find(|f| f.insurer.as_str() == kenpo).unwrap();
    assert_eq!(
        kenpo_later,
        &fresh(
            kenpo,
            Some(when(4)),
            0,
            0,
            lag(0, None, None),
            lag(0, None, None)
        )
    );
}

/// The client-certificate registry: a serial is recorded once (a second record of it changes
/// nothing), listed newest first, revoked once (the first revocation stands: later ones say so
/// and change nothing), an unknown serial says so, and the revoked serials are exactly those.
pub async fn client_certificates_registry(s: &dyn Store) {
    use crate::{CertificateRevocation, ClientCertificate, RevokeOutcome};
    let ts = Timestamp::from_unix_millis;
    let cert = |serial: &str, kind: &str, subject: &str, at: i64| ClientCertificate {
        serial: serial.into(),
        kind: kind.into(),
        subject: subject.into(),
        not_before: ts(at - 86_400_000),
        not_after: ts(at + 2 * 365 * 86_400_000),
        recorded_at: ts(at),
        issued_by: Some("admin:ops1".into()),
        revocation: None,
    };
    let clinic = cert("0a1b", "institution", "1312345678", 1_000);
    let insurer = ClientCertificate {
        issued_by: None,
        ..cert("7f00", "insurer", "06139992", 2_000)
    };
    assert!(s.record_client_certificate(clinic.clone()).await.unwrap());
    assert!(s.record_client_certificate(insurer.clone()).await.unwrap());
    let again = ClientCertificate {
        subject: "9999999999".into(),
        ..clinic.clone()
    };
    assert!(!s.record_client_certificate(again).await.unwrap());
    assert_eq!(
        s.client_certificates(10).await.unwrap(),
        vec![insurer.clone(), clinic.clone()]
    );
    assert_eq!(
        s.client_certificates(1).await.unwrap(),
        vec![insurer.clone()]
    );
    assert!(s.revoked_certificate_serials().await.unwrap().is_empty());

    let first = CertificateRevocation {
        at: ts(3_000),
        reason: "key_compromise".into(),
        by: "admin:ops1".into(),
    };
    assert_eq!(
        s.revoke_client_certificate("0a1b", first.clone())
            .await
            .unwrap(),
        RevokeOutcome::Revoked
    );
    let later = CertificateRevocation {
        at: ts(4_000),
        reason: "superseded".into(),
        by: "admin:ops2".into(),
    };
    assert_eq!(
        s.revoke_client_certificate("0a1b", later).await.unwrap(),
        RevokeOutcome::AlreadyRevoked
    );
    assert_eq!(
        s.revoke_client_certificate("dead", first.clone())
            .await
            .unwrap(),
        RevokeOutcome::Unknown
    );
    let listed = s.client_certificates(10).await.unwrap();
    assert_eq!(
        listed[1].revocation,
        Some(first),
        "the first revocation stands"
    );
    assert_eq!(listed[0].revocation, None);
    assert_eq!(
        s.revoked_certificate_serials().await.unwrap(),
        vec!["0a1b".to_string()]
    );
}

/// Presence: the latest time per institution wins whatever order nodes write in; counts split
/// at `recent` and ignore anything before `since`.
pub async fn presence_keeps_the_latest(s: &dyn Store) {
    let ts = Timestamp::from_unix_millis;
    let code = institution_code;
    assert_eq!(s.presence_counts(ts(0), ts(0)).await.unwrap(), (0, 0));
    s.note_presence(vec![
        (code("131000001"), ts(5_000)),
        (code("131000002"), ts(1_000)),
    ])
    .await
    .unwrap();
    // Another node's older sighting of the first, and a batch naming one twice.
    s.note_presence(vec![
        (code("131000001"), ts(2_000)),
        (code("131000003"), ts(100)),
        (code("131000003"), ts(3_000)),
    ])
    .await
    .unwrap();
    s.note_presence(vec![]).await.unwrap();
    // Active since 3,000: 001 (5,000) and 003 (3,000); silent: 002 (1,000).
    assert_eq!(s.presence_counts(ts(3_000), ts(0)).await.unwrap(), (2, 1));
    assert_eq!(
        s.presence_counts(ts(4_000), ts(2_000)).await.unwrap(),
        (1, 1)
    );
    assert_eq!(
        s.presence_counts(ts(6_000), ts(6_000)).await.unwrap(),
        (0, 0)
    );
}

/// Idempotency keys: the first claim runs, a concurrent one waits, the answer is replayed to a
/// retry with the same request, another request under the key is refused, a released claim
/// runs again, a claim abandoned by a dead node is taken over, and keys are per caller.
pub async fn idempotency_keys_replay_once(s: &dyn Store) {
    use crate::{IdempotencyBegin as B, IdempotentAnswer};
    let ts = Timestamp::from_unix_millis;
    let begin = |caller: &'static str, key: &'static str, f: &'static str, at: i64| async move {
        s.idempotency_begin(caller, key, f, ts(at), 60_000)
            .await
            .unwrap()
    };
    assert_eq!(begin("insurer:06139992", "k1", "f1", 1_000).await, B::Fresh);
    assert_eq!(
        begin("insurer:06139992", "k1", "f1", 1_500).await,
        B::InProgress
    );
    assert_eq!(
        begin("insurer:06139992", "k1", "f2", 1_500).await,
        B::Mismatch
    );
    // Another caller's key of the same name is its own.
    assert_eq!(begin("insurer:01130012", "k1", "f2", 1_500).await, B::Fresh);
    let answer = IdempotentAnswer {
        status: 200,
        content_type: "application/json".into(),
        body: br#"{"accepted":true}"#.to_vec(),
    };
    s.idempotency_finish("insurer:06139992", "k1", Some(answer.clone()))
        .await
        .unwrap();
    assert_eq!(
        begin("insurer:06139992", "k1", "f1", 2_000).await,
        B::Replay {
            status: answer.status,
            content_type: answer.content_type.clone(),
            body: answer.body.clone()
        }
    );
    assert_eq!(
        begin("insurer:06139992", "k1", "f2", 2_000).await,
        B::Mismatch
    );
    // A finished answer is never overwritten.
    s.idempotency_finish("insurer:06139992", "k1", None)
        .await
        .unwrap();
    assert!(matches!(
        begin("insurer:06139992", "k1", "f1", 2_000).await,
        B::Replay { .. }
    ));
    // Released: runs again.
    assert_eq!(begin("admin:ops", "k2", "f", 3_000).await, B::Fresh);
    s.idempotency_finish("admin:ops", "k2", None).await.unwrap();
    assert_eq!(begin("admin:ops", "k2", "f", 3_100).await, B::Fresh);
    // Abandoned (its node died): taken over after the stale time; a live one keeps its claim.
    assert_eq!(begin("admin:ops", "k2", "f", 3_200).await, B::InProgress);
    s.idempotency_touch("admin:ops", "k2", ts(50_000))
        .await
        .unwrap();
    assert_eq!(
        begin("admin:ops", "k2", "f", 3_100 + 60_001).await,
        B::InProgress
    );
    s.idempotency_touch("admin:ops", "k2", ts(3_100))
        .await
        .unwrap();
    assert_eq!(
        begin("admin:ops", "k2", "f", 3_100 + 60_001).await,
        B::Fresh
    );
    assert_eq!(s.purge_idempotency(ts(3_000)).await.unwrap(), 2);
    assert_eq!(
        begin("insurer:06139992", "k1", "f2", 70_000).await,
        B::Fresh
    );
}

/// Expands to one `#[tokio::test]` per contract check. `$make` is an async expression that
/// returns `Option<(guard, Arc<dyn Store>)>`; the guard lives as long as the test (e.g. a temp
/// dir); `None` skips the test (the backend is not installed and said so).
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@each $make;
            import_is_idempotent, change_keeps_history, find_matches_card_and_birthdate,
            certificates_round_trip, duplicate_keys_write_nothing, access_log_appends_and_reads,
            samples_are_real_queries, links_follow_the_authority, nonces_are_spent_once,
            card_registration_is_kept_once, consents_newest_per_category,
            receipts_match_wait_and_purge, masters_keep_editions, checkups_match_and_read,
            information_reads_are_logged, institution_blocks_newest_wins,
            reference_numbers_replace_and_align, reference_numbers_follow_the_person,
            reference_number_needs_a_known_qualification, batch_inquiries_lifecycle,
            institutions_upsert_and_look_up, institution_blocks_newest_per_institution,
            sharing_opt_out_newest_wins, consent_history_newest_first,
            access_for_several_qualifications, emergency_declarations_window,
            find_by_attributes_folds_and_narrows, access_counts_group_one_period,
            insurer_freshness_counts_and_lags, client_certificates_registry,
            presence_keeps_the_latest, idempotency_keys_replay_once,
            bulk_load_appends_then_builds_indexes, bulk_load_refuses_a_key_twice);
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn concurrent_appends_all_land() {
            let Some((_guard, store)) = $make.await else { return };
            $crate::contract::concurrent_appends_all_land(store).await;
        }
    };
    (@each $make:expr; $($name:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some((_guard, store)) = $make.await else { return };
            $crate::contract::$name(&*store).await;
        }
    )*};
}
