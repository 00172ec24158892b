//! Whatever bytes arrive, the virtual card answers with a status word and never panics.

use crate::support::{new_card, new_surface_card, TestCard};
use proptest::prelude::*;
use std::sync::{Mutex, OnceLock};

/// One card for all cases (creating one per case would dominate the run time).
fn card() -> &'static Mutex<TestCard> {
    static CARD: OnceLock<Mutex<TestCard>> = OnceLock::new();
    CARD.get_or_init(|| Mutex::new(new_card()))
}

/// A card with a card face, for the 券面事項確認AP's share of the inputs.
fn surface_card() -> &'static Mutex<TestCard> {
    static CARD: OnceLock<Mutex<TestCard>> = OnceLock::new();
    CARD.get_or_init(|| Mutex::new(new_surface_card()))
}

/// SELECT the 券面事項確認AP, SELECT EF 0012, VERIFY 照合番号B, SELECT EF 0002.
const SURFACE_PRELUDES: &[&[u8]] = &[
    &[
        0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02,
    ],
    &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x12],
    b"\x00\x20\x00\x80\x0E55021720352285",
    &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x02],
];

const PRELUDES: &[&[u8]] = &[
    &[
        0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01,
    ],
    &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18],
    &[0x00, 0x20, 0x00, 0x80, 0x04, 0x31, 0x32, 0x33, 0x34],
];

/// APDU-shaped input: a known CLA/INS most of the time, random P1/P2 and body.
fn apdu_like() -> impl Strategy<Value = Vec<u8>> {
    let cla = prop_oneof![Just(0x00u8), Just(0x80u8), any::<u8>()];
    let ins = prop_oneof![
        Just(0xA4u8),
        Just(0xB0),
        Just(0x20),
        Just(0x24),
        Just(0x2A),
        Just(0x84),
        any::<u8>()
    ];
    let fid = prop_oneof![
        Just(vec![0x00u8, 0x06]),
        Just(vec![0x00, 0x0A]),
        Just(vec![0x00, 0x17]),
        Just(vec![0x00, 0x18]),
        Just(vec![0x00, 0x02]),
        Just(vec![0x00, 0x12]),
        proptest::collection::vec(any::<u8>(), 0..300),
    ];
    (cla, ins, any::<u8>(), any::<u8>(), fid).prop_map(|(cla, ins, p1, p2, rest)| {
        let mut apdu = vec![cla, ins, p1, p2];
        apdu.extend(rest);
        apdu
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_get_a_status_word(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut t = card().lock().unwrap_or_else(|e| e.into_inner());
        let response = t.card.process(&bytes);
        prop_assert!(response.len() >= 2);
    }

    #[test]
    fn sessions_of_apdu_like_input_get_status_words(
        prelude in 0..=PRELUDES.len(),
        apdus in proptest::collection::vec(apdu_like(), 1..6),
    ) {
        let mut t = card().lock().unwrap_or_else(|e| e.into_inner());
        t.card.reset();
        for step in &PRELUDES[..prelude] {
            prop_assert!(t.card.process(step).len() >= 2);
        }
        for apdu in &apdus {
            let response = t.card.process(apdu);
            prop_assert!(response.len() >= 2, "{:02X?} -> {:02X?}", apdu, response);
            // Only signatures carry more than 256 bytes of data.
            prop_assert!(response.len() <= 258);
        }
    }

    #[test]
    fn surface_sessions_get_status_words(
        prelude in 0..=SURFACE_PRELUDES.len(),
        apdus in proptest::collection::vec(apdu_like(), 1..6),
    ) {
        let mut t = surface_card().lock().unwrap_or_else(|e| e.into_inner());
        t.card.reset();
        for step in &SURFACE_PRELUDES[..prelude] {
            prop_assert!(t.card.process(step).len() >= 2);
        }
        for apdu in &apdus {
            let response = t.card.process(apdu);
            prop_assert!(response.len() >= 2, "{:02X?} -> {:02X?}", apdu, response);
            prop_assert!(response.len() <= 258);
        }
    }
}

/// A card that answers with whatever proptest made up, then is pulled.
struct Hostile {
    answers: std::vec::IntoIter<Vec<u8>>,
}

impl kakunin_card::Card for Hostile {
    fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, kakunin_card::CardError> {
        self.answers.next().ok_or(kakunin_card::CardError::Removed)
    }
}

/// R-APDU-shaped answers: often a plausible status word, sometimes DER-looking data.
fn answer() -> impl Strategy<Value = Vec<u8>> {
    let sw = prop_oneof![
        Just(vec![0x90u8, 0x00]),
        Just(vec![0x61, 0x00]),
        Just(vec![0x6C, 0x10]),
        Just(vec![0x63, 0xC1]),
        Just(vec![0x69, 0x84]),
        any::<[u8; 2]>().prop_map(|sw| sw.to_vec()),
    ];
    let data = prop_oneof![
        Just(Vec::new()),
        Just(vec![0x30, 0x83, 0xFF, 0xFF, 0xFF, 0x00, 0x00]),
        Just(vec![0x30, 0x82, 0x7F, 0xFF, 0x00, 0x00, 0x00]),
        proptest::collection::vec(any::<u8>(), 0..300),
    ];
    prop_oneof![
        (data, sw).prop_map(|(mut d, sw)| {
            d.extend(sw);
            d
        }),
        proptest::collection::vec(any::<u8>(), 0..3),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_client_survives_any_card(answers in proptest::collection::vec(answer(), 0..40)) {
        let mut card = Hostile { answers: answers.into_iter() };
        if let Ok(mut jpki) = kakunin_card::Jpki::open(&mut card) {
            let _ = jpki.token_info();
            let _ = jpki.read_auth_certificate();
            let _ = jpki.auth_pin_tries_left();
            let _ = jpki.verify_auth_pin("1234");
            let _ = jpki.sign_sha256(&[0; 32]);
            let _ = jpki.read_auth_ca_certificate();
        }
    }

    #[test]
    fn the_surface_client_survives_any_card(answers in proptest::collection::vec(answer(), 0..40)) {
        let mut card = Hostile { answers: answers.into_iter() };
        if let Ok(mut surface) = kakunin_card::Surface::open(&mut card) {
            let _ = surface.tries_left();
            let _ = surface.verify_b("55021720352285");
            let _ = surface.read_face_photo();
        }
    }
}
