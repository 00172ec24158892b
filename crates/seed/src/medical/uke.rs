//! Writing UKE records: the 医科 layout (IR, RE, HO, SN, SY, SI, IY, GO) and the 調剤 layout
//! (YK, RE, HO, SN, SH, CZ, IY, GO) of `shared/research/data-formats.md` §1.3–1.4, as text
//! that is encoded to CP932 once per file.

use super::catalog::{Drug, Form, Institution, Procedure, Usage};
use kakunin_domain::Date;
use std::fmt::Write as _;

/// Encodes text as CP932 (every character the generator writes has a CP932 form).
pub fn cp932(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    debug_assert!(!unmappable, "a character without a CP932 form");
    bytes.into_owned()
}

/// Era tables for 和暦: (era digit, first day, first year of the era).
const ERAS: [(u32, (u32, u32, u32)); 5] = [
    (1, (1868, 1, 1)),
    (2, (1912, 7, 30)),
    (3, (1926, 12, 25)),
    (4, (1989, 1, 8)),
    (5, (2019, 5, 1)),
];

/// How dates are written: 西暦 (`YYYYMMDD`, `YYYYMM`) or 和暦 (`GYYMMDD`, `GYYMM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateStyle {
    pub wareki: bool,
}

impl DateStyle {
    pub fn date(self, d: Date) -> String {
        if !self.wareki {
            return d.compact();
        }
        let key = (d.year(), d.month(), d.day());
        let (g, (y0, _, _)) = ERAS
            .iter()
            .rev()
            .find(|(_, start)| *start <= key)
            .copied()
            .unwrap_or(ERAS[0]);
        format!("{g}{:02}{:02}{:02}", d.year() - y0 + 1, d.month(), d.day())
    }

    /// A month: in 和暦, the era the month's last day belongs to (so 2019-05 is 令和1年5月).
    pub fn month(self, (y, m): (i32, u32)) -> String {
        if !self.wareki {
            return format!("{y:04}{m:02}");
        }
        let key = (y as u32, m, 31);
        let (g, (y0, _, _)) = ERAS
            .iter()
            .rev()
            .find(|(_, start)| *start <= key)
            .copied()
            .unwrap_or(ERAS[0]);
        format!("{g}{:02}{m:02}", y as u32 - y0 + 1)
    }
}

/// 点数 of a drug amount: 15 yen or less is 1 point, then one point per started 10 yen.
pub fn drug_points(yen_hundredths: u64) -> u32 {
    if yen_hundredths <= 1500 {
        1
    } else {
        ((yen_hundredths - 1500).div_ceil(1000) + 1) as u32
    }
}

/// A quantity in hundredths, written as the shortest decimal (`1`, `1.5`, `0.25`).
pub fn quantity(hundredths: u32) -> String {
    let (i, f) = (hundredths / 100, hundredths % 100);
    match f {
        0 => i.to_string(),
        f if f % 10 == 0 => format!("{i}.{}", f / 10),
        f => format!("{i}.{f:02}"),
    }
}

/// 負担金額: points × 10 yen × the co-pay ratio, rounded to 10 yen (half up).
pub fn copay_yen(points: u64, percent: u8) -> u64 {
    let yen = points * 10 * u64::from(percent);
    (yen + 500) / 1000 * 10
}

/// The person as the receipt writes them.
#[derive(Debug, Clone)]
pub struct Person<'a> {
    /// 保険者番号 as written in HO (6-digit 国保 numbers left-padded with spaces to 8).
    pub insurer: String,
    pub symbol: &'a str,
    pub number: &'a str,
    pub branch: &'a str,
    pub name: &'a str,
    pub kana: &'a str,
    /// 男女区分 `1`/`2`.
    pub sex: &'static str,
    pub birth: Date,
    pub copay_percent: u8,
    /// The last digit of the レセプト種別 (2 本人, 4 未就学, 6 家族, 8 高齢一般, 0 高齢7割).
    pub type_digit: char,
    /// 後期高齢者医療 (レセプト種別 x3xx).
    pub late_elderly: bool,
}

impl Person<'_> {
    fn receipt_type(&self, first: char) -> String {
        let scheme = if self.late_elderly { '3' } else { '1' };
        format!("{first}{scheme}1{}", self.type_digit)
    }
}

/// One line of a 算定単位.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    Si(&'static str),
    /// A drug and its quantity in hundredths.
    Iy(&'static str, u32),
}

/// A 点数・回数算定単位 with the days it was counted in the month.
#[derive(Debug, Clone)]
pub struct Unit {
    pub category: &'static str,
    pub lines: Vec<Line>,
    pub points: u32,
    /// Count per day of the month (index 1–31).
    pub days: [u16; 32],
}

impl Unit {
    pub fn times(&self) -> u32 {
        self.days.iter().map(|&d| u32::from(d)).sum()
    }
}

/// One 医科 receipt (one patient, one institution, one month) being built.
#[derive(Debug, Clone, Default)]
pub struct MedicalReceipt {
    pub units: Vec<Unit>,
    /// Bit d set when the patient came on day d.
    pub visit_days: u32,
    /// (傷病名, 診療開始日), the first is 主傷病.
    pub diagnoses: Vec<(&'static str, Date)>,
}

impl MedicalReceipt {
    pub fn visit(&mut self, day: u32) {
        self.visit_days |= 1 << day;
    }

    pub fn diagnosis(&mut self, name: &'static str, start: Date) {
        if !self.diagnoses.iter().any(|(n, _)| *n == name) {
            self.diagnoses.push((name, start));
        }
    }

    /// Adds a unit counted `count` times on `day`, merged with an identical unit.
    pub fn add(
        &mut self,
        category: &'static str,
        lines: &[Line],
        points: u32,
        day: u32,
        count: u16,
    ) {
        let i = match self
            .units
            .iter()
            .position(|u| u.category == category && u.points == points && u.lines == lines)
        {
            Some(i) => i,
            None => {
                self.units.push(Unit {
                    category,
                    lines: lines.to_vec(),
                    points,
                    days: [0; 32],
                });
                self.units.len() - 1
            }
        };
        self.units[i].days[day as usize] += count;
    }

    /// One procedure done once on `day`, as its own unit.
    pub fn procedure(&mut self, p: &Procedure, day: u32) {
        self.add(p.category, &[Line::Si(p.code)], p.points, day, 1);
    }

    /// Drugs given at the clinic (院内): one unit per RP under 診療識別 21/23 (33 injections).
    pub fn drugs(&mut self, rp: &Rp, day: u32) {
        let lines: Vec<Line> = rp.drugs.iter().map(|(d, q)| Line::Iy(d.code, *q)).collect();
        let count = rp.quantity() as u16;
        self.add(rp.form.category(), &lines, rp.unit_points(), day, count);
    }

    /// A drug used inside a procedure unit (e.g. a local anaesthetic during 手術).
    pub fn procedure_with_drug(&mut self, p: &Procedure, drug: &Drug, qty: u32, day: u32) {
        let points = p.points + drug_points(u64::from(drug.price) * u64::from(qty) / 100);
        self.add(
            p.category,
            &[Line::Si(p.code), Line::Iy(drug.code, qty)],
            points,
            day,
            1,
        );
    }

    pub fn total_points(&self) -> u64 {
        self.units
            .iter()
            .map(|u| u64::from(u.points) * u64::from(u.times()))
            .sum()
    }
}

/// An RP: drugs taken the same way.
#[derive(Debug, Clone)]
pub struct Rp {
    pub form: Form,
    pub usage: Usage,
    /// Drug and quantity (per day for 内服, in total otherwise) in hundredths.
    pub drugs: Vec<(&'static Drug, u32)>,
    /// Days (内服) or 1.
    pub days: u32,
}

impl Rp {
    /// 単位薬剤料: per day for 内服, for the whole amount otherwise.
    pub fn unit_points(&self) -> u32 {
        let yen: u64 = self
            .drugs
            .iter()
            .map(|(d, q)| u64::from(d.price) * u64::from(*q) / 100)
            .sum();
        drug_points(yen)
    }
    pub fn quantity(&self) -> u32 {
        match self.form {
            Form::Oral => self.days,
            _ => 1,
        }
    }
}

/// One prescription filled at a pharmacy.
#[derive(Debug, Clone)]
pub struct Dispensing {
    pub prescribed: Date,
    pub dispensed: Date,
    pub rps: Vec<Rp>,
}

/// One 調剤 receipt (patient, pharmacy, prescribing institution, month).
#[derive(Debug, Clone, Default)]
pub struct PharmacyReceipt {
    pub dispensings: Vec<Dispensing>,
}

impl PharmacyReceipt {
    pub fn total_points(&self) -> u64 {
        self.dispensings
            .iter()
            .flat_map(|d| &d.rps)
            .map(|rp| u64::from(rp_fee(rp).1) + u64::from(rp.unit_points() * rp.quantity()))
            .sum()
    }
}

fn rp_fee(rp: &Rp) -> (&'static str, u32) {
    match rp.form {
        Form::Oral => super::catalog::PREPARATION_ORAL,
        _ => super::catalog::PREPARATION_EXTERNAL,
    }
}

fn join(out: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(f);
    }
    out.push_str("\r\n");
}

/// A UKE file being written: header, receipts, and the GO totals.
#[derive(Debug)]
pub struct FileWriter {
    pub text: String,
    pub receipts: u64,
    pub points: u64,
    pub style: DateStyle,
    pharmacy: bool,
}

impl FileWriter {
    /// Starts a file with its IR (医科) or YK (調剤) header.
    pub fn new(inst: &Institution, payer: &str, billing: (i32, u32)) -> Self {
        let style = DateStyle {
            wareki: inst.wareki,
        };
        let pharmacy = inst.fee_table() == "4";
        let mut text = String::with_capacity(4096);
        let month = style.month(billing);
        let code = inst.short_code();
        if pharmacy {
            join(
                &mut text,
                &[
                    "YK",
                    payer,
                    inst.prefecture(),
                    "4",
                    &code,
                    inst.name,
                    &month,
                    "00",
                    inst.phone,
                ],
            );
        } else {
            join(
                &mut text,
                &[
                    "IR",
                    payer,
                    inst.prefecture(),
                    "1",
                    &code,
                    "",
                    inst.name,
                    &month,
                    "00",
                    inst.phone,
                ],
            );
        }
        Self {
            text,
            receipts: 0,
            points: 0,
            style,
            pharmacy,
        }
    }

    fn ho_sn(&mut self, p: &Person<'_>, count: u32, points: u64) {
        let (count, points, copay) = (
            count.to_string(),
            points.to_string(),
            copay_yen(points, p.copay_percent).to_string(),
        );
        if self.pharmacy {
            join(
                &mut self.text,
                &[
                    "HO", &p.insurer, p.symbol, p.number, &count, &points, "", "", "", &copay, "",
                    "", "", "",
                ],
            );
        } else {
            join(
                &mut self.text,
                &[
                    "HO", &p.insurer, p.symbol, p.number, &count, &points, "", "", "", "", "",
                    &copay, "", "", "",
                ],
            );
        }
        join(
            &mut self.text,
            &["SN", "1", "01", "", "", "", p.branch, "", ""],
        );
    }

    /// Appends a 医科 receipt.
    pub fn medical(&mut self, p: &Person<'_>, month: (i32, u32), r: &MedicalReceipt) {
        self.receipts += 1;
        let points = r.total_points();
        self.points += points;
        let (no, kind, ym, birth) = (
            self.receipts.to_string(),
            p.receipt_type('1'),
            self.style.month(month),
            self.style.date(p.birth),
        );
        let chart = format!("{:05}", self.receipts);
        let mut f = [""; 38];
        f[0] = "RE";
        f[1] = &no;
        f[2] = &kind;
        f[3] = &ym;
        f[4] = p.name;
        f[5] = p.sex;
        f[6] = &birth;
        f[13] = &chart;
        f[36] = p.kana;
        join(&mut self.text, &f);
        self.ho_sn(p, r.visit_days.count_ones(), points);
        for (i, (name, start)) in r.diagnoses.iter().enumerate() {
            let start = self.style.date(*start);
            let main = if i == 0 { "01" } else { "" };
            join(
                &mut self.text,
                &["SY", "0000999", &start, "1", "", name, main, ""],
            );
        }
        for u in &r.units {
            let times = u.times().to_string();
            let last = u.lines.len() - 1;
            for (i, line) in u.lines.iter().enumerate() {
                let (id, code, qty) = match line {
                    Line::Si(c) => ("SI", *c, String::new()),
                    Line::Iy(c, q) => ("IY", *c, quantity(*q)),
                };
                let category = if i == 0 { u.category } else { "" };
                let _ = write!(self.text, "{id},{category},1,{code},{qty},");
                if i == last {
                    let _ = write!(self.text, "{}", u.points);
                }
                let _ = write!(self.text, ",{times},,,,,,");
                for d in 1..=31 {
                    self.text.push(',');
                    if u.days[d] > 0 {
                        let _ = write!(self.text, "{}", u.days[d]);
                    }
                }
                self.text.push_str("\r\n");
            }
        }
    }

    /// Appends a 調剤 receipt for prescriptions of `prescriber`.
    pub fn pharmacy(
        &mut self,
        p: &Person<'_>,
        month: (i32, u32),
        prescriber: &Institution,
        r: &PharmacyReceipt,
    ) {
        self.receipts += 1;
        let points = r.total_points();
        self.points += points;
        let (no, kind, ym, birth, code) = (
            self.receipts.to_string(),
            p.receipt_type('4'),
            self.style.month(month),
            self.style.date(p.birth),
            prescriber.short_code(),
        );
        let record = format!("{:05}", self.receipts);
        let mut f = [""; 42];
        f[0] = "RE";
        f[1] = &no;
        f[2] = &kind;
        f[3] = &ym;
        f[4] = p.name;
        f[5] = p.sex;
        f[6] = &birth;
        f[9] = prescriber.prefecture();
        f[10] = prescriber.fee_table();
        f[11] = &code;
        f[12] = prescriber.name;
        f[13] = prescriber.address;
        f[14] = prescriber.doctor;
        f[35] = &record;
        f[41] = p.kana;
        join(&mut self.text, &f);
        self.ho_sn(p, r.dispensings.len() as u32, points);
        let mut rp_no = 0;
        for (reception, d) in r.dispensings.iter().enumerate() {
            let prescribed = format!("{:02}{:02}", d.prescribed.month(), d.prescribed.day());
            let dispensed = format!("{:02}{:02}", d.dispensed.month(), d.dispensed.day());
            let reception = (reception + 1).to_string();
            for rp in &d.rps {
                rp_no += 1;
                let unit = rp.unit_points();
                let (fee_code, fee) = rp_fee(rp);
                let (rp_s, unit_s, qty, fee_s, drug_s) = (
                    rp_no.to_string(),
                    unit.to_string(),
                    rp.quantity().to_string(),
                    fee.to_string(),
                    (unit * rp.quantity()).to_string(),
                );
                join(
                    &mut self.text,
                    &[
                        "SH",
                        &rp_s,
                        rp.form.dispensing_code(),
                        rp.usage.code,
                        "",
                        &unit_s,
                        "",
                        "",
                        "",
                        "",
                    ],
                );
                let mut f = [""; 54];
                f[0] = "CZ";
                f[1] = "1";
                f[2] = &prescribed;
                f[3] = &dispensed;
                f[4] = &reception;
                f[5] = &qty;
                f[6] = "1";
                f[9] = fee_code;
                f[10] = &fee_s;
                f[13] = &drug_s;
                join(&mut self.text, &f);
                for (drug, q) in &rp.drugs {
                    let (q_s, single) = (
                        quantity(*q),
                        match rp.form {
                            Form::Oral => quantity(q / rp.usage.doses_per_day.max(1)),
                            _ => String::new(),
                        },
                    );
                    join(
                        &mut self.text,
                        &["IY", "1", drug.code, &q_s, "", "", "", "", "", &single],
                    );
                }
            }
        }
    }

    /// Writes GO and the end-of-file code, and encodes the file.
    pub fn finish(mut self) -> (u64, Vec<u8>) {
        let _ = write!(self.text, "GO,{},{},99\r\n", self.receipts, self.points);
        let mut bytes = cp932(&self.text);
        bytes.push(0x1A);
        (self.receipts, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_points_and_amounts() {
        let w = DateStyle { wareki: true };
        let d = |s| Date::parse(s).unwrap();
        assert_eq!(w.date(d("20240315")), "5060315");
        assert_eq!(w.date(d("20190430")), "4310430");
        assert_eq!(w.date(d("19650101")), "3400101");
        assert_eq!(w.month((2019, 5)), "50105");
        assert_eq!(w.month((2019, 4)), "43104");
        assert_eq!(DateStyle { wareki: false }.month((2024, 3)), "202403");
        assert_eq!(drug_points(1500), 1);
        assert_eq!(drug_points(1501), 2);
        assert_eq!(drug_points(2500), 2);
        assert_eq!(drug_points(2501), 3);
        assert_eq!(quantity(150), "1.5");
        assert_eq!(quantity(25), "0.25");
        assert_eq!(quantity(300), "3");
        assert_eq!(copay_yen(123, 30), 370);
        assert_eq!(copay_yen(125, 10), 130);
    }
}
