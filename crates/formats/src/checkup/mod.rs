//! 特定健診 results in the MHLW electronic standard format (HL7 CDA R2, research
//! `data-formats.md` §3) → typed checkup documents.
//!
//! Invariant: bytes in, typed values or problems out; no I/O (the caller unpacks the ZIP into a
//! path → bytes map); never panics on any input; an item code missing from the item table
//! ([`items`]) is kept with the document's `displayName` (or 名称不明), never dropped.
//!
//! Errors are split in two, each with a stable code and a Japanese message:
//!
//! - [`CheckupError`]: the input cannot be read at all: the package has no `index.xml`, a
//!   document is empty, not UTF-8 or cut inside a character, is not well-formed XML, or its root is not a CDA
//!   `ClinicalDocument` (codes `missing_index`, `empty`, `encoding`, `truncated`, `xml`,
//!   `root`, `index_root`, `no_documents`).
//! - [`CheckupProblem`]: one header field or one result is wrong but the rest of the document is
//!   usable: a PQ value that is not a number (the result is kept as [`CheckupValue::Text`] so
//!   nothing is lost), a unit other than the table's, a data type other than the table's, a
//!   bad date, a document code other than 特定健診 (`10`). In a package, a DATA document that
//!   fails with a [`CheckupError`] becomes a [`PackageProblem`] and the other people's
//!   documents are still read.
//!
//! What is not read (yet): `CLAIMS/` (決済), 保健指導 documents beyond reporting them, the
//! `methodCode`, 採血時間's `width`, reference ranges.

pub mod items;

use kakunin_domain::{Date, Sex};
use roxmltree::{Document, Node, ParsingOptions};
use std::collections::BTreeMap;
use std::fmt;

pub use items::{item, ItemDef, ValueType, ITEMS};

const HL7: &str = "urn:hl7-org:v3";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const OID_INSURER: &str = "1.2.392.200119.6.101";
const OID_INSTITUTION: &str = "1.2.392.200119.6.102";
const OID_SYMBOL: &str = "1.2.392.200119.6.204";
const OID_NUMBER: &str = "1.2.392.200119.6.205";
/// 枝番: in later versions of the header; the OID comes from one secondary source (unverified).
const OID_BRANCH: &str = "1.2.392.200119.6.211";
const OID_VOUCHER_PREFIX: &str = "1.2.392.200119.6.209.1";
/// 文書区分 `10`: 特定健診情報.
const DOCUMENT_CODE_CHECKUP: &str = "10";
/// Bounds roxmltree's node count so a hostile document cannot exhaust memory.
const NODES_LIMIT: u32 = 2_000_000;

/// A document or package that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckupError {
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Japanese.
    pub message: String,
}

impl fmt::Display for CheckupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for CheckupError {}

fn error(code: &'static str, message: impl Into<String>) -> CheckupError {
    CheckupError {
        code,
        message: message.into(),
    }
}

/// One problem inside a readable document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckupProblem {
    /// The item code of the result at fault; `None` for the header.
    pub item: Option<String>,
    /// The header field or `value`, `unit`, `interpretationCode` …
    pub field: &'static str,
    /// Stable machine-readable code: `document_code`, `date`, `sex`, `not_a_number`, `unit`,
    /// `value_type`, `no_code`.
    pub code: &'static str,
    /// Japanese.
    pub message: String,
}

impl fmt::Display for CheckupProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.item {
            Some(i) => write!(
                f,
                "項目{i} {}: {} ({})",
                self.field, self.message, self.code
            ),
            None => write!(f, "{}: {} ({})", self.field, self.message, self.code),
        }
    }
}

/// The person's identifiers as the header carries them: the raw `extension` values, trimmed
/// (記号 is often full-width; the caller folds and parses with the domain's id types).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonIds {
    /// 保険者番号.
    pub insurer_number: Option<String>,
    /// 被保険者証等記号.
    pub symbol: Option<String>,
    /// 被保険者証等番号.
    pub number: Option<String>,
    /// 枝番.
    pub branch: Option<String>,
}

/// One 特定健診 CDA document (one person, one checkup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckupDocument {
    /// 文書区分 (`ClinicalDocument/code/@code`); `10` for 特定健診.
    pub document_code: Option<String>,
    /// 文書発行日 (`ClinicalDocument/effectiveTime`).
    pub issued_on: Option<Date>,
    pub person: PersonIds,
    /// `patient/name` (kana in practice).
    pub name: Option<String>,
    pub sex: Option<Sex>,
    pub birth_date: Option<Date>,
    pub postal_code: Option<String>,
    /// 健診実施年月日 (`documentationOf/serviceEvent/effectiveTime`).
    pub checkup_date: Option<Date>,
    /// 健診機関番号 (`representedOrganization/id[@root=…6.102]`).
    pub institution_id: Option<String>,
    pub institution_name: Option<String>,
    /// 受診券整理番号, when a 受診券 participant is present.
    pub voucher_number: Option<String>,
    pub results: Vec<CheckupResult>,
    pub problems: Vec<CheckupProblem>,
}

/// One observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckupResult {
    /// The 17-character JLAC10 item code as written.
    pub code: String,
    /// From the item table, else the document's `displayName`, else `"{code}（名称不明）"`.
    pub name: String,
    pub value: CheckupValue,
    /// `interpretationCode/@code` (H, L, …).
    pub interpretation: Option<String>,
    /// Whether the item code is in the item table.
    pub known: bool,
}

/// An observation's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckupValue {
    /// `PQ`: the number as written (a decimal; checked) and its UCUM unit.
    Quantity { value: String, unit: String },
    /// `CD` / `CO`.
    Coded {
        code: String,
        display: Option<String>,
    },
    /// `ST`, or a value of an unknown type, or a PQ whose number did not parse (with a problem).
    Text(String),
    /// No value: `nullFlavor` (e.g. `NI`, or a measurement-range flag) or no `value` element.
    Absent { null_flavor: Option<String> },
    /// `negationInd="true"`: the item was not performed.
    NotPerformed,
}

/// `index.xml` (namespace `http://tokuteikenshin.jp/checkup/2007`). Element names are read as
/// the research recalls them (`creationTime`, `sender/id`, `receiver/id`, `totalRecordCount`),
/// leniently: any of them may be absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageIndex {
    pub creation_date: Option<Date>,
    pub sender_id: Option<String>,
    pub receiver_id: Option<String>,
    pub total_records: Option<u64>,
}

/// One DATA document of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageDocument {
    /// The path in the package (`DATA/h….xml`).
    pub path: String,
    pub document: CheckupDocument,
}

/// A problem with one file of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageProblem {
    pub path: String,
    pub code: &'static str,
    pub message: String,
}

/// A submission package: index, summary and one document per person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckupPackage {
    pub index: PackageIndex,
    /// Whether `summary.xml` was present and well-formed.
    pub has_summary: bool,
    pub documents: Vec<PackageDocument>,
    /// Files that failed (with their [`CheckupError`] code), a missing `summary.xml`, a
    /// record count that disagrees with the index. Per-result problems stay in each document.
    pub problems: Vec<PackageProblem>,
}

/// Reads a package given as path → bytes (the ZIP's entries). The package root is the folder
/// holding `index.xml` (the shallowest one; ZIPs often wrap everything in one folder); the
/// documents are the `*.xml` files in its `DATA/` folder.
pub fn parse_package(files: &BTreeMap<String, Vec<u8>>) -> Result<CheckupPackage, CheckupError> {
    let normal = |p: &str| p.replace('\\', "/");
    let (index_path, index_bytes) = files
        .iter()
        .filter(|(p, _)| {
            let p = normal(p);
            p.rsplit('/')
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case("index.xml"))
        })
        .min_by_key(|(p, _)| normal(p).matches('/').count())
        .ok_or_else(|| error("missing_index", "index.xml がありません"))?;
    let root = {
        let p = normal(index_path);
        p[..p.len() - "index.xml".len()].to_string()
    };
    let index = parse_index(index_bytes)?;
    let mut problems = Vec::new();
    let summary = files.iter().find(|(p, _)| {
        normal(p)
            .strip_prefix(root.as_str())
            .is_some_and(|r| r.eq_ignore_ascii_case("summary.xml"))
    });
    let has_summary = match summary {
        None => {
            problems.push(PackageProblem {
                path: format!("{root}summary.xml"),
                code: "missing_summary",
                message: "summary.xml がありません".into(),
            });
            false
        }
        Some((path, bytes)) => match text(bytes).and_then(|t| xml(&t).map(|_| ())) {
            Ok(()) => true,
            Err(e) => {
                problems.push(PackageProblem {
                    path: path.clone(),
                    code: e.code,
                    message: e.message,
                });
                false
            }
        },
    };
    let mut documents = Vec::new();
    let mut data_files = 0u64;
    for (path, bytes) in files {
        let p = normal(path);
        let Some(rest) = p.strip_prefix(root.as_str()) else {
            continue;
        };
        let Some(name) = rest
            .strip_prefix("DATA/")
            .or_else(|| rest.strip_prefix("data/"))
        else {
            continue;
        };
        if name.contains('/') || !name.to_ascii_lowercase().ends_with(".xml") {
            continue;
        }
        data_files += 1;
        match parse_document(bytes) {
            Ok(document) => documents.push(PackageDocument {
                path: path.clone(),
                document,
            }),
            Err(e) => problems.push(PackageProblem {
                path: path.clone(),
                code: e.code,
                message: e.message,
            }),
        }
    }
    if data_files == 0 {
        return Err(error(
            "no_documents",
            "DATA フォルダに健診結果のXMLファイルがありません",
        ));
    }
    if let Some(total) = index.total_records {
        if total != data_files {
            problems.push(PackageProblem {
                path: index_path.clone(),
                code: "record_count",
                message: format!(
                    "index.xml の総件数{total}件と DATA のファイル数{data_files}件が一致しません"
                ),
            });
        }
    }
    Ok(CheckupPackage {
        index,
        has_summary,
        documents,
        problems,
    })
}

fn parse_index(bytes: &[u8]) -> Result<PackageIndex, CheckupError> {
    let t = text(bytes)?;
    let doc = xml(&t)?;
    let root = doc.root_element();
    if root.tag_name().name() != "index" {
        return Err(error(
            "index_root",
            format!(
                "index.xml のルート要素が index ではありません（{}）",
                root.tag_name().name()
            ),
        ));
    }
    let value_of = |name: &str| {
        child(root, name)
            .and_then(|n| n.attribute("value"))
            .map(str::trim)
    };
    let id_of = |name: &str| {
        child(root, name)
            .and_then(|n| child(n, "id"))
            .and_then(|n| n.attribute("extension"))
            .map(|s| s.trim().to_string())
    };
    Ok(PackageIndex {
        creation_date: value_of("creationTime").and_then(date_prefix),
        sender_id: id_of("sender"),
        receiver_id: id_of("receiver"),
        total_records: value_of("totalRecordCount").and_then(|v| v.parse().ok()),
    })
}

/// Reads one CDA document (`DATA/h….xml`).
pub fn parse_document(bytes: &[u8]) -> Result<CheckupDocument, CheckupError> {
    let t = text(bytes)?;
    let doc = xml(&t)?;
    let root = doc.root_element();
    if root.tag_name().name() != "ClinicalDocument" || root.tag_name().namespace() != Some(HL7) {
        return Err(error(
            "root",
            format!(
                "CDA文書（urn:hl7-org:v3 の ClinicalDocument）ではありません（ルート要素 {}）",
                root.tag_name().name()
            ),
        ));
    }
    let mut problems = Vec::new();
    let mut header_problem = |field: &'static str, code: &'static str, message: String| {
        problems.push(CheckupProblem {
            item: None,
            field,
            code,
            message,
        });
    };
    let document_code = child(root, "code").and_then(|c| attr(c, "code"));
    if document_code.as_deref() != Some(DOCUMENT_CODE_CHECKUP) {
        header_problem(
            "code",
            "document_code",
            format!(
                "文書区分が特定健診（{DOCUMENT_CODE_CHECKUP}）ではありません（{}）",
                document_code.as_deref().unwrap_or("なし")
            ),
        );
    }
    let mut date_at = |node: Option<Node>, field: &'static str| -> Option<Date> {
        let raw = node.and_then(|n| attr(n, "value"))?;
        let d = date_prefix(&raw);
        if d.is_none() {
            header_problem(
                field,
                "date",
                format!("日付「{raw}」が正しくありません（YYYYMMDD）"),
            );
        }
        d
    };
    let issued_on = date_at(child(root, "effectiveTime"), "effectiveTime");
    let patient_role = path(root, &["recordTarget", "patientRole"]);
    let patient = patient_role.and_then(|r| child(r, "patient"));
    let birth_date = date_at(patient.and_then(|p| child(p, "birthTime")), "birthTime");
    let checkup_date = date_at(
        path(root, &["documentationOf", "serviceEvent", "effectiveTime"]),
        "serviceEvent/effectiveTime",
    );
    let id = |parent: Option<Node>, root_oid: &str| -> Option<String> {
        parent?
            .children()
            .filter(|n| is(n, "id"))
            .find(|n| n.attribute("root").map(str::trim) == Some(root_oid))
            .and_then(|n| attr(n, "extension"))
    };
    let person = PersonIds {
        insurer_number: id(patient_role, OID_INSURER),
        symbol: id(patient_role, OID_SYMBOL),
        number: id(patient_role, OID_NUMBER),
        branch: id(patient_role, OID_BRANCH),
    };
    let sex_code = patient
        .and_then(|p| child(p, "administrativeGenderCode"))
        .and_then(|n| attr(n, "code"));
    let sex = sex_code.as_deref().and_then(Sex::parse);
    if let (Some(code), None) = (&sex_code, sex) {
        problems.push(CheckupProblem {
            item: None,
            field: "administrativeGenderCode",
            code: "sex",
            message: format!("性別コード「{code}」は1（男）・2（女）ではありません"),
        });
    }
    let organization = path(
        root,
        &["author", "assignedAuthor", "representedOrganization"],
    );
    let voucher_number = root
        .children()
        .filter(|n| is(n, "participant") && n.attribute("typeCode") == Some("HLD"))
        .filter_map(|n| child(n, "associatedEntity"))
        .flat_map(|n| n.children().filter(|c| is(c, "id")))
        .find(|n| {
            n.attribute("root")
                .is_some_and(|r| r.starts_with(OID_VOUCHER_PREFIX))
        })
        .and_then(|n| attr(n, "extension"));
    let mut results = Vec::new();
    if let Some(body) = path(root, &["component", "structuredBody"]) {
        for obs in body.descendants().filter(|n| is(n, "observation")) {
            if let Some(r) = observation(obs, &mut problems) {
                results.push(r);
            }
        }
    }
    Ok(CheckupDocument {
        document_code,
        issued_on,
        person,
        name: patient.and_then(|p| child(p, "name")).and_then(text_of),
        sex,
        birth_date,
        postal_code: patient_role
            .and_then(|r| path(r, &["addr", "postalCode"]))
            .and_then(text_of),
        checkup_date,
        institution_id: id(organization, OID_INSTITUTION),
        institution_name: organization
            .and_then(|o| child(o, "name"))
            .and_then(text_of),
        voucher_number,
        results,
        problems,
    })
}

/// One observation → a result; `None` for a grouping observation without an item code.
fn observation(obs: Node, problems: &mut Vec<CheckupProblem>) -> Option<CheckupResult> {
    let code_node = child(obs, "code")?;
    let code = attr(code_node, "code")?;
    let def = item(&code);
    let display = attr(code_node, "displayName");
    let name = match (def, display) {
        (Some(d), _) => d.name.to_string(),
        (None, d) => crate::masters::display_name(&code, d.as_deref()),
    };
    let mut problem = |field: &'static str, c: &'static str, message: String| {
        problems.push(CheckupProblem {
            item: Some(code.clone()),
            field,
            code: c,
            message,
        });
    };
    let interpretation = child(obs, "interpretationCode").and_then(|n| attr(n, "code"));
    let value_node = child(obs, "value");
    let value = if obs.attribute("negationInd").map(str::trim) == Some("true") {
        CheckupValue::NotPerformed
    } else if let Some(v) = value_node {
        let declared = v
            .attribute((XSI, "type"))
            .or_else(|| v.attribute("type"))
            .map(str::to_string);
        let value_type = declared.as_deref().and_then(ValueType::parse);
        if let (Some(d), Some(t)) = (def, value_type) {
            if d.value_type != t {
                problem(
                    "value",
                    "value_type",
                    format!(
                        "データ型が{}ですが項目表では{}です",
                        t.as_str(),
                        d.value_type.as_str()
                    ),
                );
            }
        }
        if let Some(flavor) = attr(v, "nullFlavor") {
            CheckupValue::Absent {
                null_flavor: Some(flavor),
            }
        } else {
            match value_type {
                Some(ValueType::Pq) => {
                    let raw = attr(v, "value").unwrap_or_default();
                    let unit = attr(v, "unit").unwrap_or_default();
                    if !is_decimal(&raw) {
                        problem(
                            "value",
                            "not_a_number",
                            format!("値「{raw}」が数値ではありません"),
                        );
                        CheckupValue::Text(raw)
                    } else {
                        if let Some(want) = def.and_then(|d| d.unit) {
                            if unit != want {
                                problem(
                                    "unit",
                                    "unit",
                                    format!("単位「{unit}」は項目表の単位「{want}」と異なります"),
                                );
                            }
                        }
                        CheckupValue::Quantity { value: raw, unit }
                    }
                }
                Some(ValueType::Cd | ValueType::Co) => match attr(v, "code") {
                    Some(c) => CheckupValue::Coded {
                        code: c,
                        display: attr(v, "displayName"),
                    },
                    None => {
                        problem("value", "no_code", "コード値がありません".into());
                        CheckupValue::Absent { null_flavor: None }
                    }
                },
                Some(ValueType::St) | None => {
                    CheckupValue::Text(text_of(v).or_else(|| attr(v, "value")).unwrap_or_default())
                }
            }
        }
    } else {
        CheckupValue::Absent { null_flavor: None }
    };
    Some(CheckupResult {
        known: def.is_some(),
        code,
        name,
        value,
        interpretation,
    })
}

/// Runs every reader on arbitrary bytes; for fuzzing. It must never panic.
pub fn fuzz_one(bytes: &[u8]) {
    let _ = parse_document(bytes);
    let _ = parse_index(bytes);
    let mut files = BTreeMap::new();
    files.insert("index.xml".to_string(), bytes.to_vec());
    files.insert("summary.xml".to_string(), bytes.to_vec());
    files.insert(
        "DATA/h00000000000000000000000001.xml".to_string(),
        bytes.to_vec(),
    );
    let _ = parse_package(&files);
}

fn text(bytes: &[u8]) -> Result<String, CheckupError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(error("empty", "ファイルが空です"));
    }
    std::str::from_utf8(bytes)
        .map(str::to_string)
        .map_err(|e| match e.error_len() {
            None => error("truncated", "ファイルが途中で切れています"),
            Some(_) => error("encoding", "文字コードがUTF-8ではありません"),
        })
}

fn xml(t: &str) -> Result<Document<'_>, CheckupError> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(t, options)
        .map_err(|e| error("xml", format!("XMLとして読めません: {e}")))
}

/// An element in the HL7 namespace (or in none, for lenient producers) with this local name.
fn is(n: &Node, name: &str) -> bool {
    n.is_element()
        && n.tag_name().name() == name
        && matches!(n.tag_name().namespace(), None | Some(HL7))
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn path<'a, 'i>(n: Node<'a, 'i>, names: &[&str]) -> Option<Node<'a, 'i>> {
    names.iter().try_fold(n, |n, name| child(n, name))
}

fn attr(n: Node, name: &str) -> Option<String> {
    n.attribute(name)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn text_of(n: Node) -> Option<String> {
    let t: String = n
        .descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect();
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// `yyyyMMdd` optionally followed by a time (`yyyyMMddHHmmss`, a zone …).
fn date_prefix(v: &str) -> Option<Date> {
    let v = v.trim();
    Date::parse(v.get(..8)?).ok()
}

fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_dates() {
        for (s, ok) in [
            ("22.5", true),
            ("120", true),
            ("-1.0", true),
            ("", false),
            ("abc", false),
            ("1.", false),
            (".5", false),
            ("1e3", false),
            ("１２０", false),
        ] {
            assert_eq!(is_decimal(s), ok, "{s:?}");
        }
        assert_eq!(
            date_prefix("20240415103000+0900"),
            Date::parse("20240415").ok()
        );
        assert_eq!(date_prefix("2024041"), None);
        assert_eq!(date_prefix("２０２４０４１５"), None);
    }
}
