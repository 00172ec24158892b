//! What is shown from receipts: drug lines, treatment lines and 医療費通知 items, checked against
//! counts taken straight from the file's text (the golden 医科 sample and our 調剤 fixture).

use kakunin_formats::uke::derive::{derive, CareKind, TreatmentKind};
use kakunin_formats::uke::{self, FileKind};

const MEDICAL: &[u8] = include_bytes!("fixtures/uke/RECEIPTC_GAIRAI_SAMPLE.UKE");
const PHARMACY: &[u8] = include_bytes!("fixtures/uke/CHOZAI_SAMPLE.UKE");

/// (IY lines under 21–23/31–33, SI lines under the shown categories, SI lines under 50, Σ HO
/// points) counted from the text, carrying the 診療識別 forward (CO lines carry one too) as
/// the layout says.
fn counted(text: &str) -> (usize, usize, usize, u64) {
    let (mut drugs, mut treatments, mut surgeries, mut points) = (0, 0, 0, 0u64);
    let mut category = String::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(',').collect();
        match f[0] {
            "RE" => category.clear(),
            "SI" | "IY" | "TO" | "CO" => {
                if !f[1].is_empty() {
                    category = f[1].to_string();
                }
                let c = category.as_str();
                if f[0] == "IY" && matches!(c, "21" | "22" | "23" | "31" | "32" | "33") {
                    drugs += 1;
                }
                if f[0] == "SI"
                    && matches!(c, "13" | "14" | "40" | "50" | "54" | "60" | "70" | "80")
                {
                    treatments += 1;
                    surgeries += usize::from(c == "50");
                }
            }
            "HO" => points += f[5].trim().parse::<u64>().unwrap_or(0),
            _ => {}
        }
    }
    (drugs, treatments, surgeries, points)
}

#[test]
fn the_medical_sample_yields_what_its_lines_say() {
    let file = uke::parse(MEDICAL).unwrap();
    let text = encoding_rs::SHIFT_JIS.decode(MEDICAL).0;
    let (drugs, treatments, surgeries, points) = counted(&text);
    let derived: Vec<_> = file
        .receipts
        .iter()
        .map(|r| derive(FileKind::Medical, r))
        .collect();
    assert_eq!(derived.len(), 75);
    assert_eq!(derived.iter().map(|d| d.drugs.len()).sum::<usize>(), drugs);
    assert_eq!(
        derived.iter().map(|d| d.treatments.len()).sum::<usize>(),
        treatments
    );
    assert_eq!(
        derived
            .iter()
            .flat_map(|d| &d.treatments)
            .filter(|t| t.kind == TreatmentKind::Surgery)
            .count(),
        surgeries
    );
    assert_eq!(
        derived
            .iter()
            .filter_map(|d| d.expense.total_yen)
            .sum::<u64>(),
        points * 10
    );
    for d in &derived {
        assert!(d.expense.month.is_some());
        assert!(matches!(
            d.expense.kind,
            CareKind::Outpatient | CareKind::Inpatient
        ));
        for t in &d.treatments {
            assert!(!t.code.is_empty());
            // Every 算定日 lies in the receipt's month.
            let m = d.expense.month.unwrap();
            assert!(t
                .dates
                .iter()
                .all(|x| x.year() == m.year() && x.month() == m.month()));
        }
        for drug in &d.drugs {
            assert_eq!(drug.code.len(), 9, "{drug:?}");
        }
    }
}

#[test]
fn the_pharmacy_fixture_yields_drugs_with_their_rp_dates_and_form() {
    let file = uke::parse(PHARMACY).unwrap();
    assert_eq!(file.kind, FileKind::Pharmacy);
    let first = derive(FileKind::Pharmacy, &file.receipts[0]);
    let iy = encoding_rs::SHIFT_JIS
        .decode(PHARMACY)
        .0
        .lines()
        .take_while(|l| !l.starts_with("RE,2"))
        .filter(|l| l.starts_with("IY,"))
        .count();
    assert_eq!(first.drugs.len(), iy);
    let d = &first.drugs[0];
    assert_eq!(d.code, "620098801");
    assert_eq!(d.quantity.as_deref(), Some("3"));
    assert_eq!(d.rp, Some(1));
    assert_eq!(d.category.as_deref(), Some("1"));
    assert_eq!(d.usage_code.as_deref(), Some("1013044400000000"));
    assert_eq!(d.days_or_times, Some(14));
    assert_eq!(d.date.map(|x| x.compact()).as_deref(), Some("20240512"));
    assert_eq!(
        d.prescribed_on.map(|x| x.compact()).as_deref(),
        Some("20240510")
    );
    assert_eq!(first.expense.kind, CareKind::Pharmacy);
    assert_eq!(first.expense.total_yen, Some(4500));
    assert_eq!(first.expense.patient_share_yen, Some(1350));
    assert!(
        first.treatments.is_empty(),
        "diagnoses and fees are not treatments"
    );
}
