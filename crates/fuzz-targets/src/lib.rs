//! One entry point per kind of untrusted input, each of which must never panic (a panic is a
//! bug; a refusal is the right answer to garbage). `fuzz/` drives them with libFuzzer under
//! `cargo fuzz` (nightly); `tests/mutations.rs` drives them on stable in `cargo test` with a
//! bounded, seeded mutation run over the seed corpus, and replays every file of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`, where any input that once crashed
//! is kept.

use std::sync::OnceLock;

/// A target: arbitrary bytes in, a panic only on a bug.
pub type Target = fn(&[u8]);

/// The targets by name (the directory names under `fuzz/corpus/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("roster", roster),
    ("uke", uke),
    ("cda", cda),
    ("oqs", oqs),
    ("masters", masters),
    ("apdu", apdu),
    ("certificate", certificate),
    ("api_json", api_json),
];

/// An insurer's roster CSV (strict and lenient readers agree).
pub fn roster(data: &[u8]) {
    let lenient = kakunin_formats::roster::parse_lenient(data);
    if let Ok(strict) = kakunin_formats::roster::parse(data) {
        assert!(
            lenient.errors.is_empty(),
            "a strict success has no lenient error"
        );
        assert_eq!(strict.rows.len(), lenient.rows.len());
    }
}

/// A レセプト UKE file (every reader, with the format's own invariants).
pub fn uke(data: &[u8]) {
    kakunin_formats::uke::fuzz_one(data);
}

/// A 特定健診 CDA document.
pub fn cda(data: &[u8]) {
    kakunin_formats::checkup::fuzz_one(data);
}

/// An OQS XML file of the レセコン interface (and file names).
pub fn oqs(data: &[u8]) {
    kakunin_formats::oqs::fuzz_one(data);
}

/// The drug, procedure and device masters.
pub fn masters(data: &[u8]) {
    let _ = kakunin_formats::masters::parse_drugs(data);
    let _ = kakunin_formats::masters::parse_procedures(data);
    let _ = kakunin_formats::masters::parse_devices(data);
}

/// Command and response APDUs as the card and the terminal read them.
pub fn apdu(data: &[u8]) {
    if let Ok(command) = kakunin_card::Command::parse(data) {
        // What parsed encodes again.
        let _ = command.encode();
    }
    if let Ok(response) = kakunin_card::Response::parse(data) {
        assert_eq!(response.data.len() + 2, data.len());
    }
}

/// The authority's CA certificates and a trust anchored in them (made once per process).
fn trust() -> &'static kakunin_central::cards::CardTrust {
    static TRUST: OnceLock<(tempfile::TempDir, kakunin_central::cards::CardTrust)> =
        OnceLock::new();
    &TRUST
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let authority =
                kakunin_authority::Authority::open_or_init(dir.path()).expect("a test authority");
            let ca = authority.ca_certificates();
            let trust = kakunin_central::cards::CardTrust::new(&ca.root_der, &ca.issuing_der)
                .expect("the authority's CA certificates");
            (dir, trust)
        })
        .1
}

/// DER certificates and CRLs: a card's certificate through the central's verification, a
/// client certificate's role and serial, the authority's serial reader, a CRL.
pub fn certificate(data: &[u8]) {
    let now = kakunin_domain::Timestamp::from_unix_millis(1_764_547_200_000);
    let _ = trust().verify(data, now);
    let _ = kakunin_central::pki::role_of(data);
    let _ = kakunin_central::tls::serial_hex(data);
    let _ = kakunin_authority::Authority::serial_of(data);
    // A CRL that does not parse leaves the trust as it was.
    let _ = trust().load_crl(data);
}

/// The API's JSON request bodies, and the checks that turn them into domain values.
pub fn api_json(data: &[u8]) {
    use kakunin_api as api;
    if let Ok(r) = serde_json::from_slice::<api::EligibilityCheckRequest>(data) {
        let _ = api::check_input(&r);
    }
    if let Ok(r) = serde_json::from_slice::<api::InstitutionRequest>(data) {
        let _ = api::institution_input(&r);
    }
    let _ = serde_json::from_slice::<api::CardCheckRequest>(data);
    let _ = serde_json::from_slice::<api::OfflineCardCheckRequest>(data);
    let _ = serde_json::from_slice::<api::CardConsentRequest>(data);
    let _ = serde_json::from_slice::<api::CardRegistrationRequest>(data);
    let _ = serde_json::from_slice::<api::DismissLinkReviewRequest>(data);
    let _ = serde_json::from_slice::<api::MedicalInformationRequest>(data);
    let _ = serde_json::from_slice::<api::DeclarationRequest>(data);
    let _ = serde_json::from_slice::<api::EmergencyRequest>(data);
    let _ = serde_json::from_slice::<api::CertificateRequest>(data);
    let _ = serde_json::from_slice::<api::RevocationRequest>(data);
    let _ = serde_json::from_slice::<api::BatchInquiryRequest>(data);
    let _ = serde_json::from_slice::<api::ReferenceNumberRequest>(data);
}
