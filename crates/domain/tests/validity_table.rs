//! Validity as of a date: a table of cases.

use kakunin_domain::*;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn q(qualified: &str, lost: Option<&str>) -> Qualification {
    Qualification {
        card: CardIdentity::new(
            InsurerNumber::parse("06139992").unwrap(),
            Some(CardSymbol::parse("123").unwrap()),
            CardNumber::parse("4567").unwrap(),
            Some(Branch::parse("01").unwrap()),
        )
        .unwrap(),
        card_classification: CardClassification::General,
        relationship: Relationship::Insured,
        insured_name: None,
        name: "試験\u{3000}花子".into(),
        name_kana: "ｼｹﾝ ﾊﾅｺ".into(),
        sex: Sex::Female,
        birthdate: d("19800101"),
        address: None,
        post_number: None,
        qualification_date: d(qualified),
        disqualification_date: lost.map(d),
        loss_reason: lost.map(|_| LossReason::OtherInsurance),
        card_issue_date: None,
        card_valid_from: None,
        card_valid_until: None,
        copay_ratio: None,
        insurer_name: "架空健康保険組合".into(),
        elderly: None,
        limit: None,
        specific_diseases: vec![],
    }
}

fn c(q: &Qualification, newer: bool) -> Candidate<'_> {
    Candidate {
        qualification: q,
        newer_exists: newer,
    }
}

#[test]
fn validity_cases() {
    let active = q("20200401", None);
    let lost = q("20200401", Some("20250401"));
    let future = q("20270101", None);
    let cases: Vec<(&str, Vec<Candidate<'_>>, &str, Validity)> = vec![
        ("none", vec![], "20261124", Validity::NotFound),
        (
            "active",
            vec![c(&active, false)],
            "20261124",
            Validity::Valid,
        ),
        (
            "first day",
            vec![c(&active, false)],
            "20200401",
            Validity::Valid,
        ),
        (
            "day before acquisition",
            vec![c(&active, false)],
            "20200331",
            Validity::Invalid,
        ),
        ("lost", vec![c(&lost, false)], "20261124", Validity::Invalid),
        (
            "last covered day",
            vec![c(&lost, false)],
            "20250331",
            Validity::Valid,
        ),
        (
            "loss date itself",
            vec![c(&lost, false)],
            "20250401",
            Validity::Invalid,
        ),
        (
            "lost with newer",
            vec![c(&lost, true)],
            "20261124",
            Validity::InvalidNewerExists,
        ),
        (
            "newer ignored while valid",
            vec![c(&lost, true)],
            "20240101",
            Validity::Valid,
        ),
        (
            "not yet",
            vec![c(&future, false)],
            "20261124",
            Validity::Invalid,
        ),
        (
            "two people",
            vec![c(&active, false), c(&lost, false)],
            "20261124",
            Validity::Multiple,
        ),
    ];
    for (name, cands, on, want) in cases {
        assert_eq!(evaluate(&cands, d(on)), want, "{name}");
    }
}

#[test]
fn copay_follows_certificates_and_age() {
    let mut p = q("20200401", None);
    p.birthdate = d("19561015");
    assert_eq!(p.copay_on(d("20261031")).code(), "030");
    assert_eq!(p.copay_on(d("20261101")).code(), "020");
    p.elderly = Some(ElderlyCertificate {
        issued: None,
        valid_from: d("20261101"),
        valid_until: None,
        copay_ratio: CopayRatio::THIRTY,
    });
    assert_eq!(p.copay_on(d("20261101")).code(), "030");
    p.copay_ratio = Some(CopayRatio::THIRTY);
    p.elderly = None;
    assert_eq!(p.copay_on(d("20261201")).code(), "030");
}

#[test]
fn cross_field_checks() {
    let mut p = q("20200401", Some("20190101"));
    assert_eq!(p.check()[0].field, "disqualification_date");
    p = q("19700101", None);
    assert_eq!(p.check()[0].field, "qualification_date");
    p = q("20200401", None);
    p.copay_ratio = Some(CopayRatio::TEN);
    assert_eq!(p.check()[0].field, "copay_ratio");
    assert!(q("20200401", None).check().is_empty());
}
