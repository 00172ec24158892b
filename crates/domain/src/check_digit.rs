//! The check digit of 保険者番号, 公費負担者番号, 受給者番号 and 医療機関コード
//! (厚生労働省「保険者番号設定要領」): from the last body digit leftwards multiply by 2, 1, 2, …,
//! fold two-digit products into the sum of their digits, and take (10 − sum mod 10) mod 10.

/// Computes the check digit for `body` (ASCII digits only). Returns `None` for a non-digit.
pub fn compute(body: &str) -> Option<u8> {
    let mut sum = 0u32;
    for (i, b) in body.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let d = u32::from(b - b'0');
        let p = if i % 2 == 0 { d * 2 } else { d };
        sum += p / 10 + p % 10;
    }
    Some(((10 - sum % 10) % 10) as u8)
}

/// True when the last digit of `digits` is the check digit of the others.
pub fn is_valid(digits: &str) -> bool {
    let Some((body, last)) = digits.len().checked_sub(1).map(|n| digits.split_at(n)) else {
        return false;
    };
    match (compute(body), last.bytes().next()) {
        (Some(c), Some(l)) if l.is_ascii_digit() => c == l - b'0',
        _ => false,
    }
}

/// Appends the check digit to `body`.
pub fn complete(body: &str) -> Option<String> {
    compute(body).map(|c| format!("{body}{c}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_numbers() {
        for (n, ok) in [
            ("33120015", true),
            ("54016027", true),
            ("123455", true),
            ("123456", false),
            ("0110113719", true),
            ("0110113710", false),
            ("", false),
            ("1", false),
            ("0", true),
            ("12a4", false),
        ] {
            assert_eq!(is_valid(n), ok, "{n}");
        }
        assert_eq!(compute("3312001"), Some(5));
        assert_eq!(complete("5401602").as_deref(), Some("54016027"));
    }
}
