//! The whole PC/SC path: a virtual card served with `serve_vpcd` to a pcscd of our own (vpcd
//! reader driver, project-local reader.conf, see `kakunin_testkit::pcsc`), and the JPKI client
//! over `PcscCard`.
//!
//! Needs the feature `pcsc`, and at run time `pcscd`, vsmartcard's vpcd driver and pcsc-tools.
//! Without them the test says so and passes, unless `KAKUNIN_REQUIRE_EXTERNAL=1`.
#![cfg(feature = "pcsc")]

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

/// What `support` takes its card-face photo from in the `it` tests; the PC/SC path needs no
/// card face, so OpenJPEG's portrait fixture stands in.
#[allow(dead_code)]
mod photo {
    pub fn portrait_jp2() -> &'static [u8] {
        include_bytes!("fixtures/openjpeg-portrait.jp2")
    }
}

use kakunin_card::{open_card, serve_vpcd, CardError, Jpki, JpkiError, PcscCard};
use kakunin_testkit::pcsc::{wait_for, Pcscd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{fixture, new_card, ring_verify, sha256, PIN};

#[test]
fn jpki_over_pcscd_and_vpcd() {
    let Some(pcscd) = Pcscd::start() else { return };
    let port = pcscd.port;
    let reader = pcscd.reader.clone();
    let ready = wait_for(Duration::from_secs(15), || {
        PcscCard::list_readers().is_ok_and(|readers| readers.contains(&reader))
    });
    assert!(
        ready,
        "pcscd never listed {reader:?}; its log:\n{}",
        pcscd.log()
    );
    let log_text = || pcscd.log();

    // No card yet.
    assert_eq!(
        PcscCard::connect(Some(&reader)).unwrap_err(),
        CardError::NoCard
    );

    let t = new_card();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = Arc::clone(&stop);
        let addr = format!("127.0.0.1:{port}");
        std::thread::spawn(move || serve_vpcd(t.card, &addr, &stop))
    };

    let mut card = None;
    let present = wait_for(Duration::from_secs(15), || {
        card = PcscCard::connect(Some(&reader)).ok();
        card.is_some()
    });
    assert!(
        present,
        "the virtual card never appeared; pcscd log:\n{}",
        log_text()
    );
    let mut card = card.unwrap();
    assert_eq!(card.reader(), reader);

    let f = fixture();
    let mut jpki = Jpki::open(&mut card).unwrap();
    assert_eq!(jpki.token_info().unwrap(), "JPKIAPICCTOKEN2");
    assert_eq!(jpki.read_auth_certificate().unwrap(), f.auth_cert);
    assert_eq!(jpki.read_auth_ca_certificate().unwrap(), f.ca_cert);
    assert_eq!(jpki.auth_pin_tries_left().unwrap(), 3);
    assert_eq!(
        jpki.verify_auth_pin("0000"),
        Err(JpkiError::WrongPin { tries_left: 2 })
    );
    jpki.verify_auth_pin(PIN).unwrap();
    let signature = jpki.sign_sha256(&sha256(b"through pcscd")).unwrap();
    assert!(ring_verify(b"through pcscd", &signature));

    // Dropping the PcscCard disconnects with a reset: the next session must VERIFY again.
    drop(card);
    let mut card = open_card(&format!("pcsc:{reader}")).unwrap();
    let mut jpki = Jpki::open(&mut card).unwrap();
    assert_eq!(
        jpki.sign_sha256(&sha256(b"x")),
        Err(JpkiError::SecurityNotSatisfied)
    );
    drop(card);

    stop.store(true, Ordering::SeqCst);
    assert_eq!(server.join().unwrap(), Ok(()));
}
