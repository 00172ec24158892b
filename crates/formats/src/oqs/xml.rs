//! Decoding an OQS document into an [`Element`] tree, reading it, and writing one.

use super::OqsError;
use encoding_rs::SHIFT_JIS;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Largest file accepted (a 5,000-item bulk result is a few MB).
pub const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Bounds roxmltree's node count so a hostile document cannot exhaust memory.
const NODES_LIMIT: u32 = 4_000_000;
/// OQS documents are a few levels deep; deeper nesting is refused before it can exhaust the stack.
const MAX_DEPTH: usize = 32;
/// How far into the file the XML declaration must end.
const DECLARATION_WINDOW: usize = 1024;

/// The encoding of a message, as `CharacterCodeIdentifier` (文字コード識別, OQSCD005) names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CharacterCode {
    Utf8,
    /// Windows-31J (CP932), declared as `Shift_JIS`.
    ShiftJis,
}

impl CharacterCode {
    /// `CharacterCodeIdentifier`: `0` UTF-8, `1` Shift_JIS.
    pub fn identifier(self) -> &'static str {
        match self {
            CharacterCode::Utf8 => "0",
            CharacterCode::ShiftJis => "1",
        }
    }

    pub fn from_identifier(identifier: &str) -> Option<Self> {
        match identifier.trim() {
            "0" => Some(CharacterCode::Utf8),
            "1" => Some(CharacterCode::ShiftJis),
            _ => None,
        }
    }

    /// The name written in the XML declaration.
    pub fn name(self) -> &'static str {
        match self {
            CharacterCode::Utf8 => "UTF-8",
            CharacterCode::ShiftJis => "Shift_JIS",
        }
    }

    /// The encoding a declaration names, in any case: `UTF-8`/`UTF8`, or `Shift_JIS`,
    /// `Shift-JIS`, `SJIS`, `x-sjis`, `Windows-31J`, `CP932`, `MS932`, `MS_Kanji` for Shift_JIS.
    pub fn from_label(label: &str) -> Option<Self> {
        match label.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(CharacterCode::Utf8),
            "shift_jis" | "shift-jis" | "sjis" | "x-sjis" | "windows-31j" | "cp932" | "ms932"
            | "ms_kanji" => Some(CharacterCode::ShiftJis),
            _ => None,
        }
    }
}

/// One element: a name and either text or child elements.
///
/// Built with a small builder for the answers:
///
/// ```
/// use kakunin_formats::oqs::{write, CharacterCode, Element};
/// let error_code: Option<&str> = None;
/// let doc = Element::new("XmlMsg").push(
///     Element::new("MessageHeader")
///         .child("SegmentOfResult", "1")
///         .child("ErrorCode", error_code) // skipped: None
///         .child("CharacterCodeIdentifier", CharacterCode::Utf8.identifier()),
/// );
/// let xml = String::from_utf8(write(&doc, CharacterCode::Utf8)).unwrap();
/// assert!(xml.contains("<SegmentOfResult>1</SegmentOfResult>"));
/// assert!(!xml.contains("ErrorCode"));
/// ```
///
/// and read with paths relative to it (`find`, `all`, `value`). A decoded leaf keeps its text as
/// written; an element with children keeps only its trimmed text (indentation is not content).
/// Attributes, comments and namespace prefixes are not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    name: String,
    text: String,
    children: Vec<Element>,
}

/// A value for [`Element::child`]: text, or an `Option` of text that skips the child when
/// `None`.
pub trait TextValue {
    fn into_text(self) -> Option<String>;
}

impl TextValue for &str {
    fn into_text(self) -> Option<String> {
        Some(self.to_string())
    }
}

impl TextValue for String {
    fn into_text(self) -> Option<String> {
        Some(self)
    }
}

impl TextValue for &String {
    fn into_text(self) -> Option<String> {
        Some(self.clone())
    }
}

impl TextValue for Option<&str> {
    fn into_text(self) -> Option<String> {
        self.map(str::to_string)
    }
}

impl TextValue for Option<String> {
    fn into_text(self) -> Option<String> {
        self
    }
}

impl TextValue for Option<&String> {
    fn into_text(self) -> Option<String> {
        self.cloned()
    }
}

impl TextValue for &Option<String> {
    fn into_text(self) -> Option<String> {
        self.clone()
    }
}

macro_rules! number_text {
    ($($t:ty),*) => {$(
        impl TextValue for $t {
            fn into_text(self) -> Option<String> {
                Some(self.to_string())
            }
        }
    )*};
}

number_text!(u8, u16, u32, u64, usize);

impl Element {
    /// An element without text or children yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: String::new(),
            children: Vec::new(),
        }
    }

    /// An element holding text.
    pub fn leaf(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
            children: Vec::new(),
        }
    }

    /// Adds a child holding `value`; nothing when `value` is `None`.
    pub fn child(mut self, name: &str, value: impl TextValue) -> Self {
        if let Some(text) = value.into_text() {
            self.children.push(Element::leaf(name, text));
        }
        self
    }

    /// Adds a child element (or nothing for `None`).
    pub fn push(mut self, child: impl Into<Option<Element>>) -> Self {
        if let Some(child) = child.into() {
            self.children.push(child);
        }
        self
    }

    /// Adds child elements.
    pub fn push_all(mut self, children: impl IntoIterator<Item = Element>) -> Self {
        self.children.extend(children);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text as written (for an element with children: its own text, trimmed, usually empty).
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn children(&self) -> &[Element] {
        &self.children
    }

    /// The first child element with this name.
    pub fn first(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The first element at a `/`-separated path below this one
    /// (`"MessageHeader/SegmentOfResult"`); the empty path is this element.
    pub fn find(&self, path: &str) -> Option<&Element> {
        steps(path).try_fold(self, |e, step| e.first(step))
    }

    /// Every element at a path, in document order, through every repeated step
    /// (`"MessageBody/ResultList/ResultOfQualificationConfirmation"`).
    pub fn all(&self, path: &str) -> Vec<&Element> {
        steps(path).fold(vec![self], |found, step| {
            found
                .into_iter()
                .flat_map(|e| e.children.iter().filter(move |c| c.name == step))
                .collect()
        })
    }

    /// The trimmed text at a path; `None` when the element is missing or blank.
    pub fn value(&self, path: &str) -> Option<&str> {
        self.find(path)
            .map(|e| e.text.trim())
            .filter(|t| !t.is_empty())
    }
}

fn steps(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// A decoded message: the `XmlMsg` tree (with exactly one `MessageHeader` and one
/// `MessageBody`) and the encoding it was written in (answer in the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    root: Element,
    character_code: CharacterCode,
}

impl Document {
    /// The encoding the file declared (UTF-8 when it declared none).
    pub fn character_code(&self) -> CharacterCode {
        self.character_code
    }

    /// `XmlMsg`.
    pub fn root(&self) -> &Element {
        &self.root
    }

    pub fn into_root(self) -> Element {
        self.root
    }

    /// `MessageHeader` (present by construction).
    pub fn header(&self) -> &Element {
        self.section("MessageHeader")
    }

    /// `MessageBody` (present by construction).
    pub fn body(&self) -> &Element {
        self.section("MessageBody")
    }

    fn section(&self, name: &str) -> &Element {
        // `decode` checked that the section exists; the fallback only keeps this total.
        self.root.first(name).unwrap_or(&self.root)
    }

    /// [`Element::find`] from `XmlMsg`.
    pub fn find(&self, path: &str) -> Option<&Element> {
        self.root.find(path)
    }

    /// [`Element::all`] from `XmlMsg`.
    pub fn all(&self, path: &str) -> Vec<&Element> {
        self.root.all(path)
    }

    /// [`Element::value`] from `XmlMsg`.
    pub fn value(&self, path: &str) -> Option<&str> {
        self.root.value(path)
    }
}

/// Decodes a message: the encoding its XML declaration names (none: UTF-8; a UTF-8 BOM is
/// allowed), bytes invalid in it refused (`encoding`), then well-formed XML without a DTD
/// (`malformed`), root `XmlMsg` (`wrong_root`) with exactly one `MessageHeader` and one
/// `MessageBody` (`missing_element`, `duplicate_element`).
pub fn decode(bytes: &[u8]) -> Result<Document, OqsError> {
    if bytes.len() > MAX_BYTES {
        return Err(OqsError::new(
            "too_large",
            format!(
                "ファイルが大きすぎます（{}MBまで）",
                MAX_BYTES / 1024 / 1024
            ),
        ));
    }
    let (bom, body) = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    let character_code = match declared_label(body)? {
        None => CharacterCode::Utf8,
        Some(label) => CharacterCode::from_label(&label).ok_or_else(|| {
            OqsError::new(
                "encoding",
                format!(
                    "対応していない文字コード「{label}」です（UTF-8かShift_JISにしてください）"
                ),
            )
        })?,
    };
    if bom && character_code != CharacterCode::Utf8 {
        return Err(OqsError::new(
            "encoding",
            "UTF-8のBOMがありますが、XML宣言の文字コードはShift_JISです",
        ));
    }
    let text: Cow<str> = match character_code {
        CharacterCode::Utf8 => Cow::Borrowed(std::str::from_utf8(body).map_err(|e| {
            OqsError::new(
                "encoding",
                format!(
                    "UTF-8として読めないバイトがあります（{}バイト目）",
                    e.valid_up_to() + 1 + usize::from(bom) * 3
                ),
            )
        })?),
        CharacterCode::ShiftJis => SHIFT_JIS
            .decode_without_bom_handling_and_without_replacement(body)
            .ok_or_else(|| OqsError::new("encoding", "Shift_JISとして読めないバイトがあります"))?,
    };
    if text.trim().is_empty() {
        return Err(OqsError::new("malformed", "ファイルが空です"));
    }
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..roxmltree::ParsingOptions::default()
    };
    let xml = roxmltree::Document::parse_with_options(&text, options)
        .map_err(|e| OqsError::new("malformed", format!("XMLとして読めません（{e}）")))?;
    let root = xml.root_element();
    if root.tag_name().name() != "XmlMsg" {
        return Err(OqsError::new(
            "wrong_root",
            format!(
                "ルート要素がXmlMsgではありません（{}）",
                root.tag_name().name()
            ),
        ));
    }
    let root = convert(root, 0)?;
    for section in ["MessageHeader", "MessageBody"] {
        match root.children.iter().filter(|c| c.name == section).count() {
            1 => {}
            0 => {
                return Err(OqsError::at(
                    "missing_element",
                    section,
                    format!("{section}がありません"),
                ))
            }
            _ => {
                return Err(OqsError::at(
                    "duplicate_element",
                    section,
                    format!("{section}が2つ以上あります"),
                ))
            }
        }
    }
    Ok(Document {
        root,
        character_code,
    })
}

/// The `encoding` of an XML declaration at the start of the bytes (ASCII in both encodings).
fn declared_label(bytes: &[u8]) -> Result<Option<String>, OqsError> {
    let Some(rest) = bytes.strip_prefix(b"<?xml") else {
        return Ok(None);
    };
    if !rest.first().is_some_and(u8::is_ascii_whitespace) {
        // `<?xml-stylesheet …?>` and the like: not a declaration.
        return Ok(None);
    }
    let window = &rest[..rest.len().min(DECLARATION_WINDOW)];
    let bad = || OqsError::new("malformed", "XML宣言を読めません");
    let end = find(window, b"?>").ok_or_else(bad)?;
    let declaration = &window[..end];
    let Some(at) = find(declaration, b"encoding") else {
        return Ok(None);
    };
    let value = declaration[at + b"encoding".len()..].trim_ascii_start();
    let value = value.strip_prefix(b"=").ok_or_else(bad)?.trim_ascii_start();
    let (&quote, value) = value.split_first().ok_or_else(bad)?;
    if quote != b'"' && quote != b'\'' {
        return Err(bad());
    }
    let close = value.iter().position(|&b| b == quote).ok_or_else(bad)?;
    let label = &value[..close];
    if label.is_empty() || !label.iter().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(String::from_utf8_lossy(label).into_owned()))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn convert(node: roxmltree::Node, depth: usize) -> Result<Element, OqsError> {
    if depth > MAX_DEPTH {
        return Err(OqsError::new(
            "malformed",
            format!("要素の入れ子が深すぎます（{MAX_DEPTH}段まで）"),
        ));
    }
    let mut element = Element::new(node.tag_name().name());
    for child in node.children() {
        if child.is_element() {
            element.children.push(convert(child, depth + 1)?);
        } else if child.is_text() {
            element.text.push_str(child.text().unwrap_or_default());
        }
    }
    if !element.children.is_empty() {
        element.text = element.text.trim().to_string();
    }
    Ok(element)
}

/// Writes a message: `<?xml version="1.0" encoding="…" standalone="no"?>` and the tree,
/// indented by two spaces, CRLF line ends. Text is escaped (`&`, `<`, `>`, and CR as `&#xD;` so
/// it survives); in Shift_JIS a character without an exact Shift_JIS form is written as a
/// numeric character reference (`&#x20BB7;`). Characters XML 1.0 cannot carry at all (control
/// characters other than tab and line ends, U+FFFE, U+FFFF) become U+FFFD. Element names are
/// written as given and must be XML names (in Shift_JIS, ones with a Shift_JIS form; the OQS
/// names are ASCII).
pub fn write(root: &Element, code: CharacterCode) -> Vec<u8> {
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"{}\" standalone=\"no\"?>\r\n",
        code.name()
    );
    write_element(&mut out, root, 0);
    match code {
        CharacterCode::Utf8 => out.into_bytes(),
        CharacterCode::ShiftJis => to_shift_jis(&out),
    }
}

fn write_element(out: &mut String, e: &Element, depth: usize) {
    indent(out, depth);
    out.push('<');
    out.push_str(&e.name);
    if e.children.is_empty() {
        if e.text.is_empty() {
            out.push_str("/>\r\n");
        } else {
            out.push('>');
            escape(out, &e.text);
            out.push_str("</");
            out.push_str(&e.name);
            out.push_str(">\r\n");
        }
        return;
    }
    out.push_str(">\r\n");
    let text = e.text.trim();
    if !text.is_empty() {
        indent(out, depth + 1);
        escape(out, text);
        out.push_str("\r\n");
    }
    for c in &e.children {
        write_element(out, c, depth + 1);
    }
    indent(out, depth);
    out.push_str("</");
    out.push_str(&e.name);
    out.push_str(">\r\n");
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// Shift_JIS bytes; a character without an exact round trip (none at all, or one that reads
/// back as another, such as `¥` → `\`) becomes a numeric character reference.
fn to_shift_jis(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut buf = [0u8; 4];
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c as u8);
            continue;
        }
        let s: &str = c.encode_utf8(&mut buf);
        let (bytes, _, unmappable) = SHIFT_JIS.encode(s);
        let exact = !unmappable && SHIFT_JIS.decode_without_bom_handling(&bytes).0.as_ref() == s;
        if exact {
            out.extend_from_slice(&bytes);
        } else {
            out.extend_from_slice(format!("&#x{:X};", u32::from(c)).as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Element {
        Element::new("XmlMsg")
            .push(
                Element::new("MessageHeader")
                    .child("SegmentOfResult", "1")
                    .child("ErrorCode", None::<&str>)
                    .child("CharacterCodeIdentifier", "0"),
            )
            .push(
                Element::new("MessageBody").push(
                    Element::new("ResultList")
                        .push(
                            Element::new("ResultOfQualificationConfirmation")
                                .child("Name", "試験　花子")
                                .child("NameKana", "ｼｹﾝ ﾊﾅｺ"),
                        )
                        .push(
                            Element::new("ResultOfQualificationConfirmation")
                                .child("Name", "𠮷野　太郎")
                                .child("Address", "東京都 <A&B> ¥1 ～ ①髙 \"'")
                                .child("InsurerNumber", "  138230")
                                .child("Remarks1", "line\r\nbreak\tand tab")
                                .child("Empty", ""),
                        ),
                ),
            )
    }

    #[test]
    fn both_encodings_round_trip() {
        for code in [CharacterCode::Utf8, CharacterCode::ShiftJis] {
            let bytes = write(&sample(), code);
            let doc = decode(&bytes).unwrap_or_else(|e| panic!("{code:?}: {e}"));
            assert_eq!(doc.character_code(), code);
            assert_eq!(doc.root(), &sample(), "{code:?}");
            assert_eq!(doc.value("MessageHeader/SegmentOfResult"), Some("1"));
            let results = doc.all("MessageBody/ResultList/ResultOfQualificationConfirmation");
            assert_eq!(results.len(), 2);
            assert_eq!(results[1].value("Name"), Some("𠮷野　太郎"));
            assert_eq!(results[1].find("InsurerNumber").unwrap().text(), "  138230");
            assert_eq!(results[1].value("Empty"), None);
            assert!(results[1].find("Empty").is_some());
        }
    }

    #[test]
    fn written_form() {
        let utf8 = String::from_utf8(write(&sample(), CharacterCode::Utf8)).unwrap();
        assert!(utf8.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\r\n<XmlMsg>\r\n  <MessageHeader>\r\n    <SegmentOfResult>1</SegmentOfResult>\r\n"
        ));
        assert!(!utf8.contains("ErrorCode"));
        assert!(utf8.contains("<Address>東京都 &lt;A&amp;B&gt; ¥1 ～ ①髙 \"'</Address>"));
        assert!(utf8.contains("<Remarks1>line&#xD;\nbreak\tand tab</Remarks1>"));
        assert!(utf8.contains("<Empty/>"));
        let sjis = write(&sample(), CharacterCode::ShiftJis);
        let (text, _, errors) = SHIFT_JIS.decode(&sjis);
        assert!(!errors);
        assert!(text
            .starts_with("<?xml version=\"1.0\" encoding=\"Shift_JIS\" standalone=\"no\"?>\r\n"));
        // 𠮷 has no Shift_JIS form; ¥ would read back as a backslash.
        assert!(text.contains("<Name>&#x20BB7;野　太郎</Name>"), "{text}");
        assert!(text.contains("&#xA5;1 ～ ①髙"), "{text}");
        // Characters XML cannot carry become U+FFFD rather than a broken file.
        let odd = Element::new("XmlMsg")
            .push(Element::new("MessageHeader").child("A", "x\u{1}y"))
            .push(Element::new("MessageBody"));
        let doc = decode(&write(&odd, CharacterCode::Utf8)).unwrap();
        assert_eq!(doc.value("MessageHeader/A"), Some("x\u{FFFD}y"));
    }

    #[test]
    fn character_codes() {
        for (label, code) in [
            ("UTF-8", Some(CharacterCode::Utf8)),
            ("utf-8", Some(CharacterCode::Utf8)),
            ("UTF8", Some(CharacterCode::Utf8)),
            ("Shift_JIS", Some(CharacterCode::ShiftJis)),
            ("shift_jis", Some(CharacterCode::ShiftJis)),
            ("SHIFT-JIS", Some(CharacterCode::ShiftJis)),
            ("Windows-31J", Some(CharacterCode::ShiftJis)),
            ("CP932", Some(CharacterCode::ShiftJis)),
            ("SJIS", Some(CharacterCode::ShiftJis)),
            ("EUC-JP", None),
            ("UTF-16", None),
        ] {
            assert_eq!(CharacterCode::from_label(label), code, "{label}");
        }
        assert_eq!(CharacterCode::Utf8.identifier(), "0");
        assert_eq!(CharacterCode::ShiftJis.identifier(), "1");
        for code in [CharacterCode::Utf8, CharacterCode::ShiftJis] {
            assert_eq!(
                CharacterCode::from_identifier(code.identifier()),
                Some(code)
            );
        }
    }

    const MINIMAL: &str = "<XmlMsg><MessageHeader/><MessageBody/></XmlMsg>";

    fn with_declaration(encoding: &str) -> Vec<u8> {
        format!("<?xml version=\"1.0\" encoding=\"{encoding}\"?>\n<XmlMsg><MessageHeader><A>記号</A></MessageHeader><MessageBody/></XmlMsg>").into_bytes()
    }

    /// (case, bytes, Ok(character code) or Err(code)).
    fn decode_cases() -> Vec<(&'static str, Vec<u8>, Result<CharacterCode, &'static str>)> {
        let sjis_body = |decl: &str| {
            let text = format!("<?xml version='1.0' encoding='{decl}' standalone='no'?>\r\n<XmlMsg><MessageHeader><A>記号</A></MessageHeader><MessageBody/></XmlMsg>");
            SHIFT_JIS.encode(&text).0.into_owned()
        };
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend(with_declaration("UTF-8"));
        let mut bom_sjis = b"\xEF\xBB\xBF".to_vec();
        bom_sjis.extend(sjis_body("Shift_JIS"));
        vec![
            ("no declaration", MINIMAL.as_bytes().to_vec(), Ok(CharacterCode::Utf8)),
            ("utf-8", with_declaration("UTF-8"), Ok(CharacterCode::Utf8)),
            ("utf-8 lower case", with_declaration("utf-8"), Ok(CharacterCode::Utf8)),
            ("bom", bom, Ok(CharacterCode::Utf8)),
            ("shift_jis", sjis_body("Shift_JIS"), Ok(CharacterCode::ShiftJis)),
            ("windows-31j", sjis_body("Windows-31J"), Ok(CharacterCode::ShiftJis)),
            ("cp932", sjis_body("cp932"), Ok(CharacterCode::ShiftJis)),
            ("sjis", sjis_body("SJIS"), Ok(CharacterCode::ShiftJis)),
            ("bom but shift_jis", bom_sjis, Err("encoding")),
            ("shift_jis bytes declared utf-8", sjis_body("UTF-8"), Err("encoding")),
            ("shift_jis bytes undeclared", {
                let t = "<XmlMsg><MessageHeader><A>記号</A></MessageHeader><MessageBody/></XmlMsg>";
                SHIFT_JIS.encode(t).0.into_owned()
            }, Err("encoding")),
            // UTF-8 is often valid Shift_JIS by accident (記号 reads as 險伜捷); C2 A0 (NBSP) is not.
            ("utf-8 bytes declared shift_jis", {
                let mut b = with_declaration("Shift_JIS");
                b.extend("<!-- \u{A0} -->".as_bytes());
                b
            }, Err("encoding")),
            ("invalid shift_jis", {
                let mut b = sjis_body("Shift_JIS");
                b.extend(b"<!-- \x82\xFF -->");
                b
            }, Err("encoding")),
            ("euc-jp", with_declaration("EUC-JP"), Err("encoding")),
            ("unclosed declaration", b"<?xml version=\"1.0\" encoding=\"UTF-8\"".to_vec(), Err("malformed")),
            ("unquoted encoding", b"<?xml version=\"1.0\" encoding=UTF-8?><XmlMsg/>".to_vec(), Err("malformed")),
            ("empty", Vec::new(), Err("malformed")),
            ("blank", b"  \r\n".to_vec(), Err("malformed")),
            ("truncated", MINIMAL.as_bytes()[..30].to_vec(), Err("malformed")),
            ("dtd", b"<!DOCTYPE XmlMsg [<!ENTITY a \"x\">]><XmlMsg><MessageHeader/><MessageBody/></XmlMsg>".to_vec(), Err("malformed")),
            ("too deep", format!("<XmlMsg><MessageHeader/><MessageBody>{}{}</MessageBody></XmlMsg>", "<a>".repeat(40), "</a>".repeat(40)).into_bytes(), Err("malformed")),
            ("wrong root", b"<ClinicalDocument/>".to_vec(), Err("wrong_root")),
            ("no header", b"<XmlMsg><MessageBody/></XmlMsg>".to_vec(), Err("missing_element")),
            ("no body", b"<XmlMsg><MessageHeader/></XmlMsg>".to_vec(), Err("missing_element")),
            ("two bodies", b"<XmlMsg><MessageHeader/><MessageBody/><MessageBody/></XmlMsg>".to_vec(), Err("duplicate_element")),
            ("too large", vec![b' '; MAX_BYTES + 1], Err("too_large")),
        ]
    }

    #[test]
    fn decoding() {
        for (case, bytes, expected) in decode_cases() {
            match (decode(&bytes), expected) {
                (Ok(doc), Ok(code)) => {
                    assert_eq!(doc.character_code(), code, "{case}");
                    if doc.find("MessageHeader/A").is_some() {
                        assert_eq!(doc.value("MessageHeader/A"), Some("記号"), "{case}");
                    }
                }
                (Err(e), Err(code)) => assert_eq!(e.code, code, "{case}: {e}"),
                (got, expected) => panic!("{case}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn reading_paths() {
        let doc = decode(
            b"<XmlMsg xmlns:x='urn:x' x:a='1'><!-- c --><MessageHeader>\n  <x:SegmentOfResult> 2 </x:SegmentOfResult>\n</MessageHeader>\
              <MessageBody><L><I><N>1</N></I><I><N>2</N><N>3</N></I></L><L><I><N>4</N></I></L></MessageBody></XmlMsg>",
        )
        .unwrap();
        assert_eq!(doc.value("MessageHeader/SegmentOfResult"), Some("2"));
        assert_eq!(doc.header().text(), "");
        assert_eq!(doc.body().children().len(), 2);
        let ns: Vec<_> = doc
            .all("MessageBody/L/I/N")
            .iter()
            .map(|n| n.text())
            .collect();
        assert_eq!(ns, ["1", "2", "3", "4"]);
        assert_eq!(doc.find("MessageBody/L/I/N").map(Element::text), Some("1"));
        assert!(doc.find("MessageBody/Missing").is_none());
        assert!(doc.all("Missing/Path").is_empty());
        assert_eq!(doc.find(""), Some(doc.root()));
    }
}
