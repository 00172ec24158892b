//! Short APDUs (ISO/IEC 7816-4 cases 1–4): command encoding and parsing, response parsing, and
//! the status words this crate speaks.
//!
//! Only the short form is supported: `Lc` ≤ 255 and `Le` in `1..=256`, where the encoded byte
//! `00` means 256. The My Number card needs nothing longer (certificates are read in chunks).

use thiserror::Error;

/// `90 00`: normal processing.
pub const SW_OK: u16 = 0x9000;
/// `63 00`: verification failed, no retry counter.
pub const SW_VERIFY_FAILED: u16 = 0x6300;
/// `65 81`: memory failure (the virtual card could not persist its retry counter).
pub const SW_MEMORY_FAILURE: u16 = 0x6581;
/// `67 00`: wrong length (Lc/Le absent, inconsistent or out of range).
pub const SW_WRONG_LENGTH: u16 = 0x6700;
/// `69 81`: command incompatible with file structure (e.g. READ BINARY on a key or PIN EF).
pub const SW_INCOMPATIBLE_FILE: u16 = 0x6981;
/// `69 82`: security status not satisfied (e.g. signing without a PIN VERIFY).
pub const SW_SECURITY_NOT_SATISFIED: u16 = 0x6982;
/// `69 83`: authentication method blocked.
pub const SW_AUTH_METHOD_BLOCKED: u16 = 0x6983;
/// `69 84`: reference data not usable — the PIN is locked.
pub const SW_AUTH_BLOCKED: u16 = 0x6984;
/// `69 86`: command not allowed, no current EF.
pub const SW_NO_CURRENT_EF: u16 = 0x6986;
/// `6A 80`: incorrect parameters in the data field.
pub const SW_WRONG_DATA: u16 = 0x6A80;
/// `6A 82`: file or application not found.
pub const SW_FILE_NOT_FOUND: u16 = 0x6A82;
/// `6A 86`: incorrect P1-P2.
pub const SW_WRONG_P1P2: u16 = 0x6A86;
/// `6B 00`: wrong parameters P1-P2 (offset outside the EF).
pub const SW_WRONG_OFFSET: u16 = 0x6B00;
/// `6D 00`: instruction not supported.
pub const SW_INS_NOT_SUPPORTED: u16 = 0x6D00;
/// `6E 00`: class not supported.
pub const SW_CLA_NOT_SUPPORTED: u16 = 0x6E00;
/// `6F 00`: no precise diagnosis (internal error).
pub const SW_UNKNOWN: u16 = 0x6F00;

/// `63 Cx`: verification failed, `x` tries left (`x` ≤ 15).
pub fn sw_tries_left(tries: u8) -> u16 {
    0x63C0 | u16::from(tries.min(0x0F))
}

/// The `x` of a `63 Cx` status word, if `sw` is one.
pub fn tries_left_from_sw(sw: u16) -> Option<u8> {
    if sw & 0xFFF0 == 0x63C0 {
        Some((sw & 0x000F) as u8)
    } else {
        None
    }
}

/// Why bytes are not a short APDU, or a [`Command`] cannot be encoded as one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApduError {
    #[error("APDU too short: {0} bytes")]
    TooShort(usize),
    #[error("extended-length APDUs are not supported")]
    ExtendedLength,
    #[error("APDU length inconsistent with Lc={lc}: {len} bytes")]
    LengthMismatch { lc: u8, len: usize },
    #[error("command data too long for a short APDU: {0} bytes (at most 255)")]
    DataTooLong(usize),
    #[error("Le out of range for a short APDU: {0} (1..=256)")]
    LeOutOfRange(u16),
}

/// A command APDU.
///
/// `le` is the number of bytes expected back (`1..=256`), `None` when no response data is
/// expected. The case follows from the fields: 1 = no data, no Le; 2 = Le only; 3 = data only;
/// 4 = data and Le.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Vec<u8>,
    pub le: Option<u16>,
}

impl Command {
    /// Case 1: header only.
    pub fn case1(cla: u8, ins: u8, p1: u8, p2: u8) -> Command {
        Command {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    /// Case 2: header and Le (`1..=256`).
    pub fn case2(cla: u8, ins: u8, p1: u8, p2: u8, le: u16) -> Command {
        Command {
            le: Some(le),
            ..Command::case1(cla, ins, p1, p2)
        }
    }

    /// Case 3: header and command data.
    pub fn case3(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8]) -> Command {
        Command {
            data: data.to_vec(),
            ..Command::case1(cla, ins, p1, p2)
        }
    }

    /// Case 4: header, command data and Le (`1..=256`).
    pub fn case4(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: u16) -> Command {
        Command {
            data: data.to_vec(),
            le: Some(le),
            ..Command::case1(cla, ins, p1, p2)
        }
    }

    /// The ISO case (1–4) of this command.
    pub fn case(&self) -> u8 {
        match (self.data.is_empty(), self.le.is_some()) {
            (true, false) => 1,
            (true, true) => 2,
            (false, false) => 3,
            (false, true) => 4,
        }
    }

    /// The short-APDU encoding, or why this command has none.
    pub fn encode(&self) -> Result<Vec<u8>, ApduError> {
        if self.data.len() > 255 {
            return Err(ApduError::DataTooLong(self.data.len()));
        }
        let le = match self.le {
            None => None,
            Some(le @ 1..=255) => Some(le as u8),
            Some(256) => Some(0),
            Some(other) => return Err(ApduError::LeOutOfRange(other)),
        };
        let mut out = Vec::with_capacity(6 + self.data.len());
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if !self.data.is_empty() {
            out.push(self.data.len() as u8);
            out.extend_from_slice(&self.data);
        }
        out.extend(le);
        Ok(out)
    }

    /// The short-APDU encoding.
    ///
    /// # Panics
    ///
    /// When the command has no short encoding (data longer than 255 bytes, Le outside
    /// `1..=256`); use [`Command::encode`] for commands built from untrusted sizes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self.encode() {
            Ok(bytes) => bytes,
            Err(e) => panic!("Command::to_bytes: {e}"),
        }
    }

    /// Parses a short command APDU.
    pub fn parse(bytes: &[u8]) -> Result<Command, ApduError> {
        let [cla, ins, p1, p2, body @ ..] = bytes else {
            return Err(ApduError::TooShort(bytes.len()));
        };
        let mut command = Command::case1(*cla, *ins, *p1, *p2);
        match body {
            [] => {}
            [le] => command.le = Some(decode_le(*le)),
            [0, _, ..] => return Err(ApduError::ExtendedLength),
            [lc, rest @ ..] => {
                let lc_len = usize::from(*lc);
                if rest.len() == lc_len {
                    command.data = rest.to_vec();
                } else if rest.len() == lc_len + 1 {
                    command.data = rest[..lc_len].to_vec();
                    command.le = Some(decode_le(rest[lc_len]));
                } else {
                    return Err(ApduError::LengthMismatch {
                        lc: *lc,
                        len: bytes.len(),
                    });
                }
            }
        }
        Ok(command)
    }
}

fn decode_le(byte: u8) -> u16 {
    if byte == 0 {
        256
    } else {
        u16::from(byte)
    }
}

/// A response APDU: data and the status word `SW1 SW2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Response {
    /// A response with data.
    pub fn new(data: Vec<u8>, sw: u16) -> Response {
        Response { data, sw }
    }

    /// A response with only a status word.
    pub fn status(sw: u16) -> Response {
        Response {
            data: Vec::new(),
            sw,
        }
    }

    /// Parses `data ‖ SW1 SW2` (at least two bytes).
    pub fn parse(bytes: &[u8]) -> Result<Response, ApduError> {
        match bytes {
            [data @ .., sw1, sw2] => Ok(Response {
                data: data.to_vec(),
                sw: u16::from_be_bytes([*sw1, *sw2]),
            }),
            _ => Err(ApduError::TooShort(bytes.len())),
        }
    }

    /// `data ‖ SW1 SW2`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_be_bytes());
        out
    }

    pub fn sw1(&self) -> u8 {
        (self.sw >> 8) as u8
    }

    pub fn sw2(&self) -> u8 {
        self.sw as u8
    }

    /// `SW == 90 00`.
    pub fn is_ok(&self) -> bool {
        self.sw == SW_OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One encoding case: the command, its bytes, and its ISO case.
    fn check(command: Command, hex: &str, case: u8) {
        let bytes = from_hex(hex);
        assert_eq!(command.to_bytes(), bytes, "encode {command:?}");
        assert_eq!(Command::parse(&bytes), Ok(command.clone()), "parse {hex}");
        assert_eq!(command.case(), case, "case of {command:?}");
    }

    fn from_hex(hex: &str) -> Vec<u8> {
        let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn cases_1_to_4_round_trip() {
        let aid = from_hex("D3 92 F0 00 26 01 00 00 00 01");
        check(Command::case1(0x00, 0x20, 0x00, 0x80), "00 20 00 80", 1);
        check(
            Command::case2(0x00, 0xB0, 0x00, 0x00, 7),
            "00 B0 00 00 07",
            2,
        );
        check(
            Command::case2(0x00, 0xB0, 0x01, 0x00, 256),
            "00 B0 01 00 00",
            2,
        );
        check(
            Command::case2(0x00, 0xB0, 0x00, 0x00, 255),
            "00 B0 00 00 FF",
            2,
        );
        check(
            Command::case3(0x00, 0xA4, 0x04, 0x0C, &aid),
            "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01",
            3,
        );
        check(
            Command::case3(0x00, 0xA4, 0x02, 0x0C, &[0x00, 0x0A]),
            "00 A4 02 0C 02 00 0A",
            3,
        );
        check(
            Command::case3(0x00, 0x20, 0x00, 0x80, b"1234"),
            "00 20 00 80 04 31 32 33 34",
            3,
        );
        check(
            Command::case4(0x80, 0x2A, 0x00, 0x80, &[1, 2, 3], 256),
            "80 2A 00 80 03 01 02 03 00",
            4,
        );
        check(
            Command::case4(0x80, 0x2A, 0x00, 0x80, &[9], 1),
            "80 2A 00 80 01 09 01",
            4,
        );
        check(
            Command::case3(0x00, 0xD6, 0x00, 0x00, &[0xAB; 255]),
            &format!("00 D6 00 00 FF {}", "AB".repeat(255)),
            3,
        );
    }

    #[test]
    fn malformed_commands_are_rejected() {
        let cases: &[(&str, ApduError)] = &[
            ("", ApduError::TooShort(0)),
            ("00", ApduError::TooShort(1)),
            ("00 A4 04", ApduError::TooShort(3)),
            (
                "00 A4 04 0C 02 00",
                ApduError::LengthMismatch { lc: 2, len: 6 },
            ),
            (
                "00 A4 04 0C 02 00 01 02 03",
                ApduError::LengthMismatch { lc: 2, len: 9 },
            ),
            ("00 B0 00 00 00 01 00", ApduError::ExtendedLength),
        ];
        for (hex, expected) in cases {
            assert_eq!(
                Command::parse(&from_hex(hex)),
                Err(expected.clone()),
                "{hex}"
            );
        }
    }

    #[test]
    fn commands_without_a_short_form_do_not_encode() {
        let long = Command::case3(0, 0xD6, 0, 0, &[0; 256]);
        assert_eq!(long.encode(), Err(ApduError::DataTooLong(256)));
        let zero_le = Command::case2(0, 0xB0, 0, 0, 0);
        assert_eq!(zero_le.encode(), Err(ApduError::LeOutOfRange(0)));
        let big_le = Command::case2(0, 0xB0, 0, 0, 257);
        assert_eq!(big_le.encode(), Err(ApduError::LeOutOfRange(257)));
    }

    #[test]
    fn responses_round_trip() {
        let cases: &[(&str, &[u8], u16)] = &[
            ("90 00", &[], SW_OK),
            ("63 C2", &[], 0x63C2),
            ("4A 50 4B 49 90 00", b"JPKI", SW_OK),
        ];
        for (hex, data, sw) in cases {
            let response = Response::parse(&from_hex(hex)).unwrap();
            assert_eq!(response, Response::new(data.to_vec(), *sw), "{hex}");
            assert_eq!(response.to_bytes(), from_hex(hex));
        }
        assert_eq!(Response::parse(&[0x90]), Err(ApduError::TooShort(1)));
        let r = Response::status(0x63C1);
        assert_eq!((r.sw1(), r.sw2(), r.is_ok()), (0x63, 0xC1, false));
    }

    #[test]
    fn tries_left_status_words() {
        assert_eq!(sw_tries_left(3), 0x63C3);
        assert_eq!(sw_tries_left(0), 0x63C0);
        assert_eq!(tries_left_from_sw(0x63C2), Some(2));
        assert_eq!(tries_left_from_sw(0x63C0), Some(0));
        assert_eq!(tries_left_from_sw(0x6300), None);
        assert_eq!(tries_left_from_sw(SW_OK), None);
    }

    fn any_command() -> impl Strategy<Value = Command> {
        (
            any::<[u8; 4]>(),
            proptest::collection::vec(any::<u8>(), 0..=255),
            proptest::option::of(1u16..=256),
        )
            .prop_map(|([cla, ins, p1, p2], data, le)| Command {
                cla,
                ins,
                p1,
                p2,
                data,
                le,
            })
    }

    proptest! {
        #[test]
        fn every_short_command_round_trips(command in any_command()) {
            let bytes = command.to_bytes();
            prop_assert_eq!(Command::parse(&bytes), Ok(command));
        }

        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(command) = Command::parse(&bytes) {
                prop_assert_eq!(command.to_bytes(), bytes);
            }
        }
    }
}
