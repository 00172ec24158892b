//! The JPKI client against the virtual card: the whole terminal flow, the PIN counter, the
//! signature checked by an independent verifier (ring).

use crate::support::{fixture, new_card, ring_verify, sha256, PIN};
use kakunin_card::{open_card, sha256_digest_info, Card, CardError, Jpki, JpkiError, VirtualCard};

#[test]
fn the_terminal_flow() {
    let mut t = new_card();
    let f = fixture();
    let mut jpki = Jpki::open(&mut t.card).unwrap();
    assert_eq!(jpki.token_info().unwrap(), "JPKIAPICCTOKEN2");
    let cert = jpki.read_auth_certificate().unwrap();
    assert_eq!(cert, f.auth_cert);
    assert!(
        cert.len() > 7 + 2 * 256,
        "exercises 3 chunks: {}",
        cert.len()
    );
    assert_eq!(jpki.read_auth_ca_certificate().unwrap(), f.ca_cert);
    // The certificate read from the card carries the key that signs.
    assert!(cert.windows(f.spki.len()).any(|w| w == f.spki));

    assert_eq!(jpki.auth_pin_tries_left().unwrap(), 3);
    assert_eq!(jpki.auth_pin_tries_left().unwrap(), 3, "asking uses no try");
    jpki.verify_auth_pin(PIN).unwrap();

    let challenge = b"nonce from the central service";
    let signature = jpki.sign_sha256(&sha256(challenge)).unwrap();
    assert_eq!(signature.len(), 256);
    assert!(
        ring_verify(challenge, &signature),
        "ring rejects the card's signature"
    );
    assert!(!ring_verify(b"another message", &signature));

    // sign_digest_info with the DigestInfo built by hand is the same operation.
    let again = jpki
        .sign_digest_info(&sha256_digest_info(&sha256(challenge)))
        .unwrap();
    assert_eq!(again, signature);
}

#[test]
fn wrong_pins_count_down_to_a_lock_that_survives_everything() {
    let mut t = new_card();
    {
        let mut jpki = Jpki::open(&mut t.card).unwrap();
        let steps: &[(&str, Result<(), JpkiError>, u8)] = &[
            ("0000", Err(JpkiError::WrongPin { tries_left: 2 }), 2),
            ("9999", Err(JpkiError::WrongPin { tries_left: 1 }), 1),
            ("4321", Err(JpkiError::PinLocked), 0),
            (PIN, Err(JpkiError::PinLocked), 0),
            ("0000", Err(JpkiError::PinLocked), 0),
        ];
        for (pin, expected, left) in steps {
            assert_eq!(&jpki.verify_auth_pin(pin), expected, "PIN {pin}");
            assert_eq!(jpki.auth_pin_tries_left().unwrap(), *left, "after {pin}");
        }
        assert_eq!(
            jpki.sign_sha256(&[0; 32]),
            Err(JpkiError::SecurityNotSatisfied)
        );
    }
    assert_eq!(t.card.pin_tries_left(), 0);
    // Reset, reopen: still locked; no APDU unlocks it.
    t.card.reset();
    t.reopen();
    assert_eq!(t.card.pin_tries_left(), 0);
    let mut jpki = Jpki::open(&mut t.card).unwrap();
    assert_eq!(jpki.auth_pin_tries_left().unwrap(), 0);
    assert_eq!(jpki.verify_auth_pin(PIN), Err(JpkiError::PinLocked));
}

#[test]
fn the_counter_is_persisted_and_the_right_pin_restores_it() {
    let mut t = new_card();
    assert_eq!(
        Jpki::open(&mut t.card).unwrap().verify_auth_pin("1111"),
        Err(JpkiError::WrongPin { tries_left: 2 })
    );
    // As if the process had been killed right after the answer.
    t.reopen();
    assert_eq!(t.card.pin_tries_left(), 2);
    assert_eq!(
        Jpki::open(&mut t.card)
            .unwrap()
            .auth_pin_tries_left()
            .unwrap(),
        2
    );
    Jpki::open(&mut t.card)
        .unwrap()
        .verify_auth_pin(PIN)
        .unwrap();
    assert_eq!(t.card.pin_tries_left(), 3);
    t.reopen();
    assert_eq!(t.card.pin_tries_left(), 3);
}

#[test]
fn malformed_pins_never_reach_the_card() {
    let mut t = new_card();
    let mut jpki = Jpki::open(&mut t.card).unwrap();
    for pin in ["12a4", "123", "12345", "", "abcd", "１２３４"] {
        assert_eq!(
            jpki.verify_auth_pin(pin),
            Err(JpkiError::PinFormat),
            "{pin:?}"
        );
    }
    assert_eq!(jpki.auth_pin_tries_left().unwrap(), 3);
    assert_eq!(t.card.pin_tries_left(), 3);
}

#[test]
fn signing_needs_a_verify_in_this_session() {
    let mut t = new_card();
    let hash = sha256(b"challenge");
    let mut jpki = Jpki::open(&mut t.card).unwrap();
    assert_eq!(
        jpki.sign_sha256(&hash),
        Err(JpkiError::SecurityNotSatisfied)
    );
    jpki.verify_auth_pin(PIN).unwrap();
    assert!(jpki.sign_sha256(&hash).is_ok());

    // Power off between VERIFY and signing.
    t.card.reset();
    let mut jpki = Jpki::open(&mut t.card).unwrap();
    assert_eq!(
        jpki.sign_sha256(&hash),
        Err(JpkiError::SecurityNotSatisfied)
    );
    assert_eq!(
        JpkiError::SecurityNotSatisfied.message_ja(),
        "暗証番号の確認が済んでいません。もう一度暗証番号を入力してください。"
    );
}

#[test]
fn a_card_that_is_not_jpki() {
    /// Answers 6A 82 to everything, like a card without the JPKI AP.
    struct Foreign;
    impl Card for Foreign {
        fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, CardError> {
            Ok(vec![0x6A, 0x82])
        }
    }
    let err = Jpki::open(&mut Foreign).unwrap_err();
    assert_eq!(err, JpkiError::NotJpki);
    assert_eq!(
        err.message_ja(),
        "マイナンバーカードを読み取れませんでした。カードの向きを確認して置き直してください。"
    );
}

#[test]
fn open_card_specs() {
    let t = new_card();
    let spec = format!("virtual:{}", t.path.display());
    let mut boxed: Box<dyn Card> = open_card(&spec).unwrap();
    let mut jpki = Jpki::open(&mut boxed).unwrap();
    assert_eq!(jpki.read_auth_certificate().unwrap(), fixture().auth_cert);
    jpki.verify_auth_pin(PIN).unwrap();
    let signature = jpki.sign_sha256(&sha256(b"m")).unwrap();
    assert!(ring_verify(b"m", &signature));

    type Check = fn(&CardError) -> bool;
    let cases: &[(&str, Check)] = &[
        ("", |e| matches!(e, CardError::InvalidSpec(_))),
        ("virtual:", |e| matches!(e, CardError::InvalidSpec(_))),
        ("pcsc;reader", |e| matches!(e, CardError::InvalidSpec(_))),
        ("pcsc:", |e| matches!(e, CardError::InvalidSpec(_))),
        ("smartcard", |e| matches!(e, CardError::InvalidSpec(_))),
        (
            "virtual:/nonexistent/card.json",
            |e| matches!(e, CardError::VirtualCard(m) if m.contains("/nonexistent/card.json")),
        ),
    ];
    for (spec, expected) in cases {
        let err = open_card(spec)
            .err()
            .unwrap_or_else(|| panic!("{spec:?} opened"));
        assert!(expected(&err), "{spec:?}: {err:?}");
    }
}

#[cfg(not(feature = "pcsc"))]
#[test]
fn pcsc_without_the_feature_says_how_to_get_it() {
    for spec in ["pcsc", "pcsc:Virtual PCD 00 00"] {
        let err = open_card(spec).err().unwrap();
        assert_eq!(
            err,
            CardError::Unsupported(
                "built without PC/SC support; rebuild with --features pcsc".to_owned()
            )
        );
    }
}

#[test]
fn a_virtual_card_is_usable_as_a_boxed_card() {
    let t = new_card();
    let card: VirtualCard = t.card;
    let mut boxed: Box<dyn Card> = Box::new(card);
    assert_eq!(
        Jpki::open(boxed.as_mut()).unwrap().token_info().unwrap(),
        "JPKIAPICCTOKEN2"
    );
}
