//! 特定健診 CDA documents (research `data-formats.md` §3): header with the person's ids as
//! the central matches them, and results with the item table's codes and UCUM units.

use super::catalog::Institution;
use super::{Patient, Profile};
use crate::rng::Rng;
use kakunin_domain::{Date, Sex};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One checkup to write.
pub struct Checkup<'a> {
    pub date: Date,
    pub institution: &'a Institution,
    pub values: Values,
    pub patient: &'a Patient,
}

/// The measured values (fixed-point where the table has decimals).
pub struct Values {
    height10: i64,
    weight10: i64,
    bmi10: i64,
    waist10: i64,
    blood_pressure: [(i64, i64); 2],
    triglycerides: i64,
    hdl: i64,
    ldl: i64,
    ast: i64,
    alt: i64,
    ggt: i64,
    glucose: i64,
    hba1c10: i64,
    creatinine100: i64,
    urine_sugar: u8,
    urine_protein: u8,
    medication: [bool; 3],
    metabolic: u8,
    guidance: u8,
}

/// Values consistent with the patient's conditions (treated conditions a little high).
pub fn values(rng: &mut Rng, p: &Patient, profile: &Profile, age: u32) -> Values {
    let male = p.sex == Sex::Male;
    let age = i64::from(age);
    let height10 = if male {
        rng.between(1620, 1800) - (age - 40)
    } else {
        rng.between(1500, 1650) - (age - 40)
    };
    let bmi_target = profile.bmi10 + rng.between(-8, 8);
    let weight10 = bmi_target * height10 * height10 / 1_000_000;
    let bmi10 = (weight10 * 1_000_000 + height10 * height10 / 2) / (height10 * height10);
    let waist10 = (if male { 850 } else { 800 }) + (bmi10 - 220) * 5 / 2 + rng.between(-30, 30);
    let htn = profile.hypertension;
    let base_sys = 112 + (age - 40) / 2 + if htn { 16 } else { 0 } + (bmi10 - 220) / 10;
    let base_dia = 70 + (age - 40) / 5 + if htn { 8 } else { 0 };
    let blood_pressure = [
        (
            base_sys + rng.between(-8, 10),
            base_dia + rng.between(-5, 6),
        ),
        (
            base_sys + rng.between(-10, 6),
            base_dia + rng.between(-6, 4),
        ),
    ];
    let ldl = if profile.dyslipidemia {
        rng.between(100, 150)
    } else {
        rng.between(85, 155)
    };
    let hba1c10 = if profile.diabetes {
        rng.between(64, 80)
    } else {
        rng.between(50, 58)
    };
    let glucose = if profile.diabetes {
        rng.between(118, 165)
    } else {
        rng.between(82, 104)
    };
    let triglycerides = rng.between(55, 160) + (bmi10 - 220).max(0) * 3;
    let hdl = rng.between(42, 78) - (bmi10 - 220).max(0) / 3;
    let creatinine100 = if male {
        rng.between(70, 105)
    } else {
        rng.between(50, 80)
    };
    let risk = u8::from(blood_pressure[0].0 >= 130)
        + u8::from(hba1c10 >= 56 || glucose >= 110)
        + u8::from(triglycerides >= 150 || hdl < 40);
    let waist_over = waist10 >= if male { 850 } else { 900 };
    let metabolic = match (waist_over, risk) {
        (true, 2..) => 1,
        (true, 1) => 2,
        _ => 3,
    };
    let medicated = htn || profile.diabetes || profile.dyslipidemia;
    let guidance = if medicated || !waist_over && bmi10 < 250 {
        3
    } else if risk >= 2 && age < 65 {
        1
    } else if risk >= 1 {
        2
    } else {
        3
    };
    Values {
        height10,
        weight10,
        bmi10,
        waist10,
        blood_pressure,
        triglycerides,
        hdl,
        ldl,
        ast: rng.between(14, 32),
        alt: rng.between(10, 35) + (bmi10 - 220).max(0) / 4,
        ggt: rng.between(12, 55) + if male { 15 } else { 0 },
        glucose,
        hba1c10,
        creatinine100,
        urine_sugar: if profile.diabetes && rng.per_mille(300) {
            3
        } else {
            1
        },
        urine_protein: if rng.per_mille(60) { 2 } else { 1 },
        medication: [htn, profile.diabetes, profile.dyslipidemia],
        metabolic,
        guidance,
    }
}

fn tenths(v: i64) -> String {
    format!("{}.{}", v / 10, v % 10)
}

fn hundredths(v: i64) -> String {
    format!("{}.{:02}", v / 100, v % 100)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const ITEM_OID: &str = "1.2.392.200119.6.1005";

fn pq(out: &mut String, code: &str, name: &str, value: &str, unit: &str, high: bool) {
    let _ = write!(
        out,
        "          <entry>\n            <observation classCode=\"OBS\" moodCode=\"EVN\">\n              \
         <code code=\"{code}\" codeSystem=\"{ITEM_OID}\" displayName=\"{name}\"/>\n              \
         <value xsi:type=\"PQ\" value=\"{value}\" unit=\"{unit}\"/>\n"
    );
    if high {
        out.push_str(
            "              <interpretationCode code=\"H\" codeSystem=\"1.2.392.200119.6.2101\"/>\n",
        );
    }
    out.push_str("            </observation>\n          </entry>\n");
}

fn coded(out: &mut String, code: &str, name: &str, ty: &str, value: (u8, &str), oid: &str) {
    let _ = write!(
        out,
        "          <entry>\n            <observation classCode=\"OBS\" moodCode=\"EVN\">\n              \
         <code code=\"{code}\" codeSystem=\"{ITEM_OID}\" displayName=\"{name}\"/>\n              \
         <value xsi:type=\"{ty}\" code=\"{}\" codeSystem=\"{oid}\" displayName=\"{}\"/>\n            \
         </observation>\n          </entry>\n",
        value.0, value.1
    );
}

fn blood_pressure(out: &mut String, (sys_code, dia_code): (&str, &str), (s, d): (i64, i64)) {
    out.push_str(
        "          <entry>\n            <observation classCode=\"OBS\" moodCode=\"EVN\">\n              \
         <code nullFlavor=\"NA\"/>\n",
    );
    for (code, name, v) in [(sys_code, "収縮期血圧", s), (dia_code, "拡張期血圧", d)] {
        let _ = write!(
            out,
            "              <entryRelationship typeCode=\"COMP\">\n                \
             <observation classCode=\"OBS\" moodCode=\"EVN\">\n                  \
             <code code=\"{code}\" codeSystem=\"{ITEM_OID}\" displayName=\"{name}\"/>\n                  \
             <value xsi:type=\"PQ\" value=\"{v}\" unit=\"mm[Hg]\"/>\n                \
             </observation>\n              </entryRelationship>\n"
        );
    }
    out.push_str("            </observation>\n          </entry>\n");
}

fn yes_no(b: bool) -> (u8, &'static str) {
    if b {
        (1, "はい")
    } else {
        (2, "いいえ")
    }
}

fn document(c: &Checkup<'_>, serial: u64, issued: Date) -> String {
    let p = c.patient;
    let v = &c.values;
    let inst = c.institution.code();
    let mut out = String::with_capacity(8192);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<ClinicalDocument xmlns=\"urn:hl7-org:v3\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n  \
<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>\n  \
<id root=\"1.2.392.200119.6.102.{inst}\" extension=\"{serial:012}\"/>\n  \
<code code=\"10\" codeSystem=\"1.2.392.200119.6.1001\"/>\n  \
<effectiveTime value=\"{}\"/>\n  \
<confidentialityCode code=\"N\" codeSystem=\"2.16.840.1.113883.5.25\"/>\n  \
<recordTarget>\n    <patientRole>\n      \
<id root=\"1.2.392.200119.6.101\" extension=\"{}\"/>\n",
        issued.compact(),
        escape(&p.insurer_number)
    );
    if let Some(symbol) = &p.symbol {
        let _ = writeln!(
            out,
            "      <id root=\"1.2.392.200119.6.204\" extension=\"{}\"/>",
            escape(symbol)
        );
    }
    let _ = writeln!(
        out,
        "      <id root=\"1.2.392.200119.6.205\" extension=\"{}\"/>",
        escape(&p.number)
    );
    if let Some(branch) = &p.branch {
        let _ = writeln!(
            out,
            "      <id root=\"1.2.392.200119.6.211\" extension=\"{}\"/>",
            escape(branch)
        );
    }
    let name = p.name_kana.as_deref().unwrap_or(&p.name);
    let _ = write!(
        out,
        "      <patient>\n        <name>{}</name>\n        \
<administrativeGenderCode code=\"{}\" codeSystem=\"1.2.392.200119.6.1104\"/>\n        \
<birthTime value=\"{}\"/>\n      </patient>\n    </patientRole>\n  </recordTarget>\n  \
<author>\n    <time value=\"{}\"/>\n    <assignedAuthor>\n      <id nullFlavor=\"NI\"/>\n      \
<representedOrganization>\n        <id root=\"1.2.392.200119.6.102\" extension=\"{inst}\"/>\n        \
<name>{}</name>\n      </representedOrganization>\n    </assignedAuthor>\n  </author>\n  \
<custodian>\n    <assignedCustodian>\n      <representedCustodianOrganization>\n        \
<id root=\"1.2.392.200119.6.102\" extension=\"{inst}\"/>\n      \
</representedCustodianOrganization>\n    </assignedCustodian>\n  </custodian>\n  \
<documentationOf>\n    <serviceEvent classCode=\"MPROT\">\n      \
<code code=\"010\" codeSystem=\"1.2.392.200119.6.1002\" displayName=\"特定健診\"/>\n      \
<effectiveTime value=\"{}\"/>\n    </serviceEvent>\n  </documentationOf>\n  \
<component>\n    <structuredBody>\n      <component>\n        <section>\n          \
<code code=\"01010\" codeSystem=\"1.2.392.200119.6.1010\" displayName=\"検査・問診結果セクション\"/>\n          \
<title>検査・問診結果</title>\n",
        escape(name),
        p.sex.code(),
        p.birthdate.compact(),
        issued.compact(),
        escape(c.institution.name),
        c.date.compact(),
    );
    let male = p.sex == Sex::Male;
    pq(
        &mut out,
        "9N001000000000001",
        "身長",
        &tenths(v.height10),
        "cm",
        false,
    );
    pq(
        &mut out,
        "9N006000000000001",
        "体重",
        &tenths(v.weight10),
        "kg",
        false,
    );
    pq(
        &mut out,
        "9N011000000000001",
        "BMI",
        &tenths(v.bmi10),
        "kg/m2",
        v.bmi10 >= 250,
    );
    let waist_high = v.waist10 >= if male { 850 } else { 900 };
    pq(
        &mut out,
        "9N016160100000001",
        "腹囲（実測）",
        &tenths(v.waist10),
        "cm",
        waist_high,
    );
    blood_pressure(
        &mut out,
        ("9A751000000000001", "9A761000000000001"),
        v.blood_pressure[0],
    );
    blood_pressure(
        &mut out,
        ("9A752000000000001", "9A762000000000001"),
        v.blood_pressure[1],
    );
    coded(
        &mut out,
        "9N141000000000011",
        "採血時間（食後）",
        "CD",
        (1, "食後10時間以上"),
        "1.2.392.200119.6.2202",
    );
    let mgdl = |out: &mut String, code, name, value: i64, high: bool| {
        pq(out, code, name, &value.to_string(), "mg/dL", high);
    };
    mgdl(
        &mut out,
        "3F015000002327101",
        "中性脂肪",
        v.triglycerides,
        v.triglycerides >= 150,
    );
    mgdl(
        &mut out,
        "3F070000002327101",
        "HDLコレステロール",
        v.hdl,
        false,
    );
    mgdl(
        &mut out,
        "3F077000002327101",
        "LDLコレステロール",
        v.ldl,
        v.ldl >= 140,
    );
    let ul = |out: &mut String, code, name, value: i64, high: bool| {
        pq(out, code, name, &value.to_string(), "U/L", high);
    };
    ul(
        &mut out,
        "3B035000002327201",
        "GOT（AST）",
        v.ast,
        v.ast > 30,
    );
    ul(
        &mut out,
        "3B045000002327201",
        "GPT（ALT）",
        v.alt,
        v.alt > 30,
    );
    ul(
        &mut out,
        "3B090000002327101",
        "γ-GT（γ-GTP）",
        v.ggt,
        v.ggt > 50,
    );
    pq(
        &mut out,
        "3C015000002327101",
        "血清クレアチニン",
        &hundredths(v.creatinine100),
        "mg/dL",
        false,
    );
    mgdl(
        &mut out,
        "3D010000001926101",
        "空腹時血糖",
        v.glucose,
        v.glucose >= 110,
    );
    pq(
        &mut out,
        "3D046000001906202",
        "HbA1c（NGSP）",
        &tenths(v.hba1c10),
        "%",
        v.hba1c10 >= 56,
    );
    let urine = |c: u8| match c {
        1 => (1, "－"),
        2 => (2, "±"),
        _ => (3, "＋"),
    };
    coded(
        &mut out,
        "1A020000000191111",
        "尿糖",
        "CO",
        urine(v.urine_sugar),
        "1.2.392.200119.6.2102",
    );
    coded(
        &mut out,
        "1A010000000191111",
        "尿蛋白",
        "CO",
        urine(v.urine_protein),
        "1.2.392.200119.6.2102",
    );
    for (i, (code, name)) in [
        ("9N701000000000011", "服薬1（血圧）"),
        ("9N706000000000011", "服薬2（血糖）"),
        ("9N711000000000011", "服薬3（脂質）"),
    ]
    .into_iter()
    .enumerate()
    {
        coded(
            &mut out,
            code,
            name,
            "CD",
            yes_no(v.medication[i]),
            "1.2.392.200119.6.2003",
        );
    }
    let metabolic = match v.metabolic {
        1 => (1, "基準該当"),
        2 => (2, "予備群該当"),
        _ => (3, "非該当"),
    };
    coded(
        &mut out,
        "9N501000000000011",
        "メタボリックシンドローム判定",
        "CD",
        metabolic,
        "1.2.392.200119.6.1008",
    );
    let guidance = match v.guidance {
        1 => (1, "積極的支援"),
        2 => (2, "動機付け支援"),
        _ => (3, "なし"),
    };
    coded(
        &mut out,
        "9N506000000000011",
        "保健指導レベル",
        "CD",
        guidance,
        "1.2.392.200119.6.3001",
    );
    let opinion = match (v.metabolic, v.medication.iter().any(|&m| m)) {
        (_, true) => "治療中の疾患について、かかりつけ医での治療を継続してください。",
        (1, false) => "メタボリックシンドロームに該当します。生活習慣の改善を指導。",
        (2, false) => "メタボリックシンドローム予備群です。食事と運動に注意してください。",
        _ => "異常なし。",
    };
    let _ = write!(
        out,
        "          <entry>\n            <observation classCode=\"OBS\" moodCode=\"EVN\">\n              \
<code code=\"9N511000000000049\" codeSystem=\"{ITEM_OID}\" displayName=\"医師の診断（判定）\"/>\n              \
<value xsi:type=\"ST\">{opinion}</value>\n            </observation>\n          </entry>\n\
        </section>\n      </component>\n    </structuredBody>\n  </component>\n</ClinicalDocument>\n"
    );
    out
}

/// The package: index, summary and the documents in order.
pub fn package(as_of: Date, docs: Vec<Checkup<'_>>) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let sender = docs.first().map_or_else(
        || super::INSTITUTIONS[super::catalog::CHECKUP_CENTER].code(),
        |d| d.institution.code(),
    );
    for (i, c) in docs.iter().enumerate() {
        let serial = i as u64 + 1;
        let issued = c.date.add_days(14).unwrap_or(c.date).min(as_of);
        let path = format!(
            "DATA/h{}{}{serial:08}.xml",
            c.institution.code(),
            c.date.compact()
        );
        files.insert(path, document(c, serial, issued).into_bytes());
    }
    let n = docs.len();
    let index = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<index xmlns=\"http://tokuteikenshin.jp/checkup/2007\">\n  <interactionType code=\"1\"/>\n  \
<creationTime value=\"{}\"/>\n  <sender>\n    <id root=\"1.2.392.200119.6.102\" extension=\"{sender}\"/>\n  \
</sender>\n  <serviceEventType code=\"1\"/>\n  <totalRecordCount value=\"{n}\"/>\n</index>\n",
        as_of.compact()
    );
    let cost = n as u64 * 8800;
    let paid = n as u64 * 1000;
    let summary = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<checkupSummary xmlns=\"http://tokuteikenshin.jp/checkup/2007\">\n  <serviceEventType code=\"1\"/>\n  \
<totalSubjectCount value=\"{n}\"/>\n  <totalCostAmount value=\"{cost}\" currency=\"JPY\"/>\n  \
<totalPaymentAmount value=\"{paid}\" currency=\"JPY\"/>\n  \
<totalClaimAmount value=\"{}\" currency=\"JPY\"/>\n</checkupSummary>\n",
        cost - paid
    );
    files.insert("index.xml".to_string(), index.into_bytes());
    files.insert("summary.xml".to_string(), summary.into_bytes());
    files
}
