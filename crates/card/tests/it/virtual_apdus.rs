//! The virtual card at the APDU level: tables of C-APDU → expected status word (and data),
//! run in order on one card, so each table is a little session.

use crate::support::{fixture, hex, new_card, PIN};
use kakunin_card::VirtualCard;

pub const SELECT_JPKI: &str = "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01";
const SELECT_TEXT: &str = "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 08";
pub const SELECT_SURFACE: &str = "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 02";
const VERIFY_PIN: &str = "00 20 00 80 04 31 32 33 34";

/// Runs `steps` (C-APDU hex, expected SW) on `card`; returns each response's data.
pub fn check(card: &mut VirtualCard, steps: &[(&str, u16)]) -> Vec<Vec<u8>> {
    steps
        .iter()
        .enumerate()
        .map(|(i, (command, expected))| {
            let response = card.process(&hex(command));
            assert!(response.len() >= 2, "step {i} {command}: {response:02X?}");
            let (data, sw) = response.split_at(response.len() - 2);
            let sw = u16::from_be_bytes([sw[0], sw[1]]);
            assert_eq!(sw, *expected, "step {i}: {command} answered {sw:04X}");
            data.to_vec()
        })
        .collect()
}

#[test]
fn malformed_commands_get_iso_status_words() {
    let mut t = new_card();
    check(
        &mut t.card,
        &[
            ("", 0x6700),
            ("00", 0x6700),
            ("00 A4", 0x6700),
            ("00 A4 04", 0x6700),
            ("00 A4 04 0C 0A D3 92", 0x6700), // Lc says 10, 2 follow
            ("00 B0 00 00 00 01 00", 0x6700), // extended length
            ("01 A4 04 0C 02 00 01", 0x6E00), // CLA
            ("FF FF 00 00", 0x6E00),          // CLA before INS
            ("80 A4 04 0C 02 00 01", 0x6E00), // SELECT is CLA 00
            ("00 2A 00 80 01 00 00", 0x6E00), // the signature is CLA 80
            ("00 FF 00 00", 0x6D00),          // unknown INS
            ("00 84 00 00 08", 0x6D00),       // GET CHALLENGE: not emulated
            ("00 B1 00 00 00", 0x6D00),       // odd READ BINARY
            ("00 A4 04 0C", 0x6700),          // SELECT without an AID
        ],
    );
}

#[test]
fn selection_of_applications_and_files() {
    let mut t = new_card();
    check(
        &mut t.card,
        &[
            ("00 A4 02 0C 02 00 0A", 0x6A82), // no DF selected yet
            ("00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 02", 0x6A82),
            ("00 A4 04 0C 05 D3 92 F0 00 26", 0x6A82), // no partial AIDs
            (SELECT_JPKI, 0x9000),
            ("00 A4 04 00 0A D3 92 F0 00 26 01 00 00 00 01", 0x6A86), // P2 00 (FCI) not emulated
            ("00 A4 01 0C 02 00 0A", 0x6A86),
            ("00 A4 02 0C 01 00", 0x6700),
            ("00 A4 02 0C 03 00 0A 00", 0x6700),
            ("00 A4 02 0C 02 00 06", 0x9000),
            ("00 A4 02 0C 02 00 08", 0x9000),
            ("00 A4 02 0C 02 00 0A", 0x9000),
            ("00 A4 02 0C 02 00 0B", 0x9000),
            ("00 A4 02 0C 02 00 17", 0x9000),
            ("00 A4 02 0C 02 00 18", 0x9000),
            // The signature certificate, its CA, key and password: absent on this card.
            ("00 A4 02 0C 02 00 01", 0x6A82),
            ("00 A4 02 0C 02 00 02", 0x6A82),
            ("00 A4 02 0C 02 00 1A", 0x6A82),
            ("00 A4 02 0C 02 00 1B", 0x6A82),
            ("00 A4 02 0C 02 3F 00", 0x6A82),
            // The text AP answers, but holds nothing.
            (SELECT_TEXT, 0x9000),
            ("00 A4 02 0C 02 00 01", 0x6A82),
            ("00 A4 02 0C 02 00 11", 0x6A82),
            // A card issued without a card face has no 券面事項確認AP (the text AP stays
            // selected).
            (SELECT_SURFACE, 0x6A82),
            ("00 A4 02 0C 02 00 02", 0x6A82),
            ("00 A4 02 0C 02 00 12", 0x6A82),
            ("00 B0 00 00 00", 0x6986),
        ],
    );
}

#[test]
fn read_binary_offsets_and_lengths() {
    let mut t = new_card();
    let data = check(
        &mut t.card,
        &[
            (SELECT_JPKI, 0x9000),
            ("00 B0 00 00 20", 0x6986), // no EF
            ("00 A4 02 0C 02 00 06", 0x9000),
            ("00 B0 00 00 20", 0x9000),
            ("00 B0 00 00 00", 0x9000), // Le 00 = 256: the 32 bytes there are
            ("00 B0 00 1E 0A", 0x9000), // 2 bytes left at offset 30
            ("00 B0 00 20 01", 0x6B00), // offset = length
            ("00 B0 7F FF 01", 0x6B00),
            ("00 B0 86 00 01", 0x6A86),    // short-EF form not emulated
            ("00 B0 00 00", 0x6700),       // no Le
            ("00 B0 00 00 01 00", 0x6700), // data instead of Le
            ("00 B0 00 00 01 00 01", 0x6700),
            ("00 A4 02 0C 02 00 08", 0x9000),
            ("00 B0 00 00 00", 0x9000),
            ("00 A4 02 0C 02 00 17", 0x9000),
            ("00 B0 00 00 00", 0x6981), // a key is not a transparent EF
            ("00 A4 02 0C 02 00 18", 0x9000),
            ("00 B0 00 00 00", 0x6981),
        ],
    );
    let token = b"JPKIAPICCTOKEN2                 ";
    assert_eq!(data[3], token);
    assert_eq!(data[4], token);
    assert_eq!(data[5], b"  ");
    assert_eq!(data[13], [0, 0, 0]);
}

#[test]
fn certificates_are_served_in_chunks() {
    let mut t = new_card();
    let cert = &fixture().auth_cert;
    assert!(
        cert.len() > 7 + 2 * 256,
        "fixture cert too short: {}",
        cert.len()
    );
    check(
        &mut t.card,
        &[(SELECT_JPKI, 0x9000), ("00 A4 02 0C 02 00 0A", 0x9000)],
    );
    let mut read = Vec::new();
    while read.len() < cert.len() {
        let [p1, p2] = (read.len() as u16).to_be_bytes();
        let r = t.card.process(&[0x00, 0xB0, p1, p2, 0x00]);
        let (data, sw) = r.split_at(r.len() - 2);
        assert_eq!(sw, [0x90, 0x00]);
        assert!(!data.is_empty() && data.len() <= 256);
        read.extend_from_slice(data);
    }
    assert_eq!(&read, cert);
    assert_eq!(t.card.auth_cert_der(), cert.as_slice());
}

#[test]
fn verify_counts_down_and_locks() {
    let mut t = new_card();
    check(
        &mut t.card,
        &[
            (SELECT_JPKI, 0x9000),
            (VERIFY_PIN, 0x6986), // no EF
            ("00 A4 02 0C 02 00 0A", 0x9000),
            (VERIFY_PIN, 0x6981), // not a PIN EF
            ("00 A4 02 0C 02 00 18", 0x9000),
            ("00 20 00 80", 0x63C3),
            ("00 20 00 80", 0x63C3), // asking uses nothing
            ("00 20 01 80 04 31 32 33 34", 0x6A86),
            ("00 20 00 81 04 31 32 33 34", 0x6A86),
            ("00 20 00 80 00", 0x6700),          // Le instead of data
            ("00 20 00 80 03 31 32 33", 0x6700), // wrong length: no try used
            ("00 20 00 80", 0x63C3),
            ("00 20 00 80 04 39 39 39 39", 0x63C2),
            ("00 20 00 80 04 31 32 33 61", 0x63C1), // not digits: still an attempt
            ("00 20 00 80", 0x63C1),
            (VERIFY_PIN, 0x9000),
            ("00 20 00 80", 0x63C3), // right PIN: back to 3
            ("00 20 00 80 04 30 30 30 30", 0x63C2),
            ("00 20 00 80 04 30 30 30 30", 0x63C1),
            ("00 20 00 80 04 30 30 30 30", 0x63C0), // the attempt that exhausts it
            ("00 20 00 80", 0x63C0),
            (VERIFY_PIN, 0x6984), // locked, even with the right PIN
            ("00 20 00 80 04 30 30 30 30", 0x6984),
            ("00 20 00 80 03 31 32 33", 0x6984),
        ],
    );
    assert_eq!(t.card.pin_tries_left(), 0);
    t.reopen();
    check(
        &mut t.card,
        &[
            (SELECT_JPKI, 0x9000),
            ("00 A4 02 0C 02 00 18", 0x9000),
            ("00 20 00 80", 0x63C0),
            (VERIFY_PIN, 0x6984),
        ],
    );
}

#[test]
fn signing_needs_the_key_ef_and_a_verified_pin() {
    let mut t = new_card();
    let di =
        "30 31 30 0D 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20".to_owned() + &" AB".repeat(32);
    let sign = |le: &str| format!("80 2A 00 80 33 {di} {le}");
    let data = check(
        &mut t.card,
        &[
            (SELECT_JPKI, 0x9000),
            (&sign("00"), 0x6986), // no EF
            ("00 A4 02 0C 02 00 17", 0x9000),
            (&sign("00"), 0x6982), // no VERIFY
            ("00 A4 02 0C 02 00 18", 0x9000),
            (VERIFY_PIN, 0x9000),
            (&sign("00"), 0x6981), // the PIN EF is not a key
            ("00 A4 02 0C 02 00 17", 0x9000),
            (&format!("80 2A 01 80 33 {di} 00"), 0x6A86),
            (&format!("80 2A 00 97 33 {di} 00"), 0x6A86), // short-EF key reference
            (&sign("01"), 0x6C00),                        // Le too small: 256 (00) needed
            ("80 2A 00 80 00", 0x6700),                   // case 2: no data
            (&format!("80 2A 00 80 F6 {} 00", "00 ".repeat(246)), 0x6700),
            (&sign("00"), 0x9000),
            (&sign(""), 0x9000), // case 3 answered too
            (&format!("80 2A 00 80 F5 {} 00", "00 ".repeat(245)), 0x9000),
            ("80 2A 00 80 01 00 00", 0x9000),
        ],
    );
    assert_eq!(data[13].len(), 256);
    assert_eq!(data[14].len(), 256);
    // PKCS#1 v1.5 signatures are deterministic: the same input signs the same.
    assert_eq!(data[13], data[14]);

    // A reset (power off) forgets the VERIFY.
    t.card.reset();
    check(
        &mut t.card,
        &[
            (SELECT_JPKI, 0x9000),
            ("00 A4 02 0C 02 00 17", 0x9000),
            (&sign("00"), 0x6982),
        ],
    );
}

#[test]
fn security_state_follows_the_application() {
    let mut t = new_card();
    let sign = "80 2A 00 80 01 AA 00";
    check(
        &mut t.card,
        &[
            (SELECT_JPKI, 0x9000),
            ("00 A4 02 0C 02 00 18", 0x9000),
            (VERIFY_PIN, 0x9000),
            (SELECT_JPKI, 0x9000), // reselecting the same AP keeps the VERIFY
            ("00 A4 02 0C 02 00 17", 0x9000),
            (sign, 0x9000),
            (SELECT_TEXT, 0x9000), // another AP drops it
            (SELECT_JPKI, 0x9000),
            ("00 A4 02 0C 02 00 17", 0x9000),
            (sign, 0x6982),
            ("00 A4 02 0C 02 00 18", 0x9000),
            (VERIFY_PIN, 0x9000),
            ("00 20 00 80 04 30 30 30 30", 0x63C2), // a wrong attempt drops it too
            ("00 A4 02 0C 02 00 17", 0x9000),
            (sign, 0x6982),
        ],
    );
}

#[test]
fn change_reference_data_after_verify() {
    let mut t = new_card();
    check(
        &mut t.card,
        &[
            (SELECT_JPKI, 0x9000),
            ("00 A4 02 0C 02 00 18", 0x9000),
            ("00 24 01 80 04 35 36 37 38", 0x6982), // not verified
            (VERIFY_PIN, 0x9000),
            ("00 24 00 80 04 35 36 37 38", 0x6A86),
            ("00 24 01 80 04 35 36 37 41", 0x6A80),
            ("00 24 01 80 03 35 36 37", 0x6A80),
            ("00 24 01 80", 0x6700),
            ("00 24 01 80 04 35 36 37 38", 0x9000),
        ],
    );
    t.reopen();
    check(
        &mut t.card,
        &[
            (SELECT_JPKI, 0x9000),
            ("00 A4 02 0C 02 00 18", 0x9000),
            (VERIFY_PIN, 0x63C2),
            ("00 20 00 80 04 35 36 37 38", 0x9000),
        ],
    );
    assert_eq!(PIN, "1234");
}

#[test]
fn when_the_counter_cannot_be_written_the_card_is_never_more_permissive() {
    let mut t = new_card();
    // The card file's directory disappears: every write of the counter fails.
    std::fs::remove_dir_all(t.dir.path()).unwrap();
    check(
        &mut t.card,
        &[
            (SELECT_JPKI, 0x9000),
            ("00 A4 02 0C 02 00 18", 0x9000),
            ("00 20 00 80 04 30 30 30 30", 0x6581), // memory failure...
            ("00 20 00 80", 0x63C2),                // ...but the try is gone all the same
            (VERIFY_PIN, 0x6581), // restoring the counter cannot be written: not verified
            ("00 20 00 80", 0x63C2),
            ("00 A4 02 0C 02 00 17", 0x9000),
            ("80 2A 00 80 01 AA 00", 0x6982),
        ],
    );
}
