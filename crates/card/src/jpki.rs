//! The terminal-side client of the card's 公的個人認証AP (JPKI AP): token info, the
//! 利用者証明用 (user authentication) certificate and its CA certificate, the auth PIN, and
//! signing with the auth key.
//!
//! The signature certificate (署名用電子証明書) and its password are deliberately out of scope:
//! the signature certificate carries name, address, date of birth and sex, which eligibility
//! verification must not read.

use crate::apdu::{
    tries_left_from_sw, Command, Response, SW_AUTH_BLOCKED, SW_AUTH_METHOD_BLOCKED, SW_OK,
    SW_SECURITY_NOT_SATISFIED,
};
use crate::exchange::ExchangeError;
use crate::transport::{Card, CardError};
use thiserror::Error;

/// 公的個人認証AP (JPKI AP).
pub const JPKI_AID: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
/// 券面事項入力補助AP.
pub const TEXT_AID: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08];
/// 券面事項確認AP (券面AP).
pub const SURFACE_AID: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02];

/// JPKI AP EF: token info (`"JPKIAPICCTOKEN2"` padded with spaces).
pub const EF_TOKEN_INFO: [u8; 2] = [0x00, 0x06];
/// JPKI AP EF: which certificates the card carries (3 bytes).
pub const EF_CERT_FLAGS: [u8; 2] = [0x00, 0x08];
/// JPKI AP EF: 利用者証明用電子証明書 (auth certificate), readable without a PIN.
pub const EF_AUTH_CERT: [u8; 2] = [0x00, 0x0A];
/// JPKI AP EF: 利用者証明用CA証明書 (auth CA certificate).
pub const EF_AUTH_CA_CERT: [u8; 2] = [0x00, 0x0B];
/// JPKI AP EF: 利用者証明用秘密鍵 (auth private key).
pub const EF_AUTH_KEY: [u8; 2] = [0x00, 0x17];
/// JPKI AP EF: the auth PIN (4 digits, 3 tries).
pub const EF_AUTH_PIN: [u8; 2] = [0x00, 0x18];

/// Tries of the auth PIN after a successful VERIFY.
pub const AUTH_PIN_MAX_TRIES: u8 = 3;

/// The largest data COMPUTE DIGITAL SIGNATURE accepts: 256 − 11 bytes of PKCS#1 v1.5 padding.
pub const MAX_SIGN_INPUT: usize = 245;

/// DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2 note 1).
const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// First READ BINARY of a DER file: enough for `30 82 LL LL` (and longer length forms).
const HEADER_LEN: u16 = 7;

/// Why a JPKI operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JpkiError {
    /// The card refused the PIN (`63 Cx`, x > 0).
    #[error("wrong PIN: {tries_left} tries left")]
    WrongPin { tries_left: u8 },
    /// The PIN is locked: the attempt that exhausted the counter (`63 C0`) or any later one
    /// (`69 84`). Only the municipality can reset it.
    #[error("the PIN is locked")]
    PinLocked,
    /// The PIN is not exactly 4 ASCII digits; nothing was sent to the card.
    #[error("the PIN must be exactly 4 digits")]
    PinFormat,
    /// The card requires a PIN VERIFY first (`69 82`), e.g. signing after a reset.
    #[error("security status not satisfied: verify the PIN first")]
    SecurityNotSatisfied,
    /// SELECT of the JPKI AP failed: not a My Number card (or not facing the reader right).
    #[error("not a My Number card: the JPKI application could not be selected")]
    NotJpki,
    #[error(transparent)]
    Card(#[from] CardError),
    /// A status word this client does not expect for the command.
    #[error("unexpected status word {0:04X}")]
    Status(u16),
    /// The card's data does not have the expected shape.
    #[error("malformed card data: {0}")]
    Malformed(String),
    /// The data to sign is empty or longer than [`MAX_SIGN_INPUT`]; nothing was sent.
    #[error("data to sign must be 1..=245 bytes, got {len}")]
    InvalidDigestInfo { len: usize },
}

impl JpkiError {
    /// The message shown to a patient or receptionist.
    pub fn message_ja(&self) -> String {
        match self {
            JpkiError::WrongPin { tries_left } => {
                format!("暗証番号が違います。あと{tries_left}回間違えるとロックされます。")
            }
            JpkiError::PinLocked => "暗証番号がロックされています。お住まいの市区町村の窓口で暗証番号の再設定を行ってください。".to_owned(),
            JpkiError::PinFormat => "暗証番号は4桁の数字で入力してください。".to_owned(),
            JpkiError::SecurityNotSatisfied => {
                "暗証番号の確認が済んでいません。もう一度暗証番号を入力してください。".to_owned()
            }
            JpkiError::NotJpki => "マイナンバーカードを読み取れませんでした。カードの向きを確認して置き直してください。".to_owned(),
            JpkiError::Card(e) => e.message_ja(),
            JpkiError::Status(_) | JpkiError::Malformed(_) => {
                "カードを読み取れませんでした。もう一度カードを置いてください。".to_owned()
            }
            JpkiError::InvalidDigestInfo { .. } => {
                "カードの処理中にエラーが発生しました。システム管理者に連絡してください。"
                    .to_owned()
            }
        }
    }
}

/// The SHA-256 DigestInfo (51 bytes) that a `sha256WithRSAEncryption` signature covers.
pub fn sha256_digest_info(hash: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SHA256_DIGEST_INFO_PREFIX.len() + hash.len());
    out.extend_from_slice(&SHA256_DIGEST_INFO_PREFIX);
    out.extend_from_slice(hash);
    out
}

/// True when `pin` is exactly 4 ASCII digits, the only shape of an auth PIN.
pub fn is_valid_auth_pin(pin: &str) -> bool {
    pin.len() == 4 && pin.bytes().all(|b| b.is_ascii_digit())
}

/// Total length of the DER element at the start of `bytes`, from its tag and length octets
/// (single-byte tags only). `None` when the length octets are not there or not DER-shaped.
pub(crate) fn der_total_len(bytes: &[u8]) -> Option<usize> {
    let first = *bytes.get(1)?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 3 {
        return None;
    }
    let octets = bytes.get(2..2 + n)?;
    let len = octets
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Some(2 + n + len)
}

/// A session with the card's 公的個人認証AP (JPKI AP): token info, the 利用者証明用 (user
/// authentication) certificate and its CA certificate, the auth PIN, and signing with the auth
/// key. Created by [`Jpki::open`], which selects the AP; works over any [`Card`]
/// (`&mut VirtualCard`, `&mut Box<dyn Card>`, `boxed.as_mut()`, ...).
///
/// Every operation selects its EF itself, so operations can be called in any order.
///
/// The signature certificate (署名用電子証明書) and its password are deliberately out of
/// scope: that certificate carries name, address, date of birth and sex, which eligibility
/// verification must not read.
pub struct Jpki<'a> {
    card: &'a mut dyn Card,
}

impl std::fmt::Debug for Jpki<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jpki").finish_non_exhaustive()
    }
}

impl<'a> Jpki<'a> {
    /// Selects the JPKI AP (`00 A4 04 0C 0A <JPKI_AID>`).
    pub fn open(card: &'a mut dyn Card) -> Result<Jpki<'a>, JpkiError> {
        let mut jpki = Jpki { card };
        let response = jpki.exchange(&Command::case3(0x00, 0xA4, 0x04, 0x0C, &JPKI_AID))?;
        if response.sw != SW_OK {
            return Err(JpkiError::NotJpki);
        }
        Ok(jpki)
    }

    /// The token label in EF 0006, trimmed, e.g. `"JPKIAPICCTOKEN2"`.
    pub fn token_info(&mut self) -> Result<String, JpkiError> {
        self.select_ef(EF_TOKEN_INFO)?;
        let data = self.read_binary(0, 32)?;
        let text = std::str::from_utf8(&data)
            .map_err(|_| JpkiError::Malformed("token info is not text".to_owned()))?;
        Ok(text
            .trim_matches(|c: char| c == ' ' || c == '\0' || c == '\u{FF}')
            .to_owned())
    }

    /// The 利用者証明用電子証明書 (X.509 DER) from EF 000A; needs no PIN.
    pub fn read_auth_certificate(&mut self) -> Result<Vec<u8>, JpkiError> {
        self.read_der_file(EF_AUTH_CERT)
    }

    /// The 利用者証明用CA証明書 (X.509 DER) from EF 000B; needs no PIN.
    pub fn read_auth_ca_certificate(&mut self) -> Result<Vec<u8>, JpkiError> {
        self.read_der_file(EF_AUTH_CA_CERT)
    }

    /// Tries left on the auth PIN, without using one (VERIFY case 1 on EF 0018).
    ///
    /// A card that answers `90 00` (PIN already verified in this session) has the full
    /// [`AUTH_PIN_MAX_TRIES`]; a locked card answers 0.
    pub fn auth_pin_tries_left(&mut self) -> Result<u8, JpkiError> {
        self.select_ef(EF_AUTH_PIN)?;
        let response = self.exchange(&Command::case1(0x00, 0x20, 0x00, 0x80))?;
        match response.sw {
            SW_OK => Ok(AUTH_PIN_MAX_TRIES),
            SW_AUTH_BLOCKED | SW_AUTH_METHOD_BLOCKED => Ok(0),
            sw => tries_left_from_sw(sw).ok_or(JpkiError::Status(sw)),
        }
    }

    /// VERIFY the auth PIN. A PIN that is not exactly 4 ASCII digits is refused here with
    /// [`JpkiError::PinFormat`] and never reaches the card, so a typo costs no try.
    pub fn verify_auth_pin(&mut self, pin: &str) -> Result<(), JpkiError> {
        if !is_valid_auth_pin(pin) {
            return Err(JpkiError::PinFormat);
        }
        self.select_ef(EF_AUTH_PIN)?;
        let response = self.exchange(&Command::case3(0x00, 0x20, 0x00, 0x80, pin.as_bytes()))?;
        match response.sw {
            SW_OK => Ok(()),
            SW_AUTH_BLOCKED | SW_AUTH_METHOD_BLOCKED => Err(JpkiError::PinLocked),
            sw => match tries_left_from_sw(sw) {
                Some(0) => Err(JpkiError::PinLocked),
                Some(tries_left) => Err(JpkiError::WrongPin { tries_left }),
                None => Err(status_error(sw)),
            },
        }
    }

    /// COMPUTE DIGITAL SIGNATURE with the auth key (`80 2A 00 80 Lc <data> 00` on EF 0017):
    /// the card PKCS#1 v1.5-pads `digest_info` as given and applies the private key. Needs
    /// [`Jpki::verify_auth_pin`] earlier in the same card session.
    pub fn sign_digest_info(&mut self, digest_info: &[u8]) -> Result<Vec<u8>, JpkiError> {
        if digest_info.is_empty() || digest_info.len() > MAX_SIGN_INPUT {
            return Err(JpkiError::InvalidDigestInfo {
                len: digest_info.len(),
            });
        }
        self.select_ef(EF_AUTH_KEY)?;
        let response = self.exchange(&Command::case4(0x80, 0x2A, 0x00, 0x80, digest_info, 256))?;
        match response.sw {
            SW_OK if response.data.is_empty() => {
                Err(JpkiError::Malformed("empty signature".to_owned()))
            }
            SW_OK => Ok(response.data),
            sw => Err(status_error(sw)),
        }
    }

    /// A `sha256WithRSAEncryption` signature over the message whose SHA-256 is `hash`.
    pub fn sign_sha256(&mut self, hash: &[u8; 32]) -> Result<Vec<u8>, JpkiError> {
        self.sign_digest_info(&sha256_digest_info(hash))
    }

    fn select_ef(&mut self, fid: [u8; 2]) -> Result<(), JpkiError> {
        crate::exchange::select_ef(self.card, fid)
    }

    fn read_binary(&mut self, offset: u16, le: u16) -> Result<Vec<u8>, JpkiError> {
        crate::exchange::read_binary(self.card, offset, le, "file shorter than its DER length")
    }

    /// Reads a whole DER file: a 7-byte header for the length, then chunks of ≤ 256 bytes.
    fn read_der_file(&mut self, fid: [u8; 2]) -> Result<Vec<u8>, JpkiError> {
        self.select_ef(fid)?;
        let mut data = self.read_binary(0, HEADER_LEN)?;
        if data.first() != Some(&0x30) {
            return Err(JpkiError::Malformed(
                "the file does not hold a DER certificate".to_owned(),
            ));
        }
        let total = der_total_len(&data)
            .ok_or_else(|| JpkiError::Malformed("bad DER length".to_owned()))?;
        while data.len() < total {
            let offset = u16::try_from(data.len())
                .map_err(|_| JpkiError::Malformed("certificate too long".to_owned()))?;
            let want = (total - data.len()).min(256);
            let chunk = self.read_binary(offset, want as u16)?;
            if chunk.is_empty() {
                return Err(JpkiError::Malformed(
                    "the card returned no data before the end of the certificate".to_owned(),
                ));
            }
            data.extend_from_slice(&chunk[..chunk.len().min(want)]);
        }
        data.truncate(total);
        Ok(data)
    }

    /// One command (see [`crate::exchange::exchange`]).
    fn exchange(&mut self, command: &Command) -> Result<Response, JpkiError> {
        crate::exchange::send(self.card, command)
    }
}

impl crate::exchange::ApplicationError for JpkiError {
    fn exchange(e: ExchangeError) -> Self {
        match e {
            ExchangeError::Card(e) => JpkiError::Card(e),
            ExchangeError::Malformed(reason) => JpkiError::Malformed(reason),
        }
    }

    fn status(sw: u16) -> Self {
        status_error(sw)
    }

    fn malformed(reason: String) -> Self {
        JpkiError::Malformed(reason)
    }
}

fn status_error(sw: u16) -> JpkiError {
    match sw {
        SW_SECURITY_NOT_SATISFIED => JpkiError::SecurityNotSatisfied,
        SW_AUTH_BLOCKED | SW_AUTH_METHOD_BLOCKED => JpkiError::PinLocked,
        sw => JpkiError::Status(sw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A card that expects an exact script of C-APDUs and plays back R-APDUs.
    struct Scripted {
        script: VecDeque<(Vec<u8>, Vec<u8>)>,
    }

    impl Scripted {
        fn new(script: &[(&str, &str)]) -> Scripted {
            Scripted {
                script: script.iter().map(|(c, r)| (hex(c), hex(r))).collect(),
            }
        }
    }

    impl Card for Scripted {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
            let (expected, response) = self
                .script
                .pop_front()
                .ok_or_else(|| CardError::Protocol(format!("unexpected APDU {apdu:02X?}")))?;
            assert_eq!(apdu, expected.as_slice(), "C-APDU");
            Ok(response)
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    const SELECT_JPKI: (&str, &str) = ("00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01", "90 00");

    /// Runs `f` on a JPKI session over `script` (after the SELECT of the AP) and checks that
    /// the whole script was used.
    fn run<T>(script: &[(&str, &str)], f: impl FnOnce(&mut Jpki<'_>) -> T) -> T {
        let mut full = vec![SELECT_JPKI];
        full.extend_from_slice(script);
        let mut card = Scripted::new(&full);
        let out = f(&mut Jpki::open(&mut card).unwrap());
        assert!(card.script.is_empty(), "unused script: {:?}", card.script);
        out
    }

    #[test]
    fn select_failure_is_not_jpki() {
        for sw in ["6A 82", "6E 00", "6D 00", "69 99"] {
            let mut card = Scripted::new(&[(SELECT_JPKI.0, sw)]);
            assert_eq!(
                Jpki::open(&mut card).unwrap_err(),
                JpkiError::NotJpki,
                "{sw}"
            );
        }
    }

    #[test]
    fn sha256_digest_info_is_51_bytes_of_der() {
        let di = sha256_digest_info(&[0xAB; 32]);
        assert_eq!(di.len(), 51);
        assert_eq!(
            di[..19],
            hex("30 31 30 0D 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20")[..]
        );
        assert_eq!(der_total_len(&di), Some(51));
    }

    #[test]
    fn der_lengths() {
        let cases: &[(&str, Option<usize>)] = &[
            ("30 03 01 02 03", Some(5)),
            ("30 81 80", Some(131)),
            ("30 82 04 00", Some(1028)),
            ("30 83 01 00 00", Some(65541)),
            ("30 80", None),
            ("30 84 00 00 00 01", None),
            ("30 82 04", None),
            ("30", None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(der_total_len(&hex(bytes)), *expected, "{bytes}");
        }
    }

    #[test]
    fn pin_shapes_are_checked_before_sending() {
        for pin in ["", "123", "12345", "12a4", "１２３４", " 123", "123 "] {
            // The script holds nothing after the SELECT: any APDU would fail the test.
            let got = run(&[], |jpki| jpki.verify_auth_pin(pin));
            assert_eq!(got, Err(JpkiError::PinFormat), "{pin:?}");
        }
    }

    #[test]
    fn verify_answers_map_to_errors() {
        let cases: &[(&str, Result<(), JpkiError>)] = &[
            ("90 00", Ok(())),
            ("63 C2", Err(JpkiError::WrongPin { tries_left: 2 })),
            ("63 C1", Err(JpkiError::WrongPin { tries_left: 1 })),
            ("63 C0", Err(JpkiError::PinLocked)),
            ("69 84", Err(JpkiError::PinLocked)),
            ("69 83", Err(JpkiError::PinLocked)),
            ("6A 80", Err(JpkiError::Status(0x6A80))),
        ];
        for (sw, expected) in cases {
            let got = run(
                &[
                    ("00 A4 02 0C 02 00 18", "90 00"),
                    ("00 20 00 80 04 31 32 33 34", sw),
                ],
                |jpki| jpki.verify_auth_pin("1234"),
            );
            assert_eq!(&got, expected, "{sw}");
        }
    }

    #[test]
    fn tries_left_answers() {
        let cases: &[(&str, Result<u8, JpkiError>)] = &[
            ("63 C3", Ok(3)),
            ("63 C0", Ok(0)),
            ("69 84", Ok(0)),
            ("90 00", Ok(3)),
            ("69 86", Err(JpkiError::Status(0x6986))),
        ];
        for (sw, expected) in cases {
            let got = run(
                &[("00 A4 02 0C 02 00 18", "90 00"), ("00 20 00 80", sw)],
                |jpki| jpki.auth_pin_tries_left(),
            );
            assert_eq!(&got, expected, "{sw}");
        }
    }

    #[test]
    fn get_response_and_wrong_le_are_followed() {
        // Token info through a T=0-style reader: 6C 20 (use Le=20), then 61 xx chains.
        let token = "4A 50 4B 49 41 50 49 43 43 54 4F 4B 45 4E 32".to_owned() + &" 20".repeat(17);
        let got = run(
            &[
                ("00 A4 02 0C 02 00 06", "90 00"),
                ("00 B0 00 00 20", "6C 20"),
                ("00 B0 00 00 20", "61 10"),
                ("00 C0 00 00 10", &format!("{} 61 10", &token[..47])),
                ("00 C0 00 00 10", &format!("{} 90 00", &token[48..])),
            ],
            |jpki| jpki.token_info(),
        );
        assert_eq!(got, Ok("JPKIAPICCTOKEN2".to_owned()));
    }

    #[test]
    fn certificate_reads_follow_the_der_length() {
        // A 300-byte "certificate": header, then one chunk from offset 7 of 293 bytes, which
        // is asked as 256 then 37.
        let cert: Vec<u8> = [0x30, 0x82, 0x01, 0x28]
            .into_iter()
            .chain((0..296).map(|i| i as u8))
            .collect();
        let h = |b: &[u8]| {
            b.iter()
                .map(|x| format!("{x:02X}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let r1 = format!("{} 90 00", h(&cert[..7]));
        let r2 = format!("{} 90 00", h(&cert[7..263]));
        let r3 = format!("{} 90 00", h(&cert[263..]));
        let got = run(
            &[
                ("00 A4 02 0C 02 00 0A", "90 00"),
                ("00 B0 00 00 07", &r1),
                ("00 B0 00 07 00", &r2),
                ("00 B0 01 07 25", &r3),
            ],
            |jpki| jpki.read_auth_certificate(),
        );
        assert_eq!(got, Ok(cert));
    }

    #[test]
    fn missing_or_empty_certificate_files() {
        let cases: &[(&[(&str, &str)], JpkiError)] = &[
            (
                &[("00 A4 02 0C 02 00 0A", "6A 82")],
                JpkiError::Status(0x6A82),
            ),
            (
                &[
                    ("00 A4 02 0C 02 00 0A", "90 00"),
                    ("00 B0 00 00 07", "FF FF FF FF FF FF FF 90 00"),
                ],
                JpkiError::Malformed("the file does not hold a DER certificate".to_owned()),
            ),
            (
                &[
                    ("00 A4 02 0C 02 00 0A", "90 00"),
                    ("00 B0 00 00 07", "30 82 01 00 00 00 00 90 00"),
                    ("00 B0 00 07 FD", "6B 00"),
                ],
                JpkiError::Malformed("file shorter than its DER length".to_owned()),
            ),
        ];
        for (script, expected) in cases {
            let got = run(script, |jpki| jpki.read_auth_certificate());
            assert_eq!(got.as_ref(), Err(expected), "{script:?}");
        }
    }

    #[test]
    fn signing_input_is_checked_before_sending() {
        for len in [0, 246, 300] {
            let got = run(&[], |jpki| jpki.sign_digest_info(&vec![0; len]));
            assert_eq!(got, Err(JpkiError::InvalidDigestInfo { len }));
        }
    }

    #[test]
    fn short_responses_are_protocol_errors() {
        let got = run(&[("00 A4 02 0C 02 00 17", "90")], |jpki| {
            jpki.sign_sha256(&[0; 32])
        });
        assert!(
            matches!(got, Err(JpkiError::Card(CardError::Protocol(_)))),
            "{got:?}"
        );
    }

    #[test]
    fn japanese_messages() {
        assert_eq!(
            JpkiError::WrongPin { tries_left: 2 }.message_ja(),
            "暗証番号が違います。あと2回間違えるとロックされます。"
        );
        assert_eq!(
            JpkiError::Card(CardError::Removed).message_ja(),
            "カードが取り出されました。もう一度カードを置いてください。"
        );
        assert!(JpkiError::PinLocked
            .message_ja()
            .contains("ロックされています"));
        assert!(JpkiError::NotJpki.message_ja().contains("カードの向き"));
    }
}
