//! The synthetic care catalogue: institutions, drugs and procedures, and the master files that
//! name them.
//!
//! EVERY CODE HERE IS SYNTHETIC. The names follow the style of the official masters (generic
//! drug names with strength, the short names of the 診療行為 master) so the demo reads
//! naturally, but no code belongs to a real product, procedure or institution:
//!
//! - drug codes are 9 digits starting `69` (real レセ電 drug codes start 61–64 and 66);
//! - procedure codes are 9 digits of the shape `1xx99yyyy` (a `99` in the fourth and fifth
//!   digits, where the real master counts its items);
//! - 調剤行為 codes on CZ records are `4299yyyyy`;
//! - institution codes have a body starting `99` and a correct check digit;
//! - points and prices are plausible round figures, not the current fee schedule;
//! - 単位コード and 用法コード are illustrative.
//!
//! Two codes are used in receipts on purpose without a master row, so readers exercise their
//! 名称不明 path: [`UNKNOWN_DRUG`] (an in-house ointment of the dermatology clinic) and
//! [`UNKNOWN_PROCEDURE`] (an examination at the hospitals).

use crate::rng::Rng;
use kakunin_domain::check_digit;
use kakunin_domain::text::half_width_kana;

/// How a drug is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// 内服.
    Oral,
    /// 外用.
    External,
    /// 注射.
    Injection,
}

impl Form {
    /// 剤形 of the drug master (column 28).
    fn master_code(self) -> &'static str {
        match self {
            Self::Oral => "1",
            Self::Injection => "4",
            Self::External => "6",
        }
    }
    /// 剤形コード of the 調剤 SH record.
    pub fn dispensing_code(self) -> &'static str {
        match self {
            Self::Oral => "1",
            Self::Injection => "4",
            Self::External => "5",
        }
    }
    /// 診療識別 of an in-house (医科) drug line.
    pub fn category(self) -> &'static str {
        match self {
            Self::Oral => "21",
            Self::External => "23",
            Self::Injection => "33",
        }
    }
}

/// One drug of the synthetic 医薬品マスター.
#[derive(Debug, Clone, Copy)]
pub struct Drug {
    pub code: &'static str,
    pub name: &'static str,
    /// Reading in full-width katakana (written half-width in the master).
    pub reading: &'static str,
    pub unit: &'static str,
    pub unit_code: &'static str,
    /// 薬価 in hundredths of a yen.
    pub price: u32,
    pub form: Form,
    pub generic: bool,
    /// The name this code had until 2024-03-31 (the master then has two rows for the code).
    pub former_name: Option<&'static str>,
}

const fn drug(
    code: &'static str,
    name: &'static str,
    reading: &'static str,
    unit: (&'static str, &'static str),
    price: u32,
    form: Form,
) -> Drug {
    Drug {
        code,
        name,
        reading,
        unit: unit.0,
        unit_code: unit.1,
        price,
        form,
        generic: true,
        former_name: None,
    }
}

const TABLET: (&str, &str) = ("錠", "17");
const CAPSULE: (&str, &str) = ("カプセル", "15");
const GRAM: (&str, &str) = ("ｇ", "33");
const ML: (&str, &str) = ("ｍＬ", "34");
const SHEET: (&str, &str) = ("枚", "24");
const PIECE: (&str, &str) = ("個", "18");
const AMPOULE: (&str, &str) = ("管", "13");
const BOTTLE: (&str, &str) = ("瓶", "21");

use Form::{External, Injection, Oral};

pub const AMLODIPINE: Drug = drug(
    "691000101",
    "アムロジピン錠５ｍｇ",
    "アムロジピンジョウ",
    TABLET,
    1010,
    Oral,
);
pub const AMLODIPINE_LOW: Drug = drug(
    "691000102",
    "アムロジピン錠２．５ｍｇ",
    "アムロジピンジョウ",
    TABLET,
    1010,
    Oral,
);
pub const CANDESARTAN: Drug = drug(
    "691000103",
    "カンデサルタン錠８ｍｇ",
    "カンデサルタンジョウ",
    TABLET,
    1800,
    Oral,
);
pub const TELMISARTAN: Drug = drug(
    "691000104",
    "テルミサルタン錠４０ｍｇ",
    "テルミサルタンジョウ",
    TABLET,
    1520,
    Oral,
);
/// The versioned entry: renamed on 2024-04-01 (two master rows).
pub const METFORMIN: Drug = Drug {
    former_name: Some("メトホルミン塩酸塩錠２５０ｍｇ"),
    ..drug(
        "691000105",
        "メトホルミン塩酸塩錠２５０ｍｇＭＴ",
        "メトホルミンエンサンエンジョウ",
        TABLET,
        1040,
        Oral,
    )
};
pub const SITAGLIPTIN: Drug = drug(
    "691000106",
    "シタグリプチン錠５０ｍｇ",
    "シタグリプチンジョウ",
    TABLET,
    6350,
    Oral,
);
pub const ATORVASTATIN: Drug = drug(
    "691000107",
    "アトルバスタチン錠１０ｍｇ",
    "アトルバスタチンジョウ",
    TABLET,
    2150,
    Oral,
);
pub const ROSUVASTATIN: Drug = drug(
    "691000108",
    "ロスバスタチン錠２．５ｍｇ",
    "ロスバスタチンジョウ",
    TABLET,
    1470,
    Oral,
);
pub const BISOPROLOL: Drug = drug(
    "691000109",
    "ビソプロロールフマル酸塩錠２．５ｍｇ",
    "ビソプロロールフマルサンエンジョウ",
    TABLET,
    1010,
    Oral,
);
pub const FEBUXOSTAT: Drug = drug(
    "691000110",
    "フェブキソスタット錠２０ｍｇ",
    "フェブキソスタットジョウ",
    TABLET,
    2350,
    Oral,
);
pub const ASPIRIN: Drug = drug(
    "691000111",
    "アスピリン腸溶錠１００ｍｇ",
    "アスピリンチョウヨウジョウ",
    TABLET,
    570,
    Oral,
);
pub const MAGNESIUM_OXIDE: Drug = drug(
    "691000112",
    "酸化マグネシウム錠３３０ｍｇ",
    "サンカマグネシウムジョウ",
    TABLET,
    570,
    Oral,
);
pub const LANSOPRAZOLE: Drug = drug(
    "691000113",
    "ランソプラゾールＯＤ錠１５ｍｇ",
    "ランソプラゾールオーディージョウ",
    TABLET,
    2090,
    Oral,
);
pub const FAMOTIDINE: Drug = drug(
    "691000114",
    "ファモチジン錠２０ｍｇ",
    "ファモチジンジョウ",
    TABLET,
    1010,
    Oral,
);
pub const REBAMIPIDE: Drug = drug(
    "691000115",
    "レバミピド錠１００ｍｇ",
    "レバミピドジョウ",
    TABLET,
    1010,
    Oral,
);
pub const ACETAMINOPHEN: Drug = drug(
    "691000116",
    "アセトアミノフェン錠２００ｍｇ",
    "アセトアミノフェンジョウ",
    TABLET,
    590,
    Oral,
);
pub const LOXOPROFEN: Drug = drug(
    "691000117",
    "ロキソプロフェンナトリウム錠６０ｍｇ",
    "ロキソプロフェンナトリウムジョウ",
    TABLET,
    1010,
    Oral,
);
pub const CARBOCISTEINE: Drug = drug(
    "691000118",
    "カルボシステイン錠５００ｍｇ",
    "カルボシステインジョウ",
    TABLET,
    1010,
    Oral,
);
pub const AMBROXOL: Drug = drug(
    "691000119",
    "アンブロキソール塩酸塩錠１５ｍｇ",
    "アンブロキソールエンサンエンジョウ",
    TABLET,
    570,
    Oral,
);
pub const DEXTROMETHORPHAN: Drug = drug(
    "691000120",
    "デキストロメトルファン臭化水素酸塩錠１５ｍｇ",
    "デキストロメトルファンシュウカスイソサンエンジョウ",
    TABLET,
    570,
    Oral,
);
pub const FEXOFENADINE: Drug = drug(
    "691000121",
    "フェキソフェナジン塩酸塩錠６０ｍｇ",
    "フェキソフェナジンエンサンエンジョウ",
    TABLET,
    1410,
    Oral,
);
pub const LEVOCETIRIZINE: Drug = drug(
    "691000122",
    "レボセチリジン塩酸塩錠５ｍｇ",
    "レボセチリジンエンサンエンジョウ",
    TABLET,
    2200,
    Oral,
);
pub const CEFCAPENE: Drug = drug(
    "691000123",
    "セフカペンピボキシル塩酸塩錠１００ｍｇ",
    "セフカペンピボキシルエンサンエンジョウ",
    TABLET,
    2580,
    Oral,
);
pub const CLARITHROMYCIN: Drug = drug(
    "691000124",
    "クラリスロマイシン錠２００ｍｇ",
    "クラリスロマイシンジョウ",
    TABLET,
    2430,
    Oral,
);
pub const AMOXICILLIN: Drug = drug(
    "691000125",
    "アモキシシリンカプセル２５０ｍｇ",
    "アモキシシリンカプセル",
    CAPSULE,
    1180,
    Oral,
);
pub const CARBOCISTEINE_SYRUP: Drug = drug(
    "691000126",
    "カルボシステインＤＳ５０％",
    "カルボシステインディーエス",
    GRAM,
    1370,
    Oral,
);
pub const ACETAMINOPHEN_POWDER: Drug = drug(
    "691000127",
    "アセトアミノフェン細粒２０％",
    "アセトアミノフェンサイリュウ",
    GRAM,
    850,
    Oral,
);
pub const KAKKONTO: Drug = Drug {
    generic: false,
    ..drug(
        "691000128",
        "葛根湯エキス顆粒",
        "カッコントウエキスカリュウ",
        GRAM,
        1290,
        Oral,
    )
};
pub const LOXOPROFEN_TAPE: Drug = drug(
    "696000201",
    "ロキソプロフェンナトリウムテープ１００ｍｇ（１０ｃｍ×１４ｃｍ）",
    "ロキソプロフェンナトリウムテープ",
    SHEET,
    1740,
    External,
);
pub const KETOPROFEN_TAPE: Drug = drug(
    "696000202",
    "ケトプロフェンテープ２０ｍｇ（７ｃｍ×１０ｃｍ）",
    "ケトプロフェンテープ",
    SHEET,
    1230,
    External,
);
pub const HEPARINOID_CREAM: Drug = drug(
    "696000203",
    "ヘパリン類似物質油性クリーム０．３％",
    "ヘパリンルイジブッシツユセイクリーム",
    GRAM,
    1840,
    External,
);
pub const BETAMETHASONE_OINTMENT: Drug = drug(
    "696000204",
    "ベタメタゾン吉草酸エステル軟膏０．１２％",
    "ベタメタゾンキッソウサンエステルナンコウ",
    GRAM,
    1500,
    External,
);
pub const GENTAMICIN_OINTMENT: Drug = drug(
    "696000205",
    "ゲンタマイシン硫酸塩軟膏０．１％",
    "ゲンタマイシンリュウサンエンナンコウ",
    GRAM,
    1100,
    External,
);
pub const HYALURONATE_EYEDROPS: Drug = drug(
    "696000206",
    "ヒアルロン酸ナトリウム点眼液０．１％",
    "ヒアルロンサンナトリウムテンガンエキ",
    ML,
    3960,
    External,
);
pub const DICLOFENAC_SUPPOSITORY: Drug = drug(
    "696000207",
    "ジクロフェナクナトリウム坐剤２５ｍｇ",
    "ジクロフェナクナトリウムザザイ",
    PIECE,
    1980,
    External,
);
pub const LIDOCAINE_INJECTION: Drug = drug(
    "694000301",
    "リドカイン塩酸塩注射液１％（５ｍＬ）",
    "リドカインエンサンエンチュウシャエキ",
    AMPOULE,
    5900,
    Injection,
);
pub const SALINE: Drug = drug(
    "694000302",
    "生理食塩液１００ｍＬ",
    "セイリショクエンエキ",
    BOTTLE,
    14600,
    Injection,
);

/// Every drug with a master row, in master order.
pub const DRUGS: &[Drug] = &[
    AMLODIPINE,
    AMLODIPINE_LOW,
    CANDESARTAN,
    TELMISARTAN,
    METFORMIN,
    SITAGLIPTIN,
    ATORVASTATIN,
    ROSUVASTATIN,
    BISOPROLOL,
    FEBUXOSTAT,
    ASPIRIN,
    MAGNESIUM_OXIDE,
    LANSOPRAZOLE,
    FAMOTIDINE,
    REBAMIPIDE,
    ACETAMINOPHEN,
    LOXOPROFEN,
    CARBOCISTEINE,
    AMBROXOL,
    DEXTROMETHORPHAN,
    FEXOFENADINE,
    LEVOCETIRIZINE,
    CEFCAPENE,
    CLARITHROMYCIN,
    AMOXICILLIN,
    CARBOCISTEINE_SYRUP,
    ACETAMINOPHEN_POWDER,
    KAKKONTO,
    LOXOPROFEN_TAPE,
    KETOPROFEN_TAPE,
    HEPARINOID_CREAM,
    BETAMETHASONE_OINTMENT,
    GENTAMICIN_OINTMENT,
    HYALURONATE_EYEDROPS,
    DICLOFENAC_SUPPOSITORY,
    LIDOCAINE_INJECTION,
    SALINE,
];

/// A drug code deliberately missing from the master: the dermatology clinic's in-house
/// ointment (院内製剤), prescribed now and then.
pub const UNKNOWN_DRUG: Drug = drug(
    "699999990",
    "院内製剤軟膏",
    "インナイセイザイナンコウ",
    GRAM,
    1000,
    External,
);

/// One procedure of the synthetic 診療行為マスター.
#[derive(Debug, Clone, Copy)]
pub struct Procedure {
    pub code: &'static str,
    pub name: &'static str,
    pub reading: &'static str,
    /// 点数.
    pub points: u32,
    /// 診療識別 it is billed under.
    pub category: &'static str,
}

const fn procedure(
    code: &'static str,
    name: &'static str,
    reading: &'static str,
    points: u32,
    category: &'static str,
) -> Procedure {
    Procedure {
        code,
        name,
        reading,
        points,
        category,
    }
}

pub const FIRST_VISIT: Procedure = procedure("111990010", "初診料", "ショシンリョウ", 291, "11");
pub const FIRST_VISIT_FUNCTION: Procedure = procedure(
    "111990020",
    "機能強化加算（初診料）",
    "キノウキョウカカサン",
    80,
    "11",
);
pub const REVISIT: Procedure = procedure("112990010", "再診料", "サイシンリョウ", 75, "12");
pub const OUTPATIENT_MANAGEMENT: Procedure = procedure(
    "112990020",
    "外来管理加算",
    "ガイライカンリカサン",
    52,
    "12",
);
pub const CHRONIC_MANAGEMENT: Procedure = procedure(
    "113990010",
    "特定疾患療養管理料（診療所）",
    "トクテイシッカンリョウヨウカンリリョウ",
    225,
    "13",
);
pub const DRUG_INFO: Procedure = procedure(
    "113990020",
    "薬剤情報提供料",
    "ヤクザイジョウホウテイキョウリョウ",
    4,
    "13",
);
pub const DISPENSING_FEE: Procedure = procedure(
    "120990010",
    "調剤料（内服薬・浸煎薬・屯服薬）",
    "チョウザイリョウ",
    11,
    "24",
);
pub const DISPENSING_FEE_EXTERNAL: Procedure = procedure(
    "120990020",
    "調剤料（外用薬）",
    "チョウザイリョウガイヨウヤク",
    8,
    "24",
);
pub const PRESCRIPTION_FEE: Procedure =
    procedure("120990030", "処方料（その他）", "ショホウリョウ", 42, "25");
pub const PRESCRIPTION_SLIP_FEE: Procedure = procedure(
    "120990040",
    "処方箋料（リフィル以外・その他）",
    "ショホウセンリョウ",
    60,
    "25",
);
pub const DRIP_INFUSION: Procedure = procedure(
    "130990010",
    "点滴注射（その他）",
    "テンテキチュウシャ",
    102,
    "33",
);
pub const WOUND_CARE: Procedure = procedure(
    "140990010",
    "創傷処置（１００ｃｍ２未満）",
    "ソウショウショチ",
    52,
    "40",
);
pub const POULTICE: Procedure = procedure(
    "140990020",
    "消炎鎮痛等処置（湿布処置）",
    "ショウエンチンツウトウショチ",
    35,
    "40",
);
pub const NEBULIZER: Procedure = procedure("140990030", "鼻処置", "ビショチ", 16, "40");
pub const INCISION: Procedure = procedure(
    "150990010",
    "皮膚切開術（長径１０ｃｍ未満）",
    "ヒフセッカイジュツ",
    640,
    "50",
);
pub const SUTURE: Procedure = procedure(
    "150990020",
    "創傷処理（筋肉、臓器に達しないもの）（長径５ｃｍ未満）",
    "ソウショウショリ",
    530,
    "50",
);
pub const TUMOR_EXCISION: Procedure = procedure(
    "150990030",
    "皮膚、皮下腫瘍摘出術（露出部）（長径２ｃｍ未満）",
    "ヒフヒカシュヨウテキシュツジュツ",
    1660,
    "50",
);
pub const POLYPECTOMY: Procedure = procedure(
    "150990040",
    "内視鏡的大腸ポリープ・粘膜切除術（長径２ｃｍ未満）",
    "ナイシキョウテキダイチョウポリープセツジョジュツ",
    5000,
    "50",
);
pub const BLOOD_COUNT: Procedure = procedure(
    "160990010",
    "末梢血液一般検査",
    "マッショウケツエキイッパンケンサ",
    21,
    "60",
);
pub const HBA1C_TEST: Procedure = procedure(
    "160990020",
    "ＨｂＡ１ｃ",
    "ヘモグロビンエーワンシー",
    49,
    "60",
);
pub const BIOCHEMISTRY: Procedure = procedure(
    "160990030",
    "生化学的検査（１）（１０項目以上）",
    "セイカガクテキケンサ",
    103,
    "60",
);
pub const URINALYSIS: Procedure = procedure(
    "160990040",
    "尿中一般物質定性半定量検査",
    "ニョウチュウイッパンブッシツケンサ",
    26,
    "60",
);
pub const HEMATOLOGY_JUDGEMENT: Procedure = procedure(
    "160990050",
    "血液学的検査判断料",
    "ケツエキガクテキケンサハンダンリョウ",
    125,
    "60",
);
pub const BIOCHEMISTRY_JUDGEMENT: Procedure = procedure(
    "160990060",
    "生化学的検査（１）判断料",
    "セイカガクテキケンサハンダンリョウ",
    144,
    "60",
);
pub const BLOOD_DRAW: Procedure = procedure(
    "160990070",
    "Ｂ－Ｖ（静脈血採取）",
    "ジョウミャクケツサイシュ",
    37,
    "60",
);
pub const ECG: Procedure = procedure(
    "160990080",
    "心電図検査（四肢単極誘導及び胸部誘導を含む最低１２誘導）",
    "シンデンズケンサ",
    130,
    "60",
);
pub const CRP: Procedure = procedure("160990090", "ＣＲＰ", "シーアールピー", 16, "60");
pub const ABDOMINAL_ECHO: Procedure = procedure(
    "160990100",
    "超音波検査（断層撮影法）（胸腹部）",
    "チョウオンパケンサ",
    530,
    "60",
);
pub const COLONOSCOPY: Procedure = procedure(
    "160990110",
    "ＥＦ－大腸",
    "ダイチョウファイバースコピー",
    1550,
    "60",
);
pub const XRAY_DIAGNOSIS: Procedure = procedure(
    "170990010",
    "単純撮影（イ）の写真診断",
    "タンジュンサツエイノシャシンシンダン",
    85,
    "70",
);
pub const XRAY_DIGITAL: Procedure = procedure(
    "170990020",
    "単純撮影（デジタル撮影）",
    "タンジュンサツエイデジタル",
    68,
    "70",
);
pub const XRAY_IMAGE_MANAGEMENT: Procedure = procedure(
    "170990030",
    "電子画像管理加算（単純撮影）",
    "デンシガゾウカンリカサン",
    57,
    "70",
);
pub const CT_SCAN: Procedure = procedure(
    "170990040",
    "ＣＴ撮影（６４列以上のマルチスライス型の機器による場合）",
    "シーティーサツエイ",
    1000,
    "70",
);
pub const CT_DIAGNOSIS: Procedure = procedure(
    "170990050",
    "コンピューター断層診断",
    "コンピューターダンソウシンダン",
    450,
    "70",
);

/// Every procedure with a master row, in master order.
pub const PROCEDURES: &[Procedure] = &[
    FIRST_VISIT,
    FIRST_VISIT_FUNCTION,
    REVISIT,
    OUTPATIENT_MANAGEMENT,
    CHRONIC_MANAGEMENT,
    DRUG_INFO,
    DISPENSING_FEE,
    DISPENSING_FEE_EXTERNAL,
    PRESCRIPTION_FEE,
    PRESCRIPTION_SLIP_FEE,
    DRIP_INFUSION,
    WOUND_CARE,
    POULTICE,
    NEBULIZER,
    INCISION,
    SUTURE,
    TUMOR_EXCISION,
    POLYPECTOMY,
    BLOOD_COUNT,
    HBA1C_TEST,
    BIOCHEMISTRY,
    URINALYSIS,
    HEMATOLOGY_JUDGEMENT,
    BIOCHEMISTRY_JUDGEMENT,
    BLOOD_DRAW,
    ECG,
    CRP,
    ABDOMINAL_ECHO,
    COLONOSCOPY,
    XRAY_DIAGNOSIS,
    XRAY_DIGITAL,
    XRAY_IMAGE_MANAGEMENT,
    CT_SCAN,
    CT_DIAGNOSIS,
];

/// A procedure code deliberately missing from the master: a hospital examination.
pub const UNKNOWN_PROCEDURE: Procedure = procedure(
    "160999990",
    "院内独自検査",
    "インナイドクジケンサ",
    150,
    "60",
);

/// 調剤行為 codes on CZ records (薬剤調製料), not part of the 診療行為 master.
pub const PREPARATION_ORAL: (&str, u32) = ("429900110", 24);
pub const PREPARATION_EXTERNAL: (&str, u32) = ("429900210", 10);

/// 用法コード (16 characters, illustrative) and the daily number of doses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub code: &'static str,
    pub doses_per_day: u32,
}
pub const ONCE_MORNING: Usage = Usage {
    code: "1011000400000000",
    doses_per_day: 1,
};
pub const TWICE: Usage = Usage {
    code: "1012040400000000",
    doses_per_day: 2,
};
pub const THREE_TIMES: Usage = Usage {
    code: "1013044400000000",
    doses_per_day: 3,
};
pub const TOPICAL: Usage = Usage {
    code: "2000000000000000",
    doses_per_day: 1,
};

/// What an institution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Clinic,
    Pediatrics,
    Orthopedics,
    Dermatology,
    Hospital,
    Pharmacy,
    CheckupCenter,
}

/// One synthetic institution.
#[derive(Debug, Clone, Copy)]
pub struct Institution {
    /// 都道府県 (2) + 点数表 (1) + 6 digits starting `99`; the check digit is added.
    pub body: &'static str,
    pub name: &'static str,
    pub kind: Kind,
    /// Dispenses drugs itself (院内処方) instead of writing prescriptions.
    pub in_house: bool,
    /// Writes 和暦 dates (an older receipt system).
    pub wareki: bool,
    pub phone: &'static str,
    pub address: &'static str,
    pub doctor: &'static str,
    /// The pharmacy (index into [`INSTITUTIONS`]) its prescriptions are usually taken to.
    pub pharmacy: usize,
}

impl Institution {
    /// The 10-digit 医療機関コード / 薬局コード with its check digit.
    pub fn code(&self) -> String {
        check_digit::complete(self.body).expect("digits")
    }
    pub fn prefecture(&self) -> &'static str {
        &self.body[..2]
    }
    pub fn fee_table(&self) -> &'static str {
        &self.body[2..3]
    }
    /// The 7 digits after 都道府県 and 点数表 (IR/YK 医療機関コード).
    pub fn short_code(&self) -> String {
        self.code()[3..].to_string()
    }
}

const fn inst(
    body: &'static str,
    name: &'static str,
    kind: Kind,
    phone: &'static str,
    address: &'static str,
    doctor: &'static str,
    pharmacy: usize,
) -> Institution {
    Institution {
        body,
        name,
        kind,
        in_house: false,
        wareki: false,
        phone,
        address,
        doctor,
        pharmacy,
    }
}

pub const SAKURA: usize = 0;
pub const MIDORI: usize = 1;
pub const AOBA_KIDS: usize = 2;
pub const HIKARI_ORTHO: usize = 3;
pub const NAGOMI_DERM: usize = 4;
pub const GENERAL_HOSPITAL: usize = 5;
pub const SHIOKAZE_HOSPITAL: usize = 6;
pub const CHECKUP_CENTER: usize = 11;

/// The institutions, clinics and hospitals first, then pharmacies, then the checkup centre.
pub const INSTITUTIONS: &[Institution] = &[
    inst(
        "131990011",
        "さくら内科クリニック",
        Kind::Clinic,
        "0399990011",
        "東京都架空区桜町１－１",
        "桜井　一郎",
        7,
    ),
    Institution {
        in_house: true,
        ..inst(
            "131990029",
            "みどり台ファミリークリニック",
            Kind::Clinic,
            "0399990029",
            "東京都架空区緑台２－３",
            "緑川　花子",
            7,
        )
    },
    inst(
        "141990037",
        "あおば小児科クリニック",
        Kind::Pediatrics,
        "0459990037",
        "神奈川県架空市青葉３－５",
        "青山　誠",
        8,
    ),
    inst(
        "141990045",
        "ひかり整形外科",
        Kind::Orthopedics,
        "0459990045",
        "神奈川県架空市光町１－８",
        "光田　健",
        8,
    ),
    Institution {
        wareki: true,
        ..inst(
            "271990053",
            "なごみ皮ふ科",
            Kind::Dermatology,
            "0699990053",
            "大阪府架空市和町４－２",
            "和田　涼子",
            9,
        )
    },
    inst(
        "131990061",
        "かくにん総合病院",
        Kind::Hospital,
        "0399990061",
        "東京都架空区確認町５－１",
        "確井　修",
        10,
    ),
    inst(
        "271990079",
        "しおかぜ記念病院",
        Kind::Hospital,
        "0699990079",
        "大阪府架空市潮風町２－１",
        "潮見　大輔",
        9,
    ),
    inst(
        "134990087",
        "さくら調剤薬局",
        Kind::Pharmacy,
        "0399990087",
        "東京都架空区桜町１－２",
        "",
        7,
    ),
    inst(
        "144990095",
        "あおば薬局",
        Kind::Pharmacy,
        "0459990095",
        "神奈川県架空市青葉３－６",
        "",
        8,
    ),
    inst(
        "274990101",
        "ひまわり薬局",
        Kind::Pharmacy,
        "0699990101",
        "大阪府架空市和町４－３",
        "",
        9,
    ),
    inst(
        "134990119",
        "かくにん総合病院前薬局",
        Kind::Pharmacy,
        "0399990119",
        "東京都架空区確認町５－２",
        "",
        10,
    ),
    inst(
        "131990127",
        "かくにん健診センター",
        Kind::CheckupCenter,
        "0399990127",
        "東京都架空区確認町５－３",
        "確井　修",
        10,
    ),
];

fn quoted_row(out: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(f);
        out.push('"');
    }
    out.push_str("\r\n");
}

fn kana(reading: &str) -> String {
    half_width_kana(reading).expect("readings are katakana")
}

fn price(hundredths: u32) -> String {
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// The first day of the masters' validity; the versioned drug's rename day.
const MASTER_FROM: &str = "20200401";
const RENAMED_ON: &str = "20240401";
const RENAMED_UNTIL: &str = "20240331";
const OPEN_END: &str = "99999999";

fn drug_row(out: &mut String, d: &Drug, name: &str, from: &str, until: &str) {
    let mut f = ["0"; 42];
    let kana = kana(d.reading);
    let name_len = name.chars().count().to_string();
    let kana_len = kana.chars().count().to_string();
    let unit_len = d.unit.chars().count().to_string();
    let amount = price(d.price);
    f[1] = "Y";
    f[2] = d.code;
    f[3] = &name_len;
    f[4] = name;
    f[5] = &kana_len;
    f[6] = &kana;
    f[7] = d.unit_code;
    f[8] = &unit_len;
    f[9] = d.unit;
    f[10] = "1";
    f[11] = &amount;
    f[16] = if d.generic { "1" } else { "0" };
    f[23] = "1";
    f[24] = &amount;
    f[27] = d.form.master_code();
    f[28] = "";
    f[29] = from;
    f[30] = until;
    f[31] = "";
    f[34] = name;
    f[35] = from;
    f[36] = "";
    f[37] = "";
    quoted_row(out, &f);
}

fn procedure_row(out: &mut String, p: &Procedure) {
    let mut f = ["0"; 150];
    let kana = kana(p.reading);
    let name_len = p.name.chars().count().to_string();
    let kana_len = kana.chars().count().to_string();
    let points = price(p.points * 100);
    f[1] = "S";
    f[2] = p.code;
    f[3] = &name_len;
    f[4] = p.name;
    f[5] = &kana_len;
    f[6] = &kana;
    f[9] = "";
    f[10] = "3";
    f[11] = &points;
    f[86] = MASTER_FROM;
    f[87] = OPEN_END;
    f[112] = p.name;
    quoted_row(out, &f);
}

/// The y and s masters (CP932, every field quoted, CRLF, no header).
pub fn masters() -> (Vec<u8>, Vec<u8>) {
    let mut y = String::new();
    for d in DRUGS {
        match d.former_name {
            Some(old) => {
                drug_row(&mut y, d, old, MASTER_FROM, RENAMED_UNTIL);
                drug_row(&mut y, d, d.name, RENAMED_ON, OPEN_END);
            }
            None => drug_row(&mut y, d, d.name, MASTER_FROM, OPEN_END),
        }
    }
    let mut s = String::new();
    for p in PROCEDURES {
        procedure_row(&mut s, p);
    }
    (super::uke::cp932(&y), super::uke::cp932(&s))
}

/// Picks one of `items` uniformly.
pub fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    *rng.pick(items)
}
