//! The generated medical history read back by the project's own readers (`kakunin-formats`):
//! every UKE file, the masters and the 特定健診 package must parse without a single problem,
//! and every receipt and checkup must carry the ids the central matches on.

use kakunin_domain::{Date, InstitutionCode, Sex};
use kakunin_formats::checkup::{parse_package, CheckupValue};
use kakunin_formats::masters::{parse_drugs, parse_procedures, MasterEntry};
use kakunin_formats::uke::derive::{derive, TreatmentKind};
use kakunin_formats::uke::{self, FileKind, Header, LineKind, Record, UkeFile};
use kakunin_seed::{
    bench_receipts, checkups, generate, master_codes, masters, receipts, MedicalConfig, Patient,
    SeedConfig, UkeOutput, UNKNOWN_DRUG_CODE, UNKNOWN_PROCEDURE_CODE,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::sync::OnceLock;

fn as_of() -> Date {
    Date::parse("20250615").unwrap()
}

fn config() -> MedicalConfig {
    MedicalConfig {
        rng_seed: 7,
        as_of: as_of(),
        months: 24,
        share_percent: 60,
    }
}

/// Current qualifications of a seeded population, as the central would build patients.
fn patients() -> &'static [Patient] {
    static P: OnceLock<Vec<Patient>> = OnceLock::new();
    P.get_or_init(|| {
        let cfg = SeedConfig {
            people: 2500,
            rng_seed: 11,
            as_of: as_of(),
        };
        let mut out = Vec::new();
        generate(&cfg, |roster| {
            let text = String::from_utf8(roster.csv).unwrap();
            let mut lines = text.lines();
            let header: Vec<&str> = lines.next().unwrap().split(',').collect();
            for line in lines {
                let cells: Vec<&str> = line.split(',').collect();
                let get = |c: &str| cells[header.iter().position(|h| *h == c).unwrap()];
                let opt = |c: &str| Some(get(c)).filter(|s| !s.is_empty()).map(str::to_string);
                if opt("disqualification_date").is_some() {
                    continue;
                }
                let birthdate = Date::parse(get("birthdate")).unwrap();
                let copay = opt("elderly_copay_ratio")
                    .or_else(|| opt("copay_ratio"))
                    .and_then(|r| r.parse::<u8>().ok())
                    .unwrap_or(30);
                out.push(Patient {
                    insurer_number: get("insurer_number").to_string(),
                    symbol: opt("symbol"),
                    number: get("number").to_string(),
                    branch: opt("branch"),
                    name: get("name").to_string(),
                    name_kana: opt("name_kana"),
                    sex: Sex::parse(get("sex")).unwrap(),
                    birthdate,
                    copay_percent: copay,
                });
            }
            Ok::<_, Infallible>(())
        })
        .unwrap();
        out
    })
}

fn outputs() -> &'static [(UkeOutput, UkeFile)] {
    static O: OnceLock<Vec<(UkeOutput, UkeFile)>> = OnceLock::new();
    O.get_or_init(|| {
        receipts(&config(), patients())
            .into_iter()
            .map(|o| {
                let f = uke::parse(&o.bytes).unwrap_or_else(|e| panic!("{}: {e}", o.file_name));
                (o, f)
            })
            .collect()
    })
}

#[test]
fn every_uke_file_reads_back_without_problems() {
    let outs = outputs();
    assert!(outs.len() > 30, "{} files", outs.len());
    let (mut medical, mut pharmacy, mut wareki) = (0, 0, 0);
    let mut names = HashSet::new();
    for (o, f) in outs {
        assert!(names.insert(o.file_name.clone()), "{}", o.file_name);
        let problems: Vec<String> = f.problems.iter().map(|p| p.to_string()).collect();
        assert!(problems.is_empty(), "{}: {problems:#?}", o.file_name);
        assert_eq!(f.unknown_records, 0, "{}", o.file_name);
        assert!(f.eof_marker);
        assert_eq!(f.receipts.len() as u64, o.receipts, "{}", o.file_name);
        assert!(o.receipts > 0);
        let code = InstitutionCode::parse(&o.institution_code).expect("institution code");
        assert_eq!(f.header.institution_code(), &code.as_str()[3..]);
        assert_eq!(f.header.prefecture(), &code.as_str()[..2]);
        let billing = f.header.billing_month().expect("billing month");
        assert_eq!((billing.year() as i32, billing.month()), o.billing_month);
        assert!((billing.year(), billing.month()) <= (2025, 6));
        match (&f.header, o.pharmacy) {
            (Header::Medical(ir), false) => {
                medical += 1;
                assert_eq!(ir.payer, o.payer);
                if ir.billing_month.is_some() && ir.fields[7].len() == 5 {
                    wareki += 1;
                }
            }
            (Header::Pharmacy(yk), true) => {
                pharmacy += 1;
                assert_eq!(yk.payer, o.payer);
            }
            _ => panic!("{}: header does not match the kind", o.file_name),
        }
        let trailer = f.trailer.as_ref().expect("GO");
        assert_eq!(u64::from(trailer.total_claims.unwrap()), o.receipts);
        let total: u64 = f
            .receipts
            .iter()
            .map(|r| u64::from(r.insurance().unwrap().total_points.unwrap()))
            .sum();
        assert_eq!(trailer.total_points, Some(total), "{}", o.file_name);
        let before_billing = match o.billing_month {
            (y, 1) => (y - 1, 12),
            (y, m) => (y, m - 1),
        };
        for r in &f.receipts {
            let month = r.month().expect("month");
            assert_eq!((month.year() as i32, month.month()), before_billing);
            check_totals(f.kind, r);
        }
    }
    assert!(
        medical > 0 && pharmacy > 0 && wareki > 0,
        "{medical} {pharmacy} {wareki}"
    );
}

/// HO 合計点数 is the sum of the lines; 負担金額 is 点数 × 10 × the co-pay ratio, to 10 yen.
fn check_totals(kind: FileKind, r: &uke::Receipt) {
    let ho = r.insurance().expect("HO");
    let mut sum = 0u64;
    match kind {
        FileKind::Medical => {
            for item in r.line_items() {
                if let Some(p) = item.points {
                    sum += u64::from(p) * u64::from(item.count.unwrap());
                }
                if matches!(item.kind, LineKind::Procedure | LineKind::Drug) {
                    let days: u32 = item.days.iter().map(|d| d.count).sum();
                    assert_eq!(Some(days), item.count, "line {}", item.line);
                }
            }
            let visit_days: HashSet<u8> = r
                .line_items()
                .iter()
                .flat_map(|i| i.days.iter().map(|d| d.day))
                .collect();
            assert_eq!(ho.days, Some(visit_days.len() as u32), "line {}", r.re.line);
        }
        FileKind::Pharmacy => {
            for rec in &r.records {
                if let Record::Cz(c) = rec {
                    sum += u64::from(c.fee_points.unwrap()) + u64::from(c.drug_points.unwrap());
                }
            }
            assert!(r.re.prescriber.is_some());
        }
    }
    assert_eq!(ho.total_points, Some(sum as u32), "line {}", r.re.line);
    let copay = u64::from(ho.copay.unwrap());
    let ok = [10, 20, 30]
        .iter()
        .any(|&pct| (sum * 10 * pct + 500) / 1000 * 10 == copay);
    assert!(ok, "負担金額 {copay} for {sum} points (line {})", r.re.line);
}

#[test]
fn derived_lines_and_master_coverage() {
    let (y, s) = masters();
    let drugs = parse_drugs(&y).expect("drug master");
    let procedures = parse_procedures(&s).expect("procedure master");
    assert!(drugs.problems.is_empty(), "{:?}", drugs.problems);
    assert!(procedures.problems.is_empty(), "{:?}", procedures.problems);
    let (drug_codes, procedure_codes) = master_codes();
    assert!((30..=50).contains(&drug_codes.len()));
    for c in &drug_codes {
        assert!(c.starts_with("69") && c.len() == 9, "{c}");
        assert!(drugs.find(c).next().is_some(), "{c}");
    }
    for c in &procedure_codes {
        assert_eq!(&c[3..5], "99", "{c}");
        assert!(procedures.find(c).next().is_some(), "{c}");
    }
    assert!(drugs.find(UNKNOWN_DRUG_CODE).next().is_none());
    assert!(procedures.find(UNKNOWN_PROCEDURE_CODE).next().is_none());
    // The versioned drug: two rows, the name depends on the day.
    let versioned: Vec<_> = drugs
        .entries
        .iter()
        .filter(|e| e.code == "691000105")
        .collect();
    assert_eq!(versioned.len(), 2);
    let before = drugs
        .get("691000105", Date::parse("20230101").ok())
        .unwrap();
    let after = drugs
        .get("691000105", Date::parse("20250101").ok())
        .unwrap();
    assert_ne!(before.name, after.name);
    assert!(drugs
        .entries
        .iter()
        .all(|e| e.unit.is_some() && e.valid_from.is_some()));
    assert!(drugs
        .get("691000101", Date::parse("20250101").ok())
        .unwrap()
        .valid_on(as_of()));

    let (mut drug_lines, mut categories, mut surgeries) = (0, HashSet::new(), 0);
    let mut used = HashSet::new();
    let mut unknown = (0, 0);
    for (o, f) in outputs() {
        for r in &f.receipts {
            let d = derive(f.kind, r);
            drug_lines += d.drugs.len();
            for drug in &d.drugs {
                used.insert(drug.code.clone());
                if drug.code == UNKNOWN_DRUG_CODE {
                    unknown.0 += 1;
                    assert!(drugs
                        .name_of(&drug.code, drug.date)
                        .ends_with("（名称不明）"));
                } else {
                    assert!(drugs.find(&drug.code).next().is_some(), "{}", drug.code);
                }
                if f.kind == FileKind::Pharmacy {
                    assert!(drug.date.is_some() && drug.prescribed_on.is_some());
                    assert!(drug.days_or_times.is_some() && drug.usage_code.is_some());
                }
            }
            for t in &d.treatments {
                categories.insert(t.kind);
                surgeries += usize::from(t.kind == TreatmentKind::Surgery);
                assert!(!t.dates.is_empty());
            }
            for item in r.line_items() {
                let code = item.code.unwrap_or_default();
                match item.kind {
                    LineKind::Procedure if code == UNKNOWN_PROCEDURE_CODE => unknown.1 += 1,
                    LineKind::Procedure => {
                        assert!(procedures.find(code).next().is_some(), "{code}");
                    }
                    LineKind::Drug if code != UNKNOWN_DRUG_CODE => {
                        assert!(drugs.find(code).next().is_some(), "{code}");
                    }
                    _ => {}
                }
            }
            assert!(d.expense.total_yen.unwrap() > 0, "{}", o.file_name);
        }
    }
    assert!(drug_lines > 1000, "{drug_lines}");
    assert!(surgeries > 0);
    for k in [
        TreatmentKind::Management,
        TreatmentKind::Procedure,
        TreatmentKind::Surgery,
        TreatmentKind::Examination,
        TreatmentKind::Imaging,
    ] {
        assert!(categories.contains(&k), "{k:?}");
    }
    assert!(unknown.0 > 0 && unknown.1 > 0, "{unknown:?}");
    assert!(used.len() > 25, "{} drugs used", used.len());
}

type Key = (String, Option<String>, String, Option<String>);

fn by_ids() -> HashMap<Key, &'static Patient> {
    patients()
        .iter()
        .map(|p| {
            (
                (
                    p.insurer_number.clone(),
                    p.symbol.clone(),
                    p.number.clone(),
                    p.branch.clone(),
                ),
                p,
            )
        })
        .collect()
}

#[test]
fn every_receipt_names_its_patient() {
    let index = by_ids();
    let mut matched = HashSet::new();
    for (o, f) in outputs() {
        for r in &f.receipts {
            let key = (
                r.insurer_number().unwrap().to_string(),
                r.symbol().map(str::to_string),
                r.number().unwrap().to_string(),
                r.branch().map(str::to_string),
            );
            let p = index
                .get(&key)
                .unwrap_or_else(|| panic!("{}: no patient {key:?}", o.file_name));
            assert_eq!(r.symbol(), p.symbol.as_deref());
            assert_eq!(r.birth_date(), Some(p.birthdate));
            assert_eq!(r.patient_name(), p.name);
            assert_eq!(r.sex(), Some(p.sex));
            let ho = r.insurance().unwrap();
            assert_eq!(ho.fields[1].len(), 8, "HO 保険者番号 is padded to 8");
            assert_eq!(ho.symbol.as_deref(), p.symbol.as_deref());
            assert_eq!(ho.number.as_deref(), Some(p.number.as_str()));
            matched.insert(key);
        }
    }
    let share = matched.len() * 100 / patients().len();
    assert!(
        (30..=70).contains(&share),
        "{share}% of patients have receipts"
    );
    assert!(
        matched.iter().any(|(i, _, _, _)| i.len() == 6),
        "a 国保 patient"
    );
}

#[test]
fn checkup_package_reads_back() {
    let files = checkups(&config(), patients());
    let package = parse_package(&files).expect("package");
    assert!(package.problems.is_empty(), "{:?}", package.problems);
    assert!(package.has_summary);
    assert!(package.documents.len() > 200, "{}", package.documents.len());
    assert_eq!(
        package.index.total_records,
        Some(package.documents.len() as u64)
    );
    let index = by_ids();
    let start = Date::parse("20230601").unwrap();
    let mut per_person: HashMap<Key, Vec<Date>> = HashMap::new();
    for d in &package.documents {
        let doc = &d.document;
        assert!(doc.problems.is_empty(), "{}: {:?}", d.path, doc.problems);
        let key = (
            doc.person.insurer_number.clone().unwrap(),
            doc.person.symbol.clone(),
            doc.person.number.clone().unwrap(),
            doc.person.branch.clone(),
        );
        let p = index
            .get(&key)
            .unwrap_or_else(|| panic!("{}: {key:?}", d.path));
        assert_eq!(doc.person.symbol, p.symbol);
        assert_eq!(doc.birth_date, Some(p.birthdate));
        assert_eq!(doc.sex, Some(p.sex));
        let date = doc.checkup_date.unwrap();
        assert!(
            date >= start && date < Date::parse("20250601").unwrap(),
            "{date}"
        );
        assert!((40..=74).contains(&p.birthdate.age_on(date)), "{}", d.path);
        assert!(doc.results.len() >= 20);
        for r in &doc.results {
            assert!(r.known, "{}", r.code);
            assert!(!matches!(r.value, CheckupValue::Text(_)) || r.code == "9N511000000000049");
        }
        per_person.entry(key).or_default().push(date);
    }
    for dates in per_person.values_mut() {
        assert!(dates.len() <= 3);
        dates.sort();
        for w in dates.windows(2) {
            assert!(w[1].to_days() - w[0].to_days() >= 300, "{dates:?}");
        }
    }
}

#[test]
fn same_input_same_bytes() {
    let a: Vec<Vec<u8>> = receipts(&config(), patients())
        .into_iter()
        .map(|o| o.bytes)
        .collect();
    let b: Vec<Vec<u8>> = outputs().iter().map(|(o, _)| o.bytes.clone()).collect();
    assert!(a == b);
    assert!(checkups(&config(), patients()) == checkups(&config(), patients()));
    assert!(masters() == masters());
    assert!(bench_receipts(50, 3) == bench_receipts(50, 3));
    assert!(bench_receipts(50, 3) != bench_receipts(50, 4));
    let other = MedicalConfig {
        rng_seed: 8,
        ..config()
    };
    let c: Vec<Vec<u8>> = receipts(&other, patients())
        .into_iter()
        .map(|o| o.bytes)
        .collect();
    assert!(a != c);
    // A patient's history depends on that patient only.
    let few = &patients()[..200];
    let alone: BTreeMap<String, Vec<u8>> = checkups(&config(), &few[100..101]);
    let together = checkups(&config(), few);
    let doc = |files: &BTreeMap<String, Vec<u8>>, p: &Patient| {
        parse_package(files).ok().and_then(|pkg| {
            pkg.documents
                .into_iter()
                .find(|d| {
                    let ids = &d.document.person;
                    ids.insurer_number.as_deref() == Some(p.insurer_number.as_str())
                        && ids.symbol == p.symbol
                        && ids.number.as_deref() == Some(p.number.as_str())
                        && ids.branch == p.branch
                })
                .map(|d| (d.document.checkup_date, d.document.results))
        })
    };
    assert_eq!(doc(&alone, &few[100]), doc(&together, &few[100]));
}

#[test]
fn nobody_selected_means_nothing() {
    let none = MedicalConfig {
        share_percent: 0,
        ..config()
    };
    assert!(receipts(&none, patients()).is_empty());
    let files = checkups(&none, patients());
    assert_eq!(files.len(), 2);
    assert_eq!(parse_package(&files).unwrap_err().code, "no_documents");
}

#[test]
fn bench_file() {
    let bytes = bench_receipts(1000, 1);
    let f = uke::parse(&bytes).expect("bench file");
    assert!(f.problems.is_empty(), "{:?}", f.problems);
    assert_eq!(f.receipts.len(), 1000);
    assert_eq!(f.trailer.unwrap().total_claims, Some(1000));
    assert_eq!(f.unknown_records, 0);
    for r in &f.receipts {
        check_totals(FileKind::Medical, r);
    }
    assert!(bench_receipts(0, 1).starts_with(b"IR,"));
}
