//! The 特定健診 item table: the rows of the 平成30年度 table (`XMLhc18tab.csv`) that the research
//! lists (`data-formats.md` §3.4), keyed by the 17-character JLAC10 item code.
//!
//! `unit` is the UCUM unit the table gives; `None` where the research names the item as PQ
//! without its unit (the unit is then not checked). The names are the research's item names; the
//! method in brackets (可視吸光光度法, HPLC, …) is read off the JLAC10 測定法 part of the code
//! and the research's method lists, not quoted from the table itself.

/// The XML data type (`xsi:type`) the table prescribes for an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Physical quantity: a number and a UCUM unit.
    Pq,
    /// Coded value (`CD`).
    Cd,
    /// Coded ordinal (`CO`).
    Co,
    /// Free text.
    St,
}

impl ValueType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pq => "PQ",
            Self::Cd => "CD",
            Self::Co => "CO",
            Self::St => "ST",
        }
    }

    /// Reads an `xsi:type` value, with or without a namespace prefix (`PQ`, `v3:PQ`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.rsplit(':').next().unwrap_or(s).trim() {
            "PQ" => Some(Self::Pq),
            "CD" => Some(Self::Cd),
            "CO" => Some(Self::Co),
            "ST" => Some(Self::St),
            _ => None,
        }
    }
}

/// One row of the item table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemDef {
    /// 項目コード (17 characters).
    pub code: &'static str,
    /// ＸＭＬ表示名.
    pub name: &'static str,
    pub value_type: ValueType,
    /// UCUM単位.
    pub unit: Option<&'static str>,
    /// 結果コードOID, for coded items where the research gives it.
    pub result_oid: Option<&'static str>,
}

const fn pq(code: &'static str, name: &'static str, unit: Option<&'static str>) -> ItemDef {
    ItemDef {
        code,
        name,
        value_type: ValueType::Pq,
        unit,
        result_oid: None,
    }
}

const fn coded(
    code: &'static str,
    name: &'static str,
    value_type: ValueType,
    result_oid: Option<&'static str>,
) -> ItemDef {
    ItemDef {
        code,
        name,
        value_type,
        unit: None,
        result_oid,
    }
}

const fn st(code: &'static str, name: &'static str) -> ItemDef {
    ItemDef {
        code,
        name,
        value_type: ValueType::St,
        unit: None,
        result_oid: None,
    }
}

const CM: Option<&str> = Some("cm");
const MMHG: Option<&str> = Some("mm[Hg]");
const MGDL: Option<&str> = Some("mg/dL");
const UL: Option<&str> = Some("U/L");
const PCT: Option<&str> = Some("%");
const OID_PREFIX: &str = "1.2.392.200119.6.";

use ValueType::{Cd, Co};

/// The item table, in the order of the research's list.
pub const ITEMS: &[ItemDef] = &[
    pq("9N001000000000001", "身長", CM),
    pq("9N006000000000001", "体重", Some("kg")),
    pq("9N011000000000001", "BMI", Some("kg/m2")),
    pq("9N016160100000001", "腹囲（実測）", CM),
    pq("9N016160200000001", "腹囲（自己判定）", CM),
    pq("9N016160300000001", "腹囲（自己申告）", CM),
    pq("9N021000000000001", "内臓脂肪面積", Some("cm2")),
    pq("9A751000000000001", "収縮期血圧（1回目）", MMHG),
    pq("9A752000000000001", "収縮期血圧（2回目）", MMHG),
    pq("9A755000000000001", "収縮期血圧（その他）", MMHG),
    pq("9A761000000000001", "拡張期血圧（1回目）", MMHG),
    pq("9A762000000000001", "拡張期血圧（2回目）", MMHG),
    pq("9A765000000000001", "拡張期血圧（その他）", MMHG),
    coded(
        "9N141000000000011",
        "採血時間（食後）",
        Cd,
        Some("1.2.392.200119.6.2202"),
    ),
    pq(
        "3F015000002327101",
        "中性脂肪（トリグリセリド）（可視吸光光度法）",
        MGDL,
    ),
    pq(
        "3F015000002327201",
        "中性脂肪（トリグリセリド）（紫外吸光光度法）",
        MGDL,
    ),
    pq(
        "3F015000002399901",
        "中性脂肪（トリグリセリド）（その他）",
        MGDL,
    ),
    pq(
        "3F070000002327101",
        "HDLコレステロール（可視吸光光度法）",
        MGDL,
    ),
    pq(
        "3F070000002327201",
        "HDLコレステロール（紫外吸光光度法）",
        MGDL,
    ),
    pq("3F070000002399901", "HDLコレステロール（その他）", MGDL),
    pq(
        "3F077000002327101",
        "LDLコレステロール（可視吸光光度法）",
        MGDL,
    ),
    pq(
        "3F077000002327201",
        "LDLコレステロール（紫外吸光光度法）",
        MGDL,
    ),
    pq("3F077000002399901", "LDLコレステロール（その他）", MGDL),
    pq("3F077000002391901", "LDLコレステロール（計算法）", MGDL),
    pq("3B035000002327201", "GOT（AST）（紫外吸光光度法）", UL),
    pq("3B035000002399901", "GOT（AST）（その他）", UL),
    pq("3B045000002327201", "GPT（ALT）（紫外吸光光度法）", UL),
    pq("3B045000002399901", "GPT（ALT）（その他）", UL),
    pq("3B090000002327101", "γ-GT（γ-GTP）（可視吸光光度法）", UL),
    pq("3B090000002399901", "γ-GT（γ-GTP）（その他）", UL),
    pq(
        "3C015000002327101",
        "血清クレアチニン（可視吸光光度法）",
        None,
    ),
    pq("8A065000002391901", "eGFR", None),
    pq("3C020000002327101", "血清尿酸（可視吸光光度法）", None),
    pq("3D010000001926101", "空腹時血糖（電位差法）", MGDL),
    pq("3D010000002227101", "空腹時血糖（可視吸光光度法）", MGDL),
    pq("3D010000001927201", "空腹時血糖（紫外吸光光度法）", MGDL),
    pq("3D010000001999901", "空腹時血糖（その他）", MGDL),
    pq("3D046000001906202", "HbA1c（NGSP値）（免疫学的方法）", PCT),
    pq("3D046000001920402", "HbA1c（NGSP値）（HPLC）", PCT),
    pq("3D046000001927102", "HbA1c（NGSP値）（酵素法）", PCT),
    pq("3D046000001999902", "HbA1c（NGSP値）（その他）", PCT),
    pq("3D045000001906202", "HbA1c（JDS値）（免疫学的方法）", PCT),
    pq("3D045000001920402", "HbA1c（JDS値）（HPLC）", PCT),
    pq("3D045000001927102", "HbA1c（JDS値）（酵素法）", PCT),
    pq("3D045000001999902", "HbA1c（JDS値）（その他）", PCT),
    coded(
        "1A020000000191111",
        "尿糖（機械読み取り）",
        Co,
        Some("1.2.392.200119.6.2102"),
    ),
    coded(
        "1A020000000190111",
        "尿糖（目視法）",
        Co,
        Some("1.2.392.200119.6.2102"),
    ),
    coded(
        "1A010000000191111",
        "尿蛋白（機械読み取り）",
        Co,
        Some("1.2.392.200119.6.2102"),
    ),
    coded(
        "1A010000000190111",
        "尿蛋白（目視法）",
        Co,
        Some("1.2.392.200119.6.2102"),
    ),
    pq("2A020000001930101", "赤血球数", None),
    pq("2A030000001930101", "血色素量（ヘモグロビン値）", None),
    pq("2A040000001930102", "ヘマトクリット値", None),
    coded("9A110160700000011", "心電図（所見の有無）", Cd, None),
    coded(
        "9N501000000000011",
        "メタボリックシンドローム判定",
        Cd,
        Some("1.2.392.200119.6.1008"),
    ),
    coded(
        "9N506000000000011",
        "保健指導レベル",
        Cd,
        Some("1.2.392.200119.6.3001"),
    ),
    st("9N511000000000049", "医師の診断（判定）"),
    st("9N516000000000049", "健診を実施した医師の氏名"),
    coded(
        "9N701000000000011",
        "服薬1（血圧）",
        Cd,
        Some("1.2.392.200119.6.2003"),
    ),
    coded(
        "9N706000000000011",
        "服薬2（血糖）",
        Cd,
        Some("1.2.392.200119.6.2003"),
    ),
    coded(
        "9N711000000000011",
        "服薬3（脂質）",
        Cd,
        Some("1.2.392.200119.6.2003"),
    ),
    coded("9N716000000000011", "既往歴1（脳血管）", Cd, None),
    coded("9N721000000000011", "既往歴2（心血管）", Cd, None),
    coded("9N726000000000011", "既往歴3（腎不全・人工透析）", Cd, None),
    coded("9N731000000000011", "貧血", Cd, None),
    coded("9N736000000000011", "喫煙", Cd, None),
];

/// The table row for an item code.
pub fn item(code: &str) -> Option<&'static ItemDef> {
    ITEMS.iter().find(|i| i.code == code)
}

/// Whether `oid` is in the 特定健診 OID arc (`1.2.392.200119.6.`).
pub fn is_checkup_oid(oid: &str) -> bool {
    oid.starts_with(OID_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for i in ITEMS {
            assert_eq!(i.code.len(), 17, "{}", i.code);
            assert!(i.code.is_ascii(), "{}", i.code);
            assert!(seen.insert(i.code), "duplicate {}", i.code);
            assert!(i.unit.is_none() || i.value_type == ValueType::Pq);
            assert!(i.result_oid.is_none_or(is_checkup_oid));
        }
        assert_eq!(item("9N011000000000001").unwrap().name, "BMI");
        assert_eq!(ValueType::parse("xsi:PQ"), Some(ValueType::Pq));
        assert_eq!(ValueType::parse("IVL_PQ"), None);
    }
}
