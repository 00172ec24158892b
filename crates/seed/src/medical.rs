//! Synthetic medical history for the synthetic population: UKE receipt files (医科 and 調剤),
//! 特定健診 CDA packages and the small drug and procedure masters that name what the receipts
//! use, so the central has medications, treatments and checkups to show.
//!
//! Everything is deterministic: the same [`MedicalConfig`] and patients give byte-identical
//! output. Each patient's history depends only on the seed and the patient's own identifiers,
//! so adding people to the list does not change the others' histories.
//!
//! The model, in short:
//!
//! - A share of the patients ([`MedicalConfig::share_percent`]) has history. Some of them have
//!   chronic conditions (高血圧症, 脂質異常症, ２型糖尿病, more often with age) and see their
//!   home clinic every month or every other month: 再診, 外来管理加算, 特定疾患療養管理料,
//!   blood tests every three months, an ECG once a year, and 28- to 56-day 内服 prescriptions.
//!   The clinic that dispenses itself bills them under 診療識別 21; the others write a 処方箋
//!   that a pharmacy fills the same or the next day (a 調剤 receipt with SH/CZ/IY per RP and
//!   the clinic as 処方医療機関).
//! - Everyone gets acute episodes, more often when young or old: colds (children at the
//!   paediatric clinic), hay fever in spring, gastritis, back and knee pain at the orthopaedic
//!   clinic (X-rays, 湿布処置), skin trouble at the dermatology clinic (ointments, now and then
//!   an incision, 手術 under 診療識別 50), and for older people a hospital work-up (echo, CT,
//!   colonoscopy, occasionally a polypectomy).
//! - Each yearly 特定健診 (ages 40–74) reflects the same conditions: higher blood pressure,
//!   lipids or HbA1c, and the 服薬 answers, for the patients who have them.
//!
//! Every institution, drug and procedure code is synthetic (see the `catalog` module docs);
//! two codes are used on purpose without a master row: [`UNKNOWN_DRUG_CODE`] and
//! [`UNKNOWN_PROCEDURE_CODE`].

mod catalog;
mod checkup;
mod uke;

use crate::rng::Rng;
use catalog::{
    Drug, Form, Institution, Kind, Procedure, Usage, AOBA_KIDS, GENERAL_HOSPITAL, HIKARI_ORTHO,
    INSTITUTIONS, MIDORI, NAGOMI_DERM, SAKURA, SHIOKAZE_HOSPITAL,
};
use kakunin_domain::{Date, Sex};
use std::collections::BTreeMap;
use uke::{Dispensing, FileWriter, Line, MedicalReceipt, Person, PharmacyReceipt, Rp};

/// The drug code used in receipts that the generated drug master deliberately lacks.
pub const UNKNOWN_DRUG_CODE: &str = catalog::UNKNOWN_DRUG.code;
/// The procedure code used in receipts that the generated procedure master deliberately lacks.
pub const UNKNOWN_PROCEDURE_CODE: &str = catalog::UNKNOWN_PROCEDURE.code;

/// A person to generate history for (built from roster rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    /// 8 digits, or 6 digits for 国保 (written space-padded to 8 in HO, as real files do).
    pub insurer_number: String,
    /// 記号 as on the card.
    pub symbol: Option<String>,
    /// 番号 as on the card.
    pub number: String,
    /// 枝番, 2 digits.
    pub branch: Option<String>,
    /// Family and given name separated by a full-width space.
    pub name: String,
    pub name_kana: Option<String>,
    /// Patients with [`Sex::Unset`] get no history (UKE 男女区分 has only 1 and 2).
    pub sex: Sex,
    pub birthdate: Date,
    /// 10, 20 or 30.
    pub copay_percent: u8,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MedicalConfig {
    pub rng_seed: u64,
    /// "Today": the history covers the `months` complete months before this day's month, and
    /// every receipt file is billed (請求年月) by this day's month at the latest.
    pub as_of: Date,
    /// History length in months (e.g. 60).
    pub months: u32,
    /// Which share of the patients has any history (0–100).
    pub share_percent: u8,
}

/// One UKE file.
#[derive(Clone, PartialEq, Eq)]
pub struct UkeOutput {
    /// A distinct name per file: `RECEIPTC_<code>_<YYYYMM>_<payer>.UKE` for 医科,
    /// `RECEIPTY_…` for 調剤 (real files are all called `RECEIPTC.UKE` / `RECEIPTY.UKE`; the
    /// name here keeps them apart in one folder).
    pub file_name: String,
    /// 調剤 (YK header) rather than 医科 (IR header).
    pub pharmacy: bool,
    /// 10 digits: 都道府県 (2) + 点数表 (1) + 7 digits; parses as an `InstitutionCode`.
    pub institution_code: String,
    /// 請求年月 (the month after the 診療年月 of every receipt in the file).
    pub billing_month: (i32, u32),
    /// 審査支払機関: `1` 社保 (支払基金), `2` 国保連 (市町村国保, 国保組合 and 後期高齢者医療).
    pub payer: &'static str,
    pub receipts: u64,
    /// The file: CP932, CRLF, ending with 0x1A.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for UkeOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UkeOutput")
            .field("file_name", &self.file_name)
            .field("pharmacy", &self.pharmacy)
            .field("institution_code", &self.institution_code)
            .field("billing_month", &self.billing_month)
            .field("payer", &self.payer)
            .field("receipts", &self.receipts)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// One UKE file per institution, billing month and 審査支払機関 (RECEIPTC-style 医科 files
/// with an IR header, 調剤 files with a YK header), in the order institution, month, payer.
/// One dermatology clinic writes 和暦 dates (an older receipt system); every other file is
/// 西暦. Receipt numbers run from 1 in each file; GO carries the file's totals.
pub fn receipts(config: &MedicalConfig, patients: &[Patient]) -> Vec<UkeOutput> {
    let window = Window::new(config);
    let mut files: BTreeMap<(usize, (i32, u32), &'static str), FileWriter> = BTreeMap::new();
    for patient in patients {
        let Some(profile) = Profile::of(config, patient) else {
            continue;
        };
        let history = History::generate(&window, patient, &profile);
        let payer = payer(&patient.insurer_number);
        for ((inst, month), r) in &history.medical {
            let person = person(patient, month_start(*month));
            let billing = next_month(*month);
            files
                .entry((*inst, billing, payer))
                .or_insert_with(|| FileWriter::new(&INSTITUTIONS[*inst], payer, billing))
                .medical(&person, *month, r);
        }
        for ((pharmacy, month, prescriber), r) in &history.pharmacy {
            let person = person(patient, month_start(*month));
            let billing = next_month(*month);
            files
                .entry((*pharmacy, billing, payer))
                .or_insert_with(|| FileWriter::new(&INSTITUTIONS[*pharmacy], payer, billing))
                .pharmacy(&person, *month, &INSTITUTIONS[*prescriber], r);
        }
    }
    files
        .into_iter()
        .map(|((inst, billing, payer), w)| output(&INSTITUTIONS[inst], billing, payer, w))
        .collect()
}

fn output(
    inst: &Institution,
    billing: (i32, u32),
    payer: &'static str,
    w: FileWriter,
) -> UkeOutput {
    let pharmacy = inst.kind == Kind::Pharmacy;
    let (receipts, bytes) = w.finish();
    let code = inst.code();
    UkeOutput {
        file_name: format!(
            "{}_{code}_{:04}{:02}_{payer}.UKE",
            if pharmacy { "RECEIPTY" } else { "RECEIPTC" },
            billing.0,
            billing.1
        ),
        pharmacy,
        institution_code: code,
        billing_month: billing,
        payer,
        receipts,
        bytes,
    }
}

/// One 特定健診 package as path → bytes: `index.xml`, `summary.xml` and one
/// `DATA/h<健診機関番号 10><実施日 8><serial 8>.xml` per checkup (UTF-8). Each selected patient
/// has a yearly checkup, on a day of the year of their own, whenever they are 40–74 on that
/// day and it falls within the last `months` months before `as_of`. The package mixes
/// insurers, so `index.xml` names no receiver. With nobody eligible the package has no DATA
/// files (which a reader reports as `no_documents`).
pub fn checkups(config: &MedicalConfig, patients: &[Patient]) -> BTreeMap<String, Vec<u8>> {
    let window = Window::new(config);
    let mut docs = Vec::new();
    for patient in patients {
        let Some(profile) = Profile::of(config, patient) else {
            continue;
        };
        let mut rng = Rng::new(profile.key ^ 0xC4EC_0000_0000_0001);
        let offset = rng.between(0, 364);
        for year in 0..=(config.months / 12 + 1) {
            let Some(date) = window.end.add_days(-(offset + 365 * i64::from(year))) else {
                break;
            };
            if date < window.start {
                break;
            }
            let age = patient.birthdate.age_on(date);
            if !(40..=74).contains(&age) {
                continue;
            }
            let center = if rng.per_mille(800) {
                catalog::CHECKUP_CENTER
            } else {
                GENERAL_HOSPITAL
            };
            docs.push(checkup::Checkup {
                date,
                institution: &INSTITUTIONS[center],
                values: checkup::values(&mut rng, patient, &profile, age),
                patient,
            });
        }
    }
    checkup::package(config.as_of, docs)
}

/// The synthetic masters every generated receipt uses, in the official layouts (no header,
/// every field double-quoted, CRLF, CP932): `(y_ALL file, s_ALL file)`. The codes are
/// synthetic (drugs `69…`, procedures `1xx99…`); one drug has two rows (renamed on
/// 2024-04-01, the old name valid until 2024-03-31) to exercise versioned lookups. The 調剤行為
/// codes on CZ records (`4299…`) belong to a master not generated here.
pub fn masters() -> (Vec<u8>, Vec<u8>) {
    catalog::masters()
}

/// A single 医科 file of exactly `receipts` receipts (one visit month each) for made-up
/// patients, deterministic from `rng_seed`, for the ingestion benchmark. The file is billed
/// in 2025-05 for 2025-04 care by a synthetic clinic.
pub fn bench_receipts(receipts: u64, rng_seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(rng_seed);
    let month = (2025, 4);
    let first = month_start(month);
    let inst = &INSTITUTIONS[SAKURA];
    let mut w = FileWriter::new(inst, "1", next_month(month));
    let names = bench_names();
    let mut r = MedicalReceipt::default();
    for i in 0..receipts {
        let female = rng.per_mille(520);
        let list = &names[usize::from(female)];
        let (family, given, kana) = &list[rng.below(list.len() as u64) as usize];
        let name = format!("{family}　{given}");
        let sex = if female { "2" } else { "1" };
        let birth = first
            .add_days(-rng.between(20 * 365, 85 * 365))
            .unwrap_or(first);
        let insurer =
            kakunin_domain::check_digit::complete(&format!("0113{:03}", (i % 997) as u32))
                .unwrap_or_default();
        let number = (100_000 + i).to_string();
        let late = birth.age_on(first) >= 75;
        let person = Person {
            insurer,
            symbol: "１２３",
            number: &number,
            branch: "00",
            name: &name,
            kana,
            sex,
            birth,
            copay_percent: if late { 10 } else { 30 },
            type_digit: if late { '8' } else { '2' },
            late_elderly: false,
        };
        r.units.clear();
        r.diagnoses.clear();
        r.visit_days = 0;
        let visits = rng.between(1, 3) as u32;
        let first_day = 1 + rng.between(0, 8) as u32;
        for v in 0..visits {
            let day = first_day + v * 9;
            r.visit(day);
            r.procedure(&catalog::REVISIT, day);
            r.procedure(&catalog::OUTPATIENT_MANAGEMENT, day);
        }
        r.diagnosis("高血圧症", first.add_days(-400).unwrap_or(first));
        r.procedure(&catalog::CHRONIC_MANAGEMENT, first_day);
        if rng.per_mille(300) {
            r.procedure(&catalog::BLOOD_DRAW, first_day);
            r.procedure(&catalog::BIOCHEMISTRY, first_day);
        }
        let rp = Rp {
            form: Form::Oral,
            usage: catalog::ONCE_MORNING,
            drugs: vec![(&catalog::AMLODIPINE, 100)],
            days: 28,
        };
        r.procedure(&catalog::PRESCRIPTION_FEE, first_day);
        r.procedure(&catalog::DISPENSING_FEE, first_day);
        r.drugs(&rp, first_day);
        w.medical(&person, month, &r);
    }
    w.finish().1
}

type BenchName = (&'static str, &'static str, String);

/// Family × given names (men, women) with their half-width kana, for the benchmark file.
fn bench_names() -> [Vec<BenchName>; 2] {
    let combine = |given: &[(&'static str, &'static str)]| {
        let mut out = Vec::new();
        for (family, family_reading, _) in crate::data::FAMILY_TOP.iter().take(30) {
            for (name, reading) in given.iter().take(12) {
                let kana =
                    kakunin_domain::text::half_width_kana(&format!("{family_reading} {reading}"))
                        .unwrap_or_default();
                out.push((*family, *name, kana));
            }
        }
        out
    };
    [
        combine(crate::data::GIVEN_MALE[3]),
        combine(crate::data::GIVEN_FEMALE[3]),
    ]
}

/// The months of history: `first..=last`, and the first and last day.
struct Window {
    months: Vec<(i32, u32)>,
    start: Date,
    end: Date,
}

impl Window {
    fn new(config: &MedicalConfig) -> Self {
        let this = (config.as_of.year() as i32, config.as_of.month());
        let mut months = Vec::new();
        let mut m = this;
        for _ in 0..config.months {
            m = prev_month(m);
            // Histories reach back at most to 1900 (dates start at 1868).
            if m.0 < 1900 {
                break;
            }
            months.push(m);
        }
        months.reverse();
        let start = months.first().map_or(config.as_of, |m| month_start(*m));
        let end = month_start(this).add_days(-1).unwrap_or(config.as_of);
        Self { months, start, end }
    }
}

fn month_start((y, m): (i32, u32)) -> Date {
    Date::from_ymd(y as u32, m, 1).expect("a month in range")
}

fn next_month((y, m): (i32, u32)) -> (i32, u32) {
    if m == 12 {
        (y + 1, 1)
    } else {
        (y, m + 1)
    }
}

fn prev_month((y, m): (i32, u32)) -> (i32, u32) {
    if m == 1 {
        (y - 1, 12)
    } else {
        (y, m - 1)
    }
}

fn month_of(d: Date) -> (i32, u32) {
    (d.year() as i32, d.month())
}

/// 国保 numbers (6 digits) and 後期高齢者医療 (法別 39) go to the 国保連, the rest to 支払基金.
fn payer(insurer: &str) -> &'static str {
    if insurer.len() == 6 || insurer.starts_with("39") {
        "2"
    } else {
        "1"
    }
}

fn person(p: &Patient, on: Date) -> Person<'_> {
    let age = p.birthdate.age_on(on);
    let late_elderly = p.insurer_number.len() == 8 && p.insurer_number.starts_with("39");
    let type_digit = if late_elderly || age >= 70 {
        if p.copay_percent >= 30 {
            '0'
        } else {
            '8'
        }
    } else if age < 6 {
        '4'
    } else if matches!(p.branch.as_deref(), None | Some("00" | "01")) {
        '2'
    } else {
        '6'
    };
    Person {
        insurer: format!("{:>8}", p.insurer_number),
        symbol: p.symbol.as_deref().unwrap_or(""),
        number: &p.number,
        branch: p.branch.as_deref().unwrap_or(""),
        name: &p.name,
        kana: p.name_kana.as_deref().unwrap_or(""),
        sex: if p.sex == Sex::Female { "2" } else { "1" },
        birth: p.birthdate,
        copay_percent: p.copay_percent,
        type_digit,
        late_elderly,
    }
}

/// FNV-1a over the patient's identifiers.
fn patient_key(p: &Patient) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = [
        p.insurer_number.as_str(),
        p.symbol.as_deref().unwrap_or(""),
        p.number.as_str(),
        p.branch.as_deref().unwrap_or(""),
    ];
    for part in parts {
        for b in part.bytes().chain([0xFF]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h ^ u64::from(p.birthdate.to_days() as u32)
}

/// Who the patient is, medically: fixed for all of the history.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    key: u64,
    pub hypertension: bool,
    pub dyslipidemia: bool,
    pub diabetes: bool,
    pub gout: bool,
    pub reflux: bool,
    pub constipation: bool,
    /// BMI × 10.
    pub bmi10: i64,
    /// Chronic care starts (may be before the window).
    chronic_since: Date,
    /// Sees the home clinic every other month with 56-day prescriptions.
    two_monthly: bool,
    home: usize,
    /// Antihypertensive, statin, diabetes drug chosen once.
    htn_drug: &'static Drug,
    statin: &'static Drug,
    add_sitagliptin: bool,
}

impl Profile {
    /// The profile, or `None` when the patient has no history.
    fn of(config: &MedicalConfig, p: &Patient) -> Option<Self> {
        if p.sex == Sex::Unset {
            return None;
        }
        let key = patient_key(p) ^ config.rng_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = Rng::new(key);
        if !rng.per_mille(u64::from(config.share_percent.min(100)) * 10) {
            return None;
        }
        let age = p.birthdate.age_on(config.as_of);
        let band = |per_mille: [u64; 6]| -> u64 {
            per_mille[match age {
                0..=29 => 0,
                30..=39 => 1,
                40..=49 => 2,
                50..=59 => 3,
                60..=69 => 4,
                _ => 5,
            }]
        };
        let male = p.sex == Sex::Male;
        let hypertension = rng.per_mille(band([5, 40, 140, 280, 430, 580]));
        let dyslipidemia = rng.per_mille(band([5, 50, 130, 230, 300, 320]));
        let diabetes =
            rng.per_mille(band([2, 15, 50, 90, 130, 150]) * if male { 3 } else { 2 } / 2);
        let gout = male && rng.per_mille(band([5, 20, 40, 50, 50, 50]));
        let reflux = rng.per_mille(band([10, 30, 50, 60, 80, 100]));
        let constipation = rng.per_mille(band([5, 10, 20, 30, 60, 150]));
        let mut bmi10 = rng.between(185, 255) + if male { 10 } else { 0 };
        if diabetes || dyslipidemia {
            bmi10 += rng.between(10, 40);
        }
        let years_ago = rng.between(0, i64::from(config.months) * 30 + 3000);
        let chronic_since = config
            .as_of
            .add_days(-years_ago)
            .unwrap_or(config.as_of)
            .max(p.birthdate.add_years(30).unwrap_or(p.birthdate));
        let home = if age < 15 {
            AOBA_KIDS
        } else if age >= 70 && rng.per_mille(150) {
            GENERAL_HOSPITAL
        } else if rng.per_mille(550) {
            SAKURA
        } else {
            MIDORI
        };
        Some(Self {
            key,
            hypertension,
            dyslipidemia,
            diabetes,
            gout,
            reflux,
            constipation,
            bmi10,
            chronic_since,
            two_monthly: rng.per_mille(300),
            home,
            htn_drug: catalog::pick(
                &mut rng,
                &[
                    &catalog::AMLODIPINE,
                    &catalog::AMLODIPINE,
                    &catalog::AMLODIPINE_LOW,
                    &catalog::CANDESARTAN,
                    &catalog::TELMISARTAN,
                ],
            ),
            statin: catalog::pick(&mut rng, &[&catalog::ATORVASTATIN, &catalog::ROSUVASTATIN]),
            add_sitagliptin: rng.per_mille(400),
        })
    }

    fn chronic(&self) -> bool {
        self.hypertension || self.dyslipidemia || self.diabetes || self.gout
    }
}

/// One patient's receipts, before they are written into files.
struct History {
    /// (institution, 診療年月) → receipt.
    medical: BTreeMap<(usize, (i32, u32)), MedicalReceipt>,
    /// (pharmacy, 調剤年月, prescribing institution) → receipt.
    pharmacy: BTreeMap<(usize, (i32, u32), usize), PharmacyReceipt>,
    /// Last visit per institution (for 初診 against 再診).
    last_visit: BTreeMap<usize, Date>,
    rng: Rng,
}

const DAY_1: Usage = catalog::ONCE_MORNING;

impl History {
    fn generate(window: &Window, p: &Patient, profile: &Profile) -> Self {
        let mut h = Self {
            medical: BTreeMap::new(),
            pharmacy: BTreeMap::new(),
            last_visit: BTreeMap::new(),
            rng: Rng::new(profile.key ^ 0x0E7E_4750_0000_0002),
        };
        let parity = h.rng.below(2) as usize;
        let ecg_month = h.rng.between(1, 12) as u32;
        for (i, &month) in window.months.iter().enumerate() {
            let first = month_start(month);
            // Not before birth (plus a month) or after the window.
            let Some(born) = p.birthdate.add_days(30) else {
                continue;
            };
            if born > first {
                continue;
            }
            if profile.chronic()
                && profile.chronic_since <= first
                && (!profile.two_monthly || i % 2 == parity)
            {
                let day = h.rng.between(1, 28) as u32;
                let date = first.add_days(i64::from(day) - 1).expect("date");
                h.chronic_visit(profile, date, i % 3 == parity, month.1 == ecg_month);
            }
            let age = p.birthdate.age_on(first);
            let per_mille = match age {
                0..=5 => 330,
                6..=14 => 180,
                15..=64 => 90,
                _ => 140,
            };
            if h.rng.per_mille(per_mille) {
                let day = h.rng.between(1, 20) as u32;
                let date = first.add_days(i64::from(day) - 1).expect("date");
                h.episode(profile, age, date);
            }
        }
        h
    }

    fn receipt(&mut self, inst: usize, date: Date) -> &mut MedicalReceipt {
        self.last_visit.insert(inst, date);
        let r = self.medical.entry((inst, month_of(date))).or_default();
        r.visit(date.day());
        r
    }

    /// 初診 (with 機能強化加算 at clinics) unless seen here within 90 days, else 再診.
    fn first_or_revisit(&mut self, inst: usize, date: Date, management: bool) {
        let new = self
            .last_visit
            .get(&inst)
            .is_none_or(|last| date.to_days() - last.to_days() > 90);
        let clinic = INSTITUTIONS[inst].kind != Kind::Hospital;
        let r = self.receipt(inst, date);
        let day = date.day();
        if new {
            r.procedure(&catalog::FIRST_VISIT, day);
            if clinic {
                r.procedure(&catalog::FIRST_VISIT_FUNCTION, day);
            }
        } else {
            r.procedure(&catalog::REVISIT, day);
            if management {
                r.procedure(&catalog::OUTPATIENT_MANAGEMENT, day);
            }
        }
    }

    /// The prescription of a visit: in-house drugs under 21/23, or a 処方箋 the paired
    /// pharmacy fills.
    fn prescribe(&mut self, inst: usize, date: Date, rps: Vec<Rp>) {
        if rps.is_empty() {
            return;
        }
        let institution = &INSTITUTIONS[inst];
        let day = date.day();
        if institution.in_house {
            let r = self.receipt(inst, date);
            r.procedure(&catalog::PRESCRIPTION_FEE, day);
            for rp in &rps {
                let fee = if rp.form == Form::Oral {
                    &catalog::DISPENSING_FEE
                } else {
                    &catalog::DISPENSING_FEE_EXTERNAL
                };
                r.procedure(fee, day);
                r.drugs(rp, day);
            }
            r.procedure(&catalog::DRUG_INFO, day);
            return;
        }
        self.receipt(inst, date)
            .procedure(&catalog::PRESCRIPTION_SLIP_FEE, day);
        let next_day = day < 28 && self.rng.per_mille(150);
        let dispensed = if next_day {
            date.add_days(1).expect("date")
        } else {
            date
        };
        self.pharmacy
            .entry((institution.pharmacy, month_of(dispensed), inst))
            .or_default()
            .dispensings
            .push(Dispensing {
                prescribed: date,
                dispensed,
                rps,
            });
    }

    fn chronic_visit(&mut self, profile: &Profile, date: Date, blood: bool, ecg: bool) {
        let home = profile.home;
        let day = date.day();
        let since = profile.chronic_since;
        self.first_or_revisit(home, date, !blood);
        let r = self.receipt(home, date);
        for (has, name) in [
            (profile.hypertension, "高血圧症"),
            (profile.dyslipidemia, "脂質異常症"),
            (profile.diabetes, "２型糖尿病"),
            (profile.gout, "高尿酸血症"),
            (profile.reflux, "逆流性食道炎"),
            (profile.constipation, "便秘症"),
        ] {
            if has {
                r.diagnosis(name, since);
            }
        }
        if INSTITUTIONS[home].kind != Kind::Hospital {
            r.procedure(&catalog::CHRONIC_MANAGEMENT, day);
        }
        if blood {
            r.procedure(&catalog::BLOOD_DRAW, day);
            r.procedure(&catalog::BLOOD_COUNT, day);
            r.procedure(&catalog::BIOCHEMISTRY, day);
            if profile.diabetes {
                r.procedure(&catalog::HBA1C_TEST, day);
            }
            r.procedure(&catalog::HEMATOLOGY_JUDGEMENT, day);
            r.procedure(&catalog::BIOCHEMISTRY_JUDGEMENT, day);
        }
        if ecg && profile.hypertension {
            r.procedure(&catalog::ECG, day);
        }
        let days = if profile.two_monthly { 56 } else { 28 };
        let mut morning = Vec::new();
        let mut twice = Vec::new();
        let mut thrice = Vec::new();
        if profile.hypertension {
            morning.push((profile.htn_drug, 100));
        }
        if profile.dyslipidemia {
            morning.push((profile.statin, 100));
        }
        if profile.diabetes {
            twice.push((
                &catalog::METFORMIN,
                200 + 200 * u32::from(profile.bmi10 > 250),
            ));
            if profile.add_sitagliptin {
                morning.push((&catalog::SITAGLIPTIN, 100));
            }
        }
        if profile.gout {
            morning.push((&catalog::FEBUXOSTAT, 100));
        }
        if profile.reflux {
            morning.push((&catalog::LANSOPRAZOLE, 100));
        }
        if profile.constipation {
            thrice.push((&catalog::MAGNESIUM_OXIDE, 300));
        }
        let rps = [
            (DAY_1, morning),
            (catalog::TWICE, twice),
            (catalog::THREE_TIMES, thrice),
        ]
        .into_iter()
        .filter(|(_, drugs)| !drugs.is_empty())
        .map(|(usage, drugs)| Rp {
            form: Form::Oral,
            usage,
            drugs,
            days,
        })
        .collect();
        self.prescribe(home, date, rps);
    }

    fn episode(&mut self, profile: &Profile, age: u32, date: Date) {
        let spring = matches!(date.month(), 2..=4);
        let weights = [
            50,                                       // cold
            if spring && age >= 6 { 25 } else { 0 },  // hay fever
            if age >= 15 { 10 } else { 0 },           // gastritis
            if age >= 15 { 10 + age / 5 } else { 0 }, // back or knee pain
            12,                                       // skin
            if age >= 50 { 6 } else { 0 },            // hospital work-up
        ];
        let choice = crate::rng::Weighted::new(weights.map(u64::from)).pick(&mut self.rng);
        match choice {
            0 => self.cold(profile, age, date),
            1 => self.hay_fever(profile, date),
            2 => self.gastritis(profile, date),
            3 => self.pain(age, date),
            4 => self.skin(date),
            _ => self.hospital(date),
        }
    }

    fn days(&mut self, lo: i64, hi: i64) -> u32 {
        self.rng.between(lo, hi) as u32
    }

    fn cold(&mut self, profile: &Profile, age: u32, date: Date) {
        let inst = if age < 15 {
            AOBA_KIDS
        } else if profile.home == GENERAL_HOSPITAL {
            SAKURA
        } else {
            profile.home
        };
        let day = date.day();
        self.first_or_revisit(inst, date, true);
        let tests = self.rng.per_mille(200);
        let antibiotic = self.rng.per_mille(250);
        let r = self.receipt(inst, date);
        r.diagnosis("急性上気道炎", date);
        if tests {
            r.procedure(&catalog::BLOOD_DRAW, day);
            r.procedure(&catalog::BLOOD_COUNT, day);
            r.procedure(&catalog::CRP, day);
        }
        let days = self.days(3, 5);
        let mut rps = Vec::new();
        if age < 15 {
            let kg = (3 + age * 3).min(45);
            let syrup = (kg * 4).clamp(50, 300);
            if INSTITUTIONS[inst].kind == Kind::Pediatrics && self.rng.per_mille(300) {
                self.receipt(inst, date).procedure(&catalog::NEBULIZER, day);
            }
            rps.push(Rp {
                form: Form::Oral,
                usage: catalog::THREE_TIMES,
                drugs: vec![
                    (&catalog::CARBOCISTEINE_SYRUP, syrup),
                    (&catalog::ACETAMINOPHEN_POWDER, (kg * 5).clamp(50, 300)),
                ],
                days,
            });
        } else {
            let mut drugs = vec![(&catalog::CARBOCISTEINE, 300), (&catalog::AMBROXOL, 300)];
            if self.rng.per_mille(400) {
                drugs.push((&catalog::DEXTROMETHORPHAN, 300));
            }
            rps.push(Rp {
                form: Form::Oral,
                usage: catalog::THREE_TIMES,
                drugs,
                days,
            });
            if self.rng.per_mille(300) {
                rps.push(Rp {
                    form: Form::Oral,
                    usage: catalog::THREE_TIMES,
                    drugs: vec![(&catalog::KAKKONTO, 750)],
                    days,
                });
            } else {
                rps.push(Rp {
                    form: Form::Oral,
                    usage: catalog::THREE_TIMES,
                    drugs: vec![(&catalog::ACETAMINOPHEN, 600)],
                    days,
                });
            }
            if antibiotic {
                let (drug, q) = if self.rng.per_mille(500) {
                    (&catalog::CEFCAPENE, 300)
                } else if self.rng.per_mille(500) {
                    (&catalog::CLARITHROMYCIN, 200)
                } else {
                    (&catalog::AMOXICILLIN, 300)
                };
                let usage = if q == 200 {
                    catalog::TWICE
                } else {
                    catalog::THREE_TIMES
                };
                rps.push(Rp {
                    form: Form::Oral,
                    usage,
                    drugs: vec![(drug, q)],
                    days: self.days(3, 5),
                });
            }
        }
        self.prescribe(inst, date, rps);
        if self.rng.per_mille(300) {
            if let Some(again) = date.add_days(self.rng.between(3, 7)) {
                if again.month() == date.month() {
                    self.first_or_revisit(inst, again, true);
                }
            }
        }
    }

    fn hay_fever(&mut self, profile: &Profile, date: Date) {
        let inst = if profile.home == GENERAL_HOSPITAL {
            MIDORI
        } else {
            profile.home
        };
        self.first_or_revisit(inst, date, true);
        self.receipt(inst, date).diagnosis("アレルギー性鼻炎", date);
        let days = self.days(14, 30);
        let mut rps = vec![if self.rng.per_mille(500) {
            Rp {
                form: Form::Oral,
                usage: catalog::TWICE,
                drugs: vec![(&catalog::FEXOFENADINE, 200)],
                days,
            }
        } else {
            Rp {
                form: Form::Oral,
                usage: DAY_1,
                drugs: vec![(&catalog::LEVOCETIRIZINE, 100)],
                days,
            }
        }];
        if self.rng.per_mille(300) {
            rps.push(Rp {
                form: Form::External,
                usage: catalog::TOPICAL,
                drugs: vec![(&catalog::HYALURONATE_EYEDROPS, 500)],
                days: 1,
            });
        }
        self.prescribe(inst, date, rps);
    }

    fn gastritis(&mut self, profile: &Profile, date: Date) {
        let inst = if profile.home == GENERAL_HOSPITAL {
            SAKURA
        } else {
            profile.home
        };
        self.first_or_revisit(inst, date, true);
        self.receipt(inst, date).diagnosis("急性胃炎", date);
        let days = self.days(7, 14);
        let rps = vec![
            Rp {
                form: Form::Oral,
                usage: catalog::TWICE,
                drugs: vec![(&catalog::FAMOTIDINE, 200)],
                days,
            },
            Rp {
                form: Form::Oral,
                usage: catalog::THREE_TIMES,
                drugs: vec![(&catalog::REBAMIPIDE, 300)],
                days,
            },
        ];
        self.prescribe(inst, date, rps);
    }

    fn pain(&mut self, age: u32, date: Date) {
        let inst = HIKARI_ORTHO;
        let day = date.day();
        let new = self
            .last_visit
            .get(&inst)
            .is_none_or(|last| date.to_days() - last.to_days() > 90);
        self.first_or_revisit(inst, date, false);
        let knee = age >= 55 && self.rng.per_mille(500);
        let views = if self.rng.per_mille(500) { 2 } else { 1 };
        let r = self.receipt(inst, date);
        r.diagnosis(
            if knee {
                "変形性膝関節症"
            } else {
                "腰痛症"
            },
            date,
        );
        if new {
            let lines = [
                Line::Si(catalog::XRAY_DIAGNOSIS.code),
                Line::Si(catalog::XRAY_DIGITAL.code),
                Line::Si(catalog::XRAY_IMAGE_MANAGEMENT.code),
            ];
            let points = catalog::XRAY_DIAGNOSIS.points
                + catalog::XRAY_DIGITAL.points
                + catalog::XRAY_IMAGE_MANAGEMENT.points;
            r.add("70", &lines, points, day, views);
        }
        r.procedure(&catalog::POULTICE, day);
        let days = self.days(7, 14);
        let tape = if self.rng.per_mille(600) {
            &catalog::LOXOPROFEN_TAPE
        } else {
            &catalog::KETOPROFEN_TAPE
        };
        let rps = vec![
            Rp {
                form: Form::Oral,
                usage: catalog::THREE_TIMES,
                drugs: vec![(&catalog::LOXOPROFEN, 300), (&catalog::REBAMIPIDE, 300)],
                days,
            },
            Rp {
                form: Form::External,
                usage: catalog::TOPICAL,
                drugs: vec![(tape, 100 * (days + days % 7).min(28))],
                days: 1,
            },
        ];
        self.prescribe(inst, date, rps);
        let follow_ups = self.rng.between(0, 3);
        for k in 1..=follow_ups {
            let Some(again) = date.add_days(7 * k) else {
                break;
            };
            if again.month() != date.month() {
                break;
            }
            self.first_or_revisit(inst, again, false);
            self.receipt(inst, again)
                .procedure(&catalog::POULTICE, again.day());
        }
    }

    fn skin(&mut self, date: Date) {
        let inst = NAGOMI_DERM;
        let day = date.day();
        self.first_or_revisit(inst, date, true);
        let kind = self.rng.below(100);
        let (name, surgery) = match kind {
            0..=69 => ("湿疹", None),
            70..=89 => ("皮膚膿瘍", Some(&catalog::INCISION)),
            _ => ("粉瘤", Some(&catalog::TUMOR_EXCISION)),
        };
        self.receipt(inst, date).diagnosis(name, date);
        let mut rps = Vec::new();
        match surgery {
            None => {
                rps.push(Rp {
                    form: Form::External,
                    usage: catalog::TOPICAL,
                    drugs: vec![(&catalog::BETAMETHASONE_OINTMENT, 1000)],
                    days: 1,
                });
                let mut moisturiser = vec![(&catalog::HEPARINOID_CREAM, 2500)];
                if self.rng.per_mille(150) {
                    moisturiser.push((&catalog::UNKNOWN_DRUG, 2000));
                }
                rps.push(Rp {
                    form: Form::External,
                    usage: catalog::TOPICAL,
                    drugs: moisturiser,
                    days: 1,
                });
            }
            Some(operation) => {
                let r = self.receipt(inst, date);
                r.procedure_with_drug(operation, &catalog::LIDOCAINE_INJECTION, 100, day);
                rps.push(Rp {
                    form: Form::External,
                    usage: catalog::TOPICAL,
                    drugs: vec![(&catalog::GENTAMICIN_OINTMENT, 1000)],
                    days: 1,
                });
                rps.push(Rp {
                    form: Form::Oral,
                    usage: catalog::THREE_TIMES,
                    drugs: vec![(&catalog::CEFCAPENE, 300), (&catalog::LOXOPROFEN, 300)],
                    days: 5,
                });
                for k in [2, 5] {
                    if let Some(again) = date.add_days(k).filter(|d| d.month() == date.month()) {
                        self.first_or_revisit(inst, again, false);
                        self.receipt(inst, again)
                            .procedure(&catalog::WOUND_CARE, again.day());
                    }
                }
            }
        }
        self.prescribe(inst, date, rps);
    }

    fn hospital(&mut self, date: Date) {
        let inst = if self.rng.per_mille(600) {
            GENERAL_HOSPITAL
        } else {
            SHIOKAZE_HOSPITAL
        };
        let day = date.day();
        self.first_or_revisit(inst, date, false);
        let colonoscopy = self.rng.per_mille(350);
        let polyp = colonoscopy && self.rng.per_mille(450);
        let ct = self.rng.per_mille(350);
        let unknown = self.rng.per_mille(250);
        let drip = self.rng.per_mille(150);
        let r = self.receipt(inst, date);
        r.procedure(&catalog::BLOOD_DRAW, day);
        r.procedure(&catalog::BLOOD_COUNT, day);
        r.procedure(&catalog::BIOCHEMISTRY, day);
        r.procedure(&catalog::CRP, day);
        r.procedure(&catalog::HEMATOLOGY_JUDGEMENT, day);
        r.procedure(&catalog::BIOCHEMISTRY_JUDGEMENT, day);
        r.procedure(&catalog::URINALYSIS, day);
        if unknown {
            r.procedure(&catalog::UNKNOWN_PROCEDURE, day);
        }
        if drip {
            r.procedure_with_drug(&catalog::DRIP_INFUSION, &catalog::SALINE, 100, day);
        }
        if ct {
            r.diagnosis("腹痛症", date);
            r.procedure(&catalog::CT_SCAN, day);
            r.procedure(&catalog::CT_DIAGNOSIS, day);
        } else {
            r.diagnosis("肝機能障害", date);
            r.procedure(&catalog::ABDOMINAL_ECHO, day);
        }
        if colonoscopy {
            if let Some(exam) = date.add_days(7).filter(|d| d.month() == date.month()) {
                self.first_or_revisit(inst, exam, false);
                let r = self.receipt(inst, exam);
                r.diagnosis("大腸ポリープ", exam);
                r.procedure(&catalog::COLONOSCOPY, exam.day());
                if polyp {
                    r.procedure(&catalog::POLYPECTOMY, exam.day());
                }
            }
        }
        if self.rng.per_mille(300) {
            let days = self.days(7, 14);
            self.prescribe(
                inst,
                date,
                vec![Rp {
                    form: Form::Oral,
                    usage: catalog::TWICE,
                    drugs: vec![(&catalog::FAMOTIDINE, 200)],
                    days,
                }],
            );
        }
    }
}

/// Every drug and procedure a generated receipt may use, as codes (for tests and callers that
/// want to check master coverage); the two deliberately unknown codes are not listed.
pub fn master_codes() -> (Vec<&'static str>, Vec<&'static str>) {
    (
        catalog::DRUGS.iter().map(|d| d.code).collect(),
        catalog::PROCEDURES
            .iter()
            .map(|p: &Procedure| p.code)
            .collect(),
    )
}
