//! The generated rosters, parsed back by plain splitting and checked against the roster
//! format and the domain rules.

use kakunin_domain::copay::elderly_from;
use kakunin_domain::text::{display_name, half_width_kana};
use kakunin_domain::*;
use kakunin_seed::{generate, InsurerRoster, SeedConfig, SeedSummary, COLUMNS};
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::OnceLock;

/// The header this crate writes: documented column names, in this order.
const HEADER: &str =
    "insurer_number,symbol,number,branch,relationship,name,name_kana,sex,birthdate,\
qualification_date,disqualification_date,disqualification_reason,card_classification,copay_ratio,\
insurer_name,insured_name,card_issue_date,card_valid_from,card_valid_until,elderly_issue_date,\
elderly_valid_from,elderly_valid_until,elderly_copay_ratio,limit_classification,limit_bracket,\
limit_issue_date,limit_valid_from,limit_valid_until,specific_disease,specific_disease_issue_date,\
specific_disease_valid_from,specific_disease_valid_until,specific_disease_self_pay";

/// Every column docs/roster-format.md defines.
const DOCUMENTED: &[&str] = &[
    "insurer_number",
    "symbol",
    "number",
    "branch",
    "relationship",
    "name",
    "name_kana",
    "sex",
    "birthdate",
    "qualification_date",
    "disqualification_date",
    "disqualification_reason",
    "card_classification",
    "copay_ratio",
    "insurer_name",
    "insured_name",
    "address",
    "post_number",
    "card_issue_date",
    "card_valid_from",
    "card_valid_until",
    "elderly_issue_date",
    "elderly_valid_from",
    "elderly_valid_until",
    "elderly_copay_ratio",
    "limit_classification",
    "limit_bracket",
    "limit_issue_date",
    "limit_valid_from",
    "limit_valid_until",
    "limit_long_term_date",
    "specific_disease",
    "specific_disease_issue_date",
    "specific_disease_valid_from",
    "specific_disease_valid_until",
    "specific_disease_self_pay",
];

const PEOPLE: u64 = 20_000;

fn as_of() -> Date {
    Date::parse("20260520").unwrap()
}

fn config(people: u64, rng_seed: u64) -> SeedConfig {
    SeedConfig {
        people,
        rng_seed,
        as_of: as_of(),
    }
}

fn run(cfg: &SeedConfig) -> (Vec<InsurerRoster>, SeedSummary) {
    let mut rosters = Vec::new();
    let summary = generate(cfg, |r| {
        rosters.push(r);
        Ok::<(), Infallible>(())
    })
    .unwrap();
    (rosters, summary)
}

fn population() -> &'static (Vec<InsurerRoster>, SeedSummary) {
    static POP: OnceLock<(Vec<InsurerRoster>, SeedSummary)> = OnceLock::new();
    POP.get_or_init(|| run(&config(PEOPLE, 2026)))
}

/// A data row split into its cells, by column name.
struct Cells<'a> {
    cells: Vec<&'a str>,
}

impl<'a> Cells<'a> {
    fn get(&self, column: &str) -> &'a str {
        let i = COLUMNS
            .iter()
            .position(|c| *c == column)
            .unwrap_or_else(|| panic!("no column {column}"));
        self.cells[i]
    }
    fn opt(&self, column: &str) -> Option<&'a str> {
        Some(self.get(column)).filter(|s| !s.is_empty())
    }
    fn date(&self, column: &str) -> Option<Date> {
        self.opt(column)
            .map(|s| Date::parse(s).unwrap_or_else(|e| panic!("{column} {s}: {e}")))
    }
}

fn rows(roster: &InsurerRoster) -> impl Iterator<Item = Cells<'_>> {
    let text = std::str::from_utf8(&roster.csv).expect("UTF-8");
    let mut lines = text.split('\n');
    assert_eq!(lines.next(), Some(HEADER));
    assert!(text.ends_with('\n'));
    lines.filter(|l| !l.is_empty()).map(|l| {
        assert!(!l.contains('"'), "no quoting needed: {l}");
        let cells: Vec<&str> = l.split(',').collect();
        assert_eq!(cells.len(), COLUMNS.len(), "{l}");
        Cells { cells }
    })
}

fn dates_ok(from: Date, until: Option<Date>) {
    if let Some(u) = until {
        assert!(from <= u, "{from:?} > {u:?}");
    }
}

/// Builds the domain qualification of a row, checking every field on the way.
fn qualification(roster: &InsurerRoster, r: &Cells<'_>, as_of: Date) -> Qualification {
    let insurer = InsurerNumber::parse(r.get("insurer_number")).expect("insurer number");
    assert_eq!(insurer, roster.insurer_number);
    assert_eq!(r.get("insurer_name"), roster.insurer_name);
    let symbol = r
        .opt("symbol")
        .map(|s| CardSymbol::parse(s).expect("symbol"));
    let number = CardNumber::parse(r.get("number")).expect("number");
    let branch = r.opt("branch").map(|b| {
        assert_eq!(b.len(), 2, "{b}");
        Branch::parse(b).expect("branch")
    });
    let card = CardIdentity::new(insurer, symbol, number, branch).expect("card identity");

    let name = r.get("name");
    assert_eq!(display_name(name), name);
    assert_eq!(name.matches('\u{3000}').count(), 1, "{name}");
    assert!(
        name.chars().all(|c| !c.is_ascii()),
        "full-width name {name}"
    );
    let kana = r.get("name_kana");
    assert_eq!(half_width_kana(kana).as_deref(), Ok(kana));
    assert_eq!(kana.matches(' ').count(), 1, "{kana}");
    if let Some(insured) = r.opt("insured_name") {
        assert_eq!(display_name(insured), insured);
    }

    let birthdate = r.date("birthdate").unwrap();
    let elderly = r.opt("elderly_valid_from").map(|_| {
        let e = ElderlyCertificate {
            issued: r.date("elderly_issue_date"),
            valid_from: r.date("elderly_valid_from").unwrap(),
            valid_until: r.date("elderly_valid_until"),
            copay_ratio: CopayRatio::parse(r.get("elderly_copay_ratio")).expect("elderly ratio"),
        };
        dates_ok(e.valid_from, e.valid_until);
        assert!(e.valid_from >= elderly_from(birthdate).unwrap());
        assert!(e.valid_until.unwrap() < birthdate.add_years(75).unwrap());
        e
    });
    if elderly.is_none() {
        for c in [
            "elderly_issue_date",
            "elderly_valid_until",
            "elderly_copay_ratio",
        ] {
            assert!(r.opt(c).is_none(), "{c} without elderly_valid_from");
        }
    }
    let limit = r.opt("limit_classification").map(|c| {
        let l = LimitCertificate {
            classification: LimitCertificateClassification::parse(c).expect("limit classification"),
            bracket: LimitBracket::parse(r.get("limit_bracket")).expect("bracket"),
            issued: r.date("limit_issue_date"),
            valid_from: r.date("limit_valid_from").expect("limit valid_from"),
            valid_until: r.date("limit_valid_until"),
            long_term_date: None,
        };
        dates_ok(l.valid_from, l.valid_until);
        for d in [Some(l.valid_from), l.valid_until].into_iter().flatten() {
            assert_eq!(
                l.bracket.is_elderly(),
                birthdate.age_on(d) >= 70,
                "bracket {:?} on {d:?}",
                l.bracket
            );
        }
        l
    });
    if limit.is_none() {
        for c in [
            "limit_bracket",
            "limit_issue_date",
            "limit_valid_from",
            "limit_valid_until",
        ] {
            assert!(r.opt(c).is_none(), "{c} without limit_classification");
        }
    }
    let specific: Vec<_> = r
        .opt("specific_disease")
        .map(|d| {
            let s = SpecificDiseaseCertificate {
                disease: SpecificDisease::parse(d).expect("disease"),
                issued: r.date("specific_disease_issue_date"),
                valid_from: r
                    .date("specific_disease_valid_from")
                    .expect("disease valid_from"),
                valid_until: r.date("specific_disease_valid_until"),
                self_pay_yen: r
                    .get("specific_disease_self_pay")
                    .parse()
                    .expect("self pay"),
            };
            dates_ok(s.valid_from, s.valid_until);
            assert!([10_000, 20_000].contains(&s.self_pay_yen));
            s
        })
        .into_iter()
        .collect();

    let q = Qualification {
        card,
        card_classification: CardClassification::parse(r.get("card_classification"))
            .expect("card classification"),
        relationship: Relationship::parse(r.get("relationship")).expect("relationship"),
        insured_name: r.opt("insured_name").map(str::to_string),
        name: name.to_string(),
        name_kana: kana.to_string(),
        sex: Sex::parse(r.get("sex")).expect("sex"),
        birthdate,
        address: None,
        post_number: None,
        qualification_date: r.date("qualification_date").unwrap(),
        disqualification_date: r.date("disqualification_date"),
        loss_reason: r
            .opt("disqualification_reason")
            .map(|c| LossReason::parse(c).expect("loss reason")),
        card_issue_date: r.date("card_issue_date"),
        card_valid_from: r.date("card_valid_from"),
        card_valid_until: r.date("card_valid_until"),
        copay_ratio: r
            .opt("copay_ratio")
            .map(|c| CopayRatio::parse(c).expect("copay ratio")),
        insurer_name: r.get("insurer_name").to_string(),
        elderly,
        limit,
        specific_diseases: specific,
    };
    assert_eq!(q.check(), Vec::new(), "{:?}", r.cells);
    assert_eq!(q.loss_reason.is_some(), q.disqualification_date.is_some());
    for d in [q.card_issue_date, q.card_valid_from].into_iter().flatten() {
        assert!(
            d >= q.qualification_date,
            "card date before qualification: {:?}",
            r.cells
        );
    }
    assert!(q.qualification_date <= as_of);
    q
}

#[test]
fn header_uses_documented_columns() {
    assert_eq!(COLUMNS.join(","), HEADER);
    for c in COLUMNS {
        assert!(DOCUMENTED.contains(c), "{c} is not a documented column");
    }
    let required = [
        "insurer_number",
        "symbol",
        "number",
        "branch",
        "relationship",
        "name",
        "name_kana",
        "sex",
        "birthdate",
        "qualification_date",
        "disqualification_date",
        "disqualification_reason",
        "card_classification",
        "copay_ratio",
        "insurer_name",
    ];
    for c in required {
        assert!(COLUMNS.contains(&c), "required column {c} missing");
    }
}

#[test]
fn same_config_same_bytes() {
    let cfg = config(3_000, 99);
    let (a, sa) = run(&cfg);
    let (b, sb) = run(&cfg);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.insurer_number, y.insurer_number);
        assert_eq!(x.insurer_name, y.insurer_name);
        assert_eq!(x.rows, y.rows);
        assert!(x.csv == y.csv, "{} differs", x.insurer_number);
    }
    assert_eq!(sa.samples, sb.samples);
    assert_eq!((sa.rows, sa.insurers), (sb.rows, sb.insurers));
    let (c, _) = run(&config(3_000, 100));
    assert!(
        a.iter().zip(&c).any(|(x, y)| x.csv != y.csv),
        "another seed gives other data"
    );
}

#[test]
fn every_row_is_valid_and_keys_are_unique() {
    let (rosters, summary) = population();
    assert_eq!(summary.people, PEOPLE);
    assert_eq!(summary.insurers, rosters.len() as u64);
    let mut total = 0;
    let mut numbers = HashSet::new();
    for roster in rosters {
        assert!(roster.rows > 0);
        assert!(
            numbers.insert(roster.insurer_number.clone()),
            "one roster per insurer"
        );
        assert_eq!(
            InsurerNumber::parse(roster.insurer_number.as_str()).unwrap(),
            roster.insurer_number
        );
        assert_eq!(roster.kind, roster.insurer_number.kind());
        let mut keys = HashSet::new();
        let mut holders = HashSet::new();
        let mut dependents = Vec::new();
        let mut n = 0;
        for r in rows(roster) {
            let q = qualification(roster, &r, as_of());
            let key = (
                q.card.symbol_key().to_string(),
                q.card.number.key().to_string(),
                q.card.branch,
            );
            assert!(
                keys.insert(key),
                "duplicate key in {}: {:?}",
                roster.insurer_number,
                r.cells
            );
            let card = (
                q.card.symbol_key().to_string(),
                q.card.number.key().to_string(),
            );
            match q.relationship {
                Relationship::Insured => {
                    holders.insert(card);
                }
                Relationship::Dependent => {
                    assert!(q.insured_name.is_some());
                    dependents.push(card);
                }
            }
            if roster.kind == InsurerKind::Kyokai {
                let sym = q.card.symbol_key();
                assert!(
                    (7..=8).contains(&sym.len()) && sym.bytes().all(|b| b.is_ascii_digit()),
                    "{sym}"
                );
            }
            if matches!(
                roster.kind,
                InsurerKind::MunicipalNhi | InsurerKind::NhiSociety
            ) {
                assert_eq!(roster.insurer_number.as_str().len(), 6);
            }
            if roster.kind == InsurerKind::LateElderly {
                assert!(q.card.symbol.is_none() && q.card.branch.is_none());
                assert!(q.qualification_date >= q.birthdate.add_years(75).unwrap());
                assert!(q.copay_ratio.is_some());
            } else {
                assert!(q.card.symbol.is_some() && q.card.branch.is_some());
                assert!(
                    q.birthdate.age_on(as_of()) < 75,
                    "75+ outside 後期高齢: {:?}",
                    r.cells
                );
            }
            n += 1;
        }
        for d in dependents {
            assert!(
                holders.contains(&d),
                "dependent without an insured on the same card"
            );
        }
        assert_eq!(n, roster.rows);
        total += n;
    }
    assert_eq!(total, summary.rows);
}

/// Kind groups, each person counted once (the previous row of a job change is skipped).
fn shares(rosters: &[InsurerRoster]) -> (u64, HashMap<&'static str, f64>) {
    let mut by_group: HashMap<&'static str, u64> = HashMap::new();
    let mut people = 0;
    for roster in rosters {
        let group = match roster.kind {
            InsurerKind::Kyokai => "kyokai",
            InsurerKind::HealthInsuranceSociety => "society",
            InsurerKind::NationalPublicServants
            | InsurerKind::LocalPublicServants
            | InsurerKind::Police
            | InsurerKind::PrivateSchools => "mutual",
            InsurerKind::Seamen => "seamen",
            InsurerKind::MunicipalNhi => "municipal",
            InsurerKind::NhiSociety => "nhi_society",
            InsurerKind::LateElderly => "late",
            other => panic!("unexpected kind {other:?}"),
        };
        for r in rows(roster) {
            if r.get("disqualification_reason") != "03" {
                *by_group.entry(group).or_default() += 1;
                people += 1;
            }
        }
    }
    let shares = by_group
        .into_iter()
        .map(|(g, n)| (g, n as f64 * 100.0 / people as f64))
        .collect();
    (people, shares)
}

#[test]
fn national_proportions() {
    let (rosters, _) = population();
    let (people, shares) = shares(rosters);
    assert_eq!(people, PEOPLE, "one current-or-last row per person");
    for (group, want, tolerance) in [
        ("kyokai", 32.0, 4.0),
        ("society", 22.0, 4.0),
        ("mutual", 7.0, 2.5),
        ("municipal", 20.0, 4.0),
        ("nhi_society", 2.0, 1.2),
        ("late", 15.5, 2.0),
        ("seamen", 0.15, 0.15),
    ] {
        let got = shares.get(group).copied().unwrap_or(0.0);
        assert!(
            (got - want).abs() <= tolerance,
            "{group}: {got:.1} % (want {want} ± {tolerance})"
        );
    }
    let societies = rosters
        .iter()
        .filter(|r| r.kind == InsurerKind::HealthInsuranceSociety)
        .count();
    assert!(societies >= 20, "{societies} 健康保険組合");
    let municipal = rosters
        .iter()
        .filter(|r| r.kind == InsurerKind::MunicipalNhi)
        .count();
    assert!(municipal >= 100, "{municipal} 市町村国保");
    let kyokai = rosters
        .iter()
        .filter(|r| r.kind == InsurerKind::Kyokai)
        .count();
    assert_eq!(kyokai, 47);
}

#[test]
fn ages_events_and_certificates() {
    let (rosters, _) = population();
    let mut ages = [0u64; 106];
    let (mut job, mut lost, mut death, mut limit, mut elderly, mut late, mut late_ratio) =
        (0, 0, 0, 0, 0, 0, [0u64; 3]);
    let (mut households, mut members) = (HashSet::new(), 0u64);
    for roster in rosters {
        for r in rows(roster) {
            let reason = r.get("disqualification_reason");
            if reason == "03" {
                job += 1;
                continue;
            }
            let age = Date::parse(r.get("birthdate")).unwrap().age_on(as_of()) as usize;
            ages[age.min(105)] += 1;
            match reason {
                "01" => death += 1,
                "02" | "99" => lost += 1,
                _ => {}
            }
            limit += u64::from(r.opt("limit_classification").is_some());
            if r.opt("elderly_valid_from").is_some() {
                elderly += 1;
                assert!((70..=74).contains(&age));
            } else if (70..=74).contains(&age) && reason.is_empty() {
                panic!("70–74 without 高齢受給者証: {:?}", r.cells);
            }
            if roster.kind == InsurerKind::LateElderly {
                late += 1;
                late_ratio[match r.get("copay_ratio") {
                    "010" => 0,
                    "020" => 1,
                    _ => 2,
                }] += 1;
            } else {
                households.insert((
                    roster.insurer_number.clone(),
                    r.get("symbol"),
                    r.get("number"),
                ));
                members += 1;
            }
        }
    }
    let pct = |n: u64| n as f64 * 100.0 / PEOPLE as f64;
    let young: u64 = ages[..15].iter().sum();
    let old: u64 = ages[75..].iter().sum();
    assert!(
        (10.0..14.0).contains(&pct(young)),
        "under 15: {:.1} %",
        pct(young)
    );
    assert!((14.0..18.0).contains(&pct(old)), "75+: {:.1} %", pct(old));
    let fifties: u64 = ages[45..55].iter().sum();
    let thirties: u64 = ages[30..40].iter().sum();
    assert!(fifties > thirties * 12 / 10, "bulge at 45–54");
    assert!(
        (0.5..5.0).contains(&pct(job)),
        "job changes {:.2} %",
        pct(job)
    );
    assert!(lost > 0 && death > 0, "lost {lost}, deaths {death}");
    assert!(
        (1.0..5.0).contains(&pct(lost + death)),
        "lost only {:.2} %",
        pct(lost + death)
    );
    assert!(
        (1.0..3.5).contains(&pct(limit)),
        "limit certificates {:.2} %",
        pct(limit)
    );
    assert!(elderly > 0);
    let late_10 = late_ratio[0] as f64 * 100.0 / late as f64;
    assert!((80.0..90.0).contains(&late_10), "後期 1割 {late_10:.1} %");
    let size = members as f64 / households.len() as f64;
    assert!((1.5..3.0).contains(&size), "household size {size:.2}");
}

#[test]
fn samples_are_real_rows() {
    let (rosters, summary) = population();
    let s = &summary.samples;
    assert!(s.len() >= 18, "{} samples", s.len());
    let first = &s[0];
    assert_eq!(first.validity_on_as_of, Validity::Valid);
    assert!(first.symbol.is_some() && first.branch.is_some());
    assert!(
        s.iter().any(|p| p.insurer_number.len() == 6),
        "a 6-digit 国保 sample"
    );
    assert!(s
        .iter()
        .any(|p| p.insurer_number.starts_with("39") && p.symbol.is_none()));
    assert!(
        s.iter()
            .any(|p| p.branch.as_deref().is_some_and(|b| b != "00")),
        "a dependent"
    );
    assert!(s.iter().any(|p| p.validity_on_as_of == Validity::Invalid));
    for p in s {
        let roster = rosters
            .iter()
            .find(|r| r.insurer_number.as_str() == p.insurer_number)
            .expect("insurer");
        let row = rows(roster)
            .find(|r| {
                r.opt("symbol") == p.symbol.as_deref()
                    && r.get("number") == p.number
                    && r.opt("branch") == p.branch.as_deref()
            })
            .unwrap_or_else(|| panic!("sample {p:?} not in the roster"));
        assert_eq!(row.get("birthdate"), p.birthdate);
        assert_eq!(row.get("name"), p.name);
        let q = qualification(roster, &row, as_of());
        let want = if q.is_in_effect(as_of()) {
            Validity::Valid
        } else {
            Validity::Invalid
        };
        assert_eq!(p.validity_on_as_of, want, "{p:?}");
    }
}

#[test]
fn other_dates_give_valid_rows() {
    // Leap days, year ends and the edges of the August–July certificate year.
    for day in [
        "20280229", "20270101", "20261231", "20250731", "20250801", "20121001",
    ] {
        let as_of = Date::parse(day).unwrap();
        let (rosters, summary) = run(&SeedConfig {
            people: 3_000,
            rng_seed: 11,
            as_of,
        });
        assert_eq!(summary.samples[0].validity_on_as_of, Validity::Valid);
        for roster in &rosters {
            for r in rows(roster) {
                let q = qualification(roster, &r, as_of);
                let age = q.birthdate.age_on(as_of);
                assert_eq!(
                    roster.kind == InsurerKind::LateElderly,
                    age >= 75,
                    "{day}: {:?}",
                    r.cells
                );
                let current = q.disqualification_date.is_none();
                assert_eq!(
                    q.elderly.is_some(),
                    current && (70..=74).contains(&age),
                    "{day}: {:?}",
                    r.cells
                );
            }
        }
    }
}

#[test]
fn tiny_populations_and_sink_errors() {
    let (rosters, summary) = run(&config(0, 1));
    assert!(rosters.is_empty() && summary.samples.is_empty() && summary.rows == 0);
    for people in [1, 2, 5] {
        let (rosters, summary) = run(&config(people, 3));
        assert!(!rosters.is_empty());
        assert_eq!(summary.samples[0].validity_on_as_of, Validity::Valid);
        assert!(summary.samples[0].symbol.is_some());
        assert!(summary.rows >= people);
    }
    let mut calls = 0;
    let result = generate(&config(2_000, 5), |_| {
        calls += 1;
        if calls == 3 {
            Err("disk full")
        } else {
            Ok(())
        }
    });
    assert_eq!(result.unwrap_err(), "disk full");
    assert_eq!(calls, 3);
}

#[test]
fn large_rosters_stream_in_files_that_add_up_to_the_same_rows() {
    let cfg = config(3_000, 7);
    let (whole, summary) = run(&cfg);
    let mut files = Vec::new();
    let split = kakunin_seed::generate_in_files(&cfg, 40, 16 << 10, |r| {
        files.push(r);
        Ok::<_, Infallible>(())
    })
    .unwrap();
    assert_eq!(
        (split.rows, split.insurers),
        (summary.rows, summary.insurers)
    );
    assert_eq!(split.rosters, files.len() as u64);
    assert!(files.len() > whole.len() * 2, "large insurers were split");
    assert_eq!(
        summary.rosters,
        whole.len() as u64,
        "one file each when small"
    );
    let mut by_insurer: HashMap<String, Vec<u8>> = HashMap::new();
    for f in &files {
        assert!(f.rows > 0 && f.rows <= 40, "{} rows", f.rows);
        let text = std::str::from_utf8(&f.csv).unwrap();
        let (header, body) = text.split_once('\n').unwrap();
        assert_eq!(header, HEADER, "every file is a complete roster");
        assert_eq!(body.lines().count() as u64, f.rows);
        by_insurer
            .entry(f.insurer_number.as_str().to_string())
            .or_default()
            .extend_from_slice(body.as_bytes());
    }
    assert_eq!(by_insurer.len(), whole.len());
    for w in &whole {
        let text = std::str::from_utf8(&w.csv).unwrap();
        let body = text.split_once('\n').unwrap().1;
        assert!(
            by_insurer[w.insurer_number.as_str()] == body.as_bytes(),
            "{}: the files hold the same rows in the same order",
            w.insurer_number
        );
    }
    // The same limits give the same files.
    let mut again = Vec::new();
    kakunin_seed::generate_in_files(&cfg, 40, 16 << 10, |r| {
        again.push(r.csv);
        Ok::<_, Infallible>(())
    })
    .unwrap();
    assert!(again.iter().eq(files.iter().map(|f| &f.csv)));
    // With no row limit, the byte limit alone bounds what is held: no file is much larger
    // than it (it is checked after each household).
    let mut largest = 0;
    let bytes_only = kakunin_seed::generate_in_files(&cfg, u64::MAX, 16 << 10, |r| {
        largest = largest.max(r.csv.len());
        Ok::<_, Infallible>(())
    })
    .unwrap();
    assert_eq!(bytes_only.rows, summary.rows);
    assert!(bytes_only.rosters > summary.rosters);
    assert!(largest <= (16 << 10) + 4096, "{largest} bytes");
}
