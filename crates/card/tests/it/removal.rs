//! A card pulled from the reader in the middle of a transaction.

use crate::support::{fixture, new_card, sha256, PIN};
use kakunin_card::{Card, CardError, Jpki, JpkiError};

#[test]
fn pulled_during_a_certificate_read() {
    let mut t = new_card();
    let handle = t.card.removal_handle();
    // SELECT AP, SELECT EF, header READ BINARY are answered; the first chunk is not.
    handle.remove_after(3);
    let mut jpki = Jpki::open(&mut t.card).unwrap();
    let err = jpki.read_auth_certificate().unwrap_err();
    assert_eq!(err, JpkiError::Card(CardError::Removed));
    assert_eq!(
        err.message_ja(),
        "カードが取り出されました。もう一度カードを置いてください。"
    );
    // Still out: everything fails the same way.
    assert_eq!(jpki.token_info(), Err(JpkiError::Card(CardError::Removed)));
    assert_eq!(
        t.card.transmit(&[0x00, 0xA4, 0x04, 0x0C]),
        Err(CardError::Removed)
    );
    assert!(!handle.is_present());

    handle.insert();
    let mut jpki = Jpki::open(&mut t.card).unwrap();
    assert_eq!(jpki.read_auth_certificate().unwrap(), fixture().auth_cert);
}

#[test]
fn a_removal_drops_the_verified_pin() {
    let mut t = new_card();
    let handle = t.card.removal_handle();
    let hash = sha256(b"challenge");
    {
        let mut jpki = Jpki::open(&mut t.card).unwrap();
        jpki.verify_auth_pin(PIN).unwrap();
        handle.remove();
        assert_eq!(
            jpki.sign_sha256(&hash),
            Err(JpkiError::Card(CardError::Removed))
        );
    }
    handle.insert();
    let mut jpki = Jpki::open(&mut t.card).unwrap();
    assert_eq!(
        jpki.sign_sha256(&hash),
        Err(JpkiError::SecurityNotSatisfied)
    );
    jpki.verify_auth_pin(PIN).unwrap();
    assert!(jpki.sign_sha256(&hash).is_ok());
}

#[test]
fn pulled_from_another_thread() {
    let mut t = new_card();
    let handle = t.card.removal_handle();
    std::thread::spawn(move || handle.remove()).join().unwrap();
    assert_eq!(
        Jpki::open(&mut t.card).unwrap_err(),
        JpkiError::Card(CardError::Removed)
    );
}
