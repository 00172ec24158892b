//! The terminal-side client of the card's 券面事項確認AP (card-surface AP): the face photo,
//! opened by 照合番号B, for matching the patient's face on the terminal.
//!
//! Layout and access rules are research/card-face.md §1.3 (from soltia48/myna-card
//! `src/ap/surface.rs`, reverse-engineered on real cards, jpki/myna `visual.rs` and jpki-rs
//! `surface.rs`):
//!
//! - AID `D3 92 10 00 31 00 01 01 04 02` ([`SURFACE_AID`]);
//! - EF `0012`: the key reference of 照合番号B ([`EF_CODE_B`]), VERIFY with 14 ASCII digits,
//!   [`CODE_B_MAX_TRIES`] tries; the same non-consuming tries-left VERIFY as the JPKI PIN;
//! - EF `0002`: the card face ([`EF_CARD_FACE`]), readable after 照合番号B: BER-TLV
//!   `FF20 { DF21 offsets, DF22 生年月日, DF23 性別, DF24 the AP's public key, DF25 name image,
//!   DF26 address image, DF27 顔写真 (JPEG 2000, greyscale), DF28 signature over DF22..DF27,
//!   DF29 有効期限, DF2A security-code image }`; `DF21` holds the offset of each following object
//!   from the start of the file, as big-endian `u16`s.
//!
//! [`Surface::read_face_photo`] reads the offset table and `DF27` and nothing else: the date of
//! birth, sex, name, address and expiry in the same file never leave the card.

use crate::apdu::{
    tries_left_from_sw, Command, Response, SW_AUTH_BLOCKED, SW_AUTH_METHOD_BLOCKED, SW_OK,
    SW_SECURITY_NOT_SATISFIED,
};
use crate::exchange::ExchangeError;
use crate::photo::JP2_SIGNATURE;
use crate::transport::{Card, CardError};
use thiserror::Error;

use crate::jpki::SURFACE_AID;

/// 券面事項確認AP EF: the card face record (`FF20`), readable after 照合番号B.
pub const EF_CARD_FACE: [u8; 2] = [0x00, 0x02];
/// 券面事項確認AP EF: the key reference of 照合番号B.
pub const EF_CODE_B: [u8; 2] = [0x00, 0x12];
/// Tries of 照合番号B (research/card-face.md §1.3: "A vendor doc quoted in an indexed repo
/// gives **10 tries** for 照合番号B (unverified)").
pub const CODE_B_MAX_TRIES: u8 = 10;
/// Digits of 照合番号B.
pub const CODE_B_LEN: usize = 14;

/// Tags of the card face record.
pub(crate) const TAG_CARD_FACE: u16 = 0xFF20;
pub(crate) const TAG_OFFSETS: u16 = 0xDF21;
pub(crate) const TAG_PHOTO: u16 = 0xDF27;
/// `DF27` is the sixth object the offset table lists (`DF22` … `DF2A`).
const PHOTO_OBJECT_INDEX: usize = 5;

/// The largest transparent EF READ BINARY addresses: 15-bit offsets.
pub(crate) const MAX_EF_LEN: usize = 0x7FFF;

/// A calendar date as the card prints and stores it (`YYYYMMDD`, Gregorian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CardDate {
    year: u16,
    month: u8,
    day: u8,
}

impl CardDate {
    /// A date of the Gregorian calendar in years 1..=9999; `None` for anything else
    /// (month 13, 30 February, 29 February of a common year, ...).
    pub fn new(year: u16, month: u8, day: u8) -> Option<CardDate> {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        ((1..=9999).contains(&year) && (1..=days).contains(&day)).then_some(CardDate {
            year,
            month,
            day,
        })
    }

    /// Eight ASCII digits `YYYYMMDD`, as the card stores dates (`DF22`, `DF29`).
    pub fn parse_yyyymmdd(text: &str) -> Option<CardDate> {
        if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        CardDate::new(
            text[..4].parse().ok()?,
            text[4..6].parse().ok()?,
            text[6..].parse().ok()?,
        )
    }

    /// `YYYYMMDD`.
    pub fn yyyymmdd(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    pub fn year(&self) -> u16 {
        self.year
    }

    pub fn month(&self) -> u8 {
        self.month
    }

    pub fn day(&self) -> u8 {
        self.day
    }

    /// The Japanese era (和暦) of the date and the year within it (元年 = 1); `None` before
    /// 明治 (1868-01-25, the day 明治元年 was counted from).
    pub fn japanese_era(&self) -> Option<(Era, u16)> {
        let key = (self.year, self.month, self.day);
        let era = [
            (Era::Reiwa, (2019, 5, 1)),
            (Era::Heisei, (1989, 1, 8)),
            (Era::Showa, (1926, 12, 25)),
            (Era::Taisho, (1912, 7, 30)),
            (Era::Meiji, (1868, 1, 25)),
        ]
        .into_iter()
        .find(|(_, start)| key >= *start)?
        .0;
        Some((era, self.year - era.first_year() + 1))
    }
}

/// A Japanese era name (元号) from 明治 on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    Meiji,
    Taisho,
    Showa,
    Heisei,
    Reiwa,
}

impl Era {
    /// The Gregorian year of the era's first year.
    pub fn first_year(self) -> u16 {
        match self {
            Era::Meiji => 1868,
            Era::Taisho => 1912,
            Era::Showa => 1926,
            Era::Heisei => 1989,
            Era::Reiwa => 2019,
        }
    }

    /// 明治, 大正, 昭和, 平成, 令和.
    pub fn name_ja(self) -> &'static str {
        match self {
            Era::Meiji => "明治",
            Era::Taisho => "大正",
            Era::Showa => "昭和",
            Era::Heisei => "平成",
            Era::Reiwa => "令和",
        }
    }
}

/// 照合番号B from what is printed on the card: the date of birth as **和暦** `YYMMDD` (the
/// year within its era), the card's expiry year (西暦, 4 digits) and the 4-digit セキュリティ
/// コード printed on the front — 14 digits.
///
/// research/card-face.md §1.3: "`0012` key ref: **照合番号B** = DoB (和暦 YYMMDD, 6) + expiry
/// year (西暦, 4) + security code printed on the front (4) = 14 digits"; confirmed there by
/// soltia48 ("the card wants the date of birth as a Japanese era year"; a card born 1980-02-17 =
/// 昭和55, expiring 2035, code 2285 opens with `55021720352285`), an nfcpy sample
/// (令和2年2月24日生 → `020224`) and press articles. jpki-rs's "DoB YYYYMMDD" is the outlier.
pub fn collation_number_b(
    birth_date: CardDate,
    expiry_year: u16,
    security_code: &str,
) -> Result<String, SurfaceError> {
    if security_code.len() != 4 || !security_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SurfaceError::SecurityCodeFormat);
    }
    if !(1000..=9999).contains(&expiry_year) {
        return Err(SurfaceError::ExpiryYear(expiry_year));
    }
    let era_year = match birth_date.japanese_era() {
        Some((_, year)) if year <= 99 => year,
        _ => return Err(SurfaceError::BirthDateOutOfEra),
    };
    Ok(format!(
        "{era_year:02}{:02}{:02}{expiry_year:04}{security_code}",
        birth_date.month, birth_date.day
    ))
}

/// True when `code` has the shape of a 照合番号B: exactly 14 ASCII digits.
pub fn is_valid_collation_number_b(code: &str) -> bool {
    code.len() == CODE_B_LEN && code.bytes().all(|b| b.is_ascii_digit())
}

/// Why a 券面事項確認AP operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SurfaceError {
    /// The card refused the 照合番号B (`63 Cx`, x > 0).
    #[error("wrong 照合番号B: {tries_left} tries left")]
    WrongCode { tries_left: u8 },
    /// 照合番号B is blocked: the attempt that exhausted the counter (`63 C0`) or any later one
    /// (`69 84`, or `69 83`). Only the municipality can reset it.
    #[error("照合番号B is blocked")]
    Blocked,
    /// The 照合番号B is not exactly 14 ASCII digits; nothing was sent to the card.
    #[error("照合番号B must be exactly 14 digits")]
    CodeFormat,
    /// The card requires 照合番号B first (`69 82`): reading the face before VERIFY, or after
    /// a reset.
    #[error("security status not satisfied: verify 照合番号B first")]
    SecurityNotSatisfied,
    /// SELECT of the 券面事項確認AP failed: not a My Number card, or (a virtual card) one
    /// issued without its card face.
    #[error("the card-surface application could not be selected")]
    NoSurfaceAp,
    /// The security code is not exactly 4 ASCII digits.
    #[error("the security code must be exactly 4 digits")]
    SecurityCodeFormat,
    /// The expiry year is not a 4-digit year.
    #[error("the expiry year {0} is not a 4-digit year")]
    ExpiryYear(u16),
    /// The date of birth is before 明治 or its era year does not fit two digits.
    #[error("the date of birth has no two-digit Japanese era year")]
    BirthDateOutOfEra,
    #[error(transparent)]
    Card(#[from] CardError),
    /// A status word this client does not expect for the command.
    #[error("unexpected status word {0:04X}")]
    Status(u16),
    /// The card's data does not have the expected shape.
    #[error("malformed card data: {0}")]
    Malformed(String),
}

impl SurfaceError {
    /// The message shown to a patient or receptionist.
    pub fn message_ja(&self) -> String {
        match self {
            SurfaceError::WrongCode { tries_left } => format!(
                "券面の読み取り内容が一致しません。あと{tries_left}回間違えるとロックされます。"
            ),
            SurfaceError::Blocked => "券面事項確認の照合番号がロックされています。お住まいの市区町村の窓口で再設定を行ってください。".to_owned(),
            SurfaceError::CodeFormat
            | SurfaceError::SecurityCodeFormat
            | SurfaceError::ExpiryYear(_)
            | SurfaceError::BirthDateOutOfEra => {
                "生年月日・有効期限の年・セキュリティコードを確認して入力し直してください。"
                    .to_owned()
            }
            SurfaceError::SecurityNotSatisfied => {
                "券面事項の確認が済んでいません。もう一度入力してください。".to_owned()
            }
            SurfaceError::NoSurfaceAp => "マイナンバーカードの顔写真を読み取れませんでした。カードの向きを確認して置き直してください。".to_owned(),
            SurfaceError::Card(e) => e.message_ja(),
            SurfaceError::Status(_) | SurfaceError::Malformed(_) => {
                "カードを読み取れませんでした。もう一度カードを置いてください。".to_owned()
            }
        }
    }
}

/// A session with the card's 券面事項確認AP: 照合番号B and the face photo. Created by
/// [`Surface::open`], which selects the AP; works over any [`Card`].
///
/// A successful VERIFY lasts until the card is reset, removed, or another application is
/// selected.
pub struct Surface<'a> {
    card: &'a mut dyn Card,
}

impl std::fmt::Debug for Surface<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Surface").finish_non_exhaustive()
    }
}

impl<'a> Surface<'a> {
    /// Selects the 券面事項確認AP (`00 A4 04 0C 0A <SURFACE_AID>`).
    pub fn open(card: &'a mut dyn Card) -> Result<Surface<'a>, SurfaceError> {
        let mut surface = Surface { card };
        let response = surface.exchange(&Command::case3(0x00, 0xA4, 0x04, 0x0C, &SURFACE_AID))?;
        if response.sw != SW_OK {
            return Err(SurfaceError::NoSurfaceAp);
        }
        Ok(surface)
    }

    /// Tries left on 照合番号B, without using one (VERIFY case 1 on EF 0012). A card that
    /// answers `90 00` (already verified in this session) has the full [`CODE_B_MAX_TRIES`]; a
    /// blocked one answers 0.
    pub fn tries_left(&mut self) -> Result<u8, SurfaceError> {
        self.select_ef(EF_CODE_B)?;
        let response = self.exchange(&Command::case1(0x00, 0x20, 0x00, 0x80))?;
        match response.sw {
            SW_OK => Ok(CODE_B_MAX_TRIES),
            SW_AUTH_BLOCKED | SW_AUTH_METHOD_BLOCKED => Ok(0),
            sw => tries_left_from_sw(sw).ok_or(SurfaceError::Status(sw)),
        }
    }

    /// VERIFY 照合番号B (`00 20 00 80 0E <14 ASCII digits>` on EF 0012). A code that is not
    /// 14 ASCII digits is refused here with [`SurfaceError::CodeFormat`] and never reaches the
    /// card, so a typo costs no try.
    pub fn verify_b(&mut self, code: &str) -> Result<(), SurfaceError> {
        if !is_valid_collation_number_b(code) {
            return Err(SurfaceError::CodeFormat);
        }
        self.select_ef(EF_CODE_B)?;
        let response = self.exchange(&Command::case3(0x00, 0x20, 0x00, 0x80, code.as_bytes()))?;
        match response.sw {
            SW_OK => Ok(()),
            SW_AUTH_BLOCKED | SW_AUTH_METHOD_BLOCKED => Err(SurfaceError::Blocked),
            sw => match tries_left_from_sw(sw) {
                Some(0) => Err(SurfaceError::Blocked),
                Some(tries_left) => Err(SurfaceError::WrongCode { tries_left }),
                None => Err(status_error(sw)),
            },
        }
    }

    /// The face photo (`DF27` of EF 0002): a JP2 file, greyscale JPEG 2000 — decode it with
    /// [`crate::decode_jp2`]. Needs [`Surface::verify_b`] earlier in the same card session.
    ///
    /// Reads the record's header and offset table, then `DF27` alone, in chunks of at most
    /// 256 bytes. The bytes are a face: keep them no longer than the comparison.
    pub fn read_face_photo(&mut self) -> Result<Vec<u8>, SurfaceError> {
        self.select_ef(EF_CARD_FACE)?;
        // FF20 header (≤ 5 bytes) and DF21 with nine offsets (3 + 18): 26 bytes.
        let head = self.read_binary(0, 32)?;
        let (outer, outer_header) = tlv_header(&head)
            .ok_or_else(|| malformed("no card face record at the start of EF 0002"))?;
        if outer.tag != TAG_CARD_FACE {
            return Err(malformed("EF 0002 does not start with tag FF20"));
        }
        let (table, table_header) = head
            .get(outer_header..)
            .and_then(tlv_header)
            .filter(|(t, _)| t.tag == TAG_OFFSETS)
            .ok_or_else(|| malformed("the card face record has no offset table (DF21)"))?;
        let offsets = head
            .get(outer_header + table_header..outer_header + table_header + table.len)
            .ok_or_else(|| malformed("the offset table does not fit the record's first bytes"))?;
        let at = 2 * PHOTO_OBJECT_INDEX;
        let photo_at = match offsets.get(at..at + 2) {
            Some(&[hi, lo]) if offsets.len() % 2 == 0 => usize::from(u16::from_be_bytes([hi, lo])),
            _ => return Err(malformed("the offset table lists no photo")),
        };

        let photo_head = self.read_binary(ef_offset(photo_at)?, 5)?;
        let (photo, photo_header) = tlv_header(&photo_head)
            .filter(|(t, _)| t.tag == TAG_PHOTO)
            .ok_or_else(|| malformed("the photo offset does not point at DF27"))?;
        let start = photo_at + photo_header;
        if start + photo.len > MAX_EF_LEN + 1 {
            return Err(malformed("DF27 runs past what READ BINARY can address"));
        }
        let mut jp2 = Vec::with_capacity(photo.len);
        while jp2.len() < photo.len {
            let want = (photo.len - jp2.len()).min(256);
            let chunk = self.read_binary(ef_offset(start + jp2.len())?, want as u16)?;
            if chunk.is_empty() {
                return Err(malformed(
                    "the card returned no data before the end of DF27",
                ));
            }
            jp2.extend_from_slice(&chunk[..chunk.len().min(want)]);
        }
        if !jp2.starts_with(&JP2_SIGNATURE) {
            return Err(malformed("DF27 is not a JP2 file"));
        }
        Ok(jp2)
    }

    fn select_ef(&mut self, fid: [u8; 2]) -> Result<(), SurfaceError> {
        crate::exchange::select_ef(self.card, fid)
    }

    fn read_binary(&mut self, offset: u16, le: u16) -> Result<Vec<u8>, SurfaceError> {
        crate::exchange::read_binary(self.card, offset, le, "EF 0002 is shorter than its record")
    }

    /// One command (see [`crate::exchange::exchange`]).
    fn exchange(&mut self, command: &Command) -> Result<Response, SurfaceError> {
        crate::exchange::send(self.card, command)
    }
}

/// A READ BINARY offset: 15 bits.
fn ef_offset(offset: usize) -> Result<u16, SurfaceError> {
    u16::try_from(offset)
        .ok()
        .filter(|o| usize::from(*o) <= MAX_EF_LEN)
        .ok_or_else(|| malformed("offset beyond READ BINARY's 15-bit range"))
}

fn malformed(reason: &str) -> SurfaceError {
    SurfaceError::Malformed(reason.to_owned())
}

impl crate::exchange::ApplicationError for SurfaceError {
    fn exchange(e: ExchangeError) -> Self {
        match e {
            ExchangeError::Card(e) => SurfaceError::Card(e),
            ExchangeError::Malformed(reason) => SurfaceError::Malformed(reason),
        }
    }

    fn status(sw: u16) -> Self {
        status_error(sw)
    }

    fn malformed(reason: String) -> Self {
        SurfaceError::Malformed(reason)
    }
}

fn status_error(sw: u16) -> SurfaceError {
    match sw {
        SW_SECURITY_NOT_SATISFIED => SurfaceError::SecurityNotSatisfied,
        SW_AUTH_BLOCKED | SW_AUTH_METHOD_BLOCKED => SurfaceError::Blocked,
        sw => SurfaceError::Status(sw),
    }
}

/// A BER-TLV object's two-byte tag and value length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TlvHeader {
    pub(crate) tag: u16,
    pub(crate) len: usize,
}

/// Parses the header of a two-byte-tag BER-TLV object (tag, then a definite length of one,
/// `81 xx` or `82 xx xx`): the header and its own length.
pub(crate) fn tlv_header(bytes: &[u8]) -> Option<(TlvHeader, usize)> {
    let tag = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
    let (len, header) = match *bytes.get(2)? {
        n @ 0..=0x7F => (usize::from(n), 3),
        0x81 => (usize::from(*bytes.get(3)?), 4),
        0x82 => (
            usize::from(u16::from_be_bytes([*bytes.get(3)?, *bytes.get(4)?])),
            5,
        ),
        _ => return None,
    };
    Some((TlvHeader { tag, len }, header))
}

/// A two-byte-tag BER-TLV object with the shortest definite length.
pub(crate) fn tlv(tag: u16, value: &[u8]) -> Vec<u8> {
    tlv_with_tag(&tag.to_be_bytes(), value)
}

/// A one-byte-tag BER-TLV object (the `90`/`91` of a public key).
pub(crate) fn tlv_short_tag(tag: u8, value: &[u8]) -> Vec<u8> {
    tlv_with_tag(&[tag], value)
}

fn tlv_with_tag(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    match value.len() {
        n @ 0..=0x7F => out.push(n as u8),
        n @ 0x80..=0xFF => out.extend_from_slice(&[0x81, n as u8]),
        n => {
            out.push(0x82);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(value);
    out
}

/// What the card face record (EF 0002) is made of, in the real card's order.
pub(crate) struct CardFaceRecord<'a> {
    pub(crate) birth_date: CardDate,
    /// `DF23`, one ASCII digit of JIS X 0303 (`1` male, `2` female, `9` not applicable).
    pub(crate) sex: u8,
    /// `DF24`: `90 <exponent> 91 <modulus>`.
    pub(crate) public_key: &'a [u8],
    pub(crate) photo: &'a [u8],
    /// `DF28`: 256 bytes.
    pub(crate) signature: &'a [u8],
    pub(crate) expiry: CardDate,
}

impl CardFaceRecord<'_> {
    /// `FF20 { DF21 offsets, DF22 … DF2A }`, the offsets counted from the start of the file.
    /// The rendered name, address and security code (`DF25`, `DF26`, `DF2A`) are empty.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let objects = [
            tlv(0xDF22, self.birth_date.yyyymmdd().as_bytes()),
            tlv(0xDF23, &[self.sex]),
            tlv(0xDF24, self.public_key),
            tlv(0xDF25, &[]),
            tlv(0xDF26, &[]),
            tlv(TAG_PHOTO, self.photo),
            tlv(0xDF28, self.signature),
            tlv(0xDF29, self.expiry.yyyymmdd().as_bytes()),
            tlv(0xDF2A, &[]),
        ];
        // The outer header is always FF 20 82 LL LL: the signature alone is 256 bytes.
        let table_len = 3 + 2 * objects.len();
        let mut offset = 5 + table_len;
        let mut offsets = Vec::with_capacity(2 * objects.len());
        for object in &objects {
            offsets.extend_from_slice(&(offset as u16).to_be_bytes());
            offset += object.len();
        }
        let mut body = tlv(TAG_OFFSETS, &offsets);
        for object in &objects {
            body.extend_from_slice(object);
        }
        let mut out = TAG_CARD_FACE.to_be_bytes().to_vec();
        out.push(0x82);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend(body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        type Ymd = Option<(u16, u8, u8)>;
        let cases: &[(&str, Ymd)] = &[
            ("19800217", Some((1980, 2, 17))),
            ("20000229", Some((2000, 2, 29))),
            ("19000229", None),
            ("20240229", Some((2024, 2, 29))),
            ("20230229", None),
            ("20231301", None),
            ("20230431", None),
            ("20230100", None),
            ("00000101", None),
            ("1980021", None),
            ("1980-2-17", None),
            ("１９８００２１７", None),
        ];
        for (text, expected) in cases {
            let got = CardDate::parse_yyyymmdd(text);
            assert_eq!(
                got.map(|d| (d.year(), d.month(), d.day())),
                *expected,
                "{text}"
            );
            if let Some(d) = got {
                assert_eq!(d.yyyymmdd(), *text);
            }
        }
    }

    #[test]
    fn japanese_eras_change_mid_year() {
        let cases: &[(&str, Option<(Era, u16)>)] = &[
            ("19800217", Some((Era::Showa, 55))),
            ("19890107", Some((Era::Showa, 64))),
            ("19890108", Some((Era::Heisei, 1))),
            ("20190430", Some((Era::Heisei, 31))),
            ("20190501", Some((Era::Reiwa, 1))),
            ("20200224", Some((Era::Reiwa, 2))),
            ("19261224", Some((Era::Taisho, 15))),
            ("19261225", Some((Era::Showa, 1))),
            ("19120729", Some((Era::Meiji, 45))),
            ("19120730", Some((Era::Taisho, 1))),
            ("18680125", Some((Era::Meiji, 1))),
            ("18680124", None),
        ];
        for (text, expected) in cases {
            let date = CardDate::parse_yyyymmdd(text).unwrap();
            assert_eq!(date.japanese_era(), *expected, "{text}");
        }
        assert_eq!(Era::Showa.name_ja(), "昭和");
    }

    #[test]
    fn collation_number_b_cases() {
        let d = |t| CardDate::parse_yyyymmdd(t).unwrap();
        let cases: &[(&str, u16, &str, Result<&str, SurfaceError>)] = &[
            // soltia48/myna-card's card: 昭和55年2月17日, expiring 2035, security code 2285.
            ("19800217", 2035, "2285", Ok("55021720352285")),
            // nfcpy's sample: 令和2年2月24日生 → 020224.
            ("20200224", 2030, "0000", Ok("02022420300000")),
            ("19890107", 2029, "1234", Ok("64010720291234")),
            ("19890108", 2029, "1234", Ok("01010820291234")),
            (
                "19800217",
                2035,
                "228",
                Err(SurfaceError::SecurityCodeFormat),
            ),
            (
                "19800217",
                2035,
                "22X5",
                Err(SurfaceError::SecurityCodeFormat),
            ),
            (
                "19800217",
                2035,
                "２２８５",
                Err(SurfaceError::SecurityCodeFormat),
            ),
            ("19800217", 999, "2285", Err(SurfaceError::ExpiryYear(999))),
            (
                "18000101",
                2035,
                "2285",
                Err(SurfaceError::BirthDateOutOfEra),
            ),
            (
                "21180101",
                2135,
                "2285",
                Err(SurfaceError::BirthDateOutOfEra),
            ),
        ];
        for (birth, expiry, code, expected) in cases {
            let got = collation_number_b(d(birth), *expiry, code);
            assert_eq!(
                got.as_deref(),
                expected.as_deref(),
                "{birth} {expiry} {code}"
            );
            if let Ok(b) = got {
                assert!(is_valid_collation_number_b(&b));
            }
        }
        for bad in ["", "5502172035228", "550217203522851", "5502172035228a"] {
            assert!(!is_valid_collation_number_b(bad), "{bad}");
        }
    }

    #[test]
    fn tlv_headers() {
        /// (tag, value length, header length)
        type Parsed = Option<(u16, usize, usize)>;
        let cases: &[(&[u8], Parsed)] = &[
            (&[0xDF, 0x22, 0x08], Some((0xDF22, 8, 3))),
            (&[0xDF, 0x27, 0x81, 0x90], Some((0xDF27, 0x90, 4))),
            (&[0xFF, 0x20, 0x82, 0x12, 0x34], Some((0xFF20, 0x1234, 5))),
            (&[0xFF, 0x20, 0x83, 0x00, 0x00, 0x01], None),
            (&[0xFF, 0x20, 0x82, 0x12], None),
            (&[0xFF, 0x20], None),
            (&[], None),
        ];
        for (bytes, expected) in cases {
            let got = tlv_header(bytes).map(|(h, n)| (h.tag, h.len, n));
            assert_eq!(got, *expected, "{bytes:02X?}");
        }
        for len in [0usize, 1, 127, 128, 255, 256, 4000] {
            let encoded = tlv(0xDF27, &vec![0xAB; len]);
            let (header, n) = tlv_header(&encoded).unwrap();
            assert_eq!(
                (header.tag, header.len, encoded.len()),
                (0xDF27, len, n + len)
            );
        }
    }

    #[test]
    fn the_card_face_record_offsets_point_at_each_object() {
        let record = CardFaceRecord {
            birth_date: CardDate::new(1980, 2, 17).unwrap(),
            sex: b'9',
            public_key: &[0x90, 0x01, 0x03, 0x91, 0x01, 0xC5],
            photo: &[0x42; 300],
            signature: &[0; 256],
            expiry: CardDate::new(2035, 2, 17).unwrap(),
        }
        .encode();
        let (outer, outer_header) = tlv_header(&record).unwrap();
        assert_eq!(
            (outer.tag, outer_header + outer.len),
            (TAG_CARD_FACE, record.len())
        );
        let (table, table_header) = tlv_header(&record[outer_header..]).unwrap();
        assert_eq!((table.tag, table.len), (TAG_OFFSETS, 18));
        let offsets = &record[outer_header + table_header..][..18];
        let tags: Vec<u16> = offsets
            .chunks(2)
            .map(|o| {
                let at = usize::from(u16::from_be_bytes([o[0], o[1]]));
                tlv_header(&record[at..]).unwrap().0.tag
            })
            .collect();
        assert_eq!(
            tags,
            [0xDF22, 0xDF23, 0xDF24, 0xDF25, 0xDF26, 0xDF27, 0xDF28, 0xDF29, 0xDF2A]
        );
        // The objects follow one another to the end of the record.
        let last = usize::from(u16::from_be_bytes([offsets[16], offsets[17]]));
        assert_eq!(last + 3, record.len());
        assert!(record.windows(8).any(|w| w == b"19800217"));
    }
}
