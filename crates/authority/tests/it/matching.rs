//! Registration, 4-attribute matching and pseudonyms.

use crate::common::{authority, date, fixture, number, resident};
use kakunin_authority::{AuthorityError, MatchOutcome, MatchQuery, Resident};
use kakunin_domain::{Attribute, Sex};

fn query_for(r: &Resident) -> MatchQuery {
    MatchQuery {
        individual_number: r.individual_number.clone(),
        name: r.name.clone(),
        name_kana: Some(r.name_kana.clone()),
        birthdate: r.birthdate,
        sex: r.sex,
        address: Some(r.address.clone()),
    }
}

#[test]
fn match_rules() {
    let yamada = resident(
        "30000000001",
        "山田　太郎",
        "ヤマダ　タロウ",
        "19800115",
        Sex::Male,
        "東京都新宿区西新宿２－８－１",
    );
    let smith = resident(
        "30000000002",
        "ＳＭＩＴＨ　ＪＯＨＮ",
        "スミス　ジョン",
        "19920229",
        Sex::Male,
        "大阪府大阪市北区中之島１－３－２０",
    );
    let unset = resident(
        "30000000003",
        "佐藤　光",
        "サトウ　ヒカル",
        "20010701",
        Sex::Unset,
        "北海道札幌市中央区北１条西２",
    );
    authority()
        .register_residents(&[yamada.clone(), smith.clone(), unset.clone()])
        .unwrap();

    type Edit = fn(&mut MatchQuery);
    use Attribute as A;
    let cases: &[(&str, &Resident, Edit, &[Attribute])] = &[
        ("exact", &yamada, |_| {}, &[]),
        (
            "half-width space",
            &yamada,
            |q| q.name = "山田 太郎".into(),
            &[],
        ),
        ("no space", &yamada, |q| q.name = "山田太郎".into(), &[]),
        (
            "spaces around",
            &yamada,
            |q| q.name = "  山田太郎　".into(),
            &[],
        ),
        (
            "half-width latin vs full-width",
            &smith,
            |q| q.name = "SMITH JOHN".into(),
            &[],
        ),
        ("latin case", &smith, |q| q.name = "smith john".into(), &[]),
        (
            "kana half-width",
            &yamada,
            |q| q.name_kana = Some("ﾔﾏﾀﾞ ﾀﾛｳ".into()),
            &[],
        ),
        (
            "kana hiragana",
            &yamada,
            |q| q.name_kana = Some("やまだたろう".into()),
            &[],
        ),
        ("kana absent", &yamada, |q| q.name_kana = None, &[]),
        (
            "kana differs",
            &yamada,
            |q| q.name_kana = Some("ヤマダ ジロウ".into()),
            &[A::NameKana],
        ),
        (
            "kana voiced mark",
            &yamada,
            |q| q.name_kana = Some("ヤマタ タロウ".into()),
            &[A::NameKana],
        ),
        (
            "kana not kana",
            &yamada,
            |q| q.name_kana = Some("山田".into()),
            &[A::NameKana],
        ),
        (
            "kana empty",
            &yamada,
            |q| q.name_kana = Some(" ".into()),
            &[A::NameKana],
        ),
        (
            "name differs",
            &yamada,
            |q| q.name = "山田　次郎".into(),
            &[A::Name],
        ),
        ("name empty", &yamada, |q| q.name = "　".into(), &[A::Name]),
        (
            "birth date a day later",
            &yamada,
            |q| q.birthdate = date("19800116"),
            &[A::Birthdate],
        ),
        (
            "birth date a year off",
            &smith,
            |q| q.birthdate = date("19930228"),
            &[A::Birthdate],
        ),
        ("sex differs", &yamada, |q| q.sex = Sex::Female, &[A::Sex]),
        (
            "sex unset in the query",
            &yamada,
            |q| q.sex = Sex::Unset,
            &[A::Sex],
        ),
        ("sex unset in the registry", &unset, |_| {}, &[A::Sex]),
        (
            "sex unset in the registry, set in the query",
            &unset,
            |q| q.sex = Sex::Male,
            &[A::Sex],
        ),
        ("address absent", &yamada, |q| q.address = None, &[]),
        (
            "address in half-width with a space",
            &yamada,
            |q| q.address = Some("東京都新宿区 西新宿2-8-1".into()),
            &[],
        ),
        (
            "address differs",
            &yamada,
            |q| q.address = Some("東京都新宿区西新宿２－８－２".into()),
            &[A::Address],
        ),
        (
            "everything differs but the number",
            &yamada,
            |q| {
                q.name = "鈴木 一郎".into();
                q.name_kana = Some("スズキ イチロウ".into());
                q.birthdate = date("19800105");
                q.sex = Sex::Female;
                q.address = Some("京都府".into());
            },
            &[A::Name, A::NameKana, A::Birthdate, A::Sex, A::Address],
        ),
        (
            "another person's number",
            &yamada,
            |q| q.individual_number = number("30000000002"),
            &[A::Name, A::NameKana, A::Birthdate, A::Address],
        ),
        (
            "unknown number",
            &yamada,
            |q| q.individual_number = number("30000000099"),
            &[A::IndividualNumber],
        ),
    ];

    // One batch, answers aligned with the queries.
    let queries: Vec<MatchQuery> = cases
        .iter()
        .map(|(_, r, edit, _)| {
            let mut q = query_for(r);
            edit(&mut q);
            q
        })
        .collect();
    let outcomes = authority().match_residents("central", &queries).unwrap();
    assert_eq!(outcomes.len(), cases.len());
    for ((label, _, _, expected), (query, outcome)) in
        cases.iter().zip(queries.iter().zip(&outcomes))
    {
        let want = if expected.is_empty() {
            MatchOutcome::Matched {
                pseudonym: authority().pseudonym("central", &query.individual_number),
            }
        } else {
            MatchOutcome::Mismatch {
                attributes: expected.to_vec(),
            }
        };
        assert_eq!(outcome, &want, "{label}");
    }
}

#[test]
fn pseudonyms_are_per_agency_and_per_person() {
    let a = authority();
    let one = resident(
        "30000000011",
        "高橋 一",
        "タカハシ ハジメ",
        "19600303",
        Sex::Male,
        "福岡県",
    );
    let two = resident(
        "30000000012",
        "高橋 二",
        "タカハシ フタバ",
        "19600303",
        Sex::Female,
        "福岡県",
    );
    a.register_residents(&[one.clone(), two.clone()]).unwrap();

    let matched = |agency: &str, r: &Resident| match &a
        .match_residents(agency, &[query_for(r)])
        .unwrap()[0]
    {
        MatchOutcome::Matched { pseudonym } => pseudonym.clone(),
        other => panic!("{other:?}"),
    };
    let p = matched("central", &one);
    assert_eq!(p.len(), 32);
    assert!(p
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(matched("central", &one), p, "stable across calls");
    assert_ne!(matched("insurer-portal", &one), p, "per agency");
    assert_ne!(matched("central", &two), p, "per person");
    assert_ne!(matched("centra", &one), p);

    // The documented construction: HMAC-SHA256(secret, agency ‖ 0x00 ‖ 12 digits), 16 bytes.
    let secret = std::fs::read(fixture().dir.join("keys/pseudonym.secret")).unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
    let msg = [
        b"central".as_slice(),
        &[0],
        one.individual_number.expose().as_bytes(),
    ]
    .concat();
    let tag = ring::hmac::sign(&key, &msg);
    let hex: String = tag.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, p);
    // The separator keeps ("ab", "c…") and ("a", "bc…") apart.
    assert_ne!(
        a.pseudonym("ab", &one.individual_number),
        a.pseudonym("a", &one.individual_number)
    );
}

#[test]
fn registration_upserts_and_refuses_malformed_residents() {
    let a = authority();
    let mut r = resident(
        "30000000021",
        "伊藤 咲",
        "イトウ サキ",
        "19991231",
        Sex::Female,
        "愛知県名古屋市",
    );
    assert_eq!(a.register_residents(&[r.clone()]).unwrap(), 1);
    assert_eq!(a.register_residents(&[r.clone()]).unwrap(), 0, "unchanged");
    r.address = "愛知県豊田市".into();
    assert_eq!(a.register_residents(&[r.clone()]).unwrap(), 1, "moved");
    let q = MatchQuery {
        address: Some("愛知県豊田市".into()),
        ..query_for(&r)
    };
    assert!(matches!(
        a.match_residents("central", &[q]).unwrap()[0],
        MatchOutcome::Matched { .. }
    ));
    assert!(a.resident_count().unwrap() >= 1);

    let fresh = resident(
        "30000000022",
        "伊藤 翼",
        "イトウ ツバサ",
        "20000101",
        Sex::Male,
        "愛知県",
    );
    type Edit = fn(&mut Resident);
    let bad: &[(&str, Edit)] = &[
        ("empty name", |r| r.name = " ".into()),
        ("kanji kana", |r| r.name_kana = "伊藤".into()),
        ("empty kana", |r| r.name_kana = String::new()),
        ("empty address", |r| r.address = "　".into()),
    ];
    for (label, edit) in bad {
        let mut broken = r.clone();
        edit(&mut broken);
        let e = a.register_residents(&[fresh.clone(), broken]).unwrap_err();
        assert!(
            matches!(e, AuthorityError::InvalidResident { index: 1, .. }),
            "{label}: {e}"
        );
        assert!(
            !e.to_string().contains("伊藤"),
            "no personal data in errors: {e}"
        );
    }
    // The refused batches wrote nothing, not even their valid resident.
    let q = query_for(&fresh);
    assert_eq!(
        a.match_residents("central", &[q]).unwrap()[0],
        MatchOutcome::Mismatch {
            attributes: vec![Attribute::IndividualNumber]
        }
    );
    // Debug output of personal data is masked.
    let shown = format!("{r:?} {:?}", query_for(&r));
    for secret in [
        "伊藤",
        "イトウ",
        "1999",
        "愛知",
        r.individual_number.expose(),
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn a_large_batch_in_one_transaction() {
    let a = authority();
    const N: usize = 20_000;
    let residents: Vec<Resident> = (0..N)
        .map(|i| {
            resident(
                &format!("31{i:09}"),
                &format!("試験 {i}"),
                "シケン タロウ",
                "19750505",
                if i % 2 == 0 { Sex::Male } else { Sex::Female },
                &format!("東京都港区{i}"),
            )
        })
        .collect();
    let started = std::time::Instant::now();
    assert_eq!(a.register_residents(&residents).unwrap(), N as u64);
    let registered = started.elapsed();

    let mut queries: Vec<MatchQuery> = residents.iter().map(query_for).collect();
    queries[7].sex = Sex::Unset;
    let started = std::time::Instant::now();
    let outcomes = a.match_residents("central", &queries).unwrap();
    let matched = started.elapsed();
    eprintln!("{N} residents: registered in {registered:?}, matched in {matched:?}");
    assert_eq!(outcomes.len(), N);
    for (i, o) in outcomes.iter().enumerate() {
        assert_eq!(matches!(o, MatchOutcome::Matched { .. }), i != 7, "{i}");
    }
}
