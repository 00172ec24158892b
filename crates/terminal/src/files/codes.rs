//! The terminal's own codes in result files: `ErrorCode` (header, with `SegmentOfResult` `9` or
//! `2`) and `ProcessingResultCode` (body, per person).
//!
//! The official list (別紙6-1 処理結果コード) is not public, so these are kakunin's: they start
//! with `KK`, never change meaning, and new ones are only added. Where the central answered, the
//! `ProcessingResultCode` is the central's own stable code instead (`not_found`,
//! `consent_missing`, …; `docs/api-codes.md`). `docs/file-interface.md` lists both.

use kakunin_formats::oqs::OqsError;

/// One code and its message for staff (Japanese, shown as is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub code: &'static str,
    pub message: &'static str,
}

const fn code(code: &'static str, message: &'static str) -> Code {
    Code { code, message }
}

/// `ErrorCode` `KKE001`: a file family the terminal does not answer.
pub const UNKNOWN_FAMILY: Code = code("KKE001", "対応していない種別のファイルです。");
/// `KKE002`: not well-formed XML, or not an `XmlMsg`.
pub const MALFORMED: Code = code("KKE002", "XMLとして読めません。");
/// `KKE003`: bytes that are not in the declared encoding, or an encoding other than UTF-8 and
/// Shift_JIS.
pub const ENCODING: Code = code(
    "KKE003",
    "文字コードがXML宣言と合っていないか、対応していない文字コードです（UTF-8かShift_JIS）。",
);
/// `KKE004`: a required element is missing.
pub const MISSING_ELEMENT: Code = code("KKE004", "必須の要素がありません。");
/// `KKE005`: an element that may appear once appears twice.
pub const DUPLICATE_ELEMENT: Code = code("KKE005", "同じ要素が2つ以上あります。");
/// `KKE006`: a value of the wrong form (not digits, wrong number of digits, bad characters).
pub const BAD_VALUE: Code = code("KKE006", "値の形式が正しくありません。");
/// `KKE007`: a value longer than its element allows.
pub const TOO_LONG: Code = code("KKE007", "値が長すぎます。");
/// `KKE008`: more than 5,000 items in a bulk request.
pub const TOO_MANY_ITEMS: Code = code("KKE008", "件数が多すぎます（5,000件まで）。");
/// `KKE009`: a file larger than 64 MB.
pub const TOO_LARGE: Code = code("KKE009", "ファイルが大きすぎます。");
/// `KKE010`: the `MedicalInstitutionCode` is not this terminal's institution.
pub const OTHER_INSTITUTION: Code =
    code("KKE010", "医療機関コードがこの端末の医療機関と異なります。");
/// `KKE011`: a `FileCategory` other than XML (PDF is not produced).
pub const FILE_CATEGORY: Code = code(
    "KKE011",
    "ファイル区分に対応していません（XMLのみ：薬剤情報は2または4、特定健診情報は2）。",
);
/// `KKE012`: an unknown or expired 受付番号.
pub const RECEPTION_NOT_FOUND: Code = code(
    "KKE012",
    "この受付番号の結果はありません（結果の保存期間は7日間です）。",
);
/// `KKE020`: the central could not be reached (not for single checks, which are recorded for
/// a later check instead: `KKO001`).
pub const CENTRAL_UNREACHABLE: Code = code(
    "KKE020",
    "中央サーバに接続できません。しばらく待ってから再度送信してください。",
);
/// `KKE021`: the central refused the request as a whole (its message follows).
pub const CENTRAL_REFUSED: Code = code("KKE021", "中央サーバが要求を受け付けませんでした。");
/// `KKE090`: the terminal could not do its part (its storage failed).
pub const TERMINAL_FAILURE: Code = code(
    "KKE090",
    "端末で処理できませんでした。端末の管理者に連絡してください。",
);
/// `ErrorCode` `KKP001` with `SegmentOfResult` `2`: a bulk request still being processed.
pub const PROCESSING: Code = code(
    "KKP001",
    "処理中です。しばらくしてから結果を取得してください。",
);
/// `ProcessingResultCode` `KKO001`: the central could not be reached; the visit was recorded
/// and will be checked later (要後日確認).
pub const RECORDED_OFFLINE: Code = code(
    "KKO001",
    "通信障害のため資格を確認できませんでした。要後日確認として受付を記録しました。",
);
/// `KKO002`: the later check of a visit recorded offline: qualified as recorded.
pub const LATER_CONFIRMED: Code = code(
    "KKO002",
    "障害時に受け付けた資格を後日確認しました（確認済み）。",
);
/// `KKO003`: the later check of a visit recorded offline found a difference (the message says
/// which); staff must act.
pub const LATER_DISCREPANCY: Code = code(
    "KKO003",
    "障害時に受け付けた資格を後日確認したところ、相違がありました。",
);
/// `KKB001`: a 照会番号 registration or an information request without a birth date, for a
/// patient this terminal has not checked today.
pub const BIRTHDATE_NEEDED: Code = code(
    "KKB001",
    "生年月日（Birthdate）が必要です。本日この端末で資格確認した患者であれば省略できます。",
);

/// Every code of ours, for the documentation test.
pub const ALL: &[Code] = &[
    UNKNOWN_FAMILY,
    MALFORMED,
    ENCODING,
    MISSING_ELEMENT,
    DUPLICATE_ELEMENT,
    BAD_VALUE,
    TOO_LONG,
    TOO_MANY_ITEMS,
    TOO_LARGE,
    OTHER_INSTITUTION,
    FILE_CATEGORY,
    RECEPTION_NOT_FOUND,
    CENTRAL_UNREACHABLE,
    CENTRAL_REFUSED,
    TERMINAL_FAILURE,
    PROCESSING,
    RECORDED_OFFLINE,
    LATER_CONFIRMED,
    LATER_DISCREPANCY,
    BIRTHDATE_NEEDED,
];

/// The `ErrorCode` of a request the reader refused, with the reader's own message and the
/// element at fault (`「保険者番号」は8桁…（MessageBody/…/InsurerNumber）`).
pub fn of_request_error(e: &OqsError) -> (Code, String) {
    let code = match e.code {
        "too_large" => TOO_LARGE,
        "encoding" => ENCODING,
        "malformed" | "wrong_root" => MALFORMED,
        "missing_element" => MISSING_ELEMENT,
        "duplicate_element" => DUPLICATE_ELEMENT,
        "too_long" => TOO_LONG,
        "too_many_items" => TOO_MANY_ITEMS,
        "unknown_family" => UNKNOWN_FAMILY,
        // not_digits, wrong_length, bad_characters, and anything added later.
        _ => BAD_VALUE,
    };
    let message = match &e.path {
        Some(path) => format!("{}（{path}）", e.message),
        None => e.message.clone(),
    };
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn codes_are_unique_and_shaped() {
        let mut seen = BTreeSet::new();
        for c in ALL {
            assert!(seen.insert(c.code), "{} twice", c.code);
            assert_eq!(c.code.len(), 6, "{}", c.code);
            assert!(c.code.starts_with("KK"));
            assert!(c.message.ends_with('。'), "{}", c.code);
        }
    }

    #[test]
    fn every_code_is_documented() {
        let doc = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/file-interface.md"
        ));
        for c in ALL {
            assert!(
                doc.contains(&format!("`{}`", c.code)),
                "{} is not in docs/file-interface.md",
                c.code
            );
        }
    }

    #[test]
    fn every_reader_error_has_a_code() {
        // (reader code, our code).
        for (reader, ours) in [
            ("too_large", "KKE009"),
            ("encoding", "KKE003"),
            ("malformed", "KKE002"),
            ("wrong_root", "KKE002"),
            ("missing_element", "KKE004"),
            ("duplicate_element", "KKE005"),
            ("not_digits", "KKE006"),
            ("wrong_length", "KKE006"),
            ("too_long", "KKE007"),
            ("bad_characters", "KKE006"),
            ("too_many_items", "KKE008"),
            ("unknown_family", "KKE001"),
        ] {
            let e = OqsError {
                code: reader,
                path: Some("MessageBody/X".into()),
                message: "誤り".into(),
            };
            let (code, message) = of_request_error(&e);
            assert_eq!(code.code, ours, "{reader}");
            assert_eq!(message, "誤り（MessageBody/X）");
        }
        // Every code the reader can give is in the table (the two name codes are never
        // answered: such a file goes to error/).
        for reader in kakunin_formats::oqs::ERROR_CODES {
            if !matches!(*reader, "bad_name" | "unsafe_name") {
                let e = OqsError {
                    code: reader,
                    path: None,
                    message: String::new(),
                };
                assert!(ALL.contains(&of_request_error(&e).0));
            }
        }
    }
}
