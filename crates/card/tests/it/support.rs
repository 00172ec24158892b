//! Shared fixtures: one RSA-2048 key and certificate chain for the whole test binary, card
//! files in temporary directories, hex helpers.

use kakunin_card::{
    generate_rsa2048_pkcs8, public_key_der_from_pkcs8, VirtualCard, VirtualCardSpec,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The auth PIN of every fixture card.
pub const PIN: &str = "1234";

pub struct Fixture {
    pub key_pkcs8: Vec<u8>,
    /// SubjectPublicKeyInfo DER of the key.
    pub spki: Vec<u8>,
    pub auth_cert: Vec<u8>,
    pub ca_cert: Vec<u8>,
    /// How long the RSA-2048 key generation took (debug build).
    pub keygen: Duration,
}

/// Generated once per test binary: key generation is the slow part.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let started = Instant::now();
        let key_pkcs8 = generate_rsa2048_pkcs8().expect("keygen");
        let keygen = started.elapsed();
        let spki = public_key_der_from_pkcs8(&key_pkcs8).expect("spki");

        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.distinguished_name.push(
            DnType::CommonName,
            "kakunin test JPKI user authentication CA",
        );
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("CA cert");

        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        // A long subject pushes the certificate past 512 bytes: three READ BINARY chunks.
        params.distinguished_name.push(
            DnType::OrganizationName,
            "kakunin test card issuer ".repeat(8),
        );
        params
            .distinguished_name
            .push(DnType::CommonName, "test card 0001");
        let public = rcgen::SubjectPublicKeyInfo::from_der(&spki).expect("rcgen SPKI");
        let cert = params.signed_by(&public, &ca, &ca_key).expect("auth cert");

        Fixture {
            key_pkcs8,
            spki,
            auth_cert: cert.der().to_vec(),
            ca_cert: ca.der().to_vec(),
            keygen,
        }
    })
}

pub fn spec() -> VirtualCardSpec {
    let f = fixture();
    VirtualCardSpec {
        auth_key_pkcs8_der: f.key_pkcs8.clone(),
        auth_cert_der: f.auth_cert.clone(),
        auth_ca_cert_der: f.ca_cert.clone(),
        pin: PIN.to_owned(),
    }
}

/// A fresh card file in its own temporary directory (kept alive by the returned guard).
pub struct TestCard {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub card: VirtualCard,
}

pub fn new_card() -> TestCard {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("card.json");
    let card = VirtualCard::create(&path, spec()).expect("create card");
    TestCard { dir, path, card }
}

impl TestCard {
    /// Power-cycles the process: drops the card and opens the file again.
    pub fn reopen(&mut self) {
        self.card = VirtualCard::open(&self.path).expect("reopen card");
    }
}

pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    assert!(digits.len() % 2 == 0, "odd hex: {text}");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// The PKCS#1 RSAPublicKey inside a SubjectPublicKeyInfo: what ring's RSA verifier takes.
pub fn rsa_public_key_from_spki(spki: &[u8]) -> &[u8] {
    // SEQUENCE { AlgorithmIdentifier, BIT STRING { 00, RSAPublicKey } }
    let (_, body) = der_element(spki);
    let (alg_len, _) = der_element(body);
    let (_, bit_string) = der_element(&body[alg_len..]);
    assert_eq!(bit_string[0], 0, "unused bits");
    &bit_string[1..]
}

/// (total length, contents) of the DER element at the start of `bytes`.
fn der_element(bytes: &[u8]) -> (usize, &[u8]) {
    let (header, len) = match bytes[1] {
        n if n < 0x80 => (2, usize::from(n)),
        0x81 => (3, usize::from(bytes[2])),
        0x82 => (4, usize::from(u16::from_be_bytes([bytes[2], bytes[3]]))),
        other => panic!("unexpected DER length octet {other:02X}"),
    };
    (header + len, &bytes[header..header + len])
}

/// Verifies a sha256WithRSAEncryption signature with ring against the fixture key.
pub fn ring_verify(message: &[u8], signature: &[u8]) -> bool {
    let public = rsa_public_key_from_spki(&fixture().spki);
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public)
        .verify(message, signature)
        .is_ok()
}

pub fn sha256(message: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, message);
    digest.as_ref().try_into().expect("32 bytes")
}
