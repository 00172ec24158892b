//! Text normalisation for the fields insurers key by hand.
//!
//! Insurer rosters mix full-width and half-width characters (`１２３` vs `123`, `ＡＢ` vs `AB`),
//! while clinics type what the card shows. Matching uses a normalised key; the raw text is kept
//! for display. Names are full-width; kana is half-width katakana, as in the result XML.

/// The matching key of a 記号 or 番号: full-width ASCII folded to half-width, letters upper-cased,
/// dash variants folded to `-`, all white space removed.
pub fn match_key(raw: &str) -> String {
    raw.chars()
        .filter_map(|c| {
            let c = fold_width(c);
            match c {
                c if c.is_whitespace() => None,
                '\u{2010}'..='\u{2015}' | '\u{2212}' => Some('-'),
                c => Some(c.to_ascii_uppercase()),
            }
        })
        .collect()
}

/// Folds one full-width ASCII variant (U+FF01–U+FF5E) or the ideographic space to half-width.
pub fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        c => c,
    }
}

/// Folds full-width digits and ASCII to half-width and trims white space at both ends.
pub fn half_width_trimmed(raw: &str) -> String {
    raw.chars()
        .map(fold_width)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Display form of a name: trimmed, runs of white space become one full-width space.
pub fn display_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for part in raw
        .split(|c: char| c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        if !out.is_empty() {
            out.push('\u{3000}');
        }
        out.push_str(part);
    }
    out
}

// Full-width katakana and the half-width sequence each maps to (voiced marks split off).
const KANA: &[(char, &str)] = &[
    ('ア', "ｱ"),
    ('イ', "ｲ"),
    ('ウ', "ｳ"),
    ('エ', "ｴ"),
    ('オ', "ｵ"),
    ('カ', "ｶ"),
    ('キ', "ｷ"),
    ('ク', "ｸ"),
    ('ケ', "ｹ"),
    ('コ', "ｺ"),
    ('サ', "ｻ"),
    ('シ', "ｼ"),
    ('ス', "ｽ"),
    ('セ', "ｾ"),
    ('ソ', "ｿ"),
    ('タ', "ﾀ"),
    ('チ', "ﾁ"),
    ('ツ', "ﾂ"),
    ('テ', "ﾃ"),
    ('ト', "ﾄ"),
    ('ナ', "ﾅ"),
    ('ニ', "ﾆ"),
    ('ヌ', "ﾇ"),
    ('ネ', "ﾈ"),
    ('ノ', "ﾉ"),
    ('ハ', "ﾊ"),
    ('ヒ', "ﾋ"),
    ('フ', "ﾌ"),
    ('ヘ', "ﾍ"),
    ('ホ', "ﾎ"),
    ('マ', "ﾏ"),
    ('ミ', "ﾐ"),
    ('ム', "ﾑ"),
    ('メ', "ﾒ"),
    ('モ', "ﾓ"),
    ('ヤ', "ﾔ"),
    ('ユ', "ﾕ"),
    ('ヨ', "ﾖ"),
    ('ラ', "ﾗ"),
    ('リ', "ﾘ"),
    ('ル', "ﾙ"),
    ('レ', "ﾚ"),
    ('ロ', "ﾛ"),
    ('ワ', "ﾜ"),
    ('ヲ', "ｦ"),
    ('ン', "ﾝ"),
    ('ァ', "ｧ"),
    ('ィ', "ｨ"),
    ('ゥ', "ｩ"),
    ('ェ', "ｪ"),
    ('ォ', "ｫ"),
    ('ッ', "ｯ"),
    ('ャ', "ｬ"),
    ('ュ', "ｭ"),
    ('ョ', "ｮ"),
    ('ガ', "ｶﾞ"),
    ('ギ', "ｷﾞ"),
    ('グ', "ｸﾞ"),
    ('ゲ', "ｹﾞ"),
    ('ゴ', "ｺﾞ"),
    ('ザ', "ｻﾞ"),
    ('ジ', "ｼﾞ"),
    ('ズ', "ｽﾞ"),
    ('ゼ', "ｾﾞ"),
    ('ゾ', "ｿﾞ"),
    ('ダ', "ﾀﾞ"),
    ('ヂ', "ﾁﾞ"),
    ('ヅ', "ﾂﾞ"),
    ('デ', "ﾃﾞ"),
    ('ド', "ﾄﾞ"),
    ('バ', "ﾊﾞ"),
    ('ビ', "ﾋﾞ"),
    ('ブ', "ﾌﾞ"),
    ('ベ', "ﾍﾞ"),
    ('ボ', "ﾎﾞ"),
    ('パ', "ﾊﾟ"),
    ('ピ', "ﾋﾟ"),
    ('プ', "ﾌﾟ"),
    ('ペ', "ﾍﾟ"),
    ('ポ', "ﾎﾟ"),
    ('ヴ', "ｳﾞ"),
    ('ー', "ｰ"),
    ('・', "･"),
    ('゛', "ﾞ"),
    ('゜', "ﾟ"),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not katakana: {0:?}")]
pub struct KanaError(pub char);

/// Converts a katakana name (full-width or half-width, hiragana accepted too) to half-width
/// katakana with single half-width spaces, the form of `NameKana`.
pub fn half_width_kana(raw: &str) -> Result<String, KanaError> {
    let mut out = String::with_capacity(raw.len());
    let mut pending_space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        // Hiragana → katakana (same layout, offset 0x60).
        let c = match c {
            '\u{3041}'..='\u{3096}' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            c => c,
        };
        match c {
            '\u{FF61}'..='\u{FF9F}' => out.push(c),
            '(' | ')' | '（' | '）' => out.push(fold_width(c)),
            c => match KANA.iter().find(|(k, _)| *k == c) {
                Some((_, h)) => out.push_str(h),
                None => return Err(KanaError(c)),
            },
        }
    }
    Ok(out)
}

/// The full-width katakana of a half-width kana name (`NameKana`), voiced marks joined to their
/// letter and spaces made full-width: the form FHIR clients and JP Core show. Characters that
/// are not half-width kana are kept.
pub fn full_width_kana(half: &str) -> String {
    let mut out = String::with_capacity(half.len() * 3);
    let mut chars = half.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            out.push('\u{3000}');
            continue;
        }
        if !('\u{FF61}'..='\u{FF9F}').contains(&c) {
            out.push(c);
            continue;
        }
        // A letter with a following voiced or semi-voiced mark is one full-width letter.
        if let Some(&mark @ ('ﾞ' | 'ﾟ')) = chars.peek() {
            let pair: String = [c, mark].iter().collect();
            if let Some((k, _)) = KANA.iter().find(|(_, h)| *h == pair) {
                out.push(*k);
                chars.next();
                continue;
            }
        }
        let single = c.to_string();
        match KANA.iter().find(|(_, h)| *h == single) {
            Some((k, _)) => out.push(*k),
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_keys() {
        for (raw, key) in [
            ("１２３", "123"),
            (" 12 3 ", "123"),
            ("ａｂ－１", "AB-1"),
            ("東京‐1", "東京-1"),
            ("ＸＹ　12", "XY12"),
        ] {
            assert_eq!(match_key(raw), key, "{raw}");
        }
    }

    #[test]
    fn kana() {
        for (raw, want) in [
            ("ヤマダ　タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ"),
            ("やまだ たろう", "ﾔﾏﾀﾞ ﾀﾛｳ"),
            ("ｼｹﾝ ﾊﾅｺ", "ｼｹﾝ ﾊﾅｺ"),
            ("ポール・スミス", "ﾎﾟｰﾙ･ｽﾐｽ"),
            ("  ジュン  ", "ｼﾞｭﾝ"),
        ] {
            assert_eq!(half_width_kana(raw).unwrap(), want, "{raw}");
        }
        assert_eq!(half_width_kana("山田"), Err(KanaError('山')));
        for (half, full) in [
            ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ\u{3000}タロウ"),
            ("ﾎﾟｰﾙ･ｽﾐｽ", "ポール・スミス"),
            ("ｼﾞｭﾝ", "ジュン"),
            ("ｱﾞ", "ア゛"),
        ] {
            assert_eq!(full_width_kana(half), full, "{half}");
            assert_eq!(half_width_kana(full).unwrap(), half, "{full}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(display_name(" 山田  太郎 "), "山田\u{3000}太郎");
        assert_eq!(display_name("山田　太郎"), "山田\u{3000}太郎");
    }
}
