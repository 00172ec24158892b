//! Text decoding for files that arrive as UTF-8 (with or without BOM) or Shift_JIS (CP932).

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is binary (NUL or control bytes)")]
    Binary,
    #[error("the file ends in the middle of a UTF-8 character (truncated)")]
    Truncated,
    #[error("the file is neither UTF-8 nor Shift_JIS")]
    UnknownEncoding,
}

/// The encoding a file was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    ShiftJis,
}

impl TextEncoding {
    pub fn name(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::ShiftJis => "Shift_JIS",
        }
    }
}

/// Decodes a text file: UTF-8 when the bytes are valid UTF-8 (a BOM is dropped), otherwise
/// Shift_JIS when they decode without a single error. Control bytes other than tab, CR, LF and a
/// final 0x1A (the DOS end-of-file marker) make the file binary.
pub fn decode_text(bytes: &[u8]) -> Result<(Cow<'_, str>, TextEncoding), DecodeError> {
    let bytes = bytes.strip_suffix(&[0x1A]).unwrap_or(bytes);
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(DecodeError::Empty);
    }
    if bytes
        .iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n') || b == 0x7F)
    {
        return Err(DecodeError::Binary);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok((Cow::Borrowed(s), TextEncoding::Utf8)),
        // Valid up to an incomplete sequence at the very end: a cut-off UTF-8 file.
        Err(e)
            if e.error_len().is_none()
                && e.valid_up_to() > 0
                && looks_utf8(&bytes[..e.valid_up_to()]) =>
        {
            Err(DecodeError::Truncated)
        }
        Err(_) => {
            let (text, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(bytes);
            if had_errors {
                Err(DecodeError::UnknownEncoding)
            } else {
                Ok((text, TextEncoding::ShiftJis))
            }
        }
    }
}

/// True when the prefix holds at least one multi-byte UTF-8 character (so it was UTF-8 text).
fn looks_utf8(valid: &[u8]) -> bool {
    valid.iter().any(|&b| b >= 0x80)
}

/// Encodes text as Shift_JIS (CP932); `None` when a character has no Shift_JIS form.
pub fn encode_shift_jis(text: &str) -> Option<Vec<u8>> {
    let (bytes, _, had_errors) = encoding_rs::SHIFT_JIS.encode(text);
    (!had_errors).then(|| bytes.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        let sjis = encode_shift_jis("氏名,ｶﾅ\r\n").unwrap();
        assert_eq!(
            decode_text(&sjis).unwrap(),
            (Cow::Borrowed("氏名,ｶﾅ\r\n"), TextEncoding::ShiftJis)
        );
        assert_eq!(decode_text("\u{FEFF}a,b".as_bytes()).unwrap().0, "a,b");
        assert_eq!(decode_text(b"a,b\x1A").unwrap().0, "a,b");
        assert_eq!(decode_text(b""), Err(DecodeError::Empty));
        assert_eq!(decode_text(b" \r\n"), Err(DecodeError::Empty));
        assert_eq!(
            decode_text(b"\x89PNG\r\n\x1a\n\0\0"),
            Err(DecodeError::Binary)
        );
        let mut cut = "名前".as_bytes().to_vec();
        cut.pop();
        assert_eq!(decode_text(&cut), Err(DecodeError::Truncated));
        assert_eq!(
            decode_text(&[0x82, 0xA0, 0xFF, 0xFE]),
            Err(DecodeError::UnknownEncoding)
        );
    }
}
