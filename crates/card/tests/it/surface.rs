//! The 券面事項確認AP: 照合番号B and the face photo, at the APDU level and through
//! [`Surface`].

use crate::photo::portrait_jp2;
use crate::support::{new_card, new_surface_card, portrait, psnr, surface_spec, CODE_B};
use crate::virtual_apdus::{check, SELECT_JPKI, SELECT_SURFACE};
use kakunin_card::{
    collation_number_b, decode_jp2, Card, CardError, Jpki, Surface, SurfaceError, CODE_B_MAX_TRIES,
};

const SELECT_CARD_FACE: &str = "00 A4 02 0C 02 00 02";
const SELECT_CODE_B: &str = "00 A4 02 0C 02 00 12";
/// VERIFY 照合番号B with the right 14 digits.
const VERIFY_B: &str = "00 20 00 80 0E 35 35 30 32 31 37 32 30 33 35 32 32 38 35";
const WRONG_B: &str = "00 20 00 80 0E 30 30 30 30 30 30 30 30 30 30 30 30 30 30";

#[test]
fn the_code_b_is_what_the_card_face_says() {
    let spec = surface_spec();
    let code = collation_number_b(spec.birth_date, spec.expiry.year(), &spec.security_code);
    assert_eq!(code.as_deref(), Ok(CODE_B));
    assert_eq!(
        CODE_B
            .bytes()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(" "),
        VERIFY_B["00 20 00 80 0E ".len()..]
    );
}

#[test]
fn the_face_is_read_only_after_code_b() {
    let mut t = new_surface_card();
    let data = check(
        &mut t.card,
        &[
            (SELECT_SURFACE, 0x9000),
            (SELECT_CARD_FACE, 0x9000),
            ("00 B0 00 00 20", 0x6982), // before VERIFY
            (SELECT_CODE_B, 0x9000),
            ("00 B0 00 00 20", 0x6981), // a key reference is not a transparent EF
            ("00 20 00 80", 0x63CA),    // 10 tries, nothing used
            (WRONG_B, 0x63C9),
            ("00 20 00 80 04 31 32 33 34", 0x6700), // wrong length: no try used
            ("00 20 00 80", 0x63C9),
            ("00 24 01 80 04 31 32 33 34", 0x6981), // 照合番号B cannot be changed
            (VERIFY_B, 0x9000),
            ("00 20 00 80", 0x63CA), // back to 10
            (SELECT_CARD_FACE, 0x9000),
            ("00 B0 00 00 20", 0x9000),
            ("80 2A 00 80 01 AA 00", 0x6981), // no signing key here
            // The EFs that are not emulated.
            ("00 A4 02 0C 02 00 01", 0x6A82),
            ("00 A4 02 0C 02 00 03", 0x6A82),
            ("00 A4 02 0C 02 00 04", 0x6A82),
            ("00 A4 02 0C 02 00 05", 0x6A82),
            ("00 A4 02 0C 02 00 11", 0x6A82),
            ("00 A4 02 0C 02 00 13", 0x6A82),
            ("00 A4 02 0C 02 00 0A", 0x6A82), // a JPKI EF is not in this AP
            // Another application drops the VERIFY.
            (SELECT_JPKI, 0x9000),
            (SELECT_SURFACE, 0x9000),
            (SELECT_CARD_FACE, 0x9000),
            ("00 B0 00 00 20", 0x6982),
        ],
    );
    // The record: FF 20 82 LL LL, then the offset table DF 21 12.
    assert_eq!(&data[13][..3], [0xFF, 0x20, 0x82]);
    assert_eq!(&data[13][5..8], [0xDF, 0x21, 0x12]);
    assert_eq!(data[13].len(), 0x20);
    assert_eq!(t.card.code_b_tries_left(), Some(CODE_B_MAX_TRIES));
}

#[test]
fn code_b_blocks_after_ten_wrong_tries_for_good() {
    let mut t = new_surface_card();
    let mut steps = vec![(SELECT_SURFACE, 0x9000), (SELECT_CODE_B, 0x9000)];
    let expected: Vec<u16> = (0..10u16).rev().map(|left| 0x63C0 | left).collect();
    steps.extend(expected.iter().map(|sw| (WRONG_B, *sw)));
    steps.extend([
        ("00 20 00 80", 0x63C0),
        (VERIFY_B, 0x6984), // blocked, even with the right code
        (WRONG_B, 0x6984),
        (SELECT_CARD_FACE, 0x9000),
        ("00 B0 00 00 20", 0x6982),
    ]);
    check(&mut t.card, &steps);
    assert_eq!(t.card.code_b_tries_left(), Some(0));
    // The counter is in the file: a power cycle gives nothing back.
    t.reopen();
    check(
        &mut t.card,
        &[
            (SELECT_SURFACE, 0x9000),
            (SELECT_CODE_B, 0x9000),
            ("00 20 00 80", 0x63C0),
            (VERIFY_B, 0x6984),
        ],
    );
    // The auth PIN is a different counter.
    assert_eq!(t.card.pin_tries_left(), 3);
}

#[test]
fn a_card_without_a_card_face_has_no_surface_ap() {
    let mut t = new_card();
    assert!(!t.card.has_surface());
    assert_eq!(t.card.code_b_tries_left(), None);
    check(&mut t.card, &[(SELECT_SURFACE, 0x6A82)]);
    assert_eq!(
        Surface::open(&mut t.card).unwrap_err(),
        SurfaceError::NoSurfaceAp
    );
}

#[test]
fn the_client_reads_the_photo_after_code_b() {
    let mut t = new_surface_card();
    let mut surface = Surface::open(&mut t.card).unwrap();
    assert_eq!(surface.tries_left(), Ok(10));
    assert_eq!(
        surface.read_face_photo(),
        Err(SurfaceError::SecurityNotSatisfied)
    );
    // Shapes that are not 14 digits never reach the card.
    for bad in [
        "",
        "1234",
        "5502172035228",
        "550217203522850",
        "5502172035228X",
    ] {
        assert_eq!(
            surface.verify_b(bad),
            Err(SurfaceError::CodeFormat),
            "{bad:?}"
        );
    }
    assert_eq!(surface.tries_left(), Ok(10));
    assert_eq!(
        surface.verify_b("00000000000000"),
        Err(SurfaceError::WrongCode { tries_left: 9 })
    );
    assert_eq!(surface.tries_left(), Ok(9));
    surface.verify_b(CODE_B).unwrap();
    assert_eq!(surface.tries_left(), Ok(10));
    let jp2 = surface.read_face_photo().unwrap();
    assert_eq!(jp2, portrait_jp2());
    let face = decode_jp2(&jp2).unwrap();
    assert!(psnr(&portrait(300, 400), &face) > 40.0);

    // A reset (power off) forgets the VERIFY.
    t.card.reset();
    let mut surface = Surface::open(&mut t.card).unwrap();
    assert_eq!(
        surface.read_face_photo(),
        Err(SurfaceError::SecurityNotSatisfied)
    );
}

#[test]
fn the_client_sees_the_block() {
    let mut t = new_surface_card();
    let mut surface = Surface::open(&mut t.card).unwrap();
    for left in (1..10).rev() {
        assert_eq!(
            surface.verify_b("99999999999999"),
            Err(SurfaceError::WrongCode { tries_left: left })
        );
    }
    // The tenth (63 C0) and every later one (69 84).
    assert_eq!(
        surface.verify_b("99999999999999"),
        Err(SurfaceError::Blocked)
    );
    assert_eq!(surface.verify_b(CODE_B), Err(SurfaceError::Blocked));
    assert_eq!(surface.tries_left(), Ok(0));
    assert!(SurfaceError::Blocked.message_ja().contains("ロック"));
    assert!(SurfaceError::WrongCode { tries_left: 3 }
        .message_ja()
        .contains("あと3回"));
}

/// A card that records every C-APDU it passes on.
struct Recording<'a> {
    card: &'a mut dyn Card,
    sent: Vec<Vec<u8>>,
}

impl Card for Recording<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        self.sent.push(apdu.to_vec());
        self.card.transmit(apdu)
    }
}

#[test]
fn the_client_reads_the_offset_table_and_the_photo_and_nothing_else() {
    let mut t = new_surface_card();
    let mut recording = Recording {
        card: &mut t.card,
        sent: Vec::new(),
    };
    let mut surface = Surface::open(&mut recording).unwrap();
    surface.verify_b(CODE_B).unwrap();
    let jp2 = surface.read_face_photo().unwrap();
    // Every byte range READ BINARY asked for: (offset, Le).
    let reads: Vec<(usize, usize)> = recording
        .sent
        .iter()
        .filter(|apdu| apdu[1] == 0xB0)
        .map(|apdu| {
            let le = if apdu[4] == 0 {
                256
            } else {
                usize::from(apdu[4])
            };
            (usize::from(u16::from_be_bytes([apdu[2], apdu[3]])), le)
        })
        .collect();
    // The header and offset table (26 bytes, asked as 32), the DF27 header, then DF27.
    assert_eq!(reads[0], (0, 32));
    let photo_header = reads[1].0;
    assert_eq!(reads[1].1, 5);
    let photo_start = photo_header + 5; // DF 27 82 LL LL
    assert!(
        photo_header > 26 + 8 + 1 + 3 + 3,
        "after DF22, DF23, DF24, DF25, DF26"
    );
    let mut next = photo_start;
    for &(offset, le) in &reads[2..] {
        assert_eq!(offset, next, "contiguous reads inside DF27");
        next += le;
    }
    assert_eq!(next, photo_start + jp2.len(), "and not a byte beyond it");
}

#[test]
fn the_jpki_ap_is_unaffected_by_the_card_face() {
    let mut t = new_surface_card();
    let mut jpki = Jpki::open(&mut t.card).unwrap();
    jpki.verify_auth_pin(crate::support::PIN).unwrap();
    let signature = jpki.sign_sha256(&crate::support::sha256(b"nonce")).unwrap();
    assert!(crate::support::ring_verify(b"nonce", &signature));
}
