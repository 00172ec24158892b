//! Medical information through the central's use cases: the real UKE sample and our 調剤 and
//! 特定健診 fixtures import completely; bad files are refused whole; a person's medications,
//! treatments, surgeries and checkups are shown only to an institution that checked them today
//! and holds their consent, and every read and refusal is in the access log.

use kakunin_api::MedicalInformationRequest;
use kakunin_central::medical::{self, InfoError};
use kakunin_central::service::Scope;
use kakunin_domain::{
    AccessBasis, AccessLogEntry, AccessPurpose, AccessResult, CardIdentity, CardNumber, CardSymbol,
    Consent, ConsentCategory, Date, InstitutionCode, InsurerNumber, Timestamp, Validity,
};
use kakunin_formats::uke;
use kakunin_store::{LinkDecision, MasterKind, RosterImport, SqliteStore, Store};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../formats/tests/fixtures")
        .join(path)
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(fixture(path)).unwrap()
}

/// 2021-11-20 10:00 JST: within a month of the sample's 診療年月 (2021-10).
fn now() -> Timestamp {
    Timestamp::from_unix_millis(1_637_370_000_000)
}

fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("kakunin.db")).unwrap();
    (dir, Arc::new(s))
}

fn here() -> InstitutionCode {
    InstitutionCode::parse("0110113719").unwrap()
}

fn elsewhere() -> InstitutionCode {
    (0..10)
        .find_map(|d| InstitutionCode::parse(&format!("131000000{d}")).ok())
        .unwrap()
}

#[tokio::test]
async fn the_golden_sample_imports_completely_once() {
    let (_d, s) = store();
    let bytes = read("uke/RECEIPTC_GAIRAI_SAMPLE.UKE");
    let r = medical::import_receipts(&*s, "admin:test", &bytes, now())
        .await
        .unwrap();
    assert!(r.accepted, "{:?}", r.errors);
    assert_eq!(r.file_kind.as_deref(), Some("medical"));
    assert_eq!((r.receipts, r.unknown_records), (75, 0));
    assert_eq!(r.records, 636, "every record of the file was read");
    // Nobody is on a roster yet: every receipt is kept for later matching.
    assert_eq!((r.matched, r.unmatched), (0, 75));
    assert_eq!(s.medical_counts().await.unwrap().unmatched_receipts, 75);
    let again = medical::import_receipts(&*s, "admin:test", &bytes, now())
        .await
        .unwrap();
    assert!(again.accepted && again.duplicate);
    assert_eq!(s.medical_counts().await.unwrap().receipts, 75);
}

#[tokio::test]
async fn our_pharmacy_fixture_imports() {
    let (_d, s) = store();
    let r = medical::import_receipts(&*s, "admin:test", &read("uke/CHOZAI_SAMPLE.UKE"), now())
        .await
        .unwrap();
    assert!(r.accepted, "{:?}", r.errors);
    assert_eq!(r.file_kind.as_deref(), Some("pharmacy"));
    assert_eq!(r.receipts, 2);
}

#[tokio::test]
async fn bad_uke_files_are_refused_whole() {
    let (_d, s) = store();
    let good = read("uke/RECEIPTC_GAIRAI_SAMPLE.UKE");
    let text = encoding_rs::SHIFT_JIS.decode(&good).0.into_owned();
    let enc = |t: &str| encoding_rs::SHIFT_JIS.encode(t).0.into_owned();
    // Cut in the middle of a line: no trailer, no line end.
    let truncated = good[..good.len() / 2].to_vec();
    // UTF-8 where CP932 is expected.
    let utf8 = text.clone().into_bytes();
    // A record with too few fields.
    let short = enc(&text.replacen("HO,01010016,１,１,1,13642,,,,,,,,,", "HO,01010016", 1));
    // An impossible birth date.
    let bad_date = enc(&text.replacen("19911121", "19910231", 1));
    for (what, bytes, code) in [
        ("truncated", truncated, "missing_trailer"),
        ("utf8", utf8, "encoding"),
        ("too few fields", short, "too_few_fields"),
        ("impossible date", bad_date, "invalid_date"),
        ("empty", Vec::new(), "empty"),
    ] {
        let r = medical::import_receipts(&*s, "admin:test", &bytes, now())
            .await
            .unwrap();
        assert!(!r.accepted, "{what}");
        assert!(
            r.errors.iter().any(|e| e.code == code),
            "{what}: {:?}",
            r.errors
        );
        assert!(r.errors.iter().all(|e| !e.message.is_empty()));
    }
    assert_eq!(
        s.medical_counts().await.unwrap().receipts,
        0,
        "nothing half-imported"
    );
}

/// The roster row of a sample receipt's patient, linked to a person.
fn roster_for(receipt: &uke::Receipt, person: &str) -> Option<RosterImport> {
    let insurer = InsurerNumber::parse(receipt.insurer_number()?).ok()?;
    let symbol = receipt.symbol().map(|s| CardSymbol::parse(s).unwrap());
    let number = CardNumber::parse(receipt.number()?).ok()?;
    let branch = receipt
        .branch()
        .map(|b| kakunin_domain::Branch::parse(b).unwrap());
    let card = CardIdentity::new(insurer, symbol, number, branch).ok()?;
    let mut q = kakunin_store::contract::qualification("1", "1", None, "19800101");
    q.card = card;
    q.birthdate = receipt.birth_date()?;
    q.name = receipt.patient_name().to_string();
    Some(RosterImport {
        links: vec![Some(LinkDecision::Linked {
            pseudonym: person.into(),
        })],
        ..kakunin_store::contract::roster(vec![q])
    })
}

struct Patient {
    request: MedicalInformationRequest,
    qualification_id: i64,
}

/// Imports the sample and masters, registers the patient of the sample receipt with the most
/// drug lines, and returns them.
async fn sample_patient(s: &dyn Store) -> Patient {
    for (kind, file) in [
        (MasterKind::Drug, "masters/y_ALL00000000.csv"),
        (MasterKind::Procedure, "masters/s_ALL00000000.csv"),
    ] {
        let r = medical::import_masters(s, "admin:test", kind, &read(file), now())
            .await
            .unwrap();
        assert!(r.accepted, "{:?}", r.errors);
    }
    let bytes = read("uke/RECEIPTC_GAIRAI_SAMPLE.UKE");
    let file = uke::parse(&bytes).unwrap();
    let receipt = file
        .receipts
        .iter()
        .filter(|r| roster_for(r, "x").is_some())
        .max_by_key(|r| uke::derive::derive(file.kind, r).drugs.len())
        .expect("a sample receipt with valid insurance numbers");
    let out = s
        .import_roster(roster_for(receipt, "person-1").unwrap())
        .await
        .unwrap();
    assert_eq!(out.linked, 1);
    let r = medical::import_receipts(s, "admin:test", &bytes, now())
        .await
        .unwrap();
    assert!(r.matched >= 1, "the registered patient's receipts match");
    let request = MedicalInformationRequest {
        insurer_number: receipt.insurer_number().unwrap().into(),
        symbol: receipt.symbol().map(str::to_string),
        number: receipt.number().unwrap().into(),
        branch: receipt.branch().map(str::to_string),
        birthdate: receipt.birth_date().unwrap().compact(),
        start_date: Some("20210101".into()),
        end_date: None,
    };
    let qualification_id = s.find_by_person("person-1").await.unwrap()[0].id;
    Patient {
        request,
        qualification_id,
    }
}

async fn checked(s: &dyn Store, p: &Patient, institution: &InstitutionCode, at: Timestamp) {
    s.append_access(AccessLogEntry {
        at,
        institution: institution.clone(),
        purpose: AccessPurpose::EligibilityByCard,
        qualification_ids: vec![p.qualification_id],
        result: AccessResult::Answered(Validity::Valid),
        processing_code: "OK".into(),
        information: None,
    })
    .await
    .unwrap();
}

async fn consent(s: &dyn Store, institution: &InstitutionCode, c: ConsentCategory, at: Timestamp) {
    s.record_consents(vec![Consent::given("person-1", institution, c, at)])
        .await
        .unwrap();
}

fn refused_code(e: InfoError) -> String {
    match e {
        InfoError::Refused(e) => {
            assert!(!e.message.is_empty() && e.message.is_char_boundary(0));
            e.code
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn information_needs_todays_check_and_a_valid_consent() {
    let (_d, s) = store();
    let p = sample_patient(&*s).await;
    let t = now();
    let at = |mins: i64| Timestamp::from_unix_millis(t.unix_millis() + mins * 60_000);
    let ask = |c: ConsentCategory, at: Timestamp| {
        let s = s.clone();
        let req = p.request.clone();
        async move { medical::information(&*s, &here(), c, &req, at).await }
    };

    // Not checked today.
    let e = ask(ConsentCategory::Medications, at(0)).await.unwrap_err();
    assert_eq!(refused_code(e), "not_checked_today");
    // A check at another institution does not count here.
    checked(&*s, &p, &elsewhere(), at(1)).await;
    let e = ask(ConsentCategory::Medications, at(2)).await.unwrap_err();
    assert_eq!(refused_code(e), "not_checked_today");
    checked(&*s, &p, &here(), at(3)).await;
    // Checked, but no consent at all.
    let e = ask(ConsentCategory::Medications, at(4)).await.unwrap_err();
    assert_eq!(refused_code(e), "consent_missing");
    // A consent given to another institution is not one given here.
    consent(&*s, &elsewhere(), ConsentCategory::Medications, at(5)).await;
    let e = ask(ConsentCategory::Medications, at(6)).await.unwrap_err();
    assert_eq!(refused_code(e), "consent_missing");
    // Consent to treatments only: medications stay closed.
    consent(&*s, &here(), ConsentCategory::Treatments, at(7)).await;
    let e = ask(ConsentCategory::Medications, at(8)).await.unwrap_err();
    assert_eq!(refused_code(e), "category_not_consented");

    let treatments = ask(ConsentCategory::Treatments, at(9)).await.unwrap();
    assert!(!treatments.treatments.is_empty());
    assert!(treatments.treatments.iter().all(|t| t.kind != "surgery"));
    assert!(treatments.medications.is_empty() && treatments.checkups.is_empty());

    consent(&*s, &here(), ConsentCategory::Medications, at(10)).await;
    let meds = ask(ConsentCategory::Medications, at(11)).await.unwrap();
    assert!(!meds.medications.is_empty());
    assert_eq!(meds.consent.flag, "1");
    assert_eq!(meds.patient.birthdate, p.request.birthdate);
    // Names come from the master; a code missing from it is shown as 名称不明, never dropped.
    assert!(meds.medications.iter().all(|m| !m.drug_name.is_empty()));
    for m in &meds.medications {
        if !m.known {
            assert!(m.drug_name.contains("名称不明") && m.drug_name.contains(&m.drug_code));
        }
    }
    // The period bounds what is shown.
    let mut narrow = p.request.clone();
    narrow.start_date = Some("20200101".into());
    narrow.end_date = Some("20200131".into());
    let none = medical::information(&*s, &here(), ConsentCategory::Medications, &narrow, at(12))
        .await
        .unwrap();
    assert!(none.medications.is_empty());

    // 24 hours later the consent has expired (and the check was yesterday).
    checked(&*s, &p, &here(), at(24 * 60 + 5)).await;
    let e = ask(ConsentCategory::Medications, at(24 * 60 + 11))
        .await
        .unwrap_err();
    assert_eq!(refused_code(e), "consent_expired");

    // A patient who blocked this institution: refused even with consent.
    consent(&*s, &here(), ConsentCategory::Medications, at(24 * 60 + 12)).await;
    s.set_institution_block("person-1", &here(), true, at(24 * 60 + 13))
        .await
        .unwrap();
    let e = ask(ConsentCategory::Medications, at(24 * 60 + 14))
        .await
        .unwrap_err();
    assert_eq!(refused_code(e), "institution_blocked");

    // Every read and every refusal is in the access log, with category, period and basis.
    let log = s
        .access_for_qualification(p.qualification_id)
        .await
        .unwrap();
    let info: Vec<_> = log
        .iter()
        .filter(|a| a.entry.purpose == AccessPurpose::MedicalInformation)
        .collect();
    assert_eq!(info.len(), 10, "7 refusals and 3 reads, one entry each");
    assert!(info.iter().all(|a| {
        let i = a.entry.information.expect("information access recorded");
        i.basis == AccessBasis::Consent && i.from <= i.to
    }));
    let shown: Vec<_> = info
        .iter()
        .filter(|a| matches!(a.entry.result, AccessResult::Disclosed(_)))
        .collect();
    assert_eq!(shown.len(), 3);
    assert_eq!(
        shown
            .iter()
            .filter(|a| a.entry.institution == here())
            .count(),
        3
    );
}

#[tokio::test]
async fn unknown_people_and_bad_requests_show_nothing() {
    let (_d, s) = store();
    let p = sample_patient(&*s).await;
    let mut stranger = p.request.clone();
    stranger.birthdate = "19000101".into();
    let e = medical::information(&*s, &here(), ConsentCategory::Medications, &stranger, now())
        .await
        .unwrap_err();
    assert_eq!(refused_code(e), "qualification_not_found");
    let mut bad = p.request.clone();
    bad.start_date = Some("20991301".into());
    match medical::information(&*s, &here(), ConsentCategory::Medications, &bad, now()).await {
        Err(InfoError::Invalid(e)) => assert_eq!(e.field.as_deref(), Some("start_date")),
        other => panic!("{other:?}"),
    }
    let mut backwards = p.request.clone();
    backwards.start_date = Some("20211101".into());
    backwards.end_date = Some("20211001".into());
    match medical::information(
        &*s,
        &here(),
        ConsentCategory::Medications,
        &backwards,
        now(),
    )
    .await
    {
        Err(InfoError::Invalid(e)) => assert_eq!(e.code, "invalid_period"),
        other => panic!("{other:?}"),
    }
}

fn package(dir: &str) -> BTreeMap<String, Vec<u8>> {
    let root = fixture(dir);
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[tokio::test]
async fn checkup_packages_import_whole_or_not_at_all() {
    let (_d, s) = store();
    let files = package("checkup/package");
    let r = medical::import_checkups(&*s, &Scope::Any, "admin:test", &files, now())
        .await
        .unwrap();
    assert!(r.accepted, "{:?}", r.errors);
    assert!(r.documents >= 1);
    assert_eq!(r.unmatched, r.documents, "nobody on a roster yet");

    // A missing file, broken XML: refused, nothing written.
    let (_d2, s2) = store();
    let mut missing = files.clone();
    let summary = missing
        .keys()
        .find(|k| k.ends_with("summary.xml"))
        .cloned()
        .unwrap();
    missing.remove(&summary);
    let r = medical::import_checkups(&*s2, &Scope::Any, "admin:test", &missing, now())
        .await
        .unwrap();
    assert!(!r.accepted);
    assert!(
        r.errors.iter().any(|e| e.code == "missing_summary"),
        "{:?}",
        r.errors
    );
    let mut broken = files.clone();
    let doc = broken
        .keys()
        .find(|k| k.contains("DATA/"))
        .cloned()
        .unwrap();
    broken.insert(doc, b"<ClinicalDocument><unclosed>".to_vec());
    let r = medical::import_checkups(&*s2, &Scope::Any, "admin:test", &broken, now())
        .await
        .unwrap();
    assert!(!r.accepted, "{:?}", r);
    // An insurer may only load its own insured's checkups.
    let other = Scope::Only(vec![InsurerNumber::parse("06139992").unwrap()]);
    let r = medical::import_checkups(&*s2, &other, "insurer:06139992", &files, now())
        .await
        .unwrap();
    assert!(!r.accepted);
    assert!(r.errors.iter().any(|e| e.code == "insurer_not_allowed"));
    assert_eq!(s2.medical_counts().await.unwrap().checkups, 0);
}

#[test]
fn retention_is_five_years() {
    let d = |s: &str| Date::parse(s).unwrap();
    assert_eq!(medical::retention_start(d("20261124")), d("20211124"));
    assert_eq!(medical::retention_start(d("20240229")), d("20190228"));
}

/// A seeded patient's receipts and checkups, generated as real files, read back through the
/// imports and shown under consent in every category.
#[tokio::test]
async fn a_seeded_patients_history_is_shown_in_every_category() {
    let (_d, s) = store();
    let mut q = kakunin_store::contract::qualification("12", "345", Some("00"), "19600101");
    q.name = "試験\u{3000}太郎".into();
    q.sex = kakunin_domain::Sex::Male;
    s.import_roster(RosterImport {
        links: vec![Some(LinkDecision::Linked {
            pseudonym: "person-1".into(),
        })],
        ..kakunin_store::contract::roster(vec![q.clone()])
    })
    .await
    .unwrap();
    let today = Date::parse("20261124").unwrap();
    let at = Timestamp::from_unix_millis(1_795_480_200_000); // 2026-11-24 10:50 JST
    assert_eq!(at.jst_date(), today);
    // Enough people that every kind of care appears; the first is the registered one.
    let mut people = vec![kakunin_central::seed::patient_of(&q)];
    for i in 0..40u32 {
        let mut other = people[0].clone();
        other.number = format!("9{i:03}");
        people.push(other);
    }
    let config = kakunin_seed::MedicalConfig {
        rng_seed: 5,
        as_of: today,
        months: 60,
        share_percent: 100,
    };
    let (drugs, procedures) = kakunin_seed::masters();
    for (kind, bytes) in [
        (MasterKind::Drug, drugs),
        (MasterKind::Procedure, procedures),
    ] {
        assert!(
            medical::import_masters(&*s, "seed", kind, &bytes, at)
                .await
                .unwrap()
                .accepted
        );
    }
    let mut matched = 0;
    for f in kakunin_seed::receipts(&config, &people) {
        let r = medical::import_receipts(&*s, "seed", &f.bytes, at)
            .await
            .unwrap();
        assert!(r.accepted, "{}: {:?}", f.file_name, r.errors);
        matched += r.matched;
    }
    assert!(matched > 0, "the registered patient's receipts match");
    let package = kakunin_seed::checkups(&config, &people);
    let r = medical::import_checkups(&*s, &Scope::Any, "seed", &package, at)
        .await
        .unwrap();
    assert!(r.accepted, "{:?}", r.errors);
    assert!(r.matched > 0, "the registered patient's checkups match");

    let qid = s.find_by_person("person-1").await.unwrap()[0].id;
    let p = Patient {
        request: MedicalInformationRequest {
            insurer_number: q.card.insurer.as_str().into(),
            symbol: Some("12".into()),
            number: "345".into(),
            branch: Some("00".into()),
            birthdate: "19600101".into(),
            start_date: None,
            end_date: None,
        },
        qualification_id: qid,
    };
    checked(&*s, &p, &here(), at).await;
    for c in [
        ConsentCategory::Medications,
        ConsentCategory::Treatments,
        ConsentCategory::Checkups,
    ] {
        // Refused without consent, shown with it.
        let e = medical::information(&*s, &here(), c, &p.request, at)
            .await
            .unwrap_err();
        assert!(matches!(
            refused_code(e).as_str(),
            "consent_missing" | "category_not_consented"
        ));
        consent(&*s, &here(), c, at).await;
        let answer = medical::information(&*s, &here(), c, &p.request, at)
            .await
            .unwrap();
        let shown = answer.medications.len() + answer.treatments.len() + answer.checkups.len();
        assert!(shown > 0, "{c:?}: {answer:?}");
        assert_eq!(answer.start_date, "20211124", "5 years by default");
    }
    // Surgeries are their own category: never among treatments, only under their consent.
    let treatments =
        medical::information(&*s, &here(), ConsentCategory::Treatments, &p.request, at)
            .await
            .unwrap()
            .treatments;
    assert!(treatments.iter().all(|t| t.kind != "surgery"));
    let e = medical::information(&*s, &here(), ConsentCategory::Surgeries, &p.request, at)
        .await
        .unwrap_err();
    assert_eq!(refused_code(e), "category_not_consented");
    consent(&*s, &here(), ConsentCategory::Surgeries, at).await;
    let surgeries = medical::information(&*s, &here(), ConsentCategory::Surgeries, &p.request, at)
        .await
        .unwrap()
        .treatments;
    assert!(surgeries
        .iter()
        .all(|t| t.kind == "surgery" && t.kind_label == "手術"));
    let checkups = medical::information(&*s, &here(), ConsentCategory::Checkups, &p.request, at)
        .await
        .unwrap()
        .checkups;
    assert!(checkups
        .iter()
        .all(|c| c.items.iter().any(|i| i.value.is_some())));
    // Retention: a purge 5 years on from the newest record leaves nothing of this person.
    let later = Date::parse("20321231").unwrap();
    medical::purge(&*s, later).await.unwrap();
    assert_eq!(s.medical_counts().await.unwrap().receipts, 0);
    assert_eq!(s.medical_counts().await.unwrap().checkups, 0);
}
